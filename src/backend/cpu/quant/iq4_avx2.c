/* AVX2 dot products of IQ4_NL (with Q8_0) and IQ4_XS (with Q8_K): the 4-bit indices become
 * their levels (in [-127, 113]) through a byte shuffle, then signed products with the sign trick
 * (pair sums <= 2 * 127 * 127 < 32767). */
#include "backend/cpu/quant/quant_avx2.h"

static inline __m256i iq4_levels(void) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)quant_iq4nl_values));
}

float quant_vec_dot_iq4_nl_q8_0_avx2(int64_t n, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const __m256i values = iq4_levels();
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const int64_t nb = n / QK_32;
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        __m256i q0 = _mm256_shuffle_epi8(values, qa_nibbles(x[i].qs));
        __m256i q1 = _mm256_shuffle_epi8(values, qa_nibbles(x[i + 1].qs));
        __m256 d0 = _mm256_set1_ps(qa_f16(x[i].d) * qa_f16(y[i].d));
        __m256 d1 = _mm256_set1_ps(qa_f16(x[i + 1].d) * qa_f16(y[i + 1].d));
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(qa_dot_i8(q0, qa_load(y[i].qs))), acc0);
        acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(qa_dot_i8(q1, qa_load(y[i + 1].qs))), acc1);
    }
    if (i < nb) {
        __m256i q0 = _mm256_shuffle_epi8(values, qa_nibbles(x[i].qs));
        __m256 d0 = _mm256_set1_ps(qa_f16(x[i].d) * qa_f16(y[i].d));
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(qa_dot_i8(q0, qa_load(y[i].qs))), acc0);
    }
    return qa_hsum_ps(_mm256_add_ps(acc0, acc1));
}

float quant_vec_dot_iq4_xs_q8_K_avx2(int64_t n, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const __m256i values = iq4_levels();
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m256 d = _mm256_set1_ps(qa_f16(x[i].d) * quant_q8k_d(&y[i]));
        uint32_t sl;
        memcpy(&sl, x[i].scales_l, 4);
        const unsigned sh = x[i].scales_h;
        const uint8_t *qs = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i isum = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 16, q8 += 32) {
            int ls = (int)(((sl >> (4 * ib)) & 0xF) | (((sh >> (2 * ib)) & 3) << 4)) - 32;
            __m256i q = _mm256_shuffle_epi8(values, qa_nibbles(qs));
            __m256i yv = qa_load(q8);
            __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(yv, q));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16((short)ls)));
        }
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
    }
    return qa_hsum_ps(acc);
}
