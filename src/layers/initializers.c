/* Weight initializers with Keras 3's formulas and defaults (keras/src/initializers/). The
 * random numbers come from nn's own generator, so values match Keras in distribution, not
 * bit for bit. */
#include "nn_internal.h"

#include <strings.h>

/* Keras's VarianceScaling divides a truncated normal's stddev by this, the stddev of a
 * standard normal truncated to [-2, 2], so the values end with the intended variance. */
#define TRUNCATED_NORMAL_STDDEV 0.87962566103423978

typedef enum fan_mode { FAN_IN, FAN_OUT, FAN_AVG } fan_mode;
typedef enum distribution { DIST_UNIFORM, DIST_TRUNCATED_NORMAL } distribution;

/* The tensor being filled: its flat size and Keras kernel shape. */
typedef struct fill_target {
    float *w;
    int64_t count;
    int ndim;
    const int64_t *shape;
} fill_target;

typedef struct initializer_def initializer_def;
struct initializer_def {
    const char *name;       /* Keras function name */
    const char *class_name; /* Keras class name */
    const char *alias;      /* another Keras name for it, or NULL */
    bool random;            /* draws from the rng */
    int (*init)(const initializer_def *def, const nn_initializer_opts *cfg, const fill_target *t,
                nn_rng *rng);
    /* VarianceScaling's parameters, for the glorot/he/lecun family */
    double scale;
    fan_mode mode;
    distribution dist;
};

static void fill_value(const fill_target *t, double value) {
    for (int64_t i = 0; i < t->count; i++) t->w[i] = (float)value;
}

static int init_zeros(const initializer_def *def, const nn_initializer_opts *cfg,
                      const fill_target *t, nn_rng *rng) {
    (void)def, (void)cfg, (void)rng;
    fill_value(t, 0.0);
    return NN_OK;
}

static int init_ones(const initializer_def *def, const nn_initializer_opts *cfg,
                     const fill_target *t, nn_rng *rng) {
    (void)def, (void)cfg, (void)rng;
    fill_value(t, 1.0);
    return NN_OK;
}

static int init_constant(const initializer_def *def, const nn_initializer_opts *cfg,
                         const fill_target *t, nn_rng *rng) {
    (void)def, (void)rng;
    fill_value(t, cfg->value);
    return NN_OK;
}

static void fill_uniform(const fill_target *t, double minval, double maxval, nn_rng *rng) {
    for (int64_t i = 0; i < t->count; i++)
        t->w[i] = (float)(minval + (maxval - minval) * nn_rng_uniform(rng));
}

/* Values beyond two standard deviations are redrawn, as Keras's truncated_normal does. */
static void fill_truncated_normal(const fill_target *t, double mean, double stddev, nn_rng *rng) {
    for (int64_t i = 0; i < t->count; i++) {
        double z;
        do z = nn_rng_normal(rng);
        while (fabs(z) > 2.0);
        t->w[i] = (float)(mean + stddev * z);
    }
}

/* A zero stddev means "Keras's default" (0.05), as every zero field in the options does. */
static int normal_stddev(const nn_initializer_opts *cfg, const char *name, double *stddev) {
    *stddev = cfg->stddev == 0.0 ? 0.05 : cfg->stddev;
    if (!(*stddev > 0.0))
        return nn_error(NN_ERR_ARG, "initializer %s: stddev must be positive (got %g)", name,
                        cfg->stddev);
    return NN_OK;
}

static int init_random_normal(const initializer_def *def, const nn_initializer_opts *cfg,
                              const fill_target *t, nn_rng *rng) {
    double stddev;
    int status = normal_stddev(cfg, def->name, &stddev);
    if (status) return status;
    for (int64_t i = 0; i < t->count; i++)
        t->w[i] = (float)(cfg->mean + stddev * nn_rng_normal(rng));
    return NN_OK;
}

static int init_truncated_normal(const initializer_def *def, const nn_initializer_opts *cfg,
                                 const fill_target *t, nn_rng *rng) {
    double stddev;
    int status = normal_stddev(cfg, def->name, &stddev);
    if (status) return status;
    fill_truncated_normal(t, cfg->mean, stddev, rng);
    return NN_OK;
}

/* Both bounds zero means Keras's defaults; otherwise (0, 1) and the like are taken as given. */
static int init_random_uniform(const initializer_def *def, const nn_initializer_opts *cfg,
                               const fill_target *t, nn_rng *rng) {
    bool defaults = cfg->minval == 0.0 && cfg->maxval == 0.0;
    double minval = defaults ? -0.05 : cfg->minval, maxval = defaults ? 0.05 : cfg->maxval;
    if (!(minval <= maxval))
        return nn_error(NN_ERR_ARG, "initializer %s: minval (%g) must not exceed maxval (%g)",
                        def->name, minval, maxval);
    fill_uniform(t, minval, maxval, rng);
    return NN_OK;
}

/* Keras's compute_fans: the products of the chosen input and output axes when both are given;
 * otherwise a kernel (..., input_depth, depth) has a receptive field of the product of its
 * leading dims. */
static void compute_fans(const nn_initializer_opts *cfg, int ndim, const int64_t *shape, double *fan_in,
                         double *fan_out) {
    if (cfg->input_axes && cfg->output_axes) {
        *fan_in = *fan_out = 1.0;
        for (int i = 0; i < ndim; i++) {
            if (cfg->input_axes & (1u << i)) *fan_in *= (double)shape[i];
            if (cfg->output_axes & (1u << i)) *fan_out *= (double)shape[i];
        }
    } else if (ndim < 1) {
        *fan_in = *fan_out = 1.0;
    } else if (ndim == 1) {
        *fan_in = *fan_out = (double)shape[0];
    } else {
        double receptive_field = 1.0;
        for (int i = 0; i < ndim - 2; i++) receptive_field *= (double)shape[i];
        *fan_in = (double)shape[ndim - 2] * receptive_field;
        *fan_out = (double)shape[ndim - 1] * receptive_field;
    }
}

static int init_variance_scaling(const initializer_def *def, const nn_initializer_opts *cfg,
                                 const fill_target *t, nn_rng *rng) {
    double fan_in, fan_out;
    compute_fans(cfg, t->ndim, t->shape, &fan_in, &fan_out);
    double fan = def->mode == FAN_IN ? fan_in : def->mode == FAN_OUT ? fan_out
                                                                       : (fan_in + fan_out) / 2.0;
    double scale = def->scale / fmax(1.0, fan);
    if (def->dist == DIST_UNIFORM) {
        double limit = sqrt(3.0 * scale);
        fill_uniform(t, -limit, limit, rng);
    } else {
        fill_truncated_normal(t, 0.0, sqrt(scale) / TRUNCATED_NORMAL_STDDEV, rng);
    }
    return NN_OK;
}

static double gain_or_default(const nn_initializer_opts *cfg) {
    return cfg->gain == 0.0 ? 1.0 : cfg->gain;
}

static int init_identity(const initializer_def *def, const nn_initializer_opts *cfg,
                         const fill_target *t, nn_rng *rng) {
    (void)rng;
    if (t->ndim != 2) {
        char buf[128];
        return nn_error(NN_ERR_SHAPE, "initializer %s needs a 2-D shape, got %s", def->name,
                        nn_shape_str(t->ndim, t->shape, buf, sizeof buf));
    }
    int64_t rows = t->shape[0], cols = t->shape[1];
    double gain = gain_or_default(cfg);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) t->w[i * cols + j] = (float)(i == j ? gain : 0.0);
    return NN_OK;
}

static double dot(const double *a, const double *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Orthonormalizes the n vectors of length m in v (vector j at v + j*m, n <= m) in place by
 * modified Gram-Schmidt, each projection pass done twice so orthogonality holds to rounding
 * ("twice is enough"). The result is the Q of the QR factorization whose R has a positive
 * diagonal: Keras's Q after its sign correction q *= sign(diag(r)). */
static void orthonormalize(double *v, int64_t m, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        double *vj = v + j * m;
        for (int pass = 0; pass < 2; pass++)
            for (int64_t k = 0; k < j; k++) {
                const double *vk = v + k * m;
                double p = dot(vk, vj, m);
                for (int64_t i = 0; i < m; i++) vj[i] -= p * vk[i];
            }
        double norm = sqrt(dot(vj, vj, m));
        for (int64_t i = 0; i < m; i++) vj[i] /= norm;
    }
}

/* Keras: QR of a normal (max(r, c), min(r, c)) matrix; Q, transposed when rows < cols. Here
 * Q is held by columns (vector j = column j of Q), so for rows < cols it already is the
 * row-major (rows, cols) result, and otherwise it is written out transposed. */
static int init_orthogonal(const initializer_def *def, const nn_initializer_opts *cfg,
                           const fill_target *t, nn_rng *rng) {
    if (t->ndim < 2) {
        char buf[128];
        return nn_error(NN_ERR_SHAPE,
                        "initializer %s needs a shape of at least 2 dimensions, got %s (rank %d)",
                        def->name, nn_shape_str(t->ndim, t->shape, buf, sizeof buf), t->ndim);
    }
    if (t->count == 0) return NN_OK;
    /* Keras flattens to (prod(shape[:-1]), shape[-1]), so conv kernels work too. */
    int64_t cols = t->shape[t->ndim - 1], rows = t->count / cols;
    int64_t m = rows > cols ? rows : cols, n = rows > cols ? cols : rows;
    double *q = nn_calloc((size_t)t->count, sizeof *q);
    if (!q) return NN_ERR_NOMEM;
    for (int64_t i = 0; i < t->count; i++) q[i] = nn_rng_normal(rng);
    orthonormalize(q, m, n);
    double gain = gain_or_default(cfg);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            t->w[r * cols + c] = (float)(gain * (rows < cols ? q[r * cols + c] : q[c * rows + r]));
    nn_free(q);
    return NN_OK;
}

#define VARIANCE_SCALING(name, class_name, scale, mode, dist)                                   \
    { name, class_name, NULL, true, init_variance_scaling, scale, mode, dist }
#define PLAIN(name, class_name, alias, random, init)                                          \
    { name, class_name, alias, random, init, 0, 0, 0 }
static const initializer_def initializer_table[] = {
    VARIANCE_SCALING("glorot_uniform", "GlorotUniform", 1.0, FAN_AVG, DIST_UNIFORM),
    VARIANCE_SCALING("glorot_normal", "GlorotNormal", 1.0, FAN_AVG, DIST_TRUNCATED_NORMAL),
    VARIANCE_SCALING("he_uniform", "HeUniform", 2.0, FAN_IN, DIST_UNIFORM),
    VARIANCE_SCALING("he_normal", "HeNormal", 2.0, FAN_IN, DIST_TRUNCATED_NORMAL),
    VARIANCE_SCALING("lecun_uniform", "LecunUniform", 1.0, FAN_IN, DIST_UNIFORM),
    VARIANCE_SCALING("lecun_normal", "LecunNormal", 1.0, FAN_IN, DIST_TRUNCATED_NORMAL),
    PLAIN("zeros", "Zeros", "zero", false, init_zeros),
    PLAIN("ones", "Ones", "one", false, init_ones),
    PLAIN("constant", "Constant", NULL, false, init_constant),
    PLAIN("random_uniform", "RandomUniform", "uniform", true, init_random_uniform),
    PLAIN("random_normal", "RandomNormal", "normal", true, init_random_normal),
    PLAIN("truncated_normal", "TruncatedNormal", NULL, true, init_truncated_normal),
    PLAIN("orthogonal", "Orthogonal", "OrthogonalInitializer", true, init_orthogonal),
    PLAIN("identity", "Identity", "IdentityInitializer", false, init_identity),
};
#undef VARIANCE_SCALING
#undef PLAIN

/* The default, as Dense's kernel_initializer. */
static const initializer_def *const default_initializer = &initializer_table[0];

static bool names_match(const initializer_def *def, const char *name) {
    return strcasecmp(def->name, name) == 0 || strcasecmp(def->class_name, name) == 0 ||
           (def->alias && strcasecmp(def->alias, name) == 0);
}

static const initializer_def *find_initializer(const char *name) {
    if (!name || !*name) return default_initializer;
    for (size_t i = 0; i < NN_ARRAY_LEN(initializer_table); i++)
        if (names_match(&initializer_table[i], name)) return &initializer_table[i];
    const char *known[NN_ARRAY_LEN(initializer_table)];
    for (size_t i = 0; i < NN_ARRAY_LEN(initializer_table); i++)
        known[i] = initializer_table[i].name;
    char list[512];
    nn_join_names(list, sizeof list, known, NN_ARRAY_LEN(known));
    nn_error(NN_ERR_NAME, "unknown initializer '%s' (known: %s, or their Keras class names)", name,
             list);
    return NULL;
}

int nn_initializer_check(const char *name) { return find_initializer(name) ? NN_OK : NN_ERR_NAME; }

/* *count = the number of elements, which must fit a float array. */
static int check_shape(int ndim, const int64_t *shape, int64_t *count) {
    if (ndim < 0 || ndim > NN_MAX_DIMS)
        return nn_error(NN_ERR_SHAPE, "initializer: rank %d is outside 0..%d", ndim, NN_MAX_DIMS);
    if (ndim > 0 && !shape) return nn_error(NN_ERR_ARG, "initializer: shape is NULL");
    size_t total = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return nn_error(NN_ERR_SHAPE,
                            "initializer: dimension %d of the shape is negative (%lld)", i,
                            (long long)shape[i]);
        if (!nn_size_mul(total, (size_t)shape[i], &total) ||
            total > (size_t)INT64_MAX / sizeof(float)) {
            char buf[160];
            return nn_error(NN_ERR_SHAPE, "initializer: shape %s has too many elements",
                            nn_shape_str(ndim, shape, buf, sizeof buf));
        }
    }
    *count = (int64_t)total;
    return NN_OK;
}

int nn_initializer_fill(const nn_initializer_opts *cfg, float *w, int ndim, const int64_t *shape,
                        nn_rng *rng) {
    const nn_initializer_opts defaults = { 0 };
    if (!cfg) cfg = &defaults;
    const initializer_def *def = find_initializer(cfg->name);
    if (!def) return NN_ERR_NAME;
    fill_target t = { w, 0, ndim, shape };
    int status = check_shape(ndim, shape, &t.count);
    if (status) return status;
    if (!w && t.count > 0) return nn_error(NN_ERR_ARG, "initializer %s: w is NULL", def->name);
    if (def->random && !rng) return nn_error(NN_ERR_ARG, "initializer %s: rng is NULL", def->name);
    return def->init(def, cfg, &t, rng);
}
