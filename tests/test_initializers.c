/* The RNG (known answers, moments, determinism, the per-thread seed) and the initializers
 * (statistics of large samples against Keras's formulas, orthogonality, names, errors). */
#include "../src/nn_internal.h"
#include "test.h"

#include <pthread.h>

/* xoshiro256** seeded by splitmix64, computed independently with a few lines of Python (the
 * reference algorithms from prng.di.unimi.it transcribed with 64-bit masks). */
TEST(test_rng_known_answers) {
    const struct { uint64_t seed, first[3]; } cases[] = {
        { 1337, { 0xad0aa0a04f822edcULL, 0xd0815851ce885defULL, 0xc70b17471e263e43ULL } },
        { 0, { 0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL, 0x1a5f849d4933e6e0ULL } },
    };
    for (size_t c = 0; c < NN_ARRAY_LEN(cases); c++) {
        nn_rng r;
        nn_rng_seed(&r, cases[c].seed);
        for (int i = 0; i < 3; i++) CHECK(nn_rng_u64(&r) == cases[c].first[i]);
    }
    nn_rng r;
    nn_rng_seed(&r, 1337);
    CHECK(nn_rng_uniform(&r) == 0.6759434119590045); /* (0xad0aa0a04f822edc >> 11) / 2^53 */
}

typedef struct moments { double mean, std, min, max; } moments;

static moments moments_of(const double *v, int64_t n) {
    moments m = { 0, 0, INFINITY, -INFINITY };
    for (int64_t i = 0; i < n; i++) {
        m.mean += v[i];
        m.min = fmin(m.min, v[i]);
        m.max = fmax(m.max, v[i]);
    }
    m.mean /= (double)n;
    for (int64_t i = 0; i < n; i++) m.std += (v[i] - m.mean) * (v[i] - m.mean);
    m.std = sqrt(m.std / (double)n);
    return m;
}

#define SAMPLES 200000

TEST(test_rng_moments) {
    static double v[SAMPLES];
    nn_rng r;
    nn_rng_seed(&r, 7);
    for (int i = 0; i < SAMPLES; i++) v[i] = nn_rng_uniform(&r);
    moments u = moments_of(v, SAMPLES);
    CHECK(u.min >= 0.0 && u.max < 1.0);
    CHECK_NEAR(u.mean, 0.5, 0.003);
    CHECK_NEAR(u.std, sqrt(1.0 / 12), 0.002);
    double fourth = 0;
    for (int i = 0; i < SAMPLES; i++) fourth += pow(v[i] = nn_rng_normal(&r), 4);
    moments z = moments_of(v, SAMPLES);
    CHECK_NEAR(z.mean, 0.0, 0.01);
    CHECK_NEAR(z.std, 1.0, 0.01);
    CHECK_NEAR(fourth / SAMPLES, 3.0, 0.1); /* a normal's kurtosis, not a uniform's 1.8 */
    CHECK(z.min < -4.0 && z.max > 4.0);
}

TEST(test_rng_below_is_in_range_and_even) {
    nn_rng r;
    nn_rng_seed(&r, 11);
    int counts[7] = { 0 };
    for (int i = 0; i < 70000; i++) {
        uint64_t k = nn_rng_below(&r, 7);
        CHECK(k < 7);
        if (k < 7) counts[k]++;
    }
    for (int k = 0; k < 7; k++) CHECK_NEAR(counts[k], 10000, 400);
    for (int i = 0; i < 100; i++) CHECK(nn_rng_below(&r, 1) == 0);
    /* n just above 2^63: half of all u64 values are rejected, the rest must land below n */
    uint64_t big = (1ULL << 63) + 12345;
    for (int i = 0; i < 1000; i++) CHECK(nn_rng_below(&r, big) < big);
}

TEST(test_rng_determinism) {
    nn_rng a, b, c;
    nn_rng_seed(&a, 42);
    nn_rng_seed(&b, 42);
    nn_rng_seed(&c, 43);
    int same = 1, differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = nn_rng_u64(&a);
        same &= x == nn_rng_u64(&b);
        differ |= x != nn_rng_u64(&c);
    }
    CHECK(same && differ);
}

static void *read_seed_on_new_thread(void *out) {
    *(uint64_t *)out = nn_default_seed();
    nn_set_seed(99); /* must not leak into the thread that started this one */
    return NULL;
}

TEST(test_default_seed_is_per_thread) {
    CHECK(nn_default_seed() == 1337);
    nn_set_seed(5);
    CHECK(nn_default_seed() == 5);
    uint64_t seen = 0;
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, read_seed_on_new_thread, &seen) == 0);
    pthread_join(thread, NULL);
    CHECK(seen == 1337);
    CHECK(nn_default_seed() == 5);
    nn_set_seed(1337);
}

/* Fills a fresh buffer; returns its moments (and the status through *status). */
static moments fill_moments(const nn_initializer_opts *cfg, int ndim, const int64_t *shape,
                            uint64_t seed, int *status) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    float *w = malloc((size_t)n * sizeof *w);
    double *v = malloc((size_t)n * sizeof *v);
    nn_rng r;
    nn_rng_seed(&r, seed);
    *status = nn_initializer_fill(cfg, w, ndim, shape, &r);
    for (int64_t i = 0; i < n; i++) v[i] = w[i];
    moments m = moments_of(v, n);
    free(w);
    free(v);
    return m;
}

static const int64_t DENSE[2] = { 300, 500 };         /* fan_in 300, fan_out 500 */
static const int64_t CONV[4] = { 3, 3, 64, 128 };     /* fan_in 576, fan_out 1152 */
static const int64_t VECTOR[1] = { 100000 };          /* fan_in = fan_out = 100000 */
static const int64_t EINSUM[3] = { 300, 2, 250 };     /* axis 0 in, axes 1-2 out: 300 and 500 */
static const int64_t EINSUM_OUT[3] = { 2, 150, 500 }; /* axes 0-1 in, axis 2 out: 300 and 500 */

/* Keras's VarianceScaling: uniform in +-sqrt(3 scale / n), or a normal truncated at 2 stddev
 * with stddev sqrt(scale / n) / .8796..., whose standard deviation is then sqrt(scale / n). With
 * input and output axes (EinsumDense's kernels) the fans are those axes' products. */
TEST(test_variance_scaling_statistics) {
    const struct {
        const char *name;
        int ndim;
        const int64_t *shape;
        double n, scale; /* the fan VarianceScaling divides by, and its scale */
        bool uniform;
        unsigned input_axes, output_axes;
    } cases[] = {
        { "glorot_uniform", 2, DENSE, 400, 1, true, 0, 0 },
        { "glorot_normal", 2, DENSE, 400, 1, false, 0, 0 },
        { "he_uniform", 2, DENSE, 300, 2, true, 0, 0 },
        { "he_normal", 2, DENSE, 300, 2, false, 0, 0 },
        { "lecun_uniform", 2, DENSE, 300, 1, true, 0, 0 },
        { "lecun_normal", 2, DENSE, 300, 1, false, 0, 0 },
        { "glorot_uniform", 4, CONV, (576 + 1152) / 2.0, 1, true, 0, 0 },
        { "he_normal", 4, CONV, 576, 2, false, 0, 0 },
        { "lecun_uniform", 1, VECTOR, 100000, 1, true, 0, 0 },
        { "glorot_uniform", 3, EINSUM, 400, 1, true, 1u, 6u },
        { "he_normal", 3, EINSUM_OUT, 300, 2, false, 3u, 4u },
    };
    for (size_t c = 0; c < NN_ARRAY_LEN(cases); c++) {
        int status;
        nn_initializer_opts cfg = { .name = cases[c].name, .input_axes = cases[c].input_axes,
                                    .output_axes = cases[c].output_axes };
        moments m = fill_moments(&cfg, cases[c].ndim, cases[c].shape, 3, &status);
        double std = sqrt(cases[c].scale / cases[c].n);
        double bound = cases[c].uniform ? sqrt(3.0) * std : 2.0 * std / 0.87962566103423978;
        CHECK(status == NN_OK);
        CHECK_NEAR(m.std, std, 0.01 * std);
        CHECK_NEAR(m.mean, 0.0, 0.02 * std);
        CHECK(m.min >= -bound && m.max <= bound);
        CHECK(m.min < -0.99 * bound && m.max > 0.99 * bound);
    }
}

TEST(test_random_distributions_and_defaults) {
    int status;
    moments m = fill_moments(&(nn_initializer_opts){ .name = "random_uniform" }, 2, DENSE, 1,
                             &status);
    CHECK(status == NN_OK && m.min >= -0.05 && m.max < 0.05 && m.max > 0.0499);
    CHECK_NEAR(m.std, 0.1 / sqrt(12.0), 1e-3);
    m = fill_moments(&(nn_initializer_opts){ .name = "random_uniform", .maxval = 1 }, 2, DENSE, 1,
                     &status);
    CHECK(status == NN_OK && m.min >= 0.0 && m.max < 1.0);
    CHECK_NEAR(m.mean, 0.5, 0.005);
    m = fill_moments(&(nn_initializer_opts){ .name = "random_normal" }, 2, DENSE, 1, &status);
    CHECK(status == NN_OK);
    CHECK_NEAR(m.mean, 0.0, 0.001);
    CHECK_NEAR(m.std, 0.05, 0.0005);
    m = fill_moments(&(nn_initializer_opts){ .name = "random_normal", .mean = 3, .stddev = 2 }, 2,
                     DENSE, 1, &status);
    CHECK_NEAR(m.mean, 3.0, 0.02);
    CHECK_NEAR(m.std, 2.0, 0.02);
    CHECK(m.min < -4.0); /* untruncated: beyond 3.5 stddev happens in 150000 draws */
    m = fill_moments(&(nn_initializer_opts){ .name = "truncated_normal" }, 2, DENSE, 1, &status);
    CHECK(status == NN_OK && m.min >= -0.1 && m.max <= 0.1);
    CHECK_NEAR(m.std, 0.05 * 0.87962566103423978, 0.0005);
    m = fill_moments(&(nn_initializer_opts){ .name = "truncated_normal", .mean = 1, .stddev = 0.5 },
                     2, DENSE, 1, &status);
    CHECK(m.min >= 0.0 && m.max <= 2.0);
    CHECK_NEAR(m.mean, 1.0, 0.005);
}

static void check_all_equal(const char *name, double value, double expect) {
    int status;
    moments m = fill_moments(&(nn_initializer_opts){ .name = name, .value = value }, 2, DENSE, 1,
                             &status);
    CHECK(status == NN_OK && m.min == expect && m.max == expect);
}

TEST(test_constant_initializers) {
    check_all_equal("zeros", 0, 0.0);
    check_all_equal("ones", 0, 1.0);
    check_all_equal("constant", 2.5, 2.5);
    check_all_equal("constant", 0, 0.0);
    float w[6];
    CHECK(nn_initializer_fill(&(nn_initializer_opts){ .name = "identity" }, w, 2,
                              (int64_t[]){ 2, 3 }, NULL) == NN_OK);
    const float eye[6] = { 1, 0, 0, 0, 1, 0 };
    CHECK(memcmp(w, eye, sizeof w) == 0);
    CHECK(nn_initializer_fill(&(nn_initializer_opts){ .name = "identity", .gain = 3 }, w, 2,
                              (int64_t[]){ 3, 2 }, NULL) == NN_OK);
    CHECK(w[0] == 3 && w[1] == 0 && w[3] == 3 && w[4] == 0 && w[5] == 0);
}

/* W viewed as (rows, cols) = (prod(shape[:-1]), shape[-1]): the smaller side orthonormal
 * (times gain^2): W^T W = gain^2 I when rows >= cols, W W^T = gain^2 I otherwise. */
static void check_orthogonal(int ndim, const int64_t *shape, double gain) {
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) count *= shape[i];
    int64_t cols = shape[ndim - 1], rows = count / cols;
    float *w = malloc((size_t)count * sizeof *w);
    nn_rng r;
    nn_rng_seed(&r, 5);
    CHECK(nn_initializer_fill(&(nn_initializer_opts){ .name = "orthogonal", .gain = gain }, w,
                              ndim, shape, &r) == NN_OK);
    bool by_columns = rows >= cols;
    int64_t k = by_columns ? cols : rows, len = by_columns ? rows : cols;
    double worst = 0;
    for (int64_t a = 0; a < k; a++)
        for (int64_t b = 0; b < k; b++) {
            double s = 0;
            for (int64_t i = 0; i < len; i++)
                s += by_columns ? (double)w[i * cols + a] * w[i * cols + b]
                                : (double)w[a * cols + i] * w[b * cols + i];
            worst = fmax(worst, fabs(s - (a == b ? gain * gain : 0.0)));
        }
    CHECK_NEAR(worst, 0.0, 1e-5 * gain * gain);
    free(w);
}

TEST(test_orthogonal) {
    check_orthogonal(2, (int64_t[]){ 50, 30 }, 1.0);
    check_orthogonal(2, (int64_t[]){ 30, 50 }, 1.0);
    check_orthogonal(2, (int64_t[]){ 40, 40 }, 1.0);
    check_orthogonal(4, (int64_t[]){ 3, 3, 4, 8 }, 1.0);
    check_orthogonal(2, (int64_t[]){ 20, 10 }, 2.0);
    /* Entries have a Haar matrix's moments: mean 0, variance 1 / rows. */
    int status;
    moments m = fill_moments(&(nn_initializer_opts){ .name = "orthogonal" }, 2,
                             (int64_t[]){ 400, 200 }, 2, &status);
    CHECK(status == NN_OK);
    CHECK_NEAR(m.mean, 0.0, 0.001);
    CHECK_NEAR(m.std, 1 / sqrt(400.0), 0.001);
}

/* W is the Q of A = QR for the normal matrix A the rng gives (drawn column by column), with
 * R = Q^T A upper triangular and its diagonal positive: Keras's q *= sign(diag(r)). */
TEST(test_orthogonal_is_q_of_normal_matrix) {
    enum { ROWS = 12, COLS = 5 };
    float w[ROWS * COLS];
    double a[COLS][ROWS];
    nn_rng r;
    nn_rng_seed(&r, 21);
    CHECK(nn_initializer_fill(&(nn_initializer_opts){ .name = "orthogonal" }, w, 2,
                              (int64_t[]){ ROWS, COLS }, &r) == NN_OK);
    nn_rng_seed(&r, 21);
    for (int j = 0; j < COLS; j++)
        for (int i = 0; i < ROWS; i++) a[j][i] = nn_rng_normal(&r);
    for (int row = 0; row < COLS; row++)
        for (int col = 0; col <= row; col++) {
            double q_dot_a = 0;
            for (int i = 0; i < ROWS; i++) q_dot_a += (double)w[i * COLS + row] * a[col][i];
            if (col < row) CHECK_NEAR(q_dot_a, 0.0, 1e-5);
            else CHECK(q_dot_a > 0.0);
        }
}

static bool same_fill(const char *name, uint64_t seed_a, uint64_t seed_b) {
    float a[64], b[64];
    nn_rng ra, rb;
    nn_rng_seed(&ra, seed_a);
    nn_rng_seed(&rb, seed_b);
    const int64_t shape[2] = { 8, 8 };
    nn_initializer_fill(&(nn_initializer_opts){ .name = name }, a, 2, shape, &ra);
    nn_initializer_fill(&(nn_initializer_opts){ .name = name }, b, 2, shape, &rb);
    return memcmp(a, b, sizeof a) == 0;
}

TEST(test_initializer_determinism) {
    const char *names[] = { "glorot_uniform", "he_normal", "random_normal", "orthogonal" };
    for (size_t i = 0; i < NN_ARRAY_LEN(names); i++) {
        CHECK(same_fill(names[i], 8, 8));
        CHECK(!same_fill(names[i], 8, 9));
    }
}

TEST(test_names_aliases_and_default) {
    const char *accepted[] = { "GlorotUniform", "glorotuniform", "HE_NORMAL", "HeNormal",
                               "uniform", "normal", "zero", "one", "OrthogonalInitializer",
                               "TruncatedNormal", "Constant", "identity", NULL, "" };
    for (size_t i = 0; i < NN_ARRAY_LEN(accepted); i++)
        CHECK(nn_initializer_check(accepted[i]) == 0);
    /* No name (and no options at all) is Keras's default kernel initializer, glorot_uniform. */
    int status;
    double limit = sqrt(6.0 / 800);
    moments m = fill_moments(&(nn_initializer_opts){ 0 }, 2, DENSE, 4, &status);
    CHECK(status == NN_OK && m.min >= -limit && m.max <= limit && m.max > 0.99 * limit);
    m = fill_moments(NULL, 2, DENSE, 4, &status);
    CHECK(status == NN_OK && m.min >= -limit && m.max <= limit && m.max > 0.99 * limit);
    /* Same distribution through the class name: same numbers from the same seed. */
    float a[16], b[16];
    nn_rng ra, rb;
    nn_rng_seed(&ra, 1);
    nn_rng_seed(&rb, 1);
    const int64_t shape[2] = { 4, 4 };
    nn_initializer_fill(&(nn_initializer_opts){ .name = "HeUniform" }, a, 2, shape, &ra);
    nn_initializer_fill(&(nn_initializer_opts){ .name = "he_uniform" }, b, 2, shape, &rb);
    CHECK(memcmp(a, b, sizeof a) == 0);
}

static void check_fill_error(const nn_initializer_opts *cfg, int ndim, const int64_t *shape,
                             bool with_rng, int status, const char *message) {
    float w[64];
    nn_rng r;
    nn_rng_seed(&r, 1);
    nn_clear_error();
    CHECK(nn_initializer_fill(cfg, w, ndim, shape, with_rng ? &r : NULL) == status);
    CHECK_CONTAINS(nn_last_error(), message);
}

TEST(test_bad_inputs_name_the_problem) {
    const char *known = "(known: glorot_uniform, glorot_normal, he_uniform, he_normal, "
                        "lecun_uniform, lecun_normal, zeros, ones, constant, random_uniform, "
                        "random_normal, truncated_normal, orthogonal, identity, or their Keras "
                        "class names)";
    nn_clear_error();
    CHECK(nn_initializer_check("glorot") == NN_ERR_NAME);
    CHECK_CONTAINS(nn_last_error(), "unknown initializer 'glorot'");
    CHECK_CONTAINS(nn_last_error(), known);
    const int64_t square[2] = { 4, 4 };
    check_fill_error(&(nn_initializer_opts){ .name = "xavier" }, 2, square, true, NN_ERR_NAME,
                     "unknown initializer 'xavier' (known: glorot_uniform, ");
    check_fill_error(&(nn_initializer_opts){ .name = "orthogonal" }, 1, (int64_t[]){ 5 }, true,
                     NN_ERR_SHAPE,
                     "initializer orthogonal needs a shape of at least 2 dimensions, got (5,) "
                     "(rank 1)");
    check_fill_error(&(nn_initializer_opts){ .name = "identity" }, 3, (int64_t[]){ 2, 2, 2 }, true,
                     NN_ERR_SHAPE, "initializer identity needs a 2-D shape, got (2, 2, 2)");
    check_fill_error(NULL, 2, (int64_t[]){ 4, -1 }, true, NN_ERR_SHAPE,
                     "initializer: dimension 1 of the shape is negative (-1)");
    check_fill_error(NULL, 2, (int64_t[]){ INT64_MAX, 4 }, true, NN_ERR_SHAPE,
                     "initializer: shape (9223372036854775807, 4) has too many elements");
    check_fill_error(NULL, 9, square, true, NN_ERR_SHAPE, "initializer: rank 9 is outside 0..8");
    check_fill_error(NULL, 2, square, false, NN_ERR_ARG, "initializer glorot_uniform: rng is NULL");
    check_fill_error(&(nn_initializer_opts){ .name = "random_normal", .stddev = -1 }, 2, square,
                     true, NN_ERR_ARG,
                     "initializer random_normal: stddev must be positive (got -1)");
    check_fill_error(&(nn_initializer_opts){ .name = "random_uniform", .minval = 1, .maxval = -1 },
                     2, square, true, NN_ERR_ARG,
                     "initializer random_uniform: minval (1) must not exceed maxval (-1)");
    nn_clear_error();
    CHECK(nn_initializer_fill(NULL, NULL, 2, square, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "initializer glorot_uniform: w is NULL");
}

int main(void) {
    RUN_TESTS(test_rng_known_answers, test_rng_moments, test_rng_below_is_in_range_and_even,
              test_rng_determinism, test_default_seed_is_per_thread,
              test_variance_scaling_statistics, test_random_distributions_and_defaults,
              test_constant_initializers, test_orthogonal, test_orthogonal_is_q_of_normal_matrix,
              test_initializer_determinism, test_names_aliases_and_default,
              test_bad_inputs_name_the_problem);
}
