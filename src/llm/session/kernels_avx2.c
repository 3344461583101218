/* AVX2 + FMA + F16C versions of the engine's small vector helpers (see kernels_simd.h). */
#include <immintrin.h>

#include "llm/session/kernels_simd.h"

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

float llm_dot_f16_avx2(const float *x, const uint16_t *y, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 y0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        __m256 y1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8)));
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), y0, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), y1, a1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 y0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), y0, a0);
    }
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += x[i] * _cvtsh_ss(y[i]);
    return s;
}

void llm_axpy_f16_avx2(float *acc, float a, const uint16_t *y, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 y0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(va, y0, _mm256_loadu_ps(acc + i)));
    }
    for (; i < n; i++) acc[i] += a * _cvtsh_ss(y[i]);
}

float llm_dot_f32_avx2(const float *x, const float *y, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}
