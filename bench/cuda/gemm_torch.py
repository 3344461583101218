"""PyTorch's GEMM on the same shapes as gemm_born.c, timed the same way (median of 20 products
after 5 warm-ups, each timed to the stream's end). python3 gemm_torch.py f32|tf32|bf16|f16 M N K"""
import sys, time, torch

dt, m, n, k = sys.argv[1], *map(int, sys.argv[2:5])
torch.backends.cuda.matmul.allow_tf32 = dt == "tf32"
dtype = {"f32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dt]
g = torch.Generator(device="cuda").manual_seed(1234)
a = torch.randn(m, k, device="cuda", generator=g).to(dtype)
b = torch.randn(k, n, device="cuda", generator=g).to(dtype)
ts = []
for i in range(25):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    c = a @ b
    torch.cuda.synchronize()
    if i >= 5:
        ts.append(time.perf_counter() - t0)
    del c
ts.sort()
med = (ts[9] + ts[10]) / 2
print(f"torch {dt:<5} {m:6d} x {n:6d} x {k:6d}  {med*1e3:8.3f} ms  {2*m*n*k/med/1e12:7.1f} TFLOP/s")
