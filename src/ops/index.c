/* Indexing: gather, scatter_add, index_select, embedding and one_hot. The backward rules of
 * gather, index_select and embedding add the gradient into zeros with the backend's scatter_add
 * or index_add (repeated indices accumulate).
 *
 * Indices out of range are found by the kernels (they need the data) and reported as
 * BORN_ERR_ARGUMENT with the bad value and the dimension's size; index_kernel_status puts the op's
 * name in front of the kernel's message. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"

/* ---- shared helpers ------------------------------------------------------------------------ */

/* After a kernel call: when it failed and recorded the first error of this op, rewrites the
 * message as "op: message" so that it names the op (the kernel does not know which op called
 * it). An error recorded before the op ran is left alone. */
static born_status index_kernel_status(const char *op, born_status st, bool had_error) {
    if (st == BORN_OK || had_error || !born_has_error()) return st;
    char msg[480];
    snprintf(msg, sizeof msg, "%s", born_last_error());
    born_clear_error();
    return born_error(st, "%s: %s", op, msg);
}

static born_status unsupported(const char *op) {
    return born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", op);
}

/* A zero-filled tensor on device (no autograd). */
static born_tensor *zeros_on(born_dtype dtype, int ndim, const int64_t *shape, born_device device) {
    born_tensor *z = ops_empty(dtype, ndim, shape, device);
    if (!z) return NULL;
    born_strided s = strided_of(z);
    if (ops_backend(z)->fill(&s, 0.0) != BORN_OK) {
        born_free(z);
        return NULL;
    }
    return z;
}

static bool is_index_dtype(born_dtype t) { return t == BORN_I32 || t == BORN_I64; }

/* The dtype the accumulating kernels compute in: f16/bf16 accumulate in f32. */
static born_dtype accumulate_dtype(born_dtype t) {
    return t == BORN_F16 || t == BORN_BF16 ? BORN_F32 : t;
}

static int max1(int n) { return n > 0 ? n : 1; }

/* The accumulating ops' common path, without autograd: (a copy of base, or zeros of dtype and
 * shape when base is NULL) with src added at index along d, by the backend's scatter_add
 * (per_element: index has src's layout) or index_add (a 1-D i64 index). f16/bf16 accumulate in
 * f32 and are rounded once at the end. */
static born_tensor *accumulate_into(const char *op, bool per_element, born_tensor *base,
                                    born_dtype dtype, int ndim, const int64_t *shape,
                                    born_device device, int d, born_tensor *index,
                                    born_tensor *src) {
    const born_backend *be = backend_for(device);
    if (!be) return NULL;
    born_dtype compute = accumulate_dtype(dtype);
    born_tensor *acc = base ? ops_cast(base, compute) : zeros_on(compute, ndim, shape, device);
    born_tensor *s = acc ? ops_as_dtype(src, compute) : NULL;
    born_status st = s ? BORN_OK : born_last_status();
    if (st == BORN_OK && born_tensor_numel(index) > 0) {
        bool had_error = born_has_error();
        born_strided o = strided_of(acc), ix = strided_of(index), ss = strided_of(s);
        if (per_element)
            st = be->scatter_add ? be->scatter_add(&o, &ix, &ss, d) : unsupported(op);
        else
            st = be->index_add ? be->index_add(&o, &ix, &ss, d) : unsupported(op);
        st = index_kernel_status(op, st, had_error);
    }
    born_free(s);
    born_tensor *out = NULL;
    if (st == BORN_OK) out = compute == dtype ? acc : ops_cast(acc, dtype);
    if (out != acc) born_free(acc);
    return out;
}

typedef struct dim_params {
    int dim;
} dim_params;

/* ---- gather -------------------------------------------------------------------------------- */

/* d gather(t, dim, index) / d t: the gradient scattered back (repeated indices accumulate). */
static born_status gather_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const dim_params *p = node_params(n);
    const node_edge *e = &n->inputs[0];
    gi[0] = accumulate_into("born_gather", true, NULL, g->dtype, e->ndim, e->shape,
                            g->storage->device, p->dim, node_saved(n, 0), g);
    return gi[0] ? BORN_OK : born_last_status();
}

born_tensor *born_gather(born_tensor *t, int dim, born_tensor *index) {
    static const char *op = "born_gather";
    born_tensor *args[2] = {t, index};
    if (!ops_check_inputs(op, 2, args)) return NULL;
    born_device device;
    if (!ops_check_device(op, 2, args, &device)) return NULL;
    char a[200], b[200];
    if (index->dtype != BORN_I64)
        return born_error_null(BORN_ERR_DTYPE, "%s: index %s must be i64 (input %s)", op,
                               ops_describe(index, a, sizeof a), ops_describe(t, b, sizeof b));
    int d = dim_normalize(op, dim, t->ndim);
    if (d < 0) return NULL;
    if (born_tensor_numel(index) > 0) {
        if (max1(index->ndim) != max1(t->ndim))
            return born_error_null(BORN_ERR_SHAPE, "%s: index %s must have as many dimensions "
                                   "as the input %s", op, ops_describe(index, a, sizeof a),
                                   ops_describe(t, b, sizeof b));
        for (int i = 0; i < index->ndim && i < t->ndim; i++)
            if (i != d && index->shape[i] > t->shape[i])
                return born_error_null(BORN_ERR_SHAPE, "%s: index %s is larger than the input %s "
                                       "at dimension %d (only dimension %d may be larger)", op,
                                       ops_describe(index, a, sizeof a),
                                       ops_describe(t, b, sizeof b), i, d);
    }
    const born_backend *be = backend_for(device);
    if (!be) return NULL;
    born_tensor *out = ops_empty(t->dtype, index->ndim, index->shape, device);
    if (!out) return NULL;
    if (born_tensor_numel(out) > 0) {
        bool had_error = born_has_error();
        born_strided o = strided_of(out), s = strided_of(t), ix = strided_of(index);
        born_status st = be->gather ? be->gather(&o, &s, &ix, d) : unsupported(op);
        if (index_kernel_status(op, st, had_error) != BORN_OK) {
            born_free(out);
            return NULL;
        }
    }
    dim_params p = {d};
    if (born_dtype_is_floating(t->dtype) &&
        !autograd_record(out, "GatherBackward", gather_backward, 1, &t, 1, &index, &p, sizeof p)) {
        born_free(out);
        return NULL;
    }
    return out;
}

/* ---- scatter_add --------------------------------------------------------------------------- */

/* t's gradient passes through; src's is the gradient gathered at the index, zero where src lies
 * outside the index's extent. */
static born_status scatter_add_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const dim_params *p = node_params(n);
    born_tensor *index = node_saved(n, 0);
    if (node_needs_grad(n, 0)) gi[0] = g;
    if (!node_needs_grad(n, 1)) return BORN_OK;
    const node_edge *e = &n->inputs[1];
    if (born_tensor_numel(index) == 0) {
        gi[1] = zeros_on(g->dtype, e->ndim, e->shape, g->storage->device);
        return gi[1] ? BORN_OK : born_last_status();
    }
    born_tensor *part = born_gather(g, p->dim, index);
    if (part && part->ndim != e->ndim) { /* a 0-dim index with a 1-D src, or the reverse */
        int64_t ones[BORN_MAX_DIMS] = {1, 1, 1, 1, 1, 1, 1, 1};
        part = born_reshape(part, e->ndim, ones);
    }
    int64_t pad[2 * BORN_MAX_DIMS];
    int npad = 0;
    bool padded = false;
    for (int i = e->ndim - 1; part && i >= 0; i--) {
        pad[npad++] = 0;
        pad[npad++] = e->shape[i] - part->shape[i];
        padded = padded || e->shape[i] != part->shape[i];
    }
    gi[1] = padded ? born_pad(part, npad, pad, 0.0) : part;
    return gi[1] ? BORN_OK : born_last_status();
}

born_tensor *born_scatter_add(born_tensor *t, int dim, born_tensor *index, born_tensor *src) {
    static const char *op = "born_scatter_add";
    born_tensor *args[3] = {t, index, src};
    if (!ops_check_inputs(op, 3, args)) return NULL;
    born_device device;
    if (!ops_check_device(op, 3, args, &device)) return NULL;
    char a[200], b[200], c[200];
    if (index->dtype != BORN_I64)
        return born_error_null(BORN_ERR_DTYPE, "%s: index %s must be i64 (input %s)", op,
                               ops_describe(index, a, sizeof a), ops_describe(t, b, sizeof b));
    if (src->dtype != t->dtype)
        return born_error_null(BORN_ERR_DTYPE, "%s: src %s must have the input's dtype (input %s)",
                               op, ops_describe(src, a, sizeof a), ops_describe(t, b, sizeof b));
    int d = dim_normalize(op, dim, t->ndim);
    if (d < 0) return NULL;
    bool empty = born_tensor_numel(index) == 0;
    if (!empty) {
        if (max1(index->ndim) != max1(t->ndim) || max1(src->ndim) != max1(t->ndim))
            return born_error_null(BORN_ERR_SHAPE, "%s: input %s, index %s and src %s must have "
                                   "the same number of dimensions", op, ops_describe(t, a, sizeof a),
                                   ops_describe(index, b, sizeof b), ops_describe(src, c, sizeof c));
        for (int i = 0; i < index->ndim; i++) {
            bool too_big_for_t = i != d && i < t->ndim && index->shape[i] > t->shape[i];
            bool too_big_for_src = i < src->ndim && index->shape[i] > src->shape[i];
            if (too_big_for_t || too_big_for_src)
                return born_error_null(BORN_ERR_SHAPE, "%s: index %s must be no larger than the "
                                       "input %s apart from dimension %d and no larger than src "
                                       "%s (dimension %d differs)", op,
                                       ops_describe(index, a, sizeof a), ops_describe(t, b, sizeof b),
                                       d, ops_describe(src, c, sizeof c), i);
        }
    }
    born_tensor *out = accumulate_into(op, true, t, t->dtype, t->ndim, t->shape, device, d,
                                       index, src);
    if (!out) return NULL;
    dim_params p = {d};
    born_tensor *inputs[2] = {t, src};
    if (born_dtype_is_floating(t->dtype) &&
        !autograd_record(out, "ScatterAddBackward", scatter_add_backward, 2, inputs, 1, &index,
                         &p, sizeof p)) {
        born_free(out);
        return NULL;
    }
    return out;
}

/* ---- index_select and embedding ------------------------------------------------------------ */

/* out (out_ndim, out_shape) = t's entries at the 1-D i64 index ix along d; no autograd. */
static born_tensor *select_along(const char *op, born_tensor *t, int d, born_tensor *ix,
                                 int out_ndim, const int64_t *out_shape) {
    const born_backend *be = ops_backend(t);
    if (!be) return NULL;
    born_tensor *out = ops_empty(t->dtype, out_ndim, out_shape, t->storage->device);
    if (!out) return NULL;
    bool had_error = born_has_error();
    born_strided o = strided_of(out), s = strided_of(t), si = strided_of(ix);
    born_status st = be->index_select ? be->index_select(&o, &s, &si, d) : unsupported(op);
    if (index_kernel_status(op, st, had_error) != BORN_OK) {
        born_free(out);
        return NULL;
    }
    return out;
}

/* index_select's gradient: the output gradient added back at the index (repeats accumulate). */
static born_status index_select_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const dim_params *p = node_params(n);
    const node_edge *e = &n->inputs[0];
    gi[0] = accumulate_into("born_index_select", false, NULL, g->dtype, e->ndim, e->shape,
                            g->storage->device, p->dim, node_saved(n, 0), g);
    return gi[0] ? BORN_OK : born_last_status();
}

born_tensor *born_index_select(born_tensor *t, int dim, born_tensor *index) {
    static const char *op = "born_index_select";
    born_tensor *args[2] = {t, index};
    if (!ops_check_inputs(op, 2, args)) return NULL;
    if (!ops_check_device(op, 2, args, NULL)) return NULL;
    char a[200], b[200];
    if (!is_index_dtype(index->dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: index %s must be i32 or i64 (input %s)", op,
                               ops_describe(index, a, sizeof a), ops_describe(t, b, sizeof b));
    if (index->ndim > 1)
        return born_error_null(BORN_ERR_SHAPE, "%s: index %s must be 1-D (or 0-dim)", op,
                               ops_describe(index, a, sizeof a));
    int d = dim_normalize(op, dim, t->ndim);
    if (d < 0) return NULL;
    int64_t n = born_tensor_numel(index);
    int64_t shape[BORN_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    if (t->ndim == 0 && n != 1)
        return born_error_null(BORN_ERR_SHAPE, "%s: index %s of a 0-dim input must hold one "
                               "value, not %" PRId64, op, ops_describe(index, a, sizeof a), n);
    if (t->ndim > 0) shape[d] = n;
    born_tensor *ix = ops_as_dtype(index, BORN_I64);
    born_tensor *out = ix ? select_along(op, t, d, ix, t->ndim, shape) : NULL;
    dim_params p = {d};
    if (out && born_dtype_is_floating(t->dtype) &&
        !autograd_record(out, "IndexSelectBackward", index_select_backward, 1, &t, 1, &ix, &p,
                         sizeof p)) {
        born_free(out);
        out = NULL;
    }
    born_free(ix);
    return out;
}

/* embedding's gradient: rows of the output gradient added into a zero weight gradient. */
static born_status embedding_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const node_edge *e = &n->inputs[0];
    born_tensor *flat = node_saved(n, 0);
    born_tensor *rows = born_reshape(g, 2, (int64_t[]){flat->shape[0], e->shape[1]});
    gi[0] = rows ? accumulate_into("born_embedding", false, NULL, g->dtype, e->ndim, e->shape,
                                   g->storage->device, 0, flat, rows)
                 : NULL;
    return gi[0] ? BORN_OK : born_last_status();
}

/* The rows of a quantized weight at the (contiguous 1-D i64) indices flat, gathered as bytes and
 * dequantized: [n, dim] f32. Only the rows asked for are ever dequantized. */
static born_tensor *embedding_quant_rows(born_tensor *weight, born_tensor *flat) {
    static const char *op = "born_embedding";
    int64_t num = weight->shape[0], dim = weight->shape[1], n = flat->shape[0];
    int64_t row_bytes = (int64_t)born_dtype_nbytes(weight->dtype, dim);
    int64_t stride = weight->strides[0] / born_dtype_block_size(weight->dtype) *
                     (int64_t)born_dtype_block_bytes(weight->dtype);
    born_tensor *bytes = tensor_new_view(weight, BORN_U8, 2, (int64_t[]){num, row_bytes},
                                         (int64_t[]){stride, 1},
                                         (int64_t)born_dtype_nbytes(weight->dtype, weight->offset));
    born_tensor *picked = bytes ? select_along(op, bytes, 0, flat, 2, (int64_t[]){n, row_bytes}) : NULL;
    born_tensor *q = picked ? tensor_new_view(picked, weight->dtype, 2, (int64_t[]){n, dim}, NULL, 0)
                            : NULL;
    born_tensor *rows = q ? ops_cast(q, BORN_F32) : NULL;
    born_free(q);
    born_free(picked);
    born_free(bytes);
    return rows;
}

born_tensor *born_embedding(born_tensor *weight, born_tensor *indices) {
    static const char *op = "born_embedding";
    born_tensor *args[2] = {weight, indices};
    bool quantized = weight && born_dtype_is_quantized(weight->dtype);
    if (quantized ? !ops_check_inputs_any(op, 2, args) || !ops_check_inputs(op, 1, &indices)
                  : !ops_check_inputs(op, 2, args))
        return NULL;
    if (!ops_check_device(op, 2, args, NULL)) return NULL;
    char a[200], b[200];
    if (weight->ndim != 2 || (quantized && weight->strides[1] != 1))
        return born_error_null(BORN_ERR_SHAPE, "%s: weight %s must be 2-D [num, dim]%s", op,
                               ops_describe(weight, a, sizeof a),
                               quantized ? " with whole rows (not a transposed view)" : "");
    if (!is_index_dtype(indices->dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: indices %s must be i32 or i64 (weight %s)", op,
                               ops_describe(indices, a, sizeof a), ops_describe(weight, b, sizeof b));
    if (indices->ndim >= BORN_MAX_DIMS)
        return born_error_null(BORN_ERR_SHAPE, "%s: indices %s leave no room for the embedding "
                               "dimension (at most %d dimensions)", op,
                               ops_describe(indices, a, sizeof a), BORN_MAX_DIMS);
    int64_t n = born_tensor_numel(indices), dim = weight->shape[1];
    int64_t shape[BORN_MAX_DIMS];
    memcpy(shape, indices->shape, sizeof(int64_t) * (size_t)indices->ndim);
    shape[indices->ndim] = dim;
    /* the indices as a contiguous 1-D i64 tensor */
    born_tensor *typed = ops_as_dtype(indices, BORN_I64);
    born_tensor *cont = typed ? ops_as_contiguous(typed) : NULL;
    born_tensor *flat = cont ? tensor_new_view(cont, BORN_I64, 1, &n, NULL, cont->offset) : NULL;
    born_free(typed);
    born_free(cont);
    born_tensor *rows = !flat ? NULL
                        : quantized ? embedding_quant_rows(weight, flat)
                                    : select_along(op, weight, 0, flat, 2, (int64_t[]){n, dim});
    born_tensor *out = rows ? tensor_new_view(rows, rows->dtype, indices->ndim + 1, shape, NULL,
                                              rows->offset) : NULL;
    born_free(rows);
    if (out && born_dtype_is_floating(weight->dtype) &&
        !autograd_record(out, "EmbeddingBackward", embedding_backward, 1, &weight, 1, &flat, NULL,
                         0)) {
        born_free(out);
        out = NULL;
    }
    born_free(flat);
    return out;
}

/* ---- one_hot ------------------------------------------------------------------------------- */

/* The smallest or largest value of a non-empty integer tensor, read on the host. */
static bool extreme_value(born_tensor *t, bool largest, int64_t *value) {
    born_tensor *m = largest ? born_max(t, 0, NULL, false) : born_min(t, 0, NULL, false);
    born_tensor *host = m ? born_to(m, BORN_CPU) : NULL;
    bool ok = host && born_get_i64(host, NULL, value) == BORN_OK;
    born_free(host);
    born_free(m);
    return ok;
}

/* born_one_hot for a non-empty tensor, inside the caller's scope. */
static born_tensor *one_hot_compute(born_tensor *indices, int64_t num_classes) {
    static const char *op = "born_one_hot";
    char a[200];
    int64_t lo = 0, hi = 0;
    born_tensor *plain = born_detach(indices);
    if (!plain || !extreme_value(plain, false, &lo) || !extreme_value(plain, true, &hi)) return NULL;
    if (lo < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: class %" PRId64 " in %s is negative", op,
                               lo, ops_describe(indices, a, sizeof a));
    if (num_classes == -1)
        num_classes = hi + 1;
    else if (hi >= num_classes)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: class %" PRId64 " in %s is out of range "
                               "for num_classes %" PRId64, op, hi,
                               ops_describe(indices, a, sizeof a), num_classes);
    born_device device = indices->storage->device;
    born_tensor *classes = born_arange(0.0, (double)num_classes, 1.0, BORN_I64);
    if (classes && !born_device_equal(device, BORN_CPU)) classes = born_to(classes, device);
    born_tensor *hit = born_eq(born_unsqueeze(born_to_dtype(plain, BORN_I64), -1), classes);
    return born_to_dtype(hit, BORN_I64);
}

born_tensor *born_one_hot(born_tensor *indices, int64_t num_classes) {
    static const char *op = "born_one_hot";
    if (!ops_check_inputs(op, 1, &indices)) return NULL;
    char a[200];
    if (!born_dtype_is_integer(indices->dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: class indices %s must have an integer dtype",
                               op, ops_describe(indices, a, sizeof a));
    if (num_classes < -1)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: num_classes must be -1 (infer) or "
                               "non-negative, not %" PRId64, op, num_classes);
    if (indices->ndim >= BORN_MAX_DIMS)
        return born_error_null(BORN_ERR_SHAPE, "%s: indices %s leave no room for the class "
                               "dimension (at most %d dimensions)", op,
                               ops_describe(indices, a, sizeof a), BORN_MAX_DIMS);
    born_device device = indices->storage->device;
    int64_t shape[BORN_MAX_DIMS];
    memcpy(shape, indices->shape, sizeof(int64_t) * (size_t)indices->ndim);
    if (born_tensor_numel(indices) == 0) {
        if (num_classes == -1)
            return born_error_null(BORN_ERR_ARGUMENT, "%s: cannot infer the number of classes "
                                   "from the empty tensor %s", op, ops_describe(indices, a, sizeof a));
        shape[indices->ndim] = num_classes;
        return zeros_on(BORN_I64, indices->ndim + 1, shape, device);
    }
    born_scope_begin();
    born_tensor *out = born_keep(one_hot_compute(indices, num_classes));
    born_scope_end();
    return out;
}
