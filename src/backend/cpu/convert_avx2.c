/* AVX2-level dtype conversions (convert_simd.h): f32 <-> f16 by F16C, eight at a time. */
#include <immintrin.h>

#include "backend/cpu/convert_simd.h"
#include "backend/cpu/transpose_avx2.h"

int64_t cpu_f32_to_f16_avx2(const float *in, uint16_t *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
    return i;
}

int64_t cpu_f16_to_f32_avx2(const uint16_t *in, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    return i;
}

/* Eight values of src row r from element c, as f32 (kind: 32-bit copy, f16, bf16 or f32). */
static inline __attribute__((always_inline)) __m256 load8(const char *row, int64_t c,
                                                          cpu_transpose_kind kind) {
    if (kind == CPU_TRANSPOSE_F16_TO_F32)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + c)));
    if (kind == CPU_TRANSPOSE_BF16_TO_F32) /* the bf16 bits are the f32's top half */
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + c))),
            16));
    return _mm256_loadu_ps((const float *)row + c);
}

static inline __attribute__((always_inline)) void store8(char *row, int64_t r, __m256 v,
                                                         cpu_transpose_kind kind) {
    if (kind == CPU_TRANSPOSE_F32_TO_F16)
        _mm_storeu_si128((__m128i *)((uint16_t *)row + r),
                         _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    else
        _mm256_storeu_ps((float *)row + r, v);
}

/* One element: dst row c, element r = src row r, element c (F16C's conversions, as the vectors').
 */
static inline __attribute__((always_inline)) void move1(const char *src, int64_t src_rs, char *dst,
                                                        int64_t dst_rs, int64_t r, int64_t c,
                                                        cpu_transpose_kind kind) {
    const char *s = src + r * src_rs;
    char *d = dst + c * dst_rs;
    if (kind == CPU_TRANSPOSE_F16_TO_F32)
        ((float *)d)[r] = _cvtsh_ss(((const uint16_t *)s)[c]);
    else if (kind == CPU_TRANSPOSE_BF16_TO_F32)
        ((uint32_t *)d)[r] = (uint32_t)((const uint16_t *)s)[c] << 16;
    else if (kind == CPU_TRANSPOSE_F32_TO_F16)
        ((uint16_t *)d)[r] = _cvtss_sh(((const float *)s)[c], _MM_FROUND_TO_NEAREST_INT);
    else
        ((uint32_t *)d)[r] = ((const uint32_t *)s)[c];
}

static inline __attribute__((always_inline)) void transpose_kind(const char *src, int64_t src_rs,
                                                                 char *dst, int64_t dst_rs,
                                                                 int64_t rows, int64_t cols,
                                                                 cpu_transpose_kind kind) {
    int64_t r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) {
        int64_t c0 = 0;
        for (; c0 + 8 <= cols; c0 += 8) {
            __m256 v[8];
            for (int i = 0; i < 8; i++)
                v[i] = load8(src + (r0 + i) * src_rs, c0, kind);
            avx2_transpose8_ps(v);
            for (int i = 0; i < 8; i++)
                store8(dst + (c0 + i) * dst_rs, r0, v[i], kind);
        }
        for (; c0 < cols; c0++) /* the columns past the last 8 */
            for (int64_t r = r0; r < r0 + 8; r++)
                move1(src, src_rs, dst, dst_rs, r, c0, kind);
    }
    for (; r0 < rows; r0++) /* the rows past the last 8 */
        for (int64_t c = 0; c < cols; c++)
            move1(src, src_rs, dst, dst_rs, r0, c, kind);
}

/* Transposes the 8 x 8 block of 16-bit values in r[0..7] (row i in r[i]) in place: pairs of
 * rows interleaved by 16, 32 and then 64 bits. */
static inline void transpose8_epi16(__m128i r[8]) {
    __m128i b[8], c[8];
    for (int i = 0; i < 4; i++) {
        b[2 * i] = _mm_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
        b[2 * i + 1] = _mm_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) { /* rows 0-3, then rows 4-7 */
        c[4 * h] = _mm_unpacklo_epi32(b[4 * h], b[4 * h + 2]);
        c[4 * h + 1] = _mm_unpackhi_epi32(b[4 * h], b[4 * h + 2]);
        c[4 * h + 2] = _mm_unpacklo_epi32(b[4 * h + 1], b[4 * h + 3]);
        c[4 * h + 3] = _mm_unpackhi_epi32(b[4 * h + 1], b[4 * h + 3]);
    }
    for (int i = 0; i < 4; i++) {
        r[2 * i] = _mm_unpacklo_epi64(c[i], c[i + 4]);
        r[2 * i + 1] = _mm_unpackhi_epi64(c[i], c[i + 4]);
    }
}

/* The 16-bit copy of cpu_transpose_avx2: 8 x 8 blocks in SSE registers, the edges one by one. */
static void transpose16(const char *src, int64_t src_rs, char *dst, int64_t dst_rs, int64_t rows,
                        int64_t cols) {
    int64_t r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) {
        int64_t c0 = 0;
        for (; c0 + 8 <= cols; c0 += 8) {
            __m128i v[8];
            for (int i = 0; i < 8; i++)
                v[i] = _mm_loadu_si128(
                    (const __m128i *)((const uint16_t *)(src + (r0 + i) * src_rs) + c0));
            transpose8_epi16(v);
            for (int i = 0; i < 8; i++)
                _mm_storeu_si128((__m128i *)((uint16_t *)(dst + (c0 + i) * dst_rs) + r0), v[i]);
        }
        for (; c0 < cols; c0++)
            for (int64_t r = r0; r < r0 + 8; r++)
                ((uint16_t *)(dst + c0 * dst_rs))[r] = ((const uint16_t *)(src + r * src_rs))[c0];
    }
    for (; r0 < rows; r0++)
        for (int64_t c = 0; c < cols; c++)
            ((uint16_t *)(dst + c * dst_rs))[r0] = ((const uint16_t *)(src + r0 * src_rs))[c];
}

void cpu_transpose_avx2(const char *src, int64_t src_rs, char *dst, int64_t dst_rs, int64_t rows,
                        int64_t cols, cpu_transpose_kind kind) {
    switch (kind) {
    case CPU_TRANSPOSE_COPY16: transpose16(src, src_rs, dst, dst_rs, rows, cols); break;
    case CPU_TRANSPOSE_F16_TO_F32:
        transpose_kind(src, src_rs, dst, dst_rs, rows, cols, CPU_TRANSPOSE_F16_TO_F32);
        break;
    case CPU_TRANSPOSE_F32_TO_F16:
        transpose_kind(src, src_rs, dst, dst_rs, rows, cols, CPU_TRANSPOSE_F32_TO_F16);
        break;
    case CPU_TRANSPOSE_BF16_TO_F32:
        transpose_kind(src, src_rs, dst, dst_rs, rows, cols, CPU_TRANSPOSE_BF16_TO_F32);
        break;
    default: transpose_kind(src, src_rs, dst, dst_rs, rows, cols, CPU_TRANSPOSE_COPY32); break;
    }
}
