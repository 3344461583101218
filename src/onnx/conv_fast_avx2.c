/* The Conv epilogue of src/onnx/conv_prep.c in AVX2: every operation applied to 8 lanes in
 * registers between one load and one store, each rounded to f32 as the node it replaces (no
 * fused multiply-adds; max/min in the operand order that gives the comparisons' NaN results). */
#include <immintrin.h>

#include "onnx/conv_fast_kernels.h"

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
            x = _mm256_div_ps(_mm256_mul_ps(x, t), _mm256_set1_ps(p[3]));
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
        for (; ow < p->ow; ow += 8) { /* the padded rows have room past the last column */
            __m256 a0 = bias;
            for (int64_t i = 0; i < kh; i++) {
                const float *xr = x0 + i * p->dh * p->xrs + ow * sw;
                for (int64_t j = 0; j < kw; j++)
                    a0 = _mm256_fmadd_ps(wv[i * kw + j], load8(xr + j * p->dw, sw), a0);
            }
            a0 = apply(a0, p->nops, p->kind, p->v);
            if (ow + 8 <= p->ow) {
                _mm256_storeu_ps(y + ow, a0);
            } else {
                __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(p->ow - ow)),
                                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                _mm256_maskstore_ps(y + ow, mask, a0);
            }
        }
    }
}
