/* Shared checks and helpers for the ops layer. */
#include <inttypes.h>
#include <string.h>

#include "ops/op_util.h"

bool ops_check_inputs_any(const char *op, int n, born_tensor *const *ts) {
    for (int i = 0; i < n; i++) {
        if (ts[i]) continue;
        if (!born_has_error()) {
            if (n == 1)
                born_error(BORN_ERR_ARGUMENT, "%s: input is NULL", op);
            else
                born_error(BORN_ERR_ARGUMENT, "%s: input %d is NULL", op, i);
        }
        return false;
    }
    return true;
}

bool ops_check_inputs(const char *op, int n, born_tensor *const *ts) {
    if (!ops_check_inputs_any(op, n, ts)) return false;
    for (int i = 0; i < n; i++) {
        if (!born_dtype_is_quantized(ts[i]->dtype)) continue;
        born_error(BORN_ERR_DTYPE, "%s: %s is a quantized dtype, which only born_to_dtype, "
                   "born_linear/born_matmul (as the weight), born_embedding and row views accept; "
                   "dequantize it with born_to_dtype first", op, born_dtype_name(ts[i]->dtype));
        return false;
    }
    return true;
}

born_strided ops_bytes_view(const born_tensor *t) {
    born_strided v = strided_of(t);
    v.dtype = BORN_U8;
    if (born_dtype_is_quantized(t->dtype) && t->ndim > 0) {
        int64_t block = born_dtype_block_size(t->dtype);
        int64_t bytes = (int64_t)born_dtype_block_bytes(t->dtype);
        for (int d = 0; d < t->ndim - 1; d++) v.strides[d] = t->strides[d] / block * bytes;
        v.shape[t->ndim - 1] = t->shape[t->ndim - 1] / block * bytes;
        v.strides[t->ndim - 1] = 1;
    }
    return v;
}

bool ops_check_device(const char *op, int n, born_tensor *const *ts, born_device *device) {
    const born_tensor *first = NULL;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) continue;
        if (!first) {
            first = ts[i];
            continue;
        }
        if (!born_device_equal(first->storage->device, ts[i]->storage->device)) {
            char a[32], b[32];
            born_error(BORN_ERR_DEVICE, "%s: inputs are on different devices (%s and %s); move "
                       "them with born_to", op, born_device_name(first->storage->device, a, sizeof a),
                       born_device_name(ts[i]->storage->device, b, sizeof b));
            return false;
        }
    }
    if (device) *device = first ? first->storage->device : BORN_CPU;
    return true;
}

const born_backend *ops_backend(born_tensor *t) { return backend_for(t->storage->device); }

/* torch's combine_categories: a lower-priority group can only raise the category. */
static int category(born_dtype d) {
    if (d == BORN_BOOL) return 0;
    return born_dtype_is_integer(d) ? 1 : 2;
}

static born_dtype combine(born_dtype higher, bool has_higher, born_dtype lower, bool has_lower) {
    if (!has_higher) return lower;
    if (!has_lower) return higher;
    if (category(higher) == 2) return higher;
    if (higher == BORN_BOOL || category(lower) == 2) return born_promote_types(higher, lower);
    return higher;
}

born_dtype ops_result_type(int n, born_tensor *const *ts) {
    born_dtype dim_t = BORN_BOOL, zero_t = BORN_BOOL;
    bool has_dim = false, has_zero = false;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) continue;
        if (ts[i]->ndim > 0) {
            dim_t = has_dim ? born_promote_types(dim_t, ts[i]->dtype) : ts[i]->dtype;
            has_dim = true;
        } else {
            zero_t = has_zero ? born_promote_types(zero_t, ts[i]->dtype) : ts[i]->dtype;
            has_zero = true;
        }
    }
    return combine(dim_t, has_dim, zero_t, has_zero);
}

born_dtype ops_result_type_float_scalar(born_dtype t) {
    return born_dtype_is_floating(t) ? t : BORN_F32;
}

const char *ops_describe(const born_tensor *t, char *buf, size_t size) {
    return born_tensor_describe(t, buf, size);
}

born_status ops_broadcast_shapes(const char *op, int n, born_tensor *const *ts, int *ndim,
                                 int64_t *shape) {
    int nd = 0;
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->ndim > nd) nd = ts[i]->ndim;
    for (int d = 0; d < nd; d++) shape[d] = 1;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) continue;
        int lead = nd - ts[i]->ndim;
        for (int d = 0; d < ts[i]->ndim; d++) {
            int64_t s = ts[i]->shape[d], *o = &shape[lead + d];
            if (s == *o || s == 1) continue;
            if (*o == 1) {
                *o = s;
                continue;
            }
            /* find a tensor that disagrees, for the message */
            char msg[600];
            size_t used = 0;
            for (int k = 0; k < n && used < sizeof msg; k++) {
                if (!ts[k]) continue;
                char d1[200];
                int w = snprintf(msg + used, sizeof msg - used, "%s%s", used ? " and " : "",
                                 ops_describe(ts[k], d1, sizeof d1));
                if (w > 0) used += (size_t)w;
            }
            return born_error(BORN_ERR_SHAPE, "%s: %s: shapes cannot be broadcast (size %" PRId64
                              " vs %" PRId64 " at dimension %d of the result)", op, msg, *o, s,
                              lead + d);
        }
    }
    *ndim = nd;
    return BORN_OK;
}

born_tensor *ops_empty(born_dtype dtype, int ndim, const int64_t *shape, born_device device) {
    return tensor_new(dtype, ndim, shape, device);
}

born_tensor *ops_scalar_on(born_dtype dtype, double value, born_device device) {
    born_tensor *t = tensor_new(dtype, 0, NULL, device);
    if (!t) return NULL;
    born_strided s = strided_of(t);
    if (ops_backend(t)->fill(&s, value) != BORN_OK) {
        born_free(t);
        return NULL;
    }
    return t;
}

born_tensor *ops_cast(born_tensor *t, born_dtype dtype) {
    const born_backend *be = ops_backend(t);
    if (!be) return NULL;
    born_tensor *out = tensor_new(dtype, t->ndim, t->shape, t->storage->device);
    if (!out) return NULL;
    /* a quantized copy moves whole rows of blocks as bytes */
    bool raw = born_dtype_is_quantized(t->dtype) && dtype == t->dtype;
    born_strided d = raw ? ops_bytes_view(out) : strided_of(out);
    born_strided s = raw ? ops_bytes_view(t) : strided_of(t);
    if (be->copy(&d, &s) != BORN_OK) {
        born_free(out);
        return NULL;
    }
    return out;
}

born_tensor *ops_alias(born_tensor *t) {
    return tensor_new_view(t, t->dtype, t->ndim, t->shape, t->strides, t->offset);
}

born_tensor *ops_as_dtype(born_tensor *t, born_dtype dtype) {
    if (t->dtype == dtype) return ops_alias(t);
    return ops_cast(t, dtype);
}

born_tensor *ops_as_dtype_in_place_order(born_tensor *t, born_dtype dtype) {
    if (t->dtype == dtype) return ops_alias(t);
    born_strided src = strided_of(t);
    int64_t count;
    if (born_tensor_is_contiguous(t) || born_dtype_is_quantized(t->dtype) ||
        born_dtype_is_quantized(dtype) || !strided_dense(&src, false, &count))
        return ops_cast(t, dtype);
    const born_backend *be = ops_backend(t);
    if (!be) return NULL;
    born_tensor *mem = tensor_new(dtype, 1, &count, t->storage->device);
    if (!mem) return NULL;
    /* t's strides, counted from its first element (dense: the smallest address is element 0) */
    born_tensor *out = tensor_new_view(mem, dtype, t->ndim, t->shape, t->strides, 0);
    born_free(mem);
    if (!out) return NULL;
    born_strided d = strided_of(out);
    if (be->copy(&d, &src) != BORN_OK) {
        born_free(out);
        return NULL;
    }
    return out;
}

born_tensor *ops_as_contiguous(born_tensor *t) {
    if (born_tensor_is_contiguous(t)) return ops_alias(t);
    return ops_cast(t, t->dtype);
}

born_tensor *ops_reshape_rows(born_tensor *t) {
    if (!t) return NULL;
    int64_t rows = 1, last = t->ndim ? t->shape[t->ndim - 1] : 1;
    for (int d = 0; d + 1 < t->ndim; d++) rows *= t->shape[d];
    return born_reshape(t, BORN_DIMS(rows, last));
}

bool ops_check_inplace(const char *op, int n, born_tensor *const *ts) {
    if (!born_is_grad_enabled()) return true;
    for (int i = 0; i < n; i++) {
        if (ts[i] && ts[i]->requires_grad) {
            born_error(BORN_ERR_AUTOGRAD, "%s: writes in place but an argument requires grad; "
                       "wrap the update in born_no_grad_begin/end", op);
            return false;
        }
    }
    return true;
}

bool ops_dims_mask(const char *op, const born_tensor *t, int ndims, const int64_t *dims,
                   uint32_t *mask) {
    if (ndims < 0 || (ndims > 0 && !dims)) {
        born_error(BORN_ERR_ARGUMENT, "%s: bad dimension list", op);
        return false;
    }
    if (ndims == 0) {
        *mask = t->ndim == 0 ? 0u : (uint32_t)((1u << t->ndim) - 1u);
        return true;
    }
    uint32_t m = 0;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] < INT32_MIN || dims[i] > INT32_MAX) {
            born_error(BORN_ERR_ARGUMENT, "%s: dimension %" PRId64 " out of range", op, dims[i]);
            return false;
        }
        int d = dim_normalize(op, (int)dims[i], t->ndim);
        if (d < 0) return false;
        if (t->ndim == 0) continue;
        if (m & (1u << d)) {
            born_error(BORN_ERR_ARGUMENT, "%s: dimension %d appears twice in the list", op, d);
            return false;
        }
        m |= 1u << d;
    }
    *mask = m;
    return true;
}

int ops_reduced_shape(const born_tensor *t, uint32_t mask, bool keepdim, int64_t *shape) {
    int nd = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (mask & (1u << d)) {
            if (keepdim) shape[nd++] = 1;
        } else {
            shape[nd++] = t->shape[d];
        }
    }
    return nd;
}

bool ops_partial_overlap(const born_tensor *out, const born_tensor *in) {
    if (out->storage != in->storage) return false;
    if (out->offset != in->offset || out->ndim != in->ndim || out->dtype != in->dtype) return true;
    for (int d = 0; d < out->ndim; d++)
        if (out->shape[d] != in->shape[d] || (out->shape[d] > 1 && out->strides[d] != in->strides[d]))
            return true;
    return false;
}
