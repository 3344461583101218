/* AVX2 softmax and log-softmax over one contiguous f32 row, forward and backward, for
 * softmax.c. Three passes over the row (max; exp and sum; scale), the exps computed in f32
 * (vmath_avx2.h, 1 ulp) and the sums accumulated in double. The final pass of log_softmax and of
 * the backward kernels is done in double and rounded once, as the portable kernel does, since
 * those results are differences that would lose relative accuracy in f32. */
#include <math.h>

#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/vmath_avx2.h"

static inline __m256i tail_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* The row's max; NaN if any element is NaN. */
static float row_max(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        m = _mm256_max_ps(v, m);
    }
    float lanes[8], r;
    _mm256_storeu_ps(lanes, m);
    r = lanes[0];
    for (int k = 1; k < 8; k++) r = lanes[k] > r ? lanes[k] : r;
    if (!_mm256_testz_ps(nan, nan)) return NAN;
    for (; i < n; i++) {
        if (x[i] != x[i]) return NAN;
        r = x[i] > r ? x[i] : r;
    }
    return r;
}

/* Adds the 8 lanes of v to the two double accumulators. */
static inline void acc_pd(__m256d *s0, __m256d *s1, __m256 v) {
    *s0 = _mm256_add_pd(*s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    *s1 = _mm256_add_pd(*s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

/* y[i] = round(((double)a[i] OP ...)): the double-precision final passes, 8 lanes at a time. */
#define DOUBLE_PASS(y, n, LOAD, EXPR)                                                            \
    do {                                                                                         \
        for (int64_t i_ = 0; i_ < (n); i_ += 8) {                                                \
            __m256i m_ = tail_mask((n) - i_);                                                    \
            LOAD;                                                                                \
            __m256d lo_, hi_;                                                                    \
            {                                                                                    \
                const int h_ = 0;                                                                \
                lo_ = EXPR;                                                                      \
            }                                                                                    \
            {                                                                                    \
                const int h_ = 1;                                                                \
                hi_ = EXPR;                                                                      \
            }                                                                                    \
            _mm256_maskstore_ps((y) + i_, m_,                                                    \
                                _mm256_set_m128(_mm256_cvtpd_ps(hi_), _mm256_cvtpd_ps(lo_)));     \
        }                                                                                        \
    } while (0)

/* Lanes 0-3 (h = 0) or 4-7 (h = 1) of v in double. */
static inline __m256d half_pd(__m256 v, int h) {
    return _mm256_cvtps_pd(h ? _mm256_extractf128_ps(v, 1) : _mm256_castps256_ps128(v));
}

void cpu_softmax_row_f32_avx2(float *y, const float *x, int64_t n, bool log, const float *next) {
    float mf = row_max(x, n);
    if (mf == -INFINITY) mf = 0; /* an all -inf row: avoid inf - inf (the result is NaN anyway) */
    __m256 m = _mm256_set1_ps(mf);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int64_t i = 0;
    /* prefetching never faults, so a dummy address serves when there is no next row */
    const char *pf = next ? (const char *)next : (const char *)x;
    for (; i + 8 <= n; i += 8) {
        _mm_prefetch(pf + 4 * i, _MM_HINT_T1);
        __m256 e = vm_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        if (!log) _mm256_storeu_ps(y + i, e);
        acc_pd(&s0, &s1, e);
    }
    if (i < n) {
        __m256i mask = tail_mask(n - i);
        __m256 e = vm_exp(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), m));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
        if (!log) _mm256_maskstore_ps(y + i, mask, e);
        acc_pd(&s0, &s1, e);
    }
    double sum = hsum_pd(_mm256_add_pd(s0, s1));
    if (log) {
        __m256d lse = _mm256_set1_pd((double)mf + __builtin_log(sum));
        __m256 v;
        DOUBLE_PASS(y, n, v = _mm256_maskload_ps(x + i_, m_), _mm256_sub_pd(half_pd(v, h_), lse));
    } else {
        __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
        for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inv));
        if (i < n) {
            __m256i mask = tail_mask(n - i);
            _mm256_maskstore_ps(y + i, mask, _mm256_mul_ps(_mm256_maskload_ps(y + i, mask), inv));
        }
    }
}

void cpu_softmax_backward_row_f32_avx2(float *gi, const float *g, const float *y, int64_t n,
                                       bool log) {
    /* s = sum(g) for log_softmax, sum(g * y) for softmax, in double */
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    for (int64_t i = 0; i < n; i += 8) {
        __m256i mask = tail_mask(n - i);
        __m256 gv = _mm256_maskload_ps(g + i, mask);
        if (log) {
            acc_pd(&s0, &s1, gv);
        } else {
            __m256 yv = _mm256_maskload_ps(y + i, mask);
            s0 = _mm256_fmadd_pd(half_pd(gv, 0), half_pd(yv, 0), s0);
            s1 = _mm256_fmadd_pd(half_pd(gv, 1), half_pd(yv, 1), s1);
        }
    }
    __m256d s = _mm256_set1_pd(hsum_pd(_mm256_add_pd(s0, s1)));
    __m256 gv, yv;
    if (log) /* g - exp(y) s */
        DOUBLE_PASS(gi, n, (gv = _mm256_maskload_ps(g + i_, m_), yv = vm_exp(_mm256_maskload_ps(y + i_, m_))),
                    _mm256_fnmadd_pd(half_pd(yv, h_), s, half_pd(gv, h_)));
    else /* y (g - s) */
        DOUBLE_PASS(gi, n, (gv = _mm256_maskload_ps(g + i_, m_), yv = _mm256_maskload_ps(y + i_, m_)),
                    _mm256_mul_pd(half_pd(yv, h_), _mm256_sub_pd(half_pd(gv, h_), s)));
}
