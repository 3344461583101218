/* AVX2 softmax and log-softmax over one contiguous f32 row, forward and backward, for
 * softmax.c. The forward makes three passes over the row (max; exp and sum; scale or subtract),
 * the backward two (the row's dot or sum; the gradient); the row (16 KiB at 4096) stays in L1/L2
 * between them, so only the first pass reads memory, and the next row is prefetched into L2
 * during the arithmetic of the later passes so that the memory never idles. The exps are
 * computed in f32 (vmath_avx2.h, 1 ulp) and the sums accumulated in double, a block of 64
 * elements at a time: the block's eight vectors v0..v7 summed in f32 as
 * ((v0 + v2) + (v4 + v6)) + ((v1 + v3) + (v5 + v7)) (softmax's backward: the products of the
 * even vectors and of the odd ones each chained by fma, then the two added), those 8 lanes added
 * to 8 double accumulators, and the last partial block taken with zeros for the missing
 * elements. Eight f32 terms first keep the relative error of a sum of positive terms below
 * 2^-22 and make the double accumulation cheap (one conversion per 64 elements, which the
 * AVX-512 exp pass needs to keep up with its exps); softmax_avx512.c sums in the same order, so
 * both levels give the same bits. Where the result is a difference that would lose relative
 * accuracy in f32 (log_softmax's x - lse, the backward kernels' g - s), the subtrahend is split
 * into f32 hi + lo (hi + lo = the double to 2^-48), and x - hi - lo rounds about once: x - hi is
 * exact where x and hi are close (Sterbenz), and where they are not the result is as large as
 * the operands. Only the last partial vector of a row is masked (masked stores are slow on AMD).
 * Large outputs (stream.h) are written once, by streaming stores, so their lines are never read
 * for ownership: the backward's from its gradient pass, the forward's a row at a time during the
 * next row's exp pass (softmax keeps the exps in a scratch row meanwhile), so that the writes
 * overlap the arithmetic instead of following it while the memory idles. */
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

/* Prefetches the 64-byte line at byte offset off of p into L2 (p NULL: nothing). Always inlined,
 * as the prefetch helpers of softmax_avx512.c (GCC deletes the calls of a function that only
 * prefetches). */
VM_ALWAYS_INLINE void prefetch_l2(const float *p, int64_t off) {
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

/* Vector k of e^(x - m) over the 64-element block at x, stored at y + 8 k unless y is NULL; r < 64
 * (the last partial block): lanes from r on are 0, and a vector wholly past r is not computed. */
VM_ALWAYS_INLINE __m256 exp_vec(float *y, const float *x, int64_t r, __m256 m, int k) {
    if (r >= 64) {
        __m256 e = vm_exp(_mm256_sub_ps(_mm256_loadu_ps(x + 8 * k), m));
        if (y) _mm256_storeu_ps(y + 8 * k, e);
        return e;
    }
    if (8 * k >= r) return _mm256_setzero_ps();
    __m256i mask = tail_mask(r - 8 * k);
    __m256 e = vm_exp(_mm256_sub_ps(_mm256_maskload_ps(x + 8 * k, mask), m));
    e = _mm256_and_ps(e, _mm256_castsi256_ps(mask));
    if (y) _mm256_maskstore_ps(y + 8 * k, mask, e);
    return e;
}

/* e^(x - m) over the block (exp_vec's), returning its f32 sum
 * ((v0 + v2) + (v4 + v6)) + ((v1 + v3) + (v5 + v7)), taken as the vectors come so that few of
 * them are live at once. */
VM_ALWAYS_INLINE __m256 exp_block(float *y, const float *x, int64_t r, __m256 m) {
    __m256 v0 = exp_vec(y, x, r, m, 0), v1 = exp_vec(y, x, r, m, 1);
    __m256 p02 = _mm256_add_ps(v0, exp_vec(y, x, r, m, 2));
    __m256 p13 = _mm256_add_ps(v1, exp_vec(y, x, r, m, 3));
    __m256 v4 = exp_vec(y, x, r, m, 4), v5 = exp_vec(y, x, r, m, 5);
    __m256 p46 = _mm256_add_ps(v4, exp_vec(y, x, r, m, 6));
    __m256 p57 = _mm256_add_ps(v5, exp_vec(y, x, r, m, 7));
    return _mm256_add_ps(_mm256_add_ps(p02, p46), _mm256_add_ps(p13, p57));
}

/* Prefetches the four 64-byte lines of a 64-element block of p from byte offset off into L2. */
VM_ALWAYS_INLINE void prefetch_block_l2(const float *p, int64_t off) {
    if (!p) return;
    for (int k = 0; k < 4; k++)
        _mm_prefetch((const char *)p + off + 64 * k, _MM_HINT_T1);
}

/* sum over the row of e^(x - m) (stored into y unless y is NULL), in double; the next row is
 * prefetched one line per 16 elements, and so is the row `out` that a later pass will write
 * (NULL: none), so its lines arrive while the exps compute instead of during that pass. */
static double exp_pass(float *y, const float *x, int64_t n, float mf, const float *next,
                       const float *out) {
    __m256 m = _mm256_set1_ps(mf);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        prefetch_block_l2(next, 4 * i);
        if (out)
            for (int k = 0; k < 4; k++)
                _mm_prefetch((const char *)(out + i + 16 * k), _MM_HINT_T0);
        acc_pd(&s0, &s1, exp_block(y ? y + i : NULL, x + i, 64, m));
    }
    if (i < n) acc_pd(&s0, &s1, exp_block(y ? y + i : NULL, x + i, n - i, m));
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
    /* the pending row's output, written one block per block of this row's exps */
    float *py = st->y;
    const float *ps = st->src;
    int64_t pn = st->n, j = 0;
    const __m256 pa = _mm256_set1_ps(st->a), pb = _mm256_set1_ps(st->b);
    if (py) j = stream_start(py, ps, pn, log, pa, pb);
    const __m256 m = _mm256_set1_ps(mf);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        prefetch_block_l2(next, 4 * i);
        acc_pd(&s0, &s1, exp_block(e ? e + i : NULL, x + i, 64, m));
        if (py && j + 64 <= pn) {
            for (int k = 0; k < 8; k++)
                _mm256_stream_ps(py + j + 8 * k,
                                 final_op(_mm256_loadu_ps(ps + j + 8 * k), log, pa, pb));
            j += 64;
        }
    }
    if (i < n) acc_pd(&s0, &s1, exp_block(e ? e + i : NULL, x + i, n - i, m)); /* as exp_pass's */
    if (py) stream_rest(py, ps, pn, j, log, pa, pb);
    double sum = hsum_pd(_mm256_add_pd(s0, s1));
    /* this row is now the pending one */
    st->y = y;
    st->src = log ? x : e;
    st->n = n;
    if (log) {
        double lse = (double)mf + __builtin_log(sum);
        st->a = (float)lse;
        st->b = (float)(lse - (double)st->a);
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

/* The backward's f32 sum over the block of 64 at g (and y): for log_softmax exp_block's tree of
 * g, for softmax ((g0 y0 + g2 y2) + g4 y4) + g6 y6 plus the same of the odd vectors, each
 * product added by fma; r < 64 (the last partial block): lanes from r on are 0. */
VM_ALWAYS_INLINE __m256 grad_block_sum(const float *g, const float *y, int64_t r, bool log) {
    /* vector k of p (g or y): all 8 lanes, or those below r (none where 8 k >= r) */
#define LD(p, k)                                                                                   \
    (r >= 64 ? _mm256_loadu_ps((p) + 8 * (k))                                                      \
             : _mm256_maskload_ps((p) + 8 * (k), tail_mask(r - 8 * (k))))
    if (log) {
        __m256 a =
            _mm256_add_ps(_mm256_add_ps(LD(g, 0), LD(g, 2)), _mm256_add_ps(LD(g, 4), LD(g, 6)));
        __m256 b =
            _mm256_add_ps(_mm256_add_ps(LD(g, 1), LD(g, 3)), _mm256_add_ps(LD(g, 5), LD(g, 7)));
        return _mm256_add_ps(a, b);
    }
    __m256 a = _mm256_mul_ps(LD(g, 0), LD(y, 0)), b = _mm256_mul_ps(LD(g, 1), LD(y, 1));
    for (int k = 2; k < 8; k += 2) {
        a = _mm256_fmadd_ps(LD(g, k), LD(y, k), a);
        b = _mm256_fmadd_ps(LD(g, k + 1), LD(y, k + 1), b);
    }
    return _mm256_add_ps(a, b);
#undef LD
}

/* e^y lane by lane: vm_exp_fast's bits where |y| <= VM_EXP_FAST_MAX, vm_exp_exact's elsewhere
 * (and for NaN). vm_exp takes one path for all eight lanes, so a lane's bits would depend on its
 * neighbours, and the streamed gradient pass (whose vectors start at the output's boundary)
 * would differ from the ordinary one; softmax_avx512.c computes the same per lane. */
static inline __m256 exp_lanes(__m256 y) {
    __m256 out = _mm256_cmp_ps(vm_abs(y), vm_set1(VM_EXP_FAST_MAX), _CMP_NLE_UQ);
    if (__builtin_expect(_mm256_testz_ps(out, out), 1)) return vm_exp_fast(y);
    return _mm256_blendv_ps(vm_exp_fast(y), vm_exp_exact(y), out);
}

/* One vector of the input gradient: g - exp(y) hi - exp(y) lo (log) or y (g - hi - lo). */
static inline __m256 grad_op(__m256 g, __m256 y, bool log, __m256 hi, __m256 lo) {
    if (log) {
        __m256 e = exp_lanes(y);
        return _mm256_fnmadd_ps(e, lo, _mm256_fnmadd_ps(e, hi, g));
    }
    return _mm256_mul_ps(y, _mm256_sub_ps(_mm256_sub_ps(g, hi), lo));
}

/* The input gradient over [i, end) of the row, by streaming stores if nt (gi + i then on a
 * 32-byte boundary) or ordinary ones, the last partial vector masked; the next rows are
 * prefetched one line of each per 16 elements. */
VM_ALWAYS_INLINE void grad_pass(float *gi, const float *g, const float *y, int64_t i, int64_t end,
                                bool log, bool nt, __m256 hi, __m256 lo, const float *next_g,
                                const float *next_y) {
    for (; i + 8 <= end; i += 8) {
        if (!(i & 8)) {
            prefetch_l2(next_g, 4 * i);
            prefetch_l2(next_y, 4 * i);
        }
        __m256 r = grad_op(_mm256_loadu_ps(g + i), _mm256_loadu_ps(y + i), log, hi, lo);
        if (nt)
            _mm256_stream_ps(gi + i, r);
        else
            _mm256_storeu_ps(gi + i, r);
    }
    if (i < end) {
        __m256i mask = tail_mask(end - i);
        __m256 r =
            grad_op(_mm256_maskload_ps(g + i, mask), _mm256_maskload_ps(y + i, mask), log, hi, lo);
        _mm256_maskstore_ps(gi + i, mask, r);
    }
}

VM_ALWAYS_INLINE void backward_row(float *gi, const float *g, const float *y, int64_t n, bool log,
                                   bool stream, const float *next_g, const float *next_y) {
    /* s = sum(g) for log_softmax, sum(g * y) for softmax, in double, by blocks */
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        acc_pd(&s0, &s1, grad_block_sum(g + i, y + i, 64, log));
    if (i < n) acc_pd(&s0, &s1, grad_block_sum(g + i, y + i, n - i, log));
    __m256 hi, lo;
    split_f32(hsum_pd(_mm256_add_pd(s0, s1)), &hi, &lo);
    /* the gradient pass prefetches both next rows; streamed, the elements before gi's first
     * 32-byte boundary are stored ordinarily (all of them when gi is not 4-byte aligned) */
    int64_t h = n;
    if (stream && !((uintptr_t)gi & 3u)) {
        h = (int64_t)(((32u - ((uintptr_t)gi & 31u)) & 31u) >> 2);
        h = h < n ? h : n;
    }
    grad_pass(gi, g, y, 0, h, log, false, hi, lo, next_g, next_y);
    grad_pass(gi, g, y, h, n, log, true, hi, lo, next_g, next_y);
}

void cpu_softmax_backward_row_f32_avx2(float *gi, const float *g, const float *y, int64_t n,
                                       bool log, bool stream, const float *next_g,
                                       const float *next_y) {
    /* the loops specialized for each kind and for streaming stores or not */
    if (log)
        backward_row(gi, g, y, n, true, stream, next_g, next_y);
    else
        backward_row(gi, g, y, n, false, stream, next_g, next_y);
}
