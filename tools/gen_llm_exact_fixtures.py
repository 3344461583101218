#!/usr/bin/env python3
"""llama.cpp's exact logits on the tiny random LLaMA model, which Born must reproduce bit for bit
(tests/llm/test_model_exact.c; issue 7).

    source /tmp/sampling/llenv.sh     # llama-cpp-python with the AVX2 llama.cpp build
    python3 tools/gen_llm_exact_fixtures.py

Writes tests/fixtures/llm/tiny-llama-q4_1.gguf (the model of tools/gen_tiny_llama.py, seed and
all, with its matrices quantized to Q4_1 by the gguf package; tiny-llama-q8_0.gguf is that
script's) and, for the Q8_0 and Q4_1 files, exact_<qtype>.bin: the float32 logits llama.cpp gives
at every position of one 24-token sequence evaluated as one batch (n_batch 512, logits_all, KV
cache F16, flash attention off, one thread), [24, n_vocab] row-major, little-endian, raw bits.
The sequence is exact_tokens.txt (one id a line).
"""
import os
import sys

import numpy as np
import gguf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_tiny_llama as tl  # noqa: E402

OUT = tl.OUT
SEQ_LEN = 24


def llama_cpp_exact(path, seq):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=path, n_ctx=tl.N_CTX, n_batch=512, n_ubatch=512,
                          logits_all=True, verbose=False, n_threads=1, n_threads_batch=1,
                          flash_attn=False, type_k=llama_cpp.GGML_TYPE_F16,
                          type_v=llama_cpp.GGML_TYPE_F16)
    llm.eval(seq)
    out = np.array(llm.scores[:len(seq)], dtype=np.float32)
    del llm
    return out


def main():
    tokens, types = tl.vocabulary()
    n_vocab = len(tokens)
    model = tl.make_model(n_vocab)
    tensors = tl.gguf_tensors(model)
    q41 = os.path.join(OUT, "tiny-llama-q4_1.gguf")
    tl.write_gguf(q41, tensors, gguf.GGMLQuantizationType.Q4_1, tokens, types)
    rng = np.random.default_rng(11)
    seq = [int(x) for x in rng.integers(0, n_vocab, size=SEQ_LEN)]
    with open(os.path.join(OUT, "exact_tokens.txt"), "w") as f:
        f.write("".join(f"{t}\n" for t in seq))
    for fname, tag in (("tiny-llama-q8_0.gguf", "q8_0"), ("tiny-llama-q4_1.gguf", "q4_1")):
        lg = llama_cpp_exact(os.path.join(OUT, fname), seq)
        assert lg.shape == (SEQ_LEN, n_vocab) and np.isfinite(lg).all()
        again = llama_cpp_exact(os.path.join(OUT, fname), seq)
        assert np.array_equal(lg.view(np.uint32), again.view(np.uint32)), "llama.cpp not repeatable"
        dst = os.path.join(OUT, f"exact_{tag}.bin")
        lg.astype("<f4").tofile(dst)
        print(f"{dst}: {os.path.getsize(dst)} bytes, logits in [{lg.min():.3f}, {lg.max():.3f}]")
    print(f"{q41}: {os.path.getsize(q41)} bytes")


if __name__ == "__main__":
    sys.exit(main())
