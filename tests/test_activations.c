/* Activations: values against real Keras, backward against central differences of
 * independent double-precision formulas, softmax rows, stability at large |x|, names. */
#include "../src/nn_internal.h"
#include "test.h"

#define POINTS 9
static const float X[POINTS] = { -30.0f, -4.5f, -2.0f, -0.5f, 0.25f, 1.0f, 3.5f, 7.0f, 40.0f };

/* Made by tests/gen/make_activation_ref.py (Keras 3.15.1, TensorFlow backend, float32):
 * keras.activations.get(name) at X; softmax takes X as one row. */
static const struct { const char *name; float y[POINTS]; } KERAS_VALUES[] = {
    { "linear", { -30, -4.5, -2, -0.5, 0.25, 1, 3.5, 7, 40 } },
    { "relu", { 0, 0, 0, 0, 0.25, 1, 3.5, 7, 40 } },
    { "sigmoid", { 9.35762427e-14, 0.0109869409, 0.119202942, 0.377540678, 0.562176526,
                   0.731058538, 0.970687747, 0.999088943, 1 } },
    { "tanh", { -1, -0.999753177, -0.964027584, -0.462117136, 0.244918659, 0.761594176,
                0.998177946, 0.999998331, 1 } },
    { "softmax", { 3.97544948e-31, 4.71949514e-20, 5.74952202e-19, 2.57675715e-18,
                   5.45499475e-18, 1.15482239e-17, 1.40686164e-16, 4.65888619e-15, 1 } },
    { "leaky_relu", { -6, -0.900000036, -0.400000006, -0.100000001, 0.25, 1, 3.5, 7, 40 } },
    { "elu", { -1, -0.988891006, -0.864664733, -0.393469334, 0.25, 1, 3.5, 7, 40 } },
    { "selu", { -1.75809932, -1.73856854, -1.52016652, -0.691758156, 0.262675256, 1.05070102,
                3.67745352, 7.35490704, 42.0280418 } },
    { "gelu", { -0, -1.52895464e-05, -0.0455002673, -0.154268771, 0.149676576, 0.841344714,
                3.4991858, 7, 40 } },
    { "silu", { -2.80728739e-12, -0.0494412333, -0.238405883, -0.188770339, 0.140544131,
                0.731058538, 3.39740705, 6.99362278, 40 } },
    { "swish", { -2.80728739e-12, -0.0494412333, -0.238405883, -0.188770339, 0.140544131,
                 0.731058538, 3.39740705, 6.99362278, 40 } },
    { "softplus", { 9.35762291e-14, 0.0110477451, 0.126928002, 0.474076986, 0.825939417,
                    1.31326163, 3.52975035, 7.00091171, 40 } },
    { "softsign", { -0.967741907, -0.818181813, -0.666666687, -0.333333343, 0.200000003, 0.5,
                    0.777777791, 0.875, 0.975609779 } },
    { "hard_sigmoid", { 0, 0, 0.166666672, 0.416666657, 0.541666687, 0.666666687, 1, 1, 1 } },
    { "exponential", { 9.35762291e-14, 0.0111089963, 0.135335281, 0.606530666, 1.28402543,
                       2.71828175, 33.1154518, 1096.63318, 2.3538527e+17 } },
    { "relu6", { 0, 0, 0, 0, 0.25, 1, 3.5, 6, 6 } },
};
/* The same script: keras.activations.softmax of this one row. */
static const float SOFTMAX_ROW[POINTS] = { -1.5f, -0.5f, 0.0f, 0.25f, 0.5f,
                                           1.0f,  1.5f,  2.0f, 3.0f };
static const float KERAS_SOFTMAX_ROW[POINTS] = {
    0.00565789314, 0.0153797492, 0.0253569204, 0.0325589254, 0.0418064892, 0.0689272508,
    0.113641828, 0.187363699, 0.509307325 };

/* Float results agree with Keras's to a few float ulps, relative. */
static void check_close_to_keras(const float *got, const float *want, int n) {
    for (int i = 0; i < n; i++) CHECK_NEAR(got[i], want[i], 4e-7 * fabs(want[i]) + 1e-37);
}

TEST(test_values_match_keras) {
    for (size_t k = 0; k < NN_ARRAY_LEN(KERAS_VALUES); k++) {
        const nn_activation_def *def = nn_activation_find(KERAS_VALUES[k].name);
        CHECK(def != NULL);
        if (!def) continue;
        float y[POINTS];
        def->forward(y, X, 1, POINTS);
        check_close_to_keras(y, KERAS_VALUES[k].y, POINTS);
    }
    float y[POINTS];
    nn_activation_find("softmax")->forward(y, SOFTMAX_ROW, 1, POINTS);
    check_close_to_keras(y, KERAS_SOFTMAX_ROW, POINTS);
}

/* Plain textbook formulas in double, written independently of the library's stable forms. */
static double ref_linear(double x) { return x; }
static double ref_relu(double x) { return x > 0 ? x : 0; }
static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }
static double ref_tanh(double x) { return tanh(x); }
static double ref_leaky_relu(double x) { return x >= 0 ? x : 0.2 * x; }
static double ref_elu(double x) { return x >= 0 ? x : exp(x) - 1; }
static double ref_selu(double x) {
    return 1.0507009873554804934 * (x >= 0 ? x : 1.6732632423543772848 * (exp(x) - 1));
}
static double ref_gelu(double x) { return x * 0.5 * (1 + erf(x / sqrt(2.0))); }
static double ref_silu(double x) { return x / (1 + exp(-x)); }
static double ref_softplus(double x) { return log(1 + exp(x)); }
static double ref_softsign(double x) { return x / (1 + fabs(x)); }
static double ref_hard_sigmoid(double x) { return x <= -3 ? 0 : x >= 3 ? 1 : x / 6 + 0.5; }
static double ref_exponential(double x) { return exp(x); }
static double ref_relu6(double x) { return x <= 0 ? 0 : x >= 6 ? 6 : x; }

static const struct { const char *name; double (*f)(double); } REFERENCES[] = {
    { "linear", ref_linear },         { "relu", ref_relu },       { "sigmoid", ref_sigmoid },
    { "tanh", ref_tanh },             { "leaky_relu", ref_leaky_relu }, { "elu", ref_elu },
    { "selu", ref_selu },             { "gelu", ref_gelu },       { "silu", ref_silu },
    { "softplus", ref_softplus },     { "softsign", ref_softsign },
    { "hard_sigmoid", ref_hard_sigmoid }, { "exponential", ref_exponential },
    { "relu6", ref_relu6 },
};

static double (*reference_for(const char *name))(double) {
    for (size_t i = 0; i < NN_ARRAY_LEN(REFERENCES); i++)
        if (strcmp(REFERENCES[i].name, name) == 0) return REFERENCES[i].f;
    return NULL;
}

/* Off the kinks at 0 (relu family), +-3 (hard_sigmoid) and 6 (relu6) by more than the step. */
#define GRID 14
static const float GRID_X[GRID] = { -7.3f, -3.7f, -2.9f, -1.1f, -0.31f, -0.02f, 0.03f, 0.27f,
                                    0.9f, 2.2f, 2.95f, 4.1f, 5.8f, 6.6f };
#define DX_START 0.25f /* backward must add to what dx holds */
#define STEP 1e-5

static void fill_dy(float *dy, int n) {
    for (int i = 0; i < n; i++) dy[i] = 0.5f + 0.37f * (float)((i * 7) % 5) - 0.6f * (float)(i % 2);
}

static void check_elementwise(const nn_activation_def *def, double (*f)(double)) {
    float y[GRID], dy[GRID], dx[GRID];
    fill_dy(dy, GRID);
    for (int i = 0; i < GRID; i++) dx[i] = DX_START;
    def->forward(y, GRID_X, 2, GRID / 2);
    def->backward(dx, GRID_X, y, dy, 2, GRID / 2);
    for (int i = 0; i < GRID; i++) {
        double x = GRID_X[i];
        double slope = (f(x + STEP) - f(x - STEP)) / (2 * STEP);
        double want = DX_START + dy[i] * slope;
        CHECK_NEAR(y[i], f(x), 1e-6 * fabs(f(x)) + 1e-7);
        CHECK_NEAR(dx[i], want, 2e-6 * fabs(want) + 1e-6);
        if (fabs(dx[i] - want) > 2e-6 * fabs(want) + 1e-6)
            printf("    %s at x = %g\n", def->name, x);
    }
}

static double ref_softmax_dot(const double *x, const float *dy, int n) {
    double max = x[0], sum = 0, dot = 0;
    for (int i = 1; i < n; i++) max = fmax(max, x[i]);
    for (int i = 0; i < n; i++) sum += exp(x[i] - max);
    for (int i = 0; i < n; i++) dot += dy[i] * exp(x[i] - max) / sum;
    return dot;
}

/* Per row, dx_i = d(dy . softmax(x)) / dx_i, by central differences of a double softmax. */
static void check_softmax(const nn_activation_def *def) {
    enum { ROWS = 2, COLS = GRID / 2 };
    float y[GRID], dy[GRID], dx[GRID];
    fill_dy(dy, GRID);
    for (int i = 0; i < GRID; i++) dx[i] = DX_START;
    def->forward(y, GRID_X, ROWS, COLS);
    def->backward(dx, GRID_X, y, dy, ROWS, COLS);
    for (int r = 0; r < ROWS; r++) {
        double x[COLS];
        for (int c = 0; c < COLS; c++) x[c] = GRID_X[r * COLS + c];
        for (int c = 0; c < COLS; c++) {
            double keep = x[c];
            x[c] = keep + STEP;
            double up = ref_softmax_dot(x, dy + r * COLS, COLS);
            x[c] = keep - STEP;
            double down = ref_softmax_dot(x, dy + r * COLS, COLS);
            x[c] = keep;
            CHECK_NEAR(dx[r * COLS + c], DX_START + (up - down) / (2 * STEP), 2e-6);
        }
    }
}

TEST(test_backward_matches_finite_differences) {
    size_t count = 0;
    const nn_activation_def *table = nn_activation_table(&count);
    for (size_t k = 0; k < count; k++) {
        if (strcmp(table[k].name, "softmax") == 0) {
            check_softmax(&table[k]);
            continue;
        }
        double (*f)(double) = reference_for(table[k].name);
        CHECK(f != NULL); /* every activation in the table needs a reference here */
        if (f) check_elementwise(&table[k], f);
    }
}

TEST(test_softmax_rows_sum_to_one) {
    enum { ROWS = 3, COLS = 4 };
    const float x[ROWS * COLS] = { 1, 2, 3, 4, -1000, 1000, 0, 999, -50, -50, -50, -50 };
    float y[ROWS * COLS];
    nn_activation_find("softmax")->forward(y, x, ROWS, COLS);
    for (int r = 0; r < ROWS; r++) {
        double sum = 0;
        for (int c = 0; c < COLS; c++) {
            CHECK(y[r * COLS + c] >= 0.0f && y[r * COLS + c] <= 1.0f);
            sum += y[r * COLS + c];
        }
        CHECK_NEAR(sum, 1.0, 1e-6);
    }
    CHECK_NEAR(y[5], 1 / (1 + exp(-1.0)), 1e-6); /* 1000 vs 999: no overflow */
    CHECK_NEAR(y[8], 0.25, 1e-7);
}

/* At |x| = 1e4 every value and gradient stays finite (exponential's overflow aside, as Keras). */
TEST(test_large_inputs_stay_finite) {
    const float x[4] = { -1e4f, -100.0f, 100.0f, 1e4f };
    const float dy[4] = { 1, 1, 1, 1 };
    size_t count = 0;
    const nn_activation_def *table = nn_activation_table(&count);
    for (size_t k = 0; k < count; k++) {
        if (strcmp(table[k].name, "exponential") == 0) continue;
        float y[4], dx[4] = { 0 };
        table[k].forward(y, x, 1, 4);
        table[k].backward(dx, x, y, dy, 1, 4);
        for (int i = 0; i < 4; i++) {
            CHECK(isfinite(y[i]) && isfinite(dx[i]));
            if (!isfinite(y[i]) || !isfinite(dx[i]))
                printf("    %s at x = %g\n", table[k].name, x[i]);
        }
    }
    float y[4];
    nn_activation_find("sigmoid")->forward(y, x, 1, 4);
    CHECK(y[0] == 0.0f && y[3] == 1.0f);
    CHECK_NEAR(y[1], 3.720075976e-44, 1e-45);
    nn_activation_find("softplus")->forward(y, x, 1, 4);
    CHECK(y[0] == 0.0f && y[2] == 100.0f && y[3] == 1e4f);
}

TEST(test_find_names_and_aliases) {
    CHECK(strcmp(nn_activation_find(NULL)->name, "linear") == 0);
    CHECK(strcmp(nn_activation_find("")->name, "linear") == 0);
    /* Keras's alias: a model that asked for swish saves "silu", as Keras's get_config does. */
    CHECK(strcmp(nn_activation_find("swish")->name, "silu") == 0);
    size_t count = 0;
    const nn_activation_def *table = nn_activation_table(&count);
    CHECK(count == 15);
    for (size_t k = 0; k < count; k++) CHECK(nn_activation_find(table[k].name) == &table[k]);
}

TEST(test_unknown_name_lists_known) {
    nn_clear_error();
    CHECK(nn_activation_find("relu7") == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown activation 'relu7'");
    CHECK_CONTAINS(nn_last_error(),
                   "(known: linear, relu, sigmoid, tanh, softmax, leaky_relu, elu, selu, gelu, "
                   "silu, softplus, softsign, hard_sigmoid, exponential, relu6, swish)");
    CHECK(nn_activation_find("Relu") == NULL); /* names are case-sensitive, as in Keras */
    CHECK_CONTAINS(nn_last_error(), "unknown activation 'Relu'");
}

int main(void) {
    RUN_TESTS(test_values_match_keras, test_backward_matches_finite_differences,
              test_softmax_rows_sum_to_one, test_large_inputs_stay_finite,
              test_find_names_and_aliases, test_unknown_name_lists_known);
}
