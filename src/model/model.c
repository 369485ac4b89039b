/* Sequential models: layers, build (variables and their initial values), compile, and the
 * programs (graph + memory plan + arena) that fit, evaluate and predict run. */
#include "model/model.h"

#include <stdio.h>

/* ------------------------------------------------------------ layers of a model */

static bool layer_name_taken(const nn_model *m, const char *name) {
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i]->name, name) == 0) return true;
    return false;
}

/* Keras's automatic names: dense, dense_1, dense_2, ... */
static int assign_name(nn_model *m, nn_layer *l) {
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
    if (m->built || m->compiled) {
        nn_layer_free(l);
        return nn_error(NN_ERR_STATE, "nn_model_add: the model is already built; add layers before compile and fit");
    }
    int status = assign_name(m, l);
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
    return NN_OK;
}

nn_model *nn_sequential(nn_layer *const *layers) {
    nn_model *m = nn_calloc(1, sizeof *m);
    int status = m ? NN_OK : NN_ERR_NOMEM;
    if (m) {
        snprintf(m->name, sizeof m->name, "sequential");
        nn_rng_seed(&m->rng, nn_default_seed());
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
    nn_free(m->grads);
    nn_free(m->slots);
    nn_free(m->spans);
    nn_optimizer_free(m->optimizer);
    nn_loss_free(m->loss);
    for (int i = 0; i < m->nmetrics; i++) nn_metric_free(m->metrics[i]);
    nn_free(m->metrics);
    nn_model_drop_programs(m);
    nn_threads_free(m->threads);
    nn_free(m);
}

int nn_model_layer_count(const nn_model *m) { return m ? m->nlayers : 0; }

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
    size_t used = layer_path(l, v->name, sizeof v->name);
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
    const nn_node *in = &b->graph->nodes[inputs[0]];
    for (int i = 0; l->def->propagates_mask && in->mask >= 0 && i < count; i++) {
        nn_node *out = &b->graph->nodes[outputs[i]];
        if (out->mask < 0 && out->ndim >= 2 && in->ndim >= 2 && out->shape[1] == in->shape[1]) out->mask = in->mask;
    }
    return count;
}

/* Runs every layer's build after an input node; records output shapes. */
static int build_layers(nn_model *m, nn_builder *b, int *output) {
    char in_shape[96];
    int node = nn_graph_input(b->graph, m->input_ndim, m->input_shape, "input");
    if (node < 0) return node;
    for (int i = 0; i < m->nlayers; i++) {
        nn_layer *l = m->layers[i];
        b->layer = i;
        if (b->create) l->param_count = 0;
        nn_node_shape_str(&b->graph->nodes[node], in_shape, sizeof in_shape);
        int outputs[NN_MAX_LAYER_IO];
        int status = nn_layer_build_call(l, b, &node, 1, outputs);
        if (status > 1)
            status = nn_error(NN_ERR_ARG, "layer '%s' (%s) returns %d tensors; a Sequential model needs layers of one output (use the functional API)",
                              l->name, l->def->class_name, status);
        if (status == 1) node = outputs[0], status = NN_OK;
        if (status) {
            char named[NN_NAME_SIZE + 16];
            snprintf(named, sizeof named, "layer '%s'", l->name);
            if (!strstr(nn_last_error(), named))
                nn_error_context(status, "layer '%s' (%s) on input %s", l->name, l->def->class_name, in_shape);
            return status;
        }
        if (b->create) { /* later builds only read the model, so predictors can be made concurrently */
            const nn_node *out = &b->graph->nodes[node];
            l->out_ndim = out->ndim;
            memcpy(l->out_shape, out->shape, sizeof l->out_shape);
        }
    }
    *output = node;
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
    nn_graph graph = { 0 };
    nn_builder b = { .model = m, .graph = &graph, .create = true };
    int output;
    int status = build_layers(m, &b, &output);
    nn_graph_free(&graph);
    if (!status) {
        m->params = nn_calloc(m->nparams ? m->nparams : 1, sizeof(float));
        status = m->params ? initialize_vars(m) : NN_ERR_NOMEM;
    }
    if (!status && !m->threads) status = nn_threads_new(0, &m->threads);
    if (status) {
        nn_free(m->vars), nn_free(m->params);
        m->vars = NULL, m->params = NULL, m->nvars = 0, m->nparams = 0;
        return status;
    }
    m->built = true;
    return NN_OK;
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

static int resolve_loss(const nn_compile_opts *o, nn_loss **out) {
    if (o->loss_obj) {
        *out = o->loss_obj;
        return NN_OK;
    }
    if (!o->loss) return nn_error(NN_ERR_ARG, "nn_compile: no loss given (e.g. .loss = \"binary_crossentropy\")");
    char *name = NULL;
    nn_value kwargs = { NN_VALUE_NULL };
    int status = parse_spec(o->loss, NULL, &name, &kwargs);
    if (!status) {
        *out = nn_loss_from_config(name, &kwargs);
        if (!*out) status = NN_ERR_NAME;
    }
    nn_free(name);
    nn_value_clear(&kwargs);
    return status;
}

static void drop_compile_state(nn_model *m) {
    nn_optimizer_free(m->optimizer);
    nn_loss_free(m->loss);
    for (int i = 0; i < m->nmetrics; i++) nn_metric_free(m->metrics[i]);
    nn_free(m->metrics);
    nn_free(m->slots);
    nn_free(m->grads);
    nn_free(m->spans);
    m->optimizer = NULL, m->loss = NULL, m->metrics = NULL, m->nmetrics = 0;
    m->slots = NULL, m->grads = NULL, m->spans = NULL, m->nspans = 0;
    m->compiled = false;
    nn_model_drop_programs(m);
}

/* Output width for resolving "accuracy" (1 when the model is not built yet: resolved again at
 * fit when it matters). */
static int64_t output_columns(const nn_model *m) {
    if (!m->built || !m->nlayers) return 1;
    const nn_layer *last = m->layers[m->nlayers - 1];
    return last->out_shape[last->out_ndim - 1];
}

int nn_model_resolve_metrics(nn_model *m, const char *const *names) {
    int count = 0;
    while (names && names[count]) count++;
    if (count > NN_MAX_METRICS - 1) return nn_error(NN_ERR_ARG, "at most %d metrics", NN_MAX_METRICS - 1);
    nn_metric **metrics = nn_calloc((size_t)(count ? count : 1), sizeof *metrics);
    if (!metrics) return NN_ERR_NOMEM;
    for (int i = 0; i < count; i++) {
        metrics[i] = nn_metric_new(names[i], m->loss, output_columns(m));
        if (!metrics[i]) {
            for (int j = 0; j < i; j++) nn_metric_free(metrics[j]);
            nn_free(metrics);
            return NN_ERR_NAME;
        }
    }
    for (int i = 0; i < m->nmetrics; i++) nn_metric_free(m->metrics[i]);
    nn_free(m->metrics);
    m->metrics = metrics;
    m->nmetrics = count;
    return NN_OK;
}

int nn_compile(nn_model *m, const nn_compile_opts *o) {
    if (!m || !o) {
        if (o) nn_optimizer_free(o->optimizer_obj), nn_loss_free(o->loss_obj);
        return nn_error(NN_ERR_ARG, "nn_compile: %s is NULL", m ? "opts" : "model");
    }
    drop_compile_state(m);
    nn_optimizer *opt = NULL;
    nn_loss *loss = NULL;
    int status = resolve_optimizer(o, &opt);
    if (!status) status = resolve_loss(o, &loss);
    if (status) {
        if (opt != o->optimizer_obj) nn_optimizer_free(opt);
        if (loss != o->loss_obj) nn_loss_free(loss);
        nn_optimizer_free(o->optimizer_obj);
        nn_loss_free(o->loss_obj);
        return status;
    }
    m->optimizer = opt;
    m->loss = loss;
    status = nn_model_resolve_metrics(m, o->metrics);
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

/* The target's per-sample shape for the loss: like the prediction, or one class index. */
static void target_shape(const nn_model *m, const nn_node *pred, int *ndim, int64_t *shape) {
    *ndim = pred->ndim - 1;
    memcpy(shape, pred->shape + 1, (size_t)*ndim * sizeof *shape);
    if (m->loss->def->target == NN_TARGET_CLASS_INDEX) shape[*ndim - 1] = 1;
}

static int build_program_graph(nn_model *m, nn_program_kind kind, nn_program *p) {
    nn_builder b = { .model = m, .graph = &p->graph, .training = kind == NN_PROGRAM_TRAIN };
    p->y = p->w = p->loss = -1;
    int status = build_layers(m, &b, &p->pred);
    p->x = 0;
    if (!status) p->graph.nodes[p->pred].keep = true; /* metrics and predict read it after the pass */
    if (status || kind == NN_PROGRAM_PREDICT) return status;
    int tndim;
    int64_t tshape[NN_MAX_DIMS];
    const nn_node *pred = &p->graph.nodes[p->pred];
    target_shape(m, pred, &tndim, tshape);
    p->y = nn_graph_input(&p->graph, tndim, tshape, "targets");
    if (p->y < 0) return p->y;
    nn_attr loss_attr = { .ptr = m->loss };
    int loss = nn_graph_op(&p->graph, NN_OP_LOSS, (int[]){ p->pred, p->y }, 2, &loss_attr, "loss");
    if (loss < 0) return loss;
    const nn_node *per_sample = &p->graph.nodes[loss];
    p->w = nn_graph_input(&p->graph, per_sample->ndim - 1, per_sample->shape + 1, "sample_weight");
    if (p->w < 0) return p->w;
    int weighted = nn_graph_op(&p->graph, NN_OP_MUL, (int[]){ loss, p->w }, 2, NULL, "loss");
    if (weighted < 0) return weighted;
    int total = nn_graph_op(&p->graph, NN_OP_REDUCE_MEAN, &weighted, 1, NULL, "loss");
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
