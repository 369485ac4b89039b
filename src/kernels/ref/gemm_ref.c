/* The scalar GEMM oracle: one dot product per output, accumulated in double. */
#include "kernels/kernels.h"

void nn_gemm_ref(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
                 bool trans_a, bool trans_b, bool accumulate) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double sum = accumulate ? c[i * n + j] : 0.0;
            for (int64_t p = 0; p < k; p++) {
                float x = trans_a ? a[p * m + i] : a[i * k + p];
                float y = trans_b ? b[j * k + p] : b[p * n + j];
                sum += (double)x * y;
            }
            c[i * n + j] = (float)sum;
        }
}
