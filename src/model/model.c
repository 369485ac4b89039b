/* Sequential models: layers, build (variables and their initial values), compile, and the
 * programs (graph + memory plan + arena) that fit, evaluate and predict run. */
#include "model/model.h"
#include "ops/conv.h"

#include <stdio.h>

static void drop_compile_state(nn_model *m);

/* ------------------------------------------------------------ layers of a model */

static bool layer_name_taken(const nn_model *m, const char *name) {
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i]->name, name) == 0) return true;
    return false;
}

/* Keras's automatic names: dense, dense_1, dense_2, ... */
int nn_model_name_layer(nn_model *m, nn_layer *l) {
    const nn_value *given = nn_value_get(&l->config, "name");
    if (given && given->type == NN_VALUE_STRING) {
        if (layer_name_taken(m, l->name))
            return nn_error(NN_ERR_ARG, "layer name '%s' is used twice in the model", l->name);
        return NN_OK;
    }
    for (int k = 0; layer_name_taken(m, l->name); k++)
        snprintf(l->name, sizeof l->name, "%s_%d", l->def->base_name, k + 1);
    nn_value s;
    int status = nn_value_string(&s, l->name);
    return status ? status : nn_value_dict_set(&l->config, "name", s);
}

int nn_model_add(nn_model *m, nn_layer *l) {
    if (!m || !l) {
        nn_layer_free(l);
        return nn_error(NN_ERR_ARG, "nn_model_add: %s is NULL", m ? "layer" : "model");
    }
    if (l->error) {
        int status = nn_error(NN_ERR_ARG, "%s", l->error);
        nn_layer_free(l);
        return status;
    }
    if (m->built || m->compiled || m->functional) {
        nn_layer_free(l);
        return nn_error(NN_ERR_STATE, m->functional ? "nn_model_add: model '%s' is functional; add layers by calling them on its symbols before nn_model_new"
                                                    : "nn_model_add: model '%s' is already built; add layers before compile and fit", m->name);
    }
    if (l->owner || l->ncalls) {
        int status = nn_error(NN_ERR_ARG, "nn_model_add: layer '%s' %s", l->name,
                              l->owner ? "already belongs to a model" : "was called in the functional API; give it to nn_model_new");
        if (!l->owner) nn_layer_free(l);
        return status;
    }
    int status = nn_model_name_layer(m, l);
    if (!status && m->nlayers == m->cap) {
        int cap = m->cap ? m->cap * 2 : 8;
        nn_layer **layers = nn_realloc(m->layers, (size_t)cap * sizeof *layers);
        if (!layers) status = NN_ERR_NOMEM;
        else m->layers = layers, m->cap = cap;
    }
    if (status) {
        nn_layer_free(l);
        return status;
    }
    m->layers[m->nlayers++] = l;
    l->owner = m;
    return NN_OK;
}

nn_model *nn_sequential(nn_layer *const *layers) {
    nn_model *m = nn_calloc(1, sizeof *m);
    int status = m ? NN_OK : NN_ERR_NOMEM;
    if (m) {
        snprintf(m->name, sizeof m->name, "sequential");
        nn_rng_seed(&m->rng, nn_default_seed());
        m->ninputs = m->noutputs = 1;
    }
    for (int i = 0; layers && layers[i]; i++) {
        if (status) nn_layer_free(layers[i]);
        else status = nn_model_add(m, layers[i]);
    }
    if (status) {
        nn_model_free(m);
        return NULL;
    }
    return m;
}

void nn_model_drop_programs(nn_model *m) {
    for (size_t i = 0; i < NN_ARRAY_LEN(m->programs); i++) nn_program_clear(&m->programs[i]);
}

void nn_model_free(nn_model *m) {
    if (!m) return;
    for (int i = 0; i < m->nlayers; i++) nn_layer_free(m->layers[i]);
    nn_free(m->layers);
    nn_free(m->vars);
    nn_free(m->params);
    drop_compile_state(m);
    nn_free(m->nodes);
    nn_threads_free(m->threads);
    nn_free(m);
}

int nn_model_layer_count(const nn_model *m) { return m ? m->nlayers : 0; }
int nn_model_input_count(const nn_model *m) { return m ? m->ninputs : 0; }
bool nn_model_is_compiled(const nn_model *m) { return m && m->compiled; }
int nn_model_output_count(const nn_model *m) { return m ? m->noutputs : 0; }

void nn_model_input_shape(const nn_model *m, int i, int *ndim, int64_t *shape) {
    const nn_layer *l = m->functional ? m->layers[m->nodes[m->inputs[i]].layer] : NULL;
    *ndim = l ? l->symbolic_ndim : m->input_ndim;
    memcpy(shape, l ? l->symbolic_shape : m->input_shape, (size_t)*ndim * sizeof *shape);
}

/* ------------------------------------------------------------ variables */

static int64_t product(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

/* "outer/inner/": the layer's path, through the wrappers around it, as Keras names weights. */
static size_t layer_path(const nn_layer *l, char *buf, size_t size) {
    size_t used = l->outer ? layer_path(l->outer, buf, size) : 0;
    if (used < size) used += (size_t)snprintf(buf + used, size - used, "%s/", l->name);
    return used;
}

static int create_var(nn_builder *b, nn_layer *l, const char *name, int ndim, const int64_t *shape,
                      const nn_initializer_opts *init, const nn_regularizer_opts *reg, bool trainable) {
    nn_model *m = b->model;
    nn_variable *vars = nn_realloc(m->vars, (size_t)(m->nvars + 1) * sizeof *vars);
    if (!vars) return NN_ERR_NOMEM;
    m->vars = vars;
    nn_variable *v = &m->vars[m->nvars++];
    *v = (nn_variable){ .layer = b->layer, .ndim = ndim, .trainable = trainable, .keras_value_bytes = 4,
                        .init = *init, .reg = *reg };
    size_t used = (size_t)snprintf(v->name, sizeof v->name, "%s", b->prefix ? b->prefix : "");
    if (used < sizeof v->name) used += layer_path(l, v->name + used, sizeof v->name - used);
    if (used < sizeof v->name) snprintf(v->name + used, sizeof v->name - used, "%s", name);
    if (ndim) memcpy(v->shape, shape, (size_t)ndim * sizeof *shape);
    v->size = (size_t)product(ndim, shape);
    v->offset = m->nparams;
    m->nparams += v->size;
    for (nn_layer *owner = l; owner; owner = owner->outer) owner->param_count += (int64_t)v->size;
    return NN_OK;
}

int nn_builder_weight(nn_builder *b, nn_layer *l, const char *name, int ndim, const int64_t *shape,
                      const nn_initializer_opts *init, const nn_regularizer_opts *reg, bool trainable) {
    nn_model *m = b->model;
    if (b->create) {
        int status = create_var(b, l, name, ndim, shape, init, reg, trainable);
        if (status) return status;
        b->next_var = m->nvars;
    }
    NN_ASSERT(b->next_var <= m->nvars);
    const nn_variable *v = &m->vars[b->create ? m->nvars - 1 : b->next_var++];
    bool same = v->ndim == ndim && v->layer == b->layer;
    for (int i = 0; same && i < ndim; i++) same = v->shape[i] == shape[i];
    if (!same) {
        char want[96], have[96];
        return nn_error(NN_ERR_SHAPE, "layer '%s': weight '%s' has shape %s but the input needs %s",
                        l->name, v->name, nn_shape_str(v->ndim, v->shape, have, sizeof have),
                        nn_shape_str(ndim, shape, want, sizeof want));
    }
    int node = nn_graph_param(b->graph, (int)(v - m->vars), ndim, shape, trainable, l->name);
    if (node < 0) return node;
    b->graph->nodes[node].value_off = v->offset;
    b->graph->nodes[node].grad_off = v->offset;
    if (b->graph && (reg->l1 > 0 || reg->l2 > 0) && b->npenalties < (int)NN_ARRAY_LEN(b->penalties)) {
        nn_attr attr = { .f = { reg->l1, reg->l2 } };
        int penalty = nn_graph_op(b->graph, NN_OP_PENALTY, &node, 1, &attr, l->name);
        if (penalty < 0) return penalty;
        b->penalties[b->npenalties++] = penalty;
    }
    return node;
}

const nn_variable *nn_model_find_var(const nn_model *m, const char *name) {
    for (int i = 0; m && name && i < m->nvars; i++)
        if (strcmp(m->vars[i].name, name) == 0) return &m->vars[i];
    return NULL;
}

int nn_layer_build_call(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs) {
    int count = 1, status;
    if (l->def->build_multi) {
        count = l->def->build_multi(l, b, inputs, ninputs, outputs);
        if (count < 0) return count;
        NN_ASSERT(count >= 1 && count <= NN_MAX_LAYER_IO);
    } else {
        if (ninputs != 1)
            return nn_error(NN_ERR_ARG, "layer '%s' (%s) takes one input, got %d", l->name, l->def->class_name, ninputs);
        status = l->def->build(l, b, inputs[0], &outputs[0]);
        if (status) return status;
    }
    const nn_node *in = ninputs ? &b->graph->nodes[inputs[0]] : NULL;
    for (int i = 0; in && l->def->propagates_mask && in->mask >= 0 && i < count; i++) {
        nn_node *out = &b->graph->nodes[outputs[i]];
        if (out->mask < 0 && out->ndim >= 2 && in->ndim >= 2 && out->shape[1] == in->shape[1]) out->mask = in->mask;
    }
    return count;
}

/* Builds one node: its layer's call on the nodes' values. The layer's first call creates its
 * variables (in the model being built, b->model, which differs from m for a model used as a
 * layer) and records its output shape; later calls (a shared layer, a later program) find
 * them again, so later builds only read the model and predictors can be made concurrently. */
static int build_node(nn_model *m, nn_builder *b, const nn_model_node *node, int (*values)[NN_MAX_LAYER_IO]) {
    int *outputs = values[node - m->nodes];
    nn_layer *l = m->layers[node->layer];
    int inputs[NN_MAX_LAYER_IO];
    for (int i = 0; i < node->ninputs; i++) inputs[i] = values[node->inputs[i].node][node->inputs[i].index];
    if (m == b->model) b->layer = node->layer;
    b->create = !l->vars_made;
    if (b->create) l->var_first = b->model->nvars, l->param_count = 0;
    else b->next_var = l->var_first;
    char in_shape[96] = "";
    if (node->ninputs == 1) nn_node_shape_str(&b->graph->nodes[inputs[0]], in_shape, sizeof in_shape);
    int count = nn_layer_build_call(l, b, inputs, node->ninputs, outputs);
    if (count >= 0 && count != node->noutputs)
        count = node->noutputs == 1 && !m->functional
                    ? nn_error(NN_ERR_ARG, "layer '%s' (%s) returns %d tensors; a Sequential model needs layers of one output (use the functional API)",
                               l->name, l->def->class_name, count)
                    : nn_error(NN_ERR_ARG, "layer '%s' (%s) returned %d tensors where %d were expected", l->name,
                               l->def->class_name, count, node->noutputs);
    if (count < 0) {
        char named[NN_NAME_SIZE + 16];
        snprintf(named, sizeof named, "layer '%s'", l->name);
        if (!strstr(nn_last_error(), named))
            nn_error_context(count, "layer '%s' (%s)%s%s", l->name, l->def->class_name, in_shape[0] ? " on input " : "", in_shape);
        return count;
    }
    if (b->create) {
        const nn_node *out = &b->graph->nodes[outputs[0]];
        l->out_ndim = out->ndim;
        memcpy(l->out_shape, out->shape, sizeof l->out_shape);
        l->vars_made = true;
    }
    return NN_OK;
}

/* The model input that node k is, or -1. */
static int input_index(const nn_model *m, int k) {
    for (int i = 0; i < m->ninputs; i++)
        if (m->inputs[i] == k) return i;
    return -1;
}

int nn_model_build_graph(nn_model *m, nn_builder *b, const int *given, int *x, int *pred) {
    int (*values)[NN_MAX_LAYER_IO] = nn_malloc((size_t)m->nnodes * sizeof *values);
    if (!values) return NN_ERR_NOMEM;
    int status = NN_OK;
    for (int k = 0; k < m->nnodes && !status; k++) {
        int input = input_index(m, k);
        if (input >= 0 && given) {
            values[k][0] = given[input];
        } else if (m->nodes[k].layer < 0) {
            values[k][0] = nn_graph_input(b->graph, m->input_ndim, m->input_shape, "input");
            status = values[k][0] < 0 ? values[k][0] : NN_OK;
        } else {
            status = build_node(m, b, &m->nodes[k], values);
        }
    }
    for (int i = 0; i < m->ninputs && !status && x; i++) x[i] = values[m->inputs[i]][0];
    for (int o = 0; o < m->noutputs && !status; o++) pred[o] = values[m->outputs[o].node][m->outputs[o].index];
    nn_free(values);
    return status;
}

static int build_nodes(nn_model *m, nn_builder *b, int *x, int *pred) { return nn_model_build_graph(m, b, NULL, x, pred); }

/* A Sequential model's graph: its input, then each layer on the one before. */
static int chain_nodes(nn_model *m) {
    nn_model_node *nodes = nn_calloc((size_t)m->nlayers + 1, sizeof *nodes);
    if (!nodes) return NN_ERR_NOMEM;
    nodes[0] = (nn_model_node){ .layer = -1, .noutputs = 1 };
    for (int i = 0; i < m->nlayers; i++)
        nodes[i + 1] = (nn_model_node){ .layer = i, .ninputs = 1, .noutputs = 1, .inputs = { { i, 0 } } };
    nn_free(m->nodes);
    m->nodes = nodes;
    m->nnodes = m->nlayers + 1;
    m->ninputs = m->noutputs = 1;
    m->inputs[0] = 0;
    m->outputs[0] = (nn_model_ref){ m->nlayers, 0 };
    return NN_OK;
}

static int initialize_vars(nn_model *m) {
    for (int i = 0; i < m->nvars; i++) {
        nn_variable *v = &m->vars[i];
        int status = nn_initializer_fill(&v->init, m->params + v->offset, v->ndim, v->shape, &m->rng);
        if (status) return nn_error_context(status, "initializing %s", v->name);
        for (int64_t k = 0; k < v->ones_count; k++) m->params[v->offset + (size_t)(v->ones_from + k)] = 1.0f;
    }
    return NN_OK;
}

void nn_layer_forget_vars(nn_layer *l) {
    l->vars_made = false;
    for (int i = 0; l->submodel && i < l->submodel->nlayers; i++) nn_layer_forget_vars(l->submodel->layers[i]);
}

static void forget_vars(nn_model *m) {
    nn_free(m->vars), nn_free(m->params);
    m->vars = NULL, m->params = NULL, m->nvars = 0, m->nparams = 0;
    for (int i = 0; i < m->nlayers; i++) nn_layer_forget_vars(m->layers[i]);
}

/* Creates the variables by building the graph once, then initializes them. */
int nn_model_create_vars(nn_model *m) {
    nn_graph graph = { 0 };
    nn_builder b = { .model = m, .graph = &graph };
    int x[NN_MAX_MODEL_IO], pred[NN_MAX_MODEL_IO];
    int status = build_nodes(m, &b, x, pred);
    nn_graph_free(&graph);
    if (!status) {
        m->params = nn_calloc(m->nparams ? m->nparams : 1, sizeof(float));
        status = m->params ? initialize_vars(m) : NN_ERR_NOMEM;
    }
    if (!status) nn_model_copy_nested_weights(m);
    if (!status && !m->threads) status = nn_threads_new(0, &m->threads);
    if (status) {
        forget_vars(m);
        return status;
    }
    m->built = true;
    return NN_OK;
}

int nn_model_build(nn_model *m, int ndim, const int64_t *shape) {
    if (!m) return nn_error(NN_ERR_ARG, "nn_model_build: model is NULL");
    if (m->built) {
        bool same = ndim == m->input_ndim;
        for (int i = 0; same && i < ndim; i++) same = shape[i] == m->input_shape[i];
        if (same) return NN_OK;
        char want[96], got[96];
        return nn_error(NN_ERR_SHAPE, "model '%s' was built for inputs of shape %s, got %s", m->name,
                        nn_shape_str(m->input_ndim, m->input_shape, want, sizeof want),
                        nn_shape_str(ndim, shape, got, sizeof got));
    }
    if (m->nlayers == 0) return nn_error(NN_ERR_STATE, "model '%s' has no layers", m->name);
    if (ndim < 1 || ndim >= NN_MAX_DIMS) return nn_error(NN_ERR_SHAPE, "input rank %d is outside 1..%d", ndim, NN_MAX_DIMS - 1);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1) return nn_error(NN_ERR_SHAPE, "input dimension %d is %lld; dimensions must be positive", i, (long long)shape[i]);
    m->input_ndim = ndim;
    memcpy(m->input_shape, shape, (size_t)ndim * sizeof *shape);
    int status = chain_nodes(m);
    return status ? status : nn_model_create_vars(m);
}

int64_t nn_model_param_bytes(const nn_model *m, bool trainable_only) {
    int64_t n = 0;
    for (int i = 0; m && i < m->nvars; i++)
        if (!trainable_only || m->vars[i].trainable) n += (int64_t)m->vars[i].size * m->vars[i].keras_value_bytes;
    return n;
}

int64_t nn_model_param_count(const nn_model *m, bool trainable_only) {
    int64_t n = 0;
    for (int i = 0; m && i < m->nvars; i++)
        if (!trainable_only || m->vars[i].trainable) n += (int64_t)m->vars[i].size;
    return n;
}

bool nn_model_needs_adapt(const nn_model *m) {
    for (int i = 0; i < m->nvars; i++) {
        const nn_variable *v = &m->vars[i];
        if (m->layers[v->layer]->def == &nn_layer_normalization && strstr(v->name, "/count") && m->params[v->offset] == 0)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------ compile */

/* "Adam(learning_rate=0.01)" -> name and keyword arguments (positional ones bound by Keras's
 * order). */
static int parse_spec(const char *text, const char *const *positional, char **name, nn_value *kwargs) {
    nn_value args = { NN_VALUE_NULL };
    int status = nn_parse_call(text, name, &args, kwargs, NULL);
    if (!status) status = nn_bind_positional(text, *name, positional, &args, kwargs);
    nn_value_clear(&args);
    return status;
}

static int resolve_optimizer(const nn_compile_opts *o, nn_optimizer **out) {
    static const char *const positional[] = { "learning_rate", NULL }; /* Keras's first argument */
    if (o->optimizer_obj) {
        *out = o->optimizer_obj;
        return NN_OK;
    }
    char *name = NULL;
    nn_value kwargs = { NN_VALUE_NULL };
    int status = parse_spec(o->optimizer ? o->optimizer : "rmsprop", positional, &name, &kwargs);
    if (!status) {
        *out = nn_optimizer_from_config(name, &kwargs);
        if (!*out) status = NN_ERR_NAME;
    }
    nn_free(name);
    nn_value_clear(&kwargs);
    return status;
}

static int parse_loss(const char *text, nn_loss **out) {
    char *name = NULL;
    nn_value kwargs = { NN_VALUE_NULL };
    int status = parse_spec(text, NULL, &name, &kwargs);
    if (!status) {
        *out = nn_loss_from_config(name, &kwargs);
        if (!*out) status = NN_ERR_NAME;
    }
    nn_free(name);
    nn_value_clear(&kwargs);
    return status;
}

/* A second loss object like `loss` (one loss given for several outputs). */
static int clone_loss(const nn_loss *loss, nn_loss **out) {
    nn_value config = { NN_VALUE_NULL };
    int status = nn_loss_get_config(loss, &config);
    if (!status) {
        *out = nn_loss_from_config(loss->def->name, &config);
        if (!*out) status = NN_ERR_NOMEM;
    }
    nn_value_clear(&config);
    return status;
}

/* The model's outputs so far: Sequential models have one; functional ones know theirs. */
static int output_count(const nn_model *m) { return m->functional ? m->noutputs : 1; }

/* One loss per output into m->losses: `losses` names each, or `loss`/`loss_obj` serves all. */
static int resolve_losses(nn_model *m, const nn_compile_opts *o) {
    int outputs = output_count(m), given = 0;
    while (o->losses && o->losses[given]) given++;
    if (o->losses && (o->loss || o->loss_obj))
        return nn_error(NN_ERR_ARG, "nn_compile: give loss or losses, not both");
    if (o->losses && given != outputs)
        return nn_error(NN_ERR_ARG, "nn_compile: %d losses for a model of %d outputs", given, outputs);
    if (!o->losses && !o->loss && !o->loss_obj)
        return nn_error(NN_ERR_ARG, "nn_compile: no loss given (e.g. .loss = \"binary_crossentropy\")");
    int status = NN_OK;
    for (int i = 0; i < outputs && !status; i++) {
        if (o->losses) status = parse_loss(o->losses[i], &m->losses[i]);
        else if (i > 0) status = clone_loss(m->losses[0], &m->losses[i]);
        else if (o->loss_obj) m->losses[0] = o->loss_obj;
        else status = parse_loss(o->loss, &m->losses[0]);
        if (status && o->losses) nn_error_context(status, "nn_compile: losses[%d]", i);
    }
    for (int i = 0; i < outputs; i++) {
        m->loss_weights[i] = o->loss_weights ? o->loss_weights[i] : 1.0;
        if (!status && (!isfinite(m->loss_weights[i]) || m->loss_weights[i] < 0))
            status = nn_error(NN_ERR_ARG, "nn_compile: loss_weights[%d] is %g; weights must be finite and non-negative", i,
                              m->loss_weights[i]);
    }
    return status;
}

static void drop_compile_state(nn_model *m) {
    nn_optimizer_free(m->optimizer);
    for (int i = 0; i < NN_MAX_MODEL_IO; i++) nn_loss_free(m->losses[i]), m->losses[i] = NULL;
    for (int i = 0; i < m->nmetrics; i++) nn_metric_free(m->metrics[i]);
    nn_free(m->metrics);
    nn_free(m->metric_output);
    nn_free(m->slots);
    nn_free(m->grads);
    nn_free(m->spans);
    m->optimizer = NULL, m->metrics = NULL, m->metric_output = NULL, m->nmetrics = 0;
    m->slots = NULL, m->grads = NULL, m->spans = NULL, m->nspans = 0;
    m->compiled = false;
    nn_model_drop_programs(m);
}

/* Output o's width for resolving "accuracy" (1 when the model is not built yet: resolved
 * again at fit when it matters). */
static int64_t output_columns(const nn_model *m, int o) {
    if (!m->built) return 1;
    const nn_layer *l = m->layers[m->nodes[m->outputs[o].node].layer];
    return l->out_shape[l->out_ndim - 1];
}

const char *nn_model_output_name(const nn_model *m, int o) {
    return m->built ? m->layers[m->nodes[m->outputs[o].node].layer]->name : "output";
}

int nn_model_resolve_metrics(nn_model *m) {
    int outputs = output_count(m), count = m->nmetric_names * outputs;
    if (count > NN_MAX_METRICS - 1 - (outputs > 1 ? outputs : 0))
        return nn_error(NN_ERR_ARG, "nn_compile: %d metrics over %d outputs; at most %d logs", m->nmetric_names, outputs,
                        NN_MAX_METRICS - 1);
    nn_metric **metrics = nn_calloc((size_t)(count ? count : 1), sizeof *metrics);
    int *metric_output = nn_calloc((size_t)(count ? count : 1), sizeof *metric_output);
    int status = metrics && metric_output ? NN_OK : NN_ERR_NOMEM;
    for (int i = 0; i < count && !status; i++) {
        int o = i / (m->nmetric_names ? m->nmetric_names : 1);
        metric_output[i] = o;
        metrics[i] = nn_metric_new(m->metric_names[i % m->nmetric_names], m->losses[o], output_columns(m, o));
        if (!metrics[i]) status = NN_ERR_NAME;
    }
    if (status) {
        for (int i = 0; metrics && i < count; i++) nn_metric_free(metrics[i]);
        nn_free(metrics), nn_free(metric_output);
        return status;
    }
    for (int i = 0; i < m->nmetrics; i++) nn_metric_free(m->metrics[i]);
    nn_free(m->metrics), nn_free(m->metric_output);
    m->metrics = metrics;
    m->metric_output = metric_output;
    m->nmetrics = count;
    return NN_OK;
}

static int keep_metric_names(nn_model *m, const char *const *names) {
    int count = 0;
    while (names && names[count]) count++;
    if (count > NN_MAX_METRICS - 1) return nn_error(NN_ERR_ARG, "nn_compile: at most %d metrics", NN_MAX_METRICS - 1);
    for (int i = 0; i < count; i++) {
        if (strlen(names[i]) >= sizeof m->metric_names[0])
            return nn_error(NN_ERR_NAME, "nn_compile: metric name '%.40s...' is too long", names[i]);
        snprintf(m->metric_names[i], sizeof m->metric_names[i], "%s", names[i]);
    }
    m->nmetric_names = count;
    return NN_OK;
}

int nn_compile(nn_model *m, const nn_compile_opts *o) {
    if (!m || !o) {
        if (o) nn_optimizer_free(o->optimizer_obj), nn_loss_free(o->loss_obj);
        return nn_error(NN_ERR_ARG, "nn_compile: %s is NULL", m ? "opts" : "model");
    }
    drop_compile_state(m);
    nn_optimizer *opt = NULL;
    int status = resolve_optimizer(o, &opt);
    m->optimizer = opt;
    bool loss_obj_taken = false;
    if (!status) {
        status = resolve_losses(m, o);
        loss_obj_taken = m->losses[0] && m->losses[0] == o->loss_obj;
    }
    if (status) {
        if (opt == o->optimizer_obj) m->optimizer = NULL;
        drop_compile_state(m);
        nn_optimizer_free(o->optimizer_obj);
        if (!loss_obj_taken) nn_loss_free(o->loss_obj);
        return status;
    }
    status = keep_metric_names(m, o->metrics);
    if (!status) status = nn_model_resolve_metrics(m);
    if (status) {
        drop_compile_state(m);
        return status;
    }
    m->compiled = true;
    /* build now when the input shape is known, so shape errors surface at compile */
    if (!m->built && m->nlayers && m->layers[0]->input_ndim)
        status = nn_model_build(m, m->layers[0]->input_ndim, m->layers[0]->input_shape);
    if (!status && m->built) {
        nn_program *p;
        status = nn_model_program(m, NN_PROGRAM_TRAIN, 1, &p);
    }
    return status;
}

int nn_model_prepare_training(nn_model *m) {
    if (m->grads) return NN_OK;
    int nslots = nn_optimizer_slot_count(m->optimizer);
    m->grads = nn_calloc(m->nparams ? m->nparams : 1, sizeof(float));
    m->slots = nn_calloc(m->nparams * (size_t)nslots + 1, sizeof(float));
    m->spans = nn_calloc((size_t)m->nvars + 1, sizeof *m->spans);
    if (!m->grads || !m->slots || !m->spans) {
        nn_free(m->grads), nn_free(m->slots), nn_free(m->spans);
        m->grads = NULL, m->slots = NULL, m->spans = NULL;
        return NN_ERR_NOMEM;
    }
    m->nspans = 0;
    for (int i = 0; i < m->nvars; i++)
        if (m->vars[i].trainable) m->spans[m->nspans++] = (nn_var_span){ m->vars[i].offset, m->vars[i].size };
    nn_optimizer_init_slots(m->optimizer, m->slots, m->nparams);
    return NN_OK;
}

/* ------------------------------------------------------------ programs */

/* The target's per-sample shape for a loss: like the prediction, or one class index. */
static void target_shape(const nn_loss *loss, const nn_node *pred, int *ndim, int64_t *shape) {
    *ndim = pred->ndim - 1;
    memcpy(shape, pred->shape + 1, (size_t)*ndim * sizeof *shape);
    if (loss->def->target == NN_TARGET_CLASS_INDEX) shape[*ndim - 1] = 1;
}

/* Output o's loss: per-sample values times the sample weights, averaged (Keras's "sum over
 * batch size": p->output_loss[o], what the logs show), times the output's loss weight (the
 * returned node, a term of the total). */
static int output_loss(nn_model *m, nn_program *p, int o) {
    nn_graph *g = &p->graph;
    int tndim;
    int64_t tshape[NN_MAX_DIMS];
    target_shape(m->losses[o], &g->nodes[p->pred[o]], &tndim, tshape);
    p->y[o] = nn_graph_input(g, tndim, tshape, "targets");
    if (p->y[o] < 0) return p->y[o];
    nn_attr loss_attr = { .ptr = m->losses[o] };
    int loss = nn_graph_op(g, NN_OP_LOSS, (int[]){ p->pred[o], p->y[o] }, 2, &loss_attr, "loss");
    if (loss < 0) return loss;
    const nn_node *per_sample = &g->nodes[loss];
    p->w[o] = nn_graph_input(g, per_sample->ndim - 1, per_sample->shape + 1, "sample_weight");
    if (p->w[o] < 0) return p->w[o];
    int weighted = nn_graph_op(g, NN_OP_MUL, (int[]){ loss, p->w[o] }, 2, NULL, "loss");
    if (weighted < 0) return weighted;
    p->output_loss[o] = nn_graph_op(g, NN_OP_REDUCE_MEAN, &weighted, 1, NULL, "loss");
    if (p->output_loss[o] < 0 || m->loss_weights[o] == 1.0) return p->output_loss[o];
    g->nodes[p->output_loss[o]].keep = true; /* logged after the pass */
    nn_attr scale = { .f = { m->loss_weights[o], 0.0 } };
    return nn_graph_op(g, NN_OP_SCALE_SHIFT, &p->output_loss[o], 1, &scale, "loss_weights");
}

static int build_program_graph(nn_model *m, nn_program_kind kind, nn_program *p) {
    nn_builder b = { .model = m, .graph = &p->graph, .training = kind == NN_PROGRAM_TRAIN };
    p->loss = -1;
    p->ninputs = m->ninputs, p->noutputs = m->noutputs;
    for (int o = 0; o < NN_MAX_MODEL_IO; o++) p->y[o] = p->w[o] = p->output_loss[o] = -1;
    int status = build_nodes(m, &b, p->x, p->pred);
    /* metrics and predict read the outputs after the pass */
    for (int o = 0; !status && o < p->noutputs; o++) p->graph.nodes[p->pred[o]].keep = true;
    if (status || kind == NN_PROGRAM_PREDICT) return status;
    int total = -1;
    for (int o = 0; o < p->noutputs; o++) {
        int loss = output_loss(m, p, o);
        if (loss < 0) return loss;
        p->graph.nodes[p->output_loss[o]].keep = true;
        total = o == 0 ? loss : nn_graph_op(&p->graph, NN_OP_ADD, (int[]){ total, loss }, 2, NULL, "loss");
        if (total < 0) return total;
    }
    for (int i = 0; total >= 0 && i < b.npenalties; i++)
        total = nn_graph_op(&p->graph, NN_OP_ADD, (int[]){ total, b.penalties[i] }, 2, NULL, "regularization");
    p->loss = total;
    return total < 0 ? total : NN_OK;
}

int nn_program_prepare(nn_model *m, nn_program_kind kind, int64_t capacity, nn_program *p) {
    if (!m->built) return nn_error(NN_ERR_STATE, "model '%s' is not built: give the first layer an input_shape or call fit", m->name);
    if (kind != NN_PROGRAM_PREDICT && !m->compiled) return nn_error(NN_ERR_STATE, "model '%s' is not compiled: call nn_compile first", m->name);
    if (!p->graph.count) {
        int status = build_program_graph(m, kind, p);
        if (status) {
            nn_program_clear(p);
            return status;
        }
        nn_fuse_conv_pools(&p->graph);
    }
    if (capacity > p->capacity) {
        size_t size = nn_plan_graph(&p->graph, capacity, kind == NN_PROGRAM_TRAIN);
        float *arena = size ? nn_calloc(size, sizeof(float)) : NULL;
        if (!arena) return NN_ERR_NOMEM;
        nn_free(p->arena);
        p->arena = arena;
        p->arena_size = size;
        p->capacity = capacity;
    }
    return NN_OK;
}

void nn_program_clear(nn_program *p) {
    nn_graph_free(&p->graph);
    nn_free(p->arena);
    *p = (nn_program){ 0 };
}

int nn_model_program(nn_model *m, nn_program_kind kind, int64_t capacity, nn_program **out) {
    NN_ASSERT(kind < NN_PROGRAM_PREDICT); /* predictors own their prediction programs */
    int status = nn_program_prepare(m, kind, capacity, &m->programs[kind]);
    if (!status) *out = &m->programs[kind];
    return status;
}

/* ------------------------------------------------------------ weights by name */

int nn_model_weight_count(const nn_model *m) { return m ? m->nvars : 0; }

const char *nn_model_weight_name(const nn_model *m, int i) {
    return m && i >= 0 && i < m->nvars ? m->vars[i].name : NULL;
}

static int weight_lookup(const nn_model *m, const char *name, const nn_variable **v) {
    if (!m || !name) return nn_error(NN_ERR_ARG, "weight access: model or name is NULL");
    if (!m->built) return nn_error(NN_ERR_STATE, "model '%s' is not built yet, so it has no weights", m->name);
    *v = nn_model_find_var(m, name);
    if (*v) return NN_OK;
    char known[512] = "";
    size_t used = 0;
    for (int i = 0; i < m->nvars && used < sizeof known; i++)
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", m->vars[i].name);
    return nn_error(NN_ERR_NAME, "model '%s' has no weight '%s' (known: %s)", m->name, name, known);
}

int nn_model_get_weight(const nn_model *m, const char *name, nn_tensor **out) {
    const nn_variable *v;
    int status = weight_lookup(m, name, &v);
    if (status) return status;
    *out = nn_tensor_new(NN_FLOAT32, v->ndim, v->shape);
    if (!*out) return NN_ERR_NOMEM;
    memcpy((*out)->data, m->params + v->offset, v->size * sizeof(float));
    return NN_OK;
}

int nn_model_set_weight(nn_model *m, const char *name, const nn_tensor *value) {
    const nn_variable *v;
    int status = weight_lookup(m, name, &v);
    if (status) return status;
    if (!value || value->dtype != NN_FLOAT32 || (size_t)nn_tensor_size(value) != v->size) {
        char want[96], got[96] = "NULL";
        if (value) nn_shape_str(value->ndim, value->shape, got, sizeof got);
        return nn_error(NN_ERR_SHAPE, "weight '%s' has shape %s; got a tensor of shape %s", name,
                        nn_shape_str(v->ndim, v->shape, want, sizeof want), got);
    }
    memcpy(m->params + v->offset, value->data, v->size * sizeof(float));
    return NN_OK;
}
