"""Reference outputs for tests/test_recurrent.c, made by real Keras 3 (TensorFlow backend, float32).

For each case below: a model `Input(shape) -> layers...` where each layer is the Keras text of
the case (the same text nn_layer_parse reads; nested calls such as Bidirectional(LSTM(3)) too),
weights drawn by numpy.random.RandomState(seed) uniform in [-0.5, 0.5] in get_weights() order,
an input, and the model's outputs (several with return_state: the layer's outputs in Keras's
order). The session is cleared before each case, so layers get the automatic names nn gives
them (lstm, bidirectional/forward_lstm, ...). Each case is one file tests/data/recurrent/<name>.txt:

    layer <Keras text>             (one line per layer, in order)
    names <weight path> ...        (Keras's weight paths)
    input <ndim> <dims...>
    <values>
    weight <ndim> <dims...>        (one block per weight, in get_weights() order)
    <values>
    output <ndim> <dims...>        (one block per output)
    <values>

Inputs: "dense" cases draw uniform [-1, 1]; "masked" cases then zero whole time steps (so a
Masking layer masks them: the first, a middle and the last steps of different samples); "ids"
cases draw integers in [0, vocabulary) with zeros (padding, masked by mask_zero) at both ends.
Values are written with 9 significant digits (exact float32 round trips).
Run: python3 tests/gen/make_recurrent_ref.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

tf.get_logger().setLevel("ERROR")  # each case retraces predict on purpose
LAYERS = {name: getattr(layers, name) for name in dir(layers)}

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "recurrent")

MASKING = "Masking(0.0)"

# name, layer texts, input shape (with batch), input kind
CASES = [
    ("simple_rnn", ["SimpleRNN(4)"], (2, 5, 3), "dense"),
    ("simple_rnn_seq_backwards", ["SimpleRNN(3, return_sequences=True, go_backwards=True, activation='relu')"], (2, 4, 2), "dense"),
    ("simple_rnn_masked", [MASKING, "SimpleRNN(3, return_sequences=True)"], (3, 5, 2), "masked"),
    ("lstm", ["LSTM(4)"], (2, 6, 3), "dense"),
    ("lstm_seq", ["LSTM(3, return_sequences=True)"], (2, 5, 4), "dense"),
    ("lstm_backwards", ["LSTM(3, return_sequences=True, go_backwards=True)"], (2, 5, 2), "dense"),
    ("lstm_no_bias_softsign", ["LSTM(2, use_bias=False, activation='softsign', recurrent_activation='hard_sigmoid', return_sequences=True)"],
     (2, 4, 3), "dense"),
    ("lstm_masked", [MASKING, "LSTM(3, return_sequences=True)"], (3, 5, 2), "masked"),
    ("lstm_masked_last", [MASKING, "LSTM(3)"], (3, 5, 2), "masked"),
    ("lstm_masked_backwards", [MASKING, "LSTM(2, go_backwards=True, return_sequences=True)"], (3, 5, 2), "masked"),
    ("lstm_masked_zero_output", [MASKING, "LSTM(2, return_sequences=True, zero_output_for_mask=True)"], (3, 5, 2), "masked"),
    ("gru", ["GRU(4)"], (2, 6, 3), "dense"),
    ("gru_seq_backwards", ["GRU(3, return_sequences=True, go_backwards=True)"], (2, 5, 2), "dense"),
    ("gru_reset_before", ["GRU(3, reset_after=False, return_sequences=True)"], (2, 5, 3), "dense"),
    ("gru_no_bias", ["GRU(3, use_bias=False)"], (2, 4, 3), "dense"),
    ("gru_masked", [MASKING, "GRU(3, return_sequences=True)"], (3, 5, 2), "masked"),
    ("gru_reset_before_masked", [MASKING, "GRU(2, reset_after=False)"], (3, 5, 2), "masked"),
    ("embedding_lstm", ["Embedding(10, 4, mask_zero=True)", "LSTM(3)"], (3, 6), "ids"),
    ("embedding_average", ["Embedding(8, 3, mask_zero=True)", "GlobalAveragePooling1D()"], (3, 6), "ids"),
    ("embedding_plain", ["Embedding(6, 2)"], (2, 4), "ids"),
    ("bidirectional_lstm", ["Bidirectional(LSTM(3, return_sequences=True))"], (2, 5, 3), "dense"),
    ("bidirectional_gru_sum", ["Bidirectional(GRU(2), merge_mode='sum')"], (2, 4, 3), "dense"),
    ("bidirectional_rnn_mul", ["Bidirectional(SimpleRNN(2, return_sequences=True), merge_mode='mul')"], (2, 4, 2), "dense"),
    ("bidirectional_lstm_ave_masked", [MASKING, "Bidirectional(LSTM(2, return_sequences=True), merge_mode='ave')"], (3, 5, 2), "masked"),
    ("bidirectional_gru_masked", [MASKING, "Bidirectional(GRU(2))"], (3, 5, 2), "masked"),
    ("time_distributed_dense", ["TimeDistributed(Dense(3, activation='tanh'))"], (2, 4, 5), "dense"),
    ("time_distributed_conv", ["TimeDistributed(Conv2D(2, 3, padding='same'))", "TimeDistributed(MaxPooling2D(2))"],
     (2, 3, 4, 4, 1), "dense"),
    ("time_distributed_masked", [MASKING, "TimeDistributed(Dense(2))", "LSTM(2)"], (3, 5, 2), "masked"),
    # return_state: the C test builds these through nn_layer_build_call
    ("state_lstm", ["LSTM(3, return_state=True)"], (2, 5, 2), "dense"),
    ("state_gru_masked", [MASKING, "GRU(2, return_sequences=True, return_state=True)"], (3, 5, 2), "masked"),
    ("state_rnn_backwards", ["SimpleRNN(2, return_state=True, go_backwards=True)"], (2, 4, 3), "dense"),
    ("state_bidirectional", ["Bidirectional(LSTM(2, return_state=True))"], (2, 4, 3), "dense"),
]


def values(a):
    return " ".join("%.9g" % v for v in np.asarray(a, dtype=np.float32).ravel())


def block(tag, a):
    a = np.asarray(a)
    return "%s %d %s\n%s\n" % (tag, a.ndim, " ".join(str(d) for d in a.shape), values(a))


def make_input(rng, shape, kind):
    if kind == "ids":
        x = rng.randint(1, 6, shape).astype(np.float32)
        x[0, -2:] = 0  # padding at the end
        x[-1, :1] = 0  # and at the start
        return x
    x = rng.uniform(-1, 1, shape).astype(np.float32)
    if kind == "masked":
        x[0, 1] = 0  # a middle step
        x[1, -1] = 0  # the last step
        x[2, 0] = 0  # the first steps
        x[2, 1] = 0
    return x


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, (name, texts, shape, kind) in enumerate(CASES):
        keras.backend.clear_session()
        rng = np.random.RandomState(seed)
        inp = keras.Input(shape[1:])
        y = inp
        for text in texts:
            y = eval(text, LAYERS)(y)
        model = keras.Model(inp, y)
        model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
        x = make_input(rng, shape, kind)
        outputs = model.predict(x, verbose=0)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        with open(os.path.join(OUT, name + ".txt"), "w") as f:
            for text in texts:
                f.write("layer %s\n" % text)
            f.write("names %s\n" % " ".join(w.path for w in model.weights))
            f.write(block("input", x))
            for w in model.get_weights():
                f.write(block("weight", w))
            for out in outputs:
                f.write(block("output", out))
        print(name, [o.shape for o in outputs])


if __name__ == "__main__":
    main()
