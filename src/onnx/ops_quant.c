/* Quantization operators: QuantizeLinear, DequantizeLinear (per tensor or per axis),
 * DynamicQuantizeLinear, MatMulInteger and QLinearMatMul. Rounding is half to even, as ONNX
 * specifies; integer products are exact (computed in double, far below 2^53 for 8-bit inputs). */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* The per-element broadcast of a scale or zero point p (a scalar, or 1-D along axis of x) to x's
 * shape, as a contiguous f64 tensor. */
static born_tensor *along_axis(onnx_op_ctx *c, born_tensor *p, born_tensor *x, const char *what) {
    int r = born_tensor_ndim(x);
    born_tensor *pd = onnx_as(p, BORN_F64);
    if (!pd) {
        onnx_op_failed(c);
        return NULL;
    }
    if (born_tensor_numel(p) == 1 && born_tensor_ndim(p) <= 1) {
        pd = born_reshape(pd, 0, NULL);
    } else {
        if (born_tensor_ndim(p) != 1) {
            onnx_fail(c, BORN_ERR_SHAPE, "%s must be a scalar or 1-D", what);
            return NULL;
        }
        int a = onnx_axis(c, onnx_attr_int(c, "axis", 1), r);
        if (a < 0) return NULL;
        if (born_tensor_shape(p)[0] != born_tensor_shape(x)[a]) {
            onnx_fail(c, BORN_ERR_SHAPE, "%s has %lld values for an axis of %lld", what,
                      (long long)born_tensor_shape(p)[0], (long long)born_tensor_shape(x)[a]);
            return NULL;
        }
        int64_t shape[BORN_MAX_DIMS];
        for (int i = 0; i < r; i++) shape[i] = i == a ? born_tensor_shape(p)[0] : 1;
        pd = born_reshape(pd, r, shape);
    }
    born_tensor *e = pd ? onnx_as(born_expand(pd, r, born_tensor_shape(x)), BORN_F64) : NULL;
    if (!e) onnx_op_failed(c);
    return e;
}

static void qrange(born_dtype dt, double *lo, double *hi) {
    if (dt == BORN_I8) *lo = -128, *hi = 127;
    else if (dt == BORN_I32) *lo = -2147483648.0, *hi = 2147483647.0;
    else if (dt == BORN_I16) *lo = -32768, *hi = 32767;
    else *lo = 0, *hi = 255;
}

static born_status op_QuantizeLinear(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0], *zp = c->nin > 2 ? c->in[2] : NULL;
    born_dtype odt = zp ? born_tensor_dtype(zp) : BORN_U8;
    if (odt != BORN_U8 && odt != BORN_I8)
        return onnx_fail(c, BORN_ERR_DTYPE, "y_zero_point must be uint8 or int8");
    born_tensor *xs = onnx_as(x, BORN_F32);
    born_tensor *sc = along_axis(c, c->in[1], x, "y_scale");
    born_tensor *z = zp ? along_axis(c, zp, x, "y_zero_point") : NULL;
    if (!xs || !sc || (zp && !z)) return onnx_op_failed(c);
    born_tensor *y = born_empty(BORN_F64, born_tensor_ndim(x), born_tensor_shape(x));
    if (!y) return onnx_op_failed(c);
    double lo, hi;
    qrange(odt, &lo, &hi);
    int64_t n = born_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        float q = born_data_f32(xs)[i] / (float)born_data_f64(sc)[i];
        double v = nearbyint((double)q) + (z ? born_data_f64(z)[i] : 0);
        born_data_f64(y)[i] = v < lo ? lo : v > hi ? hi : v;
    }
    ONNX_OUT(0, born_contiguous(born_to_dtype(y, odt)));
    return BORN_OK;
}

static born_status op_DequantizeLinear(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0], *zp = c->nin > 2 ? c->in[2] : NULL;
    born_dtype odt = born_tensor_dtype(c->in[1]);
    if (!born_dtype_is_floating(odt)) return onnx_fail(c, BORN_ERR_DTYPE, "x_scale must be floating");
    born_tensor *xd = onnx_as(x, BORN_F64);
    born_tensor *sc = along_axis(c, c->in[1], x, "x_scale");
    born_tensor *z = zp ? along_axis(c, zp, x, "x_zero_point") : NULL;
    if (!xd || !sc || (zp && !z)) return onnx_op_failed(c);
    born_tensor *y = born_empty(BORN_F32, born_tensor_ndim(x), born_tensor_shape(x));
    if (!y) return onnx_op_failed(c);
    int64_t n = born_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) /* float32 arithmetic, as onnxruntime */
        born_data_f32(y)[i] = (float)(born_data_f64(xd)[i] - (z ? born_data_f64(z)[i] : 0)) *
                              (float)born_data_f64(sc)[i];
    ONNX_OUT(0, born_contiguous(born_to_dtype(y, odt)));
    return BORN_OK;
}

static born_status op_DynamicQuantizeLinear(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = onnx_as(c->in[0], BORN_F32);
    if (!x) return onnx_op_failed(c);
    int64_t n = born_tensor_numel(x);
    const float *v = born_data_f32(x);
    float mn = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < mn) mn = v[i];
        if (v[i] > mx) mx = v[i];
    }
    float scale = (mx - mn) / 255.0f;
    float izp = scale != 0 ? 0.0f - mn / scale : 0.0f;
    izp = izp < 0 ? 0 : izp > 255 ? 255 : izp;
    float zp = (float)nearbyint((double)izp);
    born_tensor *y = born_empty(BORN_U8, born_tensor_ndim(x), born_tensor_shape(x));
    born_tensor *ys = born_empty(BORN_F32, 0, NULL), *yz = born_empty(BORN_U8, 0, NULL);
    if (!y || !ys || !yz) return onnx_op_failed(c);
    uint8_t *o = born_data_ptr(y);
    for (int64_t i = 0; i < n; i++) {
        double q = (scale != 0 ? nearbyint((double)(v[i] / scale)) : 0) + zp;
        o[i] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
    }
    born_data_f32(ys)[0] = scale;
    ((uint8_t *)born_data_ptr(yz))[0] = (uint8_t)zp;
    c->out[0] = y;
    if (c->nout > 1) c->out[1] = ys;
    if (c->nout > 2) c->out[2] = yz;
    return BORN_OK;
}

/* a - zero point, as f64; the zero point is a scalar, or per row of a (axis -2) / per column of
 * b (axis -1) as MatMulInteger allows. */
static born_tensor *centered(onnx_op_ctx *c, born_tensor *a, born_tensor *zp, int axis_from_end) {
    born_tensor *ad = born_to_dtype(a, BORN_F64);
    if (!ad || !zp) return ad;
    born_tensor *z = born_to_dtype(zp, BORN_F64);
    if (!z) return NULL;
    if (born_tensor_numel(zp) != 1) {
        int r = born_tensor_ndim(a);
        if (born_tensor_ndim(zp) != 1 || r < 2) {
            onnx_fail(c, BORN_ERR_SHAPE, "a zero point must be a scalar or 1-D");
            return NULL;
        }
        if (axis_from_end == 2) z = born_unsqueeze(z, 1); /* per row */
    } else {
        z = born_reshape(z, 0, NULL);
    }
    return born_sub(ad, z);
}

static born_status op_MatMulInteger(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *a = centered(c, c->in[0], c->nin > 2 ? c->in[2] : NULL, 2);
    born_tensor *b = centered(c, c->in[1], c->nin > 3 ? c->in[3] : NULL, 1);
    if (!a || !b) return onnx_op_failed(c);
    ONNX_OUT(0, born_contiguous(born_to_dtype(born_matmul(a, b), BORN_I32)));
    return BORN_OK;
}

static born_status op_QLinearMatMul(onnx_op_ctx *c) {
    for (int i = 0; i < 8; i++) ONNX_TRY(onnx_need(c, i));
    double as, bs, ys, yz;
    ONNX_TRY(onnx_read_scalar(c, c->in[1], &as, "a_scale"));
    ONNX_TRY(onnx_read_scalar(c, c->in[4], &bs, "b_scale"));
    ONNX_TRY(onnx_read_scalar(c, c->in[6], &ys, "y_scale"));
    ONNX_TRY(onnx_read_scalar(c, c->in[7], &yz, "y_zero_point"));
    born_tensor *a = centered(c, c->in[0], c->in[2], 2);
    born_tensor *b = centered(c, c->in[3], c->in[5], 1);
    born_tensor *p = a && b ? born_contiguous(born_matmul(a, b)) : NULL;
    if (!p) return onnx_op_failed(c);
    born_dtype odt = born_tensor_dtype(c->in[7]);
    double lo, hi;
    qrange(odt, &lo, &hi);
    double *v = born_data_f64(p);
    float m = (float)as * (float)bs / (float)ys;
    for (int64_t i = 0; i < born_tensor_numel(p); i++) {
        double q = nearbyint((double)((float)v[i] * m)) + yz;
        v[i] = q < lo ? lo : q > hi ? hi : q;
    }
    ONNX_OUT(0, born_contiguous(born_to_dtype(p, odt)));
    return BORN_OK;
}

const onnx_op_entry onnx_ops_quant[] = {{"QuantizeLinear", op_QuantizeLinear},
                                        {"DequantizeLinear", op_DequantizeLinear},
                                        {"DynamicQuantizeLinear", op_DynamicQuantizeLinear},
                                        {"MatMulInteger", op_MatMulInteger},
                                        {"QLinearMatMul", op_QLinearMatMul},
                                        {NULL, NULL}};
