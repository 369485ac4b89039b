/* The functional API: models over graphs of layer calls with several inputs and outputs,
 * shared layers, residual connections, merge layers and their ops (gradient-checked), saving
 * and loading, the summary's "Connected to" column, and every misuse reported by name. */
#include "../src/model/model.h"
#include "gradcheck.h"
#include "keras_ref.h"
#include "test.h"
#include "scratch.h"

#include <stdlib.h>
#include <unistd.h>

static nn_tensor *random_matrix(int64_t rows, int64_t cols, nn_rng *rng) {
    nn_tensor *t = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ rows, cols });
    for (int64_t i = 0; i < rows * cols; i++) nn_tensor_f32(t)[i] = (float)(2 * nn_rng_uniform(rng) - 1);
    return t;
}

/* The model's summary table as a string (malloc'd; free it). */
static char *summary_text(nn_model *m) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    CHECK(f && nn_model_summary(m, f) == NN_OK);
    if (f) fclose(f);
    return text;
}

/* Two inputs a (N, 3) and b (N, 2); y = 1 when sum(a) > sum(b), and a regression target
 * r = sum(a) - sum(b) for a second output. */
static nn_dataset *two_input_data(int64_t n, bool two_targets, uint64_t seed) {
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    nn_tensor *a = random_matrix(n, 3, &rng), *b = random_matrix(n, 2, &rng);
    nn_tensor *y = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ n, 1 }), *r = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ n, 1 });
    for (int64_t i = 0; i < n; i++) {
        const float *av = nn_tensor_f32(a) + i * 3, *bv = nn_tensor_f32(b) + i * 2;
        float d = av[0] + av[1] + av[2] - bv[0] - bv[1];
        nn_tensor_f32(y)[i] = d > 0 ? 1.0f : 0.0f;
        nn_tensor_f32(r)[i] = d;
    }
    if (!two_targets) nn_tensor_free(r), r = NULL;
    return nn_dataset_new_multi((nn_tensor *[]){ a, b, NULL }, (nn_tensor *[]){ y, r, NULL });
}

/* a -> Dense(8) ; b -> Dense(8) ; Concatenate ; Dense(8) + residual Add ; Dense(1, sigmoid) */
static nn_model *two_input_model(bool two_outputs) {
    nn_symbol *a = nn_input({ 3 }, .name = "a"), *b = nn_input({ 2 }, .name = "b");
    nn_symbol *ha = nn_call(nn_dense(8, .activation = "relu"), a);
    nn_symbol *hb = nn_call(nn_dense(8, .activation = "relu"), b);
    nn_symbol *h = nn_call_many(nn_concatenate(), (nn_symbol *[]){ ha, hb, NULL });
    nn_symbol *inner = nn_call(nn_dense(16, .activation = "relu"), h);
    nn_symbol *res = nn_call_many(nn_add(), (nn_symbol *[]){ h, inner, NULL });
    nn_symbol *out = nn_call(nn_dense(1, .activation = "sigmoid", .name = "label"), res);
    nn_symbol *reg = two_outputs ? nn_call(nn_dense(1, .name = "difference"), res) : NULL;
    return nn_model_new((nn_symbol *[]){ a, b, NULL }, (nn_symbol *[]){ out, reg, NULL }, "two_inputs");
}

TEST(two_inputs_and_a_residual_block_train) {
    nn_set_seed(7);
    nn_model *m = two_input_model(false);
    CHECK(m != NULL);
    if (!m) return (void)printf("  %s\n", nn_last_error());
    CHECK(nn_model_input_count(m) == 2 && nn_model_output_count(m) == 1);
    /* 3*8+8 + 2*8+8 + 16*16+16 + 16+1 */
    CHECK(nn_model_param_count(m, false) == 32 + 24 + 272 + 17);
    CHECK(nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = "binary_crossentropy",
                                            .metrics = (const char *[]){ "accuracy", NULL } }) == NN_OK);
    nn_dataset *train = two_input_data(512, false, 1), *test = two_input_data(256, false, 2);
    nn_history *h = NULL;
    CHECK(nn_fit(m, train, &(nn_fit_opts){ .epochs = 15, .batch_size = 32, .verbose = NN_OFF }, &h) == NN_OK);
    nn_metrics r;
    CHECK(nn_evaluate(m, test, NULL, &r) == NN_OK);
    CHECK(nn_metrics_get(&r, "accuracy") > 0.9);
    CHECK(nn_history_get(h, "loss", 14) < nn_history_get(h, "loss", 0));
    nn_tensor *pred[1] = { NULL };
    CHECK(nn_predict_multi(m, (const nn_tensor *[]){ nn_dataset_input(test, 0), nn_dataset_input(test, 1), NULL }, NULL,
                           pred) == NN_OK);
    CHECK(pred[0] && pred[0]->ndim == 2 && pred[0]->shape[0] == 256 && pred[0]->shape[1] == 1);
    /* nn_predict refuses a two-input model given one array */
    nn_tensor *one = NULL;
    CHECK(nn_predict(m, nn_dataset_input(test, 0), NULL, &one) != NN_OK);
    CHECK_CONTAINS(nn_last_error(), "takes 2 inputs, got 1");
    nn_tensor *stale[1] = { (nn_tensor *)pred }; /* a failed call leaves no stale pointer */
    CHECK(nn_predict_multi(m, (const nn_tensor *[]){ nn_dataset_input(test, 0), NULL }, NULL, stale) != NN_OK);
    CHECK(stale[0] == NULL);
    nn_tensor_free(pred[0]);
    nn_history_free(h);
    nn_dataset_free(train), nn_dataset_free(test);
    nn_model_free(m);
}

TEST(two_outputs_log_each_loss_and_metric) {
    nn_set_seed(3);
    nn_model *m = two_input_model(true);
    CHECK(m != NULL);
    if (!m) return (void)printf("  %s\n", nn_last_error());
    CHECK(nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .losses = (const char *[]){ "binary_crossentropy", "mse", NULL },
                                            .loss_weights = (const double[]){ 1.0, 0.5 },
                                            .metrics = (const char *[]){ "mae", NULL } }) == NN_OK);
    nn_dataset *d = two_input_data(256, true, 4);
    nn_history *h = NULL;
    CHECK(nn_fit(m, d, &(nn_fit_opts){ .epochs = 3, .verbose = NN_OFF, .validation_split = 0.25 }, &h) == NN_OK);
    const char *expected[] = { "difference_loss", "difference_mae", "label_loss", "label_mae", "loss", "val_loss", "val_label_loss" };
    for (size_t i = 0; i < NN_ARRAY_LEN(expected); i++) CHECK(!isnan(nn_history_get(h, expected[i], 2)));
    /* the total is the weighted sum of the output losses */
    nn_metrics r;
    CHECK(nn_evaluate(m, d, NULL, &r) == NN_OK);
    CHECK_NEAR(r.loss, nn_metrics_get(&r, "label_loss") + 0.5 * nn_metrics_get(&r, "difference_loss"), 1e-4);
    nn_tensor *outs[2] = { NULL, NULL };
    CHECK(nn_predict_multi(m, (const nn_tensor *[]){ nn_dataset_input(d, 0), nn_dataset_input(d, 1), NULL }, NULL, outs) == NN_OK);
    CHECK(outs[0] && outs[1] && outs[1]->shape[0] == 256);
    nn_tensor *single = NULL;
    CHECK(nn_predict(m, nn_dataset_input(d, 0), NULL, &single) != NN_OK);
    CHECK_CONTAINS(nn_last_error(), "has 2 outputs; use nn_predict_multi");
    /* losses must match the outputs */
    CHECK(nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .losses = (const char *[]){ "mse", NULL } }) != NN_OK);
    CHECK_CONTAINS(nn_last_error(), "1 losses for a model of 2 outputs");
    nn_tensor_free(outs[0]), nn_tensor_free(outs[1]);
    nn_history_free(h);
    nn_dataset_free(d);
    nn_model_free(m);
}

/* A chain built with the functional API computes what the same Sequential model computes. */
TEST(a_functional_chain_equals_its_sequential_model) {
    nn_set_seed(11);
    nn_model *seq = nn_sequential((nn_layer *[]){ nn_dense(5, .activation = "tanh", .input_shape = { 4 }), nn_dense(2), NULL });
    CHECK(nn_model_build(seq, 1, (int64_t[]){ 4 }) == NN_OK);
    nn_symbol *x = nn_input({ 4 });
    nn_symbol *y = nn_call(nn_dense(2), nn_call(nn_dense(5, .activation = "tanh"), x));
    nn_model *fun = nn_model_new((nn_symbol *[]){ x, NULL }, (nn_symbol *[]){ y, NULL }, NULL);
    CHECK(fun != NULL);
    for (int i = 0; fun && i < nn_model_weight_count(seq); i++) {
        nn_tensor *w = NULL;
        CHECK(nn_model_get_weight(seq, nn_model_weight_name(seq, i), &w) == NN_OK);
        CHECK(nn_model_set_weight(fun, nn_model_weight_name(fun, i), w) == NN_OK);
        nn_tensor_free(w);
    }
    nn_rng rng;
    nn_rng_seed(&rng, 5);
    nn_tensor *in = random_matrix(9, 4, &rng), *a = NULL, *b = NULL;
    CHECK(nn_predict(seq, in, NULL, &a) == NN_OK && nn_predict(fun, in, NULL, &b) == NN_OK);
    CHECK(a && b && memcmp(nn_tensor_f32(a), nn_tensor_f32(b), 18 * sizeof(float)) == 0);
    nn_tensor_free(in), nn_tensor_free(a), nn_tensor_free(b);
    nn_model_free(seq), nn_model_free(fun);
}

/* Calling one layer twice shares its weights: a Siamese pair. */
TEST(a_shared_layer_keeps_one_set_of_weights) {
    nn_symbol *l = nn_input({ 3 }), *r = nn_input({ 3 });
    nn_layer *shared = nn_dense(4, .name = "shared");
    nn_symbol *d = nn_call_many(nn_subtract(), (nn_symbol *[]){ nn_call(shared, l), nn_call(shared, r), NULL });
    nn_model *m = nn_model_new((nn_symbol *[]){ l, r, NULL }, (nn_symbol *[]){ d, NULL }, NULL);
    CHECK(m != NULL);
    if (!m) return (void)printf("  %s\n", nn_last_error());
    CHECK(nn_model_param_count(m, false) == 16);
    /* the same input on both sides gives zeros */
    nn_rng rng;
    nn_rng_seed(&rng, 2);
    nn_tensor *x = random_matrix(5, 3, &rng), *outs[1] = { NULL };
    CHECK(nn_predict_multi(m, (const nn_tensor *[]){ x, x, NULL }, NULL, outs) == NN_OK);
    for (int i = 0; outs[0] && i < 20; i++) CHECK(nn_tensor_f32(outs[0])[i] == 0.0f);
    /* the summary lists each call with what it is connected to */
    char *text = summary_text(m);
    CHECK_CONTAINS(text, "Connected to");
    CHECK_CONTAINS(text, "shared (Dense)");
    CHECK_CONTAINS(text, "input_layer_1[0][0]");
    CHECK_CONTAINS(text, "shared[0][0]");
    CHECK_CONTAINS(text, "shared[1][0]");
    free(text);
    nn_tensor_free(x), nn_tensor_free(outs[0]);
    nn_model_free(m);
}

TEST(a_saved_functional_model_loads_with_the_same_outputs) {
    nn_set_seed(21);
    nn_model *m = two_input_model(true);
    CHECK(m && nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .losses = (const char *[]){ "binary_crossentropy", "mse", NULL },
                                                 .loss_weights = (const double[]){ 1.0, 0.25 } }) == NN_OK);
    nn_dataset *d = two_input_data(64, true, 9);
    CHECK(nn_fit(m, d, &(nn_fit_opts){ .epochs = 1, .verbose = NN_OFF }, NULL) == NN_OK);
    const char *path = scratch("two.nn");
    CHECK(nn_model_save(m, path) == NN_OK);
    nn_model *back = NULL;
    CHECK(nn_model_load(path, &back) == NN_OK);
    if (!back) printf("  %s\n", nn_last_error());
    const nn_tensor *ins[] = { nn_dataset_input(d, 0), nn_dataset_input(d, 1), NULL };
    nn_tensor *a[2] = { 0 }, *b[2] = { 0 };
    CHECK(back && nn_predict_multi(m, ins, NULL, a) == NN_OK && nn_predict_multi(back, ins, NULL, b) == NN_OK);
    for (int o = 0; back && o < 2; o++) CHECK(a[o] && b[o] && memcmp(nn_tensor_f32(a[o]), nn_tensor_f32(b[o]), 64 * sizeof(float)) == 0);
    nn_metrics ra, rb;
    CHECK(back && nn_evaluate(m, d, NULL, &ra) == NN_OK && nn_evaluate(back, d, NULL, &rb) == NN_OK);
    CHECK(back && ra.loss == rb.loss);
    /* training continues identically */
    CHECK(back && nn_fit(m, d, &(nn_fit_opts){ .epochs = 1, .verbose = NN_OFF, .shuffle = NN_OFF }, NULL) == NN_OK);
    CHECK(back && nn_fit(back, d, &(nn_fit_opts){ .epochs = 1, .verbose = NN_OFF, .shuffle = NN_OFF }, NULL) == NN_OK);
    nn_tensor *wa = NULL, *wb = NULL;
    CHECK(back && nn_model_get_weight(m, "label/kernel", &wa) == NN_OK && nn_model_get_weight(back, "label/kernel", &wb) == NN_OK);
    CHECK(wa && wb && memcmp(wa->data, wb->data, 16 * sizeof(float)) == 0);
    nn_tensor_free(wa), nn_tensor_free(wb);
    for (int o = 0; o < 2; o++) nn_tensor_free(a[o]), nn_tensor_free(b[o]);
    unlink(path);
    nn_dataset_free(d);
    nn_model_free(m), nn_model_free(back);
}

TEST(misuse_is_reported_by_name) {
    /* a layer with a bad option: its error travels to nn_model_new */
    nn_symbol *x = nn_input({ 4 });
    nn_symbol *y = nn_call(nn_dense(3, .activation = "nope"), x);
    CHECK(nn_model_new((nn_symbol *[]){ x, NULL }, (nn_symbol *[]){ y, NULL }, NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown activation 'nope'");
    /* a NULL input symbol */
    y = nn_call(nn_dense(3), NULL);
    CHECK(nn_model_new((nn_symbol *[]){ nn_input({ 2 }), NULL }, (nn_symbol *[]){ y, NULL }, NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "was called on no input");
    /* an output that needs an input not given */
    nn_symbol *a = nn_input({ 2 }, .name = "a"), *b = nn_input({ 2 }, .name = "b");
    y = nn_call_many(nn_add(), (nn_symbol *[]){ a, b, NULL });
    CHECK(nn_model_new((nn_symbol *[]){ a, NULL }, (nn_symbol *[]){ y, NULL }, NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "depend on input 'b', which is not among the model's inputs");
    /* shapes that do not merge: the layer and both shapes are named */
    a = nn_input({ 2 }), b = nn_input({ 3 });
    y = nn_call_many(nn_add(.name = "sum"), (nn_symbol *[]){ a, b, NULL });
    CHECK(nn_model_new((nn_symbol *[]){ a, b, NULL }, (nn_symbol *[]){ y, NULL }, NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "sum");
    CHECK_CONTAINS(nn_last_error(), "(None, 2)");
    CHECK_CONTAINS(nn_last_error(), "(None, 3)");
    /* a merge layer on one input */
    a = nn_input({ 2 });
    y = nn_call(nn_concatenate(), a);
    CHECK(nn_model_new((nn_symbol *[]){ a, NULL }, (nn_symbol *[]){ y, NULL }, NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "must be called on a list of at least 2 inputs, got 1");
    /* a layer of one model used in another */
    a = nn_input({ 2 });
    nn_layer *dense = nn_dense(1);
    nn_model *first = nn_model_new((nn_symbol *[]){ a, NULL }, (nn_symbol *[]){ nn_call(dense, a), NULL }, NULL);
    CHECK(first != NULL);
    nn_symbol *c = nn_input({ 2 });
    y = nn_call(dense, c);
    CHECK(nn_model_new((nn_symbol *[]){ c, NULL }, (nn_symbol *[]){ y, NULL }, NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "already belongs to");
    nn_model_free(first);
    /* an output index past the layer's outputs */
    a = nn_input({ 2 });
    y = nn_call_output(nn_call(nn_dense(2), a), 1);
    CHECK(nn_model_new((nn_symbol *[]){ a, NULL }, (nn_symbol *[]){ y, NULL }, NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "returns 1 tensor; there is no output 1");
    /* bad input shapes, and data that does not fit */
    a = nn_input({ 0 });
    CHECK(nn_model_new((nn_symbol *[]){ a, NULL }, (nn_symbol *[]){ nn_call(nn_dense(1), a), NULL }, NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "InputLayer");
    nn_model *m = two_input_model(false);
    CHECK(m && nn_compile(m, &(nn_compile_opts){ .optimizer = "sgd", .loss = "mse" }) == NN_OK);
    nn_dataset *d = two_input_data(8, false, 1), *one = nn_dataset_new(nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 8, 3 }),
                                                                       nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 8, 1 }));
    CHECK(nn_fit(m, one, &(nn_fit_opts){ .verbose = NN_OFF }, NULL) != NN_OK);
    CHECK_CONTAINS(nn_last_error(), "takes 2 inputs, the data has 1 input arrays");
    nn_dataset *swapped = nn_dataset_new_multi((nn_tensor *[]){ nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 8, 2 }),
                                                                nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 8, 3 }), NULL },
                                               (nn_tensor *[]){ nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 8, 1 }), NULL });
    CHECK(nn_fit(m, swapped, &(nn_fit_opts){ .verbose = NN_OFF }, NULL) != NN_OK);
    CHECK_CONTAINS(nn_last_error(), "x[0] of shape (8, 2) does not fit the model's input (3,)");
    CHECK(nn_dataset_new_multi((nn_tensor *[]){ nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 8, 2 }),
                                                nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 7, 3 }), NULL }, NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "x[1] has shape (7, 3)");
    nn_dataset_free(d), nn_dataset_free(one), nn_dataset_free(swapped);
    nn_model_free(m);
}

/* ---------------------------------------------------------------- the merge ops */

TEST(merge_ops_pass_gradient_checks) {
    const int64_t shape[2] = { 3, 4 };
    for (int sign = -1; sign <= 1; sign += 2) {
        gc *c = gc_new(40 + (uint64_t)sign);
        int a = gc_spatial(c, 2, shape, true), b = gc_spatial(c, 2, shape, true);
        /* b = a +- 0.05: never a tie within the finite-difference step */
        const nn_graph *g = &c->graph;
        int pa = g->nodes[g->nodes[a].inputs[0]].inputs[1], pb = g->nodes[g->nodes[b].inputs[0]].inputs[1];
        float *va = c->params + g->nodes[pa].value_off, *vb = c->params + g->nodes[pb].value_off;
        for (int64_t i = 0; i < g->nodes[pa].inner; i++) vb[i] = va[i] + (i % 2 ? 0.05f : -0.05f);
        nn_attr attr = { .f = { sign, 0 } };
        CHECK(gc_check(c, gc_op(c, NN_OP_EXTREMUM, (int[]){ a, b }, 2, &attr), sign > 0 ? "maximum" : "minimum") == 0);
        gc_free(c);
    }
    for (int axis = 1; axis <= 2; axis++) {
        gc *c = gc_new(50 + (uint64_t)axis);
        int a = gc_spatial(c, 2, (int64_t[]){ 3, 2 }, false), b = gc_spatial(c, 2, (int64_t[]){ axis == 1 ? 1 : 3, axis == 1 ? 2 : 5 }, false);
        int d = gc_spatial(c, 2, (int64_t[]){ axis == 1 ? 4 : 3, 2 }, false);
        nn_attr attr = { .ndim = axis };
        CHECK(gc_check(c, gc_op(c, NN_OP_CONCAT, (int[]){ a, b, d }, 3, &attr), "concat") == 0);
        gc_free(c);
    }
    gc *c = gc_new(60);
    int x = gc_spatial(c, 3, (int64_t[]){ 2, 3, 4 }, false);
    nn_attr perm = { .ndim = 3, .shape = { 3, 1, 2 } };
    CHECK(gc_check(c, gc_op(c, NN_OP_PERMUTE, &x, 1, &perm), "permute") == 0);
    gc_free(c);
    c = gc_new(61);
    x = gc_spatial(c, 1, (int64_t[]){ 5 }, false);
    nn_attr times = { .shape = { 3 } };
    CHECK(gc_check(c, gc_op(c, NN_OP_REPEAT, &x, 1, &times), "repeat") == 0);
    gc_free(c);
}

/* Forward values of the merge and reorder layers on a known input. */
TEST(merge_and_reorder_layers_compute_keras_values) {
    nn_symbol *a = nn_input({ 2, 3 }), *b = nn_input({ 2, 3 });
    nn_symbol *outs[] = {
        nn_call_many(nn_add(), (nn_symbol *[]){ a, b, NULL }),      nn_call_many(nn_subtract(), (nn_symbol *[]){ a, b, NULL }),
        nn_call_many(nn_multiply(), (nn_symbol *[]){ a, b, NULL }), nn_call_many(nn_average(), (nn_symbol *[]){ a, b, NULL }),
        nn_call_many(nn_maximum(), (nn_symbol *[]){ a, b, NULL }),  nn_call_many(nn_minimum(), (nn_symbol *[]){ a, b, NULL }),
        nn_call_many(nn_concatenate(.axis = 1), (nn_symbol *[]){ a, b, NULL }), nn_call(nn_permute({ 2, 1 }), a),
        NULL,
    };
    nn_model *m = nn_model_new((nn_symbol *[]){ a, b, NULL }, outs, NULL);
    CHECK(m != NULL);
    if (!m) return (void)printf("  %s\n", nn_last_error());
    float av[6] = { 1, -2, 3, 4, 5, -6 }, bv[6] = { 2, 2, -1, 0, 7, 1 };
    nn_tensor *ta = nn_tensor_wrap(NN_FLOAT32, 3, (int64_t[]){ 1, 2, 3 }, av), *tb = nn_tensor_wrap(NN_FLOAT32, 3, (int64_t[]){ 1, 2, 3 }, bv);
    nn_tensor *r[8] = { 0 };
    CHECK(nn_predict_multi(m, (const nn_tensor *[]){ ta, tb, NULL }, NULL, r) == NN_OK);
    for (int i = 0; r[0] && i < 6; i++) {
        CHECK(nn_tensor_f32(r[0])[i] == av[i] + bv[i]);
        CHECK(nn_tensor_f32(r[1])[i] == av[i] - bv[i]);
        CHECK(nn_tensor_f32(r[2])[i] == av[i] * bv[i]);
        CHECK(nn_tensor_f32(r[3])[i] == (av[i] + bv[i]) / 2);
        CHECK(nn_tensor_f32(r[4])[i] == fmaxf(av[i], bv[i]));
        CHECK(nn_tensor_f32(r[5])[i] == fminf(av[i], bv[i]));
        CHECK(nn_tensor_f32(r[6])[i] == av[i] && nn_tensor_f32(r[6])[6 + i] == bv[i]); /* axis 1: a's rows, then b's */
        CHECK(nn_tensor_f32(r[7])[(i % 3) * 2 + i / 3] == av[i]);                      /* (2, 3) -> (3, 2) */
    }
    CHECK(r[6] && r[6]->shape[1] == 4 && r[6]->shape[2] == 3);
    CHECK(r[7] && r[7]->shape[1] == 3 && r[7]->shape[2] == 2);
    for (int i = 0; i < 8; i++) nn_tensor_free(r[i]);
    nn_tensor_free(ta), nn_tensor_free(tb);
    nn_model_free(m);
    /* RepeatVector in a Sequential model */
    nn_model *s = nn_sequential((nn_layer *[]){ nn_repeat_vector(3, .name = "rep"), NULL });
    float v[2] = { 1.5f, -2 };
    nn_tensor *x = nn_tensor_wrap(NN_FLOAT32, 2, (int64_t[]){ 1, 2 }, v), *y = NULL;
    CHECK(nn_predict(s, x, NULL, &y) == NN_OK);
    CHECK(y && y->ndim == 3 && y->shape[1] == 3 && nn_tensor_f32(y)[4] == 1.5f && nn_tensor_f32(y)[5] == -2);
    nn_tensor_free(x), nn_tensor_free(y);
    nn_model_free(s);
}

/* A small Transformer encoder block: self-attention with a residual Add and LayerNormalization,
 * a feed-forward residual, pooling; and cross-attention on two inputs. It trains. */
TEST(a_transformer_encoder_block_trains) {
    nn_set_seed(5);
    nn_symbol *x = nn_input({ 6, 8 }), *memory = nn_input({ 4, 8 });
    nn_symbol *att = nn_call(nn_layer_parse("MultiHeadAttention(num_heads=2, key_dim=4)"), x);
    nn_symbol *h = nn_call(nn_layer_parse("LayerNormalization()"), nn_call_many(nn_add(), (nn_symbol *[]){ x, att, NULL }));
    nn_symbol *cross = nn_call_many(nn_layer_parse("MultiHeadAttention(num_heads=2, key_dim=4)"), (nn_symbol *[]){ h, memory, NULL });
    h = nn_call_many(nn_add(), (nn_symbol *[]){ h, cross, NULL });
    nn_symbol *ff = nn_call(nn_dense(8), nn_call(nn_dense(16, .activation = "relu"), h));
    h = nn_call(nn_layer_parse("LayerNormalization()"), nn_call_many(nn_add(), (nn_symbol *[]){ h, ff, NULL }));
    nn_symbol *out = nn_call(nn_dense(1, .activation = "sigmoid"), nn_call(nn_layer_parse("GlobalAveragePooling1D()"), h));
    nn_model *m = nn_model_new((nn_symbol *[]){ x, memory, NULL }, (nn_symbol *[]){ out, NULL }, "encoder");
    CHECK(m != NULL);
    if (!m) return (void)printf("  %s\n", nn_last_error());
    CHECK(nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = "binary_crossentropy" }) == NN_OK);
    /* label: whether the sequence's first feature sums to more than the memory's second */
    nn_rng rng;
    nn_rng_seed(&rng, 8);
    int64_t n = 256;
    nn_tensor *xs = nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ n, 6, 8 }), *ms = nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ n, 4, 8 });
    nn_tensor *y = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ n, 1 });
    for (int64_t i = 0; i < n * 48; i++) nn_tensor_f32(xs)[i] = (float)(2 * nn_rng_uniform(&rng) - 1);
    for (int64_t i = 0; i < n * 32; i++) nn_tensor_f32(ms)[i] = (float)(2 * nn_rng_uniform(&rng) - 1);
    for (int64_t i = 0; i < n; i++) {
        double a = 0, b = 0;
        for (int t = 0; t < 6; t++) a += nn_tensor_f32(xs)[(i * 6 + t) * 8];
        for (int t = 0; t < 4; t++) b += 0.25 * nn_tensor_f32(ms)[(i * 4 + t) * 8 + 1];
        nn_tensor_f32(y)[i] = a > b ? 1.0f : 0.0f;
    }
    nn_dataset *d = nn_dataset_new_multi((nn_tensor *[]){ xs, ms, NULL }, (nn_tensor *[]){ y, NULL });
    nn_history *hist = NULL;
    CHECK(nn_fit(m, d, &(nn_fit_opts){ .epochs = 12, .verbose = NN_OFF }, &hist) == NN_OK);
    CHECK(nn_history_get(hist, "loss", 11) < 0.8 * nn_history_get(hist, "loss", 0));
    nn_history_free(hist);
    nn_dataset_free(d);
    nn_model_free(m);
}

/* A trained model used as a layer: its weights carry over, a second call shares them, and the
 * outer model saves and loads. A Sequential model nests too. */
TEST(a_model_used_as_a_layer_keeps_its_weights) {
    nn_set_seed(13);
    nn_symbol *e_in = nn_input({ 4 });
    nn_symbol *e_out = nn_call(nn_dense(3, .activation = "tanh", .name = "code"), e_in);
    nn_model *encoder = nn_model_new((nn_symbol *[]){ e_in, NULL }, (nn_symbol *[]){ e_out, NULL }, "encoder");
    CHECK(encoder != NULL);
    if (!encoder) return;
    nn_rng rng;
    nn_rng_seed(&rng, 3);
    nn_tensor *x = random_matrix(6, 4, &rng), *x2 = random_matrix(6, 4, &rng), *codes = NULL;
    CHECK(nn_predict(encoder, x, NULL, &codes) == NN_OK);
    nn_symbol *a = nn_input({ 4 }), *b = nn_input({ 4 });
    nn_layer *shared = nn_model_as_layer(encoder);
    nn_symbol *ca = nn_call(shared, a), *cb = nn_call(shared, b);
    nn_symbol *both = nn_call_many(nn_concatenate(), (nn_symbol *[]){ ca, cb, NULL });
    nn_model *m = nn_model_new((nn_symbol *[]){ a, b, NULL }, (nn_symbol *[]){ both, NULL }, "siamese");
    CHECK(m != NULL);
    if (!m) return (void)printf("  %s\n", nn_last_error());
    CHECK(nn_model_param_count(m, false) == 15);
    CHECK(strcmp(nn_model_weight_name(m, 0), "encoder/code/kernel") == 0);
    nn_tensor *out[1] = { NULL };
    CHECK(nn_predict_multi(m, (const nn_tensor *[]){ x, x2, NULL }, NULL, out) == NN_OK);
    for (int r = 0; out[0] && codes && r < 6; r++)
        for (int k = 0; k < 3; k++) CHECK(nn_tensor_f32(out[0])[r * 6 + k] == nn_tensor_f32(codes)[r * 3 + k]);
    const char *path = scratch("nested.nn");
    CHECK(nn_model_save(m, path) == NN_OK);
    nn_model *back = NULL;
    CHECK(nn_model_load(path, &back) == NN_OK);
    if (!back) printf("  %s\n", nn_last_error());
    nn_tensor *again[1] = { NULL };
    CHECK(back && nn_predict_multi(back, (const nn_tensor *[]){ x, x2, NULL }, NULL, again) == NN_OK);
    CHECK(again[0] && out[0] && memcmp(again[0]->data, out[0]->data, 36 * sizeof(float)) == 0);
    /* a Sequential model nested in a Sequential model */
    nn_model *inner = nn_sequential((nn_layer *[]){ nn_dense(2, .input_shape = { 4 }), NULL });
    CHECK(nn_model_build(inner, 1, (int64_t[]){ 4 }) == NN_OK);
    nn_model *outer = nn_sequential((nn_layer *[]){ nn_model_as_layer(inner), nn_dense(1), NULL });
    CHECK(outer && nn_model_build(outer, 1, (int64_t[]){ 4 }) == NN_OK && nn_model_param_count(outer, false) == 13);
    /* an unbuilt model cannot be a layer */
    CHECK(nn_model_as_layer(nn_sequential((nn_layer *[]){ nn_dense(2), NULL })) == NULL);
    CHECK_CONTAINS(nn_last_error(), "is not built");
    unlink(path);
    nn_tensor_free(x), nn_tensor_free(x2), nn_tensor_free(codes), nn_tensor_free(out[0]), nn_tensor_free(again[0]);
    nn_model_free(m), nn_model_free(back), nn_model_free(outer);
}

/* Names longer than the Layer column wrap at a space, as Keras's table does. */
TEST(summary_wraps_long_layer_names) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse("BatchNormalization(input_shape=(4,))"), nn_dense(1), NULL });
    CHECK(m && nn_model_build(m, 1, (int64_t[]){ 4 }) == NN_OK);
    char *text = summary_text(m);
    CHECK_CONTAINS(text, "\u2502 batch_normalization             \u2502 (None, 4)");
    CHECK_CONTAINS(text, "\u2502 (BatchNormalization)            \u2502                        \u2502");
    free(text);
    nn_model_free(m);
}

/* The same functional model as tests/gen/make_functional_ref.py, given Keras's weights, gives
 * Keras's outputs: two inputs, a shared layer, every merge layer, a residual Add, Permute,
 * RepeatVector, Concatenate on the time axis and two outputs. */
TEST(a_functional_model_matches_keras) {
    FILE *f = fopen("tests/data/functional/two_inputs.txt", "r");
    CHECK(f != NULL);
    if (!f) return;
    nn_symbol *a = nn_input({ 2, 3 }, .name = "a"), *b = nn_input({ 2, 3 }, .name = "b");
    nn_layer *shared = nn_dense(4, .activation = "tanh", .name = "shared");
    nn_symbol *sa = nn_call(shared, a), *sb = nn_call(shared, b), *pair[] = { sa, sb, NULL };
    nn_symbol *merged[] = { nn_call_many(nn_maximum(), pair), nn_call_many(nn_minimum(), pair), nn_call_many(nn_average(), pair),
                            nn_call_many(nn_multiply(), pair), nn_call_many(nn_subtract(), pair), NULL };
    nn_symbol *c = nn_call_many(nn_concatenate(.name = "concat"), merged);
    nn_symbol *r = nn_call(nn_dense(20, .name = "inner"), nn_call(nn_dense(8, .activation = "relu", .name = "hidden"), c));
    nn_symbol *h = nn_call_many(nn_add(.name = "residual"), (nn_symbol *[]){ c, r, NULL });
    nn_symbol *p = nn_call(nn_permute({ 2, 1 }), h);
    nn_symbol *out1 = nn_call(nn_dense(1, .name = "out1"), nn_call(nn_flatten(), p));
    nn_symbol *v = nn_call(nn_repeat_vector(3), nn_call(nn_dense(2, .name = "squeeze"), nn_call(nn_flatten(), h)));
    nn_symbol *out2 = nn_call_many(nn_concatenate(.axis = 1), (nn_symbol *[]){ v, nn_call(nn_dense(2, .name = "side"), sa), NULL });
    nn_model *m = nn_model_new((nn_symbol *[]){ a, b, NULL }, (nn_symbol *[]){ out1, out2, NULL }, NULL);
    CHECK(m != NULL);
    if (!m) return (void)(printf("  %s\n", nn_last_error()), fclose(f));
    ref_array in[2], w, want;
    CHECK(read_array(f, "input", &in[0]) && read_array(f, "input", &in[1]));
    char path[128];
    while (fscanf(f, " path %127s", path) == 1 && read_array(f, "weight", &w)) {
        nn_tensor *t = nn_tensor_wrap(NN_FLOAT32, w.ndim, w.shape, w.values);
        CHECK(nn_model_set_weight(m, path, t) == NN_OK);
        nn_tensor_free(t);
        free(w.values);
    }
    nn_tensor *x[2], *outs[2] = { NULL, NULL };
    for (int i = 0; i < 2; i++) x[i] = nn_tensor_wrap(NN_FLOAT32, in[i].ndim, in[i].shape, in[i].values);
    CHECK(nn_predict_multi(m, (const nn_tensor *[]){ x[0], x[1], NULL }, NULL, outs) == NN_OK);
    for (int o = 0; o < 2; o++) {
        CHECK(read_array(f, "output", &want));
        CHECK(outs[o] && nn_tensor_size(outs[o]) == ref_size(&want));
        for (int64_t i = 0; outs[o] && i < ref_size(&want); i++)
            CHECK_NEAR(nn_tensor_f32(outs[o])[i], want.values[i], 1e-5 * (1 + fabs(want.values[i])));
        free(want.values);
    }
    for (int i = 0; i < 2; i++) nn_tensor_free(x[i]), free(in[i].values), nn_tensor_free(outs[i]);
    fclose(f);
    nn_model_free(m);
}

int main(void) {
    RUN_TESTS(two_inputs_and_a_residual_block_train, two_outputs_log_each_loss_and_metric,
              a_functional_chain_equals_its_sequential_model, a_shared_layer_keeps_one_set_of_weights,
              a_saved_functional_model_loads_with_the_same_outputs, misuse_is_reported_by_name,
              merge_ops_pass_gradient_checks, merge_and_reorder_layers_compute_keras_values,
              a_transformer_encoder_block_trains, a_model_used_as_a_layer_keeps_its_weights,
              summary_wraps_long_layer_names, a_functional_model_matches_keras);
}
