/* Optimizers: Keras 3's update rules (keras/src/optimizers/) over flat float arrays.
 *
 * A step follows Keras's BaseOptimizer.apply: clip the gradients (clipnorm per variable, else
 * global_clipnorm, else clipvalue), weight decay (var -= var * weight_decay * lr), the
 * optimizer's update rule per variable, then iterations += 1. Scalars that Keras computes in
 * Python are computed here in double; everything Keras computes on float32 tensors is float. */
#include "core/threads.h"
#include "nn_internal.h"

#include <ctype.h>
#include <stddef.h>

/* ------------------------------------------------------------ hyper-parameters */

typedef enum hyper_type {
    HYPER_NUMBER,   /* a float; 0 in nn_optimizer_opts means the default, NN_OFF means 0 */
    HYPER_OPTIONAL, /* a float that Keras allows to be None: 0 (and JSON null) means "none" */
    HYPER_BOOL,
} hyper_type;

typedef struct hyper_param {
    const char *key; /* Keras's keyword argument and get_config key */
    size_t offset;   /* of the field in nn_optimizer_opts */
    hyper_type type;
} hyper_param;

/* In Keras's get_config order: the base optimizer's keys, then the specific ones. */
static const hyper_param HYPER[] = {
#define HYPER_FIELD(field, type) { #field, offsetof(nn_optimizer_opts, field), type }
    HYPER_FIELD(learning_rate, HYPER_NUMBER),
    HYPER_FIELD(weight_decay, HYPER_OPTIONAL),
    HYPER_FIELD(clipnorm, HYPER_OPTIONAL),
    HYPER_FIELD(global_clipnorm, HYPER_OPTIONAL),
    HYPER_FIELD(clipvalue, HYPER_OPTIONAL),
    HYPER_FIELD(beta_1, HYPER_NUMBER),
    HYPER_FIELD(beta_2, HYPER_NUMBER),
    HYPER_FIELD(rho, HYPER_NUMBER),
    HYPER_FIELD(momentum, HYPER_NUMBER),
    HYPER_FIELD(initial_accumulator_value, HYPER_NUMBER),
    HYPER_FIELD(epsilon, HYPER_NUMBER),
    HYPER_FIELD(nesterov, HYPER_BOOL),
    HYPER_FIELD(amsgrad, HYPER_BOOL),
    HYPER_FIELD(centered, HYPER_BOOL),
#undef HYPER_FIELD
};

enum {
    KEY_LEARNING_RATE = 1u << 0,
    KEY_WEIGHT_DECAY = 1u << 1,
    KEY_CLIPNORM = 1u << 2,
    KEY_GLOBAL_CLIPNORM = 1u << 3,
    KEY_CLIPVALUE = 1u << 4,
    KEY_BETA_1 = 1u << 5,
    KEY_BETA_2 = 1u << 6,
    KEY_RHO = 1u << 7,
    KEY_MOMENTUM = 1u << 8,
    KEY_INITIAL_ACCUMULATOR_VALUE = 1u << 9,
    KEY_EPSILON = 1u << 10,
    KEY_NESTEROV = 1u << 11,
    KEY_AMSGRAD = 1u << 12,
    KEY_CENTERED = 1u << 13,
    KEYS_BASE = KEY_LEARNING_RATE | KEY_WEIGHT_DECAY | KEY_CLIPNORM | KEY_GLOBAL_CLIPNORM |
                KEY_CLIPVALUE,
    KEYS_ADAM = KEYS_BASE | KEY_BETA_1 | KEY_BETA_2 | KEY_EPSILON,
};

static double *number_field(nn_optimizer_opts *opts, const hyper_param *h) {
    return (double *)(void *)((char *)opts + h->offset);
}

static bool *bool_field(nn_optimizer_opts *opts, const hyper_param *h) {
    return (bool *)(void *)((char *)opts + h->offset);
}

static double number_of(const nn_optimizer_opts *opts, const hyper_param *h) {
    return *(const double *)(const void *)((const char *)opts + h->offset);
}

static bool bool_of(const nn_optimizer_opts *opts, const hyper_param *h) {
    return *(const bool *)(const void *)((const char *)opts + h->offset);
}

/* ------------------------------------------------------------ update rules */

/* Optional slots (sgd/rmsprop momentum, amsgrad's velocity_hat, rmsprop's average_gradient)
 * follow an optimizer's fixed slots in this order. */
#define MAX_SLOTS 4

/* One variable's arrays as an update rule sees them. */
typedef struct var_view {
    float *param;
    const float *grad;
    float *slot[MAX_SLOTS];
    size_t n;
} var_view;

/* Keras's local_step: the step being taken, counted from 1. */
static double local_step(const nn_optimizer *o) { return (double)(o->iterations + 1); }

NN_VECTOR_LOOPS static void sgd_update(const nn_optimizer *o, const var_view *v) {
    const float lr = (float)o->opts.learning_rate, momentum = (float)o->opts.momentum;
    float *p = v->param, *m = v->slot[0];
    const float *g = v->grad;
    if (!(o->opts.momentum > 0)) {
        for (size_t i = 0; i < v->n; i++) p[i] -= g[i] * lr;
    } else if (o->opts.nesterov) {
        for (size_t i = 0; i < v->n; i++) {
            m[i] = m[i] * momentum - g[i] * lr;
            p[i] += m[i] * momentum - g[i] * lr;
        }
    } else {
        for (size_t i = 0; i < v->n; i++) {
            m[i] = m[i] * momentum - g[i] * lr;
            p[i] += m[i];
        }
    }
}

/* Adam and AdamW (whose difference, weight decay, is applied before every update rule). One
 * pass over the arrays unless amsgrad needs the running maximum in between. */
NN_VECTOR_LOOPS static void adam_update(const nn_optimizer *o, const var_view *v) {
    const float t = (float)local_step(o);
    const float beta_1_power = powf((float)o->opts.beta_1, t);
    const float beta_2_power = powf((float)o->opts.beta_2, t);
    const float alpha =
        (float)o->opts.learning_rate * sqrtf(1.0f - beta_2_power) / (1.0f - beta_1_power);
    const float one_minus_beta_1 = (float)(1.0 - o->opts.beta_1);
    const float one_minus_beta_2 = (float)(1.0 - o->opts.beta_2);
    const float epsilon = (float)o->opts.epsilon;
    float *restrict p = v->param, *restrict m = v->slot[0], *restrict vel = v->slot[1];
    float *restrict vel_hat = v->slot[2];
    const float *restrict g = v->grad;
    if (!o->opts.amsgrad) {
        for (size_t i = 0; i < v->n; i++) {
            m[i] += (g[i] - m[i]) * one_minus_beta_1;
            vel[i] += (g[i] * g[i] - vel[i]) * one_minus_beta_2;
            p[i] -= m[i] * alpha / (sqrtf(vel[i]) + epsilon);
        }
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        m[i] += (g[i] - m[i]) * one_minus_beta_1;
        vel[i] += (g[i] * g[i] - vel[i]) * one_minus_beta_2;
        vel_hat[i] = vel_hat[i] > vel[i] ? vel_hat[i] : vel[i];
        p[i] -= m[i] * alpha / (sqrtf(vel_hat[i]) + epsilon);
    }
}

NN_VECTOR_LOOPS static void rmsprop_update(const nn_optimizer *o, const var_view *v) {
    const float lr = (float)o->opts.learning_rate, rho = (float)o->opts.rho;
    const float one_minus_rho = (float)(1.0 - o->opts.rho);
    const float momentum = (float)o->opts.momentum, epsilon = (float)o->opts.epsilon;
    const bool use_momentum = o->opts.momentum > 0;
    int next_slot = 1;
    float *p = v->param, *velocity = v->slot[0];
    float *moment = use_momentum ? v->slot[next_slot++] : NULL;
    float *average_grad = o->opts.centered ? v->slot[next_slot++] : NULL;
    const float *g = v->grad;
    for (size_t i = 0; i < v->n; i++) {
        velocity[i] = rho * velocity[i] + one_minus_rho * (g[i] * g[i]);
        float denominator = velocity[i] + epsilon;
        if (average_grad) {
            average_grad[i] = rho * average_grad[i] + one_minus_rho * g[i];
            denominator = velocity[i] - average_grad[i] * average_grad[i] + epsilon;
        }
        const float increment = lr * g[i] / sqrtf(denominator);
        if (moment) {
            moment[i] = momentum * moment[i] + increment;
            p[i] -= moment[i];
        } else {
            p[i] -= increment;
        }
    }
}

NN_VECTOR_LOOPS static void adagrad_update(const nn_optimizer *o, const var_view *v) {
    const float lr = (float)o->opts.learning_rate, epsilon = (float)o->opts.epsilon;
    float *p = v->param, *accumulator = v->slot[0];
    const float *g = v->grad;
    for (size_t i = 0; i < v->n; i++) {
        accumulator[i] += g[i] * g[i];
        p[i] -= lr * g[i] / sqrtf(accumulator[i] + epsilon);
    }
}

NN_VECTOR_LOOPS static void adadelta_update(const nn_optimizer *o, const var_view *v) {
    const float lr = (float)o->opts.learning_rate, rho = (float)o->opts.rho;
    const float one_minus_rho = (float)(1.0 - o->opts.rho), epsilon = (float)o->opts.epsilon;
    float *p = v->param, *accumulated_grad = v->slot[0], *accumulated_delta = v->slot[1];
    const float *g = v->grad;
    for (size_t i = 0; i < v->n; i++) {
        accumulated_grad[i] = rho * accumulated_grad[i] + one_minus_rho * (g[i] * g[i]);
        const float delta =
            -(sqrtf(accumulated_delta[i] + epsilon) * g[i] / sqrtf(accumulated_grad[i] + epsilon));
        accumulated_delta[i] = rho * accumulated_delta[i] + one_minus_rho * (delta * delta);
        p[i] += lr * delta;
    }
}

NN_VECTOR_LOOPS static void adamax_update(const nn_optimizer *o, const var_view *v) {
    const float lr = (float)o->opts.learning_rate, beta_2 = (float)o->opts.beta_2;
    const float bias_correction = 1.0f - powf((float)o->opts.beta_1, (float)local_step(o));
    const float one_minus_beta_1 = (float)(1.0 - o->opts.beta_1);
    const float epsilon = (float)o->opts.epsilon;
    float *p = v->param, *m = v->slot[0], *u = v->slot[1];
    const float *g = v->grad;
    for (size_t i = 0; i < v->n; i++) {
        m[i] += (g[i] - m[i]) * one_minus_beta_1;
        const float decayed = beta_2 * u[i], magnitude = fabsf(g[i]);
        u[i] = decayed > magnitude ? decayed : magnitude;
        p[i] -= lr * m[i] / (bias_correction * (u[i] + epsilon));
    }
}

/* Nadam's momentum schedule u_t = beta_1 * (1 - 0.5 * 0.96^t). */
static double nadam_u(double beta_1, double step) {
    return beta_1 * (1.0 - 0.5 * pow(0.96, step));
}

/* Keras keeps u_product = u_1 * ... * u_step in a variable. It is a function of the step
 * alone, so it is recomputed here and a restored optimizer needs no extra state. The factors
 * (1 - 0.5 * 0.96^s) reach 1.0 in double after about 900 steps, which bounds the loop. */
static double nadam_u_product(double beta_1, int64_t step) {
    double product = 1.0, decay_power = 1.0;
    for (int64_t s = 1; s <= step; s++) {
        decay_power *= 0.96;
        const double factor = 1.0 - 0.5 * decay_power;
        if (factor == 1.0) break;
        product *= factor;
    }
    return product * pow(beta_1, (double)step);
}

NN_VECTOR_LOOPS static void nadam_update(const nn_optimizer *o, const var_view *v) {
    const double beta_1 = o->opts.beta_1, step = local_step(o);
    const double u_t = nadam_u(beta_1, step), u_next = nadam_u(beta_1, step + 1.0);
    const double u_product = nadam_u_product(beta_1, o->iterations + 1);
    const float momentum_weight = (float)(u_next / (1.0 - u_product * u_next));
    const float gradient_weight = (float)((1.0 - u_t) / (1.0 - u_product));
    const float velocity_correction = 1.0f - powf((float)o->opts.beta_2, (float)step);
    const float lr = (float)o->opts.learning_rate, epsilon = (float)o->opts.epsilon;
    /* Unlike Adam, Keras's Nadam subtracts the float32 betas from 1 (and the rounding largely
     * cancels against velocity_correction's). */
    const float one_minus_beta_1 = 1.0f - (float)beta_1;
    const float one_minus_beta_2 = 1.0f - (float)o->opts.beta_2;
    float *p = v->param, *m = v->slot[0], *vel = v->slot[1];
    const float *g = v->grad;
    for (size_t i = 0; i < v->n; i++) {
        m[i] += (g[i] - m[i]) * one_minus_beta_1;
        vel[i] += (g[i] * g[i] - vel[i]) * one_minus_beta_2;
        const float m_hat = momentum_weight * m[i] + gradient_weight * g[i];
        p[i] -= m_hat * lr / (sqrtf(vel[i] / velocity_correction) + epsilon);
    }
}

/* ------------------------------------------------------------ registry */

typedef struct optimizer_kind {
    nn_optimizer_def def; /* first, so a def pointer converts back to its kind */
    unsigned keys;        /* KEY_* bits: the hyper-parameters this optimizer accepts */
    void (*update)(const nn_optimizer *o, const var_view *v);
} optimizer_kind;

/* Defaults from each Keras class's __init__. */
static const optimizer_kind KINDS[] = {
    { { "sgd", "SGD", 0, { .learning_rate = 0.01 } },
      KEYS_BASE | KEY_MOMENTUM | KEY_NESTEROV, sgd_update },
    { { "adam", "Adam", 2, { .learning_rate = 0.001, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7 } },
      KEYS_ADAM | KEY_AMSGRAD, adam_update },
    { { "adamw", "AdamW", 2,
        { .learning_rate = 0.001, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7, .weight_decay = 0.004 } },
      KEYS_ADAM | KEY_AMSGRAD, adam_update },
    { { "rmsprop", "RMSprop", 1, { .learning_rate = 0.001, .rho = 0.9, .epsilon = 1e-7 } },
      KEYS_BASE | KEY_RHO | KEY_MOMENTUM | KEY_EPSILON | KEY_CENTERED, rmsprop_update },
    { { "adagrad", "Adagrad", 1,
        { .learning_rate = 0.001, .initial_accumulator_value = 0.1, .epsilon = 1e-7 } },
      KEYS_BASE | KEY_INITIAL_ACCUMULATOR_VALUE | KEY_EPSILON, adagrad_update },
    { { "adadelta", "Adadelta", 2, { .learning_rate = 0.001, .rho = 0.95, .epsilon = 1e-7 } },
      KEYS_BASE | KEY_RHO | KEY_EPSILON, adadelta_update },
    { { "adamax", "Adamax", 2, { .learning_rate = 0.001, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7 } },
      KEYS_ADAM, adamax_update },
    { { "nadam", "Nadam", 2, { .learning_rate = 0.001, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7 } },
      KEYS_ADAM, nadam_update },
};

static const char *const NAMES[] = {
    "sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", NULL,
};

const char *const *nn_optimizer_names(void) { return NAMES; }

static const optimizer_kind *kind_of(const nn_optimizer *o) {
    return (const optimizer_kind *)(const void *)o->def;
}

static bool same_name_ignoring_case(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

static const optimizer_kind *find_kind(const char *name) {
    char known[256];
    nn_join_names(known, sizeof known, NAMES, NN_ARRAY_LEN(NAMES) - 1);
    if (!name) {
        nn_error(NN_ERR_ARG, "optimizer name is NULL (known: %s)", known);
        return NULL;
    }
    for (size_t i = 0; i < NN_ARRAY_LEN(KINDS); i++)
        if (same_name_ignoring_case(name, KINDS[i].def.name) ||
            same_name_ignoring_case(name, KINDS[i].def.class_name))
            return &KINDS[i];
    nn_error(NN_ERR_NAME, "unknown optimizer '%s' (known: %s)", name, known);
    return NULL;
}

/* "learning_rate, weight_decay, ..." for the keys an optimizer accepts. */
static void join_keys(char *buf, size_t size, unsigned keys) {
    const char *names[NN_ARRAY_LEN(HYPER)];
    size_t count = 0;
    for (size_t i = 0; i < NN_ARRAY_LEN(HYPER); i++)
        if (keys & (1u << i)) names[count++] = HYPER[i].key;
    nn_join_names(buf, size, names, count);
}

/* ------------------------------------------------------------ construction */

/* Turns the user's fields into the values used (0 = default, NN_OFF = 0) and checks them as
 * Keras's constructors do. */
static int resolve_opts(const optimizer_kind *kind, const nn_optimizer_opts *given,
                        nn_optimizer_opts *out) {
    *out = kind->def.defaults;
    for (size_t i = 0; i < NN_ARRAY_LEN(HYPER); i++) {
        const hyper_param *h = &HYPER[i];
        const bool accepted = kind->keys & (1u << i);
        const bool set = h->type == HYPER_BOOL ? bool_of(given, h) : number_of(given, h) != 0;
        if (set && !accepted) {
            char known[256];
            join_keys(known, sizeof known, kind->keys);
            return nn_error(NN_ERR_ARG, "optimizer '%s' has no hyper-parameter '%s' (known: %s)",
                            kind->def.name, h->key, known);
        }
        if (!set) continue;
        if (h->type == HYPER_BOOL) {
            *bool_field(out, h) = true;
            continue;
        }
        const double value = number_of(given, h);
        if (!(isfinite(value) && value >= 0) && value != NN_OFF)
            return nn_error(NN_ERR_ARG,
                            "optimizer '%s': %s must be a finite number >= 0 (or NN_OFF), got %g",
                            kind->def.name, h->key, value);
        *number_field(out, h) = value == NN_OFF ? 0.0 : value;
    }
    /* by name: the update rules are ifuncs (NN_VECTOR_LOOPS), whose addresses may not compare */
    if (strcmp(kind->def.name, "sgd") == 0 && out->momentum > 1)
        return nn_error(NN_ERR_ARG, "optimizer 'sgd': momentum must be between 0 and 1, got %g",
                        out->momentum);
    if ((out->clipnorm > 0) + (out->global_clipnorm > 0) + (out->clipvalue > 0) > 1)
        return nn_error(NN_ERR_ARG,
                        "optimizer '%s': only one of clipnorm, clipvalue and global_clipnorm can "
                        "be set (got clipnorm=%g, clipvalue=%g, global_clipnorm=%g)",
                        kind->def.name, out->clipnorm, out->clipvalue, out->global_clipnorm);
    return NN_OK;
}

nn_optimizer *nn_optimizer_new(const char *name, const nn_optimizer_opts *opts) {
    const optimizer_kind *kind = find_kind(name);
    if (!kind) return NULL;
    const nn_optimizer_opts none = { 0 };
    nn_optimizer_opts resolved;
    if (resolve_opts(kind, opts ? opts : &none, &resolved)) return NULL;
    nn_optimizer *o = nn_malloc(sizeof *o);
    if (!o) return NULL;
    *o = (nn_optimizer){ .def = &kind->def, .opts = resolved, .iterations = 0 };
    return o;
}

void nn_optimizer_free(nn_optimizer *o) { nn_free(o); }

/* ------------------------------------------------------------ slots */

/* Only sgd and rmsprop accept momentum, only adam(w) amsgrad and only rmsprop centered, so
 * each adds its slot to exactly the optimizers that use it. */
int nn_optimizer_slot_count(const nn_optimizer *o) {
    return o->def->slots + (o->opts.momentum > 0) + o->opts.amsgrad + o->opts.centered;
}

/* Every slot starts at 0 but adagrad's accumulator (slot 0), which starts at
 * initial_accumulator_value; that value is 0 for every other optimizer. */
void nn_optimizer_init_slots(const nn_optimizer *o, float *slots, size_t stride) {
    const int count = nn_optimizer_slot_count(o);
    for (int k = 0; k < count; k++) {
        const float initial = k == 0 ? (float)o->opts.initial_accumulator_value : 0.0f;
        float *block = slots + (size_t)k * stride;
        for (size_t i = 0; i < stride; i++) block[i] = initial;
    }
}

/* ------------------------------------------------------------ one step */

static double sum_of_squares(const float *x, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
    return sum;
}

static void scale(float *x, size_t n, float factor) {
    for (size_t i = 0; i < n; i++) x[i] *= factor;
}

/* Keras's clip_by_norm: g * clipnorm / max(||g||, clipnorm). */
static void clip_each_norm(double clipnorm, const nn_var_span *vars, int nvars, float *grads) {
    for (int v = 0; v < nvars; v++) {
        float *g = grads + vars[v].offset;
        const double norm = sqrt(sum_of_squares(g, vars[v].size));
        scale(g, vars[v].size, (float)(clipnorm / (norm > clipnorm ? norm : clipnorm)));
    }
}

/* Keras's clip_by_global_norm, including its NaN for a non-finite norm. */
static void clip_global_norm(double clipnorm, const nn_var_span *vars, int nvars, float *grads) {
    double squares = 0.0;
    for (int v = 0; v < nvars; v++) squares += sum_of_squares(grads + vars[v].offset, vars[v].size);
    const double norm = sqrt(squares);
    const double factor = clipnorm * fmin(1.0 / norm, 1.0 / clipnorm) + (norm - norm);
    for (int v = 0; v < nvars; v++) scale(grads + vars[v].offset, vars[v].size, (float)factor);
}

/* Clamps to [-limit, limit]; NaN stays NaN as in Keras. */
NN_VECTOR_LOOPS static void clip_values(double clipvalue, const nn_var_span *vars, int nvars, float *grads) {
    const float limit = (float)clipvalue;
    for (int v = 0; v < nvars; v++) {
        float *g = grads + vars[v].offset;
        for (size_t i = 0; i < vars[v].size; i++)
            g[i] = g[i] > limit ? limit : g[i] < -limit ? -limit : g[i];
    }
}

static void clip_gradients(const nn_optimizer_opts *opts, const nn_var_span *vars, int nvars,
                           float *grads) {
    if (opts->clipnorm > 0) clip_each_norm(opts->clipnorm, vars, nvars, grads);
    else if (opts->global_clipnorm > 0) clip_global_norm(opts->global_clipnorm, vars, nvars, grads);
    else if (opts->clipvalue > 0) clip_values(opts->clipvalue, vars, nvars, grads);
}

NN_VECTOR_LOOPS static void apply_weight_decay(const nn_optimizer_opts *opts, const nn_var_span *vars, int nvars,
                               float *params) {
    const float decay = (float)opts->weight_decay, lr = (float)opts->learning_rate;
    for (int v = 0; v < nvars; v++) {
        float *p = params + vars[v].offset;
        for (size_t i = 0; i < vars[v].size; i++) p[i] -= p[i] * decay * lr;
    }
}

/* Below this many parameters in a run, one thread updates it faster than two. */
#define NN_OPTIMIZER_PARALLEL_MIN 16384

typedef struct update_task {
    const nn_optimizer *o;
    const optimizer_kind *kind;
    var_view run;
} update_task;

/* Part `part` of `parts` of the run, split at multiples of 64 floats (whole cache lines). */
static void update_share(void *ctx, int part, int parts) {
    const update_task *t = ctx;
    const size_t share = ((t->run.n + (size_t)parts - 1) / (size_t)parts + 63) & ~(size_t)63;
    const size_t begin = share * (size_t)part, end = begin + share < t->run.n ? begin + share : t->run.n;
    if (begin >= end) return;
    var_view view = { .param = t->run.param + begin, .grad = t->run.grad + begin, .n = end - begin };
    for (int k = 0; k < MAX_SLOTS; k++) view.slot[k] = t->run.slot[k] ? t->run.slot[k] + begin : NULL;
    t->kind->update(t->o, &view);
}

void nn_optimizer_apply(nn_optimizer *o, nn_threads *pool, const nn_var_span *vars, int nvars, float *params,
                        float *grads, float *slots, size_t stride) {
    if (nvars == 0) return; /* as Keras: no gradients, no step */
    const optimizer_kind *kind = kind_of(o);
    const int slot_count = nn_optimizer_slot_count(o);
    NN_ASSERT(slot_count <= MAX_SLOTS);
    clip_gradients(&o->opts, vars, nvars, grads);
    if (o->opts.weight_decay > 0) apply_weight_decay(&o->opts, vars, nvars, params);
    /* The rules are elementwise: one pass over each run of adjacent variables (a model's
     * trainable variables are usually all one run of the parameter block), split over the
     * threads when it is long enough. */
    for (int v = 0; v < nvars;) {
        const size_t offset = vars[v].offset;
        size_t n = vars[v].size;
        for (v++; v < nvars && vars[v].offset == offset + n; v++) n += vars[v].size;
        update_task task = { o, kind, { .param = params + offset, .grad = grads + offset, .n = n } };
        for (int k = 0; k < slot_count; k++) task.run.slot[k] = slots + (size_t)k * stride + offset;
        nn_threads_run(n >= NN_OPTIMIZER_PARALLEL_MIN ? pool : NULL, update_share, &task);
    }
    o->iterations++;
}

/* ------------------------------------------------------------ config */

/* As Keras writes it: an unset optional value (weight_decay, clipnorm, ...) is null. */
static nn_value config_item(const nn_optimizer_opts *opts, const hyper_param *h) {
    if (h->type == HYPER_BOOL) return nn_value_bool(bool_of(opts, h));
    const double value = number_of(opts, h);
    if (h->type == HYPER_OPTIONAL && value == 0) return (nn_value){ .type = NN_VALUE_NULL };
    return nn_value_number(value);
}

int nn_optimizer_get_config(const nn_optimizer *o, nn_value *out) {
    const optimizer_kind *kind = kind_of(o);
    nn_value name;
    int status = nn_value_dict_new(out);
    if (status) return status;
    status = nn_value_string(&name, kind->def.name);
    if (!status) status = nn_value_dict_set(out, "name", name);
    for (size_t i = 0; i < NN_ARRAY_LEN(HYPER) && !status; i++) {
        if (!(kind->keys & (1u << i))) continue;
        status = nn_value_dict_set(out, HYPER[i].key, config_item(&o->opts, &HYPER[i]));
    }
    if (status) nn_value_clear(out);
    return status;
}

static const char *value_type_name(nn_value_type type) {
    switch (type) {
    case NN_VALUE_NULL: return "null";
    case NN_VALUE_BOOL: return "a boolean";
    case NN_VALUE_NUMBER: return "a number";
    case NN_VALUE_STRING: return "a string";
    case NN_VALUE_LIST: return "a list";
    case NN_VALUE_DICT: return "a dict";
    }
    return "an unknown value";
}

/* Stores one kwarg into opts in nn_optimizer_opts's convention (an explicit 0 is NN_OFF). */
static int set_from_value(const optimizer_kind *kind, const hyper_param *h, const nn_value *v,
                          nn_optimizer_opts *opts) {
    const char *name = kind->def.name;
    if (h->type == HYPER_BOOL) {
        if (v->type != NN_VALUE_BOOL)
            return nn_error(NN_ERR_ARG, "optimizer '%s': '%s' must be true or false, got %s",
                            name, h->key, value_type_name(v->type));
        *bool_field(opts, h) = v->boolean;
        return NN_OK;
    }
    if (v->type == NN_VALUE_NULL && h->type == HYPER_OPTIONAL) {
        *number_field(opts, h) = NN_OFF;
        return NN_OK;
    }
    if (v->type != NN_VALUE_NUMBER)
        return nn_error(NN_ERR_ARG, "optimizer '%s': '%s' must be a number, got %s", name,
                        h->key, value_type_name(v->type));
    if (!(isfinite(v->number) && v->number >= 0))
        return nn_error(NN_ERR_ARG, "optimizer '%s': '%s' must be a finite number >= 0, got %g",
                        name, h->key, v->number);
    *number_field(opts, h) = v->number == 0 ? NN_OFF : v->number;
    return NN_OK;
}

static int opts_from_kwargs(const optimizer_kind *kind, const nn_value *kwargs,
                            nn_optimizer_opts *opts) {
    if (kwargs->type != NN_VALUE_DICT)
        return nn_error(NN_ERR_ARG, "optimizer '%s': the config must be a dict, got %s",
                        kind->def.name, value_type_name(kwargs->type));
    for (int k = 0; k < kwargs->count; k++) {
        const char *key = kwargs->keys[k];
        /* Keras's config carries the instance name; it does not change the optimizer. */
        if (strcmp(key, "name") == 0) {
            if (kwargs->items[k].type == NN_VALUE_STRING) continue;
            return nn_error(NN_ERR_ARG, "optimizer '%s': 'name' must be a string, got %s",
                            kind->def.name, value_type_name(kwargs->items[k].type));
        }
        size_t i = 0;
        while (i < NN_ARRAY_LEN(HYPER) && !((kind->keys & (1u << i)) && !strcmp(HYPER[i].key, key)))
            i++;
        if (i == NN_ARRAY_LEN(HYPER)) {
            char known[256];
            join_keys(known, sizeof known, kind->keys);
            return nn_error(NN_ERR_ARG, "unknown key '%s' for optimizer '%s' (known: name, %s)",
                            key, kind->def.name, known);
        }
        int status = set_from_value(kind, &HYPER[i], &kwargs->items[k], opts);
        if (status) return status;
    }
    return NN_OK;
}

nn_optimizer *nn_optimizer_from_config(const char *name, const nn_value *kwargs) {
    const optimizer_kind *kind = find_kind(name);
    if (!kind) return NULL;
    nn_optimizer_opts opts = { 0 };
    if (kwargs && opts_from_kwargs(kind, kwargs, &opts)) return NULL;
    return nn_optimizer_new(kind->def.name, &opts);
}
