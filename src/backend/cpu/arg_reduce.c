/* CPU argmax / argmin along one dim: the first index of the extreme value; a NaN counts as the
 * extreme (as torch), so the first NaN wins. */
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/rows.h"
#include "core/scalar.h"

typedef struct arg_ctx {
    const born_strided *out, *in;
    int dim;
    bool is_max;
} arg_ctx;

static void arg_rows(int64_t begin, int64_t end, void *arg) {
    const arg_ctx *c = arg;
    const born_strided *in = c->in;
    size_t isz = born_dtype_size(in->dtype);
    int64_t n = in->ndim ? in->shape[c->dim] : 1;
    int64_t step = in->ndim ? in->strides[c->dim] : 0;
    bool floating = born_dtype_is_floating(in->dtype);
    for (int64_t r = begin; r < end; r++) {
        const char *row = (const char *)in->data + rows_offset(in, c->dim, r) * (int64_t)isz;
        int64_t best = 0;
        if (floating) {
            double bv = scalar_load_f64(row, in->dtype);
            for (int64_t i = 1; i < n && bv == bv; i++) {
                double v = scalar_load_f64(row + i * step * (int64_t)isz, in->dtype);
                if (v != v || (c->is_max ? v > bv : v < bv)) {
                    bv = v;
                    best = i;
                }
            }
        } else {
            int64_t bv = scalar_load_i64(row, in->dtype);
            for (int64_t i = 1; i < n; i++) {
                int64_t v = scalar_load_i64(row + i * step * (int64_t)isz, in->dtype);
                if (c->is_max ? v > bv : v < bv) {
                    bv = v;
                    best = i;
                }
            }
        }
        int64_t *o = (int64_t *)c->out->data + rows_offset(c->out, c->dim, r);
        *o = best;
    }
}

born_status cpu_arg_reduce(bool is_max, const born_strided *out, const born_strided *in, int dim) {
    arg_ctx c = {out, in, dim, is_max};
    int64_t rows = in->ndim ? rows_count(in, dim) : 1;
    born_parallel_for(rows, 256, arg_rows, &c);
    return BORN_OK;
}
