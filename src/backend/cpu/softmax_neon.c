/* arm64 NEON softmax and log-softmax over one contiguous f32 row, forward and backward, for
 * softmax.c: softmax_avx2.c's method on 4 lanes. The forward makes three passes over the row (the
 * max; the exps and their sum; the scaling, or x - lse), the backward two (the row's sum g y, or
 * sum g; the gradient); the row stays in L1/L2 between them, and the next row is prefetched into
 * L2 during the arithmetic-heavy pass. The exps are vmath_neon.h's (1.04 ulp; one path per vector
 * of 4, so a vector holding a value far below the row's max takes the exact path), computed in
 * f32; the sums are accumulated in double a block of 32 elements at a time: the block's eight
 * vectors v0..v7 summed in f32 as ((v0 + v2) + (v4 + v6)) + ((v1 + v3) + (v5 + v7)) (softmax's
 * backward: the products of the even vectors and of the odd ones each chained by FMA, then the
 * two added), so that each lane adds eight f32 terms first, as at AVX2, and the four lanes go
 * into two double accumulators; the elements after the last whole block are summed into one f32
 * vector first. Where the result is a difference that would lose relative accuracy in f32
 * (log_softmax's x - lse, the backward's g - s) the subtrahend is split into f32 hi + lo, as at
 * AVX2. A row's last 1-3 elements go through a padded vector whose extra lanes are set to 0 before
 * any sum. Compiled for arm64 only. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/cpu/rows_neon.h"
#include "backend/cpu/vmath_neon.h"

/* All ones in the lanes below r (r in 0..4). */
VM4_ALWAYS_INLINE uint32x4_t lanes_below(int64_t r) {
    static const uint32_t idx[4] = {0, 1, 2, 3};
    return vcltq_u32(vld1q_u32(idx), vdupq_n_u32((uint32_t)r));
}

/* The r (1 to 3) floats at p as a vector, the lanes from r on set to fill (lane loads: no call,
 * no read past the row). */
VM4_ALWAYS_INLINE float32x4_t load_part(const float *p, int64_t r, float fill) {
    float32x4_t v = vld1q_lane_f32(p, vdupq_n_f32(fill), 0);
    if (r > 1) v = vld1q_lane_f32(p + 1, v, 1);
    if (r > 2) v = vld1q_lane_f32(p + 2, v, 2);
    return v;
}

/* Stores the first r (1 to 3) lanes of v at p. */
VM4_ALWAYS_INLINE void store_part(float *p, float32x4_t v, int64_t r) {
    vst1q_lane_f32(p, v, 0);
    if (r > 1) vst1q_lane_f32(p + 1, v, 1);
    if (r > 2) vst1q_lane_f32(p + 2, v, 2);
}

/* Adds the four lanes of v to the two double accumulators. */
VM4_ALWAYS_INLINE void acc_pd(float64x2_t *s0, float64x2_t *s1, float32x4_t v) {
    *s0 = vaddq_f64(*s0, vcvt_f64_f32(vget_low_f32(v)));
    *s1 = vaddq_f64(*s1, vcvt_high_f64_f32(v));
}

/* Prefetches the 64-byte line holding element i of p into L2 (p NULL: nothing). Always inlined,
 * as at AVX2 (a function that only prefetches may be dropped). */
VM4_ALWAYS_INLINE void prefetch_l2(const float *p, int64_t i) {
    if (p) __builtin_prefetch(p + i, 0, 2);
}

/* The row's max; NaN if any element is NaN (FMAX and FMAXV return NaN for a NaN operand). */
static float row_max(const float *x, int64_t n) {
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);
    float32x4_t m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        m0 = vmaxq_f32(m0, vld1q_f32(x + i));
        m1 = vmaxq_f32(m1, vld1q_f32(x + i + 4));
        m2 = vmaxq_f32(m2, vld1q_f32(x + i + 8));
        m3 = vmaxq_f32(m3, vld1q_f32(x + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        m0 = vmaxq_f32(m0, vld1q_f32(x + i));
    if (i < n) m1 = vmaxq_f32(m1, load_part(x + i, n - i, -INFINITY));
    return vmaxvq_f32(vmaxq_f32(vmaxq_f32(m0, m1), vmaxq_f32(m2, m3)));
}

/* e^(x - m) for the vector at x, stored at y unless y is NULL. */
VM4_ALWAYS_INLINE float32x4_t exp_vec(float *y, const float *x, float32x4_t m) {
    float32x4_t e = vm4_exp(vsubq_f32(vld1q_f32(x), m));
    if (y) vst1q_f32(y, e);
    return e;
}

/* e^(x - m) over the block of 32 at x (stored at y unless y is NULL), returning its f32 sum
 * ((v0 + v2) + (v4 + v6)) + ((v1 + v3) + (v5 + v7)), taken as the vectors come. */
VM4_ALWAYS_INLINE float32x4_t exp_block(float *y, const float *x, float32x4_t m) {
#define EV(k) exp_vec(y ? y + 4 * (k) : NULL, x + 4 * (k), m)
    float32x4_t v0 = EV(0), v1 = EV(1);
    float32x4_t p02 = vaddq_f32(v0, EV(2)), p13 = vaddq_f32(v1, EV(3));
    float32x4_t v4 = EV(4), v5 = EV(5);
    float32x4_t p46 = vaddq_f32(v4, EV(6)), p57 = vaddq_f32(v5, EV(7));
#undef EV
    return vaddq_f32(vaddq_f32(p02, p46), vaddq_f32(p13, p57));
}

/* sum over the row of e^(x - mf) (stored into y unless y is NULL), in double; the next row is
 * prefetched one line per 16 elements. */
VM4_ALWAYS_INLINE double exp_pass(float *y, const float *x, int64_t n, float mf,
                                  const float *next) {
    const float32x4_t m = vdupq_n_f32(mf);
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        prefetch_l2(next, i);
        prefetch_l2(next, i + 16);
        acc_pd(&s0, &s1, exp_block(y ? y + i : NULL, x + i, m));
    }
    /* the rest (< 32): whole vectors, then the last 1-3 elements (padded with mf, whose exps are
     * then cleared) */
    float32x4_t t = vdupq_n_f32(0);
    for (; i + 4 <= n; i += 4)
        t = vaddq_f32(t, exp_vec(y ? y + i : NULL, x + i, m));
    if (i < n) {
        float32x4_t e = vm4_exp(vsubq_f32(load_part(x + i, n - i, mf), m));
        e = vm4_and(lanes_below(n - i), e);
        if (y) store_part(y + i, e, n - i);
        t = vaddq_f32(t, e);
    }
    acc_pd(&s0, &s1, t);
    return vaddvq_f64(vaddq_f64(s0, s1));
}

/* v as f32 hi + lo (lo = v - hi rounded). */
static inline void split_f32(double v, float32x4_t *hi, float32x4_t *lo) {
    float h = (float)v;
    *hi = vdupq_n_f32(h);
    *lo = vdupq_n_f32((float)(v - (double)h));
}

/* y = (x - hi) - lo over the row (y may be x). */
static void sub_pass(float *y, const float *x, int64_t n, float32x4_t hi, float32x4_t lo) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t a = vsubq_f32(vsubq_f32(vld1q_f32(x + i), hi), lo);
        float32x4_t b = vsubq_f32(vsubq_f32(vld1q_f32(x + i + 4), hi), lo);
        float32x4_t c = vsubq_f32(vsubq_f32(vld1q_f32(x + i + 8), hi), lo);
        float32x4_t d = vsubq_f32(vsubq_f32(vld1q_f32(x + i + 12), hi), lo);
        vst1q_f32(y + i, a);
        vst1q_f32(y + i + 4, b);
        vst1q_f32(y + i + 8, c);
        vst1q_f32(y + i + 12, d);
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vsubq_f32(vsubq_f32(vld1q_f32(x + i), hi), lo));
    if (i < n) store_part(y + i, vsubq_f32(vsubq_f32(load_part(x + i, n - i, 0), hi), lo), n - i);
}

/* y = y s over the row. */
static void scale_pass(float *y, int64_t n, float32x4_t s) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t a = vmulq_f32(vld1q_f32(y + i), s), b = vmulq_f32(vld1q_f32(y + i + 4), s);
        float32x4_t c = vmulq_f32(vld1q_f32(y + i + 8), s), d = vmulq_f32(vld1q_f32(y + i + 12), s);
        vst1q_f32(y + i, a);
        vst1q_f32(y + i + 4, b);
        vst1q_f32(y + i + 8, c);
        vst1q_f32(y + i + 12, d);
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_f32(vld1q_f32(y + i), s));
    if (i < n) store_part(y + i, vmulq_f32(load_part(y + i, n - i, 0), s), n - i);
}

void cpu_softmax_row_f32_neon(float *y, const float *x, int64_t n, bool log_out,
                              const float *next) {
    float mf = row_max(x, n);
    if (mf == -INFINITY) mf = 0; /* an all -inf row: avoid inf - inf (the result is NaN anyway) */
    if (log_out) {
        double sum = exp_pass(NULL, x, n, mf, next);
        float32x4_t hi, lo;
        split_f32((double)mf + log(sum), &hi, &lo);
        sub_pass(y, x, n, hi, lo);
        return;
    }
    /* the exps go into y (which may be x: each is stored where its input was read) */
    double sum = exp_pass(y, x, n, mf, next);
    scale_pass(y, n, vdupq_n_f32((float)(1.0 / sum)));
}

/* ---- backward --------------------------------------------------------------------------- */

/* The backward's f32 sum over the block of 32 at g (and y): for log_softmax exp_block's tree of
 * g, for softmax ((g0 y0 + g2 y2) + g4 y4) + g6 y6 plus the same of the odd vectors, each product
 * after the first added by FMA. */
VM4_ALWAYS_INLINE float32x4_t grad_block_sum(const float *g, const float *y, bool log_out) {
#define LD(p, k) vld1q_f32((p) + 4 * (k))
    if (log_out) {
        float32x4_t a = vaddq_f32(vaddq_f32(LD(g, 0), LD(g, 2)), vaddq_f32(LD(g, 4), LD(g, 6)));
        float32x4_t b = vaddq_f32(vaddq_f32(LD(g, 1), LD(g, 3)), vaddq_f32(LD(g, 5), LD(g, 7)));
        return vaddq_f32(a, b);
    }
    float32x4_t a = vmulq_f32(LD(g, 0), LD(y, 0)), b = vmulq_f32(LD(g, 1), LD(y, 1));
    for (int k = 2; k < 8; k += 2) {
        a = vfmaq_f32(a, LD(g, k), LD(y, k));
        b = vfmaq_f32(b, LD(g, k + 1), LD(y, k + 1));
    }
    return vaddq_f32(a, b);
#undef LD
}

/* One vector of the input gradient: (g - e^y hi) - e^y lo (log) or y ((g - hi) - lo). */
VM4_ALWAYS_INLINE float32x4_t grad_op(float32x4_t g, float32x4_t y, bool log_out, float32x4_t hi,
                                      float32x4_t lo) {
    if (log_out) {
        float32x4_t e = vm4_exp(y);
        return vfmsq_f32(vfmsq_f32(g, e, hi), e, lo);
    }
    return vmulq_f32(y, vsubq_f32(vsubq_f32(g, hi), lo));
}

VM4_ALWAYS_INLINE void backward_row(float *gi, const float *g, const float *y, int64_t n,
                                    bool log_out, const float *next_g, const float *next_y) {
    /* s = sum(g) for log_softmax, sum(g y) for softmax, in double, by blocks of 32 */
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        acc_pd(&s0, &s1, grad_block_sum(g + i, y + i, log_out));
    float32x4_t t = vdupq_n_f32(0);
    for (; i + 4 <= n; i += 4) {
        float32x4_t gv = vld1q_f32(g + i);
        t = log_out ? vaddq_f32(t, gv) : vfmaq_f32(t, gv, vld1q_f32(y + i));
    }
    if (i < n) { /* padded with zeros: their terms are 0 */
        float32x4_t gv = load_part(g + i, n - i, 0);
        t = log_out ? vaddq_f32(t, gv) : vfmaq_f32(t, gv, load_part(y + i, n - i, 0));
    }
    acc_pd(&s0, &s1, t);
    float32x4_t hi, lo;
    split_f32(vaddvq_f64(vaddq_f64(s0, s1)), &hi, &lo);
    /* the gradient, four vectors a step; the next rows are prefetched one line of each per 16
     * elements */
    for (i = 0; i + 16 <= n; i += 16) {
        prefetch_l2(next_g, i);
        prefetch_l2(next_y, i);
        float32x4_t r0 = grad_op(vld1q_f32(g + i), vld1q_f32(y + i), log_out, hi, lo);
        float32x4_t r1 = grad_op(vld1q_f32(g + i + 4), vld1q_f32(y + i + 4), log_out, hi, lo);
        float32x4_t r2 = grad_op(vld1q_f32(g + i + 8), vld1q_f32(y + i + 8), log_out, hi, lo);
        float32x4_t r3 = grad_op(vld1q_f32(g + i + 12), vld1q_f32(y + i + 12), log_out, hi, lo);
        vst1q_f32(gi + i, r0);
        vst1q_f32(gi + i + 4, r1);
        vst1q_f32(gi + i + 8, r2);
        vst1q_f32(gi + i + 12, r3);
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(gi + i, grad_op(vld1q_f32(g + i), vld1q_f32(y + i), log_out, hi, lo));
    if (i < n)
        store_part(gi + i,
                   grad_op(load_part(g + i, n - i, 0), load_part(y + i, n - i, 0), log_out, hi, lo),
                   n - i);
}

void cpu_softmax_backward_row_f32_neon(float *gi, const float *g, const float *y, int64_t n,
                                       bool log_out, const float *next_g, const float *next_y) {
    /* the loops specialized for each kind */
    if (log_out)
        backward_row(gi, g, y, n, true, next_g, next_y);
    else
        backward_row(gi, g, y, n, false, next_g, next_y);
}
