/* The functional API: InputLayer, calling layers on symbols, and models over the graph of
 * calls that leads from the inputs to the outputs. */
#include "model/model.h"

#include <stdio.h>

/* ------------------------------------------------------------ InputLayer */

static int input_fail(nn_layer *l, const char *what) {
    return nn_error(NN_ERR_ARG, "layer '%s' (InputLayer): %s", l->name, what);
}

/* Dimensions from items [first, count) of a list: positive integers. */
static int input_dims(nn_layer *l, const nn_value *list, int first) {
    if (list->count - first < 1 || list->count - first > NN_MAX_DIMS - 1)
        return input_fail(l, "the shape needs 1 to 7 dimensions besides the batch");
    for (int i = first; i < list->count; i++) {
        const nn_value *d = &list->items[i];
        if (d->type != NN_VALUE_NUMBER || d->number < 1 || d->number != floor(d->number) || d->number > 1e12)
            return input_fail(l, "every dimension must be known and positive (None is only allowed for the batch)");
        l->symbolic_shape[i - first] = (int64_t)d->number;
    }
    l->symbolic_ndim = list->count - first;
    return NN_OK;
}

/* Keras 3 writes {"batch_shape": [null, 28, 28, 1]}; "shape" (without the batch) is read too,
 * and batch_shape is then added so the saved config is Keras's. */
static int input_configure(nn_layer *l) {
    const nn_value *batch_shape = nn_value_get(&l->config, "batch_shape"), *shape = nn_value_get(&l->config, "shape");
    if (batch_shape && batch_shape->type != NN_VALUE_NULL) {
        if (batch_shape->type != NN_VALUE_LIST || batch_shape->count < 1 ||
            (batch_shape->items[0].type != NN_VALUE_NULL && batch_shape->items[0].type != NN_VALUE_NUMBER))
            return input_fail(l, "'batch_shape' must be a list starting with the batch size or None");
        return input_dims(l, batch_shape, 1);
    }
    if (!shape || shape->type != NN_VALUE_LIST) return input_fail(l, "give 'shape' (a list of dimensions) or 'batch_shape'");
    int status = input_dims(l, shape, 0);
    nn_value batch = { NN_VALUE_NULL };
    if (!status) status = nn_value_list_new(&batch);
    if (!status) status = nn_value_list_push(&batch, (nn_value){ NN_VALUE_NULL });
    for (int i = 0; i < l->symbolic_ndim && !status; i++)
        status = nn_value_list_push(&batch, nn_value_number((double)l->symbolic_shape[i]));
    if (!status) return nn_value_dict_set(&l->config, "batch_shape", batch);
    nn_value_clear(&batch);
    return status;
}

static int input_build(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs) {
    (void)inputs;
    if (ninputs != 0) return nn_error(NN_ERR_ARG, "layer '%s' (InputLayer) cannot be called on a tensor", l->name);
    outputs[0] = nn_graph_input(b->graph, l->symbolic_ndim, l->symbolic_shape, l->name);
    return outputs[0] < 0 ? outputs[0] : 1;
}

const nn_layer_def nn_layer_input = {
    .class_name = "InputLayer",
    .base_name = "input_layer",
    .positional = (const char *const[]){ "shape", NULL },
    .keys = (const char *const[]){ "shape", "batch_shape", "sparse", "ragged", "batch_size", NULL },
    .configure = input_configure,
    .build_multi = input_build,
};

/* ------------------------------------------------------------ calls */

/* Marks the layer as failed (the first error is kept) and returns its failed symbol, which
 * nn_model_new reports. */
static nn_symbol *fail_call(nn_layer *l) {
    if (!l->error) {
        l->error = nn_strdup(nn_last_error());
        if (!l->error) l->error = nn_strdup("out of memory");
    }
    l->failed = (nn_symbol){ l, -1, 0 };
    return &l->failed;
}

nn_symbol *nn_layer_record_call(nn_layer *l, nn_symbol *const *inputs, int ninputs) {
    if (l->owner) {
        nn_error(NN_ERR_ARG, "layer '%s' already belongs to a model; a layer can be part of one model", l->name);
        return fail_call(l);
    }
    nn_layer_call *call = nn_calloc(1, sizeof *call);
    nn_layer_call **calls = call ? nn_realloc(l->calls, (size_t)(l->ncalls + 1) * sizeof *calls) : NULL;
    if (!calls) {
        nn_free(call);
        nn_error(NN_ERR_NOMEM, "out of memory");
        return fail_call(l);
    }
    l->calls = calls;
    if (ninputs) memcpy(call->inputs, inputs, (size_t)ninputs * sizeof *inputs);
    call->ninputs = ninputs;
    call->noutputs = l->def->output_count ? l->def->output_count(l) : 1;
    NN_ASSERT(call->noutputs >= 1 && call->noutputs <= NN_MAX_LAYER_IO);
    for (int i = 0; i < call->noutputs; i++) call->outputs[i] = (nn_symbol){ l, l->ncalls, i };
    l->calls[l->ncalls++] = call;
    return &call->outputs[0];
}

nn_symbol *nn_call_many(nn_layer *layer, nn_symbol *const *inputs) {
    if (!layer) return nn_error(NN_ERR_ARG, "nn_call: layer is NULL"), NULL;
    int count = 0;
    while (inputs && inputs[count] && count <= NN_MAX_LAYER_IO) count++;
    if (layer->error) return fail_call(layer);
    if (count == 0) {
        nn_error(NN_ERR_ARG, "layer '%s' (%s) was called on no input (a NULL symbol?)", layer->name, layer->def->class_name);
        return fail_call(layer);
    }
    if (count > NN_MAX_LAYER_IO) {
        nn_error(NN_ERR_ARG, "layer '%s' (%s) was called on more than %d inputs", layer->name, layer->def->class_name, NN_MAX_LAYER_IO);
        return fail_call(layer);
    }
    return nn_layer_record_call(layer, inputs, count);
}

nn_symbol *nn_call(nn_layer *layer, nn_symbol *input) { return nn_call_many(layer, (nn_symbol *const[]){ input, NULL }); }

nn_symbol *nn_call_output(nn_symbol *first, int i) {
    if (!first) return nn_error(NN_ERR_ARG, "nn_call_output: symbol is NULL"), NULL;
    nn_layer *l = first->layer;
    if (first->call < 0) return first;
    const nn_layer_call *call = l->calls[first->call];
    if (i >= 0 && i < call->noutputs) return (nn_symbol *)&call->outputs[i];
    nn_error(NN_ERR_ARG, "layer '%s' (%s) returns %d tensor%s; there is no output %d", l->name, l->def->class_name,
             call->noutputs, call->noutputs == 1 ? "" : "s", i);
    return fail_call(l);
}

nn_symbol *nn_input_layer(const nn_input_opts *o) {
    nn_value config = { NN_VALUE_NULL }, shape = { NN_VALUE_NULL }, name = { NN_VALUE_NULL };
    int status = nn_value_dict_new(&config);
    if (!status) status = nn_value_list_new(&shape);
    if (!status) status = nn_value_list_push(&shape, (nn_value){ NN_VALUE_NULL });
    for (int i = 0; o && i < NN_MAX_DIMS && o->shape[i] && !status; i++)
        status = nn_value_list_push(&shape, nn_value_number((double)o->shape[i]));
    if (!status) status = nn_value_dict_set(&config, "batch_shape", shape);
    else nn_value_clear(&shape);
    if (!status && o && o->name) {
        status = nn_value_string(&name, o->name);
        if (!status) status = nn_value_dict_set(&config, "name", name);
    }
    if (status) {
        nn_value_clear(&config);
        return NULL;
    }
    nn_layer *l = nn_layer_from_config(&nn_layer_input, config);
    if (!l) return NULL;
    if (l->error) return fail_call(l);
    return nn_layer_record_call(l, NULL, 0);
}

/* ------------------------------------------------------------ models */

/* The calls reachable from the outputs, inputs first (post-order), and the layers they use. */
typedef struct graph_walk {
    nn_symbol **calls;     /* one symbol per call (its output 0) */
    int ncalls, calls_cap;
    nn_layer **layers;
    int nlayers, layers_cap;
    int status;            /* the first error met */
} graph_walk;

static int find_call(const graph_walk *w, const nn_layer *l, int call) {
    for (int i = 0; i < w->ncalls; i++)
        if (w->calls[i]->layer == l && w->calls[i]->call == call) return i;
    return -1;
}

static int find_layer(const graph_walk *w, const nn_layer *l) {
    for (int i = 0; i < w->nlayers; i++)
        if (w->layers[i] == l) return i;
    return -1;
}

static bool grow(void **items, int *cap, int count, size_t size) {
    if (count < *cap) return true;
    int new_cap = *cap ? *cap * 2 : 16;
    void *p = nn_realloc(*items, (size_t)new_cap * size);
    if (!p) return false;
    *items = p, *cap = new_cap;
    return true;
}

static void note_error(graph_walk *w, int status) {
    if (!w->status) w->status = status;
}

static void add_layer(graph_walk *w, nn_layer *l) {
    if (find_layer(w, l) >= 0) return;
    if (!grow((void **)&w->layers, &w->layers_cap, w->nlayers, sizeof *w->layers)) return note_error(w, NN_ERR_NOMEM);
    w->layers[w->nlayers++] = l;
}

/* Visits the call that made symbol s after the calls that made its inputs. Every layer met is
 * recorded (to be taken or freed), errors or not; a layer of another model is not. */
static void visit(graph_walk *w, nn_symbol *s, int depth) {
    nn_layer *l = s->layer;
    if (l->owner) {
        nn_error(NN_ERR_ARG, "layer '%s' already belongs to another model; a layer can be part of one model", l->name);
        return note_error(w, NN_ERR_ARG);
    }
    add_layer(w, l);
    if (s->call < 0 || l->error) {
        if (!w->status) note_error(w, nn_error(NN_ERR_ARG, "%s", l->error ? l->error : "a layer call failed"));
        for (int i = 0; i < l->ncalls; i++) /* still reach the layers it was called on, to free them */
            for (int k = 0; k < l->calls[i]->ninputs; k++) visit(w, l->calls[i]->inputs[k], depth + 1);
        return;
    }
    if (find_call(w, l, s->call) >= 0) return;
    if (depth > NN_MAX_GRAPH_DEPTH) {
        nn_error(NN_ERR_ARG, "the graph is deeper than %d layer calls", NN_MAX_GRAPH_DEPTH);
        return note_error(w, NN_ERR_ARG);
    }
    const nn_layer_call *call = l->calls[s->call];
    for (int k = 0; k < call->ninputs; k++) visit(w, call->inputs[k], depth + 1);
    if (find_call(w, l, s->call) >= 0) return; /* reached again through an input (impossible in a DAG) */
    if (!grow((void **)&w->calls, &w->calls_cap, w->ncalls, sizeof *w->calls)) return note_error(w, NN_ERR_NOMEM);
    w->calls[w->ncalls++] = (nn_symbol *)&call->outputs[0];
}

static int count_symbols(nn_symbol *const *list, const char *what) {
    int n = 0;
    while (list && list[n]) n++;
    if (n == 0) return nn_error(NN_ERR_ARG, "nn_model_new: no %s given", what);
    if (n > NN_MAX_MODEL_IO) return nn_error(NN_ERR_ARG, "nn_model_new: %d %s; at most %d", n, what, NN_MAX_MODEL_IO);
    return n;
}

/* Copies the walked graph into the model's nodes, inputs and outputs. */
static int make_nodes(nn_model *m, const graph_walk *w, nn_symbol *const *inputs, int ninputs, nn_symbol *const *outputs,
                      int noutputs) {
    m->nodes = nn_calloc((size_t)w->ncalls, sizeof *m->nodes);
    if (!m->nodes) return NN_ERR_NOMEM;
    m->nnodes = w->ncalls;
    for (int k = 0; k < w->ncalls; k++) {
        const nn_symbol *s = w->calls[k];
        const nn_layer_call *call = s->layer->calls[s->call];
        nn_model_node *node = &m->nodes[k];
        int layer = 0;
        while (m->layers[layer] != s->layer) layer++;
        *node = (nn_model_node){ .layer = layer, .call = s->call, .ninputs = call->ninputs,
                                 .noutputs = call->noutputs };
        for (int i = 0; i < call->ninputs; i++)
            node->inputs[i] = (nn_model_ref){ find_call(w, call->inputs[i]->layer, call->inputs[i]->call), call->inputs[i]->index };
    }
    for (int i = 0; i < ninputs; i++) {
        const nn_symbol *s = inputs[i];
        if (s->layer->def != &nn_layer_input)
            return nn_error(NN_ERR_ARG, "nn_model_new: input %d comes from layer '%s' (%s), not from nn_input", i,
                            s->layer->name, s->layer->def->class_name);
        m->inputs[i] = find_call(w, s->layer, s->call);
        for (int j = 0; j < i; j++)
            if (m->inputs[j] == m->inputs[i]) return nn_error(NN_ERR_ARG, "nn_model_new: input '%s' is given twice", s->layer->name);
    }
    for (int k = 0; k < w->ncalls; k++) {
        const nn_layer *l = m->layers[m->nodes[k].layer];
        bool given = false;
        for (int i = 0; i < ninputs; i++) given |= m->inputs[i] == k;
        if (l->def == &nn_layer_input && !given)
            return nn_error(NN_ERR_ARG, "nn_model_new: the outputs depend on input '%s', which is not among the model's inputs",
                            l->name);
    }
    for (int o = 0; o < noutputs; o++)
        m->outputs[o] = (nn_model_ref){ find_call(w, outputs[o]->layer, outputs[o]->call), outputs[o]->index };
    m->ninputs = ninputs, m->noutputs = noutputs;
    return NN_OK;
}

/* The model takes the walked layers, names them and is built. */
static int adopt_layers(nn_model *m, graph_walk *w) {
    m->layers = w->layers;
    m->nlayers = m->cap = w->nlayers;
    w->layers = NULL, w->nlayers = 0;
    int status = NN_OK;
    for (int i = 0; i < m->nlayers; i++) m->layers[i]->owner = m;
    for (int i = 0; i < m->nlayers && !status; i++) {
        /* names are checked against the layers before this one */
        int n = m->nlayers;
        m->nlayers = i;
        status = nn_model_name_layer(m, m->layers[i]);
        m->nlayers = n;
    }
    return status;
}

nn_model *nn_model_new(nn_symbol *const *inputs, nn_symbol *const *outputs, const char *name) {
    graph_walk w = { 0 };
    int ninputs = count_symbols(inputs, "inputs"), noutputs = count_symbols(outputs, "outputs");
    if (ninputs < 0) note_error(&w, ninputs);
    if (noutputs < 0) note_error(&w, noutputs);
    for (int i = 0; outputs && outputs[i]; i++) visit(&w, outputs[i], 0);
    for (int i = 0; inputs && inputs[i]; i++) visit(&w, inputs[i], 0);
    if (!w.status && name && (!name[0] || strlen(name) >= NN_NAME_SIZE))
        note_error(&w, nn_error(NN_ERR_ARG, "nn_model_new: the name must be 1-%d characters", NN_NAME_SIZE - 1));
    nn_model *m = w.status ? NULL : nn_calloc(1, sizeof *m);
    if (!w.status && !m) note_error(&w, NN_ERR_NOMEM);
    if (m) {
        m->functional = true;
        snprintf(m->name, sizeof m->name, "%s", name ? name : "functional");
        nn_rng_seed(&m->rng, nn_default_seed());
        w.status = adopt_layers(m, &w);
        if (!w.status) w.status = make_nodes(m, &w, inputs, ninputs, outputs, noutputs);
        if (!w.status) {
            nn_model_input_shape(m, 0, &m->input_ndim, m->input_shape);
            w.status = nn_model_create_vars(m);
        }
        if (w.status) nn_model_free(m), m = NULL;
    }
    for (int i = 0; i < w.nlayers; i++) nn_layer_free(w.layers[i]);
    nn_free(w.layers);
    nn_free(w.calls);
    return m;
}

int nn_model_keras_node_index(const nn_model *m, int k) {
    int rank = 0;
    for (int j = 0; j < m->nnodes; j++) rank += m->nodes[j].layer == m->nodes[k].layer && m->nodes[j].call < m->nodes[k].call;
    return rank;
}

/* ------------------------------------------------------------ a model used as a layer */

/* The layer's config is the inner model's Keras config; the inner model is made from it, so a
 * loaded file and nn_model_as_layer take the same path. */
static int nested_configure(nn_layer *l) {
    nn_value model = { NN_VALUE_NULL }, config = { NN_VALUE_NULL }, class_name = { NN_VALUE_NULL };
    int status = nn_value_dict_new(&model);
    if (!status) status = nn_value_string(&class_name, l->def->class_name);
    if (!status) status = nn_value_dict_set(&model, "class_name", class_name);
    else nn_value_clear(&class_name);
    if (!status) status = nn_value_copy(&config, &l->config);
    if (!status) status = nn_value_dict_set(&model, "config", config);
    else nn_value_clear(&config);
    if (!status) status = nn_model_from_config(&model, &l->submodel);
    nn_value_clear(&model);
    if (!status && !l->submodel->built)
        status = nn_error(NN_ERR_ARG, "model '%s' used as a layer is not built: give its first layer an input_shape", l->name);
    /* the inner model keeps its weights to start from; the outer model makes the variables */
    for (int i = 0; !status && i < l->submodel->nlayers; i++) nn_layer_forget_vars(l->submodel->layers[i]);
    return status ? nn_error_context(status, "layer '%s' (%s)", l->name, l->def->class_name) : NN_OK;
}

static int nested_outputs(const nn_layer *l) { return l->submodel ? l->submodel->noutputs : 1; }

/* The inner model's graph on the call's inputs; its variables belong to the outer model, named
 * "<this layer>/<inner layer>/<weight>". */
static int nested_build(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs) {
    nn_model *inner = l->submodel;
    if (ninputs != inner->ninputs)
        return nn_error(NN_ERR_ARG, "layer '%s' (model %s) takes %d inputs, got %d", l->name, l->def->class_name, inner->ninputs, ninputs);
    char prefix[2 * NN_NAME_SIZE];
    snprintf(prefix, sizeof prefix, "%s%s/", b->prefix ? b->prefix : "", l->name);
    const char *outer_prefix = b->prefix;
    bool creating = b->create;
    b->prefix = prefix;
    int status = nn_model_build_graph(inner, b, inputs, NULL, outputs);
    b->prefix = outer_prefix;
    b->create = creating;
    if (status) return status;
    if (creating) {
        l->param_count = 0;
        for (int i = 0; i < inner->nlayers; i++) l->param_count += inner->layers[i]->param_count;
    }
    return inner->noutputs;
}

#define NESTED_KEYS (const char *const[]){ "layers", "input_layers", "output_layers", "build_input_shape", NULL }

const nn_layer_def nn_layer_functional_model = {
    .class_name = "Functional",
    .base_name = "functional",
    .keys = NESTED_KEYS,
    .configure = nested_configure,
    .build_multi = nested_build,
    .output_count = nested_outputs,
};

const nn_layer_def nn_layer_sequential_model = {
    .class_name = "Sequential",
    .base_name = "sequential",
    .keys = NESTED_KEYS,
    .configure = nested_configure,
    .build_multi = nested_build,
    .output_count = nested_outputs,
};

void nn_model_copy_nested_weights(nn_model *m) {
    for (int i = 0; i < m->nlayers; i++) {
        const nn_model *inner = m->layers[i]->submodel;
        for (int j = 0; inner && j < inner->nvars; j++) {
            char name[4 * NN_NAME_SIZE];
            snprintf(name, sizeof name, "%s/%s", m->layers[i]->name, inner->vars[j].name);
            const nn_variable *v = nn_model_find_var(m, name);
            if (v && v->size == inner->vars[j].size)
                memcpy(m->params + v->offset, inner->params + inner->vars[j].offset, v->size * sizeof(float));
        }
    }
}

nn_layer *nn_model_as_layer(nn_model *m) {
    if (!m) return nn_error(NN_ERR_ARG, "nn_model_as_layer: model is NULL"), NULL;
    nn_value whole = { NN_VALUE_NULL }, config = { NN_VALUE_NULL };
    int status = m->built ? nn_model_config(m, &whole)
                          : nn_error(NN_ERR_STATE, "nn_model_as_layer: model '%s' is not built (give its first layer an input_shape)", m->name);
    const nn_value *inner_config = status ? NULL : nn_value_get(&whole, "config");
    if (inner_config) status = nn_value_copy(&config, inner_config);
    nn_value_clear(&whole);
    nn_layer *l = NULL;
    if (!status) {
        l = nn_layer_from_config(m->functional ? &nn_layer_functional_model : &nn_layer_sequential_model, config);
        for (int i = 0; l && !l->error && i < m->nvars && i < l->submodel->nvars; i++) /* it starts from m's weights */
            if (l->submodel->vars[i].size == m->vars[i].size)
                memcpy(l->submodel->params + l->submodel->vars[i].offset, m->params + m->vars[i].offset, m->vars[i].size * sizeof(float));
    }
    nn_model_free(m);
    return l;
}
