/* CPU 2-D convolution for f32 and f64 (the ops layer converts f16/bf16 to f32).
 *
 * Forward, per image and group:   out_g[Cg_out, L] = W_g[Cg_out, K] @ col[K, L] (+ bias)
 * Input gradient:                 col[K, L] = W_g^T @ dY_g, then col2im adds col into dX
 * Weight gradient:                dW_g[Cg_out, K] += dY_g[Cg_out, L] @ col[K, L]^T
 * with K = Cg_in * kH * kW and L = out_h * out_w. col is the im2col matrix of one image's group
 * of channels: row (c, i, j) holds the input pixel under kernel tap (i, j) of channel c for
 * every output position (zero where that tap falls into the padding). A 1x1 convolution with
 * stride 1 and no padding needs no col at all: the image itself is the [Cg_in, H*W] matrix.
 *
 * Threads: the batch is split over the pool when it has at least as many images as threads
 * (the GEMMs then run serially inside each chunk); otherwise images run one after the other and
 * each GEMM threads itself. Forward and input gradient write disjoint images, so their results do
 * not depend on the split. The weight gradient sums over the batch: images are cut into chunks
 * whose size depends only on the shapes, each chunk accumulates its images in order into its own
 * partial, and the partials are added in chunk order, so 1 and N threads give the same bits. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm.h"

typedef struct conv_dims {
    int64_t cg_in, cg_out; /* channels per group */
    int64_t k;             /* cg_in * kernel_h * kernel_w */
    int64_t l;             /* out_h * out_w */
    int64_t hw;            /* in_h * in_w */
    bool pointwise;        /* 1x1, stride 1, no padding: no im2col needed */
} conv_dims;

static conv_dims dims_of(const born_conv2d_geometry *g) {
    conv_dims d;
    d.cg_in = g->in_channels / g->groups;
    d.cg_out = g->out_channels / g->groups;
    d.k = d.cg_in * g->kernel_h * g->kernel_w;
    d.l = g->out_h * g->out_w;
    d.hw = g->in_h * g->in_w;
    d.pointwise = g->kernel_h == 1 && g->kernel_w == 1 && g->stride[0] == 1 && g->stride[1] == 1 &&
                  g->padding[0] == 0 && g->padding[1] == 0;
    return d;
}

/* C = A B + beta C in the dtype's GEMM (alpha 1). */
static void gemm(born_dtype dt, int64_t m, int64_t n, int64_t k, const void *a, int64_t a_rs,
                 int64_t a_cs, const void *b, int64_t b_rs, int64_t b_cs, double beta, void *c,
                 int64_t c_rs, int64_t c_cs) {
    if (dt == BORN_F32)
        cpu_gemm_f32(m, n, k, 1.0f, a, a_rs, a_cs, b, b_rs, b_cs, (float)beta, c, c_rs, c_cs);
    else
        cpu_gemm_f64(m, n, k, 1.0, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, c_rs, c_cs);
}

/* The output columns ox whose tap at input offset xoff (= j * dilation - padding) lands inside
 * [0, in): ox in [*lo, *hi). */
static void valid_range(int64_t xoff, int64_t stride, int64_t in, int64_t out, int64_t *lo,
                        int64_t *hi) {
    int64_t l = xoff >= 0 ? 0 : (-xoff + stride - 1) / stride;
    int64_t h = in - 1 - xoff < 0 ? 0 : (in - 1 - xoff) / stride + 1;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* col [K, L] from one image's group of channels img [cg, H, W] (es bytes per element; only
 * copies and zeros, so one version serves both dtypes). */
static void im2col(const char *img, char *col, size_t es, const born_conv2d_geometry *g,
                   int64_t cg) {
    int64_t H = g->in_h, W = g->in_w, oh = g->out_h, ow = g->out_w;
    int64_t sh = g->stride[0], sw = g->stride[1];
    for (int64_t c = 0; c < cg; c++) {
        const char *plane = img + (size_t)(c * H * W) * es;
        for (int64_t i = 0; i < g->kernel_h; i++) {
            int64_t yoff = i * g->dilation[0] - g->padding[0];
            for (int64_t j = 0; j < g->kernel_w; j++) {
                int64_t xoff = j * g->dilation[1] - g->padding[1];
                int64_t lo, hi;
                valid_range(xoff, sw, W, ow, &lo, &hi);
                char *row =
                    col + (size_t)(((c * g->kernel_h + i) * g->kernel_w + j) * oh * ow) * es;
                for (int64_t oy = 0; oy < oh; oy++) {
                    char *dst = row + (size_t)(oy * ow) * es;
                    int64_t iy = oy * sh + yoff;
                    if (iy < 0 || iy >= H || hi <= lo) {
                        memset(dst, 0, (size_t)ow * es);
                        continue;
                    }
                    const char *src = plane + (size_t)(iy * W + xoff) * es;
                    if (lo > 0) memset(dst, 0, (size_t)lo * es);
                    if (sw == 1) {
                        memcpy(dst + (size_t)lo * es, src + (size_t)lo * es,
                               (size_t)(hi - lo) * es);
                    } else if (es == 4) {
                        uint32_t *d4 = (uint32_t *)dst;
                        const uint32_t *s4 = (const uint32_t *)src;
                        for (int64_t ox = lo; ox < hi; ox++)
                            d4[ox] = s4[ox * sw];
                    } else {
                        uint64_t *d8 = (uint64_t *)dst;
                        const uint64_t *s8 = (const uint64_t *)src;
                        for (int64_t ox = lo; ox < hi; ox++)
                            d8[ox] = s8[ox * sw];
                    }
                    if (hi < ow) memset(dst + (size_t)hi * es, 0, (size_t)(ow - hi) * es);
                }
            }
        }
    }
}

/* img [cg, H, W] += the col2im of col [K, L] (im2col's adjoint); a fixed loop order keeps the
 * sums reproducible. */
#define COL2IM(T)                                                                                  \
    static void col2im_##T(const T *col, T *img, const born_conv2d_geometry *g, int64_t cg) {      \
        int64_t H = g->in_h, W = g->in_w, oh = g->out_h, ow = g->out_w;                            \
        int64_t sh = g->stride[0], sw = g->stride[1];                                              \
        for (int64_t c = 0; c < cg; c++) {                                                         \
            T *plane = img + c * H * W;                                                            \
            for (int64_t i = 0; i < g->kernel_h; i++) {                                            \
                int64_t yoff = i * g->dilation[0] - g->padding[0];                                 \
                for (int64_t j = 0; j < g->kernel_w; j++) {                                        \
                    int64_t xoff = j * g->dilation[1] - g->padding[1];                             \
                    int64_t lo, hi;                                                                \
                    valid_range(xoff, sw, W, ow, &lo, &hi);                                        \
                    const T *row = col + ((c * g->kernel_h + i) * g->kernel_w + j) * oh * ow;      \
                    for (int64_t oy = 0; oy < oh; oy++) {                                          \
                        int64_t iy = oy * sh + yoff;                                               \
                        if (iy < 0 || iy >= H) continue;                                           \
                        const T *src = row + oy * ow;                                              \
                        T *dst = plane + iy * W + xoff;                                            \
                        if (sw == 1)                                                               \
                            for (int64_t ox = lo; ox < hi; ox++)                                   \
                                dst[ox] += src[ox];                                                \
                        else                                                                       \
                            for (int64_t ox = lo; ox < hi; ox++)                                   \
                                dst[ox * sw] += src[ox];                                           \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
COL2IM(float)
COL2IM(double)

typedef struct conv_ctx {
    const born_conv2d_geometry *g;
    conv_dims d;
    born_dtype dt;
    size_t es;
    const char *in, *weight, *bias, *grad_out;
    char *out;
    char *partials; /* weight gradient: one [C_out, K] block per chunk after the first */
    int64_t grain;
    atomic_int failed;
} conv_ctx;

static void *col_buffer(conv_ctx *c) {
    if (c->d.pointwise) return NULL;
    size_t n = (size_t)(c->d.k * c->d.l);
    void *p = malloc((n ? n : 1) * c->es);
    if (!p) atomic_store(&c->failed, 1);
    return p;
}

static void forward_images(int64_t begin, int64_t end, void *arg) {
    conv_ctx *c = arg;
    const born_conv2d_geometry *g = c->g;
    const conv_dims *d = &c->d;
    size_t es = c->es;
    char *col = col_buffer(c);
    if (!col && !d->pointwise) return;
    for (int64_t n = begin; n < end; n++) {
        for (int64_t grp = 0; grp < g->groups; grp++) {
            const char *img = c->in + (size_t)((n * g->in_channels + grp * d->cg_in) * d->hw) * es;
            const char *w = c->weight + (size_t)(grp * d->cg_out * d->k) * es;
            char *o = c->out + (size_t)((n * g->out_channels + grp * d->cg_out) * d->l) * es;
            double beta = 0.0;
            if (c->bias) { /* start from the bias and accumulate onto it */
                for (int64_t oc = 0; oc < d->cg_out; oc++) {
                    int64_t ch = grp * d->cg_out + oc;
                    if (c->dt == BORN_F32) {
                        float b = ((const float *)c->bias)[ch], *row = (float *)o + oc * d->l;
                        for (int64_t x = 0; x < d->l; x++)
                            row[x] = b;
                    } else {
                        double b = ((const double *)c->bias)[ch], *row = (double *)o + oc * d->l;
                        for (int64_t x = 0; x < d->l; x++)
                            row[x] = b;
                    }
                }
                beta = 1.0;
            }
            if (d->k == 0) { /* no input channels: the bias, or zeros */
                if (!c->bias) memset(o, 0, (size_t)(d->cg_out * d->l) * es);
                continue;
            }
            const char *b = img;
            if (!d->pointwise) {
                im2col(img, col, es, g, d->cg_in);
                b = col;
            }
            gemm(c->dt, d->cg_out, d->l, d->k, w, d->k, 1, b, d->l, 1, beta, o, d->l, 1);
        }
    }
    free(col);
}

static void backward_input_images(int64_t begin, int64_t end, void *arg) {
    conv_ctx *c = arg;
    const born_conv2d_geometry *g = c->g;
    const conv_dims *d = &c->d;
    size_t es = c->es;
    if (d->k == 0) return; /* no input channels: nothing to write */
    char *col = col_buffer(c);
    if (!col && !d->pointwise) return;
    for (int64_t n = begin; n < end; n++) {
        for (int64_t grp = 0; grp < g->groups; grp++) {
            char *img = c->out + (size_t)((n * g->in_channels + grp * d->cg_in) * d->hw) * es;
            const char *w = c->weight + (size_t)(grp * d->cg_out * d->k) * es;
            const char *go =
                c->grad_out + (size_t)((n * g->out_channels + grp * d->cg_out) * d->l) * es;
            /* W_g^T [K, Cg_out] @ dY_g [Cg_out, L] */
            if (d->pointwise) {
                gemm(c->dt, d->k, d->l, d->cg_out, w, 1, d->k, go, d->l, 1, 0.0, img, d->l, 1);
                continue;
            }
            gemm(c->dt, d->k, d->l, d->cg_out, w, 1, d->k, go, d->l, 1, 0.0, col, d->l, 1);
            memset(img, 0, (size_t)(d->cg_in * d->hw) * es);
            if (c->dt == BORN_F32)
                col2im_float((const float *)col, (float *)img, g, d->cg_in);
            else
                col2im_double((const double *)col, (double *)img, g, d->cg_in);
        }
    }
    free(col);
}

/* One chunk of images [begin, end) summed, in order, into its own [C_out, K] block. */
static void backward_weight_chunk(int64_t begin, int64_t end, void *arg) {
    conv_ctx *c = arg;
    const born_conv2d_geometry *g = c->g;
    const conv_dims *d = &c->d;
    size_t es = c->es;
    int64_t chunk = begin / c->grain;
    size_t wsize = (size_t)(g->out_channels * d->k) * es;
    char *dst = chunk == 0 ? c->out : c->partials + (size_t)(chunk - 1) * wsize;
    if (d->k == 0) return; /* no input channels: an empty gradient */
    char *col = col_buffer(c);
    if (!col && !d->pointwise) return;
    for (int64_t n = begin; n < end; n++) {
        double beta = n == begin ? 0.0 : 1.0;
        for (int64_t grp = 0; grp < g->groups; grp++) {
            const char *img = c->in + (size_t)((n * g->in_channels + grp * d->cg_in) * d->hw) * es;
            const char *go =
                c->grad_out + (size_t)((n * g->out_channels + grp * d->cg_out) * d->l) * es;
            char *w = dst + (size_t)(grp * d->cg_out * d->k) * es;
            const char *b = img;
            if (!d->pointwise) {
                im2col(img, col, es, g, d->cg_in);
                b = col;
            }
            /* dY_g [Cg_out, L] @ col^T [L, K] */
            gemm(c->dt, d->cg_out, d->k, d->l, go, d->l, 1, b, 1, d->l, beta, w, d->k, 1);
        }
    }
    free(col);
}

static born_status check_dtype(const char *what, born_dtype dt) {
    if (dt == BORN_F32 || dt == BORN_F64) return BORN_OK;
    return born_error(BORN_ERR_DTYPE, "%s: %s is not supported by the CPU kernel (f32 or f64)",
                      what, born_dtype_name(dt));
}

/* Runs fn over the batch: split over the pool when there are enough images, else serially (the
 * GEMMs then thread themselves). */
static void run_batch(conv_ctx *c, born_range_fn fn) {
    int64_t n = c->g->batch;
    if (n >= born_get_num_threads())
        born_parallel_for(n, 1, fn, c);
    else
        fn(0, n, c);
}

born_status cpu_conv2d(const born_strided *out, const born_strided *in, const born_strided *weight,
                       const born_strided *bias, const born_conv2d_geometry *g) {
    born_status st = check_dtype("conv2d", in->dtype);
    if (st != BORN_OK) return st;
    conv_ctx c = {.g = g,
                  .d = dims_of(g),
                  .dt = in->dtype,
                  .es = born_dtype_size(in->dtype),
                  .in = in->data,
                  .weight = weight->data,
                  .bias = bias ? bias->data : NULL,
                  .out = out->data};
    atomic_init(&c.failed, 0);
    run_batch(&c, forward_images);
    return atomic_load(&c.failed) ? born_error(BORN_ERR_MEMORY, "conv2d: out of memory") : BORN_OK;
}

born_status cpu_conv2d_backward_input(const born_strided *grad_in, const born_strided *grad_out,
                                      const born_strided *weight, const born_conv2d_geometry *g) {
    born_status st = check_dtype("conv2d backward", grad_out->dtype);
    if (st != BORN_OK) return st;
    conv_ctx c = {.g = g,
                  .d = dims_of(g),
                  .dt = grad_out->dtype,
                  .es = born_dtype_size(grad_out->dtype),
                  .weight = weight->data,
                  .grad_out = grad_out->data,
                  .out = grad_in->data};
    atomic_init(&c.failed, 0);
    run_batch(&c, backward_input_images);
    return atomic_load(&c.failed) ? born_error(BORN_ERR_MEMORY, "conv2d backward: out of memory")
                                  : BORN_OK;
}

enum { WEIGHT_CHUNKS_MAX = 16, PARTIALS_BYTES_MAX = 64 << 20 };

born_status cpu_conv2d_backward_weight(const born_strided *grad_weight,
                                       const born_strided *grad_out, const born_strided *in,
                                       const born_conv2d_geometry *g) {
    born_status st = check_dtype("conv2d backward", grad_out->dtype);
    if (st != BORN_OK) return st;
    conv_ctx c = {.g = g,
                  .d = dims_of(g),
                  .dt = grad_out->dtype,
                  .es = born_dtype_size(grad_out->dtype),
                  .in = in->data,
                  .grad_out = grad_out->data,
                  .out = grad_weight->data};
    atomic_init(&c.failed, 0);
    size_t wcount = (size_t)(g->out_channels * c.d.k), wbytes = wcount * c.es;
    if (g->batch == 0 || c.d.l == 0) {
        memset(c.out, 0, wbytes);
        return BORN_OK;
    }
    /* the chunking depends only on the shapes, never on the thread count */
    int64_t nchunks = g->batch < WEIGHT_CHUNKS_MAX ? g->batch : WEIGHT_CHUNKS_MAX;
    int64_t fit = wbytes ? (int64_t)(PARTIALS_BYTES_MAX / wbytes) + 1 : nchunks;
    if (nchunks > fit) nchunks = fit;
    if (nchunks < 1) nchunks = 1;
    c.grain = (g->batch + nchunks - 1) / nchunks;
    nchunks = (g->batch + c.grain - 1) / c.grain;
    if (nchunks > 1) {
        c.partials = malloc((size_t)(nchunks - 1) * (wbytes ? wbytes : 1));
        if (!c.partials) return born_error(BORN_ERR_MEMORY, "conv2d backward: out of memory");
    }
    born_parallel_for(g->batch, c.grain, backward_weight_chunk, &c);
    if (!atomic_load(&c.failed)) {
        for (int64_t ch = 1; ch < nchunks; ch++) {
            if (c.dt == BORN_F32) {
                float *dst = (float *)c.out;
                const float *src = (const float *)c.partials + (size_t)(ch - 1) * wcount;
                for (size_t i = 0; i < wcount; i++)
                    dst[i] += src[i];
            } else {
                double *dst = (double *)c.out;
                const double *src = (const double *)c.partials + (size_t)(ch - 1) * wcount;
                for (size_t i = 0; i < wcount; i++)
                    dst[i] += src[i];
            }
        }
    }
    free(c.partials);
    return atomic_load(&c.failed) ? born_error(BORN_ERR_MEMORY, "conv2d backward: out of memory")
                                  : BORN_OK;
}
