#!/bin/sh
# Where a Born GPT-2 training step spends GPU time: one step (no warm-up) of bench/cuda/gpt_born.c
# under Nsight Compute, kernel durations only, summed by kernel name (top 30).
# Usage: bench/cuda/prof_gpt.sh BUILD_DIR [B T]
B=${1:-build}
O=${OUT:-/tmp}
cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/gpt_born.c "$B/libborn.a" -lm -pthread -o "$B/gpt_born" || exit 1
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
GPT_BORN_WARMUP=0 timeout 300 "$NCU" --clock-control none --metrics gpu__time_duration.sum --csv \
    "$B/gpt_born" bf16 "${2:-8}" "${3:-1024}" 1 >"$O/ncu.csv" 2>"$O/ncu.err"
tail -3 "$O/ncu.err"
python3 - "$O/ncu.csv" <<'PY'
import csv, sys, collections
tot = collections.defaultdict(float); cnt = collections.Counter()
rows = [l for l in open(sys.argv[1]) if l.startswith('"')]
for r in csv.DictReader(rows):
    if r.get("Metric Name") != "gpu__time_duration.sum": continue
    name = r["Kernel Name"][:110]
    v = float(r["Metric Value"].replace(",", ""))
    unit = r.get("Metric Unit", "")
    v = v / 1e3 if unit in ("nsecond", "ns") else v * 1e3 if unit in ("msecond", "ms") else v
    tot[name] += v; cnt[name] += 1
s = sum(tot.values())
print(f"total kernel time {s/1e3:.2f} ms over {sum(cnt.values())} kernels")
for k, v in sorted(tot.items(), key=lambda kv: -kv[1])[:30]:
    print(f"{v/1e3:8.2f} ms {cnt[k]:5d}x  {k}")
PY
