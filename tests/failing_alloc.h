/* An nn allocator for tests that watch or fail allocations: it counts every malloc and realloc,
 * notes the largest request, and fails the call numbered fail_at (from 1), or that call and
 * every one after it. Allocation-failure sweeps install it with fail_at = 1, 2, ... until the
 * code under test succeeds; each failure must be a clean error (ASan's leak check sees what a
 * failure leaves behind). For test programs only. */
#ifndef NN_TEST_FAILING_ALLOC_H
#define NN_TEST_FAILING_ALLOC_H

#include "nn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* fail_at for an allocator that fails nothing: it only counts. */
enum { FAILING_ALLOC_NONE = 0 };

typedef struct failing_alloc {
    long calls;      /* malloc and realloc calls since it was installed */
    long fail_at;    /* the call that fails, from 1; FAILING_ALLOC_NONE: none */
    bool fail_after; /* every call after fail_at fails too */
    size_t largest;  /* the largest size asked for */
} failing_alloc;

/* Counts the call and says whether it fails. */
static inline bool failing_alloc_fails_(failing_alloc *f, size_t size) {
    long n = ++f->calls;
    if (size > f->largest) f->largest = size;
    return f->fail_at != FAILING_ALLOC_NONE && (n == f->fail_at || (f->fail_after && n > f->fail_at));
}

static inline void *failing_alloc_malloc_(size_t size, void *ctx) {
    return failing_alloc_fails_(ctx, size) ? NULL : malloc(size);
}

static inline void *failing_alloc_realloc_(void *p, size_t size, void *ctx) {
    return failing_alloc_fails_(ctx, size) ? NULL : realloc(p, size);
}

static inline void failing_alloc_free_(void *p, void *ctx) {
    (void)ctx;
    free(p);
}

static inline void failing_alloc_set_(failing_alloc *f, long fail_at, bool fail_after) {
    *f = (failing_alloc){ .fail_at = fail_at, .fail_after = fail_after };
    nn_set_allocator(&(nn_allocator){ failing_alloc_malloc_, failing_alloc_realloc_, failing_alloc_free_, f });
}

/* Makes f, counting from zero, nn's allocator, failing only allocation number fail_at (from 1;
 * FAILING_ALLOC_NONE fails none). f must outlive its use; nn_set_allocator(NULL) restores malloc. */
static inline void failing_alloc_install(failing_alloc *f, long fail_at) { failing_alloc_set_(f, fail_at, false); }

/* The same, failing allocation number fail_at and every one after it. */
static inline void failing_alloc_install_from(failing_alloc *f, long fail_at) { failing_alloc_set_(f, fail_at, true); }

#endif
