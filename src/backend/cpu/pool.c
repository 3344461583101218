/* CPU 2-D max and average pooling over contiguous [planes, H, W], forward and backward, written
 * after PyTorch's CPU kernels so that windows, divisors and tie-breaking match:
 *
 *  - max: a window starts at (o * stride - padding) and covers kernel taps `dilation` apart,
 *    clipped to the input (padding cells never win). The first maximum wins, except that a NaN
 *    always takes over (so the last NaN of a window is reported, as torch does). The index is
 *    flat within the H x W plane.
 *  - avg: the window is clipped to the padded input for the count_include_pad divisor and to
 *    the input for the sum and the other divisor; divisor_override replaces both. A window with
 *    no input cell gives 0.
 *
 * Forward kernels take f32, f64 and i64 (the ops layer converts the other dtypes); the backward
 * kernels f32 and f64. Work is split over planes only, and every plane is computed in a fixed
 * order, so results do not depend on the thread count. max_pool2d_backward reads only the
 * indices and the plane sizes (in_h x in_w and out_h x out_w), so it also serves as a row-wise
 * "scatter-add by index" for sort and topk. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

typedef struct pool_ctx {
    const born_pool2d_geometry *g;
    const born_strided *out, *in, *indices;
} pool_ctx;

/* Planes per chunk so that a chunk holds some thousands of window taps. */
static int64_t plane_grain(int64_t per_plane) {
    int64_t work = per_plane > 0 ? per_plane : 1;
    int64_t grain = 32768 / work;
    return grain < 1 ? 1 : grain;
}

/* The window of output row/column o along one axis: taps start at lo and are `dil` apart, up to
 * (excluding) hi, clipped to [0, in). */
static void max_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t dil, int64_t in,
                       int64_t *lo, int64_t *hi) {
    int64_t start = o * stride - pad;
    int64_t end = start + (k - 1) * dil + 1;
    if (end > in) end = in;
    while (start < 0)
        start += dil;
    *lo = start;
    *hi = end;
}

#define MAX_POOL(T, NAME, INIT, BETTER)                                                            \
    static void NAME(int64_t begin, int64_t end, void *arg) {                                      \
        const pool_ctx *c = arg;                                                                   \
        const born_pool2d_geometry *g = c->g;                                                      \
        int64_t H = g->in_h, W = g->in_w, oh = g->out_h, ow = g->out_w;                            \
        for (int64_t p = begin; p < end; p++) {                                                    \
            const T *in = (const T *)c->in->data + p * H * W;                                      \
            T *out = (T *)c->out->data + p * oh * ow;                                              \
            int64_t *idx = (int64_t *)c->indices->data + p * oh * ow;                              \
            for (int64_t y = 0; y < oh; y++) {                                                     \
                int64_t y0, y1;                                                                    \
                max_window(y, g->stride[0], g->padding[0], g->kernel[0], g->dilation[0], H, &y0,   \
                           &y1);                                                                   \
                for (int64_t x = 0; x < ow; x++) {                                                 \
                    int64_t x0, x1;                                                                \
                    max_window(x, g->stride[1], g->padding[1], g->kernel[1], g->dilation[1], W,    \
                               &x0, &x1);                                                          \
                    int64_t best_i = y0 * W + x0;                                                  \
                    T best = INIT;                                                                 \
                    for (int64_t iy = y0; iy < y1; iy += g->dilation[0])                           \
                        for (int64_t ix = x0; ix < x1; ix += g->dilation[1]) {                     \
                            T v = in[iy * W + ix];                                                 \
                            if (BETTER) {                                                          \
                                best = v;                                                          \
                                best_i = iy * W + ix;                                              \
                            }                                                                      \
                        }                                                                          \
                    out[y * ow + x] = best;                                                        \
                    idx[y * ow + x] = best_i;                                                      \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

MAX_POOL(float, max_pool_f32, -INFINITY, v > best || isnan(v))
MAX_POOL(double, max_pool_f64, -INFINITY, v > best || isnan(v))
MAX_POOL(int64_t, max_pool_i64, INT64_MIN, v > best)

born_status cpu_max_pool2d(const born_strided *out, const born_strided *indices,
                           const born_strided *in, const born_pool2d_geometry *g) {
    born_range_fn fn = in->dtype == BORN_F32   ? max_pool_f32
                       : in->dtype == BORN_F64 ? max_pool_f64
                       : in->dtype == BORN_I64 ? max_pool_i64
                                               : NULL;
    if (!fn)
        return born_error(BORN_ERR_DTYPE, "max_pool2d: %s is not supported by the CPU kernel",
                          born_dtype_name(in->dtype));
    pool_ctx c = {g, out, in, indices};
    born_parallel_for(g->planes, plane_grain(g->out_h * g->out_w * g->kernel[0] * g->kernel[1]), fn,
                      &c);
    return BORN_OK;
}

/* grad_in[p, indices[p, o]] += grad_out[p, o]: each plane zeroed, then filled in output order. */
#define MAX_POOL_BACKWARD(T, NAME)                                                                 \
    static void NAME(int64_t begin, int64_t end, void *arg) {                                      \
        const pool_ctx *c = arg;                                                                   \
        const born_pool2d_geometry *g = c->g;                                                      \
        int64_t plane = g->in_h * g->in_w, nout = g->out_h * g->out_w;                             \
        for (int64_t p = begin; p < end; p++) {                                                    \
            T *gi = (T *)c->out->data + p * plane;                                                 \
            const T *go = (const T *)c->in->data + p * nout;                                       \
            const int64_t *idx = (const int64_t *)c->indices->data + p * nout;                     \
            memset(gi, 0, (size_t)plane * sizeof(T));                                              \
            for (int64_t o = 0; o < nout; o++)                                                     \
                if (idx[o] >= 0 && idx[o] < plane) gi[idx[o]] += go[o];                            \
        }                                                                                          \
    }

MAX_POOL_BACKWARD(float, max_pool_backward_f32)
MAX_POOL_BACKWARD(double, max_pool_backward_f64)

born_status cpu_max_pool2d_backward(const born_strided *grad_in, const born_strided *grad_out,
                                    const born_strided *indices, const born_pool2d_geometry *g) {
    born_range_fn fn = grad_out->dtype == BORN_F32   ? max_pool_backward_f32
                       : grad_out->dtype == BORN_F64 ? max_pool_backward_f64
                                                     : NULL;
    if (!fn)
        return born_error(BORN_ERR_DTYPE,
                          "max_pool2d backward: %s is not supported by the CPU "
                          "kernel",
                          born_dtype_name(grad_out->dtype));
    pool_ctx c = {g, grad_in, grad_out, indices};
    born_parallel_for(g->planes, plane_grain(g->in_h * g->in_w + g->out_h * g->out_w), fn, &c);
    return BORN_OK;
}

/* The clipped window of output row/column o for average pooling along one axis: [*lo, *hi)
 * inside the input, and *padded, its length inside the padded input (torch's pool_size). */
static void avg_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in, int64_t *lo,
                       int64_t *hi, int64_t *padded) {
    int64_t start = o * stride - pad;
    int64_t end = start + k;
    if (end > in + pad) end = in + pad;
    *padded = end - start;
    *lo = start < 0 ? 0 : start;
    *hi = end > in ? in : end;
}

static int64_t avg_divisor(const born_pool2d_geometry *g, int64_t ph, int64_t pw, int64_t h,
                           int64_t w) {
    if (g->divisor_override) return g->divisor_override;
    return g->count_include_pad ? ph * pw : h * w;
}

#define AVG_POOL(T, ACC, NAME)                                                                     \
    static void NAME(int64_t begin, int64_t end, void *arg) {                                      \
        const pool_ctx *c = arg;                                                                   \
        const born_pool2d_geometry *g = c->g;                                                      \
        int64_t H = g->in_h, W = g->in_w, oh = g->out_h, ow = g->out_w;                            \
        for (int64_t p = begin; p < end; p++) {                                                    \
            const T *in = (const T *)c->in->data + p * H * W;                                      \
            T *out = (T *)c->out->data + p * oh * ow;                                              \
            for (int64_t y = 0; y < oh; y++) {                                                     \
                int64_t y0, y1, py;                                                                \
                avg_window(y, g->stride[0], g->padding[0], g->kernel[0], H, &y0, &y1, &py);        \
                for (int64_t x = 0; x < ow; x++) {                                                 \
                    int64_t x0, x1, px;                                                            \
                    avg_window(x, g->stride[1], g->padding[1], g->kernel[1], W, &x0, &x1, &px);    \
                    if (y0 >= y1 || x0 >= x1) {                                                    \
                        out[y * ow + x] = 0;                                                       \
                        continue;                                                                  \
                    }                                                                              \
                    ACC sum = 0;                                                                   \
                    for (int64_t iy = y0; iy < y1; iy++)                                           \
                        for (int64_t ix = x0; ix < x1; ix++)                                       \
                            sum += in[iy * W + ix];                                                \
                    out[y * ow + x] = (T)(sum / (ACC)avg_divisor(g, py, px, y1 - y0, x1 - x0));    \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

AVG_POOL(float, float, avg_pool_f32)
AVG_POOL(double, double, avg_pool_f64)
AVG_POOL(int64_t, int64_t, avg_pool_i64)

born_status cpu_avg_pool2d(const born_strided *out, const born_strided *in,
                           const born_pool2d_geometry *g) {
    born_range_fn fn = in->dtype == BORN_F32   ? avg_pool_f32
                       : in->dtype == BORN_F64 ? avg_pool_f64
                       : in->dtype == BORN_I64 ? avg_pool_i64
                                               : NULL;
    if (!fn)
        return born_error(BORN_ERR_DTYPE, "avg_pool2d: %s is not supported by the CPU kernel",
                          born_dtype_name(in->dtype));
    pool_ctx c = {g, out, in, NULL};
    born_parallel_for(g->planes, plane_grain(g->out_h * g->out_w * g->kernel[0] * g->kernel[1]), fn,
                      &c);
    return BORN_OK;
}

/* Each output's gradient, divided by its window's divisor, is added to the window's cells. */
#define AVG_POOL_BACKWARD(T, NAME)                                                                 \
    static void NAME(int64_t begin, int64_t end, void *arg) {                                      \
        const pool_ctx *c = arg;                                                                   \
        const born_pool2d_geometry *g = c->g;                                                      \
        int64_t H = g->in_h, W = g->in_w, oh = g->out_h, ow = g->out_w;                            \
        for (int64_t p = begin; p < end; p++) {                                                    \
            T *gi = (T *)c->out->data + p * H * W;                                                 \
            const T *go = (const T *)c->in->data + p * oh * ow;                                    \
            memset(gi, 0, (size_t)(H * W) * sizeof(T));                                            \
            for (int64_t y = 0; y < oh; y++) {                                                     \
                int64_t y0, y1, py;                                                                \
                avg_window(y, g->stride[0], g->padding[0], g->kernel[0], H, &y0, &y1, &py);        \
                for (int64_t x = 0; x < ow; x++) {                                                 \
                    int64_t x0, x1, px;                                                            \
                    avg_window(x, g->stride[1], g->padding[1], g->kernel[1], W, &x0, &x1, &px);    \
                    if (y0 >= y1 || x0 >= x1) continue;                                            \
                    T delta = go[y * ow + x] / (T)avg_divisor(g, py, px, y1 - y0, x1 - x0);        \
                    for (int64_t iy = y0; iy < y1; iy++)                                           \
                        for (int64_t ix = x0; ix < x1; ix++)                                       \
                            gi[iy * W + ix] += delta;                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

AVG_POOL_BACKWARD(float, avg_pool_backward_f32)
AVG_POOL_BACKWARD(double, avg_pool_backward_f64)

born_status cpu_avg_pool2d_backward(const born_strided *grad_in, const born_strided *grad_out,
                                    const born_pool2d_geometry *g) {
    born_range_fn fn = grad_out->dtype == BORN_F32   ? avg_pool_backward_f32
                       : grad_out->dtype == BORN_F64 ? avg_pool_backward_f64
                                                     : NULL;
    if (!fn)
        return born_error(BORN_ERR_DTYPE,
                          "avg_pool2d backward: %s is not supported by the CPU "
                          "kernel",
                          born_dtype_name(grad_out->dtype));
    pool_ctx c = {g, grad_in, grad_out, NULL};
    born_parallel_for(g->planes, plane_grain(g->out_h * g->out_w * g->kernel[0] * g->kernel[1]), fn,
                      &c);
    return BORN_OK;
}
