"""PyTorch's F.scaled_dot_product_attention beside bench/cuda/attn_born.c: same shapes, timing
and FLOP convention; each available backend (cuDNN, flash, efficient) forced in turn, then the
default choice. Usage: python3 bench/cuda/attn_torch.py bf16 B H T D [BACKEND [ITERS]] (BACKEND
one of cudnn, flash, efficient, default: that one alone; ITERS timed runs, 10 by default, after 3
warm-ups: fewer for a profiler)."""
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

dt = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[sys.argv[1]]
b, h, t, d = (int(a) for a in sys.argv[2:6])
g = torch.Generator(device="cuda").manual_seed(1234)
q, k, v, r = (torch.randn(b, h, t, d, device="cuda", dtype=dt, generator=g) for _ in range(4))
for x in (q, k, v):
    x.requires_grad_(True)
flop = 4.0 * b * h * t * t * d / 2
only = sys.argv[6] if len(sys.argv) > 6 else None
iters = int(sys.argv[7]) if len(sys.argv) > 7 else 10


def bench(bwd):
    ts = []
    for i in range(3 + iters):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if bwd:
            (o * r).sum().backward()
        torch.cuda.synchronize()
        if i >= 3:
            ts.append(time.perf_counter() - t0)
        for x in (q, k, v):
            x.grad = None
    ts.sort()
    return (ts[(iters - 1) // 2] + ts[iters // 2]) / 2


for name, be in [("cudnn", [SDPBackend.CUDNN_ATTENTION]), ("flash", [SDPBackend.FLASH_ATTENTION]),
                 ("efficient", [SDPBackend.EFFICIENT_ATTENTION]), ("default", None)]:
    if only and name != only:
        continue
    for bwd in (0, 1):
        try:
            if be is None:
                med = bench(bwd)
            else:
                with sdpa_kernel(be):
                    med = bench(bwd)
        except RuntimeError as e:
            print(f"torch {name}: unavailable ({str(e).splitlines()[0][:80]})")
            break
        f = 3.5 * flop if bwd else flop
        print(f"torch-{name:9s} {sys.argv[1]:5s} B{b} H{h} T{t} D{d} causal {'fwd+bwd' if bwd else 'fwd':7s} "
              f"{med * 1e3:9.3f} ms  {f / med / 1e12:7.1f} TFLOP/s")
