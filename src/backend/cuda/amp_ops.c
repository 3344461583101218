/* The CUDA backend's unscale entry for dynamic loss scaling (amp.cu): it finds the device that
 * holds found_inf, queues the multi-tensor kernel on its stream and reports what went wrong. */
#include "backend/cuda/amp.h"
#include "backend/cuda/cuda_internal.h"

born_status cuda_amp_unscale_multi(int64_t count, const born_strided *grads, float *found_inf,
                                   const float *scale) {
    if (count <= 0) return BORN_OK;
    int dev = cuda_device_of(found_inf);
    cudaError_t e = cu_amp_unscale_multi(cuda_stream(dev), count, (const cu_strided *)grads,
                                         found_inf, scale);
    if (e == cudaErrorNotSupported) {
        (void)cudaGetLastError();
        return cuda_error(BORN_ERR_DTYPE, "amp unscale: the gradients must be contiguous f32, "
                          "f16, bf16 or f64 on CUDA");
    }
    return cuda_check(e, "amp unscale");
}
