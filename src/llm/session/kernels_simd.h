/* Internal: AVX2 (+ FMA, F16C) helpers of the engine's kernels (kernels_avx2.c), chosen at run
 * time by kernels.c. */
#ifndef BORN_LLM_KERNELS_SIMD_H
#define BORN_LLM_KERNELS_SIMD_H

#include <stdint.h>

/* sum_i x[i] * f16(y[i]) */
float llm_dot_f16_avx2(const float *x, const uint16_t *y, int64_t n);
/* acc[i] += a * f16(y[i]) */
void llm_axpy_f16_avx2(float *acc, float a, const uint16_t *y, int64_t n);
/* sum_i x[i] * y[i] */
float llm_dot_f32_avx2(const float *x, const float *y, int64_t n);

#endif
