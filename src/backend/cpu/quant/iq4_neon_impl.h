/* Internal: the NEON dot products of IQ4_NL (with Q8_0) and IQ4_XS (with Q8_K), included by
 * iq4_neon.c once per integer product with QN_DOT16, QN_SFX and QN_TARGET defined (as
 * q4_q5_q8_neon_impl.h). Levels come from the 16-entry table by TBL; every level is above -128,
 * so qn_dot16_mull is exact for any activations. Sums enter the float result by the portable
 * expressions, block by block in order: every result has the portable bits. */

#define QN_CAT_(a, b) a##b
#define QN_CAT(a, b) QN_CAT_(a, b)
#define QN_FN(name) QN_CAT(name, QN_SFX)

/* sum over 32 elements of level(nibble) * q8, the low nibbles of the 16 bytes at qs first. */
#define QN_IQ4_DOT(values, qs, q8)                                                                 \
    QN_DOT16(QN_DOT16(vdupq_n_s32(0), vqtbl1q_s8(values, vandq_u8(vld1q_u8(qs), vdupq_n_u8(0xF))), \
                      vld1q_s8(q8)),                                                               \
             vqtbl1q_s8(values, vshrq_n_u8(vld1q_u8(qs), 4)), vld1q_s8((q8) + 16))

QN_TARGET float QN_FN(quant_vec_dot_iq4_nl_q8_0)(int64_t n, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const int8x16_t values = vld1q_s8(quant_iq4nl_values);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_32; i++) {
        const int s = vaddvq_s32(QN_IQ4_DOT(values, x[i].qs, y[i].qs));
        sum += (float)s * (qn_f16(x[i].d) * qn_f16(y[i].d));
    }
    return sum;
}

QN_TARGET float QN_FN(quant_vec_dot_iq4_xs_q8_K)(int64_t n, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const int8x16_t values = vld1q_s8(quant_iq4nl_values);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[8];
        qn_iq4xs_scales(&x[i], sc);
        int32x4_t acc = vdupq_n_s32(0);
        for (int ib = 0; ib < QK_K / 32; ib++)
            acc =
                vmlaq_n_s32(acc, QN_IQ4_DOT(values, x[i].qs + 16 * ib, y[i].qs + 32 * ib), sc[ib]);
        sum += qn_f16(x[i].d) * quant_q8k_d(&y[i]) * (float)vaddvq_s32(acc);
    }
    return sum;
}

#undef QN_IQ4_DOT
#undef QN_FN
#undef QN_CAT
#undef QN_CAT_
