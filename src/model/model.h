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
    /* How many tensors a call returns, from the configured layer (NULL = 1). */
    int (*output_count)(const nn_layer *l);
} nn_layer_def;

#define NN_MAX_LAYER_IO 8
/* The longest chain of layer calls a functional model may have (graph walks recurse). */
#define NN_MAX_GRAPH_DEPTH 10000

/* A symbolic tensor (Keras's KerasTensor): output `index` of call `call` of a layer. Symbols
 * live inside their layer's calls, so the layer owns them. */
struct nn_symbol {
    nn_layer *layer;
    int call, index;
};

/* One call of a layer in the functional API (Keras's Node): the symbols it was called on
 * (borrowed from their layers) and the ones it returns. */
typedef struct nn_layer_call {
    nn_symbol *inputs[NN_MAX_LAYER_IO];
    int ninputs;
    nn_symbol outputs[NN_MAX_LAYER_IO];
    int noutputs;
} nn_layer_call;

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
    int64_t target_shape[NN_MAX_DIMS]; /* Reshape's target, Permute's dims */
    int axis;                /* Concatenate: counted with the batch axis, negative from the end */
    int64_t repeats;         /* RepeatVector's n */
    nn_model *submodel;      /* a model used as a layer (owned) */
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
    /* the first build's variables, found again by later builds and by calls of a shared layer */
    bool vars_made;
    int var_first;
    /* functional API */
    nn_layer_call **calls;
    int ncalls;
    nn_model *owner;         /* the model that took the layer, or NULL */
    nn_symbol failed;        /* what nn_call returns when the call cannot be recorded */
    int symbolic_ndim;       /* InputLayer: the input's shape without the batch dimension */
    int64_t symbolic_shape[NN_MAX_DIMS];
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
/* A key nn does not support but Keras saves: absent (filled in as None) or None; anything else
 * fails with "... must be None (<unsupported> are not supported)". */
int nn_cfg_null(nn_layer *l, const char *key, const char *unsupported);
/* The options of a layer with a kernel (Dense, Conv): activation, use_bias, kernel/bias
 * initializers and regularizers, with Keras's defaults (src/layers/core_layers.c). */
int nn_cfg_kernel_options(nn_layer *l);
/* The same for a kernel with another Keras name: "depthwise" reads depthwise_initializer and
 * depthwise_regularizer into kernel_init and kernel_reg. */
int nn_cfg_named_kernel_options(nn_layer *l, const char *kernel);
/* Adds an op made by layer l (named after it in messages); *node receives it. */
int nn_layer_op(nn_builder *b, nn_layer *l, nn_op kind, const int *inputs, int count, const nn_attr *attr, int *node);
/* Adds the layer's activation op after `input` unless it is linear. */
int nn_layer_activate(nn_builder *b, nn_layer *l, int input, int *output);

/* Builds one call of layer l on inputs (by build or build_multi), carries the input's mask to
 * outputs that keep its time axis when the layer propagates masks, and returns the number of
 * outputs or a negative status. Wrappers (Bidirectional, TimeDistributed) build their inner
 * layer through it too. */
int nn_layer_build_call(nn_layer *l, nn_builder *b, const int *inputs, int ninputs, int *outputs);

/* Keras's InputLayer, the source of a functional model's inputs (src/model/functional.c). */
extern const nn_layer_def nn_layer_input;
/* A model as Keras's {"class_name": "Functional" or "Sequential", "config": {...}}, and a new
 * model (built, uncompiled) from one (src/io/model_file.c). */
int nn_model_config(const nn_model *m, nn_value *out);
int nn_model_from_config(const nn_value *model, nn_model **out);
/* Models used as layers (src/model/functional.c). */
extern const nn_layer_def nn_layer_functional_model, nn_layer_sequential_model;
/* Marks a layer's variables (and those of a model it holds) as not made, so the next build
 * creates them in the model being built. */
void nn_layer_forget_vars(nn_layer *l);
/* Copies the weights of every model used as a layer into m's variables (after m's build). */
void nn_model_copy_nested_weights(nn_model *m);

/* Records a call of layer l on symbols and returns its first output (or the layer's failed
 * symbol, with the error kept in the layer). InputLayers are called on nothing. */
nn_symbol *nn_layer_record_call(nn_layer *l, nn_symbol *const *inputs, int ninputs);
/* Keras's node index of model node k: its rank among the calls of its layer in the model. */
int nn_model_keras_node_index(const nn_model *m, int k);
/* Gives a layer added to model m its Keras automatic name (dense, dense_1, ...) unless it was
 * named, failing if the name is taken. */
int nn_model_name_layer(nn_model *m, nn_layer *l);

/* The layer kinds (src/layers/core_layers.c). */
extern const nn_layer_def nn_layer_dense, nn_layer_activation, nn_layer_flatten, nn_layer_reshape,
    nn_layer_dropout, nn_layer_normalization, nn_layer_rescaling;
/* Convolution, pooling and spatial layers (src/layers/conv_layers.c). */
extern const nn_layer_def nn_layer_conv1d, nn_layer_conv2d, nn_layer_max_pooling1d, nn_layer_max_pooling2d,
    nn_layer_average_pooling1d, nn_layer_average_pooling2d, nn_layer_global_average_pooling1d,
    nn_layer_global_average_pooling2d, nn_layer_global_max_pooling1d, nn_layer_global_max_pooling2d,
    nn_layer_zero_padding2d, nn_layer_cropping2d, nn_layer_up_sampling2d, nn_layer_depthwise_conv2d,
    nn_layer_separable_conv2d, nn_layer_conv2d_transpose;
/* Normalization and regularization layers (src/layers/norm_layers.c). */
extern const nn_layer_def nn_layer_layer_normalization, nn_layer_batch_normalization, nn_layer_gaussian_noise,
    nn_layer_spatial_dropout1d, nn_layer_spatial_dropout2d, nn_layer_group_normalization;
/* Sequence layers and wrappers (src/layers/recurrent_layers.c). */
extern const nn_layer_def nn_layer_embedding, nn_layer_masking, nn_layer_simple_rnn, nn_layer_lstm, nn_layer_gru,
    nn_layer_bidirectional, nn_layer_time_distributed;
/* A layer from Keras's nested form {"class_name": ..., "config": {...}} (as a wrapper's "layer"
 * holds it; positional arguments of the call syntax under "args" are bound first). Returns
 * NULL with a message naming `where` on a bad form, an unknown class or a config error. */
nn_layer *nn_layer_from_nested(const nn_value *spec, const char *where);
/* Merging and reordering layers (src/layers/merge_layers.c). */
extern const nn_layer_def nn_layer_add, nn_layer_subtract, nn_layer_multiply, nn_layer_average, nn_layer_maximum,
    nn_layer_minimum, nn_layer_concatenate, nn_layer_permute, nn_layer_repeat_vector;
/* Attention layers (src/layers/attention_layers.c). */
extern const nn_layer_def nn_layer_multi_head_attention;

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
    const char *prefix; /* "inner_model/" while a model used as a layer builds; NULL at the top */
};

/* Adds model m's graph to the builder's: the model's own (given NULL: INPUT nodes are made and
 * x[] receives them) or, for a model used as a layer, on the graph nodes given[] as its inputs.
 * pred[] receives the outputs. */
int nn_model_build_graph(nn_model *m, nn_builder *b, const int *given, int *x, int *pred);

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
    int ninputs, noutputs;
    /* node indices: the model's inputs and outputs, and (for a loss) each output's targets,
     * sample weights and weighted mean loss, and the total loss (-1 when absent) */
    int x[NN_MAX_MODEL_IO], pred[NN_MAX_MODEL_IO], y[NN_MAX_MODEL_IO], w[NN_MAX_MODEL_IO];
    int output_loss[NN_MAX_MODEL_IO];
    int loss;
} nn_program;

typedef enum nn_program_kind { NN_PROGRAM_TRAIN, NN_PROGRAM_EVAL, NN_PROGRAM_PREDICT } nn_program_kind;

/* Where a layer call takes an input from: output `index` of model node `node`. */
typedef struct nn_model_ref {
    int node, index;
} nn_model_ref;

/* A layer call in the model's graph. Sequential models get a chain of them at build. */
typedef struct nn_model_node {
    int layer;                /* index into layers; -1 for a Sequential model's input */
    int call;                 /* which call of the layer this is (Keras's node index) */
    int ninputs, noutputs;
    nn_model_ref inputs[NN_MAX_LAYER_IO];
} nn_model_node;

struct nn_model {
    char name[NN_NAME_SIZE];
    nn_layer **layers;
    int nlayers, cap;
    /* the graph of layer calls, in an order where every input comes first */
    bool functional;
    nn_model_node *nodes;
    int nnodes;
    int ninputs, noutputs;
    int inputs[NN_MAX_MODEL_IO];           /* nodes (InputLayer calls, or a Sequential's node 0) */
    nn_model_ref outputs[NN_MAX_MODEL_IO];
    /* build */
    bool built;
    int input_ndim;                        /* the first input's shape (without the batch) */
    int64_t input_shape[NN_MAX_DIMS];
    nn_variable *vars;
    int nvars;
    float *params, *grads;
    size_t nparams;
    /* compile */
    bool compiled;
    nn_optimizer *optimizer;
    nn_loss *losses[NN_MAX_MODEL_IO];      /* one per output */
    double loss_weights[NN_MAX_MODEL_IO];
    char metric_names[NN_MAX_METRICS][32]; /* as compiled: each applies to every output */
    int nmetric_names;
    nn_metric **metrics;                   /* metric_names x outputs, output-major */
    int *metric_output;                    /* the output each metric reads */
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
/* (Re)creates the compiled metrics from metric_names for the current losses and output widths. */
int nn_model_resolve_metrics(nn_model *m);
/* Builds the model's graph once to create its variables, and initializes them. */
int nn_model_create_vars(nn_model *m);
/* Allocates gradient and optimizer state for a built, compiled model. */
int nn_model_prepare_training(nn_model *m);
/* Whether a Normalization layer still needs adapting. */
bool nn_model_needs_adapt(const nn_model *m);
/* The display name of output o (its layer's name), for per-output logs such as "dense_1_loss". */
const char *nn_model_output_name(const nn_model *m, int o);
/* The shape (without the batch dimension) of model input i. */
void nn_model_input_shape(const nn_model *m, int i, int *ndim, int64_t *shape);
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
/* Whether a non-final update would draw now: the logs need computing only then. */
bool nn_progress_due(const nn_progress *p);

/* Summary (src/model/summary.c). */
void nn_format_count(int64_t n, char *buf, size_t size); /* 1,598 */

#endif
