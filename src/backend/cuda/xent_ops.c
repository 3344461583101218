/* The CUDA backend's fused cross-entropy entries (xent.cu): they find the device that holds the
 * output, queue the kernel on its stream and report an unsupported dtype or the CUDA error. */
#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/xent.h"

#define CS(p) ((const cu_strided *)(p))

static born_status result(cudaError_t e, const char *op, born_dtype dtype) {
    if (e == cudaSuccess) return BORN_OK;
    if (e == cudaErrorNotSupported) {
        (void)cudaGetLastError();
        return cuda_error(BORN_ERR_DTYPE, "%s: not defined for %s logits on CUDA (f32/f64/f16/bf16 "
                          "rows of stride 1, i64 targets)", op, cuda_host->dtype_name(dtype));
    }
    return cuda_check(e, op);
}

born_status cuda_cross_entropy(const born_strided *loss, const born_strided *lse,
                               const born_strided *x, const born_strided *target,
                               int64_t ignore_index) {
    int dev = cuda_device_of(lse->data);
    unsigned long long *flag = NULL, tag = 0;
    if (cuda_devices[dev].capturing) { /* the host checked the targets before, except in captures */
        tag = cuda_defer_site(dev, "cross_entropy (its target)", 1, (long long)x->shape[1]);
        if (!tag)
            return cuda_error(BORN_ERR_MEMORY, "cross_entropy: too many index checks in captured "
                              "graphs");
        flag = cuda_devices[dev].deferred;
    }
    return result(cu_cross_entropy(cuda_stream(dev), CS(loss), CS(lse), CS(x), CS(target),
                                   ignore_index, flag, tag),
                  "cross_entropy", x->dtype);
}

born_status cuda_cross_entropy_backward(const born_strided *grad_x, const born_strided *x,
                                        const born_strided *target, const born_strided *lse,
                                        const born_strided *g, int64_t ignore_index) {
    int dev = cuda_device_of(grad_x->data);
    return result(cu_cross_entropy_backward(cuda_stream(dev), CS(grad_x), CS(x), CS(target), CS(lse),
                                            CS(g), ignore_index),
                  "cross_entropy backward", x->dtype);
}
