/* The op table (generated from ops.def), the data-carrying ops and shared shape helpers. */
#include "ops/ops.h"

#include <stdio.h>

static const nn_op_def *const op_table[NN_OP_COUNT] = {
#define NN_OP(id, name, def) [NN_OP_##id] = &def,
#include "ops/ops.def"
#undef NN_OP
};

const nn_op_def *nn_op_get(nn_op op) { return op_table[op]; }

/* Inputs are filled by the caller before a pass; parameters live in the parameter block. */
const nn_op_def nn_op_input = { .name = "input" };
const nn_op_def nn_op_param = { .name = "param" };

void nn_shape_like(const nn_graph *g, nn_node *n, int i) {
    const nn_node *in = &g->nodes[n->inputs[i]];
    n->batched = in->batched;
    n->ndim = in->ndim;
    memcpy(n->shape, in->shape, sizeof n->shape);
}

int nn_shape_error(const nn_graph *g, const nn_node *n, const char *what) {
    char a[96], b[96] = "";
    nn_node_shape_str(&g->nodes[n->inputs[0]], a, sizeof a);
    if (n->ninputs > 1) nn_node_shape_str(&g->nodes[n->inputs[1]], b, sizeof b);
    return nn_error(NN_ERR_SHAPE, "layer '%s': %s: %s %s%s%s", n->where ? n->where : "?",
                    nn_op_get(n->op)->name, what, a, n->ninputs > 1 ? " and " : "", b);
}
