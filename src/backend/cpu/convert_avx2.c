/* AVX2-level dtype conversions (convert_simd.h): f32 <-> f16 by F16C, eight at a time. */
#include <immintrin.h>

#include "backend/cpu/convert_simd.h"

int64_t cpu_f32_to_f16_avx2(const float *in, uint16_t *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
    return i;
}

int64_t cpu_f16_to_f32_avx2(const uint16_t *in, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    return i;
}
