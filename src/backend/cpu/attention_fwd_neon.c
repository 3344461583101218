/* arm64 NEON flash-attention forward for f32 without a mask or dropout (causal, a KV offset and
 * GQA allowed), and the backward's score tile: attention.c sends those cases here at
 * CPU_LEVEL_NEON. It is attention_fwd_avx2.c's method on 4-lane vectors, with register tiles
 * sized for NEON's 32 vector registers:
 *  - Q times scale log2(e) is packed once per task as 16-query panels, Qp[panel][p][lane].
 *  - S^T (keys x queries) comes from a 5-key x 16-query tile (the AVX2 tile has 6 keys, which
 *    with NEON's 4-lane vectors would need more than its 32 registers): each K row (read in
 *    place) is loaded 4 head-dimension steps at a time and used by lane (vfmaq_laneq_f32)
 *    against four vectors of Qp per step. The causal limit is applied in registers (lane
 *    indices compared with the limit) and the 16 queries' running maxima are raised there.
 *  - The online softmax runs down the columns of S^T, 8 queries at a time: alpha =
 *    2^(m_old - m_new), P = 2^(S - m_new) in place, l = l alpha + the column sums.
 *  - O += P V from a 5-query x 16-column tile: two loads of a P^T row give the 5 queries' values
 *    (used by lane), four loads a row of V packed as 16-column panels; O's rows are scaled by
 *    alpha as they are loaded.
 * Each accumulator sums its terms in the AVX2 tiles' order (one FMA per head-dimension step or
 * key, in order), with the same exp2 polynomial. Queries that see no key (a negative KV offset)
 * end as out = 0, lse = -inf, as in the generic kernel. v_dim must be a multiple of 4 (the last
 * PV tile is 4, 8 or 12 columns wide); the default 120-key blocks are whole S tiles. Compiled for
 * arm64 only. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/attention_kernels.h"
#include "backend/cpu/scratch.h"

#define AF_INLINE static inline __attribute__((always_inline))

/* 2^x for x <= 0 (x -inf gives 2^-126, which the callers mask where it matters), relative error
 * about 2e-8 before rounding; NaN stays NaN. exp2_nonpos of attention_fwd_avx2.c, operation for
 * operation (FMAX passes a NaN on as AVX's max does from its second operand). */
AF_INLINE float32x4_t exp2_nonpos(float32x4_t x) {
    x = vmaxq_f32(vdupq_n_f32(-126.0f), x);
    float32x4_t n = vrndnq_f32(x);
    float32x4_t f = vsubq_f32(x, n);
    float32x4_t p = vdupq_n_f32(1.5337577497e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3399861054e-3f), p, f);
    p = vfmaq_f32(vdupq_n_f32(9.6185198054e-3f), p, f);
    p = vfmaq_f32(vdupq_n_f32(5.5503290147e-2f), p, f);
    p = vfmaq_f32(vdupq_n_f32(2.4022646248e-1f), p, f);
    p = vfmaq_f32(vdupq_n_f32(6.9314718246e-1f), p, f);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, f);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

/* The register tiles are TILE_ROWS (5) rows of 16 lanes: 20 accumulators plus the operands fit
 * the 32 registers, where the AVX2 tiles' 6 rows would spill. They name their accumulators
 * (arrays of vectors are not always kept in registers by GCC): ROWS(X) expands X(r) for the five
 * rows, each guarded by r < NR. */
enum { TILE_ROWS = 5 };
#define ROWS(X) X(0) X(1) X(2) X(3) X(4)

/* S^T rows [0, NR) (keys k, k + ks, ...) against one 16-query panel qp (d steps of 16
 * floats): written to s (row stride lds), lanes whose index is below lim + r set to -inf in row r
 * when masked, and the panel's maxima mx[0..16) raised to the rows' values. Each K row is loaded
 * 4 head-dimension steps at a time and used by lane (5 K vectors, 4 Q vectors). */
AF_INLINE void s_tile(const int NR, const float *k, int64_t ks, const float *qp, int64_t d,
                      float *s, int64_t lds, float *mx, int64_t lim, int masked) {
    const float32x4_t z = vdupq_n_f32(0);
    float32x4_t c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z,
                c21 = z, c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z, c40 = z, c41 = z,
                c42 = z, c43 = z;
    const float *k0 = k, *k1 = NR > 1 ? k + ks : k, *k2 = NR > 2 ? k + 2 * ks : k,
                *k3 = NR > 3 ? k + 3 * ks : k, *k4 = NR > 4 ? k + 4 * ks : k;
    float32x4_t a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, b0, b1, b2, b3;
    /* one head-dimension step: Qp row qr against lane L of each key's vector */
#define S_FMA(r, L)                                                                                \
    if (r < NR) {                                                                                  \
        c##r##0 = vfmaq_laneq_f32(c##r##0, b0, a##r, L);                                           \
        c##r##1 = vfmaq_laneq_f32(c##r##1, b1, a##r, L);                                           \
        c##r##2 = vfmaq_laneq_f32(c##r##2, b2, a##r, L);                                           \
        c##r##3 = vfmaq_laneq_f32(c##r##3, b3, a##r, L);                                           \
    }
#define S_STEP(qr, L)                                                                              \
    b0 = vld1q_f32(qr);                                                                            \
    b1 = vld1q_f32(qr + 4);                                                                        \
    b2 = vld1q_f32(qr + 8);                                                                        \
    b3 = vld1q_f32(qr + 12);                                                                       \
    S_FMA(0, L) S_FMA(1, L) S_FMA(2, L) S_FMA(3, L) S_FMA(4, L)
#define S_LOAD4(r)                                                                                 \
    if (r < NR) a##r = vld1q_f32(k##r + p);
#define S_LOAD1(r)                                                                                 \
    if (r < NR) a##r = vld1q_dup_f32(k##r + p);
    int64_t p = 0;
    for (; p + 4 <= d; p += 4) {
        const float *qr = qp + 16 * p;
        ROWS(S_LOAD4)
        S_STEP(qr, 0)
        S_STEP(qr + 16, 1)
        S_STEP(qr + 32, 2)
        S_STEP(qr + 48, 3)
    }
    for (; p < d; p++) { /* the last d % 4 steps */
        ROWS(S_LOAD1)
        S_STEP(qp + 16 * p, 0)
    }
#undef S_FMA
#undef S_STEP
#undef S_LOAD4
#undef S_LOAD1
    float32x4_t m0 = vld1q_f32(mx), m1 = vld1q_f32(mx + 4), m2 = vld1q_f32(mx + 8),
                m3 = vld1q_f32(mx + 12);
    const int32x4_t idx0 = {0, 1, 2, 3}, idx1 = {4, 5, 6, 7}, idx2 = {8, 9, 10, 11},
                    idx3 = {12, 13, 14, 15};
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);
#define S_OUT(r)                                                                                   \
    if (r < NR) {                                                                                  \
        if (masked) {                                                                              \
            int64_t lr = lim + r < 0 ? 0 : (lim + r > 16 ? 16 : lim + r); /* int32 compare */      \
            int32x4_t t = vdupq_n_s32((int32_t)lr);                                                \
            c##r##0 = vbslq_f32(vcltq_s32(idx0, t), ninf, c##r##0);                                \
            c##r##1 = vbslq_f32(vcltq_s32(idx1, t), ninf, c##r##1);                                \
            c##r##2 = vbslq_f32(vcltq_s32(idx2, t), ninf, c##r##2);                                \
            c##r##3 = vbslq_f32(vcltq_s32(idx3, t), ninf, c##r##3);                                \
        }                                                                                          \
        vst1q_f32(s + r * lds, c##r##0);                                                           \
        vst1q_f32(s + r * lds + 4, c##r##1);                                                       \
        vst1q_f32(s + r * lds + 8, c##r##2);                                                       \
        vst1q_f32(s + r * lds + 12, c##r##3);                                                      \
        m0 = vmaxq_f32(m0, c##r##0);                                                               \
        m1 = vmaxq_f32(m1, c##r##1);                                                               \
        m2 = vmaxq_f32(m2, c##r##2);                                                               \
        m3 = vmaxq_f32(m3, c##r##3);                                                               \
    }
    ROWS(S_OUT)
#undef S_OUT
    vst1q_f32(mx, m0);
    vst1q_f32(mx + 4, m1);
    vst1q_f32(mx + 8, m2);
    vst1q_f32(mx + 12, m3);
}

static void s_tile_n(int nr, const float *k, int64_t ks, const float *qp, int64_t d, float *s,
                     int64_t lds, float *mx, int64_t lim, int masked) {
    switch (nr) {
    case 5: s_tile(5, k, ks, qp, d, s, lds, mx, lim, masked); break;
    case 4: s_tile(4, k, ks, qp, d, s, lds, mx, lim, masked); break;
    case 3: s_tile(3, k, ks, qp, d, s, lds, mx, lim, masked); break;
    case 2: s_tile(2, k, ks, qp, d, s, lds, mx, lim, masked); break;
    default: s_tile(1, k, ks, qp, d, s, lds, mx, lim, masked); break;
    }
}

/* O rows [0, NR) (row stride ldo), NV vectors of 4 columns wide, = O alpha[r] + sum_j P^T[j][r]
 * V[j] over n keys; pt points at P^T[0][first query] (row stride ldp), v at V[0][first column]
 * (row stride vs). P^T's values come from the loads of pt[0..4) and, for NR > 4, pt[4..8): up
 * to 3 columns past the tile's queries (4 V vectors, 2 P vectors), which lie inside the row of S^T
 * (its padding columns [mp, ldp) are zeroed by the caller). */
AF_INLINE void pv_tile(const int NR, const int NV, const float *pt, int64_t ldp, const float *v,
                       int64_t vs, int64_t n, float *o, int64_t ldo, const float *alpha) {
    const float32x4_t z = vdupq_n_f32(0);
    float32x4_t c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z, c20 = z,
                c21 = z, c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z, c40 = z, c41 = z,
                c42 = z, c43 = z;
#define PV_IN(r)                                                                                   \
    if (r < NR) {                                                                                  \
        float al = alpha[r];                                                                       \
        c##r##0 = vmulq_n_f32(vld1q_f32(o + r * ldo), al);                                         \
        if (NV > 1) c##r##1 = vmulq_n_f32(vld1q_f32(o + r * ldo + 4), al);                         \
        if (NV > 2) c##r##2 = vmulq_n_f32(vld1q_f32(o + r * ldo + 8), al);                         \
        if (NV > 3) c##r##3 = vmulq_n_f32(vld1q_f32(o + r * ldo + 12), al);                        \
    }
    ROWS(PV_IN)
#undef PV_IN
    /* query r's value: lane r of pa, or lane r - 4 of pb */
#define PV_A(r) (r < 4 ? pa : pb)
#define PV_L(r) ((r)&3)
#pragma GCC unroll 1
    for (int64_t j = 0; j < n; j++) {
        const float *pj = pt + j * ldp, *vj = v + j * vs;
        float32x4_t pa = vld1q_f32(pj), pb = pa;
        if (NR > 4) pb = vld1q_f32(pj + 4);
        float32x4_t b0 = vld1q_f32(vj), b1 = b0, b2 = b0, b3 = b0;
        if (NV > 1) b1 = vld1q_f32(vj + 4);
        if (NV > 2) b2 = vld1q_f32(vj + 8);
        if (NV > 3) b3 = vld1q_f32(vj + 12);
#define PV_FMA(r)                                                                                  \
    if (r < NR) {                                                                                  \
        c##r##0 = vfmaq_laneq_f32(c##r##0, b0, PV_A(r), PV_L(r));                                  \
        if (NV > 1) c##r##1 = vfmaq_laneq_f32(c##r##1, b1, PV_A(r), PV_L(r));                      \
        if (NV > 2) c##r##2 = vfmaq_laneq_f32(c##r##2, b2, PV_A(r), PV_L(r));                      \
        if (NV > 3) c##r##3 = vfmaq_laneq_f32(c##r##3, b3, PV_A(r), PV_L(r));                      \
    }
        ROWS(PV_FMA)
#undef PV_FMA
    }
#undef PV_A
#undef PV_L
#define PV_OUT(r)                                                                                  \
    if (r < NR) {                                                                                  \
        vst1q_f32(o + r * ldo, c##r##0);                                                           \
        if (NV > 1) vst1q_f32(o + r * ldo + 4, c##r##1);                                           \
        if (NV > 2) vst1q_f32(o + r * ldo + 8, c##r##2);                                           \
        if (NV > 3) vst1q_f32(o + r * ldo + 12, c##r##3);                                          \
    }
    ROWS(PV_OUT)
#undef PV_OUT
}

#define PV_CASES(NV)                                                                               \
    switch (nr) {                                                                                  \
    case 5: pv_tile(5, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                               \
    case 4: pv_tile(4, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                               \
    case 3: pv_tile(3, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                               \
    case 2: pv_tile(2, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                               \
    default: pv_tile(1, NV, pt, ldp, v, vs, n, o, ldo, alpha); break;                              \
    }

static void pv_tile_n(int nr, int nv, const float *pt, int64_t ldp, const float *v, int64_t vs,
                      int64_t n, float *o, int64_t ldo, const float *alpha) {
    switch (nv) {
    case 4: PV_CASES(4) break;
    case 3: PV_CASES(3) break;
    case 2: PV_CASES(2) break;
    default: PV_CASES(1) break;
    }
}

/* The online-softmax step for 8 queries whose scores lie in column vectors s[j * lds] (n rows):
 * P in place, alpha and the new running sum; m_new is the maximum over the old one and S.
 * Queries whose m_new is -inf (nothing seen yet) get P = 0 and alpha = 0. */
static void softmax_cols(float *s, int64_t lds, int64_t n, float *m_old, const float *m_new,
                         float *l, float *alpha) {
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);
    float32x4_t mn0 = vld1q_f32(m_new), mn1 = vld1q_f32(m_new + 4);
    uint32x4_t live0 = vmvnq_u32(vceqq_f32(mn0, ninf)), live1 = vmvnq_u32(vceqq_f32(mn1, ninf));
    float32x4_t al0 = vreinterpretq_f32_u32(
        vandq_u32(live0, vreinterpretq_u32_f32(exp2_nonpos(vsubq_f32(vld1q_f32(m_old), mn0)))));
    float32x4_t al1 = vreinterpretq_f32_u32(
        vandq_u32(live1, vreinterpretq_u32_f32(exp2_nonpos(vsubq_f32(vld1q_f32(m_old + 4), mn1)))));
    float32x4_t s00 = vdupq_n_f32(0), s01 = s00, s10 = s00, s11 = s00;
#define SM_P(dst, src, mn, live)                                                                   \
    dst = vreinterpretq_f32_u32(                                                                   \
        vandq_u32(live, vreinterpretq_u32_f32(exp2_nonpos(vsubq_f32(vld1q_f32(src), mn)))))
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
        float *r0 = s + j * lds, *r1 = r0 + lds;
        float32x4_t p00, p01, p10, p11;
        SM_P(p00, r0, mn0, live0);
        SM_P(p01, r0 + 4, mn1, live1);
        SM_P(p10, r1, mn0, live0);
        SM_P(p11, r1 + 4, mn1, live1);
        vst1q_f32(r0, p00);
        vst1q_f32(r0 + 4, p01);
        vst1q_f32(r1, p10);
        vst1q_f32(r1 + 4, p11);
        s00 = vaddq_f32(s00, p00);
        s01 = vaddq_f32(s01, p01);
        s10 = vaddq_f32(s10, p10);
        s11 = vaddq_f32(s11, p11);
    }
    if (j < n) {
        float *r0 = s + j * lds;
        float32x4_t p00, p01;
        SM_P(p00, r0, mn0, live0);
        SM_P(p01, r0 + 4, mn1, live1);
        vst1q_f32(r0, p00);
        vst1q_f32(r0 + 4, p01);
        s00 = vaddq_f32(s00, p00);
        s01 = vaddq_f32(s01, p01);
    }
#undef SM_P
    vst1q_f32(l, vfmaq_f32(vaddq_f32(s00, s10), vld1q_f32(l), al0));
    vst1q_f32(l + 4, vfmaq_f32(vaddq_f32(s01, s11), vld1q_f32(l + 4), al1));
    vst1q_f32(alpha, al0);
    vst1q_f32(alpha + 4, al1);
    vst1q_f32(m_old, mn0);
    vst1q_f32(m_old + 4, mn1);
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The scratch of one task (sizes in floats, multiples of 4). */
typedef struct {
    float *qp, *st, *vp, *acc, *m_old, *m_new, *l, *alpha;
} fwd_scratch;

static bool scratch_new(fwd_scratch *w, int64_t bqp, int64_t ldp, int64_t bkv, int64_t d,
                        int64_t ev) {
    int64_t evp = (ev + 15) / 16 * 16;
    size_t n_qp = (size_t)(bqp * d), n_st = (size_t)(bkv * ldp), n_vp = (size_t)(bkv * evp),
           n_acc = (size_t)(bqp * ev), n_row = (size_t)bqp;
    float *f = cpu_scratch(CPU_SCRATCH_ATTN_TASK,
                           sizeof(float) * (n_qp + n_st + n_vp + n_acc + 4 * n_row));
    if (!f) return false;
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

/* Rows [0, m) of Q-like src (row stride rs, column stride cs, d columns) times f as 16-row panels
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
    const float qscale = (float)(a->scale * 1.4426950408889634);
    for (int64_t t = begin; t < end; t++) {
        int64_t qb = t % nqb, bh = t / nqb, h = bh % a->q_heads, b = bh / a->q_heads,
                hk = h / group;
        int64_t i0 = qb * bq, m = min64(a->q_len - i0, bq), mp = (m + 15) / 16 * 16, ldp = mp + 8;
        const float *q = jb->q + b * jb->q_s[0] + h * jb->q_s[1] + i0 * jb->q_s[2];
        pack_panels(q, jb->q_s[2], jb->q_s[3], m, d, qscale, w.qp);
        for (int64_t i = 0; i < mp; i++) {
            w.m_old[i] = w.m_new[i] = -INFINITY;
            w.l[i] = 0;
        }
        memset(w.acc, 0, sizeof(float) * (size_t)(m * ev));
        /* the columns [mp, ldp) of S^T, which the PV tile's loads may reach for its last
         * queries, hold zeros rather than stale bits */
        for (int64_t j = 0; j < bkv; j++)
            memset(w.st + j * ldp + mp, 0, 8 * sizeof(float));
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
            /* five keys at a time against every panel: each K row comes from memory once and
             * stays in L1 for the panels; the next five rows are prefetched meanwhile */
            for (int64_t g = 0; g < n; g += TILE_ROWS) {
                for (int64_t r = j0 + g + TILE_ROWS; r < min64(j0 + g + 2 * TILE_ROWS, kend); r++)
                    for (int64_t x = 0; x < d; x += 16)
                        __builtin_prefetch(k + r * ks + x, 0, 3);
                for (int64_t pi = 0; pi < mp / 16; pi++) {
                    int64_t lim = j0 + g - a->kv_offset - i0 - 16 * pi;
                    s_tile_n((int)min64(TILE_ROWS, n - g), k + (j0 + g) * ks, ks,
                             w.qp + pi * d * 16, d, w.st + g * ldp + 16 * pi, ldp,
                             w.m_new + 16 * pi, lim, masked);
                }
            }
            for (int64_t x = 0; x < mp; x += 8)
                softmax_cols(w.st + x, ldp, n, w.m_old + x, w.m_new + x, w.l + x, w.alpha + x);
            /* V's rows as 16-column panels, Vp[panel][j][16] (the last one 4, 8 or 12 wide):
             * each PV tile then reads one contiguous run instead of rows ev floats apart */
            for (int64_t j = 0; j < n; j++) {
                const float *vr = v + (j0 + j) * vs;
                for (int64_t e0 = 0; e0 < ev; e0 += 4)
                    vst1q_f32(w.vp + (e0 / 16 * n + j) * 16 + e0 % 16, vld1q_f32(vr + e0));
            }
            for (int64_t e0 = 0; e0 < ev; e0 += 16) {
                int nv = (int)min64(4, (ev - e0) / 4);
                for (int64_t i = 0; i < m; i += TILE_ROWS)
                    pv_tile_n((int)min64(TILE_ROWS, m - i), nv, w.st + i, ldp,
                              w.vp + e0 / 16 * n * 16, 16, n, w.acc + i * ev + e0, ev, w.alpha + i);
            }
        }
        float *out = jb->out + ((b * a->q_heads + h) * a->q_len + i0) * ev;
        float *lse = jb->lse + (b * a->q_heads + h) * a->q_len + i0;
        for (int64_t i = 0; i < m; i++) {
            float l = w.l[i], inv = l > 0 ? 1.0f / l : 0.0f;
            for (int64_t x = 0; x < ev; x++)
                out[i * ev + x] = w.acc[i * ev + x] * inv;
            lse[i] = l > 0 ? w.m_old[i] * 0.6931471805599453f + logf(l) : -INFINITY;
        }
    }
}

void attn_fwd_f32_neon(attn_fwd_f32_job *jb) {
    const born_attention_args *a = jb->a;
    int64_t nqb = (a->q_len + jb->bq - 1) / jb->bq;
    born_parallel_for(a->batch * a->q_heads * nqb, 1, fwd_task, jb);
}

void attn_bwd_tile_f32_neon(const attn_bwd_tile_f32 *t) {
    const born_attention_args *a = t->a;
    int64_t m = t->m, n = t->n, d = a->head_dim, ev = a->v_dim, mp = (m + 15) / 16 * 16,
            ldp = t->ldp;
    const float log2e = 1.4426950408889634f;
    pack_panels(t->q, t->q_rs, t->q_cs, m, d, (float)(a->scale * 1.4426950408889634), t->qp);
    pack_panels(t->dout, ev, 1, m, ev, 1.0f, t->dop);
    float *mx = t->dop + mp * ev; /* 16 floats the score tiles raise; not read here */
    for (int x = 0; x < 16; x++)
        mx[x] = -INFINITY;
    int masked = a->causal && t->j0 + n - 1 > a->kv_offset + t->i0;
    for (int64_t g = 0; g < n; g += TILE_ROWS)
        for (int64_t pi = 0; pi < mp / 16; pi++) {
            int nr = (int)min64(TILE_ROWS, n - g);
            int64_t lim = t->j0 + g - a->kv_offset - t->i0 - 16 * pi;
            s_tile_n(nr, t->k + g * t->ks, t->ks, t->qp + pi * d * 16, d, t->pt + g * ldp + 16 * pi,
                     ldp, mx, lim, masked);
            s_tile_n(nr, t->v + g * t->vs, t->vs, t->dop + pi * ev * 16, ev,
                     t->dst + g * ldp + 16 * pi, ldp, mx, 0, 0);
        }
    /* P = 2^(S log2(e) - lse log2(e)) (0 for queries that see no key), dS = P (dP - Delta) */
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);
    for (int64_t x = 0; x < mp; x += 4) {
        float lb[4], db[4];
        for (int y = 0; y < 4; y++) {
            lb[y] = x + y < m ? t->lse[x + y] : 0;
            db[y] = x + y < m ? t->delta[x + y] : 0;
        }
        float32x4_t lse = vld1q_f32(lb), delta = vld1q_f32(db);
        uint32x4_t live = vmvnq_u32(vceqq_f32(lse, ninf));
        float32x4_t l2 =
            vreinterpretq_f32_u32(vandq_u32(live, vreinterpretq_u32_f32(vmulq_n_f32(lse, log2e))));
        for (int64_t j = 0; j < n; j++) {
            float *pp = t->pt + j * ldp + x, *dp = t->dst + j * ldp + x;
            float32x4_t p = vreinterpretq_f32_u32(
                vandq_u32(live, vreinterpretq_u32_f32(exp2_nonpos(vsubq_f32(vld1q_f32(pp), l2)))));
            vst1q_f32(pp, p);
            vst1q_f32(dp, vmulq_f32(p, vsubq_f32(vld1q_f32(dp), delta)));
        }
    }
}
