/* Internal to the CUDA plugin: the fused cross-entropy launchers (xent.cu) and the backend entries
 * that call them (xent_ops.c). */
#ifndef BORN_CUDA_XENT_H
#define BORN_CUDA_XENT_H

#include "backend/cuda/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* loss[i] = lse_i - x[i, t_i] (0 where t_i == ignore_index) and lse[i] for the rows of x [N, C]
 * (f32/f64/f16/bf16, stride 1 along C) with i64 targets [N]; loss and lse in the compute type (f64
 * for f64, else f32). One block a row: one pass for the max and the sum, one read of x[i, t_i]. */
/* A target outside [0, C) (not ignore_index) gives a NaN loss and, when flag is not NULL, sets
 * *flag (if 0) to tag | (the target & (2^47 - 1)) (graph.c's deferred checks). */
cudaError_t cu_cross_entropy(cudaStream_t s, const cu_strided *loss, const cu_strided *lse,
                             const cu_strided *x, const cu_strided *target, int64_t ignore_index,
                             unsigned long long *flag, unsigned long long tag);
/* grad_x[i, c] = g[i] (exp(x[i, c] - lse[i]) - [c == t_i]), rows where t_i == ignore_index zero;
 * grad_x contiguous in x's dtype, g and lse [N] in the compute type. */
cudaError_t cu_cross_entropy_backward(cudaStream_t s, const cu_strided *grad_x, const cu_strided *x,
                                      const cu_strided *target, const cu_strided *lse,
                                      const cu_strided *g, int64_t ignore_index);

#ifdef __cplusplus
}
#endif

#ifndef __CUDACC__
#include "backend/backend.h"
/* The backend entries (backend.h's cross_entropy and cross_entropy_backward contracts). */
born_status cuda_cross_entropy(const born_strided *loss, const born_strided *lse,
                               const born_strided *x, const born_strided *target,
                               int64_t ignore_index);
born_status cuda_cross_entropy_backward(const born_strided *grad_x, const born_strided *x,
                                        const born_strided *target, const born_strided *lse,
                                        const born_strided *g, int64_t ignore_index);
#endif

#endif
