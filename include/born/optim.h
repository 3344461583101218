/* Born optim (layer 6): optimizers, learning-rate schedules and gradient clipping, as torch.optim.
 *
 * An optimizer updates an array of parameters (floating leaf tensors that require grad) from their
 * .grad, which born_backward fills. The usual step:
 *
 *     born_optimizer *opt = born_adamw(params, n, NULL);       // torch's defaults
 *     for (...) {
 *         born_scope_begin();
 *         born_backward(loss(...));
 *         born_clip_grad_norm(params, n, 1.0, 2.0, NULL);       // optional
 *         born_optimizer_step(opt);
 *         born_optimizer_zero_grad(opt);
 *         born_scope_end();
 *     }
 *     born_optimizer_free(opt);
 *
 * The math is torch's single-tensor algorithm (torch/optim/{sgd,adam,rmsprop}.py), fused into one
 * pass over memory per parameter: f32 and f64 parameters follow torch's rounding op for op (results
 * agree to a few ulps, FMA aside); f16/bf16 parameters compute each update in f32 and round the
 * parameter and the state (kept in the parameter's dtype, as torch) once per step, where torch
 * rounds after every op. Updates never depend on the thread count.
 *
 * One parameter group: every parameter shares the hyperparameters. Objects returned here are owned
 * by the caller and freed with their _free function; tensors returned (state dicts) follow core.h's
 * rules. A failing function records an error (born_last_error) and returns NULL or a status. */
#ifndef BORN_OPTIM_H
#define BORN_OPTIM_H

#include "born/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Optimizers                                                                                   */

typedef struct born_optimizer born_optimizer;

typedef enum born_optimizer_kind {
    BORN_OPTIMIZER_SGD = 0,
    BORN_OPTIMIZER_ADAM,
    BORN_OPTIMIZER_ADAMW,
    BORN_OPTIMIZER_RMSPROP
} born_optimizer_kind;

typedef struct born_sgd_params {
    double lr;           /* default 1e-3 */
    double momentum;     /* default 0 */
    double dampening;    /* default 0 */
    double weight_decay; /* L2, added to the gradient; default 0 */
    bool nesterov;       /* needs momentum > 0 and dampening 0 */
    bool maximize;
} born_sgd_params;

typedef struct born_adam_params {
    double lr;           /* default 1e-3 */
    double betas[2];     /* default 0.9, 0.999; each in [0, 1) */
    double eps;          /* added to the denominator after the bias correction; default 1e-8 */
    double weight_decay; /* Adam: L2 added to the gradient, default 0; AdamW: decoupled
                            (p *= 1 - lr * weight_decay), default 1e-2 */
    bool amsgrad;
    bool maximize;
} born_adam_params;

typedef struct born_rmsprop_params {
    double lr;           /* default 1e-2 */
    double alpha;        /* smoothing constant; default 0.99 */
    double eps;          /* default 1e-8 */
    double weight_decay; /* default 0 */
    double momentum;     /* default 0 */
    bool centered;       /* normalise by the estimated variance of the gradient */
    bool maximize;
} born_rmsprop_params;

BORN_API born_sgd_params born_sgd_default_params(void);
BORN_API born_adam_params born_adam_default_params(void);
BORN_API born_adam_params born_adamw_default_params(void);
BORN_API born_rmsprop_params born_rmsprop_default_params(void);

/* New optimizers over params[0..n) (p NULL means the defaults). The optimizer takes its own
 * reference to each parameter and drops it in born_optimizer_free. Rejects an empty or NULL list,
 * NULL, duplicate, non-floating, non-leaf or expanded (overlapping) parameters and parameters that
 * do not require grad, and hyperparameters torch rejects (negative lr, eps, momentum, weight decay
 * or alpha, betas outside [0, 1), nesterov without momentum or with dampening) or NaN. */
BORN_API born_optimizer *born_sgd(born_tensor *const *params, int64_t n,
                                  const born_sgd_params *p);
BORN_API born_optimizer *born_adam(born_tensor *const *params, int64_t n,
                                   const born_adam_params *p);
BORN_API born_optimizer *born_adamw(born_tensor *const *params, int64_t n,
                                    const born_adam_params *p);
BORN_API born_optimizer *born_rmsprop(born_tensor *const *params, int64_t n,
                                      const born_rmsprop_params *p);

/* Updates every parameter that has a .grad, in place (parameters without one are skipped and keep
 * no state, as torch). Per-parameter state (moments, momentum buffers, the step count used for
 * Adam's bias correction) is created at the first step that sees the parameter's gradient. The
 * update is not recorded by autograd (grad mode need not be off) and bumps the parameters' version
 * counters, so a graph that saved a parameter before the step reports the change on backward.
 * Fails, changing nothing, when a gradient's shape, dtype or device differs from its parameter's. */
BORN_API born_status born_optimizer_step(born_optimizer *opt);

/* Drops every parameter's .grad (torch's zero_grad(set_to_none=True)). NULL is ignored. */
BORN_API void born_optimizer_zero_grad(born_optimizer *opt);

/* The learning rate (NaN with an error for NULL), and setting it (>= 0, not NaN). */
BORN_API double born_optimizer_get_lr(const born_optimizer *opt);
BORN_API born_status born_optimizer_set_lr(born_optimizer *opt, double lr);

/* The momentum that OneCycleLR cycles: SGD's and RMSprop's momentum, Adam's beta1. */
BORN_API double born_optimizer_get_momentum(const born_optimizer *opt);

/* Which optimizer this is (an Adam that loaded an AdamW state dict reports ADAMW, as torch's
 * decoupled_weight_decay flag follows the state dict), and how many parameters it holds. */
BORN_API born_optimizer_kind born_optimizer_get_kind(const born_optimizer *opt);
BORN_API int64_t born_optimizer_num_params(const born_optimizer *opt);

/* Frees the optimizer and drops its parameter references once no scheduler uses it (schedulers
 * keep their optimizer alive, so the two may be freed in either order). NULL is ignored. */
BORN_API void born_optimizer_free(born_optimizer *opt);

/* The optimizer's state as a new list (owned; born_tensor_list_free) of copies, named as the
 * flattened keys of torch's optimizer.state_dict():
 *   state.<i>.step                 0-dim f32 (torch's dtype; the count is exact to 2^24 steps)
 *   state.<i>.exp_avg, .exp_avg_sq, .max_exp_avg_sq (amsgrad)                 Adam, AdamW
 *   state.<i>.momentum_buffer                                                 SGD, RMSprop
 *   state.<i>.square_avg, .grad_avg (centered)                                RMSprop
 *   param_groups.0.<hyperparameter>  0-dim f64 (lr, momentum, dampening, weight_decay, eps,
 *                                    alpha, and initial_lr once a scheduler set it), [2] f64 betas,
 *                                    0-dim bool flags (nesterov, maximize, amsgrad, centered,
 *                                    decoupled_weight_decay)
 *   param_groups.0.params            [n] i64 0..n-1
 * <i> indexes the parameters as passed; parameters that never had a gradient have no state. State
 * tensors have the parameter's shape and dtype. */
BORN_API born_tensor_list *born_optimizer_state_dict(const born_optimizer *opt);

/* Restores a state dict made by born_optimizer_state_dict (or converted from torch's): the
 * hyperparameters and every parameter's state, converted to the parameter's dtype and device.
 * Unknown param_groups.0.* keys are ignored (torch's foreach, fused, ...). Fails, changing nothing,
 * on a missing hyperparameter or state entry, a state tensor whose shape differs from its
 * parameter's, a parameter count that differs, or an unknown state.* entry. */
BORN_API born_status born_optimizer_load_state_dict(born_optimizer *opt,
                                                    const born_tensor_list *state_dict);

/* ------------------------------------------------------------------------------------------ */
/* Learning-rate schedules, as torch.optim.lr_scheduler. Creating one records the optimizer's lr as
 * its initial_lr (if none is recorded yet) and applies the schedule's value for epoch 0, as torch's
 * constructors do; each born_lr_scheduler_step then sets the optimizer's lr for the next epoch with
 * torch's own (chainable) formulas, so the values agree with torch's to the last bit or so.       */

typedef struct born_lr_scheduler born_lr_scheduler;

/* lr *= gamma every step_size steps (step_size >= 1). */
BORN_API born_lr_scheduler *born_step_lr(born_optimizer *opt, int64_t step_size, double gamma);

/* Cosine from the initial lr down to eta_min over T_max steps (T_max >= 1), then back up, as
 * torch's CosineAnnealingLR (without restarts). */
BORN_API born_lr_scheduler *born_cosine_annealing_lr(born_optimizer *opt, int64_t T_max,
                                                     double eta_min);

/* Linear warm-up: the lr's factor goes from start_factor (in (0, 1]) to end_factor (in [0, 1]) over
 * total_iters steps (>= 1), then stays (torch's defaults: 1/3, 1, 5). */
BORN_API born_lr_scheduler *born_linear_lr(born_optimizer *opt, double start_factor,
                                           double end_factor, int64_t total_iters);

typedef enum born_anneal_strategy { BORN_ANNEAL_COS = 0, BORN_ANNEAL_LINEAR } born_anneal_strategy;

typedef struct born_one_cycle_params {
    double max_lr;
    int64_t total_steps;         /* >= 1; stepping past total_steps is an error, as torch */
    double pct_start;            /* in [0, 1]; default 0.3 */
    born_anneal_strategy anneal; /* default cos */
    bool cycle_momentum;         /* default true: momentum (SGD, RMSprop) or beta1 (Adam) */
    double base_momentum;        /* default 0.85 */
    double max_momentum;         /* default 0.95 */
    double div_factor;           /* initial lr = max_lr / div_factor; default 25 */
    double final_div_factor;     /* min lr = initial lr / final_div_factor; default 1e4 */
    bool three_phase;            /* default false */
} born_one_cycle_params;

BORN_API born_one_cycle_params born_one_cycle_default_params(double max_lr, int64_t total_steps);

/* The 1cycle policy, as torch's OneCycleLR (total_steps given directly). With cycle_momentum it
 * also sets the optimizer's momentum or beta1 at every step, as torch does. */
BORN_API born_lr_scheduler *born_one_cycle_lr(born_optimizer *opt,
                                              const born_one_cycle_params *params);

/* torch's SequentialLR: schedulers[0] until milestones[0], then schedulers[1] (restarted at its
 * epoch 0) until milestones[1], ... (n >= 1 schedulers of this optimizer, n - 1 increasing
 * milestones; a SequentialLR cannot be nested). On success it owns the schedulers (free only the
 * result); on failure the caller still owns them. */
BORN_API born_lr_scheduler *born_sequential_lr(born_optimizer *opt,
                                               born_lr_scheduler *const *schedulers, int n,
                                               const int64_t *milestones);

/* Warm-up then cosine: SequentialLR of LinearLR(start_factor, 1, warmup_steps) and
 * CosineAnnealingLR(total_steps - warmup_steps, eta_min) with the milestone at warmup_steps
 * (1 <= warmup_steps < total_steps). */
BORN_API born_lr_scheduler *born_warmup_cosine_lr(born_optimizer *opt, int64_t warmup_steps,
                                                  int64_t total_steps, double start_factor,
                                                  double eta_min);

/* Advances the schedule by one step and sets the optimizer's lr, as scheduler.step() (call it
 * after born_optimizer_step). Fails, changing nothing, where torch raises (OneCycleLR past
 * total_steps, a zero-length phase). */
BORN_API born_status born_lr_scheduler_step(born_lr_scheduler *s);

/* The lr the scheduler last set (get_last_lr()[0]), and its epoch counter (last_epoch). */
BORN_API double born_lr_scheduler_get_last_lr(const born_lr_scheduler *s);
BORN_API int64_t born_lr_scheduler_last_epoch(const born_lr_scheduler *s);

/* Frees the scheduler (and a SequentialLR's schedulers). NULL is ignored. */
BORN_API void born_lr_scheduler_free(born_lr_scheduler *s);

/* The scheduler's state as a new list (owned): last_epoch and _step_count (0-dim i64), base_lrs
 * and _last_lr ([1] f64) and the schedule's own hyperparameters (step_size, gamma, T_max,
 * eta_min, start_factor, end_factor, total_iters; OneCycleLR's total_steps, pct_start, initial_lr,
 * max_lr, min_lr, base_momentum, max_momentum, and anneal_strategy (0 cos, 1 linear),
 * cycle_momentum, use_beta1 and three_phase); a SequentialLR stores last_epoch, _milestones,
 * _last_lr and each scheduler's entries under _schedulers.<i>. */
BORN_API born_tensor_list *born_lr_scheduler_state_dict(const born_lr_scheduler *s);

/* Restores a state dict made by born_lr_scheduler_state_dict for a scheduler of the same kind.
 * Fails, changing nothing, on a missing entry or an invalid value. The optimizer's lr is part of
 * the optimizer's state dict, not this one. */
BORN_API born_status born_lr_scheduler_load_state_dict(born_lr_scheduler *s,
                                                       const born_tensor_list *state_dict);

/* ------------------------------------------------------------------------------------------ */
/* Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_. Parameters without a
 * .grad are skipped; gradients are changed in place.                                            */

/* Computes the norm of all gradients together (norm_type a finite p > 0, typically 2, or INFINITY
 * for the largest magnitude; computed in f64) and, when max_norm / (total + 1e-6) < 1, multiplies
 * every gradient by that factor (a NaN total makes every gradient NaN, as torch). Stores the total
 * in *total_norm if total_norm is not NULL (0 when no parameter has a gradient). */
BORN_API born_status born_clip_grad_norm(born_tensor *const *params, int64_t n, double max_norm,
                                         double norm_type, double *total_norm);

/* Clamps every gradient element to [-clip_value, clip_value] (clip_value >= 0). */
BORN_API born_status born_clip_grad_value(born_tensor *const *params, int64_t n,
                                          double clip_value);

#ifdef __cplusplus
}
#endif
#endif /* BORN_OPTIM_H */
