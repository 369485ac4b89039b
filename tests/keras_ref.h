/* Reading reference arrays made by real Keras (tests/gen/make_*_ref.py): lines
 * "<tag> <ndim> <dims...>" followed by the values. For test programs only. */
#ifndef NN_TEST_KERAS_REF_H
#define NN_TEST_KERAS_REF_H

#include "nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ref_array {
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    float *values; /* malloc'd; free with free() */
} ref_array;

static inline int64_t ref_size(const ref_array *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

/* Reads the next array if it carries `tag`; false (file position kept) on another tag or at the
 * end. A malformed file is a broken fixture: it aborts the test program. */
static inline bool read_array(FILE *f, const char *tag, ref_array *a) {
    char word[16];
    long pos = ftell(f);
    if (fscanf(f, " %15s %d", word, &a->ndim) != 2 || strcmp(word, tag) != 0 || a->ndim < 0 || a->ndim > NN_MAX_DIMS) {
        fseek(f, pos, SEEK_SET);
        return false;
    }
    for (int i = 0; i < a->ndim; i++)
        if (fscanf(f, "%lld", (long long *)&a->shape[i]) != 1) abort();
    int64_t size = ref_size(a);
    a->values = malloc((size_t)size * sizeof(float) + 1);
    for (int64_t i = 0; i < size; i++)
        if (!a->values || fscanf(f, "%f", &a->values[i]) != 1) abort();
    return true;
}

#endif
