#!/usr/bin/env python3
"""Writes the safetensors fixtures under tests/fixtures/safetensors/ with the reference
implementation (`pip install safetensors numpy`; run by hand from the repository root, then
commit the files). tests/io/test_safetensors.c reads them and checks:

  all_dtypes.safetensors   every dtype Born has (BOOL U8 I8 I16 F16 BF16 I32 F32 F64 I64, plus a
                           0-dim and an empty tensor), values from the formulas below, metadata
                           {"format": "pt"}: Born must read every value exactly, and Born's writer
                           must produce these very bytes from the same tensors.
  no_metadata.safetensors  one tensor and no "__metadata__": the same two checks.
  unsupported.safetensors  U16, U32 and F8_E4M3 tensors beside an F32 one: Born lists them and
                           loads only the F32 tensor.

The value formulas (mirrored in the C test): element i of a tensor (row-major)
  floating dtypes  (i - 7) * 0.375            (exact in f16 and bf16 too)
  i8   (i * 37 + 11) % 256 - 128       u8  (i * 37 + 11) % 256
  i16  (i * 1237 + 11) % 65536 - 32768 i32 i * 123457 - 1000000
  i64  i * 1234567890123 - 2**40       bool  i % 3 == 0

With --check-born FILE, it instead opens FILE (written by Born) with safetensors.safe_open, prints
the metadata and each tensor's name, dtype and shape, and loads every tensor numpy can hold, to
show that the reference reads Born's output.
"""
import os
import sys

import numpy as np
import safetensors
from safetensors import TensorSpec, serialize_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "safetensors")

# name: (dtype, shape)  -- the C test has the same table
TENSORS = {
    "bool": ("bool", (2, 3)),
    "u8": ("uint8", (16,)),
    "i8": ("int8", (7,)),
    "i16": ("int16", (2, 5)),
    "f16": ("float16", (3, 4)),
    "bf16": ("bfloat16", (2, 2, 3)),
    "i32": ("int32", (4, 1, 3)),
    "f32": ("float32", (2, 3, 4)),
    "f64": ("float64", (5,)),
    "i64": ("int64", (3,)),
    "scalar": ("float32", ()),
    "empty": ("float32", (0, 3)),
}


def values(dtype, shape):
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    i = np.arange(n, dtype=np.int64)
    if dtype in ("float16", "float32", "float64"):
        a = ((i - 7) * 0.375).astype(dtype)
    elif dtype == "bfloat16":  # the top half of the f32 bits (the values are exact in bf16)
        a = (((i - 7) * 0.375).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    elif dtype == "int8":
        a = ((i * 37 + 11) % 256 - 128).astype(np.int8)
    elif dtype == "uint8":
        a = ((i * 37 + 11) % 256).astype(np.uint8)
    elif dtype == "int16":
        a = ((i * 1237 + 11) % 65536 - 32768).astype(np.int16)
    elif dtype == "int32":
        a = (i * 123457 - 1000000).astype(np.int32)
    elif dtype == "int64":
        a = (i * 1234567890123 - 2**40).astype(np.int64)
    elif dtype == "bool":
        a = (i % 3 == 0)
    else:
        raise ValueError(dtype)
    return a.reshape(shape).astype(a.dtype.newbyteorder("<"), order="C")


def write(path, arrays, metadata):
    """arrays: name -> (safetensors dtype name as TensorSpec spells it, numpy array)"""
    specs = {name: TensorSpec(dtype=dt, shape=list(a.shape), data_ptr=a.ctypes.data,
                              data_len=a.nbytes) for name, (dt, a) in arrays.items()}
    serialize_file(specs, path, metadata=metadata)
    os.chmod(path, 0o644)  # the reference writes through a 0600 temporary file
    print("wrote", os.path.relpath(path), os.path.getsize(path), "bytes")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check-born":
        with safetensors.safe_open(sys.argv[2], "np") as f:
            print("metadata", f.metadata())
            for name in f.keys():
                info = f.get_slice(name)
                print(name, info.get_dtype(), info.get_shape())
                if info.get_dtype() != "BF16":  # numpy has no bfloat16
                    f.get_tensor(name)
        return
    os.makedirs(OUT, exist_ok=True)
    print("safetensors", safetensors.__version__, "numpy", np.__version__)
    keep = {name: (dt, values(dt, shape)) for name, (dt, shape) in TENSORS.items()}
    write(os.path.join(OUT, "all_dtypes.safetensors"), keep, {"format": "pt"})
    one = {"weight": ("float32", values("float32", (3, 2)))}
    write(os.path.join(OUT, "no_metadata.safetensors"), one, None)
    odd = {
        "a_u16": ("uint16", np.arange(6, dtype="<u2").reshape(2, 3)),
        "b_u32": ("uint32", np.arange(3, dtype="<u4")),
        "c_f8": ("float8_e4m3fn", np.arange(4, dtype=np.uint8)),
        "d_f32": ("float32", values("float32", (2, 2))),
    }
    write(os.path.join(OUT, "unsupported.safetensors"), odd, None)
    # the files must load back in the reference (BF16 and F8 have no numpy dtype: check by name)
    with safetensors.safe_open(os.path.join(OUT, "all_dtypes.safetensors"), "np") as f:
        assert sorted(f.keys()) == sorted(TENSORS), f.keys()
        assert f.metadata() == {"format": "pt"}
        for name, (dt, shape) in TENSORS.items():
            if dt != "bfloat16":
                assert (f.get_tensor(name) == keep[name][1]).all(), name


if __name__ == "__main__":
    main()
