#!/usr/bin/env python3
"""The peer figure for bench_attention.c: PyTorch's F.scaled_dot_product_attention on the CPU.

    python3 bench/bench_attention.py B H T D THREADS CAUSAL REPS
prints two numbers, the median seconds of the forward and of forward + backward (f32)."""
import sys
import time

import torch
import torch.nn.functional as F


def main():
    b, h, t, d, threads, causal, reps = (int(x) for x in sys.argv[1:8])
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(b, h, t, d, generator=g) for _ in range(3))
    qg, kg, vg = (x.clone().requires_grad_(True) for x in (q, k, v))
    gout = torch.randn(b, h, t, d, generator=g)

    def fwd():
        with torch.no_grad():
            F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal))

    def fwd_bwd():
        o = F.scaled_dot_product_attention(qg, kg, vg, is_causal=bool(causal))
        o.backward(gout)

    out = []
    for fn in (fwd, fwd_bwd):
        fn()  # warm-up
        ts = []
        for _ in range(reps):
            s = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - s)
        out.append(sorted(ts)[len(ts) // 2])
    print(f"{out[0]:.6f} {out[1]:.6f}")


if __name__ == "__main__":
    main()
