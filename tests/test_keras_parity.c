/* Parity with real Keras: the blog model (Dense 32 relu, Dense 16 relu, Dense 1 sigmoid) trained
 * by nn_train_on_batch from fixed initial weights must reproduce, step for step, the losses and
 * the final weights that Keras 3 produced with train_on_batch on the same batches.
 *
 * The reference files tests/data/keras_parity_<case>.txt are made by
 * tests/gen/make_keras_parity.py (format in tests/gen/README.md). They hold everything the run
 * needs (standardized features, labels, initial weights), so this test needs no Python and no
 * CSV loading. Uses the public API only. Runs from the project root. */
#include "nn.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#define PARITY_WEIGHTS 6   /* kernel and bias of three Dense layers */
#define PARITY_MAX_STEPS 64
#define PARITY_MAX_DIMS 2

/* Tolerance for every compared value b (Keras) against a (nn):
 *     |a - b| <= PARITY_RTOL * max(|b|, scale)
 * Both sides compute in float32 but sum in different orders (Eigen's GEMM vs nn's kernels; and
 * Keras's TF backend takes binary crossentropy from the sigmoid's logits), so each step carries
 * rounding differences of a few float32 ulps that later steps carry on. Measured when this test
 * was written: an independent straightforward float32 implementation of the same model ends
 * within 1e-6 of Keras on every case, while a plausible slip moves values far beyond 1e-5
 * (Adam with epsilon 1e-8 instead of Keras's 1e-7: 4e-4; RMSprop's epsilon outside the square
 * root: 3e-2; Adam's bias correction off by one step: 8e-3). Hence 1e-5.
 * A weight's rounding error follows the size of the numbers it was computed from, not its own
 * size: a kernel entry that ends near 0 was still made as 0.3 + updates. So the floor `scale`
 * is the largest magnitude in the same tensor (for a loss: the loss itself), not a fixed
 * constant that would demand impossible relative accuracy from values that cancel to near 0. */
#define PARITY_RTOL 1e-5

typedef struct parity_array {
    char name[64];
    int ndim;
    int64_t shape[PARITY_MAX_DIMS];
    float *data;
} parity_array;

typedef struct parity_case {
    char optimizer[64];
    int steps, batch;
    parity_array x, y;
    parity_array initial[PARITY_WEIGHTS], final[PARITY_WEIGHTS];
    int initial_count, final_count;
    double loss[PARITY_MAX_STEPS];
    int loss_count;
} parity_case;

/* ------------------------------------------------------------ reading the reference file */

static int64_t array_size(const parity_array *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

/* The next line that is neither blank nor a '#' comment; 0 at end of file. */
static int read_header_line(FILE *f, char *line, size_t size) {
    while (fgets(line, (int)size, f)) {
        const char *p = line + strspn(line, " \t\r\n");
        if (*p && *p != '#') return 1;
    }
    return 0;
}

/* Parses "<dims...>" after `rest` into a, then reads that many floats from f. */
static int read_array(FILE *f, const char *rest, parity_array *a, char *err, size_t err_size) {
    char *end = NULL;
    a->ndim = 0;
    for (;;) {
        long long d = strtoll(rest, &end, 10);
        if (end == rest) break;
        if (a->ndim == PARITY_MAX_DIMS || d < 1 || d > 100000) {
            snprintf(err, err_size, "%s: bad or too many dimensions", a->name);
            return -1;
        }
        a->shape[a->ndim++] = d;
        rest = end;
    }
    if (a->ndim == 0) {
        snprintf(err, err_size, "%s: no dimensions", a->name);
        return -1;
    }
    int64_t n = array_size(a);
    a->data = malloc((size_t)n * sizeof(float));
    if (!a->data) {
        snprintf(err, err_size, "%s: out of memory", a->name);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        if (fscanf(f, " %f", &a->data[i]) != 1) {
            snprintf(err, err_size, "%s: value %lld of %lld missing or not a number", a->name,
                     (long long)i, (long long)n);
            return -1;
        }
    }
    return 0;
}

/* A named array line "weight dense/kernel 30 32" (or "final ..."), appended to list. */
static int read_named_array(FILE *f, const char *line, parity_array *list, int *count,
                            char *err, size_t err_size) {
    int consumed = 0;
    if (*count == PARITY_WEIGHTS) {
        snprintf(err, err_size, "more than %d weights in: %.200s", PARITY_WEIGHTS, line);
        return -1;
    }
    parity_array *a = &list[(*count)++];
    if (sscanf(line, "%*s %63s %n", a->name, &consumed) != 1 || consumed == 0) {
        snprintf(err, err_size, "weight line without a name: %.200s", line);
        return -1;
    }
    return read_array(f, line + consumed, a, err, err_size);
}

static int read_loss(const char *line, parity_case *c, char *err, size_t err_size) {
    int step = -1;
    double value = 0;
    if (sscanf(line, "%*s %d %lf", &step, &value) != 2 || step != c->loss_count ||
        step >= PARITY_MAX_STEPS) {
        snprintf(err, err_size, "loss line %d expected, got: %.150s", c->loss_count, line);
        return -1;
    }
    c->loss[c->loss_count++] = value;
    return 0;
}

static int read_line_of_case(FILE *f, const char *line, parity_case *c, char *err,
                             size_t err_size) {
    char keyword[32] = "";
    int consumed = 0;
    sscanf(line, "%31s %n", keyword, &consumed);
    if (!strcmp(keyword, "optimizer")) return sscanf(line, "%*s %63s", c->optimizer) == 1 ? 0 : -1;
    if (!strcmp(keyword, "steps")) return sscanf(line, "%*s %d", &c->steps) == 1 ? 0 : -1;
    if (!strcmp(keyword, "batch")) return sscanf(line, "%*s %d", &c->batch) == 1 ? 0 : -1;
    if (!strcmp(keyword, "loss")) return read_loss(line, c, err, err_size);
    if (!strcmp(keyword, "x") || !strcmp(keyword, "y")) {
        parity_array *a = keyword[0] == 'x' ? &c->x : &c->y;
        snprintf(a->name, sizeof(a->name), "%s", keyword);
        return read_array(f, line + consumed, a, err, err_size);
    }
    if (!strcmp(keyword, "weight"))
        return read_named_array(f, line, c->initial, &c->initial_count, err, err_size);
    if (!strcmp(keyword, "final"))
        return read_named_array(f, line, c->final, &c->final_count, err, err_size);
    snprintf(err, err_size, "unknown line: %.200s", line);
    return -1;
}

/* Cross-checks the parts read, so that a truncated file fails here and not as a crash. */
static int check_case_complete(const parity_case *c, char *err, size_t err_size) {
    if (c->steps < 1 || c->steps != c->loss_count || c->batch < 1 || !c->x.data || !c->y.data ||
        c->x.ndim != 2 || c->y.ndim != 2 || c->x.shape[0] != c->y.shape[0] ||
        c->x.shape[0] % c->batch != 0 || c->initial_count != PARITY_WEIGHTS ||
        c->final_count != PARITY_WEIGHTS) {
        snprintf(err, err_size,
                 "incomplete case: steps %d, losses %d, batch %d, weights %d, finals %d",
                 c->steps, c->loss_count, c->batch, c->initial_count, c->final_count);
        return -1;
    }
    return 0;
}

static void parity_case_free(parity_case *c) {
    free(c->x.data);
    free(c->y.data);
    for (int i = 0; i < PARITY_WEIGHTS; i++) {
        free(c->initial[i].data);
        free(c->final[i].data);
    }
    memset(c, 0, sizeof(*c));
}

static int parity_case_read(FILE *f, parity_case *c, char *err, size_t err_size) {
    memset(c, 0, sizeof(*c));
    char line[512];
    int status = 0;
    while (status == 0 && read_header_line(f, line, sizeof(line))) {
        status = read_line_of_case(f, line, c, err, err_size);
        if (status && !err[0]) snprintf(err, err_size, "malformed line: %.150s", line);
    }
    if (status == 0) status = check_case_complete(c, err, err_size);
    if (status) parity_case_free(c);
    return status;
}

static int parity_case_load(const char *path, parity_case *c, char *err, size_t err_size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        memset(c, 0, sizeof(*c));
        snprintf(err, err_size, "cannot open %.150s (tests run from the project root)", path);
        return -1;
    }
    int status = parity_case_read(f, c, err, err_size);
    fclose(f);
    return status;
}

/* ------------------------------------------------------------ comparing */

typedef struct parity_error {
    double max_abs, max_rel; /* rel = |a - b| / max(|b|, scale) */
    int64_t worst;           /* index of the largest rel */
} parity_error;

static double max_magnitude(const float *values, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(values[i]));
    return m;
}

static parity_error compare_values(const float *actual, const float *expected, int64_t n) {
    double scale = max_magnitude(expected, n);
    parity_error e = { 0, 0, 0 };
    for (int64_t i = 0; i < n; i++) {
        double diff = fabs((double)actual[i] - expected[i]);
        double rel = diff / fmax(fmax(fabs(expected[i]), scale), 1e-30);
        if (diff > e.max_abs) e.max_abs = diff;
        if (rel > e.max_rel) {
            e.max_rel = rel;
            e.worst = i;
        }
    }
    return e;
}

static int losses_match(const parity_case *c, const double *nn_loss) {
    int ok = 1;
    for (int s = 0; s < c->steps; s++)
        if (!(fabs(nn_loss[s] - c->loss[s]) <= PARITY_RTOL * fabs(c->loss[s]))) ok = 0;
    if (!ok) {
        printf("  %s: per-step loss, nn vs Keras:\n", c->optimizer);
        for (int s = 0; s < c->steps; s++)
            printf("    step %d: %.9g vs %.9g (rel err %.3g)\n", s, nn_loss[s], c->loss[s],
                   fabs(nn_loss[s] - c->loss[s]) / fabs(c->loss[s]));
    }
    return ok;
}

/* Compares one final weight of the model with Keras's; prints the errors on a mismatch. */
static int weight_matches(const nn_model *model, const parity_case *c, const parity_array *want) {
    nn_tensor *got = NULL;
    if (nn_model_get_weight(model, want->name, &got) != NN_OK) {
        printf("  %s: nn_model_get_weight(%s): %s\n", c->optimizer, want->name, nn_last_error());
        return 0;
    }
    int ok = got->ndim == want->ndim && nn_tensor_size(got) == array_size(want);
    for (int i = 0; ok && i < want->ndim; i++) ok = got->shape[i] == want->shape[i];
    if (!ok) {
        char shape[64];
        printf("  %s: %s has shape %s, Keras's has %lld values\n", c->optimizer, want->name,
               nn_shape_str(got->ndim, got->shape, shape, sizeof(shape)),
               (long long)array_size(want));
    } else {
        const float *values = nn_tensor_f32(got);
        parity_error e = compare_values(values, want->data, array_size(want));
        ok = e.max_rel <= PARITY_RTOL;
        if (!ok)
            printf("  %s: final %s: max abs err %.3g, max rel err %.3g at [%lld] "
                   "(nn %.9g, Keras %.9g; tolerance %g)\n",
                   c->optimizer, want->name, e.max_abs, e.max_rel, (long long)e.worst,
                   values[e.worst], want->data[e.worst], PARITY_RTOL);
    }
    nn_tensor_free(got);
    return ok;
}

/* ------------------------------------------------------------ training with nn */

static nn_model *blog_model(void) {
    return nn_sequential((nn_layer *[]){
        nn_dense(32, .activation = "relu", .input_shape = { 30 }),
        nn_dense(16, .activation = "relu"),
        nn_dense(1, .activation = "sigmoid"),
        NULL });
}

/* Keras's weight order (creation order) is the order of the file. */
static int weight_names_match(const nn_model *model, const parity_case *c) {
    int ok = nn_model_weight_count(model) == c->initial_count;
    for (int i = 0; ok && i < c->initial_count; i++) {
        const char *name = nn_model_weight_name(model, i);
        ok = name && !strcmp(name, c->initial[i].name);
    }
    if (!ok) printf("  %s: weight count or names differ from Keras's order\n", c->optimizer);
    return ok;
}

static int set_initial_weights(nn_model *model, const parity_case *c) {
    for (int i = 0; i < c->initial_count; i++) {
        const parity_array *w = &c->initial[i];
        nn_tensor *t = nn_tensor_wrap(NN_FLOAT32, w->ndim, w->shape, w->data);
        int status = t ? nn_model_set_weight(model, w->name, t) : NN_ERR_NOMEM;
        nn_tensor_free(t);
        if (status != NN_OK) {
            printf("  %s: nn_model_set_weight(%s): %s\n", c->optimizer, w->name,
                   nn_last_error());
            return 0;
        }
    }
    return 1;
}

/* Runs c->steps train steps over consecutive batches (wrapping around, no shuffling), as the
 * generator did; loss[s] receives each step's reported loss. */
static int train_steps(nn_model *model, const parity_case *c, double *loss) {
    int64_t features = c->x.shape[1], outputs = c->y.shape[1];
    int64_t batches = c->x.shape[0] / c->batch;
    for (int s = 0; s < c->steps; s++) {
        int64_t first_row = (s % batches) * c->batch;
        nn_tensor *x = nn_tensor_wrap(NN_FLOAT32, 2, (int64_t[]){ c->batch, features },
                                      c->x.data + first_row * features);
        nn_tensor *y = nn_tensor_wrap(NN_FLOAT32, 2, (int64_t[]){ c->batch, outputs },
                                      c->y.data + first_row * outputs);
        int status = x && y ? nn_train_on_batch(model, x, y, &loss[s]) : NN_ERR_NOMEM;
        nn_tensor_free(x);
        nn_tensor_free(y);
        if (status != NN_OK) {
            printf("  %s: nn_train_on_batch step %d: %s\n", c->optimizer, s, nn_last_error());
            return 0;
        }
    }
    return 1;
}

/* Trains nn's blog model as the reference file says and compares every loss and weight. */
static void check_parity(const char *case_name, nn_optimizer *optimizer) {
    char path[256], err[256] = "";
    parity_case c;
    snprintf(path, sizeof(path), "tests/data/keras_parity_%s.txt", case_name);
    if (parity_case_load(path, &c, err, sizeof(err))) {
        printf("  %s: %s\n", path, err);
        nn_optimizer_free(optimizer);
        CHECK(!"reference file readable");
        return;
    }
    CHECK(!strcmp(c.optimizer, case_name));

    nn_model *model = blog_model();
    if (!model) nn_optimizer_free(optimizer); /* compile would have taken it over */
    int status = model ? nn_compile(model, &(nn_compile_opts){ .optimizer_obj = optimizer,
                                                               .loss = "binary_crossentropy" })
                       : NN_ERR_STATE;
    if (status != NN_OK) printf("  %s: building the model: %s\n", case_name, nn_last_error());
    CHECK(status == NN_OK);

    double loss[PARITY_MAX_STEPS];
    if (status == NN_OK) {
        CHECK(weight_names_match(model, &c));
        int trained = set_initial_weights(model, &c) && train_steps(model, &c, loss);
        CHECK(trained);
        if (trained) {
            CHECK(losses_match(&c, loss));
            for (int i = 0; i < c.final_count; i++) CHECK(weight_matches(model, &c, &c.final[i]));
        }
    }
    nn_model_free(model);
    parity_case_free(&c);
}

TEST(test_adam_defaults) { check_parity("adam", nn_adam()); }

TEST(test_sgd_momentum) {
    check_parity("sgd_momentum", nn_sgd(.learning_rate = 0.01, .momentum = 0.9));
}

TEST(test_rmsprop_defaults) { check_parity("rmsprop", nn_rmsprop()); }

TEST(test_sgd_nesterov) {
    check_parity("sgd_nesterov", nn_sgd(.learning_rate = 0.1, .momentum = 0.9, .nesterov = true));
}

TEST(test_adam_amsgrad) {
    check_parity("adam_amsgrad", nn_adam(.learning_rate = 0.01, .beta_2 = 0.5, .amsgrad = true));
}

TEST(test_sgd_clipnorm) {
    check_parity("sgd_clipnorm", nn_sgd(.learning_rate = 0.1, .clipnorm = 0.3));
}

/* The comparison itself must be able to fail: a final weight off by 10x the tolerance is
 * reported, one off by a tenth of it is not, and the floor follows the tensor's scale. */
TEST(test_comparison_catches_a_small_error) {
    char err[256] = "";
    parity_case c;
    int loaded = parity_case_load("tests/data/keras_parity_adam.txt", &c, err, sizeof(err)) == 0;
    if (!loaded) printf("  %s\n", err);
    CHECK(loaded);
    if (!loaded) return;
    const parity_array *kernel = &c.final[0];
    int64_t n = array_size(kernel);
    float *copy = malloc((size_t)n * sizeof(float));
    CHECK(copy != NULL);
    if (copy) {
        memcpy(copy, kernel->data, (size_t)n * sizeof(float));
        CHECK(compare_values(copy, kernel->data, n).max_rel == 0);
        double scale = max_magnitude(kernel->data, n);
        copy[5] = (float)(kernel->data[5] + 10 * PARITY_RTOL * scale);
        parity_error e = compare_values(copy, kernel->data, n);
        CHECK(e.max_rel > PARITY_RTOL && e.worst == 5);
        copy[5] = (float)(kernel->data[5] + 0.1 * PARITY_RTOL * scale);
        CHECK(compare_values(copy, kernel->data, n).max_rel <= PARITY_RTOL);
        free(copy);
    }
    parity_case_free(&c);
}

/* A truncated reference file is reported, not read past. */
TEST(test_truncated_reference_is_reported) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    fputs("optimizer adam\nsteps 6\nbatch 32\nx 96 30\n0.5 0.25\n", f);
    rewind(f);
    char err[256] = "";
    parity_case c;
    CHECK(parity_case_read(f, &c, err, sizeof(err)) != 0);
    CHECK_CONTAINS(err, "x: value 2 of 2880 missing");
    fclose(f);
}

int main(void) {
    RUN_TESTS(test_comparison_catches_a_small_error, test_truncated_reference_is_reported,
              test_adam_defaults, test_sgd_momentum, test_rmsprop_defaults, test_sgd_nesterov,
              test_adam_amsgrad, test_sgd_clipnorm);
}
