/* Dynamic loss scaling's arithmetic on tensors of one device: the unscale of the gradients with
 * the inf/NaN check, and the scale's backoff/growth, both reading the scale and the flag where
 * they live so that nothing waits for the device. A backend's multi-tensor entry
 * (amp_unscale_multi: one CUDA launch for many gradients) takes the contiguous gradients; the
 * rest, and every backend without the entry, go through ordinary ops with the same arithmetic. */
#include <stdlib.h>

#include "backend/backend.h"
#include "born/autograd.h"
#include "optim/amp_internal.h"

static bool entry_takes(const born_tensor *g) {
    born_dtype t = g->dtype;
    return (t == BORN_F32 || t == BORN_F16 || t == BORN_BF16 || t == BORN_F64) &&
           born_tensor_is_contiguous(g);
}

/* The composed unscale of g: g *= inv in place, and *bad ORed with "g holds inf or NaN" (a bool
 * 0-dim tensor, created at the first gradient). */
static born_status unscale_by_ops(born_tensor *g, born_tensor *inv, born_tensor **bad) {
    born_status st = born_mul_(g, inv);
    if (st != BORN_OK) return st;
    born_tensor *nf = born_logical_not(born_all(born_isfinite(g), 0, NULL, false));
    *bad = *bad ? born_logical_or(*bad, nf) : nf;
    return *bad ? BORN_OK : born_last_status();
}

born_status amp_unscale_tensors(born_tensor *const *grads, int64_t n, born_tensor *found_inf,
                                born_tensor *scale, bool use_entry) {
    const born_backend *be = backend_for(found_inf->storage->device);
    if (!be) return born_last_status();
    bool entry = use_entry && be->amp_unscale_multi;
    born_strided *list = entry ? malloc(sizeof *list * (size_t)(n > 0 ? n : 1)) : NULL;
    if (entry && !list) return born_error(BORN_ERR_MEMORY, "amp unscale: out of memory");
    born_status st = born_fill_(found_inf, 0.0);
    born_no_grad_begin();
    born_scope_begin();
    born_tensor *inv = NULL, *bad = NULL;
    int64_t m = 0;
    for (int64_t i = 0; i < n && st == BORN_OK; i++) {
        born_tensor *g = grads[i];
        if (!g || born_tensor_numel(g) == 0) continue;
        if (entry && entry_takes(g)) {
            list[m++] = strided_of(g);
            continue;
        }
        if (!inv) /* torch: scale.double().reciprocal().float() */
            inv = born_to_dtype(born_reciprocal(born_to_dtype(scale, BORN_F64)), BORN_F32);
        st = inv ? unscale_by_ops(g, inv, &bad) : born_last_status();
    }
    if (st == BORN_OK && m > 0)
        st = be->amp_unscale_multi(m, list, tensor_data(found_inf), tensor_data(scale));
    if (st == BORN_OK && bad)
        st = born_copy_(found_inf, born_logical_or(born_ne_scalar(found_inf, 0.0), bad));
    born_scope_end();
    born_no_grad_end();
    free(list);
    return st;
}

born_status amp_update_scale_tensors(born_tensor *scale, born_tensor *tracker,
                                     born_tensor *found_inf, double growth, double backoff,
                                     int64_t interval) {
    born_no_grad_begin();
    born_scope_begin();
    born_tensor *inf = born_ne_scalar(found_inf, 0.0);
    born_tensor *s64 = born_to_dtype(scale, BORN_F64);
    born_tensor *next = born_add_scalar(born_to_dtype(tracker, BORN_F64), 1.0);
    born_tensor *grow = born_logical_and(born_logical_not(inf),
                                         born_ge_scalar(next, (double)interval));
    born_tensor *grown = born_to_dtype(born_mul_scalar(s64, growth), BORN_F32);
    born_tensor *take = born_logical_and(grow, born_isfinite(grown));
    born_tensor *backed = born_to_dtype(born_mul_scalar(s64, backoff), BORN_F32);
    born_tensor *new_scale = born_where(inf, backed, born_where(take, grown, scale));
    born_tensor *new_tracker = born_where(born_logical_or(inf, grow), born_mul_scalar(next, 0.0),
                                          next);
    born_status st = new_scale && new_tracker ? born_copy_(scale, new_scale) : born_last_status();
    if (st == BORN_OK) st = born_copy_(tracker, new_tracker);
    born_scope_end();
    born_no_grad_end();
    return st;
}
