#!/usr/bin/env python3
"""Makes a tiny random LLaMA-architecture model and its reference logits, for the engine's tests
in CI (where the real model is absent).

    python3 tools/gen_tiny_llama.py            # writes tests/fixtures/llm/tiny-llama*.gguf + json

The model (2 layers, width 64, 4 query heads over 2 kv heads, head size 16, FFN 128, RoPE theta
10000, RMS-norm eps 1e-5, untied output, a 289-token byte-level "gpt2" vocabulary) is built as a
Hugging Face LlamaForCausalLM with seeded random weights. The reference logits are that model's
forward pass in float32 (HF transformers, an implementation independent of Born and llama.cpp).

The GGUF file stores the weights as llama.cpp's convert_hf_to_gguf.py does: q and k projection rows
permuted from HF's rotate-half RoPE layout to the interleaved pairs llama.cpp's RoPE reads, and
every matrix with ne = [in, out]. tiny-llama-q8_0.gguf holds the same matrices quantized to Q8_0
(norms stay F32); its reference is the HF model run on the dequantized weights, so what remains
is the engine's own error (llama.cpp quantizes activations to 8 bits in Q8_0 matmuls).

When llama-cpp-python is installed, the script also runs llama.cpp on both files, with its KV cache
in F16 (its default) and in F32, and records how far llama.cpp's logits are from the references
(the "llama_cpp_kv_*" entries), which calibrates the tolerances a test should use.
"""
import json
import os
import sys

import numpy as np
import torch
import gguf

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "llm")

N_LAYER, N_EMBD, N_HEAD, N_HEAD_KV, N_FF = 2, 64, 4, 2, 128
HEAD_DIM = N_EMBD // N_HEAD
ROPE_THETA, EPS, N_CTX = 10000.0, 1e-5, 256


def bytes_to_unicode():
    """GPT-2's byte-to-character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


MERGES = [("Ġ", "t"), ("h", "e"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġt", "he"),
          ("r", "e"), ("Ġ", "s"), ("a", "t"), ("o", "r"), ("e", "n"), ("Ġ", "w"), ("Ġ", "o"),
          ("i", "s"), ("Ġ", "c"), ("e", "s"), ("a", "n"), ("Ġ", "b"), ("i", "t"), ("Ġ", "f"),
          ("Ġ", "m"), ("a", "l"), ("Ġ", "p"), ("Ġa", "n"), ("Ġan", "d"), ("in", "g"), ("Ġ", "d"),
          ("o", "u"), ("l", "l")]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def vocabulary():
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    for a, b in MERGES:
        assert a in tokens and b in tokens, (a, b)
        tokens.append(a + b)
    types = [1] * len(tokens) + [3] * len(SPECIAL)
    tokens += SPECIAL
    assert len(set(tokens)) == len(tokens)
    return tokens, types


def make_model(n_vocab):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=n_vocab, hidden_size=N_EMBD, intermediate_size=N_FF,
                      num_hidden_layers=N_LAYER, num_attention_heads=N_HEAD,
                      num_key_value_heads=N_HEAD_KV, max_position_embeddings=N_CTX,
                      rms_norm_eps=EPS, rope_theta=ROPE_THETA, tie_word_embeddings=False,
                      attention_bias=False, mlp_bias=False, hidden_act="silu")
    cfg._attn_implementation = "eager"
    model = LlamaForCausalLM(cfg).float().eval()
    g = torch.Generator().manual_seed(20261130)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:  # RMS-norm weights: around 1, not all 1, so a missing one shows
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:  # [out, in]: unit gain, logits a few units wide
                gain = 3.0 if "lm_head" in name else 1.0
                p.copy_(gain * torch.randn(p.shape, generator=g) / np.sqrt(p.shape[1]))
    return model


def permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: HF rotate-half rows -> interleaved pairs."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def gguf_tensors(model):
    """(name, [out, in] float32 array) in llama.cpp's names and layout."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out = [("token_embd.weight", sd["model.embed_tokens.weight"])]
    for i in range(N_LAYER):
        p = f"model.layers.{i}."
        out += [
            (f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"]),
            (f"blk.{i}.attn_q.weight", permute(sd[p + "self_attn.q_proj.weight"], N_HEAD)),
            (f"blk.{i}.attn_k.weight", permute(sd[p + "self_attn.k_proj.weight"], N_HEAD_KV)),
            (f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"]),
            (f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"]),
            (f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"]),
            (f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"]),
            (f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"]),
            (f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"]),
        ]
    out += [("output_norm.weight", sd["model.norm.weight"]), ("output.weight", sd["lm_head.weight"])]
    return out


def write_gguf(path, tensors, qtype, tokens, types):
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny-llama (random weights, Born test fixture)")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_layer_norm_rms_eps(EPS)
    w.add_rope_freq_base(ROPE_THETA)
    w.add_vocab_size(len(tokens))
    w.add_file_type({None: gguf.LlamaFileType.ALL_F32,
                     gguf.GGMLQuantizationType.Q8_0: gguf.LlamaFileType.MOSTLY_Q8_0,
                     gguf.GGMLQuantizationType.Q4_1: gguf.LlamaFileType.MOSTLY_Q4_1}[qtype])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([f"{a} {b}" for a, b in MERGES])
    w.add_bos_token_id(tokens.index("<|endoftext|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>"
                        "assistant\n{% endif %}")
    deq = {}
    for name, t in tensors:
        if qtype is not None and t.ndim == 2:
            q = gguf.quants.quantize(t, qtype)
            w.add_tensor(name, q, raw_dtype=qtype)
            deq[name] = gguf.quants.dequantize(q, qtype).reshape(t.shape).astype(np.float32)
        else:
            w.add_tensor(name, t)
            deq[name] = t
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return deq


def unpermute(w, n_head):
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def load_into(model, deq):
    """Puts GGUF-layout weights (dequantized) back into the HF model."""
    sd = model.state_dict()
    m = {"model.embed_tokens.weight": deq["token_embd.weight"],
         "model.norm.weight": deq["output_norm.weight"], "lm_head.weight": deq["output.weight"]}
    for i in range(N_LAYER):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        m[p + "input_layernorm.weight"] = deq[b + "attn_norm.weight"]
        m[p + "self_attn.q_proj.weight"] = unpermute(deq[b + "attn_q.weight"], N_HEAD)
        m[p + "self_attn.k_proj.weight"] = unpermute(deq[b + "attn_k.weight"], N_HEAD_KV)
        m[p + "self_attn.v_proj.weight"] = deq[b + "attn_v.weight"]
        m[p + "self_attn.o_proj.weight"] = deq[b + "attn_output.weight"]
        m[p + "post_attention_layernorm.weight"] = deq[b + "ffn_norm.weight"]
        m[p + "mlp.gate_proj.weight"] = deq[b + "ffn_gate.weight"]
        m[p + "mlp.up_proj.weight"] = deq[b + "ffn_up.weight"]
        m[p + "mlp.down_proj.weight"] = deq[b + "ffn_down.weight"]
    assert set(m) == set(sd), set(sd) ^ set(m)
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in m.items()})


def hf_logits(model, seq):
    with torch.no_grad():
        return model(torch.tensor([seq])).logits[0].float().numpy()


def llama_cpp_logits(path, seq, kv_type):
    """llama.cpp's logits for every position of seq with the KV cache in kv_type ("f16", its
    default, or "f32"), or None without llama-cpp-python."""
    try:
        import llama_cpp
    except ImportError:
        return None
    t = {"f32": llama_cpp.GGML_TYPE_F32, "f16": llama_cpp.GGML_TYPE_F16}[kv_type]
    llm = llama_cpp.Llama(model_path=path, n_ctx=N_CTX, logits_all=True, verbose=False,
                          n_threads=1, type_k=t, type_v=t)
    llm.eval(seq)
    out = np.array(llm.scores[:len(seq)], dtype=np.float32)
    del llm
    return out


def rounded(a):
    return [[float(f"{x:.6g}") for x in row] for row in a]


def main():
    tokens, types = vocabulary()
    n_vocab = len(tokens)
    model = make_model(n_vocab)
    tensors = gguf_tensors(model)
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    seqs = [[int(rng.integers(n_vocab))]] + \
        [[int(x) for x in rng.integers(0, n_vocab, size=n)] for n in (6, 13, 24)]

    ref = {"about": "reference logits of tiny-llama*.gguf from HF transformers LlamaForCausalLM "
                    "(float32); made by tools/gen_tiny_llama.py",
           "n_vocab": n_vocab, "n_layer": N_LAYER, "n_embd": N_EMBD, "n_head": N_HEAD,
           "n_head_kv": N_HEAD_KV, "n_ff": N_FF, "rope_theta": ROPE_THETA, "rms_eps": EPS,
           "files": {}}
    for fname, qtype in (("tiny-llama.gguf", None),
                         ("tiny-llama-q8_0.gguf", gguf.GGMLQuantizationType.Q8_0)):
        path = os.path.join(OUT, fname)
        deq = write_gguf(path, tensors, qtype, tokens, types)
        load_into(model, deq)
        entry = {"sequences": []}
        worst = {}
        for seq in seqs:
            lg = hf_logits(model, seq)
            entry["sequences"].append({"tokens": seq, "logits": rounded(lg)})
            for kv in ("f16", "f32"):
                lc = llama_cpp_logits(path, seq, kv)
                if lc is None:
                    continue
                diff = float(np.abs(lc - lg).max())
                worst[kv] = max(worst.get(kv, 0.0), diff)
                entry.setdefault(f"llama_cpp_kv_{kv}", []).append(
                    {"max_abs_diff": float(f"{diff:.3g}"),
                     "top1_agreement": float((lc.argmax(-1) == lg.argmax(-1)).mean())})
        ref["files"][fname] = entry
        print(f"{fname}: {os.path.getsize(path)} bytes; llama.cpp's max |logit - HF| per KV type:",
              {k: float(f"{v:.3g}") for k, v in worst.items()})
    with open(os.path.join(OUT, "tiny_llama_ref.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")
    print("tiny_llama_ref.json:", os.path.getsize(os.path.join(OUT, "tiny_llama_ref.json")), "bytes")


if __name__ == "__main__":
    sys.exit(main())
