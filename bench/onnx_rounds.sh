#!/bin/bash
# Interleaved rounds of the real ONNX models, Born beside onnxruntime (docs/BENCHMARKS.md, ONNX):
# each round runs bench/bench_onnx_ort.py afresh, then every Born bench_onnx binary given against
# that round's onnxruntime figures, so a slow phase of a shared machine hits all of them alike.
#
#     N=15 bench/onnx_rounds.sh OLD/bench_onnx NEW/bench_onnx > rounds.txt
#     python3 bench/onnx_rounds_median.py rounds.txt
#
# N rounds (default 7); MDIR, FDIR the models and fixtures; TH the thread counts (default 1 2).
N=${N:-7}
M=${MDIR:-data/onnx-models}
F=${FDIR:-tests/fixtures/onnx/models}
TH=${TH:-1 2}
out=$(mktemp)
for r in $(seq "$N"); do
    python3 bench/bench_onnx_ort.py "$M" "$F" $TH > "$out"
    sed 's/^/ORT /' "$out"
    for b in "$@"; do
        "$b" --peer "$out" "$M" "$F" $TH | grep -v '^model' | sed "s|^|BORN $(basename "$(dirname "$b")")/$(basename "$b") |"
    done
done
rm -f "$out"
