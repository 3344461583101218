#!/bin/bash
# Device run for the KJV GPT step on the Xeon: build, the kernel tests at BORN_CPU=avx512 (and the
# GPT parity tests), Born's per-op profile, then train_lm_compare.py at each thread count given
# (one after the other). bash bench/validation/xeon_gpt_final.sh THREADS...; output under $OUT.
O=${OUT:-build/xeon-final}; mkdir -p $O
lscpu | grep -E "Model name|^CPU\(s\)"; date -u
make BUILD=build/dev -j16 build/dev/born build/dev/born_tests >$O/build.log 2>&1 || { tail -30 $O/build.log; exit 1; }
for f in attention_tiles_every attention_fast matmul_batch clip_grad embedding_rows gemm gpt adam; do
  echo "tests $f: $(BORN_CPU=avx512 build/dev/born_tests $f 2>&1 | tee -a $O/tests.log | grep -E 'passed|FAIL' | tr '\n' ' ')"
done
K=build/trainlm-data/kjv.txt
for t in 1 16; do
  st=$([ $t = 1 ] && echo 3 || echo 6)
  BORN_PROFILE=1 build/dev/born train-lm $K --layers 6 --dim 384 --heads 6 --context 256 --steps $st \
    --batch 8 --lr 2e-3 --warmup 2 --eval-every 100 --eval-windows 8 --sample-tokens 0 --threads $t \
    --save /tmp/lm.born >$O/born$t.out 2>$O/prof$t.txt
  echo "=== Born alone, $t threads: $(grep trained $O/born$t.out)"; head -24 $O/prof$t.txt
done
for t in "$@"; do
  st=$([ $t = 1 ] && echo 4 || echo 12)
  echo "=== compare, $t threads"
  python3 bench/validation/train_lm_compare.py $K --born build/dev/born --out /tmp/run$t --layers 6 \
    --dim 384 --heads 6 --context 256 --steps $st --batch 8 --lr 2e-3 --warmup 2 --eval-every $st \
    --eval-windows 8 --sample-tokens 0 --threads $t 2>&1 | grep -E "tokens/s|val loss|^\|" | tail -8
done
