/* arm64 NEON activation quantizers: f32 rows to the Q8_0, Q8_1 and Q8_K blocks that the NEON dot
 * products (q4_q5_q8_neon.c, k_quants_neon.c, iq4_neon.c) take, chosen by quant_act_from_float
 * at CPU_LEVEL_NEON. Each gives the bytes of its portable reference (quant_act_q8_0 / q8_1 in
 * q4_q5_q8.c, quant_from_float_q8_K in k_quants.c) and of the AVX2 copies:
 *
 *  - the largest magnitude is exact whichever order it is found in;
 *  - the scale and its inverse are computed in scalar float as the reference does;
 *  - levels are x * inverse rounded to nearest, ties to even (FCVTNS, as the reference's
 *    magic-number rounding and cvtps2dq), narrowed with saturation (Q8_K's cap at 127);
 *  - Q8_K blocks with a NaN, or whose scale is not finite, go to the portable quantizer, as the
 *    AVX2 one does. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "backend/cpu/quant/quant_neon.h"

/* The 16 levels of x[0..15] (each rounded from x * s) as bytes. */
static inline int8x16_t levels16(const float *x, float32x4_t s) {
    int32x4_t i0 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x), s));
    int32x4_t i1 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 4), s));
    int32x4_t i2 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 8), s));
    int32x4_t i3 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 12), s));
    int16x8_t h0 = vcombine_s16(vqmovn_s32(i0), vqmovn_s32(i1));
    int16x8_t h1 = vcombine_s16(vqmovn_s32(i2), vqmovn_s32(i3));
    return vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1));
}

/* ---- Q8_0 / Q8_1: blocks of 32 ------------------------------------------------------------- */

/* Quantizes one block of 32 floats into q; returns d = amax / 127 and the sum of the levels. */
static inline float act_block(const float *x, int8_t *q, int *sum) {
    float32x4_t v[8];
    for (int k = 0; k < 8; k++)
        v[k] = vld1q_f32(x + 4 * k);
    /* FMAXNM passes NaN over, as the reference's running max mostly does */
    float32x4_t m0 = vmaxnmq_f32(vabsq_f32(v[0]), vabsq_f32(v[1]));
    float32x4_t m1 = vmaxnmq_f32(vabsq_f32(v[2]), vabsq_f32(v[3]));
    float32x4_t m2 = vmaxnmq_f32(vabsq_f32(v[4]), vabsq_f32(v[5]));
    float32x4_t m3 = vmaxnmq_f32(vabsq_f32(v[6]), vabsq_f32(v[7]));
    const float amax = vmaxnmvq_f32(vmaxnmq_f32(vmaxnmq_f32(m0, m1), vmaxnmq_f32(m2, m3)));
    const float32x4_t id = vdupq_n_f32(amax != 0.0f ? 127.f / amax : 0.0f);
    const int8x16_t q0 = levels16(x, id), q1 = levels16(x + 16, id);
    vst1q_s8(q, q0);
    vst1q_s8(q + 16, q1);
    *sum = vaddlvq_s8(q0) + vaddlvq_s8(q1);
    return amax / 127.f;
}

void quant_act_q8_0_neon(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        int sum;
        b[i].d = quant_to_f16(act_block(src, b[i].qs, &sum));
    }
}

void quant_act_q8_1_neon(const float *src, void *dst, int64_t n) {
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        int sum;
        const float d = act_block(src, b[i].qs, &sum);
        b[i].d = quant_to_f16(d);
        b[i].s = quant_to_f16(d * (float)sum);
    }
}

/* ---- Q8_K: blocks of 256 ------------------------------------------------------------------- */

void quant_act_q8_K_neon(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        /* amax in four streams of 4 lanes; FMAX returns NaN where a lane is NaN, so a block with
         * a NaN (or an infinity) has no finite amax */
        float32x4_t m[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
        for (int j = 0; j < QK_K; j += 16)
            for (int k = 0; k < 4; k++)
                m[k] = vmaxq_f32(m[k], vabsq_f32(vld1q_f32(x + j + 4 * k)));
        const float amax = vmaxvq_f32(vmaxq_f32(vmaxq_f32(m[0], m[1]), vmaxq_f32(m[2], m[3])));
        if (!isfinite(amax)) { /* the portable rounding trick's values */
            quant_from_float_q8_K(x, &y[i], QK_K);
            continue;
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* max: the first element of that magnitude (its sign sets the levels' sign) */
        int at = 0;
        const float32x4_t am = vdupq_n_f32(amax);
        for (int j = 0; j < QK_K; j += 4) {
            if (vmaxvq_u32(vceqq_f32(vabsq_f32(vld1q_f32(x + j)), am))) {
                at = j;
                while (fabsf(x[at]) != amax)
                    at++;
                break;
            }
        }
        const float iscale = -127.f / x[at];
        if (!isfinite(iscale)) { /* amax so small that -127 / max overflows */
            quant_from_float_q8_K(x, &y[i], QK_K);
            continue;
        }
        const float32x4_t is = vdupq_n_f32(iscale);
        for (int j = 0; j < QK_K; j += 16) {
            const int8x16_t q = levels16(x + j, is);
            vst1q_s8(y[i].qs + j, q);
            y[i].bsums[j / 16] = vaddlvq_s8(q);
        }
        const float d = 1 / iscale;
        memcpy(y[i].d, &d, sizeof d);
    }
}
