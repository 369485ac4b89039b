/* Kernels: plain functions, outputs first, then inputs, then dims. Each has a scalar reference
 * (src/kernels/ref/, the test oracle) and a fast CPU version (src/kernels/cpu/). */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* c (m, n) = op(a) (m, k) . op(b) (k, n), or c += that when accumulate.
 * a is stored (m, k), or (k, m) when trans_a; b is stored (k, n), or (n, k) when trans_b. */
typedef void nn_gemm_fn(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
                        bool trans_a, bool trans_b, bool accumulate);
nn_gemm_fn nn_gemm_ref;
nn_gemm_fn nn_gemm_cpu;

#endif
