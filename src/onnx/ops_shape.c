/* Shape and layout operators: Reshape, Shape, Size, Flatten, Squeeze, Unsqueeze, Transpose,
 * Concat, Split, Slice, Expand, Tile, Pad, ConstantOfShape, Constant, Range, EyeLike, Trilu,
 * DepthToSpace, SpaceToDepth, Dropout. */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "onnx/onnx_internal.h"

static born_tensor *i64_vector(const int64_t *v, int n) {
    return born_from_data(BORN_I64, 1, (int64_t[]){n}, v, (size_t)n * sizeof(int64_t));
}

static born_status op_Reshape(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int64_t shape[BORN_MAX_DIMS];
    int n;
    if (c->opset < 5) {
        const int64_t *s = onnx_attr_ints(c, "shape", &n);
        if (n > BORN_MAX_DIMS) return onnx_fail(c, BORN_ERR_UNSUPPORTED, "too many dims");
        if (n) memcpy(shape, s, (size_t)n * sizeof *shape);
    } else {
        ONNX_TRY(onnx_need(c, 1));
        if ((n = onnx_read_ints(c, c->in[1], shape, BORN_MAX_DIMS, "shape")) < 0)
            return born_last_status();
    }
    bool allowzero = onnx_attr_int(c, "allowzero", 0) != 0;
    for (int i = 0; i < n; i++) {
        if (shape[i] == 0 && !allowzero) {
            if (i >= born_tensor_ndim(x))
                return onnx_fail(c, BORN_ERR_SHAPE, "shape[%d] = 0 copies a dimension the input lacks", i);
            shape[i] = born_tensor_shape(x)[i];
        }
    }
    ONNX_OUT(0, born_reshape(x, n, shape));
    return BORN_OK;
}

static born_status op_Shape(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    int r = born_tensor_ndim(c->in[0]);
    int64_t start = onnx_attr_int(c, "start", 0), end = onnx_attr_int(c, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    if (end < start) end = start;
    ONNX_OUT(0, i64_vector(born_tensor_shape(c->in[0]) + start, (int)(end - start)));
    return BORN_OK;
}

static born_status op_Size(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_OUT(0, born_scalar(BORN_I64, (double)born_tensor_numel(c->in[0])));
    return BORN_OK;
}

static born_status op_Flatten(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int64_t axis = onnx_attr_int(c, "axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) return onnx_fail(c, BORN_ERR_ARGUMENT, "axis out of range");
    int64_t a = 1, b = 1;
    for (int i = 0; i < r; i++) {
        if (i < axis) a *= born_tensor_shape(x)[i];
        else b *= born_tensor_shape(x)[i];
    }
    ONNX_OUT(0, born_reshape(x, 2, (int64_t[]){a, b}));
    return BORN_OK;
}

/* Axes from the attribute (older opsets) or from input 1. Returns the count, or -1. */
static int get_axes(onnx_op_ctx *c, int64_t from_opset, int input, int64_t *axes, bool *given) {
    int n = 0;
    *given = false;
    if (c->opset < from_opset) {
        const int64_t *a = onnx_attr_ints(c, "axes", &n);
        if (n > 16) return onnx_fail(c, BORN_ERR_ARGUMENT, "too many axes"), -1;
        if (a) memcpy(axes, a, (size_t)n * sizeof *axes);
        *given = a != NULL;
    } else if (c->nin > input && c->in[input]) {
        n = onnx_read_ints(c, c->in[input], axes, 16, "axes");
        *given = true;
    }
    return n;
}

static born_status op_Squeeze(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int64_t axes[16];
    bool given;
    int n = get_axes(c, 13, 1, axes, &given);
    if (n < 0) return born_last_status();
    int r = born_tensor_ndim(x);
    if (!given || n == 0) {
        ONNX_OUT(0, born_squeeze_all(x));
        return BORN_OK;
    }
    bool drop[BORN_MAX_DIMS] = {false};
    for (int i = 0; i < n; i++) {
        int a = onnx_axis(c, axes[i], r);
        if (a < 0) return born_last_status();
        if (born_tensor_shape(x)[a] != 1)
            return onnx_fail(c, BORN_ERR_SHAPE, "axis %d has size %lld, not 1", a,
                             (long long)born_tensor_shape(x)[a]);
        drop[a] = true;
    }
    int64_t shape[BORN_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < r; i++)
        if (!drop[i]) shape[k++] = born_tensor_shape(x)[i];
    ONNX_OUT(0, born_reshape(x, k, shape));
    return BORN_OK;
}

static born_status op_Unsqueeze(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int64_t axes[16];
    bool given;
    int n = get_axes(c, 13, 1, axes, &given);
    if (n < 0) return born_last_status();
    int r = born_tensor_ndim(x), out = r + n;
    if (out > BORN_MAX_DIMS) return onnx_fail(c, BORN_ERR_UNSUPPORTED, "more than %d dims", BORN_MAX_DIMS);
    bool ins[BORN_MAX_DIMS] = {false};
    for (int i = 0; i < n; i++) {
        int a = onnx_axis(c, axes[i], out);
        if (a < 0) return born_last_status();
        if (ins[a]) return onnx_fail(c, BORN_ERR_ARGUMENT, "axis %d repeated", a);
        ins[a] = true;
    }
    int64_t shape[BORN_MAX_DIMS];
    for (int i = 0, k = 0; i < out; i++) shape[i] = ins[i] ? 1 : born_tensor_shape(x)[k++];
    ONNX_OUT(0, born_reshape(x, out, shape));
    return BORN_OK;
}

static born_status op_Transpose(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x), n;
    const int64_t *perm = onnx_attr_ints(c, "perm", &n);
    int64_t p[BORN_MAX_DIMS];
    if (!perm) {
        for (int i = 0; i < r; i++) p[i] = r - 1 - i;
    } else {
        if (n != r) return onnx_fail(c, BORN_ERR_ARGUMENT, "perm has %d entries for rank %d", n, r);
        memcpy(p, perm, (size_t)n * sizeof *p);
    }
    ONNX_OUT(0, born_contiguous(born_permute(x, r, p)));
    return BORN_OK;
}

static born_status op_Concat(onnx_op_ctx *c) {
    born_tensor *list[64];
    int n = 0;
    for (int i = 0; i < c->nin; i++)
        if (c->in[i]) list[n++] = c->in[i];
    if (!n) return onnx_fail(c, BORN_ERR_ARGUMENT, "no inputs");
    int r = born_tensor_ndim(list[0]);
    int a = onnx_axis(c, onnx_attr_int(c, "axis", 0), r);
    if (a < 0) return born_last_status();
    ONNX_OUT(0, born_cat(list, n, a));
    return BORN_OK;
}

static born_status op_Split(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int a = onnx_axis(c, onnx_attr_int(c, "axis", 0), r);
    if (a < 0) return born_last_status();
    int64_t sizes[64];
    int n;
    if (c->opset < 13) {
        const int64_t *s = onnx_attr_ints(c, "split", &n);
        if (n > 64) return onnx_fail(c, BORN_ERR_ARGUMENT, "too many splits");
        if (s) memcpy(sizes, s, (size_t)n * sizeof *sizes);
    } else {
        n = c->nin > 1 && c->in[1] ? onnx_read_ints(c, c->in[1], sizes, 64, "split") : 0;
        if (n < 0) return born_last_status();
    }
    int64_t dim = born_tensor_shape(x)[a];
    if (n == 0) {
        int k = c->nout;
        if (onnx_has_attr(c, "num_outputs")) k = (int)onnx_attr_int(c, "num_outputs", k);
        if (k <= 0 || k > 64) return onnx_fail(c, BORN_ERR_ARGUMENT, "bad number of outputs");
        int64_t each = (dim + k - 1) / k;
        for (int i = 0; i < k; i++) {
            int64_t left = dim - each * i;
            sizes[i] = left < each ? (left < 0 ? 0 : left) : each;
        }
        n = k;
    }
    if (n != c->nout) return onnx_fail(c, BORN_ERR_ARGUMENT, "%d sizes for %d outputs", n, c->nout);
    born_tensor *parts[64];
    if (born_split_sizes(x, n, sizes, a, parts)) return onnx_op_failed(c);
    for (int i = 0; i < n; i++) ONNX_OUT(i, born_contiguous(parts[i]));
    return BORN_OK;
}

/* Selects elements start, start+step, ... along axis a (step may be negative). */
static born_tensor *slice_axis(born_tensor *x, int a, int64_t start, int64_t end, int64_t step) {
    int64_t dim = born_tensor_shape(x)[a];
    if (step > 0) {
        if (start < 0) start += dim;
        if (end < 0) end += dim;
        start = start < 0 ? 0 : start > dim ? dim : start;
        end = end < 0 ? 0 : end > dim ? dim : end;
        if (end < start) end = start;
        return born_slice(x, a, start, end, step);
    }
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    start = start < 0 ? -1 : start > dim - 1 ? dim - 1 : start;
    end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
    int64_t count = start > end ? (start - end + (-step) - 1) / (-step) : 0;
    born_tensor *idx = born_arange((double)start, (double)(start + step * count), (double)step, BORN_I64);
    if (count == 0) idx = born_empty(BORN_I64, 1, (int64_t[]){0});
    return born_index_select(x, a, idx);
}

static born_status op_Slice(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int64_t starts[16], ends[16], axes[16], steps[16];
    int ns, ne, na = 0, nst = 0;
    if (c->opset < 10) {
        const int64_t *s = onnx_attr_ints(c, "starts", &ns), *e = onnx_attr_ints(c, "ends", &ne);
        const int64_t *ax = onnx_attr_ints(c, "axes", &na);
        if (ns > 16 || ne > 16 || na > 16) return onnx_fail(c, BORN_ERR_ARGUMENT, "too many axes");
        if (s) memcpy(starts, s, (size_t)ns * 8);
        if (e) memcpy(ends, e, (size_t)ne * 8);
        if (ax) memcpy(axes, ax, (size_t)na * 8);
    } else {
        ONNX_TRY(onnx_need(c, 1));
        ONNX_TRY(onnx_need(c, 2));
        ns = onnx_read_ints(c, c->in[1], starts, 16, "starts");
        ne = onnx_read_ints(c, c->in[2], ends, 16, "ends");
        if (c->nin > 3 && c->in[3]) na = onnx_read_ints(c, c->in[3], axes, 16, "axes");
        if (c->nin > 4 && c->in[4]) nst = onnx_read_ints(c, c->in[4], steps, 16, "steps");
        if (ns < 0 || ne < 0 || na < 0 || nst < 0) return born_last_status();
    }
    if (ns != ne || (na && na != ns) || (nst && nst != ns))
        return onnx_fail(c, BORN_ERR_ARGUMENT, "starts, ends, axes and steps differ in length");
    born_tensor *y = x;
    for (int i = 0; i < ns; i++) {
        int a = onnx_axis(c, na ? axes[i] : i, r);
        if (a < 0) return born_last_status();
        int64_t step = nst ? steps[i] : 1;
        if (step == 0) return onnx_fail(c, BORN_ERR_ARGUMENT, "step 0");
        y = slice_axis(y, a, starts[i], ends[i], step);
        if (!y) return onnx_op_failed(c);
    }
    ONNX_OUT(0, born_contiguous(y == x ? born_detach(x) : y));
    return BORN_OK;
}

static born_status op_Expand(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    int64_t shape[BORN_MAX_DIMS];
    int n = onnx_read_ints(c, c->in[1], shape, BORN_MAX_DIMS, "shape");
    if (n < 0) return born_last_status();
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x), out = n > r ? n : r;
    int64_t full[BORN_MAX_DIMS];
    for (int i = 0; i < out; i++) {
        int64_t sx = i - (out - r) >= 0 ? born_tensor_shape(x)[i - (out - r)] : 1;
        int64_t ss = i - (out - n) >= 0 ? shape[i - (out - n)] : 1;
        if (sx != ss && sx != 1 && ss != 1)
            return onnx_fail(c, BORN_ERR_SHAPE, "cannot expand size %lld to %lld", (long long)sx,
                             (long long)ss);
        full[i] = sx == 1 ? ss : sx;
    }
    ONNX_OUT(0, born_contiguous(born_expand(x, out, full)));
    return BORN_OK;
}

static born_status op_Tile(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0];
    int64_t reps[BORN_MAX_DIMS];
    int r = born_tensor_ndim(x);
    int n = onnx_read_ints(c, c->in[1], reps, BORN_MAX_DIMS, "repeats");
    if (n < 0) return born_last_status();
    if (n != r) return onnx_fail(c, BORN_ERR_ARGUMENT, "%d repeats for rank %d", n, r);
    born_tensor *y = x;
    for (int a = 0; a < r; a++) {
        if (reps[a] == 1) continue;
        int64_t d = born_tensor_shape(x)[a];
        born_tensor *idx = born_remainder(born_arange(0, (double)(d * reps[a]), 1, BORN_I64),
                                          born_scalar(BORN_I64, (double)(d ? d : 1)));
        y = born_index_select(y, a, idx);
    }
    ONNX_OUT(0, y == x ? born_clone(x) : y);
    return BORN_OK;
}

static born_status op_Pad(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int64_t pads[2 * BORN_MAX_DIMS], axes[BORN_MAX_DIMS];
    int np, na = 0;
    double value = 0;
    if (c->opset < 11) {
        const int64_t *p = onnx_attr_ints(c, "pads", &np);
        if (np > 2 * BORN_MAX_DIMS) return onnx_fail(c, BORN_ERR_ARGUMENT, "too many pads");
        if (p) memcpy(pads, p, (size_t)np * 8);
        value = onnx_attr_float(c, "value", 0);
    } else {
        ONNX_TRY(onnx_need(c, 1));
        np = onnx_read_ints(c, c->in[1], pads, 2 * BORN_MAX_DIMS, "pads");
        if (np < 0) return born_last_status();
        if (c->nin > 2 && c->in[2] && born_tensor_numel(c->in[2]) == 1) value = born_item(c->in[2]);
        if (c->nin > 3 && c->in[3]) {
            na = onnx_read_ints(c, c->in[3], axes, BORN_MAX_DIMS, "axes");
            if (na < 0) return born_last_status();
        }
    }
    int k = na ? na : r;
    if (np != 2 * k) return onnx_fail(c, BORN_ERR_ARGUMENT, "%d pads for %d axes", np, k);
    int64_t before[BORN_MAX_DIMS] = {0}, after[BORN_MAX_DIMS] = {0};
    for (int i = 0; i < k; i++) {
        int a = na ? onnx_axis(c, axes[i], r) : i;
        if (a < 0) return born_last_status();
        before[a] = pads[i];
        after[a] = pads[i + k];
    }
    char buf[16];
    const char *mode = onnx_attr_str(c, "mode", "constant", buf, sizeof buf);
    born_tensor *y = x;
    if (!strcmp(mode, "constant")) {
        int64_t tp[2 * BORN_MAX_DIMS];
        for (int i = 0; i < r; i++) {
            tp[2 * i] = before[r - 1 - i];
            tp[2 * i + 1] = after[r - 1 - i];
        }
        ONNX_OUT(0, born_pad(x, 2 * r, tp, value));
        return BORN_OK;
    }
    bool reflect = !strcmp(mode, "reflect"), edge = !strcmp(mode, "edge"), wrap = !strcmp(mode, "wrap");
    if (!reflect && !edge && !wrap) return onnx_fail(c, BORN_ERR_ARGUMENT, "unknown mode '%s'", mode);
    for (int a = 0; a < r; a++) {
        if (!before[a] && !after[a]) continue;
        int64_t d = born_tensor_shape(y)[a], n = d + before[a] + after[a];
        if (d == 0 || n < 0) return onnx_fail(c, BORN_ERR_SHAPE, "cannot pad an empty axis");
        born_tensor *idx = born_empty(BORN_I64, 1, (int64_t[]){n});
        if (!idx) return onnx_op_failed(c);
        int64_t *v = born_data_i64(idx);
        for (int64_t i = 0; i < n; i++) {
            int64_t j = i - before[a];
            if (edge) j = j < 0 ? 0 : j >= d ? d - 1 : j;
            else if (wrap) j = ((j % d) + d) % d;
            else if (d == 1) j = 0;
            else {
                int64_t period = 2 * (d - 1);
                j = ((j % period) + period) % period;
                if (j >= d) j = period - j;
            }
            v[i] = j;
        }
        y = born_index_select(y, a, idx);
        if (!y) return onnx_op_failed(c);
    }
    ONNX_OUT(0, y == x ? born_clone(x) : y);
    return BORN_OK;
}

static born_status op_ConstantOfShape(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    int64_t shape[BORN_MAX_DIMS];
    int n = onnx_read_ints(c, c->in[0], shape, BORN_MAX_DIMS, "shape");
    if (n < 0) return born_last_status();
    const onnx_attr *v = onnx_node_attr(c->node, "value");
    born_dtype dt = BORN_F32;
    double value = 0;
    if (v && v->t) {
        born_tensor *t = onnx_tensor_to_born(v->t, NULL);
        if (!t) return onnx_op_failed(c);
        dt = born_tensor_dtype(t);
        if (born_tensor_numel(t) != 1) return onnx_fail(c, BORN_ERR_SHAPE, "value must have one element");
        value = born_item(t);
    }
    ONNX_OUT(0, born_full(dt, n, shape, value));
    return BORN_OK;
}

static born_status op_Constant(onnx_op_ctx *c) {
    const onnx_attr *a;
    if ((a = onnx_node_attr(c->node, "value")) && a->t) {
        ONNX_OUT(0, onnx_tensor_to_born(a->t, NULL));
    } else if ((a = onnx_node_attr(c->node, "value_float"))) {
        ONNX_OUT(0, born_scalar(BORN_F32, a->f));
    } else if ((a = onnx_node_attr(c->node, "value_int"))) {
        ONNX_OUT(0, born_scalar(BORN_I64, (double)a->i));
    } else if ((a = onnx_node_attr(c->node, "value_floats"))) {
        ONNX_OUT(0, born_from_data(BORN_F32, 1, (int64_t[]){(int64_t)a->nfloats}, a->floats,
                                   a->nfloats * sizeof(float)));
    } else if ((a = onnx_node_attr(c->node, "value_ints"))) {
        ONNX_OUT(0, born_from_data(BORN_I64, 1, (int64_t[]){(int64_t)a->nints}, a->ints,
                                   a->nints * sizeof(int64_t)));
    } else {
        return onnx_fail(c, BORN_ERR_UNSUPPORTED, "no supported value attribute (sparse or string)");
    }
    return BORN_OK;
}

static born_status op_Range(onnx_op_ctx *c) {
    for (int i = 0; i < 3; i++) ONNX_TRY(onnx_need(c, i));
    double s, l, d;
    ONNX_TRY(onnx_read_scalar(c, c->in[0], &s, "start"));
    ONNX_TRY(onnx_read_scalar(c, c->in[1], &l, "limit"));
    ONNX_TRY(onnx_read_scalar(c, c->in[2], &d, "delta"));
    if (d == 0) return onnx_fail(c, BORN_ERR_ARGUMENT, "delta 0");
    double cnt = ceil((l - s) / d);
    int64_t n = cnt > 0 ? (int64_t)cnt : 0;
    born_dtype dt = born_tensor_dtype(c->in[0]);
    born_tensor *r = born_empty(BORN_F64, 1, (int64_t[]){n});
    if (!r) return onnx_op_failed(c);
    double *v = born_data_f64(r);
    for (int64_t i = 0; i < n; i++) v[i] = s + (double)i * d;
    ONNX_OUT(0, born_to_dtype(r, dt));
    return BORN_OK;
}

static born_status op_EyeLike(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    if (born_tensor_ndim(x) != 2) return onnx_fail(c, BORN_ERR_SHAPE, "input must be 2-D");
    born_dtype dt = born_tensor_dtype(x);
    if (onnx_has_attr(c, "dtype") && !onnx_dtype_map((int32_t)onnx_attr_int(c, "dtype", 1), &dt))
        return onnx_fail(c, BORN_ERR_UNSUPPORTED, "unsupported dtype");
    int64_t k = onnx_attr_int(c, "k", 0), n = born_tensor_shape(x)[0], m = born_tensor_shape(x)[1];
    born_tensor *r = born_zeros(BORN_F64, 2, (int64_t[]){n, m});
    if (!r) return onnx_op_failed(c);
    double *v = born_data_f64(r);
    for (int64_t i = 0; i < n; i++)
        if (i + k >= 0 && i + k < m) v[i * m + i + k] = 1;
    ONNX_OUT(0, born_to_dtype(r, dt));
    return BORN_OK;
}

static born_status op_Trilu(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    double k = 0;
    if (c->nin > 1 && c->in[1]) ONNX_TRY(onnx_read_scalar(c, c->in[1], &k, "k"));
    bool upper = onnx_attr_int(c, "upper", 1) != 0;
    born_tensor *x = c->in[0];
    ONNX_OUT(0, upper ? born_triu(x, (int64_t)k) : born_tril(x, (int64_t)k));
    return BORN_OK;
}

static born_status op_DepthToSpace(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    if (born_tensor_ndim(x) != 4) return onnx_fail(c, BORN_ERR_SHAPE, "input must be 4-D");
    const int64_t *s = born_tensor_shape(x);
    int64_t b = onnx_attr_int(c, "blocksize", 0), N = s[0], C = s[1], H = s[2], W = s[3];
    if (b <= 0 || C % (b * b)) return onnx_fail(c, BORN_ERR_SHAPE, "bad blocksize");
    char buf[8];
    bool crd = !strcmp(onnx_attr_str(c, "mode", "DCR", buf, sizeof buf), "CRD");
    born_tensor *y;
    if (crd) {
        y = born_reshape(x, 6, (int64_t[]){N, C / (b * b), b, b, H, W});
        y = born_permute(y, 6, (int64_t[]){0, 1, 4, 2, 5, 3});
    } else {
        y = born_reshape(x, 6, (int64_t[]){N, b, b, C / (b * b), H, W});
        y = born_permute(y, 6, (int64_t[]){0, 3, 4, 1, 5, 2});
    }
    ONNX_OUT(0, born_reshape(y, 4, (int64_t[]){N, C / (b * b), H * b, W * b}));
    return BORN_OK;
}

static born_status op_SpaceToDepth(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    if (born_tensor_ndim(x) != 4) return onnx_fail(c, BORN_ERR_SHAPE, "input must be 4-D");
    const int64_t *s = born_tensor_shape(x);
    int64_t b = onnx_attr_int(c, "blocksize", 0), N = s[0], C = s[1], H = s[2], W = s[3];
    if (b <= 0 || H % b || W % b) return onnx_fail(c, BORN_ERR_SHAPE, "bad blocksize");
    born_tensor *y = born_reshape(x, 6, (int64_t[]){N, C, H / b, b, W / b, b});
    y = born_permute(y, 6, (int64_t[]){0, 3, 5, 1, 2, 4});
    ONNX_OUT(0, born_reshape(y, 4, (int64_t[]){N, C * b * b, H / b, W / b}));
    return BORN_OK;
}

static born_status op_Dropout(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    bool training = false;
    if (c->opset >= 12 && c->nin > 2 && c->in[2]) training = born_item(c->in[2]) != 0;
    if (training) {
        double ratio = 0.5;
        if (c->nin > 1 && c->in[1]) ratio = born_item(c->in[1]);
        if (ratio != 0)
            return onnx_fail(c, BORN_ERR_UNSUPPORTED, "training-mode dropout (random) is not supported");
    }
    ONNX_OUT(0, born_detach(c->in[0]));
    if (c->nout > 1) {
        born_tensor *m = born_full(BORN_BOOL, born_tensor_ndim(c->in[0]), born_tensor_shape(c->in[0]), 1);
        ONNX_OUT(1, m);
    }
    return BORN_OK;
}

const onnx_op_entry onnx_ops_shape[] = {
    {"Reshape", op_Reshape}, {"Shape", op_Shape}, {"Size", op_Size}, {"Flatten", op_Flatten},
    {"Squeeze", op_Squeeze}, {"Unsqueeze", op_Unsqueeze}, {"Transpose", op_Transpose},
    {"Concat", op_Concat}, {"Split", op_Split}, {"Slice", op_Slice}, {"Expand", op_Expand},
    {"Tile", op_Tile}, {"Pad", op_Pad}, {"ConstantOfShape", op_ConstantOfShape},
    {"Constant", op_Constant}, {"Range", op_Range}, {"EyeLike", op_EyeLike}, {"Trilu", op_Trilu},
    {"DepthToSpace", op_DepthToSpace}, {"SpaceToDepth", op_SpaceToDepth}, {"Dropout", op_Dropout},
    {NULL, NULL}};
