/* Gradient checking: the Jacobian from backward (one backward pass per output element) against
 * central finite differences (two forward passes per input element). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "autograd/node.h"
#include "core/error.h"

born_gradcheck_params born_gradcheck_default_params(void) {
    born_gradcheck_params p = {1e-6, 1e-6, 1e-8};
    return p;
}

/* Unravels a flat row-major index into a multi-index for t's shape. */
static void unravel(const born_tensor *t, int64_t flat, int64_t *idx) {
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = flat % t->shape[d];
        flat /= t->shape[d];
    }
}

/* fn(inputs) as a flat array of doubles (no grad); NULL on error. */
static double *evaluate(born_gradcheck_fn fn, born_tensor *const *inputs, void *ctx, int64_t m) {
    double *values = malloc((size_t)(m > 0 ? m : 1) * sizeof *values);
    if (!values) return born_error_null(BORN_ERR_MEMORY, "born_gradcheck: out of memory");
    born_scope_begin();
    born_tensor *out = fn(inputs, ctx);
    born_tensor *flat = out ? born_to_dtype(born_contiguous(out), BORN_F64) : NULL;
    if (!flat || born_tensor_numel(flat) != m) {
        born_scope_end();
        free(values);
        return born_error_null(BORN_ERR_ARGUMENT, "born_gradcheck: the function failed or "
                               "changed its output size");
    }
    born_copy_to_buffer(flat, values, (size_t)m * sizeof(double));
    born_scope_end();
    return values;
}

born_status born_gradcheck(born_gradcheck_fn fn, int ninputs, born_tensor *const *inputs,
                           void *ctx, const born_gradcheck_params *params) {
    born_gradcheck_params p = params ? *params : born_gradcheck_default_params();
    if (!fn || ninputs <= 0 || !inputs)
        return born_error(BORN_ERR_ARGUMENT, "born_gradcheck: no function or no inputs");
    born_status st = BORN_OK;
    born_scope_begin();
    born_tensor *out = fn(inputs, ctx);
    if (!out) {
        born_scope_end();
        return born_error(BORN_ERR_ARGUMENT, "born_gradcheck: the function returned NULL");
    }
    int64_t m = born_tensor_numel(out);
    /* analytic Jacobian rows: d out[j] / d inputs, one backward per output element */
    int64_t total = 0;
    for (int i = 0; i < ninputs; i++)
        if (born_tensor_requires_grad(inputs[i])) total += born_tensor_numel(inputs[i]);
    double *jac = calloc((size_t)(m * total > 0 ? m * total : 1), sizeof *jac);
    if (!jac) {
        born_scope_end();
        return born_error(BORN_ERR_MEMORY, "born_gradcheck: out of memory");
    }
    if (!born_tensor_requires_grad(out)) {
        st = born_error(BORN_ERR_AUTOGRAD, "born_gradcheck: the output does not require grad");
        goto done;
    }
    for (int64_t j = 0; j < m && st == BORN_OK; j++) {
        born_scope_begin();
        born_tensor *seed = born_zeros(out->dtype, out->ndim, out->shape);
        int64_t idx[BORN_MAX_DIMS];
        unravel(out, j, idx);
        born_no_grad_begin();
        born_set(seed, idx, 1.0);
        born_no_grad_end();
        for (int i = 0; i < ninputs; i++) born_zero_grad(inputs[i]);
        born_backward_params bp = {seed, true};
        st = born_backward_ex(out, &bp);
        int64_t col = 0;
        for (int i = 0; i < ninputs && st == BORN_OK; i++) {
            if (!born_tensor_requires_grad(inputs[i])) continue;
            born_tensor *g = born_grad(inputs[i]);
            int64_t k = born_tensor_numel(inputs[i]);
            for (int64_t e = 0; e < k; e++) {
                double v = 0.0;
                if (g) {
                    int64_t gi[BORN_MAX_DIMS];
                    unravel(g, e, gi);
                    born_get(g, gi, &v);
                }
                jac[j * total + col + e] = v;
            }
            col += k;
        }
        born_scope_end();
    }
    for (int i = 0; i < ninputs; i++) born_zero_grad(inputs[i]);

    /* numerical Jacobian columns, compared as they come */
    born_no_grad_begin();
    int64_t col = 0;
    for (int i = 0; i < ninputs && st == BORN_OK; i++) {
        born_tensor *x = inputs[i];
        if (!born_tensor_requires_grad(x)) continue;
        int64_t k = born_tensor_numel(x);
        for (int64_t e = 0; e < k && st == BORN_OK; e++) {
            int64_t idx[BORN_MAX_DIMS];
            unravel(x, e, idx);
            double v0 = 0.0;
            born_get(x, idx, &v0);
            born_set(x, idx, v0 + p.eps);
            double *plus = evaluate(fn, inputs, ctx, m);
            born_set(x, idx, v0 - p.eps);
            double *minus = evaluate(fn, inputs, ctx, m);
            born_set(x, idx, v0);
            if (!plus || !minus) st = born_last_status();
            for (int64_t j = 0; j < m && st == BORN_OK; j++) {
                double numeric = (plus[j] - minus[j]) / (2.0 * p.eps);
                double analytic = jac[j * total + col + e];
                if (!(fabs(analytic - numeric) <= p.atol + p.rtol * fabs(numeric)))
                    st = born_error(BORN_ERR_AUTOGRAD,
                                    "born_gradcheck: d output[%" PRId64 "] / d input %d [%" PRId64
                                    "]: backward gives %.12g, finite differences %.12g",
                                    j, i, e, analytic, numeric);
            }
            free(plus);
            free(minus);
        }
        col += k;
    }
    born_no_grad_end();
done:
    free(jac);
    born_scope_end();
    return st;
}
