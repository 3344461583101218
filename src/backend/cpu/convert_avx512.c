/* AVX-512 dtype conversions (convert_simd.h). */
#include <immintrin.h>

#include "backend/cpu/convert_avx512.h"
#include "backend/cpu/convert_simd.h"
#include "core/cpu_features.h"

/* cpu_f32_to_bf16_avx512's whole 32s where the CPU has AVX512_BF16 (an instruction for 32
 * values); returns how many it converted. */
__attribute__((target("avx512bf16"))) static int64_t f32_to_bf16_vcvt(const float *in,
                                                                      uint16_t *out, int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        _mm512_storeu_si512(out + i, cpu_round32_bf16_avx512bf16(_mm512_loadu_ps(in + i),
                                                                 _mm512_loadu_ps(in + i + 16)));
    return i;
}

void cpu_f32_to_bf16_avx512(const float *in, uint16_t *out, int64_t n) {
    int64_t i = cpu_features_get()->avx512_bf16 ? f32_to_bf16_vcvt(in, out, n) : 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i),
                            cpu_round16_bf16_avx512(_mm512_loadu_si512(in + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm256_mask_storeu_epi16(out + i, m,
                                 cpu_round16_bf16_avx512(_mm512_maskz_loadu_epi32(m, in + i)));
    }
}

void cpu_bf16_to_f32_avx512(const uint16_t *in, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(in + i)));
        _mm512_storeu_si512(out + i, _mm512_slli_epi32(w, 16));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, in + i));
        _mm512_mask_storeu_epi32(out + i, m, _mm512_slli_epi32(w, 16));
    }
}
