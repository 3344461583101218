/* The contiguous loops of half_table.h by 16-lane AVX-512 gathers. */
#include <immintrin.h>

#include "backend/cpu/half_table.h"

int64_t cpu_half_lookup_avx512(const uint16_t *table, const uint16_t *in, uint16_t *out,
                               int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        /* 32 bits read at each entry (the table has two bytes past its end); the low half kept */
        __m512i idx = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(in + i)));
        __m512i v = _mm512_i32gather_epi32(idx, (const void *)table, 2);
        _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtepi32_epi16(v));
    }
    return i;
}

int64_t cpu_half_grad_mul_avx512(const float *d, const uint16_t *keys, float *g, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i idx = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(keys + i)));
        __m512 dv = _mm512_i32gather_ps(idx, d, 4);
        _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_loadu_ps(g + i), dv));
    }
    return i;
}
