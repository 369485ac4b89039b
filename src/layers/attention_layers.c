/* MultiHeadAttention, as Keras 3's layer: the query, key and value projections (EinsumDense
 * kernels (features, heads, size), which matmul takes through their (features, heads * size)
 * view), the fused attention op of src/ops/attention.c, the optional sigmoid gate (use_gate) and
 * the output projection (kernel (heads, value_dim, *output_shape)).
 *
 * Inputs (build_multi): query, value and optionally key (default: the value); with one input (a
 * Sequential model) the layer attends over its own input. Masks are honoured as Keras does: the
 * query's, the value's and (when it is another tensor) the key's nn_node.mask are ANDed into one
 * attention mask (the attention_mask op); the output keeps the query's mask.
 *
 * nn layers have no call arguments, so Keras's call argument use_causal_mask is a config option
 * here (saved with the layer); return_attention_scores and an explicit attention_mask are not
 * offered, and attention_axes may only be Keras's default.
 *
 * configure validates the options and fills Keras's defaults into the config; build reads them
 * back with the same function, which then cannot fail. */
#include "model/model.h"
#include "ops/attention.h"

#include <stdio.h>

typedef struct mha_opts {
    int64_t heads, key_dim, value_dim, window;
    double dropout;
    bool use_bias, use_gate, causal;
    int out_ndim;  /* output_shape: 0 = None (the query's last dimension) */
    int64_t out_shape[NN_MAX_DIMS];
    int naxes;     /* attention_axes: 0 = None (Keras's default) */
    int64_t axes[NN_MAX_DIMS];
} mha_opts;

static int bad_option(nn_layer *l, const char *key, const char *expected) {
    return nn_error(NN_ERR_ARG, "layer '%s' (%s): '%s' must be %s", l->name, l->def->class_name, key, expected);
}

static bool is_null(const nn_value *v) { return !v || v->type == NN_VALUE_NULL; }

static bool is_integer(const nn_value *v) {
    return v->type == NN_VALUE_NUMBER && v->number == floor(v->number) && fabs(v->number) <= 1e12;
}

/* ------------------------------------------------------------------ options */

/* None (kept, or filled in, as None: *out = 0) or an integer >= min. */
static int cfg_optional_int(nn_layer *l, const char *key, int64_t min, int64_t *out) {
    const nn_value *v = nn_value_get(&l->config, key);
    *out = 0;
    if (!v) return nn_value_dict_set(&l->config, key, (nn_value){ NN_VALUE_NULL });
    return is_null(v) ? NN_OK : nn_cfg_int(l, key, 0, min, out);
}

/* Keras saves value_dim as the key_dim when it is not given. */
static int cfg_value_dim(nn_layer *l, mha_opts *o) {
    int status = cfg_optional_int(l, "value_dim", 1, &o->value_dim);
    if (status || o->value_dim) return status;
    o->value_dim = o->key_dim;
    return nn_value_dict_set(&l->config, "value_dim", nn_value_number((double)o->key_dim));
}

/* An integer or a tuple of them, saved as a list (Keras keeps a tuple); None when absent. */
static int cfg_int_tuple(nn_layer *l, const char *key, int *count, int64_t *items) {
    const nn_value *v = nn_value_get(&l->config, key);
    *count = 0;
    if (is_null(v)) return v ? NN_OK : nn_value_dict_set(&l->config, key, (nn_value){ NN_VALUE_NULL });
    if (v->type == NN_VALUE_NUMBER && is_integer(v)) {
        items[0] = (int64_t)v->number;
        *count = 1;
        nn_value list;
        int status = nn_value_list_new(&list);
        if (!status) status = nn_value_list_push(&list, nn_value_number(v->number));
        if (!status) status = nn_value_dict_set(&l->config, key, list);
        else nn_value_clear(&list);
        return status;
    }
    if (v->type != NN_VALUE_LIST || v->count < 1 || v->count > NN_MAX_DIMS - 2)
        return bad_option(l, key, "an integer or a tuple of 1 to 6 integers");
    for (int i = 0; i < v->count; i++) {
        if (!is_integer(&v->items[i])) return bad_option(l, key, "an integer or a tuple of 1 to 6 integers");
        items[i] = (int64_t)v->items[i].number;
    }
    *count = v->count;
    return NN_OK;
}

static int cfg_output_shape(nn_layer *l, mha_opts *o) {
    int status = cfg_int_tuple(l, "output_shape", &o->out_ndim, o->out_shape);
    for (int i = 0; !status && i < o->out_ndim; i++)
        if (o->out_shape[i] < 1) return bad_option(l, "output_shape", "a positive integer or a tuple of them");
    return status;
}

/* Keras's seed for the dropout: None or an integer >= 0 (nn draws from the model's generator). */
static int cfg_seed(nn_layer *l) {
    int64_t seed;
    return cfg_optional_int(l, "seed", 0, &seed);
}

/* flash_attention is an argument Keras does not save; Keras's TensorFlow backend refuses True. */
static int cfg_flash_attention(nn_layer *l) {
    const nn_value *v = nn_value_get(&l->config, "flash_attention");
    if (is_null(v) || (v->type == NN_VALUE_BOOL && !v->boolean)) return NN_OK;
    return bad_option(l, "flash_attention", "None or False (flash attention is not supported)");
}

static int mha_options(nn_layer *l, mha_opts *o) {
    *o = (mha_opts){ 0 };
    int status = nn_cfg_int(l, "num_heads", 0, 1, &o->heads);
    if (!status) status = nn_cfg_int(l, "key_dim", 0, 1, &o->key_dim);
    if (!status) status = cfg_value_dim(l, o);
    if (!status) status = nn_cfg_number(l, "dropout", 0.0, &o->dropout);
    if (!status && !(o->dropout >= 0 && o->dropout < 1)) return bad_option(l, "dropout", "in [0, 1)");
    if (!status) status = nn_cfg_bool(l, "use_bias", true, &o->use_bias);
    if (!status) status = nn_cfg_bool(l, "use_gate", false, &o->use_gate);
    if (!status) status = cfg_output_shape(l, o);
    if (!status) status = cfg_int_tuple(l, "attention_axes", &o->naxes, o->axes);
    if (!status) status = cfg_optional_int(l, "sliding_window", 1, &o->window);
    if (!status) status = cfg_flash_attention(l);
    if (!status) status = nn_cfg_initializer(l, "kernel_initializer", "glorot_uniform", &l->kernel_init);
    if (!status) status = nn_cfg_initializer(l, "bias_initializer", "zeros", &l->bias_init);
    if (!status) status = nn_cfg_regularizer(l, "kernel_regularizer", &l->kernel_reg);
    if (!status) status = nn_cfg_regularizer(l, "bias_regularizer", &l->bias_reg);
    if (!status) status = nn_cfg_null(l, "activity_regularizer", "activity regularizers");
    if (!status) status = nn_cfg_null(l, "kernel_constraint", "constraints");
    if (!status) status = nn_cfg_null(l, "bias_constraint", "constraints");
    if (!status) status = cfg_seed(l);
    if (!status) status = nn_cfg_bool(l, "use_causal_mask", false, &o->causal);
    return status;
}

static int mha_configure(nn_layer *l) {
    mha_opts o;
    return mha_options(l, &o);
}

/* ------------------------------------------------------------------ input checks */

static int input_error(nn_layer *l, nn_builder *b, const int *io, int nio, const char *what) {
    static const char *const roles[] = { "query", "value", "key" };
    char shapes[320] = "", s[96];
    size_t used = 0;
    for (int i = 0; i < nio && used < sizeof shapes; i++)
        used += (size_t)snprintf(shapes + used, sizeof shapes - used, "%s%s %s", i ? ", " : "", roles[i],
                                 nn_node_shape_str(&b->graph->nodes[io[i]], s, sizeof s));
    return nn_error(NN_ERR_SHAPE, "layer '%s' (MultiHeadAttention): %s; got %s", l->name, what, shapes);
}

static bool same_dims_but_last(const nn_node *a, const nn_node *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 1; i < a->ndim - 1; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* attention_axes equal to Keras's default for a query of rank `rank`: every axis but the batch
 * and the features, (1, ..., rank - 2), negative axes counted from the projected rank + 1. */
static bool default_axes(const mha_opts *o, int rank) {
    if (!o->naxes) return true;
    bool seen[NN_MAX_DIMS] = { false };
    for (int i = 0; i < o->naxes; i++) {
        int64_t axis = o->axes[i] < 0 ? o->axes[i] + rank : o->axes[i];
        if (axis < 1 || axis > rank - 2 || seen[axis]) return false;
        seen[axis] = true;
    }
    return o->naxes == rank - 2;
}

/* io: query, value, key (nio of them given). */
static int check_inputs(nn_layer *l, nn_builder *b, const mha_opts *o, const int *io, int nio) {
    const nn_node *q = &b->graph->nodes[io[0]], *v = &b->graph->nodes[io[1]], *k = &b->graph->nodes[io[2]];
    for (int i = 0; i < 3; i++) {
        const nn_node *x = &b->graph->nodes[io[i]];
        if (!x->batched || x->ndim < 3) return input_error(l, b, io, nio, "expected inputs of shape (batch, steps, features)");
    }
    if (v->ndim != q->ndim || k->ndim != q->ndim) return input_error(l, b, io, nio, "the query, value and key must have the same rank");
    if (!same_dims_but_last(v, k))
        return input_error(l, b, io, nio, "all dimensions of the value and the key but the last must be equal");
    if (!default_axes(o, q->ndim))
        return input_error(l, b, io, nio, "only the default attention_axes (every axis but the batch and the last) are supported");
    if ((o->causal || o->window) && q->ndim != 3)
        return input_error(l, b, io, nio, "use_causal_mask and sliding_window need inputs of shape (batch, steps, features)");
    if (q->ndim - 1 + (o->out_ndim ? o->out_ndim : 1) > NN_MAX_DIMS)
        return input_error(l, b, io, nio, "the output_shape makes the output's rank too large");
    return NN_OK;
}

/* ------------------------------------------------------------------ build */

static int64_t product(const int64_t *dims, int count) {
    int64_t n = 1;
    for (int i = 0; i < count; i++) n *= dims[i];
    return n;
}

/* The PARAM node of a weight shaped as Keras shapes it, seen by the ops as (rows, cols), rows
 * being the product of its first `split` axes (or, with split 0, as a vector): the variable
 * keeps Keras's shape, and the node's values are the same row-major floats. */
static int weight_view(nn_builder *b, nn_layer *l, const char *name, int ndim, const int64_t *shape, int split,
                       const nn_initializer_opts *init, const nn_regularizer_opts *reg) {
    int node = nn_builder_weight(b, l, name, ndim, shape, init, reg, true);
    if (node < 0) return node;
    nn_node *p = &b->graph->nodes[node];
    p->ndim = split ? 2 : 1;
    p->shape[0] = split ? product(shape, split) : product(shape, ndim);
    p->shape[1] = split ? product(shape + split, ndim - split) : 0;
    return node;
}

/* Keras's EinsumDense of the layer: x (..., in) times a kernel whose first `in_axes` axes are
 * contracted with x's last (kernel_initializer fans as EinsumDense sets them), plus a bias over
 * the other axes. */
static int einsum_dense(nn_builder *b, nn_layer *l, const mha_opts *o, int x, const char *prefix, int ndim,
                        const int64_t *shape, int in_axes, int *out) {
    char name[NN_NAME_SIZE];
    nn_initializer_opts init = l->kernel_init;
    init.input_axes = (1u << in_axes) - 1;
    init.output_axes = ((1u << ndim) - 1) & ~init.input_axes;
    snprintf(name, sizeof name, "%s/kernel", prefix);
    int kernel = weight_view(b, l, name, ndim, shape, in_axes, &init, &l->kernel_reg);
    if (kernel < 0) return kernel;
    int status = nn_layer_op(b, l, NN_OP_MATMUL, (int[]){ x, kernel }, 2, NULL, out);
    if (status || !o->use_bias) return status;
    snprintf(name, sizeof name, "%s/bias", prefix);
    int bias = weight_view(b, l, name, ndim - in_axes, shape + in_axes, 0, &l->bias_init, &l->bias_reg);
    if (bias < 0) return bias;
    return nn_layer_op(b, l, NN_OP_BIAS_ADD, (int[]){ *out, bias }, 2, NULL, out);
}

static int64_t last_dim(nn_builder *b, int node) {
    const nn_node *x = &b->graph->nodes[node];
    return x->shape[x->ndim - 1];
}

/* The attention mask from the inputs' Keras masks, or -1 when none has one. io: query, value,
 * key (nio of them given); the key's mask counts only when the key is another tensor than the
 * value (as Keras). */
static int attention_mask(nn_builder *b, nn_layer *l, const int *io, int nio, int *mask) {
    const nn_node *q = &b->graph->nodes[io[0]], *v = &b->graph->nodes[io[1]];
    int query_mask = q->mask, masks[3], count = 0;
    if (query_mask >= 0) masks[count++] = query_mask;
    if (v->mask >= 0) masks[count++] = v->mask;
    if (io[2] != io[1] && b->graph->nodes[io[2]].mask >= 0) masks[count++] = b->graph->nodes[io[2]].mask;
    *mask = -1;
    if (!count) return NN_OK;
    if (q->ndim != 3) return input_error(l, b, io, nio, "masks need inputs of shape (batch, steps, features)");
    nn_attr attr = { .shape = { [NN_ATTN_MASK_QUERY_STEPS] = q->shape[1], [NN_ATTN_MASK_KEY_STEPS] = v->shape[1],
                                [NN_ATTN_MASK_HAS_QUERY] = query_mask >= 0 } };
    return nn_layer_op(b, l, NN_OP_ATTENTION_MASK, masks, count, &attr, mask);
}

/* Attention over the projected q, k, v (and the mask), then the gate when use_gate. */
static int attend(nn_builder *b, nn_layer *l, const mha_opts *o, const int *qkv, int mask, int gate, int *out) {
    nn_attr attr = { .shape = { [NN_ATTN_HEADS] = o->heads, [NN_ATTN_CAUSAL] = o->causal, [NN_ATTN_WINDOW] = o->window,
                                [NN_ATTN_EMPTY_ZERO] = o->dropout > 0 },
                     .f = { 1.0 / sqrt((double)o->key_dim), b->training ? o->dropout : 0.0 } };
    int inputs[4] = { qkv[0], qkv[1], qkv[2], mask };
    int status = nn_layer_op(b, l, NN_OP_ATTENTION, inputs, mask >= 0 ? 4 : 3, &attr, out);
    if (status || gate < 0) return status;
    nn_attr sigmoid = { .ptr = nn_activation_find("sigmoid") };
    status = nn_layer_op(b, l, NN_OP_ACTIVATION, &gate, 1, &sigmoid, &gate);
    return status ? status : nn_layer_op(b, l, NN_OP_MUL, (int[]){ *out, gate }, 2, NULL, out);
}

/* The output projection (heads, value_dim, *output_shape), reshaped to the output_shape's axes
 * when it has several. */
static int project_output(nn_builder *b, nn_layer *l, const mha_opts *o, int query, int x, int *out) {
    const nn_node *q = &b->graph->nodes[query];
    int64_t shape[NN_MAX_DIMS] = { o->heads, o->value_dim, q->shape[q->ndim - 1] };
    int out_ndim = o->out_ndim ? o->out_ndim : 1;
    if (o->out_ndim) memcpy(shape + 2, o->out_shape, (size_t)o->out_ndim * sizeof *shape);
    int status = einsum_dense(b, l, o, x, "attention_output", 2 + out_ndim, shape, 2, out);
    if (status || out_ndim == 1) return status;
    q = &b->graph->nodes[query];
    nn_attr attr = { .ndim = q->ndim - 2 + out_ndim };
    memcpy(attr.shape, q->shape + 1, (size_t)(q->ndim - 2) * sizeof *attr.shape);
    memcpy(attr.shape + q->ndim - 2, o->out_shape, (size_t)out_ndim * sizeof *attr.shape);
    return nn_layer_op(b, l, NN_OP_RESHAPE, out, 1, &attr, out);
}

static int mha_build(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs) {
    mha_opts o;
    int status = mha_options(l, &o);
    if (status) return status;
    if (ninputs < 1 || ninputs > 3)
        return nn_error(NN_ERR_ARG, "layer '%s' (MultiHeadAttention) takes a query, a value and optionally a key (1 to 3 inputs), got %d",
                        l->name, ninputs);
    int query = inputs[0], value = ninputs > 1 ? inputs[1] : query, key = ninputs > 2 ? inputs[2] : value;
    int io[3] = { query, value, key }, nio = ninputs;
    status = check_inputs(l, b, &o, io, nio);
    int qkv[3], gate = -1, mask = -1, y = -1;
    /* the weights in Keras's order: query, key, gate, value, attention_output */
    if (!status)
        status = einsum_dense(b, l, &o, io[0], "query", 3, (int64_t[]){ last_dim(b, io[0]), o.heads, o.key_dim }, 1, &qkv[0]);
    if (!status)
        status = einsum_dense(b, l, &o, io[2], "key", 3, (int64_t[]){ last_dim(b, io[2]), o.heads, o.key_dim }, 1, &qkv[1]);
    if (!status && o.use_gate)
        status = einsum_dense(b, l, &o, io[0], "gate", 3, (int64_t[]){ last_dim(b, io[0]), o.heads, o.value_dim }, 1, &gate);
    if (!status)
        status = einsum_dense(b, l, &o, io[1], "value", 3, (int64_t[]){ last_dim(b, io[1]), o.heads, o.value_dim }, 1, &qkv[2]);
    if (!status) status = attention_mask(b, l, io, nio, &mask);
    if (!status) status = attend(b, l, &o, qkv, mask, gate, &y);
    if (!status) status = project_output(b, l, &o, io[0], y, &outputs[0]);
    return status ? status : 1;
}

const nn_layer_def nn_layer_multi_head_attention = {
    .class_name = "MultiHeadAttention",
    .base_name = "multi_head_attention",
    .positional = (const char *const[]){ "num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape",
                           "attention_axes", "sliding_window", "flash_attention", "kernel_initializer",
                           "bias_initializer", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                           "kernel_constraint", "bias_constraint", "use_gate", "seed", NULL },
    .keys = (const char *const[]){ "num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape",
                           "attention_axes", "sliding_window", "flash_attention", "kernel_initializer",
                           "bias_initializer", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                           "kernel_constraint", "bias_constraint", "use_gate", "seed", "use_causal_mask", NULL },
    .configure = mha_configure,
    .build_multi = mha_build,
    .propagates_mask = true,
};
