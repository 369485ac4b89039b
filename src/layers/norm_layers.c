/* Normalization and regularization layers: LayerNormalization, BatchNormalization,
 * GroupNormalization, GaussianNoise, SpatialDropout1D and SpatialDropout2D (channels_last, as
 * Keras). Each reads
 * its Keras config and builds the ops of src/ops/norm.c (beta through bias_add).
 *
 * configure validates the options and fills Keras's defaults into the config; build reads them
 * back with the same functions, which then cannot fail. */
#include "model/model.h"

#include <stdio.h>

static int bad_option(nn_layer *l, const char *key, const char *expected) {
    return nn_error(NN_ERR_ARG, "layer '%s' (%s): '%s' must be %s", l->name, l->def->class_name, key, expected);
}

/* ------------------------------------------------------------------ shared normalization options */

/* Only the last (channels) axis: -1 or [-1]; absent means -1. */
static int cfg_last_axis(nn_layer *l) {
    const nn_value *v = nn_value_get(&l->config, "axis");
    if (!v || v->type == NN_VALUE_NULL) return nn_value_dict_set(&l->config, "axis", nn_value_number(-1));
    if (v->type == NN_VALUE_LIST && v->count == 1) v = &v->items[0];
    if (v->type != NN_VALUE_NUMBER || v->number != -1) return bad_option(l, "axis", "-1 (only the last axis is supported)");
    return NN_OK;
}

/* The options LayerNormalization and BatchNormalization share. gamma's initializer and
 * regularizer go to kernel_init/kernel_reg, beta's to bias_init/bias_reg. */
typedef struct norm_opts {
    double epsilon, momentum;
    bool center, scale;
    nn_initializer_opts moving_mean_init, moving_variance_init;
} norm_opts;

static int cfg_norm_options(nn_layer *l, norm_opts *o) {
    int status = cfg_last_axis(l);
    if (!status) status = nn_cfg_number(l, "epsilon", 1e-3, &o->epsilon);
    if (!status && !(o->epsilon > 0)) return bad_option(l, "epsilon", "> 0");
    if (!status) status = nn_cfg_bool(l, "center", true, &o->center);
    if (!status) status = nn_cfg_bool(l, "scale", true, &o->scale);
    if (!status) status = nn_cfg_initializer(l, "beta_initializer", "zeros", &l->bias_init);
    if (!status) status = nn_cfg_initializer(l, "gamma_initializer", "ones", &l->kernel_init);
    if (!status) status = nn_cfg_regularizer(l, "beta_regularizer", &l->bias_reg);
    if (!status) status = nn_cfg_regularizer(l, "gamma_regularizer", &l->kernel_reg);
    if (!status) status = nn_cfg_null(l, "beta_constraint", "constraints");
    if (!status) status = nn_cfg_null(l, "gamma_constraint", "constraints");
    return status;
}

/* The input's last axis, or an error naming the layer and the shape. */
static int feature_axis(nn_layer *l, nn_builder *b, int input, int64_t *channels) {
    const nn_node *x = &b->graph->nodes[input];
    if (x->batched && x->ndim >= 2) {
        *channels = x->shape[x->ndim - 1];
        return NN_OK;
    }
    char s[96];
    return nn_error(NN_ERR_SHAPE, "layer '%s' (%s): expected an input of shape (batch, ..., features), got %s", l->name,
                    l->def->class_name, nn_node_shape_str(x, s, sizeof s));
}

/* gamma (when scaling) as the op's last input, the op, then beta (when centering) by bias_add.
 * The variables are made in Keras's order: gamma, beta, then (batch norm) the moving ones,
 * which the caller has already put in inputs[1..]. */
static int build_normalization(nn_layer *l, nn_builder *b, nn_op kind, int *inputs, int ninputs, const norm_opts *o,
                               const nn_attr *attr, int *output) {
    int64_t channels = b->graph->nodes[inputs[0]].shape[b->graph->nodes[inputs[0]].ndim - 1];
    int gamma = -1, beta = -1, status = NN_OK;
    if (o->scale && (gamma = nn_builder_weight(b, l, "gamma", 1, &channels, &l->kernel_init, &l->kernel_reg, true)) < 0)
        return gamma;
    if (o->center && (beta = nn_builder_weight(b, l, "beta", 1, &channels, &l->bias_init, &l->bias_reg, true)) < 0)
        return beta;
    if (kind == NN_OP_BATCH_NORM || kind == NN_OP_BATCH_NORM_INFERENCE) {
        nn_regularizer_opts none = { 0 };
        inputs[1] = nn_builder_weight(b, l, "moving_mean", 1, &channels, &o->moving_mean_init, &none, false);
        if (inputs[1] < 0) return inputs[1];
        inputs[2] = nn_builder_weight(b, l, "moving_variance", 1, &channels, &o->moving_variance_init, &none, false);
        if (inputs[2] < 0) return inputs[2];
    }
    if (gamma >= 0) inputs[ninputs++] = gamma;
    int y = -1;
    status = nn_layer_op(b, l, kind, inputs, ninputs, attr, &y);
    if (!status && beta >= 0) status = nn_layer_op(b, l, NN_OP_BIAS_ADD, (int[]){ y, beta }, 2, NULL, &y);
    if (!status) *output = y;
    return status;
}

/* ------------------------------------------------------------------ LayerNormalization */

static int layer_norm_configure(nn_layer *l) {
    norm_opts o;
    bool rms_scaling = false;
    int status = cfg_norm_options(l, &o);
    if (!status) status = nn_cfg_bool(l, "rms_scaling", false, &rms_scaling);
    if (!status && rms_scaling) return bad_option(l, "rms_scaling", "False (RMS scaling is not supported)");
    return status;
}

static int layer_norm_build(nn_layer *l, nn_builder *b, int input, int *output) {
    norm_opts o;
    int64_t channels;
    int status = cfg_norm_options(l, &o);
    if (!status) status = feature_axis(l, b, input, &channels);
    if (status) return status;
    nn_attr attr = { .f = { o.epsilon } };
    int inputs[NN_MAX_OP_INPUTS] = { input };
    return build_normalization(l, b, NN_OP_LAYER_NORM, inputs, 1, &o, &attr, output);
}

const nn_layer_def nn_layer_layer_normalization = {
    .class_name = "LayerNormalization",
    .base_name = "layer_normalization",
    .positional = (const char *const[]){ "axis", "epsilon", "center", "scale", "rms_scaling", "beta_initializer",
                           "gamma_initializer", "beta_regularizer", "gamma_regularizer", "beta_constraint",
                           "gamma_constraint", NULL },
    .keys = (const char *const[]){ "axis", "epsilon", "center", "scale", "rms_scaling", "beta_initializer",
                           "gamma_initializer", "beta_regularizer", "gamma_regularizer", "beta_constraint",
                           "gamma_constraint", NULL },
    .configure = layer_norm_configure,
    .build = layer_norm_build,
    .propagates_mask = true,
};

/* ------------------------------------------------------------------ BatchNormalization */

static int batch_norm_options(nn_layer *l, norm_opts *o) {
    bool synchronized = false;
    int status = cfg_norm_options(l, o);
    if (!status) status = nn_cfg_number(l, "momentum", 0.99, &o->momentum);
    if (!status && !(o->momentum >= 0 && o->momentum <= 1)) return bad_option(l, "momentum", "in [0, 1]");
    if (!status) status = nn_cfg_initializer(l, "moving_mean_initializer", "zeros", &o->moving_mean_init);
    if (!status) status = nn_cfg_initializer(l, "moving_variance_initializer", "ones", &o->moving_variance_init);
    if (!status) status = nn_cfg_bool(l, "synchronized", false, &synchronized);
    return status;
}

static int batch_norm_configure(nn_layer *l) {
    norm_opts o;
    return batch_norm_options(l, &o);
}

/* The training graph normalizes with the batch's statistics and updates the moving ones; the
 * others use the moving statistics. */
static int batch_norm_build(nn_layer *l, nn_builder *b, int input, int *output) {
    norm_opts o;
    int64_t channels;
    int status = batch_norm_options(l, &o);
    if (!status) status = feature_axis(l, b, input, &channels);
    if (status) return status;
    nn_attr attr = { .f = { o.epsilon, o.momentum } };
    int inputs[NN_MAX_OP_INPUTS] = { input };
    return build_normalization(l, b, b->training ? NN_OP_BATCH_NORM : NN_OP_BATCH_NORM_INFERENCE, inputs, 3, &o, &attr,
                               output);
}

const nn_layer_def nn_layer_batch_normalization = {
    .class_name = "BatchNormalization",
    .base_name = "batch_normalization",
    .positional = (const char *const[]){ "axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                           "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer",
                           "gamma_regularizer", "beta_constraint", "gamma_constraint", "synchronized", NULL },
    .keys = (const char *const[]){ "axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                           "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer",
                           "gamma_regularizer", "beta_constraint", "gamma_constraint", "synchronized", NULL },
    .configure = batch_norm_configure,
    .build = batch_norm_build,
    .propagates_mask = true,
};

/* ------------------------------------------------------------------ GroupNormalization */

/* groups: an integer >= 1, or -1 for one group per channel (Keras's instance normalization). */
static int group_norm_options(nn_layer *l, norm_opts *o, int64_t *groups) {
    double value = 0;
    int status = nn_cfg_number(l, "groups", 32, &value);
    if (status) return status;
    if (value != floor(value) || (value < 1 && value != -1) || value > 1e9)
        return bad_option(l, "groups", "an integer >= 1, or -1 (one group per channel)");
    *groups = (int64_t)value;
    return cfg_norm_options(l, o);
}

static int group_norm_configure(nn_layer *l) {
    norm_opts o;
    int64_t groups;
    return group_norm_options(l, &o, &groups);
}

static int group_norm_build(nn_layer *l, nn_builder *b, int input, int *output) {
    norm_opts o;
    int64_t groups = 1, channels = 1;
    int status = group_norm_options(l, &o, &groups);
    if (!status) status = feature_axis(l, b, input, &channels);
    if (status) return status;
    if (groups == -1) groups = channels;
    if (channels % groups != 0) {
        char s[96];
        return nn_error(NN_ERR_SHAPE, "layer '%s' (%s): %lld groups do not divide the input's %lld channels (shape %s)",
                        l->name, l->def->class_name, (long long)groups, (long long)channels,
                        nn_node_shape_str(&b->graph->nodes[input], s, sizeof s));
    }
    nn_attr attr = { .f = { o.epsilon }, .shape = { groups } };
    int inputs[NN_MAX_OP_INPUTS] = { input };
    return build_normalization(l, b, NN_OP_GROUP_NORM, inputs, 1, &o, &attr, output);
}

#define GROUP_NORM_KEYS                                                                                    \
    (const char *const[]) {                                                                                \
        "groups", "axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",           \
            "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint", NULL           \
    }

const nn_layer_def nn_layer_group_normalization = {
    .class_name = "GroupNormalization",
    .base_name = "group_normalization",
    .positional = GROUP_NORM_KEYS,
    .keys = GROUP_NORM_KEYS,
    .configure = group_norm_configure,
    .build = group_norm_build,
    .propagates_mask = true,
};

/* ------------------------------------------------------------------ GaussianNoise */

static int cfg_seed(nn_layer *l) {
    int64_t seed;
    const nn_value *v = nn_value_get(&l->config, "seed");
    return v && v->type != NN_VALUE_NULL ? nn_cfg_int(l, "seed", 0, 0, &seed) : NN_OK;
}

static int gaussian_noise_configure(nn_layer *l) {
    const nn_value *v = nn_value_get(&l->config, "stddev");
    if (!v || v->type == NN_VALUE_NULL) return bad_option(l, "stddev", "given (a number >= 0)");
    int status = nn_cfg_number(l, "stddev", 0.0, &l->rate);
    if (!status && l->rate < 0) return bad_option(l, "stddev", ">= 0");
    return status ? status : cfg_seed(l);
}

/* Noise is added in training only; inference passes the input through. */
static int gaussian_noise_build(nn_layer *l, nn_builder *b, int input, int *output) {
    *output = input;
    if (!b->training || l->rate == 0) return NN_OK;
    nn_attr attr = { .f = { l->rate } };
    return nn_layer_op(b, l, NN_OP_GAUSSIAN_NOISE, &input, 1, &attr, output);
}

const nn_layer_def nn_layer_gaussian_noise = {
    .class_name = "GaussianNoise",
    .base_name = "gaussian_noise",
    .positional = (const char *const[]){ "stddev", "seed", NULL },
    .keys = (const char *const[]){ "stddev", "seed", NULL },
    .configure = gaussian_noise_configure,
    .build = gaussian_noise_build,
    .propagates_mask = true,
};

/* ------------------------------------------------------------------ SpatialDropout1D, SpatialDropout2D */

static int spatial_rank(const nn_layer *l) { return strstr(l->def->class_name, "1D") ? 1 : 2; }

static int spatial_dropout_configure(nn_layer *l) {
    int status = nn_cfg_number(l, "rate", 0.0, &l->rate);
    if (!status && (l->rate < 0 || l->rate >= 1)) return bad_option(l, "rate", "in [0, 1)");
    if (!status && spatial_rank(l) == 2) {
        const nn_value *v = nn_value_get(&l->config, "data_format");
        if (v && v->type != NN_VALUE_NULL && (v->type != NN_VALUE_STRING || strcmp(v->string, "channels_last") != 0))
            return bad_option(l, "data_format", "channels_last");
    }
    return status ? status : cfg_seed(l);
}

/* Whole channels are dropped in training only; inference passes the input through. */
static int spatial_dropout_build(nn_layer *l, nn_builder *b, int input, int *output) {
    static const char *const forms[] = { "", "(batch, steps, channels)", "(batch, height, width, channels)" };
    const nn_node *x = &b->graph->nodes[input];
    int rank = spatial_rank(l);
    if (!x->batched || x->ndim != rank + 2) {
        char s[96];
        return nn_error(NN_ERR_SHAPE, "layer '%s' (%s): expected an input of shape %s, got %s", l->name,
                        l->def->class_name, forms[rank], nn_node_shape_str(x, s, sizeof s));
    }
    *output = input;
    if (!b->training || l->rate == 0) return NN_OK;
    nn_attr attr = { .f = { l->rate } };
    return nn_layer_op(b, l, NN_OP_SPATIAL_DROPOUT, &input, 1, &attr, output);
}

const nn_layer_def nn_layer_spatial_dropout1d = {
    .class_name = "SpatialDropout1D",
    .base_name = "spatial_dropout1d",
    .positional = (const char *const[]){ "rate", "seed", NULL },
    .keys = (const char *const[]){ "rate", "seed", NULL },
    .configure = spatial_dropout_configure,
    .build = spatial_dropout_build,
};

const nn_layer_def nn_layer_spatial_dropout2d = {
    .class_name = "SpatialDropout2D",
    .base_name = "spatial_dropout2d",
    .positional = (const char *const[]){ "rate", "data_format", "seed", NULL },
    .keys = (const char *const[]){ "rate", "data_format", "seed", NULL },
    .configure = spatial_dropout_configure,
    .build = spatial_dropout_build,
};
