/* Internal: the block-quantized dtypes on the CPU, with ggml's block layouts byte for byte (the
 * bytes of a GGUF file's tensors). One traits entry per quantized dtype:
 *
 *   to_float(src, dst, n)    dequantizes n elements (n a multiple of the block): ggml's
 *                            dequantize_row_*, value for value
 *   from_float(src, dst, n)  the reference quantizer: the bytes ggml's quantize_row_*_ref writes
 *                            (the K-quants' and IQ4's scale searches included)
 *   vec_dot_type             what activations are quantized to for vec_dot (as ggml: Q8_0 for
 *                            Q4_0, Q5_0, Q8_0 and IQ4_NL; Q8_1 for Q4_1, Q5_1 and Q8_1; Q8_K for
 *                            the K-quants and IQ4_XS)
 *   vec_dot(n, x, y)         sum_i dequant(x)[i] * dequant(y)[i] for n elements, x of the type
 *                            and y of vec_dot_type, with integer products inside each block (up
 *                            to float rounding: Q5_1 uses the exact sum of Q8_1's levels, Q4_1
 *                            its f16 s as ggml does); portable C, and AVX2 (vec_dot_avx2,
 *                            x86-64 builds) when the CPU has it; on arm64 NEON (vec_dot_neon,
 *                            and vec_dot_neon_dotprod for CPUs with SDOT), which give the
 *                            portable bits
 *
 * Blocks are accessed through byte pointers that are at least 2-byte aligned (every block size is
 * even); multi-byte fields wider than 2 bytes (Q8_K's float d) are read with memcpy. Halves are
 * IEEE binary16 in the machine's (little-endian) byte order, as in GGUF.
 *
 * The reference quantizers are plain float code evaluated in source order without contraction
 * into FMA (ISO C mode; clang is told explicitly), as ggml's base library is built, so the bytes
 * do not depend on the machine. */
#ifndef BORN_CPU_QUANT_TRAITS_H
#define BORN_CPU_QUANT_TRAITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backend/backend.h"
#include "born/core.h"

#define QK_32 32  /* elements per block of the 32-element types */
#define QK_K 256  /* elements per super-block of the K-quants and IQ4_XS */

/* ---- ggml's blocks ----------------------------------------------------------------------------
 * (d, m, s: binary16 bits) */
typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } block_q5_1;
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;
typedef struct { uint16_t d, s; int8_t qs[32]; } block_q8_1; /* s = d * sum(qs) */
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } block_q2_K;
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } block_q3_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } block_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } block_q5_K;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } block_q6_K;
typedef struct { uint8_t d[4]; int8_t qs[256]; int16_t bsums[16]; } block_q8_K; /* d: a float */
typedef struct { uint16_t d; uint8_t qs[16]; } block_iq4_nl;
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; } block_iq4_xs;

_Static_assert(sizeof(block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K");
_Static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl");
_Static_assert(sizeof(block_iq4_xs) == 136, "iq4_xs");

/* The 16 levels of IQ4_NL and IQ4_XS. */
extern const int8_t quant_iq4nl_values[16];

/* ---- traits ------------------------------------------------------------------------------------ */

typedef void (*quant_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*quant_from_float_fn)(const float *src, void *dst, int64_t n);
typedef float (*quant_vec_dot_fn)(int64_t n, const void *x, const void *y);

typedef struct quant_traits {
    int64_t block;
    size_t block_bytes;
    quant_to_float_fn to_float;
    quant_from_float_fn from_float;
    born_dtype vec_dot_type;
    quant_vec_dot_fn vec_dot;      /* portable C */
    quant_vec_dot_fn vec_dot_avx2; /* AVX2 (+ FMA, F16C); NULL off x86-64 */
    quant_vec_dot_fn vec_dot_neon; /* arm64 NEON (ARMv8.0 widening multiplies); NULL off arm64 */
    quant_vec_dot_fn vec_dot_neon_dotprod; /* the same with SDOT; NULL off arm64 or where the
                                              compiler cannot build it (quant_neon.h) */
} quant_traits;

/* The traits of a quantized dtype, NULL for any other. */
const quant_traits *quant_traits_of(born_dtype dtype);

/* The vec_dot the CPU level asks for: AVX2 when cpu_get_level() >= CPU_LEVEL_AVX2; at
 * CPU_LEVEL_NEON the SDOT one when cpu_features_get()->neon_dotprod, else the baseline NEON one. */
quant_vec_dot_fn quant_vec_dot_of(born_dtype dtype);

/* ggml's x86 activation quantizers (quantize_row_q8_0 / q8_1): d = amax / 127, levels rounded
 * (ties to even) from x * (127 / amax). */
void quant_act_q8_0(const float *src, void *dst, int64_t n);
void quant_act_q8_1(const float *src, void *dst, int64_t n);
/* The same two in AVX2 (bit-identical results). */
void quant_act_q8_0_avx2(const float *src, void *dst, int64_t n);
void quant_act_q8_1_avx2(const float *src, void *dst, int64_t n);
/* quant_from_float_q8_K (the reference quantizer, which ggml uses for Q8_K) in AVX2: the same
 * bytes (k_quants_avx2.c). */
void quant_act_q8_K_avx2(const float *src, void *dst, int64_t n);
/* What activations of vec_dot type vdt are quantized with: the two above for Q8_0 / Q8_1, and
 * for Q8_K the AVX2 copy of the reference, where the CPU level allows (at CPU_LEVEL_NEON their
 * NEON versions, quant_neon.h: the same bytes); else ref (the reference quantizer). */
quant_from_float_fn quant_act_from_float(born_dtype vdt, quant_from_float_fn ref);

/* Bytes of a row of n elements (n a multiple of the block). */
static inline size_t quant_row_bytes(born_dtype dtype, int64_t n) {
    return born_dtype_nbytes(dtype, n);
}

/* dst = src where one or both are quantized (the copy entry's other half): rows are the last
 * dimension, whole (a quantized side has stride 1 there); the other dimensions may have any
 * strides (zero for broadcast). Quantized rows are dequantized to f32 and then converted to dst's
 * dtype, or src's rows converted to f32 and quantized with the reference quantizer. Rows are
 * independent, so results do not depend on the thread count. */
born_status cpu_quant_convert(const born_strided *dst, const born_strided *src);

/* ---- small helpers shared by the family files ------------------------------------------------ */

static inline float quant_f16(uint16_t h) { return born_f16_to_f32(h); }
static inline uint16_t quant_to_f16(float f) { return born_f32_to_f16(f); }

/* ggml's nearest_int: rounds to nearest, ties to even, for |f| <= 2^22. */
static inline int quant_nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static inline float quant_q8k_d(const block_q8_K *b) {
    float d;
    memcpy(&d, b->d, sizeof d);
    return d;
}

/* The 6-bit scale and min of sub-block j of a Q4_K / Q5_K block's 12 packed bytes. */
static inline void quant_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The 16 signed 6-bit scales of a Q3_K block (in [-32, 31]). */
static inline void quant_q3k_scales(const uint8_t *s, int8_t *out) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
        int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* ---- per-family functions (q4_q5_q8.c, k_quants.c, iq4.c and their *_avx2.c, *_neon.c) -------- */

#define QUANT_DECLARE(name)                                                                       \
    void quant_to_float_##name(const void *src, float *dst, int64_t n);                           \
    void quant_from_float_##name(const float *src, void *dst, int64_t n);
QUANT_DECLARE(q4_0)
QUANT_DECLARE(q4_1)
QUANT_DECLARE(q5_0)
QUANT_DECLARE(q5_1)
QUANT_DECLARE(q8_0)
QUANT_DECLARE(q8_1)
QUANT_DECLARE(q2_K)
QUANT_DECLARE(q3_K)
QUANT_DECLARE(q4_K)
QUANT_DECLARE(q5_K)
QUANT_DECLARE(q6_K)
QUANT_DECLARE(q8_K)
QUANT_DECLARE(iq4_nl)
QUANT_DECLARE(iq4_xs)
#undef QUANT_DECLARE

#define QUANT_DECLARE_DOT(name)                                                                   \
    float quant_vec_dot_##name(int64_t n, const void *x, const void *y);                          \
    float quant_vec_dot_##name##_avx2(int64_t n, const void *x, const void *y);                   \
    float quant_vec_dot_##name##_neon(int64_t n, const void *x, const void *y);                   \
    float quant_vec_dot_##name##_neon_dotprod(int64_t n, const void *x, const void *y);
QUANT_DECLARE_DOT(q4_0_q8_0)
QUANT_DECLARE_DOT(q4_1_q8_1)
QUANT_DECLARE_DOT(q5_0_q8_0)
QUANT_DECLARE_DOT(q5_1_q8_1)
QUANT_DECLARE_DOT(q8_0_q8_0)
QUANT_DECLARE_DOT(q8_1_q8_1)
QUANT_DECLARE_DOT(q2_K_q8_K)
QUANT_DECLARE_DOT(q3_K_q8_K)
QUANT_DECLARE_DOT(q4_K_q8_K)
QUANT_DECLARE_DOT(q5_K_q8_K)
QUANT_DECLARE_DOT(q6_K_q8_K)
QUANT_DECLARE_DOT(q8_K_q8_K)
QUANT_DECLARE_DOT(iq4_nl_q8_0)
QUANT_DECLARE_DOT(iq4_xs_q8_K)
#undef QUANT_DECLARE_DOT

#endif
