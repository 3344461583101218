/* Internal: the Q4_K / Q5_K scale helpers that the K-quant dot products (k_quants_avx2.c) and
 * tiles (quant_gemm_k_avx2.c) share (*_avx2.c files only). */
#ifndef BORN_CPU_K_QUANTS_AVX2_H
#define BORN_CPU_K_QUANTS_AVX2_H

#include "backend/cpu/quant/quant_avx2.h"

/* The 8 scales and 8 mins (6 bits each) of a Q4_K / Q5_K block: scales in bytes 0..7, mins in
 * bytes 8..15. */
static inline __m128i k4_scales_mins(const uint8_t *q) {
    uint32_t u0, u1, u2;
    memcpy(&u0, q, 4);
    memcpy(&u1, q + 4, 4);
    memcpy(&u2, q + 8, 4);
    const uint32_t lo6 = 0x3F3F3F3Fu, lo4 = 0x0F0F0F0Fu, lo2 = 0x03030303u;
    uint32_t sc0 = u0 & lo6, m0 = u1 & lo6;
    uint32_t sc1 = (u2 & lo4) | (((u0 >> 6) & lo2) << 4);
    uint32_t m1 = ((u2 >> 4) & lo4) | (((u1 >> 6) & lo2) << 4);
    return _mm_set_epi32((int)m1, (int)m0, (int)sc1, (int)sc0);
}

/* int16 broadcast of scale s (0..7) of the 8 int16 scales in both lanes of sc16. */
static inline __m256i k4_scale(__m256i sc16, int s) {
    return _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)((2 * s + 1) << 8 | (2 * s))));
}

#endif
