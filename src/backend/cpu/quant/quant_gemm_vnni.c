/* AVX-512 VNNI tiles of the quantized products for Q4_0, Q4_1, Q5_0 and Q8_0 (see
 * quant_gemm.h), chosen over the AVX2 ones where the CPU has AVX-512 VNNI.
 *
 * A tile is R weight rows x P pairs of tokens. A pair's two activation blocks (Q8_0, or Q8_1 for
 * Q4_1) share one 512-bit register (token c in the low 256 bits, c + 1 in the high), and a weight
 * block's 32 levels fill both halves, so one vpdpbusd makes both tokens' block products: each
 * int32 lane is the sum of four adjacent byte products, the lanes of the AVX2 path's maddubs +
 * madd. The weights go in as unsigned bytes u = level + K (K = 8, 16, 128 for Q4_0, Q5_0, Q8_0;
 * Q4_1's levels are unsigned already, K = 0) and the accumulator starts at -K times the sum of
 * the four activation bytes, so each lane is exactly the dot of the AVX2 path (which never
 * saturates there). The scale d_w d_y (exact in f32) and the fused multiply-add into one f32
 * accumulator per output, block by block in order, are the AVX2 vec_dot's lane by lane, Q4_1's min
 * term is its fused sum too (see tile_vnni), and each half is reduced as vec_dot reduces its
 * register: so every output has the bits of vec_dot, as the AVX2 tiles do. A token left over when
 * a product has an odd count goes through the AVX2 tiles (same bits). */
#include <immintrin.h>

#include "backend/cpu/quant/quant_gemm.h"
#include "backend/cpu/quant/quant_vnni.h"

#define QV_INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

enum { V_Q4_0, V_Q5_0, V_Q8_0, V_Q4_1 };

static const size_t vblock[] = {sizeof(block_q4_0), sizeof(block_q5_0), sizeof(block_q8_0),
                                sizeof(block_q4_1)};
static const char vbias[] = {8, 16, (char)128, 0};

/* The 16 bytes at p in each 128-bit lane, the odd lanes shifted right by 4, masked to nibbles:
 * qa_nibbles' 32 levels in both 256-bit halves. */
QV_INLINE __m512i nibbles2(const uint8_t *p) {
    __m512i b = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
    b = _mm512_srlv_epi64(b, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0));
    return _mm512_and_si512(b, _mm512_set1_epi8(0x0F));
}

/* The block's 32 levels plus K, as unsigned bytes in both halves. */
QV_INLINE __m512i unsigned_levels(const int type, const char *blk) {
    if (type == V_Q8_0) {
        const __m512i q = _mm512_broadcast_i64x4(qa_load(((const block_q8_0 *)blk)->qs));
        return _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80));
    }
    if (type == V_Q4_0) return nibbles2(((const block_q4_0 *)blk)->qs);
    if (type == V_Q4_1) return nibbles2(((const block_q4_1 *)blk)->qs);
    const block_q5_0 *x = (const block_q5_0 *)blk;
    uint32_t h;
    memcpy(&h, x->qh, 4);
    const __mmask64 hi = _cvtu64_mask64((uint64_t)h | (uint64_t)h << 32);
    const __m512i n = nibbles2(x->qs);
    return _mm512_mask_add_epi8(n, hi, n, _mm512_set1_epi8(0x10));
}

enum {
    VR = 4, /* rows of a tile */
    VP = 4, /* token pairs of a tile: 4 x 4 accumulators of the 32 registers */
    /* products with at most this many blocks a row (k <= 3072) make each group of VP pairs once
     * (on the stack, 96 KiB) for all the row tiles, instead of once a tile */
    PACK_BLOCKS = 96
};

/* A pair of tokens' block as the tiles use it: both activation blocks, -K times their sums of
 * four (zero for Q4_1), d_y of each token over its half, and for Q4_1 (Q8_1 activations) the
 * tokens' f16 s as (s_0, s_1) four times, the lanes of the rows' min terms (see the tile). */
typedef struct vpair {
    __m512i y, bias;
    __m512 dy;
    __m256 sy;
} vpair;

/* Activations of the type's vec_dot: Q8_1 (d, s, qs) for Q4_1, else Q8_0 (d, qs). */
QV_INLINE size_t act_block(const int type) {
    return type == V_Q4_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
}

/* The pair from two tokens' blocks (byte pointers to them). */
QV_INLINE vpair make_pair(const int type, const char *y0, const char *y1) {
    vpair v;
    const size_t qs = type == V_Q4_1 ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs);
    v.y = qv_load_pair((const int8_t *)(y0 + qs), (const int8_t *)(y1 + qs));
    v.bias = _mm512_sub_epi32(
        _mm512_setzero_si512(),
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(vbias[type]), v.y));
    /* both f16 scales in one conversion, spread to the halves by one permute (d leads both
     * block types, s follows it in Q8_1) */
    uint16_t d0, d1;
    memcpy(&d0, y0, 2);
    memcpy(&d1, y1, 2);
    const uint32_t two = (uint32_t)d0 | (uint32_t)d1 << 16;
    v.dy = _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                 _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)two))));
    v.sy = _mm256_setzero_ps();
    if (type == V_Q4_1) {
        uint16_t s0, s1;
        memcpy(&s0, y0 + 2, 2);
        memcpy(&s1, y1 + 2, 2);
        const __m128 s = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)s0 | (uint32_t)s1 << 16)));
        v.sy = _mm256_permutexvar_ps(_mm256_setr_epi32(0, 1, 0, 1, 0, 1, 0, 1),
                                     _mm256_castps128_ps256(s));
    }
    return v;
}

/* R rows x P token pairs. The pairs come made (pk[b * VP + p], see pack_pairs) or, where pk is
 * NULL, are made here from the tokens' blocks each step. Q4_1's min term, vec_dot's fused
 * fmaf(m_w, s_y, sum) block by block, is kept for the R rows and a pair's two tokens in one
 * 8-lane register, lane 2 r + t, by one fused multiply-add of (m_w of row r) and (s_y of token
 * t) a pair and block: lane for lane vec_dot's operation. */
QV_INLINE void tile_vnni(const int type, const int R, const int P, int64_t nb, const char *w,
                         size_t w_rs, const char *y, size_t y_rs, const vpair *pk, float *out,
                         int64_t out_rs) {
    const size_t wb = vblock[type], yb = act_block(type);
    __m512 acc[4][4];
    __m256 sm[4];
    UNROLL for (int p = 0; p < P; p++) {
        sm[p] = _mm256_setzero_ps();
        UNROLL for (int r = 0; r < R; r++) acc[r][p] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        vpair yp[4];
        UNROLL for (int p = 0; p < P; p++) {
            if (pk) {
                yp[p] = pk[b * VP + p];
            } else {
                yp[p] = make_pair(type, y + (size_t)(2 * p) * y_rs + (size_t)b * yb,
                                  y + (size_t)(2 * p + 1) * y_rs + (size_t)b * yb);
            }
        }
        /* the rows' f16 scales (d leads every block) in one conversion; Q4_1's m after it */
        float dw[4] __attribute__((aligned(16)));
        uint16_t hw[4] = {0, 0, 0, 0}, hm[4] = {0, 0, 0, 0};
        UNROLL for (int r = 0; r < R; r++) {
            memcpy(&hw[r], w + (size_t)r * w_rs + (size_t)b * wb, 2);
            if (type == V_Q4_1) memcpy(&hm[r], w + (size_t)r * w_rs + (size_t)b * wb + 2, 2);
        }
        uint64_t packed;
        memcpy(&packed, hw, sizeof packed);
        _mm_store_ps(dw, _mm_cvtph_ps(_mm_cvtsi64_si128((long long)packed)));
        if (type == V_Q4_1) {
            memcpy(&packed, hm, sizeof packed);
            const __m128 m4 = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)packed));
            const __m256 mw = _mm256_permutexvar_ps(_mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3),
                                                    _mm256_castps128_ps256(m4));
            UNROLL for (int p = 0; p < P; p++) sm[p] = _mm256_fmadd_ps(mw, yp[p].sy, sm[p]);
        }
        UNROLL for (int r = 0; r < R; r++) {
            const __m512i u = unsigned_levels(type, w + (size_t)r * w_rs + (size_t)b * wb);
            const __m512 d = _mm512_set1_ps(dw[r]);
            UNROLL for (int p = 0; p < P; p++) {
                const __m512i s = _mm512_dpbusd_epi32(yp[p].bias, u, yp[p].y);
                acc[r][p] =
                    _mm512_fmadd_ps(_mm512_mul_ps(d, yp[p].dy), _mm512_cvtepi32_ps(s), acc[r][p]);
            }
        }
    }
    UNROLL for (int p = 0; p < P; p++) {
        float m[8] __attribute__((aligned(32)));
        _mm256_store_ps(m, sm[p]);
        UNROLL for (int r = 0; r < R; r++) {
            float lo = qa_hsum_ps(_mm512_castps512_ps256(acc[r][p])),
                  hi = qa_hsum_ps(_mm512_extractf32x8_ps(acc[r][p], 1));
            if (type == V_Q4_1) {
                lo += m[2 * r];
                hi += m[2 * r + 1];
            }
            out[(2 * p) * out_rs + r] = lo;
            out[(2 * p + 1) * out_rs + r] = hi;
        }
    }
}

/* ---- instances and driver ----------------------------------------------------------------------
 */

typedef void (*vtile_fn)(int64_t nb, const char *w, size_t w_rs, const char *y, size_t y_rs,
                         const vpair *pk, float *out, int64_t out_rs);

#define VTILE(name, type, R, P)                                                                    \
    static void name##_##R##x##P(int64_t nb, const char *w, size_t w_rs, const char *y,            \
                                 size_t y_rs, const vpair *pk, float *out, int64_t out_rs) {       \
        tile_vnni(type, R, P, nb, w, w_rs, y, y_rs, pk, out, out_rs);                              \
    }

/* pk[b * VP + p] for the group's q pairs from y (token 2p and 2p + 1), every block. */
static void pack_pairs(const int type, int64_t nb, const char *y, size_t y_rs, int64_t q,
                       vpair *pk) {
    const size_t yb = act_block(type);
    for (int64_t p = 0; p < q; p++) {
        const char *y0 = y + (size_t)(2 * p) * y_rs, *y1 = y + (size_t)(2 * p + 1) * y_rs;
        for (int64_t b = 0; b < nb; b++)
            pk[b * VP + p] = make_pair(type, y0 + (size_t)b * yb, y1 + (size_t)b * yb);
    }
}

/* A type's tiles: rows[0][q - 1] is 1 row x q pairs, rows[1][q - 1] VR rows x q pairs. */
typedef struct vtiles {
    vtile_fn rows[2][VP];
} vtiles;

/* The groups' row tiles: VR rows at a time, then single rows. */
static void run_rows(const vtiles *t, int64_t q, int64_t nb, const char *w, size_t w_rs,
                     int64_t nrows, const char *yg, size_t y_rs, const vpair *made, float *o,
                     int64_t out_rs) {
    for (int64_t r = 0; r < nrows;) {
        const int whole = nrows - r >= VR;
        t->rows[whole][q - 1](nb, w + (size_t)r * w_rs, w_rs, yg, y_rs, made, o + r, out_rs);
        r += whole ? VR : 1;
    }
}

/* Groups of up to VP token pairs (an even number of tokens) against all rows, each group made
 * once on the stack (nb <= PACK_BLOCKS; not inlined, so that only calls that take this path
 * open its frame). */
__attribute__((noinline)) static void vdrive_packed(const int type, const vtiles *t, int64_t nb,
                                                    const char *w, size_t w_rs, int64_t nrows,
                                                    const char *y, size_t y_rs, int64_t npairs,
                                                    float *out, int64_t out_rs) {
    vpair pk[PACK_BLOCKS * VP];
    for (int64_t p = 0; p < npairs; p += VP) {
        const int64_t q = npairs - p < VP ? npairs - p : VP;
        const char *yg = y + (size_t)(2 * p) * y_rs;
        pack_pairs(type, nb, yg, y_rs, q, pk);
        run_rows(t, q, nb, w, w_rs, nrows, yg, y_rs, pk, out + 2 * p * out_rs, out_rs);
    }
}

/* As vdrive_packed for any nb, each tile making its pairs as it goes. */
static void vdrive(const int type, const vtiles *t, int64_t nb, const char *w, size_t w_rs,
                   int64_t nrows, const char *y, size_t y_rs, int64_t npairs, float *out,
                   int64_t out_rs) {
    if (nb <= PACK_BLOCKS) {
        vdrive_packed(type, t, nb, w, w_rs, nrows, y, y_rs, npairs, out, out_rs);
        return;
    }
    for (int64_t p = 0; p < npairs; p += VP) {
        const int64_t q = npairs - p < VP ? npairs - p : VP;
        run_rows(t, q, nb, w, w_rs, nrows, y + (size_t)(2 * p) * y_rs, y_rs, NULL,
                 out + 2 * p * out_rs, out_rs);
    }
}

#define VGEMM_DEF(name, type)                                                                      \
    VTILE(name, type, 4, 1)                                                                        \
    VTILE(name, type, 4, 2)                                                                        \
    VTILE(name, type, 4, 3)                                                                        \
    VTILE(name, type, 4, 4)                                                                        \
    VTILE(name, type, 1, 1)                                                                        \
    VTILE(name, type, 1, 2)                                                                        \
    VTILE(name, type, 1, 3)                                                                        \
    VTILE(name, type, 1, 4)                                                                        \
    void quant_gemm_##name##_vnni(int64_t k, const void *w, size_t w_rs, int64_t nrows,            \
                                  const void *y, size_t y_rs, int64_t ntok, float *out,            \
                                  int64_t out_rs) {                                                \
        static const vtiles tiles = {{{name##_1x1, name##_1x2, name##_1x3, name##_1x4},            \
                                      {name##_4x1, name##_4x2, name##_4x3, name##_4x4}}};          \
        const int64_t even = ntok & ~(int64_t)1;                                                   \
        if (even > 0)                                                                              \
            vdrive(type, &tiles, k / QK_32, w, w_rs, nrows, y, y_rs, even / 2, out, out_rs);       \
        if (even < ntok)                                                                           \
            quant_gemm_##name##_avx2(k, w, w_rs, nrows, (const char *)y + (size_t)even * y_rs,     \
                                     y_rs, 1, out + even * out_rs, out_rs);                        \
    }

VGEMM_DEF(q4_0, V_Q4_0)
VGEMM_DEF(q5_0, V_Q5_0)
VGEMM_DEF(q8_0, V_Q8_0)
VGEMM_DEF(q4_1, V_Q4_1)
