/* Internal to the CPU GEMM: the few-row dot form's column loop, shared by the AVX2 and AVX-512
 * files (gemm_avx2.c, gemm_avx512.c), which compile it with 16 and 32 vector registers. Include
 * only from files built with AVX2 and FMA. */
#ifndef BORN_CPU_GEMM_DOT_H
#define BORN_CPU_GEMM_DOT_H

#include <immintrin.h>
#include <math.h>
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

/* y[r][j + c] = sum_p x[r][p] q[c b_cs + p] for R rows and C columns (R = 4 or 8, C = 1 to 4,
 * R C <= 24; constants where it is inlined): the C B columns streamed at once, each x load used
 * for C sums. Every output gets the same operations whatever R and C: eight lanes of fma over k
 * in steps of 8, gemm_hsum8, then the scalar tail in k order, so any grouping gives the same
 * bits. */
static inline __attribute__((always_inline)) void gemm_dot_columns(int R, int C, int64_t k,
                                                                    const float *const x[],
                                                                    const float *q, int64_t b_cs,
                                                                    float *const y[], int64_t j) {
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
            _mm_prefetch((const char *)(q + c * b_cs + p + GEMM_DOT_PREFETCH), _MM_HINT_T0);
            v[c] = _mm256_loadu_ps(q + c * b_cs + p);
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
            for (int c = 0; c < C; c++) t[r][c] = fmaf(x[r][p], q[c * b_cs + p], t[r][c]);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) y[r][j + c] = t[r][c];
}

/* All n columns of R rows: C at a time (C = 3 or 4), then the last n % C together. */
static inline __attribute__((always_inline)) void gemm_dot_rows(int R, int C, int64_t k, int64_t n,
                                                                 const float *const x[], const float *b,
                                                                 int64_t b_cs, float *const y[]) {
    int64_t j = 0;
    for (; j + C <= n; j += C) gemm_dot_columns(R, C, k, x, b + j * b_cs, b_cs, y, j);
    switch (n - j) {
    case 3: gemm_dot_columns(R, 3, k, x, b + j * b_cs, b_cs, y, j); break;
    case 2: gemm_dot_columns(R, 2, k, x, b + j * b_cs, b_cs, y, j); break;
    case 1: gemm_dot_columns(R, 1, k, x, b + j * b_cs, b_cs, y, j); break;
    default: break;
    }
}

#endif
