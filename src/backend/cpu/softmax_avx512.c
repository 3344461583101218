/* AVX-512 softmax and log-softmax over one contiguous f32 row, forward and backward, for
 * softmax.c at CPU_LEVEL_AVX512. The passes are those of softmax_avx2.c with one 16-lane vector
 * where it has two of 8, and the sums are taken in its order, a block of 64 elements at a time:
 * the block's 16-lane vectors E0..E3 are its 8-lane pairs (v0 v1)..(v6 v7), so
 * (E0 + E1) + (E2 + E3) holds (v0 + v2) + (v4 + v6) in its low half and (v1 + v3) + (v5 + v7) in
 * its high half, the two that softmax_avx2.c adds (for softmax's backward the products chained
 * by fma, E0 F0 + E1 F1 + ..., are its even and odd chains the same way); and the 8 double
 * accumulators are its two of 4. The exps (v16_exp, v16_exp_fast) give vm_exp's bits lane for
 * lane, and the rest is elementwise, so both levels give the same bits. A block's exps take the
 * fast path at once when the row's max is finite (then every x - max is <= 0 and not NaN) and
 * the block's least x - max is not below -VM_EXP_FAST_MAX, which is where v16_exp would take it
 * for all 64 lanes; otherwise each vector goes through v16_exp, which picks the path per 8-lane
 * half as vm_exp does. Large outputs are written by streaming stores as in softmax_avx2.c (its
 * comment says why). The prefetch helpers are always inlined: GCC takes a function that only
 * prefetches for one without effects and deletes its calls. */
#include <math.h>
#include <stdint.h>

#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/vmath_avx512.h"

/* Prefetches the 64-byte line at byte offset off of p into L2 (p NULL: nothing). */
VM_ALWAYS_INLINE void prefetch_l2(const float *p, int64_t off) {
    if (p) _mm_prefetch((const char *)p + off, _MM_HINT_T1);
}

/* Prefetches the four 64-byte lines of a 64-element block of p from byte offset off into L2. */
VM_ALWAYS_INLINE void prefetch_block_l2(const float *p, int64_t off) {
    if (!p) return;
    for (int k = 0; k < 4; k++)
        _mm_prefetch((const char *)p + off + 64 * k, _MM_HINT_T1);
}

/* s (eight double accumulators) plus the 16 lanes of q folded to 8 (low half + high half). */
static inline __m512d acc_fold(__m512d s, __m512 q) {
    return _mm512_add_pd(s, _mm512_cvtps_pd(_mm256_add_ps(v16_lo(q), v16_hi(q))));
}

/* The sum of the accumulators, as softmax_avx2.c's hsum_pd(s0 + s1) with s0, s1 the halves. */
static inline double acc_total(__m512d s) {
    __m256d v = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

/* A block of 64 floats as four vectors. */
typedef struct vec4 {
    __m512 v0, v1, v2, v3;
} vec4;

/* e^d through v16_exp, out of line so that the fast loops keep their registers. */
__attribute__((noinline)) static vec4 exp4_slow(__m512 d0, __m512 d1, __m512 d2, __m512 d3) {
    return (vec4){v16_exp(d0), v16_exp(d1), v16_exp(d2), v16_exp(d3)};
}

/* e^(x - m) over the full block at x. With `finite` (m finite) every x - m is <= 0 and not NaN,
 * so all 64 lanes are within v16_exp's fast path when the least of them is >= -VM_EXP_FAST_MAX,
 * and that one test stands for the four that v16_exp would make; otherwise each vector goes
 * through v16_exp. */
VM_ALWAYS_INLINE vec4 exp_block(const float *x, __m512 m, bool finite) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x), m),
           d1 = _mm512_sub_ps(_mm512_loadu_ps(x + 16), m);
    __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(x + 32), m),
           d3 = _mm512_sub_ps(_mm512_loadu_ps(x + 48), m);
    __m512 least = _mm512_min_ps(_mm512_min_ps(d0, d1), _mm512_min_ps(d2, d3));
    if (__builtin_expect(
            finite && !_mm512_cmp_ps_mask(least, _mm512_set1_ps(-VM_EXP_FAST_MAX), _CMP_LT_OQ), 1))
        return (vec4){v16_exp_fast(d0), v16_exp_fast(d1), v16_exp_fast(d2), v16_exp_fast(d3)};
    return exp4_slow(d0, d1, d2, d3);
}

/* Vector k of the last partial block, the r < 64 elements at x (lanes from r on 0). */
VM_ALWAYS_INLINE __m512 load_tail(const float *x, int64_t r, int k) {
    return 16 * k < r ? _mm512_maskz_loadu_ps(v16_mask(r - 16 * k), x + 16 * k)
                      : _mm512_setzero_ps();
}

/* e^(x - m) over the last partial block: lanes from r on are 0 (vectors wholly past r are not
 * computed); the lanes loaded as 0 are those softmax_avx2.c loads as 0, so that the 8-lane
 * halves take its paths. */
static vec4 exp_tail(const float *x, int64_t r, __m512 m) {
    __m512 e[4];
    for (int k = 0; k < 4; k++) {
        e[k] = _mm512_setzero_ps();
        if (16 * k < r) {
            __mmask16 mask = v16_mask(r - 16 * k);
            e[k] = _mm512_maskz_mov_ps(
                mask, v16_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + 16 * k), m)));
        }
    }
    return (vec4){e[0], e[1], e[2], e[3]};
}

/* The block's tree: (v0 + v1) + (v2 + v3). */
VM_ALWAYS_INLINE __m512 block_sum(vec4 b) {
    return _mm512_add_ps(_mm512_add_ps(b.v0, b.v1), _mm512_add_ps(b.v2, b.v3));
}

VM_ALWAYS_INLINE void store_block(float *y, vec4 b) {
    _mm512_storeu_ps(y, b.v0);
    _mm512_storeu_ps(y + 16, b.v1);
    _mm512_storeu_ps(y + 32, b.v2);
    _mm512_storeu_ps(y + 48, b.v3);
}

/* Stores the first r < 64 elements of the block. */
static void store_tail(float *y, vec4 b, int64_t r) {
    __m512 v[4] = {b.v0, b.v1, b.v2, b.v3};
    for (int k = 0; 16 * k < r; k++)
        _mm512_mask_storeu_ps(y + 16 * k, v16_mask(r - 16 * k), v[k]);
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

/* The row's max for the exps: an all -inf row gets 0, to avoid inf - inf (its result is NaN). */
static float exp_max(const float *x, int64_t n) {
    float m = row_max(x, n);
    return m == -INFINITY ? 0 : m;
}

/* sum over the row of e^(x - m) (stored into y unless y is NULL), in double, in softmax_avx2.c's
 * order; the next row is prefetched one line per 16 elements, and so is `out` (or NULL). */
static double exp_pass(float *y, const float *x, int64_t n, float mf, const float *next,
                       const float *out) {
    const __m512 m = _mm512_set1_ps(mf);
    const bool finite = isfinite(mf);
    __m512d s = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        prefetch_block_l2(next, 4 * i);
        if (out)
            for (int k = 0; k < 4; k++)
                _mm_prefetch((const char *)(out + i + 16 * k), _MM_HINT_T0);
        vec4 e = exp_block(x + i, m, finite);
        if (y) store_block(y + i, e);
        s = acc_fold(s, block_sum(e));
    }
    if (i < n) {
        vec4 e = exp_tail(x + i, n - i, m);
        if (y) store_tail(y + i, e, n - i);
        s = acc_fold(s, block_sum(e));
    }
    return acc_total(s);
}

/* y = src - a - b (log) or y = src a (src the exps) for one vector v of src. */
VM_ALWAYS_INLINE __m512 final_op(__m512 v, bool log, __m512 a, __m512 b) {
    return log ? _mm512_sub_ps(_mm512_sub_ps(v, a), b) : _mm512_mul_ps(v, a);
}

/* y = final_op(src) over [i, n) of the row, y may be src; streaming stores if nt (y + i then on
 * a 64-byte boundary) or ordinary ones, the last partial vector masked. */
VM_ALWAYS_INLINE void final_pass(float *y, const float *src, int64_t i, int64_t n, bool log,
                                 bool nt, __m512 a, __m512 b) {
    for (; i + 16 <= n; i += 16) {
        __m512 v = final_op(_mm512_loadu_ps(src + i), log, a, b);
        if (nt)
            _mm512_stream_ps(y + i, v);
        else
            _mm512_storeu_ps(y + i, v);
    }
    if (i < n) {
        __mmask16 k = v16_mask(n - i);
        _mm512_mask_storeu_ps(y + i, k, final_op(_mm512_maskz_loadu_ps(k, src + i), log, a, b));
    }
}

/* Where the streaming stores of a row of n at y begin: y's first 64-byte boundary (the elements
 * before it are stored ordinarily), or n when y is not 4-byte aligned. */
static int64_t stream_head(const float *y, int64_t n) {
    if ((uintptr_t)y & 3u) return n;
    int64_t h = (int64_t)(((64u - ((uintptr_t)y & 63u)) & 63u) >> 2);
    return h < n ? h : n;
}

/* v as f32 hi + lo (lo = v - hi rounded), as softmax_avx2.c's split_f32. */
static inline void split_f32(double v, float *hi, float *lo) {
    *hi = (float)v;
    *lo = (float)(v - (double)*hi);
}

void cpu_softmax_row_f32_avx512(float *y, const float *x, int64_t n, bool log, const float *next) {
    float mf = exp_max(x, n);
    if (log) {
        /* the exp pass prefetches the next row and the output row, as softmax_avx2.c's */
        double sum = exp_pass(NULL, x, n, mf, next, y != x ? y : NULL);
        float hi, lo;
        split_f32((double)mf + __builtin_log(sum), &hi, &lo);
        final_pass(y, x, 0, n, true, false, _mm512_set1_ps(hi), _mm512_set1_ps(lo));
        return;
    }
    double sum = exp_pass(y, x, n, mf, next, NULL);
    final_pass(y, y, 0, n, false, false, _mm512_set1_ps((float)(1.0 / sum)), _mm512_setzero_ps());
}

/* cpu_softmax_row_stream_f32_avx512 for one kind (log constant, so the loop is specialized). */
VM_ALWAYS_INLINE void stream_row(cpu_softmax_stream *st, float *y, const float *x, int64_t n,
                                 const float *next, bool log) {
    float mf = exp_max(x, n);
    float *e = log ? NULL : st->scratch[st->cur];
    /* the pending row's output, written one block per block of this row's exps from its first
     * 64-byte boundary on (the elements before it now) */
    float *py = st->y;
    const float *ps = st->src;
    int64_t pn = py ? st->n : 0, j = py ? stream_head(py, pn) : 0;
    const __m512 pa = _mm512_set1_ps(st->a), pb = _mm512_set1_ps(st->b);
    if (py) final_pass(py, ps, 0, j, log, false, pa, pb);
    const __m512 m = _mm512_set1_ps(mf);
    const bool finite = isfinite(mf);
    __m512d s = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        prefetch_block_l2(next, 4 * i);
        vec4 v = exp_block(x + i, m, finite);
        if (!log) store_block(e + i, v);
        s = acc_fold(s, block_sum(v));
        if (j + 64 <= pn) {
            _mm512_stream_ps(py + j, final_op(_mm512_loadu_ps(ps + j), log, pa, pb));
            _mm512_stream_ps(py + j + 16, final_op(_mm512_loadu_ps(ps + j + 16), log, pa, pb));
            _mm512_stream_ps(py + j + 32, final_op(_mm512_loadu_ps(ps + j + 32), log, pa, pb));
            _mm512_stream_ps(py + j + 48, final_op(_mm512_loadu_ps(ps + j + 48), log, pa, pb));
            j += 64;
        }
    }
    if (i < n) { /* the same arithmetic as exp_pass's tail */
        vec4 v = exp_tail(x + i, n - i, m);
        if (!log) store_tail(e + i, v, n - i);
        s = acc_fold(s, block_sum(v));
    }
    if (py) final_pass(py, ps, j, pn, log, true, pa, pb);
    double sum = acc_total(s);
    /* this row is now the pending one */
    st->y = y;
    st->src = log ? x : e;
    st->n = n;
    if (log) {
        split_f32((double)mf + __builtin_log(sum), &st->a, &st->b);
    } else {
        st->a = (float)(1.0 / sum);
        st->b = 0;
    }
    st->cur ^= 1;
}

void cpu_softmax_row_stream_f32_avx512(cpu_softmax_stream *st, float *y, const float *x, int64_t n,
                                       const float *next) {
    if (st->log)
        stream_row(st, y, x, n, next, true);
    else
        stream_row(st, y, x, n, next, false);
}

void cpu_softmax_stream_flush_f32_avx512(cpu_softmax_stream *st) {
    if (!st->y) return;
    const __m512 a = _mm512_set1_ps(st->a), b = _mm512_set1_ps(st->b);
    int64_t h = stream_head(st->y, st->n);
    final_pass(st->y, st->src, 0, h, st->log, false, a, b);
    final_pass(st->y, st->src, h, st->n, st->log, true, a, b);
    st->y = NULL;
}

/* The backward's sum over the block of 64 at g (and y): for log_softmax the tree of g as the
 * forward's, for softmax the products chained by fma, (((g0 y0 + g1 y1) + g2 y2) + g3 y3) per
 * lane; r < 64 (the last partial block): lanes from r on are 0. */
VM_ALWAYS_INLINE __m512 grad_block_sum(const float *g, const float *y, int64_t r, bool log) {
#define LD(p, k) (r >= 64 ? _mm512_loadu_ps((p) + 16 * (k)) : load_tail((p), r, (k)))
    if (log) return block_sum((vec4){LD(g, 0), LD(g, 1), LD(g, 2), LD(g, 3)});
    __m512 p = _mm512_mul_ps(LD(g, 0), LD(y, 0));
    p = _mm512_fmadd_ps(LD(g, 1), LD(y, 1), p);
    p = _mm512_fmadd_ps(LD(g, 2), LD(y, 2), p);
    return _mm512_fmadd_ps(LD(g, 3), LD(y, 3), p);
#undef LD
}

/* softmax_avx2.c's exp_lanes on 16 lanes: each lane's bits independent of its neighbours. */
VM_ALWAYS_INLINE __m512 exp_lanes(__m512 y) {
    __mmask16 out =
        _mm512_cmp_ps_mask(_mm512_abs_ps(y), _mm512_set1_ps(VM_EXP_FAST_MAX), _CMP_NLE_UQ);
    if (__builtin_expect(!out, 1)) return v16_exp_fast(y);
    return _mm512_mask_blend_ps(out, v16_exp_fast(y), V16_HALVES(vm_exp_exact, y));
}

/* One vector of the input gradient: g - exp(y) hi - exp(y) lo (log) or y (g - hi - lo). */
VM_ALWAYS_INLINE __m512 grad_op(__m512 g, __m512 y, bool log, __m512 hi, __m512 lo) {
    if (log) {
        __m512 e = exp_lanes(y);
        return _mm512_fnmadd_ps(e, lo, _mm512_fnmadd_ps(e, hi, g));
    }
    return _mm512_mul_ps(y, _mm512_sub_ps(_mm512_sub_ps(g, hi), lo));
}

/* The input gradient over [i, end) of the row, by streaming stores if nt (gi + i then on a
 * 64-byte boundary) or ordinary ones, the last partial vector masked; the next rows are
 * prefetched one line of each per 16 elements. */
VM_ALWAYS_INLINE void grad_pass(float *gi, const float *g, const float *y, int64_t i, int64_t end,
                                bool log, bool nt, __m512 hi, __m512 lo, const float *next_g,
                                const float *next_y) {
    for (; i + 16 <= end; i += 16) {
        prefetch_l2(next_g, 4 * i);
        prefetch_l2(next_y, 4 * i);
        __m512 r = grad_op(_mm512_loadu_ps(g + i), _mm512_loadu_ps(y + i), log, hi, lo);
        if (nt)
            _mm512_stream_ps(gi + i, r);
        else
            _mm512_storeu_ps(gi + i, r);
    }
    if (i < end) {
        __mmask16 k = v16_mask(end - i);
        __m512 r =
            grad_op(_mm512_maskz_loadu_ps(k, g + i), _mm512_maskz_loadu_ps(k, y + i), log, hi, lo);
        _mm512_mask_storeu_ps(gi + i, k, r);
    }
}

VM_ALWAYS_INLINE void backward_row(float *gi, const float *g, const float *y, int64_t n, bool log,
                                   bool stream, const float *next_g, const float *next_y) {
    /* s = sum(g) for log_softmax, sum(g * y) for softmax, in double, in softmax_avx2.c's order */
    __m512d s = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        s = acc_fold(s, grad_block_sum(g + i, y + i, 64, log));
    if (i < n) s = acc_fold(s, grad_block_sum(g + i, y + i, n - i, log));
    float hs, ls;
    split_f32(acc_total(s), &hs, &ls);
    const __m512 hi = _mm512_set1_ps(hs), lo = _mm512_set1_ps(ls);
    /* streamed: the elements before gi's first 64-byte boundary stored ordinarily (all of them
     * when gi is not 4-byte aligned), the rest by streaming stores */
    int64_t h = stream ? stream_head(gi, n) : n;
    grad_pass(gi, g, y, 0, h, log, false, hi, lo, next_g, next_y);
    grad_pass(gi, g, y, h, n, log, true, hi, lo, next_g, next_y);
}

void cpu_softmax_backward_row_f32_avx512(float *gi, const float *g, const float *y, int64_t n,
                                         bool log, bool stream, const float *next_g,
                                         const float *next_y) {
    /* the loops specialized for each kind and for streaming stores or not */
    if (log)
        backward_row(gi, g, y, n, true, stream, next_g, next_y);
    else
        backward_row(gi, g, y, n, false, stream, next_g, next_y);
}
