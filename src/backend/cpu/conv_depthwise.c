/* Depthwise f32 convolutions at stride 1 (conv_depthwise.h). Each image's channel is one plane.
 * The forward reads the (padded) plane in place: output row oy is one run of taps_dot over the
 * plane's rows from oy wp, each tap a fixed offset i dh wp + j dw. The input gradient: dY's rows
 * spread to the padded input's width wp (zeros in the gaps), so that tap (i, j) reaches the padded
 * plane at the fixed offset i dh wp + j dw from each output position oy wp + ox, and each tap is
 * one run dX_pad[off + q] += w[t] * dY_wide[q] over the plane; the taps in order, then the inner
 * pixels cropped out. The gaps add w * 0, which changes no pixel (a pixel starts at +0 and never
 * becomes -0). */
#include "backend/cpu/conv_depthwise.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/conv_pack.h"
#include "backend/cpu/conv_planes.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/kernels_neon.h"
#include "backend/cpu/scratch.h"
#include "core/cpu_features.h"

bool cpu_conv_depthwise_takes(const born_conv2d_geometry *g) {
    int64_t hp = g->in_h + 2 * g->padding[0], wp = g->in_w + 2 * g->padding[1];
    return g->groups == g->in_channels && g->groups == g->out_channels && g->groups > 0 &&
           g->stride[0] == 1 && g->stride[1] == 1 && !(g->kernel_h == 1 && g->kernel_w == 1) &&
           g->kernel_h * g->kernel_w <= 256 && g->out_h > 0 && g->out_w > 0 &&
           hp * wp < ((int64_t)1 << 31);
}

/* dst[i] += w * src[i], the product rounded first, at this CPU's level. */
static void mul_add(float *dst, const float *src, float w, int64_t n) {
#ifdef CPU_HAVE_AVX2_KERNELS
    if (cpu_get_level() >= CPU_LEVEL_AVX2) {
        cpu_conv_mul_add_f32_avx2(dst, src, w, n);
        return;
    }
#endif
#ifdef CPU_HAVE_NEON_KERNELS
    if (cpu_get_level() == CPU_LEVEL_NEON) {
        cpu_conv_mul_add_f32_neon(dst, src, w, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) {
        float prod = w * src[i]; /* its own statement: never contracted into an FMA */
        dst[i] += prod;
    }
}

/* out[q] = the FMA chain over the taps of w[t] img[off[t] + q] from zero (+ *bias), q < n. */
static void taps_dot(float *out, const float *img, const int32_t *off, const float *w, int64_t taps,
                     int64_t n, const float *bias) {
#ifdef CPU_HAVE_AVX2_KERNELS
    if (cpu_get_level() >= CPU_LEVEL_AVX2) {
        cpu_conv_taps_dot_f32_avx2(out, img, off, w, taps, n, bias);
        return;
    }
#endif
#ifdef CPU_HAVE_NEON_KERNELS
    if (cpu_get_level() == CPU_LEVEL_NEON) {
        cpu_conv_taps_dot_f32_neon(out, img, off, w, taps, n, bias);
        return;
    }
#endif
    for (int64_t q = 0; q < n; q++) {
        float a = 0.0f;
        for (int64_t t = 0; t < taps; t++)
            a = fmaf(w[t], img[off[t] + q], a);
        out[q] = bias ? a + *bias : a;
    }
}

/* Planes below this many floats of work are grouped into one task. */
enum { DEPTHWISE_GRAIN_FLOATS = 1 << 16 };

/* One call's planes: dst from src (the forward: out from in; the input gradient: grad_in from
 * grad_out). */
typedef struct depthwise_job {
    float *dst;
    const float *src, *weight, *bias;
    const born_conv2d_geometry *g;
    int64_t hp, wp, ncols;
    atomic_int failed;
} depthwise_job;

static void planes_backward_input(int64_t q0, int64_t q1, void *arg) {
    depthwise_job *j = arg;
    const born_conv2d_geometry *g = j->g;
    const int64_t C = g->in_channels, kh = g->kernel_h, kw = g->kernel_w;
    const int64_t oh = g->out_h, ow = g->out_w, H = g->in_h, W = g->in_w, wp = j->wp;
    float *plane = cpu_scratch(CPU_SCRATCH_CONV_TASK_A, (size_t)(j->hp * wp) * sizeof(float));
    float *wide = cpu_scratch(CPU_SCRATCH_CONV_TASK_B, (size_t)j->ncols * sizeof(float));
    if (!plane || !wide) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (int64_t q = q0; q < q1; q++) {
        const float *dy = j->src + q * oh * ow, *w = j->weight + q % C * kh * kw;
        conv_spread_rows(wide, dy, oh, ow, wp);
        memset(plane, 0, (size_t)(j->hp * wp) * sizeof(float));
        for (int64_t i = 0; i < kh; i++)
            for (int64_t t = 0; t < kw; t++)
                mul_add(plane + i * g->dilation[0] * wp + t * g->dilation[1], wide, w[i * kw + t],
                        j->ncols);
        conv_rows_copy(j->dst + q * H * W, W, plane + g->padding[0] * wp + g->padding[1], wp, H, W);
    }
}

static void planes_forward(int64_t q0, int64_t q1, void *arg) {
    depthwise_job *j = arg;
    const born_conv2d_geometry *g = j->g;
    const int64_t C = g->in_channels, kh = g->kernel_h, kw = g->kernel_w, taps = kh * kw;
    const int64_t oh = g->out_h, ow = g->out_w, H = g->in_h, W = g->in_w, wp = j->wp;
    const bool pad = g->padding[0] > 0 || g->padding[1] > 0;
    float *plane =
        pad ? cpu_scratch(CPU_SCRATCH_CONV_TASK_A, (size_t)(j->hp * wp) * sizeof(float)) : NULL;
    int32_t *off = cpu_scratch(CPU_SCRATCH_CONV_TASK_B, (size_t)taps * sizeof(int32_t));
    if ((pad && !plane) || !off) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (int64_t i = 0; i < kh; i++)
        for (int64_t t = 0; t < kw; t++)
            off[i * kw + t] = (int32_t)(i * g->dilation[0] * wp + t * g->dilation[1]);
    if (pad) { /* the borders once; each plane writes the inner pixels */
        memset(plane, 0, (size_t)(j->hp * wp) * sizeof(float));
    }
    for (int64_t q = q0; q < q1; q++) {
        const float *src = j->src + q * H * W, *w = j->weight + q % C * taps;
        const float *b = j->bias ? j->bias + q % C : NULL;
        if (pad) {
            conv_rows_copy(plane + g->padding[0] * wp + g->padding[1], wp, src, W, H, W);
            src = plane;
        }
        float *dst = j->dst + q * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++)
            taps_dot(dst + oy * ow, src + oy * wp, off, w, taps, ow, b);
    }
}

/* Runs fn over the call's N C planes (each about cols positions times the taps, plus the padded
 * plane), after setting the padded plane's size. */
static born_status run_planes(depthwise_job *j, int64_t cols, born_range_fn fn, const char *what) {
    const born_conv2d_geometry *g = j->g;
    j->hp = g->in_h + 2 * g->padding[0];
    j->wp = g->in_w + 2 * g->padding[1];
    int64_t work = j->hp * j->wp + cols * g->kernel_h * g->kernel_w;
    int64_t grain = work >= DEPTHWISE_GRAIN_FLOATS ? 1 : DEPTHWISE_GRAIN_FLOATS / (work + 1) + 1;
    atomic_init(&j->failed, 0);
    born_parallel_for(g->batch * g->in_channels, grain, fn, j);
    return atomic_load(&j->failed) ? born_error(BORN_ERR_MEMORY, "%s: out of memory", what)
                                   : BORN_OK;
}

born_status cpu_conv_depthwise_forward_f32(float *out, const float *in, const float *weight,
                                           const float *bias, const born_conv2d_geometry *g) {
    depthwise_job j = {.dst = out, .src = in, .weight = weight, .bias = bias, .g = g};
    return run_planes(&j, g->out_h * g->out_w, planes_forward, "conv2d");
}

born_status cpu_conv_depthwise_backward_input_f32(float *grad_in, const float *grad_out,
                                                  const float *weight,
                                                  const born_conv2d_geometry *g) {
    depthwise_job j = {.dst = grad_in, .src = grad_out, .weight = weight, .g = g};
    j.ncols = (g->out_h - 1) * (g->in_w + 2 * g->padding[1]) + g->out_w;
    return run_planes(&j, j.ncols, planes_backward_input, "conv2d backward");
}
