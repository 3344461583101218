/* The LSTM gate product with AVX2 FMAs (src/onnx/rnn_prep.c packs the panels). */
#include <immintrin.h>

#include "onnx/rnn_prep.h"

void onnx_lstm_panels_avx2(const float *w, const float *bias, const float *v, int64_t K, int64_t p0,
                           int64_t p1, float *out) {
    int64_t q = p0;
    for (; q + 4 <= p1; q += 4) {
        const float *w0 = w + q * K * 8, *w1 = w0 + K * 8, *w2 = w1 + K * 8, *w3 = w2 + K * 8;
        __m256 a0 = _mm256_loadu_ps(bias + q * 8), a1 = _mm256_loadu_ps(bias + q * 8 + 8);
        __m256 a2 = _mm256_loadu_ps(bias + q * 8 + 16), a3 = _mm256_loadu_ps(bias + q * 8 + 24);
        for (int64_t k = 0; k < K; k++) {
            __m256 b = _mm256_broadcast_ss(v + k);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k * 8), b, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k * 8), b, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + k * 8), b, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + k * 8), b, a3);
        }
        _mm256_storeu_ps(out + q * 8, a0);
        _mm256_storeu_ps(out + q * 8 + 8, a1);
        _mm256_storeu_ps(out + q * 8 + 16, a2);
        _mm256_storeu_ps(out + q * 8 + 24, a3);
    }
    for (; q < p1; q++) {
        const float *w0 = w + q * K * 8;
        __m256 a0 = _mm256_loadu_ps(bias + q * 8);
        for (int64_t k = 0; k < K; k++)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k * 8), _mm256_broadcast_ss(v + k), a0);
        _mm256_storeu_ps(out + q * 8, a0);
    }
}
