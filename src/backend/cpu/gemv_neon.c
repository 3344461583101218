/* arm64 NEON f32 GEMV loops (see gemm_kernels.h for the contracts): the m == 1 dot and axpy
 * forms and the few-row (four rows at a time) dot and axpy forms that gemm.c picks at
 * CPU_LEVEL_NEON. Compiled for arm64 only, where NEON is part of the architecture.
 *
 * Each loop does the operations of its AVX2 twin in gemm_avx2.c / gemm_dot.h: an 8-lane AVX2
 * accumulator is held here as two 4-lane halves (lanes 0-3 and 4-7 of each group of 8 k steps),
 * summed as gemm_hsum8 sums (halves, then lanes 0 + 2 and 1 + 3, then those two), and the scalar
 * tails are the same fmaf chains in k order; the axpy forms take one fma per k step per element
 * in k order. So an arm64 machine gives the bits an x86-64 one gives at CPU_LEVEL_AVX2. The dot
 * forms ask for their B columns 2 KB ahead (hardware prefetchers stop at page boundaries). */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/gemm_kernels.h"

/* How far ahead (floats) the dot forms prefetch each B column (gemm_dot.h's distance). */
enum { GEMV_NEON_PREFETCH = 512 };

/* The 8-lane sum (lanes lo, then hi) in gemm_hsum8's order. */
static inline float hsum8(float32x4_t lo, float32x4_t hi) {
    float32x4_t s = vaddq_f32(lo, hi);
    float32x2_t t = vadd_f32(vget_low_f32(s), vget_high_f32(s));
    return vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
}

/* ---- m == 1 ------------------------------------------------------------------------------- */

/* One column as gemm_dot.h's gemm_dot1_columns: two 8-lane sums over k in steps of 16 (a and b
 * here, each as two halves), then one step of 8 into a, the sum of a + b, then the scalar tail. */
static inline float dot1(int64_t k, const float *x, const float *col) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, b0 = a0, b1 = a0;
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __builtin_prefetch(col + p + GEMV_NEON_PREFETCH);
        a0 = vfmaq_f32(a0, vld1q_f32(x + p), vld1q_f32(col + p));
        a1 = vfmaq_f32(a1, vld1q_f32(x + p + 4), vld1q_f32(col + p + 4));
        b0 = vfmaq_f32(b0, vld1q_f32(x + p + 8), vld1q_f32(col + p + 8));
        b1 = vfmaq_f32(b1, vld1q_f32(x + p + 12), vld1q_f32(col + p + 12));
    }
    if (p + 8 <= k) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + p), vld1q_f32(col + p));
        a1 = vfmaq_f32(a1, vld1q_f32(x + p + 4), vld1q_f32(col + p + 4));
        p += 8;
    }
    float s = hsum8(vaddq_f32(a0, b0), vaddq_f32(a1, b1));
    for (; p < k; p++)
        s = fmaf(x[p], col[p], s);
    return s;
}

void gemv_dot_f32_neon(int64_t k, int64_t n, const float *x, const float *b, int64_t b_cs,
                       float *y) {
    int64_t j = 0;
    /* three columns at a time: 12 accumulators, 4 x vectors and 12 B vectors fit the 32
     * registers (four columns spilled); each column's arithmetic is dot1's */
    for (; j + 3 <= n; j += 3) {
        const float *q[3] = {b + j * b_cs, b + (j + 1) * b_cs, b + (j + 2) * b_cs};
        float32x4_t a[3][2], s[3][2]; /* column c: a (k steps 0-7 of 16), s (8-15) */
        for (int c = 0; c < 3; c++)
            a[c][0] = a[c][1] = s[c][0] = s[c][1] = vdupq_n_f32(0);
        int64_t p = 0;
        for (; p + 16 <= k; p += 16) {
            float32x4_t x0 = vld1q_f32(x + p), x1 = vld1q_f32(x + p + 4);
            float32x4_t x2 = vld1q_f32(x + p + 8), x3 = vld1q_f32(x + p + 12);
#pragma GCC unroll 3
            for (int c = 0; c < 3; c++) {
                __builtin_prefetch(q[c] + p + GEMV_NEON_PREFETCH);
                a[c][0] = vfmaq_f32(a[c][0], x0, vld1q_f32(q[c] + p));
                a[c][1] = vfmaq_f32(a[c][1], x1, vld1q_f32(q[c] + p + 4));
                s[c][0] = vfmaq_f32(s[c][0], x2, vld1q_f32(q[c] + p + 8));
                s[c][1] = vfmaq_f32(s[c][1], x3, vld1q_f32(q[c] + p + 12));
            }
        }
        if (p + 8 <= k) {
            float32x4_t x0 = vld1q_f32(x + p), x1 = vld1q_f32(x + p + 4);
#pragma GCC unroll 3
            for (int c = 0; c < 3; c++) {
                a[c][0] = vfmaq_f32(a[c][0], x0, vld1q_f32(q[c] + p));
                a[c][1] = vfmaq_f32(a[c][1], x1, vld1q_f32(q[c] + p + 4));
            }
            p += 8;
        }
        float r[3];
#pragma GCC unroll 3
        for (int c = 0; c < 3; c++)
            r[c] = hsum8(vaddq_f32(a[c][0], s[c][0]), vaddq_f32(a[c][1], s[c][1]));
        for (; p < k; p++)
            for (int c = 0; c < 3; c++)
                r[c] = fmaf(x[p], q[c][p], r[c]);
        for (int c = 0; c < 3; c++)
            y[j + c] = r[c];
    }
    for (; j < n; j++)
        y[j] = dot1(k, x, b + j * b_cs);
}

/* y[j] += x0 r0[j] + ... + x3 r3[j] as four fmas in that order, for j < n. */
static inline void axpy4_row(int64_t n, const float xs[4], const float *const r[4], float *y) {
    const float32x4_t v0 = vdupq_n_f32(xs[0]), v1 = vdupq_n_f32(xs[1]);
    const float32x4_t v2 = vdupq_n_f32(xs[2]), v3 = vdupq_n_f32(xs[3]);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        float32x4_t s0 = vld1q_f32(y + j), s1 = vld1q_f32(y + j + 4);
        s0 = vfmaq_f32(s0, v0, vld1q_f32(r[0] + j));
        s1 = vfmaq_f32(s1, v0, vld1q_f32(r[0] + j + 4));
        s0 = vfmaq_f32(s0, v1, vld1q_f32(r[1] + j));
        s1 = vfmaq_f32(s1, v1, vld1q_f32(r[1] + j + 4));
        s0 = vfmaq_f32(s0, v2, vld1q_f32(r[2] + j));
        s1 = vfmaq_f32(s1, v2, vld1q_f32(r[2] + j + 4));
        s0 = vfmaq_f32(s0, v3, vld1q_f32(r[3] + j));
        s1 = vfmaq_f32(s1, v3, vld1q_f32(r[3] + j + 4));
        vst1q_f32(y + j, s0);
        vst1q_f32(y + j + 4, s1);
    }
    for (; j + 4 <= n; j += 4) {
        float32x4_t s0 = vld1q_f32(y + j);
        s0 = vfmaq_f32(s0, v0, vld1q_f32(r[0] + j));
        s0 = vfmaq_f32(s0, v1, vld1q_f32(r[1] + j));
        s0 = vfmaq_f32(s0, v2, vld1q_f32(r[2] + j));
        s0 = vfmaq_f32(s0, v3, vld1q_f32(r[3] + j));
        vst1q_f32(y + j, s0);
    }
    for (; j < n; j++) {
        float s = y[j];
        s = fmaf(xs[0], r[0][j], s);
        s = fmaf(xs[1], r[1][j], s);
        s = fmaf(xs[2], r[2][j], s);
        s = fmaf(xs[3], r[3][j], s);
        y[j] = s;
    }
}

/* y[j] += x0 r0[j] for j < n. */
static inline void axpy1_row(int64_t n, float x0, const float *r0, float *y) {
    const float32x4_t v0 = vdupq_n_f32(x0);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        vst1q_f32(y + j, vfmaq_f32(vld1q_f32(y + j), v0, vld1q_f32(r0 + j)));
        vst1q_f32(y + j + 4, vfmaq_f32(vld1q_f32(y + j + 4), v0, vld1q_f32(r0 + j + 4)));
    }
    for (; j + 4 <= n; j += 4)
        vst1q_f32(y + j, vfmaq_f32(vld1q_f32(y + j), v0, vld1q_f32(r0 + j)));
    for (; j < n; j++)
        y[j] = fmaf(x0, r0[j], y[j]);
}

void gemv_axpy_f32_neon(int64_t k, int64_t n, const float *x, int64_t x_s, const float *b,
                        int64_t b_rs, float *y) {
    memset(y, 0, (size_t)n * sizeof *y);
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
        const float *r[4] = {b + p * b_rs, b + (p + 1) * b_rs, b + (p + 2) * b_rs,
                             b + (p + 3) * b_rs};
        const float xs[4] = {x[p * x_s], x[(p + 1) * x_s], x[(p + 2) * x_s], x[(p + 3) * x_s]};
        axpy4_row(n, xs, r, y);
    }
    for (; p < k; p++)
        axpy1_row(n, x[p * x_s], b + p * b_rs, y);
}

/* ---- a few rows: four at a time ----------------------------------------------------------- */

/* y[r][j + c] for four rows r and C columns (C = 1 or 2) at q, gemm_dot_columns' operations:
 * per output one 8-lane sum (two halves) over k in steps of 8, hsum8, then the scalar tail. Two
 * columns hold 16 accumulators, 4 B vectors and 2 x vectors (three columns, 32 registers in
 * all, made GCC spill in the loop). */
static inline __attribute__((always_inline)) void dot4_columns(int C, int64_t k,
                                                               const float *const x[4],
                                                               const float *q, int64_t b_cs,
                                                               float *const y[4], int64_t j) {
    float32x4_t s[4][2][2];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 2
        for (int c = 0; c < C; c++)
            s[r][c][0] = s[r][c][1] = vdupq_n_f32(0);
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
        float32x4_t v[2][2];
#pragma GCC unroll 2
        for (int c = 0; c < C; c++) {
            __builtin_prefetch(q + c * b_cs + p + GEMV_NEON_PREFETCH);
            v[c][0] = vld1q_f32(q + c * b_cs + p);
            v[c][1] = vld1q_f32(q + c * b_cs + p + 4);
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            float32x4_t w0 = vld1q_f32(x[r] + p), w1 = vld1q_f32(x[r] + p + 4);
#pragma GCC unroll 2
            for (int c = 0; c < C; c++) {
                s[r][c][0] = vfmaq_f32(s[r][c][0], w0, v[c][0]);
                s[r][c][1] = vfmaq_f32(s[r][c][1], w1, v[c][1]);
            }
        }
    }
    float t[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 2
        for (int c = 0; c < C; c++)
            t[r][c] = hsum8(s[r][c][0], s[r][c][1]);
    for (; p < k; p++)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < C; c++)
                t[r][c] = fmaf(x[r][p], q[c * b_cs + p], t[r][c]);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < C; c++)
            y[r][j + c] = t[r][c];
}

void gemv4_dot_f32_neon(int64_t k, int64_t n, const float *const x[4], const float *b, int64_t b_cs,
                        float *const y[4]) {
    int64_t j = 0;
    for (; j + 2 <= n; j += 2)
        dot4_columns(2, k, x, b + j * b_cs, b_cs, y, j);
    if (j < n) dot4_columns(1, k, x, b + j * b_cs, b_cs, y, j);
}

void gemv4_axpy_f32_neon(int64_t k, int64_t n, const float *const x[4], int64_t x_cs,
                         const float *b, int64_t b_rs, float *const y[4]) {
    int64_t p = 0;
    /* two B rows per pass, each loaded once for the four rows of y: y = fma(x1, r1, fma(x0, r0,
     * y)) per element, as gemv4_axpy_f32_avx2 */
    for (; p + 2 <= k; p += 2) {
        const float *r0 = b + p * b_rs, *r1 = r0 + b_rs;
        float32x4_t a0[4], a1[4];
        float xs[4][2];
        for (int i = 0; i < 4; i++) {
            xs[i][0] = x[i][p * x_cs];
            xs[i][1] = x[i][(p + 1) * x_cs];
            a0[i] = vdupq_n_f32(xs[i][0]);
            a1[i] = vdupq_n_f32(xs[i][1]);
        }
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) {
            float32x4_t u0 = vld1q_f32(r0 + j), u1 = vld1q_f32(r0 + j + 4);
            float32x4_t w0 = vld1q_f32(r1 + j), w1 = vld1q_f32(r1 + j + 4);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                float *yi = y[i] + j;
                float32x4_t t0 = vfmaq_f32(vld1q_f32(yi), a0[i], u0);
                float32x4_t t1 = vfmaq_f32(vld1q_f32(yi + 4), a0[i], u1);
                vst1q_f32(yi, vfmaq_f32(t0, a1[i], w0));
                vst1q_f32(yi + 4, vfmaq_f32(t1, a1[i], w1));
            }
        }
        for (; j + 4 <= n; j += 4) {
            float32x4_t u0 = vld1q_f32(r0 + j), w0 = vld1q_f32(r1 + j);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                float *yi = y[i] + j;
                vst1q_f32(yi, vfmaq_f32(vfmaq_f32(vld1q_f32(yi), a0[i], u0), a1[i], w0));
            }
        }
        for (; j < n; j++)
            for (int i = 0; i < 4; i++)
                y[i][j] = fmaf(xs[i][1], r1[j], fmaf(xs[i][0], r0[j], y[i][j]));
    }
    for (; p < k; p++)
        for (int i = 0; i < 4; i++)
            axpy1_row(n, x[i][p * x_cs], b + p * b_rs, y[i]);
}
