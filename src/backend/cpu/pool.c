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
 * indices and the plane sizes (in_h x in_w and out_h x out_w), so any index inside the plane is
 * honoured.
 *
 * Fast paths, with the same results: max pooling whose windows all lie inside the input (no
 * padding, dilation 1, no clipped ceil_mode window) skips the window clipping and selects without
 * branches; f32 2x2 windows at stride 2 go through AVX2 kernels (pool_avx2.c), eight outputs at a
 * time, or on arm64 NEON ones (pool_neon.c), four at a time, and their backward writes each plane
 * in one pass instead of zero-filling it first (a plane with an index outside its own window
 * falls back to the generic scatter). f32 average pooling whose windows all lie inside the input
 * sums eight (AVX2) or four (NEON) outputs at a time, each lane one output's cells added in the
 * generic loop's order. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/pool_neon.h"
#include "core/cpu_features.h"

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

/* One plane, any geometry. */
#define MAX_POOL_PLANE(T, NAME, INIT, BETTER)                                                      \
    static void NAME(const T *in, T *out, int64_t *idx, const born_pool2d_geometry *g) {           \
        int64_t H = g->in_h, W = g->in_w, oh = g->out_h, ow = g->out_w;                            \
        for (int64_t y = 0; y < oh; y++) {                                                         \
            int64_t y0, y1;                                                                        \
            max_window(y, g->stride[0], g->padding[0], g->kernel[0], g->dilation[0], H, &y0, &y1); \
            for (int64_t x = 0; x < ow; x++) {                                                     \
                int64_t x0, x1;                                                                    \
                max_window(x, g->stride[1], g->padding[1], g->kernel[1], g->dilation[1], W, &x0,   \
                           &x1);                                                                   \
                int64_t best_i = y0 * W + x0;                                                      \
                T best = INIT;                                                                     \
                for (int64_t iy = y0; iy < y1; iy += g->dilation[0])                               \
                    for (int64_t ix = x0; ix < x1; ix += g->dilation[1]) {                         \
                        T v = in[iy * W + ix];                                                     \
                        if (BETTER) {                                                              \
                            best = v;                                                              \
                            best_i = iy * W + ix;                                                  \
                        }                                                                          \
                    }                                                                              \
                out[y * ow + x] = best;                                                            \
                idx[y * ow + x] = best_i;                                                          \
            }                                                                                      \
        }                                                                                          \
    }

/* One plane whose windows all lie inside the input (no padding, dilation 1, see
 * windows_inside): no clipping, and the first tap seeds the search (it is what the generic loop
 * keeps after its first tap, whatever that tap holds), with branch-free selects. */
#define MAX_POOL_PLANE_INSIDE(T, NAME, BETTER)                                                     \
    static void NAME(const T *in, T *out, int64_t *idx, const born_pool2d_geometry *g) {           \
        int64_t W = g->in_w, oh = g->out_h, ow = g->out_w, kh = g->kernel[0], kw = g->kernel[1];   \
        for (int64_t y = 0; y < oh; y++) {                                                         \
            const T *row = in + y * g->stride[0] * W;                                              \
            for (int64_t x = 0; x < ow; x++) {                                                     \
                const T *win = row + x * g->stride[1];                                             \
                T best = win[0];                                                                   \
                int64_t best_i = 0;                                                                \
                for (int64_t i = 0; i < kh; i++)                                                   \
                    for (int64_t j = i == 0; j < kw; j++) {                                        \
                        T v = win[i * W + j];                                                      \
                        bool take = BETTER;                                                        \
                        best = take ? v : best;                                                    \
                        best_i = take ? i * W + j : best_i;                                        \
                    }                                                                              \
                out[y * ow + x] = best;                                                            \
                idx[y * ow + x] = (win - in) + best_i;                                             \
            }                                                                                      \
        }                                                                                          \
    }

MAX_POOL_PLANE(float, max_plane_f32, -INFINITY, v > best || isnan(v))
MAX_POOL_PLANE(double, max_plane_f64, -INFINITY, v > best || isnan(v))
MAX_POOL_PLANE(int64_t, max_plane_i64, INT64_MIN, v > best)
MAX_POOL_PLANE_INSIDE(float, max_plane_inside_f32, v > best || isnan(v))
MAX_POOL_PLANE_INSIDE(double, max_plane_inside_f64, v > best || isnan(v))
MAX_POOL_PLANE_INSIDE(int64_t, max_plane_inside_i64, v > best)

/* Whether every window lies inside the input, so no tap needs clipping. */
static bool windows_inside(const born_pool2d_geometry *g) {
    return g->padding[0] == 0 && g->padding[1] == 0 && g->dilation[0] == 1 &&
           g->dilation[1] == 1 && (g->out_h - 1) * g->stride[0] + g->kernel[0] <= g->in_h &&
           (g->out_w - 1) * g->stride[1] + g->kernel[1] <= g->in_w;
}

typedef void (*plane_f32_fn)(const float *, float *, int64_t *, const born_pool2d_geometry *);

#if defined(CPU_HAVE_AVX2_KERNELS) || defined(CPU_HAVE_POOL_NEON)
/* The common 2x2, stride 2 geometry with every window inside, on planes small enough for 32-bit
 * offsets: the AVX2 and NEON kernels' case (when the CPU level allows them). */
static bool is_2x2_s2(const born_pool2d_geometry *g) {
    return windows_inside(g) && g->kernel[0] == 2 && g->kernel[1] == 2 && g->stride[0] == 2 &&
           g->stride[1] == 2 && g->in_h * g->in_w < ((int64_t)1 << 30);
}
#endif

#ifdef CPU_HAVE_POOL_NEON
static bool use_neon(void) { return cpu_get_level() == CPU_LEVEL_NEON; }

static void max_plane_2x2_f32_neon(const float *in, float *out, int64_t *idx,
                                   const born_pool2d_geometry *g) {
    cpu_max_pool_2x2_f32_neon(in, out, idx, g->in_w, g->out_h, g->out_w);
}
#endif

#ifdef CPU_HAVE_AVX2_KERNELS
static bool use_avx2(void) { return cpu_get_level() >= CPU_LEVEL_AVX2; }

static void max_plane_2x2_f32_avx2(const float *in, float *out, int64_t *idx,
                                   const born_pool2d_geometry *g) {
    cpu_max_pool_2x2_f32_avx2(in, out, idx, g->in_w, g->out_h, g->out_w);
}
#endif

#define MAX_POOL(T, NAME, PLANE, INSIDE)                                                           \
    static void NAME(int64_t begin, int64_t end, void *arg) {                                      \
        const pool_ctx *c = arg;                                                                   \
        const born_pool2d_geometry *g = c->g;                                                      \
        int64_t nin = g->in_h * g->in_w, nout = g->out_h * g->out_w;                               \
        void (*plane)(const T *, T *, int64_t *, const born_pool2d_geometry *) =                   \
            windows_inside(g) ? INSIDE : PLANE;                                                    \
        for (int64_t p = begin; p < end; p++)                                                      \
            plane((const T *)c->in->data + p * nin, (T *)c->out->data + p * nout,                  \
                  (int64_t *)c->indices->data + p * nout, g);                                      \
    }

MAX_POOL(double, max_pool_f64, max_plane_f64, max_plane_inside_f64)
MAX_POOL(int64_t, max_pool_i64, max_plane_i64, max_plane_inside_i64)

static void max_pool_f32(int64_t begin, int64_t end, void *arg) {
    const pool_ctx *c = arg;
    const born_pool2d_geometry *g = c->g;
    int64_t nin = g->in_h * g->in_w, nout = g->out_h * g->out_w;
    plane_f32_fn plane = windows_inside(g) ? max_plane_inside_f32 : max_plane_f32;
#ifdef CPU_HAVE_AVX2_KERNELS
    if (is_2x2_s2(g) && use_avx2()) plane = max_plane_2x2_f32_avx2;
#endif
#ifdef CPU_HAVE_POOL_NEON
    if (is_2x2_s2(g) && use_neon()) plane = max_plane_2x2_f32_neon;
#endif
    for (int64_t p = begin; p < end; p++)
        plane((const float *)c->in->data + p * nin, (float *)c->out->data + p * nout,
              (int64_t *)c->indices->data + p * nout, g);
}

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
    static void NAME##_plane(T *gi, const T *go, const int64_t *idx, int64_t plane,               \
                             int64_t nout) {                                                       \
        memset(gi, 0, (size_t)plane * sizeof(T));                                                  \
        for (int64_t o = 0; o < nout; o++)                                                         \
            if (idx[o] >= 0 && idx[o] < plane) gi[idx[o]] += go[o];                                \
    }                                                                                              \
    static void NAME(int64_t begin, int64_t end, void *arg) {                                      \
        const pool_ctx *c = arg;                                                                   \
        const born_pool2d_geometry *g = c->g;                                                      \
        int64_t plane = g->in_h * g->in_w, nout = g->out_h * g->out_w;                             \
        bool fast = FAST;                                                                          \
        for (int64_t p = begin; p < end; p++) {                                                    \
            T *gi = (T *)c->out->data + p * plane;                                                 \
            const T *go = (const T *)c->in->data + p * nout;                                       \
            const int64_t *idx = (const int64_t *)c->indices->data + p * nout;                     \
            if (fast && FAST_PLANE) continue;                                                      \
            NAME##_plane(gi, go, idx, plane, nout);                                                \
        }                                                                                          \
    }

/* f32 2x2 / stride 2 planes go through the AVX2 (or NEON) kernel, which writes every cell in one
 * pass (no zero fill first) and gives up (false) on a plane with an index outside its own window,
 * which then takes the generic path; the result is the same bits either way. */
#ifdef CPU_HAVE_AVX2_KERNELS
#define FAST (is_2x2_s2(g) && use_avx2())
#define FAST_PLANE                                                                                 \
    cpu_max_pool_2x2_backward_f32_avx2(gi, go, idx, g->in_h, g->in_w, g->out_h, g->out_w)
#elif defined(CPU_HAVE_POOL_NEON)
#define FAST (is_2x2_s2(g) && use_neon())
#define FAST_PLANE                                                                                 \
    cpu_max_pool_2x2_backward_f32_neon(gi, go, idx, g->in_h, g->in_w, g->out_h, g->out_w)
#else
#define FAST false
#define FAST_PLANE false
#endif
MAX_POOL_BACKWARD(float, max_pool_backward_f32)
#undef FAST
#undef FAST_PLANE
#define FAST false
#define FAST_PLANE false
MAX_POOL_BACKWARD(double, max_pool_backward_f64)
#undef FAST
#undef FAST_PLANE

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

AVG_POOL(float, float, avg_pool_generic_f32)
AVG_POOL(double, double, avg_pool_f64)
AVG_POOL(int64_t, int64_t, avg_pool_i64)

typedef void (*avg_plane_f32_fn)(const float *, float *, int64_t, int64_t, int64_t, int64_t,
                                 int64_t, int64_t, int64_t, float);

/* f32: planes whose windows all lie inside the input go through the AVX2 (or NEON) kernel, the
 * generic loop's operations on 8 (or 4) outputs at a time; the rest through the generic loop. */
static void avg_pool_f32(int64_t begin, int64_t end, void *arg) {
    const pool_ctx *c = arg;
    const born_pool2d_geometry *g = c->g;
    avg_plane_f32_fn plane = NULL;
#ifdef CPU_HAVE_AVX2_KERNELS
    if (use_avx2() && g->stride[1] < ((int64_t)1 << 28)) plane = cpu_avg_pool_inside_f32_avx2;
#endif
#ifdef CPU_HAVE_POOL_NEON
    if (use_neon()) plane = cpu_avg_pool_inside_f32_neon;
#endif
    if (!plane || !windows_inside(g)) {
        avg_pool_generic_f32(begin, end, arg);
        return;
    }
    int64_t kh = g->kernel[0], kw = g->kernel[1], nin = g->in_h * g->in_w;
    int64_t nout = g->out_h * g->out_w;
    float divisor = (float)avg_divisor(g, kh, kw, kh, kw); /* every window whole */
    for (int64_t p = begin; p < end; p++)
        plane((const float *)c->in->data + p * nin, (float *)c->out->data + p * nout, g->in_w,
              g->out_h, g->out_w, kh, kw, g->stride[0], g->stride[1], divisor);
}

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
