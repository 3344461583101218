/* The GradScaler's state on one accelerator, as torch keeps it for CUDA: the scale (f32), the
 * growth tracker (i32) and the inf/NaN flag (f32) are 0-dim tensors in device memory, created
 * from the host's values the first time a loss or gradients on that device meet the scaler. The
 * loss is multiplied by the scale tensor, the unscale and the update read and write the tensors
 * on the device (amp_tensors.c), and Adam/AdamW skip a step on the flag there
 * (optim_step_skippable), so a step with loss scaling never waits for the device and can be
 * captured as a CUDA graph; the host reads the state only when asked (the scale, stepped). */
#include <math.h>
#include <stdlib.h>

#include "born/graph.h"
#include "optim/amp_internal.h"
#include "optim/optim_internal.h"

void scaler_free_device_state(born_grad_scaler *s) {
    if (s->dev_scale) tensor_release(s->dev_scale);
    if (s->dev_tracker) tensor_release(s->dev_tracker);
    if (s->dev_found) tensor_release(s->dev_found);
    s->dev_scale = s->dev_tracker = s->dev_found = NULL;
}

double scaler_device_scale(const born_grad_scaler *s) {
    double v = NAN;
    if (optim_read_values("born_grad_scaler_get_scale", "scale", s->dev_scale, &v, 1) != BORN_OK)
        return NAN;
    return v;
}

born_status scaler_retire_device_state(born_grad_scaler *s, const char *fn) {
    if (!s->dev_scale) return BORN_OK;
    if (born_graph_capturing(s->dev))
        return born_error(BORN_ERR_UNSUPPORTED, "%s: the loss or the gradients left the device "
                          "that holds the scale inside a graph capture; the scale would have to "
                          "be read back", fn);
    double v[2];
    born_status st = optim_read_values(fn, "scale", s->dev_scale, &v[0], 1);
    if (st == BORN_OK) st = optim_read_values(fn, "growth tracker", s->dev_tracker, &v[1], 1);
    if (st != BORN_OK) return st;
    s->scale = v[0];
    s->growth_tracker = (int64_t)v[1];
    scaler_free_device_state(s);
    return BORN_OK;
}

born_status scaler_device_state(born_grad_scaler *s, born_device device, const char *fn) {
    if (s->dev_scale && born_device_equal(s->dev, device)) return BORN_OK;
    born_status st = scaler_retire_device_state(s, fn);
    if (st != BORN_OK) return st;
    if (born_graph_capturing(device))
        return born_error(BORN_ERR_ARGUMENT, "%s: the scaler's device state (scale, growth "
                          "tracker, inf/NaN flag) would be created inside a graph capture; run "
                          "one step with the scaler before capturing", fn);
    float scale = (float)s->scale, found = 0;
    int32_t tracker = (int32_t)s->growth_tracker;
    s->dev = device;
    s->dev_scale = optim_owned_on(device, BORN_F32, 0, NULL, &scale);
    s->dev_tracker = s->dev_scale ? optim_owned_on(device, BORN_I32, 0, NULL, &tracker) : NULL;
    s->dev_found = s->dev_tracker ? optim_owned_on(device, BORN_F32, 0, NULL, &found) : NULL;
    if (s->dev_found) return BORN_OK;
    st = born_last_status();
    scaler_free_device_state(s);
    return st;
}

born_status scaler_unscale_on_device(born_grad_scaler *s, born_optimizer *opt) {
    int64_t n = born_optimizer_num_params(opt);
    born_tensor **grads = malloc(sizeof *grads * (size_t)(n > 0 ? n : 1));
    if (!grads) return born_error(BORN_ERR_MEMORY, "born_grad_scaler_unscale: out of memory");
    for (int64_t i = 0; i < n; i++) grads[i] = born_grad(opt->params[i]);
    born_status st = amp_unscale_tensors(grads, n, s->dev_found, s->dev_scale, true);
    free(grads);
    return st;
}

born_status scaler_step_on_device(born_grad_scaler *s, born_optimizer *opt, bool *stepped) {
    if (!stepped) return optim_step_skippable(opt, s->dev_found);
    if (born_graph_capturing(s->dev))
        return born_error(BORN_ERR_ARGUMENT, "born_grad_scaler_step: stepped is read back from "
                          "the device (a wait), which a graph capture cannot do; pass stepped "
                          "NULL inside the captured step");
    double found = 0;
    born_status st = optim_read_values("born_grad_scaler_step", "found_inf", s->dev_found, &found, 1);
    if (st != BORN_OK || found != 0) return st;
    st = born_optimizer_step(opt);
    *stepped = st == BORN_OK;
    return st;
}
