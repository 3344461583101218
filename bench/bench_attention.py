#!/usr/bin/env python3
"""The peer figure for bench_attention.c: PyTorch's F.scaled_dot_product_attention on the CPU.

    python3 bench/bench_attention.py B H T D THREADS CAUSAL REPS
prints two numbers, the median seconds of the forward and of forward + backward (f32).

    python3 bench/bench_attention.py --serve B H T D THREADS CAUSAL [DTYPE]
(DTYPE f32, the default, or bf16) warms both up, prints "ready", then for each line "f" (forward) or "b" (forward + backward) read
from stdin runs it once and prints "WALL CPU" (seconds on the monotonic clock and of process CPU
time), so that the caller can interleave its own repetitions with PyTorch's."""
import sys
import time

import torch
import torch.nn.functional as F


def setup(b, h, t, d, threads, causal, dtype=torch.float32):
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(b, h, t, d, generator=g).to(dtype) for _ in range(3))
    qg, kg, vg = (x.clone().requires_grad_(True) for x in (q, k, v))
    gout = torch.randn(b, h, t, d, generator=g).to(dtype)

    def fwd():
        with torch.no_grad():
            F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal))

    def fwd_bwd():
        o = F.scaled_dot_product_attention(qg, kg, vg, is_causal=bool(causal))
        o.backward(gout)
        qg.grad = kg.grad = vg.grad = None

    return fwd, fwd_bwd


def serve(args):
    dtype = torch.bfloat16 if len(args) > 6 and args[6] == "bf16" else torch.float32
    fwd, fwd_bwd = setup(*(int(x) for x in args[:6]), dtype=dtype)
    fwd()
    fwd_bwd()
    print("ready", flush=True)
    for line in sys.stdin:
        fn = fwd if line.strip() == "f" else fwd_bwd
        w, c = time.perf_counter(), time.process_time()
        fn()
        print(f"{time.perf_counter() - w:.6f} {time.process_time() - c:.6f}", flush=True)


def main():
    if sys.argv[1] == "--serve":
        serve(sys.argv[2:])
        return
    b, h, t, d, threads, causal, reps = (int(x) for x in sys.argv[1:8])
    out = []
    for fn in setup(b, h, t, d, threads, causal):
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
