#!/bin/sh
# One device call for issue 8: build (libborn + libborn-cuda.so), `make test-cuda`, MNIST training
# on the CPU and the GPU with `born train`, and (with gemm as the second argument) the GEMM
# figures beside PyTorch. Logs go to $OUT (or /tmp) when set.
# Usage: sh bench/cuda/device_run.sh [BUILD_DIR] [gemm]
B=${1:-build/dev}
O=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
make BUILD="$B" -j16 >"$O/build.log" 2>&1 || { tail -30 "$O/build.log"; exit 1; }
echo "== make test-cuda"
make BUILD="$B" test-cuda 2>&1 | tee "$O/test-cuda.log" | grep -v "^  \[\|^ok\|^  CC\|^  LD" | tail -40
echo "== born train (1 epoch mlp and cnn, cpu then cuda)"
for m in mlp cnn; do
    for d in cpu cuda; do
        "$B/born" train --model $m --epochs 1 --device $d --seed 1 --out /tmp/m.born 2>&1 | grep -v "batch/s" | tail -4
    done
done 2>&1 | tee "$O/train.log"
if [ "$2" = gemm ]; then
    echo "== gemm"
    sh bench/cuda/run_gemm.sh "$B" 2>&1 | tee "$O/gemm.log"
fi
