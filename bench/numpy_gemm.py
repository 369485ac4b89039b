"""The gemm workload through numpy's matmul (numpy's bundled OpenBLAS, OPENBLAS_NUM_THREADS
threads): GFLOP/s at each shape, the median of 9 timed runs of enough calls to last 20 ms.
Prints one JSON line: {"1024x1024x1024": GFLOP/s, "32x32x30": GFLOP/s}."""
import json
import time

import numpy as np

SHAPES = [(1024, 1024, 1024), (32, 32, 30)]


def seconds_per_call(a, b, c, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        np.matmul(a, b, out=c)
    return (time.perf_counter() - t0) / reps


def gflops(m, n, k):
    rng = np.random.default_rng(0)
    a = rng.uniform(-0.5, 0.5, (m, k)).astype(np.float32)
    b = rng.uniform(-0.5, 0.5, (k, n)).astype(np.float32)
    c = np.empty((m, n), np.float32)
    reps = 1
    while seconds_per_call(a, b, c, reps) * reps < 0.02:
        reps *= 2
    return 2.0 * m * n * k / float(np.median([seconds_per_call(a, b, c, reps) for _ in range(9)])) * 1e-9


print(json.dumps({f"{m}x{n}x{k}": gflops(m, n, k) for m, n, k in SHAPES}))
