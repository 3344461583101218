/* Internal to the CUDA plugin: the launchers of the kernels in the .cu files of src/backend/cuda, callable
 * from C. A tensor is a cu_strided, laid out exactly as born_strided (plugin.c checks), so the C
 * side passes the backend's operands through unchanged. Launchers queue work on the stream and
 * return cudaSuccess, cudaErrorNotSupported for an op/dtype pair they do not implement, or the
 * launch's error. Shapes and dtypes have been checked by the ops layer. */
#ifndef BORN_CUDA_KERNELS_H
#define BORN_CUDA_KERNELS_H

#include <cuda_runtime_api.h>

#include "backend/optim_step.h"
#include "born/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cu_strided {
    void *data;
    born_dtype dtype;
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    int64_t strides[BORN_MAX_DIMS];
} cu_strided;

/* Elementwise (elementwise.cu). */
cudaError_t cu_copy(cudaStream_t s, const cu_strided *dst, const cu_strided *src);
cudaError_t cu_fill(cudaStream_t s, const cu_strided *dst, double value);
cudaError_t cu_unary(cudaStream_t s, born_unary_op op, const cu_strided *out, const cu_strided *in,
                     const born_unary_params *params);
/* flag (device memory, one int, zeroed by the caller) receives 1 for an integer division by zero
 * and 2 for an integer raised to a negative power. */
cudaError_t cu_binary(cudaStream_t s, born_binary_op op, const cu_strided *out, const cu_strided *a,
                      const cu_strided *b, int *flag);
cudaError_t cu_where(cudaStream_t s, const cu_strided *out, const cu_strided *cond,
                     const cu_strided *a, const cu_strided *b);
cudaError_t cu_unary_backward(cudaStream_t s, born_unary_op op, const cu_strided *grad_in,
                              const cu_strided *grad_out, const cu_strided *x, const cu_strided *y,
                              const born_unary_params *params);

/* born_reduce_op's values (plugin.c checks that they agree). */
enum { CU_REDUCE_SUM = 0, CU_REDUCE_PROD, CU_REDUCE_MAX, CU_REDUCE_MIN, CU_REDUCE_ANY, CU_REDUCE_ALL };

/* Reductions along dimensions (reduce.cu); op is a born_reduce_op. */
cudaError_t cu_reduce(cudaStream_t s, int op, const cu_strided *out, const cu_strided *in,
                      uint32_t dims_mask);
cudaError_t cu_arg_reduce(cudaStream_t s, bool is_max, const cu_strided *out, const cu_strided *in,
                          int dim);
cudaError_t cu_softmax(cudaStream_t s, bool log, const cu_strided *out, const cu_strided *in,
                       int dim);
cudaError_t cu_softmax_backward(cudaStream_t s, bool log, const cu_strided *grad_in,
                                const cu_strided *grad_out, const cu_strided *y, int dim);

/* Indexing (index_optim.cu): B = A[index] along dim (add false: gather, index_select) or
 * A[index] += B (add true: scatter_add, index_add); index_1d for index_select/index_add. An index
 * out of range sets *flag (zeroed by the caller) to its value with bit 63 set. */
cudaError_t cu_index(cudaStream_t s, bool add, bool index_1d, const cu_strided *a,
                     const cu_strided *b, const cu_strided *index, int dim, long long *flag);
/* Fused optimizer updates (optim_step.h's contracts). */
cudaError_t cu_sgd_step(cudaStream_t s, const cu_strided *param, const cu_strided *grad,
                        const cu_strided *buf, const born_sgd_step_args *args);
cudaError_t cu_adam_step(cudaStream_t s, const cu_strided *param, const cu_strided *grad,
                         const cu_strided *m, const cu_strided *v, const cu_strided *vmax,
                         const born_adam_step_args *args);

#ifdef __cplusplus
}
#endif

#endif
