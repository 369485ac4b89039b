/* Gradient checks for the core ops of src/ops/ops.def (the spatial and normalization ops have
 * theirs in test_conv.c and test_norm.c), and the ops' shape errors.
 *
 * Each check builds a tiny graph with tests/gradcheck.h: the op under test, then mul by a fixed
 * random weight tensor and reduce_sum, and compares the gradient of every trainable PARAM
 * against central finite differences of that objective. Values whose gradient is checked go
 * through trainable PARAM nodes (INPUT nodes never need a gradient); batched INPUTs reach an op
 * through matmul with a trainable PARAM (gc_batched), so the batched paths are checked through
 * that parameter's gradient. Values are kept off kinks. */
#include "../src/core/graph.h"
#include "gradcheck.h"
#include "test.h"

/* Uniform in [lo, hi] but at least `gap` away from 0, keeping relu-like kinks out of reach. */
static double uniform_off_zero(gc *c, double lo, double hi, double gap) {
    double x;
    do x = uniform(c, lo, hi);
    while (fabs(x) < gap);
    return x;
}

static const int64_t MATRIX[2] = { GC_BATCH, 5 };

/* ---------------------------------------------------------------- matmul, bias_add */

TEST(matmul_gradient_unbatched) {
    gc *c = gc_new(1);
    int a = gc_param(c, 2, MATRIX, true);
    int b = gc_param(c, 2, (int64_t[]){ 5, 7 }, true);
    CHECK(gc_check(c, gc_op(c, NN_OP_MATMUL, (int[]){ a, b }, 2, NULL), "matmul") == 0);
    gc_free(c);
}

TEST(matmul_gradient_batched_with_leading_dims) {
    gc *c = gc_new(2);
    int x = gc_input_in(c, 2, (int64_t[]){ 2, 5 }, -1, 1);
    int w = gc_param(c, 2, (int64_t[]){ 5, 7 }, true);
    int y = gc_op(c, NN_OP_MATMUL, (int[]){ x, w }, 2, NULL);
    CHECK(c->graph.nodes[y].ndim == 3 && c->graph.nodes[y].shape[2] == 7);
    CHECK(gc_check(c, y, "matmul (None, 2, 5)") == 0);
    gc_free(c);
}

/* One kernel used by two matmuls: both backward passes must add into its gradient. */
TEST(matmul_shared_weight_gradient_accumulates) {
    gc *c = gc_new(6);
    int x = gc_input_in(c, 1, (int64_t[]){ 5 }, -1, 1);
    int w = gc_param(c, 2, (int64_t[]){ 5, 5 }, true);
    int h = gc_op(c, NN_OP_MATMUL, (int[]){ x, w }, 2, NULL);
    nn_attr tanh_attr = { .ptr = nn_activation_find("tanh") };
    int t = gc_op(c, NN_OP_ACTIVATION, &h, 1, &tanh_attr);
    CHECK(gc_check(c, gc_op(c, NN_OP_MATMUL, (int[]){ t, w }, 2, NULL), "shared kernel") == 0);
    gc_free(c);
}

/* matmul writes a grad it is first to write without the executor zeroing it, but not one of an
 * input it reads twice (h . h), nor one another op writes first (fan-out): both add. */
TEST(matmul_first_grad_is_assigned_repeated_input_adds) {
    gc *c = gc_new(60);
    int p = gc_param(c, 2, (int64_t[]){ 5, 5 }, true);
    int h = gc_op(c, NN_OP_ACTIVATION, &p, 1, &(nn_attr){ .ptr = nn_activation_find("tanh") });
    CHECK(gc_check(c, gc_op(c, NN_OP_MATMUL, (int[]){ h, h }, 2, NULL), "h . h") == 0);
    gc_free(c);
    c = gc_new(61);
    int x = gc_batched(c, 1, (int64_t[]){ 5 }, 7, -1, 1);
    int w = gc_param(c, 2, (int64_t[]){ 7, 7 }, true);
    int y = gc_op(c, NN_OP_DENSE, (int[]){ x, w }, 2, &(nn_attr){ .ptr = nn_activation_find("relu") });
    CHECK(gc_check(c, gc_op(c, NN_OP_ADD, (int[]){ y, x }, 2, NULL), "dense fan-out") == 0);
    gc_free(c);
}

TEST(bias_add_gradient) {
    gc *c = gc_new(3);
    int x = gc_param(c, 2, (int64_t[]){ GC_BATCH, 7 }, true);
    int b = gc_param(c, 1, (int64_t[]){ 7 }, true);
    CHECK(gc_check(c, gc_op(c, NN_OP_BIAS_ADD, (int[]){ x, b }, 2, NULL), "bias_add") == 0);
    gc_free(c);
    c = gc_new(4);
    int h = gc_batched(c, 1, (int64_t[]){ 5 }, 7, -1, 1);
    b = gc_param(c, 1, (int64_t[]){ 7 }, true);
    CHECK(gc_check(c, gc_op(c, NN_OP_BIAS_ADD, (int[]){ h, b }, 2, NULL), "bias_add batched") == 0);
    gc_free(c);
}

/* ---------------------------------------------------------------- dense (fused) */

/* The activations dense fuses (their derivative follows from the output), and linear (NULL). */
static const char *const FUSED_ACTIVATIONS[] = { NULL, "relu", "sigmoid", "tanh", "softmax", "exponential" };

TEST(dense_gradient_every_fused_activation) {
    for (size_t i = 0; i < NN_ARRAY_LEN(FUSED_ACTIVATIONS); i++)
        for (int bias = 0; bias < 2; bias++) {
            const char *name = FUSED_ACTIVATIONS[i] ? FUSED_ACTIVATIONS[i] : "linear";
            gc *c = gc_new(40 + 2 * i + (size_t)bias);
            int x = gc_param(c, 2, MATRIX, true);
            int w = gc_param_in(c, 2, (int64_t[]){ 5, 7 }, true, -0.5, 0.5);
            int b = bias ? gc_param_in(c, 1, (int64_t[]){ 7 }, true, -0.3, 0.3) : -1;
            nn_attr attr = { .ptr = FUSED_ACTIVATIONS[i] ? nn_activation_find(name) : NULL };
            if (gc_check(c, gc_op(c, NN_OP_DENSE, (int[]){ x, w, b }, bias ? 3 : 2, &attr), name) != 0) {
                printf("  dense with %s, bias %d\n", name, bias);
                CHECK(!"dense gradient");
            }
            gc_free(c);
        }
}

/* x from a matmul, so dense writes its grad first (assigning it). */
TEST(dense_gradient_batched_with_leading_dims) {
    gc *c = gc_new(50);
    int x = gc_batched(c, 2, (int64_t[]){ 2, 4 }, 5, -1, 1);
    int w = gc_param(c, 2, (int64_t[]){ 5, 7 }, true);
    int b = gc_param(c, 1, (int64_t[]){ 7 }, true);
    int y = gc_op(c, NN_OP_DENSE, (int[]){ x, w, b }, 3, &(nn_attr){ .ptr = nn_activation_find("tanh") });
    CHECK(c->graph.nodes[y].ndim == 3 && c->graph.nodes[y].shape[2] == 7);
    CHECK(gc_check(c, y, "dense (None, 2, 5)") == 0);
    gc_free(c);
}

/* y = x . w (+ b), activated, as one dense op or as matmul, bias_add and activation ops; then
 * sum(y * weights) backward. Writes y and the gradients of x, w and b (x an unbatched
 * (rows, k) parameter, so that its gradient is checked too). */
static void run_dense(bool fused, const nn_activation_def *act, bool bias, int64_t rows, int64_t k, int64_t n,
                      float *y_out, float *grads) {
    nn_graph g = { 0 };
    const int64_t sizes[4] = { rows * k, k * n, n, rows * n };
    const int64_t shapes[4][2] = { { rows, k }, { k, n }, { n, 0 }, { rows, n } };
    int nodes[4];
    size_t offset = 0, total = (size_t)(sizes[0] + sizes[1] + sizes[2] + sizes[3]);
    float *params = nn_malloc(total * sizeof *params);
    nn_rng rng;
    nn_rng_seed(&rng, 77);
    for (size_t i = 0; i < total; i++) params[i] = (float)(2.0 * nn_rng_uniform(&rng) - 1.0);
    for (int i = 0; i < 4; i++) {
        nodes[i] = nn_graph_param(&g, i, i == 2 ? 1 : 2, shapes[i], i < 3, "dense");
        g.nodes[nodes[i]].value_off = g.nodes[nodes[i]].grad_off = offset;
        offset += (size_t)sizes[i];
    }
    int y;
    if (fused) {
        y = nn_graph_op(&g, NN_OP_DENSE, nodes, bias ? 3 : 2, &(nn_attr){ .ptr = act }, "dense");
    } else {
        y = nn_graph_op(&g, NN_OP_MATMUL, nodes, 2, NULL, "dense");
        if (bias) y = nn_graph_op(&g, NN_OP_BIAS_ADD, (int[]){ y, nodes[2] }, 2, NULL, "dense");
        if (act) y = nn_graph_op(&g, NN_OP_ACTIVATION, &y, 1, &(nn_attr){ .ptr = act }, "dense");
    }
    int weighted = nn_graph_op(&g, NN_OP_MUL, (int[]){ y, nodes[3] }, 2, NULL, "loss");
    nn_graph_op(&g, NN_OP_REDUCE_SUM, &weighted, 1, NULL, "loss");
    float *arena = nn_calloc(nn_plan_graph(&g, 1, true), sizeof *arena);
    memset(grads, 0, total * sizeof *grads);
    nn_exec e = { .graph = &g, .arena = arena, .params = params, .grads = grads, .batch = 1 };
    nn_graph_forward(&e);
    memcpy(y_out, nn_node_value(&e, y), (size_t)(rows * n) * sizeof *y_out);
    nn_graph_backward(&e);
    nn_free(arena);
    nn_free(params);
    nn_graph_free(&g);
}

/* The fused op gives the separate ops' values and gradients (== on floats: only the sign of a
 * zero may differ), on products through every GEMM path: one row, one column, k past a block. */
TEST(dense_equals_matmul_bias_add_activation) {
    const int64_t shapes[][3] = { { 1, 300, 33 }, { 5, 7, 1 }, { 7, 300, 17 }, { 33, 17, 40 } };
    for (size_t s = 0; s < NN_ARRAY_LEN(shapes); s++)
        for (size_t i = 0; i < NN_ARRAY_LEN(FUSED_ACTIVATIONS); i++)
            for (int bias = 0; bias < 2; bias++) {
                int64_t rows = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
                size_t ny = (size_t)(rows * n), ng = (size_t)(rows * k + k * n + n + rows * n);
                float *y1 = nn_malloc(ny * sizeof *y1), *y2 = nn_malloc(ny * sizeof *y2);
                float *g1 = nn_malloc(ng * sizeof *g1), *g2 = nn_malloc(ng * sizeof *g2);
                const nn_activation_def *act = FUSED_ACTIVATIONS[i] ? nn_activation_find(FUSED_ACTIVATIONS[i]) : NULL;
                run_dense(true, act, bias, rows, k, n, y1, g1);
                run_dense(false, act, bias, rows, k, n, y2, g2);
                int bad = 0;
                for (size_t j = 0; j < ny; j++) bad += y1[j] != y2[j];
                for (size_t j = 0; j < ng; j++) bad += g1[j] != g2[j];
                if (bad)
                    printf("  %lldx%lldx%lld %s bias %d: %d values differ\n", (long long)rows, (long long)k, (long long)n,
                           act ? act->name : "linear", bias, bad);
                CHECK(bad == 0);
                nn_free(y1), nn_free(y2), nn_free(g1), nn_free(g2);
            }
}

TEST(dense_bias_shape_error_names_both_shapes) {
    nn_graph g = { 0 };
    int x = nn_graph_input(&g, 1, (int64_t[]){ 5 }, "input");
    int w = nn_graph_param(&g, 0, 2, (int64_t[]){ 5, 7 }, true, "dense");
    int b = nn_graph_param(&g, 1, 1, (int64_t[]){ 6 }, true, "dense");
    CHECK(nn_graph_op(&g, NN_OP_DENSE, (int[]){ x, w, b }, 3, NULL, "dense") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "layer 'dense': dense: the bias length must equal the output's last dimension: (None, 7) and (6,)");
    nn_graph_free(&g);
}

/* ---------------------------------------------------------------- activations */

TEST(activation_gradients_every_activation) {
    size_t count;
    const nn_activation_def *table = nn_activation_table(&count);
    CHECK(count >= 4);
    for (size_t i = 0; i < count; i++) {
        gc *c = gc_new(10 + i);
        /* in (-2, 2) and 0.05 away from 0: clear of relu's, relu6's and hard_sigmoid's kinks */
        int x = gc_param_in(c, 2, (int64_t[]){ GC_BATCH, 7 }, true, 0, 0);
        for (int k = 0; k < GC_BATCH * 7; k++) gc_param_values(c, x)[k] = (float)uniform_off_zero(c, -2, 2, 0.05);
        nn_attr attr = { .ptr = &table[i] };
        int y = gc_op(c, NN_OP_ACTIVATION, &x, 1, &attr);
        if (gc_check(c, y, table[i].name) != 0) {
            printf("  activation %s\n", table[i].name);
            CHECK(!"activation gradient");
        }
        gc_free(c);
    }
}

TEST(softmax_gradient_batched) {
    gc *c = gc_new(5);
    int h = gc_batched(c, 1, (int64_t[]){ 5 }, 7, -1, 1);
    nn_attr attr = { .ptr = nn_activation_find("softmax") };
    CHECK(gc_check(c, gc_op(c, NN_OP_ACTIVATION, &h, 1, &attr), "softmax batched") == 0);
    gc_free(c);
}

/* ---------------------------------------------------------------- add, sub, mul */

static void check_binary(nn_op op, uint64_t seed) {
    gc *c = gc_new(seed);
    int a = gc_param(c, 2, MATRIX, true), b = gc_param(c, 2, MATRIX, true);
    CHECK(gc_check(c, gc_op(c, op, (int[]){ a, b }, 2, NULL), nn_op_get(op)->name) == 0);
    /* one input twice: both halves of the backward accumulate into the same gradient */
    gc_free(c);
    c = gc_new(seed + 100);
    int h = gc_batched(c, 1, (int64_t[]){ 5 }, 7, -1, 1);
    CHECK(gc_check(c, gc_op(c, op, (int[]){ h, h }, 2, NULL), nn_op_get(op)->name) == 0);
    gc_free(c);
}

TEST(add_gradient) { check_binary(NN_OP_ADD, 20); }
TEST(sub_gradient) { check_binary(NN_OP_SUB, 21); }
TEST(mul_gradient) { check_binary(NN_OP_MUL, 22); }

/* A value read by two ops: the later consumer zeroes its gradient, the earlier one adds. */
TEST(fan_out_gradient_accumulates) {
    gc *c = gc_new(23);
    int h = gc_batched(c, 1, (int64_t[]){ 5 }, 7, -1, 1);
    nn_attr tanh_attr = { .ptr = nn_activation_find("tanh") };
    int t = gc_op(c, NN_OP_ACTIVATION, &h, 1, &tanh_attr);
    nn_attr scale = { .f = { -0.7, 0.1 } };
    int s = gc_op(c, NN_OP_SCALE_SHIFT, &h, 1, &scale);
    int y = gc_op(c, NN_OP_MUL, (int[]){ t, s }, 2, NULL);
    CHECK(gc_check(c, gc_op(c, NN_OP_ADD, (int[]){ y, h }, 2, NULL), "fan-out") == 0);
    gc_free(c);
}

/* ---------------------------------------------------------------- scale_shift, normalize */

TEST(scale_shift_gradient) {
    gc *c = gc_new(30);
    int x = gc_param(c, 2, MATRIX, true);
    nn_attr attr = { .f = { 1.7, -0.3 } };
    int y = gc_op(c, NN_OP_SCALE_SHIFT, &x, 1, &attr);
    CHECK(gc_check(c, y, "scale_shift") == 0);
    gc_free(c);
}

TEST(normalize_gradient_and_value) {
    gc *c = gc_new(31);
    int x = gc_param(c, 2, MATRIX, true);
    int mean = gc_param_in(c, 1, (int64_t[]){ 5 }, false, -0.5, 0.5);
    int var = gc_param_in(c, 1, (int64_t[]){ 5 }, false, 0.3, 2.0);
    int y = gc_op(c, NN_OP_NORMALIZE, (int[]){ x, mean, var }, 3, NULL);
    float xs[GC_BATCH * 5], ms[5], vs[5];
    memcpy(xs, gc_param_values(c, x), sizeof xs);
    memcpy(ms, gc_param_values(c, mean), sizeof ms);
    memcpy(vs, gc_param_values(c, var), sizeof vs);
    /* value: (x - mean) / sqrt(var), run alone before the gradient check consumes the graph */
    size_t size = nn_plan_graph(&c->graph, GC_BATCH, false);
    float *arena = nn_calloc(size, sizeof(float));
    nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads, .batch = GC_BATCH, .rng = NULL };
    nn_graph_forward(&e);
    for (int i = 0; i < GC_BATCH * 5; i++)
        CHECK_NEAR(nn_node_value(&e, y)[i], (xs[i] - ms[i % 5]) / sqrt(vs[i % 5]), 1e-6);
    nn_free(arena);
    CHECK(gc_check(c, y, "normalize") == 0);
    gc_free(c);
}

/* Keras: a zero variance divides by 1e-7, not by 0. */
TEST(normalize_zero_variance_uses_epsilon) {
    gc *c = gc_new(32);
    int x = gc_param_in(c, 2, (int64_t[]){ 1, 2 }, false, 0, 0);
    int mean = gc_param_in(c, 1, (int64_t[]){ 2 }, false, 0, 0);
    int var = gc_param_in(c, 1, (int64_t[]){ 2 }, false, 0, 0);
    int y = gc_op(c, NN_OP_NORMALIZE, (int[]){ x, mean, var }, 3, NULL);
    gc_param_values(c, x)[0] = 1e-7f, gc_param_values(c, x)[1] = 3.0f;
    gc_param_values(c, var)[1] = 4.0f;
    size_t size = nn_plan_graph(&c->graph, 1, false);
    float *arena = nn_calloc(size, sizeof(float));
    nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads, .batch = 1, .rng = NULL };
    nn_graph_forward(&e);
    CHECK_NEAR(nn_node_value(&e, y)[0], 1.0, 1e-6);
    CHECK_NEAR(nn_node_value(&e, y)[1], 1.5, 1e-6);
    nn_free(arena);
    gc_free(c);
}

/* ---------------------------------------------------------------- reshape */

TEST(reshape_gradient) {
    gc *c = gc_new(40);
    int h = gc_batched(c, 1, (int64_t[]){ 5 }, 6, -1, 1);
    nn_attr attr = { .ndim = 2, .shape = { 2, 3 } };
    int y = gc_op(c, NN_OP_RESHAPE, &h, 1, &attr);
    CHECK(c->graph.nodes[y].ndim == 3 && c->graph.nodes[y].shape[1] == 2 && c->graph.nodes[y].shape[2] == 3);
    CHECK(gc_check(c, y, "reshape") == 0);
    gc_free(c);
    c = gc_new(41);
    h = gc_batched(c, 1, (int64_t[]){ 5 }, 6, -1, 1);
    nn_attr inferred = { .ndim = 3, .shape = { 3, -1, 1 } };
    y = gc_op(c, NN_OP_RESHAPE, &h, 1, &inferred);
    CHECK(c->graph.nodes[y].shape[2] == 2);
    CHECK(gc_check(c, y, "reshape with -1") == 0);
    /* an unbatched value (a parameter) gets no batch axis */
    gc_free(c);
    c = gc_new(42);
    int w = gc_param(c, 2, (int64_t[]){ 3, 4 }, true);
    nn_attr flat = { .ndim = 2, .shape = { 2, 6 } };
    y = gc_op(c, NN_OP_RESHAPE, &w, 1, &flat);
    CHECK(!c->graph.nodes[y].batched && c->graph.nodes[y].ndim == 2 && c->graph.nodes[y].shape[0] == 2);
    CHECK(gc_check(c, y, "unbatched reshape") == 0);
    gc_free(c);
}

/* sigmoid(h) + relu(h), h = x . w from seed 43, relu reading h through `views` reshapes. */
static gc *sigmoid_plus_relu(int views, int *h, int *sum) {
    gc *c = gc_new(43);
    *h = gc_batched(c, 1, (int64_t[]){ 5 }, 6, -1, 1);
    int r = *h;
    for (int v = 0; v < views; v++)
        r = gc_op(c, NN_OP_RESHAPE, &r, 1, &(nn_attr){ .ndim = 2 - v % 2, .shape = { v % 2 ? 6 : 2, 3 } });
    nn_attr relu = { .ptr = nn_activation_find("relu") }, sigmoid = { .ptr = nn_activation_find("sigmoid") };
    int a = gc_op(c, NN_OP_ACTIVATION, h, 1, &sigmoid); /* h's last direct reader comes first */
    int b = gc_op(c, NN_OP_ACTIVATION, &r, 1, &relu);
    *sum = gc_op(c, NN_OP_ADD, (int[]){ a, b }, 2, NULL);
    return c;
}

/* A reshape of an arena value (here a reshape of a reshape) is planned as a view of its floats,
 * which stay alive, untouched by later values, for as long as the last view is read: the same
 * results as without the reshapes. */
TEST(reshape_of_a_value_is_a_view) {
    float results[2][GC_BATCH * 6];
    for (int views = 0; views <= 2; views += 2) {
        int h, sum;
        gc *c = sigmoid_plus_relu(views, &h, &sum);
        float *arena = nn_calloc(nn_plan_graph(&c->graph, GC_BATCH, false), sizeof *arena);
        const nn_node *nodes = c->graph.nodes;
        for (int v = h + 1; v <= h + views; v++) CHECK(nodes[v].value_off == nodes[h].value_off);
        for (int other = h + views + 1; other < sum; other++) /* the activations' outputs miss h's floats */
            CHECK(nodes[other].value_off >= nodes[h].value_off + GC_BATCH * 6 ||
                  nodes[other].value_off + GC_BATCH * 6 <= nodes[h].value_off);
        nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads, .batch = GC_BATCH };
        gc_forward(c, &e);
        memcpy(results[views / 2], nn_node_value(&e, sum), sizeof results[0]);
        nn_free(arena);
        if (views) CHECK(gc_check(c, sum, "reshape views") == 0);
        gc_free(c);
    }
    CHECK(memcmp(results[0], results[1], sizeof results[0]) == 0);
}

/* ---------------------------------------------------------------- dropout */

/* With the rng reseeded before every forward, the mask is fixed, so the finite difference of
 * the forward is the gradient the backward must give: the forward's own mask, not a new one. */
TEST(dropout_gradient_reuses_the_forward_mask) {
    gc *c = gc_new(50);
    int x = gc_param_in(c, 2, (int64_t[]){ GC_BATCH, 7 }, true, 0.5, 1.5);
    nn_attr attr = { .f = { 0.4 } };
    int y = gc_op(c, NN_OP_DROPOUT, &x, 1, &attr);
    /* the forward itself: every value dropped or scaled by 1 / (1 - rate), both seen */
    size_t size = nn_plan_graph(&c->graph, GC_BATCH, false);
    float *arena = nn_calloc(size, sizeof(float));
    nn_rng rng;
    nn_rng_seed(&rng, GC_RNG_SEED);
    nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads, .batch = GC_BATCH, .rng = &rng };
    nn_graph_forward(&e);
    int dropped = 0, kept = 0;
    for (int i = 0; i < GC_BATCH * 7; i++) {
        float v = nn_node_value(&e, y)[i], in = gc_param_values(c, x)[i];
        if (v == 0.0f) dropped++;
        else if (fabsf(v - in / 0.6f) <= 1e-6f) kept++;
    }
    CHECK(dropped > 0 && kept > 0 && dropped + kept == GC_BATCH * 7);
    nn_free(arena);
    CHECK(gc_check(c, y, "dropout") == 0);
    gc_free(c);
}

/* ---------------------------------------------------------------- reductions, penalty */

TEST(reduce_sum_gradient) {
    gc *c = gc_new(60);
    int x = gc_param(c, 2, MATRIX, true);
    CHECK(gc_check(c, gc_op(c, NN_OP_REDUCE_SUM, &x, 1, NULL), "reduce_sum") == 0);
    gc_free(c);
}

TEST(reduce_mean_gradient) {
    gc *c = gc_new(61);
    int x = gc_param(c, 2, MATRIX, true);
    CHECK(gc_check(c, gc_op(c, NN_OP_REDUCE_MEAN, &x, 1, NULL), "reduce_mean") == 0);
    /* batched: the mean runs over batch * inner elements at the current batch size */
    gc_free(c);
    c = gc_new(62);
    int h = gc_batched(c, 1, (int64_t[]){ 5 }, 7, -1, 1);
    CHECK(gc_check(c, gc_op(c, NN_OP_REDUCE_MEAN, &h, 1, NULL), "reduce_mean batched") == 0);
    gc_free(c);
}

TEST(penalty_gradient_and_value) {
    gc *c = gc_new(70);
    int w = gc_param_in(c, 2, MATRIX, true, 0, 0);
    double l1 = 0.0, l2 = 0.0;
    for (int i = 0; i < GC_BATCH * 5; i++) {
        float v = (float)uniform_off_zero(c, -1, 1, 0.05);
        gc_param_values(c, w)[i] = v;
        l1 += fabs(v), l2 += (double)v * v;
    }
    nn_attr attr = { .f = { 0.03, 0.02 } };
    int p = gc_op(c, NN_OP_PENALTY, &w, 1, &attr);
    size_t size = nn_plan_graph(&c->graph, GC_BATCH, false);
    float *arena = nn_calloc(size, sizeof(float));
    nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads, .batch = GC_BATCH, .rng = NULL };
    nn_graph_forward(&e);
    CHECK_NEAR(*nn_node_value(&e, p), 0.03 * l1 + 0.02 * l2, 1e-6);
    nn_free(arena);
    CHECK(gc_check(c, p, "penalty") == 0);
    gc_free(c);
}

/* ---------------------------------------------------------------- losses */

typedef enum truth_kind { TRUTH_PROBS, TRUTH_ONE_HOT, TRUTH_CLASS, TRUTH_BINARY, TRUTH_NEAR_PRED } truth_kind;

typedef struct loss_case {
    const char *name;
    nn_loss_opts opts;
    double pred_lo, pred_hi;
    truth_kind truth;
} loss_case;

/* Predictions for probabilities are in (0.1, 0.9): inside Keras's [1e-7, 1 - 1e-7] clip.
 * Regression targets sit 0.1..0.5 away from the prediction (no |e| kink, no huber switch at 1). */
static const loss_case LOSS_CASES[] = {
    { "binary_crossentropy", { 0 }, 0.1, 0.9, TRUTH_PROBS },
    { "binary_crossentropy", { .label_smoothing = 0.1 }, 0.1, 0.9, TRUTH_BINARY },
    { "binary_crossentropy", { .from_logits = true }, -3, 3, TRUTH_PROBS },
    { "binary_crossentropy", { .from_logits = true, .label_smoothing = 0.2 }, -3, 3, TRUTH_BINARY },
    { "categorical_crossentropy", { 0 }, 0.1, 0.9, TRUTH_ONE_HOT },
    { "categorical_crossentropy", { 0 }, 0.1, 0.9, TRUTH_PROBS },
    { "categorical_crossentropy", { .label_smoothing = 0.1 }, 0.1, 0.9, TRUTH_ONE_HOT },
    { "categorical_crossentropy", { .from_logits = true }, -3, 3, TRUTH_ONE_HOT },
    { "categorical_crossentropy", { .from_logits = true, .label_smoothing = 0.2 }, -3, 3, TRUTH_ONE_HOT },
    /* labels that do not sum to 1: the logits gradient is softmax * sum(t) - t */
    { "categorical_crossentropy", { .from_logits = true }, -3, 3, TRUTH_PROBS },
    { "sparse_categorical_crossentropy", { 0 }, 0.1, 0.9, TRUTH_CLASS },
    { "sparse_categorical_crossentropy", { .from_logits = true }, -3, 3, TRUTH_CLASS },
    { "mean_squared_error", { 0 }, -2, 2, TRUTH_PROBS },
    { "mean_absolute_error", { 0 }, -2, 2, TRUTH_NEAR_PRED },
    { "huber", { 0 }, -2, 2, TRUTH_NEAR_PRED },
    { "huber", { .delta = 0.3 }, -2, 2, TRUTH_NEAR_PRED },
    { "hinge", { 0 }, -2, 2, TRUTH_BINARY },
    { "kl_divergence", { 0 }, 0.1, 0.9, TRUTH_PROBS },
    { "log_cosh", { 0 }, -2, 2, TRUTH_PROBS },
};

static void fill_truth(gc *c, const loss_case *lc, float *truth, const float *pred, int64_t cols) {
    for (int r = 0; r < GC_BATCH; r++) {
        int64_t hot = (int64_t)nn_rng_below(&c->rng, (uint64_t)cols);
        if (lc->truth == TRUTH_CLASS) {
            truth[r] = (float)hot;
            continue;
        }
        for (int64_t k = 0; k < cols; k++) {
            float *t = &truth[r * cols + k];
            const float p = pred[r * cols + k];
            switch (lc->truth) {
            case TRUTH_PROBS: *t = (float)uniform(c, 0.05, 0.95); break;
            case TRUTH_ONE_HOT: *t = k == hot ? 1.0f : 0.0f; break;
            case TRUTH_BINARY: *t = nn_rng_below(&c->rng, 2) ? 1.0f : 0.0f; break;
            case TRUTH_NEAR_PRED: *t = (float)(p + uniform_off_zero(c, -0.5, 0.5, 0.1)); break;
            case TRUTH_CLASS: break;
            }
        }
    }
}

/* hinge: keep the margin 1 - y * pred clear of 0 */
static void keep_hinge_off_kink(float *pred, const float *truth, int64_t size) {
    for (int64_t i = 0; i < size; i++) {
        double y = 2.0 * truth[i] - 1.0, margin = 1.0 - y * pred[i];
        if (fabs(margin) < 0.1) pred[i] += (float)(margin >= 0 ? -0.2 * y : 0.2 * y);
    }
}

TEST(loss_gradients_every_loss) {
    for (size_t i = 0; i < NN_ARRAY_LEN(LOSS_CASES); i++) {
        const loss_case *lc = &LOSS_CASES[i];
        nn_loss *loss = nn_loss_new(lc->name, &lc->opts);
        CHECK(loss != NULL);
        if (!loss) continue;
        gc *c = gc_new(80 + i);
        int64_t cols = 5;
        int pred = gc_param_in(c, 2, (int64_t[]){ GC_BATCH, cols }, true, lc->pred_lo, lc->pred_hi);
        bool sparse = lc->truth == TRUTH_CLASS;
        int truth = gc_param_in(c, 2, (int64_t[]){ GC_BATCH, sparse ? 1 : cols }, false, 0, 0);
        fill_truth(c, lc, gc_param_values(c, truth), gc_param_values(c, pred), cols);
        if (strcmp(lc->name, "hinge") == 0)
            keep_hinge_off_kink(gc_param_values(c, pred), gc_param_values(c, truth), GC_BATCH * cols);
        nn_attr attr = { .ptr = loss };
        int y = gc_op(c, NN_OP_LOSS, (int[]){ pred, truth }, 2, &attr);
        CHECK(c->graph.nodes[y].ndim == 1 && c->graph.nodes[y].inner == GC_BATCH);
        char label[96];
        snprintf(label, sizeof label, "%s (from_logits=%d, label_smoothing=%g, delta=%g)", lc->name,
                 lc->opts.from_logits, lc->opts.label_smoothing, lc->opts.delta);
        if (gc_check(c, y, label) != 0) {
            printf("  loss case %zu: %s\n", i, label);
            CHECK(!"loss gradient");
        }
        gc_free(c);
        nn_loss_free(loss);
    }
}

/* The loss op batched, as compile builds it: class indices from an INPUT of one per sample. */
TEST(sparse_loss_gradient_batched) {
    nn_loss *loss = nn_loss_sparse_categorical_crossentropy(.from_logits = true);
    gc *c = gc_new(99);
    int h = gc_batched(c, 1, (int64_t[]){ 5 }, 7, -1, 1);
    int labels = gc_input_in(c, 1, (int64_t[]){ 1 }, 0, 0);
    float *l = gc_input_values(c, labels);
    l[0] = 6, l[1] = 0, l[2] = 3;
    nn_attr attr = { .ptr = loss };
    CHECK(gc_check(c, gc_op(c, NN_OP_LOSS, (int[]){ h, labels }, 2, &attr), "sparse batched") == 0);
    nn_loss_free(loss);
    gc_free(c);
}

/* ---------------------------------------------------------------- shape errors */

TEST(matmul_shape_error_names_both_shapes) {
    nn_graph g = { 0 };
    int x = nn_graph_input(&g, 1, (int64_t[]){ 5 }, "input");
    int w = nn_graph_param(&g, 0, 2, (int64_t[]){ 4, 7 }, true, "dense");
    int status = nn_graph_op(&g, NN_OP_MATMUL, (int[]){ x, w }, 2, NULL, "dense");
    CHECK(status == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "dense");
    CHECK_CONTAINS(nn_last_error(), "matmul");
    CHECK_CONTAINS(nn_last_error(), "(None, 5)");
    CHECK_CONTAINS(nn_last_error(), "(4, 7)");
    CHECK(g.count == 2);
    nn_graph_free(&g);
}

TEST(elementwise_shape_errors_name_both_shapes) {
    nn_graph g = { 0 };
    int a = nn_graph_input(&g, 1, (int64_t[]){ 5 }, "input");
    int b = nn_graph_input(&g, 1, (int64_t[]){ 7 }, "input");
    int bias = nn_graph_param(&g, 0, 1, (int64_t[]){ 3 }, true, "dense");
    CHECK(nn_graph_op(&g, NN_OP_ADD, (int[]){ a, b }, 2, NULL, "add") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "(None, 5) and (None, 7)");
    CHECK(nn_graph_op(&g, NN_OP_MUL, (int[]){ a, b }, 2, NULL, "mul") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "mul");
    CHECK(nn_graph_op(&g, NN_OP_BIAS_ADD, (int[]){ a, bias }, 2, NULL, "dense") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "(None, 5) and (3,)");
    nn_graph_free(&g);
}

TEST(reshape_to_incompatible_shape_fails) {
    nn_graph g = { 0 };
    int x = nn_graph_input(&g, 2, (int64_t[]){ 5, 7 }, "input");
    nn_attr attr = { .ndim = 2, .shape = { 6, 6 } };
    CHECK(nn_graph_op(&g, NN_OP_RESHAPE, &x, 1, &attr, "reshape") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "cannot reshape (None, 5, 7) (35 values per sample) to (6, 6)");
    nn_attr inferred = { .ndim = 2, .shape = { 4, -1 } };
    CHECK(nn_graph_op(&g, NN_OP_RESHAPE, &x, 1, &inferred, "reshape") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "cannot reshape (None, 5, 7) (35 values per sample) to (4, -1)");
    nn_attr zero = { .ndim = 2, .shape = { 0, 35 } };
    CHECK(nn_graph_op(&g, NN_OP_RESHAPE, &x, 1, &zero, "reshape") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "positive");
    nn_graph_free(&g);
}

TEST(loss_with_mismatched_targets_fails) {
    nn_loss *mse = nn_loss_new("mse", NULL), *sparse = nn_loss_new("sparse_categorical_crossentropy", NULL);
    nn_graph g = { 0 };
    int pred = nn_graph_input(&g, 1, (int64_t[]){ 5 }, "input");
    int truth = nn_graph_input(&g, 1, (int64_t[]){ 4 }, "targets");
    nn_attr attr = { .ptr = mse };
    CHECK(nn_graph_op(&g, NN_OP_LOSS, (int[]){ pred, truth }, 2, &attr, "loss") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "mean_squared_error");
    CHECK_CONTAINS(nn_last_error(), "targets of shape (None, 4) do not fit predictions of shape (None, 5)");
    int onehot = nn_graph_input(&g, 1, (int64_t[]){ 5 }, "targets");
    attr.ptr = sparse;
    CHECK(nn_graph_op(&g, NN_OP_LOSS, (int[]){ pred, onehot }, 2, &attr, "loss") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "(expected one class index per sample)");
    nn_graph_free(&g);
    nn_loss_free(mse);
    nn_loss_free(sparse);
}

int main(void) {
    RUN_TESTS(matmul_gradient_unbatched, matmul_gradient_batched_with_leading_dims,
              matmul_shared_weight_gradient_accumulates, matmul_first_grad_is_assigned_repeated_input_adds,
              bias_add_gradient, dense_gradient_every_fused_activation,
              dense_gradient_batched_with_leading_dims, dense_equals_matmul_bias_add_activation,
              dense_bias_shape_error_names_both_shapes,
              activation_gradients_every_activation, softmax_gradient_batched, add_gradient, sub_gradient,
              mul_gradient, fan_out_gradient_accumulates, scale_shift_gradient, normalize_gradient_and_value,
              normalize_zero_variance_uses_epsilon, reshape_gradient, reshape_of_a_value_is_a_view, dropout_gradient_reuses_the_forward_mask,
              reduce_sum_gradient, reduce_mean_gradient, penalty_gradient_and_value, loss_gradients_every_loss,
              sparse_loss_gradient_batched, matmul_shape_error_names_both_shapes,
              elementwise_shape_errors_name_both_shapes, reshape_to_incompatible_shape_fails,
              loss_with_mismatched_targets_fails);
}
