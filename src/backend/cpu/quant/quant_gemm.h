/* Internal: tiled products of quantized weight rows with quantized activation rows (a batch of
 * tokens), for the types whose weights are read most: Q4_0, Q4_1, Q5_0, Q8_0, Q4_K and Q6_K
 * (Q5_0 is what a Q4_K model falls back to for rows that are no multiple of 256).
 *
 * vec_dot computes one output at a time, so a batch of M tokens loads and unpacks every weight
 * block M times. The tiled kernels take a few weight rows and a few tokens at once: each weight
 * block is loaded and unpacked once into registers and multiplied there with every token's
 * activation block. On x86-64 (4 x 4 tiles for Q4_0, Q5_0, Q8_0, 4 x 2 for Q4_1, 2 x 4 for the
 * K-quants) AVX2 maddubs / madd make int32 sums, then f32 accumulators, one per output. On arm64
 * (4 rows x 4 tokens for the 32-element types, 2 x 4 for the K-quants; quant_gemm_neon.c, built
 * with widening multiplies and with SDOT) each block's int32 sums (exact) are folded four outputs
 * to a register, and the float arithmetic of four outputs runs in its four lanes.
 *
 * Every output (r, c) goes through the arithmetic of the type's vec_dot at the same level (AVX2;
 * on arm64 the NEON vec_dot of the same build, itself the portable function's bits) -- the same
 * accumulators over the blocks in the same order, the same horizontal sum -- whatever tile it
 * falls in, so each output equals vec_dot's bit for bit (tested), and results do not depend on M,
 * on the tiling or on the thread count: a token decoded alone gives the bits it gives in a batch.
 * (Q8_0 and Q4_1 sum as ggml does on x86, so llama.cpp's logits stay reproducible.) A change to
 * one of those vec_dots must be mirrored here. */
#ifndef BORN_CPU_QUANT_GEMM_H
#define BORN_CPU_QUANT_GEMM_H

#include "backend/cpu/quant/quant_traits.h"

/* out[c * out_rs + r] = sum_i dequant(w row r)[i] * dequant(y row c)[i] for r < nrows, c < ntok:
 * w rows (k elements of the weight type) are w_rs bytes apart, y rows (k elements of its vec_dot
 * type, quantized by the reference quantizer) y_rs bytes apart. */
typedef void (*quant_gemm_fn)(int64_t k, const void *w, size_t w_rs, int64_t nrows, const void *y,
                              size_t y_rs, int64_t ntok, float *out, int64_t out_rs);

/* The tiled product for weights of this dtype at the CPU's level, or NULL where there is none
 * (then callers use vec_dot per output). */
quant_gemm_fn quant_gemm_of(born_dtype dtype);

/* quant_gemm_<type>_<isa>: the AVX2 tiles of every tiled type (quant_gemm_avx2.c,
 * quant_gemm_k_avx2.c), and the AVX-512 VNNI tiles of Q4_0, Q4_1, Q5_0 and Q8_0 (quant_gemm_vnni.c)
 * and Q4_K (quant_gemm_k_vnni.c): token pairs in one register, the same bits as the AVX2 tiles.
 * On arm64 the NEON tiles of every tiled type (quant_gemm_neon.c): _neon with widening multiplies
 * (any AArch64 CPU), _neon_dotprod with SDOT (built where QUANT_NEON_DOTPROD, chosen where
 * cpu_features_get()->neon_dotprod). */
#define QUANT_DECLARE_GEMM(name, isa)                                                             \
    void quant_gemm_##name##_##isa(int64_t k, const void *w, size_t w_rs, int64_t nrows,         \
                                   const void *y, size_t y_rs, int64_t ntok, float *out,          \
                                   int64_t out_rs);
QUANT_DECLARE_GEMM(q4_0, avx2)
QUANT_DECLARE_GEMM(q4_1, avx2)
QUANT_DECLARE_GEMM(q5_0, avx2)
QUANT_DECLARE_GEMM(q8_0, avx2)
QUANT_DECLARE_GEMM(q4_K, avx2)
QUANT_DECLARE_GEMM(q6_K, avx2)
QUANT_DECLARE_GEMM(q4_0, vnni)
QUANT_DECLARE_GEMM(q4_1, vnni)
QUANT_DECLARE_GEMM(q5_0, vnni)
QUANT_DECLARE_GEMM(q8_0, vnni)
QUANT_DECLARE_GEMM(q4_K, vnni)
QUANT_DECLARE_GEMM(q4_0, neon)
QUANT_DECLARE_GEMM(q4_1, neon)
QUANT_DECLARE_GEMM(q5_0, neon)
QUANT_DECLARE_GEMM(q8_0, neon)
QUANT_DECLARE_GEMM(q4_K, neon)
QUANT_DECLARE_GEMM(q6_K, neon)
QUANT_DECLARE_GEMM(q4_0, neon_dotprod)
QUANT_DECLARE_GEMM(q4_1, neon_dotprod)
QUANT_DECLARE_GEMM(q5_0, neon_dotprod)
QUANT_DECLARE_GEMM(q8_0, neon_dotprod)
QUANT_DECLARE_GEMM(q4_K, neon_dotprod)
QUANT_DECLARE_GEMM(q6_K, neon_dotprod)
#undef QUANT_DECLARE_GEMM

#endif
