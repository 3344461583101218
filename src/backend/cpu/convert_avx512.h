/* Internal: the AVX-512 f32 -> bf16 rounding as inline functions, for the AVX-512 files that
 * round as they store (convert_avx512.c, gemm_bf16_amx.c, the attention kernels). Include only
 * from files compiled with AVX-512 enabled. */
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

/* 32 floats (lo the first 16) rounded as cpu_round16_bf16_avx512 rounds them, by one
 * vcvtne2ps2bf16 (AVX512_BF16: round to nearest even, NaN quieted, the same bits) where no value
 * is denormal, since the instruction takes those as zero: five instructions for 32 values where
 * the integer sequence takes about ten for 16. For callers that have AVX512_BF16 (their own target attribute: the
 * function inlines into them). */
__attribute__((target("avx512bf16"))) static inline __m512i cpu_round32_bf16_avx512bf16(__m512 lo,
                                                                                      __m512 hi) {
    __mmask16 tiny = _mm512_fpclass_ps_mask(lo, 0x20) | _mm512_fpclass_ps_mask(hi, 0x20);
    if (__builtin_expect(tiny != 0, 0))
        return _mm512_inserti64x4(
            _mm512_castsi256_si512(cpu_round16_bf16_avx512(_mm512_castps_si512(lo))),
            cpu_round16_bf16_avx512(_mm512_castps_si512(hi)), 1);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

#endif
