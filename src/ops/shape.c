/* Shape ops: reshape (and flatten, a reshape to one dimension). The plan makes a reshape of an
 * arena value a view of its input's floats (nn_plan_graph); a reshaped parameter is copied. */
#include "ops/ops.h"

#include <stdio.h>

/* attr.shape/ndim: the per-sample target shape; one entry may be -1 (inferred). */
static int reshape_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    int64_t known = 1, per_sample = x->inner;
    int infer_at = -1;
    for (int i = 0; i < n->attr.ndim; i++) {
        if (n->attr.shape[i] == -1 && infer_at < 0) infer_at = i;
        else if (n->attr.shape[i] <= 0) return nn_shape_error(g, n, "target dimensions must be positive (one may be -1); input");
        else known *= n->attr.shape[i];
    }
    int64_t inferred = infer_at >= 0 && known > 0 ? per_sample / known : 1;
    if ((infer_at >= 0 ? known * inferred : known) != per_sample) {
        char from[96], to[160];
        size_t used = (size_t)snprintf(to, sizeof to, "(");
        for (int i = 0; i < n->attr.ndim && used < sizeof to; i++) /* keeps -1 visible, unlike nn_shape_str */
            used += (size_t)snprintf(to + used, sizeof to - used, "%s%lld", i ? ", " : "", (long long)n->attr.shape[i]);
        if (used < sizeof to) snprintf(to + used, sizeof to - used, n->attr.ndim == 1 ? ",)" : ")");
        return nn_error(NN_ERR_SHAPE, "layer '%s': cannot reshape %s (%lld values per sample) to %s",
                        n->where ? n->where : "?", nn_node_shape_str(x, from, sizeof from),
                        (long long)per_sample, to);
    }
    if (n->attr.ndim + 1 > NN_MAX_DIMS) return nn_shape_error(g, n, "target rank too large for input");
    /* a batched input keeps its batch axis in front of the target shape */
    int lead = x->batched ? 1 : 0;
    n->batched = x->batched;
    n->ndim = n->attr.ndim + lead;
    n->shape[0] = -1;
    for (int i = 0; i < n->attr.ndim; i++) n->shape[i + lead] = i == infer_at ? inferred : n->attr.shape[i];
    return NN_OK;
}

static void reshape_forward(const nn_exec *e, const nn_node *n) {
    float *y = OUT_VALUE(e, n);
    const float *x = IN_VALUE(e, n, 0);
    if (y != x) memcpy(y, x, (size_t)nn_node_size(e, n) * sizeof(float));
}

NN_VECTOR_LOOPS static void reshape_backward(const nn_exec *e, const nn_node *n) {
    const float *dy = OUT_GRAD(e, n);
    float *dx = IN_GRAD(e, n, 0);
    if (dx)
        for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) dx[i] += dy[i];
}

const nn_op_def nn_op_reshape = { .name = "reshape", .shape = reshape_shape, .forward = reshape_forward,
                                  .backward = reshape_backward };
