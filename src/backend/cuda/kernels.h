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
 * A[index] += B (add true: scatter_add, index_add); index_1d for index_select/index_add. The first
 * index out of range met sets *flag (when it is 0) to tag | (its value & mask). */
cudaError_t cu_index(cudaStream_t s, bool add, bool index_1d, const cu_strided *a,
                     const cu_strided *b, const cu_strided *index, int dim, long long *flag,
                     unsigned long long tag, unsigned long long mask);
/* Fused optimizer updates (optim_step.h's contracts). */
cudaError_t cu_sgd_step(cudaStream_t s, const cu_strided *param, const cu_strided *grad,
                        const cu_strided *buf, const born_sgd_step_args *args);
cudaError_t cu_adam_step(cudaStream_t s, const cu_strided *param, const cu_strided *grad,
                         const cu_strided *m, const cu_strided *v, const cu_strided *vmax,
                         const born_adam_step_args *args);

/* adam_step over count contiguous parameters of dtype dt (f32/f16/bf16), amsgrad false, in
 * launches of up to 128 parameters (a list in the kernel's parameters, one block a chunk). */
typedef struct cu_adam_item { /* backend.h's born_adam_multi_item (ops.c checks the layout) */
    cu_strided param, grad, exp_avg, exp_avg_sq;
    born_adam_step_args args;
    float *device_step;     /* with device_lr: the step count and lr read on the device */
    const double *device_lr;
    const float *found_inf; /* not NULL: nothing changes while *found_inf != 0 (items[0]'s) */
} cu_adam_item;
/* scratch: device memory for 3 floats per item, used when the items have device_step. Every item
 * carries the same found_inf (cudaErrorNotSupported otherwise). */
cudaError_t cu_adam_step_multi(cudaStream_t s, born_dtype dt, int64_t count,
                               const cu_adam_item *items, float *scratch);

/* Mirrors of backend.h's born_pool2d_geometry and born_conv2d_geometry (plugin.c checks the
 * layouts), which the .cu files cannot include. */
typedef struct cu_pool2d_geometry {
    int64_t planes, in_h, in_w, out_h, out_w;
    int64_t kernel[2], stride[2], padding[2], dilation[2];
    bool count_include_pad;
    int64_t divisor_override;
} cu_pool2d_geometry;

typedef struct cu_conv2d_geometry {
    int64_t batch, in_channels, in_h, in_w;
    int64_t out_channels, out_h, out_w;
    int64_t kernel_h, kernel_w;
    int64_t stride[2], padding[2], dilation[2];
    int64_t groups;
} cu_conv2d_geometry;

/* Layer kernels (nn.cu): row norms (f32/f64, contiguous rows; row_norm's contract in
 * backend.h), pooling over contiguous [planes, H, W] (forward f32/f64/i64, backward f32/f64), and
 * the column buffer of n images of a convolution: col [n, C kh kw, out_h out_w] from
 * in [n, C, H, W] (im2col), and its adjoint, which writes in (col2im). */
cudaError_t cu_row_norm(cudaStream_t s, bool rms, const cu_strided *out, const cu_strided *mean,
                        const cu_strided *rstd, const cu_strided *x, const cu_strided *weight,
                        const cu_strided *bias, double eps);
cudaError_t cu_row_norm_backward(cudaStream_t s, bool rms, const cu_strided *grad_x,
                                 const cu_strided *grad_out, const cu_strided *x,
                                 const cu_strided *mean, const cu_strided *rstd,
                                 const cu_strided *weight);
/* Row norms of f16/bf16 rows computed in f32 without an f32 copy (norm_half.cu; backend.h's
 * row_norm_half and row_norm_half_backward: mean/rstd and the parameter gradients are f32). */
cudaError_t cu_row_norm_half(cudaStream_t s, bool rms, const cu_strided *out,
                             const cu_strided *mean, const cu_strided *rstd, const cu_strided *x,
                             const cu_strided *weight, const cu_strided *bias, double eps);
cudaError_t cu_row_norm_half_backward(cudaStream_t s, bool rms, const cu_strided *grad_x,
                                      const cu_strided *grad_weight, const cu_strided *grad_bias,
                                      const cu_strided *grad_out, const cu_strided *x,
                                      const cu_strided *mean, const cu_strided *rstd,
                                      const cu_strided *weight);
cudaError_t cu_max_pool2d(cudaStream_t s, const cu_strided *out, const cu_strided *indices,
                          const cu_strided *in, const cu_pool2d_geometry *g);
cudaError_t cu_max_pool2d_backward(cudaStream_t s, const cu_strided *grad_in,
                                   const cu_strided *grad_out, const cu_strided *indices,
                                   const cu_pool2d_geometry *g);
cudaError_t cu_avg_pool2d(cudaStream_t s, const cu_strided *out, const cu_strided *in,
                          const cu_pool2d_geometry *g);
cudaError_t cu_avg_pool2d_backward(cudaStream_t s, const cu_strided *grad_in,
                                   const cu_strided *grad_out, const cu_pool2d_geometry *g);
cudaError_t cu_im2col(cudaStream_t s, born_dtype dt, const cu_conv2d_geometry *g, int64_t n,
                      const void *in, void *col);
cudaError_t cu_col2im(cudaStream_t s, born_dtype dt, const cu_conv2d_geometry *g, int64_t n,
                      const void *col, void *in);

#ifdef __cplusplus
}
#endif

#endif
