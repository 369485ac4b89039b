/* Inference: predictors (a model's prediction program with its own arena) and nn_predict. */
#include "core/threads.h"
#include "model/model.h"

struct nn_predictor {
    nn_model *model;
    nn_threads *threads; /* what its ops run on: the model's pool, or NULL for one thread */
    nn_program program;
    int64_t input_size[NN_MAX_MODEL_IO], output_size[NN_MAX_MODEL_IO];
};

int nn_predictor_new(nn_model *m, int64_t max_batch, nn_predictor **out) {
    if (out) *out = NULL;
    if (!m || !out) return nn_error(NN_ERR_ARG, "nn_predictor_new: model or out is NULL");
    if (max_batch < 1) return nn_error(NN_ERR_ARG, "nn_predictor_new: max_batch must be at least 1, got %lld", (long long)max_batch);
    nn_predictor *p = nn_calloc(1, sizeof *p);
    if (!p) return NN_ERR_NOMEM;
    p->model = m;
    p->threads = m->threads;
    int status = nn_program_prepare(m, NN_PROGRAM_PREDICT, max_batch, &p->program);
    if (status) {
        nn_predictor_free(p);
        return status;
    }
    for (int i = 0; i < p->program.ninputs; i++) p->input_size[i] = p->program.graph.nodes[p->program.x[i]].inner;
    for (int o = 0; o < p->program.noutputs; o++) p->output_size[o] = p->program.graph.nodes[p->program.pred[o]].inner;
    *out = p;
    return NN_OK;
}

void nn_predictor_free(nn_predictor *p) {
    if (!p) return;
    nn_program_clear(&p->program);
    nn_free(p);
}

int64_t nn_predictor_input_size(const nn_predictor *p) { return p ? p->input_size[0] : 0; }
int64_t nn_predictor_output_size(const nn_predictor *p) { return p ? p->output_size[0] : 0; }

static nn_exec predictor_exec(nn_predictor *p, int64_t n) {
    return (nn_exec){ .graph = &p->program.graph, .arena = p->program.arena, .params = p->model->params, .batch = n,
                      .threads = p->threads, .forward_only = true };
}

/* Forward over the n samples already in the input buffers; copies output o to outs[o]. */
static void forward(nn_predictor *p, int64_t n, float *const *outs, int64_t offset) {
    nn_exec e = predictor_exec(p, n);
    nn_graph_forward(&e);
    for (int o = 0; o < p->program.noutputs; o++)
        memcpy(outs[o] + offset * p->output_size[o], nn_node_value(&e, p->program.pred[o]),
               (size_t)(n * p->output_size[o]) * sizeof(float));
}

int nn_predictor_run_multi(nn_predictor *p, const float *const *xs, int64_t n, float *const *outs) {
    if (!p || !xs || !outs) return nn_error(NN_ERR_ARG, "nn_predictor_run: predictor, x or out is NULL");
    if (n < 1 || n > p->program.capacity)
        return nn_error(NN_ERR_ARG, "nn_predictor_run: %lld samples, but this predictor takes 1 to %lld",
                        (long long)n, (long long)p->program.capacity);
    for (int i = 0; i < p->program.ninputs; i++)
        if (!xs[i]) return nn_error(NN_ERR_ARG, "nn_predictor_run: input %d is NULL", i);
    for (int o = 0; o < p->program.noutputs; o++)
        if (!outs[o]) return nn_error(NN_ERR_ARG, "nn_predictor_run: output %d is NULL", o);
    nn_exec e = predictor_exec(p, n);
    for (int i = 0; i < p->program.ninputs; i++)
        memcpy(nn_node_value(&e, p->program.x[i]), xs[i], (size_t)(n * p->input_size[i]) * sizeof(float));
    forward(p, n, outs, 0);
    return NN_OK;
}

int nn_predictor_run(nn_predictor *p, const float *x, int64_t n, float *out) {
    if (p && (p->program.ninputs > 1 || p->program.noutputs > 1))
        return nn_error(NN_ERR_ARG, "nn_predictor_run: the model has %d inputs and %d outputs; use nn_predictor_run_multi",
                        p->program.ninputs, p->program.noutputs);
    return nn_predictor_run_multi(p, (const float *const[]){ x }, n, (float *const[]){ out });
}

static void free_outputs(nn_tensor **outs, int count) {
    for (int o = 0; o < count; o++) nn_tensor_free(outs[o]), outs[o] = NULL;
}

/* nn_predict cuts each batch into slices and runs each slice through the whole network on one
 * thread with its own predictor: with several threads, part i of the pool runs slices i,
 * i + parts, ... with no hand-over inside the network, and a slice's values stay in its core's
 * cache. No op mixes samples in prediction and a product's sums do not depend on the rows
 * beside a row, except in a product of one row (kernels.h): so no slice has one row unless its
 * batch does, and every thread count gives the same bits. */
typedef struct predict_plan {
    int64_t n, batch;            /* samples, and the batch size the caller asked for */
    int64_t slices, last_slices; /* per whole batch, and in the last batch */
} predict_plan;

/* A slice's values up to about a core's cache (1 MB on the machines we measure). */
#define NN_SLICE_BYTES (1 << 20)
/* Below this much of values in all, handing slices to other threads costs more than it saves. */
#define NN_SPREAD_MIN_BYTES (256 << 10)

static int64_t slices_of(int64_t rows, int threads, int64_t fitting) {
    int64_t slices = (rows + fitting - 1) / fitting;
    if (slices < threads) slices = threads;
    return slices > rows / 2 ? (rows / 2 > 1 ? rows / 2 : 1) : slices;
}

/* Slice `index` of the pass: its first sample and its rows. */
static int64_t plan_slice(const predict_plan *plan, int64_t index, int64_t *rows) {
    int64_t b = index / plan->slices, j = index % plan->slices, start = b * plan->batch;
    int64_t batch_rows = plan->n - start < plan->batch ? plan->n - start : plan->batch;
    int64_t slices = batch_rows < plan->batch ? plan->last_slices : plan->slices;
    *rows = batch_rows * (j + 1) / slices - batch_rows * j / slices;
    return start + batch_rows * j / slices;
}

/* Plans the slices from `probe`, a predictor of one sample (which it frees), and makes the
 * predictors that run them into predictors[]: one per thread, each on its own thread alone, when
 * the slices are spread over the pool, else one on the whole pool. On failure the caller frees
 * what predictors[] holds. */
static int make_slice_predictors(nn_model *m, nn_predictor *probe, predict_plan *plan, nn_predictor **predictors,
                                 int *workers) {
    /* a sample's values: what one more sample adds to the arena (scratch whatever the batch aside) */
    nn_program *one = &probe->program;
    int64_t sample_bytes = ((int64_t)nn_plan_graph(&one->graph, 2, false) - (int64_t)one->arena_size) * (int64_t)sizeof(float);
    nn_predictor_free(probe);
    int64_t fitting = sample_bytes < NN_SLICE_BYTES ? NN_SLICE_BYTES / (sample_bytes > 0 ? sample_bytes : 1) : 1;
    int64_t last_rows = plan->n - (plan->n - 1) / plan->batch * plan->batch;
    int spread = plan->n * sample_bytes >= NN_SPREAD_MIN_BYTES ? nn_threads_count(m->threads) : 1;
    plan->slices = slices_of(plan->batch, spread, fitting);
    plan->last_slices = slices_of(last_rows, spread, fitting);
    int64_t capacity = (plan->batch + plan->slices - 1) / plan->slices;
    int64_t last = (last_rows + plan->last_slices - 1) / plan->last_slices;
    *workers = spread > 1 && (plan->slices > 1 || plan->n > plan->batch) ? spread : 1;
    for (int i = 0; i < *workers; i++) {
        int status = nn_predictor_new(m, last > capacity ? last : capacity, &predictors[i]);
        if (status) return status;
        if (*workers > 1) predictors[i]->threads = NULL;
    }
    return NN_OK;
}

typedef struct predict_task {
    const predict_plan *plan;
    nn_predictor **predictors;
    const nn_feed *feed;
    float *const *outs;
} predict_task;

static void predict_slices(void *ctx, int part, int parts) {
    const predict_task *t = ctx;
    nn_predictor *p = t->predictors[part];
    int64_t batches = (t->plan->n + t->plan->batch - 1) / t->plan->batch;
    int64_t total = (batches - 1) * t->plan->slices + t->plan->last_slices;
    for (int64_t index = part; index < total; index += parts) {
        int64_t rows, start = plan_slice(t->plan, index, &rows);
        nn_exec e = predictor_exec(p, rows);
        float *buffers[NN_MAX_FEED_ARRAYS];
        for (int i = 0; i < t->feed->count; i++) buffers[i] = nn_node_value(&e, p->program.x[i]);
        nn_feed_gather(t->feed, start, rows, buffers, NULL, 0);
        forward(p, rows, t->outs, start);
    }
}

int nn_predict_multi(nn_model *m, const nn_tensor *const *inputs, const nn_predict_opts *opts, nn_tensor **outs) {
    for (int o = 0; m && outs && o < m->noutputs; o++) outs[o] = NULL;
    if (!m || !outs || !inputs || !inputs[0]) return nn_error(NN_ERR_ARG, "nn_predict: model, x or out is NULL");
    int nx = 0;
    while (inputs[nx] && nx < NN_MAX_MODEL_IO) nx++;
    const nn_tensor *x = inputs[0];
    char s[96];
    for (int i = 0; i < nx; i++)
        if (inputs[i]->ndim < 2 || inputs[i]->shape[0] != x->shape[0] || x->shape[0] < 1)
            return nn_error(NN_ERR_SHAPE, "nn_predict: x[%d] of shape %s needs a sample axis (%lld samples, as x[0]) and at least one feature axis",
                            i, nn_shape_str(inputs[i]->ndim, inputs[i]->shape, s, sizeof s), (long long)x->shape[0]);
    int status = m->functional ? NN_OK : nn_model_build(m, x->ndim - 1, x->shape + 1);
    if (status) return nn_error_context(status, "nn_predict");
    if (nx != m->ninputs)
        return nn_error(NN_ERR_SHAPE, "nn_predict: model '%s' takes %d inputs, got %d", m->name, m->ninputs, nx);
    predict_plan plan = { .n = x->shape[0], .batch = opts && opts->batch_size > 0 ? opts->batch_size : 32 };
    if (plan.batch > plan.n) plan.batch = plan.n;
    nn_predictor *predictors[NN_MAX_THREADS] = { 0 }, *probe = NULL;
    int workers = 1;
    status = nn_predictor_new(m, 1, &probe);
    for (int i = 0; i < nx && !status; i++)
        if (nn_tensor_size(inputs[i]) / plan.n != probe->input_size[i])
            status = nn_error(NN_ERR_SHAPE, "nn_predict: x[%d] of shape %s does not fit the model's input %d", i,
                              nn_shape_str(inputs[i]->ndim, inputs[i]->shape, s, sizeof s), i);
    if (status) nn_predictor_free(probe);
    else status = make_slice_predictors(m, probe, &plan, predictors, &workers);
    float *out_values[NN_MAX_MODEL_IO];
    for (int o = 0; o < m->noutputs && !status; o++) {
        const nn_node *pred = &predictors[0]->program.graph.nodes[predictors[0]->program.pred[o]];
        int64_t shape[NN_MAX_DIMS];
        memcpy(shape, pred->shape, sizeof shape);
        shape[0] = plan.n;
        outs[o] = nn_tensor_new_uninit(NN_FLOAT32, pred->ndim, shape);
        if (!outs[o]) status = NN_ERR_NOMEM;
        else out_values[o] = nn_tensor_f32(outs[o]);
    }
    nn_feed feed = { .count = nx };
    for (int i = 0; i < nx; i++) feed.arrays[i] = inputs[i];
    predict_task task = { .plan = &plan, .predictors = predictors, .feed = &feed, .outs = out_values };
    if (!status) nn_threads_run(workers > 1 ? m->threads : NULL, predict_slices, &task);
    else free_outputs(outs, m->noutputs);
    for (int i = 0; i < workers; i++) nn_predictor_free(predictors[i]);
    return status;
}

int nn_predict(nn_model *m, const nn_tensor *x, const nn_predict_opts *opts, nn_tensor **out) {
    if (out) *out = NULL;
    if (m && m->noutputs > 1)
        return nn_error(NN_ERR_ARG, "nn_predict: model '%s' has %d outputs; use nn_predict_multi", m->name, m->noutputs);
    return nn_predict_multi(m, (const nn_tensor *const[]){ x, NULL }, opts, out);
}
