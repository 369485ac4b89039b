/* Layers, models and the programs compiled from them (internal). */
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include "core/graph.h"

#define NN_NAME_SIZE 64

typedef struct nn_builder nn_builder;

/* A layer kind. Layers build ops; they never write a backward pass. */
typedef struct nn_layer_def {
    const char *class_name;             /* Keras class: "Dense" */
    const char *base_name;              /* automatic names: "dense", "dense_1", ... */
    const char *const *positional;      /* Keras's positional argument order, NULL-terminated */
    const char *const *keys;            /* config keys the layer accepts besides the common ones */
    /* Validates l->config, fills its defaults (so the saved config is complete) and sets the
     * typed fields. */
    int (*configure)(nn_layer *l);
    /* Adds the layer's ops after `input`; *output receives the last node. For layers of one
     * input and one output; NULL when build_multi is given. */
    int (*build)(nn_layer *l, nn_builder *b, int input, int *output);
    /* For layers of several inputs or outputs (merging, attention, recurrent layers with
     * return_state): adds the ops after inputs[0..ninputs-1], writes outputs[] (at most
     * NN_MAX_LAYER_IO) and returns how many, or a negative status. */
    int (*build_multi)(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs);
    /* The output keeps the input's mask when it keeps its time axis (Keras's supports_masking
     * for layers that do not change the mask). */
    bool propagates_mask;
} nn_layer_def;

#define NN_MAX_LAYER_IO 8

struct nn_layer {
    const nn_layer_def *def;
    char name[NN_NAME_SIZE];
    nn_value config;         /* Keras-style config: the single source of the layer's options */
    char *error;             /* a construction error, reported by nn_sequential */
    /* typed fields, set by configure */
    int64_t units;
    const nn_activation_def *activation;
    bool use_bias;
    nn_initializer_opts kernel_init, bias_init;
    nn_regularizer_opts kernel_reg, bias_reg;
    double rate, scale, offset;
    int target_ndim;
    int64_t target_shape[NN_MAX_DIMS];
    int input_ndim;          /* declared input shape (without batch), 0 if none */
    int64_t input_shape[NN_MAX_DIMS];
    /* Wrappers (Bidirectional, TimeDistributed): the wrapped layers, made by configure from the
     * config's nested layers and owned here. A wrapped layer's `outer` is its wrapper: its
     * weights are named under the wrapper ("bidirectional/forward_lstm/lstm_cell/kernel") and
     * counted in the wrapper's parameters. */
    nn_layer *inner[2];
    nn_layer *outer;
    /* set when the model is built */
    int out_ndim;
    int64_t out_shape[NN_MAX_DIMS]; /* with the batch dimension (-1) */
    int64_t param_count;
};

/* Registry. */
const nn_layer_def *nn_layer_find(const char *class_name); /* NULL + message listing known */
/* A layer from a class and a config dict (takes ownership of config's contents). Config errors
 * return a layer carrying the error; NULL only when out of memory. */
nn_layer *nn_layer_from_config(const nn_layer_def *def, nn_value config);
/* Config accessors used by configure: each fails naming the layer and the key. */
int nn_cfg_int(nn_layer *l, const char *key, int64_t fallback, int64_t min, int64_t *out);
int nn_cfg_number(nn_layer *l, const char *key, double fallback, double *out);
int nn_cfg_bool(nn_layer *l, const char *key, bool fallback, bool *out);
int nn_cfg_activation(nn_layer *l, const char *key, const nn_activation_def **out);
int nn_cfg_initializer(nn_layer *l, const char *key, const char *fallback, nn_initializer_opts *out);
int nn_cfg_regularizer(nn_layer *l, const char *key, nn_regularizer_opts *out);
int nn_cfg_shape(nn_layer *l, const char *key, int *ndim, int64_t *shape, bool required);
/* The options of a layer with a kernel (Dense, Conv): activation, use_bias, kernel/bias
 * initializers and regularizers, with Keras's defaults (src/layers/core_layers.c). */
int nn_cfg_kernel_options(nn_layer *l);
/* Adds the layer's activation op after `input` unless it is linear. */
int nn_layer_activate(nn_builder *b, nn_layer *l, int input, int *output);

/* Builds one call of layer l on inputs (by build or build_multi), carries the input's mask to
 * outputs that keep its time axis when the layer propagates masks, and returns the number of
 * outputs or a negative status. Wrappers (Bidirectional, TimeDistributed) build their inner
 * layer through it too. */
int nn_layer_build_call(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs);

/* The layer kinds (src/layers/core_layers.c). */
extern const nn_layer_def nn_layer_dense, nn_layer_activation, nn_layer_flatten, nn_layer_reshape,
    nn_layer_dropout, nn_layer_normalization, nn_layer_rescaling;
/* Convolution, pooling and spatial layers (src/layers/conv_layers.c). */
extern const nn_layer_def nn_layer_conv1d, nn_layer_conv2d, nn_layer_max_pooling1d, nn_layer_max_pooling2d,
    nn_layer_average_pooling1d, nn_layer_average_pooling2d, nn_layer_global_average_pooling1d,
    nn_layer_global_average_pooling2d, nn_layer_global_max_pooling1d, nn_layer_global_max_pooling2d,
    nn_layer_zero_padding2d, nn_layer_cropping2d, nn_layer_up_sampling2d;
/* Normalization and regularization layers (src/layers/norm_layers.c). */
extern const nn_layer_def nn_layer_layer_normalization, nn_layer_batch_normalization, nn_layer_gaussian_noise,
    nn_layer_spatial_dropout1d, nn_layer_spatial_dropout2d;
/* Sequence layers and wrappers (src/layers/recurrent_layers.c). */
extern const nn_layer_def nn_layer_embedding, nn_layer_masking, nn_layer_simple_rnn, nn_layer_lstm, nn_layer_gru,
    nn_layer_bidirectional, nn_layer_time_distributed;
/* A layer from Keras's nested form {"class_name": ..., "config": {...}} (as a wrapper's "layer"
 * holds it; positional arguments of the call syntax under "args" are bound first). Returns
 * NULL with a message naming `where` on a bad form, an unknown class or a config error. */
nn_layer *nn_layer_from_nested(const nn_value *spec, const char *where);

typedef struct nn_variable {
    char name[2 * NN_NAME_SIZE];  /* "dense/kernel" */
    int layer;
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    size_t offset, size;          /* in the parameter block, floats */
    bool trainable;
    /* Bytes per value of the variable's Keras dtype (8 for Normalization's int64 count): what
     * summary reports and what a Keras file stores, though nn keeps every value as float32. */
    int keras_value_bytes;
    nn_initializer_opts init;
    /* Values [ones_from, ones_from + ones_count) set to 1 after the initializer: LSTM's
     * unit_forget_bias (the forget gate's slice of the bias). */
    int64_t ones_from, ones_count;
    nn_regularizer_opts reg;
} nn_variable;

/* What a layer sees while building: the graph, and the model's variables (created on the
 * model's first build, then found again in the same order). */
struct nn_builder {
    nn_model *model;
    nn_graph *graph;
    bool training;
    bool create;
    int layer;          /* index of the layer being built */
    int next_var;       /* variables consumed so far (when not creating) */
    int penalties[64];  /* regularization terms to add to the loss */
    int npenalties;
};

/* A PARAM node for the layer's next weight; creates the variable on first build. */
int nn_builder_weight(nn_builder *b, nn_layer *l, const char *name, int ndim, const int64_t *shape,
                      const nn_initializer_opts *init, const nn_regularizer_opts *reg, bool trainable);

/* A compiled graph with its memory plan and arena, for one use: training, evaluation
 * (loss without gradients) or prediction. */
typedef struct nn_program {
    nn_graph graph;
    int64_t capacity;     /* samples the arena is planned for */
    float *arena;
    size_t arena_size;
    int x, y, w, pred, loss; /* node indices (y, w, loss: -1 when absent) */
} nn_program;

typedef enum nn_program_kind { NN_PROGRAM_TRAIN, NN_PROGRAM_EVAL, NN_PROGRAM_PREDICT } nn_program_kind;

struct nn_model {
    char name[NN_NAME_SIZE];
    nn_layer **layers;
    int nlayers, cap;
    /* build */
    bool built;
    int input_ndim;
    int64_t input_shape[NN_MAX_DIMS];
    nn_variable *vars;
    int nvars;
    float *params, *grads;
    size_t nparams;
    /* compile */
    bool compiled;
    nn_optimizer *optimizer;
    nn_loss *loss;
    nn_metric **metrics;
    int nmetrics;
    float *slots;
    nn_var_span *spans;
    int nspans;
    nn_rng rng;
    nn_threads *threads;  /* the kernels' pool, made with the model's build (so predictors share it) */
    nn_program programs[NN_PROGRAM_PREDICT]; /* training and evaluation */
};

/* Builds (when empty) and plans p for `kind` at up to `capacity` samples. Reads the model only. */
int nn_program_prepare(nn_model *m, nn_program_kind kind, int64_t capacity, nn_program *p);
void nn_program_clear(nn_program *p);
/* The model's own training or evaluation program, prepared for `capacity` samples. */
int nn_model_program(nn_model *m, nn_program_kind kind, int64_t capacity, nn_program **out);
void nn_model_drop_programs(nn_model *m);
/* (Re)creates the compiled metrics from their names for the current loss and output width. */
int nn_model_resolve_metrics(nn_model *m, const char *const *names);
/* Allocates gradient and optimizer state for a built, compiled model. */
int nn_model_prepare_training(nn_model *m);
/* The layer index of a Normalization that still needs adapting, or -1. */
bool nn_model_needs_adapt(const nn_model *m);
/* Parameter bytes as Keras counts them (each variable at its Keras dtype's size). */
int64_t nn_model_param_bytes(const nn_model *m, bool trainable_only);
const nn_variable *nn_model_find_var(const nn_model *m, const char *name);

/* Metric display names in Keras's order (sorted), for progress and history. */
typedef struct nn_logs {
    int count;
    char names[NN_MAX_METRICS][32];
    double values[NN_MAX_METRICS];
} nn_logs;

/* Progress output (src/model/progress.c). */
typedef struct nn_progress {
    FILE *out;
    int verbose;       /* 1 bar, 2 line per epoch, 0 silent */
    bool dynamic;      /* a terminal: redraw in place */
    int64_t target;    /* steps per epoch */
    double start, last_draw;
    int prev_width;
} nn_progress;
double nn_now(void);
void nn_progress_start(nn_progress *p, FILE *out, int verbose, int64_t target);
void nn_progress_update(nn_progress *p, int64_t step, const nn_logs *logs, bool final);

/* Summary (src/model/summary.c). */
void nn_format_count(int64_t n, char *buf, size_t size); /* 1,598 */

#endif
