/* AVX2-level dtype conversions (convert_simd.h): f32 <-> f16 by F16C, eight at a time. */
#include <immintrin.h>

#include "backend/cpu/convert_simd.h"
#include "backend/cpu/transpose_avx2.h"

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

void cpu_transpose32_avx2(const char *src, int64_t src_rs, char *dst, int64_t dst_rs, int64_t rows,
                          int64_t cols) {
    int64_t r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) {
        int64_t c0 = 0;
        for (; c0 + 8 <= cols; c0 += 8) {
            __m256 v[8];
            for (int i = 0; i < 8; i++)
                v[i] = _mm256_loadu_ps((const float *)(src + (r0 + i) * src_rs) + c0);
            avx2_transpose8_ps(v);
            for (int i = 0; i < 8; i++)
                _mm256_storeu_ps((float *)(dst + (c0 + i) * dst_rs) + r0, v[i]);
        }
        for (; c0 < cols; c0++) /* the columns past the last 8 */
            for (int64_t r = r0; r < r0 + 8; r++)
                ((uint32_t *)(dst + c0 * dst_rs))[r] = ((const uint32_t *)(src + r * src_rs))[c0];
    }
    for (; r0 < rows; r0++) /* the rows past the last 8 */
        for (int64_t c = 0; c < cols; c++)
            ((uint32_t *)(dst + c * dst_rs))[r0] = ((const uint32_t *)(src + r0 * src_rs))[c];
}
