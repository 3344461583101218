/* Internal: arm64 NEON helpers for the quantized dot products (*_neon.c files only).
 *
 * Every integer product of a block is an int8 x int8 product summed into int32 lanes, either by
 * widening multiplies (baseline ARMv8.0: SMULL/SMLAL2 into int16, SADALP into int32) or by SDOT
 * (the dot-product extension, vdotq_s32), so each block's integer sum is exact and equals the
 * portable one. The kernels are written once (q4_q5_q8_neon_impl.h, k_quants_neon_impl.h,
 * iq4_neon_impl.h) and included twice by their .c file: with QN_DOT16 = qn_dot16_mull (baseline,
 * suffix _neon) and with QN_DOT16 = qn_dot16_sdot (suffix _neon_dotprod, compiled for the
 * extension, called only when cpu_features_get()->neon_dotprod). */
#ifndef BORN_CPU_QUANT_NEON_H
#define BORN_CPU_QUANT_NEON_H

#include <arm_neon.h>

#include "backend/cpu/quant/quant_traits.h"

/* QUANT_NEON_DOTPROD: whether the SDOT kernels are built. GCC 12 declares vdotq_s32 for
 * "arch=armv8.2-a+dotprod" (plain "+dotprod" on the ARMv8.0 base does not satisfy it); clang
 * before 16 declares it only when the whole file is compiled with the extension. */
#if defined(__ARM_FEATURE_DOTPROD)
#define QUANT_NEON_DOTPROD 1
#define QN_TARGET_DOTPROD
#elif defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define QUANT_NEON_DOTPROD 1
#define QN_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#elif defined(__clang__) && __clang_major__ >= 16
#define QUANT_NEON_DOTPROD 1
#define QN_TARGET_DOTPROD __attribute__((target("dotprod")))
#else
#define QUANT_NEON_DOTPROD 0
#endif

/* A binary16 as float (exact, as quant_f16; the hardware conversion). */
static inline float qn_f16(uint16_t h) {
    __fp16 v;
    memcpy(&v, &h, sizeof v);
    return (float)v;
}

/* The low and the high nibbles of 16 bytes, as bytes. */
static inline int8x16_t qn_lo(uint8x16_t b) {
    return vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0xF)));
}
static inline int8x16_t qn_hi(uint8x16_t b) { return vreinterpretq_s8_u8(vshrq_n_u8(b, 4)); }

/* acc + the 16 products a_i b_i, summed four to a lane, by widening multiplies: each int16 lane
 * holds a_i b_i + a_{i+8} b_{i+8}, exact unless a_i = b_i = a_{i+8} = b_{i+8} = -128 (32768). Only
 * Q8 weights can meet activations there, so the Q8 kernels use qn_dot16_wide. */
static inline int32x4_t qn_dot16_mull(int32x4_t acc, int8x16_t a, int8x16_t b) {
    int16x8_t p = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    return vpadalq_s16(acc, vmlal_high_s8(p, a, b));
}

/* As qn_dot16_mull, exact for any bytes: one product per int16 lane. */
static inline int32x4_t qn_dot16_wide(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

#if QUANT_NEON_DOTPROD
/* acc + the 16 products a_i b_i by SDOT (exact for any bytes). */
QN_TARGET_DOTPROD static inline int32x4_t qn_dot16_sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}
#endif

/* The eight 6-bit scales and mins of a Q4_K / Q5_K block's 12 packed bytes (quant_scale_min_k4
 * for every j, four bytes at a time: bytes 0-3 hold scales 0-3 and the top bits of scales 4-7,
 * bytes 4-7 mins 0-3 and the top bits of mins 4-7, bytes 8-11 the low bits of both). Used by
 * k_quants_neon.c and quant_gemm_neon.c. */
static inline void qn_k4_scales(const uint8_t *q, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t a, b, c;
    memcpy(&a, q, 4);
    memcpy(&b, q + 4, 4);
    memcpy(&c, q + 8, 4);
    const uint32_t s0 = a & 0x3F3F3F3Fu, m0 = b & 0x3F3F3F3Fu;
    const uint32_t s1 = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
    const uint32_t m1 = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
    memcpy(sc, &s0, 4);
    memcpy(sc + 4, &s1, 4);
    memcpy(mn, &m0, 4);
    memcpy(mn + 4, &m1, 4);
}

/* The activation quantizers on NEON (quant_act_neon.c), chosen by quant_act_from_float at
 * CPU_LEVEL_NEON: the bytes of quant_act_q8_0 / quant_act_q8_1 (blocks of 32) and of
 * quant_from_float_q8_K (blocks of 256; NaN blocks and non-finite scales go to it). */
void quant_act_q8_0_neon(const float *src, void *dst, int64_t n);
void quant_act_q8_1_neon(const float *src, void *dst, int64_t n);
void quant_act_q8_K_neon(const float *src, void *dst, int64_t n);

/* The 32 bits at p (little-endian) as 32 bytes in two registers (bits 0..15, 16..31): `set`
 * where the bit is set, 0 elsewhere. */
static inline void qn_bits32(const uint8_t *p, uint8_t set, uint8x16_t out[2]) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    const uint8x16_t bytes = vreinterpretq_u8_u32(vdupq_n_u32(v));
    const uint8x16_t idx0 = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    const uint8x16_t idx1 = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    const uint8x16_t bit = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t s = vdupq_n_u8(set);
    out[0] = vandq_u8(vtstq_u8(vqtbl1q_u8(bytes, idx0), bit), s);
    out[1] = vandq_u8(vtstq_u8(vqtbl1q_u8(bytes, idx1), bit), s);
}

#endif
