/* AVX-512 layer norm and RMS norm forward over one contiguous f32 row, for norm.c at
 * CPU_LEVEL_AVX512 (the backward stays in norm_avx2.c). The method and the order of every sum are
 * norm_avx2.c's: its two 8-lane accumulators are the halves of one 16-lane accumulator here
 * (lane j of the halves adds the same terms in the same order), each chunk of 128 elements is
 * folded as there (the halves added in f32, then into double), the last partial 16 elements in
 * double; the same fallbacks to the portable statistics; the output written 16 lanes at a time.
 * So both levels give the same bits. */
#include "backend/cpu/norm_avx2.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define NORM_INLINE static inline __attribute__((always_inline))

NORM_INLINE double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

NORM_INLINE __m256d lo_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
NORM_INLINE __m256d hi_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

/* The two 8-lane halves of v added (norm_avx2.c's a0 + a1). */
NORM_INLINE __m256 fold(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

NORM_INLINE __mmask16 lanes(int64_t n) { return (__mmask16)(n >= 16 ? 0xffffu : ((1u << n) - 1u)); }

NORM_INLINE void prefetch_l2(const float *p, int64_t off) {
    if (p) _mm_prefetch((const char *)p + off, _MM_HINT_T1);
}

/* norm_avx2.c's chunk_sums. */
NORM_INLINE void chunk_sums(const float *x, int64_t n, float c, bool square, double *s, double *q) {
    const __m512 cv = _mm512_set1_ps(c);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, q0 = s0, q1 = s0;
    int64_t i = 0;
    while (i + 16 <= n) {
        __m512 a = _mm512_setzero_ps(), b = a;
        int64_t end = i + 128 < n ? i + 128 : n;
        for (; i + 16 <= end; i += 16) {
            __m512 u = _mm512_sub_ps(_mm512_loadu_ps(x + i), cv);
            a = _mm512_add_ps(a, u);
            if (square) b = _mm512_fmadd_ps(u, u, b);
        }
        __m256 af = fold(a);
        s0 = _mm256_add_pd(s0, lo_pd(af));
        s1 = _mm256_add_pd(s1, hi_pd(af));
        if (square) {
            __m256 bf = fold(b);
            q0 = _mm256_add_pd(q0, lo_pd(bf));
            q1 = _mm256_add_pd(q1, hi_pd(bf));
        }
    }
    double st = 0, qt = 0;
    for (; i < n; i++) {
        double d = (double)x[i] - (double)c;
        st += d;
        qt += d * d;
    }
    *s = hsum_pd(_mm256_add_pd(s0, s1)) + st;
    if (square) *q = hsum_pd(_mm256_add_pd(q0, q1)) + qt;
}

/* norm_avx2.c's chunk_squares. */
NORM_INLINE double chunk_squares(const float *x, int64_t n) {
    __m256d q0 = _mm256_setzero_pd(), q1 = q0;
    int64_t i = 0;
    while (i + 16 <= n) {
        __m512 b = _mm512_setzero_ps();
        int64_t end = i + 128 < n ? i + 128 : n;
        for (; i + 16 <= end; i += 16) {
            __m512 u = _mm512_loadu_ps(x + i);
            b = _mm512_fmadd_ps(u, u, b);
        }
        __m256 bf = fold(b);
        q0 = _mm256_add_pd(q0, lo_pd(bf));
        q1 = _mm256_add_pd(q1, hi_pd(bf));
    }
    double qt = 0;
    for (; i < n; i++) qt += (double)x[i] * x[i];
    return hsum_pd(_mm256_add_pd(q0, q1)) + qt;
}

static void exact_stats(const float *x, int64_t n, double *mean, double *var) {
    double m = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) m += x[i];
    m /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - m;
        sq += d * d;
    }
    *mean = m;
    *var = sq / (double)n;
}

NORM_INLINE __m512 norm_vec(__m512 v, __m512 mhi, __m512 mlo, __m512 s, __m512 w, __m512 b,
                            bool rms, bool hw, bool hb) {
    if (!rms) v = _mm512_sub_ps(_mm512_sub_ps(v, mhi), mlo);
    v = _mm512_mul_ps(v, s);
    if (hw && hb) return _mm512_fmadd_ps(v, w, b);
    if (hw) return _mm512_mul_ps(v, w);
    if (hb) return _mm512_add_ps(v, b);
    return v;
}

/* y over the row; with stream (y 4-byte aligned), the elements before y's first 64-byte boundary
 * masked, then streaming stores (stream.h). */
NORM_INLINE void write_pass(float *y, const float *x, int64_t n, __m512 mhi, __m512 mlo, __m512 s,
                            const float *w, const float *b, bool rms, const float *next,
                            bool stream) {
    bool hw = w != NULL, hb = b != NULL;
    const __m512 zero = _mm512_setzero_ps();
    stream = stream && !((uintptr_t)y & 3u);
    int64_t i = 0;
    if (stream) {
        int64_t h = (int64_t)(((64u - ((uintptr_t)y & 63u)) & 63u) >> 2);
        i = h < n ? h : n;
        if (i) {
            __mmask16 k = lanes(i);
            __m512 wv = hw ? _mm512_maskz_loadu_ps(k, w) : zero, bv = hb ? _mm512_maskz_loadu_ps(k, b) : zero;
            _mm512_mask_storeu_ps(y, k, norm_vec(_mm512_maskz_loadu_ps(k, x), mhi, mlo, s, wv, bv, rms, hw, hb));
        }
        for (; i + 16 <= n; i += 16) {
            prefetch_l2(next, 4 * i);
            __m512 wv = hw ? _mm512_loadu_ps(w + i) : zero, bv = hb ? _mm512_loadu_ps(b + i) : zero;
            _mm512_stream_ps(y + i, norm_vec(_mm512_loadu_ps(x + i), mhi, mlo, s, wv, bv, rms, hw, hb));
        }
    }
    for (; i + 16 <= n; i += 16) {
        prefetch_l2(next, 4 * i);
        __m512 wv = hw ? _mm512_loadu_ps(w + i) : zero, bv = hb ? _mm512_loadu_ps(b + i) : zero;
        _mm512_storeu_ps(y + i, norm_vec(_mm512_loadu_ps(x + i), mhi, mlo, s, wv, bv, rms, hw, hb));
    }
    if (i < n) {
        __mmask16 k = lanes(n - i);
        __m512 wv = hw ? _mm512_maskz_loadu_ps(k, w + i) : zero, bv = hb ? _mm512_maskz_loadu_ps(k, b + i) : zero;
        _mm512_mask_storeu_ps(y + i, k, norm_vec(_mm512_maskz_loadu_ps(k, x + i), mhi, mlo, s, wv, bv, rms, hw, hb));
    }
}

void cpu_norm_row_f32_avx512(float *y, float *mean_out, float *rstd_out, const float *x, int64_t n,
                             bool rms, const float *w, const float *b, double eps,
                             const float *next, bool stream) {
    double dn = (double)n, mean = 0, var;
    if (rms) {
        var = chunk_squares(x, n) / dn;
        if (!(var >= 0x1p-100 && var <= 0x1p100)) {
            double q = 0;
            for (int64_t i = 0; i < n; i++) q += (double)x[i] * x[i];
            var = q / dn;
        }
    } else {
        double s, q;
        float k = n > 0 ? x[0] : 0.0f;
        chunk_sums(x, n, k, false, &s, &q);
        float c = (float)((double)k + s / dn);
        chunk_sums(x, n, c, true, &s, &q);
        double e = s / dn;
        mean = (double)c + e;
        var = q / dn - e * e;
        if (!(var >= 0x1p-100 && q / dn <= 0x1p100 && e * e <= var * 0x1p-10))
            exact_stats(x, n, &mean, &var);
    }
    double rstd = 1.0 / sqrt(var + eps);
    float m = (float)mean, r = (float)rstd;
    if (mean_out && !rms) *mean_out = m;
    if (rstd_out) *rstd_out = r;
    if (!rms && mean != 0 && fabs(mean) < 0x1p-100) {
        for (int64_t i = 0; i < n; i++) {
            float v = (float)(((double)x[i] - mean) * rstd);
            if (w) v *= w[i];
            if (b) v += b[i];
            y[i] = v;
        }
        return;
    }
    __m512 mhi = _mm512_set1_ps(m), mlo = _mm512_set1_ps(isfinite(m) ? (float)(mean - (double)m) : 0.0f);
    write_pass(y, x, n, mhi, mlo, _mm512_set1_ps(r), w, b, rms, next, stream);
}
