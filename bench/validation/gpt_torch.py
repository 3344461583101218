#!/usr/bin/env python3
"""Training tokens/s of the GPT of examples/gpt_train.c in PyTorch (CPU, float32), for comparison
with the tokens/s that example prints. Same architecture and parameter names as
tools/gen_gpt_fixtures.py (it reuses its forward), nanoGPT-style AdamW steps on random windows.

  python3 bench/validation/gpt_torch.py FILE [--llama] [--layers 2] [--dim 64] [--heads 4]
                                        [--context 64] [--batch 16] [--steps 60] [--threads 2]
                                        [--bf16]

--bf16 runs the forward under torch.autocast("cpu", dtype=torch.bfloat16) and the loss from f32
logits, as the example's --bf16.
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
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--llama", action="store_true")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = open(a.file, "rb").read()
    chars = sorted(set(data))
    ids = torch.tensor([chars.index(b) for b in data], dtype=torch.long)
    hidden = ((8 * a.dim // 3 + 15) // 16) * 16 if a.llama else 4 * a.dim
    c = dict(vocab=len(chars), block=a.context, layers=a.layers, heads=a.heads,
             kv_heads=max(1, a.heads // 2) if a.llama else a.heads, dim=a.dim, hidden=hidden,
             llama=a.llama)
    g = torch.Generator().manual_seed(0)
    p = {k: v.detach().float().requires_grad_(True) for k, v in ref.init_params(c, g).items()}
    opt = torch.optim.AdamW(list(p.values()), lr=3e-3, betas=(0.9, 0.99), weight_decay=0.1)
    n = len(ids) * 9 // 10
    t0, warm = None, 5
    for step in range(a.steps + warm):
        if step == warm:
            t0 = time.perf_counter()
        s = torch.randint(0, n - a.context - 1, (a.batch,), generator=g)
        x = torch.stack([ids[i:i + a.context] for i in s])
        y = torch.stack([ids[i + 1:i + 1 + a.context] for i in s])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            logits = ref.forward(c, p, x)
        loss = F.cross_entropy(logits.float().view(-1, c["vocab"]), y.view(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    print(f"torch {torch.__version__}, {a.threads} threads, {'llama' if a.llama else 'gpt2'}"
          f"{', bf16 autocast' if a.bf16 else ''}: "
          f"{a.steps * a.batch * a.context / dt:.0f} tokens/s ({1e3 * dt / a.steps:.2f} ms/step), "
          f"last loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
