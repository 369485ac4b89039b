/* Losses with Keras 3's formulas (keras/src/losses/losses.py) as the TensorFlow backend
 * computes them (keras/src/backend/tensorflow/nn.py): probabilities are clipped to
 * [epsilon, 1 - epsilon] as float32 tensors, and tf.clip_by_value passes no gradient outside
 * that range, so neither do the backward passes here. Each forward returns one sample's loss
 * (its row reduced as Keras's loss function reduces the last axis); each backward adds
 * scale * d(that loss)/d(pred) into dpred. Arithmetic is in double. */
#include "nn_internal.h"

#include <strings.h>

/* Keras's backend.epsilon() and 1 - epsilon, rounded to float32 as the clip bounds are. */
#define CLIP_LOW ((double)(float)1e-7)
#define CLIP_HIGH ((double)(float)(1.0 - 1e-7))
#define KL_CLIP_HIGH 1.0
#define HUBER_DEFAULT_DELTA 1.0
#define LOG2 0.69314718055994530942

/* The keyword arguments each loss accepts besides Keras's reduction/name/dtype. */
enum { TAKES_FROM_LOGITS = 1, TAKES_LABEL_SMOOTHING = 2, TAKES_DELTA = 4 };

/* The registry entry: the shared definition plus what options the loss takes. def comes first
 * so a definition pointer converts back to its entry. */
typedef struct loss_entry {
    nn_loss_def def;
    unsigned options;
} loss_entry;

static double clip(double x, double low, double high) {
    return x < low ? low : x > high ? high : x;
}
/* tf.clip_by_value's gradient mask: the bounds themselves pass the gradient. */
static bool within(double x, double low, double high) { return x >= low && x <= high; }
static double sign(double x) { return (x > 0) - (x < 0); }

static double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static double row_max(const float *x, int64_t cols) {
    double m = x[0];
    for (int64_t c = 1; c < cols; c++) m = fmax(m, x[c]);
    return m;
}

/* log(sum(exp(x))) without overflow. */
static double log_sum_exp(const float *x, int64_t cols) {
    double m = row_max(x, cols), sum = 0;
    for (int64_t c = 0; c < cols; c++) sum += exp(x[c] - m);
    return m + log(sum);
}

/* --------------------------------------------------------------- binary crossentropy */

static double smoothed_binary_label(double z, const nn_loss_opts *o) {
    return z * (1.0 - o->label_smoothing) + 0.5 * o->label_smoothing;
}

static double binary_crossentropy_forward(const float *pred, const float *truth, int64_t cols,
                                          const nn_loss_opts *o) {
    double sum = 0;
    for (int64_t c = 0; c < cols; c++) {
        double z = smoothed_binary_label(truth[c], o), x = pred[c];
        if (o->from_logits) {
            /* tf.nn.sigmoid_cross_entropy_with_logits */
            sum += fmax(x, 0.0) - x * z + log1p(exp(-fabs(x)));
        } else {
            /* A term of weight 0 adds exactly 0 (the other log is finite), so a 0/1 label
             * needs one log, not two. */
            double p = clip(x, CLIP_LOW, CLIP_HIGH);
            sum -= (z != 0.0 ? z * log(p) : 0.0) + (z != 1.0 ? (1.0 - z) * log(1.0 - p) : 0.0);
        }
    }
    return sum / (double)cols;
}

static void binary_crossentropy_backward(float *dpred, const float *pred, const float *truth,
                                         int64_t cols, const nn_loss_opts *o, float scale) {
    double per_col = scale / (double)cols;
    for (int64_t c = 0; c < cols; c++) {
        double z = smoothed_binary_label(truth[c], o), x = pred[c], d;
        if (o->from_logits) d = sigmoid(x) - z;
        else if (!within(x, CLIP_LOW, CLIP_HIGH)) d = 0.0;
        else d = (z != 0.0 ? -z / x : 0.0) + (z != 1.0 ? (1.0 - z) / (1.0 - x) : 0.0); /* as forward */
        dpred[c] += (float)(per_col * d);
    }
}

/* --------------------------------------------------------------- categorical crossentropy */

static double smoothed_class_label(double t, int64_t cols, const nn_loss_opts *o) {
    return t * (1.0 - o->label_smoothing) + o->label_smoothing / (double)cols;
}

static double row_sum(const float *x, int64_t cols) {
    double s = 0;
    for (int64_t c = 0; c < cols; c++) s += x[c];
    return s;
}

/* tf.nn.softmax_cross_entropy_with_logits: sum_j t_j * (logsumexp(x) - x_j). */
static double categorical_logits_forward(const float *x, const float *truth, int64_t cols,
                                         const nn_loss_opts *o) {
    double lse = log_sum_exp(x, cols), loss = 0;
    for (int64_t c = 0; c < cols; c++)
        loss += smoothed_class_label(truth[c], cols, o) * (lse - x[c]);
    return loss;
}

/* d/dx_k = softmax_k * sum_j t_j - t_k (labels need not sum to 1). */
static void categorical_logits_backward(float *dpred, const float *x, const float *truth,
                                        int64_t cols, const nn_loss_opts *o, float scale) {
    double lse = log_sum_exp(x, cols), label_sum = 0;
    for (int64_t c = 0; c < cols; c++) label_sum += smoothed_class_label(truth[c], cols, o);
    for (int64_t c = 0; c < cols; c++) {
        double t = smoothed_class_label(truth[c], cols, o);
        dpred[c] += (float)(scale * (exp(x[c] - lse) * label_sum - t));
    }
}

/* Keras renormalizes the row to sum 1 (q = p / sum p), clips q, then -sum t log q. */
static double categorical_probs_forward(const float *p, const float *truth, int64_t cols,
                                        const nn_loss_opts *o) {
    double s = row_sum(p, cols), loss = 0;
    for (int64_t c = 0; c < cols; c++)
        loss -= smoothed_class_label(truth[c], cols, o) * log(clip(p[c] / s, CLIP_LOW, CLIP_HIGH));
    return loss;
}

/* dL/dq_j = g_j = -t_j / q_j inside the clip range, else 0; with dq_j/dp_k = (δjk - q_j) / s,
 * dL/dp_k = (g_k - sum_j g_j q_j) / s. */
static double categorical_probs_gradient(double t, double q) {
    return within(q, CLIP_LOW, CLIP_HIGH) ? -t / q : 0.0;
}

static void categorical_probs_backward(float *dpred, const float *p, const float *truth,
                                       int64_t cols, const nn_loss_opts *o, float scale) {
    double s = row_sum(p, cols), g_dot_q = 0;
    for (int64_t c = 0; c < cols; c++) {
        double q = p[c] / s;
        g_dot_q += categorical_probs_gradient(smoothed_class_label(truth[c], cols, o), q) * q;
    }
    for (int64_t c = 0; c < cols; c++) {
        double g = categorical_probs_gradient(smoothed_class_label(truth[c], cols, o), p[c] / s);
        dpred[c] += (float)(scale * (g - g_dot_q) / s);
    }
}

static double categorical_crossentropy_forward(const float *pred, const float *truth,
                                               int64_t cols, const nn_loss_opts *o) {
    return o->from_logits ? categorical_logits_forward(pred, truth, cols, o)
                          : categorical_probs_forward(pred, truth, cols, o);
}

static void categorical_crossentropy_backward(float *dpred, const float *pred, const float *truth,
                                              int64_t cols, const nn_loss_opts *o, float scale) {
    if (o->from_logits) categorical_logits_backward(dpred, pred, truth, cols, o, scale);
    else categorical_probs_backward(dpred, pred, truth, cols, o, scale);
}

/* --------------------------------------------------------------- sparse categorical */

/* The class as TensorFlow's float-to-int64 cast truncates it; -1 when it falls outside
 * [0, cols) or is NaN. The caller reports such labels; this only keeps reads in bounds. */
static int64_t class_index(float label, int64_t cols) {
    if (!(label > -1.0f && label < (float)cols)) return -1;
    return (int64_t)label;
}

/* Keras feeds log(clip(p)) to tf.nn.sparse_softmax_cross_entropy_with_logits, so the
 * probability path is logsumexp(log c) - log c_k = log(sum c) - log c_k, c = clip(p). */
static double sparse_categorical_crossentropy_forward(const float *pred, const float *truth,
                                                      int64_t cols, const nn_loss_opts *o) {
    int64_t k = class_index(truth[0], cols);
    if (k < 0) return NAN;
    if (o->from_logits) return log_sum_exp(pred, cols) - pred[k];
    double clipped_sum = 0;
    for (int64_t c = 0; c < cols; c++) clipped_sum += clip(pred[c], CLIP_LOW, CLIP_HIGH);
    return log(clipped_sum) - log(clip(pred[k], CLIP_LOW, CLIP_HIGH));
}

/* Logits: softmax_j - δjk. Probabilities: 1/sum(c) - δjk/p_j inside the clip range, else 0. */
static void sparse_categorical_crossentropy_backward(float *dpred, const float *pred,
                                                     const float *truth, int64_t cols,
                                                     const nn_loss_opts *o, float scale) {
    int64_t k = class_index(truth[0], cols);
    if (k < 0) return;
    if (o->from_logits) {
        double lse = log_sum_exp(pred, cols);
        for (int64_t c = 0; c < cols; c++)
            dpred[c] += (float)(scale * (exp(pred[c] - lse) - (c == k)));
        return;
    }
    double clipped_sum = 0;
    for (int64_t c = 0; c < cols; c++) clipped_sum += clip(pred[c], CLIP_LOW, CLIP_HIGH);
    for (int64_t c = 0; c < cols; c++) {
        if (!within(pred[c], CLIP_LOW, CLIP_HIGH)) continue;
        dpred[c] += (float)(scale * (1.0 / clipped_sum - (c == k ? 1.0 / pred[c] : 0.0)));
    }
}

/* --------------------------------------------------------------- elementwise regression losses */

/* A loss that is the mean over the row of value(pred - truth). */
#define MEAN_OF_ERROR(name)                                                                  \
    static double name##_forward(const float *pred, const float *truth, int64_t cols,        \
                                 const nn_loss_opts *o) {                                    \
        double sum = 0;                                                                      \
        for (int64_t c = 0; c < cols; c++) sum += name##_value((double)pred[c] - truth[c], o); \
        return sum / (double)cols;                                                           \
    }                                                                                        \
    static void name##_backward(float *dpred, const float *pred, const float *truth,         \
                                int64_t cols, const nn_loss_opts *o, float scale) {          \
        double per_col = scale / (double)cols;                                               \
        for (int64_t c = 0; c < cols; c++)                                                   \
            dpred[c] += (float)(per_col * name##_derivative((double)pred[c] - truth[c], o)); \
    }

static double mean_squared_error_value(double e, const nn_loss_opts *o) { (void)o; return e * e; }
static double mean_squared_error_derivative(double e, const nn_loss_opts *o) {
    (void)o;
    return 2 * e;
}
MEAN_OF_ERROR(mean_squared_error)

static double mean_absolute_error_value(double e, const nn_loss_opts *o) {
    (void)o;
    return fabs(e);
}
static double mean_absolute_error_derivative(double e, const nn_loss_opts *o) {
    (void)o;
    return sign(e);
}
MEAN_OF_ERROR(mean_absolute_error)

static double huber_value(double e, const nn_loss_opts *o) {
    double d = o->delta;
    return fabs(e) <= d ? 0.5 * e * e : d * fabs(e) - 0.5 * d * d;
}
static double huber_derivative(double e, const nn_loss_opts *o) {
    return fabs(e) <= o->delta ? e : o->delta * sign(e);
}
MEAN_OF_ERROR(huber)

/* Keras: x + softplus(-2x) - log 2, written with |x| so exp never overflows. */
static double log_cosh_value(double e, const nn_loss_opts *o) {
    (void)o;
    return fabs(e) + log1p(exp(-2.0 * fabs(e))) - LOG2;
}
static double log_cosh_derivative(double e, const nn_loss_opts *o) { (void)o; return tanh(e); }
MEAN_OF_ERROR(log_cosh)

/* --------------------------------------------------------------- hinge, kl divergence */

/* Keras turns labels that are all 0 or 1 into -1/1. It decides over the whole batch; here the
 * decision is per row, which agrees unless one batch mixes 0/1 rows with other labels. */
static bool row_is_binary(const float *truth, int64_t cols) {
    for (int64_t c = 0; c < cols; c++)
        if (truth[c] != 0.0f && truth[c] != 1.0f) return false;
    return true;
}

static double hinge_label(const float *truth, int64_t c, bool binary) {
    return binary ? 2.0 * truth[c] - 1.0 : truth[c];
}

static double hinge_forward(const float *pred, const float *truth, int64_t cols,
                            const nn_loss_opts *o) {
    (void)o;
    bool binary = row_is_binary(truth, cols);
    double sum = 0;
    for (int64_t c = 0; c < cols; c++)
        sum += fmax(1.0 - hinge_label(truth, c, binary) * pred[c], 0.0);
    return sum / (double)cols;
}

/* tf.maximum sends the gradient to its first argument on ties, so the margin 0 counts. */
static void hinge_backward(float *dpred, const float *pred, const float *truth, int64_t cols,
                           const nn_loss_opts *o, float scale) {
    (void)o;
    bool binary = row_is_binary(truth, cols);
    double per_col = scale / (double)cols;
    for (int64_t c = 0; c < cols; c++) {
        double y = hinge_label(truth, c, binary);
        if (1.0 - y * pred[c] >= 0.0) dpred[c] += (float)(-per_col * y);
    }
}

/* Keras clips both truth and prediction to [epsilon, 1]: sum t log(t / p). */
static double kl_divergence_forward(const float *pred, const float *truth, int64_t cols,
                                    const nn_loss_opts *o) {
    (void)o;
    double sum = 0;
    for (int64_t c = 0; c < cols; c++) {
        double t = clip(truth[c], CLIP_LOW, KL_CLIP_HIGH);
        double p = clip(pred[c], CLIP_LOW, KL_CLIP_HIGH);
        sum += t * log(t / p);
    }
    return sum;
}

static void kl_divergence_backward(float *dpred, const float *pred, const float *truth,
                                   int64_t cols, const nn_loss_opts *o, float scale) {
    (void)o;
    for (int64_t c = 0; c < cols; c++) {
        if (!within(pred[c], CLIP_LOW, KL_CLIP_HIGH)) continue;
        dpred[c] += (float)(-scale * clip(truth[c], CLIP_LOW, KL_CLIP_HIGH) / pred[c]);
    }
}

/* --------------------------------------------------------------- registry */

#define LOSS(name, class_name, alias, target, options)                                       \
    { { #name, class_name, alias, target, name##_forward, name##_backward }, options }

static const loss_entry loss_table[] = {
    LOSS(binary_crossentropy, "BinaryCrossentropy", "bce", NN_TARGET_SAME_SHAPE,
         TAKES_FROM_LOGITS | TAKES_LABEL_SMOOTHING),
    LOSS(categorical_crossentropy, "CategoricalCrossentropy", NULL, NN_TARGET_SAME_SHAPE,
         TAKES_FROM_LOGITS | TAKES_LABEL_SMOOTHING),
    LOSS(sparse_categorical_crossentropy, "SparseCategoricalCrossentropy", NULL,
         NN_TARGET_CLASS_INDEX, TAKES_FROM_LOGITS),
    LOSS(mean_squared_error, "MeanSquaredError", "mse", NN_TARGET_SAME_SHAPE, 0),
    LOSS(mean_absolute_error, "MeanAbsoluteError", "mae", NN_TARGET_SAME_SHAPE, 0),
    LOSS(huber, "Huber", NULL, NN_TARGET_SAME_SHAPE, TAKES_DELTA),
    LOSS(hinge, "Hinge", NULL, NN_TARGET_SAME_SHAPE, 0),
    LOSS(kl_divergence, "KLDivergence", "kld", NN_TARGET_SAME_SHAPE, 0),
    LOSS(log_cosh, "LogCosh", NULL, NN_TARGET_SAME_SHAPE, 0),
};

static const loss_entry *entry_of(const nn_loss_def *def) { return (const loss_entry *)def; }

static bool loss_is_named(const nn_loss_def *def, const char *name) {
    return strcasecmp(def->name, name) == 0 || strcasecmp(def->class_name, name) == 0 ||
           (def->alias && strcasecmp(def->alias, name) == 0);
}

const nn_loss_def *nn_loss_find(const char *name) {
    for (size_t i = 0; name && i < NN_ARRAY_LEN(loss_table); i++)
        if (loss_is_named(&loss_table[i].def, name)) return &loss_table[i].def;
    const char *known[NN_ARRAY_LEN(loss_table)];
    for (size_t i = 0; i < NN_ARRAY_LEN(loss_table); i++) known[i] = loss_table[i].def.name;
    char list[512];
    nn_join_names(list, sizeof list, known, NN_ARRAY_LEN(known));
    nn_error(NN_ERR_NAME,
             "unknown loss '%s' (known: %s; also mse, mae, bce, kld and the Keras class names)",
             name ? name : "(null)", list);
    return NULL;
}

/* --------------------------------------------------------------- options and config */

static const struct {
    const char *key;
    unsigned flag;
} option_keys[] = {
    { "from_logits", TAKES_FROM_LOGITS },
    { "label_smoothing", TAKES_LABEL_SMOOTHING },
    { "delta", TAKES_DELTA },
};

static void list_options(char *buf, size_t size, unsigned options) {
    const char *names[NN_ARRAY_LEN(option_keys)];
    size_t n = 0;
    for (size_t i = 0; i < NN_ARRAY_LEN(option_keys); i++)
        if (options & option_keys[i].flag) names[n++] = option_keys[i].key;
    if (n) nn_join_names(buf, size, names, n);
    else snprintf(buf, size, "none");
}

static int reject_option(const nn_loss_def *def, const char *key) {
    char takes[128];
    list_options(takes, sizeof takes, entry_of(def)->options);
    return nn_error(NN_ERR_ARG, "loss '%s' takes no argument '%s' (it takes: %s)", def->name, key,
                    takes);
}

/* Checks opts against what the loss takes and fills Keras's defaults into *out. */
static int resolve_opts(const nn_loss_def *def, const nn_loss_opts *opts, nn_loss_opts *out) {
    *out = opts ? *opts : (nn_loss_opts){ 0 };
    unsigned takes = entry_of(def)->options;
    if (out->from_logits && !(takes & TAKES_FROM_LOGITS)) return reject_option(def, "from_logits");
    if (out->label_smoothing != 0 && !(takes & TAKES_LABEL_SMOOTHING))
        return reject_option(def, "label_smoothing");
    if (out->delta != 0 && !(takes & TAKES_DELTA)) return reject_option(def, "delta");
    if (!(out->label_smoothing >= 0 && out->label_smoothing <= 1))
        return nn_error(NN_ERR_ARG, "loss '%s': label_smoothing must be in [0, 1], got %g",
                        def->name, out->label_smoothing);
    if (!(out->delta >= 0 && isfinite(out->delta)))
        return nn_error(NN_ERR_ARG, "loss '%s': delta must be a positive number, got %g", def->name,
                        out->delta);
    if (out->delta == 0 && (takes & TAKES_DELTA)) out->delta = HUBER_DEFAULT_DELTA;
    return NN_OK;
}

nn_loss *nn_loss_new(const char *name, const nn_loss_opts *opts) {
    const nn_loss_def *def = nn_loss_find(name);
    if (!def) return NULL;
    nn_loss_opts resolved;
    if (resolve_opts(def, opts, &resolved)) return NULL;
    nn_loss *loss = nn_malloc(sizeof *loss);
    if (!loss) return NULL;
    *loss = (nn_loss){ def, resolved };
    return loss;
}

void nn_loss_free(nn_loss *l) { nn_free(l); }

/* Sets one kwarg into opts; "name" (Keras's display name, written by get_config) is accepted
 * and ignored. */
static int apply_kwarg(const nn_loss_def *def, const char *key, const nn_value *v,
                       nn_loss_opts *opts) {
    if (strcmp(key, "name") == 0) {
        if (v->type != NN_VALUE_STRING)
            return nn_error(NN_ERR_ARG, "loss '%s': 'name' must be a string", def->name);
        return NN_OK;
    }
    if (strcmp(key, "from_logits") == 0) {
        if (v->type != NN_VALUE_BOOL)
            return nn_error(NN_ERR_ARG, "loss '%s': from_logits must be True or False", def->name);
        opts->from_logits = v->boolean;
        return NN_OK;
    }
    double *number = strcmp(key, "label_smoothing") == 0 ? &opts->label_smoothing
                     : strcmp(key, "delta") == 0         ? &opts->delta
                                                         : NULL;
    if (!number) return reject_option(def, key);
    if (v->type != NN_VALUE_NUMBER)
        return nn_error(NN_ERR_ARG, "loss '%s': %s must be a number", def->name, key);
    *number = v->number;
    return NN_OK;
}

nn_loss *nn_loss_from_config(const char *name, const nn_value *kwargs) {
    const nn_loss_def *def = nn_loss_find(name);
    if (!def) return NULL;
    nn_loss_opts opts = { 0 };
    if (kwargs && kwargs->type != NN_VALUE_DICT) {
        nn_error(NN_ERR_ARG, "loss '%s': the arguments must be a dictionary", def->name);
        return NULL;
    }
    for (int i = 0; kwargs && i < kwargs->count; i++)
        if (apply_kwarg(def, kwargs->keys[i], &kwargs->items[i], &opts)) return NULL;
    return nn_loss_new(def->name, &opts);
}

int nn_loss_get_config(const nn_loss *l, nn_value *out) {
    if (!l || !out) return nn_error(NN_ERR_ARG, "nn_loss_get_config: NULL argument");
    unsigned takes = entry_of(l->def)->options;
    nn_value name;
    *out = (nn_value){ .type = NN_VALUE_NULL };
    int status = nn_value_dict_new(out);
    if (!status) status = nn_value_string(&name, l->def->name);
    if (!status) status = nn_value_dict_set(out, "name", name);
    if (!status && (takes & TAKES_FROM_LOGITS))
        status = nn_value_dict_set(out, "from_logits", nn_value_bool(l->opts.from_logits));
    if (!status && (takes & TAKES_LABEL_SMOOTHING))
        status = nn_value_dict_set(out, "label_smoothing",
                                   nn_value_number(l->opts.label_smoothing));
    if (!status && (takes & TAKES_DELTA))
        status = nn_value_dict_set(out, "delta", nn_value_number(l->opts.delta));
    if (status) nn_value_clear(out);
    return status;
}
