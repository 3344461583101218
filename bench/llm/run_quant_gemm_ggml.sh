#!/bin/sh
# Builds and runs bench/llm/quant_gemm_ggml.c (Born's batched quantized product beside ggml's on
# SmolLM2's prompt shapes) against a llama.cpp source tree built with cmake (its build/bin holds
# libggml*.so). Usage: bench/llm/run_quant_gemm_ggml.sh BORN_BUILD LLAMA_CPP_DIR [types...]
set -eu
[ $# -ge 2 ] || { sed -n '2,4p' "$0"; exit 2; }
born=$1 llama=$2
shift 2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O2 -std=c11 -D_DEFAULT_SOURCE -pthread -Iinclude -Isrc -I"$llama/ggml/include" bench/llm/quant_gemm_ggml.c \
    "$born/libborn.a" -L"$llama/build/bin" -lggml -lggml-base -lggml-cpu -Wl,-rpath,"$llama/build/bin" \
    -lm -ldl -o "$out/quant_gemm_ggml"
"$out/quant_gemm_ggml" "$@"
