/* Metrics as Keras 3 computes them (keras/src/metrics/: accuracy_metrics.py, regression
 * metrics, confusion_metrics.py and metrics_utils.py, TensorFlow backend). Three families:
 *  - mean metrics reduce each row to one value and keep a running weighted mean (Keras's
 *    MeanMetricWrapper: total += w * value, count += w);
 *  - precision and recall count weighted true/false positives/negatives at threshold 0.5 over
 *    every element (Keras's unoptimized confusion-matrix path, used for a single threshold);
 *  - AUC sums label weights into evenly spaced threshold buckets (Keras's optimized path for
 *    its default 200 thresholds) and integrates the ROC curve by interpolation.
 * A truth row has either the prediction's width or one value, which is broadcast over the
 * row as Keras broadcasts a (N, 1) y_true; class-index metrics read one value per row. */
#include "nn_internal.h"

#include <strings.h>

#define ACCURACY_THRESHOLD 0.5f   /* BinaryAccuracy, Precision, Recall default threshold */
#define TOP_K 5                   /* TopKCategoricalAccuracy's default k */
#define AUC_THRESHOLDS 200        /* AUC's default num_thresholds */

typedef double (*row_value_fn)(const float *pred, const float *truth, int64_t cols,
                               int64_t truth_cols);
typedef void (*update_fn)(nn_metric *m, const float *pred, const float *truth, int64_t rows,
                          int64_t cols, int64_t truth_cols, const float *weights);

typedef struct metric_def {
    const char *name;        /* Keras function name */
    const char *class_name;  /* Keras class name */
    const char *alias;       /* or NULL */
    row_value_fn row_value;  /* mean metrics only */
    update_fn update;
    double (*result)(const nn_metric *m);
    int64_t buckets;         /* threshold buckets kept (AUC); 0 for the others */
} metric_def;

struct nn_metric {
    const metric_def *def;
    char *name;                  /* as the user wrote it */
    nn_mean mean;                /* mean metrics */
    double true_positives, false_positives, false_negatives; /* precision, recall */
    double *positive_weight;     /* AUC: label weight of positives per threshold bucket */
    double *negative_weight;     /* AUC: the same for negatives */
    double positive_total, negative_total; /* AUC: every positive/negative, bucketed or not */
};

static double weight_of(const float *weights, int64_t row) { return weights ? weights[row] : 1.0; }

/* A (N, 1) truth is broadcast across the prediction's columns. */
static float truth_at(const float *truth_row, int64_t c, int64_t truth_cols) {
    return truth_row[truth_cols == 1 ? 0 : c];
}

/* First index of the largest value, as tf.argmax. */
static int64_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* tf.math.in_top_k: the target is in the top k when fewer than k predictions are strictly
 * larger (ties at the boundary count as in); a non-finite prediction or a target outside
 * [0, cols) makes it false. */
static bool in_top_k(const float *pred, int64_t cols, int64_t target, int k) {
    if (target < 0 || target >= cols || !isfinite(pred[target])) return false;
    int64_t larger = 0;
    for (int64_t c = 0; c < cols; c++) {
        if (!isfinite(pred[c])) return false;
        if (pred[c] > pred[target]) larger++;
    }
    return larger < k;
}

/* A float label as TensorFlow casts it to an integer class (truncation); -1 if out of range. */
static int64_t class_index(float label, int64_t cols) {
    if (!(label > -1.0f && label < (float)cols)) return -1;
    return (int64_t)label;
}

/* --------------------------------------------------------------- mean metrics */

static double binary_accuracy_row(const float *pred, const float *truth, int64_t cols,
                                  int64_t truth_cols) {
    double matches = 0;
    for (int64_t c = 0; c < cols; c++)
        matches += truth_at(truth, c, truth_cols) == (pred[c] > ACCURACY_THRESHOLD ? 1.0f : 0.0f);
    return matches / (double)cols;
}

static double categorical_accuracy_row(const float *pred, const float *truth, int64_t cols,
                                       int64_t truth_cols) {
    return argmax(truth, truth_cols) == argmax(pred, cols);
}

/* Keras compares the float label with the argmax cast to float: 1.5 never matches. */
static double sparse_categorical_accuracy_row(const float *pred, const float *truth,
                                              int64_t cols, int64_t truth_cols) {
    (void)truth_cols;
    return truth[0] == (float)argmax(pred, cols);
}

static double top_k_categorical_accuracy_row(const float *pred, const float *truth, int64_t cols,
                                             int64_t truth_cols) {
    return in_top_k(pred, cols, argmax(truth, truth_cols), TOP_K);
}

static double sparse_top_k_categorical_accuracy_row(const float *pred, const float *truth,
                                                    int64_t cols, int64_t truth_cols) {
    (void)truth_cols;
    return in_top_k(pred, cols, class_index(truth[0], cols), TOP_K);
}

static double mean_squared_error_row(const float *pred, const float *truth, int64_t cols,
                                     int64_t truth_cols) {
    double sum = 0;
    for (int64_t c = 0; c < cols; c++) {
        double e = (double)pred[c] - truth_at(truth, c, truth_cols);
        sum += e * e;
    }
    return sum / (double)cols;
}

static double mean_absolute_error_row(const float *pred, const float *truth, int64_t cols,
                                      int64_t truth_cols) {
    double sum = 0;
    for (int64_t c = 0; c < cols; c++)
        sum += fabs((double)pred[c] - truth_at(truth, c, truth_cols));
    return sum / (double)cols;
}

static void update_mean(nn_metric *m, const float *pred, const float *truth, int64_t rows,
                        int64_t cols, int64_t truth_cols, const float *weights) {
    for (int64_t r = 0; r < rows; r++) {
        double w = weight_of(weights, r);
        const float *pred_row = pred + r * cols, *truth_row = truth + r * truth_cols;
        m->mean.total += w * m->def->row_value(pred_row, truth_row, cols, truth_cols);
        m->mean.count += w;
    }
}

/* ops.divide_no_nan: 0 where the denominator is 0. */
static double divide_no_nan(double a, double b) { return b != 0 ? a / b : 0.0; }

static double mean_result(const nn_metric *m) {
    return divide_no_nan(m->mean.total, m->mean.count);
}

/* --------------------------------------------------------------- precision, recall */

static void update_confusion_at_threshold(nn_metric *m, const float *pred, const float *truth,
                                          int64_t rows, int64_t cols, int64_t truth_cols,
                                          const float *weights) {
    for (int64_t r = 0; r < rows; r++) {
        double w = weight_of(weights, r);
        for (int64_t c = 0; c < cols; c++) {
            bool label = truth_at(truth + r * truth_cols, c, truth_cols) != 0.0f;
            bool predicted = pred[r * cols + c] > ACCURACY_THRESHOLD;
            if (label && predicted) m->true_positives += w;
            else if (predicted) m->false_positives += w;
            else if (label) m->false_negatives += w;
        }
    }
}

static double precision_result(const nn_metric *m) {
    return divide_no_nan(m->true_positives, m->true_positives + m->false_positives);
}

static double recall_result(const nn_metric *m) {
    return divide_no_nan(m->true_positives, m->true_positives + m->false_negatives);
}

/* --------------------------------------------------------------- AUC */

/* Keras's bucket for a prediction clipped to [0, 1]: ceil(p * (T - 1)) - 1, at least 0, in
 * float32 so values on a threshold land where Keras puts them. -1 for NaN, which TensorFlow's
 * segment sum drops, leaving the sample negative at every threshold. */
static int64_t auc_bucket(float p, int64_t buckets) {
    if (isnan(p)) return -1;
    float clipped = fminf(fmaxf(p, 0.0f), 1.0f);
    float scaled = clipped * (float)(buckets - 1);
    int64_t bucket = (int64_t)ceilf(scaled) - 1;
    return bucket > 0 ? bucket : 0;
}

static void update_auc(nn_metric *m, const float *pred, const float *truth, int64_t rows,
                       int64_t cols, int64_t truth_cols, const float *weights) {
    for (int64_t r = 0; r < rows; r++) {
        double w = weight_of(weights, r);
        for (int64_t c = 0; c < cols; c++) {
            bool label = truth_at(truth + r * truth_cols, c, truth_cols) != 0.0f;
            int64_t bucket = auc_bucket(pred[r * cols + c], m->def->buckets);
            if (label) m->positive_total += w;
            else m->negative_total += w;
            if (bucket < 0) continue;
            if (label) m->positive_weight[bucket] += w;
            else m->negative_weight[bucket] += w;
        }
    }
}

/* Threshold i counts a prediction positive when its bucket is >= i, so tp_i and fp_i are
 * suffix sums. ROC with "interpolation": sum over i of (fpr_i - fpr_i+1) * mean(tpr_i, tpr_i+1),
 * where tpr = tp / (tp + fn) and fpr = fp / (fp + tn). */
static double auc_result(const nn_metric *m) {
    int64_t last = m->def->buckets - 1;
    double tp = m->positive_weight[last], fp = m->negative_weight[last], area = 0;
    double tpr_next = divide_no_nan(tp, m->positive_total);
    double fpr_next = divide_no_nan(fp, m->negative_total);
    for (int64_t i = last - 1; i >= 0; i--) {
        tp += m->positive_weight[i];
        fp += m->negative_weight[i];
        double tpr = divide_no_nan(tp, m->positive_total);
        double fpr = divide_no_nan(fp, m->negative_total);
        area += (fpr - fpr_next) * (tpr + tpr_next) / 2.0;
        tpr_next = tpr;
        fpr_next = fpr;
    }
    return area;
}

/* --------------------------------------------------------------- registry */

#define MEAN_METRIC(name, class_name, alias)                                                 \
    { #name, class_name, alias, name##_row, update_mean, mean_result, 0 }

static const metric_def metric_table[] = {
    MEAN_METRIC(binary_accuracy, "BinaryAccuracy", NULL),
    MEAN_METRIC(categorical_accuracy, "CategoricalAccuracy", NULL),
    MEAN_METRIC(sparse_categorical_accuracy, "SparseCategoricalAccuracy", NULL),
    MEAN_METRIC(top_k_categorical_accuracy, "TopKCategoricalAccuracy", NULL),
    MEAN_METRIC(sparse_top_k_categorical_accuracy, "SparseTopKCategoricalAccuracy", NULL),
    MEAN_METRIC(mean_squared_error, "MeanSquaredError", "mse"),
    MEAN_METRIC(mean_absolute_error, "MeanAbsoluteError", "mae"),
    { "precision", "Precision", NULL, NULL, update_confusion_at_threshold, precision_result, 0 },
    { "recall", "Recall", NULL, NULL, update_confusion_at_threshold, recall_result, 0 },
    { "auc", "AUC", NULL, NULL, update_auc, auc_result, AUC_THRESHOLDS },
};

static const metric_def *def_named(const char *name) {
    for (size_t i = 0; i < NN_ARRAY_LEN(metric_table); i++) {
        const metric_def *d = &metric_table[i];
        if (!strcmp(d->name, name)) return d;
    }
    return NULL;
}

/* Keras 3's compile_utils.get_metric: "accuracy"/"acc" is decided by the shapes alone: a
 * one-wide output is binary, a class-index truth (the sparse losses) is sparse, anything
 * else categorical (so binary_crossentropy over 3 outputs gets categorical accuracy). */
static const metric_def *resolve_accuracy(const nn_loss *loss, int64_t output_cols) {
    if (output_cols == 1) return def_named("binary_accuracy");
    if (loss && loss->def->target == NN_TARGET_CLASS_INDEX)
        return def_named("sparse_categorical_accuracy");
    return def_named("categorical_accuracy");
}

static const metric_def *find_metric(const char *name, const nn_loss *loss, int64_t output_cols) {
    if (!strcasecmp(name, "accuracy") || !strcasecmp(name, "acc"))
        return resolve_accuracy(loss, output_cols);
    for (size_t i = 0; i < NN_ARRAY_LEN(metric_table); i++) {
        const metric_def *d = &metric_table[i];
        if (!strcasecmp(d->name, name) || !strcasecmp(d->class_name, name) ||
            (d->alias && !strcasecmp(d->alias, name)))
            return d;
    }
    return NULL;
}

static void report_unknown(const char *name) {
    const char *known[NN_ARRAY_LEN(metric_table) + 1] = { "accuracy" };
    for (size_t i = 0; i < NN_ARRAY_LEN(metric_table); i++) known[i + 1] = metric_table[i].name;
    char list[512];
    nn_join_names(list, sizeof list, known, NN_ARRAY_LEN(known));
    nn_error(NN_ERR_NAME,
             "unknown metric '%s' (known: %s; also acc, mse, mae and the Keras class names)",
             name, list);
}

nn_metric *nn_metric_new(const char *name, const nn_loss *loss, int64_t output_cols) {
    if (!name) {
        nn_error(NN_ERR_ARG, "nn_metric_new: the metric name is NULL");
        return NULL;
    }
    const metric_def *def = find_metric(name, loss, output_cols);
    if (!def) {
        report_unknown(name);
        return NULL;
    }
    nn_metric *m = nn_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->def = def;
    m->name = nn_strdup(name);
    if (m->name && def->buckets) {
        m->positive_weight = nn_calloc((size_t)def->buckets, sizeof *m->positive_weight);
        m->negative_weight = nn_calloc((size_t)def->buckets, sizeof *m->negative_weight);
    }
    if (!m->name || (def->buckets && (!m->positive_weight || !m->negative_weight))) {
        nn_metric_free(m);
        return NULL;
    }
    return m;
}

void nn_metric_free(nn_metric *m) {
    if (!m) return;
    nn_free(m->name);
    nn_free(m->positive_weight);
    nn_free(m->negative_weight);
    nn_free(m);
}

const char *nn_metric_name(const nn_metric *m) { return m->name; }

void nn_metric_reset(nn_metric *m) {
    m->mean = (nn_mean){ 0, 0 };
    m->true_positives = m->false_positives = m->false_negatives = 0;
    m->positive_total = m->negative_total = 0;
    for (int64_t i = 0; i < m->def->buckets; i++) m->positive_weight[i] = m->negative_weight[i] = 0;
}

void nn_metric_update(nn_metric *m, const float *pred, const float *truth, int64_t rows,
                      int64_t cols, int64_t truth_cols, const float *weights) {
    NN_ASSERT(cols >= 1 && (truth_cols == 1 || truth_cols == cols));
    m->def->update(m, pred, truth, rows, cols, truth_cols, weights);
}

double nn_metric_result(const nn_metric *m) { return m->def->result(m); }
