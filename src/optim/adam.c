/* Adam and AdamW, as torch.optim.Adam / AdamW (torch/optim/adam.py, _single_tensor_adam): AdamW is
 * Adam with decoupled weight decay. The bias corrections are computed here, in double, exactly as
 * torch's Python computes them from the parameter's f32 step count; the kernel does the rest. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "optim/optim_internal.h"

enum { ADAM_EXP_AVG = 0, ADAM_EXP_AVG_SQ, ADAM_MAX_EXP_AVG_SQ };

static born_status adam_validate(const optim_hparams *h, const char *fn) {
    if (optim_check_nonneg(fn, "learning rate", h->lr) != BORN_OK ||
        optim_check_nonneg(fn, "epsilon", h->eps) != BORN_OK)
        return born_last_status();
    for (int i = 0; i < 2; i++)
        if (!(h->betas[i] >= 0 && h->betas[i] < 1))
            return born_error(BORN_ERR_ARGUMENT, "%s: invalid beta parameter at index %d: %g "
                              "(must be in [0, 1))", fn, i, h->betas[i]);
    return optim_check_nonneg(fn, "weight_decay", h->weight_decay);
}

static unsigned adam_needed(const optim_hparams *h) {
    return (1u << ADAM_EXP_AVG) | (1u << ADAM_EXP_AVG_SQ) |
           (h->amsgrad ? 1u << ADAM_MAX_EXP_AVG_SQ : 0);
}

/* The kernel's arguments for a parameter at state st. */
static born_adam_step_args adam_args(const optim_hparams *h, const optim_state *st) {
    double step = st->step; /* torch: _get_value(step_t), a Python float */
    double bias_correction1 = 1 - pow(h->betas[0], step);
    double bias_correction2 = 1 - pow(h->betas[1], step);
    born_adam_step_args args = {
        .lr = h->lr,
        .beta1 = h->betas[0],
        .beta2 = h->betas[1],
        .eps = h->eps,
        .weight_decay = h->weight_decay,
        .amsgrad = h->amsgrad,
        .maximize = h->maximize,
        .decoupled_weight_decay = h->decoupled_weight_decay,
        .step_size = h->lr / bias_correction1,
        .bias_correction2_sqrt = pow(bias_correction2, 0.5),
    };
    return args;
}

static born_status adam_update(const born_backend *be, const optim_hparams *h, born_tensor *p,
                               born_tensor *g, optim_state *st, bool first) {
    (void)first;
    if (!be->adam_step)
        return born_error(BORN_ERR_UNSUPPORTED,
                          "born_optimizer_step: the %s backend has no Adam "
                          "kernel",
                          be->name);
    born_adam_step_args args = adam_args(h, st);
    born_strided sp = strided_of(p), sg = strided_of(g);
    born_strided sm = strided_of(st->slot[ADAM_EXP_AVG]);
    born_strided sv = strided_of(st->slot[ADAM_EXP_AVG_SQ]);
    born_strided smax = optim_strided(h->amsgrad ? st->slot[ADAM_MAX_EXP_AVG_SQ] : NULL);
    return be->adam_step(&sp, &sg, &sm, &sv, &smax, &args);
}

static bool adam_multi_ok(const born_backend *be, const optim_hparams *h, born_tensor *p,
                          born_tensor *g, optim_state *st) {
    born_dtype dt = p->dtype;
    return be->adam_step_multi && !h->amsgrad &&
           (dt == BORN_F32 || dt == BORN_F16 || dt == BORN_BF16) && born_tensor_is_contiguous(p) &&
           born_tensor_is_contiguous(g) && born_tensor_is_contiguous(st->slot[ADAM_EXP_AVG]) &&
           born_tensor_is_contiguous(st->slot[ADAM_EXP_AVG_SQ]);
}

static born_status adam_update_multi(const born_backend *be, const optim_hparams *h, int64_t count,
                                     born_tensor *const *p, born_tensor *const *g,
                                     optim_state *const *st, const float *found_inf) {
    born_adam_multi_item *items = malloc(sizeof *items * (size_t)(count > 0 ? count : 1));
    if (!items) return born_error(BORN_ERR_MEMORY, "born_optimizer_step: out of memory");
    for (int64_t i = 0; i < count; i++) {
        items[i].param = strided_of(p[i]);
        items[i].grad = strided_of(g[i]);
        items[i].exp_avg = strided_of(st[i]->slot[ADAM_EXP_AVG]);
        items[i].exp_avg_sq = strided_of(st[i]->slot[ADAM_EXP_AVG_SQ]);
        items[i].args = adam_args(h, st[i]);
        items[i].device_step = be->adam_multi_device_scalars ? st[i]->device_step : NULL;
        items[i].device_lr = items[i].device_step ? st[i]->device_lr : NULL;
        items[i].found_inf = be->adam_multi_device_scalars ? found_inf : NULL;
    }
    born_status status = be->adam_step_multi(count, items);
    free(items);
    return status;
}

static const optim_hp_desc adam_hparams[] = {
    {"lr", HP_DOUBLE, offsetof(optim_hparams, lr)},
    {"betas", HP_PAIR, offsetof(optim_hparams, betas)},
    {"eps", HP_DOUBLE, offsetof(optim_hparams, eps)},
    {"weight_decay", HP_DOUBLE, offsetof(optim_hparams, weight_decay)},
    {"amsgrad", HP_BOOL, offsetof(optim_hparams, amsgrad)},
    {"maximize", HP_BOOL, offsetof(optim_hparams, maximize)},
    {"decoupled_weight_decay", HP_BOOL, offsetof(optim_hparams, decoupled_weight_decay)},
    {NULL, HP_DOUBLE, 0},
};

const optim_algo optim_adam_algo = {
    .name = "Adam",
    .has_step = true,
    .slot_names = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
    .hparams = adam_hparams,
    .validate = adam_validate,
    .needed_slots = adam_needed,
    .uninit_slots = 0,
    .update = adam_update,
    .multi_ok = adam_multi_ok,
    .update_multi = adam_update_multi,
    .momentum_is_beta1 = true,
};

born_adam_params born_adam_default_params(void) {
    return (born_adam_params){.lr = 1e-3, .betas = {0.9, 0.999}, .eps = 1e-8};
}

born_adam_params born_adamw_default_params(void) {
    born_adam_params p = born_adam_default_params();
    p.weight_decay = 1e-2;
    return p;
}

static born_optimizer *adam_new(born_tensor *const *params, int64_t n, const born_adam_params *p,
                                bool decoupled, const char *fn) {
    born_adam_params d = p ? *p : decoupled ? born_adamw_default_params()
                                            : born_adam_default_params();
    optim_hparams h = {
        .lr = d.lr,
        .betas = {d.betas[0], d.betas[1]},
        .eps = d.eps,
        .weight_decay = d.weight_decay,
        .amsgrad = d.amsgrad,
        .maximize = d.maximize,
        .decoupled_weight_decay = decoupled,
    };
    return optim_new(&optim_adam_algo, fn, params, n, &h);
}

born_optimizer *born_adam(born_tensor *const *params, int64_t n, const born_adam_params *p) {
    return adam_new(params, n, p, false, "born_adam");
}

born_optimizer *born_adamw(born_tensor *const *params, int64_t n, const born_adam_params *p) {
    return adam_new(params, n, p, true, "born_adamw");
}
