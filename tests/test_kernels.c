/* The fast CPU GEMM against the scalar reference (src/kernels/ref/gemm_ref.c, which sums in
 * double) on odd and edge shapes, every transposition and both accumulate modes, with each
 * instruction set's path forced in turn (a path this CPU lacks is skipped with a note). The
 * sizes cross every blocking boundary: 257 exceeds each path's k block and row block, and
 * makes the wide-n path pack a and b. */
#include "../src/kernels/kernels.h"
#include "nn_internal.h"
#include "test.h"

static const int64_t SIZES[] = { 1, 7, 17, 33, 257 };

static void fill(float *x, int64_t n, nn_rng *rng) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(2.0 * nn_rng_uniform(rng) - 1.0);
}

/* sum_p |a_ip b_pj| + |c_ij|: the scale of the rounding error a float dot product may make. */
static double abs_scale(const float *a, const float *b, const float *c0, int64_t i, int64_t j, int64_t m,
                        int64_t n, int64_t k, bool trans_a, bool trans_b, bool accumulate) {
    double s = accumulate ? fabs(c0[i * n + j]) : 0.0;
    for (int64_t p = 0; p < k; p++)
        s += fabs((double)(trans_a ? a[p * m + i] : a[i * k + p]) * (trans_b ? b[j * k + p] : b[p * n + j]));
    return s;
}

/* Runs both kernels on one shape; returns the number of entries outside tolerance. */
static int compare_gemm(nn_gemm_fn *gemm, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
                        bool accumulate, nn_rng *rng) {
    float *a = nn_malloc((size_t)(m * k) * sizeof *a), *b = nn_malloc((size_t)(k * n) * sizeof *b);
    float *c0 = nn_malloc((size_t)(m * n) * sizeof *c0), *fast = nn_malloc((size_t)(m * n) * sizeof *fast);
    float *ref = nn_malloc((size_t)(m * n) * sizeof *ref);
    fill(a, m * k, rng);
    fill(b, k * n, rng);
    if (accumulate) fill(c0, m * n, rng);
    else
        for (int64_t i = 0; i < m * n; i++) c0[i] = NAN; /* must be overwritten, never read */
    memcpy(fast, c0, (size_t)(m * n) * sizeof *c0);
    memcpy(ref, c0, (size_t)(m * n) * sizeof *c0);
    gemm(fast, a, b, m, n, k, trans_a, trans_b, accumulate);
    nn_gemm_ref(ref, a, b, m, n, k, trans_a, trans_b, accumulate);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double tol = 1e-6 * (double)k * abs_scale(a, b, c0, i, j, m, n, k, trans_a, trans_b, accumulate);
            double got = fast[i * n + j], want = ref[i * n + j];
            if (!(fabs(got - want) <= tol + 1e-30) && bad++ == 0)
                printf("  m=%lld n=%lld k=%lld trans_a=%d trans_b=%d accumulate=%d: "
                       "c[%lld,%lld] = %.9g, reference %.9g\n", (long long)m, (long long)n, (long long)k,
                       trans_a, trans_b, accumulate, (long long)i, (long long)j, got, want);
        }
    nn_free(a), nn_free(b), nn_free(c0), nn_free(fast), nn_free(ref);
    return bad;
}

static void check_all_shapes(nn_gemm_fn *gemm, bool trans_a, bool trans_b) {
    nn_rng rng;
    nn_rng_seed(&rng, 42 + 2 * trans_a + trans_b);
    for (size_t im = 0; im < NN_ARRAY_LEN(SIZES); im++)
        for (size_t in = 0; in < NN_ARRAY_LEN(SIZES); in++)
            for (size_t ik = 0; ik < NN_ARRAY_LEN(SIZES); ik++)
                for (int acc = 0; acc < 2; acc++)
                    CHECK(compare_gemm(gemm, SIZES[im], SIZES[in], SIZES[ik], trans_a, trans_b, acc, &rng) == 0);
}

static void check_path(nn_isa isa, const char *name) {
    nn_gemm_fn *gemm = nn_gemm_for(isa);
    if (!gemm) {
        printf("  note: this CPU has no %s; its GEMM path is not tested here\n", name);
        return;
    }
    for (int t = 0; t < 4; t++) check_all_shapes(gemm, t & 1, t & 2);
}

TEST(gemm_portable) { check_path(NN_ISA_PORTABLE, "portable"); }
TEST(gemm_avx2) { check_path(NN_ISA_AVX2, "AVX2 + FMA"); }
TEST(gemm_avx512) { check_path(NN_ISA_AVX512, "AVX-512"); }

/* nn_gemm_cpu is the best path the CPU has, and the portable one is always there; each path
 * has a share function for threads exactly when it has a GEMM (test_threads tests those). */
TEST(gemm_dispatch) {
    CHECK(nn_gemm_for(NN_ISA_PORTABLE) != NULL);
    CHECK(nn_gemm_for(NN_ISA_AUTO) == nn_gemm_for(nn_cpu_isa()));
    CHECK(nn_gemm_for(nn_cpu_isa()) != NULL);
    CHECK(nn_gemm_share_for(NN_ISA_AUTO) == nn_gemm_share_for(nn_cpu_isa()));
    for (nn_isa isa = NN_ISA_PORTABLE; isa <= NN_ISA_AVX512; isa++)
        CHECK((nn_gemm_for(isa) != NULL) == (nn_gemm_share_for(isa) != NULL));
    nn_rng rng;
    nn_rng_seed(&rng, 7);
    CHECK(compare_gemm(nn_gemm_cpu, 33, 257, 17, false, false, false, &rng) == 0);
}

/* Two runs on the same inputs give the same bits, on every path, at a size that packs. */
TEST(gemm_deterministic) {
    const int64_t m = 150, n = 140, k = 300;
    float *a = nn_malloc((size_t)(m * k) * sizeof *a), *b = nn_malloc((size_t)(k * n) * sizeof *b);
    float *c1 = nn_malloc((size_t)(m * n) * sizeof *c1), *c2 = nn_malloc((size_t)(m * n) * sizeof *c2);
    nn_rng rng;
    nn_rng_seed(&rng, 3);
    fill(a, m * k, &rng);
    fill(b, k * n, &rng);
    const nn_isa isas[] = { NN_ISA_PORTABLE, NN_ISA_AVX2, NN_ISA_AVX512 };
    for (size_t i = 0; i < NN_ARRAY_LEN(isas); i++) {
        nn_gemm_fn *gemm = nn_gemm_for(isas[i]);
        if (!gemm) continue;
        for (int t = 0; t < 4; t++) {
            gemm(c1, a, b, m, n, k, t & 1, t & 2, false);
            gemm(c2, a, b, m, n, k, t & 1, t & 2, false);
            CHECK(memcmp(c1, c2, (size_t)(m * n) * sizeof *c1) == 0);
        }
    }
    nn_free(a), nn_free(b), nn_free(c1), nn_free(c2);
}

/* The epilogue (bias, then ReLU) applied as each path stores c gives the same bits as the
 * same path's product with the reference epilogue applied afterwards, on every shape and
 * transposition, accumulating or not: the fused store does the same float operations. Rows
 * of a hold a NaN and zeros, so relu's NaN -> 0 and -0 -> 0 are met too. */
static int epilogue_differs(nn_gemm_share_fn *share, int64_t m, int64_t n, int64_t k, int variant, nn_rng *rng) {
    bool trans_a = variant & 1, trans_b = variant & 2, accumulate = variant & 4, relu = variant & 8, bias = variant & 16;
    float *a = nn_malloc((size_t)(m * k) * sizeof *a), *b = nn_malloc((size_t)(k * n) * sizeof *b);
    float *fused = nn_malloc((size_t)(m * n) * sizeof *fused), *after = nn_malloc((size_t)(m * n) * sizeof *after);
    float *bias_values = nn_malloc((size_t)n * sizeof *bias_values);
    fill(a, m * k, rng);
    fill(b, k * n, rng);
    fill(fused, m * n, rng);
    fill(bias_values, n, rng);
    if (m > 2 && k > 0) { /* a NaN in row 1, zeros in row 2 */
        a[trans_a ? 1 : k] = NAN;
        for (int64_t p = 0; p < k; p++) a[trans_a ? p * m + 2 : 2 * k + p] = 0.0f;
    }
    memcpy(after, fused, (size_t)(m * n) * sizeof *after);
    nn_gemm_epilogue ep = { bias ? bias_values : NULL, relu };
    share(fused, a, b, m, n, k, trans_a, trans_b, accumulate, &ep, 0, 1);
    share(after, a, b, m, n, k, trans_a, trans_b, accumulate, NULL, 0, 1);
    nn_gemm_epilogue_ref(after, m, n, &ep);
    int differs = memcmp(fused, after, (size_t)(m * n) * sizeof *after) != 0;
    if (differs)
        printf("  m=%lld n=%lld k=%lld variant %d: the fused epilogue differs\n", (long long)m, (long long)n,
               (long long)k, variant);
    nn_free(a), nn_free(b), nn_free(fused), nn_free(after), nn_free(bias_values);
    return differs;
}

TEST(gemm_epilogue_same_bits) {
    const nn_isa isas[] = { NN_ISA_PORTABLE, NN_ISA_AVX2, NN_ISA_AVX512 };
    const int64_t sizes[] = { 0, 1, 7, 17, 33, 257 };
    nn_rng rng;
    nn_rng_seed(&rng, 9);
    for (size_t i = 0; i < NN_ARRAY_LEN(isas); i++) {
        nn_gemm_share_fn *share = nn_gemm_share_for(isas[i]);
        int differing = 0;
        for (size_t im = 1; share && im < NN_ARRAY_LEN(sizes); im++)
            for (size_t in = 1; in < NN_ARRAY_LEN(sizes); in++)
                for (size_t ik = 0; ik < NN_ARRAY_LEN(sizes); ik++)
                    for (int variant = 0; variant < 32; variant++)
                        differing += epilogue_differs(share, sizes[im], sizes[in], sizes[ik], variant, &rng);
        CHECK(differing == 0);
    }
}

/* A hand-computed epilogue: relu(c + bias) with NaN and -0 sums, through each path. */
TEST(gemm_epilogue_by_hand) {
    const float a[3] = { 1, NAN, -0.0f }, b[2] = { 2, -3 }, bias[2] = { 0.5f, 0.0f };
    const float want[6] = { 2.5f, 0, 0, 0, 0.5f, 0 }; /* rows: (2, -3) + bias, NaN, (-0, 0) + bias */
    const nn_isa isas[] = { NN_ISA_PORTABLE, NN_ISA_AVX2, NN_ISA_AVX512 };
    for (size_t i = 0; i < NN_ARRAY_LEN(isas); i++) {
        nn_gemm_share_fn *share = nn_gemm_share_for(isas[i]);
        if (!share) continue;
        float c[6];
        share(c, a, b, 3, 2, 1, false, false, false, &(nn_gemm_epilogue){ bias, true }, 0, 1);
        for (int j = 0; j < 6; j++) CHECK(c[j] == want[j] && !signbit(c[j]));
    }
}

/* The reference and every path this CPU runs (NULL where it lacks one). */
static void all_kernels(nn_gemm_fn *kernels[5]) {
    kernels[0] = nn_gemm_ref, kernels[1] = nn_gemm_cpu, kernels[2] = nn_gemm_for(NN_ISA_PORTABLE);
    kernels[3] = nn_gemm_for(NN_ISA_AVX2), kernels[4] = nn_gemm_for(NN_ISA_AVX512);
}

/* k = 0: an empty sum, so c becomes 0, or stays as it was when accumulating. */
TEST(gemm_empty_inner_dimension) {
    nn_gemm_fn *kernels[5];
    all_kernels(kernels);
    for (size_t f = 0; f < NN_ARRAY_LEN(kernels); f++)
        for (int t = 0; kernels[f] && t < 4; t++) {
            float c[6] = { 1, 2, 3, 4, 5, 6 }, a[1] = { 9 }, b[1] = { 9 };
            kernels[f](c, a, b, 2, 3, 0, t & 1, t & 2, true);
            for (int i = 0; i < 6; i++) CHECK(c[i] == (float)(i + 1));
            kernels[f](c, a, b, 2, 3, 0, t & 1, t & 2, false);
            for (int i = 0; i < 6; i++) CHECK(c[i] == 0.0f);
        }
}

/* A hand-computed case, so the reference itself is checked: a (2, 3), b (3, 2). */
TEST(gemm_reference_by_hand) {
    const float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 7, 8, 9, 10, 11, 12 };
    const float want[4] = { 58, 64, 139, 154 };
    const float a_t[6] = { 1, 4, 2, 5, 3, 6 }, b_t[6] = { 7, 9, 11, 8, 10, 12 };
    float c[4];
    nn_gemm_fn *kernels[5];
    all_kernels(kernels);
    for (size_t f = 0; f < NN_ARRAY_LEN(kernels); f++)
        for (int t = 0; kernels[f] && t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            kernels[f](c, ta ? a_t : a, tb ? b_t : b, 2, 2, 3, ta, tb, false);
            for (int i = 0; i < 4; i++) CHECK(c[i] == want[i]);
            kernels[f](c, ta ? a_t : a, tb ? b_t : b, 2, 2, 3, ta, tb, true);
            for (int i = 0; i < 4; i++) CHECK(c[i] == 2 * want[i]);
        }
}

int main(void) {
    RUN_TESTS(gemm_portable, gemm_avx2, gemm_avx512, gemm_dispatch, gemm_deterministic, gemm_empty_inner_dimension,
              gemm_reference_by_hand, gemm_epilogue_same_bits, gemm_epilogue_by_hand);
}
