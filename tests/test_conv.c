/* Convolution, pooling and spatial layers: gradient checks of the spatial ops, their outputs
 * against real Keras (tests/data/conv, made by tests/gen/make_conv_ref.py), the same bits on
 * any thread count, configs, and shape and option errors.
 * Gradient checks use tests/gradcheck.h. */
#include "../src/core/graph.h"
#include "../src/model/model.h"
#include "../src/ops/conv.h"
#include "gradcheck.h"
#include "keras_ref.h"
#include "layer_checks.h"
#include "test.h"

#include <stdlib.h>

/* conv2d and pool attributes: strides, extent (dilation or pool size), padding. */
static nn_attr window(int64_t sh, int64_t sw, int64_t eh, int64_t ew, int64_t top, int64_t bottom, int64_t left,
                      int64_t right) {
    return (nn_attr){ .shape = { sh, sw, eh, ew, top, bottom, left, right } };
}

/* A fused activation by name, NULL for "linear" (as the layers give the ops). */
static const nn_activation_def *fused_activation(const char *name) {
    return strcmp(name, "linear") ? nn_activation_find(name) : NULL;
}

/* conv2d, conv2d_max_pool2d or conv2d_transpose; seeds below 100 check it without its optional
 * bias input, the others with it (as long as the kernel's filters axis: the last, but the one
 * before for conv2d_transpose). */
static void check_conv_op(nn_op op, uint64_t seed, int xdim, const int64_t *x_shape, int kdim, const int64_t *k_shape,
                          nn_attr attr, const int64_t *expected_out, const char *label) {
    gc *c = gc_new(seed);
    int x = gc_spatial(c, xdim, x_shape, false);
    int k = gc_param(c, kdim, k_shape, true);
    int64_t filters = k_shape[op == NN_OP_CONV2D_TRANSPOSE ? kdim - 2 : kdim - 1];
    int bias = seed >= 100 ? gc_param(c, 1, &filters, true) : 0;
    int y = gc_op(c, op, (int[]){ x, k, bias }, seed >= 100 ? 3 : 2, &attr);
    for (int i = 0; i < xdim; i++) CHECK(c->graph.nodes[y].shape[i + 1] == expected_out[i]);
    CHECK(gc_check(c, y, label) == 0);
    gc_free(c);
}

/* ---------------------------------------------------------------- conv2d gradients */

TEST(conv2d_gradient_valid) {
    check_conv_op(NN_OP_CONV2D, 101, 3, (int64_t[]){ 5, 6, 2 }, 4, (int64_t[]){ 3, 3, 2, 3 }, window(1, 1, 1, 1, 0, 0, 0, 0),
                  (int64_t[]){ 3, 4, 3 }, "conv2d valid");
}

/* TF's same padding for 7 rows, 3 taps, stride 2: 4 outputs, 2 rows of padding split 1 + 1; for
 * 7 columns, 2 taps, stride 3: 3 outputs, 1 column of padding, all of it on the right. */
TEST(conv2d_gradient_same_strided) {
    int64_t top, bottom, left, right;
    nn_same_padding(7, 3, 2, &top, &bottom);
    nn_same_padding(7, 2, 3, &left, &right);
    CHECK(top == 1 && bottom == 1 && left == 0 && right == 1);
    check_conv_op(NN_OP_CONV2D, 2, 3, (int64_t[]){ 7, 7, 2 }, 4, (int64_t[]){ 3, 2, 2, 4 }, window(2, 3, 1, 1, top, bottom, left, right),
                  (int64_t[]){ 4, 3, 4 }, "conv2d same strided");
}

TEST(conv2d_gradient_dilated_same) {
    int64_t top, bottom, left, right;
    nn_same_padding(6, 5, 1, &top, &bottom); /* 3 taps 2 apart span 5 */
    nn_same_padding(5, 3, 1, &left, &right);
    CHECK(top == 2 && bottom == 2 && left == 1 && right == 1);
    check_conv_op(NN_OP_CONV2D, 3, 3, (int64_t[]){ 6, 5, 3 }, 4, (int64_t[]){ 3, 3, 3, 2 }, window(1, 1, 2, 1, top, bottom, left, right),
                  (int64_t[]){ 6, 5, 2 }, "conv2d dilated same");
}

TEST(conv2d_gradient_groups) {
    /* 4 channels in 2 groups of 2, 6 filters in 2 groups of 3 */
    check_conv_op(NN_OP_CONV2D, 104, 3, (int64_t[]){ 5, 6, 4 }, 4, (int64_t[]){ 2, 3, 2, 6 }, window(2, 2, 1, 1, 0, 1, 1, 1),
                  (int64_t[]){ 3, 3, 6 }, "conv2d groups");
}

TEST(conv2d_gradient_pointwise) {
    check_conv_op(NN_OP_CONV2D, 105, 3, (int64_t[]){ 3, 4, 5 }, 4, (int64_t[]){ 1, 1, 5, 3 }, window(1, 1, 1, 1, 0, 0, 0, 0),
                  (int64_t[]){ 3, 4, 3 }, "conv2d 1x1");
}

/* A 1-D input (None, steps, channels) with a (taps, channels, filters) kernel: causal padding. */
TEST(conv2d_gradient_one_dimensional_causal) {
    check_conv_op(NN_OP_CONV2D, 106, 2, (int64_t[]){ 7, 3 }, 3, (int64_t[]){ 2, 3, 4 }, window(1, 1, 1, 2, 0, 0, 2, 0),
                  (int64_t[]){ 7, 4 }, "conv1d causal");
}

/* The activations conv2d fuses, as dense does, through each path: windows in chunks (relu in
 * the GEMM's store, the others after it), a pointwise kernel, and groups. The seeds keep every
 * pre-activation further from relu's kink than the finite difference's step (seeds 110 and
 * 150 put one within it). */
TEST(conv2d_gradient_fused_activations) {
    static const char *const fused[] = { "relu", "sigmoid", "tanh", "softmax" };
    for (size_t i = 0; i < NN_ARRAY_LEN(fused); i++) {
        nn_attr valid = window(1, 1, 1, 1, 0, 0, 0, 0), grouped = window(2, 2, 1, 1, 0, 1, 1, 1);
        valid.ptr = grouped.ptr = nn_activation_find(fused[i]);
        check_conv_op(NN_OP_CONV2D, 160 + i, 3, (int64_t[]){ 5, 6, 2 }, 4, (int64_t[]){ 3, 3, 2, 3 }, valid,
                      (int64_t[]){ 3, 4, 3 }, fused[i]);
        check_conv_op(NN_OP_CONV2D, 120 + i, 3, (int64_t[]){ 3, 4, 5 }, 4, (int64_t[]){ 1, 1, 5, 3 }, valid,
                      (int64_t[]){ 3, 4, 3 }, fused[i]);
        check_conv_op(NN_OP_CONV2D, 130 + i, 3, (int64_t[]){ 5, 6, 4 }, 4, (int64_t[]){ 2, 3, 2, 6 }, grouped,
                      (int64_t[]){ 3, 3, 6 }, fused[i]);
    }
}

/* Each sample's columns fill a chunk of their own (22 x 22 windows of 3 x 3 x 16), so the
 * backward adds the kernel and bias gradients of GC_BATCH chunks in as many slots and sums them.
 * Each gradient sums 1452 products and the objective 2904 float outputs, whose rounding alone
 * moves the finite differences by about 0.2%: hence the wider tolerance. */
TEST(conv2d_gradient_across_chunks) {
    gc *c = gc_new(140);
    c->rel_tol = 1e-2;
    int x = gc_input(c, 3, (int64_t[]){ 24, 24, 16 }, GC_BATCH, false);
    int k = gc_param(c, 4, (int64_t[]){ 3, 3, 16, 2 }, true);
    int bias = gc_param(c, 1, (int64_t[]){ 2 }, true);
    nn_attr valid = window(1, 1, 1, 1, 0, 0, 0, 0);
    valid.ptr = nn_activation_find("tanh");
    CHECK(gc_check(c, gc_op(c, NN_OP_CONV2D, (int[]){ x, k, bias }, 3, &valid), "conv2d across chunks") == 0);
    gc_free(c);
}

/* 3 x 3 kernels at stride 1 over 8 or more channels and filters run by Winograd's F(2x2, 3x3),
 * forward and backward: the gradients through that path. Each output
 * sums 72 products, rounded once more by the transforms, and the objective 720 outputs, which
 * moves the finite differences by up to about 1% or 5e-4 (the direct path's too, at this size):
 * hence the wider tolerances. A wrong gradient is off by far more. */
TEST(conv2d_gradient_winograd) {
    gc *c = gc_new(141);
    c->rel_tol = 2e-2, c->abs_tol = 1e-3;
    int x = gc_spatial(c, 3, (int64_t[]){ 5, 6, 8 }, false);
    int k = gc_param(c, 4, (int64_t[]){ 3, 3, 8, 8 }, true);
    int bias = gc_param(c, 1, (int64_t[]){ 8 }, true);
    nn_attr same = window(1, 1, 1, 1, 1, 1, 1, 1);
    same.ptr = nn_activation_find("tanh");
    CHECK(gc_check(c, gc_op(c, NN_OP_CONV2D, (int[]){ x, k, bias }, 3, &same), "conv2d winograd") == 0);
    gc_free(c);
}

/* conv2d's outputs against a sum in double over the taps, on two threads, for shapes that take
 * the Winograd path: outputs of odd height and width (tiles past the edge), padding, filters not
 * a multiple of the vector width, and batches of several chunks; with and without bias and ReLU.
 * Winograd's transforms round differently from a direct sum: 1e-5 of the terms' magnitude. */
static void check_conv_against_sums(uint64_t seed, int64_t batch, int64_t h, int64_t w, int64_t ch, int64_t filters,
                                    int64_t pad, bool bias_relu) {
    gc *c = gc_new(seed);
    int x = gc_input(c, 3, (int64_t[]){ h, w, ch }, batch, false);
    int k = gc_param(c, 4, (int64_t[]){ 3, 3, ch, filters }, true);
    int b = gc_param(c, 1, &filters, true);
    nn_attr attr = window(1, 1, 1, 1, pad, pad, pad, pad);
    attr.ptr = bias_relu ? nn_activation_find("relu") : NULL;
    int y = gc_op(c, NN_OP_CONV2D, (int[]){ x, k, b }, bias_relu ? 3 : 2, &attr);
    float *arena = nn_calloc(nn_plan_graph(&c->graph, batch, false), sizeof(float));
    nn_threads *pool = NULL;
    NN_ASSERT(arena && nn_threads_new(2, &pool) == NN_OK);
    nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads,
                  .batch = batch, .threads = pool };
    gc_forward(c, &e);
    const float *xs = gc_input_values(c, x), *ks = gc_param_values(c, k), *bs = gc_param_values(c, b), *ys = nn_node_value(&e, y);
    int64_t oh = h + 2 * pad - 2, ow = w + 2 * pad - 2, bad = 0;
    for (int64_t n = 0; n < batch; n++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                for (int64_t f = 0; f < filters; f++) {
                    double sum = bias_relu ? bs[f] : 0.0, size = fabs(sum);
                    for (int64_t i = 0; i < 3; i++)
                        for (int64_t j = 0; j < 3; j++)
                            for (int64_t q = 0; q < ch; q++) {
                                int64_t iy = oy + i - pad, ix = ox + j - pad;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                double term = (double)xs[((n * h + iy) * w + ix) * ch + q] * ks[((i * 3 + j) * ch + q) * filters + f];
                                sum += term, size += fabs(term);
                            }
                    if (bias_relu && sum < 0) sum = 0;
                    double got = ys[((n * oh + oy) * ow + ox) * filters + f];
                    if (fabs(got - sum) > 1e-5 * size + 1e-6 && bad++ < 3)
                        printf("  sample %lld (%lld, %lld) filter %lld: %.9g, the sum %.9g\n", (long long)n, (long long)oy,
                               (long long)ox, (long long)f, got, sum);
                }
    CHECK(bad == 0);
    nn_threads_free(pool);
    nn_free(arena);
    gc_free(c);
}

TEST(conv2d_winograd_matches_direct_sums) {
    check_conv_against_sums(142, 20, 9, 8, 8, 8, 0, false);   /* 7 x 6 outputs, 3 chunks */
    check_conv_against_sums(143, 5, 7, 7, 12, 20, 1, true);   /* same padding, 7 x 7 */
    check_conv_against_sums(144, 3, 13, 13, 32, 40, 0, true); /* as fmnist-cnn's second layer */
}

/* ---------------------------------------------------------------- conv2d fused with max_pool2d */

/* The fused op built on its own checks its pool against the conv's output and its groups. */
TEST(conv2d_max_pool_shape_errors) {
    gc *c = gc_new(176);
    int x = gc_input(c, 3, (int64_t[]){ 5, 5, 4 }, GC_BATCH, false);
    int k = gc_param(c, 4, (int64_t[]){ 3, 3, 4, 2 }, true), grouped = gc_param(c, 4, (int64_t[]){ 3, 3, 2, 2 }, true);
    nn_attr too_big = window(1, 1, 1, 1, 0, 0, 0, 0);
    too_big.f[0] = too_big.f[1] = 4; /* the conv's output is 3 x 3 */
    CHECK(nn_graph_op(&c->graph, NN_OP_CONV2D_MAX_POOL, (int[]){ x, k }, 2, &too_big, "fused") == NN_ERR_SHAPE);
    CHECK(strstr(nn_last_error(), "layer 'fused': conv2d_max_pool2d: a fused conv2d and max pooling needs") != NULL);
    nn_attr two = too_big;
    two.f[0] = two.f[1] = 2;
    CHECK(nn_graph_op(&c->graph, NN_OP_CONV2D_MAX_POOL, (int[]){ x, grouped }, 2, &two, "fused") == NN_ERR_SHAPE);
    CHECK(nn_graph_op(&c->graph, NN_OP_CONV2D_MAX_POOL, (int[]){ x, k }, 2, &two, "fused") >= 0);
    gc_free(c);
}

/* conv2d (attr) then max_pool2d (pool), both on gc's graph; the pooled node. */
static int conv_then_pool(gc *c, int x, const int64_t *k_shape, nn_attr conv, nn_attr pool) {
    int k = gc_param(c, 4, k_shape, true);
    int b = gc_param(c, 1, &k_shape[3], true);
    int y = gc_op(c, NN_OP_CONV2D, (int[]){ x, k, b }, 3, &conv);
    return gc_op(c, NN_OP_MAX_POOL2D, &y, 1, &pool);
}

/* The same graph built twice, one copy fused by nn_fuse_conv_pools: the same pooled values to
 * the bit, and the same gradients (kernel, bias and input) but for rounding, since the kernel's
 * gradient sums the same terms in chunks of other sizes (1e-4: a few hundred terms that partly
 * cancel; a wrong gradient is off by far more). The fused op is checked against the
 * two ops, whose gradients are checked on their own: a finite difference through a max of conv
 * outputs would flip its argmax wherever two of them are within the step. */
static void check_fusion_matches(uint64_t seed, const int64_t *x_shape, const int64_t *k_shape, nn_attr conv,
                                 int64_t pool_h, int64_t pool_w, const char *act) {
    gc *c[2];
    float *arena[2], *pooled_values[2];
    for (int fused = 0; fused < 2; fused++) {
        c[fused] = gc_new(seed);
        int x = gc_spatial(c[fused], 3, x_shape, true);
        conv.ptr = fused_activation(act);
        int pooled = conv_then_pool(c[fused], x, k_shape, conv, window(pool_h, pool_w, pool_h, pool_w, 0, 0, 0, 0));
        gc_op(c[fused], NN_OP_REDUCE_SUM, &pooled, 1, NULL); /* the scalar the backward starts from */
        if (fused) {
            nn_fuse_conv_pools(&c[fused]->graph);
            CHECK(c[fused]->graph.nodes[c[fused]->graph.nodes[pooled].inputs[0]].op == NN_OP_CONV2D_MAX_POOL);
            CHECK(c[fused]->graph.nodes[pooled].op == NN_OP_RESHAPE);
        }
        size_t size = (size_t)(GC_BATCH * c[fused]->graph.nodes[pooled].inner);
        arena[fused] = nn_calloc(nn_plan_graph(&c[fused]->graph, GC_BATCH, true), sizeof(float));
        pooled_values[fused] = nn_calloc(size, sizeof(float));
        NN_ASSERT(arena[fused] && pooled_values[fused]);
        nn_exec e = { .graph = &c[fused]->graph, .arena = arena[fused], .params = c[fused]->params,
                      .grads = c[fused]->grads, .batch = GC_BATCH };
        gc_forward(c[fused], &e);
        memcpy(pooled_values[fused], nn_node_value(&e, pooled), size * sizeof(float));
        nn_graph_backward(&e);
        if (fused) CHECK(memcmp(pooled_values[0], pooled_values[1], size * sizeof(float)) == 0);
    }
    int bad = 0;
    for (size_t i = 0; i < c[0]->nparams; i++) {
        float a = c[0]->grads[i], b = c[1]->grads[i];
        if (fabsf(a - b) > 1e-4f * (1.0f + fabsf(a)) && bad++ < 3) printf("  gradient %zu: %.9g fused %.9g\n", i, a, b);
    }
    CHECK(bad == 0);
    for (int fused = 0; fused < 2; fused++) nn_free(arena[fused]), nn_free(pooled_values[fused]), gc_free(c[fused]);
}

/* Conv outputs with a row or column no window reads, strides and dilation on the conv, every
 * fused activation and none, and samples whose columns fill a chunk each (GC_BATCH chunks);
 * and convs that take Winograd's path, pooled tile by tile (odd outputs: a row and a column of
 * tiles never computed). */
TEST(fused_conv_and_pool_match_the_two_ops) {
    nn_attr same = window(1, 1, 1, 1, 1, 1, 1, 1), valid = window(1, 1, 1, 1, 0, 0, 0, 0);
    nn_attr strided = window(2, 1, 1, 2, 1, 1, 0, 1);
    static const char *const activations[] = { "relu", "sigmoid", "tanh", "exponential", "linear" };
    for (size_t i = 0; i < NN_ARRAY_LEN(activations); i++) {
        check_fusion_matches(180 + i, (int64_t[]){ 10, 11, 2 }, (int64_t[]){ 3, 3, 2, 6 }, same, 2, 2, activations[i]);
        check_fusion_matches(190 + i, (int64_t[]){ 8, 9, 2 }, (int64_t[]){ 2, 3, 2, 5 }, strided, 2, 3, activations[i]);
    }
    check_fusion_matches(185, (int64_t[]){ 9, 8, 3 }, (int64_t[]){ 2, 2, 3, 5 }, valid, 3, 2, "relu");
    check_fusion_matches(186, (int64_t[]){ 24, 24, 16 }, (int64_t[]){ 3, 3, 16, 2 }, valid, 2, 2, "tanh");
    check_fusion_matches(187, (int64_t[]){ 9, 9, 8 }, (int64_t[]){ 3, 3, 8, 12 }, valid, 2, 2, "relu");
    check_fusion_matches(188, (int64_t[]){ 8, 7, 10 }, (int64_t[]){ 3, 3, 10, 9 }, same, 2, 2, "sigmoid");
    check_fusion_matches(189, (int64_t[]){ 13, 13, 16 }, (int64_t[]){ 3, 3, 16, 24 }, valid, 2, 2, "linear");
}

/* The pass leaves alone what it cannot fuse: a conv output read twice, a pool with padding or
 * strides other than its size, a Winograd conv under a pool other than 2 x 2, a softmax over
 * each output pixel. */
TEST(conv_pool_fusion_only_where_it_applies) {
    gc *c = gc_new(185);
    int x = gc_input(c, 3, (int64_t[]){ 9, 9, 2 }, GC_BATCH, false);
    nn_attr conv = window(1, 1, 1, 1, 0, 0, 0, 0), pool = window(2, 2, 2, 2, 0, 0, 0, 0);
    nn_attr padded = window(2, 2, 2, 2, 0, 1, 0, 1), overlapping = window(1, 1, 2, 2, 0, 0, 0, 0);
    int twice = conv_then_pool(c, x, (int64_t[]){ 3, 3, 2, 4 }, conv, pool);
    gc_op(c, NN_OP_REDUCE_SUM, &c->graph.nodes[twice].inputs[0], 1, NULL);
    int with_padding = conv_then_pool(c, x, (int64_t[]){ 3, 3, 2, 4 }, conv, padded);
    int with_strides = conv_then_pool(c, x, (int64_t[]){ 3, 3, 2, 4 }, conv, overlapping);
    int x8 = gc_input(c, 3, (int64_t[]){ 9, 9, 8 }, GC_BATCH, false);
    int winograd = conv_then_pool(c, x8, (int64_t[]){ 3, 3, 8, 8 }, conv, window(3, 3, 3, 3, 0, 0, 0, 0));
    int winograd_2x2 = conv_then_pool(c, x8, (int64_t[]){ 3, 3, 8, 8 }, conv, pool);
    nn_attr softmax = conv;
    softmax.ptr = nn_activation_find("softmax");
    int rowwise = conv_then_pool(c, x, (int64_t[]){ 3, 3, 2, 4 }, softmax, pool);
    int fusable = conv_then_pool(c, x, (int64_t[]){ 3, 3, 2, 4 }, conv, pool);
    nn_fuse_conv_pools(&c->graph);
    int fused = c->graph.nodes[fusable].inputs[0], fused_winograd = c->graph.nodes[winograd_2x2].inputs[0];
    for (int i = 0; i < c->graph.count; i++)
        CHECK(c->graph.nodes[i].op != NN_OP_CONV2D_MAX_POOL || i == fused || i == fused_winograd);
    CHECK(c->graph.nodes[fused].op == NN_OP_CONV2D_MAX_POOL && c->graph.nodes[fused_winograd].op == NN_OP_CONV2D_MAX_POOL);
    const int pools[] = { twice, with_padding, with_strides, winograd, rowwise };
    for (size_t i = 0; i < NN_ARRAY_LEN(pools); i++) CHECK(c->graph.nodes[pools[i]].op == NN_OP_MAX_POOL2D);
    gc_free(c);
}

/* ---------------------------------------------------------------- conv2d_transpose gradients */

/* The padding of a conv2d_transpose along one axis, as the layers resolve it: that of the conv
 * from `out` positions back to `in` (valid: none; same: TensorFlow's), the bottom amount making
 * (in - 1) * stride + span - top - bottom = out, negative for rows past the conv's last window. */
static void transpose_padding(int64_t in, int64_t out, int64_t span, int64_t stride, bool same, int64_t *top,
                              int64_t *bottom) {
    *top = 0;
    if (same) nn_same_padding(out, span, stride, top, bottom);
    *bottom = (in - 1) * stride + span - out - *top;
}

TEST(conv2d_transpose_gradient_valid) {
    check_conv_op(NN_OP_CONV2D_TRANSPOSE, 107, 3, (int64_t[]){ 4, 3, 2 }, 4, (int64_t[]){ 3, 3, 3, 2 },
                  window(1, 1, 1, 1, 0, 0, 0, 0), (int64_t[]){ 6, 5, 3 }, "conv2d_transpose valid");
}

/* Keras's same padding with strides (2, 3): 3 x 4 -> 6 x 12; a 2-wide window 3 apart leaves the
 * last output column of every stride past the conv's windows (right padding -1). */
TEST(conv2d_transpose_gradient_same_strided) {
    int64_t top, bottom, left, right;
    transpose_padding(3, 6, 3, 2, true, &top, &bottom);
    transpose_padding(4, 12, 2, 3, true, &left, &right);
    CHECK(top == 0 && bottom == 1 && left == 0 && right == -1);
    check_conv_op(NN_OP_CONV2D_TRANSPOSE, 108, 3, (int64_t[]){ 3, 4, 2 }, 4, (int64_t[]){ 3, 2, 4, 2 },
                  window(2, 3, 1, 1, top, bottom, left, right), (int64_t[]){ 6, 12, 4 }, "conv2d_transpose same strided");
    check_conv_op(NN_OP_CONV2D_TRANSPOSE, 8, 3, (int64_t[]){ 3, 4, 2 }, 4, (int64_t[]){ 3, 2, 4, 2 },
                  window(2, 3, 1, 1, top, bottom, left, right), (int64_t[]){ 6, 12, 4 }, "conv2d_transpose without bias");
}

/* Valid padding, stride 3 over a 2-wide window: (3 - 1) * 3 + max(2, 3) = 9 outputs. */
TEST(conv2d_transpose_gradient_stride_past_window) {
    int64_t top, bottom;
    transpose_padding(3, 9, 2, 3, false, &top, &bottom);
    CHECK(top == 0 && bottom == -1);
    check_conv_op(NN_OP_CONV2D_TRANSPOSE, 109, 3, (int64_t[]){ 3, 3, 2 }, 4, (int64_t[]){ 2, 2, 3, 2 },
                  window(3, 3, 1, 1, top, bottom, top, bottom), (int64_t[]){ 9, 9, 3 }, "conv2d_transpose stride 3");
}

TEST(conv2d_transpose_gradient_dilated_and_pointwise) {
    check_conv_op(NN_OP_CONV2D_TRANSPOSE, 110, 3, (int64_t[]){ 4, 4, 2 }, 4, (int64_t[]){ 3, 2, 3, 2 },
                  window(1, 1, 2, 1, 0, 0, 0, 0), (int64_t[]){ 8, 5, 3 }, "conv2d_transpose dilated");
    int64_t top, bottom;
    transpose_padding(4, 4, 5, 1, true, &top, &bottom); /* 3 taps 2 apart, same */
    check_conv_op(NN_OP_CONV2D_TRANSPOSE, 111, 3, (int64_t[]){ 4, 3, 2 }, 4, (int64_t[]){ 3, 1, 2, 2 },
                  window(1, 1, 2, 1, top, bottom, 0, 0), (int64_t[]){ 4, 3, 2 }, "conv2d_transpose dilated same");
    check_conv_op(NN_OP_CONV2D_TRANSPOSE, 112, 3, (int64_t[]){ 3, 4, 3 }, 4, (int64_t[]){ 1, 1, 4, 3 },
                  window(1, 1, 1, 1, 0, 0, 0, 0), (int64_t[]){ 3, 4, 4 }, "conv2d_transpose 1x1");
}

/* An input that needs no gradient (a model's first layer): the backward lays out the columns
 * for the kernel gradient itself. */
TEST(conv2d_transpose_gradient_kernel_only) {
    gc *c = gc_new(114);
    int x = gc_input(c, 3, (int64_t[]){ 3, 4, 2 }, GC_BATCH, false);
    int k = gc_param(c, 4, (int64_t[]){ 2, 3, 3, 2 }, true);
    int y = gc_op(c, NN_OP_CONV2D_TRANSPOSE, (int[]){ x, k }, 2, &(nn_attr){ .shape = { 2, 2, 1, 1, 0, 0, 1, 0 } });
    CHECK(c->graph.nodes[y].shape[1] == 6 && c->graph.nodes[y].shape[2] == 8);
    CHECK(gc_check(c, y, "conv2d_transpose kernel only") == 0);
    gc_free(c);
}

/* A 1-D input (None, steps, channels) with a (taps, filters, channels) kernel. */
TEST(conv2d_transpose_gradient_one_dimensional) {
    int64_t left, right;
    transpose_padding(5, 10, 3, 2, true, &left, &right);
    check_conv_op(NN_OP_CONV2D_TRANSPOSE, 113, 2, (int64_t[]){ 5, 2 }, 3, (int64_t[]){ 3, 4, 2 },
                  window(1, 2, 1, 1, 0, 0, left, right), (int64_t[]){ 10, 4 }, "conv1d_transpose same");
}

/* ---------------------------------------------------------------- pooling, pad2d, upsample2d */

static void check_unary(uint64_t seed, nn_op op, int xdim, const int64_t *x_shape, nn_attr attr,
                        const int64_t *expected_out, const char *label) {
    gc *c = gc_new(seed);
    int x = gc_spatial(c, xdim, x_shape, op == NN_OP_MAX_POOL2D);
    int y = gc_op(c, op, &x, 1, &attr);
    for (int i = 0; i < xdim; i++) CHECK(c->graph.nodes[y].shape[i + 1] == expected_out[i]);
    CHECK(gc_check(c, y, label) == 0);
    gc_free(c);
}

TEST(max_pool_gradient_valid_and_same) {
    check_unary(10, NN_OP_MAX_POOL2D, 3, (int64_t[]){ 5, 5, 2 }, window(2, 2, 2, 2, 0, 0, 0, 0), (int64_t[]){ 2, 2, 2 },
                "max_pool valid");
    check_unary(11, NN_OP_MAX_POOL2D, 3, (int64_t[]){ 5, 4, 2 }, window(2, 1, 3, 2, 1, 1, 0, 1), (int64_t[]){ 3, 4, 2 },
                "max_pool same");
    check_unary(12, NN_OP_MAX_POOL2D, 2, (int64_t[]){ 8, 3 }, window(1, 2, 1, 3, 0, 0, 0, 1), (int64_t[]){ 4, 3 },
                "max_pool 1-D same");
}

/* Ties go to the window's first maximum, forward and backward; a NaN in a window's first tap is
 * its maximum and takes its gradient; a window wholly in the padding gives 0 and takes none. */
TEST(max_pool_ties_nan_and_padding) {
    gc *c = gc_new(13);
    int x = gc_spatial(c, 3, (int64_t[]){ 2, 2, 2 }, false);
    /* 2 x 2 windows, stride 2, one row of padding below: two windows per sample, the second all padding */
    nn_attr pool = window(2, 2, 2, 2, 0, 2, 0, 0);
    int y = gc_op(c, NN_OP_MAX_POOL2D, &x, 1, &pool);
    gc_op(c, NN_OP_REDUCE_SUM, &y, 1, NULL); /* the scalar the backward starts from */
    float *v = gc_param_values(c, c->graph.nodes[c->graph.nodes[x].inputs[0]].inputs[1]);
    /* sample 0: channel 0 taps 1, 3, 3, 2 (ties at taps 1 and 2); channel 1 taps NaN, 5, 4, 6 */
    const float sample[8] = { 1, NAN, 3, 5, 3, 4, 2, 6 };
    for (int i = 0; i < GC_BATCH * 8; i++) v[i] = i < 8 ? sample[i] : (float)i;
    float *arena = nn_calloc(nn_plan_graph(&c->graph, GC_BATCH, true), sizeof *arena);
    nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads, .batch = GC_BATCH };
    gc_forward(c, &e);
    const float *out = nn_node_value(&e, y); /* (batch, 2, 1, 2) */
    CHECK(out[0] == 3.0f && isnan(out[1]) && out[2] == 0.0f && out[3] == 0.0f);
    memset(c->grads, 0, c->cap * sizeof(float));
    nn_graph_backward(&e);
    const float *dx = c->grads + c->graph.nodes[c->graph.nodes[c->graph.nodes[x].inputs[0]].inputs[1]].grad_off;
    const float expected[8] = { 0, 1, 1, 0, 0, 0, 0, 0 }; /* tap 1 of channel 0, tap 0 of channel 1 */
    for (int i = 0; i < 8; i++) CHECK(dx[i] == expected[i]);
    nn_free(arena);
    gc_free(c);
}

/* With no backward to follow (prediction), max pooling keeps no argmax: the same bits, NaNs,
 * ties and all-padding windows included. */
TEST(max_pool_without_argmax_gives_the_same_outputs) {
    gc *c = gc_new(15);
    int x = gc_input(c, 3, (int64_t[]){ 9, 7, 5 }, GC_BATCH, false);
    float *v = c->input_values[0];
    for (int i = 0; i < GC_BATCH * 9 * 7 * 5; i += 7) v[i] = i % 3 ? NAN : v[i + 5]; /* NaNs and ties */
    nn_attr pool = window(2, 3, 3, 3, 1, 3, 1, 0); /* overlapping windows, some all padding */
    int y = gc_op(c, NN_OP_MAX_POOL2D, &x, 1, &pool);
    size_t floats = nn_plan_graph(&c->graph, GC_BATCH, true);
    float *arena = nn_calloc(floats, sizeof *arena), *kept = nn_calloc(floats, sizeof *kept);
    NN_ASSERT(arena && kept);
    int64_t size = GC_BATCH * c->graph.nodes[y].inner;
    for (int forward_only = 0; forward_only < 2; forward_only++) {
        nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads, .batch = GC_BATCH,
                      .forward_only = forward_only };
        memset(arena, 0xff, floats * sizeof *arena); /* NaNs */
        gc_forward(c, &e);
        if (!forward_only) memcpy(kept, nn_node_value(&e, y), (size_t)size * sizeof *kept);
        else CHECK(memcmp(kept, nn_node_value(&e, y), (size_t)size * sizeof *kept) == 0);
    }
    nn_free(arena), nn_free(kept);
    gc_free(c);
}

TEST(avg_pool_gradient_valid_and_same) {
    check_unary(13, NN_OP_AVG_POOL2D, 3, (int64_t[]){ 6, 5, 2 }, window(2, 2, 3, 3, 0, 1, 1, 1), (int64_t[]){ 3, 3, 2 },
                "avg_pool same");
    check_unary(14, NN_OP_AVG_POOL2D, 3, (int64_t[]){ 4, 7, 3 }, window(1, 2, 2, 3, 0, 0, 0, 0), (int64_t[]){ 3, 3, 3 },
                "avg_pool valid");
}

TEST(pad2d_gradient_padding_and_cropping) {
    nn_attr pad = { .shape = { [NN_ATTR_PAD_TOP] = 1, [NN_ATTR_PAD_BOTTOM] = 2, [NN_ATTR_PAD_RIGHT] = 3 } };
    check_unary(20, NN_OP_PAD2D, 3, (int64_t[]){ 3, 2, 2 }, pad, (int64_t[]){ 6, 5, 2 }, "zero padding");
    nn_attr crop = { .shape = { [NN_ATTR_PAD_TOP] = -1, [NN_ATTR_PAD_LEFT] = -2, [NN_ATTR_PAD_RIGHT] = -1 } };
    check_unary(21, NN_OP_PAD2D, 3, (int64_t[]){ 4, 5, 2 }, crop, (int64_t[]){ 3, 2, 2 }, "cropping");
}

TEST(upsample2d_gradient) {
    nn_attr attr = { .shape = { [NN_ATTR_EXTENT_H] = 2, [NN_ATTR_EXTENT_W] = 3 } };
    check_unary(22, NN_OP_UPSAMPLE2D, 3, (int64_t[]){ 2, 3, 2 }, attr, (int64_t[]){ 4, 9, 2 }, "upsample");
}

/* ---------------------------------------------------------------- threads */

/* Large enough for the per-sample loops and the GEMMs to split: the same bits on 2 threads. */
TEST(spatial_ops_give_the_same_bits_on_two_threads) {
    enum { BATCH = 16 };
    gc *c = gc_new(30);
    int x = gc_input(c, 3, (int64_t[]){ 18, 17, 8 }, BATCH, false);
    int k = gc_param(c, 4, (int64_t[]){ 3, 3, 8, 16 }, true);
    nn_attr same = window(1, 1, 1, 1, 1, 1, 1, 1), pool = window(2, 2, 2, 2, 0, 0, 0, 1);
    int bias = gc_param(c, 1, (int64_t[]){ 16 }, true);
    int y = gc_op(c, NN_OP_CONV2D, (int[]){ x, k, bias }, 3, &same);
    int k2 = gc_param(c, 4, (int64_t[]){ 3, 3, 8, 8 }, true); /* 2 groups */
    y = gc_op(c, NN_OP_CONV2D, (int[]){ y, k2 }, 2, &same);
    int kt = gc_param(c, 4, (int64_t[]){ 3, 3, 4, 8 }, true);
    y = gc_op(c, NN_OP_CONV2D_TRANSPOSE, (int[]){ y, kt }, 2, &(nn_attr){ .shape = { 2, 2, 1, 1, 1, 0, 1, 0 } });
    int m = gc_op(c, NN_OP_MAX_POOL2D, &y, 1, &pool);
    int a = gc_op(c, NN_OP_AVG_POOL2D, &y, 1, &pool);
    int sum = gc_op(c, NN_OP_ADD, (int[]){ m, a }, 2, NULL);
    int total = gc_op(c, NN_OP_REDUCE_SUM, &sum, 1, NULL);
    CHECK(gc_same_bits_on_two_threads(c, total, BATCH));
    gc_free(c);
}

/* conv2d_max_pool2d: the forward's chunks of bands (or tiles) shared by the threads, and the
 * backward's chunks of samples summed in slots, give the same bits on 2 threads: on the im2col
 * path, then on Winograd's. */
TEST(fused_conv_and_pool_give_the_same_bits_on_two_threads) {
    enum { BATCH = 16 };
    gc *c = gc_new(31);
    int x = gc_input(c, 3, (int64_t[]){ 30, 29, 3 }, BATCH, false);
    nn_attr conv = window(1, 1, 1, 1, 1, 1, 1, 1), pool = window(2, 2, 2, 2, 0, 0, 0, 0);
    conv.ptr = nn_activation_find("relu");
    int squared = gc_op(c, NN_OP_MUL, (int[]){ x, x }, 2, NULL);
    int first = conv_then_pool(c, squared, (int64_t[]){ 3, 3, 3, 16 }, conv, pool);
    int second = conv_then_pool(c, first, (int64_t[]){ 3, 3, 16, 24 }, conv, pool);
    int total = gc_op(c, NN_OP_REDUCE_SUM, &second, 1, NULL);
    nn_fuse_conv_pools(&c->graph);
    CHECK(c->graph.nodes[c->graph.nodes[first].inputs[0]].op == NN_OP_CONV2D_MAX_POOL);
    CHECK(c->graph.nodes[c->graph.nodes[second].inputs[0]].op == NN_OP_CONV2D_MAX_POOL);
    CHECK(gc_same_bits_on_two_threads(c, total, BATCH));
    gc_free(c);
}

/* The forward of one conv2d on `batch` samples, on one thread and then on two: the outputs must
 * be the same bits. Large enough that the forward cuts one sample's outputs into chunks for the
 * two threads (prediction at batch 1), and cuts a batch between samples. */
static bool conv2d_forward_same_bits_on_two_threads(uint64_t seed, int64_t batch, const int64_t *x_shape,
                                                    const int64_t *k_shape, const char *activation) {
    gc *c = gc_new(seed);
    int x = gc_input(c, 3, x_shape, batch, false);
    int k = gc_param(c, 4, k_shape, true);
    int b = gc_param(c, 1, &k_shape[3], true);
    nn_attr valid = window(1, 1, 1, 1, 0, 0, 0, 0);
    valid.ptr = fused_activation(activation);
    int y = gc_op(c, NN_OP_CONV2D, (int[]){ x, k, b }, 3, &valid);
    float *arena = nn_calloc(nn_plan_graph(&c->graph, batch, false), sizeof(float));
    int64_t size = batch * c->graph.nodes[y].inner;
    float *first = calloc((size_t)size, sizeof(float));
    nn_threads *pool = NULL;
    bool same = arena && first && nn_threads_new(2, &pool) == NN_OK;
    for (int run = 0; same && run < 2; run++) {
        nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .grads = c->grads,
                      .batch = batch, .threads = run ? pool : NULL };
        memset(arena, 0xff, (size_t)nn_plan_graph(&c->graph, batch, false) * sizeof(float)); /* NaNs */
        gc_forward(c, &e);
        if (run == 0) memcpy(first, nn_node_value(&e, y), (size_t)size * sizeof(float));
        else same = memcmp(first, nn_node_value(&e, y), (size_t)size * sizeof(float)) == 0;
    }
    nn_threads_free(pool);
    nn_free(arena), free(first);
    gc_free(c);
    return same;
}

TEST(conv2d_forward_splits_a_sample_with_the_same_bits) {
    /* Winograd (fmnist-cnn's second conv), with ReLU fused and with tanh applied per tile */
    CHECK(conv2d_forward_same_bits_on_two_threads(150, 1, (int64_t[]){ 13, 13, 32 }, (int64_t[]){ 3, 3, 32, 64 }, "relu"));
    CHECK(conv2d_forward_same_bits_on_two_threads(151, 3, (int64_t[]){ 13, 13, 32 }, (int64_t[]){ 3, 3, 32, 64 }, "tanh"));
    /* im2col: 676 rows of one sample, and 5 rows (chunks of 2 and 3) */
    CHECK(conv2d_forward_same_bits_on_two_threads(152, 1, (int64_t[]){ 30, 30, 3 }, (int64_t[]){ 5, 5, 3, 16 }, "relu"));
    CHECK(conv2d_forward_same_bits_on_two_threads(153, 1, (int64_t[]){ 1, 7, 128 }, (int64_t[]){ 1, 3, 128, 128 }, "sigmoid"));
    CHECK(conv2d_forward_same_bits_on_two_threads(154, 3, (int64_t[]){ 12, 11, 8 }, (int64_t[]){ 2, 2, 8, 48 }, "linear"));
}

/* ---------------------------------------------------------------- against Keras */

/* One case of tests/data/conv: the layer built from the same text as in Keras, given Keras's
 * weights, must give Keras's output within 1e-5 relative. */
static void check_keras_case(const char *name) {
    char path[256], text[256];
    snprintf(path, sizeof path, "tests/data/conv/%s.txt", name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    NN_ASSERT(fscanf(f, "layer %255[^\n]", text) == 1);
    ref_array in, weights[4], expected;
    NN_ASSERT(read_array(f, "input", &in));
    int nweights = 0;
    while (nweights < 4 && read_array(f, "weight", &weights[nweights])) nweights++;
    NN_ASSERT(read_array(f, "output", &expected));
    fclose(f);

    nn_model *m = model_with_weights(text, &in, weights, nweights);
    nn_tensor *x = nn_tensor_wrap(NN_FLOAT32, in.ndim, in.shape, in.values), *y = NULL;
    CHECK(m && nn_predict(m, x, NULL, &y) == NN_OK && y != NULL);
    if (y) check_matches_keras(text, nn_tensor_f32(y), y->ndim, y->shape, &expected);
    nn_tensor_free(x), nn_tensor_free(y);
    nn_model_free(m);
    free(in.values), free(expected.values);
    for (int i = 0; i < nweights; i++) free(weights[i].values);
}

TEST(conv2d_matches_keras) {
    const char *cases[] = { "conv2d_valid", "conv2d_same_strided", "conv2d_same_even_kernel", "conv2d_dilated_relu",
                            "conv2d_dilated_valid", "conv2d_groups", "conv2d_pointwise" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(conv1d_matches_keras) {
    const char *cases[] = { "conv1d_same_strided", "conv1d_causal_dilated", "conv1d_groups" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(pooling_matches_keras) {
    const char *cases[] = { "max_pool2d_valid_odd", "max_pool2d_same", "avg_pool2d_same", "avg_pool2d_valid",
                            "max_pool1d_same", "avg_pool1d_same" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(global_pooling_matches_keras) {
    const char *cases[] = { "global_avg_pool2d", "global_max_pool2d_keepdims", "global_avg_pool1d", "global_max_pool1d" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(padding_cropping_upsampling_match_keras) {
    const char *cases[] = { "zero_padding2d_pairs", "zero_padding2d_int", "cropping2d", "up_sampling2d" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(depthwise_and_separable_match_keras) {
    const char *cases[] = { "depthwise_valid", "depthwise_same_strided_multiplier", "depthwise_dilated_strided",
                            "separable_valid", "separable_same_strided", "separable_dilated" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(conv2d_transpose_matches_keras) {
    const char *cases[] = { "conv2d_transpose_valid", "conv2d_transpose_same_strided", "conv2d_transpose_stride_past_kernel",
                            "conv2d_transpose_output_padding", "conv2d_transpose_same_output_padding" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

/* ---------------------------------------------------------------- configs and errors */

static const nn_value *config_of(const nn_layer *l, const char *key) { return nn_value_get(&l->config, key); }

/* configure fills Keras's defaults in Keras's saved form: tuples, lower-case names. */
TEST(configs_are_saved_as_keras_saves_them) {
    nn_layer *conv = nn_layer_parse("Conv2D(8, 3, padding='SAME')");
    CHECK(conv != NULL);
    const nn_value *k = config_of(conv, "kernel_size"), *s = config_of(conv, "strides");
    CHECK(k && k->type == NN_VALUE_LIST && k->count == 2 && k->items[1].number == 3);
    CHECK(s && s->type == NN_VALUE_LIST && s->count == 2 && s->items[0].number == 1);
    CHECK(strcmp(config_of(conv, "padding")->string, "same") == 0);
    CHECK(strcmp(config_of(conv, "data_format")->string, "channels_last") == 0);
    CHECK(config_of(conv, "groups")->number == 1);
    nn_layer_free(conv);
    nn_layer *pool = nn_layer_parse("MaxPooling2D((3, 2))");
    const nn_value *ps = config_of(pool, "strides");
    CHECK(ps && ps->count == 2 && ps->items[0].number == 3 && ps->items[1].number == 2); /* strides default to pool_size */
    nn_layer_free(pool);
    nn_layer *pad = nn_layer_parse("ZeroPadding2D((1, 2))");
    const nn_value *pp = config_of(pad, "padding");
    CHECK(pp && pp->count == 2 && pp->items[1].type == NN_VALUE_LIST && pp->items[1].items[0].number == 2);
    nn_layer_free(pad);
    nn_layer *conv1 = nn_layer_parse("Conv1D(4, kernel_size=5)");
    CHECK(conv1 && config_of(conv1, "kernel_size")->count == 1);
    nn_layer_free(conv1);
    nn_layer *depthwise = nn_layer_parse("DepthwiseConv2D(3)");
    CHECK(depthwise && config_of(depthwise, "depth_multiplier")->number == 1);
    CHECK(depthwise && strcmp(config_of(depthwise, "depthwise_initializer")->string, "glorot_uniform") == 0);
    CHECK(depthwise && !config_of(depthwise, "kernel_initializer") && !config_of(depthwise, "groups"));
    nn_layer_free(depthwise);
    nn_layer *transpose = nn_layer_parse("Conv2DTranspose(3, 2)");
    CHECK(transpose && config_of(transpose, "output_padding")->type == NN_VALUE_NULL);
    nn_layer_free(transpose);
    transpose = nn_layer_parse("Conv2DTranspose(3, 2, strides=3, output_padding=2)");
    const nn_value *op = transpose ? config_of(transpose, "output_padding") : NULL;
    CHECK(op && op->type == NN_VALUE_LIST && op->count == 2 && op->items[1].number == 2);
    nn_layer_free(transpose);
}

TEST(option_errors_name_the_layer_and_option) {
    check_parse_error("Conv2D(0, 3)", "layer 'conv2d' (Conv2D): 'filters' must be an integer >= 1");
    check_parse_error("Conv2D(4)", "'kernel_size' must be an integer >= 1 or a tuple of 2 of them");
    check_parse_error("Conv2D(4, (3, 3, 3))", "'kernel_size' must be an integer >= 1 or a tuple of 2 of them");
    check_parse_error("Conv2D(4, 3, padding='full')", "'padding' must be one of valid, same");
    check_parse_error("Conv2D(4, 3, padding='causal')", "'padding' must be one of valid, same");
    check_parse_error("Conv2D(4, 3, data_format='channels_first')", "'data_format' must be one of channels_last");
    check_parse_error("Conv2D(4, 3, strides=2, dilation_rate=2)", "strides > 1 are not supported together with dilation_rate > 1");
    check_parse_error("Conv2D(6, 3, groups=4)", "filters (6) must be a multiple of groups (4)");
    check_parse_error("Conv1D(4, 3, strides=0)", "layer 'conv1d' (Conv1D): 'strides' must be an integer >= 1 or a tuple of 1 of them");
    check_parse_error("MaxPooling2D(pool_size=(2, 2, 2))", "layer 'max_pooling2d' (MaxPooling2D): 'pool_size'");
    check_parse_error("ZeroPadding2D(((1, 2), 3, 4))", "'padding' must be an integer >= 0, a tuple of 2 of them");
    check_parse_error("Cropping2D(-1)", "layer 'cropping2d' (Cropping2D): 'cropping' must be an integer >= 0");
    check_parse_error("UpSampling2D(interpolation='bilinear')", "'interpolation' must be one of nearest");
    check_parse_error("GlobalMaxPooling2D(keepdims=3)", "'keepdims' must be True or False");
    check_parse_error("AveragePooling1D(2, kernel=3)", "unknown argument 'kernel'");
    check_parse_error("DepthwiseConv2D(3, depth_multiplier=0)",
                      "layer 'depthwise_conv2d' (DepthwiseConv2D): 'depth_multiplier' must be an integer >= 1");
    check_parse_error("DepthwiseConv2D(3, padding='causal')", "(DepthwiseConv2D): 'padding' must be one of valid, same");
    check_parse_error("DepthwiseConv2D(3, kernel_initializer='ones')", "unknown argument 'kernel_initializer'");
    check_parse_error("DepthwiseConv2D(3, depthwise_regularizer='l3')", "'depthwise_regularizer' must be l1, l2, l1_l2");
    check_parse_error("SeparableConv2D(4)", "layer 'separable_conv2d' (SeparableConv2D): 'kernel_size' must be an integer >= 1");
    check_parse_error("SeparableConv2D(0, 3)", "(SeparableConv2D): 'filters' must be an integer >= 1");
    check_parse_error("SeparableConv2D(4, 3, pointwise_initializer='nope')", "layer 'separable_conv2d' (SeparableConv2D)");
    check_parse_error("Conv2DTranspose(4, 3, dilation_rate=2)",
                      "layer 'conv2d_transpose' (Conv2DTranspose): 'dilation_rate' must be 1 (dilated transposed "
                      "convolutions are not supported)");
    check_parse_error("Conv2DTranspose(4, 3, strides=2, output_padding=2)", "'output_padding' must be below strides in every dimension");
    check_parse_error("Conv2DTranspose(4, 3, output_padding=(1, 2, 3))",
                      "'output_padding' must be an integer >= 0 or a tuple of 2 of them");
    check_parse_error("Conv2DTranspose(4, 3, groups=2)", "layer Conv2DTranspose: unknown argument 'groups'");
}

TEST(shape_errors_name_the_layer_and_shapes) {
    check_build_error("Conv2D(4, 3)", 2, (int64_t[]){ 28, 28 },
                      "layer 'conv2d' (Conv2D): expected an input of shape (batch, height, width, channels), got (None, 28, 28)");
    check_build_error("Conv1D(4, 3)", 3, (int64_t[]){ 5, 5, 2 },
                      "layer 'conv1d' (Conv1D): expected an input of shape (batch, steps, channels), got (None, 5, 5, 2)");
    check_build_error("Conv2D(4, 5)", 3, (int64_t[]){ 3, 9, 1 },
                      "layer 'conv2d': conv2d: the window is larger than the (padded) input: (None, 3, 9, 1) and (5, 5, 1, 4)");
    check_build_error("Conv2D(4, 3, groups=2)", 3, (int64_t[]){ 8, 8, 3 },
                      "layer 'conv2d' (Conv2D): the input's 3 channels (shape (None, 8, 8, 3)) are not a multiple of groups (2)");
    check_build_error("MaxPooling2D(3)", 3, (int64_t[]){ 2, 5, 1 },
                      "layer 'max_pooling2d': max_pool2d: the window is larger than the (padded) input: (None, 2, 5, 1)");
    check_build_error("Cropping2D(((2, 1), (0, 0)))", 3, (int64_t[]){ 3, 4, 1 },
                      "layer 'cropping2d': pad2d: cropping leaves nothing of the input (None, 3, 4, 1)");
    check_build_error("GlobalAveragePooling1D()", 1, (int64_t[]){ 7 },
                      "layer 'global_average_pooling1d' (GlobalAveragePooling1D): expected an input of shape (batch, steps, channels), got (None, 7)");
    check_build_error("UpSampling2D()", 1, (int64_t[]){ 7 }, "(UpSampling2D): expected an input of shape (batch, height, width, channels)");
    check_build_error("DepthwiseConv2D(3)", 2, (int64_t[]){ 28, 28 },
                      "layer 'depthwise_conv2d' (DepthwiseConv2D): expected an input of shape (batch, height, width, channels), got (None, 28, 28)");
    check_build_error("SeparableConv2D(2, 5)", 3, (int64_t[]){ 3, 9, 2 },
                      "layer 'separable_conv2d': conv2d: the window is larger than the (padded) input: (None, 3, 9, 2) and (5, 5, 1, 2)");
    check_build_error("Conv2DTranspose(2, 3)", 1, (int64_t[]){ 5 },
                      "layer 'conv2d_transpose' (Conv2DTranspose): expected an input of shape (batch, height, width, channels), got (None, 5)");
    check_build_error("Conv2DTranspose(2, 2, strides=3, padding='same', output_padding=0)", 3, (int64_t[]){ 4, 4, 1 },
                      "layer 'conv2d_transpose' (Conv2DTranspose): output_padding 0 with strides 3 and padding 'same' gives 9 "
                      "positions, which do not convolve back to the input's 4 (input shape (None, 4, 4, 1))");
    /* the op's own shape rules */
    nn_graph g = { 0 };
    int x = nn_graph_input(&g, 3, (int64_t[]){ 4, 4, 2 }, "test");
    int k = nn_graph_param(&g, 0, 4, (int64_t[]){ 3, 3, 2, 3 }, true, "test");
    CHECK(nn_graph_op(&g, NN_OP_CONV2D_TRANSPOSE, (int[]){ x, k }, 2, &(nn_attr){ .shape = { 1, 1, 1, 1 } }, "ct") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "layer 'ct': conv2d_transpose: the kernel must be (height, width, filters, channels) with "
                                    "the input's channels; input and kernel (None, 4, 4, 2) and (3, 3, 2, 3)");
    int k2 = nn_graph_param(&g, 0, 4, (int64_t[]){ 1, 1, 3, 2 }, true, "test");
    nn_attr crop_all = { .shape = { 1, 1, 1, 1, 2, 2, 0, 0 } };
    CHECK(nn_graph_op(&g, NN_OP_CONV2D_TRANSPOSE, (int[]){ x, k2 }, 2, &crop_all, "ct") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "conv2d_transpose: the padding leaves no output; input and kernel (None, 4, 4, 2) and (1, 1, 3, 2)");
    nn_attr zero_stride = { .shape = { 0, 1, 1, 1 } };
    CHECK(nn_graph_op(&g, NN_OP_CONV2D_TRANSPOSE, (int[]){ x, k2 }, 2, &zero_stride, "ct") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "conv2d_transpose: strides and dilation must be >= 1");
    nn_graph_free(&g);
}

/* 'same' pooling never counts padding; a model with every layer kind builds and runs. */
TEST(model_with_every_spatial_layer_trains) {
    nn_model *m = nn_sequential((nn_layer *[]){
        nn_layer_parse("ZeroPadding2D(1, input_shape=(6, 5, 2))"), nn_layer_parse("Conv2D(4, 3, activation='relu')"),
        nn_layer_parse("MaxPooling2D(2, padding='same')"), nn_layer_parse("UpSampling2D(2)"),
        nn_layer_parse("Cropping2D(((1, 0), (0, 1)))"), nn_layer_parse("AveragePooling2D(2)"),
        nn_layer_parse("GlobalMaxPooling2D()"), nn_dense(2, .activation = "softmax"), NULL });
    CHECK(m != NULL);
    CHECK(m && nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = "sparse_categorical_crossentropy" }) == NN_OK);
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 4, (int64_t[]){ 8, 6, 5, 2 }), *y = nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 8 });
    for (int64_t i = 0; i < nn_tensor_size(x); i++) nn_tensor_f32(x)[i] = (float)((i * 37 % 11) - 5) / 5.0f;
    for (int i = 0; i < 8; i++) nn_tensor_f32(y)[i] = (float)(i % 2);
    double first = 0, loss = 0;
    for (int step = 0; step < 30 && m; step++) {
        CHECK(nn_train_on_batch(m, x, y, &loss) == NN_OK);
        if (step == 0) first = loss;
    }
    CHECK(isfinite(loss) && loss < first);
    nn_tensor_free(x), nn_tensor_free(y);
    nn_model_free(m);
}

/* The depthwise, separable and transposed layers: Keras's weight names and shapes, training,
 * and the same predictions after a save and a load. */
TEST(model_with_depthwise_separable_transpose_trains_saves_and_loads) {
    nn_model *m = nn_sequential((nn_layer *[]){
        nn_layer_parse("DepthwiseConv2D(3, padding='same', depth_multiplier=2, input_shape=(6, 5, 2))"),
        nn_layer_parse("SeparableConv2D(4, 3, strides=2, padding='same', activation='relu')"),
        nn_layer_parse("Conv2DTranspose(3, 3, strides=2, padding='same')"), nn_layer_parse("GlobalAveragePooling2D()"),
        nn_dense(2, .activation = "softmax"), NULL });
    CHECK(m && nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = "sparse_categorical_crossentropy" }) == NN_OK);
    const char *names[] = { "depthwise_conv2d/kernel", "depthwise_conv2d/bias", "separable_conv2d/depthwise_kernel",
                            "separable_conv2d/pointwise_kernel", "separable_conv2d/bias", "conv2d_transpose/kernel",
                            "conv2d_transpose/bias" };
    const int64_t shapes[][4] = { { 3, 3, 2, 2 }, { 4 }, { 3, 3, 4, 1 }, { 1, 1, 4, 4 }, { 4 }, { 3, 3, 3, 4 }, { 3 } };
    for (int i = 0; m && i < 7; i++) {
        nn_tensor *w = NULL;
        CHECK(strcmp(nn_model_weight_name(m, i), names[i]) == 0);
        CHECK(nn_model_get_weight(m, names[i], &w) == NN_OK && w);
        for (int d = 0; w && d < w->ndim; d++) CHECK(w->shape[d] == shapes[i][d]);
        nn_tensor_free(w);
    }
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 4, (int64_t[]){ 8, 6, 5, 2 }), *y = nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 8 });
    for (int64_t i = 0; i < nn_tensor_size(x); i++) nn_tensor_f32(x)[i] = (float)((i * 37 % 11) - 5) / 5.0f;
    for (int i = 0; i < 8; i++) nn_tensor_f32(y)[i] = (float)(i % 2);
    double first = 0, loss = 0;
    for (int step = 0; m && step < 30; step++) {
        CHECK(nn_train_on_batch(m, x, y, &loss) == NN_OK);
        if (step == 0) first = loss;
    }
    CHECK(isfinite(loss) && loss < first);
    nn_model_free(check_reloads_the_same(m, x));
    nn_tensor_free(x), nn_tensor_free(y);
    nn_model_free(m);
}

/* ---------------------------------------------------------------- allocation failure */

/* Failing each allocation in turn while parsing, building and compiling a conv model: a clean
 * error every time (and, under ASan, no leak), until nothing fails. */
TEST(allocation_failure_sweep_while_building) {
    const char *texts[] = { "Conv2D(4, (3, 2), strides=2, padding='same', groups=2, input_shape=(7, 6, 2))",
                            "MaxPooling2D(2, padding='same')", "ZeroPadding2D(((1, 0), (2, 1)))",
                            "SeparableConv2D(3, 2, depth_multiplier=2)", "Conv2DTranspose(2, 3, strides=2)",
                            "GlobalAveragePooling2D()" };
    check_allocation_failure_sweep(texts, NN_ARRAY_LEN(texts), NULL);
}

/* Models of typed layers and of the same layers' Keras text, seeded alike, predict the same
 * bits for an input of shape (2, dims...); the output shape is (2, out...). Takes the layers. */
static void check_typed_equal_text(nn_layer **typed, const char *const *texts, int count, const int64_t dims[3],
                                   const int64_t out[3]) {
    nn_model *models[2];
    for (int k = 0; k < 2; k++) {
        nn_layer *layers[8] = { 0 };
        for (int i = 0; i < count; i++) layers[i] = k ? nn_layer_parse(texts[i]) : typed[i];
        nn_set_seed(11);
        models[k] = nn_sequential(layers);
        CHECK(models[k] != NULL);
    }
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 4, (int64_t[]){ 2, dims[0], dims[1], dims[2] }), *a = NULL, *b = NULL;
    for (int64_t i = 0; i < nn_tensor_size(x); i++) nn_tensor_f32(x)[i] = (float)((i * 29 % 23) - 11) / 7.0f;
    CHECK(models[0] && nn_predict(models[0], x, NULL, &a) == NN_OK && models[1] && nn_predict(models[1], x, NULL, &b) == NN_OK);
    CHECK(a && b && a->ndim == 4 && a->shape[1] == out[0] && a->shape[2] == out[1] && a->shape[3] == out[2]);
    CHECK(a && b && memcmp(a->data, b->data, (size_t)nn_tensor_size(a) * sizeof(float)) == 0);
    nn_tensor_free(x), nn_tensor_free(a), nn_tensor_free(b);
    nn_model_free(models[0]), nn_model_free(models[1]);
}

/* The typed C constructors make the same layers as their Keras text. */
TEST(typed_constructors_equal_keras_text) {
    check_typed_equal_text(
        (nn_layer *[]){ nn_conv2d(4, .kernel_size = { 3, 2 }, .strides = { 2 }, .padding = "same", .activation = "relu",
                                  .input_shape = { 9, 8, 3 }),
                        nn_max_pooling2d(.pool_size = { 2 }, .padding = "same"), nn_average_pooling2d(.pool_size = { 1 }) },
        (const char *[]){ "Conv2D(4, (3, 2), strides=2, padding='same', activation='relu', input_shape=(9, 8, 3))",
                          "MaxPooling2D((2, 2), padding='same')", "AveragePooling2D(1)" },
        3, (int64_t[]){ 9, 8, 3 }, (int64_t[]){ 3, 2, 4 });
    check_typed_equal_text(
        (nn_layer *[]){ nn_depthwise_conv2d({ 3, 2 }, .strides = { 2 }, .padding = "same", .depth_multiplier = 2,
                                            .activation = "relu", .bias_initializer = "ones", .input_shape = { 9, 8, 3 }),
                        nn_separable_conv2d(4, .kernel_size = { 3 }, .padding = "same", .depth_multiplier = 2,
                                            .use_bias = NN_OFF, .pointwise_initializer = "he_normal"),
                        nn_conv2d_transpose(3, .kernel_size = { 3 }, .strides = { 2 }, .output_padding = { 1, NN_OFF },
                                            .bias_initializer = "ones") },
        (const char *[]){ "DepthwiseConv2D((3, 2), strides=2, padding='same', depth_multiplier=2, activation='relu', "
                          "bias_initializer='ones', input_shape=(9, 8, 3))",
                          "SeparableConv2D(4, 3, padding='same', depth_multiplier=2, use_bias=False, pointwise_initializer='he_normal')",
                          "Conv2DTranspose(3, 3, strides=2, output_padding=(1, 0), bias_initializer='ones')" },
        3, (int64_t[]){ 9, 8, 3 }, (int64_t[]){ 12, 9, 3 });
    nn_layer *bad[] = { nn_conv2d(0, .kernel_size = { 3 }), nn_depthwise_conv2d({ 0 }), nn_separable_conv2d(2),
                        nn_conv2d_transpose(2, .kernel_size = { 3 }, .output_padding = { 1 }) };
    for (size_t i = 0; i < NN_ARRAY_LEN(bad); i++) {
        CHECK(bad[i] && bad[i]->error != NULL); /* carried to nn_sequential */
        nn_layer_free(bad[i]);
    }
}

int main(void) {
    RUN_TESTS(typed_constructors_equal_keras_text, conv2d_gradient_valid, conv2d_gradient_same_strided, conv2d_gradient_dilated_same, conv2d_gradient_groups,
              conv2d_gradient_pointwise, conv2d_gradient_one_dimensional_causal, conv2d_gradient_fused_activations, conv2d_gradient_across_chunks,
              conv2d_gradient_winograd, conv2d_winograd_matches_direct_sums,
              conv2d_transpose_gradient_valid, conv2d_transpose_gradient_same_strided,
              conv2d_transpose_gradient_stride_past_window, conv2d_transpose_gradient_dilated_and_pointwise,
              conv2d_transpose_gradient_kernel_only, conv2d_transpose_gradient_one_dimensional, max_pool_gradient_valid_and_same,
              max_pool_ties_nan_and_padding, max_pool_without_argmax_gives_the_same_outputs, conv2d_max_pool_shape_errors,
              fused_conv_and_pool_match_the_two_ops, conv_pool_fusion_only_where_it_applies,
              fused_conv_and_pool_give_the_same_bits_on_two_threads,
              avg_pool_gradient_valid_and_same, pad2d_gradient_padding_and_cropping, upsample2d_gradient,
              spatial_ops_give_the_same_bits_on_two_threads, conv2d_forward_splits_a_sample_with_the_same_bits,
              conv2d_matches_keras, conv1d_matches_keras,
              pooling_matches_keras, global_pooling_matches_keras, padding_cropping_upsampling_match_keras,
              depthwise_and_separable_match_keras, conv2d_transpose_matches_keras,
              configs_are_saved_as_keras_saves_them, option_errors_name_the_layer_and_option,
              shape_errors_name_the_layer_and_shapes, model_with_every_spatial_layer_trains,
              model_with_depthwise_separable_transpose_trains_saves_and_loads,
              allocation_failure_sweep_while_building);
}
