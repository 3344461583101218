/* AVX2 dot products of the 32-element block types with Q8_0 / Q8_1 activations: one 32-byte
 * integer product per block, scaled by d_x d_y into a float accumulator (Q4_0, Q4_1, Q5_0 and
 * Q8_0 use one over the blocks in order, as ggml's x86 build -- llama.cpp's Q4_1 / Q8_0 results
 * depend on it, and one accumulator leaves the tiled products of quant_gemm_avx2.c registers for
 * more outputs; Q5_1 and Q8_1 two, over even and odd blocks). Pair sums stay below 32767: |x| <= 128 (Q8_0 weights), |y| <= 127. */
#include <math.h>

#include "backend/cpu/quant/quant_avx2.h"

/* acc[i % 2] += d_i * p_i over the blocks, for block functions returning (d, p). */
#define DOT_LOOP(nb, BODY)                                                                        \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                \
    int64_t i = 0;                                                                                \
    for (; i + 1 < (nb); i += 2) {                                                                \
        {                                                                                         \
            BODY(i, acc0)                                                                         \
        }                                                                                         \
        {                                                                                         \
            BODY(i + 1, acc1)                                                                     \
        }                                                                                         \
    }                                                                                             \
    if (i < (nb)) {                                                                               \
        BODY(i, acc0)                                                                             \
    }

float quant_vec_dot_q4_0_q8_0_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_32; i++) {
        __m256 d = _mm256_set1_ps(qa_f16(x[i].d) * qa_f16(y[i].d));
        __m256i qx = _mm256_sub_epi8(qa_nibbles(x[i].qs), eight);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(qa_dot_i8(qx, qa_load(y[i].qs))), acc);
    }
    return qa_hsum_ps(acc);
}

/* Q5_1: d_x d_y sum(q_x q_y) + m_x d_y sum(q_y), the second with the exact sum of the
 * activation's levels (not Q8_1's f16 s), as the portable version. */
#define MIN_TERM(k, accm)                                                                         \
    accm = _mm256_fmadd_ps(_mm256_set1_ps(qa_f16(x[k].m) * qa_f16(y[k].d)),                       \
                           _mm256_cvtepi32_ps(qa_dot_u8(ones, yv)), accm);

/* Q4_1 as ggml's x86 build computes it (so llama.cpp's logits are reproduced bit for bit): one
 * accumulator over the blocks in order, and the min term m_x * s_y with Q8_1's f16 s summed apart
 * in a scalar by fused multiply-adds, added after the horizontal sum. */
float quant_vec_dot_q4_1_q8_1_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        summs = fmaf(qa_f16(x[i].m), qa_f16(y[i].s), summs);
        __m256 d = _mm256_set1_ps(qa_f16(x[i].d) * qa_f16(y[i].d));
        __m256 p = _mm256_cvtepi32_ps(qa_dot_u8(qa_nibbles(x[i].qs), qa_load(y[i].qs)));
        acc = _mm256_fmadd_ps(d, p, acc);
    }
    return qa_hsum_ps(acc) + summs;
}

float quant_vec_dot_q5_0_q8_0_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const __m256i f0 = _mm256_set1_epi8((char)0xF0);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_32; i++) {
        /* q | 0xF0 is q - 16 as a signed byte: applied where the fifth bit is clear */
        __m256 d = _mm256_set1_ps(qa_f16(x[i].d) * qa_f16(y[i].d));
        __m256i qx = _mm256_or_si256(qa_nibbles(x[i].qs), _mm256_andnot_si256(qa_bits(x[i].qh), f0));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(qa_dot_i8(qx, qa_load(y[i].qs))), acc);
    }
    return qa_hsum_ps(acc);
}

float quant_vec_dot_q5_1_q8_1_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const __m256i b4 = _mm256_set1_epi8(0x10), ones = _mm256_set1_epi8(1);
    __m256 accm = _mm256_setzero_ps();
#define BODY(k, acc)                                                                              \
    __m256 d = _mm256_set1_ps(qa_f16(x[k].d) * qa_f16(y[k].d));                                   \
    __m256i yv = qa_load(y[k].qs);                                                                \
    MIN_TERM(k, accm)                                                                             \
    __m256i qx = _mm256_or_si256(qa_nibbles(x[k].qs), _mm256_and_si256(qa_bits(x[k].qh), b4));    \
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(qa_dot_u8(qx, yv)), acc);
    DOT_LOOP(n / QK_32, BODY)
#undef BODY
    return qa_hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), accm));
}

/* Q8_0 as ggml computes it on x86 (ggml_vec_dot_q8_0_q8_0, and llamafile's tiles for batches):
 * one accumulator over the blocks in order. */
float quant_vec_dot_q8_0_q8_0_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_32; i++) {
        __m256 d = _mm256_set1_ps(qa_f16(x[i].d) * qa_f16(y[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(qa_dot_i8(qa_load(x[i].qs), qa_load(y[i].qs))), acc);
    }
    return qa_hsum_ps(acc);
}

float quant_vec_dot_q8_1_q8_1_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q8_1 *x = vx;
    const block_q8_1 *y = vy;
#define BODY(k, acc)                                                                              \
    __m256 d = _mm256_set1_ps(qa_f16(x[k].d) * qa_f16(y[k].d));                                   \
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(qa_dot_i8(qa_load(x[k].qs), qa_load(y[k].qs))), acc);
    DOT_LOOP(n / QK_32, BODY)
#undef BODY
    return qa_hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* ---- activation quantizers (quant_act_q8_0 / q8_1 a block of 32 at a time) ---------------------
 * The same numbers as the portable ones: amax exact, d = amax / 127 and 127 / amax in scalar
 * float, levels by cvtps2dq (round to nearest even, as quant_nearest_int). */

/* Quantizes one block of 32 floats into q; returns d and the sum of the levels. */
static inline float act_block_avx2(const float *x, int8_t *q, int *sum) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    const __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                   _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, id)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, id));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, id)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, id));
    /* packs interleave the 128-bit lanes: the permute puts the 32 levels back in order */
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    _mm256_storeu_si256((__m256i *)q, _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    *sum = _mm_cvtsi128_si32(t);
    return amax / 127.f;
}

void quant_act_q8_0_avx2(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        int sum;
        b[i].d = quant_to_f16(act_block_avx2(src, b[i].qs, &sum));
    }
}

void quant_act_q8_1_avx2(const float *src, void *dst, int64_t n) {
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK_32; i++, src += QK_32) {
        int sum;
        const float d = act_block_avx2(src, b[i].qs, &sum);
        b[i].d = quant_to_f16(d);
        b[i].s = quant_to_f16(d * (float)sum);
    }
}
