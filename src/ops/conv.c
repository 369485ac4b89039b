/* Spatial ops on channels_last values (None, height, width, channels): conv2d (im2col onto the
 * GEMM) and conv2d_transpose (its input gradient, from the same code), max and average
 * pooling, conv2d_max_pool2d (a conv2d and the max pooling after it as one op, made by
 * nn_fuse_conv_pools), pad2d (zero padding, or cropping with negative amounts) and upsample2d
 * (nearest). Attribute layout: src/ops/conv.h. A 1-D value (None, steps, channels) is read as height 1,
 * so the 1-D layers use the same ops.
 *
 * Loops that are not GEMMs split the batch over the exec's threads by whole samples, so every
 * thread writes its own samples and any split gives the same bits. */
#include "ops/conv.h"
#include "ops/ops.h"
#include "kernels/kernels.h"

/* Below this many floats touched, handing work to other threads costs more than it saves. */
#define NN_SPATIAL_PARALLEL_MIN 32768
/* Column floats per im2col + GEMM chunk: about 512 KB, an L2 cache. */
#define NN_CONV_CHUNK_FLOATS (128 * 1024)
/* A forward's flops per thread for its chunks to be shared (forward_chunks): a few
 * microseconds of work, against 0.4 us to hand it to a spinning worker. */
#define NN_CONV_SPLIT_FLOPS (1 << 17)
/* conv2d's backward sums each chunk's kernel and bias gradients into slot chunk % this, each
 * slot's chunks in order on one thread, then the slots in order: the bits depend on neither
 * the thread count nor which thread took which slot, and up to this many threads share it.
 * Winograd's chunks, forward and backward, also work in the scratch area of their slot. */
#define NN_CONV_SLOTS 4

void nn_same_padding(int64_t size, int64_t window, int64_t stride, int64_t *before, int64_t *after) {
    int64_t out = (size + stride - 1) / stride, total = (out - 1) * stride + window - size;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
}

/* The geometry of a spatial op at the current batch. */
typedef struct geom {
    int64_t batch, h, w, c;  /* input */
    int64_t oh, ow, f;       /* output height, width, channels */
    int64_t kh, kw, dh, dw;  /* window taps and the dilation between them (1 but for conv2d) */
    int64_t sh, sw;          /* strides (upsample2d: repeat factors) */
    int64_t pad_top, pad_left;
    int64_t groups, cg, fg;  /* conv2d: input channels and filters per group */
} geom;

/* (None, H, W, C), or (None, W, C) read as H = 1: how 1-D layers use the same ops. */
static void spatial_dims(const nn_node *v, int64_t *h, int64_t *w, int64_t *c) {
    *h = v->ndim == 4 ? v->shape[1] : 1;
    *w = v->shape[v->ndim - 2];
    *c = v->shape[v->ndim - 1];
}

/* conv2d_transpose is described by the conv2d whose input gradient it computes: that conv's
 * input has the transpose's output shape, and its output the transpose's input shape. */
static geom geom_of(const nn_graph *graph, const nn_node *n, int64_t batch) {
    const int64_t *a = n->attr.shape;
    geom g = { .batch = batch * n->fold, .kh = a[NN_ATTR_EXTENT_H], .kw = a[NN_ATTR_EXTENT_W], .dh = 1, .dw = 1,
               .sh = a[NN_ATTR_STRIDE_H], .sw = a[NN_ATTR_STRIDE_W],
               .pad_top = a[NN_ATTR_PAD_TOP], .pad_left = a[NN_ATTR_PAD_LEFT], .groups = 1 };
    bool transposed = n->op == NN_OP_CONV2D_TRANSPOSE;
    const nn_node *x = &graph->nodes[n->inputs[0]];
    spatial_dims(transposed ? n : x, &g.h, &g.w, &g.c);
    spatial_dims(transposed ? x : n, &g.oh, &g.ow, &g.f);
    g.cg = g.c;
    g.fg = g.f;
    if (n->op == NN_OP_CONV2D || n->op == NN_OP_CONV2D_MAX_POOL || transposed) {
        const nn_node *k = &graph->nodes[n->inputs[1]];
        g.dh = g.kh;
        g.dw = g.kw;
        g.kh = k->ndim == 4 ? k->shape[0] : 1;
        g.kw = k->shape[k->ndim - 3];
        g.cg = k->shape[k->ndim - 2];
        g.groups = g.c / g.cg;
        g.fg = g.f / g.groups;
    }
    return g;
}

static int64_t output_rows(const geom *g) { return g->batch * g->oh * g->ow; }
static int64_t window_size(const geom *g) { return g->kh * g->kw * g->cg; } /* a column row */

/* ------------------------------------------------------------------ shapes */

static int spatial_input(const nn_graph *g, const nn_node *n) {
    const nn_node *x = &g->nodes[n->inputs[0]];
    if (!x->batched || (x->ndim != 4 && x->ndim != 3))
        return nn_shape_error(g, n, "expected an input (batch, height, width, channels) or (batch, steps, channels), got");
    return NN_OK;
}

/* The output keeps the input's rank: a 1-D input must give a 1-D output (oh = 1). */
static int set_spatial_shape(const nn_graph *g, nn_node *n, int64_t oh, int64_t ow, int64_t channels) {
    nn_shape_like(g, n, 0);
    if (n->ndim == 3 && oh != 1) return nn_shape_error(g, n, "a window taller than 1 over 1-D input");
    if (n->ndim == 4) n->shape[1] = oh;
    n->shape[n->ndim - 2] = ow;
    n->shape[n->ndim - 1] = channels;
    return NN_OK;
}

static int64_t output_extent(int64_t size, int64_t pad_before, int64_t pad_after, int64_t span, int64_t stride) {
    int64_t room = size + pad_before + pad_after - span;
    return room < 0 ? 0 : room / stride + 1;
}

/* conv2d and the pools: kh x kw taps, dh and dw apart. */
static int window_shape(const nn_graph *g, nn_node *n, int64_t kh, int64_t kw, int64_t dh, int64_t dw, int64_t channels) {
    const int64_t *a = n->attr.shape;
    for (int i = 0; i < NN_ATTR_PAD_RIGHT + 1; i++)
        if (a[i] < (i < NN_ATTR_PAD_TOP ? 1 : 0))
            return nn_shape_error(g, n, "strides, dilation and window must be >= 1 and padding >= 0; input");
    int64_t h, w, c;
    spatial_dims(&g->nodes[n->inputs[0]], &h, &w, &c);
    int64_t oh = output_extent(h, a[NN_ATTR_PAD_TOP], a[NN_ATTR_PAD_BOTTOM], dh * (kh - 1) + 1, a[NN_ATTR_STRIDE_H]);
    int64_t ow = output_extent(w, a[NN_ATTR_PAD_LEFT], a[NN_ATTR_PAD_RIGHT], dw * (kw - 1) + 1, a[NN_ATTR_STRIDE_W]);
    if (oh < 1 || ow < 1) return nn_shape_error(g, n, "the window is larger than the (padded) input:");
    return set_spatial_shape(g, n, oh, ow, channels);
}

/* ------------------------------------------------------------------ per-sample loops */

typedef struct sample_task sample_task;
typedef void sample_range_fn(const sample_task *t, int64_t first, int64_t count);
struct sample_task {
    geom g;
    sample_range_fn *fn;
    const float *in;  /* what the loop reads */
    float *out;       /* what it writes (or adds to) */
    void *extra;      /* max pooling's argmax; im2col's input gradient */
};

static void run_share(void *ctx, int thread, int threads) {
    const sample_task *t = ctx;
    int64_t first = t->g.batch * thread / threads, end = t->g.batch * (thread + 1) / threads;
    if (end > first) t->fn(t, first, end - first);
}

static void over_samples(const nn_exec *e, sample_task *t, int64_t floats_per_sample) {
    if (t->g.batch * floats_per_sample < NN_SPATIAL_PARALLEL_MIN) t->fn(t, 0, t->g.batch);
    else nn_threads_run(e->threads, run_share, t);
}

/* Taps [lo, hi) of a window starting at `start` (in input units, padding negative) that fall
 * inside an axis of `size`, for windows whose taps are adjacent. */
static void taps_inside(int64_t start, int64_t taps, int64_t size, int64_t *lo, int64_t *hi) {
    *lo = start < 0 ? -start : 0;
    *hi = size - start < taps ? size - start : taps;
    if (*hi < *lo) *hi = *lo;
}

/* ------------------------------------------------------------------ conv2d */

/* x (None, H, W, C) * kernel (kh, kw, C / groups, F) [+ bias (F)] -> (None, OH, OW, F); attr:
 * strides, dilation rates (the extent) and padding. A rank-3 kernel (kw, C / groups, F) has
 * kh = 1. The bias is added while the output is still in the cache, sparing a bias_add pass. */
static int conv2d_shape(const nn_graph *g, nn_node *n) {
    int status = spatial_input(g, n);
    if (status) return status;
    const nn_node *x = &g->nodes[n->inputs[0]], *k = &g->nodes[n->inputs[1]];
    if (k->ndim != 4 && k->ndim != 3)
        return nn_shape_error(g, n, "the kernel must be (height, width, channels / groups, filters); input and kernel");
    int64_t kh = k->ndim == 4 ? k->shape[0] : 1, kw = k->shape[k->ndim - 3];
    int64_t cg = k->shape[k->ndim - 2], f = k->shape[k->ndim - 1], c = x->shape[x->ndim - 1];
    if (c % cg != 0 || f % (c / cg) != 0)
        return nn_shape_error(g, n, "the input's channels must be groups x the kernel's input channels, and the "
                                    "filters a multiple of the groups; input and kernel");
    const nn_node *bias = n->ninputs > 2 ? &g->nodes[n->inputs[2]] : NULL;
    if (bias && (bias->ndim != 1 || bias->shape[0] != f))
        return nn_shape_error(g, n, "the bias must be (filters,); input and kernel");
    return window_shape(g, n, kh, kw, n->attr.shape[NN_ATTR_EXTENT_H], n->attr.shape[NN_ATTR_EXTENT_W], f);
}

/* A 1x1 kernel over every pixel: the input is its own column matrix. */
static bool is_pointwise(const geom *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->oh == g->h && g->ow == g->w &&
           g->pad_top == 0 && g->pad_left == 0 && g->groups == 1;
}

/* dst[0, n) = src[0, n) for the short runs of im2col (a window row of a few channels), whose
 * memcpy calls would cost more than the copies: at most two overlapping moves of a constant
 * size, which compile inline (a loop would be turned back into a call). */
static inline void copy_floats(float *restrict dst, const float *restrict src, int64_t n) {
    if (n > 16) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
    } else if (n >= 8) {
        memcpy(dst, src, 8 * sizeof *dst);
        memcpy(dst + n - 8, src + n - 8, 8 * sizeof *dst);
    } else if (n >= 4) {
        memcpy(dst, src, 4 * sizeof *dst);
        memcpy(dst + n - 4, src + n - 4, 4 * sizeof *dst);
    } else if (n >= 2) {
        memcpy(dst, src, 2 * sizeof *dst);
        memcpy(dst + n - 2, src + n - 2, 2 * sizeof *dst);
    } else if (n == 1) {
        dst[0] = src[0];
    }
}

/* One row of im2col (or with dx set, col2im): the kh x kw taps of the window under output pixel
 * (n, oy, ox) of group `grp`, each the group's cg channels, zeros where a tap falls in the
 * padding; col2im adds the row back onto the taps. With one group and adjacent taps, a window
 * row inside the input is one run of kw x cg floats. */
static void window_row(const geom *g, float *dst, const float *x, float *dx, int64_t grp, int64_t n, int64_t oy,
                       int64_t ox) {
    int64_t ix0 = ox * g->sw - g->pad_left, span = g->kw * g->cg;
    bool runs = g->groups == 1 && g->dw == 1 && ix0 >= 0 && ix0 + g->kw <= g->w;
    for (int64_t i = 0; i < g->kh; i++, dst += span) {
        int64_t iy = oy * g->sh - g->pad_top + i * g->dh;
        bool y_inside = iy >= 0 && iy < g->h;
        const int64_t row_at = (n * g->h + iy) * g->w;
        if (runs && y_inside) {
            int64_t at = (row_at + ix0) * g->c;
            if (dx)
                for (int64_t k = 0; k < span; k++) dx[at + k] += dst[k];
            else
                copy_floats(dst, x + at, span);
            continue;
        }
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t ix = ix0 + j * g->dw;
            float *tap = dst + j * g->cg;
            if (!y_inside || ix < 0 || ix >= g->w) {
                if (!dx) memset(tap, 0, (size_t)g->cg * sizeof *tap);
                continue;
            }
            int64_t at = (row_at + ix) * g->c + grp * g->cg;
            if (dx)
                for (int64_t k = 0; k < g->cg; k++) dx[at + k] += tap[k];
            else
                copy_floats(tap, x + at, g->cg);
        }
    }
}

/* im2col (or col2im) over output rows [row0, row0 + count) of the batch, a row being one output
 * pixel (n, oy, ox): col holds row row0 first, each group's rows output_rows apart (the whole
 * column matrix from its row row0, or a chunk's columns with one group). */
static void windows_rows(const geom *g, float *col, const float *x, float *dx, int64_t row0, int64_t count) {
    int64_t rows = output_rows(g), row_size = window_size(g), pixels = g->oh * g->ow;
    for (int64_t grp = 0; grp < g->groups; grp++) {
        int64_t n = row0 / pixels, oy = row0 % pixels / g->ow, ox = row0 % g->ow;
        for (int64_t r = row0; r < row0 + count; r++) {
            window_row(g, col + (grp * rows + r - row0) * row_size, x, dx, grp, n, oy, ox);
            if (++ox < g->ow) continue;
            ox = 0;
            if (++oy < g->oh) continue;
            oy = 0;
            n++;
        }
    }
}

/* windows_rows over whole samples: col2im's rows of a sample add onto that sample's input only,
 * so threads that take whole samples never write the same input. */
static void windows_range(const sample_task *t, int64_t first, int64_t count) {
    int64_t pixels = t->g.oh * t->g.ow;
    windows_rows(&t->g, t->out + first * pixels * window_size(&t->g), t->in, t->extra, first * pixels, count * pixels);
}

static void lay_out_windows(const nn_exec *e, const geom *g, float *col, const float *x, float *dx) {
    sample_task t = { .g = *g, .fn = windows_range, .in = x, .out = col, .extra = dx };
    over_samples(e, &t, g->oh * g->ow * window_size(g) * g->groups);
}

/* block (rows, cols) = columns [col0, col0 + cols) of m (rows, width) */
static void gather_columns(float *block, const float *m, int64_t rows, int64_t width, int64_t col0, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) memcpy(block + r * cols, m + r * width + col0, (size_t)cols * sizeof *block);
}

/* columns [col0, col0 + cols) of m (rows, width) = (or +=) block (rows, cols) */
static void scatter_columns(float *m, const float *block, int64_t rows, int64_t width, int64_t col0, int64_t cols,
                            bool accumulate) {
    for (int64_t r = 0; r < rows; r++) {
        float *dst = m + r * width + col0;
        const float *src = block + r * cols;
        if (accumulate)
            for (int64_t k = 0; k < cols; k++) dst[k] += src[k];
        else
            memcpy(dst, src, (size_t)cols * sizeof *dst);
    }
}

static void add_bias(float *y, const float *bias, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++) y[r * cols + j] += bias[j];
}

/* The products a convolution is made of, on a geometry in the conv's own terms: input
 * (batch, h, w, c), kernel (kh, kw, cg, f), output (batch, oh, ow, f). conv2d's forward is
 * conv_apply and its backward conv_kernel_grad and conv_input_grad; conv2d_transpose's forward
 * is conv_input_grad and its backward conv_apply and conv_kernel_grad.
 *
 * With one group, the work goes in chunks whose column rows stay in the cache between im2col
 * and the GEMMs, the threads taking whole chunks; forward: im2col then y = col . kernel, over
 * chunks of output rows (forward_chunks); input gradient: dcol = dy . kernel^T then col2im,
 * over chunks of samples; conv2d's whole backward also adds each chunk's kernel and bias
 * gradients into a slot (NN_CONV_SLOTS). The backward's chunks do not depend on the thread
 * count, and the forward's outputs not on the chunks, so neither do the bits. */
typedef struct chunk_task {
    geom g;
    const float *x, *w, *bias;
    const nn_activation_def *act; /* applied to the outputs (NULL: linear) */
    float *col, *y;   /* forward: im2col(x) and y */
    const float *dy;  /* input gradient: the output gradient, with dx the input gradient */
    float *dx;
    bool accumulate;  /* forward: y += rather than y = */
    int64_t chunks;   /* even parts of the output rows; of the samples for the input gradient */
} chunk_task;

/* The first index of chunk `chunk` of `chunks` even parts of [0, total). */
static int64_t chunk_start(int64_t total, int64_t chunks, int64_t chunk) { return total * chunk / chunks; }

/* How many chunks the forward cuts `total` rows (or Winograd tiles) into, for `threads`
 * threads: chunks of `most` at most (what stays in the cache, or fits a slot's area), as many
 * as a multiple of the threads so that they share them evenly (one sample's rows too, at
 * prediction's batch 1), and one thread when the work is too small to share. A forward output
 * comes out the same in any chunk (each row of a GEMM is summed on its own) except in a
 * one-row chunk, a matrix-vector product that sums in another order; so no chunk has fewer
 * than two rows, and the bits depend neither on the thread count nor on the chunks. */
static int64_t forward_chunks(int64_t total, int64_t most, int threads, double flops) {
    int64_t chunks = (total + most - 1) / most;
    if (threads > 1 && flops >= 2.0 * NN_CONV_SPLIT_FLOPS) chunks += (threads - chunks % threads) % threads;
    if (chunks > total / 2) chunks = total / 2;
    return chunks < 1 ? 1 : chunks;
}

static void run_chunks(void *ctx, int thread, int threads) {
    const chunk_task *t = ctx;
    const geom *g = &t->g;
    /* the input gradient's chunks are samples, the forward's rows */
    int64_t k = window_size(g), unit = t->dx ? g->oh * g->ow : 1, units = output_rows(g) / unit;
    for (int64_t chunk = thread; chunk < t->chunks; chunk += threads) {
        int64_t row0 = chunk_start(units, t->chunks, chunk) * unit;
        int64_t rows = chunk_start(units, t->chunks, chunk + 1) * unit - row0;
        float *col = t->col + row0 * k, *y = t->y + row0 * g->f;
        if (t->dx) {
            nn_gemm_cpu(col, t->dy + row0 * g->f, t->w, rows, k, g->f, false, true, false);
            windows_rows(g, col, NULL, t->dx, row0, rows);
        } else {
            windows_rows(g, col, t->x, NULL, row0, rows);
            nn_gemm_epilogue epilogue = { t->bias, t->act && t->act->relu };
            nn_gemm_ep(NULL, y, col, t->w, rows, g->f, k, false, false, t->accumulate, &epilogue);
            if (t->act && !t->act->relu) t->act->forward(y, y, rows, g->f);
        }
    }
}

static int64_t chunk_samples(const geom *g) {
    int64_t samples = NN_CONV_CHUNK_FLOATS / (g->oh * g->ow * window_size(g));
    return samples < 1 ? 1 : samples;
}

/* The forward's chunks are rows (forward_chunks); the input gradient's whole samples, since
 * col2im adds each window onto its neighbours' inputs. */
static void over_chunks(const nn_exec *e, chunk_task *t) {
    const geom *g = &t->g;
    int64_t k = window_size(g);
    if (t->dx) {
        t->chunks = (g->batch + chunk_samples(g) - 1) / chunk_samples(g);
    } else { /* a sample at least, as one whose columns outgrow the cache would make many small GEMMs */
        int64_t most = NN_CONV_CHUNK_FLOATS / k, pixels = g->oh * g->ow;
        t->chunks = forward_chunks(output_rows(g), most > pixels ? most : pixels, nn_threads_count(e->threads),
                                   2.0 * (double)output_rows(g) * (double)k * (double)g->f);
    }
    nn_threads_run(t->chunks > 1 ? e->threads : NULL, run_chunks, t);
}

/* y = act(conv(x, w) [+ bias]) (y += conv(x, w) with accumulate, act and bias NULL); col
 * receives im2col(x) unless the kernel is pointwise. Grouped convolutions use the scratch after
 * col for one group's outputs and kernel. */
static void conv_apply(const nn_exec *e, const geom *g, const float *x, const float *w, const float *bias,
                       const nn_activation_def *act, float *y, float *col, bool accumulate) {
    int64_t rows = output_rows(g), k = window_size(g);
    if (!is_pointwise(g) && g->groups == 1) { /* the chunks finish the outputs while they are in the cache */
        chunk_task t = { .g = *g, .x = x, .w = w, .bias = bias, .act = act, .col = col, .y = y,
                         .accumulate = accumulate };
        over_chunks(e, &t);
        return;
    }
    if (is_pointwise(g)) {
        nn_gemm_ep(e->threads, y, x, w, rows, g->f, g->c, false, false, accumulate,
                   &(nn_gemm_epilogue){ bias, act && act->relu });
        if (act && !act->relu) act->forward(y, y, rows, g->f);
        return;
    }
    lay_out_windows(e, g, col, x, NULL);
    float *y_group = col + rows * k * g->groups, *w_group = y_group + rows * g->fg;
    for (int64_t grp = 0; grp < g->groups; grp++) {
        gather_columns(w_group, w, k, g->f, grp * g->fg, g->fg);
        nn_gemm(e->threads, y_group, col + grp * rows * k, w_group, rows, g->fg, k, false, false, false);
        scatter_columns(y, y_group, rows, g->f, grp * g->fg, g->fg, accumulate);
    }
    if (bias) add_bias(y, bias, rows, g->f);
    if (act) act->forward(y, y, rows, g->f);
}

/* dw += col^T . dy, col holding im2col(x) (x itself when pointwise); per group with groups. */
static void conv_kernel_grad(const nn_exec *e, const geom *g, const float *x, float *col, const float *dy, float *dw) {
    int64_t rows = output_rows(g), k = window_size(g);
    if (is_pointwise(g)) {
        nn_gemm(e->threads, dw, x, dy, g->c, g->f, rows, true, false, true);
    } else if (g->groups == 1) {
        nn_gemm(e->threads, dw, col, dy, k, g->f, rows, true, false, true);
    } else {
        float *dy_group = col + rows * k * g->groups, *dw_group = dy_group + rows * g->fg;
        for (int64_t grp = 0; grp < g->groups; grp++) {
            gather_columns(dy_group, dy, rows, g->f, grp * g->fg, g->fg);
            nn_gemm(e->threads, dw_group, col + grp * rows * k, dy_group, k, g->fg, rows, true, false, false);
            scatter_columns(dw, dw_group, k, g->f, grp * g->fg, g->fg, true);
        }
    }
}

/* dx += col2im(dy . w^T), through col (overwritten); per group with groups. */
static void conv_input_grad(const nn_exec *e, const geom *g, const float *dy, const float *w, float *dx, float *col) {
    int64_t rows = output_rows(g), k = window_size(g);
    if (is_pointwise(g)) {
        nn_gemm(e->threads, dx, dy, w, rows, g->c, g->f, false, true, true);
    } else if (g->groups == 1) {
        chunk_task t = { .g = *g, .w = w, .col = col, .dy = dy, .dx = dx };
        over_chunks(e, &t);
    } else {
        float *dy_group = col + rows * k * g->groups, *w_group = dy_group + rows * g->fg;
        for (int64_t grp = 0; grp < g->groups; grp++) {
            gather_columns(dy_group, dy, rows, g->f, grp * g->fg, g->fg);
            gather_columns(w_group, w, k, g->f, grp * g->fg, g->fg);
            nn_gemm(e->threads, col + grp * rows * k, dy_group, w_group, rows, k, g->fg, false, true, false);
        }
        lay_out_windows(e, g, col, NULL, dx);
    }
}

/* ------------------------------------------------------------------ conv2d by Winograd F(2x2, 3x3)
 *
 * A 3 x 3 kernel at stride 1 over enough channels: each 2 x 2 block of outputs (a tile) comes
 * from the 4 x 4 inputs under it as Y = A^T [(G g G^T) . (B^T d B)] A, the product elementwise
 * over the 16 points of the transformed tile, summed over channels. The sum is one GEMM per
 * point: (tiles, C) . (C, F), 16 multiplications per 4 outputs instead of 36. Tiles past the
 * output's bottom or right edge read zeros and are not stored. The forward runs over chunks of
 * samples (the threads take whole chunks, so the bits do not depend on the thread count), and
 * so does the backward, the exact gradient of these transforms and products (grad_task). */
#define NN_WINOGRAD_POINTS 16
/* Fewer channels or filters leave the transforms costing more than the multiplications saved. */
#define NN_WINOGRAD_MIN_CHANNELS 8
/* Tiles per chunk: its transformed inputs and products stay in the L2 cache. */
#define NN_WINOGRAD_CHUNK_TILES 96

static bool winograd_geometry(const geom *g) {
    return g->kh == 3 && g->kw == 3 && g->dh == 1 && g->dw == 1 && g->sh == 1 && g->sw == 1 && g->groups == 1 &&
           g->c >= NN_WINOGRAD_MIN_CHANNELS && g->f >= NN_WINOGRAD_MIN_CHANNELS;
}

static bool uses_winograd(const nn_node *n, const geom *g) { return n->op == NN_OP_CONV2D && winograd_geometry(g); }

static int64_t winograd_tiles(const geom *g) { return ((g->oh + 1) / 2) * ((g->ow + 1) / 2); } /* per sample */
/* A sample's transformed inputs and products, and room for a tile's outputs, or an input
 * gradient's tap, past the edge. */
static int64_t winograd_sample_floats(const geom *g) {
    return NN_WINOGRAD_POINTS * winograd_tiles(g) * (g->c + g->f) + 4 * g->f + g->c;
}
static int64_t winograd_kernel_floats(const geom *g) { return NN_WINOGRAD_POINTS * g->c * g->f; }
static int64_t winograd_chunk_samples(const geom *g) {
    int64_t samples = NN_WINOGRAD_CHUNK_TILES / winograd_tiles(g);
    return samples < 1 ? 1 : samples;
}
static int64_t winograd_slot_floats(const geom *g) { return winograd_chunk_samples(g) * winograd_sample_floats(g); }
/* The op's scratch: the transformed kernel, c + f zeros, then a chunk's work area per slot. */
static int64_t winograd_aux_floats(const geom *g) {
    return winograd_kernel_floats(g) + g->c + g->f + NN_CONV_SLOTS * winograd_slot_floats(g);
}

/* u[point][c][f] = G g G^T of each (c, f)'s 3 x 3 taps g, w being (3, 3, c, f), for the (c, f)
 * pairs [first, end) of the plane's c * f. */
NN_VECTOR_LOOPS static void winograd_kernel(float *restrict u, const float *restrict w, int64_t plane, int64_t first,
                                            int64_t end) {
    NN_NO_OVERLAP
    for (int64_t i = first; i < end; i++) {
        float g[3][3], gg[4][3];
        for (int r = 0; r < 3; r++)
            for (int s = 0; s < 3; s++) g[r][s] = w[(r * 3 + s) * plane + i];
        for (int s = 0; s < 3; s++) {
            gg[0][s] = g[0][s];
            gg[1][s] = 0.5f * (g[0][s] + g[1][s] + g[2][s]);
            gg[2][s] = 0.5f * (g[0][s] - g[1][s] + g[2][s]);
            gg[3][s] = g[2][s];
        }
        for (int r = 0; r < 4; r++) {
            float *row = u + r * 4 * plane + i;
            row[0] = gg[r][0];
            row[plane] = 0.5f * (gg[r][0] + gg[r][1] + gg[r][2]);
            row[2 * plane] = 0.5f * (gg[r][0] - gg[r][1] + gg[r][2]);
            row[3 * plane] = gg[r][2];
        }
    }
}

/* v[point][tile] (c floats each) = B^T d B for one tile, d[4 * r + s] pointing at the c channels
 * of input tap (r, s); `stride` floats between points. */
NN_VECTOR_LOOPS static void winograd_input_tile(float *restrict v, const float *const *d, int64_t c, int64_t stride) {
    NN_NO_OVERLAP
    for (int64_t ch = 0; ch < c; ch++) {
        float t[4][4];
        for (int s = 0; s < 4; s++) {
            float d0 = d[s][ch], d1 = d[4 + s][ch], d2 = d[8 + s][ch], d3 = d[12 + s][ch];
            t[0][s] = d0 - d2;
            t[1][s] = d1 + d2;
            t[2][s] = d2 - d1;
            t[3][s] = d1 - d3;
        }
        for (int r = 0; r < 4; r++) {
            float *row = v + r * 4 * stride + ch;
            row[0] = t[r][0] - t[r][2];
            row[stride] = t[r][1] + t[r][2];
            row[2 * stride] = t[r][2] - t[r][1];
            row[3 * stride] = t[r][1] - t[r][3];
        }
    }
}

/* The 2 x 2 outputs A^T m A + bias (then max(0, .) with relu) of one tile, m[point] pointing at
 * its f products; y00 .. y11 receive outputs (0, 0) .. (1, 1). Inlined with relu a constant, so
 * that each loop vectorizes. */
static inline __attribute__((always_inline)) void winograd_outputs(float *restrict y00, float *restrict y01,
                                                                   float *restrict y10, float *restrict y11,
                                                                   const float *const *m, const float *bias, bool relu,
                                                                   int64_t f) {
    NN_NO_OVERLAP
    for (int64_t j = 0; j < f; j++) {
        float t[2][4], out[4];
        for (int s = 0; s < 4; s++) {
            t[0][s] = m[s][j] + m[4 + s][j] + m[8 + s][j];
            t[1][s] = m[4 + s][j] - m[8 + s][j] - m[12 + s][j];
        }
        for (int r = 0; r < 2; r++) {
            out[2 * r] = t[r][0] + t[r][1] + t[r][2];
            out[2 * r + 1] = t[r][1] - t[r][2] - t[r][3];
        }
        for (int o = 0; o < 4; o++) {
            out[o] += bias[j];
            if (relu) out[o] = out[o] > 0.0f ? out[o] : 0.0f;
        }
        y00[j] = out[0], y01[j] = out[1], y10[j] = out[2], y11[j] = out[3];
    }
}

NN_VECTOR_LOOPS static void winograd_output_tile(float *const *y, const float *const *m, const float *bias, bool relu,
                                                 int64_t f) {
    if (relu) winograd_outputs(y[0], y[1], y[2], y[3], m, bias, true, f);
    else winograd_outputs(y[0], y[1], y[2], y[3], m, bias, false, f);
}

/* The offsets in y (or dy) of tile `tile`'s 2 x 2 outputs, output (r, s) at at[2 * r + s], -1
 * past the edge; tiles count over the batch, sample by sample. */
static void winograd_output_offsets(const geom *g, int64_t tile, int64_t at[4]) {
    int64_t per_sample = winograd_tiles(g), tiles_w = (g->ow + 1) / 2;
    int64_t n = tile / per_sample, oy = tile % per_sample / tiles_w * 2, ox = tile % tiles_w * 2;
    for (int r = 0; r < 2; r++)
        for (int s = 0; s < 2; s++)
            at[2 * r + s] = oy + r < g->oh && ox + s < g->ow ? ((n * g->oh + oy + r) * g->ow + ox + s) * g->f : -1;
}

/* The offsets in x (or dx) of the tile's 4 x 4 input taps, tap (r, s) at at[4 * r + s], -1 in
 * the padding or past the input. */
static void winograd_input_offsets(const geom *g, int64_t tile, int64_t at[NN_WINOGRAD_POINTS]) {
    int64_t per_sample = winograd_tiles(g), tiles_w = (g->ow + 1) / 2;
    int64_t n = tile / per_sample, oy = tile % per_sample / tiles_w * 2, ox = tile % tiles_w * 2;
    for (int r = 0; r < 4; r++)
        for (int s = 0; s < 4; s++) {
            int64_t iy = oy + r - g->pad_top, ix = ox + s - g->pad_left;
            at[4 * r + s] = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w ? ((n * g->h + iy) * g->w + ix) * g->c : -1;
        }
}

/* v[point][tile][c] for `tiles` tiles from tile0. */
static void winograd_transform_inputs(const geom *g, const float *x, const float *zeros, int64_t tile0, int64_t tiles,
                                      float *v) {
    for (int64_t tile = 0; tile < tiles; tile++) {
        int64_t at[NN_WINOGRAD_POINTS];
        const float *d[NN_WINOGRAD_POINTS];
        winograd_input_offsets(g, tile0 + tile, at);
        for (int k = 0; k < NN_WINOGRAD_POINTS; k++) d[k] = at[k] >= 0 ? x + at[k] : zeros;
        winograd_input_tile(v + tile * g->c, d, g->c, tiles * g->c);
    }
}

/* dm[point][tile] (f floats each, `stride` apart) = A dy A^T for one tile: the gradient of the
 * output transform, dy[2 * r + s] pointing at output (r, s)'s f gradients (zeros past the edge). */
NN_VECTOR_LOOPS static void winograd_output_grad_tile(float *restrict dm, const float *const *dy, int64_t f,
                                                      int64_t stride) {
    NN_NO_OVERLAP
    for (int64_t j = 0; j < f; j++) {
        float p[4][2];
        for (int s = 0; s < 2; s++) {
            float y0 = dy[s][j], y1 = dy[2 + s][j];
            p[0][s] = y0;
            p[1][s] = y0 + y1;
            p[2][s] = y0 - y1;
            p[3][s] = -y1;
        }
        for (int r = 0; r < 4; r++) {
            float *row = dm + r * 4 * stride + j;
            row[0] = p[r][0];
            row[stride] = p[r][0] + p[r][1];
            row[2 * stride] = p[r][0] - p[r][1];
            row[3 * stride] = -p[r][1];
        }
    }
}

/* dx[4 * r + s] (c floats each) += tap (r, s) of B dv B^T for one tile: the gradient of the input
 * transform, dv[point] `stride` floats apart. Taps outside the input all point at one scratch
 * row, whose sums are never read. */
NN_VECTOR_LOOPS static void winograd_input_grad_tile(float *const *dx, const float *restrict dv, int64_t c,
                                                     int64_t stride) {
    NN_NO_OVERLAP
    for (int64_t ch = 0; ch < c; ch++) {
        float q[4][4];
        for (int s = 0; s < 4; s++) {
            float v0 = dv[s * stride + ch], v1 = dv[(4 + s) * stride + ch];
            float v2 = dv[(8 + s) * stride + ch], v3 = dv[(12 + s) * stride + ch];
            q[0][s] = v0;
            q[1][s] = v1 - v2 + v3;
            q[2][s] = v1 + v2 - v0;
            q[3][s] = -v3;
        }
        for (int r = 0; r < 4; r++) {
            dx[4 * r][ch] += q[r][0];
            dx[4 * r + 1][ch] += q[r][1] - q[r][2] + q[r][3];
            dx[4 * r + 2][ch] += q[r][1] + q[r][2] - q[r][0];
            dx[4 * r + 3][ch] -= q[r][3];
        }
    }
}

/* dw (3, 3, c, f) += G^T du G for each (c, f): the gradient of winograd_kernel, du[point][c][f]. */
NN_VECTOR_LOOPS static void winograd_kernel_grad(float *restrict dw, const float *restrict du, int64_t c, int64_t f) {
    int64_t plane = c * f;
    NN_NO_OVERLAP
    for (int64_t i = 0; i < plane; i++) {
        float r[3][4];
        for (int s = 0; s < 4; s++) {
            float u0 = du[s * plane + i], u1 = du[(4 + s) * plane + i];
            float u2 = du[(8 + s) * plane + i], u3 = du[(12 + s) * plane + i];
            r[0][s] = u0 + 0.5f * (u1 + u2);
            r[1][s] = 0.5f * (u1 - u2);
            r[2][s] = 0.5f * (u1 + u2) + u3;
        }
        for (int a = 0; a < 3; a++) {
            dw[(a * 3) * plane + i] += r[a][0] + 0.5f * (r[a][1] + r[a][2]);
            dw[(a * 3 + 1) * plane + i] += 0.5f * (r[a][1] - r[a][2]);
            dw[(a * 3 + 2) * plane + i] += 0.5f * (r[a][1] + r[a][2]) + r[a][3];
        }
    }
}

/* The max pooling of one tile's 2 x 2 outputs (four rows of f floats, in the window's order):
 * each channel's first maximum (a NaN only as the first), as max_pool2d picks it, and with
 * argmax the offset o * f + j of the output it took. */
NN_VECTOR_LOOPS static void winograd_pool_tile(float *restrict y, int32_t *restrict argmax, const float *restrict four,
                                               int64_t f) {
    for (int64_t j = 0; j < f; j++) {
        float best = four[j];
        int32_t at = (int32_t)j;
        for (int o = 1; o < 4; o++) {
            float value = four[o * f + j];
            int32_t larger = -(int32_t)(value > best); /* all ones or zero: selects, so the loop vectorizes */
            best = value > best ? value : best;
            at = ((int32_t)(o * f + j) & larger) | (at & ~larger);
        }
        y[j] = best;
        if (argmax) argmax[j] = at;
    }
}

typedef struct winograd_task {
    geom g;
    const float *x, *u, *bias;
    const nn_activation_def *act;
    float *y, *work;    /* work: the slots' areas */
    const float *zeros; /* c + f zeros: the taps in the padding or past the input, or no bias */
    bool pooled;        /* y is the 2 x 2 max pooling of the outputs, one per tile (conv2d_max_pool2d) */
    int32_t *argmax;    /* pooled: each pooled output's pick (winograd_pool_tile), or NULL */
    int64_t chunks;     /* even parts of the batch's tiles (forward_chunks) */
    int parts;          /* threads with a part (and a slot) */
} winograd_task;

/* One chunk of `tiles` tiles from tile0, in its slot's area v: inputs transformed into
 * v[point][tile][c], the 16 GEMMs into m[point][tile][f], then the outputs. */
static void winograd_chunk(const winograd_task *t, int64_t tile0, int64_t tiles, float *v) {
    const geom *g = &t->g;
    float *m = v + NN_WINOGRAD_POINTS * tiles * g->c;
    float *discard = m + NN_WINOGRAD_POINTS * tiles * g->f;
    winograd_transform_inputs(g, t->x, t->zeros, tile0, tiles, v);
    for (int point = 0; point < NN_WINOGRAD_POINTS; point++)
        nn_gemm_cpu(m + point * tiles * g->f, v + point * tiles * g->c, t->u + point * g->c * g->f, tiles, g->f, g->c,
                    false, false, false);
    bool relu = t->act && t->act->relu;
    for (int64_t tile = 0; tile < tiles; tile++) {
        int64_t at[4] = { -1, -1, -1, -1 }; /* pooled: the outputs go to the discard rows, then pooled */
        const float *mp[NN_WINOGRAD_POINTS];
        float *yp[4];
        if (!t->pooled) winograd_output_offsets(g, tile0 + tile, at);
        for (int point = 0; point < NN_WINOGRAD_POINTS; point++) mp[point] = m + (point * tiles + tile) * g->f;
        for (int o = 0; o < 4; o++) yp[o] = at[o] >= 0 ? t->y + at[o] : discard + o * g->f;
        winograd_output_tile(yp, mp, t->bias, relu, g->f);
        for (int o = 0; t->act && !relu && o < 4; o++) t->act->forward(yp[o], yp[o], 1, g->f);
        int64_t pooled_at = (tile0 + tile) * g->f;
        if (t->pooled) winograd_pool_tile(t->y + pooled_at, t->argmax ? t->argmax + pooled_at : NULL, discard, g->f);
    }
}

/* Thread `thread` takes chunks thread, thread + parts, ... in its own slot's area (parts being
 * fewer when the pool runs the task on fewer threads). */
static void run_winograd_chunks(void *ctx, int thread, int threads) {
    const winograd_task *t = ctx;
    int parts = threads < t->parts ? threads : t->parts;
    int64_t total = t->g.batch * winograd_tiles(&t->g);
    for (int64_t chunk = thread; thread < parts && chunk < t->chunks; chunk += parts) {
        int64_t tile0 = chunk_start(total, t->chunks, chunk);
        winograd_chunk(t, tile0, chunk_start(total, t->chunks, chunk + 1) - tile0,
                       t->work + thread * winograd_slot_floats(&t->g));
    }
}

typedef struct kernel_task {
    float *u;
    const float *w;
    int64_t plane;
} kernel_task;

/* Part `part` of the kernel's transform: an even share of the plane, in whole vectors. */
static void run_kernel_part(void *ctx, int part, int parts) {
    const kernel_task *t = ctx;
    int64_t vectors = (t->plane + 15) / 16, first = vectors * part / parts * 16, end = vectors * (part + 1) / parts * 16;
    winograd_kernel(t->u, t->w, t->plane, first, end < t->plane ? end : t->plane);
}

/* y = act(conv(x, w) + bias), with scratch laid out as winograd_aux_floats says; the
 * transformed kernel stays there for the backward. The kernel's transform is shared by the
 * threads too: at batch 1 it costs as much as a third of the products. With `pooled`, y is the
 * 2 x 2 max pooling of those outputs instead, one per tile, each pick kept in argmax (unless
 * NULL). */
static void conv_winograd(const nn_exec *e, const geom *g, const float *x, const float *w, const float *bias,
                          const nn_activation_def *act, float *y, float *scratch, bool pooled, int32_t *argmax) {
    float *zeros = scratch + winograd_kernel_floats(g);
    kernel_task kernel = { scratch, w, g->c * g->f };
    int64_t touched = (9 + NN_WINOGRAD_POINTS) * kernel.plane; /* floats read and written */
    nn_threads_run(touched >= NN_SPATIAL_PARALLEL_MIN ? e->threads : NULL, run_kernel_part, &kernel);
    memset(zeros, 0, (size_t)(g->c + g->f) * sizeof *zeros);
    int threads = nn_threads_count(e->threads);
    int64_t tiles = g->batch * winograd_tiles(g);
    winograd_task t = { .g = *g, .x = x, .u = scratch, .bias = bias ? bias : zeros, .act = act, .y = y,
                        .work = zeros + g->c + g->f, .zeros = zeros, .pooled = pooled, .argmax = argmax,
                        .parts = threads < NN_CONV_SLOTS ? threads : NN_CONV_SLOTS };
    t.chunks = forward_chunks(tiles, winograd_chunk_samples(g) * winograd_tiles(g), t.parts,
                              2.0 * NN_WINOGRAD_POINTS * (double)tiles * (double)g->c * (double)g->f);
    if (t.chunks < t.parts) t.parts = (int)t.chunks;
    nn_threads_run(t.parts > 1 ? e->threads : NULL, run_winograd_chunks, &t);
}

/* conv2d's backward runs chunk by chunk: dz = dy * act'(y) in place, the chunk's bias and kernel
 * gradients added into its slot, and dx. */
typedef struct grad_task grad_task;
typedef void grad_chunk_fn(const grad_task *t, int64_t first, int64_t count, int slot, float *dw, bool slot_starts);
struct grad_task {
    geom g;
    grad_chunk_fn *chunk;
    const float *x, *w, *y; /* the input (Winograd), the kernel (as the forward used it), the output */
    const float *wt;        /* Winograd: the transformed kernel transposed, (point, f, c) */
    const float *zeros;     /* Winograd: c + f zeros */
    const nn_activation_def *act;
    float *scratch;         /* the columns, or the slots' work areas (Winograd's, fused) */
    float *dz, *dx;
    float *slots;           /* `nslots` blocks of slot_kernel kernel then f bias partial sums */
    int64_t slot_kernel, samples;
    int64_t out_pixels;     /* per sample of y and dz: the conv's, or the pool's when fused */
    const int32_t *argmax;  /* fused: each pooled output's conv output (pooled_grad_chunk) */
    geom pool;              /* fused: the pooling of a band of the conv's output */
    int nslots;
    bool kernel_grad, bias_grad;
};

static void run_grad_chunks(void *ctx, int thread, int threads) {
    const grad_task *t = ctx;
    int64_t slot_floats = t->slot_kernel + t->g.f;
    for (int slot = thread; slot < t->nslots; slot += threads) {
        float *dw = t->slots + slot * slot_floats, *db = dw + t->slot_kernel;
        for (int64_t chunk = slot; chunk * t->samples < t->g.batch; chunk += t->nslots) {
            int64_t first = chunk * t->samples, count = t->g.batch - first < t->samples ? t->g.batch - first : t->samples;
            float *dz = t->dz + first * t->out_pixels * t->g.f;
            int64_t rows = count * t->out_pixels;
            if (t->act) t->act->scale_by_derivative(dz, t->y + first * t->out_pixels * t->g.f, rows, t->g.f);
            if (t->bias_grad) nn_bias_grad(db, dz, rows, t->g.f, chunk == slot);
            t->chunk(t, first, count, slot, dw, chunk == slot);
        }
    }
}

/* Through the chunk's columns col: dw (+)= col^T . dz, then dcol = dz . kernel^T in col and
 * col2im into dx; dz being the chunk's conv output gradient. */
static void columns_grads(const grad_task *t, int64_t first, int64_t count, float *dw, bool slot_starts,
                          const float *dz, float *col) {
    const geom *g = &t->g;
    int64_t pixels = g->oh * g->ow, k = window_size(g), rows = count * pixels;
    if (t->kernel_grad) nn_gemm_cpu(dw, col, dz, k, g->f, rows, true, false, !slot_starts);
    if (!t->dx) return;
    nn_gemm_cpu(col, dz, t->w, rows, k, g->f, false, true, false);
    windows_rows(g, col, NULL, t->dx, first * pixels, rows);
}

/* Through the columns forward kept. */
static void columns_grad_chunk(const grad_task *t, int64_t first, int64_t count, int slot, float *dw, bool slot_starts) {
    (void)slot;
    int64_t pixels = t->g.oh * t->g.ow;
    columns_grads(t, first, count, dw, slot_starts, t->dz + first * pixels * t->g.f,
                  t->scratch + first * pixels * window_size(&t->g));
}

/* Winograd's backward: dm = A dz A^T per tile, then per point du (+)= v^T . dm (v the input's
 * transform, made again) and dv = dm . u^T, then dx += B dv B^T per tile. */
static void winograd_grad_chunk(const grad_task *t, int64_t first, int64_t count, int slot, float *du,
                                bool slot_starts) {
    const geom *g = &t->g;
    int64_t tiles = count * winograd_tiles(g), tile0 = first * winograd_tiles(g), points = NN_WINOGRAD_POINTS;
    float *v = t->scratch + slot * winograd_slot_floats(g), *dm = v + points * tiles * g->c;
    float *discard = dm + points * tiles * g->f;
    for (int64_t tile = 0; tile < tiles; tile++) {
        int64_t at[4];
        const float *dy[4];
        if (t->argmax) { /* pooled: each channel's gradient goes to the output its max took */
            int64_t pooled_at = (tile0 + tile) * g->f;
            memset(discard, 0, (size_t)(4 * g->f) * sizeof *discard);
            for (int64_t j = 0; j < g->f; j++) discard[t->argmax[pooled_at + j]] = t->dz[pooled_at + j];
            for (int o = 0; o < 4; o++) dy[o] = discard + o * g->f;
        } else {
            winograd_output_offsets(g, tile0 + tile, at);
            for (int o = 0; o < 4; o++) dy[o] = at[o] >= 0 ? t->dz + at[o] : t->zeros;
        }
        winograd_output_grad_tile(dm + tile * g->f, dy, g->f, tiles * g->f);
    }
    if (t->kernel_grad) winograd_transform_inputs(g, t->x, t->zeros, tile0, tiles, v);
    for (int64_t point = 0; point < points; point++) {
        float *vp = v + point * tiles * g->c, *dmp = dm + point * tiles * g->f;
        if (t->kernel_grad) nn_gemm_cpu(du + point * g->c * g->f, vp, dmp, g->c, g->f, tiles, true, false, !slot_starts);
        if (t->dx) nn_gemm_cpu(vp, dmp, t->wt + point * g->c * g->f, tiles, g->c, g->f, false, false, false);
    }
    if (!t->dx) return;
    for (int64_t tile = 0; tile < tiles; tile++) {
        int64_t at[NN_WINOGRAD_POINTS];
        float *dx[NN_WINOGRAD_POINTS];
        winograd_input_offsets(g, tile0 + tile, at);
        for (int k = 0; k < NN_WINOGRAD_POINTS; k++) dx[k] = at[k] >= 0 ? t->dx + at[k] : discard;
        winograd_input_grad_tile(dx, v + tile * g->c, g->c, tiles * g->c);
    }
}

/* out[i] += slot 0's float i + slot 1's + ..., in that order. */
static void add_slots(float *out, const float *slots, int nslots, int64_t stride, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        float sum = slots[i];
        for (int s = 1; s < nslots; s++) sum += slots[s * stride + i];
        out[i] += sum;
    }
}

/* conv2d's backward with one group of windows, over chunks of t->samples samples (t has g, the
 * chunk function and what it reads); the slots then summed into dw and db. A Winograd kernel
 * gradient is summed over the points first, in slot 0, then transformed. */
static void grads_over_chunks(const nn_exec *e, grad_task *t, float *dw, float *db) {
    int64_t chunks = (t->g.batch + t->samples - 1) / t->samples, slot_floats = t->slot_kernel + t->g.f;
    t->nslots = chunks < NN_CONV_SLOTS ? (int)chunks : NN_CONV_SLOTS;
    t->kernel_grad = dw != NULL;
    t->bias_grad = db != NULL;
    nn_threads_run(chunks > 1 ? e->threads : NULL, run_grad_chunks, t);
    if (db) add_slots(db, t->slots + t->slot_kernel, t->nslots, slot_floats, t->g.f);
    if (!dw) return;
    if (t->chunk != winograd_grad_chunk) {
        add_slots(dw, t->slots, t->nslots, slot_floats, t->slot_kernel);
        return;
    }
    if (t->nslots > 1) add_slots(t->slots, t->slots + slot_floats, t->nslots - 1, slot_floats, t->slot_kernel);
    winograd_kernel_grad(dw, t->slots, t->g.c, t->g.f);
}

/* Winograd's backward scratch: the slots, then the transformed kernel transposed. */
static int64_t winograd_grad_floats(const geom *g) {
    return NN_CONV_SLOTS * (winograd_kernel_floats(g) + g->f) + winograd_kernel_floats(g);
}

/* Makes t (its slots and gradients set) Winograd's backward over geometry g, from the
 * transformed kernel and zeros the forward left in `fixed`, the slots' work areas after them.
 * The input's gradient multiplies by the transformed kernel transposed, made here once after
 * the slots rather than packed for every chunk and point. */
static void winograd_backward(grad_task *t, const geom *g, const float *x, float *fixed) {
    int64_t kernel = winograd_kernel_floats(g);
    t->g = *g;
    t->chunk = winograd_grad_chunk;
    t->x = x;
    t->w = fixed;
    t->zeros = fixed + kernel;
    t->scratch = fixed + kernel + g->c + g->f;
    t->slot_kernel = kernel;
    t->samples = winograd_chunk_samples(g);
    float *wt = t->slots + NN_CONV_SLOTS * (kernel + g->f);
    for (int64_t point = 0; t->dx && point < NN_WINOGRAD_POINTS; point++)
        for (int64_t i = 0; i < g->c; i++)
            for (int64_t j = 0; j < g->f; j++) wt[(point * g->f + j) * g->c + i] = fixed[(point * g->c + i) * g->f + j];
    t->wt = wt;
}

/* Scratch: the column matrix (groups blocks of (rows, window_size)), which conv2d keeps from
 * forward for the kernel gradient (conv2d_transpose fills it anew in each pass); grouped
 * convolutions add one group's outputs per sample and one group's kernel (aux_fixed). A
 * Winograd conv has scratch whatever the batch only (winograd_aux_floats). */
static int64_t conv2d_aux(const nn_graph *graph, const nn_node *n) {
    geom g = geom_of(graph, n, 1);
    if (is_pointwise(&g) || uses_winograd(n, &g)) return 0;
    int64_t cols = g.oh * g.ow * window_size(&g) * g.groups;
    return g.groups == 1 ? cols : cols + g.oh * g.ow * g.fg;
}

static int64_t conv2d_aux_fixed(const nn_graph *graph, const nn_node *n) {
    geom g = geom_of(graph, n, 1);
    if (uses_winograd(n, &g)) return winograd_aux_floats(&g);
    return g.groups > 1 && !is_pointwise(&g) ? window_size(&g) * g.fg : 0;
}

static void conv2d_forward(const nn_exec *e, const nn_node *n) {
    geom g = geom_of(e->graph, n, e->batch);
    const float *bias = n->ninputs > 2 ? IN_VALUE(e, n, 2) : NULL;
    float *scratch = nn_node_aux(e, SELF(e, n));
    if (uses_winograd(n, &g))
        conv_winograd(e, &g, IN_VALUE(e, n, 0), IN_VALUE(e, n, 1), bias, n->attr.ptr, OUT_VALUE(e, n), scratch, false,
                      NULL);
    else
        conv_apply(e, &g, IN_VALUE(e, n, 0), IN_VALUE(e, n, 1), bias, n->attr.ptr, OUT_VALUE(e, n), scratch, false);
}

/* The partial kernel and bias gradients of the chunked backward, one block per slot: the
 * kernel's, or for a Winograd conv its transform's (winograd_grad_floats). */
static int64_t conv2d_grad_scratch(const nn_graph *graph, const nn_node *n) {
    geom g = geom_of(graph, n, 1);
    if (uses_winograd(n, &g)) return winograd_grad_floats(&g);
    return is_pointwise(&g) || g.groups > 1 ? 0 : NN_CONV_SLOTS * (window_size(&g) * g.f + g.f);
}

/* The output's gradient becomes dz = dy * act'(z) in place (nothing reads dy after this node's
 * backward); then dbias += column sums of dz, dkernel, and the input gradient: chunk by chunk
 * with one group of windows (through the columns forward kept, or Winograd's transforms). */
static void conv2d_backward(const nn_exec *e, const nn_node *n) {
    geom g = geom_of(e->graph, n, e->batch);
    const nn_activation_def *act = n->attr.ptr;
    float *dy = OUT_GRAD(e, n), *dx = IN_GRAD(e, n, 0), *dw = IN_GRAD(e, n, 1), *scratch = nn_node_aux(e, SELF(e, n));
    float *db = n->ninputs > 2 ? IN_GRAD(e, n, 2) : NULL;
    if (!is_pointwise(&g) && g.groups == 1) {
        grad_task t = { .g = g, .chunk = columns_grad_chunk, .w = IN_VALUE(e, n, 1), .y = OUT_VALUE(e, n), .act = act,
                        .scratch = scratch, .dz = dy, .dx = dx, .slots = nn_node_grad_scratch(e, SELF(e, n)),
                        .slot_kernel = window_size(&g) * g.f, .samples = chunk_samples(&g), .out_pixels = g.oh * g.ow };
        if (uses_winograd(n, &g)) winograd_backward(&t, &g, IN_VALUE(e, n, 0), scratch);
        grads_over_chunks(e, &t, dw, db);
        return;
    }
    if (act) act->scale_by_derivative(dy, OUT_VALUE(e, n), output_rows(&g), g.f);
    if (db) nn_bias_grad(db, dy, output_rows(&g), g.f, false);
    if (dw) conv_kernel_grad(e, &g, IN_VALUE(e, n, 0), scratch, dy, dw);
    if (dx) conv_input_grad(e, &g, dy, IN_VALUE(e, n, 1), dx, scratch);
}

const nn_op_def nn_op_conv2d = { .name = "conv2d", .shape = conv2d_shape, .forward = conv2d_forward,
                                 .backward = conv2d_backward, .aux_per_sample = conv2d_aux, .aux_fixed = conv2d_aux_fixed,
                                 .grad_scratch = conv2d_grad_scratch };

/* ------------------------------------------------------------------ conv2d_transpose */

/* x (None, H, W, C) * kernel (kh, kw, F, C) [+ bias (F)] -> (None, OH, OW, F): the input
 * gradient of the conv2d from (None, OH, OW, F) to x's shape with the same kernel (Keras's
 * Conv2DTranspose layout), strides, dilation rates (the extent) and padding, so
 * OH = (H - 1) * stride + span - top - bottom. A negative bottom (right) amount adds rows
 * (columns) past the conv's last window, which only the bias reaches: Keras's valid padding
 * when the stride is larger than the window. A rank-3 input and kernel (kw, F, C) are 1-D. */
static int conv2d_transpose_shape(const nn_graph *g, nn_node *n) {
    int status = spatial_input(g, n);
    if (status) return status;
    const nn_node *x = &g->nodes[n->inputs[0]], *k = &g->nodes[n->inputs[1]];
    if (k->ndim != x->ndim || k->shape[k->ndim - 1] != x->shape[x->ndim - 1])
        return nn_shape_error(g, n, "the kernel must be (height, width, filters, channels) with the input's "
                                    "channels; input and kernel");
    int64_t f = k->shape[k->ndim - 2];
    const nn_node *bias = n->ninputs > 2 ? &g->nodes[n->inputs[2]] : NULL;
    if (bias && (bias->ndim != 1 || bias->shape[0] != f))
        return nn_shape_error(g, n, "the bias must be (filters,); input and kernel");
    const int64_t *a = n->attr.shape;
    for (int i = 0; i < NN_ATTR_PAD_TOP; i++)
        if (a[i] < 1) return nn_shape_error(g, n, "strides and dilation must be >= 1; input and kernel");
    if (a[NN_ATTR_PAD_TOP] < 0 || a[NN_ATTR_PAD_LEFT] < 0)
        return nn_shape_error(g, n, "top and left padding must be >= 0; input and kernel");
    int64_t h, w, c, kh = k->ndim == 4 ? k->shape[0] : 1, kw = k->shape[k->ndim - 3];
    spatial_dims(x, &h, &w, &c);
    int64_t span_h = a[NN_ATTR_EXTENT_H] * (kh - 1) + 1, span_w = a[NN_ATTR_EXTENT_W] * (kw - 1) + 1;
    int64_t oh = (h - 1) * a[NN_ATTR_STRIDE_H] + span_h - a[NN_ATTR_PAD_TOP] - a[NN_ATTR_PAD_BOTTOM];
    int64_t ow = (w - 1) * a[NN_ATTR_STRIDE_W] + span_w - a[NN_ATTR_PAD_LEFT] - a[NN_ATTR_PAD_RIGHT];
    if (oh < 1 || ow < 1) return nn_shape_error(g, n, "the padding leaves no output; input and kernel");
    return set_spatial_shape(g, n, oh, ow, f);
}

/* y = 0, then the conv's input gradient of x, then the bias. */
static void conv2d_transpose_forward(const nn_exec *e, const nn_node *n) {
    geom g = geom_of(e->graph, n, e->batch);
    float *y = OUT_VALUE(e, n);
    memset(y, 0, (size_t)nn_node_size(e, n) * sizeof *y);
    conv_input_grad(e, &g, IN_VALUE(e, n, 0), IN_VALUE(e, n, 1), y, nn_node_aux(e, SELF(e, n)));
    if (n->ninputs > 2) add_bias(y, IN_VALUE(e, n, 2), g.batch * g.h * g.w, g.c);
}

/* dx += the conv of dy (whose im2col fills the columns), then dkernel += im2col(dy)^T . x. */
static void conv2d_transpose_backward(const nn_exec *e, const nn_node *n) {
    geom g = geom_of(e->graph, n, e->batch);
    const float *dy = OUT_GRAD(e, n);
    float *dx = IN_GRAD(e, n, 0), *dw = IN_GRAD(e, n, 1), *col = nn_node_aux(e, SELF(e, n));
    float *db = n->ninputs > 2 ? IN_GRAD(e, n, 2) : NULL;
    if (db) nn_bias_grad(db, dy, g.batch * g.h * g.w, g.c, false);
    if (dx) conv_apply(e, &g, dy, IN_VALUE(e, n, 1), NULL, NULL, dx, col, true);
    else if (dw && !is_pointwise(&g)) lay_out_windows(e, &g, col, dy, NULL);
    if (dw) conv_kernel_grad(e, &g, dy, col, IN_VALUE(e, n, 0), dw);
}

const nn_op_def nn_op_conv2d_transpose = { .name = "conv2d_transpose", .shape = conv2d_transpose_shape,
                                           .forward = conv2d_transpose_forward, .backward = conv2d_transpose_backward,
                                           .aux_per_sample = conv2d_aux, .aux_fixed = conv2d_aux_fixed };

/* ------------------------------------------------------------------ pooling */

/* x (None, H, W, C) -> (None, OH, OW, C); attr: strides, pool size (the extent), padding. */
static int pool_shape(const nn_graph *g, nn_node *n) {
    int status = spatial_input(g, n);
    if (status) return status;
    const nn_node *x = &g->nodes[n->inputs[0]];
    if (x->inner > INT32_MAX) return nn_shape_error(g, n, "more than 2^31 values per sample in");
    return window_shape(g, n, n->attr.shape[NN_ATTR_EXTENT_H], n->attr.shape[NN_ATTR_EXTENT_W], 1, 1, x->shape[x->ndim - 1]);
}

/* The part of output pixel (oy, ox)'s window inside the input: rows [*y0, *y1), columns [*x0, *x1). */
static void pool_window(const geom *g, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1, int64_t *x0, int64_t *x1) {
    int64_t top = oy * g->sh - g->pad_top, left = ox * g->sw - g->pad_left;
    taps_inside(top, g->kh, g->h, y0, y1);
    taps_inside(left, g->kw, g->w, x0, x1);
    *y0 += top, *y1 += top, *x0 += left, *x1 += left;
}

/* Each output is the first maximum of its window (a NaN only as the first tap), and with
 * `argmax` (a constant where this is inlined) keeps its input offset within its sample. */
static inline __attribute__((always_inline)) void max_pool_samples(const sample_task *t, int64_t first, int64_t count,
                                                                   bool with_argmax) {
    const geom *g = &t->g;
    int32_t *argmax = t->extra;
    for (int64_t n = first; n < first + count; n++) {
        const float *xs = t->in + n * g->h * g->w * g->c;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t o = ((n * g->oh + oy) * g->ow + ox) * g->c, y0, y1, x0, x1;
                float *y = t->out + o;
                int32_t *arg = with_argmax ? argmax + o : NULL;
                pool_window(g, oy, ox, &y0, &y1, &x0, &x1);
                bool seen = false;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) {
                        int32_t at = (int32_t)((iy * g->w + ix) * g->c);
                        const float *tap = xs + at;
                        if (!seen) {
                            for (int32_t ch = 0; ch < (int32_t)g->c; ch++) {
                                y[ch] = tap[ch];
                                if (with_argmax) arg[ch] = at + ch;
                            }
                            seen = true;
                            continue;
                        }
                        /* written as selects so that the loop vectorizes */
                        for (int32_t ch = 0; ch < (int32_t)g->c; ch++) {
                            float value = tap[ch], best = y[ch];
                            y[ch] = value > best ? value : best;
                            if (!with_argmax) continue;
                            int32_t best_at = arg[ch];
                            int32_t larger = -(int32_t)(value > best); /* all ones or zero */
                            arg[ch] = ((at + ch) & larger) | (best_at & ~larger);
                        }
                    }
                for (int64_t ch = 0; !seen && ch < g->c; ch++) {
                    y[ch] = 0.0f;
                    if (with_argmax) arg[ch] = -1;
                }
            }
    }
}

NN_VECTOR_LOOPS static void max_pool_range(const sample_task *t, int64_t first, int64_t count) {
    if (t->extra) max_pool_samples(t, first, count, true);
    else max_pool_samples(t, first, count, false);
}

static void max_pool_grad_range(const sample_task *t, int64_t first, int64_t count) {
    const geom *g = &t->g;
    const int32_t *argmax = t->extra;
    int64_t per_out = g->oh * g->ow * g->c, per_in = g->h * g->w * g->c;
    for (int64_t n = first; n < first + count; n++)
        for (int64_t o = n * per_out; o < (n + 1) * per_out; o++)
            if (argmax[o] >= 0) t->out[n * per_in + argmax[o]] += t->in[o];
}

/* The argmax per output, as int32 in the float scratch (same size). */
static int64_t max_pool_aux(const nn_graph *g, const nn_node *n) {
    (void)g;
    return n->inner;
}

/* The argmax is kept for the backward only. */
static void max_pool_forward(const nn_exec *e, const nn_node *n) {
    sample_task t = { geom_of(e->graph, n, e->batch), max_pool_range, IN_VALUE(e, n, 0), OUT_VALUE(e, n),
                      e->forward_only ? NULL : nn_node_aux(e, SELF(e, n)) };
    over_samples(e, &t, IN_NODE(e, n, 0)->inner);
}

static void max_pool_backward(const nn_exec *e, const nn_node *n) {
    float *dx = IN_GRAD(e, n, 0);
    if (!dx) return;
    sample_task t = { geom_of(e->graph, n, e->batch), max_pool_grad_range, OUT_GRAD(e, n), dx, nn_node_aux(e, SELF(e, n)) };
    over_samples(e, &t, n->inner);
}

const nn_op_def nn_op_max_pool2d = { .name = "max_pool2d", .shape = pool_shape, .forward = max_pool_forward,
                                     .backward = max_pool_backward, .aux_per_sample = max_pool_aux };

/* ------------------------------------------------------------------ conv2d then max_pool2d
 *
 * A conv2d whose output only a max pooling reads, the pool's strides equal to its size and
 * without padding (Keras's MaxPooling2D(pool_size) after a Conv2D), becomes one op
 * (nn_fuse_conv_pools): each chunk's columns and conv outputs are computed into a work area
 * of the chunk's size and pooled from it while they are in the cache. Neither the conv's
 * output, pool x pool times the pooled one, nor its gradient nor the columns are stored for
 * the batch: the backward makes each chunk's columns again, expands its conv output gradient
 * from the pooled one through the argmax and runs the conv's backward from them. A conv that
 * Winograd's path takes is fused under a 2 x 2 pool only, and pooled tile by tile
 * (fused_winograd).
 *
 * Attributes: the conv's (attr.shape, and attr.ptr its activation) and the pool's height and
 * width in attr.f. Not for pointwise or grouped convs, and only with an activation of each
 * output alone: the backward scales the pooled gradient by the derivative at the pooled
 * values, where a softmax's would need the conv's whole output pixel.
 *
 * The pooling works band by band, a band being the pool's height of conv output rows, which
 * one row of pooled outputs reads; each argmax is an offset within its band. */

static void fused_geoms(const nn_graph *graph, const nn_node *n, int64_t batch, geom *conv, geom *band) {
    const int64_t *a = n->attr.shape;
    *conv = geom_of(graph, n, batch);
    conv->oh = output_extent(conv->h, a[NN_ATTR_PAD_TOP], a[NN_ATTR_PAD_BOTTOM], conv->dh * (conv->kh - 1) + 1, conv->sh);
    conv->ow = output_extent(conv->w, a[NN_ATTR_PAD_LEFT], a[NN_ATTR_PAD_RIGHT], conv->dw * (conv->kw - 1) + 1, conv->sw);
    int64_t ph = (int64_t)n->attr.f[0], pw = (int64_t)n->attr.f[1];
    *band = (geom){ .batch = 1, .h = ph, .w = conv->ow, .c = conv->f, .oh = 1, .ow = conv->ow / pw, .f = conv->f,
                    .kh = ph, .kw = pw, .dh = 1, .dw = 1, .sh = ph, .sw = pw, .groups = 1, .cg = conv->f, .fg = conv->f };
}

static int64_t band_count(const geom *conv, const geom *band) { return conv->oh / band->kh; } /* per sample */

/* Samples per chunk: their columns and conv outputs about fill NN_CONV_CHUNK_FLOATS. */
static int64_t fused_chunk_samples(const geom *conv) {
    int64_t samples = NN_CONV_CHUNK_FLOATS / (conv->oh * conv->ow * (window_size(conv) + conv->f));
    return samples < 1 ? 1 : samples;
}

/* A slot's work area: a chunk's columns, then its conv outputs (or their gradient). */
static int64_t fused_slot_columns(const geom *conv) {
    return fused_chunk_samples(conv) * conv->oh * conv->ow * window_size(conv);
}
static int64_t fused_slot_floats(const geom *conv) {
    return fused_slot_columns(conv) + fused_chunk_samples(conv) * conv->oh * conv->ow * conv->f;
}

static int conv2d_max_pool_shape(const nn_graph *g, nn_node *n) {
    int status = conv2d_shape(g, n);
    if (status) return status;
    const nn_node *k = &g->nodes[n->inputs[1]];
    int64_t ph = (int64_t)n->attr.f[0], pw = (int64_t)n->attr.f[1];
    if (n->ndim != 4 || k->shape[2] != g->nodes[n->inputs[0]].shape[3] || ph < 1 || pw < 1 || n->shape[1] < ph ||
        n->shape[2] < pw)
        return nn_shape_error(g, n, "a fused conv2d and max pooling needs 2-D input, one group and a pool that fits; conv output");
    n->shape[1] /= ph;
    n->shape[2] /= pw;
    return NN_OK;
}

typedef struct pooled_task {
    geom conv, band;
    const float *x, *w, *bias;
    const nn_activation_def *act;
    float *work, *y;    /* work: the slots' areas */
    int32_t *argmax;    /* NULL: none kept (no backward follows) */
    int64_t chunks;     /* even parts of the batch's bands (forward_chunks) */
    int parts;
} pooled_task;

/* Bands [b0, b1) of sample n, in a slot's work area: their columns, the GEMM into the conv
 * outputs z, then the pooling band by band. */
static void pooled_segment(const pooled_task *t, int64_t n, int64_t b0, int64_t b1, float *work) {
    const geom *g = &t->conv;
    int64_t k = window_size(g), band_rows = t->band.kh * g->ow, band_out = t->band.ow * g->f;
    int64_t row0 = (n * g->oh + b0 * t->band.kh) * g->ow, rows = (b1 - b0) * band_rows;
    float *col = work, *z = work + fused_slot_columns(g);
    windows_rows(g, col, t->x, NULL, row0, rows);
    nn_gemm_epilogue epilogue = { t->bias, t->act && t->act->relu };
    nn_gemm_ep(NULL, z, col, t->w, rows, g->f, k, false, false, false, &epilogue);
    if (t->act && !t->act->relu) t->act->forward(z, z, rows, g->f);
    for (int64_t b = b0; b < b1; b++) {
        int64_t o = (n * band_count(g, &t->band) + b) * band_out;
        sample_task pool = { .g = t->band, .in = z + (b - b0) * band_rows * g->f, .out = t->y + o,
                             .extra = t->argmax ? t->argmax + o : NULL };
        max_pool_range(&pool, 0, 1);
    }
}

/* Thread `thread` takes chunks thread, thread + parts, ..., each in pieces of one sample. */
static void run_pooled_chunks(void *ctx, int thread, int threads) {
    const pooled_task *t = ctx;
    int parts = threads < t->parts ? threads : t->parts;
    int64_t bands = band_count(&t->conv, &t->band), total = t->conv.batch * bands;
    float *work = t->work + thread * fused_slot_floats(&t->conv);
    for (int64_t chunk = thread; thread < parts && chunk < t->chunks; chunk += parts)
        for (int64_t u = chunk_start(total, t->chunks, chunk), end = chunk_start(total, t->chunks, chunk + 1); u < end;) {
            int64_t b0 = u % bands, b1 = b0 + end - u < bands ? b0 + end - u : bands;
            pooled_segment(t, u / bands, b0, b1, work);
            u += b1 - b0;
        }
}

/* Scratch: the argmax per pooled output (as int32 in the floats); a chunk's work area per slot
 * whatever the batch. */
static int64_t conv2d_max_pool_aux(const nn_graph *graph, const nn_node *n) {
    (void)graph;
    return n->inner;
}

/* A conv Winograd's path takes, pooled 2 x 2: each tile's outputs are one window, and the
 * fused op runs the conv over the outputs the windows read (`tiled`: an odd last row or column
 * of outputs is never computed), pooling each tile as its outputs are made. */
static bool fused_winograd(const geom *conv, const geom *band, geom *tiled) {
    if (!winograd_geometry(conv) || band->kh != 2 || band->kw != 2) return false;
    *tiled = *conv;
    tiled->oh = conv->oh / 2 * 2;
    tiled->ow = conv->ow / 2 * 2;
    return true;
}

static int64_t conv2d_max_pool_aux_fixed(const nn_graph *graph, const nn_node *n) {
    geom conv, band, tiled;
    fused_geoms(graph, n, 1, &conv, &band);
    return fused_winograd(&conv, &band, &tiled) ? winograd_aux_floats(&tiled) : NN_CONV_SLOTS * fused_slot_floats(&conv);
}

static int64_t conv2d_max_pool_grad_scratch(const nn_graph *graph, const nn_node *n) {
    geom conv, band, tiled;
    fused_geoms(graph, n, 1, &conv, &band);
    if (fused_winograd(&conv, &band, &tiled)) return winograd_grad_floats(&tiled);
    return NN_CONV_SLOTS * (window_size(&conv) * conv.f + conv.f);
}

static void conv2d_max_pool_forward(const nn_exec *e, const nn_node *n) {
    geom conv, band, tiled;
    fused_geoms(e->graph, n, e->batch, &conv, &band);
    float *argmax = nn_node_aux(e, SELF(e, n)), *fixed = argmax + conv.batch * n->inner;
    const float *bias = n->ninputs > 2 ? IN_VALUE(e, n, 2) : NULL;
    if (fused_winograd(&conv, &band, &tiled)) {
        conv_winograd(e, &tiled, IN_VALUE(e, n, 0), IN_VALUE(e, n, 1), bias, n->attr.ptr, OUT_VALUE(e, n), fixed, true,
                      e->forward_only ? NULL : (int32_t *)argmax);
        return;
    }
    int64_t bands = conv.batch * band_count(&conv, &band);
    int threads = nn_threads_count(e->threads);
    pooled_task t = { .conv = conv, .band = band, .x = IN_VALUE(e, n, 0), .w = IN_VALUE(e, n, 1), .bias = bias,
                      .act = n->attr.ptr, .work = fixed, .y = OUT_VALUE(e, n),
                      .argmax = e->forward_only ? NULL : (int32_t *)argmax,
                      .parts = threads < NN_CONV_SLOTS ? threads : NN_CONV_SLOTS };
    t.chunks = forward_chunks(bands, fused_chunk_samples(&conv) * band_count(&conv, &band), t.parts,
                              2.0 * (double)output_rows(&conv) * (double)window_size(&conv) * (double)conv.f);
    if (t.chunks < t.parts) t.parts = (int)t.chunks;
    nn_threads_run(t.parts > 1 ? e->threads : NULL, run_pooled_chunks, &t);
}

/* In the slot's work area: the chunk's columns again, and its conv output gradient, zero but at
 * each pooled output's argmax, which gets that output's gradient (already scaled by the
 * activation's derivative at the pooled value, the conv's output there); then the gradients
 * through the columns. */
static void pooled_grad_chunk(const grad_task *t, int64_t first, int64_t count, int slot, float *dw, bool slot_starts) {
    const geom *g = &t->g;
    int64_t pixels = g->oh * g->ow, bands = band_count(g, &t->pool);
    int64_t band_in = t->pool.kh * g->ow * g->f, band_out = t->pool.ow * g->f;
    float *col = t->scratch + slot * fused_slot_floats(g), *dz = col + fused_slot_columns(g);
    windows_rows(g, col, t->x, NULL, first * pixels, count * pixels);
    memset(dz, 0, (size_t)(count * pixels * g->f) * sizeof *dz);
    for (int64_t s = 0; s < count; s++)
        for (int64_t b = 0; b < bands; b++) {
            int64_t o = ((first + s) * bands + b) * band_out;
            float *band_dz = dz + s * pixels * g->f + b * band_in;
            for (int64_t i = 0; i < band_out; i++) band_dz[t->argmax[o + i]] = t->dz[o + i];
        }
    columns_grads(t, first, count, dw, slot_starts, dz, col);
}

/* Winograd's backward (its transformed kernel and zeros where the forward left them) or the
 * columns', from the pooled gradient expanded through the argmax. */
static void conv2d_max_pool_backward(const nn_exec *e, const nn_node *n) {
    geom conv, band, tiled;
    fused_geoms(e->graph, n, e->batch, &conv, &band);
    float *argmax = nn_node_aux(e, SELF(e, n)), *fixed = argmax + conv.batch * n->inner;
    grad_task t = { .g = conv, .chunk = pooled_grad_chunk, .x = IN_VALUE(e, n, 0), .w = IN_VALUE(e, n, 1),
                    .y = OUT_VALUE(e, n), .act = n->attr.ptr, .scratch = fixed, .dz = OUT_GRAD(e, n),
                    .dx = IN_GRAD(e, n, 0), .slots = nn_node_grad_scratch(e, SELF(e, n)),
                    .slot_kernel = window_size(&conv) * conv.f, .samples = fused_chunk_samples(&conv),
                    .out_pixels = n->inner / conv.f, .argmax = (const int32_t *)argmax, .pool = band };
    if (fused_winograd(&conv, &band, &tiled)) winograd_backward(&t, &tiled, IN_VALUE(e, n, 0), fixed);
    grads_over_chunks(e, &t, IN_GRAD(e, n, 1), n->ninputs > 2 ? IN_GRAD(e, n, 2) : NULL);
}

const nn_op_def nn_op_conv2d_max_pool = { .name = "conv2d_max_pool2d", .shape = conv2d_max_pool_shape,
                                          .forward = conv2d_max_pool_forward, .backward = conv2d_max_pool_backward,
                                          .aux_per_sample = conv2d_max_pool_aux, .aux_fixed = conv2d_max_pool_aux_fixed,
                                          .grad_scratch = conv2d_max_pool_grad_scratch };

/* The node that reads node `node`'s value, or -1 when none or several do. */
static int sole_consumer(const nn_graph *g, int node) {
    int consumer = -1;
    for (int i = node + 1; i < g->count; i++)
        for (int k = 0; k < g->nodes[i].ninputs; k++)
            if (g->nodes[i].inputs[k] == node) {
                if (consumer >= 0 && consumer != i) return -1;
                consumer = i;
            }
    return consumer;
}

void nn_fuse_conv_pools(nn_graph *g) {
    for (int i = 0; i < g->count; i++) {
        nn_node *pool = &g->nodes[i], *conv = &g->nodes[pool->inputs[0]];
        const int64_t *a = pool->attr.shape;
        if (pool->op != NN_OP_MAX_POOL2D || conv->op != NN_OP_CONV2D || conv->keep || pool->ndim != 4 ||
            a[NN_ATTR_STRIDE_H] != a[NN_ATTR_EXTENT_H] || a[NN_ATTR_STRIDE_W] != a[NN_ATTR_EXTENT_W] ||
            a[NN_ATTR_PAD_TOP] || a[NN_ATTR_PAD_BOTTOM] || a[NN_ATTR_PAD_LEFT] || a[NN_ATTR_PAD_RIGHT])
            continue;
        geom cg = geom_of(g, conv, 1);
        const nn_activation_def *act = conv->attr.ptr;
        bool two_by_two = a[NN_ATTR_EXTENT_H] == 2 && a[NN_ATTR_EXTENT_W] == 2;
        if (is_pointwise(&cg) || cg.groups != 1 || (winograd_geometry(&cg) && !two_by_two) || (act && act->rowwise) ||
            sole_consumer(g, pool->inputs[0]) != i)
            continue;
        conv->op = NN_OP_CONV2D_MAX_POOL;
        conv->attr.f[0] = (double)a[NN_ATTR_EXTENT_H];
        conv->attr.f[1] = (double)a[NN_ATTR_EXTENT_W];
        memcpy(conv->shape, pool->shape, sizeof conv->shape);
        conv->inner = pool->inner;
        pool->op = NN_OP_RESHAPE; /* a view of the fused node's (pooled) value */
        pool->attr = (nn_attr){ .ndim = pool->ndim - 1 };
        memcpy(pool->attr.shape, pool->shape + 1, (size_t)(pool->ndim - 1) * sizeof *pool->shape);
        /* its readers read the fused node itself, so that no gradient passes through the view
         * (a copy of it): unread, the view is then never planned a gradient nor run backward */
        for (int j = i + 1; !pool->keep && j < g->count; j++)
            for (int k = 0; k < g->nodes[j].ninputs; k++)
                if (g->nodes[j].inputs[k] == i) g->nodes[j].inputs[k] = pool->inputs[0];
    }
}

/* The mean over the window's taps inside the input: padding is not counted, as TensorFlow. */
static void avg_pool_range(const sample_task *t, int64_t first, int64_t count) {
    const geom *g = &t->g;
    for (int64_t n = first; n < first + count; n++) {
        const float *xs = t->in + n * g->h * g->w * g->c;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t y0, y1, x0, x1;
                float *y = t->out + ((n * g->oh + oy) * g->ow + ox) * g->c;
                pool_window(g, oy, ox, &y0, &y1, &x0, &x1);
                memset(y, 0, (size_t)g->c * sizeof *y);
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        for (int64_t ch = 0; ch < g->c; ch++) y[ch] += xs[(iy * g->w + ix) * g->c + ch];
                float scale = y1 > y0 && x1 > x0 ? 1.0f / (float)((y1 - y0) * (x1 - x0)) : 0.0f;
                for (int64_t ch = 0; ch < g->c; ch++) y[ch] *= scale;
            }
    }
}

/* Each output's gradient spread evenly over the taps its mean counted. */
static void avg_pool_grad_range(const sample_task *t, int64_t first, int64_t count) {
    const geom *g = &t->g;
    for (int64_t n = first; n < first + count; n++) {
        float *dxs = t->out + n * g->h * g->w * g->c;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t y0, y1, x0, x1;
                const float *dy = t->in + ((n * g->oh + oy) * g->ow + ox) * g->c;
                pool_window(g, oy, ox, &y0, &y1, &x0, &x1);
                float scale = y1 > y0 && x1 > x0 ? 1.0f / (float)((y1 - y0) * (x1 - x0)) : 0.0f;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        for (int64_t ch = 0; ch < g->c; ch++) dxs[(iy * g->w + ix) * g->c + ch] += dy[ch] * scale;
            }
    }
}

static void avg_pool_forward(const nn_exec *e, const nn_node *n) {
    sample_task t = { .g = geom_of(e->graph, n, e->batch), .fn = avg_pool_range, .in = IN_VALUE(e, n, 0),
                      .out = OUT_VALUE(e, n) };
    over_samples(e, &t, IN_NODE(e, n, 0)->inner);
}

static void avg_pool_backward(const nn_exec *e, const nn_node *n) {
    float *dx = IN_GRAD(e, n, 0);
    if (!dx) return;
    sample_task t = { .g = geom_of(e->graph, n, e->batch), .fn = avg_pool_grad_range, .in = OUT_GRAD(e, n), .out = dx };
    over_samples(e, &t, IN_NODE(e, n, 0)->inner);
}

const nn_op_def nn_op_avg_pool2d = { .name = "avg_pool2d", .shape = pool_shape, .forward = avg_pool_forward,
                                     .backward = avg_pool_backward };

/* ------------------------------------------------------------------ pad2d, upsample2d */

/* x (None, H, W, C) -> (None, H + top + bottom, W + left + right, C): zeros around the input,
 * or, where an amount is negative, that many rows or columns cropped away. */
static int pad2d_shape(const nn_graph *g, nn_node *n) {
    int status = spatial_input(g, n);
    if (status) return status;
    const int64_t *a = n->attr.shape;
    int64_t h, w, c;
    spatial_dims(&g->nodes[n->inputs[0]], &h, &w, &c);
    int64_t oh = h + a[NN_ATTR_PAD_TOP] + a[NN_ATTR_PAD_BOTTOM], ow = w + a[NN_ATTR_PAD_LEFT] + a[NN_ATTR_PAD_RIGHT];
    if (oh < 1 || ow < 1) return nn_shape_error(g, n, "cropping leaves nothing of the input");
    return set_spatial_shape(g, n, oh, ow, c);
}

/* Output pixel (oy, ox) shows input pixel (oy - top, ox - left) when that lies inside. Forward
 * (t->extra NULL) copies it, zeros elsewhere; backward adds the output gradient t->in back. */
static void pad_range(const sample_task *t, int64_t first, int64_t count) {
    const geom *g = &t->g;
    bool backward = t->extra != NULL;
    for (int64_t n = first; n < first + count; n++)
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t iy = oy - g->pad_top, ix = ox - g->pad_left, o = ((n * g->oh + oy) * g->ow + ox) * g->c;
                bool inside = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                int64_t at = ((n * g->h + iy) * g->w + ix) * g->c;
                if (backward && inside)
                    for (int64_t ch = 0; ch < g->c; ch++) t->out[at + ch] += t->in[o + ch];
                else if (!backward && inside)
                    memcpy(t->out + o, t->in + at, (size_t)g->c * sizeof(float));
                else if (!backward)
                    memset(t->out + o, 0, (size_t)g->c * sizeof(float));
            }
}

static void pad2d_forward(const nn_exec *e, const nn_node *n) {
    sample_task t = { .g = geom_of(e->graph, n, e->batch), .fn = pad_range, .in = IN_VALUE(e, n, 0),
                      .out = OUT_VALUE(e, n) };
    over_samples(e, &t, n->inner);
}

static void pad2d_backward(const nn_exec *e, const nn_node *n) {
    float *dx = IN_GRAD(e, n, 0);
    if (!dx) return;
    sample_task t = { .g = geom_of(e->graph, n, e->batch), .fn = pad_range, .in = OUT_GRAD(e, n),
                      .out = dx, .extra = dx };
    over_samples(e, &t, n->inner);
}

const nn_op_def nn_op_pad2d = { .name = "pad2d", .shape = pad2d_shape, .forward = pad2d_forward,
                                .backward = pad2d_backward };

/* x (None, H, W, C) -> (None, H * fh, W * fw, C), each pixel repeated fh x fw times; attr:
 * the factors (the extent). */
static int upsample2d_shape(const nn_graph *g, nn_node *n) {
    int status = spatial_input(g, n);
    if (status) return status;
    int64_t fh = n->attr.shape[NN_ATTR_EXTENT_H], fw = n->attr.shape[NN_ATTR_EXTENT_W], h, w, c;
    if (fh < 1 || fw < 1) return nn_shape_error(g, n, "the upsampling factors must be >= 1; input");
    spatial_dims(&g->nodes[n->inputs[0]], &h, &w, &c);
    return set_spatial_shape(g, n, h * fh, w * fw, c);
}

/* Output pixel (oy, ox) shows input pixel (oy / fh, ox / fw). Forward (t->extra NULL) copies;
 * backward adds the output gradient t->in onto the input gradient t->out. */
static void upsample_range(const sample_task *t, int64_t first, int64_t count) {
    const geom *g = &t->g;
    int64_t fh = g->kh, fw = g->kw;
    for (int64_t n = first; n < first + count; n++)
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t o = ((n * g->oh + oy) * g->ow + ox) * g->c, at = ((n * g->h + oy / fh) * g->w + ox / fw) * g->c;
                if (t->extra)
                    for (int64_t ch = 0; ch < g->c; ch++) t->out[at + ch] += t->in[o + ch];
                else
                    memcpy(t->out + o, t->in + at, (size_t)g->c * sizeof(float));
            }
}

static void upsample2d_forward(const nn_exec *e, const nn_node *n) {
    sample_task t = { .g = geom_of(e->graph, n, e->batch), .fn = upsample_range, .in = IN_VALUE(e, n, 0),
                      .out = OUT_VALUE(e, n) };
    over_samples(e, &t, n->inner);
}

static void upsample2d_backward(const nn_exec *e, const nn_node *n) {
    float *dx = IN_GRAD(e, n, 0);
    if (!dx) return;
    sample_task t = { .g = geom_of(e->graph, n, e->batch), .fn = upsample_range, .in = OUT_GRAD(e, n),
                      .out = dx, .extra = dx };
    over_samples(e, &t, n->inner);
}

const nn_op_def nn_op_upsample2d = { .name = "upsample2d", .shape = upsample2d_shape, .forward = upsample2d_forward,
                                     .backward = upsample2d_backward };
