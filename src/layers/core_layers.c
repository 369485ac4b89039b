/* Core layers: Dense, Activation, Flatten, Reshape, Dropout, Normalization, Rescaling. Each
 * validates its Keras config and builds ops; none writes a backward pass. */
#include "model/model.h"

#include <stdio.h>

static int op(nn_builder *b, nn_layer *l, nn_op kind, const int *inputs, int n, const nn_attr *attr) {
    return nn_graph_op(b->graph, kind, inputs, n, attr, l->name);
}

int nn_layer_op(nn_builder *b, nn_layer *l, nn_op kind, const int *inputs, int count, const nn_attr *attr, int *node) {
    int made = op(b, l, kind, inputs, count, attr);
    if (made < 0) return made;
    *node = made;
    return NN_OK;
}

/* The input's last dimension, or an error naming the layer when the input is a bare batch. */
static int input_columns(nn_layer *l, nn_builder *b, int input, int64_t *cols) {
    const nn_node *x = &b->graph->nodes[input];
    if (x->ndim < 2) {
        char s[96];
        return nn_error(NN_ERR_SHAPE, "layer '%s' (%s): expected an input of rank >= 2, got shape %s",
                        l->name, l->def->class_name, nn_node_shape_str(x, s, sizeof s));
    }
    *cols = x->shape[x->ndim - 1];
    return NN_OK;
}

int nn_layer_activate(nn_builder *b, nn_layer *l, int input, int *output) {
    *output = input;
    if (!l->activation || strcmp(l->activation->name, "linear") == 0) return NN_OK;
    nn_attr attr = { .ptr = l->activation };
    int node = op(b, l, NN_OP_ACTIVATION, &input, 1, &attr);
    if (node < 0) return node;
    *output = node;
    return NN_OK;
}

/* ---------------------------------------------------------------- Dense */

int nn_cfg_kernel_options(nn_layer *l) { return nn_cfg_named_kernel_options(l, "kernel"); }

int nn_cfg_named_kernel_options(nn_layer *l, const char *kernel) {
    char init_key[48], reg_key[48];
    snprintf(init_key, sizeof init_key, "%s_initializer", kernel);
    snprintf(reg_key, sizeof reg_key, "%s_regularizer", kernel);
    int status = nn_cfg_activation(l, "activation", &l->activation);
    if (!status) status = nn_cfg_bool(l, "use_bias", true, &l->use_bias);
    if (!status) status = nn_cfg_initializer(l, init_key, "glorot_uniform", &l->kernel_init);
    if (!status) status = nn_cfg_initializer(l, "bias_initializer", "zeros", &l->bias_init);
    if (!status) status = nn_cfg_regularizer(l, reg_key, &l->kernel_reg);
    if (!status) status = nn_cfg_regularizer(l, "bias_regularizer", &l->bias_reg);
    return status;
}

static int dense_configure(nn_layer *l) {
    int status = nn_cfg_int(l, "units", 0, 1, &l->units);
    return status ? status : nn_cfg_kernel_options(l);
}

static int dense_build(nn_layer *l, nn_builder *b, int input, int *output) {
    int64_t cols = 0;
    int status = input_columns(l, b, input, &cols);
    if (status) return status;
    int inputs[3] = { input, nn_builder_weight(b, l, "kernel", 2, (int64_t[]){ cols, l->units }, &l->kernel_init,
                                               &l->kernel_reg, true), -1 };
    if (inputs[1] < 0) return inputs[1];
    if (l->use_bias) {
        inputs[2] = nn_builder_weight(b, l, "bias", 1, (int64_t[]){ l->units }, &l->bias_init, &l->bias_reg, true);
        if (inputs[2] < 0) return inputs[2];
    }
    /* One fused op, the activation included when its derivative follows from the output alone
     * (relu, sigmoid, tanh, softmax, ...); any other runs as an op of its own after it. */
    const nn_activation_def *act = l->activation;
    bool fuse = act && act->scale_by_derivative;
    int y = op(b, l, NN_OP_DENSE, inputs, l->use_bias ? 3 : 2, &(nn_attr){ .ptr = fuse ? act : NULL });
    if (y < 0 || fuse) {
        *output = y;
        return y < 0 ? y : NN_OK;
    }
    return nn_layer_activate(b, l, y, output);
}

const nn_layer_def nn_layer_dense = {
    .class_name = "Dense",
    .base_name = "dense",
    .positional = (const char *const[]){ "units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
                           "kernel_regularizer", "bias_regularizer", NULL },
    .keys = (const char *const[]){ "units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
                           "kernel_regularizer", "bias_regularizer", NULL },
    .configure = dense_configure,
    .build = dense_build,
    .propagates_mask = true,
};

/* ---------------------------------------------------------------- Activation */

static int activation_configure(nn_layer *l) { return nn_cfg_activation(l, "activation", &l->activation); }

static int activation_build(nn_layer *l, nn_builder *b, int input, int *output) {
    return nn_layer_activate(b, l, input, output);
}

const nn_layer_def nn_layer_activation = {
    .class_name = "Activation",
    .base_name = "activation",
    .positional = (const char *const[]){ "activation", NULL },
    .keys = (const char *const[]){ "activation", NULL },
    .configure = activation_configure,
    .build = activation_build,
    .propagates_mask = true,
};

/* ---------------------------------------------------------------- Flatten, Reshape */

static int no_options(nn_layer *l) {
    (void)l;
    return NN_OK;
}

static int reshape_to(nn_builder *b, nn_layer *l, int input, int ndim, const int64_t *shape, int *output) {
    nn_attr attr = { .ndim = ndim };
    memcpy(attr.shape, shape, (size_t)ndim * sizeof *shape);
    int node = op(b, l, NN_OP_RESHAPE, &input, 1, &attr);
    if (node < 0) return node;
    *output = node;
    return NN_OK;
}

static int flatten_build(nn_layer *l, nn_builder *b, int input, int *output) {
    const nn_node *x = &b->graph->nodes[input];
    if (x->ndim == 2) {
        *output = input;
        return NN_OK;
    }
    return reshape_to(b, l, input, 1, (int64_t[]){ x->inner }, output);
}

const nn_layer_def nn_layer_flatten = {
    .class_name = "Flatten",
    .base_name = "flatten",
    .positional = NULL,
    .keys = (const char *const[]){ "data_format", NULL },
    .configure = no_options,
    .build = flatten_build,
};

static int reshape_configure(nn_layer *l) {
    int status = nn_cfg_shape(l, "target_shape", &l->target_ndim, l->target_shape, true);
    if (status) return status;
    int inferred = 0;
    for (int i = 0; i < l->target_ndim; i++) inferred += l->target_shape[i] == -1;
    if (inferred > 1)
        return nn_error(NN_ERR_ARG, "layer '%s' (Reshape): at most one dimension of target_shape may be -1", l->name);
    return NN_OK;
}

static int reshape_build(nn_layer *l, nn_builder *b, int input, int *output) {
    return reshape_to(b, l, input, l->target_ndim, l->target_shape, output);
}

const nn_layer_def nn_layer_reshape = {
    .class_name = "Reshape",
    .base_name = "reshape",
    .positional = (const char *const[]){ "target_shape", NULL },
    .keys = (const char *const[]){ "target_shape", NULL },
    .configure = reshape_configure,
    .build = reshape_build,
};

/* ---------------------------------------------------------------- Dropout */

static int dropout_configure(nn_layer *l) {
    int64_t seed;
    int status = nn_cfg_number(l, "rate", 0.0, &l->rate);
    if (!status && (l->rate < 0 || l->rate >= 1))
        return nn_error(NN_ERR_ARG, "layer '%s' (Dropout): rate must be in [0, 1), got %g", l->name, l->rate);
    if (!status && nn_value_get(&l->config, "seed")) status = nn_cfg_int(l, "seed", 0, 0, &seed);
    return status;
}

/* Dropout is only active in training; inference passes the input through. */
static int dropout_build(nn_layer *l, nn_builder *b, int input, int *output) {
    *output = input;
    if (!b->training || l->rate == 0) return NN_OK;
    nn_attr attr = { .f = { l->rate } };
    int node = op(b, l, NN_OP_DROPOUT, &input, 1, &attr);
    if (node < 0) return node;
    *output = node;
    return NN_OK;
}

const nn_layer_def nn_layer_dropout = {
    .class_name = "Dropout",
    .base_name = "dropout",
    .positional = (const char *const[]){ "rate", NULL },
    .keys = (const char *const[]){ "rate", "seed", "noise_shape", NULL },
    .configure = dropout_configure,
    .build = dropout_build,
    .propagates_mask = true,
};

/* ---------------------------------------------------------------- Normalization */

static int normalization_configure(nn_layer *l) {
    int64_t axis;
    const nn_value *v = nn_value_get(&l->config, "axis");
    if (v && v->type == NN_VALUE_NUMBER && v->number != -1)
        return nn_error(NN_ERR_ARG, "layer '%s' (Normalization): only axis=-1 is supported, got %g", l->name, v->number);
    if (v && v->type != NN_VALUE_NUMBER) return nn_error(NN_ERR_ARG, "layer '%s' (Normalization): axis must be -1", l->name);
    if (!v) return nn_value_dict_set(&l->config, "axis", nn_value_number(-1));
    (void)axis;
    return NN_OK;
}

static int normalization_build(nn_layer *l, nn_builder *b, int input, int *output) {
    int64_t cols = 0;
    int status = input_columns(l, b, input, &cols);
    if (status) return status;
    nn_regularizer_opts none = { 0 };
    int mean = nn_builder_weight(b, l, "mean", 1, &cols, &(nn_initializer_opts){ .name = "zeros" }, &none, false);
    if (mean < 0) return mean;
    int var = nn_builder_weight(b, l, "variance", 1, &cols, &(nn_initializer_opts){ .name = "ones" }, &none, false);
    if (var < 0) return var;
    int count = nn_builder_weight(b, l, "count", 0, NULL, &(nn_initializer_opts){ .name = "zeros" }, &none, false);
    if (count < 0) return count;
    b->model->vars[b->graph->nodes[count].var].keras_value_bytes = 8; /* Keras keeps the count as int64 */
    int node = op(b, l, NN_OP_NORMALIZE, (int[]){ input, mean, var }, 3, NULL);
    if (node < 0) return node;
    *output = node;
    return NN_OK;
}

const nn_layer_def nn_layer_normalization = {
    .class_name = "Normalization",
    .base_name = "normalization",
    .positional = (const char *const[]){ "axis", NULL },
    .keys = (const char *const[]){ "axis", NULL },
    .configure = normalization_configure,
    .build = normalization_build,
    .propagates_mask = true,
};

/* ---------------------------------------------------------------- Rescaling */

static int rescaling_configure(nn_layer *l) {
    int status = nn_cfg_number(l, "scale", 1.0, &l->scale);
    if (!status) status = nn_cfg_number(l, "offset", 0.0, &l->offset);
    return status;
}

static int rescaling_build(nn_layer *l, nn_builder *b, int input, int *output) {
    nn_attr attr = { .f = { l->scale, l->offset } };
    int node = op(b, l, NN_OP_SCALE_SHIFT, &input, 1, &attr);
    if (node < 0) return node;
    *output = node;
    return NN_OK;
}

const nn_layer_def nn_layer_rescaling = {
    .class_name = "Rescaling",
    .base_name = "rescaling",
    .positional = (const char *const[]){ "scale", "offset", NULL },
    .keys = (const char *const[]){ "scale", "offset", NULL },
    .configure = rescaling_configure,
    .build = rescaling_build,
    .propagates_mask = true,
};
