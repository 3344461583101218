#!/usr/bin/env python3
"""Reference data for Born's sampler from llama.cpp's own samplers (llama-cpp-python's low-level
API): each stage alone, and whole chains without the final draw, applied to seeded random logits.

    python3 tools/gen_sampling_fixtures.py     # writes tests/fixtures/llm/sampling.json

Each case applies, in the order of llama.cpp's common sampler, llama_sampler_init_logit_bias,
_penalties (after llama_sampler_accept of the case's history), _top_k, _typical, _top_p, _min_p
(min_keep 0, as the common sampler) and _temp to one llama_token_data_array, and stores the
candidates that survive: ids and logits as llama.cpp leaves them (float32, printed exactly) and
their probabilities (softmax of those logits, in float64). A stage whose parameter is neutral
(top_k 0, top_p 1, ...) does nothing in llama.cpp, so "a stage alone" is a chain with the others
neutral. tests/llm/test_sampling_llama.c runs the same cases through born_sampler_candidates.
"""
import ctypes
import json
import os

import numpy as np
import llama_cpp

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "llm", "sampling.json")

NEUTRAL = dict(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0,
               repeat_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0,
               penalty_last_n=64, logit_bias=[], history=[])


def f32(x):
    """x as the float32 it is, printed so that it reads back exactly."""
    x = float(np.float32(x))
    if x == float("-inf"):
        return "-inf"
    return float(f"{x:.9g}")


def penalties_sampler(n_vocab, last_n, repeat, freq, present):
    f = llama_cpp.llama_sampler_init_penalties
    if len(f.argtypes) == 5:  # the vendored llama.cpp of llama-cpp-python 0.3.x
        return f(n_vocab, last_n, repeat, freq, present)
    if len(f.argtypes) == 4:  # upstream llama.cpp since December 2024
        return f(last_n, repeat, freq, present)
    raise SystemExit("unknown llama_sampler_init_penalties signature")


def run_chain(logits, c):
    n = len(logits)
    bias = (llama_cpp.llama_logit_bias * max(1, len(c["logit_bias"])))()
    for i, (tok, b) in enumerate(c["logit_bias"]):
        bias[i].token = tok
        bias[i].bias = b
    stages = [
        llama_cpp.llama_sampler_init_logit_bias(n, len(c["logit_bias"]), bias),
        penalties_sampler(n, c["penalty_last_n"], c["repeat_penalty"], c["frequency_penalty"],
                          c["presence_penalty"]),
        llama_cpp.llama_sampler_init_top_k(c["top_k"]),
        llama_cpp.llama_sampler_init_typical(c["typical_p"], 0),
        llama_cpp.llama_sampler_init_top_p(c["top_p"], 0),
        llama_cpp.llama_sampler_init_min_p(c["min_p"], 0),
        llama_cpp.llama_sampler_init_temp(c["temperature"]),
    ]
    for tok in c["history"]:
        llama_cpp.llama_sampler_accept(stages[1], tok)
    data = (llama_cpp.llama_token_data * n)()
    for i, l in enumerate(logits):
        data[i].id = i
        data[i].logit = float(l)
        data[i].p = 0.0
    arr = llama_cpp.llama_token_data_array(data=data, size=n, selected=-1, sorted=False)
    for s in stages:
        llama_cpp.llama_sampler_apply(s, ctypes.byref(arr))
    out = [(arr.data[i].id, arr.data[i].logit) for i in range(arr.size)]
    for s in stages:
        llama_cpp.llama_sampler_free(s)
    if c["temperature"] <= 0:  # greedy: llama.cpp leaves the others at -inf
        out = [t for t in out if t[1] != float("-inf")]
    ids = [int(t[0]) for t in out]
    lg = np.array([t[1] for t in out], dtype=np.float64)
    fin = np.isfinite(lg)
    p = np.zeros_like(lg)
    p[fin] = np.exp(lg[fin] - lg[fin].max())
    p /= p.sum()
    return ids, [f32(x) for x in lg], [float(f"{x:.9g}") for x in p]


def main():
    rng = np.random.default_rng(20261130)
    vectors = {
        "narrow": (rng.standard_normal(256) * 1.0).astype(np.float32),
        "medium": (rng.standard_normal(256) * 3.0).astype(np.float32),
        "peaked": (rng.standard_normal(256) * 8.0).astype(np.float32),
        "big": (rng.standard_normal(4096) * 3.0).astype(np.float32),
    }
    history = [int(x) for x in rng.integers(0, 50, size=80)]  # repeats, longer than 64
    top = lambda v, k: [int(i) for i in np.argsort(-vectors[v])[:k]]
    cases = []

    def case(name, vec, **kw):
        c = dict(NEUTRAL)
        c.update(kw)
        c["name"], c["vector"] = name, vec
        cases.append(c)

    for v in ("narrow", "medium", "peaked"):
        case(f"top_k_1_{v}", v, top_k=1)
        case(f"top_k_40_{v}", v, top_k=40)
        case(f"typical_0.5_{v}", v, typical_p=0.5)
        case(f"typical_0.9_{v}", v, typical_p=0.9)
        case(f"top_p_0.5_{v}", v, top_p=0.5)
        case(f"top_p_0.95_{v}", v, top_p=0.95)
        case(f"min_p_0.05_{v}", v, min_p=0.05)
        case(f"min_p_0.3_{v}", v, min_p=0.3)
        case(f"temp_0.5_{v}", v, temperature=0.5)
        case(f"temp_1.7_{v}", v, temperature=1.7)
        case(f"greedy_{v}", v, temperature=0.0)
    case("top_k_256_all", "medium", top_k=256)
    case("top_k_5000_more_than_vocab", "medium", top_k=5000)
    case("top_p_0_keeps_one", "medium", top_p=0.0)
    case("min_p_1_keeps_max", "medium", min_p=1.0)
    case("repeat_1.3", "medium", repeat_penalty=1.3, history=history)
    case("repeat_0.8_window_16", "medium", repeat_penalty=0.8, penalty_last_n=16,
         history=history)
    case("frequency_presence", "medium", frequency_penalty=0.4, presence_penalty=0.7,
         history=history)
    case("all_penalties_top_k", "narrow", repeat_penalty=1.15, frequency_penalty=0.2,
         presence_penalty=0.1, penalty_last_n=32, history=history, top_k=50)
    m = top("medium", 3)
    case("logit_bias", "medium", logit_bias=[[m[0], -100.0], [m[1], float("-inf")],
                                             [200, 7.5], [201, -2.0], [201, 0.5]], top_k=20)
    d = dict(temperature=0.8, top_k=40, top_p=0.95, min_p=0.05)  # llama.cpp's defaults
    for v in ("narrow", "medium", "peaked", "big"):
        case(f"defaults_{v}", v, **d)
    case("chain_typical", "medium", temperature=0.7, top_k=100, typical_p=0.7, top_p=0.9,
         min_p=0.02, repeat_penalty=1.1, history=history, logit_bias=[[m[0], -1.5]])
    case("chain_no_top_k", "big", temperature=1.2, top_p=0.9, min_p=0.01,
         repeat_penalty=1.2, frequency_penalty=0.1, history=history)
    case("chain_typical_no_top_k", "narrow", temperature=0.9, typical_p=0.8, min_p=0.1)
    case("chain_greedy_with_penalties", "medium", temperature=0.0, top_k=40,
         repeat_penalty=5.0, presence_penalty=3.0, history=[m[0], m[1]])

    for c in cases:
        ids, lg, p = run_chain(vectors[c["vector"]], c)
        c["out"] = {"tokens": ids, "logits": lg, "p": p}
        c["logit_bias"] = [[t, f32(b)] for t, b in c["logit_bias"]]
    doc = {"about": "llama.cpp's samplers on random logits; made by tools/gen_sampling_fixtures.py "
                    f"with llama-cpp-python {llama_cpp.__version__}",
           "vectors": {k: [f32(x) for x in v] for k, v in vectors.items()},
           "cases": cases}
    text = json.dumps(doc, separators=(",", ":"))  # -inf is the string "-inf"
    with open(OUT, "w") as f:
        f.write(text + "\n")
    print(f"{OUT}: {len(cases)} cases, {os.path.getsize(OUT)} bytes")
    for c in cases:
        print(f"  {c['name']}: {len(c['out']['tokens'])} candidates")


if __name__ == "__main__":
    main()
