/* Merging and reordering ops: elementwise maximum/minimum, concatenation along an axis,
 * permutation of the per-sample axes (Keras's Permute) and repetition along a new time axis
 * (RepeatVector). */
#include "ops/ops.h"

/* Shapes equal apart from the batch dimension. */
static bool same_sample_shape(const nn_node *a, const nn_node *b) {
    bool same = a->ndim == b->ndim && a->batched == b->batched;
    for (int i = a->batched ? 1 : 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    return same;
}

/* ---- y = max(a, b) (attr.f[0] = 1) or min(a, b) (attr.f[0] = -1); ties pass the gradient to a */

static int extremum_shape(const nn_graph *g, nn_node *n) {
    if (!same_sample_shape(&g->nodes[n->inputs[0]], &g->nodes[n->inputs[1]]))
        return nn_shape_error(g, n, "inputs must have the same shape:");
    nn_shape_like(g, n, 0);
    return NN_OK;
}

/* Whether a is the one chosen over b. */
static bool picks_first(float a, float b, double sign) { return sign > 0 ? a >= b : a <= b; }

static void extremum_forward(const nn_exec *e, const nn_node *n) {
    const float *a = IN_VALUE(e, n, 0), *b = IN_VALUE(e, n, 1);
    float *y = OUT_VALUE(e, n);
    for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) y[i] = picks_first(a[i], b[i], n->attr.f[0]) ? a[i] : b[i];
}

static void extremum_backward(const nn_exec *e, const nn_node *n) {
    const float *a = IN_VALUE(e, n, 0), *b = IN_VALUE(e, n, 1), *dy = OUT_GRAD(e, n);
    float *da = IN_GRAD(e, n, 0), *db = IN_GRAD(e, n, 1);
    for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) {
        bool first = picks_first(a[i], b[i], n->attr.f[0]);
        if (first && da) da[i] += dy[i];
        if (!first && db) db[i] += dy[i];
    }
}

const nn_op_def nn_op_extremum = { .name = "extremum", .shape = extremum_shape, .forward = extremum_forward,
                                   .backward = extremum_backward };

/* ---- concatenation along axis attr.ndim (counted with the batch axis; 0 = the last axis) */

static int concat_axis(const nn_node *n, const nn_node *first) { return n->attr.ndim ? n->attr.ndim : first->ndim - 1; }

static int concat_shape(const nn_graph *g, nn_node *n) {
    const nn_node *first = &g->nodes[n->inputs[0]];
    int axis = concat_axis(n, first);
    if (axis < 1 || axis >= first->ndim) return nn_shape_error(g, n, "the concatenation axis is outside the inputs' axes:");
    nn_shape_like(g, n, 0);
    for (int k = 1; k < n->ninputs; k++) {
        const nn_node *x = &g->nodes[n->inputs[k]];
        bool fits = x->ndim == first->ndim && x->batched == first->batched;
        for (int i = 1; fits && i < x->ndim; i++) fits = i == axis || x->shape[i] == first->shape[i];
        if (!fits) return nn_shape_error(g, n, "inputs must match except along the concatenation axis:");
        n->shape[axis] += x->shape[axis];
    }
    return NN_OK;
}

/* Elements of one slab (the axis and everything after it) of input k, and rows before the axis. */
static int64_t slab(const nn_node *x, int axis) {
    int64_t size = 1;
    for (int i = axis; i < x->ndim; i++) size *= x->shape[i];
    return size;
}

static void concat_move(const nn_exec *e, const nn_node *n, bool forward) {
    int axis = concat_axis(n, IN_NODE(e, n, 0));
    int64_t out_slab = slab(n, axis), rows = nn_node_size(e, n) / out_slab;
    float *y = forward ? OUT_VALUE(e, n) : OUT_GRAD(e, n);
    for (int64_t offset = 0, k = 0; k < n->ninputs; k++) {
        int64_t in_slab = slab(IN_NODE(e, n, k), axis);
        float *x = forward ? IN_VALUE(e, n, k) : IN_GRAD(e, n, k);
        for (int64_t r = 0; x && r < rows; r++) {
            float *dst = y + r * out_slab + offset, *src = x + r * in_slab;
            if (forward) memcpy(dst, src, (size_t)in_slab * sizeof *dst);
            else
                for (int64_t i = 0; i < in_slab; i++) src[i] += dst[i];
        }
        offset += in_slab;
    }
}

static void concat_forward(const nn_exec *e, const nn_node *n) { concat_move(e, n, true); }
static void concat_backward(const nn_exec *e, const nn_node *n) { concat_move(e, n, false); }

const nn_op_def nn_op_concat = { .name = "concat", .shape = concat_shape, .forward = concat_forward,
                                 .backward = concat_backward };

/* ---- permutation of the per-sample axes: attr.shape[i] is the input axis (1-based, as
 * Keras's dims) that output axis i + 1 takes */

static int permute_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    bool seen[NN_MAX_DIMS] = { false };
    if (!x->batched || n->attr.ndim != x->ndim - 1) return nn_shape_error(g, n, "dims must name every axis but the batch of input");
    for (int i = 0; i < n->attr.ndim; i++) {
        int64_t d = n->attr.shape[i];
        if (d < 1 || d >= x->ndim || seen[d]) return nn_shape_error(g, n, "dims must be a permutation of 1..rank of input");
        seen[d] = true;
    }
    nn_shape_like(g, n, 0);
    for (int i = 0; i < n->attr.ndim; i++) n->shape[i + 1] = x->shape[n->attr.shape[i]];
    return NN_OK;
}

/* Input strides (per sample) of each output axis. */
static void permute_strides(const nn_node *x, const nn_node *n, int64_t *stride) {
    int64_t in_stride[NN_MAX_DIMS];
    in_stride[x->ndim - 1] = 1;
    for (int i = x->ndim - 2; i >= 1; i--) in_stride[i] = in_stride[i + 1] * x->shape[i + 1];
    for (int i = 0; i < n->attr.ndim; i++) stride[i] = in_stride[n->attr.shape[i]];
}

static void permute_move(const nn_exec *e, const nn_node *n, bool forward) {
    const nn_node *x = IN_NODE(e, n, 0);
    float *in = forward ? IN_VALUE(e, n, 0) : IN_GRAD(e, n, 0), *out = forward ? OUT_VALUE(e, n) : OUT_GRAD(e, n);
    if (!in) return;
    int64_t stride[NN_MAX_DIMS], index[NN_MAX_DIMS] = { 0 }, per_sample = n->inner;
    int dims = n->attr.ndim;
    permute_strides(x, n, stride);
    for (int64_t s = 0, samples = nn_node_size(e, n) / per_sample; s < samples; s++) {
        const int64_t base = s * per_sample;
        int64_t from = 0;
        memset(index, 0, sizeof index);
        for (int64_t i = 0; i < per_sample; i++) {
            if (forward) out[base + i] = in[base + from];
            else in[base + from] += out[base + i];
            for (int d = dims - 1; d >= 0; d--) { /* odometer over the output's axes */
                from += stride[d];
                if (++index[d] < n->shape[d + 1]) break;
                from -= stride[d] * n->shape[d + 1];
                index[d] = 0;
            }
        }
    }
}

static void permute_forward(const nn_exec *e, const nn_node *n) { permute_move(e, n, true); }
static void permute_backward(const nn_exec *e, const nn_node *n) { permute_move(e, n, false); }

const nn_op_def nn_op_permute = { .name = "permute", .shape = permute_shape, .forward = permute_forward,
                                  .backward = permute_backward };

/* ---- (None, d) -> (None, attr.shape[0], d): each sample's vector repeated */

static int repeat_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    if (!x->batched || x->ndim != 2 || n->attr.shape[0] < 1) return nn_shape_error(g, n, "needs an input of shape (batch, features):");
    n->batched = true;
    n->ndim = 3;
    n->shape[0] = -1, n->shape[1] = n->attr.shape[0], n->shape[2] = x->shape[1];
    return NN_OK;
}

static void repeat_forward(const nn_exec *e, const nn_node *n) {
    const float *x = IN_VALUE(e, n, 0);
    float *y = OUT_VALUE(e, n);
    int64_t times = n->shape[1], d = n->shape[2], samples = nn_node_size(e, n) / n->inner;
    for (int64_t s = 0; s < samples; s++)
        for (int64_t t = 0; t < times; t++) memcpy(y + (s * times + t) * d, x + s * d, (size_t)d * sizeof *y);
}

static void repeat_backward(const nn_exec *e, const nn_node *n) {
    const float *dy = OUT_GRAD(e, n);
    float *dx = IN_GRAD(e, n, 0);
    int64_t times = n->shape[1], d = n->shape[2], samples = nn_node_size(e, n) / n->inner;
    for (int64_t s = 0; dx && s < samples; s++)
        for (int64_t t = 0; t < times; t++)
            for (int64_t i = 0; i < d; i++) dx[s * d + i] += dy[(s * times + t) * d + i];
}

const nn_op_def nn_op_repeat = { .name = "repeat", .shape = repeat_shape, .forward = repeat_forward,
                                 .backward = repeat_backward };
