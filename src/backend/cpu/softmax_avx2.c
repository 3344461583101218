/* AVX2 softmax and log-softmax over one contiguous f32 row, forward and backward, for
 * softmax.c. The forward makes three passes over the row (max; exp and sum; scale or subtract),
 * the backward two (the row's dot or sum; the gradient); the row (16 KiB at 4096) stays in L1/L2
 * between them, so only the first pass reads memory, and the next row is prefetched into L2
 * during the arithmetic of the later passes so that the memory never idles. The exps are
 * computed in f32 (vmath_avx2.h, 1 ulp) and the sums accumulated in double (pairs of f32 terms
 * first). Where the result is a difference that would lose relative accuracy in f32
 * (log_softmax's x - lse, the backward kernels' g - s), the subtrahend is split into f32 hi + lo
 * (hi + lo = the double to 2^-48), and x - hi - lo rounds about once: x - hi is exact where x and
 * hi are close (Sterbenz), and where they are not the result is as large as the operands. Only
 * the last partial vector of a row is masked (masked stores are slow on AMD). Large outputs
 * (stream.h) are written once, by streaming stores, so their lines are never read for
 * ownership; and a row's output is written during the next row's exp pass (softmax keeps the
 * exps in a scratch row meanwhile), so that the writes overlap the arithmetic instead of
 * following it while the memory idles. */
#include <math.h>
#include <stdint.h>

#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/vmath_avx2.h"

static inline __m256i tail_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* Adds the 8 lanes of v to the two double accumulators. */
static inline void acc_pd(__m256d *s0, __m256d *s1, __m256 v) {
    *s0 = _mm256_add_pd(*s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    *s1 = _mm256_add_pd(*s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

/* Prefetches the 64-byte line at byte offset off of p into L2 (p NULL: nothing). */
static inline void prefetch_l2(const float *p, int64_t off) {
    if (p) _mm_prefetch((const char *)p + off, _MM_HINT_T1);
}

/* The row's max; NaN if any element is NaN. */
static float row_max(const float *x, int64_t n) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m0 = ninf, m1 = ninf, nan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
        m0 = _mm256_max_ps(a, m0);
        m1 = _mm256_max_ps(b, m1);
    }
    for (; i < n; i += 8) {
        __m256i mask = tail_mask(n - i);
        __m256 a = _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + i, mask), _mm256_castsi256_ps(mask));
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
        m0 = _mm256_max_ps(a, m0);
    }
    if (!_mm256_testz_ps(nan, nan)) return NAN;
    m0 = _mm256_max_ps(m0, m1);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* sum over the row of e^(x - m) (stored into y unless y is NULL), in double; the next row is
 * prefetched one line per 16 elements, and so is the row `out` that a later pass will write
 * (NULL: none), so its lines arrive while the exps compute instead of during that pass. */
static double exp_pass(float *y, const float *x, int64_t n, float mf, const float *next,
                       const float *out) {
    __m256 m = _mm256_set1_ps(mf);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        prefetch_l2(next, 4 * i);
        if (out) _mm_prefetch((const char *)(out + i), _MM_HINT_T0);
        __m256 a = vm_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        __m256 b = vm_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m));
        if (y) {
            _mm256_storeu_ps(y + i, a);
            _mm256_storeu_ps(y + i + 8, b);
        }
        acc_pd(&s0, &s1, _mm256_add_ps(a, b));
    }
    for (; i < n; i += 8) {
        __m256i mask = tail_mask(n - i);
        __m256 e = vm_exp(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), m));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
        if (y) _mm256_maskstore_ps(y + i, mask, e);
        acc_pd(&s0, &s1, e);
    }
    return hsum_pd(_mm256_add_pd(s0, s1));
}

/* v as f32 hi + lo (lo = v - hi rounded). */
static inline void split_f32(double v, __m256 *hi, __m256 *lo) {
    float h = (float)v;
    *hi = _mm256_set1_ps(h);
    *lo = _mm256_set1_ps((float)(v - (double)h));
}

/* y = x - hi - lo over the row (y may be x). */
static void sub_pass(float *y, const float *x, int64_t n, __m256 hi, __m256 lo) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), hi), lo);
        __m256 b = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), hi), lo);
        _mm256_storeu_ps(y + i, a);
        _mm256_storeu_ps(y + i + 8, b);
    }
    for (; i < n; i += 8) {
        __m256i mask = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, mask, _mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), hi), lo));
    }
}

/* y = src - a - b (log) or y = src a (src the exps) for one element vector v of src. */
static inline __m256 final_op(__m256 v, bool log, __m256 a, __m256 b) {
    return log ? _mm256_sub_ps(_mm256_sub_ps(v, a), b) : _mm256_mul_ps(v, a);
}

/* The start of a streamed row's output: the elements before y's first 32-byte boundary, stored
 * masked; returns where the streaming stores begin (n, having stored the whole row ordinarily,
 * when y is not 4-byte aligned). Each element's arithmetic is that of the ordinary passes, so
 * the bits are theirs. */
static int64_t stream_start(float *y, const float *src, int64_t n, bool log, __m256 a, __m256 b) {
    if ((uintptr_t)y & 3u) {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, final_op(_mm256_loadu_ps(src + i), log, a, b));
        if (i < n) {
            __m256i mask = tail_mask(n - i);
            _mm256_maskstore_ps(y + i, mask, final_op(_mm256_maskload_ps(src + i, mask), log, a, b));
        }
        return n;
    }
    int64_t h = (int64_t)(((32u - ((uintptr_t)y & 31u)) & 31u) >> 2);
    h = h < n ? h : n;
    if (h) {
        __m256i mask = tail_mask(h);
        _mm256_maskstore_ps(y, mask, final_op(_mm256_maskload_ps(src, mask), log, a, b));
    }
    return h;
}

/* The rest of a streamed row's output from j (a 32-byte boundary of y, from stream_start):
 * streaming stores, the last partial vector masked. */
static void stream_rest(float *y, const float *src, int64_t n, int64_t j, bool log, __m256 a,
                        __m256 b) {
    for (; j + 8 <= n; j += 8) _mm256_stream_ps(y + j, final_op(_mm256_loadu_ps(src + j), log, a, b));
    if (j < n) {
        __m256i mask = tail_mask(n - j);
        _mm256_maskstore_ps(y + j, mask, final_op(_mm256_maskload_ps(src + j, mask), log, a, b));
    }
}

void cpu_softmax_row_f32_avx2(float *y, const float *x, int64_t n, bool log, const float *next) {
    float mf = row_max(x, n);
    if (mf == -INFINITY) mf = 0; /* an all -inf row: avoid inf - inf (the result is NaN anyway) */
    /* the exp pass prefetches the next row (one line per 16 elements) */
    double sum = exp_pass(log ? NULL : y, x, n, mf, next, log && y != x ? y : NULL);
    if (log) {
        __m256 hi, lo;
        split_f32((double)mf + __builtin_log(sum), &hi, &lo);
        sub_pass(y, x, n, hi, lo);
        return;
    }
    __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inv));
        _mm256_storeu_ps(y + i + 8, _mm256_mul_ps(_mm256_loadu_ps(y + i + 8), inv));
    }
    for (; i < n; i += 8) {
        __m256i mask = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, mask, _mm256_mul_ps(_mm256_maskload_ps(y + i, mask), inv));
    }
}

void cpu_softmax_row_stream_f32_avx2(cpu_softmax_stream *st, float *y, const float *x, int64_t n,
                                     const float *next) {
    float mf = row_max(x, n);
    if (mf == -INFINITY) mf = 0; /* an all -inf row: avoid inf - inf (the result is NaN anyway) */
    bool log = st->log;
    float *e = log ? NULL : st->scratch[st->cur];
    /* the pending row's output, written two vectors per step of this row's exps */
    float *py = st->y;
    const float *ps = st->src;
    int64_t pn = st->n, j = 0;
    const __m256 pa = _mm256_set1_ps(st->a), pb = _mm256_set1_ps(st->b);
    if (py) j = stream_start(py, ps, pn, log, pa, pb);
    const __m256 m = _mm256_set1_ps(mf);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        prefetch_l2(next, 4 * i);
        __m256 a = vm_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        __m256 b = vm_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m));
        if (e) {
            _mm256_storeu_ps(e + i, a);
            _mm256_storeu_ps(e + i + 8, b);
        }
        acc_pd(&s0, &s1, _mm256_add_ps(a, b));
        if (py && j + 16 <= pn) {
            __m256 u = final_op(_mm256_loadu_ps(ps + j), log, pa, pb);
            __m256 v = final_op(_mm256_loadu_ps(ps + j + 8), log, pa, pb);
            _mm256_stream_ps(py + j, u);
            _mm256_stream_ps(py + j + 8, v);
            j += 16;
        }
    }
    for (; i < n; i += 8) { /* the same arithmetic as exp_pass's tail */
        __m256i mask = tail_mask(n - i);
        __m256 v = vm_exp(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), m));
        v = _mm256_and_ps(v, _mm256_castsi256_ps(mask));
        if (e) _mm256_maskstore_ps(e + i, mask, v);
        acc_pd(&s0, &s1, v);
    }
    if (py) stream_rest(py, ps, pn, j, log, pa, pb);
    double sum = hsum_pd(_mm256_add_pd(s0, s1));
    /* this row is now the pending one */
    st->y = y;
    st->src = log ? x : e;
    st->n = n;
    if (log) {
        double v = (double)mf + __builtin_log(sum);
        st->a = (float)v;
        st->b = (float)(v - (double)st->a);
    } else {
        st->a = (float)(1.0 / sum);
        st->b = 0;
    }
    st->cur ^= 1;
}

void cpu_softmax_stream_flush_f32_avx2(cpu_softmax_stream *st) {
    if (!st->y) return;
    __m256 a = _mm256_set1_ps(st->a), b = _mm256_set1_ps(st->b);
    stream_rest(st->y, st->src, st->n, stream_start(st->y, st->src, st->n, st->log, a, b), st->log, a, b);
    st->y = NULL;
}

void cpu_softmax_backward_row_f32_avx2(float *gi, const float *g, const float *y, int64_t n,
                                       bool log, const float *next_g, const float *next_y) {
    /* s = sum(g) for log_softmax, sum(g * y) for softmax, in double (pairs of f32 terms first) */
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 ga = _mm256_loadu_ps(g + i), gb = _mm256_loadu_ps(g + i + 8);
        __m256 p;
        if (log) {
            p = _mm256_add_ps(ga, gb);
        } else {
            p = _mm256_mul_ps(ga, _mm256_loadu_ps(y + i));
            p = _mm256_fmadd_ps(gb, _mm256_loadu_ps(y + i + 8), p);
        }
        acc_pd(&s0, &s1, p);
    }
    for (; i < n; i += 8) {
        __m256i mask = tail_mask(n - i);
        __m256 gv = _mm256_maskload_ps(g + i, mask);
        acc_pd(&s0, &s1, log ? gv : _mm256_mul_ps(gv, _mm256_maskload_ps(y + i, mask)));
    }
    __m256 hi, lo;
    split_f32(hsum_pd(_mm256_add_pd(s0, s1)), &hi, &lo);
    /* the gradient pass prefetches both next rows, one line of each per 16 elements */
    i = 0;
    if (log) { /* g - exp(y) s */
        for (; i + 8 <= n; i += 8) {
            if (!(i & 8)) {
                prefetch_l2(next_g, 4 * i);
                prefetch_l2(next_y, 4 * i);
            }
            __m256 e = vm_exp(_mm256_loadu_ps(y + i));
            __m256 r = _mm256_fnmadd_ps(e, hi, _mm256_loadu_ps(g + i));
            _mm256_storeu_ps(gi + i, _mm256_fnmadd_ps(e, lo, r));
        }
        if (i < n) {
            __m256i mask = tail_mask(n - i);
            __m256 e = vm_exp(_mm256_maskload_ps(y + i, mask));
            __m256 r = _mm256_fnmadd_ps(e, hi, _mm256_maskload_ps(g + i, mask));
            _mm256_maskstore_ps(gi + i, mask, _mm256_fnmadd_ps(e, lo, r));
        }
    } else { /* y (g - s) */
        for (; i + 8 <= n; i += 8) {
            if (!(i & 8)) {
                prefetch_l2(next_g, 4 * i);
                prefetch_l2(next_y, 4 * i);
            }
            __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(g + i), hi), lo);
            _mm256_storeu_ps(gi + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), d));
        }
        if (i < n) {
            __m256i mask = tail_mask(n - i);
            __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(g + i, mask), hi), lo);
            _mm256_maskstore_ps(gi + i, mask, _mm256_mul_ps(_mm256_maskload_ps(y + i, mask), d));
        }
    }
}
