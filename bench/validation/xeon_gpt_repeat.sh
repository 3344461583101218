#!/bin/bash
# Device run: train_lm_compare.py (Born, then PyTorch) REPS times at each thread count given,
# interleaved by thread count, for the spread of the tokens/s ratio. bash
# bench/validation/xeon_gpt_repeat.sh REPS THREADS...
reps=$1; shift
date -u
make BUILD=build/dev -j16 build/dev/born >/tmp/build.log 2>&1 || { tail -30 /tmp/build.log; exit 1; }
for r in $(seq $reps); do
  for t in "$@"; do
    st=$([ $t = 1 ] && echo 4 || echo 12)
    echo "rep $r, $t threads: $(python3 bench/validation/train_lm_compare.py build/trainlm-data/kjv.txt \
      --born build/dev/born --out /tmp/run$t --layers 6 --dim 384 --heads 6 --context 256 --steps $st \
      --batch 8 --lr 2e-3 --warmup 2 --eval-every $st --eval-windows 8 --sample-tokens 0 --threads $t \
      2>&1 | grep -E "Born / PyTorch") (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
