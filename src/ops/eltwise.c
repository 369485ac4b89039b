/* Elementwise ops: activations, add/sub/mul, scale-shift, normalization, dropout. */
#include "ops/ops.h"

/* ---- activation (attr.ptr: nn_activation_def); softmax-like ones work per last-axis row */

static int same_as_input_shape(const nn_graph *g, nn_node *n) {
    nn_shape_like(g, n, 0);
    return NN_OK;
}

static void activation_forward(const nn_exec *e, const nn_node *n) {
    const nn_activation_def *act = n->attr.ptr;
    act->forward(OUT_VALUE(e, n), IN_VALUE(e, n, 0), nn_node_rows(e, n), nn_node_cols(n));
}

static void activation_backward(const nn_exec *e, const nn_node *n) {
    const nn_activation_def *act = n->attr.ptr;
    float *dx = IN_GRAD(e, n, 0);
    if (dx)
        act->backward(dx, IN_VALUE(e, n, 0), OUT_VALUE(e, n), OUT_GRAD(e, n), nn_node_rows(e, n),
                      nn_node_cols(n));
}

const nn_op_def nn_op_activation = { .name = "activation", .shape = same_as_input_shape, .forward = activation_forward,
                                     .backward = activation_backward };

/* ---- binary elementwise ops on equal shapes */

static int same_shapes(const nn_graph *g, nn_node *n) {
    const nn_node *a = &g->nodes[n->inputs[0]], *b = &g->nodes[n->inputs[1]];
    bool same = a->ndim == b->ndim && a->batched == b->batched;
    for (int i = a->batched ? 1 : 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    if (!same) return nn_shape_error(g, n, "inputs must have the same shape:");
    nn_shape_like(g, n, 0);
    return NN_OK;
}

NN_VECTOR_LOOPS static void add_forward(const nn_exec *e, const nn_node *n) {
    const float *a = IN_VALUE(e, n, 0), *b = IN_VALUE(e, n, 1);
    float *y = OUT_VALUE(e, n);
    for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) y[i] = a[i] + b[i];
}

/* d(a + sign*b): shared by add and sub */
NN_VECTOR_LOOPS static void add_sub_backward(const nn_exec *e, const nn_node *n, float sign) {
    const float *dy = OUT_GRAD(e, n);
    float *da = IN_GRAD(e, n, 0), *db = IN_GRAD(e, n, 1);
    int64_t size = nn_node_size(e, n);
    if (da)
        for (int64_t i = 0; i < size; i++) da[i] += dy[i];
    if (db)
        for (int64_t i = 0; i < size; i++) db[i] += sign * dy[i];
}

static void add_backward(const nn_exec *e, const nn_node *n) { add_sub_backward(e, n, 1.0f); }

const nn_op_def nn_op_add = { .name = "add", .shape = same_shapes, .forward = add_forward, .backward = add_backward };

NN_VECTOR_LOOPS static void sub_forward(const nn_exec *e, const nn_node *n) {
    const float *a = IN_VALUE(e, n, 0), *b = IN_VALUE(e, n, 1);
    float *y = OUT_VALUE(e, n);
    for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) y[i] = a[i] - b[i];
}

static void sub_backward(const nn_exec *e, const nn_node *n) { add_sub_backward(e, n, -1.0f); }

const nn_op_def nn_op_sub = { .name = "sub", .shape = same_shapes, .forward = sub_forward, .backward = sub_backward };

NN_VECTOR_LOOPS static void mul_forward(const nn_exec *e, const nn_node *n) {
    const float *a = IN_VALUE(e, n, 0), *b = IN_VALUE(e, n, 1);
    float *y = OUT_VALUE(e, n);
    for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) y[i] = a[i] * b[i];
}

NN_VECTOR_LOOPS static void mul_backward(const nn_exec *e, const nn_node *n) {
    const float *dy = OUT_GRAD(e, n), *a = IN_VALUE(e, n, 0), *b = IN_VALUE(e, n, 1);
    float *da = IN_GRAD(e, n, 0), *db = IN_GRAD(e, n, 1);
    int64_t size = nn_node_size(e, n);
    if (da)
        for (int64_t i = 0; i < size; i++) da[i] += dy[i] * b[i];
    if (db)
        for (int64_t i = 0; i < size; i++) db[i] += dy[i] * a[i];
}

const nn_op_def nn_op_mul = { .name = "mul", .shape = same_shapes, .forward = mul_forward, .backward = mul_backward };

/* ---- y = x * scale + offset (attr.f = {scale, offset}) */

NN_VECTOR_LOOPS static void scale_shift_forward(const nn_exec *e, const nn_node *n) {
    const float *x = IN_VALUE(e, n, 0);
    float *y = OUT_VALUE(e, n), scale = (float)n->attr.f[0], offset = (float)n->attr.f[1];
    for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) y[i] = x[i] * scale + offset;
}

NN_VECTOR_LOOPS static void scale_shift_backward(const nn_exec *e, const nn_node *n) {
    const float *dy = OUT_GRAD(e, n);
    float *dx = IN_GRAD(e, n, 0), scale = (float)n->attr.f[0];
    if (dx)
        for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) dx[i] += dy[i] * scale;
}

const nn_op_def nn_op_scale_shift = { .name = "scale_shift", .shape = same_as_input_shape,
                                      .forward = scale_shift_forward, .backward = scale_shift_backward };

/* ---- y = (x - mean) / max(sqrt(variance), 1e-7) over the last axis (Keras's Normalization).
 * mean and variance are state, not trained: only x gets a gradient. */

#define NN_NORMALIZATION_EPSILON 1e-7f

static int normalize_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    int64_t cols = x->shape[x->ndim - 1];
    for (int i = 1; i < 3; i++) {
        const nn_node *s = &g->nodes[n->inputs[i]];
        if (s->ndim != 1 || s->shape[0] != cols)
            return nn_shape_error(g, n, "mean and variance must match the input's last dimension:");
    }
    nn_shape_like(g, n, 0);
    return NN_OK;
}

static float normalize_denominator(float variance) {
    float d = sqrtf(variance);
    return d > NN_NORMALIZATION_EPSILON ? d : NN_NORMALIZATION_EPSILON;
}

NN_VECTOR_LOOPS static void normalize_forward(const nn_exec *e, const nn_node *n) {
    int64_t cols = nn_node_cols(n), rows = nn_node_rows(e, n);
    const float *x = IN_VALUE(e, n, 0), *mean = IN_VALUE(e, n, 1), *var = IN_VALUE(e, n, 2);
    float *y = OUT_VALUE(e, n);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            y[i * cols + j] = (x[i * cols + j] - mean[j]) / normalize_denominator(var[j]);
}

NN_VECTOR_LOOPS static void normalize_backward(const nn_exec *e, const nn_node *n) {
    int64_t cols = nn_node_cols(n), rows = nn_node_rows(e, n);
    const float *dy = OUT_GRAD(e, n), *var = IN_VALUE(e, n, 2);
    float *dx = IN_GRAD(e, n, 0);
    if (!dx) return;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) dx[i * cols + j] += dy[i * cols + j] / normalize_denominator(var[j]);
}

const nn_op_def nn_op_normalize = { .name = "normalize", .shape = normalize_shape, .forward = normalize_forward,
                                    .backward = normalize_backward };

/* ---- inverted dropout (attr.f[0] = rate): keeps each value with probability 1 - rate and
 * scales it by 1 / (1 - rate); the mask is kept in scratch for the backward pass. */

static int64_t dropout_aux(const nn_graph *g, const nn_node *n) {
    (void)g;
    return n->inner;
}

static void dropout_forward(const nn_exec *e, const nn_node *n) {
    const float *x = IN_VALUE(e, n, 0);
    float *y = OUT_VALUE(e, n), *mask = nn_node_aux(e, SELF(e, n));
    double rate = n->attr.f[0];
    float keep_scale = (float)(1.0 / (1.0 - rate));
    for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) {
        mask[i] = nn_rng_uniform(e->rng) >= rate ? keep_scale : 0.0f;
        y[i] = x[i] * mask[i];
    }
}

static void dropout_backward(const nn_exec *e, const nn_node *n) {
    const float *dy = OUT_GRAD(e, n), *mask = nn_node_aux(e, SELF(e, n));
    float *dx = IN_GRAD(e, n, 0);
    if (dx)
        for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) dx[i] += dy[i] * mask[i];
}

const nn_op_def nn_op_dropout = { .name = "dropout", .shape = same_as_input_shape, .forward = dropout_forward,
                                  .backward = dropout_backward, .aux_per_sample = dropout_aux };
