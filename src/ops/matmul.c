/* Dense algebra: matmul of (rows, k) by a (k, n) parameter, bias add, and dense, the two fused
 * with an activation (what a Dense layer builds). */
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

/* y = x . w, through the epilogue (NULL: none). */
static void matmul_into(const nn_exec *e, const nn_node *n, const nn_gemm_epilogue *epilogue) {
    const nn_node *w = IN_NODE(e, n, 1);
    int64_t k = w->shape[0], cols = w->shape[1];
    int64_t rows = nn_node_size(e, n) / cols;
    nn_gemm_ep(e->threads, OUT_VALUE(e, n), IN_VALUE(e, n, 0), IN_VALUE(e, n, 1), rows, cols, k, false, false, false,
               epilogue);
}

static void matmul_forward(const nn_exec *e, const nn_node *n) { matmul_into(e, n, NULL); }

/* dx += dy . w^T ; dw += x^T . dy (= where this op writes the grad first: no zeroing) */
static void matmul_grads(const nn_exec *e, const nn_node *n, const float *dy) {
    const nn_node *w = IN_NODE(e, n, 1);
    int64_t k = w->shape[0], cols = w->shape[1];
    int64_t rows = nn_node_size(e, n) / cols;
    float *dx = IN_GRAD(e, n, 0), *dw = IN_GRAD(e, n, 1);
    if (dx) nn_gemm(e->threads, dx, dy, IN_VALUE(e, n, 1), rows, k, cols, false, true, !nn_grad_is_first(e, n, 0));
    if (dw) nn_gemm(e->threads, dw, IN_VALUE(e, n, 0), dy, k, cols, rows, true, false, !nn_grad_is_first(e, n, 1));
}

static void matmul_backward(const nn_exec *e, const nn_node *n) { matmul_grads(e, n, OUT_GRAD(e, n)); }

const nn_op_def nn_op_matmul = { .name = "matmul", .shape = matmul_shape, .forward = matmul_forward,
                                 .backward = matmul_backward };

/* x (..., n) + b (n) */
static int bias_add_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]], *b = &g->nodes[n->inputs[1]];
    if (b->ndim != 1 || x->ndim < 1 || x->shape[x->ndim - 1] != b->shape[0])
        return nn_shape_error(g, n, "the bias length must equal the input's last dimension:");
    nn_shape_like(g, n, 0);
    return NN_OK;
}

NN_VECTOR_LOOPS static void bias_add_forward(const nn_exec *e, const nn_node *n) {
    int64_t cols = nn_node_cols(n), rows = nn_node_rows(e, n);
    const float *x = IN_VALUE(e, n, 0), *b = IN_VALUE(e, n, 1);
    float *y = OUT_VALUE(e, n);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) y[i * cols + j] = x[i * cols + j] + b[j];
}

NN_VECTOR_LOOPS static void column_sums(float *restrict db, const float *restrict dy, int64_t rows, int64_t cols,
                                        bool assign) {
    if (assign) memset(db, 0, (size_t)cols * sizeof *db);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) db[j] += dy[i * cols + j];
}

/* Exported through a plain function: clang resolves a target_clones function only where its
 * definition is seen. */
void nn_bias_grad(float *restrict db, const float *restrict dy, int64_t rows, int64_t cols, bool assign) {
    column_sums(db, dy, rows, cols, assign);
}

NN_VECTOR_LOOPS static void bias_add_backward(const nn_exec *e, const nn_node *n) {
    int64_t cols = nn_node_cols(n), rows = nn_node_rows(e, n);
    const float *dy = OUT_GRAD(e, n);
    float *dx = IN_GRAD(e, n, 0), *db = IN_GRAD(e, n, 1);
    if (dx)
        for (int64_t i = 0; i < rows * cols; i++) dx[i] += dy[i];
    if (db) nn_bias_grad(db, dy, rows, cols, false);
}

const nn_op_def nn_op_bias_add = { .name = "bias_add", .shape = bias_add_shape, .forward = bias_add_forward,
                                   .backward = bias_add_backward };

/* ---- dense: act(x . w + b), inputs (x, w) or (x, w, b); attr.ptr: the activation, NULL for
 * linear, one with scale_by_derivative (its derivative from the output alone). The bias and a
 * ReLU are applied by the GEMM as it stores y; other activations then run over y in place.
 * The same float operations as matmul, bias_add and activation one after the other, so the
 * same values, with one buffer instead of three and no passes between them. */

static int dense_shape(const nn_graph *g, nn_node *n) {
    int status = matmul_shape(g, n);
    const nn_node *b = n->ninputs > 2 ? &g->nodes[n->inputs[2]] : NULL;
    if (!status && b && (b->ndim != 1 || b->shape[0] != n->shape[n->ndim - 1])) {
        char ys[96], bs[96];
        return nn_error(NN_ERR_SHAPE, "layer '%s': dense: the bias length must equal the output's last dimension: %s and %s",
                        n->where ? n->where : "?", nn_node_shape_str(n, ys, sizeof ys), nn_node_shape_str(b, bs, sizeof bs));
    }
    const nn_activation_def *act = n->attr.ptr;
    NN_ASSERT(!act || act->scale_by_derivative);
    return status;
}

static void dense_forward(const nn_exec *e, const nn_node *n) {
    const nn_activation_def *act = n->attr.ptr;
    nn_gemm_epilogue epilogue = { n->ninputs > 2 ? IN_VALUE(e, n, 2) : NULL, act && act->relu };
    matmul_into(e, n, &epilogue);
    float *y = OUT_VALUE(e, n);
    if (act && !act->relu) act->forward(y, y, nn_node_rows(e, n), nn_node_cols(n));
}

/* The output's gradient becomes dz = dy * act'(z) in place (nothing reads dy after this
 * node's backward), then the bias, input and kernel gradients as bias_add's and matmul's. */
static void dense_backward(const nn_exec *e, const nn_node *n) {
    const nn_activation_def *act = n->attr.ptr;
    int64_t cols = nn_node_cols(n), rows = nn_node_rows(e, n);
    float *dz = OUT_GRAD(e, n), *db = n->ninputs > 2 ? IN_GRAD(e, n, 2) : NULL;
    if (act) act->scale_by_derivative(dz, OUT_VALUE(e, n), rows, cols);
    if (db) nn_bias_grad(db, dz, rows, cols, nn_grad_is_first(e, n, 2));
    matmul_grads(e, n, dz);
}

const nn_op_def nn_op_dense = { .name = "dense", .shape = dense_shape, .forward = dense_forward,
                                .backward = dense_backward };
