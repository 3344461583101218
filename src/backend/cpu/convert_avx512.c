/* AVX-512 dtype conversions (convert_simd.h). */
#include <immintrin.h>

#include "backend/cpu/convert_simd.h"

/* 16 floats' bf16 bits: x + 0x7fff + (bit 16 of x), the upper half (round to nearest even, a
 * carry into the exponent giving infinity), NaN as its upper half with the quiet bit set. */
static inline __m256i round16(__m512i x) {
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
}

void cpu_f32_to_bf16_avx512(const float *in, uint16_t *out, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i), round16(_mm512_loadu_si512(in + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm256_mask_storeu_epi16(out + i, m, round16(_mm512_maskz_loadu_epi32(m, in + i)));
    }
}
