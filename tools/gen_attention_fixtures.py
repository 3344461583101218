#!/usr/bin/env python3
"""Reference fixtures for Born's attention tests, computed by PyTorch.

Run by hand from the repository root:  python3 tools/gen_attention_fixtures.py
It writes tests/fixtures/attention.bin in the format of tools/gen_fixtures.py (whose record
writer it reuses), which tests/ops/test_attention_fixtures.c replays through Born.

Spec: "sdpa key=value ..." with keys causal (0/1), off (the kv offset: query i sees key j when
j <= off + i), scale (0: 1/sqrt(E)), gqa (enable_gqa) and mask (none, bool, add). Inputs: in0 q,
in1 k, in2 v and, when mask is not none, in3 the mask. torch has no causal offset, so the
reference passes the causal limit as a boolean mask tril(ones(L, S), off), combined with the
user's mask; Born receives causal=1 and off. References are computed in f64 (the inputs are f32)
and rounded once, like gen_fixtures.py's.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_fixtures as gf  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "attention.bin")


def hf_inv_freq(args, dim, seq_len):
    """Hugging Face's _compute_*_parameters (modeling_rope_utils.py), transcribed in f64."""
    base = float(args.get("theta", "10000"))
    kind = args.get("scaling", "none")
    factor = float(args.get("factor", "1"))
    orig = int(args.get("orig", "0"))
    arange = torch.arange(0, dim, 2, dtype=torch.float64)
    mscale = 1.0
    if kind == "ntk":
        base = base * factor ** (dim / (dim - 2))
    if kind == "dynamic" and seq_len > orig:
        base = base * ((factor * seq_len / orig) - (factor - 1)) ** (dim / (dim - 2))
    inv = 1.0 / (base ** (arange / dim))
    if kind == "linear":
        inv = inv / factor
    if kind == "yarn":
        beta_fast, beta_slow = 32.0, 1.0
        mscale = 0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0

        def corr(n):
            return (dim * math.log(orig / (n * 2 * math.pi))) / (2 * math.log(base))
        low, high = max(math.floor(corr(beta_fast)), 0), min(math.ceil(corr(beta_slow)), dim - 1)
        if low == high:
            high += 0.001
        ramp = ((torch.arange(dim // 2, dtype=torch.float64) - low) / (high - low)).clamp(0, 1)
        pos_freqs = base ** (arange / dim)
        extra_factor = 1 - ramp
        inv = (1.0 / (factor * pos_freqs)) * (1 - extra_factor) + (1.0 / pos_freqs) * extra_factor
    if kind == "llama3":
        lo, hi = 1.0, 4.0
        low_wl, high_wl = orig / lo, orig / hi
        wl = 2 * math.pi / inv
        llama = torch.where(wl > low_wl, inv / factor, inv)
        smooth = (orig / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * llama / factor + smooth * llama
        medium = ~(wl < high_wl) * ~(wl > low_wl)
        inv = torch.where(medium, smoothed, llama)
    return inv, mscale


def rope_apply(args, x, pos):
    D = x.shape[-1]
    rdim = int(args.get("rdim", "0")) or D
    inv, mscale = hf_inv_freq(args, rdim, int(pos.max()) + 1)
    freqs = pos.double()[:, None] * inv[None, :]
    xr, xpass = x[..., :rdim], x[..., rdim:]
    if int(args.get("interleaved", "0")):
        # Meta's Llama: complex multiplication of the pairs (2i, 2i+1)
        xc = torch.view_as_complex(xr.double().reshape(*xr.shape[:-1], -1, 2).contiguous())
        rot = torch.polar(torch.full_like(freqs, mscale), freqs)
        out = torch.view_as_real(xc * rot).flatten(-2).to(x.dtype)
    else:
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = (emb.cos() * mscale).to(x.dtype), (emb.sin() * mscale).to(x.dtype)
        x1, x2 = xr[..., : rdim // 2], xr[..., rdim // 2:]
        out = xr * cos + torch.cat((-x2, x1), dim=-1) * sin
    return torch.cat((out, xpass), dim=-1)


def alibi_apply(args):
    """Hugging Face's build_alibi_tensor slopes, as a [H, L, S] bias slope (j - (off + i))."""
    H, L, S, off = (int(args[k]) for k in ("heads", "L", "S", "off"))
    closest = 2 ** math.floor(math.log2(H))
    base = torch.tensor(2 ** (-(2 ** -(math.log2(closest) - 3))), dtype=torch.float64)
    slopes = torch.pow(base, torch.arange(1, 1 + closest, dtype=torch.float64))
    if closest != H:
        extra = torch.tensor(2 ** (-(2 ** -(math.log2(2 * closest) - 3))), dtype=torch.float64)
        rem = min(closest, H - closest)
        slopes = torch.cat([slopes, torch.pow(extra, torch.arange(1, 1 + 2 * rem, 2, dtype=torch.float64))])
    rel = torch.arange(S, dtype=torch.float64)[None, :] - (off + torch.arange(L, dtype=torch.float64))[:, None]
    return (slopes[:, None, None] * rel[None]).float()


def sinusoidal_apply(args):
    n, d = int(args["n"]), int(args["dim"])
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe.float()


def torch_apply(spec, xs):
    op, args = gf.parse_spec(spec)
    if op == "rope":
        return rope_apply(args, xs[0], xs[1])
    if op == "alibi":
        return alibi_apply(args)
    if op == "sinusoidal":
        return sinusoidal_apply(args)
    return sdpa_apply(spec, xs)


def sdpa_apply(spec, xs):
    _, args = gf.parse_spec(spec)
    q, k, v = xs[0], xs[1], xs[2]
    mask = xs[3] if len(xs) > 3 else None
    L, S = q.shape[-2], k.shape[-2]
    causal = int(args.get("causal", "0"))
    off = int(args.get("off", "0"))
    scale = float(args.get("scale", "0"))
    gqa = int(args.get("gqa", "0")) == 1
    if causal:
        tri = torch.ones(L, S, dtype=torch.bool).tril(off)
        if mask is None:
            mask = tri
        elif mask.dtype == torch.bool:
            mask = mask & tri
        else:
            mask = mask.masked_fill(~tri, float("-inf"))
    if mask is not None and mask.is_floating_point():
        mask = mask.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale or None,
                                          enable_gqa=gqa)


def case(name, qs, ks, vs, mask=None, **kw):
    spec = "sdpa " + " ".join(f"{key}={val}" for key, val in kw.items())
    spec += " mask=" + ("none" if mask is None else ("bool" if mask.dtype == torch.bool else "add"))
    ins = [gf.rand(qs), gf.rand(ks), gf.rand(vs)]
    if mask is not None:
        ins.append(mask)
    gf.add(name, spec, ins, grad=[0, 1, 2])


def bool_mask(shape):
    m = gf.rand(shape, "bool")
    m[..., 0] = True  # every row sees at least one key
    return m


def main():
    torch.set_num_threads(1)
    gf.torch_apply = torch_apply
    case("sdpa/plain", (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6))
    case("sdpa/causal", (1, 2, 9, 16), (1, 2, 9, 16), (1, 2, 9, 16), causal=1)
    case("sdpa/causal_offset", (1, 2, 4, 8), (1, 2, 10, 8), (1, 2, 10, 8), causal=1, off=6)
    case("sdpa/causal_neg_offset", (1, 1, 6, 8), (1, 1, 4, 8), (1, 1, 4, 8), causal=1, off=-2)
    case("sdpa/gqa", (2, 4, 6, 8), (2, 2, 6, 8), (2, 2, 6, 8), causal=1, gqa=1)
    case("sdpa/mqa", (1, 4, 5, 8), (1, 1, 7, 8), (1, 1, 7, 4), gqa=1)
    case("sdpa/bool_mask", (2, 2, 6, 8), (2, 2, 9, 8), (2, 2, 9, 8), mask=bool_mask((1, 1, 6, 9)))
    case("sdpa/add_mask", (1, 3, 6, 8), (1, 3, 9, 8), (1, 3, 9, 8),
         mask=gf.rand((6, 9), "f32", -3.0, 1.0))
    case("sdpa/bool_mask_causal", (1, 2, 7, 8), (1, 2, 7, 8), (1, 2, 7, 8),
         mask=bool_mask((2, 7, 7)), causal=1)
    case("sdpa/scale", (1, 2, 5, 8), (1, 2, 5, 8), (1, 2, 5, 8), scale=0.3)
    case("sdpa/unbatched_2d", (5, 8), (6, 8), (6, 3))
    case("sdpa/batch_dims", (2, 2, 2, 5, 8), (2, 2, 2, 6, 8), (2, 2, 2, 6, 8), causal=1, off=1)
    case("sdpa/long", (1, 1, 200, 32), (1, 1, 200, 32), (1, 1, 200, 32), causal=1)
    case("sdpa/long_gqa", (1, 2, 150, 32), (1, 1, 170, 32), (1, 1, 170, 32), gqa=1, causal=1, off=20)
    rope_cases = [
        ("rope/plain", "theta=10000"),
        ("rope/interleaved", "theta=10000 interleaved=1"),
        ("rope/theta_partial", "theta=500000 rdim=8"),
        ("rope/linear", "scaling=linear factor=4"),
        ("rope/ntk", "scaling=ntk factor=3"),
        ("rope/dynamic", "scaling=dynamic factor=2 orig=16"),
        ("rope/yarn", "scaling=yarn factor=8 orig=32 theta=10000"),
        ("rope/llama3", "scaling=llama3 factor=8 orig=64 theta=500000"),
        ("rope/llama3_interleaved", "scaling=llama3 factor=8 orig=64 theta=500000 interleaved=1"),
    ]
    for name, args in rope_cases:
        pos = torch.tensor([0, 1, 2, 5, 17, 40, 63], dtype=torch.int64)
        gf.add(name, "rope " + args, [gf.rand((2, 3, 7, 16), "f32"), pos], grad=[0])
    gf.add("alibi/8", "alibi heads=8 L=5 S=9 off=4", [])
    gf.add("alibi/6", "alibi heads=6 L=3 S=4 off=1", [])
    gf.add("sinusoidal/12x10", "sinusoidal n=12 dim=10", [])
    n = gf.write(OUT)
    print(f"wrote {len(gf.records)} cases, {n} bytes, to {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
