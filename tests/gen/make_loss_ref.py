"""Reference values for tests/test_losses.c and tests/test_metrics.c, made by real Keras 3
(TensorFlow backend, float32).

Losses: for each case, the per-sample values of the Keras loss function (keras.losses.<name>
with the case's keyword arguments) and the gradient of their sum with respect to y_pred
(tf.GradientTape), printed as C initializer rows for LOSS_CASES in tests/test_losses.c:
  { "name", { opts }, fd_check, rows, cols, { pred }, { truth }, { loss per row }, { grad } },
fd_check is 0 for the cases that sit on a clip bound or outside it, where a central difference
is not the derivative.

Metrics: for each case, the result of keras.metrics.<Class>() after update_state on the first
half of the rows and then on the rest (sample weights when the case has them), printed as rows
for METRIC_CASES in tests/test_metrics.c:
  { "name", rows, cols, truth_cols, weighted, { pred }, { truth }, { weights }, expected },

Run: python tests/gen/make_loss_ref.py
"""
import os
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402


def c_floats(values):
    """A C initializer list, wrapped to fit 100 columns in the pasted table."""
    text = "{ " + ", ".join("%.9g" % v for v in np.ravel(values)) + " }"
    return textwrap.fill(text, width=92, subsequent_indent="        ", break_on_hyphens=False)


def c_opts(kwargs):
    parts = []
    for key, value in kwargs.items():
        parts.append(".%s = %s" % (key, "true" if value is True else "%.9g" % value))
    return "{ " + ", ".join(parts) + " }" if parts else "{ 0 }"


# Regression errors kept off the kinks: none is 0 (mae) or +-1 / +-0.3 (huber's delta).
ERROR_PRED = [[0.5, -1.0, 2.0], [3.0, 0.0, 0.25]]
ERROR_TRUTH = [[1.0, 0.0, 2.5], [1.0, 0.5, 0.0]]
HUBER_TRUTH = [[1.0, 0.5, 2.5], [1.0, 0.75, 0.0]]

# (name, kwargs, fd_check, pred rows, truth rows)
LOSS_CASES = [
    ("binary_crossentropy", {}, 1,
     [[0.1, 0.8], [0.35, 0.6], [0.9, 0.05]], [[0, 1], [1, 0.3], [1, 0]]),
    ("binary_crossentropy", {"label_smoothing": 0.2}, 1,
     [[0.1, 0.8], [0.35, 0.6], [0.9, 0.05]], [[0, 1], [1, 0.3], [1, 0]]),
    ("binary_crossentropy", {"from_logits": True}, 1,
     [[-2.0, 1.5], [0.3, -0.7], [25.0, -30.0]], [[0, 1], [1, 0.3], [1, 1]]),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, 1,
     [[-2.0, 1.5], [0.3, -0.7], [4.0, -3.0]], [[0, 1], [1, 0.3], [1, 0]]),
    ("binary_crossentropy", {}, 0,
     [[0.0, 1.0], [1e-9, 1.5], [-0.2, 0.5]], [[1, 0], [1, 1], [0, 1]]),
    ("categorical_crossentropy", {}, 1,
     [[0.2, 0.5, 0.3, 0.1], [0.05, 0.05, 0.6, 0.2], [0.4, 0.3, 0.2, 0.1]],
     [[0, 1, 0, 0], [0, 0, 1, 0], [0.5, 0.25, 0.25, 0]]),
    ("categorical_crossentropy", {"label_smoothing": 0.1}, 1,
     [[0.2, 0.5, 0.3, 0.1], [0.05, 0.05, 0.6, 0.2], [0.4, 0.3, 0.2, 0.1]],
     [[0, 1, 0, 0], [0, 0, 1, 0], [0.5, 0.25, 0.25, 0]]),
    ("categorical_crossentropy", {"from_logits": True}, 1,
     [[1.0, 2.0, -1.0, 0.5], [-3.0, 0.0, 4.0, 1.0], [50.0, 49.0, -20.0, 0.0]],
     [[0, 1, 0, 0], [0, 0, 1, 0], [0.5, 0.25, 0.25, 0]]),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.2}, 1,
     [[1.0, 2.0, -1.0, 0.5], [-3.0, 0.0, 4.0, 1.0], [0.5, 1.5, -2.0, 0.0]],
     [[0, 1, 0, 0], [0, 0, 1, 0], [0.5, 0.25, 0.25, 0]]),
    ("categorical_crossentropy", {}, 0,
     [[0.0, 0.7, 0.3, 0.0], [1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]],
     [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]),
    ("sparse_categorical_crossentropy", {}, 1,
     [[0.2, 0.5, 0.3, 0.1], [0.05, 0.05, 0.6, 0.2], [0.4, 0.3, 0.2, 0.1]], [1, 2, 3]),
    ("sparse_categorical_crossentropy", {"from_logits": True}, 1,
     [[1.0, 2.0, -1.0, 0.5], [-3.0, 0.0, 4.0, 1.0], [50.0, 49.0, -20.0, 0.0]], [1, 2, 0]),
    ("sparse_categorical_crossentropy", {}, 0,
     [[0.0, 0.7, 0.3, 0.0], [1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]], [0, 0, 3]),
    ("mean_squared_error", {}, 1, ERROR_PRED, ERROR_TRUTH),
    ("mean_absolute_error", {}, 1, ERROR_PRED, ERROR_TRUTH),
    ("huber", {}, 1, ERROR_PRED, HUBER_TRUTH),
    ("huber", {"delta": 0.3}, 1, ERROR_PRED, HUBER_TRUTH),
    ("hinge", {}, 1, [[0.3, -0.4, 2.0], [-1.5, 0.6, 0.1]], [[1, 0, 1], [0, 0, 1]]),
    ("hinge", {}, 1, [[0.3, -0.4, 2.0], [-1.5, 0.6, 0.1]], [[1, -1, 1], [-1, -1, 1]]),
    ("kl_divergence", {}, 1,
     [[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]], [[0.1, 0.6, 0.3], [0.0, 0.5, 0.5]]),
    ("kl_divergence", {}, 0,
     [[0.0, 0.5, 1.5], [0.6, 0.3, 0.1]], [[0.1, 0.6, 0.3], [0.2, 0.5, 0.3]]),
    ("log_cosh", {}, 1,
     [[0.5, -1.0, 2.0], [60.0, 0.0, 0.25]], [[1.0, 0.0, 2.5], [1.0, 0.5, -40.0]]),
]


def loss_rows():
    for name, kwargs, fd_check, pred, truth in LOSS_CASES:
        pred = tf.constant(pred, dtype="float32")
        sparse = name.startswith("sparse")
        truth_tensor = tf.constant(truth, dtype="int32" if sparse else "float32")
        with tf.GradientTape() as tape:
            tape.watch(pred)
            per_sample = getattr(keras.losses, name)(truth_tensor, pred, **kwargs)
            total = tf.reduce_sum(per_sample)
        grad = tape.gradient(total, pred)
        rows, cols = pred.shape
        print('    { "%s", %s, %d, %d, %d,\n      %s,\n      %s,\n      %s,\n      %s },' % (
            name, c_opts(kwargs), fd_check, rows, cols, c_floats(pred.numpy()),
            c_floats(np.asarray(truth, "float32")), c_floats(per_sample.numpy()),
            c_floats(grad.numpy())))


# (Keras class, rows of pred, rows of truth (a flat list for one class index per row),
#  sample weights or None)
BINARY_PRED = [[0.9], [0.5], [0.2], [0.7], [0.51], [0.1], [0.6], [0.3]]
BINARY_TRUTH = [[1], [1], [0], [0], [1], [1], [1], [0]]
BINARY_WEIGHTS = [1.0, 0.5, 2.0, 1.0, 0.0, 3.0, 1.5, 0.25]
MULTI_PRED = [[0.9, 0.2, 0.6], [0.4, 0.8, 0.5], [0.1, 0.55, 0.7], [0.3, 0.3, 0.9]]
MULTI_TRUTH = [[1, 0, 0], [0, 1, 1], [0, 1, 1], [1, 0, 0]]
MULTI_WEIGHTS = [0.5, 1.0, 2.0, 1.5]
CLASS_PRED = [[0.1, 0.6, 0.3], [0.4, 0.4, 0.2], [0.2, 0.3, 0.5], [0.7, 0.2, 0.1]]
CLASS_TRUTH = [[0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]
CLASS_INDEX = [1, 1, 2, 1]
WIDE_PRED = [[0.1, 0.2, 0.3, 0.05, 0.15, 0.12, 0.08],
             [0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2],
             [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
             [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]]
# Targets: 5th largest (in), tied with others (in), 6th largest (out), all tied (in).
WIDE_TRUTH = [[1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 0],
              [0, 0, 0, 0, 0, 1, 0]]
WIDE_INDEX = [0, 1, 5, 5]
# The last six sit on a threshold (float32(k/199) * 199 is exactly k in float32, so Keras's
# ceil(p * 199) - 1 puts them one bucket lower than double arithmetic or floor would) next to
# a prediction of the other label just below.
AUC_PRED = [[0.9], [0.5], [0.2], [0.7], [0.51], [0.1], [0.6], [0.3], [1.2], [-0.1],
            [0.3], [0.005], [0.8], [0.45], [0.015075377], [0.014], [0.050251257], [0.049],
            [1.0], [0.999]]
AUC_TRUTH = [[1], [1], [0], [0], [1], [1], [1], [0], [1], [0], [1], [0], [0], [1], [1], [0],
             [1], [0], [1], [0]]
AUC_WEIGHTS = [1.0, 0.5, 2.0, 1.0, 0.0, 3.0, 1.5, 0.25, 1.0, 2.0, 0.5, 1.0, 0.75, 1.25, 1.0,
               0.5, 1.0, 2.0, 1.0, 1.5]
REGRESSION_PRED = [[0.5, -1.0], [3.0, 0.0], [0.25, 2.0]]
REGRESSION_TRUTH = [[1.0, 0.0], [1.0, 0.5], [0.0, 2.5]]
REGRESSION_WEIGHTS = [1.0, 0.5, 2.0]
COLUMN_TRUTH = [[1], [0], [0.5], [1]]  # (N, 1): Keras broadcasts it across the columns

METRIC_CASES = [
    ("binary_accuracy", "BinaryAccuracy", BINARY_PRED, BINARY_TRUTH, None),
    ("binary_accuracy", "BinaryAccuracy", BINARY_PRED, BINARY_TRUTH, BINARY_WEIGHTS),
    ("binary_accuracy", "BinaryAccuracy", MULTI_PRED, MULTI_TRUTH, MULTI_WEIGHTS),
    ("categorical_accuracy", "CategoricalAccuracy", CLASS_PRED, CLASS_TRUTH, None),
    ("categorical_accuracy", "CategoricalAccuracy", CLASS_PRED, CLASS_TRUTH, MULTI_WEIGHTS),
    ("sparse_categorical_accuracy", "SparseCategoricalAccuracy", CLASS_PRED, CLASS_INDEX, None),
    ("sparse_categorical_accuracy", "SparseCategoricalAccuracy", CLASS_PRED, CLASS_INDEX,
     MULTI_WEIGHTS),
    ("top_k_categorical_accuracy", "TopKCategoricalAccuracy", WIDE_PRED, WIDE_TRUTH, None),
    ("top_k_categorical_accuracy", "TopKCategoricalAccuracy", WIDE_PRED, WIDE_TRUTH,
     MULTI_WEIGHTS),
    ("sparse_top_k_categorical_accuracy", "SparseTopKCategoricalAccuracy", WIDE_PRED,
     WIDE_INDEX, None),
    ("sparse_top_k_categorical_accuracy", "SparseTopKCategoricalAccuracy", WIDE_PRED,
     WIDE_INDEX, MULTI_WEIGHTS),
    ("mean_squared_error", "MeanSquaredError", REGRESSION_PRED, REGRESSION_TRUTH, None),
    ("mse", "MeanSquaredError", REGRESSION_PRED, REGRESSION_TRUTH, REGRESSION_WEIGHTS),
    ("mean_absolute_error", "MeanAbsoluteError", REGRESSION_PRED, REGRESSION_TRUTH, None),
    ("mean_squared_error", "MeanSquaredError", MULTI_PRED, COLUMN_TRUTH, MULTI_WEIGHTS),
    ("binary_accuracy", "BinaryAccuracy", MULTI_PRED, COLUMN_TRUTH, None),
    ("mae", "MeanAbsoluteError", REGRESSION_PRED, REGRESSION_TRUTH, REGRESSION_WEIGHTS),
    ("precision", "Precision", BINARY_PRED, BINARY_TRUTH, None),
    ("precision", "Precision", BINARY_PRED, BINARY_TRUTH, BINARY_WEIGHTS),
    ("precision", "Precision", MULTI_PRED, MULTI_TRUTH, MULTI_WEIGHTS),
    ("recall", "Recall", BINARY_PRED, BINARY_TRUTH, None),
    ("recall", "Recall", BINARY_PRED, BINARY_TRUTH, BINARY_WEIGHTS),
    ("recall", "Recall", MULTI_PRED, MULTI_TRUTH, MULTI_WEIGHTS),
    ("auc", "AUC", AUC_PRED, AUC_TRUTH, None),
    ("auc", "AUC", AUC_PRED, AUC_TRUTH, AUC_WEIGHTS),
    ("auc", "AUC", MULTI_PRED, MULTI_TRUTH, MULTI_WEIGHTS),
]


def metric_rows():
    for name, class_name, pred, truth, weights in METRIC_CASES:
        metric = getattr(keras.metrics, class_name)()
        pred = np.asarray(pred, "float32")
        truth = np.asarray(truth, "float32")
        half = len(pred) // 2
        for part in (slice(0, half), slice(half, None)):
            sample_weight = None if weights is None else np.asarray(weights, "float32")[part]
            metric.update_state(truth[part], pred[part], sample_weight=sample_weight)
        rows, cols = pred.shape
        truth_cols = 1 if truth.ndim == 1 else truth.shape[1]
        print('    { "%s", %d, %d, %d, %d,\n      %s,\n      %s,\n      %s,\n      %.9g },' % (
            name, rows, cols, truth_cols, weights is not None, c_floats(pred), c_floats(truth),
            c_floats(weights if weights is not None else [0]),
            float(keras.ops.convert_to_numpy(metric.result()))))


print("/* LOSS_CASES */")
loss_rows()
print("/* METRIC_CASES */")
metric_rows()
