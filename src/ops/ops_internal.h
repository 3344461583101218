/* Internal ops that backward rules use but users do not call directly. Like public ops they
 * validate, allocate and dispatch to the backend, so they run on every device. */
#ifndef BORN_OPS_INTERNAL_H
#define BORN_OPS_INTERNAL_H

#include "born/ops.h"

/* The input gradient of softmax (log = false) or log_softmax (log = true) along dim, from the
 * output gradient g and the forward output y. */
born_tensor *softmax_backward_op(born_tensor *g, born_tensor *y, int dim, bool log);

/* Convolution gradients (src/ops/conv.c), for the forward born_conv2d(input, weight, _, params)
 * with the given input shape (3-D or 4-D) or weight shape: the gradient with respect to the
 * input (input's shape) and to the weight (weight's shape), computed in f32 (f64 for f64). */
born_tensor *conv2d_backward_input_op(born_tensor *grad_out, born_tensor *weight, int input_ndim,
                                      const int64_t *input_shape, const born_conv2d_params *params);
born_tensor *conv2d_backward_weight_op(born_tensor *grad_out, born_tensor *input, int weight_ndim,
                                       const int64_t *weight_shape, const born_conv2d_params *params);

/* Pooling gradients (src/ops/pool.c) for an input of the given shape (3-D or 4-D) pooled with
 * params: max pooling scatters grad_out into the argmax cells given by indices (as returned by
 * born_max_pool2d_with_indices), average pooling spreads it over each window. */
born_tensor *max_pool2d_backward_op(born_tensor *grad_out, born_tensor *indices, int input_ndim,
                                    const int64_t *input_shape, const born_pool2d_params *params);
born_tensor *avg_pool2d_backward_op(born_tensor *grad_out, int input_ndim,
                                    const int64_t *input_shape, const born_pool2d_params *params);

/* The gradient of sort/topk values (src/ops/sort.c): a zero tensor whose size along dim is
 * `size`, with grad (indices' shape) added at the positions indices (i64) give along dim. */
born_tensor *sort_backward_op(born_tensor *grad, born_tensor *indices, int dim, int64_t size);

/* Whether the backward rules of the activations (relu, leaky_relu, elu, softplus, sigmoid, tanh,
 * silu, gelu, gelu_tanh) use the backend's fused unary_backward (the default) or their composite
 * form, which stays the fallback and the tests' reference (src/ops/unary.c). Process-wide. */
void ops_set_fused_unary_backward(bool on);

#endif
