#!/usr/bin/env python3
"""Reference data from llama.cpp (llama-cpp-python) for SmolLM2-135M-Instruct, for the LLM
conformance run (tests/conformance/llm_conformance.c). Run by hand:

    tools/fetch_smollm2.sh                                   # build/models/...Q4_1.gguf
    build/born quantize build/models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        build/models/SmolLM2-135M-Instruct.Q8_0.gguf q8_0
    python3 tools/gen_llm_fixtures.py build/models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        build/models/SmolLM2-135M-Instruct.Q8_0.gguf

For each model file (its type named by the file name: q4_1, q8_0) it writes, under
tests/fixtures/llm/smollm2/:
  prompts.json         token ids of 20 varied prompts (llama_tokenize with add_special, and
                       parse_special as each prompt says); the same for every file
  TYPE.json            the SHA-256 of the file, the 513 text tokens evaluated, and 64-token greedy
                       continuations of 10 prompts (stopping early at an end-of-generation token,
                       which is not included; "eog" says so)
  TYPE_top_ids.npy     int32 [512, 64]: per position of text.txt's first 513 tokens, the ids of the
                       64 largest next-token logits (largest first)
  TYPE_top_logits.npy  float32 [512, 64]: those logits
  TYPE_lse.npy         float32 [512]: the log-sum-exp of all n_vocab logits at that position
With --compare-quantize Q4_1.gguf BORN_Q8_0.gguf it instead quantizes the Q4_1 file to Q8_0 with
llama.cpp's llama_model_quantize (allow_requantize) and compares it with Born's file: whole-file
bytes, then metadata and every tensor's type, shape and data.

From these a checker gets top-1 agreement and KL(ref || ours) over the reference's top-64 tokens
plus one bucket for the rest of the vocabulary, which is a lower bound of the full KL (merging
outcomes never increases a KL divergence).
"""
import ctypes
import hashlib
import json
import os
import sys

import numpy as np
import llama_cpp

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "llm", "smollm2")
N_POS, TOP = 512, 64

PROMPTS = [  # (text, parse_special)
    ("Hello, world!", True),
    ("The quick brown fox jumps over the lazy dog.", True),
    ("  leading spaces and trailing spaces   ", True),
    ("multiple\n\nnewlines\n\n\n\tand\ttabs", True),
    ("Numbers: 3.14159, 1234567890, -42, 1e-10, 0x1F, 100%", True),
    ("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n", True),
    ("for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }", True),
    ("Unicode: café, naïve, Zürich, São Paulo, Ångström", True),
    ("日本語のテキストと中文文本", True),
    ("Emoji: 😀🎉👍🏽 and symbols ∑∫√∞ ≤ ≥ ≠", True),
    ("Привет, мир! Γειά σου Κόσμε! مرحبا بالعالم", True),
    ("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", True),
    ("<|im_start|>user\nWhat is 2+2?<|im_end|>\n", False),
    ("<|endoftext|>text after a special token", True),
    ("URL: https://example.com/path?query=1&x=y#frag and email a.b@example.org", True),
    ("CamelCaseIdentifiers and snake_case_names and SCREAMING_CASE", True),
    ("It's don't won't they're I'm we've you'll he'd", True),
    ("                                        many spaces", True),
    ("a", True),
    ("", True),
]

CONTINUATIONS = [
    "The capital of France is",
    "Once upon a time, in a small village,",
    "def add(a, b):\n",
    "The three primary colors are",
    "1, 2, 3, 4, 5,",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    "What is the boiling point of water?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nList three fruits.<|im_end|>\n<|im_start|>assistant\n",
    "Water is made of",
    "In machine learning, a neural network",
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def open_model(path, logits_all):
    return llama_cpp.Llama(model_path=path, n_ctx=1024, n_batch=512, logits_all=logits_all,
                           verbose=False, n_threads=1)


def tokenize(llm, text, special):
    return llm.tokenize(text.encode("utf-8"), add_bos=True, special=special)


def greedy(llm, prompt):
    llm.reset()
    ids = tokenize(llm, prompt, True)
    llm.eval(ids)
    out, eog = [], False
    for _ in range(64):
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        if llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(llm.model), tok):
            eog = True
            break
        out.append(tok)
        llm.eval([tok])
    return ids, out, eog


def compare_quantize(src, born_path):
    import tempfile
    import gguf
    out = os.path.join(tempfile.mkdtemp(), "llama-cpp.Q8_0.gguf")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = 1
    rc = llama_cpp.llama_model_quantize(src.encode(), out.encode(), ctypes.byref(params))
    assert rc == 0, f"llama_model_quantize failed: {rc}"
    with open(out, "rb") as f, open(born_path, "rb") as g:
        a, b = f.read(), g.read()
    print(f"llama.cpp: {len(a)} bytes, born: {len(b)} bytes, byte-identical: {a == b}")
    ra, rb = gguf.GGUFReader(out), gguf.GGUFReader(born_path)
    ka = {k: f.contents() for k, f in ra.fields.items() if not k.startswith("GGUF.")}
    kb = {k: f.contents() for k, f in rb.fields.items() if not k.startswith("GGUF.")}
    for k in sorted(set(ka) | set(kb)):
        if ka.get(k) != kb.get(k):
            show = lambda v: (str(v)[:80] if v is not None else "absent")
            print(f"  metadata {k}: llama.cpp {show(ka.get(k))} / born {show(kb.get(k))}")
    if list(ka) != list(kb):
        print("  metadata keys are in a different order")
    if [t.name for t in ra.tensors] != [t.name for t in rb.tensors]:
        print("  tensors are in a different order")
    ta = {t.name: t for t in ra.tensors}
    tb = {t.name: t for t in rb.tensors}
    same = diff = 0
    for name in sorted(set(ta) | set(tb)):
        x, y = ta.get(name), tb.get(name)
        if x is None or y is None:
            print(f"  tensor {name}: only in {'born' if x is None else 'llama.cpp'}")
            diff += 1
        elif x.tensor_type != y.tensor_type or list(x.shape) != list(y.shape) or \
                x.data.tobytes() != y.data.tobytes():
            print(f"  tensor {name}: llama.cpp {x.tensor_type.name} {list(x.shape)} / born "
                  f"{y.tensor_type.name} {list(y.shape)}, data equal: "
                  f"{x.data.tobytes() == y.data.tobytes()}")
            diff += 1
        else:
            same += 1
    print(f"tensors identical: {same}, different: {diff}")
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--compare-quantize":
        return compare_quantize(sys.argv[2], sys.argv[3])
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    with open(os.path.join(OUT, "text.txt"), encoding="utf-8") as f:
        text = f.read()
    prompts_doc = None
    for path in sys.argv[1:]:
        kind = "q8_0" if "q8_0" in path.lower() else "q4_1" if "q4_1" in path.lower() else None
        assert kind, f"name the type (q4_1 / q8_0) in the file name: {path}"
        llm = open_model(path, True)
        prompts = [{"text": t, "parse_special": s, "ids": tokenize(llm, t, s)} for t, s in PROMPTS]
        if prompts_doc is None:
            prompts_doc = prompts
        else:
            assert prompts_doc == prompts, "the tokenizers of the files differ"
        ids = tokenize(llm, text, False)[:N_POS + 1]
        assert len(ids) == N_POS + 1, len(ids)
        llm.reset()
        llm.eval(ids)
        scores = np.array(llm.scores[:N_POS], dtype=np.float32)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :TOP].astype(np.int32)
        top_logits = np.take_along_axis(scores, top, axis=1).astype(np.float32)
        m = scores.max(axis=1, keepdims=True).astype(np.float64)
        lse = (m[:, 0] + np.log(np.exp(scores.astype(np.float64) - m).sum(axis=1))).astype(np.float32)
        np.save(os.path.join(OUT, f"{kind}_top_ids.npy"), top)
        np.save(os.path.join(OUT, f"{kind}_top_logits.npy"), top_logits)
        np.save(os.path.join(OUT, f"{kind}_lse.npy"), lse)
        del llm
        llm = open_model(path, True)
        conts = []
        for p in CONTINUATIONS:
            pids, out, eog = greedy(llm, p)
            conts.append({"prompt": p, "prompt_ids": pids, "tokens": out, "eog": eog})
            print(f"  {kind}: continuation {len(conts)}: {len(out)} tokens", flush=True)
        del llm
        doc = {"about": f"llama.cpp (llama-cpp-python {llama_cpp.__version__}) on this file; "
                        "made by tools/gen_llm_fixtures.py",
               "file": os.path.basename(path), "sha256": sha256(path), "size": os.path.getsize(path),
               "text_ids": ids, "continuations": conts}
        with open(os.path.join(OUT, f"{kind}.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print(f"{kind}: {path} done; continuations ending at EOG: {sum(c['eog'] for c in conts)}")
    with open(os.path.join(OUT, "prompts.json"), "w", encoding="utf-8") as f:
        json.dump({"about": "llama.cpp's token ids (llama_tokenize with add_special; parse_special "
                            "as given); made by tools/gen_llm_fixtures.py",
                   "prompts": prompts_doc}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
