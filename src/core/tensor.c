/* Tensors: dense row-major arrays that own or borrow their data. */
#include "nn_internal.h"

#include <stdio.h>
#include <sys/mman.h>

static const struct { const char *name; size_t size; } dtypes[NN_DTYPE_COUNT] = {
    [NN_FLOAT32] = { "float32", 4 }, [NN_FLOAT64] = { "float64", 8 }, [NN_FLOAT16] = { "float16", 2 },
    [NN_INT8] = { "int8", 1 },       [NN_INT16] = { "int16", 2 },     [NN_INT32] = { "int32", 4 },
    [NN_INT64] = { "int64", 8 },     [NN_UINT8] = { "uint8", 1 },     [NN_UINT16] = { "uint16", 2 },
    [NN_UINT32] = { "uint32", 4 },   [NN_UINT64] = { "uint64", 8 },   [NN_BOOL] = { "bool", 1 },
};

size_t nn_dtype_size(nn_dtype dtype) { return (unsigned)dtype < NN_DTYPE_COUNT ? dtypes[dtype].size : 0; }

const char *nn_dtype_name(nn_dtype dtype) { return (unsigned)dtype < NN_DTYPE_COUNT ? dtypes[dtype].name : "invalid"; }

static int check_shape(nn_dtype dtype, int ndim, const int64_t *shape, size_t *bytes) {
    if (!nn_dtype_size(dtype)) return nn_error(NN_ERR_ARG, "unsupported dtype %d", (int)dtype);
    if (ndim < 0 || ndim > NN_MAX_DIMS)
        return nn_error(NN_ERR_SHAPE, "tensor rank %d is outside 0..%d", ndim, NN_MAX_DIMS);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return nn_error(NN_ERR_SHAPE, "tensor dimension %d is negative (%lld)", i, (long long)shape[i]);
        if ((uint64_t)shape[i] > SIZE_MAX || !nn_size_mul(count, (size_t)shape[i], &count))
            return nn_error(NN_ERR_SHAPE, "tensor shape overflows the address space");
    }
    if (!nn_size_mul(count, nn_dtype_size(dtype), bytes))
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

#define HUGE_PAGE_BYTES ((uintptr_t)2 << 20)
#define HUGE_PAGES_FROM_BYTES ((size_t)4 << 20)

/* Asks for 2 MB pages under a large array (numpy does the same), before its first touch, where
 * Linux gives them on request (transparent_hugepage "madvise"). A training set is read a few
 * rows at a time in shuffled order: on 4 KB pages nearly every row is a TLB miss and a page
 * walk; one 2 MB page holds 512 times the rows. Advice only: a failure changes nothing. */
static void advise_huge_pages(void *data, size_t bytes) {
#ifdef MADV_HUGEPAGE
    if (bytes < HUGE_PAGES_FROM_BYTES) return;
    uintptr_t start = ((uintptr_t)data + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
    uintptr_t end = ((uintptr_t)data + bytes) & ~(HUGE_PAGE_BYTES - 1);
    if (end > start) madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)data, (void)bytes;
#endif
}

/* A tensor whose data is allocated, zeroed or left for the caller to fill. */
static nn_tensor *tensor_alloc(nn_dtype dtype, int ndim, const int64_t *shape, bool zeroed) {
    size_t bytes;
    if (check_shape(dtype, ndim, shape, &bytes)) return NULL;
    nn_tensor *t = tensor_header(dtype, ndim, shape);
    if (!t) return NULL;
    t->data = nn_malloc(bytes);
    if (!t->data) return nn_free(t), NULL;
    advise_huge_pages(t->data, bytes);
    if (zeroed) memset(t->data, 0, bytes);
    t->owns_data = true;
    return t;
}

nn_tensor *nn_tensor_new(nn_dtype dtype, int ndim, const int64_t *shape) { return tensor_alloc(dtype, ndim, shape, true); }

nn_tensor *nn_tensor_new_uninit(nn_dtype dtype, int ndim, const int64_t *shape) {
    return tensor_alloc(dtype, ndim, shape, false);
}

nn_tensor *nn_tensor_wrap(nn_dtype dtype, int ndim, const int64_t *shape, void *data) {
    size_t bytes;
    if (check_shape(dtype, ndim, shape, &bytes)) return NULL;
    if (!data && bytes) return nn_error(NN_ERR_ARG, "nn_tensor_wrap: data is NULL"), NULL;
    nn_tensor *t = tensor_header(dtype, ndim, shape);
    if (t) t->data = data;
    return t;
}

nn_tensor *nn_tensor_copy(const nn_tensor *src) {
    if (!src) return nn_error(NN_ERR_ARG, "nn_tensor_copy: tensor is NULL"), NULL;
    nn_tensor *t = nn_tensor_new(src->dtype, src->ndim, src->shape);
    size_t bytes = (size_t)nn_tensor_size(src) * nn_dtype_size(src->dtype);
    if (t && bytes) memcpy(t->data, src->data, bytes); /* an empty tensor may borrow NULL */
    return t;
}

nn_tensor *nn_tensor_adopt(nn_dtype dtype, int ndim, const int64_t *shape, void *data) {
    nn_tensor *t = nn_tensor_wrap(dtype, ndim, shape, data);
    if (t) t->owns_data = true;
    return t;
}

nn_tensor *nn_tensor_wrap_mapping(nn_dtype dtype, int ndim, const int64_t *shape, void *data, void *map_base,
                                  size_t map_size) {
    nn_tensor *t = nn_tensor_wrap(dtype, ndim, shape, data);
    if (t) {
        t->mapping_ = map_base;
        t->mapping_size_ = map_size;
    }
    return t;
}

void nn_tensor_free(nn_tensor *t) {
    if (!t) return;
    if (t->mapping_) munmap(t->mapping_, t->mapping_size_);
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

/* IEEE half precision to float and back (round to nearest even), as numpy's float16. */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (mant << 13);
    else if (exp) bits = sign | ((exp + 112) << 23) | (mant << 13);
    else if (!mant) bits = sign;
    else {
        int e = -1;
        do e++, mant <<= 1; while (!(mant & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Rounds once, from the double: float32 values convert exactly to double, and a float64 value
 * rounded to float32 first could land on a float16 halfway point it was not on. */
static uint16_t double_to_half(double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    uint16_t sign = (uint16_t)((bits >> 48) & 0x8000);
    uint64_t exp = (bits >> 52) & 0x7ff, mant = bits & ((UINT64_C(1) << 52) - 1);
    if (exp == 0x7ff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    int e = (int)exp - 1008; /* the float16 exponent field: rebias 1023 -> 15 */
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00);
    unsigned shift = 42; /* 52 - 10 mantissa bits dropped */
    uint64_t half;
    if (e <= 0) { /* subnormal: the implicit bit joins the mantissa, shifted further */
        if (e < -10) return sign;
        mant |= UINT64_C(1) << 52;
        shift += (unsigned)(1 - e);
        half = mant >> shift;
    } else {
        half = ((uint64_t)e << 10) | (mant >> shift);
    }
    uint64_t rest = mant & ((UINT64_C(1) << shift) - 1), mid = UINT64_C(1) << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1))) half++; /* a carry into the exponent is right, up to inf */
    return (uint16_t)(sign | half);
}

double nn_tensor_get(const nn_tensor *t, int64_t i) {
    const void *p = (const char *)t->data + (size_t)i * nn_dtype_size(t->dtype);
    switch (t->dtype) {
    case NN_FLOAT32: return *(const float *)p;
    case NN_FLOAT64: return *(const double *)p;
    case NN_FLOAT16: return half_to_float(*(const uint16_t *)p);
    case NN_INT8: return *(const int8_t *)p;
    case NN_INT16: return *(const int16_t *)p;
    case NN_INT32: return *(const int32_t *)p;
    case NN_INT64: return (double)*(const int64_t *)p;
    case NN_UINT8: return *(const uint8_t *)p;
    case NN_UINT16: return *(const uint16_t *)p;
    case NN_UINT32: return *(const uint32_t *)p;
    case NN_UINT64: return (double)*(const uint64_t *)p;
    case NN_BOOL: return *(const uint8_t *)p != 0;
    default: return NAN;
    }
}

/* Stores x into element i; fails when an integer type cannot hold it (NaN, Inf, out of range). */
static bool tensor_set(nn_tensor *t, int64_t i, double x) {
    void *p = (char *)t->data + (size_t)i * nn_dtype_size(t->dtype);
    double whole = trunc(x);
    switch (t->dtype) {
#define INTEGER_CASE(tag, type, lo, hi)                                                               \
    case tag:                                                                                         \
        if (!(whole >= (double)(lo) && whole <= (double)(hi))) return false;                         \
        *(type *)p = (type)whole;                                                                     \
        return true;
        INTEGER_CASE(NN_INT8, int8_t, INT8_MIN, INT8_MAX)
        INTEGER_CASE(NN_INT16, int16_t, INT16_MIN, INT16_MAX)
        INTEGER_CASE(NN_INT32, int32_t, INT32_MIN, INT32_MAX)
        INTEGER_CASE(NN_INT64, int64_t, -9223372036854775808.0, 9223372036854774784.0)
        INTEGER_CASE(NN_UINT8, uint8_t, 0, UINT8_MAX)
        INTEGER_CASE(NN_UINT16, uint16_t, 0, UINT16_MAX)
        INTEGER_CASE(NN_UINT32, uint32_t, 0, UINT32_MAX)
        INTEGER_CASE(NN_UINT64, uint64_t, 0, 18446744073709549568.0)
#undef INTEGER_CASE
    case NN_FLOAT32: *(float *)p = (float)x; return true;
    case NN_FLOAT64: *(double *)p = x; return true;
    case NN_FLOAT16: *(uint16_t *)p = double_to_half(x); return true;
    case NN_BOOL: *(uint8_t *)p = x != 0; return true;
    default: return false;
    }
}

/* int64 and uint64 values past 2^53 do not survive a double: their elements travel as a sign and
 * a magnitude, which hold both ranges exactly, and each target rounds them once. */
static void get_wide(const nn_tensor *t, int64_t i, bool *negative, uint64_t *magnitude) {
    if (t->dtype == NN_UINT64) {
        *negative = false;
        *magnitude = ((const uint64_t *)t->data)[i];
    } else {
        int64_t v = ((const int64_t *)t->data)[i];
        *negative = v < 0;
        *magnitude = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    }
}

static bool set_wide(nn_tensor *t, int64_t i, bool negative, uint64_t magnitude) {
    void *p = (char *)t->data + (size_t)i * nn_dtype_size(t->dtype);
    switch (t->dtype) {
    case NN_FLOAT32: *(float *)p = negative ? -(float)magnitude : (float)magnitude; return true;
    case NN_FLOAT64: *(double *)p = negative ? -(double)magnitude : (double)magnitude; return true;
    case NN_FLOAT16: *(uint16_t *)p = double_to_half(negative ? -(double)magnitude : (double)magnitude); return true;
    case NN_BOOL: *(uint8_t *)p = magnitude != 0; return true;
    case NN_INT64:
        if (magnitude > (negative ? UINT64_C(1) << 63 : (uint64_t)INT64_MAX)) return false;
        *(int64_t *)p = negative ? -(int64_t)(magnitude - 1) - 1 : (int64_t)magnitude;
        return true;
    case NN_UINT64:
        if (negative) return false;
        *(uint64_t *)p = magnitude;
        return true;
    default: /* the narrower integers: every value they hold is exact in a double */
        return magnitude <= UINT64_C(1) << 53 && tensor_set(t, i, negative ? -(double)magnitude : (double)magnitude);
    }
}

nn_tensor *nn_tensor_cast(const nn_tensor *t, nn_dtype dtype) {
    if (!t) return nn_error(NN_ERR_ARG, "nn_tensor_cast: tensor is NULL"), NULL;
    nn_tensor *out = nn_tensor_new(dtype, t->ndim, t->shape);
    if (!out) return NULL;
    if (t->dtype == dtype) {
        size_t bytes = (size_t)nn_tensor_size(t) * nn_dtype_size(dtype);
        if (bytes) memcpy(out->data, t->data, bytes); /* an empty tensor may borrow NULL */
        return out;
    }
    bool wide = t->dtype == NN_INT64 || t->dtype == NN_UINT64, negative = false;
    uint64_t magnitude = 0;
    for (int64_t i = 0, n = nn_tensor_size(t); i < n; i++) {
        if (wide) get_wide(t, i, &negative, &magnitude);
        if (!(wide ? set_wide(out, i, negative, magnitude) : tensor_set(out, i, nn_tensor_get(t, i)))) {
            nn_error(NN_ERR_DATA, "nn_tensor_cast: element %lld (%g) does not fit %s", (long long)i, nn_tensor_get(t, i),
                     nn_dtype_name(dtype));
            nn_tensor_free(out);
            return NULL;
        }
    }
    return out;
}
