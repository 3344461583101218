/* Helpers shared by the operator files: attributes, small integer inputs, axes, and the table of
 * every operator. */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "onnx/onnx_internal.h"

static const onnx_op_entry *const tables[] = {onnx_ops_elementwise, onnx_ops_shape, onnx_ops_reduce,
                                              onnx_ops_nn, onnx_ops_index, onnx_ops_control,
                                              onnx_ops_rnn, onnx_ops_misc, onnx_ops_loss,
                                              onnx_ops_linalg, onnx_ops_quant,
                                              onnx_ops_signal, onnx_ops_vision,
                                              onnx_ops_unique, onnx_ops_reverse,
                                              onnx_ops_text, onnx_ops_spectral,
                                              onnx_ops_qconv, onnx_ops_roi};

onnx_op_fn onnx_op_find(const char *op_type) {
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const onnx_op_entry *e = tables[t]; e->name; e++)
            if (!strcmp(e->name, op_type)) return e->fn;
    return NULL;
}

onnx_op_fn onnx_op_find_domain(const char *domain, const char *op_type) {
    if (!domain[0] || !strcmp(domain, "ai.onnx")) return onnx_op_find(op_type);
    if (!strcmp(domain, "ai.onnx.preview.training"))
        for (const onnx_op_entry *e = onnx_ops_training; e->name; e++)
            if (!strcmp(e->name, op_type)) return e->fn;
    return NULL;
}

static const onnx_attr *find(const onnx_op_ctx *c, const char *name) {
    return onnx_node_attr(c->node, name);
}

bool onnx_has_attr(const onnx_op_ctx *c, const char *name) { return find(c, name) != NULL; }

int64_t onnx_attr_int(const onnx_op_ctx *c, const char *name, int64_t def) {
    const onnx_attr *a = find(c, name);
    return a ? a->i : def;
}

float onnx_attr_float(const onnx_op_ctx *c, const char *name, float def) {
    const onnx_attr *a = find(c, name);
    return a ? a->f : def;
}

const char *onnx_attr_str(const onnx_op_ctx *c, const char *name, const char *def, char *buf,
                          size_t size) {
    const onnx_attr *a = find(c, name);
    if (!a) return def;
    size_t n = a->s.len < size - 1 ? a->s.len : size - 1;
    if (n) memcpy(buf, a->s.data, n);
    buf[n] = '\0';
    return buf;
}

const int64_t *onnx_attr_ints(const onnx_op_ctx *c, const char *name, int *n) {
    const onnx_attr *a = find(c, name);
    *n = a ? (int)a->nints : 0;
    return a ? a->ints : NULL;
}

const float *onnx_attr_floats(const onnx_op_ctx *c, const char *name, int *n) {
    const onnx_attr *a = find(c, name);
    *n = a ? (int)a->nfloats : 0;
    return a ? a->floats : NULL;
}

born_status onnx_need(const onnx_op_ctx *c, int i) {
    if (i >= c->nin || !c->in[i])
        return onnx_fail(c, BORN_ERR_ARGUMENT, "input %d is required", i);
    return BORN_OK;
}

int onnx_read_ints(const onnx_op_ctx *c, born_tensor *t, int64_t *out, int max, const char *what) {
    if (!t) return 0;
    born_dtype dt = born_tensor_dtype(t);
    if (!born_dtype_is_integer(dt) && dt != BORN_BOOL) {
        onnx_fail(c, BORN_ERR_DTYPE, "%s must be integer, not %s", what, born_dtype_name(dt));
        return -1;
    }
    if (born_tensor_ndim(t) > 1) {
        onnx_fail(c, BORN_ERR_SHAPE, "%s must be 0-D or 1-D", what);
        return -1;
    }
    int64_t n = born_tensor_numel(t);
    if (n > max) {
        onnx_fail(c, BORN_ERR_SHAPE, "%s has %lld values (at most %d)", what, (long long)n, max);
        return -1;
    }
    if (dt == BORN_I64 && born_tensor_is_contiguous(t)) { /* the common case: no new tensor */
        if (n) memcpy(out, born_data_ptr(t), (size_t)n * sizeof(int64_t));
        return (int)n;
    }
    born_scope_begin();
    born_tensor *v = born_contiguous(born_to_dtype(t, BORN_I64));
    int r = -1;
    if (v) {
        memcpy(out, born_data_ptr(v), (size_t)n * sizeof(int64_t));
        r = (int)n;
    } else {
        onnx_op_failed(c);
    }
    born_scope_end();
    return r;
}

born_status onnx_read_scalar(const onnx_op_ctx *c, born_tensor *t, double *out, const char *what) {
    if (born_tensor_numel(t) != 1)
        return onnx_fail(c, BORN_ERR_SHAPE, "%s must have one element", what);
    *out = born_item(t);
    return BORN_OK;
}

int onnx_axis(const onnx_op_ctx *c, int64_t axis, int rank) {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= (rank ? rank : 1)) {
        onnx_fail(c, BORN_ERR_ARGUMENT, "axis %lld is out of range for rank %d", (long long)axis, rank);
        return -1;
    }
    return (int)a;
}

born_tensor *onnx_as(born_tensor *t, born_dtype dt) { return born_contiguous(born_to_dtype(t, dt)); }

born_tensor *onnx_map_float(const onnx_op_ctx *c, born_tensor *x, onnx_map_fn fn,
                            const double *params) {
    born_dtype dt = born_tensor_dtype(x);
    if (!born_dtype_is_floating(dt)) {
        onnx_fail(c, BORN_ERR_DTYPE, "input is %s; a floating type is required", born_dtype_name(dt));
        return NULL;
    }
    born_tensor *d = born_clone(born_to_dtype(x, BORN_F64));
    if (!d) return NULL;
    double *v = born_data_f64(d);
    int64_t n = born_tensor_numel(d);
    for (int64_t i = 0; i < n; i++) v[i] = fn(v[i], params);
    return born_to_dtype(d, dt);
}

born_status onnx_broadcast2(const onnx_op_ctx *c, born_tensor *a, born_tensor *b, born_tensor **ra,
                            born_tensor **rb) {
    int na = born_tensor_ndim(a), nb = born_tensor_ndim(b), n = na > nb ? na : nb;
    int64_t shape[BORN_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        int64_t sa = i - (n - na) >= 0 ? born_tensor_shape(a)[i - (n - na)] : 1;
        int64_t sb = i - (n - nb) >= 0 ? born_tensor_shape(b)[i - (n - nb)] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return onnx_fail(c, BORN_ERR_SHAPE, "shapes do not broadcast in dimension %d (%lld vs %lld)",
                             i, (long long)sa, (long long)sb);
        shape[i] = sa == 1 ? sb : sa;
    }
    *ra = born_expand(a, n, shape);
    *rb = born_expand(b, n, shape);
    if (!*ra || !*rb) return onnx_op_failed(c);
    return BORN_OK;
}

born_status onnx_broadcast_i64(const onnx_op_ctx *c, born_tensor *a, born_tensor *b,
                               born_tensor **ra, born_tensor **rb) {
    born_tensor *ea, *eb;
    ONNX_TRY(onnx_broadcast2(c, a, b, &ea, &eb));
    *ra = born_clone(born_to_dtype(ea, BORN_I64));
    *rb = born_clone(born_to_dtype(eb, BORN_I64));
    if (!*ra || !*rb) return onnx_op_failed(c);
    return BORN_OK;
}
