/* The fused loss op: per-row losses (attr.ptr: nn_loss) of predictions against targets.
 * pred (..., cols) and truth (..., cols) or (..., 1) for class indices -> (...). */
#include "ops/ops.h"

static int64_t truth_cols(const nn_node *n, int64_t cols) {
    const nn_loss *loss = n->attr.ptr;
    return loss->def->target == NN_TARGET_CLASS_INDEX ? 1 : cols;
}

static int loss_shape(const nn_graph *g, nn_node *n) {
    const nn_node *pred = &g->nodes[n->inputs[0]], *truth = &g->nodes[n->inputs[1]];
    const nn_loss *loss = n->attr.ptr;
    int64_t cols = nn_node_cols(pred);
    if (truth->inner * cols != pred->inner * truth_cols(n, cols)) {
        char a[96], b[96];
        return nn_error(NN_ERR_SHAPE, "loss %s: targets of shape %s do not fit predictions of shape %s%s",
                        loss->def->name, nn_node_shape_str(truth, a, sizeof a),
                        nn_node_shape_str(pred, b, sizeof b),
                        loss->def->target == NN_TARGET_CLASS_INDEX ? " (expected one class index per sample)" : "");
    }
    nn_shape_like(g, n, 0);
    n->ndim = pred->ndim > 1 ? pred->ndim - 1 : 1;
    return NN_OK;
}

static void loss_forward(const nn_exec *e, const nn_node *n) {
    const nn_loss *loss = n->attr.ptr;
    const nn_node *pred = IN_NODE(e, n, 0);
    int64_t cols = nn_node_cols(pred), rows = nn_node_rows(e, pred), tcols = truth_cols(n, cols);
    const float *p = IN_VALUE(e, n, 0), *t = IN_VALUE(e, n, 1);
    float *y = OUT_VALUE(e, n);
    for (int64_t r = 0; r < rows; r++) y[r] = (float)loss->def->forward(p + r * cols, t + r * tcols, cols, &loss->opts);
}

static void loss_backward(const nn_exec *e, const nn_node *n) {
    const nn_loss *loss = n->attr.ptr;
    const nn_node *pred = IN_NODE(e, n, 0);
    int64_t cols = nn_node_cols(pred), rows = nn_node_rows(e, pred), tcols = truth_cols(n, cols);
    const float *p = IN_VALUE(e, n, 0), *t = IN_VALUE(e, n, 1), *dy = OUT_GRAD(e, n);
    float *dp = IN_GRAD(e, n, 0);
    if (!dp) return;
    for (int64_t r = 0; r < rows; r++)
        loss->def->backward(dp + r * cols, p + r * cols, t + r * tcols, cols, &loss->opts, dy[r]);
}

const nn_op_def nn_op_loss = { .name = "loss", .shape = loss_shape, .forward = loss_forward, .backward = loss_backward };
