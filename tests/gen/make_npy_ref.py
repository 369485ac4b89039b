#!/usr/bin/env python3
"""Writes the .npy/.npz reference files of tests/test_npy.c into tests/data/npy/, with real numpy.

Every file's expected contents go into tests/data/npy/expected.txt, one line per array:

    <file>[#<member>] <dtype> <ndim> <dims...> <hex>

where <dtype> is numpy's name ("float32"), and <hex> is the array's bytes in C order and
little-endian byte order ("-" when empty). The C test loads each file and compares the tensor's
bytes with these, so the test itself needs no Python. Re-running gives identical files except
the .npz members' timestamps.
"""
import os
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "npy")

# Values chosen to show sign, extremes, byte order and (for floats) inf, nan and -0.0.
VALUES = {
    "f": [0.0, -1.5, 3.140625, np.inf, -0.0, np.nan],
    "i": ["min", -1, 0, 1, 42, "max"],
    "u": [0, 1, 2, 200, "max", 7],
    "b": [True, False, True, True, False, False],
}
SIZES = {"f": [2, 4, 8], "i": [1, 2, 4, 8], "u": [1, 2, 4, 8], "b": [1]}


def values(kind, size, order):
    dtype = np.dtype(f"{order}{kind}{size}")
    out = []
    for v in VALUES[kind]:
        if v == "min":
            v = np.iinfo(dtype).min
        elif v == "max":
            v = np.iinfo(dtype).max
        out.append(v)
    return np.array(out, dtype=dtype).reshape(2, 3)


def expected_line(name, a):
    c = np.ascontiguousarray(a)
    little = c.astype(c.dtype.newbyteorder("<"), copy=False)
    hexbytes = little.tobytes().hex() or "-"
    dims = " ".join(str(d) for d in a.shape)
    return f"{name} {a.dtype.name} {a.ndim}{' ' if dims else ''}{dims} {hexbytes}"


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = [f"# made by tests/gen/make_npy_ref.py with numpy {np.__version__}"]

    def save(name, a, version=None):
        path = os.path.join(OUT, name)
        if version is None:
            np.save(path, a)
        else:
            with open(path, "wb") as f:
                np.lib.format.write_array(f, a, version=version)
        back = np.load(path)
        assert back.dtype == a.dtype and np.array_equal(back, a, equal_nan=a.dtype.kind == "f")
        lines.append(expected_line(name, a))

    # Every dtype, in both byte orders where the type has more than one byte.
    for kind, sizes in SIZES.items():
        for size in sizes:
            if size == 1:
                save(f"{kind}{size}.npy", values(kind, size, "|"))
            else:
                save(f"{kind}{size}_le.npy", values(kind, size, "<"))
                save(f"{kind}{size}_be.npy", values(kind, size, ">"))

    # Format versions 1.0, 2.0 and 3.0 of the same array.
    grid = np.arange(12, dtype="<f4").reshape(3, 4) / 4
    for major in (1, 2, 3):
        save(f"version{major}.npy", grid, version=(major, 0))

    # Fortran order (nn transposes into C order), little- and big-endian.
    save("fortran_f4.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
    save("fortran_i2_be.npy", np.asfortranarray(np.arange(24, dtype=">i2").reshape(2, 3, 4) - 12))

    # Ranks 0, 1 and 3, and an empty array.
    save("scalar.npy", np.array(2.5, dtype="<f8"))
    save("vector.npy", np.arange(5, dtype="<i4") * -3)
    save("cube.npy", (np.arange(24, dtype="<f4") - 7).reshape(2, 3, 4))
    save("empty.npy", np.zeros((0, 3), dtype="<f4"))

    # .npz, stored and deflated.
    x = (np.arange(12, dtype="<f4") * 0.5).reshape(3, 4)
    y = np.array([3, -1, 7], dtype="<i8")
    np.savez(os.path.join(OUT, "arrays.npz"), x=x, y=y)
    np.savez_compressed(os.path.join(OUT, "arrays_compressed.npz"), x=x, y=y)
    for name in ("arrays.npz", "arrays_compressed.npz"):
        lines.append(expected_line(f"{name}#x", x))
        lines.append(expected_line(f"{name}#y", y))

    # A zip64 archive (zip64 extra fields in the central directory and a zip64 end record), as
    # Python's zipfile writes for members or archives past 4 GiB: forced by lowering its limits.
    limits = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 0, 0
    try:
        np.savez(os.path.join(OUT, "zip64.npz"), x=x, y=y)
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = limits
    lines.append(expected_line("zip64.npz#x", x))
    lines.append(expected_line("zip64.npz#y", y))

    # A deflate bomb: 8 MB of zeros shrink past 1000:1 at the highest level.
    with zipfile.ZipFile(os.path.join(OUT, "bomb.npz"), "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("zeros.npy", "w") as f:
            np.lib.format.write_array(f, np.zeros(1 << 21, dtype="<f4"))

    # An object array, which nn must refuse (its data is a pickle).
    np.save(os.path.join(OUT, "object.npy"), np.array([1, "a", None], dtype=object), allow_pickle=True)

    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
