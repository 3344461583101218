/* The CUDA backend's entries for layer kernels (nn.cu): row norms and pooling. Each finds the
 * device that holds the output, queues the kernel on its stream and reports an unsupported dtype
 * or the CUDA error by name. */
#include "backend/cuda/cuda_internal.h"

#define CS(p) ((const cu_strided *)(p))
#define PG(p) ((const cu_pool2d_geometry *)(p))

static born_status result(cudaError_t e, const char *op, born_dtype dtype) {
    if (e == cudaSuccess) return BORN_OK;
    if (e == cudaErrorNotSupported) {
        (void)cudaGetLastError();
        return cuda_error(BORN_ERR_DTYPE, "%s: not defined for %s on CUDA", op,
                          cuda_host->dtype_name(dtype));
    }
    return cuda_check(e, op);
}

born_status cuda_row_norm(bool rms, const born_strided *out, const born_strided *mean,
                          const born_strided *rstd, const born_strided *x,
                          const born_strided *weight, const born_strided *bias, double eps) {
    int dev = cuda_device_of(out->data);
    return result(cu_row_norm(cuda_stream(dev), rms, CS(out), CS(mean), CS(rstd), CS(x), CS(weight),
                              CS(bias), eps),
                  rms ? "rms_norm" : "layer_norm", x->dtype);
}

born_status cuda_row_norm_backward(bool rms, const born_strided *grad_x,
                                   const born_strided *grad_out, const born_strided *x,
                                   const born_strided *mean, const born_strided *rstd,
                                   const born_strided *weight) {
    int dev = cuda_device_of(grad_x->data);
    return result(cu_row_norm_backward(cuda_stream(dev), rms, CS(grad_x), CS(grad_out), CS(x),
                                       CS(mean), CS(rstd), CS(weight)),
                  rms ? "rms_norm backward" : "layer_norm backward", x->dtype);
}

born_status cuda_row_norm_half(bool rms, const born_strided *out, const born_strided *mean,
                               const born_strided *rstd, const born_strided *x,
                               const born_strided *weight, const born_strided *bias, double eps) {
    int dev = cuda_device_of(out->data);
    return result(cu_row_norm_half(cuda_stream(dev), rms, CS(out), CS(mean), CS(rstd), CS(x),
                                   CS(weight), CS(bias), eps),
                  rms ? "rms_norm" : "layer_norm", x->dtype);
}

born_status cuda_row_norm_half_backward(bool rms, const born_strided *grad_x,
                                        const born_strided *grad_weight,
                                        const born_strided *grad_bias, const born_strided *grad_out,
                                        const born_strided *x, const born_strided *mean,
                                        const born_strided *rstd, const born_strided *weight) {
    int dev = cuda_device_of(grad_out->data);
    return result(cu_row_norm_half_backward(cuda_stream(dev), rms, CS(grad_x), CS(grad_weight),
                                            CS(grad_bias), CS(grad_out), CS(x), CS(mean), CS(rstd),
                                            CS(weight)),
                  rms ? "rms_norm backward" : "layer_norm backward", x->dtype);
}

born_status cuda_max_pool2d(const born_strided *out, const born_strided *indices,
                            const born_strided *in, const born_pool2d_geometry *g) {
    int dev = cuda_device_of(out->data);
    return result(cu_max_pool2d(cuda_stream(dev), CS(out), CS(indices), CS(in), PG(g)), "max_pool2d",
                  in->dtype);
}

born_status cuda_max_pool2d_backward(const born_strided *grad_in, const born_strided *grad_out,
                                     const born_strided *indices, const born_pool2d_geometry *g) {
    int dev = cuda_device_of(grad_in->data);
    return result(cu_max_pool2d_backward(cuda_stream(dev), CS(grad_in), CS(grad_out), CS(indices), PG(g)),
                  "max_pool2d backward", grad_out->dtype);
}

born_status cuda_avg_pool2d(const born_strided *out, const born_strided *in,
                            const born_pool2d_geometry *g) {
    int dev = cuda_device_of(out->data);
    return result(cu_avg_pool2d(cuda_stream(dev), CS(out), CS(in), PG(g)), "avg_pool2d", in->dtype);
}

born_status cuda_avg_pool2d_backward(const born_strided *grad_in, const born_strided *grad_out,
                                     const born_pool2d_geometry *g) {
    int dev = cuda_device_of(grad_in->data);
    return result(cu_avg_pool2d_backward(cuda_stream(dev), CS(grad_in), CS(grad_out), PG(g)),
                  "avg_pool2d backward", grad_out->dtype);
}
