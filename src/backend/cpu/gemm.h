/* Internal: general matrix multiply on the CPU, the routine that matmul, linear, bmm and
 * convolution all go through.
 *
 *   C = alpha * A B + beta * C,   A: m x k, B: k x n, C: m x n
 *
 * Every matrix is given by a pointer and a row stride and a column stride in elements, so any
 * transposed or strided view is accepted without copying (packing absorbs the layout). beta == 0
 * means C is only written, never read (it may hold garbage or NaN). The routine threads itself
 * over the pool unless it is already running inside a parallel_for. */
#ifndef BORN_CPU_GEMM_H
#define BORN_CPU_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void cpu_gemm_f32(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t a_rs,
                  int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float beta, float *c,
                  int64_t c_rs, int64_t c_cs);

/* C = A B for up to 16 rows with B in f16 (bf16 where bf16), its columns k contiguous halves
 * b_cs apart (a weight's transpose), A's rows contiguous (a_rs apart), C's rows contiguous (c_rs
 * apart): cpu_gemm_f32's dot forms with B widened as it is loaded, so the bits of cpu_gemm_f32
 * on B's f32 values while reading half the bytes. False (nothing done) below AVX2 or where
 * cpu_gemm_f32 would take another path (more rows, n < 2). */
bool cpu_gemm_f32_half_b(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_rs,
                         const uint16_t *b, int64_t b_cs, bool bf16, float *c, int64_t c_rs);

/* C = A B with A and B in f16 (bf16 where bf16), any strides, C in f32: cpu_gemm_f32's blocked
 * path with the halves widened as they are packed, so the bits of cpu_gemm_f32 on their f32
 * values without an f32 copy of either. False (nothing done) where cpu_gemm_f32 would take a
 * GEMV path instead (at most 16 rows, or columns where C's are contiguous). */
bool cpu_gemm_halves(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t a_rs, int64_t a_cs,
                     const uint16_t *b, int64_t b_rs, int64_t b_cs, bool bf16, float *c,
                     int64_t c_rs, int64_t c_cs);

/* Called by cpu_gemm_f32_ep on each block of C once it holds its final values: rows [i0, i0 +
 * rows) and columns [j0, j0 + cols), C's own coordinates. The blocks cover C once, no two overlap,
 * and they may be handed to it from several threads at a time. */
typedef void (*cpu_gemm_block_fn)(void *ctx, int64_t i0, int64_t rows, int64_t j0, int64_t cols);

/* cpu_gemm_f32 with an epilogue: ep(ep_ctx, ...) on each finished block while it is still in cache
 * (a register tile of the blocked path, a chunk of columns of the GEMV paths), so a linear layer's
 * bias and activation need no pass of their own. C gets cpu_gemm_f32's bits before ep. */
void cpu_gemm_f32_ep(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t a_rs,
                     int64_t a_cs, const float *b, int64_t b_rs, int64_t b_cs, float beta, float *c,
                     int64_t c_rs, int64_t c_cs, cpu_gemm_block_fn ep, void *ep_ctx);

void cpu_gemm_f64(int64_t m, int64_t n, int64_t k, double alpha, const double *a, int64_t a_rs,
                  int64_t a_cs, const double *b, int64_t b_rs, int64_t b_cs, double beta,
                  double *c, int64_t c_rs, int64_t c_cs);

/* ---- serial products with packed operands, for convolutions ----------------------------------
 *
 * A product whose A is packed once and used many times (a convolution's weights, image after
 * image) and whose B is packed by the caller straight from where its values lie (an image,
 * without an im2col matrix). The k blocking is cpu_gemm_f32's, and each block runs the same
 * micro-kernel, so a product gives the bits cpu_gemm_f32 would give for the same A and B when
 * that takes its blocked path (m > 16). These run on the calling thread only. */

/* The k block size of the f32 GEMM for depth k: equal blocks of at most cpu_gemm_f32's own k
 * block (512 where L1 holds 48 KB or more, else 256), so the packed products keep its bits. */
int64_t cpu_gemm_f32_kc(int64_t k);

/* The same for the f64 GEMM: equal blocks of at most 256 at every level. */
int64_t cpu_gemm_f64_kc(int64_t k);

/* The floats that cpu_gemm_f32_pack_a writes for an m x k matrix. */
size_t cpu_gemm_f32_packed_a_size(int64_t m, int64_t k);

/* Packs A (m x k, any strides) for cpu_gemm_f32_packed: each k block in turn, as MR-row
 * micro-panels zero-padded to a multiple of MR rows. */
void cpu_gemm_f32_pack_a(int64_t m, int64_t k, const float *a, int64_t a_rs, int64_t a_cs,
                         float *dst);

/* Writes rows [p0, p0 + kc) and columns [j0, j0 + nc) of B into dst as NR = 16-column
 * micro-panels, dst[panel][p][lane] (panel q holds columns j0 + 16 q + lane), zero in the
 * columns past nc. */
typedef void (*cpu_gemm_pack_b_fn)(void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                                   float *dst);

/* The same layout from a matrix b (kc x nc, any strides): the usual packing, for pack_b
 * functions whose B is an ordinary matrix. */
void cpu_gemm_f32_pack_b(int64_t kc, int64_t nc, const float *b, int64_t b_rs, int64_t b_cs,
                         float *dst);

/* C = A B + beta C (beta == 0: C only written) with A packed by cpu_gemm_f32_pack_a and B
 * packed block by block by pack_b(ctx, ...). Returns false, having computed nothing, if the
 * thread's panel buffer cannot be allocated. */
bool cpu_gemm_f32_packed(int64_t m, int64_t n, int64_t k, const float *apack,
                         cpu_gemm_pack_b_fn pack_b, void *ctx, float beta, float *c, int64_t c_rs,
                         int64_t c_cs);

/* Writes rows [i0, i0 + mr) and k steps [p0, p0 + kc) of A into dst as 6-row micro-panels,
 * dst[panel][p][row] (panels 6 kc floats apart, 64-byte aligned), zero in the rows past mr. */
typedef void (*cpu_gemm_pack_a_fn)(void *ctx, int64_t i0, int64_t mr, int64_t p0, int64_t kc,
                                   float *dst);

/* cpu_gemm_f32_packed with A packed too, one register tile of rows at a time right before its
 * products (so a tile made on the fly, as a convolution's taps, is read from L1): per k block, B
 * packed whole, then each tile of A and its products. Same bits as cpu_gemm_f32_packed; false,
 * having computed nothing, if a buffer cannot be allocated. */
bool cpu_gemm_f32_packed_tiles(int64_t m, int64_t n, int64_t k, cpu_gemm_pack_a_fn pack_a,
                               void *actx, cpu_gemm_pack_b_fn pack_b, void *bctx, float beta,
                               float *c, int64_t c_rs, int64_t c_cs);

/* Whether cpu_gemm_f32_packed_rows can run here (CPU_LEVEL_AVX512). */
bool cpu_gemm_f32_rows_ok(void);

/* The floats between rows of an A tile for cpu_gemm_f32_packed_rows (at least any k block). */
int64_t cpu_gemm_f32_rows_stride(void);

/* cpu_gemm_f32_packed_tiles with each tile of A packed by pack_a as plain rows, row r of the tile
 * at dst + r * cpu_gemm_f32_rows_stride() (no transposing: for A whose rows lie along k, as a
 * convolution's taps), rows from mr up to the next multiple of 6 zero. Same bits as
 * cpu_gemm_f32_packed; only where cpu_gemm_f32_rows_ok(). */
bool cpu_gemm_f32_packed_rows(int64_t m, int64_t n, int64_t k, cpu_gemm_pack_a_fn pack_a,
                              void *actx, cpu_gemm_pack_b_fn pack_b, void *bctx, float beta,
                              float *c, int64_t c_rs, int64_t c_cs);

/* Called by cpu_gemm_f32_packed_ep on each finished column strip of C, while it is still in
 * cache: columns [j0, j0 + n) of all m rows, c pointing at (row 0, column j0). */
typedef void (*cpu_gemm_epilogue_fn)(void *ctx, int64_t m, int64_t j0, int64_t n, float *c);

/* cpu_gemm_f32_packed, then ep(ep_ctx, ...) on each strip of at most NR columns once its last k
 * block is done (ep NULL: nothing); C gets the same bits as from cpu_gemm_f32_packed before ep.
 * With row_bias (m values, beta ignored) the product starts from C[i][j] = row_bias[i]: the bits
 * of C filled with the bias and beta 1, without the fill (AVX-512 adds it in the registers). */
bool cpu_gemm_f32_packed_ep(int64_t m, int64_t n, int64_t k, const float *apack,
                            cpu_gemm_pack_b_fn pack_b, void *ctx, float beta, const float *row_bias,
                            float *c, int64_t c_rs, int64_t c_cs, cpu_gemm_epilogue_fn ep,
                            void *ep_ctx);

#endif
