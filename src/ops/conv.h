/* The attributes of the spatial ops (src/ops/conv.c), shared with the layers that build them.
 * Every spatial op works on channels_last values (None, height, width, channels). */
#ifndef NN_CONV_H
#define NN_CONV_H

#include "core/graph.h"

/* Indices into nn_attr.shape.
 *   conv2d:              strides, dilation rates, padding; nn_attr.ptr: an activation applied
 *                        to the output (NULL: linear), one with scale_by_derivative, as dense;
 *   conv2d_transpose:    those of the conv2d whose input gradient it is (bottom and right may
 *                        be negative: output rows past that conv's last window);
 *   conv2d_max_pool2d:   the conv2d's; attr.f: the pool's height and width (nn_fuse_conv_pools);
 *   max_pool2d, avg_pool2d: strides, pool size (the extent), padding;
 *   pad2d:               padding only (negative amounts crop);
 *   upsample2d:          the repeat factors (the extent).
 * The ops take explicit padding: layers resolve "same" with nn_same_padding. */
enum {
    NN_ATTR_STRIDE_H, NN_ATTR_STRIDE_W,
    NN_ATTR_EXTENT_H, NN_ATTR_EXTENT_W,
    NN_ATTR_PAD_TOP, NN_ATTR_PAD_BOTTOM, NN_ATTR_PAD_LEFT, NN_ATTR_PAD_RIGHT,
};

/* TensorFlow's "same" padding along one axis for a window spanning `window` inputs: the output
 * has ceil(size / stride) positions and the odd unit of padding goes after (bottom/right). */
void nn_same_padding(int64_t size, int64_t window, int64_t stride, int64_t *before, int64_t *after);

/* Makes each conv2d whose output only a max_pool2d reads (strides equal to the pool size, no
 * padding; the conv neither pointwise nor grouped, a 2 x 2 pool if it takes Winograd's path,
 * its activation not softmax) one conv2d_max_pool2d node, which computes the pooled values
 * without storing the conv's: the conv node becomes the fused op with the pool's output shape
 * and the pool's size in attr.f, the pool node a reshape (a view) of it. Run on a built graph,
 * before it is planned; the nodes' indices do not change. */
void nn_fuse_conv_pools(nn_graph *g);

#endif
