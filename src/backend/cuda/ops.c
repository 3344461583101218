/* The CUDA backend's kernel entries: each finds the device that holds the output, queues the
 * kernel on that device's stream and turns the launcher's answer into Born's errors. */
#include <stddef.h>

#include "backend/cuda/cuda_internal.h"

#define CS(p) ((const cu_strided *)(p))

/* BORN_OK, or an error naming op: unsupported dtype, or the CUDA error. */
static born_status result(cudaError_t e, const char *op, born_dtype dtype) {
    if (e == cudaSuccess) return BORN_OK;
    if (e == cudaErrorNotSupported) {
        (void)cudaGetLastError();
        return cuda_error(BORN_ERR_DTYPE, "%s: not defined for %s on CUDA", op,
                          cuda_host->dtype_name(dtype));
    }
    return cuda_check(e, op);
}

born_status cuda_copy(const born_strided *dst, const born_strided *src) {
    int dev = cuda_device_of(dst->data);
    return result(cu_copy(cuda_stream(dev), CS(dst), CS(src)), "copy", src->dtype);
}

born_status cuda_fill(const born_strided *dst, double value) {
    int dev = cuda_device_of(dst->data);
    return result(cu_fill(cuda_stream(dev), CS(dst), value), "fill", dst->dtype);
}

born_status cuda_unary(born_unary_op op, const born_strided *out, const born_strided *in,
                       const born_unary_params *params) {
    int dev = cuda_device_of(out->data);
    return result(cu_unary(cuda_stream(dev), op, CS(out), CS(in), params),
                  cuda_host->unary_op_name(op), in->dtype);
}

born_status cuda_binary(born_binary_op op, const born_strided *out, const born_strided *a,
                        const born_strided *b) {
    int dev = cuda_device_of(out->data);
    cudaStream_t s = cuda_stream(dev);
    const char *name = cuda_host->binary_op_name(op);
    /* integer ops that can meet bad data report it through the device flag: the host waits */
    bool checked = a->dtype != BORN_BOOL && a->dtype != BORN_F32 && a->dtype != BORN_F64 &&
                   a->dtype != BORN_F16 && a->dtype != BORN_BF16 &&
                   (op == BORN_BINARY_FLOOR_DIVIDE || op == BORN_BINARY_REMAINDER ||
                    op == BORN_BINARY_FMOD || op == BORN_BINARY_POW);
    int *flag = cuda_devices[dev].flag;
    if (checked && cuda_devices[dev].capturing)
        return cuda_error(BORN_ERR_DEVICE, "%s on integers: not allowed while cuda:%d captures a "
                          "graph (its divisor or exponent check reads the device back)", name, dev);
    if (checked) {
        born_status st = cuda_check(cudaMemsetAsync(flag, 0, sizeof(int), s), name);
        if (st != BORN_OK) return st;
    }
    born_status st = result(cu_binary(s, op, CS(out), CS(a), CS(b), flag), name, a->dtype);
    if (st != BORN_OK || !checked) return st;
    int bad = 0;
    st = cuda_check(cudaMemcpyAsync(&bad, flag, sizeof bad, cudaMemcpyDeviceToHost, s), name);
    if (st == BORN_OK) st = cuda_check(cudaStreamSynchronize(s), name);
    if (st != BORN_OK) return st;
    if (bad == 1) return cuda_error(BORN_ERR_ARGUMENT, "%s: integer division by zero", name);
    if (bad == 2)
        return cuda_error(BORN_ERR_ARGUMENT, "pow: integers to negative integer powers are not "
                          "allowed (convert to a floating dtype first)");
    return BORN_OK;
}

born_status cuda_where(const born_strided *out, const born_strided *cond, const born_strided *a,
                       const born_strided *b) {
    int dev = cuda_device_of(out->data);
    return result(cu_where(cuda_stream(dev), CS(out), CS(cond), CS(a), CS(b)), "where", a->dtype);
}

born_status cuda_reduce(born_reduce_op op, const born_strided *out, const born_strided *in,
                        uint32_t dims_mask) {
    int dev = cuda_device_of(out->data);
    return result(cu_reduce(cuda_stream(dev), (int)op, CS(out), CS(in), dims_mask), "reduce",
                  in->dtype);
}

born_status cuda_arg_reduce(bool is_max, const born_strided *out, const born_strided *in, int dim) {
    int dev = cuda_device_of(out->data);
    return result(cu_arg_reduce(cuda_stream(dev), is_max, CS(out), CS(in), dim),
                  is_max ? "argmax" : "argmin", in->dtype);
}

born_status cuda_softmax(bool log, const born_strided *out, const born_strided *in, int dim) {
    int dev = cuda_device_of(out->data);
    return result(cu_softmax(cuda_stream(dev), log, CS(out), CS(in), dim),
                  log ? "log_softmax" : "softmax", in->dtype);
}

born_status cuda_softmax_backward(bool log, const born_strided *grad_in,
                                  const born_strided *grad_out, const born_strided *y, int dim) {
    int dev = cuda_device_of(grad_in->data);
    return result(cu_softmax_backward(cuda_stream(dev), log, CS(grad_in), CS(grad_out), CS(y), dim),
                  log ? "log_softmax backward" : "softmax backward", y->dtype);
}

born_status cuda_unary_backward(born_unary_op op, const born_strided *grad_in,
                                const born_strided *grad_out, const born_strided *x,
                                const born_strided *y, const born_unary_params *params) {
    int dev = cuda_device_of(grad_in->data);
    return result(cu_unary_backward(cuda_stream(dev), op, CS(grad_in), CS(grad_out), CS(x), CS(y),
                                    params),
                  cuda_host->unary_op_name(op), x->dtype);
}

/* Runs one indexing kernel and reports the first index out of range. gather and scatter_add wait
 * for the kernel and report it at once. index_select and index_add (the embedding's lookup and
 * gradient), and every index op while the device captures a graph, do not wait: the kernel flags
 * the op's site and the next host sync reports it (graph.c), so a training step never waits for
 * its indices. */
static born_status run_index(const char *name, bool add, bool index_1d, const born_strided *a,
                             const born_strided *b, const born_strided *index, int dim) {
    int dev = cuda_device_of(b->data);
    cudaStream_t s = cuda_stream(dev);
    long long size = (long long)(a->ndim ? a->shape[dim] : 1);
    if (cuda_devices[dev].capturing || index_1d) {
        const char *site = !index_1d ? name
                           : add     ? "index_add (born_embedding's gradient, born_index_add)"
                                     : "index_select (born_embedding, born_index_select)";
        unsigned long long tag = cuda_defer_site(dev, site, dim, size);
        if (!tag)
            return cuda_error(BORN_ERR_MEMORY, "%s: too many index checks in captured graphs",
                              name);
        return result(cu_index(s, add, index_1d, CS(a), CS(b), CS(index), dim,
                               (long long *)cuda_devices[dev].deferred, tag,
                               (1ull << 47) - 1),
                      name, a->dtype);
    }
    long long *flag = cuda_devices[dev].index_flag;
    born_status st = cuda_check(cudaMemsetAsync(flag, 0, sizeof *flag, s), name);
    if (st == BORN_OK)
        st = result(cu_index(s, add, index_1d, CS(a), CS(b), CS(index), dim, flag, 1ull << 63,
                             ~(1ull << 63)),
                    name, a->dtype);
    long long bad = 0;
    if (st == BORN_OK)
        st = cuda_check(cudaMemcpyAsync(&bad, flag, sizeof bad, cudaMemcpyDeviceToHost, s), name);
    if (st == BORN_OK) st = cuda_check(cudaStreamSynchronize(s), name);
    if (st != BORN_OK || bad == 0) return st;
    long long value = (long long)((unsigned long long)bad & ~(1ull << 63));
    if (value & (1ll << 62)) value = (long long)((unsigned long long)value | (1ull << 63)); /* negative */
    return cuda_error(BORN_ERR_ARGUMENT, "index %lld is out of range for dimension %d of size %lld",
                      value, dim, size);
}

born_status cuda_gather(const born_strided *out, const born_strided *in, const born_strided *index,
                        int dim) {
    return run_index("gather", false, false, in, out, index, dim);
}

born_status cuda_scatter_add(const born_strided *out, const born_strided *index,
                             const born_strided *src, int dim) {
    return run_index("scatter_add", true, false, out, src, index, dim);
}

born_status cuda_index_select(const born_strided *out, const born_strided *in,
                              const born_strided *index, int dim) {
    return run_index("index_select", false, true, in, out, index, dim);
}

born_status cuda_index_add(const born_strided *out, const born_strided *index,
                           const born_strided *src, int dim) {
    return run_index("index_add", true, true, out, src, index, dim);
}

born_status cuda_sgd_step(const born_strided *param, const born_strided *grad,
                          const born_strided *momentum_buffer, const born_sgd_step_args *args) {
    int dev = cuda_device_of(param->data);
    return result(cu_sgd_step(cuda_stream(dev), CS(param), CS(grad), CS(momentum_buffer), args),
                  "sgd step", param->dtype);
}

born_status cuda_adam_step(const born_strided *param, const born_strided *grad,
                           const born_strided *exp_avg, const born_strided *exp_avg_sq,
                           const born_strided *max_exp_avg_sq, const born_adam_step_args *args) {
    int dev = cuda_device_of(param->data);
    return result(cu_adam_step(cuda_stream(dev), CS(param), CS(grad), CS(exp_avg), CS(exp_avg_sq),
                               CS(max_exp_avg_sq), args),
                  "adam step", param->dtype);
}

_Static_assert(sizeof(cu_adam_item) == sizeof(born_adam_multi_item) &&
                   offsetof(cu_adam_item, args) == offsetof(born_adam_multi_item, args) &&
                   offsetof(cu_adam_item, device_step) ==
                       offsetof(born_adam_multi_item, device_step) &&
                   offsetof(cu_adam_item, device_lr) == offsetof(born_adam_multi_item, device_lr) &&
                   offsetof(cu_adam_item, found_inf) == offsetof(born_adam_multi_item, found_inf),
               "cu_adam_item mirrors born_adam_multi_item");

born_status cuda_adam_step_multi(int64_t count, const born_adam_multi_item *items) {
    if (count <= 0) return BORN_OK;
    int dev = cuda_device_of(items[0].param.data);
    float *scratch = NULL;
    if (items[0].device_step) { /* the per-parameter scalars computed on the device */
        scratch = cuda_mem_alloc(dev, (size_t)count * 3 * sizeof(float));
        if (!scratch) return BORN_ERR_MEMORY; /* cuda_mem_alloc recorded the sizes */
    }
    born_status st = result(cu_adam_step_multi(cuda_stream(dev), items[0].param.dtype, count,
                                               (const cu_adam_item *)items, scratch),
                            "adam step", items[0].param.dtype);
    cuda_mem_free(dev, scratch); /* stream ordered: the next user queues after this step */
    return st;
}
