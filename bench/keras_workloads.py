"""The workloads of WORKLOADS.md for TensorFlow/Keras (Keras 3 on the TensorFlow backend), two
threads. One workload per process; prints one JSON line (see peer_data.report).

  python3 bench/keras_workloads.py blog|tabular|fmnist-mlp|fmnist-cnn|infer-mlp|infer-cnn
          [--data DIR] [--epochs N] [--seed N] [--model FILE.keras]

Keras's own defaults throughout (glorot_uniform, zero biases, "adam" = Adam(1e-3, 0.9, 0.999,
1e-7), fit shuffles each epoch). fit and evaluate run silent (verbose=0). Inference calls the
model through one tf.function (the fastest way Keras offers; model.predict adds ~ms per call).
"""
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"

import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(2)
import keras  # noqa: E402
from keras import layers  # noqa: E402

import peer_data as pd  # noqa: E402

EPOCHS = {"blog": 10, "tabular": 5, "fmnist-mlp": 5, "fmnist-cnn": 2}


def binary_mlp(features):
    return keras.Sequential([keras.Input((features,)), layers.Dense(32, activation="relu"),
                             layers.Dense(16, activation="relu"), layers.Dense(1, activation="sigmoid")])


def fashion_model(cnn):
    if not cnn:
        return keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(256, activation="relu"),
                                 layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                             layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                             layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])


def train(model, loss, data, epochs, batch):
    x_train, y_train, x_test, y_test = data
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    t0 = pd.now()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch, verbose=0)
    fit_seconds = pd.now() - t0
    _, accuracy = model.evaluate(x_test, y_test, batch_size=batch, verbose=0)
    return float(accuracy), fit_seconds


def fashion_data(cnn, train_part=True):
    x, y = pd.load_fashion(train=train_part)
    return (x[..., None] if cnn else x), y


def main():
    args = pd.parse_args(list(EPOCHS) + ["infer-mlp", "infer-cnn"])
    keras.utils.set_random_seed(args.seed)
    w = args.workload
    epochs = args.epochs or EPOCHS.get(w, 0)
    if w in ("blog", "tabular"):
        data = pd.load_blog(args.data) if w == "blog" else pd.load_tabular(args.data)
        accuracy, fit_seconds = train(binary_mlp(data[0].shape[1]), "binary_crossentropy", data, epochs, 32)
        steps = math.ceil(len(data[0]) / 32) * epochs
        pd.report(accuracy=accuracy, fit_seconds=fit_seconds, steps=steps, steps_per_second=steps / fit_seconds,
                  us_per_step=fit_seconds / steps * 1e6)
    elif w.startswith("fmnist-"):
        cnn = w == "fmnist-cnn"
        data = fashion_data(cnn) + fashion_data(cnn, train_part=False)
        model = fashion_model(cnn)
        accuracy, fit_seconds = train(model, "sparse_categorical_crossentropy", data, epochs, 128)
        if args.model:
            model.save(args.model)
        pd.report(accuracy=accuracy, fit_seconds=fit_seconds, samples_per_second=len(data[0]) * epochs / fit_seconds)
    else:
        model = keras.models.load_model(args.model)
        call = tf.function(lambda x: model(x, training=False))
        x, y = fashion_data(w == "infer-cnn", train_part=False)
        predict = lambda batch: call(tf.constant(batch)).numpy()
        pd.report(**pd.time_inference(predict, predict, x, y))


if __name__ == "__main__":
    main()
