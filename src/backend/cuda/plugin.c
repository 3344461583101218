/* The CUDA plugin's entry point and vtable. born_plugin_open checks that it was built for the
 * libborn that loads it, counts the GPUs (0, with the reason, when there is no driver or GPU),
 * and creates one stream per device. Errors reach libborn through the host table only. */
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/amp.h"
#include "backend/cuda/attention.h"
#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/random.h"
#include "backend/cuda/xent.h"

_Static_assert(sizeof(cu_strided) == sizeof(born_strided), "cu_strided mirrors born_strided");
_Static_assert(offsetof(cu_strided, dtype) == offsetof(born_strided, dtype), "layout");
_Static_assert(offsetof(cu_strided, ndim) == offsetof(born_strided, ndim), "layout");
_Static_assert(offsetof(cu_strided, shape) == offsetof(born_strided, shape), "layout");
_Static_assert(offsetof(cu_strided, strides) == offsetof(born_strided, strides), "layout");
_Static_assert(sizeof(cu_pool2d_geometry) == sizeof(born_pool2d_geometry) &&
                   offsetof(cu_pool2d_geometry, count_include_pad) ==
                       offsetof(born_pool2d_geometry, count_include_pad) &&
                   offsetof(cu_pool2d_geometry, divisor_override) ==
                       offsetof(born_pool2d_geometry, divisor_override),
               "cu_pool2d_geometry mirrors born_pool2d_geometry");
_Static_assert(sizeof(cu_conv2d_geometry) == sizeof(born_conv2d_geometry) &&
                   offsetof(cu_conv2d_geometry, groups) == offsetof(born_conv2d_geometry, groups) &&
                   offsetof(cu_conv2d_geometry, dilation) == offsetof(born_conv2d_geometry, dilation),
               "cu_conv2d_geometry mirrors born_conv2d_geometry");
_Static_assert(CU_REDUCE_SUM == (int)BORN_REDUCE_SUM && CU_REDUCE_PROD == (int)BORN_REDUCE_PROD &&
                   CU_REDUCE_MAX == (int)BORN_REDUCE_MAX && CU_REDUCE_MIN == (int)BORN_REDUCE_MIN &&
                   CU_REDUCE_ANY == (int)BORN_REDUCE_ANY && CU_REDUCE_ALL == (int)BORN_REDUCE_ALL,
               "reduce ops agree");

const born_plugin_host *cuda_host;
cuda_device *cuda_devices;
int cuda_device_count;

born_status cuda_error(born_status status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cuda_host ? cuda_host->error(status, msg) : status;
}

born_status cuda_check(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return BORN_OK;
    (void)cudaGetLastError(); /* clear non-sticky errors so the next call starts clean */
    return cuda_error(e == cudaErrorMemoryAllocation ? BORN_ERR_MEMORY : BORN_ERR_DEVICE,
                      "%s: CUDA error %d (%s)", what, (int)e, cudaGetErrorString(e));
}

cudaStream_t cuda_stream(int dev) {
    if (cuda_device_count > 1) cudaSetDevice(dev);
    return cuda_devices[dev].stream;
}

int cuda_device_of(const void *ptr) {
    if (cuda_device_count <= 1) return 0;
    struct cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return attr.device >= 0 && attr.device < cuda_device_count ? attr.device : 0;
}

int cuda_sm_count(int dev) {
    return dev >= 0 && dev < cuda_device_count ? cuda_devices[dev].sm_count : 0;
}

static void cuda_free_entry(int dev, void *ptr) { cuda_mem_free(dev, ptr); }

static const born_backend cuda_vtable = {
    .name = "cuda",
    .alloc = cuda_mem_alloc,
    .free = cuda_free_entry,
    .upload = cuda_upload,
    .download = cuda_download,
    .synchronize = cuda_synchronize,
    .peer_copy = cuda_peer_copy,
    .copy = cuda_copy,
    .fill = cuda_fill,
    .unary = cuda_unary,
    .binary = cuda_binary,
    .where = cuda_where,
    .reduce = cuda_reduce,
    .arg_reduce = cuda_arg_reduce,
    .softmax = cuda_softmax,
    .softmax_backward = cuda_softmax_backward,
    .matmul = cuda_matmul,
    .gather = cuda_gather,
    .scatter_add = cuda_scatter_add,
    .index_select = cuda_index_select,
    .index_add = cuda_index_add,
    .sgd_step = cuda_sgd_step,
    .adam_step = cuda_adam_step,
    .adam_step_multi = cuda_adam_step_multi,
    .unary_backward = cuda_unary_backward,
    .conv2d = cuda_conv2d,
    .conv2d_backward_input = cuda_conv2d_backward_input,
    .conv2d_backward_weight = cuda_conv2d_backward_weight,
    .max_pool2d = cuda_max_pool2d,
    .max_pool2d_backward = cuda_max_pool2d_backward,
    .avg_pool2d = cuda_avg_pool2d,
    .avg_pool2d_backward = cuda_avg_pool2d_backward,
    .row_norm = cuda_row_norm,
    .row_norm_backward = cuda_row_norm_backward,
    .row_norm_half = cuda_row_norm_half,
    .row_norm_half_backward = cuda_row_norm_half_backward,
    .attention = cuda_attention,
    .attention_backward = cuda_attention_backward,
    .attention_half = true,
    .random = cuda_random,
    .cross_entropy = cuda_cross_entropy,
    .cross_entropy_backward = cuda_cross_entropy_backward,
    .linear_fused = cuda_linear_fused,
    .linear_weight_grad = cuda_linear_weight_grad,
    .attention_strided_io = true,
    .graph_begin = cuda_graph_begin,
    .graph_end = cuda_graph_end,
    .graph_replay = cuda_graph_replay,
    .graph_free = cuda_graph_free,
    .adam_multi_device_scalars = true,
    .reduce_half_in = true,
    .amp_unscale_multi = cuda_amp_unscale_multi,
};

__attribute__((visibility("default"))) born_status born_plugin_open(const born_plugin_host *host,
                                                                    born_plugin_info *info);

born_status born_plugin_open(const born_plugin_host *host, born_plugin_info *info) {
    memset(info, 0, sizeof *info);
    if (!host || host->abi != BORN_PLUGIN_ABI || host->backend_size != sizeof(born_backend)) {
        snprintf(info->why, sizeof info->why,
                 "libborn-cuda.so was built for another version of libborn (plugin ABI %d, "
                 "libborn ABI %d)", BORN_PLUGIN_ABI, host ? host->abi : -1);
        return BORN_ERR_UNSUPPORTED;
    }
    cuda_host = host;
    info->backend = &cuda_vtable;
    info->memory_stats = cuda_mem_stats;
    info->empty_cache = cuda_mem_empty_cache;
    info->llm = &cuda_llm_ops;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(info->why, sizeof info->why, "the CUDA runtime found no usable driver or GPU "
                 "(cudaGetDeviceCount: %s)", cudaGetErrorString(e));
        return BORN_OK;
    }
    if (n <= 0) {
        snprintf(info->why, sizeof info->why, "no CUDA GPU found");
        return BORN_OK;
    }
    cuda_devices = calloc((size_t)n, sizeof *cuda_devices);
    if (!cuda_devices || cuda_mem_init(n) != BORN_OK) {
        snprintf(info->why, sizeof info->why, "out of host memory setting up %d CUDA devices", n);
        return BORN_OK;
    }
    for (int i = 0; i < n; i++) {
        cuda_device *d = &cuda_devices[i];
        struct cudaDeviceProp prop;
        if ((e = cudaSetDevice(i)) != cudaSuccess ||
            (e = cudaGetDeviceProperties(&prop, i)) != cudaSuccess ||
            (e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking)) != cudaSuccess ||
            (e = cudaMalloc((void **)&d->flag, sizeof(int))) != cudaSuccess ||
            (e = cudaMalloc((void **)&d->index_flag, sizeof(long long))) != cudaSuccess ||
            (e = cudaMalloc((void **)&d->deferred, sizeof *d->deferred)) != cudaSuccess ||
            (e = cudaMemsetAsync(d->deferred, 0, sizeof *d->deferred, d->stream)) != cudaSuccess ||
            (e = cudaHostAlloc((void **)&d->deferred_host, sizeof *d->deferred_host,
                               cudaHostAllocDefault)) != cudaSuccess) {
            (void)cudaGetLastError();
            snprintf(info->why, sizeof info->why, "cuda:%d could not be set up: %s", i,
                     cudaGetErrorString(e));
            return BORN_OK;
        }
        *d->deferred_host = 0;
        d->sm_count = prop.multiProcessorCount;
        d->total_memory = prop.totalGlobalMem;
        snprintf(d->name, sizeof d->name, "%s", prop.name);
    }
    cudaSetDevice(0);
    cuda_device_count = n;
    info->device_count = n;
    return BORN_OK;
}
