/* NumPy .npy files: reading (format 1.0, 2.0 and 3.0, either byte order, C or Fortran order,
 * memory-mapped on request) and writing with numpy's own header layout.
 *
 * The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
 * 'shape': (3, 4), }, which numpy evaluates with ast.literal_eval. nn reads exactly that form
 * with a small parser of its own: the three keys once each, strings, True/False and a tuple of
 * integers. Everything it reads from a file is checked against the file's size before anything
 * is allocated. The parser works on bytes in memory so .npz members (npz.c) share it. */
#include "nn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_HEADER_LIMIT 65536u /* numpy's own default max_header_size is 10000 */
#define NPY_PREAMBLE_MAX 12     /* magic, version, u32 header length */
#define NPY_ALIGN 64            /* numpy's ARRAY_ALIGN: the data starts at a multiple of this */
#define NPY_GROWTH_DIGITS 21    /* numpy's GROWTH_AXIS_MAX_DIGITS: room to grow the first axis */

static const bool host_is_little_endian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

/* numpy's type codes (kind letter and byte size) for nn's dtypes. */
static const struct { char kind; unsigned size; nn_dtype dtype; } npy_types[] = {
    { 'f', 2, NN_FLOAT16 }, { 'f', 4, NN_FLOAT32 }, { 'f', 8, NN_FLOAT64 },
    { 'i', 1, NN_INT8 },    { 'i', 2, NN_INT16 },   { 'i', 4, NN_INT32 },  { 'i', 8, NN_INT64 },
    { 'u', 1, NN_UINT8 },   { 'u', 2, NN_UINT16 },  { 'u', 4, NN_UINT32 }, { 'u', 8, NN_UINT64 },
    { 'b', 1, NN_BOOL },
};

/* What a header says about the array that follows it. */
typedef struct npy_layout {
    nn_dtype dtype;
    bool byteswap;       /* stored in the byte order opposite to this machine's */
    bool fortran_order;  /* stored column-major */
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    size_t data_offset;  /* where the array's bytes start */
    size_t data_bytes;
} npy_layout;

/* A position in the header dict; `offset` is the dict's byte offset in the file, for messages. */
typedef struct dict_cursor {
    const char *where;
    const unsigned char *text;
    size_t pos, end, offset;
} dict_cursor;

__attribute__((format(printf, 3, 4))) static int npy_error(const char *where, size_t offset, const char *fmt, ...) {
    char message[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return nn_error(NN_ERR_FORMAT, "%s, byte offset %zu: %s", where, offset, message);
}

#define DICT_ERROR(c, ...) npy_error((c)->where, (c)->offset + (c)->pos, __VA_ARGS__)

static void skip_space(dict_cursor *c) {
    while (c->pos < c->end && strchr(" \t\r\n", c->text[c->pos]) && c->text[c->pos]) c->pos++;
}

static bool take(dict_cursor *c, char ch) {
    skip_space(c);
    if (c->pos < c->end && c->text[c->pos] == (unsigned char)ch) return c->pos++, true;
    return false;
}

static bool take_word(dict_cursor *c, const char *word) {
    size_t n = strlen(word);
    if (c->end - c->pos < n || memcmp(c->text + c->pos, word, n) != 0) return false;
    c->pos += n;
    return true;
}

/* A quoted string without escapes, copied into buf. */
static int parse_string(dict_cursor *c, char *buf, size_t cap) {
    skip_space(c);
    char quote = c->pos < c->end ? (char)c->text[c->pos] : 0;
    if (quote != '\'' && quote != '"') return DICT_ERROR(c, "expected a quoted string in the header dict");
    size_t start = ++c->pos;
    while (c->pos < c->end && c->text[c->pos] != (unsigned char)quote) {
        if (c->text[c->pos] == '\\') return DICT_ERROR(c, "escape sequences are not expected in a .npy header");
        c->pos++;
    }
    if (c->pos == c->end) return DICT_ERROR(c, "unterminated string in the header dict");
    size_t length = c->pos++ - start;
    if (length >= cap) return npy_error(c->where, c->offset + start, "string of %zu bytes is too long for a header key or dtype", length);
    memcpy(buf, c->text + start, length);
    buf[length] = '\0';
    return NN_OK;
}

static int parse_descr(dict_cursor *c, npy_layout *l) {
    skip_space(c);
    if (c->pos < c->end && c->text[c->pos] == '[')
        return DICT_ERROR(c, "structured (record) dtypes are not supported: nn reads plain numeric arrays");
    size_t start = c->pos;
    char descr[32];
    int status = parse_string(c, descr, sizeof descr);
    if (status) return status;
    char order = descr[0], kind = order ? descr[1] : 0;
    if (kind == 'O')
        return npy_error(c->where, c->offset + start, "object arrays (dtype '%s') are refused: their data is a Python pickle, which nn never loads", descr);
    if (kind && strchr("SUaVcMm", kind))
        return npy_error(c->where, c->offset + start, "dtype '%s' (strings, bytes, void, complex or dates) is not supported: nn reads f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1", descr);
    bool digits = kind && descr[2] && strspn(descr + 2, "0123456789") == strlen(descr + 2) && strlen(descr + 2) <= 2;
    if (order && strchr("<>|=", order) && digits) {
        unsigned size = (unsigned)atoi(descr + 2);
        for (size_t i = 0; i < NN_ARRAY_LEN(npy_types); i++) {
            if (npy_types[i].kind != kind || npy_types[i].size != size) continue;
            l->dtype = npy_types[i].dtype;
            bool little = order == '<' || (order != '>' && host_is_little_endian);
            l->byteswap = size > 1 && little != host_is_little_endian;
            return NN_OK;
        }
    }
    return npy_error(c->where, c->offset + start, "unsupported dtype '%s': nn reads f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1 with byte order '<', '>', '|' or '='", descr);
}

static int parse_bool(dict_cursor *c, bool *value) {
    skip_space(c);
    if (take_word(c, "True")) *value = true;
    else if (take_word(c, "False")) *value = false;
    else return DICT_ERROR(c, "fortran_order must be True or False");
    return NN_OK;
}

static int parse_dimension(dict_cursor *c, int index, int64_t *value) {
    skip_space(c);
    size_t start = c->pos;
    bool negative = take(c, '-');
    if (c->pos == c->end || c->text[c->pos] < '0' || c->text[c->pos] > '9')
        return DICT_ERROR(c, "expected an integer in the shape tuple");
    int64_t v = 0;
    while (c->pos < c->end && c->text[c->pos] >= '0' && c->text[c->pos] <= '9') {
        int digit = c->text[c->pos++] - '0';
        if (v > (INT64_MAX - digit) / 10)
            return npy_error(c->where, c->offset + start, "shape dimension %d is absurdly large", index);
        v = v * 10 + digit;
    }
    if (negative && v) return npy_error(c->where, c->offset + start, "shape dimension %d is negative (-%lld)", index, (long long)v);
    take_word(c, "L"); /* Python 2's long suffix, found in old files */
    *value = v;
    return NN_OK;
}

static int parse_shape(dict_cursor *c, npy_layout *l) {
    if (!take(c, '(')) return DICT_ERROR(c, "shape must be a tuple such as (3, 4)");
    int count = 0;
    bool trailing_comma = false;
    while (!take(c, ')')) {
        if (count == NN_MAX_DIMS) return DICT_ERROR(c, "shape has more than %d dimensions", NN_MAX_DIMS);
        int status = parse_dimension(c, count, &l->shape[count]);
        if (status) return status;
        count++;
        trailing_comma = take(c, ',');
        if (!trailing_comma) {
            if (take(c, ')')) break;
            return DICT_ERROR(c, "expected ',' or ')' in the shape tuple");
        }
    }
    if (count == 1 && !trailing_comma) return DICT_ERROR(c, "shape (n) is not a tuple: a 1-D shape is written (n,)");
    l->ndim = count;
    return NN_OK;
}

/* The dict: exactly the keys descr, fortran_order and shape, in any order. */
static int parse_dict(dict_cursor *c, npy_layout *l) {
    if (!take(c, '{')) return DICT_ERROR(c, "the header is not a Python dict (no '{')");
    bool seen[3] = { false, false, false };
    static const char *const keys[3] = { "descr", "fortran_order", "shape" };
    while (!take(c, '}')) {
        size_t key_pos = c->pos;
        char key[32];
        int status = parse_string(c, key, sizeof key);
        if (status) return status;
        int k = 0;
        while (k < 3 && strcmp(key, keys[k]) != 0) k++;
        if (k == 3) return npy_error(c->where, c->offset + key_pos, "unexpected key '%s' in the header (expected descr, fortran_order, shape)", key);
        if (seen[k]) return npy_error(c->where, c->offset + key_pos, "key '%s' appears twice in the header", key);
        seen[k] = true;
        if (!take(c, ':')) return DICT_ERROR(c, "expected ':' after '%s'", key);
        status = k == 0 ? parse_descr(c, l) : k == 1 ? parse_bool(c, &l->fortran_order) : parse_shape(c, l);
        if (status) return status;
        if (!take(c, ',')) {
            if (take(c, '}')) break;
            return DICT_ERROR(c, "expected ',' or '}' in the header dict");
        }
    }
    for (int k = 0; k < 3; k++)
        if (!seen[k]) return DICT_ERROR(c, "the header has no '%s' key", keys[k]);
    skip_space(c);
    if (c->pos != c->end) return DICT_ERROR(c, "unexpected text after the header dict");
    return NN_OK;
}

static int payload_size(const char *where, size_t offset, npy_layout *l) {
    size_t bytes = nn_dtype_size(l->dtype);
    for (int i = 0; i < l->ndim; i++)
        if ((uint64_t)l->shape[i] > SIZE_MAX || !nn_size_mul(bytes, (size_t)l->shape[i], &bytes)) {
            char shape[NN_MAX_DIMS * 24 + 8];
            return npy_error(where, offset, "shape %s of %s overflows the address space", nn_shape_str(l->ndim, l->shape, shape, sizeof shape), nn_dtype_name(l->dtype));
        }
    l->data_bytes = bytes;
    return NN_OK;
}

static uint32_t read_le(const unsigned char *p, int bytes) {
    uint32_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Reads the preamble and header from `available` bytes at the start of a `total`-byte file and
 * checks that the array's bytes fill the rest of it exactly. */
static int parse_layout(const char *where, const unsigned char *bytes, size_t available, uint64_t total, npy_layout *l) {
    size_t compared = available < NPY_MAGIC_LEN ? available : NPY_MAGIC_LEN;
    if (memcmp(bytes, NPY_MAGIC, compared) != 0)
        return npy_error(where, 0, "not a .npy file: it does not start with \"\\x93NUMPY\"");
    if (total < 10) return npy_error(where, total, "truncated: the file ends inside the .npy preamble");
    int major = bytes[6], minor = bytes[7];
    if (minor != 0 || major < 1 || major > 3)
        return npy_error(where, 6, "unsupported .npy format version %d.%d (nn reads 1.0, 2.0 and 3.0)", major, minor);
    size_t length_bytes = major == 1 ? 2 : 4, header_start = 8 + length_bytes;
    if (total < header_start) return npy_error(where, total, "truncated: the file ends inside the .npy preamble");
    uint32_t header_length = read_le(bytes + 8, (int)length_bytes);
    if (header_length > NPY_HEADER_LIMIT)
        return npy_error(where, 8, "the header is %u bytes, over the limit of %u", header_length, NPY_HEADER_LIMIT);
    l->data_offset = header_start + header_length;
    if (l->data_offset > total || l->data_offset > available)
        return npy_error(where, header_start, "truncated: the %u-byte header runs past the end of the file (%llu bytes)", header_length, (unsigned long long)total);
    memset(l->shape, 0, sizeof l->shape);
    dict_cursor c = { where, bytes + header_start, 0, header_length, header_start };
    int status = parse_dict(&c, l);
    if (!status) status = payload_size(where, header_start, l);
    if (status) return status;
    uint64_t held = total - l->data_offset;
    if (held < l->data_bytes)
        return npy_error(where, l->data_offset, "truncated: the header declares %zu bytes of array data but the file holds %llu after the header", l->data_bytes, (unsigned long long)held);
    if (held > l->data_bytes)
        return npy_error(where, l->data_offset + l->data_bytes, "%llu unexpected trailing bytes after the array data", (unsigned long long)(held - l->data_bytes));
    return NN_OK;
}

static void swap_bytes(void *data, size_t count, size_t size) {
    unsigned char *p = data;
    for (size_t i = 0; i < count; i++, p += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Fortran order equals C order when at most one dimension exceeds 1. */
static bool needs_transpose(const npy_layout *l) {
    int long_dims = 0;
    for (int i = 0; i < l->ndim; i++) long_dims += l->shape[i] > 1;
    return l->fortran_order && long_dims > 1;
}

/* Rewrites column-major data into a new row-major tensor, replacing *t. */
static int fortran_to_c(nn_tensor **t) {
    const nn_tensor *src = *t;
    nn_tensor *dst = nn_tensor_new_uninit(src->dtype, src->ndim, src->shape);
    if (!dst) return NN_ERR_NOMEM;
    size_t size = nn_dtype_size(src->dtype), count = (size_t)nn_tensor_size(src), stride[NN_MAX_DIMS];
    int64_t index[NN_MAX_DIMS] = { 0 };
    for (int k = 0; k < src->ndim; k++) stride[k] = k ? stride[k - 1] * (size_t)src->shape[k - 1] : 1;
    const unsigned char *from = src->data;
    unsigned char *to = dst->data;
    size_t column_major = 0;
    for (size_t i = 0; i < count; i++, to += size) {
        memcpy(to, from + column_major * size, size);
        for (int k = src->ndim - 1; k >= 0; k--) {
            column_major += stride[k];
            if (++index[k] < src->shape[k]) break;
            column_major -= stride[k] * (size_t)src->shape[k];
            index[k] = 0;
        }
    }
    nn_tensor_free(*t);
    *t = dst;
    return NN_OK;
}

/* Brings a tensor filled with the file's bytes into native byte order and C order. */
static int to_native(const npy_layout *l, nn_tensor **t) {
    if (l->byteswap) swap_bytes((*t)->data, (size_t)nn_tensor_size(*t), nn_dtype_size(l->dtype));
    return needs_transpose(l) ? fortran_to_c(t) : NN_OK;
}

int nn_npy_parse(const char *where, const unsigned char *bytes, size_t size, nn_tensor **out) {
    *out = NULL;
    npy_layout l;
    int status = parse_layout(where, bytes, size, size, &l);
    if (status) return status;
    nn_tensor *t = nn_tensor_new_uninit(l.dtype, l.ndim, l.shape);
    if (!t) return NN_ERR_NOMEM;
    memcpy(t->data, bytes + l.data_offset, l.data_bytes);
    status = to_native(&l, &t);
    if (status) return nn_tensor_free(t), status;
    *out = t;
    return NN_OK;
}

/* pread until `size` bytes are in, or fails naming the file. */
static int read_exactly(int fd, const char *where, void *buf, size_t size, size_t offset) {
    for (size_t done = 0; done < size;) {
        size_t chunk = size - done > (1u << 30) ? (1u << 30) : size - done;
        ssize_t got = pread(fd, (char *)buf + done, chunk, (off_t)(offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return nn_error(NN_ERR_IO, "%s: reading failed at byte offset %zu: %s", where, offset + done, strerror(errno));
        if (got == 0) return npy_error(where, offset + done, "truncated: the file shrank while it was read");
        done += (size_t)got;
    }
    return NN_OK;
}

static bool can_map(const npy_layout *l) {
    return !l->byteswap && !needs_transpose(l) && l->data_offset % nn_dtype_size(l->dtype) == 0;
}

static int map_array(int fd, const char *where, size_t file_size, const npy_layout *l, nn_tensor **out) {
    void *base = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (base == MAP_FAILED) return nn_error(NN_ERR_IO, "%s: cannot map the file: %s", where, strerror(errno));
    *out = nn_tensor_wrap_mapping(l->dtype, l->ndim, l->shape, (char *)base + l->data_offset, base, file_size);
    if (!*out) {
        munmap(base, file_size);
        return NN_ERR_NOMEM;
    }
    return NN_OK;
}

static int load_open_file(int fd, const char *where, const nn_npy_opts *opts, nn_tensor **out) {
    struct stat st;
    if (fstat(fd, &st) != 0) return nn_error(NN_ERR_IO, "%s: %s", where, strerror(errno));
    if (!S_ISREG(st.st_mode)) return nn_error(NN_ERR_IO, "%s is not a regular file", where);
    if ((uint64_t)st.st_size > SIZE_MAX) return nn_error(NN_ERR_IO, "%s is too large for this machine", where);
    size_t file_size = (size_t)st.st_size, available = NPY_PREAMBLE_MAX + NPY_HEADER_LIMIT;
    if (available > file_size) available = file_size;
    unsigned char *start = nn_malloc(available);
    if (!start) return NN_ERR_NOMEM;
    npy_layout l;
    int status = read_exactly(fd, where, start, available, 0);
    if (!status) status = parse_layout(where, start, available, file_size, &l);
    nn_free(start);
    if (status) return status;
    if (opts && opts->mmap && can_map(&l)) return map_array(fd, where, file_size, &l, out);
    nn_tensor *t = nn_tensor_new_uninit(l.dtype, l.ndim, l.shape);
    if (!t) return NN_ERR_NOMEM;
    status = read_exactly(fd, where, t->data, l.data_bytes, l.data_offset);
    if (!status) status = to_native(&l, &t);
    if (status) return nn_tensor_free(t), status;
    *out = t;
    return NN_OK;
}

int nn_npy_load(const char *path, const nn_npy_opts *opts, nn_tensor **out) {
    if (!out) return nn_error(NN_ERR_ARG, "nn_npy_load: out is NULL");
    *out = NULL;
    if (!path) return nn_error(NN_ERR_ARG, "nn_npy_load: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nn_error(NN_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t where_size = strlen(path) + 3;
    char *where = nn_malloc(where_size);
    int status = NN_ERR_NOMEM;
    if (where) {
        snprintf(where, where_size, "'%s'", path);
        status = load_open_file(fd, where, opts, out);
    }
    close(fd);
    nn_free(where);
    if (status == NN_ERR_NOMEM) nn_error_context(status, "loading '%s'", path);
    return status;
}

/* ---------------------------------------------------------------- writing */

/* Writes a version 1.0 preamble and header into buf: numpy's dict, the spare room numpy leaves
 * for growing the first axis, then spaces and '\n' up to a multiple of 64 bytes. Version 2.0
 * exists for headers over 65535 bytes, which only structured dtypes reach: with at most 8
 * dimensions nn's headers stay under 400 bytes. */
int nn_npy_header(const nn_tensor *t, char *buf, size_t cap, size_t *len) {
    char kind = 0;
    unsigned size = 0;
    for (size_t i = 0; i < NN_ARRAY_LEN(npy_types); i++)
        if (npy_types[i].dtype == t->dtype) kind = npy_types[i].kind, size = npy_types[i].size;
    if (!kind) return nn_error(NN_ERR_ARG, "cannot write dtype %d as .npy", (int)t->dtype);
    char order = size == 1 ? '|' : host_is_little_endian ? '<' : '>', shape[NN_MAX_DIMS * 24 + 8];
    nn_shape_str(t->ndim, t->shape, shape, sizeof shape);
    int growth = 0;
    if (t->ndim > 0) growth = NPY_GROWTH_DIGITS - snprintf(NULL, 0, "%lld", (long long)t->shape[0]);
    int dict = snprintf(buf + 10, cap > 10 ? cap - 10 : 0, "{'descr': '%c%c%u', 'fortran_order': False, 'shape': %s, }%*s",
                        order, kind, size, shape, growth, "");
    size_t unpadded = 10 + (size_t)(dict < 0 ? 0 : dict) + 1, total = unpadded + (NPY_ALIGN - unpadded % NPY_ALIGN);
    if (dict < 0 || total > cap) return nn_error(NN_ERR_ARG, "nn_npy_header: buffer of %zu bytes is too small", cap);
    memcpy(buf, NPY_MAGIC "\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memset(buf + 10 + dict, ' ', total - 11 - (size_t)dict);
    buf[total - 1] = '\n';
    *len = total;
    return NN_OK;
}

typedef struct npy_writer { const char *path; const nn_tensor *t; } npy_writer;

static int write_npy(FILE *f, void *ctx) {
    const npy_writer *w = ctx;
    char header[512];
    size_t header_len, data_bytes = (size_t)nn_tensor_size(w->t) * nn_dtype_size(w->t->dtype);
    int status = nn_npy_header(w->t, header, sizeof header, &header_len);
    if (status) return status;
    if (fwrite(header, 1, header_len, f) != header_len || fwrite(w->t->data, 1, data_bytes, f) != data_bytes)
        return nn_error(NN_ERR_IO, "writing '%s' failed: %s", w->path, strerror(errno));
    return NN_OK;
}

int nn_npy_save(const char *path, const nn_tensor *t) {
    if (!path || !t) return nn_error(NN_ERR_ARG, "nn_npy_save: %s is NULL", path ? "tensor" : "path");
    npy_writer w = { path, t };
    return nn_write_file_atomic(path, write_npy, &w);
}
