/* The GEMM with AVX2 + FMA: 6 x 16 register tiles (12 accumulators of 8 floats). Compiled for
 * that instruction set function by function, so the default build needs no -march flag; only
 * called when the CPU has it (see gemm.c). */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define GEMM_NAME nn_gemm_avx2
/* The lanes' sum: halves, then pairs, then the last two. */
static inline __attribute__((always_inline, target("avx2,fma"))) float nn_hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* The mask of a vector's first n lanes. */
static inline __attribute__((always_inline, target("avx2,fma"))) __m256i nn_first_avx2(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define GEMM_AVX_TRANSPOSE
#define GEMM_TARGET __attribute__((target("avx2,fma")))
#define VEC __m256
#define VLEN 8
#define VZERO() _mm256_setzero_ps()
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VBCAST(x) _mm256_set1_ps(x)
#define VADD(x, y) _mm256_add_ps(x, y)
#define VFMA(a, b, acc) _mm256_fmadd_ps(a, b, acc)
#define VHSUM(v) nn_hsum_avx2(v)
#define SFMA(a, b, acc) __builtin_fmaf(a, b, acc)
#define VRELU(v) _mm256_max_ps(v, _mm256_setzero_ps())
#define VLOAD_N(p, n) _mm256_maskload_ps(p, nn_first_avx2(n))
#define VSTORE_N(p, v, n) _mm256_maskstore_ps(p, nn_first_avx2(n), v)
#define MR 6
#define GEMM_ROWS(X) X(1) X(2) X(3) X(4) X(5) X(6)
#ifndef KC
#define KC 128
#endif
#ifndef MC
#define MC 120
#endif

#include "gemm_template.h"
#endif
