/* Inference: predictors (a model's prediction program with its own arena) and nn_predict. */
#include "model/model.h"

struct nn_predictor {
    nn_model *model;
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
                      .threads = p->model->threads };
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
    int64_t n = x->shape[0], batch = opts && opts->batch_size > 0 ? opts->batch_size : 32;
    nn_predictor *p = NULL;
    status = nn_predictor_new(m, batch < n ? batch : n, &p);
    for (int i = 0; i < nx && !status; i++)
        if (nn_tensor_size(inputs[i]) / n != p->input_size[i])
            status = nn_error(NN_ERR_SHAPE, "nn_predict: x[%d] of shape %s does not fit the model's input %d", i,
                              nn_shape_str(inputs[i]->ndim, inputs[i]->shape, s, sizeof s), i);
    float *out_values[NN_MAX_MODEL_IO];
    for (int o = 0; o < m->noutputs && !status; o++) {
        const nn_node *pred = &p->program.graph.nodes[p->program.pred[o]];
        int64_t shape[NN_MAX_DIMS];
        memcpy(shape, pred->shape, sizeof shape);
        shape[0] = n;
        outs[o] = nn_tensor_new_uninit(NN_FLOAT32, pred->ndim, shape);
        if (!outs[o]) status = NN_ERR_NOMEM;
        else out_values[o] = nn_tensor_f32(outs[o]);
    }
    if (status) {
        free_outputs(outs, m->noutputs);
        nn_predictor_free(p);
        return status;
    }
    nn_feed feed = { .count = nx };
    for (int i = 0; i < nx; i++) feed.arrays[i] = inputs[i];
    for (int64_t start = 0; start < n; start += batch) {
        int64_t rows = n - start < batch ? n - start : batch;
        nn_exec e = predictor_exec(p, rows);
        float *buffers[NN_MAX_FEED_ARRAYS];
        for (int i = 0; i < nx; i++) buffers[i] = nn_node_value(&e, p->program.x[i]);
        nn_feed_gather(&feed, start, rows, buffers, NULL, 0);
        forward(p, rows, out_values, start);
    }
    nn_predictor_free(p);
    return NN_OK;
}

int nn_predict(nn_model *m, const nn_tensor *x, const nn_predict_opts *opts, nn_tensor **out) {
    if (out) *out = NULL;
    if (m && m->noutputs > 1)
        return nn_error(NN_ERR_ARG, "nn_predict: model '%s' has %d outputs; use nn_predict_multi", m->name, m->noutputs);
    return nn_predict_multi(m, (const nn_tensor *const[]){ x, NULL }, opts, out);
}
