/* GEMM dispatch: the blocked kernels themselves are in gemm_template.h, compiled per
 * instruction set by gemm_portable.c, gemm_avx2.c and gemm_avx512.c. The choice is a pure
 * function of the CPU, asked each call (__builtin_cpu_supports reads a table libgcc fills once
 * at start-up, so this costs a few loads). */
#include "kernels/kernels.h"

#include <stddef.h>

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

nn_gemm_fn *nn_gemm_for(nn_isa isa) {
    if (isa == NN_ISA_AUTO) isa = nn_cpu_isa();
    if (!cpu_has(isa)) return NULL;
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    case NN_ISA_AVX512: return nn_gemm_avx512;
    case NN_ISA_AVX2: return nn_gemm_avx2;
#endif
    default: return nn_gemm_portable;
    }
}

void nn_gemm_cpu(float *c, const float *a, const float *b, int64_t m, int64_t n, int64_t k, bool trans_a,
                 bool trans_b, bool accumulate) {
    nn_gemm_for(NN_ISA_AUTO)(c, a, b, m, n, k, trans_a, trans_b, accumulate);
}
