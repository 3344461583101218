/* Dtype facts, PyTorch's promotion lattice, and the half-precision conversions. */
#include <string.h>

#include "born/core.h"

static const struct {
    const char *name;
    size_t size;        /* bytes per element, 0 for block types */
    int64_t block;      /* elements per block */
    size_t block_bytes; /* bytes per block */
} dtype_info[BORN_DTYPE_COUNT] = {
    [BORN_F32] = {"f32", 4, 1, 4},       [BORN_F64] = {"f64", 8, 1, 8},
    [BORN_F16] = {"f16", 2, 1, 2},       [BORN_BF16] = {"bf16", 2, 1, 2},
    [BORN_I8] = {"i8", 1, 1, 1},         [BORN_I16] = {"i16", 2, 1, 2},
    [BORN_I32] = {"i32", 4, 1, 4},       [BORN_I64] = {"i64", 8, 1, 8},
    [BORN_U8] = {"u8", 1, 1, 1},         [BORN_BOOL] = {"bool", 1, 1, 1},
    /* ggml's block layouts (d and m are f16 unless noted) */
    [BORN_Q4_0] = {"q4_0", 0, 32, 18},   /* d, 16 bytes of 4-bit values */
    [BORN_Q4_1] = {"q4_1", 0, 32, 20},   /* d, m, 16 bytes */
    [BORN_Q5_0] = {"q5_0", 0, 32, 22},   /* d, 4 bytes of high bits, 16 bytes */
    [BORN_Q5_1] = {"q5_1", 0, 32, 24},   /* d, m, 4 + 16 bytes */
    [BORN_Q8_0] = {"q8_0", 0, 32, 34},   /* d, 32 int8 */
    [BORN_Q8_1] = {"q8_1", 0, 32, 36},   /* d, s = d * sum, 32 int8 */
    [BORN_Q2_K] = {"q2_k", 0, 256, 84},  /* 16 scales, 64 bytes of 2-bit values, d, dmin */
    [BORN_Q3_K] = {"q3_k", 0, 256, 110}, /* 32 bytes high bits, 64 bytes, 12 scales, d */
    [BORN_Q4_K] = {"q4_k", 0, 256, 144}, /* d, dmin, 12 bytes of scales, 128 bytes */
    [BORN_Q5_K] = {"q5_k", 0, 256, 176}, /* d, dmin, 12 scales, 32 high bits, 128 bytes */
    [BORN_Q6_K] = {"q6_k", 0, 256, 210}, /* 128 low, 64 high, 16 int8 scales, d */
    [BORN_Q8_K] = {"q8_k", 0, 256, 292}, /* f32 d, 256 int8, 16 int16 sums */
    [BORN_IQ4_NL] = {"iq4_nl", 0, 32, 18},  /* d, 16 bytes of 4-bit indices */
    [BORN_IQ4_XS] = {"iq4_xs", 0, 256, 136}, /* d, scales_h, 4 scales_l, 128 bytes */
};

static bool dtype_valid(born_dtype d) { return (unsigned)d < BORN_DTYPE_COUNT; }

const char *born_dtype_name(born_dtype dtype) {
    return dtype_valid(dtype) ? dtype_info[dtype].name : "invalid";
}

size_t born_dtype_size(born_dtype dtype) { return dtype_valid(dtype) ? dtype_info[dtype].size : 0; }

bool born_dtype_is_quantized(born_dtype d) { return dtype_valid(d) && dtype_info[d].size == 0; }

int64_t born_dtype_block_size(born_dtype d) { return dtype_valid(d) ? dtype_info[d].block : 0; }

size_t born_dtype_block_bytes(born_dtype d) { return dtype_valid(d) ? dtype_info[d].block_bytes : 0; }

size_t born_dtype_nbytes(born_dtype d, int64_t numel) {
    if (!dtype_valid(d) || numel <= 0) return 0;
    return (size_t)(numel / dtype_info[d].block) * dtype_info[d].block_bytes;
}

bool born_dtype_is_floating(born_dtype d) {
    return d == BORN_F32 || d == BORN_F64 || d == BORN_F16 || d == BORN_BF16;
}

bool born_dtype_is_integer(born_dtype d) {
    return d == BORN_I8 || d == BORN_I16 || d == BORN_I32 || d == BORN_I64 || d == BORN_U8;
}

/* bool < integer < floating */
static int category(born_dtype d) {
    if (d == BORN_BOOL) return 0;
    return born_dtype_is_integer(d) ? 1 : 2;
}

born_dtype born_promote_types(born_dtype a, born_dtype b) {
    if (a == b) return a;
    /* quantized weights compute as f32 */
    if (born_dtype_is_quantized(a) || born_dtype_is_quantized(b)) return BORN_F32;
    int ca = category(a), cb = category(b);
    if (ca != cb) return ca > cb ? a : b;
    size_t sa = born_dtype_size(a), sb = born_dtype_size(b);
    if (ca == 1) {
        /* u8 is the only unsigned type: with a signed type it needs one more bit */
        if (a == BORN_U8 || b == BORN_U8) {
            born_dtype s = a == BORN_U8 ? b : a;
            return s == BORN_I8 ? BORN_I16 : s;
        }
        return sa > sb ? a : b;
    }
    /* floating: f16 and bf16 have no common 16-bit type */
    if (sa == 2 && sb == 2) return BORN_F32;
    return sa > sb ? a : b;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t born_f32_to_f16(float value) {
    uint32_t x = f32_bits(value);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t mag = x & 0x7fffffffu;
    if (mag >= 0x7f800000u) { /* Inf stays Inf; NaN stays a (quiet) NaN with its top payload */
        if (mag == 0x7f800000u) return (uint16_t)(sign | 0x7c00u);
        return (uint16_t)(sign | 0x7e00u | ((mag >> 13) & 0x3ffu));
    }
    if (mag >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to Inf */
    if (mag < 0x38800000u) {
        /* below 2^-14: a half subnormal (or zero). Adding 0.5 aligns the half's lowest bit
         * with the float's lowest mantissa bit, and the FPU's addition rounds to nearest even. */
        float shifted = bits_f32(mag) + 0.5f;
        return (uint16_t)(sign | (f32_bits(shifted) - 0x3f000000u));
    }
    /* normal: rebias the exponent and round the 13 dropped bits to nearest even */
    uint32_t odd = (mag >> 13) & 1u;
    mag += 0xc8000fffu + odd; /* (15 - 127) << 23, plus the rounding bias */
    return (uint16_t)(sign | (mag >> 13));
}

float born_f16_to_f32(uint16_t bits) {
    uint32_t sign = (uint32_t)(bits & 0x8000u) << 16;
    uint32_t exp = (bits >> 10) & 0x1fu;
    uint32_t mant = bits & 0x3ffu;
    if (exp == 0) {
        float v = (float)mant * 5.9604644775390625e-8f; /* 2^-24, exact */
        return bits_f32(f32_bits(v) | sign);
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t born_f32_to_bf16(float value) {
    uint32_t x = f32_bits(value);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float born_bf16_to_f32(uint16_t bits) { return bits_f32((uint32_t)bits << 16); }
