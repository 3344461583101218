/* born_clip_grad_norm on an accelerator, without a read-back: the norm is summed (2-norm) or
 * maxed (inf-norm) in f64 on the device into a 0-dim tensor, the clamped coefficient
 * min(max_norm / (norm + 1e-6), 1) is formed there too (NaN stays NaN) and every gradient is
 * multiplied by it in place (the coefficient cast to the gradient's dtype, as torch's foreach path
 * multiplies by a tensor of the norm's dtype). So a training step that clips can be captured as a
 * CUDA graph (include/born/graph.h); the host waits only when the caller asks for the norm. */
#include <math.h>

#include "born/graph.h"
#include "core/tensor_impl.h"
#include "optim/optim_internal.h"

bool optim_grads_on_one_device(born_tensor *const *params, int64_t n, born_device *device) {
    bool any = false;
    born_device dev = BORN_CPU;
    for (int64_t i = 0; i < n; i++) {
        born_tensor *g = born_grad(params[i]);
        if (!g) continue;
        born_device d = g->storage->device;
        if (d.type == BORN_DEVICE_CPU || !born_dtype_is_floating(g->dtype)) return false;
        if (any && !born_device_equal(d, dev)) return false;
        dev = d;
        any = true;
    }
    if (any && device) *device = dev;
    return any;
}

bool optim_clip_device_ok(born_tensor *const *params, int64_t n, double norm_type) {
    return (norm_type == 2 || isinf(norm_type)) && optim_grads_on_one_device(params, n, NULL);
}

born_status optim_clip_grad_device(born_tensor *const *params, int64_t n, double max_norm,
                                   double norm_type, double *total_norm) {
    bool inf = isinf(norm_type);
    born_status st = BORN_OK;
    born_no_grad_begin();
    born_scope_begin();
    born_tensor *acc = NULL;
    for (int64_t i = 0; i < n && st == BORN_OK; i++) {
        born_tensor *g = born_grad(params[i]);
        if (!g || born_tensor_numel(g) == 0) continue;
        born_tensor *g64 = born_to_dtype(g, BORN_F64);
        born_tensor *part = inf ? born_max(born_abs(g64), 0, NULL, false)
                                : born_sum(born_square(g64), 0, NULL, false);
        born_tensor *next = !part ? NULL : !acc ? part : inf ? born_maximum(acc, part)
                                                            : born_add(acc, part);
        if (!next) st = born_last_status();
        acc = next;
    }
    born_tensor *total = NULL, *coef = NULL;
    if (st == BORN_OK && acc) {
        total = inf ? acc : born_sqrt(acc);
        coef = total ? born_clamp(born_div(born_full_like(total, max_norm),
                                           born_add_scalar(total, 1e-6)),
                                  -INFINITY, 1.0)
                     : NULL;
        if (!coef) st = born_last_status();
    }
    for (int64_t i = 0; i < n && st == BORN_OK && coef; i++) {
        born_tensor *g = born_grad(params[i]);
        if (!g || born_tensor_numel(g) == 0) continue;
        born_tensor *c = g->dtype == BORN_F64 ? coef : born_to_dtype(coef, g->dtype);
        st = c ? born_mul_(g, c) : born_last_status();
    }
    double value = 0; /* no gradient with elements: the norm is 0 */
    if (st == BORN_OK && total_norm && total) {
        value = born_item(total);
        if (value != value && born_last_status() != BORN_OK) st = born_last_status();
    }
    born_scope_end();
    born_no_grad_end();
    if (st == BORN_OK && total_norm) *total_norm = value;
    return st;
}
