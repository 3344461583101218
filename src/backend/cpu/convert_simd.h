/* Internal: dtype conversions at the SIMD levels, for convert.c's contiguous runs and the kernels
 * that round their f32 results to bf16 as they store them (the AMX GEMM). */
#ifndef BORN_CPU_CONVERT_SIMD_H
#define BORN_CPU_CONVERT_SIMD_H

#include <stdbool.h>
#include <stdint.h>

/* dst[i] = the f32 value of the half (bf16 where bf16, else f16) at src + i step bytes, i < n:
 * born_bf16_to_f32 / born_f16_to_f32's values (a signalling f16 NaN may come out quiet), by the
 * widest SIMD the level has where the halves are contiguous. For the kernels that compute on
 * halves in f32 chunks (convert.c). */
void cpu_halves_to_f32(const char *src, int64_t step, bool bf16, float *dst, int64_t n);

/* The half (bf16 where bf16, else f16) of src[i] into dst + i step bytes, i < n, with
 * born_f32_to_bf16 / born_f32_to_f16's bits, by SIMD where contiguous (convert.c). */
void cpu_f32_to_halves(const float *src, char *dst, int64_t step, bool bf16, int64_t n);

#if defined(__x86_64__)
/* The first n rounded down to 8 of in converted into out (F16C, round to nearest even): the bits
 * of convert.c's portable path (f32 -> f16 as born_f32_to_f16; f16 -> f32 exact, a signalling NaN
 * quieted as its pass through double does). Return how many were converted. */
int64_t cpu_f32_to_f16_avx2(const float *in, uint16_t *out, int64_t n);
int64_t cpu_f16_to_f32_avx2(const uint16_t *in, float *out, int64_t n);

/* What cpu_transpose_avx2 moves: 32-bit or 16-bit elements as they are, f16 into f32 (exact,
 * signalling NaNs quieted) or f32 into f16 (to nearest even): F16C's conversions, convert.c's
 * bits; or bf16 into f32 (the bits widened, as born_bf16_to_f32). */
typedef enum cpu_transpose_kind {
    CPU_TRANSPOSE_COPY32,
    CPU_TRANSPOSE_COPY16,
    CPU_TRANSPOSE_F16_TO_F32,
    CPU_TRANSPOSE_F32_TO_F16,
    CPU_TRANSPOSE_BF16_TO_F32
} cpu_transpose_kind;

/* dst's row c, element r = src's row r, element c, converted as kind says (r < rows, c < cols;
 * rows src_rs and dst_rs bytes apart, each contiguous): a transposing copy, 8 x 8 blocks in AVX2
 * registers, the edges one by one. */
void cpu_transpose_avx2(const char *src, int64_t src_rs, char *dst, int64_t dst_rs, int64_t rows,
                        int64_t cols, cpu_transpose_kind kind);

/* out[i] = born_f32_to_bf16(in[i]) for i < n, bit for bit (round to nearest even, NaN kept quiet
 * with its sign and top payload bits), 16 at a time with AVX-512. */
void cpu_f32_to_bf16_avx512(const float *in, uint16_t *out, int64_t n);

/* out[i] = born_bf16_to_f32(in[i]) for i < n (a widening shift), 16 at a time with AVX-512. */
void cpu_bf16_to_f32_avx512(const uint16_t *in, float *out, int64_t n);
#endif

#endif
