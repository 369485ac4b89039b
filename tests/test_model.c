/* Model-level behaviour: the liveness memory plan, Sequential/compile/fit errors, determinism,
 * validation_split, history, sample weights, allocation-free training steps, predict at any
 * batch size, Dropout, regularizers and the summary table. Mostly through nn.h; the plan tests
 * use the internal graph API. */
#include "../src/model/model.h"
#include "test.h"
#include "failing_alloc.h"

#include <pthread.h>
#include <unistd.h>

/* ---------------------------------------------------------------- data helpers */

static nn_tensor *matrix(int64_t rows, int64_t cols) {
    return nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ rows, cols });
}

static void fill_uniform(nn_tensor *t, nn_rng *rng, double lo, double hi) {
    float *v = nn_tensor_f32(t);
    for (int64_t i = 0; i < nn_tensor_size(t); i++) v[i] = (float)(lo + (hi - lo) * nn_rng_uniform(rng));
}

/* n samples of `features` values in [-1, 1]; label 1 when their sum is positive. */
static nn_dataset *binary_data(int64_t n, int64_t features, uint64_t seed) {
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    nn_tensor *x = matrix(n, features), *y = matrix(n, 1);
    fill_uniform(x, &rng, -1, 1);
    for (int64_t i = 0; i < n; i++) {
        double sum = 0;
        for (int64_t k = 0; k < features; k++) sum += nn_tensor_f32(x)[i * features + k];
        nn_tensor_f32(y)[i] = sum > 0 ? 1.0f : 0.0f;
    }
    return nn_dataset_new(x, y);
}

/* Rows [start, start + count) of d as a new dataset. */
static nn_dataset *rows_of(const nn_dataset *d, int64_t start, int64_t count) {
    const nn_tensor *x = nn_dataset_x(d), *y = nn_dataset_y(d);
    int64_t xi = nn_tensor_size(x) / x->shape[0], yi = nn_tensor_size(y) / y->shape[0];
    nn_tensor *sx = matrix(count, xi), *sy = matrix(count, yi);
    memcpy(nn_tensor_f32(sx), nn_tensor_f32(x) + start * xi, (size_t)(count * xi) * sizeof(float));
    memcpy(nn_tensor_f32(sy), nn_tensor_f32(y) + start * yi, (size_t)(count * yi) * sizeof(float));
    return nn_dataset_new(sx, sy);
}

static nn_model *small_binary_model(uint64_t seed, double dropout) {
    nn_set_seed(seed);
    return nn_sequential((nn_layer *[]){
        nn_dense(8, .activation = "relu", .input_shape = { 4 }),
        nn_dropout(dropout),
        nn_dense(1, .activation = "sigmoid"),
        NULL });
}

static int compile_binary(nn_model *m, const char *optimizer) {
    return nn_compile(m, &(nn_compile_opts){ .optimizer = optimizer, .loss = "binary_crossentropy",
                                             .metrics = (const char *[]){ "accuracy", NULL } });
}

/* 1 when every weight of a and b is bitwise equal. */
static bool same_weights(const nn_model *a, const nn_model *b) {
    if (nn_model_weight_count(a) != nn_model_weight_count(b)) return false;
    bool same = true;
    for (int i = 0; i < nn_model_weight_count(a); i++) {
        nn_tensor *wa = NULL, *wb = NULL;
        const char *name = nn_model_weight_name(a, i);
        if (nn_model_get_weight(a, name, &wa) || nn_model_get_weight(b, name, &wb))
            same = false;
        else
            same = same && memcmp(wa->data, wb->data, (size_t)nn_tensor_size(wa) * sizeof(float)) == 0;
        nn_tensor_free(wa);
        nn_tensor_free(wb);
    }
    return same;
}

static const nn_fit_opts QUIET = { .verbose = NN_OFF };

/* ---------------------------------------------------------------- memory plan */

/* A chain x -> dense -> relu -> dense -> tanh -> dense -> softmax with its parameters, and
 * optionally a sparse loss after it. */
#define CHAIN_PARAMS (5 * 7 + 7 + 7 * 7 + 7 * 3)

typedef struct chain {
    nn_graph g;
    float params[CHAIN_PARAMS], grads[CHAIN_PARAMS];
    int x, out, targets; /* targets: -1 without a loss */
} chain;

static int chain_param(chain *c, size_t *used, int ndim, const int64_t *shape, nn_rng *rng) {
    int node = nn_graph_param(&c->g, 0, ndim, shape, true, "chain");
    nn_node *n = &c->g.nodes[node];
    n->value_off = n->grad_off = *used;
    for (int64_t i = 0; i < n->inner; i++) c->params[*used + (size_t)i] = (float)(nn_rng_uniform(rng) - 0.5);
    *used += (size_t)n->inner;
    return node;
}

static void chain_build(chain *c, nn_loss *loss) {
    nn_rng rng;
    nn_rng_seed(&rng, 5);
    size_t used = 0;
    *c = (chain){ .targets = -1 };
    c->x = nn_graph_input(&c->g, 1, (int64_t[]){ 5 }, "input");
    int w1 = chain_param(c, &used, 2, (int64_t[]){ 5, 7 }, &rng);
    int b1 = chain_param(c, &used, 1, (int64_t[]){ 7 }, &rng);
    int w2 = chain_param(c, &used, 2, (int64_t[]){ 7, 7 }, &rng);
    int w3 = chain_param(c, &used, 2, (int64_t[]){ 7, 3 }, &rng);
    int h = nn_graph_op(&c->g, NN_OP_MATMUL, (int[]){ c->x, w1 }, 2, NULL, "chain");
    h = nn_graph_op(&c->g, NN_OP_BIAS_ADD, (int[]){ h, b1 }, 2, NULL, "chain");
    h = nn_graph_op(&c->g, NN_OP_ACTIVATION, &h, 1, &(nn_attr){ .ptr = nn_activation_find("relu") }, "chain");
    h = nn_graph_op(&c->g, NN_OP_MATMUL, (int[]){ h, w2 }, 2, NULL, "chain");
    h = nn_graph_op(&c->g, NN_OP_ACTIVATION, &h, 1, &(nn_attr){ .ptr = nn_activation_find("tanh") }, "chain");
    h = nn_graph_op(&c->g, NN_OP_MATMUL, (int[]){ h, w3 }, 2, NULL, "chain");
    c->out = nn_graph_op(&c->g, NN_OP_ACTIVATION, &h, 1, &(nn_attr){ .ptr = nn_activation_find("softmax") }, "chain");
    if (loss) {
        c->targets = nn_graph_input(&c->g, 1, (int64_t[]){ 1 }, "targets");
        int l = nn_graph_op(&c->g, NN_OP_LOSS, (int[]){ c->out, c->targets }, 2, &(nn_attr){ .ptr = loss }, "loss");
        nn_graph_op(&c->g, NN_OP_REDUCE_MEAN, &l, 1, NULL, "loss");
    }
}

/* Gives every buffer its own place: the layout without any reuse. Returns the arena size. */
static size_t layout_without_reuse(nn_graph *g, int64_t batch) {
    size_t top = 0;
    for (int i = 0; i < g->count; i++) {
        nn_node *n = &g->nodes[i];
        if (n->op == NN_OP_PARAM) continue;
        size_t size = (size_t)((n->batched ? batch : 1) * n->inner);
        n->value_off = top, top += size;
        n->aux_off = top, top += size; /* room for scratch (dropout's mask is one per value) */
        n->grad_off = top, top += size;
    }
    return top;
}

/* Forward (and backward when the chain has a loss); the output is copied to out. */
static void run_chain(chain *c, float *arena, int64_t batch, float *out) {
    nn_exec e = { .graph = &c->g, .arena = arena, .params = c->params, .grads = c->grads, .batch = batch, .rng = NULL };
    for (int64_t i = 0; i < batch * 5; i++) nn_node_value(&e, c->x)[i] = (float)sin(0.7 * (double)i);
    if (c->targets >= 0)
        for (int64_t i = 0; i < batch; i++) nn_node_value(&e, c->targets)[i] = (float)(i % 3);
    nn_graph_forward(&e);
    memcpy(out, nn_node_value(&e, c->out), (size_t)(batch * 3) * sizeof(float));
    if (c->targets < 0) return;
    memset(c->grads, 0, sizeof c->grads);
    nn_graph_backward(&e);
}

TEST(inference_plan_reuses_dead_buffers_with_identical_results) {
    enum { BATCH = 9 };
    chain c;
    chain_build(&c, NULL);
    size_t planned = nn_plan_graph(&c.g, BATCH, false), sum = 0;
    for (int i = 0; i < c.g.count; i++)
        if (c.g.nodes[i].op != NN_OP_PARAM) sum += (size_t)(BATCH * c.g.nodes[i].inner);
    CHECK(planned < sum);
    float *arena = nn_calloc(planned, sizeof(float));
    float planned_out[BATCH * 3], plain_out[BATCH * 3];
    run_chain(&c, arena, BATCH, planned_out);
    /* a smaller batch than planned runs in the same arena */
    float small_out[4 * 3];
    run_chain(&c, arena, 4, small_out);
    nn_free(arena);
    arena = nn_calloc(layout_without_reuse(&c.g, BATCH), sizeof(float));
    run_chain(&c, arena, BATCH, plain_out);
    CHECK(memcmp(planned_out, plain_out, sizeof plain_out) == 0);
    CHECK(memcmp(small_out, plain_out, sizeof small_out) == 0);
    nn_free(arena);
    nn_graph_free(&c.g);
}

/* Planned for 6 samples, run at 6 and at 4: the gradients are those of a layout without reuse. */
TEST(training_plan_gives_the_gradients_of_an_unplanned_run) {
    enum { CAPACITY = 6 };
    nn_loss *loss = nn_loss_new("sparse_categorical_crossentropy", NULL);
    chain c;
    chain_build(&c, loss);
    for (int64_t batch = CAPACITY; batch >= 4; batch -= 2) {
        size_t planned = nn_plan_graph(&c.g, CAPACITY, true);
        float *arena = nn_calloc(planned, sizeof(float));
        float out[CAPACITY * 3], planned_grads[CHAIN_PARAMS];
        run_chain(&c, arena, batch, out);
        memcpy(planned_grads, c.grads, sizeof planned_grads);
        nn_free(arena);
        size_t plain = layout_without_reuse(&c.g, CAPACITY);
        CHECK(planned < plain);
        arena = nn_calloc(plain, sizeof(float));
        run_chain(&c, arena, batch, out);
        CHECK(memcmp(planned_grads, c.grads, sizeof planned_grads) == 0);
        float nonzero = 0;
        for (size_t i = 0; i < CHAIN_PARAMS; i++) nonzero += fabsf(c.grads[i]);
        CHECK(nonzero > 0);
        nn_free(arena);
    }
    nn_graph_free(&c.g);
    nn_loss_free(loss);
}

/* The model's own prediction program is planned too. */
TEST(model_predict_arena_is_smaller_than_its_buffers) {
    nn_model *m = nn_sequential((nn_layer *[]){
        nn_dense(16, .activation = "relu", .input_shape = { 8 }), nn_dense(16, .activation = "relu"),
        nn_dense(16, .activation = "relu"), nn_dense(2, .activation = "softmax"), NULL });
    nn_tensor *x = matrix(64, 8), *out = NULL;
    CHECK(nn_predict(m, x, &(nn_predict_opts){ .batch_size = 64 }, &out) == NN_OK);
    nn_program p = { 0 };
    CHECK(nn_program_prepare(m, NN_PROGRAM_PREDICT, 64, &p) == NN_OK);
    size_t sum = 0;
    for (int i = 0; i < p.graph.count; i++)
        if (p.graph.nodes[i].op != NN_OP_PARAM) sum += (size_t)(64 * p.graph.nodes[i].inner);
    CHECK(p.arena_size > 0 && p.arena_size < sum);
    nn_program_clear(&p);
    nn_tensor_free(x);
    nn_tensor_free(out);
    nn_model_free(m);
}

/* ---------------------------------------------------------------- construction errors */

TEST(sequential_reports_a_layer_with_an_unknown_activation) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_dense(4), nn_dense(3, .activation = "nope"), NULL });
    CHECK(m == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown activation 'nope'");
    CHECK_CONTAINS(nn_last_error(), "known: linear, relu, sigmoid, tanh, softmax");
    CHECK_CONTAINS(nn_last_error(), "Dense");
}

TEST(sequential_reports_a_dense_without_units) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_dense(0), NULL });
    CHECK(m == NULL);
    CHECK_CONTAINS(nn_last_error(), "units");
    CHECK_CONTAINS(nn_last_error(), "an integer >= 1");
}

static void check_compile_name_error(const nn_compile_opts *opts, const char *unknown, const char *known) {
    nn_model *m = small_binary_model(1, 0);
    CHECK(nn_compile(m, opts) == NN_ERR_NAME);
    CHECK_CONTAINS(nn_last_error(), unknown);
    CHECK_CONTAINS(nn_last_error(), known);
    nn_model_free(m);
}

TEST(compile_lists_known_names_for_unknown_ones) {
    check_compile_name_error(&(nn_compile_opts){ .optimizer = "adamm", .loss = "mse" }, "unknown optimizer 'adamm'",
                             "sgd, adam, adamw, rmsprop");
    check_compile_name_error(&(nn_compile_opts){ .optimizer = "adam", .loss = "binary_crossentropi" },
                             "unknown loss 'binary_crossentropi'", "binary_crossentropy, categorical_crossentropy");
    check_compile_name_error(&(nn_compile_opts){ .optimizer = "adam", .loss = "mse",
                                                 .metrics = (const char *[]){ "accuracy", "acuracy", NULL } },
                             "unknown metric 'acuracy'", "accuracy, binary_accuracy");
}

TEST(layer_parse_builds_keras_style_calls_and_lists_known_layers) {
    nn_layer *dense = nn_layer_parse("Dense(32, activation=relu)");
    CHECK(dense != NULL);
    nn_model *m = nn_sequential((nn_layer *[]){ dense, NULL });
    CHECK(m != NULL && nn_model_build(m, 1, (int64_t[]){ 3 }) == NN_OK);
    CHECK(nn_model_param_count(m, false) == 3 * 32 + 32);
    nn_tensor *x = matrix(1, 3), *out = NULL;
    nn_tensor_f32(x)[0] = -100; /* relu: a large negative input gives 0s and positives, not a line */
    CHECK(nn_predict(m, x, NULL, &out) == NN_OK && out->shape[1] == 32);
    nn_tensor_free(x);
    nn_tensor_free(out);
    nn_model_free(m);
    CHECK(nn_layer_parse("Dens(3)") == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown layer 'Dens'");
    CHECK_CONTAINS(nn_last_error(), "Dense, Activation, Flatten, Reshape, Dropout");
}

TEST(fit_before_compile_fails) {
    nn_model *m = small_binary_model(1, 0);
    nn_dataset *d = binary_data(8, 4, 1);
    CHECK(nn_fit(m, d, &QUIET, NULL) == NN_ERR_STATE);
    CHECK_CONTAINS(nn_last_error(), "not compiled");
    CHECK_CONTAINS(nn_last_error(), "nn_compile");
    nn_dataset_free(d);
    nn_model_free(m);
}

TEST(fit_reports_nan_with_its_position) {
    nn_model *m = small_binary_model(1, 0);
    CHECK(compile_binary(m, "adam") == NN_OK);
    nn_dataset *d = binary_data(8, 4, 1);
    ((float *)nn_dataset_x(d)->data)[2 * 4 + 1] = NAN;
    CHECK(nn_fit(m, d, &QUIET, NULL) == NN_ERR_DATA);
    CHECK_CONTAINS(nn_last_error(), "NaN at sample 2, value 1");
    ((float *)nn_dataset_x(d)->data)[2 * 4 + 1] = 0;
    ((float *)nn_dataset_y(d)->data)[6] = INFINITY;
    CHECK(nn_fit(m, d, &QUIET, NULL) == NN_ERR_DATA);
    CHECK_CONTAINS(nn_last_error(), "targets (y) contains Inf at sample 6, value 0");
    nn_dataset_free(d);
    nn_model_free(m);
}

TEST(fit_names_both_shapes_when_targets_do_not_fit) {
    nn_model *m = small_binary_model(1, 0);
    CHECK(compile_binary(m, "adam") == NN_OK);
    nn_rng rng;
    nn_rng_seed(&rng, 3);
    nn_tensor *x = matrix(8, 4), *y = matrix(8, 2);
    fill_uniform(x, &rng, -1, 1);
    nn_dataset *d = nn_dataset_new(x, y);
    CHECK(nn_fit(m, d, &QUIET, NULL) == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "(8, 2)");
    CHECK_CONTAINS(nn_last_error(), "(None, 1)");
    nn_dataset_free(d);
    nn_model_free(m);
}

TEST(fit_rejects_sparse_labels_out_of_range) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_dense(3, .activation = "softmax", .input_shape = { 4 }), NULL });
    CHECK(nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = "sparse_categorical_crossentropy" }) == NN_OK);
    nn_rng rng;
    nn_rng_seed(&rng, 4);
    nn_tensor *x = matrix(8, 4), *y = matrix(8, 1);
    fill_uniform(x, &rng, -1, 1);
    for (int i = 0; i < 8; i++) nn_tensor_f32(y)[i] = (float)(i % 3);
    nn_tensor_f32(y)[5] = 3;
    nn_dataset *d = nn_dataset_new(x, y);
    CHECK(nn_fit(m, d, &QUIET, NULL) == NN_ERR_DATA);
    CHECK_CONTAINS(nn_last_error(), "label 3 at sample 5 is not a class index in [0, 3)");
    nn_dataset_free(d);
    nn_model_free(m);
}

TEST(predict_names_the_built_and_given_shapes) {
    nn_model *m = small_binary_model(1, 0);
    CHECK(compile_binary(m, "adam") == NN_OK);
    nn_tensor *x = matrix(2, 5), *out = NULL;
    CHECK(nn_predict(m, x, NULL, &out) == NN_ERR_SHAPE && out == NULL);
    CHECK_CONTAINS(nn_last_error(), "built for inputs of shape (4,), got (5,)");
    nn_tensor_free(x);
    nn_model_free(m);
}

TEST(fit_and_train_on_batch_reject_bad_options) {
    nn_model *m = small_binary_model(1, 0);
    CHECK(compile_binary(m, "adam") == NN_OK);
    nn_dataset *d = binary_data(8, 4, 2);
    CHECK(nn_fit(m, d, &(nn_fit_opts){ .verbose = NN_OFF, .validation_split = 1.0 }, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "validation_split must be in [0, 1), got 1");
    CHECK(nn_fit(m, d, &(nn_fit_opts){ .verbose = NN_OFF, .validation_split = 0.9 }, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "validation_split 0.9 of 8 samples leaves an empty split");
    nn_tensor *w = nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 3 });
    CHECK(nn_fit(m, d, &(nn_fit_opts){ .verbose = NN_OFF, .sample_weight = w }, NULL) == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "sample_weight has 3 values for 8 samples");
    nn_tensor *y = matrix(5, 1);
    CHECK(nn_train_on_batch(m, nn_dataset_x(d), y, NULL) == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "x has 8 samples but y has 5");
    nn_tensor_free(y);
    nn_tensor_free(w);
    nn_dataset_free(d);
    nn_model_free(m);
}

/* ---------------------------------------------------------------- fit behaviour */

static nn_model *fitted(uint64_t seed, const nn_dataset *d) {
    nn_model *m = small_binary_model(seed, 0.25);
    CHECK(compile_binary(m, "adam") == NN_OK);
    CHECK(nn_fit(m, d, &(nn_fit_opts){ .epochs = 2, .batch_size = 8, .verbose = NN_OFF }, NULL) == NN_OK);
    return m;
}

TEST(fit_is_deterministic_for_a_seed) {
    nn_dataset *d = binary_data(40, 4, 11);
    nn_model *a = fitted(7, d), *b = fitted(7, d), *c = fitted(8, d);
    CHECK(same_weights(a, b));
    CHECK(!same_weights(a, c));
    nn_model_free(a), nn_model_free(b), nn_model_free(c);
    nn_dataset_free(d);
}

TEST(history_has_loss_metrics_and_validation_per_epoch) {
    nn_dataset *d = binary_data(40, 4, 12);
    nn_model *m = small_binary_model(3, 0);
    CHECK(compile_binary(m, "adam") == NN_OK);
    nn_history *h = NULL;
    nn_fit_opts opts = { .epochs = 3, .batch_size = 8, .verbose = NN_OFF, .validation_split = 0.25 };
    CHECK(nn_fit(m, d, &opts, &h) == NN_OK);
    CHECK(nn_history_epochs(h) == 3);
    CHECK(nn_history_columns(h) == 4);
    const char *names[] = { "accuracy", "loss", "val_accuracy", "val_loss" };
    for (int c = 0; c < 4 && c < nn_history_columns(h); c++) CHECK(strcmp(nn_history_column_name(h, c), names[c]) == 0);
    for (int e = 0; e < 3; e++)
        for (int c = 0; c < 4; c++) {
            double v = nn_history_get(h, names[c], e);
            CHECK(isfinite(v) && v >= 0);
            if (c % 2 == 0) CHECK(v <= 1);
        }
    CHECK(isnan(nn_history_get(h, "loss", 3)));
    CHECK(isnan(nn_history_get(h, "auc", 0)));
    /* saved as CSV that reads back as the same numbers */
    char path[] = "/tmp/nn_test_history_XXXXXX";
    close(mkstemp(path));
    CHECK(nn_history_save(h, path) == NN_OK);
    nn_dataset *saved = NULL;
    CHECK(nn_csv_load(path, NULL, &saved) == NN_OK);
    const nn_tensor *t = saved ? nn_dataset_x(saved) : NULL;
    CHECK(t && t->shape[0] == 3 && t->shape[1] == 5);
    CHECK(saved && strcmp(nn_dataset_feature_name(saved, 0), "epoch") == 0 && strcmp(nn_dataset_feature_name(saved, 2), "loss") == 0);
    for (int e = 0; t && e < 3; e++) {
        CHECK(nn_tensor_f32(t)[e * 5] == e + 1);
        CHECK(nn_tensor_f32(t)[e * 5 + 2] == (float)nn_history_get(h, "loss", e));
    }
    nn_dataset_free(saved);
    remove(path);
    nn_history_free(h);
    nn_model_free(m);
    nn_dataset_free(d);
}

/* The held-out part is the last samples: after one epoch, val_loss is the loss of the trained
 * model on exactly those. */
TEST(validation_split_holds_out_the_last_samples) {
    nn_dataset *d = binary_data(40, 4, 13);
    nn_model *m = small_binary_model(4, 0);
    CHECK(compile_binary(m, "sgd") == NN_OK);
    nn_history *h = NULL;
    nn_fit_opts opts = { .epochs = 1, .batch_size = 8, .verbose = NN_OFF, .validation_split = 0.2 };
    CHECK(nn_fit(m, d, &opts, &h) == NN_OK);
    nn_dataset *last = rows_of(d, 32, 8), *first = rows_of(d, 0, 8);
    nn_metrics on_last, on_first;
    CHECK(nn_evaluate(m, last, &(nn_eval_opts){ .batch_size = 8 }, &on_last) == NN_OK);
    CHECK(nn_evaluate(m, first, &(nn_eval_opts){ .batch_size = 8 }, &on_first) == NN_OK);
    CHECK_NEAR(nn_history_get(h, "val_loss", 0), on_last.loss, 1e-6);
    CHECK_NEAR(nn_history_get(h, "val_accuracy", 0), nn_metrics_get(&on_last, "accuracy"), 1e-9);
    CHECK(fabs(on_first.loss - on_last.loss) > 1e-4);
    nn_history_free(h);
    nn_dataset_free(last), nn_dataset_free(first);
    nn_model_free(m);
    nn_dataset_free(d);
}

/* Zero weights on the last half: with one batch per epoch and SGD, the loss (a mean over the
 * whole batch, zero-weighted samples counted) is half the loss of the first half alone, so the
 * weighted run with twice the learning rate takes the same steps as the first half alone. */
TEST(zero_sample_weights_train_like_the_other_half) {
    nn_dataset *d = binary_data(16, 4, 14), *half = rows_of(d, 0, 8);
    nn_tensor *w = nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 16 });
    for (int i = 0; i < 8; i++) nn_tensor_f32(w)[i] = 1.0f;
    nn_model *weighted = small_binary_model(5, 0), *alone = small_binary_model(5, 0);
    CHECK(compile_binary(weighted, "SGD(0.2)") == NN_OK && compile_binary(alone, "SGD(0.1)") == NN_OK);
    nn_fit_opts opts = { .epochs = 3, .batch_size = 16, .shuffle = NN_OFF, .verbose = NN_OFF, .sample_weight = w };
    CHECK(nn_fit(weighted, d, &opts, NULL) == NN_OK);
    opts = (nn_fit_opts){ .epochs = 3, .batch_size = 8, .shuffle = NN_OFF, .verbose = NN_OFF };
    CHECK(nn_fit(alone, half, &opts, NULL) == NN_OK);
    for (int i = 0; i < nn_model_weight_count(alone); i++) {
        nn_tensor *a = NULL, *b = NULL;
        CHECK(nn_model_get_weight(weighted, nn_model_weight_name(alone, i), &a) == NN_OK);
        CHECK(nn_model_get_weight(alone, nn_model_weight_name(alone, i), &b) == NN_OK);
        for (int64_t k = 0; a && b && k < nn_tensor_size(a); k++)
            CHECK_NEAR(nn_tensor_f32(a)[k], nn_tensor_f32(b)[k], 1e-5);
        nn_tensor_free(a), nn_tensor_free(b);
    }
    nn_model_free(weighted), nn_model_free(alone);
    nn_tensor_free(w);
    nn_dataset_free(d), nn_dataset_free(half);
}

/* ---------------------------------------------------------------- no allocation in a step */

TEST(a_training_step_makes_no_heap_allocation) {
    nn_dataset *d = binary_data(16, 4, 15);
    nn_model *m = small_binary_model(6, 0.25);
    CHECK(compile_binary(m, "adam") == NN_OK);
    failing_alloc count;
    failing_alloc_install(&count, FAILING_ALLOC_NONE);
    double first, second;
    CHECK(nn_train_on_batch(m, nn_dataset_x(d), nn_dataset_y(d), &first) == NN_OK);
    long after_first = count.calls;
    CHECK(nn_train_on_batch(m, nn_dataset_x(d), nn_dataset_y(d), &second) == NN_OK);
    long during_second = count.calls - after_first;
    nn_set_allocator(NULL);
    CHECK(after_first > 0); /* the counter works: the first step sets up the program */
    CHECK(during_second == 0);
    if (during_second) printf("  second nn_train_on_batch made %ld allocations\n", during_second);
    CHECK(isfinite(first) && isfinite(second));
    nn_model_free(m);
    nn_dataset_free(d);
}

/* A predictor run allocates nothing, and its outputs are nn_predict's. */
TEST(a_predictor_run_makes_no_heap_allocation) {
    nn_model *m = small_binary_model(6, 0.25);
    nn_tensor *x = matrix(5, 4), *expected = NULL;
    CHECK(nn_predict(m, x, NULL, &expected) == NN_OK);
    nn_predictor *p = NULL;
    CHECK(nn_predictor_new(m, 8, &p) == NN_OK);
    CHECK(nn_predictor_input_size(p) == 4 && nn_predictor_output_size(p) == 1);
    float out[5];
    failing_alloc count;
    failing_alloc_install(&count, FAILING_ALLOC_NONE);
    for (int i = 0; i < 5; i++) CHECK(nn_predictor_run(p, nn_tensor_f32(x) + i * 4, 1, out + i) == NN_OK);
    nn_set_allocator(NULL);
    CHECK(count.calls == 0);
    CHECK(memcmp(out, nn_tensor_f32(expected), sizeof out) == 0);
    CHECK(nn_predictor_run(p, nn_tensor_f32(x), 9, out) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "9 samples, but this predictor takes 1 to 8");
    nn_predictor_free(p);
    nn_model *unbuilt = nn_sequential((nn_layer *[]){ nn_dense(2), NULL });
    CHECK(nn_predictor_new(unbuilt, 1, &p) == NN_ERR_STATE && p == NULL);
    CHECK_CONTAINS(nn_last_error(), "not built");
    nn_model_free(unbuilt);
    nn_tensor_free(x), nn_tensor_free(expected);
    nn_model_free(m);
}

typedef struct predict_job { nn_model *model; const nn_tensor *x; nn_tensor *out; int status; } predict_job;

static void *predict_thread(void *arg) {
    predict_job *job = arg;
    for (int i = 0; i < 200 && !job->status; i++) {
        nn_tensor_free(job->out);
        job->out = NULL;
        job->status = nn_predict(job->model, job->x, &(nn_predict_opts){ .batch_size = 3 }, &job->out);
    }
    return NULL;
}

/* Several threads predicting with one built model get what one thread gets. */
TEST(threads_predict_with_one_model) {
    nn_model *m = small_binary_model(6, 0.25);
    nn_tensor *x = matrix(7, 4), *expected = NULL;
    CHECK(nn_predict(m, x, NULL, &expected) == NN_OK);
    predict_job jobs[3];
    pthread_t threads[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (predict_job){ m, x, NULL, 0 };
        pthread_create(&threads[i], NULL, predict_thread, &jobs[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        CHECK(jobs[i].status == NN_OK && jobs[i].out);
        CHECK(jobs[i].out && memcmp(jobs[i].out->data, expected->data, 7 * sizeof(float)) == 0);
        nn_tensor_free(jobs[i].out);
    }
    nn_tensor_free(x), nn_tensor_free(expected);
    nn_model_free(m);
}

/* Work large enough to be split over threads gives the same weights on one thread and on two. */
TEST(training_is_bitwise_identical_across_thread_counts) {
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 128, 512 }), *y = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 128, 1 });
    for (int i = 0; i < 128 * 512; i++) nn_tensor_f32(x)[i] = (float)((i * 7919 % 1013) - 506) / 506.0f;
    for (int i = 0; i < 128; i++) nn_tensor_f32(y)[i] = (float)(i % 2);
    nn_dataset *d = nn_dataset_new(x, y);
    nn_tensor *weights[2] = { NULL, NULL };
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_num_threads(threads);
        nn_set_seed(5);
        nn_model *m = nn_sequential((nn_layer *[]){ nn_dense(256, .activation = "relu"), nn_dense(1, .activation = "sigmoid"), NULL });
        CHECK(nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = "binary_crossentropy" }) == NN_OK);
        CHECK(nn_fit(m, d, &(nn_fit_opts){ .epochs = 2, .batch_size = 64, .verbose = NN_OFF }, NULL) == NN_OK);
        CHECK(nn_model_get_weight(m, "dense/kernel", &weights[threads - 1]) == NN_OK);
        nn_model_free(m);
    }
    nn_set_num_threads(0);
    CHECK(weights[0] && weights[1] && memcmp(weights[0]->data, weights[1]->data, 512 * 256 * sizeof(float)) == 0);
    nn_tensor_free(weights[0]), nn_tensor_free(weights[1]);
    nn_dataset_free(d);
}

/* nn_predict cuts batches into slices that fit a core's cache, each on one thread: a model whose
 * samples take tens of KB gives several slices per batch, and its predictions on one thread and
 * on two are the same bits. The last batch has 3 rows, which two threads would cut into 1 + 2:
 * a product of one row sums in another order, so it stays whole. */
TEST(predict_slices_give_the_same_bits_on_any_thread_count) {
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 4, (int64_t[]){ 131, 20, 20, 3 }), *out[2] = { NULL, NULL };
    nn_rng rng;
    nn_rng_seed(&rng, 21);
    fill_uniform(x, &rng, -1, 1);
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_num_threads(threads);
        nn_set_seed(8);
        nn_model *m = nn_sequential((nn_layer *[]){ nn_conv2d(64, .kernel_size = { 3 }, .activation = "relu"),
                                                    nn_flatten(), nn_dense(10, .activation = "softmax"), NULL });
        CHECK(nn_predict(m, x, &(nn_predict_opts){ .batch_size = 64 }, &out[threads - 1]) == NN_OK);
        nn_model_free(m);
    }
    nn_set_num_threads(0);
    CHECK(out[0] && out[1] && memcmp(out[0]->data, out[1]->data, 131 * 10 * sizeof(float)) == 0);
    nn_tensor_free(out[0]), nn_tensor_free(out[1]);
    nn_tensor_free(x);
}

/* Sliced prediction makes a predictor per thread: each allocation failing in turn gives a clean
 * NN_ERR_NOMEM with no output (ASan's leak check sees what a failure leaves), and once nothing
 * fails, the predictions are those of a run with malloc. */
TEST(sliced_predict_allocation_failure_sweep) {
    nn_set_num_threads(2);
    nn_set_seed(9);
    nn_model *m = nn_sequential((nn_layer *[]){ nn_conv2d(64, .kernel_size = { 3 }, .activation = "relu"), nn_flatten(),
                                                nn_dense(3), NULL });
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 4, (int64_t[]){ 40, 12, 12, 2 }), *expected = NULL;
    nn_rng rng;
    nn_rng_seed(&rng, 22);
    fill_uniform(x, &rng, -1, 1);
    nn_predict_opts opts = { .batch_size = 20 };
    CHECK(nn_predict(m, x, &opts, &expected) == NN_OK);
    bool succeeded = false;
    for (long fail_at = 1; fail_at < 200 && !succeeded; fail_at++) {
        failing_alloc f;
        nn_tensor *out = NULL;
        failing_alloc_install(&f, fail_at);
        int status = nn_predict(m, x, &opts, &out);
        nn_set_allocator(NULL);
        succeeded = status == NN_OK;
        CHECK(succeeded ? out != NULL : status == NN_ERR_NOMEM && out == NULL);
        if (out) CHECK(memcmp(out->data, expected->data, 40 * 3 * sizeof(float)) == 0);
        nn_tensor_free(out);
    }
    CHECK(succeeded);
    nn_set_num_threads(0);
    nn_tensor_free(x), nn_tensor_free(expected);
    nn_model_free(m);
}

/* ---------------------------------------------------------------- predict, dropout, regularizer */

TEST(predict_is_the_same_at_every_batch_size) {
    nn_model *m = small_binary_model(8, 0);
    nn_rng rng;
    nn_rng_seed(&rng, 16);
    nn_tensor *x = matrix(130, 4);
    fill_uniform(x, &rng, -2, 2);
    nn_tensor *out[3] = { NULL };
    const int batches[3] = { 1, 7, 128 };
    for (int i = 0; i < 3; i++) {
        CHECK(nn_predict(m, x, &(nn_predict_opts){ .batch_size = batches[i] }, &out[i]) == NN_OK);
        CHECK(out[i] && out[i]->ndim == 2 && out[i]->shape[0] == 130 && out[i]->shape[1] == 1);
    }
    for (int i = 1; i < 3; i++)
        for (int64_t k = 0; out[0] && out[i] && k < 130; k++)
            CHECK_NEAR(nn_tensor_f32(out[i])[k], nn_tensor_f32(out[0])[k], 1e-6);
    for (int i = 0; i < 3; i++) nn_tensor_free(out[i]);
    nn_tensor_free(x);
    nn_model_free(m);
}

TEST(dropout_acts_in_training_only) {
    nn_dataset *d = binary_data(32, 4, 17);
    nn_model *m = small_binary_model(9, 0.5);
    /* a learning rate too small to move the weights: loss changes come from dropout alone */
    CHECK(compile_binary(m, "SGD(1e-30)") == NN_OK);
    nn_tensor *p1 = NULL, *p2 = NULL;
    CHECK(nn_predict(m, nn_dataset_x(d), NULL, &p1) == NN_OK && nn_predict(m, nn_dataset_x(d), NULL, &p2) == NN_OK);
    CHECK(p1 && p2 && memcmp(p1->data, p2->data, 32 * sizeof(float)) == 0);
    nn_metrics eval1, eval2;
    CHECK(nn_evaluate(m, d, NULL, &eval1) == NN_OK && nn_evaluate(m, d, NULL, &eval2) == NN_OK);
    CHECK(eval1.loss == eval2.loss);
    double train1, train2;
    CHECK(nn_train_on_batch(m, nn_dataset_x(d), nn_dataset_y(d), &train1) == NN_OK);
    CHECK(nn_train_on_batch(m, nn_dataset_x(d), nn_dataset_y(d), &train2) == NN_OK);
    CHECK(train1 != train2);
    CHECK(train1 != eval1.loss);
    nn_tensor_free(p1), nn_tensor_free(p2);
    nn_model_free(m);
    nn_dataset_free(d);
}

TEST(l2_regularizer_adds_to_the_loss) {
    nn_dataset *d = binary_data(16, 4, 18);
    nn_set_seed(10);
    nn_model *plain = nn_sequential((nn_layer *[]){ nn_dense(3, .activation = "tanh", .input_shape = { 4 }),
                                                     nn_dense(1, .activation = "sigmoid"), NULL });
    nn_set_seed(10);
    nn_model *reg = nn_sequential((nn_layer *[]){
        nn_dense(3, .activation = "tanh", .input_shape = { 4 }, .kernel_regularizer = { .l2 = 0.01 }),
        nn_dense(1, .activation = "sigmoid", .kernel_regularizer = { .l1 = 0.02 }), NULL });
    CHECK(compile_binary(plain, "adam") == NN_OK && compile_binary(reg, "adam") == NN_OK);
    CHECK(same_weights(plain, reg));
    nn_tensor *k1 = NULL, *k2 = NULL;
    CHECK(nn_model_get_weight(reg, "dense/kernel", &k1) == NN_OK);
    CHECK(nn_model_get_weight(reg, "dense_1/kernel", &k2) == NN_OK);
    double penalty = 0;
    for (int64_t i = 0; k1 && i < nn_tensor_size(k1); i++) penalty += 0.01 * pow(nn_tensor_f32(k1)[i], 2);
    for (int64_t i = 0; k2 && i < nn_tensor_size(k2); i++) penalty += 0.02 * fabs(nn_tensor_f32(k2)[i]);
    nn_metrics with, without;
    CHECK(nn_evaluate(reg, d, NULL, &with) == NN_OK && nn_evaluate(plain, d, NULL, &without) == NN_OK);
    CHECK(penalty > 1e-3);
    CHECK_NEAR(with.loss - without.loss, penalty, 1e-6);
    nn_tensor_free(k1), nn_tensor_free(k2);
    nn_model_free(plain), nn_model_free(reg);
    nn_dataset_free(d);
}

/* ---------------------------------------------------------------- summary */

/* Printed by Keras 3.15: keras.Sequential([keras.Input((30,)), Dense(32, relu), Dense(16, relu),
 * Dense(1, sigmoid)]).summary() */
static const char KERAS_SUMMARY[] =
    "Model: \"sequential\"\n"
    "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓\n"
    "┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃\n"
    "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩\n"
    "│ dense (Dense)                   │ (None, 32)             │           992 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
    "│ dense_1 (Dense)                 │ (None, 16)             │           528 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
    "│ dense_2 (Dense)                 │ (None, 1)              │            17 │\n"
    "└─────────────────────────────────┴────────────────────────┴───────────────┘\n"
    " Total params: 1,537 (6.00 KB)\n"
    " Trainable params: 1,537 (6.00 KB)\n"
    " Non-trainable params: 0 (0.00 B)\n";

/* Printed by Keras 3.15: keras.Sequential([keras.Input((30,)), Normalization(), Dense(32, relu),
 * Dropout(0.5), Dense(1, sigmoid)]).summary() */
static const char KERAS_SUMMARY_NON_TRAINABLE[] =
    "Model: \"sequential\"\n"
    "┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓\n"
    "┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃\n"
    "┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩\n"
    "│ normalization (Normalization)   │ (None, 30)             │            61 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
    "│ dense (Dense)                   │ (None, 32)             │           992 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
    "│ dropout (Dropout)               │ (None, 32)             │             0 │\n"
    "├─────────────────────────────────┼────────────────────────┼───────────────┤\n"
    "│ dense_1 (Dense)                 │ (None, 1)              │            33 │\n"
    "└─────────────────────────────────┴────────────────────────┴───────────────┘\n"
    " Total params: 1,086 (4.25 KB)\n"
    " Trainable params: 1,025 (4.00 KB)\n"
    " Non-trainable params: 61 (248.00 B)\n";

/* The summary of m built for inputs (30,), into text. */
static void summary_text(nn_model *m, char *text, size_t size) {
    CHECK(nn_model_build(m, 1, (int64_t[]){ 30 }) == NN_OK);
    FILE *f = tmpfile();
    CHECK(nn_model_summary(m, f) == NN_OK);
    rewind(f);
    size_t n = fread(text, 1, size - 1, f);
    text[n] = '\0';
    fclose(f);
}

TEST(summary_prints_the_keras_table) {
    nn_model *m = nn_sequential((nn_layer *[]){
        nn_dense(32, .activation = "relu"), nn_dense(16, .activation = "relu"),
        nn_dense(1, .activation = "sigmoid"), NULL });
    char text[4096];
    summary_text(m, text, sizeof text);
    CHECK_CONTAINS(text, "│ dense (Dense)                   │ (None, 32)             │           992 │\n");
    CHECK_CONTAINS(text, " Total params: 1,537 (6.00 KB)\n");
    CHECK(strcmp(text, KERAS_SUMMARY) == 0);
    if (strcmp(text, KERAS_SUMMARY) != 0) printf("%s", text);
    nn_model_free(m);
}

TEST(summary_counts_non_trainable_params) {
    nn_model *m = nn_sequential((nn_layer *[]){
        nn_normalization(), nn_dense(32, .activation = "relu"), nn_dropout(0.5),
        nn_dense(1, .activation = "sigmoid"), NULL });
    char text[4096];
    summary_text(m, text, sizeof text);
    CHECK(strcmp(text, KERAS_SUMMARY_NON_TRAINABLE) == 0);
    if (strcmp(text, KERAS_SUMMARY_NON_TRAINABLE) != 0) printf("%s", text);
    nn_model_free(m);
}

int main(void) {
    RUN_TESTS(inference_plan_reuses_dead_buffers_with_identical_results,
              training_plan_gives_the_gradients_of_an_unplanned_run, model_predict_arena_is_smaller_than_its_buffers,
              sequential_reports_a_layer_with_an_unknown_activation, sequential_reports_a_dense_without_units,
              compile_lists_known_names_for_unknown_ones, layer_parse_builds_keras_style_calls_and_lists_known_layers,
              fit_before_compile_fails, fit_reports_nan_with_its_position,
              fit_names_both_shapes_when_targets_do_not_fit,
              fit_rejects_sparse_labels_out_of_range, predict_names_the_built_and_given_shapes,
              fit_and_train_on_batch_reject_bad_options,
              fit_is_deterministic_for_a_seed,
              history_has_loss_metrics_and_validation_per_epoch, validation_split_holds_out_the_last_samples,
              zero_sample_weights_train_like_the_other_half, a_training_step_makes_no_heap_allocation, a_predictor_run_makes_no_heap_allocation,
              threads_predict_with_one_model, training_is_bitwise_identical_across_thread_counts,
              predict_is_the_same_at_every_batch_size, predict_slices_give_the_same_bits_on_any_thread_count,
              sliced_predict_allocation_failure_sweep, dropout_acts_in_training_only, l2_regularizer_adds_to_the_loss,
              summary_prints_the_keras_table, summary_counts_non_trainable_params);
}
