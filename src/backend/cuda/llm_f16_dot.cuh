/* Internal to the CUDA plugin: the f16 K-row dot product the LLM attention kernels share
 * (llm_attention.cu, one query row; llm_batch_attn_few.cu, several). */
#ifndef BORN_CUDA_LLM_F16_DOT_CUH
#define BORN_CUDA_LLM_F16_DOT_CUH

#include <cuda_fp16.h>
#include <stdint.h>

/* acc plus the products of eight f16 values (16 bytes of a K row, in memory order) with q[0..8),
 * added one at a time in that order. Every kernel that dots a K row this way gets the same bits. */
__device__ __forceinline__ float cu_llm_dot8_f16(uint4 k, const float *q, float acc) {
    const uint32_t w[4] = {k.x, k.y, k.z, k.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float2 f = __half22float2(*reinterpret_cast<const __half2 *>(&w[i]));
        acc = fmaf(f.x, q[2 * i], acc);
        acc = fmaf(f.y, q[2 * i + 1], acc);
    }
    return acc;
}

#endif
