/* SGD with momentum, dampening, Nesterov momentum, weight decay and maximize, as torch.optim.SGD
 * (torch/optim/sgd.py, _single_tensor_sgd). The only state is the momentum buffer, created from
 * the first gradient the parameter sees while momentum is nonzero. */
#include <stddef.h>

#include "optim/optim_internal.h"

enum { SGD_MOMENTUM_BUFFER = 0 };

static born_status sgd_validate(const optim_hparams *h, const char *fn) {
    if (optim_check_nonneg(fn, "learning rate", h->lr) != BORN_OK ||
        optim_check_nonneg(fn, "momentum", h->momentum) != BORN_OK ||
        optim_check_nonneg(fn, "weight_decay", h->weight_decay) != BORN_OK)
        return born_last_status();
    if (h->dampening != h->dampening)
        return born_error(BORN_ERR_ARGUMENT, "%s: dampening is NaN", fn);
    if (h->nesterov && (h->momentum <= 0 || h->dampening != 0))
        return born_error(BORN_ERR_ARGUMENT, "%s: Nesterov momentum requires a momentum and zero "
                          "dampening (momentum %g, dampening %g)", fn, h->momentum, h->dampening);
    return BORN_OK;
}

static unsigned sgd_needed(const optim_hparams *h) {
    return h->momentum != 0 ? 1u << SGD_MOMENTUM_BUFFER : 0;
}

static born_status sgd_update(const born_backend *be, const optim_hparams *h, born_tensor *p,
                              born_tensor *g, optim_state *st, bool first) {
    if (!be->sgd_step)
        return born_error(BORN_ERR_UNSUPPORTED, "born_optimizer_step: the %s backend has no SGD "
                          "kernel", be->name);
    born_sgd_step_args args = {
        .lr = h->lr,
        .momentum = h->momentum,
        .dampening = h->dampening,
        .weight_decay = h->weight_decay,
        .nesterov = h->nesterov,
        .maximize = h->maximize,
        .first_step = first,
    };
    born_strided sp = strided_of(p), sg = strided_of(g);
    born_strided sb = optim_strided(h->momentum != 0 ? st->slot[SGD_MOMENTUM_BUFFER] : NULL);
    return be->sgd_step(&sp, &sg, &sb, &args);
}

static const optim_hp_desc sgd_hparams[] = {
    {"lr", HP_DOUBLE, offsetof(optim_hparams, lr)},
    {"momentum", HP_DOUBLE, offsetof(optim_hparams, momentum)},
    {"dampening", HP_DOUBLE, offsetof(optim_hparams, dampening)},
    {"weight_decay", HP_DOUBLE, offsetof(optim_hparams, weight_decay)},
    {"nesterov", HP_BOOL, offsetof(optim_hparams, nesterov)},
    {"maximize", HP_BOOL, offsetof(optim_hparams, maximize)},
    {NULL, HP_DOUBLE, 0},
};

const optim_algo optim_sgd_algo = {
    .name = "SGD",
    .has_step = false,
    .slot_names = {"momentum_buffer", NULL, NULL},
    .hparams = sgd_hparams,
    .validate = sgd_validate,
    .needed_slots = sgd_needed,
    .uninit_slots = 1u << SGD_MOMENTUM_BUFFER,
    .update = sgd_update,
    .momentum_is_beta1 = false,
};

born_sgd_params born_sgd_default_params(void) {
    return (born_sgd_params){.lr = 1e-3};
}

born_optimizer *born_sgd(born_tensor *const *params, int64_t n, const born_sgd_params *p) {
    born_sgd_params d = p ? *p : born_sgd_default_params();
    optim_hparams h = {
        .lr = d.lr,
        .momentum = d.momentum,
        .dampening = d.dampening,
        .weight_decay = d.weight_decay,
        .nesterov = d.nesterov,
        .maximize = d.maximize,
    };
    return optim_new(&optim_sgd_algo, "born_sgd", params, n, &h);
}
