/* Internal: the row helpers of the CPU attention kernels (attention.c). */
#ifndef BORN_CPU_ATTENTION_KERNELS_H
#define BORN_CPU_ATTENTION_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"

/* x[i] = exp(x[i] - shift) for i < n, in place; returns the sum (-inf entries give 0). The
 * portable loop and its AVX2 twin (only on CPUs with AVX2 + FMA; the NEON one is below). */
float attn_exp_shift_f32_ref(float *x, int64_t n, float shift);
float attn_exp_shift_f32_avx2(float *x, int64_t n, float shift);

/* The f32 flash-attention forward on AVX2 + FMA (attention_fwd_avx2.c) for inputs without a
 * mask or dropout whose K and V rows are contiguous and whose v_dim is a multiple of 8. out and
 * lse are contiguous; failed is set when a task cannot allocate its tiles. */
typedef struct attn_fwd_f32_job {
    const born_attention_args *a;
    const float *q, *k, *v;
    int64_t q_s[4], k_s[4], v_s[4]; /* element strides of q, k, v */
    float *out, *lse;
    int64_t bq, bkv; /* tile sizes */
    bool failed;
} attn_fwd_f32_job;
void attn_fwd_f32_avx2(attn_fwd_f32_job *jb);

/* One tile of the f32 backward on AVX2 + FMA (same conditions as the forward): for queries
 * [i0, i0 + m) and keys [j0, j0 + n) of one head, P^T and dS^T = (P (dP - Delta))^T, each n rows
 * of ldp floats (ldp >= m rounded up to 16). q points at query i0's row, dout at its row of the
 * contiguous grad_out, k and v at key j0's rows; lse and delta at query i0's. qp and dop are
 * 32-byte aligned scratch of mp d and mp v_dim + 16 floats (mp = m rounded up to 16). */
typedef struct attn_bwd_tile_f32 {
    const born_attention_args *a;
    const float *q, *dout, *k, *v, *lse, *delta;
    int64_t q_rs, q_cs, ks, vs;
    int64_t i0, m, j0, n, ldp;
    float *pt, *dst, *qp, *dop;
} attn_bwd_tile_f32;
void attn_bwd_tile_f32_avx2(const attn_bwd_tile_f32 *t);

/* AVX-512 register tiles for the two functions above (attention_avx512.c; call only at
 * CPU_LEVEL_AVX512), lane for lane the operations of their AVX2 tiles, so the same bits.
 * Score tile: nr (1..6) rows r of keys k + r ks against the 16-query panel qp0 (d steps of 16
 * floats) and, when qp1 is not NULL, the next panel qp1: row r goes to s0 + r lds (and s1 + r lds),
 * lanes below lim0 + r (lim1 + r) set to -inf when masked, and mx0 (mx1) raised to the rows'
 * values; mx1 may equal mx0 (one row of maxima for both panels).
 * PV tile: O rows r < nr (o + r ldo) = O alpha[r] + sum_j pt[j ldp + r] V_j over n keys, for
 * cols = 8 or 16 columns of the 16-column panel v0 (row j at v0 + j vs), or 32: v0 then v1. */
void attn_s_tile_f32_avx512(int nr, const float *k, int64_t ks, const float *qp0, const float *qp1,
                            int64_t d, float *s0, float *s1, int64_t lds, float *mx0, float *mx1,
                            int64_t lim0, int64_t lim1, int masked);
void attn_pv_tile_f32_avx512(int nr, int cols, const float *pt, int64_t ldp, const float *v0,
                             const float *v1, int64_t vs, int64_t n, float *o, int64_t ldo,
                             const float *alpha);

#if defined(__aarch64__)
/* The arm64 NEON twins (call only at CPU_LEVEL_NEON): exp(x - shift) in place with the row's sum
 * (attention_neon.c, vmath_neon.h's exp), and the forward and the backward tile above
 * (attention_fwd_neon.c, the AVX2 method on 4-lane vectors) for the same inputs except that
 * v_dim need only be a multiple of 4. */
float attn_exp_shift_f32_neon(float *x, int64_t n, float shift);
void attn_fwd_f32_neon(attn_fwd_f32_job *jb);
void attn_bwd_tile_f32_neon(const attn_bwd_tile_f32 *t);
#endif

#endif
