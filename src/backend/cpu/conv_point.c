/* The channels-in-lanes convolution's driver (conv_point.h): which geometries take it, the
 * weights' packing, the padded input and offset tables, panels and positions over the pool. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/conv_point.h"
#include "born/core.h"

typedef struct point_job {
    const conv_point *d;
    const float *in;
    float *out;
    int64_t batch, npan;
    int64_t pan_per_task, pos_per_task; /* each task: a range of panels, or of positions */
    int64_t tasks_per_image;
} point_job;

static void point_range(int64_t begin, int64_t end, void *arg) {
#if defined(__x86_64__)
    const point_job *j = arg;
    for (int64_t t = begin; t < end; t++) {
        int64_t n = t / j->tasks_per_image, s = t % j->tasks_per_image;
        conv_point d = *j->d;
        d.in = j->in + n * d.in_stride;
        d.out = j->out + n * d.m * d.l;
        if (j->pan_per_task > 0) {
            int64_t q0 = s * j->pan_per_task, q1 = q0 + j->pan_per_task;
            cpu_conv_point_f32_avx2(&d, q0, q1 < j->npan ? q1 : j->npan, 0, d.l);
        } else {
            int64_t p0 = s * j->pos_per_task, p1 = p0 + j->pos_per_task;
            cpu_conv_point_f32_avx2(&d, 0, j->npan, p0, p1 < d.l ? p1 : d.l);
        }
    }
#else
    (void)begin;
    (void)end;
    (void)arg;
#endif
}

void cpu_conv_point_run(const conv_point *d, const float *in, float *out, int64_t batch,
                        int64_t min_macs) {
    const int64_t npan = (d->m + CONV_POINT_LANES - 1) / CONV_POINT_LANES;
    point_job j = {d, in, out, batch, npan, npan, 0, 1};
    int64_t chunks = batch * d->m * d->k * d->l / (min_macs > 0 ? min_macs : 1);
    int64_t threads = born_get_num_threads();
    if (chunks > 1 && threads > 1) /* whole rounds of the threads: none waits on a last chunk */
        chunks = (chunks + threads - 1) / threads * threads;
    int64_t per_image = chunks > batch ? (chunks + batch - 1) / batch : 1;
    if (per_image > 1 && npan >= per_image) {
        j.pan_per_task = (npan + per_image - 1) / per_image;
        j.tasks_per_image = (npan + j.pan_per_task - 1) / j.pan_per_task;
    } else if (per_image > 1) {
        /* fewer panels than chunks: ranges of positions, whole tiles of rows */
        int64_t rows = (d->l + CONV_POINT_ROWS - 1) / CONV_POINT_ROWS;
        int64_t per = (rows + per_image - 1) / per_image;
        j.pan_per_task = 0;
        j.pos_per_task = per * CONV_POINT_ROWS;
        j.tasks_per_image = (d->l + j.pos_per_task - 1) / j.pos_per_task;
    }
    born_parallel_for(batch * j.tasks_per_image, 1, point_range, &j);
}

float *cpu_conv_point_pack(const float *w, int64_t m, int64_t k) {
    const int64_t npan = (m + CONV_POINT_LANES - 1) / CONV_POINT_LANES;
    size_t bytes = (size_t)(npan * k * CONV_POINT_LANES) * sizeof(float);
    float *p = aligned_alloc(32, bytes ? bytes : 32);
    if (!p) return NULL;
    for (int64_t q = 0; q < npan; q++)
        for (int64_t c = 0; c < k; c++)
            for (int64_t i = 0; i < CONV_POINT_LANES; i++) {
                int64_t oc = q * CONV_POINT_LANES + i;
                p[(q * k + c) * CONV_POINT_LANES + i] = oc < m ? w[oc * k + c] : 0.0f;
            }
    return p;
}

/* One group, offsets that fit in int32, and a geometry where it wastes fewer lanes
 * than the tile kernels (conv_direct.h), which hold 6 channels x 16 positions of the gapped
 * (padded-row) output: lanes cost 16 ceil(m / 16) l, tiles 6 ceil(m / 6) 16 tiles. Measured on
 * det's and cls's shapes (bench/bench_onnx_conv.c, the per-step profile): the lanes win on 1x1s
 * of small planes (192 -> 192 at 10x10: 82 against 108 us; the squeeze-and-excitation 1x1 planes
 * 3.5 against 14) and of deep ones (96 -> 96 at 20x20: 84 against 94), lose on 1x1s of few input
 * channels over large planes (cls's 32 -> 200 over 192 positions: each tile's transposed store
 * outweighs its 32 taps), and lose on deep kernels over large planes, where the tile kernels keep
 * a chunk's input lines in cache over several panels (3x3 96 -> 24 at 40x40: 1065 against 807).
 * So: 1x1s of at most 128 positions, or of 48 taps or more, where the lanes waste at most 1.1
 * times the tiles' (1.0 over 400 positions); other kernels on at most 128 positions or of at most
 * 32 taps (det's first conv: 98 against 122) where they waste at most 0.9 times as much. */
bool cpu_conv_point_takes(const born_conv2d_geometry *g) {
    const int64_t k = g->in_channels * g->kernel_h * g->kernel_w, l = g->out_h * g->out_w;
    const bool pointwise = g->kernel_h == 1 && g->kernel_w == 1 && g->stride[0] == 1 &&
                           g->stride[1] == 1 && g->padding[0] == 0 && g->padding[1] == 0;
    if (g->groups != 1 || k <= 0 || l <= 0) return false;
    int64_t hp = g->in_h + 2 * g->padding[0], wp = g->in_w + 2 * g->padding[1];
    if (g->in_channels * hp * wp >= ((int64_t)1 << 31)) return false;
    /* the tile kernels' gapped positions: rows of the padded input (stride 1) or of the
     * polyphase planes (stride 2); other strides take the GEMM path, which fills its lanes */
    int64_t row = g->stride[0] == 1 && g->stride[1] == 1 ? wp
                  : g->stride[0] == 2 && g->stride[1] == 2
                      ? g->out_w + (g->kernel_w - 1) * g->dilation[1] / 2 + 1
                      : g->out_w;
    int64_t tiles = ((g->out_h - 1) * row + g->out_w + 15) / 16;
    int64_t lanes = (g->out_channels + 15) / 16 * 16 * l;
    int64_t tile = (g->out_channels + 5) / 6 * 6 * tiles * 16;
    if (pointwise)
        return (l <= 128 || k >= 48) && (l <= 400 ? lanes * 10 <= tile * 11 : lanes < tile);
    return (l <= 128 || k <= 32) && lanes * 10 <= tile * 9;
}

/* A 1x1 of stride 1 without padding reads the input as it is; others read a zero-padded copy
 * (small planes: a small copy) through tap and position offsets, the taps in (c, i, j) order. */
born_status cpu_conv2d_point(float *out, const float *in, const float *bias,
                             const born_conv2d_geometry *g, const float *lanes,
                             const cpu_conv_ep_ops *ops, cpu_conv_epilogue_fn ep, void *ep_ctx,
                             int64_t min_macs) {
    const int64_t k = g->in_channels * g->kernel_h * g->kernel_w, l = g->out_h * g->out_w;
    conv_point cp = {.wpack = lanes, .bias = bias, .m = g->out_channels, .k = k, .l = l,
                     .in_stride = g->in_channels * g->in_h * g->in_w, .ops = ops, .ep = ep,
                     .ep_ctx = ep_ctx};
    if (g->kernel_h == 1 && g->kernel_w == 1 && g->stride[0] == 1 && g->stride[1] == 1 &&
        g->padding[0] == 0 && g->padding[1] == 0) {
        cpu_conv_point_run(&cp, in, out, g->batch, min_macs);
        return BORN_OK;
    }
    const int64_t ph = g->padding[0], pw = g->padding[1];
    const int64_t hp = g->in_h + 2 * ph, wp = g->in_w + 2 * pw, planes = g->batch * g->in_channels;
    float *padded = NULL;
    int32_t *tap_off = malloc((size_t)k * sizeof(int32_t));
    int32_t *pos_off = malloc((size_t)l * sizeof(int32_t));
    if (ph || pw) padded = calloc((size_t)(planes * hp * wp), sizeof(float));
    if (!tap_off || !pos_off || ((ph || pw) && !padded)) {
        free(tap_off), free(pos_off), free(padded);
        return born_error(BORN_ERR_MEMORY, "conv2d: out of memory");
    }
    if (padded) {
        for (int64_t q = 0; q < planes; q++)
            for (int64_t y = 0; y < g->in_h; y++)
                memcpy(padded + (q * hp + y + ph) * wp + pw, in + (q * g->in_h + y) * g->in_w,
                       (size_t)g->in_w * sizeof(float));
        in = padded;
        cp.in_stride = g->in_channels * hp * wp;
    }
    int64_t t = 0;
    for (int64_t c = 0; c < g->in_channels; c++)
        for (int64_t i = 0; i < g->kernel_h; i++)
            for (int64_t j = 0; j < g->kernel_w; j++)
                tap_off[t++] = (int32_t)(c * hp * wp + i * g->dilation[0] * wp + j * g->dilation[1]);
    for (int64_t oy = 0; oy < g->out_h; oy++)
        for (int64_t ox = 0; ox < g->out_w; ox++)
            pos_off[oy * g->out_w + ox] = (int32_t)(oy * g->stride[0] * wp + ox * g->stride[1]);
    cp.tap_off = tap_off;
    cp.pos_off = pos_off;
    cpu_conv_point_run(&cp, in, out, g->batch, min_macs);
    free(tap_off), free(pos_off), free(padded);
    return BORN_OK;
}
