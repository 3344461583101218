#!/usr/bin/env python3
"""Fixture .npy files written by numpy, for Born's NPY reader and writer tests.

Run by hand from the repository root:  python3 tools/gen_npy_fixtures.py
It rewrites tests/fixtures/npy/*.npy; tests/io/test_npy.c checks that Born reads each one
exactly (the values are listed again in the C test) and that, for the files numpy.save wrote in
its default layout (version 1.0, C order, little-endian), Born's writer produces the same bytes.

The arrays are small and built from literals, so reruns reproduce the files byte for byte with
the same numpy version (the header layout, padded for the first dimension to grow to 21 digits,
is numpy >= 1.24's).
"""
import os

import numpy as np
from numpy.lib import format as npformat

OUT = os.path.join("tests", "fixtures", "npy")


def save(name, array, version=None):
    path = os.path.join(OUT, name + ".npy")
    if version is None:
        np.save(path, array, allow_pickle=False)
    else:
        with open(path, "wb") as f:
            npformat.write_array(f, array, version=version, allow_pickle=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    # Default layout: Born's writer must reproduce these byte for byte.
    save("f4_2x3", (np.arange(6, dtype="<f4").reshape(2, 3) * 0.5 - 1).astype("<f4"))
    save("f8_3", np.array([1 / 3, -2.5, 1e300], dtype="<f8"))
    save("f2_4", np.array([0.5, -1.0, 65504.0, 0.0], dtype="<f2"))
    save("i1_4", np.array([-128, -1, 0, 127], dtype="i1"))
    save("i2_4", np.array([-32768, -1, 0, 32767], dtype="<i2"))
    save("i4_2x2", np.array([[-2147483648, -1], [0, 2147483647]], dtype="<i4"))
    save("i8_4", np.array([-(2**63), -1, 0, 2**63 - 1], dtype="<i8"))
    save("u1_4", np.array([0, 1, 128, 255], dtype="u1"))
    save("b1_3", np.array([True, False, True], dtype="?"))
    save("f8_scalar", np.array(2.5, dtype="<f8"))
    save("f4_empty_0x3", np.zeros((0, 3), dtype="<f4"))
    save("f4_empty_long", np.zeros((123456789012, 0), dtype="<f4"))
    save("u1_dims8", np.arange(256, dtype="u1").reshape(2, 2, 2, 2, 2, 2, 2, 2))
    # Other layouts Born must read.
    save("big_i4_2x3", np.arange(6, dtype=">i4").reshape(2, 3) - 3)
    save("big_f8_3", np.array([1.5, -2.25, 1e-300], dtype=">f8"))
    save("big_f2_2", np.array([0.5, -2.0], dtype=">f2"))
    save("big_i2_3", np.array([-2, 258, 32767], dtype=">i2"))
    save("big_i8_2", np.array([-(2**40) - 5, 2**62 + 7], dtype=">i8"))
    save("fortran_i4_2x3x4", np.asfortranarray(np.arange(24, dtype="<i4").reshape(2, 3, 4)))
    save("fortran_big_f8_3x2", np.asfortranarray((np.arange(6, dtype=">f8") * 1.5).reshape(3, 2)))
    save("v2_f4_2x2", np.array([[1, 2], [3, 4]], dtype="<f4"), version=(2, 0))
    save("v3_i2_3", np.array([7, -8, 9], dtype="<i2"), version=(3, 0))
    save("u2_3", np.array([0, 1, 65535], dtype="<u2"))
    save("u4_2", np.array([0, 4294967295], dtype="<u4"))
    # Dtypes Born refuses, naming them.
    save("u8_unsupported", np.array([1, 2], dtype="<u8"))
    save("c8_unsupported", np.array([1 + 2j], dtype="<c8"))
    save("structured_unsupported", np.zeros(2, dtype=[("a", "<i4"), ("b", "<f4")]))


if __name__ == "__main__":
    main()
