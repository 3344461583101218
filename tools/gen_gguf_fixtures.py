#!/usr/bin/env python3
"""Writes the GGUF fixtures under tests/fixtures/gguf/ with gguf-py (`pip install gguf numpy`,
the package llama.cpp's converters use; run by hand from the repository root, then commit the
files). tests/io/test_gguf.c reads them and checks:

  all_types.gguf    GGUF v3, default alignment 32: one key of every metadata type (u8 ... f64,
                    bool, string, the empty string), an array of each, arrays of arrays (three
                    levels deep, strings too), 200 "tokens"; tensors of every plain ggml type
                    (f32 f16 bf16 f64 i8 i16 i32 i64) in 0 to 4 dims, one empty. Born must read
                    every key and value exactly, and Born's writer must produce these very bytes
                    from the same keys and tensors.
  alignment64.gguf  general.alignment = 64 and tensors whose sizes are not multiples of it.
  quantized.gguf    "src", an f32 [2, 256] tensor (seeded random values); for q4_0 q4_1 q5_0 q5_1
                    q8_0 the bytes gguf.quants.quantize made of it; for q2_K q3_K q4_K q5_K q6_K
                    iq4_nl iq4_xs (which gguf.quants can only dequantize) random blocks with sane
                    f16 scales; and for each, "<type>.deq": gguf.quants.dequantize of those bytes,
                    the reference for Born's dequantization.
  unsupported.gguf  a tq1_0 tensor (a ggml type Born lacks) beside an f32 one.

The value formulas (as tools/gen_safetensors_fixtures.py, mirrored by tft_pattern in the C tests):
element i of a tensor (row-major): floats (i - 7) * 0.375; i8 (i * 37 + 11) % 256 - 128;
i16 (i * 1237 + 11) % 65536 - 32768; i32 i * 123457 - 1000000; i64 i * 1234567890123 - 2**40.

With --check DIR, it instead reads the GGUF files that Born wrote into DIR with gguf.GGUFReader
and checks them against the same tables, to show that gguf-py (hence llama.cpp's tools) reads
Born's output:

    mkdir -p /tmp/born-gguf && BORN_GGUF_EXPORT=/tmp/born-gguf \\
        ./build/born_tests gguf_writer && python3 tools/gen_gguf_fixtures.py --check /tmp/born-gguf
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "gguf")
ARCH = "born-test"

# name: (dtype, Born shape)  -- tests/io/test_gguf.c has the same table
TENSORS = [
    ("f32", "float32", (2, 3)),
    ("f16", "float16", (3, 4)),
    ("bf16", "bfloat16", (2, 2, 3)),
    ("f64", "float64", (5,)),
    ("i8", "int8", (7,)),
    ("i16", "int16", (2, 5)),
    ("i32", "int32", (4, 1, 3)),
    ("i64", "int64", (3,)),
    ("four_d", "float32", (2, 1, 2, 3)),
    ("scalar", "float32", ()),
    ("empty", "float32", (0, 3)),
]

# key: (value type, value, element type for arrays)
SCALARS = [
    ("test.u8", V.UINT8, 200),
    ("test.i8", V.INT8, -100),
    ("test.u16", V.UINT16, 60000),
    ("test.i16", V.INT16, -30000),
    ("test.u32", V.UINT32, 4000000000),
    ("test.i32", V.INT32, -2000000000),
    ("test.f32", V.FLOAT32, 0.1),
    ("test.bool", V.BOOL, True),
    ("test.string", V.STRING, "h\u00e9llo w\u00f6rld"),
    ("test.u64", V.UINT64, 2**63 + 5),
    ("test.i64", V.INT64, -(2**62) - 3),
    ("test.f64", V.FLOAT64, 2.718281828459045),
    ("test.empty_string", V.STRING, ""),
    ("test.small_i32", V.INT32, 7),
]
ARRAYS = [
    ("test.arr_u8", V.UINT8, [1, 2, 255]),
    ("test.arr_i8", V.INT8, [-128, 0, 127]),
    ("test.arr_u16", V.UINT16, [0, 65535]),
    ("test.arr_i16", V.INT16, [-32768, 32767]),
    ("test.arr_u32", V.UINT32, [0, 4294967295]),
    ("test.arr_i32", V.INT32, [-5, 6, -7, 8]),
    ("test.arr_f32", V.FLOAT32, [0.5, -1.25, 3.0e38]),
    ("test.arr_bool", V.BOOL, [True, False, True]),
    ("test.arr_string", V.STRING, ["a", "", "\u00fc"]),
    ("test.arr_u64", V.UINT64, [2**64 - 1, 0]),
    ("test.arr_i64", V.INT64, [-(2**63), 2**63 - 1]),
    ("test.arr_f64", V.FLOAT64, [1e-300, -0.0]),
    ("test.nested", V.ARRAY, [[1, 2, 3], [4], [5, 6]]),
    ("test.nested_strings", V.ARRAY, [["a", "b"], ["c"]]),
    ("test.deep", V.ARRAY, [[[1], [2, 3]], [[4]]]),
    ("tokenizer.ggml.tokens", V.STRING, ["<tok%d>" % i if i % 7 else "" for i in range(200)]),
]


def values(dtype, shape):
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    i = np.arange(n, dtype=np.int64)
    if dtype in ("float16", "float32", "float64"):
        a = ((i - 7) * 0.375).astype(dtype)
    elif dtype == "bfloat16":  # the top half of the f32 bits (the values are exact in bf16)
        a = (((i - 7) * 0.375).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    elif dtype == "int8":
        a = ((i * 37 + 11) % 256 - 128).astype(np.int8)
    elif dtype == "int16":
        a = ((i * 1237 + 11) % 65536 - 32768).astype(np.int16)
    elif dtype == "int32":
        a = (i * 123457 - 1000000).astype(np.int32)
    elif dtype == "int64":
        a = i * 1234567890123 - 2**40
    else:
        raise ValueError(dtype)
    return a.reshape(shape)


def write_all_types(path):
    w = gguf.GGUFWriter(path, arch=ARCH)
    for key, vt, v in SCALARS:
        w.add_key_value(key, v, vt)
    for key, et, v in ARRAYS:
        w.add_key_value(key, v, V.ARRAY, sub_type=et)
    for name, dtype, shape in TENSORS:
        a = values(dtype, shape)
        w.add_tensor(name, a, raw_dtype=Q.BF16 if dtype == "bfloat16" else None)
    finish(w)


def write_alignment64(path):
    w = gguf.GGUFWriter(path, arch=ARCH)
    w.add_custom_alignment(64)
    w.add_tensor("a", values("float32", (3,)))
    w.add_tensor("b", values("int8", (5,)))
    w.add_tensor("c", values("float16", (2, 3)))
    finish(w)


# the f16 fields of each block type that random bytes must not turn into NaN or huge scales:
# (byte offset, value)
SCALES = {
    Q.Q2_K: [(80, 0.01), (82, 0.005)],
    Q.Q3_K: [(108, 0.01)],
    Q.Q4_K: [(0, 0.01), (2, 0.005)],
    Q.Q5_K: [(0, 0.01), (2, 0.005)],
    Q.Q6_K: [(208, 0.01)],
    Q.IQ4_NL: [(0, 0.01)],
    Q.IQ4_XS: [(0, 0.01)],
}
QUANTIZED = [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0] + list(SCALES)


def write_quantized(path):
    rng = np.random.default_rng(20240611)
    src = rng.standard_normal((2, 256)).astype(np.float32)
    w = gguf.GGUFWriter(path, arch=ARCH)
    w.add_tensor("src", src)
    for qt in QUANTIZED:
        name = qt.name.lower().replace("_k", "_K")
        if qt in SCALES:
            block, size = gguf.GGML_QUANT_SIZES[qt]
            raw = rng.integers(0, 256, (2, 256 // block, size), dtype=np.uint8)
            for off, v in SCALES[qt]:
                raw[:, :, off:off + 2] = np.frombuffer(np.float16(v).tobytes(), np.uint8)
            raw = raw.reshape(2, -1)
        else:
            raw = gguf.quants.quantize(src, qt)
        w.add_tensor(name, raw, raw_dtype=qt)
        w.add_tensor(name + ".deq", gguf.quants.dequantize(raw, qt).astype(np.float32))
    finish(w)


def write_unsupported(path):
    w = gguf.GGUFWriter(path, arch=ARCH)
    w.add_tensor("weight", values("float32", (2, 2)))
    src = (np.arange(256, dtype=np.float32) / 128 - 1).reshape(1, 256)
    w.add_tensor("ternary", gguf.quants.quantize(src, Q.TQ1_0), raw_dtype=Q.TQ1_0)
    finish(w)


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---- --check: Born's files read by gguf-py ------------------------------------------------


def field_value(f):
    if f.types[0] != V.ARRAY:
        return f.contents()
    if len(f.types) > 2 or f.types[1] == V.ARRAY:  # gguf-py flattens nested arrays
        return None
    return f.contents()


def check_close(got, want, what):
    if isinstance(want, float):
        ok = np.float32(want) == np.float32(got) or want == got
    elif isinstance(want, list) and want and isinstance(want[0], float):
        ok = all(np.float32(a) == np.float32(b) for a, b in zip(got, want)) and len(got) == len(want)
    else:
        ok = got == want
    if not ok:
        sys.exit("%s: gguf-py reads %r, expected %r" % (what, got, want))


def check(directory):
    path = os.path.join(directory, "all_types.gguf")
    r = gguf.GGUFReader(path)
    for key, vt, v in SCALARS:
        f = r.get_field(key)
        if f is None or f.types[0] != vt:
            sys.exit("%s: key %s missing or of the wrong type" % (path, key))
        check_close(field_value(f), v, key)
    for key, et, v in ARRAYS:
        f = r.get_field(key)
        if f is None or f.types[0] != V.ARRAY or f.types[1] != et:
            sys.exit("%s: array %s missing or of the wrong type" % (path, key))
        got = field_value(f)
        if got is not None:
            check_close(got, v, key)
    by_name = {t.name: t for t in r.tensors}
    for name, dtype, shape in TENSORS:
        t = by_name[name]
        data = np.array(t.data)
        want = values(dtype, shape)
        if data.shape != want.shape or data.tobytes() != want.tobytes():
            sys.exit("%s: tensor %s differs (%s vs %s)" % (path, name, data.shape, want.shape))
    path = os.path.join(directory, "quantized.gguf")
    r = gguf.GGUFReader(path)
    by_name = {t.name: t for t in r.tensors}
    for qt in QUANTIZED:
        name = qt.name.lower().replace("_k", "_K")
        t = by_name[name]
        deq = gguf.quants.dequantize(np.array(t.data), qt)
        if t.tensor_type != qt or not np.array_equal(deq, np.array(by_name[name + ".deq"].data)):
            sys.exit("%s: %s does not dequantize to %s.deq" % (path, name, name))
    print("gguf-py reads Born's files in %s exactly" % directory)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        return
    if len(sys.argv) != 1:
        sys.exit("usage: gen_gguf_fixtures.py [--check DIR]")
    os.makedirs(OUT, exist_ok=True)
    write_all_types(os.path.join(OUT, "all_types.gguf"))
    write_alignment64(os.path.join(OUT, "alignment64.gguf"))
    write_quantized(os.path.join(OUT, "quantized.gguf"))
    write_unsupported(os.path.join(OUT, "unsupported.gguf"))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    if total > 100_000:
        sys.exit("the fixtures take %d bytes, more than 100 KB" % total)
    print("wrote %s (%d bytes)" % (OUT, total))


if __name__ == "__main__":
    main()
