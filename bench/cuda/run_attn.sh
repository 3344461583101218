#!/bin/sh
# Attention figures for issue 8: born_scaled_dot_product_attention on GPU tensors through its
# default path (cuDNN's fused attention where present), through Born's own kernel
# (BORN_ATTENTION=born; 4-warp forward, and the 8-warp one BORN_ATTN_FWD_WARPS=8 picks), then
# PyTorch's F.scaled_dot_product_attention (cuDNN, flash, efficient, default), the shape of the
# issue (B8 H16 T4096 D128 causal bf16), forward and forward+backward, same call. cuDNN is the
# one in PyTorch's wheel where there is one (BORN_CUDNN_PATH), so both use the same library.
# Usage: bench/cuda/run_attn.sh BUILD_DIR (after make BUILD=BUILD_DIR).
B=${1:-build}
if [ -z "$BORN_CUDNN_PATH" ]; then
    d=$(python3 -c "import nvidia.cudnn, os; print(os.path.join(list(nvidia.cudnn.__path__)[0], 'lib'))" 2>/dev/null)
    [ -n "$d" ] && [ -d "$d" ] && export BORN_CUDNN_PATH="$d"
fi
echo "BORN_CUDNN_PATH=${BORN_CUDNN_PATH:-(loader path)}"
if [ -f "$B/libborn.a" ] || [ ! -x "$B/attn_born" ]; then # (else a carried build)
    cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/attn_born.c "$B/libborn.a" -lm -pthread -o "$B/attn_born" || exit 1
fi
BORN_CUDNN_DEBUG=1 "$B/attn_born" bf16 8 16 4096 128
BORN_ATTENTION=born "$B/attn_born" bf16 8 16 4096 128
BORN_ATTENTION=born BORN_ATTN_FWD_WARPS=8 "$B/attn_born" bf16 8 16 4096 128 | sed 's/born-born   /born-born-8w/'
python3 bench/cuda/attn_torch.py bf16 8 16 4096 128
