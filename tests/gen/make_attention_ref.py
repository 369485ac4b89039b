"""Reference outputs for tests/test_attention.c, made by real Keras 3 (TensorFlow backend, float32).

Each case builds `layers.MultiHeadAttention(...)` from the case's Keras text, calls it in inference
on a query, a value (absent: self-attention, the query again) and an optional key, with optional
Keras masks on them (keras.src.backend.set_keras_mask, as an Embedding(mask_zero=True) or a
Masking layer upstream would set them) and `use_causal_mask` as the case says. The weights are
drawn by numpy.random.RandomState(seed) uniform in [-0.5, 0.5] in get_weights() order (non-zero
biases), the inputs uniform in [-1, 1]. One file tests/data/attention/<name>.txt per case:

    layer <nn text>                 (the Keras text, plus use_causal_mask=True where the case
                                     calls with it: nn takes Keras's call argument as an option)
    query <ndim> <dims...>
    <values>
    value ... / key ...             (when given)
    query_mask 2 <batch> <steps>    (when given: 1 kept, 0 masked; likewise value_mask, key_mask)
    weight <ndim> <dims...>         (one block per weight, in get_weights() order)
    output <ndim> <dims...>

Values are written with 9 significant digits (exact float32 round trips).
Run: python3 tests/gen/make_attention_ref.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402,F401
from keras.src import backend  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "attention")

# name, Keras text, use_causal_mask, query shape, value shape (None: self-attention), key shape,
# masks {"query"|"value"|"key": rows}
CASES = [
    ("self_two_heads", "MultiHeadAttention(num_heads=2, key_dim=3)", False, (2, 5, 4), None, None, {}),
    ("cross_value_dim_output", "MultiHeadAttention(2, 3, value_dim=2, output_shape=7)", False,
     (2, 3, 4), (2, 6, 5), None, {}),
    ("cross_key_no_bias", "MultiHeadAttention(3, 2, use_bias=False)", False, (2, 4, 3), (2, 5, 4), (2, 5, 6), {}),
    ("self_masked", "MultiHeadAttention(2, 4)", False, (2, 6, 3), None, None,
     {"query": [[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]]}),
    ("cross_masked_key", "MultiHeadAttention(2, 3, value_dim=4)", False, (2, 3, 4), (2, 5, 4), (2, 5, 3),
     {"query": [[1, 1, 0], [1, 1, 1]], "value": [[1, 0, 1, 1, 0], [0, 0, 0, 0, 0]],
      "key": [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]}),
    ("self_causal", "MultiHeadAttention(2, 3)", True, (2, 5, 4), None, None, {}),
    ("self_causal_masked", "MultiHeadAttention(1, 5, dropout=0.25)", True, (2, 6, 4), None, None,
     {"query": [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]]}),
    ("cross_causal_longer_query", "MultiHeadAttention(2, 2)", True, (2, 6, 3), (2, 4, 3), None, {}),
    ("self_window_gate", "MultiHeadAttention(2, 3, sliding_window=2, use_gate=True)", False, (2, 6, 4), None, None, {}),
    ("rank4_output_shape", "MultiHeadAttention(2, 2, output_shape=(2, 3))", False, (2, 2, 3, 4), (2, 2, 2, 5), None, {}),
]


def values(a):
    return " ".join("%.9g" % v for v in np.asarray(a, dtype=np.float32).ravel())


def block(tag, a):
    a = np.asarray(a)
    return "%s %d %s\n%s\n" % (tag, a.ndim, " ".join(str(d) for d in a.shape), values(a))


def with_mask(x, rows):
    t = tf.constant(x)
    if rows is not None:
        backend.set_keras_mask(t, tf.constant(np.asarray(rows, dtype=bool)))
    return t


def nn_text(text, causal):
    return text[:-1] + ", use_causal_mask=True)" if causal else text


def make(seed, name, text, causal, q_shape, v_shape, k_shape, masks):
    rng = np.random.RandomState(seed)
    layer = eval("layers." + text)
    q = rng.uniform(-1, 1, q_shape).astype(np.float32)
    v = rng.uniform(-1, 1, v_shape).astype(np.float32) if v_shape else None
    k = rng.uniform(-1, 1, k_shape).astype(np.float32) if k_shape else None
    layer.build(q_shape, v_shape or q_shape, k_shape)
    layer.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in layer.weights])
    query = with_mask(q, masks.get("query"))
    # self-attention: the same tensor (and mask) as query, value and key
    value = with_mask(v, masks.get("value")) if v is not None else query
    key = with_mask(k, masks.get("key")) if k is not None else None
    y = np.asarray(layer(query, value, key=key, use_causal_mask=causal, training=False))
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write("layer %s\n" % nn_text(text, causal))
        for tag, a in (("query", q), ("value", v), ("key", k)):
            if a is not None:
                f.write(block(tag, a))
        for tag in ("query", "value", "key"):
            if tag in masks:
                f.write(block(tag + "_mask", np.asarray(masks[tag], dtype=np.float32)))
        for w in layer.get_weights():
            f.write(block("weight", w))
        f.write(block("output", y))
    print(name, y.shape, [w.path for w in layer.weights])


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for seed, case in enumerate(CASES):
        make(seed, *case)
