#!/usr/bin/env python3
"""onnxruntime's own per-node profile of a real ONNX model, to set beside Born's
(BORN_ONNX_PROFILE=1 ./build/bench/bench_onnx MODEL_DIR FIXTURE_DIR THREADS).

    python3 bench/bench_onnx_ort_profile.py ppocr_det|ppocr_cls|silero_vad [threads [runs]]

Runs the model (all graph optimisations, the CPU provider, inputs from tests/fixtures/onnx/models)
with enable_profiling and prints, per node of the optimised graph in execution order, its op, name,
output shape and mean kernel time in us, then the totals by op type and the mean run time.
"""
import collections
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

MODELS = {"ppocr_cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", ["x"]),
          "ppocr_det": ("ch_PP-OCRv4_det_infer.onnx", ["x"]),
          "silero_vad": ("silero_vad_v5.onnx", ["input", "state", "sr"])}


def main():
    name = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    fname, inputs = MODELS[name]
    fdir = os.path.join("tests", "fixtures", "onnx", "models")
    feed = {k: np.load(os.path.join(fdir, f"{name}_in_{i}_{k}.npy")) for i, k in enumerate(inputs)}
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = f"/tmp/ort_profile_{name}_{threads}"
    sess = ort.InferenceSession(os.path.join("..", "shared", "data", "onnx-models", fname), so,
                                providers=["CPUExecutionProvider"])
    for _ in range(5):
        sess.run(None, feed)
    t0 = time.perf_counter()
    for _ in range(runs):
        sess.run(None, feed)
    wall = (time.perf_counter() - t0) / runs
    path = sess.end_profiling()
    events = json.load(open(path))
    os.unlink(path)
    per = collections.OrderedDict()
    nrun = collections.Counter()
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        node = e["name"][:-len("_kernel_time")]
        a = e.get("args", {})
        shape = ""
        outs = a.get("output_type_shape") or []
        if outs:
            shape = "x".join(str(d) for d in list(outs[0].values())[0])
        per.setdefault(node, [a.get("op_name", "?"), shape, 0.0])[2] += e["dur"]
        nrun[node] += 1
    total = sum(v[2] / nrun[k] for k, v in per.items())
    print(f"onnxruntime {ort.__version__} {name} {threads} thread(s): {len(per)} nodes, "
          f"{1e3 * wall:.3f} ms per run (with profiling), kernels {total:.1f} us")
    byop = collections.defaultdict(lambda: [0.0, 0])
    for i, (k, (op, shape, dur)) in enumerate(per.items()):
        us = dur / nrun[k]
        byop[op][0] += us
        byop[op][1] += 1
        print(f"{i:4d} {op:20s} {k[:40]:40s} {shape:22s} {us:9.1f} {100 * us / total:6.2f}")
    for op, (us, n) in sorted(byop.items(), key=lambda x: -x[1][0]):
        print(f"total {op:20s} {n:4d} nodes {us:9.1f} us {100 * us / total:6.2f}")


if __name__ == "__main__":
    main()
