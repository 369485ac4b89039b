/* GEMM for the CPU: loop orders that keep the innermost loop contiguous so the compiler
 * vectorizes it, with the k loop blocked to keep a panel of b in cache. */
#include "kernels/kernels.h"

#include <string.h>

#define K_BLOCK 256

/* c[i, :] += a_ip * b[p, :] over p: the NN and TN cases, differing only in how a is read. */
static void gemm_rows(float *restrict c, const float *restrict a, const float *restrict b,
                      int64_t m, int64_t n, int64_t k, bool trans_a) {
    for (int64_t p0 = 0; p0 < k; p0 += K_BLOCK) {
        int64_t p1 = p0 + K_BLOCK < k ? p0 + K_BLOCK : k;
        for (int64_t i = 0; i < m; i++) {
            float *restrict ci = c + i * n;
            for (int64_t p = p0; p < p1; p++) {
                float aip = trans_a ? a[p * m + i] : a[i * k + p];
                const float *restrict bp = b + p * n;
                for (int64_t j = 0; j < n; j++) ci[j] += aip * bp[j];
            }
        }
    }
}

/* c[i, j] += dot(a row i, b row j): the NT case (b stored (n, k)). Eight partial sums let the
 * compiler vectorize the reduction without reassociating across them. */
static float dot(const float *restrict x, const float *restrict y, int64_t k) {
    float s[8] = { 0 };
    int64_t p = 0;
    for (; p + 8 <= k; p += 8)
        for (int q = 0; q < 8; q++) s[q] += x[p + q] * y[p + q];
    float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; p < k; p++) sum += x[p] * y[p];
    return sum;
}

void nn_gemm_cpu(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
                 bool trans_a, bool trans_b, bool accumulate) {
    if (!accumulate) memset(c, 0, (size_t)(m * n) * sizeof *c);
    if (!trans_b) {
        gemm_rows(c, a, b, m, n, k, trans_a);
        return;
    }
    if (!trans_a) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * n + j] += dot(a + i * k, b + j * k, k);
        return;
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int64_t p = 0; p < k; p++) sum += a[p * m + i] * b[j * k + p];
            c[i * n + j] += sum;
        }
}
