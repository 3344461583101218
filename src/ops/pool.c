/* 2-D max and average pooling (torch.nn.functional.max_pool2d / avg_pool2d) and their backward
 * rules. Output sizes follow torch: floor((in + 2 pad - dil (k - 1) - 1 [+ stride - 1 in
 * ceil_mode]) / stride) + 1, and in ceil_mode a last window that would start past the input and
 * its left padding is dropped. Padding may be at most half the kernel. Max pooling takes every
 * dtype but bool, average pooling floating dtypes and i64 (as torch's CPU kernels); f16/bf16
 * compute in f32 and integers in i64, converted back exactly. */
#include <inttypes.h>
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"
#include "ops/ops_internal.h"

born_pool2d_params born_pool2d_default_params(int64_t kh, int64_t kw) {
    born_pool2d_params p;
    memset(&p, 0, sizeof p);
    p.kernel[0] = kh;
    p.kernel[1] = kw;
    p.dilation[0] = p.dilation[1] = 1;
    p.count_include_pad = true;
    return p;
}

static const char *pair_str(const int64_t *v, char *buf, size_t size) {
    snprintf(buf, size, "(%" PRId64 ", %" PRId64 ")", v[0], v[1]);
    return buf;
}

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static int64_t pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil,
                             bool ceil_mode) {
    int64_t out =
        floor_div(in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad) out--; /* the last window must start inside */
    return out;
}

/* Validates params against an input shape (3-D or 4-D); on success *np holds the params with the
 * stride defaulted, *g the kernel geometry and out_shape the result's shape (input_ndim dims). */
static bool pool_setup(const char *op, bool is_max, born_dtype dt, int ndim, const int64_t *shape,
                       const born_pool2d_params *params, born_pool2d_params *np,
                       born_pool2d_geometry *g, int64_t *out_shape) {
    if (!params) {
        born_error(BORN_ERR_ARGUMENT, "%s: params is NULL (use born_pool2d_default_params)", op);
        return false;
    }
    born_pool2d_params p = *params;
    char a[64], b[64], c[64], s[200];
    for (int i = 0; i < 2; i++) {
        if (p.kernel[i] < 1) {
            born_error(BORN_ERR_ARGUMENT, "%s: kernel %s must be at least 1", op,
                       pair_str(p.kernel, a, sizeof a));
            return false;
        }
        if (p.stride[i] < 0) {
            born_error(BORN_ERR_ARGUMENT,
                       "%s: stride %s must not be negative (0 means the kernel "
                       "size)",
                       op, pair_str(p.stride, a, sizeof a));
            return false;
        }
        if (p.padding[i] < 0) {
            born_error(BORN_ERR_ARGUMENT, "%s: padding %s must not be negative", op,
                       pair_str(p.padding, a, sizeof a));
            return false;
        }
        if (is_max && p.dilation[i] < 1) {
            born_error(BORN_ERR_ARGUMENT, "%s: dilation %s must be at least 1", op,
                       pair_str(p.dilation, a, sizeof a));
            return false;
        }
        if (!is_max && p.dilation[i] != 1) {
            born_error(BORN_ERR_ARGUMENT,
                       "%s: dilation %s must be (1, 1): average pooling has no "
                       "dilation",
                       op, pair_str(p.dilation, a, sizeof a));
            return false;
        }
        if (p.padding[i] > p.kernel[i] / 2) {
            born_error(BORN_ERR_ARGUMENT, "%s: padding %s must be at most half the kernel %s", op,
                       pair_str(p.padding, a, sizeof a), pair_str(p.kernel, b, sizeof b));
            return false;
        }
        if (p.stride[i] == 0) p.stride[i] = p.kernel[i];
    }
    if (is_max) {
        p.count_include_pad = true;
        p.divisor_override = 0;
    }
    shape_str(ndim, shape, s, sizeof s);
    size_t ls = strlen(s); /* "[2, 3] f32", as ops_describe */
    snprintf(s + ls, sizeof s - ls, " %s", born_dtype_name(dt));
    if (ndim != 3 && ndim != 4) {
        born_error(BORN_ERR_SHAPE, "%s: input %s must be 3-D [C, H, W] or 4-D [N, C, H, W]", op, s);
        return false;
    }
    const int64_t *chw = shape + ndim - 3;
    if (chw[0] == 0 || chw[1] == 0 || chw[2] == 0) {
        born_error(BORN_ERR_SHAPE,
                   "%s: input %s has an empty channel or spatial dimension (only "
                   "the batch may be 0)",
                   op, s);
        return false;
    }
    int64_t oh =
        pool_out_size(chw[1], p.kernel[0], p.padding[0], p.stride[0], p.dilation[0], p.ceil_mode);
    int64_t ow =
        pool_out_size(chw[2], p.kernel[1], p.padding[1], p.stride[1], p.dilation[1], p.ceil_mode);
    if (oh < 1 || ow < 1) {
        born_error(BORN_ERR_SHAPE,
                   "%s: input %s is too small for kernel %s with padding %s and "
                   "dilation %s: the output would be %" PRId64 " x %" PRId64,
                   op, s, pair_str(p.kernel, a, sizeof a), pair_str(p.padding, b, sizeof b),
                   pair_str(p.dilation, c, sizeof c), oh, ow);
        return false;
    }
    int64_t planes = chw[0] * (ndim == 4 ? shape[0] : 1);
    *g = (born_pool2d_geometry){.planes = planes,
                                .in_h = chw[1],
                                .in_w = chw[2],
                                .out_h = oh,
                                .out_w = ow,
                                .count_include_pad = p.count_include_pad,
                                .divisor_override = p.divisor_override};
    for (int i = 0; i < 2; i++) {
        g->kernel[i] = p.kernel[i];
        g->stride[i] = p.stride[i];
        g->padding[i] = p.padding[i];
        g->dilation[i] = p.dilation[i];
    }
    memcpy(out_shape, shape, sizeof(int64_t) * (size_t)ndim);
    out_shape[ndim - 2] = oh;
    out_shape[ndim - 1] = ow;
    *np = p;
    return true;
}

/* t in dtype dt, contiguous. */
static born_tensor *as_compute(born_tensor *t, born_dtype dt) {
    return t->dtype == dt ? ops_as_contiguous(t) : ops_cast(t, dt);
}

/* ---- backward ops ---------------------------------------------------------------------------- */

static bool check_grad_shape(const char *op, born_tensor *t, int ndim, const int64_t *shape) {
    if (t->ndim == ndim && memcmp(t->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0)
        return true;
    char d[200], w[160];
    born_error(BORN_ERR_SHAPE, "%s: %s does not match the pooled output %s", op,
               ops_describe(t, d, sizeof d), shape_str(ndim, shape, w, sizeof w));
    return false;
}

static born_tensor *pool_backward(const char *op, bool is_max, born_tensor *grad_out,
                                  born_tensor *indices, int ndim, const int64_t *shape,
                                  const born_pool2d_params *params) {
    born_tensor *args[2] = {grad_out, indices};
    if (!ops_check_inputs(op, is_max ? 2 : 1, args)) return NULL;
    born_pool2d_params p;
    born_pool2d_geometry g;
    int64_t out_shape[4];
    if (!pool_setup(op, is_max, grad_out->dtype, ndim, shape, params, &p, &g, out_shape))
        return NULL;
    if (!check_grad_shape(op, grad_out, ndim, out_shape)) return NULL;
    if (is_max && (!check_grad_shape(op, indices, ndim, out_shape) || indices->dtype != BORN_I64)) {
        if (!born_has_error()) born_error(BORN_ERR_DTYPE, "%s: indices must be i64", op);
        return NULL;
    }
    const born_backend *be = ops_backend(grad_out);
    if (!be) return NULL;
    born_dtype dt = grad_out->dtype == BORN_F64 ? BORN_F64 : BORN_F32;
    born_tensor *go = as_compute(grad_out, dt);
    born_tensor *ic = go && is_max ? ops_as_contiguous(indices) : NULL;
    born_tensor *gi =
        go && (!is_max || ic) ? ops_empty(dt, ndim, shape, grad_out->storage->device) : NULL;
    born_status st = gi ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        born_strided sgi = strided_of(gi), sgo = strided_of(go);
        if (is_max) {
            born_strided si = strided_of(ic);
            st = be->max_pool2d_backward
                     ? be->max_pool2d_backward(&sgi, &sgo, &si, &g)
                     : born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", op);
        } else {
            st = be->avg_pool2d_backward
                     ? be->avg_pool2d_backward(&sgi, &sgo, &g)
                     : born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", op);
        }
    }
    born_free(go);
    born_free(ic);
    if (st != BORN_OK) {
        born_free(gi);
        return NULL;
    }
    return gi;
}

born_tensor *max_pool2d_backward_op(born_tensor *grad_out, born_tensor *indices, int input_ndim,
                                    const int64_t *input_shape, const born_pool2d_params *params) {
    return pool_backward("max_pool2d backward", true, grad_out, indices, input_ndim, input_shape,
                         params);
}

born_tensor *avg_pool2d_backward_op(born_tensor *grad_out, int input_ndim,
                                    const int64_t *input_shape, const born_pool2d_params *params) {
    return pool_backward("avg_pool2d backward", false, grad_out, NULL, input_ndim, input_shape,
                         params);
}

static born_status max_pool_rule(born_node *n, born_tensor *g, born_tensor **gi) {
    const node_edge *e = &n->inputs[0];
    gi[0] = max_pool2d_backward_op(g, node_saved(n, 0), e->ndim, e->shape, node_params(n));
    return BORN_OK;
}

static born_status avg_pool_rule(born_node *n, born_tensor *g, born_tensor **gi) {
    const node_edge *e = &n->inputs[0];
    gi[0] = avg_pool2d_backward_op(g, e->ndim, e->shape, node_params(n));
    return BORN_OK;
}

/* ---- forward --------------------------------------------------------------------------------- */

static born_tensor *pool_forward(const char *op, bool is_max, born_tensor *input,
                                 const born_pool2d_params *params, born_tensor **indices_out) {
    if (indices_out) *indices_out = NULL;
    if (!ops_check_inputs(op, 1, &input)) return NULL;
    char d[200];
    born_dtype in_dt = input->dtype, dt;
    if (is_max && in_dt == BORN_BOOL)
        return born_error_null(BORN_ERR_DTYPE,
                               "%s: input %s: bool is not supported (convert with "
                               "born_to_dtype)",
                               op, ops_describe(input, d, sizeof d));
    if (!is_max && !born_dtype_is_floating(in_dt) && in_dt != BORN_I64)
        return born_error_null(BORN_ERR_DTYPE,
                               "%s: input %s: needs a floating dtype or i64 "
                               "(convert with born_to_dtype)",
                               op, ops_describe(input, d, sizeof d));
    if (born_dtype_is_floating(in_dt))
        dt = in_dt == BORN_F64 ? BORN_F64 : BORN_F32;
    else
        dt = BORN_I64;
    born_pool2d_params p;
    born_pool2d_geometry g;
    int64_t out_shape[4];
    if (!pool_setup(op, is_max, in_dt, input->ndim, input->shape, params, &p, &g, out_shape))
        return NULL;
    const born_backend *be = ops_backend(input);
    if (!be) return NULL;
    if (is_max ? !be->max_pool2d : !be->avg_pool2d)
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", op);
    born_device device = input->storage->device;
    born_tensor *x = as_compute(input, dt);
    born_tensor *y = x ? ops_empty(dt, input->ndim, out_shape, device) : NULL;
    born_tensor *idx = y && is_max ? ops_empty(BORN_I64, input->ndim, out_shape, device) : NULL;
    born_status st = y && (!is_max || idx) ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        born_strided so = strided_of(y), sx = strided_of(x);
        if (is_max) {
            born_strided si = strided_of(idx);
            st = be->max_pool2d(&so, &si, &sx, &g);
        } else {
            st = be->avg_pool2d(&so, &sx, &g);
        }
    }
    born_free(x);
    born_tensor *out = st == BORN_OK ? ops_as_dtype(y, in_dt) : NULL;
    born_free(y);
    if (out && born_dtype_is_floating(in_dt)) {
        bool ok = is_max ? autograd_record(out, "MaxPool2dBackward", max_pool_rule, 1, &input, 1,
                                           &idx, &p, sizeof p)
                         : autograd_record(out, "AvgPool2dBackward", avg_pool_rule, 1, &input, 0,
                                           NULL, &p, sizeof p);
        if (!ok) {
            born_free(out);
            out = NULL;
        }
    }
    if (out && indices_out)
        *indices_out = idx;
    else
        born_free(idx);
    return out;
}

born_tensor *born_max_pool2d(born_tensor *input, const born_pool2d_params *params) {
    return pool_forward("born_max_pool2d", true, input, params, NULL);
}

born_tensor *born_max_pool2d_with_indices(born_tensor *input, const born_pool2d_params *params,
                                          born_tensor **indices) {
    return pool_forward("born_max_pool2d_with_indices", true, input, params, indices);
}

born_tensor *born_avg_pool2d(born_tensor *input, const born_pool2d_params *params) {
    return pool_forward("born_avg_pool2d", false, input, params, NULL);
}
