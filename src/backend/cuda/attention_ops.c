/* The CUDA backend's attention entries: cuDNN's fused attention where it is present and serves
 * the call (cudnn_sdpa.c; BORN_ATTENTION=born|cudnn picks one), else Born's kernels (attention.cu,
 * attention_tc.cu). They find the device that holds the output, queue the kernels on its stream (the backward with a delta scratch buffer
 * from the caching allocator, freed in stream order) and report an unsupported dtype or head
 * size, or the CUDA error, by name. */
#include <stddef.h>

#include "backend/cuda/attention.h"
#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/cudnn_sdpa.h"

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

/* A dense tensor of t's shape and dtype from the caching allocator (data NULL on failure). */
static born_strided dense_like(int dev, const born_strided *t) {
    born_strided d = *t;
    int64_t n = 1;
    for (int i = d.ndim - 1; i >= 0; i--) {
        d.strides[i] = n;
        n *= d.shape[i];
    }
    size_t es = t->dtype == BORN_F64 ? 8 : t->dtype == BORN_F32 ? 4 : 2; /* attention's dtypes */
    d.data = cuda_mem_alloc(dev, (size_t)n * es + 1);
    return d;
}

/* The cuDNN path's answer when it was forced and could not serve the call. */
static born_status forced_failed(const char *op, const char *why) {
    return cuda_error(BORN_ERR_UNSUPPORTED, "%s: BORN_ATTENTION=cudnn, but cuDNN cannot run this call: %s",
                      op, why);
}

born_status cuda_attention(const born_strided *out, const born_strided *lse, const born_strided *q,
                           const born_strided *k, const born_strided *v, const born_strided *mask,
                           const born_attention_args *args) {
    cudnn_sdpa_mode mode = cudnn_sdpa_mode_now();
    if (mode != CUDNN_SDPA_OFF) {
        char why[512] = "";
        born_status cs = cudnn_sdpa_forward(out, lse, q, k, v, mask, args, why, sizeof why);
        if (cs != BORN_ERR_UNSUPPORTED) return cs;
        if (mode == CUDNN_SDPA_FORCE) return forced_failed("attention", why);
    }
    int dev = cuda_device_of(out->data);
    cudaStream_t s = cuda_stream(dev);
    cudaError_t e = cu_attention(s, CS(out), CS(lse), CS(q), CS(k), CS(v), CS(mask), CA(args));
    if (e != cudaErrorNotReady) return result(e, "attention", q, args);
    /* a strided out the kernel cannot write: through a dense copy */
    born_strided tmp = dense_like(dev, out);
    if (!tmp.data) return BORN_ERR_MEMORY;
    born_status st = result(cu_attention(s, CS(&tmp), CS(lse), CS(q), CS(k), CS(v), CS(mask), CA(args)),
                            "attention", q, args);
    if (st == BORN_OK) st = cuda_copy(out, &tmp);
    cuda_mem_free(dev, tmp.data);
    return st;
}

born_status cuda_attention_backward(const born_strided *dq, const born_strided *dk,
                                    const born_strided *dv, const born_strided *grad_out,
                                    const born_strided *q, const born_strided *k,
                                    const born_strided *v, const born_strided *mask,
                                    const born_strided *out, const born_strided *lse,
                                    const born_attention_args *args) {
    int dev = cuda_device_of(dq->data);
    cudaStream_t s = cuda_stream(dev);
    size_t nbytes = cu_attention_delta_bytes(CS(q), CA(args));
    void *delta = cuda_mem_alloc(dev, nbytes ? nbytes : 1);
    if (!delta) return BORN_ERR_MEMORY; /* cuda_mem_alloc recorded the sizes */
    cudnn_sdpa_mode mode = cudnn_sdpa_mode_now();
    if (mode != CUDNN_SDPA_OFF) {
        char why[512] = "";
        born_status cs = cudnn_sdpa_backward(dq, dk, dv, grad_out, q, k, v, mask, out, lse, delta, args,
                                             why, sizeof why);
        if (cs != BORN_ERR_UNSUPPORTED || mode == CUDNN_SDPA_FORCE) {
            cuda_mem_free(dev, delta);
            return cs == BORN_ERR_UNSUPPORTED ? forced_failed("attention backward", why) : cs;
        }
    }
    cudaError_t e = cu_attention_backward(s, CS(dq), CS(dk), CS(dv), CS(grad_out), CS(q), CS(k),
                                          CS(v), CS(mask), CS(out), CS(lse), delta, CA(args));
    born_status st = BORN_OK;
    if (e == cudaErrorNotReady) {
        /* strided operands the kernels cannot take: dense copies of grad_out and out, dense
         * gradients copied into place */
        const born_strided *io[5] = {dq, dk, dv, grad_out, out};
        born_strided tmp[5];
        for (int i = 0; i < 5; i++) tmp[i] = dense_like(dev, io[i]);
        for (int i = 0; i < 5; i++)
            if (!tmp[i].data) st = BORN_ERR_MEMORY;
        if (st == BORN_OK) st = cuda_copy(&tmp[3], grad_out);
        if (st == BORN_OK) st = cuda_copy(&tmp[4], out);
        if (st == BORN_OK)
            st = result(cu_attention_backward(s, CS(&tmp[0]), CS(&tmp[1]), CS(&tmp[2]), CS(&tmp[3]),
                                              CS(q), CS(k), CS(v), CS(mask), CS(&tmp[4]), CS(lse),
                                              delta, CA(args)),
                        "attention backward", q, args);
        for (int i = 0; i < 3 && st == BORN_OK; i++) st = cuda_copy(io[i], &tmp[i]);
        for (int i = 0; i < 5; i++)
            if (tmp[i].data) cuda_mem_free(dev, tmp[i].data);
    } else {
        st = result(e, "attention backward", q, args);
    }
    cuda_mem_free(dev, delta);
    return st;
}
