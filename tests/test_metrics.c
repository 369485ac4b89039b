/* Metrics: values against real Keras 3 (weighted and not, accumulated over two updates and
 * after a reset), the resolution of "accuracy", display names and unknown names. */
#include "../src/nn_internal.h"
#include "test.h"
#include "failing_alloc.h"

#define MAX_ROWS 20
#define MAX_ELEMS 28

typedef struct metric_case {
    const char *name;
    int rows, cols, truth_cols, weighted;
    float pred[MAX_ELEMS], truth[MAX_ELEMS], weights[MAX_ROWS];
    double expected; /* Keras's result after update_state on rows [0, rows/2) then the rest */
} metric_case;

/* Made by `python tests/gen/make_loss_ref.py` (Keras 3.15.1, TensorFlow backend, float32):
 * keras.metrics.<Class>() with its defaults. */
static const metric_case METRIC_CASES[] = {
    { "binary_accuracy", 8, 1, 1, 0,
      { 0.899999976, 0.5, 0.200000003, 0.699999988, 0.50999999, 0.100000001, 0.600000024,
        0.300000012 },
      { 1, 1, 0, 0, 1, 1, 1, 0 },
      { 0 },
      0.625 },
    { "binary_accuracy", 8, 1, 1, 1,
      { 0.899999976, 0.5, 0.200000003, 0.699999988, 0.50999999, 0.100000001, 0.600000024,
        0.300000012 },
      { 1, 1, 0, 0, 1, 1, 1, 0 },
      { 1, 0.5, 2, 1, 0, 3, 1.5, 0.25 },
      0.513513505 },
    { "binary_accuracy", 4, 3, 3, 1,
      { 0.899999976, 0.200000003, 0.600000024, 0.400000006, 0.800000012, 0.5, 0.100000001,
        0.550000012, 0.699999988, 0.300000012, 0.300000012, 0.899999976 },
      { 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0, 0 },
      { 0.5, 1, 2, 1.5 },
      0.699999988 },
    { "categorical_accuracy", 4, 3, 3, 0,
      { 0.100000001, 0.600000024, 0.300000012, 0.400000006, 0.400000006, 0.200000003, 0.200000003,
        0.300000012, 0.5, 0.699999988, 0.200000003, 0.100000001 },
      { 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0 },
      { 0 },
      0.5 },
    { "categorical_accuracy", 4, 3, 3, 1,
      { 0.100000001, 0.600000024, 0.300000012, 0.400000006, 0.400000006, 0.200000003, 0.200000003,
        0.300000012, 0.5, 0.699999988, 0.200000003, 0.100000001 },
      { 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0 },
      { 0.5, 1, 2, 1.5 },
      0.5 },
    { "sparse_categorical_accuracy", 4, 3, 1, 0,
      { 0.100000001, 0.600000024, 0.300000012, 0.400000006, 0.400000006, 0.200000003, 0.200000003,
        0.300000012, 0.5, 0.699999988, 0.200000003, 0.100000001 },
      { 1, 1, 2, 1 },
      { 0 },
      0.5 },
    { "sparse_categorical_accuracy", 4, 3, 1, 1,
      { 0.100000001, 0.600000024, 0.300000012, 0.400000006, 0.400000006, 0.200000003, 0.200000003,
        0.300000012, 0.5, 0.699999988, 0.200000003, 0.100000001 },
      { 1, 1, 2, 1 },
      { 0.5, 1, 2, 1.5 },
      0.5 },
    { "top_k_categorical_accuracy", 4, 7, 7, 0,
      { 0.100000001, 0.200000003, 0.300000012, 0.0500000007, 0.150000006, 0.119999997,
        0.0799999982, 0.300000012, 0.100000001, 0.100000001, 0.100000001, 0.100000001,
        0.100000001, 0.200000003, 0.899999976, 0.800000012, 0.699999988, 0.600000024, 0.5,
        0.400000006, 0.300000012, 0.200000003, 0.200000003, 0.200000003, 0.200000003,
        0.200000003, 0.200000003, 0.200000003 },
      { 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0 },
      { 0 },
      0.75 },
    { "top_k_categorical_accuracy", 4, 7, 7, 1,
      { 0.100000001, 0.200000003, 0.300000012, 0.0500000007, 0.150000006, 0.119999997,
        0.0799999982, 0.300000012, 0.100000001, 0.100000001, 0.100000001, 0.100000001,
        0.100000001, 0.200000003, 0.899999976, 0.800000012, 0.699999988, 0.600000024, 0.5,
        0.400000006, 0.300000012, 0.200000003, 0.200000003, 0.200000003, 0.200000003,
        0.200000003, 0.200000003, 0.200000003 },
      { 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0 },
      { 0.5, 1, 2, 1.5 },
      0.600000024 },
    { "sparse_top_k_categorical_accuracy", 4, 7, 1, 0,
      { 0.100000001, 0.200000003, 0.300000012, 0.0500000007, 0.150000006, 0.119999997,
        0.0799999982, 0.300000012, 0.100000001, 0.100000001, 0.100000001, 0.100000001,
        0.100000001, 0.200000003, 0.899999976, 0.800000012, 0.699999988, 0.600000024, 0.5,
        0.400000006, 0.300000012, 0.200000003, 0.200000003, 0.200000003, 0.200000003,
        0.200000003, 0.200000003, 0.200000003 },
      { 0, 1, 5, 5 },
      { 0 },
      0.75 },
    { "sparse_top_k_categorical_accuracy", 4, 7, 1, 1,
      { 0.100000001, 0.200000003, 0.300000012, 0.0500000007, 0.150000006, 0.119999997,
        0.0799999982, 0.300000012, 0.100000001, 0.100000001, 0.100000001, 0.100000001,
        0.100000001, 0.200000003, 0.899999976, 0.800000012, 0.699999988, 0.600000024, 0.5,
        0.400000006, 0.300000012, 0.200000003, 0.200000003, 0.200000003, 0.200000003,
        0.200000003, 0.200000003, 0.200000003 },
      { 0, 1, 5, 5 },
      { 0.5, 1, 2, 1.5 },
      0.600000024 },
    { "mean_squared_error", 3, 2, 2, 0,
      { 0.5, -1, 3, 0, 0.25, 2 },
      { 1, 0, 1, 0.5, 0, 2.5 },
      { 0 },
      0.96875 },
    { "mse", 3, 2, 2, 1,
      { 0.5, -1, 3, 0, 0.25, 2 },
      { 1, 0, 1, 0.5, 0, 2.5 },
      { 1, 0.5, 2 },
      0.571428597 },
    { "mean_absolute_error", 3, 2, 2, 0,
      { 0.5, -1, 3, 0, 0.25, 2 },
      { 1, 0, 1, 0.5, 0, 2.5 },
      { 0 },
      0.791666687 },
    { "mean_squared_error", 4, 3, 1, 1,
      { 0.899999976, 0.200000003, 0.600000024, 0.400000006, 0.800000012, 0.5, 0.100000001,
        0.550000012, 0.699999988, 0.300000012, 0.300000012, 0.899999976 },
      { 1, 0, 0.5, 1 },
      { 0.5, 1, 2, 1.5 },
      0.223000005 },
    { "binary_accuracy", 4, 3, 1, 0,
      { 0.899999976, 0.200000003, 0.600000024, 0.400000006, 0.800000012, 0.5, 0.100000001,
        0.550000012, 0.699999988, 0.300000012, 0.300000012, 0.899999976 },
      { 1, 0, 0.5, 1 },
      { 0 },
      0.416666687 },
    { "mae", 3, 2, 2, 1,
      { 0.5, -1, 3, 0, 0.25, 2 },
      { 1, 0, 1, 0.5, 0, 2.5 },
      { 1, 0.5, 2 },
      0.607142866 },
    { "precision", 8, 1, 1, 0,
      { 0.899999976, 0.5, 0.200000003, 0.699999988, 0.50999999, 0.100000001, 0.600000024,
        0.300000012 },
      { 1, 1, 0, 0, 1, 1, 1, 0 },
      { 0 },
      0.75 },
    { "precision", 8, 1, 1, 1,
      { 0.899999976, 0.5, 0.200000003, 0.699999988, 0.50999999, 0.100000001, 0.600000024,
        0.300000012 },
      { 1, 1, 0, 0, 1, 1, 1, 0 },
      { 1, 0.5, 2, 1, 0, 3, 1.5, 0.25 },
      0.714285731 },
    { "precision", 4, 3, 3, 1,
      { 0.899999976, 0.200000003, 0.600000024, 0.400000006, 0.800000012, 0.5, 0.100000001,
        0.550000012, 0.699999988, 0.300000012, 0.300000012, 0.899999976 },
      { 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0, 0 },
      { 0.5, 1, 2, 1.5 },
      0.733333349 },
    { "recall", 8, 1, 1, 0,
      { 0.899999976, 0.5, 0.200000003, 0.699999988, 0.50999999, 0.100000001, 0.600000024,
        0.300000012 },
      { 1, 1, 0, 0, 1, 1, 1, 0 },
      { 0 },
      0.600000024 },
    { "recall", 8, 1, 1, 1,
      { 0.899999976, 0.5, 0.200000003, 0.699999988, 0.50999999, 0.100000001, 0.600000024,
        0.300000012 },
      { 1, 1, 0, 0, 1, 1, 1, 0 },
      { 1, 0.5, 2, 1, 0, 3, 1.5, 0.25 },
      0.416666657 },
    { "recall", 4, 3, 3, 1,
      { 0.899999976, 0.200000003, 0.600000024, 0.400000006, 0.800000012, 0.5, 0.100000001,
        0.550000012, 0.699999988, 0.300000012, 0.300000012, 0.899999976 },
      { 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0, 0 },
      { 0.5, 1, 2, 1.5 },
      0.6875 },
    { "auc", 20, 1, 1, 0,
      { 0.899999976, 0.5, 0.200000003, 0.699999988, 0.50999999, 0.100000001, 0.600000024,
        0.300000012, 1.20000005, -0.100000001, 0.300000012, 0.00499999989, 0.800000012,
        0.449999988, 0.0150753772, 0.0140000004, 0.0502512567, 0.0489999987, 1, 0.999000013
        },
      { 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0 },
      { 0 },
      0.651515186 },
    { "auc", 20, 1, 1, 1,
      { 0.899999976, 0.5, 0.200000003, 0.699999988, 0.50999999, 0.100000001, 0.600000024,
        0.300000012, 1.20000005, -0.100000001, 0.300000012, 0.00499999989, 0.800000012,
        0.449999988, 0.0150753772, 0.0140000004, 0.0502512567, 0.0489999987, 1, 0.999000013
        },
      { 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0 },
      { 1, 0.5, 2, 1, 0, 3, 1.5, 0.25, 1, 2, 0.5, 1, 0.75, 1.25, 1, 0.5, 1, 2, 1, 1.5 },
      0.644100606 },
    { "auc", 4, 3, 3, 1,
      { 0.899999976, 0.200000003, 0.600000024, 0.400000006, 0.800000012, 0.5, 0.100000001,
        0.550000012, 0.699999988, 0.300000012, 0.300000012, 0.899999976 },
      { 1, 0, 0, 0, 1, 1, 0, 1, 1, 1, 0, 0 },
      { 0.5, 1, 2, 1.5 },
      0.705357134 },
};

static void update_rows(nn_metric *m, const metric_case *c, int first, int count) {
    nn_metric_update(m, c->pred + first * c->cols, c->truth + first * c->truth_cols, count, c->cols,
                     c->truth_cols, c->weighted ? c->weights + first : NULL);
}

TEST(test_metrics_match_keras) {
    for (size_t i = 0; i < NN_ARRAY_LEN(METRIC_CASES); i++) {
        const metric_case *c = &METRIC_CASES[i];
        nn_metric *m = nn_metric_new(c->name, NULL, c->cols);
        CHECK(m != NULL);
        if (!m) continue;
        int half = c->rows / 2;
        update_rows(m, c, 0, half);
        update_rows(m, c, half, c->rows - half);
        double split = nn_metric_result(m);
        nn_metric_reset(m);
        update_rows(m, c, 0, c->rows);
        double whole = nn_metric_result(m);
        if (!(fabs(split - c->expected) <= 1e-6 && fabs(whole - c->expected) <= 1e-6))
            printf("  case %zu (%s)\n", i, c->name);
        CHECK_NEAR(split, c->expected, 1e-6);
        CHECK_NEAR(whole, c->expected, 1e-6);
        nn_metric_free(m);
    }
}

/* One batch without sample weights. */
typedef struct batch {
    const float *pred, *truth;
    int64_t rows, cols, truth_cols;
} batch;

/* The result of `name` resolved against `loss` (or no loss) and the batch's width. */
static double metric_value(const char *name, const nn_loss *loss, batch b) {
    nn_metric *m = nn_metric_new(name, loss, b.cols);
    nn_metric_update(m, b.pred, b.truth, b.rows, b.cols, b.truth_cols, NULL);
    double value = nn_metric_result(m);
    nn_metric_free(m);
    return value;
}

/* Keras 3 (trainers/compile_utils.py) decides by shape: one output column is binary, a class
 * index truth is sparse, anything else categorical, whatever the loss. Each input below gives
 * a different value under each of the three accuracies. */
TEST(test_accuracy_resolves_as_keras_compile) {
    nn_loss *bce = nn_loss_new("binary_crossentropy", NULL);
    nn_loss *cce = nn_loss_new("categorical_crossentropy", NULL);
    nn_loss *scce = nn_loss_new("sparse_categorical_crossentropy", NULL);
    nn_loss *mse = nn_loss_new("mse", NULL);
    const float pred[] = { 0.2f, 0.3f, 0.5f, 0.1f, 0.6f, 0.3f };
    const float one_hot[] = { 0, 0, 1, 0, 1, 0 }, classes[] = { 2, 1 };
    batch categorical = { pred, one_hot, 2, 3, 3 }, sparse = { pred, classes, 2, 3, 1 };
    /* categorical: both argmaxes right; binary would be 5/6 (0.5 is not > 0.5) */
    CHECK_NEAR(metric_value("accuracy", cce, categorical), 1.0, 0);
    CHECK_NEAR(metric_value("accuracy", bce, categorical), 1.0, 0);
    CHECK_NEAR(metric_value("acc", mse, categorical), 1.0, 0);
    CHECK_NEAR(metric_value("binary_accuracy", NULL, categorical), 5.0 / 6.0, 1e-12);
    /* sparse: class indices; categorical accuracy over a one-wide truth would be 0 */
    CHECK_NEAR(metric_value("Accuracy", scce, sparse), 1.0, 0);
    CHECK_NEAR(metric_value("categorical_accuracy", NULL, sparse), 0.0, 0);
    /* one column: binary, thresholded at 0.5 */
    const float column[] = { 0.7f, 0.4f, 0.5f }, labels[] = { 1, 1, 0 };
    batch binary = { column, labels, 3, 1, 1 };
    CHECK_NEAR(metric_value("accuracy", bce, binary), 2.0 / 3.0, 1e-12);
    CHECK_NEAR(metric_value("accuracy", NULL, binary), 2.0 / 3.0, 1e-12);
    nn_loss_free(bce);
    nn_loss_free(cce);
    nn_loss_free(scce);
    nn_loss_free(mse);
}

/* Keras's BinaryAccuracy compares raw outputs with 0.5 even when the loss takes logits: logit
 * 0.3 (probability 0.57) counts as class 0. */
TEST(test_accuracy_with_logits_still_thresholds_raw_outputs) {
    nn_loss *bce_logits = nn_loss_binary_crossentropy(.from_logits = true);
    const float logits[] = { -2.0f, 0.3f, 2.0f }, labels[] = { 0, 1, 1 };
    CHECK_NEAR(metric_value("accuracy", bce_logits, (batch){ logits, labels, 3, 1, 1 }), 2.0 / 3.0,
               1e-12);
    nn_loss_free(bce_logits);
}

TEST(test_metric_display_name_is_as_given) {
    static const char *const names[] = { "accuracy", "ACC", "AUC", "mse", "MeanAbsoluteError",
                                         "Precision", "recall", "top_k_categorical_accuracy" };
    for (size_t i = 0; i < NN_ARRAY_LEN(names); i++) {
        nn_metric *m = nn_metric_new(names[i], NULL, 7);
        CHECK(m && strcmp(nn_metric_name(m), names[i]) == 0);
        nn_metric_free(m);
    }
}

TEST(test_unknown_metric_lists_known_names) {
    CHECK(nn_metric_new("accuracyy", NULL, 1) == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown metric 'accuracyy' (known: accuracy, binary_accuracy, "
                                    "categorical_accuracy, sparse_categorical_accuracy");
    CHECK_CONTAINS(nn_last_error(), "precision, recall, auc");
    CHECK(nn_metric_new(NULL, NULL, 1) == NULL);
    CHECK_CONTAINS(nn_last_error(), "the metric name is NULL");
    nn_metric_free(NULL);
}

/* divide_no_nan: no data, or only zero weights, gives 0 as Keras does. */
TEST(test_empty_metrics_are_zero) {
    static const char *const names[] = { "binary_accuracy", "mse", "precision", "recall", "auc" };
    const float pred[] = { 0.9f, 0.1f }, truth[] = { 1, 0 }, zero_weights[] = { 0, 0 };
    for (size_t i = 0; i < NN_ARRAY_LEN(names); i++) {
        nn_metric *m = nn_metric_new(names[i], NULL, 1);
        CHECK(nn_metric_result(m) == 0.0);
        nn_metric_update(m, pred, truth, 2, 1, 1, zero_weights);
        CHECK(nn_metric_result(m) == 0.0);
        nn_metric_free(m);
    }
}

/* With a single class present one ROC axis is all zeros, so the area is 0 (Keras: 0.0). A
 * perfect ranking gives 1. */
TEST(test_auc_degenerate_and_perfect) {
    nn_metric *m = nn_metric_new("auc", NULL, 1);
    const float pred[] = { 0.9f, 0.2f, 0.6f, 0.4f }, positives[] = { 1, 1, 1, 1 };
    nn_metric_update(m, pred, positives, 4, 1, 1, NULL);
    CHECK(nn_metric_result(m) == 0.0);
    nn_metric_reset(m);
    const float ranked[] = { 1, 0, 1, 0 };
    nn_metric_update(m, pred, ranked, 4, 1, 1, NULL);
    CHECK_NEAR(nn_metric_result(m), 1.0, 1e-12);
    nn_metric_free(m);
}

/* tf.math.in_top_k: an out-of-range class or a non-finite prediction is never in the top k. */
TEST(test_sparse_top_k_out_of_range_and_nan) {
    const char *top_k = "sparse_top_k_categorical_accuracy";
    const float pred[] = { 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f };
    const float out_of_range[] = { 7 }, negative[] = { -1 }, in_top[] = { 6.5f };
    CHECK(metric_value(top_k, NULL, (batch){ pred, out_of_range, 1, 7, 1 }) == 0.0);
    CHECK(metric_value(top_k, NULL, (batch){ pred, negative, 1, 7, 1 }) == 0.0);
    CHECK(metric_value(top_k, NULL, (batch){ pred, in_top, 1, 7, 1 }) == 1.0);
    const float with_nan[] = { 0.1f, NAN, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f }, six[] = { 6 };
    CHECK(metric_value(top_k, NULL, (batch){ with_nan, six, 1, 7, 1 }) == 0.0);
}

/* Keras casts labels to bool for the confusion counts, so 0.3 and 0.7 are positives.
 * Expected values from Keras 3.15.1: Precision 1.0, Recall 0.5, AUC 0.5 on these inputs. */
TEST(test_confusion_metrics_treat_nonzero_labels_as_positive) {
    const float pred[] = { 0.9f, 0.2f, 0.1f }, truth[] = { 0.3f, 0.0f, 0.7f };
    batch b = { pred, truth, 3, 1, 1 };
    CHECK_NEAR(metric_value("precision", NULL, b), 1.0, 1e-12);
    CHECK_NEAR(metric_value("recall", NULL, b), 0.5, 1e-12);
    CHECK_NEAR(metric_value("auc", NULL, b), 0.5, 1e-6);
}

/* A fractional class label: sparse_categorical_accuracy compares floats (1.5 != 1) while the
 * top-k variant casts to int32 first (1.5 -> 1). Keras 3.15.1 gives 0.0 and 1.0. */
TEST(test_fractional_class_labels_as_keras) {
    const float pred[] = { 0.1f, 0.8f, 0.1f }, label[] = { 1.5f };
    batch b = { pred, label, 1, 3, 1 };
    CHECK(metric_value("sparse_categorical_accuracy", NULL, b) == 0.0);
    CHECK(metric_value("sparse_top_k_categorical_accuracy", NULL, b) == 1.0);
}

/* AUC makes four allocations (metric, name, two bucket arrays); failing any one gives NULL
 * with the out-of-memory message and frees the rest (ASan checks the leaks). */
TEST(test_metric_new_allocation_failures) {
    for (long fail_at = 1; fail_at <= 4; fail_at++) {
        failing_alloc f;
        failing_alloc_install(&f, fail_at);
        nn_metric *m = nn_metric_new("auc", NULL, 1);
        nn_set_allocator(NULL);
        CHECK(m == NULL);
        CHECK_CONTAINS(nn_last_error(), "out of memory");
    }
}

int main(void) {
    RUN_TESTS(test_metrics_match_keras, test_accuracy_resolves_as_keras_compile,
              test_accuracy_with_logits_still_thresholds_raw_outputs,
              test_metric_display_name_is_as_given, test_unknown_metric_lists_known_names,
              test_empty_metrics_are_zero, test_auc_degenerate_and_perfect,
              test_sparse_top_k_out_of_range_and_nan,
              test_confusion_metrics_treat_nonzero_labels_as_positive,
              test_fractional_class_labels_as_keras, test_metric_new_allocation_failures);
}
