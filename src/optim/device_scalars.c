/* Step counts and the learning rate in device memory, for multi-tensor updates on a backend that
 * reads them there (born_backend's adam_multi_device_scalars: the CUDA plugin). The update then
 * increments each parameter's step and forms the bias corrections on the device, so a step
 * captured as a CUDA graph (include/born/graph.h) needs nothing from the host between replays. The
 * host keeps counting too, but replays bypass it: while the device copies exist they are the
 * authoritative ones, read back for state dicts and before any host-side update. */
#include <stdlib.h>

#include "born/graph.h"
#include "core/tensor_impl.h"
#include "optim/optim_internal.h"

born_tensor *optim_owned_on(born_device device, born_dtype dtype, int ndim, const int64_t *shape,
                            const void *host) {
    int64_t n = 1;
    for (int k = 0; k < ndim; k++) n *= shape[k];
    born_scope_begin();
    born_tensor *t = born_to(born_from_data(dtype, ndim, shape, host, born_dtype_nbytes(dtype, n)),
                             device);
    if (t) born_tensor_retain(t);
    born_scope_end();
    return t;
}

static void set_pointers(born_optimizer *opt) {
    float *steps = opt->dev_steps ? tensor_data(opt->dev_steps) : NULL;
    const double *lr = opt->dev_lr ? tensor_data(opt->dev_lr) : NULL;
    for (int64_t i = 0; i < opt->n; i++) {
        bool here = steps && born_device_equal(opt->params[i]->storage->device, opt->dev_device);
        opt->state[i].device_step = here ? steps + i : NULL;
        opt->state[i].device_lr = here ? lr : NULL;
    }
}

void optim_free_device_scalars(born_optimizer *opt) {
    if (opt->dev_steps) tensor_release(opt->dev_steps);
    if (opt->dev_lr) tensor_release(opt->dev_lr);
    opt->dev_steps = opt->dev_lr = NULL;
    set_pointers(opt);
}

born_status optim_push_lr(born_optimizer *opt) {
    if (!opt->dev_lr || opt->dev_lr_value == opt->h.lr) return BORN_OK;
    if (born_graph_capturing(opt->dev_device))
        return born_error(BORN_ERR_ARGUMENT, "born_optimizer: the learning rate changed to %g "
                          "inside a graph capture (a captured step would write it back at every "
                          "replay); set it between replays", opt->h.lr);
    born_status st = born_fill_(opt->dev_lr, opt->h.lr);
    if (st == BORN_OK) opt->dev_lr_value = opt->h.lr;
    return st;
}

born_status optim_device_scalars(born_optimizer *opt, born_device device) {
    if (opt->dev_steps && !born_device_equal(device, opt->dev_device)) return BORN_OK;
    if (opt->dev_steps) return optim_push_lr(opt);
    if (born_graph_capturing(device))
        return born_error(BORN_ERR_ARGUMENT, "born_optimizer_step: the optimizer's device step "
                          "counts would be created inside a graph capture; run one step before "
                          "capturing");
    float *steps = malloc(sizeof *steps * (size_t)(opt->n > 0 ? opt->n : 1));
    if (!steps) return born_error(BORN_ERR_MEMORY, "born_optimizer_step: out of memory");
    for (int64_t i = 0; i < opt->n; i++)
        steps[i] = opt->state[i].initialized ? opt->state[i].step : 0.0f;
    opt->dev_device = device;
    int64_t count = opt->n > 0 ? opt->n : 1, one = 1;
    opt->dev_steps = optim_owned_on(device, BORN_F32, 1, &count, steps);
    opt->dev_lr = opt->dev_steps ? optim_owned_on(device, BORN_F64, 1, &one, &opt->h.lr) : NULL;
    free(steps);
    if (!opt->dev_lr) {
        born_status st = born_last_status();
        optim_free_device_scalars(opt);
        return st;
    }
    opt->dev_lr_value = opt->h.lr;
    set_pointers(opt);
    return BORN_OK;
}

bool optim_device_steps(const born_optimizer *opt, float *steps, born_status *status) {
    *status = BORN_OK;
    if (!opt->dev_steps) return false;
    *status = born_copy_to_buffer(opt->dev_steps, steps, sizeof *steps * (size_t)opt->n);
    return true;
}

born_status optim_retire_device_scalars(born_optimizer *opt) {
    if (!opt->dev_steps) return BORN_OK;
    float *steps = malloc(sizeof *steps * (size_t)(opt->n > 0 ? opt->n : 1));
    if (!steps) return born_error(BORN_ERR_MEMORY, "born_optimizer_step: out of memory");
    born_status st;
    optim_device_steps(opt, steps, &st);
    if (st == BORN_OK)
        for (int64_t i = 0; i < opt->n; i++)
            if (opt->state[i].device_step) opt->state[i].step = steps[i];
    free(steps);
    if (st == BORN_OK) optim_free_device_scalars(opt);
    return st;
}
