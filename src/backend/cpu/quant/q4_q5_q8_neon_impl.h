/* Internal: the NEON dot products of the 32-element block types, included by q4_q5_q8_neon.c once
 * per integer product with QN_DOT16 (qn_dot16_mull or qn_dot16_sdot: mixed-width levels),
 * QN_DOT16_WIDE (the Q8 weights, which may hold -128), QN_SFX (the names' suffix) and QN_TARGET
 * (the functions' target attribute) defined.
 *
 * Each block's integer sum is exact (quant_neon.h) and is added to the float sum with the portable
 * function's expression, block by block in order, so every result has the portable bits. */

#define QN_CAT_(a, b) a##b
#define QN_CAT(a, b) QN_CAT_(a, b)
#define QN_FN(name) QN_CAT(name, QN_SFX)

/* The sum over a block of x_j y_j, x as 32 bytes in two registers (elements 0..15, 16..31). */
#define QN_BLOCK_DOT(x0, x1, yq)                                                                   \
    vaddvq_s32(QN_DOT16(QN_DOT16(vdupq_n_s32(0), x0, vld1q_s8(yq)), x1, vld1q_s8((yq) + 16)))

QN_TARGET float QN_FN(quant_vec_dot_q4_0_q8_0)(int64_t n, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int8x16_t eight = vdupq_n_s8(8);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int s = QN_BLOCK_DOT(vsubq_s8(qn_lo(b), eight), vsubq_s8(qn_hi(b), eight), y[i].qs);
        sum += (float)s * (qn_f16(x[i].d) * qn_f16(y[i].d));
    }
    return sum;
}

QN_TARGET float QN_FN(quant_vec_dot_q4_1_q8_1)(int64_t n, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int s = QN_BLOCK_DOT(qn_lo(b), qn_hi(b), y[i].qs);
        sum += (float)s * (qn_f16(x[i].d) * qn_f16(y[i].d)) + qn_f16(x[i].m) * qn_f16(y[i].s);
    }
    return sum;
}

QN_TARGET float QN_FN(quant_vec_dot_q5_0_q8_0)(int64_t n, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int8x16_t sixteen = vdupq_n_s8(16);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        uint8x16_t h[2];
        qn_bits32(x[i].qh, 0x10, h);
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int8x16_t x0 = vsubq_s8(vorrq_s8(qn_lo(b), vreinterpretq_s8_u8(h[0])), sixteen);
        const int8x16_t x1 = vsubq_s8(vorrq_s8(qn_hi(b), vreinterpretq_s8_u8(h[1])), sixteen);
        const int s = QN_BLOCK_DOT(x0, x1, y[i].qs);
        sum += (float)s * (qn_f16(x[i].d) * qn_f16(y[i].d));
    }
    return sum;
}

QN_TARGET float QN_FN(quant_vec_dot_q5_1_q8_1)(int64_t n, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        uint8x16_t h[2];
        qn_bits32(x[i].qh, 0x10, h);
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int8x16_t x0 = vorrq_s8(qn_lo(b), vreinterpretq_s8_u8(h[0]));
        const int8x16_t x1 = vorrq_s8(qn_hi(b), vreinterpretq_s8_u8(h[1]));
        const int s = QN_BLOCK_DOT(x0, x1, y[i].qs);
        const int sy = vaddlvq_s8(vld1q_s8(y[i].qs)) + vaddlvq_s8(vld1q_s8(y[i].qs + 16));
        const float dy = qn_f16(y[i].d);
        sum += (float)s * (qn_f16(x[i].d) * dy) + qn_f16(x[i].m) * dy * (float)sy;
    }
    return sum;
}

/* The sum over a block of two Q8 blocks' levels, exact for any bytes. */
#define QN_BLOCK_DOT_WIDE(xq, yq)                                                                  \
    vaddvq_s32(QN_DOT16_WIDE(QN_DOT16_WIDE(vdupq_n_s32(0), vld1q_s8(xq), vld1q_s8(yq)),            \
                             vld1q_s8((xq) + 16), vld1q_s8((yq) + 16)))

QN_TARGET float QN_FN(quant_vec_dot_q8_0_q8_0)(int64_t n, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        const int s = QN_BLOCK_DOT_WIDE(x[i].qs, y[i].qs);
        sum += (float)s * (qn_f16(x[i].d) * qn_f16(y[i].d));
    }
    return sum;
}

QN_TARGET float QN_FN(quant_vec_dot_q8_1_q8_1)(int64_t n, const void *vx, const void *vy) {
    const block_q8_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_32; i++) {
        const int s = QN_BLOCK_DOT_WIDE(x[i].qs, y[i].qs);
        sum += (float)s * (qn_f16(x[i].d) * qn_f16(y[i].d));
    }
    return sum;
}

#undef QN_BLOCK_DOT
#undef QN_BLOCK_DOT_WIDE
#undef QN_FN
#undef QN_CAT
#undef QN_CAT_
