/* Internal: AVX2 (+ FMA, F16C) helpers of the engine's kernels (kernels_avx2.c), chosen at run
 * time by kernels.c. */
#ifndef BORN_LLM_KERNELS_SIMD_H
#define BORN_LLM_KERNELS_SIMD_H

#include <stdbool.h>
#include <stdint.h>

/* sum_i x[i] * f16(y[i]) */
float llm_dot_f16_avx2(const float *x, const uint16_t *y, int64_t n);
/* out[j] = llm_dot_f16_avx2(x, w + j * ls, n) for j < rows (the same bits), prefetching ahead
 * in the rows' stream */
void llm_dot_rows_f16_avx2(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t n,
                           float *out);
/* llm_dot_rows_f16_avx2 with AVX-512 (kernels_avx512.c; the same bits) */
void llm_dot_rows_f16_avx512(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t n,
                             float *out);
/* out[t out_rs + j] = llm_dot_f16_avx2(x + t x_rs, w + j * ls, n) for t < ntok, j < rows (the
 * same bits), four tokens at a time sharing each run's conversion */
void llm_dot_rows_f16_tokens_avx512(const float *x, int64_t x_rs, int64_t ntok, const uint16_t *w, int64_t ls,
                                    int64_t rows, int64_t n, float *out, int64_t out_rs);
/* sum_i x[i] * bf16(y[i]), accumulated as llm_dot_f16_avx2 (bf16 widens exactly by a shift) */
float llm_dot_bf16_avx2(const float *x, const uint16_t *y, int64_t n);
/* out[j] = llm_dot_bf16_avx2(x, w + j * ls, n) for j < rows (the same bits), prefetching ahead */
void llm_dot_rows_bf16_avx2(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t n,
                            float *out);
/* acc[i] += a * f16(y[i]) */
void llm_axpy_f16_avx2(float *acc, float a, const uint16_t *y, int64_t n);
/* sum_i x[i] * y[i] */
float llm_dot_f32_avx2(const float *x, const float *y, int64_t n);

/* q . k in ggml's TILE (tile != 0) or VEC order (see kernels.c) */
float llm_kq_dot_f16_avx2(const float *q, const uint16_t *k, int64_t n, int tile);
/* One token's attention in ggml's VEC order (see kernels.c): sc[j] = (q . k_j) * scale for n_kv keys d
 * apart, each dot as llm_kq_dot_f16_avx2's VEC order; returns the largest score (NaNs skipped).
 * o[c] = sum_j p[j] v_j[c] with key j in slot j % 32 and the slots summed as tree32 (d % 8 == 0). */
float llm_kq_scores_vec_f16_avx2(const float *q, const uint16_t *k, int64_t d, int64_t n_kv, float scale,
                                 float *sc);
void llm_pv_vec_f16_avx2(const float *p, const uint16_t *v, int64_t d, int64_t n_kv, float *o);
/* x[i] = e^(x[i] - mx) as ggml's softmax computes it; returns the sum of runs of 8 (float) in
 * double, zeros standing for elements past n in the last run */
double llm_softmax_exp_avx2(float *x, int64_t n, float mx);
/* gate[i] = silu(gate[i]) * up[i] as ggml's swiglu computes it */
void llm_swiglu_avx2(float *gate, const float *up, int64_t n);

/* One head's rotation by the (cos, sin) pairs cs, as llm_rope_apply computes it (x0 cos - x1 sin
 * with x1 sin rounded and the rest fused; x0 sin + x1 cos likewise): pairs (i, i + half) for
 * NeoX, (2i, 2i + 1) otherwise. */
void llm_rope_head_avx2(float *v, const float *cs, int half, bool neox);

/* One 16-row panel of f32 values from 16 f16 rows ls apart: dst[p * 16 + i] = s[i * ls + p] for
 * p < kc (the f32 GEMM's packed B layout). */
void llm_pack_f16_t16_avx2(int64_t kc, const uint16_t *s, int64_t ls, float *dst);

/* Batched attention in ggml's TILE order (kernels.c), bit for bit as the one-key helpers: sc[j] =
 * (q . k_j) * scale for n_kv keys d apart (d % 8 == 0), four keys at a time; x[i] rounded to
 * f16 and back; o[c] = sum_j p[j] v_j[c] with key j in slot j % 8 and the slots summed as tree8. */
void llm_kq_scores_tile_f16_avx2(const float *q, const uint16_t *k, int64_t d, int64_t n_kv, float scale,
                                 float *sc);
/* llm_kq_scores_tile_f16_avx2 for nh (2..4) heads' queries over one K: sc[h] as that function
 * gives it for q[h], each K element converted once for all of them. */
void llm_kq_scores_tile_f16_heads_avx2(const float *const *q, int nh, const uint16_t *k, int64_t d, int64_t n_kv,
                                       float scale, float *const *sc);
/* the largest of x[0..n) as a loop of `if (x[i] > mx) mx = x[i]` from -inf finds it (NaNs skipped) */
float llm_max_avx2(const float *x, int64_t n);
/* x[i] = x[i] * s rounded to f16 and back */
void llm_scale_round_f16_avx2(float *x, int64_t n, float s);
void llm_round_f16_avx2(float *x, int64_t n);
/* dst[i] = src[i] as binary16, rounded to nearest even (born_f32_to_f16's bits, NaNs as quiet NaNs
 * with the top of their payload as there) */
void llm_f32_to_f16_avx2(uint16_t *dst, const float *src, int64_t n);
void llm_pv_tile_f16_avx2(const float *p, const uint16_t *v, int64_t d, int64_t n_kv, float *o);
/* llm_pv_tile_f16_avx2 for nh (2..4) heads sharing one V: o[h] as that function gives it for
 * p[h], each V element converted once for all of them. */
void llm_pv_tile_f16_heads_avx2(const float *const *p, int nh, const uint16_t *v, int64_t d, int64_t n_kv,
                                float *const *o);

#if defined(__aarch64__)
/* The arm64 NEON dots of kernels_neon.c: llm_dot_f16_avx2, llm_dot_bf16_avx2 and
 * llm_dot_f32_avx2's order of operations (so the x86 AVX2 bits) with f16, bf16 or f32 weights. */
float llm_dot_f16_neon(const float *x, const uint16_t *y, int64_t n);
float llm_dot_bf16_neon(const float *x, const uint16_t *y, int64_t n);
float llm_dot_f32_neon(const float *x, const float *y, int64_t n);
/* out[j] = llm_dot_f16_neon / llm_dot_bf16_neon(x, w + j * ls, n) for j < rows. */
void llm_dot_rows_f16_neon(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t n,
                           float *out);
void llm_dot_rows_bf16_neon(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t n,
                            float *out);
/* acc[i] = fma(f16(y[i]), a, acc[i]), one fused multiply-add an element (llm_axpy_f16_avx2's bits) */
void llm_axpy_f16_neon(float *acc, float a, const uint16_t *y, int64_t n);
#endif

#endif
