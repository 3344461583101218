/* AVX-512 BF16 pieces of the bf16 GEMM (gemm_bf16.h): the 12 x 32 tile on vdpbf16ps and the
 * packing of B's pairs. Compiled with -mavx512f/bw/dq/vl and called only where the CPU has
 * AVX512_BF16 (the tile is assembly, so no compiler flag is needed for the instruction).
 *
 * Packed formats (gemm_bf16.c): a k pair is two bf16 of consecutive k in one 32-bit word, the
 * lower k in the low half. The A tile panel holds, for each pair p, the 12 rows' words
 * (48 bytes a step); the B pair panel holds, for each pair, the 32 columns' words (two zmm, 128
 * bytes a step). vdpbf16ps adds both products of a pair to an f32 accumulator, rounding to
 * nearest even with denormal inputs and results flushed to zero, as the instruction defines. */
#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/cpu/gemm_bf16.h"
#include "backend/cpu/transpose_avx512.h"

/* The k loop: zmm0 and zmm1 take B's 32 words of a pair, zmm2..zmm7 the broadcast words of A's
 * rows (six at a time), zmm8..zmm31 the accumulators: row r, B half h in zmm(8 + 2 r + h). */
/* clang-format off */
#define BF_ROW(r, X, c0, c1)                                                                       \
    "vpbroadcastd " #r "*4(%[a]), %%zmm" #X "\n\t"                                                 \
    "vdpbf16ps %%zmm0, %%zmm" #X ", %%zmm" #c0 "\n\t"                                             \
    "vdpbf16ps %%zmm1, %%zmm" #X ", %%zmm" #c1 "\n\t"
#define BF_STEP                                                                                    \
    "vmovdqu32 (%[b]), %%zmm0\n\t" "vmovdqu32 64(%[b]), %%zmm1\n\t"                                \
    BF_ROW(0, 2, 8, 9) BF_ROW(1, 3, 10, 11) BF_ROW(2, 4, 12, 13) BF_ROW(3, 5, 14, 15)              \
    BF_ROW(4, 6, 16, 17) BF_ROW(5, 7, 18, 19) BF_ROW(6, 2, 20, 21) BF_ROW(7, 3, 22, 23)            \
    BF_ROW(8, 4, 24, 25) BF_ROW(9, 5, 26, 27) BF_ROW(10, 6, 28, 29) BF_ROW(11, 7, 30, 31)          \
    "add $128, %[b]\n\t" "add $48, %[a]\n\t"
#define BF_ZERO2(c0, c1) "vpxord %%zmm" #c0 ", %%zmm" #c0 ", %%zmm" #c0 "\n\t"                     \
    "vpxord %%zmm" #c1 ", %%zmm" #c1 ", %%zmm" #c1 "\n\t"
#define BF_ROWS(F)                                                                                 \
    F(8, 9) F(10, 11) F(12, 13) F(14, 15) F(16, 17) F(18, 19) F(20, 21) F(22, 23) F(24, 25)        \
    F(26, 27) F(28, 29) F(30, 31)
/* one row of C: stored, or added to (c + acc, one rounding) */
#define BF_PUT(c0, c1)                                                                             \
    "vmovups %%zmm" #c0 ", (%[c])\n\t" "vmovups %%zmm" #c1 ", 64(%[c])\n\t" "add %[crs], %[c]\n\t"
#define BF_ADD(c0, c1)                                                                             \
    "vaddps (%[c]), %%zmm" #c0 ", %%zmm" #c0 "\n\t" "vaddps 64(%[c]), %%zmm" #c1 ", %%zmm" #c1 "\n\t" \
    BF_PUT(c0, c1)
#define BF_LOOP(OUT)                                                                               \
    __asm__ volatile(                                                                              \
        BF_ROWS(BF_ZERO2)                                                                          \
        "test %[k4], %[k4]\n\t"                                                                    \
        "jz 2f\n\t"                                                                                \
        ".p2align 5\n"                                                                             \
        "1:\n\t"                                                                                   \
        BF_STEP BF_STEP BF_STEP BF_STEP                                                            \
        "dec %[k4]\n\t"                                                                            \
        "jnz 1b\n"                                                                                 \
        "2:\n\t"                                                                                   \
        "test %[kr], %[kr]\n\t"                                                                    \
        "jz 4f\n"                                                                                  \
        "3:\n\t"                                                                                   \
        BF_STEP                                                                                    \
        "dec %[kr]\n\t"                                                                            \
        "jnz 3b\n"                                                                                 \
        "4:\n\t"                                                                                   \
        BF_ROWS(OUT)                                                                               \
        : [a] "+r"(a), [b] "+r"(b), [k4] "+r"(k4), [kr] "+r"(kr), [c] "+r"(c)                      \
        : [crs] "r"(crs)                                                                           \
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", \
          "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19",         \
          "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",         \
          "xmm29", "xmm30", "xmm31", "cc", "memory")
/* clang-format on */

void cpu_gemm_bf16_tile_avx512(int64_t pairs, const uint32_t *a, const uint32_t *b, float *c,
                               int64_t c_rs, bool add) {
    int64_t k4 = pairs / 4, kr = pairs % 4, crs = c_rs * (int64_t)sizeof(float);
    if (add)
        BF_LOOP(BF_ADD);
    else
        BF_LOOP(BF_PUT);
}

void cpu_gemm_bf16_pack_b_rows_avx512(int64_t pairs, int64_t k, int64_t cols, const uint16_t *b,
                                      int64_t b_rs, uint32_t *out, int64_t out_stride) {
    /* word w of the first (second) half: value w / 2 (16 + w / 2) of row 2p + w % 2 */
    _Alignas(64) static const uint16_t first[32] = {
        0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
        8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
    __m512i lo_idx = _mm512_load_si512(first);
    __m512i hi_idx = _mm512_add_epi16(lo_idx, _mm512_set1_epi16(16));
    int64_t panels = (cols + 31) / 32;
    for (int64_t p = 0; p < pairs; p++) {
        const uint16_t *r0 = b + 2 * p * b_rs, *r1 = r0 + b_rs;
        bool second = 2 * p + 1 < k;
        for (int64_t t = 0; t < panels; t++) {
            int64_t left = cols - 32 * t;
            __mmask32 m = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1u);
            __m512i x0 = _mm512_maskz_loadu_epi16(m, r0 + 32 * t);
            __m512i x1 = second ? _mm512_maskz_loadu_epi16(m, r1 + 32 * t) : _mm512_setzero_si512();
            uint32_t *o = out + t * out_stride + 32 * p;
            _mm512_store_si512(o, _mm512_permutex2var_epi16(x0, lo_idx, x1));
            _mm512_store_si512(o + 16, _mm512_permutex2var_epi16(x0, hi_idx, x1));
        }
    }
}

/* The dot-product form: R (1..8) rows of A by 3 rows of W (B's columns, contiguous along k), 3 R
 * sums of 16 lanes each over k in chunks of 32 (the last chunk masked, its missing values 0),
 * each sum's lanes then added by _mm512_reduce_add_ps; the W rows are prefetched 2 KB ahead (the
 * hardware prefetcher stops at each 4 KB page). `cols` (<= 3) columns are real, the others repeat
 * the first and are not stored. R is a constant at each call, so each row count has its own loop
 * (one row does not run eight rows' products). */
__attribute__((target("avx512bf16"), always_inline)) static inline void
dot_tile(int64_t k, const uint16_t *const x[8], const uint16_t *const w[3], const int R, int cols,
         float *c, int64_t c_rs) {
    __m512 acc[8][3];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < 3; q++) acc[r][q] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 32 <= k; p += 32) {
        for (int q = 0; q < 3; q++) _mm_prefetch((const char *)(w[q] + p) + 2048, _MM_HINT_T0);
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(w[0] + p);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(w[1] + p);
        __m512bh w2 = (__m512bh)_mm512_loadu_si512(w[2] + p);
        for (int r = 0; r < R; r++) {
            __m512bh xr = (__m512bh)_mm512_loadu_si512(x[r] + p);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], xr, w0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], xr, w1);
            acc[r][2] = _mm512_dpbf16_ps(acc[r][2], xr, w2);
        }
    }
    if (p < k) {
        __mmask32 m = (__mmask32)((1ull << (k - p)) - 1u);
        __m512bh w0 = (__m512bh)_mm512_maskz_loadu_epi16(m, w[0] + p);
        __m512bh w1 = (__m512bh)_mm512_maskz_loadu_epi16(m, w[1] + p);
        __m512bh w2 = (__m512bh)_mm512_maskz_loadu_epi16(m, w[2] + p);
        for (int r = 0; r < R; r++) {
            __m512bh xr = (__m512bh)_mm512_maskz_loadu_epi16(m, x[r] + p);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], xr, w0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], xr, w1);
            acc[r][2] = _mm512_dpbf16_ps(acc[r][2], xr, w2);
        }
    }
    for (int r = 0; r < R; r++)
        for (int q = 0; q < cols; q++) c[r * c_rs + q] = _mm512_reduce_add_ps(acc[r][q]);
}

/* dot_tile with R = rows, one specialized loop per count. */
__attribute__((target("avx512bf16"))) static void dot_rows(int64_t k, const uint16_t *const x[8],
                                                           const uint16_t *const w[3], int rows,
                                                           int cols, float *c, int64_t c_rs) {
    switch (rows) {
    case 1: dot_tile(k, x, w, 1, cols, c, c_rs); break;
    case 2: dot_tile(k, x, w, 2, cols, c, c_rs); break;
    case 3: dot_tile(k, x, w, 3, cols, c, c_rs); break;
    case 4: dot_tile(k, x, w, 4, cols, c, c_rs); break;
    case 5: dot_tile(k, x, w, 5, cols, c, c_rs); break;
    case 6: dot_tile(k, x, w, 6, cols, c, c_rs); break;
    case 7: dot_tile(k, x, w, 7, cols, c, c_rs); break;
    default: dot_tile(k, x, w, 8, cols, c, c_rs); break;
    }
}

void cpu_gemm_bf16_dot_avx512(int64_t rows, int64_t cols, int64_t k, const uint16_t *a,
                              int64_t a_rs, const uint16_t *w, int64_t w_rs, float *c,
                              int64_t c_rs) {
    for (int64_t i0 = 0; i0 < rows; i0 += 8) {
        int rn = rows - i0 < 8 ? (int)(rows - i0) : 8;
        const uint16_t *x[8];
        for (int r = 0; r < 8; r++) x[r] = a + (i0 + (r < rn ? r : 0)) * a_rs;
        for (int64_t j0 = 0; j0 < cols; j0 += 3) {
            int cn = cols - j0 < 3 ? (int)(cols - j0) : 3;
            const uint16_t *wr[3];
            for (int q = 0; q < 3; q++) wr[q] = w + (j0 + (q < cn ? q : 0)) * w_rs;
            dot_rows(k, x, wr, rn, cn, c + i0 * c_rs + j0, c_rs);
        }
    }
}

void cpu_gemm_bf16_pack_b_wrows_avx512(int64_t pairs, const uint16_t *w, int64_t w_rs,
                                       uint32_t *out) {
    for (int64_t p = 0; p < pairs; p += 16)
        for (int h = 0; h < 2; h++) {
            __m512i r[16];
            for (int i = 0; i < 16; i++)
                r[i] = _mm512_loadu_si512(w + (16 * h + i) * w_rs + 2 * p);
            avx512_transpose16_epi32(r);
            for (int i = 0; i < 16; i++) _mm512_store_si512(out + (p + i) * 32 + 16 * h, r[i]);
        }
}

void cpu_gemm_bf16_pack_a_rows_avx512(int64_t pairs, const uint16_t *a, int64_t a_rs,
                                      uint32_t *out) {
    for (int64_t p = 0; p < pairs; p += 16) {
        __m512i r[16];
        for (int i = 0; i < 12; i++) r[i] = _mm512_loadu_si512(a + i * a_rs + 2 * p);
        for (int i = 12; i < 16; i++) r[i] = _mm512_setzero_si512();
        avx512_transpose16_epi32(r);
        for (int i = 0; i < 16; i++) _mm512_mask_storeu_epi32(out + (p + i) * 12, 0x0fff, r[i]);
    }
}

void cpu_gemm_bf16_pack_kmajor_avx512(const uint16_t *src, int64_t ks, uint16_t *out) {
    for (int h = 0; h < 2; h++) {
        __m512i r[16];
        for (int p = 0; p < 16; p++) {
            const uint16_t *row = src + 2 * p * ks + 16 * h;
            __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)row));
            __m512i hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(row + ks)));
            r[p] = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
        }
        avx512_transpose16_epi32(r);
        for (int i = 0; i < 16; i++) _mm512_storeu_si512(out + (16 * h + i) * 32, r[i]);
    }
}
