/* Fast paths for the ONNX convolutions that Born's generic conv2d handles poorly: depthwise 2-D
 * convolution computed directly (one channel at a time, rows accumulated with a contiguous inner
 * loop, channels spread over the thread pool; im2col would copy every input k*k times; narrow
 * planes eight channels at a time in the vector lanes), and
 * ConvTranspose as a GEMM (W^T X through born_matmul) followed by a col2im scatter. */
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"
#include "onnx/conv_fast.h"
#include "backend/cpu/conv_prepacked.h"
#include "core/cpu_features.h"
#include "onnx/conv_fast_kernels.h"

enum { DW_SPLIT_MACS = 1 << 20 };

typedef struct dw_ctx {
    const float *x, *w, *b;
    float *y;
    const onnx_conv_prep *prep;
    int64_t C, H, W, OH, OW, kh, kw, sh, sw, dh, dw, ph, pw;
} dw_ctx;

/* y[i] += w * x[i] for i in [lo, hi], in blocks of 8 independent lanes (vectorized at -O2). */
static void axpy(float *restrict y, const float *restrict x, float w, int64_t lo, int64_t hi) {
    int64_t i = lo;
    for (; i + 8 <= hi + 1; i += 8)
        for (int l = 0; l < 8; l++) y[i + l] += w * x[i + l];
    for (; i <= hi; i++) y[i] += w * x[i];
}

/* One (batch, channel) plane per index, the portable way. */
static void dw_plane_c(const dw_ctx *d, int64_t p) {
    int64_t ch = p % d->C;
    const float *x = d->x + p * d->H * d->W, *w = d->w + ch * d->kh * d->kw;
    float *y = d->y + p * d->OH * d->OW;
    float bias = d->b ? d->b[ch] : 0.0f;
    for (int64_t oh = 0; oh < d->OH; oh++) {
        float *yr = y + oh * d->OW;
        for (int64_t ow = 0; ow < d->OW; ow++) yr[ow] = bias;
        for (int64_t i = 0; i < d->kh; i++) {
            int64_t ih = oh * d->sh - d->ph + i * d->dh;
            if (ih < 0 || ih >= d->H) continue;
            const float *xr = x + ih * d->W;
            for (int64_t j = 0; j < d->kw; j++) {
                float wv = w[i * d->kw + j];
                int64_t off = j * d->dw - d->pw; /* iw = ow * sw + off */
                int64_t lo = off >= 0 ? 0 : (-off + d->sw - 1) / d->sw;
                int64_t hi = d->W - 1 - off < 0 ? -1 : (d->W - 1 - off) / d->sw;
                if (hi > d->OW - 1) hi = d->OW - 1;
                if (d->sw == 1 && hi >= lo) {
                    axpy(yr + lo, xr + off + lo, wv, 0, hi - lo);
                } else {
                    for (int64_t ow = lo; ow <= hi; ow++) yr[ow] += wv * xr[ow * d->sw + off];
                }
            }
        }
        onnx_conv_prep_rows(d->prep, yr, 0, 1, d->OW);
    }
}

#ifdef ONNX_HAVE_EP_AVX2
/* Whether the AVX2 plane kernel takes this geometry. */
static bool dw_avx2(const dw_ctx *d) {
    return cpu_get_level() >= CPU_LEVEL_AVX2 && (d->sw == 1 || d->sw == 2) && d->kh * d->kw <= 49;
}

/* The padded plane's row stride and row count: every tap of every (8-rounded) output inside,
 * with 16 floats of slack. */
static void dw_padded_dims(const dw_ctx *d, int64_t *rs, int64_t *rows) {
    int64_t ow8 = (d->OW + 7) / 8 * 8;
    *rs = ow8 * d->sw + (d->kw - 1) * d->dw + 16;
    *rows = (d->OH - 1) * d->sh + (d->kh - 1) * d->dh + 1;
}
#endif

static void dw_task(int64_t begin, int64_t end, void *arg) {
    const dw_ctx *d = arg;
#ifdef ONNX_HAVE_EP_AVX2
    if (dw_avx2(d)) {
        int64_t rs, rows;
        dw_padded_dims(d, &rs, &rows);
        float *xp = malloc((size_t)(rs * rows) * sizeof(float));
        if (xp) {
            onnx_dw_plane pl = {.xrs = rs, .oh = d->OH, .ow = d->OW, .kh = d->kh, .kw = d->kw,
                                .sh = d->sh, .sw = d->sw, .dh = d->dh, .dw = d->dw};
            pl.nops = onnx_conv_prep_ops(d->prep, &pl.kind, &pl.v);
            /* zeroed once: every plane writes the same interior, the padding stays zero */
            memset(xp, 0, (size_t)(rs * rows) * sizeof(float));
            for (int64_t p = begin; p < end; p++) {
                int64_t ch = p % d->C;
                const float *x = d->x + p * d->H * d->W;
                for (int64_t r = 0; r < rows; r++) {
                    int64_t ih = r - d->ph;
                    if (ih < 0 || ih >= d->H) continue;
                    int64_t c0 = d->pw, n = d->W;
                    if (c0 + n > rs) n = rs - c0; /* columns no tap reaches */
                    if (n > 0) memcpy(xp + r * rs + c0, x + ih * d->W, (size_t)n * sizeof(float));
                }
                pl.x = xp;
                pl.w = d->w + ch * d->kh * d->kw;
                pl.y = d->y + p * d->OH * d->OW;
                pl.bias = d->b ? d->b[ch] : 0.0f;
                onnx_dw_plane_avx2(&pl);
            }
            free(xp);
            return;
        }
    }
#endif
    for (int64_t p = begin; p < end; p++) dw_plane_c(d, p);
}

#ifdef ONNX_HAVE_EP_AVX2
/* Narrow planes (det's 10x10 and 5x5 with 5x5 kernels) go eight channels at a time with the
 * channels in the vector lanes: a plane's rows would fill one partial vector each. */
enum { DW_BLOCK_MAX_OW = 16 };

static bool dw_blocked(const dw_ctx *d) {
    return cpu_get_level() >= CPU_LEVEL_AVX2 && d->OW <= DW_BLOCK_MAX_OW && d->OW > 0 && d->OH > 0 &&
           d->OH * d->OW <= (int64_t)1 << 16 && d->kh * d->kw <= 256 && d->sh <= 16 && d->sw <= 16 &&
           d->dh <= 16 && d->dw <= 16;
}

static void dw_block_task(int64_t begin, int64_t end, void *arg) {
    const dw_ctx *d = arg;
    const int64_t hp = (d->OH - 1) * d->sh + (d->kh - 1) * d->dh + 1;
    const int64_t wp = (d->OW - 1) * d->sw + (d->kw - 1) * d->dw + 1, nb = (d->C + 7) / 8;
    float *scratch = malloc((size_t)(hp * wp * 8 + d->kh * d->kw * 8) * sizeof(float));
    if (!scratch) {
        for (int64_t t = begin; t < end; t++) {
            int64_t n = t / nb, c0 = t % nb * 8, nc = d->C - c0 < 8 ? d->C - c0 : 8;
            for (int64_t c = c0; c < c0 + nc; c++) dw_plane_c(d, n * d->C + c);
        }
        return;
    }
    onnx_dw_block bl = {.h = d->H, .w_in = d->W, .ph = d->ph, .pw = d->pw, .oh = d->OH, .ow = d->OW,
                        .kh = d->kh, .kw = d->kw, .sh = d->sh, .sw = d->sw, .dh = d->dh, .dw = d->dw,
                        .scratch = scratch};
    bl.nops = onnx_conv_prep_ops(d->prep, &bl.kind, &bl.v);
    for (int64_t t = begin; t < end; t++) {
        int64_t n = t / nb, c0 = t % nb * 8;
        bl.nc = (int)(d->C - c0 < 8 ? d->C - c0 : 8);
        bl.x = d->x + (n * d->C + c0) * d->H * d->W;
        bl.w = d->w + c0 * d->kh * d->kw;
        bl.bias = d->b ? d->b + c0 : NULL;
        bl.y = d->y + (n * d->C + c0) * d->OH * d->OW;
        onnx_dw_block_avx2(&bl);
    }
    free(scratch);
}
#endif

born_tensor *onnx_conv_depthwise(born_tensor *x, born_tensor *w, born_tensor *b,
                                 const int64_t *k, const int64_t *s, const int64_t *dil,
                                 const int64_t *pb, const int64_t *out, const onnx_conv_prep *prep) {
    born_tensor *xf = onnx_as(x, BORN_F32), *wf = onnx_as(w, BORN_F32);
    born_tensor *bf = b ? onnx_as(b, BORN_F32) : NULL;
    if (!xf || !wf || (b && !bf)) return NULL;
    const int64_t *xs = born_tensor_shape(xf);
    born_tensor *y = born_empty(BORN_F32, 4, (int64_t[]){xs[0], xs[1], out[0], out[1]});
    if (!y) return NULL;
    dw_ctx d = {born_data_f32(xf), born_data_f32(wf), bf ? born_data_f32(bf) : NULL,
                born_data_f32(y), prep, xs[1], xs[2], xs[3], out[0], out[1], k[0], k[1], s[0], s[1],
                dil[0], dil[1], pb[0], pb[1]};
    /* planes per task: enough work (about 1M multiply-adds) to pay for handing it to another
     * thread even on a loaded machine, where every parallel region can wait for a CPU (256K, as
     * det's depthwise convs would need to split, gave cls parallel regions and made it 2x slower
     * with 2 threads at load 12), in equal chunks, whole rounds of the threads */
    int64_t planes = xs[0] * xs[1], per = out[0] * out[1] * k[0] * k[1];
    int64_t chunks = per > 0 ? planes * per / DW_SPLIT_MACS : 1, threads = born_get_num_threads();
    if (chunks > 1 && threads > 1) chunks = (chunks + threads - 1) / threads * threads;
    if (chunks < 1) chunks = 1;
#ifdef ONNX_HAVE_EP_AVX2
    if (dw_blocked(&d)) {
        int64_t blocks = xs[0] * ((xs[1] + 7) / 8);
        born_parallel_for(blocks, (blocks + chunks - 1) / chunks, dw_block_task, &d);
        return y;
    }
#endif
    born_parallel_for(planes, (planes + chunks - 1) / chunks, dw_task, &d);
    return y;
}

/* One output row of the tiled ConvTranspose: yr[a2 s + k2] = (0 + c[k2][a2]) + bias (the bias
 * only when there is one), then clamped to [lo, hi] when clamp; c[k2] = c0 + k2 cs. Each output
 * is written once, the row left to right (the kernel's columns interleaved). */
static void convt_row(float *yr, const float *c0, int64_t cs, int64_t n, int64_t s, int64_t kw,
                      const float *bias, const float *clamp) {
    const float lo = clamp ? clamp[0] : 0, hi = clamp ? clamp[1] : 0, bv = bias ? *bias : 0;
    if (kw == 2 && s == 2) {
        const float *c1 = c0 + cs;
        for (int64_t a = 0; a < n; a++) {
            float v0 = 0.0f + c0[a], v1 = 0.0f + c1[a];
            if (bias) v0 = v0 + bv, v1 = v1 + bv;
            if (clamp) {
                v0 = v0 < lo ? lo : v0, v1 = v1 < lo ? lo : v1;
                v0 = v0 > hi ? hi : v0, v1 = v1 > hi ? hi : v1;
            }
            yr[2 * a] = v0;
            yr[2 * a + 1] = v1;
        }
        return;
    }
    for (int64_t k2 = 0; k2 < kw; k2++) {
        const float *c = c0 + k2 * cs;
        for (int64_t a = 0; a < n; a++) {
            float v = 0.0f + c[a];
            if (bias) v = v + bv;
            if (clamp) {
                v = v < lo ? lo : v;
                v = v > hi ? hi : v;
            }
            yr[a * s + k2] = v;
        }
    }
}

born_tensor *onnx_conv_transpose_gemm(born_tensor *x, born_tensor *w, born_tensor *b,
                                      int64_t group, int nsp, const int64_t *k, const int64_t *s,
                                      const int64_t *dil, const int64_t *pb, const int64_t *out,
                                      const float *clamp, bool *clamped) {
    *clamped = false;
    born_tensor *xf = onnx_as(x, BORN_F32), *wf = onnx_as(w, BORN_F32);
    born_tensor *bf = b ? onnx_as(b, BORN_F32) : NULL;
    if (!xf || !wf || (b && !bf)) return NULL;
    const int64_t *xs = born_tensor_shape(xf), *ws = born_tensor_shape(wf);
    int64_t N = xs[0], C = xs[1], cpg = C / group, mpg = ws[1], M = mpg * group;
    int64_t in[3] = {1, 1, 1}, kk[3] = {1, 1, 1}, ss[3] = {1, 1, 1}, dd[3] = {1, 1, 1};
    int64_t pp[3] = {0, 0, 0}, oo[3] = {1, 1, 1};
    for (int i = 0; i < nsp; i++) {
        int j = 3 - nsp + i;
        in[j] = xs[2 + i], kk[j] = k[i], ss[j] = s[i], dd[j] = dil[i], pp[j] = pb[i], oo[j] = out[i];
    }
    int64_t isz = in[0] * in[1] * in[2], osz = oo[0] * oo[1] * oo[2], ksz = kk[0] * kk[1] * kk[2];
    int64_t oshape[5] = {N, M, 1, 1, 1};
    for (int i = 0; i < nsp; i++) oshape[2 + i] = out[i];
    /* kernel == stride, no padding or dilation (det's 2x2 / 2 upsampling): every output element
     * comes from exactly one column entry, so it is written once, (0 + c) + bias as the general
     * scatter into zeros and the bias pass below round it */
    bool tiled = nsp == 2 && kk[1] == ss[1] && kk[2] == ss[2] && dd[1] == 1 && dd[2] == 1 &&
                 pp[1] == 0 && pp[2] == 0 && oo[1] == in[1] * ss[1] && oo[2] == in[2] * ss[2];
    born_tensor *y = tiled ? born_empty(BORN_F32, 2 + nsp, oshape)
                           : born_zeros(BORN_F32, 2 + nsp, oshape);
    if (!y) return NULL;
    float *Y = born_data_f32(y);
    const float *Bv = bf ? born_data_f32(bf) : NULL;
    for (int64_t gi = 0; gi < group; gi++) {
        /* W_g: [cpg, mpg * ksz]; X_g: [N, cpg, isz]; cols = W_g^T X_g: [N, mpg * ksz, isz] */
        born_tensor *wg = born_reshape(born_narrow(wf, 0, gi * cpg, cpg), 2,
                                       (int64_t[]){cpg, mpg * ksz});
        born_tensor *xg = born_reshape(born_narrow(xf, 1, gi * cpg, cpg), 3,
                                       (int64_t[]){N, cpg, isz});
        born_tensor *cols = born_contiguous(born_matmul(born_transpose(wg, 0, 1), xg));
        if (!cols) return NULL;
        const float *cl = born_data_f32(cols);
        if (tiled) { /* output rows in order, each written once (and clamped there) */
            for (int64_t n = 0; n < N; n++)
                for (int64_t mo = 0; mo < mpg; mo++) {
                    int64_t m = gi * mpg + mo;
                    float *yp = Y + (n * M + m) * osz;
                    for (int64_t a1 = 0; a1 < in[1]; a1++)
                        for (int64_t k1 = 0; k1 < kk[1]; k1++) {
                            const float *cr = cl + ((n * mpg + mo) * ksz + k1 * kk[2]) * isz + a1 * in[2];
                            convt_row(yp + (a1 * ss[1] + k1) * oo[2], cr, isz, in[2], ss[2], kk[2],
                                      Bv ? Bv + m : NULL, clamp);
                        }
                }
            *clamped = clamp != NULL;
            continue;
        }
        for (int64_t n = 0; n < N; n++)
            for (int64_t mo = 0; mo < mpg; mo++) {
                float *yp = Y + (n * M + gi * mpg + mo) * osz;
                for (int64_t k0 = 0; k0 < kk[0]; k0++)
                    for (int64_t k1 = 0; k1 < kk[1]; k1++)
                        for (int64_t k2 = 0; k2 < kk[2]; k2++) {
                            int64_t kidx = (k0 * kk[1] + k1) * kk[2] + k2;
                            const float *cp = cl + ((n * mpg + mo) * ksz + kidx) * isz;
                            for (int64_t a0 = 0; a0 < in[0]; a0++) {
                                int64_t o0 = a0 * ss[0] + k0 * dd[0] - pp[0];
                                if (o0 < 0 || o0 >= oo[0]) continue;
                                for (int64_t a1 = 0; a1 < in[1]; a1++) {
                                    int64_t o1 = a1 * ss[1] + k1 * dd[1] - pp[1];
                                    if (o1 < 0 || o1 >= oo[1]) continue;
                                    float *yr = yp + (o0 * oo[1] + o1) * oo[2];
                                    const float *cr = cp + (a0 * in[1] + a1) * in[2];
                                    int64_t off = k2 * dd[2] - pp[2];
                                    for (int64_t a2 = 0; a2 < in[2]; a2++) {
                                        int64_t o2 = a2 * ss[2] + off;
                                        if (o2 >= 0 && o2 < oo[2]) yr[o2] += cr[a2];
                                    }
                                }
                            }
                        }
            }
    }
    if (bf && !tiled) {
        const float *B = born_data_f32(bf);
        for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t i = 0; i < osz; i++) Y[(n * M + m) * osz + i] += B[m];
    }
    return y;
}

static void packed_ep(void *ctx, int64_t ch0, int64_t nch, float *out, int64_t rs, int64_t ncols) {
    (void)ch0;
    onnx_conv_prep_rows(ctx, out, rs, nch, ncols);
}

born_tensor *onnx_conv_packed(born_tensor *x, born_tensor *b, const onnx_conv_prep *prep,
                              int64_t group, const int64_t *k, const int64_t *s, const int64_t *dil,
                              const int64_t *pb, const int64_t *out) {
    born_tensor *xf = onnx_as(x, BORN_F32), *bf = b ? onnx_as(b, BORN_F32) : NULL;
    if (!xf || (b && !bf)) return NULL;
    const cpu_conv_weights *w = onnx_conv_prep_weights(prep);
    const int64_t *xs = born_tensor_shape(xf);
    int64_t M = cpu_conv_weights_out_channels(w);
    born_tensor *y = born_empty(BORN_F32, 4, (int64_t[]){xs[0], M, out[0], out[1]});
    if (!y) return NULL;
    born_conv2d_geometry g = {xs[0], xs[1], xs[2], xs[3], M, out[0], out[1], k[0], k[1],
                              {s[0], s[1]}, {pb[0], pb[1]}, {dil[0], dil[1]}, group};
    bool ep = onnx_conv_prep_has_epilogue(prep);
    cpu_conv_ep_ops ops = {0, NULL, NULL}; /* the same operations, for the tile kernels' registers */
    ops.n = onnx_conv_prep_ops(prep, &ops.kind, &ops.v);
    if (cpu_conv2d_f32_prepacked_ops(born_data_f32(y), born_data_f32(xf), w,
                                     bf ? born_data_f32(bf) : NULL, &g, ep ? &ops : NULL,
                                     ep ? packed_ep : NULL, (void *)prep))
        return NULL;
    return y;
}
