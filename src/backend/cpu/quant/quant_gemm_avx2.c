/* AVX2 tiles of the quantized products (see quant_gemm.h). A tile is R weight rows x C tokens,
 * written once as an always-inlined function of constant R and C (so the compiler keeps the
 * accumulators in registers where it can) and instantiated for the full tile and the edges.
 * Inside a tile each output has the accumulators of its type's vec_dot (q4_q5_q8_avx2.c,
 * k_quants_avx2.c), updated block by block in the same order with the same operands, and is
 * reduced as vec_dot reduces it. Pair sums in maddubs stay below 32767 as there. */
#include <math.h>

#include "backend/cpu/quant/quant_avx2.h"
#include "backend/cpu/quant/quant_gemm.h"

#define QG_INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

typedef void (*tile_fn)(int64_t nb, const char *w, size_t w_rs, const char *y, size_t y_rs,
                        float *out, int64_t out_rs);

/* Runs tiles of rm rows x up to cm tokens over the product, rows left over one at a time:
 * full[c - 1] is the rm x c tile, one[c - 1] the 1 x c tile. */
static void drive(const tile_fn *full, const tile_fn *one, int rm, int cm, int64_t nb,
                  const char *w, size_t w_rs, int64_t nrows, const char *y, size_t y_rs,
                  int64_t ntok, float *out, int64_t out_rs) {
    for (int64_t r = 0; r < nrows;) {
        bool whole = nrows - r >= rm;
        const tile_fn *t = whole ? full : one;
        const char *wr = w + (size_t)r * w_rs;
        int64_t c = 0;
        for (; c + cm <= ntok; c += cm) t[cm - 1](nb, wr, w_rs, y + (size_t)c * y_rs, y_rs, out + c * out_rs + r, out_rs);
        if (c < ntok) t[ntok - c - 1](nb, wr, w_rs, y + (size_t)c * y_rs, y_rs, out + c * out_rs + r, out_rs);
        r += whole ? rm : 1;
    }
}

/* Asks for the part of the tile's rows two tiles ahead (the R w_rs bytes starting 2 R w_rs after
 * this tile's) that step b of nb covers: rows are short (a few cache lines), so the hardware
 * prefetcher, which learns a stream per row, would start each row cold; two tiles ahead rather
 * than one covers the memory latency better (SmolLM2 Q4_1 tg128 1 thread 65 -> 69.5 t/s, 2
 * threads 104 -> 107, Q4_K model 1 thread level; interleaved, load 11-14). Only one-token tiles (decode) do it: a batch reuses
 * a tile's rows for many tokens, so only its first pass over them waits on memory. */
QG_INLINE void prefetch_next(const char *w, int R, size_t w_rs, int64_t b, int64_t nb) {
    const size_t span = (size_t)R * w_rs, step = (span + (size_t)nb - 1) / (size_t)nb;
    const char *p = w + 2 * span + (size_t)b * step;
    for (size_t o = 0; o < step + 64; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

QG_INLINE void store_sums(const int R, const int C, __m256 acc[4][4], float *out, int64_t out_rs) {
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) out[c * out_rs + r] = qa_hsum_ps(acc[r][c]);
}

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

/* ---- Q4_K ------------------------------------------------------------------------------------ */

/* The 8 scales and 8 mins (6 bits each) of a Q4_K block: scales in bytes 0..7, mins in 8..15. */
static inline __m128i k4_scales_mins(const uint8_t *q) {
    uint32_t u0, u1, u2;
    memcpy(&u0, q, 4);
    memcpy(&u1, q + 4, 4);
    memcpy(&u2, q + 8, 4);
    const uint32_t lo6 = 0x3F3F3F3Fu, lo4 = 0x0F0F0F0Fu, lo2 = 0x03030303u;
    uint32_t sc0 = u0 & lo6, m0 = u1 & lo6;
    uint32_t sc1 = (u2 & lo4) | (((u0 >> 6) & lo2) << 4);
    uint32_t m1 = ((u2 >> 4) & lo4) | (((u1 >> 6) & lo2) << 4);
    return _mm_set_epi32((int)m1, (int)m0, (int)sc1, (int)sc0);
}

/* int16 broadcast of scale s (0..7) of the 8 int16 scales in both lanes of sc16. */
static inline __m256i k4_scale(__m256i sc16, int s) {
    return _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)((2 * s + 1) << 8 | (2 * s))));
}

/* As vec_dot: the mins go to a 4-lane accumulator subtracted after the 8 lanes are folded to 4. */
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
        __m256i sc16[4], isum[4][4];
        UNROLL for (int r = 0; r < R; r++) {
            x[r] = (const block_q4_K *)(w + (size_t)r * w_rs) + i;
            sc16[r] = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(k4_scales_mins(x[r]->scales)));
        }
        UNROLL for (int c = 0; c < C; c++) yy[c] = (const block_q8_K *)(y + (size_t)c * y_rs) + i;
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) isum[r][c] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i lo[4], hi[4], s0[4], s1[4];
            UNROLL for (int r = 0; r < R; r++) {
                const __m256i q = qa_load(x[r]->qs + 32 * j);
                lo[r] = _mm256_and_si256(q, m4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                s0[r] = k4_scale(sc16[r], 2 * j);
                s1[r] = k4_scale(sc16[r], 2 * j + 1);
            }
            UNROLL for (int c = 0; c < C; c++) {
                const __m256i y0 = qa_load(yy[c]->qs + 64 * j), y1 = qa_load(yy[c]->qs + 64 * j + 32);
                UNROLL for (int r = 0; r < R; r++) {
                    __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[r], y0), s0[r]);
                    __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[r], y1), s1[r]);
                    isum[r][c] = _mm256_add_epi32(isum[r][c], _mm256_add_epi32(p0, p1));
                }
            }
        }
        UNROLL for (int c = 0; c < C; c++) {
            const float dy = quant_q8k_d(yy[c]);
            /* sum_j m_j * (bsums_2j + bsums_2j+1) as 4 int32 lanes; |sum of 32| <= 4064 */
            const __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)yy[c]->bsums),
                                                 _mm_loadu_si128((const __m128i *)(yy[c]->bsums + 8)));
            UNROLL for (int r = 0; r < R; r++) {
                const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(k4_scales_mins(x[r]->scales), 8));
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
        for (int h = 0; h < 2; h++) {
            for (int g = 0; g < 4; g++) {
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

#define TILE_WRAP(name, R, C)                                                                     \
    static void name##_##R##x##C(int64_t nb, const char *w, size_t w_rs, const char *y,          \
                                 size_t y_rs, float *out, int64_t out_rs) {                       \
        tile_##name(R, C, nb, w, w_rs, y, y_rs, out, out_rs);                                     \
    }

#define GEMM_DEF(name, RM, CM, BLOCK)                                                             \
    TILE_WRAP(name, RM, 1)                                                                        \
    TILE_WRAP(name, RM, 2)                                                                        \
    TILE_WRAP(name, RM, 3)                                                                        \
    TILE_WRAP(name, RM, 4)                                                                        \
    TILE_WRAP(name, 1, 1)                                                                         \
    TILE_WRAP(name, 1, 2)                                                                         \
    TILE_WRAP(name, 1, 3)                                                                         \
    TILE_WRAP(name, 1, 4)                                                                         \
    void quant_gemm_##name##_avx2(int64_t k, const void *w, size_t w_rs, int64_t nrows,          \
                                  const void *y, size_t y_rs, int64_t ntok, float *out,           \
                                  int64_t out_rs) {                                               \
        static const tile_fn full[4] = {name##_##RM##x1, name##_##RM##x2, name##_##RM##x3,        \
                                        name##_##RM##x4};                                         \
        static const tile_fn one[4] = {name##_1x1, name##_1x2, name##_1x3, name##_1x4};           \
        drive(full, one, RM, CM, k / (BLOCK), w, w_rs, nrows, y, y_rs, ntok, out, out_rs);       \
    }

GEMM_DEF(q4_0, 4, 2, QK_32)
GEMM_DEF(q4_1, 4, 2, QK_32)
GEMM_DEF(q5_0, 4, 2, QK_32)
/* Q8_0 batches: 4 x 4 (the weights need no unpacking, so more tokens per loaded row pay; pp512 1
 * thread 220-223 -> 239-240 t/s, 2 threads 428-438 -> 436-451, against 4 x 2, load ~2) */
GEMM_DEF(q8_0, 4, 4, QK_32)
GEMM_DEF(q4_K, 2, 4, QK_K)
GEMM_DEF(q6_K, 2, 4, QK_K)
