#!/bin/sh
# One device call for the attention pass of issue 8: the CUDA test suites under poisoned memory
# (as `make test-cuda`; cuDNN from PyTorch's wheel where there is one), Born's tensor-core tests
# again with the 8-warp forward, then bench/cuda/run_attn.sh, then Born's kernel through any
# other plugin builds under BUILD_DIR/variants/NAME/ (timing experiments). With BUILD_DIR holding a build made
# elsewhere (carried), nothing is rebuilt unless REBUILD=1. Logs go to $OUT (or /tmp).
# Usage: sh bench/cuda/device_attn.sh [BUILD_DIR]
B=${1:-build/dev}
O=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
if [ -n "$REBUILD" ] || [ ! -x "$B/born_tests" ] || [ ! -f "$B/libborn-cuda.so" ]; then
    make BUILD="$B" CUDA_ARCH="-gencode arch=compute_90,code=sm_90" -j16 >"$O/build.log" 2>&1 || { tail -30 "$O/build.log"; exit 1; }
fi
if [ -z "$BORN_CUDNN_PATH" ]; then
    d=$(python3 -c "import nvidia.cudnn, os; print(os.path.join(list(nvidia.cudnn.__path__)[0], 'lib'))" 2>/dev/null)
    [ -n "$d" ] && [ -d "$d" ] && export BORN_CUDNN_PATH="$d"
fi
echo "BORN_CUDNN_PATH=${BORN_CUDNN_PATH:-(loader path)}; $(ls "${BORN_CUDNN_PATH:-/usr/local/cuda/lib64}" 2>/dev/null | grep -m1 'libcudnn_graph.so.9.')"
echo "== make test-cuda (BORN_CUDA_POISON=1 $B/born_tests cuda)"
BORN_CUDA_POISON=1 BORN_CUDNN_DEBUG=1 timeout 300 "$B/born_tests" cuda >"$O/test-cuda.log" 2>&1
echo "rc $?"
grep -v "^  \[\|^ok\|^born cudnn attention" "$O/test-cuda.log" | tail -30
echo "-- why calls went to Born's kernel (BORN_CUDNN_DEBUG), by count:"
grep "^born cudnn attention" "$O/test-cuda.log" | sed 's/(L[0-9].*//' | sort | uniq -c | sort -rn | head -12
echo "== Born's tensor-core tests with the 8-warp forward"
BORN_ATTN_FWD_WARPS=8 BORN_CUDA_POISON=1 "$B/born_tests" cuda_attention_tensor_cores 2>&1 | tail -3
echo "== attention"
timeout 150 sh bench/cuda/run_attn.sh "$B" 2>&1 | tee "$O/attn.log"
# timing experiments: other builds of the plugin in $B/variants/NAME/libborn-cuda.so
for v in "$B"/variants/*/libborn-cuda.so; do
    [ -f "$v" ] || continue
    n=$(basename "$(dirname "$v")")
    BORN_CUDA_PLUGIN="$v" BORN_ATTENTION=born "$B/attn_born" bf16 8 16 4096 128 | sed "s|born-born      |variant $n |"
done
