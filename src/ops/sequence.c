/* Sequence ops: embedding (a table lookup), Keras masks (sequence_mask, apply_mask,
 * masked_average), time-axis moves (time_slice, reverse_time, fold_time, unfold_time)
 * along the last axis. Attributes: src/ops/recurrent.h. */
#include "ops/recurrent.h"
#include "ops/ops.h"

/* Copies dst += or = src over n floats. */
static void put(float *dst, const float *src, int64_t n, bool add) {
    if (add)
        for (int64_t i = 0; i < n; i++) dst[i] += src[i];
    else
        memcpy(dst, src, (size_t)n * sizeof *dst);
}

/* ------------------------------------------------------------------ embedding */

/* ids (None, ...) and a table (input_dim, output_dim) -> (None, ..., output_dim). */
static int embedding_shape(const nn_graph *g, nn_node *n) {
    const nn_node *ids = &g->nodes[n->inputs[0]], *table = &g->nodes[n->inputs[1]];
    if (!ids->batched || table->batched || table->ndim != 2)
        return nn_shape_error(g, n, "expected batched ids and a (input_dim, output_dim) table:");
    if (ids->ndim + 1 > NN_MAX_DIMS) return nn_shape_error(g, n, "the ids' rank is too large:");
    nn_shape_like(g, n, 0);
    n->shape[n->ndim++] = table->shape[1];
    return NN_OK;
}

/* The table row of an id given as a float, as Keras: cast to an integer by truncation, a
 * negative id counted from the end (take's "fill" of negative indices); -1 for an id outside
 * [-input_dim, input_dim) (or NaN), which Keras rejects at run time: nn's ops cannot fail while
 * running, so such an id reads zeros and trains nothing. */
static int64_t embedding_row(float id, int64_t input_dim) {
    if (!(id > (float)(-input_dim - 1) && id < (float)input_dim)) return -1;
    int64_t row = (int64_t)id;
    if (row < -input_dim || row >= input_dim) return -1; /* the float bounds round for large input_dim */
    return row < 0 ? row + input_dim : row;
}

static void embedding_forward(const nn_exec *e, const nn_node *n) {
    const nn_node *table = IN_NODE(e, n, 1);
    int64_t dim = table->shape[1], count = nn_node_size(e, IN_NODE(e, n, 0));
    const float *ids = IN_VALUE(e, n, 0), *w = IN_VALUE(e, n, 1);
    float *y = OUT_VALUE(e, n);
    for (int64_t i = 0; i < count; i++) {
        int64_t row = embedding_row(ids[i], table->shape[0]);
        if (row < 0) memset(y + i * dim, 0, (size_t)dim * sizeof *y);
        else memcpy(y + i * dim, w + row * dim, (size_t)dim * sizeof *y);
    }
}

/* The table's gradient only: ids are indices, with no gradient of their own. */
static void embedding_backward(const nn_exec *e, const nn_node *n) {
    const nn_node *table = IN_NODE(e, n, 1);
    float *dw = IN_GRAD(e, n, 1);
    if (!dw) return;
    int64_t dim = table->shape[1], count = nn_node_size(e, IN_NODE(e, n, 0));
    const float *ids = IN_VALUE(e, n, 0), *dy = OUT_GRAD(e, n);
    for (int64_t i = 0; i < count; i++) {
        int64_t row = embedding_row(ids[i], table->shape[0]);
        if (row >= 0) put(dw + row * dim, dy + i * dim, dim, true);
    }
}

const nn_op_def nn_op_embedding = { .name = "embedding", .shape = embedding_shape, .forward = embedding_forward,
                                    .backward = embedding_backward };

/* ------------------------------------------------------------------ masks */

/* 1 where kept, 0 where masked; no gradient flows through a mask. */
static int sequence_mask_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    bool any = n->attr.shape[NN_MASK_ANY_FEATURE] != 0;
    if (!x->batched || x->ndim < (any ? 2 : 1)) return nn_shape_error(g, n, "expected a batched input with a feature axis, got");
    nn_shape_like(g, n, 0);
    if (any) n->ndim--;
    n->needs_grad = false;
    return NN_OK;
}

static void sequence_mask_forward(const nn_exec *e, const nn_node *n) {
    const nn_node *x = IN_NODE(e, n, 0);
    bool any = n->attr.shape[NN_MASK_ANY_FEATURE] != 0;
    int64_t cols = any ? nn_node_cols(x) : 1, rows = nn_node_size(e, x) / cols;
    const float *v = IN_VALUE(e, n, 0), value = (float)n->attr.f[0];
    float *m = OUT_VALUE(e, n);
    for (int64_t r = 0; r < rows; r++) {
        bool keep = false;
        for (int64_t j = 0; j < cols && !keep; j++) keep = v[r * cols + j] != value;
        m[r] = keep ? 1.0f : 0.0f;
    }
}

const nn_op_def nn_op_sequence_mask = { .name = "sequence_mask", .shape = sequence_mask_shape,
                                        .forward = sequence_mask_forward };

/* x (None, ..., F) and a mask (None, ...): y = x where the mask keeps the row, else 0. */
static int apply_mask_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]], *m = &g->nodes[n->inputs[1]];
    bool ok = x->batched && m->batched && m->ndim == x->ndim - 1;
    for (int i = 1; ok && i < m->ndim; i++) ok = m->shape[i] == x->shape[i];
    if (!ok) return nn_shape_error(g, n, "the mask must be the input's shape without its last axis:");
    nn_shape_like(g, n, 0);
    return NN_OK;
}

static void apply_mask_run(const nn_exec *e, const nn_node *n, bool forward) {
    int64_t cols = nn_node_cols(n), rows = nn_node_rows(e, n);
    const float *m = IN_VALUE(e, n, 1), *in = forward ? IN_VALUE(e, n, 0) : OUT_GRAD(e, n);
    float *out = forward ? OUT_VALUE(e, n) : IN_GRAD(e, n, 0);
    if (!out) return;
    for (int64_t r = 0; r < rows; r++) {
        if (m[r] != 0.0f) put(out + r * cols, in + r * cols, cols, !forward);
        else if (forward) memset(out + r * cols, 0, (size_t)cols * sizeof *out);
    }
}

static void apply_mask_forward(const nn_exec *e, const nn_node *n) { apply_mask_run(e, n, true); }
static void apply_mask_backward(const nn_exec *e, const nn_node *n) { apply_mask_run(e, n, false); }

const nn_op_def nn_op_apply_mask = { .name = "apply_mask", .shape = apply_mask_shape, .forward = apply_mask_forward,
                                     .backward = apply_mask_backward };

/* x (None, T, C) and a mask (None, T) -> (None, C): the mean over the kept steps (Keras's
 * GlobalAveragePooling1D with a mask; 0/0 when every step is masked, as Keras). */
static int masked_average_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]], *m = &g->nodes[n->inputs[1]];
    if (!x->batched || x->ndim != 3 || !m->batched || m->ndim != 2 || m->shape[1] != x->shape[1])
        return nn_shape_error(g, n, "expected an input (batch, steps, channels) and a mask (batch, steps):");
    nn_shape_like(g, n, 0);
    n->ndim = 2;
    n->shape[1] = x->shape[2];
    return NN_OK;
}

static float kept_steps(const float *m, int64_t steps) {
    float count = 0.0f;
    for (int64_t t = 0; t < steps; t++) count += m[t] != 0.0f;
    return count;
}

static void masked_average_forward(const nn_exec *e, const nn_node *n) {
    const nn_node *x = IN_NODE(e, n, 0);
    int64_t steps = x->shape[1], c = x->shape[2], batch = nn_node_batch(e, n);
    const float *v = IN_VALUE(e, n, 0), *m = IN_VALUE(e, n, 1);
    float *y = OUT_VALUE(e, n);
    for (int64_t b = 0; b < batch; b++) {
        float *yb = y + b * c;
        memset(yb, 0, (size_t)c * sizeof *yb);
        for (int64_t t = 0; t < steps; t++)
            if (m[b * steps + t] != 0.0f) put(yb, v + (b * steps + t) * c, c, true);
        float count = kept_steps(m + b * steps, steps);
        for (int64_t j = 0; j < c; j++) yb[j] /= count;
    }
}

static void masked_average_backward(const nn_exec *e, const nn_node *n) {
    const nn_node *x = IN_NODE(e, n, 0);
    int64_t steps = x->shape[1], c = x->shape[2], batch = nn_node_batch(e, n);
    const float *dy = OUT_GRAD(e, n), *m = IN_VALUE(e, n, 1);
    float *dx = IN_GRAD(e, n, 0);
    for (int64_t b = 0; dx && b < batch; b++) {
        float count = kept_steps(m + b * steps, steps);
        for (int64_t t = 0; t < steps; t++) {
            if (m[b * steps + t] == 0.0f) continue;
            float *d = dx + (b * steps + t) * c;
            for (int64_t j = 0; j < c; j++) d[j] += dy[b * c + j] / count;
        }
    }
}

const nn_op_def nn_op_masked_average = { .name = "masked_average", .shape = masked_average_shape,
                                         .forward = masked_average_forward, .backward = masked_average_backward };

/* ------------------------------------------------------------------ time axis */

/* Floats per time step (everything after axis 1). */
static int64_t step_size(const nn_node *x) { return x->inner / x->shape[1]; }

static int time_slice_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    const int64_t *a = n->attr.shape;
    if (!x->batched || x->ndim < 3 || a[NN_SLICE_START] < 0 || a[NN_SLICE_COUNT] < 1 ||
        a[NN_SLICE_START] + a[NN_SLICE_COUNT] > x->shape[1] || (a[NN_SLICE_SQUEEZE] && a[NN_SLICE_COUNT] != 1))
        return nn_shape_error(g, n, "the slice does not fit the input's axis 1:");
    nn_shape_like(g, n, 0);
    if (a[NN_SLICE_SQUEEZE]) {
        memmove(n->shape + 1, n->shape + 2, (size_t)(n->ndim - 2) * sizeof *n->shape);
        n->ndim--;
    } else {
        n->shape[1] = a[NN_SLICE_COUNT];
    }
    return NN_OK;
}

static void time_slice_run(const nn_exec *e, const nn_node *n, bool forward) {
    const nn_node *x = IN_NODE(e, n, 0);
    int64_t step = step_size(x), taken = n->attr.shape[NN_SLICE_COUNT] * step, offset = n->attr.shape[NN_SLICE_START] * step;
    float *whole = forward ? IN_VALUE(e, n, 0) : IN_GRAD(e, n, 0), *part = forward ? OUT_VALUE(e, n) : OUT_GRAD(e, n);
    if (!whole) return;
    for (int64_t b = 0, batch = nn_node_batch(e, n); b < batch; b++) {
        float *w = whole + b * x->inner + offset, *p = part + b * taken;
        if (forward) put(p, w, taken, false);
        else put(w, p, taken, true);
    }
}

static void time_slice_forward(const nn_exec *e, const nn_node *n) { time_slice_run(e, n, true); }
static void time_slice_backward(const nn_exec *e, const nn_node *n) { time_slice_run(e, n, false); }

const nn_op_def nn_op_time_slice = { .name = "time_slice", .shape = time_slice_shape, .forward = time_slice_forward,
                                     .backward = time_slice_backward };

static int reverse_time_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    if (!x->batched || x->ndim < 3) return nn_shape_error(g, n, "expected an input (batch, steps, ...), got");
    nn_shape_like(g, n, 0);
    return NN_OK;
}

/* Its own inverse: backward reverses the gradient the same way. */
static void reverse_time_run(const nn_exec *e, const nn_node *n, const float *in, float *out, bool add) {
    int64_t steps = n->shape[1], step = step_size(n);
    for (int64_t b = 0, batch = nn_node_batch(e, n); out && b < batch; b++)
        for (int64_t t = 0; t < steps; t++) put(out + (b * steps + t) * step, in + (b * steps + steps - 1 - t) * step, step, add);
}

static void reverse_time_forward(const nn_exec *e, const nn_node *n) {
    reverse_time_run(e, n, IN_VALUE(e, n, 0), OUT_VALUE(e, n), false);
}
static void reverse_time_backward(const nn_exec *e, const nn_node *n) {
    reverse_time_run(e, n, OUT_GRAD(e, n), IN_GRAD(e, n, 0), true);
}

const nn_op_def nn_op_reverse_time = { .name = "reverse_time", .shape = reverse_time_shape,
                                       .forward = reverse_time_forward, .backward = reverse_time_backward };

/* fold_time: (None, T, ...) -> (None, ...) with T times the rows per sample; unfold_time (attr:
 * T) undoes it. The values keep their order, so both are copies. */
static int fold_time_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    if (!x->batched || x->ndim < 3) return nn_shape_error(g, n, "expected an input (batch, steps, ...), got");
    nn_shape_like(g, n, 0);
    memmove(n->shape + 1, n->shape + 2, (size_t)(n->ndim - 2) * sizeof *n->shape);
    n->ndim--;
    n->fold = x->fold * x->shape[1];
    return NN_OK;
}

static int unfold_time_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    int64_t steps = n->attr.shape[NN_UNFOLD_STEPS];
    if (!x->batched || x->ndim + 1 > NN_MAX_DIMS || steps < 1 || x->fold % steps != 0)
        return nn_shape_error(g, n, "the input's batch axis does not hold the folded steps:");
    nn_shape_like(g, n, 0);
    memmove(n->shape + 2, n->shape + 1, (size_t)(n->ndim - 1) * sizeof *n->shape);
    n->shape[1] = steps;
    n->ndim++;
    n->fold = x->fold / steps;
    return NN_OK;
}

static void copy_forward(const nn_exec *e, const nn_node *n) {
    put(OUT_VALUE(e, n), IN_VALUE(e, n, 0), nn_node_size(e, n), false);
}

static void copy_backward(const nn_exec *e, const nn_node *n) {
    float *dx = IN_GRAD(e, n, 0);
    if (dx) put(dx, OUT_GRAD(e, n), nn_node_size(e, n), true);
}

const nn_op_def nn_op_fold_time = { .name = "fold_time", .shape = fold_time_shape, .forward = copy_forward,
                                    .backward = copy_backward };
const nn_op_def nn_op_unfold_time = { .name = "unfold_time", .shape = unfold_time_shape, .forward = copy_forward,
                                      .backward = copy_backward };

