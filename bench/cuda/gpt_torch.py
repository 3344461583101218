"""The GPT-2 124M-shaped training step of bench/cuda/gpt_born.c in PyTorch: the same model
(nanoGPT's GPT-2: learned positions, pre-norm LayerNorm blocks with biases, GELU-tanh MLP, tied
embeddings, vocabulary 50304, F.scaled_dot_product_attention with is_causal), AdamW (lr 6e-4,
weight decay 0.1, fused), one fixed random batch, the loss read back every step, the median of
the timed steps after 3 warm-ups. Modes: bf16 (the whole model in bf16, as Born's run), autocast
(f32 master weights under bf16 autocast), and either with torch.compile (+compile).
Usage: python3 bench/cuda/gpt_torch.py MODE B T steps"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, BLOCK, L, H, D = 50304, 1024, 12, 12, 768


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.c_attn, self.c_proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.c_fc, self.mlp_proj = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(D, dim=2)
        q, k, v = (z.view(b, t, H, D // H).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, D))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, D), nn.Embedding(BLOCK, D)
        self.h = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(D)
        for n, p in self.named_parameters():
            if n.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln" in n:
                nn.init.ones_(p)
            else:
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * L) if "proj.weight" in n else 0.02)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.h:
            x = blk(x)
        return self.ln_f(x) @ self.wte.weight.t()


def main():
    mode, b, t, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.manual_seed(1)
    m = GPT().cuda()
    if mode.startswith("bf16"):
        m = m.to(torch.bfloat16)
    opt = torch.optim.AdamW(m.parameters(), lr=6e-4, weight_decay=0.1, fused=True)
    step_fn = m
    if mode.endswith("+compile"):
        step_fn = torch.compile(m)
    x = torch.randint(0, 50257, (b, t), device="cuda")
    y = torch.randint(0, 50257, (b * t,), device="cuda")
    auto = mode.startswith("autocast")
    ts, first, last = [], 0.0, 0.0
    for s in range(steps + 3):
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=auto):
            logits = step_fn(x).view(b * t, V)
        loss = F.cross_entropy(logits.float() if auto else logits, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        val = loss.item()
        if s == 0:
            first = val
        last = val
        if s >= 3:
            ts.append(time.perf_counter() - t0)
    ts.sort()
    med = ts[len(ts) // 2] if len(ts) % 2 else 0.5 * (ts[len(ts) // 2 - 1] + ts[len(ts) // 2])
    print(f"torch gpt2-124M {mode:16s} B{b} T{t}  {med * 1e3:8.2f} ms/step  {b * t / med:9.0f} tok/s  "
          f"(loss {first:.3f} -> {last:.3f})")


main()
