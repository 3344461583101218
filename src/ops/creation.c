/* Creation ops (constant fills, ranges, identity) and the in-place fill and copy. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "core/scalar.h"
#include "ops/op_util.h"

static born_tensor *filled(const char *op, born_dtype dtype, int ndim, const int64_t *shape,
                           double value) {
    if (shape_check(op, ndim, shape, dtype, NULL) != BORN_OK) return NULL;
    born_tensor *t = tensor_new(dtype, ndim, shape, BORN_CPU);
    if (!t) return NULL;
    born_strided s = strided_of(t);
    if (cpu_backend()->fill(&s, value) != BORN_OK) {
        born_free(t);
        return NULL;
    }
    return t;
}

born_tensor *born_zeros(born_dtype dtype, int ndim, const int64_t *shape) {
    return filled("born_zeros", dtype, ndim, shape, 0.0);
}

born_tensor *born_ones(born_dtype dtype, int ndim, const int64_t *shape) {
    return filled("born_ones", dtype, ndim, shape, 1.0);
}

born_tensor *born_full(born_dtype dtype, int ndim, const int64_t *shape, double value) {
    return filled("born_full", dtype, ndim, shape, value);
}

born_tensor *born_scalar(born_dtype dtype, double value) {
    return filled("born_scalar", dtype, 0, NULL, value);
}

/* Like-constructors keep t's device. */
static born_tensor *filled_like(const char *op, const born_tensor *t, double value, bool fill) {
    if (!t) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: input is NULL", op);
        return NULL;
    }
    born_tensor *out = tensor_new(t->dtype, t->ndim, t->shape, t->storage->device);
    if (!out || !fill) return out;
    born_strided s = strided_of(out);
    const born_backend *be = backend_for(t->storage->device);
    if (!be || be->fill(&s, value) != BORN_OK) {
        born_free(out);
        return NULL;
    }
    return out;
}

born_tensor *born_zeros_like(const born_tensor *t) { return filled_like("born_zeros_like", t, 0.0, true); }
born_tensor *born_ones_like(const born_tensor *t) { return filled_like("born_ones_like", t, 1.0, true); }
born_tensor *born_full_like(const born_tensor *t, double v) { return filled_like("born_full_like", t, v, true); }
born_tensor *born_empty_like(const born_tensor *t) { return filled_like("born_empty_like", t, 0.0, false); }

born_tensor *born_arange(double start, double end, double step, born_dtype dtype) {
    if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(end))
        return born_error_null(BORN_ERR_ARGUMENT, "born_arange: start %g, end %g and step %g must "
                               "be finite and step nonzero", start, end, step);
    if ((step > 0 && end < start) || (step < 0 && end > start))
        return born_error_null(BORN_ERR_ARGUMENT, "born_arange: step %g goes away from end "
                               "(start %g, end %g)", step, start, end);
    double count = ceil((end - start) / step);
    if (count > 1e15)
        return born_error_null(BORN_ERR_ARGUMENT, "born_arange: %g elements is too many", count);
    int64_t n = (int64_t)count;
    born_tensor *t = tensor_new(dtype, 1, &n, BORN_CPU);
    if (!t) return NULL;
    char *p = tensor_data(t);
    size_t size = born_dtype_size(dtype);
    for (int64_t i = 0; i < n; i++) scalar_store_f64(p + (size_t)i * size, dtype, start + (double)i * step);
    return t;
}

born_tensor *born_linspace(double start, double end, int64_t steps, born_dtype dtype) {
    if (steps < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "born_linspace: steps = %" PRId64 " < 0", steps);
    born_tensor *t = tensor_new(dtype, 1, &steps, BORN_CPU);
    if (!t) return NULL;
    char *p = tensor_data(t);
    size_t size = born_dtype_size(dtype);
    double step = steps > 1 ? (end - start) / (double)(steps - 1) : 0.0;
    int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; i++) {
        /* torch fills the second half backwards from end, so the last value is exactly end */
        double v = i < half ? start + step * (double)i : end - step * (double)(steps - 1 - i);
        scalar_store_f64(p + (size_t)i * size, dtype, v);
    }
    return t;
}

born_tensor *born_eye(int64_t n, int64_t m, born_dtype dtype) {
    if (n < 0 || m < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "born_eye: negative size %" PRId64 " x %" PRId64, n, m);
    born_tensor *t = born_zeros(dtype, 2, (int64_t[]){n, m});
    if (!t) return NULL;
    char *p = tensor_data(t);
    size_t size = born_dtype_size(dtype);
    for (int64_t i = 0; i < n && i < m; i++) scalar_store_f64(p + (size_t)(i * m + i) * size, dtype, 1.0);
    return t;
}

/* ---- in place ---------------------------------------------------------------------------- */

born_status born_fill_(born_tensor *dst, double value) {
    if (!ops_check_inputs("born_fill_", 1, &dst)) return born_last_status();
    if (!ops_check_inplace("born_fill_", 1, &dst)) return born_last_status();
    const born_backend *be = ops_backend(dst);
    if (!be) return born_last_status();
    born_strided s = strided_of(dst);
    born_status st = be->fill(&s, value);
    if (st == BORN_OK) storage_bump_version(dst->storage);
    return st;
}

born_status born_zero_(born_tensor *dst) { return born_fill_(dst, 0.0); }

born_status born_copy_(born_tensor *dst, born_tensor *src) {
    born_tensor *args[2] = {dst, src};
    if (!ops_check_inputs("born_copy_", 2, args)) return born_last_status();
    if (!ops_check_inplace("born_copy_", 1, &dst)) return born_last_status();
    if (!born_device_equal(dst->storage->device, src->storage->device)) {
        /* across devices: move src first, then copy on dst's device */
        born_tensor *moved = born_to(src, dst->storage->device);
        if (!moved) return born_last_status();
        born_status st = born_copy_(dst, moved);
        born_free(moved);
        return st;
    }
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    if (ops_broadcast_shapes("born_copy_", 2, args, &ndim, shape) != BORN_OK) return born_last_status();
    if (ndim != dst->ndim || memcmp(shape, dst->shape, sizeof(int64_t) * (size_t)ndim) != 0) {
        char a[200], b[200];
        return born_error(BORN_ERR_SHAPE, "born_copy_: source %s does not broadcast to destination %s",
                          ops_describe(src, b, sizeof b), ops_describe(dst, a, sizeof a));
    }
    const born_backend *be = ops_backend(dst);
    if (!be) return born_last_status();
    /* a source overlapping the destination in another layout is copied out first */
    born_tensor *from = ops_partial_overlap(dst, src) ? ops_cast(src, src->dtype) : ops_alias(src);
    if (!from) return born_last_status();
    born_strided d = strided_of(dst), s = strided_broadcast(from, dst->ndim, dst->shape);
    born_status st = be->copy(&d, &s);
    born_free(from);
    if (st == BORN_OK) storage_bump_version(dst->storage);
    return st;
}
