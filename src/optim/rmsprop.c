/* RMSprop, as torch.optim.RMSprop (torch/optim/rmsprop.py, _single_tensor_rmsprop), with
 * momentum, centering, weight decay and maximize. The state (step, square_avg, and momentum_buffer
 * and grad_avg when used) is created at the parameter's first gradient; a buffer that becomes
 * needed later (momentum turned on by a OneCycleLR schedule) starts as zeros, where torch fails. */
#include <stddef.h>

#include "optim/optim_internal.h"

enum { RMSPROP_SQUARE_AVG = 0, RMSPROP_MOMENTUM_BUFFER, RMSPROP_GRAD_AVG };

static born_status rmsprop_validate(const optim_hparams *h, const char *fn) {
    if (optim_check_nonneg(fn, "learning rate", h->lr) != BORN_OK ||
        optim_check_nonneg(fn, "epsilon", h->eps) != BORN_OK ||
        optim_check_nonneg(fn, "momentum", h->momentum) != BORN_OK ||
        optim_check_nonneg(fn, "weight_decay", h->weight_decay) != BORN_OK ||
        optim_check_nonneg(fn, "alpha", h->alpha) != BORN_OK)
        return born_last_status();
    return BORN_OK;
}

static unsigned rmsprop_needed(const optim_hparams *h) {
    return (1u << RMSPROP_SQUARE_AVG) | (h->momentum > 0 ? 1u << RMSPROP_MOMENTUM_BUFFER : 0) |
           (h->centered ? 1u << RMSPROP_GRAD_AVG : 0);
}

static born_status rmsprop_update(const born_backend *be, const optim_hparams *h, born_tensor *p,
                                  born_tensor *g, optim_state *st, bool first) {
    (void)first;
    if (!be->rmsprop_step)
        return born_error(BORN_ERR_UNSUPPORTED, "born_optimizer_step: the %s backend has no "
                          "RMSprop kernel", be->name);
    born_rmsprop_step_args args = {
        .lr = h->lr,
        .alpha = h->alpha,
        .eps = h->eps,
        .weight_decay = h->weight_decay,
        .momentum = h->momentum,
        .centered = h->centered,
        .maximize = h->maximize,
    };
    born_strided sp = strided_of(p), sg = strided_of(g);
    born_strided ss = strided_of(st->slot[RMSPROP_SQUARE_AVG]);
    born_strided sa = optim_strided(h->centered ? st->slot[RMSPROP_GRAD_AVG] : NULL);
    born_strided sb = optim_strided(h->momentum > 0 ? st->slot[RMSPROP_MOMENTUM_BUFFER] : NULL);
    return be->rmsprop_step(&sp, &sg, &ss, &sa, &sb, &args);
}

static const optim_hp_desc rmsprop_hparams[] = {
    {"lr", HP_DOUBLE, offsetof(optim_hparams, lr)},
    {"alpha", HP_DOUBLE, offsetof(optim_hparams, alpha)},
    {"eps", HP_DOUBLE, offsetof(optim_hparams, eps)},
    {"weight_decay", HP_DOUBLE, offsetof(optim_hparams, weight_decay)},
    {"momentum", HP_DOUBLE, offsetof(optim_hparams, momentum)},
    {"centered", HP_BOOL, offsetof(optim_hparams, centered)},
    {"maximize", HP_BOOL, offsetof(optim_hparams, maximize)},
    {NULL, HP_DOUBLE, 0},
};

const optim_algo optim_rmsprop_algo = {
    .name = "RMSprop",
    .has_step = true,
    .slot_names = {"square_avg", "momentum_buffer", "grad_avg"},
    .hparams = rmsprop_hparams,
    .validate = rmsprop_validate,
    .needed_slots = rmsprop_needed,
    .uninit_slots = 0,
    .update = rmsprop_update,
    .momentum_is_beta1 = false,
};

born_rmsprop_params born_rmsprop_default_params(void) {
    return (born_rmsprop_params){.lr = 1e-2, .alpha = 0.99, .eps = 1e-8};
}

born_optimizer *born_rmsprop(born_tensor *const *params, int64_t n, const born_rmsprop_params *p) {
    born_rmsprop_params d = p ? *p : born_rmsprop_default_params();
    optim_hparams h = {
        .lr = d.lr,
        .alpha = d.alpha,
        .eps = d.eps,
        .weight_decay = d.weight_decay,
        .momentum = d.momentum,
        .centered = d.centered,
        .maximize = d.maximize,
    };
    return optim_new(&optim_rmsprop_algo, "born_rmsprop", params, n, &h);
}
