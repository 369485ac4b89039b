/* Tensors: dense row-major arrays that own or borrow their data. */
#include "nn_internal.h"

#include <stdio.h>

static int check_shape(int ndim, const int64_t *shape, size_t *bytes) {
    if (ndim < 0 || ndim > NN_MAX_DIMS)
        return nn_error(NN_ERR_SHAPE, "tensor rank %d is outside 0..%d", ndim, NN_MAX_DIMS);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return nn_error(NN_ERR_SHAPE, "tensor dimension %d is negative (%lld)", i, (long long)shape[i]);
        if ((uint64_t)shape[i] > SIZE_MAX || !nn_size_mul(count, (size_t)shape[i], &count))
            return nn_error(NN_ERR_SHAPE, "tensor shape overflows the address space");
    }
    if (!nn_size_mul(count, sizeof(float), bytes))
        return nn_error(NN_ERR_SHAPE, "tensor shape overflows the address space");
    return NN_OK;
}

static nn_tensor *tensor_header(nn_dtype dtype, int ndim, const int64_t *shape) {
    nn_tensor *t = nn_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    return t;
}

nn_tensor *nn_tensor_new(nn_dtype dtype, int ndim, const int64_t *shape) {
    size_t bytes;
    if (dtype != NN_FLOAT32) return nn_error(NN_ERR_ARG, "unsupported dtype %d", (int)dtype), NULL;
    if (check_shape(ndim, shape, &bytes)) return NULL;
    nn_tensor *t = tensor_header(dtype, ndim, shape);
    if (!t) return NULL;
    t->data = nn_calloc(1, bytes);
    if (!t->data) return nn_free(t), NULL;
    t->owns_data = true;
    return t;
}

nn_tensor *nn_tensor_wrap(nn_dtype dtype, int ndim, const int64_t *shape, void *data) {
    size_t bytes;
    if (dtype != NN_FLOAT32) return nn_error(NN_ERR_ARG, "unsupported dtype %d", (int)dtype), NULL;
    if (check_shape(ndim, shape, &bytes)) return NULL;
    if (!data && bytes) return nn_error(NN_ERR_ARG, "nn_tensor_wrap: data is NULL"), NULL;
    nn_tensor *t = tensor_header(dtype, ndim, shape);
    if (t) t->data = data;
    return t;
}

nn_tensor *nn_tensor_copy(const nn_tensor *src) {
    if (!src) return nn_error(NN_ERR_ARG, "nn_tensor_copy: tensor is NULL"), NULL;
    nn_tensor *t = nn_tensor_new(src->dtype, src->ndim, src->shape);
    if (t) memcpy(t->data, src->data, (size_t)nn_tensor_size(src) * sizeof(float));
    return t;
}

void nn_tensor_free(nn_tensor *t) {
    if (!t) return;
    if (t->owns_data) nn_free(t->data);
    nn_free(t);
}

int64_t nn_tensor_size(const nn_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

float *nn_tensor_f32(const nn_tensor *t) {
    return t && t->dtype == NN_FLOAT32 ? (float *)t->data : NULL;
}

char *nn_shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && used < size; i++) {
        if (shape[i] < 0) used += (size_t)snprintf(buf + used, size - used, "%sNone", i ? ", " : "");
        else used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    if (used < size) snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
    return buf;
}
