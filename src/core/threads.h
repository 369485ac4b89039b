/* A persistent thread pool. Its threads are created once (by whoever owns the pool, a model)
 * and then run task after task: nn_threads_run calls fn(ctx, part, parts) once for each part
 * 0 .. parts-1, parts being the pool's thread count, each on whichever thread claims it first
 * (the caller takes part too), and returns when all parts have run. Kernels split their work
 * by (part, parts) themselves, so they need no threading library, and a split that gives the
 * same bits for any part count gives the same bits whichever thread runs which part. Whoever
 * calls a kernel decides whether the work is large enough to be worth the hand-over (under a
 * microsecond while the workers spin, which they do for a millisecond after a task; tens of
 * microseconds, which the caller does not wait for, once they sleep).
 *
 * A NULL pool, a pool of one thread, and a pool already running a task (another thread's
 * predict, or a task that runs a task) all run fn(ctx, 0, 1) inline on the calling thread. */
#ifndef NN_THREADS_H
#define NN_THREADS_H

#include "nn_internal.h"

#define NN_MAX_THREADS 64

typedef struct nn_threads nn_threads;
typedef void nn_task_fn(void *ctx, int part, int parts);

/* A pool of `count` threads, the caller included (count - 1 workers are started); count <= 0
 * means nn_get_num_threads(). Fails with NN_ERR_ARG above NN_MAX_THREADS, NN_ERR_NOMEM when a
 * thread cannot be started. */
int nn_threads_new(int count, nn_threads **out);
/* Stops and joins the workers. Not while a task runs. NULL does nothing. */
void nn_threads_free(nn_threads *pool);
void nn_threads_run(nn_threads *pool, nn_task_fn *fn, void *ctx);
/* Threads a task runs on, and its parts: 1 for NULL. */
int nn_threads_count(const nn_threads *pool);

/* Process configuration (like nn_set_allocator): the thread count for pools created
 * afterwards. count <= 0 restores the default: NN_NUM_THREADS from the environment when it
 * holds a whole number >= 1 (anything else is ignored), otherwise the CPUs this process may
 * run on. Both are capped at NN_MAX_THREADS. Public (include/nn.h). */
void nn_set_num_threads(int count);
int nn_get_num_threads(void);

#endif
