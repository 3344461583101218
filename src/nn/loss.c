/* Losses, as torch.nn.functional: cross_entropy (class indices or probabilities, class weights,
 * ignore_index, label smoothing), nll_loss, mse/l1/smooth_l1/huber, and binary cross entropy on
 * logits and on probabilities. Each is a composition of public ops inside its own scope, so
 * gradients flow by composition and intermediates die with the scope.
 *
 * With class indices the per-position loss is -w[t] logp[t] (0 where t == ignore_index) and the
 * mean divides by the summed w[t] of the non-ignored positions; label smoothing adds
 * eps/C * (-sum_c w[c] logp[c]) with the same masking and the same divisor, and scales the first
 * term by 1 - eps (aten's cross_entropy_loss_label_smoothing). With probabilities the loss is
 * -sum_c w[c] q[c] logp[c] with q smoothed to q (1 - eps) + eps / C, and the mean divides by the
 * number of positions. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "born/graph.h"
#include "autograd/node.h"
#include "core/tensor_impl.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

born_cross_entropy_params born_cross_entropy_default_params(void) {
    born_cross_entropy_params p = {NULL, -100, 0.0, BORN_REDUCTION_MEAN};
    return p;
}

born_nll_loss_params born_nll_loss_default_params(void) {
    born_nll_loss_params p = {NULL, -100, BORN_REDUCTION_MEAN};
    return p;
}

born_bce_params born_bce_default_params(void) {
    born_bce_params p = {NULL, NULL, BORN_REDUCTION_MEAN};
    return p;
}

static bool check_reduction(const char *fn, born_reduction r) {
    if (r == BORN_REDUCTION_MEAN || r == BORN_REDUCTION_SUM || r == BORN_REDUCTION_NONE) return true;
    born_error(BORN_ERR_ARGUMENT, "%s: unknown reduction %d", fn, (int)r);
    return false;
}

static born_tensor *reduce(born_tensor *loss, born_reduction r) {
    switch (r) {
    case BORN_REDUCTION_MEAN: return born_mean(loss, 0, NULL, false);
    case BORN_REDUCTION_SUM: return born_sum(loss, 0, NULL, false);
    default: return loss;
    }
}

/* [1, C, 1, ...] for an ndim-dimensional input with C classes in dimension 1. */
static void class_shape(int ndim, int64_t c, int64_t *shape) {
    for (int i = 0; i < ndim; i++) shape[i] = i == 1 ? c : 1;
}

/* ---- class-index targets --------------------------------------------------------------------- */

/* The shape, dtype and every value of integer class targets for input [N, C, d...]. */
static bool check_class_targets(const char *fn, born_tensor *input, born_tensor *target,
                                int64_t ignore_index) {
    char a[200], b[200], s[160];
    if (!born_dtype_is_integer(target->dtype)) {
        born_error(BORN_ERR_DTYPE, "%s: class-index target %s must have an integer dtype (input %s)",
                   fn, ops_describe(target, a, sizeof a), ops_describe(input, b, sizeof b));
        return false;
    }
    int64_t want[BORN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < input->ndim; i++)
        if (i != 1) want[nd++] = input->shape[i];
    if (target->ndim != nd || memcmp(target->shape, want, sizeof(int64_t) * (size_t)nd) != 0) {
        born_error(BORN_ERR_SHAPE, "%s: target %s does not fit input %s: expected class indices "
                   "shaped %s (the input's shape without the class dimension 1)", fn,
                   ops_describe(target, a, sizeof a), ops_describe(input, b, sizeof b),
                   shape_str(nd, want, s, sizeof s));
        return false;
    }
    int64_t n = born_tensor_numel(target), c = input->shape[1];
    /* inside a graph capture nothing may read the device back: the kernels check the targets on
     * the device and the next host sync reports a bad one (include/born/graph.h) */
    if (n == 0 || born_graph_capturing(target->storage->device)) return true;
    /* the values read in place from a CPU i64 copy (the target itself when it is one) */
    born_scope_begin();
    born_tensor *host = born_contiguous(born_to_dtype(born_to(target, BORN_CPU), BORN_I64));
    const int64_t *v = host ? born_data_i64(host) : NULL;
    bool ok = v != NULL;
    for (int64_t i = 0; ok && i < n; i++)
        if (v[i] != ignore_index && (v[i] < 0 || v[i] >= c)) {
            born_error(BORN_ERR_ARGUMENT, "%s: target %" PRId64 " (element %" PRId64 " of %s) is "
                       "out of range for %" PRId64 " classes (input %s; ignore_index %" PRId64 ")",
                       fn, v[i], i, ops_describe(target, a, sizeof a), c,
                       ops_describe(input, b, sizeof b), ignore_index);
            ok = false;
        }
    born_scope_end();
    return ok;
}

static bool check_weight(const char *fn, born_tensor *input, born_tensor *weight) {
    if (!weight) return true;
    char a[200], b[200];
    int64_t c = input->ndim >= 2 ? input->shape[1] : input->shape[0];
    if (weight->ndim != 1 || weight->shape[0] != c || !born_dtype_is_floating(weight->dtype)) {
        born_error(BORN_ERR_SHAPE, "%s: class weight %s must be a floating 1-D tensor with one "
                   "entry per class (%" PRId64 ", input %s)", fn, ops_describe(weight, a, sizeof a),
                   c, ops_describe(input, b, sizeof b));
        return false;
    }
    return true;
}

/* The loss for log-probabilities logp [N, C, d...] and checked class indices target [N, d...];
 * runs inside the caller's scope. */
static born_tensor *class_index_loss(born_tensor *logp, born_tensor *target, born_tensor *weight,
                                     int64_t ignore_index, double smoothing, born_reduction r) {
    int64_t c = logp->shape[1];
    born_tensor *t64 = born_to_dtype(target, BORN_I64);
    /* scalars as *_scalar ops, so the target may live on any device */
    born_tensor *valid = born_ne_scalar(t64, (double)ignore_index);
    born_tensor *invalid = born_logical_not(valid);
    born_tensor *safe = born_mul(t64, born_to_dtype(valid, BORN_I64)); /* ignored -> class 0 */
    born_tensor *picked = born_squeeze(born_gather(logp, 1, born_unsqueeze(safe, 1)), 1);
    born_tensor *w_t = born_to_dtype(valid, logp->dtype);
    born_tensor *wc = weight ? born_to_dtype(weight, logp->dtype) : NULL;
    if (wc) {
        born_tensor *sel = born_index_select(wc, 0, born_flatten(safe, 0, -1));
        w_t = born_mul(born_reshape(sel, target->ndim, target->shape), w_t);
    }
    born_tensor *nll = born_masked_fill(born_neg(born_mul(picked, w_t)), invalid, 0.0);
    born_tensor *smooth = NULL;
    if (smoothing > 0) {
        born_tensor *lp = logp;
        if (wc) {
            int64_t shape[BORN_MAX_DIMS];
            class_shape(logp->ndim, c, shape);
            lp = born_mul(logp, born_reshape(wc, logp->ndim, shape));
        }
        smooth = born_masked_fill(born_neg(born_sum(lp, 1, (const int64_t[]){1}, false)), invalid, 0.0);
    }
    if (r == BORN_REDUCTION_NONE) {
        if (!smooth) return nll;
        return born_add(born_mul_scalar(nll, 1.0 - smoothing), born_mul_scalar(smooth, smoothing / (double)c));
    }
    born_tensor *total = born_sum(nll, 0, NULL, false);
    if (smooth)
        total = born_add(born_mul_scalar(total, 1.0 - smoothing),
                         born_mul_scalar(born_sum(smooth, 0, NULL, false), smoothing / (double)c));
    if (r == BORN_REDUCTION_SUM) return total;
    return born_div(total, born_sum(w_t, 0, NULL, false));
}

/* ---- fused cross-entropy ---------------------------------------------------------------------- */

/* Where the backend has the fused kernels (one pass for log-softmax and the target's
 * log-likelihood, one for the gradient), plain cross-entropy of [N, C] logits (no class weights,
 * no label smoothing) runs as one node: per-row losses in f32 (f64 for f64) whose rule calls the
 * fused backward, then the reduction as ops, rounded to the logits' dtype at the end. */
typedef struct xent_params {
    int64_t ignore_index;
} xent_params;

static born_status xent_rule(born_node *node, born_tensor *g, born_tensor **gi) {
    const xent_params *p = node_params(node);
    born_tensor *x = node_saved(node, 0), *t = node_saved(node, 1), *lse = node_saved(node, 2);
    const born_backend *be = ops_backend(x);
    born_tensor *gc = be ? born_to_dtype(g, lse->dtype) : NULL;
    born_tensor *dx = gc ? ops_empty(x->dtype, 2, x->shape, x->storage->device) : NULL;
    if (!dx) return born_last_status();
    born_strided sdx = strided_of(dx), sx = strided_of(x), st = strided_of(t), sl = strided_of(lse);
    born_strided sg = strided_of(gc);
    born_status s = be->cross_entropy_backward(&sdx, &sx, &st, &sl, &sg, p->ignore_index);
    if (s != BORN_OK) return s;
    gi[0] = dx;
    return BORN_OK;
}

/* The loss of logits x [N, C] against checked class indices t [N]; runs inside the caller's
 * scope. */
static born_tensor *fused_class_loss(born_tensor *x, born_tensor *t, int64_t ignore_index,
                                     born_reduction r) {
    const born_backend *be = ops_backend(x);
    born_dtype acc = x->dtype == BORN_F64 ? BORN_F64 : BORN_F32;
    int64_t n = x->shape[0];
    born_tensor *xc = be ? born_contiguous(x) : NULL;
    born_tensor *t64 = xc ? born_contiguous(born_to_dtype(t, BORN_I64)) : NULL;
    born_tensor *loss = t64 ? ops_empty(acc, 1, &n, x->storage->device) : NULL;
    born_tensor *lse = loss ? ops_empty(acc, 1, &n, x->storage->device) : NULL;
    if (!lse) return NULL;
    born_strided sl = strided_of(loss), se = strided_of(lse), sx = strided_of(xc), st = strided_of(t64);
    if (be->cross_entropy(&sl, &se, &sx, &st, ignore_index) != BORN_OK) return NULL;
    xent_params p = {ignore_index};
    born_tensor *save[3] = {xc, t64, lse};
    if (!autograd_record(loss, "CrossEntropyBackward", xent_rule, 1, &x, 3, save, &p, sizeof p))
        return NULL;
    born_tensor *out = loss;
    if (r != BORN_REDUCTION_NONE) out = born_sum(loss, 0, NULL, false);
    if (r == BORN_REDUCTION_MEAN) {
        born_tensor *valid = born_to_dtype(born_ne_scalar(t64, (double)ignore_index), acc);
        out = born_div(out, born_sum(valid, 0, NULL, false));
    }
    return born_to_dtype(out, x->dtype);
}

/* Shared by cross_entropy and nll_loss: unbatched inputs [C] with a 0-dim target become [1, C]
 * and [1]; the NONE result goes back to 0-dim. */
static born_tensor *class_loss(const char *fn, born_tensor *input, born_tensor *target,
                               born_tensor *weight, int64_t ignore_index, double smoothing,
                               born_reduction r, bool from_logits) {
    char a[200], b[200];
    if (!born_dtype_is_floating(input->dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: input %s must be floating", fn,
                               ops_describe(input, a, sizeof a));
    if (input->ndim < 1)
        return born_error_null(BORN_ERR_SHAPE, "%s: input %s must be [N, C, ...] or [C]", fn,
                               ops_describe(input, a, sizeof a));
    if (!check_reduction(fn, r) || !check_weight(fn, input, weight)) return NULL;
    if (!(smoothing >= 0.0 && smoothing <= 1.0))
        return born_error_null(BORN_ERR_ARGUMENT, "%s: label_smoothing %g must lie in [0, 1]", fn,
                               smoothing);
    bool probs = born_dtype_is_floating(target->dtype);
    if (probs && !from_logits)
        return born_error_null(BORN_ERR_DTYPE, "%s: target %s must hold integer class indices "
                               "(input %s)", fn, ops_describe(target, a, sizeof a),
                               ops_describe(input, b, sizeof b));
    bool unbatched = input->ndim == 1;
    born_scope_begin();
    born_tensor *x = unbatched ? born_unsqueeze(input, 0) : input;
    born_tensor *t = target;
    if (unbatched && (probs ? target->ndim == 1 : target->ndim == 0)) t = born_unsqueeze(target, 0);
    born_tensor *out = NULL;
    if (!x || !t) {
        /* an error is recorded */
    } else if (probs) {
        if (t->ndim != x->ndim || memcmp(t->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim) != 0 ||
            (unbatched && target->ndim != 1)) {
            born_error(BORN_ERR_SHAPE, "%s: probability target %s must have the input's shape %s",
                       fn, ops_describe(target, a, sizeof a), ops_describe(input, b, sizeof b));
        } else {
            int64_t c = x->shape[1];
            born_tensor *logp = born_log_softmax(x, 1);
            born_tensor *q = smoothing > 0 ? born_add_scalar(born_mul_scalar(t, 1.0 - smoothing),
                                                             smoothing / (double)c)
                                           : t;
            born_tensor *prod = born_mul(logp, q);
            if (weight) {
                int64_t shape[BORN_MAX_DIMS];
                class_shape(x->ndim, c, shape);
                prod = born_mul(prod, born_reshape(born_to_dtype(weight, x->dtype), x->ndim, shape));
            }
            if (r == BORN_REDUCTION_NONE) {
                out = born_neg(born_sum(prod, 1, (const int64_t[]){1}, false));
            } else {
                out = born_neg(born_sum(prod, 0, NULL, false));
                if (r == BORN_REDUCTION_MEAN)
                    out = born_div_scalar(out, (double)(born_tensor_numel(x) / (c > 0 ? c : 1)));
            }
        }
    } else if ((unbatched && target->ndim != 0) || check_class_targets(fn, x, t, ignore_index)) {
        if (unbatched && target->ndim != 0)
            born_error(BORN_ERR_SHAPE, "%s: target %s for the unbatched input %s must be 0-dim", fn,
                       ops_describe(target, a, sizeof a), ops_describe(input, b, sizeof b));
        else if (from_logits && x->ndim == 2 && !weight && smoothing == 0 && ops_backend(x) &&
                 ops_backend(x)->cross_entropy && ops_backend(x)->cross_entropy_backward) {
            out = fused_class_loss(x, t, ignore_index, r);
        } else {
            born_tensor *logp = from_logits ? born_log_softmax(x, 1) : x;
            out = class_index_loss(logp, t, weight, ignore_index, smoothing, r);
        }
    }
    if (out && unbatched && r == BORN_REDUCTION_NONE) out = born_reshape(out, 0, NULL);
    out = born_keep(out);
    born_scope_end();
    return out;
}

born_tensor *born_cross_entropy(born_tensor *logits, born_tensor *target,
                                const born_cross_entropy_params *params) {
    static const char *fn = "born_cross_entropy";
    born_tensor *args[2] = {logits, target};
    if (!ops_check_inputs(fn, 2, args) || !ops_check_device(fn, 2, args, NULL)) return NULL;
    born_cross_entropy_params p = params ? *params : born_cross_entropy_default_params();
    return class_loss(fn, logits, target, p.weight, p.ignore_index, p.label_smoothing, p.reduction, true);
}

born_tensor *born_nll_loss(born_tensor *input, born_tensor *target, const born_nll_loss_params *params) {
    static const char *fn = "born_nll_loss";
    born_tensor *args[2] = {input, target};
    if (!ops_check_inputs(fn, 2, args) || !ops_check_device(fn, 2, args, NULL)) return NULL;
    born_nll_loss_params p = params ? *params : born_nll_loss_default_params();
    return class_loss(fn, input, target, p.weight, p.ignore_index, 0.0, p.reduction, false);
}

/* ---- regression losses ------------------------------------------------------------------------ */

typedef enum pointwise_kind { PW_MSE, PW_L1, PW_SMOOTH_L1, PW_HUBER } pointwise_kind;

static born_tensor *pointwise_loss(const char *fn, pointwise_kind kind, born_tensor *input,
                                   born_tensor *target, born_reduction r, double beta) {
    born_tensor *args[2] = {input, target};
    if (!ops_check_inputs(fn, 2, args) || !ops_check_device(fn, 2, args, NULL)) return NULL;
    char a[200], b[200];
    if (!born_dtype_is_floating(input->dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: input %s must be floating (target %s)", fn,
                               ops_describe(input, a, sizeof a), ops_describe(target, b, sizeof b));
    if (!check_reduction(fn, r)) return NULL;
    if (kind == PW_SMOOTH_L1 && !(beta >= 0))
        return born_error_null(BORN_ERR_ARGUMENT, "%s: beta %g must not be negative", fn, beta);
    if (kind == PW_HUBER && !(beta > 0))
        return born_error_null(BORN_ERR_ARGUMENT, "%s: delta %g must be positive", fn, beta);
    born_scope_begin();
    born_tensor *d = born_sub(input, target), *loss = NULL;
    switch (kind) {
    case PW_MSE: loss = born_square(d); break;
    case PW_L1: loss = born_abs(d); break;
    case PW_SMOOTH_L1:
    case PW_HUBER: {
        born_tensor *ad = born_abs(d);
        if (kind == PW_SMOOTH_L1 && beta == 0) {
            loss = ad;
            break;
        }
        born_tensor *small = born_lt_scalar(ad, beta);
        born_tensor *quad = born_mul_scalar(born_square(d), kind == PW_SMOOTH_L1 ? 0.5 / beta : 0.5);
        born_tensor *lin = born_sub_scalar(ad, 0.5 * beta);
        if (kind == PW_HUBER) lin = born_mul_scalar(lin, beta);
        loss = born_where(small, quad, lin);
        break;
    }
    }
    born_tensor *out = born_keep(reduce(loss, r));
    born_scope_end();
    return out;
}

born_tensor *born_mse_loss(born_tensor *input, born_tensor *target, born_reduction reduction) {
    return pointwise_loss("born_mse_loss", PW_MSE, input, target, reduction, 0.0);
}

born_tensor *born_l1_loss(born_tensor *input, born_tensor *target, born_reduction reduction) {
    return pointwise_loss("born_l1_loss", PW_L1, input, target, reduction, 0.0);
}

born_tensor *born_smooth_l1_loss(born_tensor *input, born_tensor *target, born_reduction reduction,
                                 double beta) {
    return pointwise_loss("born_smooth_l1_loss", PW_SMOOTH_L1, input, target, reduction, beta);
}

born_tensor *born_huber_loss(born_tensor *input, born_tensor *target, born_reduction reduction,
                             double delta) {
    return pointwise_loss("born_huber_loss", PW_HUBER, input, target, reduction, delta);
}

/* ---- binary cross entropy ------------------------------------------------------------------- */

static bool check_binary(const char *fn, born_tensor *input, born_tensor *target,
                         const born_bce_params *p) {
    char a[200], b[200];
    if (!born_dtype_is_floating(input->dtype) || !born_dtype_is_floating(target->dtype)) {
        born_error(BORN_ERR_DTYPE, "%s: input %s and target %s must be floating", fn,
                   ops_describe(input, a, sizeof a), ops_describe(target, b, sizeof b));
        return false;
    }
    if (input->ndim != target->ndim ||
        memcmp(input->shape, target->shape, sizeof(int64_t) * (size_t)input->ndim) != 0) {
        born_error(BORN_ERR_SHAPE, "%s: target %s must have the input's shape (input %s)", fn,
                   ops_describe(target, a, sizeof a), ops_describe(input, b, sizeof b));
        return false;
    }
    return check_reduction(fn, p->reduction);
}

born_tensor *born_binary_cross_entropy_with_logits(born_tensor *input, born_tensor *target,
                                                   const born_bce_params *params) {
    static const char *fn = "born_binary_cross_entropy_with_logits";
    born_tensor *args[2] = {input, target};
    if (!ops_check_inputs(fn, 2, args) || !ops_check_device(fn, 2, args, NULL)) return NULL;
    born_bce_params p = params ? *params : born_bce_default_params();
    if (!check_binary(fn, input, target, &p)) return NULL;
    born_scope_begin();
    /* softplus(-x) = log(1 + exp(-x)); a threshold of 50 keeps it exact to double precision */
    born_tensor *sp = born_softplus(born_neg(input), 1.0, 50.0);
    if (p.pos_weight) sp = born_mul(sp, born_add_scalar(born_mul(born_sub_scalar(p.pos_weight, 1.0), target), 1.0));
    born_tensor *loss = born_add(born_mul(born_rsub_scalar(target, 1.0), input), sp);
    if (p.weight) loss = born_mul(loss, p.weight);
    born_tensor *out = born_keep(reduce(loss, p.reduction));
    born_scope_end();
    return out;
}

born_tensor *born_binary_cross_entropy(born_tensor *input, born_tensor *target,
                                       const born_bce_params *params) {
    static const char *fn = "born_binary_cross_entropy";
    born_tensor *args[2] = {input, target};
    if (!ops_check_inputs(fn, 2, args) || !ops_check_device(fn, 2, args, NULL)) return NULL;
    born_bce_params p = params ? *params : born_bce_default_params();
    if (!check_binary(fn, input, target, &p)) return NULL;
    if (p.pos_weight)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: pos_weight is only for "
                               "born_binary_cross_entropy_with_logits", fn);
    born_scope_begin();
    born_tensor *outside = born_any(born_logical_or(born_lt_scalar(input, 0.0), born_gt_scalar(input, 1.0)),
                                    0, NULL, false);
    born_tensor *out = NULL;
    if (outside && born_item(outside) != 0) {
        char a[200];
        born_error(BORN_ERR_ARGUMENT, "%s: every element of the input %s must lie in [0, 1]", fn,
                   ops_describe(input, a, sizeof a));
    } else if (outside) {
        born_tensor *log_x = born_clamp(born_log(input), -100.0, INFINITY);
        born_tensor *log_1mx = born_clamp(born_log(born_rsub_scalar(input, 1.0)), -100.0, INFINITY);
        born_tensor *loss = born_neg(born_add(born_mul(target, log_x),
                                              born_mul(born_rsub_scalar(target, 1.0), log_1mx)));
        if (p.weight) loss = born_mul(loss, p.weight);
        out = reduce(loss, p.reduction);
    }
    out = born_keep(out);
    born_scope_end();
    return out;
}
