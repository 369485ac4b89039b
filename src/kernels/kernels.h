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

/* What a product applies to each output once it is summed, as it stores it (a Dense layer's
 * forward pass): c[i][j] = relu(c[i][j] + bias[j]), the bias and the ReLU each optional. The
 * same float operations as adding the bias and applying relu_value afterwards, so the same bits. */
typedef struct nn_gemm_epilogue {
    const float *bias; /* n values, or NULL */
    bool relu;
} nn_gemm_epilogue;
/* The epilogue applied to c (m, n) on its own: the reference for tests. */
void nn_gemm_epilogue_ref(float *c, int64_t m, int64_t n, const nn_gemm_epilogue *epilogue);

/* Threads. A share function computes share `part` of the product split into `parts` shares
 * (0 <= part < parts), one per thread: the shares cover c exactly once, and each element is
 * summed in the same order whatever the split, so every thread count gives the same bits.
 * share(..., 0, 1) is the whole product. epilogue may be NULL. */
typedef void nn_gemm_share_fn(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
                              bool trans_a, bool trans_b, bool accumulate, const nn_gemm_epilogue *epilogue,
                              int part, int parts);
nn_gemm_share_fn nn_gemm_portable_share, nn_gemm_avx2_share, nn_gemm_avx512_share;
nn_gemm_share_fn *nn_gemm_share_for(nn_isa isa); /* NULL when this CPU cannot run it */

/* The block of c (m, n) that share `part` of `parts` computes: whole mr x nr register tiles
 * (but at c's edges), split along n, or along m where that balances the work better. */
typedef struct nn_gemm_rect {
    int64_t row0, rows, col0, cols;
} nn_gemm_rect;
nn_gemm_rect nn_gemm_share_rect(int64_t m, int64_t n, int mr, int nr, int part, int parts);

typedef struct nn_threads nn_threads;
/* As nn_gemm_cpu, on the pool's threads when the product is large enough to repay the
 * hand-over, otherwise (or with a NULL pool) on this thread alone. */
void nn_gemm(nn_threads *pool, float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
             bool trans_a, bool trans_b, bool accumulate);
/* As nn_gemm, with an epilogue (NULL: none) applied to each output as it is stored. */
void nn_gemm_ep(nn_threads *pool, float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
                bool trans_a, bool trans_b, bool accumulate, const nn_gemm_epilogue *epilogue);
/* The product split over all of the pool's threads whatever its size (tests, benchmarks). */
void nn_gemm_split(nn_threads *pool, nn_gemm_share_fn *share, float *c, const float *a, const float *b,
                   int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, bool accumulate,
                   const nn_gemm_epilogue *epilogue);

#endif
