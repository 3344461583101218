/* Internal to the CUDA plugin (C side): per-device state, error reporting through the host
 * table, the caching allocator and the backend entries. Everything a device does is queued on
 * one stream per device, so work, frees and reuses of memory are ordered without events; the host
 * waits only when it reads data back (download) or asks to (synchronize). */
#ifndef BORN_CUDA_INTERNAL_H
#define BORN_CUDA_INTERNAL_H

#include <cuda_runtime_api.h>

#include "backend/backend.h"
#include "backend/cuda/kernels.h"
#include "backend/plugin.h"

#if defined(__GNUC__) || defined(__clang__)
#define CUDA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CUDA_PRINTF(a, b)
#endif

typedef struct cuda_device {
    cudaStream_t stream;
    int *flag; /* one device int for kernels that report bad data (integer division by zero) */
    long long *index_flag; /* the first index out of range met, with bit 63 set */
    /* CUDA graphs (graph.c): whether this device's stream is capturing, and the deferred checks
     * of captured index ops: the first bad index met at a replay lands in *deferred (site and
     * value, bit 63 set), copied to *deferred_host and reported at the next host sync */
    bool capturing;
    bool deferred_armed;
    unsigned long long *deferred, *deferred_host;
    int sm_count;
    size_t total_memory;
    char name[256];
} cuda_device;

extern const born_plugin_host *cuda_host;
extern cuda_device *cuda_devices;
extern int cuda_device_count;

/* Records an error through libborn (formatted here); returns status. */
born_status cuda_error(born_status status, const char *fmt, ...) CUDA_PRINTF(2, 3);

/* BORN_OK for cudaSuccess, else records "what: <CUDA's message>" as a device error (and clears
 * CUDA's non-sticky error state). */
born_status cuda_check(cudaError_t e, const char *what);

/* The stream of device dev, after making dev current on this thread. */
cudaStream_t cuda_stream(int dev);

/* The device that holds ptr (0 when there is only one device). */
int cuda_device_of(const void *ptr);

/* The multiprocessors of device dev, read once at start-up (0 for no such device). */
int cuda_sm_count(int dev);

/* The caching allocator (memory.c). */
typedef struct cuda_mem_pool cuda_mem_pool;
born_status cuda_mem_init(int ndev);
/* A graph's private pool on dev (NULL when out of host memory); while it is the capture pool of
 * dev (cuda_mem_capture_into, NULL to stop) allocations come from it and blocks freed join it.
 * cuda_mem_pool_release hands its blocks to the device's cache and frees it. */
cuda_mem_pool *cuda_mem_pool_new(int dev);
void cuda_mem_capture_into(int dev, cuda_mem_pool *p);
void cuda_mem_pool_release(cuda_mem_pool *p);
void *cuda_mem_alloc(int dev, size_t nbytes);
void cuda_mem_free(int dev, void *ptr);
born_status cuda_mem_stats(int dev, born_cuda_mem_stats *stats);
born_status cuda_mem_empty_cache(int dev);

/* CUDA graphs (graph.c): the backend entries, and for the other entries: an error naming what
 * when dev is capturing (BORN_OK otherwise); a deferred-check site for a captured index op (its
 * tag for the kernel's flag, 0 when the table is full); and the check of the deferred flag after
 * a host sync (an error naming the op whose index was out of range). */
born_status cuda_graph_begin(int dev);
born_status cuda_graph_end(int dev, bool keep, void **graph);
born_status cuda_graph_replay(int dev, void *graph);
void cuda_graph_free(int dev, void *graph);
born_status cuda_capture_forbids(int dev, const char *what);
/* A pinned copy of nbytes at src owned by the graph dev is capturing (NULL when out of memory). */
void *cuda_graph_host_copy(int dev, const void *src, size_t nbytes);
unsigned long long cuda_defer_site(int dev, const char *op, int dim, long long size);
born_status cuda_deferred_check(int dev);

/* The LLM decoder (llm_decode.c), born_plugin_info's llm. */
extern const llm_device_ops cuda_llm_ops;

/* Host <-> device and device <-> device copies (memory.c). */
born_status cuda_upload(int dev, void *dst, const void *src, size_t nbytes);
born_status cuda_download(int dev, void *dst, const void *src, size_t nbytes);
born_status cuda_synchronize(int dev);
born_status cuda_peer_copy(int dst_dev, void *dst, int src_dev, const void *src, size_t nbytes);

/* Backend entries (ops.c, gemm.c). */
born_status cuda_copy(const born_strided *dst, const born_strided *src);
born_status cuda_fill(const born_strided *dst, double value);
born_status cuda_unary(born_unary_op op, const born_strided *out, const born_strided *in,
                       const born_unary_params *params);
born_status cuda_binary(born_binary_op op, const born_strided *out, const born_strided *a,
                        const born_strided *b);
born_status cuda_where(const born_strided *out, const born_strided *cond, const born_strided *a,
                       const born_strided *b);
born_status cuda_reduce(born_reduce_op op, const born_strided *out, const born_strided *in,
                        uint32_t dims_mask);
born_status cuda_arg_reduce(bool is_max, const born_strided *out, const born_strided *in, int dim);
born_status cuda_softmax(bool log, const born_strided *out, const born_strided *in, int dim);
born_status cuda_softmax_backward(bool log, const born_strided *grad_in,
                                  const born_strided *grad_out, const born_strided *y, int dim);
born_status cuda_unary_backward(born_unary_op op, const born_strided *grad_in,
                                const born_strided *grad_out, const born_strided *x,
                                const born_strided *y, const born_unary_params *params);
born_status cuda_gather(const born_strided *out, const born_strided *in, const born_strided *index,
                        int dim);
born_status cuda_scatter_add(const born_strided *out, const born_strided *index,
                             const born_strided *src, int dim);
born_status cuda_index_select(const born_strided *out, const born_strided *in,
                              const born_strided *index, int dim);
born_status cuda_index_add(const born_strided *out, const born_strided *index,
                           const born_strided *src, int dim);
born_status cuda_sgd_step(const born_strided *param, const born_strided *grad,
                          const born_strided *momentum_buffer, const born_sgd_step_args *args);
born_status cuda_adam_step(const born_strided *param, const born_strided *grad,
                           const born_strided *exp_avg, const born_strided *exp_avg_sq,
                           const born_strided *max_exp_avg_sq, const born_adam_step_args *args);
born_status cuda_adam_step_multi(int64_t count, const born_adam_multi_item *items);
born_status cuda_matmul(const born_strided *out, const born_strided *a, const born_strided *b);
born_status cuda_linear_fused(const born_strided *out, const born_strided *pre,
                              const born_strided *x, const born_strided *w,
                              const born_strided *bias, bool gelu_tanh);
born_status cuda_linear_weight_grad(const born_strided *grad_w, const born_strided *grad_bias,
                                    const born_strided *gout, const born_strided *x);
/* out [n, rows] (f32, rows ldo floats apart) = x [n, k] w^T, plus out's old values when
 * accumulate: w [rows, k] and x dense in one type t (f32 as exact f32 products; f16 / bf16 with
 * f32 accumulation), for the LLM's batched prompt. Queued on dev's stream; errors recorded. */
born_status cuda_gemm_xwt(int dev, born_dtype t, const void *w, int64_t rows, const void *x,
                          int64_t n, int64_t k, float *out, int64_t ldo, bool accumulate);

/* Layer entries (nn_ops.c, conv.c). */
born_status cuda_row_norm(bool rms, const born_strided *out, const born_strided *mean,
                          const born_strided *rstd, const born_strided *x,
                          const born_strided *weight, const born_strided *bias, double eps);
born_status cuda_row_norm_backward(bool rms, const born_strided *grad_x,
                                   const born_strided *grad_out, const born_strided *x,
                                   const born_strided *mean, const born_strided *rstd,
                                   const born_strided *weight);
born_status cuda_row_norm_half(bool rms, const born_strided *out, const born_strided *mean,
                               const born_strided *rstd, const born_strided *x,
                               const born_strided *weight, const born_strided *bias, double eps);
born_status cuda_row_norm_half_backward(bool rms, const born_strided *grad_x,
                                        const born_strided *grad_weight,
                                        const born_strided *grad_bias, const born_strided *grad_out,
                                        const born_strided *x, const born_strided *mean,
                                        const born_strided *rstd, const born_strided *weight);
born_status cuda_max_pool2d(const born_strided *out, const born_strided *indices,
                            const born_strided *in, const born_pool2d_geometry *g);
born_status cuda_max_pool2d_backward(const born_strided *grad_in, const born_strided *grad_out,
                                     const born_strided *indices, const born_pool2d_geometry *g);
born_status cuda_avg_pool2d(const born_strided *out, const born_strided *in,
                            const born_pool2d_geometry *g);
born_status cuda_avg_pool2d_backward(const born_strided *grad_in, const born_strided *grad_out,
                                     const born_pool2d_geometry *g);
born_status cuda_conv2d(const born_strided *out, const born_strided *in, const born_strided *weight,
                        const born_strided *bias, const born_conv2d_geometry *g);
born_status cuda_conv2d_backward_input(const born_strided *grad_in, const born_strided *grad_out,
                                       const born_strided *weight, const born_conv2d_geometry *g);
born_status cuda_conv2d_backward_weight(const born_strided *grad_weight,
                                        const born_strided *grad_out, const born_strided *in,
                                        const born_conv2d_geometry *g);

#endif
