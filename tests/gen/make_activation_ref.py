"""Reference values for tests/test_activations.c, made by real Keras 3 (TensorFlow backend,
float32).

Evaluates each activation nn has, through keras.activations.get(name) with Keras's defaults,
at the points X below, and prints C initializer rows: the name and the 9 outputs. Softmax is
applied to X as one row (large values: checks the max subtraction), and then to the moderate
row SOFTMAX_ROW. Paste the output into KERAS_VALUES and KERAS_SOFTMAX_ROW in
tests/test_activations.c.

Run: python tests/gen/make_activation_ref.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402

X = [-30.0, -4.5, -2.0, -0.5, 0.25, 1.0, 3.5, 7.0, 40.0]
SOFTMAX_ROW = [-1.5, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0]
NAMES = [
    "linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "selu", "gelu",
    "silu", "swish", "softplus", "softsign", "hard_sigmoid", "exponential", "relu6",
]

x = np.array([X], dtype="float32")
for name in NAMES:
    y = keras.ops.convert_to_numpy(keras.activations.get(name)(x))[0]
    print('    { "%s", { %s } },' % (name, ", ".join("%.9g" % v for v in y)))

y = keras.ops.convert_to_numpy(keras.activations.softmax(np.array([SOFTMAX_ROW], "float32")))[0]
print("    { %s }" % ", ".join("%.9g" % v for v in y))
