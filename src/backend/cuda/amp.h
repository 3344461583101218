/* Internal to the CUDA plugin: dynamic loss scaling's multi-tensor unscale (amp.cu) and the
 * backend entry that calls it (amp_ops.c). */
#ifndef BORN_CUDA_AMP_H
#define BORN_CUDA_AMP_H

#include "backend/cuda/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Multiplies each of the count contiguous gradients (f32, f16, bf16 or f64) in place by
 * inv = (f32)(1 / (f64)*scale) and sets *found_inf to 1 when any stored product is inf or NaN;
 * scale and found_inf are single f32 values in device memory, so nothing is read on the host.
 * Launches of up to 128 gradients of one dtype; cudaErrorNotSupported (nothing queued) for
 * another dtype or a gradient that is not contiguous. */
cudaError_t cu_amp_unscale_multi(cudaStream_t s, int64_t count, const cu_strided *grads,
                                 float *found_inf, const float *scale);

#ifdef __cplusplus
}
#endif

#ifndef __CUDACC__
#include "backend/backend.h"
/* The backend entry (backend.h's amp_unscale_multi contract): queues the unscale on the stream of
 * the device that holds found_inf. Reports an unsupported dtype or layout, or the CUDA error. */
born_status cuda_amp_unscale_multi(int64_t count, const born_strided *grads, float *found_inf,
                                   const float *scale);
#endif

#endif
