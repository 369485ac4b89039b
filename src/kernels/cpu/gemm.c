/* GEMM dispatch and threading: the blocked kernels themselves are in gemm_template.h, compiled
 * per instruction set by gemm_portable.c, gemm_avx2.c and gemm_avx512.c. The choice is a pure
 * function of the CPU, asked each call (__builtin_cpu_supports reads a table libgcc fills once
 * at start-up, so this costs a few loads). */
#include "kernels/kernels.h"
#include "core/threads.h"

#include <stddef.h>

/* Work a thread must get for the split to pay: the hand-over to a spinning worker and back
 * costs about 0.4 us, waking a sleeping one about 15 us of the caller's time, and such a share
 * takes 13 to 17 us on one AVX2 core (bench/gemm.c, 2-CPU Zen guest). */
#define GEMM_FLOPS_PER_THREAD (1 << 20)
/* A matrix-vector product (c one row or column, as in prediction at batch 1) streams its
 * matrix once for two flops per float: from L3 once the model's matrices outgrow a core's L2
 * (512 KB on Zen 3; the Fashion-MNIST MLP's are 930 KB). Split over threads, each core reads
 * the same part of each matrix at every call (the caller claims the first part, a spinning
 * worker the second), so each core's parts stay in its own L2. Such products therefore split
 * by the matrix's size: from twice this many floats (a 64 KB share, about 0.7 us on one core,
 * against 0.4 us for the hand-over). */
#ifndef GEMV_FLOATS_PER_THREAD
#define GEMV_FLOATS_PER_THREAD (1 << 14)
#endif

static bool cpu_has(nn_isa isa) {
#if defined(__x86_64__) || defined(__i386__)
    switch (isa) {
    case NN_ISA_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    case NN_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return isa == NN_ISA_PORTABLE || isa == NN_ISA_AUTO;
    }
#else
    return isa == NN_ISA_PORTABLE || isa == NN_ISA_AUTO;
#endif
}

nn_isa nn_cpu_isa(void) {
    if (cpu_has(NN_ISA_AVX512)) return NN_ISA_AVX512;
    if (cpu_has(NN_ISA_AVX2)) return NN_ISA_AVX2;
    return NN_ISA_PORTABLE;
}

typedef struct gemm_path {
    nn_gemm_fn *whole;
    nn_gemm_share_fn *share;
} gemm_path;

static const gemm_path *path_for(nn_isa isa) {
    static const gemm_path portable = { nn_gemm_portable, nn_gemm_portable_share };
#if defined(__x86_64__) || defined(__i386__)
    static const gemm_path avx2 = { nn_gemm_avx2, nn_gemm_avx2_share };
    static const gemm_path avx512 = { nn_gemm_avx512, nn_gemm_avx512_share };
#endif
    if (isa == NN_ISA_AUTO) isa = nn_cpu_isa();
    if (!cpu_has(isa)) return NULL;
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    case NN_ISA_AVX512: return &avx512;
    case NN_ISA_AVX2: return &avx2;
#endif
    default: return &portable;
    }
}

nn_gemm_fn *nn_gemm_for(nn_isa isa) {
    const gemm_path *path = path_for(isa);
    return path ? path->whole : NULL;
}

nn_gemm_share_fn *nn_gemm_share_for(nn_isa isa) {
    const gemm_path *path = path_for(isa);
    return path ? path->share : NULL;
}

void nn_gemm_cpu(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k, bool trans_a,
                 bool trans_b, bool accumulate) {
    nn_gemm_for(NN_ISA_AUTO)(c, a, b, m, n, k, trans_a, trans_b, accumulate);
}

/* Part `part` of `parts` of [0, extent) cut at multiples of `unit`: the units are dealt out as
 * evenly as they go. */
static void split_extent(int64_t extent, int64_t unit, int part, int parts, int64_t *start, int64_t *count) {
    int64_t units = (extent + unit - 1) / unit;
    int64_t first = units * part / parts * unit, end = units * (part + 1) / parts * unit;
    *start = first < extent ? first : extent;
    *count = (end < extent ? end : extent) - *start;
}

/* The extent of the largest part when [0, extent) is split as split_extent does. */
static int64_t largest_part(int64_t extent, int64_t unit, int parts) {
    int64_t units = (extent + unit - 1) / unit, most = (units + parts - 1) / parts * unit;
    return most < extent ? most : extent;
}

nn_gemm_rect nn_gemm_share_rect(int64_t m, int64_t n, int mr, int nr, int part, int parts) {
    nn_gemm_rect r = { 0, m, 0, n };
    if (parts <= 1) return r;
    /* The slowest share sets the time: split the way whose largest share is smaller; on a tie,
     * along n, where each share reads less of b (the operand it may have to pack). */
    if (largest_part(m, mr, parts) * n < m * largest_part(n, nr, parts))
        split_extent(m, mr, part, parts, &r.row0, &r.rows);
    else
        split_extent(n, nr, part, parts, &r.col0, &r.cols);
    return r;
}

typedef struct gemm_job {
    nn_gemm_share_fn *share;
    int shares; /* at most this many parts have work */
    float *c;
    const float *a, *b;
    int64_t m, n, k;
    bool trans_a, trans_b, accumulate;
    const nn_gemm_epilogue *epilogue;
} gemm_job;

static void run_share(void *ctx, int part, int parts) {
    const gemm_job *j = ctx;
    int shares = parts < j->shares ? parts : j->shares;
    if (part < shares)
        j->share(j->c, j->a, j->b, j->m, j->n, j->k, j->trans_a, j->trans_b, j->accumulate, j->epilogue, part, shares);
}

void nn_gemm_split(nn_threads *pool, nn_gemm_share_fn *share, float *c, const float *a, const float *b, int64_t m,
                   int64_t n, int64_t k, bool trans_a, bool trans_b, bool accumulate, const nn_gemm_epilogue *epilogue) {
    gemm_job job = { share, NN_MAX_THREADS, c, a, b, m, n, k, trans_a, trans_b, accumulate, epilogue };
    nn_threads_run(pool, run_share, &job);
}

void nn_gemm_ep(nn_threads *pool, float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
                bool trans_a, bool trans_b, bool accumulate, const nn_gemm_epilogue *epilogue) {
    nn_gemm_share_fn *share = nn_gemm_share_for(NN_ISA_AUTO);
    double shares = m == 1 || n == 1 ? (double)(m * n * k) / GEMV_FLOATS_PER_THREAD
                                     : 2.0 * (double)m * (double)n * (double)k / GEMM_FLOPS_PER_THREAD;
    if (shares < 2 || nn_threads_count(pool) < 2) {
        share(c, a, b, m, n, k, trans_a, trans_b, accumulate, epilogue, 0, 1);
        return;
    }
    gemm_job job = { share, shares < NN_MAX_THREADS ? (int)shares : NN_MAX_THREADS, c, a, b, m, n, k, trans_a, trans_b,
                     accumulate, epilogue };
    nn_threads_run(pool, run_share, &job);
}

void nn_gemm(nn_threads *pool, float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
             bool trans_a, bool trans_b, bool accumulate) {
    nn_gemm_ep(pool, c, a, b, m, n, k, trans_a, trans_b, accumulate, NULL);
}
