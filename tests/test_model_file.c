/* nn_model_save / nn_model_load: the blog model round-trips bitwise (predictions, weights,
 * normalization state, optimizer state and RNG, so training continues identically); saving
 * never damages an existing file; every kind of bad file is refused with a message naming it;
 * allocation failure anywhere in load or save leaks nothing. */
#include "../src/model/model.h"
#include "test.h"
#include "scratch.h"
#include "failing_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRAIN_CSV "data/breast_cancer_train.csv"
#define TEST_CSV "data/breast_cancer_test.csv"

/* ------------------------------------------------------------ helpers */

/* A bit-at-a-time CRC-32 (IEEE), independent of the library's table version. */
static uint32_t reference_crc32(const unsigned char *p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_u32(unsigned char *p, uint32_t x) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(x >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fix_crc(unsigned char *b, size_t size) { put_u32(b + size - 4, reference_crc32(b, size - 4)); }

/* A file laid out as docs/FILE_FORMAT.md describes, from metadata text and raw data. */
static void write_crafted(const char *path, const char *json, const void *data, size_t data_size) {
    size_t meta = strlen(json), start = (24 + meta + 63) / 64 * 64, size = start + data_size + 4;
    unsigned char *b = calloc(1, size);
    memcpy(b, "NNMODEL\0", 8);
    put_u32(b + 8, 1);
    put_u32(b + 16, (uint32_t)meta);
    memcpy(b + 24, json, meta);
    if (data_size) memcpy(b + start, data, data_size);
    fix_crc(b, size);
    write_bytes(path, b, size);
    free(b);
}

/* Loads a file that must be refused: checks *out stays NULL and the message names the file. */
static const char *load_error(const char *path) {
    nn_model *m = (nn_model *)1;
    int status = nn_model_load(path, &m);
    CHECK(status != NN_OK);
    CHECK(m == NULL);
    if (status == NN_OK) nn_model_free(m);
    CHECK_CONTAINS(nn_last_error(), path);
    return nn_last_error();
}

static bool file_exists(const char *path) { return access(path, F_OK) == 0; }

static bool same_file(const char *path, const unsigned char *bytes, size_t size) {
    size_t n = 0;
    unsigned char *now = read_bytes(path, &n);
    bool same = now && n == size && memcmp(now, bytes, size) == 0;
    free(now);
    return same;
}

static const char *temporary_of(const char *path) {
    static char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    return tmp;
}

static nn_model *blog_model(void) {
    return nn_sequential((nn_layer *[]){
        nn_normalization(),
        nn_dense(32, .activation = "relu"),
        nn_dense(16, .activation = "relu"),
        nn_dense(1, .activation = "sigmoid"),
        NULL });
}

static void blog_compile(nn_model *m) {
    CHECK(nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = "binary_crossentropy",
                                            .metrics = (const char *[]){ "accuracy", NULL } }) == NN_OK);
}

static nn_dataset *load_csv(const char *path) {
    nn_dataset *d = NULL;
    CHECK(nn_csv_load(path, &(nn_csv_opts){ .target = "target" }, &d) == NN_OK);
    return d;
}

/* The blog model after `epochs` epochs on the training set, with a fixed seed. */
static nn_model *trained_blog_model(const nn_dataset *train, int epochs) {
    nn_set_seed(1234);
    nn_model *m = blog_model();
    blog_compile(m);
    CHECK(nn_fit(m, train, &(nn_fit_opts){ .epochs = epochs, .batch_size = 32, .verbose = NN_OFF }, NULL) == NN_OK);
    return m;
}

static bool same_weights(const nn_model *a, const nn_model *b) {
    if (nn_model_weight_count(a) != nn_model_weight_count(b)) return false;
    bool same = true;
    for (int i = 0; i < nn_model_weight_count(a) && same; i++) {
        nn_tensor *wa = NULL, *wb = NULL;
        same = !strcmp(nn_model_weight_name(a, i), nn_model_weight_name(b, i)) &&
               nn_model_get_weight(a, nn_model_weight_name(a, i), &wa) == NN_OK &&
               nn_model_get_weight(b, nn_model_weight_name(a, i), &wb) == NN_OK &&
               nn_tensor_size(wa) == nn_tensor_size(wb) &&
               memcmp(wa->data, wb->data, (size_t)nn_tensor_size(wa) * sizeof(float)) == 0;
        nn_tensor_free(wa);
        nn_tensor_free(wb);
    }
    return same;
}

/* ------------------------------------------------------------ format */

TEST(test_crc_matches_zlib) {
    /* zlib.crc32(b"123456789") == 0xCBF43926, the standard check value */
    CHECK(reference_crc32((const unsigned char *)"123456789", 9) == 0xCBF43926u);
}

TEST(test_file_layout) {
    nn_dataset *train = load_csv(TRAIN_CSV);
    nn_model *m = trained_blog_model(train, 1);
    const char *path = scratch("layout.nn");
    CHECK(nn_model_save(m, path) == NN_OK);
    size_t size = 0;
    unsigned char *b = read_bytes(path, &size);
    CHECK(b && size > 64);
    if (b && size > 64) {
        CHECK(memcmp(b, "NNMODEL\0", 8) == 0);
        CHECK(get_u32(b + 8) == 1 && get_u32(b + 12) == 0);
        CHECK(get_u32(b + 20) == 0); /* high half of the u64 metadata length */
        size_t meta = get_u32(b + 16), start = (24 + meta + 63) / 64 * 64;
        CHECK(get_u32(b + size - 4) == reference_crc32(b, size - 4));
        char *json = calloc(1, meta + 1);
        memcpy(json, b + 24, meta);
        CHECK_CONTAINS(json, "{\"format\":\"nn\",\"format_version\":1,\"nn_version\":\"" NN_VERSION "\"");
        CHECK_CONTAINS(json, "\"model\":{\"class_name\":\"Sequential\",\"config\":{\"name\":\"sequential\",\"layers\":[{\"class_name\":\"Normalization\"");
        CHECK_CONTAINS(json, "\"build_input_shape\":[null,30]");
        CHECK_CONTAINS(json, "\"compile_config\":{\"optimizer\":{\"name\":\"adam\",\"learning_rate\":0.001");
        CHECK_CONTAINS(json, "\"metrics\":[\"accuracy\"]");
        CHECK_CONTAINS(json, "\"optimizer_iterations\":15"); /* ceil(455 / 32) steps */
        CHECK_CONTAINS(json, "{\"name\":\"dense/kernel\",\"dtype\":\"float32\",\"shape\":[30,32],\"offset\":");
        CHECK_CONTAINS(json, "\"nbytes\":3840}");
        CHECK_CONTAINS(json, "\"optimizer/slot_1/dense_2/bias\"");
        /* dense/kernel's first float lies where its offset says, as little-endian bits */
        const char *at = strstr(json, "\"dense/kernel\""), *off = at ? strstr(at, "\"offset\":") : NULL;
        nn_tensor *kernel = NULL;
        CHECK(nn_model_get_weight(m, "dense/kernel", &kernel) == NN_OK);
        if (off && kernel) {
            size_t offset = strtoul(off + 9, NULL, 10);
            uint32_t bits;
            memcpy(&bits, kernel->data, 4);
            CHECK(offset % 64 == 0);
            CHECK(get_u32(b + start + offset) == bits);
        }
        nn_tensor_free(kernel);
        free(json);
    }
    free(b);
    nn_model_free(m);
    nn_dataset_free(train);
}

/* ------------------------------------------------------------ round trip */

TEST(test_round_trip_is_bitwise) {
    nn_dataset *train = load_csv(TRAIN_CSV), *test = load_csv(TEST_CSV);
    nn_model *m = trained_blog_model(train, 3);
    const char *path = scratch("blog.nn");
    CHECK(nn_model_save(m, path) == NN_OK);
    nn_model *loaded = NULL;
    CHECK(nn_model_load(path, &loaded) == NN_OK);
    if (!loaded) goto done;
    nn_tensor *p1 = NULL, *p2 = NULL;
    CHECK(nn_predict(m, nn_dataset_x(test), NULL, &p1) == NN_OK);
    CHECK(nn_predict(loaded, nn_dataset_x(test), NULL, &p2) == NN_OK);
    CHECK(p1 && p2 && nn_tensor_size(p1) == 114 && nn_tensor_size(p2) == 114);
    if (p1 && p2) CHECK(memcmp(p1->data, p2->data, 114 * sizeof(float)) == 0);
    nn_tensor_free(p1);
    nn_tensor_free(p2);

    CHECK(!strcmp(loaded->name, m->name));
    CHECK(nn_model_layer_count(loaded) == 4);
    for (int i = 0; i < 4; i++) {
        CHECK(!strcmp(loaded->layers[i]->name, m->layers[i]->name));
        CHECK(loaded->layers[i]->def == m->layers[i]->def);
        CHECK(loaded->layers[i]->param_count == m->layers[i]->param_count);
    }
    CHECK(nn_model_weight_count(loaded) == 9); /* mean, variance, count + 3 x (kernel, bias) */
    CHECK(nn_model_param_count(loaded, false) == nn_model_param_count(m, false));
    CHECK(nn_model_param_count(loaded, true) == 32 * 30 + 32 + 32 * 16 + 16 + 16 + 1);
    CHECK(same_weights(m, loaded));

    /* the normalization state is the training columns' mean and population variance */
    nn_tensor *mean = NULL, *variance = NULL;
    CHECK(nn_model_get_weight(loaded, "normalization/mean", &mean) == NN_OK);
    CHECK(nn_model_get_weight(loaded, "normalization/variance", &variance) == NN_OK);
    if (mean && variance) {
        const nn_tensor *x = nn_dataset_x(train);
        double sum = 0, sq = 0;
        for (int64_t r = 0; r < 455; r++) sum += nn_tensor_f32(x)[r * 30];
        for (int64_t r = 0; r < 455; r++) sq += pow(nn_tensor_f32(x)[r * 30] - sum / 455, 2);
        CHECK_NEAR(nn_tensor_f32(mean)[0], sum / 455, 1e-4);
        CHECK_NEAR(nn_tensor_f32(variance)[0], sq / 455, 1e-3);
    }
    nn_tensor_free(mean);
    nn_tensor_free(variance);

    nn_metrics r1, r2;
    CHECK(nn_evaluate(m, test, NULL, &r1) == NN_OK);
    CHECK(nn_evaluate(loaded, test, NULL, &r2) == NN_OK);
    CHECK(r1.loss == r2.loss);
    CHECK(nn_metrics_get(&r1, "accuracy") == nn_metrics_get(&r2, "accuracy"));
    nn_model_free(loaded);
done:
    nn_model_free(m);
    nn_dataset_free(train);
    nn_dataset_free(test);
}

TEST(test_training_continues_identically) {
    nn_dataset *train = load_csv(TRAIN_CSV);
    nn_model *m = trained_blog_model(train, 2);
    const char *path = scratch("continue.nn");
    CHECK(nn_model_save(m, path) == NN_OK);
    nn_model *loaded = NULL;
    CHECK(nn_model_load(path, &loaded) == NN_OK);
    if (!loaded) goto done;
    CHECK(loaded->optimizer->iterations == m->optimizer->iterations);
    CHECK(loaded->slots && memcmp(loaded->slots, m->slots, m->nparams * 2 * sizeof(float)) == 0);
    CHECK(memcmp(&loaded->rng, &m->rng, sizeof m->rng) == 0);

    /* the same two further epochs (shuffled, so the RNG matters too) on both */
    nn_tensor *before = NULL;
    CHECK(nn_model_get_weight(m, "dense/kernel", &before) == NN_OK);
    nn_fit_opts more = { .epochs = 2, .batch_size = 32, .verbose = NN_OFF };
    CHECK(nn_fit(m, train, &more, NULL) == NN_OK);
    CHECK(nn_fit(loaded, train, &more, NULL) == NN_OK);
    CHECK(same_weights(m, loaded));
    CHECK(loaded->optimizer->iterations == 2 * 2 * 15);
    /* and training did move the weights, so the comparison means something */
    nn_tensor *after = NULL;
    CHECK(nn_model_get_weight(loaded, "dense/kernel", &after) == NN_OK);
    if (before && after) CHECK(memcmp(before->data, after->data, 30 * 32 * sizeof(float)) != 0);
    nn_tensor_free(before);
    nn_tensor_free(after);
    nn_model_free(loaded);
done:
    nn_model_free(m);
    nn_dataset_free(train);
}

/* A built model without optimizer state (never trained): the file has no slots, and loads
 * compiled. Prints the two sizes of the blog model's file. */
TEST(test_without_optimizer_state) {
    nn_dataset *train = load_csv(TRAIN_CSV);
    nn_set_seed(1234);
    nn_model *fresh = blog_model();
    CHECK(nn_model_build(fresh, 1, (int64_t[]){ 30 }) == NN_OK);
    blog_compile(fresh);
    const char *bare = scratch("bare.nn"), *full = scratch("full.nn");
    CHECK(nn_model_save(fresh, bare) == NN_OK);
    nn_model *trained = trained_blog_model(train, 1);
    CHECK(nn_model_save(trained, full) == NN_OK);
    size_t bare_size = 0, full_size = 0;
    unsigned char *b = read_bytes(bare, &bare_size), *f = read_bytes(full, &full_size);
    printf("  blog model file: %zu bytes without optimizer state, %zu bytes with (Adam)\n", bare_size, full_size);
    /* Adam's two slots add at least 2 x 1,537 trainable floats */
    CHECK(full_size >= bare_size + 2 * 1537 * 4);
    nn_model *loaded = NULL;
    CHECK(nn_model_load(bare, &loaded) == NN_OK);
    CHECK(loaded && loaded->compiled && !loaded->slots && loaded->optimizer->iterations == 0);
    CHECK(loaded && same_weights(fresh, loaded));
    /* an unadapted Normalization stays unadapted, so fit will adapt it as on the original */
    CHECK(loaded && nn_model_needs_adapt(loaded));
    nn_model_free(loaded);
    free(b);
    free(f);
    nn_model_free(fresh);
    nn_model_free(trained);
    nn_dataset_free(train);
}

TEST(test_uncompiled_model_round_trips) {
    nn_set_seed(7);
    nn_model *m = nn_sequential((nn_layer *[]){
        nn_dense(4, .activation = "tanh", .name = "hidden", .input_shape = { 3 }),
        nn_dropout(0.25, .seed = 5),
        nn_dense(2, .use_bias = NN_OFF), NULL });
    CHECK(nn_model_build(m, 1, (int64_t[]){ 3 }) == NN_OK);
    const char *path = scratch("plain.nn");
    CHECK(nn_model_save(m, path) == NN_OK);
    nn_model *loaded = NULL;
    CHECK(nn_model_load(path, &loaded) == NN_OK);
    CHECK(loaded && !loaded->compiled && nn_model_weight_count(loaded) == 3);
    CHECK(loaded && !strcmp(loaded->layers[0]->name, "hidden") && loaded->layers[1]->rate == 0.25);
    CHECK(loaded && !loaded->layers[2]->use_bias);
    CHECK(loaded && same_weights(m, loaded));
    nn_model_free(loaded);
    nn_model_free(m);
}

/* ------------------------------------------------------------ saving never damages a file */

TEST(test_save_failures_leave_old_file) {
    nn_set_seed(3);
    nn_model *good = nn_sequential((nn_layer *[]){ nn_dense(2, .input_shape = { 3 }), NULL });
    CHECK(nn_model_build(good, 1, (int64_t[]){ 3 }) == NN_OK);
    const char *path = scratch("keep.nn");
    CHECK(nn_model_save(good, path) == NN_OK);
    size_t size = 0;
    unsigned char *old = read_bytes(path, &size);

    nn_model *unbuilt = nn_sequential((nn_layer *[]){ nn_dense(2), NULL });
    CHECK(nn_model_save(unbuilt, path) == NN_ERR_STATE);
    CHECK_CONTAINS(nn_last_error(), path);
    CHECK_CONTAINS(nn_last_error(), "model 'sequential' is not built");
    CHECK(same_file(path, old, size));
    CHECK(!file_exists(temporary_of(path)));

    /* a directory in the way: the temporary file is written, the rename fails, it is removed */
    const char *dir = scratch("a_directory");
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(nn_model_save(good, dir) == NN_ERR_IO);
    CHECK_CONTAINS(nn_last_error(), "cannot rename");
    CHECK_CONTAINS(nn_last_error(), dir);
    CHECK(!file_exists(temporary_of(dir)));

    const char *nowhere = scratch("no_such_dir/model.nn");
    CHECK(nn_model_save(good, nowhere) == NN_ERR_IO);
    CHECK_CONTAINS(nn_last_error(), "cannot create the temporary file");
    CHECK_CONTAINS(nn_last_error(), nowhere);

    CHECK(nn_model_save(NULL, path) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "model is NULL");
    CHECK(nn_model_save(good, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "path is NULL");
    CHECK(same_file(path, old, size));
    free(old);
    nn_model_free(unbuilt);
    nn_model_free(good);
}

/* ------------------------------------------------------------ bad files */

TEST(test_load_missing_and_foreign_files) {
    const char *missing = scratch("missing.nn");
    CHECK_CONTAINS(load_error(missing), "cannot open: No such file or directory");
    CHECK_CONTAINS(load_error(TRAIN_CSV), "not an nn model file");
    const char *tiny = scratch("tiny.nn");
    write_bytes(tiny, "NNM", 3);
    CHECK_CONTAINS(load_error(tiny), "truncated: the header needs 24 bytes, the file has 3");
    write_bytes(tiny, "", 0);
    CHECK_CONTAINS(load_error(tiny), "truncated");
    CHECK_CONTAINS(load_error(scratch_dir()), "not a regular file");
    nn_model *m = NULL;
    CHECK(nn_model_load(NULL, &m) == NN_ERR_ARG);
    CHECK(nn_model_load(missing, NULL) == NN_ERR_ARG);
}

/* The trained blog model's file, for the damage tests. */
static unsigned char *blog_file(size_t *size, size_t *data_start) {
    nn_dataset *train = load_csv(TRAIN_CSV);
    nn_model *m = trained_blog_model(train, 1);
    const char *path = scratch("damage_source.nn");
    CHECK(nn_model_save(m, path) == NN_OK);
    nn_model_free(m);
    nn_dataset_free(train);
    unsigned char *b = read_bytes(path, size);
    *data_start = (24 + get_u32(b + 16) + 63) / 64 * 64;
    return b;
}

TEST(test_load_truncated_files) {
    size_t size, start;
    unsigned char *b = blog_file(&size, &start);
    const char *path = scratch("cut.nn");
    const size_t cuts[] = { 8, 23, 24, 100, start - 1, start, start + 1000, size - 5, size - 4, size - 1 };
    const char *expect[] = { "header needs 24 bytes", "header needs 24 bytes", "bytes of metadata", "bytes of metadata",
                             "tensor data should start", "tensor data should start", "ends at byte", "ends at byte",
                             "ends at byte", "ends at byte" };
    for (size_t i = 0; i < NN_ARRAY_LEN(cuts); i++) {
        write_bytes(path, b, cuts[i]);
        const char *message = load_error(path);
        CHECK_CONTAINS(message, "truncated: ");
        CHECK_CONTAINS(message, expect[i]);
    }
    free(b);
}

TEST(test_load_corrupted_files) {
    size_t size, start;
    unsigned char *b = blog_file(&size, &start);
    const char *path = scratch("flipped.nn");
    const size_t spots[] = { 30, start + 64, size - 100, size - 2 }; /* metadata, data, data, CRC */
    for (size_t i = 0; i < NN_ARRAY_LEN(spots); i++) {
        b[spots[i]] ^= 0x10;
        write_bytes(path, b, size);
        CHECK_CONTAINS(load_error(path), "checksum mismatch: the file is corrupted");
        b[spots[i]] ^= 0x10;
    }
    /* a newer version, with a checksum that matches */
    put_u32(b + 8, 2);
    fix_crc(b, size);
    write_bytes(path, b, size);
    CHECK_CONTAINS(load_error(path), "format version 2 is newer than this nn (1)");
    put_u32(b + 8, 1);
    put_u32(b + 12, 4);
    write_bytes(path, b, size);
    CHECK_CONTAINS(load_error(path), "unknown header flags 0x00000004");
    put_u32(b + 12, 0);
    /* appended bytes move where the checksum is read */
    unsigned char *longer = calloc(1, size + 64);
    memcpy(longer, b, size);
    write_bytes(path, longer, size + 64);
    CHECK_CONTAINS(load_error(path), "checksum mismatch");
    free(longer);
    free(b);
}

static const char *const DENSE_MODEL_HEAD =
    "{\"format\":\"nn\",\"model\":{\"class_name\":\"Sequential\",\"config\":{\"name\":\"m\",\"layers\":[";
static const char *const DENSE_MODEL_TAIL = "],\"build_input_shape\":[null,2]}},\"compile_config\":null,\"tensors\":[";

/* A hand-made file of one layer and the given tensor list, over 64 bytes of data. */
static const char *crafted(const char *name, const char *layer, const char *tensors) {
    static char json[2048];
    static const float data[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
    snprintf(json, sizeof json, "%s%s%s%s]}", DENSE_MODEL_HEAD, layer, DENSE_MODEL_TAIL, tensors);
    const char *path = scratch(name);
    write_crafted(path, json, data, sizeof data);
    return path;
}

#define DENSE_2_3 "{\"class_name\":\"Dense\",\"config\":{\"units\":3,\"name\":\"d\"}}"
#define KERNEL_2_3 "{\"name\":\"d/kernel\",\"dtype\":\"float32\",\"shape\":[2,3],\"offset\":0,\"nbytes\":24}"
#define BIAS_3 "{\"name\":\"d/bias\",\"dtype\":\"float32\",\"shape\":[3],\"offset\":0,\"nbytes\":12}"

TEST(test_load_crafted_files) {
    /* the good one first, so the others fail for the one reason each */
    nn_model *m = NULL;
    CHECK(nn_model_load(crafted("ok.nn", DENSE_2_3, KERNEL_2_3 "," BIAS_3), &m) == NN_OK);
    nn_tensor *k = NULL;
    CHECK(m && nn_model_get_weight(m, "d/kernel", &k) == NN_OK);
    CHECK(k && nn_tensor_f32(k)[0] == 1 && nn_tensor_f32(k)[5] == 6);
    nn_tensor_free(k);
    nn_model_free(m);

    CHECK_CONTAINS(load_error(crafted("class.nn", "{\"class_name\":\"Conv9D\",\"config\":{}}", "")),
                   "layer 0: unknown layer 'Conv9D' (known: Dense, ");
    CHECK_CONTAINS(load_error(crafted("units.nn", "{\"class_name\":\"Dense\",\"config\":{\"units\":-3}}", "")),
                   "'units' must be an integer >= 1");
    CHECK_CONTAINS(load_error(crafted("arg.nn", "{\"class_name\":\"Dense\",\"config\":{\"units\":3,\"colour\":1}}", "")),
                   "unknown argument 'colour'");
    CHECK_CONTAINS(load_error(crafted("missing_t.nn", DENSE_2_3, KERNEL_2_3)), "the file has no tensor 'd/bias' (shape (3,))");
    CHECK_CONTAINS(load_error(crafted("extra_t.nn", DENSE_2_3, KERNEL_2_3 "," BIAS_3 ",{\"name\":\"e\",\"dtype\":\"float32\",\"shape\":[1],\"offset\":0,\"nbytes\":4}")),
                   "the file has a tensor 'e' that the model does not use");
    CHECK_CONTAINS(load_error(crafted("shape_t.nn", DENSE_2_3, "{\"name\":\"d/kernel\",\"dtype\":\"float32\",\"shape\":[3,2],\"offset\":0,\"nbytes\":24}," BIAS_3)),
                   "tensor 'd/kernel' has shape (3, 2) in the file but the model needs (2, 3)");
    CHECK_CONTAINS(load_error(crafted("nbytes.nn", DENSE_2_3, "{\"name\":\"d/kernel\",\"dtype\":\"float32\",\"shape\":[2,3],\"offset\":0,\"nbytes\":20}")),
                   "tensor 'd/kernel' of shape (2, 3) needs 24 bytes, nbytes says 20");
    CHECK_CONTAINS(load_error(crafted("huge.nn", DENSE_2_3, "{\"name\":\"d/kernel\",\"dtype\":\"float32\",\"shape\":[4294967296,4294967296,4294967296],\"offset\":0,\"nbytes\":24}")),
                   "the size of its shape overflows");
    CHECK_CONTAINS(load_error(crafted("rank.nn", DENSE_2_3, "{\"name\":\"d/kernel\",\"dtype\":\"float32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"offset\":0,\"nbytes\":4}")),
                   "'shape' must be a list of at most 8 dimensions");
    CHECK_CONTAINS(load_error(crafted("outside.nn", DENSE_2_3, "{\"name\":\"d/kernel\",\"dtype\":\"float32\",\"shape\":[2,3],\"offset\":64,\"nbytes\":24}")),
                   "truncated: tensor 'd/kernel' ends at byte 88 of the tensor data, which holds 64 bytes");
    CHECK_CONTAINS(load_error(crafted("align.nn", DENSE_2_3, "{\"name\":\"d/kernel\",\"dtype\":\"float32\",\"shape\":[2,3],\"offset\":4,\"nbytes\":24}")),
                   "starts at offset 4, not a multiple of 64");
    CHECK_CONTAINS(load_error(crafted("dtype.nn", DENSE_2_3, "{\"name\":\"d/kernel\",\"dtype\":\"float16\",\"shape\":[2,3],\"offset\":0,\"nbytes\":12}")),
                   "dtype 'float16'; only float32 is supported");
    CHECK_CONTAINS(load_error(crafted("twice.nn", DENSE_2_3, KERNEL_2_3 "," KERNEL_2_3)), "tensor 'd/kernel' is listed twice");

    const char *path = scratch("json.nn");
    write_crafted(path, "{\"format\":\"nn\",", NULL, 0);
    CHECK_CONTAINS(load_error(path), "JSON: ");
    write_crafted(path, "{\"format\":\"keras\",\"tensors\":[]}", NULL, 0);
    CHECK_CONTAINS(load_error(path), "format is 'keras', expected 'nn'");
    write_crafted(path, "{\"format\":\"nn\",\"tensors\":[],\"model\":{\"class_name\":\"Subclassed\",\"config\":{}}}", NULL, 0);
    CHECK_CONTAINS(load_error(path), "model class 'Subclassed' is not supported (Sequential or Functional)");
    write_crafted(path, "{\"format\":\"nn\",\"tensors\":[],\"model\":{\"class_name\":\"Functional\",\"config\":{}}}", NULL, 0);
    CHECK_CONTAINS(load_error(path), "model config: 'name' must be a string");
    write_crafted(path, "{\"format\":\"nn\",\"tensors\":[],\"model\":{\"class_name\":\"Sequential\",\"config\":{\"name\":\"m\",\"layers\":[],\"build_input_shape\":[null,2]}}}", NULL, 0);
    CHECK_CONTAINS(load_error(path), "model 'm' has no layers");
    /* functional graphs that do not hold together */
#define FUNCTIONAL(layers, ins, outs)                                                                                 \
    "{\"format\":\"nn\",\"tensors\":[],\"model\":{\"class_name\":\"Functional\",\"config\":{\"name\":\"f\",\"layers\":[" layers \
    "],\"input_layers\":" ins ",\"output_layers\":" outs "}}}"
#define INPUT_LAYER "{\"class_name\":\"InputLayer\",\"config\":{\"name\":\"in\",\"batch_shape\":[null,2]},\"inbound_nodes\":[]}"
#define DENSE_ON(name, source)                                                                                         \
    "{\"class_name\":\"Dense\",\"config\":{\"name\":\"" name "\",\"units\":1},\"inbound_nodes\":[{\"args\":[{\"class_name\":" \
    "\"__keras_tensor__\",\"config\":{\"keras_history\":[\"" source "\",0,0]}}],\"kwargs\":{}}]}"
    write_crafted(path, FUNCTIONAL(INPUT_LAYER "," DENSE_ON("d", "nowhere"), "[[\"in\",0,0]]", "[[\"d\",0,0]]"), NULL, 0);
    CHECK_CONTAINS(load_error(path), "names layer 'nowhere', node 0, tensor 0, which the model does not have");
    write_crafted(path, FUNCTIONAL(INPUT_LAYER "," DENSE_ON("d", "d"), "[[\"in\",0,0]]", "[[\"d\",0,0]]"), NULL, 0);
    CHECK_CONTAINS(load_error(path), "the calls of layer 'd' depend on tensors no layer makes");
    write_crafted(path, FUNCTIONAL(INPUT_LAYER "," DENSE_ON("d", "in") "," DENSE_ON("e", "in"), "[[\"in\",0,0]]", "[[\"d\",0,0]]"), NULL, 0);
    CHECK_CONTAINS(load_error(path), "layer 'e' is not on the way to any output");
    write_crafted(path, FUNCTIONAL(INPUT_LAYER "," DENSE_ON("d", "in"), "[[\"in\",0,0]]", "[[\"d\",3,0]]"), NULL, 0);
    CHECK_CONTAINS(load_error(path), "output_layers[0] names a call that does not exist");
    write_crafted(path, FUNCTIONAL(INPUT_LAYER "," DENSE_ON("d", "in"), "[[\"in\",0,0]]", "[\"d\"]"), NULL, 0);
    CHECK_CONTAINS(load_error(path), "a tensor reference must be [layer name, node index, tensor index]");
    write_crafted(path, FUNCTIONAL(INPUT_LAYER "," DENSE_ON("d", "in"), "[[\"in\",0,0]]", "[[\"d\",0,0]]"), NULL, 0);
    CHECK_CONTAINS(load_error(path), "the file has no tensor 'd/kernel'");
#undef FUNCTIONAL
#undef INPUT_LAYER
#undef DENSE_ON
}

TEST(test_load_crafted_compile_config) {
    char json[2048];
    const char *path = scratch("compile.nn");
    static const float data[16];
    const char *bad[][2] = {
        { "{\"optimizer\":{\"name\":\"adamm\"},\"loss\":{\"name\":\"mse\"},\"metrics\":[]}", "adamm" },
        { "{\"optimizer\":{\"name\":\"sgd\",\"momentum\":\"x\"},\"loss\":{\"name\":\"mse\"},\"metrics\":[]}", "'momentum' must be a number" },
        { "{\"optimizer\":{\"name\":\"sgd\"},\"loss\":{\"name\":\"msx\"},\"metrics\":[]}", "msx" },
        { "{\"optimizer\":{\"name\":\"sgd\"},\"loss\":{\"name\":\"mse\"},\"metrics\":[\"f1\"]}", "f1" },
        { "{\"optimizer\":{\"name\":\"sgd\"},\"loss\":{\"name\":\"mse\"},\"metrics\":[]}", "'optimizer_iterations' must be a non-negative integer" },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(bad); i++) {
        snprintf(json, sizeof json, "%s" DENSE_2_3 "],\"build_input_shape\":[null,2]}},\"compile_config\":%s,\"tensors\":[" KERNEL_2_3 "," BIAS_3 "]}",
                 DENSE_MODEL_HEAD, bad[i][0]);
        write_crafted(path, json, data, sizeof data);
        CHECK_CONTAINS(load_error(path), bad[i][1]);
    }
    /* slots without their companions, and a bad RNG state */
    snprintf(json, sizeof json, "%s" DENSE_2_3 "],\"build_input_shape\":[null,2]}},\"compile_config\":{\"optimizer\":{\"name\":\"adam\"},\"loss\":{\"name\":\"mse\"},\"metrics\":[]},\"optimizer_iterations\":3,\"tensors\":[" KERNEL_2_3 "," BIAS_3 ",{\"name\":\"optimizer/slot_0/d/kernel\",\"dtype\":\"float32\",\"shape\":[2,3],\"offset\":0,\"nbytes\":24}]}",
             DENSE_MODEL_HEAD);
    write_crafted(path, json, data, sizeof data);
    CHECK_CONTAINS(load_error(path), "the file has no tensor 'optimizer/slot_0/d/bias' (shape (3,))");
    snprintf(json, sizeof json, "%s" DENSE_2_3 "],\"build_input_shape\":[null,2]}},\"compile_config\":null,\"rng_state\":[\"12\"],\"tensors\":[" KERNEL_2_3 "," BIAS_3 "]}",
             DENSE_MODEL_HEAD);
    write_crafted(path, json, data, sizeof data);
    CHECK_CONTAINS(load_error(path), "'rng_state' must be four 16-digit lowercase hex words");
}

/* ------------------------------------------------------------ allocation failure */

TEST(test_load_survives_every_allocation_failure) {
    size_t size, start;
    unsigned char *b = blog_file(&size, &start);
    free(b);
    const char *path = scratch("damage_source.nn");
    failing_alloc a;
    int failures = 0;
    for (long n = 1; n <= 100000; n++) {
        nn_model *m = (nn_model *)1;
        failing_alloc_install(&a, n);
        int status = nn_model_load(path, &m);
        nn_set_allocator(NULL);
        if (status == NN_OK) {
            CHECK(m != NULL);
            nn_model_free(m);
            break;
        }
        failures++;
        CHECK(m == NULL);
        CHECK_CONTAINS(nn_last_error(), path);
        CHECK_CONTAINS(nn_last_error(), "out of memory");
    }
    CHECK(failures > 50);
}

TEST(test_save_survives_every_allocation_failure) {
    nn_dataset *train = load_csv(TRAIN_CSV);
    nn_model *m = trained_blog_model(train, 1);
    const char *path = scratch("save_sweep.nn");
    CHECK(nn_model_save(m, path) == NN_OK);
    size_t size = 0;
    unsigned char *old = read_bytes(path, &size);
    nn_model *other = trained_blog_model(train, 2); /* different bytes, so a partial write would show */
    failing_alloc a;
    int failures = 0;
    for (long n = 1; n <= 100000; n++) {
        failing_alloc_install(&a, n);
        int status = nn_model_save(other, path);
        nn_set_allocator(NULL);
        if (status == NN_OK) break;
        failures++;
        CHECK(status == NN_ERR_NOMEM);
        CHECK(same_file(path, old, size));
        CHECK(!file_exists(temporary_of(path)));
    }
    CHECK(failures > 20);
    CHECK(!same_file(path, old, size));
    free(old);
    nn_model_free(other);
    nn_model_free(m);
    nn_dataset_free(train);
}

int main(void) {
    RUN_TESTS(test_crc_matches_zlib, test_file_layout, test_round_trip_is_bitwise,
              test_training_continues_identically, test_without_optimizer_state,
              test_uncompiled_model_round_trips, test_save_failures_leave_old_file,
              test_load_missing_and_foreign_files, test_load_truncated_files, test_load_corrupted_files,
              test_load_crafted_files, test_load_crafted_compile_config,
              test_load_survives_every_allocation_failure, test_save_survives_every_allocation_failure);
}
