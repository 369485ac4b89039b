/* Normalization and regularization layers: gradient checks of layer_norm, group_norm, batch_norm
 * (training and inference), gaussian_noise and spatial_dropout; outputs against real Keras in
 * both modes and BatchNormalization's weights after Keras train_on_batch steps (tests/data/norm,
 * made by tests/gen/make_norm_ref.py); training-only behaviour; option and shape errors.
 *
 * Gradient checks use tests/gradcheck.h, with twice its usual tolerance: a normalization's
 * curvature is large where a row's variance is small, and the central difference's O(step^2)
 * error with it. */
#include "../src/core/graph.h"
#include "../src/model/model.h"
#include "gradcheck.h"
#include "keras_ref.h"
#include "layer_checks.h"
#include "test.h"

#include <stdlib.h>

/* The seed of the training-mode forward passes below (noise, dropout masks). */
#define RNG_SEED 99

static gc *norm_gc(uint64_t seed) {
    gc *c = gc_new(seed);
    c->rel_tol = 2e-3;
    c->abs_tol = 5e-4;
    return c;
}

/* ---------------------------------------------------------------- gradient checks */

TEST(layer_norm_gradient) {
    for (int variant = 0; variant < 2; variant++) {
        gc *c = norm_gc(1 + variant);
        int h = gc_batched(c, 2, (int64_t[]){ 3, 4 }, 6, -1.5, 1.5);
        int gamma = gc_param_in(c, 1, (int64_t[]){ 6 }, true, 0.5, 1.5);
        nn_attr attr = { .f = { 1e-3 } };
        int y = gc_op(c, NN_OP_LAYER_NORM, (int[]){ h, gamma }, variant ? 1 : 2, &attr);
        CHECK(gc_check(c, y, variant ? "layer_norm without gamma" : "layer_norm") == 0);
        gc_free(c);
    }
}

TEST(batch_norm_gradient_training_and_inference) {
    /* 260 channels: more than one block of the per-channel sums */
    for (int variant = 0; variant < 5; variant++) {
        gc *c = norm_gc(10 + variant);
        bool training = variant != 2 && variant != 3, spatial = variant % 2;
        int64_t channels = variant == 4 ? 260 : spatial ? 3 : 4;
        int h = spatial ? gc_batched(c, 3, (int64_t[]){ 2, 3, 4 }, 3, -1.5, 1.5)
                        : gc_batched(c, 1, (int64_t[]){ 2 }, channels, -1.5, 1.5);
        int mean = gc_param_in(c, 1, &channels, false, -0.5, 0.5), var = gc_param_in(c, 1, &channels, false, 0.5, 1.5);
        int gamma = gc_param_in(c, 1, &channels, true, 0.5, 1.5);
        nn_attr attr = { .f = { 1e-3, 0.99 } };
        int y = gc_op(c, training ? NN_OP_BATCH_NORM : NN_OP_BATCH_NORM_INFERENCE, (int[]){ h, mean, var, gamma }, 4, &attr);
        CHECK(gc_check(c, y, training ? "batch_norm" : "batch_norm_inference") == 0);
        gc_free(c);
    }
}

TEST(noise_and_spatial_dropout_gradients) {
    gc *c = norm_gc(20);
    int h = gc_batched(c, 1, (int64_t[]){ 3 }, 5, -1.5, 1.5);
    nn_attr noise = { .f = { 0.3 } };
    CHECK(gc_check(c, gc_op(c, NN_OP_GAUSSIAN_NOISE, &h, 1, &noise), "gaussian_noise") == 0);
    gc_free(c);
    c = norm_gc(21);
    h = gc_batched(c, 3, (int64_t[]){ 2, 2, 3 }, 6, -1.5, 1.5);
    nn_attr drop = { .f = { 0.5 } };
    CHECK(gc_check(c, gc_op(c, NN_OP_SPATIAL_DROPOUT, &h, 1, &drop), "spatial_dropout") == 0);
    gc_free(c);
}

/* Groups of 2 and 3 channels over 1-D and 2-D positions, one group, one group per channel;
 * with and without gamma. */
TEST(group_norm_gradient) {
    const struct { int ndim; int64_t shape[3]; int64_t groups; bool gamma; } cases[] = {
        { 3, { 2, 3, 6 }, 3, true }, { 2, { 4, 6 }, 2, false }, { 1, { 5 }, 1, true }, { 2, { 3, 4 }, 4, true },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) {
        gc *c = norm_gc(30 + i);
        int64_t channels = cases[i].shape[cases[i].ndim - 1];
        int x = gc_spatial(c, cases[i].ndim, cases[i].shape, false);
        int gamma = gc_param_in(c, 1, &channels, true, 0.5, 1.5);
        nn_attr attr = { .f = { 1e-3 }, .shape = { cases[i].groups } };
        int y = gc_op(c, NN_OP_GROUP_NORM, (int[]){ x, gamma }, cases[i].gamma ? 2 : 1, &attr);
        char label[64];
        snprintf(label, sizeof label, "group_norm case %zu", i);
        CHECK(gc_check(c, y, label) == 0);
        gc_free(c);
    }
}

/* Large enough to split over threads: one thread and two give the same bits. */
TEST(norm_ops_give_the_same_bits_on_two_threads) {
    enum { B = 8, H = 64, C = 64 };
    for (int kind = 0; kind < 3; kind++) {
        nn_graph g = { 0 };
        static float params[C * C + 3 * C], grads[C * C + 3 * C], grads1[C * C + 3 * C];
        nn_rng rng;
        nn_rng_seed(&rng, 5);
        for (size_t i = 0; i < NN_ARRAY_LEN(params); i++) params[i] = (float)nn_rng_uniform(&rng) + 0.5f;
        int x = nn_graph_input(&g, 2, (int64_t[]){ H, C }, "test");
        int w = nn_graph_param(&g, 0, 2, (int64_t[]){ C, C }, true, "test");
        int mean = nn_graph_param(&g, 1, 1, (int64_t[]){ C }, false, "test");
        int var = nn_graph_param(&g, 2, 1, (int64_t[]){ C }, false, "test");
        int gamma = nn_graph_param(&g, 3, 1, (int64_t[]){ C }, true, "test");
        const size_t offsets[] = { 0, C * C, C * C + C, C * C + 2 * C };
        for (int i = 0; i < 4; i++) g.nodes[w + i].value_off = g.nodes[w + i].grad_off = offsets[i];
        int h = nn_graph_op(&g, NN_OP_MATMUL, (int[]){ x, w }, 2, NULL, "test");
        nn_attr attr = { .f = { 1e-3, 0.9 }, .shape = { 8 } };
        int y = kind == 1 ? nn_graph_op(&g, NN_OP_BATCH_NORM, (int[]){ h, mean, var, gamma }, 4, &attr, "test")
                          : nn_graph_op(&g, kind ? NN_OP_GROUP_NORM : NN_OP_LAYER_NORM, (int[]){ h, gamma }, 2, &attr, "test");
        int sq = nn_graph_op(&g, NN_OP_MUL, (int[]){ y, h }, 2, NULL, "test");
        int total = nn_graph_op(&g, NN_OP_REDUCE_SUM, &sq, 1, NULL, "test");
        CHECK(total >= 0);
        float *arena = nn_calloc(nn_plan_graph(&g, B, true), sizeof(float));
        nn_threads *pool = NULL;
        CHECK(nn_threads_new(2, &pool) == NN_OK);
        float value1 = 0;
        for (int run = 0; run < 2; run++) {
            nn_exec e = { .graph = &g, .arena = arena, .params = params, .grads = grads,
                          .batch = B, .rng = &rng, .threads = run ? pool : NULL };
            for (int64_t i = 0; i < B * H * C; i++) nn_node_value(&e, x)[i] = (float)((i * 37 % 101) - 50) / 50.0f;
            memset(grads, 0, sizeof grads);
            nn_graph_forward(&e);
            nn_graph_backward(&e);
            if (run == 0) {
                value1 = *nn_node_value(&e, total);
                memcpy(grads1, grads, sizeof grads);
            } else {
                CHECK(*nn_node_value(&e, total) == value1);
                CHECK(memcmp(grads1, grads, sizeof grads) == 0);
            }
        }
        nn_threads_free(pool);
        nn_free(arena);
        nn_graph_free(&g);
    }
}

/* ---------------------------------------------------------------- against Keras */

/* The layer's training-graph output: its ops built as the training program builds them, run
 * forward once over `x`. */
static float *training_forward(nn_model *m, const ref_array *x) {
    nn_graph g = { 0 };
    nn_builder b = { .model = m, .graph = &g, .training = true };
    int input = nn_graph_input(&g, x->ndim - 1, x->shape + 1, "test"), output = -1;
    CHECK(input >= 0 && m->layers[0]->def->build(m->layers[0], &b, input, &output) == NN_OK);
    float *arena = nn_calloc(nn_plan_graph(&g, x->shape[0], false), sizeof(float));
    nn_rng rng;
    nn_rng_seed(&rng, RNG_SEED);
    nn_exec e = { .graph = &g, .arena = arena, .params = m->params, .grads = m->grads,
                  .batch = x->shape[0], .rng = &rng };
    memcpy(nn_node_value(&e, input), x->values, (size_t)product(x->ndim, x->shape) * sizeof(float));
    nn_graph_forward(&e);
    size_t size = (size_t)product(x->ndim, x->shape) * sizeof(float);
    float *y = malloc(size);
    memcpy(y, nn_node_value(&e, output), size);
    nn_free(arena);
    nn_graph_free(&g);
    return y;
}

static void check_keras_case(const char *name) {
    char path[256], text[256], mode[16];
    snprintf(path, sizeof path, "tests/data/norm/%s.txt", name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    NN_ASSERT(fscanf(f, "layer %255[^\n] mode %15s", text, mode) == 2);
    ref_array in, weights[4], expected;
    NN_ASSERT(read_array(f, "input", &in));
    int nweights = 0;
    while (nweights < 4 && read_array(f, "weight", &weights[nweights])) nweights++;
    NN_ASSERT(read_array(f, "output", &expected));
    fclose(f);
    nn_model *m = model_with_weights(text, &in, weights, nweights);
    if (m && strcmp(mode, "train") == 0) {
        float *y = training_forward(m, &in);
        CHECK(keras_mismatches(name, y, &expected, 2e-6) == 0);
        free(y);
    } else if (m) {
        nn_tensor *x = nn_tensor_wrap(NN_FLOAT32, in.ndim, in.shape, in.values), *y = NULL;
        CHECK(nn_predict(m, x, NULL, &y) == NN_OK && y && y->ndim == expected.ndim);
        if (y) CHECK(keras_mismatches(name, nn_tensor_f32(y), &expected, 2e-6) == 0);
        nn_tensor_free(x), nn_tensor_free(y);
    }
    nn_model_free(m);
    free(in.values), free(expected.values);
    for (int i = 0; i < nweights; i++) free(weights[i].values);
}

TEST(layer_normalization_matches_keras) {
    const char *cases[] = { "layer_norm_2d", "layer_norm_3d_eps", "layer_norm_no_center", "layer_norm_no_scale" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(batch_normalization_matches_keras_in_both_modes) {
    const char *cases[] = { "batch_norm_predict", "batch_norm_predict_4d", "batch_norm_train", "batch_norm_train_4d" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(group_normalization_matches_keras) {
    const char *cases[] = { "group_norm_4d", "group_norm_3d_eps_no_center", "group_norm_instance", "group_norm_2d",
                            "group_norm_one_group" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

/* The same batches through nn_train_on_batch: gamma and beta (SGD) and the moving statistics
 * (updated by the training forward) end where Keras's do. */
TEST(batch_normalization_weights_after_train_on_batch_match_keras) {
    FILE *f = fopen("tests/data/norm/bn_train_steps.txt", "r");
    CHECK(f != NULL);
    if (!f) return;
    char text[256];
    int steps = 0;
    NN_ASSERT(fscanf(f, "layer %255[^\n] steps %d", text, &steps) == 2 && steps > 0 && steps <= 16);
    ref_array x[16], y[16], weights[4];
    for (int s = 0; s < steps; s++) NN_ASSERT(read_array(f, "x", &x[s]) && read_array(f, "y", &y[s]));
    for (int i = 0; i < 4; i++) NN_ASSERT(read_array(f, "weight", &weights[i]));
    fclose(f);
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse(text), NULL });
    CHECK(m && nn_model_build(m, x[0].ndim - 1, x[0].shape + 1) == NN_OK);
    CHECK(m && nn_compile(m, &(nn_compile_opts){ .optimizer = "SGD(learning_rate=0.1)", .loss = "mse" }) == NN_OK);
    for (int s = 0; m && s < steps; s++) {
        nn_tensor *xt = nn_tensor_wrap(NN_FLOAT32, x[s].ndim, x[s].shape, x[s].values);
        nn_tensor *yt = nn_tensor_wrap(NN_FLOAT32, y[s].ndim, y[s].shape, y[s].values);
        double loss;
        CHECK(nn_train_on_batch(m, xt, yt, &loss) == NN_OK);
        nn_tensor_free(xt), nn_tensor_free(yt);
    }
    const char *names[] = { "batch_normalization/gamma", "batch_normalization/beta", "batch_normalization/moving_mean",
                            "batch_normalization/moving_variance" };
    for (int i = 0; m && i < 4; i++) {
        CHECK(strcmp(nn_model_weight_name(m, i), names[i]) == 0);
        nn_tensor *w = NULL;
        CHECK(nn_model_get_weight(m, names[i], &w) == NN_OK);
        if (w) CHECK(keras_mismatches(names[i], nn_tensor_f32(w), &weights[i], 2e-6) == 0);
        nn_tensor_free(w);
    }
    nn_model_free(m);
    for (int s = 0; s < steps; s++) free(x[s].values), free(y[s].values);
    for (int i = 0; i < 4; i++) free(weights[i].values);
}

/* ---------------------------------------------------------------- training-only layers */

/* GaussianNoise and SpatialDropout change values in the training graph only; SpatialDropout
 * keeps or drops each channel of a sample whole, scaling kept ones by 1 / (1 - rate). */
TEST(noise_and_spatial_dropout_act_in_training_only) {
    const char *texts[] = { "GaussianNoise(0.5)", "SpatialDropout1D(0.5)", "SpatialDropout2D(0.5)" };
    const int64_t shapes[][4] = { { 8, 6 }, { 8, 5, 6 }, { 8, 2, 3, 6 } };
    for (int t = 0; t < 3; t++) {
        ref_array x = { .ndim = t + 2 };
        memcpy(x.shape, shapes[t], sizeof shapes[t]);
        int64_t size = product(x.ndim, x.shape), channels = 6, per_sample = size / x.shape[0] / channels;
        x.values = malloc((size_t)size * sizeof(float));
        for (int64_t i = 0; i < size; i++) x.values[i] = 1.0f + (float)(i % 7);
        nn_model *m = model_with_weights(texts[t], &x, NULL, 0);
        nn_tensor *xt = nn_tensor_wrap(NN_FLOAT32, x.ndim, x.shape, x.values), *pred = NULL;
        CHECK(m && nn_predict(m, xt, NULL, &pred) == NN_OK);
        CHECK(pred && memcmp(nn_tensor_f32(pred), x.values, (size_t)size * sizeof(float)) == 0);
        float *y = m ? training_forward(m, &x) : NULL;
        int changed = 0, dropped = 0, mixed = 0;
        for (int64_t i = 0; y && i < size; i++) changed += y[i] != x.values[i];
        CHECK(changed > size / 4);
        for (int64_t s = 0; t > 0 && y && s < x.shape[0]; s++)
            for (int64_t c = 0; c < channels; c++) {
                int zeros = 0;
                for (int64_t p = 0; p < per_sample; p++) {
                    int64_t k = (s * per_sample + p) * channels + c;
                    zeros += y[k] == 0.0f;
                    if (y[k] != 0.0f) mixed += y[k] != 2.0f * x.values[k];
                }
                dropped += zeros == per_sample;
                mixed += zeros != 0 && zeros != per_sample;
            }
        CHECK(mixed == 0);
        CHECK(t == 0 || (dropped > 8 && dropped < 40));
        free(y), free(x.values);
        nn_tensor_free(xt), nn_tensor_free(pred);
        nn_model_free(m);
    }
}

/* ---------------------------------------------------------------- configs and errors */

TEST(defaults_and_weights_are_keras_ones) {
    nn_layer *bn = nn_layer_parse("BatchNormalization()");
    CHECK(bn != NULL);
    const nn_value *v;
    CHECK(bn && (v = nn_value_get(&bn->config, "momentum")) && v->number == 0.99);
    CHECK(bn && (v = nn_value_get(&bn->config, "epsilon")) && v->number == 1e-3);
    CHECK(bn && (v = nn_value_get(&bn->config, "axis")) && v->number == -1);
    CHECK(bn && (v = nn_value_get(&bn->config, "moving_variance_initializer")) && strcmp(v->string, "ones") == 0);
    nn_model *m = nn_sequential((nn_layer *[]){ bn, NULL });
    CHECK(m && nn_model_build(m, 3, (int64_t[]){ 4, 4, 3 }) == NN_OK);
    CHECK(m && nn_model_weight_count(m) == 4);
    nn_tensor *w = NULL;
    CHECK(m && nn_model_get_weight(m, "batch_normalization/moving_variance", &w) == NN_OK && w && w->shape[0] == 3 &&
          nn_tensor_f32(w)[2] == 1.0f);
    nn_tensor_free(w);
    CHECK(m && !m->vars[2].trainable && !m->vars[3].trainable && m->vars[0].trainable);
    nn_model_free(m);
    nn_layer *ln = nn_layer_parse("LayerNormalization(center=False)");
    m = ln ? nn_sequential((nn_layer *[]){ ln, NULL }) : NULL;
    CHECK(m && nn_model_build(m, 1, (int64_t[]){ 5 }) == NN_OK && nn_model_weight_count(m) == 1);
    CHECK(m && strcmp(nn_model_weight_name(m, 0), "layer_normalization/gamma") == 0);
    nn_model_free(m);
    nn_layer *gn = nn_layer_parse("GroupNormalization(scale=False)");
    CHECK(gn && (v = nn_value_get(&gn->config, "groups")) && v->number == 32);
    CHECK(gn && (v = nn_value_get(&gn->config, "epsilon")) && v->number == 1e-3);
    m = gn ? nn_sequential((nn_layer *[]){ gn, NULL }) : NULL;
    CHECK(m && nn_model_build(m, 2, (int64_t[]){ 3, 64 }) == NN_OK && nn_model_weight_count(m) == 1);
    CHECK(m && strcmp(nn_model_weight_name(m, 0), "group_normalization/beta") == 0);
    nn_model_free(m);
}

TEST(option_errors_name_the_layer_and_option) {
    check_parse_error("LayerNormalization(axis=1)", "layer 'layer_normalization' (LayerNormalization): 'axis' must be -1");
    check_parse_error("LayerNormalization(epsilon=0)", "(LayerNormalization): 'epsilon' must be > 0");
    check_parse_error("LayerNormalization(rms_scaling=True)", "'rms_scaling' must be False");
    check_parse_error("LayerNormalization(center=1)", "'center' must be True or False");
    check_parse_error("LayerNormalization(gamma_constraint='non_neg')", "'gamma_constraint' must be None");
    check_parse_error("BatchNormalization(momentum=1.5)", "layer 'batch_normalization' (BatchNormalization): 'momentum' must be in [0, 1]");
    check_parse_error("BatchNormalization(axis=[1, 2])", "(BatchNormalization): 'axis' must be -1");
    check_parse_error("BatchNormalization(moving_mean_initializer='nope')", "layer 'batch_normalization' (BatchNormalization)");
    check_parse_error("BatchNormalization(renorm=True)", "unknown argument 'renorm'");
    check_parse_error("GaussianNoise()", "layer 'gaussian_noise' (GaussianNoise): 'stddev' must be given");
    check_parse_error("GaussianNoise(-0.1)", "'stddev' must be >= 0");
    check_parse_error("SpatialDropout1D(1.0)", "layer 'spatial_dropout1d' (SpatialDropout1D): 'rate' must be in [0, 1)");
    check_parse_error("SpatialDropout2D(0.2, data_format='channels_first')", "'data_format' must be channels_last");
    check_parse_error("GroupNormalization(0)",
                      "layer 'group_normalization' (GroupNormalization): 'groups' must be an integer >= 1, or -1 (one group per channel)");
    check_parse_error("GroupNormalization(2.5)", "'groups' must be an integer >= 1, or -1");
    check_parse_error("GroupNormalization(2, axis=1)", "(GroupNormalization): 'axis' must be -1");
    check_parse_error("GroupNormalization(2, beta_constraint='non_neg')", "'beta_constraint' must be None");
    check_parse_error("GroupNormalization(2, momentum=0.9)", "layer GroupNormalization: unknown argument 'momentum'");
}

TEST(shape_errors_name_the_layer_and_shapes) {
    check_build_error("SpatialDropout2D(0.1)", 2, (int64_t[]){ 5, 3 },
                      "layer 'spatial_dropout2d' (SpatialDropout2D): expected an input of shape (batch, height, width, channels), got (None, 5, 3)");
    check_build_error("SpatialDropout1D(0.1)", 1, (int64_t[]){ 5 },
                      "layer 'spatial_dropout1d' (SpatialDropout1D): expected an input of shape (batch, steps, channels), got (None, 5)");
    check_build_error("GroupNormalization(4)", 2, (int64_t[]){ 5, 6 },
                      "layer 'group_normalization' (GroupNormalization): 4 groups do not divide the input's 6 channels (shape (None, 5, 6))");
    check_build_error("GroupNormalization()", 3, (int64_t[]){ 4, 4, 16 }, "32 groups do not divide the input's 16 channels");
    /* the ops' own shape rules */
    nn_graph g = { 0 };
    int x = nn_graph_input(&g, 1, (int64_t[]){ 6 }, "test");
    int gamma = nn_graph_param(&g, 0, 1, (int64_t[]){ 5 }, true, "test");
    CHECK(nn_graph_op(&g, NN_OP_LAYER_NORM, (int[]){ x, gamma }, 2, &(nn_attr){ .f = { 1e-3 } }, "ln") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "layer 'ln': layer_norm: every weight must be a vector as long as the input's last axis: (None, 6) and (5,)");
    CHECK(nn_graph_op(&g, NN_OP_SPATIAL_DROPOUT, &x, 1, &(nn_attr){ .f = { 0.5 } }, "sd") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "layer 'sd': spatial_dropout: expected an input (batch, steps, channels) or (batch, height, width, channels), got (None, 6)");
    CHECK(nn_graph_op(&g, NN_OP_GROUP_NORM, &x, 1, &(nn_attr){ .f = { 1e-3 }, .shape = { 4 } }, "gn") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "layer 'gn': group_norm: the channels (the last axis) must be a multiple of the groups: (None, 6)");
    nn_graph_free(&g);
}

/* Every key of a's config has the same value in b's, and b has no other key. */
static bool same_config(const nn_layer *a, const nn_layer *b) {
    bool same = a && b && !a->error && !b->error && a->config.count == b->config.count;
    for (int i = 0; same && i < a->config.count; i++) {
        const nn_value *other = nn_value_get(&b->config, a->config.keys[i]);
        char *x = NULL, *y = NULL;
        same = other && nn_value_to_json(&a->config.items[i], &x) == NN_OK && nn_value_to_json(other, &y) == NN_OK &&
               strcmp(x, y) == 0;
        if (!same) printf("  %s: '%s' is %s, from the Keras config %s\n", a->name, a->config.keys[i], x ? x : "?", y ? y : "?");
        nn_free(x), nn_free(y);
    }
    return same;
}

/* The typed C constructors make the layers that the same Keras config makes (the config a
 * model file holds; Keras's defaults filled alike), NN_OFF being False or 0. */
TEST(typed_constructors_equal_keras_configs) {
    nn_layer *typed[] = {
        nn_batch_normalization(.momentum = NN_OFF, .epsilon = 0.01, .center = NN_OFF, .moving_variance_initializer = "zeros",
                               .gamma_regularizer = { .l2 = 0.5 }, .input_shape = { 4, 3 }),
        nn_batch_normalization(),
        nn_layer_normalization(.epsilon = 1e-5, .scale = NN_OFF, .beta_initializer = "ones", .name = "ln"),
        nn_layer_normalization(),
        nn_group_normalization(.groups = 4, .center = NN_OFF, .gamma_regularizer = { .l1 = 0.1 }),
        nn_group_normalization(.groups = -1, .epsilon = 0.5),
        nn_group_normalization(),
        nn_gaussian_noise(0.25, .seed = 7, .input_shape = { 5 }),
        nn_spatial_dropout1d(0.3),
        nn_spatial_dropout2d(0.4, .seed = 3, .name = "drop"),
    };
    const char *configs[][2] = {
        { "BatchNormalization", "{\"momentum\": 0, \"epsilon\": 0.01, \"center\": false, \"moving_variance_initializer\": "
                                "\"zeros\", \"gamma_regularizer\": {\"l1\": 0, \"l2\": 0.5}, \"input_shape\": [4, 3]}" },
        { "BatchNormalization", "{}" },
        { "LayerNormalization", "{\"epsilon\": 1e-5, \"scale\": false, \"beta_initializer\": \"ones\", \"name\": \"ln\"}" },
        { "LayerNormalization", "{}" },
        { "GroupNormalization", "{\"groups\": 4, \"center\": false, \"gamma_regularizer\": {\"l1\": 0.1, \"l2\": 0}}" },
        { "GroupNormalization", "{\"groups\": -1, \"epsilon\": 0.5}" },
        { "GroupNormalization", "{}" },
        { "GaussianNoise", "{\"stddev\": 0.25, \"seed\": 7, \"input_shape\": [5]}" },
        { "SpatialDropout1D", "{\"rate\": 0.3}" },
        { "SpatialDropout2D", "{\"rate\": 0.4, \"seed\": 3, \"name\": \"drop\"}" },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(configs); i++) {
        nn_value config;
        NN_ASSERT(nn_value_from_json(configs[i][1], strlen(configs[i][1]), &config) == NN_OK);
        nn_layer *keras = nn_layer_from_config(nn_layer_find(configs[i][0]), config);
        if (!same_config(typed[i], keras)) printf("  case %zu: %s %s\n", i, configs[i][0], configs[i][1]);
        CHECK(same_config(typed[i], keras));
        nn_layer_free(typed[i]), nn_layer_free(keras);
    }
    nn_layer *bad = nn_group_normalization(.groups = -3);
    CHECK(bad && bad->error != NULL);
    CHECK_CONTAINS(bad ? bad->error : NULL, "'groups' must be an integer >= 1, or -1");
    nn_layer_free(bad);
    bad = nn_batch_normalization(.momentum = 2);
    CHECK(bad && bad->error != NULL);
    nn_layer_free(bad);
}

/* A model with every new layer trains, saves and loads back with the same predictions (the
 * moving statistics included). */
TEST(model_with_norm_layers_trains_saves_and_loads) {
    nn_model *m = nn_sequential((nn_layer *[]){
        nn_layer_parse("GaussianNoise(0.1, input_shape=(6, 4, 2))"), nn_layer_parse("SpatialDropout2D(0.2)"),
        nn_layer_parse("BatchNormalization()"), nn_layer_parse("GroupNormalization(2)"), nn_layer_parse("Reshape((6, 8))"),
        nn_layer_parse("SpatialDropout1D(0.1)"),
        nn_layer_parse("LayerNormalization()"), nn_layer_parse("Flatten()"), nn_layer_parse("Dense(2, activation='softmax')"),
        NULL });
    CHECK(m && nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = "sparse_categorical_crossentropy" }) == NN_OK);
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 4, (int64_t[]){ 8, 6, 4, 2 }), *y = nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 8 });
    for (int64_t i = 0; i < nn_tensor_size(x); i++) nn_tensor_f32(x)[i] = (float)((i * 37 % 11) - 3) / 5.0f;
    for (int i = 0; i < 8; i++) nn_tensor_f32(y)[i] = (float)(i % 2);
    double first = 0, loss = 0;
    for (int step = 0; m && step < 40; step++) {
        CHECK(nn_train_on_batch(m, x, y, &loss) == NN_OK);
        if (step == 0) first = loss;
    }
    CHECK(isfinite(loss) && loss < first);
    nn_tensor *w = NULL;
    CHECK(m && nn_model_get_weight(m, "batch_normalization/moving_mean", &w) == NN_OK && w && nn_tensor_f32(w)[0] != 0.0f);
    nn_tensor_free(w);
    nn_model_free(check_reloads_the_same(m, x));
    nn_tensor_free(x), nn_tensor_free(y);
    nn_model_free(m);
}

int main(void) {
    RUN_TESTS(layer_norm_gradient, batch_norm_gradient_training_and_inference, noise_and_spatial_dropout_gradients,
              group_norm_gradient, group_normalization_matches_keras,
              norm_ops_give_the_same_bits_on_two_threads,
              layer_normalization_matches_keras, batch_normalization_matches_keras_in_both_modes,
              batch_normalization_weights_after_train_on_batch_match_keras, noise_and_spatial_dropout_act_in_training_only,
              defaults_and_weights_are_keras_ones, option_errors_name_the_layer_and_option,
              shape_errors_name_the_layer_and_shapes, typed_constructors_equal_keras_configs,
              model_with_norm_layers_trains_saves_and_loads);
}
