/* The arm64 NEON dot products (vec_dot_neon: widening multiplies; vec_dot_neon_dotprod: SDOT,
 * run where the CPU has it) against the portable ones, bit for bit, over random blocks biased to
 * the extremes (bytes 0x00, 0xFF, 0x80, 0x7F, 0x88, 0x77: nibbles -8 and 7, levels -128 and
 * 127) and blocks of one repeated byte, with scales zero, subnormal, largest or ordinary; and the
 * choice of function by CPU level. Other architectures have no NEON functions: the tests check
 * that the fields are NULL. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/quant/quant_traits.h"
#include "core/cpu_features.h"
#include "test.h"

static const born_dtype TYPES[] = {BORN_Q4_0, BORN_Q4_1, BORN_Q5_0,   BORN_Q5_1,  BORN_Q8_0,
                                   BORN_Q8_1, BORN_Q2_K, BORN_Q3_K,   BORN_Q4_K,  BORN_Q5_K,
                                   BORN_Q6_K, BORN_Q8_K, BORN_IQ4_NL, BORN_IQ4_XS};
enum { NT = sizeof TYPES / sizeof TYPES[0] };

static uint64_t rng_state;
static uint32_t rng_u32(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 32);
}

/* A byte: one of the extremes half the time, else any. */
static uint8_t extreme_byte(void) {
    static const uint8_t ext[6] = {0x00, 0xFF, 0x80, 0x7F, 0x88, 0x77};
    uint32_t r = rng_u32();
    return r & 1 ? ext[(r >> 1) % 6] : (uint8_t)(r >> 8);
}

/* A binary16 scale: +-0, the smallest subnormal, the largest finite, or an ordinary value. */
static uint16_t scale_f16(bool largest) {
    uint32_t r = rng_u32() % 8;
    uint16_t sign = (uint16_t)((rng_u32() & 1) << 15);
    if (largest) return (uint16_t)(sign | 0x7BFF); /* 65504 */
    if (r == 0) return sign;
    if (r == 1) return (uint16_t)(sign | 1);
    if (r == 2) return (uint16_t)(sign | 0x7BFF);
    return born_f32_to_f16((float)((int)(rng_u32() % 2001) - 1000) * 1e-4f);
}

/* Q8_K's float scale: +-0, a subnormal, a large value, or an ordinary one. */
static float scale_f32(bool largest) {
    uint32_t r = rng_u32() % 8;
    float sign = rng_u32() & 1 ? -1.0f : 1.0f;
    if (largest) return sign * 1e15f;
    if (r == 0) return sign * 0.0f;
    if (r == 1) return sign * 1e-40f;
    if (r == 2) return sign * 1e15f;
    return (float)((int)(rng_u32() % 2001) - 1000) * 1e-5f;
}

/* Byte offsets of a block's binary16 scales (-1 ends the list); Q8_K's d is a float at 0. */
static void scale_offsets(born_dtype t, int offs[3]) {
    offs[0] = offs[1] = offs[2] = -1;
    switch (t) {
    case BORN_Q4_1: offs[0] = offsetof(block_q4_1, d), offs[1] = offsetof(block_q4_1, m); break;
    case BORN_Q5_1: offs[0] = offsetof(block_q5_1, d), offs[1] = offsetof(block_q5_1, m); break;
    case BORN_Q8_1: offs[0] = offsetof(block_q8_1, d), offs[1] = offsetof(block_q8_1, s); break;
    case BORN_Q2_K: offs[0] = offsetof(block_q2_K, d), offs[1] = offsetof(block_q2_K, dmin); break;
    case BORN_Q3_K: offs[0] = offsetof(block_q3_K, d); break;
    case BORN_Q4_K: offs[0] = offsetof(block_q4_K, d), offs[1] = offsetof(block_q4_K, dmin); break;
    case BORN_Q5_K: offs[0] = offsetof(block_q5_K, d), offs[1] = offsetof(block_q5_K, dmin); break;
    case BORN_Q6_K: offs[0] = offsetof(block_q6_K, d); break;
    case BORN_Q8_K: break;
    default: offs[0] = 0; break; /* Q4_0, Q5_0, Q8_0, IQ4_NL, IQ4_XS: d first */
    }
}

/* nblocks blocks of type t: every byte `fill` (0..255) or extreme_byte() (fill < 0), then the
 * scales drawn by scale_f16 / scale_f32. */
static void make_blocks(born_dtype t, unsigned char *b, int64_t nblocks, int fill) {
    const size_t bs = quant_traits_of(t)->block_bytes;
    for (size_t i = 0; i < (size_t)nblocks * bs; i++)
        b[i] = fill < 0 ? extreme_byte() : (unsigned char)fill;
    int offs[3];
    scale_offsets(t, offs);
    for (int64_t i = 0; i < nblocks; i++) {
        unsigned char *blk = b + (size_t)i * bs;
        for (int k = 0; offs[k] >= 0; k++) {
            uint16_t h = scale_f16(fill >= 0);
            memcpy(blk + offs[k], &h, 2);
        }
        if (t == BORN_Q8_K) {
            float d = scale_f32(fill >= 0);
            memcpy(blk, &d, 4);
        }
    }
}

/* Activations of type vdt from N(0, 1)-like data by the reference quantizer (consistent bsums
 * and sums), the realistic case next to make_blocks' arbitrary bytes. */
static void quantize_blocks(born_dtype vdt, unsigned char *b, int64_t n) {
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((int)(rng_u32() % 4001) - 2000) * 1e-3f * (i % 7 == 0 ? 30.0f : 1.0f);
    quant_traits_of(vdt)->from_float(x, b, n);
    free(x);
}

static bool same_bits(float a, float b) {
    return memcmp(&a, &b, sizeof a) == 0 || (isnan(a) && isnan(b));
}

/* Checks dot against the portable vec_dot of type t over `trials` random cases: the same bits
 * in every case (a NaN matching a NaN). */
static void compare_with_portable(born_dtype t, quant_vec_dot_fn dot, const char *impl,
                                  int trials) {
    static const int fills[] = {0x00, 0xFF, 0x80, 0x7F, 0x88, 0x77, 0x08, 0xF0};
    enum { NF = sizeof fills / sizeof fills[0] };
    const quant_traits *tr = quant_traits_of(t);
    const int64_t maxb = tr->block == QK_K ? 9 : 40;
    unsigned char *x = malloc(born_dtype_nbytes(t, maxb * tr->block));
    unsigned char *y = malloc(born_dtype_nbytes(tr->vec_dot_type, maxb * tr->block));
    int bad = 0, first = -1;
    float first_got = 0, first_want = 0;
    for (int k = 0; k < trials; k++) {
        const int64_t nb = 1 + (int64_t)(rng_u32() % (uint32_t)maxb), n = nb * tr->block;
        if (k < NF * NF) { /* every pair of repeated bytes, largest scales */
            make_blocks(t, x, nb, fills[k / NF]);
            make_blocks(tr->vec_dot_type, y, nb, fills[k % NF]);
        } else {
            make_blocks(t, x, nb, -1);
            if (k % 3 == 0)
                quantize_blocks(tr->vec_dot_type, y, n);
            else
                make_blocks(tr->vec_dot_type, y, nb, -1);
        }
        const float want = tr->vec_dot(n, x, y), got = dot(n, x, y);
        if (!same_bits(got, want) && bad++ == 0) first = k, first_got = got, first_want = want;
    }
    CHECK_MSG(bad == 0,
              "%s %s vec_dot: %d of %d cases differ from the portable bits (case %d: %.9g vs %.9g)",
              born_dtype_name(t), impl, bad, trials, first, first_got, first_want);
    free(x), free(y);
}

TEST(quant_neon_vec_dot_gives_the_portable_bits) {
    const bool dotprod = cpu_features_get()->neon_dotprod;
    for (int i = 0; i < NT; i++) {
        const quant_traits *tr = quant_traits_of(TYPES[i]);
#if defined(__aarch64__)
        CHECK_MSG(tr->vec_dot_neon, "%s has no NEON dot product", born_dtype_name(TYPES[i]));
#else
        CHECK(!tr->vec_dot_neon && !tr->vec_dot_neon_dotprod && !dotprod);
#endif
        rng_state = 1000 + (uint64_t)i;
        if (tr->vec_dot_neon) compare_with_portable(TYPES[i], tr->vec_dot_neon, "neon", 400);
        rng_state = 1000 + (uint64_t)i; /* the same cases for SDOT */
        if (tr->vec_dot_neon_dotprod && dotprod)
            compare_with_portable(TYPES[i], tr->vec_dot_neon_dotprod, "neon_dotprod", 400);
    }
}

TEST(quant_neon_vec_dot_chosen_by_level) {
    const cpu_level saved = cpu_get_level();
    for (int i = 0; i < NT; i++) {
        const quant_traits *tr = quant_traits_of(TYPES[i]);
        cpu_set_level(CPU_LEVEL_SCALAR);
        CHECK(quant_vec_dot_of(TYPES[i]) == tr->vec_dot);
        cpu_set_level(CPU_LEVEL_NEON);
        if (cpu_get_level() != CPU_LEVEL_NEON) continue; /* not arm64 */
        quant_vec_dot_fn want = tr->vec_dot_neon_dotprod && cpu_features_get()->neon_dotprod
                                    ? tr->vec_dot_neon_dotprod
                                    : tr->vec_dot_neon;
        CHECK_MSG(quant_vec_dot_of(TYPES[i]) == want, "%s: wrong vec_dot at the NEON level",
                  born_dtype_name(TYPES[i]));
    }
    cpu_set_level(saved);
}
