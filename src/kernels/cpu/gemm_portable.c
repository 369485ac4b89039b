/* The GEMM for any CPU: 6 x 8 register tiles of 4-float vectors in the compiler's generic
 * vector extension (SSE2 on x86-64, NEON on ARM, scalar code elsewhere). No fused multiply-add:
 * the portable build cannot assume one. */
#include <string.h>

typedef float nn_vec4 __attribute__((vector_size(16)));

static inline nn_vec4 vec4_load(const float *p) {
    nn_vec4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vec4_store(float *p, nn_vec4 v) { memcpy(p, &v, sizeof v); }

static inline nn_vec4 vec4_load_n(const float *p, int n) {
    nn_vec4 v = { 0 };
    memcpy(&v, p, (size_t)n * sizeof *p);
    return v;
}

typedef int nn_ivec4 __attribute__((vector_size(16)));

/* v where v > 0, else 0 (NaN and -0 included): the comparison's all-ones lanes keep v's bits. */
static inline nn_vec4 vec4_relu(nn_vec4 v) { return (nn_vec4)((nn_ivec4)v & (v > (nn_vec4){ 0 })); }

static inline void vec4_store_n(float *p, nn_vec4 v, int n) { memcpy(p, &v, (size_t)n * sizeof *p); }

#define GEMM_NAME nn_gemm_portable
#define GEMM_TARGET
#define VEC nn_vec4
#define VLEN 4
#define VZERO() ((nn_vec4){ 0 })
#define VLOAD(p) vec4_load(p)
#define VSTORE(p, v) vec4_store(p, v)
#define VBCAST(x) ((nn_vec4){ x, x, x, x })
#define VADD(x, y) ((x) + (y))
#define VFMA(a, b, acc) ((acc) + (a) * (b))
#define VHSUM(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))
#define SFMA(a, b, acc) ((acc) + (a) * (b))
#define VRELU(v) vec4_relu(v)
#define VLOAD_N(p, n) vec4_load_n(p, n)
#define VSTORE_N(p, v, n) vec4_store_n(p, v, n)
#define MR 6
#define GEMM_ROWS(X) X(1) X(2) X(3) X(4) X(5) X(6)
#ifndef KC
#define KC 128
#endif
#ifndef MC
#define MC 120
#endif

#include "gemm_template.h"
