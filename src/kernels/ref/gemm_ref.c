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

void nn_gemm_epilogue_ref(float *c, int64_t m, int64_t n, const nn_gemm_epilogue *epilogue) {
    for (int64_t i = 0; epilogue && i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float v = c[i * n + j] + (epilogue->bias ? epilogue->bias[j] : 0.0f);
            c[i * n + j] = epilogue->relu ? (v > 0.0f ? v : 0.0f) : v;
        }
}
