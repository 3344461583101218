#!/bin/sh
# One device call for the attention pass of issue 8: build (sm_90 only), `make test-cuda`, then
# bench/cuda/run_attn.sh. Logs go to $OUT (or /tmp). Usage: sh bench/cuda/device_attn.sh [BUILD_DIR]
B=${1:-build/dev}
O=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
make BUILD="$B" CUDA_ARCH="-gencode arch=compute_90,code=sm_90" -j16 >"$O/build.log" 2>&1 || { tail -30 "$O/build.log"; exit 1; }
echo "== make test-cuda"
make BUILD="$B" CUDA_ARCH="-gencode arch=compute_90,code=sm_90" test-cuda 2>&1 | tee "$O/test-cuda.log" | grep -v "^  \[\|^ok\|^  CC\|^  LD" | tail -40
echo "== attention"
timeout 120 sh bench/cuda/run_attn.sh "$B" 2>&1 | tee "$O/attn.log"
