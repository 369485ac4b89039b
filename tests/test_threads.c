/* The thread pool (src/core/threads.c), the thread-count setting, and the GEMM split over
 * threads: every share of c computed exactly once, bitwise equal to one thread. */
#include "../src/core/threads.h"
#include "../src/kernels/kernels.h"
#include "test.h"
#include "failing_alloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static void sleep_us(long us) {
    struct timespec t = { 0, us * 1000 };
    nanosleep(&t, NULL);
}

/* ------------------------------------------------------------ the pool */

typedef struct tally {
    atomic_long runs[NN_MAX_THREADS]; /* fn calls per part */
    atomic_int wrong_count;           /* calls whose `parts` was not the pool's thread count */
    int expected_parts;
    bool slow;                        /* parts run by workers sleep past the caller's spin */
    pthread_t caller;
} tally;

static void count_call(void *ctx, int part, int parts) {
    tally *t = ctx;
    if (parts != t->expected_parts || part < 0 || part >= parts) atomic_fetch_add(&t->wrong_count, 1);
    else atomic_fetch_add(&t->runs[part], 1);
    if (t->slow && !pthread_equal(pthread_self(), t->caller)) sleep_us(1500);
}

/* Each part runs exactly once per task, 10,000 times over, for 1 to 8 threads. Some tasks
 * start after a pause long enough for the workers to have gone to sleep, and in some the
 * workers' parts are slow enough for the caller to sleep: a lost wake-up in either hangs the
 * test. */
TEST(pool_runs_each_part_once) {
    enum { RUNS = 10000 };
    for (int count = 1; count <= 8; count++) {
        nn_threads *pool;
        CHECK(nn_threads_new(count, &pool) == NN_OK);
        if (!pool) continue;
        CHECK(nn_threads_count(pool) == count);
        tally t = { .expected_parts = count, .caller = pthread_self() };
        for (long run = 0; run < RUNS; run++) {
            if (run % 500 == 0) sleep_us(1500);
            t.slow = run % 500 == 250;
            nn_threads_run(pool, count_call, &t);
        }
        CHECK(atomic_load(&t.wrong_count) == 0);
        for (int i = 0; i < count; i++) CHECK(atomic_load(&t.runs[i]) == RUNS);
        nn_threads_free(pool);
    }
}

typedef struct caller_check {
    pthread_t caller;
    int calls, on_caller, part_sum, parts_seen;
} caller_check;

static void note_caller(void *ctx, int part, int parts) {
    caller_check *c = ctx;
    c->calls++;
    c->on_caller += pthread_equal(pthread_self(), c->caller);
    c->part_sum += part;
    c->parts_seen = parts;
}

/* A NULL pool and a pool of one thread run the task once, inline, as part 0 of 1. */
TEST(pool_null_runs_inline) {
    caller_check c = { pthread_self(), 0, 0, 0, 0 };
    nn_threads_run(NULL, note_caller, &c);
    CHECK(c.calls == 1 && c.on_caller == 1 && c.part_sum == 0 && c.parts_seen == 1);
    CHECK(nn_threads_count(NULL) == 1);
    nn_threads *one;
    CHECK(nn_threads_new(1, &one) == NN_OK);
    c = (caller_check){ pthread_self(), 0, 0, 0, 0 };
    nn_threads_run(one, note_caller, &c);
    CHECK(c.calls == 1 && c.on_caller == 1 && c.parts_seen == 1);
    nn_threads_free(one);
    nn_threads_free(NULL);
}

typedef struct nested {
    nn_threads *pool;
    caller_check inner[4];
} nested;

/* A task that runs a task on its own pool: the inner one runs inline in each part. */
static void run_inner(void *ctx, int part, int parts) {
    (void)parts;
    nested *n = ctx;
    n->inner[part].caller = pthread_self();
    nn_threads_run(n->pool, note_caller, &n->inner[part]);
}

TEST(pool_busy_runs_inline) {
    nested n = { 0 };
    CHECK(nn_threads_new(4, &n.pool) == NN_OK);
    if (!n.pool) return;
    nn_threads_run(n.pool, run_inner, &n);
    for (int i = 0; i < 4; i++) CHECK(n.inner[i].calls == 1 && n.inner[i].on_caller == 1 && n.inner[i].parts_seen == 1);
    nn_threads_free(n.pool);
}

typedef struct shared_caller {
    nn_threads *pool;
    atomic_long calls, expected; /* fn calls, and the sum of `parts` over this caller's tasks */
} shared_caller;

static void count_into(void *ctx, int part, int parts) {
    shared_caller *s = ctx;
    atomic_fetch_add(&s->calls, 1);
    if (part == 0) atomic_fetch_add(&s->expected, parts);
}

static void *run_many(void *arg) {
    for (int i = 0; i < 2000; i++) nn_threads_run(((shared_caller *)arg)->pool, count_into, arg);
    return NULL;
}

/* Two threads running tasks on one pool at once (as two predicts on one model may): each task
 * runs fully, on the pool or inline. */
TEST(pool_shared_by_two_callers) {
    nn_threads *pool;
    CHECK(nn_threads_new(3, &pool) == NN_OK);
    if (!pool) return;
    shared_caller a = { pool, 0, 0 }, b = { pool, 0, 0 };
    pthread_t other;
    CHECK(pthread_create(&other, NULL, run_many, &b) == 0);
    run_many(&a);
    pthread_join(other, NULL);
    CHECK(atomic_load(&a.calls) == atomic_load(&a.expected));
    CHECK(atomic_load(&b.calls) == atomic_load(&b.expected));
    nn_threads_free(pool);
}

/* Freed right away (workers perhaps not yet started), after sleeping, and while spinning. */
TEST(pool_free_while_idle) {
    for (int i = 0; i < 3; i++) {
        nn_threads *pool;
        CHECK(nn_threads_new(4, &pool) == NN_OK);
        if (!pool) continue;
        tally t = { .expected_parts = 4, .caller = pthread_self() };
        if (i > 0) nn_threads_run(pool, count_call, &t);
        if (i == 1) sleep_us(2000);
        nn_threads_free(pool);
    }
}

TEST(pool_bad_count) {
    nn_threads *pool = (nn_threads *)&pool;
    CHECK(nn_threads_new(NN_MAX_THREADS + 1, &pool) == NN_ERR_ARG);
    CHECK(pool == NULL);
    CHECK_CONTAINS(nn_last_error(), "65 threads asked for; at most 64");
    CHECK(nn_threads_new(0, &pool) == NN_OK);
    CHECK(nn_threads_count(pool) == nn_get_num_threads());
    nn_threads_free(pool);
}

/* Failing each allocation in turn: a clean NN_ERR_NOMEM and nothing left (ASan's leak check). */
TEST(pool_allocation_failures) {
    int status = NN_ERR_NOMEM, failures = 0;
    for (long n = 1; n <= 20 && status == NN_ERR_NOMEM; n++) {
        failing_alloc state;
        failing_alloc_install(&state, n);
        nn_threads *pool = (nn_threads *)&pool;
        status = nn_threads_new(3, &pool);
        nn_set_allocator(NULL);
        if (status == NN_ERR_NOMEM) {
            failures++;
            CHECK(pool == NULL);
            CHECK_CONTAINS(nn_last_error(), "out of memory");
        }
        nn_threads_free(status ? NULL : pool);
    }
    CHECK(status == NN_OK);
    CHECK(failures >= 2);
}

/* ------------------------------------------------------------ the thread-count setting */

static int count_with_environment(const char *value) {
    if (value) setenv("NN_NUM_THREADS", value, 1);
    else unsetenv("NN_NUM_THREADS");
    return nn_get_num_threads();
}

TEST(thread_count_setting) {
    nn_set_num_threads(0);
    int cpus = count_with_environment(NULL);
    CHECK(cpus >= 1 && cpus <= NN_MAX_THREADS);
    CHECK(count_with_environment("5") == 5);
    CHECK(count_with_environment(" 7\t") == 7);
    CHECK(count_with_environment("1") == 1);
    CHECK(count_with_environment("1000") == NN_MAX_THREADS);
    CHECK(count_with_environment("99999999999999999999999") == NN_MAX_THREADS);
    const char *ignored[] = { "", " ", "0", "-2", "abc", "3x", "2.5", "-99999999999999999999999" };
    for (size_t i = 0; i < NN_ARRAY_LEN(ignored); i++) CHECK(count_with_environment(ignored[i]) == cpus);
    nn_set_num_threads(3); /* the call wins over the environment */
    CHECK(count_with_environment("5") == 3);
    nn_set_num_threads(100);
    CHECK(nn_get_num_threads() == NN_MAX_THREADS);
    nn_set_num_threads(-1); /* back to the default */
    CHECK(count_with_environment("5") == 5);
    nn_set_num_threads(0);
    unsetenv("NN_NUM_THREADS");
    nn_threads *pool;
    CHECK(nn_threads_new(0, &pool) == NN_OK);
    CHECK(nn_threads_count(pool) == cpus);
    nn_threads_free(pool);
}

/* ------------------------------------------------------------ the GEMM over threads */

/* The shares tile c exactly once, each starting on a register tile's corner. */
TEST(gemm_shares_tile_c) {
    const int64_t extents[] = { 1, 7, 13, 14, 17, 33, 100, 257, 1024 };
    static unsigned char covered[1024 * 1024];
    for (size_t im = 0; im < NN_ARRAY_LEN(extents); im++)
        for (size_t in = 0; in < NN_ARRAY_LEN(extents); in++)
            for (int threads = 1; threads <= 9; threads++) {
                int64_t m = extents[im], n = extents[in];
                const int mr = 14, nr = 32;
                memset(covered, 0, (size_t)(m * n));
                int bad = 0;
                for (int part = 0; part < threads; part++) {
                    nn_gemm_rect r = nn_gemm_share_rect(m, n, mr, nr, part, threads);
                    if (r.rows <= 0 || r.cols <= 0) continue;
                    bad += r.row0 % mr != 0 || r.col0 % nr != 0 || r.row0 + r.rows > m || r.col0 + r.cols > n;
                    for (int64_t i = r.row0; i < r.row0 + r.rows; i++)
                        for (int64_t j = r.col0; j < r.col0 + r.cols; j++) covered[i * n + j]++;
                }
                for (int64_t i = 0; i < m * n; i++) bad += covered[i] != 1;
                if (bad) printf("  m=%lld n=%lld threads=%d: shares do not tile c\n", (long long)m, (long long)n, threads);
                CHECK(bad == 0);
            }
}

static const int64_t SIZES[] = { 1, 7, 17, 33, 257 };

static void fill(float *x, int64_t n, nn_rng *rng) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(2.0 * nn_rng_uniform(rng) - 1.0);
}

/* One shape: the pool's split against share(..., 0, 1), bit for bit; c starts as NaN when not
 * accumulating (every element must be written) and as numbers when accumulating (each added
 * once: twice or never would change it). Returns 1 on a mismatch. */
static int split_differs(nn_threads *pool, nn_gemm_share_fn *share, int64_t m, int64_t n, int64_t k, int variant,
                         nn_rng *rng) {
    bool trans_a = variant & 1, trans_b = variant & 2, accumulate = variant & 4;
    float bias[257];
    fill(bias, n, rng);
    /* variant 8 and up: with a bias + ReLU epilogue (each share offsets the bias to its columns) */
    const nn_gemm_epilogue *ep = variant & 8 ? &(nn_gemm_epilogue){ bias, true } : NULL;
    size_t bytes = (size_t)(m * n) * sizeof(float);
    float *a = nn_malloc((size_t)(m * k) * sizeof *a), *b = nn_malloc((size_t)(k * n) * sizeof *b);
    float *one = nn_malloc(bytes), *split = nn_malloc(bytes);
    fill(a, m * k, rng);
    fill(b, k * n, rng);
    if (accumulate) fill(one, m * n, rng);
    else
        for (int64_t i = 0; i < m * n; i++) one[i] = NAN;
    memcpy(split, one, bytes);
    share(one, a, b, m, n, k, trans_a, trans_b, accumulate, ep, 0, 1);
    nn_gemm_split(pool, share, split, a, b, m, n, k, trans_a, trans_b, accumulate, ep);
    int differs = memcmp(one, split, bytes) != 0;
    if (differs)
        printf("  %d threads, m=%lld n=%lld k=%lld trans_a=%d trans_b=%d accumulate=%d epilogue=%d: split differs\n",
               nn_threads_count(pool), (long long)m, (long long)n, (long long)k, trans_a, trans_b, accumulate, ep != NULL);
    nn_free(a), nn_free(b), nn_free(one), nn_free(split);
    return differs;
}

static void check_split(nn_isa isa, const char *name) {
    nn_gemm_share_fn *share = nn_gemm_share_for(isa);
    if (!share) {
        printf("  note: this CPU has no %s; its threaded GEMM is not tested here\n", name);
        return;
    }
    const int counts[] = { 1, 2, 3, 8 };
    nn_rng rng;
    nn_rng_seed(&rng, 11);
    for (size_t c = 0; c < NN_ARRAY_LEN(counts); c++) {
        nn_threads *pool;
        CHECK(nn_threads_new(counts[c], &pool) == NN_OK);
        int differing = 0;
        for (size_t im = 0; im < NN_ARRAY_LEN(SIZES); im++)
            for (size_t in = 0; in < NN_ARRAY_LEN(SIZES); in++)
                for (size_t ik = 0; ik < NN_ARRAY_LEN(SIZES); ik++)
                    for (int variant = 0; variant < 16; variant++)
                        differing += split_differs(pool, share, SIZES[im], SIZES[in], SIZES[ik], variant, &rng);
        CHECK(differing == 0);
        nn_threads_free(pool);
    }
}

TEST(gemm_split_portable) { check_split(NN_ISA_PORTABLE, "portable"); }
TEST(gemm_split_avx2) { check_split(NN_ISA_AVX2, "AVX2 + FMA"); }
TEST(gemm_split_avx512) { check_split(NN_ISA_AVX512, "AVX-512"); }

/* nn_gemm, which splits only work large enough to pay, gives nn_gemm_cpu's bits either way;
 * matrix-vector products (batch 1, one output column) split by the matrix's size. */
TEST(gemm_threshold_same_bits) {
    const int64_t shapes[][3] = { { 32, 32, 30 }, { 128, 256, 784 }, { 784, 256, 128 }, { 128, 784, 256 },
                                  { 1, 256, 784 }, { 1, 128, 256 }, { 1000, 1, 300 }, { 1, 1000, 33 } };
    nn_threads *pool;
    CHECK(nn_threads_new(2, &pool) == NN_OK);
    nn_rng rng;
    nn_rng_seed(&rng, 5);
    for (size_t s = 0; s < NN_ARRAY_LEN(shapes); s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = nn_malloc((size_t)(m * k) * sizeof *a), *b = nn_malloc((size_t)(k * n) * sizeof *b);
        float *one = nn_malloc((size_t)(m * n) * sizeof *one), *pooled = nn_malloc((size_t)(m * n) * sizeof *one);
        fill(a, m * k, &rng);
        fill(b, k * n, &rng);
        for (int t = 0; t < 4; t++) {
            nn_gemm_cpu(one, a, b, m, n, k, t & 1, t & 2, false);
            nn_gemm(pool, pooled, a, b, m, n, k, t & 1, t & 2, false);
            CHECK(memcmp(one, pooled, (size_t)(m * n) * sizeof *one) == 0);
            nn_gemm(NULL, pooled, a, b, m, n, k, t & 1, t & 2, false);
            CHECK(memcmp(one, pooled, (size_t)(m * n) * sizeof *one) == 0);
        }
        nn_free(a), nn_free(b), nn_free(one), nn_free(pooled);
    }
    nn_threads_free(pool);
}

int main(void) {
    RUN_TESTS(pool_runs_each_part_once, pool_null_runs_inline, pool_busy_runs_inline, pool_shared_by_two_callers,
              pool_free_while_idle, pool_bad_count, pool_allocation_failures, thread_count_setting, gemm_shares_tile_c,
              gemm_split_portable, gemm_split_avx2, gemm_split_avx512, gemm_threshold_same_bits);
}
