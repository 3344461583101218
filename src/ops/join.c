/* Joining and splitting: cat and stack copy; chunk, split and split_sizes return views made with
 * born_narrow, so their gradients flow through narrow's rule. */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"

/* ---- cat ----------------------------------------------------------------------------------- */

/* torch's legacy rule: 1-D tensors of size 0 are skipped, whatever the other shapes. */
static bool cat_skipped(int ndim, const int64_t *shape) { return ndim == 1 && shape[0] == 0; }

typedef struct cat_params {
    int dim;
} cat_params;

/* Each input's gradient is its slice of g along dim. */
static born_status cat_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    int d = ((const cat_params *)node_params(n))->dim;
    int64_t offset = 0;
    for (int i = 0; i < n->ninputs; i++) {
        const node_edge *e = &n->inputs[i];
        if (cat_skipped(e->ndim, e->shape)) {
            if (node_needs_grad(n, i)) {
                born_tensor *z = ops_empty(g->dtype, 1, e->shape, g->storage->device);
                if (!z) return born_last_status();
                gi[i] = z;
            }
            continue;
        }
        if (node_needs_grad(n, i)) {
            gi[i] = born_narrow(g, d, offset, e->shape[d]);
            if (!gi[i]) return born_last_status();
        }
        offset += e->shape[d];
    }
    return BORN_OK;
}

born_tensor *born_cat(born_tensor *const *tensors, int n, int dim) {
    static const char *op = "born_cat";
    if (n <= 0 || !tensors)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: expected a non-empty list of tensors "
                               "(got %d)", op, n);
    if (!ops_check_inputs(op, n, tensors)) return NULL;
    born_device device;
    if (!ops_check_device(op, n, tensors, &device)) return NULL;
    born_dtype dtype = ops_result_type(n, tensors);
    int ref = -1;
    for (int i = 0; i < n; i++) {
        born_tensor *t = tensors[i];
        if (cat_skipped(t->ndim, t->shape)) continue;
        if (t->ndim == 0)
            return born_error_null(BORN_ERR_SHAPE, "%s: the 0-dim tensor at position %d cannot be "
                                   "concatenated (use born_stack)", op, i);
        if (ref < 0) ref = i;
    }
    int ndim = 1, d = 0;
    int64_t shape[BORN_MAX_DIMS] = {0};
    if (ref >= 0) {
        born_tensor *r = tensors[ref];
        d = dim_normalize(op, dim, r->ndim);
        if (d < 0) return NULL;
        ndim = r->ndim;
        memcpy(shape, r->shape, sizeof shape);
        shape[d] = 0;
        for (int i = 0; i < n; i++) {
            born_tensor *t = tensors[i];
            if (cat_skipped(t->ndim, t->shape)) continue;
            char a[200], b[200];
            if (t->ndim != r->ndim)
                return born_error_null(BORN_ERR_SHAPE, "%s: tensors must have the same number of "
                                       "dimensions: %s at position %d and %s at position %d", op,
                                       ops_describe(r, a, sizeof a), ref,
                                       ops_describe(t, b, sizeof b), i);
            for (int k = 0; k < ndim; k++)
                if (k != d && t->shape[k] != r->shape[k])
                    return born_error_null(BORN_ERR_SHAPE, "%s: sizes must match except in "
                                           "dimension %d: %s at position %d and %s at position "
                                           "%d differ at dimension %d (%" PRId64 " vs %" PRId64 ")",
                                           op, d, ops_describe(r, a, sizeof a), ref,
                                           ops_describe(t, b, sizeof b), i, k, r->shape[k],
                                           t->shape[k]);
            if (t->shape[d] > INT64_MAX - shape[d])
                return born_error_null(BORN_ERR_SHAPE, "%s: the joined size overflows", op);
            shape[d] += t->shape[d];
        }
    }
    const born_backend *be = backend_for(device);
    if (!be) return NULL;
    born_tensor *out = ops_empty(dtype, ndim, shape, device);
    if (!out) return NULL;
    size_t esize = born_dtype_size(dtype);
    int64_t offset = 0;
    for (int i = 0; ref >= 0 && i < n; i++) {
        born_tensor *t = tensors[i];
        if (cat_skipped(t->ndim, t->shape)) continue;
        if (born_tensor_numel(t) > 0) {
            born_strided dst = strided_of(out), src = strided_of(t);
            dst.shape[d] = t->shape[d];
            dst.data = (char *)dst.data + (size_t)(offset * out->strides[d]) * esize;
            if (be->copy(&dst, &src) != BORN_OK) {
                born_free(out);
                return NULL;
            }
        }
        offset += t->shape[d];
    }
    cat_params p = {d};
    if (born_dtype_is_floating(dtype) &&
        !autograd_record(out, "CatBackward", cat_backward, n, tensors, 0, NULL, &p, sizeof p)) {
        born_free(out);
        return NULL;
    }
    return out;
}

/* ---- stack --------------------------------------------------------------------------------- */

born_tensor *born_stack(born_tensor *const *tensors, int n, int dim) {
    static const char *op = "born_stack";
    if (n <= 0 || !tensors)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: expected a non-empty list of tensors "
                               "(got %d)", op, n);
    if (!ops_check_inputs(op, n, tensors)) return NULL;
    born_tensor *first = tensors[0];
    for (int i = 1; i < n; i++) {
        born_tensor *t = tensors[i];
        if (t->ndim != first->ndim ||
            memcmp(t->shape, first->shape, sizeof(int64_t) * (size_t)first->ndim) != 0) {
            char a[200], b[200];
            return born_error_null(BORN_ERR_SHAPE, "%s: every tensor must have the same shape, "
                                   "but got %s at position 0 and %s at position %d", op,
                                   ops_describe(first, a, sizeof a), ops_describe(t, b, sizeof b), i);
        }
    }
    if (first->ndim >= BORN_MAX_DIMS)
        return born_error_null(BORN_ERR_SHAPE, "%s: the tensors already have %d dimensions", op,
                               BORN_MAX_DIMS);
    int d = dim_normalize(op, dim, first->ndim + 1);
    if (d < 0) return NULL;
    born_tensor **parts = malloc((size_t)n * sizeof *parts);
    if (!parts) return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", op);
    born_scope_begin();
    for (int i = 0; i < n; i++) parts[i] = born_unsqueeze(tensors[i], d);
    born_tensor *out = born_keep(born_cat(parts, n, d));
    born_scope_end();
    free(parts);
    return out;
}

/* ---- chunk and split ----------------------------------------------------------------------- */

/* Common checks: t has dimensions; returns the normalised dim or -1. */
static int split_dim(const char *op, born_tensor *t, int dim) {
    if (!ops_check_inputs(op, 1, &t)) return -1;
    if (t->ndim == 0) {
        born_error(BORN_ERR_SHAPE, "%s: expects at least a 1-dimensional tensor", op);
        return -1;
    }
    return dim_normalize(op, dim, t->ndim);
}

/* out[i] = narrow(t, d, starts[i], lens[i]) for i < count; on failure frees those made, clears
 * out and returns false. */
static bool make_views(born_tensor *t, int d, int count, int64_t step, const int64_t *sizes,
                       born_tensor **out) {
    int64_t size = t->shape[d], start = 0;
    for (int i = 0; i < count; i++) {
        int64_t len = sizes ? sizes[i] : (size - start < step ? size - start : step);
        out[i] = born_narrow(t, d, start, len);
        if (!out[i]) {
            for (int k = 0; k < i; k++) {
                born_free(out[k]);
                out[k] = NULL;
            }
            return false;
        }
        start += len;
    }
    return true;
}

int born_chunk(born_tensor *t, int chunks, int dim, born_tensor **out) {
    static const char *op = "born_chunk";
    int d = split_dim(op, t, dim);
    if (d < 0) return -1;
    if (chunks <= 0) {
        born_error(BORN_ERR_ARGUMENT, "%s: chunks must be positive, not %d", op, chunks);
        return -1;
    }
    if (!out) {
        born_error(BORN_ERR_ARGUMENT, "%s: out is NULL", op);
        return -1;
    }
    int64_t size = t->shape[d];
    int64_t step = size / chunks + (size % chunks != 0); /* ceil(size / chunks) */
    /* torch.chunk: an empty dimension still gives `chunks` (empty) pieces */
    int count = size == 0 ? chunks : (int)(size / step + (size % step != 0));
    return make_views(t, d, count, step, NULL, out) ? count : -1;
}

int born_split(born_tensor *t, int64_t split_size, int dim, born_tensor **out, int max_out) {
    static const char *op = "born_split";
    int d = split_dim(op, t, dim);
    if (d < 0) return -1;
    int64_t size = t->shape[d];
    if (split_size < 0 || (split_size == 0 && size != 0)) {
        born_error(BORN_ERR_ARGUMENT, "%s: split_size %" PRId64 " is invalid for dimension %d of "
                   "size %" PRId64 " (it must be positive, or 0 for an empty dimension)", op,
                   split_size, d, size);
        return -1;
    }
    if (max_out < 0 || (max_out > 0 && !out)) {
        born_error(BORN_ERR_ARGUMENT, "%s: no room for the views (max_out %d, out %s)", op,
                   max_out, out ? "given" : "NULL");
        return -1;
    }
    int64_t count = size == 0 ? 1 : size / split_size + (size % split_size != 0);
    if (count > INT_MAX) {
        born_error(BORN_ERR_ARGUMENT, "%s: %" PRId64 " pieces are too many", op, count);
        return -1;
    }
    int made = count < max_out ? (int)count : max_out;
    return make_views(t, d, made, split_size, NULL, out) ? (int)count : -1;
}

born_status born_split_sizes(born_tensor *t, int n, const int64_t *sizes, int dim,
                             born_tensor **out) {
    static const char *op = "born_split_sizes";
    int d = split_dim(op, t, dim);
    if (d < 0) return born_last_status();
    if (n < 0 || (n > 0 && (!sizes || !out)))
        return born_error(BORN_ERR_ARGUMENT, "%s: bad size list (n = %d, sizes %s, out %s)", op, n,
                          sizes ? "given" : "NULL", out ? "given" : "NULL");
    int64_t total = 0;
    bool negative = false, overflow = false;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0) negative = true;
        else if (sizes[i] > INT64_MAX - total) overflow = true;
        else total += sizes[i];
    }
    char s[400], a[200];
    if (negative)
        return born_error(BORN_ERR_ARGUMENT, "%s: sizes %s must not be negative", op,
                          shape_str(n, sizes, s, sizeof s));
    if (overflow || total != t->shape[d])
        return born_error(BORN_ERR_SHAPE, "%s: sizes %s must sum to %" PRId64 ", the size of "
                          "dimension %d of %s", op, shape_str(n, sizes, s, sizeof s), t->shape[d],
                          d, ops_describe(t, a, sizeof a));
    return make_views(t, d, n, 0, sizes, out) ? BORN_OK : born_last_status();
}
