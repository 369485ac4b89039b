/* Convolution, pooling and spatial reshaping layers (channels_last, as Keras): Conv1D, Conv2D,
 * DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, MaxPooling1D/2D, AveragePooling1D/2D,
 * GlobalAveragePooling1D/2D, GlobalMaxPooling1D/2D, ZeroPadding2D, Cropping2D, UpSampling2D.
 * Each reads its Keras config and builds the spatial ops of src/ops/conv.c; the 1-D layers use
 * the same ops on (batch, steps, channels) values. A depthwise convolution is conv2d with one
 * group per input channel.
 *
 * The options live in the config (normalized by configure: tuples where Keras saves tuples);
 * build reads them back with the same functions, which then cannot fail. */
#include "model/model.h"
#include "ops/conv.h"

#include <stdio.h>
#include <strings.h>

enum padding { PADDING_VALID, PADDING_SAME, PADDING_CAUSAL };
static const char *const window_paddings[] = { "valid", "same", NULL };
static const char *const conv1d_paddings[] = { "valid", "same", "causal", NULL };

/* The spatial options of a layer, per spatial axis (rank of them). */
typedef struct window_opts {
    int rank;
    int64_t taps[2];      /* kernel_size, pool_size */
    int64_t strides[2];
    int64_t dilation[2];  /* dilation_rate (1 for pools) */
    int64_t groups;
    int padding;
    int64_t multiplier;         /* depth_multiplier */
    bool output_padding_given;  /* Conv2DTranspose's output_padding, when not None */
    int64_t output_padding[2];
} window_opts;

static int rank_of(const nn_layer *l) { return strstr(l->def->class_name, "1D") ? 1 : 2; }

/* ------------------------------------------------------------------ config helpers */

static int bad_option(nn_layer *l, const char *key, const char *expected) {
    return nn_error(NN_ERR_ARG, "layer '%s' (%s): '%s' must be %s", l->name, l->def->class_name, key, expected);
}

static bool is_count(const nn_value *v, int64_t min) {
    return v->type == NN_VALUE_NUMBER && v->number == floor(v->number) && v->number >= (double)min && v->number <= 1e9;
}

static int put_int_list(nn_layer *l, const char *key, int count, const int64_t *values) {
    nn_value list;
    int status = nn_value_list_new(&list);
    for (int i = 0; !status && i < count; i++) status = nn_value_list_push(&list, nn_value_number((double)values[i]));
    if (status) {
        nn_value_clear(&list);
        return status;
    }
    return nn_value_dict_set(&l->config, key, list);
}

/* One integer or a tuple of `rank` integers, each >= min; absent or None gives `fallback`
 * (NULL: the key is required). The config keeps the tuple. */
static int cfg_int_tuple(nn_layer *l, const char *key, int rank, const int64_t *fallback, int64_t min, int64_t *out) {
    const nn_value *v = nn_value_get(&l->config, key);
    bool ok = true;
    if (!v || v->type == NN_VALUE_NULL) {
        ok = fallback != NULL;
        for (int i = 0; ok && i < rank; i++) out[i] = fallback[i];
    } else if (v->type == NN_VALUE_LIST && v->count == rank) {
        for (int i = 0; ok && i < rank; i++)
            if ((ok = is_count(&v->items[i], min))) out[i] = (int64_t)v->items[i].number;
    } else if ((ok = is_count(v, min))) {
        for (int i = 0; i < rank; i++) out[i] = (int64_t)v->number;
    }
    if (!ok) {
        char expected[96];
        snprintf(expected, sizeof expected, "an integer >= %lld or a tuple of %d of them", (long long)min, rank);
        return bad_option(l, key, expected);
    }
    return put_int_list(l, key, rank, out);
}

/* A name among `choices` (any case, as Keras); the config keeps it in lower case. */
static int cfg_choice(nn_layer *l, const char *key, const char *fallback, const char *const *choices, int *index) {
    const nn_value *v = nn_value_get(&l->config, key);
    const char *name = !v || v->type == NN_VALUE_NULL ? fallback : v->type == NN_VALUE_STRING ? v->string : NULL;
    for (int i = 0; name && choices[i]; i++)
        if (strcasecmp(name, choices[i]) == 0) {
            nn_value s;
            *index = i;
            int status = nn_value_string(&s, choices[i]);
            return status ? status : nn_value_dict_set(&l->config, key, s);
        }
    char expected[96] = "one of";
    for (int i = 0; choices[i]; i++)
        snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s %s", i ? "," : "", choices[i]);
    return bad_option(l, key, expected);
}

/* Only channels_last is supported. */
static int cfg_data_format(nn_layer *l) {
    int index;
    return cfg_choice(l, "data_format", "channels_last", (const char *const[]){ "channels_last", NULL }, &index);
}

/* ZeroPadding2D's padding, Cropping2D's cropping: p, (h, w) or ((top, bottom), (left, right)),
 * into amounts[4] = { top, bottom, left, right }. The config keeps the tuple of pairs. */
static int cfg_pairs(nn_layer *l, const char *key, int64_t fallback, int64_t amounts[4]) {
    const nn_value *v = nn_value_get(&l->config, key);
    bool ok = true;
    if (!v || v->type == NN_VALUE_NULL) {
        for (int i = 0; i < 4; i++) amounts[i] = fallback;
    } else if (is_count(v, 0)) {
        for (int i = 0; i < 4; i++) amounts[i] = (int64_t)v->number;
    } else if (v->type == NN_VALUE_LIST && v->count == 2) {
        for (int axis = 0; ok && axis < 2; axis++) {
            const nn_value *p = &v->items[axis];
            if (is_count(p, 0)) {
                amounts[2 * axis] = amounts[2 * axis + 1] = (int64_t)p->number;
            } else {
                ok = p->type == NN_VALUE_LIST && p->count == 2 && is_count(&p->items[0], 0) && is_count(&p->items[1], 0);
                if (ok) amounts[2 * axis] = (int64_t)p->items[0].number, amounts[2 * axis + 1] = (int64_t)p->items[1].number;
            }
        }
    } else {
        ok = false;
    }
    if (!ok) return bad_option(l, key, "an integer >= 0, a tuple of 2 of them, or a tuple of 2 (before, after) pairs");
    nn_value pairs, pair = { NN_VALUE_NULL };
    int status = nn_value_list_new(&pairs);
    for (int axis = 0; !status && axis < 2; axis++) {
        status = nn_value_list_new(&pair);
        for (int i = 0; !status && i < 2; i++) status = nn_value_list_push(&pair, nn_value_number((double)amounts[2 * axis + i]));
        if (!status) status = nn_value_list_push(&pairs, pair);
        else nn_value_clear(&pair);
    }
    if (status) {
        nn_value_clear(&pairs);
        return status;
    }
    return nn_value_dict_set(&l->config, key, pairs);
}

/* ------------------------------------------------------------------ build helpers */

static const char *const input_forms[] = { "", "(batch, steps, channels)", "(batch, height, width, channels)" };

/* The input as the layer expects it: (batch, steps, channels) or (batch, height, width, channels). */
static int spatial_input(nn_layer *l, nn_builder *b, int input, const nn_node **x) {
    *x = &b->graph->nodes[input];
    int rank = rank_of(l);
    if ((*x)->ndim == rank + 2 && (*x)->batched) return NN_OK;
    char shape[96];
    return nn_error(NN_ERR_SHAPE, "layer '%s' (%s): expected an input of shape %s, got %s", l->name,
                    l->def->class_name, input_forms[rank], nn_node_shape_str(*x, shape, sizeof shape));
}

/* The attribute of a window over x's last `rank` spatial axes: strides, padding resolved to
 * amounts, and `extent` (dilation for conv2d, the pool size for the pools). */
static nn_attr window_attr(const nn_node *x, const window_opts *o, const int64_t *extent) {
    nn_attr a = { .shape = { 1, 1, 1, 1, 0, 0, 0, 0 } };
    for (int i = 0; i < o->rank; i++) {
        int axis = 2 - o->rank + i; /* 0: height, 1: width */
        int64_t size = x->shape[x->ndim - 1 - o->rank + i], span = o->dilation[i] * (o->taps[i] - 1) + 1;
        int64_t before = 0, after = 0;
        if (o->padding == PADDING_SAME) nn_same_padding(size, span, o->strides[i], &before, &after);
        else if (o->padding == PADDING_CAUSAL) before = span - 1;
        a.shape[NN_ATTR_STRIDE_H + axis] = o->strides[i];
        a.shape[NN_ATTR_EXTENT_H + axis] = extent[i];
        a.shape[NN_ATTR_PAD_TOP + 2 * axis] = before;
        a.shape[NN_ATTR_PAD_TOP + 2 * axis + 1] = after;
    }
    return a;
}

/* ------------------------------------------------------------------ Conv1D, Conv2D */

/* kernel_size, strides, padding (Conv1D's may be causal), data_format and dilation_rate. */
static int cfg_window(nn_layer *l, window_opts *o) {
    int rank = o->rank = rank_of(l);
    const int64_t ones[2] = { 1, 1 };
    o->groups = o->multiplier = 1;
    o->output_padding_given = false;
    int status = cfg_int_tuple(l, "kernel_size", rank, NULL, 1, o->taps);
    if (!status) status = cfg_int_tuple(l, "strides", rank, ones, 1, o->strides);
    if (!status) status = cfg_choice(l, "padding", "valid", rank == 1 ? conv1d_paddings : window_paddings, &o->padding);
    if (!status) status = cfg_data_format(l);
    if (!status) status = cfg_int_tuple(l, "dilation_rate", rank, ones, 1, o->dilation);
    return status;
}

/* Keras's Conv and Conv2DTranspose refuse strides and dilation both above 1 (the depthwise
 * layers take them). */
static int strides_without_dilation(nn_layer *l, const window_opts *o) {
    for (int i = 0; i < o->rank; i++)
        if (o->strides[i] > 1 && o->dilation[i] > 1)
            return nn_error(NN_ERR_ARG, "layer '%s' (%s): strides > 1 are not supported together with dilation_rate > 1",
                            l->name, l->def->class_name);
    return NN_OK;
}

static int conv_options(nn_layer *l, window_opts *o) {
    int status = nn_cfg_int(l, "filters", 0, 1, &l->units);
    if (!status) status = cfg_window(l, o);
    if (!status) status = nn_cfg_int(l, "groups", 1, 1, &o->groups);
    if (!status) status = strides_without_dilation(l, o);
    if (status) return status;
    if (l->units % o->groups != 0)
        return nn_error(NN_ERR_ARG, "layer '%s' (%s): filters (%lld) must be a multiple of groups (%lld)", l->name,
                        l->def->class_name, (long long)l->units, (long long)o->groups);
    return NN_OK;
}

static int conv_configure(nn_layer *l) {
    window_opts o;
    int status = conv_options(l, &o);
    return status ? status : nn_cfg_kernel_options(l);
}

static int conv_build(nn_layer *l, nn_builder *b, int input, int *output) {
    window_opts o;
    const nn_node *x;
    int status = conv_options(l, &o);
    if (!status) status = spatial_input(l, b, input, &x);
    if (status) return status;
    int64_t channels = x->shape[x->ndim - 1];
    if (channels % o.groups != 0) {
        char shape[96];
        return nn_error(NN_ERR_SHAPE, "layer '%s' (%s): the input's %lld channels (shape %s) are not a multiple of groups (%lld)",
                        l->name, l->def->class_name, (long long)channels, nn_node_shape_str(x, shape, sizeof shape),
                        (long long)o.groups);
    }
    int64_t kernel_shape[4];
    memcpy(kernel_shape, o.taps, (size_t)o.rank * sizeof *kernel_shape);
    kernel_shape[o.rank] = channels / o.groups;
    kernel_shape[o.rank + 1] = l->units;
    nn_attr attr = window_attr(x, &o, o.dilation);
    int kernel = nn_builder_weight(b, l, "kernel", o.rank + 2, kernel_shape, &l->kernel_init, &l->kernel_reg, true);
    if (kernel < 0) return kernel;
    int bias = l->use_bias ? nn_builder_weight(b, l, "bias", 1, &l->units, &l->bias_init, &l->bias_reg, true) : 0;
    if (bias < 0) return bias;
    /* The activation is part of the op when its derivative follows from the output alone, as
     * Dense's (relu then goes with the bias into the GEMM's store). */
    const nn_activation_def *act = l->activation;
    bool fuse = act && act->scale_by_derivative;
    attr.ptr = fuse ? act : NULL;
    int y;
    status = nn_layer_op(b, l, NN_OP_CONV2D, (int[]){ input, kernel, bias }, l->use_bias ? 3 : 2, &attr, &y);
    if (status || fuse) {
        *output = y;
        return status;
    }
    return nn_layer_activate(b, l, y, output);
}

#define CONV_KEYS                                                                                         \
    (const char *const[]) {                                                                               \
        "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",         \
            "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",     \
            "bias_regularizer", NULL                                                                      \
    }

const nn_layer_def nn_layer_conv1d = {
    .class_name = "Conv1D",
    .base_name = "conv1d",
    .positional = CONV_KEYS,
    .keys = CONV_KEYS,
    .configure = conv_configure,
    .build = conv_build,
};
const nn_layer_def nn_layer_conv2d = {
    .class_name = "Conv2D",
    .base_name = "conv2d",
    .positional = CONV_KEYS,
    .keys = CONV_KEYS,
    .configure = conv_configure,
    .build = conv_build,
};

/* ------------------------------------------------------------------ DepthwiseConv2D, SeparableConv2D */

static bool is_separable(const nn_layer *l) { return strncmp(l->def->class_name, "Separable", 9) == 0; }

/* SeparableConv2D's filters, the window, depth_multiplier; the kernel options of the depthwise
 * kernel (SeparableConv2D's pointwise one: pointwise_options). */
static int depthwise_options(nn_layer *l, window_opts *o) {
    int status = is_separable(l) ? nn_cfg_int(l, "filters", 0, 1, &l->units) : NN_OK;
    if (!status) status = cfg_window(l, o);
    if (!status) status = nn_cfg_int(l, "depth_multiplier", 1, 1, &o->multiplier);
    return status;
}

static int pointwise_options(nn_layer *l, nn_initializer_opts *init, nn_regularizer_opts *reg) {
    int status = nn_cfg_initializer(l, "pointwise_initializer", "glorot_uniform", init);
    return status ? status : nn_cfg_regularizer(l, "pointwise_regularizer", reg);
}

static int depthwise_configure(nn_layer *l) {
    window_opts o;
    nn_initializer_opts init;
    nn_regularizer_opts reg;
    int status = depthwise_options(l, &o);
    if (!status) status = nn_cfg_named_kernel_options(l, "depthwise");
    if (!status && is_separable(l)) status = pointwise_options(l, &init, &reg);
    return status;
}

/* The depthwise convolution of x by `kernel` (kh, kw, channels, multiplier), Keras's layout: a
 * conv2d with one group per channel, whose kernel (kh, kw, 1, channels * multiplier) holds the
 * same values in the same order (output channel c * multiplier + m reads input channel c). */
static int depthwise_conv(nn_layer *l, nn_builder *b, int input, int kernel, int bias, const window_opts *o, int *y) {
    const nn_node *x = &b->graph->nodes[input];
    int64_t channels = x->shape[x->ndim - 1];
    nn_attr flat = { .ndim = 4, .shape = { o->taps[0], o->taps[1], 1, channels * o->multiplier } };
    nn_attr attr = window_attr(x, o, o->dilation);
    int grouped;
    int status = nn_layer_op(b, l, NN_OP_RESHAPE, &kernel, 1, &flat, &grouped);
    return status ? status : nn_layer_op(b, l, NN_OP_CONV2D, (int[]){ input, grouped, bias }, bias ? 3 : 2, &attr, y);
}

/* DepthwiseConv2D: kernel (kh, kw, channels, multiplier) [+ bias (channels * multiplier)].
 * SeparableConv2D: depthwise_kernel, then pointwise_kernel (1, 1, channels * multiplier,
 * filters) [+ bias (filters)]. The weights are made in Keras's order before any op. */
static int depthwise_build(nn_layer *l, nn_builder *b, int input, int *output) {
    window_opts o;
    const nn_node *x;
    nn_initializer_opts pointwise_init;
    nn_regularizer_opts pointwise_reg;
    bool separable = is_separable(l);
    int status = depthwise_options(l, &o);
    if (!status && separable) status = pointwise_options(l, &pointwise_init, &pointwise_reg);
    if (!status) status = spatial_input(l, b, input, &x);
    if (status) return status;
    int64_t channels = x->shape[x->ndim - 1], depth = channels * o.multiplier, filters = separable ? l->units : depth;
    int64_t depthwise_shape[4] = { o.taps[0], o.taps[1], channels, o.multiplier };
    int kernel = nn_builder_weight(b, l, separable ? "depthwise_kernel" : "kernel", 4, depthwise_shape, &l->kernel_init,
                                   &l->kernel_reg, true);
    if (kernel < 0) return kernel;
    int pointwise = separable ? nn_builder_weight(b, l, "pointwise_kernel", 4, (int64_t[]){ 1, 1, depth, filters },
                                                  &pointwise_init, &pointwise_reg, true)
                              : 0;
    if (pointwise < 0) return pointwise;
    int bias = l->use_bias ? nn_builder_weight(b, l, "bias", 1, &filters, &l->bias_init, &l->bias_reg, true) : 0;
    if (bias < 0) return bias;
    int y;
    status = depthwise_conv(l, b, input, kernel, separable ? 0 : bias, &o, &y);
    if (!status && separable) {
        nn_attr pointwise_attr = { .shape = { 1, 1, 1, 1, 0, 0, 0, 0 } };
        status = nn_layer_op(b, l, NN_OP_CONV2D, (int[]){ y, pointwise, bias }, bias ? 3 : 2, &pointwise_attr, &y);
    }
    return status ? status : nn_layer_activate(b, l, y, output);
}

#define DEPTHWISE_KEYS                                                                                     \
    (const char *const[]) {                                                                                \
        "kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate", "activation", \
            "use_bias", "depthwise_initializer", "bias_initializer", "depthwise_regularizer", "bias_regularizer", \
            NULL                                                                                           \
    }
#define SEPARABLE_KEYS                                                                                     \
    (const char *const[]) {                                                                                \
        "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "depth_multiplier", \
            "activation", "use_bias", "depthwise_initializer", "pointwise_initializer", "bias_initializer", \
            "depthwise_regularizer", "pointwise_regularizer", "bias_regularizer", NULL                     \
    }

const nn_layer_def nn_layer_depthwise_conv2d = {
    .class_name = "DepthwiseConv2D",
    .base_name = "depthwise_conv2d",
    .positional = DEPTHWISE_KEYS,
    .keys = DEPTHWISE_KEYS,
    .configure = depthwise_configure,
    .build = depthwise_build,
};
const nn_layer_def nn_layer_separable_conv2d = {
    .class_name = "SeparableConv2D",
    .base_name = "separable_conv2d",
    .positional = SEPARABLE_KEYS,
    .keys = SEPARABLE_KEYS,
    .configure = depthwise_configure,
    .build = depthwise_build,
};

/* ------------------------------------------------------------------ Conv2DTranspose */

/* output_padding: None, or an integer or a tuple of 2, each below its stride (Keras's rule).
 * The config keeps None or the tuple. */
static int cfg_output_padding(nn_layer *l, window_opts *o) {
    const nn_value *v = nn_value_get(&l->config, "output_padding");
    if (!v || v->type == NN_VALUE_NULL)
        return v ? NN_OK : nn_value_dict_set(&l->config, "output_padding", (nn_value){ NN_VALUE_NULL });
    int status = cfg_int_tuple(l, "output_padding", o->rank, NULL, 0, o->output_padding);
    for (int i = 0; !status && i < o->rank; i++)
        if (o->output_padding[i] >= o->strides[i])
            return bad_option(l, "output_padding", "below strides in every dimension");
    o->output_padding_given = true;
    return status;
}

/* TensorFlow's transposed convolutions need dilation_rate 1 on the CPU, so nn (checked
 * against them) takes no other. */
static int transpose_options(nn_layer *l, window_opts *o) {
    int status = nn_cfg_int(l, "filters", 0, 1, &l->units);
    if (!status) status = cfg_window(l, o);
    if (!status) status = cfg_output_padding(l, o);
    for (int i = 0; !status && i < o->rank; i++)
        if (o->dilation[i] != 1) return bad_option(l, "dilation_rate", "1 (dilated transposed convolutions are not supported)");
    return status;
}

static int transpose_configure(nn_layer *l) {
    window_opts o;
    int status = transpose_options(l, &o);
    return status ? status : nn_cfg_kernel_options(l);
}

/* Keras's output size (deconv_output_length) along each axis, and the padding of the conv whose
 * input gradient gives it: valid none, same TensorFlow's for that conv; the bottom (right)
 * amount closes (in - 1) * stride + span - top - bottom = out, negative for rows past the
 * conv's last window. The conv must map the output back onto the input's size. */
static int transpose_attr(nn_layer *l, const nn_node *x, const window_opts *o, nn_attr *a) {
    *a = (nn_attr){ .shape = { 1, 1, 1, 1, 0, 0, 0, 0 } };
    for (int axis = 0; axis < 2; axis++) {
        int64_t in = x->shape[1 + axis], stride = o->strides[axis], span = o->taps[axis], pad = o->output_padding[axis];
        bool same = o->padding == PADDING_SAME;
        int64_t out = !o->output_padding_given ? (same ? in * stride : (in - 1) * stride + (span > stride ? span : stride))
                                               : (in - 1) * stride + (same ? span % 2 : span) + pad;
        int64_t top = 0, bottom = 0;
        if (same) nn_same_padding(out, span, stride, &top, &bottom);
        if (same && (out + stride - 1) / stride != in) {
            char shape[96];
            return nn_error(NN_ERR_SHAPE, "layer '%s' (%s): output_padding %lld with strides %lld and padding 'same' gives "
                            "%lld positions, which do not convolve back to the input's %lld (input shape %s)", l->name,
                            l->def->class_name, (long long)pad, (long long)stride, (long long)out, (long long)in,
                            nn_node_shape_str(x, shape, sizeof shape));
        }
        a->shape[NN_ATTR_STRIDE_H + axis] = stride;
        a->shape[NN_ATTR_PAD_TOP + 2 * axis] = top;
        a->shape[NN_ATTR_PAD_TOP + 2 * axis + 1] = (in - 1) * stride + span - out - top;
    }
    return NN_OK;
}

static int transpose_build(nn_layer *l, nn_builder *b, int input, int *output) {
    window_opts o;
    const nn_node *x;
    nn_attr attr;
    int status = transpose_options(l, &o);
    if (!status) status = spatial_input(l, b, input, &x);
    if (!status) status = transpose_attr(l, x, &o, &attr);
    if (status) return status;
    int64_t kernel_shape[4] = { o.taps[0], o.taps[1], l->units, x->shape[x->ndim - 1] };
    int kernel = nn_builder_weight(b, l, "kernel", 4, kernel_shape, &l->kernel_init, &l->kernel_reg, true);
    if (kernel < 0) return kernel;
    int bias = l->use_bias ? nn_builder_weight(b, l, "bias", 1, &l->units, &l->bias_init, &l->bias_reg, true) : 0;
    if (bias < 0) return bias;
    int y;
    status = nn_layer_op(b, l, NN_OP_CONV2D_TRANSPOSE, (int[]){ input, kernel, bias }, l->use_bias ? 3 : 2, &attr, &y);
    return status ? status : nn_layer_activate(b, l, y, output);
}

#define TRANSPOSE_KEYS                                                                                     \
    (const char *const[]) {                                                                                \
        "filters", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate",   \
            "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",     \
            "bias_regularizer", NULL                                                                      \
    }

const nn_layer_def nn_layer_conv2d_transpose = {
    .class_name = "Conv2DTranspose",
    .base_name = "conv2d_transpose",
    .positional = TRANSPOSE_KEYS,
    .keys = TRANSPOSE_KEYS,
    .configure = transpose_configure,
    .build = transpose_build,
};

/* ------------------------------------------------------------------ pooling */

static bool is_max_pool(const nn_layer *l) { return strstr(l->def->class_name, "Max") != NULL; }

static int pool_options(nn_layer *l, window_opts *o) {
    int rank = o->rank = rank_of(l);
    const int64_t twos[2] = { 2, 2 };
    o->dilation[0] = o->dilation[1] = 1;
    o->groups = 1;
    int status = cfg_int_tuple(l, "pool_size", rank, twos, 1, o->taps);
    if (!status) status = cfg_int_tuple(l, "strides", rank, o->taps, 1, o->strides);
    if (!status) status = cfg_choice(l, "padding", "valid", window_paddings, &o->padding);
    if (!status) status = cfg_data_format(l);
    return status;
}

static int pool_configure(nn_layer *l) {
    window_opts o;
    return pool_options(l, &o);
}

static int pool_build(nn_layer *l, nn_builder *b, int input, int *output) {
    window_opts o;
    const nn_node *x;
    int status = pool_options(l, &o);
    if (!status) status = spatial_input(l, b, input, &x);
    if (status) return status;
    nn_attr attr = window_attr(x, &o, o.taps);
    return nn_layer_op(b, l, is_max_pool(l) ? NN_OP_MAX_POOL2D : NN_OP_AVG_POOL2D, &input, 1, &attr, output);
}

#define POOL_KEYS (const char *const[]){ "pool_size", "strides", "padding", "data_format", NULL }

const nn_layer_def nn_layer_max_pooling1d = {
    .class_name = "MaxPooling1D",
    .base_name = "max_pooling1d",
    .positional = POOL_KEYS,
    .keys = POOL_KEYS,
    .configure = pool_configure,
    .build = pool_build,
};
const nn_layer_def nn_layer_max_pooling2d = {
    .class_name = "MaxPooling2D",
    .base_name = "max_pooling2d",
    .positional = POOL_KEYS,
    .keys = POOL_KEYS,
    .configure = pool_configure,
    .build = pool_build,
};
const nn_layer_def nn_layer_average_pooling1d = {
    .class_name = "AveragePooling1D",
    .base_name = "average_pooling1d",
    .positional = POOL_KEYS,
    .keys = POOL_KEYS,
    .configure = pool_configure,
    .build = pool_build,
};
const nn_layer_def nn_layer_average_pooling2d = {
    .class_name = "AveragePooling2D",
    .base_name = "average_pooling2d",
    .positional = POOL_KEYS,
    .keys = POOL_KEYS,
    .configure = pool_configure,
    .build = pool_build,
};

/* ------------------------------------------------------------------ global pooling */

static int global_pool_configure(nn_layer *l) {
    bool keepdims;
    int status = cfg_data_format(l);
    return status ? status : nn_cfg_bool(l, "keepdims", false, &keepdims);
}

/* One window over the whole of each channel; without keepdims the unit axes are dropped. */
static int global_pool_build(nn_layer *l, nn_builder *b, int input, int *output) {
    bool keepdims = false;
    const nn_node *x;
    int status = nn_cfg_bool(l, "keepdims", false, &keepdims);
    if (!status) status = spatial_input(l, b, input, &x);
    if (status) return status;
    window_opts o = { .rank = rank_of(l), .strides = { 1, 1 }, .dilation = { 1, 1 }, .padding = PADDING_VALID };
    for (int i = 0; i < o.rank; i++) o.taps[i] = x->shape[x->ndim - 1 - o.rank + i];
    nn_attr attr = window_attr(x, &o, o.taps);
    int64_t channels = x->shape[x->ndim - 1];
    int pooled, mask = x->mask, rank = x->ndim;
    if (o.rank == 1 && !is_max_pool(l) && mask >= 0) /* Keras averages over the kept steps */
        status = nn_layer_op(b, l, NN_OP_MASKED_AVERAGE, (int[]){ input, mask }, 2, NULL, &pooled);
    else
        status = nn_layer_op(b, l, is_max_pool(l) ? NN_OP_MAX_POOL2D : NN_OP_AVG_POOL2D, &input, 1, &attr, &pooled);
    /* the pools keep the rank, the masked average drops the steps axis */
    if (status || keepdims == (b->graph->nodes[pooled].ndim == rank)) {
        *output = pooled;
        return status;
    }
    nn_attr shaped = { .ndim = keepdims ? o.rank + 1 : 1, .shape = { keepdims ? 1 : channels, channels } };
    return nn_layer_op(b, l, NN_OP_RESHAPE, &pooled, 1, &shaped, output);
}

#define GLOBAL_POOL_KEYS (const char *const[]){ "data_format", "keepdims", NULL }

const nn_layer_def nn_layer_global_average_pooling1d = {
    .class_name = "GlobalAveragePooling1D",
    .base_name = "global_average_pooling1d",
    .positional = GLOBAL_POOL_KEYS,
    .keys = GLOBAL_POOL_KEYS,
    .configure = global_pool_configure,
    .build = global_pool_build,
};
const nn_layer_def nn_layer_global_average_pooling2d = {
    .class_name = "GlobalAveragePooling2D",
    .base_name = "global_average_pooling2d",
    .positional = GLOBAL_POOL_KEYS,
    .keys = GLOBAL_POOL_KEYS,
    .configure = global_pool_configure,
    .build = global_pool_build,
};
const nn_layer_def nn_layer_global_max_pooling1d = {
    .class_name = "GlobalMaxPooling1D",
    .base_name = "global_max_pooling1d",
    .positional = GLOBAL_POOL_KEYS,
    .keys = GLOBAL_POOL_KEYS,
    .configure = global_pool_configure,
    .build = global_pool_build,
};
const nn_layer_def nn_layer_global_max_pooling2d = {
    .class_name = "GlobalMaxPooling2D",
    .base_name = "global_max_pooling2d",
    .positional = GLOBAL_POOL_KEYS,
    .keys = GLOBAL_POOL_KEYS,
    .configure = global_pool_configure,
    .build = global_pool_build,
};

/* ------------------------------------------------------------------ ZeroPadding2D, Cropping2D */

static bool is_cropping(const nn_layer *l) { return strncmp(l->def->class_name, "Cropping", 8) == 0; }

static int pad_options(nn_layer *l, int64_t amounts[4]) {
    int status = cfg_pairs(l, is_cropping(l) ? "cropping" : "padding", is_cropping(l) ? 0 : 1, amounts);
    return status ? status : cfg_data_format(l);
}

static int pad_configure(nn_layer *l) {
    int64_t amounts[4];
    return pad_options(l, amounts);
}

/* Both are pad2d: cropping pads by negative amounts. */
static int pad_build(nn_layer *l, nn_builder *b, int input, int *output) {
    int64_t amounts[4];
    const nn_node *x;
    int status = pad_options(l, amounts);
    if (!status) status = spatial_input(l, b, input, &x);
    if (status) return status;
    nn_attr attr = { 0 };
    for (int i = 0; i < 4; i++) attr.shape[NN_ATTR_PAD_TOP + i] = is_cropping(l) ? -amounts[i] : amounts[i];
    return nn_layer_op(b, l, NN_OP_PAD2D, &input, 1, &attr, output);
}

const nn_layer_def nn_layer_zero_padding2d = {
    .class_name = "ZeroPadding2D",
    .base_name = "zero_padding2d",
    .positional = (const char *const[]){ "padding", "data_format", NULL },
    .keys = (const char *const[]){ "padding", "data_format", NULL },
    .configure = pad_configure,
    .build = pad_build,
};
const nn_layer_def nn_layer_cropping2d = {
    .class_name = "Cropping2D",
    .base_name = "cropping2d",
    .positional = (const char *const[]){ "cropping", "data_format", NULL },
    .keys = (const char *const[]){ "cropping", "data_format", NULL },
    .configure = pad_configure,
    .build = pad_build,
};

/* ------------------------------------------------------------------ UpSampling2D */

static int upsampling_options(nn_layer *l, int64_t size[2]) {
    int interpolation;
    int status = cfg_int_tuple(l, "size", 2, (const int64_t[]){ 2, 2 }, 1, size);
    if (!status) status = cfg_data_format(l);
    if (!status) status = cfg_choice(l, "interpolation", "nearest", (const char *const[]){ "nearest", NULL }, &interpolation);
    return status;
}

static int upsampling_configure(nn_layer *l) {
    int64_t size[2];
    return upsampling_options(l, size);
}

static int upsampling_build(nn_layer *l, nn_builder *b, int input, int *output) {
    int64_t size[2];
    const nn_node *x;
    int status = upsampling_options(l, size);
    if (!status) status = spatial_input(l, b, input, &x);
    if (status) return status;
    nn_attr attr = { .shape = { [NN_ATTR_EXTENT_H] = size[0], [NN_ATTR_EXTENT_W] = size[1] } };
    return nn_layer_op(b, l, NN_OP_UPSAMPLE2D, &input, 1, &attr, output);
}

const nn_layer_def nn_layer_up_sampling2d = {
    .class_name = "UpSampling2D",
    .base_name = "up_sampling2d",
    .positional = (const char *const[]){ "size", "data_format", "interpolation", NULL },
    .keys = (const char *const[]){ "size", "data_format", "interpolation", NULL },
    .configure = upsampling_configure,
    .build = upsampling_build,
};
