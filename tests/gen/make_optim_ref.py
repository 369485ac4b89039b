"""Reference values for tests/test_optim.c, made by real Keras 3 (TensorFlow backend, float32).

Each case builds a Keras optimizer from the kwargs below, applies it for 3 steps to two
variables (5 and 3 elements) with fixed gradients, and prints one C initializer row: the
optimizer name, the same kwargs as nn_optimizer_opts fields, and the 8 variable values after
each step. Paste the output into CASES in tests/test_optim.c. Then the LONG cases run
LONG_STEPS steps (the gradients of GRADS in turn) and print the final values, for
LONG_CASES (Nadam's u_product over many steps).

Run: python tests/gen/make_optim_ref.py
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402

INITIAL = [
    [0.5, -1.25, 2.0, -0.75, 0.1],
    [1.5, -0.3, 0.8],
]
# The second step's gradients are much smaller than the first's, so AMSGrad's max(v_hat, v)
# differs from v; one element of each variable is zero in some step.
GRADS = [
    [[0.2, -0.4, 1.5, 0.0, -2.0], [0.3, 0.05, -1.0]],
    [[0.01, -0.02, 0.1, 0.3, -0.05], [0.0, 0.02, -0.04]],
    [[-0.5, 0.7, 0.25, -0.1, 1.2], [0.6, -0.9, 0.15]],
]

CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"learning_rate": 0.1, "clipnorm": 0.5}),
    ("sgd", {"learning_rate": 0.1, "clipvalue": 0.3}),
    ("sgd", {"learning_rate": 0.1, "global_clipnorm": 0.5}),
    ("sgd", {"learning_rate": 0.1, "weight_decay": 0.2}),
    ("adam", {}),
    ("adam", {"amsgrad": True, "learning_rate": 0.01}),
    ("adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 1e-3}),
    ("adam", {"learning_rate": 0.01, "clipnorm": 0.5, "weight_decay": 0.1}),
    ("adamw", {}),
    ("adamw", {"learning_rate": 0.05, "weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "rho": 0.8}),
    ("rmsprop", {"momentum": 0.9}),
    ("adagrad", {}),
    ("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5}),
    ("adadelta", {}),
    ("adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6}),
    ("adamax", {}),
    ("adamax", {"learning_rate": 0.02, "beta_2": 0.5}),
    ("nadam", {}),
    ("nadam", {"learning_rate": 0.02, "beta_1": 0.5, "global_clipnorm": 1.0}),
]

KERAS_CLASS = {
    "sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW, "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad, "adadelta": keras.optimizers.Adadelta,
    "adamax": keras.optimizers.Adamax, "nadam": keras.optimizers.Nadam,
}


def c_opts(kwargs):
    fields = []
    for key, value in kwargs.items():
        if isinstance(value, bool):
            fields.append(f".{key} = {'true' if value else 'false'}")
        else:
            fields.append(f".{key} = {value!r}")
    return "{ " + ", ".join(fields) + " }" if fields else "{ 0 }"


def run(name, kwargs, steps):
    optimizer = KERAS_CLASS[name](**kwargs)
    variables = [keras.Variable(np.array(v, dtype="float32")) for v in INITIAL]
    after = []
    for s in range(steps):
        step = GRADS[s % len(GRADS)]
        optimizer.apply([np.array(g, dtype="float32") for g in step], variables)
        after.append(np.concatenate([v.numpy() for v in variables]))
    return after


def c_row(values):
    return "{ " + ", ".join(f"{x:.9g}f" for x in values) + " }"


for name, kwargs in CASES:
    rows = ",\n      ".join(c_row(values) for values in run(name, kwargs, len(GRADS)))
    print(f'    {{ "{name}", {c_opts(kwargs)},\n     {{ {rows} }} }},')

LONG_STEPS = 1000
LONG_CASES = [("nadam", {}), ("nadam", {"beta_1": 0.99}), ("adam", {"amsgrad": True})]
print(f"/* after {LONG_STEPS} steps */")
for name, kwargs in LONG_CASES:
    final = run(name, kwargs, LONG_STEPS)[-1]
    print(f'    {{ "{name}", {c_opts(kwargs)}, {c_row(final)} }},')
