/* Region and unpooling operators: RoiAlign (avg/max, half_pixel or output_half_pixel coordinates,
 * sampling_ratio 0 = adaptive; bilinear samples as the ONNX reference and onnxruntime take them)
 * and MaxUnpool (values scattered to MaxPool's flat indices, then placed at the top-left of
 * output_shape when it is given, as the reference implementation does). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* One bilinear sample: four positions in the plane and their weights (zero outside). */
typedef struct roi_sample {
    int64_t pos[4];
    double w[4];
} roi_sample;

static roi_sample sample_at(double y, double x, int64_t h, int64_t w) {
    roi_sample s = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    if (y < -1.0 || y > (double)h || x < -1.0 || x > (double)w) return s;
    if (y < 0) y = 0;
    if (x < 0) x = 0;
    int64_t yl = (int64_t)y, xl = (int64_t)x, yh, xh;
    if (yl >= h - 1)
        yh = yl = h - 1, y = (double)yl;
    else
        yh = yl + 1;
    if (xl >= w - 1)
        xh = xl = w - 1, x = (double)xl;
    else
        xh = xl + 1;
    double ly = y - (double)yl, lx = x - (double)xl, hy = 1 - ly, hx = 1 - lx;
    s.pos[0] = yl * w + xl, s.pos[1] = yl * w + xh, s.pos[2] = yh * w + xl, s.pos[3] = yh * w + xh;
    s.w[0] = hy * hx, s.w[1] = hy * lx, s.w[2] = ly * hx, s.w[3] = ly * lx;
    return s;
}

static born_status op_RoiAlign(onnx_op_ctx *c) {
    for (int i = 0; i < 3; i++)
        ONNX_TRY(onnx_need(c, i));
    born_tensor *xt = c->in[0], *rt = c->in[1], *bt = c->in[2];
    born_dtype dt = born_tensor_dtype(xt);
    if (!born_dtype_is_floating(dt))
        return onnx_fail(c, BORN_ERR_DTYPE, "X is %s; a floating type is required",
                         born_dtype_name(dt));
    const int64_t *xs = born_tensor_shape(xt);
    if (born_tensor_ndim(xt) != 4 || xs[2] < 1 || xs[3] < 1)
        return onnx_fail(c, BORN_ERR_SHAPE, "X must be [N, C, H, W] with H and W at least 1");
    int64_t nroi = born_tensor_ndim(bt) == 1 ? born_tensor_shape(bt)[0] : -1;
    if (nroi < 0 || born_tensor_ndim(rt) != 2 || born_tensor_shape(rt)[0] != nroi ||
        born_tensor_shape(rt)[1] != 4)
        return onnx_fail(c, BORN_ERR_SHAPE,
                         "rois must be [num_rois, 4] and batch_indices "
                         "[num_rois]");
    char mb[16], cb[32];
    const char *mode = onnx_attr_str(c, "mode", "avg", mb, sizeof mb);
    const char *ctm =
        onnx_attr_str(c, "coordinate_transformation_mode",
                      c->opset >= 16 ? "half_pixel" : "output_half_pixel", cb, sizeof cb);
    bool avg = !strcmp(mode, "avg"), half = !strcmp(ctm, "half_pixel");
    if (!avg && strcmp(mode, "max")) return onnx_fail(c, BORN_ERR_ARGUMENT, "mode '%s'", mode);
    if (!half && strcmp(ctm, "output_half_pixel"))
        return onnx_fail(c, BORN_ERR_ARGUMENT, "coordinate_transformation_mode '%s'", ctm);
    int64_t oh = onnx_attr_int(c, "output_height", 1), ow = onnx_attr_int(c, "output_width", 1);
    int64_t ratio = onnx_attr_int(c, "sampling_ratio", 0);
    double scale = onnx_attr_float(c, "spatial_scale", 1.0f);
    if (oh < 1 || ow < 1 || oh > (1 << 16) || ow > (1 << 16) || ratio < 0 || ratio > (1 << 10))
        return onnx_fail(c, BORN_ERR_ARGUMENT, "bad output_height, output_width or sampling_ratio");
    int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
    born_tensor *x = onnx_as(xt, BORN_F64), *rois = onnx_as(rt, BORN_F64);
    born_tensor *bi = onnx_as(bt, BORN_I64);
    int64_t oshape[4] = {nroi, C, oh, ow};
    born_tensor *y = x && rois && bi ? born_empty(BORN_F64, 4, oshape) : NULL;
    if (!y) return onnx_op_failed(c);
    const double *xv = born_data_f64(x), *rv = born_data_f64(rois);
    double *yv = born_data_f64(y);
    for (int64_t r = 0; r < nroi; r++) {
        int64_t b = ((const int64_t *)born_data_ptr(bi))[r];
        if (b < 0 || b >= N)
            return onnx_fail(c, BORN_ERR_ARGUMENT, "batch index %lld of roi %lld is out of range",
                             (long long)b, (long long)r);
        double off = half ? 0.5 : 0;
        double x0 = rv[4 * r] * scale - off, y0 = rv[4 * r + 1] * scale - off;
        double rw = rv[4 * r + 2] * scale - off - x0, rh = rv[4 * r + 3] * scale - off - y0;
        if (!half) rw = fmax(rw, 1.0), rh = fmax(rh, 1.0); /* malformed rois become 1x1 */
        double bh = rh / (double)oh, bw = rw / (double)ow;
        double gh_d = ratio > 0 ? (double)ratio : ceil(rh / (double)oh);
        double gw_d = ratio > 0 ? (double)ratio : ceil(rw / (double)ow);
        if (!(gh_d < 1 << 10) || !(gw_d < 1 << 10))
            return onnx_fail(c, BORN_ERR_ARGUMENT, "roi %lld is too large to sample", (long long)r);
        int64_t gh = gh_d > 0 ? (int64_t)gh_d : 0, gw = gw_d > 0 ? (int64_t)gw_d : 0;
        double count = gh * gw > 1 ? (double)(gh * gw) : 1;
        for (int64_t ch = 0; ch < C; ch++) {
            const double *plane = xv + (b * C + ch) * H * W;
            for (int64_t ph = 0; ph < oh; ph++)
                for (int64_t pw = 0; pw < ow; pw++) {
                    double v = 0;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        double yy = y0 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            double xx = x0 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                            roi_sample s = sample_at(yy, xx, H, W);
                            if (avg) {
                                for (int k = 0; k < 4; k++)
                                    v += s.w[k] * plane[s.pos[k]];
                            } else { /* the reference's max: the largest weighted corner */
                                double m = s.w[0] * plane[s.pos[0]];
                                for (int k = 1; k < 4; k++)
                                    m = fmax(m, s.w[k] * plane[s.pos[k]]);
                                v = first ? m : fmax(v, m);
                                first = false;
                            }
                        }
                    }
                    yv[((r * C + ch) * oh + ph) * ow + pw] = avg ? v / count : v;
                }
        }
    }
    ONNX_OUT(0, born_contiguous(born_to_dtype(y, dt)));
    return BORN_OK;
}

static born_status op_MaxUnpool(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *xt = c->in[0], *it = c->in[1], *st = c->nin > 2 ? c->in[2] : NULL;
    int r = born_tensor_ndim(xt), nsp = r - 2;
    const int64_t *xs = born_tensor_shape(xt);
    if (r < 3 || born_tensor_ndim(it) != r ||
        memcmp(xs, born_tensor_shape(it), (size_t)r * sizeof *xs))
        return onnx_fail(c, BORN_ERR_SHAPE, "X and I must have the same shape [N, C, D...]");
    int nk, ns, np;
    const int64_t *ks = onnx_attr_ints(c, "kernel_shape", &nk);
    const int64_t *strides = onnx_attr_ints(c, "strides", &ns);
    const int64_t *pads = onnx_attr_ints(c, "pads", &np);
    if (!ks || nk != nsp || (strides && ns != nsp) || (pads && np != 2 * nsp))
        return onnx_fail(c, BORN_ERR_ARGUMENT,
                         "kernel_shape, strides or pads do not match %d "
                         "spatial dimensions",
                         nsp);
    int64_t inf[BORN_MAX_DIMS], osh[BORN_MAX_DIMS];
    inf[0] = xs[0], inf[1] = xs[1];
    for (int i = 0; i < nsp; i++) {
        inf[2 + i] = (xs[2 + i] - 1) * (strides ? strides[i] : 1) -
                     (pads ? pads[i] + pads[nsp + i] : 0) + ks[i];
        if (inf[2 + i] < 1 || inf[2 + i] > ((int64_t)1 << 30))
            return onnx_fail(c, BORN_ERR_SHAPE, "the unpooled size of dimension %d is %lld", 2 + i,
                             (long long)inf[2 + i]);
    }
    memcpy(osh, inf, (size_t)r * sizeof *osh);
    if (st) {
        int n = onnx_read_ints(c, st, osh, BORN_MAX_DIMS, "output_shape");
        if (n < 0) return onnx_op_failed(c);
        if (n != r)
            return onnx_fail(c, BORN_ERR_SHAPE, "output_shape has %d values for rank %d", n, r);
        for (int i = 0; i < r; i++)
            if (i < 2 ? osh[i] != inf[i] : osh[i] < inf[i])
                return onnx_fail(c, BORN_ERR_SHAPE,
                                 "output_shape[%d] = %lld cannot hold the "
                                 "unpooled size %lld",
                                 i, (long long)osh[i], (long long)inf[i]);
    }
    born_tensor *x = onnx_as(xt, born_tensor_dtype(xt)), *idx = onnx_as(it, BORN_I64);
    born_tensor *y = x && idx ? born_zeros(born_tensor_dtype(xt), r, osh) : NULL;
    if (!y) return onnx_op_failed(c);
    int64_t total = 1, n = born_tensor_numel(x);
    for (int i = 0; i < r; i++)
        total *= inf[i];
    size_t es = born_dtype_size(born_tensor_dtype(xt));
    const int64_t *iv = born_data_ptr(idx);
    const char *src = born_data_ptr(x);
    char *dst = born_data_ptr(y);
    for (int64_t e = 0; e < n; e++) {
        int64_t k = iv[e];
        if (k < 0 || k >= total)
            return onnx_fail(c, BORN_ERR_ARGUMENT,
                             "index %lld is outside the unpooled tensor of %lld", (long long)k,
                             (long long)total);
        /* k is a flat index into the unpooled shape; place it at the same coordinates of y */
        int64_t off = 0, rem = k, mul = 1;
        for (int i = r - 1; i >= 0; i--) {
            off += (rem % inf[i]) * mul;
            rem /= inf[i];
            mul *= osh[i];
        }
        memcpy(dst + (size_t)off * es, src + (size_t)e * es, es);
    }
    c->out[0] = y;
    return BORN_OK;
}

const onnx_op_entry onnx_ops_roi[] = {
    {"RoiAlign", op_RoiAlign}, {"MaxUnpool", op_MaxUnpool}, {NULL, NULL}};
