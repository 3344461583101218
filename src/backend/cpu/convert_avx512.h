/* Internal: the AVX-512 f32 -> bf16 rounding as an inline function, for the AVX-512 files that
 * round as they store (convert_avx512.c, gemm_bf16_amx.c). Include only from files compiled with
 * AVX-512 enabled. */
#ifndef BORN_CPU_CONVERT_AVX512_H
#define BORN_CPU_CONVERT_AVX512_H

#include <immintrin.h>

/* 16 floats' bf16 bits: x + 0x7fff + (bit 16 of x), the upper half (round to nearest even, a
 * carry into the exponent giving infinity), NaN as its upper half with the quiet bit set:
 * born_f32_to_bf16's bits. */
static inline __m256i cpu_round16_bf16_avx512(__m512i x) {
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
}

#endif
