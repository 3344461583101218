/* Internal: what the bf16 attention kernels on the AMX tiles share (attention_bf16_fwd_avx512.c,
 * attention_bf16_bwd_avx512.c; attention_half.h has their contract): the job, the operands' rows,
 * the causal limits, bf16 loads and stores, and 2^x for the probabilities. For files compiled
 * with the AVX-512 flags only.
 *
 * Both kernels drive the tiles themselves (cpu_amx_block32: 32 x 32 blocks of f32 from 64-byte
 * rows of a left operand and pair panels of a right one) on operands they lay out for them, and
 * each pass between two products reads what the product before it stored. Each thread keeps
 * the keys and values of the (batch, kv head) it works on packed in CPU_SCRATCH_ATTN_KV across
 * its tasks of a call, tagged with the call's number (kv_pack). */
#ifndef BORN_CPU_ATTENTION_BF16_AVX512_H
#define BORN_CPU_ATTENTION_BF16_AVX512_H

#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/attention_half.h"
#include "backend/cpu/convert_avx512.h"
#include "backend/cpu/vmath_avx512.h"

/* The tiles' block: rows and columns of a block of C, k values of a step. */
enum { TILE = 32 };

/* log2(e), for scores scaled into powers of two */
#define LOG2E 1.44269504088896341

static inline int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/* 16 bf16 values (lanes in m) as f32. */
static inline __m512 load_bf16(const uint16_t *p, __mmask16 m) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

/* x rounded to bf16 into the lanes m of p. */
static inline void store_bf16(uint16_t *p, __mmask16 m, __m512 x) {
    _mm256_mask_storeu_epi16(p, m, cpu_round16_bf16_avx512(_mm512_castps_si512(x)));
}

/* sum_c a[c] b[c] over n bf16 values, in f32. */
static inline float dot_bf16(const uint16_t *a, const uint16_t *b, int64_t n) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 m = v16_mask(n - c);
        acc = _mm512_fmadd_ps(load_bf16(a + c, m), load_bf16(b + c, m), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* rows r < rows of n floats (src_rs apart) rounded into dst's rows (dst_rs apart). */
static inline void round_rows(uint16_t *dst, int64_t dst_rs, const float *src, int64_t src_rs,
                              int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < n; c += 16) {
            __mmask16 m = v16_mask(n - c);
            store_bf16(dst + r * dst_rs + c, m, _mm512_maskz_loadu_ps(m, src + r * src_rs + c));
        }
}

static inline void zero_rows(uint16_t *dst, int64_t dst_rs, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++)
        memset(dst + r * dst_rs, 0, (size_t)n * sizeof *dst);
}

/* 2^t for t <= 0 (about: a rounding above 0 is fine), as the probabilities need it: 2^r, r = t
 * - round(t), by a degree-5 polynomial (relative error 2e-7, f32's own) and vscalefps for the
 * 2^round(t), which takes t below the f32 range to 0 and keeps NaN. 9 operations where v16_exp's
 * two-step reduction and range check take 17; the softmaxes here spend most of their time in
 * it. t is first held above -200 (2^-200 is 0 in f32 anyway, and -inf would make r NaN). */
static inline __m512 exp2_neg(__m512 t) {
    const __m512 shift = v16_set1(12582912.0f); /* 1.5 2^23: adding it rounds to an integer */
    t = _mm512_max_ps(v16_set1(-200.0f), t);    /* NaN, the second operand, stays */
    __m512 n = _mm512_sub_ps(_mm512_add_ps(t, shift), shift);
    __m512 r = _mm512_sub_ps(t, n);
    __m512 p =
        _mm512_fmadd_ps(v16_set1(1.3308824272826314e-3f), r, v16_set1(9.671516716480255e-3f));
    p = _mm512_fmadd_ps(p, r, v16_set1(5.550582334399223e-2f));
    p = _mm512_fmadd_ps(p, r, v16_set1(2.4022242426872253e-1f));
    p = _mm512_fmadd_ps(p, r, v16_set1(6.931470632553101e-1f));
    p = _mm512_fmadd_ps(p, r, v16_set1(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* The keys [0, count) that query i, or a block ending before query i_end, may see. */
static inline int64_t visible_keys(const born_attention_args *a, int64_t i_end) {
    if (!a->causal) return a->kv_len;
    int64_t n = a->kv_offset + i_end;
    return n < 0 ? 0 : n > a->kv_len ? a->kv_len : n;
}

/* Row i of head h of batch b of a [B, H, T, F] bf16 tensor. */
static inline uint16_t *row_of(const born_strided *s, int64_t b, int64_t h, int64_t i) {
    return (uint16_t *)s->data + b * s->strides[0] + h * s->strides[1] + i * s->strides[2];
}

/* rows [0, rows) of dst (dst_rs apart, `width` values) from the first `real` rows of src (rows
 * s_rs apart, values s_cs apart, `n` values a row): the values, then zeros to the width; rows
 * from `real` on all zero. */
static inline void copy_padded(uint16_t *dst, int64_t dst_rs, int64_t width, const uint16_t *src,
                               int64_t s_rs, int64_t s_cs, int64_t rows, int64_t real, int64_t n) {
    for (int64_t r = 0; r < rows; r++) {
        uint16_t *d = dst + r * dst_rs;
        int64_t have = r < real ? n : 0;
        if (s_cs == 1)
            memcpy(d, src + r * s_rs, (size_t)have * sizeof *d);
        else
            for (int64_t c = 0; c < have; c++)
                d[c] = src[r * s_rs + c * s_cs];
        memset(d + have, 0, (size_t)(width - have) * sizeof *d);
    }
}

typedef struct attn_job {
    const born_attention_args *a;
    const born_strided *q, *k, *v, *out, *grad_out, *dq, *dk, *dv;
    float *lse;
    int64_t bq, nqb, group;
    int64_t bk, nkb;   /* the split backward's key blocks */
    uint64_t call;     /* the call's number, which its threads' packed keys are tagged with */
    atomic_int failed; /* a born_status other than BORN_OK, or 0 */
} attn_job;

/* The rows of the query block that starts at query i0 (bq, or fewer for the last). */
static inline int64_t block_rows(const attn_job *j, int64_t i0) {
    return j->a->q_len - i0 < j->bq ? j->a->q_len - i0 : j->bq;
}

static inline void fail(attn_job *j, born_status st) {
    int ok = 0;
    atomic_compare_exchange_strong(&j->failed, &ok, (int)st);
}

/* The job's common fields (the backward's gradients set by the caller). */
static inline void job_init(attn_job *j, const born_attention_args *args, const born_strided *q,
                            const born_strided *k, const born_strided *v, const born_strided *out,
                            const born_strided *lse) {
    memset(j, 0, sizeof *j);
    j->a = args;
    j->q = q;
    j->k = k;
    j->v = v;
    j->out = out;
    j->lse = lse->data;
    j->bq = args->block_q > 0 ? args->block_q : 64;
    j->nqb = (args->q_len + j->bq - 1) / j->bq;
    j->group = args->q_heads / args->kv_heads;
    atomic_init(&j->failed, 0);
}

/* What a thread's CPU_SCRATCH_ATTN_KV holds: keys [0, keys) of (batch, kv head) (b, hk) packed
 * for call number `call` (each kernel its own numbers and layout; a new call finds the tag
 * stale). */
typedef struct kv_pack {
    uint64_t call;
    int64_t b, hk, keys;
} kv_pack;

#endif
