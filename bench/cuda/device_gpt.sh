#!/bin/sh
# One device call for the fourth CUDA pass of issue 8: build (sm_90 only), `make test-cuda`, the
# attention figures (bench/cuda/run_attn.sh), the GPT-2 training-step figures
# (bench/cuda/run_gpt.sh) and a kernel-time profile of one GPT step (bench/cuda/prof_gpt.sh),
# each when named. Logs go to $OUT (or /tmp).
# Usage: sh bench/cuda/device_gpt.sh [BUILD_DIR] [tests|attn|born|graph|mem|gpt|prof]...
B=${1:-build/dev}
shift
O=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
ARCH="-gencode arch=compute_90,code=sm_90"
t0=$(date +%s)
make BUILD="$B" CUDA_ARCH="$ARCH" -j16 >"$O/build.log" 2>&1 || { tail -30 "$O/build.log"; exit 1; }
echo "== built in $(( $(date +%s) - t0 )) s"
for what in "$@"; do
    case $what in
    tests)
        echo "== make test-cuda"
        make BUILD="$B" CUDA_ARCH="$ARCH" -j16 "$B/born_tests" "$B/born" >>"$O/build.log" 2>&1
        make BUILD="$B" CUDA_ARCH="$ARCH" test-cuda 2>&1 | tee "$O/test-cuda.log" | grep -v "^  \[\|^ok\|^  CC\|^  LD" | tail -40 ;;
    tests-graph)
        echo "== CUDA graph tests"
        make BUILD="$B" CUDA_ARCH="$ARCH" -j16 "$B/born_tests" >>"$O/build.log" 2>&1 || { tail -30 "$O/build.log"; exit 1; }
        BORN_CUDA_POISON=1 "$B/born_tests" cuda_graph 2>&1 | tee "$O/test-graph.log" | tail -30 ;;
    attn)
        echo "== attention"
        timeout 150 sh bench/cuda/run_attn.sh "$B" 2>&1 | tee "$O/attn.log" ;;
    mem)
        echo "== 10,000 replayed steps (B1 T64): device memory before and after"
        cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/gpt_born.c "$B/libborn.a" -lm -pthread -o "$B/gpt_born" &&
            timeout 100 "$B/gpt_born" bf16 1 64 10000 graph 2>&1 | tee "$O/mem.log" ;;
    graph)
        echo "== gpt, Born eager and graph"
        cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/gpt_born.c "$B/libborn.a" -lm -pthread -o "$B/gpt_born" &&
            "$B/gpt_born" bf16 16 1024 10 graph && "$B/gpt_born" bf16 16 1024 10 ;;
    born)
        echo "== gpt, Born alone"
        cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/gpt_born.c "$B/libborn.a" -lm -pthread -o "$B/gpt_born" &&
            "$B/gpt_born" bf16 8 1024 10 && "$B/gpt_born" bf16 16 1024 10 ;;
    gpt)
        echo "== gpt"
        timeout 300 sh bench/cuda/run_gpt.sh "$B" 2>&1 | tee "$O/gpt.log" ;;
    prof)
        echo "== profile of one GPT step"
        timeout 330 sh bench/cuda/prof_gpt.sh "$B" 2>&1 | tee "$O/prof.log" ;;
    esac
    echo "== $what done at $(( $(date +%s) - t0 )) s"
done
