#!/usr/bin/env python3
"""The PyTorch twin of `born train-lm` (tools/born/train_lm.c): the same GPT, trained from the same
initial weights on the same batches with the same AdamW, schedule and clipping, in float32 on the
CPU, writing the same CSV (step,train_loss,val_loss,tokens_per_s).

  born train-lm TEXT --init-out init.safetensors [options] ...   (Born writes its initial weights,
                                                                  with the model's shape as metadata)
  python3 bench/validation/train_lm_torch.py TEXT --init init.safetensors [the same options]

What is shared, and how (see tools/born/lm_data.h and tools/born/train_lm.c):
  * tokens: the file's bytes (vocabulary 256); the first n * 9 // 10 train, the rest validates.
  * windows: SplitMix64. The training stream starts at state = seed and draws each step's `batch`
    window starts in order; a window of T tokens in [lo, hi) starts at lo + next() % (hi - lo - T),
    inputs ids[s:s+T], targets ids[s+1:s+T+1]. The validation windows (--eval-windows of them) are
    drawn once from the stream with state = seed ^ 0xD1B54A32D192ED03.
  * model: tools/gen_gpt_fixtures.py's forward (the GPT-2 / LLaMA-style GPT under Born's parameter
    names), LayerNorm/RMSNorm eps 1e-5, RoPE theta 10000.
  * step s (0-based): lr = lr * (s + 1) / warmup while s < warmup, then min_lr + (lr - min_lr) *
    (1 + cos(pi * (s - warmup) / (steps - warmup))) / 2; mean cross-entropy; backward;
    clip_grad_norm_(clip) when clip > 0; AdamW (one group: weight decay on every parameter, eps 1e-8).
  * validation loss at step 0, every --eval-every steps and at the last step: the mean loss of the
    validation windows, in batches of `batch`. tokens/s counts the training steps only.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import gen_gpt_fixtures as ref  # noqa: E402

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
VAL_XOR = 0xD1B54A32D192ED03


class SplitMix64:
    def __init__(self, state):
        self.state = state & MASK

    def next(self):
        self.state = (self.state + GAMMA) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def starts(self, lo, hi, t, n):
        return [lo + self.next() % (hi - lo - t) for _ in range(n)]


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file (F32 and I64 only)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        dt = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(blob[base + a:base + b], dtype=dt).reshape(info["shape"]).copy())
    return out, meta


def batch(ids, starts, t):
    x = torch.stack([ids[s:s + t] for s in starts])
    y = torch.stack([ids[s + 1:s + 1 + t] for s in starts])
    return x, y


def lr_at(a, s):
    if s < a.warmup:
        return a.lr * (s + 1) / a.warmup
    progress = (s - a.warmup) / (a.steps - a.warmup) if a.steps > a.warmup else 1.0
    return a.min_lr + (a.lr - a.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("text")
    ap.add_argument("--init", required=True, help="initial weights written by born train-lm --init-out")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=None)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-windows", type=int, default=32)
    ap.add_argument("--log", help="CSV: step,train_loss,val_loss,tokens_per_s")
    a = ap.parse_args()
    if a.min_lr is None:
        a.min_lr = a.lr / 10
    a.warmup = min(a.warmup, a.steps)
    torch.set_num_threads(a.threads)

    weights, meta = read_safetensors(a.init)
    if meta.get("train_lm.tokenizer", "bytes") != "bytes":
        sys.exit("train_lm_torch.py: only the byte-level tokenizer is supported")
    c = dict(vocab=int(meta["train_lm.vocab"]), block=int(meta["train_lm.context"]),
             layers=int(meta["train_lm.layers"]), heads=int(meta["train_lm.heads"]),
             kv_heads=int(meta["train_lm.kv_heads"]), dim=int(meta["train_lm.dim"]),
             hidden=int(meta["train_lm.hidden"]), llama=meta["train_lm.arch"] == "llama")
    t = c["block"]
    p = {k: v.float().requires_grad_(True) for k, v in weights.items()}
    expected = ref.param_shapes(c)
    if set(p) != set(expected) or any(tuple(p[k].shape) != tuple(s) for k, s in expected.items()):
        sys.exit(f"train_lm_torch.py: {a.init} does not hold the parameters of {c}")
    params = list(p.values())
    nparams = sum(v.numel() for v in params)

    data = open(a.text, "rb").read()
    ids = torch.from_numpy(np.frombuffer(data, dtype=np.uint8).astype(np.int64))
    n = len(ids)
    split = n * 9 // 10
    train_rng = SplitMix64(a.seed)
    val_starts = SplitMix64(a.seed ^ VAL_XOR).starts(split, n, t, a.eval_windows)

    def val_loss():
        with torch.no_grad():
            total = 0.0
            for i in range(0, len(val_starts), a.batch):
                x, y = batch(ids, val_starts[i:i + a.batch], t)
                loss = F.cross_entropy(ref.forward(c, p, x).view(-1, c["vocab"]), y.view(-1))
                total += loss.item() * len(x)
            return total / len(val_starts)

    opt = torch.optim.AdamW(params, lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8, weight_decay=a.weight_decay)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: {'llama' if c['llama'] else 'gpt2'} "
          f"{c['layers']} layers, dim {c['dim']}, {c['heads']} heads, context {t}: {nparams} parameters; "
          f"{n} tokens ({split} train)", flush=True)
    log = open(a.log, "w") if a.log else None
    if log:
        log.write("step,train_loss,val_loss,tokens_per_s\n")
    v = val_loss()
    print(f"step 0: val loss {v:.4f}", flush=True)
    if log:
        log.write(f"0,,{v:.6f},\n")
    secs, recent, nrecent = 0.0, 0.0, 0
    for step in range(1, a.steps + 1):
        t0 = time.perf_counter()
        x, y = batch(ids, train_rng.starts(0, split, t, a.batch), t)
        for g in opt.param_groups:
            g["lr"] = lr_at(a, step - 1)
        loss = F.cross_entropy(ref.forward(c, p, x).view(-1, c["vocab"]), y.view(-1))
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        lv = loss.item()
        secs += time.perf_counter() - t0
        recent += lv
        nrecent += 1
        tps = step * a.batch * t / secs
        ev = step % a.eval_every == 0 or step == a.steps
        if ev:
            v = val_loss()
            print(f"step {step}/{a.steps}: train loss {recent / nrecent:.4f}, val loss {v:.4f}, "
                  f"lr {lr_at(a, step - 1):.3g}, {tps:.0f} tokens/s", flush=True)
            recent, nrecent = 0.0, 0
        if log:
            log.write(f"{step},{lv:.6f}," + (f"{v:.6f}" if ev else "") + f",{tps:.1f}\n")
            log.flush()
    print(f"trained {a.steps} steps in {secs:.1f} s ({a.steps * a.batch * t / secs:.0f} tokens/s)")


if __name__ == "__main__":
    main()
