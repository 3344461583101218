/* Internal to the CPU GEMM: the dot forms' column loops (a few rows; one row in f32 and f64),
 * shared by the AVX2 and AVX-512 files (gemm_avx2.c, gemm_avx512.c), which compile them with 16
 * and 32 vector registers. Include only from files built with AVX2 and FMA. */
#ifndef BORN_CPU_GEMM_DOT_H
#define BORN_CPU_GEMM_DOT_H

#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* The sum of eight lanes: high half onto low, then pairs, then the last two. */
static inline float gemm_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* How far ahead (floats) the dot form asks for its B columns: the hardware prefetcher stops at
 * each 4 KB page of a column, so without it every page starts with a miss. 2 KB ahead took the
 * 4096 x 4096 products of 8 rows from 22 to 30 GFLOP/s and of 4 rows from 16 to 20 (one thread,
 * the 2-core Xeon, five alternating runs). */
enum { GEMM_DOT_PREFETCH = 512 };

/* What B holds: f32, or f16 / bf16 widened to f32 as they are loaded (exactly), so that a product
 * against half-precision B gives the bits of the f32 product of its values while reading half
 * the bytes. A constant at every call, so each kind compiles to its own loop. */
enum { GEMM_B_F32 = 0, GEMM_B_F16 = 1, GEMM_B_BF16 = 2 };

/* Element `off` of B as stored (kind's element size). */
static inline __attribute__((always_inline)) const void *gemm_b_at(const void *b, int64_t off,
                                                                    int kind) {
    return (const char *)b + off * (kind == GEMM_B_F32 ? 4 : 2);
}

/* Eight consecutive values of B from element p of q, as f32. */
static inline __attribute__((always_inline)) __m256 gemm_b_load8(const void *q, int64_t p,
                                                                 int kind) {
    if (kind == GEMM_B_F32) return _mm256_loadu_ps((const float *)q + p);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)q + p));
    if (kind == GEMM_B_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* Element p of q as f32. */
static inline __attribute__((always_inline)) float gemm_b_load1(const void *q, int64_t p,
                                                                int kind) {
    if (kind == GEMM_B_F32) return ((const float *)q)[p];
    uint16_t h = ((const uint16_t *)q)[p];
    if (kind == GEMM_B_F16) return _cvtsh_ss(h);
    uint32_t w = (uint32_t)h << 16;
    float f;
    __builtin_memcpy(&f, &w, sizeof f);
    return f;
}

/* y[r][j + c] = sum_p x[r][p] q[c b_cs + p] (q of `kind`) for R rows and C columns (R = 4 or 8, C = 1 to 4,
 * R C <= 24; constants where it is inlined): the C B columns streamed at once, each x load used
 * for C sums. Every output gets the same operations whatever R and C: eight lanes of fma over k
 * in steps of 8, gemm_hsum8, then the scalar tail in k order, so any grouping gives the same
 * bits. */
static inline __attribute__((always_inline)) void gemm_dot_columns(int R, int C, int64_t k,
                                                                    const float *const x[],
                                                                    const void *q, int64_t b_cs,
                                                                    float *const y[], int64_t j,
                                                                    int kind) {
    __m256 s[8][4];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) s[r][c] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256 v[4];
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) {
            _mm_prefetch((const char *)gemm_b_at(q, c * b_cs + p + GEMM_DOT_PREFETCH, kind),
                         _MM_HINT_T0);
            v[c] = gemm_b_load8(gemm_b_at(q, c * b_cs, kind), p, kind);
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            __m256 w = _mm256_loadu_ps(x[r] + p);
#pragma GCC unroll 4
            for (int c = 0; c < C; c++) s[r][c] = _mm256_fmadd_ps(w, v[c], s[r][c]);
        }
    }
    float t[8][4];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) t[r][c] = gemm_hsum8(s[r][c]);
    for (; p < k; p++)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++)
                t[r][c] = fmaf(x[r][p], gemm_b_load1(gemm_b_at(q, c * b_cs, kind), p, kind), t[r][c]);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) y[r][j + c] = t[r][c];
}

/* All n columns of R rows: C at a time (C = 3 or 4), then the last n % C together. */
static inline __attribute__((always_inline)) void gemm_dot_rows(int R, int C, int64_t k, int64_t n,
                                                                 const float *const x[],
                                                                 const void *b, int64_t b_cs,
                                                                 float *const y[], int kind) {
    int64_t j = 0;
    for (; j + C <= n; j += C) gemm_dot_columns(R, C, k, x, gemm_b_at(b, j * b_cs, kind), b_cs, y, j, kind);
    const void *q = gemm_b_at(b, j * b_cs, kind);
    switch (n - j) {
    case 3: gemm_dot_columns(R, 3, k, x, q, b_cs, y, j, kind); break;
    case 2: gemm_dot_columns(R, 2, k, x, q, b_cs, y, j, kind); break;
    case 1: gemm_dot_columns(R, 1, k, x, q, b_cs, y, j, kind); break;
    default: break;
    }
}

/* y[j + c] = sum_p x[p] q[c b_cs + p] for C columns (1 to 8; a constant where inlined), the M = 1
 * GEMV's form: per column two eight-lane sums over k in steps of 16 (the even and the odd eight),
 * one more step of 8 into the first, gemm_hsum8 of their sum, then the scalar tail in k order.
 * The C columns stream at once and share the loads of x; every column gets the same operations
 * whatever C, so any grouping gives the same bits. With ahead (f32 columns only; a constant where
 * inlined), the C columns at next are asked for into L2 as these are read, a line of each per
 * step. */
static inline __attribute__((always_inline)) void
gemm_dot1_columns(int C, int64_t k, const float *x, const void *q, int64_t b_cs, float *y,
                  int64_t j, int kind, bool ahead, const float *next) {
    __m256 s[8][2];
#pragma GCC unroll 8
    for (int c = 0; c < C; c++)
        s[c][0] = s[c][1] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m256 x0 = _mm256_loadu_ps(x + p), x1 = _mm256_loadu_ps(x + p + 8);
#pragma GCC unroll 8
        for (int c = 0; c < C; c++) {
            const void *col = gemm_b_at(q, c * b_cs, kind);
            if (ahead) _mm_prefetch((const char *)(next + c * b_cs + p), _MM_HINT_T1);
            s[c][0] = _mm256_fmadd_ps(x0, gemm_b_load8(col, p, kind), s[c][0]);
            s[c][1] = _mm256_fmadd_ps(x1, gemm_b_load8(col, p + 8, kind), s[c][1]);
        }
    }
    if (p + 8 <= k) {
        __m256 x0 = _mm256_loadu_ps(x + p);
#pragma GCC unroll 8
        for (int c = 0; c < C; c++)
            s[c][0] =
                _mm256_fmadd_ps(x0, gemm_b_load8(gemm_b_at(q, c * b_cs, kind), p, kind), s[c][0]);
        p += 8;
    }
    float r[8];
#pragma GCC unroll 8
    for (int c = 0; c < C; c++)
        r[c] = gemm_hsum8(_mm256_add_ps(s[c][0], s[c][1]));
    for (; p < k; p++)
        for (int c = 0; c < C; c++)
            r[c] = fmaf(x[p], gemm_b_load1(gemm_b_at(q, c * b_cs, kind), p, kind), r[c]);
    for (int c = 0; c < C; c++)
        y[j + c] = r[c];
}

/* All n columns of the M = 1 GEMV: C at a time (4 or 8), then four, then one by one. With ahead
 * (f32 columns only), each group of C but the last prefetches the next group into L2 as it reads:
 * every column is a stream of its own, which the hardware prefetcher takes up only after a few
 * misses, so without it each group began cold (gemm_avx512.c says where it is used). */
static inline __attribute__((always_inline)) void gemm_dot1_rows(int C, int64_t k, int64_t n,
                                                                 const float *x, const void *b,
                                                                 int64_t b_cs, float *y, int kind,
                                                                 bool ahead) {
    int64_t j = 0;
    for (; j + C <= n; j += C) {
        const void *q = gemm_b_at(b, j * b_cs, kind);
        if (ahead && j + 2 * C <= n)
            gemm_dot1_columns(C, k, x, q, b_cs, y, j, kind, true, (const float *)q + C * b_cs);
        else
            gemm_dot1_columns(C, k, x, q, b_cs, y, j, kind, false, NULL);
    }
    for (; C > 4 && j + 4 <= n; j += 4)
        gemm_dot1_columns(4, k, x, gemm_b_at(b, j * b_cs, kind), b_cs, y, j, kind, false, NULL);
    for (; j < n; j++)
        gemm_dot1_columns(1, k, x, gemm_b_at(b, j * b_cs, kind), b_cs, y, j, kind, false, NULL);
}

/* How far ahead (doubles) the f64 one-row form asks for each column where it prefetches: 2 KB,
 * as the few-row f32 columns (on Intel the hardware prefetcher stops at each 4 KB page: on the
 * 2-core Xeon 1.00 / 0.83x cblas_dgemv at one / two threads without, 1.10-1.20x with; on Zen 4
 * the same loop read 14-16 GB/s with and 16-20 without). */
enum { GEMV_F64_AHEAD = 256 };

/* y[c] for C columns at once (1 to 8; a constant where it is inlined), each its own sums: lanes p
 * mod 8 in two accumulators, a 4-step remainder into the first, the lanes summed (0 + 2, 1 + 3,
 * then the two), the last k mod 4 steps as scalar fmas; with prefetch, each column asked for
 * GEMV_F64_AHEAD ahead. Columns grouped or alone get the same bits. */
static inline __attribute__((always_inline)) void
gemm_dot1_f64_columns(int cols, int64_t k, const double *x, const double *b, int64_t b_cs,
                      double *y, bool prefetch) {
    __m256d s0[8], s1[8];
    for (int c = 0; c < cols; c++)
        s0[c] = s1[c] = _mm256_setzero_pd();
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
        __m256d x0 = _mm256_loadu_pd(x + p), x1 = _mm256_loadu_pd(x + p + 4);
        for (int c = 0; c < cols; c++) {
            if (prefetch)
                _mm_prefetch((const char *)(b + c * b_cs + p + GEMV_F64_AHEAD), _MM_HINT_T0);
            s0[c] = _mm256_fmadd_pd(x0, _mm256_loadu_pd(b + c * b_cs + p), s0[c]);
            s1[c] = _mm256_fmadd_pd(x1, _mm256_loadu_pd(b + c * b_cs + p + 4), s1[c]);
        }
    }
    if (p + 4 <= k) {
        __m256d x0 = _mm256_loadu_pd(x + p);
        for (int c = 0; c < cols; c++)
            s0[c] = _mm256_fmadd_pd(x0, _mm256_loadu_pd(b + c * b_cs + p), s0[c]);
        p += 4;
    }
    for (int c = 0; c < cols; c++) {
        __m256d t = _mm256_add_pd(s0[c], s1[c]);
        __m128d h = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1));
        double v = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
        for (int64_t q = p; q < k; q++)
            v = fma(x[q], b[c * b_cs + q], v);
        y[c] = v;
    }
}

/* All n columns of the f64 M = 1 GEMV: C at a time (4 or 8), then four, then one by one. */
static inline __attribute__((always_inline)) void gemm_dot1_f64_rows(int C, int64_t k, int64_t n,
                                                                     const double *x,
                                                                     const double *b, int64_t b_cs,
                                                                     double *y, bool prefetch) {
    int64_t j = 0;
    for (; j + C <= n; j += C)
        gemm_dot1_f64_columns(C, k, x, b + j * b_cs, b_cs, y + j, prefetch);
    for (; C > 4 && j + 4 <= n; j += 4)
        gemm_dot1_f64_columns(4, k, x, b + j * b_cs, b_cs, y + j, prefetch);
    for (; j < n; j++)
        gemm_dot1_f64_columns(1, k, x, b + j * b_cs, b_cs, y + j, prefetch);
}

#endif
