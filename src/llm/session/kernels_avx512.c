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

/* dot_f16_finish's steps from element i (runs of 16 done up to i) */
static float finish(const float *x, const uint16_t *y, int64_t i, int64_t n, __m512 a) {
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

/* The dots of NT tokens' x (x_rs apart) with each row, the row's runs converted once for all. */
static inline __attribute__((always_inline)) void rows_tokens(const float *x, int64_t x_rs, const int nt,
                                                             const uint16_t *w, int64_t ls, int64_t rows,
                                                             int64_t n, float *out, int64_t out_rs) {
    enum { PF_BYTES = 1024, NT_MAX = 8 };
    for (int64_t j = 0; j < rows; j++) {
        const uint16_t *y = w + j * ls;
        __m512 a[NT_MAX];
        for (int t = 0; t < nt; t++) a[t] = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            if ((i & 31) == 0) _mm_prefetch((const char *)(y + i) + PF_BYTES, _MM_HINT_T0);
            const __m512 yv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i)));
            for (int t = 0; t < nt; t++) a[t] = _mm512_fmadd_ps(_mm512_loadu_ps(x + t * x_rs + i), yv, a[t]);
        }
        for (int t = 0; t < nt; t++) out[t * out_rs + j] = finish(x + t * x_rs, y, i, n, a[t]);
    }
}

void llm_dot_rows_f16_tokens_avx512(const float *x, int64_t x_rs, int64_t ntok, const uint16_t *w, int64_t ls,
                                    int64_t rows, int64_t n, float *out, int64_t out_rs) {
    for (int64_t t0 = 0; t0 < ntok; t0 += 8) {
        const float *xt = x + t0 * x_rs;
        float *ot = out + t0 * out_rs;
        switch (ntok - t0 < 8 ? ntok - t0 : 8) { /* constant token counts: accumulators in registers */
        case 1: rows_tokens(xt, x_rs, 1, w, ls, rows, n, ot, out_rs); break;
        case 2: rows_tokens(xt, x_rs, 2, w, ls, rows, n, ot, out_rs); break;
        case 3: rows_tokens(xt, x_rs, 3, w, ls, rows, n, ot, out_rs); break;
        case 4: rows_tokens(xt, x_rs, 4, w, ls, rows, n, ot, out_rs); break;
        case 5: rows_tokens(xt, x_rs, 5, w, ls, rows, n, ot, out_rs); break;
        case 6: rows_tokens(xt, x_rs, 6, w, ls, rows, n, ot, out_rs); break;
        case 7: rows_tokens(xt, x_rs, 7, w, ls, rows, n, ot, out_rs); break;
        default: rows_tokens(xt, x_rs, 8, w, ls, rows, n, ot, out_rs); break;
        }
    }
}
