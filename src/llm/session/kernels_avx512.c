/* AVX-512 versions of the engine's f16 row dots (see kernels_simd.h), with the bits of the AVX2
 * ones: llm_dot_f16_avx2 keeps two 8-lane accumulators taking alternate runs of 8 elements, which
 * are the low and high halves of one 16-lane accumulator over runs of 16; a last run of 8 goes
 * into the low half, and the halves are added and summed as hsum does, then the scalar tail. So
 * one 16-lane convert, load and FMA do what two of each did, and several tokens can share a
 * row's conversion. */
#include <immintrin.h>

/* no contraction into FMA beyond the explicit ones: the bits must be the AVX2 version's */
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "llm/session/kernels_simd.h"

/* kernels_avx2.c's hsum of a0 + a1, a the two halves */
static float hsum_halves(__m512 a) {
    __m256 v = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* dot_half_finish's steps (kernels_avx2.c, f16) from element i (runs of 16 done up to i) */
static inline __attribute__((always_inline)) float finish(const float *x, const uint16_t *y, int64_t i, int64_t n,
                                                          __m512 a) {
    for (; i + 16 <= n; i += 16)
        a = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i))), a);
    if (i + 8 <= n) { /* the low half only, as a0 */
        __m512 xv = _mm512_castps256_ps512(_mm256_loadu_ps(x + i));
        __m512 yv = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i))));
        a = _mm512_mask3_fmadd_ps(xv, yv, a, 0x00ff);
        i += 8;
    }
    float s = hsum_halves(a);
    for (; i < n; i++) s += x[i] * _cvtsh_ss(y[i]);
    return s;
}

void llm_dot_rows_f16_avx512(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t n,
                             float *out) {
    enum { PF_BYTES = 1024 };
    for (int64_t j = 0; j < rows; j++) {
        const uint16_t *y = w + j * ls;
        __m512 a = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 32 <= n; i += 32) {
            _mm_prefetch((const char *)(y + i) + PF_BYTES, _MM_HINT_T0);
            a = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i))), a);
            a = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16),
                                _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i + 16))), a);
        }
        out[j] = finish(x, y, i, n, a);
    }
}

/* 16 weights of y at i as f32 */
static inline __attribute__((always_inline)) __m512 run16(const uint16_t *y, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i)));
}

/* The dots of four tokens' x (x_rs apart) with rows y0 and y1 (y1 NULL: y0 alone), each run of a
 * row converted once for the four and each run of x loaded once for the two rows: eight
 * accumulator chains in registers. */
static inline __attribute__((always_inline)) void rows2_tokens4(const float *x, int64_t x_rs, const uint16_t *y0,
                                                               const uint16_t *y1, int64_t n, float *out,
                                                               int64_t out_rs) {
    enum { PF_BYTES = 1024 };
    const float *x0 = x, *x1 = x + x_rs, *x2 = x + 2 * x_rs, *x3 = x + 3 * x_rs;
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
    __m512 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        if ((i & 31) == 0) _mm_prefetch((const char *)(y0 + i) + PF_BYTES, _MM_HINT_T0);
        const __m512 v0 = _mm512_loadu_ps(x0 + i), v1 = _mm512_loadu_ps(x1 + i);
        const __m512 v2 = _mm512_loadu_ps(x2 + i), v3 = _mm512_loadu_ps(x3 + i);
        const __m512 w0 = run16(y0, i);
        a00 = _mm512_fmadd_ps(v0, w0, a00);
        a01 = _mm512_fmadd_ps(v1, w0, a01);
        a02 = _mm512_fmadd_ps(v2, w0, a02);
        a03 = _mm512_fmadd_ps(v3, w0, a03);
        if (y1) {
            if ((i & 31) == 0) _mm_prefetch((const char *)(y1 + i) + PF_BYTES, _MM_HINT_T0);
            const __m512 w1 = run16(y1, i);
            a10 = _mm512_fmadd_ps(v0, w1, a10);
            a11 = _mm512_fmadd_ps(v1, w1, a11);
            a12 = _mm512_fmadd_ps(v2, w1, a12);
            a13 = _mm512_fmadd_ps(v3, w1, a13);
        }
    }
    out[0] = finish(x0, y0, i, n, a00);
    out[out_rs] = finish(x1, y0, i, n, a01);
    out[2 * out_rs] = finish(x2, y0, i, n, a02);
    out[3 * out_rs] = finish(x3, y0, i, n, a03);
    if (y1) {
        out[1] = finish(x0, y1, i, n, a10);
        out[out_rs + 1] = finish(x1, y1, i, n, a11);
        out[2 * out_rs + 1] = finish(x2, y1, i, n, a12);
        out[3 * out_rs + 1] = finish(x3, y1, i, n, a13);
    }
}

void llm_dot_rows_f16_tokens_avx512(const float *x, int64_t x_rs, int64_t ntok, const uint16_t *w, int64_t ls,
                                    int64_t rows, int64_t n, float *out, int64_t out_rs) {
    int64_t t = 0;
    for (; t + 4 <= ntok; t += 4) { /* four tokens, two rows at a time */
        const float *xt = x + t * x_rs;
        float *ot = out + t * out_rs;
        int64_t j = 0;
        for (; j + 2 <= rows; j += 2) rows2_tokens4(xt, x_rs, w + j * ls, w + (j + 1) * ls, n, ot + j, out_rs);
        if (j < rows) rows2_tokens4(xt, x_rs, w + j * ls, NULL, n, ot + j, out_rs);
    }
    for (; t < ntok; t++) llm_dot_rows_f16_avx512(x + t * x_rs, w, ls, rows, n, out + t * out_rs);
}
