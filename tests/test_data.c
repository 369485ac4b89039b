/* CSV loading and datasets. Expected values for the breast cancer files were computed with
 * numpy: a = np.loadtxt(path, delimiter=",", skiprows=1); x = a[:, :-1].astype(np.float32);
 * y = a[:, -1].astype(np.float32); then x[0, 0], x[-1, -1], x.astype(np.float64).sum(), y.sum(). */
#include "nn_internal.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const nn_csv_opts target_opts = { .target = "target" };

/* Loads a file expected to fail; checks the status, that *out stays NULL, and returns the
 * message. */
static const char *load_failure(const char *path, const nn_csv_opts *opts, int expected) {
    nn_dataset *d = (nn_dataset *)&d; /* not NULL, so the test sees nn_csv_load clear it */
    int status = nn_csv_load(path, opts, &d);
    CHECK(status == expected);
    CHECK(d == NULL);
    if (status != expected) printf("  got %s: %s\n", nn_status_name(status), nn_last_error());
    if (status == NN_OK) nn_dataset_free(d);
    return nn_last_error();
}

/* Writes `text` to a new temporary file; its path goes into path (size >= 32). */
static void write_temp(char *path, const char *text) {
    strcpy(path, "/tmp/nn_test_data_XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    size_t length = strlen(text);
    CHECK(write(fd, text, length) == (ssize_t)length);
    close(fd);
}

static double sum_f64(const float *v, int64_t n) {
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += v[i];
    return total;
}

TEST(loads_breast_cancer_train) {
    nn_dataset *d = NULL;
    CHECK(nn_csv_load("data/breast_cancer_train.csv", &target_opts, &d) == NN_OK);
    if (!d) return;
    const nn_tensor *x = nn_dataset_x(d), *y = nn_dataset_y(d);
    CHECK(nn_dataset_size(d) == 455);
    CHECK(x->ndim == 2 && x->shape[0] == 455 && x->shape[1] == 30);
    CHECK(y->ndim == 2 && y->shape[0] == 455 && y->shape[1] == 1);
    const float *xv = nn_tensor_f32(x), *yv = nn_tensor_f32(y);
    CHECK(xv[0] == 12.47f);
    CHECK(xv[455 * 30 - 1] == 0.08174f);
    CHECK(yv[0] == 1.0f);
    CHECK_NEAR(sum_f64(xv, 455 * 30), 836758.8180159059, 1e-6);
    CHECK(sum_f64(yv, 455) == 290.0);
    CHECK(strcmp(nn_dataset_feature_name(d, 0), "mean_radius") == 0);
    CHECK(strcmp(nn_dataset_feature_name(d, 29), "worst_fractal_dimension") == 0);
    CHECK(nn_dataset_feature_name(d, 30) == NULL);
    CHECK_CONTAINS(nn_last_error(), "feature column 30 is outside 0..29");
    nn_dataset_free(d);
}

TEST(loads_breast_cancer_test) {
    nn_dataset *d = NULL;
    CHECK(nn_csv_load("data/breast_cancer_test.csv", &target_opts, &d) == NN_OK);
    if (!d) return;
    const float *xv = nn_tensor_f32(nn_dataset_x(d));
    CHECK(nn_dataset_size(d) == 114);
    CHECK(nn_dataset_x(d)->shape[1] == 30);
    CHECK(xv[0] == 18.45f);
    CHECK(xv[114 * 30 - 1] == 0.06878f);
    CHECK_NEAR(sum_f64(xv, 114 * 30), 219715.64213964145, 1e-6);
    CHECK(sum_f64(nn_tensor_f32(nn_dataset_y(d)), 114) == 67.0);
    nn_dataset_free(d);
}

TEST(without_target_every_column_is_a_feature) {
    nn_dataset *d = NULL;
    CHECK(nn_csv_load("data/breast_cancer_test.csv", NULL, &d) == NN_OK);
    if (!d) return;
    CHECK(nn_dataset_x(d)->shape[1] == 31 && nn_dataset_y(d) == NULL);
    CHECK(strcmp(nn_dataset_feature_name(d, 30), "target") == 0);
    nn_dataset_free(d);
    CHECK(nn_csv_load("data/breast_cancer_test.csv", &(nn_csv_opts){ .delimiter = ',' }, &d) == 0);
    CHECK(d && nn_dataset_y(d) == NULL);
    nn_dataset_free(d);
}

/* CRLF, padding, blank lines, a target in the middle, no final newline, a BOM, signs and
 * exponents, a delimiter other than ','. */
TEST(parses_messy_but_valid_text) {
    char path[32];
    write_temp(path, "\xEF\xBB\xBF\r\n a ; label ;\tc\r\n\r\n-1.5e2; 1 ;+.25\r\n  \r\n0x10;0;-0\n\n"
                     "7E-1;1;1e-3");
    nn_dataset *d = NULL;
    CHECK(nn_csv_load(path, &(nn_csv_opts){ .target = "label", .delimiter = ';' }, &d) == NN_OK);
    remove(path);
    if (!d) return;
    const float *x = nn_tensor_f32(nn_dataset_x(d)), *y = nn_tensor_f32(nn_dataset_y(d));
    CHECK(nn_dataset_size(d) == 3 && nn_dataset_x(d)->shape[1] == 2);
    CHECK(x[0] == -150.0f && x[1] == 0.25f && x[2] == 16.0f && x[3] == 0.0f && signbit(x[3]));
    CHECK(x[4] == 0.7f && x[5] == 0.001f);
    CHECK(y[0] == 1.0f && y[1] == 0.0f && y[2] == 1.0f);
    CHECK(strcmp(nn_dataset_feature_name(d, 0), "a") == 0);
    CHECK(strcmp(nn_dataset_feature_name(d, 1), "c") == 0);
    nn_dataset_free(d);
}

/* A small deterministic generator for the number strings below. */
static uint64_t next_random(uint64_t *state) {
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return *state >> 33;
}

static void random_number_text(uint64_t *state, char *out, size_t size) {
    int used = 0, digits = 1 + (int)(next_random(state) % 20);
    if (next_random(state) % 2) out[used++] = '-';
    int point = (int)(next_random(state) % (unsigned)(digits + 1));
    for (int i = 0; i < digits; i++) {
        if (i == point) out[used++] = '.';
        out[used++] = (char)('0' + next_random(state) % 10);
    }
    if (next_random(state) % 3 == 0)
        used += snprintf(out + used, size - (size_t)used, "e%d",
                         (int)(next_random(state) % 46) - 30);
    out[used] = '\0';
}

/* Every value must equal what numpy's float64 parse and float32 cast give: (float)strtod. */
TEST(numbers_match_strtod_then_float32) {
    enum { count = 4000 };
    static char text[count * 40 + 16], numbers[count][40];
    uint64_t state = 42;
    size_t used = (size_t)snprintf(text, sizeof text, "v\n");
    for (int i = 0; i < count; i++) {
        random_number_text(&state, numbers[i], sizeof numbers[i]);
        used += (size_t)snprintf(text + used, sizeof text - used, "%s\n", numbers[i]);
    }
    char path[32];
    write_temp(path, text);
    nn_dataset *d = NULL;
    CHECK(nn_csv_load(path, NULL, &d) == NN_OK);
    remove(path);
    if (!d) {
        printf("  %s\n", nn_last_error());
        return;
    }
    const float *x = nn_tensor_f32(nn_dataset_x(d));
    int mismatches = 0;
    for (int i = 0; i < count; i++) {
        float expected = (float)strtod(numbers[i], NULL);
        if (memcmp(&x[i], &expected, sizeof expected) != 0 && mismatches++ < 5)
            printf("  %s: got %.9g, strtod gives %.9g\n", numbers[i], x[i], expected);
    }
    CHECK(mismatches == 0);
    nn_dataset_free(d);
}

/* A pipe has no size to allocate by, so the buffer grows (the file is over its 64 KiB start). */
TEST(reads_a_pipe_of_unknown_size) {
    char path[32];
    write_temp(path, "");
    remove(path);
    CHECK(mkfifo(path, 0600) == 0);
    if (test_current_failed_) return;
    pid_t writer = fork();
    if (writer == 0) {
        FILE *in = fopen("data/breast_cancer_train.csv", "rb"), *out = fopen(path, "wb");
        char block[4096];
        for (size_t n; in && out && (n = fread(block, 1, sizeof block, in)) > 0;)
            fwrite(block, 1, n, out);
        _exit(in && out && fclose(out) == 0 ? 0 : 1);
    }
    nn_dataset *d = NULL;
    CHECK(nn_csv_load(path, &target_opts, &d) == NN_OK);
    int status = -1;
    CHECK(writer > 0 && waitpid(writer, &status, 0) == writer && status == 0);
    remove(path);
    CHECK(d && nn_dataset_size(d) == 455 && nn_tensor_f32(nn_dataset_x(d))[0] == 12.47f);
    nn_dataset_free(d);
}

TEST(missing_file_names_the_file_and_reason) {
    const char *m = load_failure("tests/data/no_such_file.csv", &target_opts, NN_ERR_IO);
    CHECK_CONTAINS(m, "cannot open 'tests/data/no_such_file.csv'");
    CHECK_CONTAINS(m, "No such file or directory");
    m = load_failure("tests/data", &target_opts, NN_ERR_IO);
    CHECK_CONTAINS(m, "cannot read 'tests/data': Is a directory");
}

TEST(empty_file) {
    const char *m = load_failure("tests/data/bad_empty.csv", &target_opts, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "'tests/data/bad_empty.csv' is empty: expected a header row");
}

TEST(header_only) {
    const char *m = load_failure("tests/data/bad_header_only.csv", &target_opts, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "'tests/data/bad_header_only.csv' has a header (line 1) but no data rows");
}

TEST(missing_target_lists_the_columns) {
    const char *m = load_failure("tests/data/bad_missing_target.csv", &target_opts, NN_ERR_NAME);
    CHECK_CONTAINS(m, "'tests/data/bad_missing_target.csv' line 1: target column 'target' not found");
    CHECK_CONTAINS(m, "the 3 columns are: a, b, label");
}

TEST(missing_target_list_is_truncated) {
    char header[4000] = "", path[32];
    for (int i = 0; i < 200; i++)
        sprintf(header + strlen(header), "%scolumn_%d", i ? "," : "", i);
    strcat(header, "\n");
    for (int i = 0; i < 200; i++) strcat(header, i ? ",1" : "1");
    write_temp(path, header);
    const char *m = load_failure(path, &target_opts, NN_ERR_NAME);
    remove(path);
    CHECK_CONTAINS(m, "the 200 columns are: column_0, column_1,");
    CHECK_CONTAINS(m, "...");
    CHECK(strlen(m) < 500);
}

TEST(ragged_rows) {
    const char *m = load_failure("tests/data/bad_ragged_short.csv", &target_opts, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "'tests/data/bad_ragged_short.csv' line 3: expected 3 cells as in the header "
                      "(line 1), got 2: column 3 'target' is missing");
    m = load_failure("tests/data/bad_ragged_long.csv", &target_opts, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "'tests/data/bad_ragged_long.csv' line 3: expected 3 cells as in the header "
                      "(line 1), got 4: column 4 has no header");
}

TEST(non_numeric_cell_is_quoted) {
    const char *m = load_failure("tests/data/bad_non_numeric.csv", &target_opts, NN_ERR_FORMAT);
    /* line 4: the blank line 3 still counts, as in an editor */
    CHECK_CONTAINS(m, "'tests/data/bad_non_numeric.csv' line 4, column 2 'b': cell \"4x\" is not "
                      "a number");
    m = load_failure("tests/data/bad_empty_cell.csv", &target_opts, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "'tests/data/bad_empty_cell.csv' line 2, column 2 'b': cell \"\" is not a "
                      "number");
}

TEST(non_finite_cells) {
    const char *m = load_failure("tests/data/bad_nan.csv", &target_opts, NN_ERR_DATA);
    CHECK_CONTAINS(m, "'tests/data/bad_nan.csv' line 3, column 2 'b': cell \"NaN\" is not finite");
    m = load_failure("tests/data/bad_inf.csv", &target_opts, NN_ERR_DATA);
    CHECK_CONTAINS(m, "'tests/data/bad_inf.csv' line 4, column 3 'target': cell \"-inf\" is not "
                      "finite");
    m = load_failure("tests/data/bad_overflow.csv", &target_opts, NN_ERR_DATA);
    CHECK_CONTAINS(m, "'tests/data/bad_overflow.csv' line 3, column 1 'a': cell \"1e39\" is beyond "
                      "the float32 range");
}

TEST(bad_arguments) {
    nn_dataset *d = NULL;
    CHECK(nn_csv_load("data/breast_cancer_test.csv", NULL, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "out is NULL");
    CHECK(nn_csv_load(NULL, NULL, &d) == NN_ERR_ARG && d == NULL);
    CHECK_CONTAINS(nn_last_error(), "path is NULL");
    const char *m = load_failure("data/breast_cancer_test.csv", &(nn_csv_opts){ .delimiter = '.' },
                                 NN_ERR_ARG);
    CHECK_CONTAINS(m, "CSV delimiter '.' can be part of a number");
}

TEST(dataset_new_checks_first_dimensions) {
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 455, 30 });
    nn_tensor *y = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 454, 1 });
    CHECK(nn_dataset_new(x, y) == NULL); /* both freed: ASan reports a leak otherwise */
    CHECK_CONTAINS(nn_last_error(), "x has shape (455, 30) but y has shape (454, 1)");
    CHECK(nn_dataset_new(NULL, nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 3 })) == NULL);
    CHECK_CONTAINS(nn_last_error(), "x is NULL");
    CHECK(nn_dataset_new(nn_tensor_new(NN_FLOAT32, 0, NULL), NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "x () and y None need a first (samples) dimension");

    nn_dataset *d = nn_dataset_new(nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ 4, 2, 2 }),
                                   nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 4 }));
    CHECK(d && nn_dataset_size(d) == 4 && nn_dataset_y(d)->ndim == 1);
    CHECK(nn_dataset_feature_name(d, 0) == NULL);
    nn_dataset_free(d);
    nn_dataset_free(NULL);
    CHECK(nn_dataset_size(NULL) == 0 && nn_dataset_x(NULL) == NULL);
}

/* An allocator that fails only the Nth allocation (malloc or realloc), counting them all. */
typedef struct failing_allocator { long count, fail_at; } failing_allocator;

static void *failing_malloc(size_t size, void *ctx) {
    failing_allocator *a = ctx;
    return ++a->count == a->fail_at ? NULL : malloc(size);
}

static void *failing_realloc(void *p, size_t size, void *ctx) {
    failing_allocator *a = ctx;
    return ++a->count == a->fail_at ? NULL : realloc(p, size);
}

static void passing_free(void *p, void *ctx) { (void)ctx; free(p); }

TEST(allocation_failures_fail_cleanly) {
    int failures = 0;
    bool loaded = false;
    for (long n = 1; n <= 50 && !loaded; n++) {
        failing_allocator state = { 0, n };
        nn_set_allocator(&(nn_allocator){ failing_malloc, failing_realloc, passing_free, &state });
        nn_dataset *d = (nn_dataset *)&d;
        int status = nn_csv_load("data/breast_cancer_train.csv", &target_opts, &d);
        nn_set_allocator(NULL);
        loaded = status == NN_OK;
        if (!loaded) {
            failures++;
            CHECK(status == NN_ERR_NOMEM);
            CHECK(d == NULL);
            CHECK_CONTAINS(nn_last_error(),
                           "loading 'data/breast_cancer_train.csv': out of memory");
        } else {
            CHECK(nn_dataset_size(d) == 455);
            nn_dataset_free(d);
        }
    } /* ASan's leak check at exit reports anything a failed load left behind */
    CHECK(loaded);
    CHECK(failures >= 5); /* buffer, names, x, y, dataset: each allocation was tried failing */
}

int main(void) {
    RUN_TESTS(loads_breast_cancer_train, loads_breast_cancer_test,
              without_target_every_column_is_a_feature, parses_messy_but_valid_text,
              numbers_match_strtod_then_float32, reads_a_pipe_of_unknown_size, missing_file_names_the_file_and_reason,
              empty_file, header_only, missing_target_lists_the_columns,
              missing_target_list_is_truncated, ragged_rows, non_numeric_cell_is_quoted,
              non_finite_cells, bad_arguments, dataset_new_checks_first_dimensions,
              allocation_failures_fail_cleanly);
}
