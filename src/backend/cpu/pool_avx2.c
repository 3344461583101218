/* AVX2 kernels for f32 max pooling with 2x2 windows at stride 2 that all lie inside the plane
 * (no padding, dilation 1): eight outputs at a time, with the exact semantics of the portable
 * kernels in pool.c (the first maximum of the window in row-major order wins, a NaN takes over
 * from anything before it). Plane offsets are computed in 32 bits; pool.c only comes here for
 * planes under 2^30 cells. */
#include "backend/cpu/kernels_avx2.h"

#include <immintrin.h>
#include <string.h>

/* Lanes [0, n) of a 32-bit mask, n in [0, 8]. */
static inline __m256i mask32(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Lanes [first, first + 4) of a 64-bit mask of lanes [0, n). */
static inline __m256i mask64(int64_t n, int64_t first) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n - first), _mm256_setr_epi64x(0, 1, 2, 3));
}

/* The even (odd) elements of the 16 floats lo:hi, in order. */
static inline __m256 even_of(__m256 lo, __m256 hi) {
    __m256 s = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}
static inline __m256 odd_of(__m256 lo, __m256 hi) {
    __m256 s = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* Loads the 2n floats of a row that n outputs cover (n in [1, 8]) as lo:hi. */
static inline void load_pairs(const float *r, int64_t n, __m256 *lo, __m256 *hi) {
    if (n == 8) {
        *lo = _mm256_loadu_ps(r);
        *hi = _mm256_loadu_ps(r + 8);
    } else {
        *lo = _mm256_maskload_ps(r, mask32(2 * n));
        *hi = _mm256_maskload_ps(r + 8, mask32(2 * n - 8));
    }
}

void cpu_max_pool_2x2_f32_avx2(const float *in, float *out, int64_t *idx, int64_t w, int64_t oh,
                               int64_t ow) {
    const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i vw = _mm256_set1_epi32((int)w);
    for (int64_t y = 0; y < oh; y++) {
        const float *r0 = in + 2 * y * w, *r1 = r0 + w;
        float *o = out + y * ow;
        int64_t *ix = idx + y * ow;
        for (int64_t x = 0; x < ow; x += 8) {
            int64_t n = ow - x < 8 ? ow - x : 8;
            __m256 a_lo, a_hi, b_lo, b_hi;
            load_pairs(r0 + 2 * x, n, &a_lo, &a_hi);
            load_pairs(r1 + 2 * x, n, &b_lo, &b_hi);
            /* taps in row-major order: (0, 0), (0, 1), (1, 0), (1, 1) */
            __m256 taps[4] = {even_of(a_lo, a_hi), odd_of(a_lo, a_hi), even_of(b_lo, b_hi),
                              odd_of(b_lo, b_hi)};
            __m256 best = taps[0];
            __m256i code = _mm256_setzero_si256();
            for (int t = 1; t < 4; t++) {
                __m256 take = _mm256_or_ps(_mm256_cmp_ps(taps[t], best, _CMP_GT_OQ),
                                           _mm256_cmp_ps(taps[t], taps[t], _CMP_UNORD_Q));
                best = _mm256_blendv_ps(best, taps[t], take);
                code = _mm256_blendv_epi8(code, _mm256_set1_epi32(t), _mm256_castps_si256(take));
            }
            /* offset = (2y + code / 2) w + 2x + 2 lane + code % 2 */
            __m256i off = _mm256_add_epi32(_mm256_set1_epi32((int)(2 * y * w + 2 * x)), lane2);
            off = _mm256_add_epi32(off, _mm256_and_si256(code, _mm256_set1_epi32(1)));
            off = _mm256_add_epi32(off, _mm256_mullo_epi32(_mm256_srli_epi32(code, 1), vw));
            __m256i i0 = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(off));
            __m256i i1 = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(off, 1));
            if (n == 8) {
                _mm256_storeu_ps(o + x, best);
                _mm256_storeu_si256((__m256i *)(ix + x), i0);
                _mm256_storeu_si256((__m256i *)(ix + x + 4), i1);
            } else { /* through a buffer: masked stores are slow on some CPUs (AMD's) */
                float ob[8];
                int64_t ib[8];
                _mm256_storeu_ps(ob, best);
                _mm256_storeu_si256((__m256i *)ib, i0);
                _mm256_storeu_si256((__m256i *)(ib + 4), i1);
                memcpy(o + x, ob, (size_t)n * sizeof(float));
                memcpy(ix + x, ib, (size_t)n * sizeof(int64_t));
            }
        }
    }
}

/* The low (high) 32 bits of the eight 64-bit lanes a:b, in order. */
static inline __m256i low_halves(__m256i a, __m256i b) {
    const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    return _mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(a, pick),
                                     _mm256_permutevar8x32_epi32(b, pick), 0x20);
}
static inline __m256i high_halves(__m256i a, __m256i b) {
    const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    return _mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(a, pick),
                                     _mm256_permutevar8x32_epi32(b, pick), 0x31);
}

/* Stores x0[0], x1[0], x0[1], x1[1], ... (2n floats, n in [1, 8]) at r. */
static inline void store_pairs(float *r, int64_t n, __m256 x0, __m256 x1) {
    __m256 lo = _mm256_unpacklo_ps(x0, x1), hi = _mm256_unpackhi_ps(x0, x1);
    __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20), second = _mm256_permute2f128_ps(lo, hi, 0x31);
    if (n == 8) {
        _mm256_storeu_ps(r, first);
        _mm256_storeu_ps(r + 8, second);
    } else { /* through a buffer, as above */
        float b[16];
        _mm256_storeu_ps(b, first);
        _mm256_storeu_ps(b + 8, second);
        memcpy(r, b, (size_t)(2 * n) * sizeof(float));
    }
}

bool cpu_max_pool_2x2_backward_f32_avx2(float *gi, const float *go, const int64_t *idx, int64_t h,
                                        int64_t w, int64_t oh, int64_t ow) {
    const __m256i lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i zero_i = _mm256_setzero_si256();
    const __m256 zero = _mm256_setzero_ps();
    const __m256i one = _mm256_set1_epi32(1), vw = _mm256_set1_epi32((int)w),
                  vw1 = _mm256_set1_epi32((int)w + 1);
    for (int64_t y = 0; y < oh; y++) {
        float *r0 = gi + 2 * y * w, *r1 = r0 + w;
        const float *g = go + y * ow;
        const int64_t *ix = idx + y * ow;
        for (int64_t x = 0; x < ow; x += 8) {
            int64_t n = ow - x < 8 ? ow - x : 8;
            __m256 gv;
            __m256i i0, i1, active;
            if (n == 8) {
                gv = _mm256_loadu_ps(g + x);
                i0 = _mm256_loadu_si256((const __m256i *)(ix + x));
                i1 = _mm256_loadu_si256((const __m256i *)(ix + x + 4));
                active = _mm256_set1_epi32(-1);
            } else {
                active = mask32(n);
                gv = _mm256_maskload_ps(g + x, active);
                i0 = _mm256_maskload_epi64((const long long *)(ix + x), mask64(n, 0));
                i1 = _mm256_maskload_epi64((const long long *)(ix + x + 4), mask64(n, 4));
            }
            /* each index relative to its window's first cell: 0, 1, w or w + 1 */
            __m256i base = _mm256_add_epi32(_mm256_set1_epi32((int)(2 * y * w + 2 * x)), lane2);
            __m256i rel = _mm256_sub_epi32(low_halves(i0, i1), base);
            __m256i m0 = _mm256_cmpeq_epi32(rel, zero_i), m1 = _mm256_cmpeq_epi32(rel, one);
            __m256i m2 = _mm256_cmpeq_epi32(rel, vw), m3 = _mm256_cmpeq_epi32(rel, vw1);
            __m256i ok = _mm256_or_si256(_mm256_or_si256(m0, m1), _mm256_or_si256(m2, m3));
            ok = _mm256_and_si256(ok, _mm256_cmpeq_epi32(high_halves(i0, i1), zero_i));
            if (_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_andnot_si256(ok, active))))
                return false; /* an index outside its window: the caller's generic path */
            /* 0 + g where the index points, as the generic kernel's zero fill and add (which
             * turns -0 into +0), and 0 elsewhere */
            __m256 v0 = _mm256_add_ps(_mm256_and_ps(_mm256_castsi256_ps(m0), gv), zero);
            __m256 v1 = _mm256_add_ps(_mm256_and_ps(_mm256_castsi256_ps(m1), gv), zero);
            __m256 v2 = _mm256_add_ps(_mm256_and_ps(_mm256_castsi256_ps(m2), gv), zero);
            __m256 v3 = _mm256_add_ps(_mm256_and_ps(_mm256_castsi256_ps(m3), gv), zero);
            store_pairs(r0 + 2 * x, n, v0, v1);
            store_pairs(r1 + 2 * x, n, v2, v3);
        }
        for (int64_t c = 2 * ow; c < w; c++) /* the column no window covers */
            r0[c] = r1[c] = 0;
    }
    for (int64_t c = 2 * oh * w; c < h * w; c++) /* the row no window covers */
        gi[c] = 0;
    return true;
}

/* Average pooling: each lane is one output's sum, its window's cells added from 0 in row-major
 * order, then divided: the portable loop's operations, eight outputs at a time. A row's cells
 * for eight windows are one load at a horizontal stride of 1, else one gather. */
void cpu_avg_pool_inside_f32_avx2(const float *in, float *out, int64_t w, int64_t oh, int64_t ow,
                                  int64_t kh, int64_t kw, int64_t sh, int64_t sw, float divisor) {
    const __m256 dv = _mm256_set1_ps(divisor);
    const __m256i lanes =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)sw));
    for (int64_t y = 0; y < oh; y++) {
        const float *row = in + y * sh * w;
        float *o = out + y * ow;
        int64_t x = 0;
        for (; x + 8 <= ow; x += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int64_t i = 0; i < kh; i++) {
                const float *p = row + i * w + x * sw;
                if (sw == 1)
                    for (int64_t j = 0; j < kw; j++)
                        acc = _mm256_add_ps(acc, _mm256_loadu_ps(p + j));
                else
                    for (int64_t j = 0; j < kw; j++)
                        acc = _mm256_add_ps(acc, _mm256_i32gather_ps(p + j, lanes, 4));
            }
            _mm256_storeu_ps(o + x, _mm256_div_ps(acc, dv));
        }
        for (; x < ow; x++) {
            float sum = 0;
            for (int64_t i = 0; i < kh; i++)
                for (int64_t j = 0; j < kw; j++)
                    sum += row[i * w + x * sw + j];
            o[x] = sum / divisor;
        }
    }
}
