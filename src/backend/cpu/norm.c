/* CPU layer norm and RMS norm over contiguous rows, forward and gradients. Row statistics are
 * accumulated in double (in norm_avx2.c and norm_avx512.c, f32 sums over chunks of 64 or 128
 * elements added in double), so long rows of f32 keep their accuracy; rows are split across
 * threads, and each row is computed by one thread in a fixed order, so results do not depend on
 * the thread count. f32 rows go through norm_avx2.c when the CPU level allows (a range of rows at
 * a time through norm_avx512.c at CPU_LEVEL_AVX512, the same bits), and on arm64 through
 * norm_neon.c at CPU_LEVEL_NEON (the same method on 4 lanes); the portable loops here (f64,
 * BORN_CPU=scalar) are the reference.
 *
 * The parameter gradients (sum over rows of g xhat and of g) are accumulated per block of rows
 * into a partial vector of x's dtype while the input gradient is computed, in the same pass; the
 * blocks' size depends only on the shape, and their partials are summed in block order in
 * double, so these are thread-count independent too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/norm_avx2.h"
#include "backend/cpu/rows.h"
#include "backend/cpu/rows_neon.h"
#include "backend/cpu/scratch.h"
#include "backend/cpu/stream.h"
#include "core/cpu_features.h"

typedef struct norm_ctx {
    bool rms, avx2; /* avx2: f32 rows through norm_avx2.c */
    bool stream;    /* avx2: y or dx by streaming stores (stream.h) */
    bool avx512;    /* avx2: the rows through norm_avx512.c */
    bool neon;      /* f32 rows through norm_neon.c */
    int64_t n, rows, block_rows;
    double eps;
    const born_strided *out, *mean, *rstd, *x, *weight, *bias, *grad_out;
    char *pw, *pb; /* backward: [nblocks][n] partial sums of the weight / bias gradient, or NULL */
} norm_ctx;

/* One row of the forward as the reference: statistics and xhat in double, the affine step in
 * x's dtype. */
#define NORM_ROW(T, NAME)                                                                         \
    static void NAME(T *y, T *mean_out, T *rstd_out, const T *x, int64_t n, bool rms,             \
                     const T *w, const T *b, double eps) {                                        \
        double mean = 0, sq = 0;                                                                  \
        if (!rms) {                                                                               \
            for (int64_t i = 0; i < n; i++) mean += x[i];                                         \
            mean /= (double)n;                                                                    \
        }                                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                         \
            double d = (double)x[i] - mean;                                                       \
            sq += d * d;                                                                          \
        }                                                                                         \
        double rstd = 1.0 / sqrt(sq / (double)n + eps);                                           \
        T m = (T)mean, s = (T)rstd;                                                               \
        for (int64_t i = 0; i < n; i++) {                                                         \
            T v = (T)(((double)x[i] - mean) * rstd);                                              \
            if (w) v *= w[i];                                                                     \
            if (b) v += b[i];                                                                     \
            y[i] = v;                                                                             \
        }                                                                                         \
        if (mean_out && !rms) *mean_out = m;                                                      \
        if (rstd_out) *rstd_out = s;                                                              \
    }

NORM_ROW(float, norm_row_f32)
NORM_ROW(double, norm_row_f64)

/* One row of the backward: dx = rstd (d - mean(d) - xhat mean(d xhat)), d = g w (the RMS form
 * has no mean(d) term) unless dx is NULL, and pw += g xhat, pb += g where given. */
#define NORM_BACKWARD_ROW(T, NAME)                                                                \
    static void NAME(T *dx, const T *g, const T *x, int64_t n, bool rms, T m, T s, const T *w,    \
                     T *pw, T *pb) {                                                              \
        T mean_d = 0, mean_dx = 0;                                                                \
        if (dx) {                                                                                 \
            double sum_d = 0, sum_dx = 0;                                                         \
            for (int64_t i = 0; i < n; i++) {                                                     \
                double d = (double)g[i] * (w ? (double)w[i] : 1.0);                               \
                sum_d += d;                                                                       \
                sum_dx += d * (double)((x[i] - m) * s);                                           \
            }                                                                                     \
            mean_d = rms ? (T)0 : (T)(sum_d / (double)n);                                         \
            mean_dx = (T)(sum_dx / (double)n);                                                    \
        }                                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                         \
            T xhat = (x[i] - m) * s;                                                              \
            if (dx) {                                                                             \
                T d = g[i] * (w ? w[i] : (T)1);                                                   \
                dx[i] = s * (d - mean_d - xhat * mean_dx);                                        \
            }                                                                                     \
            if (pw) pw[i] += g[i] * xhat;                                                         \
            if (pb) pb[i] += g[i];                                                                \
        }                                                                                         \
    }

NORM_BACKWARD_ROW(float, norm_backward_row_f32)
NORM_BACKWARD_ROW(double, norm_backward_row_f64)

static void norm_rows(int64_t begin, int64_t end, void *arg) {
    const norm_ctx *c = arg;
    int64_t n = c->n;
    if (c->x->dtype == BORN_F64) {
        const double *w = c->weight->data, *b = c->bias->data;
        double *mean = c->mean->data, *rstd = c->rstd->data;
        for (int64_t r = begin; r < end; r++)
            norm_row_f64((double *)c->out->data + r * n, mean ? mean + r : NULL, rstd ? rstd + r : NULL,
                         (const double *)c->x->data + r * n, n, c->rms, w, b, c->eps);
        return;
    }
    const float *w = c->weight->data, *b = c->bias->data;
    float *mean = c->mean->data, *rstd = c->rstd->data;
#ifdef CPU_HAVE_NORM_AVX2
    if (c->avx512) {
        cpu_norm_rows_f32_avx512((float *)c->out->data + begin * n, mean ? mean + begin : NULL,
                                 rstd ? rstd + begin : NULL, (const float *)c->x->data + begin * n,
                                 end - begin, n, c->rms, w, b, c->eps, c->stream);
        if (c->stream) cpu_stream_fence();
        return;
    }
#endif
    for (int64_t r = begin; r < end; r++) {
        float *y = (float *)c->out->data + r * n;
        const float *x = (const float *)c->x->data + r * n;
#ifdef CPU_HAVE_NORM_AVX2
        if (c->avx2) {
            cpu_norm_row_f32_avx2(y, mean ? mean + r : NULL, rstd ? rstd + r : NULL, x, n, c->rms,
                                  w, b, c->eps, r + 1 < end ? x + n : NULL, c->stream);
            continue;
        }
#endif
#ifdef CPU_HAVE_ROWS_NEON
        if (c->neon) {
            cpu_norm_row_f32_neon(y, mean ? mean + r : NULL, rstd ? rstd + r : NULL, x, n, c->rms,
                                  w, b, c->eps, r + 1 < end ? x + n : NULL);
            continue;
        }
#endif
        norm_row_f32(y, mean ? mean + r : NULL, rstd ? rstd + r : NULL, x, n, c->rms, w, b, c->eps);
    }
    if (c->stream) cpu_stream_fence();
}

/* Rows [begin, end) of the backward; pw and pb (or NULL) are the block's partial sums. */
static void backward_range_f64(const norm_ctx *c, int64_t begin, int64_t end, double *pw, double *pb) {
    int64_t n = c->n;
    const double *w = c->weight->data, *mean = c->mean->data, *rstd = c->rstd->data;
    double *dx = c->out->data;
    for (int64_t r = begin; r < end; r++)
        norm_backward_row_f64(dx ? dx + r * n : NULL, (const double *)c->grad_out->data + r * n,
                              (const double *)c->x->data + r * n, n, c->rms, c->rms ? 0 : mean[r],
                              rstd[r], w, pw, pb);
}

static void backward_range_f32(const norm_ctx *c, int64_t begin, int64_t end, float *pw, float *pb) {
    int64_t n = c->n;
    const float *w = c->weight->data, *mean = c->mean->data, *rstd = c->rstd->data;
    float *dx0 = c->out->data;
#ifdef CPU_HAVE_NORM_AVX2
    if (c->avx512) {
        const float *g = (const float *)c->grad_out->data + begin * n;
        const float *x = (const float *)c->x->data + begin * n;
        cpu_norm_backward_rows_f32_avx512(dx0 ? dx0 + begin * n : NULL, g, x, end - begin, n,
                                          c->rms, c->rms ? NULL : mean + begin, rstd + begin, w,
                                          pw, pb, c->stream);
        if (c->stream) cpu_stream_fence();
        return;
    }
#endif
    for (int64_t r = begin; r < end; r++) {
        const float *x = (const float *)c->x->data + r * n, *g = (const float *)c->grad_out->data + r * n;
        float *dx = dx0 ? dx0 + r * n : NULL, m = c->rms ? 0.0f : mean[r];
#ifdef CPU_HAVE_NORM_AVX2
        if (c->avx2) {
            bool more = r + 1 < end;
            cpu_norm_backward_row_f32_avx2(dx, g, x, n, c->rms, m, rstd[r], w, pw, pb,
                                           more ? g + n : NULL, more ? x + n : NULL, c->stream);
            continue;
        }
#endif
#ifdef CPU_HAVE_ROWS_NEON
        if (c->neon) {
            bool more = r + 1 < end;
            cpu_norm_backward_row_f32_neon(dx, g, x, n, c->rms, m, rstd[r], w, pw, pb,
                                           more ? g + n : NULL, more ? x + n : NULL);
            continue;
        }
#endif
        norm_backward_row_f32(dx, g, x, n, c->rms, m, rstd[r], w, pw, pb);
    }
    if (c->stream) cpu_stream_fence();
}

/* Blocks [begin, end) of block_rows rows each: zero the block's partials, then its rows. */
static void backward_blocks(int64_t begin, int64_t end, void *arg) {
    const norm_ctx *c = arg;
    size_t esz = born_dtype_size(c->x->dtype);
    for (int64_t k = begin; k < end; k++) {
        int64_t r0 = k * c->block_rows, r1 = r0 + c->block_rows < c->rows ? r0 + c->block_rows : c->rows;
        char *pw = c->pw ? c->pw + (size_t)(k * c->n) * esz : NULL;
        char *pb = c->pb ? c->pb + (size_t)(k * c->n) * esz : NULL;
        if (pw) memset(pw, 0, (size_t)c->n * esz);
        if (pb) memset(pb, 0, (size_t)c->n * esz);
        if (c->x->dtype == BORN_F64)
            backward_range_f64(c, r0, r1, (double *)pw, (double *)pb);
        else
            backward_range_f32(c, r0, r1, (float *)pw, (float *)pb);
    }
}

typedef struct combine_ctx {
    const norm_ctx *c;
    int64_t nblocks;
    const char *part[2];
    const born_strided *dst[2];
} combine_ctx;

enum { COMBINE_COLS = 512 };

/* Columns [begin, end) (at most COMBINE_COLS): the sum of the blocks' partials in block order,
 * in double. */
static void combine_columns(int64_t begin, int64_t end, void *arg) {
    const combine_ctx *cc = arg;
    int64_t n = cc->c->n, len = end - begin;
    bool f64 = cc->c->x->dtype == BORN_F64;
    double acc[COMBINE_COLS];
    for (int k = 0; k < 2; k++) {
        if (!cc->part[k]) continue;
        for (int64_t j = 0; j < len; j++) acc[j] = 0;
        for (int64_t b = 0; b < cc->nblocks; b++) {
            if (f64) {
                const double *p = (const double *)cc->part[k] + b * n + begin;
                for (int64_t j = 0; j < len; j++) acc[j] += p[j];
            } else {
                const float *p = (const float *)cc->part[k] + b * n + begin;
                for (int64_t j = 0; j < len; j++) acc[j] += (double)p[j];
            }
        }
        for (int64_t j = 0; j < len; j++) {
            if (f64) ((double *)cc->dst[k]->data)[begin + j] = acc[j];
            else ((float *)cc->dst[k]->data)[begin + j] = (float)acc[j];
        }
    }
}

static bool use_avx2(born_dtype dt) {
#ifdef CPU_HAVE_NORM_AVX2
    return dt == BORN_F32 && cpu_get_level() >= CPU_LEVEL_AVX2;
#else
    (void)dt;
    return false;
#endif
}

static bool use_neon(born_dtype dt) {
#ifdef CPU_HAVE_ROWS_NEON
    return dt == BORN_F32 && cpu_get_level() == CPU_LEVEL_NEON;
#else
    (void)dt;
    return false;
#endif
}

static void norm_shape(const born_strided *x, int64_t *n, int64_t *rows) {
    *n = x->ndim ? x->shape[x->ndim - 1] : 1;
    *rows = 1;
    for (int d = 0; d + 1 < x->ndim; d++) *rows *= x->shape[d];
}

born_status cpu_row_norm(bool rms, const born_strided *out, const born_strided *mean,
                         const born_strided *rstd, const born_strided *x,
                         const born_strided *weight, const born_strided *bias, double eps) {
    if (x->dtype != BORN_F32 && x->dtype != BORN_F64)
        return born_error(BORN_ERR_DTYPE, "row norm: %s is not supported by the CPU kernel",
                          born_dtype_name(x->dtype));
    norm_ctx c = {.rms = rms, .avx2 = use_avx2(x->dtype), .neon = use_neon(x->dtype), .eps = eps,
                  .out = out, .mean = mean, .rstd = rstd, .x = x, .weight = weight, .bias = bias};
    norm_shape(x, &c.n, &c.rows);
    c.stream = c.avx2 && cpu_stream_output(c.rows * c.n * 4);
    c.avx512 = c.avx2 && cpu_get_level() >= CPU_LEVEL_AVX512;
    born_parallel_for(c.rows, rows_grain(c.rows, c.n), norm_rows, &c);
    return BORN_OK;
}

/* Blocks of at least 8 rows, at most 64 of them, and partials of at most ~2^22 elements. */
static int64_t param_block_rows(int64_t rows, int64_t n) {
    int64_t br = (rows + 63) / 64;
    if (br < 8) br = 8;
    int64_t cap = n > 0 ? ((int64_t)1 << 22) / n : rows;
    if (cap < 1) cap = 1;
    if ((rows + br - 1) / br > cap) br = (rows + cap - 1) / cap;
    return br;
}

born_status cpu_row_norm_grads(bool rms, const born_strided *grad_x,
                               const born_strided *grad_weight, const born_strided *grad_bias,
                               const born_strided *grad_out, const born_strided *x,
                               const born_strided *mean, const born_strided *rstd,
                               const born_strided *weight) {
    if (x->dtype != BORN_F32 && x->dtype != BORN_F64)
        return born_error(BORN_ERR_DTYPE, "row norm backward: %s is not supported by the CPU "
                          "kernel", born_dtype_name(x->dtype));
    static const born_strided none;
    norm_ctx c = {.rms = rms, .avx2 = use_avx2(x->dtype), .neon = use_neon(x->dtype),
                  .out = grad_x ? grad_x : &none, .mean = mean, .rstd = rstd, .x = x,
                  .weight = weight, .bias = &none, .grad_out = grad_out};
    norm_shape(x, &c.n, &c.rows);
    c.stream = c.avx2 && c.out->data && cpu_stream_output(c.rows * c.n * 4);
    c.avx512 = c.avx2 && cpu_get_level() >= CPU_LEVEL_AVX512;
    bool want_w = grad_weight && grad_weight->data, want_b = grad_bias && grad_bias->data;
    if (!want_w && !want_b) {
        if (!c.out->data) return BORN_OK;
        c.block_rows = rows_grain(c.rows, c.n);
        born_parallel_for((c.rows + c.block_rows - 1) / c.block_rows, 1, backward_blocks, &c);
        return BORN_OK;
    }
    size_t esz = born_dtype_size(x->dtype);
    c.block_rows = param_block_rows(c.rows, c.n);
    int64_t nblocks = (c.rows + c.block_rows - 1) / c.block_rows;
    if (nblocks == 0) { /* no rows: the parameter gradients are zero */
        if (want_w) memset(grad_weight->data, 0, (size_t)c.n * esz);
        if (want_b) memset(grad_bias->data, 0, (size_t)c.n * esz);
        return BORN_OK;
    }
    size_t bytes = (size_t)(nblocks * c.n) * esz;
    char *buf = bytes ? cpu_scratch(CPU_SCRATCH_NORM_PARTIALS, bytes * (want_w + want_b)) : NULL;
    if (bytes && !buf) return born_error(BORN_ERR_MEMORY, "row norm backward: out of memory");
    c.pw = want_w ? buf : NULL;
    c.pb = want_b ? buf + (want_w ? bytes : 0) : NULL;
    born_parallel_for(nblocks, 1, backward_blocks, &c);
    combine_ctx cc = {&c, nblocks, {c.pw, c.pb}, {grad_weight, grad_bias}};
    born_parallel_for(c.n, COMBINE_COLS, combine_columns, &cc);
    return BORN_OK;
}

born_status cpu_row_norm_backward(bool rms, const born_strided *grad_x,
                                  const born_strided *grad_out, const born_strided *x,
                                  const born_strided *mean, const born_strided *rstd,
                                  const born_strided *weight) {
    return cpu_row_norm_grads(rms, grad_x, NULL, NULL, grad_out, x, mean, rstd, weight);
}
