#!/usr/bin/env python3
"""Reference fixtures for Born's op tests, computed by PyTorch.

Run by hand from the repository root:  python3 tools/gen_fixtures.py
It writes tests/fixtures/ops.bin, which tests/ops/test_fixtures.c replays through Born.

Every case names an op with a *spec* string that both this script (through `torch_apply`) and
the C test (through its dispatcher) interpret, so the two cannot drift apart:

    "<op> key=value key=value ..."       e.g. "sum dims=0,2 keepdim=1", "clamp alpha=-0.5 beta=0.5"

Inputs are always stored contiguous. A key `nc<i>=t` asks the C test to build input i as a
transposed view (a contiguous copy of its transpose, transposed back: same values, swapped
strides), `nc<i>=s` as a view with step 2 along the last dimension (every other element of a
buffer twice as wide, the gaps filled with a sentinel). torch computes on the plain values.

File format (all integers little-endian):

    magic      8 bytes  "BORNFIX1"
    version    u32      1
    count      u32      number of records
    record     count times:
        name      string              case name, unique ("unary/exp/f32")
        spec      string              op spec as above
        ntensors  u32
        tensor    ntensors times:
            name    string            see below
            dtype   u8                Born's born_dtype numbering (include/born/core.h)
            ndim    u8                0..8
            shape   i64 x ndim
            nbytes  u64               must equal numel x itemsize
            data    nbytes bytes      contiguous, row-major, little-endian; bool is one byte 0/1,
                                      f16/bf16 are their raw 16-bit patterns
    string = u32 length, then that many bytes (no terminator)

Tensor names: in0, in1, ... the op's inputs in argument order; out (and out1, ... for ops with
several outputs); gout, the upstream gradient (out's shape and dtype); grad0, grad1, ... the
gradient of sum(out * gout) with respect to input i, present exactly for the inputs the C test
must mark with born_requires_grad.

Reference values: torch runs every case natively (that fixes the result's dtype and shape),
then again with the f32/f16/bf16 inputs converted to f64; the stored outputs and gradients are
that f64 result rounded once to torch's dtype. torch's own low-precision kernels are sometimes
less exact than that (its f32 logsumexp gradient is off by 1e-5; its half kernels round
intermediates), and Born is measured against the exact answer rather than torch's rounding.

To add an op: teach `torch_apply` (below) and the C dispatcher (run_op in
tests/ops/test_fixtures.c) its spec, add cases in a `cases_<family>` function listed in
FAMILIES, add the family to FAMILIES in the C test, and rerun this script.
"""
import math
import os
import struct
import warnings

import numpy as np
import torch
import torch.nn.functional as F

MAGIC = b"BORNFIX1"
VERSION = 1
OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ops.bin")
MAX_BYTES = 1_500_000

# Born's born_dtype numbering (include/born/core.h) and names.
DTYPES = [
    ("f32", torch.float32), ("f64", torch.float64), ("f16", torch.float16), ("bf16", torch.bfloat16),
    ("i8", torch.int8), ("i16", torch.int16), ("i32", torch.int32), ("i64", torch.int64),
    ("u8", torch.uint8), ("bool", torch.bool),
]
DT = {name: dt for name, dt in DTYPES}
CODE = {dt: i for i, (_, dt) in enumerate(DTYPES)}
NAME = {dt: name for name, dt in DTYPES}
FLOATS = ["f32", "f64", "f16", "bf16"]
INTS = ["i8", "i16", "i32", "i64", "u8"]
ALL = FLOATS + INTS + ["bool"]
inf, nan = math.inf, math.nan

# ---------------------------------------------------------------------------------------------
# The spec interpreter: the torch side of every op.

UNARY = {
    "neg": torch.neg, "abs": torch.abs, "sign": torch.sign, "square": torch.square,
    "reciprocal": torch.reciprocal, "exp": torch.exp, "exp2": torch.exp2, "expm1": torch.expm1,
    "log": torch.log, "log2": torch.log2, "log1p": torch.log1p, "sqrt": torch.sqrt,
    "rsqrt": torch.rsqrt, "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "tanh": torch.tanh,
    "sigmoid": torch.sigmoid, "relu": torch.relu, "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu, "erf": torch.erf,
    "floor": torch.floor, "ceil": torch.ceil, "round": torch.round, "trunc": torch.trunc,
    "logical_not": torch.logical_not, "isnan": torch.isnan, "isinf": torch.isinf,
    "isfinite": torch.isfinite,
}
UNARY_PARAM = {  # (x, alpha, beta)
    "leaky_relu": lambda x, a, b: F.leaky_relu(x, a),
    "elu": lambda x, a, b: F.elu(x, a),
    "softplus": lambda x, a, b: F.softplus(x, a, b),
    "clamp": lambda x, a, b: torch.clamp(x, *clamp_bounds(x, a, b)),
    "pow_scalar": lambda x, a, b: torch.pow(x, float(a)),
}
BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
    "floor_divide": torch.floor_divide, "remainder": torch.remainder, "fmod": torch.fmod,
    "pow": torch.pow, "minimum": torch.minimum, "maximum": torch.maximum, "atan2": torch.atan2,
    "eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge,
    "logical_and": torch.logical_and, "logical_or": torch.logical_or,
    "logical_xor": torch.logical_xor,
}
# Born's named scalar functions: op(t, s) with s a Python float.
SCALAR = {
    "add_scalar": lambda x, s: x + s, "sub_scalar": lambda x, s: x - s,
    "rsub_scalar": lambda x, s: s - x, "mul_scalar": lambda x, s: x * s,
    "div_scalar": lambda x, s: x / s, "eq_scalar": lambda x, s: x == s,
    "ne_scalar": lambda x, s: x != s, "lt_scalar": lambda x, s: x < s,
    "le_scalar": lambda x, s: x <= s, "gt_scalar": lambda x, s: x > s,
    "ge_scalar": lambda x, s: x >= s,
}


def clamp_bounds(x, a, b):
    lo = None if a == -inf else a
    hi = None if b == inf else b
    if not x.is_floating_point():  # Born keeps the dtype: integer-valued bounds only
        lo = None if lo is None else int(lo)
        hi = None if hi is None else int(hi)
    return lo, hi


def parse_spec(spec):
    words = spec.split()
    args = {}
    for w in words[1:]:
        k, v = w.split("=", 1)
        args[k] = v
    return words[0], args


def ints(v):
    return [int(s) for s in v.split(",")] if v else []


def reduce_dims(x, args):
    dims = ints(args.get("dims", ""))
    return tuple(dims) if dims else tuple(range(x.dim()))


def multi_dim(fn, x, dims, keepdim):
    """fn(x, dim, keepdim=True) applied over several dims, for torch ops that take one."""
    if x.dim() == 0:
        return fn(x, 0, keepdim=True).reshape(())
    dims = sorted(d % x.dim() for d in dims)
    for d in dims:
        x = fn(x, d, keepdim=True)
    if not keepdim:
        for d in reversed(dims):
            x = x.squeeze(d)
    return x


def torch_apply(spec, xs):
    """Runs the op named by spec on the torch tensors xs; returns a tensor or a tuple."""
    op, a = parse_spec(spec)
    f = lambda k, d=0.0: float(a.get(k, d))
    i = lambda k, d=0: int(a.get(k, d))
    keep = bool(i("keepdim"))
    if op in UNARY:
        x = xs[0]
        if op in FLOAT_UNARY and not x.is_floating_point():
            x = x.float()  # Born's rule (torch's too, where torch accepts integers at all)
        return UNARY[op](x)
    if op in UNARY_PARAM:
        return UNARY_PARAM[op](xs[0], f("alpha"), f("beta"))
    if op in BINARY:
        return BINARY[op](xs[0], xs[1])
    if op in SCALAR:
        return SCALAR[op](xs[0], f("s"))
    if op == "binary_scalar":
        return BINARY[a["op"]](xs[0], f("s"))
    if op == "where":
        return torch.where(xs[0], xs[1], xs[2])
    if op == "masked_fill":
        v = f("value")
        return xs[0].masked_fill(xs[1], v if xs[0].is_floating_point() else int(v))
    x = xs[0]
    if op == "sum":
        return torch.sum(x, dim=reduce_dims(x, a), keepdim=keep)
    if op == "mean":
        return torch.mean(x, dim=reduce_dims(x, a), keepdim=keep)
    if op == "prod":
        return multi_dim(torch.prod, x, reduce_dims(x, a), keep)
    if op == "max":
        return torch.amax(x, dim=reduce_dims(x, a), keepdim=keep)
    if op == "min":
        return torch.amin(x, dim=reduce_dims(x, a), keepdim=keep)
    if op in ("var", "std"):
        fn = torch.var if op == "var" else torch.std
        return fn(x, dim=reduce_dims(x, a), correction=i("correction", 1), keepdim=keep)
    if op == "logsumexp":
        return torch.logsumexp(x, dim=reduce_dims(x, a), keepdim=keep)
    if op in ("any", "all"):
        # torch gives u8 for u8 inputs (a legacy rule); Born always gives bool
        fn = torch.any if op == "any" else torch.all
        return fn(x, dim=reduce_dims(x, a), keepdim=keep).bool()
    if op in ("argmax", "argmin"):
        fn = torch.argmax if op == "argmax" else torch.argmin
        return fn(x, dim=i("dim"), keepdim=keep)
    if op in ("argmax_all", "argmin_all"):
        return (torch.argmax if op == "argmax_all" else torch.argmin)(x)
    if op == "softmax":
        return torch.softmax(x, i("dim"))
    if op == "log_softmax":
        return torch.log_softmax(x, i("dim"))
    if op == "cumsum":
        return torch.cumsum(x, i("dim"))
    # views and copies
    if op == "view":
        return x.view(ints(a["shape"]))
    if op == "reshape":
        return x.reshape(ints(a["shape"]))
    if op == "permute":
        return x.permute(ints(a["dims"]))
    if op == "transpose":
        return x.transpose(i("dim0"), i("dim1"))
    if op == "slice":
        idx = (slice(None),) * (i("dim") % x.dim()) + (slice(i("start"), i("end"), i("step")),)
        return x[idx]
    if op == "narrow":
        return x.narrow(i("dim"), i("start"), i("length"))
    if op == "select":
        return x.select(i("dim"), i("index"))
    if op == "expand":
        return x.expand(ints(a["shape"]))
    if op == "squeeze":
        return x.squeeze(i("dim"))
    if op == "squeeze_all":
        return x.squeeze()
    if op == "unsqueeze":
        return x.unsqueeze(i("dim"))
    if op == "flatten":
        return torch.flatten(x, i("start"), i("end"))
    if op == "contiguous":
        return x.contiguous()
    if op == "clone":
        return x.clone()
    if op == "to_dtype":
        return x.to(DT[a["dtype"]])
    # joining, splitting, indexing
    if op == "cat":
        return torch.cat(xs, dim=i("dim"))
    if op == "stack":
        return torch.stack(xs, dim=i("dim"))
    if op == "chunk":
        return tuple(torch.chunk(x, i("chunks"), i("dim")))
    if op == "split":
        return tuple(torch.split(x, i("size"), i("dim")))
    if op == "gather":
        return torch.gather(x, i("dim"), xs[1])
    if op == "scatter_add":
        return torch.scatter_add(x, i("dim"), xs[1], xs[2])
    if op == "index_select":
        return torch.index_select(x, i("dim"), xs[1])
    if op == "embedding":
        return F.embedding(xs[1], x)
    if op == "one_hot":
        return F.one_hot(x, i("num_classes", -1))
    if op == "pad":
        return F.pad(x, ints(a["pad"]), value=f("value"))
    if op == "tril":
        return torch.tril(x, i("k"))
    if op == "triu":
        return torch.triu(x, i("k"))
    # linear algebra (torch.matmul refuses mixed dtypes; Born promotes, so cases use one dtype)
    if op == "matmul":
        return torch.matmul(x, xs[1])
    if op == "mm":
        return torch.mm(x, xs[1])
    if op == "bmm":
        return torch.bmm(x, xs[1])
    if op == "linear":
        return F.linear(x, xs[1], xs[2] if len(xs) > 2 else None)
    if op == "outer":
        return torch.outer(x, xs[1])
    # convolution and pooling
    pair = lambda k, d: tuple(ints(a[k])) if k in a else d
    if op == "conv2d":
        return F.conv2d(x, xs[1], xs[2] if len(xs) > 2 else None, stride=pair("stride", (1, 1)),
                        padding=pair("padding", (0, 0)), dilation=pair("dilation", (1, 1)),
                        groups=i("groups", 1))
    if op in ("max_pool2d", "max_pool2d_with_indices"):
        stride = pair("stride", (0, 0))
        return F.max_pool2d(x, pair("kernel", None), stride if stride != (0, 0) else None,
                            pair("padding", (0, 0)), pair("dilation", (1, 1)),
                            ceil_mode=bool(i("ceil_mode")),
                            return_indices=op == "max_pool2d_with_indices")
    if op == "avg_pool2d":
        stride = pair("stride", (0, 0))
        return F.avg_pool2d(x, pair("kernel", None), stride if stride != (0, 0) else None,
                            pair("padding", (0, 0)), ceil_mode=bool(i("ceil_mode")),
                            count_include_pad=bool(i("count_include_pad", 1)),
                            divisor_override=i("divisor_override") or None)
    # sorting
    if op == "sort":
        v, idx = torch.sort(x, dim=i("dim", -1), descending=bool(i("descending")), stable=True)
        return v, idx
    if op == "argsort":
        return torch.argsort(x, dim=i("dim", -1), descending=bool(i("descending")), stable=True)
    if op == "topk":
        v, idx = torch.topk(x, i("k"), dim=i("dim", -1), largest=bool(i("largest", 1)), sorted=True)
        return v, idx
    raise ValueError(f"unknown op in spec {spec!r}")


# ---------------------------------------------------------------------------------------------
# Values

gen = torch.Generator().manual_seed(20240611)


def rand(shape, dtype="f32", lo=-2.0, hi=2.0):
    """Uniform values in [lo, hi) for floats, integers in [lo, hi] otherwise, as dtype."""
    dt = DT[dtype]
    if dtype == "bool":
        return torch.randint(0, 2, shape, generator=gen).bool()
    if dtype in INTS:
        return torch.randint(int(lo), int(hi) + 1, shape, generator=gen).to(dt)
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo).to(dt)


def tensor(values, dtype):
    return torch.tensor(values, dtype=torch.float64).to(DT[dtype]) if dtype != "bool" \
        else torch.tensor(values).bool()


def away_from_zero(shape, dtype="f32", lo=0.3, hi=2.0):
    """Values with |x| in [lo, hi): safe divisors."""
    mag = rand(shape, "f64", lo, hi)
    sign = torch.where(rand(shape, "bool"), 1.0, -1.0).to(torch.float64)
    return (mag * sign).to(DT[dtype])


def int_nonzero(shape, dtype, lo=-9, hi=9):
    x = rand(shape, "i64", lo, hi)
    x = torch.where(x == 0, torch.ones_like(x), x)
    if dtype == "u8":
        x = x.abs()
    return x.to(DT[dtype])


# ---------------------------------------------------------------------------------------------
# Records

records = []
names = set()


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
    elif t.dtype == torch.bool:
        raw = t.numpy().astype(np.uint8).tobytes()
    else:
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
    return raw


UPCAST = (torch.float32, torch.float16, torch.bfloat16)


def run_torch(spec, inputs, grad, gout=None):
    """Runs spec on copies of inputs, differentiating sum(out * gout) with respect to the inputs
    listed in grad (gout is made when not given). Returns outputs, gout, [(index, gradient)]."""
    xs = [x.detach().clone() for x in inputs]
    for i in grad:
        xs[i].requires_grad_(True)
    out = torch_apply(spec, xs)
    outs = list(out) if isinstance(out, tuple) else [out]
    grads = []
    if grad and outs[0].is_floating_point() and outs[0].requires_grad:
        if gout is None:
            gout = rand(tuple(outs[0].shape), "f64", -1.0, 1.0).to(outs[0].dtype)
        got = torch.autograd.grad(outs[0], [xs[i] for i in grad], gout.to(outs[0].dtype),
                                  allow_unused=True)
        grads = [(i, g if g is not None else torch.zeros_like(xs[i])) for i, g in zip(grad, got)]
    return [o.detach() for o in outs], gout, grads


def add(name, spec, inputs, grad=None, layout=None):
    """One case: runs spec on inputs with torch and stores inputs, outputs and gradients.

    grad: indices of inputs to differentiate (default: every floating input when the first output
    is floating). layout: {input index: 't' or 's'} for non-contiguous inputs in the C test."""
    assert name not in names, name
    names.add(name)
    if layout:
        spec += "".join(f" nc{i}={v}" for i, v in sorted(layout.items()))
        for i, v in layout.items():
            assert inputs[i].dim() >= (2 if v == "t" else 1), name
    if grad is None:
        grad = [i for i, x in enumerate(inputs) if x.is_floating_point()]
    outs, gout, grads = run_torch(spec, inputs, grad)
    if any(t.dtype in UPCAST for t in inputs + outs):
        # The reference values are the op computed in f64 on the same inputs and rounded once to
        # the result's dtype: torch's own f32/f16/bf16 kernels are sometimes less exact than
        # that (its f32 logsumexp gradient is off by 1e-5, its half kernels round
        # intermediates), and Born is measured against the exact value, not torch's rounding
        # errors. Dtypes and shapes still come from torch's native run above.
        up = [x.double() if x.dtype in UPCAST else x for x in inputs]
        outs_up, _, grads_up = run_torch(spec, up, grad if grads else [], gout)
        assert [o.shape for o in outs_up] == [o.shape for o in outs], name
        outs = [o.to(n.dtype) for o, n in zip(outs_up, outs)]
        grads = [(i, g.to(inputs[i].dtype)) for i, g in grads_up]
    tensors = [(f"in{i}", x) for i, x in enumerate(inputs)]
    tensors += [("out" if k == 0 else f"out{k}", o.detach()) for k, o in enumerate(outs)]
    if grads:
        tensors.append(("gout", gout))
        tensors += [(f"grad{i}", g) for i, g in grads]
    records.append((name, spec, tensors))


def pack_string(s):
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def write(path):
    parts = [MAGIC, struct.pack("<II", VERSION, len(records))]
    for name, spec, tensors in records:
        parts += [pack_string(name), pack_string(spec), struct.pack("<I", len(tensors))]
        for tname, t in tensors:
            raw = tensor_bytes(t)
            parts += [pack_string(tname), struct.pack("<BB", CODE[t.dtype], t.dim())]
            parts += [struct.pack("<q", s) for s in t.shape]
            parts += [struct.pack("<Q", len(raw)), raw]
    data = b"".join(parts)
    assert len(data) < MAX_BYTES, f"fixture file too large: {len(data)} bytes"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return len(data)


# ---------------------------------------------------------------------------------------------
# Cases, by family

# Value ranges that keep each unary op in its domain (and away from kinks for gradients).
UNARY_DOMAIN = {
    "log": (0.1, 4.0), "log2": (0.1, 4.0), "sqrt": (0.1, 4.0), "rsqrt": (0.1, 4.0),
    "log1p": (-0.8, 3.0), "tan": (-1.2, 1.2), "exp": (-3.0, 3.0), "exp2": (-3.0, 3.0),
    "expm1": (-3.0, 3.0),
}
FLOAT_UNARY = ["exp", "exp2", "expm1", "log", "log2", "log1p", "sqrt", "rsqrt", "sin", "cos", "tan",
               "tanh", "sigmoid", "gelu", "gelu_tanh", "silu", "erf", "reciprocal"]
KEEP_UNARY = ["neg", "abs", "sign", "square", "relu"]
ROUNDING = ["floor", "ceil", "round", "trunc"]
PREDICATES = ["isnan", "isinf", "isfinite"]
SPECIALS = [nan, inf, -inf, -0.0, 0.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.7, -3.7, 1e-3, 1e30]


def unary_input(op, shape, dtype):
    if op == "reciprocal":
        return away_from_zero(shape, dtype)
    lo, hi = UNARY_DOMAIN.get(op, (-3.0, 3.0))
    return rand(shape, dtype, lo, hi)


def cases_unary():
    for op in FLOAT_UNARY + KEEP_UNARY + ROUNDING:
        x = unary_input(op, (7,), "f32")
        if op in KEEP_UNARY + ROUNDING:  # keep away from the kinks at integers and zero
            x = x + 0.05 * torch.sign(x)
            x = torch.where((x - x.round()).abs() < 0.05, x + 0.1, x)
        add(f"unary/{op}/f32", op, [x])
        add(f"unary/{op}/f64_transposed", op, [unary_input(op, (3, 5), "f64")], layout={0: "t"})
        add(f"unary/{op}/f16_step", op, [unary_input(op, (13,), "f16")], layout={0: "s"})
        add(f"unary/{op}/bf16", op, [unary_input(op, (2, 7), "bf16")])
    for op in FLOAT_UNARY:  # integers and bool compute in f32
        lo, hi = (1, 5) if op in ("log", "log2", "sqrt", "rsqrt", "reciprocal") else (-3, 3)
        add(f"unary/{op}/i32", op, [rand((2, 5), "i32", lo, hi)])
        add(f"unary/{op}/u8", op, [rand((6,), "u8", max(lo, 0), hi + 3)])
    add("unary/exp/bool", "exp", [rand((5,), "bool")])
    add("unary/sigmoid/i64_0dim", "sigmoid", [torch.tensor(2, dtype=torch.int64)])
    for op in KEEP_UNARY:  # integers keep their dtype (u8 and i8 wrap)
        for dt in INTS:
            lo, hi = (0, 255) if dt == "u8" else (-128, 127) if dt == "i8" else (-1000, 1000)
            add(f"unary/{op}/{dt}", op, [rand((9,), dt, lo, hi)])
    for op in ROUNDING + PREDICATES:
        for dt in INTS + ([] if op in ROUNDING else ["bool"]):  # torch: no floor(bool)
            add(f"unary/{op}/{dt}", op, [rand((5,), dt, 0 if dt == "u8" else -50, 50)])
    for op in ROUNDING + PREDICATES + ["abs", "neg", "sign", "relu", "sqrt", "exp", "sigmoid",
                                       "tanh", "logical_not"]:
        for dt in FLOATS:
            add(f"unary/{op}/{dt}_specials", op, [tensor(SPECIALS, dt)], grad=[])
    for dt in ALL:
        add(f"unary/logical_not/{dt}", "logical_not", [rand((2, 3), dt, 0 if dt == "u8" else -2, 2)])
    # scalar and empty inputs
    add("unary/exp/0dim", "exp", [torch.tensor(0.75)])
    add("unary/tanh/empty", "tanh", [torch.zeros(0, 3)])
    add("unary/gelu/odd_13x7", "gelu", [rand((13, 7), "f32", -4, 4)], layout={0: "t"})
    # parametrised
    param_cases = [
        ("leaky_relu", "alpha=0.01", (-3, 3)), ("leaky_relu", "alpha=0.2", (-3, 3)),
        ("elu", "alpha=1", (-3, 3)), ("elu", "alpha=0.5", (-3, 3)),
        ("softplus", "alpha=1 beta=20", (-3, 3)), ("softplus", "alpha=2 beta=1", (-3, 3)),
        ("softplus", "alpha=0.5 beta=0.75", (-3, 3)),
        ("clamp", "alpha=-0.5 beta=0.5", (-2, 2)), ("clamp", "alpha=-inf beta=0.3", (-2, 2)),
        ("clamp", "alpha=0.2 beta=inf", (-2, 2)),
        ("pow_scalar", "alpha=2", (-2, 2)), ("pow_scalar", "alpha=3", (-2, 2)),
        ("pow_scalar", "alpha=0.5", (0.1, 3)), ("pow_scalar", "alpha=-1.5", (0.2, 3)),
        ("pow_scalar", "alpha=0", (-2, 2)),
    ]
    for k, (op, params, (lo, hi)) in enumerate(param_cases):
        spec = f"{op} {params}"
        x = rand((11,), "f32", lo, hi)
        if op in ("leaky_relu", "elu", "clamp"):
            x = torch.where((x.abs() < 0.05) | ((x - 0.5).abs() < 0.05) | ((x + 0.5).abs() < 0.05)
                            | ((x - 0.3).abs() < 0.05) | ((x - 0.2).abs() < 0.05), x + 0.11, x)
        add(f"unary/{op}/{k}/f32", spec, [x])
        add(f"unary/{op}/{k}/f64_transposed", spec, [rand((4, 3), "f64", lo, hi)], layout={0: "t"})
        add(f"unary/{op}/{k}/f16", spec, [rand((6,), "f16", lo, hi)])
        add(f"unary/{op}/{k}/bf16_step", spec, [rand((2, 5), "bf16", lo, hi)], layout={0: "s"})
    # clamp keeps integer dtypes (integer bounds); pow_scalar on integers computes in f32
    for dt in INTS:
        lo, hi = (0, 20) if dt == "u8" else (-20, 20)
        add(f"unary/clamp/{dt}", "clamp alpha=3 beta=11", [rand((9,), dt, lo, hi)])
        add(f"unary/clamp_min/{dt}", "clamp alpha=5 beta=inf", [rand((9,), dt, lo, hi)])
    add("unary/pow_scalar/i32", "pow_scalar alpha=2", [rand((5,), "i32", -5, 5)])
    add("unary/clamp/f32_nan", "clamp alpha=-1 beta=1", [tensor([nan, -3, 3, 0.5], "f32")], grad=[])


def cases_binary():
    arith = ["add", "sub", "mul", "div", "remainder", "fmod", "floor_divide", "pow", "minimum",
             "maximum", "atan2"]
    compare = ["eq", "ne", "lt", "le", "gt", "ge"]
    logical = ["logical_and", "logical_or", "logical_xor"]

    def operands(op, sa, sb, dt):
        if op == "pow":
            return rand(sa, dt, 0.2, 2.5), rand(sb, dt, -2, 2)
        if op in ("div", "remainder", "fmod", "floor_divide"):
            return rand(sa, dt, -4, 4), away_from_zero(sb, dt, 0.3, 2)
        if op in ("minimum", "maximum"):  # a few ties share the gradient
            a, b = rand(sa, dt), rand(sb, dt)
            if a.shape == b.shape:
                b.view(-1)[::3] = a.view(-1)[::3]
            return a, b
        return rand(sa, dt), rand(sb, dt)

    for op in arith + compare + logical:
        g = [] if op == "floor_divide" else None  # torch has no derivative for floor_divide
        a, b = operands(op, (3, 4), (3, 4), "f32")
        add(f"binary/{op}/f32", op, [a, b], grad=g)
        a, b = operands(op, (2, 3), (3,), "f32")
        add(f"binary/{op}/bcast_2x3_3", op, [a, b], grad=g)
        a, b = operands(op, (4, 1, 3), (2, 1), "f64")
        add(f"binary/{op}/bcast_4x1x3_2x1_f64", op, [a, b], grad=g)
        a, b = operands(op, (), (5,), "f32")
        add(f"binary/{op}/bcast_0dim_5", op, [a, b], grad=g)
        a, b = operands(op, (5, 3), (5, 3), "f64")
        add(f"binary/{op}/f64_nc", op, [a, b], grad=g, layout={0: "t", 1: "s"})
        a, b = operands(op, (13,), (13,), "f16")
        add(f"binary/{op}/f16", op, [a, b], grad=g)
        a, b = operands(op, (7, 2), (2,), "bf16")
        add(f"binary/{op}/bf16_bcast", op, [a, b], grad=g, layout={0: "s"})
    # integers: arithmetic wraps, division rounds toward -inf, remainder takes the divisor's sign
    for dt in INTS:
        lo = 0 if dt == "u8" else -50
        for op in ["add", "sub", "mul", "minimum", "maximum"] + compare:
            add(f"binary/{op}/{dt}", op, [rand((2, 5), dt, lo, 50), rand((5,), dt, lo, 50)])
        for op in ["floor_divide", "remainder", "fmod"]:
            add(f"binary/{op}/{dt}", op, [rand((2, 6), dt, lo, 50), int_nonzero((6,), dt)])
        add(f"binary/div/{dt}", "div", [rand((6,), dt, lo, 50), int_nonzero((6,), dt)])
        add(f"binary/pow/{dt}", "pow", [rand((6,), dt, 0 if dt == "u8" else -3, 3), rand((6,), dt, 0, 3)])
        add(f"binary/atan2/{dt}", "atan2", [rand((6,), dt, lo, 5), rand((6,), dt, lo, 5)])
    add("binary/add/i32_wraps", "add", [tensor([2147483647, -2147483648], "i32"), tensor([1, -1], "i32")])
    add("binary/mul/i8_wraps", "mul", [tensor([100, -100, 127], "i8"), tensor([3, 3, 2], "i8")])
    # bool arithmetic: add/maximum are "or", mul/minimum are "and"
    for op in ["add", "mul", "minimum", "maximum"] + compare + logical:
        add(f"binary/{op}/bool", op, [tensor([0, 0, 1, 1], "bool"), tensor([0, 1, 0, 1], "bool")])
    # logical ops on numbers (nonzero is true, nan is true)
    for op in logical:
        add(f"binary/{op}/f32_i32", op, [tensor([0, nan, 2.5, -0.0, 1], "f32"), tensor([3, 0, 0, 1, 7], "i32")])
        add(f"binary/{op}/u8_bool", op, [tensor([0, 4, 0, 9], "u8"), tensor([1, 1, 0, 0], "bool")])
    # special values
    sa = [nan, 1.0, -inf, inf, 0.0, -0.0, 2.0, -3.5, 7.0, -7.0, 7.0, -7.0, 7.0, nan, 0.0, -0.0,
          -8.0, inf, 1.0, 0.5]
    sb = [1.0, nan, inf, inf, -0.0, 0.0, 2.0, 1.5, -2.0, 2.0, inf, inf, -inf, 0.0, -1.0, -1.0,
          1.0 / 3, -inf, inf, -inf]
    for op in arith + compare:
        for dt in ["f32", "f64"]:
            add(f"binary/{op}/{dt}_specials", op, [tensor(sa, dt), tensor(sb, dt)], grad=[])
    # floor division and remainders with negative operands and exact multiples
    fa = [7.0, -7.0, 7.0, -7.0, 6.0, -6.0, 0.5, -0.5, 5.25]
    fb = [2.0, 2.0, -2.0, -2.0, 3.0, 3.0, 0.25, 0.25, -1.75]
    for op in ["floor_divide", "remainder", "fmod", "div"]:
        add(f"binary/{op}/f32_signs", op, [tensor(fa, "f32"), tensor(fb, "f32")], grad=[])
        add(f"binary/{op}/i64_signs", op, [tensor(fa[:6], "i64"), tensor(fb[:6], "i64")])
    # integer powers wrap like repeated multiplication
    add("binary/pow/i8_wraps", "pow", [tensor([2, 3, -2, 5, 1, -1], "i8"), tensor([7, 5, 7, 4, 100, 101], "i8")])
    add("binary/pow/i64_wraps", "pow", [tensor([3, 7, -3, 2], "i64"), tensor([41, 23, 39, 62], "i64")])
    add("binary/add/empty_bcast", "add", [torch.zeros(0, 3), rand((3,))])
    add("binary/mul/empty_i32", "mul", [torch.zeros(2, 0, dtype=torch.int32), rand((1,), "i32", -3, 3)])
    # pow: negative bases with integer exponents (gradient for the base only)
    add("binary/pow/f32_negative_base", "pow",
        [tensor([-2.0, -1.5, -0.5, 3.0], "f32"), tensor([2.0, 3.0, -1.0, 0.0], "f32")], grad=[0])
    # type promotion
    promos = [
        ("i32_f16", rand((4,), "i32", -5, 5), rand((4,), "f16")),
        ("u8_i8", rand((4,), "u8", 0, 200), rand((4,), "i8", -100, 100)),
        ("bool_i64", rand((4,), "bool"), rand((4,), "i64", -9, 9)),
        ("f16_bf16", rand((4,), "f16"), rand((4,), "bf16")),
        ("i16_i32", rand((4,), "i16", -300, 300), rand((4,), "i32", -9, 9)),
        ("u8_bool", rand((4,), "u8", 0, 9), rand((4,), "bool")),
        ("i64_f32", rand((4,), "i64", -9, 9), rand((4,), "f32")),
        ("f32_f64", rand((4,), "f32"), rand((4,), "f64")),
        ("i8_f64", rand((4,), "i8", -9, 9), rand((4,), "f64")),
        ("0dim_f64_with_f32", torch.tensor(1.25, dtype=torch.float64), rand((4,), "f32")),
        ("0dim_i64_with_i8", torch.tensor(3), rand((4,), "i8", -9, 9)),
        ("0dim_f32_with_i32", torch.tensor(0.5), rand((4,), "i32", -9, 9)),
        ("0dim_f64_with_i32", torch.tensor(0.5, dtype=torch.float64), rand((4,), "i32", -9, 9)),
        ("0dim_f16_with_bf16", torch.tensor(0.5, dtype=torch.float16), rand((4,), "bf16")),
        ("0dim_i32_with_bool", torch.tensor(3, dtype=torch.int32), rand((4,), "bool")),
        ("0dim_f32_with_0dim_i64", torch.tensor(2.5), torch.tensor(3)),
        ("0dim_bool_with_u8", torch.tensor(True), rand((4,), "u8", 0, 9)),
    ]
    for name, a, b in promos:
        for op in ["add", "mul", "lt"]:
            add(f"binary/promote/{op}/{name}", op, [a, b])
            add(f"binary/promote/{op}/{name}_swapped", op, [b, a])
        add(f"binary/promote/div/{name}", "div", [a, b.abs() + 1 if b.dtype != torch.bool else b.int() + 1])
    # scalar forms: the scalar acts as a Python float
    for fn in SCALAR:
        for dt, s in [("f32", 1.5), ("f64", -0.25), ("f16", 0.5), ("bf16", 2.0), ("i32", 2.5),
                      ("i64", -3.0), ("u8", 0.5), ("bool", 1.0)]:
            if dt == "bool" and fn in ("sub_scalar", "rsub_scalar"):
                continue  # torch refuses '-' on bool tensors
            x = rand((2, 3), dt, 0 if dt == "u8" else -4, 4)
            add(f"binary/{fn}/{dt}", f"{fn} s={s!r}", [x])
        add(f"binary/{fn}/f32_transposed", f"{fn} s=0.75", [rand((3, 4), "f32")], layout={0: "t"})
    for op, s in [("remainder", 1.5), ("fmod", -1.25), ("floor_divide", 0.75), ("pow", 2.0),
                  ("pow", 0.5), ("sub", 3.0), ("add", -1.0)]:
        g = [] if op == "floor_divide" else None
        lo = 0.1 if op == "pow" else -4
        add(f"binary/binary_scalar/{op}/{s}/f32", f"binary_scalar op={op} s={s!r}", [rand((6,), "f32", lo, 4)], grad=g)
        add(f"binary/binary_scalar/{op}/{s}/i32", f"binary_scalar op={op} s={s!r}", [rand((6,), "i32", 1, 9)])
    # where and masked_fill
    add("where/f32", "where", [rand((3, 4), "bool"), rand((3, 4)), rand((3, 4))])
    add("where/bcast", "where", [rand((3, 1), "bool"), rand((4,)), rand((2, 3, 4), "f64")])
    add("where/0dim_b", "where", [rand((5,), "bool"), rand((5,), "f32"), torch.tensor(-1.0)])
    add("where/mixed_i32_f32", "where", [rand((6,), "bool"), rand((6,), "i32", -9, 9), rand((6,))])
    add("where/i64_u8", "where", [rand((6,), "bool"), rand((6,), "i64", -9, 9), rand((6,), "u8", 0, 9)])
    add("where/f16_nc", "where", [rand((4, 3), "bool"), rand((4, 3), "f16"), rand((4, 3), "f16")],
        layout={0: "t", 1: "s", 2: "t"})
    add("where/bool", "where", [rand((5,), "bool"), rand((5,), "bool"), rand((5,), "bool")])
    add("masked_fill/f32", "masked_fill value=-1.5", [rand((3, 4)), rand((4,), "bool")])
    add("masked_fill/f64_nc", "masked_fill value=inf", [rand((3, 4), "f64"), rand((3, 4), "bool")],
        layout={0: "t"})
    add("masked_fill/bf16", "masked_fill value=0.25", [rand((5,), "bf16"), rand((5,), "bool")])
    add("masked_fill/i32", "masked_fill value=7", [rand((2, 3), "i32", -9, 9), rand((2, 1), "bool")])
    add("masked_fill/u8", "masked_fill value=200", [rand((4,), "u8", 0, 9), rand((4,), "bool")])
    add("masked_fill/bool", "masked_fill value=1", [rand((4,), "bool"), rand((4,), "bool")])


def cases_reduce():
    x3 = lambda dt="f32", lo=-2, hi=2: rand((3, 4, 5), dt, lo, hi)
    dim_sets = [("", "all"), ("dims=1", "d1"), ("dims=0,2", "d02"), ("dims=-1", "dm1"),
                ("dims=2,0,1", "d201")]
    for op in ["sum", "mean", "prod", "max", "min", "logsumexp", "var", "std"]:
        for dims, tag in dim_sets:
            for keep in (0, 1):
                extra = " correction=1" if op in ("var", "std") else ""
                spec = f"{op} {dims} keepdim={keep}{extra}".replace("  ", " ")
                lo, hi = (0.5, 1.5) if op == "prod" else (-2, 2)
                add(f"reduce/{op}/{tag}/k{keep}/f32", spec, [x3("f32", lo, hi)])
        add(f"reduce/{op}/f64_transposed", f"{op} dims=0 keepdim=0", [rand((5, 7), "f64", 0.5, 1.5)],
            layout={0: "t"})
        add(f"reduce/{op}/f16_step", f"{op} dims=1 keepdim=1", [rand((3, 13), "f16", 0.5, 1.5)],
            layout={0: "s"})
        add(f"reduce/{op}/bf16", f"{op} dims=0 keepdim=0", [rand((6, 2), "bf16", 0.5, 1.5)])
        add(f"reduce/{op}/0dim", f"{op} keepdim=0", [torch.tensor(1.25)])
        add(f"reduce/{op}/odd_13x7", f"{op} dims=1 keepdim=0", [rand((13, 7), "f32", 0.5, 1.5)],
            layout={0: "t"})
    for op in ["var", "std"]:
        for c in (0, 1, 2):
            add(f"reduce/{op}/correction{c}", f"{op} dims=1 correction={c} keepdim=0", [rand((3, 6))])
            add(f"reduce/{op}/correction{c}/all_f64", f"{op} correction={c} keepdim=1", [rand((2, 5), "f64")])
    # integers: sum and prod give i64, max and min keep the dtype
    for dt in INTS + ["bool"]:
        lo, hi = (0, 5) if dt in ("u8", "bool") else (-5, 5)
        for op in ["sum", "prod", "max", "min"]:
            if dt == "bool" and op in ("max", "min"):
                continue
            add(f"reduce/{op}/{dt}", f"{op} dims=1 keepdim=0", [rand((3, 4), dt, lo, hi)])
            add(f"reduce/{op}/{dt}/all", f"{op} keepdim=0", [rand((3, 4), dt, lo, hi)])
    # prod with zeros (one zero in a slice, two zeros in a slice)
    add("reduce/prod/zeros", "prod dims=1 keepdim=0",
        [tensor([[1.5, 0.0, 2.0, -1.0], [0.0, 3.0, 0.0, 2.0], [1.0, 2.0, 3.0, 4.0]], "f32")])
    add("reduce/prod/zeros_all", "prod keepdim=0", [tensor([1.5, 0.0, 2.0, -1.0], "f64")])
    # max/min ties share the gradient; nan propagates
    add("reduce/max/ties", "max dims=1 keepdim=1", [tensor([[1, 3, 3, 2], [5, 5, 5, 5]], "f32")])
    add("reduce/min/ties_all", "min keepdim=0", [tensor([[1, -3, 3, -3], [5, 5, -3, 5]], "f64")])
    add("reduce/max/nan", "max dims=1 keepdim=0", [tensor([[1, nan, 3], [1, 2, 3]], "f32")], grad=[])
    add("reduce/min/nan", "min dims=0 keepdim=0", [tensor([[1, nan, 3], [1, 2, 3]], "f32")], grad=[])
    add("reduce/sum/nan_inf", "sum dims=1 keepdim=0", [tensor([[1, nan, 3], [inf, 2, 3], [inf, -inf, 0]], "f32")], grad=[])
    add("reduce/logsumexp/inf", "logsumexp dims=1 keepdim=0",
        [tensor([[-inf, -inf, -inf], [1, -inf, 2], [inf, 1, 2]], "f32")], grad=[])
    add("reduce/logsumexp/large", "logsumexp dims=1 keepdim=0", [tensor([[1000, 1000.5, 999], [-1000, -1001, -999]], "f32")])
    add("reduce/logsumexp/i32", "logsumexp dims=0 keepdim=0", [rand((3, 2), "i32", -5, 5)])
    add("reduce/sum/empty", "sum dims=1 keepdim=0", [torch.zeros(3, 0)])
    add("reduce/mean/empty", "mean dims=1 keepdim=0", [torch.zeros(3, 0)], grad=[])
    add("reduce/sum/empty_all_i32", "sum keepdim=0", [torch.zeros(0, 4, dtype=torch.int32)])
    add("reduce/max/f16_nan", "max dims=0 keepdim=0", [tensor([[1, nan], [3, 2]], "f16")], grad=[])
    add("reduce/prod/empty", "prod dims=0 keepdim=1", [torch.zeros(0, 2)])
    # any / all
    for op in ["any", "all"]:
        for dt in ALL:
            lo, hi = (0, 1) if dt in ("u8", "bool") else (-1, 1)
            x = rand((3, 4), dt, lo, hi)
            if dt in FLOATS:
                x = torch.where(rand((3, 4), "bool"), torch.zeros_like(x), x)
            add(f"reduce/{op}/{dt}", f"{op} dims=1 keepdim=0", [x])
            add(f"reduce/{op}/{dt}/all", f"{op} keepdim=1", [x])
        add(f"reduce/{op}/nan", f"{op} dims=0 keepdim=0", [tensor([[nan, 0], [0, 0], [1, -0.0]], "f32")])
        add(f"reduce/{op}/rows", f"{op} dims=1 keepdim=0", [tensor([[0, 0, 0], [0, 1, 0], [1, 1, 1]], "i32")])
        add(f"reduce/{op}/nc", f"{op} dims=0,1 keepdim=0", [rand((4, 6), "bool")], layout={0: "t"})
    # argmax / argmin: the first of equal values
    for op in ["argmax", "argmin"]:
        for dt in ALL:
            if dt == "bool":
                continue
            lo, hi = (0, 4) if dt == "u8" else (-4, 4)
            x = rand((3, 5), dt, lo, hi)
            add(f"reduce/{op}/{dt}/d1", f"{op} dim=1 keepdim=0", [x])
            add(f"reduce/{op}/{dt}/d0k", f"{op} dim=0 keepdim=1", [x])
        add(f"reduce/{op}/ties", f"{op} dim=1 keepdim=0", [tensor([[1, 3, 3, 1], [2, 2, 2, 2]], "f32")])
        add(f"reduce/{op}/nan", f"{op} dim=1 keepdim=0",
            [tensor([[1, nan, 3, nan], [nan, 2, 2, 0], [-inf, inf, 0, 1]], "f32")])
        add(f"reduce/{op}_all/nan", f"{op}_all", [tensor([[1, 5], [nan, -2]], "f64")])
        add(f"reduce/{op}/dm1_nc", f"{op} dim=-1 keepdim=0", [rand((4, 6))], layout={0: "t"})
        add(f"reduce/{op}/3d", f"{op} dim=1 keepdim=1", [rand((2, 3, 4), "f64")])
        add(f"reduce/{op}_all/f32", f"{op}_all", [rand((3, 4))])
        add(f"reduce/{op}_all/i32", f"{op}_all", [rand((7,), "i32", -9, 9)])
        add(f"reduce/{op}_all/ties", f"{op}_all", [tensor([[2, 5], [5, 2]], "f32")])


def cases_softmax():
    for op in ["softmax", "log_softmax"]:
        add(f"softmax/{op}/f32_d1", f"{op} dim=1", [rand((3, 5), "f32", -3, 3)])
        add(f"softmax/{op}/f32_d0", f"{op} dim=0", [rand((3, 5), "f32", -3, 3)])
        add(f"softmax/{op}/f32_dm1_3d", f"{op} dim=-1", [rand((2, 3, 4), "f32", -3, 3)])
        add(f"softmax/{op}/f32_d1_3d", f"{op} dim=1", [rand((2, 3, 4), "f32", -3, 3)])
        add(f"softmax/{op}/f64_transposed", f"{op} dim=1", [rand((4, 7), "f64", -3, 3)], layout={0: "t"})
        add(f"softmax/{op}/f16", f"{op} dim=0", [rand((13,), "f16", -3, 3)])
        add(f"softmax/{op}/bf16_step", f"{op} dim=1", [rand((3, 6), "bf16", -3, 3)], layout={0: "s"})
        add(f"softmax/{op}/large", f"{op} dim=1", [tensor([[1000, 1001, 999], [-1000, -1002, -1001]], "f32")])
        add(f"softmax/{op}/masked", f"{op} dim=1", [tensor([[1, -inf, 2], [-inf, 0.5, -inf]], "f32")], grad=[])
        add(f"softmax/{op}/0dim", f"{op} dim=0", [torch.tensor(0.5)])
        add(f"softmax/{op}/size1_dim", f"{op} dim=1", [rand((4, 1), "f64")])
        add(f"softmax/{op}/odd_7x13", f"{op} dim=1", [rand((7, 13), "f32", -3, 3)])
    for dt in FLOATS:
        add(f"cumsum/{dt}_d0", "cumsum dim=0", [rand((4, 3), dt)])
        add(f"cumsum/{dt}_d1", "cumsum dim=1", [rand((4, 3), dt)])
    add("cumsum/f32_transposed", "cumsum dim=-1", [rand((5, 7))], layout={0: "t"})
    add("cumsum/f64_step_3d", "cumsum dim=1", [rand((2, 5, 3), "f64")], layout={0: "s"})
    add("cumsum/0dim", "cumsum dim=0", [torch.tensor(2.5)])
    for dt in INTS + ["bool"]:
        add(f"cumsum/{dt}", "cumsum dim=1", [rand((3, 4), dt, 0 if dt == "u8" else -9, 9)])


def cases_views():
    x34 = lambda dt="f32": rand((3, 4), dt, 0 if dt == "u8" else -5, 5)
    x234 = lambda dt="f32": rand((2, 3, 4), dt, 0 if dt == "u8" else -5, 5)
    for dt in ["f32", "f64", "f16", "i32", "bool"]:
        add(f"view/view/{dt}", "view shape=2,6", [x34(dt)])
        add(f"view/view_infer/{dt}", "view shape=-1", [x234(dt)])
        add(f"view/reshape/{dt}", "reshape shape=4,-1", [x34(dt)])
        add(f"view/permute/{dt}", "permute dims=2,0,1", [x234(dt)])
        add(f"view/transpose/{dt}", "transpose dim0=0 dim1=2", [x234(dt)])
        add(f"view/slice/{dt}", "slice dim=1 start=1 end=7 step=2", [rand((3, 8), dt, 0, 5)])
        add(f"view/narrow/{dt}", "narrow dim=0 start=1 length=2", [x34(dt)])
        add(f"view/select/{dt}", "select dim=1 index=-1", [x234(dt)])
        add(f"view/expand/{dt}", "expand shape=2,3,4", [rand((3, 1), dt, 0, 5)])
        add(f"view/squeeze/{dt}", "squeeze dim=1", [rand((3, 1, 2), dt, 0, 5)])
        add(f"view/unsqueeze/{dt}", "unsqueeze dim=-1", [x34(dt)])
        add(f"view/flatten/{dt}", "flatten start=1 end=2", [x234(dt)])
        add(f"view/contiguous/{dt}", "contiguous", [x34(dt)], layout={0: "t"})
        add(f"view/clone/{dt}", "clone", [x34(dt)], layout={0: "s"})
    # non-contiguous inputs and corner cases
    add("view/reshape/transposed_copies", "reshape shape=12", [x34()], layout={0: "t"})
    add("view/reshape/step", "reshape shape=2,2,3", [x34("f64")], layout={0: "s"})
    add("view/reshape/0dim_to_1", "reshape shape=1,1", [torch.tensor(3.5)])
    add("view/permute/transposed", "permute dims=1,0", [x34()], layout={0: "t"})
    add("view/transpose/step", "transpose dim0=-1 dim1=0", [x34()], layout={0: "s"})
    add("view/slice/negative_start", "slice dim=-1 start=-5 end=100 step=3", [rand((2, 13))])
    add("view/slice/step_input", "slice dim=0 start=0 end=3 step=2", [x34()], layout={0: "s"})
    add("view/slice/empty", "slice dim=1 start=3 end=1 step=1", [x34()])
    add("view/narrow/negative_start", "narrow dim=1 start=-3 length=2", [x34()], layout={0: "t"})
    add("view/select/transposed", "select dim=0 index=2", [x34()], layout={0: "t"})
    add("view/expand/keep", "expand shape=-1,5", [rand((3, 1))])
    add("view/expand/0dim", "expand shape=2,3", [torch.tensor(1.5)])
    add("view/expand/step", "expand shape=4,3,2", [rand((3, 2))], layout={0: "s"})
    add("view/squeeze/not_one", "squeeze dim=0", [x34()])
    add("view/squeeze_all/f32", "squeeze_all", [rand((1, 3, 1, 2))])
    add("view/unsqueeze/front", "unsqueeze dim=0", [x34()], layout={0: "t"})
    add("view/unsqueeze/0dim", "unsqueeze dim=0", [torch.tensor(2.0)])
    add("view/flatten/all", "flatten start=0 end=-1", [x234()], layout={0: "t"})
    add("view/flatten/0dim", "flatten start=0 end=0", [torch.tensor(2.0)])
    add("view/clone/bf16", "clone", [x34("bf16")])


def cases_convert():
    # values every dtype holds exactly (or that round the same way in both)
    float_vals = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.999, -3.999, 100.75, 126.5,
                  -127.5, nan, inf, -inf, 1e-3, 1.0 + 2 ** -11, 1.0 + 3 * 2 ** -11, 1.0 + 2 ** -8,
                  1.0 + 3 * 2 ** -8, 65504.0, 65519.0, 65520.0, 1e-7, 6e-8, 3e38, 1e39, 1e-40,
                  0.1, 1.0 + 2 ** -24]
    for src in ALL:
        for dst in ALL:
            if src == dst:
                continue
            if src in FLOATS and dst in FLOATS:
                vals = float_vals
            elif src in FLOATS and dst == "bool":
                vals = [0.0, -0.0, 0.5, -2.0, nan, inf, 1e-40]
            elif src in FLOATS:  # to integers: in range only (torch is undefined outside)
                if dst == "u8":
                    vals = [0.0, -0.0, 0.5, 0.99, 1.5, 2.5, 3.999, 100.75, 126.9, 254.9]
                else:
                    vals = [0.0, -0.0, 0.5, -0.5, 0.99, -0.99, 1.5, -2.5, 3.999, -3.999, 100.75, -127.9]
                if dst == "i16":
                    vals += [30000.5, -30000.5]
                if dst in ("i32", "i64") and src != "f16":
                    vals += [1e6 + 0.5, -2e9]
                if dst == "i32" and src == "f64":
                    vals += [2147483647.9, -2147483648.9]
                if dst == "i64" and src != "f16":
                    vals += [2.0 ** 62, -2.0 ** 63]
            elif src == "bool":
                vals = [0, 1]
            else:  # from integers: narrowing wraps
                lo = {"i8": -128, "i16": -32768, "i32": -2 ** 31, "i64": -2 ** 63, "u8": 0}[src]
                hi = {"i8": 127, "i16": 32767, "i32": 2 ** 31 - 1, "i64": 2 ** 63 - 1, "u8": 255}[src]
                cand = [0, 1, -1, 2, 7, -7, 100, 127, -128, 128, 255, 256, 300, -300, 32767, -32768,
                        40000, 65504, 65519, 65520, 70000, 2 ** 24 + 1, 2 ** 31 - 1, -2 ** 31,
                        2 ** 53 + 1, 2 ** 60 + 2 ** 36 + 1, 2 ** 63 - 1, -2 ** 63]
                vals = [v for v in cand if lo <= v <= hi]
            if src in INTS:
                x = torch.tensor(vals, dtype=torch.int64).to(DT[src])
            elif src == "bool":
                x = torch.tensor(vals).bool()
            else:
                x = tensor(vals, src)
            grad = None if (src in FLOATS and dst in FLOATS) else []
            finite = x.isfinite().all() if src in FLOATS else True
            add(f"convert/{src}_to_{dst}", f"to_dtype dtype={dst}", [x],
                grad=grad if finite else [])
    # gradients through conversions between floating dtypes, half of them non-contiguous
    k = 0
    for src in FLOATS:
        for dst in FLOATS:
            if src != dst:
                add(f"convert/{src}_to_{dst}/grad", f"to_dtype dtype={dst}", [rand((3, 4), src)],
                    layout={0: "t"} if k % 2 else None)
                k += 1


def idx(values):
    return torch.tensor(values, dtype=torch.int64)


def cases_join():
    add("join/cat/d0_f32", "cat dim=0", [rand((2, 3)), rand((1, 3)), rand((3, 3))])
    add("join/cat/d1_f64_nc", "cat dim=1", [rand((2, 1), "f64"), rand((2, 4), "f64")], layout={1: "t"})
    add("join/cat/dm1_i32", "cat dim=-1", [rand((2, 2), "i32", -9, 9), rand((2, 3), "i32", -9, 9)])
    add("join/cat/bool", "cat dim=0", [rand((2,), "bool"), rand((3,), "bool")])
    add("join/cat/bf16_step", "cat dim=0", [rand((2, 3), "bf16"), rand((2, 3), "bf16")], layout={0: "s"})
    add("join/cat/skips_empty_1d", "cat dim=0", [rand((2, 3)), torch.zeros(0), rand((1, 3))])
    add("join/cat/one", "cat dim=1", [rand((3, 2))])
    add("join/stack/d0_f32", "stack dim=0", [rand((2, 3)), rand((2, 3)), rand((2, 3))])
    add("join/stack/d2_f64_nc", "stack dim=2", [rand((3, 2), "f64"), rand((3, 2), "f64")], layout={0: "t"})
    add("join/stack/dm1_i64", "stack dim=-1", [rand((4,), "i64", -9, 9), rand((4,), "i64", -9, 9)])
    add("join/stack/0dim", "stack dim=0", [torch.tensor(1.5), torch.tensor(-2.0)])
    add("join/chunk/3_of_7", "chunk chunks=3 dim=1", [rand((2, 7))])
    add("join/chunk/even_f16", "chunk chunks=2 dim=0", [rand((4, 3), "f16")], layout={0: "t"})
    add("join/split/2_of_5", "split size=2 dim=0", [rand((5, 3), "f64")])
    add("join/split/i32", "split size=3 dim=-1", [rand((2, 7), "i32", -9, 9)])


def cases_index():
    add("index/gather/d0", "gather dim=0", [rand((3, 4)), idx([[0, 2, 1, 0], [2, 2, 0, 1]])])
    add("index/gather/d1_smaller", "gather dim=1", [rand((3, 5), "f64"), idx([[4, 0], [1, 1], [3, 2]])],
        layout={0: "t"})
    add("index/gather/i32", "gather dim=-1", [rand((2, 3), "i32", -9, 9), idx([[2, 0, 0, 1], [1, 1, 2, 2]])])
    add("index/gather/3d_bf16", "gather dim=1", [rand((2, 3, 2), "bf16"), idx([[[0, 2]], [[1, 1]]])])
    add("index/scatter_add/d0", "scatter_add dim=0",
        [rand((3, 4)), idx([[0, 2, 1, 0], [2, 2, 0, 0]]), rand((2, 4))])
    add("index/scatter_add/d1_dups", "scatter_add dim=1",
        [rand((2, 5), "f64"), idx([[4, 4, 4], [0, 1, 0]]), rand((2, 3), "f64")], layout={0: "t"})
    add("index/scatter_add/smaller_src_index", "scatter_add dim=0",
        [rand((4, 3)), idx([[3, 0], [3, 1]]), rand((3, 3))], grad=[0])  # torch: no src grad here
    add("index/scatter_add/i64", "scatter_add dim=1",
        [rand((2, 3), "i64", -9, 9), idx([[0, 0, 2], [1, 2, 2]]), rand((2, 3), "i64", -9, 9)])
    add("index/index_select/d0_dups", "index_select dim=0", [rand((4, 3)), idx([3, 0, 3, 1])])
    add("index/index_select/d1_nc", "index_select dim=1", [rand((3, 5), "f64"), idx([4, 2])], layout={0: "t"})
    add("index/index_select/bf16", "index_select dim=-1", [rand((2, 4), "bf16"), idx([1, 1, 0])])
    add("index/index_select/u8", "index_select dim=0", [rand((3, 2), "u8", 0, 9), idx([2, 0])])
    add("index/embedding/i64", "embedding", [rand((6, 3)), idx([[1, 5, 1, 0], [2, 2, 4, 3]])])
    add("index/embedding/i32_f64", "embedding", [rand((5, 4), "f64"), idx([0, 4, 4]).int()])
    add("index/embedding/0dim", "embedding", [rand((5, 2)), torch.tensor(3)])
    add("index/embedding/f16", "embedding", [rand((4, 3), "f16"), idx([[3], [0]])])
    add("index/one_hot/5", "one_hot num_classes=5", [idx([0, 4, 2, 2])])
    add("index/one_hot/infer", "one_hot num_classes=-1", [idx([[1, 3], [0, 0]])])


def cases_pad():
    add("pad/pad/last_f32", "pad pad=1,2 value=0", [rand((2, 3))])
    add("pad/pad/two_dims", "pad pad=1,1,2,0 value=-1.5", [rand((2, 3, 4), "f64")], layout={0: "t"})
    add("pad/pad/crop", "pad pad=-1,1 value=0.5", [rand((3, 4))])
    add("pad/pad/crop_and_pad", "pad pad=2,-1,-1,1 value=0", [rand((3, 4))], layout={0: "s"})
    add("pad/pad/i32", "pad pad=0,1 value=7", [rand((2, 2), "i32", -9, 9)])
    add("pad/pad/bf16", "pad pad=3,0 value=2", [rand((4,), "bf16")])
    for op in ["tril", "triu"]:
        for k in (0, 1, -1, 5, -5):
            add(f"pad/{op}/k{k}", f"{op} k={k}", [rand((4, 5))])
        add(f"pad/{op}/batch_nc", f"{op} k=0", [rand((2, 3, 3), "f64")], layout={0: "t"})
        add(f"pad/{op}/bool", f"{op} k=-1", [rand((3, 4), "bool")])
        add(f"pad/{op}/i64_wide", f"{op} k=1", [rand((2, 6), "i64", -9, 9)])
        add(f"pad/{op}/f16", f"{op} k=0", [rand((3, 3), "f16")])


def cases_linalg():
    for name, sa, sb in [("1d_1d", (5,), (5,)), ("2d_1d", (3, 4), (4,)), ("1d_2d", (4,), (4, 3)),
                         ("2d_2d_odd", (7, 13), (13, 5)), ("3d_2d", (2, 3, 4), (4, 5)),
                         ("2d_3d", (3, 4), (2, 4, 5)), ("1d_3d", (4,), (2, 4, 3)),
                         ("3d_1d", (2, 3, 4), (4,)), ("bcast_4d_3d", (2, 1, 3, 4), (5, 4, 2))]:
        add(f"linalg/matmul/{name}", "matmul", [rand(sa), rand(sb)])
    add("linalg/matmul/f64_nc", "matmul", [rand((3, 4), "f64"), rand((4, 5), "f64")], layout={0: "t", 1: "t"})
    add("linalg/matmul/i32", "matmul", [rand((3, 4), "i32", -9, 9), rand((4, 2), "i32", -9, 9)])
    add("linalg/matmul/bf16", "matmul", [rand((3, 8), "bf16"), rand((8, 2), "bf16")])
    add("linalg/matmul/f16", "matmul", [rand((2, 9), "f16"), rand((9, 3), "f16")])
    add("linalg/mm/f32_step", "mm", [rand((6, 4)), rand((4, 3))], layout={0: "s"})
    add("linalg/bmm/f32", "bmm", [rand((3, 2, 5)), rand((3, 5, 4))])
    add("linalg/linear/bias", "linear", [rand((4, 6)), rand((3, 6)), rand((3,))])
    add("linalg/linear/3d_nobias", "linear", [rand((2, 3, 6), "f64"), rand((4, 6), "f64")])
    add("linalg/linear/1d", "linear", [rand((6,)), rand((2, 6)), rand((2,))])
    add("linalg/outer/f32", "outer", [rand((4,)), rand((3,))])


def cases_conv():
    add("conv/conv2d/basic", "conv2d", [rand((2, 3, 7, 6)), rand((4, 3, 3, 3)), rand((4,))])
    add("conv/conv2d/padding", "conv2d padding=1,1", [rand((1, 2, 5, 5)), rand((3, 2, 3, 3)), rand((3,))])
    add("conv/conv2d/stride_nobias", "conv2d stride=2,2 padding=1,0", [rand((2, 2, 7, 6)), rand((3, 2, 3, 2))])
    add("conv/conv2d/dilation", "conv2d dilation=2,2", [rand((1, 2, 7, 7), "f64"), rand((2, 2, 3, 3), "f64"), rand((2,), "f64")])
    add("conv/conv2d/groups", "conv2d groups=2 padding=1,1", [rand((1, 4, 5, 5)), rand((6, 2, 3, 3)), rand((6,))])
    add("conv/conv2d/depthwise", "conv2d groups=3", [rand((2, 3, 4, 4)), rand((3, 1, 2, 2))])
    add("conv/conv2d/unbatched", "conv2d padding=1,2", [rand((2, 5, 4)), rand((3, 2, 3, 3)), rand((3,))])
    add("conv/conv2d/1x1_nc", "conv2d", [rand((2, 3, 4, 5)), rand((2, 3, 1, 1))], layout={0: "t"})
    add("conv/conv2d/odd_13x7", "conv2d stride=2,3 padding=2,1 dilation=1,2",
        [rand((1, 3, 13, 7)), rand((2, 3, 3, 3)), rand((2,))])
    add("conv/conv2d/f16", "conv2d padding=1,1", [rand((1, 2, 4, 4), "f16"), rand((2, 2, 3, 3), "f16"), rand((2,), "f16")])
    for name, spec, shape in [
        ("k2", "kernel=2,2", (2, 3, 6, 6)), ("k3s2p1", "kernel=3,3 stride=2,2 padding=1,1", (1, 2, 7, 7)),
        ("ceil", "kernel=2,2 stride=2,2 ceil_mode=1", (1, 2, 5, 7)),
        ("k3s2p1_ceil", "kernel=3,3 stride=2,2 padding=1,1 ceil_mode=1", (1, 1, 6, 6)),
        ("rect", "kernel=2,3 stride=1,2", (2, 2, 5, 7)), ("unbatched", "kernel=2,2", (3, 4, 4)),
    ]:
        add(f"conv/max_pool2d/{name}", f"max_pool2d {spec}", [rand(shape)])
        add(f"conv/avg_pool2d/{name}", f"avg_pool2d {spec}", [rand(shape)])
    add("conv/max_pool2d/dilation", "max_pool2d kernel=2,2 dilation=2,2", [rand((1, 2, 7, 7), "f64")])
    add("conv/max_pool2d/nc", "max_pool2d kernel=2,2", [rand((2, 2, 4, 6))], layout={0: "t"})
    add("conv/max_pool2d/i32", "max_pool2d kernel=2,2", [rand((1, 2, 4, 4), "i32", -9, 9)])
    add("conv/max_pool2d/bf16", "max_pool2d kernel=2,2 padding=1,1", [rand((1, 1, 5, 5), "bf16")])
    add("conv/max_pool2d_with_indices/k3s2p1", "max_pool2d_with_indices kernel=3,3 stride=2,2 padding=1,1",
        [rand((2, 2, 7, 6))])
    add("conv/avg_pool2d/no_pad_count", "avg_pool2d kernel=3,3 stride=2,2 padding=1,1 count_include_pad=0",
        [rand((1, 2, 7, 7))])
    add("conv/avg_pool2d/ceil_no_pad_count", "avg_pool2d kernel=3,3 stride=2,2 padding=1,1 ceil_mode=1 count_include_pad=0",
        [rand((1, 1, 6, 6), "f64")])
    add("conv/avg_pool2d/divisor", "avg_pool2d kernel=2,2 divisor_override=3", [rand((1, 2, 4, 4))])
    add("conv/avg_pool2d/f16_nc", "avg_pool2d kernel=2,2", [rand((1, 2, 4, 6), "f16")], layout={0: "t"})
    add("conv/avg_pool2d/i64", "avg_pool2d kernel=2,2", [rand((1, 1, 4, 4), "i64", -9, 9)])


def cases_sort():
    tied = tensor([[3, 1, nan, 2, 1, -inf, 3], [0, 0, 0, -0.0, 5, inf, nan]], "f32")
    for desc in (0, 1):
        add(f"sort/sort/f32_ties_nan/d{desc}", f"sort dim=1 descending={desc}", [tied], grad=[])
        add(f"sort/sort/f32/d{desc}", f"sort dim=1 descending={desc}", [rand((3, 7))])
        add(f"sort/sort/f64_d0_nc/d{desc}", f"sort dim=0 descending={desc}", [rand((5, 4), "f64")], layout={0: "t"})
        add(f"sort/sort/i32/d{desc}", f"sort dim=-1 descending={desc}", [rand((2, 9), "i32", -3, 3)])
        add(f"sort/sort/bool/d{desc}", f"sort dim=0 descending={desc}", [rand((6,), "bool")])
        add(f"sort/sort/f16/d{desc}", f"sort dim=0 descending={desc}", [rand((13,), "f16")])
        add(f"sort/argsort/ties/d{desc}", f"argsort dim=1 descending={desc}", [tied])
        add(f"sort/argsort/u8/d{desc}", f"argsort dim=0 descending={desc}", [rand((4, 3), "u8", 0, 3)])
    add("sort/sort/0dim", "sort dim=0 descending=0", [torch.tensor(2.0)])
    for largest in (1, 0):
        add(f"sort/topk/f32/l{largest}", f"topk k=3 dim=1 largest={largest}", [rand((4, 7))])
        add(f"sort/topk/f64_d0_nc/l{largest}", f"topk k=2 dim=0 largest={largest}", [rand((5, 3), "f64")],
            layout={0: "t"})
        add(f"sort/topk/i64/l{largest}", f"topk k=4 dim=-1 largest={largest}",
            [torch.randperm(9, generator=gen).reshape(1, 9)])
        add(f"sort/topk/bf16/l{largest}", f"topk k=1 dim=0 largest={largest}", [rand((6,), "bf16")])
    add("sort/topk/all", "topk k=5 dim=0 largest=1", [rand((5,))])
    add("sort/topk/zero", "topk k=0 dim=1 largest=1", [rand((2, 3))], grad=[])


FAMILIES = [cases_unary, cases_binary, cases_reduce, cases_softmax, cases_views, cases_convert, cases_linalg,
            cases_join, cases_index, cases_pad, cases_conv, cases_sort]

# Not covered yet (Born does not implement them at the time of writing): matmul, mm, bmm,
# linear, outer. Add a cases_<family> function and their specs in torch_apply, and the same specs
# in the C dispatcher (tests/ops/test_fixtures.c), once the ops exist.


def main():
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*degrees of freedom is <= 0.*")  # intended
    for fam in FAMILIES:
        fam()
    n = write(OUT_PATH)
    counts = {}
    for name, _, _ in records:
        fam = name.split("/")[0]
        counts[fam] = counts.get(fam, 0) + 1
    print(f"wrote {len(records)} cases, {n} bytes, to {os.path.relpath(OUT_PATH)}")
    for fam, c in counts.items():
        print(f"  {fam:12s} {c}")


if __name__ == "__main__":
    main()
