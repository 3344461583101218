/* AVX2 layer norm and RMS norm over one contiguous f32 row, forward and backward, for norm.c.
 *
 * Forward: the first pass reads the row from memory and sums x - x[0] (RMS norm: x^2); the
 * second, from L1/L2, takes sum (x - c) and sum (x - c)^2 about c, the f32 rounding of that
 * mean, and corrects the variance by the first (var = E[(x - c)^2] - E[x - c]^2, no
 * cancellation to speak of); the third writes y = ((x - mean_hi) - mean_lo) rstd w + b, the mean
 * split into f32 hi + lo so that a row far from zero keeps xhat's relative accuracy. The sums run
 * in f32 lanes over chunks of 128 elements (4 terms a lane) that are added into double. A poor
 * centre, squares that could overflow or underflow in f32, NaN and infinities send the row's
 * statistics to the portable kernel's two passes in double, so such rows give what it gives; a
 * row whose mean is so small that its low part would be denormal takes xhat in double.
 *
 * Backward: one pass accumulates sum d and sum d xhat (d = g w) as f32 sums over chunks of 64
 * elements added into double (backward_sums); the second writes dx and adds g xhat and g into the
 * caller's partial sums of the parameter gradients. Both prefetch the next row(s) into L2 during
 * their last pass, so that the memory stays busy while the arithmetic runs. Only the row's last
 * partial vector is masked.
 *
 * The sums' order is also norm_avx512.c's (its rows give these bits): four accumulators of 8
 * lanes a sum, so that the adds' latency does not bound the loop at 16 lanes either. */
#include "backend/cpu/norm_avx2.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define NORM_INLINE static inline __attribute__((always_inline))

NORM_INLINE __m256i tail_mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

NORM_INLINE double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

NORM_INLINE __m256d lo_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
NORM_INLINE __m256d hi_pd(__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }

/* The sums' chunks: the forward's f32 accumulators are folded into double every FW_CHUNK
 * elements, the backward's every BW_CHUNK (chunk_sums, backward_sums; norm_avx512.c's too). */
enum { FW_CHUNK = 128, BW_CHUNK = 64 };

/* Prefetches the 64-byte line at byte offset off of p into L2 (p NULL: nothing). */
NORM_INLINE void prefetch_l2(const float *p, int64_t off) {
    if (p) _mm_prefetch((const char *)p + off, _MM_HINT_T1);
}

/* sum (x - c) and, with square, sum (x - c)^2 (into *q), c an f32 centre; without centred, only
 * sum x^2 (into *q; RMS norm). f32 lanes: blocks of 32 elements go into four accumulators of 8
 * lanes a sum (the block's elements 0-7, 8-15, 16-23, 24-31), which every 128 elements (4 terms
 * a lane) are folded as (a0 + a2) + (a1 + a3) and added into double; the elements after the last
 * whole block in double. Four accumulators, so that the adds' latency does not bound the loop;
 * norm_avx512.c's fw_sums adds the same terms in the same order (its two 16-lane accumulators are
 * a0 a1 and a2 a3), so both levels give the same bits. */
NORM_INLINE void chunk_sums(const float *x, int64_t n, float c, bool centred, bool square,
                            double *s, double *q) {
    const __m256 cv = _mm256_set1_ps(c), zero = _mm256_setzero_ps();
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, q0 = s0, q1 = s0;
    int64_t i = 0;
    while (i + 32 <= n) {
        __m256 a[4] = {zero, zero, zero, zero}, b[4] = {zero, zero, zero, zero};
        int64_t end = i + FW_CHUNK < n ? i + FW_CHUNK : n;
        for (; i + 32 <= end; i += 32) {
            for (int k = 0; k < 4; k++) {
                __m256 u = _mm256_loadu_ps(x + i + 8 * k);
                if (centred) {
                    u = _mm256_sub_ps(u, cv);
                    a[k] = _mm256_add_ps(a[k], u);
                }
                if (square) b[k] = _mm256_fmadd_ps(u, u, b[k]);
            }
        }
        if (centred) {
            __m256 f = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
            s0 = _mm256_add_pd(s0, lo_pd(f));
            s1 = _mm256_add_pd(s1, hi_pd(f));
        }
        if (square) {
            __m256 f = _mm256_add_ps(_mm256_add_ps(b[0], b[2]), _mm256_add_ps(b[1], b[3]));
            q0 = _mm256_add_pd(q0, lo_pd(f));
            q1 = _mm256_add_pd(q1, hi_pd(f));
        }
    }
    double st = 0, qt = 0;
    for (; i < n; i++) {
        double d = centred ? (double)x[i] - (double)c : (double)x[i];
        st += d;
        qt += d * d;
    }
    if (centred) *s = hsum_pd(_mm256_add_pd(s0, s1)) + st;
    if (square) *q = hsum_pd(_mm256_add_pd(q0, q1)) + qt;
}

/* The portable kernel's statistics: the mean, then the mean of the centred squares. */
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

/* One vector of the output: ((x - mhi) - mlo) s w + b, the optional terms by the flags. */
NORM_INLINE __m256 norm_vec(__m256 v, __m256 mhi, __m256 mlo, __m256 s, __m256 w, __m256 b,
                            bool rms, bool hw, bool hb) {
    if (!rms) v = _mm256_sub_ps(_mm256_sub_ps(v, mhi), mlo);
    v = _mm256_mul_ps(v, s);
    if (hw && hb) return _mm256_fmadd_ps(v, w, b);
    if (hw) return _mm256_mul_ps(v, w);
    if (hb) return _mm256_add_ps(v, b);
    return v;
}

/* With stream (and y 4-byte aligned), the elements before y's first 32-byte boundary, which the
 * streaming passes store masked before the aligned streaming stores; else 0. */
NORM_INLINE int64_t stream_head(const float *y, int64_t n, bool stream) {
    if (!stream || ((uintptr_t)y & 3u)) return 0;
    int64_t h = (int64_t)(((32u - ((uintptr_t)y & 31u)) & 31u) >> 2);
    return h < n ? h : n;
}

NORM_INLINE void write_pass(float *y, const float *x, int64_t n, __m256 mhi, __m256 mlo, __m256 s,
                            const float *w, const float *b, bool rms, const float *next,
                            bool stream) {
    bool hw = w != NULL, hb = b != NULL;
    const __m256 zero = _mm256_setzero_ps();
    int64_t i = stream_head(y, n, stream);
    if (i) {
        __m256i m = tail_mask(i);
        __m256 wv = hw ? _mm256_maskload_ps(w, m) : zero, bv = hb ? _mm256_maskload_ps(b, m) : zero;
        _mm256_maskstore_ps(y, m, norm_vec(_mm256_maskload_ps(x, m), mhi, mlo, s, wv, bv, rms, hw, hb));
    }
    if (stream && !((uintptr_t)y & 3u)) {
        for (; i + 16 <= n; i += 16) {
            prefetch_l2(next, 4 * i);
            __m256 w0 = hw ? _mm256_loadu_ps(w + i) : zero, w1 = hw ? _mm256_loadu_ps(w + i + 8) : zero;
            __m256 b0 = hb ? _mm256_loadu_ps(b + i) : zero, b1 = hb ? _mm256_loadu_ps(b + i + 8) : zero;
            __m256 r0 = norm_vec(_mm256_loadu_ps(x + i), mhi, mlo, s, w0, b0, rms, hw, hb);
            __m256 r1 = norm_vec(_mm256_loadu_ps(x + i + 8), mhi, mlo, s, w1, b1, rms, hw, hb);
            _mm256_stream_ps(y + i, r0);
            _mm256_stream_ps(y + i + 8, r1);
        }
    }
    for (; i + 16 <= n; i += 16) {
        prefetch_l2(next, 4 * i);
        __m256 w0 = hw ? _mm256_loadu_ps(w + i) : zero, w1 = hw ? _mm256_loadu_ps(w + i + 8) : zero;
        __m256 b0 = hb ? _mm256_loadu_ps(b + i) : zero, b1 = hb ? _mm256_loadu_ps(b + i + 8) : zero;
        __m256 r0 = norm_vec(_mm256_loadu_ps(x + i), mhi, mlo, s, w0, b0, rms, hw, hb);
        __m256 r1 = norm_vec(_mm256_loadu_ps(x + i + 8), mhi, mlo, s, w1, b1, rms, hw, hb);
        _mm256_storeu_ps(y + i, r0);
        _mm256_storeu_ps(y + i + 8, r1);
    }
    for (; i < n; i += 8) {
        __m256i m = tail_mask(n - i);
        __m256 wv = hw ? _mm256_maskload_ps(w + i, m) : zero, bv = hb ? _mm256_maskload_ps(b + i, m) : zero;
        _mm256_maskstore_ps(y + i, m, norm_vec(_mm256_maskload_ps(x + i, m), mhi, mlo, s, wv, bv, rms, hw, hb));
    }
}

void cpu_norm_row_f32_avx2(float *y, float *mean_out, float *rstd_out, const float *x, int64_t n,
                           bool rms, const float *w, const float *b, double eps,
                           const float *next, bool stream) {
    double dn = (double)n, mean = 0, var;
    if (rms) {
        double sq;
        chunk_sums(x, n, 0.0f, false, true, NULL, &sq);
        var = sq / dn;
        /* squares that may overflow or underflow in f32 (or NaN): in double */
        if (!(var >= 0x1p-100 && var <= 0x1p100)) {
            double q = 0;
            for (int64_t i = 0; i < n; i++) q += (double)x[i] * x[i];
            var = q / dn;
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
    __m256 mhi = _mm256_set1_ps(m), mlo = _mm256_set1_ps(isfinite(m) ? (float)(mean - (double)m) : 0.0f);
    write_pass(y, x, n, mhi, mlo, _mm256_set1_ps(r), w, b, rms, next, stream);
}

/* ---- backward --------------------------------------------------------------------------- */

/* sum d (not for rms) and sum d xhat over the row, d = g w and xhat = (x - mean) rstd, as f32
 * sums over chunks added into double: blocks of 32 elements go into four accumulators of 8 lanes
 * a sum (the block's elements 0-7, 8-15, 16-23, 24-31; d xhat by FMA), which every 64 elements
 * (2 terms a lane) are folded as (a0 + a2) + (a1 + a3) and converted into double; the elements
 * after the last whole block in double. Short chunks, because a large term (an outlier's d xhat)
 * takes a rounding at its own scale for every term added after it in f32: with chunks of 256, a
 * row of 257 with one outlier came within 0.5 of test_norm_rows.c's bound on dx. norm_avx512.c's
 * bw_sums adds the same terms in the same order (its two 16-lane accumulators are a0 a1 and
 * a2 a3), so both levels give the same bits. */
NORM_INLINE void backward_sums(const float *g, const float *x, const float *w, int64_t n, bool rms,
                               float mean, float rstd, double *sum_d, double *sum_dx) {
    const __m256 m = _mm256_set1_ps(mean), s = _mm256_set1_ps(rstd), zero = _mm256_setzero_ps();
    __m256d a_lo = _mm256_setzero_pd(), a_hi = a_lo, c_lo = a_lo, c_hi = a_lo;
    int64_t i = 0;
    while (i + 32 <= n) {
        __m256 a[4] = {zero, zero, zero, zero}, c[4] = {zero, zero, zero, zero};
        int64_t end = i + BW_CHUNK < n ? i + BW_CHUNK : n;
        for (; i + 32 <= end; i += 32) {
            for (int k = 0; k < 4; k++) {
                __m256 d = _mm256_loadu_ps(g + i + 8 * k);
                if (w) d = _mm256_mul_ps(d, _mm256_loadu_ps(w + i + 8 * k));
                __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8 * k), m), s);
                if (!rms) a[k] = _mm256_add_ps(a[k], d);
                c[k] = _mm256_fmadd_ps(d, xh, c[k]);
            }
        }
        if (!rms) {
            __m256 f = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
            a_lo = _mm256_add_pd(a_lo, lo_pd(f));
            a_hi = _mm256_add_pd(a_hi, hi_pd(f));
        }
        __m256 f = _mm256_add_ps(_mm256_add_ps(c[0], c[2]), _mm256_add_ps(c[1], c[3]));
        c_lo = _mm256_add_pd(c_lo, lo_pd(f));
        c_hi = _mm256_add_pd(c_hi, hi_pd(f));
    }
    double sd = 0, sdx = 0;
    for (; i < n; i++) {
        float d = w ? g[i] * w[i] : g[i], xh = (x[i] - mean) * rstd;
        sd += d;
        sdx += (double)(d * xh);
    }
    *sum_d = rms ? 0 : sd + hsum_pd(_mm256_add_pd(a_lo, a_hi));
    *sum_dx = sdx + hsum_pd(_mm256_add_pd(c_lo, c_hi));
}

void cpu_norm_backward_row_f32_avx2(float *dx, const float *g, const float *x, int64_t n, bool rms,
                                    float mean, float rstd, const float *w, float *pw, float *pb,
                                    const float *next_g, const float *next_x, bool stream) {
    const __m256 m = _mm256_set1_ps(mean), s = _mm256_set1_ps(rstd), one = _mm256_set1_ps(1.0f);
    bool hw = w != NULL;
    float mean_d = 0, mean_dx = 0;
    if (dx) {
        double sd, sdx;
        backward_sums(g, x, w, n, rms, mean, rstd, &sd, &sdx);
        mean_d = rms ? 0.0f : (float)(sd / (double)n);
        mean_dx = (float)(sdx / (double)n);
    }
    const __m256 md = _mm256_set1_ps(mean_d), mdx = _mm256_set1_ps(mean_dx);
    /* with stream, dx from its first 32-byte boundary by streaming stores: a first masked
     * vector holds the elements before it, then vectors of 8 from there (the same arithmetic
     * on each element) */
    int64_t head = dx ? stream_head(dx, n, stream) : 0;
    stream = stream && dx && !((uintptr_t)dx & 3u);
    int64_t len;
    for (int64_t i = 0, k = 0; i < n; i += len, k++) {
        len = k == 0 && head ? head : n - i < 8 ? n - i : 8;
        bool full = len == 8;
        __m256i mask = tail_mask(len);
        if (!(k & 1)) {
            prefetch_l2(next_g, 4 * i);
            prefetch_l2(next_x, 4 * i);
        }
        __m256 gv = full ? _mm256_loadu_ps(g + i) : _mm256_maskload_ps(g + i, mask);
        __m256 xv = full ? _mm256_loadu_ps(x + i) : _mm256_maskload_ps(x + i, mask);
        __m256 xh = _mm256_mul_ps(_mm256_sub_ps(xv, m), s);
        if (dx) {
            __m256 wv = !hw ? one : full ? _mm256_loadu_ps(w + i) : _mm256_maskload_ps(w + i, mask);
            __m256 d = hw ? _mm256_mul_ps(gv, wv) : gv;
            __m256 r = _mm256_mul_ps(_mm256_fnmadd_ps(xh, mdx, _mm256_sub_ps(d, md)), s);
            if (full && stream) _mm256_stream_ps(dx + i, r);
            else if (full) _mm256_storeu_ps(dx + i, r);
            else _mm256_maskstore_ps(dx + i, mask, r);
        }
        if (pw) {
            __m256 pv = full ? _mm256_loadu_ps(pw + i) : _mm256_maskload_ps(pw + i, mask);
            pv = _mm256_fmadd_ps(gv, xh, pv);
            if (full) _mm256_storeu_ps(pw + i, pv);
            else _mm256_maskstore_ps(pw + i, mask, pv);
        }
        if (pb) {
            __m256 pv = full ? _mm256_loadu_ps(pb + i) : _mm256_maskload_ps(pb + i, mask);
            pv = _mm256_add_ps(gv, pv);
            if (full) _mm256_storeu_ps(pb + i, pv);
            else _mm256_maskstore_ps(pb + i, mask, pv);
        }
    }
}
