/* Internal: the CPU's bf16 GEMM, C (f32) = A B with A [m, k] and B [k, n] in bf16 and f32
 * accumulation (gemm_bf16.c), and the AVX-512 BF16 pieces it runs on (gemm_bf16_avx512.c).
 *
 * Where the CPU has AVX512_BF16 (Zen 4 and 5, Sapphire Rapids and later), each vdpbf16ps takes 32
 * products of bf16 pairs into 16 f32 sums, twice the f32 FMA's work per instruction, so a bf16
 * product runs at up to twice the f32 GEMM's rate and reads half the bytes. Elsewhere cpu_matmul
 * (matmul.c) converts the operands to f32 and runs the f32 GEMM, as the ops layer did. */
#ifndef BORN_CPU_GEMM_BF16_H
#define BORN_CPU_GEMM_BF16_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"

/* Whether the native bf16 GEMM runs here (AVX-512 level and AVX512_BF16). It is what
 * cpu_gemm_bf16 needs; cpu_matmul (matmul.c) takes bf16 operands either way. */
bool cpu_gemm_bf16_native(void);

/* C[i, j] = sum_p A[i, p] B[p, j] in f32 (C overwritten), A and B bf16 with any strides
 * (elements), C's rows c_rs floats apart with unit column stride; threaded over the pool. Each
 * sum is taken over k in pairs by vdpbf16ps in order, denormals flushed, so the bits do not depend
 * on the thread count. BORN_ERR_UNSUPPORTED (recorded) where cpu_gemm_bf16_native() is false,
 * BORN_ERR_MEMORY if the packing buffers cannot be had. */
born_status cpu_gemm_bf16(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t a_rs,
                          int64_t a_cs, const uint16_t *b, int64_t b_rs, int64_t b_cs, float *c,
                          int64_t c_rs);

/* Whether cpu_matmul (matmul.c) runs the native GEMM for m rows of A (column stride a_cs) and B (row
 * stride b_rs): every product where the CPU has AMX; otherwise the dot form (m <= 32, A's rows and
 * B's columns contiguous along k) wherever cpu_gemm_bf16_native(), the AVX-512 BF16 tiles only
 * where they beat the f32 GEMM (AMD; gemm_bf16.c). */
bool cpu_gemm_bf16_takes(int64_t m, int64_t a_cs, int64_t b_rs);

/* cpu_gemm_bf16 with C in bf16: each f32 sum, plus bias[j] where bias is not NULL (n floats,
 * an f32 add), rounded once to nearest even: the bits of cpu_gemm_bf16's C converted. Rounded as
 * stored on the AMX tiles (from f32 sums kept between k blocks where k is long); elsewhere C is
 * computed in f32 into a buffer first.
 * BORN_ERR_UNSUPPORTED where cpu_gemm_bf16_native() is false, BORN_ERR_MEMORY if buffers cannot
 * be had. */
born_status cpu_gemm_bf16_rounded(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t a_rs,
                                  int64_t a_cs, const uint16_t *b, int64_t b_rs, int64_t b_cs,
                                  const float *bias, uint16_t *c, int64_t c_rs);

#if defined(__x86_64__)
/* cpu_gemm_bf16 on Intel AMX tiles (gemm_bf16_amx.c), which it calls where cpu_amx_enabled(): the
 * same contract, each sum over k in order in one chain of tile products; with c16 instead of c
 * (c NULL) each sum, plus bias[j] where bias is not NULL, is rounded to bf16 (born_f32_to_bf16's
 * bits) as its block is stored. */
born_status cpu_gemm_bf16_amx(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t a_rs,
                              int64_t a_cs, const uint16_t *b, int64_t b_rs, int64_t b_cs,
                              float *c, uint16_t *c16, const float *bias, int64_t c_rs);
/* The AMX tiles' 32 x 32 block for kernels that lay out their own operands (the attention's):
 * c's 32 rows of 32 floats (rows c_rs floats apart) = (add ? c : 0) + P Q over `chunks` steps of
 * 32 k values, P's 32 rows of a step as 64 bytes each (rows p_row bytes apart, step i at p + i
 * p_chunk bytes) and Q's step i as a pair panel of 32 columns at q + 512 i words (row p: the 32
 * columns' values at k = 2p and 2p + 1). Call between cpu_amx_tiles_begin and cpu_amx_tiles_end
 * on the same thread (they configure and release the tiles). */
void cpu_amx_tiles_begin(void);
void cpu_amx_tiles_end(void);
void cpu_amx_block32(int64_t chunks, const uint16_t *p, int64_t p_row, int64_t p_chunk,
                     const uint32_t *q, float *c, int64_t c_rs, bool add);
/* Packs `panels` B pair panels, columns [j0, j0 + 32 panels) of B (k rows, n columns, strides
 * b_rs and b_cs in elements) over k values [k0, k0 + 2 pairs), panel t at out + t out_stride
 * words (32 words a pair, 64-byte aligned), zero past k and n. Row-major B is read a pair of rows
 * at a time across all the panels. The tiles of both instruction sets read this format. */
void cpu_gemm_bf16_pack_panels(const uint16_t *b, int64_t b_rs, int64_t b_cs, int64_t k,
                               int64_t n, int64_t k0, int64_t pairs, int64_t j0, int64_t panels,
                               uint32_t *out, int64_t out_stride);
/* The 12 x 32 tile over `pairs` k pairs: a is the tile's packed A panel (12 words a pair), b its
 * packed B pair panel (32 words a pair, 64-byte aligned); the 12 rows of 32 floats go to c (rows
 * c_rs floats apart), stored or, with add, added to what c holds. */
void cpu_gemm_bf16_tile_avx512(int64_t pairs, const uint32_t *a, const uint32_t *b, float *c,
                               int64_t c_rs, bool add);
/* Packs `cols` columns of a row-major B (rows b_rs elements apart, unit column stride, k rows)
 * into ceil(cols / 32) B pair panels of `pairs` pairs (every pair's first row inside k), panel t at
 * out + t out_stride words (64-byte aligned), zero past k and cols: each pair of rows once. */
void cpu_gemm_bf16_pack_b_rows_avx512(int64_t pairs, int64_t k, int64_t cols, const uint16_t *b,
                                      int64_t b_rs, uint32_t *out, int64_t out_stride);
/* Packs 32 rows of a weight W (rows w_rs elements apart, contiguous along k; B = W^T) into a B
 * pair panel of `pairs` pairs (a multiple of 16, every word inside the rows) at out (64-byte
 * aligned): each word of a row is a pair already, and 16 x 16 blocks of words are transposed. */
void cpu_gemm_bf16_pack_b_wrows_avx512(int64_t pairs, const uint16_t *w, int64_t w_rs,
                                       uint32_t *out);
/* Packs 12 rows of A (rows a_rs elements apart, contiguous along k) into a tile panel of `pairs`
 * pairs (a multiple of 16, every word inside the rows) at out: 16 x 16 transposes of words, the
 * rows' 12 words of a pair stored together. */
void cpu_gemm_bf16_pack_a_rows_avx512(int64_t pairs, const uint16_t *a, int64_t a_rs,
                                      uint32_t *out);
/* Packs a 32 x 32 block stored k-major (value kk of row r at src[r + kk ks], all inside) as 32
 * rows of 32 values along k at out (64 bytes a row): pairs of k rows widened into words, then
 * 16 x 16 transposes of words. For the AMX tiles' P operand of a transposed view. */
void cpu_gemm_bf16_pack_kmajor_avx512(const uint16_t *src, int64_t ks, uint16_t *out);
/* C[i, j] = the dot product of A's row i and W's row j over k (both contiguous along k, rows
 * a_rs and w_rs elements apart) for i < rows, j < cols, in f32 by vdpbf16ps: 8 rows by 3 columns
 * at a time, each sum in 16 lanes over k, then the lanes added. For few rows of A against a
 * weight W [n, k] (B = W^T), which it reads in place. */
void cpu_gemm_bf16_dot_avx512(int64_t rows, int64_t cols, int64_t k, const uint16_t *a,
                              int64_t a_rs, const uint16_t *w, int64_t w_rs, float *c,
                              int64_t c_rs);
#endif

#endif
