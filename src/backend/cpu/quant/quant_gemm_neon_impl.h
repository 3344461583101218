/* Internal: the NEON tiles of the quantized products, included by quant_gemm_neon.c once per
 * integer product with QN_DOT16, QN_DOT16_WIDE, QN_SFX and QN_TARGET defined (as
 * q4_q5_q8_neon_impl.h, whose vec_dots these tiles reproduce output by output).
 *
 * A tile is R weight rows x C tokens, written once as an always-inlined function of constant R
 * and C and instantiated for every R and C up to the full tile. Each block's integer sums are
 * exact (quant_neon.h), so any order of their additions gives vec_dot's block sums; each output
 * then takes them into one float accumulator with the vec_dot's expression, block by block in
 * order. The float work runs on four outputs at once, one to a lane, which is four of vec_dot's
 * scalar operations (multiplications and additions round alike in a lane and in a scalar
 * register). Nothing may be fused, here as in the vec_dots: gcc does not contract in ISO C mode
 * (-std=c11; with -std=gnu11 it would make FMLAs), clang is told so by quant_gemm_neon.c's
 * pragma. */

#define QN_CAT_(a, b) a##b
#define QN_CAT(a, b) QN_CAT_(a, b)
#define QN_FN(name) QN_CAT(name, QN_SFX)

/* ---- Q4_0, Q4_1, Q5_0, Q8_0: up to 4 rows x 4 tokens, a lane per row ------------------------- */

/* As the type's vec_dot, per output: sum += (float)s * (d_w * d_y) block by block, Q4_1 adding
 * m_w * s_y to the product before the sum (Q8_1's f16 s). A block's four rows are unpacked once
 * into 8 registers; each token's 32 activations then meet the four rows, their four block sums
 * are folded into one register (lane r: row r's sum) and scaled in one go. */
QN_TARGET QG_INLINE void QN_FN(qg_tile32)(const int type, const int R, const int C, int64_t nb,
                                          const char *w, size_t w_rs, const char *y, size_t y_rs,
                                          float *out, int64_t out_rs) {
    const size_t wb = qg_block_bytes(type);
    const size_t yb = type == QG_Q4_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const size_t yq = type == QG_Q4_1 ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs);
    float32x4_t acc[4];
    UNROLL for (int c = 0; c < C; c++) acc[c] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        const char *x = w + (size_t)b * wb; /* row 0's block b */
        int8x16_t x0[4], x1[4];
        UNROLL for (int r = 0; r < R; r++) qg_levels(type, x + (size_t)r * w_rs, &x0[r], &x1[r]);
        /* d (and Q4_1's m) lead the block */
        const float32x4_t dw = qg_f16x4(x, w_rs, R);
        const float32x4_t mw = type == QG_Q4_1 ? qg_f16x4(x + 2, w_rs, R) : dw;
        UNROLL for (int c = 0; c < C; c++) {
            const char *yc = y + (size_t)c * y_rs + (size_t)b * yb; /* token c's block b */
            const int8x16_t y0 = vld1q_s8((const int8_t *)(yc + yq));
            const int8x16_t y1 = vld1q_s8((const int8_t *)(yc + yq + 16));
            int32x4_t s[4];
            UNROLL for (int r = 0; r < 4; r++) {
                s[r] = vdupq_n_s32(0);
                if (r >= R) continue;
                if (type == QG_Q8_0)
                    s[r] = QN_DOT16_WIDE(QN_DOT16_WIDE(s[r], x0[r], y0), x1[r], y1);
                else
                    s[r] = QN_DOT16(QN_DOT16(s[r], x0[r], y0), x1[r], y1);
            }
            uint16_t hd;
            memcpy(&hd, yc, 2);
            float32x4_t p = vmulq_f32(vcvtq_f32_s32(qg_sum4(s[0], s[1], s[2], s[3])),
                                      vmulq_n_f32(dw, qn_f16(hd)));
            if (type == QG_Q4_1) {
                uint16_t hs;
                memcpy(&hs, yc + offsetof(block_q8_1, s), 2);
                p = vaddq_f32(p, vmulq_n_f32(mw, qn_f16(hs)));
            }
            acc[c] = vaddq_f32(acc[c], p);
            QG_KEEP(acc[c]);
        }
    }
    UNROLL for (int c = 0; c < C; c++) {
        if (R == 4)
            vst1q_f32(out + c * out_rs, acc[c]);
        else
            qg_store(out + c * out_rs, 1, acc[c], R);
    }
}

/* ---- Q4_K, Q6_K: up to 2 rows x 4 tokens, a lane per token ---------------------------------- */

/* As vec_dot, per output: each super-block's isum (the sub-blocks' sums times their scales) and
 * summs (the mins times bsums' pairs), both exact int32, then
 * sum += d_y d_w isum - d_y dmin_w summs. A row's 64 levels of a step are loaded once for all
 * tokens, and each row's four tokens' sums are folded into one register (lane c: token c's). */
QN_TARGET QG_INLINE void QN_FN(qg_tile_q4_K)(const int R, const int C, int64_t nb, const char *w,
                                             size_t w_rs, const char *y, size_t y_rs, float *out,
                                             int64_t out_rs) {
    float32x4_t acc[2];
    UNROLL for (int r = 0; r < R; r++) acc[r] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < nb; i++) {
        const block_q4_K *x[2];
        const block_q8_K *yy[4];
        uint8_t sc[2][8], mn[2][8];
        UNROLL for (int r = 0; r < R; r++) {
            x[r] = (const block_q4_K *)(w + (size_t)r * w_rs) + i;
            qn_k4_scales(x[r]->scales, sc[r], mn[r]);
        }
        UNROLL for (int c = 0; c < C; c++) yy[c] = (const block_q8_K *)(y + (size_t)c * y_rs) + i;
        int32x4_t is[2][4]; /* is[r][c]: the isum of row r and token c, in 4 lanes */
        UNROLL for (int r = 0; r < R; r++) {
            UNROLL for (int c = 0; c < 4; c++) is[r][c] = vdupq_n_s32(0);
        }
        UNROLL for (int j = 0; j < QK_K / 64; j++) {
            /* sub-block 2j: the low nibbles of bytes 32j.., 2j + 1: the high ones */
            uint8x16_t b0[2], b1[2];
            UNROLL for (int r = 0; r < R; r++) {
                b0[r] = vld1q_u8(x[r]->qs + 32 * j);
                b1[r] = vld1q_u8(x[r]->qs + 32 * j + 16);
            }
            UNROLL for (int c = 0; c < C; c++) {
                const int8_t *q8 = yy[c]->qs + 64 * j;
                const int8x16_t y0 = vld1q_s8(q8), y1 = vld1q_s8(q8 + 16);
                const int8x16_t y2 = vld1q_s8(q8 + 32), y3 = vld1q_s8(q8 + 48);
                UNROLL for (int r = 0; r < R; r++) {
                    int32x4_t s0 = QN_DOT16(vdupq_n_s32(0), qn_lo(b0[r]), y0);
                    s0 = QN_DOT16(s0, qn_lo(b1[r]), y1);
                    int32x4_t s1 = QN_DOT16(vdupq_n_s32(0), qn_hi(b0[r]), y2);
                    s1 = QN_DOT16(s1, qn_hi(b1[r]), y3);
                    is[r][c] =
                        vmlaq_n_s32(vmlaq_n_s32(is[r][c], s0, sc[r][2 * j]), s1, sc[r][2 * j + 1]);
                }
                UNROLL for (int r = 0; r < R; r++) QG_KEEP(is[r][c]);
            }
        }
        /* the pair sums of each token's bsums (0 for tokens past C) */
        int32x4_t bp0[4], bp1[4];
        UNROLL for (int c = 0; c < 4; c++) {
            bp0[c] = bp1[c] = vdupq_n_s32(0);
            if (c >= C) continue;
            bp0[c] = vpaddlq_s16(vld1q_s16(yy[c]->bsums));
            bp1[c] = vpaddlq_s16(vld1q_s16(yy[c]->bsums + 8));
        }
        const float32x4_t dy = qg_f32x4((const char *)yy[0]->d, y_rs, C);
        UNROLL for (int r = 0; r < R; r++) {
            const uint16x8_t m = vmovl_u8(vld1_u8(mn[r]));
            const int32x4_t m0 = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(m)));
            const int32x4_t m1 = vreinterpretq_s32_u32(vmovl_high_u16(m));
            int32x4_t t[4];
            UNROLL for (int c = 0; c < 4; c++) t[c] = vmlaq_s32(vmulq_s32(bp0[c], m0), bp1[c], m1);
            const int32x4_t summs = qg_sum4(t[0], t[1], t[2], t[3]);
            const int32x4_t isum = qg_sum4(is[r][0], is[r][1], is[r][2], is[r][3]);
            const float32x4_t a = vmulq_f32(vmulq_n_f32(dy, qn_f16(x[r]->d)), vcvtq_f32_s32(isum));
            const float32x4_t b =
                vmulq_f32(vmulq_n_f32(dy, qn_f16(x[r]->dmin)), vcvtq_f32_s32(summs));
            acc[r] = vaddq_f32(acc[r], vsubq_f32(a, b));
        }
    }
    UNROLL for (int r = 0; r < R; r++) qg_store(out + r, out_rs, acc[r], C);
}

/* As vec_dot, per output: isum over the 16 sub-blocks of 16 of (level - 32) y times the
 * sub-block's scale, then sum += d_y d_w isum. One sub-block at a time: the rows' levels formed
 * once, then each token's 16 activations met by both rows. */
QN_TARGET QG_INLINE void QN_FN(qg_tile_q6_K)(const int R, const int C, int64_t nb, const char *w,
                                             size_t w_rs, const char *y, size_t y_rs, float *out,
                                             int64_t out_rs) {
    const uint8x16_t m4 = vdupq_n_u8(0xF), m30 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    float32x4_t acc[2];
    UNROLL for (int r = 0; r < R; r++) acc[r] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < nb; i++) {
        const block_q6_K *x[2];
        const block_q8_K *yy[4];
        UNROLL for (int r = 0; r < R; r++) x[r] = (const block_q6_K *)(w + (size_t)r * w_rs) + i;
        UNROLL for (int c = 0; c < C; c++) yy[c] = (const block_q8_K *)(y + (size_t)c * y_rs) + i;
        int32x4_t is[2][4];
        UNROLL for (int r = 0; r < R; r++) {
            UNROLL for (int c = 0; c < 4; c++) is[r][c] = vdupq_n_s32(0);
        }
        UNROLL for (int h = 0; h < 2; h++) {
            /* sub-block g of this half, elements 16g..: the low (g < 4) or high nibbles of ql
             * bytes 16 (g % 4).., bits 2 (g / 2) and 2 (g / 2) + 1 of qh bytes 16 (g % 2).. on
             * top, less 32 (as vec_dot's eight QN_SUB16 steps) */
            UNROLL for (int g = 0; g < 8; g++) {
                int8x16_t v[2];
                UNROLL for (int r = 0; r < R; r++) {
                    const uint8x16_t l = vld1q_u8(x[r]->ql + 64 * h + 16 * (g & 3));
                    const uint8x16_t qh = vld1q_u8(x[r]->qh + 32 * h + 16 * (g & 1));
                    const uint8x16_t lo = g < 4 ? vandq_u8(l, m4) : vshrq_n_u8(l, 4);
                    const uint8x16_t hb = g < 2   ? vshlq_n_u8(qh, 4)
                                          : g < 4 ? vshlq_n_u8(qh, 2)
                                          : g < 6 ? qh
                                                  : vshrq_n_u8(qh, 2);
                    v[r] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vandq_u8(hb, m30))), off);
                }
                UNROLL for (int c = 0; c < C; c++) {
                    const int8x16_t yv = vld1q_s8(yy[c]->qs + 128 * h + 16 * g);
                    UNROLL for (int r = 0; r < R; r++) is[r][c] = vmlaq_n_s32(
                        is[r][c], QN_DOT16(vdupq_n_s32(0), v[r], yv), x[r]->scales[8 * h + g]);
                }
                UNROLL for (int r = 0; r < R; r++) {
                    UNROLL for (int c = 0; c < C; c++) QG_KEEP(is[r][c]);
                }
            }
        }
        const float32x4_t dy = qg_f32x4((const char *)yy[0]->d, y_rs, C);
        UNROLL for (int r = 0; r < R; r++) {
            const int32x4_t isum = qg_sum4(is[r][0], is[r][1], is[r][2], is[r][3]);
            acc[r] =
                vaddq_f32(acc[r], vmulq_f32(vmulq_n_f32(dy, qn_f16(x[r]->d)), vcvtq_f32_s32(isum)));
        }
    }
    UNROLL for (int r = 0; r < R; r++) qg_store(out + r, out_rs, acc[r], C);
}

/* ---- instances ------------------------------------------------------------------------------ */

#define QG_TILE32(name, type)                                                                      \
    QN_TARGET QG_INLINE void QN_FN(qg_tile_##name)(const int R, const int C, int64_t nb,           \
                                                   const char *w, size_t w_rs, const char *y,      \
                                                   size_t y_rs, float *out, int64_t out_rs) {      \
        QN_FN(qg_tile32)(type, R, C, nb, w, w_rs, y, y_rs, out, out_rs);                           \
    }
QG_TILE32(q4_0, QG_Q4_0)
QG_TILE32(q4_1, QG_Q4_1)
QG_TILE32(q5_0, QG_Q5_0)
QG_TILE32(q8_0, QG_Q8_0)
#undef QG_TILE32

#define QG_WRAP(name, R, C)                                                                        \
    QN_TARGET static void QN_FN(qg_##name##_##R##x##C)(int64_t nb, const char *w, size_t w_rs,     \
                                                       const char *y, size_t y_rs, float *out,     \
                                                       int64_t out_rs) {                           \
        QN_FN(qg_tile_##name)(R, C, nb, w, w_rs, y, y_rs, out, out_rs);                            \
    }
/* the tiles of R rows and 1..4 tokens */
#define QG_ROW(name, R)                                                                            \
    QG_WRAP(name, R, 1) QG_WRAP(name, R, 2) QG_WRAP(name, R, 3) QG_WRAP(name, R, 4)
#define QG_ROW_LIST(name, R)                                                                       \
    QN_FN(qg_##name##_##R##x1), QN_FN(qg_##name##_##R##x2), QN_FN(qg_##name##_##R##x3),            \
        QN_FN(qg_##name##_##R##x4)

/* quant_gemm_<name>_neon[_dotprod]: tiles of up to 4 rows (the 32-element types) or 2 (the
 * K-quants) x 4 tokens */
#define QG_GEMM4(name, BLOCK)                                                                      \
    QG_ROW(name, 1)                                                                                \
    QG_ROW(name, 2)                                                                                \
    QG_ROW(name, 3)                                                                                \
    QG_ROW(name, 4)                                                                                \
    QN_TARGET void QN_FN(quant_gemm_##name)(int64_t k, const void *w, size_t w_rs, int64_t nrows,  \
                                            const void *y, size_t y_rs, int64_t ntok, float *out,  \
                                            int64_t out_rs) {                                      \
        static const qg_tile_fn tiles[16] = {QG_ROW_LIST(name, 1), QG_ROW_LIST(name, 2),           \
                                             QG_ROW_LIST(name, 3), QG_ROW_LIST(name, 4)};          \
        qg_drive(tiles, 4, 4, k / (BLOCK), w, w_rs, nrows, y, y_rs, ntok, out, out_rs);            \
    }
#define QG_GEMM2(name, BLOCK)                                                                      \
    QG_ROW(name, 1)                                                                                \
    QG_ROW(name, 2)                                                                                \
    QN_TARGET void QN_FN(quant_gemm_##name)(int64_t k, const void *w, size_t w_rs, int64_t nrows,  \
                                            const void *y, size_t y_rs, int64_t ntok, float *out,  \
                                            int64_t out_rs) {                                      \
        static const qg_tile_fn tiles[8] = {QG_ROW_LIST(name, 1), QG_ROW_LIST(name, 2)};           \
        qg_drive(tiles, 2, 4, k / (BLOCK), w, w_rs, nrows, y, y_rs, ntok, out, out_rs);            \
    }

QG_GEMM4(q4_0, QK_32)
QG_GEMM4(q4_1, QK_32)
QG_GEMM4(q5_0, QK_32)
QG_GEMM4(q8_0, QK_32)
QG_GEMM2(q4_K, QK_K)
QG_GEMM2(q6_K, QK_K)

#undef QG_GEMM4
#undef QG_GEMM2
#undef QG_ROW_LIST
#undef QG_ROW
#undef QG_WRAP
#undef QN_FN
#undef QN_CAT
#undef QN_CAT_
