/* Tensor handles: creation of handles over storage, reference counting, properties, shape
 * helpers and element access. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/node.h"
#include "born/autograd.h"
#include "backend/backend.h"
#include "core/error.h"
#include "core/scalar.h"
#include "core/tensor_impl.h"

/* ---- shapes ---------------------------------------------------------------------------- */

int64_t shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void shape_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 1 ? shape[i] : 1;
    }
}

const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t used = 0;
    int n = snprintf(buf, size, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < ndim && used < size; i++) {
        n = snprintf(buf + used, size - used, "%s%" PRId64, i ? ", " : "", shape[i]);
        if (n > 0) used += (size_t)n;
    }
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

born_status shape_check(const char *op_name, int ndim, const int64_t *shape, born_dtype dtype,
                        int64_t *numel) {
    if ((unsigned)dtype >= BORN_DTYPE_COUNT)
        return born_error(BORN_ERR_DTYPE, "%s: invalid dtype %d", op_name, (int)dtype);
    if (ndim < 0 || ndim > BORN_MAX_DIMS)
        return born_error(BORN_ERR_SHAPE, "%s: %d dimensions (Born supports 0 to %d)", op_name,
                          ndim, BORN_MAX_DIMS);
    if (ndim > 0 && !shape)
        return born_error(BORN_ERR_ARGUMENT, "%s: shape is NULL for %d dimensions", op_name, ndim);
    /* n counts the elements; span multiplies the nonzero sizes, which bounds every stride, so
     * a shape like [0, 2^62, 2^62] (no elements, but unrepresentable strides) is refused too */
    int64_t n = 1, span = 1;
    const int64_t limit = INT64_MAX / 16;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            char s[160];
            return born_error(BORN_ERR_SHAPE, "%s: negative size %" PRId64 " in shape %s",
                              op_name, shape[i], shape_str(ndim, shape, s, sizeof s));
        }
        if (shape[i] > 1 && span > limit / shape[i]) {
            char s[160];
            return born_error(BORN_ERR_SHAPE, "%s: shape %s has too many elements", op_name,
                              shape_str(ndim, shape, s, sizeof s));
        }
        if (shape[i] > 1) span *= shape[i];
        n *= shape[i];
    }
    int64_t block = born_dtype_block_size(dtype);
    if (block > 1 && (ndim == 0 || shape[ndim - 1] % block != 0)) {
        char s[160];
        return born_error(BORN_ERR_SHAPE, "%s: a %s tensor stores blocks of %" PRId64 " elements "
                          "along its last dimension, so shape %s does not fit", op_name,
                          born_dtype_name(dtype), block, shape_str(ndim, shape, s, sizeof s));
    }
    if (numel) *numel = n;
    return BORN_OK;
}

int dim_normalize(const char *op_name, int dim, int ndim) {
    int lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
    if (dim < lo || dim > hi) {
        born_error(BORN_ERR_ARGUMENT, "%s: dimension %d out of range for a %d-dimensional tensor "
                   "(expected %d to %d)", op_name, dim, ndim, lo, hi);
        return -1;
    }
    return dim < 0 ? dim + (ndim > 0 ? ndim : 1) : dim;
}

/* ---- handles --------------------------------------------------------------------------- */

born_tensor *tensor_wrap_storage(born_storage *s, born_dtype dtype, int ndim,
                                 const int64_t *shape, const int64_t *strides, int64_t offset) {
    born_tensor *t = calloc(1, sizeof *t);
    if (!t) return born_error_null(BORN_ERR_MEMORY, "out of memory allocating a tensor handle");
    atomic_init(&t->refcount, 1);
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim > 0) {
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
        if (strides)
            memcpy(t->strides, strides, (size_t)ndim * sizeof *strides);
        else
            shape_contiguous_strides(ndim, shape, t->strides);
    }
    t->offset = offset;
    storage_retain(s);
    t->storage = s;
    t->scope_depth = -1;
    scope_register(t);
    return t;
}

born_tensor *tensor_new(born_dtype dtype, int ndim, const int64_t *shape, born_device device) {
    int64_t numel = 0;
    if (shape_check("born_empty", ndim, shape, dtype, &numel) != BORN_OK) return NULL;
    born_ensure_init();
    born_storage *s = storage_new(device, born_dtype_nbytes(dtype, numel));
    if (!s) return NULL;
    born_tensor *t = tensor_wrap_storage(s, dtype, ndim, shape, NULL, 0);
    storage_release(s);
    return t;
}

born_tensor *tensor_new_view(born_tensor *base, born_dtype dtype, int ndim, const int64_t *shape,
                             const int64_t *strides, int64_t offset) {
    return tensor_wrap_storage(base->storage, dtype, ndim, shape, strides, offset);
}

static void tensor_destroy(born_tensor *t) {
    if (t->grad) tensor_release(t->grad);
    if (t->grad_fn) node_release(t->grad_fn);
    storage_release(t->storage);
    free(t);
}

born_tensor *born_tensor_retain(born_tensor *t) {
    if (t) atomic_fetch_add_explicit(&t->refcount, 1, memory_order_relaxed);
    return t;
}

/* Drops one reference without touching scopes. */
void tensor_release(born_tensor *t) {
    if (t && atomic_fetch_sub_explicit(&t->refcount, 1, memory_order_acq_rel) == 1)
        tensor_destroy(t);
}

/* ---- properties ------------------------------------------------------------------------ */

born_dtype born_tensor_dtype(const born_tensor *t) { return t->dtype; }
born_device born_tensor_device(const born_tensor *t) { return t->storage->device; }
int born_tensor_ndim(const born_tensor *t) { return t->ndim; }
const int64_t *born_tensor_shape(const born_tensor *t) { return t->shape; }
const int64_t *born_tensor_strides(const born_tensor *t) { return t->strides; }
int64_t born_tensor_offset(const born_tensor *t) { return t->offset; }
int64_t born_tensor_numel(const born_tensor *t) { return shape_numel(t->ndim, t->shape); }

int64_t born_tensor_size(const born_tensor *t, int dim) {
    int d = dim_normalize("born_tensor_size", dim, t->ndim);
    if (d < 0) return -1;
    return t->ndim == 0 ? 1 : t->shape[d];
}

bool born_tensor_is_contiguous(const born_tensor *t) {
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 1) continue;
        if (t->shape[i] == 0) return true;
        if (t->strides[i] != expected) return false;
        expected *= t->shape[i];
    }
    return true;
}

bool born_tensor_shares_storage(const born_tensor *a, const born_tensor *b) {
    return a && b && a->storage == b->storage;
}

const char *born_tensor_describe(const born_tensor *t, char *buf, size_t size) {
    char s[160];
    shape_str(t->ndim, t->shape, s, sizeof s);
    if (t->storage->device.type == BORN_DEVICE_CPU) {
        snprintf(buf, size, "%s %s", s, born_dtype_name(t->dtype));
    } else {
        char d[32];
        snprintf(buf, size, "%s %s on %s", s, born_dtype_name(t->dtype),
                 born_device_name(t->storage->device, d, sizeof d));
    }
    return buf;
}

/* ---- creation from memory -------------------------------------------------------------- */

born_tensor *born_empty(born_dtype dtype, int ndim, const int64_t *shape) {
    return tensor_new(dtype, ndim, shape, BORN_CPU);
}

born_tensor *born_from_data(born_dtype dtype, int ndim, const int64_t *shape, const void *data,
                            size_t nbytes) {
    int64_t numel = 0;
    if (shape_check("born_from_data", ndim, shape, dtype, &numel) != BORN_OK) return NULL;
    size_t want = born_dtype_nbytes(dtype, numel);
    if (nbytes != want)
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_from_data: buffer has %zu bytes, but %" PRId64
                               " elements of %s need %zu",
                               nbytes, numel, born_dtype_name(dtype), want);
    if (!data && want)
        return born_error_null(BORN_ERR_ARGUMENT, "born_from_data: data is NULL");
    born_tensor *t = tensor_new(dtype, ndim, shape, BORN_CPU);
    if (t && want) memcpy(tensor_data(t), data, want);
    return t;
}

born_tensor *born_from_buffer(born_dtype dtype, int ndim, const int64_t *shape, void *data,
                              size_t nbytes, born_release_fn release, void *ctx) {
    int64_t numel = 0;
    if (shape_check("born_from_buffer", ndim, shape, dtype, &numel) != BORN_OK) return NULL;
    size_t want = born_dtype_nbytes(dtype, numel);
    if (nbytes != want)
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_from_buffer: buffer has %zu bytes, but %" PRId64
                               " elements of %s need %zu",
                               nbytes, numel, born_dtype_name(dtype), want);
    if (!data) return born_error_null(BORN_ERR_ARGUMENT, "born_from_buffer: data is NULL");
    /* blocks are read field by field, so 2-byte alignment (their f16 scales) is enough */
    size_t align = born_dtype_is_quantized(dtype) ? 2 : born_dtype_size(dtype);
    if ((uintptr_t)data % align != 0)
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_from_buffer: data is not aligned to %zu bytes for %s",
                               align, born_dtype_name(dtype));
    born_ensure_init();
    born_storage *s = storage_borrow(BORN_CPU, data, nbytes, release, ctx);
    if (!s) return NULL;
    born_tensor *t = tensor_wrap_storage(s, dtype, ndim, shape, NULL, 0);
    if (!t) s->release = NULL; /* on failure the buffer stays the caller's: no callback */
    storage_release(s);
    return t;
}

/* ---- element access -------------------------------------------------------------------- */

static born_status locate(const char *op, const born_tensor *t, const int64_t *index,
                          char **where) {
    if (!t) return born_error(BORN_ERR_ARGUMENT, "%s: tensor is NULL", op);
    if (born_dtype_is_quantized(t->dtype))
        return born_error(BORN_ERR_DTYPE, "%s: elements of a %s tensor are not addressable; "
                          "dequantize with born_to_dtype", op, born_dtype_name(t->dtype));
    if (t->storage->device.type != BORN_DEVICE_CPU)
        return born_error(BORN_ERR_DEVICE, "%s: tensor is not on the CPU (use born_to)", op);
    if (t->ndim > 0 && !index) return born_error(BORN_ERR_ARGUMENT, "%s: index is NULL", op);
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) {
        int64_t k = index[i] < 0 ? index[i] + t->shape[i] : index[i];
        if (k < 0 || k >= t->shape[i])
            return born_error(BORN_ERR_ARGUMENT,
                              "%s: index %" PRId64 " out of range for dimension %d of size %" PRId64,
                              op, index[i], i, t->shape[i]);
        off += k * t->strides[i];
    }
    *where = (char *)tensor_data(t) + off * (int64_t)born_dtype_size(t->dtype);
    return BORN_OK;
}

born_status born_get(const born_tensor *t, const int64_t *index, double *value) {
    char *p;
    born_status st = locate("born_get", t, index, &p);
    if (st == BORN_OK && value) *value = scalar_load_f64(p, t->dtype);
    return st;
}

born_status born_get_i64(const born_tensor *t, const int64_t *index, int64_t *value) {
    char *p;
    born_status st = locate("born_get_i64", t, index, &p);
    if (st == BORN_OK && value) *value = scalar_load_i64(p, t->dtype);
    return st;
}

born_status born_set(born_tensor *t, const int64_t *index, double value) {
    char *p;
    born_status st = locate("born_set", t, index, &p);
    if (st != BORN_OK) return st;
    if (born_is_grad_enabled() && born_tensor_requires_grad(t))
        return born_error(BORN_ERR_AUTOGRAD,
                          "born_set: in-place write to a tensor that requires grad "
                          "(wrap it in born_no_grad_begin/end)");
    scalar_store_f64(p, t->dtype, value);
    storage_bump_version(t->storage);
    return BORN_OK;
}

double born_item(const born_tensor *t) {
    if (!t) {
        born_error(BORN_ERR_ARGUMENT, "born_item: tensor is NULL");
        return NAN;
    }
    if (born_tensor_numel(t) != 1) {
        char d[200];
        born_error(BORN_ERR_SHAPE, "born_item: a tensor of %s has %" PRId64
                   " elements, not exactly one", born_tensor_describe(t, d, sizeof d),
                   born_tensor_numel(t));
        return NAN;
    }
    int64_t zeros[BORN_MAX_DIMS] = {0};
    double v = NAN;
    if (t->storage->device.type != BORN_DEVICE_CPU) {
        /* torch's .item(): the one element comes back from the device (waiting for it) */
        born_no_grad_begin();
        born_scope_begin();
        born_tensor *host = born_to((born_tensor *)t, BORN_CPU);
        if (host) born_get(host, zeros, &v);
        born_scope_end();
        born_no_grad_end();
        return v;
    }
    born_get(t, zeros, &v);
    return v;
}

born_status born_copy_to_buffer(const born_tensor *t, void *buf, size_t nbytes) {
    if (!t) return born_error(BORN_ERR_ARGUMENT, "born_copy_to_buffer: tensor is NULL");
    size_t want = born_dtype_nbytes(t->dtype, born_tensor_numel(t));
    if (nbytes != want)
        return born_error(BORN_ERR_ARGUMENT,
                          "born_copy_to_buffer: buffer has %zu bytes, the tensor needs %zu",
                          nbytes, want);
    if (!buf && want) return born_error(BORN_ERR_ARGUMENT, "born_copy_to_buffer: buf is NULL");
    if (!want) return BORN_OK;
    const born_backend *be = backend_for(t->storage->device);
    if (!be) return born_last_status();
    if (born_dtype_is_quantized(t->dtype)) { /* blocks are copied as bytes */
        if (!born_tensor_is_contiguous(t))
            return born_error(BORN_ERR_ARGUMENT, "born_copy_to_buffer: a non-contiguous %s "
                              "tensor (copy it with born_contiguous first)", born_dtype_name(t->dtype));
        return be->download(t->storage->device.index, buf, tensor_data(t), want);
    }
    /* gather into a contiguous host buffer through the backend's strided copy */
    born_strided src = strided_of(t);
    if (t->storage->device.type == BORN_DEVICE_CPU) {
        /* kernels store whole elements: an unaligned buffer is filled through an aligned one */
        bool aligned = (uintptr_t)buf % born_dtype_size(t->dtype) == 0;
        void *target = aligned ? buf : malloc(want);
        if (!target) return born_error(BORN_ERR_MEMORY, "born_copy_to_buffer: out of memory");
        born_strided dst = src;
        dst.data = target;
        shape_contiguous_strides(t->ndim, t->shape, dst.strides);
        born_status st = be->copy(&dst, &src);
        if (!aligned) {
            if (st == BORN_OK) memcpy(buf, target, want);
            free(target);
        }
        return st;
    }
    born_storage *tmp = storage_new(t->storage->device, want);
    if (!tmp) return born_last_status();
    born_strided dst = src;
    dst.data = tmp->data;
    shape_contiguous_strides(t->ndim, t->shape, dst.strides);
    born_status st = be->copy(&dst, &src);
    if (st == BORN_OK) st = be->download(t->storage->device.index, buf, tmp->data, want);
    storage_release(tmp);
    return st;
}

static void *typed_data(born_tensor *t, born_dtype want, const char *fn) {
    if (!t) return born_error_null(BORN_ERR_ARGUMENT, "%s: tensor is NULL", fn);
    if (t->dtype != want)
        return born_error_null(BORN_ERR_DTYPE, "%s: tensor is %s, not %s", fn,
                               born_dtype_name(t->dtype), born_dtype_name(want));
    if (t->storage->device.type != BORN_DEVICE_CPU)
        return born_error_null(BORN_ERR_DEVICE, "%s: tensor is not on the CPU", fn);
    if (!born_tensor_is_contiguous(t))
        return born_error_null(BORN_ERR_ARGUMENT,
                               "%s: tensor is not contiguous (use born_contiguous)", fn);
    return tensor_data(t);
}

float *born_data_f32(born_tensor *t) { return typed_data(t, BORN_F32, "born_data_f32"); }
double *born_data_f64(born_tensor *t) { return typed_data(t, BORN_F64, "born_data_f64"); }
int32_t *born_data_i32(born_tensor *t) { return typed_data(t, BORN_I32, "born_data_i32"); }
int64_t *born_data_i64(born_tensor *t) { return typed_data(t, BORN_I64, "born_data_i64"); }
uint8_t *born_data_u8(born_tensor *t) { return typed_data(t, BORN_U8, "born_data_u8"); }

void *born_data_ptr(born_tensor *t) {
    if (!t || t->storage->device.type != BORN_DEVICE_CPU) return NULL;
    return tensor_data(t);
}
