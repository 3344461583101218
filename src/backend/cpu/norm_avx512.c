/* AVX-512 layer norm and RMS norm over contiguous f32 rows, forward and backward, for norm.c at
 * CPU_LEVEL_AVX512. The method and the order of every sum are norm_avx2.c's: its four 8-lane
 * accumulators a sum are the halves of two 16-lane accumulators here (lane j of the halves adds
 * the same terms in the same order), each chunk is folded as there (in f32, then into double),
 * the elements after the last whole block of 32 in double; the same fallbacks to the portable
 * statistics; the outputs from the same arithmetic, 16 lanes at a time. So both levels give the
 * same bits.
 *
 * What differs is the order of the passes over a range of rows. A row's statistics must be known
 * before its output is written, so each row is read at least twice; here the pass that writes row
 * r's output (from L1/L2) runs in one loop with the first pass over row r + 1 (from memory), its
 * loads prefetched ahead (prefetch_x86.h), so that the memory stays busy while the arithmetic
 * runs. At one thread on Zen 5 (bench_stream_ab, medians of 7 runs, 2026-12-02) the backward went
 * from 54-59% of the copy's bandwidth, with each row's passes in turn through norm_avx2.c and row
 * r + 1 prefetched into L2 during the last, to 90-92%, and layer norm's forward from 73% to 81%,
 * with the loads prefetched into L1 from 4 KiB ahead. On Zen 4 that prefetch held the backward
 * at 67-75% and the forwards at 74-81%; prefetching into L2 from 16 KiB ahead and into L1 from
 * 1 KiB took them to 97-114% and 92-112% (2026-12-03). Layer norm's second pass over a row (the
 * centred moments) runs alone, from L1/L2. */
#include "backend/cpu/norm_avx2.h"
#include "backend/cpu/prefetch_x86.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define NORM_INLINE static inline __attribute__((always_inline))

NORM_INLINE double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* norm_avx2.c's hsum_pd(lo + hi) of its two 4-lane double accumulators, the halves of v. */
NORM_INLINE double hsum8(__m512d v) {
    return hsum_pd(_mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1)));
}

/* The two 8-lane halves of v added: with v = a0 + a1, norm_avx2.c's (a0 + a2) + (a1 + a3). */
NORM_INLINE __m256 fold(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

NORM_INLINE __mmask16 lanes(int64_t n) { return (__mmask16)(n >= 16 ? 0xffffu : ((1u << n) - 1u)); }

/* The sums' chunks, norm_avx2.c's: the forward's f32 accumulators are folded into double every
 * FW_CHUNK elements, the backward's every BW_CHUNK. */
enum { FW_CHUNK = 128, BW_CHUNK = 64 };

/* The two lines of the block of 32 elements at p + i, prefetched ahead (prefetch_x86.h). */
NORM_INLINE void prefetch_block(const float *p, int64_t i) {
    prefetch_stream_line(p + i);
    prefetch_stream_line(p + i + 16);
}

/* With stream (and p 4-byte aligned), the elements of a row at p before its first 64-byte
 * boundary, which are stored by one masked vector before the streaming stores; else 0. */
NORM_INLINE int64_t stream_head(const float *p, int64_t n, bool stream) {
    if (!stream || !p || ((uintptr_t)p & 3u)) return 0;
    int64_t h = (int64_t)(((64u - ((uintptr_t)p & 63u)) & 63u) >> 2);
    return h < n ? h : n;
}

/* v with its NaN lanes replaced by the default NaN. A row's output is computed at several places
 * (a masked head, the loop beside the next row's pass, the rest), which the compiler may give
 * different operand orders of the same FMA or product; where two operands are NaN, the order
 * picks which one's sign the result takes, so without this the streamed and the ordinary stores
 * of a row holding NaN could differ in NaN signs (clang did: test_stream_store.c). */
NORM_INLINE __m512 canonical_nan(__m512 v) {
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q),
                              _mm512_set1_ps(__builtin_nanf("")));
}

/* ---- forward ---------------------------------------------------------------------------- */

/* norm_avx2.c's chunk_sums as a state carried along a pass: sum (x - c) (centred) and the sum of
 * the squares of x - c (or, not centred, of x), chunk by chunk. */
typedef struct fw_sums {
    __m512 c;
    __m512 a0, a1, b0, b1; /* the chunk's f32 accumulators: a sum (x - c), b the squares */
    __m512d s, q;          /* the folded chunks in double */
} fw_sums;

NORM_INLINE void fw_start(fw_sums *f, float c) {
    f->c = _mm512_set1_ps(c);
    f->a0 = f->a1 = f->b0 = f->b1 = _mm512_setzero_ps();
    f->s = f->q = _mm512_setzero_pd();
}

/* The block of 32 elements at i (with ahead, prefetching as the pass goes). */
NORM_INLINE void fw_block(fw_sums *f, const float *x, int64_t i, bool centred, bool square,
                          bool ahead) {
    if (ahead) prefetch_block(x, i);
    __m512 u0 = _mm512_loadu_ps(x + i), u1 = _mm512_loadu_ps(x + i + 16);
    if (centred) {
        u0 = _mm512_sub_ps(u0, f->c);
        u1 = _mm512_sub_ps(u1, f->c);
        f->a0 = _mm512_add_ps(f->a0, u0);
        f->a1 = _mm512_add_ps(f->a1, u1);
    }
    if (square) {
        f->b0 = _mm512_fmadd_ps(u0, u0, f->b0);
        f->b1 = _mm512_fmadd_ps(u1, u1, f->b1);
    }
}

/* The end of a chunk: its sums folded into double, the accumulators cleared. */
NORM_INLINE void fw_fold(fw_sums *f, bool centred, bool square) {
    if (centred) f->s = _mm512_add_pd(f->s, _mm512_cvtps_pd(fold(_mm512_add_ps(f->a0, f->a1))));
    if (square) f->q = _mm512_add_pd(f->q, _mm512_cvtps_pd(fold(_mm512_add_ps(f->b0, f->b1))));
    f->a0 = f->a1 = f->b0 = f->b1 = _mm512_setzero_ps();
}

/* The elements from i (after the last whole block) in double, and the sums (*s with centred,
 * *q with square). */
NORM_INLINE void fw_finish(const fw_sums *f, const float *x, int64_t i, int64_t n, float c,
                           bool centred, bool square, double *s, double *q) {
    double st = 0, qt = 0;
    for (; i < n; i++) {
        double d = centred ? (double)x[i] - (double)c : (double)x[i];
        st += d;
        qt += d * d;
    }
    if (centred) *s = hsum8(f->s) + st;
    if (square) *q = hsum8(f->q) + qt;
}

/* norm_avx2.c's chunk_sums over one row alone. */
static void chunk_sums(const float *x, int64_t n, float c, bool centred, bool square, bool ahead,
                       double *s, double *q) {
    fw_sums f;
    fw_start(&f, c);
    int64_t i = 0;
    while (i + 32 <= n) {
        int64_t end = i + FW_CHUNK < n ? i + FW_CHUNK : n;
        for (; i + 32 <= end; i += 32) fw_block(&f, x, i, centred, square, ahead);
        fw_fold(&f, centred, square);
    }
    fw_finish(&f, x, i, n, c, centred, square, s, q);
}

/* The row's first pass, from memory: sum (x - x[0]) for layer norm, sum x^2 for RMS norm. */
static double first_pass(const float *x, int64_t n, bool rms) {
    double s = 0, q = 0;
    chunk_sums(x, n, rms ? 0.0f : x[0], !rms, rms, true, &s, &q);
    return rms ? q : s;
}

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

/* The row's mean (0 for rms) and variance from its first pass, as cpu_norm_row_f32_avx2 takes
 * them (the centred second pass for layer norm, the same fallbacks). */
static void row_stats(const float *x, int64_t n, bool rms, double first, double *mean_out,
                      double *var_out) {
    double dn = (double)n, mean = 0, var;
    if (rms) {
        var = first / dn;
        if (!(var >= 0x1p-100 && var <= 0x1p100)) {
            double q = 0;
            for (int64_t i = 0; i < n; i++) q += (double)x[i] * x[i];
            var = q / dn;
        }
    } else {
        double s, q;
        float c = (float)((double)x[0] + first / dn);
        chunk_sums(x, n, c, true, true, false, &s, &q);
        double e = s / dn;
        mean = (double)c + e;
        var = q / dn - e * e;
        if (!(var >= 0x1p-100 && q / dn <= 0x1p100 && e * e <= var * 0x1p-10))
            exact_stats(x, n, &mean, &var);
    }
    *mean_out = mean;
    *var_out = var;
}

/* The output's constants for one row: ((x - mhi) - mlo) s w + b. */
typedef struct fw_out {
    __m512 mhi, mlo, s;
} fw_out;

/* One vector of y at i (k: its lanes). */
NORM_INLINE void fw_vec(const fw_out *o, float *y, const float *x, int64_t i, __mmask16 k,
                        bool full, bool stream, const float *w, const float *b, bool rms) {
    __m512 v = full ? _mm512_loadu_ps(x + i) : _mm512_maskz_loadu_ps(k, x + i);
    if (!rms) v = _mm512_sub_ps(_mm512_sub_ps(v, o->mhi), o->mlo);
    v = _mm512_mul_ps(v, o->s);
    if (w && b) {
        __m512 wv = full ? _mm512_loadu_ps(w + i) : _mm512_maskz_loadu_ps(k, w + i);
        v = _mm512_fmadd_ps(v, wv, full ? _mm512_loadu_ps(b + i) : _mm512_maskz_loadu_ps(k, b + i));
    } else if (w) {
        v = _mm512_mul_ps(v, full ? _mm512_loadu_ps(w + i) : _mm512_maskz_loadu_ps(k, w + i));
    } else if (b) {
        v = _mm512_add_ps(v, full ? _mm512_loadu_ps(b + i) : _mm512_maskz_loadu_ps(k, b + i));
    }
    v = canonical_nan(v);
    if (full && stream) _mm512_stream_ps(y + i, v);
    else if (full) _mm512_storeu_ps(y + i, v);
    else _mm512_mask_storeu_ps(y + i, k, v);
}

NORM_INLINE void fw_rest(const fw_out *o, float *y, const float *x, int64_t i, int64_t n,
                         bool stream, const float *w, const float *b, bool rms) {
    for (; i + 16 <= n; i += 16) fw_vec(o, y, x, i, 0xffff, true, stream, w, b, rms);
    if (i < n) fw_vec(o, y, x, i, lanes(n - i), false, false, w, b, rms);
}

void cpu_norm_rows_f32_avx512(float *y, float *mean, float *rstd, const float *x, int64_t rows,
                              int64_t n, bool rms, const float *w, const float *b, double eps,
                              bool stream) {
    if (rows <= 0) return;
    if (n <= 0) { /* no elements: whatever the AVX2 row gives */
        for (int64_t r = 0; r < rows; r++)
            cpu_norm_row_f32_avx2(y, mean ? mean + r : NULL, rstd ? rstd + r : NULL, x, n, rms, w,
                                  b, eps, NULL, false);
        return;
    }
    double first = first_pass(x, n, rms);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n, *xn = xr + n;
        float *yr = y + r * n;
        bool more = r + 1 < rows;
        double mu, var;
        row_stats(xr, n, rms, first, &mu, &var);
        double rs = 1.0 / sqrt(var + eps);
        float m = (float)mu, s = (float)rs;
        if (mean && !rms) mean[r] = m;
        if (rstd) rstd[r] = s;
        if (!rms && mu != 0 && fabs(mu) < 0x1p-100) {
            /* a mean whose low part would be denormal (rows of denormals): xhat in double */
            for (int64_t i = 0; i < n; i++) {
                float v = (float)(((double)xr[i] - mu) * rs);
                if (w) v *= w[i];
                if (b) v += b[i];
                yr[i] = v;
            }
            if (more) first = first_pass(xn, n, rms);
            continue;
        }
        fw_out o = {_mm512_set1_ps(m), _mm512_set1_ps(isfinite(m) ? (float)(mu - (double)m) : 0.0f),
                    _mm512_set1_ps(s)};
        bool st = stream && !((uintptr_t)yr & 3u);
        int64_t h = stream_head(yr, n, st), p = h;
        if (h) fw_vec(&o, yr, xr, 0, lanes(h), false, false, w, b, rms);
        if (!more) {
            fw_rest(&o, yr, xr, p, n, st, w, b, rms);
            continue;
        }
        /* row r's output beside row r + 1's first pass, 32 elements of each at a time */
        float c = rms ? 0.0f : xn[0];
        fw_sums f;
        fw_start(&f, c);
        int64_t i = 0;
        while (i + 32 <= n) {
            int64_t end = i + FW_CHUNK < n ? i + FW_CHUNK : n;
            for (; i + 32 <= end; i += 32) {
                fw_block(&f, xn, i, !rms, rms, true);
                if (p + 32 <= n) {
                    fw_vec(&o, yr, xr, p, 0xffff, true, st, w, b, rms);
                    fw_vec(&o, yr, xr, p + 16, 0xffff, true, st, w, b, rms);
                    p += 32;
                }
            }
            fw_fold(&f, !rms, rms);
        }
        fw_rest(&o, yr, xr, p, n, st, w, b, rms);
        double s1 = 0, q1 = 0;
        fw_finish(&f, xn, i, n, c, !rms, rms, &s1, &q1);
        first = rms ? q1 : s1;
    }
}

/* ---- backward --------------------------------------------------------------------------- */

/* norm_avx2.c's backward_sums as a state carried along a pass: its a0 a1 and a2 a3 are the
 * halves of a0 and a1 here, folded as (a0 + a1) low + high, which adds what (a0 + a2) + (a1 + a3)
 * adds there. */
typedef struct bw_sums {
    __m512 m, s;           /* the row's mean and rstd */
    __m512 a0, a1, c0, c1; /* the chunk's f32 accumulators: a sum d, c sum d xhat */
    __m512d ad, cd;        /* the folded chunks in double */
} bw_sums;

NORM_INLINE void sums_start(bw_sums *b, float mean, float rstd) {
    b->m = _mm512_set1_ps(mean);
    b->s = _mm512_set1_ps(rstd);
    b->a0 = b->a1 = b->c0 = b->c1 = _mm512_setzero_ps();
    b->ad = b->cd = _mm512_setzero_pd();
}

/* The block of 32 elements at i, prefetching as the pass goes. */
NORM_INLINE void sums_block(bw_sums *b, const float *g, const float *x, const float *w, int64_t i,
                            bool rms) {
    prefetch_block(g, i);
    prefetch_block(x, i);
    __m512 d0 = _mm512_loadu_ps(g + i), d1 = _mm512_loadu_ps(g + i + 16);
    if (w) {
        d0 = _mm512_mul_ps(d0, _mm512_loadu_ps(w + i));
        d1 = _mm512_mul_ps(d1, _mm512_loadu_ps(w + i + 16));
    }
    __m512 x0 = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), b->m), b->s);
    __m512 x1 = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), b->m), b->s);
    if (!rms) {
        b->a0 = _mm512_add_ps(b->a0, d0);
        b->a1 = _mm512_add_ps(b->a1, d1);
    }
    b->c0 = _mm512_fmadd_ps(d0, x0, b->c0);
    b->c1 = _mm512_fmadd_ps(d1, x1, b->c1);
}

/* The end of a chunk: its sums folded into double, the accumulators cleared. */
NORM_INLINE void sums_fold(bw_sums *b, bool rms) {
    if (!rms) b->ad = _mm512_add_pd(b->ad, _mm512_cvtps_pd(fold(_mm512_add_ps(b->a0, b->a1))));
    b->cd = _mm512_add_pd(b->cd, _mm512_cvtps_pd(fold(_mm512_add_ps(b->c0, b->c1))));
    b->a0 = b->a1 = b->c0 = b->c1 = _mm512_setzero_ps();
}

/* The elements from i (after the last whole block) in double, and mean d (0 for rms) and
 * mean d xhat. */
NORM_INLINE void sums_finish(const bw_sums *b, const float *g, const float *x, const float *w,
                             int64_t i, int64_t n, bool rms, float mean, float rstd, float *mean_d,
                             float *mean_dx) {
    double sd = 0, sdx = 0;
    for (; i < n; i++) {
        float d = w ? g[i] * w[i] : g[i], xh = (x[i] - mean) * rstd;
        sd += d;
        sdx += (double)(d * xh);
    }
    sd += hsum8(b->ad);
    sdx += hsum8(b->cd);
    *mean_d = rms ? 0.0f : (float)(sd / (double)n);
    *mean_dx = (float)(sdx / (double)n);
}

/* The statistics of one row alone (norm_avx2.c's backward_sums). */
static void row_sums(const float *g, const float *x, const float *w, int64_t n, bool rms,
                     float mean, float rstd, float *mean_d, float *mean_dx) {
    bw_sums b;
    sums_start(&b, mean, rstd);
    int64_t i = 0;
    while (i + 32 <= n) {
        int64_t end = i + BW_CHUNK < n ? i + BW_CHUNK : n;
        for (; i + 32 <= end; i += 32) sums_block(&b, g, x, w, i, rms);
        sums_fold(&b, rms);
    }
    sums_finish(&b, g, x, w, i, n, rms, mean, rstd, mean_d, mean_dx);
}

/* The second pass's constants for one row. */
typedef struct bw_out {
    __m512 m, s, md, mdx;
} bw_out;

NORM_INLINE bw_out out_consts(float mean, float rstd, float mean_d, float mean_dx) {
    bw_out o = {_mm512_set1_ps(mean), _mm512_set1_ps(rstd), _mm512_set1_ps(mean_d),
                _mm512_set1_ps(mean_dx)};
    return o;
}

/* One vector of the second pass at i (k: its lanes): dx (unless NULL), and the partial sums. */
NORM_INLINE void out_vec(const bw_out *o, float *dx, const float *g, const float *x, int64_t i,
                         __mmask16 k, bool full, bool stream, const float *w, float *pw,
                         float *pb) {
    __m512 gv = full ? _mm512_loadu_ps(g + i) : _mm512_maskz_loadu_ps(k, g + i);
    __m512 xv = full ? _mm512_loadu_ps(x + i) : _mm512_maskz_loadu_ps(k, x + i);
    __m512 xh = _mm512_mul_ps(_mm512_sub_ps(xv, o->m), o->s);
    if (dx) {
        __m512 d = gv;
        if (w) {
            __m512 wv = full ? _mm512_loadu_ps(w + i) : _mm512_maskz_loadu_ps(k, w + i);
            d = _mm512_mul_ps(d, wv);
        }
        __m512 r = _mm512_mul_ps(_mm512_fnmadd_ps(xh, o->mdx, _mm512_sub_ps(d, o->md)), o->s);
        r = canonical_nan(r);
        if (full && stream) _mm512_stream_ps(dx + i, r);
        else if (full) _mm512_storeu_ps(dx + i, r);
        else _mm512_mask_storeu_ps(dx + i, k, r);
    }
    if (pw) {
        __m512 pv = full ? _mm512_loadu_ps(pw + i) : _mm512_maskz_loadu_ps(k, pw + i);
        pv = _mm512_fmadd_ps(gv, xh, pv);
        if (full) _mm512_storeu_ps(pw + i, pv);
        else _mm512_mask_storeu_ps(pw + i, k, pv);
    }
    if (pb) {
        __m512 pv = full ? _mm512_loadu_ps(pb + i) : _mm512_maskz_loadu_ps(k, pb + i);
        pv = _mm512_add_ps(gv, pv);
        if (full) _mm512_storeu_ps(pb + i, pv);
        else _mm512_mask_storeu_ps(pb + i, k, pv);
    }
}

/* The second pass from element i (after the head) to the row's end; with ahead (the row not
 * read before: no dx, so no sums), g and x prefetched as by the sums. */
NORM_INLINE void out_rest(const bw_out *o, float *dx, const float *g, const float *x, int64_t i,
                          int64_t n, bool stream, const float *w, float *pw, float *pb,
                          bool ahead) {
    for (; i + 16 <= n; i += 16) {
        if (ahead) {
            prefetch_stream_line(g + i);
            prefetch_stream_line(x + i);
        }
        out_vec(o, dx, g, x, i, 0xffff, true, stream, w, pw, pb);
    }
    if (i < n) out_vec(o, dx, g, x, i, lanes(n - i), false, false, w, pw, pb);
}

void cpu_norm_backward_rows_f32_avx512(float *dx, const float *g, const float *x, int64_t rows,
                                       int64_t n, bool rms, const float *mean, const float *rstd,
                                       const float *w, float *pw, float *pb, bool stream) {
    if (rows <= 0 || n <= 0) return;
    float md = 0, mdx = 0;
    if (dx) row_sums(g, x, w, n, rms, rms ? 0.0f : mean[0], rstd[0], &md, &mdx);
    for (int64_t r = 0; r < rows; r++) {
        const float *gr = g + r * n, *xr = x + r * n;
        float *dr = dx ? dx + r * n : NULL, m = rms ? 0.0f : mean[r];
        bool st = stream && dr && !((uintptr_t)dr & 3u);
        bw_out o = out_consts(m, rstd[r], md, mdx);
        int64_t h = stream_head(dr, n, st), p = h;
        if (h) out_vec(&o, dr, gr, xr, 0, lanes(h), false, false, w, pw, pb);
        if (dx && r + 1 < rows) {
            /* row r's second pass beside row r + 1's sums, 32 elements of each at a time */
            const float *gn = gr + n, *xn = xr + n;
            float mn = rms ? 0.0f : mean[r + 1], sn = rstd[r + 1];
            bw_sums b;
            sums_start(&b, mn, sn);
            int64_t i = 0;
            while (i + 32 <= n) {
                int64_t end = i + BW_CHUNK < n ? i + BW_CHUNK : n;
                for (; i + 32 <= end; i += 32) {
                    sums_block(&b, gn, xn, w, i, rms);
                    if (p + 32 <= n) {
                        out_vec(&o, dr, gr, xr, p, 0xffff, true, st, w, pw, pb);
                        out_vec(&o, dr, gr, xr, p + 16, 0xffff, true, st, w, pw, pb);
                        p += 32;
                    }
                }
                sums_fold(&b, rms);
            }
            out_rest(&o, dr, gr, xr, p, n, st, w, pw, pb, false);
            sums_finish(&b, gn, xn, w, i, n, rms, mn, sn, &md, &mdx);
        } else {
            out_rest(&o, dr, gr, xr, p, n, st, w, pw, pb, !dx);
        }
    }
}
