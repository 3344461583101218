/* AVX2 tiles of the quantized products (see quant_gemm.h). A tile is R weight rows x C tokens,
 * written once as an always-inlined function of constant R and C (so the compiler keeps the
 * accumulators in registers where it can) and instantiated for the full tile and the edges.
 * Inside a tile each output has the accumulators of its type's vec_dot (q4_q5_q8_avx2.c,
 * k_quants_avx2.c), updated block by block in the same order with the same operands, and is
 * reduced as vec_dot reduces it. Pair sums in maddubs stay below 32767 as there. */
#include <math.h>

#include "backend/cpu/quant/quant_gemm_avx2_tiles.h"

/* ---- Q4_0, Q4_1, Q5_0, Q8_0 ------------------------------------------------------------------ */

enum { T_Q4_0, T_Q4_1, T_Q5_0 };

static const size_t wblock[] = {sizeof(block_q4_0), sizeof(block_q4_1), sizeof(block_q5_0)};

/* As the type's vec_dot: one accumulator over the blocks in order, and Q4_1 adds its min term
 * m_w s_y (Q8_1's f16 s) as a scalar fused sum after the horizontal sum. */
QG_INLINE void tile32(const int type, const int R, const int C, int64_t nb, const char *w, size_t w_rs,
                      const char *y, size_t y_rs, float *out, int64_t out_rs) {
    const bool q8_1 = type == T_Q4_1; /* activations Q8_1 */
    const size_t wb = wblock[type], yb = q8_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const __m256i eight = _mm256_set1_epi8(8), b4 = _mm256_set1_epi8(0x10), ones = _mm256_set1_epi16(1);
    __m256 acc[4][4];
    /* Q4_1's min term: lane 1 of fma((d_w, m_w, 0, 0), (d_y, s_y, 0, 0), sm) is vec_dot's fused
     * fmaf(m_w, s_y, summs); the f16 pairs (d, m) and (d, s) lead the blocks, so one 32-bit load
     * and one conversion give both (lane 0 accumulates d_w d_y, unused) */
    __m128 sm[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        acc[r][c] = _mm256_setzero_ps();
        sm[r][c] = _mm_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        if (C == 1) prefetch_next(w, R, w_rs, b, nb);
        {
            /* the tokens' blocks first, then one weight row at a time against all of them, so
             * that only one row's unpacked values need registers beside the accumulators */
            __m256i yv[4], ys[4];
            __m128 dsy[4]; /* (d, s, 0, 0) of Q8_1, (d, 0, 0, 0) of Q8_0 */
            __m256 dy[4];  /* d of Q8_0 in every lane */
            UNROLL for (int c = 0; c < C; c++) {
                const char *yblk = y + (size_t)c * y_rs + (size_t)b * yb;
                int32_t ds;
                if (q8_1) {
                    memcpy(&ds, yblk, 4); /* d leads both Q8_0 and Q8_1 blocks, s follows in Q8_1 */
                } else {
                    uint16_t dh;
                    memcpy(&dh, yblk, 2);
                    ds = dh;
                }
                yv[c] = qa_load(yblk + (q8_1 ? 4 : 2));
                dsy[c] = _mm_cvtph_ps(_mm_cvtsi32_si128(ds));
                dy[c] = _mm256_broadcastss_ps(dsy[c]);
                /* Q5_0 multiplies its levels q + 16 (unsigned) and takes 16 sum y back out, lane by
                 * lane: the same int32 lanes as the sign trick on q, two instructions fewer */
                if (type == T_Q5_0) ys[c] = _mm256_madd_epi16(_mm256_maddubs_epi16(b4, yv[c]), ones);
            }
            UNROLL for (int r = 0; r < R; r++) {
                const char *blk = w + (size_t)r * w_rs + (size_t)b * wb;
                __m256i wx;
                int32_t dm;
                if (type == T_Q4_0) {
                    const block_q4_0 *x = (const block_q4_0 *)blk;
                    wx = _mm256_sub_epi8(qa_nibbles(x->qs), eight);
                } else if (type == T_Q4_1) {
                    const block_q4_1 *x = (const block_q4_1 *)blk;
                    wx = qa_nibbles(x->qs);
                } else {
                    /* Q5_0: the level q + 16 in [0, 31], the fifth bit as 0x10 over the nibble */
                    const block_q5_0 *x = (const block_q5_0 *)blk;
                    wx = _mm256_or_si256(qa_nibbles(x->qs), _mm256_and_si256(qa_bits(x->qh), b4));
                }
                if (q8_1) {
                    memcpy(&dm, blk, 4); /* d, m */
                    const __m128 dmw = _mm_cvtph_ps(_mm_cvtsi32_si128(dm));
                    UNROLL for (int c = 0; c < C; c++) {
                        sm[r][c] = _mm_fmadd_ps(dmw, dsy[c], sm[r][c]);
                        acc[r][c] = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_mul_ss(dmw, dsy[c])),
                                                    _mm256_cvtepi32_ps(qa_dot_u8(wx, yv[c])), acc[r][c]);
                    }
                } else {
                    /* d leads every block: converted in all lanes at once (a broadcast load), each
                     * lane's d_w d_y the scalar product vec_dot broadcasts */
                    uint16_t dh;
                    memcpy(&dh, blk, 2);
                    const __m256 dw = _mm256_cvtph_ps(_mm_set1_epi16((short)dh));
                    const __m256i ax = type == T_Q5_0 ? wx : _mm256_sign_epi8(wx, wx);
                    UNROLL for (int c = 0; c < C; c++) {
                        __m256i p = type == T_Q5_0 ? _mm256_sub_epi32(qa_dot_u8(wx, yv[c]), ys[c])
                                                   : qa_dot_u8(ax, _mm256_sign_epi8(yv[c], wx));
                        acc[r][c] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dy[c]), _mm256_cvtepi32_ps(p), acc[r][c]);
                    }
                }
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        out[c * out_rs + r] = q8_1 ? qa_hsum_ps(acc[r][c]) + _mm_cvtss_f32(_mm_movehdup_ps(sm[r][c]))
                                   : qa_hsum_ps(acc[r][c]);
    }
}

QG_INLINE void tile_q4_0(const int R, const int C, int64_t nb, const char *w, size_t w_rs, const char *y,
                         size_t y_rs, float *out, int64_t out_rs) {
    tile32(T_Q4_0, R, C, nb, w, w_rs, y, y_rs, out, out_rs);
}
QG_INLINE void tile_q4_1(const int R, const int C, int64_t nb, const char *w, size_t w_rs, const char *y,
                         size_t y_rs, float *out, int64_t out_rs) {
    tile32(T_Q4_1, R, C, nb, w, w_rs, y, y_rs, out, out_rs);
}
QG_INLINE void tile_q5_0(const int R, const int C, int64_t nb, const char *w, size_t w_rs, const char *y,
                         size_t y_rs, float *out, int64_t out_rs) {
    tile32(T_Q5_0, R, C, nb, w, w_rs, y, y_rs, out, out_rs);
}
/* Q8_0 as tile32 computes it, with fewer instructions a pair: the R x C scale products d_w d_y
 * (exact in f32: two f16 significands fit) made four at a time into a small table each block and
 * broadcast from it into the fused multiply-add, in place of a multiply a pair (Q8_0 pp512 one
 * thread: the product ~6% faster, measured on SmolLM2's shapes in thread CPU time). */
QG_INLINE void tile_q8_0(const int R, const int C, int64_t nb, const char *w, size_t w_rs, const char *y,
                         size_t y_rs, float *out, int64_t out_rs) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        if (C == 1) prefetch_next(w, R, w_rs, b, nb);
        const block_q8_0 *x[4], *yy[4];
        UNROLL for (int r = 0; r < R; r++) x[r] = (const block_q8_0 *)(w + (size_t)r * w_rs) + b;
        UNROLL for (int c = 0; c < C; c++) yy[c] = (const block_q8_0 *)(y + (size_t)c * y_rs) + b;
        /* dd[c][r] = d_w(r) d_y(c): the rows' four f16 scales converted at once */
        float dd[4][4] __attribute__((aligned(16)));
        uint16_t hw[4] = {0, 0, 0, 0};
        UNROLL for (int r = 0; r < R; r++) hw[r] = x[r]->d;
        uint64_t packed;
        memcpy(&packed, hw, sizeof packed);
        const __m128 dw = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)packed));
        UNROLL for (int c = 0; c < C; c++) _mm_store_ps(dd[c], _mm_mul_ps(dw, _mm_set1_ps(qa_f16(yy[c]->d))));
        UNROLL for (int r = 0; r < R; r++) {
            const __m256i wx = qa_load(x[r]->qs), ax = _mm256_sign_epi8(wx, wx);
            UNROLL for (int c = 0; c < C; c++) {
                const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(qa_load(yy[c]->qs), wx)), ones);
                acc[r][c] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dd[c][r]), _mm256_cvtepi32_ps(p), acc[r][c]);
            }
        }
    }
    store_sums(R, C, acc, out, out_rs);
}

/* ---- instances --------------------------------------------------------------------------------- */

GEMM_DEF(q4_0, 4, 2, QK_32)
GEMM_DEF(q4_1, 4, 2, QK_32)
GEMM_DEF(q5_0, 4, 2, QK_32)
/* Q8_0 batches: 4 x 4 (the weights need no unpacking, so more tokens per loaded row pay; pp512 1
 * thread 220-223 -> 239-240 t/s, 2 threads 428-438 -> 436-451, against 4 x 2, load ~2) */
GEMM_DEF(q8_0, 4, 4, QK_32)
