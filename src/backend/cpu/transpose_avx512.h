/* The 16 x 16 transpose of 32-bit words in AVX-512 registers, shared by the bf16 GEMM's packing
 * (gemm_bf16_avx512.c: pairs of bf16 are words) and the AMX GEMM's transposed stores of f32
 * blocks (gemm_bf16_amx.c). Include only from files compiled with AVX-512 enabled. */
#ifndef BORN_CPU_TRANSPOSE_AVX512_H
#define BORN_CPU_TRANSPOSE_AVX512_H

#include <immintrin.h>

/* Transposes the 16 x 16 block of 32-bit words held in r[0..15] (row i in r[i]) in place:
 * afterwards r[j] word i is what r[i] word j was. Pairs of rows interleaved, then pairs of pairs,
 * then the 128-bit lanes exchanged in two steps: 64 shuffles. */
static inline void avx512_transpose16_epi32(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* each 128-bit lane now holds a 4 x 4 block: gather the lanes of rows 4 apart */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

#endif
