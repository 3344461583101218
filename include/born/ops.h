/* Born ops (layer 3): the public tensor operations.
 *
 * Every op returns a new reference (owned by the innermost scope, else by the caller) or NULL with
 * an error recorded (born_last_error) that names the op, the shapes and the dtypes. An op given a
 * NULL input returns NULL and keeps the first error, so a chain needs one check at its end. Ops
 * never modify their inputs, except those whose name ends in '_' or '_out', which write into
 * their first argument. When grad mode is on and an input requires grad, the op records how to
 * differentiate it (see autograd.h).
 *
 * Dtypes follow PyTorch: binary ops compute in the promoted type of their inputs (0-dim tensors
 * count less than tensors with dimensions, as in torch.result_type); ops that only make sense on
 * real numbers (exp, sigmoid, true division, ...) turn integer and bool inputs into f32. A `double`
 * scalar argument behaves as a Python float: it keeps a float tensor's dtype and turns integer and
 * bool tensors into f32. To keep an integer dtype, pass a 0-dim tensor (born_scalar) instead. */
#ifndef BORN_OPS_H
#define BORN_OPS_H

#include "born/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Views: share storage with the input; writes through a view are seen by the input.          */

/* The same data with a new shape; at most one size may be -1 (inferred). Fails when the strides
 * cannot express the new shape (use born_reshape, which copies then). */
BORN_API born_tensor *born_view(born_tensor *t, int ndim, const int64_t *shape);

/* As born_view when possible, else a contiguous copy with the new shape. */
BORN_API born_tensor *born_reshape(born_tensor *t, int ndim, const int64_t *shape);

/* Reorders dimensions: result dimension i is input dimension dims[i]. */
BORN_API born_tensor *born_permute(born_tensor *t, int ndim, const int64_t *dims);

/* Swaps two dimensions (negative dims count from the end). */
BORN_API born_tensor *born_transpose(born_tensor *t, int dim0, int dim1);

/* Elements start, start+step, ... below end along dim, with Python's slice rules: negative
 * start/end count from the end and out-of-range bounds are clamped. step must be positive. */
BORN_API born_tensor *born_slice(born_tensor *t, int dim, int64_t start, int64_t end,
                                 int64_t step);

/* length elements from start along dim (start may be negative). */
BORN_API born_tensor *born_narrow(born_tensor *t, int dim, int64_t start, int64_t length);

/* The sub-tensor at index along dim, with that dimension removed. */
BORN_API born_tensor *born_select(born_tensor *t, int dim, int64_t index);

/* Broadcasts size-1 dimensions (and new leading ones) to shape without copying; -1 keeps a size. */
BORN_API born_tensor *born_expand(born_tensor *t, int ndim, const int64_t *shape);

/* Removes dimension dim if its size is 1 (else returns a view unchanged), as torch.squeeze(dim). */
BORN_API born_tensor *born_squeeze(born_tensor *t, int dim);

/* Removes every dimension of size 1. */
BORN_API born_tensor *born_squeeze_all(born_tensor *t);

/* Inserts a dimension of size 1 at dim (dim may be ndim, or negative counting from ndim+1). */
BORN_API born_tensor *born_unsqueeze(born_tensor *t, int dim);

/* Merges dimensions start_dim..end_dim into one (a view when strides allow, else a copy). */
BORN_API born_tensor *born_flatten(born_tensor *t, int start_dim, int end_dim);

/* A view sharing t's data that does not require grad and has no history. */
BORN_API born_tensor *born_detach(born_tensor *t);

/* t itself as a new handle when already contiguous, else a contiguous copy. */
BORN_API born_tensor *born_contiguous(born_tensor *t);

/* A contiguous copy that never shares storage with t (differentiable). */
BORN_API born_tensor *born_clone(born_tensor *t);

/* t converted to dtype (a new handle sharing storage when the dtype is already dtype).
 * Float to integer truncates toward zero and saturates; NaN becomes 0. Differentiable between
 * floating dtypes. */
BORN_API born_tensor *born_to_dtype(born_tensor *t, born_dtype dtype);

/* t copied to device (a new handle sharing storage when already there). Differentiable. */
BORN_API born_tensor *born_to(born_tensor *t, born_device device);

/* ------------------------------------------------------------------------------------------ */
/* Elementwise                                                                                  */

typedef enum born_unary_op {
    BORN_UNARY_NEG = 0,
    BORN_UNARY_ABS,
    BORN_UNARY_SIGN,
    BORN_UNARY_SQUARE,
    BORN_UNARY_RECIPROCAL,
    BORN_UNARY_EXP,
    BORN_UNARY_EXP2,
    BORN_UNARY_EXPM1,
    BORN_UNARY_LOG,
    BORN_UNARY_LOG2,
    BORN_UNARY_LOG1P,
    BORN_UNARY_SQRT,
    BORN_UNARY_RSQRT,
    BORN_UNARY_SIN,
    BORN_UNARY_COS,
    BORN_UNARY_TAN,
    BORN_UNARY_TANH,
    BORN_UNARY_SIGMOID,
    BORN_UNARY_RELU,
    BORN_UNARY_GELU,      /* exact: x * Phi(x) */
    BORN_UNARY_GELU_TANH, /* tanh approximation */
    BORN_UNARY_SILU,
    BORN_UNARY_ERF,
    BORN_UNARY_FLOOR,
    BORN_UNARY_CEIL,
    BORN_UNARY_ROUND, /* half to even, as torch.round */
    BORN_UNARY_TRUNC,
    BORN_UNARY_LOGICAL_NOT,
    BORN_UNARY_ISNAN,
    BORN_UNARY_ISINF,
    BORN_UNARY_ISFINITE,
    /* parametrised by alpha/beta (born_unary_params) */
    BORN_UNARY_LEAKY_RELU, /* alpha: negative slope */
    BORN_UNARY_ELU,        /* alpha */
    BORN_UNARY_SOFTPLUS,   /* alpha: beta, beta: threshold */
    BORN_UNARY_CLAMP,      /* alpha: min, beta: max (either may be +-INFINITY) */
    BORN_UNARY_POW_SCALAR, /* alpha: exponent */
    BORN_UNARY_OP_COUNT
} born_unary_op;

typedef struct born_unary_params {
    double alpha;
    double beta;
} born_unary_params;

/* The generic forms behind the named functions below; params may be NULL for ops without any. */
BORN_API born_tensor *born_unary(born_unary_op op, born_tensor *t, const born_unary_params *params);

/* Writes op(t) into out, which must have t's shape and the op's result dtype; out may be t.
 * Not recorded by autograd: fails if grad mode is on and t or out requires grad. */
BORN_API born_status born_unary_out(born_unary_op op, born_tensor *out, born_tensor *t,
                                    const born_unary_params *params);

/* The short name of an op ("exp"); a static string. */
BORN_API const char *born_unary_op_name(born_unary_op op);

BORN_API born_tensor *born_neg(born_tensor *t);
BORN_API born_tensor *born_abs(born_tensor *t);
BORN_API born_tensor *born_sign(born_tensor *t);
BORN_API born_tensor *born_square(born_tensor *t);
BORN_API born_tensor *born_reciprocal(born_tensor *t);
BORN_API born_tensor *born_exp(born_tensor *t);
BORN_API born_tensor *born_exp2(born_tensor *t);
BORN_API born_tensor *born_expm1(born_tensor *t);
BORN_API born_tensor *born_log(born_tensor *t);
BORN_API born_tensor *born_log2(born_tensor *t);
BORN_API born_tensor *born_log1p(born_tensor *t);
BORN_API born_tensor *born_sqrt(born_tensor *t);
BORN_API born_tensor *born_rsqrt(born_tensor *t);
BORN_API born_tensor *born_sin(born_tensor *t);
BORN_API born_tensor *born_cos(born_tensor *t);
BORN_API born_tensor *born_tan(born_tensor *t);
BORN_API born_tensor *born_tanh(born_tensor *t);
BORN_API born_tensor *born_sigmoid(born_tensor *t);
BORN_API born_tensor *born_relu(born_tensor *t);
BORN_API born_tensor *born_gelu(born_tensor *t);
BORN_API born_tensor *born_gelu_tanh(born_tensor *t);
BORN_API born_tensor *born_silu(born_tensor *t);
BORN_API born_tensor *born_erf(born_tensor *t);
BORN_API born_tensor *born_floor(born_tensor *t);
BORN_API born_tensor *born_ceil(born_tensor *t);
BORN_API born_tensor *born_round(born_tensor *t);
BORN_API born_tensor *born_trunc(born_tensor *t);
BORN_API born_tensor *born_logical_not(born_tensor *t);
BORN_API born_tensor *born_isnan(born_tensor *t);
BORN_API born_tensor *born_isinf(born_tensor *t);
BORN_API born_tensor *born_isfinite(born_tensor *t);
BORN_API born_tensor *born_leaky_relu(born_tensor *t, double negative_slope);
BORN_API born_tensor *born_elu(born_tensor *t, double alpha);
/* log(1 + exp(beta x)) / beta, linear where beta x > threshold (torch defaults: 1, 20). */
BORN_API born_tensor *born_softplus(born_tensor *t, double beta, double threshold);
/* Limits values to [min, max]; pass -INFINITY / INFINITY for no bound. Keeps t's dtype. */
BORN_API born_tensor *born_clamp(born_tensor *t, double min, double max);
BORN_API born_tensor *born_pow_scalar(born_tensor *t, double exponent);

typedef enum born_binary_op {
    BORN_BINARY_ADD = 0,
    BORN_BINARY_SUB,
    BORN_BINARY_MUL,
    BORN_BINARY_DIV,          /* true division */
    BORN_BINARY_FLOOR_DIVIDE, /* rounds the quotient toward -inf */
    BORN_BINARY_REMAINDER,    /* sign of the divisor, as Python's % and torch.remainder */
    BORN_BINARY_FMOD,         /* sign of the dividend, as C's fmod */
    BORN_BINARY_POW,
    BORN_BINARY_MINIMUM, /* NaN propagates */
    BORN_BINARY_MAXIMUM,
    BORN_BINARY_ATAN2,
    BORN_BINARY_EQ, /* comparisons give bool */
    BORN_BINARY_NE,
    BORN_BINARY_LT,
    BORN_BINARY_LE,
    BORN_BINARY_GT,
    BORN_BINARY_GE,
    BORN_BINARY_LOGICAL_AND, /* logical ops treat nonzero as true and give bool */
    BORN_BINARY_LOGICAL_OR,
    BORN_BINARY_LOGICAL_XOR,
    BORN_BINARY_OP_COUNT
} born_binary_op;

/* The generic form behind the named functions below: broadcasts a and b (NumPy rules). */
BORN_API born_tensor *born_binary(born_binary_op op, born_tensor *a, born_tensor *b);

/* Writes op(a, b) into out, which must have the broadcast shape and the op's result dtype; out
 * may alias a or b. Not recorded by autograd (fails if grad mode is on and any requires grad). */
BORN_API born_status born_binary_out(born_binary_op op, born_tensor *out, born_tensor *a,
                                     born_tensor *b);

/* op(t, scalar), the scalar acting as a Python float (see the top of this header). */
BORN_API born_tensor *born_binary_scalar(born_binary_op op, born_tensor *t, double scalar);

/* The short name of an op ("add"); a static string. */
BORN_API const char *born_binary_op_name(born_binary_op op);

BORN_API born_tensor *born_add(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_sub(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_mul(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_div(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_floor_divide(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_remainder(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_fmod(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_pow(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_minimum(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_maximum(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_atan2(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_eq(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_ne(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_lt(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_le(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_gt(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_ge(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_logical_and(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_logical_or(born_tensor *a, born_tensor *b);
BORN_API born_tensor *born_logical_xor(born_tensor *a, born_tensor *b);

BORN_API born_tensor *born_add_scalar(born_tensor *t, double s);
BORN_API born_tensor *born_sub_scalar(born_tensor *t, double s);
/* s - t */
BORN_API born_tensor *born_rsub_scalar(born_tensor *t, double s);
BORN_API born_tensor *born_mul_scalar(born_tensor *t, double s);
BORN_API born_tensor *born_div_scalar(born_tensor *t, double s);
BORN_API born_tensor *born_eq_scalar(born_tensor *t, double s);
BORN_API born_tensor *born_ne_scalar(born_tensor *t, double s);
BORN_API born_tensor *born_lt_scalar(born_tensor *t, double s);
BORN_API born_tensor *born_le_scalar(born_tensor *t, double s);
BORN_API born_tensor *born_gt_scalar(born_tensor *t, double s);
BORN_API born_tensor *born_ge_scalar(born_tensor *t, double s);

/* cond ? a : b elementwise, broadcasting all three; cond must be bool. */
BORN_API born_tensor *born_where(born_tensor *cond, born_tensor *a, born_tensor *b);

/* t with value wherever mask (bool, broadcastable to t) is true. */
BORN_API born_tensor *born_masked_fill(born_tensor *t, born_tensor *mask, double value);

/* In place: dst = src (broadcast and converted to dst's dtype); dst = value; dst = 0; and the
 * common arithmetic updates. Not recorded by autograd (they fail if grad mode is on and dst or
 * src requires grad). */
BORN_API born_status born_copy_(born_tensor *dst, born_tensor *src);
BORN_API born_status born_fill_(born_tensor *dst, double value);
BORN_API born_status born_zero_(born_tensor *dst);
BORN_API born_status born_add_(born_tensor *dst, born_tensor *other);
BORN_API born_status born_sub_(born_tensor *dst, born_tensor *other);
BORN_API born_status born_mul_(born_tensor *dst, born_tensor *other);
BORN_API born_status born_div_(born_tensor *dst, born_tensor *other);
BORN_API born_status born_mul_scalar_(born_tensor *dst, double s);
BORN_API born_status born_add_scalar_(born_tensor *dst, double s);

/* ------------------------------------------------------------------------------------------ */
/* Reductions over a set of dimensions: ndims = 0 (dims NULL) reduces over all of them. keepdim
 * keeps reduced dimensions with size 1. Sums and products of integer and bool tensors are i64.  */

BORN_API born_tensor *born_sum(born_tensor *t, int ndims, const int64_t *dims, bool keepdim);
/* Floating dtypes only, as torch.mean. */
BORN_API born_tensor *born_mean(born_tensor *t, int ndims, const int64_t *dims, bool keepdim);
BORN_API born_tensor *born_prod(born_tensor *t, int ndims, const int64_t *dims, bool keepdim);
/* The largest/smallest values, as torch.amax/amin: gradients are shared evenly among ties. */
BORN_API born_tensor *born_max(born_tensor *t, int ndims, const int64_t *dims, bool keepdim);
BORN_API born_tensor *born_min(born_tensor *t, int ndims, const int64_t *dims, bool keepdim);
/* Variance and standard deviation with Bessel's correction `correction` (1 = unbiased). */
BORN_API born_tensor *born_var(born_tensor *t, int ndims, const int64_t *dims, int64_t correction,
                               bool keepdim);
BORN_API born_tensor *born_std(born_tensor *t, int ndims, const int64_t *dims, int64_t correction,
                               bool keepdim);
/* log(sum(exp(t))) computed stably. */
BORN_API born_tensor *born_logsumexp(born_tensor *t, int ndims, const int64_t *dims,
                                     bool keepdim);
/* Whether any / all elements are nonzero (bool). */
BORN_API born_tensor *born_any(born_tensor *t, int ndims, const int64_t *dims, bool keepdim);
BORN_API born_tensor *born_all(born_tensor *t, int ndims, const int64_t *dims, bool keepdim);

/* The index (i64) of the first largest / smallest value along dim. */
BORN_API born_tensor *born_argmax(born_tensor *t, int dim, bool keepdim);
BORN_API born_tensor *born_argmin(born_tensor *t, int dim, bool keepdim);
/* The same over the flattened tensor (a 0-dim i64). */
BORN_API born_tensor *born_argmax_all(born_tensor *t);
BORN_API born_tensor *born_argmin_all(born_tensor *t);

/* Sums t down to shape, which t's shape must broadcast to (as torch.Tensor.sum_to_size). */
BORN_API born_tensor *born_sum_to_shape(born_tensor *t, int ndim, const int64_t *shape);

/* softmax and log_softmax along dim, stable against overflow. */
BORN_API born_tensor *born_softmax(born_tensor *t, int dim);
BORN_API born_tensor *born_log_softmax(born_tensor *t, int dim);

/* Running sum along dim (integer and bool inputs give i64). */
BORN_API born_tensor *born_cumsum(born_tensor *t, int dim);

/* ------------------------------------------------------------------------------------------ */
/* Linear algebra                                                                               */

/* torch.matmul: 1-D @ 1-D is a dot product; 2-D @ 2-D a matrix product; a 1-D operand is treated
 * as a row (left) or column (right) vector and that dimension removed; N-D operands are batches of
 * matrices whose batch dimensions broadcast. */
BORN_API born_tensor *born_matmul(born_tensor *a, born_tensor *b);

/* [M,K] @ [K,N] only. */
BORN_API born_tensor *born_mm(born_tensor *a, born_tensor *b);

/* [B,M,K] @ [B,K,N] only. */
BORN_API born_tensor *born_bmm(born_tensor *a, born_tensor *b);

/* x @ weight^T + bias, with weight [out, in] and bias [out] or NULL; x is [..., in]. */
BORN_API born_tensor *born_linear(born_tensor *x, born_tensor *weight, born_tensor *bias);

/* The outer product of two 1-D tensors. */
BORN_API born_tensor *born_outer(born_tensor *a, born_tensor *b);

/* Writes matmul(a, b) into out (of the result's shape and dtype). Not recorded by autograd. */
BORN_API born_status born_matmul_out(born_tensor *out, born_tensor *a, born_tensor *b);

/* ------------------------------------------------------------------------------------------ */
/* Joining, splitting, indexing                                                                 */

/* Joins n tensors along an existing dimension (sizes elsewhere must match). */
BORN_API born_tensor *born_cat(born_tensor *const *tensors, int n, int dim);

/* Joins n tensors of one shape along a new dimension. */
BORN_API born_tensor *born_stack(born_tensor *const *tensors, int n, int dim);

/* Splits t into at most `chunks` views along dim, as torch.chunk; writes them to out (room for
 * `chunks` entries) and returns how many were made, or -1 on error. */
BORN_API int born_chunk(born_tensor *t, int chunks, int dim, born_tensor **out);

/* Splits t into views of split_size along dim (the last may be smaller), as torch.split; writes
 * at most max_out views and returns how many there are in all, or -1 on error. */
BORN_API int born_split(born_tensor *t, int64_t split_size, int dim, born_tensor **out,
                        int max_out);

/* Splits t into n views whose sizes along dim are sizes[0..n-1] (summing to t's size). */
BORN_API born_status born_split_sizes(born_tensor *t, int n, const int64_t *sizes, int dim,
                                      born_tensor **out);

/* out[i][j] = t[index[i][j]][j] for dim 0 (and so on), as torch.gather; index is i64. */
BORN_API born_tensor *born_gather(born_tensor *t, int dim, born_tensor *index);

/* A copy of t with src[i][j] added at [index[i][j]][j] for dim 0 (and so on), as
 * torch.scatter_add; index is i64 and no larger than src in any dimension. */
BORN_API born_tensor *born_scatter_add(born_tensor *t, int dim, born_tensor *index,
                                       born_tensor *src);

/* The entries of t at the 1-D i64 index along dim. */
BORN_API born_tensor *born_index_select(born_tensor *t, int dim, born_tensor *index);

/* Rows of weight [num, dim] picked by integer indices of any shape: result [..., dim]. */
BORN_API born_tensor *born_embedding(born_tensor *weight, born_tensor *indices);

/* One-hot rows (i64) for integer class indices; num_classes = -1 infers max + 1. */
BORN_API born_tensor *born_one_hot(born_tensor *indices, int64_t num_classes);

/* Pads with a constant: pad holds (before, after) pairs for the last dimension first, as
 * torch.nn.functional.pad; negative amounts crop. */
BORN_API born_tensor *born_pad(born_tensor *t, int npad, const int64_t *pad, double value);

/* The lower / upper triangle of the last two dimensions (diagonal offset k), zero elsewhere. */
BORN_API born_tensor *born_tril(born_tensor *t, int64_t k);
BORN_API born_tensor *born_triu(born_tensor *t, int64_t k);

/* The k largest (or smallest) values along dim and their i64 indices, both new references
 * (either pointer may be NULL when not wanted). Among equal values the lower index comes first;
 * with sorted = false the k elements come in ascending index order. NaN counts as the largest. */
BORN_API born_status born_topk(born_tensor *t, int64_t k, int dim, bool largest, bool sorted,
                               born_tensor **values, born_tensor **indices);

/* Sorts along dim (stable: equal values keep their order; NaN sorts as the largest). values and
 * indices may each be NULL when not wanted. */
BORN_API born_status born_sort(born_tensor *t, int dim, bool descending, born_tensor **values,
                               born_tensor **indices);
BORN_API born_tensor *born_argsort(born_tensor *t, int dim, bool descending);

/* ------------------------------------------------------------------------------------------ */
/* Convolution and pooling on [N, C, H, W] (or unbatched [C, H, W]) tensors                    */

typedef struct born_conv2d_params {
    int64_t stride[2];   /* default 1, 1 */
    int64_t padding[2];  /* default 0, 0 (zeros) */
    int64_t dilation[2]; /* default 1, 1 */
    int64_t groups;      /* default 1 */
} born_conv2d_params;

BORN_API born_conv2d_params born_conv2d_default_params(void);

/* 2-D cross-correlation as torch.nn.functional.conv2d: weight [C_out, C_in/groups, kH, kW], bias
 * [C_out] or NULL; params NULL means the defaults. */
BORN_API born_tensor *born_conv2d(born_tensor *input, born_tensor *weight, born_tensor *bias,
                                  const born_conv2d_params *params);

typedef struct born_pool2d_params {
    int64_t kernel[2];
    int64_t stride[2];   /* 0 means "equal to kernel", torch's default */
    int64_t padding[2];  /* at most half the kernel */
    int64_t dilation[2]; /* max pooling only; default 1 */
    bool ceil_mode;
    bool count_include_pad;   /* avg pooling only; default true */
    int64_t divisor_override; /* avg pooling only; 0 for none */
} born_pool2d_params;

/* Parameters for a kh x kw window with torch's defaults. */
BORN_API born_pool2d_params born_pool2d_default_params(int64_t kh, int64_t kw);

BORN_API born_tensor *born_max_pool2d(born_tensor *input, const born_pool2d_params *params);

/* Also returns the flat index (within each H x W plane, i64) of every maximum in *indices. */
BORN_API born_tensor *born_max_pool2d_with_indices(born_tensor *input,
                                                   const born_pool2d_params *params,
                                                   born_tensor **indices);

BORN_API born_tensor *born_avg_pool2d(born_tensor *input, const born_pool2d_params *params);

/* ------------------------------------------------------------------------------------------ */
/* Attention                                                                                    */

typedef enum born_sdpa_kernel {
    BORN_SDPA_AUTO = 0, /* the flash kernel when the device has one, else the math path */
    BORN_SDPA_FLASH,    /* tiled, online softmax, O(L + S) memory; fails where unavailable */
    BORN_SDPA_MATH      /* a composition of public ops that materialises the L x S scores */
} born_sdpa_kernel;

typedef struct born_sdpa_params {
    bool is_causal;    /* query i sees key j only when j <= kv_offset + i */
    int64_t kv_offset; /* position of query 0 among the keys (0: torch's is_causal; S - L:
                        * queries that follow S - L cached keys) */
    double scale;      /* 0 means 1 / sqrt(E) */
    double dropout_p;  /* in [0, 1): drops attention probabilities (always, as the functional
                        * torch form; pass 0 in eval) */
    born_generator *gen; /* dropout's generator (NULL: the default one) */
    bool enable_gqa;     /* allow fewer key/value heads than query heads (dividing them) */
    born_sdpa_kernel kernel;
    int64_t block_q, block_kv; /* flash tile sizes; 0 lets the kernel choose */
} born_sdpa_params;

BORN_API born_sdpa_params born_sdpa_default_params(void);

/* torch.nn.functional.scaled_dot_product_attention: softmax(q k^T scale + mask) v for q
 * [..., Hq, L, E], k [..., Hk, S, E], v [..., Hk, S, Ev] (equal batch dims; 2-D inputs have no
 * heads), giving [..., Hq, L, Ev]; with enable_gqa query head h reads key/value head
 * h / (Hq / Hk), without copying them. mask (NULL for none) broadcasts to [..., Hq, L, S] and is
 * bool (true = may attend) or floating (added to the scores); it gets no gradient. A query that
 * may see no key at all gets zeros (and zero gradients). params NULL means the defaults. */
BORN_API born_tensor *born_scaled_dot_product_attention(born_tensor *q, born_tensor *k,
                                                        born_tensor *v, born_tensor *mask,
                                                        const born_sdpa_params *params);

/* ------------------------------------------------------------------------------------------ */
/* Positional encodings                                                                         */

typedef enum born_rope_scaling {
    BORN_ROPE_SCALING_NONE = 0,
    BORN_ROPE_SCALING_LINEAR,      /* frequencies / factor (position interpolation) */
    BORN_ROPE_SCALING_DYNAMIC_NTK, /* HF "dynamic": theta grows once positions pass
                                    * original_max_position */
    BORN_ROPE_SCALING_NTK,         /* NTK-aware: theta * factor^(d / (d - 2)) */
    BORN_ROPE_SCALING_YARN,        /* HF "yarn" (beta_fast, beta_slow, attention_factor) */
    BORN_ROPE_SCALING_LLAMA3       /* HF "llama3" (low/high_freq_factor) */
} born_rope_scaling;

typedef struct born_rope_params {
    double theta;        /* base (default 10000) */
    bool interleaved;    /* rotate pairs (2i, 2i+1) (GPT-J, Meta Llama); default false: rotate
                          * halves (GPT-NeoX, HF Llama) */
    int64_t rotary_dim;  /* leading features rotated (0: all); the rest pass through */
    int64_t position_offset; /* the first position when born_rope gets no positions */
    born_rope_scaling scaling;
    double factor;                /* default 1 */
    int64_t original_max_position; /* dynamic NTK, YaRN, llama3 */
    double low_freq_factor, high_freq_factor; /* llama3 (defaults 1, 4) */
    double beta_fast, beta_slow;  /* YaRN (defaults 32, 1) */
    double attention_factor;      /* YaRN's cos/sin scale; 0 means 0.1 ln(factor) + 1 */
} born_rope_params;

BORN_API born_rope_params born_rope_default_params(void);

/* Writes the dim / 2 inverse frequencies RoPE uses (Hugging Face's formulas for each scaling)
 * into inv_freq, and the factor cos/sin are scaled by into *attention_factor (may be NULL).
 * seq_len is the length seen so far (dynamic NTK only). */
BORN_API born_status born_rope_inv_freq(const born_rope_params *params, int64_t dim,
                                        int64_t seq_len, double *inv_freq,
                                        double *attention_factor);

/* The cos and sin tables [n, dim] for the 1-D integer positions (each frequency written twice,
 * [f_0 .. f_{dim/2-1}, f_0 .. f_{dim/2-1}], as HF's tables), in dtype; new references. */
BORN_API born_status born_rope_cos_sin(const born_rope_params *params, int64_t dim,
                                       born_tensor *positions, born_dtype dtype,
                                       born_tensor **cos_out, born_tensor **sin_out);

/* x [..., T, D] rotated by RoPE at positions ([T] integers; NULL means position_offset + 0..T-1).
 * Differentiable in x; params NULL means the defaults. */
BORN_API born_tensor *born_rope(born_tensor *x, born_tensor *positions,
                                const born_rope_params *params);

/* ALiBi's per-head slopes [n_heads] (f64): 2^(-8i/n) for a power of two n, else HF's
 * build_alibi_tensor interleaving. */
BORN_API born_tensor *born_alibi_slopes(int64_t n_heads);

/* The ALiBi bias [n_heads, q_len, kv_len] = slope_h (j - (kv_offset + i)), to add to the scores
 * (pass it as an additive attention mask). */
BORN_API born_tensor *born_alibi_bias(int64_t n_heads, int64_t q_len, int64_t kv_len,
                                      int64_t kv_offset, born_dtype dtype);

/* The sinusoidal table [n_positions, dim]: sin(pos / base^(2i/dim)) at 2i and cos at 2i + 1
 * (base 10000 in the paper). */
BORN_API born_tensor *born_sinusoidal_positions(int64_t n_positions, int64_t dim, double base,
                                                born_dtype dtype);

#ifdef __cplusplus
}
#endif
#endif /* BORN_OPS_H */
