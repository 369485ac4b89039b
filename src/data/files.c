/* Whole-file reads, atomic writes and gzip inflation shared by the data readers and writers. */
#include "nn_internal.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

int nn_read_file(const char *path, size_t limit, char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return nn_error(NN_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st = { 0 };
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return nn_error(NN_ERR_IO, "'%s' is a directory, not a file", path);
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, used = 0;
    if (cap - 1 > limit) {
        fclose(f);
        return nn_error(NN_ERR_FORMAT, "'%s' is %zu bytes, over the limit of %zu", path, cap - 1, limit);
    }
    char *buf = nn_malloc(cap);
    while (buf) {
        used += fread(buf + used, 1, cap - used - 1, f);
        if (used < cap - 1) break; /* end of file or an error, told apart below */
        if (cap - 1 >= limit) {
            nn_free(buf);
            fclose(f);
            return nn_error(NN_ERR_FORMAT, "'%s' is larger than the limit of %zu bytes", path, limit);
        }
        size_t grown = cap * 2 - 1 > limit ? limit + 1 : cap * 2;
        char *bigger = nn_realloc(buf, grown);
        if (!bigger) nn_free(buf);
        buf = bigger;
        cap = grown;
    }
    int failed = buf && ferror(f);
    fclose(f);
    if (!buf) return NN_ERR_NOMEM;
    if (failed) {
        nn_free(buf);
        return nn_error(NN_ERR_IO, "reading '%s' failed", path);
    }
    buf[used] = '\0';
    *data = buf;
    *size = used;
    return NN_OK;
}

int nn_write_file_atomic(const char *path, int (*write)(FILE *f, void *ctx), void *ctx) {
    size_t size = strlen(path) + 32;
    char *tmp = nn_malloc(size);
    if (!tmp) return NN_ERR_NOMEM;
    snprintf(tmp, size, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int status = nn_error(NN_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        nn_free(tmp);
        return status;
    }
    int status = write(f, ctx);
    if (!status && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        status = nn_error(NN_ERR_IO, "writing '%s' failed: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && !status) status = nn_error(NN_ERR_IO, "writing '%s' failed: %s", tmp, strerror(errno));
    if (!status && rename(tmp, path) != 0)
        status = nn_error(NN_ERR_IO, "cannot replace '%s': %s", path, strerror(errno));
    if (status) remove(tmp);
    nn_free(tmp);
    return status;
}

void *nn_zlib_alloc(void *opaque, unsigned items, unsigned size) {
    (void)opaque;
    return nn_calloc(items, size);
}

void nn_zlib_free(void *opaque, void *p) {
    (void)opaque;
    nn_free(p);
}

int nn_gunzip(const char *path, const unsigned char *in, size_t in_size, size_t limit, unsigned char **out,
              size_t *out_size) {
    *out = NULL;
    *out_size = 0;
    bool gzipped = in_size >= 2 && in[0] == 0x1f && in[1] == 0x8b;
    size_t cap = gzipped ? (in_size < limit / 4 ? in_size * 4 : limit) : in_size;
    unsigned char *buf = nn_malloc(cap ? cap : 1);
    if (!buf) return NN_ERR_NOMEM;
    if (!gzipped) {
        memcpy(buf, in, in_size);
        *out = buf;
        *out_size = in_size;
        return NN_OK;
    }
    z_stream z = { .zalloc = nn_zlib_alloc, .zfree = nn_zlib_free };
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        nn_free(buf);
        return nn_error(NN_ERR_NOMEM, "out of memory (zlib's state)");
    }
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)(in_size > UINT32_MAX ? UINT32_MAX : in_size);
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (z.total_out == cap) {
            if (cap >= limit) {
                rc = Z_BUF_ERROR;
                break;
            }
            size_t grown = cap * 2 > limit ? limit : cap * 2;
            unsigned char *bigger = nn_realloc(buf, grown);
            if (!bigger) {
                inflateEnd(&z);
                nn_free(buf);
                return NN_ERR_NOMEM;
            }
            buf = bigger;
            cap = grown;
        }
        z.next_out = buf + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out > UINT32_MAX ? UINT32_MAX : cap - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) break;
        if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
            rc = Z_DATA_ERROR; /* input ended inside the stream */
            break;
        }
    }
    size_t produced = z.total_out, consumed = z.total_in;
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        nn_free(buf);
        if (rc == Z_MEM_ERROR) return nn_error(NN_ERR_NOMEM, "out of memory (inflating)");
        if (rc == Z_BUF_ERROR && cap >= limit)
            return nn_error(NN_ERR_FORMAT, "'%s': inflates past the limit of %zu bytes", path, limit);
        return nn_error(NN_ERR_FORMAT, "'%s': corrupt or truncated gzip data (after %zu compressed bytes)", path, consumed);
    }
    *out = buf;
    *out_size = produced;
    return NN_OK;
}
