/* Neural-network operators: Conv, ConvTranspose, MatMul, Gemm, normalizations, pooling, LRN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/conv_fast.h"
#include "onnx/onnx_internal.h"
#include "onnx/plan.h"
#include "onnx/pool_kernels.h"
#include "core/cpu_features.h"

/* Geometry shared by Conv, ConvTranspose and the pools: kernel, strides, dilations, pads for the
 * nsp spatial dims, after auto_pad. */
typedef struct geom {
    int nsp;
    int64_t k[3], s[3], d[3], pb[3], pe[3], in[3], out[3];
} geom;

static born_status geometry(onnx_op_ctx *c, const int64_t *in_sp, int nsp, const int64_t *kernel,
                            bool ceil_mode, bool transpose, geom *g) {
    if (nsp < 1 || nsp > 3) return onnx_fail(c, BORN_ERR_UNSUPPORTED, "%d spatial dimensions", nsp);
    int n;
    const int64_t *s = onnx_attr_ints(c, "strides", &n);
    if (s && n != nsp) return onnx_fail(c, BORN_ERR_ARGUMENT, "strides has %d entries", n);
    const int64_t *d = onnx_attr_ints(c, "dilations", &n);
    if (d && n != nsp) return onnx_fail(c, BORN_ERR_ARGUMENT, "dilations has %d entries", n);
    const int64_t *p = onnx_attr_ints(c, "pads", &n);
    if (p && n != 2 * nsp) return onnx_fail(c, BORN_ERR_ARGUMENT, "pads has %d entries", n);
    char buf[32];
    const char *ap = onnx_attr_str(c, "auto_pad", "NOTSET", buf, sizeof buf);
    g->nsp = nsp;
    for (int i = 0; i < nsp; i++) {
        g->k[i] = kernel[i];
        g->s[i] = s ? s[i] : 1;
        g->d[i] = d ? d[i] : 1;
        g->pb[i] = p ? p[i] : 0;
        g->pe[i] = p ? p[i + nsp] : 0;
        g->in[i] = in_sp[i];
        if (g->s[i] <= 0 || g->d[i] <= 0 || g->k[i] <= 0)
            return onnx_fail(c, BORN_ERR_ARGUMENT, "non-positive kernel, stride or dilation");
        int64_t ek = (g->k[i] - 1) * g->d[i] + 1;
        if (transpose) continue;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t o = (g->in[i] + g->s[i] - 1) / g->s[i];
            int64_t total = (o - 1) * g->s[i] + ek - g->in[i];
            if (total < 0) total = 0;
            g->pb[i] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
        } else if (!strcmp(ap, "VALID")) {
            g->pb[i] = g->pe[i] = 0;
        }
        int64_t span = g->in[i] + g->pb[i] + g->pe[i] - ek;
        if (span < 0) return onnx_fail(c, BORN_ERR_SHAPE, "kernel larger than the padded input");
        g->out[i] = (ceil_mode ? (span + g->s[i] - 1) / g->s[i] : span / g->s[i]) + 1;
        /* the last window must start inside the input or left padding */
        if (ceil_mode && (g->out[i] - 1) * g->s[i] >= g->in[i] + g->pb[i]) g->out[i]--;
    }
    return BORN_OK;
}

static born_status op_Conv(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0], *w = c->in[1], *b = c->nin > 2 ? c->in[2] : NULL;
    int r = born_tensor_ndim(x);
    if (r < 3 || r > 4 || born_tensor_ndim(w) != r)
        return onnx_fail(c, BORN_ERR_UNSUPPORTED, "only 1-D and 2-D convolutions (input rank %d)", r);
    int nsp = r - 2;
    int64_t kernel[2];
    for (int i = 0; i < nsp; i++) kernel[i] = born_tensor_shape(w)[2 + i];
    geom g;
    ONNX_TRY(geometry(c, born_tensor_shape(x) + 2, nsp, kernel, false, false, &g));
    if (nsp == 1) {
        x = born_unsqueeze(x, 2);
        w = born_unsqueeze(w, 2);
        g.k[1] = g.k[0], g.s[1] = g.s[0], g.d[1] = g.d[0], g.pb[1] = g.pb[0], g.pe[1] = g.pe[0];
        g.k[0] = g.s[0] = g.d[0] = 1, g.pb[0] = g.pe[0] = 0;
    }
    int64_t group = onnx_attr_int(c, "group", 1);
    /* prepared at load (src/onnx/conv_prep.c): packed weights, and the epilogue to apply here */
    const plan_step *ps = c->subplans;
    const onnx_conv_prep *prep = ps ? ps->prep : NULL;
    if (nsp == 2 && group > 1 && group == born_tensor_shape(x)[1] &&
        born_tensor_shape(w)[0] == group && born_tensor_shape(w)[1] == 1 &&
        born_tensor_dtype(x) == BORN_F32) {
        born_tensor *y = onnx_conv_depthwise(x, w, b, g.k, g.s, g.d, g.pb, g.out, prep);
        if (!y) return onnx_op_failed(c);
        c->out[0] = y;
        return BORN_OK;
    }
    const int64_t *xs = born_tensor_shape(x), *wsh = born_tensor_shape(w);
    if (onnx_conv_prep_weights(prep) && born_tensor_dtype(x) == BORN_F32 &&
        (!b || born_tensor_dtype(b) == BORN_F32) && g.pb[0] == g.pe[0] && g.pb[1] == g.pe[1] &&
        group > 0 && xs[1] == wsh[1] * group && (!b || born_tensor_numel(b) == wsh[0])) {
        int64_t out[2] = {nsp == 1 ? 1 : g.out[0], nsp == 1 ? g.out[0] : g.out[1]};
        born_tensor *y = onnx_conv_packed(x, b, prep, group, g.k, g.s, g.d, g.pb, out);
        if (!y) return onnx_op_failed(c);
        if (nsp == 1) y = born_squeeze(y, 2);
        ONNX_OUT(0, y);
        return BORN_OK;
    }
    born_conv2d_params p = born_conv2d_default_params();
    p.groups = group;
    int64_t tp[4] = {0};
    bool asym = false;
    for (int i = 0; i < 2; i++) {
        p.stride[i] = g.s[i];
        p.dilation[i] = g.d[i];
        p.padding[i] = g.pb[i] < g.pe[i] ? g.pb[i] : g.pe[i];
        asym |= g.pb[i] != g.pe[i];
    }
    if (asym) {
        tp[0] = g.pb[1] - p.padding[1], tp[1] = g.pe[1] - p.padding[1];
        tp[2] = g.pb[0] - p.padding[0], tp[3] = g.pe[0] - p.padding[0];
        x = born_pad(x, 4, tp, 0);
    }
    born_dtype dt = born_tensor_dtype(c->in[0]);
    born_tensor *y = born_conv2d(x, w, b, &p);
    if (nsp == 1) y = born_squeeze(y, 2);
    y = born_to_dtype(y, dt);
    if (y && prep && onnx_conv_prep_tensor(prep, &y)) y = NULL;
    ONNX_OUT(0, y);
    return BORN_OK;
}

/* ConvTranspose: every input pixel scatters its kernel-weighted values into the output. */
static born_status op_ConvTranspose(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0], *w = c->in[1], *b = c->nin > 2 ? c->in[2] : NULL;
    int r = born_tensor_ndim(x);
    if (r < 3 || r > 5 || born_tensor_ndim(w) != r)
        return onnx_fail(c, BORN_ERR_SHAPE, "input rank %d, weight rank %d", r, born_tensor_ndim(w));
    int nsp = r - 2;
    const int64_t *xs = born_tensor_shape(x), *ws = born_tensor_shape(w);
    int64_t group = onnx_attr_int(c, "group", 1), C = xs[1];
    if (group <= 0 || C != ws[0] || C % group)
        return onnx_fail(c, BORN_ERR_SHAPE, "input channels %lld, weight [%lld, ...], group %lld",
                         (long long)C, (long long)ws[0], (long long)group);
    geom g;
    ONNX_TRY(geometry(c, xs + 2, nsp, ws + 2, false, true, &g));
    int n;
    const int64_t *op = onnx_attr_ints(c, "output_padding", &n);
    const int64_t *os = onnx_attr_ints(c, "output_shape", &n);
    char buf[32];
    const char *ap = onnx_attr_str(c, "auto_pad", "NOTSET", buf, sizeof buf);
    for (int i = 0; i < nsp; i++) {
        int64_t opad = op ? op[i] : 0;
        int64_t full = g.s[i] * (g.in[i] - 1) + opad + (g.k[i] - 1) * g.d[i] + 1;
        if (os) {
            int64_t want = os[n - nsp + i], total = full - want > 0 ? full - want : 0;
            if (!strcmp(ap, "SAME_UPPER")) { g.pb[i] = total / 2; g.pe[i] = total - total / 2; }
            else { g.pe[i] = total / 2; g.pb[i] = total - total / 2; }
        } else if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t want = g.in[i] * g.s[i], total = full - want;
            if (total < 0) total = 0;
            if (!strcmp(ap, "SAME_UPPER")) { g.pb[i] = total / 2; g.pe[i] = total - total / 2; }
            else { g.pe[i] = total / 2; g.pb[i] = total - total / 2; }
        }
        g.out[i] = os ? os[n - nsp + i] : full - g.pb[i] - g.pe[i]; /* larger: zeros at the end */
        if (g.out[i] < 0) return onnx_fail(c, BORN_ERR_SHAPE, "negative output size");
    }
    born_dtype dt = born_tensor_dtype(x);
    /* the step's fused Relu/Clip, applied by the scatter where it writes each output once */
    const plan_step *ps = c->subplans;
    float lohi[2] = {ps ? (float)ps->lo : 0, ps ? (float)ps->hi : 0};
    bool clamped = false;
    born_tensor *y = onnx_conv_transpose_gemm(x, w, b, group, nsp, g.k, g.s, g.d, g.pb, g.out,
                                              ps && ps->act && dt == BORN_F32 ? lohi : NULL,
                                              &clamped);
    if (!y) return onnx_op_failed(c);
    c->act_done = clamped;
    ONNX_OUT(0, born_to_dtype(y, dt));
    return BORN_OK;
}

static born_status op_MatMul(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_dtype dt = born_tensor_dtype(c->in[0]);
    ONNX_OUT(0, born_to_dtype(born_matmul(c->in[0], c->in[1]), dt));
    return BORN_OK;
}

static born_status op_Gemm(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *a = c->in[0], *b = c->in[1], *cc = c->nin > 2 ? c->in[2] : NULL;
    if (born_tensor_ndim(a) != 2 || born_tensor_ndim(b) != 2)
        return onnx_fail(c, BORN_ERR_SHAPE, "A and B must be 2-D");
    if (onnx_attr_int(c, "transA", 0)) a = born_transpose(a, 0, 1);
    if (onnx_attr_int(c, "transB", 0)) b = born_transpose(b, 0, 1);
    double alpha = onnx_attr_float(c, "alpha", 1), beta = onnx_attr_float(c, "beta", 1);
    born_dtype dt = born_tensor_dtype(c->in[0]);
    born_tensor *y = born_matmul(a, b);
    if (alpha != 1) y = born_mul_scalar(y, alpha);
    if (cc) y = born_add(y, beta != 1 ? born_mul_scalar(cc, beta) : cc);
    ONNX_OUT(0, born_to_dtype(y, dt));
    return BORN_OK;
}

/* Shape [1, C, 1, ...] for per-channel parameters of an input of rank r. */
static born_tensor *per_channel(born_tensor *p, int r) {
    int64_t shape[BORN_MAX_DIMS];
    for (int i = 0; i < r; i++) shape[i] = i == 1 ? born_tensor_numel(p) : 1;
    return born_reshape(p, r, shape);
}

static born_status op_BatchNormalization(onnx_op_ctx *c) {
    for (int i = 0; i < 5; i++) ONNX_TRY(onnx_need(c, i));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    double eps = onnx_attr_float(c, "epsilon", 1e-5f);
    born_dtype dt = born_tensor_dtype(x);
    if (onnx_attr_int(c, "training_mode", 0)) {
        /* batch statistics (population variance); running ones updated with momentum */
        if (r < 2) return onnx_fail(c, BORN_ERR_SHAPE, "input must have rank >= 2");
        int64_t axes[BORN_MAX_DIMS];
        axes[0] = 0;
        for (int i = 2; i < r; i++) axes[i - 1] = i;
        double mom = onnx_attr_float(c, "momentum", 0.9f);
        born_tensor *xd = born_to_dtype(x, BORN_F64);
        born_tensor *mean = born_mean(xd, r - 1, axes, false);
        born_tensor *var = born_var(xd, r - 1, axes, 0, false);
        if (!mean || !var) return onnx_op_failed(c);
        born_tensor *scale = born_div(born_to_dtype(c->in[1], BORN_F64), born_sqrt(born_add_scalar(var, eps)));
        born_tensor *shift = born_sub(born_to_dtype(c->in[2], BORN_F64), born_mul(mean, scale));
        born_tensor *y = born_add(born_mul(xd, per_channel(scale, r)), per_channel(shift, r));
        ONNX_OUT(0, born_contiguous(born_to_dtype(y, dt)));
        born_tensor *rm = born_add(born_mul_scalar(born_to_dtype(c->in[3], BORN_F64), mom), born_mul_scalar(mean, 1 - mom));
        born_tensor *rv = born_add(born_mul_scalar(born_to_dtype(c->in[4], BORN_F64), mom), born_mul_scalar(var, 1 - mom));
        if (c->nout > 1) ONNX_OUT(1, born_contiguous(born_to_dtype(rm, born_tensor_dtype(c->in[3]))));
        if (c->nout > 2) ONNX_OUT(2, born_contiguous(born_to_dtype(rv, born_tensor_dtype(c->in[4]))));
        return BORN_OK;
    }
    born_tensor *scale = born_div(c->in[1], born_sqrt(born_add_scalar(c->in[4], eps)));
    born_tensor *shift = born_sub(c->in[2], born_mul(c->in[3], scale));
    born_tensor *y = born_add(born_mul(x, per_channel(scale, r)), per_channel(shift, r));
    ONNX_OUT(0, born_to_dtype(y, dt));
    return BORN_OK;
}

static born_status op_InstanceNormalization(onnx_op_ctx *c) {
    for (int i = 0; i < 3; i++) ONNX_TRY(onnx_need(c, i));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int64_t axes[BORN_MAX_DIMS];
    for (int i = 2; i < r; i++) axes[i - 2] = i;
    double eps = onnx_attr_float(c, "epsilon", 1e-5f);
    born_tensor *mean = born_mean(x, r - 2, axes, true);
    born_tensor *var = born_var(x, r - 2, axes, 0, true);
    born_tensor *y = born_div(born_sub(x, mean), born_sqrt(born_add_scalar(var, eps)));
    y = born_add(born_mul(y, per_channel(c->in[1], r)), per_channel(c->in[2], r));
    ONNX_OUT(0, born_to_dtype(y, born_tensor_dtype(x)));
    return BORN_OK;
}

static born_status op_LayerNormalization(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int a = onnx_axis(c, onnx_attr_int(c, "axis", -1), r);
    if (a < 0) return born_last_status();
    double eps = onnx_attr_float(c, "epsilon", 1e-5f);
    int64_t axes[BORN_MAX_DIMS];
    for (int i = a; i < r; i++) axes[i - a] = i;
    born_dtype dt = born_tensor_dtype(x);
    born_tensor *xf = born_to_dtype(x, BORN_F32);
    born_tensor *mean = born_mean(xf, r - a, axes, true);
    born_tensor *d = born_sub(xf, mean);
    born_tensor *var = born_mean(born_square(d), r - a, axes, true);
    born_tensor *inv = born_rsqrt(born_add_scalar(var, eps));
    born_tensor *y = born_mul(born_mul(d, inv), c->in[1]);
    if (c->nin > 2 && c->in[2]) y = born_add(y, c->in[2]);
    ONNX_OUT(0, born_to_dtype(y, dt));
    if (c->nout > 1) ONNX_OUT(1, mean);
    if (c->nout > 2) ONNX_OUT(2, inv);
    return BORN_OK;
}

static born_status op_MeanVarianceNormalization(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int n;
    const int64_t *ax = onnx_attr_ints(c, "axes", &n);
    int64_t axes[BORN_MAX_DIMS] = {0, 2, 3};
    if (ax) memcpy(axes, ax, (size_t)n * 8);
    else n = 3;
    born_tensor *mean = born_mean(x, n, axes, true);
    born_tensor *d = born_sub(x, mean);
    born_tensor *var = born_mean(born_square(d), n, axes, true);
    ONNX_OUT(0, born_div(d, born_add_scalar(born_sqrt(var), 1e-9)));
    return BORN_OK;
}

/* Max pooling of f32 planes in f32 (max only compares, so the values are the f64 path's): the
 * first valid element, then any greater one, as pool() below. */
typedef struct maxpool_job {
    const geom *g;
    const float *x;
    float *y;
} maxpool_job;

static void maxpool_planes(int64_t begin, int64_t end, void *arg) {
    const maxpool_job *j = arg;
    const geom *g = j->g;
    int64_t isz = g->in[0] * g->in[1], osz = g->out[0] * g->out[1];
    /* every window inside the plane (no padding reached): no bounds checks, and 2x2 windows
     * written out (cls's MaxPool); the same first-then-greater order */
    bool inside = true;
    for (int i = 0; i < 2; i++)
        inside &= g->pb[i] == 0 && (g->out[i] - 1) * g->s[i] + (g->k[i] - 1) * g->d[i] < g->in[i];
    if (inside) {
        const int64_t W = g->in[1], s0 = g->s[0], s1 = g->s[1], d0 = g->d[0] * W, d1 = g->d[1];
        for (int64_t pl = begin; pl < end; pl++) {
            const float *X = j->x + pl * isz;
            float *Y = j->y + pl * osz;
            for (int64_t o0 = 0; o0 < g->out[0]; o0++) {
                const float *xr = X + o0 * s0 * W;
                float *yr = Y + o0 * g->out[1];
                if (g->k[0] == 2 && g->k[1] == 2) {
                    for (int64_t o1 = 0; o1 < g->out[1]; o1++) {
                        const float *q = xr + o1 * s1;
                        float acc = q[0], v = q[d1];
                        acc = v > acc ? v : acc;
                        v = q[d0];
                        acc = v > acc ? v : acc;
                        v = q[d0 + d1];
                        yr[o1] = v > acc ? v : acc;
                    }
                    continue;
                }
                for (int64_t o1 = 0; o1 < g->out[1]; o1++) {
                    const float *q = xr + o1 * s1;
                    float acc = q[0];
                    for (int64_t k0 = 0; k0 < g->k[0]; k0++)
                        for (int64_t k1 = 0; k1 < g->k[1]; k1++) {
                            float v = q[k0 * d0 + k1 * d1];
                            acc = v > acc ? v : acc;
                        }
                    yr[o1] = acc;
                }
            }
        }
        return;
    }
    for (int64_t pl = begin; pl < end; pl++) {
        const float *X = j->x + pl * isz;
        float *Y = j->y + pl * osz;
        for (int64_t o0 = 0; o0 < g->out[0]; o0++)
            for (int64_t o1 = 0; o1 < g->out[1]; o1++) {
                float acc = -INFINITY;
                bool first = true;
                for (int64_t k0 = 0; k0 < g->k[0]; k0++) {
                    int64_t i0 = o0 * g->s[0] + k0 * g->d[0] - g->pb[0];
                    if (i0 < 0 || i0 >= g->in[0]) continue;
                    for (int64_t k1 = 0; k1 < g->k[1]; k1++) {
                        int64_t i1 = o1 * g->s[1] + k1 * g->d[1] - g->pb[1];
                        if (i1 < 0 || i1 >= g->in[1]) continue;
                        float v = X[i0 * g->in[1] + i1];
                        if (first || v > acc) acc = v;
                        first = false;
                    }
                }
                Y[o0 * g->out[1] + o1] = acc;
            }
    }
}

/* Pooling over 1-3 spatial dims, computed in double. kind 0 max, 1 average, 2 Lp. */
static born_status pool(onnx_op_ctx *c, int kind, bool global) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x), nsp = r - 2;
    if (nsp < 1 || nsp > 3) return onnx_fail(c, BORN_ERR_UNSUPPORTED, "input rank %d", r);
    const int64_t *xs = born_tensor_shape(x);
    int64_t kernel[3];
    geom g;
    if (global) {
        for (int i = 0; i < nsp; i++) kernel[i] = xs[2 + i];
        memset(&g, 0, sizeof g);
        g.nsp = nsp;
        for (int i = 0; i < nsp; i++) g.k[i] = g.in[i] = xs[2 + i], g.s[i] = g.d[i] = g.out[i] = 1;
    } else {
        int n;
        const int64_t *k = onnx_attr_ints(c, "kernel_shape", &n);
        if (!k || n != nsp) return onnx_fail(c, BORN_ERR_ARGUMENT, "kernel_shape must have %d entries", nsp);
        memcpy(kernel, k, (size_t)n * 8);
        ONNX_TRY(geometry(c, xs + 2, nsp, kernel, onnx_attr_int(c, "ceil_mode", 0) != 0, false, &g));
    }
    for (int i = nsp; i < 3; i++) g.k[i] = g.s[i] = g.d[i] = g.in[i] = g.out[i] = 1, g.pb[i] = g.pe[i] = 0;
    if (kind == 0 && c->nout < 2 && nsp == 2 && born_tensor_dtype(x) == BORN_F32) {
        born_tensor *xf = onnx_as(x, BORN_F32);
        born_tensor *y = xf ? born_empty(BORN_F32, 4, (int64_t[]){xs[0], xs[1], g.out[0], g.out[1]}) : NULL;
        if (!y) return onnx_op_failed(c);
        maxpool_job j = {&g, born_data_f32(xf), born_data_f32(y)};
        int64_t per = g.out[0] * g.out[1] * g.k[0] * g.k[1], grain = per > 0 ? 65536 / per + 1 : 1;
        born_parallel_for(xs[0] * xs[1], grain, maxpool_planes, &j);
        c->out[0] = y;
        return BORN_OK;
    }
    bool incl = onnx_attr_int(c, "count_include_pad", 0) != 0;
    double pw = (double)onnx_attr_int(c, "p", 2);
    born_dtype dt = born_tensor_dtype(x);
    born_tensor *xf = onnx_as(x, BORN_F64);
    int64_t oshape[5] = {xs[0], xs[1], g.out[0], g.out[1], g.out[2]};
    born_tensor *y = born_empty(BORN_F64, r, oshape);
    born_tensor *idx = kind == 0 && c->nout > 1 ? born_empty(BORN_I64, r, oshape) : NULL;
    if (!xf || !y || (kind == 0 && c->nout > 1 && !idx)) return onnx_op_failed(c);
    const double *X = born_data_f64(xf);
    double *Y = born_data_f64(y);
    int64_t *I = idx ? born_data_i64(idx) : NULL;
    int64_t planes = xs[0] * xs[1], isz = g.in[0] * g.in[1] * g.in[2];
    int64_t osz = g.out[0] * g.out[1] * g.out[2];
    bool storage_order = onnx_attr_int(c, "storage_order", 0) != 0;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t o0 = 0; o0 < g.out[0]; o0++)
            for (int64_t o1 = 0; o1 < g.out[1]; o1++)
                for (int64_t o2 = 0; o2 < g.out[2]; o2++) {
                    double acc = kind == 0 ? -INFINITY : 0;
                    int64_t cnt = 0, arg = -1;
                    int64_t padcnt = 0;
                    for (int64_t k0 = 0; k0 < g.k[0]; k0++) {
                        int64_t i0 = o0 * g.s[0] + k0 * g.d[0] - g.pb[0];
                        for (int64_t k1 = 0; k1 < g.k[1]; k1++) {
                            int64_t i1 = o1 * g.s[1] + k1 * g.d[1] - g.pb[1];
                            for (int64_t k2 = 0; k2 < g.k[2]; k2++) {
                                int64_t i2 = o2 * g.s[2] + k2 * g.d[2] - g.pb[2];
                                bool inside_pad = i0 < g.in[0] + g.pe[0] && i1 < g.in[1] + g.pe[1] &&
                                                  i2 < g.in[2] + g.pe[2];
                                if (inside_pad) padcnt++;
                                if (i0 < 0 || i1 < 0 || i2 < 0 || i0 >= g.in[0] || i1 >= g.in[1] ||
                                    i2 >= g.in[2])
                                    continue;
                                int64_t off = (i0 * g.in[1] + i1) * g.in[2] + i2;
                                double v = X[pl * isz + off];
                                cnt++;
                                if (kind == 0) {
                                    if (v > acc || arg < 0) {
                                        acc = v;
                                        arg = off;
                                        if (storage_order) arg = (i2 * g.in[1] + i1) * g.in[0] + i0;
                                    }
                                } else if (kind == 1) acc += v;
                                else acc += pow(fabs(v), pw);
                            }
                        }
                    }
                    int64_t o = pl * osz + (o0 * g.out[1] + o1) * g.out[2] + o2;
                    if (kind == 1) acc /= (double)(incl ? padcnt : cnt ? cnt : 1);
                    if (kind == 2) acc = pow(acc, 1 / pw);
                    Y[o] = acc;
                    if (I) I[o] = arg + pl * isz;
                }
    ONNX_OUT(0, born_to_dtype(y, dt));
    if (idx) ONNX_OUT(1, idx);
    return BORN_OK;
}
static born_status op_MaxPool(onnx_op_ctx *c) { return pool(c, 0, false); }
static born_status op_AveragePool(onnx_op_ctx *c) { return pool(c, 1, false); }
static born_status op_LpPool(onnx_op_ctx *c) { return pool(c, 2, false); }
static born_status op_GlobalMaxPool(onnx_op_ctx *c) { return pool(c, 0, true); }
static born_status op_GlobalLpPool(onnx_op_ctx *c) { return pool(c, 2, true); }

/* Plane means of f32 planes, each summed in double (in partial sums) and rounded once. */
typedef struct gap_job {
    const float *x;
    float *y;
    int64_t size;
} gap_job;

static void gap_planes(int64_t begin, int64_t end, void *arg) {
    const gap_job *j = arg;
#ifdef ONNX_HAVE_POOL_AVX2
    if (cpu_get_level() >= CPU_LEVEL_AVX2) { /* 16 partial sums: the 4 dependent chains were the
                                               time (cls 5%) */
        for (int64_t p = begin; p < end; p++)
            j->y[p] = (float)(onnx_sum_f64_avx2(j->x + p * j->size, j->size) / (double)j->size);
        return;
    }
#endif
    for (int64_t p = begin; p < end; p++) {
        const float *x = j->x + p * j->size;
        double s[4] = {0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 4 <= j->size; i += 4)
            for (int l = 0; l < 4; l++) s[l] += x[i + l];
        for (; i < j->size; i++) s[0] += x[i];
        j->y[p] = (float)(((s[0] + s[1]) + (s[2] + s[3])) / (double)j->size);
    }
}

static born_status op_GlobalAveragePool(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    if (r < 3) return onnx_fail(c, BORN_ERR_SHAPE, "input rank %d", r);
    const int64_t *xs = born_tensor_shape(x);
    if (born_tensor_dtype(x) == BORN_F32 && born_tensor_numel(x) > 0) {
        int64_t shape[BORN_MAX_DIMS], planes = xs[0] * xs[1];
        for (int i = 0; i < r; i++) shape[i] = i < 2 ? xs[i] : 1;
        born_tensor *xf = onnx_as(x, BORN_F32);
        born_tensor *y = xf ? born_empty(BORN_F32, r, shape) : NULL;
        if (!y) return onnx_op_failed(c);
        gap_job j = {born_data_f32(xf), born_data_f32(y), born_tensor_numel(x) / planes};
        born_parallel_for(planes, (1 << 18) / j.size + 1, gap_planes, &j);
        c->out[0] = y;
        return BORN_OK;
    }
    int64_t axes[BORN_MAX_DIMS];
    for (int i = 2; i < r; i++) axes[i - 2] = i;
    ONNX_OUT(0, born_mean(x, r - 2, axes, true));
    return BORN_OK;
}

static born_status op_LRN(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    double alpha = onnx_attr_float(c, "alpha", 1e-4f), beta = onnx_attr_float(c, "beta", 0.75f);
    double bias = onnx_attr_float(c, "bias", 1.0f);
    int64_t size = onnx_attr_int(c, "size", 0);
    if (size <= 0 || born_tensor_ndim(x) < 3) return onnx_fail(c, BORN_ERR_ARGUMENT, "bad size or rank");
    born_tensor *xf = onnx_as(x, BORN_F64);
    born_tensor *y = born_empty_like(xf);
    if (!xf || !y) return onnx_op_failed(c);
    const int64_t *s = born_tensor_shape(x);
    int64_t N = s[0], C = s[1], sp = born_tensor_numel(x) / ((N * C) != 0 ? N * C : 1);
    const double *X = born_data_f64(xf);
    double *Y = born_data_f64(y);
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < sp; i++) {
                double sq = 0;
                for (int64_t j = ch - lo; j <= ch + hi; j++)
                    if (j >= 0 && j < C) {
                        double v = X[(n * C + j) * sp + i];
                        sq += v * v;
                    }
                int64_t o = (n * C + ch) * sp + i;
                Y[o] = X[o] / pow(bias + alpha / (double)size * sq, beta);
            }
    ONNX_OUT(0, born_to_dtype(y, born_tensor_dtype(x)));
    return BORN_OK;
}

const onnx_op_entry onnx_ops_nn[] = {
    {"Conv", op_Conv}, {"ConvTranspose", op_ConvTranspose}, {"MatMul", op_MatMul}, {"Gemm", op_Gemm},
    {"BatchNormalization", op_BatchNormalization},
    {"InstanceNormalization", op_InstanceNormalization},
    {"LayerNormalization", op_LayerNormalization},
    {"MeanVarianceNormalization", op_MeanVarianceNormalization}, {"MaxPool", op_MaxPool},
    {"AveragePool", op_AveragePool}, {"LpPool", op_LpPool}, {"GlobalMaxPool", op_GlobalMaxPool},
    {"GlobalLpPool", op_GlobalLpPool}, {"GlobalAveragePool", op_GlobalAveragePool}, {"LRN", op_LRN},
    {NULL, NULL}};
