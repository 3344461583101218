/* arm64 NEON versions of the engine's weight dot products (see kernels_simd.h): f16, bf16 and f32
 * rows against an f32 x, with the AVX2 dots' order of operations, so arm64 gives x86's bits. An
 * AVX2 8-lane accumulator is a pair of 4-lane ones here: two of them take alternate runs of 8
 * elements, a last run of 8 goes to the first, then the lanes are added as the AVX2 hsum adds
 * them ((lane i + lane i + 4) for i < 4, then (0 + 2) + (1 + 3)) and the tail is added one
 * element at a time, each product rounded before its addition. The f16 axpy of the attention's V
 * rows is one fused multiply-add an element, as on x86. */
#include <arm_neon.h>
#include <string.h>

#include "born/born.h"
#include "llm/session/kernels_simd.h"

/* An AVX2 __m256: lanes 0-3 and 4-7. */
typedef struct acc8 {
    float32x4_t lo, hi;
} acc8;

enum { W_F32, W_F16, W_BF16 };

/* Eight weights at y (f32, f16 or bf16 by kind) as f32: lanes 0-3 and 4-7. */
static inline acc8 load8(const void *y, int64_t i, int kind) {
    acc8 r;
    if (kind == W_F32) {
        r.lo = vld1q_f32((const float *)y + i);
        r.hi = vld1q_f32((const float *)y + i + 4);
    } else if (kind == W_F16) {
        uint16x8_t h = vld1q_u16((const uint16_t *)y + i);
        r.lo = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
        r.hi = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)));
    } else {
        uint16x8_t h = vld1q_u16((const uint16_t *)y + i);
        r.lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
        r.hi = vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16));
    }
    return r;
}

static inline acc8 fma8(acc8 a, const float *x, acc8 w) {
    a.lo = vfmaq_f32(a.lo, vld1q_f32(x), w.lo);
    a.hi = vfmaq_f32(a.hi, vld1q_f32(x + 4), w.hi);
    return a;
}

static inline float weight_at(const void *y, int64_t i, int kind) {
    if (kind == W_F32) return ((const float *)y)[i];
    uint16_t b = ((const uint16_t *)y)[i];
    if (kind == W_F16) return born_f16_to_f32(b);
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The dot of n elements in the AVX2 order (dot_half_finish and llm_dot_f32_avx2 in
 * kernels_avx2.c), prefetching 1 KiB ahead as the AVX2 rows do. */
static inline float dot(const float *x, const void *y, int64_t n, int kind) {
    const size_t esz = kind == W_F32 ? 4 : 2;
    acc8 a0 = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}, a1 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __builtin_prefetch((const char *)y + (size_t)i * esz + 1024);
        a0 = fma8(a0, x + i, load8(y, i, kind));
        a1 = fma8(a1, x + i + 8, load8(y, i + 8, kind));
    }
    for (; i + 8 <= n; i += 8) a0 = fma8(a0, x + i, load8(y, i, kind));
    float32x4_t s4 = vaddq_f32(vaddq_f32(a0.lo, a1.lo), vaddq_f32(a0.hi, a1.hi));
    float s = (vgetq_lane_f32(s4, 0) + vgetq_lane_f32(s4, 2)) +
              (vgetq_lane_f32(s4, 1) + vgetq_lane_f32(s4, 3));
    for (; i < n; i++) {
        float p = x[i] * weight_at(y, i, kind);
        s += p;
    }
    return s;
}

float llm_dot_f16_neon(const float *x, const uint16_t *y, int64_t n) { return dot(x, y, n, W_F16); }

float llm_dot_bf16_neon(const float *x, const uint16_t *y, int64_t n) { return dot(x, y, n, W_BF16); }

float llm_dot_f32_neon(const float *x, const float *y, int64_t n) { return dot(x, y, n, W_F32); }

void llm_dot_rows_f16_neon(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t n,
                           float *out) {
    for (int64_t j = 0; j < rows; j++) out[j] = dot(x, w + j * ls, n, W_F16);
}

void llm_dot_rows_bf16_neon(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t n,
                            float *out) {
    for (int64_t j = 0; j < rows; j++) out[j] = dot(x, w + j * ls, n, W_BF16);
}

void llm_axpy_f16_neon(float *acc, float a, const uint16_t *y, int64_t n) {
    const float32x4_t va = vdupq_n_f32(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t h = vld1q_u16(y + i);
        float32x4_t y0 = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
        float32x4_t y1 = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)));
        vst1q_f32(acc + i, vfmaq_f32(vld1q_f32(acc + i), y0, va));
        vst1q_f32(acc + i + 4, vfmaq_f32(vld1q_f32(acc + i + 4), y1, va));
    }
    for (; i < n; i++) acc[i] = __builtin_fmaf(born_f16_to_f32(y[i]), a, acc[i]);
}
