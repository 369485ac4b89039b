/* One entry point for every array file nn reads or writes, choosing the reader by the file's
 * first bytes where its format has a magic number and by its extension otherwise (CSV, and
 * files too damaged to recognise, which then get their own reader's precise error). */
#include "nn_internal.h"

#include <errno.h>
#include <strings.h>
#include <sys/stat.h>

typedef enum array_kind { ARRAY_UNKNOWN, ARRAY_NPY, ARRAY_NPZ, ARRAY_IDX, ARRAY_CSV } array_kind;

#define READ_FORMATS                                                                               \
    ".npy, .npz (its only array, or \"file.npz#name\" for one of several), IDX (.idx or *-idx*, "    \
    "gzipped or not) and .csv"

static bool has_extension(const char *path, const char *extension) {
    size_t n = strlen(path), m = strlen(extension);
    return n >= m && strcasecmp(path + n - m, extension) == 0;
}

static bool has_idx_name(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    return has_extension(name, ".idx") || strstr(name, "-idx") || has_extension(name, ".gz");
}

static array_kind kind_from_content(const unsigned char *head, size_t n) {
    if (n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) return ARRAY_NPY;
    if (n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0) return ARRAY_NPZ;
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) return ARRAY_IDX; /* the only gzipped format read */
    if (n >= 4 && head[0] == 0 && head[1] == 0 && head[2] >= 0x08 && head[2] <= 0x0E && head[3] >= 1 &&
        head[3] <= NN_MAX_DIMS)
        return ARRAY_IDX;
    return ARRAY_UNKNOWN;
}

static array_kind kind_from_name(const char *path) {
    if (has_extension(path, ".npy")) return ARRAY_NPY;
    if (has_extension(path, ".npz")) return ARRAY_NPZ;
    if (has_extension(path, ".csv")) return ARRAY_CSV;
    if (has_idx_name(path)) return ARRAY_IDX;
    return ARRAY_UNKNOWN;
}

static int detect_kind(const char *path, array_kind *kind) {
    FILE *f = fopen(path, "rb");
    if (!f) return nn_error(NN_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    unsigned char head[8];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    *kind = kind_from_content(head, n);
    if (*kind == ARRAY_UNKNOWN) *kind = kind_from_name(path);
    if (*kind == ARRAY_UNKNOWN)
        return nn_error(NN_ERR_FORMAT, "'%s': not a known array file; nn reads " READ_FORMATS, path);
    return NN_OK;
}

static int npz_member(const char *path, const char *member, nn_tensor **out) {
    nn_npz *z = NULL;
    int status = nn_npz_load(path, NULL, &z);
    if (status) return status;
    int count = nn_npz_count(z);
    const nn_tensor *t = NULL;
    if (member) t = nn_npz_get(z, member);
    else if (count == 1) t = nn_npz_get(z, nn_npz_name(z, 0));
    if (t) {
        *out = nn_tensor_copy(t);
        nn_npz_free(z);
        return *out ? NN_OK : NN_ERR_NOMEM;
    }
    const char *names[32];
    char listed[512];
    size_t shown = count < (int)NN_ARRAY_LEN(names) ? (size_t)count : NN_ARRAY_LEN(names);
    for (size_t i = 0; i < shown; i++) names[i] = nn_npz_name(z, (int)i);
    nn_join_names(listed, sizeof listed, names, shown);
    if (count == 0) status = nn_error(NN_ERR_FORMAT, "'%s' holds no arrays", path);
    else if (member) status = nn_error(NN_ERR_NAME, "'%s' has no array '%s' (it holds: %s)", path, member, listed);
    else status = nn_error(NN_ERR_ARG, "'%s' holds %d arrays (%s): name one as '%s#%s'", path, count, listed, path, names[0]);
    nn_npz_free(z);
    return status;
}

static int csv_columns(const char *path, nn_tensor **out) {
    nn_dataset *d = NULL;
    int status = nn_csv_load(path, NULL, &d);
    if (status) return status;
    *out = nn_tensor_copy(nn_dataset_x(d));
    nn_dataset_free(d);
    return *out ? NN_OK : NN_ERR_NOMEM;
}

static int load_kind(const char *path, const char *member, nn_tensor **out) {
    array_kind kind;
    int status = detect_kind(path, &kind);
    if (status) return status;
    if (member && kind != ARRAY_NPZ)
        return nn_error(NN_ERR_ARG, "'%s#%s': only .npz archives have named arrays to pick with '#'", path, member);
    switch (kind) {
    case ARRAY_NPY: return nn_npy_load(path, &(nn_npy_opts){ .mmap = true }, out); /* no copy where it can map */
    case ARRAY_NPZ: return npz_member(path, member, out);
    case ARRAY_IDX: return nn_idx_load(path, out);
    case ARRAY_CSV: return csv_columns(path, out);
    case ARRAY_UNKNOWN: break;
    }
    return nn_error(NN_ERR_FORMAT, "'%s': not a known array file; nn reads " READ_FORMATS, path);
}

int nn_array_load(const char *path, nn_tensor **out) {
    if (!out) return nn_error(NN_ERR_ARG, "nn_array_load: out is NULL");
    *out = NULL;
    if (!path) return nn_error(NN_ERR_ARG, "nn_array_load: path is NULL");
    struct stat st;
    const char *hash = strrchr(path, '#');
    /* "data.npz#x" picks member x, unless a file really has the whole name. */
    if (!hash || stat(path, &st) == 0) return load_kind(path, NULL, out);
    char *file = nn_strdup(path);
    if (!file) return NN_ERR_NOMEM;
    file[hash - path] = '\0';
    int status = load_kind(file, hash + 1, out);
    nn_free(file);
    return status;
}

int nn_array_save(const char *path, const nn_tensor *t) {
    if (!path || !t) return nn_error(NN_ERR_ARG, "nn_array_save: %s is NULL", path ? "the tensor" : "path");
    if (has_extension(path, ".npy")) return nn_npy_save(path, t);
    if (has_extension(path, ".csv")) return nn_csv_save(path, t, NULL);
    return nn_error(NN_ERR_ARG, "'%s': cannot tell the format from the extension; nn writes .npy and .csv", path);
}
