/* Status messages, the allocator hook and checked allocation. */
#include "nn_internal.h"

#include <stdio.h>

#define NN_MESSAGE_SIZE 1024

static _Thread_local char last_error[NN_MESSAGE_SIZE];

static void *default_malloc(size_t size, void *ctx) { (void)ctx; return malloc(size); }
static void *default_realloc(void *p, size_t size, void *ctx) { (void)ctx; return realloc(p, size); }
static void default_free(void *p, void *ctx) { (void)ctx; free(p); }

/* Set once before use (documented as not thread-safe), so it is configuration, not state. */
static nn_allocator allocator = { default_malloc, default_realloc, default_free, NULL };

void nn_set_allocator(const nn_allocator *a) {
    if (a && a->malloc_fn && a->realloc_fn && a->free_fn) allocator = *a;
    else allocator = (nn_allocator){ default_malloc, default_realloc, default_free, NULL };
}

const char *nn_last_error(void) { return last_error; }

void nn_clear_error(void) { last_error[0] = '\0'; }

int nn_error(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

int nn_error_context(int status, const char *fmt, ...) {
    char prefix[256], old[NN_MESSAGE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t rest = sizeof last_error - n - 3;
    size_t m = strnlen(old, rest);
    memcpy(last_error + n + 2, old, m);
    last_error[n + 2 + m] = '\0';
    return status;
}

const char *nn_status_name(int status) {
    switch (status) {
    case NN_OK: return "NN_OK";
    case NN_ERR_ARG: return "NN_ERR_ARG";
    case NN_ERR_NOMEM: return "NN_ERR_NOMEM";
    case NN_ERR_IO: return "NN_ERR_IO";
    case NN_ERR_FORMAT: return "NN_ERR_FORMAT";
    case NN_ERR_SHAPE: return "NN_ERR_SHAPE";
    case NN_ERR_NAME: return "NN_ERR_NAME";
    case NN_ERR_STATE: return "NN_ERR_STATE";
    case NN_ERR_DATA: return "NN_ERR_DATA";
    default: return "NN_ERR_UNKNOWN";
    }
}

void nn_assert_fail(const char *cond, const char *file, int line) {
    fprintf(stderr, "nn: internal error: %s (%s:%d)\n", cond, file, line);
    abort();
}

void *nn_malloc(size_t size) {
    void *p = allocator.malloc_fn(size ? size : 1, allocator.ctx);
    if (!p) nn_error(NN_ERR_NOMEM, "out of memory (allocating %zu bytes)", size);
    return p;
}

bool nn_size_mul(size_t a, size_t b, size_t *out) {
    if (b && a > SIZE_MAX / b) return false;
    *out = a * b;
    return true;
}

void *nn_calloc(size_t count, size_t size) {
    size_t total;
    if (!nn_size_mul(count, size, &total)) {
        nn_error(NN_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = nn_malloc(total);
    if (p) memset(p, 0, total);
    return p;
}

void *nn_realloc(void *ptr, size_t size) {
    void *p = allocator.realloc_fn(ptr, size ? size : 1, allocator.ctx);
    if (!p) nn_error(NN_ERR_NOMEM, "out of memory (reallocating to %zu bytes)", size);
    return p;
}

void nn_free(void *ptr) {
    if (ptr) allocator.free_fn(ptr, allocator.ctx);
}

char *nn_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = nn_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

void nn_join_names(char *buf, size_t size, const char *const *names, size_t count) {
    size_t used = 0;
    if (size) buf[0] = '\0';
    for (size_t i = 0; i < count && names[i] && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}
