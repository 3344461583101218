/* Vision operators: NonMaxSuppression (greedy, per batch and class, ties broken by the lower box
 * index) and GridSample (4-D; nearest, bilinear and bicubic; zeros, border and reflection
 * padding), both following onnxruntime's CPU kernels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* Corners (ymin, xmin, ymax, xmax) of box b. */
static void corners(const float *b, bool center, double *o) {
    if (center) {
        double xc = b[0], yc = b[1], w = b[2], h = b[3];
        o[0] = yc - h / 2, o[1] = xc - w / 2, o[2] = yc + h / 2, o[3] = xc + w / 2;
    } else {
        o[0] = fmin(b[0], b[2]), o[1] = fmin(b[1], b[3]);
        o[2] = fmax(b[0], b[2]), o[3] = fmax(b[1], b[3]);
    }
}

static bool suppress(const double *a, const double *b, double thr) {
    double ih = fmin(a[2], b[2]) - fmax(a[0], b[0]), iw = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    if (ih <= 0 || iw <= 0) return false;
    double inter = ih * iw;
    double aa = (a[2] - a[0]) * (a[3] - a[1]), ab = (b[2] - b[0]) * (b[3] - b[1]);
    double uni = aa + ab - inter;
    if (aa <= 0 || ab <= 0 || uni <= 0) return false;
    return inter / uni > thr;
}

typedef struct cand {
    float score;
    int64_t index;
} cand;

static int by_score(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static born_status op_NonMaxSuppression(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *boxes = onnx_as(c->in[0], BORN_F32), *scores = onnx_as(c->in[1], BORN_F32);
    if (!boxes || !scores) return onnx_op_failed(c);
    if (born_tensor_ndim(boxes) != 3 || born_tensor_shape(boxes)[2] != 4)
        return onnx_fail(c, BORN_ERR_SHAPE, "boxes must be [batch, boxes, 4]");
    const int64_t *bs = born_tensor_shape(boxes), *ss = born_tensor_shape(scores);
    if (born_tensor_ndim(scores) != 3 || ss[0] != bs[0] || ss[2] != bs[1])
        return onnx_fail(c, BORN_ERR_SHAPE, "scores must be [batch, classes, boxes]");
    double maxout = 0, iou = 0, sthr = 0;
    bool has_sthr = c->nin > 4 && c->in[4];
    if (c->nin > 2 && c->in[2]) ONNX_TRY(onnx_read_scalar(c, c->in[2], &maxout, "max_output_boxes_per_class"));
    if (c->nin > 3 && c->in[3]) ONNX_TRY(onnx_read_scalar(c, c->in[3], &iou, "iou_threshold"));
    if (has_sthr) ONNX_TRY(onnx_read_scalar(c, c->in[4], &sthr, "score_threshold"));
    if (iou < 0 || iou > 1) return onnx_fail(c, BORN_ERR_ARGUMENT, "iou_threshold must be in [0, 1]");
    bool center = onnx_attr_int(c, "center_point_box", 0) != 0;
    int64_t B = bs[0], N = bs[1], C = ss[1];
    int64_t limit = maxout < 0 ? 0 : (int64_t)maxout;
    if (limit > N) limit = N;
    int64_t cap = B * C * limit;
    born_tensor *sel = born_empty(BORN_I64, 2, (int64_t[]){cap, 3});
    born_tensor *cbuf = born_empty(BORN_U8, 1, (int64_t[]){N * (int64_t)sizeof(cand) + 1});
    born_tensor *kbuf = born_empty(BORN_I64, 1, (int64_t[]){limit + 1});
    born_tensor *corn = born_empty(BORN_F64, 2, (int64_t[]){N, 4});
    if (!sel || !cbuf || !kbuf || !corn) return onnx_op_failed(c);
    cand *cs = born_data_ptr(cbuf);
    int64_t *kept = born_data_i64(kbuf), nsel = 0;
    double *cr = born_data_f64(corn);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < N; i++)
            corners(born_data_f32(boxes) + (b * N + i) * 4, center, cr + i * 4);
        for (int64_t k = 0; k < C && limit > 0; k++) {
            const float *sc = born_data_f32(scores) + (b * C + k) * N;
            int64_t nc = 0;
            for (int64_t i = 0; i < N; i++)
                if (!has_sthr || sc[i] > sthr) cs[nc++] = (cand){sc[i], i};
            qsort(cs, (size_t)nc, sizeof *cs, by_score);
            int64_t nk = 0;
            for (int64_t i = 0; i < nc && nk < limit; i++) {
                bool keep = true;
                for (int64_t j = 0; j < nk && keep; j++)
                    keep = !suppress(cr + cs[i].index * 4, cr + kept[j] * 4, iou);
                if (!keep) continue;
                kept[nk++] = cs[i].index;
                int64_t *row = born_data_i64(sel) + nsel++ * 3;
                row[0] = b, row[1] = k, row[2] = cs[i].index;
            }
        }
    }
    ONNX_OUT(0, born_contiguous(born_narrow(sel, 0, 0, nsel)));
    return BORN_OK;
}

/* ---- GridSample ---- */

typedef struct gs {
    int mode; /* 0 nearest, 1 bilinear, 2 bicubic */
    int pad;  /* 0 zeros, 1 border, 2 reflection */
    bool align;
} gs;

static double denorm(double v, int64_t len, bool align) {
    return align ? (v + 1) / 2 * (double)(len - 1) : ((v + 1) * (double)len - 1) / 2;
}

static double reflect(double x, double lo, double hi) {
    double range = hi - lo;
    if (range <= 0) return lo;
    if (x < lo) {
        double dx = lo - x;
        int64_t n = (int64_t)(dx / range);
        double r = dx - (double)n * range;
        return n % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double dx = x - hi;
        int64_t n = (int64_t)(dx / range);
        double r = dx - (double)n * range;
        return n % 2 == 0 ? hi - r : lo + r;
    }
    return x;
}

static double pixel(const double *img, int64_t H, int64_t W, int64_t r, int64_t col, int pad) {
    if (pad == 0) return r >= 0 && r < H && col >= 0 && col < W ? img[r * W + col] : 0;
    col = col < 0 ? 0 : col >= W ? W - 1 : col;
    r = r < 0 ? 0 : r >= H ? H - 1 : r;
    return img[r * W + col];
}

static void cubic(double x, double *k) {
    const double A = -0.75;
    x = fabs(x);
    k[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
    k[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    k[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
    k[3] = ((A * (2 - x) - 5 * A) * (2 - x) + 8 * A) * (2 - x) - 4 * A;
}

static double sample(const double *img, int64_t H, int64_t W, double x, double y, const gs *p) {
    double xmin = p->align ? 0 : -0.5, xmax = p->align ? (double)W - 1 : (double)W - 0.5;
    double ymin = p->align ? 0 : -0.5, ymax = p->align ? (double)H - 1 : (double)H - 0.5;
    if (p->mode == 0) x = nearbyint(x), y = nearbyint(y);
    if (x < xmin || x > xmax || y < ymin || y > ymax) {
        if (p->pad == 1) {
            x = x < 0 ? 0 : x > (double)W - 1 ? (double)W - 1 : x;
            y = y < 0 ? 0 : y > (double)H - 1 ? (double)H - 1 : y;
        } else if (p->pad == 2) {
            x = reflect(x, xmin, xmax);
            y = reflect(y, ymin, ymax);
        }
    }
    if (p->mode == 0) return pixel(img, H, W, (int64_t)y, (int64_t)x, p->pad);
    if (p->mode == 1) {
        double fx = floor(x), fy = floor(y);
        int64_t x1 = (int64_t)fx, y1 = (int64_t)fy;
        double dx1 = x - fx, dx2 = fx + 1 - x, dy1 = y - fy, dy2 = fy + 1 - y;
        double p11 = pixel(img, H, W, y1, x1, p->pad), p12 = pixel(img, H, W, y1, x1 + 1, p->pad);
        double p21 = pixel(img, H, W, y1 + 1, x1, p->pad);
        double p22 = pixel(img, H, W, y1 + 1, x1 + 1, p->pad);
        return dy2 * (dx2 * p11 + dx1 * p12) + dy1 * (dx2 * p21 + dx1 * p22);
    }
    double fx = floor(x) - 1, fy = floor(y) - 1, kx[4], ky[4];
    int64_t x0 = (int64_t)fx, y0 = (int64_t)fy;
    cubic(x - fx - 1, kx);
    cubic(y - fy - 1, ky);
    double acc = 0;
    for (int i = 0; i < 4; i++) {
        double row = 0;
        for (int j = 0; j < 4; j++) row += kx[j] * pixel(img, H, W, y0 + i, x0 + j, p->pad);
        acc += ky[i] * row;
    }
    return acc;
}

static born_status op_GridSample(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0], *g = c->in[1];
    if (born_tensor_ndim(x) != 4 || born_tensor_ndim(g) != 4 || born_tensor_shape(g)[3] != 2 ||
        born_tensor_shape(g)[0] != born_tensor_shape(x)[0])
        return onnx_fail(c, BORN_ERR_UNSUPPORTED, "only 4-D inputs with a [N, H, W, 2] grid");
    char mb[32], pb[32];
    const char *mode = onnx_attr_str(c, "mode", "bilinear", mb, sizeof mb);
    const char *pad = onnx_attr_str(c, "padding_mode", "zeros", pb, sizeof pb);
    gs p = {.align = onnx_attr_int(c, "align_corners", 0) != 0};
    if (!strcmp(mode, "nearest")) p.mode = 0;
    else if (!strcmp(mode, "bilinear") || !strcmp(mode, "linear")) p.mode = 1;
    else if (!strcmp(mode, "bicubic") || !strcmp(mode, "cubic")) p.mode = 2;
    else return onnx_fail(c, BORN_ERR_ARGUMENT, "unknown mode '%s'", mode);
    if (!strcmp(pad, "zeros")) p.pad = 0;
    else if (!strcmp(pad, "border")) p.pad = 1;
    else if (!strcmp(pad, "reflection")) p.pad = 2;
    else return onnx_fail(c, BORN_ERR_ARGUMENT, "unknown padding_mode '%s'", pad);
    born_dtype dt = born_tensor_dtype(x);
    born_tensor *xd = onnx_as(x, BORN_F64), *gd = onnx_as(g, BORN_F64);
    if (!xd || !gd) return onnx_op_failed(c);
    const int64_t *xs = born_tensor_shape(x), *gsz = born_tensor_shape(g);
    int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], Ho = gsz[1], Wo = gsz[2];
    born_tensor *y = born_empty(BORN_F64, 4, (int64_t[]){N, C, Ho, Wo});
    if (!y) return onnx_op_failed(c);
    double *o = born_data_f64(y);
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            const double *img = born_data_f64(xd) + (n * C + ch) * H * W;
            for (int64_t i = 0; i < Ho * Wo; i++) {
                const double *gp = born_data_f64(gd) + (n * Ho * Wo + i) * 2;
                *o++ = sample(img, H, W, denorm(gp[0], W, p.align), denorm(gp[1], H, p.align), &p);
            }
        }
    ONNX_OUT(0, born_contiguous(born_to_dtype(y, dt)));
    return BORN_OK;
}

const onnx_op_entry onnx_ops_vision[] = {{"NonMaxSuppression", op_NonMaxSuppression},
                                         {"GridSample", op_GridSample},
                                         {NULL, NULL}};
