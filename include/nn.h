/* nn: neural networks in C, shaped like Keras.
 *
 * One public header. Sections: status, tensor, data, layers, model, optimizers, losses,
 * metrics, io.
 *
 * Conventions that hold everywhere:
 *  - Calls that can fail return int (0 = NN_OK, negative = an nn_status) or NULL, and set a
 *    thread-local message readable with nn_last_error().
 *  - Every _new/_load/constructor has one _free; _free(NULL) does nothing. A failed call frees
 *    what it took. Pointers returned as "borrowed" stay owned by their parent object.
 *  - In every options struct, a field left zero means Keras's default. Where zero is itself a
 *    meaningful setting (verbose=0, shuffle=False, use_bias=False), write NN_OFF.
 */
#ifndef NN_H
#define NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NN_VERSION "0.1.0"
/* A field set to NN_OFF is explicitly off / zero (see the conventions above). */
#define NN_OFF (-1)

/* ---------------------------------------------------------------- status */

typedef enum nn_status {
    NN_OK = 0,
    NN_ERR_ARG = -1,       /* a bad argument: NULL, out of range, wrong combination */
    NN_ERR_NOMEM = -2,     /* an allocation failed */
    NN_ERR_IO = -3,        /* a file could not be opened, read or written */
    NN_ERR_FORMAT = -4,    /* a file's contents are malformed, truncated or of another version */
    NN_ERR_SHAPE = -5,     /* shapes do not fit together */
    NN_ERR_NAME = -6,      /* an unknown name (layer, activation, optimizer, loss, metric, ...) */
    NN_ERR_STATE = -7,     /* a call out of order, e.g. fit before compile */
    NN_ERR_DATA = -8,      /* data values that cannot be used: NaN, Inf, labels out of range */
} nn_status;

/* The message of the last failed call on this thread ("" if none). Borrowed; valid until the
 * next nn call on this thread. */
const char *nn_last_error(void);
/* A short fixed name for a status code ("NN_ERR_SHAPE"). */
const char *nn_status_name(int status);

/* Allocator hook, for embedding and for tests that fail the Nth allocation. All of nn's heap
 * memory goes through these. Passing NULLs restores malloc/realloc/free. Not thread-safe: set it
 * before using the library. */
typedef struct nn_allocator {
    void *(*malloc_fn)(size_t size, void *ctx);
    void *(*realloc_fn)(void *ptr, size_t size, void *ctx);
    void (*free_fn)(void *ptr, void *ctx);
    void *ctx;
} nn_allocator;
void nn_set_allocator(const nn_allocator *allocator);

/* Threads. Large kernels (matrix products of 2 MFLOP or more, convolutions over a batch) are
 * split over a model's thread pool; small work stays on the calling thread, and the split
 * kernels give the same bits for any thread count. The count applies to models built
 * afterwards. count <= 0 restores the default: NN_NUM_THREADS from the environment when it
 * holds a whole number >= 1 (anything else is ignored), otherwise the number of CPUs this
 * process may run on; at most 64. Process configuration, like nn_set_allocator. */
void nn_set_num_threads(int count);
int nn_get_num_threads(void);

/* ---------------------------------------------------------------- tensor */

#define NN_MAX_DIMS 8
/* The most inputs, and outputs, a model (and a dataset) has. */
#define NN_MAX_MODEL_IO 8

/* Element types. Models compute in float32; the other types hold data as files store it
 * (uint8 images, int64 labels, ...) and are converted per batch or by nn_tensor_cast. */
typedef enum nn_dtype {
    NN_FLOAT32 = 0, NN_FLOAT64, NN_FLOAT16,
    NN_INT8, NN_INT16, NN_INT32, NN_INT64,
    NN_UINT8, NN_UINT16, NN_UINT32, NN_UINT64,
    NN_BOOL,
    NN_DTYPE_COUNT
} nn_dtype;

/* Bytes per element (0 for an invalid dtype) and numpy's name ("float32", "uint8", ...). */
size_t nn_dtype_size(nn_dtype dtype);
const char *nn_dtype_name(nn_dtype dtype);

/* A dense row-major N-d array. Fields are readable; create and free through the calls below. */
typedef struct nn_tensor {
    nn_dtype dtype;
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    void *data;
    bool owns_data; /* false for a tensor that borrows caller memory */
    void *mapping_;        /* internal: a file mapping released with the tensor */
    size_t mapping_size_;
} nn_tensor;

/* A new zero-filled tensor. NULL on bad shape (ndim outside 0..8, negative dims, byte size
 * overflow) or allocation failure. Free with nn_tensor_free. */
nn_tensor *nn_tensor_new(nn_dtype dtype, int ndim, const int64_t *shape);
/* A tensor that borrows `data` (not copied, not freed by nn_tensor_free). The caller keeps
 * `data` alive while the tensor is used. NULL on bad shape. */
nn_tensor *nn_tensor_wrap(nn_dtype dtype, int ndim, const int64_t *shape, void *data);
/* A deep copy, owning its data. NULL on allocation failure. */
nn_tensor *nn_tensor_copy(const nn_tensor *t);
/* Frees the tensor (and its data if it owns it). NULL is a no-op. */
void nn_tensor_free(nn_tensor *t);
/* Number of elements (product of the shape; 1 for a scalar). */
int64_t nn_tensor_size(const nn_tensor *t);
/* The data as float32 (NULL if the dtype is not float32). Borrowed. */
float *nn_tensor_f32(const nn_tensor *t);
/* A new tensor of `dtype` holding t's values converted as numpy's astype does (float to integer
 * truncates toward zero; out-of-range results are an error naming the element). */
nn_tensor *nn_tensor_cast(const nn_tensor *t, nn_dtype dtype);
/* Element i (row-major flat index) of any dtype as a double. */
double nn_tensor_get(const nn_tensor *t, int64_t i);
/* Writes "(455, 30)" into buf (Keras style). Returns buf. */
char *nn_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

/* ---------------------------------------------------------------- rng */

/* One seed makes a run bitwise reproducible. nn keeps no hidden global RNG: this seed is the
 * default for models created afterwards on this thread unless their own options give one. */
void nn_set_seed(uint64_t seed);

/* ---------------------------------------------------------------- data */

typedef struct nn_dataset nn_dataset;

typedef struct nn_csv_opts {
    const char *target;  /* target column name(s), comma-separated for several: "a,b" */
    int target_index;    /* or the target column by 1-based index (-1 = the last); 0 = none */
    char delimiter;      /* 0 = detect among ',', ';', tab and '|' */
    int header;          /* 0 = detect (a first row with a cell that is not a number), 1 = present,
                            NN_OFF = none (columns are named "1", "2", ...) */
    char comment;        /* lines starting with this are skipped; 0 = '#' */
    bool fill_missing;   /* empty cells: an error by default, or fill_value */
    double fill_value;
} nn_csv_opts;

/* Loads a CSV into a dataset: x = the feature columns (N, F) as float32, y = the target
 * column(s) (N, T). Cells may be quoted ("1,5" with ',' inside quotes, "" for a quote). A target
 * column of strings ("benign", "malignant") becomes class indices in sorted order; the mapping
 * is kept (nn_dataset_class_name). Fails with the file, row and column named on: a missing
 * file, an empty file, a missing target column, a ragged row, a non-numeric cell, a missing
 * value (unless filled), NaN or Inf. */
int nn_csv_load(const char *path, const nn_csv_opts *opts, nn_dataset **out);
/* A dataset over x (N, ...) and y (N, ...) (y may be NULL for unlabelled data). Takes ownership
 * of both tensors, also on failure. Fails if the first dimensions differ. */
nn_dataset *nn_dataset_new(nn_tensor *x, nn_tensor *y);
/* A dataset for a model of several inputs or outputs: NULL-terminated lists of input arrays
 * (in the model's input order) and target arrays (one per output; the list may be NULL for
 * unlabelled data), all with the same first dimension. Takes ownership of every tensor, also
 * on failure. nn_dataset_x and nn_dataset_y give the first of each. */
nn_dataset *nn_dataset_new_multi(nn_tensor *const *inputs, nn_tensor *const *targets);
/* How many input and target arrays the dataset holds, and the i-th of each (borrowed; NULL
 * out of range). */
int nn_dataset_input_count(const nn_dataset *d);
int nn_dataset_target_count(const nn_dataset *d);
const nn_tensor *nn_dataset_input(const nn_dataset *d, int i);
const nn_tensor *nn_dataset_target(const nn_dataset *d, int i);
/* Frees the dataset and the tensors it owns. NULL is a no-op. */
void nn_dataset_free(nn_dataset *d);
/* Borrowed views of the dataset's arrays (y is NULL for an unlabelled dataset). */
const nn_tensor *nn_dataset_x(const nn_dataset *d);
const nn_tensor *nn_dataset_y(const nn_dataset *d);
/* Number of samples (x's first dimension). */
int64_t nn_dataset_size(const nn_dataset *d);
/* Column names from the CSV header (feature columns in x order; NULL when not from a CSV).
 * Borrowed. */
const char *nn_dataset_feature_name(const nn_dataset *d, int64_t column);
/* Class labels read as strings: how many, and the name of class index i (NULL when the target
 * was numeric or i is out of range). Borrowed. */
int64_t nn_dataset_class_count(const nn_dataset *d);
const char *nn_dataset_class_name(const nn_dataset *d, int64_t index);

/* ---- array files: NumPy .npy / .npz, IDX (MNIST), CSV */

typedef struct nn_npy_opts {
    bool mmap;   /* map the file instead of reading it (the tensor borrows the mapping, which
                    stays valid until the tensor is freed); arrays needing conversion are read */
} nn_npy_opts;
/* Reads a .npy file (format 1.0, 2.0, 3.0; little- or big-endian; f2/f4/f8, i1-i8, u1-u8, b1;
 * C order, or Fortran order transposed into C order). The header must declare exactly the bytes
 * that follow it: a shorter file is truncated and extra bytes are an error too. Headers over
 * 64 KiB, and object, string, structured or complex dtypes, are refused. Errors name the file
 * and the byte offset. */
int nn_npy_load(const char *path, const nn_npy_opts *opts, nn_tensor **out);
/* Writes t as a .npy (format 1.0, or 2.0 when the header needs it), via a temporary file and a
 * rename. */
int nn_npy_save(const char *path, const nn_tensor *t);

typedef struct nn_npz nn_npz;
typedef struct nn_npz_opts {
    uint64_t max_bytes;     /* refuse members inflating past this (0 = 4 GiB) */
} nn_npz_opts;
/* Reads every array of an .npz archive (stored or deflated members). Members named with a ".."
 * component, a leading "/" or a "\\", not ending in ".npy", encrypted, compressed other than
 * stored/deflate, overlapping or duplicated are refused, as are members failing their CRC-32 and
 * members that would inflate past 1000x their compressed size or past opts->max_bytes. */
int nn_npz_load(const char *path, const nn_npz_opts *opts, nn_npz **out);
int nn_npz_count(const nn_npz *z);
/* Member names without ".npy" ("x", "y"); arrays by index or name (NULL if absent). Borrowed. */
const char *nn_npz_name(const nn_npz *z, int i);
const nn_tensor *nn_npz_get(const nn_npz *z, const char *name);
void nn_npz_free(nn_npz *z);
/* Writes arrays as name.npy members of an .npz (deflated when compress, as savez_compressed).
 * Names follow the loader's rules; archives past 4 GiB (zip64) are refused. */
int nn_npz_save(const char *path, const char *const *names, const nn_tensor *const *arrays, int count,
                bool compress);

/* Reads an IDX file (the MNIST format), gzipped or not, of any IDX type code: uint8, int8,
 * int16, int32, float32, float64 (big-endian in the file). */
int nn_idx_load(const char *path, nn_tensor **out);

/* Writes a 1-D or 2-D tensor as CSV with a header row of `header` (NULL-terminated column
 * names), or no header row when header is NULL (as numpy's savetxt). Via a temporary file and a
 * rename. */
int nn_csv_save(const char *path, const nn_tensor *t, const char *const *header);

/* Reads an array from any supported file, chosen by content and extension: .npy (memory-mapped
 * where the layout allows, so a file larger than memory streams in as batches touch it), .npz
 * (its only member, or the one named after '#', "data.npz#x"), IDX (.idx, -idx3-ubyte, .gz),
 * .csv (every column, header detected). */
int nn_array_load(const char *path, nn_tensor **out);
/* Writes by extension: .npy, .csv. */
int nn_array_save(const char *path, const nn_tensor *t);

/* ---- built-in data sets */

/* Fashion-MNIST (or MNIST: the same files) from `dir` (NULL = /usr/share/datasets/fashion-mnist,
 * where Debian's dataset-fashion-mnist installs it): x uint8 (N, 28, 28), y uint8 (N,).
 * Either output may be NULL. Scale with Rescaling(1/255) or nn_tensor_cast. */
int nn_fashion_mnist_load(const char *dir, nn_dataset **train, nn_dataset **test);

/* The Breast Cancer Wisconsin (Diagnostic) data bundled with nn (UCI, CC BY 4.0): 455 training
 * and 114 test rows, 30 features as x (N, 30) float32, y (N, 1) with 1 = benign. From `dir`, or
 * (NULL) from $NN_DATA_DIR, ./data, the source tree beside the program, or where make install
 * put it. Either output may be NULL. */
int nn_breast_cancer_load(const char *dir, nn_dataset **train, nn_dataset **test);

/* ---- preprocessing (Keras and scikit-learn's) */

typedef struct nn_split_opts {
    double test_size;   /* fraction of samples in the test part (0 = 0.25, as scikit-learn) */
    uint64_t seed;      /* 0 = the nn_set_seed seed */
    bool stratify;      /* keep each class's share in both parts (y holds class labels) */
    int shuffle;        /* 0 = shuffle before splitting; NN_OFF = keep order */
} nn_split_opts;
/* scikit-learn's train_test_split: two new datasets copied from d. */
int nn_train_test_split(const nn_dataset *d, const nn_split_opts *opts, nn_dataset **train, nn_dataset **test);
/* A copy of d with its samples in a seeded random order. */
nn_dataset *nn_dataset_shuffled(const nn_dataset *d, uint64_t seed);
/* Keras's to_categorical: labels (N,) or (N, 1) -> one-hot float32 (N, num_classes);
 * num_classes 0 = max label + 1. Labels must be integers in range. */
int nn_to_categorical(const nn_tensor *labels, int num_classes, nn_tensor **out);
/* scikit-learn's compute_class_weight("balanced"): n_samples / (n_classes * count(class)),
 * written to weights[0..*count) (up to `capacity` classes). */
int nn_class_weights(const nn_tensor *labels, double *weights, int capacity, int *count);
/* Per-column (last axis) standardization (x - mean) / std, and min-max scaling to [0, 1], in
 * place on a float32 tensor; the statistics go to mean/std or min/max if not NULL (each holds
 * one value per column). Constant columns keep a divisor of 1. */
int nn_standardize(nn_tensor *x, float *mean, float *std);
int nn_minmax_scale(nn_tensor *x, float *min, float *max);

/* ---- text: Keras's TextVectorization, text corpora, the fortunes language data set */

/* Keras's TextVectorization with output_mode="int". Texts are UTF-8 C strings; every step works
 * on bytes as TensorFlow's string ops do:
 *  - standardize "lower_and_strip_punctuation" (NULL, the default), "lower", "strip_punctuation"
 *    or "none". Lowercasing maps ASCII A-Z only (tf.strings.lower: "ÀB" becomes "Àb"); stripping
 *    removes the 32 ASCII punctuation characters !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~. Bytes >= 0x80
 *    are kept as they are, so accented letters are word characters.
 *  - split "whitespace" (NULL, the default: runs of ASCII space, \t, \n, \v, \f, \r separate
 *    tokens; a no-break space does not), "character" (one token per Unicode code point; each
 *    ill-formed UTF-8 subsequence becomes U+FFFD, as tf.strings.unicode_split) or "none" (the
 *    whole text is one token).
 *  - the vocabulary (nn_text_vectorizer_adapt) is "" (index 0, padding), "[UNK]" (1, every token
 *    not in the vocabulary), then the corpus's tokens by descending count, ties by descending
 *    byte order, cut to max_tokens entries in all. */
typedef struct nn_text_vectorizer nn_text_vectorizer;
typedef struct nn_text_vectorizer_opts {
    int64_t max_tokens;             /* vocabulary size with "" and "[UNK]"; 0 = no limit, else >= 2 */
    const char *standardize;        /* see above; NULL = "lower_and_strip_punctuation" */
    const char *split;              /* see above; NULL = "whitespace" */
    int64_t output_sequence_length; /* tokens per row: later tokens are dropped, short rows end in
                                       0s; 0 = the longest text of each nn_text_vectorize call */
} nn_text_vectorizer_opts;
/* A vectorizer without a vocabulary (opts NULL = Keras's defaults). NULL, with a message naming
 * the option, for an unknown standardize or split name, max_tokens 1 or negative, or a negative
 * output_sequence_length. Free with nn_text_vectorizer_free. */
nn_text_vectorizer *nn_text_vectorizer_new(const nn_text_vectorizer_opts *opts);
void nn_text_vectorizer_free(nn_text_vectorizer *v);
/* Keras's adapt: builds the vocabulary from texts[0..n), replacing any earlier one. The tokens
 * "" and "[UNK]" are not counted. Errors: NULL texts or a NULL text (named by index), and a
 * corpus without a single token (Keras would fail later, at the first call). */
int nn_text_vectorizer_adapt(nn_text_vectorizer *v, const char *const *texts, int64_t n);
/* Keras's set_vocabulary: tokens[0..n) in index order, starting with "" and "[UNK]" or not
 * (they are added). Errors: an empty list, a repeated token, "" anywhere but first, more
 * entries than max_tokens. Copies the strings. */
int nn_text_vectorizer_set_vocabulary(nn_text_vectorizer *v, const char *const *tokens, int64_t n);
/* Entries in the vocabulary, "" and "[UNK]" included (0 before adapt), and entry i (borrowed,
 * valid until the vocabulary changes; NULL with a message when i is out of range). */
int64_t nn_text_vectorizer_vocabulary_size(const nn_text_vectorizer *v);
const char *nn_text_vectorizer_token(const nn_text_vectorizer *v, int64_t i);
/* Writes the vocabulary as Keras saves it (assets/vocabulary.txt: the entries, "" and "[UNK]"
 * first, joined by "\n"), via a temporary file and a rename. A token holding "\n" or "\r" cannot
 * be a line and is an error naming its index. */
int nn_text_vectorizer_save_vocabulary(const nn_text_vectorizer *v, const char *path);
/* Reads such a file (lines end in "\n", "\r\n" or "\r"; trailing empty lines are ignored) and
 * sets it as with nn_text_vectorizer_set_vocabulary. Errors name the file (and the line). */
int nn_text_vectorizer_load_vocabulary(nn_text_vectorizer *v, const char *path);
/* Vectorizes texts[0..n): *out = a new int64 tensor (n, output_sequence_length) of vocabulary
 * indices, as Keras's call. Errors: no vocabulary yet (NN_ERR_STATE), NULL texts. */
int nn_text_vectorize(const nn_text_vectorizer *v, const char *const *texts, int64_t n, nn_tensor **out);

/* A list of texts, optionally labelled with class indices, as Keras's text_dataset_from_directory
 * gives strings with labels and class_names. */
typedef struct nn_texts nn_texts;
typedef struct nn_text_corpus_opts {
    const char *separator;  /* a line holding exactly this ends a record; NULL = "%" (the format of
                               fortune files); "" = blank lines separate records */
} nn_text_corpus_opts;
/* Reads a text file as records separated by separator lines (a "\r" before "\n" is dropped).
 * A record is its lines joined by "\n"; records that are empty or only whitespace are skipped.
 * The bytes are kept as they are (UTF-8 expected, not checked). Errors: a missing or unreadable
 * file, a NUL byte (named by line), a file over 1 GiB. */
int nn_text_corpus_load(const char *path, const nn_text_corpus_opts *opts, nn_texts **out);
void nn_texts_free(nn_texts *t);
int64_t nn_texts_count(const nn_texts *t);
/* The texts as an array of count strings (borrowed), ready for nn_text_vectorizer_adapt and
 * nn_text_vectorize. */
const char *const *nn_texts_strings(const nn_texts *t);
/* Class indices, one per text (borrowed; NULL for unlabelled texts), and the class names. */
const int64_t *nn_texts_labels(const nn_texts *t);
int64_t nn_texts_class_count(const nn_texts *t);
const char *nn_texts_class_name(const nn_texts *t, int64_t index);
/* A dataset of vectorized texts: x = nn_text_vectorize's int64 (N, L), y = the labels as int64
 * (N,) with the class names (y NULL for unlabelled texts). */
int nn_text_dataset(const nn_text_vectorizer *v, const nn_texts *texts, nn_dataset **out);

/* Language identification over Debian's fortune cookies: the entries of the fortune files of
 * each language, labelled with the language. Classes, sorted by name as Keras's
 * text_dataset_from_directory sorts them, with their packages and files under DIR
 * (/usr/share/games/fortunes): English (fortunes-min and fortunes: DIR/fortunes, DIR/literature,
 * ...), German (fortunes-de: DIR/de), Italian (fortunes-it: DIR/it), Portuguese (fortunes-br:
 * DIR/brasil), Spanish (fortunes-es: the .fortunes files of DIR/es). Offensive sections,
 * subdirectories and ASCII-art files are left out; overstrikes ("_\bx") are resolved; an entry
 * that occurs twice is kept once, or dropped when two languages hold it. Each language is
 * sampled down to max_per_language (seeded), then a stratified train/test split is made. */
typedef struct nn_fortunes_opts {
    const char *const *languages;   /* NULL-terminated subset of "English", "German", "Italian",
                                       "Portuguese", "Spanish"; NULL = all */
    int64_t max_per_language;       /* 0 = 2000; NN_OFF = every entry */
    double test_size;               /* fraction for the test part; 0 = 0.2 */
    uint64_t seed;                  /* sampling and split; 0 = the nn_set_seed seed */
    nn_text_vectorizer_opts vectorizer; /* for nn_fortunes_load; here max_tokens 0 = 20000 and
                                           output_sequence_length 0 = 64 */
} nn_fortunes_opts;
/* The labelled texts of the train and test parts (either output may be NULL). From `dir`, or
 * (NULL) /usr/share/games/fortunes. A missing language names the Debian package to install. */
int nn_fortunes_texts(const char *dir, const nn_fortunes_opts *opts, nn_texts **train, nn_texts **test);
/* The same split as datasets (rows in nn_fortunes_texts's order): a vectorizer made from
 * opts->vectorizer is adapted on the training texts only, then vectorizes both parts (x int64
 * (N, L), y int64 (N,), class names = the languages). *vectorizer (if not NULL) receives it. */
int nn_fortunes_load(const char *dir, const nn_fortunes_opts *opts, nn_dataset **train, nn_dataset **test,
                     nn_text_vectorizer **vectorizer);

/* ---------------------------------------------------------------- layers */

typedef struct nn_layer nn_layer;

typedef struct nn_initializer_opts {
    const char *name;  /* Keras name: glorot_uniform, he_normal, constant, ... */
    double value;      /* constant */
    double minval, maxval;   /* random_uniform (defaults -0.05, 0.05) */
    double mean, stddev;     /* random_normal, truncated_normal (defaults 0, 0.05) */
    double gain;             /* orthogonal (default 1) */
    /* The glorot/he/lecun fans from chosen axes of the weight, as Keras's input_axes and
     * output_axes (which EinsumDense, and so MultiHeadAttention, sets for its kernels): bit i set
     * = axis i counts toward fan_in (input_axes) or fan_out (output_axes). Both 0 = Keras's
     * default: the last two axes, times the others as a receptive field. */
    unsigned input_axes, output_axes;
} nn_initializer_opts;

typedef struct nn_regularizer_opts {
    double l1, l2;  /* penalty l1*sum|w| + l2*sum w^2 added to the loss */
} nn_regularizer_opts;

typedef struct nn_dense_opts {
    int64_t units;
    const char *activation;            /* Keras activation name; NULL = linear */
    int use_bias;                      /* 0 = true (Keras default); NN_OFF = no bias */
    const char *kernel_initializer;    /* NULL = glorot_uniform */
    const char *bias_initializer;      /* NULL = zeros */
    nn_regularizer_opts kernel_regularizer, bias_regularizer;
    const char *name;                  /* NULL = automatic (dense, dense_1, ...) */
    int64_t input_shape[NN_MAX_DIMS];  /* optional, without the batch dimension; 0-terminated */
} nn_dense_opts;
/* Constructors: nn_dense(32, .activation = "relu"). A bad option (unknown activation or
 * initializer, units < 1) gives a layer that carries the error; nn_sequential reports it. */
nn_layer *nn_dense_layer(const nn_dense_opts *opts);
#define nn_dense(...) nn_dense_layer(&(nn_dense_opts){ .units = __VA_ARGS__ })

/* Keras's Activation: nn_activation("relu"). An unknown name gives a layer carrying the error. */
typedef struct nn_activation_opts { const char *activation; const char *name; } nn_activation_opts;
nn_layer *nn_activation_layer(const nn_activation_opts *opts);
#define nn_activation(...) nn_activation_layer(&(nn_activation_opts){ .activation = __VA_ARGS__ })

typedef struct nn_basic_opts {
    int reserved_;  /* lets the macro take no arguments */
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_basic_opts;
/* Keras's Flatten: (None, a, b, ...) -> (None, a*b*...). */
nn_layer *nn_flatten_layer(const nn_basic_opts *opts);
#define nn_flatten(...) nn_flatten_layer(&(nn_basic_opts){ .reserved_ = 0, __VA_ARGS__ })

typedef struct nn_reshape_opts {
    int64_t target_shape[NN_MAX_DIMS]; /* without the batch dimension; 0-terminated; -1 = infer */
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_reshape_opts;
/* Keras's Reshape: nn_reshape({ 28, 28, 1 }). A target that does not hold the input's values
 * fails at build, naming the layer and both shapes. */
nn_layer *nn_reshape_layer(const nn_reshape_opts *opts);
#define nn_reshape(...) nn_reshape_layer(&(nn_reshape_opts){ .target_shape = __VA_ARGS__ })

/* Keras's Dropout: zeroes a `rate` fraction in training and scales the rest by 1/(1-rate);
 * inactive in evaluate and predict. rate must be in [0, 1). `seed` is kept in the config as
 * Keras's; the masks come from the model's RNG (nn_set_seed). */
typedef struct nn_dropout_opts { double rate; const char *name; uint64_t seed; } nn_dropout_opts;
nn_layer *nn_dropout_layer(const nn_dropout_opts *opts);
#define nn_dropout(...) nn_dropout_layer(&(nn_dropout_opts){ .rate = __VA_ARGS__ })

/* Normalization: (x - mean) / max(sqrt(var), 1e-7) per feature (last axis). mean and variance
 * are adapted from the training data by nn_fit (as Keras's adapt) unless nn_adapt was called,
 * and are saved with the model. */
typedef struct nn_normalization_opts {
    int reserved_;
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_normalization_opts;
nn_layer *nn_normalization_layer(const nn_normalization_opts *opts);
#define nn_normalization(...) nn_normalization_layer(&(nn_normalization_opts){ .reserved_ = 0, __VA_ARGS__ })

typedef struct nn_rescaling_opts { double scale, offset; const char *name; int64_t input_shape[NN_MAX_DIMS]; } nn_rescaling_opts;
/* y = x * scale + offset. */
nn_layer *nn_rescaling_layer(const nn_rescaling_opts *opts);
#define nn_rescaling(...) nn_rescaling_layer(&(nn_rescaling_opts){ .scale = __VA_ARGS__ })

typedef struct nn_conv2d_opts {
    int64_t filters;
    int64_t kernel_size[2];    /* {3} = 3x3 (a missing second value repeats the first) */
    int64_t strides[2];        /* {0} = 1 */
    const char *padding;       /* "valid" (default) or "same" */
    int64_t dilation_rate[2];  /* {0} = 1 */
    int64_t groups;            /* 0 = 1 */
    const char *activation;
    int use_bias;              /* 0 = true; NN_OFF = no bias */
    const char *kernel_initializer, *bias_initializer;
    nn_regularizer_opts kernel_regularizer, bias_regularizer;
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_conv2d_opts;
/* Keras's Conv2D, channels last: nn_conv2d(32, .kernel_size = { 3 }, .activation = "relu"). */
nn_layer *nn_conv2d_layer(const nn_conv2d_opts *opts);
#define nn_conv2d(...) nn_conv2d_layer(&(nn_conv2d_opts){ .filters = __VA_ARGS__ })

typedef struct nn_pool2d_opts {
    int reserved_;
    int64_t pool_size[2];  /* {0} = 2x2 */
    int64_t strides[2];    /* {0} = pool_size */
    const char *padding;   /* "valid" (default) or "same" */
    const char *name;
} nn_pool2d_opts;
/* Keras's MaxPooling2D and AveragePooling2D: nn_max_pooling2d(.pool_size = { 2 }). */
nn_layer *nn_max_pooling2d_layer(const nn_pool2d_opts *opts);
nn_layer *nn_average_pooling2d_layer(const nn_pool2d_opts *opts);
#define nn_max_pooling2d(...) nn_max_pooling2d_layer(&(nn_pool2d_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_average_pooling2d(...) nn_average_pooling2d_layer(&(nn_pool2d_opts){ .reserved_ = 0, __VA_ARGS__ })

/* Merge layers for the functional API, called on two or more symbols with nn_call_many: Add,
 * Subtract (exactly two), Multiply, Average, Maximum, Minimum (shapes must be equal) and
 * Concatenate (along `axis`, default -1; other axes must match). */
typedef struct nn_merge_opts {
    int reserved_;
    const char *name;
    int axis;         /* Concatenate only; 0 = Keras's default -1 (the batch axis cannot be chosen) */
} nn_merge_opts;
nn_layer *nn_merge_layer(const char *class_name, const nn_merge_opts *opts);
#define nn_add(...) nn_merge_layer("Add", &(nn_merge_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_subtract(...) nn_merge_layer("Subtract", &(nn_merge_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_multiply(...) nn_merge_layer("Multiply", &(nn_merge_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_average(...) nn_merge_layer("Average", &(nn_merge_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_maximum(...) nn_merge_layer("Maximum", &(nn_merge_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_minimum(...) nn_merge_layer("Minimum", &(nn_merge_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_concatenate(...) nn_merge_layer("Concatenate", &(nn_merge_opts){ .reserved_ = 0, __VA_ARGS__ })

/* Keras's Permute: nn_permute({ 2, 1 }) swaps the two axes after the batch (dims count from 1). */
typedef struct nn_permute_opts { int64_t dims[NN_MAX_DIMS]; const char *name; } nn_permute_opts;
nn_layer *nn_permute_layer(const nn_permute_opts *opts);
#define nn_permute(...) nn_permute_layer(&(nn_permute_opts){ .dims = __VA_ARGS__ })
/* Keras's RepeatVector: (None, d) -> (None, n, d). */
typedef struct nn_repeat_vector_opts { int64_t n; const char *name; } nn_repeat_vector_opts;
nn_layer *nn_repeat_vector_layer(const nn_repeat_vector_opts *opts);
#define nn_repeat_vector(...) nn_repeat_vector_layer(&(nn_repeat_vector_opts){ .n = __VA_ARGS__ })
/* ---- More convolution layers and the normalization and noise layers, typed: each makes the
 * same layer as its Keras text (nn_layer_parse) with Keras's option names and defaults. A
 * field left zero is Keras's default; NN_OFF turns a flag off (or sets a zero where zero is not
 * the default). A bad option gives a layer carrying the error, reported by nn_sequential. */

typedef struct nn_depthwise_conv2d_opts {
    int64_t kernel_size[2];    /* {3} = 3x3 (a missing second value repeats the first) */
    int64_t strides[2];        /* {0} = 1 */
    const char *padding;       /* "valid" (default) or "same" */
    int64_t depth_multiplier;  /* 0 = 1: outputs per input channel */
    int64_t dilation_rate[2];  /* {0} = 1 */
    const char *activation;
    int use_bias;              /* 0 = true; NN_OFF = no bias */
    const char *depthwise_initializer, *bias_initializer;
    nn_regularizer_opts depthwise_regularizer, bias_regularizer;
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_depthwise_conv2d_opts;
/* Keras's DepthwiseConv2D: every input channel convolved with its own depth_multiplier kernels;
 * weights "kernel" (kh, kw, channels, depth_multiplier) and "bias" (channels * depth_multiplier).
 * nn_depthwise_conv2d({ 3 }, .depth_multiplier = 2). */
nn_layer *nn_depthwise_conv2d_layer(const nn_depthwise_conv2d_opts *opts);
#define nn_depthwise_conv2d(...) nn_depthwise_conv2d_layer(&(nn_depthwise_conv2d_opts){ .kernel_size = __VA_ARGS__ })

typedef struct nn_separable_conv2d_opts {
    int64_t filters;
    int64_t kernel_size[2];    /* as nn_depthwise_conv2d_opts */
    int64_t strides[2];
    const char *padding;
    int64_t dilation_rate[2];
    int64_t depth_multiplier;
    const char *activation;
    int use_bias;              /* 0 = true; NN_OFF = no bias */
    const char *depthwise_initializer, *pointwise_initializer, *bias_initializer;
    nn_regularizer_opts depthwise_regularizer, pointwise_regularizer, bias_regularizer;
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_separable_conv2d_opts;
/* Keras's SeparableConv2D: a depthwise convolution, then a 1x1 convolution to `filters`;
 * weights "depthwise_kernel" (kh, kw, channels, depth_multiplier), "pointwise_kernel"
 * (1, 1, channels * depth_multiplier, filters) and "bias". nn_separable_conv2d(32, .kernel_size = { 3 }). */
nn_layer *nn_separable_conv2d_layer(const nn_separable_conv2d_opts *opts);
#define nn_separable_conv2d(...) nn_separable_conv2d_layer(&(nn_separable_conv2d_opts){ .filters = __VA_ARGS__ })

typedef struct nn_conv2d_transpose_opts {
    int64_t filters;
    int64_t kernel_size[2];     /* {3} = 3x3 */
    int64_t strides[2];         /* {0} = 1 */
    const char *padding;        /* "valid" (default) or "same" */
    int64_t output_padding[2];  /* {0} = None (Keras's inferred size); NN_OFF for an explicit 0 */
    const char *activation;
    int use_bias;               /* 0 = true; NN_OFF = no bias */
    const char *kernel_initializer, *bias_initializer;
    nn_regularizer_opts kernel_regularizer, bias_regularizer;
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_conv2d_transpose_opts;
/* Keras's Conv2DTranspose: the gradient of a Conv2D with respect to its input, upsampling by
 * the strides; kernel (kh, kw, filters, channels) as Keras's. The output size is Keras's
 * (deconv_output_length); dilation_rate is 1. nn_conv2d_transpose(16, .kernel_size = { 3 },
 * .strides = { 2 }, .padding = "same"). */
nn_layer *nn_conv2d_transpose_layer(const nn_conv2d_transpose_opts *opts);
#define nn_conv2d_transpose(...) nn_conv2d_transpose_layer(&(nn_conv2d_transpose_opts){ .filters = __VA_ARGS__ })

typedef struct nn_batch_normalization_opts {
    int reserved_;
    double momentum;   /* 0 = 0.99; NN_OFF = 0 (the moving statistics are the last batch's) */
    double epsilon;    /* 0 = 1e-3 */
    int center, scale; /* 0 = true (beta, gamma); NN_OFF = false */
    const char *beta_initializer, *gamma_initializer;                   /* NULL = "zeros", "ones" */
    const char *moving_mean_initializer, *moving_variance_initializer;  /* NULL = "zeros", "ones" */
    nn_regularizer_opts beta_regularizer, gamma_regularizer;
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_batch_normalization_opts;
/* Keras's BatchNormalization over the last axis: the batch's statistics (and an update of the
 * moving ones) in training, the moving statistics in evaluate and predict.
 * nn_batch_normalization(.momentum = 0.9). */
nn_layer *nn_batch_normalization_layer(const nn_batch_normalization_opts *opts);
#define nn_batch_normalization(...) \
    nn_batch_normalization_layer(&(nn_batch_normalization_opts){ .reserved_ = 0, __VA_ARGS__ })

typedef struct nn_layer_normalization_opts {
    int reserved_;
    double epsilon;    /* 0 = 1e-3 */
    int center, scale; /* 0 = true; NN_OFF = false */
    const char *beta_initializer, *gamma_initializer;  /* NULL = "zeros", "ones" */
    nn_regularizer_opts beta_regularizer, gamma_regularizer;
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_layer_normalization_opts;
/* Keras's LayerNormalization over the last axis: nn_layer_normalization(.epsilon = 1e-6). */
nn_layer *nn_layer_normalization_layer(const nn_layer_normalization_opts *opts);
#define nn_layer_normalization(...) \
    nn_layer_normalization_layer(&(nn_layer_normalization_opts){ .reserved_ = 0, __VA_ARGS__ })

typedef struct nn_group_normalization_opts {
    int reserved_;
    int64_t groups;    /* 0 = 32; -1 = one group per channel */
    double epsilon;    /* 0 = 1e-3 */
    int center, scale; /* 0 = true; NN_OFF = false */
    const char *beta_initializer, *gamma_initializer;  /* NULL = "zeros", "ones" */
    nn_regularizer_opts beta_regularizer, gamma_regularizer;
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_group_normalization_opts;
/* Keras's GroupNormalization: each sample's channels (last axis) in `groups` groups, each group
 * normalized over all its positions, then gamma and beta per channel. The groups must divide
 * the channels (checked at build). nn_group_normalization(.groups = 8). */
nn_layer *nn_group_normalization_layer(const nn_group_normalization_opts *opts);
#define nn_group_normalization(...) \
    nn_group_normalization_layer(&(nn_group_normalization_opts){ .reserved_ = 0, __VA_ARGS__ })

typedef struct nn_gaussian_noise_opts {
    double stddev;
    const char *name;
    uint64_t seed;    /* kept in the config as Keras's; the noise comes from the model's RNG */
    int64_t input_shape[NN_MAX_DIMS];
} nn_gaussian_noise_opts;
/* Keras's GaussianNoise: adds N(0, stddev^2) noise in training only. nn_gaussian_noise(0.1). */
nn_layer *nn_gaussian_noise_layer(const nn_gaussian_noise_opts *opts);
#define nn_gaussian_noise(...) nn_gaussian_noise_layer(&(nn_gaussian_noise_opts){ .stddev = __VA_ARGS__ })

/* Keras's SpatialDropout1D and SpatialDropout2D: whole channels of a sample dropped in training
 * only (the options of nn_dropout). nn_spatial_dropout2d(0.2). */
nn_layer *nn_spatial_dropout1d_layer(const nn_dropout_opts *opts);
nn_layer *nn_spatial_dropout2d_layer(const nn_dropout_opts *opts);
#define nn_spatial_dropout1d(...) nn_spatial_dropout1d_layer(&(nn_dropout_opts){ .rate = __VA_ARGS__ })
#define nn_spatial_dropout2d(...) nn_spatial_dropout2d_layer(&(nn_dropout_opts){ .rate = __VA_ARGS__ })
/* Keras's Embedding: nn_embedding(10000, 64, .mask_zero = true). Ids arrive as floats (any
 * input dtype is converted per batch): each is truncated to an integer as Keras casts it, a
 * negative id counts from the end as Keras's take; an id outside [-input_dim, input_dim), where
 * Keras raises, reads a zero vector and trains nothing. With mask_zero, steps whose id is 0
 * are masked for the layers after it (recurrent layers, GlobalAveragePooling1D). */
typedef struct nn_embedding_opts {
    int64_t input_dim, output_dim;
    bool mask_zero;
    const char *embeddings_initializer;   /* NULL = uniform in [-0.05, 0.05] */
    nn_regularizer_opts embeddings_regularizer;
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];     /* e.g. { 200 } for sequences of 200 ids */
} nn_embedding_opts;
nn_layer *nn_embedding_layer(const nn_embedding_opts *opts);
#define nn_embedding(...) nn_embedding_layer(&(nn_embedding_opts){ .input_dim = __VA_ARGS__ })

/* Keras's SimpleRNN, LSTM and GRU on (batch, timesteps, features): nn_lstm(64,
 * .return_sequences = true). Keras's defaults, gate order and weight names
 * (lstm/lstm_cell/kernel, recurrent_kernel, bias). A masked step keeps the previous state.
 * return_state gives several outputs, which a Sequential model refuses. */
typedef struct nn_rnn_opts {
    int64_t units;
    const char *activation;            /* NULL = tanh */
    const char *recurrent_activation;  /* NULL = sigmoid (LSTM and GRU only) */
    int use_bias;                      /* 0 = true; NN_OFF = no bias */
    bool return_sequences, return_state, go_backwards;
    double dropout;                    /* on the inputs, in training: one mask per sample for every step */
    int unit_forget_bias;              /* LSTM: 0 = true (the forget gate's bias starts at 1); NN_OFF = false */
    int reset_after;                   /* GRU: 0 = true (Keras 3's default); NN_OFF = false */
    const char *kernel_initializer;    /* NULL = glorot_uniform */
    const char *recurrent_initializer; /* NULL = orthogonal */
    const char *bias_initializer;      /* NULL = zeros */
    nn_regularizer_opts kernel_regularizer, recurrent_regularizer, bias_regularizer;
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_rnn_opts;
nn_layer *nn_simple_rnn_layer(const nn_rnn_opts *opts);
nn_layer *nn_lstm_layer(const nn_rnn_opts *opts);
nn_layer *nn_gru_layer(const nn_rnn_opts *opts);
#define nn_simple_rnn(...) nn_simple_rnn_layer(&(nn_rnn_opts){ .units = __VA_ARGS__ })
#define nn_lstm(...) nn_lstm_layer(&(nn_rnn_opts){ .units = __VA_ARGS__ })
#define nn_gru(...) nn_gru_layer(&(nn_rnn_opts){ .units = __VA_ARGS__ })

/* Keras's Bidirectional (a SimpleRNN, LSTM or GRU run both ways, weights under
 * bidirectional/forward_lstm/... and bidirectional/backward_lstm/...) and TimeDistributed (any
 * layer applied to every time step): nn_bidirectional(nn_lstm(32), .merge_mode = "sum").
 * They take ownership of `layer`, also on failure; a NULL or failed layer gives a wrapper
 * carrying the error. */
typedef struct nn_wrapper_opts {
    nn_layer *layer;
    const char *merge_mode;  /* Bidirectional: concat (NULL), sum, mul or ave */
    const char *name;
    int64_t input_shape[NN_MAX_DIMS];
} nn_wrapper_opts;
nn_layer *nn_bidirectional_layer(const nn_wrapper_opts *opts);
nn_layer *nn_time_distributed_layer(const nn_wrapper_opts *opts);
#define nn_bidirectional(...) nn_bidirectional_layer(&(nn_wrapper_opts){ .layer = __VA_ARGS__ })
#define nn_time_distributed(...) nn_time_distributed_layer(&(nn_wrapper_opts){ .layer = __VA_ARGS__ })

/* Frees a layer not handed to a model (a model owns and frees its layers). */
void nn_layer_free(nn_layer *layer);

/* Builds a layer from its Keras class name and a Keras-style argument string, as in the nn
 * command: nn_layer_parse("Dense(32, activation=relu)"). NULL with a message on error. */
nn_layer *nn_layer_parse(const char *text);

/* ---------------------------------------------------------------- model */

typedef struct nn_model nn_model;

/* A Sequential model over a NULL-terminated array of layers. Takes ownership of the layers,
 * also on failure. NULL with a message if any layer carries an error. */
nn_model *nn_sequential(nn_layer *const *layers);
/* Frees the model, its layers, weights, optimizer and compiled programs. NULL is a no-op. */
void nn_model_free(nn_model *m);
/* Appends a layer (Keras's Sequential.add). Takes ownership of the layer. Before compile. */
int nn_model_add(nn_model *m, nn_layer *layer);

/* ---- the functional API: models that are any graph of layers
 *
 *     nn_symbol *image = nn_input({ 28, 28, 1 }, .name = "image");
 *     nn_symbol *x = nn_call(nn_conv2d(16, { 3 }, .activation = "relu"), image);
 *     x = nn_call(nn_flatten(), x);
 *     nn_symbol *extra = nn_input({ 4 });
 *     x = nn_call_many(nn_concatenate(), (nn_symbol *[]){ x, extra, NULL });
 *     nn_symbol *out = nn_call(nn_dense(10, .activation = "softmax"), x);
 *     nn_model *m = nn_model_new((nn_symbol *[]){ image, extra, NULL }, (nn_symbol *[]){ out, NULL }, NULL);
 *
 * A symbol (Keras's KerasTensor) stands for a layer's output in the graph being described; it
 * belongs to its layer. Calling one layer several times shares its weights. Errors (a bad
 * layer option, a NULL input) travel with the symbols and are reported by nn_model_new, which
 * also checks every shape, naming the layer and the shapes. */
typedef struct nn_symbol nn_symbol;

typedef struct nn_input_opts {
    int64_t shape[NN_MAX_DIMS];  /* without the batch dimension; 0-terminated */
    const char *name;            /* NULL = "input_layer", "input_layer_1", ... */
} nn_input_opts;
/* Keras's Input: a new InputLayer and its symbol. NULL only when out of memory. */
nn_symbol *nn_input_layer(const nn_input_opts *opts);
#define nn_input(...) nn_input_layer(&(nn_input_opts){ .shape = __VA_ARGS__ })
/* Calls a layer on one symbol (nn_call) or on a NULL-terminated list (nn_call_many: merge
 * layers, attention's query and value) and returns its first output. The layer is taken over
 * by the model built from it. NULL only when layer is NULL. */
nn_symbol *nn_call(nn_layer *layer, nn_symbol *input);
nn_symbol *nn_call_many(nn_layer *layer, nn_symbol *const *inputs);
/* Output i of the call that returned `first` (a recurrent layer with return_state returns the
 * sequence, then its states), or a symbol carrying an error if there is no such output. */
nn_symbol *nn_call_output(nn_symbol *first, int i);
/* A model from NULL-terminated lists of input symbols (from nn_input) and output symbols;
 * name NULL = "functional". Takes ownership of every layer between them, also on failure
 * (layers not on a path from the inputs to the outputs stay the caller's). The model is built
 * at once (shapes checked, weights initialized). NULL with a message naming the layer on: an
 * error carried by a symbol, an output that does not depend only on the given inputs, a layer
 * already owned by another model, a shape that does not fit. */
nn_model *nn_model_new(nn_symbol *const *inputs, nn_symbol *const *outputs, const char *name);
/* A built model (Sequential or functional) as a layer of another model, Keras's model(x): its
 * weights become the outer model's, named "<model name>/<layer>/<weight>", starting from the
 * model's current values (so a trained model can be reused); calling the layer twice shares
 * them. Takes ownership of m, also on failure. NULL with a message if m is NULL or not built. */
nn_layer *nn_model_as_layer(nn_model *m);
/* Whether nn_compile has succeeded on the model (a loaded model is compiled if it was saved so). */
bool nn_model_is_compiled(const nn_model *m);
/* Number of model inputs and outputs (1 and 1 for Sequential). */
int nn_model_input_count(const nn_model *m);
int nn_model_output_count(const nn_model *m);

typedef struct nn_optimizer nn_optimizer;
typedef struct nn_loss nn_loss;

typedef struct nn_compile_opts {
    const char *optimizer;        /* a name or a call: "adam", "SGD(momentum=0.9)"; NULL = rmsprop */
    nn_optimizer *optimizer_obj;  /* or a typed optimizer (taken over by compile) */
    const char *loss;             /* a name or a call: "binary_crossentropy" */
    nn_loss *loss_obj;            /* or a typed loss (taken over by compile) */
    const char *const *metrics;   /* NULL-terminated names: "accuracy", "auc", ... */
    /* Models of several outputs: one loss name per output, in output order (NULL-terminated),
     * instead of `loss` (which, given alone, applies to every output as in Keras), and the
     * weights of their sum (NULL = all 1). `metrics` apply to every output and are logged as
     * "<output layer>_<metric>", the losses as "<output layer>_loss" beside the total "loss". */
    const char *const *losses;
    const double *loss_weights;
} nn_compile_opts;
/* Builds the model (input shape from the first layer's input_shape, or left for fit to infer
 * from the data), the training and inference graphs and their memory plan. Errors name the
 * layer and shapes. Taken-over objects are freed on failure too. */
int nn_compile(nn_model *m, const nn_compile_opts *opts);

typedef struct nn_history nn_history;

typedef struct nn_fit_opts {
    int epochs;               /* 0 = 1 */
    int batch_size;           /* 0 = 32 */
    int shuffle;              /* 0 = true; NN_OFF = keep order */
    int verbose;              /* 0 = auto (1); 1 progress bar; 2 one line per epoch; NN_OFF silent */
    double validation_split;  /* fraction of the last samples held out (before shuffling) */
    const nn_dataset *validation_data;
    int initial_epoch;
    const double *class_weight;  /* indexed by class; NULL = none */
    int class_weight_count;
    const nn_tensor *sample_weight; /* (N,) or (N, 1); NULL = none */
    FILE *out;                /* progress stream; NULL = stdout */
} nn_fit_opts;
/* Trains. Builds the model from the data's shape if needed, adapts Normalization layers that
 * were not adapted, checks the data for NaN/Inf and shape fit. *history (if history is not NULL)
 * receives the per-epoch figures; free with nn_history_free. */
int nn_fit(nn_model *m, const nn_dataset *train, const nn_fit_opts *opts, nn_history **history);

#define NN_MAX_METRICS 16
typedef struct nn_metrics {
    double loss;
    int count;                    /* entries in names/values, sorted by name as Keras prints them */
    char names[NN_MAX_METRICS][32];
    double values[NN_MAX_METRICS];
} nn_metrics;
/* The value of a named metric ("loss", "accuracy", "val_loss" in a history row), or NAN. */
double nn_metrics_get(const nn_metrics *m, const char *name);

typedef struct nn_eval_opts { int batch_size; int verbose; FILE *out; } nn_eval_opts;
/* Loss and compiled metrics over a labelled dataset. verbose defaults to silent here. */
int nn_evaluate(nn_model *m, const nn_dataset *data, const nn_eval_opts *opts, nn_metrics *out);

typedef struct nn_predict_opts { int batch_size; } nn_predict_opts;
/* Outputs for x (N, ...) of any dtype: a new tensor (N, outputs...) in *out, owned by the
 * caller. Builds the model from x if needed; on a built model it only reads the model, so
 * several threads may predict with one model at once. */
int nn_predict(nn_model *m, const nn_tensor *x, const nn_predict_opts *opts, nn_tensor **out);
/* nn_predict for models of several inputs or outputs: inputs is a NULL-terminated list in the
 * model's input order; outs[0..nn_model_output_count - 1] receive new tensors (owned by the
 * caller; all NULL on failure). */
int nn_predict_multi(nn_model *m, const nn_tensor *const *inputs, const nn_predict_opts *opts, nn_tensor **outs);

/* A predictor runs a built model's inference with its own memory, so each thread can predict
 * with its own predictor over one shared model, and a call allocates nothing. The model's
 * weights are read, never written: do not train or free the model while predictors use it.
 * nn_predictor_new fails if the model is not built; max_batch is the most samples a run takes. */
typedef struct nn_predictor nn_predictor;
int nn_predictor_new(nn_model *m, int64_t max_batch, nn_predictor **out);
/* Outputs for n samples: x holds n * (input size) float32 values, out receives n * (output
 * size). Fails if n is outside 1..max_batch, or if the model has several inputs or outputs
 * (use nn_predictor_run_multi). No allocation. */
int nn_predictor_run(nn_predictor *p, const float *x, int64_t n, float *out);
/* The same for models of several inputs or outputs: xs[i] holds input i's n samples, outs[o]
 * receives output o's. */
int nn_predictor_run_multi(nn_predictor *p, const float *const *xs, int64_t n, float *const *outs);
/* Values per sample of the model's first input and first output. */
int64_t nn_predictor_input_size(const nn_predictor *p);
int64_t nn_predictor_output_size(const nn_predictor *p);
/* Frees the predictor (not its model). NULL is a no-op. */
void nn_predictor_free(nn_predictor *p);

/* Prints Keras's summary table (layer, output shape, params, totals). */
int nn_model_summary(nn_model *m, FILE *f);
/* Builds the model for an input shape without batch dimension (Keras's build). */
int nn_model_build(nn_model *m, int ndim, const int64_t *input_shape);
/* Sets the mean and variance of every Normalization layer from data (Keras's adapt). */
int nn_adapt(nn_model *m, const nn_tensor *x);
/* Parameter counts after build (0 before), all or trainable only; the number of layers. */
int64_t nn_model_param_count(const nn_model *m, bool trainable_only);
int nn_model_layer_count(const nn_model *m);
/* Weights by Keras name ("dense/kernel"): get copies the weight into a new tensor (*out, owned
 * by the caller); set copies from a tensor of the weight's size. Errors: the model is not built,
 * an unknown name (the known ones are listed), a tensor of the wrong size (both shapes named). */
int nn_model_get_weight(const nn_model *m, const char *name, nn_tensor **out);
int nn_model_set_weight(nn_model *m, const char *name, const nn_tensor *value);
/* Number of weights and the name of the i-th (borrowed), in creation order. */
int nn_model_weight_count(const nn_model *m);
const char *nn_model_weight_name(const nn_model *m, int i);
/* Trains on one batch, in order (Keras's train_on_batch): builds the model from x if needed;
 * *loss (if not NULL) gets the batch's loss computed before the update. */
int nn_train_on_batch(nn_model *m, const nn_tensor *x, const nn_tensor *y, double *loss);

/* History: one row per epoch, columns "accuracy", "loss", "val_accuracy", "val_loss", ...
 * (Keras's History.history). Epochs and columns count them; a column's name is borrowed (NULL
 * out of range). */
int nn_history_epochs(const nn_history *h);
int nn_history_columns(const nn_history *h);
const char *nn_history_column_name(const nn_history *h, int column);
/* The value of `name` at epoch index i, or NAN. */
double nn_history_get(const nn_history *h, const char *name, int epoch);
/* Writes the history as CSV: a header "epoch,accuracy,loss,..." and one row per epoch (epochs
 * counted from 1), via a temporary file and a rename. */
int nn_history_save(const nn_history *h, const char *path);
/* Frees a history from nn_fit. NULL is a no-op. */
void nn_history_free(nn_history *h);

/* ---------------------------------------------------------------- optimizers */

typedef struct nn_optimizer_opts {
    int reserved_;
    double learning_rate;   /* 0 = the optimizer's Keras default */
    double beta_1, beta_2, epsilon, rho, momentum;
    bool nesterov, amsgrad, centered;
    double initial_accumulator_value;  /* adagrad (default 0.1) */
    double weight_decay;    /* 0 = none (AdamW: 0.004) */
    double clipnorm, clipvalue, global_clipnorm;  /* 0 = none */
} nn_optimizer_opts;
/* An optimizer by Keras name (sgd, adam, adamw, rmsprop, adagrad, adadelta, adamax, nadam).
 * NULL with the known names listed on an unknown name. */
nn_optimizer *nn_optimizer_new(const char *name, const nn_optimizer_opts *opts);
/* Frees an optimizer not handed to nn_compile. NULL is a no-op. */
void nn_optimizer_free(nn_optimizer *o);
#define nn_sgd(...)      nn_optimizer_new("sgd",      &(nn_optimizer_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_adam(...)     nn_optimizer_new("adam",     &(nn_optimizer_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_adamw(...)    nn_optimizer_new("adamw",    &(nn_optimizer_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_rmsprop(...)  nn_optimizer_new("rmsprop",  &(nn_optimizer_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_adagrad(...)  nn_optimizer_new("adagrad",  &(nn_optimizer_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_adadelta(...) nn_optimizer_new("adadelta", &(nn_optimizer_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_adamax(...)   nn_optimizer_new("adamax",   &(nn_optimizer_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_nadam(...)    nn_optimizer_new("nadam",    &(nn_optimizer_opts){ .reserved_ = 0, __VA_ARGS__ })

/* ---------------------------------------------------------------- losses */

typedef struct nn_loss_opts {
    int reserved_;
    bool from_logits;
    double label_smoothing;  /* binary/categorical crossentropy */
    double delta;            /* huber (default 1.0) */
} nn_loss_opts;
/* A loss by Keras name (binary_crossentropy, categorical_crossentropy,
 * sparse_categorical_crossentropy, mean_squared_error/mse, mean_absolute_error/mae, huber,
 * hinge, kl_divergence, log_cosh). NULL with the known names listed on an unknown name. */
nn_loss *nn_loss_new(const char *name, const nn_loss_opts *opts);
/* Frees a loss not handed to nn_compile. NULL is a no-op. */
void nn_loss_free(nn_loss *l);
#define nn_loss_binary_crossentropy(...) nn_loss_new("binary_crossentropy", &(nn_loss_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_loss_categorical_crossentropy(...) nn_loss_new("categorical_crossentropy", &(nn_loss_opts){ .reserved_ = 0, __VA_ARGS__ })
#define nn_loss_sparse_categorical_crossentropy(...) nn_loss_new("sparse_categorical_crossentropy", &(nn_loss_opts){ .reserved_ = 0, __VA_ARGS__ })

/* ---------------------------------------------------------------- io */

/* Saves architecture, weights, normalization state, compile settings and optimizer state
 * (docs/FILE_FORMAT.md). Writes a temporary file beside `path` and renames it over, so an
 * existing file is never left half-written. */
int nn_model_save(const nn_model *m, const char *path);
/* Loads a model saved by nn_model_save (compiled if it was saved compiled). Refuses truncated,
 * corrupted or other-version files with a message. Free with nn_model_free. */
int nn_model_load(const char *path, nn_model **out);

#ifdef __cplusplus
}
#endif
#endif /* NN_H */
