/* GEMM microbenchmark: GFLOP/s of nn's GEMM on the shapes that matter, the median of several
 * timed runs, on one thread and split over a pool of THREADS (forced, whatever the size:
 * nn_gemm itself keeps products under 2 MFLOP on one thread), side by side with OpenBLAS on
 * as many threads when built with it (runs alternate so all see the same machine state).
 * First it times the pool's round trip (a task of 20 us parts, beyond 20 us).
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc bench/gemm.c build/libnn.a -lm -lpthread -o build/bench_gemm
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -DNN_BENCH_OPENBLAS -I/usr/include/x86_64-linux-gnu \
 *      bench/gemm.c build/libnn.a -lopenblas -lm -lpthread -o build/bench_gemm
 *   OPENBLAS_NUM_THREADS=1 build/bench_gemm [auto|portable|avx2|avx512] [THREADS]   (path, pool size)
 * OPENBLAS_NUM_THREADS=1 matters: otherwise OpenBLAS starts a thread per core at load time,
 * and their spinning skews both columns when the benchmark is pinned to one core (the
 * benchmark sets OpenBLAS's count to THREADS through its API). */
#include "core/threads.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef NN_BENCH_OPENBLAS
#include <cblas.h>
#endif

enum { RUNS = 9 };
#define MIN_RUN_SECONDS 0.02

typedef struct {
    const char *what;
    int64_t m, n, k;
    bool trans_a, trans_b;
} shape;

static const shape SHAPES[] = {
    { "square", 1024, 1024, 1024, false, false },
    { "blog layer", 32, 32, 30, false, false },
    { "blog layer", 32, 16, 32, false, false },
    { "blog output", 32, 1, 16, false, false },
    { "blog dW", 30, 32, 32, true, false },
    { "blog dX", 32, 30, 32, false, true },
    { "fmnist fwd 1", 128, 256, 784, false, false },
    { "fmnist fwd 2", 128, 128, 256, false, false },
    { "fmnist dW 1", 784, 256, 128, true, false },
    { "fmnist dX 2", 128, 256, 128, false, true },
    { "fmnist dW 2", 256, 128, 128, true, false },
    { "fmnist dX 1", 128, 784, 256, false, true },
    { "fmnist infer 1", 1, 256, 784, false, false },
    { "fmnist infer 2", 1, 128, 256, false, false },
    { "cnn conv1 fwd", 14196, 32, 9, false, false },
    { "cnn conv1 dW", 9, 32, 86528, true, false },
    { "cnn conv2 fwd", 363, 64, 288, false, false },
    { "cnn conv2 dW", 288, 64, 15488, true, false },
    { "cnn conv2 dX", 363, 288, 64, false, true },
    { "cnn conv2 dW3", 288, 64, 363, true, false },
    { "cnn conv1 dW21", 9, 32, 14196, true, false },
    { "cnn conv2 wino pt", 108, 64, 32, false, false },
    { "cnn wino du", 32, 64, 72, true, false },
    { "cnn wino dv", 72, 32, 64, false, true },
    { "odd", 257, 257, 257, false, false },
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const shape *s;
    const float *a, *b;
    float *c;
    nn_gemm_share_fn *share;
} problem;

/* ctx: the pool (NULL: one thread) */
static void run_nn(const problem *p, void *pool) {
    nn_gemm_split(pool, p->share, p->c, p->a, p->b, p->s->m, p->s->n, p->s->k, p->s->trans_a, p->s->trans_b, false, NULL);
}

#ifdef NN_BENCH_OPENBLAS
static void run_openblas(const problem *p, void *unused) {
    (void)unused;
    const shape *s = p->s;
    cblas_sgemm(CblasRowMajor, s->trans_a ? CblasTrans : CblasNoTrans, s->trans_b ? CblasTrans : CblasNoTrans,
                (int)s->m, (int)s->n, (int)s->k, 1.0f, p->a, s->trans_a ? (int)s->m : (int)s->k, p->b,
                s->trans_b ? (int)s->k : (int)s->n, 0.0f, p->c, (int)s->n);
}
#endif

typedef void runner(const problem *p, void *ctx);

/* Seconds per call over one timed run of `reps` calls. */
static double time_run(runner *run, void *ctx, const problem *p, long reps) {
    double t0 = now();
    for (long r = 0; r < reps; r++) run(p, ctx);
    return (now() - t0) / (double)reps;
}

/* Calls per timed run so one run lasts at least MIN_RUN_SECONDS. */
static long calibrate(runner *run, void *ctx, const problem *p) {
    long reps = 1;
    while (time_run(run, ctx, p, reps) * (double)reps < MIN_RUN_SECONDS) reps *= 2;
    return reps;
}

static int compare_doubles(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(double *v, int count) {
    qsort(v, (size_t)count, sizeof *v, compare_doubles);
    return v[count / 2];
}

static nn_isa parse_isa(const char *name) {
    static const char *const names[] = { "auto", "portable", "avx2", "avx512" };
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) return (nn_isa)i;
    return (nn_isa)-1;
}

enum { POOL_TASKS = 400 };
#define PART_SECONDS 20e-6

/* Each part busy-waits PART_SECONDS, so that with workers at hand the parts run side by side. */
static void timed_part(void *ctx, int part, int parts) {
    (void)ctx, (void)part, (void)parts;
    double t0 = now();
    while (now() - t0 < PART_SECONDS) continue;
}

/* Microseconds a task of PART_SECONDS parts takes beyond PART_SECONDS: the pool's round trip
 * with its workers spinning (after 20 tasks back to back), and with them asleep (after a pause
 * of 2 ms: the caller runs the parts no worker claims in time). */
static void pool_round_trips(nn_threads *pool, double *spinning, double *asleep) {
    double hot[POOL_TASKS], cold[POOL_TASKS];
    for (int i = 0; i < POOL_TASKS; i++) {
        nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
        double t0 = now();
        nn_threads_run(pool, timed_part, NULL);
        cold[i] = (now() - t0 - PART_SECONDS) * 1e6;
        for (int warm = 0; warm < 20; warm++) nn_threads_run(pool, timed_part, NULL); /* the workers wake up */
        t0 = now();
        nn_threads_run(pool, timed_part, NULL);
        hot[i] = (now() - t0 - PART_SECONDS) * 1e6;
    }
    *spinning = median(hot, POOL_TASKS), *asleep = median(cold, POOL_TASKS);
}

typedef struct {
    double one, many, theirs; /* seconds per call: nn on one thread, nn on the pool, OpenBLAS */
} timing;

static timing time_shape(const problem *p, nn_threads *pool) {
    double one[RUNS], many[RUNS], theirs[RUNS] = { 0 };
    long one_reps = calibrate(run_nn, NULL, p), many_reps = calibrate(run_nn, pool, p);
#ifdef NN_BENCH_OPENBLAS
    long their_reps = calibrate(run_openblas, NULL, p);
#endif
    for (int r = 0; r < RUNS; r++) {
        one[r] = time_run(run_nn, NULL, p, one_reps);
        many[r] = time_run(run_nn, pool, p, many_reps);
#ifdef NN_BENCH_OPENBLAS
        theirs[r] = time_run(run_openblas, NULL, p, their_reps);
#endif
    }
    return (timing){ median(one, RUNS), median(many, RUNS), median(theirs, RUNS) };
}

int main(int argc, char **argv) {
    nn_isa isa = argc > 1 ? parse_isa(argv[1]) : NN_ISA_AUTO;
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    nn_gemm_share_fn *share = (int)isa >= 0 ? nn_gemm_share_for(isa) : NULL;
    nn_threads *pool = NULL;
    if (!share || threads < 1 || nn_threads_new(threads, &pool) != NN_OK) {
        fprintf(stderr, "usage: %s [auto|portable|avx2|avx512] [THREADS] (a path this CPU runs, 1 to %d threads)\n",
                argv[0], NN_MAX_THREADS);
        return 2;
    }
    static const char *const isa_names[] = { "auto", "portable", "AVX2+FMA", "AVX-512" };
    printf("nn GEMM, path %s; GFLOP/s, median of %d runs, on 1 and on %d threads\n",
           isa_names[isa == NN_ISA_AUTO ? nn_cpu_isa() : isa], RUNS, threads);
    double spinning, asleep;
    pool_round_trips(pool, &spinning, &asleep);
    printf("pool of %d, tasks of %.0f us parts: %.2f us beyond that with the workers spinning, %.1f us with them "
           "asleep\n", threads, PART_SECONDS * 1e6, spinning, asleep);
#ifdef NN_BENCH_OPENBLAS
    openblas_set_num_threads(threads);
#endif
    printf("%-13s %5s %5s %5s %2s %8s %8s %8s %8s %9s\n", "shape", "m", "n", "k", "op", "nn x1", "nn xT", "speedup",
           "openblas", "nn xT us");
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
        const shape *s = &SHAPES[i];
        size_t na = (size_t)(s->m * s->k), nb = (size_t)(s->k * s->n), nc = (size_t)(s->m * s->n);
        float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
        if (!a || !b || !c) return 1;
        for (size_t j = 0; j < na; j++) a[j] = (float)((j * 7919) % 1000) / 1000.0f - 0.5f;
        for (size_t j = 0; j < nb; j++) b[j] = (float)((j * 104729) % 1000) / 1000.0f - 0.5f;
        problem p = { s, a, b, c, share };
        double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
        timing t = time_shape(&p, pool);
        char op[3] = { s->trans_a ? 'T' : 'N', s->trans_b ? 'T' : 'N', 0 };
        printf("%-13s %5lld %5lld %5lld %2s %8.1f %8.1f %8.2f %8.1f %9.2f\n", s->what, (long long)s->m,
               (long long)s->n, (long long)s->k, op, flops / t.one * 1e-9, flops / t.many * 1e-9, t.one / t.many,
               t.theirs > 0 ? flops / t.theirs * 1e-9 : 0.0, t.many * 1e6);
        free(a), free(b), free(c);
    }
    nn_threads_free(pool);
    return 0;
}
