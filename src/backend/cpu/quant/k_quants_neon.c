/* arm64 NEON dot products of the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K) with Q8_K
 * activations: the kernels of k_quants_neon_impl.h built twice, with widening multiplies (the
 * *_neon functions, any AArch64 CPU) and with SDOT (*_neon_dotprod, for CPUs with the dot-product
 * extension). Both give the portable functions' bits. */
#include "backend/cpu/quant/quant_neon.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

/* sum over sub-blocks j < 8 of mn[j] * (bsums[2j] + bsums[2j + 1]), exact for any bsums. */
static inline int qn_k4_mins_dot(const uint8_t mn[8], const int16_t *bsums) {
    const int32x4_t b0 = vpaddlq_s16(vld1q_s16(bsums)), b1 = vpaddlq_s16(vld1q_s16(bsums + 8));
    const uint16x8_t m = vmovl_u8(vld1_u8(mn));
    const int32x4_t m0 = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(m)));
    const int32x4_t m1 = vreinterpretq_s32_u32(vmovl_high_u16(m));
    return vaddvq_s32(vmlaq_s32(vmulq_s32(b0, m0), b1, m1));
}

/* Q2_K's sum over sub-blocks j < 16 of (scales[j] >> 4) * bsums[j]. */
static inline int qn_q2k_mins_dot(const uint8_t *scales, const int16_t *bsums) {
    const uint8x16_t mins = vshrq_n_u8(vld1q_u8(scales), 4);
    const int16x8_t m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
    const int16x8_t m1 = vreinterpretq_s16_u16(vmovl_high_u8(mins));
    const int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
    int32x4_t s = vmull_s16(vget_low_s16(b0), vget_low_s16(m0));
    s = vmlal_high_s16(s, b0, m0);
    s = vmlal_s16(s, vget_low_s16(b1), vget_low_s16(m1));
    return vaddvq_s32(vmlal_high_s16(s, b1, m1));
}

#define QN_DOT16 qn_dot16_mull
#define QN_DOT16_WIDE qn_dot16_wide
#define QN_SFX _neon
#define QN_TARGET
#include "backend/cpu/quant/k_quants_neon_impl.h"
#undef QN_DOT16
#undef QN_DOT16_WIDE
#undef QN_SFX
#undef QN_TARGET

#if QUANT_NEON_DOTPROD
#define QN_DOT16 qn_dot16_sdot
#define QN_DOT16_WIDE qn_dot16_sdot
#define QN_SFX _neon_dotprod
#define QN_TARGET QN_TARGET_DOTPROD
#include "backend/cpu/quant/k_quants_neon_impl.h"
#undef QN_DOT16
#undef QN_DOT16_WIDE
#undef QN_SFX
#undef QN_TARGET
#endif
