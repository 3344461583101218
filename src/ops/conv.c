/* 2-D convolution (torch.nn.functional.conv2d) and its backward rule. The op validates, brings
 * the operands to a contiguous f32/f64 layout (f16/bf16 compute in f32 and round back) and makes
 * one backend call; the rule calls the two internal gradient ops below and sums the output
 * gradient over N, H and W for the bias. */
#include <inttypes.h>
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"
#include "ops/ops_internal.h"

born_conv2d_params born_conv2d_default_params(void) {
    born_conv2d_params p = {{1, 1}, {0, 0}, {1, 1}, 1};
    return p;
}

/* The dtype the kernels compute in. */
static born_dtype compute_dtype(born_dtype dt) { return dt == BORN_F64 ? BORN_F64 : BORN_F32; }

/* t in dtype dt, contiguous (an alias when it already is). */
static born_tensor *as_compute(born_tensor *t, born_dtype dt) {
    return t->dtype == dt ? ops_as_contiguous(t) : ops_cast(t, dt);
}

/* t (3-D [C, H, W] or 4-D) as a 4-D handle without autograd history. */
static born_tensor *as_batched(born_tensor *t) {
    if (t->ndim == 4) return ops_alias(t);
    int64_t shape[4] = {1, t->shape[0], t->shape[1], t->shape[2]};
    int64_t strides[4] = {t->shape[0] * t->strides[0], t->strides[0], t->strides[1], t->strides[2]};
    return tensor_new_view(t, t->dtype, 4, shape, strides, t->offset);
}

static const char *dims2(const int64_t *v, char *buf, size_t size) {
    snprintf(buf, size, "(%" PRId64 ", %" PRId64 ")", v[0], v[1]);
    return buf;
}

/* Validates params and the input/weight shapes (input_shape has input_ndim = 3 or 4 entries)
 * and fills the geometry. Messages name op and the shapes. */
static bool conv_geometry(const char *op, born_dtype dt, int input_ndim, const int64_t *input_shape,
                          int weight_ndim, const int64_t *weight_shape, const born_conv2d_params *p,
                          born_conv2d_geometry *g) {
    char a[200], b[200], c[64];
    for (int i = 0; i < 2; i++) {
        if (p->stride[i] < 1) {
            born_error(BORN_ERR_ARGUMENT, "%s: stride %s must be at least 1", op,
                       dims2(p->stride, c, sizeof c));
            return false;
        }
        if (p->dilation[i] < 1) {
            born_error(BORN_ERR_ARGUMENT, "%s: dilation %s must be at least 1", op,
                       dims2(p->dilation, c, sizeof c));
            return false;
        }
        if (p->padding[i] < 0) {
            born_error(BORN_ERR_ARGUMENT, "%s: padding %s must not be negative", op,
                       dims2(p->padding, c, sizeof c));
            return false;
        }
    }
    if (p->groups < 1) {
        born_error(BORN_ERR_ARGUMENT, "%s: groups = %" PRId64 " must be at least 1", op, p->groups);
        return false;
    }
    shape_str(input_ndim, input_shape, a, sizeof a);
    shape_str(weight_ndim, weight_shape, b, sizeof b);
    size_t la = strlen(a), lb = strlen(b); /* "[2, 3] f32", as ops_describe */
    snprintf(a + la, sizeof a - la, " %s", born_dtype_name(dt));
    snprintf(b + lb, sizeof b - lb, " %s", born_dtype_name(dt));
    if (input_ndim != 3 && input_ndim != 4) {
        born_error(BORN_ERR_SHAPE, "%s: input %s must be 3-D [C, H, W] or 4-D [N, C, H, W]", op, a);
        return false;
    }
    if (weight_ndim != 4) {
        born_error(BORN_ERR_SHAPE, "%s: weight %s must be 4-D [C_out, C_in / groups, kH, kW]", op,
                   b);
        return false;
    }
    const int64_t *chw = input_shape + (input_ndim - 3); /* [C, H, W] */
    g->batch = input_ndim == 4 ? input_shape[0] : 1;
    g->in_channels = chw[0];
    g->in_h = chw[1];
    g->in_w = chw[2];
    g->out_channels = weight_shape[0];
    g->kernel_h = weight_shape[2];
    g->kernel_w = weight_shape[3];
    g->groups = p->groups;
    if (g->out_channels < 1 || g->out_channels % p->groups != 0) {
        born_error(BORN_ERR_SHAPE,
                   "%s: weight %s has %" PRId64 " output channels, which must be a "
                   "positive multiple of groups = %" PRId64,
                   op, b, g->out_channels, p->groups);
        return false;
    }
    if (g->in_channels != weight_shape[1] * p->groups) {
        born_error(BORN_ERR_SHAPE,
                   "%s: input %s has %" PRId64 " channels but weight %s with groups "
                   "= %" PRId64 " expects %" PRId64,
                   op, a, g->in_channels, b, p->groups, weight_shape[1] * p->groups);
        return false;
    }
    if (g->kernel_h < 1 || g->kernel_w < 1) {
        born_error(BORN_ERR_SHAPE, "%s: weight %s has an empty kernel", op, b);
        return false;
    }
    for (int i = 0; i < 2; i++) {
        g->stride[i] = p->stride[i];
        g->padding[i] = p->padding[i];
        g->dilation[i] = p->dilation[i];
    }
    int64_t ek_h = p->dilation[0] * (g->kernel_h - 1) + 1,
            ek_w = p->dilation[1] * (g->kernel_w - 1) + 1;
    int64_t ph = g->in_h + 2 * p->padding[0], pw = g->in_w + 2 * p->padding[1];
    if (ph < ek_h || pw < ek_w) {
        born_error(BORN_ERR_SHAPE,
                   "%s: input %s padded to %" PRId64 " x %" PRId64 " is smaller "
                   "than the (dilated) kernel %" PRId64 " x %" PRId64
                   " of weight %s, so the output "
                   "would be empty",
                   op, a, ph, pw, ek_h, ek_w, b);
        return false;
    }
    g->out_h = (ph - ek_h) / p->stride[0] + 1;
    g->out_w = (pw - ek_w) / p->stride[1] + 1;
    return true;
}

/* ---- internal gradient ops ------------------------------------------------------------------- */

/* Calls one backward kernel: result of `shape` from grad_out and `other` (weight or input). */
static born_tensor *conv_backward_call(const char *op, bool want_input, born_tensor *grad_out,
                                       born_tensor *other, const int64_t *shape,
                                       const born_conv2d_geometry *g) {
    const born_backend *be = ops_backend(other);
    if (!be) return NULL;
    born_dtype dt = compute_dtype(other->dtype);
    int64_t want[4] = {g->batch, g->out_channels, g->out_h, g->out_w};
    const int64_t *gs = grad_out->shape;
    bool fits = grad_out->ndim == 4 ? memcmp(gs, want, sizeof want) == 0
                                    : grad_out->ndim == 3 && g->batch == 1 && gs[0] == want[1] &&
                                          gs[1] == want[2] && gs[2] == want[3];
    if (!fits) {
        char d[200], w[160];
        return born_error_null(BORN_ERR_SHAPE, "%s: the output gradient is %s but the output is %s",
                               op, ops_describe(grad_out, d, sizeof d),
                               shape_str(4, want, w, sizeof w));
    }
    born_tensor *go4 = as_batched(grad_out);
    born_tensor *o4 = go4 ? as_batched(other) : NULL;
    born_tensor *go = o4 ? as_compute(go4, dt) : NULL;
    born_tensor *oc = go ? as_compute(o4, dt) : NULL;
    born_tensor *out = oc ? ops_empty(dt, 4, shape, other->storage->device) : NULL;
    born_status st = out ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        born_strided r = strided_of(out), sg = strided_of(go), so = strided_of(oc);
        if (want_input)
            st = be->conv2d_backward_input
                     ? be->conv2d_backward_input(&r, &sg, &so, g)
                     : born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", op);
        else
            st = be->conv2d_backward_weight
                     ? be->conv2d_backward_weight(&r, &sg, &so, g)
                     : born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", op);
    }
    born_free(go4);
    born_free(o4);
    born_free(go);
    born_free(oc);
    if (st != BORN_OK) {
        born_free(out);
        return NULL;
    }
    return out;
}

born_tensor *conv2d_backward_input_op(born_tensor *grad_out, born_tensor *weight, int input_ndim,
                                      const int64_t *input_shape,
                                      const born_conv2d_params *params) {
    const char *op = "conv2d backward (input)";
    born_tensor *args[2] = {grad_out, weight};
    if (!ops_check_inputs(op, 2, args)) return NULL;
    born_conv2d_geometry g;
    if (!conv_geometry(op, weight->dtype, input_ndim, input_shape, weight->ndim, weight->shape,
                       params, &g))
        return NULL;
    int64_t shape[4] = {g.batch, g.in_channels, g.in_h, g.in_w};
    born_tensor *out = conv_backward_call(op, true, grad_out, weight, shape, &g);
    if (!out || input_ndim == 4) return out;
    born_tensor *r = tensor_new_view(out, out->dtype, 3, input_shape, NULL, out->offset);
    born_free(out);
    return r;
}

born_tensor *conv2d_backward_weight_op(born_tensor *grad_out, born_tensor *input, int weight_ndim,
                                       const int64_t *weight_shape,
                                       const born_conv2d_params *params) {
    const char *op = "conv2d backward (weight)";
    born_tensor *args[2] = {grad_out, input};
    if (!ops_check_inputs(op, 2, args)) return NULL;
    born_conv2d_geometry g;
    if (!conv_geometry(op, input->dtype, input->ndim, input->shape, weight_ndim, weight_shape,
                       params, &g))
        return NULL;
    return conv_backward_call(op, false, grad_out, input, weight_shape, &g);
}

/* ---- forward and rule ------------------------------------------------------------------------ */

typedef struct conv_node_params {
    born_conv2d_params p;
    bool unbatched;
} conv_node_params;

static born_status conv_rule(born_node *n, born_tensor *g, born_tensor **gi) {
    const conv_node_params *cp = node_params(n);
    born_tensor *input = node_saved(n, 0), *weight = node_saved(n, 1);
    const node_edge *e = n->inputs;
    if (node_needs_grad(n, 0))
        gi[0] = conv2d_backward_input_op(g, weight, e[0].ndim, e[0].shape, &cp->p);
    if (node_needs_grad(n, 1))
        gi[1] = conv2d_backward_weight_op(g, input, e[1].ndim, e[1].shape, &cp->p);
    if (node_needs_grad(n, 2)) {
        if (cp->unbatched)
            gi[2] = born_sum(g, 2, (int64_t[]){1, 2}, false);
        else
            gi[2] = born_sum(g, 3, (int64_t[]){0, 2, 3}, false);
    }
    return BORN_OK;
}

born_tensor *born_conv2d(born_tensor *input, born_tensor *weight, born_tensor *bias,
                         const born_conv2d_params *params) {
    const char *op = "born_conv2d";
    born_tensor *args[3] = {input, weight, bias};
    if (!ops_check_inputs(op, 2, args)) return NULL;
    born_device device;
    if (!ops_check_device(op, 3, args, &device)) return NULL;
    born_conv2d_params p = params ? *params : born_conv2d_default_params();
    char a[200], b[200], c[200];
    if (!born_dtype_is_floating(input->dtype) || weight->dtype != input->dtype ||
        (bias && bias->dtype != input->dtype)) {
        if (bias)
            return born_error_null(BORN_ERR_DTYPE,
                                   "%s: input %s, weight %s and bias %s must share "
                                   "one floating dtype",
                                   op, ops_describe(input, a, sizeof a),
                                   ops_describe(weight, b, sizeof b),
                                   ops_describe(bias, c, sizeof c));
        return born_error_null(BORN_ERR_DTYPE,
                               "%s: input %s and weight %s must share one floating "
                               "dtype",
                               op, ops_describe(input, a, sizeof a),
                               ops_describe(weight, b, sizeof b));
    }
    born_conv2d_geometry g;
    if (!conv_geometry(op, input->dtype, input->ndim, input->shape, weight->ndim, weight->shape, &p,
                       &g))
        return NULL;
    if (bias && (bias->ndim != 1 || bias->shape[0] != g.out_channels))
        return born_error_null(BORN_ERR_SHAPE,
                               "%s: bias %s must be 1-D with %" PRId64 " elements "
                               "(the output channels of weight %s)",
                               op, ops_describe(bias, a, sizeof a), g.out_channels,
                               ops_describe(weight, b, sizeof b));
    const born_backend *be = ops_backend(input);
    if (!be) return NULL;
    if (!be->conv2d)
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", op);

    born_dtype dt = compute_dtype(input->dtype);
    born_tensor *x4 = as_batched(input);
    born_tensor *x = x4 ? as_compute(x4, dt) : NULL;
    born_tensor *w = x ? as_compute(weight, dt) : NULL;
    born_tensor *bc = w && bias ? as_compute(bias, dt) : NULL;
    int64_t shape[4] = {g.batch, g.out_channels, g.out_h, g.out_w};
    born_tensor *y = w && (!bias || bc) ? ops_empty(dt, 4, shape, device) : NULL;
    born_status st = y ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        born_strided so = strided_of(y), sx = strided_of(x), sw = strided_of(w);
        born_strided sb = bc ? strided_of(bc) : (born_strided){.data = NULL, .dtype = dt};
        st = be->conv2d(&so, &sx, &sw, &sb, &g);
    }
    born_free(x4);
    born_free(x);
    born_free(w);
    born_free(bc);
    born_tensor *out = NULL;
    if (st == BORN_OK) {
        born_tensor *typed = ops_as_dtype(y, input->dtype);
        out = typed ? tensor_new_view(typed, typed->dtype, input->ndim,
                                      input->ndim == 4 ? shape : shape + 1, NULL, typed->offset)
                    : NULL;
        born_free(typed);
    }
    born_free(y);
    if (!out) return NULL;
    bool grad_on = born_is_grad_enabled();
    born_tensor *save[2] = {grad_on && weight->requires_grad ? input : NULL,
                            grad_on && input->requires_grad ? weight : NULL};
    conv_node_params np = {p, input->ndim == 3};
    if (!autograd_record(out, "Conv2dBackward", conv_rule, 3, args, 2, save, &np, sizeof np)) {
        born_free(out);
        return NULL;
    }
    return out;
}
