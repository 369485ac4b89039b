/* The GEMM with AVX2 + FMA: 6 x 16 register tiles (12 accumulators of 8 floats). Compiled for
 * that instruction set function by function, so the default build needs no -march flag; only
 * called when the CPU has it (see gemm.c). */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define GEMM_NAME nn_gemm_avx2
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
