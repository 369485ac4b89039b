/* Attention: gradient checks of the attention op (masks, causal, sliding window, dropout,
 * Tq != Tk, one tensor as query, key and value), the attention_mask op, the same bits on any
 * thread count, MultiHeadAttention against real Keras from the same weights (self- and
 * cross-attention, masks, causal; tests/data/attention, made by tests/gen/make_attention_ref.py),
 * configs and weights, a small Transformer-encoder-style model trained by nn_fit, and option and
 * shape errors. Gradient checks use tests/gradcheck.h. */
#include "../src/core/graph.h"
#include "../src/model/model.h"
#include "../src/ops/attention.h"
#include "gradcheck.h"
#include "keras_ref.h"
#include "layer_checks.h"
#include "test.h"

#include <stdlib.h>

/* ---------------------------------------------------------------- attention op gradients */

typedef struct attn_case {
    int64_t heads, tq, tk, k, kv, window;
    bool mask, causal, empty_zero, shared; /* shared: one tensor as query, key and value */
    double dropout;
} attn_case;

/* A (None, tq, tk) mask input of 0s and 1s; sample 0's step 1 keeps no key. */
static int mask_input(gc *c, int64_t tq, int64_t tk) {
    int node = gc_input(c, 2, (int64_t[]){ tq, tk }, GC_BATCH, false);
    float *m = c->input_values[c->ninputs - 1];
    for (int64_t b = 0; b < GC_BATCH; b++)
        for (int64_t t = 0; t < tq; t++)
            for (int64_t s = 0; s < tk; s++)
                m[(b * tq + t) * tk + s] = (b == 0 && t == 1) || (b * 7 + t * 3 + s) % 4 == 0 ? 0.0f : 1.0f;
    return node;
}

static void check_attention(uint64_t seed, attn_case a, const char *label) {
    gc *c = gc_new(seed);
    int inputs[4];
    inputs[0] = gc_spatial(c, 2, (int64_t[]){ a.tq, a.heads * a.k }, false);
    inputs[1] = a.shared ? inputs[0] : gc_spatial(c, 2, (int64_t[]){ a.tk, a.heads * a.k }, false);
    inputs[2] = a.shared ? inputs[0] : gc_spatial(c, 2, (int64_t[]){ a.tk, a.heads * a.kv }, false);
    if (a.mask) inputs[3] = mask_input(c, a.tq, a.tk);
    nn_attr attr = { .shape = { [NN_ATTN_HEADS] = a.heads, [NN_ATTN_CAUSAL] = a.causal, [NN_ATTN_WINDOW] = a.window,
                                [NN_ATTN_EMPTY_ZERO] = a.empty_zero },
                     .f = { 1.0 / sqrt((double)a.k), a.dropout } };
    int y = gc_op(c, NN_OP_ATTENTION, inputs, a.mask ? 4 : 3, &attr);
    const nn_node *out = &c->graph.nodes[y];
    CHECK(out->ndim == 3 && out->shape[1] == a.tq && out->shape[2] == a.heads * a.kv);
    CHECK(gc_check(c, y, label) == 0);
    gc_free(c);
}

TEST(attention_gradient_plain) {
    check_attention(1, (attn_case){ .heads = 2, .tq = 4, .tk = 4, .k = 3, .kv = 2 }, "attention");
}

TEST(attention_gradient_masked_with_more_keys_than_queries) {
    check_attention(2, (attn_case){ .heads = 2, .tq = 3, .tk = 5, .k = 2, .kv = 3, .mask = true }, "attention masked, Tq < Tk");
}

TEST(attention_gradient_causal) {
    check_attention(3, (attn_case){ .heads = 1, .tq = 5, .tk = 5, .k = 3, .kv = 3, .causal = true }, "attention causal");
    check_attention(4, (attn_case){ .heads = 2, .tq = 5, .tk = 3, .k = 2, .kv = 2, .causal = true, .mask = true },
                    "attention causal masked, Tq > Tk");
}

TEST(attention_gradient_window_and_empty_rows) {
    check_attention(5, (attn_case){ .heads = 3, .tq = 4, .tk = 4, .k = 2, .kv = 1, .window = 2, .mask = true, .empty_zero = true },
                    "attention window, empty rows zero");
}

TEST(attention_gradient_with_dropout) {
    check_attention(6, (attn_case){ .heads = 2, .tq = 3, .tk = 4, .k = 2, .kv = 2, .dropout = 0.3 }, "attention dropout");
}

/* Query, key and value gradients all accumulate into one tensor's. */
TEST(attention_gradient_one_tensor_as_query_key_and_value) {
    check_attention(7, (attn_case){ .heads = 2, .tq = 4, .tk = 4, .k = 3, .kv = 3, .shared = true, .causal = true },
                    "self-attention on one tensor");
}

/* ---------------------------------------------------------------- attention_mask op */

TEST(attention_mask_ands_query_and_key_masks) {
    nn_graph g = { 0 };
    int qm = nn_graph_input(&g, 1, (int64_t[]){ 3 }, "test"), vm = nn_graph_input(&g, 1, (int64_t[]){ 4 }, "test");
    int km = nn_graph_input(&g, 1, (int64_t[]){ 4 }, "test");
    nn_attr both = { .shape = { [NN_ATTN_MASK_QUERY_STEPS] = 3, [NN_ATTN_MASK_KEY_STEPS] = 4, [NN_ATTN_MASK_HAS_QUERY] = 1 } };
    nn_attr keys = { .shape = { [NN_ATTN_MASK_QUERY_STEPS] = 3, [NN_ATTN_MASK_KEY_STEPS] = 4 } };
    int all = nn_graph_op(&g, NN_OP_ATTENTION_MASK, (int[]){ qm, vm, km }, 3, &both, "test");
    int query_only = nn_graph_op(&g, NN_OP_ATTENTION_MASK, (int[]){ qm }, 1, &both, "test");
    int key_only = nn_graph_op(&g, NN_OP_ATTENTION_MASK, (int[]){ vm }, 1, &keys, "test");
    CHECK(all >= 0 && query_only >= 0 && key_only >= 0);
    CHECK(g.nodes[all].ndim == 3 && g.nodes[all].shape[1] == 3 && g.nodes[all].shape[2] == 4);
    g.nodes[all].keep = g.nodes[query_only].keep = true;
    float *arena = nn_calloc(nn_plan_graph(&g, 2, false), sizeof(float));
    nn_exec e = { .graph = &g, .arena = arena, .batch = 2 };
    const float q[] = { 1, 0, 1, 1, 1, 1 }, v[] = { 1, 1, 0, 1, 0, 1, 1, 1 }, k[] = { 1, 0, 1, 1, 1, 1, 1, 0 };
    memcpy(nn_node_value(&e, qm), q, sizeof q), memcpy(nn_node_value(&e, vm), v, sizeof v);
    memcpy(nn_node_value(&e, km), k, sizeof k);
    nn_graph_forward(&e);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 3; t++)
            for (int s = 0; s < 4; s++) {
                int i = (b * 3 + t) * 4 + s;
                CHECK(nn_node_value(&e, all)[i] == (float)(q[b * 3 + t] && v[b * 4 + s] && k[b * 4 + s]));
                CHECK(nn_node_value(&e, query_only)[i] == q[b * 3 + t]);
                CHECK(nn_node_value(&e, key_only)[i] == v[b * 4 + s]);
            }
    nn_free(arena);
    nn_graph_free(&g);
}

/* ---------------------------------------------------------------- threads */

/* Large enough for the samples to be split over threads, dropout on: one thread and two give
 * the same bits (values and gradients). */
TEST(attention_gives_the_same_bits_on_two_threads) {
    enum { BATCH = 16, T = 32, D = 64 };
    gc *c = gc_new(30);
    int x = gc_input(c, 2, (int64_t[]){ T, D }, BATCH, false), qkv[3];
    for (int i = 0; i < 3; i++) qkv[i] = gc_op(c, NN_OP_MATMUL, (int[]){ x, gc_param(c, 2, (int64_t[]){ D, D }, true) }, 2, NULL);
    nn_attr attr = { .shape = { [NN_ATTN_HEADS] = 4, [NN_ATTN_CAUSAL] = 1 }, .f = { 0.25, 0.1 } };
    int y = gc_op(c, NN_OP_ATTENTION, qkv, 3, &attr);
    int total = gc_op(c, NN_OP_REDUCE_SUM, (int[]){ gc_op(c, NN_OP_MUL, (int[]){ y, x }, 2, NULL) }, 1, NULL);
    CHECK(gc_same_bits_on_two_threads(c, total, BATCH));
    gc_free(c);
}

/* ---------------------------------------------------------------- against Keras */

typedef struct keras_case {
    char text[256];
    ref_array io[3], masks[3], weights[10], expected;
    bool has_io[3], has_mask[3];
    int nweights;
} keras_case;

static void read_case(const char *name, keras_case *k) {
    static const char *const io_tags[] = { "query", "value", "key" }, *const mask_tags[] = { "query_mask", "value_mask", "key_mask" };
    char path[256];
    snprintf(path, sizeof path, "tests/data/attention/%s.txt", name);
    FILE *f = fopen(path, "r");
    NN_ASSERT(f != NULL);
    memset(k, 0, sizeof *k);
    NN_ASSERT(fscanf(f, "layer %255[^\n]", k->text) == 1);
    for (int i = 0; i < 3; i++) k->has_io[i] = read_array(f, io_tags[i], &k->io[i]);
    for (int i = 0; i < 3; i++) k->has_mask[i] = read_array(f, mask_tags[i], &k->masks[i]);
    while (k->nweights < 10 && read_array(f, "weight", &k->weights[k->nweights])) k->nweights++;
    NN_ASSERT(read_array(f, "output", &k->expected));
    fclose(f);
}

static void free_case(keras_case *k) {
    for (int i = 0; i < 3; i++) free(k->io[i].values), free(k->masks[i].values);
    for (int i = 0; i < k->nweights; i++) free(k->weights[i].values);
    free(k->expected.values);
}

/* Copies the case's weights into the model's variables, which must have Keras's shapes. */
static bool set_weights(nn_model *m, const keras_case *k) {
    bool ok = m->nvars == k->nweights;
    for (int i = 0; ok && i < k->nweights; i++) {
        const nn_variable *v = &m->vars[i];
        ok = v->ndim == k->weights[i].ndim && memcmp(v->shape, k->weights[i].shape, (size_t)v->ndim * sizeof *v->shape) == 0;
        if (ok) memcpy(m->params + v->offset, k->weights[i].values, v->size * sizeof(float));
    }
    return ok;
}

/* The layer on the case's query, value and key inputs, with the case's masks on their nodes,
 * run forward once in inference: what a functional model will build. */
static void check_on_graph(const char *name, const keras_case *k) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse(k->text), NULL });
    CHECK(m != NULL);
    if (!m) return;
    nn_graph g = { 0 };
    nn_builder b = { .model = m, .graph = &g, .create = true };
    int nodes[3], masks[3] = { -1, -1, -1 }, count = 0, outputs[NN_MAX_LAYER_IO];
    for (int i = 0; i < 3 && k->has_io[i]; i++, count++) {
        nodes[i] = nn_graph_input(&g, k->io[i].ndim - 1, k->io[i].shape + 1, "test");
        if (k->has_mask[i]) g.nodes[nodes[i]].mask = masks[i] = nn_graph_input(&g, 1, k->masks[i].shape + 1, "test");
    }
    int made = nn_layer_build_call(m->layers[0], &b, nodes, count, outputs);
    if (made != 1) printf("  %s: %s\n", name, nn_last_error());
    CHECK(made == 1);
    m->params = nn_calloc(m->nparams, sizeof(float));
    CHECK(made == 1 && set_weights(m, k));
    if (made == 1) {
        const nn_node *out = &g.nodes[outputs[0]];
        CHECK(out->ndim == k->expected.ndim);
        for (int i = 1; i < out->ndim && i < k->expected.ndim; i++) CHECK(out->shape[i] == k->expected.shape[i]);
        CHECK(out->mask == g.nodes[nodes[0]].mask); /* the output keeps the query's mask */
        int64_t batch = k->io[0].shape[0];
        float *arena = nn_calloc(nn_plan_graph(&g, batch, false), sizeof(float));
        nn_exec e = { .graph = &g, .arena = arena, .params = m->params, .batch = batch };
        for (int i = 0; i < count; i++) {
            memcpy(nn_node_value(&e, nodes[i]), k->io[i].values, (size_t)ref_size(&k->io[i]) * sizeof(float));
            if (masks[i] >= 0) memcpy(nn_node_value(&e, masks[i]), k->masks[i].values, (size_t)ref_size(&k->masks[i]) * sizeof(float));
        }
        nn_graph_forward(&e);
        CHECK(keras_mismatches(name, nn_node_value(&e, outputs[0]), &k->expected, 2e-6) == 0);
        nn_free(arena);
    }
    nn_graph_free(&g);
    nn_model_free(m);
}

/* A self-attention case without masks through a Sequential model and nn_predict. */
static void check_through_predict(const char *name, const keras_case *k) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse(k->text), NULL });
    CHECK(m && nn_model_build(m, k->io[0].ndim - 1, k->io[0].shape + 1) == NN_OK);
    if (!m || !m->built) {
        nn_model_free(m);
        return;
    }
    CHECK(set_weights(m, k));
    nn_tensor *x = nn_tensor_wrap(NN_FLOAT32, k->io[0].ndim, k->io[0].shape, k->io[0].values), *y = NULL;
    CHECK(nn_predict(m, x, NULL, &y) == NN_OK && y && y->ndim == k->expected.ndim);
    if (y) CHECK(keras_mismatches(name, nn_tensor_f32(y), &k->expected, 2e-6) == 0);
    nn_tensor_free(x), nn_tensor_free(y);
    nn_model_free(m);
}

static void check_keras_case(const char *name) {
    keras_case k;
    read_case(name, &k);
    check_on_graph(name, &k);
    if (!k.has_io[1] && !k.has_mask[0]) check_through_predict(name, &k);
    free_case(&k);
}

TEST(self_attention_matches_keras) {
    const char *cases[] = { "self_two_heads", "self_causal", "self_window_gate" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

TEST(cross_attention_matches_keras) {
    const char *cases[] = { "cross_value_dim_output", "cross_key_no_bias", "cross_causal_longer_query", "rank4_output_shape" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

/* Query, value and key masks ANDed as Keras does, including rows that keep no key: equal
 * weights over every key in Keras's default path, none with dropout (self_causal_masked). */
TEST(masked_attention_matches_keras) {
    const char *cases[] = { "self_masked", "cross_masked_key", "self_causal_masked" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) check_keras_case(cases[i]);
}

/* ---------------------------------------------------------------- configs and weights */

static const nn_value *config_of(const nn_layer *l, const char *key) { return nn_value_get(&l->config, key); }

TEST(configs_hold_keras_defaults) {
    nn_layer *l = nn_layer_parse("MultiHeadAttention(2, 4, output_shape=5, attention_axes=1)");
    CHECK(l != NULL);
    if (!l) return;
    CHECK(config_of(l, "num_heads")->number == 2 && config_of(l, "key_dim")->number == 4);
    CHECK(config_of(l, "value_dim")->number == 4); /* Keras saves the key_dim */
    CHECK(config_of(l, "dropout")->number == 0 && config_of(l, "use_bias")->boolean && !config_of(l, "use_gate")->boolean);
    const nn_value *shape = config_of(l, "output_shape"), *axes = config_of(l, "attention_axes");
    CHECK(shape->type == NN_VALUE_LIST && shape->count == 1 && shape->items[0].number == 5);
    CHECK(axes->type == NN_VALUE_LIST && axes->count == 1 && axes->items[0].number == 1);
    CHECK(strcmp(config_of(l, "kernel_initializer")->string, "glorot_uniform") == 0);
    CHECK(strcmp(config_of(l, "bias_initializer")->string, "zeros") == 0);
    const char *nulls[] = { "sliding_window", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                            "kernel_constraint", "bias_constraint", "seed" };
    for (size_t i = 0; i < NN_ARRAY_LEN(nulls); i++) CHECK(config_of(l, nulls[i])->type == NN_VALUE_NULL);
    CHECK(config_of(l, "use_causal_mask")->type == NN_VALUE_BOOL && !config_of(l, "use_causal_mask")->boolean);
    CHECK(config_of(l, "flash_attention") == NULL); /* Keras does not save it either */
    nn_layer_free(l);
}

/* Keras's weight names, shapes and order, and EinsumDense's glorot fans: (16, 2, 8) has fan_in
 * 16 and fan_out 2 * 8, so the limit is sqrt(6 / 32), not the convolution rule's sqrt(6 / 160). */
TEST(weights_have_keras_names_shapes_and_fans) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse("MultiHeadAttention(2, 8, value_dim=3, use_gate=True)"), NULL });
    CHECK(m && nn_model_build(m, 2, (int64_t[]){ 5, 16 }) == NN_OK);
    if (!m || !m->built) {
        nn_model_free(m);
        return;
    }
    const struct { const char *name; int ndim; int64_t shape[3]; } want[] = {
        { "multi_head_attention/query/kernel", 3, { 16, 2, 8 } }, { "multi_head_attention/query/bias", 2, { 2, 8 } },
        { "multi_head_attention/key/kernel", 3, { 16, 2, 8 } },   { "multi_head_attention/key/bias", 2, { 2, 8 } },
        { "multi_head_attention/gate/kernel", 3, { 16, 2, 3 } },  { "multi_head_attention/gate/bias", 2, { 2, 3 } },
        { "multi_head_attention/value/kernel", 3, { 16, 2, 3 } }, { "multi_head_attention/value/bias", 2, { 2, 3 } },
        { "multi_head_attention/attention_output/kernel", 3, { 2, 3, 16 } },
        { "multi_head_attention/attention_output/bias", 1, { 16 } },
    };
    CHECK(nn_model_weight_count(m) == (int)NN_ARRAY_LEN(want));
    for (int i = 0; i < nn_model_weight_count(m) && i < (int)NN_ARRAY_LEN(want); i++) {
        const nn_variable *v = &m->vars[i];
        CHECK(strcmp(v->name, want[i].name) == 0 && v->ndim == want[i].ndim);
        for (int d = 0; d < v->ndim; d++) CHECK(v->shape[d] == want[i].shape[d]);
    }
    CHECK(nn_model_param_count(m, false) == 2 * (16 * 16 + 16) + 2 * (16 * 6 + 6) + 6 * 16 + 16);
    const nn_variable *query = &m->vars[0], *out = &m->vars[8];
    double limits[2] = { sqrt(6.0 / 32.0), sqrt(6.0 / (6.0 + 16.0)) }, largest[2] = { 0, 0 };
    for (size_t i = 0; i < query->size; i++) largest[0] = fmax(largest[0], fabs(m->params[query->offset + i]));
    for (size_t i = 0; i < out->size; i++) largest[1] = fmax(largest[1], fabs(m->params[out->offset + i]));
    for (int i = 0; i < 2; i++) CHECK(largest[i] <= limits[i] && largest[i] > 0.85 * limits[i]);
    CHECK(m->params[m->vars[1].offset] == 0.0f); /* biases start at zero */
    nn_model_free(m);
}

/* ---------------------------------------------------------------- training */

/* A Transformer-encoder-style block without the residual Add (which needs the functional API):
 * self-attention, LayerNormalization, Dense, pooled to a binary classifier. The label is whether
 * feature 0 at the first step exceeds feature 0 at the last: a comparison across steps. */
TEST(encoder_block_trains_with_fit_and_saves) {
    enum { N = 256, T = 6, D = 4 };
    nn_set_seed(3);
    nn_model *m = nn_sequential((nn_layer *[]){
        nn_layer_parse("MultiHeadAttention(2, 4, input_shape=(6, 4))"), nn_layer_parse("LayerNormalization()"),
        nn_layer_parse("Dense(16, activation='relu')"), nn_layer_parse("Flatten()"),
        nn_layer_parse("Dense(1, activation='sigmoid')"), NULL });
    CHECK(m && nn_compile(m, &(nn_compile_opts){ .optimizer = "Adam(learning_rate=0.01)", .loss = "binary_crossentropy",
                                                 .metrics = (const char *[]){ "accuracy", NULL } }) == NN_OK);
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ N, T, D }), *y = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ N, 1 });
    nn_rng rng;
    nn_rng_seed(&rng, 17);
    float *xv = nn_tensor_f32(x);
    for (int64_t i = 0; i < N * T * D; i++) xv[i] = (float)(2 * nn_rng_uniform(&rng) - 1);
    for (int64_t i = 0; i < N; i++) nn_tensor_f32(y)[i] = xv[i * T * D] > xv[(i * T + T - 1) * D] ? 1.0f : 0.0f;
    nn_dataset *data = nn_dataset_new(x, y);
    nn_history *h = NULL;
    CHECK(m && nn_fit(m, data, &(nn_fit_opts){ .epochs = 20, .batch_size = 32, .verbose = NN_OFF }, &h) == NN_OK);
    double first = nn_history_get(h, "loss", 0), last = nn_history_get(h, "loss", 19);
    double accuracy = nn_history_get(h, "accuracy", 19);
    printf("  encoder block: loss %.4f -> %.4f, accuracy %.3f\n", first, last, accuracy);
    CHECK(isfinite(last) && last < 0.6 * first && accuracy > 0.85);
    /* the saved config (use_causal_mask and output_shape included) rebuilds the same model */
    nn_model_free(check_reloads_the_same(m, nn_dataset_x(data)));
    nn_history_free(h);
    nn_dataset_free(data);
    nn_model_free(m);
}

/* A causal layer with dropout, a gate, regularizers and a two-axis output_shape trains and loads
 * back. */
TEST(causal_gated_layer_trains_and_loads_back) {
    nn_set_seed(5);
    nn_model *m = nn_sequential((nn_layer *[]){
        nn_layer_parse("MultiHeadAttention(2, 3, dropout=0.2, use_gate=True, output_shape=(2, 2), use_causal_mask=True, "
                       "kernel_regularizer='l2', bias_regularizer='l1', input_shape=(5, 3))"),
        nn_layer_parse("Flatten()"), nn_layer_parse("Dense(1)"), NULL });
    CHECK(m && nn_compile(m, &(nn_compile_opts){ .optimizer = "Adam(learning_rate=0.01)", .loss = "mse" }) == NN_OK);
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ 8, 5, 3 }), *y = nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 8 });
    for (int64_t i = 0; i < nn_tensor_size(x); i++) nn_tensor_f32(x)[i] = (float)((i * 37 % 11) - 5) / 5.0f;
    for (int i = 0; i < 8; i++) nn_tensor_f32(y)[i] = nn_tensor_f32(x)[i * 15] + nn_tensor_f32(x)[i * 15 + 14];
    /* dropout makes single steps noisy: compare the first and last ten steps' mean losses */
    double early = 0, late = 0, loss = 0;
    for (int step = 0; m && step < 100; step++) {
        CHECK(nn_train_on_batch(m, x, y, &loss) == NN_OK);
        if (step < 10) early += loss / 10;
        if (step >= 90) late += loss / 10;
    }
    CHECK(isfinite(late) && late < 0.5 * early);
    CHECK(m && m->layers[0]->out_ndim == 4 && m->layers[0]->out_shape[2] == 2 && m->layers[0]->out_shape[3] == 2);
    nn_model *loaded = check_reloads_the_same(m, x);
    const nn_value *causal = loaded ? config_of(loaded->layers[0], "use_causal_mask") : NULL;
    CHECK(causal && causal->type == NN_VALUE_BOOL && causal->boolean);
    nn_tensor_free(x), nn_tensor_free(y);
    nn_model_free(m), nn_model_free(loaded);
}

/* ---------------------------------------------------------------- errors */

TEST(option_errors_name_the_layer_and_option) {
    check_parse_error("MultiHeadAttention(0, 4)", "layer 'multi_head_attention' (MultiHeadAttention): 'num_heads' must be an integer >= 1");
    check_parse_error("MultiHeadAttention(2)", "(MultiHeadAttention): 'key_dim' must be an integer >= 1");
    check_parse_error("MultiHeadAttention(2, 4, value_dim=0)", "'value_dim' must be an integer >= 1");
    check_parse_error("MultiHeadAttention(2, 4, dropout=1.0)", "'dropout' must be in [0, 1)");
    check_parse_error("MultiHeadAttention(2, 4, output_shape=(3, 0))", "'output_shape' must be a positive integer or a tuple of them");
    check_parse_error("MultiHeadAttention(2, 4, output_shape='wide')", "'output_shape' must be an integer or a tuple of 1 to 6 integers");
    check_parse_error("MultiHeadAttention(2, 4, attention_axes=(1.5,))", "'attention_axes' must be an integer or a tuple");
    check_parse_error("MultiHeadAttention(2, 4, sliding_window=0)", "'sliding_window' must be an integer >= 1");
    check_parse_error("MultiHeadAttention(2, 4, flash_attention=True)", "'flash_attention' must be None or False (flash attention is not supported)");
    check_parse_error("MultiHeadAttention(2, 4, activity_regularizer='l2')",
                      "'activity_regularizer' must be None (activity regularizers are not supported)");
    check_parse_error("MultiHeadAttention(2, 4, kernel_constraint='non_neg')", "'kernel_constraint' must be None (constraints are not supported)");
    check_parse_error("MultiHeadAttention(2, 4, use_causal_mask=1)", "'use_causal_mask' must be True or False");
    check_parse_error("MultiHeadAttention(2, 4, kernel_initializer='fancy')", "unknown initializer 'fancy'");
    check_parse_error("MultiHeadAttention(2, 4, return_attention_scores=True)", "unknown argument 'return_attention_scores'");
    check_parse_error("MultiHeadAttention(2, 4, seed=-1)", "'seed' must be an integer >= 0");
}

/* The layer on hand-made inputs (query, value, key shapes; masks on some), as a functional model
 * will call it: the build's status and message. */
static int build_on(const char *text, int count, const int64_t shapes[][4], const int *ndims, bool masked, char *message) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse(text), NULL });
    NN_ASSERT(m != NULL);
    nn_graph g = { 0 };
    nn_builder b = { .model = m, .graph = &g, .create = true };
    int nodes[4], outputs[NN_MAX_LAYER_IO];
    for (int i = 0; i < count; i++) {
        nodes[i] = nn_graph_input(&g, ndims[i], shapes[i], "test");
        if (masked) g.nodes[nodes[i]].mask = nn_graph_input(&g, 1, shapes[i], "test");
    }
    int status = nn_layer_build_call(m->layers[0], &b, nodes, count, outputs);
    snprintf(message, 512, "%s", nn_last_error());
    nn_graph_free(&g);
    nn_model_free(m);
    return status;
}

TEST(shape_errors_name_the_layer_and_shapes) {
    check_build_error("MultiHeadAttention(2, 4)", 1, (int64_t[]){ 8 },
                      "layer 'multi_head_attention' (MultiHeadAttention): expected inputs of shape (batch, steps, features); got query (None, 8)");
    check_build_error("MultiHeadAttention(2, 4, attention_axes=(2,))", 2, (int64_t[]){ 5, 8 },
                      "only the default attention_axes (every axis but the batch and the last) are supported; got query (None, 5, 8)");
    check_build_error("MultiHeadAttention(2, 4, use_causal_mask=True)", 3, (int64_t[]){ 2, 5, 8 },
                      "use_causal_mask and sliding_window need inputs of shape (batch, steps, features); got query (None, 2, 5, 8)");
    nn_model *ok = nn_sequential((nn_layer *[]){ nn_layer_parse("MultiHeadAttention(2, 4, attention_axes=-2)"), NULL });
    CHECK(ok && nn_model_build(ok, 2, (int64_t[]){ 5, 8 }) == NN_OK); /* -2 is the default for rank 3 */
    nn_model_free(ok);

    char message[512];
    const int64_t steps_differ[][4] = { { 3, 4 }, { 5, 4 }, { 6, 4 } };
    CHECK(build_on("MultiHeadAttention(2, 4)", 3, steps_differ, (int[]){ 2, 2, 2 }, false, message) == NN_ERR_SHAPE);
    CHECK_CONTAINS(message, "all dimensions of the value and the key but the last must be equal; got query (None, 3, 4), value (None, 5, 4), key (None, 6, 4)");
    const int64_t ranks_differ[][4] = { { 3, 4 }, { 2, 5, 4 } };
    CHECK(build_on("MultiHeadAttention(2, 4)", 2, ranks_differ, (int[]){ 2, 3 }, false, message) == NN_ERR_SHAPE);
    CHECK_CONTAINS(message, "the query, value and key must have the same rank; got query (None, 3, 4), value (None, 2, 5, 4)");
    const int64_t images[][4] = { { 2, 3, 4 }, { 2, 2, 4 } };
    CHECK(build_on("MultiHeadAttention(2, 4)", 2, images, (int[]){ 3, 3 }, true, message) == NN_ERR_SHAPE);
    CHECK_CONTAINS(message, "masks need inputs of shape (batch, steps, features)");
    const int64_t four[][4] = { { 3, 4 }, { 3, 4 }, { 3, 4 }, { 3, 4 } };
    CHECK(build_on("MultiHeadAttention(2, 4)", 4, four, (int[]){ 2, 2, 2, 2 }, false, message) == NN_ERR_ARG);
    CHECK_CONTAINS(message, "layer 'multi_head_attention' (MultiHeadAttention) takes a query, a value and optionally a key (1 to 3 inputs), got 4");
}

TEST(op_shape_errors_name_the_shapes) {
    nn_graph g = { 0 };
    int q = nn_graph_input(&g, 2, (int64_t[]){ 3, 6 }, "test"), k5 = nn_graph_input(&g, 2, (int64_t[]){ 4, 5 }, "test");
    int v = nn_graph_input(&g, 2, (int64_t[]){ 4, 4 }, "test"), k = nn_graph_input(&g, 2, (int64_t[]){ 4, 6 }, "test");
    int bad_mask = nn_graph_input(&g, 2, (int64_t[]){ 4, 3 }, "test"), steps = nn_graph_input(&g, 1, (int64_t[]){ 5 }, "test");
    nn_attr two = { .shape = { [NN_ATTN_HEADS] = 2 } }, four = { .shape = { [NN_ATTN_HEADS] = 4 } };
    CHECK(nn_graph_op(&g, NN_OP_ATTENTION, (int[]){ q, k, v }, 3, &four, "mha") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "layer 'mha': attention: every input must be (batch, steps..., heads * size): query (None, 3, 6), key (None, 4, 6), value (None, 4, 4)");
    CHECK(nn_graph_op(&g, NN_OP_ATTENTION, (int[]){ q, k5, v }, 3, &two, "mha") == NN_ERR_SHAPE);
    CHECK(nn_graph_op(&g, NN_OP_ATTENTION, (int[]){ q, k, v, bad_mask }, 4, &two, "mha") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "the mask must be (batch, query steps, key steps): query (None, 3, 6), key (None, 4, 6), value (None, 4, 4), mask (None, 4, 3)");
    nn_attr mask_attr = { .shape = { [NN_ATTN_MASK_QUERY_STEPS] = 3, [NN_ATTN_MASK_KEY_STEPS] = 4, [NN_ATTN_MASK_HAS_QUERY] = 1 } };
    CHECK(nn_graph_op(&g, NN_OP_ATTENTION_MASK, (int[]){ steps }, 1, &mask_attr, "mha") == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "layer 'mha': attention_mask: a query mask must be (None, 3), got (None, 5)");
    nn_graph_free(&g);
}

/* ---------------------------------------------------------------- allocation failure */

/* Failing each allocation in turn while parsing, building, compiling and predicting with an
 * attention model: a clean error every time (and, under ASan, no leak), until nothing fails. */
TEST(allocation_failure_sweep) {
    const char *texts[] = { "MultiHeadAttention(2, 3, value_dim=2, output_shape=(2, 2), use_gate=True, attention_axes=1, "
                            "use_causal_mask=True, input_shape=(4, 3))",
                            "Flatten()" };
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ 2, 4, 3 });
    for (int i = 0; i < 24; i++) nn_tensor_f32(x)[i] = (float)(i % 5) / 5.0f;
    check_allocation_failure_sweep(texts, NN_ARRAY_LEN(texts), x);
    nn_tensor_free(x);
}

int main(void) {
    RUN_TESTS(attention_gradient_plain, attention_gradient_masked_with_more_keys_than_queries, attention_gradient_causal,
              attention_gradient_window_and_empty_rows, attention_gradient_with_dropout,
              attention_gradient_one_tensor_as_query_key_and_value, attention_mask_ands_query_and_key_masks,
              attention_gives_the_same_bits_on_two_threads, self_attention_matches_keras, cross_attention_matches_keras,
              masked_attention_matches_keras, configs_hold_keras_defaults, weights_have_keras_names_shapes_and_fans,
              encoder_block_trains_with_fit_and_saves, causal_gated_layer_trains_and_loads_back,
              option_errors_name_the_layer_and_option, shape_errors_name_the_layer_and_shapes, op_shape_errors_name_the_shapes,
              allocation_failure_sweep);
}
