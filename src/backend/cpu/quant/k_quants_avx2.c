/* AVX2 dot products of the K-quants (and IQ4_XS, Q8_K) with Q8_K activations. Each super-block
 * sums its integer products, sub-block scale by sub-block scale, into 8 int32 lanes, then adds
 * d_x d_y times that into a float accumulator. Offsets (Q3_K's -4, Q6_K's -32) and mins (Q2_K,
 * Q4_K, Q5_K) go through Q8_K's bsums (the sums of each 16 activations), so the levels enter
 * _mm256_maddubs_epi16 unsigned. Pair sums stay below 32767: levels <= 63 against |y| <= 127. */
#include <math.h>

#include "backend/cpu/quant/k_quants_avx2.h"

/* sum_j s_j * bsums_j for 16 int16 scales s (as int32 lanes). */
static inline __m256i bsums_dot(__m256i scales16, const int16_t *bsums) {
    return _mm256_madd_epi16(scales16, qa_load(bsums));
}

float quant_vec_dot_q2_K_q8_K_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float dy = quant_q8k_d(&y[i]);
        const __m256 dall = _mm256_set1_ps(dy * qa_f16(x[i].d));
        const __m256 dmin = _mm256_set1_ps(dy * qa_f16(x[i].dmin));
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m128i scales = _mm_and_si128(sc8, m4);
        const __m128i mins = _mm_and_si128(_mm_srli_epi16(sc8, 4), m4);
        const __m256i summs = bsums_dot(_mm256_cvtepu8_epi16(mins), y[i].bsums);
        const int8_t *q8 = y[i].qs;
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q2 = qa_load(x[i].qs + 32 * h);
            for (int j = 0; j < 4; j++, q8 += 32) {
                __m256i q = _mm256_and_si256(_mm256_srl_epi16(q2, _mm_cvtsi32_si128(2 * j)), m3);
                __m256i p = _mm256_maddubs_epi16(q, qa_load(q8));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, qa_pair_scales(scales, 4 * h + j)));
            }
        }
        acc = _mm256_fmadd_ps(dall, _mm256_cvtepi32_ps(isum), acc);
        acc = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(summs), acc);
    }
    return qa_hsum_ps(acc);
}

/* The 16 signed scales of a Q3_K block (6 bits, minus 32) as bytes. */
static inline __m128i q3k_scales(const uint8_t *s) {
    uint32_t a0, a1, t;
    memcpy(&a0, s, 4);
    memcpy(&a1, s + 4, 4);
    memcpy(&t, s + 8, 4);
    const uint32_t lo4 = 0x0F0F0F0Fu, lo2 = 0x03030303u;
    uint32_t s0 = (a0 & lo4) | ((t & lo2) << 4);
    uint32_t s1 = (a1 & lo4) | (((t >> 2) & lo2) << 4);
    uint32_t s2 = ((a0 >> 4) & lo4) | (((t >> 4) & lo2) << 4);
    uint32_t s3 = ((a1 >> 4) & lo4) | (((t >> 6) & lo2) << 4);
    __m128i v = _mm_set_epi32((int)s3, (int)s2, (int)s1, (int)s0);
    return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

float quant_vec_dot_q3_K_q8_K_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m256 d = _mm256_set1_ps(quant_q8k_d(&y[i]) * qa_f16(x[i].d));
        const __m128i scales = q3k_scales(x[i].scales);
        /* levels u = q + 4 in [0, 7]: sum sc (u - 4) y = sum sc u y - 4 sum sc bsums */
        const __m256i offs = _mm256_slli_epi32(bsums_dot(_mm256_cvtepi8_epi16(scales), y[i].bsums), 2);
        const __m256i hbits = qa_load(x[i].hmask);
        const int8_t *q8 = y[i].qs;
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q3 = qa_load(x[i].qs + 32 * h);
            for (int j = 0; j < 4; j++, q8 += 32) {
                const int k = 4 * h + j;
                __m256i lo = _mm256_and_si256(_mm256_srl_epi16(q3, _mm_cvtsi32_si128(2 * j)), m3);
                __m256i hi = _mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(k)), m1);
                __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
                __m256i p = _mm256_maddubs_epi16(u, qa_load(q8));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, qa_pair_scales(scales, k)));
            }
        }
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(isum, offs)), acc);
    }
    return qa_hsum_ps(acc);
}

/* sum_j m_j * (bsums_2j + bsums_2j+1) as 4 int32 lanes */
static inline __m128i k4_mins_dot(__m128i scales_mins, const int16_t *bsums) {
    __m128i b0 = _mm_loadu_si128((const __m128i *)bsums);
    __m128i b1 = _mm_loadu_si128((const __m128i *)(bsums + 8));
    __m128i pairs = _mm_hadd_epi16(b0, b1); /* |sum of 32| <= 4064 */
    __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(scales_mins, 8));
    return _mm_madd_epi16(mins, pairs);
}


float quant_vec_dot_q4_K_q8_K_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float dy = quant_q8k_d(&y[i]);
        const __m256 d = _mm256_set1_ps(dy * qa_f16(x[i].d));
        const __m128 dmin = _mm_set1_ps(dy * qa_f16(x[i].dmin));
        const __m128i sm = k4_scales_mins(x[i].scales);
        accm = _mm_fmadd_ps(dmin, _mm_cvtepi32_ps(k4_mins_dot(sm, y[i].bsums)), accm);
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i isum = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++, q4 += 32, q8 += 64) {
            const __m256i q = qa_load(q4);
            __m256i lo = _mm256_and_si256(q, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, qa_load(q8)), k4_scale(sc16, 2 * j));
            __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, qa_load(q8 + 32)), k4_scale(sc16, 2 * j + 1));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
    }
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    r = _mm_sub_ps(r, accm);
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

float quant_vec_dot_q5_K_q8_K_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0xF), m1 = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float dy = quant_q8k_d(&y[i]);
        const __m256 d = _mm256_set1_ps(dy * qa_f16(x[i].d));
        const __m128 dmin = _mm_set1_ps(dy * qa_f16(x[i].dmin));
        const __m128i sm = k4_scales_mins(x[i].scales);
        accm = _mm_fmadd_ps(dmin, _mm_cvtepi32_ps(k4_mins_dot(sm, y[i].bsums)), accm);
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        const __m256i hbits = qa_load(x[i].qh);
        const uint8_t *q5 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i isum = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++, q5 += 32, q8 += 64) {
            const __m256i q = qa_load(q5);
            __m256i h0 = _mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * j)), m1);
            __m256i h1 = _mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(2 * j + 1)), m1);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16(h0, 4));
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                         _mm256_slli_epi16(h1, 4));
            __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, qa_load(q8)), k4_scale(sc16, 2 * j));
            __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, qa_load(q8 + 32)), k4_scale(sc16, 2 * j + 1));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
    }
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    r = _mm_sub_ps(r, accm);
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

float quant_vec_dot_q6_K_q8_K_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m256 d = _mm256_set1_ps(quant_q8k_d(&y[i]) * qa_f16(x[i].d));
        const __m128i scales = _mm_loadu_si128((const __m128i *)x[i].scales);
        /* levels u = q + 32 in [0, 63]: sum sc (u - 32) y = sum sc u y - 32 sum sc bsums */
        const __m256i offs = _mm256_slli_epi32(bsums_dot(_mm256_cvtepi8_epi16(scales), y[i].bsums), 5);
        const int8_t *q8 = y[i].qs;
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++, q8 += 128) {
            const __m256i l0 = qa_load(x[i].ql + 64 * h), l1 = qa_load(x[i].ql + 64 * h + 32);
            const __m256i qh = qa_load(x[i].qh + 32 * h);
            __m256i u[4];
            u[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
            u[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30));
            u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            for (int g = 0; g < 4; g++) {
                __m256i p = _mm256_maddubs_epi16(u[g], qa_load(q8 + 32 * g));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, qa_pair_scales(scales, 4 * h + g)));
            }
        }
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(isum, offs)), acc);
    }
    return qa_hsum_ps(acc);
}

float quant_vec_dot_q8_K_q8_K_avx2(int64_t n, const void *vx, const void *vy) {
    const block_q8_K *x = vx;
    const block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i isum = _mm256_setzero_si256();
        for (int j = 0; j < QK_K; j += 32)
            isum = _mm256_add_epi32(isum, qa_dot_i8(qa_load(x[i].qs + j), qa_load(y[i].qs + j)));
        const __m256 d = _mm256_set1_ps(quant_q8k_d(&x[i]) * quant_q8k_d(&y[i]));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(isum), acc);
    }
    return qa_hsum_ps(acc);
}

/* Q8_K as quant_from_float_q8_K computes it: amax over the block, the first element of that
 * magnitude as max, levels x * (-127 / max) rounded to the nearest (ties to even, as the portable
 * magic-number rounding for |v| < 2^22) and capped at 127 (the int16 -> int8 pack saturates the
 * one possible 128), bsums from the packed levels. Blocks with a NaN, or whose scale is not
 * finite (an infinite element, or amax so small that -127 / max overflows), go to the portable
 * quantizer, whose rounding trick gives its own values there. */
void quant_act_q8_K_avx2(const float *x, void *dst, int64_t n) {
    block_q8_K *y = dst;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7), flip = _mm256_set1_epi8((char)0x80);
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m256 m = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8) {
            const __m256 v = _mm256_loadu_ps(x + j);
            m = _mm256_max_ps(_mm256_and_ps(v, absmask), m);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        const float amax = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        int at = 0;
        for (int j = 0; j < QK_K; j += 8) {
            const __m256 ax = _mm256_and_ps(_mm256_loadu_ps(x + j), absmask);
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(ax, _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (hit) {
                at = j + __builtin_ctz((unsigned)hit);
                break;
            }
        }
        const float iscale = -127.f / x[at];
        if (!isfinite(iscale) || !isfinite(amax) || _mm256_movemask_ps(nan)) {
            quant_from_float_q8_K(x, &y[i], QK_K);
            continue;
        }
        const __m256 is = _mm256_set1_ps(iscale);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(is, _mm256_loadu_ps(x + j + 8 * k)));
            /* the packs interleave 128-bit lanes: 4-level groups come out as 0 2 4 6 1 3 5 7 */
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            p = _mm256_permutevar8x32_epi32(p, order);
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), p);
            /* sums of 8 levels + 128 each, two of them a bsum */
            uint64_t s[4];
            _mm256_storeu_si256((__m256i *)s, _mm256_sad_epu8(_mm256_xor_si256(p, flip), _mm256_setzero_si256()));
            y[i].bsums[j / 16] = (int16_t)((int)(s[0] + s[1]) - 16 * 128);
            y[i].bsums[j / 16 + 1] = (int16_t)((int)(s[2] + s[3]) - 16 * 128);
        }
        const float d = 1 / iscale;
        memcpy(y[i].d, &d, sizeof d);
    }
}
