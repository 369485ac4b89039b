/* Sequence layers: gradient checks of the recurrent ops over several steps (masks, go_backwards,
 * returned states) and of the sequence ops, outputs against real Keras (tests/data/recurrent, made
 * by tests/gen/make_recurrent_ref.py) with Keras's weight names, an LSTM that learns through
 * nn_fit, configs, and config and shape errors. Gradient checks use tests/gradcheck.h. */
#include "../src/core/graph.h"
#include "../src/model/model.h"
#include "../src/ops/recurrent.h"
#include "gradcheck.h"
#include "keras_ref.h"
#include "layer_checks.h"
#include "test.h"

#include <stdlib.h>

static int64_t activation_index(const char *name) { return nn_activation_find(name) - nn_activation_table(NULL); }

/* Masks for GC_BATCH = 3 samples: sample 0 keeps every step, sample 1 loses a middle and the
 * last step, sample 2 its first two. */
static float mask_at(int64_t sample, int64_t t, int64_t steps) {
    if (sample == 1) return t == steps / 2 || t == steps - 1 ? 0.0f : 1.0f;
    if (sample == 2) return t < 2 ? 0.0f : 1.0f;
    return 1.0f;
}

static int mask_input(gc *c, int64_t steps) {
    int node = gc_input(c, 1, &steps, GC_BATCH, false);
    for (int64_t b = 0; b < GC_BATCH; b++)
        for (int64_t t = 0; t < steps; t++) c->input_values[c->ninputs - 1][b * steps + t] = mask_at(b, t, steps);
    return node;
}

/* ---------------------------------------------------------------- recurrent op gradients */

static void check_rnn(uint64_t seed, nn_op op, int64_t steps, int64_t units, int flags, const char *act, const char *ract,
                      const char *label) {
    gc *c = gc_new(seed);
    int64_t gates = op == NN_OP_LSTM ? 4 : op == NN_OP_GRU ? 3 : 1, width = gates * units;
    int inputs[4] = { gc_spatial(c, 2, (int64_t[]){ steps, width }, false), gc_param(c, 2, (int64_t[]){ units, width }, true) };
    int count = 2;
    bool two_rows = op == NN_OP_GRU && (flags & NN_RNN_RESET_AFTER);
    if (flags & NN_RNN_BIAS) inputs[count++] = gc_param(c, two_rows ? 2 : 1, two_rows ? (int64_t[]){ 2, width } : &width, true);
    if (flags & NN_RNN_MASK) inputs[count++] = mask_input(c, steps);
    nn_attr attr = { .shape = { activation_index(act), activation_index(ract), flags } };
    int y = gc_op(c, op, inputs, count, &attr);
    int64_t rows = (flags & NN_RNN_RETURN_SEQUENCES ? steps : 1) + (flags & NN_RNN_RETURN_STATE ? (op == NN_OP_LSTM ? 2 : 1) : 0);
    const nn_node *out = &c->graph.nodes[y];
    CHECK(flags & (NN_RNN_RETURN_SEQUENCES | NN_RNN_RETURN_STATE) ? out->ndim == 3 && out->shape[1] == rows : out->ndim == 2);
    CHECK(gc_check(c, y, label) == 0);
    gc_free(c);
}

enum { SEQ = NN_RNN_RETURN_SEQUENCES, STATE = NN_RNN_RETURN_STATE, BACK = NN_RNN_GO_BACKWARDS,
       ZERO = NN_RNN_ZERO_OUTPUT_FOR_MASK, BIAS = NN_RNN_BIAS, MASK = NN_RNN_MASK, AFTER = NN_RNN_RESET_AFTER };

TEST(simple_rnn_gradient) {
    check_rnn(1, NN_OP_SIMPLE_RNN, 5, 3, SEQ | BIAS, "tanh", "sigmoid", "simple_rnn sequences");
    check_rnn(2, NN_OP_SIMPLE_RNN, 4, 2, BIAS, "tanh", "sigmoid", "simple_rnn last");
    check_rnn(3, NN_OP_SIMPLE_RNN, 5, 3, SEQ | MASK | BACK, "softsign", "sigmoid", "simple_rnn masked backwards");
    check_rnn(4, NN_OP_SIMPLE_RNN, 4, 2, STATE | MASK | BIAS | ZERO, "tanh", "sigmoid", "simple_rnn state");
}

TEST(lstm_gradient) {
    check_rnn(10, NN_OP_LSTM, 5, 3, SEQ | BIAS, "tanh", "sigmoid", "lstm sequences");
    check_rnn(11, NN_OP_LSTM, 4, 2, BIAS, "tanh", "sigmoid", "lstm last");
    check_rnn(12, NN_OP_LSTM, 5, 3, SEQ | BIAS | MASK, "tanh", "sigmoid", "lstm masked");
    check_rnn(13, NN_OP_LSTM, 5, 2, SEQ | MASK | ZERO, "softsign", "sigmoid", "lstm masked zero output");
    check_rnn(14, NN_OP_LSTM, 6, 2, STATE | BACK | MASK | BIAS, "tanh", "sigmoid", "lstm backwards state");
    check_rnn(15, NN_OP_LSTM, 4, 3, SEQ | STATE | MASK | ZERO | BIAS, "tanh", "softsign", "lstm sequences and state");
}

TEST(gru_gradient) {
    check_rnn(20, NN_OP_GRU, 5, 3, SEQ | BIAS | AFTER, "tanh", "sigmoid", "gru sequences");
    check_rnn(21, NN_OP_GRU, 5, 2, BIAS | AFTER | MASK | BACK | STATE, "tanh", "sigmoid", "gru masked backwards state");
    check_rnn(22, NN_OP_GRU, 4, 3, AFTER, "softsign", "sigmoid", "gru without bias");
    check_rnn(23, NN_OP_GRU, 5, 3, SEQ | BIAS | MASK, "tanh", "sigmoid", "gru reset before");
    check_rnn(24, NN_OP_GRU, 4, 2, STATE | MASK | ZERO, "tanh", "sigmoid", "gru reset before, no bias, state");
}

/* ---------------------------------------------------------------- sequence op gradients */

TEST(embedding_gradient_and_invalid_ids) {
    gc *c = gc_new(30);
    int ids = gc_input(c, 1, (int64_t[]){ 6 }, GC_BATCH, false);
    /* 2.7 truncates to 2, -1 wraps to the last row, 5 and -6 and NaN are outside a table of 5 rows */
    const float values[GC_BATCH * 6] = { 0, 1, 2, 3, 4, 2.7f, -1, 5, -6, NAN, 1e30f, -0.5f, 4, 4, 0, 3, -5, 1 };
    memcpy(c->input_values[0], values, sizeof values);
    int table = gc_param(c, 2, (int64_t[]){ 5, 3 }, true);
    int y = gc_op(c, NN_OP_EMBEDDING, (int[]){ ids, table }, 2, NULL);
    CHECK(c->graph.nodes[y].ndim == 3 && c->graph.nodes[y].shape[2] == 3);
    CHECK(gc_check(c, y, "embedding") == 0);
    /* the forward values: rows read as Keras reads them, zeros for the invalid ids */
    c->graph.nodes[y].keep = true;
    size_t size = nn_plan_graph(&c->graph, GC_BATCH, false);
    float *arena = nn_calloc(size, sizeof(float));
    nn_exec e = { .graph = &c->graph, .arena = arena, .params = c->params, .batch = GC_BATCH };
    gc_forward(c, &e);
    const float *out = nn_node_value(&e, y), *w = c->params + c->graph.nodes[table].value_off;
    const int expected_rows[GC_BATCH * 6] = { 0, 1, 2, 3, 4, 2, 4, -1, -1, -1, -1, 0, 4, 4, 0, 3, 0, 1 };
    for (int i = 0; i < GC_BATCH * 6; i++)
        for (int j = 0; j < 3; j++) CHECK(out[i * 3 + j] == (expected_rows[i] < 0 ? 0.0f : w[expected_rows[i] * 3 + j]));
    nn_free(arena);
    gc_free(c);
}

TEST(mask_ops_gradient) {
    gc *c = gc_new(31);
    int x = gc_spatial(c, 2, (int64_t[]){ 5, 3 }, false);
    int mask = mask_input(c, 5);
    int y = gc_op(c, NN_OP_APPLY_MASK, (int[]){ x, mask }, 2, NULL);
    CHECK(gc_check(c, y, "apply_mask") == 0);
    gc_free(c);
    c = gc_new(32);
    x = gc_spatial(c, 2, (int64_t[]){ 6, 2 }, false);
    mask = mask_input(c, 6);
    y = gc_op(c, NN_OP_MASKED_AVERAGE, (int[]){ x, mask }, 2, NULL);
    CHECK(c->graph.nodes[y].ndim == 2 && c->graph.nodes[y].shape[1] == 2);
    CHECK(gc_check(c, y, "masked_average") == 0);
    gc_free(c);
}

TEST(time_ops_gradient) {
    gc *c = gc_new(33);
    int x = gc_spatial(c, 2, (int64_t[]){ 5, 2 }, false);
    int part = gc_op(c, NN_OP_TIME_SLICE, &x, 1, &(nn_attr){ .shape = { 1, 3, 0 } });
    int one = gc_op(c, NN_OP_TIME_SLICE, &x, 1, &(nn_attr){ .shape = { 4, 1, 1 } });
    CHECK(c->graph.nodes[part].shape[1] == 3 && c->graph.nodes[one].ndim == 2);
    int reversed = gc_op(c, NN_OP_REVERSE_TIME, &part, 1, NULL);
    int y2 = gc_spatial(c, 1, (int64_t[]){ 2 }, false);
    int joined = gc_op(c, NN_OP_CONCAT, (int[]){ one, y2, one }, 3, NULL);
    CHECK(c->graph.nodes[joined].shape[1] == 6);
    int flat = gc_op(c, NN_OP_RESHAPE, &reversed, 1, &(nn_attr){ .ndim = 1, .shape = { 6 } });
    int y = gc_op(c, NN_OP_CONCAT, (int[]){ flat, joined }, 2, NULL);
    CHECK(gc_check(c, y, "time_slice, reverse_time, concat") == 0);
    gc_free(c);
}

/* A convolution on the folded steps: the fold is the time axis in the batch, for every op. */
TEST(fold_time_gradient_through_a_convolution) {
    gc *c = gc_new(34);
    int x = gc_spatial(c, 4, (int64_t[]){ 3, 4, 4, 1 }, false);
    int folded = gc_op(c, NN_OP_FOLD_TIME, &x, 1, NULL);
    CHECK(c->graph.nodes[folded].fold == 3 && c->graph.nodes[folded].ndim == 4);
    int kernel = gc_param(c, 4, (int64_t[]){ 2, 2, 1, 2 }, true);
    nn_attr window = { .shape = { 1, 1, 1, 1, 0, 1, 0, 1 } };
    int conv = gc_op(c, NN_OP_CONV2D, (int[]){ folded, kernel }, 2, &window);
    int back = gc_op(c, NN_OP_UNFOLD_TIME, &conv, 1, &(nn_attr){ .shape = { 3 } });
    const nn_node *y = &c->graph.nodes[back];
    CHECK(y->fold == 1 && y->ndim == 5 && y->shape[1] == 3 && y->shape[4] == 2);
    CHECK(gc_check(c, back, "fold_time, conv2d, unfold_time") == 0);
    gc_free(c);
}

TEST(folded_values_do_not_mix_with_unfolded_ones) {
    gc *c = gc_new(35);
    int x = gc_input(c, 2, (int64_t[]){ 4, 3 }, GC_BATCH, false);
    int folded = gc_op(c, NN_OP_FOLD_TIME, &x, 1, NULL);
    int other = gc_input(c, 1, (int64_t[]){ 3 }, GC_BATCH, false);
    CHECK(nn_graph_op(&c->graph, NN_OP_ADD, (int[]){ folded, other }, 2, NULL, "mixer") < 0);
    CHECK_CONTAINS(nn_last_error(), "layer 'mixer': add: values with and without the time axis folded into the batch cannot be combined");
    CHECK(nn_graph_op(&c->graph, NN_OP_UNFOLD_TIME, &folded, 1, &(nn_attr){ .shape = { 3 } }, "mixer") < 0);
    CHECK_CONTAINS(nn_last_error(), "unfold_time: the input's batch axis does not hold the folded steps");
    gc_free(c);
}

/* ---------------------------------------------------------------- against Keras */

typedef struct keras_case {
    char layers[4][160];
    int nlayers;
    char names[1024];
    ref_array in, weights[8], outputs[8];
    int nweights, noutputs;
} keras_case;

static bool load_case(const char *name, keras_case *k) {
    char path[256];
    snprintf(path, sizeof path, "tests/data/recurrent/%s.txt", name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return false;
    *k = (keras_case){ 0 };
    while (k->nlayers < 4 && fscanf(f, " layer %159[^\n]", k->layers[k->nlayers]) == 1) k->nlayers++;
    NN_ASSERT(fscanf(f, " names %1023[^\n]", k->names) == 1);
    NN_ASSERT(read_array(f, "input", &k->in));
    while (k->nweights < 8 && read_array(f, "weight", &k->weights[k->nweights])) k->nweights++;
    while (k->noutputs < 8 && read_array(f, "output", &k->outputs[k->noutputs])) k->noutputs++;
    fclose(f);
    return true;
}

static void free_case(keras_case *k) {
    free(k->in.values);
    for (int i = 0; i < k->nweights; i++) free(k->weights[i].values);
    for (int i = 0; i < k->noutputs; i++) free(k->outputs[i].values);
}

static nn_model *case_model(const keras_case *k) {
    nn_layer *layers[5] = { 0 };
    for (int i = 0; i < k->nlayers; i++) {
        layers[i] = nn_layer_parse(k->layers[i]);
        if (!layers[i]) printf("  %s: %s\n", k->layers[i], nn_last_error());
        CHECK(layers[i] != NULL);
    }
    nn_model *m = nn_sequential(layers);
    CHECK(m != NULL);
    return m;
}

/* The model's weights are Keras's, by name and order; then Keras's values go in. */
static void set_case_weights(nn_model *m, const keras_case *k) {
    CHECK(nn_model_weight_count(m) == k->nweights);
    char names[1024] = "";
    for (int i = 0; i < nn_model_weight_count(m); i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? " " : "", nn_model_weight_name(m, i));
    if (strcmp(names, k->names) != 0) printf("  weights: nn %s\n           Keras %s\n", names, k->names);
    CHECK(strcmp(names, k->names) == 0);
    for (int i = 0; i < k->nweights && i < nn_model_weight_count(m); i++) {
        nn_tensor *w = nn_tensor_wrap(NN_FLOAT32, k->weights[i].ndim, k->weights[i].shape, k->weights[i].values);
        int status = nn_model_set_weight(m, nn_model_weight_name(m, i), w);
        if (status) printf("  %s\n", nn_last_error());
        CHECK(status == NN_OK);
        nn_tensor_free(w);
    }
}

/* One case: the model built from the same texts, given Keras's weights, must give Keras's
 * output within 1e-5 relative. */
static void check_keras_case(const char *name) {
    keras_case k;
    if (!load_case(name, &k)) return;
    nn_model *m = case_model(&k);
    int status = m ? nn_model_build(m, k.in.ndim - 1, k.in.shape + 1) : NN_ERR_ARG;
    if (status) printf("  %s: %s\n", name, nn_last_error());
    CHECK(status == NN_OK);
    if (!status) set_case_weights(m, &k);
    nn_tensor *x = nn_tensor_wrap(NN_FLOAT32, k.in.ndim, k.in.shape, k.in.values), *y = NULL;
    if (!status) status = nn_predict(m, x, NULL, &y);
    CHECK(status == NN_OK && y != NULL && k.noutputs == 1);
    if (y) check_matches_keras(name, nn_tensor_f32(y), y->ndim, y->shape, &k.outputs[0]);
    nn_tensor_free(x), nn_tensor_free(y);
    nn_model_free(m);
    free_case(&k);
}

TEST(simple_rnn_matches_keras) {
    const char *cases[] = { "simple_rnn", "simple_rnn_seq_backwards", "simple_rnn_masked" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(lstm_matches_keras) {
    const char *cases[] = { "lstm", "lstm_seq", "lstm_backwards", "lstm_no_bias_softsign", "lstm_masked",
                            "lstm_masked_last", "lstm_masked_backwards", "lstm_masked_zero_output" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(gru_matches_keras) {
    const char *cases[] = { "gru", "gru_seq_backwards", "gru_reset_before", "gru_no_bias", "gru_masked",
                            "gru_reset_before_masked" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(embedding_and_masked_pooling_match_keras) {
    const char *cases[] = { "embedding_lstm", "embedding_average", "embedding_plain" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(bidirectional_matches_keras) {
    const char *cases[] = { "bidirectional_lstm", "bidirectional_gru_sum", "bidirectional_rnn_mul",
                            "bidirectional_lstm_ave_masked", "bidirectional_gru_masked" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(time_distributed_matches_keras) {
    const char *cases[] = { "time_distributed_dense", "time_distributed_conv", "time_distributed_masked" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

/* return_state: a Sequential model refuses layers of several outputs, so the layers are built
 * here through nn_layer_build_call, as the functional API will. */
static void check_state_case(const char *name) {
    keras_case k;
    if (!load_case(name, &k)) return;
    nn_model *m = case_model(&k);
    if (!m) return free_case(&k);
    nn_graph g = { 0 };
    nn_builder b = { .model = m, .graph = &g, .create = true };
    int node = nn_graph_input(&g, k.in.ndim - 1, k.in.shape + 1, "input"), outputs[NN_MAX_LAYER_IO], count = 1;
    for (int i = 0; i < m->nlayers && count == 1; i++) {
        b.layer = i;
        count = nn_layer_build_call(m->layers[i], &b, &node, 1, outputs);
        if (count < 0) printf("  %s: %s\n", name, nn_last_error());
        node = outputs[0];
    }
    CHECK(count == k.noutputs);
    m->params = nn_calloc(m->nparams, sizeof(float));
    m->built = true;
    set_case_weights(m, &k);
    for (int i = 0; i < count; i++) g.nodes[outputs[i]].keep = true;
    int64_t batch = k.in.shape[0];
    float *arena = nn_calloc(nn_plan_graph(&g, batch, false), sizeof(float));
    nn_exec e = { .graph = &g, .arena = arena, .params = m->params, .batch = batch };
    memcpy(nn_node_value(&e, 0), k.in.values, (size_t)ref_size(&k.in) * sizeof(float));
    nn_graph_forward(&e);
    for (int i = 0; i < count && i < k.noutputs; i++) {
        nn_node *out = &g.nodes[outputs[i]];
        int64_t shape[NN_MAX_DIMS];
        memcpy(shape, out->shape, sizeof shape);
        shape[0] = batch;
        check_matches_keras(name, nn_node_value(&e, outputs[i]), out->ndim, shape, &k.outputs[i]);
    }
    nn_free(arena);
    nn_graph_free(&g);
    nn_model_free(m);
    free_case(&k);
}

TEST(returned_states_match_keras) {
    const char *cases[] = { "state_lstm", "state_gru_masked", "state_rnn_backwards", "state_bidirectional" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_state_case(cases[i]);
}

/* ---------------------------------------------------------------- masks on nodes */

TEST(masks_are_made_carried_and_dropped_as_keras) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse("Embedding(9, 4, mask_zero=True)"),
                                                nn_layer_parse("TimeDistributed(Dense(3))"),
                                                nn_layer_parse("LSTM(2, return_sequences=True, return_state=True)"), NULL });
    nn_graph g = { 0 };
    nn_builder b = { .model = m, .graph = &g, .create = true };
    int node = nn_graph_input(&g, 1, (int64_t[]){ 7 }, "input"), outputs[NN_MAX_LAYER_IO];
    int embedded = -1, count = 1;
    for (int i = 0; i < 3 && count >= 1; i++) {
        b.layer = i;
        count = nn_layer_build_call(m->layers[i], &b, &node, 1, outputs);
        node = outputs[0];
        if (i == 0) embedded = node;
    }
    CHECK(count == 3);
    int mask = g.nodes[embedded].mask;
    CHECK(mask >= 0 && g.nodes[mask].ndim == 2 && g.nodes[mask].shape[1] == 7 && !g.nodes[mask].needs_grad);
    CHECK(g.nodes[outputs[0]].mask == mask);               /* the sequence keeps it */
    CHECK(g.nodes[outputs[1]].mask < 0 && g.nodes[outputs[2]].mask < 0); /* states have none */
    nn_graph_free(&g);
    nn_model_free(m);
}

/* GlobalAveragePooling1D averages the kept steps with keepdims too; GlobalMaxPooling1D ignores
 * the mask, as Keras 3's. */
TEST(global_pooling_over_masked_steps) {
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 2, 4 }), *outs[3] = { 0 };
    const float ids[] = { 3, 1, 0, 0, 0, 2, 2, 0 };
    memcpy(nn_tensor_f32(x), ids, sizeof ids);
    const char *pools[] = { "GlobalAveragePooling1D()", "GlobalAveragePooling1D(keepdims=True)", "GlobalMaxPooling1D()" };
    for (int k = 0; k < 3; k++) {
        nn_set_seed(9);
        nn_model *m = nn_sequential((nn_layer *[]){ nn_embedding(4, 3, .mask_zero = true, .input_shape = { 4 }), nn_layer_parse(pools[k]), NULL });
        CHECK(m && nn_predict(m, x, NULL, &outs[k]) == NN_OK);
        if (k == 0) {
            nn_tensor *table = NULL;
            CHECK(nn_model_get_weight(m, "embedding/embeddings", &table) == NN_OK);
            const float *w = table ? nn_tensor_f32(table) : NULL, *y = outs[0] ? nn_tensor_f32(outs[0]) : NULL;
            for (int j = 0; w && y && j < 3; j++) {
                CHECK_NEAR(y[j], (w[3 * 3 + j] + w[1 * 3 + j]) / 2, 1e-7);
                CHECK_NEAR(y[3 + j], w[2 * 3 + j], 1e-7);
            }
            nn_tensor_free(table);
        }
        nn_model_free(m);
    }
    CHECK(outs[1] && outs[1]->ndim == 3 && outs[1]->shape[1] == 1 && outs[1]->shape[2] == 3);
    CHECK(outs[0] && outs[1] && memcmp(nn_tensor_f32(outs[0]), nn_tensor_f32(outs[1]), 6 * sizeof(float)) == 0);
    /* the max runs over every step: row 0 of the table takes part */
    CHECK(outs[2] && outs[2]->ndim == 2 && outs[0] && memcmp(nn_tensor_f32(outs[0]), nn_tensor_f32(outs[2]), 6 * sizeof(float)) != 0);
    for (int k = 0; k < 3; k++) nn_tensor_free(outs[k]);
    nn_tensor_free(x);
}

/* ---------------------------------------------------------------- training */

/* Remember the sign of the first step through 7 more: the LSTM's carry must learn to hold it. */
TEST(lstm_learns_a_sequence_task_through_fit) {
    enum { N = 96, T = 8 };
    nn_set_seed(3);
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ N, T, 1 }), *y = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ N, 1 });
    nn_rng rng;
    nn_rng_seed(&rng, 5);
    for (int i = 0; i < N; i++) {
        for (int t = 0; t < T; t++) nn_tensor_f32(x)[i * T + t] = nn_rng_uniform(&rng) < 0.5 ? -1.0f : 1.0f;
        nn_tensor_f32(y)[i] = nn_tensor_f32(x)[i * T] > 0;
    }
    nn_dataset *data = nn_dataset_new(x, y);
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse("LSTM(8, input_shape=(8, 1))"),
                                                nn_dense(1, .activation = "sigmoid"), NULL });
    CHECK(m && data);
    CHECK(nn_compile(m, &(nn_compile_opts){ .optimizer = "Adam(learning_rate=0.02)", .loss = "binary_crossentropy",
                                             .metrics = (const char *[]){ "accuracy", NULL } }) == NN_OK);
    nn_history *history = NULL;
    CHECK(nn_fit(m, data, &(nn_fit_opts){ .epochs = 40, .batch_size = 16, .verbose = NN_OFF }, &history) == NN_OK);
    nn_metrics result;
    CHECK(nn_evaluate(m, data, &(nn_eval_opts){ .verbose = NN_OFF }, &result) == NN_OK);
    double accuracy = nn_metrics_get(&result, "accuracy");
    if (accuracy < 0.95) printf("  accuracy %.3f, loss %.4f\n", accuracy, result.loss);
    CHECK(accuracy >= 0.95);
    CHECK(nn_history_get(history, "loss", 39) < nn_history_get(history, "loss", 0) / 4);
    nn_history_free(history);
    nn_model_free(m);
    nn_dataset_free(data);
}

/* Text-like data: ids padded with zeros, an Embedding with mask_zero, a Bidirectional GRU and a
 * masked average all train together; the padding cannot change a prediction. */
TEST(masked_text_model_trains_and_ignores_padding) {
    enum { N = 8, T = 6 };
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse("Embedding(6, 4, mask_zero=True, input_shape=(6,))"),
                                                nn_layer_parse("Bidirectional(GRU(3, return_sequences=True))"),
                                                nn_layer_parse("GlobalAveragePooling1D()"), nn_dense(1, .activation = "sigmoid"), NULL });
    CHECK(m && nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = "binary_crossentropy" }) == NN_OK);
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ N, T }), *y = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ N, 1 });
    for (int i = 0; i < N; i++) {
        for (int t = 0; t < T; t++) nn_tensor_f32(x)[i * T + t] = t < 2 + i % 4 ? (float)(1 + (i + t) % 5) : 0.0f;
        nn_tensor_f32(y)[i] = (float)(i % 2);
    }
    double first = 0, loss = 0;
    for (int step = 0; step < 20 && m; step++) {
        CHECK(nn_train_on_batch(m, x, y, &loss) == NN_OK);
        if (step == 0) first = loss;
    }
    CHECK(isfinite(loss) && loss < first);
    /* more padding (trailing zeros) gives the same predictions */
    nn_tensor *a = NULL, *b = NULL;
    CHECK(nn_predict(m, x, NULL, &a) == NN_OK);
    nn_tensor_f32(x)[0 * T + 5] = 0.0f; /* sample 0 was already padded there */
    CHECK(nn_predict(m, x, NULL, &b) == NN_OK);
    CHECK(a && b && memcmp(nn_tensor_f32(a), nn_tensor_f32(b), N * sizeof(float)) == 0);
    nn_tensor_free(a), nn_tensor_free(b), nn_tensor_free(x), nn_tensor_free(y);
    nn_model_free(m);
}

/* Dropout on the inputs (one mask per sample for all steps, as Keras) trains; inference
 * ignores it. */
TEST(input_dropout_trains_and_is_off_in_predict) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse("GRU(4, dropout=0.5, input_shape=(5, 3))"), NULL });
    CHECK(m && nn_compile(m, &(nn_compile_opts){ .optimizer = "sgd", .loss = "mse" }) == NN_OK);
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ 4, 5, 3 }), *y = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 4, 4 });
    for (int i = 0; i < 60; i++) nn_tensor_f32(x)[i] = (float)((i * 7 % 11) - 5) / 5.0f;
    for (int i = 0; i < 16; i++) nn_tensor_f32(y)[i] = 0.1f * (float)(i % 3);
    double loss;
    CHECK(nn_train_on_batch(m, x, y, &loss) == NN_OK && isfinite(loss));
    nn_tensor *a = NULL, *b = NULL;
    CHECK(nn_predict(m, x, NULL, &a) == NN_OK && nn_predict(m, x, NULL, &b) == NN_OK);
    CHECK(a && b && memcmp(nn_tensor_f32(a), nn_tensor_f32(b), 16 * sizeof(float)) == 0);
    nn_tensor_free(a), nn_tensor_free(b), nn_tensor_free(x), nn_tensor_free(y);
    nn_model_free(m);
}

/* ---------------------------------------------------------------- configs and weights */

static const nn_value *config_of(const nn_layer *l, const char *key) { return nn_value_get(&l->config, key); }

TEST(configs_are_saved_as_keras_saves_them) {
    nn_layer *lstm = nn_layer_parse("LSTM(4)");
    CHECK(strcmp(config_of(lstm, "activation")->string, "tanh") == 0);
    CHECK(strcmp(config_of(lstm, "recurrent_activation")->string, "sigmoid") == 0);
    CHECK(strcmp(config_of(lstm, "recurrent_initializer")->string, "orthogonal") == 0);
    CHECK(config_of(lstm, "unit_forget_bias")->boolean && !config_of(lstm, "return_sequences")->boolean);
    CHECK(config_of(lstm, "zero_output_for_mask") && config_of(lstm, "kernel_constraint")->type == NN_VALUE_NULL);
    nn_layer_free(lstm);
    nn_layer *gru = nn_layer_parse("GRU(2, activation=None)");
    CHECK(config_of(gru, "reset_after")->boolean && strcmp(config_of(gru, "activation")->string, "linear") == 0);
    nn_layer_free(gru);
    nn_layer *bi = nn_layer_parse("Bidirectional(LSTM(3, return_sequences=True), 'sum')");
    CHECK(bi && strcmp(config_of(bi, "merge_mode")->string, "sum") == 0);
    const nn_value *fwd = nn_value_get(config_of(bi, "layer"), "config"), *bwd = nn_value_get(config_of(bi, "backward_layer"), "config");
    CHECK(strcmp(nn_value_get(config_of(bi, "layer"), "class_name")->string, "LSTM") == 0);
    CHECK(strcmp(nn_value_get(fwd, "name")->string, "forward_lstm") == 0 && nn_value_get(fwd, "units")->number == 3);
    CHECK(strcmp(nn_value_get(bwd, "name")->string, "backward_lstm") == 0 && nn_value_get(bwd, "go_backwards")->boolean);
    CHECK(nn_value_get(fwd, "zero_output_for_mask")->boolean && !nn_value_get(fwd, "go_backwards")->boolean);
    /* the saved config makes the same layer again */
    nn_value copy;
    CHECK(nn_value_copy(&copy, &bi->config) == NN_OK);
    nn_layer *again = nn_layer_from_config(&nn_layer_bidirectional, copy);
    CHECK(again && !again->error && strcmp(again->inner[0]->name, "forward_lstm") == 0 &&
          strcmp(again->inner[1]->name, "backward_lstm") == 0);
    nn_layer_free(again);
    nn_layer_free(bi);
    nn_layer *td = nn_layer_parse("TimeDistributed(Dense(3, activation='relu'))");
    const nn_value *inner = nn_value_get(config_of(td, "layer"), "config");
    CHECK(td && strcmp(nn_value_get(inner, "activation")->string, "relu") == 0 && nn_value_get(inner, "use_bias")->boolean);
    nn_layer_free(td);
    nn_layer *emb = nn_layer_parse("Embedding(100, 8)");
    CHECK(emb && strcmp(config_of(emb, "embeddings_initializer")->string, "uniform") == 0 && !config_of(emb, "mask_zero")->boolean);
    nn_layer_free(emb);
}

/* LSTM's forget-gate bias starts at 1 (unit_forget_bias), the rest from bias_initializer; a
 * wrapper counts its wrapped layers' parameters. */
TEST(initial_weights_and_parameter_counts) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse("Bidirectional(LSTM(3), input_shape=(4, 2))"), NULL });
    CHECK(m && nn_model_build(m, 2, (int64_t[]){ 4, 2 }) == NN_OK);
    nn_tensor *bias = NULL;
    CHECK(nn_model_get_weight(m, "bidirectional/backward_lstm/lstm_cell/bias", &bias) == NN_OK);
    for (int i = 0; bias && i < 12; i++) CHECK(nn_tensor_f32(bias)[i] == (i >= 3 && i < 6 ? 1.0f : 0.0f));
    nn_tensor_free(bias);
    CHECK(m->layers[0]->param_count == 2 * (2 * 12 + 3 * 12 + 12));
    CHECK(nn_model_param_count(m, false) == 2 * (2 * 12 + 3 * 12 + 12));
    nn_model_free(m);
    m = nn_sequential((nn_layer *[]){ nn_layer_parse("LSTM(2, unit_forget_bias=False, bias_initializer='ones', input_shape=(3, 1))"), NULL });
    CHECK(m && nn_model_build(m, 2, (int64_t[]){ 3, 1 }) == NN_OK);
    CHECK(nn_model_get_weight(m, "lstm/lstm_cell/bias", &bias) == NN_OK);
    for (int i = 0; bias && i < 8; i++) CHECK(nn_tensor_f32(bias)[i] == 1.0f);
    nn_tensor_free(bias);
    nn_model_free(m);
}

/* A saved model with wrappers loads back with the same weights and predictions. */
TEST(wrapped_layers_save_and_load) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse("Masking(input_shape=(5, 3))"),
                                                nn_layer_parse("TimeDistributed(Dense(4))"),
                                                nn_layer_parse("Bidirectional(GRU(2, return_sequences=True), merge_mode='ave')"),
                                                nn_layer_parse("LSTM(2)"), NULL });
    CHECK(m && nn_model_build(m, 2, (int64_t[]){ 5, 3 }) == NN_OK);
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ 2, 5, 3 });
    for (int i = 0; i < 30; i++) nn_tensor_f32(x)[i] = i >= 12 && i < 15 ? 0.0f : (float)((i * 5 % 7) - 3) / 3.0f;
    nn_model *loaded = check_reloads_the_same(m, x);
    CHECK(loaded && strcmp(nn_model_weight_name(loaded, 2), "bidirectional/forward_gru/gru_cell/kernel") == 0);
    nn_tensor_free(x);
    nn_model_free(m), nn_model_free(loaded);
}

/* Equal values, dicts in any key order. */
static bool same_value(const nn_value *a, const nn_value *b) {
    if (a->type != b->type || a->count != b->count) return false;
    switch (a->type) {
    case NN_VALUE_BOOL: return a->boolean == b->boolean;
    case NN_VALUE_NUMBER: return a->number == b->number;
    case NN_VALUE_STRING: return strcmp(a->string, b->string) == 0;
    case NN_VALUE_LIST:
        for (int i = 0; i < a->count; i++)
            if (!same_value(&a->items[i], &b->items[i])) return false;
        return true;
    case NN_VALUE_DICT:
        for (int i = 0; i < a->count; i++) {
            const nn_value *other = nn_value_get(b, a->keys[i]);
            if (!other || !same_value(&a->items[i], other)) return false;
        }
        return true;
    default: return true;
    }
}

/* The typed C constructors make the same layers as their Keras text. */
TEST(typed_constructors_equal_keras_text) {
    const char *texts[] = { "Embedding(50, 4, mask_zero=True, input_shape=(6,))",
                            "Bidirectional(LSTM(3, return_sequences=True, unit_forget_bias=False), merge_mode='sum')",
                            "TimeDistributed(Dense(5, activation='relu'))", "GRU(2, reset_after=False, go_backwards=True, dropout=0.25)",
                            "SimpleRNN(3, activation='softsign', use_bias=False)" };
    nn_layer *typed[] = { nn_embedding(50, 4, .mask_zero = true, .input_shape = { 6 }),
                          nn_bidirectional(nn_lstm(3, .return_sequences = true, .unit_forget_bias = NN_OFF), .merge_mode = "sum"),
                          nn_time_distributed(nn_dense(5, .activation = "relu")),
                          nn_gru(2, .reset_after = NN_OFF, .go_backwards = true, .dropout = 0.25),
                          nn_simple_rnn(3, .activation = "softsign", .use_bias = NN_OFF) };
    for (size_t i = 0; i < NN_ARRAY_LEN(texts); i++) {
        nn_layer *parsed = nn_layer_parse(texts[i]);
        char *a = NULL, *b = NULL;
        CHECK(parsed && typed[i] && !typed[i]->error);
        bool same = parsed && typed[i] && same_value(&parsed->config, &typed[i]->config);
        if (!same && nn_value_to_json(&parsed->config, &a) == NN_OK && nn_value_to_json(&typed[i]->config, &b) == NN_OK)
            printf("  %s\n  text:  %s\n  typed: %s\n", texts[i], a, b);
        CHECK(same);
        nn_free(a), nn_free(b);
        nn_layer_free(parsed), nn_layer_free(typed[i]);
    }
    nn_layer *bad = nn_bidirectional(nn_lstm(0));
    CHECK(bad && bad->error);
    CHECK_CONTAINS(bad->error, "layer 'lstm' (LSTM): 'units' must be an integer >= 1");
    nn_layer_free(bad);
    bad = nn_time_distributed(NULL);
    CHECK(bad && bad->error);
    CHECK_CONTAINS(bad->error, "wrapper: the wrapped layer is NULL");
    nn_layer_free(bad);
}

/* ---------------------------------------------------------------- errors */

TEST(option_errors_name_the_layer_and_option) {
    check_parse_error("LSTM(0)", "layer 'lstm' (LSTM): 'units' must be an integer >= 1");
    check_parse_error("LSTM(4, recurrent_dropout=0.2)", "layer 'lstm' (LSTM): 'recurrent_dropout' must be 0 (dropout on the recurrent state is not implemented");
    check_parse_error("GRU(4, dropout=1.5)", "layer 'gru' (GRU): 'dropout' must be in [0, 1)");
    check_parse_error("SimpleRNN(4, stateful=True)", "layer 'simple_rnn' (SimpleRNN): 'stateful' must be False (stateful recurrent layers are not supported)");
    check_parse_error("LSTM(4, kernel_constraint='non_neg')", "'kernel_constraint' must be None (constraints are not supported)");
    check_parse_error("LSTM(4, recurrent_activation='nope')", "layer 'lstm' (LSTM): unknown activation 'nope'");
    check_parse_error("SimpleRNN(4, reset_after=False)", "layer SimpleRNN: unknown argument 'reset_after'");
    check_parse_error("Embedding(10)", "layer 'embedding' (Embedding): 'output_dim' must be an integer >= 1");
    check_parse_error("Embedding(0, 4)", "'input_dim' must be an integer >= 1");
    check_parse_error("Masking('x')", "layer 'masking' (Masking): 'mask_value' must be a finite number");
    check_parse_error("Bidirectional(LSTM(4), merge_mode='max')", "layer 'bidirectional' (Bidirectional): 'merge_mode' must be one of concat, sum, mul, ave or None");
    check_parse_error("Bidirectional(Dense(4))", "layer 'bidirectional' (Bidirectional): 'layer' must be a SimpleRNN, LSTM or GRU layer, got Dense");
    check_parse_error("Bidirectional(4)", "layer 'bidirectional' (Bidirectional): 'layer' must be a layer, as LSTM(8)");
    check_parse_error("Bidirectional(LSTM(4, go_backwards=True))", "the forward and backward layers must have different go_backwards");
    check_parse_error("Bidirectional(LSTM(4), backward_layer=GRU(4, go_backwards=True, return_sequences=True))",
                      "the forward and backward layers must have the same return_sequences");
    check_parse_error("Bidirectional(LSTM(4, units=3))", "layer 'bidirectional' (Bidirectional): in 'LSTM': 'units' given twice");
    check_parse_error("Bidirectional(LSTM(-1))", "layer 'bidirectional' (Bidirectional): layer 'lstm' (LSTM): 'units' must be an integer >= 1");
    check_parse_error("TimeDistributed(Nope(3))", "layer 'time_distributed' (TimeDistributed): unknown layer 'Nope'");
    check_parse_error("TimeDistributed()", "layer 'time_distributed' (TimeDistributed): 'layer' must be a layer");
}

TEST(shape_errors_name_the_layer_and_shapes) {
    check_build_error("LSTM(3)", 1, (int64_t[]){ 7 },
                      "layer 'lstm' (LSTM): expected an input of shape (batch, timesteps, features), got (None, 7)");
    check_build_error("GRU(3)", 3, (int64_t[]){ 2, 3, 4 },
                      "layer 'gru' (GRU): expected an input of shape (batch, timesteps, features), got (None, 2, 3, 4)");
    check_build_error("Bidirectional(SimpleRNN(2))", 1, (int64_t[]){ 5 },
                      "layer 'forward_simple_rnn' (SimpleRNN): expected an input of shape (batch, timesteps, features), got (None, 5)");
    check_build_error("TimeDistributed(Dense(2))", 1, (int64_t[]){ 5 },
                      "layer 'time_distributed' (TimeDistributed): expected an input of shape (batch, timesteps, ...) of rank >= 3, got (None, 5)");
    check_build_error("TimeDistributed(Conv2D(2, 3))", 3, (int64_t[]){ 4, 5, 5 },
                      "layer 'conv2d' (Conv2D): expected an input of shape (batch, height, width, channels), got (None, 5, 5)");
    check_build_fails("TimeDistributed(LSTM(2, return_state=True))", 3, (int64_t[]){ 4, 5, 1 }, NN_ERR_ARG,
                      "layer 'time_distributed' (TimeDistributed): the wrapped layer 'lstm' (LSTM) returns 3 tensors; it must return one");
    check_build_fails("LSTM(3, return_state=True)", 2, (int64_t[]){ 4, 2 }, NN_ERR_ARG,
                      "layer 'lstm' (LSTM) returns 3 tensors; a Sequential model needs layers of one output (use the functional API)");
    check_build_fails("Bidirectional(GRU(3, return_state=True))", 2, (int64_t[]){ 4, 2 }, NN_ERR_ARG,
                      "layer 'bidirectional' (Bidirectional) returns 3 tensors");
    check_build_fails("Bidirectional(GRU(3), merge_mode=None)", 2, (int64_t[]){ 4, 2 }, NN_ERR_ARG,
                      "layer 'bidirectional' (Bidirectional) returns 2 tensors");
}

/* ---------------------------------------------------------------- allocation failure */

/* Failing each allocation in turn while parsing, building and compiling wrapped recurrent
 * layers: a clean error every time (and, under ASan, no leak), until nothing fails. */
TEST(allocation_failure_sweep_while_building) {
    const char *texts[] = { "Embedding(7, 3, mask_zero=True, input_shape=(4,))", "Bidirectional(LSTM(2, return_sequences=True))",
                            "TimeDistributed(Dense(2))", "GRU(2)" };
    check_allocation_failure_sweep(texts, NN_ARRAY_LEN(texts), NULL);
}

int main(void) {
    RUN_TESTS(simple_rnn_gradient, lstm_gradient, gru_gradient, embedding_gradient_and_invalid_ids, mask_ops_gradient,
              time_ops_gradient, fold_time_gradient_through_a_convolution, folded_values_do_not_mix_with_unfolded_ones,
              simple_rnn_matches_keras, lstm_matches_keras, gru_matches_keras, embedding_and_masked_pooling_match_keras,
              bidirectional_matches_keras, time_distributed_matches_keras, returned_states_match_keras,
              masks_are_made_carried_and_dropped_as_keras, global_pooling_over_masked_steps, lstm_learns_a_sequence_task_through_fit,
              masked_text_model_trains_and_ignores_padding, input_dropout_trains_and_is_off_in_predict,
              configs_are_saved_as_keras_saves_them, initial_weights_and_parameter_counts, wrapped_layers_save_and_load,
              typed_constructors_equal_keras_text,
              option_errors_name_the_layer_and_option, shape_errors_name_the_layer_and_shapes,
              allocation_failure_sweep_while_building);
}
