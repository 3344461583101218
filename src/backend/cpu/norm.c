/* CPU layer norm and RMS norm over contiguous rows, forward and input gradient, in one pass per
 * row (plus one for the statistics). Row statistics are accumulated in double, so long rows of
 * f32 keep full accuracy; rows are split across threads, and each row is computed by one thread
 * in a fixed order, so results do not depend on the thread count. */
#include <math.h>

#include "backend/cpu/cpu_kernels.h"

typedef struct norm_ctx {
    bool rms;
    int64_t n;
    double eps;
    const born_strided *out, *mean, *rstd, *x, *weight, *bias, *grad_out;
} norm_ctx;

#define ROW_NORM(T, NAME)                                                                         \
    static void NAME(int64_t begin, int64_t end, void *arg) {                                     \
        const norm_ctx *c = arg;                                                                  \
        int64_t n = c->n;                                                                         \
        const T *w = c->weight->data, *b = c->bias->data;                                         \
        for (int64_t r = begin; r < end; r++) {                                                   \
            const T *x = (const T *)c->x->data + r * n;                                           \
            T *y = (T *)c->out->data + r * n;                                                     \
            double mean = 0, sq = 0;                                                              \
            if (!c->rms) {                                                                        \
                for (int64_t i = 0; i < n; i++) mean += x[i];                                     \
                mean /= (double)n;                                                                \
            }                                                                                     \
            for (int64_t i = 0; i < n; i++) {                                                     \
                double d = (double)x[i] - mean;                                                   \
                sq += d * d;                                                                      \
            }                                                                                     \
            double rstd = 1.0 / sqrt(sq / (double)n + c->eps);                                    \
            T m = (T)mean, s = (T)rstd;                                                           \
            for (int64_t i = 0; i < n; i++) {                                                     \
                T v = (x[i] - m) * s;                                                             \
                if (w) v *= w[i];                                                                 \
                if (b) v += b[i];                                                                 \
                y[i] = v;                                                                         \
            }                                                                                     \
            if (c->mean->data && !c->rms) ((T *)c->mean->data)[r] = m;                            \
            if (c->rstd->data) ((T *)c->rstd->data)[r] = s;                                       \
        }                                                                                         \
    }

ROW_NORM(float, row_norm_f32)
ROW_NORM(double, row_norm_f64)

/* dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w; the RMS form has
 * no centring term. */
#define ROW_NORM_BACKWARD(T, NAME)                                                                \
    static void NAME(int64_t begin, int64_t end, void *arg) {                                     \
        const norm_ctx *c = arg;                                                                  \
        int64_t n = c->n;                                                                         \
        const T *w = c->weight->data;                                                             \
        for (int64_t r = begin; r < end; r++) {                                                   \
            const T *x = (const T *)c->x->data + r * n, *g = (const T *)c->grad_out->data + r * n; \
            T *dx = (T *)c->out->data + r * n;                                                    \
            T m = c->rms ? (T)0 : ((const T *)c->mean->data)[r];                                  \
            T s = ((const T *)c->rstd->data)[r];                                                  \
            double sum_d = 0, sum_dx = 0;                                                         \
            for (int64_t i = 0; i < n; i++) {                                                     \
                double d = (double)g[i] * (w ? (double)w[i] : 1.0);                               \
                sum_d += d;                                                                       \
                sum_dx += d * (double)((x[i] - m) * s);                                           \
            }                                                                                     \
            T mean_d = c->rms ? (T)0 : (T)(sum_d / (double)n), mean_dx = (T)(sum_dx / (double)n); \
            for (int64_t i = 0; i < n; i++) {                                                     \
                T d = g[i] * (w ? w[i] : (T)1);                                                   \
                T xhat = (x[i] - m) * s;                                                          \
                dx[i] = s * (d - mean_d - xhat * mean_dx);                                        \
            }                                                                                     \
        }                                                                                         \
    }

ROW_NORM_BACKWARD(float, row_norm_backward_f32)
ROW_NORM_BACKWARD(double, row_norm_backward_f64)

static int64_t row_grain(int64_t n) { return n >= 4096 ? 1 : 4096 / (n > 0 ? n : 1); }

born_status cpu_row_norm(bool rms, const born_strided *out, const born_strided *mean,
                         const born_strided *rstd, const born_strided *x,
                         const born_strided *weight, const born_strided *bias, double eps) {
    if (x->dtype != BORN_F32 && x->dtype != BORN_F64)
        return born_error(BORN_ERR_DTYPE, "row norm: %s is not supported by the CPU kernel",
                          born_dtype_name(x->dtype));
    int64_t n = x->ndim ? x->shape[x->ndim - 1] : 1, rows = 1;
    for (int d = 0; d + 1 < x->ndim; d++) rows *= x->shape[d];
    norm_ctx c = {rms, n, eps, out, mean, rstd, x, weight, bias, NULL};
    born_parallel_for(rows, row_grain(n), x->dtype == BORN_F32 ? row_norm_f32 : row_norm_f64, &c);
    return BORN_OK;
}

born_status cpu_row_norm_backward(bool rms, const born_strided *grad_x,
                                  const born_strided *grad_out, const born_strided *x,
                                  const born_strided *mean, const born_strided *rstd,
                                  const born_strided *weight) {
    if (x->dtype != BORN_F32 && x->dtype != BORN_F64)
        return born_error(BORN_ERR_DTYPE, "row norm backward: %s is not supported by the CPU "
                          "kernel", born_dtype_name(x->dtype));
    int64_t n = x->ndim ? x->shape[x->ndim - 1] : 1, rows = 1;
    for (int d = 0; d + 1 < x->ndim; d++) rows *= x->shape[d];
    norm_ctx c = {rms, n, 0.0, grad_x, mean, rstd, x, weight, NULL, grad_out};
    born_parallel_for(rows, row_grain(n), x->dtype == BORN_F32 ? row_norm_backward_f32 : row_norm_backward_f64, &c);
    return BORN_OK;
}
