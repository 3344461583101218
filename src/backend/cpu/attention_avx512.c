/* AVX-512 register tiles of the f32 flash attention (attention_fwd_avx2.c calls them at
 * CPU_LEVEL_AVX512; see attention_kernels.h for the contracts).
 *
 * The AVX2 tiles hold 16 queries (or 16 output columns) in two ymm per row. Here one zmm holds
 * them, and a tile takes two 16-lane panels at once: the score tile is 6 keys x 32 queries (12
 * accumulators; per step two loads of Q panels and six broadcasts of K), the PV tile 6 queries x
 * 32 columns of V (two panels). Every lane does the operations of the AVX2 tile in the same order
 * (fma over the head dimension from zero; o alpha, then fma over the keys), the causal mask and
 * the running maxima are applied the same way, so both levels give the same bits. */
#include <immintrin.h>
#include <math.h>

#include "backend/cpu/attention_kernels.h"

#define AT_INLINE static inline __attribute__((always_inline))
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* Lanes below lim (clamped to [0, 16]) of a 16-lane row. */
AT_INLINE __mmask16 below(int64_t lim) {
    int64_t l = lim < 0 ? 0 : (lim > 16 ? 16 : lim);
    return (__mmask16)((1u << l) - 1u);
}

AT_INLINE void s_tile2(const int NR, const int TWO, const float *k, int64_t ks, const float *qp0,
                       const float *qp1, int64_t d, float *s0, float *s1, int64_t lds, float *mx0,
                       float *mx1, int64_t lim0, int64_t lim1, int masked) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *k0 = k, *k1 = k + ks, *k2 = k + 2 * ks, *k3 = k + 3 * ks, *k4 = k + 4 * ks,
                *k5 = k + 5 * ks;
#pragma GCC unroll 4
    for (int64_t p = 0; p < d; p++) {
        __m512 b0 = _mm512_loadu_ps(qp0 + 16 * p), b1 = b0, a;
        if (TWO) b1 = _mm512_loadu_ps(qp1 + 16 * p);
#define S_FMA(r)                                                                                  \
        if (r < NR) {                                                                             \
            a = _mm512_set1_ps(k##r[p]);                                                          \
            c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                                            \
            if (TWO) c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);                                   \
        }
        ROWS(S_FMA)
#undef S_FMA
    }
    __m512 m0 = _mm512_loadu_ps(mx0), m1 = m0;
    if (TWO) m1 = _mm512_loadu_ps(mx1);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
#define S_OUT(r)                                                                                  \
    if (r < NR) {                                                                                 \
        if (masked) {                                                                             \
            c##r##0 = _mm512_mask_mov_ps(c##r##0, below(lim0 + r), ninf);                         \
            if (TWO) c##r##1 = _mm512_mask_mov_ps(c##r##1, below(lim1 + r), ninf);                \
        }                                                                                         \
        _mm512_storeu_ps(s0 + r * lds, c##r##0);                                                  \
        m0 = _mm512_max_ps(m0, c##r##0);                                                          \
        if (TWO) {                                                                                \
            _mm512_storeu_ps(s1 + r * lds, c##r##1);                                              \
            m1 = _mm512_max_ps(m1, c##r##1);                                                      \
        }                                                                                         \
    }
    ROWS(S_OUT)
#undef S_OUT
    if (TWO && mx1 == mx0) m0 = _mm512_max_ps(m0, m1); /* one shared row of maxima */
    _mm512_storeu_ps(mx0, m0);
    if (TWO && mx1 != mx0) _mm512_storeu_ps(mx1, m1);
}

#define S_CASES(TWO)                                                                              \
    switch (nr) {                                                                                 \
    case 6: s_tile2(6, TWO, k, ks, qp0, qp1, d, s0, s1, lds, mx0, mx1, lim0, lim1, masked); break; \
    case 5: s_tile2(5, TWO, k, ks, qp0, qp1, d, s0, s1, lds, mx0, mx1, lim0, lim1, masked); break; \
    case 4: s_tile2(4, TWO, k, ks, qp0, qp1, d, s0, s1, lds, mx0, mx1, lim0, lim1, masked); break; \
    case 3: s_tile2(3, TWO, k, ks, qp0, qp1, d, s0, s1, lds, mx0, mx1, lim0, lim1, masked); break; \
    case 2: s_tile2(2, TWO, k, ks, qp0, qp1, d, s0, s1, lds, mx0, mx1, lim0, lim1, masked); break; \
    default: s_tile2(1, TWO, k, ks, qp0, qp1, d, s0, s1, lds, mx0, mx1, lim0, lim1, masked); break; \
    }

void attn_s_tile_f32_avx512(int nr, const float *k, int64_t ks, const float *qp0, const float *qp1,
                            int64_t d, float *s0, float *s1, int64_t lds, float *mx0, float *mx1,
                            int64_t lim0, int64_t lim1, int masked) {
    if (qp1) {
        S_CASES(1)
    } else {
        S_CASES(0)
    }
}

/* O rows [0, NR) += as the AVX2 pv tile, over NV 16-lane vectors (NV 1 with mask m: 8 columns). */
AT_INLINE void pv_tile2(const int NR, const int NV, __mmask16 m, const float *pt, int64_t ldp,
                        const float *v0, const float *v1, int64_t vs, int64_t n, float *o,
                        int64_t ldo, const float *alpha) {
    __m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm512_setzero_ps();
#define PV_IN(r)                                                                                  \
    if (r < NR) {                                                                                 \
        __m512 al = _mm512_set1_ps(alpha[r]);                                                     \
        c##r##0 = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, o + r * ldo), al);                       \
        if (NV == 2) c##r##1 = _mm512_mul_ps(_mm512_loadu_ps(o + r * ldo + 16), al);              \
    }
    ROWS(PV_IN)
#undef PV_IN
#pragma GCC unroll 4
    for (int64_t j = 0; j < n; j++) {
        const float *pj = pt + j * ldp;
        __m512 b0 = _mm512_maskz_loadu_ps(m, v0 + j * vs), b1 = b0, a;
        if (NV == 2) b1 = _mm512_loadu_ps(v1 + j * vs);
#define PV_FMA(r)                                                                                 \
        if (r < NR) {                                                                             \
            a = _mm512_set1_ps(pj[r]);                                                            \
            c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                                            \
            if (NV == 2) c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);                               \
        }
        ROWS(PV_FMA)
#undef PV_FMA
    }
#define PV_OUT(r)                                                                                 \
    if (r < NR) {                                                                                 \
        _mm512_mask_storeu_ps(o + r * ldo, m, c##r##0);                                           \
        if (NV == 2) _mm512_storeu_ps(o + r * ldo + 16, c##r##1);                                 \
    }
    ROWS(PV_OUT)
#undef PV_OUT
}

#define PV_CASES(NV)                                                                              \
    switch (nr) {                                                                                 \
    case 6: pv_tile2(6, NV, m, pt, ldp, v0, v1, vs, n, o, ldo, alpha); break;                     \
    case 5: pv_tile2(5, NV, m, pt, ldp, v0, v1, vs, n, o, ldo, alpha); break;                     \
    case 4: pv_tile2(4, NV, m, pt, ldp, v0, v1, vs, n, o, ldo, alpha); break;                     \
    case 3: pv_tile2(3, NV, m, pt, ldp, v0, v1, vs, n, o, ldo, alpha); break;                     \
    case 2: pv_tile2(2, NV, m, pt, ldp, v0, v1, vs, n, o, ldo, alpha); break;                     \
    default: pv_tile2(1, NV, m, pt, ldp, v0, v1, vs, n, o, ldo, alpha); break;                    \
    }

void attn_pv_tile_f32_avx512(int nr, int cols, const float *pt, int64_t ldp, const float *v0,
                             const float *v1, int64_t vs, int64_t n, float *o, int64_t ldo,
                             const float *alpha) {
    __mmask16 m = cols == 8 ? (__mmask16)0xff : (__mmask16)0xffff;
    if (cols == 32) {
        PV_CASES(2)
    } else {
        PV_CASES(1)
    }
}
