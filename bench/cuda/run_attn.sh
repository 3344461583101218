#!/bin/sh
# Attention figures for issue 8: Born's flash kernel (born_scaled_dot_product_attention on GPU
# tensors) beside PyTorch's F.scaled_dot_product_attention (cuDNN, flash, efficient, default), the
# shape of the issue (B8 H16 T4096 D128 causal bf16), forward and forward+backward, same call.
# Usage: bench/cuda/run_attn.sh BUILD_DIR (after make BUILD=BUILD_DIR).
B=${1:-build}
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/attn_born.c "$B/libborn.a" -lm -pthread -o "$B/attn_born" || exit 1
"$B/attn_born" bf16 8 16 4096 128
python3 bench/cuda/attn_torch.py bf16 8 16 4096 128
