/* The forward of bf16 attention on the AMX tiles (attention_half.h has the contract; what it
 * shares with the backward is in attention_bf16_avx512.h). A task is one block of bq queries of
 * one (batch, head): per chunk of 512 keys S = Q K^T in f32, each row's running maximum, P =
 * 2^((s - max) scale log2 e) rounded to bf16 as the row is written, and O += P V in f32 (O and
 * the row's sum rescaled where its maximum grows: flash attention's method); at the end O
 * divided by the sum as it is rounded, and lse. Each task's order is fixed, so the results do not
 * depend on the thread count.
 *
 * The operands are laid out for the tiles: Q's block rows as they lie (copied, zero past the rows
 * and head_dim), K^T and V as pair panels (32 keys, or 32 features, a panel), packed once per
 * (batch, kv head) by each thread that works on it and kept across its tasks (through
 * cpu_gemm_bf16 a query block of 64 had packed all of V and K again: 12% of the time at 4096
 * keys), and P in bf16 rows, the left operand of P V as the softmax writes it. Chunks of keys
 * keep a task's buffers in L2 whatever the keys; the 2^x is exp2_neg's 9 operations, and P's
 * rounding one vcvtne2ps2bf16 for 32 values: T = 4096, one thread, 28 -> 13 ms (head 64) against
 * the materialised transposed scores and cpu_gemm_bf16 calls of before (2-core Xeon,
 * 2026-12-03). */
#include "backend/cpu/attention_bf16_avx512.h"
#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/scratch.h"
#include "born/core.h"

/* keys a step of a task's softmax */
enum { KEY_CHUNK = 512 };

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
    copy_padded(w->qp, w->ldq, w->ldq, row_of(j->q, b, h, i0), j->q->strides[2], j->q->strides[3],
                w->rows, m, a->head_dim);
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
        int64_t m = block_rows(j, i0);
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
