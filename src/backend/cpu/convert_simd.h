/* Internal: dtype conversions at the SIMD levels, for convert.c's contiguous runs and the kernels
 * that round their f32 results to bf16 as they store them (the AMX GEMM). */
#ifndef BORN_CPU_CONVERT_SIMD_H
#define BORN_CPU_CONVERT_SIMD_H

#include <stdint.h>

#if defined(__x86_64__)
/* The first n rounded down to 8 of in converted into out (F16C, round to nearest even): the bits
 * of convert.c's portable path (f32 -> f16 as born_f32_to_f16; f16 -> f32 exact, a signalling NaN
 * quieted as its pass through double does). Return how many were converted. */
int64_t cpu_f32_to_f16_avx2(const float *in, uint16_t *out, int64_t n);
int64_t cpu_f16_to_f32_avx2(const uint16_t *in, float *out, int64_t n);

/* out[i] = born_f32_to_bf16(in[i]) for i < n, bit for bit (round to nearest even, NaN kept quiet
 * with its sign and top payload bits), 16 at a time with AVX-512. */
void cpu_f32_to_bf16_avx512(const float *in, uint16_t *out, int64_t n);
#endif

#endif
