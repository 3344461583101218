#!/usr/bin/env python3
"""onnxruntime's latency on the real ONNX models, the peer figures for bench_onnx.c.

    python3 bench/bench_onnx_ort.py [MODEL_DIR [FIXTURE_DIR [threads...]]] > ort.txt
    ./build/bench/bench_onnx --peer ort.txt

Prints "name threads median_ms median_cpu_ms min_ms" lines (the second the process's CPU time per
run, as bench_onnx.c also reports; the last the fastest run, the figure a loaded machine disturbs
least): medians of several runs after two warm-up runs, on
the inputs in tests/fixtures/onnx/models, with intra_op_num_threads 1 and 2 (inter-op 1, all graph
optimisations on, the CPU provider), as bench_onnx.c times Born.
"""
import os
import sys
import time

import numpy as np
import onnxruntime as ort

MODELS = [("ppocr_cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx", ["x"], 40),
          ("ppocr_det", "ch_PP-OCRv4_det_infer.onnx", ["x"], 15),
          ("silero_vad", "silero_vad_v5.onnx", ["input", "state", "sr"], 100)]


def main():
    args = sys.argv[1:]
    mdir = args.pop(0) if args else os.path.join("..", "shared", "data", "onnx-models")
    fdir = args.pop(0) if args else os.path.join("tests", "fixtures", "onnx", "models")
    threads = [int(a) for a in args] or [1, 2]
    for name, fname, inputs, reps in MODELS:
        feed = {k: np.load(os.path.join(fdir, f"{name}_in_{i}_{k}.npy")) for i, k in enumerate(inputs)}
        for th in threads:
            so = ort.SessionOptions()
            so.intra_op_num_threads = th
            so.inter_op_num_threads = 1
            sess = ort.InferenceSession(os.path.join(mdir, fname), so, providers=["CPUExecutionProvider"])
            times, cpus = [], []
            for r in range(reps + 2):
                t0, c0 = time.perf_counter(), time.process_time()
                sess.run(None, feed)
                t1, c1 = time.perf_counter(), time.process_time()
                if r >= 2:
                    times.append(t1 - t0)
                    cpus.append(c1 - c0)
            print(f"{name} {th} {1e3 * float(np.median(times)):.3f} {1e3 * float(np.median(cpus)):.3f} "
                  f"{1e3 * min(times):.3f}", flush=True)


if __name__ == "__main__":
    main()
