/* Normalization and noise ops on channels-last values: layer_norm (over each row's last axis),
 * group_norm (each sample's groups of channels over all its positions), batch_norm and
 * batch_norm_inference (each channel over all rows), gaussian_noise and spatial_dropout.
 *
 * Attributes: attr.f[0] = epsilon (norms), stddev (gaussian_noise) or rate (spatial_dropout);
 * attr.f[1] = momentum (batch_norm); attr.shape[0] = groups (group_norm).
 * Inputs: layer_norm and group_norm (x, [gamma]); batch_norm and batch_norm_inference (x,
 * moving_mean, moving_variance, [gamma]). An op has at most four inputs, so the layers add beta
 * with bias_add. batch_norm (the training graph's) normalizes with the batch's statistics and updates
 * the moving ones; batch_norm_inference normalizes with the moving statistics. */
#include "ops/ops.h"

/* ------------------------------------------------------------------ shared */

/* gamma follows the op's fixed inputs when the layer scales. */
static int gamma_input(const nn_node *n) { return n->op == NN_OP_LAYER_NORM || n->op == NN_OP_GROUP_NORM ? 1 : 3; }

/* x must be batched with a last (feature) axis; every other input a vector of its length. */
static int norm_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    if (!x->batched || x->ndim < 2) return nn_shape_error(g, n, "expected a batched input with a last (feature) axis, got");
    int64_t cols = x->shape[x->ndim - 1];
    for (int i = 1; i < n->ninputs; i++) {
        const nn_node *v = &g->nodes[n->inputs[i]];
        if (v->ndim != 1 || v->shape[0] != cols)
            return nn_shape_error(g, n, "every weight must be a vector as long as the input's last axis:");
    }
    nn_shape_like(g, n, 0);
    return NN_OK;
}

/* y = (x - mean[s]) * inv_std[s] * gamma, where the statistics index s is the row (layer_norm:
 * row_step 1, col_step 0) or the column (batch norms: row_step 0, col_step 1). */
typedef struct norm_view {
    int64_t rows, cols;
    const float *mean, *inv_std;
    int64_t row_step, col_step;
    const float *gamma;  /* NULL when the layer does not scale */
} norm_view;

static const float *gamma_of(const nn_exec *e, const nn_node *n) {
    return n->ninputs > gamma_input(n) ? IN_VALUE(e, n, gamma_input(n)) : NULL;
}

static void normalize_rows(const norm_view *v, const float *x, float *y, int64_t first, int64_t end) {
    for (int64_t i = first; i < end; i++)
        for (int64_t j = 0; j < v->cols; j++) {
            int64_t s = i * v->row_step + j * v->col_step, k = i * v->cols + j;
            float value = (x[k] - v->mean[s]) * v->inv_std[s];
            y[k] = v->gamma ? value * v->gamma[j] : value;
        }
}

/* Work on whole rows, split over the exec's threads by rows: each row's results depend on that
 * row only, so any split gives the same bits. */
typedef struct row_task row_task;
struct row_task {
    norm_view v;
    const float *x, *dy;
    float *out, *stats;  /* stats: layer_norm's per-row mean and inverse deviation, written */
    double epsilon;
    int64_t groups, channels;  /* group_norm, whose rows are samples: per sample, per position */
    void (*fn)(const row_task *t, int64_t first, int64_t end);
};

/* Below this many floats, handing work to other threads costs more than it saves. */
#define NORM_PARALLEL_MIN 32768

static void row_task_part(void *ctx, int part, int parts) {
    const row_task *t = ctx;
    int64_t first = t->v.rows * part / parts, end = t->v.rows * (part + 1) / parts;
    if (end > first) t->fn(t, first, end);
}

static void over_rows(const nn_exec *e, row_task *t) {
    if (t->v.rows * t->v.cols < NORM_PARALLEL_MIN) t->fn(t, 0, t->v.rows);
    else nn_threads_run(e->threads, row_task_part, t);
}

static void apply_rows(const row_task *t, int64_t first, int64_t end) { normalize_rows(&t->v, t->x, t->out, first, end); }

static void normalize_apply(const nn_exec *e, const norm_view *v, const float *x, float *y) {
    row_task t = { .v = *v, .x = x, .out = y, .fn = apply_rows };
    over_rows(e, &t);
}

/* gamma's gradient: the sum over rows of dy * xhat. */
static void gamma_grad(const nn_exec *e, const nn_node *n, const norm_view *v, const float *x, const float *dy) {
    float *dgamma = n->ninputs > gamma_input(n) ? IN_GRAD(e, n, gamma_input(n)) : NULL;
    for (int64_t i = 0; dgamma && i < v->rows; i++)
        for (int64_t j = 0; j < v->cols; j++) {
            int64_t s = i * v->row_step + j * v->col_step, k = i * v->cols + j;
            dgamma[j] += dy[k] * (x[k] - v->mean[s]) * v->inv_std[s];
        }
}

/* Values normalized together: `runs` runs of `length` adjacent values, `stride` apart
 * (layer_norm: one run, the row; group_norm: a sample's group, one run of the group's channels
 * per position). gamma is indexed by the place in the run. */
typedef struct span {
    int64_t runs, length, stride;
} span;

/* A span's mean and inverse deviation (biased variance), summed in double: float sums lose
 * digits on long rows. */
static void span_moments(const float *x, span s, double epsilon, float *mean, float *inv_std) {
    double sum = 0.0, squares = 0.0, count = (double)(s.runs * s.length);
    for (int64_t r = 0; r < s.runs; r++)
        for (int64_t j = 0; j < s.length; j++) sum += x[r * s.stride + j];
    double mu = sum / count;
    for (int64_t r = 0; r < s.runs; r++)
        for (int64_t j = 0; j < s.length; j++) squares += (x[r * s.stride + j] - mu) * (x[r * s.stride + j] - mu);
    *mean = (float)mu;
    *inv_std = (float)(1.0 / sqrt(squares / count + epsilon));
}

/* dx += inv_std * (g - mean(g) - xhat * mean(g * xhat)) over one span, with g = dy * gamma. */
static void span_input_grad(const float *x, const float *dy, const float *gamma, span s, float mean, float inv_std,
                            float *dx) {
    double sum_g = 0.0, sum_g_xhat = 0.0, count = (double)(s.runs * s.length);
    for (int64_t r = 0; r < s.runs; r++)
        for (int64_t j = 0, k = r * s.stride; j < s.length; j++, k++) {
            double g = dy[k] * (gamma ? gamma[j] : 1.0f);
            sum_g += g;
            sum_g_xhat += g * (x[k] - mean) * inv_std;
        }
    double mean_g = sum_g / count, mean_g_xhat = sum_g_xhat / count;
    for (int64_t r = 0; r < s.runs; r++)
        for (int64_t j = 0, k = r * s.stride; j < s.length; j++, k++) {
            double g = dy[k] * (gamma ? gamma[j] : 1.0f), xhat = (x[k] - mean) * inv_std;
            dx[k] += (float)(inv_std * (g - mean_g - xhat * mean_g_xhat));
        }
}

/* ------------------------------------------------------------------ layer_norm */

static int64_t layer_norm_aux(const nn_graph *g, const nn_node *n) {
    (void)g;
    return 2 * (n->inner / n->shape[n->ndim - 1]); /* a mean and an inverse deviation per row */
}

static norm_view layer_norm_view(const nn_exec *e, const nn_node *n) {
    int64_t rows = nn_node_rows(e, n);
    const float *aux = nn_node_aux(e, SELF(e, n));
    return (norm_view){ .rows = rows, .cols = nn_node_cols(n), .mean = aux, .inv_std = aux + rows, .row_step = 1,
                        .gamma = gamma_of(e, n) };
}

static void layer_norm_forward_rows(const row_task *t, int64_t first, int64_t end) {
    span row = { 1, t->v.cols, t->v.cols };
    for (int64_t i = first; i < end; i++)
        span_moments(t->x + i * t->v.cols, row, t->epsilon, &t->stats[i], &t->stats[t->v.rows + i]);
    normalize_rows(&t->v, t->x, t->out, first, end);
}

static void layer_norm_forward(const nn_exec *e, const nn_node *n) {
    row_task t = { .v = layer_norm_view(e, n), .x = IN_VALUE(e, n, 0), .out = OUT_VALUE(e, n),
                   .stats = nn_node_aux(e, SELF(e, n)), .epsilon = n->attr.f[0], .fn = layer_norm_forward_rows };
    over_rows(e, &t);
}

static void layer_norm_input_grad_rows(const row_task *t, int64_t first, int64_t end) {
    int64_t cols = t->v.cols;
    span row = { 1, cols, cols };
    for (int64_t i = first; i < end; i++)
        span_input_grad(t->x + i * cols, t->dy + i * cols, t->v.gamma, row, t->v.mean[i], t->v.inv_std[i], t->out + i * cols);
}

static void layer_norm_backward(const nn_exec *e, const nn_node *n) {
    row_task t = { .v = layer_norm_view(e, n), .x = IN_VALUE(e, n, 0), .dy = OUT_GRAD(e, n), .out = IN_GRAD(e, n, 0),
                   .fn = layer_norm_input_grad_rows };
    if (t.out) over_rows(e, &t);
    gamma_grad(e, n, &t.v, t.x, t.dy);
}

const nn_op_def nn_op_layer_norm = { .name = "layer_norm", .shape = norm_shape, .forward = layer_norm_forward,
                                     .backward = layer_norm_backward, .aux_per_sample = layer_norm_aux };

/* ------------------------------------------------------------------ group_norm */

/* Each sample's channels fall in `groups` groups of adjacent channels; a group is normalized
 * over all its values (every position's channels of the group), then scaled by gamma per
 * channel. Keras's GroupNormalization. */
static int group_norm_shape(const nn_graph *g, nn_node *n) {
    int status = norm_shape(g, n);
    if (status) return status;
    int64_t groups = n->attr.shape[0], channels = n->shape[n->ndim - 1];
    if (groups < 1 || channels % groups != 0)
        return nn_shape_error(g, n, "the channels (the last axis) must be a multiple of the groups:");
    return NN_OK;
}

/* A mean and an inverse deviation per sample and group. */
static int64_t group_norm_aux(const nn_graph *g, const nn_node *n) {
    (void)g;
    return 2 * n->attr.shape[0];
}

/* rows: the batch's samples; cols: the values per sample. Statistics: mean[n * groups + g],
 * inv_std likewise. */
static row_task group_norm_task(const nn_exec *e, const nn_node *n) {
    int64_t groups = n->attr.shape[0];
    float *aux = nn_node_aux(e, SELF(e, n));
    return (row_task){ .v = { .rows = e->batch, .cols = n->inner, .mean = aux, .inv_std = aux + e->batch * groups,
                              .gamma = gamma_of(e, n) },
                       .x = IN_VALUE(e, n, 0), .stats = aux, .epsilon = n->attr.f[0], .groups = groups,
                       .channels = nn_node_cols(n) };
}

/* Group `group` of sample `sample`: its span and the offset of its first value. */
static span group_span(const row_task *t, int64_t sample, int64_t group, int64_t *first) {
    int64_t width = t->channels / t->groups;
    *first = sample * t->v.cols + group * width;
    return (span){ t->v.cols / t->channels, width, t->channels };
}

static void group_norm_forward_samples(const row_task *t, int64_t first, int64_t end) {
    for (int64_t i = first; i < end; i++)
        for (int64_t grp = 0, at; grp < t->groups; grp++) {
            span s = group_span(t, i, grp, &at);
            int64_t k = i * t->groups + grp;
            float mean, inv_std;
            span_moments(t->x + at, s, t->epsilon, &mean, &inv_std);
            t->stats[k] = mean;
            t->stats[t->v.rows * t->groups + k] = inv_std;
            const float *gamma = t->v.gamma ? t->v.gamma + grp * s.length : NULL;
            for (int64_t r = 0; r < s.runs; r++)
                for (int64_t j = 0, o = at + r * s.stride; j < s.length; j++, o++) {
                    float value = (t->x[o] - mean) * inv_std;
                    t->out[o] = gamma ? value * gamma[j] : value;
                }
        }
}

static void group_norm_forward(const nn_exec *e, const nn_node *n) {
    row_task t = group_norm_task(e, n);
    t.out = OUT_VALUE(e, n);
    t.fn = group_norm_forward_samples;
    over_rows(e, &t);
}

static void group_norm_input_grad_samples(const row_task *t, int64_t first, int64_t end) {
    for (int64_t i = first; i < end; i++)
        for (int64_t grp = 0, at; grp < t->groups; grp++) {
            span s = group_span(t, i, grp, &at);
            int64_t k = i * t->groups + grp;
            const float *gamma = t->v.gamma ? t->v.gamma + grp * s.length : NULL;
            span_input_grad(t->x + at, t->dy + at, gamma, s, t->v.mean[k], t->v.inv_std[k], t->out + at);
        }
}

/* dx per group as layer_norm's per row; dgamma[c] += the sum of dy * xhat over every sample
 * and position. */
static void group_norm_backward(const nn_exec *e, const nn_node *n) {
    row_task t = group_norm_task(e, n);
    t.dy = OUT_GRAD(e, n);
    t.out = IN_GRAD(e, n, 0);
    t.fn = group_norm_input_grad_samples;
    if (t.out) over_rows(e, &t);
    float *dgamma = n->ninputs > 1 ? IN_GRAD(e, n, 1) : NULL;
    for (int64_t i = 0; dgamma && i < t.v.rows * t.v.cols; i++) {
        int64_t c = i % t.channels, k = i / t.v.cols * t.groups + c / (t.channels / t.groups);
        dgamma[c] += t.dy[i] * (t.x[i] - t.v.mean[k]) * t.v.inv_std[k];
    }
}

const nn_op_def nn_op_group_norm = { .name = "group_norm", .shape = group_norm_shape, .forward = group_norm_forward,
                                     .backward = group_norm_backward, .aux_per_sample = group_norm_aux };

/* ------------------------------------------------------------------ batch_norm, batch_norm_inference */

/* A mean and an inverse deviation per channel, one block for the whole batch (batch_norm: the
 * batch's; batch_norm_inference: the moving mean's and variance's). The plan has per-sample
 * scratch only, so the block is counted per sample. */
static int64_t batch_norm_aux(const nn_graph *g, const nn_node *n) {
    (void)g;
    return 2 * n->shape[n->ndim - 1];
}

static norm_view batch_norm_view(const nn_exec *e, const nn_node *n) {
    int64_t cols = nn_node_cols(n);
    const float *aux = nn_node_aux(e, SELF(e, n));
    return (norm_view){ .rows = nn_node_rows(e, n), .cols = cols, .mean = aux, .inv_std = aux + cols, .col_step = 1,
                        .gamma = gamma_of(e, n) };
}

/* Per-channel sums over all rows go channel block by channel block, each row's slice of the
 * block read in order: reading one channel at a time would stride through memory, and the
 * block's double accumulators fit on the stack. */
#define NORM_CHANNEL_BLOCK 256

static int64_t block_width(int64_t first, int64_t cols) {
    return cols - first < NORM_CHANNEL_BLOCK ? cols - first : NORM_CHANNEL_BLOCK;
}

/* The batch's statistics into scratch, and Keras's update of the moving statistics
 * (non-trainable parameters, written here): moving = moving * momentum + batch * (1 - momentum),
 * with the biased batch variance. */
static void batch_statistics(const nn_exec *e, const nn_node *n, const float *x, int64_t rows, int64_t cols) {
    float *aux = nn_node_aux(e, SELF(e, n)), *moving_mean = IN_VALUE(e, n, 1), *moving_var = IN_VALUE(e, n, 2);
    double momentum = n->attr.f[1], epsilon = n->attr.f[0];
    for (int64_t first = 0; first < cols; first += NORM_CHANNEL_BLOCK) {
        int64_t width = block_width(first, cols);
        double mean[NORM_CHANNEL_BLOCK] = { 0 }, squares[NORM_CHANNEL_BLOCK] = { 0 };
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < width; j++) mean[j] += x[i * cols + first + j];
        for (int64_t j = 0; j < width; j++) mean[j] /= (double)rows;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < width; j++) {
                double d = x[i * cols + first + j] - mean[j];
                squares[j] += d * d;
            }
        for (int64_t j = 0, c = first; j < width; j++, c++) {
            double variance = squares[j] / (double)rows;
            aux[c] = (float)mean[j];
            aux[cols + c] = (float)(1.0 / sqrt(variance + epsilon));
            moving_mean[c] = (float)(moving_mean[c] * momentum + mean[j] * (1.0 - momentum));
            moving_var[c] = (float)(moving_var[c] * momentum + variance * (1.0 - momentum));
        }
    }
}

static void batch_norm_forward(const nn_exec *e, const nn_node *n) {
    const float *x = IN_VALUE(e, n, 0);
    batch_statistics(e, n, x, nn_node_rows(e, n), nn_node_cols(n));
    norm_view v = batch_norm_view(e, n);
    normalize_apply(e, &v, x, OUT_VALUE(e, n));
}

/* dx += inv_std * (g - mean(g) - xhat * mean(g * xhat)) per channel, g = dy * gamma, the means
 * over all rows. */
static void batch_input_grad(const norm_view *v, const float *x, const float *dy, float *dx) {
    for (int64_t first = 0; first < v->cols; first += NORM_CHANNEL_BLOCK) {
        int64_t width = block_width(first, v->cols);
        double mean_g[NORM_CHANNEL_BLOCK] = { 0 }, mean_g_xhat[NORM_CHANNEL_BLOCK] = { 0 };
        for (int64_t i = 0; i < v->rows; i++)
            for (int64_t j = 0, c = first, k = i * v->cols + first; j < width; j++, c++, k++) {
                double g = dy[k] * (v->gamma ? v->gamma[c] : 1.0f);
                mean_g[j] += g;
                mean_g_xhat[j] += g * (x[k] - v->mean[c]) * v->inv_std[c];
            }
        for (int64_t j = 0; j < width; j++) mean_g[j] /= (double)v->rows, mean_g_xhat[j] /= (double)v->rows;
        for (int64_t i = 0; i < v->rows; i++)
            for (int64_t j = 0, c = first, k = i * v->cols + first; j < width; j++, c++, k++) {
                double g = dy[k] * (v->gamma ? v->gamma[c] : 1.0f), xhat = (x[k] - v->mean[c]) * v->inv_std[c];
                dx[k] += (float)(v->inv_std[c] * (g - mean_g[j] - xhat * mean_g_xhat[j]));
            }
    }
}

static void batch_norm_backward(const nn_exec *e, const nn_node *n) {
    norm_view v = batch_norm_view(e, n);
    const float *x = IN_VALUE(e, n, 0), *dy = OUT_GRAD(e, n);
    float *dx = IN_GRAD(e, n, 0);
    if (dx) batch_input_grad(&v, x, dy, dx);
    gamma_grad(e, n, &v, x, dy);
}

const nn_op_def nn_op_batch_norm = { .name = "batch_norm", .shape = norm_shape, .forward = batch_norm_forward,
                                     .backward = batch_norm_backward, .aux_per_sample = batch_norm_aux };

static void batch_norm_inference_forward(const nn_exec *e, const nn_node *n) {
    int64_t cols = nn_node_cols(n);
    float *aux = nn_node_aux(e, SELF(e, n));
    const float *moving_mean = IN_VALUE(e, n, 1), *moving_var = IN_VALUE(e, n, 2);
    for (int64_t j = 0; j < cols; j++) {
        aux[j] = moving_mean[j];
        aux[cols + j] = (float)(1.0 / sqrt(moving_var[j] + n->attr.f[0]));
    }
    norm_view v = batch_norm_view(e, n);
    normalize_apply(e, &v, IN_VALUE(e, n, 0), OUT_VALUE(e, n));
}

/* The moving statistics are constants here: dx = dy * gamma * inv_std. */
static void batch_norm_inference_backward(const nn_exec *e, const nn_node *n) {
    norm_view v = batch_norm_view(e, n);
    const float *x = IN_VALUE(e, n, 0), *dy = OUT_GRAD(e, n);
    float *dx = IN_GRAD(e, n, 0);
    for (int64_t i = 0; dx && i < v.rows; i++)
        for (int64_t j = 0; j < v.cols; j++)
            dx[i * v.cols + j] += dy[i * v.cols + j] * v.inv_std[j] * (v.gamma ? v.gamma[j] : 1.0f);
    gamma_grad(e, n, &v, x, dy);
}

const nn_op_def nn_op_batch_norm_inference = { .name = "batch_norm_inference", .shape = norm_shape,
                                               .forward = batch_norm_inference_forward,
                                               .backward = batch_norm_inference_backward,
                                               .aux_per_sample = batch_norm_aux };

/* ------------------------------------------------------------------ gaussian_noise */

static int noise_shape(const nn_graph *g, nn_node *n) {
    nn_shape_like(g, n, 0);
    return NN_OK;
}

static void gaussian_noise_forward(const nn_exec *e, const nn_node *n) {
    const float *x = IN_VALUE(e, n, 0);
    float *y = OUT_VALUE(e, n);
    double stddev = n->attr.f[0];
    for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) y[i] = (float)(x[i] + stddev * nn_rng_normal(e->rng));
}

static void gaussian_noise_backward(const nn_exec *e, const nn_node *n) {
    const float *dy = OUT_GRAD(e, n);
    float *dx = IN_GRAD(e, n, 0);
    if (dx)
        for (int64_t i = 0, size = nn_node_size(e, n); i < size; i++) dx[i] += dy[i];
}

const nn_op_def nn_op_gaussian_noise = { .name = "gaussian_noise", .shape = noise_shape,
                                         .forward = gaussian_noise_forward, .backward = gaussian_noise_backward };

/* ------------------------------------------------------------------ spatial_dropout */

/* Whole channels of each sample are kept (scaled by 1 / (1 - rate)) or dropped; the per-sample,
 * per-channel mask is kept in scratch. */
static int spatial_dropout_shape(const nn_graph *g, nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    if (!x->batched || x->ndim < 3)
        return nn_shape_error(g, n, "expected an input (batch, steps, channels) or (batch, height, width, channels), got");
    nn_shape_like(g, n, 0);
    return NN_OK;
}

static int64_t spatial_dropout_aux(const nn_graph *g, const nn_node *n) {
    (void)g;
    return n->shape[n->ndim - 1];
}

static void spatial_dropout_run(const nn_exec *e, const nn_node *n, bool forward) {
    int64_t channels = nn_node_cols(n), per_sample = n->inner / channels;
    float *mask = nn_node_aux(e, SELF(e, n));
    float *out = forward ? OUT_VALUE(e, n) : IN_GRAD(e, n, 0);
    const float *in = forward ? IN_VALUE(e, n, 0) : OUT_GRAD(e, n);
    if (!out) return;
    float keep_scale = (float)(1.0 / (1.0 - n->attr.f[0]));
    for (int64_t s = 0; s < nn_node_batch(e, n); s++) {
        float *m = mask + s * channels;
        if (forward)
            for (int64_t c = 0; c < channels; c++) m[c] = nn_rng_uniform(e->rng) >= n->attr.f[0] ? keep_scale : 0.0f;
        for (int64_t p = 0; p < per_sample; p++)
            for (int64_t c = 0, k = (s * per_sample + p) * channels; c < channels; c++, k++) {
                if (forward) out[k] = in[k] * m[c];
                else out[k] += in[k] * m[c];
            }
    }
}

static void spatial_dropout_forward(const nn_exec *e, const nn_node *n) { spatial_dropout_run(e, n, true); }
static void spatial_dropout_backward(const nn_exec *e, const nn_node *n) { spatial_dropout_run(e, n, false); }

const nn_op_def nn_op_spatial_dropout = { .name = "spatial_dropout", .shape = spatial_dropout_shape,
                                          .forward = spatial_dropout_forward, .backward = spatial_dropout_backward,
                                          .aux_per_sample = spatial_dropout_aux };
