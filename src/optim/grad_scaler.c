/* Dynamic loss scaling (torch.amp.GradScaler's algorithm): the scale multiplies the loss, the
 * gradients are divided by it in place, steps whose gradients hold inf or NaN are skipped and the
 * scale backs off or grows. Gradients on one accelerator take grad_scaler_device.c's path, where
 * the scale and the flag stay on the device; here the host keeps them for the others (the CPU,
 * several devices), reducing "all finite" on each gradient's device and reading it back once a
 * step. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "optim/amp_internal.h"
#include "optim/optim_internal.h"

enum { MAX_DEVICES = 16 };

born_grad_scaler_params born_grad_scaler_default_params(void) {
    return (born_grad_scaler_params){65536.0, 2.0, 0.5, 2000, true};
}

born_grad_scaler *born_grad_scaler_new(const born_grad_scaler_params *params) {
    born_grad_scaler_params p = params ? *params : born_grad_scaler_default_params();
    if (!(p.init_scale > 0 && isfinite(p.init_scale)) || !(p.growth_factor > 1) ||
        !(p.backoff_factor > 0 && p.backoff_factor < 1) || p.growth_interval < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "born_grad_scaler_new: init_scale %g must be "
                               "positive, growth_factor %g above 1, backoff_factor %g in (0, 1) "
                               "and growth_interval %lld positive", p.init_scale, p.growth_factor,
                               p.backoff_factor, (long long)p.growth_interval);
    born_grad_scaler *s = calloc(1, sizeof *s);
    if (!s) return born_error_null(BORN_ERR_MEMORY, "born_grad_scaler_new: out of memory");
    s->p = p;
    s->scale = p.init_scale;
    return s;
}

void born_grad_scaler_free(born_grad_scaler *s) {
    if (!s) return;
    scaler_free_device_state(s);
    free(s);
}

double born_grad_scaler_get_scale(const born_grad_scaler *s) {
    if (!s || !s->p.enabled) return 1.0;
    return s->dev_scale ? scaler_device_scale(s) : s->scale;
}

born_tensor *born_grad_scaler_scale(born_grad_scaler *s, born_tensor *loss) {
    static const char *fn = "born_grad_scaler_scale";
    if (!s || !loss)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: %s is NULL", fn, s ? "loss" : "the scaler");
    if (!s->p.enabled) return born_mul_scalar(loss, 1.0);
    born_device d = loss->storage->device;
    if (d.type != BORN_DEVICE_CPU) { /* the scale stays on the loss's device */
        if (scaler_device_state(s, d, fn) != BORN_OK) return NULL;
        return born_mul(loss, s->dev_scale);
    }
    if (scaler_retire_device_state(s, fn) != BORN_OK) return NULL;
    return born_mul_scalar(loss, s->scale);
}

/* The host's unscale: "all finite" reduced on each gradient's device, read back once. */
static born_status unscale_on_host(born_grad_scaler *s, born_optimizer *opt, const char *fn) {
    born_scope_begin();
    born_status st = BORN_OK;
    /* one running "all finite" flag per device, read back after the loop */
    born_device devs[MAX_DEVICES];
    born_tensor *ok[MAX_DEVICES];
    int nd = 0;
    double inv = 1.0 / s->scale;
    for (int64_t i = 0; i < opt->n && st == BORN_OK; i++) {
        born_tensor *g = born_grad(opt->params[i]);
        if (!g) continue;
        st = born_mul_scalar_(g, inv);
        born_tensor *f = st == BORN_OK ? born_all(born_isfinite(g), 0, NULL, false) : NULL;
        if (!f) {
            st = born_last_status();
            break;
        }
        born_device d = g->storage->device;
        int j = 0;
        while (j < nd && !born_device_equal(devs[j], d)) j++;
        if (j == nd) {
            if (nd == MAX_DEVICES) {
                st = born_error(BORN_ERR_UNSUPPORTED, "%s: gradients on more than %d devices", fn,
                                MAX_DEVICES);
                break;
            }
            devs[nd] = d;
            ok[nd++] = f;
        } else {
            ok[j] = born_logical_and(ok[j], f);
            if (!ok[j]) st = born_last_status();
        }
    }
    bool found = false;
    for (int j = 0; j < nd && st == BORN_OK; j++) {
        double v = born_item(ok[j]);
        if (isnan(v)) st = born_last_status();
        else if (v == 0.0) found = true;
    }
    born_scope_end();
    if (st != BORN_OK) return st;
    s->found_inf = found;
    return BORN_OK;
}

born_status born_grad_scaler_unscale(born_grad_scaler *s, born_optimizer *opt) {
    static const char *fn = "born_grad_scaler_unscale";
    if (!s || !opt) return born_error(BORN_ERR_ARGUMENT, "%s: %s is NULL", fn, s ? "opt" : "the scaler");
    if (!s->p.enabled) return BORN_OK;
    if (s->unscaled)
        return born_error(BORN_ERR_ARGUMENT, "%s: already called since the last update", fn);
    born_device d;
    bool device = optim_grads_on_one_device(opt->params, opt->n, &d);
    born_status st = device ? scaler_device_state(s, d, fn) : scaler_retire_device_state(s, fn);
    if (st == BORN_OK)
        st = device ? scaler_unscale_on_device(s, opt) : unscale_on_host(s, opt, fn);
    if (st != BORN_OK) return st;
    s->on_device = device;
    s->unscaled = true;
    return BORN_OK;
}

born_status born_grad_scaler_step(born_grad_scaler *s, born_optimizer *opt, bool *stepped) {
    if (stepped) *stepped = false;
    if (!s || !opt)
        return born_error(BORN_ERR_ARGUMENT, "born_grad_scaler_step: %s is NULL", s ? "opt" : "the scaler");
    if (!s->p.enabled) {
        born_status st = born_optimizer_step(opt);
        if (stepped) *stepped = st == BORN_OK;
        return st;
    }
    if (!s->unscaled) {
        born_status st = born_grad_scaler_unscale(s, opt);
        if (st != BORN_OK) return st;
    }
    s->stepped_seen = true;
    if (s->on_device) return scaler_step_on_device(s, opt, stepped);
    if (s->found_inf) return BORN_OK;
    born_status st = born_optimizer_step(opt);
    if (stepped) *stepped = st == BORN_OK;
    return st;
}

born_status born_grad_scaler_update(born_grad_scaler *s) {
    if (!s) return born_error(BORN_ERR_ARGUMENT, "born_grad_scaler_update: the scaler is NULL");
    if (!s->p.enabled) return BORN_OK;
    if (!s->unscaled)
        return born_error(BORN_ERR_ARGUMENT, "born_grad_scaler_update: no step or unscale since "
                          "the last update");
    if (s->on_device) {
        born_status st = amp_update_scale_tensors(s->dev_scale, s->dev_tracker, s->dev_found,
                                                  s->p.growth_factor, s->p.backoff_factor,
                                                  s->p.growth_interval);
        if (st != BORN_OK) return st;
    } else if (s->found_inf) {
        s->scale *= s->p.backoff_factor;
        s->growth_tracker = 0;
    } else if (++s->growth_tracker >= s->p.growth_interval) {
        double grown = s->scale * s->p.growth_factor;
        if (isfinite(grown)) s->scale = grown;
        s->growth_tracker = 0;
    }
    s->unscaled = s->stepped_seen = s->found_inf = s->on_device = false;
    return BORN_OK;
}
