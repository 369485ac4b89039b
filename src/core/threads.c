/* The thread pool (see threads.h) and the process's thread-count setting.
 *
 * Hand-over: the caller publishes the task by bumping `generation`; a worker that finished
 * its last task less than SPIN_NS ago is still spinning on that counter and starts within
 * a few hundred nanoseconds; one that has gone to sleep on `wake` costs a futex wake-up and
 * a scheduler round (tens of microseconds). The spin covers the gaps between the kernels of
 * one training step, so a step pays the wake-up once at most; a model whose work is all
 * small never runs a task, and its workers sleep for good. The caller waits for the workers
 * the same way (spin, then sleep on `done`).
 *
 * Sleeping without lost wake-ups: a sleeper raises `sleepers` under the lock and then checks
 * `generation`; the caller bumps `generation` and then reads `sleepers`. Both are sequentially
 * consistent atomics, so at least one of the two sees the other's write: either the worker
 * does not sleep, or the caller takes the lock (held by the worker until it is waiting) and
 * broadcasts. `pending` and `caller_sleeping` pair the same way for the finish. */
#include "core/threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define SPIN_NS 50000
/* Kernels keep their scratch on the stack (the AVX-512 GEMM uses 80 KB), so each worker's
 * stack is set rather than left to the C library's default (128 KB on musl). */
#define WORKER_STACK_BYTES ((size_t)4 << 20)

typedef struct worker {
    nn_threads *pool;
    int index;
    pthread_t thread;
} worker;

struct nn_threads {
    int count;          /* threads a task runs on, the caller included */
    worker *workers;    /* count - 1 */
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    atomic_uint generation;      /* bumped once per task (and once to stop) */
    atomic_int pending;          /* workers still running the current task */
    atomic_int sleepers;         /* workers waiting on `wake` */
    atomic_bool caller_sleeping; /* the caller waits on `done` */
    atomic_bool stop;
    atomic_flag busy;            /* a task is running: other callers run theirs inline */
    nn_task_fn *fn;              /* the current task; written before `generation` is bumped */
    void *ctx;
};

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Spins until *counter differs from `seen` or SPIN_NS pass; true if it changed. */
static bool spin_until_changed(atomic_uint *counter, unsigned seen) {
    int64_t start = now_ns();
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(counter, memory_order_acquire) != seen) return true;
        cpu_relax();
        if (i % 64 == 0 && now_ns() - start > SPIN_NS) return false;
    }
}

static bool spin_until_zero(atomic_int *count) {
    int64_t start = now_ns();
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(count, memory_order_acquire) == 0) return true;
        cpu_relax();
        if (i % 64 == 0 && now_ns() - start > SPIN_NS) return false;
    }
}

/* Returns the generation of the next task (or of the stop request). */
static unsigned wait_for_task(nn_threads *p, unsigned seen) {
    if (!spin_until_changed(&p->generation, seen)) {
        pthread_mutex_lock(&p->lock);
        atomic_fetch_add(&p->sleepers, 1);
        while (atomic_load(&p->generation) == seen) pthread_cond_wait(&p->wake, &p->lock);
        atomic_fetch_sub(&p->sleepers, 1);
        pthread_mutex_unlock(&p->lock);
    }
    return atomic_load_explicit(&p->generation, memory_order_acquire);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    nn_threads *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_task(p, seen);
        if (atomic_load(&p->stop)) return NULL;
        p->fn(p->ctx, w->index, p->count);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

static void wait_for_workers(nn_threads *p) {
    if (spin_until_zero(&p->pending)) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->caller_sleeping, true);
    while (atomic_load(&p->pending) != 0) pthread_cond_wait(&p->done, &p->lock);
    atomic_store(&p->caller_sleeping, false);
    pthread_mutex_unlock(&p->lock);
}

void nn_threads_run(nn_threads *p, nn_task_fn *fn, void *ctx) {
    if (!p || p->count == 1 || atomic_flag_test_and_set_explicit(&p->busy, memory_order_acquire)) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->count - 1);
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    fn(ctx, 0, p->count);
    wait_for_workers(p);
    atomic_flag_clear_explicit(&p->busy, memory_order_release);
}

int nn_threads_count(const nn_threads *p) { return p ? p->count : 1; }

/* Stops and joins the first `started` workers, then frees the pool. */
static void stop_pool(nn_threads *p, int started) {
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, true);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < started; i++) pthread_join(p->workers[i].thread, NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    nn_free(p->workers);
    nn_free(p);
}

void nn_threads_free(nn_threads *p) {
    if (p) stop_pool(p, p->count - 1);
}

/* Initializes the lock and conditions; false (nothing left to undo) on failure. */
static bool init_sync(nn_threads *p) {
    if (pthread_mutex_init(&p->lock, NULL) != 0) return false;
    if (pthread_cond_init(&p->wake, NULL) == 0) {
        if (pthread_cond_init(&p->done, NULL) == 0) return true;
        pthread_cond_destroy(&p->wake);
    }
    pthread_mutex_destroy(&p->lock);
    return false;
}

/* Starts the workers; returns how many started. */
static int start_workers(nn_threads *p) {
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return 0;
    pthread_attr_setstacksize(&attr, WORKER_STACK_BYTES);
    int started = 0;
    for (; started < p->count - 1; started++) {
        worker *w = &p->workers[started];
        *w = (worker){ p, started + 1, 0 };
        if (pthread_create(&w->thread, &attr, worker_main, w) != 0) break;
    }
    pthread_attr_destroy(&attr);
    return started;
}

int nn_threads_new(int count, nn_threads **out) {
    *out = NULL;
    if (count <= 0) count = nn_get_num_threads();
    if (count > NN_MAX_THREADS)
        return nn_error(NN_ERR_ARG, "thread pool: %d threads asked for; at most %d", count, NN_MAX_THREADS);
    nn_threads *p = nn_calloc(1, sizeof *p);
    if (!p) return NN_ERR_NOMEM;
    p->count = count;
    p->workers = nn_calloc((size_t)count, sizeof *p->workers);
    if (!p->workers || !init_sync(p)) {
        int status = p->workers ? nn_error(NN_ERR_NOMEM, "thread pool: could not create its lock") : NN_ERR_NOMEM;
        nn_free(p->workers);
        nn_free(p);
        return status;
    }
    atomic_flag_clear(&p->busy);
    int started = start_workers(p);
    if (started < count - 1) {
        stop_pool(p, started);
        return nn_error(NN_ERR_NOMEM, "thread pool: could not start thread %d of %d", started + 2, count);
    }
    *out = p;
    return NN_OK;
}

/* ------------------------------------------------------------ the thread-count setting */

/* 0: not set, so the default applies. The one piece of mutable process state here. */
static atomic_int thread_count_setting;

static int cap_thread_count(long count) { return count > NN_MAX_THREADS ? NN_MAX_THREADS : (int)count; }

void nn_set_num_threads(int count) { atomic_store(&thread_count_setting, count <= 0 ? 0 : cap_thread_count(count)); }

/* NN_NUM_THREADS as a count, or 0 when unset or not a whole number >= 1. */
static int environment_thread_count(void) {
    const char *text = getenv("NN_NUM_THREADS");
    if (!text) return 0;
    char *end;
    long count = strtol(text, &end, 10); /* out of range: LONG_MIN or LONG_MAX, handled below */
    while (*end == ' ' || *end == '\t') end++;
    if (end == text || *end || count < 1) return 0;
    return cap_thread_count(count);
}

static int usable_cpu_count(void) {
#ifdef CPU_COUNT
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) > 0) return CPU_COUNT(&cpus);
#endif
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)(online < NN_MAX_THREADS ? online : NN_MAX_THREADS) : 1;
}

int nn_get_num_threads(void) {
    int count = atomic_load(&thread_count_setting);
    if (count > 0) return count;
    count = environment_thread_count();
    return count > 0 ? count : cap_thread_count(usable_cpu_count());
}
