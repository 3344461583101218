#!/bin/sh
# Runs every libFuzzer harness in fuzz/ for SECONDS seconds each, starting from its committed seed
# corpus fuzz/corpus/<name>/. New inputs go to a temporary copy, so the committed corpus is never
# modified; crashes are saved as build/fuzz/artifacts/<name>-crash-*. Each harness's output goes
# to build/fuzz/logs/<name>.log (its last lines are printed); at the end a summary names every
# harness that failed with the sanitizer's report and the failing input in hex, so that the tail
# of a CI log says what broke. Exits non-zero when a harness fails.
#
#     fuzz/run.sh SECONDS            (from the repository root; builds with `make fuzz` first)
#     FUZZ_JOBS=4 fuzz/run.sh 300    (run each harness in 4 parallel processes)
set -eu

seconds=${1:?usage: fuzz/run.sh SECONDS}
jobs=${FUZZ_JOBS:-1}
cd "$(dirname "$0")/.."
make -s -j"$(nproc 2>/dev/null || echo 2)" fuzz

mkdir -p build/fuzz/artifacts build/fuzz/logs
failed=""
for src in fuzz/*.c; do
    name=$(basename "$src" .c)
    work=$(mktemp -d "${TMPDIR:-/tmp}/born-$name-XXXXXX")
    log="build/fuzz/logs/$name.log"
    if [ -d "fuzz/corpus/$name" ]; then cp -R "fuzz/corpus/$name/." "$work/"; fi
    set -- -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$name-"
    if [ -f "fuzz/$name.dict" ]; then set -- "$@" -dict="fuzz/$name.dict"; fi
    if [ "$jobs" -gt 1 ]; then set -- "$@" -fork="$jobs"; fi
    echo "== $name: $seconds s, seeds from fuzz/corpus/$name/, working corpus $work, log $log"
    if "./build/fuzz/$name" "$@" "$work" > "$log" 2>&1; then
        tail -n 3 "$log"
    else
        echo "== $name: FAILED (see $log and build/fuzz/artifacts/)"
        failed="$failed $name"
    fi
    rm -rf "$work"
done

[ -z "$failed" ] && { echo "== fuzz: every harness ran clean"; exit 0; }
for name in $failed; do
    log="build/fuzz/logs/$name.log"
    echo "== $name FAILED; the report:"
    report=$(grep -E -A 12 '^==[0-9]+==ERROR|ERROR: libFuzzer|runtime error|SUMMARY' "$log" | head -n 40 || true)
    if [ -n "$report" ]; then echo "$report"; else tail -n 40 "$log"; fi
    for input in build/fuzz/artifacts/"$name"-*; do
        [ -f "$input" ] || continue
        echo "== $name failing input $input ($(wc -c < "$input") bytes), first 512 in hex:"
        od -A d -t x1 "$input" | head -n 32
    done
done
echo "== fuzz: FAILED:$failed"
exit 1
