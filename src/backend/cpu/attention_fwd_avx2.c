/* AVX2 + FMA flash-attention forward for f32 without a mask or dropout (causal, a KV offset and
 * GQA allowed): attention.c sends those cases here on CPUs that have AVX2 + FMA.
 *
 * One task owns block_q queries of one head. Their rows of Q, times scale log2(e), are packed
 * once as 16-query panels, Qp[panel][p][lane]. For each block of keys:
 *  - S^T (keys x queries) comes from a 6-key x 16-query register tile: each step over the head
 *    dimension loads 16 queries of Qp and broadcasts one value of each of 6 K rows (K is read
 *    in place). The causal limit is applied to the tile in registers (lanes compared with the
 *    limit, no branch per element), and the running maxima of the 16 queries are updated there.
 *  - The online softmax runs down the columns of S^T, 8 queries per vector: alpha =
 *    2^(m_old - m_new), P = 2^(S - m_new) in place, l = l alpha + the column sums.
 *  - O += P V from a 6-query x 16-column register tile that broadcasts 6 values of a P^T row
 *    and loads 16 values of a V row (V read in place); the tile's rows of O are scaled by alpha
 *    when they are loaded, so the rescale costs nothing extra.
 * Query blocks above the diagonal's reach are never visited; key blocks past it are skipped.
 * Queries that have seen no key (m = -inf: a negative KV offset) keep P = 0 and l = 0, and end
 * as out = 0, lse = -inf as in the generic kernel. */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/attention_kernels.h"
#include "backend/cpu/scratch.h"
#include "core/cpu_features.h"

#define AF_INLINE static inline __attribute__((always_inline))

/* 2^x for x <= 0 (x -inf gives 2^-126, which the callers mask where it matters), relative error
 * about 2e-8 before rounding; NaN stays NaN. */
AF_INLINE __m256 exp2_nonpos(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(-126.0f), x); /* NaN: the second operand, x */
    __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_sub_ps(x, n);
    __m256 p = _mm256_set1_ps(1.5337577497e-4f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3399861054e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.6185198054e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5503290147e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022646248e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9314718246e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* S^T rows [0, NR) (keys k, k + ks, ...) against one 16-query panel qp (d steps of 16 floats):
 * written to s (row stride lds), lanes whose index is below lim + r set to -inf in row r when
 * masked, and the panel's maxima mx[0..16) raised to the rows' values. */
/* The register tiles below name their accumulators (arrays of vectors are not always kept in
 * registers by GCC): ROWS(X) expands X(r) for the six rows, each guarded by r < NR. */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

AF_INLINE void s_tile(const int NR, const float *k, int64_t ks, const float *qp, int64_t d, float *s,
                      int64_t lds, float *mx, int64_t lim, int masked) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *k0 = k, *k1 = k + ks, *k2 = k + 2 * ks, *k3 = k + 3 * ks, *k4 = k + 4 * ks,
                *k5 = k + 5 * ks;
#pragma GCC unroll 4
    for (int64_t p = 0; p < d; p++) {
        __m256 b0 = _mm256_load_ps(qp + 16 * p), b1 = _mm256_load_ps(qp + 16 * p + 8), a;
#define S_FMA(r)                                                                                  \
        if (r < NR) {                                                                             \
            a = _mm256_broadcast_ss(k##r + p);                                                    \
            c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                            \
            c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);                                            \
        }
        ROWS(S_FMA)
#undef S_FMA
    }
    __m256 m0 = _mm256_loadu_ps(mx), m1 = _mm256_loadu_ps(mx + 8);
    const __m256i idx0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i idx1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
#define S_OUT(r)                                                                                  \
    if (r < NR) {                                                                                 \
        if (masked) {                                                                             \
            int64_t lr = lim + r < 0 ? 0 : (lim + r > 16 ? 16 : lim + r); /* int32 compare */     \
            __m256i t = _mm256_set1_epi32((int)lr);                                               \
            c##r##0 = _mm256_blendv_ps(c##r##0, ninf, _mm256_castsi256_ps(_mm256_cmpgt_epi32(t, idx0))); \
            c##r##1 = _mm256_blendv_ps(c##r##1, ninf, _mm256_castsi256_ps(_mm256_cmpgt_epi32(t, idx1))); \
        }                                                                                         \
        _mm256_storeu_ps(s + r * lds, c##r##0);                                                   \
        _mm256_storeu_ps(s + r * lds + 8, c##r##1);                                               \
        m0 = _mm256_max_ps(m0, c##r##0);                                                          \
        m1 = _mm256_max_ps(m1, c##r##1);                                                          \
    }
    ROWS(S_OUT)
#undef S_OUT
    _mm256_storeu_ps(mx, m0);
    _mm256_storeu_ps(mx + 8, m1);
}

static void s_tile_n(int nr, const float *k, int64_t ks, const float *qp, int64_t d, float *s,
                     int64_t lds, float *mx, int64_t lim, int masked) {
    switch (nr) {
    case 6: s_tile(6, k, ks, qp, d, s, lds, mx, lim, masked); break;
    case 5: s_tile(5, k, ks, qp, d, s, lds, mx, lim, masked); break;
    case 4: s_tile(4, k, ks, qp, d, s, lds, mx, lim, masked); break;
    case 3: s_tile(3, k, ks, qp, d, s, lds, mx, lim, masked); break;
    case 2: s_tile(2, k, ks, qp, d, s, lds, mx, lim, masked); break;
    default: s_tile(1, k, ks, qp, d, s, lds, mx, lim, masked); break;
    }
}

/* O rows [0, NR) (row stride ldo), NV vectors wide, = O alpha[r] + sum_j P^T[j][r] V[j] over n
 * keys; pt points at P^T[0][first query] (row stride ldp), v at V[0][first column]. */
AF_INLINE void pv_tile(const int NR, const int NV, const float *pt, int64_t ldp, const float *v,
                       int64_t vs, int64_t n, float *o, int64_t ldo, const float *alpha) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
#define PV_IN(r)                                                                                  \
    if (r < NR) {                                                                                 \
        __m256 al = _mm256_broadcast_ss(alpha + r);                                               \
        c##r##0 = _mm256_mul_ps(_mm256_loadu_ps(o + r * ldo), al);                                \
        if (NV == 2) c##r##1 = _mm256_mul_ps(_mm256_loadu_ps(o + r * ldo + 8), al);               \
    }
    ROWS(PV_IN)
#undef PV_IN
#pragma GCC unroll 4
    for (int64_t j = 0; j < n; j++) {
        const float *pj = pt + j * ldp;
        __m256 b0 = _mm256_loadu_ps(v + j * vs), b1 = b0, a;
        if (NV == 2) b1 = _mm256_loadu_ps(v + j * vs + 8);
#define PV_FMA(r)                                                                                 \
        if (r < NR) {                                                                             \
            a = _mm256_broadcast_ss(pj + r);                                                      \
            c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                            \
            if (NV == 2) c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);                               \
        }
        ROWS(PV_FMA)
#undef PV_FMA
    }
#define PV_OUT(r)                                                                                 \
    if (r < NR) {                                                                                 \
        _mm256_storeu_ps(o + r * ldo, c##r##0);                                                   \
        if (NV == 2) _mm256_storeu_ps(o + r * ldo + 8, c##r##1);                                  \
    }
    ROWS(PV_OUT)
#undef PV_OUT
}

#define PV_CASES(NV)                                                                              \
    switch (nr) {                                                                                 \
    case 6: pv_tile(6, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                              \
    case 5: pv_tile(5, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                              \
    case 4: pv_tile(4, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                              \
    case 3: pv_tile(3, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                              \
    case 2: pv_tile(2, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                              \
    default: pv_tile(1, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                             \
    }

static void pv_tile_n(int nr, int nv, const float *pt, int64_t ldp, const float *v, int64_t vs,
                      int64_t n, float *o, int64_t ldo, const float *alpha) {
    if (nv == 2) {
        PV_CASES(2)
    } else {
        PV_CASES(1)
    }
}

/* The online-softmax step for 8 queries whose scores lie in column vectors s[j * lds] (n rows):
 * P in place, alpha and the new running sum; m_new is the maximum over the old one and S. */
static void softmax_cols(float *s, int64_t lds, int64_t n, float *m_old, const float *m_new, float *l,
                         float *alpha) {
    __m256 mn = _mm256_loadu_ps(m_new), mo = _mm256_loadu_ps(m_old);
    __m256 dead = _mm256_cmp_ps(mn, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ); /* nothing seen yet */
    __m256 al = _mm256_andnot_ps(dead, exp2_nonpos(_mm256_sub_ps(mo, mn)));
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
        __m256 p0 = _mm256_andnot_ps(dead, exp2_nonpos(_mm256_sub_ps(_mm256_loadu_ps(s + j * lds), mn)));
        __m256 p1 =
            _mm256_andnot_ps(dead, exp2_nonpos(_mm256_sub_ps(_mm256_loadu_ps(s + (j + 1) * lds), mn)));
        _mm256_storeu_ps(s + j * lds, p0);
        _mm256_storeu_ps(s + (j + 1) * lds, p1);
        s0 = _mm256_add_ps(s0, p0);
        s1 = _mm256_add_ps(s1, p1);
    }
    if (j < n) {
        __m256 p0 = _mm256_andnot_ps(dead, exp2_nonpos(_mm256_sub_ps(_mm256_loadu_ps(s + j * lds), mn)));
        _mm256_storeu_ps(s + j * lds, p0);
        s0 = _mm256_add_ps(s0, p0);
    }
    _mm256_storeu_ps(l, _mm256_fmadd_ps(_mm256_loadu_ps(l), al, _mm256_add_ps(s0, s1)));
    _mm256_storeu_ps(alpha, al);
    _mm256_storeu_ps(m_old, mn);
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The scratch of one task, 32-byte aligned pieces (sizes in floats, multiples of 8). */
typedef struct {
    float *qp, *st, *vp, *acc, *m_old, *m_new, *l, *alpha;
    void *block;
} fwd_scratch;

static bool scratch_new(fwd_scratch *w, int64_t bqp, int64_t ldp, int64_t bkv, int64_t d, int64_t ev) {
    int64_t evp = (ev + 15) / 16 * 16;
    size_t n_qp = (size_t)(bqp * d), n_st = (size_t)(bkv * ldp), n_vp = (size_t)(bkv * evp),
           n_acc = (size_t)(bqp * ev), n_row = (size_t)bqp;
    size_t bytes = sizeof(float) * (n_qp + n_st + n_vp + n_acc + 4 * n_row);
    w->block = cpu_scratch(CPU_SCRATCH_ATTN_TASK, bytes);
    if (!w->block) return false;
    float *f = w->block;
    w->qp = f;
    w->st = w->qp + n_qp;
    w->vp = w->st + n_st;
    w->acc = w->vp + n_vp;
    w->m_old = w->acc + n_acc;
    w->m_new = w->m_old + n_row;
    w->l = w->m_new + n_row;
    w->alpha = w->l + n_row;
    return true;
}

static void fwd_task(int64_t begin, int64_t end, void *vjob) {
    attn_fwd_f32_job *jb = vjob;
    const born_attention_args *a = jb->a;
    int64_t bq = jb->bq, bkv = jb->bkv, d = a->head_dim, ev = a->v_dim;
    int64_t bqp = (bq + 15) / 16 * 16;
    fwd_scratch w;
    /* the rows of S^T lie ldp floats apart: 8 more than the panels need, so that the column
     * reads of the PV tile do not fall into a few L1 sets */
    if (!scratch_new(&w, bqp, bqp + 8, bkv, d, ev)) {
        jb->failed = true;
        return;
    }
    int64_t nqb = (a->q_len + bq - 1) / bq, group = a->q_heads / a->kv_heads;
    const bool wide = cpu_get_level() >= CPU_LEVEL_AVX512; /* the AVX-512 tiles */
    const float qscale = (float)(a->scale * 1.4426950408889634);
    for (int64_t t = begin; t < end; t++) {
        int64_t qb = t % nqb, bh = t / nqb, h = bh % a->q_heads, b = bh / a->q_heads, hk = h / group;
        int64_t i0 = qb * bq, m = min64(a->q_len - i0, bq), mp = (m + 15) / 16 * 16, ldp = mp + 8;
        /* Q panels, scaled; zero in the lanes past m */
        const float *q = jb->q + b * jb->q_s[0] + h * jb->q_s[1] + i0 * jb->q_s[2];
        for (int64_t pi = 0; pi < mp / 16; pi++)
            for (int64_t p = 0; p < d; p++)
                for (int64_t x = 0; x < 16; x++) {
                    int64_t i = 16 * pi + x;
                    w.qp[(pi * d + p) * 16 + x] = i < m ? q[i * jb->q_s[2] + p * jb->q_s[3]] * qscale : 0;
                }
        for (int64_t i = 0; i < mp; i++) {
            w.m_old[i] = w.m_new[i] = -INFINITY;
            w.l[i] = 0;
        }
        memset(w.acc, 0, sizeof(float) * (size_t)(bqp * ev));
        const float *k = jb->k + b * jb->k_s[0] + hk * jb->k_s[1];
        const float *v = jb->v + b * jb->v_s[0] + hk * jb->v_s[1];
        int64_t ks = jb->k_s[2], vs = jb->v_s[2];
        int64_t kend = a->kv_len;
        if (a->causal) {
            kend = a->kv_offset + i0 + m;
            kend = kend < 0 ? 0 : min64(kend, a->kv_len);
        }
        for (int64_t j0 = 0; j0 < kend; j0 += bkv) {
            int64_t n = min64(kend - j0, bkv);
            int masked = a->causal && j0 + n - 1 > a->kv_offset + i0;
            /* six keys at a time against every panel: each K row comes from memory once and
             * stays in L1 for the panels; the next six rows are prefetched meanwhile */
            for (int64_t g = 0; g < n; g += 6) {
                for (int64_t r = j0 + g + 6; r < min64(j0 + g + 12, kend); r++)
                    for (int64_t x = 0; x < d; x += 16) _mm_prefetch((const char *)(k + r * ks + x), _MM_HINT_T0);
                for (int64_t pi = 0; pi < mp / 16; pi += wide ? 2 : 1) {
                    int64_t lim = j0 + g - a->kv_offset - i0 - 16 * pi;
                    float *st = w.st + g * ldp + 16 * pi, *mx = w.m_new + 16 * pi;
                    if (wide) { /* two panels a tile where there are two */
                        bool two = pi + 1 < mp / 16;
                        attn_s_tile_f32_avx512((int)min64(6, n - g), k + (j0 + g) * ks, ks,
                                               w.qp + pi * d * 16, two ? w.qp + (pi + 1) * d * 16 : NULL,
                                               d, st, two ? st + 16 : st, ldp, mx, two ? mx + 16 : mx,
                                               lim, lim - 16, masked);
                    } else {
                        s_tile_n((int)min64(6, n - g), k + (j0 + g) * ks, ks, w.qp + pi * d * 16, d,
                                 st, ldp, mx, lim, masked);
                    }
                }
            }
            for (int64_t x = 0; x < mp; x += 8)
                softmax_cols(w.st + x, ldp, n, w.m_old + x, w.m_new + x, w.l + x, w.alpha + x);
            /* V's rows as 16-column panels, Vp[panel][j][16]: each PV tile then reads one
             * contiguous run instead of a column of rows ev floats apart */
            for (int64_t j = 0; j < n; j++) {
                const float *vr = v + (j0 + j) * vs;
                int64_t e0 = 0;
                for (; e0 + 16 <= ev; e0 += 16) {
                    float *dst = w.vp + (e0 / 16 * n + j) * 16;
                    _mm256_store_ps(dst, _mm256_loadu_ps(vr + e0));
                    _mm256_store_ps(dst + 8, _mm256_loadu_ps(vr + e0 + 8));
                }
                if (e0 < ev) _mm256_store_ps(w.vp + (e0 / 16 * n + j) * 16, _mm256_loadu_ps(vr + e0));
            }
            for (int64_t e0 = 0; e0 < ev && !wide; e0 += 16) {
                int nv = ev - e0 >= 16 ? 2 : 1;
                for (int64_t i = 0; i < m; i += 6)
                    pv_tile_n((int)min64(6, m - i), nv, w.st + i, ldp, w.vp + e0 / 16 * n * 16, 16, n,
                              w.acc + i * ev + e0, ev, w.alpha + i);
            }
            for (int64_t e0 = 0, cols; e0 < ev && wide; e0 += cols) { /* 32 columns a tile */
                cols = ev - e0 >= 32 ? 32 : ev - e0 >= 16 ? 16 : 8;
                const float *v0 = w.vp + e0 / 16 * n * 16, *v1 = cols == 32 ? v0 + n * 16 : v0;
                for (int64_t i = 0; i < m; i += 6)
                    attn_pv_tile_f32_avx512((int)min64(6, m - i), (int)cols, w.st + i, ldp, v0, v1, 16,
                                            n, w.acc + i * ev + e0, ev, w.alpha + i);
            }
        }
        float *out = jb->out + ((b * a->q_heads + h) * a->q_len + i0) * ev;
        float *lse = jb->lse + (b * a->q_heads + h) * a->q_len + i0;
        for (int64_t i = 0; i < m; i++) {
            float l = w.l[i], inv = l > 0 ? 1.0f / l : 0.0f;
            for (int64_t x = 0; x < ev; x++) out[i * ev + x] = w.acc[i * ev + x] * inv;
            lse[i] = l > 0 ? w.m_old[i] * 0.6931471805599453f + logf(l) : -INFINITY;
        }
    }
}

/* Q-like rows [0, m) (row stride rs, column stride cs, d columns) times f as 16-row panels
 * dst[panel][p][lane], zero past m. */
static void pack_panels(const float *src, int64_t rs, int64_t cs, int64_t m, int64_t d, float f,
                        float *dst) {
    int64_t mp = (m + 15) / 16 * 16;
    for (int64_t pi = 0; pi < mp / 16; pi++)
        for (int64_t p = 0; p < d; p++)
            for (int64_t x = 0; x < 16; x++) {
                int64_t i = 16 * pi + x;
                dst[(pi * d + p) * 16 + x] = i < m ? src[i * rs + p * cs] * f : 0;
            }
}

void attn_bwd_tile_f32_avx2(const attn_bwd_tile_f32 *t) {
    const born_attention_args *a = t->a;
    int64_t m = t->m, n = t->n, d = a->head_dim, ev = a->v_dim, mp = (m + 15) / 16 * 16, ldp = t->ldp;
    const float log2e = 1.4426950408889634f;
    pack_panels(t->q, t->q_rs, t->q_cs, m, d, (float)(a->scale * 1.4426950408889634), t->qp);
    pack_panels(t->dout, ev, 1, m, ev, 1.0f, t->dop);
    float *mx = t->dop + mp * ev; /* 16 floats the score tiles raise; not read here */
    for (int x = 0; x < 16; x++) mx[x] = -INFINITY;
    int masked = a->causal && t->j0 + n - 1 > a->kv_offset + t->i0;
    const bool wide = cpu_get_level() >= CPU_LEVEL_AVX512; /* the AVX-512 tiles */
    for (int64_t g = 0; g < n; g += 6)
        for (int64_t pi = 0; pi < mp / 16; pi += wide ? 2 : 1) {
            int nr = (int)min64(6, n - g);
            int64_t lim = t->j0 + g - a->kv_offset - t->i0 - 16 * pi;
            float *pt = t->pt + g * ldp + 16 * pi, *dst = t->dst + g * ldp + 16 * pi;
            if (wide) { /* two panels a tile where there are two */
                bool two = pi + 1 < mp / 16;
                attn_s_tile_f32_avx512(nr, t->k + g * t->ks, t->ks, t->qp + pi * d * 16,
                                       two ? t->qp + (pi + 1) * d * 16 : NULL, d, pt,
                                       two ? pt + 16 : pt, ldp, mx, mx, lim, lim - 16, masked);
                attn_s_tile_f32_avx512(nr, t->v + g * t->vs, t->vs, t->dop + pi * ev * 16,
                                       two ? t->dop + (pi + 1) * ev * 16 : NULL, ev, dst,
                                       two ? dst + 16 : dst, ldp, mx, mx, 0, 0, 0);
                continue;
            }
            s_tile_n(nr, t->k + g * t->ks, t->ks, t->qp + pi * d * 16, d, pt, ldp, mx, lim, masked);
            s_tile_n(nr, t->v + g * t->vs, t->vs, t->dop + pi * ev * 16, ev, dst, ldp, mx, 0, 0);
        }
    /* P = 2^(S log2(e) - lse log2(e)) (0 for queries that see no key), dS = P (dP - Delta) */
    for (int64_t x = 0; x < mp; x += 8) {
        __m256 lse = _mm256_setzero_ps(), delta = _mm256_setzero_ps();
        float lb[8], db[8];
        for (int y = 0; y < 8; y++) {
            lb[y] = x + y < m ? t->lse[x + y] : 0;
            db[y] = x + y < m ? t->delta[x + y] : 0;
        }
        lse = _mm256_loadu_ps(lb);
        delta = _mm256_loadu_ps(db);
        __m256 dead = _mm256_cmp_ps(lse, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ);
        __m256 l2 = _mm256_andnot_ps(dead, _mm256_mul_ps(lse, _mm256_set1_ps(log2e)));
        for (int64_t j = 0; j < n; j++) {
            float *pp = t->pt + j * ldp + x, *dp = t->dst + j * ldp + x;
            __m256 p = _mm256_andnot_ps(dead, exp2_nonpos(_mm256_sub_ps(_mm256_loadu_ps(pp), l2)));
            _mm256_storeu_ps(pp, p);
            _mm256_storeu_ps(dp, _mm256_mul_ps(p, _mm256_sub_ps(_mm256_loadu_ps(dp), delta)));
        }
    }
}

void attn_fwd_f32_avx2(attn_fwd_f32_job *jb) {
    const born_attention_args *a = jb->a;
    int64_t nqb = (a->q_len + jb->bq - 1) / jb->bq;
    born_parallel_for(a->batch * a->q_heads * nqb, 1, fwd_task, jb);
}
