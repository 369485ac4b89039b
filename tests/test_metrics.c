/* Metrics: values against real Keras 3 (weighted and not, accumulated over two updates and
 * after a reset), the resolution of "accuracy", display names and unknown names. */
#include "../src/nn_internal.h"
#include "test.h"

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

/* The result of `name` resolved against a loss and output width, over one batch. */
static double metric_value(const char *name, const char *loss_name, nn_loss_opts opts,
                           const float *pred, const float *truth, int64_t rows, int64_t cols,
                           int64_t truth_cols) {
    nn_loss *loss = loss_name ? nn_loss_new(loss_name, &opts) : NULL;
    nn_metric *m = nn_metric_new(name, loss, cols);
    nn_metric_update(m, pred, truth, rows, cols, truth_cols, NULL);
    double value = nn_metric_result(m);
    nn_metric_free(m);
    nn_loss_free(loss);
    return value;
}

/* Keras 3 (trainers/compile_utils.py) decides by shape: one output column is binary, a class
 * index truth is sparse, anything else categorical, whatever the loss. Each input below gives
 * a different value under each of the three accuracies. */
TEST(test_accuracy_resolves_as_keras_compile) {
    const float pred[] = { 0.2f, 0.3f, 0.5f, 0.1f, 0.6f, 0.3f };
    const float one_hot[] = { 0, 0, 1, 0, 1, 0 }, classes[] = { 2, 1 };
    nn_loss_opts none = { 0 };
    /* categorical: both argmaxes right; binary would be 5/6 (0.5 is not > 0.5) */
    CHECK_NEAR(metric_value("accuracy", "categorical_crossentropy", none, pred, one_hot, 2, 3, 3), 1.0, 0);
    CHECK_NEAR(metric_value("accuracy", "binary_crossentropy", none, pred, one_hot, 2, 3, 3), 1.0, 0);
    CHECK_NEAR(metric_value("acc", "mse", none, pred, one_hot, 2, 3, 3), 1.0, 0);
    CHECK_NEAR(metric_value("binary_accuracy", NULL, none, pred, one_hot, 2, 3, 3), 5.0 / 6.0, 1e-12);
    /* sparse: class indices; categorical accuracy over a one-wide truth would be 0 */
    CHECK_NEAR(metric_value("Accuracy", "sparse_categorical_crossentropy", none, pred, classes, 2, 3, 1), 1.0, 0);
    CHECK_NEAR(metric_value("categorical_accuracy", NULL, none, pred, classes, 2, 3, 1), 0.0, 0);
    /* one column: binary, thresholded at 0.5 */
    const float column[] = { 0.7f, 0.4f, 0.5f }, labels[] = { 1, 1, 0 };
    CHECK_NEAR(metric_value("accuracy", "binary_crossentropy", none, column, labels, 3, 1, 1), 2.0 / 3.0, 1e-12);
    CHECK_NEAR(metric_value("accuracy", NULL, none, column, labels, 3, 1, 1), 2.0 / 3.0, 1e-12);
}

/* Keras's BinaryAccuracy compares raw outputs with 0.5 even when the loss takes logits: logit
 * 0.3 (probability 0.57) counts as class 0. */
TEST(test_accuracy_with_logits_still_thresholds_raw_outputs) {
    const float logits[] = { -2.0f, 0.3f, 2.0f }, labels[] = { 0, 1, 1 };
    CHECK_NEAR(metric_value("accuracy", "binary_crossentropy", (nn_loss_opts){ .from_logits = true },
                            logits, labels, 3, 1, 1), 2.0 / 3.0, 1e-12);
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
    const float pred[] = { 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f };
    const float out_of_range[] = { 7 }, negative[] = { -1 }, in_top[] = { 6.5f };
    CHECK(metric_value("sparse_top_k_categorical_accuracy", NULL, (nn_loss_opts){ 0 }, pred,
                       out_of_range, 1, 7, 1) == 0.0);
    CHECK(metric_value("sparse_top_k_categorical_accuracy", NULL, (nn_loss_opts){ 0 }, pred,
                       negative, 1, 7, 1) == 0.0);
    CHECK(metric_value("sparse_top_k_categorical_accuracy", NULL, (nn_loss_opts){ 0 }, pred,
                       in_top, 1, 7, 1) == 1.0);
    const float with_nan[] = { 0.1f, NAN, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f }, six[] = { 6 };
    CHECK(metric_value("sparse_top_k_categorical_accuracy", NULL, (nn_loss_opts){ 0 }, with_nan,
                       six, 1, 7, 1) == 0.0);
}

/* Keras casts labels to bool for the confusion counts, so 0.3 and 0.7 are positives.
 * Expected values from Keras 3.15.1: Precision 1.0, Recall 0.5, AUC 0.5 on these inputs. */
TEST(test_confusion_metrics_treat_nonzero_labels_as_positive) {
    const float pred[] = { 0.9f, 0.2f, 0.1f }, truth[] = { 0.3f, 0.0f, 0.7f };
    nn_loss_opts none = { 0 };
    CHECK_NEAR(metric_value("precision", NULL, none, pred, truth, 3, 1, 1), 1.0, 1e-12);
    CHECK_NEAR(metric_value("recall", NULL, none, pred, truth, 3, 1, 1), 0.5, 1e-12);
    CHECK_NEAR(metric_value("auc", NULL, none, pred, truth, 3, 1, 1), 0.5, 1e-6);
}

int main(void) {
    RUN_TESTS(test_metrics_match_keras, test_accuracy_resolves_as_keras_compile,
              test_accuracy_with_logits_still_thresholds_raw_outputs,
              test_metric_display_name_is_as_given, test_unknown_metric_lists_known_names,
              test_empty_metrics_are_zero, test_auc_degenerate_and_perfect,
              test_sparse_top_k_out_of_range_and_nan,
              test_confusion_metrics_treat_nonzero_labels_as_positive);
}
