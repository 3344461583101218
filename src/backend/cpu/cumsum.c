/* CPU running sum along one dim for f32, f64 (accumulated in double) and i64 (wrapping). */
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/rows.h"

typedef struct cumsum_ctx {
    const born_strided *out, *in;
    int dim;
} cumsum_ctx;

static void cumsum_rows(int64_t begin, int64_t end, void *arg) {
    const cumsum_ctx *c = arg;
    int64_t n = c->in->ndim ? c->in->shape[c->dim] : 1;
    int64_t is = c->in->ndim ? c->in->strides[c->dim] : 0, os = c->out->ndim ? c->out->strides[c->dim] : 0;
    for (int64_t r = begin; r < end; r++) {
        int64_t io = rows_offset(c->in, c->dim, r), oo = rows_offset(c->out, c->dim, r);
        switch (c->in->dtype) {
        case BORN_F32: {
            const float *x = (const float *)c->in->data + io;
            float *y = (float *)c->out->data + oo;
            double s = 0;
            for (int64_t i = 0; i < n; i++) y[i * os] = (float)(s += x[i * is]);
            break;
        }
        case BORN_F64: {
            const double *x = (const double *)c->in->data + io;
            double *y = (double *)c->out->data + oo, s = 0;
            for (int64_t i = 0; i < n; i++) y[i * os] = s += x[i * is];
            break;
        }
        default: {
            const int64_t *x = (const int64_t *)c->in->data + io;
            int64_t *y = (int64_t *)c->out->data + oo;
            uint64_t s = 0;
            for (int64_t i = 0; i < n; i++) y[i * os] = (int64_t)(s += (uint64_t)x[i * is]);
            break;
        }
        }
    }
}

born_status cpu_cumsum(const born_strided *out, const born_strided *in, int dim) {
    if (in->dtype != BORN_F32 && in->dtype != BORN_F64 && in->dtype != BORN_I64)
        return born_error(BORN_ERR_DTYPE, "cumsum: %s is not supported by the CPU kernel",
                          born_dtype_name(in->dtype));
    cumsum_ctx c = {out, in, dim};
    int64_t rows = in->ndim ? rows_count(in, dim) : 1;
    born_parallel_for(rows, 64, cumsum_rows, &c);
    return BORN_OK;
}
