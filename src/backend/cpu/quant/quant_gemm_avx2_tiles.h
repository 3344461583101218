/* Internal: what the AVX2 tile files of the quantized products share (quant_gemm_avx2.c for the
 * 32-element types, quant_gemm_k_avx2.c for the K-quants; *_avx2.c files only): the driver that
 * runs a product as tiles of R weight rows x C tokens, the one-token prefetch, and the macros
 * that instantiate a type's tiles and its quant_gemm_<type>_avx2 entry point. */
#ifndef BORN_CPU_QUANT_GEMM_AVX2_TILES_H
#define BORN_CPU_QUANT_GEMM_AVX2_TILES_H

#include "backend/cpu/quant/quant_avx2.h"
#include "backend/cpu/quant/quant_gemm.h"

#define QG_INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

typedef void (*tile_fn)(int64_t nb, const char *w, size_t w_rs, const char *y, size_t y_rs,
                        float *out, int64_t out_rs);

/* Runs tiles of rm rows x up to cm tokens over the product, rows left over one at a time:
 * full[c - 1] is the rm x c tile, one[c - 1] the 1 x c tile. */
static inline void drive(const tile_fn *full, const tile_fn *one, int rm, int cm, int64_t nb,
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

#endif
