/* Feeding batches: rows gathered from arrays of any dtype, the prefetch thread, and training over
 * a memory-mapped .npy, each checked against a plain run. */
#include "../src/nn_internal.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static nn_model *small_model(void) {
    nn_set_seed(7);
    nn_model *m = nn_sequential((nn_layer *[]){ nn_dense(8, .activation = "relu"), nn_dense(1, .activation = "sigmoid"), NULL });
    nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = "binary_crossentropy" });
    return m;
}

/* x (rows, cols) of ramps, y alternating 0/1, as float32. */
static void fill(nn_tensor *x, nn_tensor *y) {
    int64_t rows = x->shape[0], cols = x->shape[1];
    for (int64_t i = 0; i < rows * cols; i++) nn_tensor_f32(x)[i] = (float)((i * 37 % 101) - 50) / 50.0f;
    for (int64_t r = 0; r < rows; r++) nn_tensor_f32(y)[r] = (float)(r % 2);
}

static bool same_weights(const nn_model *a, const nn_model *b) {
    for (int i = 0; i < nn_model_weight_count(a); i++) {
        nn_tensor *wa = NULL, *wb = NULL;
        nn_model_get_weight(a, nn_model_weight_name(a, i), &wa);
        nn_model_get_weight(b, nn_model_weight_name(b, i), &wb);
        bool same = wa && wb && memcmp(wa->data, wb->data, (size_t)nn_tensor_size(wa) * sizeof(float)) == 0;
        nn_tensor_free(wa), nn_tensor_free(wb);
        if (!same) return false;
    }
    return true;
}

TEST(gather_converts_every_dtype_and_follows_the_index) {
    uint8_t bytes[6] = { 0, 1, 2, 250, 251, 252 };
    nn_tensor *x = nn_tensor_wrap(NN_UINT8, 2, (int64_t[]){ 2, 3 }, bytes);
    int64_t labels[2] = { 5, -3 };
    nn_tensor *y = nn_tensor_wrap(NN_INT64, 1, (int64_t[]){ 2 }, labels);
    float w[2] = { 0.5f, 2.0f };
    int64_t index[2] = { 1, 0 };
    nn_feed f = { { x, y }, 2, w, 0, index };
    float xo[6], yo[2], wo[4];
    nn_feed_gather(&f, 0, 2, (float *[]){ xo, yo }, wo, 2);
    CHECK(xo[0] == 250 && xo[2] == 252 && xo[3] == 0 && xo[5] == 2);
    CHECK(yo[0] == -3 && yo[1] == 5);
    CHECK(wo[0] == 2.0f && wo[1] == 2.0f && wo[2] == 0.5f);
    nn_feed g = { { x }, 1, NULL, 1, NULL }; /* offset 1: the second row first */
    nn_feed_gather(&g, 0, 1, (float *[]){ xo }, NULL, 0);
    CHECK(xo[0] == 250);
    nn_tensor_free(x), nn_tensor_free(y);
}

/* float32 rows and single float32 targets (their own loops), through an index and an offset;
 * prefetching rows changes nothing. */
TEST(gather_float_rows_and_single_targets) {
    float xs[8] = { 0, 1, 10, 11, 20, 21, 30, 31 }, ys[4] = { 0, 1, 2, 3 };
    nn_tensor *x = nn_tensor_wrap(NN_FLOAT32, 2, (int64_t[]){ 4, 2 }, xs);
    nn_tensor *y = nn_tensor_wrap(NN_FLOAT32, 2, (int64_t[]){ 4, 1 }, ys);
    int64_t index[3] = { 2, 0, 1 };
    nn_feed f = { { x, y }, 2, NULL, 1, index }; /* rows 3, 1, 2 */
    float xo[6], yo[3], wo[3];
    nn_feed_prefetch(&f, 0, 3);
    nn_feed_gather(&f, 0, 3, (float *[]){ xo, yo }, wo, 1);
    CHECK(xo[0] == 30 && xo[1] == 31 && xo[2] == 10 && xo[3] == 11 && xo[4] == 20 && xo[5] == 21);
    CHECK(yo[0] == 3 && yo[1] == 1 && yo[2] == 2);
    CHECK(wo[0] == 1 && wo[1] == 1 && wo[2] == 1);
    nn_tensor_free(x), nn_tensor_free(y);
}

TEST(prefetched_batches_equal_gathered_ones) {
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 300, 700 }), *y = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 300, 1 });
    fill(x, y);
    int64_t index[300];
    for (int i = 0; i < 300; i++) index[i] = (i * 7) % 300;
    nn_feed f = { { x, y }, 2, NULL, 0, index };
    CHECK(nn_prefetch_worthwhile(&f, 128));
    nn_prefetcher *p = NULL;
    CHECK(nn_prefetch_new(&f, 128, 1, &p) == NN_OK);
    static float xa[128 * 700], xb[128 * 700], ya[128], yb[128], wa[128], wb[128];
    for (int pass = 0; pass < 2; pass++) {
        nn_prefetch_begin(p, 300);
        for (int64_t step = 0; step < 3; step++) {
            int64_t n = step < 2 ? 128 : 300 - 256;
            nn_prefetch_take(p, step, (float *[]){ xa, ya }, wa);
            nn_feed_gather(&f, step * 128, n, (float *[]){ xb, yb }, wb, 1);
            CHECK(memcmp(xa, xb, (size_t)(n * 700) * sizeof(float)) == 0);
            CHECK(memcmp(ya, yb, (size_t)n * sizeof(float)) == 0);
            CHECK(memcmp(wa, wb, (size_t)n * sizeof(float)) == 0);
        }
    }
    nn_prefetch_free(p);
    nn_tensor_free(x), nn_tensor_free(y);
}

/* Training over a memory-mapped .npy with large batches (so the prefetch thread feeds them)
 * gives bit for bit the weights of training in memory on the same batches. */
TEST(fit_over_a_mapped_npy_with_prefetch_matches_batches_in_memory) {
    char x_path[] = "/tmp/nn_test_batches_x_XXXXXX";
    int fd = mkstemp(x_path);
    close(fd);
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 600, 600 }), *y = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 600, 1 });
    fill(x, y);
    CHECK(nn_npy_save(x_path, x) == NN_OK);
    nn_tensor *mapped = NULL;
    CHECK(nn_npy_load(x_path, &(nn_npy_opts){ .mmap = true }, &mapped) == NN_OK);
    CHECK(mapped && mapped->mapping_ != NULL);
    nn_dataset *d = nn_dataset_new(mapped, nn_tensor_copy(y));
    nn_model *streamed = small_model(), *reference = small_model();
    CHECK(nn_fit(streamed, d, &(nn_fit_opts){ .epochs = 2, .batch_size = 256, .shuffle = NN_OFF, .verbose = NN_OFF }, NULL) == NN_OK);
    for (int epoch = 0; epoch < 2; epoch++)
        for (int64_t start = 0; start < 600; start += 256) {
            int64_t n = 600 - start < 256 ? 600 - start : 256;
            nn_tensor *bx = nn_tensor_wrap(NN_FLOAT32, 2, (int64_t[]){ n, 600 }, nn_tensor_f32(x) + start * 600);
            nn_tensor *by = nn_tensor_wrap(NN_FLOAT32, 2, (int64_t[]){ n, 1 }, nn_tensor_f32(y) + start);
            CHECK(nn_train_on_batch(reference, bx, by, NULL) == NN_OK);
            nn_tensor_free(bx), nn_tensor_free(by);
        }
    CHECK(same_weights(streamed, reference));
    nn_model_free(streamed), nn_model_free(reference);
    nn_dataset_free(d);
    nn_tensor_free(x), nn_tensor_free(y);
    remove(x_path);
}

/* uint8 images and integer labels train exactly as their float32 copies do. */
TEST(fit_on_uint8_equals_fit_on_float) {
    nn_tensor *x8 = nn_tensor_new(NN_UINT8, 3, (int64_t[]){ 64, 4, 4 }), *y8 = nn_tensor_new(NN_UINT8, 1, (int64_t[]){ 64 });
    for (int i = 0; i < 64 * 16; i++) ((uint8_t *)x8->data)[i] = (uint8_t)(i * 13 % 256);
    for (int i = 0; i < 64; i++) ((uint8_t *)y8->data)[i] = (uint8_t)(i % 3);
    nn_dataset *ints = nn_dataset_new(nn_tensor_copy(x8), nn_tensor_copy(y8));
    nn_dataset *floats = nn_dataset_new(nn_tensor_cast(x8, NN_FLOAT32), nn_tensor_cast(y8, NN_FLOAT32));
    nn_model *a = NULL, *b = NULL;
    for (int k = 0; k < 2; k++) {
        nn_set_seed(3);
        nn_model *m = nn_sequential((nn_layer *[]){ nn_rescaling(1.0 / 255), nn_flatten(), nn_dense(3, .activation = "softmax"), NULL });
        nn_compile(m, &(nn_compile_opts){ .optimizer = "sgd", .loss = "sparse_categorical_crossentropy" });
        CHECK(nn_fit(m, k ? floats : ints, &(nn_fit_opts){ .epochs = 2, .batch_size = 16, .verbose = NN_OFF }, NULL) == NN_OK);
        *(k ? &b : &a) = m;
    }
    CHECK(same_weights(a, b));
    nn_model_free(a), nn_model_free(b);
    nn_dataset_free(ints), nn_dataset_free(floats);
    nn_tensor_free(x8), nn_tensor_free(y8);
}

int main(void) {
    RUN_TESTS(gather_converts_every_dtype_and_follows_the_index, gather_float_rows_and_single_targets,
              prefetched_batches_equal_gathered_ones,
              fit_over_a_mapped_npy_with_prefetch_matches_batches_in_memory, fit_on_uint8_equals_fit_on_float);
}
