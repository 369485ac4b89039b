/* Datasets: a sample array x (N, ...) with optional targets y (N, ...) and feature names. */
#include "nn_internal.h"

struct nn_dataset {
    nn_tensor *x;
    nn_tensor *y;            /* NULL for unlabelled data */
    char **feature_names;    /* one nn_malloc'd block (pointers, then strings); NULL if none */
    int64_t feature_count;
    char **class_names;      /* string class labels in index order (same block layout) */
    int64_t class_count;
};

nn_dataset *nn_dataset_new(nn_tensor *x, nn_tensor *y) {
    char xs[128], ys[128];
    if (!x) {
        nn_tensor_free(y);
        return nn_error(NN_ERR_ARG, "nn_dataset_new: x is NULL"), NULL;
    }
    if (x->ndim < 1 || (y && y->ndim < 1)) {
        nn_error(NN_ERR_SHAPE, "nn_dataset_new: x %s and y %s need a first (samples) dimension",
                 nn_shape_str(x->ndim, x->shape, xs, sizeof xs),
                 y ? nn_shape_str(y->ndim, y->shape, ys, sizeof ys) : "None");
        goto fail;
    }
    if (y && y->shape[0] != x->shape[0]) {
        nn_error(NN_ERR_SHAPE,
                 "nn_dataset_new: x has shape %s but y has shape %s: their first dimensions "
                 "(samples) differ (%lld vs %lld)",
                 nn_shape_str(x->ndim, x->shape, xs, sizeof xs),
                 nn_shape_str(y->ndim, y->shape, ys, sizeof ys), (long long)x->shape[0],
                 (long long)y->shape[0]);
        goto fail;
    }
    nn_dataset *d = nn_calloc(1, sizeof *d);
    if (!d) goto fail;
    d->x = x;
    d->y = y;
    return d;
fail:
    nn_tensor_free(x);
    nn_tensor_free(y);
    return NULL;
}

void nn_dataset_set_feature_names(nn_dataset *d, char **names, int64_t count) {
    NN_ASSERT(d && d->x->ndim == 2 && count == d->x->shape[1]);
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
    nn_tensor_free(d->x);
    nn_tensor_free(d->y);
    nn_free(d->feature_names);
    nn_free(d->class_names);
    nn_free(d);
}

const nn_tensor *nn_dataset_x(const nn_dataset *d) { return d ? d->x : NULL; }

const nn_tensor *nn_dataset_y(const nn_dataset *d) { return d ? d->y : NULL; }

int64_t nn_dataset_size(const nn_dataset *d) { return d ? d->x->shape[0] : 0; }

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
