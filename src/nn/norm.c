/* Normalisation: the functional batch_norm, layer_norm and rms_norm (fused backend kernels with
 * their own node where the backend has them, else compositions of public ops differentiated by
 * composition), and the BatchNorm1d/2d, LayerNorm and RMSNorm modules. */
#include <float.h>
#include <inttypes.h>
#include <string.h>

#include "autograd/node.h"
#include "core/tensor_impl.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

/* ---- functional --------------------------------------------------------------------------- */

/* Checks that x ends with shape and that weight/bias (when given) have exactly that shape. */
static bool check_normalized(const char *fn, born_tensor *x, int ndim, const int64_t *shape,
                             born_tensor *weight, born_tensor *bias) {
    char d[200], s[160];
    if (!born_dtype_is_floating(x->dtype)) {
        born_error(BORN_ERR_DTYPE, "%s: input %s must be floating", fn, ops_describe(x, d, sizeof d));
        return false;
    }
    if (ndim < 1 || ndim > x->ndim || !shape) {
        born_error(BORN_ERR_SHAPE, "%s: the normalized shape must have 1 to %d dimensions for the "
                   "input %s, not %d", fn, x->ndim, ops_describe(x, d, sizeof d), ndim);
        return false;
    }
    int off = x->ndim - ndim;
    for (int i = 0; i < ndim; i++)
        if (x->shape[off + i] != shape[i]) {
            born_error(BORN_ERR_SHAPE, "%s: input %s does not end with the normalized shape %s", fn,
                       ops_describe(x, d, sizeof d), shape_str(ndim, shape, s, sizeof s));
            return false;
        }
    born_tensor *aff[2] = {weight, bias};
    const char *names[2] = {"weight", "bias"};
    for (int k = 0; k < 2; k++) {
        born_tensor *t = aff[k];
        if (!t) continue;
        bool same = t->ndim == ndim && memcmp(t->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0;
        if (!same) {
            born_error(BORN_ERR_SHAPE, "%s: %s %s must have the normalized shape %s (input %s)", fn,
                       names[k], ops_describe(t, d, sizeof d), shape_str(ndim, shape, s, sizeof s),
                       ops_describe(x, s + 80, 80));
            return false;
        }
    }
    return true;
}

/* The compositions of public ops that define layer and RMS norm; used where a backend has no
 * fused kernel, and by the tests as the reference for the kernel. */
static born_tensor *norm_composite(bool rms, born_tensor *x, int ndim, born_tensor *weight,
                                   born_tensor *bias, double eps) {
    int64_t dims[BORN_MAX_DIMS];
    for (int i = 0; i < ndim; i++) dims[i] = x->ndim - ndim + i;
    born_scope_begin();
    born_tensor *y;
    if (rms) {
        born_tensor *ms = born_mean(born_square(x), ndim, dims, true);
        y = born_mul(x, born_rsqrt(born_add_scalar(ms, eps)));
    } else {
        born_tensor *xc = born_sub(x, born_mean(x, ndim, dims, true));
        born_tensor *var = born_mean(born_square(xc), ndim, dims, true);
        y = born_mul(xc, born_rsqrt(born_add_scalar(var, eps)));
    }
    if (weight) y = born_mul(y, weight);
    if (bias) y = born_add(y, bias);
    y = born_keep(y);
    born_scope_end();
    return y;
}

typedef struct row_norm_params {
    bool rms;
    int64_t rows, n;
} row_norm_params;

/* A contiguous [rows, n] (or [n] when rows is 0) description of t's data. */
static born_strided rows_view(born_tensor *t, int64_t rows, int64_t n) {
    born_strided v = strided_of(t);
    v.ndim = rows ? 2 : 1;
    v.shape[0] = rows ? rows : n;
    v.shape[1] = n;
    v.strides[0] = rows ? n : 1;
    v.strides[1] = 1;
    return v;
}

static born_strided absent_view(void) {
    born_strided v;
    memset(&v, 0, sizeof v);
    return v;
}

/* A contiguous [rows, n] description of t's data (rows may be 0). */
static born_strided matrix_view(born_tensor *t, int64_t rows, int64_t n) {
    born_strided v = rows_view(t, 1, n);
    v.shape[0] = rows;
    return v;
}

/* The gradients a norm's node is asked for: out[0] like x, out[1] and out[2] [np] of x's dtype,
 * NULL where not needed. */
static born_status norm_grad_outputs(born_node *node, born_tensor *x, int64_t np,
                                     born_tensor *out[3]) {
    born_device dev = x->storage->device;
    for (int k = 0; k < 3; k++) {
        out[k] = NULL;
        if (!node_needs_grad(node, k)) continue;
        out[k] =
            k == 0 ? ops_empty(x->dtype, x->ndim, x->shape, dev) : ops_empty(x->dtype, 1, &np, dev);
        if (!out[k]) return born_last_status();
    }
    return BORN_OK;
}

/* gi from out (norm_grad_outputs'), the parameter gradients in their inputs' shapes. */
static born_status norm_grads_give(born_node *node, born_tensor *out[3], born_tensor **gi) {
    gi[0] = out[0];
    for (int k = 1; k <= 2; k++) {
        if (!out[k]) continue;
        const node_edge *e = &node->inputs[k];
        gi[k] = born_reshape(out[k], e->ndim, e->shape);
        if (!gi[k]) return born_last_status();
    }
    return BORN_OK;
}

/* All three gradients from the backend's row_norm_grads in one pass over the rows (no
 * temporaries beyond the results); the parameter gradients in x's dtype. */
static born_status row_norm_grads(const born_backend *be, born_node *node, born_tensor *gc,
                                  born_tensor **gi) {
    const row_norm_params *p = node_params(node);
    born_tensor *x = node_saved(node, 0), *mean = node_saved(node, 1), *rstd = node_saved(node, 2);
    born_tensor *w = node_saved(node, 3);
    born_tensor *out[3];
    born_status st = norm_grad_outputs(node, x, p->n, out);
    if (st != BORN_OK) return st;
    born_strided sdx = out[0] ? matrix_view(out[0], p->rows, p->n) : absent_view();
    born_strided sgw = out[1] ? rows_view(out[1], 0, p->n) : absent_view();
    born_strided sgb = out[2] ? rows_view(out[2], 0, p->n) : absent_view();
    born_strided sg = matrix_view(gc, p->rows, p->n), sx = matrix_view(x, p->rows, p->n);
    born_strided sm = mean ? rows_view(mean, 0, p->rows) : absent_view();
    born_strided sr = rows_view(rstd, 0, p->rows), sw = w ? rows_view(w, 0, p->n) : absent_view();
    st = be->row_norm_grads(p->rms, &sdx, &sgw, &sgb, &sg, &sx, &sm, &sr, &sw);
    return st != BORN_OK ? st : norm_grads_give(node, out, gi);
}

/* grad_x from the fused kernel; grad_weight = sum over rows of g * xhat, grad_bias = sum of g
 * (in the same pass where the backend has row_norm_grads, else by compositions). */
static born_status row_norm_backward(born_node *node, born_tensor *g, born_tensor **gi) {
    const row_norm_params *p = node_params(node);
    born_tensor *x = node_saved(node, 0), *mean = node_saved(node, 1), *rstd = node_saved(node, 2);
    born_tensor *w = node_saved(node, 3);
    const born_backend *be = ops_backend(x);
    born_tensor *gc = born_contiguous(born_to_dtype(g, x->dtype));
    if (!be || !gc) return born_last_status();
    if (be->row_norm_grads) return row_norm_grads(be, node, gc, gi);
    if (node_needs_grad(node, 0)) {
        born_tensor *dx = ops_empty(x->dtype, x->ndim, x->shape, x->storage->device);
        if (!dx) return born_last_status();
        born_strided sdx = rows_view(dx, p->rows, p->n), sg = rows_view(gc, p->rows, p->n);
        born_strided sx = rows_view(x, p->rows, p->n), sm = mean ? rows_view(mean, 0, p->rows) : absent_view();
        born_strided sr = rows_view(rstd, 0, p->rows), sw = w ? rows_view(w, 0, p->n) : absent_view();
        born_status st = be->row_norm_backward(p->rms, &sdx, &sg, &sx, &sm, &sr, &sw);
        if (st != BORN_OK) return st;
        gi[0] = dx;
    }
    born_tensor *g2 = born_reshape(gc, BORN_DIMS(p->rows, p->n));
    if (node_needs_grad(node, 1)) {
        born_tensor *x2 = born_reshape(x, BORN_DIMS(p->rows, p->n));
        born_tensor *centred = mean ? born_sub(x2, born_unsqueeze(mean, 1)) : x2;
        born_tensor *xhat = born_mul(centred, born_unsqueeze(rstd, 1));
        born_tensor *gw = born_sum(born_mul(g2, xhat), BORN_DIMS(0), false);
        const node_edge *e = &node->inputs[1];
        gi[1] = born_reshape(gw, e->ndim, e->shape);
    }
    if (node_needs_grad(node, 2)) {
        const node_edge *e = &node->inputs[2];
        gi[2] = born_reshape(born_sum(g2, BORN_DIMS(0), false), e->ndim, e->shape);
    }
    return BORN_OK;
}

/* The backward of the half-precision form: grad_x and the f32 parameter gradients from one
 * row_norm_half_backward call, the latter cast to the parameters' dtype. */
static born_status row_norm_half_backward(born_node *node, born_tensor *g, born_tensor **gi) {
    const row_norm_params *p = node_params(node);
    born_tensor *x = node_saved(node, 0), *mean = node_saved(node, 1), *rstd = node_saved(node, 2);
    born_tensor *w = node_saved(node, 3);
    const born_backend *be = ops_backend(x);
    born_tensor *gc = born_contiguous(born_to_dtype(g, x->dtype));
    if (!be || !gc) return born_last_status();
    born_device dev = x->storage->device;
    born_tensor *dx = node_needs_grad(node, 0) ? ops_empty(x->dtype, x->ndim, x->shape, dev) : NULL;
    born_tensor *gw = node_needs_grad(node, 1) ? ops_empty(BORN_F32, 1, &p->n, dev) : NULL;
    born_tensor *gb = node_needs_grad(node, 2) ? ops_empty(BORN_F32, 1, &p->n, dev) : NULL;
    if ((node_needs_grad(node, 0) && !dx) || (node_needs_grad(node, 1) && !gw) ||
        (node_needs_grad(node, 2) && !gb))
        return born_last_status();
    born_strided sdx = dx ? rows_view(dx, p->rows, p->n) : absent_view();
    born_strided sgw = gw ? rows_view(gw, 0, p->n) : absent_view();
    born_strided sgb = gb ? rows_view(gb, 0, p->n) : absent_view();
    born_strided sg = rows_view(gc, p->rows, p->n), sx = rows_view(x, p->rows, p->n);
    born_strided sm = mean ? rows_view(mean, 0, p->rows) : absent_view(),
                 sr = rows_view(rstd, 0, p->rows);
    born_strided sw = w ? rows_view(w, 0, p->n) : absent_view();
    born_status st = be->row_norm_half_backward(p->rms, &sdx, &sgw, &sgb, &sg, &sx, &sm, &sr, &sw);
    if (st != BORN_OK) return st;
    gi[0] = dx;
    for (int k = 1; k <= 2; k++) {
        born_tensor *pg = k == 1 ? gw : gb;
        if (!pg) continue;
        const node_edge *e = &node->inputs[k];
        gi[k] = born_reshape(born_to_dtype(pg, x->dtype), e->ndim, e->shape);
        if (!gi[k]) return born_last_status();
    }
    return BORN_OK;
}

/* Layer/RMS norm of f16/bf16 x with weight and bias of x's dtype through the backend's
 * row_norm_half: no f32 copies of x or of the output, f32 statistics. */
static born_tensor *row_norm_half_op(bool rms, born_tensor *x, born_tensor *weight,
                                     born_tensor *bias, double eps, int64_t rows, int64_t n,
                                     born_device device) {
    const born_backend *be = ops_backend(x);
    born_tensor *args[3] = {x, weight, bias};
    born_scope_begin();
    born_tensor *xc = born_tensor_is_contiguous(x) ? ops_alias(x) : ops_cast(x, x->dtype);
    born_tensor *wc = weight ? (born_tensor_is_contiguous(weight) ? ops_alias(weight)
                                                                  : ops_cast(weight, x->dtype))
                             : NULL;
    born_tensor *bc =
        bias ? (born_tensor_is_contiguous(bias) ? ops_alias(bias) : ops_cast(bias, x->dtype))
             : NULL;
    born_tensor *out = ops_empty(x->dtype, x->ndim, x->shape, device);
    born_tensor *mean = rms ? NULL : ops_empty(BORN_F32, 1, &rows, device);
    born_tensor *rstd = ops_empty(BORN_F32, 1, &rows, device);
    born_tensor *y = NULL;
    bool ready = xc && out && rstd && (rms || mean) && (!weight || wc) && (!bias || bc);
    if (ready && rows > 0) {
        born_strided so = rows_view(out, rows, n), sx = rows_view(xc, rows, n);
        born_strided sm = mean ? rows_view(mean, 0, rows) : absent_view(),
                     sr = rows_view(rstd, 0, rows);
        born_strided sw = wc ? rows_view(wc, 0, n) : absent_view(),
                     sb = bc ? rows_view(bc, 0, n) : absent_view();
        ready = be->row_norm_half(rms, &so, &sm, &sr, &sx, &sw, &sb, eps) == BORN_OK;
    }
    if (ready) {
        y = out;
        row_norm_params p = {rms, rows, n};
        born_tensor *save[4] = {xc, mean, rstd, wc};
        if (!autograd_record(y, rms ? "RmsNormBackward" : "LayerNormBackward",
                             row_norm_half_backward, 3, args, 4, save, &p, sizeof p))
            y = NULL;
    }
    y = born_keep(y);
    born_scope_end();
    return y;
}

/* Layer norm (rms false) or RMS norm over x's last ndim dims, through the backend's fused
 * row_norm kernel: one node whose rule calls the fused backward kernel. */
static born_tensor *row_norm_op(const char *fn, bool rms, born_tensor *x, int ndim,
                                born_tensor *weight, born_tensor *bias, double eps) {
    const born_backend *be = ops_backend(x);
    if (!be) return NULL;
    if (!be->row_norm || !be->row_norm_backward) return norm_composite(rms, x, ndim, weight, bias, eps);
    born_tensor *args[3] = {x, weight, bias};
    born_device device;
    if (!ops_check_device(fn, 3, args, &device)) return NULL;
    int64_t n = 1;
    for (int i = x->ndim - ndim; i < x->ndim; i++) n *= x->shape[i];
    int64_t numel = born_tensor_numel(x), rows = n ? numel / n : 0;
    if ((x->dtype == BORN_F16 || x->dtype == BORN_BF16) && be->row_norm_half &&
        be->row_norm_half_backward && (!weight || weight->dtype == x->dtype) &&
        (!bias || bias->dtype == x->dtype))
        return row_norm_half_op(rms, x, weight, bias, eps, rows, n, device);
    born_dtype compute = x->dtype == BORN_F64 ? BORN_F64 : BORN_F32;
    born_scope_begin();
    born_tensor *xc = x->dtype == compute && born_tensor_is_contiguous(x) ? ops_alias(x) : ops_cast(x, compute);
    born_tensor *wc = weight ? ops_as_contiguous(ops_as_dtype(weight, compute)) : NULL;
    born_tensor *bc = bias ? ops_as_contiguous(ops_as_dtype(bias, compute)) : NULL;
    born_tensor *out = ops_empty(compute, x->ndim, x->shape, device);
    born_tensor *mean = rms ? NULL : ops_empty(compute, 1, &rows, device);
    born_tensor *rstd = ops_empty(compute, 1, &rows, device);
    born_tensor *y = NULL;
    bool ready = xc && out && rstd && (rms || mean) && (!weight || wc) && (!bias || bc);
    if (ready && rows > 0) {
        born_strided so = rows_view(out, rows, n), sx = rows_view(xc, rows, n);
        born_strided sm = mean ? rows_view(mean, 0, rows) : absent_view(), sr = rows_view(rstd, 0, rows);
        born_strided sw = wc ? rows_view(wc, 0, n) : absent_view(), sb = bc ? rows_view(bc, 0, n) : absent_view();
        ready = be->row_norm(rms, &so, &sm, &sr, &sx, &sw, &sb, eps) == BORN_OK;
    }
    if (ready) y = x->dtype == compute ? out : ops_cast(out, x->dtype);
    if (y) {
        row_norm_params p = {rms, rows, n};
        born_tensor *save[4] = {xc, mean, rstd, wc};
        if (!autograd_record(y, rms ? "RmsNormBackward" : "LayerNormBackward", row_norm_backward, 3,
                             args, 4, save, &p, sizeof p))
            y = NULL;
    }
    y = born_keep(y);
    born_scope_end();
    return y;
}

born_tensor *born_layer_norm(born_tensor *x, int ndim, const int64_t *shape, born_tensor *weight,
                             born_tensor *bias, double eps) {
    static const char *fn = "born_layer_norm";
    if (!ops_check_inputs(fn, 1, &x)) return NULL;
    if (!check_normalized(fn, x, ndim, shape, weight, bias)) return NULL;
    return row_norm_op(fn, false, x, ndim, weight, bias, eps);
}

born_tensor *nn_layer_norm_composite(born_tensor *x, int ndim, born_tensor *weight,
                                     born_tensor *bias, double eps) {
    return norm_composite(false, x, ndim, weight, bias, eps);
}

born_tensor *nn_rms_norm_composite(born_tensor *x, int ndim, born_tensor *weight, double eps) {
    return norm_composite(true, x, ndim, weight, NULL, eps);
}

static double dtype_epsilon(born_dtype dt) {
    switch (dt) {
    case BORN_F64: return DBL_EPSILON;
    case BORN_F16: return 0.0009765625;  /* 2^-10 */
    case BORN_BF16: return 0.0078125;    /* 2^-7 */
    default: return (double)FLT_EPSILON; /* f32 */
    }
}

born_tensor *born_rms_norm(born_tensor *x, int ndim, const int64_t *shape, born_tensor *weight,
                           double eps) {
    static const char *fn = "born_rms_norm";
    if (!ops_check_inputs(fn, 1, &x)) return NULL;
    if (!check_normalized(fn, x, ndim, shape, weight, NULL)) return NULL;
    if (eps < 0) eps = dtype_epsilon(x->dtype);
    return row_norm_op(fn, true, x, ndim, weight, NULL, eps);
}

/* ---- batch norm through the backend's fused kernels ----------------------------------------- */

typedef struct batch_norm_params {
    int64_t n, c, s; /* x as [N, C, S] */
    double eps;
} batch_norm_params;

/* A contiguous [n, c, s] description of t's data. */
static born_strided ncs_view(born_tensor *t, int64_t n, int64_t c, int64_t s) {
    born_strided v = strided_of(t);
    v.ndim = 3;
    v.shape[0] = n, v.shape[1] = c, v.shape[2] = s;
    v.strides[0] = c * s, v.strides[1] = s, v.strides[2] = 1;
    return v;
}

/* All three gradients from one batch_norm_backward call. */
static born_status batch_norm_backward(born_node *node, born_tensor *g, born_tensor **gi) {
    const batch_norm_params *p = node_params(node);
    born_tensor *x = node_saved(node, 0), *mean = node_saved(node, 1), *var = node_saved(node, 2);
    born_tensor *w = node_saved(node, 3);
    const born_backend *be = ops_backend(x);
    born_tensor *gc = born_contiguous(born_to_dtype(g, x->dtype));
    if (!be || !gc) return born_last_status();
    born_tensor *out[3];
    born_status st = norm_grad_outputs(node, x, p->c, out);
    if (st != BORN_OK) return st;
    born_strided sdx = out[0] ? ncs_view(out[0], p->n, p->c, p->s) : absent_view();
    born_strided sgw = out[1] ? rows_view(out[1], 0, p->c) : absent_view();
    born_strided sgb = out[2] ? rows_view(out[2], 0, p->c) : absent_view();
    born_strided sg = ncs_view(gc, p->n, p->c, p->s), sx = ncs_view(x, p->n, p->c, p->s);
    born_strided sm = rows_view(mean, 0, p->c), sv = rows_view(var, 0, p->c);
    born_strided sw = w ? rows_view(w, 0, p->c) : absent_view();
    st = be->batch_norm_backward(&sdx, &sgw, &sgb, &sg, &sx, &sm, &sv, &sw, p->eps);
    return st != BORN_OK ? st : norm_grads_give(node, out, gi);
}

/* Whether training-mode batch norm of x takes the backend's fused kernels: f32 x (and weight
 * and bias) on a backend that has them. */
static bool batch_norm_fusable(born_tensor *x, born_tensor *weight, born_tensor *bias) {
    const born_backend *be = ops_backend(x);
    return be && be->batch_norm && be->batch_norm_backward && x->dtype == BORN_F32 &&
           (!weight || weight->dtype == BORN_F32) && (!bias || bias->dtype == BORN_F32);
}

/* Training-mode batch norm of x [N, C, ...] through the fused kernels: y with its node, and the
 * batch's mean and biased variance ([C], outside the graph) in *mean and *var. */
static born_tensor *batch_norm_fused(const char *fn, born_tensor *x, born_tensor *weight,
                                     born_tensor *bias, double eps, born_tensor **mean,
                                     born_tensor **var) {
    const born_backend *be = ops_backend(x);
    born_tensor *args[3] = {x, weight, bias};
    born_device device;
    if (!ops_check_device(fn, 3, args, &device)) return NULL;
    int64_t n = x->shape[0], c = x->shape[1];
    int64_t s = n * c > 0 ? born_tensor_numel(x) / (n * c) : 0;
    born_tensor *xc = born_tensor_is_contiguous(x) ? ops_alias(x) : ops_cast(x, x->dtype);
    born_tensor *wc = weight ? ops_as_contiguous(weight) : NULL;
    born_tensor *bc = bias ? ops_as_contiguous(bias) : NULL;
    born_tensor *out = ops_empty(BORN_F32, x->ndim, x->shape, device);
    *mean = ops_empty(BORN_F32, 1, &c, device);
    *var = ops_empty(BORN_F32, 1, &c, device);
    if (!xc || !out || !*mean || !*var || (weight && !wc) || (bias && !bc)) return NULL;
    born_strided so = ncs_view(out, n, c, s), sx = ncs_view(xc, n, c, s);
    born_strided sm = rows_view(*mean, 0, c), sv = rows_view(*var, 0, c);
    born_strided sw = wc ? rows_view(wc, 0, c) : absent_view();
    born_strided sb = bc ? rows_view(bc, 0, c) : absent_view();
    if (be->batch_norm(&so, &sm, &sv, &sx, &sw, &sb, eps) != BORN_OK) return NULL;
    batch_norm_params p = {n, c, s, eps};
    born_tensor *save[4] = {xc, *mean, *var, wc};
    if (!autograd_record(out, "BatchNormBackward", batch_norm_backward, 3, args, 4, save, &p,
                         sizeof p))
        return NULL;
    return out;
}

born_tensor *born_batch_norm(born_tensor *x, born_tensor *running_mean, born_tensor *running_var,
                             born_tensor *weight, born_tensor *bias, bool training, double momentum,
                             double eps) {
    static const char *fn = "born_batch_norm";
    if (!ops_check_inputs(fn, 1, &x)) return NULL;
    char d[200], e[200];
    if (!born_dtype_is_floating(x->dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: input %s must be floating", fn,
                               ops_describe(x, d, sizeof d));
    if (x->ndim < 2)
        return born_error_null(BORN_ERR_SHAPE, "%s: input %s must be [N, C, ...]", fn,
                               ops_describe(x, d, sizeof d));
    int64_t c = x->shape[1];
    born_tensor *per_channel[4] = {running_mean, running_var, weight, bias};
    const char *names[4] = {"running_mean", "running_var", "weight", "bias"};
    for (int k = 0; k < 4; k++) {
        born_tensor *t = per_channel[k];
        if (t && born_tensor_numel(t) != c)
            return born_error_null(BORN_ERR_SHAPE, "%s: %s %s must have %" PRId64 " elements, one "
                                   "per channel of the input %s", fn, names[k],
                                   ops_describe(t, d, sizeof d), c, ops_describe(x, e, sizeof e));
    }
    if (!running_mean != !running_var)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: give both running_mean and running_var or "
                               "neither", fn);
    if (!training && !running_mean)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: normalising with running statistics "
                               "(training = false) needs running_mean and running_var", fn);
    int64_t n = c > 0 ? born_tensor_numel(x) / c : 0;
    if (training && n <= 1)
        return born_error_null(BORN_ERR_SHAPE, "%s: expected more than 1 value per channel when "
                               "training, got input %s", fn, ops_describe(x, d, sizeof d));
    int64_t dims[BORN_MAX_DIMS], bshape[BORN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != 1) dims[nd++] = i;
        bshape[i] = i == 1 ? c : 1;
    }
    born_scope_begin();
    born_tensor *y;
    born_status update = BORN_OK;
    bool fused = training && batch_norm_fusable(x, weight, bias);
    if (training) {
        born_tensor *mean = NULL, *var = NULL, *xc = NULL;
        if (fused) {
            y = batch_norm_fused(fn, x, weight, bias, eps, &mean, &var);
            if (!y) mean = var = NULL; /* the error stands; nothing is updated */
        } else {
            mean = born_mean(x, nd, dims, true);
            xc = born_sub(x, mean);
            var = born_mean(born_square(xc), nd, dims, true);
        }
        if (running_mean && mean && var) {
            born_no_grad_begin();
            born_tensor *m1 = born_reshape(born_detach(mean), running_mean->ndim, running_mean->shape);
            born_tensor *v1 = born_reshape(born_mul_scalar(born_detach(var), (double)n / (double)(n - 1)),
                                           running_var->ndim, running_var->shape);
            born_tensor *rm = born_add(born_mul_scalar(running_mean, 1.0 - momentum),
                                       born_mul_scalar(m1, momentum));
            born_tensor *rv = born_add(born_mul_scalar(running_var, 1.0 - momentum),
                                       born_mul_scalar(v1, momentum));
            /* both are computed before either is written, so a failure changes neither */
            update = rm && rv ? born_copy_(running_mean, rm) : born_last_status();
            if (update == BORN_OK) update = born_copy_(running_var, rv);
            born_no_grad_end();
        }
        if (!fused) y = born_mul(xc, born_rsqrt(born_add_scalar(var, eps)));
    } else {
        born_tensor *rm = born_reshape(running_mean, x->ndim, bshape);
        born_tensor *rv = born_reshape(running_var, x->ndim, bshape);
        y = born_mul(born_sub(x, rm), born_rsqrt(born_add_scalar(rv, eps)));
    }
    if (weight && !fused) y = born_mul(y, born_reshape(weight, x->ndim, bshape));
    if (bias && !fused) y = born_add(y, born_reshape(bias, x->ndim, bshape));
    y = update == BORN_OK ? born_keep(y) : NULL;
    born_scope_end();
    return y;
}

/* ---- BatchNorm1d / BatchNorm2d --------------------------------------------------------------- */

typedef struct batch_norm {
    born_module base;
    bool is_1d; /* BatchNorm1d: [N, C] or [N, C, L]; else BatchNorm2d: [N, C, H, W] */
    int64_t num_features;
    born_batch_norm_options opt;
    born_tensor *weight, *bias, *running_mean, *running_var, *num_batches_tracked; /* borrowed */
} batch_norm;

born_batch_norm_options born_batch_norm_default_options(void) {
    born_batch_norm_options o = {1e-5, 0.1, true, true, true};
    return o;
}

static born_tensor *batch_norm_forward(born_module *m, born_tensor *x) {
    batch_norm *b = (batch_norm *)m;
    bool is_1d = b->is_1d;
    char d[200];
    if (is_1d ? (x->ndim != 2 && x->ndim != 3) : x->ndim != 4)
        return born_error_null(BORN_ERR_SHAPE, "%s(%" PRId64 "): expected a %s input, got %s",
                               m->vt->type_name, b->num_features,
                               is_1d ? "2-D [N, C] or 3-D [N, C, L]" : "4-D [N, C, H, W]",
                               ops_describe(x, d, sizeof d));
    if (x->shape[1] != b->num_features)
        return born_error_null(BORN_ERR_SHAPE, "%s(%" PRId64 "): input %s has %" PRId64 " channels "
                               "(dimension 1), expected %" PRId64, m->vt->type_name, b->num_features,
                               ops_describe(x, d, sizeof d), x->shape[1], b->num_features);
    double factor = b->opt.momentum < 0 ? 0.0 : b->opt.momentum;
    if (m->training && b->num_batches_tracked) {
        born_no_grad_begin();
        born_status st = born_add_(b->num_batches_tracked, born_ones_like(b->num_batches_tracked));
        born_no_grad_end();
        if (st != BORN_OK) return NULL;
        if (b->opt.momentum < 0) factor = 1.0 / born_item(b->num_batches_tracked);
    }
    bool use_batch_stats = m->training || !b->running_mean;
    return born_batch_norm(x, b->running_mean, b->running_var, b->weight, b->bias, use_batch_stats,
                           factor, b->opt.eps);
}

static void batch_norm_describe(const born_module *m, char *buf, size_t size) {
    const batch_norm *b = (const batch_norm *)m;
    char eps[40], mom[40];
    nn_buf_printf(buf, size, "%" PRId64 ", eps=%s, momentum=%s, affine=%s, bias=%s, "
                  "track_running_stats=%s", b->num_features, nn_py_float(b->opt.eps, eps, sizeof eps),
                  b->opt.momentum < 0 ? "None" : nn_py_float(b->opt.momentum, mom, sizeof mom),
                  nn_py_bool(b->opt.affine), nn_py_bool(b->bias != NULL),
                  nn_py_bool(b->opt.track_running_stats));
}

static const born_module_vtable batch_norm1d_vt = {"BatchNorm1d", batch_norm_forward, NULL,
                                                   batch_norm_describe};
static const born_module_vtable batch_norm2d_vt = {"BatchNorm2d", batch_norm_forward, NULL,
                                                   batch_norm_describe};

static born_module *batch_norm_new(const char *fn, const born_module_vtable *vt, int64_t c,
                                   const born_batch_norm_options *options) {
    born_batch_norm_options o = options ? *options : born_batch_norm_default_options();
    if (c < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: num_features %" PRId64 " must be positive", fn, c);
    if (!(o.eps >= 0))
        return born_error_null(BORN_ERR_ARGUMENT, "%s: eps %g must not be negative", fn, o.eps);
    batch_norm *b = (batch_norm *)nn_module_alloc(sizeof *b, vt, fn);
    if (!b) return NULL;
    b->is_1d = vt == &batch_norm1d_vt;
    b->num_features = c;
    b->opt = o;
    bool ok = true;
    if (o.affine) {
        ok = (b->weight = nn_add_parameter(&b->base, "weight", BORN_DIMS(c))) != NULL &&
             born_init_ones_(b->weight) == BORN_OK;
        if (ok && o.bias)
            ok = (b->bias = nn_add_parameter(&b->base, "bias", BORN_DIMS(c))) != NULL &&
                 born_init_zeros_(b->bias) == BORN_OK;
    }
    if (ok && o.track_running_stats) {
        ok = (b->running_mean = nn_add_buffer(&b->base, "running_mean", BORN_F32, BORN_DIMS(c), 0.0)) &&
             (b->running_var = nn_add_buffer(&b->base, "running_var", BORN_F32, BORN_DIMS(c), 1.0)) &&
             (b->num_batches_tracked = nn_add_buffer(&b->base, "num_batches_tracked", BORN_I64, 0,
                                                     NULL, 0.0));
    }
    if (!ok) {
        born_module_free(&b->base);
        return NULL;
    }
    return &b->base;
}

born_module *born_batch_norm1d_new(int64_t num_features, const born_batch_norm_options *options) {
    return batch_norm_new("born_batch_norm1d_new", &batch_norm1d_vt, num_features, options);
}

born_module *born_batch_norm2d_new(int64_t num_features, const born_batch_norm_options *options) {
    return batch_norm_new("born_batch_norm2d_new", &batch_norm2d_vt, num_features, options);
}

/* ---- LayerNorm / RMSNorm ---------------------------------------------------------------------- */

typedef struct norm_layer {
    born_module base;
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    double eps; /* RMSNorm: negative for None */
    bool affine;
    bool is_layer_norm; /* LayerNorm (shows its bias) rather than RMSNorm */
    born_tensor *weight, *bias; /* borrowed; may be NULL */
} norm_layer;

static born_tensor *layer_norm_forward(born_module *m, born_tensor *x) {
    norm_layer *l = (norm_layer *)m;
    return born_layer_norm(x, l->ndim, l->shape, l->weight, l->bias, l->eps);
}

static born_tensor *rms_norm_forward(born_module *m, born_tensor *x) {
    norm_layer *l = (norm_layer *)m;
    return born_rms_norm(x, l->ndim, l->shape, l->weight, l->eps);
}

static void norm_describe(const born_module *m, char *buf, size_t size) {
    const norm_layer *l = (const norm_layer *)m;
    char shape[160], eps[40];
    nn_buf_printf(buf, size, "%s, eps=%s, elementwise_affine=%s",
                  nn_py_tuple(l->ndim, l->shape, shape, sizeof shape),
                  l->eps < 0 ? "None" : nn_py_float(l->eps, eps, sizeof eps), nn_py_bool(l->affine));
    /* torch 2.1+ LayerNorm also shows whether it has a bias; RMSNorm has none */
    if (l->is_layer_norm)
        nn_buf_printf(buf, size, ", bias=%s", nn_py_bool(l->bias != NULL));
}

static const born_module_vtable layer_norm_vt = {"LayerNorm", layer_norm_forward, NULL, norm_describe};
static const born_module_vtable rms_norm_vt = {"RMSNorm", rms_norm_forward, NULL, norm_describe};

static born_module *norm_new(const char *fn, const born_module_vtable *vt, int ndim,
                             const int64_t *shape, double eps, bool affine, bool bias) {
    if (ndim < 1 || ndim > BORN_MAX_DIMS || !shape)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: the normalized shape needs 1 to %d "
                               "dimensions, not %d", fn, BORN_MAX_DIMS, ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) {
            char s[160];
            return born_error_null(BORN_ERR_ARGUMENT, "%s: normalized shape %s has a negative size",
                                   fn, shape_str(ndim, shape, s, sizeof s));
        }
    norm_layer *l = (norm_layer *)nn_module_alloc(sizeof *l, vt, fn);
    if (!l) return NULL;
    l->ndim = ndim;
    memcpy(l->shape, shape, sizeof(int64_t) * (size_t)ndim);
    l->eps = eps;
    l->affine = affine;
    l->is_layer_norm = vt == &layer_norm_vt;
    bool ok = true;
    if (affine) {
        ok = (l->weight = nn_add_parameter(&l->base, "weight", ndim, shape)) != NULL &&
             born_init_ones_(l->weight) == BORN_OK;
        if (ok && bias)
            ok = (l->bias = nn_add_parameter(&l->base, "bias", ndim, shape)) != NULL &&
                 born_init_zeros_(l->bias) == BORN_OK;
    }
    if (!ok) {
        born_module_free(&l->base);
        return NULL;
    }
    return &l->base;
}

born_module *born_layer_norm_new(int ndim, const int64_t *shape, double eps,
                                 bool elementwise_affine, bool bias) {
    if (!(eps >= 0))
        return born_error_null(BORN_ERR_ARGUMENT, "born_layer_norm_new: eps %g must not be negative", eps);
    return norm_new("born_layer_norm_new", &layer_norm_vt, ndim, shape, eps, elementwise_affine, bias);
}

born_module *born_rms_norm_new(int ndim, const int64_t *shape, double eps, bool elementwise_affine) {
    if (eps < 0) eps = BORN_RMS_NORM_EPS_DEFAULT;
    return norm_new("born_rms_norm_new", &rms_norm_vt, ndim, shape, eps, elementwise_affine, false);
}
