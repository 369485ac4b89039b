/* Preprocessing as scikit-learn and Keras do it: train/test split (seeded, optionally
 * stratified), shuffling, one-hot labels, balanced class weights, standardization and min-max
 * scaling.
 *
 * Splits and shuffles copy rows of any dtype; the copies carry x and y only (feature and class
 * names stay with the source dataset). */
#include "nn_internal.h"

#include <float.h>
#include <limits.h>

/* ------------------------------------------------------------ rows and orders */

static int64_t *identity_indices(int64_t n) {
    int64_t *index = nn_calloc((size_t)n, sizeof *index);
    if (index)
        for (int64_t i = 0; i < n; i++) index[i] = i;
    return index;
}

/* A new tensor holding rows index[0..count) of t (rows along the first axis); *out = NULL for a
 * NULL t. Every index is a valid row, so t has rows and its row size cannot overflow. */
static int take_rows(const nn_tensor *t, const int64_t *index, int64_t count, nn_tensor **out) {
    *out = NULL;
    if (!t) return NN_OK;
    int64_t shape[NN_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = count;
    nn_tensor *part = nn_tensor_new(t->dtype, t->ndim, shape);
    if (!part) return NN_ERR_NOMEM;
    if (count > 0) {
        size_t row = (size_t)(nn_tensor_size(t) / t->shape[0]) * nn_dtype_size(t->dtype);
        for (int64_t i = 0; i < count; i++)
            memcpy((char *)part->data + (size_t)i * row, (const char *)t->data + (size_t)index[i] * row, row);
    }
    *out = part;
    return NN_OK;
}

static nn_dataset *dataset_take(const nn_dataset *d, const int64_t *index, int64_t count) {
    nn_tensor *x, *y;
    if (take_rows(nn_dataset_x(d), index, count, &x)) return NULL;
    if (take_rows(nn_dataset_y(d), index, count, &y)) return nn_tensor_free(x), NULL;
    return nn_dataset_new(x, y);
}

nn_dataset *nn_dataset_shuffled(const nn_dataset *d, uint64_t seed) {
    if (!d) return nn_error(NN_ERR_ARG, "nn_dataset_shuffled: dataset is NULL"), NULL;
    int64_t n = nn_dataset_size(d);
    int64_t *index = identity_indices(n);
    if (!index) return NULL;
    nn_rng rng;
    nn_rng_seed(&rng, seed ? seed : nn_default_seed());
    nn_rng_shuffle(&rng, index, n);
    nn_dataset *out = dataset_take(d, index, n);
    nn_free(index);
    return out;
}

/* ------------------------------------------------------------ labels */

/* The column of row i's largest value (the first maximum, as numpy's argmax). */
static int64_t row_argmax(const nn_tensor *y, int64_t row, int64_t width) {
    int64_t best = 0;
    for (int64_t c = 1; c < width; c++)
        if (nn_tensor_get(y, row * width + c) > nn_tensor_get(y, row * width + best)) best = c;
    return best;
}

/* Reads class labels: integer values (N,) or (N, 1) of any dtype, or, when one_hot is allowed,
 * rows (N, C) read by their argmax. *out is nn_malloc'd. */
static int read_labels(const nn_tensor *y, const char *caller, bool one_hot, int64_t **out) {
    *out = NULL;
    if (!y) return nn_error(NN_ERR_ARG, "%s: labels are NULL", caller);
    char shape[128];
    bool column = y->ndim == 1 || (y->ndim == 2 && y->shape[1] == 1);
    if (!column && !(one_hot && y->ndim == 2 && y->shape[1] > 1))
        return nn_error(NN_ERR_SHAPE, "%s: labels have shape %s; expected (N,) or (N, 1)%s", caller,
                        nn_shape_str(y->ndim, y->shape, shape, sizeof shape),
                        one_hot ? " class indices, or one-hot rows (N, classes)" : " class indices");
    int64_t n = y->shape[0], width = column ? 1 : y->shape[1];
    int64_t *labels = nn_calloc((size_t)n, sizeof *labels);
    if (!labels) return NN_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        if (!column) {
            labels[i] = row_argmax(y, i, width);
            continue;
        }
        double v = nn_tensor_get(y, i);
        if (!(v == trunc(v) && fabs(v) < 0x1p63)) {
            nn_free(labels);
            return nn_error(NN_ERR_DATA, "%s: the label of sample %lld is %g, not an integer class index", caller,
                            (long long)i, v);
        }
        labels[i] = (int64_t)v;
    }
    *out = labels;
    return NN_OK;
}

/* The largest label; labels must be >= 0 (class indices). */
static int max_label(const int64_t *labels, int64_t n, const char *caller, int64_t *max) {
    *max = -1;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0)
            return nn_error(NN_ERR_DATA, "%s: the label of sample %lld is %lld; class indices start at 0", caller,
                            (long long)i, (long long)labels[i]);
        if (labels[i] > *max) *max = labels[i];
    }
    return NN_OK;
}

int nn_to_categorical(const nn_tensor *labels, int num_classes, nn_tensor **out) {
    static const char caller[] = "nn_to_categorical";
    if (!out) return nn_error(NN_ERR_ARG, "%s: out is NULL", caller);
    *out = NULL;
    if (num_classes < 0) return nn_error(NN_ERR_ARG, "%s: num_classes is %d; it must be >= 1 (or 0 to infer)", caller, num_classes);
    int64_t *values, max;
    int status = read_labels(labels, caller, false, &values);
    if (status) return status;
    int64_t n = labels->shape[0];
    if (!(status = max_label(values, n, caller, &max)) && num_classes == 0) {
        if (n == 0) status = nn_error(NN_ERR_ARG, "%s: no labels to infer num_classes from (give num_classes)", caller);
        else if (max >= INT_MAX) status = nn_error(NN_ERR_DATA, "%s: the largest label %lld is too large a class index", caller, (long long)max);
        else num_classes = (int)max + 1;
    }
    for (int64_t i = 0; !status && i < n; i++)
        if (values[i] >= num_classes)
            status = nn_error(NN_ERR_DATA, "%s: the label of sample %lld is %lld, outside 0..%d (num_classes %d)", caller,
                              (long long)i, (long long)values[i], num_classes - 1, num_classes);
    nn_tensor *hot = status ? NULL : nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ n, num_classes });
    if (hot) {
        float *h = nn_tensor_f32(hot);
        for (int64_t i = 0; i < n; i++) h[i * num_classes + values[i]] = 1.0f;
        *out = hot;
    } else if (!status) {
        status = NN_ERR_NOMEM;
    }
    nn_free(values);
    return status;
}

/* Classes 0..max label. A class absent from the labels (a gap below the largest) gets weight 0:
 * it has no samples to weigh, and n_classes counts the classes present, so the present classes'
 * weights equal scikit-learn's compute_class_weight("balanced", classes=np.unique(y), y=y). */
int nn_class_weights(const nn_tensor *labels, double *weights, int capacity, int *count) {
    static const char caller[] = "nn_class_weights";
    if (!count) return nn_error(NN_ERR_ARG, "%s: count is NULL", caller);
    *count = 0;
    if (capacity < 0 || (capacity > 0 && !weights))
        return nn_error(NN_ERR_ARG, "%s: weights must hold `capacity` (%d) values", caller, capacity);
    int64_t *values, max;
    int status = read_labels(labels, caller, true, &values);
    if (status) return status;
    int64_t n = labels->shape[0];
    if (!(status = max_label(values, n, caller, &max))) {
        if (n == 0) status = nn_error(NN_ERR_ARG, "%s: there are no labels", caller);
        else if (max >= capacity) {
            *count = max < INT_MAX ? (int)max + 1 : INT_MAX;
            status = nn_error(NN_ERR_ARG, "%s: the labels hold classes 0..%lld, more than the capacity of %d weights",
                              caller, (long long)max, capacity);
        }
    }
    if (!status) {
        int classes = (int)max + 1, present = 0;
        for (int c = 0; c < classes; c++) weights[c] = 0;
        for (int64_t i = 0; i < n; i++) weights[values[i]] += 1; /* the counts first */
        for (int c = 0; c < classes; c++) present += weights[c] > 0;
        for (int c = 0; c < classes; c++)
            if (weights[c] > 0) weights[c] = (double)n / ((double)present * weights[c]);
        *count = classes;
    }
    nn_free(values);
    return status;
}

/* ------------------------------------------------------------ train / test split */

/* scikit-learn's sizes: n_test = ceil(test_size * n), n_train = the rest, both at least 1. */
static int split_sizes(int64_t n, double test_size, int64_t *n_train, int64_t *n_test) {
    if (test_size == 0) test_size = 0.25;
    if (!(test_size > 0 && test_size < 1))
        return nn_error(NN_ERR_ARG, "nn_train_test_split: test_size %g is not a fraction in (0, 1) (0 = the default 0.25)",
                        test_size);
    *n_test = (int64_t)ceil(test_size * (double)n);
    *n_train = n - *n_test;
    if (*n_train < 1 || *n_test < 1)
        return nn_error(NN_ERR_ARG,
                        "nn_train_test_split: %lld samples with test_size %g leave %lld for training and %lld for "
                        "testing; each part needs at least 1",
                        (long long)n, test_size, (long long)*n_train, (long long)*n_test);
    return NN_OK;
}

typedef struct class_groups {
    int64_t classes;
    int64_t *counts;   /* samples per class, classes in increasing label order */
    int64_t *members;  /* sample indices grouped by class, in sample order within a class */
} class_groups;

static int compare_int64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t find_class(const int64_t *classes, int64_t count, int64_t label) {
    const int64_t *hit = bsearch(&label, classes, (size_t)count, sizeof *classes, compare_int64);
    return hit - classes;
}

/* Groups the samples by label, as np.unique plus a stable argsort. labels is overwritten with
 * each sample's class number. */
static int group_classes(int64_t *labels, int64_t n, class_groups *g) {
    int64_t *sorted = nn_calloc((size_t)n, sizeof *sorted);
    g->members = nn_calloc((size_t)n, sizeof *g->members);
    g->counts = nn_calloc((size_t)n, sizeof *g->counts);
    if (!sorted || !g->members || !g->counts) return nn_free(sorted), NN_ERR_NOMEM;
    memcpy(sorted, labels, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_int64);
    g->classes = 0;
    for (int64_t i = 0; i < n; i++)
        if (!g->classes || sorted[i] != sorted[g->classes - 1]) sorted[g->classes++] = sorted[i];
    for (int64_t i = 0; i < n; i++) g->counts[labels[i] = find_class(sorted, g->classes, labels[i])]++;
    for (int64_t c = 0; c < g->classes; c++)
        if (g->counts[c] < 2) {
            int64_t label = sorted[c];
            nn_free(sorted);
            return nn_error(NN_ERR_DATA,
                            "nn_train_test_split: class %lld has only 1 sample; stratifying needs at least 2 of each class",
                            (long long)label);
        }
    int64_t *next = sorted; /* now the fill position of each class */
    for (int64_t c = 0, start = 0; c < g->classes; start += g->counts[c++]) next[c] = start;
    for (int64_t i = 0; i < n; i++) g->members[next[labels[i]]++] = i;
    nn_free(sorted);
    return NN_OK;
}

typedef struct ranked_class { double remainder; int64_t index; } ranked_class;

static int compare_ranked(const void *a, const void *b) {
    const ranked_class *x = a, *y = b;
    if (x->remainder != y->remainder) return x->remainder < y->remainder ? 1 : -1; /* largest first */
    return (x->index > y->index) - (x->index < y->index);
}

/* scikit-learn's _approximate_mode: per-class draws proportional to counts and summing to
 * draws: the floors first, then one more for each of the largest remainders, ties broken at
 * random. rank is scratch for `classes` entries. */
static void approximate_mode(const int64_t *counts, int64_t classes, int64_t draws, nn_rng *rng, int64_t *out,
                             ranked_class *rank) {
    int64_t total = 0, need = draws;
    for (int64_t c = 0; c < classes; c++) total += counts[c];
    for (int64_t c = 0; c < classes; c++) {
        double share = (double)counts[c] / (double)total * (double)draws; /* numpy's order of operations */
        out[c] = (int64_t)floor(share);
        need -= out[c];
        rank[c] = (ranked_class){ share - floor(share), c };
    }
    qsort(rank, (size_t)classes, sizeof *rank, compare_ranked);
    for (int64_t start = 0, end; need > 0 && start < classes; start = end) {
        for (end = start + 1; end < classes && rank[end].remainder == rank[start].remainder; end++) continue;
        int64_t tied = end - start, take = tied < need ? tied : need;
        for (int64_t k = 0; k < take; k++) {
            int64_t j = start + k + (int64_t)nn_rng_below(rng, (uint64_t)(tied - k));
            ranked_class chosen = rank[j];
            rank[j] = rank[start + k];
            rank[start + k] = chosen;
            out[chosen.index]++;
        }
        need -= take;
    }
}

/* StratifiedShuffleSplit's draw: per-class train counts proportional to the class sizes, test
 * counts proportional to what remains; each class's members are shuffled and dealt out, then
 * each part is shuffled. index receives the train samples, then the test samples. */
static int stratified_order(const nn_tensor *y, int64_t n_train, int64_t n_test, nn_rng *rng, int64_t *index) {
    static const char caller[] = "nn_train_test_split";
    if (!y) return nn_error(NN_ERR_ARG, "%s: stratify needs class labels, but the dataset has no y", caller);
    int64_t *labels;
    int status = read_labels(y, caller, true, &labels);
    if (status) return status;
    int64_t n = n_train + n_test;
    class_groups g = { 0 };
    int64_t *train_counts = nn_calloc((size_t)n, 3 * sizeof *train_counts);
    ranked_class *rank = nn_calloc((size_t)n, sizeof *rank);
    if (!train_counts || !rank) status = NN_ERR_NOMEM;
    else status = group_classes(labels, n, &g);
    if (!status && (n_train < g.classes || n_test < g.classes))
        status = nn_error(NN_ERR_ARG, "%s: the %s part would hold %lld samples, fewer than the %lld classes", caller,
                          n_train < g.classes ? "train" : "test", (long long)(n_train < g.classes ? n_train : n_test),
                          (long long)g.classes);
    if (!status) {
        int64_t *left = train_counts + g.classes, *test_counts = left + g.classes;
        approximate_mode(g.counts, g.classes, n_train, rng, train_counts, rank);
        for (int64_t c = 0; c < g.classes; c++) left[c] = g.counts[c] - train_counts[c];
        approximate_mode(left, g.classes, n_test, rng, test_counts, rank);
        int64_t *train = index, *test = index + n_train, *members = g.members;
        for (int64_t c = 0; c < g.classes; members += g.counts[c++]) {
            nn_rng_shuffle(rng, members, g.counts[c]);
            for (int64_t k = 0; k < train_counts[c]; k++) *train++ = members[k];
            for (int64_t k = 0; k < test_counts[c]; k++) *test++ = members[train_counts[c] + k];
        }
        nn_rng_shuffle(rng, index, n_train);
        nn_rng_shuffle(rng, index + n_train, n_test);
    }
    nn_free(labels);
    nn_free(train_counts);
    nn_free(rank);
    nn_free(g.counts);
    nn_free(g.members);
    return status;
}

int nn_train_test_split(const nn_dataset *d, const nn_split_opts *opts, nn_dataset **train, nn_dataset **test) {
    if (train) *train = NULL;
    if (test) *test = NULL;
    if (!d || !train || !test) return nn_error(NN_ERR_ARG, "nn_train_test_split: the dataset, train and test must not be NULL");
    nn_split_opts o = opts ? *opts : (nn_split_opts){ 0 };
    if (o.stratify && o.shuffle == NN_OFF)
        return nn_error(NN_ERR_ARG, "nn_train_test_split: stratify needs shuffling; it cannot keep the order "
                                    "(shuffle = NN_OFF), as in scikit-learn");
    int64_t n = nn_dataset_size(d), n_train = 0, n_test = 0;
    int status = split_sizes(n, o.test_size, &n_train, &n_test);
    if (status) return status;
    int64_t *index = identity_indices(n);
    if (!index) return NN_ERR_NOMEM;
    nn_rng rng;
    nn_rng_seed(&rng, o.seed ? o.seed : nn_default_seed());
    if (o.stratify) status = stratified_order(nn_dataset_y(d), n_train, n_test, &rng, index);
    else if (o.shuffle != NN_OFF) nn_rng_shuffle(&rng, index, n);
    if (!status) {
        *train = dataset_take(d, index, n_train);
        *test = *train ? dataset_take(d, index + n_train, n_test) : NULL;
        if (!*test) {
            status = NN_ERR_NOMEM;
            nn_dataset_free(*train);
            *train = NULL;
        }
    }
    nn_free(index);
    return status;
}

/* ------------------------------------------------------------ scaling */

/* x as a float32 matrix of rows (every axis but the last, flattened) by columns (the last
 * axis), with at least one row. */
static int float_matrix(const nn_tensor *x, const char *caller, int64_t *rows, int64_t *cols) {
    char shape[128];
    if (!x) return nn_error(NN_ERR_ARG, "%s: x is NULL", caller);
    if (x->dtype != NN_FLOAT32)
        return nn_error(NN_ERR_ARG, "%s: x is %s; scaling works in place on float32 (convert with nn_tensor_cast)",
                        caller, nn_dtype_name(x->dtype));
    if (x->ndim < 2)
        return nn_error(NN_ERR_SHAPE, "%s: x has shape %s; it needs samples and a last axis of columns (reshape 1-D data to (N, 1))",
                        caller, nn_shape_str(x->ndim, x->shape, shape, sizeof shape));
    *cols = x->shape[x->ndim - 1];
    *rows = 1;
    for (int i = 0; i < x->ndim - 1; i++) *rows *= x->shape[i];
    if (*rows == 0)
        return nn_error(NN_ERR_SHAPE, "%s: x has shape %s: no samples to compute statistics from", caller,
                        nn_shape_str(x->ndim, x->shape, shape, sizeof shape));
    return NN_OK;
}

static int check_finite(const float *x, int64_t rows, int64_t cols, const char *caller) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            if (!isfinite(x[r * cols + c]))
                return nn_error(NN_ERR_DATA, "%s: x[row %lld, column %lld] is %g; statistics need finite values", caller,
                                (long long)r, (long long)c, (double)x[r * cols + c]);
    return NN_OK;
}

/* x = (x - shift) / scale per column, computed in double. */
static void apply_scaling(float *x, int64_t rows, int64_t cols, const double *shift, const double *scale) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) x[r * cols + c] = (float)(((double)x[r * cols + c] - shift[c]) / scale[c]);
}

static void copy_stats(float *dst, const double *src, int64_t cols) {
    if (dst)
        for (int64_t c = 0; c < cols; c++) dst[c] = (float)src[c];
}

/* Two passes in double (mean, then the mean squared deviation: numpy's population variance).
 * A column is constant, with divisor 1, when its variance is within the two-pass algorithm's
 * rounding error bound, scikit-learn's _is_constant_feature test. */
int nn_standardize(nn_tensor *x, float *mean, float *std) {
    int64_t rows, cols;
    int status = float_matrix(x, "nn_standardize", &rows, &cols);
    float *v = nn_tensor_f32(x);
    if (status || (status = check_finite(v, rows, cols, "nn_standardize"))) return status;
    double *mu = nn_calloc((size_t)cols, 2 * sizeof *mu);
    if (!mu) return NN_ERR_NOMEM;
    double *sigma = mu + cols;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) mu[c] += v[r * cols + c];
    for (int64_t c = 0; c < cols; c++) mu[c] /= (double)rows;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            double deviation = v[r * cols + c] - mu[c];
            sigma[c] += deviation * deviation;
        }
    for (int64_t c = 0; c < cols; c++) {
        double var = sigma[c] / (double)rows, bound = (double)rows * DBL_EPSILON * var + pow((double)rows * mu[c] * DBL_EPSILON, 2);
        sigma[c] = var <= bound ? 1.0 : sqrt(var);
    }
    apply_scaling(v, rows, cols, mu, sigma);
    copy_stats(mean, mu, cols);
    copy_stats(std, sigma, cols);
    nn_free(mu);
    return NN_OK;
}

/* (x - min) / (max - min) per column; a constant column (max == min) keeps a divisor of 1 and
 * so becomes 0. */
int nn_minmax_scale(nn_tensor *x, float *min, float *max) {
    int64_t rows, cols;
    int status = float_matrix(x, "nn_minmax_scale", &rows, &cols);
    float *v = nn_tensor_f32(x);
    if (status || (status = check_finite(v, rows, cols, "nn_minmax_scale"))) return status;
    double *low = nn_calloc((size_t)cols, 3 * sizeof *low);
    if (!low) return NN_ERR_NOMEM;
    double *high = low + cols, *range = high + cols;
    for (int64_t c = 0; c < cols; c++) low[c] = high[c] = v[c];
    for (int64_t r = 1; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            low[c] = fmin(low[c], v[r * cols + c]);
            high[c] = fmax(high[c], v[r * cols + c]);
        }
    for (int64_t c = 0; c < cols; c++) range[c] = high[c] > low[c] ? high[c] - low[c] : 1.0;
    apply_scaling(v, rows, cols, low, range);
    copy_stats(min, low, cols);
    copy_stats(max, high, cols);
    nn_free(low);
    return NN_OK;
}
