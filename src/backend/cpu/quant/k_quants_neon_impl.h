/* Internal: the NEON dot products of the K-quants with Q8_K activations, included by
 * k_quants_neon.c once per integer product with QN_DOT16, QN_DOT16_WIDE, QN_SFX and QN_TARGET
 * defined (as q4_q5_q8_neon_impl.h).
 *
 * Each sub-block's integer sum (4 int32 lanes) is multiplied by its scale into one 4-lane int32
 * accumulator per super-block; integer addition is exact in any order (the bounds of the portable
 * int sums hold, and int32 lanes wrap, so partial sums cannot spoil the total), so the
 * super-block's isum is the portable one and enters the float sum by the portable expression, block
 * by block: every result has the portable bits. */

#define QN_CAT_(a, b) a##b
#define QN_CAT(a, b) QN_CAT_(a, b)
#define QN_FN(name) QN_CAT(name, QN_SFX)

/* acc + scale * (sum over 16 elements of v_j q8_j). */
#define QN_SUB16(acc, v, q8, scale)                                                                \
    vmlaq_n_s32(acc, QN_DOT16(vdupq_n_s32(0), v, vld1q_s8(q8)), scale)

QN_TARGET float QN_FN(quant_vec_dot_q2_K_q8_K)(int64_t n, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t three = vdupq_n_u8(3);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q2 = x[i].qs, *sc = x[i].scales;
        const int8_t *q8 = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        int is = 0;
        for (int h = 0; h < QK_K / 128; h++, q2 += 32) {
            uint8x16_t b0 = vld1q_u8(q2), b1 = vld1q_u8(q2 + 16);
            for (int shift = 0; shift < 8; shift += 2, q8 += 32, is += 2) {
                acc = QN_SUB16(acc, vreinterpretq_s8_u8(vandq_u8(b0, three)), q8, sc[is] & 0xF);
                acc = QN_SUB16(acc, vreinterpretq_s8_u8(vandq_u8(b1, three)), q8 + 16,
                               sc[is + 1] & 0xF);
                b0 = vshrq_n_u8(b0, 2);
                b1 = vshrq_n_u8(b1, 2);
            }
        }
        const int isum = vaddvq_s32(acc);
        const int summs = qn_q2k_mins_dot(x[i].scales, y[i].bsums);
        const float dy = quant_q8k_d(&y[i]);
        sum += dy * qn_f16(x[i].d) * (float)isum - dy * qn_f16(x[i].dmin) * (float)summs;
    }
    return sum;
}

QN_TARGET float QN_FN(quant_vec_dot_q3_K_q8_K)(int64_t n, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t three = vdupq_n_u8(3), four = vdupq_n_u8(4);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        quant_q3k_scales(x[i].scales, sc);
        const uint8_t *q3 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        const uint8x16_t hm0 = vld1q_u8(x[i].hmask), hm1 = vld1q_u8(x[i].hmask + 16);
        int32x4_t acc = vdupq_n_s32(0);
        int is = 0;
        uint8_t m = 1;
        for (int h = 0; h < QK_K / 128; h++, q3 += 32) {
            uint8x16_t b0 = vld1q_u8(q3), b1 = vld1q_u8(q3 + 16);
            for (int shift = 0; shift < 8; shift += 2, q8 += 32, is += 2, m = (uint8_t)(m << 1)) {
                /* level - 4 where the hmask bit is clear */
                const uint8x16_t mv = vdupq_n_u8(m);
                const uint8x16_t v0 =
                    vsubq_u8(vandq_u8(b0, three), vbicq_u8(four, vtstq_u8(hm0, mv)));
                const uint8x16_t v1 =
                    vsubq_u8(vandq_u8(b1, three), vbicq_u8(four, vtstq_u8(hm1, mv)));
                acc = QN_SUB16(acc, vreinterpretq_s8_u8(v0), q8, sc[is]);
                acc = QN_SUB16(acc, vreinterpretq_s8_u8(v1), q8 + 16, sc[is + 1]);
                b0 = vshrq_n_u8(b0, 2);
                b1 = vshrq_n_u8(b1, 2);
            }
        }
        sum += quant_q8k_d(&y[i]) * qn_f16(x[i].d) * (float)vaddvq_s32(acc);
    }
    return sum;
}

QN_TARGET float QN_FN(quant_vec_dot_q4_K_q8_K)(int64_t n, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], mn[8];
        qn_k4_scales(x[i].scales, sc, mn);
        const uint8_t *q4 = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int j = 0; j < QK_K / 64; j++, q4 += 32, q8 += 64) {
            const uint8x16_t b0 = vld1q_u8(q4), b1 = vld1q_u8(q4 + 16);
            /* sub-block 2j: the low nibbles, 2j + 1: the high ones */
            int32x4_t s0 = QN_DOT16(vdupq_n_s32(0), qn_lo(b0), vld1q_s8(q8));
            s0 = QN_DOT16(s0, qn_lo(b1), vld1q_s8(q8 + 16));
            int32x4_t s1 = QN_DOT16(vdupq_n_s32(0), qn_hi(b0), vld1q_s8(q8 + 32));
            s1 = QN_DOT16(s1, qn_hi(b1), vld1q_s8(q8 + 48));
            acc = vmlaq_n_s32(vmlaq_n_s32(acc, s0, sc[2 * j]), s1, sc[2 * j + 1]);
        }
        const int isum = vaddvq_s32(acc);
        const int summs = qn_k4_mins_dot(mn, y[i].bsums);
        const float dy = quant_q8k_d(&y[i]);
        sum += dy * qn_f16(x[i].d) * (float)isum - dy * qn_f16(x[i].dmin) * (float)summs;
    }
    return sum;
}

QN_TARGET float QN_FN(quant_vec_dot_q5_K_q8_K)(int64_t n, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t one = vdupq_n_u8(1), two = vdupq_n_u8(2);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], mn[8];
        qn_k4_scales(x[i].scales, sc, mn);
        const uint8_t *ql = x[i].qs;
        const int8_t *q8 = y[i].qs;
        uint8x16_t h0 = vld1q_u8(x[i].qh), h1 = vld1q_u8(x[i].qh + 16);
        int32x4_t acc = vdupq_n_s32(0);
        for (int j = 0; j < QK_K / 64; j++, ql += 32, q8 += 64) {
            const uint8x16_t b0 = vld1q_u8(ql), b1 = vld1q_u8(ql + 16);
            /* the fifth bits: bit 2j of qh for sub-block 2j, bit 2j + 1 for 2j + 1 (qh is
             * shifted down by 2 each step) */
            const int8x16_t x0 =
                vorrq_s8(qn_lo(b0), vreinterpretq_s8_u8(vshlq_n_u8(vandq_u8(h0, one), 4)));
            const int8x16_t x1 =
                vorrq_s8(qn_lo(b1), vreinterpretq_s8_u8(vshlq_n_u8(vandq_u8(h1, one), 4)));
            const int8x16_t x2 =
                vorrq_s8(qn_hi(b0), vreinterpretq_s8_u8(vshlq_n_u8(vandq_u8(h0, two), 3)));
            const int8x16_t x3 =
                vorrq_s8(qn_hi(b1), vreinterpretq_s8_u8(vshlq_n_u8(vandq_u8(h1, two), 3)));
            h0 = vshrq_n_u8(h0, 2);
            h1 = vshrq_n_u8(h1, 2);
            const int32x4_t s0 =
                QN_DOT16(QN_DOT16(vdupq_n_s32(0), x0, vld1q_s8(q8)), x1, vld1q_s8(q8 + 16));
            const int32x4_t s1 =
                QN_DOT16(QN_DOT16(vdupq_n_s32(0), x2, vld1q_s8(q8 + 32)), x3, vld1q_s8(q8 + 48));
            acc = vmlaq_n_s32(vmlaq_n_s32(acc, s0, sc[2 * j]), s1, sc[2 * j + 1]);
        }
        const int isum = vaddvq_s32(acc);
        const int summs = qn_k4_mins_dot(mn, y[i].bsums);
        const float dy = quant_q8k_d(&y[i]);
        sum += dy * qn_f16(x[i].d) * (float)isum - dy * qn_f16(x[i].dmin) * (float)summs;
    }
    return sum;
}

QN_TARGET float QN_FN(quant_vec_dot_q6_K_q8_K)(int64_t n, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const uint8x16_t m4 = vdupq_n_u8(0xF), m30 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *q8 = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, q8 += 128) {
            /* element 32g + l (l < 32) of this half: the low (g = 0, 1) or high (g = 2, 3) nibble
             * of ql[l + 32 (g & 1)], with bits 2g, 2g + 1 of qh[l] on top, less 32 */
            const uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 16);
            const uint8x16_t l2 = vld1q_u8(ql + 32), l3 = vld1q_u8(ql + 48);
            const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
#define QN_Q6(lo, hb) vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vandq_u8(hb, m30))), off)
            acc = QN_SUB16(acc, QN_Q6(vandq_u8(l0, m4), vshlq_n_u8(h0, 4)), q8, sc[0]);
            acc = QN_SUB16(acc, QN_Q6(vandq_u8(l1, m4), vshlq_n_u8(h1, 4)), q8 + 16, sc[1]);
            acc = QN_SUB16(acc, QN_Q6(vandq_u8(l2, m4), vshlq_n_u8(h0, 2)), q8 + 32, sc[2]);
            acc = QN_SUB16(acc, QN_Q6(vandq_u8(l3, m4), vshlq_n_u8(h1, 2)), q8 + 48, sc[3]);
            acc = QN_SUB16(acc, QN_Q6(vshrq_n_u8(l0, 4), h0), q8 + 64, sc[4]);
            acc = QN_SUB16(acc, QN_Q6(vshrq_n_u8(l1, 4), h1), q8 + 80, sc[5]);
            acc = QN_SUB16(acc, QN_Q6(vshrq_n_u8(l2, 4), vshrq_n_u8(h0, 2)), q8 + 96, sc[6]);
            acc = QN_SUB16(acc, QN_Q6(vshrq_n_u8(l3, 4), vshrq_n_u8(h1, 2)), q8 + 112, sc[7]);
#undef QN_Q6
        }
        sum += quant_q8k_d(&y[i]) * qn_f16(x[i].d) * (float)vaddvq_s32(acc);
    }
    return sum;
}

QN_TARGET float QN_FN(quant_vec_dot_q8_K_q8_K)(int64_t n, const void *vx, const void *vy) {
    const block_q8_K *x = vx;
    const block_q8_K *y = vy;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int j = 0; j < QK_K; j += 16)
            acc = QN_DOT16_WIDE(acc, vld1q_s8(x[i].qs + j), vld1q_s8(y[i].qs + j));
        sum += quant_q8k_d(&x[i]) * quant_q8k_d(&y[i]) * (float)vaddvq_s32(acc);
    }
    return sum;
}

#undef QN_SUB16
#undef QN_FN
#undef QN_CAT
#undef QN_CAT_
