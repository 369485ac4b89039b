#!/usr/bin/env python3
"""Makes tests/data/keras_parity_*.txt: the blog model trained for a few steps by real Keras.

tests/test_keras_parity.c trains nn's copy of the same model from the same initial weights on the
same batches and must land on the same per-step losses and final weights. The format of the
files is described in tests/gen/README.md.

Run from anywhere:  pip install tensorflow-cpu; python3 tests/gen/make_keras_parity.py
"""
import os

# CPU only, one thread, deterministic ops: the reference must not depend on the machine.
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["KERAS_BACKEND"] = "tensorflow"

import csv  # noqa: E402
import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.set_visible_devices([], "GPU")
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
tf.config.experimental.enable_op_determinism()

import keras  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROWS = 96
BATCH = 32
PASSES = 2
LAYER_UNITS = [("dense", 32, "relu"), ("dense_1", 16, "relu"), ("dense_2", 1, "sigmoid")]

# Case name -> (the optimizer as written in Python, a factory). The C test builds the same
# optimizer for each case name. Settings are chosen so each option changes the result within six
# steps: with the default beta_2 = 0.999 the second moment only grows over six steps and amsgrad's
# running maximum would equal it, hence beta_2 = 0.5; Adam is nearly invariant to gradient scale,
# so clipnorm is checked with SGD, at 0.3, which clips every kernel gradient (norms about 0.3-0.6)
# and no bias gradient (norms below 0.13) -- clipping per variable, not by the global norm.
CASES = {
    "adam": ("Adam()", lambda: keras.optimizers.Adam()),
    "sgd_momentum": ("SGD(learning_rate=0.01, momentum=0.9)",
                     lambda: keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)),
    "rmsprop": ("RMSprop()", lambda: keras.optimizers.RMSprop()),
    "sgd_nesterov": ("SGD(learning_rate=0.1, momentum=0.9, nesterov=True)",
                     lambda: keras.optimizers.SGD(learning_rate=0.1, momentum=0.9,
                                                  nesterov=True)),
    "adam_amsgrad": ("Adam(learning_rate=0.01, beta_2=0.5, amsgrad=True)",
                     lambda: keras.optimizers.Adam(learning_rate=0.01, beta_2=0.5,
                                                   amsgrad=True)),
    "sgd_clipnorm": ("SGD(learning_rate=0.1, clipnorm=0.3)",
                     lambda: keras.optimizers.SGD(learning_rate=0.1, clipnorm=0.3)),
}


def find_training_csv():
    for base in (ROOT / "data", pathlib.Path("/work/shared/data")):
        path = base / "breast_cancer_train.csv"
        if path.exists():
            return path
    raise SystemExit("breast_cancer_train.csv not found in data/ or /work/shared/data/")


def load_standardized_rows():
    """The first ROWS rows, features standardized with those rows' own mean and (population)
    std computed in float64, then cast to float32: the C test reads them as they are."""
    with open(find_training_csv(), newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [list(map(float, r)) for _, r in zip(range(ROWS), reader)]
    data = np.array(rows, dtype=np.float64)
    target = header.index("target")
    y = data[:, target:target + 1].astype(np.float32)
    x = np.delete(data, target, axis=1)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype(np.float32)
    return x, y


def initial_weights(n_features):
    """Fixed weights independent of any framework RNG: kernels uniform in [-0.3, 0.3], biases
    uniform in [-0.05, 0.05] (non-zero so that the bias gradient path is exercised)."""
    rng = np.random.RandomState(0)
    weights, fan_in = [], n_features
    for name, units, _ in LAYER_UNITS:
        kernel = rng.uniform(-0.3, 0.3, size=(fan_in, units)).astype(np.float32)
        bias = rng.uniform(-0.05, 0.05, size=(units,)).astype(np.float32)
        weights += [(f"{name}/kernel", kernel), (f"{name}/bias", bias)]
        fan_in = units
    return weights


def build_model(n_features):
    return keras.Sequential(
        [keras.Input((n_features,))]
        + [keras.layers.Dense(units, activation=act, name=name)
           for name, units, act in LAYER_UNITS])


def numpy_loss(weights, x, y):
    """Binary crossentropy of the model in float64: checks what train_on_batch reports."""
    h = x.astype(np.float64)
    for i, (_, _, act) in enumerate(LAYER_UNITS):
        h = h @ weights[2 * i] + weights[2 * i + 1]
        h = np.maximum(h, 0.0) if act == "relu" else 1.0 / (1.0 + np.exp(-h))
    return float(np.mean(-(y * np.log(h) + (1 - y) * np.log(1 - h))))


def fmt(value):
    return "%.9g" % value


def write_matrix(out, keyword, name, array):
    array = np.asarray(array, dtype=np.float32)
    matrix = array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(1, -1)
    dims = " ".join(str(d) for d in array.shape)
    out.append(f"{keyword} {name} {dims}" if name else f"{keyword} {dims}")
    out.extend(" ".join(fmt(v) for v in row) for row in matrix)


def run_case(case, python_text, make_optimizer, x, y, init):
    model = build_model(x.shape[1])
    model.compile(optimizer=make_optimizer(), loss="binary_crossentropy")
    by_name = {f"{layer.name}/{w.name}": w for layer in model.layers for w in layer.weights}
    for name, value in init:
        by_name[name].assign(value)

    losses = []
    for _ in range(PASSES):
        for start in range(0, ROWS, BATCH):
            xb, yb = x[start:start + BATCH], y[start:start + BATCH]
            before = numpy_loss([by_name[n].numpy() for n, _ in init], xb, yb)
            loss = float(model.train_on_batch(xb, yb))
            # Keras 3's train_on_batch reports the loss of the forward pass that made the
            # gradients, i.e. with the weights from before this step's update.
            assert abs(loss - before) <= 1e-5 * max(abs(before), 1.0), (case, loss, before)
            losses.append(loss)

    out = [f"# made by tests/gen/make_keras_parity.py with Keras {keras.__version__}, "
           f"TensorFlow {tf.__version__} (CPU, one thread, deterministic ops)",
           f"# keras.optimizers.{python_text}, loss binary_crossentropy, train_on_batch",
           f"optimizer {case}",
           f"steps {len(losses)}",
           f"batch {BATCH}"]
    write_matrix(out, "x", None, x)
    write_matrix(out, "y", None, y)
    for name, value in init:
        write_matrix(out, "weight", name, value)
    out.extend(f"loss {step} {fmt(np.float32(v))}" for step, v in enumerate(losses))
    for name, _ in init:
        write_matrix(out, "final", name, by_name[name].numpy())
    path = ROOT / "tests" / "data" / f"keras_parity_{case}.txt"
    path.write_text("\n".join(out) + "\n")
    print(f"{path.relative_to(ROOT)}: losses {' '.join(fmt(v) for v in losses)}")


def main():
    x, y = load_standardized_rows()
    init = initial_weights(x.shape[1])
    for case, (python_text, make_optimizer) in CASES.items():
        run_case(case, python_text, make_optimizer, x, y, init)


if __name__ == "__main__":
    main()
