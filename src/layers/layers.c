/* The layer registry, Keras-style configs, and the typed constructors of nn.h. Every way of
 * making a layer (C constructor, `nn` command text, model file) ends in nn_layer_from_config. */
#include "model/model.h"

#include <ctype.h>
#include <stdio.h>

static const nn_layer_def *const layer_table[] = {
    &nn_layer_dense, &nn_layer_activation, &nn_layer_flatten, &nn_layer_reshape,
    &nn_layer_dropout, &nn_layer_normalization, &nn_layer_rescaling,
    &nn_layer_conv1d, &nn_layer_conv2d, &nn_layer_max_pooling1d, &nn_layer_max_pooling2d,
    &nn_layer_average_pooling1d, &nn_layer_average_pooling2d, &nn_layer_global_average_pooling1d,
    &nn_layer_global_average_pooling2d, &nn_layer_global_max_pooling1d, &nn_layer_global_max_pooling2d,
    &nn_layer_zero_padding2d, &nn_layer_cropping2d, &nn_layer_up_sampling2d,
    &nn_layer_layer_normalization, &nn_layer_batch_normalization, &nn_layer_gaussian_noise,
    &nn_layer_spatial_dropout1d, &nn_layer_spatial_dropout2d,
    &nn_layer_input, &nn_layer_functional_model, &nn_layer_sequential_model, &nn_layer_add, &nn_layer_subtract, &nn_layer_multiply, &nn_layer_average, &nn_layer_maximum,
    &nn_layer_minimum, &nn_layer_concatenate, &nn_layer_permute, &nn_layer_repeat_vector,
    &nn_layer_multi_head_attention,
    &nn_layer_depthwise_conv2d, &nn_layer_separable_conv2d, &nn_layer_conv2d_transpose,
    &nn_layer_group_normalization,
    &nn_layer_embedding, &nn_layer_masking, &nn_layer_simple_rnn, &nn_layer_lstm, &nn_layer_gru,
    &nn_layer_bidirectional, &nn_layer_time_distributed,
};

/* Keys every layer accepts (Keras base Layer arguments). */
static const char *const common_keys[] = { "name", "input_shape", "trainable", "dtype", NULL };

const nn_layer_def *nn_layer_find(const char *class_name) {
    for (size_t i = 0; i < NN_ARRAY_LEN(layer_table); i++)
        if (class_name && strcmp(layer_table[i]->class_name, class_name) == 0) return layer_table[i];
    const char *names[NN_ARRAY_LEN(layer_table)];
    for (size_t i = 0; i < NN_ARRAY_LEN(layer_table); i++) names[i] = layer_table[i]->class_name;
    char known[1024];
    nn_join_names(known, sizeof known, names, NN_ARRAY_LEN(layer_table));
    nn_error(NN_ERR_NAME, "unknown layer '%s' (known: %s)", class_name ? class_name : "(null)", known);
    return NULL;
}

static bool in_list(const char *const *list, const char *key) {
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0) return true;
    return false;
}

/* ------------------------------------------------------------ config accessors */

static int cfg_fail(nn_layer *l, const char *key, const char *expected) {
    return nn_error(NN_ERR_ARG, "layer '%s' (%s): '%s' must be %s", l->name, l->def->class_name, key, expected);
}

int nn_cfg_number(nn_layer *l, const char *key, double fallback, double *out) {
    const nn_value *v = nn_value_get(&l->config, key);
    if (!v || v->type == NN_VALUE_NULL) {
        *out = fallback;
        return nn_value_dict_set(&l->config, key, nn_value_number(fallback));
    }
    if (v->type != NN_VALUE_NUMBER || !isfinite(v->number)) return cfg_fail(l, key, "a finite number");
    *out = v->number;
    return NN_OK;
}

int nn_cfg_int(nn_layer *l, const char *key, int64_t fallback, int64_t min, int64_t *out) {
    double x;
    int status = nn_cfg_number(l, key, (double)fallback, &x);
    if (status) return status;
    if (x != floor(x) || x < (double)min || x > 1e15) {
        char expected[64];
        snprintf(expected, sizeof expected, "an integer >= %lld", (long long)min);
        return cfg_fail(l, key, expected);
    }
    *out = (int64_t)x;
    return NN_OK;
}

int nn_cfg_bool(nn_layer *l, const char *key, bool fallback, bool *out) {
    const nn_value *v = nn_value_get(&l->config, key);
    if (!v || v->type == NN_VALUE_NULL) {
        *out = fallback;
        return nn_value_dict_set(&l->config, key, nn_value_bool(fallback));
    }
    if (v->type != NN_VALUE_BOOL) return cfg_fail(l, key, "True or False");
    *out = v->boolean;
    return NN_OK;
}

static int cfg_string(nn_layer *l, const char *key, const char *fallback, const char **out) {
    const nn_value *v = nn_value_get(&l->config, key);
    if (!v || v->type == NN_VALUE_NULL) {
        nn_value s;
        int status = nn_value_string(&s, fallback);
        if (!status) status = nn_value_dict_set(&l->config, key, s);
        if (status) return status;
        v = nn_value_get(&l->config, key);
    }
    if (v->type != NN_VALUE_STRING) return cfg_fail(l, key, "a name");
    *out = v->string;
    return NN_OK;
}

int nn_cfg_activation(nn_layer *l, const char *key, const nn_activation_def **out) {
    const char *name = NULL;
    int status = cfg_string(l, key, "linear", &name);
    if (status) return status;
    *out = nn_activation_find(name);
    return *out ? NN_OK : nn_error_context(NN_ERR_NAME, "layer '%s' (%s)", l->name, l->def->class_name);
}

/* An initializer is a name ("he_normal") or Keras's {"class_name": ..., "config": {...}}. */
int nn_cfg_initializer(nn_layer *l, const char *key, const char *fallback, nn_initializer_opts *out) {
    const nn_value *v = nn_value_get(&l->config, key);
    *out = (nn_initializer_opts){ 0 };
    if (v && v->type == NN_VALUE_DICT) {
        const nn_value *cls = nn_value_get(v, "class_name"), *cfg = nn_value_get(v, "config");
        if (!cls || cls->type != NN_VALUE_STRING) return cfg_fail(l, key, "an initializer name or {\"class_name\": ...}");
        out->name = cls->string;
        const struct { const char *key; double *field; } fields[] = {
            { "value", &out->value }, { "minval", &out->minval }, { "maxval", &out->maxval },
            { "mean", &out->mean }, { "stddev", &out->stddev }, { "gain", &out->gain },
        };
        for (size_t i = 0; cfg && cfg->type == NN_VALUE_DICT && i < NN_ARRAY_LEN(fields); i++) {
            const nn_value *f = nn_value_get(cfg, fields[i].key);
            if (f && f->type == NN_VALUE_NUMBER) *fields[i].field = f->number;
        }
    } else {
        int status = cfg_string(l, key, fallback, &out->name);
        if (status) return status;
    }
    int status = nn_initializer_check(out->name);
    return status ? nn_error_context(status, "layer '%s' (%s)", l->name, l->def->class_name) : NN_OK;
}

/* A regularizer is null, "l1", "l2", "l1_l2" (Keras's defaults 0.01), or
 * {"class_name": "L1L2", "config": {"l1": x, "l2": y}} (or just {"l1": x, "l2": y}). */
int nn_cfg_regularizer(nn_layer *l, const char *key, nn_regularizer_opts *out) {
    const nn_value *v = nn_value_get(&l->config, key);
    *out = (nn_regularizer_opts){ 0 };
    if (!v || v->type == NN_VALUE_NULL) return nn_value_dict_set(&l->config, key, (nn_value){ NN_VALUE_NULL });
    if (v->type == NN_VALUE_STRING) {
        if (strcmp(v->string, "l1") == 0) out->l1 = 0.01;
        else if (strcmp(v->string, "l2") == 0) out->l2 = 0.01;
        else if (strcmp(v->string, "l1_l2") == 0) out->l1 = out->l2 = 0.01;
        else return cfg_fail(l, key, "l1, l2, l1_l2 or {\"l1\": x, \"l2\": y}");
        return NN_OK;
    }
    if (v->type != NN_VALUE_DICT) return cfg_fail(l, key, "l1, l2, l1_l2 or {\"l1\": x, \"l2\": y}");
    const nn_value *cfg = nn_value_get(v, "config");
    if (!cfg) cfg = v;
    const nn_value *l1 = nn_value_get(cfg, "l1"), *l2 = nn_value_get(cfg, "l2");
    if ((l1 && l1->type != NN_VALUE_NUMBER) || (l2 && l2->type != NN_VALUE_NUMBER))
        return cfg_fail(l, key, "given with numeric l1 and l2");
    out->l1 = l1 ? l1->number : 0.0;
    out->l2 = l2 ? l2->number : 0.0;
    if (out->l1 < 0 || out->l2 < 0) return cfg_fail(l, key, "non-negative");
    return NN_OK;
}

int nn_cfg_null(nn_layer *l, const char *key, const char *unsupported) {
    const nn_value *v = nn_value_get(&l->config, key);
    if (v && v->type != NN_VALUE_NULL) {
        char expected[96];
        snprintf(expected, sizeof expected, "None (%s are not supported)", unsupported);
        return cfg_fail(l, key, expected);
    }
    return v ? NN_OK : nn_value_dict_set(&l->config, key, (nn_value){ NN_VALUE_NULL });
}

/* A shape is a list of positive integers (one -1 allowed where noted by the layer) or one integer. */
int nn_cfg_shape(nn_layer *l, const char *key, int *ndim, int64_t *shape, bool required) {
    const nn_value *v = nn_value_get(&l->config, key);
    *ndim = 0;
    if (!v || v->type == NN_VALUE_NULL) return required ? cfg_fail(l, key, "given (a tuple of dimensions)") : NN_OK;
    if (v->type == NN_VALUE_NUMBER) {
        if (v->number < 1 || v->number != floor(v->number)) return cfg_fail(l, key, "a tuple of positive integers");
        shape[0] = (int64_t)v->number;
        *ndim = 1;
        return NN_OK;
    }
    if (v->type != NN_VALUE_LIST || v->count > NN_MAX_DIMS - 1) return cfg_fail(l, key, "a tuple of at most 7 dimensions");
    for (int i = 0; i < v->count; i++) {
        const nn_value *d = &v->items[i];
        if (d->type != NN_VALUE_NUMBER || d->number != floor(d->number) || (d->number < 1 && d->number != -1) || d->number > 1e12)
            return cfg_fail(l, key, "a tuple of positive integers");
        shape[i] = (int64_t)d->number;
    }
    *ndim = v->count;
    return NN_OK;
}

/* ------------------------------------------------------------ construction */

static nn_layer *layer_alloc(const nn_layer_def *def) {
    nn_layer *l = nn_calloc(1, sizeof *l);
    if (l) l->def = def;
    return l;
}

static void set_layer_error(nn_layer *l) {
    nn_free(l->error);
    l->error = nn_strdup(nn_last_error());
    if (!l->error) l->error = nn_strdup("out of memory");
}

nn_layer *nn_layer_from_config(const nn_layer_def *def, nn_value config) {
    nn_layer *l = layer_alloc(def);
    if (!l) {
        nn_value_clear(&config);
        return NULL;
    }
    l->config = config;
    int status = NN_OK;
    if (config.type != NN_VALUE_DICT) {
        status = nn_error(NN_ERR_ARG, "layer %s: config must be a dict", def->class_name);
    }
    for (int i = 0; !status && i < config.count; i++)
        if (!in_list(common_keys, config.keys[i]) && !in_list(def->keys, config.keys[i]))
            status = nn_error(NN_ERR_ARG, "layer %s: unknown argument '%s'", def->class_name, config.keys[i]);
    const nn_value *name = status ? NULL : nn_value_get(&l->config, "name");
    if (name && name->type == NN_VALUE_STRING) {
        if (strlen(name->string) >= NN_NAME_SIZE || !name->string[0] || strchr(name->string, '/'))
            status = nn_error(NN_ERR_ARG, "layer %s: name '%.80s' must be 1-%d characters without '/'",
                              def->class_name, name->string, NN_NAME_SIZE - 1);
        else
            snprintf(l->name, sizeof l->name, "%s", name->string);
    } else if (name && name->type != NN_VALUE_NULL) {
        status = nn_error(NN_ERR_ARG, "layer %s: 'name' must be a string", def->class_name);
    }
    if (!l->name[0]) snprintf(l->name, sizeof l->name, "%s", def->base_name);
    if (!status) status = nn_cfg_shape(l, "input_shape", &l->input_ndim, l->input_shape, false);
    if (!status) status = def->configure(l);
    if (status) set_layer_error(l);
    return l;
}

nn_layer *nn_layer_from_nested(const nn_value *spec, const char *where) {
    const nn_value *cls = spec && spec->type == NN_VALUE_DICT ? nn_value_get(spec, "class_name") : NULL;
    const nn_value *cfg = cls ? nn_value_get(spec, "config") : NULL, *args = cls ? nn_value_get(spec, "args") : NULL;
    if (!cls || cls->type != NN_VALUE_STRING || (cfg && cfg->type != NN_VALUE_DICT) || (args && args->type != NN_VALUE_LIST)) {
        nn_error(NN_ERR_ARG, "%s: 'layer' must be a layer, as LSTM(8) or {\"class_name\": \"LSTM\", \"config\": {...}}", where);
        return NULL;
    }
    const nn_layer_def *def = nn_layer_find(cls->string);
    if (!def) {
        nn_error_context(NN_ERR_NAME, "%s", where);
        return NULL;
    }
    nn_value config = { NN_VALUE_NULL }, positional = { NN_VALUE_NULL };
    int status = cfg ? nn_value_copy(&config, cfg) : nn_value_dict_new(&config);
    if (!status && args) status = nn_value_copy(&positional, args);
    if (!status && args) status = nn_bind_positional(cls->string, def->class_name, def->positional, &positional, &config);
    nn_value_clear(&positional);
    if (status) {
        nn_value_clear(&config);
        nn_error_context(status, "%s", where);
        return NULL;
    }
    nn_layer *l = nn_layer_from_config(def, config);
    if (l && l->error) {
        nn_error(NN_ERR_ARG, "%s: %s", where, l->error);
        nn_layer_free(l);
        return NULL;
    }
    return l;
}

void nn_layer_free(nn_layer *l) {
    if (!l) return;
    for (int i = 0; i < l->ncalls; i++) nn_free(l->calls[i]);
    nn_free(l->calls);
    nn_model_free(l->submodel);
    nn_layer_free(l->inner[0]);
    nn_layer_free(l->inner[1]);
    nn_value_clear(&l->config);
    nn_free(l->error);
    nn_free(l);
}

/* ---- helpers that turn the C option structs into configs */

typedef struct config_builder { nn_value dict; int status; } config_builder;

static config_builder config_start(void) {
    config_builder c = { .status = NN_OK };
    c.status = nn_value_dict_new(&c.dict);
    return c;
}

static void put(config_builder *c, const char *key, nn_value v) {
    if (c->status) nn_value_clear(&v);
    else c->status = nn_value_dict_set(&c->dict, key, v);
}

static void put_string(config_builder *c, const char *key, const char *s) {
    nn_value v = { NN_VALUE_NULL };
    if (!s || c->status) return;
    c->status = nn_value_string(&v, s);
    put(c, key, v);
}

static void put_shape(config_builder *c, const char *key, const int64_t *shape) {
    nn_value list = { NN_VALUE_NULL };
    if (!shape[0] || c->status) return;
    c->status = nn_value_list_new(&list);
    for (int i = 0; i < NN_MAX_DIMS && shape[i] && !c->status; i++)
        c->status = nn_value_list_push(&list, nn_value_number((double)shape[i]));
    put(c, key, list);
}

static void put_regularizer(config_builder *c, const char *key, nn_regularizer_opts r) {
    nn_value dict = { NN_VALUE_NULL };
    if (c->status || (r.l1 == 0 && r.l2 == 0)) return;
    c->status = nn_value_dict_new(&dict);
    if (!c->status) c->status = nn_value_dict_set(&dict, "l1", nn_value_number(r.l1));
    if (!c->status) c->status = nn_value_dict_set(&dict, "l2", nn_value_number(r.l2));
    put(c, key, dict);
}

/* A layer that failed before it could hold its error (out of memory): nn_sequential knows it. */
static nn_layer *finish(const nn_layer_def *def, config_builder c) {
    if (c.status) {
        nn_value_clear(&c.dict);
        nn_layer *l = layer_alloc(def);
        if (l) {
            snprintf(l->name, sizeof l->name, "%s", def->base_name);
            set_layer_error(l);
        }
        return l;
    }
    return nn_layer_from_config(def, c.dict);
}

/* activation, use_bias, and the initializers and regularizers of the kernel (named by its
 * Keras prefix: "kernel", "depthwise") and of the bias. */
static void put_kernel_options(config_builder *c, const char *kernel, const char *activation, int use_bias,
                               const char *kernel_init, const char *bias_init, nn_regularizer_opts kernel_reg,
                               nn_regularizer_opts bias_reg) {
    char init_key[48], reg_key[48];
    snprintf(init_key, sizeof init_key, "%s_initializer", kernel);
    snprintf(reg_key, sizeof reg_key, "%s_regularizer", kernel);
    put_string(c, "activation", activation);
    put(c, "use_bias", nn_value_bool(use_bias != NN_OFF));
    put_string(c, init_key, kernel_init);
    put_string(c, "bias_initializer", bias_init);
    put_regularizer(c, reg_key, kernel_reg);
    put_regularizer(c, "bias_regularizer", bias_reg);
}

nn_layer *nn_dense_layer(const nn_dense_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put(&c, "units", nn_value_number((double)o->units));
    put_kernel_options(&c, "kernel", o->activation, o->use_bias, o->kernel_initializer, o->bias_initializer,
                       o->kernel_regularizer, o->bias_regularizer);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_dense, c);
}

/* A pair of window sizes (kernel, strides, pools) as Keras's 2-tuple; absent when zero; a
 * missing second value repeats the first; NN_OFF is an explicit 0 (output_padding). */
static void put_pair(config_builder *c, const char *key, const int64_t pair[2]) {
    if (!pair[0] || c->status) return;
    nn_value list = { NN_VALUE_NULL };
    c->status = nn_value_list_new(&list);
    for (int i = 0; i < 2 && !c->status; i++) {
        int64_t value = pair[i] ? pair[i] : pair[0];
        c->status = nn_value_list_push(&list, nn_value_number(value == NN_OFF ? 0.0 : (double)value));
    }
    put(c, key, list);
}

/* kernel_size, strides, padding and (unless NULL) dilation_rate. */
static void put_window(config_builder *c, const int64_t kernel_size[2], const int64_t strides[2], const char *padding,
                       const int64_t *dilation_rate) {
    put_pair(c, "kernel_size", kernel_size);
    put_pair(c, "strides", strides);
    put_string(c, "padding", padding);
    if (dilation_rate) put_pair(c, "dilation_rate", dilation_rate);
}

nn_layer *nn_conv2d_layer(const nn_conv2d_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put(&c, "filters", nn_value_number((double)o->filters));
    put_window(&c, o->kernel_size, o->strides, o->padding, o->dilation_rate);
    if (o->groups) put(&c, "groups", nn_value_number((double)o->groups));
    put_kernel_options(&c, "kernel", o->activation, o->use_bias, o->kernel_initializer, o->bias_initializer,
                       o->kernel_regularizer, o->bias_regularizer);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_conv2d, c);
}

nn_layer *nn_depthwise_conv2d_layer(const nn_depthwise_conv2d_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put_window(&c, o->kernel_size, o->strides, o->padding, o->dilation_rate);
    if (o->depth_multiplier) put(&c, "depth_multiplier", nn_value_number((double)o->depth_multiplier));
    put_kernel_options(&c, "depthwise", o->activation, o->use_bias, o->depthwise_initializer, o->bias_initializer,
                       o->depthwise_regularizer, o->bias_regularizer);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_depthwise_conv2d, c);
}

nn_layer *nn_separable_conv2d_layer(const nn_separable_conv2d_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put(&c, "filters", nn_value_number((double)o->filters));
    put_window(&c, o->kernel_size, o->strides, o->padding, o->dilation_rate);
    if (o->depth_multiplier) put(&c, "depth_multiplier", nn_value_number((double)o->depth_multiplier));
    put_kernel_options(&c, "depthwise", o->activation, o->use_bias, o->depthwise_initializer, o->bias_initializer,
                       o->depthwise_regularizer, o->bias_regularizer);
    put_string(&c, "pointwise_initializer", o->pointwise_initializer);
    put_regularizer(&c, "pointwise_regularizer", o->pointwise_regularizer);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_separable_conv2d, c);
}

nn_layer *nn_conv2d_transpose_layer(const nn_conv2d_transpose_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put(&c, "filters", nn_value_number((double)o->filters));
    put_window(&c, o->kernel_size, o->strides, o->padding, NULL);
    put_pair(&c, "output_padding", o->output_padding);
    put_kernel_options(&c, "kernel", o->activation, o->use_bias, o->kernel_initializer, o->bias_initializer,
                       o->kernel_regularizer, o->bias_regularizer);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_conv2d_transpose, c);
}

static nn_layer *pool2d_layer(const nn_layer_def *def, const nn_pool2d_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put_pair(&c, "pool_size", o->pool_size);
    put_pair(&c, "strides", o->strides);
    put_string(&c, "padding", o->padding);
    return finish(def, c);
}

nn_layer *nn_max_pooling2d_layer(const nn_pool2d_opts *o) { return pool2d_layer(&nn_layer_max_pooling2d, o); }
nn_layer *nn_average_pooling2d_layer(const nn_pool2d_opts *o) { return pool2d_layer(&nn_layer_average_pooling2d, o); }

nn_layer *nn_embedding_layer(const nn_embedding_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put(&c, "input_dim", nn_value_number((double)o->input_dim));
    put(&c, "output_dim", nn_value_number((double)o->output_dim));
    put(&c, "mask_zero", nn_value_bool(o->mask_zero));
    put_string(&c, "embeddings_initializer", o->embeddings_initializer);
    put_regularizer(&c, "embeddings_regularizer", o->embeddings_regularizer);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_embedding, c);
}

static nn_layer *rnn_layer(const nn_layer_def *def, const nn_rnn_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put(&c, "units", nn_value_number((double)o->units));
    put_string(&c, "activation", o->activation);
    if (def != &nn_layer_simple_rnn) put_string(&c, "recurrent_activation", o->recurrent_activation);
    put(&c, "use_bias", nn_value_bool(o->use_bias != NN_OFF));
    put(&c, "return_sequences", nn_value_bool(o->return_sequences));
    put(&c, "return_state", nn_value_bool(o->return_state));
    put(&c, "go_backwards", nn_value_bool(o->go_backwards));
    put(&c, "dropout", nn_value_number(o->dropout));
    if (def == &nn_layer_lstm) put(&c, "unit_forget_bias", nn_value_bool(o->unit_forget_bias != NN_OFF));
    if (def == &nn_layer_gru) put(&c, "reset_after", nn_value_bool(o->reset_after != NN_OFF));
    put_string(&c, "kernel_initializer", o->kernel_initializer);
    put_string(&c, "recurrent_initializer", o->recurrent_initializer);
    put_string(&c, "bias_initializer", o->bias_initializer);
    put_regularizer(&c, "kernel_regularizer", o->kernel_regularizer);
    put_regularizer(&c, "recurrent_regularizer", o->recurrent_regularizer);
    put_regularizer(&c, "bias_regularizer", o->bias_regularizer);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(def, c);
}

nn_layer *nn_simple_rnn_layer(const nn_rnn_opts *o) { return rnn_layer(&nn_layer_simple_rnn, o); }
nn_layer *nn_lstm_layer(const nn_rnn_opts *o) { return rnn_layer(&nn_layer_lstm, o); }
nn_layer *nn_gru_layer(const nn_rnn_opts *o) { return rnn_layer(&nn_layer_gru, o); }

/* A wrapped layer as Keras nests it, {"class_name": ..., "config": ...}; the layer is freed. */
static void put_layer(config_builder *c, const char *key, nn_layer *inner) {
    nn_value spec = { NN_VALUE_NULL }, config = { NN_VALUE_NULL };
    if (!c->status && !inner) c->status = nn_error(NN_ERR_ARG, "wrapper: the wrapped layer is NULL");
    if (!c->status && inner->error) c->status = nn_error(NN_ERR_ARG, "%s", inner->error);
    if (!c->status) c->status = nn_value_dict_new(&spec);
    if (!c->status) c->status = nn_value_copy(&config, &inner->config);
    if (!c->status) c->status = nn_value_dict_set(&spec, "config", config);
    nn_value name = { NN_VALUE_NULL };
    if (!c->status) c->status = nn_value_string(&name, inner->def->class_name);
    if (!c->status) c->status = nn_value_dict_set(&spec, "class_name", name);
    put(c, key, spec);
    nn_layer_free(inner);
}

static nn_layer *wrapper_layer(const nn_layer_def *def, const nn_wrapper_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put_layer(&c, "layer", o->layer);
    put_string(&c, "merge_mode", o->merge_mode);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(def, c);
}

nn_layer *nn_bidirectional_layer(const nn_wrapper_opts *o) { return wrapper_layer(&nn_layer_bidirectional, o); }
nn_layer *nn_time_distributed_layer(const nn_wrapper_opts *o) { return wrapper_layer(&nn_layer_time_distributed, o); }

nn_layer *nn_activation_layer(const nn_activation_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put_string(&c, "activation", o->activation ? o->activation : "");
    return finish(&nn_layer_activation, c);
}

nn_layer *nn_flatten_layer(const nn_basic_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_flatten, c);
}

nn_layer *nn_reshape_layer(const nn_reshape_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    nn_value list = { NN_VALUE_NULL };
    if (!c.status) c.status = nn_value_list_new(&list);
    for (int i = 0; i < NN_MAX_DIMS && o->target_shape[i] && !c.status; i++)
        c.status = nn_value_list_push(&list, nn_value_number((double)o->target_shape[i]));
    put(&c, "target_shape", list);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_reshape, c);
}

/* Dropout, SpatialDropout1D, SpatialDropout2D: a rate and a seed. */
static nn_layer *dropout_kind_layer(const nn_layer_def *def, const nn_dropout_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put(&c, "rate", nn_value_number(o->rate));
    if (o->seed) put(&c, "seed", nn_value_number((double)o->seed));
    return finish(def, c);
}

nn_layer *nn_dropout_layer(const nn_dropout_opts *o) { return dropout_kind_layer(&nn_layer_dropout, o); }

nn_layer *nn_normalization_layer(const nn_normalization_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_normalization, c);
}

/* The options the normalization layers share: epsilon (0 = default), center and scale (0 =
 * default, NN_OFF = False), beta's and gamma's initializers and regularizers. */
static void put_norm_options(config_builder *c, double epsilon, int center, int scale, const char *beta_init,
                             const char *gamma_init, nn_regularizer_opts beta_reg, nn_regularizer_opts gamma_reg) {
    if (epsilon) put(c, "epsilon", nn_value_number(epsilon));
    if (center) put(c, "center", nn_value_bool(center != NN_OFF));
    if (scale) put(c, "scale", nn_value_bool(scale != NN_OFF));
    put_string(c, "beta_initializer", beta_init);
    put_string(c, "gamma_initializer", gamma_init);
    put_regularizer(c, "beta_regularizer", beta_reg);
    put_regularizer(c, "gamma_regularizer", gamma_reg);
}

nn_layer *nn_batch_normalization_layer(const nn_batch_normalization_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    if (o->momentum) put(&c, "momentum", nn_value_number(o->momentum == NN_OFF ? 0.0 : o->momentum));
    put_norm_options(&c, o->epsilon, o->center, o->scale, o->beta_initializer, o->gamma_initializer,
                     o->beta_regularizer, o->gamma_regularizer);
    put_string(&c, "moving_mean_initializer", o->moving_mean_initializer);
    put_string(&c, "moving_variance_initializer", o->moving_variance_initializer);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_batch_normalization, c);
}

nn_layer *nn_layer_normalization_layer(const nn_layer_normalization_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put_norm_options(&c, o->epsilon, o->center, o->scale, o->beta_initializer, o->gamma_initializer,
                     o->beta_regularizer, o->gamma_regularizer);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_layer_normalization, c);
}

nn_layer *nn_group_normalization_layer(const nn_group_normalization_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    if (o->groups) put(&c, "groups", nn_value_number((double)o->groups));
    put_norm_options(&c, o->epsilon, o->center, o->scale, o->beta_initializer, o->gamma_initializer,
                     o->beta_regularizer, o->gamma_regularizer);
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_group_normalization, c);
}

nn_layer *nn_gaussian_noise_layer(const nn_gaussian_noise_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put(&c, "stddev", nn_value_number(o->stddev));
    if (o->seed) put(&c, "seed", nn_value_number((double)o->seed));
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_gaussian_noise, c);
}

nn_layer *nn_spatial_dropout1d_layer(const nn_dropout_opts *o) { return dropout_kind_layer(&nn_layer_spatial_dropout1d, o); }
nn_layer *nn_spatial_dropout2d_layer(const nn_dropout_opts *o) { return dropout_kind_layer(&nn_layer_spatial_dropout2d, o); }

nn_layer *nn_rescaling_layer(const nn_rescaling_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put(&c, "scale", nn_value_number(o->scale));
    put(&c, "offset", nn_value_number(o->offset));
    put_shape(&c, "input_shape", o->input_shape);
    return finish(&nn_layer_rescaling, c);
}

nn_layer *nn_merge_layer(const char *class_name, const nn_merge_opts *o) {
    const nn_layer_def *def = nn_layer_find(class_name);
    if (!def) return NULL;
    const nn_layer_def *const merges[] = { &nn_layer_add, &nn_layer_subtract, &nn_layer_multiply, &nn_layer_average,
                                           &nn_layer_maximum, &nn_layer_minimum, &nn_layer_concatenate };
    bool merge = false;
    for (size_t i = 0; i < NN_ARRAY_LEN(merges); i++) merge |= def == merges[i];
    if (!merge) {
        nn_error(NN_ERR_ARG, "nn_merge_layer: '%s' is not a merge layer", class_name);
        return NULL;
    }
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    if (def == &nn_layer_concatenate && o->axis) put(&c, "axis", nn_value_number(o->axis));
    return finish(def, c);
}

nn_layer *nn_permute_layer(const nn_permute_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    nn_value list = { NN_VALUE_NULL };
    if (!c.status) c.status = nn_value_list_new(&list);
    for (int i = 0; i < NN_MAX_DIMS && o->dims[i] && !c.status; i++)
        c.status = nn_value_list_push(&list, nn_value_number((double)o->dims[i]));
    put(&c, "dims", list);
    return finish(&nn_layer_permute, c);
}

nn_layer *nn_repeat_vector_layer(const nn_repeat_vector_opts *o) {
    config_builder c = config_start();
    put_string(&c, "name", o->name);
    put(&c, "n", nn_value_number((double)o->n));
    return finish(&nn_layer_repeat_vector, c);
}

/* ---- "Dense(32, activation=relu)" */

nn_layer *nn_layer_parse(const char *text) {
    char *name = NULL;
    nn_value args = { NN_VALUE_NULL }, kwargs = { NN_VALUE_NULL };
    const char *end = NULL;
    if (!text) return nn_error(NN_ERR_ARG, "nn_layer_parse: text is NULL"), NULL;
    if (nn_parse_call(text, &name, &args, &kwargs, &end)) return NULL;
    while (end && isspace((unsigned char)*end)) end++;
    const nn_layer_def *def = NULL;
    int status = end && *end ? nn_error(NN_ERR_ARG, "in '%s': unexpected text after the layer at position %d", text, (int)(end - text)) : NN_OK;
    if (!status) {
        def = nn_layer_find(name);
        if (!def) status = NN_ERR_NAME;
    }
    if (!status) status = nn_bind_positional(text, def->class_name, def->positional, &args, &kwargs);
    nn_free(name);
    nn_value_clear(&args);
    if (status) {
        nn_value_clear(&kwargs);
        return NULL;
    }
    nn_layer *l = nn_layer_from_config(def, kwargs);
    if (l && l->error) {
        nn_error(NN_ERR_ARG, "%s", l->error);
        nn_layer_free(l);
        return NULL;
    }
    return l;
}
