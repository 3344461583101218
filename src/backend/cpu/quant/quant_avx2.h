/* Internal: AVX2 helpers for the quantized dot products (*_avx2.c files only). Integer products
 * use _mm256_maddubs_epi16 (u8 x s8 -> pairs summed in s16) and _mm256_madd_epi16 (s16 x s16 ->
 * pairs summed in s32). A signed x signed product goes through the sign trick |x| * (y sign(x)),
 * exact as long as y never holds -128 (activations are quantized to [-127, 127]) and no pair sum
 * passes 32767 (each caller's comment bounds it). */
#ifndef BORN_CPU_QUANT_AVX2_H
#define BORN_CPU_QUANT_AVX2_H

#include <immintrin.h>

#include "backend/cpu/quant/quant_traits.h"

static inline float qa_f16(uint16_t h) { return _cvtsh_ss(h); }

static inline float qa_hsum_ps(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

static inline __m256i qa_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* The 32 nibbles of 16 bytes as bytes: the low nibbles in bytes 0..15, the high ones in 16..31. */
static inline __m256i qa_nibbles(const uint8_t *p) {
    /* the bytes in both lanes, the high lane shifted by 4: three instructions (a load that
     * broadcasts, one variable shift, the mask) where shift + insert took four */
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    b = _mm256_srlv_epi64(b, _mm256_set_epi64x(4, 4, 0, 0));
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* The 32 bits at p (little-endian) as 32 bytes: 0xFF where the bit is set, 0 elsewhere. */
static inline __m256i qa_bits(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    const __m256i which = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                           2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), which);
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
}

/* sum of unsigned x (< 128) times signed y, 32 bytes, as 8 int32 partial sums. */
static inline __m256i qa_dot_u8(__m256i x, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/* sum of signed x times signed y (y in [-127, 127]), 32 bytes, as 8 int32 partial sums. */
static inline __m256i qa_dot_i8(__m256i x, __m256i y) {
    return qa_dot_u8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* Shuffle masks that spread two bytes of a 16-byte register over the two 128-bit lanes:
 * mask c puts byte 2c in the low 8 bytes and byte 2c + 1 in the high 8 (then widened to int16:
 * scale 2c for the low lane, 2c + 1 for the high lane). */
static inline __m128i qa_pair_mask(int c) {
    long long lo = (long long)(0x0101010101010101ULL * (unsigned)(2 * c));
    long long hi = (long long)(0x0101010101010101ULL * (unsigned)(2 * c + 1));
    return _mm_set_epi64x(hi, lo);
}

/* int16 scales for a 32-element chunk made of two 16-element sub-blocks: sub-block 2c's scale in
 * the low 128-bit lane, 2c + 1's in the high one, from 16 signed (or unsigned < 128) bytes. */
static inline __m256i qa_pair_scales(__m128i scales8, int c) {
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales8, qa_pair_mask(c)));
}

#endif
