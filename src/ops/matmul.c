/* Dense algebra: matmul of (rows, k) by a (k, n) parameter, and bias add. */
#include "ops/ops.h"
#include "kernels/kernels.h"

/* x (..., k) . w (k, n) -> (..., n): leading dims act as rows. */
static int matmul_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]], *w = &g->nodes[n->inputs[1]];
    if (w->ndim != 2 || x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[0])
        return nn_shape_error(g, n, "the input's last dimension must equal the kernel's first:");
    nn_shape_like(g, n, 0);
    n->shape[n->ndim - 1] = w->shape[1];
    return NN_OK;
}

static void matmul_forward(const nn_exec *e, const nn_node *n) {
    const nn_node *w = IN_NODE(e, n, 1);
    int64_t k = w->shape[0], cols = w->shape[1];
    int64_t rows = nn_node_size(e, n) / cols;
    nn_gemm(e->threads, OUT_VALUE(e, n), IN_VALUE(e, n, 0), IN_VALUE(e, n, 1), rows, cols, k, false, false, false);
}

/* dx += dy . w^T ; dw += x^T . dy */
static void matmul_backward(const nn_exec *e, const nn_node *n) {
    const nn_node *w = IN_NODE(e, n, 1);
    int64_t k = w->shape[0], cols = w->shape[1];
    int64_t rows = nn_node_size(e, n) / cols;
    const float *dy = OUT_GRAD(e, n);
    float *dx = IN_GRAD(e, n, 0), *dw = IN_GRAD(e, n, 1);
    if (dx) nn_gemm(e->threads, dx, dy, IN_VALUE(e, n, 1), rows, k, cols, false, true, true);
    if (dw) nn_gemm(e->threads, dw, IN_VALUE(e, n, 0), dy, k, cols, rows, true, false, true);
}

const nn_op_def nn_op_matmul = { "matmul", matmul_shape, matmul_forward, matmul_backward, NULL };

/* x (..., n) + b (n) */
static int bias_add_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]], *b = &g->nodes[n->inputs[1]];
    if (b->ndim != 1 || x->ndim < 1 || x->shape[x->ndim - 1] != b->shape[0])
        return nn_shape_error(g, n, "the bias length must equal the input's last dimension:");
    nn_shape_like(g, n, 0);
    return NN_OK;
}

static void bias_add_forward(const nn_exec *e, const nn_node *n) {
    int64_t cols = nn_node_cols(n), rows = nn_node_rows(e, n);
    const float *x = IN_VALUE(e, n, 0), *b = IN_VALUE(e, n, 1);
    float *y = OUT_VALUE(e, n);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) y[i * cols + j] = x[i * cols + j] + b[j];
}

static void bias_add_backward(const nn_exec *e, const nn_node *n) {
    int64_t cols = nn_node_cols(n), rows = nn_node_rows(e, n);
    const float *dy = OUT_GRAD(e, n);
    float *dx = IN_GRAD(e, n, 0), *db = IN_GRAD(e, n, 1);
    if (dx)
        for (int64_t i = 0; i < rows * cols; i++) dx[i] += dy[i];
    if (db)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) db[j] += dy[i * cols + j];
}

const nn_op_def nn_op_bias_add = { "bias_add", bias_add_shape, bias_add_forward, bias_add_backward, NULL };
