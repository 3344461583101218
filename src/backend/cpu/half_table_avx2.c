/* The contiguous loops of half_table.h by 8-lane AVX2 gathers. */
#include <immintrin.h>

#include "backend/cpu/half_table.h"

int64_t cpu_half_lookup_avx2(const uint16_t *table, const uint16_t *in, uint16_t *out, int64_t n) {
    const __m256i low = _mm256_set1_epi32(0xffff);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        /* 32 bits read at each entry (the table has two bytes past its end); the low half kept */
        __m256i i0 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(in + i)));
        __m256i i1 = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(in + i + 8)));
        __m256i v0 = _mm256_and_si256(_mm256_i32gather_epi32((const int *)table, i0, 2), low);
        __m256i v1 = _mm256_and_si256(_mm256_i32gather_epi32((const int *)table, i1, 2), low);
        /* packus works within 128-bit lanes: the permute puts the 16 results in order */
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(v0, v1), 0xd8);
        _mm256_storeu_si256((__m256i *)(out + i), p);
    }
    return i;
}

int64_t cpu_half_grad_mul_avx2(const float *d, const uint16_t *keys, float *g, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i idx = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(keys + i)));
        __m256 dv = _mm256_i32gather_ps(d, idx, 4);
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_loadu_ps(g + i), dv));
    }
    return i;
}
