/* Internal to the CUDA plugin: reading one element of an LLM weight matrix on the device in any
 * llm_dev_fmt (the float formats as stored, the group-affine ones as a q + b), shared by the
 * decode step's kernels (llm_kernels.cu) and the batched prompt's (llm_batch.cu). */
#ifndef BORN_CUDA_LLM_MAT_CUH
#define BORN_CUDA_LLM_MAT_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "backend/cuda/llm_kernels.h"
#include "backend/llm_device.h"

/* Element k of row r of e as f32 (the embedding's lookup; products read whole chunks instead). */
__device__ __forceinline__ float cu_llm_element(const cu_llm_mat &e, int64_t r, int64_t k) {
    const char *q = static_cast<const char *>(e.q) + (size_t)r * e.q_row_bytes;
    const float2 *s = static_cast<const float2 *>(e.s);
    switch (e.fmt) {
    case LLM_DEV_F32: return reinterpret_cast<const float *>(q)[k];
    case LLM_DEV_F16: return __half2float(reinterpret_cast<const __half *>(q)[k]);
    case LLM_DEV_BF16: return __bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(q)[k]);
    case LLM_DEV_I8G32:
    case LLM_DEV_I8G16: {
        const int g = e.fmt == LLM_DEV_I8G16 ? 16 : 32;
        const float2 ab = s[r * (e.cols / g) + k / g];
        return fmaf(ab.x, (float)reinterpret_cast<const int8_t *>(q)[k], ab.y);
    }
    default: {
        const float2 ab = s[r * (e.cols / 32) + k / 32];
        const uint8_t byte = reinterpret_cast<const uint8_t *>(q)[k / 2];
        return fmaf(ab.x, (float)(k & 1 ? byte >> 4 : byte & 15), ab.y);
    }
    }
}

#endif
