/* Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate) and the
 * reordering layers Permute and RepeatVector. Merge layers take two or more inputs and build
 * pairwise ops. */
#include "model/model.h"

#include <stdio.h>

static int merge_inputs(nn_layer *l, int ninputs, int min, int max) {
    if (ninputs >= min && ninputs <= max) return NN_OK;
    if (min == max)
        return nn_error(NN_ERR_ARG, "layer '%s' (%s) must be called on exactly %d inputs, got %d", l->name, l->def->class_name,
                        min, ninputs);
    return nn_error(NN_ERR_ARG, "layer '%s' (%s) must be called on a list of at least %d inputs, got %d", l->name,
                    l->def->class_name, min, ninputs);
}

static int no_options(nn_layer *l) {
    (void)l;
    return NN_OK;
}

/* ---- elementwise merges: a chain of one binary op over the inputs */

static nn_op merge_op(const nn_layer *l, nn_attr *attr) {
    const nn_layer_def *d = l->def;
    *attr = (nn_attr){ 0 };
    if (d == &nn_layer_subtract) return NN_OP_SUB;
    if (d == &nn_layer_multiply) return NN_OP_MUL;
    if (d == &nn_layer_maximum || d == &nn_layer_minimum) {
        attr->f[0] = d == &nn_layer_maximum ? 1.0 : -1.0;
        return NN_OP_EXTREMUM;
    }
    return NN_OP_ADD; /* Add, Average */
}

static int elementwise_build(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs) {
    bool pair_only = l->def == &nn_layer_subtract;
    int status = merge_inputs(l, ninputs, 2, pair_only ? 2 : NN_MAX_LAYER_IO);
    if (status) return status;
    nn_attr attr;
    nn_op kind = merge_op(l, &attr);
    int y = inputs[0];
    for (int i = 1; i < ninputs && y >= 0; i++) y = nn_graph_op(b->graph, kind, (int[]){ y, inputs[i] }, 2, &attr, l->name);
    if (y >= 0 && l->def == &nn_layer_average) {
        nn_attr scale = { .f = { 1.0 / ninputs, 0.0 } };
        y = nn_graph_op(b->graph, NN_OP_SCALE_SHIFT, &y, 1, &scale, l->name);
    }
    if (y < 0) return y;
    b->graph->nodes[y].mask = b->graph->nodes[inputs[0]].mask;
    outputs[0] = y;
    return 1;
}

#define MERGE_LAYER(symbol, cls, base)                                                                              \
    const nn_layer_def symbol = { .class_name = cls, .base_name = base, .positional = (const char *const[]){ NULL }, \
                                  .keys = (const char *const[]){ NULL }, .configure = no_options,                \
                                  .build_multi = elementwise_build }

MERGE_LAYER(nn_layer_add, "Add", "add");
MERGE_LAYER(nn_layer_subtract, "Subtract", "subtract");
MERGE_LAYER(nn_layer_multiply, "Multiply", "multiply");
MERGE_LAYER(nn_layer_average, "Average", "average");
MERGE_LAYER(nn_layer_maximum, "Maximum", "maximum");
MERGE_LAYER(nn_layer_minimum, "Minimum", "minimum");

/* ---- Concatenate(axis=-1) */

static int concatenate_configure(nn_layer *l) {
    int64_t axis;
    int status = nn_cfg_int(l, "axis", -1, -(NN_MAX_DIMS - 1), &axis);
    if (!status && axis == 0)
        status = nn_error(NN_ERR_ARG, "layer '%s' (Concatenate): axis 0 is the batch axis; concatenate along another", l->name);
    l->axis = (int)axis;
    return status;
}

static int concatenate_build(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs) {
    int status = merge_inputs(l, ninputs, 2, NN_MAX_LAYER_IO);
    if (status) return status;
    int rank = b->graph->nodes[inputs[0]].ndim, axis = l->axis < 0 ? rank + l->axis : l->axis;
    if (axis < 1 || axis >= rank)
        return nn_error(NN_ERR_SHAPE, "layer '%s' (Concatenate): axis %d is outside the inputs' %d axes", l->name, l->axis, rank);
    nn_attr attr = { .ndim = axis };
    /* ops take at most NN_MAX_OP_INPUTS inputs: longer lists concatenate in steps */
    int y = inputs[0], done = 1;
    while (done < ninputs && y >= 0) {
        int group[NN_MAX_OP_INPUTS] = { y }, count = 1;
        while (count < NN_MAX_OP_INPUTS && done < ninputs) group[count++] = inputs[done++];
        y = nn_graph_op(b->graph, NN_OP_CONCAT, group, count, &attr, l->name);
    }
    if (y < 0) return y;
    outputs[0] = y;
    return 1;
}

const nn_layer_def nn_layer_concatenate = {
    .class_name = "Concatenate",
    .base_name = "concatenate",
    .positional = (const char *const[]){ "axis", NULL },
    .keys = (const char *const[]){ "axis", NULL },
    .configure = concatenate_configure,
    .build_multi = concatenate_build,
};

/* ---- Permute(dims) */

static int permute_configure(nn_layer *l) {
    int status = nn_cfg_shape(l, "dims", &l->target_ndim, l->target_shape, true);
    for (int i = 0; !status && i < l->target_ndim; i++)
        if (l->target_shape[i] < 1)
            status = nn_error(NN_ERR_ARG, "layer '%s' (Permute): dims must be axis numbers from 1", l->name);
    return status;
}

static int permute_build(nn_layer *l, nn_builder *b, int input, int *output) {
    nn_attr attr = { .ndim = l->target_ndim };
    memcpy(attr.shape, l->target_shape, sizeof attr.shape);
    *output = nn_graph_op(b->graph, NN_OP_PERMUTE, &input, 1, &attr, l->name);
    return *output < 0 ? *output : NN_OK;
}

const nn_layer_def nn_layer_permute = {
    .class_name = "Permute",
    .base_name = "permute",
    .positional = (const char *const[]){ "dims", NULL },
    .keys = (const char *const[]){ "dims", NULL },
    .configure = permute_configure,
    .build = permute_build,
};

/* ---- RepeatVector(n) */

static int repeat_configure(nn_layer *l) { return nn_cfg_int(l, "n", 1, 1, &l->repeats); }

static int repeat_build(nn_layer *l, nn_builder *b, int input, int *output) {
    nn_attr attr = { .shape = { l->repeats } };
    *output = nn_graph_op(b->graph, NN_OP_REPEAT, &input, 1, &attr, l->name);
    return *output < 0 ? *output : NN_OK;
}

const nn_layer_def nn_layer_repeat_vector = {
    .class_name = "RepeatVector",
    .base_name = "repeat_vector",
    .positional = (const char *const[]){ "n", NULL },
    .keys = (const char *const[]){ "n", NULL },
    .configure = repeat_configure,
    .build = repeat_build,
};
