/* The blocked GEMM, written once and compiled once per instruction set: gemm_portable.c,
 * gemm_avx2.c and gemm_avx512.c each define the vector macros below and include this file.
 *
 * The including file defines:
 *   GEMM_NAME      the exported function's name (an nn_gemm_fn); GEMM_NAME_share is the
 *                  nn_gemm_share_fn
 *   GEMM_TARGET    the function attribute naming the instruction set (may be empty)
 *   VEC, VLEN      the vector type and its number of floats
 *   VZERO(), VLOAD(p), VSTORE(p, v), VBCAST(x), VADD(x, y), VFMA(a, b, acc) = acc + a * b
 *   VHSUM(v)       the sum of a vector's floats, in a fixed order
 *   SFMA(a, b, acc) one float's acc + a * b, rounded as one lane of VFMA
 *   VLOAD_N(p, n), VSTORE_N(p, v, n)  the first n < VLEN floats only (the rest loaded as 0)
 *   VRELU(v)       max(v, 0) lane by lane, 0 for NaN and -0 (as relu_value)
 *   MR             rows of c in one register tile (the broadcast operand, a)
 *   GEMM_ROWS(X)   X(1) X(2) ... X(MR): one kernel is made for each row count
 *   KC, MC         the k extent of a packed block, the rows of a in one packed block (each
 *                  file guards them with #ifndef so a tuning build can sweep them with -D)
 * A register tile is MR rows by NV * VLEN columns; NV is 2 for every instruction set.
 *
 * Blocking (Goto / BLIS, with the roles of a and b swapped because c is row-major and vectors
 * run along n): a block of a (MC x KC, packed so each MR-row sliver is read as one stream)
 * stays in L2; a sliver of b (KC x NR, packed zero-padded) stays in L1 while every sliver of the
 * a block passes over it; the MR x NR tile of c lives in registers. Small problems skip the
 * packing that would not pay: a is read in place through its strides (a broadcast load reads
 * any address) unless n is wide enough to amortize packing it, and b rows are read in place
 * unless they are transposed or their stride would make the sliver collide in L1. The buffers
 * live on the stack (69 KB for AVX2, 80 KB for AVX-512) because the kernel may not allocate;
 * so b is packed sliver by sliver for each block of a rather than once per k block, which costs
 * several percent at large sizes (MC is as large as the stack budget allows, to amortize it).
 * Each output is summed in a fixed order (k block after k block, each summed from zero in a
 * register), the same whichever block of c a thread computes it in, so results are the same
 * from run to run and for any thread count. A thread's share of c is a block of whole register
 * tiles (nn_gemm_share_rect), for which it packs its own slivers on its own stack. */

#include "kernels/kernels.h"

#include <stdint.h>
#include <string.h>

#define NV 2
#define NR (NV * VLEN)
_Static_assert(MC % MR == 0, "a packed block holds whole slivers of MR rows");
#define GEMM_CAT_(a, b) a##_##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
#define LOCAL(name) GEMM_CAT(name, GEMM_NAME)
#define GEMM_INLINE static inline __attribute__((always_inline)) GEMM_TARGET
/* Unrolled early, the loops over a tile's rows and vectors leave the accumulator array with
 * constant indices only, so the compiler keeps it in registers instead of on the stack. */
#define UNROLL _Pragma("GCC unroll 16")
/* Above this many floats a sliver of b read in place (rows n apart) would alias in L1. */
#define B_IN_PLACE_MAX_SPAN 8192
/* From this n on, a is packed: each packed float then feeds at least n / NR tiles. */
#ifndef PACK_A_MIN_N
#define PACK_A_MIN_N (4 * NR)
#endif

/* How a tile reads a: ROW_CONTIGUOUS when a tile's rows sit next to each other (packed a, or a
 * stored transposed) and the stride steps along k; ROW_STRIDED when a is read in place untransposed
 * (the stride steps between rows, k runs contiguously). */
enum { ROW_CONTIGUOUS, ROW_STRIDED };

/* The epilogue (nn_gemm_epilogue) as a part of c applies it: its j-th output gets bias[j * step]
 * (step 0: one bias for every output, that of c's single column), or no bias when NULL. Only
 * the last k block's stores apply it, to the full sums. 16 bytes: passed in registers. */
typedef struct {
    const float *bias;
    int step;
    bool relu;
} LOCAL(ep);

static const LOCAL(ep) LOCAL(no_ep) = { NULL, 0, false };

/* A finished vector of c (its sum, plus c's value when accumulating) through the epilogue, its
 * first output being the j-th; `part` floats of it only when part > 0. */
GEMM_INLINE VEC LOCAL(finish_vec)(VEC v, LOCAL(ep) ep, int64_t j, int part) {
    if (ep.bias) v = VADD(v, !ep.step ? VBCAST(ep.bias[0]) : part ? VLOAD_N(ep.bias + j, part) : VLOAD(ep.bias + j));
    return ep.relu ? VRELU(v) : v;
}

GEMM_INLINE float LOCAL(finish_one)(float v, LOCAL(ep) ep, int64_t j) {
    if (ep.bias) v += ep.bias[j * ep.step];
    return ep.relu ? (v > 0.0f ? v : 0.0f) : v;
}

typedef void LOCAL(tile_fn)(int64_t kc, const float *a, int64_t a_stride, const float *b, int64_t b_stride,
                            float *c, int64_t ldc, int64_t cols, bool accumulate, LOCAL(ep) ep);

/* Writes (or adds) the register tile into c through the epilogue: whole vectors when the tile
 * is full width, otherwise through a scratch tile so no store passes column `cols`. */
GEMM_INLINE void LOCAL(store_tile)(VEC acc[MR][NV], int rows, int nv, float *c, int64_t ldc, int64_t cols,
                                   bool accumulate, LOCAL(ep) ep) {
    if (cols == (int64_t)nv * VLEN && !ep.bias && !ep.relu) {
        UNROLL for (int r = 0; r < rows; r++)
            UNROLL for (int v = 0; v < nv; v++) {
                float *cp = c + r * ldc + v * VLEN;
                VSTORE(cp, accumulate ? VADD(acc[r][v], VLOAD(cp)) : acc[r][v]);
            }
        return;
    }
    if (cols == (int64_t)nv * VLEN) {
        /* Without a bias, + 0 changes only -0 (to 0), which the ReLU maps to 0 anyway. */
        VEC bias[NV];
        UNROLL for (int v = 0; v < nv; v++) bias[v] = ep.bias ? VLOAD(ep.bias + v * VLEN) : VZERO();
        UNROLL for (int r = 0; r < rows; r++)
            UNROLL for (int v = 0; v < nv; v++) {
                float *cp = c + r * ldc + v * VLEN;
                VEC y = VADD(accumulate ? VADD(acc[r][v], VLOAD(cp)) : acc[r][v], bias[v]);
                VSTORE(cp, ep.relu ? VRELU(y) : y);
            }
        return;
    }
    float tile[MR * NR];
    int64_t width = cols < nv * VLEN ? cols : nv * VLEN; /* equal to cols; bounded for the compiler */
    UNROLL for (int r = 0; r < rows; r++) {
        UNROLL for (int v = 0; v < nv; v++) VSTORE(tile + r * NR + v * VLEN, acc[r][v]);
        float *cr = c + r * ldc;
        for (int64_t j = 0; j < width; j++)
            cr[j] = LOCAL(finish_one)(accumulate ? cr[j] + tile[r * NR + j] : tile[r * NR + j], ep, j);
    }
}

/* The register tile: rows x nv vectors of c from kc steps of rank-1 updates. rows, nv and
 * layout are constants in each instantiation, so the accumulators stay in registers. */
GEMM_INLINE void LOCAL(tile_body)(int rows, int nv, int layout, int64_t kc, const float *a, int64_t a_stride,
                                  const float *b, int64_t b_stride, float *c, int64_t ldc, int64_t cols,
                                  bool accumulate, LOCAL(ep) ep) {
    VEC acc[MR][NV];
    UNROLL for (int r = 0; r < rows; r++) {
        if (accumulate) __builtin_prefetch(c + r * ldc, 1);
        UNROLL for (int v = 0; v < nv; v++) acc[r][v] = VZERO();
    }
    for (int64_t p = 0; p < kc; p++) {
        VEC bv[NV];
        UNROLL for (int v = 0; v < nv; v++) bv[v] = VLOAD(b + v * VLEN);
        UNROLL for (int r = 0; r < rows; r++) {
            VEC ar = VBCAST(layout == ROW_CONTIGUOUS ? a[r] : a[r * a_stride]);
            UNROLL for (int v = 0; v < nv; v++) acc[r][v] = VFMA(ar, bv[v], acc[r][v]);
        }
        b += b_stride;
        a += layout == ROW_CONTIGUOUS ? a_stride : 1;
    }
    LOCAL(store_tile)(acc, rows, nv, c, ldc, cols, accumulate, ep);
}

#define GEMM_DEFINE_TILE(rows, nv, layout)                                                                \
    static GEMM_TARGET void GEMM_CAT(LOCAL(tile_##layout##_##nv), rows)(                                  \
        int64_t kc, const float *a, int64_t a_stride, const float *b, int64_t b_stride, float *c,         \
        int64_t ldc, int64_t cols, bool accumulate, LOCAL(ep) ep) {                                       \
        LOCAL(tile_body)(rows, nv, layout, kc, a, a_stride, b, b_stride, c, ldc, cols, accumulate, ep);    \
    }
#define GEMM_DEFINE_TILES(rows)                                                                           \
    GEMM_DEFINE_TILE(rows, 1, ROW_CONTIGUOUS)                                                             \
    GEMM_DEFINE_TILE(rows, 2, ROW_CONTIGUOUS)                                                             \
    GEMM_DEFINE_TILE(rows, 1, ROW_STRIDED)                                                                \
    GEMM_DEFINE_TILE(rows, 2, ROW_STRIDED)
GEMM_ROWS(GEMM_DEFINE_TILES)

#define GEMM_TILE_ENTRY(rows)                                                                             \
    { { GEMM_CAT(LOCAL(tile_ROW_CONTIGUOUS_1), rows), GEMM_CAT(LOCAL(tile_ROW_CONTIGUOUS_2), rows) },    \
      { GEMM_CAT(LOCAL(tile_ROW_STRIDED_1), rows), GEMM_CAT(LOCAL(tile_ROW_STRIDED_2), rows) } },
/* [rows - 1][layout][nv - 1] */
static LOCAL(tile_fn) *const LOCAL(tiles)[MR][2][NV] = { GEMM_ROWS(GEMM_TILE_ENTRY) };

/* One operand's placement: element (i, p) of a, or (p, j) of b, sits at x[i * rs + p * cs].
 * A packed block of a is the exception: tile row i0 starts at x + i0 * rs (rs = kc) and the
 * tile's rows then sit next to each other, k stepping by cs (= MR). */
typedef struct {
    const float *x;
    int64_t rs, cs;
} LOCAL(view);

/* Packs rows [0, mc) x k [0, kc) of a into MR-row slivers, each laid out k-major (MR floats per
 * k step), so a tile reads one stream. Rows past mc in the last sliver are never read. */
GEMM_INLINE void LOCAL(pack_a)(float *restrict dst, LOCAL(view) a, int64_t mc, int64_t kc) {
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
        int64_t rows = mc - i0 < MR ? mc - i0 : MR;
        float *restrict sliver = dst + i0 * kc;
        const float *src = a.x + i0 * a.rs;
        /* a stored transposed: each k step is a contiguous run of rows, for a full sliver one
         * copy of a constant size (compiled inline) */
        if (a.rs == 1 && rows == MR)
            for (int64_t p = 0; p < kc; p++) memcpy(sliver + p * MR, src + p * a.cs, MR * sizeof *sliver);
        else if (a.rs == 1)
            for (int64_t p = 0; p < kc; p++)
                for (int64_t r = 0; r < rows; r++) sliver[p * MR + r] = src[p * a.cs + r];
        else
            for (int64_t r = 0; r < rows; r++)
                for (int64_t p = 0; p < kc; p++) sliver[p * MR + r] = src[r * a.rs + p];
    }
}

#ifdef GEMM_AVX_TRANSPOSE
/* dst rows i = src columns i for an 8 x 8 block, in registers. */
GEMM_INLINE void LOCAL(transpose_8x8)(float *restrict dst, int64_t dst_stride, const float *restrict src,
                                      int64_t src_stride) {
    __m256 r[8], t[8], u[8];
    UNROLL for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * src_stride);
    UNROLL for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    UNROLL for (int h = 0; h < 2; h++) {
        u[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
        u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
    }
    UNROLL for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * dst_stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * dst_stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}
#endif

/* Packs b stored transposed (column j of the sliver is a contiguous run of k): 8 x 8 blocks
 * through registers where the instruction set allows, element by element for the rest. */
GEMM_INLINE void LOCAL(pack_b_transposed)(float *restrict dst, LOCAL(view) b, int64_t kc, int64_t cols) {
    int64_t p_done = 0, j_done = 0;
#ifdef GEMM_AVX_TRANSPOSE
    p_done = kc & ~(int64_t)7, j_done = cols & ~(int64_t)7;
    for (int64_t j = 0; j < j_done; j += 8)
        for (int64_t p = 0; p < p_done; p += 8) LOCAL(transpose_8x8)(dst + p * NR + j, NR, b.x + j * b.cs + p, b.cs);
#endif
    for (int64_t j = 0; j < cols; j++)
        for (int64_t p = j < j_done ? p_done : 0; p < kc; p++) dst[p * NR + j] = b.x[j * b.cs + p];
}

/* Packs k [0, kc) x columns [0, cols) of b as one sliver, NR floats per k step, zero-padded
 * past cols so a tile may load whole vectors. The full-width copy has a constant length so it
 * compiles to vector moves rather than a memcpy call per row; it also prefetches the same
 * rows of the next sliver (`next`, or NULL), which sit one page apart when n is large. */
GEMM_INLINE void LOCAL(pack_b)(float *restrict dst, LOCAL(view) b, int64_t kc, int64_t cols, const float *next) {
    if (b.cs != 1) {
        if (cols < NR)
            for (int64_t p = 0; p < kc; p++)
                for (int64_t j = cols; j < NR; j++) dst[p * NR + j] = 0.0f;
        LOCAL(pack_b_transposed)(dst, b, kc, cols);
    } else if (cols == NR) {
        for (int64_t p = 0; p < kc; p++) {
            if (next) __builtin_prefetch(next + p * b.rs);
            UNROLL for (int j = 0; j < NR; j++) dst[p * NR + j] = b.x[p * b.rs + j];
        }
    } else { /* one pass writing whole rows, so a tile's vector load meets a single store */
        for (int64_t p = 0; p < kc; p++)
            for (int j = 0; j < NR; j++) dst[p * NR + j] = j < cols ? b.x[p * b.rs + j] : 0.0f;
    }
}

/* c[0:mc, 0:n] (+)= a[0:mc, 0:kc] . b[0:kc, 0:n] for one block of a, sliver by sliver of b,
 * stored through the epilogue. */
GEMM_INLINE void LOCAL(block)(float *c, int64_t ldc, LOCAL(view) a, int layout, LOCAL(view) b, int64_t mc,
                              int64_t n, int64_t kc, bool pack_b, bool accumulate, LOCAL(ep) ep) {
    _Alignas(64) float b_packed[KC * NR];
    int64_t a_stride = layout == ROW_CONTIGUOUS ? a.cs : a.rs;
    for (int64_t j0 = 0; j0 < n; j0 += NR) {
        int64_t cols = n - j0 < NR ? n - j0 : NR;
        LOCAL(view) sliver = { b.x + j0 * b.cs, b.rs, b.cs };
        const float *b_tile = sliver.x;
        int64_t b_stride = b.rs;
        if (pack_b || cols % VLEN != 0) { /* in place, a tile's whole-vector loads stay inside b */
            LOCAL(pack_b)(b_packed, sliver, kc, cols, j0 + 2 * NR <= n ? sliver.x + NR : NULL);
            b_tile = b_packed;
            b_stride = NR;
        }
        int nv = cols > VLEN ? 2 : 1;
        LOCAL(ep) sliver_ep = { ep.bias ? ep.bias + j0 : NULL, 1, ep.relu };
        for (int64_t i0 = 0; i0 < mc; i0 += MR) {
            int64_t rows = mc - i0 < MR ? mc - i0 : MR;
            LOCAL(tiles)[rows - 1][layout][nv - 1](kc, a.x + i0 * a.rs, a_stride, b_tile, b_stride,
                                                    c + i0 * ldc + j0, ldc, cols, accumulate, sliver_ep);
        }
    }
}

/* ---- products with one row or one column of c, where a register tile would hold one useful row
 * or column (a layer's output of one unit, prediction at batch 1). Each output is summed over
 * all of k before c is touched, by fused multiply-adds in an order fixed by k alone (not by
 * the output's place in a vector or in a share), so every split gives the same bits. */

/* Rows of dot products at a time: independent chains that keep the FMA units busy. */
#define DOT_ROWS 4
/* Vectors of c at a time in a row update: one broadcast feeds this many FMAs (8 accumulators
 * and the broadcast fit the 16 registers of AVX2 and SSE). */
#define AXPY_VECS 8

/* c[i * ldc] (+)= sum_p x[i * xs + p] * v[p] for `count` rows of x (contiguous along k) dotted
 * with v: each summed lane by lane, the lanes added by VHSUM, then the k tail. count is a
 * constant where this is inlined, so the accumulators stay in registers. */
GEMM_INLINE void LOCAL(dot_group)(int count, float *c, int64_t ldc, const float *x, int64_t xs, const float *v,
                                  int64_t k, bool accumulate, LOCAL(ep) ep) {
    int64_t kv = k - k % VLEN;
    VEC acc[DOT_ROWS];
    UNROLL for (int r = 0; r < count; r++) acc[r] = VZERO();
    for (int64_t p = 0; p < kv; p += VLEN) {
        VEC vv = VLOAD(v + p);
        UNROLL for (int r = 0; r < count; r++) acc[r] = VFMA(VLOAD(x + r * xs + p), vv, acc[r]);
    }
    UNROLL for (int r = 0; r < count; r++) {
        float sum = VHSUM(acc[r]);
        for (int64_t p = kv; p < k; p++) sum = SFMA(x[r * xs + p], v[p], sum);
        c[r * ldc] = LOCAL(finish_one)(accumulate ? c[r * ldc] + sum : sum, ep, r);
    }
}

/* The same for `rows` rows: DOT_ROWS at a time, then one by one (each row summed alike). */
GEMM_INLINE void LOCAL(dot_rows)(float *c, int64_t ldc, const float *x, int64_t xs, const float *v, int64_t rows,
                                 int64_t k, bool accumulate, LOCAL(ep) ep) {
    int64_t i = 0;
    for (; i + DOT_ROWS <= rows; i += DOT_ROWS, ep.bias += ep.bias ? DOT_ROWS * ep.step : 0)
        LOCAL(dot_group)(DOT_ROWS, c + i * ldc, ldc, x + i * xs, xs, v, k, accumulate, ep);
    for (; i < rows; i++, ep.bias += ep.bias ? ep.step : 0)
        LOCAL(dot_group)(1, c + i * ldc, ldc, x + i * xs, xs, v, k, accumulate, ep);
}

/* c[j] (+)= sum_p v[p] * x[p * xs + j] for `count` vectors of c, the last holding only `tail`
 * floats when `partial`: one broadcast of v[p] feeds count FMAs, each column a chain over p
 * from zero. count and partial are constants where this is inlined. */
GEMM_INLINE void LOCAL(axpy_group)(int count, bool partial, int tail, float *c, const float *x, int64_t xs,
                                   const float *v, int64_t k, bool accumulate, LOCAL(ep) ep) {
    VEC acc[AXPY_VECS];
    UNROLL for (int u = 0; u < count; u++) acc[u] = VZERO();
    for (int64_t p = 0; p < k; p++) {
        VEC vp = VBCAST(v[p]);
        const float *xp = x + p * xs;
        UNROLL for (int u = 0; u < count; u++) {
            VEC xv = partial && u == count - 1 ? VLOAD_N(xp + u * VLEN, tail) : VLOAD(xp + u * VLEN);
            acc[u] = VFMA(xv, vp, acc[u]);
        }
    }
    UNROLL for (int u = 0; u < count; u++) {
        float *cu = c + u * VLEN;
        if (partial && u == count - 1)
            VSTORE_N(cu, LOCAL(finish_vec)(accumulate ? VADD(VLOAD_N(cu, tail), acc[u]) : acc[u], ep, u * VLEN, tail), tail);
        else
            VSTORE(cu, LOCAL(finish_vec)(accumulate ? VADD(VLOAD(cu), acc[u]) : acc[u], ep, u * VLEN, 0));
    }
}

#define AXPY_CASE(count)                                                                                  \
    case count:                                                                                           \
        if (tail) LOCAL(axpy_group)(count, true, tail, c + j, x + j, xs, v, k, accumulate, ep);          \
        else LOCAL(axpy_group)(count, false, 0, c + j, x + j, xs, v, k, accumulate, ep);                \
        break;

/* The same for j < cols: AXPY_VECS vectors at a time, then the rest, a part vector included,
 * in one group (a lone chain would wait on each FMA's latency). */
GEMM_INLINE void LOCAL(axpy_rows)(float *c, const float *x, int64_t xs, const float *v, int64_t k, int64_t cols,
                                  bool accumulate, LOCAL(ep) ep) {
    int tail = (int)(cols % VLEN);
    int64_t j = 0, vectors = (cols + VLEN - 1) / VLEN;
    for (; vectors > AXPY_VECS || (vectors == AXPY_VECS && !tail); vectors -= AXPY_VECS, j += AXPY_VECS * VLEN) {
        LOCAL(axpy_group)(AXPY_VECS, false, 0, c + j, x + j, xs, v, k, accumulate, ep);
        if (ep.bias) ep.bias += AXPY_VECS * VLEN * ep.step;
    }
    switch (vectors) {
        AXPY_CASE(1) AXPY_CASE(2) AXPY_CASE(3) AXPY_CASE(4) AXPY_CASE(5) AXPY_CASE(6) AXPY_CASE(7) AXPY_CASE(8)
    }
}

/* The product (or a share of it) as matrix-vector ones, c being one column (column) or else one
 * row. The vector operand is contiguous whatever its transposition (a (k, 1) or (1, k) array). */
GEMM_INLINE void LOCAL(vector_product)(float *c, int64_t ldc, LOCAL(view) av, LOCAL(view) bv, bool column, int64_t m,
                                       int64_t n, int64_t k, bool accumulate, LOCAL(ep) ep) {
    ep.step = column ? 0 : 1; /* a column's outputs share its one bias */
    if (column) { /* c column = a . b column */
        if (av.cs == 1) LOCAL(dot_rows)(c, ldc, av.x, av.rs, bv.x, m, k, accumulate, ep);
        else LOCAL(axpy_rows)(c, av.x, av.cs, bv.x, k, m, accumulate, ep); /* a stored (k, m); ldc is 1 */
    } else { /* c row = a row . b */
        if (bv.cs == 1) LOCAL(axpy_rows)(c, bv.x, bv.rs, av.x, k, n, accumulate, ep);
        else LOCAL(dot_rows)(c, 1, bv.x, bv.cs, av.x, n, k, accumulate, ep); /* b stored (n, k) */
    }
}

/* c[0:m, 0:n] (+)= a . b for operands given as views, c's rows ldc apart: the whole product or
 * one thread's share of it. Packing is decided on the share's extents (a packed block feeds
 * n / NR tiles of this share) but on b's real row stride (what aliases in L1). */
GEMM_INLINE void LOCAL(product)(float *c, int64_t ldc, LOCAL(view) av, bool trans_a, LOCAL(view) bv, bool trans_b,
                                int64_t m, int64_t n, int64_t k, bool accumulate, LOCAL(ep) ep) {
    if (k <= 0) { /* an empty sum */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = LOCAL(finish_one)(accumulate ? c[i * ldc + j] : 0.0f, ep, j);
        return;
    }
    bool pack_a = n >= PACK_A_MIN_N;
    bool pack_b = trans_b || (m > 2 * MR && bv.rs * (k < KC ? k : KC) > B_IN_PLACE_MAX_SPAN);
    _Alignas(64) float a_packed[MC * KC];
    for (int64_t p0 = 0; p0 < k; p0 += KC) {
        int64_t kc = k - p0 < KC ? k - p0 : KC;
        LOCAL(view) b_rows = { bv.x + p0 * bv.rs, bv.rs, bv.cs };
        for (int64_t i0 = 0; i0 < m; i0 += MC) {
            int64_t mc = m - i0 < MC ? m - i0 : MC;
            LOCAL(view) a_block = { av.x + i0 * av.rs + p0 * av.cs, av.rs, av.cs };
            int layout = trans_a ? ROW_CONTIGUOUS : ROW_STRIDED;
            if (pack_a) {
                LOCAL(pack_a)(a_packed, a_block, mc, kc);
                a_block = (LOCAL(view)){ a_packed, kc, MR };
                layout = ROW_CONTIGUOUS;
            }
            LOCAL(block)(c + i0 * ldc, ldc, a_block, layout, b_rows, mc, n, kc, pack_b, accumulate || p0 > 0,
                         p0 + kc == k ? ep : LOCAL(no_ep));
        }
    }
}

/* Share `part` of `parts`: a block of whole register tiles of c (nn_gemm_share_rect). */
void GEMM_TARGET GEMM_CAT(GEMM_NAME, share)(float *c, const float *a, const float *b, int64_t m, int64_t n,
                                            int64_t k, bool trans_a, bool trans_b, bool accumulate,
                                            const nn_gemm_epilogue *epilogue, int part, int parts) {
    nn_gemm_rect r = nn_gemm_share_rect(m, n, MR, NR, part, parts);
    if (r.rows <= 0 || r.cols <= 0) return;
    if (k == 1) trans_a = trans_b = false; /* (m, 1) and (1, m) are the same array: nothing to pack */
    LOCAL(view) av = { a, trans_a ? 1 : k, trans_a ? m : 1 }, bv = { b, trans_b ? 1 : n, trans_b ? k : 1 };
    av.x += r.row0 * av.rs;
    bv.x += r.col0 * bv.cs;
    c += r.row0 * n + r.col0;
    LOCAL(ep) ep = LOCAL(no_ep);
    if (epilogue) ep = (LOCAL(ep)){ epilogue->bias ? epilogue->bias + r.col0 : NULL, 1, epilogue->relu };
    /* decided on the whole product's shape, so that every share sums the same way */
    if ((m == 1 || n == 1) && k > 0) LOCAL(vector_product)(c, n, av, bv, n == 1, r.rows, r.cols, k, accumulate, ep);
    else LOCAL(product)(c, n, av, trans_a, bv, trans_b, r.rows, r.cols, k, accumulate, ep);
}

void GEMM_TARGET GEMM_NAME(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k,
                           bool trans_a, bool trans_b, bool accumulate) {
    GEMM_CAT(GEMM_NAME, share)(c, a, b, m, n, k, trans_a, trans_b, accumulate, NULL, 0, 1);
}
