/* The attributes of the attention ops (src/ops/attention.c), shared with the layers that build
 * them. */
#ifndef NN_ATTENTION_H
#define NN_ATTENTION_H

#include "core/graph.h"

/* attention: indices into nn_attr.shape; attr.f[0] = the query scale (Keras's 1 / sqrt(key_dim)),
 * attr.f[1] = the dropout rate on the attention probabilities (0 outside training). */
enum {
    NN_ATTN_HEADS,   /* number of heads, >= 1 */
    NN_ATTN_CAUSAL,  /* 1: a query step attends to keys at or before it */
    NN_ATTN_WINDOW,  /* > 0: a query step attends to keys fewer than this many steps away */
    NN_ATTN_EMPTY_ZERO, /* 1: a query step without any key to attend to gets zero probabilities
                           (Keras's path when the layer has dropout) instead of equal ones over
                           every key (its default path) */
};

/* attention_mask: indices into nn_attr.shape. */
enum {
    NN_ATTN_MASK_QUERY_STEPS, /* Tq */
    NN_ATTN_MASK_KEY_STEPS,   /* Tk */
    NN_ATTN_MASK_HAS_QUERY,   /* 1: input 0 is the query's mask (None, Tq); the others are keys' */
};

#endif
