/* Shared helpers for op definitions. */
#ifndef NN_OPS_H
#define NN_OPS_H

#include "core/graph.h"

#define NN_OP(id, name, def) extern const nn_op_def def;
#include "ops/ops.def"
#undef NN_OP

/* Input i of node n, its value and its grad (NULL if it needs none). */
#define IN_NODE(e, n, i) (&(e)->graph->nodes[(n)->inputs[i]])
#define IN_VALUE(e, n, i) nn_node_value((e), (n)->inputs[i])
#define IN_GRAD(e, n, i) nn_node_grad((e), (n)->inputs[i])
/* The node's own index, value and grad. */
#define SELF(e, n) ((int)((n) - (e)->graph->nodes))
#define OUT_VALUE(e, n) nn_node_value((e), SELF(e, n))
#define OUT_GRAD(e, n) nn_node_grad((e), SELF(e, n))

/* db += the column sums of dy (rows, cols), row after row; db = them when `assign`. */
void nn_bias_grad(float *restrict db, const float *restrict dy, int64_t rows, int64_t cols, bool assign);

/* Copies the shape of input i to n. */
void nn_shape_like(const nn_graph *g, nn_node *n, int i);
/* Fails with "where: op: shapes (a) and (b) ..." naming both input shapes. */
int nn_shape_error(const nn_graph *g, const nn_node *n, const char *what);

#endif
