/* The CUDA backend's attention entries (attention.cu's kernels): they find the device that
 * holds the output, queue the kernels on its stream (the backward with a delta scratch buffer
 * from the caching allocator, freed in stream order) and report an unsupported dtype or head
 * size, or the CUDA error, by name. */
#include <stddef.h>

#include "backend/cuda/attention.h"
#include "backend/cuda/cuda_internal.h"

_Static_assert(sizeof(cu_attention_args) == sizeof(born_attention_args) &&
                   offsetof(cu_attention_args, scale) == offsetof(born_attention_args, scale) &&
                   offsetof(cu_attention_args, causal) == offsetof(born_attention_args, causal) &&
                   offsetof(cu_attention_args, mask_kind) == offsetof(born_attention_args, mask_kind) &&
                   offsetof(cu_attention_args, seed) == offsetof(born_attention_args, seed) &&
                   offsetof(cu_attention_args, block_kv) == offsetof(born_attention_args, block_kv),
               "cu_attention_args mirrors born_attention_args");

#define CS(p) ((const cu_strided *)(p))
#define CA(p) ((const cu_attention_args *)(p))

static born_status result(cudaError_t e, const char *op, const born_strided *q,
                          const born_attention_args *a) {
    if (e == cudaSuccess) return BORN_OK;
    if (e == cudaErrorNotSupported) {
        (void)cudaGetLastError();
        return cuda_error(BORN_ERR_UNSUPPORTED,
                          "%s: the CUDA kernel takes f32/f64/f16/bf16 with head sizes up to 256 "
                          "(128 for f64), not %s with head size %lld and value size %lld",
                          op, cuda_host->dtype_name(q->dtype), (long long)a->head_dim,
                          (long long)a->v_dim);
    }
    return cuda_check(e, op);
}

born_status cuda_attention(const born_strided *out, const born_strided *lse, const born_strided *q,
                           const born_strided *k, const born_strided *v, const born_strided *mask,
                           const born_attention_args *args) {
    int dev = cuda_device_of(out->data);
    return result(cu_attention(cuda_stream(dev), CS(out), CS(lse), CS(q), CS(k), CS(v), CS(mask),
                               CA(args)),
                  "attention", q, args);
}

born_status cuda_attention_backward(const born_strided *dq, const born_strided *dk,
                                    const born_strided *dv, const born_strided *grad_out,
                                    const born_strided *q, const born_strided *k,
                                    const born_strided *v, const born_strided *mask,
                                    const born_strided *out, const born_strided *lse,
                                    const born_attention_args *args) {
    int dev = cuda_device_of(dq->data);
    size_t nbytes = cu_attention_delta_bytes(CS(q), CA(args));
    void *delta = cuda_mem_alloc(dev, nbytes ? nbytes : 1);
    if (!delta) return BORN_ERR_MEMORY; /* cuda_mem_alloc recorded the sizes */
    born_status st = result(cu_attention_backward(cuda_stream(dev), CS(dq), CS(dk), CS(dv),
                                                  CS(grad_out), CS(q), CS(k), CS(v), CS(mask),
                                                  CS(out), CS(lse), delta, CA(args)),
                            "attention backward", q, args);
    cuda_mem_free(dev, delta);
    return st;
}
