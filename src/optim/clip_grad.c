/* Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_. The norm is computed
 * in f64 with the public ops (so it runs on any device and is thread-count independent); the
 * gradients are then scaled or clamped in place. */
#include <inttypes.h>
#include <math.h>

#include "optim/optim_internal.h"

/* sum |g|^p (or max |g| for p = inf) of one gradient, in f64. */
static born_status grad_norm_part(born_tensor *g, double p, double *out) {
    born_tensor *g64 = born_to_dtype(g, BORN_F64);
    born_tensor *a = born_abs(g64);
    born_tensor *r = NULL;
    if (isinf(p)) r = born_max(a, 0, NULL, false);
    else if (p == 1) r = born_sum(a, 0, NULL, false);
    else if (p == 2) r = born_sum(born_square(a), 0, NULL, false);
    else r = born_sum(born_pow_scalar(a, p), 0, NULL, false);
    if (!r) return born_last_status();
    *out = born_item(r);
    return BORN_OK;
}

born_status born_clip_grad_norm(born_tensor *const *params, int64_t n, double max_norm,
                                double norm_type, double *total_norm) {
    static const char fn[] = "born_clip_grad_norm";
    if (n < 0 || (n > 0 && !params))
        return born_error(BORN_ERR_ARGUMENT, "%s: bad parameter list", fn);
    if (!(norm_type > 0))
        return born_error(BORN_ERR_ARGUMENT, "%s: norm_type %g is not supported (a p > 0, or "
                          "INFINITY)", fn, norm_type);
    if (max_norm != max_norm) return born_error(BORN_ERR_ARGUMENT, "%s: max_norm is NaN", fn);
    for (int64_t i = 0; i < n; i++)
        if (!params[i])
            return born_error(BORN_ERR_ARGUMENT, "%s: parameter %" PRId64 " is NULL", fn, i);
    born_status st = BORN_OK;
    double acc = 0;
    bool any = false;
    born_no_grad_begin();
    born_scope_begin();
    for (int64_t i = 0; i < n && st == BORN_OK; i++) {
        born_tensor *g = born_grad(params[i]);
        if (!g) continue;
        any = true;
        if (born_tensor_numel(g) == 0) continue;
        double part = 0;
        st = grad_norm_part(g, norm_type, &part);
        if (isinf(norm_type)) acc = (part > acc || part != part || acc != acc) ? part : acc;
        else acc += part;
        born_scope_end();
        born_scope_begin();
    }
    double total = 0;
    if (any) total = isinf(norm_type) ? acc : norm_type == 2 ? sqrt(acc)
                                           : norm_type == 1 ? acc
                                                            : pow(acc, 1.0 / norm_type);
    if (st == BORN_OK) {
        double coef = max_norm / (total + 1e-6);
        if (!(coef >= 1.0)) { /* torch.clamp(coef, max=1): NaN stays NaN */
            for (int64_t i = 0; i < n && st == BORN_OK; i++) {
                born_tensor *g = born_grad(params[i]);
                if (g) st = born_mul_scalar_(g, coef);
            }
        }
    }
    born_scope_end();
    born_no_grad_end();
    if (st == BORN_OK && total_norm) *total_norm = total;
    return st;
}

born_status born_clip_grad_value(born_tensor *const *params, int64_t n, double clip_value) {
    static const char fn[] = "born_clip_grad_value";
    if (n < 0 || (n > 0 && !params))
        return born_error(BORN_ERR_ARGUMENT, "%s: bad parameter list", fn);
    if (!(clip_value >= 0))
        return born_error(BORN_ERR_ARGUMENT, "%s: clip_value %g must be >= 0", fn, clip_value);
    for (int64_t i = 0; i < n; i++)
        if (!params[i])
            return born_error(BORN_ERR_ARGUMENT, "%s: parameter %" PRId64 " is NULL", fn, i);
    born_unary_params p = {.alpha = -clip_value, .beta = clip_value};
    born_status st = BORN_OK;
    born_no_grad_begin();
    for (int64_t i = 0; i < n && st == BORN_OK; i++) {
        born_tensor *g = born_grad(params[i]);
        if (g) st = born_unary_out(BORN_UNARY_CLAMP, g, g, &p);
    }
    born_no_grad_end();
    return st;
}
