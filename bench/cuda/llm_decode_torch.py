"""PyTorch beside bench/cuda/llm_decode_born.c: the same LLaMA-like 1B in bf16 (dim 2048, 16
layers, 32 heads over 8 kv heads, FFN 8192, vocabulary 32000, untied output, random weights), a
static KV cache read through a mask (its cost does not depend on its contents, so no prompt is
run: decoding starts at position CTX), then N tokens decoded greedily at batch 1 (argmax on the
device, as gpt-fast does: no host sync per token, which favours PyTorch against Born's copy of
every token's logits to the host). Modes: eager, graph (the step captured once with
torch.cuda.CUDAGraph and replayed, the token and position updated inside the graph), compile
(torch.compile of the step, default mode, then captured the same way), prefill (a prompt of CTX
tokens in one batched forward, eager: causal SDPA over the prompt, the cache written, the last
row's logits; best of 5 after 2 warm-ups, beside llm_decode_born's batched prompt), batch (B = 1,
4, 16, 64 sequences at position CTX decoding together, one CUDA-graph replay a step, argmax on
the device; beside llm_decode_born's born_session_eval_batch figures).
Prints tok/s per mode as TORCH_<MODE>_TOKS=...
Usage: python3 llm_decode_torch.py MODES N CTX   (MODES e.g. eager,graph,compile)"""
import math
import sys
import time

import torch
import torch.nn.functional as F

V, D, L, H, KV, FF = 32000, 2048, 16, 32, 8, 8192
HD = D // H


def main():
    modes, n, ctx = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3])
    maxlen = ctx + n + 64
    dev, dt = "cuda", torch.bfloat16
    torch.manual_seed(0)

    def w(*s):
        return (torch.rand(*s, device=dev, dtype=torch.float32) * 0.06 - 0.03).to(dt)

    emb, out_w = w(V, D), w(V, D)
    wqkv = [w((H + 2 * KV) * HD, D) for _ in range(L)]
    wo = [w(D, D) for _ in range(L)]
    wgu = [w(2 * FF, D) for _ in range(L)]
    wd = [w(D, FF) for _ in range(L)]
    ln1 = [torch.ones(D, device=dev, dtype=dt) for _ in range(L)]
    ln2 = [torch.ones(D, device=dev, dtype=dt) for _ in range(L)]
    lnf = torch.ones(D, device=dev, dtype=dt)
    kc = torch.zeros(L, 1, KV, maxlen, HD, device=dev, dtype=dt)
    vc = torch.zeros_like(kc)
    inv = 1.0 / (500000.0 ** (torch.arange(0, HD, 2, device=dev, dtype=torch.float32) / HD))
    ang = torch.arange(maxlen, device=dev, dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = ang.cos(), ang.sin()
    ar = torch.arange(maxlen, device=dev)

    def rms(x, g):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(dt) * g

    def rope(x, pos):  # x [1, h, T, HD] at positions pos [T], pairs (2i, 2i+1)
        c, s = cos[pos].view(1, 1, -1, HD // 2), sin[pos].view(1, 1, -1, HD // 2)
        xf = x.float().view(*x.shape[:-1], HD // 2, 2)
        a, b = xf[..., 0], xf[..., 1]
        return torch.stack((a * c - b * s, a * s + b * c), -1).flatten(-2).to(dt)

    def step(tok, pos):  # tok [1] int64, pos [1] int64 -> logits [1, V]
        x = emb[tok]
        mask = (ar <= pos).view(1, 1, 1, maxlen)
        for l in range(L):
            qkv = rms(x, ln1[l]) @ wqkv[l].t()
            q, k, v = qkv.split([H * HD, KV * HD, KV * HD], -1)
            q = rope(q.view(1, 1, H, HD).transpose(1, 2), pos)
            k = rope(k.view(1, 1, KV, HD).transpose(1, 2), pos)
            kc[l].index_copy_(2, pos, k)
            vc[l].index_copy_(2, pos, v.view(1, 1, KV, HD).transpose(1, 2))
            a = F.scaled_dot_product_attention(q, kc[l], vc[l], attn_mask=mask, enable_gqa=True)
            x = x + a.transpose(1, 2).reshape(1, D) @ wo[l].t()
            g, u = (rms(x, ln2[l]) @ wgu[l].t()).split([FF, FF], -1)
            x = x + (F.silu(g) * u) @ wd[l].t()
        return rms(x, lnf) @ out_w.t()

    def prompt(toks):  # toks [T] at positions 0..T-1 -> the last token's logits [1, V]
        t = toks.shape[0]
        p = ar[:t]
        x = emb[toks]
        for l in range(L):
            q, k, v = (rms(x, ln1[l]) @ wqkv[l].t()).split([H * HD, KV * HD, KV * HD], -1)
            q = rope(q.view(t, H, HD).transpose(0, 1)[None], p)
            k = rope(k.view(t, KV, HD).transpose(0, 1)[None], p)
            v = v.view(t, KV, HD).transpose(0, 1)[None]
            kc[l][:, :, :t] = k
            vc[l][:, :, :t] = v
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            x = x + a[0].transpose(0, 1).reshape(t, D) @ wo[l].t()
            g, u = (rms(x, ln2[l]) @ wgu[l].t()).split([FF, FF], -1)
            x = x + (F.silu(g) * u) @ wd[l].t()
        return rms(x[-1:], lnf) @ out_w.t()

    def batch_tps(B):  # B sequences, each its own static cache, one graph replay a step
        bk = torch.zeros(L, B, KV, maxlen, HD, device=dev, dtype=dt)
        bv = torch.zeros_like(bk)
        btok = torch.zeros(B, dtype=torch.long, device=dev)
        bpos = torch.full((1,), ctx, dtype=torch.long, device=dev)

        def bstep():
            x = emb[btok]
            mask = (ar <= bpos).view(1, 1, 1, maxlen)
            for l in range(L):
                q, k, v = (rms(x, ln1[l]) @ wqkv[l].t()).split([H * HD, KV * HD, KV * HD], -1)
                q = rope(q.view(B, 1, H, HD).transpose(1, 2), bpos)
                k = rope(k.view(B, 1, KV, HD).transpose(1, 2), bpos)
                bk[l].index_copy_(2, bpos, k)
                bv[l].index_copy_(2, bpos, v.view(B, 1, KV, HD).transpose(1, 2))
                a = F.scaled_dot_product_attention(q, bk[l], bv[l], attn_mask=mask, enable_gqa=True)
                x = x + a.transpose(1, 2).reshape(B, D) @ wo[l].t()
                g, u = (rms(x, ln2[l]) @ wgu[l].t()).split([FF, FF], -1)
                x = x + (F.silu(g) * u) @ wd[l].t()
            btok.copy_((rms(x, lnf) @ out_w.t()).argmax(-1))
            bpos.add_(1)

        st = torch.cuda.Stream()
        st.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(st):
            for _ in range(3):
                bstep()
        torch.cuda.current_stream().wait_stream(st)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            bstep()
        steps = 32
        bpos.fill_(ctx)
        for _ in range(4):
            g.replay()
        torch.cuda.synchronize()
        t0 = time.time()
        for _ in range(steps):
            g.replay()
        torch.cuda.synchronize()
        dt_step = (time.time() - t0) / steps
        del g, bk, bv
        return B / dt_step, dt_step

    tok = torch.zeros(1, dtype=torch.long, device=dev)
    pos = torch.zeros(1, dtype=torch.long, device=dev)

    def advance(f):
        logits = f(tok, pos)
        tok.copy_(logits.argmax(-1))
        pos.add_(1)

    results = {}
    a = torch.empty(1 << 29, device=dev, dtype=torch.float32).uniform_()
    best = 0.0
    for _ in range(6):  # device copy bandwidth, bytes read + written
        torch.cuda.synchronize()
        t0 = time.time()
        b = a.clone()
        torch.cuda.synchronize()
        best = max(best, 2 * a.numel() * 4 / (time.time() - t0))
        del b
    del a
    print(f"COPY_GBS={best / 1e9:.0f}", flush=True)
    with torch.inference_mode():
        for mode in modes:
            if mode == "batch":
                for B in (1, 4, 16, 64):
                    tps, dts = batch_tps(B)
                    results[f"batch{B}"] = tps
                    print(f"TORCH_BATCH{B}_TOKS={tps:.1f} ({dts * 1e3:.3f} ms a step, CUDA graph)", flush=True)
                continue
            if mode == "prefill":
                toks = torch.randint(0, V, (ctx,), device=dev)
                best = float("inf")
                for i in range(7):
                    torch.cuda.synchronize()
                    t0 = time.time()
                    prompt(toks)
                    torch.cuda.synchronize()
                    if i >= 2:
                        best = min(best, time.time() - t0)
                results[mode] = ctx / best
                print(f"TORCH_PREFILL_TOKS={ctx / best:.1f} ({best * 1e3:.2f} ms for {ctx} tokens)", flush=True)
                continue
            f = step
            if mode == "compile":
                t0 = time.time()
                f = torch.compile(step, fullgraph=True)
                advance(f)
                torch.cuda.synchronize()
                print(f"compile: {time.time() - t0:.0f} s", flush=True)
            pos.fill_(ctx)  # the masked attention reads the whole static cache at any position
            if mode in ("graph", "compile"):
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    for _ in range(3):
                        advance(f)
                torch.cuda.current_stream().wait_stream(s)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    advance(f)
                run = g.replay
            else:
                run = lambda: advance(f)
            for _ in range(5):
                run()
            pos.fill_(ctx)
            torch.cuda.synchronize()
            t0 = time.time()
            for _ in range(n):
                run()
            torch.cuda.synchronize()
            tps = n / (time.time() - t0)
            results[mode] = tps
            print(f"TORCH_{mode.upper()}_TOKS={tps:.1f}", flush=True)
    return results


if __name__ == "__main__":
    main()
