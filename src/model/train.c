/* fit, evaluate, predict, train_on_batch and the History. */
#include "model/model.h"

#include <stdio.h>
#include <unistd.h>

#define NN_DEFAULT_BATCH 32
#define NN_MAX_LOGS (2 * NN_MAX_METRICS)

struct nn_history {
    int epochs, cap;
    int ncols;
    char names[NN_MAX_LOGS][32];
    double *values; /* epochs x ncols */
};

/* ------------------------------------------------------------ checks */

static bool is_float(nn_dtype dtype) { return dtype == NN_FLOAT32 || dtype == NN_FLOAT64 || dtype == NN_FLOAT16; }

/* Integer arrays are finite by construction; float ones are scanned. */
/* True when no float32 value is NaN or Inf (all exponent bits set): a branch-free scan the
 * compiler vectorizes, as the check runs over every training sample. */
NN_VECTOR_LOOPS static bool all_finite_f32(const float *x, int64_t n) {
    uint32_t special = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        special |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return !special;
}

static int check_finite(const nn_tensor *t, const char *what) {
    if (!is_float(t->dtype)) return NN_OK;
    if (nn_tensor_f32(t) && all_finite_f32(nn_tensor_f32(t), nn_tensor_size(t))) return NN_OK;
    int64_t size = nn_tensor_size(t), rows = t->ndim ? t->shape[0] : 1;
    int64_t inner = rows ? size / rows : 0;
    const float *f32 = nn_tensor_f32(t);
    for (int64_t i = 0; i < size; i++) {
        double v = f32 ? f32[i] : nn_tensor_get(t, i);
        if (!isfinite(v))
            return nn_error(NN_ERR_DATA, "%s contains %s at sample %lld, value %lld", what, isnan(v) ? "NaN" : "Inf",
                            (long long)(i / inner), (long long)(i % inner));
    }
    return NN_OK;
}

/* The arrays a call feeds: the model's inputs, then its targets (none for prediction). */
typedef struct arrays {
    const nn_tensor *x[NN_MAX_MODEL_IO], *y[NN_MAX_MODEL_IO];
    int nx, ny;
} arrays;

static arrays dataset_arrays(const nn_dataset *d) {
    arrays a = { .nx = nn_dataset_input_count(d), .ny = nn_dataset_target_count(d) };
    for (int i = 0; i < a.nx; i++) a.x[i] = nn_dataset_input(d, i);
    for (int i = 0; i < a.ny; i++) a.y[i] = nn_dataset_target(d, i);
    return a;
}

static const char *input_label(const nn_model *m, int i, char *buf, size_t size) {
    if (m->ninputs > 1) snprintf(buf, size, "x[%d]", i);
    else snprintf(buf, size, "x");
    return buf;
}

/* Builds a Sequential model from x's shape; checks every input array against the model's. */
static int check_inputs(nn_model *m, const arrays *a, const char *call) {
    char s[96], want[96], label[16];
    for (int i = 0; i < a->nx; i++) {
        const nn_tensor *x = a->x[i];
        if (!x) return nn_error(NN_ERR_ARG, "%s: x is NULL", call);
        if (x->ndim < 2 || x->shape[0] < 1)
            return nn_error(NN_ERR_SHAPE, "%s: %s of shape %s needs a sample axis and at least one feature axis", call,
                            input_label(m, i, label, sizeof label), nn_shape_str(x->ndim, x->shape, s, sizeof s));
    }
    int status = m->functional ? NN_OK : nn_model_build(m, a->x[0]->ndim - 1, a->x[0]->shape + 1);
    if (status) return nn_error_context(status, "%s", call);
    if (a->nx != m->ninputs)
        return nn_error(NN_ERR_SHAPE, "%s: model '%s' takes %d inputs, the data has %d input arrays", call, m->name,
                        m->ninputs, a->nx);
    for (int i = 0; i < a->nx; i++) {
        int ndim;
        int64_t shape[NN_MAX_DIMS];
        nn_model_input_shape(m, i, &ndim, shape);
        bool same = a->x[i]->ndim - 1 == ndim;
        for (int k = 0; same && k < ndim; k++) same = a->x[i]->shape[k + 1] == shape[k];
        if (!same)
            return nn_error(NN_ERR_SHAPE, "%s: %s of shape %s does not fit the model's input %s", call,
                            input_label(m, i, label, sizeof label), nn_shape_str(a->x[i]->ndim, a->x[i]->shape, s, sizeof s),
                            nn_shape_str(ndim, shape, want, sizeof want));
        if (a->x[i]->shape[0] != a->x[0]->shape[0])
            return nn_error(NN_ERR_SHAPE, "%s: x[0] has %lld samples but x[%d] has %lld", call,
                            (long long)a->x[0]->shape[0], i, (long long)a->x[i]->shape[0]);
        char what[96];
        snprintf(what, sizeof what, "%s: %s", call, input_label(m, i, label, sizeof label));
        status = check_finite(a->x[i], what);
        if (status) return status;
    }
    return NN_OK;
}

/* The targets must hold what each output's loss reads per sample; class indices in range. */
static int check_targets(nn_model *m, nn_program *p, const arrays *a, const char *call) {
    if (a->ny == 0 || !a->y[0]) return nn_error(NN_ERR_ARG, "%s: the data has no targets (y)", call);
    if (a->ny != p->noutputs)
        return nn_error(NN_ERR_SHAPE, "%s: model '%s' has %d outputs, the data has %d target arrays", call, m->name,
                        p->noutputs, a->ny);
    for (int o = 0; o < a->ny; o++) {
        const nn_tensor *y = a->y[o];
        const nn_loss *loss = m->losses[o];
        const nn_node *pred = &p->graph.nodes[p->pred[o]], *target = &p->graph.nodes[p->y[o]];
        int64_t rows = y->ndim ? y->shape[0] : 0, inner = rows ? nn_tensor_size(y) / rows : 0;
        char ys[96], ps[96], which[48] = "";
        if (a->ny > 1) snprintf(which, sizeof which, " of output %d ('%s')", o, nn_model_output_name(m, o));
        if (inner != target->inner || rows != a->x[0]->shape[0])
            return nn_error(NN_ERR_SHAPE, "%s: targets%s of shape %s do not fit the model's output %s for loss %s%s", call,
                            which, nn_shape_str(y->ndim, y->shape, ys, sizeof ys), nn_node_shape_str(pred, ps, sizeof ps),
                            loss->def->name,
                            loss->def->target == NN_TARGET_CLASS_INDEX ? " (expected one class index per sample)" : "");
        int status = check_finite(y, "targets (y)");
        if (status || loss->def->target != NN_TARGET_CLASS_INDEX) {
            if (status) return status;
            continue;
        }
        int64_t classes = nn_node_cols(pred);
        for (int64_t i = 0; i < nn_tensor_size(y); i++) {
            double v = nn_tensor_get(y, i);
            if (v < 0 || v >= (double)classes || v != floor(v))
                return nn_error(NN_ERR_DATA, "%s: label %g at sample %lld%s is not a class index in [0, %lld)", call, v,
                                (long long)i, which, (long long)classes);
        }
    }
    return NN_OK;
}

/* ------------------------------------------------------------ one pass over batches */

/* A pass: the feed, the prefetch thread when batches are large enough to use one, and the
 * per-output losses summed over its samples. */
typedef struct pass {
    nn_feed feed;
    int64_t samples; /* in this pass over the feed */
    nn_prefetcher *prefetch;
    double output_loss[NN_MAX_MODEL_IO];
} pass;

/* Copies the batch into the program's inputs, targets and output 0's weights; the other
 * outputs' weights repeat each sample's weight. */
static void gather(const nn_exec *e, const nn_program *p, const pass *ps, int64_t step, int64_t start, int64_t n) {
    float *outs[NN_MAX_FEED_ARRAYS] = { 0 };
    for (int i = 0; i < p->ninputs; i++) outs[i] = nn_node_value(e, p->x[i]);
    for (int o = 0; o < p->noutputs && p->y[o] >= 0; o++) outs[p->ninputs + o] = nn_node_value(e, p->y[o]);
    float *w = p->w[0] >= 0 ? nn_node_value(e, p->w[0]) : NULL;
    int64_t w_inner = p->w[0] >= 0 ? p->graph.nodes[p->w[0]].inner : 0;
    if (ps->prefetch) {
        nn_prefetch_take(ps->prefetch, step, outs, w);
    } else {
        nn_feed_gather(&ps->feed, start, n, outs, w, w_inner);
        /* the next batch loads into the cache while this one is computed */
        int64_t next = start + n, count = ps->samples - next < n ? ps->samples - next : n;
        if (count > 0) nn_feed_prefetch(&ps->feed, next, count);
    }
    for (int o = 1; o < p->noutputs && w; o++) {
        float *wo = nn_node_value(e, p->w[o]);
        int64_t inner = p->graph.nodes[p->w[o]].inner;
        for (int64_t i = 0; i < n * inner; i++) wo[i] = w[(i / inner) * w_inner];
    }
}

static void update_metrics(nn_model *m, const nn_exec *e, const nn_program *p, const nn_feed *f) {
    for (int i = 0; i < m->nmetrics; i++) {
        int o = m->metric_output[i];
        const nn_node *pred = &p->graph.nodes[p->pred[o]];
        int64_t cols = nn_node_cols(pred), rows = nn_node_rows(e, pred);
        int64_t tcols = m->losses[o]->def->target == NN_TARGET_CLASS_INDEX ? 1 : cols;
        const float *w = f->w ? nn_node_value(e, p->w[o]) : NULL;
        nn_metric_update(m->metrics[i], nn_node_value(e, p->pred[o]), nn_node_value(e, p->y[o]), rows, cols, tcols, w);
    }
}

/* Forward (and, for training, backward and the optimizer update) on batch `step`: samples
 * [start, start+n) of the pass. */
static double run_batch(nn_model *m, nn_program *p, pass *ps, int64_t step, int64_t start, int64_t n, bool train) {
    nn_exec e = { .graph = &p->graph, .arena = p->arena, .params = m->params, .grads = m->grads, .batch = n,
                  .rng = &m->rng, .threads = m->threads, .forward_only = !train };
    gather(&e, p, ps, step, start, n);
    nn_graph_forward(&e);
    double loss = *nn_node_value(&e, p->loss);
    for (int o = 0; o < p->noutputs; o++) ps->output_loss[o] += *nn_node_value(&e, p->output_loss[o]) * (double)n;
    update_metrics(m, &e, p, &ps->feed);
    if (train) {
        memset(m->grads, 0, m->nparams * sizeof *m->grads);
        nn_graph_backward(&e);
        nn_optimizer_apply(m->optimizer, m->threads, m->spans, m->nspans, m->params, m->grads, m->slots, m->nparams);
    }
    return loss;
}

static void reset_metrics(nn_model *m, pass *ps) {
    for (int i = 0; i < m->nmetrics; i++) nn_metric_reset(m->metrics[i]);
    memset(ps->output_loss, 0, sizeof ps->output_loss);
}

static void add_log(nn_logs *logs, const char *prefix, const char *output, const char *name, double value) {
    if (logs->count >= NN_MAX_METRICS) return;
    snprintf(logs->names[logs->count], sizeof logs->names[0], "%s%s%s%s", prefix, output ? output : "",
             output ? "_" : "", name);
    logs->values[logs->count++] = value;
}

/* Logs in Keras's order: names sorted, loss among them; `prefix` makes "val_" logs. With
 * several outputs each output's loss and metrics are named after its layer. The per-output
 * losses are means over `samples`. */
static void collect_logs(const nn_model *m, double loss, const pass *ps, int64_t samples, const char *prefix,
                         nn_logs *logs) {
    int first = logs->count;
    bool several = m->noutputs > 1;
    add_log(logs, prefix, NULL, "loss", loss);
    for (int o = 0; several && o < m->noutputs; o++)
        add_log(logs, prefix, nn_model_output_name(m, o), "loss", samples ? ps->output_loss[o] / (double)samples : 0.0);
    for (int i = 0; i < m->nmetrics; i++)
        add_log(logs, prefix, several ? nn_model_output_name(m, m->metric_output[i]) : NULL, nn_metric_name(m->metrics[i]),
                nn_metric_result(m->metrics[i]));
    for (int i = first + 1; i < logs->count; i++)
        for (int j = i; j > first && strcmp(logs->names[j - 1], logs->names[j]) > 0; j--) {
            char name[32];
            double value = logs->values[j];
            memcpy(name, logs->names[j], sizeof name);
            memcpy(logs->names[j], logs->names[j - 1], sizeof name);
            logs->values[j] = logs->values[j - 1];
            memcpy(logs->names[j - 1], name, sizeof name);
            logs->values[j - 1] = value;
        }
}

/* Evaluates samples [0, count) of a pass in batches; loss averaged over samples as Keras's Mean. */
static double evaluate_pass(nn_model *m, nn_program *p, pass *ps, int64_t count, int64_t batch) {
    double total = 0.0;
    reset_metrics(m, ps);
    ps->samples = count;
    if (ps->prefetch) nn_prefetch_begin(ps->prefetch, count);
    for (int64_t step = 0, start = 0; start < count; step++, start += batch) {
        int64_t n = count - start < batch ? count - start : batch;
        total += run_batch(m, p, ps, step, start, n, false) * (double)n;
    }
    return count ? total / (double)count : 0.0;
}

/* ------------------------------------------------------------ history */

static int history_append(nn_history *h, const nn_logs *logs) {
    if (h->epochs == 0) {
        h->ncols = logs->count;
        memcpy(h->names, logs->names, sizeof logs->names[0] * (size_t)logs->count);
    }
    if (h->epochs == h->cap) {
        int cap = h->cap ? h->cap * 2 : 16;
        double *values = nn_realloc(h->values, (size_t)cap * (size_t)h->ncols * sizeof *values + 1);
        if (!values) return NN_ERR_NOMEM;
        h->values = values;
        h->cap = cap;
    }
    memcpy(h->values + (size_t)h->epochs * (size_t)h->ncols, logs->values, (size_t)h->ncols * sizeof *logs->values);
    h->epochs++;
    return NN_OK;
}

int nn_history_epochs(const nn_history *h) { return h ? h->epochs : 0; }
int nn_history_columns(const nn_history *h) { return h ? h->ncols : 0; }

const char *nn_history_column_name(const nn_history *h, int column) {
    return h && column >= 0 && column < h->ncols ? h->names[column] : NULL;
}

double nn_history_get(const nn_history *h, const char *name, int epoch) {
    if (!h || !name || epoch < 0 || epoch >= h->epochs) return NAN;
    for (int c = 0; c < h->ncols; c++)
        if (strcmp(h->names[c], name) == 0) return h->values[(size_t)epoch * (size_t)h->ncols + (size_t)c];
    return NAN;
}

int nn_history_save(const nn_history *h, const char *path) {
    if (!h || !path) return nn_error(NN_ERR_ARG, "nn_history_save: history or path is NULL");
    int64_t cols = h->ncols + 1;
    nn_tensor *table = nn_tensor_new(NN_FLOAT64, 2, (int64_t[]){ h->epochs, cols });
    if (!table) return NN_ERR_NOMEM;
    double *v = table->data;
    for (int e = 0; e < h->epochs; e++) {
        v[e * cols] = e + 1;
        memcpy(v + e * cols + 1, h->values + (size_t)e * (size_t)h->ncols, (size_t)h->ncols * sizeof *v);
    }
    const char *header[NN_MAX_LOGS + 2] = { "epoch" };
    for (int c = 0; c < h->ncols; c++) header[c + 1] = h->names[c];
    int status = nn_csv_save(path, table, header);
    nn_tensor_free(table);
    return status;
}

void nn_history_free(nn_history *h) {
    if (!h) return;
    nn_free(h->values);
    nn_free(h);
}

double nn_metrics_get(const nn_metrics *m, const char *name) {
    for (int i = 0; m && name && i < m->count; i++)
        if (strcmp(m->names[i], name) == 0) return m->values[i];
    return NAN;
}

/* ------------------------------------------------------------ fit */

typedef struct fit_plan {
    int64_t n_train, n_val, batch;
    float *weights;   /* per-sample weights (class_weight / sample_weight), or NULL */
    int64_t *index;
} fit_plan;

static int sample_weights(const nn_fit_opts *o, const nn_tensor *y, int64_t n, float **out) {
    *out = NULL;
    if (!o->class_weight && !o->sample_weight) return NN_OK;
    if (o->sample_weight && nn_tensor_size(o->sample_weight) != n)
        return nn_error(NN_ERR_SHAPE, "nn_fit: sample_weight has %lld values for %lld samples",
                        (long long)nn_tensor_size(o->sample_weight), (long long)n);
    float *w = nn_malloc((size_t)n * sizeof *w);
    if (!w) return NN_ERR_NOMEM;
    int64_t y_inner = nn_tensor_size(y) / n;
    for (int64_t i = 0; i < n; i++) {
        w[i] = o->sample_weight ? (float)nn_tensor_get(o->sample_weight, i) : 1.0f;
        if (!o->class_weight) continue;
        int64_t cls = 0; /* one-hot rows: argmax; single values: the rounded label */
        for (int64_t k = 1; k < y_inner; k++)
            if (nn_tensor_get(y, i * y_inner + k) > nn_tensor_get(y, i * y_inner + cls)) cls = k;
        if (y_inner == 1) cls = (int64_t)llrint(nn_tensor_get(y, i));
        if (cls < 0 || cls >= o->class_weight_count) {
            nn_free(w);
            return nn_error(NN_ERR_DATA, "nn_fit: class %lld of sample %lld has no class_weight (%d given)",
                            (long long)cls, (long long)i, o->class_weight_count);
        }
        w[i] *= (float)o->class_weight[cls];
    }
    *out = w;
    return NN_OK;
}

/* Keras's adapt: per-feature mean and (population) variance of the first `rows` samples. */
/* The model input a layer is applied to directly, or -1 (it follows other layers). */
static int input_of_layer(const nn_model *m, int layer) {
    for (int k = 0; k < m->nnodes; k++) {
        if (m->nodes[k].layer != layer || m->nodes[k].ninputs < 1) continue;
        for (int i = 0; i < m->ninputs; i++)
            if (m->inputs[i] == m->nodes[k].inputs[0].node) return i;
        return -1;
    }
    return -1;
}

/* Adapts each Normalization layer applied directly to a model input from that input's first
 * `rows` samples; one that follows other layers needs nn_adapt's data to be its input. */
static int adapt_rows(nn_model *m, const arrays *a, int64_t rows) {
    for (int i = 0; i < m->nvars; i++) {
        const nn_variable *v = &m->vars[i];
        if (m->layers[v->layer]->def != &nn_layer_normalization || !strstr(v->name, "/mean")) continue;
        int input = input_of_layer(m, v->layer);
        if (input < 0 || input >= a->nx)
            return nn_error(NN_ERR_STATE, "Normalization layer '%s' does not take a model input, so fit cannot adapt it; set its mean and variance weights",
                            m->layers[v->layer]->name);
        const nn_tensor *x = a->x[input];
        int64_t inner = nn_tensor_size(x) / x->shape[0];
        int64_t cols = v->shape[0], values = rows * (inner / cols);
        float *mean = m->params + v->offset, *var = m->params + m->vars[i + 1].offset;
        float *count = m->params + m->vars[i + 2].offset;
        for (int64_t c = 0; c < cols; c++) {
            double sum = 0.0, sq = 0.0;
            for (int64_t r = 0; r < values; r++) sum += nn_tensor_get(x, r * cols + c);
            double mu = sum / (double)values;
            for (int64_t r = 0; r < values; r++) {
                double d = nn_tensor_get(x, r * cols + c) - mu;
                sq += d * d;
            }
            mean[c] = (float)mu;
            var[c] = (float)(sq / (double)values);
        }
        *count = (float)values;
    }
    return NN_OK;
}

int nn_adapt(nn_model *m, const nn_tensor *x) {
    if (!m) return nn_error(NN_ERR_ARG, "nn_adapt: model is NULL");
    if (m->ninputs > 1) return nn_error(NN_ERR_ARG, "nn_adapt: model '%s' has %d inputs; adapt takes one", m->name, m->ninputs);
    arrays a = { .x = { x }, .nx = 1 };
    int status = check_inputs(m, &a, "nn_adapt");
    if (!status) status = adapt_rows(m, &a, x->shape[0]);
    return status;
}

static int fit_prepare(nn_model *m, const nn_dataset *train, const nn_fit_opts *o, fit_plan *fp) {
    arrays a = dataset_arrays(train);
    if (!a.y[0]) return nn_error(NN_ERR_ARG, "nn_fit: the training data has no targets (y)");
    int status = check_inputs(m, &a, "nn_fit");
    if (status) return status;
    int64_t n = a.x[0]->shape[0];
    if (o->validation_split < 0 || o->validation_split >= 1)
        return nn_error(NN_ERR_ARG, "nn_fit: validation_split must be in [0, 1), got %g", o->validation_split);
    if (o->validation_split > 0 && o->validation_data)
        return nn_error(NN_ERR_ARG, "nn_fit: give validation_split or validation_data, not both");
    fp->n_train = o->validation_split > 0 ? (int64_t)floor((double)n * (1.0 - o->validation_split)) : n;
    fp->n_val = n - fp->n_train;
    if (fp->n_train < 1 || (o->validation_split > 0 && fp->n_val < 1))
        return nn_error(NN_ERR_ARG, "nn_fit: validation_split %g of %lld samples leaves an empty split",
                        o->validation_split, (long long)n);
    if (o->batch_size < 0 || o->epochs < 0 || o->initial_epoch < 0)
        return nn_error(NN_ERR_ARG, "nn_fit: epochs, batch_size and initial_epoch must not be negative");
    fp->batch = o->batch_size ? o->batch_size : NN_DEFAULT_BATCH;
    if (!m->compiled) return nn_error(NN_ERR_STATE, "nn_fit: model '%s' is not compiled: call nn_compile first", m->name);
    /* "accuracy" resolves from the output width, known only now */
    status = nn_model_resolve_metrics(m);
    nn_program *p;
    if (!status) status = nn_model_program(m, NN_PROGRAM_TRAIN, fp->batch < fp->n_train ? fp->batch : fp->n_train, &p);
    if (!status) status = check_targets(m, p, &a, "nn_fit");
    if (!status && o->validation_data) {
        arrays v = dataset_arrays(o->validation_data);
        if (!v.y[0]) return nn_error(NN_ERR_ARG, "nn_fit: validation_data has no targets (y)");
        status = check_inputs(m, &v, "nn_fit: validation_data");
        if (!status) status = check_targets(m, p, &v, "nn_fit: validation_data");
    }
    if (!status) status = nn_model_prepare_training(m);
    if (!status) status = sample_weights(o, a.y[0], n, &fp->weights);
    if (status) return status;
    fp->index = nn_malloc((size_t)fp->n_train * sizeof *fp->index);
    if (!fp->index) return NN_ERR_NOMEM;
    return nn_model_needs_adapt(m) ? adapt_rows(m, &a, fp->n_train) : NN_OK;
}

static int progress_verbosity(int verbose) {
    if (verbose == NN_OFF) return 0;
    return verbose == 0 ? 1 : verbose;
}

/* A pass over the arrays' rows from `offset` (through `index` when shuffling), with a prefetch
 * thread when the batches are large. */
static int pass_open(pass *ps, const nn_program *p, const arrays *a, const float *w, const int64_t *index,
                     int64_t offset, int64_t batch) {
    *ps = (pass){ .feed = { .w = w, .offset = offset, .index = index } };
    for (int i = 0; i < a->nx; i++) ps->feed.arrays[ps->feed.count++] = a->x[i];
    for (int i = 0; i < a->ny; i++) ps->feed.arrays[ps->feed.count++] = a->y[i];
    if (!nn_prefetch_worthwhile(&ps->feed, batch)) return NN_OK;
    return nn_prefetch_new(&ps->feed, batch, p->w[0] >= 0 ? p->graph.nodes[p->w[0]].inner : 0, &ps->prefetch);
}

static void pass_close(pass *ps) {
    nn_prefetch_free(ps->prefetch);
    ps->prefetch = NULL;
}

static int train_epoch(nn_model *m, nn_program *p, pass *ps, const fit_plan *fp, nn_progress *bar, nn_logs *logs) {
    int64_t steps = (fp->n_train + fp->batch - 1) / fp->batch;
    double total = 0.0;
    reset_metrics(m, ps);
    ps->samples = fp->n_train;
    if (ps->prefetch) nn_prefetch_begin(ps->prefetch, fp->n_train);
    for (int64_t s = 0; s < steps; s++) {
        int64_t start = s * fp->batch, n = fp->n_train - start < fp->batch ? fp->n_train - start : fp->batch;
        total += run_batch(m, p, ps, s, start, n, true) * (double)n;
        bool last = s + 1 == steps;
        if (!last && !nn_progress_due(bar)) continue; /* formatting logs costs more than a small step */
        logs->count = 0;
        collect_logs(m, total / (double)(start + n), ps, start + n, "", logs);
        if (!last) nn_progress_update(bar, s + 1, logs, false);
    }
    return NN_OK;
}

/* Held-out samples keep their sample weights but, as in Keras, not the class weights. */
static int open_validation(nn_model *m, const nn_program *eval_p, const arrays *train, const nn_fit_opts *o,
                           const fit_plan *fp, pass *val_pass) {
    if (o->validation_data) {
        arrays v = dataset_arrays(o->validation_data);
        return pass_open(val_pass, eval_p, &v, NULL, NULL, 0, fp->batch);
    }
    (void)m;
    return pass_open(val_pass, eval_p, train, o->sample_weight ? nn_tensor_f32(o->sample_weight) : NULL, NULL,
                     fp->n_train, fp->batch);
}

static int fit_epochs(nn_model *m, const nn_dataset *train, const nn_fit_opts *o, fit_plan *fp, nn_history *h) {
    arrays a = dataset_arrays(train);
    int epochs = o->epochs ? o->epochs : 1, verbose = progress_verbosity(o->verbose);
    int64_t steps = (fp->n_train + fp->batch - 1) / fp->batch;
    int64_t n_val = o->validation_data ? nn_dataset_size(o->validation_data) : fp->n_val;
    nn_program *train_p, *eval_p = NULL;
    int status = nn_model_program(m, NN_PROGRAM_TRAIN, fp->batch < fp->n_train ? fp->batch : fp->n_train, &train_p);
    if (!status && n_val) status = nn_model_program(m, NN_PROGRAM_EVAL, fp->batch, &eval_p);
    pass train_pass = { 0 }, val_pass = { 0 };
    if (!status) status = pass_open(&train_pass, train_p, &a, fp->weights, fp->index, 0, fp->batch);
    if (!status && eval_p) status = open_validation(m, eval_p, &a, o, fp, &val_pass);
    for (int64_t i = 0; i < fp->n_train; i++) fp->index[i] = i;
    FILE *out = o->out ? o->out : stdout;
    for (int epoch = o->initial_epoch; !status && epoch < epochs; epoch++) {
        if (verbose) fprintf(out, "Epoch %d/%d\n", epoch + 1, epochs);
        if (o->shuffle != NN_OFF) nn_rng_shuffle(&m->rng, fp->index, fp->n_train);
        nn_progress bar;
        nn_progress_start(&bar, out, verbose, steps);
        nn_logs logs;
        status = train_epoch(m, train_p, &train_pass, fp, &bar, &logs);
        if (!status && eval_p) {
            nn_logs val = { 0 };
            double val_loss = evaluate_pass(m, eval_p, &val_pass, n_val, fp->batch);
            collect_logs(m, val_loss, &val_pass, n_val, "val_", &val);
            for (int i = 0; i < val.count && logs.count < NN_MAX_METRICS; i++, logs.count++) {
                memcpy(logs.names[logs.count], val.names[i], sizeof logs.names[0]);
                logs.values[logs.count] = val.values[i];
            }
        }
        nn_progress_update(&bar, steps, &logs, true);
        if (!status && h && history_append(h, &logs)) status = NN_ERR_NOMEM;
    }
    pass_close(&train_pass);
    pass_close(&val_pass);
    return status;
}

int nn_fit(nn_model *m, const nn_dataset *train, const nn_fit_opts *opts, nn_history **history) {
    if (history) *history = NULL;
    if (!m || !train) return nn_error(NN_ERR_ARG, "nn_fit: %s is NULL", m ? "dataset" : "model");
    nn_fit_opts defaults = { 0 };
    const nn_fit_opts *o = opts ? opts : &defaults;
    fit_plan fp = { 0 };
    nn_history *h = history ? nn_calloc(1, sizeof *h) : NULL;
    int status = history && !h ? NN_ERR_NOMEM : fit_prepare(m, train, o, &fp);
    if (!status) status = fit_epochs(m, train, o, &fp, h);
    nn_free(fp.weights);
    nn_free(fp.index);
    if (status || !history) nn_history_free(h);
    else *history = h;
    return status;
}

/* ------------------------------------------------------------ evaluate, predict, train_on_batch */

int nn_evaluate(nn_model *m, const nn_dataset *data, const nn_eval_opts *opts, nn_metrics *out) {
    if (!m || !data || !out) return nn_error(NN_ERR_ARG, "nn_evaluate: model, data or out is NULL");
    arrays a = dataset_arrays(data);
    if (!a.y[0]) return nn_error(NN_ERR_ARG, "nn_evaluate: the data has no targets (y)");
    int64_t batch = opts && opts->batch_size > 0 ? opts->batch_size : NN_DEFAULT_BATCH;
    nn_program *p;
    int status = check_inputs(m, &a, "nn_evaluate");
    if (!status) status = nn_model_program(m, NN_PROGRAM_EVAL, batch, &p);
    if (!status) status = check_targets(m, p, &a, "nn_evaluate");
    pass ps;
    if (!status) status = pass_open(&ps, p, &a, NULL, NULL, 0, batch);
    if (status) return status;
    int64_t n = a.x[0]->shape[0];
    double loss = evaluate_pass(m, p, &ps, n, batch);
    pass_close(&ps);
    nn_logs logs = { 0 };
    collect_logs(m, loss, &ps, n, "", &logs);
    *out = (nn_metrics){ .loss = loss, .count = logs.count };
    memcpy(out->names, logs.names, sizeof out->names);
    memcpy(out->values, logs.values, sizeof out->values);
    if (opts && progress_verbosity(opts->verbose) && opts->verbose != 0) {
        nn_progress bar;
        int64_t steps = (n + batch - 1) / batch;
        nn_progress_start(&bar, opts->out ? opts->out : stdout, progress_verbosity(opts->verbose), steps);
        nn_progress_update(&bar, steps, &logs, true);
    }
    return NN_OK;
}

int nn_train_on_batch(nn_model *m, const nn_tensor *x, const nn_tensor *y, double *loss) {
    if (!m || !y) return nn_error(NN_ERR_ARG, "nn_train_on_batch: model or y is NULL");
    if (!m->compiled) return nn_error(NN_ERR_STATE, "nn_train_on_batch: model '%s' is not compiled", m->name);
    arrays a = { .x = { x }, .y = { y }, .nx = 1, .ny = 1 };
    int status = check_inputs(m, &a, "nn_train_on_batch");
    if (!status && (y->ndim < 1 || y->shape[0] != x->shape[0]))
        status = nn_error(NN_ERR_SHAPE, "nn_train_on_batch: x has %lld samples but y has %lld",
                          (long long)x->shape[0], (long long)(y->ndim ? y->shape[0] : 0));
    nn_program *p;
    if (!status) status = nn_model_program(m, NN_PROGRAM_TRAIN, x->shape[0], &p);
    if (!status) status = check_targets(m, p, &a, "nn_train_on_batch");
    if (!status) status = nn_model_prepare_training(m);
    if (status) return status;
    pass ps = { .feed = { .arrays = { x, y }, .count = 2 } };
    reset_metrics(m, &ps);
    double value = run_batch(m, p, &ps, 0, 0, x->shape[0], true);
    if (loss) *loss = value;
    return NN_OK;
}
