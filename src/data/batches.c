/* Feeding batches: rows gathered (by index, for shuffling) from arrays of any dtype into
 * float32 buffers, and a prefetch thread that gathers the next batch during the current step. */
#include "nn_internal.h"

#include <pthread.h>

static int64_t row_inner(const nn_tensor *t) { return t->ndim && t->shape[0] ? nn_tensor_size(t) / t->shape[0] : 0; }

/* One row of t, converted to float32. float32 and uint8 (images) take direct paths. */
static void copy_row(float *dst, const nn_tensor *t, int64_t row, int64_t inner) {
    int64_t first = row * inner;
    switch (t->dtype) {
    case NN_FLOAT32: memcpy(dst, (const float *)t->data + first, (size_t)inner * sizeof *dst); return;
    case NN_UINT8: {
        const uint8_t *src = (const uint8_t *)t->data + first;
        for (int64_t i = 0; i < inner; i++) dst[i] = src[i];
        return;
    }
    default:
        for (int64_t i = 0; i < inner; i++) dst[i] = (float)nn_tensor_get(t, first + i);
    }
}

static int64_t feed_row(const nn_feed *f, int64_t i) { return f->offset + (f->index ? f->index[i] : i); }

/* Array by array, so that the common cases (float32 rows, single float32 targets) are tight
 * loops: a small model's step is short enough for a per-row dispatch to show. */
void nn_feed_gather(const nn_feed *f, int64_t start, int64_t n, float *const *outs, float *w_out, int64_t w_inner) {
    for (int a = 0; a < f->count; a++) {
        const nn_tensor *t = f->arrays[a];
        int64_t inner = row_inner(t);
        float *dst = outs[a];
        if (!dst) continue;
        if (t->dtype == NN_FLOAT32 && inner == 1)
            for (int64_t i = 0; i < n; i++) dst[i] = ((const float *)t->data)[feed_row(f, start + i)];
        else
            for (int64_t i = 0; i < n; i++) copy_row(dst + i * inner, t, feed_row(f, start + i), inner);
    }
    for (int64_t i = 0; w_out && i < n; i++) {
        float w = f->w ? f->w[feed_row(f, start + i)] : 1.0f;
        for (int64_t k = 0; k < w_inner; k++) w_out[i * w_inner + k] = w;
    }
}

#define CACHE_LINE 64

void nn_feed_prefetch(const nn_feed *f, int64_t start, int64_t n) {
    size_t row_bytes[NN_MAX_FEED_ARRAYS];
    for (int a = 0; a < f->count; a++) row_bytes[a] = (size_t)row_inner(f->arrays[a]) * nn_dtype_size(f->arrays[a]->dtype);
    for (int64_t i = 0; i < n; i++) {
        int64_t row = feed_row(f, start + i);
        for (int a = 0; a < f->count; a++) {
            const char *first = (const char *)f->arrays[a]->data + (size_t)row * row_bytes[a];
            /* every line the row touches: its start need not be line-aligned */
            for (size_t b = 0; b < row_bytes[a]; b += CACHE_LINE) __builtin_prefetch(first + b);
            if (row_bytes[a]) __builtin_prefetch(first + row_bytes[a] - 1);
        }
        if (f->w) __builtin_prefetch(&f->w[row]);
    }
}

/* ------------------------------------------------------------ prefetch */

/* Below this many bytes a batch is gathered faster than two threads can hand it over. */
#define PREFETCH_MIN_BYTES (256 * 1024)

enum { SLOTS = 2 };

typedef struct slot {
    float *arrays[NN_MAX_FEED_ARRAYS], *w;
    int64_t step;      /* the batch it holds, -1 when free */
} slot;

struct nn_prefetcher {
    nn_feed feed;
    int64_t batch, w_inner, inner[NN_MAX_FEED_ARRAYS];
    slot slots[SLOTS];
    int64_t count, next_step, steps; /* the current pass */
    bool stop;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t thread;
};

bool nn_prefetch_worthwhile(const nn_feed *f, int64_t batch) {
    int64_t per_sample = 0;
    for (int a = 0; a < f->count; a++) per_sample += row_inner(f->arrays[a]);
    return batch * per_sample * (int64_t)sizeof(float) >= PREFETCH_MIN_BYTES;
}

static int64_t batch_rows(const nn_prefetcher *p, int64_t step) {
    int64_t start = step * p->batch;
    return p->count - start < p->batch ? p->count - start : p->batch;
}

/* The slot for the pass's next batch if it is free, else NULL. Called with the lock held. */
static slot *slot_to_fill(nn_prefetcher *p) {
    if (p->next_step >= p->steps) return NULL;
    slot *s = &p->slots[p->next_step % SLOTS];
    return s->step < 0 ? s : NULL;
}

/* The worker fills free slots with the pass's next batches, in order. */
static void *prefetch_worker(void *arg) {
    nn_prefetcher *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        slot *target;
        while (!p->stop && !(target = slot_to_fill(p))) pthread_cond_wait(&p->changed, &p->lock);
        if (p->stop) break;
        int64_t step = p->next_step++;
        pthread_mutex_unlock(&p->lock);
        nn_feed_gather(&p->feed, step * p->batch, batch_rows(p, step), target->arrays, target->w, p->w_inner);
        pthread_mutex_lock(&p->lock);
        target->step = step;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void free_slots(nn_prefetcher *p) {
    for (int i = 0; i < SLOTS; i++) {
        for (int a = 0; a < p->feed.count; a++) nn_free(p->slots[i].arrays[a]);
        nn_free(p->slots[i].w);
    }
}

void nn_prefetch_free(nn_prefetcher *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->changed);
    free_slots(p);
    nn_free(p);
}

int nn_prefetch_new(const nn_feed *f, int64_t batch, int64_t w_inner, nn_prefetcher **out) {
    *out = NULL;
    nn_prefetcher *p = nn_calloc(1, sizeof *p);
    if (!p) return NN_ERR_NOMEM;
    *p = (nn_prefetcher){ .feed = *f, .batch = batch, .w_inner = w_inner };
    bool ok = true;
    for (int i = 0; i < SLOTS; i++) {
        p->slots[i].step = -1;
        for (int a = 0; a < f->count; a++) {
            p->inner[a] = row_inner(f->arrays[a]);
            p->slots[i].arrays[a] = nn_calloc((size_t)(batch * p->inner[a]) + 1, sizeof(float));
            ok = ok && p->slots[i].arrays[a];
        }
        p->slots[i].w = nn_calloc((size_t)(batch * w_inner) + 1, sizeof(float));
        ok = ok && p->slots[i].w;
    }
    if (ok && pthread_mutex_init(&p->lock, NULL) == 0) {
        if (pthread_cond_init(&p->changed, NULL) == 0) {
            if (pthread_create(&p->thread, NULL, prefetch_worker, p) == 0) {
                *out = p;
                return NN_OK;
            }
            pthread_cond_destroy(&p->changed);
        }
        pthread_mutex_destroy(&p->lock);
    }
    free_slots(p);
    nn_free(p);
    return ok ? nn_error(NN_ERR_NOMEM, "cannot start the prefetch thread") : NN_ERR_NOMEM;
}

void nn_prefetch_begin(nn_prefetcher *p, int64_t count) {
    pthread_mutex_lock(&p->lock);
    p->count = count;
    p->steps = (count + p->batch - 1) / p->batch;
    p->next_step = 0;
    for (int i = 0; i < SLOTS; i++) p->slots[i].step = -1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

void nn_prefetch_take(nn_prefetcher *p, int64_t step, float *const *outs, float *w_out) {
    slot *s = &p->slots[step % SLOTS];
    pthread_mutex_lock(&p->lock);
    while (s->step != step) pthread_cond_wait(&p->changed, &p->lock);
    pthread_mutex_unlock(&p->lock);
    int64_t n = batch_rows(p, step);
    for (int a = 0; a < p->feed.count; a++)
        if (outs[a]) memcpy(outs[a], s->arrays[a], (size_t)(n * p->inner[a]) * sizeof(float));
    if (w_out) memcpy(w_out, s->w, (size_t)(n * p->w_inner) * sizeof(float));
    pthread_mutex_lock(&p->lock);
    s->step = -1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}
