/* Inference: predictors (a model's prediction program with its own arena) and nn_predict. */
#include "model/model.h"

struct nn_predictor {
    nn_model *model;
    nn_program program;
    int64_t input_size, output_size;
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
    p->input_size = p->program.graph.nodes[p->program.x].inner;
    p->output_size = p->program.graph.nodes[p->program.pred].inner;
    *out = p;
    return NN_OK;
}

void nn_predictor_free(nn_predictor *p) {
    if (!p) return;
    nn_program_clear(&p->program);
    nn_free(p);
}

int64_t nn_predictor_input_size(const nn_predictor *p) { return p ? p->input_size : 0; }
int64_t nn_predictor_output_size(const nn_predictor *p) { return p ? p->output_size : 0; }

static nn_exec predictor_exec(nn_predictor *p, int64_t n) {
    return (nn_exec){ .graph = &p->program.graph, .arena = p->program.arena, .params = p->model->params, .batch = n,
                      .threads = p->model->threads };
}

/* Forward over the n samples already in the input buffer; returns the output buffer. */
static const float *forward(nn_predictor *p, int64_t n) {
    nn_exec e = predictor_exec(p, n);
    nn_graph_forward(&e);
    return nn_node_value(&e, p->program.pred);
}

int nn_predictor_run(nn_predictor *p, const float *x, int64_t n, float *out) {
    if (!p || !x || !out) return nn_error(NN_ERR_ARG, "nn_predictor_run: predictor, x or out is NULL");
    if (n < 1 || n > p->program.capacity)
        return nn_error(NN_ERR_ARG, "nn_predictor_run: %lld samples, but this predictor takes 1 to %lld",
                        (long long)n, (long long)p->program.capacity);
    nn_exec e = predictor_exec(p, n);
    memcpy(nn_node_value(&e, p->program.x), x, (size_t)(n * p->input_size) * sizeof *x);
    memcpy(out, forward(p, n), (size_t)(n * p->output_size) * sizeof *out);
    return NN_OK;
}

int nn_predict(nn_model *m, const nn_tensor *x, const nn_predict_opts *opts, nn_tensor **out) {
    if (out) *out = NULL;
    if (!m || !out || !x) return nn_error(NN_ERR_ARG, "nn_predict: model, x or out is NULL");
    if (x->ndim < 2 || x->shape[0] < 1) {
        char s[96];
        return nn_error(NN_ERR_SHAPE, "nn_predict: x of shape %s needs a sample axis and at least one feature axis",
                        nn_shape_str(x->ndim, x->shape, s, sizeof s));
    }
    int status = nn_model_build(m, x->ndim - 1, x->shape + 1);
    if (status) return nn_error_context(status, "nn_predict");
    int64_t n = x->shape[0], batch = opts && opts->batch_size > 0 ? opts->batch_size : 32;
    nn_predictor *p = NULL;
    status = nn_predictor_new(m, batch < n ? batch : n, &p);
    if (status) return status;
    const nn_node *pred = &p->program.graph.nodes[p->program.pred];
    int64_t shape[NN_MAX_DIMS];
    memcpy(shape, pred->shape, sizeof shape);
    shape[0] = n;
    nn_tensor *result = nn_tensor_new_uninit(NN_FLOAT32, pred->ndim, shape);
    if (!result) {
        nn_predictor_free(p);
        return NN_ERR_NOMEM;
    }
    nn_feed feed = { x, NULL, NULL, 0, NULL };
    for (int64_t start = 0; start < n; start += batch) {
        int64_t rows = n - start < batch ? n - start : batch;
        nn_exec e = predictor_exec(p, rows);
        nn_feed_gather(&feed, start, rows, nn_node_value(&e, p->program.x), NULL, NULL, 0);
        memcpy(nn_tensor_f32(result) + start * p->output_size, forward(p, rows),
               (size_t)(rows * p->output_size) * sizeof(float));
    }
    nn_predictor_free(p);
    *out = result;
    return NN_OK;
}
