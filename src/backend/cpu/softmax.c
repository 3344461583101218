/* CPU softmax and log-softmax along one dim, forward and backward, for f32 and f64. Each row is
 * copied into a buffer of doubles, processed there, and written back; with AVX2, f32 rows that
 * are contiguous in every operand are processed in place in f32 by softmax_avx2.c instead (by
 * softmax_avx512.c at AVX-512, with the same bits), large outputs by streaming stores; on arm64
 * at CPU_LEVEL_NEON such rows go through softmax_neon.c (ordinary stores). Each row
 * prefetches the next one, the next chunk's first row too (at one thread the row this thread
 * takes next; at more, another thread's, which then finds it in a cache). */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/rows.h"
#include "backend/cpu/rows_neon.h"
#include "backend/cpu/stream.h"
#include "backend/cpu/scratch.h"
#include "core/cpu_features.h"

typedef struct softmax_ctx {
    bool log, backward, avx2_rows; /* avx2_rows: f32 rows contiguous in every operand */
    bool avx512;                   /* avx2 rows: through softmax_avx512.c */
    bool stream;                   /* avx2 rows: the output by streaming stores */
    bool neon_rows;                /* f32 rows contiguous in every operand: softmax_neon.c */
    const born_strided *out, *in, *grad_out, *y;
    int dim;
    int64_t rows; /* rows in all */
    atomic_int failed;
} softmax_ctx;

/* Forward on one contiguous row of doubles: x -> softmax or log_softmax. */
static void row_forward(double *x, int64_t n, bool log_out) {
    double m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m || x[i] != x[i] ? x[i] : m;
    if (m == -INFINITY) m = 0; /* an all -inf row: avoid inf - inf */
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += exp(x[i] - m);
    if (log_out) {
        double lse = m + log(sum);
        for (int64_t i = 0; i < n; i++) x[i] -= lse;
    } else {
        for (int64_t i = 0; i < n; i++) x[i] = exp(x[i] - m) / sum;
    }
}

/* Backward on one row: g becomes the input gradient, given y (softmax or log_softmax output). */
static void row_backward(double *g, const double *y, int64_t n, bool log_out) {
    double s = 0;
    if (log_out) {
        for (int64_t i = 0; i < n; i++) s += g[i];
        for (int64_t i = 0; i < n; i++) g[i] -= exp(y[i]) * s;
    } else {
        for (int64_t i = 0; i < n; i++) s += g[i] * y[i];
        for (int64_t i = 0; i < n; i++) g[i] = y[i] * (g[i] - s);
    }
}

static void load_row(double *dst, const born_strided *t, int dim, int64_t r, int64_t n) {
    int64_t off = rows_offset(t, dim, r), step = t->ndim ? t->strides[dim] : 0;
    if (t->dtype == BORN_F32) {
        const float *p = (const float *)t->data + off;
        for (int64_t i = 0; i < n; i++) dst[i] = p[i * step];
    } else {
        const double *p = (const double *)t->data + off;
        for (int64_t i = 0; i < n; i++) dst[i] = p[i * step];
    }
}

static void store_row(const born_strided *t, int dim, int64_t r, const double *src, int64_t n) {
    int64_t off = rows_offset(t, dim, r), step = t->ndim ? t->strides[dim] : 0;
    if (t->dtype == BORN_F32) {
        float *p = (float *)t->data + off;
        for (int64_t i = 0; i < n; i++) p[i * step] = (float)src[i];
    } else {
        double *p = (double *)t->data + off;
        for (int64_t i = 0; i < n; i++) p[i * step] = src[i];
    }
}

#ifdef CPU_HAVE_AVX2_KERNELS
static float *row_f32(const born_strided *t, int dim, int64_t r) {
    return (float *)t->data + rows_offset(t, dim, r);
}

/* Streamed forward rows (c->stream): each row's output is written while the next row's exps
 * are computed (softmax_avx2.c); softmax's exps wait in two scratch rows of the chunk's. False
 * (nothing done) if the scratch cannot be had. */
static bool softmax_rows_stream(int64_t begin, int64_t end, const softmax_ctx *c, int64_t n) {
    cpu_softmax_stream st = {0};
    st.log = c->log;
    if (!c->log) {
        st.scratch[0] = cpu_scratch(CPU_SCRATCH_SOFTMAX_ROWS, (size_t)n * 2 * sizeof(float));
        if (!st.scratch[0]) return false;
        st.scratch[1] = st.scratch[0] + n;
    }
    for (int64_t r = begin; r < end; r++)
        (c->avx512 ? cpu_softmax_row_stream_f32_avx512 : cpu_softmax_row_stream_f32_avx2)(
            &st, row_f32(c->out, c->dim, r), row_f32(c->in, c->dim, r), n,
            r + 1 < c->rows ? row_f32(c->in, c->dim, r + 1) : NULL);
    (c->avx512 ? cpu_softmax_stream_flush_f32_avx512 : cpu_softmax_stream_flush_f32_avx2)(&st);
    cpu_stream_fence();
    return true;
}

static void softmax_rows_avx2(int64_t begin, int64_t end, const softmax_ctx *c, int64_t n) {
    if (c->stream && !c->backward && softmax_rows_stream(begin, end, c, n)) return;
    for (int64_t r = begin; r < end; r++) {
        bool more = r + 1 < c->rows;
        if (c->backward)
            (c->avx512 ? cpu_softmax_backward_row_f32_avx512 : cpu_softmax_backward_row_f32_avx2)(
                row_f32(c->out, c->dim, r), row_f32(c->grad_out, c->dim, r),
                row_f32(c->y, c->dim, r), n, c->log, c->stream,
                more ? row_f32(c->grad_out, c->dim, r + 1) : NULL,
                more ? row_f32(c->y, c->dim, r + 1) : NULL);
        else
            (c->avx512 ? cpu_softmax_row_f32_avx512 : cpu_softmax_row_f32_avx2)(
                row_f32(c->out, c->dim, r), row_f32(c->in, c->dim, r), n, c->log,
                more ? row_f32(c->in, c->dim, r + 1) : NULL);
    }
    if (c->stream) cpu_stream_fence();
}
#endif

#ifdef CPU_HAVE_ROWS_NEON
static void softmax_rows_neon(int64_t begin, int64_t end, const softmax_ctx *c, int64_t n) {
    for (int64_t r = begin; r < end; r++) {
        bool more = r + 1 < c->rows;
        float *out = (float *)c->out->data + rows_offset(c->out, c->dim, r);
        if (c->backward) {
            const float *g = (const float *)c->grad_out->data + rows_offset(c->grad_out, c->dim, r);
            const float *y = (const float *)c->y->data + rows_offset(c->y, c->dim, r);
            const float *ng = more ? (const float *)c->grad_out->data +
                                         rows_offset(c->grad_out, c->dim, r + 1)
                                   : NULL;
            const float *ny =
                more ? (const float *)c->y->data + rows_offset(c->y, c->dim, r + 1) : NULL;
            cpu_softmax_backward_row_f32_neon(out, g, y, n, c->log, ng, ny);
        } else {
            const float *x = (const float *)c->in->data + rows_offset(c->in, c->dim, r);
            const float *nx =
                more ? (const float *)c->in->data + rows_offset(c->in, c->dim, r + 1) : NULL;
            cpu_softmax_row_f32_neon(out, x, n, c->log, nx);
        }
    }
}
#endif

static void softmax_rows(int64_t begin, int64_t end, void *arg) {
    softmax_ctx *c = arg;
    const born_strided *ref = c->backward ? c->grad_out : c->in;
    int64_t n = ref->ndim ? ref->shape[c->dim] : 1;
#ifdef CPU_HAVE_AVX2_KERNELS
    if (c->avx2_rows) {
        softmax_rows_avx2(begin, end, c, n);
        return;
    }
#endif
#ifdef CPU_HAVE_ROWS_NEON
    if (c->neon_rows) {
        softmax_rows_neon(begin, end, c, n);
        return;
    }
#endif
    double *buf = cpu_scratch(CPU_SCRATCH_SOFTMAX_ROWS, (size_t)(n > 0 ? n : 1) * 2 * sizeof *buf);
    if (!buf) {
        atomic_store(&c->failed, 1);
        return;
    }
    for (int64_t r = begin; r < end; r++) {
        if (c->backward) {
            load_row(buf, c->grad_out, c->dim, r, n);
            load_row(buf + n, c->y, c->dim, r, n);
            row_backward(buf, buf + n, n, c->log);
        } else {
            load_row(buf, c->in, c->dim, r, n);
            row_forward(buf, n, c->log);
        }
        store_row(c->out, c->dim, r, buf, n);
    }
}

#if defined(CPU_HAVE_AVX2_KERNELS) || defined(CPU_HAVE_ROWS_NEON)
/* True if the rows are contiguous (stride 1 along dim) in every operand. */
static bool rows_contiguous(const softmax_ctx *c) {
    const born_strided *ops[3] = {c->out, c->backward ? c->grad_out : c->in, c->y};
    for (int k = 0; k < (c->backward ? 3 : 2); k++)
        if (ops[k]->ndim && ops[k]->shape[c->dim] > 1 && ops[k]->strides[c->dim] != 1) return false;
    return true;
}
#endif

static born_status run(softmax_ctx *c, const born_strided *ref) {
    if (ref->dtype != BORN_F32 && ref->dtype != BORN_F64)
        return born_error(BORN_ERR_DTYPE, "softmax: %s is not supported by the CPU kernel",
                          born_dtype_name(ref->dtype));
    atomic_init(&c->failed, 0);
    c->avx2_rows = false;
    c->neon_rows = false;
#ifdef CPU_HAVE_AVX2_KERNELS
    if (ref->dtype == BORN_F32 && cpu_get_level() >= CPU_LEVEL_AVX2)
        c->avx2_rows = rows_contiguous(c);
#endif
#ifdef CPU_HAVE_ROWS_NEON
    if (ref->dtype == BORN_F32 && cpu_get_level() == CPU_LEVEL_NEON)
        c->neon_rows = rows_contiguous(c);
#endif
    int64_t rows = ref->ndim ? rows_count(ref, c->dim) : 1;
    int64_t n = ref->ndim ? ref->shape[c->dim] : 1;
    c->avx512 = c->avx2_rows && cpu_get_level() >= CPU_LEVEL_AVX512;
    /* streaming stores (stream.h) for large outputs of the f32 rows */
    c->stream = c->avx2_rows && c->out->dtype == BORN_F32 && cpu_stream_output(rows * n * 4);
    /* streamed forward rows in chunks of four times rows_grain's rows (up to rows / 64): a
     * chunk's last output row is written after the arithmetic instead of during it */
    c->rows = rows;
    int64_t grain = rows_grain(rows, n);
    if (c->stream && !c->backward) {
        int64_t more = grain * 4, cap = rows / 64;
        grain = more <= cap ? more : cap > grain ? cap : grain;
    }
    born_parallel_for(rows, grain, softmax_rows, c);
    return atomic_load(&c->failed) ? born_error(BORN_ERR_MEMORY, "softmax: out of memory") : BORN_OK;
}

born_status cpu_softmax(bool log, const born_strided *out, const born_strided *in, int dim) {
    softmax_ctx c = {.log = log, .out = out, .in = in, .dim = dim};
    return run(&c, in);
}

born_status cpu_softmax_backward(bool log, const born_strided *grad_in, const born_strided *grad_out,
                                 const born_strided *y, int dim) {
    softmax_ctx c = {.log = log, .backward = true, .out = grad_in, .grad_out = grad_out, .y = y,
                     .dim = dim};
    return run(&c, grad_out);
}
