/* Sequence layers: Embedding, Masking, SimpleRNN, LSTM, GRU, and the wrappers Bidirectional and
 * TimeDistributed, with Keras 3's configs, defaults, weight names and masks. They build the ops
 * of src/ops/recurrent.c and src/ops/sequence.c.
 *
 * configure validates the options and fills Keras's defaults into the config; build reads them
 * back with the same functions, which then cannot fail. A recurrent layer projects its inputs
 * with one matmul over all time steps, then runs its recurrence as one op; with return_state it
 * has several outputs (Keras's order: output, h, then c), which only the functional API takes.
 *
 * Masks (one value per sample and step): Embedding with mask_zero and Masking make one; the
 * recurrent layers honour it (a masked step keeps the state) and keep it on a returned
 * sequence; Bidirectional and TimeDistributed pass it on. */
#include "model/model.h"
#include "ops/recurrent.h"

#include <stdio.h>

static int bad_option(nn_layer *l, const char *key, const char *expected) {
    return nn_error(NN_ERR_ARG, "layer '%s' (%s): '%s' must be %s", l->name, l->def->class_name, key, expected);
}

/* A key that may only be absent or None (constraints, activity regularizers, ...). */
static int cfg_none_only(nn_layer *l, const char *key, const char *why) {
    const nn_value *v = nn_value_get(&l->config, key);
    if (v && v->type != NN_VALUE_NULL) {
        char expected[96];
        snprintf(expected, sizeof expected, "None (%s)", why);
        return bad_option(l, key, expected);
    }
    return v ? NN_OK : nn_value_dict_set(&l->config, key, (nn_value){ NN_VALUE_NULL });
}

/* Fills a string default unless the key is present (None included, which keeps its meaning). */
static int cfg_default_name(nn_layer *l, const char *key, const char *fallback) {
    if (nn_value_get(&l->config, key)) return NN_OK;
    nn_value s;
    int status = nn_value_string(&s, fallback);
    return status ? status : nn_value_dict_set(&l->config, key, s);
}

/* The input as a sequence (batch, steps, features). */
static int sequence_input(nn_layer *l, nn_builder *b, int input, const nn_node **x) {
    *x = &b->graph->nodes[input];
    if ((*x)->batched && (*x)->ndim == 3) return NN_OK;
    char shape[96];
    return nn_error(NN_ERR_SHAPE, "layer '%s' (%s): expected an input of shape (batch, timesteps, features), got %s",
                    l->name, l->def->class_name, nn_node_shape_str(*x, shape, sizeof shape));
}

/* ------------------------------------------------------------------ Embedding */

static int embedding_options(nn_layer *l, int64_t *input_dim, bool *mask_zero) {
    int status = nn_cfg_int(l, "input_dim", 0, 1, input_dim);
    if (!status) status = nn_cfg_int(l, "output_dim", 0, 1, &l->units);
    if (!status) status = nn_cfg_initializer(l, "embeddings_initializer", "uniform", &l->kernel_init);
    if (!status) status = nn_cfg_regularizer(l, "embeddings_regularizer", &l->kernel_reg);
    if (!status) status = nn_cfg_bool(l, "mask_zero", false, mask_zero);
    if (!status) status = cfg_none_only(l, "embeddings_constraint", "constraints are not supported");
    if (!status) status = cfg_none_only(l, "activity_regularizer", "activity regularization is not supported");
    if (!status) status = cfg_none_only(l, "weights", "set weights with nn_model_set_weight");
    if (!status) status = cfg_none_only(l, "lora_rank", "LoRA is not supported");
    if (!status) status = cfg_none_only(l, "quantization_config", "quantization is not supported");
    return status;
}

static int embedding_configure(nn_layer *l) {
    int64_t input_dim;
    bool mask_zero;
    return embedding_options(l, &input_dim, &mask_zero);
}

/* Ids arrive as floats (the batch is converted as any input): each is truncated to an integer
 * as Keras's cast; ids outside [-input_dim, input_dim) read zeros (see src/ops/sequence.c). */
static int embedding_build(nn_layer *l, nn_builder *b, int input, int *output) {
    int64_t input_dim;
    bool mask_zero;
    int status = embedding_options(l, &input_dim, &mask_zero);
    if (status) return status;
    int table = nn_builder_weight(b, l, "embeddings", 2, (int64_t[]){ input_dim, l->units }, &l->kernel_init, &l->kernel_reg, true);
    if (table < 0) return table;
    status = nn_layer_op(b, l, NN_OP_EMBEDDING, (int[]){ input, table }, 2, NULL, output);
    if (status || !mask_zero) return status;
    int mask;
    status = nn_layer_op(b, l, NN_OP_SEQUENCE_MASK, &input, 1, &(nn_attr){ .f = { 0.0 } }, &mask);
    if (!status) b->graph->nodes[*output].mask = mask;
    return status;
}

#define EMBEDDING_KEYS                                                                              \
    (const char *const[]) {                                                                         \
        "input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",              \
            "embeddings_constraint", "mask_zero", "weights", "lora_rank", "lora_alpha",             \
            "quantization_config", "activity_regularizer", NULL                                     \
    }

const nn_layer_def nn_layer_embedding = {
    .class_name = "Embedding",
    .base_name = "embedding",
    .positional = EMBEDDING_KEYS,
    .keys = EMBEDDING_KEYS,
    .configure = embedding_configure,
    .build = embedding_build,
};

/* ------------------------------------------------------------------ Masking */

static int masking_configure(nn_layer *l) { return nn_cfg_number(l, "mask_value", 0.0, &l->scale); }

/* A step is kept when any feature differs from mask_value; masked steps become zeros. */
static int masking_build(nn_layer *l, nn_builder *b, int input, int *output) {
    const nn_node *x = &b->graph->nodes[input];
    if (!x->batched || x->ndim < 2) {
        char shape[96];
        return nn_error(NN_ERR_SHAPE, "layer '%s' (Masking): expected an input of shape (batch, timesteps, features), got %s",
                        l->name, nn_node_shape_str(x, shape, sizeof shape));
    }
    nn_attr attr = { .f = { l->scale }, .shape = { [NN_MASK_ANY_FEATURE] = 1 } };
    int mask;
    int status = nn_layer_op(b, l, NN_OP_SEQUENCE_MASK, &input, 1, &attr, &mask);
    if (!status) status = nn_layer_op(b, l, NN_OP_APPLY_MASK, (int[]){ input, mask }, 2, NULL, output);
    if (!status) b->graph->nodes[*output].mask = mask;
    return status;
}

const nn_layer_def nn_layer_masking = {
    .class_name = "Masking",
    .base_name = "masking",
    .positional = (const char *const[]){ "mask_value", NULL },
    .keys = (const char *const[]){ "mask_value", NULL },
    .configure = masking_configure,
    .build = masking_build,
};

/* ------------------------------------------------------------------ SimpleRNN, LSTM, GRU */

/* The options beyond the typed fields (units, activation, use_bias, kernel and bias
 * initializers and regularizers). */
typedef struct rnn_opts {
    const nn_activation_def *recurrent_activation;
    nn_initializer_opts recurrent_init;
    nn_regularizer_opts recurrent_reg;
    double dropout;
    bool return_sequences, return_state, go_backwards, zero_output_for_mask, unit_forget_bias, reset_after;
} rnn_opts;

static nn_op cell_op(const nn_layer *l) {
    return l->def == &nn_layer_lstm ? NN_OP_LSTM : l->def == &nn_layer_gru ? NN_OP_GRU : NN_OP_SIMPLE_RNN;
}

static bool is_recurrent(const nn_layer_def *def) {
    return def == &nn_layer_simple_rnn || def == &nn_layer_lstm || def == &nn_layer_gru;
}

static int cfg_flags(nn_layer *l, rnn_opts *o) {
    bool stateful, unroll;
    int status = nn_cfg_bool(l, "return_sequences", false, &o->return_sequences);
    if (!status) status = nn_cfg_bool(l, "return_state", false, &o->return_state);
    if (!status) status = nn_cfg_bool(l, "go_backwards", false, &o->go_backwards);
    if (!status) status = nn_cfg_bool(l, "zero_output_for_mask", false, &o->zero_output_for_mask);
    if (!status) status = nn_cfg_bool(l, "stateful", false, &stateful);
    if (!status && stateful) return bad_option(l, "stateful", "False (stateful recurrent layers are not supported)");
    if (!status) status = nn_cfg_bool(l, "unroll", false, &unroll); /* the same numbers either way */
    if (!status && cell_op(l) == NN_OP_LSTM) status = nn_cfg_bool(l, "unit_forget_bias", true, &o->unit_forget_bias);
    if (!status && cell_op(l) == NN_OP_GRU) status = nn_cfg_bool(l, "reset_after", true, &o->reset_after);
    return status;
}

static int cfg_dropouts(nn_layer *l, rnn_opts *o) {
    double recurrent_dropout;
    int status = nn_cfg_number(l, "dropout", 0.0, &o->dropout);
    if (!status && (o->dropout < 0 || o->dropout >= 1)) return bad_option(l, "dropout", "in [0, 1)");
    if (!status) status = nn_cfg_number(l, "recurrent_dropout", 0.0, &recurrent_dropout);
    if (!status && recurrent_dropout != 0)
        return bad_option(l, "recurrent_dropout", "0 (dropout on the recurrent state is not implemented; 'dropout' on the inputs is)");
    return status;
}

static int rnn_options(nn_layer *l, rnn_opts *o) {
    *o = (rnn_opts){ 0 };
    bool gated = cell_op(l) != NN_OP_SIMPLE_RNN;
    int status = nn_cfg_int(l, "units", 0, 1, &l->units);
    if (!status) status = cfg_default_name(l, "activation", "tanh");
    if (!status) status = nn_cfg_kernel_options(l);
    if (!status && gated) status = cfg_default_name(l, "recurrent_activation", "sigmoid");
    if (!status && gated) status = nn_cfg_activation(l, "recurrent_activation", &o->recurrent_activation);
    if (!status) status = nn_cfg_initializer(l, "recurrent_initializer", "orthogonal", &o->recurrent_init);
    if (!status) status = nn_cfg_regularizer(l, "recurrent_regularizer", &o->recurrent_reg);
    if (!status) status = cfg_dropouts(l, o);
    if (!status) status = cfg_flags(l, o);
    const char *none_only[] = { "kernel_constraint", "recurrent_constraint", "bias_constraint" };
    for (size_t i = 0; !status && i < NN_ARRAY_LEN(none_only); i++)
        status = cfg_none_only(l, none_only[i], "constraints are not supported");
    if (!status) status = cfg_none_only(l, "activity_regularizer", "activity regularization is not supported");
    if (!gated) o->recurrent_activation = l->activation;
    return status;
}

static int rnn_configure(nn_layer *l) {
    rnn_opts o;
    return rnn_options(l, &o);
}

static const char *cell_name(const nn_layer *l) {
    nn_op op = cell_op(l);
    return op == NN_OP_LSTM ? "lstm_cell" : op == NN_OP_GRU ? "gru_cell" : "simple_rnn_cell";
}

/* The cell's weights, as Keras names and shapes them: kernel, recurrent_kernel, bias under
 * "<layer>/<cell>/". *bias is 0 without one. */
static int rnn_weights(nn_layer *l, nn_builder *b, const rnn_opts *o, int64_t features, int *kernel, int *recurrent, int *bias) {
    nn_op op = cell_op(l);
    int64_t gates = op == NN_OP_LSTM ? 4 : op == NN_OP_GRU ? 3 : 1, width = gates * l->units;
    char name[NN_NAME_SIZE];
    snprintf(name, sizeof name, "%s/kernel", cell_name(l));
    *kernel = nn_builder_weight(b, l, name, 2, (int64_t[]){ features, width }, &l->kernel_init, &l->kernel_reg, true);
    if (*kernel < 0) return *kernel;
    snprintf(name, sizeof name, "%s/recurrent_kernel", cell_name(l));
    *recurrent = nn_builder_weight(b, l, name, 2, (int64_t[]){ l->units, width }, &o->recurrent_init, &o->recurrent_reg, true);
    if (*recurrent < 0) return *recurrent;
    *bias = 0;
    if (!l->use_bias) return NN_OK;
    bool two_rows = op == NN_OP_GRU && o->reset_after;
    snprintf(name, sizeof name, "%s/bias", cell_name(l));
    *bias = nn_builder_weight(b, l, name, two_rows ? 2 : 1, two_rows ? (int64_t[]){ 2, width } : (int64_t[]){ width },
                              &l->bias_init, &l->bias_reg, true);
    if (*bias < 0) return *bias;
    if (b->create && op == NN_OP_LSTM && o->unit_forget_bias) { /* Keras: the forget gate's bias starts at 1 */
        nn_variable *v = &b->model->vars[b->graph->nodes[*bias].var];
        v->ones_from = l->units;
        v->ones_count = l->units;
    }
    return NN_OK;
}

static nn_attr rnn_attr(const nn_layer *l, const rnn_opts *o, bool masked) {
    const nn_activation_def *table = nn_activation_table(NULL);
    int flags = (o->return_sequences ? NN_RNN_RETURN_SEQUENCES : 0) | (o->return_state ? NN_RNN_RETURN_STATE : 0) |
                (o->go_backwards ? NN_RNN_GO_BACKWARDS : 0) | (o->zero_output_for_mask ? NN_RNN_ZERO_OUTPUT_FOR_MASK : 0) |
                (l->use_bias ? NN_RNN_BIAS : 0) | (masked ? NN_RNN_MASK : 0) | (o->reset_after ? NN_RNN_RESET_AFTER : 0);
    return (nn_attr){ .shape = { [NN_RNN_ACTIVATION] = l->activation - table,
                                 [NN_RNN_RECURRENT_ACTIVATION] = o->recurrent_activation - table,
                                 [NN_RNN_FLAGS] = flags } };
}

/* With return_state the op's output packs the outputs and the states: take them apart. */
static int unpack_states(nn_layer *l, nn_builder *b, const rnn_opts *o, int packed, int steps, int *outputs) {
    int states = cell_op(l) == NN_OP_LSTM ? 2 : 1, first = o->return_sequences ? steps : 1;
    nn_attr out = { .shape = { [NN_SLICE_START] = 0, [NN_SLICE_COUNT] = first, [NN_SLICE_SQUEEZE] = !o->return_sequences } };
    int status = nn_layer_op(b, l, NN_OP_TIME_SLICE, &packed, 1, &out, &outputs[0]);
    for (int i = 0; !status && i < states; i++) {
        nn_attr state = { .shape = { [NN_SLICE_START] = first + i, [NN_SLICE_COUNT] = 1, [NN_SLICE_SQUEEZE] = 1 } };
        status = nn_layer_op(b, l, NN_OP_TIME_SLICE, &packed, 1, &state, &outputs[1 + i]);
    }
    return status ? status : 1 + states;
}

static int rnn_build(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs) {
    rnn_opts o;
    const nn_node *x;
    int status = ninputs == 1 ? rnn_options(l, &o)
                              : nn_error(NN_ERR_ARG, "layer '%s' (%s): initial states are not supported; call it on one input",
                                         l->name, l->def->class_name);
    if (!status) status = sequence_input(l, b, inputs[0], &x);
    if (status) return status;
    int64_t steps = x->shape[1], features = x->shape[2];
    int mask = x->mask, input = inputs[0], kernel, recurrent, bias;
    if (b->training && o.dropout > 0) { /* Keras: one input mask per sample for every step */
        status = nn_layer_op(b, l, NN_OP_SPATIAL_DROPOUT, &input, 1, &(nn_attr){ .f = { o.dropout } }, &input);
        if (status) return status;
    }
    status = rnn_weights(l, b, &o, features, &kernel, &recurrent, &bias);
    int xw, ops[4] = { 0, recurrent }, count = 2, y;
    if (!status) status = nn_layer_op(b, l, NN_OP_MATMUL, (int[]){ input, kernel }, 2, NULL, &xw);
    if (status) return status;
    ops[0] = xw;
    if (l->use_bias) ops[count++] = bias;
    if (mask >= 0) ops[count++] = mask;
    nn_attr attr = rnn_attr(l, &o, mask >= 0);
    status = nn_layer_op(b, l, cell_op(l), ops, count, &attr, &y);
    if (status) return status;
    int made = o.return_state ? unpack_states(l, b, &o, y, (int)steps, outputs) : (outputs[0] = y, 1);
    if (made > 0 && o.return_sequences) b->graph->nodes[outputs[0]].mask = mask;
    return made;
}

#define RNN_KEYS                                                                                          \
    "units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer", \
        "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",        \
        "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout",     \
        "return_sequences", "return_state", "go_backwards", "stateful", "unroll", "seed",                 \
        "zero_output_for_mask", "implementation", "use_cudnn"

const nn_layer_def nn_layer_simple_rnn = {
    .class_name = "SimpleRNN",
    .base_name = "simple_rnn",
    .positional = (const char *const[]){ "units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
                                         "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                                         "activity_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint",
                                         "dropout", "recurrent_dropout", "return_sequences", "return_state", "go_backwards",
                                         "stateful", "unroll", "seed", NULL },
    .keys = (const char *const[]){ RNN_KEYS, NULL },
    .configure = rnn_configure,
    .build_multi = rnn_build,
};

const nn_layer_def nn_layer_lstm = {
    .class_name = "LSTM",
    .base_name = "lstm",
    .positional = (const char *const[]){ "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
                                         "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
                                         "recurrent_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
                                         "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed",
                                         "return_sequences", "return_state", "go_backwards", "stateful", "unroll", "use_cudnn", NULL },
    .keys = (const char *const[]){ RNN_KEYS, "recurrent_activation", "unit_forget_bias", NULL },
    .configure = rnn_configure,
    .build_multi = rnn_build,
};

const nn_layer_def nn_layer_gru = {
    .class_name = "GRU",
    .base_name = "gru",
    .positional = (const char *const[]){ "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
                                         "recurrent_initializer", "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
                                         "bias_regularizer", "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                                         "bias_constraint", "dropout", "recurrent_dropout", "seed", "return_sequences",
                                         "return_state", "go_backwards", "stateful", "unroll", "reset_after", "use_cudnn", NULL },
    .keys = (const char *const[]){ RNN_KEYS, "recurrent_activation", "reset_after", NULL },
    .configure = rnn_configure,
    .build_multi = rnn_build,
};

/* ------------------------------------------------------------------ wrappers */

/* The config's nested layer under `key` made into a layer wrapped by l, or NULL. */
static nn_layer *nested_layer(nn_layer *l, const char *key) {
    char where[NN_NAME_SIZE + 48];
    snprintf(where, sizeof where, "layer '%s' (%s)", l->name, l->def->class_name);
    nn_layer *inner = nn_layer_from_nested(nn_value_get(&l->config, key), where);
    if (inner) inner->outer = l;
    return inner;
}

/* config[key] = {"class_name": inner's class, "config": inner's config}: what Keras saves. */
static int save_nested(nn_layer *l, const char *key, const nn_layer *inner) {
    nn_value spec, name, config;
    int status = nn_value_dict_new(&spec);
    if (!status) status = nn_value_string(&name, inner->def->class_name);
    if (!status) status = nn_value_dict_set(&spec, "class_name", name);
    if (!status) status = nn_value_copy(&config, &inner->config);
    if (!status) status = nn_value_dict_set(&spec, "config", config);
    if (status) {
        nn_value_clear(&spec);
        return status;
    }
    return nn_value_dict_set(&l->config, key, spec);
}

/* A wrapped layer's parameters are counted anew with each first build. */
static void reset_inner_counts(nn_layer *l, const nn_builder *b) {
    for (int i = 0; b->create && i < 2; i++)
        if (l->inner[i]) l->inner[i]->param_count = 0;
}

/* ------------------------------------------------------------------ Bidirectional */

enum merge_mode { MERGE_CONCAT, MERGE_SUM, MERGE_MUL, MERGE_AVE, MERGE_NONE };
static const char *const merge_modes[] = { "concat", "sum", "mul", "ave", NULL };

static int merge_mode(nn_layer *l, int *mode) {
    int status = cfg_default_name(l, "merge_mode", "concat");
    if (status) return status;
    const nn_value *v = nn_value_get(&l->config, "merge_mode");
    *mode = MERGE_NONE;
    if (v->type == NN_VALUE_NULL) return NN_OK;
    for (int i = 0; v->type == NN_VALUE_STRING && merge_modes[i]; i++)
        if (strcmp(v->string, merge_modes[i]) == 0) {
            *mode = i;
            return NN_OK;
        }
    return bad_option(l, "merge_mode", "one of concat, sum, mul, ave or None");
}

static bool flag_of(nn_layer *inner, const char *key) {
    bool value = false;
    nn_cfg_bool(inner, key, false, &value); /* configured already: cannot fail */
    return value;
}

/* A recurrent layer made from `model`'s config as Keras's Bidirectional makes its two: named
 * prefix + the name without that prefix (prefix NULL: the name kept), go_backwards set when
 * `backwards` >= 0, and zero_output_for_mask = return_sequences. */
static nn_layer *direction_layer(nn_layer *l, nn_layer *model, const char *prefix, int backwards) {
    nn_value config, name = { NN_VALUE_NULL };
    if (nn_value_copy(&config, &model->config)) return NULL;
    const char *base = model->name;
    if (prefix && strncmp(base, prefix, strlen(prefix)) == 0) base += strlen(prefix);
    char full[2 * NN_NAME_SIZE];
    snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", base);
    int status = nn_value_string(&name, full);
    if (!status) status = nn_value_dict_set(&config, "name", name);
    if (!status && backwards >= 0) status = nn_value_dict_set(&config, "go_backwards", nn_value_bool(backwards));
    if (!status) status = nn_value_dict_set(&config, "zero_output_for_mask", nn_value_bool(flag_of(model, "return_sequences")));
    if (status) {
        nn_value_clear(&config);
        return NULL;
    }
    nn_layer *made = nn_layer_from_config(model->def, config);
    if (made && made->error) {
        nn_error(NN_ERR_ARG, "layer '%s' (Bidirectional): %s", l->name, made->error);
        nn_layer_free(made);
        return NULL;
    }
    if (made) made->outer = l;
    return made;
}

/* The config's recurrent layer under `key`, or NULL with a message. */
static nn_layer *recurrent_layer(nn_layer *l, const char *key) {
    nn_layer *inner = nested_layer(l, key);
    if (inner && !is_recurrent(inner->def)) {
        nn_error(NN_ERR_ARG, "layer '%s' (Bidirectional): '%s' must be a SimpleRNN, LSTM or GRU layer, got %s", l->name, key,
                 inner->def->class_name);
        nn_layer_free(inner);
        return NULL;
    }
    return inner;
}

/* Keras's checks: opposite directions, the same outputs. */
static int check_directions(nn_layer *l) {
    nn_layer *fwd = l->inner[0], *bwd = l->inner[1];
    if (flag_of(fwd, "go_backwards") == flag_of(bwd, "go_backwards"))
        return nn_error(NN_ERR_ARG, "layer '%s' (Bidirectional): the forward and backward layers must have different go_backwards", l->name);
    const char *same[] = { "return_sequences", "return_state" };
    for (size_t i = 0; i < NN_ARRAY_LEN(same); i++)
        if (flag_of(fwd, same[i]) != flag_of(bwd, same[i]))
            return nn_error(NN_ERR_ARG, "layer '%s' (Bidirectional): the forward and backward layers must have the same %s", l->name, same[i]);
    return NN_OK;
}

static int bidirectional_configure(nn_layer *l) {
    int mode;
    int status = merge_mode(l, &mode);
    if (!status) status = cfg_none_only(l, "weights", "set weights with nn_model_set_weight");
    if (status) return status;
    nn_layer *given = recurrent_layer(l, "layer");
    if (!given) return NN_ERR_ARG;
    l->inner[0] = direction_layer(l, given, "forward_", -1);
    const nn_value *backward = nn_value_get(&l->config, "backward_layer");
    if (backward && backward->type != NN_VALUE_NULL) {
        nn_layer *given_backward = l->inner[0] ? recurrent_layer(l, "backward_layer") : NULL;
        l->inner[1] = given_backward ? direction_layer(l, given_backward, NULL, -1) : NULL;
        nn_layer_free(given_backward);
    } else if (l->inner[0]) {
        l->inner[1] = direction_layer(l, given, "backward_", 1);
    }
    nn_layer_free(given);
    if (!l->inner[0] || !l->inner[1]) return NN_ERR_ARG;
    status = check_directions(l);
    if (!status) status = save_nested(l, "layer", l->inner[0]);
    if (!status) status = save_nested(l, "backward_layer", l->inner[1]);
    return status;
}

/* Outputs: the merged output (with merge_mode None, the two), then the forward layer's states,
 * then the backward one's. A returned sequence of the backward layer is reversed back into
 * input order before the merge, as Keras. */
static int bidirectional_build(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs) {
    int mode, fwd[NN_MAX_LAYER_IO], bwd[NN_MAX_LAYER_IO];
    if (ninputs != 1) return nn_error(NN_ERR_ARG, "layer '%s' (Bidirectional): initial states are not supported; call it on one input", l->name);
    int status = merge_mode(l, &mode);
    if (status) return status;
    reset_inner_counts(l, b);
    int nfwd = nn_layer_build_call(l->inner[0], b, inputs, 1, fwd);
    if (nfwd < 0) return nfwd;
    int nbwd = nn_layer_build_call(l->inner[1], b, inputs, 1, bwd);
    if (nbwd < 0) return nbwd;
    bool sequences = flag_of(l->inner[0], "return_sequences");
    int y = fwd[0], y_rev = bwd[0], count = 1;
    if (sequences) status = nn_layer_op(b, l, NN_OP_REVERSE_TIME, &bwd[0], 1, NULL, &y_rev);
    if (status) return status;
    if (mode == MERGE_NONE) {
        outputs[0] = y, outputs[1] = y_rev, count = 2;
    } else {
        nn_op op = mode == MERGE_CONCAT ? NN_OP_CONCAT : mode == MERGE_MUL ? NN_OP_MUL : NN_OP_ADD;
        status = nn_layer_op(b, l, op, (int[]){ y, y_rev }, 2, NULL, &outputs[0]);
        if (!status && mode == MERGE_AVE)
            status = nn_layer_op(b, l, NN_OP_SCALE_SHIFT, &outputs[0], 1, &(nn_attr){ .f = { 0.5, 0.0 } }, &outputs[0]);
        if (status) return status;
    }
    int mask = b->graph->nodes[inputs[0]].mask;
    for (int i = 0; i < count; i++) b->graph->nodes[outputs[i]].mask = sequences ? mask : -1;
    for (int i = 1; i < nfwd; i++) outputs[count++] = fwd[i];
    for (int i = 1; i < nbwd; i++) outputs[count++] = bwd[i];
    return count;
}

const nn_layer_def nn_layer_bidirectional = {
    .class_name = "Bidirectional",
    .base_name = "bidirectional",
    .positional = (const char *const[]){ "layer", "merge_mode", "weights", "backward_layer", NULL },
    .keys = (const char *const[]){ "layer", "merge_mode", "weights", "backward_layer", NULL },
    .configure = bidirectional_configure,
    .build_multi = bidirectional_build,
};

/* ------------------------------------------------------------------ TimeDistributed */

static int time_distributed_configure(nn_layer *l) {
    l->inner[0] = nested_layer(l, "layer");
    return l->inner[0] ? save_nested(l, "layer", l->inner[0]) : NN_ERR_ARG;
}

/* The time axis is folded into the batch, the wrapped layer runs on (batch * steps, ...) as
 * Keras's reshape does (so any layer works, convolutions and batch statistics included), and
 * the result is unfolded. */
static int time_distributed_build(nn_layer *l, nn_builder *b, int input, int *output) {
    const nn_node *x = &b->graph->nodes[input];
    char shape[96];
    if (!x->batched || x->ndim < 3)
        return nn_error(NN_ERR_SHAPE, "layer '%s' (TimeDistributed): expected an input of shape (batch, timesteps, ...) of rank >= 3, got %s",
                        l->name, nn_node_shape_str(x, shape, sizeof shape));
    int64_t steps = x->shape[1];
    nn_layer *inner = l->inner[0];
    int folded, ys[NN_MAX_LAYER_IO];
    reset_inner_counts(l, b);
    int status = nn_layer_op(b, l, NN_OP_FOLD_TIME, &input, 1, NULL, &folded);
    if (status) return status;
    int count = nn_layer_build_call(inner, b, &folded, 1, ys);
    if (count < 0) return count;
    if (count != 1)
        return nn_error(NN_ERR_ARG, "layer '%s' (TimeDistributed): the wrapped layer '%s' (%s) returns %d tensors; it must return one",
                        l->name, inner->name, inner->def->class_name, count);
    const nn_node *y = &b->graph->nodes[ys[0]];
    if (!y->batched || y->fold != b->graph->nodes[folded].fold)
        return nn_error(NN_ERR_SHAPE, "layer '%s' (TimeDistributed): the wrapped layer '%s' (%s) does not keep the batch axis (output %s)",
                        l->name, inner->name, inner->def->class_name, nn_node_shape_str(y, shape, sizeof shape));
    return nn_layer_op(b, l, NN_OP_UNFOLD_TIME, ys, 1, &(nn_attr){ .shape = { [NN_UNFOLD_STEPS] = steps } }, output);
}

const nn_layer_def nn_layer_time_distributed = {
    .class_name = "TimeDistributed",
    .base_name = "time_distributed",
    .positional = (const char *const[]){ "layer", NULL },
    .keys = (const char *const[]){ "layer", NULL },
    .configure = time_distributed_configure,
    .build = time_distributed_build,
    .propagates_mask = true,
};
