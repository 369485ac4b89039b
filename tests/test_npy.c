/* .npy and .npz: files written by real numpy (tests/gen/make_npy_ref.py) read back bit-exact for
 * every dtype, byte order, format version and Fortran order, mapped or read; nn's own files
 * are byte-identical to numpy's and round-trip for every dtype; numpy reads nn's files (when
 * python3 with numpy is installed); every kind of bad file is refused with a message naming the
 * file and the byte offset; allocation failure anywhere in loading or saving leaks nothing. */
#include "test.h"
#include "scratch.h"
#include "failing_alloc.h"

#include <nn.h>

#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define REF_DIR "tests/data/npy/"
#define EXPECTED REF_DIR "expected.txt"

/* ------------------------------------------------------------ helpers */

/* Replaces every occurrence of `from` by `to` (same length); returns how many. */
static int patch_all(unsigned char *buf, size_t size, const char *from, const char *to) {
    size_t n = strlen(from);
    int count = 0;
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(buf + i, from, n) == 0) memcpy(buf + i, to, n), count++;
    return count;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const bool host_little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

/* The tensor's bytes as little-endian hex, as expected.txt writes them ("-" when empty). */
static void tensor_hex(const nn_tensor *t, char *out, size_t cap) {
    size_t size = nn_dtype_size(t->dtype), count = (size_t)nn_tensor_size(t), used = 0;
    const unsigned char *p = t->data;
    for (size_t i = 0; i < count; i++)
        for (size_t b = 0; b < size && used + 3 <= cap; b++)
            used += (size_t)snprintf(out + used, cap - used, "%02x", p[i * size + (host_little ? b : size - 1 - b)]);
    if (!count) snprintf(out, cap, "-");
}

/* One line of expected.txt. */
typedef struct expected {
    char file[64], member[16], dtype[16], hex[1024];
    int ndim;
    int64_t shape[NN_MAX_DIMS];
} expected;

static int read_expected(expected *rows, int cap) {
    FILE *f = fopen(EXPECTED, "r");
    CHECK(f != NULL);
    int n = 0;
    char line[2048];
    while (f && n < cap && fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        expected *e = &rows[n];
        memset(e, 0, sizeof *e);
        char name[64];
        int used = 0;
        if (sscanf(line, "%63s %15s %d%n", name, e->dtype, &e->ndim, &used) != 3) continue;
        char *rest = line + used;
        for (int i = 0; i < e->ndim; i++) e->shape[i] = strtoll(rest, &rest, 10);
        sscanf(rest, "%1023s", e->hex);
        char *hash = strchr(name, '#');
        if (hash) snprintf(e->member, sizeof e->member, "%s", hash + 1), *hash = '\0';
        snprintf(e->file, sizeof e->file, "%s", name);
        n++;
    }
    if (f) fclose(f);
    return n;
}

static void check_tensor(const nn_tensor *t, const expected *e) {
    CHECK(t != NULL);
    if (!t) return;
    CHECK(strcmp(nn_dtype_name(t->dtype), e->dtype) == 0);
    CHECK(t->ndim == e->ndim);
    for (int i = 0; i < e->ndim && i < t->ndim; i++) CHECK(t->shape[i] == e->shape[i]);
    char hex[1024];
    tensor_hex(t, hex, sizeof hex);
    if (strcmp(hex, e->hex) != 0) printf("  %s %s: got %s, expected %s\n", e->file, e->member, hex, e->hex);
    CHECK(strcmp(hex, e->hex) == 0);
}

static const char *npy_error(const char *path, const nn_npy_opts *opts, int expected_status) {
    nn_tensor *t = (nn_tensor *)&t;
    int status = nn_npy_load(path, opts, &t);
    CHECK(status == expected_status);
    CHECK(t == NULL);
    if (status != expected_status) printf("  %s: got %s: %s\n", path, nn_status_name(status), nn_last_error());
    if (status == NN_OK) nn_tensor_free(t);
    return nn_last_error();
}

static const char *npz_error(const char *path, const nn_npz_opts *opts) {
    nn_npz *z = (nn_npz *)&z;
    int status = nn_npz_load(path, opts, &z);
    CHECK(status == NN_ERR_FORMAT);
    CHECK(z == NULL);
    if (status != NN_ERR_FORMAT) printf("  %s: got %s: %s\n", path, nn_status_name(status), nn_last_error());
    if (status == NN_OK) nn_npz_free(z);
    return nn_last_error();
}

/* A tensor of `dtype` whose bytes are a fixed pattern (every bit pattern is a valid value). */
static nn_tensor *patterned(nn_dtype dtype, int ndim, const int64_t *shape) {
    nn_tensor *t = nn_tensor_new(dtype, ndim, shape);
    size_t bytes = (size_t)nn_tensor_size(t) * nn_dtype_size(dtype);
    for (size_t i = 0; i < bytes; i++) ((unsigned char *)t->data)[i] = (unsigned char)(i * 37 + 11 + dtype);
    if (dtype == NN_BOOL)
        for (size_t i = 0; i < bytes; i++) ((unsigned char *)t->data)[i] &= 1;
    return t;
}

static bool same_tensor(const nn_tensor *a, const nn_tensor *b) {
    if (!a || !b || a->dtype != b->dtype || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return memcmp(a->data, b->data, (size_t)nn_tensor_size(a) * nn_dtype_size(a->dtype)) == 0;
}

/* Writes a .npy of the given version with `dict` as its header and `payload` zero bytes. */
static void write_npy(const char *path, int version, const char *dict, size_t payload) {
    size_t dict_length = strlen(dict), prefix = version == 1 ? 10 : 12, size = prefix + dict_length + payload;
    unsigned char *buf = calloc(1, size);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)version;
    if (version == 1) buf[8] = (unsigned char)dict_length, buf[9] = (unsigned char)(dict_length >> 8);
    else put_u32(buf + 8, (uint32_t)dict_length);
    memcpy(buf + prefix, dict, dict_length);
    write_bytes(path, buf, size);
    free(buf);
}

/* ------------------------------------------------------------ numpy's files */

TEST(reads_every_numpy_file_bit_exact) {
    expected rows[64];
    int n = read_expected(rows, 64), checked = 0;
    CHECK(n == 36);
    for (int i = 0; i < n; i++) {
        if (rows[i].member[0]) continue;
        char path[128];
        snprintf(path, sizeof path, REF_DIR "%.63s", rows[i].file);
        for (int mapped = 0; mapped < 2; mapped++) {
            nn_tensor *t = NULL;
            int status = nn_npy_load(path, &(nn_npy_opts){ .mmap = mapped }, &t);
            if (status) printf("  %s: %s\n", path, nn_last_error());
            CHECK(status == NN_OK);
            check_tensor(t, &rows[i]);
            /* little-endian C-order files are mapped when asked; the others are read */
            bool mappable = !strstr(path, "_be") && !strstr(path, "fortran");
            if (t) CHECK(t->owns_data == !(mapped && mappable));
            if (t) CHECK((t->mapping_ != NULL) == (mapped && mappable));
            nn_tensor_free(t);
            checked++;
        }
    }
    CHECK(checked == 2 * 30);
}

TEST(mapped_tensor_is_copy_on_write) {
    nn_tensor *t = NULL;
    CHECK(nn_npy_load(REF_DIR "f4_le.npy", &(nn_npy_opts){ .mmap = true }, &t) == NN_OK);
    if (!t) return;
    float *v = nn_tensor_f32(t);
    v[1] = 123.0f; /* private mapping: the file keeps its value */
    nn_tensor *again = NULL;
    CHECK(nn_npy_load(REF_DIR "f4_le.npy", NULL, &again) == NN_OK);
    if (again) CHECK(nn_tensor_f32(again)[1] == -1.5f);
    nn_tensor_free(again);
    nn_tensor_free(t);
}

TEST(reads_numpy_npz_stored_deflated_and_zip64) {
    expected rows[64];
    int n = read_expected(rows, 64), checked = 0;
    for (int i = 0; i < n; i++) {
        if (!rows[i].member[0]) continue;
        char path[128];
        snprintf(path, sizeof path, REF_DIR "%.63s", rows[i].file);
        nn_npz *z = NULL;
        int status = nn_npz_load(path, NULL, &z);
        if (status) printf("  %s: %s\n", path, nn_last_error());
        CHECK(status == NN_OK);
        CHECK(nn_npz_count(z) == 2);
        CHECK(nn_npz_name(z, 0) && strcmp(nn_npz_name(z, 0), "x") == 0);
        CHECK(nn_npz_name(z, 1) && strcmp(nn_npz_name(z, 1), "y") == 0);
        CHECK(nn_npz_name(z, 2) == NULL && nn_npz_name(z, -1) == NULL);
        CHECK(nn_npz_get(z, "missing") == NULL && nn_npz_get(z, "x.npy") == NULL);
        check_tensor(nn_npz_get(z, rows[i].member), &rows[i]);
        nn_npz_free(z);
        checked++;
    }
    CHECK(checked == 6);
    CHECK(nn_npz_count(NULL) == 0 && nn_npz_name(NULL, 0) == NULL && nn_npz_get(NULL, "x") == NULL);
    nn_npz_free(NULL);
}

/* ------------------------------------------------------------ writing */

TEST(saved_files_are_byte_identical_to_numpy) {
    expected rows[64];
    int n = read_expected(rows, 64), compared = 0;
    for (int i = 0; i < n; i++) {
        const char *f = rows[i].file;
        /* nn writes native order, C order, version 1.0: compare the files numpy wrote the same way */
        if (rows[i].member[0] || strstr(f, "_be") || strstr(f, "fortran") || strstr(f, "version2") || strstr(f, "version3"))
            continue;
        char path[128];
        snprintf(path, sizeof path, REF_DIR "%.63s", f);
        nn_tensor *t = NULL;
        CHECK(nn_npy_load(path, NULL, &t) == NN_OK);
        const char *out = scratch("same.npy");
        CHECK(nn_npy_save(out, t) == NN_OK);
        size_t a_size = 0, b_size = 0;
        unsigned char *a = read_bytes(path, &a_size), *b = read_bytes(out, &b_size);
        bool same = a && b && a_size == b_size && memcmp(a, b, a_size) == 0;
        if (!same) printf("  %s differs from numpy's file\n", f);
        CHECK(same);
        free(a);
        free(b);
        nn_tensor_free(t);
        compared++;
    }
    CHECK(compared == 17);
}

TEST(save_load_round_trips_every_dtype) {
    static const int64_t shapes[][NN_MAX_DIMS] = { { 0 }, { 7 }, { 2, 3 }, { 2, 1, 3, 1, 2, 1, 2, 1 }, { 0, 5 } };
    static const int ranks[] = { 0, 1, 2, 8, 2 };
    for (int d = 0; d < NN_DTYPE_COUNT; d++)
        for (size_t s = 0; s < sizeof ranks / sizeof ranks[0]; s++) {
            nn_tensor *t = patterned((nn_dtype)d, ranks[s], shapes[s]);
            const char *path = scratch("round.npy");
            CHECK(nn_npy_save(path, t) == NN_OK);
            for (int mapped = 0; mapped < 2; mapped++) {
                nn_tensor *back = NULL;
                CHECK(nn_npy_load(path, &(nn_npy_opts){ .mmap = mapped }, &back) == NN_OK);
                if (!same_tensor(t, back)) printf("  %s rank %d (mmap %d) differs\n", nn_dtype_name((nn_dtype)d), ranks[s], mapped);
                CHECK(same_tensor(t, back));
                nn_tensor_free(back);
            }
            nn_tensor_free(t);
        }
}

TEST(npz_round_trips_stored_and_compressed) {
    nn_tensor *a = patterned(NN_FLOAT32, 2, (int64_t[]){ 30, 40 }), *b = patterned(NN_UINT8, 1, (int64_t[]){ 5 });
    nn_tensor *zeros = nn_tensor_new(NN_FLOAT64, 2, (int64_t[]){ 100, 100 }), *scalar = patterned(NN_INT64, 0, NULL);
    const char *names[] = { "weights", "labels", "zeros", "scalar" };
    const nn_tensor *arrays[] = { a, b, zeros, scalar };
    size_t sizes[2] = { 0, 0 };
    for (int compress = 0; compress < 2; compress++) {
        const char *path = scratch(compress ? "c.npz" : "s.npz");
        CHECK(nn_npz_save(path, names, arrays, 4, compress) == NN_OK);
        struct stat st;
        CHECK(stat(path, &st) == 0);
        sizes[compress] = (size_t)st.st_size;
        nn_npz *z = NULL;
        CHECK(nn_npz_load(path, NULL, &z) == NN_OK);
        CHECK(nn_npz_count(z) == 4);
        for (int i = 0; i < 4; i++) {
            CHECK(nn_npz_name(z, i) && strcmp(nn_npz_name(z, i), names[i]) == 0);
            CHECK(same_tensor(nn_npz_get(z, names[i]), arrays[i]));
        }
        nn_npz_free(z);
    }
    CHECK(sizes[1] < sizes[0] / 4); /* the zeros deflate away */
    /* an archive of no arrays is valid, as numpy's savez() with no arguments */
    const char *empty = scratch("empty.npz");
    CHECK(nn_npz_save(empty, NULL, NULL, 0, false) == NN_OK);
    nn_npz *z = NULL;
    CHECK(nn_npz_load(empty, NULL, &z) == NN_OK);
    CHECK(nn_npz_count(z) == 0);
    nn_npz_free(z);
    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_tensor_free(zeros);
    nn_tensor_free(scalar);
}

TEST(numpy_reads_what_nn_writes) {
    if (system("python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        printf("  note: python3 with numpy is not installed; skipping the check that numpy reads nn's files\n");
        return;
    }
    expected rows[64];
    int n = read_expected(rows, 64);
    /* every reference .npy loaded and saved by nn, and both .npz reference archives rewritten */
    for (int i = 0; i < n; i++) {
        char path[128], out[256];
        snprintf(path, sizeof path, REF_DIR "%.63s", rows[i].file);
        snprintf(out, sizeof out, "%s", scratch(rows[i].file));
        if (!rows[i].member[0]) {
            nn_tensor *t = NULL;
            CHECK(nn_npy_load(path, NULL, &t) == NN_OK);
            CHECK(nn_npy_save(out, t) == NN_OK);
            nn_tensor_free(t);
        } else if (strcmp(rows[i].member, "x") == 0) {
            nn_npz *z = NULL;
            CHECK(nn_npz_load(path, NULL, &z) == NN_OK);
            const nn_tensor *arrays[] = { nn_npz_get(z, "x"), nn_npz_get(z, "y") };
            CHECK(nn_npz_save(out, (const char *[]){ "x", "y" }, arrays, 2, strstr(path, "compressed") != NULL) == NN_OK);
            nn_npz_free(z);
        }
    }
    char script[1024];
    snprintf(script, sizeof script,
             "python3 -c '\n"
             "import numpy as np, os, sys\n"
             "ref, mine = sys.argv[1], sys.argv[2]\n"
             "for line in open(ref + \"expected.txt\"):\n"
             "    name = line.split()[0]\n"
             "    if name.startswith(\"#\"): continue\n"
             "    file, _, member = name.partition(\"#\")\n"
             "    a, b = np.load(ref + file), np.load(os.path.join(mine, file))\n"
             "    if member: a, b = a[member], b[member]\n"
             "    assert a.dtype.kind == b.dtype.kind and a.dtype.itemsize == b.dtype.itemsize, name\n"
             "    assert np.array_equal(a, b, equal_nan=a.dtype.kind == \"f\"), name\n"
             "print(\"numpy read\", sum(1 for l in open(ref + \"expected.txt\") if l[0] != \"#\"), \"arrays\")\n"
             "' %s %s",
             REF_DIR, scratch_dir());
    CHECK(system(script) == 0);
}

TEST(save_errors) {
    nn_tensor *t = patterned(NN_FLOAT32, 1, (int64_t[]){ 3 });
    CHECK(nn_npy_save(NULL, t) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "nn_npy_save: path is NULL");
    CHECK(nn_npy_save("x.npy", NULL) == NN_ERR_ARG);
    CHECK(nn_npy_save("/nonexistent_dir_nn/x.npy", t) == NN_ERR_IO);
    CHECK_CONTAINS(nn_last_error(), "/nonexistent_dir_nn/x.npy");
    const nn_tensor *arrays[] = { t, t };
    const char *path = scratch("bad.npz");
    static const struct { const char *name, *message; } bad_names[] = {
        { "../x", "array name '../x' has a '..' component" },
        { "/abs", "array name '/abs' is an absolute path" },
        { "a\\b", "array name 'a\\b' holds a backslash" },
        { "", "array name '' is empty" },
    };
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        CHECK(nn_npz_save(path, (const char *[]){ "ok", bad_names[i].name }, arrays, 2, false) == NN_ERR_ARG);
        CHECK_CONTAINS(nn_last_error(), bad_names[i].message);
    }
    CHECK(nn_npz_save(path, (const char *[]){ "a", "a" }, arrays, 2, true) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "array name 'a' is given twice");
    CHECK(nn_npz_save(path, (const char *[]){ "a", NULL }, arrays, 2, true) == NN_ERR_ARG);
    CHECK(nn_npz_save(path, NULL, arrays, 2, true) == NN_ERR_ARG);
    CHECK(nn_npz_save(path, (const char *[]){ "a" }, arrays, -1, true) == NN_ERR_ARG);
    CHECK(access(path, F_OK) != 0); /* nothing written by a refused call */
    nn_tensor_free(t);
}

/* ------------------------------------------------------------ bad .npy files */

TEST(bad_npy_files_are_refused_with_position) {
    nn_tensor *t = (nn_tensor *)&t;
    CHECK(nn_npy_load(NULL, NULL, &t) == NN_ERR_ARG && t == NULL);
    CHECK(nn_npy_load("x.npy", NULL, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(npy_error("no/such/file.npy", NULL, NN_ERR_IO), "cannot open 'no/such/file.npy'");
    CHECK_CONTAINS(npy_error(REF_DIR, NULL, NN_ERR_IO), "is not a regular file");

    /* truncated inside the data: the header's 24 bytes of float32 do not fit */
    size_t size = 0;
    unsigned char *good = read_bytes(REF_DIR "f4_le.npy", &size);
    const char *path = scratch("bad.npy");
    write_bytes(path, good, size - 4);
    char expected[256];
    snprintf(expected, sizeof expected, "'%s', byte offset 128: truncated: the header declares 24 bytes of array data but the file holds 20 after the header", path);
    CHECK_CONTAINS(npy_error(path, NULL, NN_ERR_FORMAT), expected);
    CHECK_CONTAINS(npy_error(path, &(nn_npy_opts){ .mmap = true }, NN_ERR_FORMAT), expected);
    /* trailing bytes after the data */
    unsigned char *longer = calloc(1, size + 3);
    memcpy(longer, good, size);
    write_bytes(path, longer, size + 3);
    snprintf(expected, sizeof expected, "'%s', byte offset 152: 3 unexpected trailing bytes after the array data", path);
    CHECK_CONTAINS(npy_error(path, NULL, NN_ERR_FORMAT), expected);
    free(longer);
    /* truncated inside the header, and inside the preamble */
    write_bytes(path, good, 60);
    CHECK_CONTAINS(npy_error(path, NULL, NN_ERR_FORMAT), "byte offset 10: truncated: the 118-byte header runs past the end of the file (60 bytes)");
    write_bytes(path, good, 7);
    CHECK_CONTAINS(npy_error(path, NULL, NN_ERR_FORMAT), "byte offset 7: truncated: the file ends inside the .npy preamble");
    write_bytes(path, good, 0);
    CHECK_CONTAINS(npy_error(path, NULL, NN_ERR_FORMAT), "byte offset 0: truncated");
    /* wrong magic; unknown version */
    good[5] = 'Z';
    write_bytes(path, good, size);
    snprintf(expected, sizeof expected, "'%s', byte offset 0: not a .npy file: it does not start with \"\\x93NUMPY\"", path);
    CHECK_CONTAINS(npy_error(path, NULL, NN_ERR_FORMAT), expected);
    good[5] = 'Y';
    good[6] = 4;
    write_bytes(path, good, size);
    CHECK_CONTAINS(npy_error(path, NULL, NN_ERR_FORMAT), "byte offset 6: unsupported .npy format version 4.0");
    free(good);

    /* header problems, each at its byte offset (the dict starts at byte 10) */
    static const struct { const char *dict; size_t payload; const char *message; } cases[] = {
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", 8,
          "byte offset 70: truncated: the header declares 4000 bytes of array data but the file holds 8 after the header" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", 0,
          "byte offset 10: shape (4294967296, 4294967296, 16) of float32 overflows the address space" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 4), }", 0, "byte offset 61: shape dimension 0 is negative (-3)" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 99999999999999999999), }", 0,
          "byte offset 64: shape dimension 1 is absurdly large" },
        { "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 0,
          "byte offset 20: dtype '<c8' (strings, bytes, void, complex or dates) is not supported" },
        { "{'descr': '<f16', 'fortran_order': False, 'shape': (2,), }", 0, "byte offset 20: unsupported dtype '<f16'" },
        { "{'descr': '<x4', 'fortran_order': False, 'shape': (2,), }", 0, "byte offset 20: unsupported dtype '<x4'" },
        { "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 0,
          "byte offset 20: object arrays (dtype '|O') are refused: their data is a Python pickle" },
        { "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 0,
          "byte offset 20: structured (record) dtypes are not supported" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 0, "byte offset 63: shape (n) is not a tuple" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 0, "shape has more than 8 dimensions" },
        { "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", 0, "byte offset 44: fortran_order must be True or False" },
        { "{'descr': '<f4', 'shape': (2,), }", 8, "byte offset 43: the header has no 'fortran_order' key" },
        { "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8, "byte offset 27: key 'descr' appears twice" },
        { "{'descr': '<f4', 'order': 'C', 'fortran_order': False, 'shape': (2,), }", 8, "byte offset 27: unexpected key 'order'" },
        { "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 8, "byte offset 68: unexpected text after the header dict" },
        { "['descr']", 8, "byte offset 10: the header is not a Python dict" },
        { "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,), }", 8, "escape sequences are not expected" },
        { "{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", 8, "byte offset 20: unsupported dtype '<f4, '" },
        { "{'descr': '<f4'", 8, "byte offset 25: expected ',' or '}' in the header dict" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_npy(path, 1, cases[i].dict, cases[i].payload);
        const char *message = npy_error(path, NULL, NN_ERR_FORMAT);
        CHECK_CONTAINS(message, path);
        CHECK_CONTAINS(message, cases[i].message);
    }
    /* Python 2's long suffix and big-endian '=' style orders are accepted */
    write_npy(path, 1, "{'descr': '=i2', 'fortran_order': False, 'shape': (2L, 1L), }", 4);
    CHECK(nn_npy_load(path, NULL, &t) == NN_OK);
    if (t) CHECK(t->dtype == NN_INT16 && t->ndim == 2 && t->shape[0] == 2);
    nn_tensor_free(t);

    /* a header over 64 KiB, refused before it is read */
    char *huge = malloc(70001);
    memset(huge, ' ', 70000);
    huge[70000] = '\0';
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    memcpy(huge, dict, strlen(dict));
    write_npy(path, 2, huge, 8);
    CHECK_CONTAINS(npy_error(path, NULL, NN_ERR_FORMAT), "byte offset 8: the header is 70000 bytes, over the limit of 65536");
    free(huge);

    /* numpy's object array (a pickle) */
    CHECK_CONTAINS(npy_error(REF_DIR "object.npy", NULL, NN_ERR_FORMAT),
                   "'" REF_DIR "object.npy', byte offset 20: object arrays (dtype '|O') are refused");
}

/* ------------------------------------------------------------ bad .npz files */

/* Saves two small arrays as a stored (or deflated) archive and reads its bytes back. */
static unsigned char *small_archive(const char *path, bool compress, const char *first, size_t *size) {
    nn_tensor *a = patterned(NN_FLOAT32, 1, (int64_t[]){ 3 }), *b = patterned(NN_INT32, 1, (int64_t[]){ 2 });
    CHECK(nn_npz_save(path, (const char *[]){ first, "bcdy" }, (const nn_tensor *[]){ a, b }, 2, compress) == NN_OK);
    nn_tensor_free(a);
    nn_tensor_free(b);
    return read_bytes(path, size);
}

TEST(bad_npz_files_are_refused_with_position) {
    nn_npz *z = (nn_npz *)&z;
    CHECK(nn_npz_load(NULL, NULL, &z) == NN_ERR_ARG && z == NULL);
    CHECK(nn_npz_load("x.npz", NULL, NULL) == NN_ERR_ARG);
    CHECK(nn_npz_load("no/such.npz", NULL, &z) == NN_ERR_IO);
    CHECK_CONTAINS(nn_last_error(), "cannot open 'no/such.npz'");
    const char *path = scratch("bad.npz");
    char expected[320];

    /* zip slip: names patched in place (same length) in the local and central headers */
    static const struct { const char *name, *reason; } slips[] = {
        { "../x.npy", "has a '..' component" }, { "a/../../", "has a '..' component" },
        { "/abc.npy", "is an absolute path" },  { "a\\bc.npy", "holds a backslash" },
        { "abcx.txt", "is not a .npy array" },
    };
    size_t size = 0;
    for (size_t i = 0; i < sizeof slips / sizeof slips[0]; i++) {
        unsigned char *bytes = small_archive(path, false, "abcx", &size);
        CHECK(patch_all(bytes, size, "abcx.npy", slips[i].name) == 2);
        write_bytes(path, bytes, size);
        size_t central = get_u32(bytes + size - 6); /* the first central entry */
        snprintf(expected, sizeof expected, "'%s', byte offset %zu: member name '%s' %s", path, central, slips[i].name, slips[i].reason);
        CHECK_CONTAINS(npz_error(path, NULL), expected);
        free(bytes);
    }

    /* a deflate bomb made by Python's zipfile, and the cap on declared sizes */
    CHECK_CONTAINS(npz_error(REF_DIR "bomb.npz", NULL),
                   "'" REF_DIR "bomb.npz', byte offset 8281: member 'zeros.npy' would inflate 8242 bytes to 8388736, over 1000x: refused as a zip bomb");
    CHECK_CONTAINS(npz_error(REF_DIR "arrays.npz", &(nn_npz_opts){ .max_bytes = 100 }),
                   "member 'x.npy' declares 176 bytes, over the limit of 100");
    nn_npz *fits = NULL;
    CHECK(nn_npz_load(REF_DIR "arrays.npz", &(nn_npz_opts){ .max_bytes = 176 }, &fits) == NN_OK);
    nn_npz_free(fits);

    /* sizes that lie: declared larger than 1000x, smaller or larger than what inflates */
    unsigned char *bytes = small_archive(path, true, "abcx", &size);
    size_t central = get_u32(bytes + size - 6);
    uint32_t compressed = get_u32(bytes + central + 20), declared = get_u32(bytes + central + 24);
    put_u32(bytes + central + 24, compressed * 1000 + 1);
    write_bytes(path, bytes, size);
    CHECK_CONTAINS(npz_error(path, NULL), "over 1000x: refused as a zip bomb");
    put_u32(bytes + central + 24, declared - 1);
    write_bytes(path, bytes, size);
    snprintf(expected, sizeof expected, "'%s', byte offset 38: member 'abcx.npy' inflates past its declared %u bytes", path, declared - 1);
    CHECK_CONTAINS(npz_error(path, NULL), expected);
    put_u32(bytes + central + 24, declared + 1);
    write_bytes(path, bytes, size);
    CHECK_CONTAINS(npz_error(path, NULL), "member 'abcx.npy' inflates to 140 bytes, not the declared 141");
    put_u32(bytes + central + 24, declared);
    /* corrupt deflate data */
    memset(bytes + 38, 0xff, 4);
    write_bytes(path, bytes, size);
    CHECK_CONTAINS(npz_error(path, NULL), "byte offset 38: member 'abcx.npy' holds corrupt deflate data");
    free(bytes);

    /* a bad CRC: one data byte changed in a stored member */
    bytes = small_archive(path, false, "abcx", &size);
    central = get_u32(bytes + size - 6);
    bytes[38 + 130] ^= 1;
    write_bytes(path, bytes, size);
    snprintf(expected, sizeof expected, "'%s', byte offset 38: member 'abcx.npy' fails its CRC-32 check", path);
    CHECK_CONTAINS(npz_error(path, NULL), expected);
    bytes[38 + 130] ^= 1;
    /* a bad .npy inside a member (CRC made to match): the member and its own offset are named */
    patch_all(bytes, size, "NUMPY", "NUMPZ");
    uint32_t crc = (uint32_t)crc32(0, bytes + 38, 140);
    put_u32(bytes + 14, crc);
    put_u32(bytes + central + 16, crc);
    write_bytes(path, bytes, size);
    snprintf(expected, sizeof expected, "'%s' member 'abcx.npy', byte offset 0: not a .npy file", path);
    CHECK_CONTAINS(npz_error(path, NULL), expected);
    free(bytes);

    /* encryption, unknown methods, duplicates, overlaps */
    bytes = small_archive(path, false, "abcx", &size);
    central = get_u32(bytes + size - 6);
    bytes[central + 8] |= 1;
    write_bytes(path, bytes, size);
    CHECK_CONTAINS(npz_error(path, NULL), "member 'abcx.npy' is encrypted");
    bytes[central + 8] &= (unsigned char)~1u;
    bytes[central + 10] = 12;
    bytes[8] = 12;
    write_bytes(path, bytes, size);
    CHECK_CONTAINS(npz_error(path, NULL), "member 'abcx.npy' uses compression method 12 (nn reads stored (0) and deflate (8))");
    bytes[central + 10] = 0;
    bytes[8] = 0;
    put_u32(bytes + central + 20, 150);
    put_u32(bytes + central + 24, 150);
    write_bytes(path, bytes, size);
    CHECK_CONTAINS(npz_error(path, NULL), "members 'abcx.npy' and 'bcdy.npy' overlap");
    put_u32(bytes + central + 20, 140);
    put_u32(bytes + central + 24, 140);
    put_u32(bytes + central + 42, 7);
    write_bytes(path, bytes, size);
    CHECK_CONTAINS(npz_error(path, NULL), "member 'abcx.npy': no local header at byte 7");
    put_u32(bytes + central + 42, 0);
    patch_all(bytes, size, "bcdy.npy", "abcx.npy");
    write_bytes(path, bytes, size);
    CHECK_CONTAINS(npz_error(path, NULL), "member 'abcx.npy' appears twice");
    free(bytes);

    /* truncated archives and broken directories */
    bytes = small_archive(path, false, "abcx", &size);
    write_bytes(path, bytes, size / 2);
    snprintf(expected, sizeof expected, "'%s', byte offset %zu: no zip end-of-central-directory record: not an .npz (zip) file, or truncated", path, size / 2);
    CHECK_CONTAINS(npz_error(path, NULL), expected);
    write_bytes(path, bytes, 10);
    CHECK_CONTAINS(npz_error(path, NULL), "is 10 bytes: too short for an .npz (zip) file");
    put_u32(bytes + size - 6, 0x7fffffff);
    write_bytes(path, bytes, size);
    CHECK_CONTAINS(npz_error(path, NULL), "the central directory (");
    CHECK_CONTAINS(nn_last_error(), "lies outside the file");
    free(bytes);
    CHECK_CONTAINS(npz_error(REF_DIR "f4_le.npy", NULL), "no zip end-of-central-directory record");
}

/* ------------------------------------------------------------ allocation failures */

/* Runs `load` failing its 1st, 2nd, ... allocation until it succeeds; every failure must be a
 * clean NN_ERR_NOMEM naming the file (ASan's leak check catches what a failure leaves). */
static int sweep(int (*load)(const char *path, int variant), const char *path, int variant) {
    int failures = 0, status = NN_ERR_NOMEM;
    for (long n = 1; n <= 200 && status == NN_ERR_NOMEM; n++) {
        failing_alloc state;
        failing_alloc_install(&state, n);
        status = load(path, variant);
        nn_set_allocator(NULL);
        if (status == NN_ERR_NOMEM) {
            failures++;
            CHECK_CONTAINS(nn_last_error(), "out of memory");
        }
    }
    CHECK(status == NN_OK);
    return failures;
}

static int load_npy(const char *path, int mapped) {
    nn_tensor *t = (nn_tensor *)&t;
    int status = nn_npy_load(path, &(nn_npy_opts){ .mmap = mapped }, &t);
    if (status) CHECK(t == NULL);
    if (status == NN_ERR_NOMEM) CHECK_CONTAINS(nn_last_error(), path);
    nn_tensor_free(status ? NULL : t);
    return status;
}

static int load_npz(const char *path, int unused) {
    (void)unused;
    nn_npz *z = (nn_npz *)&z;
    int status = nn_npz_load(path, NULL, &z);
    if (status) CHECK(z == NULL);
    if (status == NN_ERR_NOMEM) CHECK_CONTAINS(nn_last_error(), path);
    nn_npz_free(status ? NULL : z);
    return status;
}

static int save_npz(const char *path, int compress) {
    nn_tensor *t = nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 4 });
    if (!t) return NN_ERR_NOMEM;
    int status = nn_npz_save(path, (const char *[]){ "a", "b" }, (const nn_tensor *[]){ t, t }, 2, compress);
    nn_tensor_free(t);
    return status;
}

static int save_npy(const char *path, int unused) {
    (void)unused;
    nn_tensor *t = nn_tensor_new(NN_FLOAT32, 1, (int64_t[]){ 4 });
    if (!t) return NN_ERR_NOMEM;
    int status = nn_npy_save(path, t);
    nn_tensor_free(t);
    return status;
}

TEST(allocation_failures_fail_cleanly) {
    CHECK(sweep(load_npy, REF_DIR "f4_le.npy", false) >= 3);      /* path label, header, tensor, data */
    CHECK(sweep(load_npy, REF_DIR "f4_le.npy", true) >= 3);       /* ... and the mapped tensor */
    CHECK(sweep(load_npy, REF_DIR "fortran_i2_be.npy", false) >= 5); /* ... and the transposed copy */
    CHECK(sweep(load_npz, REF_DIR "arrays.npz", 0) >= 8);
    CHECK(sweep(load_npz, REF_DIR "arrays_compressed.npz", 0) >= 10); /* ... and zlib's state */
    CHECK(sweep(save_npy, scratch("sweep.npy"), 0) >= 2);
    CHECK(sweep(save_npz, scratch("sweep.npz"), false) >= 3);
    CHECK(sweep(save_npz, scratch("sweep.npz"), true) >= 4);
}

int main(void) {
    RUN_TESTS(reads_every_numpy_file_bit_exact, mapped_tensor_is_copy_on_write, reads_numpy_npz_stored_deflated_and_zip64,
              saved_files_are_byte_identical_to_numpy, save_load_round_trips_every_dtype, npz_round_trips_stored_and_compressed,
              numpy_reads_what_nn_writes, save_errors, bad_npy_files_are_refused_with_position,
              bad_npz_files_are_refused_with_position, allocation_failures_fail_cleanly);
}
