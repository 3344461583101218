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
 * f32 never writes col (the "packed path", cpu_gemm_f32_packed): the weights are packed for the
 * GEMM once per call, and col is packed straight from the image into the GEMM's panels
 * (conv_pack.h) -- as the forward's B, and as the weight gradient's A, which computes dW_g^T =
 * col @ dY_g^T (the same products in the same order; at AVX-512 col is packed as plain rows, a
 * tile at a time, for cpu_gemm_f32_packed_rows). The input gradient, without padding and with a
 * horizontal stride of 1, is computed by strips of 16 output positions added straight into dX at
 * AVX-512 (strip_path), and otherwise reads dY with its rows spread to the input's width (stride
 * 1), so that col2im becomes one contiguous add per tap. With few taps (a first layer on 1-3
 * channels), no padding and a horizontal stride of 1, AVX2 (on arm64 NEON) kernels convolve
 * directly instead (conv_pack.h). f64 (and f32 planes too large for 32-bit offsets) take the
 * im2col path below.
 * Prepacked weights (an inference graph's) with stride 1 and one group skip the column panels
 * altogether: the direct tile kernel of conv_direct.h reads the (padded) image in place, with the
 * GEMM's bits.
 *
 * Threads: the batch is split over the pool when it has at least as many images as threads
 * (the GEMMs then run serially inside each chunk); otherwise images run one after the other and
 * each GEMM threads itself (the packed path splits each image's columns, channels or taps
 * instead). Forward and input gradient write disjoint images, so their results do not depend on
 * the split. The weight gradient sums over the batch: images are cut into chunks whose size
 * depends only on the shapes, each chunk accumulates its images in order into its own partial,
 * and the partials are added in chunk order, so 1 and N threads give the same bits. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/conv_depthwise.h"
#include "backend/cpu/conv_direct.h"
#include "backend/cpu/conv_pack.h"
#include "backend/cpu/conv_planes.h"
#include "backend/cpu/conv_point.h"
#include "backend/cpu/conv_prepacked.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/kernels_neon.h"
#include "backend/cpu/scratch.h"
#include "core/cpu_features.h"

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

/* ---- f32: weights packed once, im2col panels packed straight from the image ----------------- */

/* Phase planes, for strides over 1: the padded input's pixels split by the remainders of their
 * row and column modulo the strides into sh x sw planes of hq x wq per channel, padded pixel
 * (py, px) at (py / sh, px / sw) of plane (py % sh, px % sw). Tap (i, j) of output (oy, ox) reads
 * padded pixel (oy sh + i dh, ox sw + j dw): (oy + i dh / sh, ox + j dw / sw) of plane
 * (i dh % sh, j dw % sw), a fixed offset from oy wq + ox. So over phase planes a strided
 * convolution's im2col has stride 1: each output row's positions read consecutive pixels (the
 * forward's and the weight gradient's packers take runs, few-tap layers the direct kernels), and
 * each tap's row of W^T dY, with dY's rows spread to width wq, adds into its plane as one run
 * (the input gradient, whose planes are then interleaved into dX: each pixel gets col2im's terms
 * in its order, the gaps adding zeros, so col2im's bits). */
typedef struct phases {
    int64_t sh, sw, hq, wq, plane;
} phases;

static bool phases_path(const born_conv2d_geometry *g, const conv_dims *d) {
    return !d->pointwise && (g->stride[0] > 1 || g->stride[1] > 1);
}

static phases phases_of(const born_conv2d_geometry *g) {
    phases p = {g->stride[0], g->stride[1], 0, 0, 0};
    p.hq = g->out_h + (g->kernel_h - 1) * g->dilation[0] / p.sh;
    p.wq = g->out_w + (g->kernel_w - 1) * g->dilation[1] / p.sw;
    p.plane = p.hq * p.wq;
    return p;
}

/* The tables of conv_pack.h for one geometry: taps (c, i, j) and output positions, over the
 * image's planes or (phased) over its phase planes, chan floats a channel. */
typedef struct conv_tables {
    int32_t *tap_off, *tap_y, *tap_x; /* K entries */
    int32_t *pos_off, *pos_y, *pos_x; /* L entries */
    uint64_t id;                      /* unique to this call's tables (conv_im2col.tables_id) */
    bool phased;
    int64_t chan;
} conv_tables;

/* Whether the f32 packed path can take a geometry: offsets within a group fit in 32 bits. */
static bool packed_path(const conv_dims *d) {
    const int64_t lim = (int64_t)1 << 30;
    return d->cg_in * d->hw < lim && d->k < lim && d->l < lim;
}

/* The tables in this thread's CPU_SCRATCH_CONV_TABLES (scratch.h), valid for the call; phased:
 * over g's phase planes (g without padding left to apply). */
static bool tables_make(conv_tables *t, const born_conv2d_geometry *g, const conv_dims *d,
                        bool phased) {
    size_t bytes = (size_t)(3 * (d->k + d->l) + 1) * sizeof(int32_t);
    int32_t *m = cpu_scratch(CPU_SCRATCH_CONV_TABLES, bytes);
    if (!m) return false;
    static atomic_uint_fast64_t tables_made;
    t->id = (uint64_t)atomic_fetch_add(&tables_made, 1) + 1;
    t->tap_off = m;
    t->tap_y = m + d->k;
    t->tap_x = m + 2 * d->k;
    t->pos_off = m + 3 * d->k;
    t->pos_y = t->pos_off + d->l;
    t->pos_x = t->pos_y + d->l;
    t->phased = phased;
    t->chan = d->hw;
    if (phased) { /* every tap inside: only the offsets are read */
        phases p = phases_of(g);
        t->chan = p.sh * p.sw * p.plane;
        memset(t->tap_y, 0, (size_t)(2 * d->k) * sizeof(int32_t));
        memset(t->pos_y, 0, (size_t)(2 * d->l) * sizeof(int32_t));
        int64_t t_i = 0;
        for (int64_t c = 0; c < d->cg_in; c++)
            for (int64_t i = 0; i < g->kernel_h; i++)
                for (int64_t j = 0; j < g->kernel_w; j++, t_i++) {
                    int64_t y = i * g->dilation[0], x = j * g->dilation[1];
                    t->tap_off[t_i] =
                        (int32_t)(c * t->chan + ((y % p.sh) * p.sw + x % p.sw) * p.plane +
                                  y / p.sh * p.wq + x / p.sw);
                }
        for (int64_t oy = 0, l = 0; oy < g->out_h; oy++)
            for (int64_t ox = 0; ox < g->out_w; ox++, l++)
                t->pos_off[l] = (int32_t)(oy * p.wq + ox);
        return true;
    }
    int64_t W = g->in_w, t_i = 0;
    for (int64_t c = 0; c < d->cg_in; c++)
        for (int64_t i = 0; i < g->kernel_h; i++)
            for (int64_t j = 0; j < g->kernel_w; j++, t_i++) {
                int64_t y = i * g->dilation[0] - g->padding[0], x = j * g->dilation[1] - g->padding[1];
                t->tap_off[t_i] = (int32_t)(c * d->hw + y * W + x);
                t->tap_y[t_i] = (int32_t)y;
                t->tap_x[t_i] = (int32_t)x;
            }
    for (int64_t oy = 0, l = 0; oy < g->out_h; oy++)
        for (int64_t ox = 0; ox < g->out_w; ox++, l++) {
            int64_t y = oy * g->stride[0], x = ox * g->stride[1];
            t->pos_off[l] = (int32_t)(y * W + x);
            t->pos_y[l] = (int32_t)y;
            t->pos_x[l] = (int32_t)x;
        }
    return true;
}

/* The im2col description of one image's group of channels. */
static conv_im2col im2col_of(const conv_tables *t, const float *img, const born_conv2d_geometry *g) {
    /* the output size keeps every tap inside the padded input, so without padding all are valid */
    return (conv_im2col){img,
                         t->tap_off,
                         t->tap_y,
                         t->tap_x,
                         t->pos_off,
                         t->pos_y,
                         t->pos_x,
                         (int32_t)g->in_h,
                         (int32_t)g->in_w,
                         g->out_w,
                         t->phased || (g->padding[0] == 0 && g->padding[1] == 0),
                         t->phased || g->stride[1] == 1,
                         t->id};
}

/* Whether the direct AVX2 (or NEON) kernels take this geometry (conv_pack.h): few taps, no
 * padding, a horizontal stride of 1 (or phase planes, which give both). The choice depends on the
 * shapes and the CPU level only. */
static bool direct_path(const born_conv2d_geometry *g, const conv_dims *d, bool phased) {
#if defined(CPU_HAVE_AVX2_KERNELS) || defined(CPU_HAVE_NEON_KERNELS)
#ifdef CPU_HAVE_AVX2_KERNELS
    bool simd = cpu_get_level() >= CPU_LEVEL_AVX2;
#else
    bool simd = cpu_get_level() == CPU_LEVEL_NEON;
#endif
    return !d->pointwise && d->k <= CONV_DIRECT_TAPS &&
           (phased || (g->padding[0] == 0 && g->padding[1] == 0 && g->stride[1] == 1)) && simd;
#else
    (void)g;
    (void)d;
    (void)phased;
    return false;
#endif
}

void cpu_conv_pack_cols_f32(const conv_im2col *m, int64_t t0, int64_t kc, int64_t l0, int64_t nl,
                            float *dst) {
    for (int64_t q = 0; q * 16 < nl; q++) {
        int64_t lb = l0 + q * 16, count = nl - q * 16 < 16 ? nl - q * 16 : 16;
        float *d = dst + q * 16 * kc;
        for (int64_t t = 0; t < kc; t++) {
            int64_t tt = t0 + t;
            for (int64_t i = 0; i < 16; i++) {
                float v = 0;
                if (i < count) {
                    int64_t y = (int64_t)m->tap_y[tt] + m->pos_y[lb + i];
                    int64_t x = (int64_t)m->tap_x[tt] + m->pos_x[lb + i];
                    if (m->inside || (y >= 0 && y < m->h && x >= 0 && x < m->w))
                        v = m->img[m->tap_off[tt] + m->pos_off[lb + i]];
                }
                d[t * 16 + i] = v;
            }
        }
    }
}

void cpu_conv_pack_taps_f32(const conv_im2col *m, int64_t t0, int64_t nt, int64_t l0, int64_t kc,
                            float *dst) {
    for (int64_t q = 0; q * 6 < nt; q++) {
        float *d = dst + q * 6 * kc;
        for (int64_t p = 0; p < kc; p++) {
            int64_t l = l0 + p;
            for (int64_t i = 0; i < 6; i++) {
                float v = 0;
                if (q * 6 + i < nt) {
                    int64_t tt = t0 + q * 6 + i;
                    int64_t y = (int64_t)m->tap_y[tt] + m->pos_y[l];
                    int64_t x = (int64_t)m->tap_x[tt] + m->pos_x[l];
                    if (m->inside || (y >= 0 && y < m->h && x >= 0 && x < m->w))
                        v = m->img[m->tap_off[tt] + m->pos_off[l]];
                }
                d[p * 6 + i] = v;
            }
        }
    }
}

void cpu_conv_add_cols_f32(const conv_im2col *m, float *img, int64_t img_size, int64_t t0,
                           int64_t nt, int64_t khw, int64_t l0, int64_t nl, const float *src,
                           int64_t src_rs) {
    (void)img_size;
    (void)khw; /* taps in order: each pixel's terms come in its channel's order anyway */
    for (int64_t t = 0; t < nt; t++) {
        int64_t tt = t0 + t;
        for (int64_t i = 0; i < nl; i++) {
            int64_t y = (int64_t)m->tap_y[tt] + m->pos_y[l0 + i];
            int64_t x = (int64_t)m->tap_x[tt] + m->pos_x[l0 + i];
            if (m->inside || (y >= 0 && y < m->h && x >= 0 && x < m->w))
                img[m->tap_off[tt] + m->pos_off[l0 + i]] += src[t * src_rs + i];
        }
    }
}

typedef void (*pack_cols_fn)(const conv_im2col *, int64_t, int64_t, int64_t, int64_t, float *);

static pack_cols_fn pack_cols_for_level(void) {
#ifdef CPU_HAVE_AVX2_KERNELS
    if (cpu_get_level() >= CPU_LEVEL_AVX512) return cpu_conv_pack_cols_f32_avx512;
    if (cpu_get_level() >= CPU_LEVEL_AVX2) return cpu_conv_pack_cols_f32_avx2;
#endif
#ifdef CPU_HAVE_NEON_KERNELS
    if (cpu_get_level() == CPU_LEVEL_NEON) return cpu_conv_pack_cols_f32_neon;
#endif
    return cpu_conv_pack_cols_f32;
}

static pack_cols_fn pack_taps_for_level(void) {
#ifdef CPU_HAVE_AVX2_KERNELS
    if (cpu_get_level() >= CPU_LEVEL_AVX2) return cpu_conv_pack_taps_f32_avx2;
#endif
#ifdef CPU_HAVE_NEON_KERNELS
    if (cpu_get_level() == CPU_LEVEL_NEON) return cpu_conv_pack_taps_f32_neon;
#endif
    return cpu_conv_pack_taps_f32;
}

/* Where a product's B comes from: the im2col of an image, or an ordinary matrix. */
typedef struct b_source {
    conv_im2col m;
    pack_cols_fn pack;
    int64_t col0;       /* the product's column 0 is this column of col */
    const float *plain; /* non-NULL: the matrix, with row and column strides */
    int64_t rs, cs;
} b_source;

static void pack_source(void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float *dst) {
    const b_source *s = ctx;
    if (s->plain && s->cs == 1 && nc <= 16) { /* one panel of rows: copies, zeros past nc */
        for (int64_t p = 0; p < kc; p++) {
            const float *row = s->plain + (p0 + p) * s->rs + j0;
            float *d = dst + p * 16;
            if (nc == 16) {
                memcpy(d, row, 16 * sizeof(float));
                continue;
            }
            memset(d, 0, 16 * sizeof(float));
            memcpy(d, row, (size_t)nc * sizeof(float));
        }
        return;
    }
    if (s->plain)
        cpu_gemm_f32_pack_b(kc, nc, s->plain + p0 * s->rs + j0 * s->cs, s->rs, s->cs, dst);
    else
        s->pack(&s->m, p0, kc, s->col0 + j0, nc, dst);
}

typedef struct packed_ctx {
    const born_conv2d_geometry *g;
    /* non-NULL: in and out hold src's unpadded planes, and each task prepares its images in
     * scratch: g is src with its padding applied (padded_geometry; the forward and the weight
     * gradient pad each image, the input gradient crops its padded planes), or src itself with
     * the tables over phase planes (t.phased; each image split into them) */
    const born_conv2d_geometry *src;
    conv_dims d;
    conv_tables t;
    const float *in, *weight, *bias, *grad_out;
    float *out;
    float *apack;       /* packed weights (forward, input gradient) */
    size_t apack_group; /* floats per group */
    float *partials;    /* weight gradient: one transposed [groups][K][Cg_out] block per chunk */
    int64_t grain;      /* images per chunk (weight gradient) */
    int64_t splits;     /* column (or channel, or tap) chunks per image, for small batches */
    int64_t split_size; /* columns (or channels, or taps) per chunk */
    bool direct;        /* few taps: the direct kernels of conv_pack.h */
    cpu_conv_epilogue_fn ep; /* forward: run on each finished output block (NULL: none) */
    void *ep_ctx;
    atomic_int failed;
} packed_ctx;

/* The planes [c0, c0 + nc) of image n's group grp of the input (c->in), from the group's first
 * plane: in place, or (c->src) padded into this thread's scratch at the offsets c's tables expect;
 * NULL if memory is short. */
static const float *group_input(const packed_ctx *c, int64_t n, int64_t grp, int64_t c0,
                                int64_t nc);

/* cpu_gemm_f32_packed_ep's callback in the forward: the strip as channels of the output. */
typedef struct forward_ep_ctx {
    const packed_ctx *c;
    int64_t ch0;
} forward_ep_ctx;

static void forward_ep(void *ctx, int64_t m, int64_t j0, int64_t n, float *cp) {
    (void)j0;
    const forward_ep_ctx *e = ctx;
    e->c->ep(e->c->ep_ctx, e->ch0, m, cp, e->c->d.l, n);
}

/* The least work (multiply-adds) worth a forward split of its own, some 30 us: handing a split
 * to a pool thread costs 5-30 us (waking it, the data moving to its core's cache, the caller
 * waiting for its last chunk), so smaller splits make a 2-thread run slower than 1 thread (cls,
 * whose convolutions are all under 1.3M multiply-adds). */
enum { CONV_SPLIT_MACS = 1 << 20 };

/* Splits of each task's work when there are fewer tasks than threads (the results do not depend
 * on the split: every output element is computed the same way in any chunk). */
static void choose_splits(packed_ctx *c, int64_t tasks, int64_t extent, int64_t unit) {
    int64_t nthreads = born_get_num_threads();
    c->splits = 1;
    c->split_size = extent > 0 ? extent : 1;
    if (tasks >= nthreads || extent <= unit) return;
    int64_t want = (nthreads + tasks - 1) / tasks;
    int64_t size = ((extent + want - 1) / want + unit - 1) / unit * unit;
    c->split_size = size;
    c->splits = (extent + size - 1) / size;
}

static void packed_forward(int64_t begin, int64_t end, void *arg) {
    packed_ctx *c = arg;
    const born_conv2d_geometry *g = c->g;
    const conv_dims *d = &c->d;
    for (int64_t task = begin; task < end; task++) {
        int64_t n = task / c->splits, col0 = task % c->splits * c->split_size;
        int64_t cols = d->l - col0 < c->split_size ? d->l - col0 : c->split_size;
        for (int64_t grp = 0; grp < g->groups; grp++) {
            const float *img = group_input(c, n, grp, 0, d->cg_in);
            float *o = c->out + (n * g->out_channels + grp * d->cg_out) * d->l + col0;
            if (!img) {
                atomic_store(&c->failed, 1);
                continue;
            }
#ifdef CPU_HAVE_AVX2_KERNELS
            if (c->direct && cols == d->l) { /* the same bits as the product below */
                conv_im2col m = im2col_of(&c->t, img, g);
                const float *wg = c->weight + grp * d->cg_out * d->k;
                const float *bg = c->bias ? c->bias + grp * d->cg_out : NULL;
                /* one output channel a group (depthwise): AVX2's single-channel tiles */
                bool ok =
                    cpu_get_level() >= CPU_LEVEL_AVX512 && d->cg_out > 1
                        ? cpu_conv_direct_forward_f32_avx512(&m, d->k, wg, d->cg_out, bg, o, d->l)
                        : cpu_conv_direct_forward_f32_avx2(&m, d->k, wg, d->cg_out, bg, o, d->l);
                if (!ok)
                    atomic_store(&c->failed, 1);
                else if (c->ep)
                    c->ep(c->ep_ctx, grp * d->cg_out, d->cg_out, o, d->l, d->l);
                continue;
            }
#endif
#ifdef CPU_HAVE_NEON_KERNELS
            if (c->direct && cols == d->l) { /* the AVX2 kernel's operations: the same bits */
                conv_im2col m = im2col_of(&c->t, img, g);
                const float *wg = c->weight + grp * d->cg_out * d->k;
                const float *bg = c->bias ? c->bias + grp * d->cg_out : NULL;
                if (!cpu_conv_direct_forward_f32_neon(&m, d->k, wg, d->cg_out, bg, o, d->l))
                    atomic_store(&c->failed, 1);
                else if (c->ep)
                    c->ep(c->ep_ctx, grp * d->cg_out, d->cg_out, o, d->l, d->l);
                continue;
            }
#endif
            /* W_g [Cg_out, K] @ col [K, L], starting from the bias (or from zero) */
            b_source src = {.pack = pack_cols_for_level()};
            if (d->pointwise) {
                src.plain = img + col0;
                src.rs = d->hw;
                src.cs = 1;
            } else {
                src.m = im2col_of(&c->t, img, g);
                src.col0 = col0;
            }
            forward_ep_ctx fe = {c, grp * d->cg_out};
            if (!cpu_gemm_f32_packed_ep(d->cg_out, cols, d->k, c->apack + grp * c->apack_group,
                                        pack_source, &src, 0.0f,
                                        c->bias ? c->bias + grp * d->cg_out : NULL, o, d->l, 1,
                                        c->ep ? forward_ep : NULL, &fe))
                atomic_store(&c->failed, 1);
        }
    }
}

/* Whether the input gradient takes the strip form (AVX-512): no padding and a horizontal stride
 * of 1, so that the columns of W^T dY add back into the image as runs of pixels. The product is
 * then computed PRODUCT_STRIP output positions at a time (the AVX-512 tile's 32 columns) into a
 * buffer that stays in L1, and added back CONV_STRIP (16) positions at a time,
 * and each strip is added into dX at once (cpu_conv_add_cols_f32_avx512, which keeps each
 * channel's pixels under the strip in registers while its taps are added): no im2col-sized
 * matrix is written and read back, and the product has no gaps. */
static bool strip_path(const born_conv2d_geometry *g, const conv_dims *d) {
#ifdef CPU_HAVE_AVX2_KERNELS
    return !d->pointwise && g->stride[1] == 1 && g->padding[0] == 0 && g->padding[1] == 0 &&
           cpu_get_level() >= CPU_LEVEL_AVX512;
#else
    (void)g;
    (void)d;
    return false;
#endif
}

enum { CONV_STRIP = 16, PRODUCT_STRIP = 2 * CONV_STRIP };

/* Otherwise, whether it can take the gapped form: stride 1 and no padding. dY [Cg_out, oh x ow]
 * is then read as [Cg_out, (oh - 1) w + ow] with rows as wide as the input (zeros past ow), so
 * that each tap's row of W^T dY lands in the input plane as one contiguous run and col2im is one
 * vector add per tap. This form adds each pixel's terms in its channel's tap order over the
 * whole image, as col2im does (the same bits); the strips add them strip by strip, so the
 * AVX-512 input gradient differs from the other levels' in the last bits. */
static bool gapped_path(const born_conv2d_geometry *g, const conv_dims *d) {
    return !d->pointwise && g->stride[0] == 1 && g->stride[1] == 1 && g->padding[0] == 0 &&
           g->padding[1] == 0;
}

/* dst[i] += src[i] for i < n. */
static void add_run(float *dst, const float *src, int64_t n) {
#ifdef CPU_HAVE_AVX2_KERNELS
    if (cpu_get_level() >= CPU_LEVEL_AVX2) {
        cpu_conv_add_f32_avx2(dst, src, n);
        return;
    }
#endif
#ifdef CPU_HAVE_NEON_KERNELS
    if (cpu_get_level() == CPU_LEVEL_NEON) {
        cpu_conv_add_f32_neon(dst, src, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

/* One image's chunk of channels by strips (strip_path): img [chans, H, W] = col2im(W^T dY). */
static bool backward_input_strips(const packed_ctx *c, const float *a, const float *go, float *img,
                                  int64_t chans, float *col) {
    const born_conv2d_geometry *g = c->g;
    const conv_dims *d = &c->d;
    int64_t khw = g->kernel_h * g->kernel_w;
    conv_im2col m = im2col_of(&c->t, img, g); /* the chunk's taps, from its first channel */
    memset(img, 0, (size_t)(chans * d->hw) * sizeof(float));
    for (int64_t p0 = 0; p0 < d->l; p0 += PRODUCT_STRIP) {
        int64_t np = d->l - p0 < PRODUCT_STRIP ? d->l - p0 : PRODUCT_STRIP;
        b_source src = {.plain = go + p0, .rs = d->l, .cs = 1};
        if (!cpu_gemm_f32_packed(chans * khw, np, d->cg_out, a, pack_source, &src, 0, col,
                                 PRODUCT_STRIP, 1))
            return false;
        /* the strips in order, as if each had been a product of its own (the same bits) */
        for (int64_t l0 = p0; l0 < p0 + np; l0 += CONV_STRIP) {
            int64_t nl = p0 + np - l0 < CONV_STRIP ? p0 + np - l0 : CONV_STRIP;
#ifdef CPU_HAVE_AVX2_KERNELS
            cpu_conv_add_cols_f32_avx512(&m, img, chans * d->hw, 0, chans * khw, khw, l0, nl,
                                         col + (l0 - p0), PRODUCT_STRIP);
#else
            cpu_conv_add_cols_f32(&m, img, chans * d->hw, 0, chans * khw, khw, l0, nl,
                                  col + (l0 - p0), PRODUCT_STRIP);
#endif
        }
    }
    return true;
}

/* dY_g's rows spread to width w (>= ow) as wide [cg_out, (oh - 1) w + ow], zeros in the gaps. */
static void spread_rows(const float *go, float *wide, const born_conv2d_geometry *g,
                        const conv_dims *d, int64_t w) {
    int64_t ncols = (g->out_h - 1) * w + g->out_w;
    for (int64_t oc = 0; oc < d->cg_out; oc++)
        conv_spread_rows(wide + oc * ncols, go + oc * d->l, g->out_h, g->out_w, w);
}

/* img [chans, H, W] from the phase planes of phases_path, pixels no tap reaches zero. */
static void interleave_phases(const float *work, float *img, int64_t chans,
                              const born_conv2d_geometry *g, const phases *p) {
    const int64_t H = g->in_h, W = g->in_w, ph = g->padding[0], pw = g->padding[1];
    for (int64_t ch = 0; ch < chans; ch++)
        for (int64_t y = 0; y < H; y++) {
            float *dst = img + (ch * H + y) * W;
            int64_t r = (y + ph) / p->sh;
            if (r >= p->hq) {
                memset(dst, 0, (size_t)W * sizeof(float));
                continue;
            }
            const float *rows =
                work + (ch * p->sh + (y + ph) % p->sh) * p->sw * p->plane + r * p->wq;
            /* the columns reached: x + pw < sw wq */
            int64_t reach = p->sw * p->wq - pw < W ? p->sw * p->wq - pw : W;
            /* two planes' rows merged: x = 2 m from pe[m], x = 2 m + 1 from po[m] */
            if (p->sw == 2) {
                const int64_t q = pw & 1;
                const float *pe = rows + q * p->plane + (pw >> 1);
                const float *po = rows + (1 - q) * p->plane + (pw >> 1) + q;
                int64_t m = 0;
                for (; 2 * m + 1 < reach; m++) {
                    dst[2 * m] = pe[m];
                    dst[2 * m + 1] = po[m];
                }
                if (2 * m < reach) dst[2 * m] = pe[m];
            } else {
                for (int64_t x = 0; x < reach; x++) {
                    int64_t px = x + pw;
                    dst[x] = rows[px % p->sw * p->plane + px / p->sw];
                }
            }
            for (int64_t x = reach > 0 ? reach : 0; x < W; x++)
                dst[x] = 0.0f;
        }
}

/* How the input gradient of a geometry adds its product's columns back: by strips (AVX-512), in
 * the gapped form, by phase planes, or through col2im; ncols: the product's columns (a strip, the
 * positions of rows as wide as the input or as the phase planes, or L). */
typedef struct input_form {
    bool strips, gapped, phased;
    phases p;
    int64_t width; /* gapped or phased: dY's rows spread to this width */
    int64_t ncols;
} input_form;

static input_form input_form_of(const born_conv2d_geometry *g, const conv_dims *d) {
    input_form f = {.strips = strip_path(g, d), .p = phases_of(g)};
    f.gapped = !f.strips && gapped_path(g, d);
    f.phased = !f.strips && !f.gapped && phases_path(g, d);
    f.width = f.gapped ? g->in_w : f.p.wq;
    f.ncols = f.strips               ? PRODUCT_STRIP
              : f.gapped || f.phased ? (g->out_h - 1) * f.width + g->out_w
                                     : d->l;
    return f;
}

/* One task's input gradient of one group: img [chans, H, W] (g's) = col2im(W_g^T dY_g) for the
 * chunk's channels, a their packed rows of W_g^T, work the phase planes (f->phased); false if
 * memory is short. */
static bool backward_input_group(const packed_ctx *c, const input_form *f, const float *a,
                                 const float *go, float *img, int64_t chans, float *col,
                                 float *wide, float *work) {
    const born_conv2d_geometry *g = c->g;
    const conv_dims *d = &c->d;
    int64_t khw = g->kernel_h * g->kernel_w;
    if (f->strips) return backward_input_strips(c, a, go, img, chans, col);
    const bool gapped = f->gapped, phased = f->phased;
    const phases p = f->p;
    const int64_t ncols = f->ncols;
    b_source src = {.plain = go, .rs = d->l, .cs = 1};
    if (gapped || phased) {
        spread_rows(go, wide, g, d, f->width);
        src.plain = wide;
        src.rs = ncols;
    }
    /* W_g^T [K, Cg_out] @ dY_g [Cg_out, L], the rows of this chunk's channels */
    float *dst = d->pointwise ? img : col;
    if (!cpu_gemm_f32_packed(chans * khw, ncols, d->cg_out, a, pack_source, &src, 0, dst, ncols, 1))
        return false;
    if (d->pointwise) return true;
    if (phased) { /* each tap's run into its plane in tap order, then the planes interleaved */
        memset(work, 0, (size_t)(chans * p.sh * p.sw * p.plane) * sizeof(float));
        for (int64_t t = 0; t < chans * khw; t++) {
            int64_t ch = t / khw, i = t % khw / g->kernel_w * g->dilation[0];
            int64_t j = t % g->kernel_w * g->dilation[1];
            float *plane = work + ((ch * p.sh + i % p.sh) * p.sw + j % p.sw) * p.plane;
            add_run(plane + i / p.sh * p.wq + j / p.sw, col + t * ncols, ncols);
        }
        interleave_phases(work, img, chans, g, &p);
        return true;
    }
    if (!gapped) {
        memset(img, 0, (size_t)(chans * d->hw) * sizeof(float));
        col2im_float(col, img, g, chans);
        return true;
    }
    /* col2im as one run per tap, in col2im's order (the gaps add zeros); each channel's first tap
     * covers [0, ncols) of its plane, so it is copied rather than added */
    for (int64_t t = 0; t < chans * khw; t++) {
        int64_t ch = t / khw, i = t % khw / g->kernel_w, j = t % g->kernel_w;
        float *plane = img + ch * d->hw;
        if (t % khw == 0) {
            memcpy(plane, col + t * ncols, (size_t)ncols * sizeof(float));
            memset(plane + ncols, 0, (size_t)(d->hw - ncols) * sizeof(float));
            continue;
        }
        add_run(plane + i * g->dilation[0] * g->in_w + j * g->dilation[1], col + t * ncols, ncols);
    }
    return true;
}

/* The inner pixels of padded planes src (g padded by s's padding) into s's planes dst. */
static void crop_planes(const float *src, float *dst, int64_t planes, const born_conv2d_geometry *g,
                        const born_conv2d_geometry *s) {
    for (int64_t q = 0; q < planes; q++)
        conv_rows_copy(dst + q * s->in_h * s->in_w, s->in_w,
                       src + (q * g->in_h + s->padding[0]) * g->in_w + s->padding[1], g->in_w,
                       s->in_h, s->in_w);
}

static void packed_backward_input(int64_t begin, int64_t end, void *arg) {
    packed_ctx *c = arg;
    const born_conv2d_geometry *g = c->g, *s0 = c->src;
    const conv_dims *d = &c->d;
    int64_t khw = g->kernel_h * g->kernel_w;
    const input_form f = input_form_of(g, d);
    const bool gapped = f.gapped, phased = f.phased;
    const phases p = f.p;
    const int64_t ncols = f.ncols;
    size_t col_bytes = (size_t)(c->split_size * khw * ncols) * sizeof(float);
    size_t wide_bytes = (size_t)(d->cg_out * ncols) * sizeof(float);
    /* the padded planes (s0), or the phase planes */
    size_t work_bytes =
        (size_t)(c->split_size * (s0 ? d->hw : p.sh * p.sw * p.plane)) * sizeof(float);
    float *col = d->pointwise ? NULL : cpu_scratch(CPU_SCRATCH_CONV_TASK_A, col_bytes);
    float *wide = gapped || phased ? cpu_scratch(CPU_SCRATCH_CONV_TASK_B, wide_bytes) : NULL;
    float *work = s0 || phased ? cpu_scratch(CPU_SCRATCH_CONV_PAD, work_bytes) : NULL;
    if ((!d->pointwise && !col) || ((gapped || phased) && !wide) || ((s0 || phased) && !work)) {
        atomic_store(&c->failed, 1);
        return;
    }
    size_t per_split = cpu_gemm_f32_packed_a_size(c->split_size * khw, d->cg_out);
    for (int64_t task = begin; task < end; task++) {
        int64_t n = task / c->splits, s = task % c->splits, c0 = s * c->split_size;
        int64_t chans = d->cg_in - c0 < c->split_size ? d->cg_in - c0 : c->split_size;
        for (int64_t grp = 0; grp < g->groups; grp++) {
            int64_t plane0 = n * g->in_channels + grp * d->cg_in + c0;
            /* with padding, the padded planes in scratch, then their inner pixels */
            float *img = s0 ? work : c->out + plane0 * d->hw;
            const float *go = c->grad_out + (n * g->out_channels + grp * d->cg_out) * d->l;
            const float *a = c->apack + grp * c->apack_group + (size_t)s * per_split;
            if (!backward_input_group(c, &f, a, go, img, chans, col, wide, work))
                atomic_store(&c->failed, 1);
            else if (s0)
                crop_planes(work, c->out + plane0 * s0->in_h * s0->in_w, chans, g, s0);
        }
    }
}

/* The weight gradient's A at CPU_LEVEL_AVX512: a tile of taps packed from the image as plain rows
 * for cpu_gemm_f32_packed_rows (cpu_gemm_pack_a_fn; no transposing). */
typedef struct taps_source {
    conv_im2col m;
    int64_t t0; /* the product's row 0 is this tap */
} taps_source;

static void pack_tap_rows(void *ctx, int64_t i0, int64_t mr, int64_t p0, int64_t kc, float *dst) {
    const taps_source *s = ctx;
#ifdef CPU_HAVE_AVX2_KERNELS
    cpu_conv_pack_tap_rows_f32_avx512(&s->m, s->t0 + i0, mr, p0, kc, dst, cpu_gemm_f32_rows_stride());
#else
    (void)s, (void)i0, (void)mr, (void)p0, (void)kc, (void)dst; /* never called: no rows form */
#endif
}

/* The weight gradient, transposed: dW_g^T [K, Cg_out] += col [K, L] @ dY_g^T [L, Cg_out], col
 * packed as A straight from the image; the same products in the same order as dY_g @ col^T. */
static void packed_backward_weight(int64_t begin, int64_t end, void *arg) {
    packed_ctx *c = arg;
    const born_conv2d_geometry *g = c->g;
    const conv_dims *d = &c->d;
    size_t wcount = (size_t)(g->out_channels * d->k);
    /* AVX-512: the taps are packed a tile at a time by the product; otherwise A is packed whole */
    bool rows = !d->pointwise && cpu_gemm_f32_rows_ok();
    size_t apack_bytes = cpu_gemm_f32_packed_a_size(c->split_size, d->l) * sizeof(float);
    float *apack = rows ? NULL : cpu_scratch(CPU_SCRATCH_CONV_TASK_A, apack_bytes);
    if (!rows && !apack) {
        atomic_store(&c->failed, 1);
        return;
    }
    pack_cols_fn pack_taps = pack_taps_for_level();
    const int64_t khw = g->kernel_h * g->kernel_w;
    taps_source ts = {0};
    for (int64_t task = begin; task < end; task++) {
        int64_t chunk = task / c->splits, t0 = task % c->splits * c->split_size;
        int64_t taps = d->k - t0 < c->split_size ? d->k - t0 : c->split_size;
        float *dst = c->partials + (size_t)chunk * wcount;
        int64_t n0 = chunk * c->grain, n1 = n0 + c->grain < g->batch ? n0 + c->grain : g->batch;
        for (int64_t n = n0; n < n1; n++)
            for (int64_t grp = 0; grp < g->groups; grp++) {
                const float *img =
                    group_input(c, n, grp, t0 / khw, (t0 + taps - 1) / khw + 1 - t0 / khw);
                const float *go = c->grad_out + (n * g->out_channels + grp * d->cg_out) * d->l;
                b_source src = {.plain = go, .rs = 1, .cs = d->l};
                if (!img) {
                    atomic_store(&c->failed, 1);
                    continue;
                }
                float *w = dst + (grp * d->k + t0) * d->cg_out;
                float beta = n == n0 ? 0.0f : 1.0f;
                bool ok;
                if (d->pointwise) {
                    cpu_gemm_f32_pack_a(taps, d->l, img + t0 * d->hw, d->hw, 1, apack);
                    ok = cpu_gemm_f32_packed(taps, d->cg_out, d->l, apack, pack_source, &src, beta,
                                             w, d->cg_out, 1);
                } else if (rows) { /* AVX-512: the taps as rows, a tile at a time */
                    ts.m = im2col_of(&c->t, img, g);
                    ts.t0 = t0;
                    ok = cpu_gemm_f32_packed_rows(taps, d->cg_out, d->l, pack_tap_rows, &ts,
                                                  pack_source, &src, beta, w, d->cg_out, 1);
                } else { /* all the taps packed as 6-row panels, then the product */
                    conv_im2col m = im2col_of(&c->t, img, g);
                    int64_t kc_blk = cpu_gemm_f32_kc(d->l), prow = (taps + 5) / 6 * 6;
                    for (int64_t pc = 0; pc < d->l; pc += kc_blk) {
                        int64_t kc = d->l - pc < kc_blk ? d->l - pc : kc_blk;
                        pack_taps(&m, t0, taps, pc, kc, apack + prow * pc);
                    }
                    ok = cpu_gemm_f32_packed(taps, d->cg_out, d->l, apack, pack_source, &src, beta,
                                             w, d->cg_out, 1);
                }
                if (!ok) atomic_store(&c->failed, 1);
            }
    }
}

#if defined(CPU_HAVE_AVX2_KERNELS) || defined(CPU_HAVE_NEON_KERNELS)
/* The weight gradient for few taps: 8-lane partial sums per (output channel, tap) over the chunk's
 * images, added up lane by lane in a fixed order into the chunk's transposed block. */
static void direct_backward_weight(int64_t begin, int64_t end, void *arg) {
    packed_ctx *c = arg;
    const born_conv2d_geometry *g = c->g;
    const conv_dims *d = &c->d;
    size_t wcount = (size_t)(g->out_channels * d->k);
    size_t acc_bytes = (size_t)(d->cg_out * c->split_size * 8) * sizeof(float);
    float *acc = cpu_scratch(CPU_SCRATCH_CONV_TASK_A, acc_bytes);
#ifdef CPU_HAVE_AVX2_KERNELS
    /* xs: the AVX-512 kernel's tap rows (one output channel a group: AVX2's single-channel
     * tiles, without the copy) */
    bool wide = cpu_get_level() >= CPU_LEVEL_AVX512 && d->cg_out > 1;
    size_t xs_bytes = (size_t)cpu_conv_direct_weight_scratch(c->split_size, d->l) * sizeof(float);
    float *xs = wide ? cpu_scratch(CPU_SCRATCH_CONV_TASK_B, xs_bytes) : NULL;
#else
    bool wide = false; /* NEON: the kernel keeps its tap rows in its own scratch */
    float *xs = NULL;
#endif
    if (!acc || (wide && !xs)) {
        atomic_store(&c->failed, 1);
        return;
    }
    const int64_t khw = g->kernel_h * g->kernel_w;
    for (int64_t task = begin; task < end; task++) {
        int64_t chunk = task / c->splits, t0 = task % c->splits * c->split_size;
        int64_t taps = d->k - t0 < c->split_size ? d->k - t0 : c->split_size;
        int64_t n0 = chunk * c->grain, n1 = n0 + c->grain < g->batch ? n0 + c->grain : g->batch;
        for (int64_t grp = 0; grp < g->groups; grp++) {
            memset(acc, 0, (size_t)(d->cg_out * taps * 8) * sizeof(float));
            for (int64_t n = n0; n < n1; n++) {
                const float *img =
                    group_input(c, n, grp, t0 / khw, (t0 + taps - 1) / khw + 1 - t0 / khw);
                if (!img) {
                    atomic_store(&c->failed, 1);
                    continue;
                }
                conv_im2col m = im2col_of(&c->t, img, g);
                m.tap_off += t0;
                const float *go = c->grad_out + (n * g->out_channels + grp * d->cg_out) * d->l;
#ifdef CPU_HAVE_AVX2_KERNELS
                if (wide)
                    cpu_conv_direct_weight_f32_avx512(&m, taps, go, d->cg_out, d->l, acc, xs);
                else if (!cpu_conv_direct_weight_f32_avx2(&m, taps, go, d->cg_out, d->l, acc))
                    atomic_store(&c->failed, 1);
#else
                if (!cpu_conv_direct_weight_f32_neon(&m, taps, go, d->cg_out, d->l, acc))
                    atomic_store(&c->failed, 1);
#endif
            }
            float *dst = c->partials + (size_t)chunk * wcount + (grp * d->k + t0) * d->cg_out;
            for (int64_t oc = 0; oc < d->cg_out; oc++)
                for (int64_t t = 0; t < taps; t++) {
                    const float *v = acc + (oc * taps + t) * 8;
                    dst[t * d->cg_out + oc] = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
                }
        }
    }
}
#endif

/* Sets up c for f32 geometry g (tables, and nothing else); src: the unpadded geometry whose
 * padding g applies (NULL: none); phased: the tables over phase planes (strides over 1). False
 * if memory is short. */
static bool packed_init(packed_ctx *c, const born_conv2d_geometry *g,
                        const born_conv2d_geometry *src, bool phased) {
    memset(c, 0, sizeof *c);
    c->g = g;
    c->src = src;
    c->d = dims_of(g);
    c->splits = 1;
    atomic_init(&c->failed, 0);
    if (c->d.pointwise) return true;
    return tables_make(&c->t, g, &c->d, phased);
}

struct cpu_conv_weights {
    int64_t out_channels, k, groups;
    size_t per_group; /* floats of packed A per group */
    float *apack;
    float *raw; /* the weights as given (direct kernels, and geometries the packed path refuses) */
    float *lanes; /* panels [k][16] of 16 output channels for conv_point.h, or NULL */
};

typedef struct pad_job {
    const float *in;
    float *out;
    const born_conv2d_geometry *g;
    int64_t hp, wp;
} pad_job;

/* Padded copies below this many floats stay on one thread. */
enum { PAD_SPLIT = 1 << 17 };

/* The geometry *gp of g's input with its padding applied (the same output, padding 0): every
 * tap of *gp is inside, so the columns pack without bounds checks (as runs at a horizontal stride
 * of 1) from padded planes, and the same values reach the GEMM (zeros for the padding), so the
 * same bits come out. For g with padding and input channels whose padded planes keep the packed
 * path's 32-bit offsets; false (keep g) otherwise. */
static bool padded_geometry(const born_conv2d_geometry *g, born_conv2d_geometry *gp) {
    if ((g->padding[0] == 0 && g->padding[1] == 0) || g->in_channels == 0) return false;
    *gp = *g;
    gp->in_h += 2 * g->padding[0];
    gp->in_w += 2 * g->padding[1];
    gp->padding[0] = gp->padding[1] = 0;
    conv_dims d = dims_of(gp);
    return packed_path(&d);
}

/* Whether the forward and the weight gradient run over phase planes: strides over 1 with few
 * taps, so that the direct kernels take them (larger products pack the padded input's columns
 * as fast with gathers, and splitting the planes costs more than padding them), and a group's
 * phase planes within the packed path's 32-bit offsets. */
static bool phased_path(const born_conv2d_geometry *g) {
    if ((g->stride[0] == 1 && g->stride[1] == 1) || g->in_channels == 0 || g->groups <= 0)
        return false;
    conv_dims d = dims_of(g);
    phases p = phases_of(g);
    return direct_path(g, &d, true) && d.cg_in * p.sh * p.sw * p.plane < ((int64_t)1 << 30);
}

/* One channel's plane in [H, W] (g's padding around it) split into its phase planes dst (p). */
static void split_phases(const float *in, float *dst, const born_conv2d_geometry *g,
                         const phases *p) {
    const int64_t H = g->in_h, W = g->in_w, ph = g->padding[0], pw = g->padding[1];
    /* the plane rows r whose padded rows r sh + a fall inside the input are written below, the
     * others are zeros */
    for (int64_t a = 0; a < p->sh; a++)
        for (int64_t r = 0; r < p->hq; r++) {
            int64_t y = r * p->sh + a - ph;
            if (y >= 0 && y < H) continue;
            for (int64_t b = 0; b < p->sw; b++)
                memset(dst + (a * p->sw + b) * p->plane + r * p->wq, 0,
                       (size_t)p->wq * sizeof(float));
        }
    /* the input's rows in order (read once, front to back), each split into its sw planes' rows */
    for (int64_t y = 0; y < H; y++) {
        int64_t a = (y + ph) % p->sh, r = (y + ph) / p->sh;
        if (r >= p->hq) continue; /* rows no tap reaches */
        for (int64_t b = 0; b < p->sw; b++) {
            float *row = dst + (a * p->sw + b) * p->plane + r * p->wq;
            /* the columns q with 0 <= x = q sw + b - pw < W: [q0, q1); zeros outside */
            int64_t q0 = pw - b > 0 ? (pw - b + p->sw - 1) / p->sw : 0;
            int64_t q1 = W - 1 + pw - b >= 0 ? (W - 1 + pw - b) / p->sw + 1 : 0;
            q1 = q1 < p->wq ? q1 : p->wq;
            q0 = q0 < q1 ? q0 : q1;
            const float *src = in + y * W + b - pw;
            for (int64_t q = 0; q < q0; q++)
                row[q] = 0.0f;
            if (p->sw == 2)
                for (int64_t q = q0; q < q1; q++)
                    row[q] = src[2 * q];
            else
                for (int64_t q = q0; q < q1; q++)
                    row[q] = src[q * p->sw];
            for (int64_t q = q1; q < p->wq; q++)
                row[q] = 0.0f;
        }
    }
}

/* The geometry the forward and the weight gradient run on, their tasks preparing each image from
 * g's input: over phase planes (*phased; g itself, *src = g), padded (*gp, *src = g), or g as it
 * is (*src NULL). */
static const born_conv2d_geometry *task_geometry(const born_conv2d_geometry *g,
                                                 born_conv2d_geometry *gp,
                                                 const born_conv2d_geometry **src, bool *phased) {
    *phased = phased_path(g);
    *src = *phased || padded_geometry(g, gp) ? g : NULL;
    return *src && !*phased ? gp : g;
}

static void pad_planes(int64_t q0, int64_t q1, void *arg) {
    const pad_job *j = arg;
    const born_conv2d_geometry *g = j->g;
    const int64_t ph = g->padding[0], pw = g->padding[1], hp = j->hp, wp = j->wp;
    for (int64_t q = q0; q < q1; q++) {
        float *dst = j->out + q * hp * wp;
        const float *src = j->in + q * g->in_h * g->in_w;
        memset(dst, 0, (size_t)(ph * wp) * sizeof(float));
        for (int64_t y = 0; y < g->in_h; y++) {
            float *row = dst + (y + ph) * wp;
            if (pw == 1) { /* a 3x3's single zero either side: no call for one float */
                row[0] = row[g->in_w + 1] = 0.0f;
            } else {
                memset(row, 0, (size_t)pw * sizeof(float));
                memset(row + pw + g->in_w, 0, (size_t)pw * sizeof(float));
            }
            memcpy(row + pw, src + y * g->in_w, (size_t)g->in_w * sizeof(float));
        }
        memset(dst + (ph + g->in_h) * wp, 0, (size_t)(ph * wp) * sizeof(float));
    }
}

static const float *group_input(const packed_ctx *c, int64_t n, int64_t grp, int64_t c0,
                                int64_t nc) {
    const born_conv2d_geometry *g = c->g, *s = c->src;
    const conv_dims *d = &c->d;
    if (!s) return c->in + (n * g->in_channels + grp * d->cg_in) * d->hw;
    float *p = cpu_scratch(CPU_SCRATCH_CONV_PAD, (size_t)(d->cg_in * c->t.chan) * sizeof(float));
    if (!p) return NULL;
    const float *planes = c->in + (n * s->in_channels + grp * d->cg_in) * s->in_h * s->in_w;
    if (c->t.phased) {
        phases ph = phases_of(s);
        for (int64_t ch = c0; ch < c0 + nc; ch++)
            split_phases(planes + ch * s->in_h * s->in_w, p + ch * c->t.chan, s, &ph);
        return p;
    }
    pad_job j = {planes, p, s, g->in_h, g->in_w};
    pad_planes(c0, c0 + nc, &j);
    return p;
}

#ifdef CPU_HAVE_AVX2_KERNELS
/* The whole batch's input copied into zero-padded planes (g's padding), for the tile kernel;
 * NULL if memory is short. */
static float *padded_input(const float *in, const born_conv2d_geometry *g) {
    int64_t planes = g->batch * g->in_channels;
    int64_t hp = g->in_h + 2 * g->padding[0], wp = g->in_w + 2 * g->padding[1];
    float *p = malloc((size_t)(planes * hp * wp) * sizeof(float));
    if (!p) return NULL;
    pad_job j = {in, p, g, hp, wp};
    /* a large copy (det's 96 x 42 x 42 before its 3x3s at 40x40, ~40 us) in two halves: the
     * convolution that follows splits over the threads anyway, so the second one is awake */
    born_parallel_for(planes, planes * hp * wp >= PAD_SPLIT ? (planes + 1) / 2 : planes, pad_planes,
                      &j);
    return p;
}
#endif

#ifdef CPU_HAVE_AVX2_KERNELS
/* Whether the direct tile kernel (conv_direct.h) takes a prepacked convolution: one group, stride
 * 1, no padding left to apply (padded_input has run), not one for the few-tap kernels. */
static bool tile_path(const born_conv2d_geometry *g, const conv_dims *d) {
    return g->groups == 1 && g->stride[0] == 1 && g->stride[1] == 1 && g->padding[0] == 0 &&
           g->padding[1] == 0 && !direct_path(g, d, false) && packed_path(d) &&
           cpu_get_level() >= CPU_LEVEL_AVX2;
}

static born_status conv2d_tiles(float *out, const float *in, const float *bias,
                                const born_conv2d_geometry *g, const conv_dims *d,
                                const cpu_conv_weights *pre, cpu_conv_epilogue_fn ep, void *ep_ctx,
                                const cpu_conv_ep_ops *ops) {
    int32_t *tap_off = malloc((size_t)d->k * sizeof(int32_t));
    if (!tap_off) return born_error(BORN_ERR_MEMORY, "conv2d: out of memory");
    int64_t t = 0;
    for (int64_t c = 0; c < d->cg_in; c++)
        for (int64_t i = 0; i < g->kernel_h; i++)
            for (int64_t j = 0; j < g->kernel_w; j++)
                tap_off[t++] =
                    (int32_t)(c * d->hw + i * g->dilation[0] * g->in_w + j * g->dilation[1]);
    conv_direct cd = {.apack = pre->apack, .bias = bias, .tap_off = tap_off, .m = g->out_channels,
                      .k = d->k, .wp = g->in_w, .oh = g->out_h, .ow = g->out_w, .ep = ep,
                      .ep_ctx = ep_ctx, .ops = ops,
                      .chunked = g->kernel_h > 1 && g->kernel_w > 1};
    cpu_conv_direct_run(&cd, in, out, g->batch, g->in_channels * d->hw, g->out_channels * d->l,
                        CONV_SPLIT_MACS);
    free(tap_off);
    return BORN_OK;
}

/* Stride 2 in both directions through the same tile kernel: the input is split once into its four
 * polyphase planes per channel (rows and columns by parity, the zero padding applied on the way),
 * P[c][a][b][r][s] = x_padded[2 r + a][2 s + b], so that output (oy, ox) and tap (c, i, j) read
 * P[c][i dh % 2][j dw % 2][oy + i dh / 2][ox + j dw / 2]: a fixed offset from the gapped position
 * oy wq + ox, as the kernel needs. The taps stay in (c, i, j) order with the packed weights' k
 * blocks, so the outputs keep the GEMM path's bits (det's and cls's first convolutions). */
static bool tile_s2_path(const born_conv2d_geometry *g, const conv_dims *d) {
    if (g->groups != 1 || g->stride[0] != 2 || g->stride[1] != 2 || !packed_path(d) ||
        cpu_get_level() < CPU_LEVEL_AVX2 || g->out_h <= 0 || g->out_w <= 0 || g->in_channels <= 0)
        return false;
    int64_t hq = g->out_h + (g->kernel_h - 1) * g->dilation[0] / 2 + 1;
    int64_t wq = g->out_w + (g->kernel_w - 1) * g->dilation[1] / 2 + 1;
    return hq < ((int64_t)1 << 15) && wq < ((int64_t)1 << 15) &&
           g->in_channels * 4 * hq * wq < ((int64_t)1 << 31); /* int32 tap offsets */
}

static born_status conv2d_tiles_s2(float *out, const float *in, const float *bias,
                                   const born_conv2d_geometry *g, const conv_dims *d,
                                   const cpu_conv_weights *pre, cpu_conv_epilogue_fn ep,
                                   void *ep_ctx, const cpu_conv_ep_ops *ops) {
    const int64_t dh = g->dilation[0], dw = g->dilation[1];
    const int64_t hq = g->out_h + (g->kernel_h - 1) * dh / 2 + 1;
    const int64_t wq = g->out_w + (g->kernel_w - 1) * dw / 2 + 1, pq = hq * wq;
    const int64_t C = g->in_channels, img = C * 4 * pq;
    float *poly = malloc((size_t)(g->batch * img) * sizeof(float));
    int32_t *tap_off = malloc((size_t)d->k * sizeof(int32_t));
    if (!poly || !tap_off) {
        free(poly);
        free(tap_off);
        return born_error(BORN_ERR_MEMORY, "conv2d: out of memory");
    }
    const int64_t H = g->in_h, W = g->in_w, ph = g->padding[0], pw = g->padding[1];
    for (int64_t q = 0; q < g->batch * C; q++) {
        const float *x = in + q * H * W;
        for (int64_t a = 0; a < 2; a++)
            for (int64_t b = 0; b < 2; b++) {
                float *P = poly + (q * 4 + a * 2 + b) * pq;
                for (int64_t r = 0; r < hq; r++) {
                    float *row = P + r * wq;
                    int64_t y = 2 * r + a - ph;
                    if (y < 0 || y >= H) {
                        memset(row, 0, (size_t)wq * sizeof(float));
                        continue;
                    }
                    /* columns s with 0 <= 2 s + b - pw < W: [s0, s1); zeros either side */
                    const float *xr = x + y * W;
                    int64_t s0 = pw - b > 0 ? (pw - b + 1) / 2 : 0;
                    int64_t s1 = W - 1 + pw - b >= 0 ? (W - 1 + pw - b) / 2 + 1 : 0;
                    if (s1 > wq) s1 = wq;
                    if (s0 > s1) s0 = s1;
                    for (int64_t s = 0; s < s0; s++) row[s] = 0.0f;
                    const float *src = xr + 2 * s0 + b - pw;
                    for (int64_t s = s0; s < s1; s++) row[s] = src[2 * (s - s0)];
                    for (int64_t s = s1; s < wq; s++) row[s] = 0.0f;
                }
            }
    }
    int64_t t = 0;
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < g->kernel_h; i++)
            for (int64_t j = 0; j < g->kernel_w; j++) {
                int64_t a = i * dh % 2, b = j * dw % 2;
                tap_off[t++] = (int32_t)((c * 4 + a * 2 + b) * pq + i * dh / 2 * wq + j * dw / 2);
            }
    conv_direct cd = {.apack = pre->apack, .bias = bias, .tap_off = tap_off, .m = g->out_channels,
                      .k = d->k, .wp = wq, .oh = g->out_h, .ow = g->out_w, .ep = ep,
                      .ep_ctx = ep_ctx, .ops = ops};
    cpu_conv_direct_run(&cd, poly, out, g->batch, img, g->out_channels * d->l, CONV_SPLIT_MACS);
    free(tap_off);
    free(poly);
    return BORN_OK;
}
#endif

/* The forward in f32 of in [N, C, H, W] into out; weights packed here from w, or taken from pre
 * when it is not NULL; then ep over each finished block. */
static born_status conv2d_f32(float *out_data, const float *in_data, const float *w,
                              const float *bias_data, const born_conv2d_geometry *g,
                              const cpu_conv_weights *pre, cpu_conv_epilogue_fn ep, void *ep_ctx,
                              const cpu_conv_ep_ops *ops) {
#ifdef CPU_HAVE_AVX2_KERNELS
    if (pre) {
        conv_dims sd = dims_of(g);
        if (pre->lanes && cpu_get_level() >= CPU_LEVEL_AVX2 && cpu_conv_point_takes(g))
            return cpu_conv2d_point(out_data, in_data, bias_data, g, pre->lanes, ops, ep, ep_ctx,
                                    CONV_SPLIT_MACS);
        if (sd.k > 0 && tile_s2_path(g, &sd))
            return conv2d_tiles_s2(out_data, in_data, bias_data, g, &sd, pre, ep, ep_ctx, ops);
    }
#endif
    /* with padding: the padded geometry, each task padding its images (the tile kernel reads a
     * padded copy of the whole batch) */
    born_conv2d_geometry gp;
    const born_conv2d_geometry *src;
    bool phased;
    g = task_geometry(g, &gp, &src, &phased);
#ifdef CPU_HAVE_AVX2_KERNELS
    conv_dims td = dims_of(g);
    if (pre && td.k > 0 && tile_path(g, &td)) {
        float *padded = src ? padded_input(in_data, src) : NULL;
        if (!src || padded) {
            born_status st = conv2d_tiles(out_data, src ? padded : in_data, bias_data, g, &td, pre,
                                          ep, ep_ctx, ops);
            free(padded);
            return st;
        }
    }
#else
    /* ops is the tile kernels' form of the epilogue; the packed path calls ep */
    (void)ops;
#endif
    packed_ctx c;
    if (!packed_init(&c, g, src, phased))
        return born_error(BORN_ERR_MEMORY, "conv2d: out of memory");
    const conv_dims *d = &c.d;
    c.in = in_data;
    c.bias = bias_data;
    c.out = out_data;
    c.ep = ep;
    c.ep_ctx = ep_ctx;
    if (d->k == 0) { /* no input channels: the bias, or zeros */
        for (int64_t n = 0; n < g->batch; n++)
            for (int64_t oc = 0; oc < g->out_channels; oc++)
                for (int64_t x = 0; x < d->l; x++)
                    c.out[(n * g->out_channels + oc) * d->l + x] = c.bias ? c.bias[oc] : 0.0f;
        if (ep)
            for (int64_t n = 0; n < g->batch; n++)
                ep(ep_ctx, 0, g->out_channels, c.out + n * g->out_channels * d->l, d->l, d->l);
        return BORN_OK;
    }
    c.weight = w;
    c.direct = direct_path(g, d, phased);
    if (pre) {
        c.apack_group = pre->per_group;
        c.apack = pre->apack;
    } else {
        c.apack_group = cpu_gemm_f32_packed_a_size(d->cg_out, d->k);
        size_t bytes = c.apack_group * (size_t)g->groups * sizeof(float);
        c.apack = cpu_scratch(CPU_SCRATCH_CONV_WEIGHTS, bytes);
        if (!c.apack) return born_error(BORN_ERR_MEMORY, "conv2d: out of memory");
        for (int64_t grp = 0; grp < g->groups; grp++)
            cpu_gemm_f32_pack_a(d->cg_out, d->k, w + grp * d->cg_out * d->k, d->k, 1,
                                c.apack + grp * c.apack_group);
    }
    choose_splits(&c, g->batch, d->l, 64);
    if (c.splits > 1 && g->out_channels * d->k * d->l / c.splits < CONV_SPLIT_MACS) {
        c.splits = 1; /* too little work per split to pay for waking a thread */
        c.split_size = d->l;
    }
    born_parallel_for(g->batch * c.splits, 1, packed_forward, &c);
    bool failed = atomic_load(&c.failed);
    return failed ? born_error(BORN_ERR_MEMORY, "conv2d: out of memory") : BORN_OK;
}

/* With padding, where the padded geometry takes the strips or the gapped form (whose taps add as
 * runs rather than through col2im element by element), each task computes its padded planes'
 * gradient in scratch and crops it: each pixel gets the same terms in the same tap order, so the
 * same bits. */
static born_status conv2d_backward_input_f32(float *grad_in, const float *grad_out,
                                             const float *weight, const born_conv2d_geometry *g) {
    if (cpu_conv_depthwise_takes(g))
        return cpu_conv_depthwise_backward_input_f32(grad_in, grad_out, weight, g);
    born_conv2d_geometry gp;
    const born_conv2d_geometry *src = NULL;
    if (padded_geometry(g, &gp)) {
        conv_dims pd = dims_of(&gp);
        if (strip_path(&gp, &pd) || gapped_path(&gp, &pd)) {
            src = g;
            g = &gp;
        }
    }
    packed_ctx c;
    if (!packed_init(&c, g, src, false))
        return born_error(BORN_ERR_MEMORY, "conv2d backward: out of memory");
    const conv_dims *d = &c.d;
    if (d->k == 0) { /* no input channels: nothing to write */
        return BORN_OK;
    }
    c.grad_out = grad_out;
    c.out = grad_in;
    int64_t khw = g->kernel_h * g->kernel_w;
    choose_splits(&c, g->batch, d->cg_in, 1);
    /* W_g^T packed once per group and channel chunk (rows c0 khw ... of W_g^T) */
    size_t per_split = cpu_gemm_f32_packed_a_size(c.split_size * khw, d->cg_out);
    c.apack_group = per_split * (size_t)c.splits;
    size_t bytes = c.apack_group * (size_t)g->groups * sizeof(float);
    c.apack = cpu_scratch(CPU_SCRATCH_CONV_WEIGHTS, bytes);
    if (!c.apack) return born_error(BORN_ERR_MEMORY, "conv2d backward: out of memory");
    const float *w = weight;
    for (int64_t grp = 0; grp < g->groups; grp++)
        for (int64_t s = 0; s < c.splits; s++) {
            int64_t c0 = s * c.split_size;
            int64_t chans = d->cg_in - c0 < c.split_size ? d->cg_in - c0 : c.split_size;
            cpu_gemm_f32_pack_a(chans * khw, d->cg_out, w + grp * d->cg_out * d->k + c0 * khw, 1,
                                d->k, c.apack + grp * c.apack_group + (size_t)s * per_split);
        }
    born_parallel_for(g->batch * c.splits, 1, packed_backward_input, &c);
    bool failed = atomic_load(&c.failed);
    return failed ? born_error(BORN_ERR_MEMORY, "conv2d backward: out of memory") : BORN_OK;
}

/* With padding, the weight gradient runs on the padded geometry, each task padding its images:
 * every tap inside, so the taps pack as runs (and few-tap layers take the direct kernels); the
 * same values reach the same products, so the same bits come out. */
static born_status conv2d_backward_weight_f32(float *grad_weight, const float *grad_out,
                                              const float *in, const born_conv2d_geometry *g,
                                              int64_t grain, int64_t nchunks) {
    born_conv2d_geometry gp;
    const born_conv2d_geometry *src;
    bool phased;
    g = task_geometry(g, &gp, &src, &phased);
    packed_ctx c;
    if (!packed_init(&c, g, src, phased))
        return born_error(BORN_ERR_MEMORY, "conv2d backward: out of memory");
    const conv_dims *d = &c.d;
    c.in = in;
    c.grad_out = grad_out;
    c.out = grad_weight;
    c.grain = grain;
    size_t wcount = (size_t)(g->out_channels * d->k);
    size_t bytes = (size_t)nchunks * (wcount ? wcount : 1) * sizeof(float);
    c.partials = cpu_scratch(CPU_SCRATCH_CONV_PARTIALS, bytes);
    if (!c.partials) return born_error(BORN_ERR_MEMORY, "conv2d backward: out of memory");
    choose_splits(&c, nchunks, d->k, 6);
    born_range_fn fn = packed_backward_weight;
#if defined(CPU_HAVE_AVX2_KERNELS) || defined(CPU_HAVE_NEON_KERNELS)
    if (direct_path(g, d, phased)) fn = direct_backward_weight;
#endif
    born_parallel_for(nchunks * c.splits, 1, fn, &c);
    bool failed = atomic_load(&c.failed);
    /* the chunks' transposed blocks added in chunk order, then dW_g [Cg_out, K] transposed out */
    for (int64_t ch = 1; !failed && ch < nchunks; ch++) {
        const float *part = c.partials + (size_t)ch * wcount;
        for (size_t i = 0; i < wcount; i++)
            c.partials[i] += part[i];
    }
    for (int64_t grp = 0; !failed && grp < g->groups; grp++)
        for (int64_t oc = 0; oc < d->cg_out; oc++) {
            float *row = c.out + (grp * d->cg_out + oc) * d->k;
            const float *blk = c.partials + grp * d->k * d->cg_out + oc;
            for (int64_t k = 0; k < d->k; k++) row[k] = blk[k * d->cg_out];
        }
    return failed ? born_error(BORN_ERR_MEMORY, "conv2d backward: out of memory") : BORN_OK;
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
    conv_dims pd = dims_of(g);
    if (in->dtype == BORN_F32 && cpu_conv_depthwise_takes(g))
        return cpu_conv_depthwise_forward_f32(out->data, in->data, weight->data,
                                              bias && bias->data ? bias->data : NULL, g);
    if (in->dtype == BORN_F32 && packed_path(&pd))
        return conv2d_f32(out->data, in->data, weight->data,
                          bias && bias->data ? bias->data : NULL, g, NULL, NULL, NULL, NULL);
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
    conv_dims pd = dims_of(g);
    if (grad_out->dtype == BORN_F32 && packed_path(&pd))
        return conv2d_backward_input_f32(grad_in->data, grad_out->data, weight->data, g);
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
    if (c.dt == BORN_F32 && packed_path(&c.d))
        return conv2d_backward_weight_f32(grad_weight->data, grad_out->data, in->data, g, c.grain,
                                          nchunks);
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

/* ---- prepacked weights (conv_prepacked.h) --------------------------------------------------- */

cpu_conv_weights *cpu_conv_weights_new(const float *w, int64_t out_channels, int64_t k,
                                       int64_t groups) {
    if (out_channels <= 0 || k < 0 || groups <= 0 || out_channels % groups) {
        born_error(BORN_ERR_SHAPE, "cpu_conv_weights_new: %lld output channels in %lld groups, "
                   "depth %lld", (long long)out_channels, (long long)groups, (long long)k);
        return NULL;
    }
    cpu_conv_weights *p = calloc(1, sizeof *p);
    int64_t cg_out = out_channels / groups;
    size_t per = cpu_gemm_f32_packed_a_size(cg_out, k), count = (size_t)(out_channels * k);
    size_t total = per * (size_t)groups;
    if (p) {
        p->apack = malloc((total ? total : 1) * sizeof(float));
        p->raw = malloc((count ? count : 1) * sizeof(float));
    }
    if (!p || !p->apack || !p->raw) {
        cpu_conv_weights_free(p);
        born_error(BORN_ERR_MEMORY, "cpu_conv_weights_new: out of memory");
        return NULL;
    }
    p->out_channels = out_channels;
    p->k = k;
    p->groups = groups;
    p->per_group = per;
    if (count) memcpy(p->raw, w, count * sizeof(float));
    for (int64_t grp = 0; grp < groups && k > 0; grp++)
        cpu_gemm_f32_pack_a(cg_out, k, w + grp * cg_out * k, k, 1, p->apack + (size_t)grp * per);
    return p;
}

int64_t cpu_conv_weights_out_channels(const cpu_conv_weights *w) { return w->out_channels; }

born_status cpu_conv_weights_pack_lanes(cpu_conv_weights *w) {
    if (!w || w->groups != 1 || w->lanes) return BORN_OK;
    w->lanes = cpu_conv_point_pack(w->raw, w->out_channels, w->k);
    return w->lanes ? BORN_OK
                    : born_error(BORN_ERR_MEMORY, "cpu_conv_weights_pack_lanes: out of memory");
}

void cpu_conv_weights_free(cpu_conv_weights *w) {
    if (!w) return;
    free(w->lanes);
    free(w->apack);
    free(w->raw);
    free(w);
}

born_status cpu_conv2d_f32_prepacked(float *out, const float *in, const cpu_conv_weights *w,
                                     const float *bias, const born_conv2d_geometry *g,
                                     cpu_conv_epilogue_fn ep, void *ep_ctx) {
    return cpu_conv2d_f32_prepacked_ops(out, in, w, bias, g, NULL, ep, ep_ctx);
}

born_status cpu_conv2d_f32_prepacked_ops(float *out, const float *in, const cpu_conv_weights *w,
                                         const float *bias, const born_conv2d_geometry *g,
                                         const cpu_conv_ep_ops *ops, cpu_conv_epilogue_fn ep,
                                         void *ep_ctx) {
    conv_dims d = dims_of(g);
    if (!w || g->groups != w->groups || g->out_channels != w->out_channels || d.k != w->k)
        return born_error(BORN_ERR_SHAPE, "cpu_conv2d_f32_prepacked: the geometry (%lld output "
                          "channels, depth %lld, %lld groups) does not match the packed weights",
                          (long long)g->out_channels, (long long)d.k, (long long)g->groups);
    if (packed_path(&d)) return conv2d_f32(out, in, w->raw, bias, g, w, ep, ep_ctx, ops);
    conv_ctx c = {.g = g, .d = d, .dt = BORN_F32, .es = sizeof(float), .in = (const char *)in,
                  .weight = (const char *)w->raw, .bias = (const char *)bias, .out = (char *)out};
    atomic_init(&c.failed, 0);
    run_batch(&c, forward_images);
    if (atomic_load(&c.failed)) return born_error(BORN_ERR_MEMORY, "conv2d: out of memory");
    if (ep)
        for (int64_t n = 0; n < g->batch; n++)
            ep(ep_ctx, 0, g->out_channels, out + n * g->out_channels * d.l, d.l, d.l);
    return BORN_OK;
}
