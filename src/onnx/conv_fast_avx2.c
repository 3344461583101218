/* The Conv epilogue of src/onnx/conv_prep.c in AVX2: every operation applied to 8 lanes in
 * registers between one load and one store, each rounded to f32 as the node it replaces (no
 * fused multiply-adds; max/min in the operand order that gives the comparisons' NaN results;
 * the division by 6 without a divide, to the same bits), eight vectors at a time. And the
 * depthwise kernels: a plane at a time (wide planes), or eight channels at a time in the lanes
 * (narrow planes); both the bias followed by one FMA per tap in order. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/conv_ep_avx2.h"
#include "backend/cpu/transpose_avx2.h"
#include "onnx/conv_fast_kernels.h"

/* The operations of conv_ep_avx2.h, which the tile kernel also applies in registers. */
#define div6 cpu_conv_ep_div6
#define apply cpu_conv_ep_apply

/* apply() on 8 vectors at once: each operation's branch taken once for all of them, and the 8
 * independent chains (HardSwish's is some 20 cycles long) overlap; the same bits as apply().
 * Written out per vector (R8) so that x stays in registers. */
#define R8(S) S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7)
static inline __attribute__((always_inline)) void apply8(__m256 x[8], int nops, const int *kind,
                                                         const float (*v)[4]) {
    for (int q = 0; q < nops; q++) {
        const float *p = v[q];
        switch (kind[q]) {
        case CONV_EP_CLAMP: {
            const __m256 lo = _mm256_set1_ps(p[0]), hi = _mm256_set1_ps(p[1]);
#define EP_CLAMP(i) x[i] = _mm256_min_ps(hi, _mm256_max_ps(lo, x[i]));
            R8(EP_CLAMP)
            break;
        }
        case CONV_EP_MUL: {
            const __m256 a = _mm256_set1_ps(p[0]);
#define EP_MUL(i) x[i] = _mm256_mul_ps(x[i], a);
            R8(EP_MUL)
            break;
        }
        case CONV_EP_ADD: {
            const __m256 a = _mm256_set1_ps(p[0]);
#define EP_ADD(i) x[i] = _mm256_add_ps(x[i], a);
            R8(EP_ADD)
            break;
        }
        default: {
            const __m256 a = _mm256_set1_ps(p[0]), lo = _mm256_set1_ps(p[1]);
            const __m256 hi = _mm256_set1_ps(p[2]);
#define EP_HS(i)                                                                                   \
    x[i] = _mm256_mul_ps(x[i], _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(x[i], a))));
            R8(EP_HS)
            if (p[3] == 6.0f) {
#define EP_DIV6(i) x[i] = div6(x[i]);
                R8(EP_DIV6)
            } else {
                const __m256 d = _mm256_set1_ps(p[3]);
#define EP_DIV(i) x[i] = _mm256_div_ps(x[i], d);
                R8(EP_DIV)
            }
        }
        }
    }
}

void onnx_conv_ep_rows_avx2(int nops, const int *kind, const float (*v)[4], float *y, int64_t rs,
                            int64_t nrows, int64_t ncols) {
    for (int64_t r = 0; r < nrows; r++) {
        float *row = y + r * rs;
        int64_t j = 0;
        for (; j + 64 <= ncols; j += 64) {
            __m256 x[8];
            for (int i = 0; i < 8; i++) x[i] = _mm256_loadu_ps(row + j + 8 * i);
            apply8(x, nops, kind, v);
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(row + j + 8 * i, x[i]);
        }
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

/* One tap into accumulator A: A += w * (8 outputs' inputs at Q), w and sw from the caller. */
#define DW_ACC(A, Q) A = _mm256_fmadd_ps(w, load8(Q, sw), A)

/* Wide rows go 64 outputs at a time (eight independent FMA chains sharing each tap's weight),
 * then 32; the columns after that four output rows at a time, two vectors per row where two
 * remain (det's 10x10 planes: eight chains again). Every output is the bias followed by one FMA
 * per tap in row-major tap order, whichever way it is grouped. */
static inline __attribute__((always_inline)) void dw_plane(const onnx_dw_plane *p,
                                                           const int64_t sw) {
    const int64_t kh = p->kh, kw = p->kw, nw = kh * kw;
    __m256 wv[49];
    for (int64_t t = 0; t < nw; t++) wv[t] = _mm256_set1_ps(p->w[t]);
    const __m256 bias = _mm256_set1_ps(p->bias);
    const int64_t ow64 = p->ow / 64 * 64, ow32 = ow64 + (p->ow - ow64) / 32 * 32;
    for (int64_t oh = 0; oh < p->oh; oh++) {
        const float *x0 = p->x + oh * p->sh * p->xrs;
        float *y = p->y + oh * p->ow;
        for (int64_t ow = 0; ow < ow64; ow += 64) {
            __m256 a[8];
            __m256 a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias;
            for (int64_t i = 0; i < kh; i++) {
                const float *xr = x0 + i * p->dh * p->xrs + ow * sw;
                for (int64_t j = 0; j < kw; j++) {
                    const float *q = xr + j * p->dw;
                    __m256 w = wv[i * kw + j];
                    DW_ACC(a0, q);
                    DW_ACC(a1, q + 8 * sw);
                    DW_ACC(a2, q + 16 * sw);
                    DW_ACC(a3, q + 24 * sw);
                    DW_ACC(a4, q + 32 * sw);
                    DW_ACC(a5, q + 40 * sw);
                    DW_ACC(a6, q + 48 * sw);
                    DW_ACC(a7, q + 56 * sw);
                }
            }
            a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3, a[4] = a4, a[5] = a5, a[6] = a6, a[7] = a7;
            apply8(a, p->nops, p->kind, p->v);
            for (int v = 0; v < 8; v++) _mm256_storeu_ps(y + ow + 8 * v, a[v]);
        }
        for (int64_t ow = ow64; ow < ow32; ow += 32) {
            __m256 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            for (int64_t i = 0; i < kh; i++) {
                const float *xr = x0 + i * p->dh * p->xrs + ow * sw;
                for (int64_t j = 0; j < kw; j++) {
                    const float *q = xr + j * p->dw;
                    __m256 w = wv[i * kw + j];
                    DW_ACC(a0, q);
                    DW_ACC(a1, q + 8 * sw);
                    DW_ACC(a2, q + 16 * sw);
                    DW_ACC(a3, q + 24 * sw);
                }
            }
            _mm256_storeu_ps(y + ow, apply(a0, p->nops, p->kind, p->v));
            _mm256_storeu_ps(y + ow + 8, apply(a1, p->nops, p->kind, p->v));
            _mm256_storeu_ps(y + ow + 16, apply(a2, p->nops, p->kind, p->v));
            _mm256_storeu_ps(y + ow + 24, apply(a3, p->nops, p->kind, p->v));
        }
    }
    /* the columns past the blocks: four rows at once (a row past the last repeats the last one,
     * and only real rows are stored), two vectors of each where two remain */
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t oh = 0; oh < p->oh; oh += 4) {
        const float *x0[4];
        for (int r = 0; r < 4; r++) {
            int64_t row = oh + r < p->oh ? oh + r : p->oh - 1;
            x0[r] = p->x + row * p->sh * p->xrs;
        }
        int64_t ow = ow32;
        for (; ow + 8 < p->ow; ow += 16) { /* the padded rows have room past the end */
            __m256 a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias;
            for (int64_t i = 0; i < kh; i++) {
                int64_t off = i * p->dh * p->xrs + ow * sw;
                for (int64_t j = 0; j < kw; j++) {
                    __m256 w = wv[i * kw + j];
                    int64_t o = off + j * p->dw;
                    DW_ACC(a0, x0[0] + o);
                    DW_ACC(a1, x0[1] + o);
                    DW_ACC(a2, x0[2] + o);
                    DW_ACC(a3, x0[3] + o);
                    DW_ACC(a4, x0[0] + o + 8 * sw);
                    DW_ACC(a5, x0[1] + o + 8 * sw);
                    DW_ACC(a6, x0[2] + o + 8 * sw);
                    DW_ACC(a7, x0[3] + o + 8 * sw);
                }
            }
            __m256 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
            apply8(acc, p->nops, p->kind, p->v);
            __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(p->ow - ow - 8)), idx);
            for (int r = 0; r < 4 && oh + r < p->oh; r++) {
                float *y = p->y + (oh + r) * p->ow + ow;
                _mm256_storeu_ps(y, acc[r]);
                if (ow + 16 <= p->ow) _mm256_storeu_ps(y + 8, acc[4 + r]);
                else _mm256_maskstore_ps(y + 8, mask, acc[4 + r]);
            }
        }
        for (; ow < p->ow; ow += 8) {
            __m256 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            for (int64_t i = 0; i < kh; i++) {
                int64_t off = i * p->dh * p->xrs + ow * sw;
                for (int64_t j = 0; j < kw; j++) {
                    __m256 w = wv[i * kw + j];
                    int64_t o = off + j * p->dw;
                    DW_ACC(a0, x0[0] + o);
                    DW_ACC(a1, x0[1] + o);
                    DW_ACC(a2, x0[2] + o);
                    DW_ACC(a3, x0[3] + o);
                }
            }
            __m256 acc[4] = {a0, a1, a2, a3};
            __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(p->ow - ow)), idx);
            for (int r = 0; r < 4 && oh + r < p->oh; r++) {
                float *y = p->y + (oh + r) * p->ow + ow;
                __m256 v = apply(acc[r], p->nops, p->kind, p->v);
                if (ow + 8 <= p->ow) _mm256_storeu_ps(y, v);
                else _mm256_maskstore_ps(y, mask, v);
            }
        }
    }
}

/* The plane kernel with its horizontal stride a constant (no test per load). */
void onnx_dw_plane_avx2(const onnx_dw_plane *p) {
    if (p->sw == 1) dw_plane(p, 1);
    else dw_plane(p, 2);
}

/* Channels in lanes: the block's padded input interleaved ([hp][wp][8], zeros outside), its
 * weights [taps][8], then eight output positions at a time (eight independent FMA chains over the
 * taps), the epilogue on eight positions' vectors at once, each lane stored to its plane. */
void onnx_dw_block_avx2(const onnx_dw_block *b) {
    const int64_t hp = (b->oh - 1) * b->sh + (b->kh - 1) * b->dh + 1;
    const int64_t wp = (b->ow - 1) * b->sw + (b->kw - 1) * b->dw + 1, nt = b->kh * b->kw;
    const int64_t hw = b->h * b->w_in, ohw = b->oh * b->ow;
    float *xb = b->scratch, *wb = b->scratch + hp * wp * 8;
    for (int64_t r = 0; r < hp; r++) {
        int64_t y = r - b->ph;
        float *row = xb + r * wp * 8;
        if (y < 0 || y >= b->h) {
            memset(row, 0, (size_t)(wp * 8) * sizeof(float));
            continue;
        }
        int64_t c = 0;
        if (b->nc == 8) { /* the zeros left of the image, then 8 columns of 8 planes transposed */
            for (; c < wp && c < b->pw; c++) _mm256_storeu_ps(row + c * 8, _mm256_setzero_ps());
            for (; c + 8 <= wp && c - b->pw + 8 <= b->w_in; c += 8) {
                const float *src = b->x + y * b->w_in + (c - b->pw);
                __m256 t[8];
                for (int l = 0; l < 8; l++) t[l] = _mm256_loadu_ps(src + l * hw);
                avx2_transpose8_ps(t);
                for (int j = 0; j < 8; j++) _mm256_storeu_ps(row + (c + j) * 8, t[j]);
            }
        }
        for (; c < wp; c++) {
            int64_t x = c - b->pw;
            float *dst = row + c * 8;
            if (x < 0 || x >= b->w_in) {
                _mm256_storeu_ps(dst, _mm256_setzero_ps());
                continue;
            }
            const float *src = b->x + y * b->w_in + x;
            int l = 0;
            for (; l < b->nc; l++) dst[l] = src[l * hw];
            for (; l < 8; l++) dst[l] = 0.0f;
        }
    }
    for (int64_t t = 0; t < nt; t++) {
        int l = 0;
        for (; l < b->nc; l++) wb[t * 8 + l] = b->w[l * nt + t];
        for (; l < 8; l++) wb[t * 8 + l] = 0.0f;
    }
    float bias_l[8] = {0};
    for (int l = 0; l < b->nc && b->bias; l++) bias_l[l] = b->bias[l];
    const __m256 bias = _mm256_loadu_ps(bias_l);
    /* eight output positions a step, eight FMA chains sharing each tap's weight vector (a
     * last step of fewer repeats its last position, stored once) */
    for (int64_t p0 = 0; p0 < ohw; p0 += 8) {
        const float *src[8];
        int np = ohw - p0 < 8 ? (int)(ohw - p0) : 8;
        for (int q = 0; q < 8; q++) {
            int64_t p = p0 + (q < np ? q : np - 1), oy = p / b->ow, ox = p % b->ow;
            src[q] = xb + (oy * b->sh * wp + ox * b->sw) * 8;
        }
        __m256 a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias;
        for (int64_t i = 0; i < b->kh; i++)
            for (int64_t j = 0; j < b->kw; j++) {
                const int64_t o = (i * b->dh * wp + j * b->dw) * 8;
                const __m256 w = _mm256_loadu_ps(wb + (i * b->kw + j) * 8);
                a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(src[0] + o), a0);
                a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(src[1] + o), a1);
                a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(src[2] + o), a2);
                a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(src[3] + o), a3);
                a4 = _mm256_fmadd_ps(w, _mm256_loadu_ps(src[4] + o), a4);
                a5 = _mm256_fmadd_ps(w, _mm256_loadu_ps(src[5] + o), a5);
                a6 = _mm256_fmadd_ps(w, _mm256_loadu_ps(src[6] + o), a6);
                a7 = _mm256_fmadd_ps(w, _mm256_loadu_ps(src[7] + o), a7);
            }
        __m256 v[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
        apply8(v, b->nops, b->kind, b->v);
        if (np == 8) { /* transposed: each channel's 8 positions as one store (64 scalar ones took
                          a third of the step on det's 5x5 planes) */
            avx2_transpose8_ps(v);
            for (int l = 0; l < b->nc; l++) _mm256_storeu_ps(b->y + l * ohw + p0, v[l]);
            continue;
        }
        _Alignas(32) float out[8][8];
        for (int q = 0; q < 8; q++) _mm256_store_ps(out[q], v[q]);
        for (int q = 0; q < np; q++)
            for (int l = 0; l < b->nc; l++) b->y[l * ohw + p0 + q] = out[q][l];
    }
}
