#!/usr/bin/env bash
# born bench beside llama.cpp's llama-bench on the same GGUF files, same threads, interleaved:
# pp512 and tg128 tokens/s at 1 and 2 threads, time to first token of a 512-token prompt, peak RSS,
# and decode bandwidth (model bytes x tg t/s) as a share of a STREAM-like read (bench/llm/read_bw.c)
# measured in the same run. Prints the markdown table recorded in docs/BENCHMARKS.md.
#
# usage: bench/llm/run_llama_bench.sh BORN LLAMA_BENCH MODEL.gguf [MODEL.gguf ...]
#   env: THREADS ("1 2"), ROUNDS (2: born / llama alternations per model and thread count; the
#   table shows the median of the rounds' means), REPS (3: repetitions inside each run),
#   NICE_GROUP (1: when run as root, the bench runs in its own session with autogroup nice -20 so
#   that other jobs on a shared machine disturb it less), BORN_ARGS / LB_ARGS (extra arguments of
#   each program, e.g. BORN_ARGS="-mmp 0" LB_ARGS="-lm none": weights read into memory).
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,14p' "$0"; exit 2; }
BORN=$1 LB=$2
shift 2
THREADS=${THREADS:-"1 2"} ROUNDS=${ROUNDS:-2} REPS=${REPS:-3}
if [ "${NICE_GROUP:-1}" = 1 ] && [ "$(id -u)" = 0 ] && [ -z "${LLM_BENCH_INNER:-}" ]; then
    exec setsid env LLM_BENCH_INNER=1 bash -c 'echo -20 > /proc/self/autogroup 2>/dev/null || true; exec "$0" "$@"' "$0" "$BORN" "$LB" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=c11 -D_DEFAULT_SOURCE -pthread "$here/read_bw.c" -o "$tmp/read_bw"

# t/s of test $2 (pp512 / tg128) in a llama-bench style markdown table on stdin
tps() { awk -F'|' -v t="$1" 'NF > 3 && $(NF-2) ~ " "t" " { split($(NF-1), a, " "); print a[1] }'; }

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uptime | sed 's/.*load/load/')"
echo "extra args: born ${BORN_ARGS:-none}, llama-bench ${LB_ARGS:-none}"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
for t in $THREADS; do "$tmp/read_bw" "$t" > "$tmp/bw$t"; echo "read bandwidth, $t thread(s): $(cat "$tmp/bw$t") GB/s"; done
echo
echo "| model | threads | test | born t/s | llama.cpp t/s | born / llama.cpp |"
echo "| --- | ---: | --- | ---: | ---: | ---: |"
for m in "$@"; do
    for t in $THREADS; do
        : > "$tmp/b"; : > "$tmp/l"
        for r in $(seq "$ROUNDS"); do
            "$BORN" bench -m "$m" -t "$t" -p 512 -n 128 -r "$REPS" ${BORN_ARGS:-} > "$tmp/out" 2>/dev/null
            echo "$(tps pp512 < "$tmp/out") $(tps tg128 < "$tmp/out")" >> "$tmp/b"
            "$LB" -m "$m" -t "$t" -p 512 -n 128 -r "$REPS" ${LB_ARGS:-} > "$tmp/out" 2>/dev/null
            echo "$(tps pp512 < "$tmp/out") $(tps tg128 < "$tmp/out")" >> "$tmp/l"
        done
        bw=$(cat "$tmp/bw$t")
        python3 - "$m" "$t" "$tmp/b" "$tmp/l" "$bw" <<'PY'
import os, statistics, sys
m, t, fb, fl, bw = sys.argv[1:6]
b = [list(map(float, l.split())) for l in open(fb) if l.strip()]
l = [list(map(float, l.split())) for l in open(fl) if l.strip()]
name = os.path.basename(m)
size = os.path.getsize(m)
for i, test in enumerate(["pp512", "tg128"]):
    vb = statistics.median(x[i] for x in b); vl = statistics.median(x[i] for x in l)
    print(f"| {name} | {t} | {test} | {vb:.1f} | {vl:.1f} | {vb / vl:.2f}x |")
vb = statistics.median(x[0] for x in b); vl = statistics.median(x[0] for x in l)
print(f"| {name} | {t} | time to first token, 512-token prompt | {512 / vb * 1000:.0f} ms | {512 / vl * 1000:.0f} ms | |")
if bw:
    tb = statistics.median(x[1] for x in b); tl = statistics.median(x[1] for x in l)
    print(f"| {name} | {t} | decode bytes/s ({size / 2**20:.0f} MiB x tg128) vs read {float(bw):.1f} GB/s "
          f"| {size * tb / 1e9:.1f} GB/s ({100 * size * tb / 1e9 / float(bw):.0f}%) "
          f"| {size * tl / 1e9:.1f} GB/s ({100 * size * tl / 1e9 / float(bw):.0f}%) | |")
PY
    done
    # peak RSS of one pp512 + tg128 run, 1 thread
    /usr/bin/time -f '%M' -o "$tmp/rb" "$BORN" bench -m "$m" -t 1 -p 512 -n 128 -r 1 ${BORN_ARGS:-} > /dev/null 2>&1
    /usr/bin/time -f '%M' -o "$tmp/rl" "$LB" -m "$m" -t 1 -p 512 -n 128 -r 1 ${LB_ARGS:-} > /dev/null 2>&1
    rb=$(tail -1 "$tmp/rb") rl=$(tail -1 "$tmp/rl")
    echo "| $(basename "$m") | 1 | peak RSS (pp512 + tg128; file $(( $(stat -c %s "$m") / 1048576 )) MiB) | $((rb / 1024)) MiB | $((rl / 1024)) MiB | |"
done
