/* Internal to the CUDA plugin: what the decode step's kernels share across their files
 * (llm_kernels.cu: products, embedding, greedy choice; llm_attention.cu: attention):
 * programmatic dependent launch on the device side, the launcher that sets it, and the streaming
 * load of weights (also used by bench/cuda/matvec_probe.cu). */
#ifndef BORN_CUDA_LLM_LAUNCH_CUH
#define BORN_CUDA_LLM_LAUNCH_CUH

#include <cuda_runtime.h>

#include "backend/cuda/llm_kernels.h"

namespace cu_llm {

/* Programmatic dependent launch (sm_90; BORN_LLM_PDL=0 turns it off): a kernel lets the next one
 * start once its main work is done (launch_dependents) and waits for the previous one's results
 * (wait) only where it first reads them, so a product's first weights are in flight while the
 * kernel before it drains. Without the launch attribute both are no-ops. On an H200 (1B bf16
 * decode) the trigger at the kernels' start was slower (699 against 767 tok/s); at the end of
 * their main work it was faster (901 against 885). The piece products, one wave of blocks that
 * fill the register file, trigger right after their first loads (llm_kernels.cu, trigger_early). */
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/* 16 bytes of weights read once: through the non-coherent path, not kept in L1. volatile, so the
 * load is issued where it is written, ahead of the wait for the kernel before (pdl_wait). */
__device__ __forceinline__ uint4 ld_stream(const void *p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

/* Whether launches carry the attribute (cu_llm_prepare; llm_kernels.cu). */
extern bool use_pdl;

/* Launches kernel on grid x block with smem bytes, with the programmatic-serialization attribute
 * when use_pdl. */
template <typename... Params, typename... Args>
inline cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                   Args... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = use_pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, args...);
}


/* Sets up the attention kernels for the current GPU (thread-block clusters from sm_90, compute
 * capability major given); call from cu_llm_prepare. */
void attention_prepare(int major);

} // namespace cu_llm

#endif
