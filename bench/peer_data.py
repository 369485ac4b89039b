"""Data and common plumbing for the Python peers (Keras, PyTorch), as WORKLOADS.md defines it.

Every loader returns float32 numpy arrays prepared the way a user of that library would:
the blog's features standardized with the training rows' mean and std (StandardScaler's
population std), Fashion-MNIST scaled by 1/255 up front, labels as the loss expects them.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
TEST_IMAGES = 10_000
LATENCY_IMAGES = 1_000


def parse_args(workloads):
    p = argparse.ArgumentParser()
    p.add_argument("workload", choices=workloads)
    p.add_argument("--data", default="", help="data directory of the workload")
    p.add_argument("--epochs", type=int, default=0, help="0 = the workload's")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--model", default="", help="where fmnist-* saves and infer-* loads the model")
    return p.parse_args()


def now():
    return time.perf_counter()


def report(**fields):
    """The one JSON line the driver reads (the last line of stdout)."""
    sys.stdout.flush()
    print(json.dumps(fields), flush=True)


def load_blog(data_dir):
    def read(name):
        path = os.path.join(data_dir, name)
        with open(path) as f:
            header = f.readline().strip().split(",")
        rows = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
        target = header.index("target")
        x = np.delete(rows, target, axis=1)
        return x, rows[:, target:target + 1].astype(np.float32)

    x_train, y_train = read("breast_cancer_train.csv")
    x_test, y_test = read("breast_cancer_test.csv")
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    scale = lambda x: ((x - mean) / std).astype(np.float32)
    return scale(x_train), y_train, scale(x_test), y_test


def load_tabular(data_dir):
    load = lambda name: np.load(os.path.join(data_dir, f"tabular_{name}.npy"))
    return load("train_x"), load("train_y"), load("test_x"), load("test_y")


def _idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load_fashion(data_dir=FASHION_DIR, train=True):
    """Images (N, 28, 28) float32 in [0, 1] and labels (N,) int64."""
    prefix = "train" if train else "t10k"
    x = _idx(os.path.join(data_dir or FASHION_DIR, f"{prefix}-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
    y = _idx(os.path.join(data_dir or FASHION_DIR, f"{prefix}-labels-idx1-ubyte.gz"), 8)
    return (x.astype(np.float32) / 255.0), y.astype(np.int64)


def binary_accuracy(probabilities, y):
    return float(np.mean((probabilities.reshape(-1) >= 0.5) == (y.reshape(-1) >= 0.5)))


def class_accuracy(scores, y):
    return float(np.mean(np.argmax(scores, axis=1) == y))


def time_inference(predict_batch, predict_one, x, y):
    """The infer workload: throughput at batch 256 over the test images (median of 3 timed
    passes after one warm-up pass) and the median latency of LATENCY_IMAGES single images.
    predict_batch(x) and predict_one(x) return numpy scores."""
    def one_pass():
        return np.concatenate([predict_batch(x[i:i + 256]) for i in range(0, len(x), 256)])

    scores = one_pass()
    passes = []
    for _ in range(3):
        t0 = now()
        one_pass()
        passes.append(now() - t0)
    for i in range(20):
        predict_one(x[i:i + 1])
    latencies = []
    for i in range(LATENCY_IMAGES):
        single = x[i:i + 1]
        t0 = now()
        predict_one(single)
        latencies.append(now() - t0)
    return dict(accuracy=class_accuracy(scores, y), samples_per_second=len(x) / float(np.median(passes)),
                latency_us=float(np.median(latencies)) * 1e6)
