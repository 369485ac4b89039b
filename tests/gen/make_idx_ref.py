#!/usr/bin/env python3
"""Writes the IDX fixtures of tests/test_idx.c into tests/data/idx/.

Each array's values follow a formula of its flat index i that the C test recomputes, so the
test checks every element without a second copy of the data. IDX is written by hand here
(struct + numpy's big-endian dtypes), gzipped with mtime 0 so re-running gives identical
files. Run from any directory: python3 tests/gen/make_idx_ref.py
"""
import gzip
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "idx")

TYPE_CODES = {"uint8": 0x08, "int8": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}


def idx_bytes(array, dtype):
    header = struct.pack(">BBBB", 0, 0, TYPE_CODES[dtype], array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.astype(dtype).tobytes()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    with open(os.path.join(OUT, name + ".gz"), "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
            f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    i = np.arange(60, dtype=np.int64)
    # The formulas below are repeated in tests/test_idx.c (test every_type_code_reads_back).
    cases = [
        ("uint8_3x4x5.idx", "uint8", ((i * 37 + 11) % 256).reshape(3, 4, 5)),
        ("int8_7.idx", "int8", (i[:7] * 41 % 256 - 128)),
        ("int16_2x8.idx", ">i2", (i[:16] * 4099 - 32768).reshape(2, 8)),
        ("int32_3x5.idx", ">i4", (i[:15] * 306783378 - 2147483648).reshape(3, 5)),
        ("float32_4x3.idx", ">f4", ((i[:12] - 5) / 3.0).reshape(4, 3)),
        ("float64_2x2x3.idx", ">f8", ((i[:12] - 5) / 7.0).reshape(2, 2, 3)),
        ("labels-idx1-ubyte", "uint8", i[:10] * 7 % 10),
    ]
    for name, dtype, values in cases:
        array = np.asarray(values)
        if array.dtype.kind == "i":  # the integer formulas stay in range: astype must not wrap
            assert (array.astype(dtype) == array).all(), name
        write(name, idx_bytes(array, dtype))

    # One small file of each other kind, for nn_array_load's dispatch.
    x = ((np.arange(6) - 2) / 4.0).astype(np.float32).reshape(2, 3)
    y = np.array([1, 0], dtype=np.int64)
    np.save(os.path.join(OUT, "dispatch.npy"), x)
    np.savez(os.path.join(OUT, "dispatch_xy.npz"), x=x, y=y)
    np.savez_compressed(os.path.join(OUT, "dispatch_one.npz"), only=x)
    np.savetxt(os.path.join(OUT, "dispatch.csv"), x, delimiter=",", header="a,b,c", comments="", fmt="%g")

    # A Fashion-MNIST directory in miniature: 3 training and 2 test images of 28x28.
    tiny = os.path.join(OUT, "fashion_tiny")
    os.makedirs(tiny, exist_ok=True)
    for split, n in (("train", 3), ("t10k", 2)):
        images = (np.arange(n * 28 * 28) % 251).reshape(n, 28, 28)
        labels = (np.arange(n) * 3 + 1) % 10
        for name, array in ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels)):
            with open(os.path.join(tiny, name + ".gz"), "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
                    f.write(idx_bytes(array, "uint8"))


if __name__ == "__main__":
    main()
