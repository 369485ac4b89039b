"""Reference outputs for tests/test_functional.c, made by real Keras 3 (TensorFlow backend).

One functional model with two inputs, shared and merge layers, a residual Add and two
outputs, whose weights are drawn by numpy.random.RandomState(7) (uniform in [-0.5, 0.5]) in
model.weights order; inputs uniform in [-1, 1]. The file tests/data/functional/two_inputs.txt
holds the inputs, each weight under its Keras path, and each output of model.predict:

    input <ndim> <dims...>           (a, then b)
    <values>
    path <Keras weight path>         (one block per weight)
    weight <ndim> <dims...>
    <values>
    output <ndim> <dims...>          (one per model output, in order)
    <values>

The model (the same in tests/test_functional.c, layer names included):
    a = Input((2, 3)); b = Input((2, 3))
    shared = Dense(4, activation="tanh", name="shared")
    sa, sb = shared(a), shared(b)
    m1 = Maximum()([sa, sb]); m2 = Minimum()([sa, sb]); m3 = Average()([sa, sb])
    m4 = Multiply()([sa, sb]); m5 = Subtract()([sa, sb])
    c = Concatenate(axis=-1, name="concat")([m1, m2, m3, m4, m5])      # (2, 20)
    r = Dense(20, name="inner")(Dense(8, activation="relu", name="hidden")(c))
    h = Add(name="residual")([c, r])
    p = Permute((2, 1), name="permute")(h)                              # (20, 2)
    out1 = Dense(1, name="out1")(Flatten()(p))
    v = RepeatVector(3, name="repeat")(Dense(2, name="squeeze")(Flatten()(h)))  # (3, 2)
    out2 = Concatenate(axis=1, name="stack")([v, Dense(2, name="side")(sa)])    # (5, 2)
Run: python3 tests/gen/make_functional_ref.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "functional")


def build():
    a = keras.Input((2, 3), name="a")
    b = keras.Input((2, 3), name="b")
    shared = layers.Dense(4, activation="tanh", name="shared")
    sa, sb = shared(a), shared(b)
    merged = [layers.Maximum()([sa, sb]), layers.Minimum()([sa, sb]), layers.Average()([sa, sb]),
              layers.Multiply()([sa, sb]), layers.Subtract()([sa, sb])]
    c = layers.Concatenate(axis=-1, name="concat")(merged)
    r = layers.Dense(20, name="inner")(layers.Dense(8, activation="relu", name="hidden")(c))
    h = layers.Add(name="residual")([c, r])
    p = layers.Permute((2, 1), name="permute")(h)
    out1 = layers.Dense(1, name="out1")(layers.Flatten(name="flat1")(p))
    v = layers.RepeatVector(3, name="repeat")(layers.Dense(2, name="squeeze")(layers.Flatten(name="flat2")(h)))
    out2 = layers.Concatenate(axis=1, name="stack")([v, layers.Dense(2, name="side")(sa)])
    return keras.Model([a, b], [out1, out2])


def write(f, tag, array):
    array = np.asarray(array, dtype=np.float32)
    f.write(f"{tag} {array.ndim} {' '.join(str(d) for d in array.shape)}\n")
    f.write(" ".join(f"{v:.9g}" for v in array.ravel()) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    model = build()
    rng = np.random.RandomState(7)
    for w in model.weights:
        w.assign(rng.uniform(-0.5, 0.5, w.shape).astype(np.float32))
    xa = rng.uniform(-1, 1, (3, 2, 3)).astype(np.float32)
    xb = rng.uniform(-1, 1, (3, 2, 3)).astype(np.float32)
    outs = model.predict([xa, xb], verbose=0)
    with open(os.path.join(OUT, "two_inputs.txt"), "w") as f:
        write(f, "input", xa)
        write(f, "input", xb)
        for w in model.weights:
            f.write(f"path {w.path}\n")
            write(f, "weight", w.numpy())
        for o in outs:
            write(f, "output", o)


if __name__ == "__main__":
    main()
