/* AVX-512 softmax and log-softmax over one contiguous f32 row (the forward), for softmax.c at
 * CPU_LEVEL_AVX512; the backward stays in softmax_avx2.c. The passes are those of
 * softmax_avx2.c with one 16-lane vector where it has two of 8: the max; the exps (v16_exp, which
 * gives vm_exp's bits lane for lane) summed as there, the two 8-lane halves added in f32 and then
 * into two double accumulators, the last partial 16 through the same 8-lane tail; then the
 * scaling or the subtraction of the split log-sum. So both levels give the same bits. */
#include <math.h>
#include <stdint.h>

#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/vmath_avx512.h"

static inline __m256i tail_mask8(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

static inline void acc_pd(__m256d *s0, __m256d *s1, __m256 v) {
    *s0 = _mm256_add_pd(*s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    *s1 = _mm256_add_pd(*s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline void prefetch_l2(const float *p, int64_t off) {
    if (p) _mm_prefetch((const char *)p + off, _MM_HINT_T1);
}

/* The row's max; NaN if any element is NaN. */
static float row_max(const float *x, int64_t n) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 m0 = ninf, m1 = ninf;
    __mmask16 nan = 0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        nan |= _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q);
        m0 = _mm512_max_ps(a, m0);
        m1 = _mm512_max_ps(b, m1);
    }
    for (; i < n; i += 16) {
        __mmask16 k = v16_mask(n - i);
        __m512 a = _mm512_mask_loadu_ps(ninf, k, x + i);
        nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
        m0 = _mm512_max_ps(a, m0);
    }
    if (nan) return NAN;
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

/* sum over the row of e^(x - m) (stored into y unless y is NULL), in double, in softmax_avx2.c's
 * order; the next row is prefetched one line per 16 elements, and so is `out` (or NULL). */
static double exp_pass(float *y, const float *x, int64_t n, float mf, const float *next,
                       const float *out) {
    const __m512 m = _mm512_set1_ps(mf);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        prefetch_l2(next, 4 * i);
        if (out) _mm_prefetch((const char *)(out + i), _MM_HINT_T0);
        __m512 e = v16_exp(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
        if (y) _mm512_storeu_ps(y + i, e);
        acc_pd(&s0, &s1, _mm256_add_ps(v16_lo(e), v16_hi(e)));
    }
    const __m256 m8 = _mm256_set1_ps(mf);
    for (; i < n; i += 8) {
        __m256i mask = tail_mask8(n - i);
        __m256 e = vm_exp(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), m8));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
        if (y) _mm256_maskstore_ps(y + i, mask, e);
        acc_pd(&s0, &s1, e);
    }
    return hsum_pd(_mm256_add_pd(s0, s1));
}

/* y = x - hi - lo (log) or y = x inv (softmax) over the row, y may be x. */
static void final_pass(float *y, const float *x, int64_t n, bool log, __m512 a, __m512 b) {
#define F(v) (log ? _mm512_sub_ps(_mm512_sub_ps((v), a), b) : _mm512_mul_ps((v), a))
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 u = F(_mm512_loadu_ps(x + i)), v = F(_mm512_loadu_ps(x + i + 16));
        _mm512_storeu_ps(y + i, u);
        _mm512_storeu_ps(y + i + 16, v);
    }
    for (; i < n; i += 16) {
        __mmask16 k = v16_mask(n - i);
        _mm512_mask_storeu_ps(y + i, k, F(_mm512_maskz_loadu_ps(k, x + i)));
    }
#undef F
}

void cpu_softmax_row_f32_avx512(float *y, const float *x, int64_t n, bool log, const float *next) {
    float mf = row_max(x, n);
    if (mf == -INFINITY) mf = 0; /* an all -inf row: avoid inf - inf (the result is NaN anyway) */
    if (log) {
        /* the exp pass prefetches the next row and the output row, as softmax_avx2.c's */
        double sum = exp_pass(NULL, x, n, mf, next, y != x ? y : NULL);
        double v = (double)mf + __builtin_log(sum);
        float h = (float)v;
        final_pass(y, x, n, true, _mm512_set1_ps(h), _mm512_set1_ps((float)(v - (double)h)));
        return;
    }
    double sum = exp_pass(y, x, n, mf, next, NULL);
    final_pass(y, y, n, false, _mm512_set1_ps((float)(1.0 / sum)), _mm512_setzero_ps());
}
