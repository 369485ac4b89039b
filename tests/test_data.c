/* CSV loading and datasets. Expected values for the breast cancer files were computed with
 * numpy: a = np.loadtxt(path, delimiter=",", skiprows=1); x = a[:, :-1].astype(np.float32);
 * y = a[:, -1].astype(np.float32); then x[0, 0], x[-1, -1], x.astype(np.float64).sum(), y.sum(). */
#include "nn_internal.h"
#include "test.h"
#include "failing_alloc.h"

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

/* Loads `text` from a temporary file. */
static int load_text(const char *text, const nn_csv_opts *opts, nn_dataset **out) {
    char path[32];
    write_temp(path, text);
    int status = nn_csv_load(path, opts, out);
    remove(path);
    if (status) printf("  load failed: %s\n", nn_last_error());
    return status;
}

/* Loads `text` expecting the status `expected`; returns the message, checked to name the file. */
static const char *text_failure(const char *text, const nn_csv_opts *opts, int expected) {
    char path[32];
    write_temp(path, text);
    const char *m = load_failure(path, opts, expected);
    remove(path);
    CHECK_CONTAINS(m, path);
    return m;
}

/* t is float32 of shape (rows, columns) holding `values` bit for bit. */
static bool holds(const nn_tensor *t, int64_t rows, int64_t columns, const float *values) {
    if (!t || t->dtype != NN_FLOAT32 || t->ndim != 2 || t->shape[0] != rows ||
        t->shape[1] != columns)
        return false;
    return memcmp(t->data, values, (size_t)(rows * columns) * sizeof *values) == 0;
}

static bool name_is(const char *name, const char *expected) {
    if (name && strcmp(name, expected) == 0) return true;
    printf("  name \"%s\", expected \"%s\"\n", name ? name : "(null)", expected);
    return false;
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

/* ---- quoting (RFC 4180) */

TEST(quoted_cells_hold_delimiters_and_escaped_quotes) {
    nn_dataset *d = NULL;
    CHECK(load_text("\"say \"\"hi\"\"\",\"x,y\",label\n"
                    "1,\"2.5\",\"cat, black\"\n"
                    "3, \"4\" ,\"a \"\"quoted\"\" dog\"\n",
                    &(nn_csv_opts){ .target = "label" }, &d) == NN_OK);
    if (!d) return;
    CHECK(holds(nn_dataset_x(d), 2, 2, (float[]){ 1, 2.5f, 3, 4 }));
    CHECK(holds(nn_dataset_y(d), 2, 1, (float[]){ 1, 0 })); /* 'a' sorts before 'c' */
    CHECK(name_is(nn_dataset_feature_name(d, 0), "say \"hi\""));
    CHECK(name_is(nn_dataset_feature_name(d, 1), "x,y"));
    CHECK(name_is(nn_dataset_class_name(d, 0), "a \"quoted\" dog"));
    CHECK(name_is(nn_dataset_class_name(d, 1), "cat, black"));
    nn_dataset_free(d);

    const char *m = text_failure("a,b\n1,\"2\"x\n", NULL, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 2, column 2 'b': cell \"2\" has text after its closing quote");
}

/* A quoted cell across lines: the lines it spans still count in later messages. */
TEST(multi_line_quoted_cells_keep_line_numbers) {
    nn_dataset *d = NULL;
    CHECK(load_text("\"two\nlines\",label\n1,\"x\ny\"\n2,z\n", &(nn_csv_opts){ .target_index = 2 },
                    &d) == NN_OK);
    if (!d) return;
    CHECK(name_is(nn_dataset_feature_name(d, 0), "two\nlines"));
    CHECK(name_is(nn_dataset_class_name(d, 0), "x\ny"));
    CHECK(holds(nn_dataset_y(d), 2, 1, (float[]){ 0, 1 }));
    nn_dataset_free(d);

    /* lines 1-2 the header, 3-5 a row, 6 a row, 7 the bad cell */
    const char *m = text_failure("\"two\nlines\",b\n1,\"x\ny\nz\"\n2,w\n3x,v\n",
                                 &(nn_csv_opts){ .target = "b" }, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 7, column 1 'two\nlines': cell \"3x\" is not a number");
    m = text_failure("a,b,c\n1,\"multi\nline\",2\n3,4,5\n", &(nn_csv_opts){ .target = "b" },
                     NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 4, column 2 'b': cell \"4\" is a number but line 2 holds the class "
                      "label \"multi\nline\": a target column holds numbers or class labels, not "
                      "both");
}

TEST(unterminated_quote_at_end_of_file) {
    const char *m = text_failure("a,b\n1,2\n3,\"4\n5,6\n", NULL, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 3, column 2: the quoted cell opened here is not closed before the end "
                      "of the file");
    /* the rows before the open quote still show the delimiter */
    m = text_failure("a;b\n1;2\n3;\"4\n", NULL, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 3, column 2: the quoted cell opened here is not closed");
    m = text_failure("\"a,b\n1,2\n", NULL, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 1, column 1: the quoted cell opened here is not closed");
}

/* ---- layout: comments, header, delimiter */

TEST(comment_lines_are_skipped) {
    nn_dataset *d = NULL;
    CHECK(load_text("# made by hand\na,b\n1,2\n# between rows\n  #indented\n3,4\n", NULL, &d) ==
          NN_OK);
    CHECK(d && holds(nn_dataset_x(d), 2, 2, (float[]){ 1, 2, 3, 4 }));
    nn_dataset_free(d);
    d = NULL;
    CHECK(load_text("% octave style\na,b\n1,2\n", &(nn_csv_opts){ .comment = '%' }, &d) == NN_OK);
    CHECK(d && holds(nn_dataset_x(d), 1, 2, (float[]){ 1, 2 }));
    nn_dataset_free(d);

    const char *m = load_failure("data/breast_cancer_test.csv", &(nn_csv_opts){ .comment = '1' },
                                 NN_ERR_ARG);
    CHECK_CONTAINS(m, "CSV comment '1' can be part of a number");
    m = load_failure("data/breast_cancer_test.csv", &(nn_csv_opts){ .delimiter = '#' }, NN_ERR_ARG);
    CHECK_CONTAINS(m, "CSV comment '#' is also the delimiter");
}

TEST(no_header_names_columns_by_number) {
    nn_dataset *d = NULL;
    CHECK(load_text("1,2,3\n4,5,6\n", &(nn_csv_opts){ .header = NN_OFF, .target_index = -1 }, &d) ==
          NN_OK);
    if (!d) return;
    CHECK(holds(nn_dataset_x(d), 2, 2, (float[]){ 1, 2, 4, 5 }));
    CHECK(holds(nn_dataset_y(d), 2, 1, (float[]){ 3, 6 }));
    CHECK(name_is(nn_dataset_feature_name(d, 0), "1"));
    CHECK(name_is(nn_dataset_feature_name(d, 1), "2"));
    nn_dataset_free(d);

    const char *m = text_failure("a,b\n1,2\n", &(nn_csv_opts){ .header = NN_OFF }, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 1, column 1 '1': cell \"a\" is not a number");
    m = text_failure("1,2\n", &(nn_csv_opts){ .target = "label" }, NN_ERR_NAME);
    CHECK_CONTAINS(m, "line 1: target column 'label' not found; the 2 columns are: 1, 2 (the file "
                      "has no header row; use target_index)");
    m = load_failure("data/breast_cancer_test.csv", &(nn_csv_opts){ .header = 2 }, NN_ERR_ARG);
    CHECK_CONTAINS(m, "CSV header option 2: use 0 (detect), 1 (present) or NN_OFF");
}

TEST(header_detection) {
    nn_dataset *d = NULL;
    CHECK(load_text("1,2\n3,4\n", NULL, &d) == NN_OK); /* numbers only: data */
    CHECK(d && holds(nn_dataset_x(d), 2, 2, (float[]){ 1, 2, 3, 4 }));
    CHECK(d && name_is(nn_dataset_feature_name(d, 1), "2"));
    nn_dataset_free(d);
    d = NULL;
    CHECK(load_text("a,b\n1,2\n", NULL, &d) == NN_OK); /* text over numbers: a header */
    CHECK(d && holds(nn_dataset_x(d), 1, 2, (float[]){ 1, 2 }));
    CHECK(d && name_is(nn_dataset_feature_name(d, 1), "b"));
    nn_dataset_free(d);
    d = NULL;
    CHECK(load_text("1,2\n3,4\n", &(nn_csv_opts){ .header = 1 }, &d) == NN_OK); /* forced */
    CHECK(d && holds(nn_dataset_x(d), 1, 2, (float[]){ 3, 4 }));
    CHECK(d && name_is(nn_dataset_feature_name(d, 0), "1"));
    nn_dataset_free(d);
    d = NULL;
    /* text over text in a column of class labels (UCI's iris.data): data */
    CHECK(load_text("5.1,3.5,setosa\n4.9,3.0,virginica\n6.0,2.2,setosa\n",
                    &(nn_csv_opts){ .target_index = -1 }, &d) == NN_OK);
    CHECK(d && holds(nn_dataset_x(d), 3, 2, (float[]){ 5.1f, 3.5f, 4.9f, 3.0f, 6.0f, 2.2f }));
    CHECK(d && holds(nn_dataset_y(d), 3, 1, (float[]){ 0, 1, 0 }));
    nn_dataset_free(d);
}

TEST(delimiter_detection) {
    static const char *const texts[] = { "a;b;c\n1;2;3\n", "a\tb\tc\n1\t2\t3\n", "a|b|c\n1|2|3\n",
                                         "a,b,c\n1,2,3\n" };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        nn_dataset *d = NULL;
        CHECK(load_text(texts[i], &(nn_csv_opts){ .target = "c" }, &d) == NN_OK);
        if (!d) continue;
        CHECK(holds(nn_dataset_x(d), 1, 2, (float[]){ 1, 2 }));
        CHECK(name_is(nn_dataset_feature_name(d, 1), "b"));
        nn_dataset_free(d);
    }
    /* ';' splits every row alike, ',' does not: decimal commas are then not numbers */
    const char *m = text_failure("a;b\n1,5;2\n3;4\n", NULL, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 2, column 1 'a': cell \"1,5\" is not a number");
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
    CHECK_CONTAINS(m, "'tests/data' is a directory, not a file");
}

TEST(empty_file) {
    const char *m = load_failure("tests/data/bad_empty.csv", &target_opts, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "'tests/data/bad_empty.csv' has no rows: it is empty or holds only blank "
                      "and comment lines");
    m = text_failure("# only a comment\n\n   \n", NULL, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "has no rows: it is empty or holds only blank and comment lines");
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
    m = load_failure("tests/data/bad_empty_cell.csv", &target_opts, NN_ERR_DATA);
    CHECK_CONTAINS(m, "'tests/data/bad_empty_cell.csv' line 2, column 2 'b': cell \"\" is empty: "
                      "a missing value (set fill_missing to fill it)");
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
    CHECK_CONTAINS(nn_last_error(), "nn_dataset_new: x of shape () needs a first (samples) dimension");

    nn_dataset *d = nn_dataset_new(nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ 4, 2, 2 }),
                                   nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 4 }));
    CHECK(d && nn_dataset_size(d) == 4 && nn_dataset_y(d)->ndim == 1);
    CHECK(nn_dataset_feature_name(d, 0) == NULL);
    nn_dataset_free(d);
    nn_dataset_free(NULL);
    CHECK(nn_dataset_size(NULL) == 0 && nn_dataset_x(NULL) == NULL);
}

/* ---- targets and class labels */

static const char abc_text[] = "a,b,c\n1,2,3\n4,5,6\n";

TEST(target_by_index) {
    nn_dataset *d = NULL;
    CHECK(load_text(abc_text, &(nn_csv_opts){ .target_index = 1 }, &d) == NN_OK);
    CHECK(d && holds(nn_dataset_x(d), 2, 2, (float[]){ 2, 3, 5, 6 }));
    CHECK(d && holds(nn_dataset_y(d), 2, 1, (float[]){ 1, 4 }));
    CHECK(d && name_is(nn_dataset_feature_name(d, 0), "b"));
    nn_dataset_free(d);
    d = NULL;
    CHECK(load_text(abc_text, &(nn_csv_opts){ .target_index = -1 }, &d) == NN_OK);
    CHECK(d && holds(nn_dataset_x(d), 2, 2, (float[]){ 1, 2, 4, 5 }));
    CHECK(d && holds(nn_dataset_y(d), 2, 1, (float[]){ 3, 6 }));
    nn_dataset_free(d);
    for (int index = -4; index <= 4; index += 8) {
        const char *m = text_failure(abc_text, &(nn_csv_opts){ .target_index = index }, NN_ERR_ARG);
        CHECK_CONTAINS(m, "is outside the 3 columns (1 to 3, or -1 to -3 from the end)");
        CHECK_CONTAINS(m, index < 0 ? "target_index -4" : "target_index 4");
    }
    const char *m = load_failure("data/breast_cancer_test.csv",
                                 &(nn_csv_opts){ .target = "a", .target_index = 2 }, NN_ERR_ARG);
    CHECK_CONTAINS(m, "CSV options give both target 'a' and target_index 2: give one");
}

TEST(two_targets_in_the_order_asked) {
    nn_dataset *d = NULL;
    CHECK(load_text(abc_text, &(nn_csv_opts){ .target = "c, a" }, &d) == NN_OK);
    CHECK(d && holds(nn_dataset_x(d), 2, 1, (float[]){ 2, 5 }));
    CHECK(d && holds(nn_dataset_y(d), 2, 2, (float[]){ 3, 1, 6, 4 }));
    nn_dataset_free(d);
    const char *m = text_failure(abc_text, &(nn_csv_opts){ .target = "a,a" }, NN_ERR_ARG);
    CHECK_CONTAINS(m, "line 1: target column 'a' is given twice; the 3 columns are: a, b, c");
    m = text_failure(abc_text, &(nn_csv_opts){ .target = "a,b,c" }, NN_ERR_ARG);
    CHECK_CONTAINS(m, "line 1: every column is a target: no feature is left");
    m = text_failure(abc_text, &(nn_csv_opts){ .target = "a,d" }, NN_ERR_NAME);
    CHECK_CONTAINS(m, "line 1: target column 'd' not found; the 3 columns are: a, b, c");
}

TEST(string_labels_become_sorted_class_indices) {
    nn_dataset *d = NULL;
    CHECK(load_text("f,label\n1,malignant\n2,benign\n3,benign\n4,zebra\n",
                    &(nn_csv_opts){ .target = "label" }, &d) == NN_OK);
    if (!d) return;
    CHECK(holds(nn_dataset_y(d), 4, 1, (float[]){ 1, 0, 0, 2 }));
    CHECK(nn_dataset_class_count(d) == 3);
    CHECK(name_is(nn_dataset_class_name(d, 0), "benign"));
    CHECK(name_is(nn_dataset_class_name(d, 1), "malignant"));
    CHECK(name_is(nn_dataset_class_name(d, 2), "zebra"));
    CHECK(nn_dataset_class_name(d, 3) == NULL);
    CHECK_CONTAINS(nn_last_error(), "class index 3 is outside 0..2");
    nn_dataset_free(d);
    d = NULL;
    CHECK(load_text(abc_text, &(nn_csv_opts){ .target = "c" }, &d) == NN_OK); /* numeric */
    CHECK(d && nn_dataset_class_count(d) == 0 && nn_dataset_class_name(d, 0) == NULL);
    nn_dataset_free(d);
}

TEST(string_labels_errors) {
    const char *m =
        text_failure("a,b,c\n1,x,2\n", &(nn_csv_opts){ .target = "b,c" }, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 2, column 2 'b': cell \"x\" is not a number; string class labels need "
                      "a single target column (2 were given)");
    m = text_failure("a,label\n1,cat\n2,3\n", &(nn_csv_opts){ .target = "label" }, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 3, column 2 'label': cell \"3\" is a number but line 2 holds the class "
                      "label \"cat\"");
    m = text_failure("a,label\n1,3\n2,cat\n", &(nn_csv_opts){ .target = "label" }, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 3, column 2 'label': cell \"cat\" is not a number but line 2 holds "
                      "the number \"3\"");
    for (int fill = 0; fill < 2; fill++) {
        m = text_failure("a,label\n1,cat\n2,\n",
                         &(nn_csv_opts){ .target = "label", .fill_missing = fill }, NN_ERR_DATA);
        CHECK_CONTAINS(m, "line 3, column 2 'label': cell \"\" is empty: a missing class label, "
                          "which fill_missing cannot fill");
    }
    /* filled as a number before the first label was seen */
    m = text_failure("a,label\n1,\n2,cat\n",
                     &(nn_csv_opts){ .target = "label", .fill_missing = true }, NN_ERR_DATA);
    CHECK_CONTAINS(m, "line 2, column 2 'label': cell \"\" is empty: a missing class label");
}

/* ---- cell values */

TEST(string_in_a_feature_column) {
    const char *m = text_failure("a,b,label\n1,2,cat\n3,dog,cat\n",
                                 &(nn_csv_opts){ .target_index = -1 }, NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 3, column 2 'b': cell \"dog\" is not a number");
    m = text_failure("a\n1\nabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz\n", NULL,
                     NN_ERR_FORMAT);
    CHECK_CONTAINS(m, "line 3, column 1 'a': cell \"abcdefghijklmnopqrstuvwxyzabcdefghijklmn...\" "
                      "is not a number");
}

TEST(empty_cells_are_errors_unless_filled) {
    const char *text = "a,b,target\n1,,0\n2,3,\n";
    const char *m = text_failure(text, &target_opts, NN_ERR_DATA);
    CHECK_CONTAINS(m, "line 2, column 2 'b': cell \"\" is empty: a missing value (set fill_missing "
                      "to fill it)");
    nn_dataset *d = NULL;
    nn_csv_opts filled = { .target = "target", .fill_missing = true, .fill_value = -1 };
    CHECK(load_text(text, &filled, &d) == NN_OK);
    CHECK(d && holds(nn_dataset_x(d), 2, 2, (float[]){ 1, -1, 2, 3 }));
    CHECK(d && holds(nn_dataset_y(d), 2, 1, (float[]){ 0, -1 }));
    nn_dataset_free(d);
    m = load_failure("data/breast_cancer_test.csv",
                     &(nn_csv_opts){ .fill_missing = true, .fill_value = 1e300 }, NN_ERR_ARG);
    CHECK_CONTAINS(m, "CSV fill_value 1e+300 is not a finite float32");
}

TEST(binary_file_is_refused) {
    char path[32];
    write_temp(path, "");
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite("a,b\n\0,1\n", 1, 8, f) == 8);
    if (f) fclose(f);
    const char *m = load_failure(path, NULL, NN_ERR_FORMAT);
    remove(path);
    CHECK_CONTAINS(m, "byte 4: a NUL byte; this is not a text file");
}

/* A header of 20,000 columns over 20,000 one-cell rows would size x at 1.6 GB: the short rows
 * are found before x is allocated. */
TEST(ragged_rows_found_before_sizing_x) {
    enum { columns = 20000, rows = 20000 };
    static char text[columns * 8 + rows * 2 + 16];
    size_t used = 0;
    for (int i = 0; i < columns; i++) used += (size_t)sprintf(text + used, i ? ",c%d" : "c%d", i);
    for (int i = 0; i < rows; i++) used += (size_t)sprintf(text + used, "\n1");
    failing_alloc watch; /* notes the largest request */
    failing_alloc_install(&watch, FAILING_ALLOC_NONE);
    const char *m = text_failure(text, NULL, NN_ERR_FORMAT);
    nn_set_allocator(NULL);
    CHECK_CONTAINS(m, "line 2: expected 20000 cells as in the header (line 1), got 1: column 2 "
                      "'c1' is missing");
    CHECK(watch.largest < 4 * sizeof text);
}

/* ---- writing */

static char *read_text(const char *path) {
    static char text[4096];
    FILE *f = fopen(path, "rb");
    size_t length = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[length] = '\0';
    return text;
}

/* Saves t, loads it back (no header row, so none is detected) and returns x. */
static nn_dataset *save_and_load(const nn_tensor *t) {
    char path[32];
    write_temp(path, "");
    nn_dataset *d = NULL;
    CHECK(nn_csv_save(path, t, NULL) == NN_OK);
    CHECK(nn_csv_load(path, NULL, &d) == NN_OK);
    if (!d) printf("  %s\n", nn_last_error());
    remove(path);
    return d;
}

/* Loaded values equal numpy's loadtxt(...).astype(float32): the text read as a double, then
 * rounded to float32; for float32 values that is the value itself, bit for bit. */
static int count_mismatches(const nn_dataset *d, const nn_tensor *saved) {
    int mismatches = 0;
    int64_t n = nn_tensor_size(saved);
    if (!d || nn_tensor_size(nn_dataset_x(d)) != n) return -1;
    const float *loaded = nn_tensor_f32(nn_dataset_x(d));
    for (int64_t i = 0; i < n; i++) {
        float expected = (float)nn_tensor_get(saved, i);
        if (saved->dtype == NN_INT64)
            expected = (float)(double)((const int64_t *)saved->data)[i];
        if (memcmp(&loaded[i], &expected, sizeof expected) != 0 && mismatches++ < 5)
            printf("  element %lld: saved %.17g, loaded %.9g\n", (long long)i,
                   nn_tensor_get(saved, i), loaded[i]);
    }
    return mismatches;
}

TEST(save_then_load_is_bit_exact) {
    enum { rows = 500, columns = 4 };
    nn_tensor *f32 = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ rows, columns });
    nn_tensor *f64 = nn_tensor_new(NN_FLOAT64, 2, (int64_t[]){ rows, columns });
    nn_tensor *i64 = nn_tensor_new(NN_INT64, 2, (int64_t[]){ rows, columns });
    static const float special[] = { 0.1f, -0.0f, 1e-45f, 1.17549435e-38f, 3.40282347e38f,
                                     -3.40282347e38f, 1.0f / 3, 16777216.0f };
    uint64_t state = 7;
    float *a = nn_tensor_f32(f32);
    double *b = f64->data;
    int64_t *c = i64->data;
    for (int i = 0; i < rows * columns; i++) {
        uint32_t bits = (uint32_t)next_random(&state) << 1 ^ (uint32_t)next_random(&state);
        memcpy(&a[i], &bits, sizeof bits);
        if (!isfinite(a[i])) a[i] = special[i % 8];
        if (i < 8) a[i] = special[i];
        int exponent = (int)(next_random(&state) % 190) - 130; /* within float32's range */
        b[i] = ldexp((double)next_random(&state) * next_random(&state), exponent);
        if (i % 2) b[i] = -b[i] / 3;
        c[i] = (int64_t)(next_random(&state) << 31 ^ next_random(&state)) >> (i % 63);
    }
    c[0] = INT64_MAX, c[1] = INT64_MIN, c[2] = (INT64_C(1) << 53) + 1, c[3] = 0;
    const nn_tensor *saved[] = { f32, f64, i64 };
    for (int k = 0; k < 3; k++) {
        nn_dataset *d = save_and_load(saved[k]);
        CHECK(d && nn_dataset_x(d)->shape[0] == rows && nn_dataset_x(d)->shape[1] == columns);
        CHECK(count_mismatches(d, saved[k]) == 0);
        nn_dataset_free(d);
    }
    nn_tensor_free(f32);
    nn_tensor_free(f64);
    nn_tensor_free(i64);
}

TEST(save_with_header_names) {
    static const char *const names[] = { "\xEF\xBB\xBF" "bom", "with,comma", "say \"hi\"", "#hash",
                                         " padded ", "", NULL };
    nn_tensor *t = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ 2, 6 });
    for (int i = 0; i < 12; i++) nn_tensor_f32(t)[i] = (float)i / 4;
    char path[32];
    write_temp(path, "");
    CHECK(nn_csv_save(path, t, names) == NN_OK);
    CHECK(strcmp(read_text(path), "\"\xEF\xBB\xBF" "bom\",\"with,comma\",\"say \"\"hi\"\"\","
                                  "\"#hash\",\" padded \",\"\"\n"
                                  "0,0.25,0.5,0.75,1,1.25\n1.5,1.75,2,2.25,2.5,2.75\n") == 0);
    nn_dataset *d = NULL;
    CHECK(nn_csv_load(path, &(nn_csv_opts){ .header = 1 }, &d) == NN_OK);
    remove(path);
    for (int i = 0; d && i < 6; i++) CHECK(name_is(nn_dataset_feature_name(d, i), names[i]));
    CHECK(d && holds(nn_dataset_x(d), 2, 6, nn_tensor_f32(t)));
    nn_dataset_free(d);

    const char *m = "";
    CHECK(nn_csv_save(path, t, (const char *const[]){ "a", NULL }) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "header has 1 names for 6 columns");
    CHECK(nn_csv_save(path, t, (const char *const[]){ "a", "b", "c", "d", "e", "f", "g", NULL }) ==
          NN_ERR_ARG);
    m = nn_last_error();
    CHECK_CONTAINS(m, "nn_csv_save '");
    CHECK_CONTAINS(m, "': header has more names than the 6 columns");
    CHECK(access(path, F_OK) != 0);
    nn_tensor_free(t);
}

TEST(save_one_dimension_and_refuse_three) {
    nn_tensor *t = nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 3 });
    memcpy(t->data, (float[]){ 1.5f, -2, 3 }, 3 * sizeof(float));
    char path[32];
    write_temp(path, "");
    CHECK(nn_csv_save(path, t, (const char *const[]){ "v", NULL }) == NN_OK);
    CHECK(strcmp(read_text(path), "v\n1.5\n-2\n3\n") == 0);
    nn_dataset *d = NULL;
    CHECK(nn_csv_load(path, NULL, &d) == NN_OK);
    CHECK(d && holds(nn_dataset_x(d), 3, 1, (float[]){ 1.5f, -2, 3 }));
    nn_dataset_free(d);
    CHECK(nn_csv_save(path, t, NULL) == NN_OK);
    CHECK(strcmp(read_text(path), "1.5\n-2\n3\n") == 0);
    nn_tensor_free(t);

    t = nn_tensor_new(NN_FLOAT32, 3, (int64_t[]){ 2, 2, 2 });
    remove(path);
    CHECK(nn_csv_save(path, t, NULL) == NN_ERR_SHAPE);
    CHECK_CONTAINS(nn_last_error(), "': a tensor of shape (2, 2, 2) has 3 dimensions; CSV holds "
                                    "1-D (N,) or 2-D (N, C) arrays");
    CHECK_CONTAINS(nn_last_error(), path);
    CHECK(access(path, F_OK) != 0);
    nn_tensor_free(t);
}

/* Fails the 1st, 2nd, ... allocation of one load until a load succeeds; returns how many
 * failed, each cleanly. */
static int sweep_allocation_failures(const char *path, const nn_csv_opts *opts, int64_t rows) {
    int failures = 0;
    bool loaded = false;
    for (long n = 1; n <= 100 && !loaded; n++) {
        failing_alloc state;
        failing_alloc_install(&state, n);
        nn_dataset *d = (nn_dataset *)&d;
        int status = nn_csv_load(path, opts, &d);
        nn_set_allocator(NULL);
        loaded = status == NN_OK;
        if (!loaded) {
            failures++;
            CHECK(status == NN_ERR_NOMEM);
            CHECK(d == NULL);
            CHECK_CONTAINS(nn_last_error(), "loading '");
            CHECK_CONTAINS(nn_last_error(), path);
            CHECK_CONTAINS(nn_last_error(), "': out of memory");
        } else {
            CHECK(nn_dataset_size(d) == rows);
            nn_dataset_free(d);
        }
    } /* ASan's leak check at exit reports anything a failed load left behind */
    CHECK(loaded);
    return failures;
}

TEST(allocation_failures_fail_cleanly) {
    /* buffer, names, targets, x, y, dataset: each allocation was tried failing */
    CHECK(sweep_allocation_failures("data/breast_cancer_train.csv", &target_opts, 455) >= 6);
    char path[32];
    write_temp(path, "# string labels, quoted, two lines\n\"f 1\",f2,label\n1,2,\"b\nb\"\n3,4,a\n"
                     "5,6,\"b\nb\"\n");
    /* and the labels' sort buffer and class names */
    CHECK(sweep_allocation_failures(path, &(nn_csv_opts){ .target = "label" }, 3) >= 8);
    CHECK(sweep_allocation_failures("data/breast_cancer_train.csv",
                                    &(nn_csv_opts){ .target = "target, mean_radius" }, 455) >= 6);
    remove(path);
}

TEST(bundled_breast_cancer_is_found) {
    nn_dataset *train = NULL, *test = NULL;
    CHECK(nn_breast_cancer_load(NULL, &train, &test) == NN_OK);
    CHECK(train && nn_dataset_size(train) == 455 && nn_dataset_x(train)->shape[1] == 30);
    CHECK(test && nn_dataset_size(test) == 114);
    nn_dataset_free(train), nn_dataset_free(test);
    CHECK(nn_breast_cancer_load("data", NULL, &test) == NN_OK && nn_dataset_size(test) == 114);
    nn_dataset_free(test);
    CHECK(nn_breast_cancer_load("no_such_dir", &train, &test) == NN_ERR_IO && !train && !test);
    CHECK_CONTAINS(nn_last_error(), "no 'breast_cancer_train.csv' in 'no_such_dir'");
}

int main(void) {
    RUN_TESTS(bundled_breast_cancer_is_found, loads_breast_cancer_train, loads_breast_cancer_test,
              without_target_every_column_is_a_feature, parses_messy_but_valid_text,
              quoted_cells_hold_delimiters_and_escaped_quotes,
              multi_line_quoted_cells_keep_line_numbers, unterminated_quote_at_end_of_file,
              comment_lines_are_skipped, no_header_names_columns_by_number, header_detection,
              delimiter_detection, numbers_match_strtod_then_float32, reads_a_pipe_of_unknown_size,
              missing_file_names_the_file_and_reason, empty_file, header_only,
              missing_target_lists_the_columns, missing_target_list_is_truncated, ragged_rows,
              non_numeric_cell_is_quoted, non_finite_cells, target_by_index,
              two_targets_in_the_order_asked, string_labels_become_sorted_class_indices,
              string_labels_errors, string_in_a_feature_column,
              empty_cells_are_errors_unless_filled, binary_file_is_refused,
              ragged_rows_found_before_sizing_x, save_then_load_is_bit_exact,
              save_with_header_names, save_one_dimension_and_refuse_three, bad_arguments,
              dataset_new_checks_first_dimensions, allocation_failures_fail_cleanly);
}
