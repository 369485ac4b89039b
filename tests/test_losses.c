/* Losses: values and gradients against real Keras 3, gradients against central differences,
 * numerical stability of the logits paths, lookup, options, config and error messages. */
#include "../src/nn_internal.h"
#include "test.h"
#include "failing_alloc.h"

#define MAX_ROWS 3
#define MAX_ELEMS 12

typedef struct loss_case {
    const char *name;
    nn_loss_opts opts;
    int fd_check; /* 0 where an input sits on or beyond a clip bound: no central difference */
    int rows, cols;
    float pred[MAX_ELEMS], truth[MAX_ELEMS];
    double loss[MAX_ROWS];  /* Keras's per-sample loss */
    double grad[MAX_ELEMS]; /* d(sum of the per-sample losses)/d(pred), by tf.GradientTape */
} loss_case;

/* Made by `python tests/gen/make_loss_ref.py` (Keras 3.15.1, TensorFlow backend, float32);
 * the sparse cases' truth is one class index per row. */
static const loss_case LOSS_CASES[] = {
    { "binary_crossentropy", { 0 }, 1, 3, 2,
      { 0.100000001, 0.800000012, 0.349999994, 0.600000024, 0.899999976, 0.0500000007 },
      { 0, 1, 1, 0.300000012, 1, 0 },
      { 0.164252043, 0.922236681, 0.0783269256 },
      { 0.555555582, -0.625, -1.42857146, 0.62500006, -0.555555582, 0.526315808 } },
    { "binary_crossentropy", { .label_smoothing = 0.2 }, 1, 3, 2,
      { 0.100000001, 0.800000012, 0.349999994, 0.600000024, 0.899999976, 0.0500000007 },
      { 0, 1, 1, 0.300000012, 1, 0 },
      { 0.343427956, 0.883175373, 0.335410058 },
      { 0, -0.31250006, -1.20879138, 0.541666746, -3.27825546e-07, -0.526315808 } },
    { "binary_crossentropy", { .from_logits = true }, 1, 3, 2,
      { -2, 1.5, 0.300000012, -0.699999988, 25, -30 },
      { 0, 1, 1, 0.300000012, 1, 1 },
      { 0.164170653, 0.583770633, 15 },
      { 0.0596014559, -0.0912127569, -0.212778732, 0.0159060955, -6.94397187e-12, -0.5 } },
    { "binary_crossentropy", { .from_logits = true, .label_smoothing = 0.1 }, 1, 3, 2,
      { -2, 1.5, 0.300000012, -0.699999988, 4, -3 },
      { 0, 1, 1, 0.300000012, 1, 0 },
      { 0.251670659, 0.598270655, 0.208368659 },
      { 0.0346014574, -0.066212751, -0.187778726, 0.00590609014, 0.0160069019, -0.00128706358 } },
    { "binary_crossentropy", { 0 }, 0, 3, 2,
      { 0, 1, 9.99999972e-10, 1.5, -0.200000003, 0.5 },
      { 1, 0, 1, 1, 0, 1 },
      { 16.0302391, 8.0590477, 0.346573651 },
      { 0, 0, 0, 0, 0, -1 } },
    { "categorical_crossentropy", { 0 }, 1, 3, 4,
      { 0.200000003, 0.5, 0.300000012, 0.100000001, 0.0500000007, 0.0500000007, 0.600000024,
        0.200000003, 0.400000006, 0.300000012, 0.200000003, 0.100000001 },
      { 0, 1, 0, 0, 0, 0, 1, 0, 0.5, 0.25, 0.25, 0 },
      { 0.788457394, 0.405465096, 1.16149807 },
      { 0.909090996, -1.09090924, 0.909090996, 0.909090996, 1.11111104, 1.11111104, -0.555555582,
        1.11111104, -0.25, 0.166666687, -0.25, 1 } },
    { "categorical_crossentropy", { .label_smoothing = 0.1 }, 1, 3, 4,
      { 0.200000003, 0.5, 0.300000012, 0.100000001, 0.0500000007, 0.0500000007, 0.600000024,
        0.200000003, 0.400000006, 0.300000012, 0.200000003, 0.100000001 },
      { 0, 1, 0, 0, 0, 0, 1, 0, 0.5, 0.25, 0.25, 0 },
      { 0.864371181, 0.557175756, 1.19615543 },
      { 0.784090817, -0.940909207, 0.825757504, 0.659090817, 0.611111104, 0.611111104,
        -0.430555463, 0.986111045, -0.1875, 0.166666687, -0.25, 0.75 } },
    { "categorical_crossentropy", { .from_logits = true }, 1, 3, 4,
      { 1, 2, -1, 0.5, -3, 0, 4, 1, 50, 49, -20, 0 },
      { 0, 1, 0, 0, 0, 0, 1, 0, 0.5, 0.25, 0.25, 0 },
      { 0.495181888, 0.066737242, 18.0632629 },
      { 0.224207819, -0.390539944, 0.0303432308, 0.135988921, 0.000853011734, 0.0171331987,
        -0.0645590425, 0.0465728641, 0.231058598, 0.0189414322, -0.25, 1.41002917e-22 } },
    { "categorical_crossentropy", { .from_logits = true, .label_smoothing = 0.2 }, 1, 3, 4,
      { 1, 2, -1, 0.5, -3, 0, 4, 1, 0.5, 1.5, -2, 0 },
      { 0, 1, 0, 0, 0, 0, 1, 0, 0.5, 0.25, 0.25, 0 },
      { 0.770181894, 0.766737282, 1.88317096 },
      { 0.174207821, -0.240539968, -0.0196567699, 0.0859889239, -0.0491469875, -0.0328668021,
        0.0854409337, -0.00342713669, -0.223083004, 0.366824389, -0.231373519, 0.0876321346
        } },
    { "categorical_crossentropy", { 0 }, 0, 3, 4,
      { 0, 0.699999988, 0.300000012, 0, 1, 0, 0, 0, 0.25, 0.25, 0.25, 0.25 },
      { 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1 },
      { 16.1180954, 1.19209304e-07, 1.38629436 },
      { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, -3 } },
    { "sparse_categorical_crossentropy", { 0 }, 1, 3, 4,
      { 0.200000003, 0.5, 0.300000012, 0.100000001, 0.0500000007, 0.0500000007, 0.600000024,
        0.200000003, 0.400000006, 0.300000012, 0.200000003, 0.100000001 },
      { 1, 2, 3 },
      { 0.788457394, 0.405465096, 2.30258512 },
      { 0.909090936, -1.090909, 0.909090817, 0.909090936, 1.11111104, 1.11111104, -0.555555522,
        1.11111104, 1, 0.99999994, 0.99999994, -9 } },
    { "sparse_categorical_crossentropy", { .from_logits = true }, 1, 3, 4,
      { 1, 2, -1, 0.5, -3, 0, 4, 1, 50, 49, -20, 0 },
      { 1, 2, 0 },
      { 0.495181888, 0.066737242, 0.313261658 },
      { 0.224207819, -0.390539944, 0.0303432308, 0.135988921, 0.000853011734, 0.0171331987,
        -0.0645590425, 0.0465728641, -0.268941402, 0.268941432, 2.90628683e-31,
        1.41002917e-22 } },
    { "sparse_categorical_crossentropy", { 0 }, 0, 3, 4,
      { 0, 0.699999988, 0.300000012, 0, 1, 0, 0, 0, 0.25, 0.25, 0.25, 0.25 },
      { 0, 0, 3 },
      { 16.1180954, 3.57627812e-07, 1.38629436 },
      { 0, 0.999999821, 0.999999821, 0, 0, 0, 0, 0, 1, 1, 1, -3 } },
    { "mean_squared_error", { 0 }, 1, 2, 3,
      { 0.5, -1, 2, 3, 0, 0.25 },
      { 1, 0, 2.5, 1, 0.5, 0 },
      { 0.5, 1.4375 },
      { -0.333333343, -0.666666687, -0.333333343, 1.33333337, -0.333333343, 0.166666672 } },
    { "mean_absolute_error", { 0 }, 1, 2, 3,
      { 0.5, -1, 2, 3, 0, 0.25 },
      { 1, 0, 2.5, 1, 0.5, 0 },
      { 0.666666687, 0.916666687 },
      { -0.333333343, -0.333333343, -0.333333343, 0.333333343, -0.333333343, 0.333333343 } },
    { "huber", { 0 }, 1, 2, 3,
      { 0.5, -1, 2, 3, 0, 0.25 },
      { 1, 0.5, 2.5, 1, 0.75, 0 },
      { 0.416666657, 0.604166687 },
      { -0.166666672, -0.333333343, -0.166666672, 0.333333343, -0.25, 0.0833333358 } },
    { "huber", { .delta = 0.3 }, 1, 2, 3,
      { 0.5, -1, 2, 3, 0, 0.25 },
      { 1, 0.5, 2.5, 1, 0.75, 0 },
      { 0.205000028, 0.255416662 },
      { -0.100000009, -0.100000009, -0.100000009, 0.100000009, -0.100000009, 0.0833333358 } },
    { "hinge", { 0 }, 1, 2, 3,
      { 0.300000012, -0.400000006, 2, -1.5, 0.600000024, 0.100000001 },
      { 1, 0, 1, 0, 0, 1 },
      { 0.433333308, 0.833333313 },
      { -0.333333343, 0.333333343, -0, 0, 0.333333343, -0.333333343 } },
    { "hinge", { 0 }, 1, 2, 3,
      { 0.300000012, -0.400000006, 2, -1.5, 0.600000024, 0.100000001 },
      { 1, -1, 1, -1, -1, 1 },
      { 0.433333308, 0.833333313 },
      { -0.333333343, 0.333333343, -0, 0, 0.333333343, -0.333333343 } },
    { "kl_divergence", { 0 }, 1, 2, 3,
      { 0.200000003, 0.5, 0.300000012, 0.600000024, 0.300000012, 0.100000001 },
      { 0.100000001, 0.600000024, 0.300000012, 0, 0.5, 0.5 },
      { 0.0400782451, 1.06013024 },
      { -0.5, -1.20000005, -1, -1.66666666e-07, -1.66666663, -5 } },
    { "kl_divergence", { 0 }, 0, 2, 3,
      { 0, 0.5, 1.5, 0.600000024, 0.300000012, 0.100000001 },
      { 0.100000001, 0.600000024, 0.300000012, 0.200000003, 0.5, 0.300000012 },
      { 1.12975228, 0.365274012 },
      { 0, -1.20000005, 0, -0.333333373, -1.66666663, -3.00000024 } },
    { "log_cosh", { 0 }, 1, 2, 3,
      { 0.5, -1, 2, 60, 0, 0.25 },
      { 1, 0, 2.5, 1, 0.5, -40 },
      { 0.224669933, 32.661274 },
      { -0.154039055, -0.253864735, -0.154039055, 0.333333343, -0.154039055, 0.333333343 } },
};

static const float *truth_row(const nn_loss *loss, const loss_case *c, int row) {
    int per_row = loss->def->target == NN_TARGET_CLASS_INDEX ? 1 : c->cols;
    return c->truth + row * per_row;
}

static double case_forward(const nn_loss *loss, const loss_case *c, const float *pred, int row) {
    return loss->def->forward(pred + row * c->cols, truth_row(loss, c, row), c->cols, &loss->opts);
}

/* Tolerance for float32 Keras against nn's double arithmetic. */
static double tolerance(double reference, double relative) {
    return relative * fmax(1.0, fabs(reference));
}

TEST(test_loss_values_match_keras) {
    for (size_t i = 0; i < NN_ARRAY_LEN(LOSS_CASES); i++) {
        const loss_case *c = &LOSS_CASES[i];
        nn_loss *loss = nn_loss_new(c->name, &c->opts);
        CHECK(loss != NULL);
        if (!loss) continue;
        for (int r = 0; r < c->rows; r++) {
            double value = case_forward(loss, c, c->pred, r);
            if (!(fabs(value - c->loss[r]) <= tolerance(c->loss[r], 2e-6)))
                printf("  case %zu (%s) row %d\n", i, c->name, r);
            CHECK_NEAR(value, c->loss[r], tolerance(c->loss[r], 2e-6));
        }
        nn_loss_free(loss);
    }
}

static void case_backward(const nn_loss *loss, const loss_case *c, float *dpred, float scale) {
    for (int r = 0; r < c->rows; r++)
        loss->def->backward(dpred + r * c->cols, c->pred + r * c->cols, truth_row(loss, c, r),
                            c->cols, &loss->opts, scale);
}

TEST(test_loss_gradients_match_keras) {
    for (size_t i = 0; i < NN_ARRAY_LEN(LOSS_CASES); i++) {
        const loss_case *c = &LOSS_CASES[i];
        nn_loss *loss = nn_loss_new(c->name, &c->opts);
        if (!loss) continue;
        float dpred[MAX_ELEMS] = { 0 };
        case_backward(loss, c, dpred, 1.0f);
        for (int k = 0; k < c->rows * c->cols; k++) {
            if (!(fabs(dpred[k] - c->grad[k]) <= tolerance(c->grad[k], 1e-5)))
                printf("  case %zu (%s) element %d\n", i, c->name, k);
            CHECK_NEAR(dpred[k], c->grad[k], tolerance(c->grad[k], 1e-5));
        }
        nn_loss_free(loss);
    }
}

/* Central difference of the case's row loss in pred[k], in double. The step is rounded to
 * float32 as the input is, and the difference divided by the step actually taken. */
static double central_difference(const nn_loss *loss, const loss_case *c, int k) {
    float pred[MAX_ELEMS];
    memcpy(pred, c->pred, sizeof pred);
    double step = 1e-4 * fmax(1.0, fabs(c->pred[k]));
    float plus = (float)(c->pred[k] + step), minus = (float)(c->pred[k] - step);
    pred[k] = plus;
    double f_plus = case_forward(loss, c, pred, k / c->cols);
    pred[k] = minus;
    double f_minus = case_forward(loss, c, pred, k / c->cols);
    return (f_plus - f_minus) / ((double)plus - (double)minus);
}

TEST(test_loss_gradients_match_finite_differences) {
    for (size_t i = 0; i < NN_ARRAY_LEN(LOSS_CASES); i++) {
        const loss_case *c = &LOSS_CASES[i];
        if (!c->fd_check) continue;
        nn_loss *loss = nn_loss_new(c->name, &c->opts);
        if (!loss) continue;
        float dpred[MAX_ELEMS] = { 0 };
        case_backward(loss, c, dpred, 1.0f);
        for (int k = 0; k < c->rows * c->cols; k++) {
            double numeric = central_difference(loss, c, k);
            if (!(fabs(dpred[k] - numeric) <= tolerance(numeric, 1e-4)))
                printf("  case %zu (%s) element %d\n", i, c->name, k);
            CHECK_NEAR(dpred[k], numeric, tolerance(numeric, 1e-4));
        }
        nn_loss_free(loss);
    }
}

TEST(test_loss_backward_accumulates_scaled) {
    const loss_case *c = &LOSS_CASES[0];
    nn_loss *loss = nn_loss_new(c->name, &c->opts);
    float dpred[MAX_ELEMS];
    for (int k = 0; k < MAX_ELEMS; k++) dpred[k] = 1.0f;
    case_backward(loss, c, dpred, 0.25f);
    for (int k = 0; k < c->rows * c->cols; k++) CHECK_NEAR(dpred[k], 1.0 + 0.25 * c->grad[k], 1e-6);
    for (int k = c->rows * c->cols; k < MAX_ELEMS; k++) CHECK(dpred[k] == 1.0f);
    nn_loss_free(loss);
}

static double row_loss(const char *name, nn_loss_opts opts, const float *pred, const float *truth,
                       int64_t cols) {
    nn_loss *loss = nn_loss_new(name, &opts);
    double value = loss->def->forward(pred, truth, cols, &loss->opts);
    nn_loss_free(loss);
    return value;
}

static bool row_gradient_finite(const char *name, nn_loss_opts opts, const float *pred,
                                const float *truth, int64_t cols) {
    nn_loss *loss = nn_loss_new(name, &opts);
    float dpred[4] = { 0 };
    loss->def->backward(dpred, pred, truth, cols, &loss->opts, 1.0f);
    nn_loss_free(loss);
    for (int64_t c = 0; c < cols; c++)
        if (!isfinite(dpred[c])) return false;
    return true;
}

/* Logits far beyond exp's range: log-sum-exp and the |x| forms keep everything finite. */
TEST(test_logits_paths_are_stable) {
    nn_loss_opts logits = { .from_logits = true };
    float huge[2] = { 1000.0f, -1000.0f }, ones[2] = { 1.0f, 1.0f };
    CHECK_NEAR(row_loss("binary_crossentropy", logits, huge, ones, 2), 500.0, 1e-9);
    CHECK(row_gradient_finite("binary_crossentropy", logits, huge, ones, 2));
    float one_hot[2] = { 0.0f, 1.0f };
    CHECK_NEAR(row_loss("categorical_crossentropy", logits, huge, one_hot, 2), 2000.0, 1e-9);
    CHECK(row_gradient_finite("categorical_crossentropy", logits, huge, one_hot, 2));
    float class_one = 1.0f;
    CHECK_NEAR(row_loss("sparse_categorical_crossentropy", logits, huge, &class_one, 2), 2000.0,
               1e-9);
    CHECK(row_gradient_finite("sparse_categorical_crossentropy", logits, huge, &class_one, 2));
    float zeros[2] = { 0.0f, 0.0f };
    CHECK_NEAR(row_loss("log_cosh", (nn_loss_opts){ 0 }, huge, zeros, 2), 1000.0 - log(2.0), 1e-9);
    CHECK(row_gradient_finite("log_cosh", (nn_loss_opts){ 0 }, huge, zeros, 2));
}

/* Labels are truncated to a class as TensorFlow casts them; one outside [0, cols) or NaN
 * gives NaN and no gradient, without reading past the row. */
TEST(test_sparse_class_index_bounds) {
    nn_loss *loss = nn_loss_new("sparse_categorical_crossentropy", NULL);
    const float pred[3] = { 0.2f, 0.3f, 0.5f };
    const float class_two = 2.0f, truncated = 2.9f, minus_half = -0.5f, class_zero = 0.0f;
    double two = loss->def->forward(pred, &class_two, 3, &loss->opts);
    CHECK_NEAR(two, -log(0.5), 1e-6);
    CHECK(loss->def->forward(pred, &truncated, 3, &loss->opts) == two);
    CHECK(loss->def->forward(pred, &minus_half, 3, &loss->opts) ==
          loss->def->forward(pred, &class_zero, 3, &loss->opts));
    const float bad[] = { 3.0f, -1.0f, 1e30f, NAN };
    for (size_t i = 0; i < NN_ARRAY_LEN(bad); i++) {
        CHECK(isnan(loss->def->forward(pred, &bad[i], 3, &loss->opts)));
        float dpred[3] = { 7.0f, 7.0f, 7.0f };
        loss->def->backward(dpred, pred, &bad[i], 3, &loss->opts, 1.0f);
        CHECK(dpred[0] == 7.0f && dpred[1] == 7.0f && dpred[2] == 7.0f);
    }
    nn_loss_free(loss);
}

/* Keras's clip bounds are float32(1e-7) and float32(1 - 1e-7): a prediction of exactly 0
 * costs -log(float32(1e-7)). */
TEST(test_clip_bounds_are_keras_float32_epsilon) {
    const float zero = 0.0f, one = 1.0f;
    CHECK_NEAR(row_loss("binary_crossentropy", (nn_loss_opts){ 0 }, &zero, &one, 1),
               -log((double)1e-7f), 1e-9);
    CHECK_NEAR(row_loss("binary_crossentropy", (nn_loss_opts){ 0 }, &one, &zero, 1),
               -log(1.0 - (double)(float)(1.0 - 1e-7)), 1e-9);
}

TEST(test_loss_lookup_by_name_alias_and_class) {
    static const struct { const char *given, *canonical; } names[] = {
        { "binary_crossentropy", "binary_crossentropy" },
        { "BinaryCrossentropy", "binary_crossentropy" },
        { "bce", "binary_crossentropy" }, { "MSE", "mean_squared_error" },
        { "meansquarederror", "mean_squared_error" }, { "mae", "mean_absolute_error" },
        { "Huber", "huber" }, { "KLDivergence", "kl_divergence" }, { "kld", "kl_divergence" },
        { "LogCosh", "log_cosh" }, { "hinge", "hinge" },
        { "SparseCategoricalCrossentropy", "sparse_categorical_crossentropy" },
        { "categorical_crossentropy", "categorical_crossentropy" },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(names); i++) {
        const nn_loss_def *def = nn_loss_find(names[i].given);
        CHECK(def != NULL);
        if (def) CHECK(strcmp(def->name, names[i].canonical) == 0);
    }
    CHECK(nn_loss_find("sparse_categorical_crossentropy")->target == NN_TARGET_CLASS_INDEX);
    CHECK(nn_loss_find("categorical_crossentropy")->target == NN_TARGET_SAME_SHAPE);
}

TEST(test_unknown_loss_lists_known_names) {
    CHECK(nn_loss_new("mean_squared_eror", NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown loss 'mean_squared_eror'");
    CHECK_CONTAINS(nn_last_error(), "known: binary_crossentropy, categorical_crossentropy, "
                                    "sparse_categorical_crossentropy, mean_squared_error");
    CHECK_CONTAINS(nn_last_error(), "log_cosh");
    CHECK(nn_loss_find(NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown loss '(null)'");
}

TEST(test_loss_defaults_and_constructors) {
    nn_loss *huber = nn_loss_new("huber", NULL);
    CHECK(huber->opts.delta == 1.0);
    nn_loss_free(huber);
    nn_loss *bce = nn_loss_binary_crossentropy(.from_logits = true, .label_smoothing = 0.1);
    CHECK(bce && bce->opts.from_logits && bce->opts.label_smoothing == 0.1);
    CHECK(strcmp(bce->def->name, "binary_crossentropy") == 0);
    nn_loss_free(bce);
    nn_loss *scce = nn_loss_sparse_categorical_crossentropy();
    CHECK(scce && !scce->opts.from_logits);
    nn_loss_free(scce);
    nn_loss_free(NULL);
}

TEST(test_loss_rejects_bad_options) {
    CHECK(nn_loss_new("mse", &(nn_loss_opts){ .from_logits = true }) == NULL);
    CHECK_CONTAINS(nn_last_error(),
                   "loss 'mean_squared_error' takes no argument 'from_logits' (it takes: none)");
    CHECK(nn_loss_new("bce", &(nn_loss_opts){ .delta = 2 }) == NULL);
    CHECK_CONTAINS(nn_last_error(),
                   "takes no argument 'delta' (it takes: from_logits, label_smoothing)");
    CHECK(nn_loss_sparse_categorical_crossentropy(.label_smoothing = 0.1) == NULL);
    CHECK_CONTAINS(nn_last_error(), "takes no argument 'label_smoothing' (it takes: from_logits)");
    CHECK(nn_loss_binary_crossentropy(.label_smoothing = 1.5) == NULL);
    CHECK_CONTAINS(nn_last_error(), "label_smoothing must be in [0, 1], got 1.5");
    CHECK(nn_loss_new("huber", &(nn_loss_opts){ .delta = -1 }) == NULL);
    CHECK_CONTAINS(nn_last_error(), "loss 'huber': delta must be a positive number, got -1");
}

static nn_value parse_json(const char *text) {
    nn_value v;
    int status = nn_value_from_json(text, strlen(text), &v);
    CHECK(status == NN_OK);
    return v;
}

static bool config_bool(const nn_value *config, const char *key) {
    const nn_value *v = nn_value_get(config, key);
    return v && v->type == NN_VALUE_BOOL && v->boolean;
}

static double config_number(const nn_value *config, const char *key) {
    const nn_value *v = nn_value_get(config, key);
    return v && v->type == NN_VALUE_NUMBER ? v->number : NAN;
}

TEST(test_loss_config_round_trip) {
    nn_value kwargs = parse_json("{\"from_logits\": true, \"label_smoothing\": 0.1}");
    nn_loss *loss = nn_loss_from_config("BinaryCrossentropy", &kwargs);
    nn_value_clear(&kwargs);
    CHECK(loss && loss->opts.from_logits && loss->opts.label_smoothing == 0.1);
    nn_value config;
    CHECK(nn_loss_get_config(loss, &config) == NN_OK);
    const nn_value *name = nn_value_get(&config, "name");
    CHECK(name && name->type == NN_VALUE_STRING);
    CHECK(name && strcmp(name->string, "binary_crossentropy") == 0);
    CHECK(config_bool(&config, "from_logits"));
    CHECK(config_number(&config, "label_smoothing") == 0.1);
    CHECK(nn_value_get(&config, "delta") == NULL);
    nn_loss *again = nn_loss_from_config(name->string, &config);
    CHECK(again && again->def == loss->def && again->opts.from_logits &&
          again->opts.label_smoothing == 0.1);
    nn_value_clear(&config);
    nn_loss_free(again);
    nn_loss_free(loss);

    nn_loss *huber = nn_loss_from_config("huber", NULL);
    CHECK(nn_loss_get_config(huber, &config) == NN_OK);
    CHECK(config_number(&config, "delta") == 1.0);
    CHECK(nn_value_get(&config, "from_logits") == NULL);
    nn_value_clear(&config);
    nn_loss_free(huber);
}

TEST(test_loss_from_config_errors) {
    nn_value kwargs = parse_json("{\"reduction\": \"sum\"}");
    CHECK(nn_loss_from_config("bce", &kwargs) == NULL);
    CHECK_CONTAINS(nn_last_error(), "loss 'binary_crossentropy' takes no argument 'reduction' "
                                    "(it takes: from_logits, label_smoothing)");
    nn_value_clear(&kwargs);
    kwargs = parse_json("{\"from_logits\": 1}");
    CHECK(nn_loss_from_config("categorical_crossentropy", &kwargs) == NULL);
    CHECK_CONTAINS(nn_last_error(), "from_logits must be True or False");
    nn_value_clear(&kwargs);
    kwargs = parse_json("{\"delta\": \"big\"}");
    CHECK(nn_loss_from_config("huber", &kwargs) == NULL);
    CHECK_CONTAINS(nn_last_error(), "loss 'huber': delta must be a number");
    nn_value_clear(&kwargs);
    kwargs = parse_json("[1]");
    CHECK(nn_loss_from_config("huber", &kwargs) == NULL);
    CHECK_CONTAINS(nn_last_error(), "the arguments must be a dictionary");
    nn_value_clear(&kwargs);
    CHECK(nn_loss_from_config("Hubber", NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown loss 'Hubber'");
}

TEST(test_loss_new_allocation_failure) {
    failing_alloc f;
    failing_alloc_install_from(&f, 1); /* every allocation fails */
    nn_loss *loss = nn_loss_new("mse", NULL);
    nn_set_allocator(NULL);
    CHECK(loss == NULL);
    CHECK_CONTAINS(nn_last_error(), "out of memory");
}

int main(void) {
    RUN_TESTS(test_loss_values_match_keras, test_loss_gradients_match_keras,
              test_loss_gradients_match_finite_differences, test_loss_backward_accumulates_scaled,
              test_logits_paths_are_stable, test_sparse_class_index_bounds,
              test_clip_bounds_are_keras_float32_epsilon, test_loss_lookup_by_name_alias_and_class,
              test_unknown_loss_lists_known_names, test_loss_defaults_and_constructors,
              test_loss_rejects_bad_options, test_loss_config_round_trip,
              test_loss_from_config_errors, test_loss_new_allocation_failure);
}
