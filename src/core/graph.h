/* The static graph, its ops, the memory plan and the executor. */
#ifndef NN_GRAPH_H
#define NN_GRAPH_H

#include "core/threads.h"
#include "nn_internal.h"

typedef enum nn_op {
#define NN_OP(id, name, def) NN_OP_##id,
#include "ops/ops.def"
#undef NN_OP
    NN_OP_COUNT
} nn_op;

#define NN_MAX_OP_INPUTS 4

/* Op attributes: what an op needs beyond its inputs. */
typedef struct nn_attr {
    const void *ptr;                 /* ACTIVATION: nn_activation_def; LOSS: nn_loss */
    double f[2];                     /* SCALE_SHIFT: scale, offset; DROPOUT: rate; PENALTY: l1, l2 */
    int ndim;                        /* RESHAPE: target shape without the batch dimension */
    int64_t shape[NN_MAX_DIMS];
} nn_attr;

typedef struct nn_node {
    nn_op op;
    int inputs[NN_MAX_OP_INPUTS];
    int ninputs;
    nn_attr attr;
    /* shape[0] is the batch dimension (-1, "None") when batched; inner = elements per sample
     * (batched) or in all (not batched). */
    bool batched;
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    int64_t inner;
    /* Rows of the batch axis per sample: a batched value holds batch * fold rows. 1 but inside
     * TimeDistributed, whose fold_time op folds the time axis into the batch so that any layer
     * (convolutions included) runs on each step as on a sample; unfold_time restores it. Ops
     * count rows with nn_node_size / nn_node_batch, never e->batch alone. */
    int64_t fold;
    int var;            /* PARAM: index of the model variable */
    bool needs_grad;    /* some trainable parameter lies upstream */
    bool keep;          /* read after the pass (an output): lives to the end of the plan */
    /* The node holding this tensor's Keras mask, or -1: one value per (sample, time step), 1
     * where the step is kept and 0 where it is masked. Set by the layer that makes the mask
     * (Embedding with mask_zero, Masking), carried by layers that keep the time axis, read by
     * the layers that honour it (recurrent layers, pooling over time). */
    int mask;
    const char *where;  /* the layer that made the node, for messages (borrowed) */
    /* Planned offsets in floats: into the arena for values, grads and scratch; into the
     * parameter and gradient blocks for PARAM nodes. */
    size_t value_off, grad_off, aux_off, grad_scratch_off;
    int grad_zero_by;   /* the consumer whose backward writes this grad first (zeroes it) */
} nn_node;

typedef struct nn_graph {
    nn_node *nodes;
    int count, cap;
} nn_graph;

/* What an op sees while it runs. */
typedef struct nn_exec {
    const nn_graph *graph;
    float *arena;
    float *params;
    float *grads;
    int64_t batch;
    nn_rng *rng;
    nn_threads *threads; /* the pool kernels may split large work over; NULL = this thread only */
    bool forward_only;   /* no backward follows: ops may skip what only their backward reads */
} nn_exec;

typedef struct nn_op_def {
    const char *name;
    /* Sets n's shape from its inputs (n->inputs, n->attr set) or fails naming n->where and the
     * shapes. NULL for INPUT and PARAM, whose shapes are given. */
    int (*shape)(const nn_graph *g, nn_node *n);
    void (*forward)(const nn_exec *e, const nn_node *n);
    /* Vector-Jacobian product: ACCUMULATES into the grads of inputs that need one. */
    void (*backward)(const nn_exec *e, const nn_node *n);
    /* Scratch floats per sample kept from forward to backward (NULL = none); in a plan without
     * backward (prediction) it lives during the forward alone. */
    int64_t (*aux_per_sample)(const nn_graph *g, const nn_node *n);
    /* Scratch floats whatever the batch, kept as the per-sample scratch is, after the batch's
     * per-sample floats: at nn_node_aux + batch * aux_per_sample (NULL = none). */
    int64_t (*aux_fixed)(const nn_graph *g, const nn_node *n);
    /* Scratch floats the backward needs whatever the batch (NULL = none): planned in training
     * plans only, live during this node's backward alone. */
    int64_t (*grad_scratch)(const nn_graph *g, const nn_node *n);
} nn_op_def;

const nn_op_def *nn_op_get(nn_op op);

/* Graph building. Each returns the new node's index, or a negative status with a message. */
void nn_graph_free(nn_graph *g);
int nn_graph_input(nn_graph *g, int ndim, const int64_t *sample_shape, const char *where);
int nn_graph_param(nn_graph *g, int var, int ndim, const int64_t *shape, bool trainable, const char *where);
int nn_graph_op(nn_graph *g, nn_op op, const int *inputs, int ninputs, const nn_attr *attr,
                const char *where);

/* Memory plan: assigns arena offsets by liveness for running nodes 0..count-1 forward (and,
 * if training, backward) at up to `capacity` samples. Returns the arena size in floats. */
size_t nn_plan_graph(nn_graph *g, int64_t capacity, bool training);

/* Executor. No heap allocation. */
void nn_graph_forward(const nn_exec *e);
/* Backward from the last node (a scalar whose grad is seeded with 1). */
void nn_graph_backward(const nn_exec *e);

/* Buffers of a node under an executor. */
float *nn_node_value(const nn_exec *e, int node);
float *nn_node_grad(const nn_exec *e, int node); /* NULL if the node needs no gradient */
float *nn_node_aux(const nn_exec *e, int node);
float *nn_node_grad_scratch(const nn_exec *e, int node); /* the op's grad_scratch floats */
/* Whether node n's backward is the first to write input k's grad (and the only input slot
 * holding that node): true for a non-PARAM input whose grad n zeroes (grad_zero_by). The
 * backward of matmul and dense assigns such a grad rather than adding to it, and the executor
 * does not zero it for them (see nn_graph_backward). */
bool nn_grad_is_first(const nn_exec *e, const nn_node *n, int k);
int64_t nn_node_size(const nn_exec *e, const nn_node *n);   /* elements at the current batch */
int64_t nn_node_batch(const nn_exec *e, const nn_node *n);  /* rows of its batch axis: batch * fold */
/* Rows and columns when the node is viewed as (everything but the last axis, last axis). */
int64_t nn_node_cols(const nn_node *n);
int64_t nn_node_rows(const nn_exec *e, const nn_node *n);

/* "(None, 32)" for a node's shape. */
char *nn_node_shape_str(const nn_node *n, char *buf, size_t size);

#endif
