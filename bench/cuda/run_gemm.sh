#!/bin/sh
# GEMM figures for issue 8: Born (cuBLASLt through born_matmul) beside PyTorch, same shapes, same
# call. Usage: bench/cuda/run_gemm.sh BUILD_DIR (after make BUILD=BUILD_DIR).
B=${1:-build}
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/gemm_born.c "$B/libborn.a" -lm -pthread -o "$B/gemm_born" || exit 1
for shape in "8192 8192 8192" "8192 11008 4096" "8192 4096 11008" "4096 4096 4096"; do
    for dt in bf16 f16 tf32 f32; do
        if [ $dt = tf32 ]; then BORN_ALLOW_TF32=1 "$B/gemm_born" f32 $shape | sed 's/ f32 /tf32 /'; else "$B/gemm_born" $dt $shape; fi
        python3 bench/cuda/gemm_torch.py $dt $shape
    done
done
