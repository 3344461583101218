/* AVX2 tiles of the quantized products (see quant_gemm.h). A tile is R weight rows x C tokens,
 * written once as an always-inlined function of constant R and C (so the compiler keeps the
 * accumulators in registers where it can) and instantiated for the full tile and the edges.
 * Inside a tile each output has the accumulators of its type's vec_dot (q4_q5_q8_avx2.c,
 * k_quants_avx2.c), updated block by block in the same order with the same operands, and is
 * reduced as vec_dot reduces it. Pair sums in maddubs stay below 32767 as there. */
#include <math.h>

#include "backend/cpu/quant/quant_gemm_avx2_tiles.h"

/* ---- Q4_1 ------------------------------------------------------------------------------------ */

/* As vec_dot: one accumulator over the blocks in order, and the min term m_w s_y (Q8_1's f16 s)
 * as a scalar fused sum after the horizontal sum. */
QG_INLINE void tile_q4_1(const int R, const int C, int64_t nb, const char *w, size_t w_rs, const char *y,
                         size_t y_rs, float *out, int64_t out_rs) {
    __m256 acc[4][4];
    /* the min term: lane 1 of fma((d_w, m_w, 0, 0), (d_y, s_y, 0, 0), sm) is vec_dot's fused
     * fmaf(m_w, s_y, summs); the f16 pairs (d, m) and (d, s) lead the blocks, so one 32-bit load
     * and one conversion give both (lane 0 accumulates d_w d_y, unused) */
    __m128 sm[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        acc[r][c] = _mm256_setzero_ps();
        sm[r][c] = _mm_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        if (C == 1) prefetch_next(w, R, w_rs, b, nb);
        /* the tokens' blocks first, then one weight row at a time against all of them, so that
         * only one row's unpacked values need registers beside the accumulators */
        __m256i yv[4];
        __m128 dsy[4]; /* (d, s, 0, 0) */
        UNROLL for (int c = 0; c < C; c++) {
            const block_q8_1 *yb = (const block_q8_1 *)(y + (size_t)c * y_rs) + b;
            int32_t ds;
            memcpy(&ds, yb, 4);
            yv[c] = qa_load(yb->qs);
            dsy[c] = _mm_cvtph_ps(_mm_cvtsi32_si128(ds));
        }
        UNROLL for (int r = 0; r < R; r++) {
            const block_q4_1 *x = (const block_q4_1 *)(w + (size_t)r * w_rs) + b;
            const __m256i wx = qa_nibbles(x->qs);
            int32_t dm;
            memcpy(&dm, x, 4); /* d, m */
            const __m128 dmw = _mm_cvtph_ps(_mm_cvtsi32_si128(dm));
            UNROLL for (int c = 0; c < C; c++) {
                sm[r][c] = _mm_fmadd_ps(dmw, dsy[c], sm[r][c]);
                acc[r][c] = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_mul_ss(dmw, dsy[c])),
                                            _mm256_cvtepi32_ps(qa_dot_u8(wx, yv[c])), acc[r][c]);
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        out[c * out_rs + r] = qa_hsum_ps(acc[r][c]) + _mm_cvtss_f32(_mm_movehdup_ps(sm[r][c]));
    }
}

/* ---- Q4_0, Q5_0, Q8_0: signed levels times Q8_0 activations ----------------------------------- */

enum { S_Q4_0, S_Q5_0, S_Q8_0 };

static const size_t sblock[] = {sizeof(block_q4_0), sizeof(block_q5_0), sizeof(block_q8_0)};

/* Q5_0's levels q + 16 in [0, 31]: q's fifth bit as 0x10 over the nibble. */
QG_INLINE __m256i q5_0_levels(const block_q5_0 *x) {
    return _mm256_or_si256(qa_nibbles(x->qs), _mm256_and_si256(qa_bits(x->qh), _mm256_set1_epi8(0x10)));
}

/* The block's 32 levels as signed bytes: q - 8 (Q4_0), q - 16 (Q5_0), q (Q8_0). */
QG_INLINE __m256i signed_levels(const int type, const char *blk) {
    if (type == S_Q4_0) return _mm256_sub_epi8(qa_nibbles(((const block_q4_0 *)blk)->qs), _mm256_set1_epi8(8));
    if (type == S_Q8_0) return qa_load(((const block_q8_0 *)blk)->qs);
    return _mm256_sub_epi8(q5_0_levels((const block_q5_0 *)blk), _mm256_set1_epi8(16));
}

/* As the type's vec_dot: one accumulator over the blocks in order, each block's integer dot by
 * the sign trick (|w| times y with w's sign; |w| <= 128, so pair sums stay below 32767) scaled by
 * d_w d_y. (Q5_0's dot equals the unsigned one, sum (q + 16) y - 16 sum y, lane by lane.) The
 * R x C scale products (exact in f32: two f16 significands fit) are made four at a time into a
 * small table each block and broadcast from it into the fused multiply-add, in place of a
 * multiply a pair (Q8_0 pp512 one thread: the product ~6% faster in thread CPU time). */
QG_INLINE void tile_signed(const int type, const int R, const int C, int64_t nb, const char *w, size_t w_rs,
                           const char *y, size_t y_rs, float *out, int64_t out_rs) {
    const size_t wb = sblock[type];
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4][4];
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        if (C == 1) prefetch_next(w, R, w_rs, b, nb);
        const char *x[4];
        const block_q8_0 *yy[4];
        UNROLL for (int r = 0; r < R; r++) x[r] = w + (size_t)r * w_rs + (size_t)b * wb;
        UNROLL for (int c = 0; c < C; c++) yy[c] = (const block_q8_0 *)(y + (size_t)c * y_rs) + b;
        /* dd[c][r] = d_w(r) d_y(c): the rows' four f16 scales (d leads every block) at once */
        float dd[4][4] __attribute__((aligned(16)));
        uint16_t hw[4] = {0, 0, 0, 0};
        UNROLL for (int r = 0; r < R; r++) memcpy(&hw[r], x[r], 2);
        uint64_t packed;
        memcpy(&packed, hw, sizeof packed);
        const __m128 dw = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)packed));
        UNROLL for (int c = 0; c < C; c++) _mm_store_ps(dd[c], _mm_mul_ps(dw, _mm_set1_ps(qa_f16(yy[c]->d))));
        if (type == S_Q5_0 && C <= 2) {
            /* few tokens (decoding): Q5_0's unsigned levels times y, 16 sum y taken back out lane
             * by lane -- the same int32 lanes, fewer instructions a row where the tokens' sums
             * are not many */
            __m256i ys[2];
            UNROLL for (int c = 0; c < C; c++)
                ys[c] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(0x10), qa_load(yy[c]->qs)), ones);
            UNROLL for (int r = 0; r < R; r++) {
                const __m256i u = q5_0_levels((const block_q5_0 *)x[r]);
                UNROLL for (int c = 0; c < C; c++) {
                    const __m256i p = _mm256_sub_epi32(qa_dot_u8(u, qa_load(yy[c]->qs)), ys[c]);
                    acc[r][c] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dd[c][r]), _mm256_cvtepi32_ps(p), acc[r][c]);
                }
            }
            continue;
        }
        UNROLL for (int r = 0; r < R; r++) {
            const __m256i wx = signed_levels(type, x[r]), ax = _mm256_sign_epi8(wx, wx);
            UNROLL for (int c = 0; c < C; c++) {
                const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(qa_load(yy[c]->qs), wx)), ones);
                acc[r][c] = _mm256_fmadd_ps(_mm256_broadcast_ss(&dd[c][r]), _mm256_cvtepi32_ps(p), acc[r][c]);
            }
        }
    }
    store_sums(R, C, acc, out, out_rs);
}

QG_INLINE void tile_q4_0(const int R, const int C, int64_t nb, const char *w, size_t w_rs, const char *y,
                         size_t y_rs, float *out, int64_t out_rs) {
    tile_signed(S_Q4_0, R, C, nb, w, w_rs, y, y_rs, out, out_rs);
}
QG_INLINE void tile_q5_0(const int R, const int C, int64_t nb, const char *w, size_t w_rs, const char *y,
                         size_t y_rs, float *out, int64_t out_rs) {
    tile_signed(S_Q5_0, R, C, nb, w, w_rs, y, y_rs, out, out_rs);
}
QG_INLINE void tile_q8_0(const int R, const int C, int64_t nb, const char *w, size_t w_rs, const char *y,
                         size_t y_rs, float *out, int64_t out_rs) {
    tile_signed(S_Q8_0, R, C, nb, w, w_rs, y, y_rs, out, out_rs);
}

/* ---- instances --------------------------------------------------------------------------------- */

/* The signed types in 4 x 4 tiles (a weight row's unpacking shared by four tokens; against 4 x 2,
 * SmolLM2's shapes in thread CPU time: Q5_0 -17%, Q4_0 -14%; Q8_0 pp512 1 thread 220-223 ->
 * 239-240 t/s), Q4_1 in 4 x 2 (its min terms need registers too) */
GEMM_DEF(q4_0, 4, 4, QK_32)
GEMM_DEF(q4_1, 4, 2, QK_32)
GEMM_DEF(q5_0, 4, 4, QK_32)
GEMM_DEF(q8_0, 4, 4, QK_32)
