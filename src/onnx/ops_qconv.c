/* Integer convolutions: ConvInteger (u8/i8 inputs less their zero points, exact i32 sums) and
 * QLinearConv (the same sum plus an i32 bias, requantized: rounded half to even and saturated to
 * u8/i8), for 1-D to 3-D inputs with strides, dilations, pads, auto_pad and groups. The zero point
 * of w may be per output channel, as may QLinearConv's w_scale. Sums are exact in i64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

typedef struct qconv_geom {
    int nsp; /* spatial dimensions */
    int64_t n, cin, cout, group;
    int64_t in[3], k[3], out[3], stride[3], dil[3], pad0[3];
} qconv_geom;

/* Shapes and attributes of a convolution of x [N, C, D...] by w [M, C / group, K...]. */
static born_status geometry(onnx_op_ctx *c, born_tensor *x, born_tensor *w, qconv_geom *g) {
    int r = born_tensor_ndim(x);
    const int64_t *xs = born_tensor_shape(x), *ws = born_tensor_shape(w);
    if (r < 3 || r > 5 || born_tensor_ndim(w) != r)
        return onnx_fail(c, BORN_ERR_SHAPE, "x and w must both be 3-D to 5-D ([N, C, ...])");
    memset(g, 0, sizeof *g);
    g->nsp = r - 2, g->n = xs[0], g->cin = xs[1], g->cout = ws[0];
    g->group = onnx_attr_int(c, "group", 1);
    if (g->group < 1 || g->cin % g->group || g->cout % g->group || ws[1] * g->group != g->cin)
        return onnx_fail(c, BORN_ERR_SHAPE,
                         "w's shape does not fit %lld input channels in %lld groups",
                         (long long)g->cin, (long long)g->group);
    int nk, ns, nd, np;
    const int64_t *ks = onnx_attr_ints(c, "kernel_shape", &nk);
    const int64_t *st = onnx_attr_ints(c, "strides", &ns);
    const int64_t *dl = onnx_attr_ints(c, "dilations", &nd);
    const int64_t *pd = onnx_attr_ints(c, "pads", &np);
    if ((ks && nk != g->nsp) || (st && ns != g->nsp) || (dl && nd != g->nsp) ||
        (pd && np != 2 * g->nsp))
        return onnx_fail(c, BORN_ERR_ARGUMENT,
                         "kernel_shape, strides, dilations or pads do not "
                         "match %d spatial dimensions",
                         g->nsp);
    char buf[32];
    const char *ap = onnx_attr_str(c, "auto_pad", "NOTSET", buf, sizeof buf);
    bool same = !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER");
    if (!same && strcmp(ap, "NOTSET") && strcmp(ap, "VALID"))
        return onnx_fail(c, BORN_ERR_ARGUMENT, "auto_pad '%s' is not known", ap);
    for (int i = 0; i < g->nsp; i++) {
        g->in[i] = xs[2 + i], g->k[i] = ws[2 + i];
        if (ks && ks[i] != g->k[i])
            return onnx_fail(c, BORN_ERR_SHAPE, "kernel_shape differs from w's shape");
        g->stride[i] = st ? st[i] : 1, g->dil[i] = dl ? dl[i] : 1;
        if (g->stride[i] < 1 || g->dil[i] < 1 || g->k[i] < 1)
            return onnx_fail(c, BORN_ERR_ARGUMENT,
                             "strides, dilations and kernel must be positive");
        int64_t span = (g->k[i] - 1) * g->dil[i] + 1, p0 = 0, p1 = 0;
        if (same) {
            int64_t o = (g->in[i] + g->stride[i] - 1) / g->stride[i];
            int64_t tot = (o - 1) * g->stride[i] + span - g->in[i];
            if (tot < 0) tot = 0;
            p0 = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
            p1 = tot - p0;
        } else if (pd && strcmp(ap, "VALID")) {
            p0 = pd[i], p1 = pd[g->nsp + i];
        }
        if (p0 < 0 || p1 < 0) return onnx_fail(c, BORN_ERR_ARGUMENT, "pads must not be negative");
        g->pad0[i] = p0;
        g->out[i] = (g->in[i] + p0 + p1 - span) / g->stride[i] + 1;
        if (g->in[i] + p0 + p1 < span)
            return onnx_fail(c, BORN_ERR_SHAPE, "the kernel is larger than the padded input");
    }
    for (int i = g->nsp; i < 3; i++)
        g->in[i] = g->k[i] = g->out[i] = g->stride[i] = g->dil[i] = 1;
    return BORN_OK;
}

/* The zero point p as one value per output channel m (zp[m], cout values) or one for all. */
static born_status zero_points(onnx_op_ctx *c, born_tensor *p, int64_t count, int64_t *zp,
                               const char *what) {
    if (!p) {
        for (int64_t i = 0; i < count; i++)
            zp[i] = 0;
        return BORN_OK;
    }
    int64_t n = born_tensor_numel(p);
    if (born_tensor_ndim(p) > 1 || (n != 1 && n != count))
        return onnx_fail(c, BORN_ERR_SHAPE, "%s must be a scalar or have %lld values", what,
                         (long long)count);
    born_tensor *v = onnx_as(p, BORN_I64);
    if (!v) return onnx_op_failed(c);
    for (int64_t i = 0; i < count; i++)
        zp[i] = ((const int64_t *)born_data_ptr(v))[n == 1 ? 0 : i];
    return BORN_OK;
}

static bool is_8bit(born_tensor *t) {
    return born_tensor_dtype(t) == BORN_U8 || born_tensor_dtype(t) == BORN_I8;
}

/* acc[n, m, out...] = sum (x - xz) (w - wz[m]) over each group's channels and the kernel. */
static born_status int_conv(onnx_op_ctx *c, born_tensor *x, born_tensor *w, born_tensor *xzp,
                            born_tensor *wzp, qconv_geom *g, born_tensor **acc_out) {
    if (!is_8bit(x) || !is_8bit(w))
        return onnx_fail(c, BORN_ERR_DTYPE, "x and w must be uint8 or int8 (x is %s, w is %s)",
                         born_dtype_name(born_tensor_dtype(x)),
                         born_dtype_name(born_tensor_dtype(w)));
    ONNX_TRY(geometry(c, x, w, g));
    int64_t xz;
    ONNX_TRY(zero_points(c, xzp, 1, &xz, "x_zero_point"));
    int64_t *wz = malloc((size_t)(g->cout ? g->cout : 1) * sizeof *wz);
    if (!wz) return onnx_fail(c, BORN_ERR_MEMORY, "out of memory");
    born_status st = zero_points(c, wzp, g->cout, wz, "w_zero_point");
    born_tensor *xi = st ? NULL : onnx_as(x, BORN_I64), *wi = xi ? onnx_as(w, BORN_I64) : NULL;
    int64_t oshape[5] = {g->n, g->cout, g->out[0], g->out[1], g->out[2]};
    born_tensor *acc = wi ? born_empty(BORN_I64, 2 + g->nsp, oshape) : NULL;
    if (!st && !acc) st = onnx_op_failed(c);
    if (st) {
        free(wz);
        return st;
    }
    const int64_t *xv = born_data_ptr(xi), *wv = born_data_ptr(wi);
    int64_t *av = born_data_ptr(acc);
    int64_t cg = g->cin / g->group, mg = g->cout / g->group;
    int64_t osz = g->out[0] * g->out[1] * g->out[2], isz = g->in[0] * g->in[1] * g->in[2];
    int64_t ksz = g->k[0] * g->k[1] * g->k[2];
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t m = 0; m < g->cout; m++) {
            int64_t grp = m / mg;
            for (int64_t o = 0; o < osz; o++) {
                int64_t o0 = o / (g->out[1] * g->out[2]), o1 = o / g->out[2] % g->out[1],
                        o2 = o % g->out[2];
                int64_t sum = 0;
                for (int64_t ci = 0; ci < cg; ci++) {
                    const int64_t *xp = xv + (n * g->cin + grp * cg + ci) * isz;
                    const int64_t *wp = wv + (m * cg + ci) * ksz;
                    for (int64_t k0 = 0; k0 < g->k[0]; k0++) {
                        int64_t i0 = o0 * g->stride[0] - g->pad0[0] + k0 * g->dil[0];
                        if (i0 < 0 || i0 >= g->in[0]) continue;
                        for (int64_t k1 = 0; k1 < g->k[1]; k1++) {
                            int64_t i1 = o1 * g->stride[1] - g->pad0[1] + k1 * g->dil[1];
                            if (i1 < 0 || i1 >= g->in[1]) continue;
                            for (int64_t k2 = 0; k2 < g->k[2]; k2++) {
                                int64_t i2 = o2 * g->stride[2] - g->pad0[2] + k2 * g->dil[2];
                                if (i2 < 0 || i2 >= g->in[2]) continue;
                                int64_t xe = xp[(i0 * g->in[1] + i1) * g->in[2] + i2] - xz;
                                int64_t we = wp[(k0 * g->k[1] + k1) * g->k[2] + k2] - wz[m];
                                sum += xe * we;
                            }
                        }
                    }
                }
                av[(n * g->cout + m) * osz + o] = sum;
            }
        }
    free(wz);
    *acc_out = acc;
    return BORN_OK;
}

static born_status op_ConvInteger(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    qconv_geom g;
    born_tensor *acc;
    ONNX_TRY(int_conv(c, c->in[0], c->in[1], c->nin > 2 ? c->in[2] : NULL,
                      c->nin > 3 ? c->in[3] : NULL, &g, &acc));
    ONNX_OUT(0, born_contiguous(born_to_dtype(acc, BORN_I32)));
    return BORN_OK;
}

static born_status op_QLinearConv(onnx_op_ctx *c) {
    for (int i = 0; i < 7; i++)
        if (i != 2 && i != 5) ONNX_TRY(onnx_need(c, i));
    born_tensor *x = c->in[0], *w = c->in[3], *yzp = c->nin > 7 ? c->in[7] : NULL;
    born_tensor *bias = c->nin > 8 ? c->in[8] : NULL;
    qconv_geom g;
    born_tensor *acc;
    ONNX_TRY(int_conv(c, x, w, c->in[2], c->in[5], &g, &acc));
    double xs, ys, yz = 0;
    ONNX_TRY(onnx_read_scalar(c, c->in[1], &xs, "x_scale"));
    ONNX_TRY(onnx_read_scalar(c, c->in[6], &ys, "y_scale"));
    if (yzp) ONNX_TRY(onnx_read_scalar(c, yzp, &yz, "y_zero_point"));
    born_dtype odt = yzp ? born_tensor_dtype(yzp) : born_tensor_dtype(x);
    if (odt != BORN_U8 && odt != BORN_I8)
        return onnx_fail(c, BORN_ERR_DTYPE, "y_zero_point must be uint8 or int8");
    born_tensor *wsc = c->in[4];
    int64_t nws = born_tensor_numel(wsc);
    if (born_tensor_ndim(wsc) > 1 || (nws != 1 && nws != g.cout))
        return onnx_fail(c, BORN_ERR_SHAPE, "w_scale must be a scalar or have %lld values",
                         (long long)g.cout);
    if (bias && (born_tensor_ndim(bias) != 1 || born_tensor_shape(bias)[0] != g.cout))
        return onnx_fail(c, BORN_ERR_SHAPE, "B must have %lld values", (long long)g.cout);
    born_tensor *wsd = onnx_as(wsc, BORN_F64), *bd = bias ? onnx_as(bias, BORN_I64) : NULL;
    born_tensor *y = wsd && (!bias || bd)
                         ? born_empty(odt, born_tensor_ndim(acc), born_tensor_shape(acc))
                         : NULL;
    if (!y) return onnx_op_failed(c);
    double lo = odt == BORN_I8 ? -128 : 0, hi = odt == BORN_I8 ? 127 : 255;
    int64_t osz = g.out[0] * g.out[1] * g.out[2];
    const int64_t *av = born_data_ptr(acc);
    for (int64_t n = 0; n < g.n; n++)
        for (int64_t m = 0; m < g.cout; m++) {
            /* float32 arithmetic for the scale, as onnxruntime and the reference (numpy f32) */
            float scale = (float)xs * (float)born_data_f64(wsd)[nws == 1 ? 0 : m] / (float)ys;
            int64_t b = bd ? ((const int64_t *)born_data_ptr(bd))[m] : 0;
            for (int64_t o = 0; o < osz; o++) {
                int64_t i = (n * g.cout + m) * osz + o;
                double q = nearbyint((double)((float)(av[i] + b) * scale)) + yz;
                q = q < lo ? lo : q > hi ? hi : q;
                if (odt == BORN_I8)
                    ((int8_t *)born_data_ptr(y))[i] = (int8_t)q;
                else
                    ((uint8_t *)born_data_ptr(y))[i] = (uint8_t)q;
            }
        }
    c->out[0] = y;
    return BORN_OK;
}

const onnx_op_entry onnx_ops_qconv[] = {
    {"ConvInteger", op_ConvInteger}, {"QLinearConv", op_QLinearConv}, {NULL, NULL}};
