/* arm64 NEON row helper of the attention kernels: exp(x - shift) in place with the row's sum, the
 * twin of attention_avx2.c on 4 lanes through vmath_neon.h's exp (1.04 ulp). Eight elements a
 * step in two vectors summed separately; the last 1-7 go through two vectors padded with
 * shift (exp 1, so the padding never sends a vector to the exact path), whose extra lanes are
 * cleared before the sum. Compiled for arm64 only. */
#include <string.h>

#include "backend/cpu/attention_kernels.h"
#include "backend/cpu/vmath_neon.h"

float attn_exp_shift_f32_neon(float *x, int64_t n, float shift) {
    float32x4_t sh = vdupq_n_f32(shift), acc0 = vdupq_n_f32(0), acc1 = acc0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t e0 = vm4_exp(vsubq_f32(vld1q_f32(x + i), sh));
        float32x4_t e1 = vm4_exp(vsubq_f32(vld1q_f32(x + i + 4), sh));
        vst1q_f32(x + i, e0);
        vst1q_f32(x + i + 4, e1);
        acc0 = vaddq_f32(acc0, e0);
        acc1 = vaddq_f32(acc1, e1);
    }
    if (i < n) { /* padded with shift (exp 1, the fast path), those lanes cleared before the sum */
        float buf[8] = {shift, shift, shift, shift, shift, shift, shift, shift};
        memcpy(buf, x + i, sizeof(float) * (size_t)(n - i));
        const int32x4_t idx = {0, 1, 2, 3};
        int32x4_t rest = vdupq_n_s32((int32_t)(n - i));
        float32x4_t e0 = vm4_exp(vsubq_f32(vld1q_f32(buf), sh));
        float32x4_t e1 = vm4_exp(vsubq_f32(vld1q_f32(buf + 4), sh));
        e0 = vm4_and(vcltq_s32(idx, rest), e0);
        e1 = vm4_and(vcltq_s32(vaddq_s32(idx, vdupq_n_s32(4)), rest), e1);
        vst1q_f32(buf, e0);
        vst1q_f32(buf + 4, e1);
        memcpy(x + i, buf, sizeof(float) * (size_t)(n - i));
        acc0 = vaddq_f32(acc0, e0);
        acc1 = vaddq_f32(acc1, e1);
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}
