/* arm64 NEON folds of contiguous f32 runs for reduce.c (picked at CPU_LEVEL_NEON): reduce_avx2.c's
 * sums, max/min and eight-row column sums with each 8-lane AVX2 vector held as two 4-lane
 * halves. The sum keeps AVX2's 32 partial sums and its combining tree, so an arm64 machine gives
 * the x86-64 bits; max and min return the first NaN, as the portable fold; the column sum adds
 * every column in the same tree. Compiled for arm64 only. */
#include <arm_neon.h>
#include <stdbool.h>
#include <string.h>

#include "backend/cpu/kernels_neon.h"

/* An 8-lane AVX2 vector as two 4-lane halves (lanes 0-3, 4-7). */
typedef struct v8 {
    float32x4_t lo, hi;
} v8;

static inline v8 v8_zero(void) { return (v8){vdupq_n_f32(0), vdupq_n_f32(0)}; }

static inline v8 v8_add(v8 a, v8 b) { return (v8){vaddq_f32(a.lo, b.lo), vaddq_f32(a.hi, b.hi)}; }

static inline v8 v8_load(const float *x) { return (v8){vld1q_f32(x), vld1q_f32(x + 4)}; }

/* The sum of the 8 lanes in reduce_avx2.c's hsum order: halves, lanes 0 + 2 and 1 + 3, then
 * those two. */
static inline float v8_hsum(v8 v) {
    float32x4_t s = vaddq_f32(v.lo, v.hi);
    float32x2_t t = vadd_f32(vget_low_f32(s), vget_high_f32(s));
    return vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
}

float cpu_sum_f32_neon(const float *x, int64_t n) {
    /* the run's quarters (each a multiple of 8 long) read side by side, the rest into the first
     * sum 8 at a time and the last 1-7 (zero-padded) into the second: cpu_sum_f32_avx2 */
    int64_t q = (n / 4) & ~(int64_t)7;
    const float *x1 = x + q, *x2 = x + 2 * q, *x3 = x + 3 * q;
    v8 s0 = v8_zero(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t i = 0; i < q; i += 8) {
        s0 = v8_add(s0, v8_load(x + i));
        s1 = v8_add(s1, v8_load(x1 + i));
        s2 = v8_add(s2, v8_load(x2 + i));
        s3 = v8_add(s3, v8_load(x3 + i));
    }
    int64_t i = 4 * q;
    for (; i + 8 <= n; i += 8)
        s0 = v8_add(s0, v8_load(x + i));
    if (i < n) {
        float tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        memcpy(tail, x + i, (size_t)(n - i) * sizeof *tail);
        s1 = v8_add(s1, v8_load(tail));
    }
    return v8_hsum(v8_add(v8_add(s0, s1), v8_add(s2, s3)));
}

/* The portable fold, used from the first block with a NaN on (it returns that NaN). */
static float scalar_extremum(const float *x, int64_t n, float m, bool is_max) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (v != v || (is_max ? v > m : v < m)) m = v;
        if (m != m) break;
    }
    return m;
}

static inline __attribute__((always_inline)) float extremum(const float *x, int64_t n, float m,
                                                            bool is_max) {
    if (m != m) return m;
#define EXT(a, b) (is_max ? vmaxq_f32(a, b) : vminq_f32(a, b))
    float32x4_t a = vdupq_n_f32(m);
    int64_t i = 0;
    /* blocks of 64 in four chains; FMAX / FMIN return NaN where a lane meets one, so a block's
     * result says whether it holds a NaN, and only a clean block is folded into a */
    for (; i + 64 <= n; i += 64) {
        const float *p = x + i;
        float32x4_t b0 = vld1q_f32(p), b1 = vld1q_f32(p + 4);
        float32x4_t b2 = vld1q_f32(p + 8), b3 = vld1q_f32(p + 12);
        for (int k = 16; k < 64; k += 16) {
            b0 = EXT(b0, vld1q_f32(p + k));
            b1 = EXT(b1, vld1q_f32(p + k + 4));
            b2 = EXT(b2, vld1q_f32(p + k + 8));
            b3 = EXT(b3, vld1q_f32(p + k + 12));
        }
        float32x4_t b = EXT(EXT(b0, b1), EXT(b2, b3));
        if (vminvq_u32(vceqq_f32(b, b)) == 0) break; /* a NaN: the scalar fold from here */
        a = EXT(a, b);
    }
    float r = is_max ? vmaxvq_f32(a) : vminvq_f32(a);
#undef EXT
    return scalar_extremum(x + i, n - i, r, is_max);
}

float cpu_max_f32_neon(const float *x, int64_t n, float m) { return extremum(x, n, m, true); }
float cpu_min_f32_neon(const float *x, int64_t n, float m) { return extremum(x, n, m, false); }

void cpu_col_sum8_f32_neon(float *acc, const float *const *r, int64_t n) {
    const float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3];
    const float *r4 = r[4], *r5 = r[5], *r6 = r[6], *r7 = r[7];
    int64_t j = 0;
    /* eight row streams read side by side, 8 columns (two vectors) per step */
    for (; j + 8 <= n; j += 8) {
#pragma GCC unroll 2
        for (int h = 0; h < 8; h += 4) {
            float32x4_t a = vaddq_f32(vld1q_f32(r0 + j + h), vld1q_f32(r1 + j + h));
            float32x4_t b = vaddq_f32(vld1q_f32(r2 + j + h), vld1q_f32(r3 + j + h));
            float32x4_t c = vaddq_f32(vld1q_f32(r4 + j + h), vld1q_f32(r5 + j + h));
            float32x4_t d = vaddq_f32(vld1q_f32(r6 + j + h), vld1q_f32(r7 + j + h));
            float32x4_t s = vaddq_f32(vaddq_f32(a, b), vaddq_f32(c, d));
            vst1q_f32(acc + j + h, vaddq_f32(vld1q_f32(acc + j + h), s));
        }
    }
    for (; j < n; j++)
        acc[j] += ((r0[j] + r1[j]) + (r2[j] + r3[j])) + ((r4[j] + r5[j]) + (r6[j] + r7[j]));
}
