/* Reductions: sum, mean, prod, max/min (amax/amin), var/std, logsumexp, any/all, argmax/argmin
 * and sum_to_shape. sum, prod and max/min are primitives with their own rules; mean, var, std and
 * logsumexp are written with other ops, so autograd differentiates them by composition. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"

typedef struct reduce_params {
    born_reduce_op op;
    uint32_t mask;
    bool keepdim;
} reduce_params;

/* The gradient of the output, broadcast back to the input's shape (reduced dims restored). */
static born_tensor *expand_back(born_tensor *g, const reduce_params *p, const node_edge *e) {
    int64_t kshape[BORN_MAX_DIMS];
    for (int d = 0; d < e->ndim; d++) kshape[d] = (p->mask & (1u << d)) ? 1 : e->shape[d];
    born_tensor *k = p->keepdim ? g : born_reshape(g, e->ndim, kshape);
    return born_expand(k, e->ndim, e->shape);
}

static born_status reduce_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const reduce_params *p = node_params(n);
    const node_edge *e = &n->inputs[0];
    born_tensor *x = node_saved(n, 0), *y = node_saved(n, 1);
    born_tensor *gx = expand_back(g, p, e);
    switch (p->op) {
    case BORN_REDUCE_SUM: gi[0] = gx; break;
    case BORN_REDUCE_MAX:
    case BORN_REDUCE_MIN: { /* shared evenly by the elements equal to the extreme */
        born_tensor *yx = expand_back(y, p, e);
        born_tensor *hit = born_to_dtype(born_eq(x, yx), g->dtype);
        int64_t dims[BORN_MAX_DIMS];
        int nd = 0;
        for (int d = 0; d < e->ndim; d++)
            if (p->mask & (1u << d)) dims[nd++] = d;
        born_tensor *count = born_sum(hit, nd, dims, true);
        gi[0] = born_div(born_mul(gx, hit), born_expand(count, e->ndim, e->shape));
        break;
    }
    case BORN_REDUCE_PROD: { /* exact with zeros: product of the others */
        int64_t dims[BORN_MAX_DIMS];
        int nd = 0;
        for (int d = 0; d < e->ndim; d++)
            if (p->mask & (1u << d)) dims[nd++] = d;
        born_tensor *is_zero = born_eq_scalar(x, 0.0);
        born_tensor *safe = born_masked_fill(x, is_zero, 1.0);
        born_tensor *nz_prod = born_prod(safe, nd, dims, true);
        born_tensor *zeros = born_sum(is_zero, nd, dims, true);
        born_tensor *zero_fill = born_zeros_like(x);
        born_tensor *at_zero = born_where(born_eq_scalar(zeros, 1.0),
                                          born_expand(nz_prod, e->ndim, e->shape), zero_fill);
        born_tensor *elsewhere = born_where(born_eq_scalar(zeros, 0.0), born_div(nz_prod, safe), zero_fill);
        gi[0] = born_mul(gx, born_where(is_zero, at_zero, elsewhere));
        break;
    }
    default: break;
    }
    return BORN_OK;
}

/* The dtype reduce computes in and the result dtype. */
static bool reduce_dtypes(born_reduce_op op, born_dtype in, born_dtype *compute, born_dtype *out,
                          const char *name) {
    switch (op) {
    case BORN_REDUCE_SUM:
    case BORN_REDUCE_PROD:
        *out = born_dtype_is_floating(in) ? in : BORN_I64;
        *compute = (in == BORN_F16 || in == BORN_BF16) ? BORN_F32 : *out;
        return true;
    case BORN_REDUCE_MAX:
    case BORN_REDUCE_MIN:
        *out = in;
        *compute = (in == BORN_F16 || in == BORN_BF16) ? BORN_F32 : in;
        return true;
    case BORN_REDUCE_ANY:
    case BORN_REDUCE_ALL: *compute = *out = BORN_BOOL; return true;
    }
    born_error(BORN_ERR_ARGUMENT, "%s: invalid reduction", name);
    return false;
}

static born_tensor *reduce_op(born_reduce_op op, born_tensor *t, int ndims, const int64_t *dims,
                              bool keepdim, const char *name, const char *node_name) {
    if (!ops_check_inputs(name, 1, &t)) return NULL;
    uint32_t mask;
    if (!ops_dims_mask(name, t, ndims, dims, &mask)) return NULL;
    born_dtype compute, out_dtype;
    if (!reduce_dtypes(op, t->dtype, &compute, &out_dtype, name)) return NULL;
    if ((op == BORN_REDUCE_MAX || op == BORN_REDUCE_MIN)) {
        for (int d = 0; d < t->ndim; d++)
            if ((mask & (1u << d)) && t->shape[d] == 0)
                return born_error_null(BORN_ERR_SHAPE, "%s: cannot reduce over dimension %d of "
                                       "size 0 (no identity)", name, d);
    }
    const born_backend *be = ops_backend(t);
    if (!be) return NULL;
    int64_t kshape[BORN_MAX_DIMS], shape[BORN_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) kshape[d] = (mask & (1u << d)) ? 1 : t->shape[d];
    int nd = ops_reduced_shape(t, mask, keepdim, shape);
    /* a backend that reads halves into its f32 accumulator saves the conversion pass */
    bool half_in = be->reduce_half_in && compute == BORN_F32 &&
                   (t->dtype == BORN_F16 || t->dtype == BORN_BF16);
    born_tensor *in = ops_as_dtype(t, half_in ? t->dtype : compute);
    born_tensor *acc = in ? ops_empty(compute, t->ndim, kshape, t->storage->device) : NULL;
    born_status st = acc ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        born_strided o = strided_of(acc), s = strided_of(in);
        st = be->reduce ? be->reduce(op, &o, &s, mask)
                        : born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", name);
    }
    born_free(in);
    born_tensor *out = NULL;
    if (st == BORN_OK) {
        born_tensor *typed = ops_as_dtype(acc, out_dtype);
        out = typed ? tensor_new_view(typed, out_dtype, nd, shape, NULL, typed->offset) : NULL;
        born_free(typed);
    }
    born_free(acc);
    if (!out || !born_dtype_is_floating(out_dtype)) return out;
    reduce_params p = {op, mask, keepdim};
    born_tensor *save[2] = {op == BORN_REDUCE_SUM ? NULL : t,
                            (op == BORN_REDUCE_MAX || op == BORN_REDUCE_MIN) ? out : NULL};
    if (!autograd_record(out, node_name, reduce_backward, 1, &t, 2, save, &p, sizeof p)) {
        born_free(out);
        return NULL;
    }
    return out;
}

born_tensor *born_sum(born_tensor *t, int nd, const int64_t *dims, bool keepdim) {
    return reduce_op(BORN_REDUCE_SUM, t, nd, dims, keepdim, "born_sum", "SumBackward");
}
born_tensor *born_prod(born_tensor *t, int nd, const int64_t *dims, bool keepdim) {
    return reduce_op(BORN_REDUCE_PROD, t, nd, dims, keepdim, "born_prod", "ProdBackward");
}
born_tensor *born_max(born_tensor *t, int nd, const int64_t *dims, bool keepdim) {
    return reduce_op(BORN_REDUCE_MAX, t, nd, dims, keepdim, "born_max", "MaxBackward");
}
born_tensor *born_min(born_tensor *t, int nd, const int64_t *dims, bool keepdim) {
    return reduce_op(BORN_REDUCE_MIN, t, nd, dims, keepdim, "born_min", "MinBackward");
}

/* any/all reduce the tensor's truth values. */
static born_tensor *truth_reduce(born_reduce_op op, born_tensor *t, int nd, const int64_t *dims,
                                 bool keepdim, const char *name) {
    if (!ops_check_inputs(name, 1, &t)) return NULL;
    born_tensor *b = ops_as_dtype(t, BORN_BOOL);
    if (!b) return NULL;
    born_tensor *out = reduce_op(op, b, nd, dims, keepdim, name, "");
    born_free(b);
    return out;
}

born_tensor *born_any(born_tensor *t, int nd, const int64_t *dims, bool keepdim) {
    return truth_reduce(BORN_REDUCE_ANY, t, nd, dims, keepdim, "born_any");
}
born_tensor *born_all(born_tensor *t, int nd, const int64_t *dims, bool keepdim) {
    return truth_reduce(BORN_REDUCE_ALL, t, nd, dims, keepdim, "born_all");
}

/* How many elements the dims reduce over. */
static int64_t reduced_count(const born_tensor *t, int nd, const int64_t *dims, const char *name,
                             bool *ok) {
    uint32_t mask;
    *ok = ops_dims_mask(name, t, nd, dims, &mask);
    int64_t n = 1;
    for (int d = 0; *ok && d < t->ndim; d++)
        if (mask & (1u << d)) n *= t->shape[d];
    return n;
}

born_tensor *born_mean(born_tensor *t, int nd, const int64_t *dims, bool keepdim) {
    if (!ops_check_inputs("born_mean", 1, &t)) return NULL;
    if (!born_dtype_is_floating(t->dtype))
        return born_error_null(BORN_ERR_DTYPE, "born_mean: input is %s; mean needs a floating "
                               "dtype (convert with born_to_dtype)", born_dtype_name(t->dtype));
    bool ok;
    int64_t n = reduced_count(t, nd, dims, "born_mean", &ok);
    if (!ok) return NULL;
    born_scope_begin();
    born_tensor *out = born_keep(born_div_scalar(born_sum(t, nd, dims, keepdim), (double)n));
    born_scope_end();
    return out;
}

born_tensor *born_var(born_tensor *t, int nd, const int64_t *dims, int64_t correction, bool keepdim) {
    if (!ops_check_inputs("born_var", 1, &t)) return NULL;
    if (!born_dtype_is_floating(t->dtype))
        return born_error_null(BORN_ERR_DTYPE, "born_var: input is %s; var needs a floating dtype",
                               born_dtype_name(t->dtype));
    bool ok;
    int64_t n = reduced_count(t, nd, dims, "born_var", &ok);
    if (!ok) return NULL;
    double denom = (double)(n - correction);
    if (denom < 0) denom = 0; /* torch gives inf/nan rather than failing */
    born_scope_begin();
    born_tensor *centered = born_sub(t, born_mean(t, nd, dims, true));
    born_tensor *out = born_keep(born_div_scalar(born_sum(born_square(centered), nd, dims, keepdim), denom));
    born_scope_end();
    return out;
}

born_tensor *born_std(born_tensor *t, int nd, const int64_t *dims, int64_t correction, bool keepdim) {
    born_scope_begin();
    born_tensor *out = born_keep(born_sqrt(born_var(t, nd, dims, correction, keepdim)));
    born_scope_end();
    return out;
}

born_tensor *born_logsumexp(born_tensor *t, int nd, const int64_t *dims, bool keepdim) {
    if (!ops_check_inputs("born_logsumexp", 1, &t)) return NULL;
    uint32_t mask;
    if (!ops_dims_mask("born_logsumexp", t, nd, dims, &mask)) return NULL;
    born_scope_begin();
    born_tensor *x = born_dtype_is_floating(t->dtype) ? t : born_to_dtype(t, BORN_F32);
    /* shift by the maximum, a constant for autograd; an infinite maximum shifts by 0 instead */
    born_tensor *m = born_detach(born_max(x, nd, dims, true));
    m = born_masked_fill(m, born_isinf(m), 0.0);
    born_tensor *out = born_add(born_log(born_sum(born_exp(born_sub(x, m)), nd, dims, true)), m);
    if (!keepdim) {
        int64_t shape[BORN_MAX_DIMS];
        int rnd = ops_reduced_shape(t, mask, false, shape);
        out = born_reshape(out, rnd, shape);
    }
    out = born_keep(out);
    born_scope_end();
    return out;
}

/* ---- argmax / argmin ----------------------------------------------------------------------- */

static born_tensor *arg_op(bool is_max, born_tensor *t, int dim, bool keepdim, const char *name) {
    if (!ops_check_inputs(name, 1, &t)) return NULL;
    int d = dim_normalize(name, dim, t->ndim);
    if (d < 0) return NULL;
    if (t->ndim > 0 && t->shape[d] == 0)
        return born_error_null(BORN_ERR_SHAPE, "%s: dimension %d has size 0", name, d);
    const born_backend *be = ops_backend(t);
    if (!be) return NULL;
    int64_t kshape[BORN_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) kshape[i] = i == d ? 1 : t->shape[i];
    born_tensor *out = ops_empty(BORN_I64, t->ndim, kshape, t->storage->device);
    if (!out) return NULL;
    born_strided o = strided_of(out), s = strided_of(t);
    born_status st = be->arg_reduce ? be->arg_reduce(is_max, &o, &s, d)
                                    : born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", name);
    if (st != BORN_OK) {
        born_free(out);
        return NULL;
    }
    if (keepdim || t->ndim == 0) return out;
    born_tensor *squeezed = born_squeeze(out, d);
    born_free(out);
    return squeezed;
}

born_tensor *born_argmax(born_tensor *t, int dim, bool keepdim) { return arg_op(true, t, dim, keepdim, "born_argmax"); }
born_tensor *born_argmin(born_tensor *t, int dim, bool keepdim) { return arg_op(false, t, dim, keepdim, "born_argmin"); }

static born_tensor *arg_all(bool is_max, born_tensor *t, const char *name) {
    if (!ops_check_inputs(name, 1, &t)) return NULL;
    born_scope_begin();
    born_tensor *flat = born_reshape(born_detach(t), 1, (int64_t[]){-1});
    born_tensor *out = born_keep(flat ? arg_op(is_max, flat, 0, false, name) : NULL);
    born_scope_end();
    return out;
}

born_tensor *born_argmax_all(born_tensor *t) { return arg_all(true, t, "born_argmax_all"); }
born_tensor *born_argmin_all(born_tensor *t) { return arg_all(false, t, "born_argmin_all"); }

/* ---- sum_to_shape -------------------------------------------------------------------------- */

born_tensor *born_sum_to_shape(born_tensor *t, int ndim, const int64_t *shape) {
    if (!ops_check_inputs("born_sum_to_shape", 1, &t)) return NULL;
    char a[200], b[160];
    if (ndim > t->ndim || ndim < 0 || (ndim > 0 && !shape))
        return born_error_null(BORN_ERR_SHAPE, "born_sum_to_shape: %s cannot be summed to %d "
                               "dimensions", ops_describe(t, a, sizeof a), ndim);
    int lead = t->ndim - ndim;
    int64_t dims[BORN_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (d < lead) {
            dims[nd++] = d;
            continue;
        }
        int64_t want = shape[d - lead];
        if (want == t->shape[d]) continue;
        if (want != 1)
            return born_error_null(BORN_ERR_SHAPE, "born_sum_to_shape: %s does not broadcast "
                                   "from %s", ops_describe(t, a, sizeof a),
                                   shape_str(ndim, shape, b, sizeof b));
        dims[nd++] = d;
    }
    if (nd == 0) return born_view(t, ndim, shape);
    born_scope_begin();
    born_tensor *out = born_keep(born_reshape(born_sum(t, nd, dims, true), ndim, shape));
    born_scope_end();
    return out;
}
