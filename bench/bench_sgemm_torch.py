"""The peer of bench/bench_sgemm_levels.c: the same f32 shapes through torch.mm on the CPU, medians
in GFLOP/s. Usage: python3 bench/bench_sgemm_torch.py 1 8 16   (thread counts)."""
import statistics
import sys
import time

import torch

SHAPES = [(256, 256, 256, False), (512, 512, 512, False), (1024, 1024, 1024, False),
          (2048, 2048, 2048, False), (4096, 4096, 4096, False), (1, 4096, 4096, True),
          (8, 4096, 4096, True), (32, 4096, 4096, True)]


def bench(m, n, k, linear, threads):
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(m, k, generator=g)
    w = torch.randn(n, k, generator=g) if linear else torch.randn(k, n, generator=g)
    out = torch.empty(m, n)
    b = w.t() if linear else w
    flop = 2.0 * m * n * k
    inner = min(200, int(2e9 / flop / threads) + 1)
    reps = 3 if flop > 1e10 else 5
    torch.mm(x, b, out=out)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            torch.mm(x, b, out=out)
        times.append((time.perf_counter() - t0) / inner)
    tag = " (x W^T)" if linear else "       "
    print(f"{threads:2d} threads  {m:4d} x {n:4d} x {k:4d}{tag}  torch {flop / statistics.median(times) / 1e9:7.1f} GFLOP/s",
          flush=True)


def main():
    print(f"torch {torch.__version__} f32 mm on the CPU; {torch.backends.mkldnn.is_available()=}")
    for a in sys.argv[1:]:
        for s in SHAPES:
            bench(*s, int(a))


if __name__ == "__main__":
    main()
