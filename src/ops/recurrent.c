/* Recurrent ops: simple_rnn, lstm and gru, each a whole recurrence over every time step in one
 * op with exact backpropagation through time (inputs and attributes: src/ops/recurrent.h).
 *
 * The input projection x . kernel arrives precomputed (one large GEMM made by the layer), so a
 * step here is one GEMM of the batch's previous states by the recurrent kernel, then the gates,
 * with Keras's formulas and gate order. Forward keeps in scratch what backward needs: every
 * state and every gate before and after its activation. Backward walks the steps in reverse and
 * writes each step's recurrent gate gradients over that step's pre-activations, so that the
 * recurrent kernel's gradient is one GEMM over all steps at the end. Masked steps keep the
 * previous state (and output it again, or zeros with zero_output_for_mask), as Keras; their
 * gradients pass straight through to the step before.
 *
 * Scratch for a batch of B samples (floats):
 *   h     (T+1, B, U)  the state before each step, then the one after the last
 *   c     (T+1, B, U)  LSTM's carry, likewise
 *   pre   (T, B, G*U)  gate pre-activations, gate-major per step: G blocks of (B, U), so that an
 *                      activation runs over a whole gate at once (softmax per unit row, as Keras)
 *   post  (T, B, G*U)  their activations, likewise
 *   extra (T, B, U)    LSTM: act(c); GRU: the recurrent h projection (reset_after) or r * h_prev
 *   work  3 B G U + 4 B U
 * with steps in processing order (reversed input time with go_backwards). */
#include "ops/recurrent.h"
#include "ops/ops.h"
#include "kernels/kernels.h"

typedef struct rnn {
    nn_op kind;
    int64_t batch, steps, units, gates, width; /* width = gates * units */
    int64_t rows;                              /* output rows per sample */
    int flags;
    const nn_activation_def *act, *ract;
    const float *xw, *kernel, *bias_in, *bias_rec, *mask;
    float *h, *c, *pre, *post, *extra, *work;
    nn_threads *threads;
} rnn;

static int64_t gates_of(nn_op kind) { return kind == NN_OP_LSTM ? 4 : kind == NN_OP_GRU ? 3 : 1; }
static int states_of(nn_op kind) { return kind == NN_OP_LSTM ? 2 : 1; }
static bool has_extra(nn_op kind) { return kind != NN_OP_SIMPLE_RNN; }

/* ------------------------------------------------------------------ shape and scratch */

static int64_t output_rows(const nn_node *n, int64_t steps) {
    int flags = (int)n->attr.shape[NN_RNN_FLAGS];
    return (flags & NN_RNN_RETURN_SEQUENCES ? steps : 1) + (flags & NN_RNN_RETURN_STATE ? states_of(n->op) : 0);
}

static int rnn_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]], *k = &g->nodes[n->inputs[1]];
    int flags = (int)n->attr.shape[NN_RNN_FLAGS];
    size_t activations;
    nn_activation_table(&activations);
    for (int i = NN_RNN_ACTIVATION; i <= NN_RNN_RECURRENT_ACTIVATION; i++)
        if (n->attr.shape[i] < 0 || n->attr.shape[i] >= (int64_t)activations) return nn_shape_error(g, n, "unknown activation; inputs");
    int64_t gates = gates_of(n->op);
    if (!x->batched || x->ndim != 3 || k->ndim != 2 || k->shape[1] != gates * k->shape[0] || x->shape[2] != k->shape[1])
        return nn_shape_error(g, n, "expected projected inputs (batch, steps, gates * units) and a recurrent kernel (units, gates * units):");
    int64_t steps = x->shape[1], units = k->shape[0], width = k->shape[1];
    int next = 2;
    if (flags & NN_RNN_BIAS) {
        const nn_node *b = &g->nodes[n->inputs[next++]];
        bool two_rows = n->op == NN_OP_GRU && (flags & NN_RNN_RESET_AFTER);
        if (b->batched || b->ndim != (two_rows ? 2 : 1) || b->shape[b->ndim - 1] != width || (two_rows && b->shape[0] != 2))
            return nn_shape_error(g, n, "the bias must be (gates * units) or, for GRU with reset_after, (2, gates * units); inputs");
    }
    if (flags & NN_RNN_MASK) {
        const nn_node *m = &g->nodes[n->inputs[next++]];
        if (!m->batched || m->ndim != 2 || m->shape[1] != steps)
            return nn_shape_error(g, n, "the mask must be (batch, steps) for inputs");
    }
    if (n->ninputs != next) return nn_shape_error(g, n, "the inputs do not match the flags:");
    n->batched = true;
    int64_t rows = output_rows(n, steps);
    bool packed = flags & (NN_RNN_RETURN_SEQUENCES | NN_RNN_RETURN_STATE);
    n->ndim = packed ? 3 : 2;
    n->shape[0] = -1;
    n->shape[1] = packed ? rows : units;
    n->shape[2] = units;
    return NN_OK;
}

static int64_t rnn_aux(const nn_graph *g, const nn_node *n) {
    const nn_node *k = &g->nodes[n->inputs[1]];
    int64_t steps = g->nodes[n->inputs[0]].shape[1], units = k->shape[0], width = k->shape[1];
    int64_t states = (steps + 1) * units * (n->op == NN_OP_LSTM ? 2 : 1);
    return states + 2 * steps * width + (has_extra(n->op) ? steps * units : 0) + 3 * width + 4 * units;
}

static rnn rnn_of(const nn_exec *e, const nn_node *n) {
    const nn_node *x = IN_NODE(e, n, 0), *k = IN_NODE(e, n, 1);
    rnn r = { .kind = n->op, .batch = nn_node_batch(e, n), .steps = x->shape[1], .units = k->shape[0],
              .width = k->shape[1], .flags = (int)n->attr.shape[NN_RNN_FLAGS], .threads = e->threads };
    r.gates = r.width / r.units;
    r.rows = output_rows(n, r.steps);
    const nn_activation_def *table = nn_activation_table(NULL);
    r.act = &table[n->attr.shape[NN_RNN_ACTIVATION]];
    r.ract = &table[n->attr.shape[NN_RNN_RECURRENT_ACTIVATION]];
    r.xw = IN_VALUE(e, n, 0);
    r.kernel = IN_VALUE(e, n, 1);
    int next = 2;
    if (r.flags & NN_RNN_BIAS) {
        r.bias_in = IN_VALUE(e, n, next++);
        if (r.kind == NN_OP_GRU && (r.flags & NN_RNN_RESET_AFTER)) r.bias_rec = r.bias_in + r.width;
    }
    if (r.flags & NN_RNN_MASK) r.mask = IN_VALUE(e, n, next);
    int64_t b = r.batch, t = r.steps, u = r.units, w = r.width;
    r.h = nn_node_aux(e, SELF(e, n));
    r.c = r.kind == NN_OP_LSTM ? r.h + (t + 1) * b * u : NULL;
    r.pre = r.h + (t + 1) * b * u * (r.kind == NN_OP_LSTM ? 2 : 1);
    r.post = r.pre + t * b * w;
    r.extra = r.post + t * b * w;
    r.work = r.extra + (has_extra(r.kind) ? t * b * u : 0);
    return r;
}

/* ------------------------------------------------------------------ helpers */

static int64_t time_of(const rnn *r, int64_t s) { return r->flags & NN_RNN_GO_BACKWARDS ? r->steps - 1 - s : s; }
static bool kept(const rnn *r, int64_t b, int64_t t) { return !r->mask || r->mask[b * r->steps + t] != 0.0f; }

/* Gate g's (B, U) block of a gate-major step slot. */
static float *gate(const rnn *r, float *slot, int64_t g) { return slot + g * r->batch * r->units; }
static float *pre_at(const rnn *r, int64_t s) { return r->pre + s * r->batch * r->width; }
static float *post_at(const rnn *r, int64_t s) { return r->post + s * r->batch * r->width; }
static float *extra_at(const rnn *r, int64_t s) { return r->extra + s * r->batch * r->units; }
static float *state_at(const rnn *r, float *states, int64_t s) { return states + s * r->batch * r->units; }

/* z (B, G*U) = h_prev . recurrent kernel, plus the recurrent bias (GRU with reset_after). */
static void recurrent_product(const rnn *r, float *z, const float *h_prev) {
    nn_gemm(r->threads, z, h_prev, r->kernel, r->batch, r->width, r->units, false, false, false);
    for (int64_t b = 0; r->bias_rec && b < r->batch; b++)
        for (int64_t j = 0; j < r->width; j++) z[b * r->width + j] += r->bias_rec[j];
}

/* pre[g] = x_t + input bias + z over gates [g0, g1), gate-major. */
static void gather_gates(const rnn *r, float *pre, int64_t t, const float *z, int64_t g0, int64_t g1) {
    int64_t u = r->units, w = r->width;
    for (int64_t g = g0; g < g1; g++)
        for (int64_t b = 0; b < r->batch; b++) {
            const float *x = r->xw + (b * r->steps + t) * w + g * u, *zb = z + b * w + g * u;
            const float *bias = r->bias_in ? r->bias_in + g * u : NULL;
            float *p = gate(r, pre, g) + b * u;
            for (int64_t j = 0; j < u; j++) p[j] = x[j] + zb[j] + (bias ? bias[j] : 0.0f);
        }
}

/* dst (B, G*U) row-major from a gate-major slot. */
static void gates_to_rows(const rnn *r, float *dst, const float *slot) {
    int64_t u = r->units;
    for (int64_t g = 0; g < r->gates; g++)
        for (int64_t b = 0; b < r->batch; b++)
            memcpy(dst + b * r->width + g * u, slot + (g * r->batch + b) * u, (size_t)u * sizeof *dst);
}

/* The activation of gates [g0, g1) of a step (adjacent blocks run as one). */
static void activate(const rnn *r, const nn_activation_def *act, int64_t s, int64_t g0, int64_t g1) {
    int64_t n = r->batch * r->units;
    act->forward(post_at(r, s) + g0 * n, pre_at(r, s) + g0 * n, (g1 - g0) * r->batch, r->units);
}

/* gpre[g0, g1) = act'(pre, post) * gpost over those gates of step s (gate-major blocks). */
static void activate_back(const rnn *r, const nn_activation_def *act, int64_t s, float *gpre, const float *gpost,
                          int64_t g0, int64_t g1) {
    int64_t n = r->batch * r->units, off = g0 * n;
    memset(gpre + off, 0, (size_t)((g1 - g0) * n) * sizeof *gpre);
    act->backward(gpre + off, pre_at(r, s) + off, post_at(r, s) + off, gpost + off, (g1 - g0) * r->batch, r->units);
}

/* ------------------------------------------------------------------ forward steps */

/* Each writes the new state into h[s + 1] (and c[s + 1]) for every row; the driver then puts
 * back the previous state in masked rows. */

static void simple_rnn_step(const rnn *r, int64_t s, int64_t t) {
    float *z = r->work;
    recurrent_product(r, z, state_at(r, r->h, s));
    gather_gates(r, pre_at(r, s), t, z, 0, 1);
    activate(r, r->act, s, 0, 1);
    memcpy(state_at(r, r->h, s + 1), post_at(r, s), (size_t)(r->batch * r->units) * sizeof *z);
}

/* c = f * c_prev + i * act(zc); h = o * act(c). */
static void lstm_step(const rnn *r, int64_t s, int64_t t) {
    float *z = r->work, *post = post_at(r, s), *c = state_at(r, r->c, s + 1), *tc = extra_at(r, s);
    const float *c_prev = state_at(r, r->c, s);
    recurrent_product(r, z, state_at(r, r->h, s));
    gather_gates(r, pre_at(r, s), t, z, 0, 4);
    activate(r, r->ract, s, 0, 2);
    activate(r, r->act, s, 2, 3);
    activate(r, r->ract, s, 3, 4);
    const float *i = gate(r, post, 0), *f = gate(r, post, 1), *g = gate(r, post, 2), *o = gate(r, post, 3);
    int64_t n = r->batch * r->units;
    for (int64_t k = 0; k < n; k++) c[k] = f[k] * c_prev[k] + i[k] * g[k];
    r->act->forward(tc, c, r->batch, r->units);
    float *h = state_at(r, r->h, s + 1);
    for (int64_t k = 0; k < n; k++) h[k] = o[k] * tc[k];
}

/* z, r gates; hh = act(x_h + r * (h_prev . U_h + b_h)) with reset_after, else
 * act(x_h + (r * h_prev) . U_h); h = z * h_prev + (1 - z) * hh. */
static void gru_step(const rnn *r, int64_t s, int64_t t) {
    float *z = r->work, *pre = pre_at(r, s), *post = post_at(r, s), *extra = extra_at(r, s);
    const float *h_prev = state_at(r, r->h, s);
    int64_t u = r->units, w = r->width, n = r->batch * u;
    recurrent_product(r, z, h_prev);
    gather_gates(r, pre, t, z, 0, 2);
    activate(r, r->ract, s, 0, 2);
    const float *zg = gate(r, post, 0), *rg = gate(r, post, 1);
    const float *zh = z + 2 * u; /* the h columns of the recurrent product, row stride w */
    if (!(r->flags & NN_RNN_RESET_AFTER)) {
        for (int64_t k = 0; k < n; k++) extra[k] = rg[k] * h_prev[k];
        float *z2 = r->work + r->batch * w;
        nn_gemm(r->threads, z2, extra, r->kernel, r->batch, w, u, false, false, false);
        zh = z2 + 2 * u;
    }
    float *ph = gate(r, pre, 2);
    for (int64_t b = 0; b < r->batch; b++) {
        const float *x = r->xw + (b * r->steps + t) * w + 2 * u, *bias = r->bias_in ? r->bias_in + 2 * u : NULL;
        for (int64_t j = 0, k = b * u; j < u; j++, k++) {
            float rec = zh[b * w + j];
            if (r->flags & NN_RNN_RESET_AFTER) extra[k] = rec, rec *= rg[k];
            ph[k] = x[j] + rec + (bias ? bias[j] : 0.0f);
        }
    }
    activate(r, r->act, s, 2, 3);
    const float *hh = gate(r, post, 2);
    float *h = state_at(r, r->h, s + 1);
    for (int64_t k = 0; k < n; k++) h[k] = zg[k] * h_prev[k] + (1.0f - zg[k]) * hh[k];
}

/* ------------------------------------------------------------------ forward */

static void write_outputs(const rnn *r, float *out) {
    int64_t u = r->units;
    bool sequences = r->flags & NN_RNN_RETURN_SEQUENCES, zero = r->flags & NN_RNN_ZERO_OUTPUT_FOR_MASK;
    for (int64_t b = 0; b < r->batch; b++) {
        float *row = out + b * r->rows * u;
        for (int64_t s = sequences ? 0 : r->steps - 1, k = 0; s < r->steps; s++, k++) {
            const float *h = state_at(r, r->h, s + 1) + b * u;
            if (zero && !kept(r, b, time_of(r, s))) memset(row + k * u, 0, (size_t)u * sizeof *row);
            else memcpy(row + k * u, h, (size_t)u * sizeof *row);
        }
        if (!(r->flags & NN_RNN_RETURN_STATE)) continue;
        int64_t k = sequences ? r->steps : 1;
        memcpy(row + k * u, state_at(r, r->h, r->steps) + b * u, (size_t)u * sizeof *row);
        if (r->c) memcpy(row + (k + 1) * u, state_at(r, r->c, r->steps) + b * u, (size_t)u * sizeof *row);
    }
}

static void rnn_forward(const nn_exec *e, const nn_node *n) {
    rnn r = rnn_of(e, n);
    int64_t bu = r.batch * r.units;
    memset(r.h, 0, (size_t)bu * sizeof *r.h);
    if (r.c) memset(r.c, 0, (size_t)bu * sizeof *r.c);
    for (int64_t s = 0; s < r.steps; s++) {
        int64_t t = time_of(&r, s);
        if (r.kind == NN_OP_LSTM) lstm_step(&r, s, t);
        else if (r.kind == NN_OP_GRU) gru_step(&r, s, t);
        else simple_rnn_step(&r, s, t);
        for (int64_t b = 0; r.mask && b < r.batch; b++) {
            if (kept(&r, b, t)) continue;
            memcpy(state_at(&r, r.h, s + 1) + b * r.units, state_at(&r, r.h, s) + b * r.units, (size_t)r.units * sizeof *r.h);
            if (r.c) memcpy(state_at(&r, r.c, s + 1) + b * r.units, state_at(&r, r.c, s) + b * r.units, (size_t)r.units * sizeof *r.c);
        }
    }
    write_outputs(&r, OUT_VALUE(e, n));
}

/* ------------------------------------------------------------------ backward steps */

/* The gradients of one step for every row. In: gh (gc) for the state after step s. Out: ghp
 * (gcp) for the state before it, the recurrent gate gradients row-major over the step's pre
 * slot (GRU without reset_after: the h gate's part over the post slot, for (r * h_prev)^T), and
 * the return value: the input gate gradients (B, G*U) row-major (the pre slot when they are
 * the same). Scratch: w1, w2 and w3, (B, G*U) each. */
typedef struct step_grads {
    const float *gh, *gc;
    float *ghp, *gcp, *w1, *w2, *w3;
} step_grads;

static const float *simple_rnn_back(const rnn *r, int64_t s, const step_grads *d) {
    float *gpre = d->w2;
    activate_back(r, r->act, s, gpre, d->gh, 0, 1);
    memcpy(pre_at(r, s), gpre, (size_t)(r->batch * r->units) * sizeof *gpre);
    nn_gemm(r->threads, d->ghp, pre_at(r, s), r->kernel, r->batch, r->units, r->width, false, true, false);
    return pre_at(r, s);
}

static const float *lstm_back(const rnn *r, int64_t s, const step_grads *d) {
    int64_t n = r->batch * r->units;
    float *post = post_at(r, s), *gpost = d->w1, *gpre = d->w2;
    const float *i = gate(r, post, 0), *f = gate(r, post, 1), *g = gate(r, post, 2), *o = gate(r, post, 3);
    const float *tc = extra_at(r, s), *c = state_at(r, r->c, s + 1), *c_prev = state_at(r, r->c, s);
    /* the carry's gradient: gc from later steps plus act'(c) * gh * o (gpre's blocks as scratch) */
    float *gtc = gate(r, gpre, 0), *gct = gate(r, gpre, 1);
    for (int64_t k = 0; k < n; k++) gtc[k] = d->gh[k] * o[k], gct[k] = d->gc[k];
    r->act->backward(gct, c, tc, gtc, r->batch, r->units);
    float *gi = gate(r, gpost, 0), *gf = gate(r, gpost, 1), *gg = gate(r, gpost, 2), *go = gate(r, gpost, 3);
    for (int64_t k = 0; k < n; k++) {
        gi[k] = gct[k] * g[k];
        gf[k] = gct[k] * c_prev[k];
        gg[k] = gct[k] * i[k];
        go[k] = d->gh[k] * tc[k];
        d->gcp[k] = gct[k] * f[k];
    }
    activate_back(r, r->ract, s, gpre, gpost, 0, 2);
    activate_back(r, r->act, s, gpre, gpost, 2, 3);
    activate_back(r, r->ract, s, gpre, gpost, 3, 4);
    gates_to_rows(r, pre_at(r, s), gpre);
    nn_gemm(r->threads, d->ghp, pre_at(r, s), r->kernel, r->batch, r->units, r->width, false, true, false);
    return pre_at(r, s);
}

/* With reset_after, d(rec_h) = gph * r and gr = gph * rec_h; without, d(r * h_prev) comes
 * from [0, 0, gph] . U^T (built in w3), giving gr = d * h_prev and d * r towards h_prev. */
static const float *gru_back(const rnn *r, int64_t s, const step_grads *d) {
    int64_t u = r->units, w = r->width, n = r->batch * u;
    bool reset_after = r->flags & NN_RNN_RESET_AFTER;
    float *post = post_at(r, s), *gpost = d->w1, *gpre = d->w2;
    const float *zg = gate(r, post, 0), *rg = gate(r, post, 1), *hh = gate(r, post, 2);
    const float *h_prev = state_at(r, r->h, s), *extra = extra_at(r, s);
    float *gz = gate(r, gpost, 0), *gr = gate(r, gpost, 1), *ghh = gate(r, gpost, 2);
    for (int64_t k = 0; k < n; k++) {
        gz[k] = d->gh[k] * (h_prev[k] - hh[k]);
        ghh[k] = d->gh[k] * (1.0f - zg[k]);
        d->ghp[k] = d->gh[k] * zg[k];
    }
    activate_back(r, r->act, s, gpre, gpost, 2, 3);
    const float *gph = gate(r, gpre, 2);
    if (reset_after) {
        for (int64_t k = 0; k < n; k++) gr[k] = gph[k] * extra[k];
    } else {
        for (int64_t b = 0; b < r->batch; b++) {
            memset(d->w3 + b * w, 0, (size_t)(2 * u) * sizeof *d->w3);
            memcpy(d->w3 + b * w + 2 * u, gph + b * u, (size_t)u * sizeof *d->w3);
        }
        float *drh = ghh; /* ghh is spent */
        nn_gemm(r->threads, drh, d->w3, r->kernel, r->batch, u, w, false, true, false);
        for (int64_t k = 0; k < n; k++) {
            d->ghp[k] += drh[k] * rg[k];
            gr[k] = drh[k] * h_prev[k];
        }
    }
    activate_back(r, r->ract, s, gpre, gpost, 0, 2);
    /* gpost is spent: the input gradients [gz, gr, gph] go there, the recurrent ones over pre
     * (and, without reset_after, [0, 0, gph] over post, for the kernel's (r * h_prev)^T term) */
    float *gin = d->w1, *rec = pre_at(r, s);
    gates_to_rows(r, gin, gpre);
    for (int64_t b = 0; b < r->batch; b++) {
        memcpy(rec + b * w, gin + b * w, (size_t)(2 * u) * sizeof *rec);
        for (int64_t j = 0, k = b * u; j < u; j++, k++) rec[b * w + 2 * u + j] = reset_after ? gph[k] * rg[k] : 0.0f;
    }
    if (!reset_after) memcpy(post, d->w3, (size_t)(r->batch * w) * sizeof *post);
    nn_gemm(r->threads, d->ghp, rec, r->kernel, r->batch, u, w, false, true, true);
    return gin;
}

/* ------------------------------------------------------------------ backward */

/* Gradients of the outputs that read the last state: the last output row, the returned
 * states. */
static void inject_final(const rnn *r, const float *dout, float *gh, float *gc) {
    int64_t u = r->units, t_last = time_of(r, r->steps - 1);
    bool sequences = r->flags & NN_RNN_RETURN_SEQUENCES, zero = r->flags & NN_RNN_ZERO_OUTPUT_FOR_MASK;
    for (int64_t b = 0; b < r->batch; b++) {
        const float *row = dout + b * r->rows * u;
        float *ghb = gh + b * u, *gcb = gc + b * u;
        if (!sequences && !(zero && !kept(r, b, t_last)))
            for (int64_t j = 0; j < u; j++) ghb[j] += row[j];
        if (!(r->flags & NN_RNN_RETURN_STATE)) continue;
        int64_t k = sequences ? r->steps : 1;
        for (int64_t j = 0; j < u; j++) ghb[j] += row[k * u + j];
        for (int64_t j = 0; r->c && j < u; j++) gcb[j] += row[(k + 1) * u + j];
    }
}

/* Rows of step s: kept ones add their input gradients to dxw and the bias; masked ones pass
 * gh (gc) through and contribute nothing to the recurrent kernel. */
static void finish_step(const rnn *r, const nn_exec *e, const nn_node *n, int64_t s, const float *gin,
                        const step_grads *d) {
    int64_t u = r->units, w = r->width, t = time_of(r, s);
    float *dxw = IN_GRAD(e, n, 0), *db = r->flags & NN_RNN_BIAS ? IN_GRAD(e, n, 2) : NULL;
    float *rec = pre_at(r, s);
    bool split = r->kind == NN_OP_GRU && !(r->flags & NN_RNN_RESET_AFTER);
    for (int64_t b = 0; b < r->batch; b++) {
        if (!kept(r, b, t)) {
            memset(rec + b * w, 0, (size_t)w * sizeof *rec);
            if (split) memset(post_at(r, s) + b * w, 0, (size_t)w * sizeof *rec);
            memcpy(d->ghp + b * u, d->gh + b * u, (size_t)u * sizeof *rec);
            if (r->c) memcpy(d->gcp + b * u, d->gc + b * u, (size_t)u * sizeof *rec);
            continue;
        }
        const float *g = gin + b * w;
        float *dx = dxw ? dxw + (b * r->steps + t) * w : NULL;
        for (int64_t j = 0; dx && j < w; j++) dx[j] += g[j];
        for (int64_t j = 0; db && j < w; j++) db[j] += g[j];
        for (int64_t j = 0; db && r->bias_rec && j < w; j++) db[w + j] += rec[b * w + j];
    }
}

static void rnn_backward(const nn_exec *e, const nn_node *n) {
    rnn r = rnn_of(e, n);
    int64_t u = r.units, w = r.width, bu = r.batch * u;
    const float *dout = OUT_GRAD(e, n);
    float *gh = r.work + 3 * r.batch * w, *gc = gh + bu, *ghp = gc + bu, *gcp = ghp + bu;
    memset(gh, 0, (size_t)(2 * bu) * sizeof *gh);
    inject_final(&r, dout, gh, gc);
    bool sequences = r.flags & NN_RNN_RETURN_SEQUENCES, zero = r.flags & NN_RNN_ZERO_OUTPUT_FOR_MASK;
    for (int64_t s = r.steps - 1; s >= 0; s--) {
        int64_t t = time_of(&r, s);
        for (int64_t b = 0; sequences && b < r.batch; b++) {
            if (zero && !kept(&r, b, t)) continue;
            const float *row = dout + (b * r.rows + s) * u;
            for (int64_t j = 0; j < u; j++) gh[b * u + j] += row[j];
        }
        step_grads d = { gh, gc, ghp, gcp, r.work, r.work + r.batch * w, r.work + 2 * r.batch * w };
        const float *gin = r.kind == NN_OP_LSTM ? lstm_back(&r, s, &d)
                         : r.kind == NN_OP_GRU  ? gru_back(&r, s, &d)
                                                : simple_rnn_back(&r, s, &d);
        finish_step(&r, e, n, s, gin, &d);
        float *swap = gh;
        gh = ghp, ghp = swap;
        swap = gc, gc = gcp, gcp = swap;
    }
    float *dk = IN_GRAD(e, n, 1);
    if (!dk) return;
    int64_t rows = r.steps * r.batch;
    nn_gemm(r.threads, dk, r.h, r.pre, u, w, rows, true, false, true);
    if (r.kind == NN_OP_GRU && !(r.flags & NN_RNN_RESET_AFTER))
        nn_gemm(r.threads, dk, r.extra, r.post, u, w, rows, true, false, true);
}

const nn_op_def nn_op_simple_rnn = { .name = "simple_rnn", .shape = rnn_shape, .forward = rnn_forward,
                                     .backward = rnn_backward, .aux_per_sample = rnn_aux };
const nn_op_def nn_op_lstm = { .name = "lstm", .shape = rnn_shape, .forward = rnn_forward, .backward = rnn_backward,
                               .aux_per_sample = rnn_aux };
const nn_op_def nn_op_gru = { .name = "gru", .shape = rnn_shape, .forward = rnn_forward, .backward = rnn_backward,
                              .aux_per_sample = rnn_aux };
