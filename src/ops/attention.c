/* Attention ops: attention (multi-head scaled dot-product attention, fused, with its exact
 * backward) and attention_mask (Keras's boolean attention mask from the inputs' masks).
 * Attribute layout: src/ops/attention.h.
 *
 * attention: inputs q (None, Tq..., H*K), k (None, Tk..., H*K), v (None, Tk..., H*Kv) and an
 * optional mask (None, Tq, Tk) (nonzero: the query step may attend to the key step); output
 * (None, Tq..., H*Kv). Head h owns columns h*K .. h*K+K-1 of q and k and h*Kv .. of v and the
 * output: Keras's (..., heads, key_dim) projections flattened. The steps are every axis between
 * the batch and the last one, flattened (Keras's default attention_axes). Per sample and head:
 *   scores = (q * scale) . k^T  (as Keras's einsum path; its default path scales the scores,
 *   the same to rounding);
 *   a key is kept where the mask is nonzero, at or before the query step (causal) and fewer
 *   than `window` steps from it (sliding window);
 *   probabilities = softmax over the kept keys, 0 elsewhere; a row without any kept key attends
 *   to every key alike, which is what Keras's default path computes (its masked logits all
 *   become the same large negative number), or to none (zeros: Keras's path when the layer has
 *   dropout); either way it passes no gradient to its scores;
 *   in training, inverted dropout on the probabilities;
 *   output = probabilities . v.
 * The probabilities (and dropout multipliers) are kept in scratch for the backward pass, with
 * one head's workspace per sample: each head's q, k and v are gathered into contiguous blocks so
 * the products run on the GEMM. Samples are independent, so the batch is split over the exec's
 * threads by whole samples and any split gives the same bits. */
#include "ops/attention.h"
#include "ops/ops.h"
#include "kernels/kernels.h"

#include <stdio.h>

/* Below this many multiply-adds, handing samples to other threads costs more than it saves. */
#define ATTENTION_PARALLEL_MIN (1 << 20)

/* ------------------------------------------------------------------ attention: shapes */

typedef struct attn_dims {
    int64_t batch, heads, tq, tk, k, kv;
} attn_dims;

static int64_t steps_of(const nn_node *x) { return x->inner / x->shape[x->ndim - 1]; }

static attn_dims dims_of(const nn_graph *g, const nn_node *n, int64_t batch) {
    const nn_node *q = &g->nodes[n->inputs[0]], *v = &g->nodes[n->inputs[2]];
    int64_t heads = n->attr.shape[NN_ATTN_HEADS];
    return (attn_dims){ .batch = batch, .heads = heads, .tq = steps_of(q), .tk = steps_of(v),
                        .k = q->shape[q->ndim - 1] / heads, .kv = v->shape[v->ndim - 1] / heads };
}

/* "layer 'x': attention: <what>: query (None, 3, 4), key (...), value (...)[, mask (...)]" */
static int attention_shape_error(const nn_graph *g, const nn_node *n, const char *what) {
    static const char *const roles[] = { "query", "key", "value", "mask" };
    char shapes[512] = "", s[96];
    size_t used = 0;
    for (int i = 0; i < n->ninputs && used < sizeof shapes; i++)
        used += (size_t)snprintf(shapes + used, sizeof shapes - used, "%s%s %s", i ? ", " : "", roles[i],
                                 nn_node_shape_str(&g->nodes[n->inputs[i]], s, sizeof s));
    return nn_error(NN_ERR_SHAPE, "layer '%s': attention: %s: %s", n->where ? n->where : "?", what, shapes);
}

static bool same_steps(const nn_node *a, const nn_node *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 1; i < a->ndim - 1; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

static int attention_shape(const nn_graph *g, nn_node *n) {
    if (n->ninputs < 3) return attention_shape_error(g, n, "needs a query, a key and a value");
    const nn_node *q = &g->nodes[n->inputs[0]], *k = &g->nodes[n->inputs[1]], *v = &g->nodes[n->inputs[2]];
    int64_t heads = n->attr.shape[NN_ATTN_HEADS];
    if (heads < 1 || n->attr.shape[NN_ATTN_WINDOW] < 0 || !(n->attr.f[1] >= 0 && n->attr.f[1] < 1))
        return attention_shape_error(g, n, "heads must be >= 1, the window >= 0 and the dropout rate in [0, 1)");
    for (int i = 0; i < 3; i++) {
        const nn_node *x = &g->nodes[n->inputs[i]];
        if (!x->batched || x->ndim < 3 || x->shape[x->ndim - 1] % heads)
            return attention_shape_error(g, n, "every input must be (batch, steps..., heads * size)");
    }
    if (k->shape[k->ndim - 1] != q->shape[q->ndim - 1])
        return attention_shape_error(g, n, "the query and the key must have the same last dimension");
    if (!same_steps(k, v)) return attention_shape_error(g, n, "the key and the value must have the same steps");
    if (n->ninputs > 3) {
        const nn_node *m = &g->nodes[n->inputs[3]];
        if (!m->batched || m->ndim != 3 || m->shape[1] != steps_of(q) || m->shape[2] != steps_of(v))
            return attention_shape_error(g, n, "the mask must be (batch, query steps, key steps)");
    }
    nn_shape_like(g, n, 0);
    n->shape[n->ndim - 1] = v->shape[v->ndim - 1];
    return NN_OK;
}

/* ------------------------------------------------------------------ attention: scratch */

static bool has_dropout(const nn_node *n) { return n->attr.f[1] > 0; }

/* One head's workspace: q, k, v gathered head-major, a (Tq, Tk) block, an output-sized block
 * and a block for whichever input gradient is being formed. */
static int64_t work_floats(const attn_dims *d) {
    int64_t grad = d->tk * d->kv;
    if (d->tq * d->k > grad) grad = d->tq * d->k;
    if (d->tk * d->k > grad) grad = d->tk * d->k;
    return d->tq * d->k + d->tk * d->k + d->tk * d->kv + d->tq * d->tk + d->tq * d->kv + grad;
}

static int64_t attention_aux(const nn_graph *g, const nn_node *n) {
    attn_dims d = dims_of(g, n, 1);
    int64_t probs = d.heads * d.tq * d.tk;
    return probs * (has_dropout(n) ? 2 : 1) + work_floats(&d);
}

/* Sample b's scratch: probabilities and dropout multipliers (per head), then the workspace. */
typedef struct attn_scratch {
    float *probs, *drop;
    float *q, *k, *v, *scores, *out, *grad;
} attn_scratch;

static attn_scratch scratch_of(const attn_dims *d, float *aux, int64_t per_sample, bool dropout, int64_t b) {
    int64_t probs = d->heads * d->tq * d->tk;
    attn_scratch s = { .probs = aux + b * per_sample };
    s.drop = dropout ? s.probs + probs : NULL;
    s.q = s.probs + probs * (dropout ? 2 : 1);
    s.k = s.q + d->tq * d->k;
    s.v = s.k + d->tk * d->k;
    s.scores = s.v + d->tk * d->kv;
    s.out = s.scores + d->tq * d->tk;
    s.grad = s.out + d->tq * d->kv;
    return s;
}

/* ------------------------------------------------------------------ attention: row loops */

/* dst (steps, width) = src[:, col0 : col0 + width] * scale, src being (steps, cols). */
static void gather_head(float *dst, const float *src, int64_t steps, int64_t cols, int64_t col0, int64_t width,
                        float scale) {
    for (int64_t t = 0; t < steps; t++)
        for (int64_t j = 0; j < width; j++) dst[t * width + j] = src[t * cols + col0 + j] * scale;
}

/* dst[:, col0 : col0 + width] (=, or += when accumulate) src * scale. */
static void scatter_head(float *dst, const float *src, int64_t steps, int64_t cols, int64_t col0, int64_t width,
                         float scale, bool accumulate) {
    for (int64_t t = 0; t < steps; t++)
        for (int64_t j = 0; j < width; j++) {
            float *y = &dst[t * cols + col0 + j];
            *y = (accumulate ? *y : 0.0f) + src[t * width + j] * scale;
        }
}

/* Which keys a query step may attend to. */
typedef struct key_rule {
    const float *mask; /* (Tq, Tk) of this sample, or NULL */
    int64_t tk, window;
    bool causal, empty_zero;
} key_rule;

static bool key_kept(const key_rule *r, int64_t t, int64_t s) {
    if (r->mask && r->mask[t * r->tk + s] == 0.0f) return false;
    if (r->causal && s > t) return false;
    return !r->window || (s > t ? s - t : t - s) < r->window;
}

static bool row_has_key(const key_rule *r, int64_t t) {
    for (int64_t s = 0; s < r->tk; s++)
        if (key_kept(r, t, s)) return true;
    return false;
}

/* Scores (Tq, Tk) to probabilities in place. */
static void masked_softmax(float *p, const key_rule *r, int64_t tq) {
    for (int64_t t = 0; t < tq; t++) {
        float *row = p + t * r->tk, top = -INFINITY;
        for (int64_t s = 0; s < r->tk; s++)
            if (key_kept(r, t, s) && row[s] > top) top = row[s];
        if (top == -INFINITY) { /* no key kept: every key alike, or none */
            for (int64_t s = 0; s < r->tk; s++) row[s] = r->empty_zero ? 0.0f : 1.0f / (float)r->tk;
            continue;
        }
        double sum = 0.0;
        for (int64_t s = 0; s < r->tk; s++) {
            row[s] = key_kept(r, t, s) ? expf(row[s] - top) : 0.0f;
            sum += row[s];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t s = 0; s < r->tk; s++) row[s] *= inv;
    }
}

/* The probabilities' gradient dp (Tq, Tk) to the scores' in place: p * (dp - sum(p * dp)) per
 * row; zero for a row without any kept key, whose probabilities do not depend on its scores. */
static void softmax_backward(float *dp, const float *p, const key_rule *r, int64_t tq) {
    for (int64_t t = 0; t < tq; t++) {
        float *g = dp + t * r->tk;
        const float *row = p + t * r->tk;
        if (!row_has_key(r, t)) {
            memset(g, 0, (size_t)r->tk * sizeof *g);
            continue;
        }
        double dot = 0.0;
        for (int64_t s = 0; s < r->tk; s++) dot += (double)row[s] * g[s];
        for (int64_t s = 0; s < r->tk; s++) g[s] = row[s] * (g[s] - (float)dot);
    }
}

/* ------------------------------------------------------------------ attention: per sample */

typedef struct attn_task attn_task;
struct attn_task {
    attn_dims d;
    const nn_node *n;
    const float *q, *k, *v, *mask;
    float *y;                 /* forward: the output */
    const float *dy;          /* backward: the output's gradient ... */
    float *dq, *dk, *dv;      /* ... and the inputs' (NULL when not needed) */
    float *aux;
    int64_t per_sample;       /* scratch floats per sample */
    void (*fn)(const attn_task *t, int64_t b);
};

static key_rule rule_of(const attn_task *t, int64_t b) {
    const nn_attr *a = &t->n->attr;
    return (key_rule){ .mask = t->mask ? t->mask + b * t->d.tq * t->d.tk : NULL, .tk = t->d.tk,
                       .window = a->shape[NN_ATTN_WINDOW], .causal = a->shape[NN_ATTN_CAUSAL] != 0,
                       .empty_zero = a->shape[NN_ATTN_EMPTY_ZERO] != 0 };
}

/* Head h of sample b's q (scaled), k and v into the workspace. */
static void gather_qkv(const attn_task *t, const attn_scratch *s, int64_t b, int64_t h) {
    const attn_dims *d = &t->d;
    int64_t qk_cols = d->heads * d->k, v_cols = d->heads * d->kv;
    gather_head(s->q, t->q + b * d->tq * qk_cols, d->tq, qk_cols, h * d->k, d->k, (float)t->n->attr.f[0]);
    gather_head(s->k, t->k + b * d->tk * qk_cols, d->tk, qk_cols, h * d->k, d->k, 1.0f);
    gather_head(s->v, t->v + b * d->tk * v_cols, d->tk, v_cols, h * d->kv, d->kv, 1.0f);
}

/* The probabilities after dropout: p itself, or p * multipliers formed in `into`. */
static const float *dropped(const float *p, const float *drop, float *into, int64_t count) {
    if (!drop) return p;
    for (int64_t i = 0; i < count; i++) into[i] = p[i] * drop[i];
    return into;
}

static void forward_sample(const attn_task *t, int64_t b) {
    const attn_dims *d = &t->d;
    attn_scratch s = scratch_of(d, t->aux, t->per_sample, has_dropout(t->n), b);
    key_rule rule = rule_of(t, b);
    int64_t block = d->tq * d->tk, v_cols = d->heads * d->kv;
    for (int64_t h = 0; h < d->heads; h++) {
        float *p = s.probs + h * block;
        gather_qkv(t, &s, b, h);
        nn_gemm_cpu(p, s.q, s.k, d->tq, d->tk, d->k, false, true, false);
        masked_softmax(p, &rule, d->tq);
        const float *pd = dropped(p, s.drop ? s.drop + h * block : NULL, s.scores, block);
        nn_gemm_cpu(s.out, pd, s.v, d->tq, d->kv, d->tk, false, false, false);
        scatter_head(t->y + b * d->tq * v_cols, s.out, d->tq, v_cols, h * d->kv, d->kv, 1.0f, false);
    }
}

/* dv += p'^T . dy; dp' = dy . v^T, dp = dp' * multipliers, ds = softmax backward;
 * dq += scale * ds . k; dk += ds^T . (q * scale). */
static void backward_sample(const attn_task *t, int64_t b) {
    const attn_dims *d = &t->d;
    attn_scratch s = scratch_of(d, t->aux, t->per_sample, has_dropout(t->n), b);
    key_rule rule = rule_of(t, b);
    int64_t block = d->tq * d->tk, qk_cols = d->heads * d->k, v_cols = d->heads * d->kv;
    float scale = (float)t->n->attr.f[0];
    for (int64_t h = 0; h < d->heads; h++) {
        const float *p = s.probs + h * block, *drop = s.drop ? s.drop + h * block : NULL;
        gather_qkv(t, &s, b, h);
        gather_head(s.out, t->dy + b * d->tq * v_cols, d->tq, v_cols, h * d->kv, d->kv, 1.0f);
        if (t->dv) {
            nn_gemm_cpu(s.grad, dropped(p, drop, s.scores, block), s.out, d->tk, d->kv, d->tq, true, false, false);
            scatter_head(t->dv + b * d->tk * v_cols, s.grad, d->tk, v_cols, h * d->kv, d->kv, 1.0f, true);
        }
        if (!t->dq && !t->dk) continue;
        nn_gemm_cpu(s.scores, s.out, s.v, d->tq, d->tk, d->kv, false, true, false);
        for (int64_t i = 0; drop && i < block; i++) s.scores[i] *= drop[i];
        softmax_backward(s.scores, p, &rule, d->tq);
        if (t->dq) {
            nn_gemm_cpu(s.grad, s.scores, s.k, d->tq, d->k, d->tk, false, false, false);
            scatter_head(t->dq + b * d->tq * qk_cols, s.grad, d->tq, qk_cols, h * d->k, d->k, scale, true);
        }
        if (t->dk) {
            nn_gemm_cpu(s.grad, s.scores, s.q, d->tk, d->k, d->tq, true, false, false);
            scatter_head(t->dk + b * d->tk * qk_cols, s.grad, d->tk, qk_cols, h * d->k, d->k, 1.0f, true);
        }
    }
}

static void run_samples(void *ctx, int part, int parts) {
    const attn_task *t = ctx;
    for (int64_t b = t->d.batch * part / parts, end = t->d.batch * (part + 1) / parts; b < end; b++) t->fn(t, b);
}

static void over_samples(const nn_exec *e, attn_task *t) {
    const attn_dims *d = &t->d;
    double work = (double)d->batch * (double)d->heads * (double)d->tq * (double)d->tk * (double)(d->k + d->kv);
    nn_threads_run(work < ATTENTION_PARALLEL_MIN || d->batch < 2 ? NULL : e->threads, run_samples, t);
}

static attn_task task_of(const nn_exec *e, const nn_node *n) {
    return (attn_task){ .d = dims_of(e->graph, n, e->batch), .n = n, .q = IN_VALUE(e, n, 0), .k = IN_VALUE(e, n, 1),
                        .v = IN_VALUE(e, n, 2), .mask = n->ninputs > 3 ? IN_VALUE(e, n, 3) : NULL,
                        .aux = nn_node_aux(e, SELF(e, n)), .per_sample = attention_aux(e->graph, n) };
}

/* The dropout multipliers are drawn for the whole batch first, in order, on this thread: the
 * generator is sequential, and the draws then do not depend on the thread count. */
static void draw_dropout(const nn_exec *e, const attn_task *t) {
    int64_t probs = t->d.heads * t->d.tq * t->d.tk;
    double rate = t->n->attr.f[1];
    float keep_scale = (float)(1.0 / (1.0 - rate));
    for (int64_t b = 0; b < t->d.batch; b++) {
        float *drop = scratch_of(&t->d, t->aux, t->per_sample, true, b).drop;
        for (int64_t i = 0; i < probs; i++) drop[i] = nn_rng_uniform(e->rng) >= rate ? keep_scale : 0.0f;
    }
}

static void attention_forward(const nn_exec *e, const nn_node *n) {
    attn_task t = task_of(e, n);
    t.y = OUT_VALUE(e, n);
    t.fn = forward_sample;
    if (has_dropout(n)) draw_dropout(e, &t);
    over_samples(e, &t);
}

static void attention_backward(const nn_exec *e, const nn_node *n) {
    attn_task t = task_of(e, n);
    t.dy = OUT_GRAD(e, n);
    t.dq = IN_GRAD(e, n, 0), t.dk = IN_GRAD(e, n, 1), t.dv = IN_GRAD(e, n, 2);
    t.fn = backward_sample;
    if (t.dq || t.dk || t.dv) over_samples(e, &t);
}

const nn_op_def nn_op_attention = { .name = "attention", .shape = attention_shape, .forward = attention_forward,
                                    .backward = attention_backward, .aux_per_sample = attention_aux };

/* ------------------------------------------------------------------ attention_mask */

/* inputs: the query's mask (None, Tq) when attr says so, then key masks (None, Tk) (the value's
 * and the key's); output (None, Tq, Tk): 1 where the query step is kept and every key mask keeps
 * the key step (Keras's _compute_attention_mask: the masks ANDed), else 0. Masks carry no
 * gradient, so there is no backward. */
static int attention_mask_shape(const nn_graph *g, nn_node *n) {
    const int64_t *a = n->attr.shape;
    int64_t tq = a[NN_ATTN_MASK_QUERY_STEPS], tk = a[NN_ATTN_MASK_KEY_STEPS];
    if (tq < 1 || tk < 1 || n->ninputs < 1) return nn_shape_error(g, n, "needs step counts and at least one mask; got");
    for (int i = 0; i < n->ninputs; i++) {
        const nn_node *m = &g->nodes[n->inputs[i]];
        bool query = i == 0 && a[NN_ATTN_MASK_HAS_QUERY];
        if (!m->batched || m->inner != (query ? tq : tk)) {
            char got[96];
            return nn_error(NN_ERR_SHAPE, "layer '%s': attention_mask: a %s mask must be (None, %lld), got %s",
                            n->where ? n->where : "?", query ? "query" : "key", (long long)(query ? tq : tk),
                            nn_node_shape_str(m, got, sizeof got));
        }
    }
    n->batched = true;
    n->ndim = 3;
    n->shape[0] = -1, n->shape[1] = tq, n->shape[2] = tk;
    return NN_OK;
}

static void attention_mask_forward(const nn_exec *e, const nn_node *n) {
    int64_t tq = n->shape[1], tk = n->shape[2];
    int first_key = n->attr.shape[NN_ATTN_MASK_HAS_QUERY] ? 1 : 0, nkeys = n->ninputs - first_key;
    const float *query = first_key ? IN_VALUE(e, n, 0) : NULL, *keys[NN_MAX_OP_INPUTS];
    for (int i = 0; i < nkeys; i++) keys[i] = IN_VALUE(e, n, first_key + i);
    float *y = OUT_VALUE(e, n);
    for (int64_t b = 0; b < e->batch; b++)
        for (int64_t t = 0; t < tq; t++)
            for (int64_t s = 0; s < tk; s++) {
                bool kept = !query || query[b * tq + t] != 0.0f;
                for (int i = 0; kept && i < nkeys; i++) kept = keys[i][b * tk + s] != 0.0f;
                y[(b * tq + t) * tk + s] = kept ? 1.0f : 0.0f;
            }
}

const nn_op_def nn_op_attention_mask = { .name = "attention_mask", .shape = attention_mask_shape,
                                         .forward = attention_mask_forward };
