#!/bin/sh
# One device call for the LLM engine on CUDA (issue 8): build for sm_90, then, each when named:
#   tests     the LLM decoder's tests (born_tests cuda_llm, poisoned device memory)
#   tests-pdl the same without programmatic dependent launch (BORN_LLM_PDL=0)
#   alltests  `make test-cuda` (every CUDA suite)
#   bench     the LLaMA-like 1B bf16 decode (bench/cuda/llm_decode_born.c; then without
#             programmatic dependent launch, with a block per four rows, and a per-kernel profile
#             of the eager steps) beside PyTorch (bench/cuda/llm_decode_torch.py: eager and CUDA graph)
#   compile   PyTorch's torch.compile + CUDA graph on the same model
#   ratios    Born's figure over each PyTorch figure
# VARIANTS (environment settings of extra Born runs, space-separated; a comma joins two settings
# of one run; e.g. BORN_LLM_SKIP=4: the step without its attention kernels, so the time saved is
# attention's share of the replayed graph) and TORCH_MODES narrow the bench; QUICK=1
# runs Born alone. Logs go
# to $OUT (or /tmp). Usage: sh bench/cuda/device_llm.sh [BUILD_DIR] [tests|tests-pdl|alltests|bench|compile|ratios]...
B=${1:-build/dev}
shift
O=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
ARCH="-gencode arch=compute_90,code=sm_90"
t0=$(date +%s)
make BUILD="$B" CUDA_ARCH="$ARCH" -j16 "$B/libborn.a" "$B/libborn-cuda.so" "$B/born_tests" "$B/born" \
    >"$O/build.log" 2>&1 || { tail -40 "$O/build.log"; exit 1; }
echo "== built in $(( $(date +%s) - t0 )) s"
for what in "$@"; do
    case $what in
    tests)
        echo "== born_tests cuda_llm"
        BORN_CUDA_POISON=1 "$B/born_tests" cuda_llm 2>&1 | tee "$O/test-llm.log" | grep -v "^ok" | tail -40 ;;
    tests-pdl)
        echo "== born_tests cuda_llm without programmatic dependent launch"
        BORN_LLM_PDL=0 BORN_CUDA_POISON=1 "$B/born_tests" cuda_llm 2>&1 | tee "$O/test-llm-pdl.log" | grep -v "^ok\|^  " | tail -20 ;;
    alltests)
        echo "== make test-cuda"
        make BUILD="$B" CUDA_ARCH="$ARCH" test-cuda 2>&1 | tee "$O/test-cuda.log" | grep -v "^  \[\|^ok\|^  CC\|^  LD" | tail -25 ;;
    bench)
        echo "== LLaMA-like 1B bf16 decode, batch 1, ctx 512"
        cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude -Isrc bench/cuda/llm_decode_born.c "$B/libborn.a" \
            -lm -pthread -ldl -o "$B/llm_decode_born" || exit 1
        timeout 120 "$B/llm_decode_born" /tmp/llama1b-bf16.gguf 256 512 2>&1 | tee "$O/bench-born.log"
        for v in ${VARIANTS-BORN_LLM_PDL=0 BORN_LLM_BLOCKS_PER_SM=0 BORN_LLM_PROFILE=1}; do
            env $(echo "$v" | tr , ' ') timeout 60 "$B/llm_decode_born" /tmp/llama1b-bf16.gguf 256 512 2>&1 |
                grep "born decode\|profile\|^decode:\|^prompt:\|^load:\|^session:" | sed "s/^/$v: /" | tee -a "$O/bench-born.log"
        done
        [ -n "$QUICK" ] && continue
        timeout 30 "$B/born" bench -m /tmp/llama1b-bf16.gguf -p 0 -n 128 -r 2 -dev cuda 2>&1 | tail -3
        PYTHONUNBUFFERED=1 timeout 90 python3 bench/cuda/llm_decode_torch.py ${TORCH_MODES:-eager,graph} 256 512 2>&1 |
            grep -v Warning | tee "$O/bench-torch.log" ;;
    compile)
        echo "== PyTorch torch.compile + CUDA graph"
        PYTHONUNBUFFERED=1 timeout 150 python3 bench/cuda/llm_decode_torch.py compile 256 512 2>&1 |
            grep -v Warning | tee -a "$O/bench-torch.log" ;;
    ratios)
        born=$(sed -n 's/.*BORN_GRAPH_TOKS=\([0-9.]*\).*/\1/p' "$O/bench-born.log" | head -1)
        copy=$(sed -n 's/COPY_GBS=\([0-9.]*\)/\1/p' "$O/bench-torch.log" | head -1)
        [ -n "$born" ] && [ -n "$copy" ] && awk -v b="$born" -v c="$copy" 'BEGIN { l = c / 2.077;
            printf "PyTorch copy bandwidth %.0f GB/s: limit %.0f tok/s; Born %.0f tok/s = %.1f%% of it\n", c, l, b, 100 * b / l }'
        dev=$(sed -n 's/.*BORN_DEVICE_TOKS=\([0-9.]*\).*/\1/p' "$O/bench-born.log" | head -1)
        for m in EAGER GRAPH COMPILE; do
            t=$(sed -n "s/TORCH_${m}_TOKS=\([0-9.]*\)/\1/p" "$O/bench-torch.log")
            [ -n "$born" ] && [ -n "$t" ] && awk -v b="$born" -v d="$dev" -v t="$t" -v m="$m" \
                'BEGIN { printf "PyTorch %s %.0f tok/s: Born graph + logits to the host %.0f (%.2fx), tokens on the device %.0f (%.2fx)\n", m, t, b, b / t, d, d / t }'
        done ;;
    esac
    echo "== $what done at $(( $(date +%s) - t0 )) s"
done
