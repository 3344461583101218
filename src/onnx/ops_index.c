/* Indexing operators: Gather, GatherElements, GatherND, ScatterElements, ScatterND, OneHot,
 * NonZero, Compress. Negative indices count from the end, as ONNX says. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* idx as i64 with negative entries wrapped by dim; out-of-range entries are an error. */
static born_tensor *wrap_indices(onnx_op_ctx *c, born_tensor *idx, int64_t dim) {
    born_tensor *i = born_clone(born_to_dtype(idx, BORN_I64));
    if (!i) return NULL;
    int64_t *v = born_data_i64(i), n = born_tensor_numel(i);
    for (int64_t k = 0; k < n; k++) {
        if (v[k] < 0) v[k] += dim;
        if (v[k] < 0 || v[k] >= dim) {
            onnx_fail(c, BORN_ERR_ARGUMENT, "index %lld is out of range for size %lld",
                      (long long)(v[k] < 0 ? v[k] - dim : v[k]), (long long)dim);
            return NULL;
        }
    }
    return i;
}

static born_status op_Gather(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int a = onnx_axis(c, onnx_attr_int(c, "axis", 0), r);
    if (a < 0) return born_last_status();
    born_dtype it = born_tensor_dtype(c->in[1]);
    if (born_tensor_ndim(c->in[1]) == 0 && (it == BORN_I64 || it == BORN_I32)) {
        /* one index (a shape entry, a state slice): a view, no copy */
        int64_t n = born_tensor_shape(x)[a], v = (int64_t)born_item(c->in[1]);
        if (v < 0) v += n;
        if (v >= 0 && v < n) {
            ONNX_OUT(0, born_select(x, a, v));
            return BORN_OK;
        }
    }
    born_tensor *idx = wrap_indices(c, c->in[1], born_tensor_shape(x)[a]);
    if (!idx) return born_last_status() ? born_last_status() : onnx_op_failed(c);
    int q = born_tensor_ndim(idx);
    if (r - 1 + q > BORN_MAX_DIMS) return onnx_fail(c, BORN_ERR_UNSUPPORTED, "result rank too large");
    born_tensor *flat = born_reshape(idx, 1, (int64_t[]){born_tensor_numel(idx)});
    born_tensor *y = born_index_select(x, a, flat);
    int64_t shape[BORN_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < a; i++) shape[k++] = born_tensor_shape(x)[i];
    for (int i = 0; i < q; i++) shape[k++] = born_tensor_shape(idx)[i];
    for (int i = a + 1; i < r; i++) shape[k++] = born_tensor_shape(x)[i];
    ONNX_OUT(0, born_reshape(y, k, shape));
    return BORN_OK;
}

static born_status op_GatherElements(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0];
    int a = onnx_axis(c, onnx_attr_int(c, "axis", 0), born_tensor_ndim(x));
    if (a < 0) return born_last_status();
    born_tensor *idx = wrap_indices(c, c->in[1], born_tensor_shape(x)[a]);
    if (!idx) return born_last_status() ? born_last_status() : onnx_op_failed(c);
    ONNX_OUT(0, born_gather(x, a, idx));
    return BORN_OK;
}

/* Row-major strides of a shape, in elements. */
static void strides_of(const int64_t *shape, int r, int64_t *st) {
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        st[i] = s;
        s *= shape[i];
    }
}

/* ScatterElements / Scatter: copies data and writes updates at indices along axis. */
static born_status op_ScatterElements(onnx_op_ctx *c) {
    for (int i = 0; i < 3; i++) ONNX_TRY(onnx_need(c, i));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int a = onnx_axis(c, onnx_attr_int(c, "axis", 0), r);
    if (a < 0) return born_last_status();
    char buf[16];
    const char *red = onnx_attr_str(c, "reduction", "none", buf, sizeof buf);
    born_dtype dt = born_tensor_dtype(x);
    born_tensor *y = born_clone(born_to_dtype(x, BORN_F64));
    born_tensor *idx = wrap_indices(c, c->in[1], born_tensor_shape(x)[a]);
    born_tensor *u = onnx_as(c->in[2], BORN_F64);
    if (!idx) return born_last_status() ? born_last_status() : onnx_op_failed(c);
    if (!y || !u) return onnx_op_failed(c);
    if (born_tensor_ndim(idx) != r) return onnx_fail(c, BORN_ERR_SHAPE, "indices rank differs");
    int64_t xst[BORN_MAX_DIMS], ist[BORN_MAX_DIMS];
    strides_of(born_tensor_shape(x), r, xst);
    strides_of(born_tensor_shape(idx), r, ist);
    double *Y = born_data_f64(y);
    const double *U = born_data_f64(u);
    const int64_t *I = born_data_i64(idx);
    int64_t n = born_tensor_numel(idx);
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0, rem = k;
        for (int d = 0; d < r; d++) {
            int64_t coord = rem / ist[d];
            rem %= ist[d];
            off += (d == a ? I[k] : coord) * xst[d];
        }
        double v = U[k];
        if (!strcmp(red, "add")) Y[off] += v;
        else if (!strcmp(red, "mul")) Y[off] *= v;
        else if (!strcmp(red, "max")) Y[off] = fmax(Y[off], v);
        else if (!strcmp(red, "min")) Y[off] = fmin(Y[off], v);
        else Y[off] = v;
    }
    ONNX_OUT(0, born_to_dtype(y, dt));
    return BORN_OK;
}

static born_status op_ScatterND(onnx_op_ctx *c) {
    for (int i = 0; i < 3; i++) ONNX_TRY(onnx_need(c, i));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    born_tensor *idx = onnx_as(c->in[1], BORN_I64);
    born_tensor *u = onnx_as(c->in[2], BORN_F64);
    born_tensor *y = born_clone(born_to_dtype(x, BORN_F64));
    if (!idx || !u || !y) return onnx_op_failed(c);
    int q = born_tensor_ndim(idx);
    int64_t k = born_tensor_shape(idx)[q - 1];
    if (k > r) return onnx_fail(c, BORN_ERR_SHAPE, "index depth %lld exceeds rank %d", (long long)k, r);
    int64_t xst[BORN_MAX_DIMS];
    strides_of(born_tensor_shape(x), r, xst);
    int64_t slice = k < r ? xst[k - 1 < 0 ? 0 : k - 1] : 1;
    if (k == 0) slice = born_tensor_numel(x);
    else slice = xst[k - 1];
    char buf[16];
    const char *red = onnx_attr_str(c, "reduction", "none", buf, sizeof buf);
    int64_t nidx = born_tensor_numel(idx) / (k ? k : 1);
    const int64_t *I = born_data_i64(idx);
    double *Y = born_data_f64(y);
    const double *U = born_data_f64(u);
    if (born_tensor_numel(u) != nidx * slice) return onnx_fail(c, BORN_ERR_SHAPE, "updates shape");
    for (int64_t j = 0; j < nidx; j++) {
        int64_t off = 0;
        for (int64_t d = 0; d < k; d++) {
            int64_t v = I[j * k + d], dim = born_tensor_shape(x)[d];
            if (v < 0) v += dim;
            if (v < 0 || v >= dim) return onnx_fail(c, BORN_ERR_ARGUMENT, "index out of range");
            off += v * xst[d];
        }
        for (int64_t e = 0; e < slice; e++) {
            double v = U[j * slice + e];
            double *t = &Y[off + e];
            if (!strcmp(red, "add")) *t += v;
            else if (!strcmp(red, "mul")) *t *= v;
            else if (!strcmp(red, "max")) *t = fmax(*t, v);
            else if (!strcmp(red, "min")) *t = fmin(*t, v);
            else *t = v;
        }
    }
    ONNX_OUT(0, born_to_dtype(y, born_tensor_dtype(x)));
    return BORN_OK;
}

static born_status op_GatherND(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0];
    int64_t bd = onnx_attr_int(c, "batch_dims", 0);
    int r = born_tensor_ndim(x);
    born_tensor *idx = onnx_as(c->in[1], BORN_I64);
    born_tensor *xf = born_contiguous(x);
    if (!idx || !xf) return onnx_op_failed(c);
    int q = born_tensor_ndim(idx);
    const int64_t *is = born_tensor_shape(idx), *xs = born_tensor_shape(x);
    int64_t k = is[q - 1];
    if (bd < 0 || bd + k > r) return onnx_fail(c, BORN_ERR_SHAPE, "bad index depth");
    int64_t shape[BORN_MAX_DIMS];
    int nr = 0;
    for (int i = 0; i < q - 1; i++) shape[nr++] = is[i];
    for (int64_t i = bd + k; i < r; i++) shape[nr++] = xs[i];
    int64_t xst[BORN_MAX_DIMS];
    strides_of(xs, r, xst);
    int64_t batch = 1, per = 1, slice = 1;
    for (int i = 0; i < bd; i++) batch *= xs[i];
    for (int i = (int)bd; i < q - 1; i++) per *= is[i];
    for (int64_t i = bd + k; i < r; i++) slice *= xs[i];
    size_t es = born_dtype_size(born_tensor_dtype(x));
    born_tensor *y = born_empty(born_tensor_dtype(x), nr, shape);
    if (!y) return onnx_op_failed(c);
    const int64_t *I = born_data_i64(idx);
    const char *X = born_data_ptr(xf);
    char *Y = born_data_ptr(y);
    int64_t bstride = bd ? xst[bd - 1] : 0;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t j = 0; j < per; j++) {
            const int64_t *iv = I + (b * per + j) * k;
            int64_t off = b * bstride;
            for (int64_t d = 0; d < k; d++) {
                int64_t v = iv[d], dim = xs[bd + d];
                if (v < 0) v += dim;
                if (v < 0 || v >= dim) return onnx_fail(c, BORN_ERR_ARGUMENT, "index out of range");
                off += v * xst[bd + d];
            }
            memcpy(Y + (size_t)((b * per + j) * slice) * es, X + (size_t)off * es, (size_t)slice * es);
        }
    ONNX_OUT(0, y);
    return BORN_OK;
}

static born_status op_OneHot(onnx_op_ctx *c) {
    for (int i = 0; i < 3; i++) ONNX_TRY(onnx_need(c, i));
    born_tensor *ind = c->in[0];
    double depth;
    ONNX_TRY(onnx_read_scalar(c, c->in[1], &depth, "depth"));
    born_tensor *vals = c->in[2];
    if (born_tensor_numel(vals) != 2) return onnx_fail(c, BORN_ERR_SHAPE, "values needs 2 entries");
    int64_t d = (int64_t)depth;
    int r = born_tensor_ndim(ind);
    int a = onnx_axis(c, onnx_attr_int(c, "axis", -1), r + 1);
    if (a < 0) return born_last_status();
    born_tensor *i = born_to_dtype(ind, BORN_F64);
    i = born_where(born_lt_scalar(i, 0), born_add_scalar(i, (double)d), i);
    int64_t shape[BORN_MAX_DIMS];
    for (int k = 0; k < r + 1; k++) shape[k] = k == a ? d : 1;
    born_tensor *io = born_reshape(born_arange(0, (double)d, 1, BORN_F64), r + 1, shape);
    born_tensor *hot = born_eq(born_unsqueeze(i, a), io);
    born_tensor *off = born_select(vals, 0, 0), *on = born_select(vals, 0, 1);
    ONNX_OUT(0, born_where(hot, on, off));
    return BORN_OK;
}

static born_status op_NonZero(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = born_contiguous(born_to_dtype(c->in[0], BORN_BOOL));
    if (!x) return onnx_op_failed(c);
    int r = born_tensor_ndim(x);
    int rr = r ? r : 1;
    int64_t n = born_tensor_numel(x), cnt = 0;
    const uint8_t *v = born_data_ptr(x);
    for (int64_t i = 0; i < n; i++) cnt += v[i] != 0;
    born_tensor *y = born_empty(BORN_I64, 2, (int64_t[]){rr, cnt});
    if (!y) return onnx_op_failed(c);
    int64_t *Y = born_data_i64(y), st[BORN_MAX_DIMS];
    strides_of(born_tensor_shape(x), r, st);
    int64_t j = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!v[i]) continue;
        int64_t rem = i;
        if (!r) Y[j] = 0;
        for (int d = 0; d < r; d++) {
            Y[d * cnt + j] = rem / st[d];
            rem %= st[d];
        }
        j++;
    }
    ONNX_OUT(0, y);
    return BORN_OK;
}

static born_status op_Compress(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0];
    born_tensor *cond = born_contiguous(born_to_dtype(c->in[1], BORN_BOOL));
    if (!cond) return onnx_op_failed(c);
    bool has_axis = onnx_has_attr(c, "axis");
    if (!has_axis) x = born_reshape(x, 1, (int64_t[]){born_tensor_numel(x)});
    int a = has_axis ? onnx_axis(c, onnx_attr_int(c, "axis", 0), born_tensor_ndim(x)) : 0;
    if (a < 0) return born_last_status();
    int64_t dim = born_tensor_shape(x)[a], n = born_tensor_numel(cond);
    if (n > dim) n = dim;
    const uint8_t *v = born_data_ptr(cond);
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++) cnt += v[i] != 0;
    born_tensor *idx = born_empty(BORN_I64, 1, (int64_t[]){cnt});
    if (!idx) return onnx_op_failed(c);
    int64_t *I = born_data_i64(idx), j = 0;
    for (int64_t i = 0; i < n; i++)
        if (v[i]) I[j++] = i;
    ONNX_OUT(0, born_index_select(x, a, idx));
    return BORN_OK;
}

const onnx_op_entry onnx_ops_index[] = {
    {"Gather", op_Gather}, {"GatherElements", op_GatherElements}, {"GatherND", op_GatherND},
    {"ScatterElements", op_ScatterElements}, {"Scatter", op_ScatterElements},
    {"ScatterND", op_ScatterND}, {"OneHot", op_OneHot}, {"NonZero", op_NonZero},
    {"Compress", op_Compress}, {NULL, NULL}};
