"""Parsing a numeric CSV of 200,000 rows x 33 columns (32 float32 features and a 0/1 label, with
a header, as pandas' to_csv writes them): nn_csv_load against numpy.loadtxt and pandas.read_csv
(C engine), alternating one load of each per round, medians of RUNS rounds. Issue 3 asks nn to be
at least 3x as fast as loadtxt and at least as fast as pandas.
Usage: python3 bench/csv_parse.py [RUNS]   (after `make build/libnn.a`; needs numpy and pandas)
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS, FEATURES = 200_000, 32


def make_csv(path, seed=1234):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    y = (x[:, :4].sum(axis=1) > 0).astype(np.float32)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(FEATURES)])
    frame["label"] = y
    frame.to_csv(path, index=False)
    return x, y


def build_loader(tmp):
    program = os.path.join(tmp, "csv_parse")
    subprocess.run(["cc", "-O2", "-I" + os.path.join(ROOT, "include"),
                    os.path.join(ROOT, "bench", "csv_parse.c"),
                    os.path.join(ROOT, "build", "libnn.a"), "-lz", "-lm", "-lpthread",
                    "-o", program], check=True)
    return program


def timed(load):
    start = time.perf_counter()
    result = load()
    return time.perf_counter() - start, result


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tabular.csv")
        x, _ = make_csv(path)
        size_mb = os.path.getsize(path) / 1e6
        nn = subprocess.Popen([build_loader(tmp), path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)

        def nn_load():
            nn.stdin.write("load\n")
            nn.stdin.flush()
            answer = nn.stdout.readline().split()
            if len(answer) != 3:
                sys.exit("nn_csv_load failed")
            assert (int(answer[1]), int(answer[2])) == (ROWS, FEATURES)
            return float(answer[0])

        times = {"nn": [], "numpy": [], "pandas": []}
        for _ in range(runs):
            times["nn"].append(nn_load())
            seconds, a = timed(lambda: np.loadtxt(path, delimiter=",", skiprows=1))
            times["numpy"].append(seconds)
            seconds, frame = timed(lambda: pd.read_csv(path, engine="c"))
            times["pandas"].append(seconds)
        nn.stdin.close()
        nn.wait()
        assert np.array_equal(a[:, :-1].astype(np.float32), x)
        assert frame.shape == (ROWS, FEATURES + 1)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"CSV {ROWS:,} x {FEATURES + 1} ({size_mb:.1f} MB), medians of {runs} alternating "
          f"rounds (numpy {np.__version__}, pandas {pd.__version__}):")
    for name, label in (("nn", "nn_csv_load"), ("numpy", "numpy.loadtxt"),
                        ("pandas", "pandas.read_csv (C engine)")):
        print(f"  {label:28s} {median[name] * 1e3:8.1f} ms")
    print(f"  nn is {median['numpy'] / median['nn']:.2f}x as fast as numpy.loadtxt (issue 3: "
          f">= 3) and {median['pandas'] / median['nn']:.2f}x as fast as pandas.read_csv "
          f"(issue 3: >= 1)")


if __name__ == "__main__":
    main()
