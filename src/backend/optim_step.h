/* Internal: the arguments of the fused optimizer kernels (born_backend's sgd_step, adam_step and
 * rmsprop_step; see backend.h for their contracts). The optim layer (src/optim/) fills them once
 * per parameter per step, doing every host-side scalar computation (bias corrections, step sizes)
 * in double exactly as torch's Python does, so that every backend starts from the same scalars.
 *
 * Rounding contract, shared by every implementation: a kernel computes in the parameter's dtype
 * (f32 for f16/bf16, which load into f32 and round back, to nearest even, once per step), and each
 * scalar below is converted to that compute type at the point where torch's single-tensor
 * implementation (torch/optim/{sgd,adam,rmsprop}.py, `_single_tensor_*`) passes the Python float to
 * a tensor op. The expressions, in torch's order, are given with each struct; `T(x)` is the double
 * x rounded to the compute type, and every operation rounds (no contraction into FMA). */
#ifndef BORN_BACKEND_OPTIM_STEP_H
#define BORN_BACKEND_OPTIM_STEP_H

#include <stdbool.h>

/* SGD, per element (g the gradient, p the parameter, b the momentum buffer):
 *   g = maximize ? -g : g
 *   if weight_decay != 0:  g = g + T(weight_decay) * p
 *   if momentum != 0:      b = first_step ? g : (b * T(momentum)) + T(1 - dampening) * g
 *                          g = nesterov ? g + T(momentum) * b : b
 *   p = p + T(-lr) * g
 * momentum_buffer's data is NULL exactly when momentum == 0. With first_step the buffer's old
 * contents are never read (torch clones the gradient into a new buffer). */
typedef struct born_sgd_step_args {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
    bool first_step;
} born_sgd_step_args;

/* Adam and AdamW, per element (m = exp_avg, v = exp_avg_sq, vmax = max_exp_avg_sq):
 *   g = maximize ? -g : g
 *   if weight_decay != 0:  decoupled ? p = p * T(1 - lr * weight_decay)
 *                                    : g = g + T(weight_decay) * p
 *   m = lerp(m, g, T(1 - beta1))       (torch's lerp: w = T(1 - beta1); |w| < 0.5 ? m + w * (g - m)
 *                                       : g - (g - m) * (1 - w))
 *   v = (v * T(beta2)) + (T(1 - beta2) * g) * g
 *   if amsgrad:            vmax = maximum(vmax, v) (NaN propagates); use vmax for v below
 *   p = p + (T(-step_size) * m) / (sqrt(v) / T(bias_correction2_sqrt) + T(eps))
 * step_size = lr / (1 - beta1^step) and bias_correction2_sqrt = (1 - beta2^step)^0.5 are computed
 * by the caller from the parameter's step count (already incremented for this step).
 * max_exp_avg_sq's data is NULL unless amsgrad. */
typedef struct born_adam_step_args {
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad, maximize, decoupled_weight_decay;
    double step_size;
    double bias_correction2_sqrt;
} born_adam_step_args;

/* RMSprop, per element (s = square_avg, a = grad_avg, b = momentum_buffer):
 *   g = maximize ? -g : g
 *   if weight_decay != 0:  g = g + T(weight_decay) * p
 *   s = (s * T(alpha)) + (T(1 - alpha) * g) * g
 *   if centered:           a = lerp(a, g, T(1 - alpha)); d = sqrt(s + (-1 * a) * a)
 *   else:                  d = sqrt(s)
 *   d = d + T(eps)
 *   if momentum > 0:       b = (b * T(momentum)) + g / d; p = p + T(-lr) * b
 *   else:                  p = p + (T(-lr) * g) / d
 * grad_avg's data is NULL unless centered; momentum_buffer's unless momentum > 0. */
typedef struct born_rmsprop_step_args {
    double lr, alpha, eps, weight_decay, momentum;
    bool centered, maximize;
} born_rmsprop_step_args;

#endif
