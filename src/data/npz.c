/* NumPy .npz archives: a zip of "name.npy" members, stored or deflated (numpy's savez and
 * savez_compressed).
 *
 * Reading maps the file, takes every size from the central directory (numpy's local headers
 * carry zip64 placeholders), and validates the whole directory before it inflates anything:
 * names that could escape a directory, encryption, unknown methods, members outside the file or
 * overlapping each other, and declared sizes past opts->max_bytes or 1000x the compressed size.
 * Inflation then stops at the declared size, and the CRC-32 is checked. Writing streams each
 * member through CRC-32 (and deflate) and patches its local header afterwards. */
#include "nn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_END_SIG 0x06054b50u
#define ZIP64_END_SIG 0x06064b50u
#define ZIP64_LOCATOR_SIG 0x07064b50u
#define ZIP_LOCAL_SIZE 30
#define ZIP_CENTRAL_SIZE 46
#define ZIP_END_SIZE 22
#define ZIP64_END_SIZE 56
#define ZIP64_LOCATOR_SIZE 20
#define ZIP_COMMENT_MAX 65535
#define ZIP_STORED 0
#define ZIP_DEFLATED 8
#define ZIP_FLAG_ENCRYPTED 0x0001u
#define ZIP_FLAG_UTF8 0x0800u
#define ZIP_MAX_RATIO 1000              /* refuse members declared to inflate more than this */
#define NPZ_DEFAULT_MAX_BYTES (4ull << 30)

struct nn_npz {
    int count;
    char **names;       /* member names without ".npy" */
    nn_tensor **arrays;
};

/* One member as the central directory describes it. */
typedef struct zip_member {
    char *name;                 /* full member name ("x.npy"), NUL-terminated */
    size_t entry_offset;        /* of its central directory entry, for messages */
    uint16_t flags, method;
    uint32_t crc;
    uint64_t compressed, uncompressed, local_offset;
    size_t data_offset;         /* found from the local header */
} zip_member;

typedef struct zip_reader {
    const char *path;
    const unsigned char *bytes;
    size_t size;
    uint64_t max_bytes;
    uint64_t count, directory_offset, directory_size, directory_end;
} zip_reader;

__attribute__((format(printf, 3, 4))) static int zip_error(const zip_reader *z, uint64_t offset, const char *fmt, ...) {
    char message[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return nn_error(NN_ERR_FORMAT, "'%s', byte offset %llu: %s", z->path, (unsigned long long)offset, message);
}

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---------------------------------------------------------------- directory */

static int read_zip64_end(zip_reader *z, size_t end_offset) {
    if (end_offset < ZIP64_LOCATOR_SIZE || get_le(z->bytes + end_offset - ZIP64_LOCATOR_SIZE, 4) != ZIP64_LOCATOR_SIG)
        return zip_error(z, end_offset, "the end record defers to a zip64 record, but no zip64 locator precedes it");
    const unsigned char *locator = z->bytes + end_offset - ZIP64_LOCATOR_SIZE;
    uint64_t record = get_le(locator + 8, 8);
    if (get_le(locator + 4, 4) != 0 || get_le(locator + 16, 4) > 1)
        return zip_error(z, end_offset - ZIP64_LOCATOR_SIZE, "multi-part zip archives are not supported");
    if (record > end_offset - ZIP64_LOCATOR_SIZE || end_offset - ZIP64_LOCATOR_SIZE - record < ZIP64_END_SIZE ||
        get_le(z->bytes + record, 4) != ZIP64_END_SIG)
        return zip_error(z, end_offset - ZIP64_LOCATOR_SIZE, "the zip64 locator points to byte %llu, where no zip64 end record is", (unsigned long long)record);
    const unsigned char *p = z->bytes + record;
    if (get_le(p + 16, 4) != 0 || get_le(p + 20, 4) != 0 || get_le(p + 24, 8) != get_le(p + 32, 8))
        return zip_error(z, record, "multi-part zip archives are not supported");
    z->count = get_le(p + 32, 8);
    z->directory_size = get_le(p + 40, 8);
    z->directory_offset = get_le(p + 48, 8);
    z->directory_end = record;
    return NN_OK;
}

/* The end of central directory record: the last signature in the final 64 KiB + 22 bytes whose
 * comment reaches exactly to the end of the file. */
static int read_end_record(zip_reader *z) {
    size_t lowest = z->size > ZIP_END_SIZE + ZIP_COMMENT_MAX ? z->size - ZIP_END_SIZE - ZIP_COMMENT_MAX : 0;
    size_t at = z->size >= ZIP_END_SIZE ? z->size - ZIP_END_SIZE + 1 : 0;
    const unsigned char *p = NULL;
    while (at-- > lowest) {
        const unsigned char *q = z->bytes + at;
        if (get_le(q, 4) == ZIP_END_SIG && at + ZIP_END_SIZE + get_le(q + 20, 2) == z->size) {
            p = q;
            break;
        }
    }
    if (!p)
        return zip_error(z, z->size, "no zip end-of-central-directory record: not an .npz (zip) file, or truncated");
    size_t end_offset = (size_t)(p - z->bytes);
    uint64_t disk = get_le(p + 4, 2), directory_disk = get_le(p + 6, 2), on_disk = get_le(p + 8, 2);
    z->count = get_le(p + 10, 2);
    z->directory_size = get_le(p + 12, 4);
    z->directory_offset = get_le(p + 16, 4);
    z->directory_end = end_offset;
    if (z->count == 0xffff || z->directory_size == 0xffffffff || z->directory_offset == 0xffffffff)
        return read_zip64_end(z, end_offset);
    if (disk != 0 || directory_disk != 0 || on_disk != z->count)
        return zip_error(z, end_offset, "multi-part zip archives are not supported");
    return NN_OK;
}

static int check_directory_bounds(zip_reader *z) {
    if (z->directory_offset > z->directory_end || z->directory_size > z->directory_end - z->directory_offset)
        return zip_error(z, z->directory_end, "the central directory (%llu bytes at byte %llu) lies outside the file", (unsigned long long)z->directory_size, (unsigned long long)z->directory_offset);
    if (z->count > z->directory_size / ZIP_CENTRAL_SIZE || z->count > INT_MAX)
        return zip_error(z, z->directory_end, "%llu members cannot fit in a %llu-byte central directory", (unsigned long long)z->count, (unsigned long long)z->directory_size);
    return NN_OK;
}

/* Names are only ever keys, but refusing what could escape a directory keeps extraction tools
 * that trust nn's checks safe too. */
static const char *unsafe_name_reason(const char *name, size_t length) {
    if (length == 0) return "is empty";
    if (memchr(name, '\0', length)) return "holds a NUL byte";
    if (name[0] == '/') return "is an absolute path";
    if (memchr(name, '\\', length)) return "holds a backslash";
    for (size_t start = 0; start <= length;) {
        size_t end = start;
        while (end < length && name[end] != '/') end++;
        if (end - start == 2 && name[start] == '.' && name[start + 1] == '.') return "has a '..' component";
        start = end + 1;
    }
    if (length < 4 || memcmp(name + length - 4, ".npy", 4) != 0) return "is not a .npy array (name.npy)";
    return NULL;
}

/* Reads the zip64 extra field, which holds the 64-bit values of fields set to all ones. */
static int read_zip64_extra(const zip_reader *z, size_t offset, const unsigned char *extra, size_t length, zip_member *m) {
    while (length >= 4) {
        uint64_t id = get_le(extra, 2), size = get_le(extra + 2, 2);
        if (size > length - 4) return zip_error(z, offset, "an extra field runs past its entry");
        if (id == 1) {
            uint64_t *fields[3] = { &m->uncompressed, &m->compressed, &m->local_offset };
            size_t used = 0;
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xffffffff) continue;
                if (used + 8 > size) return zip_error(z, offset, "the zip64 extra field is too short for the sizes it replaces");
                *fields[i] = get_le(extra + 4 + used, 8);
                used += 8;
            }
        }
        extra += 4 + size;
        length -= 4 + (size_t)size;
    }
    return NN_OK;
}

static int read_central_entry(const zip_reader *z, size_t *offset, zip_member *m) {
    size_t at = *offset, end = (size_t)(z->directory_offset + z->directory_size);
    const unsigned char *p = z->bytes + at;
    if (end - at < ZIP_CENTRAL_SIZE || get_le(p, 4) != ZIP_CENTRAL_SIG)
        return zip_error(z, at, "expected a central directory entry");
    size_t name_length = get_le(p + 28, 2), extra_length = get_le(p + 30, 2), comment_length = get_le(p + 32, 2);
    if (end - at - ZIP_CENTRAL_SIZE < name_length + extra_length + comment_length)
        return zip_error(z, at, "a central directory entry runs past the directory");
    m->entry_offset = at;
    m->flags = (uint16_t)get_le(p + 8, 2);
    m->method = (uint16_t)get_le(p + 10, 2);
    m->crc = (uint32_t)get_le(p + 16, 4);
    m->compressed = get_le(p + 20, 4);
    m->uncompressed = get_le(p + 24, 4);
    m->local_offset = get_le(p + 42, 4);
    const char *name = (const char *)p + ZIP_CENTRAL_SIZE;
    const char *reason = unsafe_name_reason(name, name_length);
    if (reason) return zip_error(z, at, "member name '%.*s' %s", (int)name_length, name, reason);
    m->name = nn_malloc(name_length + 1);
    if (!m->name) return NN_ERR_NOMEM;
    memcpy(m->name, name, name_length);
    m->name[name_length] = '\0';
    *offset = at + ZIP_CENTRAL_SIZE + name_length + extra_length + comment_length;
    return read_zip64_extra(z, at, p + ZIP_CENTRAL_SIZE + name_length, extra_length, m);
}

/* Checks a member's method, sizes and local header; finds where its data starts. */
static int check_member(const zip_reader *z, zip_member *m) {
    size_t at = m->entry_offset;
    if (m->flags & ZIP_FLAG_ENCRYPTED) return zip_error(z, at, "member '%s' is encrypted", m->name);
    if (m->method != ZIP_STORED && m->method != ZIP_DEFLATED)
        return zip_error(z, at, "member '%s' uses compression method %u (nn reads stored (0) and deflate (8))", m->name, (unsigned)m->method);
    if (m->uncompressed > z->max_bytes)
        return zip_error(z, at, "member '%s' declares %llu bytes, over the limit of %llu", m->name, (unsigned long long)m->uncompressed, (unsigned long long)z->max_bytes);
    uint64_t local = m->local_offset;
    if (local > z->directory_offset || z->directory_offset - local < ZIP_LOCAL_SIZE || get_le(z->bytes + local, 4) != ZIP_LOCAL_SIG)
        return zip_error(z, at, "member '%s': no local header at byte %llu", m->name, (unsigned long long)local);
    const unsigned char *p = z->bytes + local;
    size_t name_length = get_le(p + 26, 2), extra_length = get_le(p + 28, 2);
    uint64_t data = local + ZIP_LOCAL_SIZE + name_length + extra_length;
    if (data > z->directory_offset || m->compressed > z->directory_offset - data)
        return zip_error(z, local, "member '%s': its %llu bytes of data run past the start of the central directory", m->name, (unsigned long long)m->compressed);
    if (name_length != strlen(m->name) || memcmp(p + ZIP_LOCAL_SIZE, m->name, name_length) != 0 ||
        get_le(p + 8, 2) != m->method || (get_le(p + 6, 2) & ZIP_FLAG_ENCRYPTED))
        return zip_error(z, local, "member '%s': the local header disagrees with the central directory", m->name);
    if (m->method == ZIP_STORED && m->compressed != m->uncompressed)
        return zip_error(z, at, "stored member '%s' has different compressed (%llu) and uncompressed (%llu) sizes", m->name, (unsigned long long)m->compressed, (unsigned long long)m->uncompressed);
    if (m->uncompressed > m->compressed * ZIP_MAX_RATIO)
        return zip_error(z, at, "member '%s' would inflate %llu bytes to %llu, over %dx: refused as a zip bomb", m->name, (unsigned long long)m->compressed, (unsigned long long)m->uncompressed, ZIP_MAX_RATIO);
    m->data_offset = (size_t)data;
    return NN_OK;
}

static int by_position(const void *a, const void *b) {
    const zip_member *x = a, *y = b;
    return (x->local_offset > y->local_offset) - (x->local_offset < y->local_offset);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Overlapping members would let a small file inflate many times over. */
static int check_layout(const zip_reader *z, zip_member *members, size_t count) {
    qsort(members, count, sizeof *members, by_position);
    for (size_t i = 1; i < count; i++)
        if (members[i - 1].data_offset + members[i - 1].compressed > members[i].local_offset)
            return zip_error(z, members[i].local_offset, "members '%s' and '%s' overlap", members[i - 1].name, members[i].name);
    return NN_OK;
}

static int check_unique_names(const zip_reader *z, char **names, size_t count) {
    qsort(names, count, sizeof *names, by_name);
    for (size_t i = 1; i < count; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return zip_error(z, z->directory_offset, "member '%s' appears twice", names[i]);
    return NN_OK;
}

/* ---------------------------------------------------------------- members */

/* Inflates exactly the declared size: one byte of spare room shows a stream that runs longer. */
static int inflate_member(const zip_reader *z, const zip_member *m, unsigned char **out) {
    size_t declared = (size_t)m->uncompressed;
    unsigned char *buf = nn_malloc(declared + 1);
    if (!buf) return NN_ERR_NOMEM;
    z_stream s = { .zalloc = nn_zlib_alloc, .zfree = nn_zlib_free };
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) return nn_free(buf), NN_ERR_NOMEM;
    const unsigned char *in = z->bytes + m->data_offset;
    size_t in_left = (size_t)m->compressed, out_left = declared + 1, produced = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {
        if (!s.avail_in && in_left) {
            s.next_in = (unsigned char *)in;
            s.avail_in = (uInt)(in_left > (1u << 30) ? (1u << 30) : in_left);
            in += s.avail_in;
            in_left -= s.avail_in;
        }
        if (!s.avail_out && out_left) {
            s.next_out = buf + produced;
            s.avail_out = (uInt)(out_left > (1u << 30) ? (1u << 30) : out_left);
            out_left -= s.avail_out;
        }
        uInt before = s.avail_out;
        rc = inflate(&s, Z_NO_FLUSH);
        produced += before - s.avail_out;
        if (rc == Z_BUF_ERROR && ((!s.avail_in && in_left) || (!s.avail_out && out_left))) rc = Z_OK;
    }
    const char *zlib_message = s.msg;
    inflateEnd(&s);
    int status = NN_OK;
    if (produced > declared)
        status = zip_error(z, m->data_offset, "member '%s' inflates past its declared %zu bytes", m->name, declared);
    else if (rc == Z_MEM_ERROR)
        status = NN_ERR_NOMEM;
    else if (rc == Z_BUF_ERROR)
        status = zip_error(z, m->data_offset, "member '%s': the deflate data ends early (truncated)", m->name);
    else if (rc != Z_STREAM_END)
        status = zip_error(z, m->data_offset, "member '%s' holds corrupt deflate data (%s)", m->name, zlib_message ? zlib_message : "zlib");
    else if (produced != declared)
        status = zip_error(z, m->data_offset, "member '%s' inflates to %zu bytes, not the declared %zu", m->name, produced, declared);
    if (status) return nn_free(buf), status;
    *out = buf;
    return NN_OK;
}

static int read_member(const zip_reader *z, const zip_member *m, nn_tensor **out) {
    unsigned char *inflated = NULL;
    const unsigned char *bytes = z->bytes + m->data_offset;
    if (m->method == ZIP_DEFLATED) {
        int status = inflate_member(z, m, &inflated);
        if (status) return status;
        bytes = inflated;
    }
    size_t size = (size_t)m->uncompressed;
    uint32_t crc = (uint32_t)crc32_z(0, bytes, size);
    int status = NN_ERR_NOMEM;
    if (crc != m->crc) {
        status = zip_error(z, m->data_offset, "member '%s' fails its CRC-32 check (0x%08x, expected 0x%08x)", m->name, (unsigned)crc, (unsigned)m->crc);
    } else {
        size_t where_size = strlen(z->path) + strlen(m->name) + 16;
        char *where = nn_malloc(where_size);
        if (where) {
            snprintf(where, where_size, "'%s' member '%s'", z->path, m->name);
            status = nn_npy_parse(where, bytes, size, out);
            nn_free(where);
        }
    }
    nn_free(inflated);
    return status;
}

/* ---------------------------------------------------------------- the archive */

static int npz_alloc(size_t count, nn_npz **out) {
    nn_npz *npz = nn_calloc(1, sizeof *npz);
    if (!npz) return NN_ERR_NOMEM;
    npz->names = nn_calloc(count ? count : 1, sizeof *npz->names);
    npz->arrays = nn_calloc(count ? count : 1, sizeof *npz->arrays);
    if (!npz->names || !npz->arrays) return nn_npz_free(npz), NN_ERR_NOMEM;
    *out = npz;
    return NN_OK;
}

/* Fills npz from validated members (sorted by position); their names move into npz. */
static int read_members(const zip_reader *z, zip_member *members, size_t count, nn_npz *npz) {
    for (size_t i = 0; i < count; i++) {
        int status = read_member(z, &members[i], &npz->arrays[i]);
        if (status) return status;
        npz->names[i] = members[i].name;
        npz->names[i][strlen(members[i].name) - 4] = '\0';
        members[i].name = NULL;
        npz->count++;
    }
    return NN_OK;
}

static int read_archive(zip_reader *z, nn_npz **out) {
    int status = read_end_record(z);
    if (!status) status = check_directory_bounds(z);
    if (status) return status;
    size_t count = (size_t)z->count;
    zip_member *members = nn_calloc(count ? count : 1, sizeof *members);
    char **names = nn_calloc(count ? count : 1, sizeof *names);
    nn_npz *npz = NULL;
    status = members && names ? NN_OK : NN_ERR_NOMEM;
    size_t offset = (size_t)z->directory_offset, read = 0;
    for (; !status && read < count; read++) {
        status = read_central_entry(z, &offset, &members[read]);
        if (!status) status = check_member(z, &members[read]);
        names[read] = members[read].name;
    }
    if (!status) status = check_unique_names(z, names, count);
    if (!status) status = check_layout(z, members, count);
    if (!status) status = npz_alloc(count, &npz);
    if (!status) status = read_members(z, members, count, npz);
    for (size_t i = 0; members && i < count; i++) nn_free(members[i].name);
    nn_free(members);
    nn_free(names);
    if (status) return nn_npz_free(npz), status;
    *out = npz;
    return NN_OK;
}

int nn_npz_load(const char *path, const nn_npz_opts *opts, nn_npz **out) {
    if (!out) return nn_error(NN_ERR_ARG, "nn_npz_load: out is NULL");
    *out = NULL;
    if (!path) return nn_error(NN_ERR_ARG, "nn_npz_load: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nn_error(NN_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    int status = NN_OK;
    if (fstat(fd, &st) != 0) status = nn_error(NN_ERR_IO, "'%s': %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) status = nn_error(NN_ERR_IO, "'%s' is not a regular file", path);
    else if (st.st_size < ZIP_END_SIZE)
        status = nn_error(NN_ERR_FORMAT, "'%s' is %lld bytes: too short for an .npz (zip) file, which ends with a 22-byte record", path, (long long)st.st_size);
    else if ((uint64_t)st.st_size > SIZE_MAX) status = nn_error(NN_ERR_IO, "'%s' is too large for this machine", path);
    void *base = MAP_FAILED;
    if (!status) {
        base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (base == MAP_FAILED) status = nn_error(NN_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
    }
    close(fd);
    if (status) return status;
    uint64_t max_bytes = opts && opts->max_bytes ? opts->max_bytes : NPZ_DEFAULT_MAX_BYTES;
    zip_reader z = { .path = path, .bytes = base, .size = (size_t)st.st_size, .max_bytes = max_bytes };
    status = read_archive(&z, out);
    munmap(base, (size_t)st.st_size);
    if (status == NN_ERR_NOMEM) nn_error_context(status, "loading '%s'", path);
    return status;
}

int nn_npz_count(const nn_npz *z) { return z ? z->count : 0; }

const char *nn_npz_name(const nn_npz *z, int i) { return z && i >= 0 && i < z->count ? z->names[i] : NULL; }

const nn_tensor *nn_npz_get(const nn_npz *z, const char *name) {
    for (int i = 0; z && name && i < z->count; i++)
        if (strcmp(z->names[i], name) == 0) return z->arrays[i];
    return NULL;
}

void nn_npz_free(nn_npz *z) {
    if (!z) return;
    for (int i = 0; i < z->count; i++) {
        nn_free(z->names[i]);
        nn_tensor_free(z->arrays[i]);
    }
    nn_free(z->names);
    nn_free(z->arrays);
    nn_free(z);
}

/* ---------------------------------------------------------------- writing */

#define ZIP_LIMIT 0xffffffffu  /* past this a member or offset needs zip64, which nn does not write */
#define ZIP_VERSION 20         /* 2.0: deflate */
#define ZIP_DOS_DATE 0x0021    /* 1980-01-01, so equal arrays give equal files */
#define ZIP_CHUNK (1u << 16)

typedef struct zip_entry {
    char *name;             /* "x.npy" */
    uint16_t method;
    uint32_t crc;
    uint64_t compressed, uncompressed, offset;
} zip_entry;

typedef struct npz_writer {
    const char *path;
    const char *const *names;
    const nn_tensor *const *arrays;
    int count;
    bool compress;
    zip_entry *entries;
    unsigned char *chunk;   /* deflate output */
} npz_writer;

/* The bytes of one member as they go out, through CRC-32 and (if compressing) deflate. */
typedef struct member_stream {
    FILE *f;
    const npz_writer *w;
    z_stream *deflater;     /* NULL for a stored member */
    zip_entry *entry;
} member_stream;

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++, v >>= 8) p[i] = (unsigned char)v;
}

static int write_bytes(FILE *f, const char *path, const void *data, size_t size) {
    if (size && fwrite(data, 1, size, f) != size) return nn_error(NN_ERR_IO, "writing '%s' failed: %s", path, strerror(errno));
    return NN_OK;
}

static int deflate_out(member_stream *s, const unsigned char *data, size_t size, int flush) {
    z_stream *z = s->deflater;
    z->next_in = (unsigned char *)data;
    size_t left = size;
    do {
        z->avail_in = (uInt)(left > (1u << 30) ? (1u << 30) : left);
        left -= z->avail_in;
        int mode = left ? Z_NO_FLUSH : flush, rc;
        do {
            z->next_out = s->w->chunk;
            z->avail_out = ZIP_CHUNK;
            rc = deflate(z, mode);
            size_t have = ZIP_CHUNK - z->avail_out;
            int status = write_bytes(s->f, s->w->path, s->w->chunk, have);
            if (status) return status;
            s->entry->compressed += have;
        } while (z->avail_out == 0 || (mode == Z_FINISH && rc != Z_STREAM_END));
    } while (left);
    return NN_OK;
}

static int stream_out(member_stream *s, const void *data, size_t size, int flush) {
    s->entry->crc = (uint32_t)crc32_z(s->entry->crc, data, size);
    s->entry->uncompressed += size;
    if (s->deflater) return deflate_out(s, data, size, flush);
    s->entry->compressed += size;
    return write_bytes(s->f, s->w->path, data, size);
}

static void local_header(unsigned char *p, const zip_entry *e, size_t name_length, uint16_t flags) {
    put_le(p, ZIP_LOCAL_SIG, 4);
    put_le(p + 4, ZIP_VERSION, 2);
    put_le(p + 6, flags, 2);
    put_le(p + 8, e->method, 2);
    put_le(p + 10, 0, 2);
    put_le(p + 12, ZIP_DOS_DATE, 2);
    put_le(p + 14, e->crc, 4);
    put_le(p + 18, e->compressed, 4);
    put_le(p + 22, e->uncompressed, 4);
    put_le(p + 26, name_length, 2);
    put_le(p + 28, 0, 2);
}

static uint16_t name_flags(const char *name) {
    for (; *name; name++)
        if ((unsigned char)*name >= 0x80) return ZIP_FLAG_UTF8;
    return 0;
}

static int seek_to(FILE *f, const char *path, uint64_t offset) {
    if (fseeko(f, (off_t)offset, SEEK_SET) != 0) return nn_error(NN_ERR_IO, "seeking in '%s' failed: %s", path, strerror(errno));
    return NN_OK;
}

/* Writes a member with a provisional local header, then rewrites the header with its CRC and
 * sizes. */
static int write_member(FILE *f, const npz_writer *w, int i) {
    zip_entry *e = &w->entries[i];
    const nn_tensor *t = w->arrays[i];
    char header[512];
    size_t header_length, name_length = strlen(e->name);
    size_t data_bytes = (size_t)nn_tensor_size(t) * nn_dtype_size(t->dtype);
    int status = nn_npy_header(t, header, sizeof header, &header_length);
    if (status) return status;
    if (data_bytes >= ZIP_LIMIT - header_length || e->offset >= ZIP_LIMIT)
        return nn_error(NN_ERR_ARG, "'%s': array '%s' would pass 4 GiB inside the archive, which needs zip64: nn does not write zip64 .npz files (save it as .npy)", w->path, w->names[i]);
    unsigned char local[ZIP_LOCAL_SIZE];
    uint16_t flags = name_flags(e->name);
    local_header(local, e, name_length, flags);
    status = write_bytes(f, w->path, local, sizeof local);
    if (!status) status = write_bytes(f, w->path, e->name, name_length);
    if (status) return status;
    z_stream deflater = { .zalloc = nn_zlib_alloc, .zfree = nn_zlib_free };
    if (w->compress && deflateInit2(&deflater, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NN_ERR_NOMEM;
    member_stream s = { f, w, w->compress ? &deflater : NULL, e };
    status = stream_out(&s, header, header_length, Z_NO_FLUSH);
    if (!status) status = stream_out(&s, t->data, data_bytes, Z_FINISH);
    if (w->compress) deflateEnd(&deflater);
    if (!status && e->compressed >= ZIP_LIMIT)
        status = nn_error(NN_ERR_ARG, "'%s': array '%s' compresses past 4 GiB, which needs zip64: nn does not write zip64 .npz files", w->path, w->names[i]);
    if (status) return status;
    local_header(local, e, name_length, flags);
    status = seek_to(f, w->path, e->offset);
    if (!status) status = write_bytes(f, w->path, local, sizeof local);
    if (!status) status = seek_to(f, w->path, e->offset + ZIP_LOCAL_SIZE + name_length + e->compressed);
    return status;
}

static int write_directory(FILE *f, const npz_writer *w, uint64_t directory_offset) {
    uint64_t directory_size = 0;
    for (int i = 0; i < w->count; i++) {
        const zip_entry *e = &w->entries[i];
        size_t name_length = strlen(e->name);
        unsigned char p[ZIP_CENTRAL_SIZE] = { 0 };
        put_le(p, ZIP_CENTRAL_SIG, 4);
        put_le(p + 4, ZIP_VERSION, 2);
        put_le(p + 6, ZIP_VERSION, 2);
        put_le(p + 8, name_flags(e->name), 2);
        put_le(p + 10, e->method, 2);
        put_le(p + 14, ZIP_DOS_DATE, 2);
        put_le(p + 16, e->crc, 4);
        put_le(p + 20, e->compressed, 4);
        put_le(p + 24, e->uncompressed, 4);
        put_le(p + 28, name_length, 2);
        put_le(p + 42, e->offset, 4);
        int status = write_bytes(f, w->path, p, sizeof p);
        if (!status) status = write_bytes(f, w->path, e->name, name_length);
        if (status) return status;
        directory_size += sizeof p + name_length;
    }
    if (directory_offset + directory_size >= ZIP_LIMIT)
        return nn_error(NN_ERR_ARG, "'%s': the archive passes 4 GiB, which needs zip64: nn does not write zip64 .npz files", w->path);
    unsigned char end[ZIP_END_SIZE] = { 0 };
    put_le(end, ZIP_END_SIG, 4);
    put_le(end + 8, (uint64_t)w->count, 2);
    put_le(end + 10, (uint64_t)w->count, 2);
    put_le(end + 12, directory_size, 4);
    put_le(end + 16, directory_offset, 4);
    return write_bytes(f, w->path, end, sizeof end);
}

static int write_npz(FILE *f, void *ctx) {
    npz_writer *w = ctx;
    uint64_t offset = 0;
    for (int i = 0; i < w->count; i++) {
        w->entries[i].offset = offset;
        int status = write_member(f, w, i);
        if (status) return status;
        offset += ZIP_LOCAL_SIZE + strlen(w->entries[i].name) + w->entries[i].compressed;
    }
    return write_directory(f, w, offset);
}

/* Names become "name.npy" entries; the loader's rules apply, so every saved archive loads. */
static int make_entries(npz_writer *w) {
    for (int i = 0; i < w->count; i++) {
        if (!w->names[i] || !w->arrays[i])
            return nn_error(NN_ERR_ARG, "nn_npz_save: %s %d is NULL", w->names[i] ? "array" : "name", i);
        size_t length = strlen(w->names[i]);
        char *name = nn_malloc(length + 5);
        if (!name) return NN_ERR_NOMEM;
        memcpy(name, w->names[i], length);
        memcpy(name + length, ".npy", 5);
        w->entries[i].name = name;
        w->entries[i].method = w->compress ? ZIP_DEFLATED : ZIP_STORED;
        const char *reason = unsafe_name_reason(name, length + 4);
        if (length == 0) reason = "is empty";
        if (!reason && length + 4 > 0xffff) reason = "is longer than a zip name may be";
        for (int j = 0; !reason && j < i; j++)
            if (strcmp(w->names[j], w->names[i]) == 0) reason = "is given twice";
        if (reason) return nn_error(NN_ERR_ARG, "nn_npz_save '%s': array name '%s' %s", w->path, w->names[i], reason);
    }
    return NN_OK;
}

int nn_npz_save(const char *path, const char *const *names, const nn_tensor *const *arrays, int count, bool compress) {
    if (!path || (count && (!names || !arrays)))
        return nn_error(NN_ERR_ARG, "nn_npz_save: %s is NULL", !path ? "path" : !names ? "names" : "arrays");
    if (count < 0 || count >= 0xffff)
        return nn_error(NN_ERR_ARG, "nn_npz_save: %d arrays (an .npz holds 0 to 65534 without zip64)", count);
    npz_writer w = { path, names, arrays, count, compress, NULL, NULL };
    w.entries = nn_calloc(count ? (size_t)count : 1, sizeof *w.entries);
    w.chunk = compress ? nn_malloc(ZIP_CHUNK) : NULL;
    int status = !w.entries || (compress && !w.chunk) ? NN_ERR_NOMEM : make_entries(&w);
    if (!status) status = nn_write_file_atomic(path, write_npz, &w);
    for (int i = 0; w.entries && i < count; i++) nn_free(w.entries[i].name);
    nn_free(w.entries);
    nn_free(w.chunk);
    return status;
}
