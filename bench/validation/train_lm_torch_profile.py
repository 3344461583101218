#!/usr/bin/env python3
"""Per-op profile of the PyTorch twin's training step (train_lm_torch.py's model, random batch),
to set beside BORN_PROFILE=1 born train-lm: torch.profiler's self CPU time per op, ms per step.

  python3 bench/validation/train_lm_torch_profile.py --threads 1 --steps 3 [--layers 6 --dim 384
      --heads 6 --context 256 --batch 8]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import gen_gpt_fixtures as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = dict(vocab=256, block=a.context, layers=a.layers, heads=a.heads, kv_heads=a.heads, dim=a.dim,
             hidden=4 * a.dim, llama=False)
    p = {k: (0.02 * torch.randn(s)).requires_grad_(True) for k, s in ref.param_shapes(c).items()}
    params = list(p.values())
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)

    def step():
        x = torch.randint(0, 256, (a.batch, a.context))
        y = torch.randint(0, 256, (a.batch, a.context))
        loss = F.cross_entropy(ref.forward(c, p, x).view(-1, 256), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = (time.perf_counter() - t0) / a.steps
    print(f"torch {torch.__version__}, {a.threads} threads: {dt * 1e3:.1f} ms/step, "
          f"{a.batch * a.context / dt:.0f} tokens/s (unprofiled)")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(a.steps):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    print(f"{'op':<48} {'self ms/step':>12} {'calls/step':>10}")
    for e in rows[:a.top]:
        print(f"{e.key[:48]:<48} {e.self_cpu_time_total / 1e3 / a.steps:12.2f} {e.count / a.steps:10.1f}")


if __name__ == "__main__":
    main()
