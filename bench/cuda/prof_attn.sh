#!/bin/sh
# Where the time of one attention forward+backward goes (B8 H16 T4096 D128, causal, bf16): every
# kernel of bench/cuda/attn_born.c (Born's default path) and of bench/cuda/attn_torch.py's cuDNN
# row, one timed run each after the warm-ups, with its duration from Nsight Compute (ncu
# --clock-control none, so the clocks are the card's own). The CSVs go to $OUT (or /tmp); the last
# lines sum each program's kernels by name. Usage: sh bench/cuda/prof_attn.sh BUILD_DIR
B=${1:-build}
O=${OUT:-/tmp}
if [ -z "$BORN_CUDNN_PATH" ]; then
    d=$(python3 -c "import nvidia.cudnn, os; print(os.path.join(list(nvidia.cudnn.__path__)[0], 'lib'))" 2>/dev/null)
    [ -n "$d" ] && [ -d "$d" ] && export BORN_CUDNN_PATH="$d"
fi
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/attn_born.c "$B/libborn.a" -lm -pthread -ldl -o "$B/attn_born" || exit 1
M="--clock-control none --metrics gpu__time_duration.sum --csv --print-units base"
timeout 200 ncu $M "$B/attn_born" bf16 8 16 4096 128 1 >"$O/prof-born.csv" 2>"$O/prof-born.err"
echo "born ncu rc $?"
timeout 200 ncu $M python3 bench/cuda/attn_torch.py bf16 8 16 4096 128 cudnn 1 >"$O/prof-torch.csv" 2>"$O/prof-torch.err"
echo "torch ncu rc $?"
for w in born torch; do
    echo "== $w: kernels (in order, us)"
    python3 - "$O/prof-$w.csv" <<'PY'
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
if not rows:
    sys.exit("no rows")
h = rows[0]
ki, vi = h.index("Kernel Name"), h.index("Metric Value")
ks = [(r[ki], float(r[vi]) / 1e3) for r in rows[1:] if r[vi].replace('.', '').isdigit()]
for name, us in ks:
    print(f"{us:10.1f}  {name[:110]}")
PY
done
