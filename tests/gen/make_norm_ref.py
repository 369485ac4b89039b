"""Reference outputs for tests/test_norm.c, made by real Keras 3 (TensorFlow backend, float32).

Forward cases: a model `Sequential([Input(shape), layer])` where `layer` is the Keras text of
the case (the text nn_layer_parse reads), weights drawn by numpy.random.RandomState(seed) in
get_weights() order (uniform in [-0.5, 0.5], a moving variance in [0.5, 1.5]), an input drawn
uniform in [-1, 2], and the output of model(x, training=...) for the case's mode ("predict":
inference; "train": a training-mode call, which for BatchNormalization normalizes with the
batch's statistics). One file tests/data/norm/<name>.txt per case:

    layer <Keras text>
    mode predict|train
    input <ndim> <dims...>
    <values>
    weight <ndim> <dims...>        (one block per weight, in get_weights() order)
    <values>
    output <ndim> <dims...>
    <values>

Training case (bn_train_steps.txt): Sequential([Input((3, 4)), BatchNormalization(momentum=0.9)])
compiled with SGD(learning_rate=0.1) and mean squared error, trained with train_on_batch on
STEPS batches (x uniform in [-1, 3], y uniform in [-1, 1]); the file holds the layer text, the
batches and the weights after training:

    layer <Keras text>
    steps <n>
    x <ndim> <dims...> / y <ndim> <dims...>     (one pair per step)
    weight ...                                  (after training, get_weights() order)

Values are written with 9 significant digits (exact float32 round trips).
Run: python3 tests/gen/make_norm_ref.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402,F401

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "norm")

# name, layer text, mode, input shape (with batch)
CASES = [
    ("layer_norm_2d", "LayerNormalization()", "predict", (3, 7)),
    ("layer_norm_3d_eps", "LayerNormalization(epsilon=1e-5)", "predict", (2, 3, 5)),
    ("layer_norm_no_center", "LayerNormalization(center=False)", "predict", (4, 6)),
    ("layer_norm_no_scale", "LayerNormalization(scale=False)", "predict", (2, 2, 2, 3)),
    ("batch_norm_predict", "BatchNormalization()", "predict", (4, 5)),
    ("batch_norm_predict_4d", "BatchNormalization(epsilon=0.01, center=False)", "predict", (2, 3, 4, 3)),
    ("batch_norm_train", "BatchNormalization()", "train", (6, 5)),
    ("batch_norm_train_4d", "BatchNormalization(scale=False)", "train", (2, 3, 2, 4)),
    ("group_norm_4d", "GroupNormalization(2)", "predict", (2, 3, 4, 6)),
    ("group_norm_3d_eps_no_center", "GroupNormalization(groups=3, epsilon=1e-5, center=False)", "train", (2, 5, 6)),
    ("group_norm_instance", "GroupNormalization(-1, scale=False)", "predict", (3, 2, 2, 4)),
    ("group_norm_2d", "GroupNormalization(4)", "predict", (4, 8)),
    ("group_norm_one_group", "GroupNormalization(1)", "train", (2, 3, 3, 5)),
]
STEPS = 5


def values(a):
    return " ".join("%.9g" % v for v in np.asarray(a, dtype=np.float32).ravel())


def block(tag, a):
    a = np.asarray(a)
    return "%s %d %s\n%s\n" % (tag, a.ndim, " ".join(str(d) for d in a.shape), values(a))


def weights_for(model, rng):
    out = []
    for w in model.weights:
        if "variance" in w.path:
            out.append(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
        else:
            out.append(rng.uniform(-0.5, 0.5, w.shape).astype(np.float32))
    return out


def forward_cases():
    for seed, (name, text, mode, shape) in enumerate(CASES):
        rng = np.random.RandomState(seed)
        model = keras.Sequential([keras.Input(shape[1:]), eval("layers." + text)])
        model.set_weights(weights_for(model, rng))
        x = rng.uniform(-1, 2, shape).astype(np.float32)
        y = np.asarray(model(x, training=(mode == "train")))
        with open(os.path.join(OUT, name + ".txt"), "w") as f:
            f.write("layer %s\nmode %s\n" % (text, mode))
            f.write(block("input", x))
            for w in model.get_weights():
                f.write(block("weight", w))
            f.write(block("output", y))
        print(name, y.shape)


def training_case():
    text = "BatchNormalization(momentum=0.9)"
    rng = np.random.RandomState(100)
    model = keras.Sequential([keras.Input((3, 4)), eval("layers." + text)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    with open(os.path.join(OUT, "bn_train_steps.txt"), "w") as f:
        f.write("layer %s\nsteps %d\n" % (text, STEPS))
        for _ in range(STEPS):
            x = rng.uniform(-1, 3, (5, 3, 4)).astype(np.float32)
            y = rng.uniform(-1, 1, (5, 3, 4)).astype(np.float32)
            model.train_on_batch(x, y)
            f.write(block("x", x))
            f.write(block("y", y))
        for w in model.get_weights():
            f.write(block("weight", w))
    print("bn_train_steps", [w.path for w in model.weights])


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    forward_cases()
    training_case()
