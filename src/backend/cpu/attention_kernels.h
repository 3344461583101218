/* Internal: the row helpers of the CPU attention kernels (attention.c). */
#ifndef BORN_CPU_ATTENTION_KERNELS_H
#define BORN_CPU_ATTENTION_KERNELS_H

#include <stdint.h>

/* x[i] = exp(x[i] - shift) for i < n, in place; returns the sum (-inf entries give 0). The
 * portable loop and its AVX2 twin (only on CPUs with AVX2 + FMA). */
float attn_exp_shift_f32_ref(float *x, int64_t n, float shift);
float attn_exp_shift_f32_avx2(float *x, int64_t n, float shift);

#endif
