/* The attributes of the sequence ops (src/ops/recurrent.c, src/ops/sequence.c), shared with the
 * layers that build them. */
#ifndef NN_RECURRENT_H
#define NN_RECURRENT_H

#include "core/graph.h"

/* simple_rnn, lstm, gru: one op runs a whole recurrence over every time step.
 *
 * Inputs: xw (None, T, G*U), the input projection x . kernel (one GEMM over all steps, made by
 * the layer); the recurrent kernel (U, G*U); the bias when NN_RNN_BIAS ((G*U), or (2, G*U) for
 * GRU with reset_after: input and recurrent rows); the mask (None, T) when NN_RNN_MASK. G is
 * 1, 4 (Keras's i, f, c, o) or 3 (z, r, h).
 *
 * Output: (None, T, U) with NN_RNN_RETURN_SEQUENCES, else (None, U), in processing order (so
 * reversed with go_backwards, as Keras). With NN_RNN_RETURN_STATE the output is packed as
 * (None, K, U): the T (or 1) output rows, then the last h, then (LSTM) the last c; the layer
 * takes them apart with time_slice. attr.shape holds: */
enum {
    NN_RNN_ACTIVATION,           /* index into nn_activation_table */
    NN_RNN_RECURRENT_ACTIVATION, /* likewise (unused by simple_rnn) */
    NN_RNN_FLAGS,
};
enum {
    NN_RNN_RETURN_SEQUENCES = 1,
    NN_RNN_RETURN_STATE = 2,
    NN_RNN_GO_BACKWARDS = 4,
    NN_RNN_ZERO_OUTPUT_FOR_MASK = 8, /* masked steps output 0 instead of the carried output */
    NN_RNN_BIAS = 16,
    NN_RNN_MASK = 32,
    NN_RNN_RESET_AFTER = 64,         /* GRU: the reset gate applies after the recurrent matmul */
};

/* time_slice: rows [start, start + count) of axis 1; with squeeze (count 1) the axis goes. */
enum { NN_SLICE_START, NN_SLICE_COUNT, NN_SLICE_SQUEEZE };

/* sequence_mask: attr.f[0] is the value that masks. attr.shape[0] = 1: a step is kept when any
 * feature of the last axis differs from it (Masking), and the last axis goes; 0: elementwise
 * (Embedding's mask_zero). */
enum { NN_MASK_ANY_FEATURE };

/* unfold_time: attr.shape[0] is the time axis length restored. */
enum { NN_UNFOLD_STEPS };

#endif
