#!/usr/bin/env python3
"""PyTorch reference for Born's GPT (src/nn/gpt.c, tests/nn/test_gpt.c): the llm.c test.

Builds a tiny GPT-2-style model (learned positions, LayerNorm, GELU-tanh, biased projections,
tied embeddings) and a tiny LLaMA-style model (RMSNorm, RoPE on halves, grouped-query attention,
SwiGLU, no biases, untied lm_head) in PyTorch, in float64 (the reference is the exact answer, not
torch's float32 rounding), with random weights under Born's parameter names, and a fixed batch.
Writes tests/fixtures/gpt/<arch>.safetensors (float32) holding
  param.<name>   the initial weights
  idx, targets   the batch [B, T] (int64)
  logits         [B, T, V] of the initial model
  loss           cross-entropy (mean over B*T)
  grad.<name>    every parameter's gradient of that loss
  losses         [STEPS + 1]: the loss before each of STEPS AdamW steps and after the last
and the hyperparameters in the safetensors __metadata__.

Run by hand:  python3 tools/gen_gpt_fixtures.py
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

STEPS = 10
LR, BETAS, EPS, WD = 1e-2, (0.9, 0.95), 1e-8, 0.1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "gpt")

CONFIGS = {
    "gpt2": dict(vocab=48, block=8, layers=2, heads=4, kv_heads=4, dim=32, hidden=64, llama=False),
    "llama": dict(vocab=48, block=8, layers=2, heads=4, kv_heads=2, dim=32, hidden=48, llama=True),
}
B = 2
NORM_EPS = 1e-5
ROPE_THETA = 10000.0


def param_shapes(c):
    d, v, hd = c["dim"], c["vocab"], c["dim"] // c["heads"]
    kvd = c["kv_heads"] * hd
    s = {"wte.weight": (v, d)}
    if not c["llama"]:
        s["wpe.weight"] = (c["block"], d)
    for i in range(c["layers"]):
        p = f"h.{i}."
        s[p + "norm1.weight"] = (d,)
        if not c["llama"]:
            s[p + "norm1.bias"] = (d,)
        for name, rows in (("q_proj", d), ("k_proj", kvd), ("v_proj", kvd), ("o_proj", d)):
            s[p + f"attn.{name}.weight"] = (rows, d)
            if not c["llama"]:
                s[p + f"attn.{name}.bias"] = (rows,)
        s[p + "norm2.weight"] = (d,)
        if not c["llama"]:
            s[p + "norm2.bias"] = (d,)
        mlp = ("gate_proj", "up_proj") if c["llama"] else ("up_proj",)
        for name in mlp:
            s[p + f"mlp.{name}.weight"] = (c["hidden"], d)
            if not c["llama"]:
                s[p + f"mlp.{name}.bias"] = (c["hidden"],)
        s[p + "mlp.down_proj.weight"] = (d, c["hidden"])
        if not c["llama"]:
            s[p + "mlp.down_proj.bias"] = (d,)
    s["ln_f.weight"] = (d,)
    if not c["llama"]:
        s["ln_f.bias"] = (d,)
    else:
        s["lm_head.weight"] = (v, d)
    return s


def init_params(c, g):
    ps = {}
    for name, shape in param_shapes(c).items():
        if "norm" in name or name.startswith("ln_f"):
            t = (1.0 + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)) if name.endswith(
                "weight") else 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif name.endswith("bias"):
            t = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif name in ("wte.weight", "wpe.weight"):
            t = 0.5 * torch.randn(shape, generator=g, dtype=torch.float64)
        else:
            t = torch.randn(shape, generator=g, dtype=torch.float64) / math.sqrt(shape[1])
        # round to float32 first: the fixture stores float32, so both sides start identical
        ps[name] = t.float().double().requires_grad_(True)
    return ps


def rope(x, theta):
    t, hd = x.shape[-2], x.shape[-1]
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=x.dtype) / hd)
    f = torch.outer(torch.arange(t, dtype=x.dtype), inv)
    emb = torch.cat([f, f], dim=-1)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * emb.cos() + torch.cat([-x2, x1], dim=-1) * emb.sin()


def forward(c, p, idx):
    bsz, t = idx.shape
    d, nh, nkv = c["dim"], c["heads"], c["kv_heads"]
    hd = d // nh
    llama = c["llama"]

    def lin(x, name):
        return F.linear(x, p[name + ".weight"], p.get(name + ".bias"))

    def norm(x, name):
        if llama:
            return F.rms_norm(x, (d,), p[name + ".weight"], NORM_EPS)
        return F.layer_norm(x, (d,), p[name + ".weight"], p[name + ".bias"], NORM_EPS)

    x = F.embedding(idx, p["wte.weight"])
    if not llama:
        x = x + F.embedding(torch.arange(t), p["wpe.weight"])
    for i in range(c["layers"]):
        pre = f"h.{i}."
        h = norm(x, pre + "norm1")
        q = lin(h, pre + "attn.q_proj").view(bsz, t, nh, hd).transpose(1, 2)
        k = lin(h, pre + "attn.k_proj").view(bsz, t, nkv, hd).transpose(1, 2)
        v = lin(h, pre + "attn.v_proj").view(bsz, t, nkv, hd).transpose(1, 2)
        if llama:
            q, k = rope(q, ROPE_THETA), rope(k, ROPE_THETA)
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).reshape(bsz, t, d)
        x = x + lin(y, pre + "attn.o_proj")
        h = norm(x, pre + "norm2")
        if llama:
            h = F.silu(lin(h, pre + "mlp.gate_proj")) * lin(h, pre + "mlp.up_proj")
        else:
            h = F.gelu(lin(h, pre + "mlp.up_proj"), approximate="tanh")
        x = x + lin(h, pre + "mlp.down_proj")
    x = norm(x, "ln_f")
    head = p["lm_head.weight"] if llama else p["wte.weight"]
    return F.linear(x, head)


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dt = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}[arr.dtype]
        b = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make(arch, seed):
    c = CONFIGS[arch]
    g = torch.Generator().manual_seed(seed)
    p = init_params(c, g)
    idx = torch.randint(0, c["vocab"], (B, c["block"]), generator=g)
    targets = torch.randint(0, c["vocab"], (B, c["block"]), generator=g)
    out = {"param." + k: v.detach().float().numpy() for k, v in p.items()}
    out["idx"], out["targets"] = idx.numpy(), targets.numpy()

    logits = forward(c, p, idx)
    loss = F.cross_entropy(logits.view(-1, c["vocab"]), targets.view(-1))
    loss.backward()
    out["logits"] = logits.detach().float().numpy()
    out["loss"] = np.array([loss.item()], dtype=np.float32)
    for k, v in p.items():
        out["grad." + k] = v.grad.float().numpy()

    opt = torch.optim.AdamW(list(p.values()), lr=LR, betas=BETAS, eps=EPS, weight_decay=WD)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(forward(c, p, idx).view(-1, c["vocab"]), targets.view(-1))
        losses.append(loss.item())
        loss.backward()
        opt.step()
    with torch.no_grad():
        losses.append(F.cross_entropy(forward(c, p, idx).view(-1, c["vocab"]),
                                      targets.view(-1)).item())
    out["losses"] = np.array(losses, dtype=np.float32)
    meta = {k: str(v) for k, v in c.items()}
    meta.update(batch=str(B), lr=str(LR), beta1=str(BETAS[0]), beta2=str(BETAS[1]), eps=str(EPS),
                weight_decay=str(WD), steps=str(STEPS), norm_eps=str(NORM_EPS),
                rope_theta=str(ROPE_THETA), torch=torch.__version__)
    path = os.path.join(OUT, arch + ".safetensors")
    write_safetensors(path, out, meta)
    print(f"{path}: {os.path.getsize(path)} bytes, loss {out['loss'][0]:.6f}, "
          f"losses {' '.join(f'{x:.4f}' for x in losses)}")


if __name__ == "__main__":
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    make("gpt2", 1234)
    make("llama", 4321)
