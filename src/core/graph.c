/* Graph building, the liveness memory plan and the forward/backward executor. */
#include "core/graph.h"

#include <stdio.h>

/* Arena buffers start on 64-byte boundaries (16 floats) so kernels can use aligned loads. */
#define NN_ALIGN_FLOATS 16

static int64_t shape_product(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void nn_graph_free(nn_graph *g) {
    if (!g) return;
    nn_free(g->nodes);
    *g = (nn_graph){ 0 };
}

static nn_node *graph_push(nn_graph *g) {
    if (g->count == g->cap) {
        int cap = g->cap ? g->cap * 2 : 32;
        nn_node *nodes = nn_realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return NULL;
        g->nodes = nodes;
        g->cap = cap;
    }
    nn_node *n = &g->nodes[g->count];
    *n = (nn_node){ .var = -1, .grad_zero_by = -1, .mask = -1, .fold = 1 };
    return n;
}

int nn_graph_input(nn_graph *g, int ndim, const int64_t *sample_shape, const char *where) {
    if (ndim + 1 > NN_MAX_DIMS) return nn_error(NN_ERR_SHAPE, "%s: input rank %d is too large", where, ndim);
    nn_node *n = graph_push(g);
    if (!n) return NN_ERR_NOMEM;
    n->op = NN_OP_INPUT;
    n->batched = true;
    n->ndim = ndim + 1;
    n->shape[0] = -1;
    for (int i = 0; i < ndim; i++) n->shape[i + 1] = sample_shape[i];
    n->inner = shape_product(ndim, sample_shape);
    n->where = where;
    return g->count++;
}

int nn_graph_param(nn_graph *g, int var, int ndim, const int64_t *shape, bool trainable, const char *where) {
    nn_node *n = graph_push(g);
    if (!n) return NN_ERR_NOMEM;
    n->op = NN_OP_PARAM;
    n->var = var;
    n->ndim = ndim;
    for (int i = 0; i < ndim; i++) n->shape[i] = shape[i];
    n->inner = shape_product(ndim, shape);
    n->needs_grad = trainable;
    n->where = where;
    return g->count++;
}

int nn_graph_op(nn_graph *g, nn_op op, const int *inputs, int ninputs, const nn_attr *attr,
                const char *where) {
    NN_ASSERT(ninputs <= NN_MAX_OP_INPUTS && op > NN_OP_PARAM && op < NN_OP_COUNT);
    for (int i = 0; i < ninputs; i++) NN_ASSERT(inputs[i] >= 0 && inputs[i] < g->count);
    nn_node *n = graph_push(g);
    if (!n) return NN_ERR_NOMEM;
    n->op = op;
    n->ninputs = ninputs;
    int64_t fold = 0;
    for (int i = 0; i < ninputs; i++) {
        const nn_node *in = &g->nodes[inputs[i]];
        n->inputs[i] = inputs[i];
        n->needs_grad |= in->needs_grad;
        if (in->batched && fold && in->fold != fold)
            return nn_error(NN_ERR_SHAPE, "layer '%s': %s: values with and without the time axis folded into the batch cannot be combined",
                            where ? where : "?", nn_op_get(op)->name);
        if (in->batched) fold = in->fold;
    }
    n->fold = fold ? fold : 1; /* the shape rule may change it (fold_time, unfold_time) */
    if (attr) n->attr = *attr;
    n->where = where;
    int status = nn_op_get(op)->shape(g, n);
    if (status) return status;
    n->inner = shape_product(n->ndim - (n->batched ? 1 : 0), n->shape + (n->batched ? 1 : 0));
    return g->count++;
}

/* ------------------------------------------------------------------ plan */

typedef struct interval { size_t size; int start, end; size_t *offset; } interval;
typedef struct block { size_t offset, size; int end; } block;

static int compare_start(const void *a, const void *b) {
    const interval *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->size > y->size ? -1 : x->size < y->size;
}

static size_t round_up(size_t n) { return (n + NN_ALIGN_FLOATS - 1) / NN_ALIGN_FLOATS * NN_ALIGN_FLOATS; }

/* First-fit placement of intervals (sorted by start) into one arena. `live` has room for all. */
static size_t place_intervals(interval *iv, int count, block *live) {
    int nlive = 0;
    size_t top = 0;
    for (int i = 0; i < count; i++) {
        int kept = 0;
        for (int j = 0; j < nlive; j++)
            if (live[j].end >= iv[i].start) live[kept++] = live[j];
        nlive = kept;
        /* live blocks sorted by offset: find the first gap that fits */
        size_t at = 0;
        int pos = 0;
        for (; pos < nlive; pos++) {
            if (live[pos].offset >= at + iv[i].size) break;
            if (live[pos].offset + live[pos].size > at) at = live[pos].offset + live[pos].size;
        }
        memmove(&live[pos + 1], &live[pos], (size_t)(nlive - pos) * sizeof *live);
        live[pos] = (block){ at, iv[i].size, iv[i].end };
        nlive++;
        *iv[i].offset = at;
        if (at + iv[i].size > top) top = at + iv[i].size;
    }
    return top;
}

/* The node whose floats a reshape of an arena value shares (a view), or -1 for any other node:
 * the values do not change after their op's forward, so copying them would only cost. */
static int viewed_node(const nn_graph *g, const nn_node *n) {
    if (n->op != NN_OP_RESHAPE) return -1;
    const nn_node *x = &g->nodes[n->inputs[0]];
    return x->op != NN_OP_PARAM && x->batched == n->batched && x->fold == n->fold ? n->inputs[0] : -1;
}

size_t nn_plan_graph(nn_graph *g, int64_t capacity, bool training) {
    int n = g->count;
    /* Step t < n runs node t forward; step 2n-1-t runs its backward. */
    int *last_use = nn_calloc((size_t)n, sizeof *last_use), *value_end = nn_calloc((size_t)n, sizeof *value_end);
    interval *iv = nn_calloc((size_t)n * 4, sizeof *iv); /* value, aux, grad, grad scratch */
    block *live = nn_calloc((size_t)n * 4 + 1, sizeof *live);
    if (!last_use || !value_end || !iv || !live) {
        nn_free(last_use), nn_free(value_end), nn_free(iv), nn_free(live);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        last_use[i] = i;
        g->nodes[i].grad_zero_by = -1;
    }
    for (int c = 0; c < n; c++)
        for (int k = 0; k < g->nodes[c].ninputs; k++) {
            int in = g->nodes[c].inputs[k];
            if (c > last_use[in]) last_use[in] = c;
            if (c > g->nodes[in].grad_zero_by) g->nodes[in].grad_zero_by = c;
        }
    for (int i = 0; i < n; i++) {
        value_end[i] = training ? 2 * n - 1 - i : (i == n - 1 || g->nodes[i].keep ? n : last_use[i]);
        if (g->nodes[i].op == NN_OP_INPUT) value_end[i] = training ? 2 * n : n; /* filled before the pass */
    }
    /* a viewed value lives as long as its views (a view of a view comes later: hence the order) */
    for (int i = n - 1; i >= 0; i--) {
        int viewed = viewed_node(g, &g->nodes[i]);
        if (viewed >= 0 && value_end[i] > value_end[viewed]) value_end[viewed] = value_end[i];
    }
    int count = 0;
    for (int i = 0; i < n; i++) {
        nn_node *node = &g->nodes[i];
        if (node->op == NN_OP_PARAM) continue;
        int64_t rows = node->batched ? capacity * node->fold : 1;
        int end = value_end[i];
        if (viewed_node(g, node) < 0)
            iv[count++] = (interval){ round_up((size_t)(rows * node->inner)), node->op == NN_OP_INPUT ? -1 : i, end,
                                      &node->value_off };
        const nn_op_def *def = nn_op_get(node->op);
        int64_t aux = (def->aux_per_sample ? rows * def->aux_per_sample(g, node) : 0) +
                      (def->aux_fixed ? def->aux_fixed(g, node) : 0);
        /* without a backward pass the scratch serves the node's forward alone */
        if (aux) iv[count++] = (interval){ round_up((size_t)aux), i, training ? end : i, &node->aux_off };
        int64_t scratch = training && def->grad_scratch ? def->grad_scratch(g, node) : 0;
        if (scratch)
            iv[count++] = (interval){ round_up((size_t)scratch), 2 * n - 1 - i, 2 * n - 1 - i, &node->grad_scratch_off };
        if (training && node->needs_grad && node->grad_zero_by >= 0)
            iv[count++] = (interval){ round_up((size_t)(rows * node->inner)), 2 * n - 1 - node->grad_zero_by, 2 * n - 1 - i, &node->grad_off };
        else if (training && node->needs_grad && i == n - 1)
            iv[count++] = (interval){ NN_ALIGN_FLOATS, n, 2 * n - 1 - i, &node->grad_off };
    }
    qsort(iv, (size_t)count, sizeof *iv, compare_start);
    size_t size = place_intervals(iv, count, live);
    for (int i = 0; i < n; i++) {
        int viewed = viewed_node(g, &g->nodes[i]);
        if (viewed >= 0) g->nodes[i].value_off = g->nodes[viewed].value_off;
    }
    nn_free(last_use), nn_free(value_end), nn_free(iv), nn_free(live);
    return size ? size : NN_ALIGN_FLOATS;
}

/* ------------------------------------------------------------------ execution */

int64_t nn_node_batch(const nn_exec *e, const nn_node *n) { return n->batched ? e->batch * n->fold : 1; }

int64_t nn_node_size(const nn_exec *e, const nn_node *n) {
    return n->batched ? e->batch * n->fold * n->inner : n->inner;
}

int64_t nn_node_cols(const nn_node *n) {
    if (n->ndim == 0 || (n->batched && n->ndim == 1)) return 1;
    return n->shape[n->ndim - 1];
}

int64_t nn_node_rows(const nn_exec *e, const nn_node *n) {
    return nn_node_size(e, n) / nn_node_cols(n);
}

float *nn_node_value(const nn_exec *e, int i) {
    const nn_node *n = &e->graph->nodes[i];
    return n->op == NN_OP_PARAM ? e->params + n->value_off : e->arena + n->value_off;
}

float *nn_node_grad(const nn_exec *e, int i) {
    const nn_node *n = &e->graph->nodes[i];
    if (!n->needs_grad) return NULL;
    return n->op == NN_OP_PARAM ? e->grads + n->grad_off : e->arena + n->grad_off;
}

float *nn_node_aux(const nn_exec *e, int i) { return e->arena + e->graph->nodes[i].aux_off; }

float *nn_node_grad_scratch(const nn_exec *e, int i) { return e->arena + e->graph->nodes[i].grad_scratch_off; }

bool nn_grad_is_first(const nn_exec *e, const nn_node *n, int k) {
    const nn_node *in = &e->graph->nodes[n->inputs[k]];
    if (in->op == NN_OP_PARAM || in->grad_zero_by != (int)(n - e->graph->nodes)) return false;
    for (int j = 0; j < n->ninputs; j++)
        if (j != k && n->inputs[j] == n->inputs[k]) return false;
    return true;
}

void nn_graph_forward(const nn_exec *e) {
    for (int i = 0; i < e->graph->count; i++) {
        const nn_node *n = &e->graph->nodes[i];
        const nn_op_def *def = nn_op_get(n->op);
        if (def->forward) def->forward(e, n);
    }
}

/* Ops whose backward assigns the grad of an input when nn_grad_is_first: writing the product
 * instead of adding it to zeros saves a pass over the grad. */
static bool assigns_first_grads(nn_op op) { return op == NN_OP_MATMUL || op == NN_OP_DENSE; }

void nn_graph_backward(const nn_exec *e) {
    const nn_graph *g = e->graph;
    if (!g->count || !g->nodes[g->count - 1].needs_grad) return;
    *nn_node_grad(e, g->count - 1) = 1.0f;
    for (int i = g->count - 1; i >= 0; i--) {
        const nn_node *n = &g->nodes[i];
        /* a node whose output reaches no loss has no gradient buffer */
        bool reached = n->grad_zero_by >= 0 || i == g->count - 1;
        if (!n->needs_grad || n->op == NN_OP_PARAM || !reached) continue;
        for (int k = 0; k < n->ninputs; k++) {
            const nn_node *in = &g->nodes[n->inputs[k]];
            if (in->needs_grad && in->op != NN_OP_PARAM && in->grad_zero_by == i &&
                !(assigns_first_grads(n->op) && nn_grad_is_first(e, n, k)))
                memset(nn_node_grad(e, n->inputs[k]), 0, (size_t)nn_node_size(e, in) * sizeof(float));
        }
        const nn_op_def *def = nn_op_get(n->op);
        if (def->backward) def->backward(e, n);
    }
}

char *nn_node_shape_str(const nn_node *n, char *buf, size_t size) {
    return nn_shape_str(n->ndim, n->shape, buf, size);
}
