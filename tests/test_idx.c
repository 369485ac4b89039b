/* IDX files (MNIST format), the Fashion-MNIST loader and nn_array_load / nn_array_save.
 * Fixtures: tests/data/idx/, made by tests/gen/make_idx_ref.py. Bad inputs are written here. */
#include "test.h"
#include "scratch.h"
#include "failing_alloc.h"

#include <nn.h>

#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#define FIXTURES "tests/data/idx/"
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static void write_gzip(const char *path, const void *bytes, size_t size) {
    gzFile f = gzopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(gzwrite(f, bytes, (unsigned)size) == (int)size);
    gzclose(f);
}

/* An IDX header (type code, dims) followed by `data_size` bytes of data counting up from 0. */
static size_t make_idx(unsigned char *buf, unsigned char type, int ndim, const uint32_t *dims, size_t data_size) {
    size_t n = 0;
    buf[n++] = 0, buf[n++] = 0, buf[n++] = type, buf[n++] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++)
        for (int b = 3; b >= 0; b--) buf[n++] = (unsigned char)(dims[i] >> (8 * b));
    for (size_t i = 0; i < data_size; i++) buf[n++] = (unsigned char)i;
    return n;
}

/* Loads `path`, expects failure with `status`, returns the message. */
static const char *load_fails(const char *path, int status) {
    nn_tensor *t = (nn_tensor *)&t;
    int got = nn_idx_load(path, &t);
    CHECK(got == status);
    CHECK(t == NULL);
    if (got != status) printf("  %s: got %s: %s\n", path, nn_status_name(got), nn_last_error());
    if (got == NN_OK) nn_tensor_free(t);
    return nn_last_error();
}

static const char *bytes_fail(const char *name, const void *bytes, size_t size) {
    const char *path = scratch(name);
    write_bytes(path, bytes, size);
    return load_fails(path, NN_ERR_FORMAT);
}

/* ---------------------------------------------------------------- reading every type */

/* The formulas of tests/gen/make_idx_ref.py, element i. */
static double uint8_value(int64_t i) { return (double)((i * 37 + 11) % 256); }
static double int8_value(int64_t i) { return (double)(i * 41 % 256 - 128); }
static double int16_value(int64_t i) { return (double)(i * 4099 - 32768); }
static double int32_value(int64_t i) { return (double)(i * 306783378 - 2147483648LL); }
static double float32_value(int64_t i) { return (float)((double)(i - 5) / 3.0); }
static double float64_value(int64_t i) { return (double)(i - 5) / 7.0; }
static double label_value(int64_t i) { return (double)(i * 7 % 10); }

typedef struct fixture {
    const char *file;
    nn_dtype dtype;
    int ndim;
    int64_t shape[3];
    double (*value)(int64_t i);
} fixture;

static const fixture fixtures[] = {
    { "uint8_3x4x5.idx", NN_UINT8, 3, { 3, 4, 5 }, uint8_value },
    { "int8_7.idx", NN_INT8, 1, { 7 }, int8_value },
    { "int16_2x8.idx", NN_INT16, 2, { 2, 8 }, int16_value },
    { "int32_3x5.idx", NN_INT32, 2, { 3, 5 }, int32_value },
    { "float32_4x3.idx", NN_FLOAT32, 2, { 4, 3 }, float32_value },
    { "float64_2x2x3.idx", NN_FLOAT64, 3, { 2, 2, 3 }, float64_value },
    { "labels-idx1-ubyte", NN_UINT8, 1, { 10 }, label_value },
};

static void check_fixture(const fixture *f, const nn_tensor *t) {
    CHECK(t->dtype == f->dtype);
    CHECK(t->ndim == f->ndim);
    for (int d = 0; d < f->ndim && d < t->ndim; d++) CHECK(t->shape[d] == f->shape[d]);
    int wrong = 0;
    for (int64_t i = 0; i < nn_tensor_size(t); i++) wrong += nn_tensor_get(t, i) != f->value(i);
    CHECK(wrong == 0);
    if (wrong) printf("  %s: %d elements differ\n", f->file, wrong);
}

TEST(every_type_code_reads_back_plain_and_gzipped) {
    for (size_t k = 0; k < sizeof fixtures / sizeof fixtures[0]; k++) {
        for (int gz = 0; gz < 2; gz++) {
            char path[256];
            snprintf(path, sizeof path, FIXTURES "%s%s", fixtures[k].file, gz ? ".gz" : "");
            nn_tensor *t = NULL;
            int status = nn_idx_load(path, &t);
            CHECK(status == NN_OK);
            if (status) {
                printf("  %s: %s\n", path, nn_last_error());
                continue;
            }
            check_fixture(&fixtures[k], t);
            nn_tensor_free(t);
        }
    }
}

TEST(extreme_values_convert_from_big_endian) {
    /* int16 -1 and 0x0102, int32 INT32_MIN, float32 -0.0 and inf, float64 1/3 */
    unsigned char buf[64];
    uint32_t two = 2, one = 1;
    size_t n = make_idx(buf, 0x0B, 1, &two, 0);
    memcpy(buf + n, "\xff\xff\x01\x02", 4);
    write_bytes(scratch("extreme16.idx"), buf, n + 4);
    n = make_idx(buf, 0x0C, 1, &one, 0);
    memcpy(buf + n, "\x80\x00\x00\x00", 4);
    write_bytes(scratch("extreme32.idx"), buf, n + 4);
    n = make_idx(buf, 0x0D, 1, &two, 0);
    memcpy(buf + n, "\x80\x00\x00\x00\x7f\x80\x00\x00", 8);
    write_bytes(scratch("extremef32.idx"), buf, n + 8);
    n = make_idx(buf, 0x0E, 1, &one, 0);
    memcpy(buf + n, "\x3f\xd5\x55\x55\x55\x55\x55\x55", 8);
    write_bytes(scratch("extremef64.idx"), buf, n + 8);

    nn_tensor *t = NULL;
    CHECK(nn_idx_load(scratch("extreme16.idx"), &t) == NN_OK);
    if (t) CHECK(((int16_t *)t->data)[0] == -1 && ((int16_t *)t->data)[1] == 0x0102);
    nn_tensor_free(t);
    CHECK(nn_idx_load(scratch("extreme32.idx"), &t) == NN_OK);
    if (t) CHECK(((int32_t *)t->data)[0] == INT32_MIN);
    nn_tensor_free(t);
    CHECK(nn_idx_load(scratch("extremef32.idx"), &t) == NN_OK);
    if (t) CHECK(((float *)t->data)[0] == 0 && signbit(((float *)t->data)[0]) && isinf(((float *)t->data)[1]));
    nn_tensor_free(t);
    CHECK(nn_idx_load(scratch("extremef64.idx"), &t) == NN_OK);
    if (t) CHECK(((double *)t->data)[0] == 1.0 / 3.0);
    nn_tensor_free(t);
}

/* ---------------------------------------------------------------- bad input */

TEST(truncated_header_is_refused) {
    CHECK_CONTAINS(bytes_fail("short.idx", "\0\0\x08", 3), "truncated IDX header: 3 bytes");
    CHECK_CONTAINS(bytes_fail("empty.idx", "", 0), "empty.idx': truncated IDX header: 0 bytes");
    CHECK_CONTAINS(bytes_fail("dims.idx", "\0\0\x08\x02\0\0\0\x03", 8),
                   "truncated IDX header: 2 dimensions need 12 bytes, there are 8");
}

TEST(truncated_data_is_refused_with_offsets) {
    unsigned char buf[64];
    size_t n = make_idx(buf, 0x08, 2, (uint32_t[]){ 3, 4 }, 11);
    CHECK_CONTAINS(bytes_fail("short_data.idx", buf, n),
                   "short_data.idx': truncated IDX data: shape (3, 4) of uint8 needs 12 bytes from byte "
                   "offset 12, the data ends at byte offset 23");
    n = make_idx(buf, 0x0E, 1, (uint32_t[]){ 2 }, 15);
    CHECK_CONTAINS(bytes_fail("short_f64.idx", buf, n), "shape (2,) of float64 needs 16 bytes from byte offset 8");
}

TEST(trailing_garbage_is_refused_with_offset) {
    unsigned char buf[64];
    size_t n = make_idx(buf, 0x0B, 1, (uint32_t[]){ 4 }, 11);
    CHECK_CONTAINS(bytes_fail("trailing.idx", buf, n),
                   "trailing.idx': 3 bytes of trailing data at byte offset 16, after the int16 array of shape (4,)");
}

TEST(bad_magic_type_and_dimension_count_are_refused) {
    CHECK_CONTAINS(bytes_fail("magic.idx", "\x01\0\x08\x01\0\0\0\x01\x07", 9),
                   "magic.idx': not an IDX file: bytes 0-1 are 0x01 0x00 where IDX has 0x00 0x00");
    CHECK_CONTAINS(bytes_fail("text.idx", "a,b\n1,2\n", 8), "bytes 0-1 are 0x61 0x2C");
    CHECK_CONTAINS(bytes_fail("type.idx", "\0\0\x0A\x01\0\0\0\x01\x07", 9),
                   "type.idx': unknown IDX type code 0x0A at byte offset 2 (known: 0x08 uint8, 0x09 int8, "
                   "0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)");
    CHECK_CONTAINS(bytes_fail("zero_dims.idx", "\0\0\x08\0\x07", 5),
                   "zero_dims.idx': IDX dimension count 0 at byte offset 3 is outside 1..8");
    unsigned char buf[64] = { 0, 0, 0x08, 9 };
    CHECK_CONTAINS(bytes_fail("nine_dims.idx", buf, 4 + 36), "IDX dimension count 9 at byte offset 3 is outside 1..8");
}

TEST(zero_overflowing_and_absurd_dimensions_are_refused) {
    unsigned char buf[64];
    size_t n = make_idx(buf, 0x08, 2, (uint32_t[]){ 3, 0 }, 0);
    CHECK_CONTAINS(bytes_fail("zero_dim.idx", buf, n), "zero_dim.idx': IDX dimension 1 (byte offset 8) is 0");
    uint32_t huge[8] = { 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu,
                         0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu };
    n = make_idx(buf, 0x08, 8, huge, 4);
    CHECK_CONTAINS(bytes_fail("overflow.idx", buf, n), "overflow.idx': IDX shape (4294967295, 4294967295, "
                                                       "4294967295, 4294967295, 4294967295, 4294967295, "
                                                       "4294967295, 4294967295) has more elements than fit");
    /* 8 GiB declared by a 20-byte file: refused before any allocation of that size */
    n = make_idx(buf, 0x08, 3, (uint32_t[]){ 65536, 65536, 2 }, 4);
    CHECK_CONTAINS(bytes_fail("absurd.idx", buf, n), "IDX shape (65536, 65536, 2) of uint8 declares more than the limit of");
    /* an element count that fits, a byte count that does not */
    n = make_idx(buf, 0x0E, 2, (uint32_t[]){ 0xFFFFFFFFu, 0xFFFFFFFFu }, 4);
    CHECK_CONTAINS(bytes_fail("absurd_f64.idx", buf, n), "of float64 declares more than the limit of");
}

TEST(gzipped_bad_inputs_are_refused) {
    unsigned char buf[64];
    size_t n = make_idx(buf, 0x08, 2, (uint32_t[]){ 3, 4 }, 11);
    write_gzip(scratch("short.idx.gz"), buf, n);
    CHECK_CONTAINS(load_fails(scratch("short.idx.gz"), NN_ERR_FORMAT),
                   "short.idx.gz': truncated IDX data: shape (3, 4) of uint8 needs 12 bytes from byte offset 12, "
                   "the data ends at byte offset 23");
    /* more content than the header declares: inflation stops at the declared size */
    n = make_idx(buf, 0x08, 1, (uint32_t[]){ 8 }, 20);
    write_gzip(scratch("long.idx.gz"), buf, n);
    CHECK_CONTAINS(load_fails(scratch("long.idx.gz"), NN_ERR_FORMAT),
                   "reading IDX whose header declares 16 bytes in all: '");
    CHECK_CONTAINS(nn_last_error(), "long.idx.gz': inflates past the limit of 16 bytes");
    n = make_idx(buf, 0x0A, 1, (uint32_t[]){ 8 }, 8);
    write_gzip(scratch("type.idx.gz"), buf, n);
    CHECK_CONTAINS(load_fails(scratch("type.idx.gz"), NN_ERR_FORMAT), "unknown IDX type code 0x0A at byte offset 2");
    write_gzip(scratch("empty.gz"), "", 0);
    CHECK_CONTAINS(load_fails(scratch("empty.gz"), NN_ERR_FORMAT), "truncated IDX header: 0 bytes");
}

TEST(corrupt_gzip_streams_are_refused) {
    size_t size;
    unsigned char *gz = read_bytes(FIXTURES "uint8_3x4x5.idx.gz", &size);
    CHECK(gz != NULL);
    if (!gz) return;
    write_bytes(scratch("cut.idx.gz"), gz, size / 2);
    CHECK_CONTAINS(load_fails(scratch("cut.idx.gz"), NN_ERR_FORMAT), "cut.idx.gz': corrupt or truncated gzip data");
    unsigned char *bad = malloc(size);
    memcpy(bad, gz, size);
    bad[10] ^= 0xFF; /* the first byte of the deflate stream */
    bad[11] ^= 0xFF;
    write_bytes(scratch("flipped.idx.gz"), bad, size);
    CHECK_CONTAINS(load_fails(scratch("flipped.idx.gz"), NN_ERR_FORMAT), "flipped.idx.gz': corrupt gzip data after");
    memcpy(bad, gz, size);
    bad[size - 5] ^= 0x01; /* the length in the trailer */
    write_bytes(scratch("trailer.idx.gz"), bad, size);
    CHECK_CONTAINS(load_fails(scratch("trailer.idx.gz"), NN_ERR_FORMAT), "corrupt or truncated gzip data");
    free(bad);
    free(gz);
}

TEST(missing_files_and_bad_arguments_are_refused) {
    CHECK_CONTAINS(load_fails(FIXTURES "no_such_file.idx", NN_ERR_IO), "cannot open '" FIXTURES "no_such_file.idx'");
    CHECK_CONTAINS(load_fails(FIXTURES "fashion_tiny", NN_ERR_IO), "is a directory");
    CHECK(nn_idx_load(NULL, &(nn_tensor *){ NULL }) == NN_ERR_ARG);
    CHECK(nn_idx_load(FIXTURES "int8_7.idx", NULL) == NN_ERR_ARG);
}

/* ---------------------------------------------------------------- Fashion-MNIST */

TEST(fashion_mnist_loader_reads_a_miniature_directory) {
    nn_dataset *train = NULL, *test = NULL;
    int status = nn_fashion_mnist_load(FIXTURES "fashion_tiny", &train, &test);
    CHECK(status == NN_OK);
    if (status) {
        printf("  %s\n", nn_last_error());
        return;
    }
    const nn_tensor *x = nn_dataset_x(train), *y = nn_dataset_y(train);
    CHECK(x->dtype == NN_UINT8 && x->ndim == 3 && x->shape[0] == 3 && x->shape[1] == 28 && x->shape[2] == 28);
    CHECK(y->dtype == NN_UINT8 && y->ndim == 1 && y->shape[0] == 3);
    CHECK(nn_tensor_get(x, 0) == 0 && nn_tensor_get(x, 300) == 49 && nn_tensor_get(x, 3 * 784 - 1) == 2351 % 251);
    CHECK(nn_tensor_get(y, 0) == 1 && nn_tensor_get(y, 1) == 4 && nn_tensor_get(y, 2) == 7);
    CHECK(nn_dataset_size(test) == 2 && nn_tensor_get(nn_dataset_y(test), 1) == 4);
    nn_dataset_free(train);
    nn_dataset_free(test);

    test = (nn_dataset *)&test;
    CHECK(nn_fashion_mnist_load(FIXTURES "fashion_tiny", NULL, &test) == NN_OK);
    CHECK(nn_dataset_size(test) == 2);
    nn_dataset_free(test);
    train = (nn_dataset *)&train;
    CHECK(nn_fashion_mnist_load(FIXTURES "fashion_tiny", &train, NULL) == NN_OK);
    CHECK(nn_dataset_size(train) == 3);
    nn_dataset_free(train);
}

/* Writes a Fashion-MNIST-like directory of un-gzipped files under scratch(name): n_images
 * images of rows x 28 and n_labels labels, label i = i % 10 except the last set to last_label. */
static const char *fake_fashion(const char *name, uint32_t n_images, uint32_t rows, uint32_t n_labels, int last_label) {
    const char *dir = scratch(name);
    mkdir(dir, 0700);
    static unsigned char buf[16 + 4 * 28 * 28];
    char path[300];
    for (int split = 0; split < 2; split++) {
        const char *prefix = split ? "t10k" : "train";
        size_t n = make_idx(buf, 0x08, 3, (uint32_t[]){ n_images, rows, 28 }, n_images * rows * 28);
        snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
        write_bytes(path, buf, n);
        n = make_idx(buf, 0x08, 1, &n_labels, 0);
        for (uint32_t i = 0; i < n_labels; i++) buf[n++] = (unsigned char)(i + 1 == n_labels ? (uint32_t)last_label : i % 10);
        snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
        write_bytes(path, buf, n);
    }
    return dir;
}

static const char *fashion_fails(const char *dir, int status) {
    nn_dataset *train = (nn_dataset *)&train, *test = (nn_dataset *)&test;
    int got = nn_fashion_mnist_load(dir, &train, &test);
    CHECK(got == status);
    CHECK(train == NULL && test == NULL);
    if (got != status) printf("  got %s: %s\n", nn_status_name(got), nn_last_error());
    if (got == NN_OK) nn_dataset_free(train), nn_dataset_free(test);
    return nn_last_error();
}

TEST(fashion_mnist_loader_accepts_ungzipped_files) {
    const char *dir = fake_fashion("plain", 4, 28, 4, 9);
    nn_dataset *train = NULL, *test = NULL;
    CHECK(nn_fashion_mnist_load(dir, &train, &test) == NN_OK);
    CHECK(nn_dataset_size(train) == 4 && nn_dataset_size(test) == 4);
    if (train) CHECK(nn_tensor_get(nn_dataset_y(train), 3) == 9 && nn_tensor_get(nn_dataset_x(train), 29) == 29);
    nn_dataset_free(train);
    nn_dataset_free(test);
}

TEST(fashion_mnist_loader_errors_name_the_problem) {
    const char *msg = fashion_fails("/nonexistent/fashion", NN_ERR_IO);
    CHECK_CONTAINS(msg, "Fashion-MNIST: no directory '/nonexistent/fashion'");
    CHECK_CONTAINS(msg, "install Debian's dataset-fashion-mnist (apt install dataset-fashion-mnist");
    const char *empty = scratch("empty_dir");
    mkdir(empty, 0700);
    msg = fashion_fails(empty, NN_ERR_IO);
    CHECK_CONTAINS(msg, "no file (gzipped or not) '");
    CHECK_CONTAINS(msg, "empty_dir/train-images-idx3-ubyte.gz'");
    CHECK_CONTAINS(msg, "install Debian's dataset-fashion-mnist");
    CHECK_CONTAINS(fashion_fails(fake_fashion("mismatch", 4, 28, 3, 2), NN_ERR_FORMAT),
                   "mismatch': 4 train images but 3 labels");
    CHECK_CONTAINS(fashion_fails(fake_fashion("label", 2, 28, 2, 10), NN_ERR_DATA),
                   "label': train-labels-idx1-ubyte: label 1 (byte offset 9) is 10, outside 0..9");
    /* the test split is checked too, and a failure there frees the training set already loaded */
    const char *dir = fake_fashion("test_label", 2, 28, 2, 3);
    unsigned char labels[10];
    size_t n = make_idx(labels, 0x08, 1, (uint32_t[]){ 2 }, 0);
    labels[n++] = 0, labels[n++] = 200;
    char path[300];
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dir);
    write_bytes(path, labels, n);
    CHECK_CONTAINS(fashion_fails(dir, NN_ERR_DATA), "t10k-labels-idx1-ubyte: label 1 (byte offset 9) is 200");
    unsigned char flat[8 + 4];
    n = make_idx(flat, 0x08, 1, (uint32_t[]){ 4 }, 4);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", fake_fashion("flat", 4, 28, 4, 1));
    write_bytes(path, flat, n);
    CHECK_CONTAINS(fashion_fails(scratch("flat"), NN_ERR_FORMAT),
                   "train images are uint8 (4,) and labels uint8 (4,), expected uint8 (N, 28, 28) and uint8 (N,)");
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int64_t first_image_sum(const nn_dataset *d) {
    const uint8_t *pixels = nn_dataset_x(d)->data;
    int64_t sum = 0;
    for (int i = 0; i < 28 * 28; i++) sum += pixels[i];
    return sum;
}

/* Against Debian's dataset-fashion-mnist; the expected values were read from its files with
 * Python's gzip + numpy. */
TEST(fashion_mnist_installed_set_has_known_shapes_and_labels) {
    struct stat st;
    if (stat(FASHION_DIR "/train-images-idx3-ubyte.gz", &st) != 0) {
        printf("  note: " FASHION_DIR " is absent (apt install dataset-fashion-mnist); skipped\n");
        return;
    }
    nn_dataset *train = NULL, *test = NULL;
    double start = seconds_now();
    clock_t cpu_start = clock();
    int status = nn_fashion_mnist_load(NULL, &train, NULL);
    double train_seconds = seconds_now() - start, cpu_seconds = (double)(clock() - cpu_start) / CLOCKS_PER_SEC;
    if (!status) status = nn_fashion_mnist_load(NULL, NULL, &test);
    CHECK(status == NN_OK);
    if (status) {
        printf("  %s\n", nn_last_error());
        nn_dataset_free(train);
        return;
    }
    printf("  note: the gzipped Fashion-MNIST training set loads and decodes in %.3f s (%.3f s of CPU)\n",
           train_seconds, cpu_seconds);
    const nn_tensor *x = nn_dataset_x(train), *y = nn_dataset_y(train);
    CHECK(x->dtype == NN_UINT8 && x->ndim == 3 && x->shape[0] == 60000 && x->shape[1] == 28 && x->shape[2] == 28);
    CHECK(y->dtype == NN_UINT8 && y->ndim == 1 && y->shape[0] == 60000);
    CHECK(nn_dataset_size(test) == 10000 && nn_dataset_y(test)->shape[0] == 10000);
    static const uint8_t train_labels[10] = { 9, 0, 0, 3, 0, 2, 7, 2, 5, 5 };
    static const uint8_t test_labels[10] = { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7 };
    CHECK(memcmp(y->data, train_labels, 10) == 0);
    CHECK(memcmp(nn_dataset_y(test)->data, test_labels, 10) == 0);
    CHECK(first_image_sum(train) == 76247);
    CHECK(first_image_sum(test) == 33456);
    int64_t class_count[10] = { 0 };
    for (int64_t i = 0; i < 60000; i++) class_count[((const uint8_t *)y->data)[i]]++;
    for (int c = 0; c < 10; c++) CHECK(class_count[c] == 6000);
    nn_dataset_free(train);
    nn_dataset_free(test);
}

/* ---------------------------------------------------------------- nn_array_load / nn_array_save */

static void copy_file(const char *from, const char *to) {
    size_t size;
    unsigned char *b = read_bytes(from, &size);
    CHECK(b != NULL);
    if (b) write_bytes(to, b, size);
    free(b);
}

static void check_dispatch_x(const char *path) {
    nn_tensor *t = NULL;
    int status = nn_array_load(path, &t);
    CHECK(status == NN_OK);
    if (status) {
        printf("  %s: %s\n", path, nn_last_error());
        return;
    }
    CHECK(t->dtype == NN_FLOAT32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    for (int i = 0; i < 6; i++) CHECK(nn_tensor_get(t, i) == (i - 2) / 4.0);
    nn_tensor_free(t);
}

static const char *array_fails(const char *path, int status) {
    nn_tensor *t = (nn_tensor *)&t;
    int got = nn_array_load(path, &t);
    CHECK(got == status);
    CHECK(t == NULL);
    if (got != status) printf("  %s: got %s: %s\n", path, nn_status_name(got), nn_last_error());
    if (got == NN_OK) nn_tensor_free(t);
    return nn_last_error();
}

TEST(array_load_reads_idx_by_name_and_by_content) {
    static const char *const paths[] = {
        FIXTURES "uint8_3x4x5.idx", FIXTURES "uint8_3x4x5.idx.gz", FIXTURES "labels-idx1-ubyte",
        FIXTURES "labels-idx1-ubyte.gz",
    };
    for (size_t k = 0; k < 4; k++) {
        nn_tensor *t = NULL;
        CHECK(nn_array_load(paths[k], &t) == NN_OK);
        if (t) check_fixture(&fixtures[k < 2 ? 0 : 6], t);
        nn_tensor_free(t);
    }
    copy_file(FIXTURES "int16_2x8.idx", scratch("images.bin"));
    copy_file(FIXTURES "int16_2x8.idx.gz", scratch("images.data"));
    for (int k = 0; k < 2; k++) {
        nn_tensor *t = NULL;
        CHECK(nn_array_load(scratch(k ? "images.data" : "images.bin"), &t) == NN_OK);
        if (t) check_fixture(&fixtures[2], t);
        nn_tensor_free(t);
    }
    /* a damaged file named as IDX gets the IDX reader's own message */
    write_bytes(scratch("broken.idx"), "\x01\x02", 2);
    CHECK_CONTAINS(array_fails(scratch("broken.idx"), NN_ERR_FORMAT), "not an IDX file");
}

TEST(array_load_reads_npy_npz_and_csv) {
    check_dispatch_x(FIXTURES "dispatch.npy");
    check_dispatch_x(FIXTURES "dispatch_one.npz");
    check_dispatch_x(FIXTURES "dispatch_xy.npz#x");
    check_dispatch_x(FIXTURES "dispatch.csv");
    copy_file(FIXTURES "dispatch.npy", scratch("array.dat"));
    check_dispatch_x(scratch("array.dat"));
    nn_tensor *y = NULL;
    CHECK(nn_array_load(FIXTURES "dispatch_xy.npz#y", &y) == NN_OK);
    if (y) CHECK(y->dtype == NN_INT64 && y->ndim == 1 && y->shape[0] == 2 && nn_tensor_get(y, 0) == 1);
    nn_tensor_free(y);
    CHECK_CONTAINS(array_fails(FIXTURES "dispatch_xy.npz", NN_ERR_ARG),
                   "dispatch_xy.npz' holds 2 arrays (x, y): name one as '" FIXTURES "dispatch_xy.npz#x'");
    CHECK_CONTAINS(array_fails(FIXTURES "dispatch_xy.npz#z", NN_ERR_NAME),
                   "dispatch_xy.npz' has no array 'z' (it holds: x, y)");
}

TEST(array_load_refuses_unknown_files) {
    write_bytes(scratch("notes.txt"), "hello\n", 6);
    CHECK_CONTAINS(array_fails(scratch("notes.txt"), NN_ERR_FORMAT),
                   "notes.txt': not a known array file; nn reads .npy, .npz (its only array, or \"file.npz#name\" "
                   "for one of several), IDX (.idx or *-idx*, gzipped or not) and .csv");
    CHECK_CONTAINS(array_fails(FIXTURES "int8_7.idx#x", NN_ERR_ARG),
                   "int8_7.idx#x': only .npz archives have named arrays to pick with '#'");
    CHECK_CONTAINS(array_fails(FIXTURES "missing.npy", NN_ERR_IO), "cannot open '" FIXTURES "missing.npy'");
    CHECK(nn_array_load(NULL, &(nn_tensor *){ NULL }) == NN_ERR_ARG);
}

TEST(array_save_writes_by_extension) {
    nn_tensor *x = NULL;
    CHECK(nn_array_load(FIXTURES "dispatch.npy", &x) == NN_OK);
    if (!x) return;
    CHECK(nn_array_save(scratch("saved.npy"), x) == NN_OK);
    check_dispatch_x(scratch("saved.npy"));
    CHECK(nn_array_save(scratch("saved.json"), x) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "saved.json': cannot tell the format from the extension; nn writes .npy and .csv");
    CHECK(nn_array_save(NULL, x) == NN_ERR_ARG);
    nn_tensor_free(x);
}

/* nn_csv_save names unnamed columns "0", "1", ...; the reader must take that line for a header
 * (it is all numbers, so header detection alone reads it as a data row). */
TEST(array_save_csv_reads_back_as_saved) {
    nn_tensor *x = NULL;
    CHECK(nn_array_load(FIXTURES "dispatch.npy", &x) == NN_OK);
    if (!x) return;
    CHECK(nn_array_save(scratch("saved.csv"), x) == NN_OK);
    check_dispatch_x(scratch("saved.csv"));
    nn_tensor_free(x);
}

/* ---------------------------------------------------------------- allocation failures */

/* Fails each allocation of `load` in turn until it succeeds; returns how many failures it took.
 * Each failure must be NN_ERR_NOMEM with `message` in its text. */
static int sweep(int (*load)(const char *path), const char *path, const char *message) {
    int failures = 0;
    for (long n = 1; n <= 100; n++) {
        failing_alloc state;
        failing_alloc_install(&state, n);
        int status = load(path);
        nn_set_allocator(NULL);
        if (status == NN_OK) return failures;
        failures++;
        CHECK(status == NN_ERR_NOMEM);
        CHECK_CONTAINS(nn_last_error(), message);
    }
    CHECK(!"the load never succeeded");
    return failures;
}

static int load_idx(const char *path) {
    nn_tensor *t = (nn_tensor *)&t;
    int status = nn_idx_load(path, &t);
    CHECK(status == NN_OK ? t != NULL : t == NULL);
    if (!status) nn_tensor_free(t);
    return status;
}

static int load_fashion(const char *dir) {
    nn_dataset *train = (nn_dataset *)&train, *test = (nn_dataset *)&test;
    int status = nn_fashion_mnist_load(dir, &train, &test);
    CHECK(status == NN_OK ? train && test : !train && !test);
    if (!status) nn_dataset_free(train), nn_dataset_free(test);
    return status;
}

TEST(allocation_failures_fail_cleanly) {
    /* file buffer, tensor header, tensor data; gzipped adds zlib's state, window and buffer */
    CHECK(sweep(load_idx, FIXTURES "float64_2x2x3.idx", "loading '" FIXTURES "float64_2x2x3.idx': out of memory") >= 3);
    CHECK(sweep(load_idx, FIXTURES "float64_2x2x3.idx.gz", "loading '" FIXTURES "float64_2x2x3.idx.gz': out of memory") >= 5);
    CHECK(sweep(load_fashion, FIXTURES "fashion_tiny", "out of memory") >= 20);
} /* ASan's leak check at exit reports anything a failed load left behind */

int main(void) {
    RUN_TESTS(every_type_code_reads_back_plain_and_gzipped, extreme_values_convert_from_big_endian,
              truncated_header_is_refused, truncated_data_is_refused_with_offsets,
              trailing_garbage_is_refused_with_offset, bad_magic_type_and_dimension_count_are_refused,
              zero_overflowing_and_absurd_dimensions_are_refused, gzipped_bad_inputs_are_refused,
              corrupt_gzip_streams_are_refused, missing_files_and_bad_arguments_are_refused,
              fashion_mnist_loader_reads_a_miniature_directory, fashion_mnist_loader_accepts_ungzipped_files,
              fashion_mnist_loader_errors_name_the_problem, fashion_mnist_installed_set_has_known_shapes_and_labels,
              array_load_reads_idx_by_name_and_by_content, array_load_reads_npy_npz_and_csv,
              array_load_refuses_unknown_files, array_save_writes_by_extension, array_save_csv_reads_back_as_saved,
              allocation_failures_fail_cleanly);
}
