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
nn_gemm_fn nn_gemm_cpu; /* the fastest path this CPU runs */

/* Instruction sets with their own GEMM; NN_ISA_AUTO picks the best one this CPU runs. */
typedef enum { NN_ISA_AUTO, NN_ISA_PORTABLE, NN_ISA_AVX2, NN_ISA_AVX512 } nn_isa;
nn_isa nn_cpu_isa(void); /* the best this CPU (and OS) supports */
/* The GEMM for one instruction set, or NULL when this CPU cannot run it (tests force each). */
nn_gemm_fn *nn_gemm_for(nn_isa isa);
nn_gemm_fn nn_gemm_portable, nn_gemm_avx2, nn_gemm_avx512; /* x86 only: the last two */

#endif
