/* arm64 NEON tiles of the quantized products (see quant_gemm.h): the kernels of
 * quant_gemm_neon_impl.h built twice, with widening multiplies (quant_gemm_<type>_neon, any
 * AArch64 CPU) and with SDOT (quant_gemm_<type>_neon_dotprod, for CPUs with the dot-product
 * extension), each output giving the bits of the NEON vec_dot of the same build (q4_q5_q8_neon.c,
 * k_quants_neon.c), which are the portable function's bits. */
#include "backend/cpu/quant/quant_gemm.h"
#include "backend/cpu/quant/quant_neon.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#define QG_INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* A scheduling barrier that keeps v in a register: the tiles are fully unrolled, and without it
 * gcc starts every token's products at once, which needs more than the 32 vector registers and
 * spills the accumulators to the stack (hundreds of vectors a super-block in the K-quant tiles).
 * The tiles put one after each token's step (Q6_K: after each sub-block's, for all tokens), which
 * keeps the live values to a step's worth. */
#define QG_KEEP(v) __asm__ volatile("" : "+w"(v))

typedef void (*qg_tile_fn)(int64_t nb, const char *w, size_t w_rs, const char *y, size_t y_rs,
                           float *out, int64_t out_rs);

/* Runs a product as tiles of up to rm weight rows x cm tokens, the rows and tokens left over in
 * one smaller tile each: tiles[(R - 1) * cm + C - 1] is the tile of R rows and C tokens. */
static void qg_drive(const qg_tile_fn *tiles, int rm, int cm, int64_t nb, const char *w,
                     size_t w_rs, int64_t nrows, const char *y, size_t y_rs, int64_t ntok,
                     float *out, int64_t out_rs) {
    for (int64_t r = 0; r < nrows; r += rm) {
        const int R = nrows - r < rm ? (int)(nrows - r) : rm;
        const qg_tile_fn *t = tiles + (R - 1) * cm;
        const char *wr = w + (size_t)r * w_rs;
        for (int64_t c = 0; c < ntok; c += cm) {
            const int C = ntok - c < cm ? (int)(ntok - c) : cm;
            t[C - 1](nb, wr, w_rs, y + (size_t)c * y_rs, y_rs, out + c * out_rs + r, out_rs);
        }
    }
}

/* The binary16 at p + i * stride for i < n, as floats in lanes 0..n-1 (0 above): the scales of
 * up to four rows' blocks. The conversion is exact, as qn_f16's. */
QG_INLINE float32x4_t qg_f16x4(const char *p, size_t stride, const int n) {
    uint16x4_t h = vdup_n_u16(0);
    uint16_t v;
    if (n > 0) memcpy(&v, p, 2), h = vset_lane_u16(v, h, 0);
    if (n > 1) memcpy(&v, p + stride, 2), h = vset_lane_u16(v, h, 1);
    if (n > 2) memcpy(&v, p + 2 * stride, 2), h = vset_lane_u16(v, h, 2);
    if (n > 3) memcpy(&v, p + 3 * stride, 2), h = vset_lane_u16(v, h, 3);
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

/* The float at p + i * stride for i < n, in lanes 0..n-1 (0 above): Q8_K's scales of up to
 * four tokens' blocks. */
QG_INLINE float32x4_t qg_f32x4(const char *p, size_t stride, const int n) {
    float32x4_t v = vdupq_n_f32(0.0f);
    float f;
    if (n > 0) memcpy(&f, p, 4), v = vsetq_lane_f32(f, v, 0);
    if (n > 1) memcpy(&f, p + stride, 4), v = vsetq_lane_f32(f, v, 1);
    if (n > 2) memcpy(&f, p + 2 * stride, 4), v = vsetq_lane_f32(f, v, 2);
    if (n > 3) memcpy(&f, p + 3 * stride, 4), v = vsetq_lane_f32(f, v, 3);
    return v;
}

/* The totals of four 4-lane int32 sums, one to a lane: lane i is the sum of s[i]'s lanes
 * (exact in int32, as vaddvq_s32 of each). */
QG_INLINE int32x4_t qg_sum4(int32x4_t s0, int32x4_t s1, int32x4_t s2, int32x4_t s3) {
    return vpaddq_s32(vpaddq_s32(s0, s1), vpaddq_s32(s2, s3));
}

/* Stores lanes 0..n-1 of v at p + i * stride. */
QG_INLINE void qg_store(float *p, int64_t stride, float32x4_t v, const int n) {
    if (n > 0) p[0] = vgetq_lane_f32(v, 0);
    if (n > 1) p[stride] = vgetq_lane_f32(v, 1);
    if (n > 2) p[2 * stride] = vgetq_lane_f32(v, 2);
    if (n > 3) p[3 * stride] = vgetq_lane_f32(v, 3);
}

/* The 32-element weight types, which share one tile. */
enum { QG_Q4_0, QG_Q4_1, QG_Q5_0, QG_Q8_0 };

QG_INLINE size_t qg_block_bytes(const int type) {
    return type == QG_Q4_0   ? sizeof(block_q4_0)
           : type == QG_Q4_1 ? sizeof(block_q4_1)
           : type == QG_Q5_0 ? sizeof(block_q5_0)
                             : sizeof(block_q8_0);
}

/* A weight block's 32 levels as the type's vec_dot forms them, in two registers (elements
 * 0..15, 16..31): q - 8 (Q4_0), q (Q4_1), q - 16 with the fifth bit from qh (Q5_0), q (Q8_0). */
QG_INLINE void qg_levels(const int type, const char *blk, int8x16_t *x0, int8x16_t *x1) {
    if (type == QG_Q8_0) {
        const block_q8_0 *x = (const block_q8_0 *)blk;
        *x0 = vld1q_s8(x->qs);
        *x1 = vld1q_s8(x->qs + 16);
    } else if (type == QG_Q4_1) {
        const uint8x16_t b = vld1q_u8(((const block_q4_1 *)blk)->qs);
        *x0 = qn_lo(b);
        *x1 = qn_hi(b);
    } else if (type == QG_Q4_0) {
        const uint8x16_t b = vld1q_u8(((const block_q4_0 *)blk)->qs);
        *x0 = vsubq_s8(qn_lo(b), vdupq_n_s8(8));
        *x1 = vsubq_s8(qn_hi(b), vdupq_n_s8(8));
    } else {
        const block_q5_0 *x = (const block_q5_0 *)blk;
        uint8x16_t h[2];
        qn_bits32(x->qh, 0x10, h);
        const uint8x16_t b = vld1q_u8(x->qs);
        *x0 = vsubq_s8(vorrq_s8(qn_lo(b), vreinterpretq_s8_u8(h[0])), vdupq_n_s8(16));
        *x1 = vsubq_s8(vorrq_s8(qn_hi(b), vreinterpretq_s8_u8(h[1])), vdupq_n_s8(16));
    }
}

#define QN_DOT16 qn_dot16_mull
#define QN_DOT16_WIDE qn_dot16_wide
#define QN_SFX _neon
#define QN_TARGET
#include "backend/cpu/quant/quant_gemm_neon_impl.h"
#undef QN_DOT16
#undef QN_DOT16_WIDE
#undef QN_SFX
#undef QN_TARGET

#if QUANT_NEON_DOTPROD
#define QN_DOT16 qn_dot16_sdot
#define QN_DOT16_WIDE qn_dot16_sdot
#define QN_SFX _neon_dotprod
#define QN_TARGET QN_TARGET_DOTPROD
#include "backend/cpu/quant/quant_gemm_neon_impl.h"
#undef QN_DOT16
#undef QN_DOT16_WIDE
#undef QN_SFX
#undef QN_TARGET
#endif
