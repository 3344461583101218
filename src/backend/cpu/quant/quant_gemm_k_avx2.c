/* AVX2 tiles of the K-quant products (Q4_K, Q6_K; see quant_gemm.h), written and instantiated as
 * in quant_gemm_avx2.c: each output keeps the accumulators of its type's vec_dot (k_quants_avx2.c),
 * updated block by block in the same order, and is reduced as vec_dot reduces it. */
#include "backend/cpu/quant/k_quants_avx2.h"
#include "backend/cpu/quant/quant_gemm_avx2_tiles.h"

/* Keeps v in a register at this point: after full unrolling, gcc reassociates the integer sums of
 * a tile into trees that store every product to the stack; with this barrier after each step the
 * R x C sums stay in registers and are updated in order. */
#define QG_KEEP(v) __asm__("" : "+x"(v))

/* ---- Q4_K ------------------------------------------------------------------------------------ */

/* As vec_dot: the mins go to a 4-lane accumulator subtracted after the 8 lanes are folded to 4.
 * The integer part (isum, exact int32 lanes, so any order of its additions gives vec_dot's bits)
 * runs one 32-element sub-block at a time: a row's nibbles of that sub-block, each token's 32
 * activations a memory operand read once for the R rows, and the sub-block's scale from the 8
 * broadcasts of each row built once a block, so that the R x C int32 sums, R nibble registers
 * and the mask fit the 16 ymm registers (2 x 4: 8 + 2 + 1, the rest for scales and products)
 * instead of spilling as with both halves' nibbles and scales held at once. */
QG_INLINE void tile_q4_K(const int R, const int C, int64_t nb, const char *w, size_t w_rs, const char *y,
                         size_t y_rs, float *out, int64_t out_rs) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc[4][4];
    __m128 accm[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        acc[r][c] = _mm256_setzero_ps();
        accm[r][c] = _mm_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++) {
        if (C == 1) prefetch_next(w, R, w_rs, i, nb);
        const block_q4_K *x[4];
        const block_q8_K *yy[4];
        __m128i sm[4];
        __m256i sc[4][8], isum[4][4]; /* sc[r][s]: scale s of row r as 16 int16 */
        UNROLL for (int r = 0; r < R; r++) {
            x[r] = (const block_q4_K *)(w + (size_t)r * w_rs) + i;
            sm[r] = k4_scales_mins(x[r]->scales);
            const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm[r]));
            UNROLL for (int s = 0; s < 8; s++) sc[r][s] = k4_scale(sc16, s);
        }
        UNROLL for (int c = 0; c < C; c++) yy[c] = (const block_q8_K *)(y + (size_t)c * y_rs) + i;
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) isum[r][c] = _mm256_setzero_si256();
        UNROLL for (int s = 0; s < 8; s++) {
            /* sub-block s: the low nibbles of bytes 32 (s / 2).. for even s, the high for odd */
            __m256i q[4];
            UNROLL for (int r = 0; r < R; r++) {
                const __m256i b = qa_load(x[r]->qs + 32 * (s >> 1));
                q[r] = _mm256_and_si256(s & 1 ? _mm256_srli_epi16(b, 4) : b, m4);
            }
            UNROLL for (int c = 0; c < C; c++) {
                const __m256i yv = qa_load(yy[c]->qs + 32 * s);
                UNROLL for (int r = 0; r < R; r++)
                    isum[r][c] = _mm256_add_epi32(isum[r][c],
                                                  _mm256_madd_epi16(_mm256_maddubs_epi16(q[r], yv), sc[r][s]));
            }
            UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) QG_KEEP(isum[r][c]);
        }
        UNROLL for (int c = 0; c < C; c++) {
            const float dy = quant_q8k_d(yy[c]);
            /* sum_j m_j * (bsums_2j + bsums_2j+1) as 4 int32 lanes; |sum of 32| <= 4064 */
            const __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)yy[c]->bsums),
                                                 _mm_loadu_si128((const __m128i *)(yy[c]->bsums + 8)));
            UNROLL for (int r = 0; r < R; r++) {
                const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm[r], 8));
                accm[r][c] = _mm_fmadd_ps(_mm_set1_ps(dy * qa_f16(x[r]->dmin)),
                                          _mm_cvtepi32_ps(_mm_madd_epi16(mins, pairs)), accm[r][c]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dy * qa_f16(x[r]->d)), _mm256_cvtepi32_ps(isum[r][c]),
                                            acc[r][c]);
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        __m128 v = _mm_add_ps(_mm256_castps256_ps128(acc[r][c]), _mm256_extractf128_ps(acc[r][c], 1));
        v = _mm_sub_ps(v, accm[r][c]);
        v = _mm_add_ps(v, _mm_movehl_ps(v, v));
        v = _mm_add_ss(v, _mm_movehdup_ps(v));
        out[c * out_rs + r] = _mm_cvtss_f32(v);
    }
}

/* ---- Q6_K ------------------------------------------------------------------------------------ */

QG_INLINE void tile_q6_K(const int R, const int C, int64_t nb, const char *w, size_t w_rs, const char *y,
                         size_t y_rs, float *out, int64_t out_rs) {
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        if (C == 1) prefetch_next(w, R, w_rs, i, nb);
        const block_q6_K *x[4];
        const block_q8_K *yy[4];
        __m128i sc8[4];
        __m256i isum[4][4];
        UNROLL for (int r = 0; r < R; r++) {
            x[r] = (const block_q6_K *)(w + (size_t)r * w_rs) + i;
            sc8[r] = _mm_loadu_si128((const __m128i *)x[r]->scales);
        }
        UNROLL for (int c = 0; c < C; c++) yy[c] = (const block_q8_K *)(y + (size_t)c * y_rs) + i;
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) isum[r][c] = _mm256_setzero_si256();
        UNROLL for (int h = 0; h < 2; h++) {
            UNROLL for (int g = 0; g < 4; g++) {
                __m256i u[4], ps[4];
                UNROLL for (int r = 0; r < R; r++) {
                    /* levels u = q + 32 in [0, 63]: low 4 bits from ql, high 2 from qh */
                    const __m256i l = qa_load(x[r]->ql + 64 * h + 32 * (g & 1));
                    const __m256i qh = qa_load(x[r]->qh + 32 * h);
                    __m256i lo4 = g < 2 ? _mm256_and_si256(l, m4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
                    __m256i hi2 = g == 0   ? _mm256_slli_epi16(qh, 4)
                                  : g == 1 ? _mm256_slli_epi16(qh, 2)
                                  : g == 2 ? qh
                                           : _mm256_srli_epi16(qh, 2);
                    u[r] = _mm256_or_si256(lo4, _mm256_and_si256(hi2, m30));
                    ps[r] = qa_pair_scales(sc8[r], 4 * h + g);
                }
                UNROLL for (int c = 0; c < C; c++) {
                    const __m256i yv = qa_load(yy[c]->qs + 128 * h + 32 * g);
                    UNROLL for (int r = 0; r < R; r++)
                        isum[r][c] = _mm256_add_epi32(isum[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], yv), ps[r]));
                }
                UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) QG_KEEP(isum[r][c]);
            }
        }
        UNROLL for (int c = 0; c < C; c++) {
            const float dy = quant_q8k_d(yy[c]);
            const __m256i bs = qa_load(yy[c]->bsums);
            UNROLL for (int r = 0; r < R; r++) {
                /* sum sc (u - 32) y = sum sc u y - 32 sum sc bsums */
                const __m256i offs = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8[r]), bs), 5);
                acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(dy * qa_f16(x[r]->d)),
                                            _mm256_cvtepi32_ps(_mm256_sub_epi32(isum[r][c], offs)), acc[r][c]);
            }
        }
    }
    store_sums(R, C, acc, out, out_rs);
}

/* ---- instances --------------------------------------------------------------------------------- */

GEMM_DEF(q4_K, 2, 4, QK_K)
GEMM_DEF(q6_K, 2, 4, QK_K)
