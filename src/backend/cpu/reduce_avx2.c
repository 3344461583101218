/* AVX2 folds of contiguous f32 runs for reduce.c: sums with 4 x 8 partial sums (combined in a
 * fixed tree, so the result depends only on n), NaN-propagating max and min, and the column
 * sums' step that folds eight rows into a partial vector. */
#include <math.h>

#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/vmath_avx2.h"

static inline __m256i tail_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Four streams (the run's quarters, each a multiple of 8 long) read side by side keep more
 * cache-line fetches in flight than one, which is what a sum from memory is bound by; the rest
 * goes into the first accumulator, with a masked tail. */
float cpu_sum_f32_avx2(const float *x, int64_t n) {
    int64_t q = (n / 4) & ~(int64_t)7;
    const float *x1 = x + q, *x2 = x + 2 * q, *x3 = x + 3 * q;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t i = 0; i < q; i += 8) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x1 + i));
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(x2 + i));
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(x3 + i));
    }
    int64_t i = 4 * q;
    for (; i + 8 <= n; i += 8) s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
    if (i < n) s1 = _mm256_add_ps(s1, _mm256_maskload_ps(x + i, tail_mask(n - i)));
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* The portable fold, used from the first NaN on (it returns that NaN). */
static float scalar_extremum(const float *x, int64_t n, float m, bool is_max) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (v != v || (is_max ? v > m : v < m)) m = v;
        if (m != m) break;
    }
    return m;
}

static inline float extremum(const float *x, int64_t n, float m, bool is_max) {
    if (m != m) return m;
    __m256 a0 = _mm256_set1_ps(m), a1 = a0;
    int64_t i = 0;
    /* blocks of 64: look for NaN once per block, then finish with the scalar fold from there */
    for (; i + 64 <= n; i += 64) {
        __m256 nan = _mm256_setzero_ps();
        for (int k = 0; k < 64; k += 16) {
            __m256 v0 = _mm256_loadu_ps(x + i + k), v1 = _mm256_loadu_ps(x + i + k + 8);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(v0, v1, _CMP_UNORD_Q));
            a0 = is_max ? _mm256_max_ps(v0, a0) : _mm256_min_ps(v0, a0);
            a1 = is_max ? _mm256_max_ps(v1, a1) : _mm256_min_ps(v1, a1);
        }
        if (!_mm256_testz_ps(nan, nan)) break;
    }
    __m256 a = is_max ? _mm256_max_ps(a0, a1) : _mm256_min_ps(a0, a1);
    float lanes[8];
    _mm256_storeu_ps(lanes, a);
    float r = lanes[0];
    for (int k = 1; k < 8; k++) r = is_max ? (lanes[k] > r ? lanes[k] : r) : (lanes[k] < r ? lanes[k] : r);
    return scalar_extremum(x + i, n - i, r, is_max);
}

float cpu_max_f32_avx2(const float *x, int64_t n, float m) { return extremum(x, n, m, true); }
float cpu_min_f32_avx2(const float *x, int64_t n, float m) { return extremum(x, n, m, false); }

/* Eight row streams read side by side (enough fetches in flight for the memory, one load and
 * one store of the partial per eight rows); every column is added in the same tree. With ahead,
 * the rows the caller folds next are asked for into L2, a line of each per line read: each row is
 * a stream of its own, which the hardware prefetcher takes up only after a few misses, so without
 * it every group began with its streams cold (a [4096, 4096] column sum at one thread on Zen 4:
 * 0.82-0.93 of OpenBLAS's sgemv before, 0.94-1.00 with it and 16 KiB runs; docs/BENCHMARKS.md).
 * The next rows come as one distance from these, not as eight more pointers: those did not fit
 * in the registers, and reloading them at every step cost most of the gain. */
static inline __attribute__((always_inline)) void col_sum8(float *acc, const float *const *r,
                                                           int64_t n, ptrdiff_t ahead) {
    const float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];
    const float *r4 = r[4], *r5 = r[5], *r6 = r[6], *r7 = r[7];
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        if (ahead) {
            const float *const row[8] = {r0, r1, r2, r3, r4, r5, r6, r7};
            for (int k = 0; k < 8; k++)
                _mm_prefetch((const char *)((uintptr_t)(row[k] + j) + (uintptr_t)ahead),
                             _MM_HINT_T1);
        }
        for (int h = 0; h < 16; h += 8) {
            __m256 a = _mm256_add_ps(_mm256_loadu_ps(r0 + j + h), _mm256_loadu_ps(r1 + j + h));
            __m256 b = _mm256_add_ps(_mm256_loadu_ps(r2 + j + h), _mm256_loadu_ps(r3 + j + h));
            __m256 c = _mm256_add_ps(_mm256_loadu_ps(r4 + j + h), _mm256_loadu_ps(r5 + j + h));
            __m256 d = _mm256_add_ps(_mm256_loadu_ps(r6 + j + h), _mm256_loadu_ps(r7 + j + h));
            __m256 s = _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d));
            _mm256_storeu_ps(acc + j + h, _mm256_add_ps(_mm256_loadu_ps(acc + j + h), s));
        }
    }
    for (; j < n; j++)
        acc[j] += ((r0[j] + r1[j]) + (r2[j] + r3[j])) + ((r4[j] + r5[j]) + (r6[j] + r7[j]));
}

void cpu_col_sum8_f32_avx2(float *acc, const float *const *r, int64_t n, ptrdiff_t ahead) {
    if (ahead)
        col_sum8(acc, r, n, ahead);
    else
        col_sum8(acc, r, n, 0);
}
