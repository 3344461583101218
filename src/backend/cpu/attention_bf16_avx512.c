/* bf16 attention with its products on the AMX tiles (attention_half.h has the contract): the
 * five products of a query block go through cpu_gemm_bf16 (AMX where cpu_amx_enabled(), which
 * is where attention_half.c calls this), the passes between them (softmax, the probabilities'
 * and dS's rounding to bf16, dO's dot with O) run here on AVX-512.
 *
 * Scores are kept transposed, keys x queries: S^T = K Q^T is stored by the product's tiles in
 * place (S = Q K^T would go through transposes, which at k = head_dim cost more than the
 * product), the passes take 16 queries a vector down the keys, and P^T and dS^T are the
 * row-major left operands of dV's and dK's products.
 *
 * A forward task is one block of bq queries of one (batch, head): S^T over the keys the block
 * can see (causal: up to its last query's limit), per query its maximum, P = exp(x - max)
 * rounded to bf16 and the sum in f32 (lse kept), O = P V in f32 divided by the sum as it is
 * rounded. The block's scores are materialised (kv_len x bq floats, 2 MiB at 8192 keys), so no
 * running rescaling is needed. A backward task is one (batch, kv head): every head of its GQA
 * group and every query block recomputes P^T from lse, dP^T = V dO^T and dS^T = P^T (dP^T -
 * Delta) scale (rounded to bf16), writes dQ = dS K and adds P^T dO and dS^T Q into f32 sums of
 * dV and dK, rounded once at the end. Each task's order is fixed, so the results do not depend
 * on the thread count. */
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

/* Queries [q0, q0 + 16) of a block in the transposed scores st (key j's row at st + j ld, n keys,
 * lane l its query's key count lim[l]): e = exp(scale s - max) per query, rounded into P^T's
 * columns (pt, rows ldp apart; zero where a query does not see the key) unnormalised, as flash
 * attention's P; each query's lse into lse[0..16) and 1 / sum e (0 where it sees no key) into
 * inv, which the caller applies to P V's rows. */
static void softmax_cols(const float *st, int64_t ld, int64_t n, __m512i lim, float scale,
                         uint16_t *pt, int64_t ldp, float lse[16], float inv[16]) {
    /* the scale is positive, so the scaled scores' maximum is the scaled maximum */
    const __m512 vs = v16_set1(scale);
    __m512 raw = v16_set1(-INFINITY);
    for (int64_t j = 0; j < n; j++)
        raw = _mm512_mask_max_ps(raw, sees(lim, j), raw, _mm512_load_ps(st + j * ld));
    __m512 vmax = _mm512_mul_ps(raw, vs), sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j++) {
        __mmask16 act = sees(lim, j);
        __m512 x = _mm512_maskz_fmsub_ps(act, _mm512_load_ps(st + j * ld), vs, vmax);
        __m512 e = _mm512_maskz_mov_ps(act, v16_exp(x));
        store_bf16(pt + j * ldp, 0xffff, e);
        sum = _mm512_add_ps(sum, e);
    }
    __mmask16 some = _mm512_cmp_ps_mask(sum, _mm512_setzero_ps(), _CMP_GT_OQ);
    _mm512_store_ps(inv, _mm512_maskz_div_ps(some, v16_set1(1.0f), sum));
    _Alignas(64) float mx[16], sm[16];
    _mm512_store_ps(mx, vmax);
    _mm512_store_ps(sm, sum);
    for (int l = 0; l < 16; l++)
        lse[l] = sm[l] > 0 ? mx[l] + logf(sm[l]) : -INFINITY;
}

/* Row r < m of o (rows o_rs apart, n values) = f32 row r of src (n apart) times inv[r], rounded. */
static void scale_rows(uint16_t *o, int64_t o_rs, const float *src, const float *inv, int64_t m,
                       int64_t n) {
    for (int64_t r = 0; r < m; r++) {
        __m512 f = v16_set1(inv[r]);
        for (int64_t c = 0; c < n; c += 16) {
            __mmask16 k = v16_mask(n - c);
            store_bf16(o + r * o_rs + c, k,
                       _mm512_mul_ps(_mm512_maskz_loadu_ps(k, src + r * n + c), f));
        }
    }
}

/* The backward's columns (as softmax_cols): p = exp(scale s - lse) rounded into pt, and dS =
 * p (dP - delta) scale rounded into dst (dpt: dP^T, rows ld apart); zero where a query does not
 * see the key. */
static void dscores_cols(const float *st, const float *dpt, int64_t ld, int64_t n, __m512i lim,
                         float scale, __m512 lse, __m512 delta, uint16_t *pt, uint16_t *dst,
                         int64_t ldp) {
    const __m512 vs = v16_set1(scale);
    for (int64_t j = 0; j < n; j++) {
        __mmask16 act = sees(lim, j);
        __m512 x = _mm512_maskz_mov_ps(act, _mm512_fmsub_ps(_mm512_load_ps(st + j * ld), vs, lse));
        __m512 p = _mm512_maskz_mov_ps(act, v16_exp(x));
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
    atomic_int failed; /* a born_status other than BORN_OK, or 0 */
} attn_job;

static void fail(attn_job *j, born_status st) {
    int ok = 0;
    atomic_compare_exchange_strong(&j->failed, &ok, (int)st);
}

/* ---- forward ----------------------------------------------------------------------------- */

static void forward_tasks(int64_t begin, int64_t end, void *ctx) {
    attn_job *j = ctx;
    const born_attention_args *a = j->a;
    int64_t ld = round_up(j->bq, 16);
    size_t bytes = (size_t)(a->kv_len * ld + ld * a->v_dim + ld) * sizeof(float) +
                   (size_t)(a->kv_len * ld) * sizeof(uint16_t);
    float *st = cpu_scratch(CPU_SCRATCH_ATTN_TASK, bytes);
    if (!st) {
        fail(j, born_error(BORN_ERR_MEMORY, "attention: out of memory for a block's scores"));
        return;
    }
    float *ot = st + a->kv_len * ld, *inv = ot + ld * a->v_dim; /* P V in f32, 1 / sum e */
    uint16_t *pt = (uint16_t *)(inv + ld);
    float scale = (float)a->scale;
    for (int64_t t = begin; t < end; t++) {
        int64_t qb = t % j->nqb, h = t / j->nqb % a->q_heads, b = t / j->nqb / a->q_heads;
        int64_t hk = h / j->group, i0 = qb * j->bq;
        int64_t m = a->q_len - i0 < j->bq ? a->q_len - i0 : j->bq;
        int64_t n = visible_keys(a, i0 + m);
        float *lse = j->lse + (b * a->q_heads + h) * a->q_len + i0;
        uint16_t *o = row_of(j->out, b, h, i0);
        if (n == 0) { /* no row sees a key: zero rows, lse -inf */
            for (int64_t r = 0; r < m; r++)
                lse[r] = -INFINITY;
            zero_rows(o, j->out->strides[2], m, a->v_dim);
            continue;
        }
        /* S^T = K Q^T (keys x queries): the product stores its tiles in place, where S = Q K^T
         * (queries x keys) would be stored through transposes at k = head_dim */
        born_status status =
            tiles_f32(n, m, a->head_dim, row_of(j->k, b, hk, 0), j->k->strides[2], j->k->strides[3],
                      row_of(j->q, b, h, i0), j->q->strides[3], j->q->strides[2], st, ld);
        if (status != BORN_OK) {
            fail(j, status);
            return;
        }
        for (int64_t q0 = 0; q0 < m; q0 += 16) {
            _Alignas(64) float l16[16];
            softmax_cols(st + q0, ld, n, limits(a, i0, q0, m), scale, pt + q0, ld, l16, inv + q0);
            for (int64_t l = 0; l < 16 && q0 + l < m; l++)
                lse[q0 + l] = l16[l];
        }
        /* O = (P V) / sum e, P the transposed view of P^T */
        status = tiles_f32(m, a->v_dim, n, pt, 1, ld, row_of(j->v, b, hk, 0), j->v->strides[2],
                           j->v->strides[3], ot, a->v_dim);
        if (status != BORN_OK) {
            fail(j, status);
            return;
        }
        scale_rows(o, j->out->strides[2], ot, inv, m, a->v_dim);
    }
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
