/* Internal interfaces shared by nn's modules. Not installed. */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include "nn.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Internal invariants only; never for user input, file contents or allocation failure. */
#define NN_ASSERT(cond)                                                                      \
    do {                                                                                     \
        if (!(cond)) nn_assert_fail(#cond, __FILE__, __LINE__);                              \
    } while (0)
void nn_assert_fail(const char *cond, const char *file, int line);

#define NN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A function of loops the compiler vectorizes (elementwise ops, optimizer updates), compiled
 * for AVX2 as well as for the baseline (SSE2 on x86-64), the better chosen once at load time
 * (an ifunc; glibc on x86-64 only). Both do the same float operations (ISO C mode keeps the
 * compiler from contracting into FMAs, and without -ffast-math no sum is reordered), so the
 * results are the same bits on every CPU: only the vector width differs. An AVX-512 clone was
 * measured slower on Zen 4 (Adam's square roots and divisions at 512 bits), so there is none.
 * Static functions only: clang resolves the clones only where the definition is seen. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define NN_VECTOR_LOOPS __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef NN_VECTOR_LOOPS
#define NN_VECTOR_LOOPS
#endif
/* Put before a loop whose iterations read and write through many pointers that never overlap
 * the ones it writes: without it, GCC gives up vectorizing when the run-time overlap checks
 * would be too many. */
#if defined(__clang__)
#define NN_NO_OVERLAP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define NN_NO_OVERLAP _Pragma("GCC ivdep")
#else
#define NN_NO_OVERLAP
#endif

/* ------------------------------------------------------------ memory (core/status.c) */
void *nn_malloc(size_t size);              /* sets NN_ERR_NOMEM message on failure */
void *nn_calloc(size_t count, size_t size); /* overflow-checked, zeroed */
void *nn_realloc(void *ptr, size_t size);
void nn_free(void *ptr);
char *nn_strdup(const char *s);
/* *out = a * b; false on overflow. */
bool nn_size_mul(size_t a, size_t b, size_t *out);

/* ------------------------------------------------------------ errors (core/status.c) */
/* Sets this thread's message (printf format) and returns status, so callers can write
 * `return nn_error(NN_ERR_ARG, "...")`. */
int nn_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with "context: " (e.g. the layer name). Returns status. */
int nn_error_context(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nn_clear_error(void);
/* Writes "a, b, c" (the names of a NULL-terminated or counted table) for "known: ..." messages. */
void nn_join_names(char *buf, size_t size, const char *const *names, size_t count);

/* ------------------------------------------------------------ rng (core/rng.c) */
/* xoshiro256** seeded through splitmix64: explicit state, no globals. */
typedef struct nn_rng { uint64_t s[4]; } nn_rng;
void nn_rng_seed(nn_rng *r, uint64_t seed);
uint64_t nn_rng_u64(nn_rng *r);
double nn_rng_uniform(nn_rng *r);          /* [0, 1) */
double nn_rng_normal(nn_rng *r);           /* standard normal */
uint64_t nn_rng_below(nn_rng *r, uint64_t n); /* uniform in [0, n), unbiased */
/* Fisher-Yates shuffle of index[0..n). */
void nn_rng_shuffle(nn_rng *r, int64_t *index, int64_t n);
/* The seed set by nn_set_seed on this thread (a fixed default if never set). */
uint64_t nn_default_seed(void);

/* ------------------------------------------------------------ values (core/value.c) */
/* A JSON-shaped tree: layer and optimizer configs, the model file's metadata, and the
 * arguments of Keras-style calls such as "Dense(32, activation=relu)". */
typedef enum nn_value_type {
    NN_VALUE_NULL, NN_VALUE_BOOL, NN_VALUE_NUMBER, NN_VALUE_STRING, NN_VALUE_LIST, NN_VALUE_DICT
} nn_value_type;

typedef struct nn_value {
    nn_value_type type;
    bool boolean;
    double number;
    char *string;            /* STRING */
    int count;               /* LIST, DICT */
    struct nn_value *items;  /* LIST, DICT values */
    char **keys;             /* DICT keys */
} nn_value;

void nn_value_clear(nn_value *v); /* frees contents; leaves NULL */
nn_value nn_value_number(double x);
nn_value nn_value_bool(bool b);
int nn_value_string(nn_value *out, const char *s);  /* copies s */
int nn_value_list_new(nn_value *out);
int nn_value_dict_new(nn_value *out);
/* Appends (takes ownership of item's contents, also on failure). */
int nn_value_list_push(nn_value *list, nn_value item);
int nn_value_dict_set(nn_value *dict, const char *key, nn_value item);
/* Borrowed lookup; NULL if absent. */
const nn_value *nn_value_get(const nn_value *dict, const char *key);
int nn_value_copy(nn_value *out, const nn_value *v);
/* JSON text (compact). *out is malloc'd through nn_malloc; free with nn_free. */
int nn_value_to_json(const nn_value *v, char **out);
/* Parses JSON; errors give the byte offset. Depth limited to 64. */
int nn_value_from_json(const char *text, size_t len, nn_value *out);
/* Parses a Keras-style call: `Name(arg, arg, key=value, ...)` or a bare `Name`. Values: numbers,
 * quoted or bare names, True/False/None, tuples/lists `(28, 28, 1)`. On success *name is the
 * class name (nn_malloc'd), *args a LIST of positional values, *kwargs a DICT. *end (if not
 * NULL) receives the position after the call, so a space-separated sequence can be parsed. */
int nn_parse_call(const char *text, char **name, nn_value *args, nn_value *kwargs, const char **end);
/* Moves positional args into kwargs under the callee's `positional` names (NULL-terminated,
 * NULL for none), as Python binds them. Errors quote `text`: too many positional arguments, or
 * one also given by name. args is left empty. */
int nn_bind_positional(const char *text, const char *callee, const char *const *positional, nn_value *args,
                       nn_value *kwargs);

/* ------------------------------------------------------------ activations (layers/activations.c) */
/* forward writes y; backward ACCUMULATES into dx given x, y and dy. Data are (rows, cols)
 * row-major; elementwise activations ignore the split, softmax works per row. */
typedef struct nn_activation_def {
    const char *name;
    /* y may be x (in place). */
    void (*forward)(float *y, const float *x, int64_t rows, int64_t cols);
    void (*backward)(float *dx, const float *x, const float *y, const float *dy, int64_t rows,
                     int64_t cols);
    /* g *= f'(x) in place, from the output y = f(x) alone, the same floats as backward's
     * dy * f'(x); NULL where the derivative needs x. A fused op (dense) keeps only y. */
    void (*scale_by_derivative)(float *g, const float *y, int64_t rows, int64_t cols);
    bool relu; /* max(x, 0), which a GEMM applies as it stores its output */
    bool rowwise; /* each output depends on its whole row (softmax), not on its input alone */
} nn_activation_def;
/* NULL (with a message listing the known names) for an unknown name. NULL or "" finds linear.
 * Aliases as Keras: "swish" is silu. */
const nn_activation_def *nn_activation_find(const char *name);
/* The table and its size, for listing. */
const nn_activation_def *nn_activation_table(size_t *count);

/* ------------------------------------------------------------ initializers (layers/initializers.c) */
/* Fills w (shape as Keras's kernel shape; fans as Keras's compute_fans) from cfg->name and its
 * parameters (zero fields take Keras's defaults). Errors: unknown name (lists known), bad shape. */
int nn_initializer_fill(const nn_initializer_opts *cfg, float *w, int ndim, const int64_t *shape,
                        nn_rng *rng);
/* 0 if name is a known initializer, else NN_ERR_NAME with the known names listed. */
int nn_initializer_check(const char *name);

/* ------------------------------------------------------------ optimizers (optim/optimizers.c) */
typedef struct nn_var_span { size_t offset, size; } nn_var_span;

typedef struct nn_optimizer_def {
    const char *name;           /* registry name: "adam" */
    const char *class_name;     /* Keras class: "Adam" */
    int slots;                  /* float slots per parameter element */
    nn_optimizer_opts defaults; /* Keras defaults */
} nn_optimizer_def;

struct nn_optimizer {
    const nn_optimizer_def *def;
    nn_optimizer_opts opts;     /* defaults filled in */
    int64_t iterations;         /* steps applied so far (Keras's optimizer.iterations) */
};

typedef struct nn_threads nn_threads; /* core/threads.h */

/* Number of float slots per parameter element the optimizer keeps. */
int nn_optimizer_slot_count(const nn_optimizer *o);
/* Initial slot values (most are 0; adagrad's accumulator starts at initial_accumulator_value).
 * slots holds slot_count blocks of `stride` floats. */
void nn_optimizer_init_slots(const nn_optimizer *o, float *slots, size_t stride);
/* One Keras optimizer step over the trainable variables `vars` (offsets into params/grads and
 * into each slot block): gradient clipping (clipnorm per variable, global_clipnorm, clipvalue),
 * weight decay, the update rule, then iterations += 1. grads may be modified (clipping).
 * Long runs of variables are split over the pool's threads (NULL: this thread); the rules are
 * elementwise, so every split gives the same bits. Makes no heap allocation. */
void nn_optimizer_apply(nn_optimizer *o, nn_threads *pool, const nn_var_span *vars, int nvars, float *params,
                        float *grads, float *slots, size_t stride);
/* Config as Keras's get_config keys (learning_rate, beta_1, ...), and back. */
int nn_optimizer_get_config(const nn_optimizer *o, nn_value *out);
/* Builds from a registry or class name plus a Keras-style kwargs dict (unknown keys are errors). */
nn_optimizer *nn_optimizer_from_config(const char *name, const nn_value *kwargs);
/* Known optimizer names, NULL-terminated. */
const char *const *nn_optimizer_names(void);

/* ------------------------------------------------------------ losses (losses/losses.c) */
/* A loss reduces each sample's row (the last axis flattened: cols values) to one value, as
 * Keras's loss functions do before "sum_over_batch_size" reduction. */
typedef enum nn_loss_target { NN_TARGET_SAME_SHAPE, NN_TARGET_CLASS_INDEX } nn_loss_target;

typedef struct nn_loss_def {
    const char *name;          /* canonical Keras function name */
    const char *class_name;    /* Keras class: "BinaryCrossentropy" */
    const char *alias;         /* "mse", ... or NULL */
    nn_loss_target target;     /* y_true shape: same as y_pred, or one class index per sample */
    double (*forward)(const float *pred, const float *truth, int64_t cols, const nn_loss_opts *o);
    /* ACCUMULATES scale * d(loss_row)/d(pred) into dpred. */
    void (*backward)(float *dpred, const float *pred, const float *truth, int64_t cols,
                     const nn_loss_opts *o, float scale);
} nn_loss_def;

struct nn_loss {
    const nn_loss_def *def;
    nn_loss_opts opts;  /* defaults filled in */
};

const nn_loss_def *nn_loss_find(const char *name); /* class names and aliases too; NULL + message */
nn_loss *nn_loss_from_config(const char *name, const nn_value *kwargs);
int nn_loss_get_config(const nn_loss *l, nn_value *out);

/* ------------------------------------------------------------ metrics (metrics/metrics.c) */
typedef struct nn_metric nn_metric;
/* Resolves a metric name as Keras's compile does: "accuracy"/"acc" becomes binary, categorical
 * or sparse categorical accuracy from the loss and the output width. Names: accuracy,
 * binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
 * sparse_top_k_categorical_accuracy, mse/mean_squared_error, mae/mean_absolute_error, precision,
 * recall, auc. The metric's display name is the name the user gave (Keras: "accuracy"). */
nn_metric *nn_metric_new(const char *name, const nn_loss *loss, int64_t output_cols);
void nn_metric_free(nn_metric *m);
const char *nn_metric_name(const nn_metric *m);
void nn_metric_reset(nn_metric *m);
/* pred and truth as the loss sees them (rows samples, pred has cols values per row, truth has
 * cols or 1 value per row); weights per row or NULL. */
void nn_metric_update(nn_metric *m, const float *pred, const float *truth, int64_t rows,
                      int64_t cols, int64_t truth_cols, const float *weights);
double nn_metric_result(const nn_metric *m);
/* A running weighted mean (Keras's Mean metric), used for the loss. */
typedef struct nn_mean { double total, count; } nn_mean;

/* ------------------------------------------------------------ datasets (data/dataset.c) */
/* Gives d (x of shape (N, count)) its feature names: one nn_malloc'd block of `count` pointers
 * followed by the strings they point to. d takes ownership. */
void nn_dataset_set_feature_names(nn_dataset *d, char **names, int64_t count);
/* Gives d its class names (same block layout as feature names). d takes ownership. */
void nn_dataset_set_class_names(nn_dataset *d, char **names, int64_t count);

/* ------------------------------------------------------------ texts (data/text.c, data/corpus.c) */
/* nn_text_vectorizer_new with the status: NN_ERR_NAME, NN_ERR_ARG or NN_ERR_NOMEM. */
int nn_text_vectorizer_make(const nn_text_vectorizer_opts *opts, nn_text_vectorizer **out);
nn_texts *nn_texts_new(void);
/* Appends text (nn_malloc'd; taken over, also on failure) with its class label (-1 = none). */
int nn_texts_push(nn_texts *t, char *text, int64_t label);
/* Appends the records of a corpus file (see nn_text_corpus_load), each first passed to clean
 * (when not NULL, to edit it in place) and labelled `label`. */
int nn_texts_read_corpus(nn_texts *t, const char *path, const char *separator, void (*clean)(char *),
                         int64_t label);
/* Copies names[0..count) as t's class names. */
int nn_texts_set_classes(nn_texts *t, const char *const *names, int64_t count);
/* A new list of t's texts index[0..count), labels and class names included. NULL: no memory. */
nn_texts *nn_texts_take(const nn_texts *t, const int64_t *index, int64_t count);

/* ------------------------------------------------------------ tensors (core/tensor.c) */
/* A tensor over data inside a read-only file mapping [map_base, map_base + map_size), which
 * nn_tensor_free unmaps. NULL (mapping left to the caller) on a bad shape or no memory. */
nn_tensor *nn_tensor_wrap_mapping(nn_dtype dtype, int ndim, const int64_t *shape, void *data, void *map_base,
                                  size_t map_size);

/* ------------------------------------------------------------ batches (data/batches.c) */
/* Rows of x, y (and per-sample weights) to feed a model: sample i of a pass is row
 * offset + index[i] (offset + i without an index) of the arrays, in any dtype. */
#define NN_MAX_FEED_ARRAYS (2 * NN_MAX_MODEL_IO)
typedef struct nn_feed {
    const nn_tensor *arrays[NN_MAX_FEED_ARRAYS]; /* the model's inputs, then its targets if any */
    int count;
    const float *w;           /* one weight per row, or NULL (weights of 1) */
    int64_t offset;
    const int64_t *index;
} nn_feed;

/* Copies samples [start, start + n) of each array into its float32 batch buffer outs[i]
 * (n, inner), and weights into w_out (n, w_inner) when w_out is not NULL. No allocation. */
void nn_feed_gather(const nn_feed *f, int64_t start, int64_t n, float *const *outs, float *w_out, int64_t w_inner);
/* Starts loading samples [start, start + n) into the cache (prefetch instructions, no waiting),
 * so that gathering them a step later does not wait on memory: shuffled rows of an array
 * larger than the cache are each a miss otherwise. */
void nn_feed_prefetch(const nn_feed *f, int64_t start, int64_t n);

/* A background thread that gathers the next batches while the model computes the current one.
 * Used when a batch is large enough for the hand-over to pay (nn_prefetch_worthwhile). */
typedef struct nn_prefetcher nn_prefetcher;
bool nn_prefetch_worthwhile(const nn_feed *f, int64_t batch);
/* Staging for batches of up to `batch` samples; w_inner as for nn_feed_gather (0 = no weights). */
int nn_prefetch_new(const nn_feed *f, int64_t batch, int64_t w_inner, nn_prefetcher **out);
/* Starts a pass over `count` samples in batches (the feed's index must not change until the
 * pass's last batch is taken). */
void nn_prefetch_begin(nn_prefetcher *p, int64_t count);
/* Waits for batch `step` of the pass and copies it into the buffers (as nn_feed_gather). */
void nn_prefetch_take(nn_prefetcher *p, int64_t step, float *const *outs, float *w_out);
void nn_prefetch_free(nn_prefetcher *p);

/* As nn_tensor_new, with the data left unset: for readers that fill every element. */
nn_tensor *nn_tensor_new_uninit(nn_dtype dtype, int ndim, const int64_t *shape);
/* A tensor that takes over `data`, a buffer from nn_malloc, and frees it with the tensor. NULL
 * (data left to the caller) on a bad shape or no memory. */
nn_tensor *nn_tensor_adopt(nn_dtype dtype, int ndim, const int64_t *shape, void *data);

/* ------------------------------------------------------------ .npy (data/npy.c) */
/* Parses a whole .npy image held in memory (an .npz member); `where` names it in messages
 * ("'a.npz' member 'x.npy'"). *out owns its data, in native byte order and C order. */
int nn_npy_parse(const char *where, const unsigned char *bytes, size_t size, nn_tensor **out);
/* Writes t's .npy preamble and header (numpy's layout, version 1.0, padded to 64 bytes) into
 * buf (512 bytes always suffice); *len receives its length. */
int nn_npy_header(const nn_tensor *t, char *buf, size_t cap, size_t *len);

/* ------------------------------------------------------------ files (data/files.c) */
/* zlib allocation through nn's allocator (z_stream's zalloc and zfree). */
void *nn_zlib_alloc(void *opaque, unsigned items, unsigned size);
void nn_zlib_free(void *opaque, void *p);
/* Reads a whole file (with `limit` bytes at most; larger is an error naming the file). *data is
 * nn_malloc'd (NUL-terminated for convenience). */
int nn_read_file(const char *path, size_t limit, char **data, size_t *size);
/* Writes through "<path>.tmp.<pid>" + fsync + rename; `write` fills the open stream. On failure
 * the temporary file is removed and an existing file at path is untouched. */
int nn_write_file_atomic(const char *path, int (*write)(FILE *f, void *ctx), void *ctx);
/* Inflates gzip (by magic) or returns the bytes as they are; `limit` caps the output. */
int nn_gunzip(const char *path, const unsigned char *in, size_t in_size, size_t limit, unsigned char **out,
              size_t *out_size);

#endif /* NN_INTERNAL_H */
