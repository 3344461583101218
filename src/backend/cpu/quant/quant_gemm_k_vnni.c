/* AVX-512 VNNI tiles of the Q4_K product (see quant_gemm.h), chosen over the AVX2 tile where the
 * CPU has AVX-512 VNNI. As in quant_gemm_vnni.c a pair of tokens shares one 512-bit register
 * (token c in the low 256 bits, c + 1 in the high) and each output keeps, lane for lane, the
 * arithmetic of the AVX2 vec_dot (k_quants_avx2.c): per 32-element sub-block maddubs of the
 * nibbles and the activations, then vpdpwssd adds the int16 pair sums times the sub-block's scale
 * into the int32 sums -- madd and add in one, the same exact int32 lanes -- then per block the
 * fused multiply-add by d_y d_w (a rounded f32 product, as vec_dot's) and the mins' 4-lane
 * accumulator, reduced at the end as vec_dot reduces them. A token left over when a product has
 * an odd count goes through the AVX2 tile (same bits). */
#include <immintrin.h>

#include "backend/cpu/quant/k_quants_avx2.h"
#include "backend/cpu/quant/quant_gemm.h"
#include "backend/cpu/quant/quant_vnni.h"

#define QK_INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

enum { KR = 2, KP = 4 }; /* tiles of 2 rows x 4 token pairs */

/* 8 f32 lanes of a, then 8 of b. */
QK_INLINE __m512 halves(float a, float b) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(a)), _mm256_set1_ps(b), 1);
}

QK_INLINE void tile_q4_K_vnni(const int R, const int P, int64_t nb, const char *w, size_t w_rs,
                              const char *y, size_t y_rs, float *out, int64_t out_rs) {
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m512 acc[KR][KP];
    __m256 accm[KR][KP]; /* the mins: 4 lanes of token 2p, then 4 of 2p + 1 */
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int p = 0; p < P; p++) {
        acc[r][p] = _mm512_setzero_ps();
        accm[r][p] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++) {
        const block_q4_K *x[KR];
        const block_q8_K *yy[2 * KP];
        uint8_t smb[KR][16] __attribute__((aligned(16))); /* scales in 0..7, mins in 8..15 */
        __m512i isum[KR][KP];
        UNROLL for (int r = 0; r < R; r++) {
            x[r] = (const block_q4_K *)(w + (size_t)r * w_rs) + i;
            _mm_store_si128((__m128i *)smb[r], k4_scales_mins(x[r]->scales));
        }
        UNROLL for (int c = 0; c < 2 * P; c++) yy[c] =
            (const block_q8_K *)(y + (size_t)c * y_rs) + i;
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int p = 0; p < P; p++) isum[r][p] =
            _mm512_setzero_si512();
        UNROLL for (int s = 0; s < 8; s++) {
            /* sub-block s: the low nibbles of bytes 32 (s / 2).. for even s, the high for odd */
            __m512i q[KR];
            UNROLL for (int r = 0; r < R; r++) {
                const __m512i b = _mm512_broadcast_i64x4(qa_load(x[r]->qs + 32 * (s >> 1)));
                q[r] = _mm512_and_si512(s & 1 ? _mm512_srli_epi16(b, 4) : b, m4);
            }
            UNROLL for (int p = 0; p < P; p++) {
                const __m512i yv = qv_load_pair(yy[2 * p]->qs + 32 * s, yy[2 * p + 1]->qs + 32 * s);
                UNROLL for (int r = 0; r < R; r++) isum[r][p] = _mm512_dpwssd_epi32(
                    isum[r][p], _mm512_maddubs_epi16(q[r], yv), _mm512_set1_epi16(smb[r][s]));
            }
        }
        UNROLL for (int p = 0; p < P; p++) {
            const block_q8_K *y0 = yy[2 * p], *y1 = yy[2 * p + 1];
            const float dy0 = quant_q8k_d(y0), dy1 = quant_q8k_d(y1);
            /* sum_j m_j * (bsums_2j + bsums_2j+1), both tokens: |sum of 32| <= 4064 */
            const __m128i pr0 = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y0->bsums),
                                               _mm_loadu_si128((const __m128i *)(y0->bsums + 8)));
            const __m128i pr1 = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y1->bsums),
                                               _mm_loadu_si128((const __m128i *)(y1->bsums + 8)));
            const __m256i pairs = _mm256_inserti128_si256(_mm256_castsi128_si256(pr0), pr1, 1);
            UNROLL for (int r = 0; r < R; r++) {
                const float d = qa_f16(x[r]->d), dmin = qa_f16(x[r]->dmin);
                const __m128i mins =
                    _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(smb[r] + 8)));
                const __m256 md = _mm256_insertf128_ps(
                    _mm256_castps128_ps256(_mm_set1_ps(dy0 * dmin)), _mm_set1_ps(dy1 * dmin), 1);
                accm[r][p] = _mm256_fmadd_ps(
                    md,
                    _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_broadcastsi128_si256(mins), pairs)),
                    accm[r][p]);
                acc[r][p] = _mm512_fmadd_ps(halves(dy0 * d, dy1 * d),
                                            _mm512_cvtepi32_ps(isum[r][p]), acc[r][p]);
            }
        }
    }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int p = 0; p < P; p++)
        UNROLL for (int t = 0; t < 2; t++) {
        const __m256 a =
            t ? _mm512_extractf32x8_ps(acc[r][p], 1) : _mm512_castps512_ps256(acc[r][p]);
        const __m128 m =
            t ? _mm256_extractf128_ps(accm[r][p], 1) : _mm256_castps256_ps128(accm[r][p]);
        __m128 v = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        v = _mm_sub_ps(v, m);
        v = _mm_add_ps(v, _mm_movehl_ps(v, v));
        v = _mm_add_ss(v, _mm_movehdup_ps(v));
        out[(2 * p + t) * out_rs + r] = _mm_cvtss_f32(v);
    }
}

typedef void (*ktile_fn)(int64_t nb, const char *w, size_t w_rs, const char *y, size_t y_rs,
                         float *out, int64_t out_rs);

#define KTILE(R, P)                                                                                \
    static void q4_K_##R##x##P(int64_t nb, const char *w, size_t w_rs, const char *y, size_t y_rs, \
                               float *out, int64_t out_rs) {                                       \
        tile_q4_K_vnni(R, P, nb, w, w_rs, y, y_rs, out, out_rs);                                   \
    }
KTILE(2, 1)
KTILE(2, 2)
KTILE(2, 3)
KTILE(2, 4)
KTILE(1, 1)
KTILE(1, 2)
KTILE(1, 3)
KTILE(1, 4)

/* rows[whole][q - 1]: 1 or KR rows x q pairs. */
static const ktile_fn k_tiles[2][KP] = {{q4_K_1x1, q4_K_1x2, q4_K_1x3, q4_K_1x4},
                                        {q4_K_2x1, q4_K_2x2, q4_K_2x3, q4_K_2x4}};

void quant_gemm_q4_K_vnni(int64_t k, const void *w, size_t w_rs, int64_t nrows, const void *y,
                          size_t y_rs, int64_t ntok, float *out, int64_t out_rs) {
    const int64_t even = ntok & ~(int64_t)1, npairs = even / 2, nb = k / QK_K;
    for (int64_t p = 0; p < npairs; p += KP) {
        const int64_t q = npairs - p < KP ? npairs - p : KP;
        const char *yg = (const char *)y + (size_t)(2 * p) * y_rs;
        for (int64_t r = 0; r < nrows;) {
            const int whole = nrows - r >= KR;
            k_tiles[whole][q - 1](nb, (const char *)w + (size_t)r * w_rs, w_rs, yg, y_rs,
                                  out + 2 * p * out_rs + r, out_rs);
            r += whole ? KR : 1;
        }
    }
    if (even < ntok)
        quant_gemm_q4_K_avx2(k, w, w_rs, nrows, (const char *)y + (size_t)even * y_rs, y_rs, 1,
                             out + even * out_rs, out_rs);
}
