"""Reference outputs for tests/test_conv.c, made by real Keras 3 (TensorFlow backend, float32).

For each case below: a model `Sequential([Input(shape), layer])` where `layer` is the Keras text
of the case (the same text nn_layer_parse reads), weights drawn by numpy.random.RandomState(seed)
uniform in [-0.5, 0.5] in get_weights() order, an input drawn uniform in [-1, 1], and the
output of model.predict. Each case is one file tests/data/conv/<name>.txt:

    layer <Keras text>
    input <ndim> <dims...>
    <values>
    weight <ndim> <dims...>        (one block per weight, in get_weights() order)
    <values>
    output <ndim> <dims...>
    <values>

Values are written with 9 significant digits (exact float32 round trips).
Run: python3 tests/gen/make_conv_ref.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402,F401

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "conv")

# name, layer text, input shape (with batch)
CASES = [
    ("conv2d_valid", "Conv2D(4, 3)", (2, 7, 6, 3)),
    ("conv2d_same_strided", "Conv2D(5, (3, 2), strides=(2, 3), padding='same')", (2, 8, 7, 2)),
    ("conv2d_same_even_kernel", "Conv2D(3, 4, strides=2, padding='same', use_bias=False)", (1, 9, 6, 2)),
    ("conv2d_dilated_relu", "Conv2D(4, 3, padding='same', dilation_rate=(2, 3), activation='relu')", (2, 7, 8, 3)),
    ("conv2d_dilated_valid", "Conv2D(2, (2, 3), dilation_rate=2)", (1, 6, 9, 2)),
    ("conv2d_groups", "Conv2D(6, (2, 3), strides=2, padding='same', groups=3, activation='tanh')", (2, 5, 7, 6)),
    ("conv2d_pointwise", "Conv2D(3, 1, use_bias=False)", (2, 3, 4, 5)),
    ("conv1d_same_strided", "Conv1D(4, 3, strides=2, padding='same')", (2, 9, 3)),
    ("conv1d_causal_dilated", "Conv1D(3, 2, padding='causal', dilation_rate=2)", (2, 7, 2)),
    ("conv1d_groups", "Conv1D(4, 3, groups=2, activation='relu')", (1, 8, 4)),
    ("max_pool2d_valid_odd", "MaxPooling2D(2)", (2, 5, 7, 3)),
    ("max_pool2d_same", "MaxPooling2D((3, 2), strides=(2, 1), padding='same')", (2, 5, 4, 2)),
    ("avg_pool2d_same", "AveragePooling2D(3, strides=2, padding='same')", (2, 6, 5, 2)),
    ("avg_pool2d_valid", "AveragePooling2D((2, 3), strides=(1, 2))", (1, 4, 7, 3)),
    ("max_pool1d_same", "MaxPooling1D(3, strides=2, padding='same')", (2, 8, 3)),
    ("avg_pool1d_same", "AveragePooling1D(2, padding='same')", (2, 7, 2)),
    ("global_avg_pool2d", "GlobalAveragePooling2D()", (2, 3, 5, 4)),
    ("global_max_pool2d_keepdims", "GlobalMaxPooling2D(keepdims=True)", (2, 4, 3, 3)),
    ("global_avg_pool1d", "GlobalAveragePooling1D()", (2, 6, 3)),
    ("global_max_pool1d", "GlobalMaxPooling1D()", (2, 5, 4)),
    ("zero_padding2d_pairs", "ZeroPadding2D(((1, 2), (0, 3)))", (2, 3, 2, 2)),
    ("zero_padding2d_int", "ZeroPadding2D(1)", (1, 2, 3, 2)),
    ("cropping2d", "Cropping2D(((1, 0), (2, 1)))", (2, 4, 5, 2)),
    ("up_sampling2d", "UpSampling2D((2, 3))", (2, 2, 3, 2)),
    ("depthwise_valid", "DepthwiseConv2D(3)", (2, 6, 5, 3)),
    ("depthwise_same_strided_multiplier",
     "DepthwiseConv2D((3, 2), strides=2, padding='same', depth_multiplier=2, activation='relu')", (2, 7, 6, 3)),
    ("depthwise_dilated_strided",
     "DepthwiseConv2D(3, strides=2, padding='same', dilation_rate=2, depth_multiplier=3, use_bias=False)", (1, 9, 8, 2)),
    ("separable_valid", "SeparableConv2D(4, 3)", (2, 6, 7, 3)),
    ("separable_same_strided",
     "SeparableConv2D(5, (2, 3), strides=2, padding='same', depth_multiplier=2, activation='tanh')", (2, 7, 8, 2)),
    ("separable_dilated", "SeparableConv2D(3, 3, dilation_rate=(2, 1), depth_multiplier=2, use_bias=False)", (1, 8, 6, 2)),
    ("conv2d_transpose_valid", "Conv2DTranspose(4, 3)", (2, 4, 5, 3)),
    ("conv2d_transpose_same_strided", "Conv2DTranspose(3, (3, 2), strides=(2, 3), padding='same', activation='relu')",
     (2, 4, 3, 2)),
    ("conv2d_transpose_stride_past_kernel", "Conv2DTranspose(2, 2, strides=3, use_bias=False)", (1, 3, 4, 3)),
    ("conv2d_transpose_output_padding", "Conv2DTranspose(3, 3, strides=2, output_padding=1)", (2, 3, 4, 2)),
    ("conv2d_transpose_same_output_padding",
     "Conv2DTranspose(2, 3, strides=(2, 3), padding='same', output_padding=(0, 2))", (1, 3, 3, 2)),
]


def values(a):
    return " ".join("%.9g" % v for v in np.asarray(a, dtype=np.float32).ravel())


def block(tag, a):
    return "%s %d %s\n%s\n" % (tag, a.ndim, " ".join(str(d) for d in a.shape), values(a))


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, (name, text, shape) in enumerate(CASES):
        rng = np.random.RandomState(seed)
        layer = eval("layers." + text)
        model = keras.Sequential([keras.Input(shape[1:]), layer])
        model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        y = model.predict(x, verbose=0)
        with open(os.path.join(OUT, name + ".txt"), "w") as f:
            f.write("layer %s\n" % text)
            f.write(block("input", x))
            for w in model.get_weights():
                f.write(block("weight", w))
            f.write(block("output", y))
        print(name, y.shape)


if __name__ == "__main__":
    main()
