/* Reductions to a scalar: sum, mean (over every element, the batch included), and the L1/L2
 * weight penalty. */
#include "ops/ops.h"

static int scalar_shape(const nn_graph *g, nn_node *n) {
    (void)g;
    n->batched = false;
    n->ndim = 0;
    return NN_OK;
}

static double sum_of(const float *x, int64_t size) {
    double sum = 0.0;
    for (int64_t i = 0; i < size; i++) sum += x[i];
    return sum;
}

static void reduce_sum_forward(const nn_exec *e, const nn_node *n) {
    *OUT_VALUE(e, n) = (float)sum_of(IN_VALUE(e, n, 0), nn_node_size(e, IN_NODE(e, n, 0)));
}

/* d(scale * sum x) = scale: shared by sum and mean */
NN_VECTOR_LOOPS static void spread_gradient(const nn_exec *e, const nn_node *n, float scale) {
    float *dx = IN_GRAD(e, n, 0);
    if (!dx) return;
    float g = *OUT_GRAD(e, n) * scale;
    for (int64_t i = 0, size = nn_node_size(e, IN_NODE(e, n, 0)); i < size; i++) dx[i] += g;
}

static void reduce_sum_backward(const nn_exec *e, const nn_node *n) { spread_gradient(e, n, 1.0f); }

const nn_op_def nn_op_reduce_sum = { .name = "reduce_sum", .shape = scalar_shape, .forward = reduce_sum_forward,
                                     .backward = reduce_sum_backward };

static void reduce_mean_forward(const nn_exec *e, const nn_node *n) {
    int64_t size = nn_node_size(e, IN_NODE(e, n, 0));
    *OUT_VALUE(e, n) = size ? (float)(sum_of(IN_VALUE(e, n, 0), size) / (double)size) : 0.0f;
}

static void reduce_mean_backward(const nn_exec *e, const nn_node *n) {
    int64_t size = nn_node_size(e, IN_NODE(e, n, 0));
    if (size) spread_gradient(e, n, 1.0f / (float)size);
}

const nn_op_def nn_op_reduce_mean = { .name = "reduce_mean", .shape = scalar_shape, .forward = reduce_mean_forward,
                                      .backward = reduce_mean_backward };

/* l1 * sum|w| + l2 * sum w^2 (attr.f = {l1, l2}), as Keras's L1L2 regularizer. */
static void penalty_forward(const nn_exec *e, const nn_node *n) {
    const float *w = IN_VALUE(e, n, 0);
    double l1 = 0.0, l2 = 0.0;
    for (int64_t i = 0, size = nn_node_size(e, IN_NODE(e, n, 0)); i < size; i++) {
        l1 += fabsf(w[i]);
        l2 += (double)w[i] * w[i];
    }
    *OUT_VALUE(e, n) = (float)(n->attr.f[0] * l1 + n->attr.f[1] * l2);
}

static void penalty_backward(const nn_exec *e, const nn_node *n) {
    const float *w = IN_VALUE(e, n, 0);
    float *dw = IN_GRAD(e, n, 0);
    if (!dw) return;
    float g = *OUT_GRAD(e, n), l1 = (float)n->attr.f[0], l2 = (float)n->attr.f[1];
    for (int64_t i = 0, size = nn_node_size(e, IN_NODE(e, n, 0)); i < size; i++) {
        float sign = (float)((w[i] > 0) - (w[i] < 0));
        dw[i] += g * (l1 * sign + 2.0f * l2 * w[i]);
    }
}

const nn_op_def nn_op_penalty = { .name = "penalty", .shape = scalar_shape, .forward = penalty_forward,
                                  .backward = penalty_backward };
