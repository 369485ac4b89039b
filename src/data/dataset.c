/* Datasets: a sample array x (N, ...) with optional targets y (N, ...) and feature names. */
#include "nn_internal.h"

#include <stdio.h>

struct nn_dataset {
    nn_tensor *x[NN_MAX_MODEL_IO], *y[NN_MAX_MODEL_IO]; /* y[0] NULL: unlabelled */
    int nx, ny;
    char **feature_names;    /* one nn_malloc'd block (pointers, then strings); NULL if none */
    int64_t feature_count;
    char **class_names;      /* string class labels in index order (same block layout) */
    int64_t class_count;
};

static int count_list(nn_tensor *const *list) {
    int n = 0;
    while (list && list[n]) n++;
    return n;
}

static void free_list(nn_tensor *const *list, int n) {
    for (int i = 0; i < n; i++) nn_tensor_free(list[i]);
}

/* "x", "y", or "x[1]" when there are several. */
static void array_name(char *buf, size_t size, int k, int nx, int ny) {
    bool is_x = k < nx;
    int i = is_x ? k : k - nx, count = is_x ? nx : ny;
    if (count > 1) snprintf(buf, size, "%s[%d]", is_x ? "x" : "y", i);
    else snprintf(buf, size, "%s", is_x ? "x" : "y");
}

/* Every array needs a samples axis, and all the same number of samples. */
static int check_arrays(nn_tensor *const *x, int nx, nn_tensor *const *y, int ny) {
    char s0[128], s1[128], name0[16], name[16];
    array_name(name0, sizeof name0, 0, nx, ny);
    for (int k = 0; k < nx + ny; k++) {
        const nn_tensor *t = k < nx ? x[k] : y[k - nx];
        array_name(name, sizeof name, k, nx, ny);
        if (t->ndim < 1)
            return nn_error(NN_ERR_SHAPE, "nn_dataset_new: %s of shape %s needs a first (samples) dimension", name,
                            nn_shape_str(t->ndim, t->shape, s0, sizeof s0));
        if (t->shape[0] != x[0]->shape[0])
            return nn_error(NN_ERR_SHAPE,
                            "nn_dataset_new: %s has shape %s but %s has shape %s: their first dimensions (samples) "
                            "differ (%lld vs %lld)",
                            name0, nn_shape_str(x[0]->ndim, x[0]->shape, s0, sizeof s0), name,
                            nn_shape_str(t->ndim, t->shape, s1, sizeof s1), (long long)x[0]->shape[0],
                            (long long)t->shape[0]);
    }
    return NN_OK;
}

nn_dataset *nn_dataset_new_multi(nn_tensor *const *inputs, nn_tensor *const *targets) {
    int nx = count_list(inputs), ny = count_list(targets);
    int status = NN_OK;
    if (nx == 0) status = nn_error(NN_ERR_ARG, "nn_dataset_new: x is NULL (no input arrays)");
    else if (nx > NN_MAX_MODEL_IO || ny > NN_MAX_MODEL_IO)
        status = nn_error(NN_ERR_ARG, "nn_dataset_new: %d input and %d target arrays; at most %d of each", nx, ny,
                          NN_MAX_MODEL_IO);
    else status = check_arrays(inputs, nx, targets, ny);
    nn_dataset *d = status ? NULL : nn_calloc(1, sizeof *d);
    if (!d) {
        free_list(inputs, nx);
        free_list(targets, ny);
        return NULL;
    }
    memcpy(d->x, inputs, (size_t)nx * sizeof *inputs);
    if (ny) memcpy(d->y, targets, (size_t)ny * sizeof *targets);
    d->nx = nx, d->ny = ny;
    return d;
}

nn_dataset *nn_dataset_new(nn_tensor *x, nn_tensor *y) {
    if (!x) {
        nn_tensor_free(y);
        return nn_error(NN_ERR_ARG, "nn_dataset_new: x is NULL"), NULL;
    }
    return nn_dataset_new_multi((nn_tensor *[]){ x, NULL }, (nn_tensor *[]){ y, NULL });
}

void nn_dataset_set_feature_names(nn_dataset *d, char **names, int64_t count) {
    NN_ASSERT(d && d->x[0]->ndim == 2 && count == d->x[0]->shape[1]);
    nn_free(d->feature_names);
    d->feature_names = names;
    d->feature_count = count;
}

void nn_dataset_set_class_names(nn_dataset *d, char **names, int64_t count) {
    NN_ASSERT(d && count >= 0);
    nn_free(d->class_names);
    d->class_names = names;
    d->class_count = count;
}

void nn_dataset_free(nn_dataset *d) {
    if (!d) return;
    free_list(d->x, d->nx);
    free_list(d->y, d->ny);
    nn_free(d->feature_names);
    nn_free(d->class_names);
    nn_free(d);
}

const nn_tensor *nn_dataset_x(const nn_dataset *d) { return d ? d->x[0] : NULL; }

const nn_tensor *nn_dataset_y(const nn_dataset *d) { return d ? d->y[0] : NULL; }

int nn_dataset_input_count(const nn_dataset *d) { return d ? d->nx : 0; }

int nn_dataset_target_count(const nn_dataset *d) { return d ? d->ny : 0; }

const nn_tensor *nn_dataset_input(const nn_dataset *d, int i) { return d && i >= 0 && i < d->nx ? d->x[i] : NULL; }

const nn_tensor *nn_dataset_target(const nn_dataset *d, int i) { return d && i >= 0 && i < d->ny ? d->y[i] : NULL; }

int64_t nn_dataset_size(const nn_dataset *d) { return d ? d->x[0]->shape[0] : 0; }

const char *nn_dataset_feature_name(const nn_dataset *d, int64_t column) {
    if (!d || !d->feature_names) return NULL;
    if (column < 0 || column >= d->feature_count) {
        nn_error(NN_ERR_ARG, "feature column %lld is outside 0..%lld", (long long)column,
                 (long long)d->feature_count - 1);
        return NULL;
    }
    return d->feature_names[column];
}

int64_t nn_dataset_class_count(const nn_dataset *d) { return d ? d->class_count : 0; }

const char *nn_dataset_class_name(const nn_dataset *d, int64_t index) {
    if (!d || !d->class_names) return NULL;
    if (index < 0 || index >= d->class_count) {
        nn_error(NN_ERR_ARG, "class index %lld is outside 0..%lld", (long long)index,
                 (long long)d->class_count - 1);
        return NULL;
    }
    return d->class_names[index];
}
