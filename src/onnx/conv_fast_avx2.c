/* The Conv epilogue of src/onnx/conv_prep.c in AVX2: every operation applied to 8 lanes in
 * registers between one load and one store, each rounded to f32 as the node it replaces (no
 * fused multiply-adds; max/min in the operand order that gives the comparisons' NaN results;
 * the division by 6 without a divide, to the same bits). */
#include <immintrin.h>

#include "onnx/conv_fast_kernels.h"

/* m / 6 rounded as vdivps rounds it, without the divide (the HardSwish of paddle2onnx divides by
 * 6): q0 = m r with r = RN(1/6), then one Newton step q0 + fma(-q0, 6, m) r, which is correctly
 * rounded for every float m with |m| >= 2^-123 (checked for all 2^32 inputs; test
 * onnx_hswish_div6_rounds_as_divide), and q0 itself where that is inf or NaN. Vectors with a
 * lane under 2^-123 (subnormal quotients) take the divide. */
static inline __m256 div6(__m256 m) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 a = _mm256_and_ps(m, absmask);
    __m256 tiny = _mm256_cmp_ps(a, _mm256_set1_ps(0x1p-123f), _CMP_LT_OQ);
    if (!_mm256_testz_ps(tiny, tiny)) return _mm256_div_ps(m, _mm256_set1_ps(6.0f));
    const __m256 d = _mm256_set1_ps(6.0f), r = _mm256_set1_ps(1.0f / 6.0f);
    __m256 q0 = _mm256_mul_ps(m, r);
    __m256 q1 = _mm256_fmadd_ps(_mm256_fnmadd_ps(q0, d, m), r, q0);
    __m256 fin = _mm256_cmp_ps(_mm256_and_ps(q0, absmask), _mm256_set1_ps(__builtin_inff()),
                               _CMP_LT_OQ);
    return _mm256_blendv_ps(q0, q1, fin);
}

static inline __m256 apply(__m256 x, int nops, const int *kind, const float (*v)[4]) {
    for (int q = 0; q < nops; q++) {
        const float *p = v[q];
        switch (kind[q]) {
        case CONV_EP_CLAMP: /* x < lo ? lo : (x > hi ? hi : x) */
            x = _mm256_min_ps(_mm256_set1_ps(p[1]), _mm256_max_ps(_mm256_set1_ps(p[0]), x));
            break;
        case CONV_EP_MUL: x = _mm256_mul_ps(x, _mm256_set1_ps(p[0])); break;
        case CONV_EP_ADD: x = _mm256_add_ps(x, _mm256_set1_ps(p[0])); break;
        default: { /* x * clamp(x + a, lo, hi) / d */
            __m256 t = _mm256_add_ps(x, _mm256_set1_ps(p[0]));
            t = _mm256_min_ps(_mm256_set1_ps(p[2]), _mm256_max_ps(_mm256_set1_ps(p[1]), t));
            __m256 m = _mm256_mul_ps(x, t);
            x = p[3] == 6.0f ? div6(m) : _mm256_div_ps(m, _mm256_set1_ps(p[3]));
        }
        }
    }
    return x;
}

void onnx_conv_ep_rows_avx2(int nops, const int *kind, const float (*v)[4], float *y, int64_t rs,
                            int64_t nrows, int64_t ncols) {
    for (int64_t r = 0; r < nrows; r++) {
        float *row = y + r * rs;
        int64_t j = 0;
        for (; j + 8 <= ncols; j += 8)
            _mm256_storeu_ps(row + j, apply(_mm256_loadu_ps(row + j), nops, kind, v));
        if (j < ncols) {
            int n = (int)(ncols - j);
            __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
            __m256 x = _mm256_maskload_ps(row + j, mask);
            _mm256_maskstore_ps(row + j, mask, apply(x, nops, kind, v));
        }
    }
}

/* 8 outputs from row r at stride 1 or 2 (sw): r[0], r[sw], ... r[7 sw]. */
static inline __m256 load8(const float *r, int64_t sw) {
    if (sw == 1) return _mm256_loadu_ps(r);
    __m256 a = _mm256_loadu_ps(r), b = _mm256_loadu_ps(r + 8);
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
}

void onnx_dw_plane_avx2(const onnx_dw_plane *p) {
    const int64_t kh = p->kh, kw = p->kw, sw = p->sw, nw = kh * kw;
    __m256 wv[49];
    for (int64_t t = 0; t < nw; t++) wv[t] = _mm256_set1_ps(p->w[t]);
    const __m256 bias = _mm256_set1_ps(p->bias);
    for (int64_t oh = 0; oh < p->oh; oh++) {
        const float *x0 = p->x + oh * p->sh * p->xrs;
        float *y = p->y + oh * p->ow;
        int64_t ow = 0;
        for (; ow + 32 <= p->ow; ow += 32) {
            __m256 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            for (int64_t i = 0; i < kh; i++) {
                const float *xr = x0 + i * p->dh * p->xrs + ow * sw;
                for (int64_t j = 0; j < kw; j++) {
                    const float *q = xr + j * p->dw;
                    __m256 w = wv[i * kw + j];
                    a0 = _mm256_fmadd_ps(w, load8(q, sw), a0);
                    a1 = _mm256_fmadd_ps(w, load8(q + 8 * sw, sw), a1);
                    a2 = _mm256_fmadd_ps(w, load8(q + 16 * sw, sw), a2);
                    a3 = _mm256_fmadd_ps(w, load8(q + 24 * sw, sw), a3);
                }
            }
            _mm256_storeu_ps(y + ow, apply(a0, p->nops, p->kind, p->v));
            _mm256_storeu_ps(y + ow + 8, apply(a1, p->nops, p->kind, p->v));
            _mm256_storeu_ps(y + ow + 16, apply(a2, p->nops, p->kind, p->v));
            _mm256_storeu_ps(y + ow + 24, apply(a3, p->nops, p->kind, p->v));
        }
    }
    /* the columns past the last block of 32: four rows at once (independent FMA chains; a row
     * past the last repeats the last one, and only real rows are stored) */
    const int64_t ow32 = p->ow / 32 * 32;
    for (int64_t oh = 0; oh < p->oh; oh += 4) {
        const float *x0[4];
        for (int r = 0; r < 4; r++) {
            int64_t row = oh + r < p->oh ? oh + r : p->oh - 1;
            x0[r] = p->x + row * p->sh * p->xrs;
        }
        for (int64_t ow = ow32; ow < p->ow; ow += 8) { /* the padded rows have room past the end */
            __m256 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            for (int64_t i = 0; i < kh; i++) {
                int64_t off = i * p->dh * p->xrs + ow * sw;
                for (int64_t j = 0; j < kw; j++) {
                    __m256 w = wv[i * kw + j];
                    int64_t o = off + j * p->dw;
                    a0 = _mm256_fmadd_ps(w, load8(x0[0] + o, sw), a0);
                    a1 = _mm256_fmadd_ps(w, load8(x0[1] + o, sw), a1);
                    a2 = _mm256_fmadd_ps(w, load8(x0[2] + o, sw), a2);
                    a3 = _mm256_fmadd_ps(w, load8(x0[3] + o, sw), a3);
                }
            }
            __m256 acc[4] = {a0, a1, a2, a3};
            __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(p->ow - ow)),
                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            for (int r = 0; r < 4 && oh + r < p->oh; r++) {
                float *y = p->y + (oh + r) * p->ow + ow;
                __m256 v = apply(acc[r], p->nops, p->kind, p->v);
                if (ow + 8 <= p->ow) _mm256_storeu_ps(y, v);
                else _mm256_maskstore_ps(y, mask, v);
            }
        }
    }
}
