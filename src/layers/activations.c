/* Activations with Keras 3's formulas and defaults (keras/src/activations/activations.py and
 * the backends' nn ops). Elementwise ones are a pair of scalar functions, value(x) and
 * derivative(x, y), expanded into array loops by ELEMENTWISE; softmax works per row. */
#include "nn_internal.h"

#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f
#define LEAKY_RELU_NEGATIVE_SLOPE 0.2f /* keras.activations.leaky_relu's default */
#define ELU_ALPHA 1.0f
#define SQRT1_2 0.70710678118654752440f

/* Expands scalar name##_value / name##_derivative into the table's forward and backward. */
#define ELEMENTWISE(name)                                                                    \
    NN_VECTOR_LOOPS static void name##_forward(float *y, const float *x, int64_t rows,      \
                                               int64_t cols) {                               \
        int64_t n = rows * cols;                                                             \
        for (int64_t i = 0; i < n; i++) y[i] = name##_value(x[i]);                           \
    }                                                                                        \
    /* restrict: the planner never gives two live buffers the same memory */                 \
    NN_VECTOR_LOOPS static void name##_backward(float *restrict dx, const float *restrict x, \
                                const float *restrict y, const float *restrict dy,           \
                                int64_t rows, int64_t cols) {                                \
        int64_t n = rows * cols;                                                             \
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * name##_derivative(x[i], y[i]);      \
    }

static inline float linear_value(float x) { return x; }
static inline float linear_derivative(float x, float y) { (void)x, (void)y; return 1.0f; }
ELEMENTWISE(linear)

static inline float relu_value(float x) { return x > 0.0f ? x : 0.0f; }
static inline float relu_derivative(float x, float y) { (void)y; return x > 0.0f ? 1.0f : 0.0f; }
ELEMENTWISE(relu)

static inline float relu6_value(float x) { return fminf(fmaxf(x, 0.0f), 6.0f); }
static inline float relu6_derivative(float x, float y) {
    (void)y;
    return x > 0.0f && x < 6.0f ? 1.0f : 0.0f;
}
ELEMENTWISE(relu6)

static inline float leaky_relu_value(float x) {
    return x >= 0.0f ? x : LEAKY_RELU_NEGATIVE_SLOPE * x;
}
static inline float leaky_relu_derivative(float x, float y) {
    (void)y;
    return x >= 0.0f ? 1.0f : LEAKY_RELU_NEGATIVE_SLOPE;
}
ELEMENTWISE(leaky_relu)

/* exp of -|x| only, so neither branch overflows for large |x|. */
static inline float sigmoid_value(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}
static inline float sigmoid_derivative(float x, float y) { (void)x; return y * (1.0f - y); }
ELEMENTWISE(sigmoid)

static inline float tanh_value(float x) { return tanhf(x); }
static inline float tanh_derivative(float x, float y) { (void)x; return 1.0f - y * y; }
ELEMENTWISE(tanh)

static inline float elu_value(float x) { return x >= 0.0f ? x : ELU_ALPHA * expm1f(x); }
static inline float elu_derivative(float x, float y) { return x >= 0.0f ? 1.0f : y + ELU_ALPHA; }
ELEMENTWISE(elu)

static inline float selu_value(float x) {
    return SELU_SCALE * (x >= 0.0f ? x : SELU_ALPHA * expm1f(x));
}
static inline float selu_derivative(float x, float y) {
    return x >= 0.0f ? SELU_SCALE : y + SELU_SCALE * SELU_ALPHA;
}
ELEMENTWISE(selu)

/* Keras's default approximate=False: x * Phi(x) with the exact normal CDF, through erfc so
 * that Phi keeps its precision far into the negative tail (1 + erf(x) cancels there). */
static inline float normal_cdf(float x) { return 0.5f * erfcf(-x * SQRT1_2); }
static inline float gelu_value(float x) { return x * normal_cdf(x); }
static inline float gelu_derivative(float x, float y) {
    (void)y;
    const float inv_sqrt_2pi = 0.39894228040143267794f;
    return normal_cdf(x) + x * inv_sqrt_2pi * expf(-0.5f * x * x);
}
ELEMENTWISE(gelu)

static inline float silu_value(float x) { return x * sigmoid_value(x); }
static inline float silu_derivative(float x, float y) {
    (void)y;
    float s = sigmoid_value(x);
    return s * (1.0f + x * (1.0f - s));
}
ELEMENTWISE(silu)

/* log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large x, no loss for small. */
static inline float softplus_value(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }
static inline float softplus_derivative(float x, float y) { (void)y; return sigmoid_value(x); }
ELEMENTWISE(softplus)

static inline float softsign_value(float x) { return x / (1.0f + fabsf(x)); }
static inline float softsign_derivative(float x, float y) {
    (void)y;
    float d = 1.0f + fabsf(x);
    return 1.0f / (d * d);
}
ELEMENTWISE(softsign)

/* Keras 3: relu6(x + 3) / 6 (Keras 2's was 0.2x + 0.5). */
static inline float hard_sigmoid_value(float x) { return relu6_value(x + 3.0f) / 6.0f; }
static inline float hard_sigmoid_derivative(float x, float y) {
    (void)y;
    return x > -3.0f && x < 3.0f ? 1.0f / 6.0f : 0.0f;
}
ELEMENTWISE(hard_sigmoid)

static inline float exponential_value(float x) { return expf(x); }
static inline float exponential_derivative(float x, float y) { (void)x; return y; }
ELEMENTWISE(exponential)

/* For activations whose derivative(x, y) equals derivative(y, y) when y = f(x) (relu: x > 0
 * exactly when y > 0; sigmoid, tanh and exponential read y only): the backward pass from y. */
#define FROM_OUTPUT(name)                                                                    \
    NN_VECTOR_LOOPS static void name##_scale(float *restrict g, const float *restrict y,     \
                                             int64_t rows, int64_t cols) {                   \
        int64_t n = rows * cols;                                                             \
        for (int64_t i = 0; i < n; i++) g[i] *= name##_derivative(y[i], y[i]);              \
    }
FROM_OUTPUT(relu)
FROM_OUTPUT(sigmoid)
FROM_OUTPUT(tanh)
FROM_OUTPUT(exponential)

/* Subtracting the row maximum keeps exp from overflowing and does not change the result. */
static void softmax_forward(float *y, const float *x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float max = -INFINITY;
        for (int64_t c = 0; c < cols; c++) max = fmaxf(max, xr[c]);
        float sum = 0.0f;
        for (int64_t c = 0; c < cols; c++) sum += yr[c] = expf(xr[c] - max);
        for (int64_t c = 0; c < cols; c++) yr[c] /= sum;
    }
}

/* dx_i += y_i * (dy_i - sum_j dy_j y_j): the Jacobian diag(y) - y y^T applied to dy. */
static void softmax_backward(float *dx, const float *x, const float *y, const float *dy,
                             int64_t rows, int64_t cols) {
    (void)x;
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        float dot = 0.0f;
        for (int64_t c = 0; c < cols; c++) dot += dyr[c] * yr[c];
        for (int64_t c = 0; c < cols; c++) dxr[c] += yr[c] * (dyr[c] - dot);
    }
}

/* g_i = y_i * (g_i - sum_j g_j y_j) in place: softmax_backward's terms, from y alone. */
static void softmax_scale(float *g, const float *y, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols;
        float *gr = g + r * cols;
        float dot = 0.0f;
        for (int64_t c = 0; c < cols; c++) dot += gr[c] * yr[c];
        for (int64_t c = 0; c < cols; c++) gr[c] = yr[c] * (gr[c] - dot);
    }
}

#define ENTRY(name) { #name, name##_forward, name##_backward, NULL, false, false }
#define ENTRY_FROM_OUTPUT(name) { #name, name##_forward, name##_backward, name##_scale, false, false }
static const nn_activation_def activation_table[] = {
    ENTRY(linear),   { "relu", relu_forward, relu_backward, relu_scale, true, false },
    ENTRY_FROM_OUTPUT(sigmoid), ENTRY_FROM_OUTPUT(tanh),
    { "softmax", softmax_forward, softmax_backward, softmax_scale, false, true },
    ENTRY(leaky_relu), ENTRY(elu),          ENTRY(selu),
    ENTRY(gelu),     ENTRY(silu),       ENTRY(softplus),     ENTRY(softsign),
    ENTRY(hard_sigmoid), ENTRY_FROM_OUTPUT(exponential), ENTRY(relu6),
};
#undef ENTRY
#undef ENTRY_FROM_OUTPUT

/* Keras's extra names for the same function (ALL_OBJECTS_DICT's aliases). */
static const struct { const char *alias, *name; } activation_aliases[] = {
    { "swish", "silu" },
};

const nn_activation_def *nn_activation_table(size_t *count) {
    if (count) *count = NN_ARRAY_LEN(activation_table);
    return activation_table;
}

static const nn_activation_def *find_exact(const char *name) {
    for (size_t i = 0; i < NN_ARRAY_LEN(activation_table); i++)
        if (strcmp(activation_table[i].name, name) == 0) return &activation_table[i];
    for (size_t i = 0; i < NN_ARRAY_LEN(activation_aliases); i++)
        if (strcmp(activation_aliases[i].alias, name) == 0)
            return find_exact(activation_aliases[i].name);
    return NULL;
}

static void report_unknown(const char *name) {
    const char *known[NN_ARRAY_LEN(activation_table) + NN_ARRAY_LEN(activation_aliases)];
    size_t n = 0;
    for (size_t i = 0; i < NN_ARRAY_LEN(activation_table); i++)
        known[n++] = activation_table[i].name;
    for (size_t i = 0; i < NN_ARRAY_LEN(activation_aliases); i++)
        known[n++] = activation_aliases[i].alias;
    char list[512];
    nn_join_names(list, sizeof list, known, n);
    nn_error(NN_ERR_NAME, "unknown activation '%s' (known: %s)", name, list);
}

const nn_activation_def *nn_activation_find(const char *name) {
    if (!name || !*name) return &activation_table[0];
    const nn_activation_def *def = find_exact(name);
    if (!def) report_unknown(name);
    return def;
}
