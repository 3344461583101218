/* bf16 attention with its products on the AMX tiles (attention_half.h has the contract), called
 * where cpu_amx_enabled(); the passes between the products (softmax, the probabilities' and
 * dS's rounding to bf16, dO's dot with O) run here on AVX-512.
 *
 * A forward task is one block of bq queries of one (batch, head), on tiles it drives itself
 * (cpu_amx_block32, operands laid out below): per chunk of 512 keys S = Q K^T in f32, each row's
 * running maximum, P = 2^((s - max) scale log2 e) rounded to bf16 as the row is written, and O +=
 * P V in f32 (O and the sum rescaled where a row's maximum grows: flash attention's method);
 * O divided by the sum as it is rounded, lse kept.
 *
 * The backward's products go through cpu_gemm_bf16_amx. Its scores are kept transposed, keys x
 * queries: S^T = K Q^T is stored by the product's tiles in place (S = Q K^T would go through
 * transposes there), the passes take 16 queries a vector down the keys, and P^T and dS^T are the
 * row-major left operands of dV's and dK's products. A backward task is one (batch, kv head):
 * every head of its GQA group and every query block recomputes P^T from lse, dP^T = V dO^T and
 * dS^T = P^T (dP^T - Delta) scale (rounded to bf16), writes dQ = dS K and adds P^T dO and dS^T Q
 * into f32 sums of dV and dK, rounded once at the end. Each task's order is fixed, so the results
 * do not depend on the thread count. */
#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/attention_half.h"
#include "backend/cpu/convert_avx512.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/scratch.h"
#include "backend/cpu/vmath_avx512.h"
#include "born/core.h"

/* ---- row passes ------------------------------------------------------------------------------ */

static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/* 16 bf16 values (lanes in m) as f32. */
static inline __m512 load_bf16(const uint16_t *p, __mmask16 m) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

/* x rounded to bf16 into the lanes m of p. */
static inline void store_bf16(uint16_t *p, __mmask16 m, __m512 x) {
    _mm256_mask_storeu_epi16(p, m, cpu_round16_bf16_avx512(_mm512_castps_si512(x)));
}

/* The keys [0, count) that query i, or a block ending before query i_end, may see. */
static int64_t visible_keys(const born_attention_args *a, int64_t i_end) {
    if (!a->causal) return a->kv_len;
    int64_t n = a->kv_offset + i_end;
    return n < 0 ? 0 : n > a->kv_len ? a->kv_len : n;
}

/* The visible-key counts of queries [i, i + 16) of a block of m (from its first query i0), 0 for
 * lanes past the block, as 16 int32 lanes. */
static __m512i limits(const born_attention_args *a, int64_t i0, int64_t q0, int64_t m) {
    _Alignas(64) int32_t lim[16];
    for (int l = 0; l < 16; l++)
        lim[l] = q0 + l < m ? (int32_t)visible_keys(a, i0 + q0 + l + 1) : 0;
    return _mm512_load_si512(lim);
}

/* The lanes of lim above key j. */
static inline __mmask16 sees(__m512i lim, int64_t j) {
    return _mm512_cmpgt_epi32_mask(lim, _mm512_set1_epi32((int32_t)j));
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

/* log2(e), for scores scaled into powers of two */
#define LOG2E 1.44269504088896341

/* The backward's columns, 16 queries a vector down the keys of the transposed scores st (key j's
 * row at st + j ld, n keys, lane l its query's key count lim[l]): p = exp(scale s - lse) (as
 * 2^(s scale log2 e - lse log2 e), the forward's way) rounded into pt, and dS = p (dP - delta)
 * scale rounded into dst (dpt: dP^T, rows ld apart); zero where a query does not see the key. */
static void dscores_cols(const float *st, const float *dpt, int64_t ld, int64_t n, __m512i lim,
                         float scale, __m512 lse, __m512 delta, uint16_t *pt, uint16_t *dst,
                         int64_t ldp) {
    const __m512 vs = v16_set1(scale), vc = v16_set1((float)(scale * LOG2E));
    const __m512 l2 = _mm512_mul_ps(lse, v16_set1((float)LOG2E));
    for (int64_t j = 0; j < n; j++) {
        __mmask16 act = sees(lim, j);
        __m512 t = _mm512_fmsub_ps(_mm512_load_ps(st + j * ld), vc, l2);
        __m512 p = _mm512_maskz_mov_ps(act, exp2_neg(t));
        store_bf16(pt + j * ldp, 0xffff, p);
        __m512 d = _mm512_sub_ps(_mm512_load_ps(dpt + j * ld), delta);
        store_bf16(dst + j * ldp, 0xffff, _mm512_maskz_mul_ps(act, _mm512_mul_ps(p, d), vs));
    }
}

/* sum_c a[c] b[c] over n bf16 values, in f32. */
static float dot_bf16(const uint16_t *a, const uint16_t *b, int64_t n) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 m = v16_mask(n - c);
        acc = _mm512_fmadd_ps(load_bf16(a + c, m), load_bf16(b + c, m), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* acc[r][c] += t[r][c] for rows r < rows of n floats (both rows n apart). */
static void add_rows(float *acc, const float *t, int64_t rows, int64_t n) {
    int64_t total = rows * n;
    for (int64_t i = 0; i < total; i += 16) {
        __mmask16 m = v16_mask(total - i);
        __m512 x =
            _mm512_add_ps(_mm512_maskz_loadu_ps(m, acc + i), _mm512_maskz_loadu_ps(m, t + i));
        _mm512_mask_storeu_ps(acc + i, m, x);
    }
}

/* rows r < rows of n floats (n apart) rounded into dst's rows (dst_rs apart). */
static void round_rows(uint16_t *dst, int64_t dst_rs, const float *src, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < n; c += 16) {
            __mmask16 m = v16_mask(n - c);
            store_bf16(dst + r * dst_rs + c, m, _mm512_maskz_loadu_ps(m, src + r * n + c));
        }
}

static void zero_rows(uint16_t *dst, int64_t dst_rs, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++)
        memset(dst + r * dst_rs, 0, (size_t)n * sizeof *dst);
}

/* ---- operands ---------------------------------------------------------------------------- */

/* Row i of head h of batch b of a [B, H, T, F] bf16 tensor. */
static uint16_t *row_of(const born_strided *s, int64_t b, int64_t h, int64_t i) {
    return (uint16_t *)s->data + b * s->strides[0] + h * s->strides[1] + i * s->strides[2];
}

/* C (f32, rows c_rs apart) = A B on the AMX tiles: cpu_gemm_bf16's contract, but the tiles for
 * every shape (cpu_gemm_bf16 takes a dot form for up to 3 rows), so that an element's bits do
 * not depend on how many keys a call covers (the backward's two ways of splitting its work). */
static born_status tiles_f32(int64_t m, int64_t n, int64_t k, const uint16_t *a, int64_t a_rs,
                             int64_t a_cs, const uint16_t *b, int64_t b_rs, int64_t b_cs, float *c,
                             int64_t c_rs) {
    return cpu_gemm_bf16_amx(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c, NULL, NULL, c_rs);
}

typedef struct attn_job {
    const born_attention_args *a;
    const born_strided *q, *k, *v, *out, *grad_out, *dq, *dk, *dv;
    float *lse;
    int64_t bq, nqb, group;
    int64_t bk, nkb;   /* the split backward's key blocks */
    uint64_t call;     /* the forward's number, which its threads' packed keys are tagged with */
    atomic_int failed; /* a born_status other than BORN_OK, or 0 */
} attn_job;

static void fail(attn_job *j, born_status st) {
    int ok = 0;
    atomic_compare_exchange_strong(&j->failed, &ok, (int)st);
}

/* ---- forward ----------------------------------------------------------------------------- */

/* The forward runs its own tiles (cpu_amx_block32) on operands laid out for them: Q's block rows
 * as they lie (copied, zero past the rows and head_dim), K^T and V as pair panels (32 keys, or 32
 * features, a panel), packed once per (batch, kv head) by each thread that works on it and kept
 * across its tasks (a query block of 64 had packed all of V and K again: 12% of the time at 4096
 * keys), and P in bf16 rows, the left operand of P V as the softmax writes it. The scores S = Q
 * K^T are taken KEY_CHUNK keys at a time with flash attention's running maximum, so a task's
 * buffers stay in L2 whatever the keys. */
enum { KEY_CHUNK = 512, TILE = 32 };

/* One thread's packed K^T and V: pair panels of (batch, kv head) (b, hk) over keys [0, keys). */
typedef struct kv_pack {
    uint64_t call; /* the forward call it belongs to (0: none) */
    int64_t b, hk, keys;
} kv_pack;

static _Thread_local kv_pack thread_pack;
static atomic_uint_fast64_t forward_calls;

/* Words of one K^T panel (32 keys by head_dim rounded up to 32) and of one V panel (32 features
 * by every key, kv_len rounded up to 32). */
static int64_t kt_panel_words(const born_attention_args *a) {
    return round_up(a->head_dim, TILE) * 16;
}
static int64_t v_panel_words(const born_attention_args *a) {
    return round_up(a->kv_len, TILE) * 16;
}

/* Packs keys [from, to) (multiples of 32, to at most kv_len rounded up) of (b, hk): K^T's panels
 * into kt, and V's pairs of rows into each of V's panels at v. */
static void pack_keys(const attn_job *j, int64_t b, int64_t hk, int64_t from, int64_t to,
                      uint32_t *kt, uint32_t *v) {
    const born_attention_args *a = j->a;
    const uint16_t *k0 = row_of(j->k, b, hk, 0), *v0 = row_of(j->v, b, hk, 0);
    int64_t kw = kt_panel_words(a), k_rs = j->k->strides[2], k_cs = j->k->strides[3];
    for (int64_t t = from / TILE; t < to / TILE; t++) {
        uint32_t *out = kt + t * kw;
        if (k_cs == 1 && a->head_dim % TILE == 0 && (t + 1) * TILE <= a->kv_len)
            cpu_gemm_bf16_pack_b_wrows_avx512(a->head_dim / 2, k0 + t * TILE * k_rs, k_rs, out);
        else /* K^T[d][key] = K[key][d]: the last keys, or K not contiguous along head_dim */
            cpu_gemm_bf16_pack_panels(k0, k_cs, k_rs, a->head_dim, a->kv_len, 0, kw / TILE,
                                      t * TILE, 1, out, kw);
    }
    int64_t vw = v_panel_words(a);
    cpu_gemm_bf16_pack_panels(v0, j->v->strides[2], j->v->strides[3], a->kv_len, a->v_dim, from,
                              (to - from) / 2, 0, round_up(a->v_dim, TILE) / TILE, v + from * 16,
                              vw);
}

/* A forward task's buffers: Q's block (qp), the chunk's scores (s) and probabilities (p), P V's
 * running sums (o), each row's running maximum and sum. Rows are padded so that a tile's 16 rows
 * do not sit a multiple of 4 KB apart. */
typedef struct fwd_bufs {
    uint16_t *qp, *p;
    float *s, *o, *mx, *sum;
    int64_t rows, ldq, lds, ldp, ldo;
} fwd_bufs;

static bool fwd_bufs_get(const attn_job *j, fwd_bufs *w) {
    const born_attention_args *a = j->a;
    w->rows = round_up(j->bq, TILE);
    w->ldq = round_up(a->head_dim, TILE);
    w->lds = KEY_CHUNK + 16;
    w->ldp = KEY_CHUNK + 32;
    w->ldo = round_up(a->v_dim, TILE) + 16;
    size_t floats = (size_t)(w->rows * (w->lds + w->ldo + 2));
    size_t halves = (size_t)(w->rows * (w->ldq + w->ldp));
    w->s = cpu_scratch(CPU_SCRATCH_ATTN_TASK, floats * sizeof(float) + halves * sizeof(uint16_t));
    if (!w->s) return false;
    w->o = w->s + w->rows * w->lds;
    w->mx = w->o + w->rows * w->ldo;
    w->sum = w->mx + w->rows;
    w->qp = (uint16_t *)(w->sum + w->rows);
    w->p = w->qp + w->rows * w->ldq;
    return true;
}

/* The largest of s[0, n) (n > 0). */
static float row_max(const float *s, int64_t n) {
    __m512 m0 = v16_set1(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    int64_t c = 0;
    for (; c + 64 <= n; c += 64) { /* four chains: vmaxps waits 4 cycles on its last result */
        m0 = _mm512_max_ps(m0, _mm512_load_ps(s + c));
        m1 = _mm512_max_ps(m1, _mm512_load_ps(s + c + 16));
        m2 = _mm512_max_ps(m2, _mm512_load_ps(s + c + 32));
        m3 = _mm512_max_ps(m3, _mm512_load_ps(s + c + 48));
    }
    for (; c < n; c += 16) {
        __mmask16 k = v16_mask(n - c);
        m0 = _mm512_mask_max_ps(m0, k, m0, _mm512_maskz_load_ps(k, s + c));
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}

/* 2^(s[c] c1 - m2) for c < n rounded into p[c] (bf16), zeros on to n32 (a multiple of 32);
 * returns the sum of the unrounded values. */
__attribute__((target("avx512bf16"))) static float row_exp(const float *s, int64_t n, int64_t n32,
                                                           float c1, float m2, uint16_t *p) {
    const __m512 vc = v16_set1(c1), vm = v16_set1(m2);
    __m512 sum0 = _mm512_setzero_ps(), sum1 = sum0;
    int64_t c = 0;
    for (; c + 32 <= n; c += 32) {
        __m512 e0 = exp2_neg(_mm512_fmsub_ps(_mm512_load_ps(s + c), vc, vm));
        __m512 e1 = exp2_neg(_mm512_fmsub_ps(_mm512_load_ps(s + c + 16), vc, vm));
        sum0 = _mm512_add_ps(sum0, e0);
        sum1 = _mm512_add_ps(sum1, e1);
        _mm512_storeu_si512(p + c, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
    }
    if (c < n) { /* the last, partial 32 */
        __mmask16 k0 = v16_mask(n - c), k1 = v16_mask(n - c > 16 ? n - c - 16 : 0);
        __m512 e0 = _mm512_maskz_mov_ps(
            k0, exp2_neg(_mm512_fmsub_ps(_mm512_maskz_load_ps(k0, s + c), vc, vm)));
        __m512 e1 = _mm512_maskz_mov_ps(
            k1, exp2_neg(_mm512_fmsub_ps(_mm512_maskz_load_ps(k1, s + c + 16), vc, vm)));
        sum0 = _mm512_add_ps(sum0, e0);
        sum1 = _mm512_add_ps(sum1, e1);
        _mm512_storeu_si512(p + c, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
        c += 32;
    }
    for (; c < n32; c += 32)
        _mm512_storeu_si512(p + c, _mm512_setzero_si512());
    return _mm512_reduce_add_ps(_mm512_add_ps(sum0, sum1));
}

/* row[c] *= f for c < n. */
static void scale_row(float *row, int64_t n, float f) {
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 k = v16_mask(n - c);
        _mm512_mask_storeu_ps(row + c, k,
                              _mm512_mul_ps(_mm512_maskz_loadu_ps(k, row + c), v16_set1(f)));
    }
}

/* The keys row r of a query block from i0 sees (a prefix). */
static int64_t row_keys(const born_attention_args *a, int64_t i0, int64_t r) {
    return visible_keys(a, i0 + r + 1);
}

/* Q's rows [i0, i0 + m) of head h into w->qp (rows ldq apart), zero past m and head_dim. */
static void copy_queries(const attn_job *j, fwd_bufs *w, int64_t b, int64_t h, int64_t i0,
                         int64_t m) {
    const born_attention_args *a = j->a;
    int64_t q_rs = j->q->strides[2], q_cs = j->q->strides[3];
    const uint16_t *q = row_of(j->q, b, h, i0);
    memset(w->qp, 0, (size_t)(w->rows * w->ldq) * sizeof *w->qp);
    for (int64_t r = 0; r < m; r++) {
        uint16_t *dst = w->qp + r * w->ldq;
        if (q_cs == 1) {
            memcpy(dst, q + r * q_rs, (size_t)a->head_dim * sizeof *dst);
            continue;
        }
        for (int64_t c = 0; c < a->head_dim; c++)
            dst[c] = q[r * q_rs + c * q_cs];
    }
}

/* The softmax of keys [c0, c0 + ck) for the block's rows (ck32: ck rounded up to 32): each row's
 * maximum, P V's row and the sum rescaled where it grows, then the probabilities into w->p. */
static void chunk_softmax(const attn_job *j, fwd_bufs *w, int64_t i0, int64_t m, int64_t c0,
                          int64_t ck, int64_t ck32) {
    const born_attention_args *a = j->a;
    float c1 = (float)(a->scale * LOG2E);
    for (int64_t r = 0; r < m; r++) {
        int64_t n = row_keys(a, i0, r) - c0;
        n = n < 0 ? 0 : n > ck ? ck : n;
        uint16_t *p = w->p + r * w->ldp;
        if (n == 0) {
            memset(p, 0, (size_t)ck32 * sizeof *p);
            continue;
        }
        const float *s = w->s + r * w->lds;
        float top = row_max(s, n), old = w->mx[r];
        if (top > old) {
            if (c0 > 0 && old > -INFINITY) {          /* the sums so far were taken against old */
                float f = exp2f(old * c1 - top * c1); /* the two m2's of row_exp */
                w->sum[r] *= f;
                scale_row(w->o + r * w->ldo, a->v_dim, f);
            }
            w->mx[r] = top;
        }
        w->sum[r] += row_exp(s, n, ck32, c1, w->mx[r] * c1, p);
    }
}

/* Query block [i0, i0 + m) of head h of batch b: O and lse. */
static void forward_block(const attn_job *j, fwd_bufs *w, int64_t b, int64_t h, int64_t i0,
                          int64_t m, const uint32_t *kt, const uint32_t *v) {
    const born_attention_args *a = j->a;
    int64_t n = visible_keys(a, i0 + m), dch = w->ldq / TILE, kw = kt_panel_words(a);
    int64_t vw = v_panel_words(a), vpanels = round_up(a->v_dim, TILE) / TILE;
    copy_queries(j, w, b, h, i0, m);
    for (int64_t r = 0; r < w->rows; r++) {
        w->mx[r] = -INFINITY;
        w->sum[r] = 0;
    }
    if (m < w->rows) /* P's rows past the block stay zero */
        memset(w->p + m * w->ldp, 0, (size_t)((w->rows - m) * w->ldp) * sizeof *w->p);
    for (int64_t c0 = 0; c0 < n; c0 += KEY_CHUNK) {
        int64_t ck = n - c0 < KEY_CHUNK ? n - c0 : KEY_CHUNK, ck32 = round_up(ck, TILE);
        for (int64_t r0 = 0; r0 < w->rows; r0 += TILE) { /* S = Q K^T, keys the rows see */
            int64_t last = (r0 + TILE < m ? r0 + TILE : m) - 1;
            int64_t seen = last < 0 ? 0 : row_keys(a, i0, last) - c0;
            for (int64_t c = 0; c < ck32 && c < seen; c += TILE)
                cpu_amx_block32(dch, w->qp + r0 * w->ldq, w->ldq * 2, TILE * 2,
                                kt + (c0 + c) / TILE * kw, w->s + r0 * w->lds + c, w->lds, false);
        }
        chunk_softmax(j, w, i0, m, c0, ck, ck32);
        for (int64_t r0 = 0; r0 < w->rows; r0 += TILE) { /* O += P V */
            int64_t last = (r0 + TILE < m ? r0 + TILE : m) - 1;
            int64_t seen = last < 0 ? 0 : row_keys(a, i0, last) - c0;
            if (seen <= 0) continue; /* P's rows zero: O's stay as they are */
            int64_t chunks = (seen < ck ? round_up(seen, TILE) : ck32) / TILE;
            for (int64_t t = 0; t < vpanels; t++)
                cpu_amx_block32(chunks, w->p + r0 * w->ldp, w->ldp * 2, TILE * 2,
                                v + t * vw + c0 * 16, w->o + r0 * w->ldo + t * TILE, w->ldo,
                                c0 > 0);
        }
    }
    float *lse = j->lse + (b * a->q_heads + h) * a->q_len + i0;
    uint16_t *o = row_of(j->out, b, h, i0);
    int64_t o_rs = j->out->strides[2];
    for (int64_t r = 0; r < m; r++) {
        float l = w->sum[r];
        if (l == 0) { /* sees no key (NaN scores go on into NaN rows) */
            lse[r] = -INFINITY;
            zero_rows(o + r * o_rs, o_rs, 1, a->v_dim);
            continue;
        }
        lse[r] = (float)((double)w->mx[r] * a->scale + log((double)l));
        __m512 inv = v16_set1(1.0f / l);
        for (int64_t c = 0; c < a->v_dim; c += 16) {
            __mmask16 k = v16_mask(a->v_dim - c);
            store_bf16(o + r * o_rs + c, k,
                       _mm512_mul_ps(_mm512_maskz_loadu_ps(k, w->o + r * w->ldo + c), inv));
        }
    }
}

static void forward_tasks(int64_t begin, int64_t end, void *ctx) {
    attn_job *j = ctx;
    const born_attention_args *a = j->a;
    fwd_bufs w;
    int64_t kt_words = round_up(a->kv_len, TILE) / TILE * kt_panel_words(a);
    int64_t v_words = round_up(a->v_dim, TILE) / TILE * v_panel_words(a);
    uint32_t *kt = cpu_scratch(CPU_SCRATCH_ATTN_KV, (size_t)(kt_words + v_words) * sizeof *kt);
    if (!kt || !fwd_bufs_get(j, &w)) {
        fail(j, born_error(BORN_ERR_MEMORY, "attention: out of memory for a block's buffers"));
        return;
    }
    uint32_t *v = kt + kt_words;
    kv_pack *pk = &thread_pack;
    if (pk->call != j->call) *pk = (kv_pack){.call = j->call, .b = -1};
    cpu_amx_tiles_begin();
    for (int64_t t = begin; t < end; t++) {
        int64_t qb = t % j->nqb, h = t / j->nqb % a->q_heads, b = t / j->nqb / a->q_heads;
        int64_t hk = h / j->group, i0 = qb * j->bq;
        int64_t m = a->q_len - i0 < j->bq ? a->q_len - i0 : j->bq;
        if (pk->b != b || pk->hk != hk) *pk = (kv_pack){.call = j->call, .b = b, .hk = hk};
        int64_t need = round_up(visible_keys(a, i0 + m), TILE);
        if (need > pk->keys) {
            pack_keys(j, b, hk, pk->keys, need, kt, v);
            pk->keys = need;
        }
        forward_block(j, &w, b, h, i0, m, kt, v);
    }
    cpu_amx_tiles_end();
}

/* The job's common fields (the backward's gradients set by the caller). */
static void job_init(attn_job *j, const born_attention_args *args, const born_strided *q,
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

born_status attn_bf16_forward_amx(const born_strided *out, const born_strided *lse,
                                  const born_strided *q, const born_strided *k,
                                  const born_strided *v, const born_attention_args *args) {
    attn_job j;
    job_init(&j, args, q, k, v, out, lse);
    j.call = atomic_fetch_add(&forward_calls, 1) + 1;
    int64_t tasks = args->batch * args->q_heads * j.nqb;
    if (tasks > 0) born_parallel_for(tasks, 1, forward_tasks, &j);
    return (born_status)atomic_load(&j.failed);
}

/* ---- backward ---------------------------------------------------------------------------- */

/* The f32 sums and transposed score buffers of one backward task, for `keys` keys. */
typedef struct bwd_bufs {
    float *st, *dpt, *dk, *dv, *tmp;
    uint16_t *pt, *dst;
    int64_t ld;
} bwd_bufs;

static bool bwd_bufs_get(const attn_job *j, int64_t keys, bwd_bufs *w) {
    const born_attention_args *a = j->a;
    int64_t wide = a->head_dim > a->v_dim ? a->head_dim : a->v_dim;
    w->ld = round_up(j->bq, 16);
    int64_t floats = 2 * keys * w->ld + keys * (a->head_dim + a->v_dim + wide);
    size_t bytes = (size_t)floats * sizeof(float) + (size_t)(2 * keys * w->ld) * sizeof(uint16_t);
    w->st = cpu_scratch(CPU_SCRATCH_ATTN_TASK, bytes);
    if (!w->st) return false;
    w->dpt = w->st + keys * w->ld;
    w->dk = w->dpt + keys * w->ld;
    w->dv = w->dk + keys * a->head_dim;
    w->tmp = w->dv + keys * a->v_dim;
    w->pt = (uint16_t *)(w->tmp + keys * wide);
    w->dst = w->pt + keys * w->ld;
    return true;
}

enum { WANT_KV = 1, WANT_Q = 2 };

/* One query block [i0, i0 + m) of head h (kv head hk) of batch b against keys [k0, k1), cut at
 * the keys the block can see: with WANT_Q dQ written (k0 must be 0 and k1 kv_len), with WANT_KV
 * P^T dO and dS^T Q added into w's sums (their row 0 is key k0). The scores and their gradients
 * are kept transposed (keys x queries), as in the forward, so that P^T and dS^T are the row-major
 * operands of dV and dK's products. */
static born_status bwd_block(const attn_job *j, bwd_bufs *w, int64_t b, int64_t h, int64_t hk,
                             int64_t i0, int64_t m, int64_t k0, int64_t k1, int want) {
    const born_attention_args *a = j->a;
    int64_t e = a->head_dim, ev = a->v_dim, ld = w->ld, seen = visible_keys(a, i0 + m);
    int64_t n = (seen < k1 ? seen : k1) - k0;
    uint16_t *dq = row_of(j->dq, b, h, i0);
    if ((want & WANT_Q) && seen == 0) zero_rows(dq, j->dq->strides[2], m, e);
    if (n <= 0) return BORN_OK;
    const uint16_t *q = row_of(j->q, b, h, i0), *k = row_of(j->k, b, hk, k0);
    const uint16_t *v = row_of(j->v, b, hk, k0), *dout = row_of(j->grad_out, b, h, i0);
    const uint16_t *o = row_of(j->out, b, h, i0);
    const int64_t q_rs = j->q->strides[2], q_cs = j->q->strides[3];
    const int64_t k_rs = j->k->strides[2], k_cs = j->k->strides[3];
    const int64_t do_rs = j->grad_out->strides[2], o_rs = j->out->strides[2];
    /* S^T = K Q^T and dP^T = V dO^T */
    born_status st = tiles_f32(n, m, e, k, k_rs, k_cs, q, q_cs, q_rs, w->st, ld);
    if (st == BORN_OK)
        st = tiles_f32(n, m, ev, v, j->v->strides[2], j->v->strides[3], dout, 1, do_rs, w->dpt, ld);
    if (st != BORN_OK) return st;
    const float *lse = j->lse + (b * a->q_heads + h) * a->q_len + i0;
    for (int64_t q0 = 0; q0 < m; q0 += 16) {
        _Alignas(64) float l16[16], d16[16];
        for (int64_t l = 0; l < 16; l++) {
            bool in = q0 + l < m;
            l16[l] = in ? lse[q0 + l] : 0.0f;
            d16[l] = in ? dot_bf16(dout + (q0 + l) * do_rs, o + (q0 + l) * o_rs, ev) : 0.0f;
        }
        /* the queries' key counts from key k0 on */
        __m512i lim =
            _mm512_max_epi32(_mm512_sub_epi32(limits(a, i0, q0, m), _mm512_set1_epi32((int32_t)k0)),
                             _mm512_setzero_si512());
        dscores_cols(w->st + q0, w->dpt + q0, ld, n, lim, (float)a->scale, _mm512_load_ps(l16),
                     _mm512_load_ps(d16), w->pt + q0, w->dst + q0, ld);
    }
    if (want & WANT_Q) { /* dQ = dS K (dS the transposed view of dS^T), rounded as stored */
        st = cpu_gemm_bf16_rounded(m, e, n, w->dst, 1, ld, k, k_rs, k_cs, NULL, dq,
                                   j->dq->strides[2]);
        if (st != BORN_OK) return st;
    }
    if (!(want & WANT_KV)) return BORN_OK;
    st = tiles_f32(n, ev, m, w->pt, ld, 1, dout, do_rs, 1, w->tmp, ev);
    if (st != BORN_OK) return st;
    add_rows(w->dv, w->tmp, n, ev);
    st = tiles_f32(n, e, m, w->dst, ld, 1, q, q_rs, q_cs, w->tmp, e);
    if (st != BORN_OK) return st;
    add_rows(w->dk, w->tmp, n, e);
    return BORN_OK;
}

/* dK and dV of keys [k0, k1) of kv head hk of batch b over every query block of its heads that
 * sees them, rounded into dk and dv; with WANT_Q in want (all the keys) dQ of those blocks too. */
static born_status kv_rows(const attn_job *j, bwd_bufs *w, int64_t b, int64_t hk, int64_t k0,
                           int64_t k1, int want) {
    const born_attention_args *a = j->a;
    memset(w->dk, 0, (size_t)((k1 - k0) * a->head_dim) * sizeof(float));
    memset(w->dv, 0, (size_t)((k1 - k0) * a->v_dim) * sizeof(float));
    for (int64_t h = hk * j->group; h < (hk + 1) * j->group; h++)
        for (int64_t i0 = 0; i0 < a->q_len; i0 += j->bq) {
            int64_t m = a->q_len - i0 < j->bq ? a->q_len - i0 : j->bq;
            /* skip a block whose queries see no key from k0 on (unless its dQ is wanted) */
            if (!(want & WANT_Q) && visible_keys(a, i0 + m) <= k0) continue;
            born_status st = bwd_block(j, w, b, h, hk, i0, m, k0, k1, want);
            if (st != BORN_OK) return st;
        }
    round_rows(row_of(j->dk, b, hk, k0), j->dk->strides[2], w->dk, k1 - k0, a->head_dim);
    round_rows(row_of(j->dv, b, hk, k0), j->dv->strides[2], w->dv, k1 - k0, a->v_dim);
    return BORN_OK;
}

/* One task per (batch, kv head): dQ of its heads' query blocks and its dK and dV whole. */
static void head_tasks(int64_t begin, int64_t end, void *ctx) {
    attn_job *j = ctx;
    const born_attention_args *a = j->a;
    bwd_bufs w;
    if (!bwd_bufs_get(j, a->kv_len, &w)) {
        fail(j, born_error(BORN_ERR_MEMORY, "attention backward: out of memory for a head's sums"));
        return;
    }
    for (int64_t t = begin; t < end; t++) {
        int64_t hk = t % a->kv_heads, b = t / a->kv_heads;
        born_status st = kv_rows(j, &w, b, hk, 0, a->kv_len, WANT_KV | WANT_Q);
        if (st != BORN_OK) {
            fail(j, st);
            return;
        }
    }
}

/* The split's first phase: one task per (batch, kv head, block of keys). */
static void key_block_tasks(int64_t begin, int64_t end, void *ctx) {
    attn_job *j = ctx;
    const born_attention_args *a = j->a;
    bwd_bufs w;
    if (!bwd_bufs_get(j, j->bk, &w)) {
        fail(j, born_error(BORN_ERR_MEMORY, "attention backward: out of memory for a key block"));
        return;
    }
    for (int64_t t = begin; t < end; t++) {
        int64_t kb = t % j->nkb, hk = t / j->nkb % a->kv_heads, b = t / j->nkb / a->kv_heads;
        int64_t k0 = kb * j->bk, k1 = k0 + j->bk < a->kv_len ? k0 + j->bk : a->kv_len;
        born_status st = kv_rows(j, &w, b, hk, k0, k1, WANT_KV);
        if (st != BORN_OK) {
            fail(j, st);
            return;
        }
    }
}

/* The split's second phase: one task per (batch, head, query block), its dQ. */
static void query_block_tasks(int64_t begin, int64_t end, void *ctx) {
    attn_job *j = ctx;
    const born_attention_args *a = j->a;
    bwd_bufs w;
    if (!bwd_bufs_get(j, a->kv_len, &w)) {
        fail(j,
             born_error(BORN_ERR_MEMORY, "attention backward: out of memory for a block's scores"));
        return;
    }
    for (int64_t t = begin; t < end; t++) {
        int64_t qb = t % j->nqb, h = t / j->nqb % a->q_heads, b = t / j->nqb / a->q_heads;
        int64_t i0 = qb * j->bq, m = a->q_len - i0 < j->bq ? a->q_len - i0 : j->bq;
        born_status st = bwd_block(j, &w, b, h, h / j->group, i0, m, 0, a->kv_len, WANT_Q);
        if (st != BORN_OK) {
            fail(j, st);
            return;
        }
    }
}

born_status attn_bf16_backward_amx(const born_strided *dq, const born_strided *dk,
                                   const born_strided *dv, const born_strided *grad_out,
                                   const born_strided *q, const born_strided *k,
                                   const born_strided *v, const born_strided *out,
                                   const born_strided *lse, const born_attention_args *args) {
    attn_job j;
    job_init(&j, args, q, k, v, out, lse);
    j.grad_out = grad_out;
    j.dq = dq;
    j.dk = dk;
    j.dv = dv;
    int64_t pairs = args->batch * args->kv_heads, threads = born_get_num_threads();
    if (pairs <= 0) return BORN_OK;
    if (pairs >= threads || args->kv_len <= 64) {
        born_parallel_for(pairs, 1, head_tasks, &j);
        return (born_status)atomic_load(&j.failed);
    }
    /* fewer (batch, kv head) pairs than threads: dK and dV by blocks of keys, then dQ by blocks
     * of queries, each recomputing its scores (the same products on the same tiles, so the same
     * bits as one task a pair) */
    int64_t want = (2 * threads + pairs - 1) / pairs;
    j.bk = round_up((args->kv_len + want - 1) / want, 64);
    j.nkb = (args->kv_len + j.bk - 1) / j.bk;
    born_parallel_for(pairs * j.nkb, 1, key_block_tasks, &j);
    if (atomic_load(&j.failed) == 0)
        born_parallel_for(args->batch * args->q_heads * j.nqb, 1, query_block_tasks, &j);
    return (born_status)atomic_load(&j.failed);
}
