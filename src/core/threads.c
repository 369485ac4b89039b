/* The thread pool (see threads.h) and the process's thread-count setting.
 *
 * A task is `count` parts, fn(ctx, part, count) for each part. The caller and the workers
 * claim parts from a counter until none is left, so a part runs on whichever thread gets to
 * it first; the caller then waits only for parts already claimed. A worker that is late (still
 * waking up, or descheduled by the host) costs the task nothing but the work it would have
 * shared; the caller never waits for a worker that has not started.
 *
 * Hand-over: the caller publishes a task by bumping `generation`. A worker that finished its
 * last part less than SPIN_NS ago is still spinning on that counter and claims a part within
 * a few hundred nanoseconds; one that has gone to sleep on `wake` costs a futex wake-up and a
 * scheduler round (tens of microseconds, more under a hypervisor). The spin outlasts the gaps
 * between the kernels of a training step, so a step pays a wake-up once at most, and a model
 * whose work is all small never runs a task, so its workers sleep for good. The caller waits
 * for claimed parts the same way (spin, then sleep on `done`).
 *
 * Sleeping without lost wake-ups: a sleeper raises `sleepers` under the lock and then checks
 * `generation`; the caller bumps `generation` and then reads `sleepers`. Both are sequentially
 * consistent atomics, so at least one of the two sees the other's write: either the worker
 * does not sleep, or the caller takes the lock (held by the worker until it is waiting) and
 * broadcasts. `parts_done` and `caller_sleeping` pair the same way for the finish.
 *
 * Claims: the caller writes fn and ctx, then resets `next_part` to 0, then bumps `generation`.
 * A claim that gets a part below `count` was made after that reset, so it sees this task's fn
 * and ctx; a worker still claiming from the previous task finds the counter at `count` or
 * beyond and claims nothing.
 *
 * Placement: Linux tends to wake a sleeping thread on the CPU of the thread that wakes it,
 * and under a hypervisor it does so even when another CPU is idle (an idle virtual CPU looks
 * preempted to the guest). A worker woken so shares the caller's CPU, runs only when the
 * caller stops, and stays there until the load balancer moves it milliseconds later (measured
 * on a 2-CPU KVM guest: after each wake-up, both parts of the next tasks ran on the caller's
 * CPU). So a worker goes to sleep with its affinity excluding the CPU of the last caller, and
 * restores it once awake elsewhere (the scheduler leaves a running thread where it is); the
 * caller pays nothing for it. */
#include "core/threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

/* Long enough to span the gaps between kernels (elementwise ops, the optimizer, gathering the
 * next batch): a worker that sleeps in them is woken at the next task, later than it is
 * needed and, under a hypervisor, on the wrong CPU. */
#define SPIN_NS 1000000
/* Pauses (about 2 us in all) before a spinning thread starts yielding its CPU, so that where
 * threads outnumber free CPUs the one being waited for gets to run. */
#define PAUSE_SPINS 256
/* Kernels keep their scratch on the stack (the AVX-512 GEMM uses 80 KB), so each worker's
 * stack is set rather than left to the C library's default (128 KB on musl). */
#define WORKER_STACK_BYTES ((size_t)4 << 20)

struct nn_threads {
    int count;          /* parts per task, and threads (count - 1 workers and the caller) */
    pthread_t *workers;
#ifdef CPU_COUNT
    cpu_set_t allowed;  /* the CPUs the workers may run on */
#endif
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    atomic_flag busy;            /* a task is running: other callers run theirs inline */
    atomic_uint generation;      /* bumped once per task (and once to stop) */
    atomic_bool stop;
    atomic_int caller_cpu;       /* where the last task's caller ran (-1: unknown) */
    nn_task_fn *fn;              /* the current task, read only by a thread holding a claim */
    void *ctx;
    /* Keeps what claiming and finishing threads write off the cache line that spinning
     * workers read (heap blocks are not 64-byte aligned, so _Alignas would not do). */
    char apart[64];
    atomic_int next_part;        /* the next part to claim; count or more: none left */
    atomic_uint parts_done;
    atomic_int sleepers;         /* workers waiting on `wake` */
    atomic_bool caller_sleeping; /* the caller waits on `done` */
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

/* Spins until *counter differs from `value` (until_different) or equals it (otherwise),
 * SPIN_NS at most: pausing at first, then yielding the CPU. True if the wait ended. */
static bool spin_while(atomic_uint *counter, unsigned value, bool until_different) {
    int64_t start = now_ns();
    for (unsigned i = 1;; i++) {
        if ((atomic_load_explicit(counter, memory_order_acquire) != value) == until_different) return true;
        if (i < PAUSE_SPINS) {
            cpu_relax();
        } else {
            sched_yield();
            if (now_ns() - start > SPIN_NS) return false;
        }
    }
}

static int current_cpu(void) {
#ifdef CPU_COUNT
    return sched_getcpu();
#else
    return -1;
#endif
}

/* Runs parts of the current task until none is left unclaimed. */
static void run_parts(nn_threads *p) {
    for (int part; (part = atomic_fetch_add(&p->next_part, 1)) < p->count;) {
        p->fn(p->ctx, part, p->count);
        if (atomic_fetch_add(&p->parts_done, 1) == (unsigned)p->count - 1 && atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

/* Keeps the calling worker off `cpu` (unless it may run nowhere else), or with `cpu` < 0 lets
 * it run on all the CPUs it may. */
static void keep_off_cpu(const nn_threads *p, int cpu) {
#ifdef CPU_COUNT
    cpu_set_t cpus = p->allowed;
    if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_CLR(cpu, &cpus);
    if (CPU_COUNT(&cpus) > 0) sched_setaffinity(0, sizeof cpus, &cpus);
#else
    (void)p, (void)cpu;
#endif
}

/* Returns the generation of the next task (or of the stop request). A worker that sleeps does
 * so kept off the CPU of the last task's caller, so that its wake-up puts it elsewhere (see
 * Placement), and once awake may run anywhere again. */
static unsigned wait_for_task(nn_threads *p, unsigned seen) {
    if (!spin_while(&p->generation, seen, true)) {
        keep_off_cpu(p, atomic_load_explicit(&p->caller_cpu, memory_order_relaxed));
        pthread_mutex_lock(&p->lock);
        atomic_fetch_add(&p->sleepers, 1);
        while (atomic_load(&p->generation) == seen) pthread_cond_wait(&p->wake, &p->lock);
        atomic_fetch_sub(&p->sleepers, 1);
        pthread_mutex_unlock(&p->lock);
        keep_off_cpu(p, -1);
    }
    return atomic_load_explicit(&p->generation, memory_order_acquire);
}

static void *worker_main(void *arg) {
    nn_threads *p = arg;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_task(p, seen);
        if (atomic_load(&p->stop)) return NULL;
        run_parts(p);
    }
}

/* Waits until every part claimed by a worker is done. */
static void wait_for_parts(nn_threads *p) {
    if (spin_while(&p->parts_done, (unsigned)p->count, false)) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->caller_sleeping, true);
    while (atomic_load(&p->parts_done) != (unsigned)p->count) pthread_cond_wait(&p->done, &p->lock);
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
    atomic_store_explicit(&p->caller_cpu, current_cpu(), memory_order_relaxed);
    atomic_store(&p->parts_done, 0);
    atomic_store(&p->next_part, 0);
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    run_parts(p);
    wait_for_parts(p);
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
    for (int i = 0; i < started; i++) pthread_join(p->workers[i], NULL);
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
    while (started < p->count - 1 && pthread_create(&p->workers[started], &attr, worker_main, p) == 0) started++;
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
    atomic_store(&p->next_part, count);
    atomic_store(&p->caller_cpu, -1);
#ifdef CPU_COUNT
    if (sched_getaffinity(0, sizeof p->allowed, &p->allowed) != 0) CPU_ZERO(&p->allowed);
#endif
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
