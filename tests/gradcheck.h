/* The gradient-check harness the op tests share: build a small graph of PARAMs and INPUTs, add
 * the op, then gc_check appends mul-by-fixed-random-weights (so the upstream gradient is not
 * all ones) and reduce_sum, runs backward and compares every trainable PARAM's gradient with
 * central differences computed in double from the op's float output.
 *
 * INPUT nodes never need a gradient, so a value whose gradient is checked goes through a
 * trainable PARAM: gc_spatial makes a one-hot INPUT (None, batch) times a PARAM (batch, size),
 * reshaped, so the PARAM's gradient is exactly the input gradient of each sample; gc_batched
 * makes a random INPUT times a PARAM (a dense layer's input). The RNG is reseeded before every
 * forward pass, so dropout and noise draw the same values each time and the finite difference
 * sees the same function the backward differentiates. */
#ifndef NN_TEST_GRADCHECK_H
#define NN_TEST_GRADCHECK_H

#include "../src/core/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_BATCH 3
#define GC_STEP 1e-3
#define GC_RNG_SEED 1234
#define GC_MAX_INPUTS 8

typedef struct gc {
    nn_graph graph;
    float *params, *grads;
    size_t nparams, cap;
    int input_node[GC_MAX_INPUTS];
    float *input_values[GC_MAX_INPUTS];
    int ninputs;
    nn_rng rng;
    /* an element fails when |backward - difference| > rel_tol * max(|backward|, |difference|)
     * + abs_tol; tests of ops with large curvature may widen them */
    double rel_tol, abs_tol;
} gc;

static inline gc *gc_new(uint64_t seed) {
    gc *c = calloc(1, sizeof *c);
    c->cap = 1 << 16;
    c->params = calloc(c->cap, sizeof(float));
    c->grads = calloc(c->cap, sizeof(float));
    c->rel_tol = 1e-3;
    c->abs_tol = 2e-4;
    nn_rng_seed(&c->rng, seed);
    return c;
}

static inline void gc_free(gc *c) {
    nn_graph_free(&c->graph);
    for (int i = 0; i < c->ninputs; i++) free(c->input_values[i]);
    free(c->params), free(c->grads), free(c);
}

static inline double uniform(gc *c, double lo, double hi) { return lo + (hi - lo) * nn_rng_uniform(&c->rng); }

static inline int64_t product(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* A PARAM node with its own slice of the parameter block, filled uniformly from [lo, hi]. */
static inline int gc_param_in(gc *c, int ndim, const int64_t *shape, bool trainable, double lo, double hi) {
    int64_t size = product(ndim, shape);
    NN_ASSERT(c->nparams + (size_t)size <= c->cap);
    int node = nn_graph_param(&c->graph, (int)c->nparams, ndim, shape, trainable, "test");
    NN_ASSERT(node >= 0);
    c->graph.nodes[node].value_off = c->graph.nodes[node].grad_off = c->nparams;
    for (int64_t i = 0; i < size; i++) c->params[c->nparams + (size_t)i] = (float)uniform(c, lo, hi);
    c->nparams += (size_t)size;
    return node;
}

static inline int gc_param(gc *c, int ndim, const int64_t *shape, bool trainable) {
    return gc_param_in(c, ndim, shape, trainable, -1.0, 1.0);
}

static inline float *gc_param_values(gc *c, int node) { return c->params + c->graph.nodes[node].value_off; }

/* A batched INPUT holding `batch` samples; its values are for the caller to fill. */
static inline float *gc_add_input(gc *c, int ndim, const int64_t *sample_shape, int64_t batch, int *node) {
    *node = nn_graph_input(&c->graph, ndim, sample_shape, "test");
    NN_ASSERT(*node >= 0 && c->ninputs < GC_MAX_INPUTS);
    float *v = calloc((size_t)(batch * product(ndim, sample_shape)), sizeof *v);
    c->input_node[c->ninputs] = *node;
    c->input_values[c->ninputs++] = v;
    return v;
}

/* A batched INPUT with `batch` samples of random values in [-1, 1] (or one-hot rows when one_hot). */
static inline int gc_input(gc *c, int ndim, const int64_t *sample_shape, int64_t batch, bool one_hot) {
    int node;
    int64_t per_sample = product(ndim, sample_shape);
    float *v = gc_add_input(c, ndim, sample_shape, batch, &node);
    for (int64_t i = 0; i < batch * per_sample; i++)
        v[i] = one_hot ? (float)(i / per_sample == i % per_sample) : (float)uniform(c, -1, 1);
    return node;
}

/* A batched INPUT of GC_BATCH samples, filled uniformly from [lo, hi]. */
static inline int gc_input_in(gc *c, int ndim, const int64_t *sample_shape, double lo, double hi) {
    int node;
    float *v = gc_add_input(c, ndim, sample_shape, GC_BATCH, &node);
    for (int64_t i = 0; i < GC_BATCH * product(ndim, sample_shape); i++) v[i] = (float)uniform(c, lo, hi);
    return node;
}

static inline float *gc_input_values(gc *c, int node) {
    for (int i = 0; i < c->ninputs; i++)
        if (c->input_node[i] == node) return c->input_values[i];
    NN_ASSERT(!"not an input");
    return NULL;
}

static inline int gc_op(gc *c, nn_op op, const int *inputs, int ninputs, const nn_attr *attr) {
    int node = nn_graph_op(&c->graph, op, inputs, ninputs, attr, "test");
    if (node < 0) printf("  building %s failed: %s\n", nn_op_get(op)->name, nn_last_error());
    NN_ASSERT(node >= 0);
    return node;
}

/* A (None, shape...) value whose gradient is checked, as the header says. With `distinct`, the
 * values are a shuffled ladder 0.01 apart, so no perturbation changes which one is a maximum. */
static inline int gc_spatial(gc *c, int ndim, const int64_t *shape, bool distinct) {
    int64_t size = product(ndim, shape);
    int onehot = gc_input(c, 1, (int64_t[]){ GC_BATCH }, GC_BATCH, true);
    int p = gc_param(c, 2, (int64_t[]){ GC_BATCH, size }, true);
    float *v = c->params + c->graph.nodes[p].value_off;
    for (int64_t i = 0; distinct && i < GC_BATCH * size; i++) v[i] = (float)(0.01 * (double)(i - GC_BATCH * size / 2));
    for (int64_t i = GC_BATCH * size - 1; distinct && i > 0; i--) {
        int64_t j = (int64_t)(nn_rng_uniform(&c->rng) * (double)(i + 1));
        float t = v[i];
        v[i] = v[j], v[j] = t;
    }
    int x = gc_op(c, NN_OP_MATMUL, (int[]){ onehot, p }, 2, NULL);
    nn_attr reshape = { .ndim = ndim };
    memcpy(reshape.shape, shape, (size_t)ndim * sizeof *shape);
    return gc_op(c, NN_OP_RESHAPE, &x, 1, &reshape);
}

/* A batched value (None, sample_shape[..-1], cols) that needs a gradient: a random INPUT
 * (None, sample_shape...) in [-1, 1] times a trainable PARAM (sample_shape[-1], cols) drawn
 * from [lo, hi]. */
static inline int gc_batched(gc *c, int ndim, const int64_t *sample_shape, int64_t cols, double lo, double hi) {
    int x = gc_input_in(c, ndim, sample_shape, -1.0, 1.0);
    int w = gc_param_in(c, 2, (int64_t[]){ sample_shape[ndim - 1], cols }, true, lo, hi);
    return gc_op(c, NN_OP_MATMUL, (int[]){ x, w }, 2, NULL);
}

static inline void gc_forward(gc *c, const nn_exec *e) {
    for (int i = 0; i < c->ninputs; i++)
        memcpy(nn_node_value(e, c->input_node[i]), c->input_values[i],
               (size_t)nn_node_size(e, &c->graph.nodes[c->input_node[i]]) * sizeof(float));
    if (e->rng) nn_rng_seed(e->rng, GC_RNG_SEED);
    nn_graph_forward(e);
}

/* sum(out * weight) in double from the tested op's float output. */
static inline double gc_objective(const nn_exec *e, int out, int weight) {
    const float *y = nn_node_value(e, out), *w = nn_node_value(e, weight);
    double sum = 0.0;
    for (int64_t i = 0, size = nn_node_size(e, &e->graph->nodes[out]); i < size; i++) sum += (double)y[i] * w[i];
    return sum;
}

/* Finishes the graph after `out` (a batched or unbatched value), runs it and checks the graph's
 * own objective against gc_objective and every trainable parameter's gradient. Returns the
 * number of mismatches (the first ones printed). */
static inline int gc_check(gc *c, int out, const char *label) {
    const nn_node *o = &c->graph.nodes[out];
    int weight = o->batched ? gc_input(c, o->ndim - 1, o->shape + 1, GC_BATCH, false) : gc_param(c, o->ndim, o->shape, false);
    int weighted = gc_op(c, NN_OP_MUL, (int[]){ out, weight }, 2, NULL);
    int total = gc_op(c, NN_OP_REDUCE_SUM, &weighted, 1, NULL);
    size_t arena_size = nn_plan_graph(&c->graph, GC_BATCH, true);
    float *arena = nn_calloc(arena_size, sizeof(float));
    nn_rng rng;
    nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads,
                  .batch = GC_BATCH, .rng = &rng };
    gc_forward(c, &e);
    int bad = 0, checked = 0;
    double objective = gc_objective(&e, out, weight), graph_total = *nn_node_value(&e, total);
    if (fabs(graph_total - objective) > 1e-5 * (1.0 + fabs(objective)) && bad++ < 5)
        printf("  %s: the graph's sum %.9g, in double %.9g\n", label, graph_total, objective);
    memset(c->grads, 0, c->cap * sizeof(float));
    nn_graph_backward(&e);
    for (int n = 0; n < c->graph.count; n++) {
        const nn_node *p = &c->graph.nodes[n];
        if (p->op != NN_OP_PARAM || !p->needs_grad) continue;
        float *v = c->params + p->value_off;
        for (int64_t i = 0; i < p->inner; i++) {
            float saved = v[i];
            v[i] = (float)(saved + GC_STEP);
            double x_plus = v[i];
            gc_forward(c, &e);
            double f_plus = gc_objective(&e, out, weight);
            v[i] = (float)(saved - GC_STEP);
            double x_minus = v[i];
            gc_forward(c, &e);
            double f_minus = gc_objective(&e, out, weight);
            v[i] = saved;
            double numeric = (f_plus - f_minus) / (x_plus - x_minus), analytic = c->grads[p->grad_off + (size_t)i];
            checked++;
            if (fabs(numeric - analytic) > c->rel_tol * fmax(fabs(numeric), fabs(analytic)) + c->abs_tol && bad++ < 5)
                printf("  %s: node %d element %lld: backward %.7g, finite difference %.7g\n", label, n, (long long)i,
                       analytic, numeric);
        }
    }
    if (checked == 0) printf("  %s: no gradient checked\n", label);
    nn_free(arena);
    return checked ? bad : 1;
}

/* Runs forward and backward over `batch` samples on one thread, then on a pool of two: true when
 * `out`'s value and every gradient come out the same to the bit (the op's split over threads
 * does not change the arithmetic). */
static inline bool gc_same_bits_on_two_threads(gc *c, int out, int64_t batch) {
    float *arena = nn_calloc(nn_plan_graph(&c->graph, batch, true), sizeof(float)), *grads1 = calloc(c->cap, sizeof(float));
    nn_threads *pool = NULL;
    bool same = arena && grads1 && nn_threads_new(2, &pool) == NN_OK;
    nn_rng rng;
    float value1 = 0;
    for (int run = 0; same && run < 2; run++) {
        nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads,
                      .batch = batch, .rng = &rng, .threads = run ? pool : NULL };
        memset(c->grads, 0, c->cap * sizeof(float));
        gc_forward(c, &e);
        nn_graph_backward(&e);
        if (run == 0) {
            value1 = *nn_node_value(&e, out);
            memcpy(grads1, c->grads, c->cap * sizeof(float));
        } else {
            same = *nn_node_value(&e, out) == value1 && memcmp(grads1, c->grads, c->nparams * sizeof(float)) == 0;
        }
    }
    nn_threads_free(pool);
    nn_free(arena), free(grads1);
    return same;
}

#endif
