#!/bin/bash
# The device run of the KJV GPT step's profile on the Xeon (Born BORN_PROFILE=1 and torch.profiler,
# plus the step's GEMM shapes), written for the `device` tool: bash bench/validation/xeon_gpt_profile.sh
# THREADS... ; output under $OUT (or build/xeon-prof).
O=${OUT:-build/xeon-prof}; mkdir -p $O
lscpu | grep -E "Model name|^CPU\(s\)|MHz" ; date -u
make BUILD=build/dev -j16 build/dev/born build/dev/libborn.a >$O/build.log 2>&1 || { tail -30 $O/build.log; exit 1; }
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude -o build/dev/gpt_gemm bench/bench_gpt_gemm.c build/dev/libborn.a -lm -pthread -ldl
K=build/trainlm-data/kjv.txt
for t in "$@"; do
  st=$([ $t = 1 ] && echo 3 || echo 6)
  echo "=== GEMM shapes, $t threads"; build/dev/gpt_gemm $t
  echo "=== Born profile, $t threads"
  BORN_PROFILE=1 build/dev/born train-lm $K --layers 6 --dim 384 --heads 6 --context 256 --steps $st \
    --batch 8 --lr 2e-3 --warmup 2 --eval-every 100 --eval-windows 8 --sample-tokens 0 --threads $t \
    >$O/born$t.out 2>$O/prof$t.txt; grep -i "tokens/s" $O/born$t.out | tail -2
  head -45 $O/prof$t.txt
  echo "=== torch profile, $t threads"
  python3 bench/validation/train_lm_torch_profile.py --threads $t --steps $st --top 25 2>/dev/null
done
