/* Checks the layer test programs share: option and shape errors that must name the layer, a
 * one-layer model given Keras's weights, outputs compared with Keras's, a model that saves and
 * loads back predicting the same bits, and an allocation-failure sweep. For test programs only. */
#ifndef NN_TEST_LAYER_CHECKS_H
#define NN_TEST_LAYER_CHECKS_H

#include "failing_alloc.h"
#include "keras_ref.h"
#include "nn.h"
#include "scratch.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The layer's text must not parse, with `message` in the error. */
static inline void check_parse_error(const char *text, const char *message) {
    nn_layer *l = nn_layer_parse(text);
    CHECK(l == NULL);
    CHECK_CONTAINS(nn_last_error(), message);
    nn_layer_free(l);
}

/* The layer parses, but building it for the sample shape fails with `status` and `message`. */
static inline void check_build_fails(const char *text, int ndim, const int64_t *shape, int status, const char *message) {
    nn_model *m = nn_sequential((nn_layer *[]){ nn_layer_parse(text), NULL });
    CHECK(m != NULL);
    CHECK(m && nn_model_build(m, ndim, shape) == status);
    CHECK_CONTAINS(nn_last_error(), message);
    nn_model_free(m);
}

/* The common case: a shape error. */
static inline void check_build_error(const char *text, int ndim, const int64_t *shape, const char *message) {
    check_build_fails(text, ndim, shape, NN_ERR_SHAPE, message);
}

/* A one-layer model from Keras text, built for the input's sample shape, with Keras's `weights`
 * set in the model's weight order (the counts must agree). */
static inline nn_model *model_with_weights(const char *text, const ref_array *in, const ref_array *weights, int nweights) {
    nn_layer *layer = nn_layer_parse(text);
    CHECK(layer != NULL);
    nn_model *m = layer ? nn_sequential((nn_layer *[]){ layer, NULL }) : NULL;
    int status = m ? nn_model_build(m, in->ndim - 1, in->shape + 1) : NN_ERR_ARG;
    CHECK(status == NN_OK && nn_model_weight_count(m) == nweights);
    for (int i = 0; !status && i < nweights; i++) {
        nn_tensor *w = nn_tensor_wrap(NN_FLOAT32, weights[i].ndim, weights[i].shape, weights[i].values);
        status = nn_model_set_weight(m, nn_model_weight_name(m, i), w);
        CHECK(status == NN_OK);
        nn_tensor_free(w);
    }
    if (status) printf("  %s: %s\n", text, nn_last_error());
    return m;
}

/* How many of `got` differ from Keras's `want` by more than 1e-5 relative plus `abs_tol`; the
 * first three are printed under `label`. */
static inline int keras_mismatches(const char *label, const float *got, const ref_array *want, double abs_tol) {
    int bad = 0;
    for (int64_t i = 0, size = ref_size(want); i < size; i++) {
        double w = want->values[i], g = got[i];
        if (fabs(g - w) > 1e-5 * fabs(w) + abs_tol && bad++ < 3)
            printf("  %s: value %lld is %.9g, Keras %.9g\n", label, (long long)i, g, w);
    }
    return bad;
}

/* An output of shape (ndim, shape) must have Keras's shape and values (within 1e-5 relative
 * plus 1e-6). */
static inline void check_matches_keras(const char *label, const float *got, int ndim, const int64_t *shape, const ref_array *want) {
    CHECK(ndim == want->ndim);
    for (int i = 0; i < ndim && i < want->ndim; i++) CHECK(shape[i] == want->shape[i]);
    if (ndim == want->ndim) CHECK(keras_mismatches(label, got, want, 1e-6) == 0);
}

/* Saves m, loads it back and checks that both predict the same bits for x. Returns the loaded
 * model (NULL if loading failed) for more checks; the caller frees it. */
static inline nn_model *check_reloads_the_same(nn_model *m, const nn_tensor *x) {
    const char *path = scratch("reloaded.nn");
    nn_model *loaded = NULL;
    nn_tensor *a = NULL, *b = NULL;
    CHECK(m && nn_model_save(m, path) == NN_OK);
    int status = nn_model_load(path, &loaded);
    if (status) printf("  loading the saved model: %s\n", nn_last_error());
    CHECK(status == NN_OK);
    CHECK(m && nn_predict(m, x, NULL, &a) == NN_OK);
    CHECK(loaded && nn_predict(loaded, x, NULL, &b) == NN_OK);
    CHECK(a && b && nn_tensor_size(a) == nn_tensor_size(b) &&
          memcmp(nn_tensor_f32(a), nn_tensor_f32(b), (size_t)nn_tensor_size(a) * sizeof(float)) == 0);
    remove(path);
    nn_tensor_free(a), nn_tensor_free(b);
    return loaded;
}

/* A Sequential model of the layers parsed from `texts` (at most 15); NULL, with nothing left
 * allocated, if one does not parse. */
static inline nn_model *sequential_of_texts(const char *const *texts, int count) {
    nn_layer *layers[16] = { 0 };
    CHECK(count < 16);
    int parsed = 0;
    while (parsed < count && parsed < 15 && (layers[parsed] = nn_layer_parse(texts[parsed])) != NULL) parsed++;
    if (parsed == count) return nn_sequential(layers);
    for (int i = 0; i < parsed; i++) nn_layer_free(layers[i]);
    return NULL;
}

/* Fails each allocation in turn while parsing `texts` into a Sequential model, compiling it and,
 * when x is given, predicting: each failure must be a clean error with a message (and, under
 * ASan, leave no leak), until a run in which nothing fails. */
static inline void check_allocation_failure_sweep(const char *const *texts, int count, const nn_tensor *x) {
    bool finished = false;
    for (long n = 1; n < 20000 && !finished; n++) {
        failing_alloc f;
        failing_alloc_install(&f, n);
        nn_model *m = sequential_of_texts(texts, count);
        int status = m ? nn_compile(m, &(nn_compile_opts){ .optimizer = "sgd", .loss = "mse" }) : NN_ERR_NOMEM;
        nn_tensor *y = NULL;
        if (!status && x) status = nn_predict(m, x, NULL, &y);
        nn_set_allocator(NULL);
        if (status) CHECK(nn_last_error()[0] != '\0');
        finished = f.calls < n;
        nn_tensor_free(y);
        nn_model_free(m);
    }
    CHECK(finished);
}

#endif
