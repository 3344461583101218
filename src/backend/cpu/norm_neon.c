/* arm64 NEON layer norm and RMS norm over one contiguous f32 row, forward and backward, for
 * norm.c: norm_avx2.c's method on 4 lanes (read its header comment for the method).
 *
 * Forward: the first pass sums x - x[0] (RMS norm: x^2); the second, from L1/L2, takes
 * sum (x - c) and sum (x - c)^2 about c, the f32 rounding of that mean, and corrects the variance
 * by the first (var = E[(x - c)^2] - E[x - c]^2); the third writes
 * y = ((x - mean_hi) - mean_lo) rstd w + b, the mean split into f32 hi + lo. A poor centre,
 * squares that could overflow or underflow in f32, NaN and infinities send the row's statistics
 * to the portable kernel's two passes in double; a row whose mean is so small that its low part
 * would be denormal takes xhat in double.
 *
 * Backward: one pass accumulates sum d and sum d xhat (d = g w); the second writes dx and adds
 * g xhat and g into the caller's partial sums of the parameter gradients, and prefetches the next
 * rows into L2.
 *
 * The sums run in f32 lanes: blocks of 16 elements go into four accumulators of 4 lanes (the
 * block's elements 0-3, 4-7, 8-11, 12-15), so that the adds' latency does not bound the loop;
 * the accumulators are folded as (a0 + a2) + (a1 + a3) and added into double every FW_CHUNK
 * (forward) or BW_CHUNK (backward) elements, which keeps the terms a lane adds in f32 at AVX2's
 * (4 in the forward, 2 in the backward); the elements after the last whole block are summed in
 * double. The loops that write go four vectors a step, the last 1-3 elements through a padded
 * vector. The bits need not be AVX2's (the lanes group the terms differently). Compiled for arm64
 * only. */
#include <arm_neon.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/cpu/rows_neon.h"

#define NORM_INLINE static inline __attribute__((always_inline))

enum { FW_CHUNK = 64, BW_CHUNK = 32 };

/* The r (1 to 3) floats at p as a vector, the lanes from r on 0 (lane loads: no call, no read
 * past the row). */
NORM_INLINE float32x4_t load_part(const float *p, int64_t r) {
    float32x4_t v = vld1q_lane_f32(p, vdupq_n_f32(0), 0);
    if (r > 1) v = vld1q_lane_f32(p + 1, v, 1);
    if (r > 2) v = vld1q_lane_f32(p + 2, v, 2);
    return v;
}

/* Stores the first r (1 to 3) lanes of v at p. */
NORM_INLINE void store_part(float *p, float32x4_t v, int64_t r) {
    vst1q_lane_f32(p, v, 0);
    if (r > 1) vst1q_lane_f32(p + 1, v, 1);
    if (r > 2) vst1q_lane_f32(p + 2, v, 2);
}

/* The sum of the four accumulators, (a0 + a2) + (a1 + a3), added to the double pair (lo, hi). */
NORM_INLINE void fold_pd(float64x2_t *lo, float64x2_t *hi, const float32x4_t a[4]) {
    float32x4_t f = vaddq_f32(vaddq_f32(a[0], a[2]), vaddq_f32(a[1], a[3]));
    *lo = vaddq_f64(*lo, vcvt_f64_f32(vget_low_f32(f)));
    *hi = vaddq_f64(*hi, vcvt_high_f64_f32(f));
}

NORM_INLINE double hsum_pd(float64x2_t lo, float64x2_t hi) { return vaddvq_f64(vaddq_f64(lo, hi)); }

/* Prefetches the 64-byte line holding element i of p into L2 (p NULL: nothing). */
NORM_INLINE void prefetch_l2(const float *p, int64_t i) {
    if (p) __builtin_prefetch(p + i, 0, 2);
}

/* sum (x - c) and, with square, sum (x - c)^2 (into *q), c an f32 centre; without centred, only
 * sum x^2 (into *q; RMS norm): blocks of 16 into four f32 accumulators, folded into double every
 * FW_CHUNK elements; the elements after the last whole block in double. */
NORM_INLINE void chunk_sums(const float *x, int64_t n, float c, bool centred, bool square,
                            double *s, double *q) {
    const float32x4_t cv = vdupq_n_f32(c), zero = vdupq_n_f32(0);
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0, q0 = s0, q1 = s0;
    int64_t i = 0;
    while (i + 16 <= n) {
        float32x4_t a[4] = {zero, zero, zero, zero}, b[4] = {zero, zero, zero, zero};
        int64_t end = i + FW_CHUNK < n ? i + FW_CHUNK : n;
        for (; i + 16 <= end; i += 16) {
            for (int k = 0; k < 4; k++) {
                float32x4_t u = vld1q_f32(x + i + 4 * k);
                if (centred) {
                    u = vsubq_f32(u, cv);
                    a[k] = vaddq_f32(a[k], u);
                }
                if (square) b[k] = vfmaq_f32(b[k], u, u);
            }
        }
        if (centred) fold_pd(&s0, &s1, a);
        if (square) fold_pd(&q0, &q1, b);
    }
    double st = 0, qt = 0;
    for (; i < n; i++) {
        double d = centred ? (double)x[i] - (double)c : (double)x[i];
        st += d;
        qt += d * d;
    }
    if (centred) *s = hsum_pd(s0, s1) + st;
    if (square) *q = hsum_pd(q0, q1) + qt;
}

/* The portable kernel's statistics: the mean, then the mean of the centred squares. */
static void exact_stats(const float *x, int64_t n, double *mean, double *var) {
    double m = 0, sq = 0;
    for (int64_t i = 0; i < n; i++)
        m += x[i];
    m /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - m;
        sq += d * d;
    }
    *mean = m;
    *var = sq / (double)n;
}

/* One vector of the output: ((x - mhi) - mlo) s w + b, the optional terms by the flags. */
NORM_INLINE float32x4_t norm_vec(float32x4_t v, float32x4_t mhi, float32x4_t mlo, float32x4_t s,
                                 float32x4_t w, float32x4_t b, bool rms, bool hw, bool hb) {
    if (!rms) v = vsubq_f32(vsubq_f32(v, mhi), mlo);
    v = vmulq_f32(v, s);
    if (hw && hb) return vfmaq_f32(b, v, w);
    if (hw) return vmulq_f32(v, w);
    if (hb) return vaddq_f32(v, b);
    return v;
}

/* y over the row, four vectors a step, w and b loaded only where the flags say; the next row is
 * prefetched one line per 16 elements. */
NORM_INLINE void write_pass(float *y, const float *x, int64_t n, float32x4_t mhi, float32x4_t mlo,
                            float32x4_t s, const float *w, const float *b, const float *next,
                            bool rms, bool hw, bool hb) {
    const float32x4_t zero = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        prefetch_l2(next, i);
        float32x4_t r[4];
        for (int k = 0; k < 4; k++) {
            int64_t j = i + 4 * k;
            float32x4_t wv = hw ? vld1q_f32(w + j) : zero, bv = hb ? vld1q_f32(b + j) : zero;
            r[k] = norm_vec(vld1q_f32(x + j), mhi, mlo, s, wv, bv, rms, hw, hb);
        }
        for (int k = 0; k < 4; k++)
            vst1q_f32(y + i + 4 * k, r[k]);
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t wv = hw ? vld1q_f32(w + i) : zero, bv = hb ? vld1q_f32(b + i) : zero;
        vst1q_f32(y + i, norm_vec(vld1q_f32(x + i), mhi, mlo, s, wv, bv, rms, hw, hb));
    }
    if (i < n) {
        int64_t r = n - i;
        float32x4_t wv = hw ? load_part(w + i, r) : zero, bv = hb ? load_part(b + i, r) : zero;
        store_part(y + i, norm_vec(load_part(x + i, r), mhi, mlo, s, wv, bv, rms, hw, hb), r);
    }
}

void cpu_norm_row_f32_neon(float *y, float *mean_out, float *rstd_out, const float *x, int64_t n,
                           bool rms, const float *w, const float *b, double eps,
                           const float *next) {
    double dn = (double)n, mean = 0, var;
    if (rms) {
        double sq;
        chunk_sums(x, n, 0.0f, false, true, NULL, &sq);
        var = sq / dn;
        /* squares that may overflow or underflow in f32 (or NaN): in double */
        if (!(var >= 0x1p-100 && var <= 0x1p100)) {
            double qd = 0;
            for (int64_t i = 0; i < n; i++)
                qd += (double)x[i] * x[i];
            var = qd / dn;
        }
    } else {
        /* an approximate mean from sum (x - x[0]), then the centred moments about its f32
         * rounding c, corrected by the centred sum: var = E[(x - c)^2] - E[x - c]^2 */
        double s, q;
        float k = n > 0 ? x[0] : 0.0f;
        chunk_sums(x, n, k, true, false, &s, &q);
        float c = (float)((double)k + s / dn);
        chunk_sums(x, n, c, true, true, &s, &q);
        double e = s / dn;
        mean = (double)c + e;
        var = q / dn - e * e;
        /* a poor centre (e^2 not small beside the variance), squares that may overflow or
         * underflow in f32, NaN or infinities: the portable kernel's two passes in double */
        if (!(var >= 0x1p-100 && q / dn <= 0x1p100 && e * e <= var * 0x1p-10))
            exact_stats(x, n, &mean, &var);
    }
    double rstd = 1.0 / sqrt(var + eps);
    float m = (float)mean, r = (float)rstd;
    if (mean_out && !rms) *mean_out = m;
    if (rstd_out) *rstd_out = r;
    if (!rms && mean != 0 && fabs(mean) < 0x1p-100) {
        /* a mean whose low part would be denormal (rows of denormals): xhat in double */
        for (int64_t i = 0; i < n; i++) {
            float v = (float)(((double)x[i] - mean) * rstd);
            if (w) v *= w[i];
            if (b) v += b[i];
            y[i] = v;
        }
        return;
    }
    float32x4_t mhi = vdupq_n_f32(m),
                mlo = vdupq_n_f32(isfinite(m) ? (float)(mean - (double)m) : 0.0f);
    float32x4_t sv = vdupq_n_f32(r);
    /* the loop specialized for each combination of the flags */
#define WRITE_CASE(k)                                                                              \
    case k:                                                                                        \
        write_pass(y, x, n, mhi, mlo, sv, w, b, next, (k & 1) != 0, (k & 2) != 0, (k & 4) != 0);   \
        break;
    switch ((rms ? 1 : 0) | (w ? 2 : 0) | (b ? 4 : 0)) {
        WRITE_CASE(0)
        WRITE_CASE(1)
        WRITE_CASE(2)
        WRITE_CASE(3)
        WRITE_CASE(4)
        WRITE_CASE(5)
        WRITE_CASE(6)
        WRITE_CASE(7)
    }
#undef WRITE_CASE
}

/* ---- backward --------------------------------------------------------------------------- */

/* sum d (not for rms) and sum d xhat over the row, d = g w and xhat = (x - mean) rstd: blocks of
 * 16 into four f32 accumulators (d xhat by FMA), folded into double every BW_CHUNK elements
 * (short chunks, so that an outlier's large term costs few roundings at its scale: see
 * norm_avx2.c); the elements after the last whole block in double. */
NORM_INLINE void backward_sums(const float *g, const float *x, const float *w, int64_t n, bool rms,
                               float mean, float rstd, double *sum_d, double *sum_dx) {
    const float32x4_t m = vdupq_n_f32(mean), s = vdupq_n_f32(rstd), zero = vdupq_n_f32(0);
    float64x2_t a_lo = vdupq_n_f64(0), a_hi = a_lo, c_lo = a_lo, c_hi = a_lo;
    int64_t i = 0;
    while (i + 16 <= n) {
        float32x4_t a[4] = {zero, zero, zero, zero}, c[4] = {zero, zero, zero, zero};
        int64_t end = i + BW_CHUNK < n ? i + BW_CHUNK : n;
        for (; i + 16 <= end; i += 16) {
            for (int k = 0; k < 4; k++) {
                float32x4_t d = vld1q_f32(g + i + 4 * k);
                if (w) d = vmulq_f32(d, vld1q_f32(w + i + 4 * k));
                float32x4_t xh = vmulq_f32(vsubq_f32(vld1q_f32(x + i + 4 * k), m), s);
                if (!rms) a[k] = vaddq_f32(a[k], d);
                c[k] = vfmaq_f32(c[k], d, xh);
            }
        }
        if (!rms) fold_pd(&a_lo, &a_hi, a);
        fold_pd(&c_lo, &c_hi, c);
    }
    double sd = 0, sdx = 0;
    for (; i < n; i++) {
        float d = w ? g[i] * w[i] : g[i], xh = (x[i] - mean) * rstd;
        sd += d;
        sdx += (double)(d * xh);
    }
    *sum_d = rms ? 0 : sd + hsum_pd(a_lo, a_hi);
    *sum_dx = sdx + hsum_pd(c_lo, c_hi);
}

/* The backward's second pass for the vector at element i (r lanes, r < 4 through padded vectors;
 * r = 4 whole): dx = ((d - md) - xhat mdx) s, pw += g xhat, pb += g, each where its flag says. */
NORM_INLINE void backward_vec(float *dx, const float *g, const float *x, const float *w, float *pw,
                              float *pb, int64_t i, int64_t r, float32x4_t m, float32x4_t s,
                              float32x4_t md, float32x4_t mdx, bool hdx, bool hw, bool hpw,
                              bool hpb) {
    bool full = r == 4;
    float32x4_t gv = full ? vld1q_f32(g + i) : load_part(g + i, r);
    float32x4_t xv = full ? vld1q_f32(x + i) : load_part(x + i, r);
    float32x4_t xh = vmulq_f32(vsubq_f32(xv, m), s);
    if (hdx) {
        float32x4_t d = gv;
        if (hw) d = vmulq_f32(d, full ? vld1q_f32(w + i) : load_part(w + i, r));
        float32x4_t v = vmulq_f32(vfmsq_f32(vsubq_f32(d, md), xh, mdx), s);
        if (full)
            vst1q_f32(dx + i, v);
        else
            store_part(dx + i, v, r);
    }
    if (hpw) {
        float32x4_t v = vfmaq_f32(full ? vld1q_f32(pw + i) : load_part(pw + i, r), gv, xh);
        if (full)
            vst1q_f32(pw + i, v);
        else
            store_part(pw + i, v, r);
    }
    if (hpb) {
        float32x4_t v = vaddq_f32(gv, full ? vld1q_f32(pb + i) : load_part(pb + i, r));
        if (full)
            vst1q_f32(pb + i, v);
        else
            store_part(pb + i, v, r);
    }
}

/* The second pass over the row, four vectors a step; the next rows are prefetched one line of
 * each per 16 elements. */
NORM_INLINE void backward_pass(float *dx, const float *g, const float *x, const float *w, float *pw,
                               float *pb, int64_t n, float32x4_t m, float32x4_t s, float32x4_t md,
                               float32x4_t mdx, const float *next_g, const float *next_x, bool hdx,
                               bool hw, bool hpw, bool hpb) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        prefetch_l2(next_g, i);
        prefetch_l2(next_x, i);
        for (int k = 0; k < 4; k++)
            backward_vec(dx, g, x, w, pw, pb, i + 4 * k, 4, m, s, md, mdx, hdx, hw, hpw, hpb);
    }
    for (; i + 4 <= n; i += 4)
        backward_vec(dx, g, x, w, pw, pb, i, 4, m, s, md, mdx, hdx, hw, hpw, hpb);
    if (i < n) backward_vec(dx, g, x, w, pw, pb, i, n - i, m, s, md, mdx, hdx, hw, hpw, hpb);
}

void cpu_norm_backward_row_f32_neon(float *dx, const float *g, const float *x, int64_t n, bool rms,
                                    float mean, float rstd, const float *w, float *pw, float *pb,
                                    const float *next_g, const float *next_x) {
    float mean_d = 0, mean_dx = 0;
    if (dx) {
        double sd, sdx;
        backward_sums(g, x, w, n, rms, mean, rstd, &sd, &sdx);
        mean_d = rms ? 0.0f : (float)(sd / (double)n);
        mean_dx = (float)(sdx / (double)n);
    }
    const float32x4_t m = vdupq_n_f32(mean), s = vdupq_n_f32(rstd);
    const float32x4_t md = vdupq_n_f32(mean_d), mdx = vdupq_n_f32(mean_dx);
    /* the loop specialized for each combination of the outputs and w */
#define BACKWARD_CASE(k)                                                                           \
    case k:                                                                                        \
        backward_pass(dx, g, x, w, pw, pb, n, m, s, md, mdx, next_g, next_x, (k & 1) != 0,         \
                      (k & 2) != 0, (k & 4) != 0, (k & 8) != 0);                                   \
        break;
    switch ((dx ? 1 : 0) | (w ? 2 : 0) | (pw ? 4 : 0) | (pb ? 8 : 0)) {
        BACKWARD_CASE(0)
        BACKWARD_CASE(1)
        BACKWARD_CASE(2)
        BACKWARD_CASE(3)
        BACKWARD_CASE(4)
        BACKWARD_CASE(5)
        BACKWARD_CASE(6)
        BACKWARD_CASE(7)
        BACKWARD_CASE(8)
        BACKWARD_CASE(9)
        BACKWARD_CASE(10)
        BACKWARD_CASE(11)
        BACKWARD_CASE(12)
        BACKWARD_CASE(13)
        BACKWARD_CASE(14)
        BACKWARD_CASE(15)
    }
#undef BACKWARD_CASE
}
