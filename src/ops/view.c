/* View ops (new geometry over the same storage) and the copies that stand in for views when the
 * strides cannot express them: reshape, contiguous, clone, dtype and device conversion. Each
 * records a node whose rule maps the gradient back to the input's geometry. */
#include <inttypes.h>
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"

/* ---- shared rules -------------------------------------------------------------------------- */

/* Gradient of any reshaping view: the gradient reshaped to the input's shape. */
static born_status reshape_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const node_edge *e = &n->inputs[0];
    gi[0] = born_reshape(g, e->ndim, e->shape);
    return BORN_OK;
}

/* Gradient of an op that keeps shape and only copies or converts: g itself (the engine converts
 * the dtype), or g moved back to the input's device. */
static born_status identity_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    born_device dev;
    memcpy(&dev, node_params(n), sizeof dev);
    gi[0] = born_device_equal(dev, g->storage->device) ? g : born_to(g, dev);
    return BORN_OK;
}

/* Records `name` with the given rule on out; on failure frees out and returns NULL. */
static born_tensor *record(born_tensor *out, born_tensor *in, const char *name,
                           node_backward_fn rule, const void *params, size_t size) {
    if (!out) return NULL;
    if (!autograd_record(out, name, rule, 1, &in, 0, NULL, params, size)) {
        born_free(out);
        return NULL;
    }
    return out;
}

static born_tensor *record_identity(born_tensor *out, born_tensor *in, const char *name) {
    born_device dev = in->storage->device;
    return record(out, in, name, identity_backward, &dev, sizeof dev);
}

/* ---- quantized tensors ----------------------------------------------------------------------- */

/* Views of block-quantized tensors must keep rows of blocks whole: nothing may cut the last
 * dimension. False with an error naming op otherwise. */
static bool quantized_row_view_ok(const char *op, const born_tensor *t, int dim) {
    if (!born_dtype_is_quantized(t->dtype) || dim != t->ndim - 1) return true;
    born_error(BORN_ERR_DTYPE, "%s: cannot cut the last dimension of a %s tensor, whose rows are "
               "stored in blocks of %lld", op, born_dtype_name(t->dtype),
               (long long)born_dtype_block_size(t->dtype));
    return false;
}

/* A transposed quantized tensor (its rows of blocks no longer along the last dimension) is only
 * an operand of born_matmul; other ops that take quantized tensors need whole rows last. */
static bool quantized_rows_ok(const char *op, const born_tensor *t) {
    if (!born_dtype_is_quantized(t->dtype) || t->ndim == 0 || t->strides[t->ndim - 1] == 1)
        return true;
    char d[200];
    born_error(BORN_ERR_DTYPE, "%s: %s is a transposed view of a %s tensor, whose rows of blocks "
               "no longer lie along the last dimension; only born_matmul takes it (as the right "
               "operand): transpose it back first", op, ops_describe(t, d, sizeof d),
               born_dtype_name(t->dtype));
    return false;
}

/* A new shape for a quantized tensor keeps it contiguous and its last size a multiple of the
 * block. */
static bool quantized_shape_ok(const char *op, const born_tensor *t, int ndim, const int64_t *shape) {
    if (!born_dtype_is_quantized(t->dtype)) return true;
    int64_t block = born_dtype_block_size(t->dtype);
    if (born_tensor_is_contiguous(t) && ndim > 0 && shape[ndim - 1] % block == 0) return true;
    char d[200], sh[160];
    born_error(BORN_ERR_DTYPE, "%s: %s cannot be viewed as %s: a %s tensor must stay contiguous "
               "with its last size a multiple of %lld", op, ops_describe(t, d, sizeof d),
               shape_str(ndim, shape, sh, sizeof sh), born_dtype_name(t->dtype), (long long)block);
    return false;
}

/* ---- view and reshape ---------------------------------------------------------------------- */

/* Resolves one -1 in shape against numel; false with an error if impossible. */
static bool infer_shape(const char *op, const born_tensor *t, int ndim, const int64_t *shape,
                        int64_t *out) {
    if (ndim < 0 || ndim > BORN_MAX_DIMS || (ndim > 0 && !shape)) {
        born_error(BORN_ERR_SHAPE, "%s: bad shape (%d dimensions)", op, ndim);
        return false;
    }
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1) {
            if (infer >= 0) {
                born_error(BORN_ERR_SHAPE, "%s: only one size may be -1", op);
                return false;
            }
            infer = i;
            continue;
        }
        if (shape[i] < 0) {
            born_error(BORN_ERR_SHAPE, "%s: invalid size %" PRId64 " at dimension %d", op, shape[i], i);
            return false;
        }
        known *= shape[i];
        out[i] = shape[i];
    }
    int64_t numel = born_tensor_numel(t);
    char d[200], s[160];
    if (infer >= 0) {
        if (known == 0 || numel % known != 0) {
            born_error(BORN_ERR_SHAPE, "%s: cannot view %s as shape %s", op,
                       ops_describe(t, d, sizeof d), shape_str(ndim, shape, s, sizeof s));
            return false;
        }
        out[infer] = numel / known;
        known = numel;
    }
    if (known != numel) {
        born_error(BORN_ERR_SHAPE, "%s: shape %s has %" PRId64 " elements but the tensor %s has %"
                   PRId64, op, shape_str(ndim, shape, s, sizeof s), known,
                   ops_describe(t, d, sizeof d), numel);
        return false;
    }
    return true;
}

/* Strides that let t's data be seen with new_shape, if any exist (PyTorch's rule: every run of
 * merged or split dimensions must be contiguous within itself). */
static bool view_strides(const born_tensor *t, int nd, const int64_t *shape, int64_t *strides) {
    if (born_tensor_is_contiguous(t) || born_tensor_numel(t) <= 1) {
        shape_contiguous_strides(nd, shape, strides);
        return true;
    }
    int view_d = nd - 1;
    int64_t chunk_base = t->strides[t->ndim - 1], tensor_numel = 1, view_numel = 1;
    for (int td = t->ndim - 1; td >= 0; td--) {
        tensor_numel *= t->shape[td];
        if (td == 0 || (t->shape[td - 1] != 1 && t->strides[td - 1] != tensor_numel * chunk_base)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                strides[view_d] = view_numel * chunk_base;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (td > 0) {
                chunk_base = t->strides[td - 1];
                tensor_numel = view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

born_tensor *born_view(born_tensor *t, int ndim, const int64_t *shape) {
    if (!ops_check_inputs_any("born_view", 1, &t)) return NULL;
    int64_t s[BORN_MAX_DIMS], st[BORN_MAX_DIMS];
    if (!infer_shape("born_view", t, ndim, shape, s)) return NULL;
    if (!quantized_shape_ok("born_view", t, ndim, s)) return NULL;
    if (!view_strides(t, ndim, s, st)) {
        char d[200], sh[160];
        return born_error_null(BORN_ERR_SHAPE, "born_view: %s with strides that cannot be viewed "
                               "as %s (use born_reshape)", ops_describe(t, d, sizeof d),
                               shape_str(ndim, s, sh, sizeof sh));
    }
    born_tensor *out = tensor_new_view(t, t->dtype, ndim, s, st, t->offset);
    return record(out, t, "ViewBackward", reshape_backward, NULL, 0);
}

born_tensor *born_reshape(born_tensor *t, int ndim, const int64_t *shape) {
    if (!ops_check_inputs_any("born_reshape", 1, &t)) return NULL;
    int64_t s[BORN_MAX_DIMS], st[BORN_MAX_DIMS];
    if (!infer_shape("born_reshape", t, ndim, shape, s)) return NULL;
    if (!quantized_shape_ok("born_reshape", t, ndim, s)) return NULL;
    born_tensor *out;
    if (view_strides(t, ndim, s, st)) {
        out = tensor_new_view(t, t->dtype, ndim, s, st, t->offset);
    } else {
        born_tensor *c = ops_cast(t, t->dtype);
        if (!c) return NULL;
        out = tensor_new_view(c, c->dtype, ndim, s, NULL, 0);
        born_free(c);
    }
    return record(out, t, "ReshapeBackward", reshape_backward, NULL, 0);
}

born_tensor *born_flatten(born_tensor *t, int start_dim, int end_dim) {
    if (!ops_check_inputs("born_flatten", 1, &t)) return NULL;
    if (t->ndim == 0) return born_reshape(t, 1, (int64_t[]){1});
    int s = dim_normalize("born_flatten", start_dim, t->ndim);
    int e = dim_normalize("born_flatten", end_dim, t->ndim);
    if (s < 0 || e < 0) return NULL;
    if (s > e)
        return born_error_null(BORN_ERR_ARGUMENT, "born_flatten: start_dim %d comes after end_dim %d",
                               start_dim, end_dim);
    int64_t shape[BORN_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < s; d++) shape[nd++] = t->shape[d];
    int64_t merged = 1;
    for (int d = s; d <= e; d++) merged *= t->shape[d];
    shape[nd++] = merged;
    for (int d = e + 1; d < t->ndim; d++) shape[nd++] = t->shape[d];
    return born_reshape(t, nd, shape);
}

born_tensor *born_squeeze(born_tensor *t, int dim) {
    if (!ops_check_inputs("born_squeeze", 1, &t)) return NULL;
    int d = dim_normalize("born_squeeze", dim, t->ndim);
    if (d < 0) return NULL;
    int64_t shape[BORN_MAX_DIMS], strides[BORN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i == d && t->shape[i] == 1) continue;
        shape[nd] = t->shape[i];
        strides[nd++] = t->strides[i];
    }
    born_tensor *out = tensor_new_view(t, t->dtype, nd, shape, strides, t->offset);
    return record(out, t, "SqueezeBackward", reshape_backward, NULL, 0);
}

born_tensor *born_squeeze_all(born_tensor *t) {
    if (!ops_check_inputs("born_squeeze_all", 1, &t)) return NULL;
    int64_t shape[BORN_MAX_DIMS], strides[BORN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] == 1) continue;
        shape[nd] = t->shape[i];
        strides[nd++] = t->strides[i];
    }
    born_tensor *out = tensor_new_view(t, t->dtype, nd, shape, strides, t->offset);
    return record(out, t, "SqueezeBackward", reshape_backward, NULL, 0);
}

born_tensor *born_unsqueeze(born_tensor *t, int dim) {
    if (!ops_check_inputs("born_unsqueeze", 1, &t)) return NULL;
    if (t->ndim == BORN_MAX_DIMS)
        return born_error_null(BORN_ERR_SHAPE, "born_unsqueeze: the tensor already has %d "
                               "dimensions", BORN_MAX_DIMS);
    int d = dim_normalize("born_unsqueeze", dim, t->ndim + 1);
    if (d < 0) return NULL;
    int64_t shape[BORN_MAX_DIMS], strides[BORN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i <= t->ndim; i++) {
        if (i == d) {
            shape[nd] = 1;
            strides[nd++] = i < t->ndim ? t->shape[i] * t->strides[i] : 1;
        }
        if (i < t->ndim) {
            shape[nd] = t->shape[i];
            strides[nd++] = t->strides[i];
        }
    }
    born_tensor *out = tensor_new_view(t, t->dtype, nd, shape, strides, t->offset);
    return record(out, t, "UnsqueezeBackward", reshape_backward, NULL, 0);
}

/* ---- permute and transpose ----------------------------------------------------------------- */

typedef struct permute_params {
    int ndim;
    int64_t inverse[BORN_MAX_DIMS];
} permute_params;

static born_status permute_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const permute_params *p = node_params(n);
    gi[0] = born_permute(g, p->ndim, p->inverse);
    return BORN_OK;
}

born_tensor *born_permute(born_tensor *t, int ndim, const int64_t *dims) {
    if (!ops_check_inputs_any("born_permute", 1, &t)) return NULL; /* views of quantized too */
    if (ndim != t->ndim || (ndim > 0 && !dims))
        return born_error_null(BORN_ERR_ARGUMENT, "born_permute: %d dimensions given for a "
                               "%d-dimensional tensor", ndim, t->ndim);
    permute_params p = {ndim, {0}};
    int64_t shape[BORN_MAX_DIMS], strides[BORN_MAX_DIMS];
    bool seen[BORN_MAX_DIMS] = {false};
    for (int i = 0; i < ndim; i++) {
        int d = dims[i] >= -ndim && dims[i] < ndim ? dim_normalize("born_permute", (int)dims[i], ndim) : -1;
        if (d < 0 || seen[d])
            return born_error_null(BORN_ERR_ARGUMENT, "born_permute: dims is not a permutation of "
                                   "0..%d (entry %d is %" PRId64 ")", ndim - 1, i, dims[i]);
        seen[d] = true;
        shape[i] = t->shape[d];
        strides[i] = t->strides[d];
        p.inverse[d] = i;
    }
    born_tensor *out = tensor_new_view(t, t->dtype, ndim, shape, strides, t->offset);
    return record(out, t, "PermuteBackward", permute_backward, &p, sizeof p);
}

born_tensor *born_transpose(born_tensor *t, int dim0, int dim1) {
    if (!ops_check_inputs_any("born_transpose", 1, &t)) return NULL;
    int a = dim_normalize("born_transpose", dim0, t->ndim);
    int b = dim_normalize("born_transpose", dim1, t->ndim);
    if (a < 0 || b < 0) return NULL;
    int64_t dims[BORN_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) dims[i] = i;
    if (t->ndim > 0) {
        dims[a] = b;
        dims[b] = a;
    }
    return born_permute(t, t->ndim, dims);
}

/* ---- slicing ------------------------------------------------------------------------------- */

typedef struct slice_params {
    int dim;
    int64_t start, end, step; /* normalised: 0 <= start <= end <= size, step >= 1 */
    bool select;              /* select: the dimension was removed at start */
} slice_params;

/* The gradient of a slice: zeros of the input's shape with g written into the sliced part. */
static born_status slice_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const slice_params *p = node_params(n);
    const node_edge *e = &n->inputs[0];
    born_tensor *z = tensor_new(g->dtype, e->ndim, e->shape, g->storage->device);
    if (!z || born_zero_(z) != BORN_OK) return born_last_status();
    born_tensor *part = p->select ? born_select(z, p->dim, p->start)
                                  : born_slice(z, p->dim, p->start, p->end, p->step);
    born_status st = born_copy_(part, g);
    gi[0] = z;
    return st;
}

static born_tensor *slice_view(born_tensor *t, const slice_params *p, const char *name) {
    int64_t shape[BORN_MAX_DIMS], strides[BORN_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i == p->dim && p->select) continue;
        shape[nd] = t->shape[i];
        strides[nd] = t->strides[i];
        if (i == p->dim) {
            shape[nd] = p->end > p->start ? (p->end - p->start + p->step - 1) / p->step : 0;
            strides[nd] = t->strides[i] * p->step;
        }
        nd++;
    }
    int64_t offset = t->offset + p->start * t->strides[p->dim];
    born_tensor *out = tensor_new_view(t, t->dtype, nd, shape, strides, offset);
    return record(out, t, name, slice_backward, p, sizeof *p);
}

born_tensor *born_slice(born_tensor *t, int dim, int64_t start, int64_t end, int64_t step) {
    if (!ops_check_inputs_any("born_slice", 1, &t)) return NULL;
    if (t->ndim == 0) return born_error_null(BORN_ERR_SHAPE, "born_slice: cannot slice a 0-dim tensor");
    if (!quantized_rows_ok("born_slice", t)) return NULL;
    int d = dim_normalize("born_slice", dim, t->ndim);
    if (d < 0 || !quantized_row_view_ok("born_slice", t, d)) return NULL;
    if (step < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "born_slice: step must be positive, not %" PRId64, step);
    int64_t size = t->shape[d];
    if (start < 0) start += size;
    if (end < 0) end += size;
    start = start < 0 ? 0 : (start > size ? size : start);
    end = end < start ? start : (end > size ? size : end);
    slice_params p = {d, start, end, step, false};
    return slice_view(t, &p, "SliceBackward");
}

born_tensor *born_narrow(born_tensor *t, int dim, int64_t start, int64_t length) {
    if (!ops_check_inputs_any("born_narrow", 1, &t)) return NULL;
    if (t->ndim == 0) return born_error_null(BORN_ERR_SHAPE, "born_narrow: cannot narrow a 0-dim tensor");
    if (!quantized_rows_ok("born_narrow", t)) return NULL;
    int d = dim_normalize("born_narrow", dim, t->ndim);
    if (d < 0 || !quantized_row_view_ok("born_narrow", t, d)) return NULL;
    int64_t size = t->shape[d];
    if (start < 0) start += size;
    if (start < 0 || length < 0 || start > size || length > size - start)
        return born_error_null(BORN_ERR_ARGUMENT, "born_narrow: start %" PRId64 " and length %" PRId64
                               " do not fit in dimension %d of size %" PRId64, start, length, d, size);
    slice_params p = {d, start, start + length, 1, false};
    return slice_view(t, &p, "NarrowBackward");
}

born_tensor *born_select(born_tensor *t, int dim, int64_t index) {
    if (!ops_check_inputs_any("born_select", 1, &t)) return NULL;
    if (t->ndim == 0) return born_error_null(BORN_ERR_SHAPE, "born_select: cannot index a 0-dim tensor");
    if (!quantized_rows_ok("born_select", t)) return NULL;
    int d = dim_normalize("born_select", dim, t->ndim);
    if (d < 0 || !quantized_row_view_ok("born_select", t, d)) return NULL;
    int64_t size = t->shape[d];
    if (index < -size || index >= size)
        return born_error_null(BORN_ERR_ARGUMENT, "born_select: index %" PRId64 " out of range "
                               "for dimension %d of size %" PRId64, index, d, size);
    if (index < 0) index += size;
    slice_params p = {d, index, index + 1, 1, true};
    return slice_view(t, &p, "SelectBackward");
}

/* ---- expand -------------------------------------------------------------------------------- */

/* The engine sums the gradient back to the input's shape, so expand's rule passes it through. */
static born_status expand_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    (void)n;
    gi[0] = g;
    return BORN_OK;
}

born_tensor *born_expand(born_tensor *t, int ndim, const int64_t *shape) {
    if (!ops_check_inputs("born_expand", 1, &t)) return NULL;
    if (ndim < t->ndim || ndim > BORN_MAX_DIMS || (ndim > 0 && !shape))
        return born_error_null(BORN_ERR_SHAPE, "born_expand: %d dimensions given for a "
                               "%d-dimensional tensor", ndim, t->ndim);
    int64_t s[BORN_MAX_DIMS], st[BORN_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int j = i - lead;
        int64_t want = shape[i];
        char d[200], sh[160];
        if (j < 0) {
            if (want < 0)
                return born_error_null(BORN_ERR_SHAPE, "born_expand: size %" PRId64 " for the new "
                                       "leading dimension %d", want, i);
            s[i] = want;
            st[i] = 0;
            continue;
        }
        if (want == -1) want = t->shape[j];
        if (want != t->shape[j] && t->shape[j] != 1)
            return born_error_null(BORN_ERR_SHAPE, "born_expand: %s cannot be expanded to %s "
                                   "(dimension %d has size %" PRId64 ", not 1)",
                                   ops_describe(t, d, sizeof d), shape_str(ndim, shape, sh, sizeof sh),
                                   j, t->shape[j]);
        if (want < 0) return born_error_null(BORN_ERR_SHAPE, "born_expand: negative size %" PRId64, want);
        s[i] = want;
        st[i] = want == t->shape[j] ? t->strides[j] : 0;
    }
    born_tensor *out = tensor_new_view(t, t->dtype, ndim, s, st, t->offset);
    return record(out, t, "ExpandBackward", expand_backward, NULL, 0);
}

/* ---- copies: contiguous, clone, dtype, device ---------------------------------------------- */

born_tensor *born_detach(born_tensor *t) {
    if (!ops_check_inputs_any("born_detach", 1, &t)) return NULL;
    return ops_alias(t);
}

born_tensor *born_contiguous(born_tensor *t) {
    if (!ops_check_inputs_any("born_contiguous", 1, &t) || !quantized_rows_ok("born_contiguous", t))
        return NULL;
    return record_identity(ops_as_contiguous(t), t, "ContiguousBackward");
}

born_tensor *born_clone(born_tensor *t) {
    if (!ops_check_inputs_any("born_clone", 1, &t) || !quantized_rows_ok("born_clone", t)) return NULL;
    return record_identity(ops_cast(t, t->dtype), t, "CloneBackward");
}

born_tensor *born_to_dtype(born_tensor *t, born_dtype dtype) {
    if (!ops_check_inputs_any("born_to_dtype", 1, &t) || !quantized_rows_ok("born_to_dtype", t))
        return NULL;
    if ((unsigned)dtype >= BORN_DTYPE_COUNT)
        return born_error_null(BORN_ERR_DTYPE, "born_to_dtype: invalid dtype %d", (int)dtype);
    if (born_dtype_is_quantized(dtype) && dtype != t->dtype) {
        /* quantizing works on rows of whole blocks along the last dimension */
        int64_t block = born_dtype_block_size(dtype);
        if (t->ndim == 0 || t->shape[t->ndim - 1] % block != 0) {
            char d[200];
            return born_error_null(BORN_ERR_SHAPE, "born_to_dtype: cannot quantize %s to %s: the "
                                   "last dimension must be a multiple of its block size %lld",
                                   ops_describe(t, d, sizeof d), born_dtype_name(dtype),
                                   (long long)block);
        }
    }
    born_tensor *out = ops_as_dtype(t, dtype);
    if (!out || !born_dtype_is_floating(dtype) || !born_dtype_is_floating(t->dtype)) return out;
    return record_identity(out, t, "ToDtypeBackward");
}

born_tensor *born_to(born_tensor *t, born_device device) {
    if (!ops_check_inputs_any("born_to", 1, &t) || !quantized_rows_ok("born_to", t)) return NULL;
    if (born_device_equal(t->storage->device, device)) return record_identity(ops_alias(t), t, "ToDeviceBackward");
    const born_backend *to_be = backend_for(device);
    const born_backend *from_be = ops_backend(t);
    if (!to_be || !from_be) return NULL;
    born_tensor *src = ops_as_contiguous(t);
    born_tensor *out = src ? tensor_new(t->dtype, t->ndim, t->shape, device) : NULL;
    born_status st = out ? BORN_OK : born_last_status();
    size_t bytes = born_dtype_nbytes(t->dtype, born_tensor_numel(t));
    if (st == BORN_OK && bytes) {
        if (device.type == BORN_DEVICE_CPU)
            st = from_be->download(t->storage->device.index, tensor_data(out), tensor_data(src), bytes);
        else if (t->storage->device.type == BORN_DEVICE_CPU)
            st = to_be->upload(device.index, tensor_data(out), tensor_data(src), bytes);
        else if (to_be == from_be && to_be->peer_copy)
            st = to_be->peer_copy(device.index, tensor_data(out), t->storage->device.index,
                                  tensor_data(src), bytes);
        else
            st = born_error(BORN_ERR_UNSUPPORTED, "born_to: copies between two accelerators go "
                            "through the CPU: born_to(born_to(t, BORN_CPU), device)");
    }
    born_free(src);
    if (st != BORN_OK) {
        born_free(out);
        return NULL;
    }
    return record_identity(out, t, "ToDeviceBackward");
}
