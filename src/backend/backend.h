/* Internal: the backend seam (layer 2). One vtable per device type; the ops layer validates,
 * allocates and then calls exactly one entry here, so a new device implements these functions and
 * nothing else. The CPU backend (src/backend/cpu/) implements all of them; a device plugin may
 * leave an entry NULL, and the op then reports BORN_ERR_UNSUPPORTED naming the device.
 *
 * Kernels see tensors as born_strided: a data pointer to element [0, ..., 0] plus shape and
 * strides in elements (zero strides for broadcast dimensions). Shapes and dtypes have been checked
 * by the caller; kernels only fail on conditions that need the data (an index out of range). */
#ifndef BORN_BACKEND_H
#define BORN_BACKEND_H

#include "backend/optim_step.h"
#include "born/ops.h"
#include "core/error.h"
#include "core/tensor_impl.h"

typedef struct born_strided {
    void *data;
    born_dtype dtype;
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    int64_t strides[BORN_MAX_DIMS];
} born_strided;

/* One parameter of a multi-tensor Adam step (born_backend's adam_step_multi): its four tensors
 * (contiguous, one shape and dtype) and its arguments (amsgrad false). */
typedef struct born_adam_multi_item {
    born_strided param, grad, exp_avg, exp_avg_sq;
    born_adam_step_args args;
    /* Optional (NULL: args alone; honoured where born_backend's adam_multi_device_scalars): the
     * parameter's f32 step count in device memory, which the update increments and then uses, and
     * the learning rate (one f64 in device memory); args' step_size, bias_correction2_sqrt and
     * the decoupled decay are then computed on the device from them, as src/optim/adam.c computes
     * them, so that a captured step (CUDA graphs) needs nothing from the host between replays. */
    float *device_step;
    const double *device_lr;
    /* Optional (NULL: always update; honoured where adam_multi_device_scalars): one f32 in device
     * memory, the GradScaler's found_inf; when it is not 0 the update changes nothing, the step
     * counts included, so a skipped step needs no read-back (one value for all items of a call). */
    const float *found_inf;
} born_adam_multi_item;

/* The strided description of t. */
born_strided strided_of(const born_tensor *t);

/* t described with shape `shape` (ndim >= t's), broadcasting with zero strides. */
born_strided strided_broadcast(const born_tensor *t, int ndim, const int64_t *shape);

/* Whether s's elements fill *count consecutive slots from its first as a permuted contiguous
 * tensor's do (a transposed view of a contiguous tensor: dense in another order), leaving out
 * its size-1 dimensions and, where skip_broadcast, its broadcast (zero-stride) ones. */
bool strided_dense(const born_strided *s, bool skip_broadcast, int64_t *count);

typedef enum born_reduce_op {
    BORN_REDUCE_SUM = 0,
    BORN_REDUCE_PROD,
    BORN_REDUCE_MAX, /* NaN propagates */
    BORN_REDUCE_MIN,
    BORN_REDUCE_ANY, /* out is bool */
    BORN_REDUCE_ALL
} born_reduce_op;

typedef enum born_random_kind {
    BORN_RANDOM_UNIFORM = 0, /* [a, b) */
    BORN_RANDOM_NORMAL,      /* mean a, std b */
    BORN_RANDOM_INTEGER      /* [a, b) as integers */
} born_random_kind;

/* Convolution geometry shared by the three conv kernels. */
typedef struct born_conv2d_geometry {
    int64_t batch, in_channels, in_h, in_w;
    int64_t out_channels, out_h, out_w;
    int64_t kernel_h, kernel_w;
    int64_t stride[2], padding[2], dilation[2];
    int64_t groups;
} born_conv2d_geometry;

/* Pooling geometry shared by the pooling kernels (planes = N * C). */
typedef struct born_pool2d_geometry {
    int64_t planes, in_h, in_w, out_h, out_w;
    int64_t kernel[2], stride[2], padding[2], dilation[2];
    bool count_include_pad;
    int64_t divisor_override;
} born_pool2d_geometry;

/* Scaled dot-product attention geometry and options for the attention kernels. Query i of a
 * (batch, head) row may see key j when the mask allows it and, if causal, j <= kv_offset + i.
 * Query head h reads key/value head h / (q_heads / kv_heads) (GQA without copies). Dropout keeps
 * probability (b, h, i, j) when the Philox uniform at counter rng_offset + ((b H + h) L + i) S + j
 * of stream seed is >= dropout_p, and scales kept ones by 1 / (1 - dropout_p). */
typedef struct born_attention_args {
    int64_t batch, q_heads, kv_heads, q_len, kv_len, head_dim, v_dim;
    double scale;
    bool causal;
    int64_t kv_offset;
    int mask_kind; /* 0 none, 1 bool (true = attend), 2 additive (added to the scaled scores) */
    double dropout_p;
    uint64_t seed, rng_offset;
    int64_t block_q, block_kv; /* tile sizes; 0 = the kernel's choice */
} born_attention_args;

typedef struct born_backend {
    const char *name;

    /* Memory: device-local allocations, and copies between host memory and the device. */
    void *(*alloc)(int device_index, size_t nbytes);
    void (*free)(int device_index, void *ptr);
    born_status (*upload)(int device_index, void *dst, const void *src, size_t nbytes);
    born_status (*download)(int device_index, void *dst, const void *src, size_t nbytes);
    born_status (*synchronize)(int device_index);
    /* Copies nbytes from one device of this backend to another (NULL where the backend has one
     * device); ordered after the work queued on both. */
    born_status (*peer_copy)(int dst_index, void *dst, int src_index, const void *src,
                             size_t nbytes);

    /* dst = src elementwise, converting dtypes; shapes equal (src may be broadcast). */
    born_status (*copy)(const born_strided *dst, const born_strided *src);
    /* dst = value converted to dst's dtype. */
    born_status (*fill)(const born_strided *dst, double value);
    /* out = op(in); in has the op's compute dtype, out its result dtype; shapes equal. */
    born_status (*unary)(born_unary_op op, const born_strided *out, const born_strided *in,
                         const born_unary_params *params);
    /* out = op(a, b); a and b share one dtype; shapes equal (broadcast by zero strides). */
    born_status (*binary)(born_binary_op op, const born_strided *out, const born_strided *a,
                          const born_strided *b);
    /* out = cond ? a : b; cond bool, a/b/out one dtype; shapes equal. */
    born_status (*where)(const born_strided *out, const born_strided *cond, const born_strided *a,
                         const born_strided *b);
    /* out = reduction of in over the dimensions whose bit is set in dims_mask; out has in's ndim
     * with those dimensions of size 1. in and out share a dtype except for ANY/ALL (out bool). */
    born_status (*reduce)(born_reduce_op op, const born_strided *out, const born_strided *in,
                          uint32_t dims_mask);
    /* out (i64, in's shape with dim of size 1) = index of the first max (or min) along dim. */
    born_status (*arg_reduce)(bool is_max, const born_strided *out, const born_strided *in,
                              int dim);
    /* out = softmax or log_softmax of in along dim (floating, same shape). */
    born_status (*softmax)(bool log, const born_strided *out, const born_strided *in, int dim);
    /* grad_in from grad_out and the forward output y along dim. */
    born_status (*softmax_backward)(bool log, const born_strided *grad_in,
                                    const born_strided *grad_out, const born_strided *y, int dim);
    /* out = running sum of in along dim (same dtype, same shape). */
    born_status (*cumsum)(const born_strided *out, const born_strided *in, int dim);
    /* out[..., m, n] = sum_k a[..., m, k] * b[..., k, n]; all three have one ndim >= 2 and one
     * batch shape (broadcast by zero strides), one dtype; out is contiguous. */
    born_status (*matmul)(const born_strided *out, const born_strided *a, const born_strided *b);
    /* out = in gathered along dim by index (i64, out's shape). */
    born_status (*gather)(const born_strided *out, const born_strided *in,
                          const born_strided *index, int dim);
    /* out[... index[i] ...] += src[i] along dim (out already holds the base values). */
    born_status (*scatter_add)(const born_strided *out, const born_strided *index,
                               const born_strided *src, int dim);
    /* out = in's entries at the 1-D i64 index along dim. */
    born_status (*index_select)(const born_strided *out, const born_strided *in,
                                const born_strided *index, int dim);
    /* out's entries at the 1-D i64 index along dim += src (index_select's adjoint). */
    born_status (*index_add)(const born_strided *out, const born_strided *index,
                             const born_strided *src, int dim);
    /* values/indices (either may have data NULL) = in sorted along dim, stable. */
    born_status (*sort)(const born_strided *values, const born_strided *indices,
                        const born_strided *in, int dim, bool descending);
    /* the k largest/smallest along dim (outputs have size k there). */
    born_status (*topk)(const born_strided *values, const born_strided *indices,
                        const born_strided *in, int64_t k, int dim, bool largest, bool sorted);
    /* Convolution: forward, and the gradients for input and for weight. All contiguous. */
    born_status (*conv2d)(const born_strided *out, const born_strided *in,
                          const born_strided *weight, const born_strided *bias,
                          const born_conv2d_geometry *g);
    born_status (*conv2d_backward_input)(const born_strided *grad_in,
                                         const born_strided *grad_out,
                                         const born_strided *weight,
                                         const born_conv2d_geometry *g);
    born_status (*conv2d_backward_weight)(const born_strided *grad_weight,
                                          const born_strided *grad_out, const born_strided *in,
                                          const born_conv2d_geometry *g);
    /* Pooling over contiguous [planes, H, W]: max (indices i64 within each plane) and average,
     * forward and backward (grad_in is zeroed by the kernel). */
    born_status (*max_pool2d)(const born_strided *out, const born_strided *indices,
                              const born_strided *in, const born_pool2d_geometry *g);
    born_status (*max_pool2d_backward)(const born_strided *grad_in, const born_strided *grad_out,
                                       const born_strided *indices,
                                       const born_pool2d_geometry *g);
    born_status (*avg_pool2d)(const born_strided *out, const born_strided *in,
                              const born_pool2d_geometry *g);
    born_status (*avg_pool2d_backward)(const born_strided *grad_in, const born_strided *grad_out,
                                       const born_pool2d_geometry *g);
    /* Fills contiguous out with Philox numbers for stream (seed, offset); element i uses
     * counter offset + i, so results do not depend on threads or devices. */
    born_status (*random)(const born_strided *out, born_random_kind kind, uint64_t seed,
                          uint64_t offset, double a, double b);
    /* Optimizer updates, in place and fused (one pass over memory): the parameter, its gradient
     * (read only) and the state tensors share one shape and one floating dtype; the state tensors
     * do not overlap the others, and an absent one has data NULL. The math, the rounding of each
     * scalar and which state is absent when are in src/backend/optim_step.h (torch's
     * _single_tensor_* algorithms). Results must not depend on the thread count. */
    born_status (*sgd_step)(const born_strided *param, const born_strided *grad,
                            const born_strided *momentum_buffer,
                            const born_sgd_step_args *args);
    born_status (*adam_step)(const born_strided *param, const born_strided *grad,
                             const born_strided *exp_avg, const born_strided *exp_avg_sq,
                             const born_strided *max_exp_avg_sq,
                             const born_adam_step_args *args);
    /* Optional (NULL where absent): adam_step over count parameters of one device and one dtype
     * (f32, f16 or bf16) in one launch or a few, each item's tensors contiguous, amsgrad false;
     * the arithmetic of adam_step element for element. */
    born_status (*adam_step_multi)(int64_t count, const born_adam_multi_item *items);
    born_status (*rmsprop_step)(const born_strided *param, const born_strided *grad,
                                const born_strided *square_avg, const born_strided *grad_avg,
                                const born_strided *momentum_buffer,
                                const born_rmsprop_step_args *args);
    /* Normalization of the rows of x, a contiguous [rows, n] tensor (f32 or f64; out likewise):
     * layer norm  out = (x - mean) * rstd * weight + bias,  rstd = 1 / sqrt(var + eps)
     * RMS norm    out = x * rstd * weight,                  rstd = 1 / sqrt(mean(x^2) + eps)
     * with the biased variance. weight and bias are contiguous [n] of x's dtype, or have data
     * NULL (absent). mean and rstd receive each row's statistics ([rows] of x's dtype) unless
     * their data is NULL; the RMS form writes no mean. */
    born_status (*row_norm)(bool rms, const born_strided *out, const born_strided *mean,
                            const born_strided *rstd, const born_strided *x,
                            const born_strided *weight, const born_strided *bias, double eps);
    /* The input gradient of row_norm from grad_out, x, the forward's mean (layer norm only) and
     * rstd, and weight (data NULL when absent); all contiguous, one dtype. */
    born_status (*row_norm_backward)(bool rms, const born_strided *grad_x,
                                     const born_strided *grad_out, const born_strided *x,
                                     const born_strided *mean, const born_strided *rstd,
                                     const born_strided *weight);
    /* Optional (NULL keeps row_norm_backward plus compositions for the parameters): the f32/f64
     * row norm's gradients in one pass over the rows: grad_x as row_norm_backward's, grad_weight
     * = sum over rows of grad_out * xhat and grad_bias = sum over rows of grad_out ([n] of x's
     * dtype, summed in an order fixed by the shape); outputs with data NULL are not written. */
    born_status (*row_norm_grads)(bool rms, const born_strided *grad_x,
                                  const born_strided *grad_weight, const born_strided *grad_bias,
                                  const born_strided *grad_out, const born_strided *x,
                                  const born_strided *mean, const born_strided *rstd,
                                  const born_strided *weight);
    /* Optional (NULL where absent): row_norm for f16/bf16 x and out computed in f32 with no f32
     * copy of x; weight and bias (data NULL when absent) have x's dtype, mean and rstd are f32. */
    born_status (*row_norm_half)(bool rms, const born_strided *out, const born_strided *mean,
                                 const born_strided *rstd, const born_strided *x,
                                 const born_strided *weight, const born_strided *bias, double eps);
    /* Optional: row_norm_half's gradients in one pass: grad_x (x's dtype) as row_norm_backward's,
     * and grad_weight = sum over rows of grad_out * xhat, grad_bias = sum over rows of grad_out
     * (f32 [n], summed in an order fixed by the shape); outputs with data NULL are not written. */
    born_status (*row_norm_half_backward)(bool rms, const born_strided *grad_x,
                                          const born_strided *grad_weight,
                                          const born_strided *grad_bias,
                                          const born_strided *grad_out, const born_strided *x,
                                          const born_strided *mean, const born_strided *rstd,
                                          const born_strided *weight);
    /* Optional (NULL: the composition of ops): batch normalisation in training of x, a contiguous
     * f32 [N, C, S] tensor (S the product of the dimensions after C; out likewise): each
     * channel's mean and biased variance over N and S into mean and var ([C] f32), then
     * out = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps), weight and bias
     * contiguous [C] or data NULL (absent). */
    born_status (*batch_norm)(const born_strided *out, const born_strided *mean,
                              const born_strided *var, const born_strided *x,
                              const born_strided *weight, const born_strided *bias, double eps);
    /* Optional, beside batch_norm: its gradients from grad_out and the forward's x, mean and var
     * (with eps) and weight: grad_x ([N, C, S]), grad_weight = the sum over N and S of grad_out *
     * xhat and grad_bias = that of grad_out ([C], summed in an order fixed by the shape); outputs
     * with data NULL are not written. */
    born_status (*batch_norm_backward)(const born_strided *grad_x, const born_strided *grad_weight,
                                       const born_strided *grad_bias, const born_strided *grad_out,
                                       const born_strided *x, const born_strided *mean,
                                       const born_strided *var, const born_strided *weight,
                                       double eps);
    /* The input gradient of a unary activation in one pass: grad_in = grad_out * f'(x), where x
     * is the forward's input and y its output (read only by tanh, sigmoid and elu; for the other
     * ops the caller may pass x again), with the forward's params. op is one of relu,
     * leaky_relu, elu, softplus, sigmoid, tanh, silu, gelu and gelu_tanh. All four tensors share
     * one shape and one floating dtype (f16/bf16 compute in f32); grad_in is contiguous and
     * overlaps none of the others; the inputs may have any strides. The formula of each op is
     * that of its composite rule in src/ops/unary.c, except that relu, leaky_relu, elu and
     * softplus pass or scale grad_out by a select (so relu gives +0, never NaN, where x <= 0),
     * and gelu takes Phi(x) from erfc rather than erf + 1 (which loses Phi below x = -4).
     * Results must not depend on the thread count. */
    born_status (*unary_backward)(born_unary_op op, const born_strided *grad_in,
                                  const born_strided *grad_out, const born_strided *x,
                                  const born_strided *y, const born_unary_params *params);
    /* A product with a block-quantized weight: out[m, n] = sum_k x[m, k] * dequant(w)[n, k]
     * (+ bias[n]). w is a quantized [N, K] matrix whose rows are whole (stride 1 along K; any
     * row stride, in elements); x is f32 [M, K] and out f32 [M, N], both with stride 1 along
     * their last dimension; bias is f32 [N] contiguous, or has data NULL. Each x row is
     * quantized once to w's vec_dot type and each output is one vec_dot of a weight row with it
     * (integer products inside blocks; the weight is never dequantized), so results do not
     * depend on the thread count. */
    born_status (*linear_quant)(const born_strided *out, const born_strided *x,
                                const born_strided *w, const born_strided *bias);
    /* Attention (flash style: tiled, online softmax, no L x S matrix): q [B, Hq, L, E],
     * k [B, Hkv, S, E], v [B, Hkv, S, Ev] with any strides, one floating dtype (f32 or f64);
     * mask [B, Hq, L, S] (broadcast by zero strides; bool or q's dtype; data NULL if none);
     * out [B, Hq, L, Ev] and lse [B, Hq, L] (the log-sum-exp of each row's scaled, masked
     * scores; -inf for a row that sees no key, whose output is 0) contiguous. */
    born_status (*attention)(const born_strided *out, const born_strided *lse,
                             const born_strided *q, const born_strided *k, const born_strided *v,
                             const born_strided *mask, const born_attention_args *args);
    /* Its gradients from grad_out (contiguous, out's shape), the forward's out and lse: dq, dk,
     * dv contiguous, shaped like q, k, v (written, not accumulated). */
    born_status (*attention_backward)(const born_strided *dq, const born_strided *dk,
                                      const born_strided *dv, const born_strided *grad_out,
                                      const born_strided *q, const born_strided *k,
                                      const born_strided *v, const born_strided *mask,
                                      const born_strided *out, const born_strided *lse,
                                      const born_attention_args *args);
    /* True when the attention entries also take f16/bf16 operands (accumulating in f32): out,
     * grad_out and the gradients are then in q's dtype and lse is f32. */
    bool attention_half;
    /* Cross-entropy fused (optional; NULL keeps the composition of log_softmax and gather):
     * logits x [N, C] of a floating dtype with stride 1 along C, i64 targets [N] (each in [0, C)
     * or ignore_index); loss [N] and lse [N] contiguous in the compute type (f64 for f64, else
     * f32): lse_i = log sum_c exp(x[i, c]), loss_i = lse_i - x[i, t_i], 0 where ignored. */
    born_status (*cross_entropy)(const born_strided *loss, const born_strided *lse,
                                 const born_strided *x, const born_strided *target,
                                 int64_t ignore_index);
    /* Its gradient: grad_x [N, C] contiguous in x's dtype = g_i (exp(x[i, c] - lse_i) - [c ==
     * t_i]), zero rows where ignored; g [N] (any stride) and lse in the compute type. */
    born_status (*cross_entropy_backward)(const born_strided *grad_x, const born_strided *x,
                                          const born_strided *target, const born_strided *lse,
                                          const born_strided *g, int64_t ignore_index);
    /* A linear layer's product with its epilogue fused (optional; NULL keeps matmul + add):
     * out [R, N] = x [R, K] w^T + bias, w [N, K], and with gelu_tanh true also pre = that sum
     * and out = gelu_tanh(pre). x, w, bias, out and pre share one dtype (f32, f16 or bf16);
     * x has stride 1 along K (any row stride), w, bias, out and pre are contiguous; bias has data
     * NULL when absent. Returns BORN_ERR_UNSUPPORTED, recording no error, when the device
     * library has no fused form for these shapes, and the caller then composes the layer. */
    born_status (*linear_fused)(const born_strided *out, const born_strided *pre,
                                const born_strided *x, const born_strided *w,
                                const born_strided *bias, bool gelu_tanh);
    /* A linear layer's parameter gradients in one product (optional): grad_w [N, K] = g^T x
     * and grad_bias [N] = the sum of g's rows (data NULL: not computed), for g [R, N] and
     * x [R, K] with stride 1 along their last dim; grad_w and grad_bias contiguous, all one
     * dtype. BORN_ERR_UNSUPPORTED (no error recorded) as linear_fused. */
    born_status (*linear_weight_grad)(const born_strided *grad_w, const born_strided *grad_bias,
                                      const born_strided *g, const born_strided *x);
    /* True when the attention entries also take out, grad_out, dq, dk and dv as 4-d views with
     * any strides (stride 1 along the head dimension), so the ops layer can write them in the
     * [B, T, H, D] layout of the projections that q, k and v are views of (no copies). */
    bool attention_strided_io;
    /* CUDA graphs (optional; NULL where the device cannot capture, see include/born/graph.h):
     * graph_begin starts capturing the work this thread queues for the device (allocations come
     * from a pool private to the graph; whatever waits for the device or copies between host and
     * device fails, naming itself); graph_end stops it and, with keep, returns the instantiated
     * graph in *graph (else discards it, as on any error); graph_replay queues one run of it;
     * graph_free waits for its runs and releases it and its pool. */
    born_status (*graph_begin)(int device_index);
    born_status (*graph_end)(int device_index, bool keep, void **graph);
    born_status (*graph_replay)(int device_index, void *graph);
    void (*graph_free)(int device_index, void *graph);
    /* True when adam_step_multi honours its items' device_step, device_lr and found_inf. */
    bool adam_multi_device_scalars;
    /* True when reduce also takes an f16/bf16 in with an f32 out for SUM, PROD, MAX and MIN
     * (reading the halves into its f32 accumulator), so the ops layer need not convert in first. */
    bool reduce_half_in;
    /* True when binary also takes an f16/bf16 a or b beside an f32 other with an f32 out (the
     * half read into f32 as the ops layer's conversion would give it), so the ops layer need
     * not convert it first (autocast's f32 residual plus a bf16 branch). */
    bool binary_half_operand;
    /* True when matmul also takes bf16 a and b with an f32 out (f32 accumulation), so the ops
     * layer need not convert them first (the CPU's bf16 GEMM, gemm_bf16.c). */
    bool matmul_bf16_in;
    /* True when matmul also takes f16 a and b with an f32 out (the CPU reads a few rows' weights
     * as halves, and converts the rest in their own memory order), so the ops layer need not. */
    bool matmul_f16_in;
    /* True when matmul also takes bf16 a and b with a bf16 out: each f32 sum rounded once to
     * nearest even, the bits of an f32 out converted after (so the ops layer need not). */
    bool matmul_bf16_out;
    /* Optional (NULL: the ops layer adds the bias to an f32 product and rounds after): a linear
     * layer's bf16 result, out [m, n] (contiguous) = a [m, k] b [k, n] + bias with a and b bf16
     * (any strides; b is the weight's transpose) and bias n contiguous floats: each f32 sum plus
     * its column's bias rounded once, the bits of the f32 product, the f32 add and the
     * conversion. */
    born_status (*matmul_bf16_bias)(const born_strided *out, const born_strided *a,
                                    const born_strided *b, const float *bias);
    /* Optional (NULL: src/optim/amp_tensors.c composes it from ordinary ops): dynamic loss
     * scaling's unscale over count gradients of one device (contiguous, floating): each is
     * multiplied in place by inv = (f32)(1 / (f64)*scale) (f32 arithmetic for f32/f16/bf16, f64
     * for f64, as the binary mul of a tensor by an f32 0-dim tensor), and *found_inf is set to 1
     * when any product (as stored) is inf or NaN, left as it is otherwise. scale and found_inf
     * are single f32 values in that device's memory, read and written by the device alone. */
    born_status (*amp_unscale_multi)(int64_t count, const born_strided *grads, float *found_inf,
                                     const float *scale);
} born_backend;

/* The backend serving device (NULL + error naming the device if none is available). */
const born_backend *backend_for(born_device device);

/* The CPU backend (always present). */
const born_backend *cpu_backend(void);

#endif
