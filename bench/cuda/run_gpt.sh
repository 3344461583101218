#!/bin/sh
# GPT-2 124M-shaped training-step figures for issue 8: Born (bench/cuda/gpt_born.c) beside PyTorch
# (bench/cuda/gpt_torch.py), same model and recipe, same call; B8 x T1024, then B16 (the issue's
# batch): Born eager and replaying one captured CUDA graph a step (`graph`), PyTorch autocast +
# torch.compile. Usage: bench/cuda/run_gpt.sh BUILD_DIR
B=${1:-build}
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/gpt_born.c "$B/libborn.a" -lm -pthread -o "$B/gpt_born" || exit 1
"$B/gpt_born" bf16 8 1024 10
"$B/gpt_born" bf16 8 1024 10 graph
timeout 120 python3 bench/cuda/gpt_torch.py autocast+compile 8 1024 10
"$B/gpt_born" bf16 16 1024 10
"$B/gpt_born" bf16 16 1024 10 graph
timeout 120 python3 bench/cuda/gpt_torch.py autocast+compile 16 1024 10
