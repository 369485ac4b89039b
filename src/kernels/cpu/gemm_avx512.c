/* The GEMM with AVX-512: 14 x 32 register tiles (28 accumulators of 16 floats, of the 32
 * registers). Compiled for that instruction set function by function, so the default build
 * needs no -march flag; only called when the CPU has it (see gemm.c). */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define GEMM_NAME nn_gemm_avx512
#define GEMM_AVX_TRANSPOSE
#define GEMM_TARGET __attribute__((target("avx512f,avx2,fma")))
#define VEC __m512
#define VLEN 16
#define VZERO() _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VBCAST(x) _mm512_set1_ps(x)
#define VADD(x, y) _mm512_add_ps(x, y)
#define VFMA(a, b, acc) _mm512_fmadd_ps(a, b, acc)
#define VHSUM(v) _mm512_reduce_add_ps(v)
#define SFMA(a, b, acc) __builtin_fmaf(a, b, acc)
#define VRELU(v) _mm512_max_ps(v, _mm512_setzero_ps())
#define VLOAD_N(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define VSTORE_N(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#define MR 14
#define GEMM_ROWS(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14)
#ifndef KC
#define KC 128
#endif
#ifndef MC
#define MC 126
#endif

#include "gemm_template.h"
#endif
