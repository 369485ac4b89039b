/* IDX files (the MNIST format), gzipped or not, and the Fashion-MNIST loader built on them.
 *
 * An IDX file is two zero bytes, a type code, a dimension count, that many big-endian u32
 * dimensions, then the elements big-endian in row-major order. Every size is checked against
 * the bytes really present before anything of that size is allocated; a gzipped file is
 * inflated only up to the size its header declares, so a small file cannot make nn allocate
 * more than its header honestly describes. */
#include "nn_internal.h"

#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAX_HEADER (4 + 4 * NN_MAX_DIMS)
/* Files and inflated contents larger than this are refused (the training set of MNIST is 47 MB). */
#define IDX_MAX_BYTES ((uint64_t)4 << 30)

typedef struct idx_header {
    nn_dtype dtype;
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    size_t header_bytes;   /* where the data starts */
    size_t data_bytes;     /* what the shape and type declare */
} idx_header;

static const struct { unsigned char code; nn_dtype dtype; } idx_types[] = {
    { 0x08, NN_UINT8 }, { 0x09, NN_INT8 },    { 0x0B, NN_INT16 },
    { 0x0C, NN_INT32 }, { 0x0D, NN_FLOAT32 }, { 0x0E, NN_FLOAT64 },
};

static size_t idx_byte_limit(void) { return IDX_MAX_BYTES < SIZE_MAX ? (size_t)IDX_MAX_BYTES : SIZE_MAX; }

static uint32_t read_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int parse_type_code(const char *path, unsigned char code, nn_dtype *dtype) {
    for (size_t i = 0; i < NN_ARRAY_LEN(idx_types); i++) {
        if (idx_types[i].code == code) {
            *dtype = idx_types[i].dtype;
            return NN_OK;
        }
    }
    return nn_error(NN_ERR_FORMAT,
                    "'%s': unknown IDX type code 0x%02X at byte offset 2 (known: 0x08 uint8, 0x09 int8, "
                    "0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)",
                    path, code);
}

/* The element count and byte size of the declared shape, refusing zero dimensions, overflow
 * and sizes over the limit. */
static int check_declared_size(const char *path, idx_header *h) {
    char shape[160];
    size_t count = 1;
    for (int i = 0; i < h->ndim; i++) {
        if (h->shape[i] == 0)
            return nn_error(NN_ERR_FORMAT, "'%s': IDX dimension %d (byte offset %d) is 0", path, i, 4 + 4 * i);
        if (!nn_size_mul(count, (size_t)h->shape[i], &count))
            return nn_error(NN_ERR_FORMAT, "'%s': IDX shape %s has more elements than fit in memory", path,
                            nn_shape_str(h->ndim, h->shape, shape, sizeof shape));
    }
    size_t limit = idx_byte_limit() - h->header_bytes;
    if (!nn_size_mul(count, nn_dtype_size(h->dtype), &h->data_bytes) || h->data_bytes > limit)
        return nn_error(NN_ERR_FORMAT, "'%s': IDX shape %s of %s declares more than the limit of %zu bytes",
                        path, nn_shape_str(h->ndim, h->shape, shape, sizeof shape), nn_dtype_name(h->dtype),
                        limit);
    return NN_OK;
}

/* Parses the header at the start of `bytes` (the inflated content for a gzipped file). */
static int parse_header(const char *path, const unsigned char *bytes, size_t size, idx_header *h) {
    if (size >= 2 && (bytes[0] || bytes[1]))
        return nn_error(NN_ERR_FORMAT,
                        "'%s': not an IDX file: bytes 0-1 are 0x%02X 0x%02X where IDX has 0x00 0x00", path,
                        bytes[0], bytes[1]);
    if (size < 4)
        return nn_error(NN_ERR_FORMAT, "'%s': truncated IDX header: %zu bytes, an IDX file starts with 4",
                        path, size);
    int status = parse_type_code(path, bytes[2], &h->dtype);
    if (status) return status;
    h->ndim = bytes[3];
    if (h->ndim < 1 || h->ndim > NN_MAX_DIMS)
        return nn_error(NN_ERR_FORMAT, "'%s': IDX dimension count %d at byte offset 3 is outside 1..%d", path,
                        h->ndim, NN_MAX_DIMS);
    h->header_bytes = 4 + 4 * (size_t)h->ndim;
    if (size < h->header_bytes)
        return nn_error(NN_ERR_FORMAT, "'%s': truncated IDX header: %d dimensions need %zu bytes, there are %zu",
                        path, h->ndim, h->header_bytes, size);
    for (int i = 0; i < h->ndim; i++) h->shape[i] = read_be32(bytes + 4 + 4 * i);
    return check_declared_size(path, h);
}

static int check_data_size(const char *path, const idx_header *h, size_t size) {
    char shape[160];
    size_t present = size - h->header_bytes;
    if (present == h->data_bytes) return NN_OK;
    nn_shape_str(h->ndim, h->shape, shape, sizeof shape);
    if (present < h->data_bytes)
        return nn_error(NN_ERR_FORMAT,
                        "'%s': truncated IDX data: shape %s of %s needs %zu bytes from byte offset %zu, "
                        "the data ends at byte offset %zu",
                        path, shape, nn_dtype_name(h->dtype), h->data_bytes, h->header_bytes, size);
    return nn_error(NN_ERR_FORMAT,
                    "'%s': %zu bytes of trailing data at byte offset %zu, after the %s array of shape %s",
                    path, present - h->data_bytes, h->header_bytes + h->data_bytes, nn_dtype_name(h->dtype),
                    shape);
}

/* Big-endian elements of `width` bytes into native order (integers and IEEE floats alike),
 * moving them down from src to dst <= src in place: each element is read whole before its
 * destination, which ends at or below the next element's source, is written. */
static void move_to_native_order(unsigned char *dst, const unsigned char *src, size_t count, size_t width) {
    if (width == 1) {
        memmove(dst, src, count);
        return;
    }
    for (size_t i = 0; i < count; i++, src += width, dst += width) {
        uint64_t v = 0;
        for (size_t b = 0; b < width; b++) v = v << 8 | src[b];
        if (width == 2) memcpy(dst, &(uint16_t){ (uint16_t)v }, 2);
        else if (width == 4) memcpy(dst, &(uint32_t){ (uint32_t)v }, 4);
        else memcpy(dst, &v, 8);
    }
}

/* A tensor from a whole IDX file's (inflated) contents, an nn_malloc'd buffer the tensor takes
 * over (freed here on failure): the elements move to its start, so a 47 MB image set is never
 * copied. */
static int decode_idx(const char *path, unsigned char *bytes, size_t size, nn_tensor **out) {
    idx_header h;
    int status = parse_header(path, bytes, size, &h);
    if (!status) status = check_data_size(path, &h, size);
    nn_tensor *t = status ? NULL : nn_tensor_adopt(h.dtype, h.ndim, h.shape, bytes);
    if (!t) {
        nn_free(bytes);
        return status ? status : NN_ERR_NOMEM;
    }
    size_t width = nn_dtype_size(h.dtype);
    move_to_native_order(bytes, bytes + h.header_bytes, h.data_bytes / width, width);
    *out = t;
    return NN_OK;
}

/* Inflates just the first bytes of a gzip stream: enough to hold the largest IDX header, fewer
 * if the stream holds fewer. */
static int inflate_header(const char *path, const unsigned char *gz, size_t gz_size, unsigned char *head,
                          size_t *head_size) {
    z_stream z = { .zalloc = nn_zlib_alloc, .zfree = nn_zlib_free };
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return nn_error(NN_ERR_NOMEM, "out of memory (zlib's state)");
    z.next_in = (unsigned char *)gz;
    z.avail_in = (uInt)(gz_size > UINT32_MAX ? UINT32_MAX : gz_size);
    z.next_out = head;
    z.avail_out = IDX_MAX_HEADER;
    int rc;
    do rc = inflate(&z, Z_NO_FLUSH);
    while (rc == Z_OK && z.avail_out > 0 && z.avail_in > 0);
    *head_size = IDX_MAX_HEADER - z.avail_out;
    size_t consumed = z.total_in;
    const char *reason = z.msg;
    inflateEnd(&z);
    if (rc == Z_MEM_ERROR) return nn_error(NN_ERR_NOMEM, "out of memory (zlib's window)");
    if (rc == Z_DATA_ERROR)
        return nn_error(NN_ERR_FORMAT, "'%s': corrupt gzip data after %zu compressed bytes: %s", path, consumed,
                        reason ? reason : "invalid stream");
    return NN_OK;
}

static int load_gzipped(const char *path, const unsigned char *gz, size_t gz_size, nn_tensor **out) {
    unsigned char head[IDX_MAX_HEADER];
    size_t head_size = 0;
    idx_header h;
    int status = inflate_header(path, gz, gz_size, head, &head_size);
    if (!status) status = parse_header(path, head, head_size, &h);
    if (status) return status;
    size_t declared = h.header_bytes + h.data_bytes;
    unsigned char *content = NULL;
    size_t content_size = 0;
    status = nn_gunzip(path, gz, gz_size, declared, &content, &content_size);
    if (status == NN_ERR_FORMAT)
        return nn_error_context(status, "reading IDX whose header declares %zu bytes in all", declared);
    return status ? status : decode_idx(path, content, content_size, out);
}

int nn_idx_load(const char *path, nn_tensor **out) {
    if (!out) return nn_error(NN_ERR_ARG, "nn_idx_load: out is NULL");
    *out = NULL;
    if (!path) return nn_error(NN_ERR_ARG, "nn_idx_load: path is NULL");
    char *raw;
    size_t size;
    int status = nn_read_file(path, idx_byte_limit(), &raw, &size);
    if (!status) {
        unsigned char *bytes = (unsigned char *)raw;
        if (size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
            status = load_gzipped(path, bytes, size, out);
            nn_free(raw);
        } else {
            status = decode_idx(path, bytes, size, out);
        }
    }
    return status == NN_ERR_NOMEM ? nn_error_context(status, "loading '%s'", path) : status;
}

/* ---------------------------------------------------------------- Fashion-MNIST */

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define FASHION_MNIST_CLASSES 10

static int missing_dataset(const char *what, const char *path) {
    return nn_error(NN_ERR_IO,
                    "Fashion-MNIST: %s '%s': install Debian's dataset-fashion-mnist (apt install "
                    "dataset-fashion-mnist, into " FASHION_MNIST_DIR ") or pass the directory that holds "
                    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
                    "t10k-labels-idx1-ubyte.gz",
                    what, path);
}

/* Loads dir/<name>.gz, or dir/<name> when only the inflated file is there. */
static int load_part(const char *dir, const char *name, nn_tensor **out) {
    char gz_path[4096], path[4096];
    struct stat st;
    snprintf(gz_path, sizeof gz_path, "%s/%s.gz", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(gz_path, &st) == 0) return nn_idx_load(gz_path, out);
    if (stat(path, &st) == 0) return nn_idx_load(path, out);
    return missing_dataset("no file (gzipped or not)", gz_path);
}

static int check_labels(const char *dir, const char *split, const nn_tensor *x, const nn_tensor *y) {
    char xs[160], ys[160];
    if (x->dtype != NN_UINT8 || x->ndim != 3 || y->dtype != NN_UINT8 || y->ndim != 1)
        return nn_error(NN_ERR_FORMAT, "Fashion-MNIST in '%s': %s images are %s %s and labels %s %s, expected "
                        "uint8 (N, 28, 28) and uint8 (N,)", dir, split, nn_dtype_name(x->dtype),
                        nn_shape_str(x->ndim, x->shape, xs, sizeof xs), nn_dtype_name(y->dtype),
                        nn_shape_str(y->ndim, y->shape, ys, sizeof ys));
    if (x->shape[0] != y->shape[0])
        return nn_error(NN_ERR_FORMAT, "Fashion-MNIST in '%s': %lld %s images but %lld labels", dir,
                        (long long)x->shape[0], split, (long long)y->shape[0]);
    const uint8_t *labels = y->data;
    for (int64_t i = 0; i < y->shape[0]; i++) {
        if (labels[i] >= FASHION_MNIST_CLASSES)
            return nn_error(NN_ERR_DATA,
                            "Fashion-MNIST in '%s': %s-labels-idx1-ubyte: label %lld (byte offset %lld) is %d, "
                            "outside 0..%d",
                            dir, split, (long long)i, (long long)i + 8, labels[i], FASHION_MNIST_CLASSES - 1);
    }
    return NN_OK;
}

/* One split: `split` is "train" or "t10k". */
static int load_split(const char *dir, const char *split, nn_dataset **out) {
    char images[64], labels[64];
    snprintf(images, sizeof images, "%s-images-idx3-ubyte", split);
    snprintf(labels, sizeof labels, "%s-labels-idx1-ubyte", split);
    nn_tensor *x = NULL, *y = NULL;
    int status = load_part(dir, images, &x);
    if (!status) status = load_part(dir, labels, &y);
    if (!status) status = check_labels(dir, split, x, y);
    if (status) {
        nn_tensor_free(x);
        nn_tensor_free(y);
        return status;
    }
    *out = nn_dataset_new(x, y);
    return *out ? NN_OK : NN_ERR_NOMEM;
}

int nn_fashion_mnist_load(const char *dir, nn_dataset **train, nn_dataset **test) {
    if (train) *train = NULL;
    if (test) *test = NULL;
    if (!dir) dir = FASHION_MNIST_DIR;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return missing_dataset("no directory", dir);
    int status = train ? load_split(dir, "train", train) : NN_OK;
    if (!status && test) status = load_split(dir, "t10k", test);
    if (status && train) {
        nn_dataset_free(*train);
        *train = NULL;
    }
    return status;
}
