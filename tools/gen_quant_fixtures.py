#!/usr/bin/env python3
"""Writes tests/fixtures/quant/quant.bin, the references for Born's quantized dtypes (run by hand
from the repository root, then commit the file; tests/quant/test_quant_fixtures.c reads it):

  src            f32 [7, 512] rows with a fixed seed: normal, heavy-tailed, values with exact
                 ties (multiples of 1/4), a small positive offset plus noise, blocks of zeros
                 (a whole super-block too) after a non-zero first block, large values, constant.
  <type>/gguf    for q4_0 q4_1 q5_0 q5_1 q8_0 (the types gguf.quants can quantize): the bytes
                 gguf.quants.quantize makes of src and gguf.quants.dequantize of those bytes.
                 Born's reference quantizer must give the same bytes, its dequantization the same
                 values.
  <type>/random  for every type gguf.quants can dequantize (all but q8_1 and q8_k): random
                 blocks with finite f16 scales and gguf.quants.dequantize of them.
  <type>/ggml    (with --ggml-ref PATH) for all 14 types: the bytes ggml's own reference
                 quantizer (quantize_row_<type>_ref, through tools/ggml_quant_ref.c built against
                 a ggml checkout) makes of src. Born's quantizer must give the same bytes. The
                 committed file was made with it (ggml d99724f2).

gguf-py's tables give q8_1 40-byte blocks (ggml's old float layout); Born, like ggml today, uses
36 bytes (two f16s), so q8_1 and q8_k are only checked against ggml's bytes.

Format (little-endian): "BORNQNT1", u32 version 1, u32 count, then count records:
  u32 name length, name; u8 born dtype (q4_0 = 10 ... iq4_xs = 23; 0 = f32 for src);
  u32 rows; u32 cols; u64 nbytes; the bytes (f32 values for src); u8 has_deq; if 1, rows x cols
  f32 (the dequantized values).
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import quants

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "quant", "quant.bin")
ROWS, COLS = 7, 512

# name, Born dtype number, ggml type, block elements, block bytes, f16 scale offsets in a block
TYPES = [
    ("q4_0", 10, Q.Q4_0, 32, 18, [0]),
    ("q4_1", 11, Q.Q4_1, 32, 20, [0, 2]),
    ("q5_0", 12, Q.Q5_0, 32, 22, [0]),
    ("q5_1", 13, Q.Q5_1, 32, 24, [0, 2]),
    ("q8_0", 14, Q.Q8_0, 32, 34, [0]),
    ("q8_1", 15, Q.Q8_1, 32, 36, [0, 2]),
    ("q2_k", 16, Q.Q2_K, 256, 84, [80, 82]),
    ("q3_k", 17, Q.Q3_K, 256, 110, [108]),
    ("q4_k", 18, Q.Q4_K, 256, 144, [0, 2]),
    ("q5_k", 19, Q.Q5_K, 256, 176, [0, 2]),
    ("q6_k", 20, Q.Q6_K, 256, 210, [208]),
    ("q8_k", 21, Q.Q8_K, 256, 292, []),
    ("iq4_nl", 22, Q.IQ4_NL, 32, 18, [0]),
    ("iq4_xs", 23, Q.IQ4_XS, 256, 136, [0]),
]
GGUF_QUANTIZES = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0"}
GGUF_DEQUANTIZES = {t[0] for t in TYPES} - {"q8_1", "q8_k"}
GGML_NAMES = {"q2_k": "q2_K", "q3_k": "q3_K", "q4_k": "q4_K", "q5_k": "q5_K", "q6_k": "q6_K",
              "q8_k": "q8_K"}


def source_rows(rng):
    rows = [
        rng.standard_normal(COLS),
        rng.standard_normal(COLS) * np.exp(rng.standard_normal(COLS)),
        rng.integers(-8, 8, COLS) / 4.0,
        rng.uniform(0.0, 1.0, COLS) * 1e-3 + 0.01,
        rng.standard_normal(COLS),
        rng.standard_normal(COLS) * 5e3,
        np.full(COLS, -0.75),
    ]
    # zero blocks after a non-zero first block (ggml's iq4_nl reuses the previous block's
    # levels for an all-zero block, which is undefined for the first block of a row)
    rows[4][32:64] = 0.0
    rows[4][256:512] = 0.0
    return np.array(rows, dtype=np.float32)


def random_blocks(rng, nbytes, nblocks, scale_offsets):
    b = rng.integers(0, 256, (nblocks, nbytes), dtype=np.uint8)
    for off in scale_offsets:
        mag = rng.uniform(1e-3, 0.1, nblocks) * rng.choice([-1.0, 1.0], nblocks)
        b[:, off:off + 2] = mag.astype(np.float16).view(np.uint8).reshape(nblocks, 2)
    return b


def record(name, dtype, rows, cols, data, deq=None):
    name_b = name.encode()
    out = struct.pack("<I", len(name_b)) + name_b
    out += struct.pack("<BIIQ", dtype, rows, cols, len(data)) + data
    if deq is None:
        out += b"\x00"
    else:
        d = np.ascontiguousarray(deq, dtype=np.float32)
        assert d.shape == (rows, cols)
        out += b"\x01" + d.tobytes()
    return out


def ggml_bytes(tool, name, src):
    with tempfile.TemporaryDirectory() as tmp:
        inp, outp = os.path.join(tmp, "in"), os.path.join(tmp, "out")
        with open(inp, "wb") as f:
            f.write(struct.pack("<II", *src.shape) + src.tobytes())
        subprocess.run([tool, GGML_NAMES.get(name, name), inp, outp], check=True)
        with open(outp, "rb") as f:
            return f.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ggml-ref", help="tools/ggml_quant_ref.c built against ggml")
    args = ap.parse_args()
    rng = np.random.default_rng(20240611)
    src = source_rows(rng)
    recs = [record("src", 0, ROWS, COLS, src.tobytes())]
    for name, dtype, qt, block, nbytes, scales in TYPES:
        if name in GGUF_QUANTIZES:
            q = quants.quantize(src, qt)
            recs.append(record(name + "/gguf", dtype, ROWS, COLS, q.tobytes(),
                               quants.dequantize(q, qt)))
        if name in GGUF_DEQUANTIZES:
            rows, cols = 2, 512
            b = random_blocks(rng, nbytes, rows * cols // block, scales).reshape(rows, -1)
            recs.append(record(name + "/random", dtype, rows, cols, b.tobytes(),
                               quants.dequantize(b, qt)))
        if args.ggml_ref:
            data = ggml_bytes(args.ggml_ref, name, src)
            assert len(data) == ROWS * COLS // block * nbytes
            recs.append(record(name + "/ggml", dtype, ROWS, COLS, data))
    blob = b"BORNQNT1" + struct.pack("<II", 1, len(recs)) + b"".join(recs)
    if len(blob) > 250_000:
        sys.exit("refusing to write %d bytes" % len(blob))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "wb") as f:
        f.write(blob)
    print("wrote %s: %d records, %d bytes" % (os.path.relpath(OUT), len(recs), len(blob)))


if __name__ == "__main__":
    main()
