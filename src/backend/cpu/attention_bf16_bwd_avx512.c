/* The backward of bf16 attention on the AMX tiles (attention_half.h has the contract; what it
 * shares with the forward is in attention_bf16_avx512.h), flash attention 2's order: keys outer,
 * so that a chunk of keys' f32 sums of dK and dV stay in L2 while every query block that sees
 * the chunk adds to them. For a chunk of up to BWD_CHUNK keys and a query block it recomputes
 * S^T = K Q^T and dP^T = V dO^T (keys x queries), then p = 2^(s scale log2 e - lse log2 e) and dS
 * = p (dP - Delta) scale, both rounded to bf16, and adds dV += P^T dO, dK += dS^T Q and dQ^T +=
 * K^T dS^T on the tiles straight into their f32 sums (Delta = rowsum(dO o O) per query).
 *
 * Scores are kept transposed so that P^T and dS^T, written as bf16 rows by the pass, are the left
 * operands of dV's and dK's products, and dS^T's pairs of keys (one vpermw of the two rows' 32
 * values) are the right operand of dQ^T's. The operands are packed once: a thread's K and V
 * rows and K^T's 32 x 32 blocks per (batch, kv head), kept across its tasks of the call; per
 * head, each query block's Q, dO and their transposes as pair panels, with Delta and lse.
 *
 * A task is one (batch, kv head) (its heads' dQ, its dK and dV whole); with fewer such pairs than
 * threads the work splits into key blocks (dK and dV) and then query blocks (dQ), each
 * recomputing its scores. Every element's sums are taken in the same order either way (dK and
 * dV: heads, then query blocks; dQ: chunks of keys, each a chain of tile products), so the
 * results do not depend on the thread count. Through cpu_gemm_bf16 calls with the query blocks
 * outer (as before 2026-12-03) the dK and dV sums of every key went through memory once per
 * query block, and each call packed its operands again. */
#include "backend/cpu/attention_bf16_avx512.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/scratch.h"
#include "backend/cpu/transpose_avx512.h"
#include "born/core.h"

/* keys a step: the chunk's scores, dP, P, dS and f32 sums together about 1.4 MB at heads of 128
 * and query blocks of 64 */
enum { BWD_CHUNK = 512 };

static _Thread_local kv_pack thread_pack;
static atomic_uint_fast64_t backward_calls;

/* The padded widths: head_dim (dp), v_dim (vp), keys (np), a query block (mp), and the row
 * strides of the f32 sums and score buffers, 64 bytes past a multiple of 4 KB's fractions so that
 * a tile's 16 rows do not share cache sets. */
typedef struct bwd_geom {
    int64_t dp, vp, np, mp;
    int64_t ld;            /* S^T and dP^T rows (f32), P^T and dS^T rows (bf16) are ld + 16 */
    int64_t ldk, ldv, ldq; /* dK, dV sums (f32), a query block's dQ^T sums (f32) */
} bwd_geom;

static bwd_geom geom_of(const attn_job *j) {
    const born_attention_args *a = j->a;
    bwd_geom g;
    g.dp = round_up(a->head_dim, TILE);
    g.vp = round_up(a->v_dim, TILE);
    g.np = round_up(a->kv_len, TILE);
    g.mp = round_up(j->bq, TILE);
    g.ld = g.mp + 16;
    g.ldk = g.dp + 16;
    g.ldv = g.vp + 16;
    g.ldq = g.mp + 16;
    return g;
}

/* ---- keys and values, per thread ------------------------------------------------------------- */

/* A thread's packed keys (CPU_SCRATCH_ATTN_KV): K and V as rows padded with zeros to dp and vp
 * (the left operands of S^T and dP^T), then K^T in 32 x 32 blocks, block (f, c) of features
 * [32 f, 32 f + 32) and keys [32 c, 32 c + 32) at kt + (f np / 32 + c) 1024 (dQ^T's left operand,
 * 64 bytes a row). */
typedef struct bwd_keys {
    uint16_t *k, *v, *kt;
} bwd_keys;

static bool keys_get(const bwd_geom *g, bwd_keys *kp) {
    size_t halves = (size_t)(g->np * (2 * g->dp + g->vp));
    kp->k = cpu_scratch(CPU_SCRATCH_ATTN_KV, halves * sizeof(uint16_t));
    if (!kp->k) return false;
    kp->v = kp->k + g->np * g->dp;
    kp->kt = kp->v + g->np * g->vp;
    return true;
}

/* Packs keys [from, to) (multiples of 32) of (b, hk) into kp. */
static void pack_keys(const attn_job *j, const bwd_geom *g, int64_t b, int64_t hk, int64_t from,
                      int64_t to, const bwd_keys *kp) {
    const born_attention_args *a = j->a;
    int64_t real = a->kv_len - from < to - from ? a->kv_len - from : to - from;
    copy_padded(kp->k + from * g->dp, g->dp, g->dp, row_of(j->k, b, hk, from), j->k->strides[2],
                j->k->strides[3], to - from, real, a->head_dim);
    copy_padded(kp->v + from * g->vp, g->vp, g->vp, row_of(j->v, b, hk, from), j->v->strides[2],
                j->v->strides[3], to - from, real, a->v_dim);
    for (int64_t c = from / TILE; c < to / TILE; c++)
        for (int64_t f = 0; f < g->dp / TILE; f++)
            cpu_gemm_bf16_pack_kmajor_avx512(kp->k + c * TILE * g->dp + f * TILE, g->dp,
                                             kp->kt + (f * (g->np / TILE) + c) * TILE * TILE);
}

/* Makes this thread's packed keys hold keys [0, need) of (b, hk) (need a multiple of 32). */
static void keys_ready(const attn_job *j, const bwd_geom *g, int64_t b, int64_t hk, int64_t need,
                       const bwd_keys *kp) {
    kv_pack *pk = &thread_pack;
    if (pk->call != j->call || pk->b != b || pk->hk != hk)
        *pk = (kv_pack){.call = j->call, .b = b, .hk = hk};
    if (need > pk->keys) {
        pack_keys(j, g, b, hk, pk->keys, need, kp);
        pk->keys = need;
    }
}

/* ---- queries, per head ----------------------------------------------------------------------- */

/* One query block's operands: Q^T's and dO^T's pair panels (the right operands of S^T and dP^T;
 * dp / 32 and vp / 32 steps of 512 words a panel of 32 queries), Q's and dO's (of dK's and dV's
 * products; mp / 32 steps a panel of 32 features), lse log2 e and Delta per query, and the f32
 * sums of dQ^T (dp rows of ldq). */
typedef struct bwd_queries {
    uint32_t *qt, *dot, *q, *dop;
    float *l2, *delta, *dqt;
} bwd_queries;

static size_t queries_bytes(const bwd_geom *g) {
    return (size_t)(g->mp * (g->dp + g->vp)) * sizeof(uint32_t) +
           (size_t)(2 * g->mp + g->dp * g->ldq) * sizeof(float);
}

/* Query block `index`'s operands in a buffer of blocks of queries_bytes. */
static bwd_queries queries_at(const bwd_geom *g, void *base, int64_t index) {
    bwd_queries q;
    q.qt = (uint32_t *)((char *)base + (size_t)index * queries_bytes(g));
    q.q = q.qt + g->mp * g->dp / 2;
    q.dot = q.q + g->mp * g->dp / 2;
    q.dop = q.dot + g->mp * g->vp / 2;
    q.l2 = (float *)(q.dop + g->mp * g->vp / 2);
    q.delta = q.l2 + g->mp;
    q.dqt = q.delta + g->mp;
    return q;
}

/* Lays out the operands of query block qb of head h of batch b into q; rows (mp x (dp + vp)
 * halves) is room for the block's Q and dO rows. */
static void prepare_queries(const attn_job *j, const bwd_geom *g, int64_t b, int64_t h, int64_t qb,
                            const bwd_queries *q, uint16_t *rows) {
    const born_attention_args *a = j->a;
    int64_t i0 = qb * j->bq, m = block_rows(j, i0);
    uint16_t *qr = rows, *dor = rows + g->mp * g->dp;
    const uint16_t *dout = row_of(j->grad_out, b, h, i0), *o = row_of(j->out, b, h, i0);
    copy_padded(qr, g->dp, g->dp, row_of(j->q, b, h, i0), j->q->strides[2], j->q->strides[3], g->mp,
                m, a->head_dim);
    copy_padded(dor, g->vp, g->vp, dout, j->grad_out->strides[2], 1, g->mp, m, a->v_dim);
    for (int64_t t = 0; t < g->mp / TILE; t++) {
        cpu_gemm_bf16_pack_b_wrows_avx512(g->dp / 2, qr + t * TILE * g->dp, g->dp,
                                          q->qt + t * g->dp * 16);
        cpu_gemm_bf16_pack_b_wrows_avx512(g->vp / 2, dor + t * TILE * g->vp, g->vp,
                                          q->dot + t * g->vp * 16);
    }
    cpu_gemm_bf16_pack_panels(qr, g->dp, 1, g->mp, g->dp, 0, g->mp / 2, 0, g->dp / TILE, q->q,
                              g->mp * 16);
    cpu_gemm_bf16_pack_panels(dor, g->vp, 1, g->mp, g->vp, 0, g->mp / 2, 0, g->vp / TILE, q->dop,
                              g->mp * 16);
    const float *lse = j->lse + (b * a->q_heads + h) * a->q_len + i0;
    for (int64_t r = 0; r < g->mp; r++) {
        bool in = r < m;
        q->l2[r] = in ? lse[r] * (float)LOG2E : 0.0f;
        q->delta[r] =
            in ? dot_bf16(dout + r * j->grad_out->strides[2], o + r * j->out->strides[2], a->v_dim)
               : 0.0f;
    }
}

/* ---- a chunk of keys against a query block --------------------------------------------------- */

/* A task's buffers for one chunk: S^T and dP^T (f32), P^T and dS^T (bf16 rows), dS^T's pairs of
 * keys (panels of 32 queries, BWD_CHUNK / 32 steps each). */
typedef struct bwd_chunk_bufs {
    float *st, *dpt;
    uint16_t *pt, *dst;
    uint32_t *dsp;
} bwd_chunk_bufs;

static size_t chunk_bytes(const bwd_geom *g) {
    return (size_t)(2 * BWD_CHUNK * g->ld) * sizeof(float) +
           (size_t)(2 * BWD_CHUNK * (g->ld + 16)) * sizeof(uint16_t) +
           (size_t)(g->mp * BWD_CHUNK / 2) * sizeof(uint32_t);
}

static bwd_chunk_bufs chunk_at(const bwd_geom *g, void *base) {
    bwd_chunk_bufs w;
    w.st = base;
    w.dpt = w.st + BWD_CHUNK * g->ld;
    w.pt = (uint16_t *)(w.dpt + BWD_CHUNK * g->ld);
    w.dst = w.pt + BWD_CHUNK * (g->ld + 16);
    w.dsp = (uint32_t *)(w.dst + BWD_CHUNK * (g->ld + 16));
    return w;
}

/* The visible-key counts of queries [q0, q0 + 16) of a block of m from query i0, less c0 (at
 * least 0; 0 for lanes past the block), as 16 int32 lanes. */
static __m512i limits(const born_attention_args *a, int64_t i0, int64_t q0, int64_t m, int64_t c0) {
    _Alignas(64) int32_t lim[16];
    for (int l = 0; l < 16; l++) {
        int64_t n = q0 + l < m ? visible_keys(a, i0 + q0 + l + 1) - c0 : 0;
        lim[l] = (int32_t)(n < 0 ? 0 : n);
    }
    return _mm512_load_si512(lim);
}

/* The lanes of lim above key j. */
static inline __mmask16 sees(__m512i lim, int64_t j) {
    return _mm512_cmpgt_epi32_mask(lim, _mm512_set1_epi32((int32_t)j));
}

/* 16 queries' column of the chunk, two keys a step over keys [0, n32): p and dS rounded into
 * their rows of P^T and dS^T (pt, dst: rows ldp apart) and dS's pairs into dsp (the 16 queries'
 * words of a panel, 32 words a pair, 512 a step of 32 keys); zero where a query does not see the
 * key (lane l sees lim[l] keys). */
__attribute__((target("avx512bf16"))) static void
dscores_cols(const float *st, const float *dpt, int64_t ld, int64_t n32, __m512i lim, float c1,
             float scale, __m512 l2, __m512 delta, uint16_t *pt, uint16_t *dst, int64_t ldp,
             uint32_t *dsp) {
    const __m512 vc = v16_set1(c1), vs = v16_set1(scale);
    /* word q of the pairs: key j's value for query q low, key j + 1's high */
    const __m512i pairs =
        _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int64_t j = 0; j < n32; j += 2) {
        __mmask16 a0 = sees(lim, j), a1 = sees(lim, j + 1);
        __m512 p0 =
            _mm512_maskz_mov_ps(a0, exp2_neg(_mm512_fmsub_ps(_mm512_load_ps(st + j * ld), vc, l2)));
        __m512 p1 = _mm512_maskz_mov_ps(
            a1, exp2_neg(_mm512_fmsub_ps(_mm512_load_ps(st + (j + 1) * ld), vc, l2)));
        __m512 d0 = _mm512_maskz_mul_ps(
            a0, _mm512_mul_ps(p0, _mm512_sub_ps(_mm512_load_ps(dpt + j * ld), delta)), vs);
        __m512 d1 = _mm512_maskz_mul_ps(
            a1, _mm512_mul_ps(p1, _mm512_sub_ps(_mm512_load_ps(dpt + (j + 1) * ld), delta)), vs);
        __m512i pp = (__m512i)_mm512_cvtne2ps_pbh(p1, p0),
                dd = (__m512i)_mm512_cvtne2ps_pbh(d1, d0);
        _mm256_storeu_si256((__m256i *)(pt + j * ldp), _mm512_castsi512_si256(pp));
        _mm256_storeu_si256((__m256i *)(pt + (j + 1) * ldp), _mm512_extracti64x4_epi64(pp, 1));
        _mm256_storeu_si256((__m256i *)(dst + j * ldp), _mm512_castsi512_si256(dd));
        _mm256_storeu_si256((__m256i *)(dst + (j + 1) * ldp), _mm512_extracti64x4_epi64(dd, 1));
        _mm512_storeu_si512(dsp + j / TILE * 512 + j % TILE / 2 * TILE,
                            _mm512_permutexvar_epi16(pairs, dd));
    }
}

enum { WANT_KV = 1, WANT_Q = 2 };

/* Keys [c0, c0 + ck) (ck <= BWD_CHUNK) against query block qb (from i0, m queries): with WANT_KV
 * P^T dO and dS^T Q added into dv and dk (the chunk's sums: row 0 is key c0), with WANT_Q K^T dS^T
 * into the block's dQ^T sums (started at c0 = 0). */
static void chunk_block(const attn_job *j, const bwd_geom *g, const bwd_keys *kp,
                        const bwd_chunk_bufs *w, const bwd_queries *q, int64_t i0, int64_t m,
                        int64_t c0, int64_t ck, float *dk, float *dv, int want) {
    const born_attention_args *a = j->a;
    int64_t seen = visible_keys(a, i0 + m) - c0;
    int64_t n = seen < ck ? seen : ck, n32 = round_up(n, TILE), ldp = g->ld + 16;
    if (n <= 0) return;
    int64_t qpanels = g->mp / TILE;
    for (int64_t kb = 0; kb < n32; kb += TILE) /* S^T = K Q^T, dP^T = V dO^T */
        for (int64_t t = 0; t < qpanels; t++) {
            cpu_amx_block32(g->dp / TILE, kp->k + (c0 + kb) * g->dp, g->dp * 2, TILE * 2,
                            q->qt + t * g->dp * 16, w->st + kb * g->ld + t * TILE, g->ld, false);
            cpu_amx_block32(g->vp / TILE, kp->v + (c0 + kb) * g->vp, g->vp * 2, TILE * 2,
                            q->dot + t * g->vp * 16, w->dpt + kb * g->ld + t * TILE, g->ld, false);
        }
    float c1 = (float)(a->scale * LOG2E);
    for (int64_t q0 = 0; q0 < g->mp; q0 += 16)
        dscores_cols(w->st + q0, w->dpt + q0, g->ld, n32, limits(a, i0, q0, m, c0), c1,
                     (float)a->scale, _mm512_loadu_ps(q->l2 + q0), _mm512_loadu_ps(q->delta + q0),
                     w->pt + q0, w->dst + q0, ldp,
                     w->dsp + q0 / TILE * (BWD_CHUNK / TILE) * 512 + q0 % TILE);
    if (want & WANT_KV)
        for (int64_t kb = 0; kb < n32; kb += TILE) {
            for (int64_t t = 0; t < g->vp / TILE; t++)
                cpu_amx_block32(qpanels, w->pt + kb * ldp, ldp * 2, TILE * 2,
                                q->dop + t * g->mp * 16, dv + kb * g->ldv + t * TILE, g->ldv, true);
            for (int64_t t = 0; t < g->dp / TILE; t++)
                cpu_amx_block32(qpanels, w->dst + kb * ldp, ldp * 2, TILE * 2,
                                q->q + t * g->mp * 16, dk + kb * g->ldk + t * TILE, g->ldk, true);
        }
    if (want & WANT_Q)
        for (int64_t f = 0; f < g->dp / TILE; f++)
            for (int64_t t = 0; t < qpanels; t++)
                cpu_amx_block32(n32 / TILE, kp->kt + (f * (g->np / TILE) + c0 / TILE) * TILE * TILE,
                                TILE * 2, TILE * TILE * 2, w->dsp + t * (BWD_CHUNK / TILE) * 512,
                                q->dqt + f * TILE * g->ldq + t * TILE, g->ldq, c0 > 0);
}

/* dQ's rows of query block qb of head h of batch b from its dQ^T sums, rounded (zero where the
 * block sees no key: its sums were never started). */
static void store_dq(const attn_job *j, const bwd_geom *g, int64_t b, int64_t h, int64_t qb,
                     const bwd_queries *q) {
    const born_attention_args *a = j->a;
    int64_t i0 = qb * j->bq, m = block_rows(j, i0);
    uint16_t *dq = row_of(j->dq, b, h, i0);
    int64_t rs = j->dq->strides[2];
    if (visible_keys(a, i0 + m) <= 0) {
        zero_rows(dq, rs, m, a->head_dim);
        return;
    }
    for (int64_t r0 = 0; r0 < m; r0 += 16)
        for (int64_t f0 = 0; f0 < a->head_dim; f0 += 16) {
            __m512i x[16];
            for (int i = 0; i < 16; i++)
                x[i] = _mm512_loadu_si512(q->dqt + (f0 + i) * g->ldq + r0);
            avx512_transpose16_epi32(x); /* x[i]: query r0 + i, features f0.. */
            __mmask16 k = v16_mask(a->head_dim - f0);
            for (int64_t i = 0; i < 16 && r0 + i < m; i++)
                store_bf16(dq + (r0 + i) * rs + f0, k, _mm512_castsi512_ps(x[i]));
        }
}

/* ---- tasks ----------------------------------------------------------------------------------- */

/* dK and dV of keys [k0, k1) of kv head hk of batch b over every query block of its heads that
 * sees them, rounded into dk and dv; with WANT_Q (k0 = 0, k1 = kv_len) those blocks' dQ too.
 * sums: k1 - k0 rounded up to 32 rows of ldk and of ldv floats; qbuf: room for a head's query
 * blocks and one block's rows; w the chunk's buffers. */
static void kv_range(const attn_job *j, const bwd_geom *g, const bwd_keys *kp,
                     const bwd_chunk_bufs *w, float *sums, char *qbuf, int64_t b, int64_t hk,
                     int64_t k0, int64_t k1, int want) {
    const born_attention_args *a = j->a;
    int64_t keys = round_up(k1 - k0, TILE); /* a chunk's last tile runs on to a multiple of 32 */
    float *dk = sums, *dv = sums + keys * g->ldk;
    memset(sums, 0, (size_t)(keys * (g->ldk + g->ldv)) * sizeof *sums);
    uint16_t *rows = (uint16_t *)(qbuf + (size_t)j->nqb * queries_bytes(g));
    keys_ready(j, g, b, hk, round_up(k1, TILE), kp);
    for (int64_t h = hk * j->group; h < (hk + 1) * j->group; h++) {
        /* the query blocks that see key k0 or later */
        int64_t first = 0;
        while (first < j->nqb) {
            int64_t i0 = first * j->bq, m = block_rows(j, i0);
            if ((want & WANT_Q) || visible_keys(a, i0 + m) > k0) break;
            first++;
        }
        for (int64_t qb = first; qb < j->nqb; qb++) {
            bwd_queries q = queries_at(g, qbuf, qb);
            prepare_queries(j, g, b, h, qb, &q, rows);
        }
        for (int64_t c0 = k0; c0 < k1; c0 += BWD_CHUNK) {
            int64_t ck = k1 - c0 < BWD_CHUNK ? k1 - c0 : BWD_CHUNK;
            for (int64_t qb = first; qb < j->nqb; qb++) {
                int64_t i0 = qb * j->bq, m = block_rows(j, i0);
                bwd_queries q = queries_at(g, qbuf, qb);
                chunk_block(j, g, kp, w, &q, i0, m, c0, ck, dk + (c0 - k0) * g->ldk,
                            dv + (c0 - k0) * g->ldv, want);
            }
        }
        if (want & WANT_Q)
            for (int64_t qb = 0; qb < j->nqb; qb++) {
                bwd_queries q = queries_at(g, qbuf, qb);
                store_dq(j, g, b, h, qb, &q);
            }
    }
    round_rows(row_of(j->dk, b, hk, k0), j->dk->strides[2], dk, g->ldk, k1 - k0, a->head_dim);
    round_rows(row_of(j->dv, b, hk, k0), j->dv->strides[2], dv, g->ldv, k1 - k0, a->v_dim);
}

/* A task's buffers: the packed keys, the chunk's, `keys` keys' sums and `blocks` query blocks. */
typedef struct bwd_task {
    bwd_geom g;
    bwd_keys kp;
    bwd_chunk_bufs w;
    float *sums;
    char *qbuf;
} bwd_task;

static bool task_get(attn_job *j, int64_t keys, int64_t blocks, bwd_task *t) {
    t->g = geom_of(j);
    const bwd_geom *g = &t->g;
    size_t sums = (size_t)(round_up(keys, TILE) * (g->ldk + g->ldv)) * sizeof(float);
    size_t rows = (size_t)(g->mp * (g->dp + g->vp)) * sizeof(uint16_t);
    size_t bytes = chunk_bytes(g) + sums + (size_t)blocks * queries_bytes(g) + rows;
    char *base = cpu_scratch(CPU_SCRATCH_ATTN_TASK, bytes);
    if (!base || !keys_get(g, &t->kp)) {
        fail(j, born_error(BORN_ERR_MEMORY, "attention backward: out of memory for a task's sums"));
        return false;
    }
    t->w = chunk_at(g, base);
    t->sums = (float *)(base + chunk_bytes(g));
    t->qbuf = (char *)t->sums + sums;
    return true;
}

/* One task per (batch, kv head): dQ of its heads' query blocks and its dK and dV whole. */
static void head_tasks(int64_t begin, int64_t end, void *ctx) {
    attn_job *j = ctx;
    const born_attention_args *a = j->a;
    bwd_task t;
    if (!task_get(j, a->kv_len, j->nqb, &t)) return;
    cpu_amx_tiles_begin();
    for (int64_t i = begin; i < end; i++)
        kv_range(j, &t.g, &t.kp, &t.w, t.sums, t.qbuf, i / a->kv_heads, i % a->kv_heads, 0,
                 a->kv_len, WANT_KV | WANT_Q);
    cpu_amx_tiles_end();
}

/* The split's first phase: one task per (batch, kv head, block of keys), its dK and dV. */
static void key_block_tasks(int64_t begin, int64_t end, void *ctx) {
    attn_job *j = ctx;
    const born_attention_args *a = j->a;
    bwd_task t;
    if (!task_get(j, j->bk, j->nqb, &t)) return;
    cpu_amx_tiles_begin();
    for (int64_t i = begin; i < end; i++) {
        int64_t kb = i % j->nkb, hk = i / j->nkb % a->kv_heads, b = i / j->nkb / a->kv_heads;
        int64_t k0 = kb * j->bk, k1 = k0 + j->bk < a->kv_len ? k0 + j->bk : a->kv_len;
        kv_range(j, &t.g, &t.kp, &t.w, t.sums, t.qbuf, b, hk, k0, k1, WANT_KV);
    }
    cpu_amx_tiles_end();
}

/* The split's second phase: one task per (batch, head, query block), its dQ. */
static void query_block_tasks(int64_t begin, int64_t end, void *ctx) {
    attn_job *j = ctx;
    const born_attention_args *a = j->a;
    bwd_task t;
    if (!task_get(j, 0, 1, &t)) return;
    const bwd_geom *g = &t.g;
    uint16_t *rows = (uint16_t *)(t.qbuf + queries_bytes(g));
    bwd_queries q = queries_at(g, t.qbuf, 0);
    cpu_amx_tiles_begin();
    for (int64_t i = begin; i < end; i++) {
        int64_t qb = i % j->nqb, h = i / j->nqb % a->q_heads, b = i / j->nqb / a->q_heads;
        int64_t i0 = qb * j->bq, m = block_rows(j, i0);
        int64_t seen = visible_keys(a, i0 + m);
        keys_ready(j, g, b, h / j->group, round_up(seen, TILE), &t.kp);
        prepare_queries(j, g, b, h, qb, &q, rows);
        for (int64_t c0 = 0; c0 < seen; c0 += BWD_CHUNK)
            chunk_block(j, g, &t.kp, &t.w, &q, i0, m, c0,
                        seen - c0 < BWD_CHUNK ? seen - c0 : BWD_CHUNK, NULL, NULL, WANT_Q);
        store_dq(j, g, b, h, qb, &q);
    }
    cpu_amx_tiles_end();
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
    j.call = atomic_fetch_add(&backward_calls, 1) + 1;
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
