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

/* q . k in ggml's TILE (tile != 0) or VEC order (see kernels.c) */
float llm_kq_dot_f16_avx2(const float *q, const uint16_t *k, int64_t n, int tile);
/* x[i] = e^(x[i] - mx) as ggml's softmax computes it; returns the sum of runs of 8 (float) in
 * double, zeros standing for elements past n in the last run */
double llm_softmax_exp_avx2(float *x, int64_t n, float mx);
/* gate[i] = silu(gate[i]) * up[i] as ggml's swiglu computes it */
void llm_swiglu_avx2(float *gate, const float *up, int64_t n);

#endif
