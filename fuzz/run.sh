#!/bin/sh
# Runs every libFuzzer harness in fuzz/ for SECONDS seconds each, starting from its committed seed
# corpus fuzz/corpus/<name>/. New inputs go to a temporary copy, so the committed corpus is never
# modified; crashes are saved as build/fuzz/artifacts/<name>-crash-*. Exits non-zero when a
# harness fails.
#
#     fuzz/run.sh SECONDS            (from the repository root; builds with `make fuzz` first)
#     FUZZ_JOBS=4 fuzz/run.sh 300    (run each harness in 4 parallel processes)
set -eu

seconds=${1:?usage: fuzz/run.sh SECONDS}
jobs=${FUZZ_JOBS:-1}
cd "$(dirname "$0")/.."
make -s -j"$(nproc 2>/dev/null || echo 2)" fuzz

mkdir -p build/fuzz/artifacts
status=0
for src in fuzz/*.c; do
    name=$(basename "$src" .c)
    work=$(mktemp -d "${TMPDIR:-/tmp}/born-$name-XXXXXX")
    if [ -d "fuzz/corpus/$name" ]; then cp -R "fuzz/corpus/$name/." "$work/"; fi
    set -- -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$name-"
    if [ -f "fuzz/$name.dict" ]; then set -- "$@" -dict="fuzz/$name.dict"; fi
    if [ "$jobs" -gt 1 ]; then set -- "$@" -fork="$jobs"; fi
    echo "== $name: $seconds s, seeds from fuzz/corpus/$name/, working corpus $work"
    if ! "./build/fuzz/$name" "$@" "$work"; then
        echo "== $name: FAILED (see build/fuzz/artifacts/)"
        status=1
    fi
    rm -rf "$work"
done
exit $status
