/* Reductions (Reduce*, ArgMax/ArgMin), softmax family, CumSum, TopK. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQUARE };

static born_status reduce(onnx_op_ctx *c, int kind) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int64_t axes[BORN_MAX_DIMS];
    int n = 0;
    bool given = false;
    int64_t from = kind == R_SUM ? 13 : 18;
    if (c->opset < from) {
        const int64_t *a = onnx_attr_ints(c, "axes", &n);
        if (n > BORN_MAX_DIMS) return onnx_fail(c, BORN_ERR_ARGUMENT, "too many axes");
        if (a) memcpy(axes, a, (size_t)n * 8);
        given = a != NULL;
    } else if (c->nin > 1 && c->in[1]) {
        n = onnx_read_ints(c, c->in[1], axes, BORN_MAX_DIMS, "axes");
        if (n < 0) return born_last_status();
        given = true;
    }
    bool keep = onnx_attr_int(c, "keepdims", 1) != 0;
    if ((!given || n == 0) && onnx_attr_int(c, "noop_with_empty_axes", 0)) {
        ONNX_OUT(0, born_detach(x));
        return BORN_OK;
    }
    if (!given || n == 0) {
        n = r;
        for (int i = 0; i < r; i++) axes[i] = i;
    }
    for (int i = 0; i < n; i++) {
        int a = onnx_axis(c, axes[i], r);
        if (a < 0) return born_last_status();
        axes[i] = a;
    }
    born_dtype dt = born_tensor_dtype(x);
    born_tensor *y;
    bool empty = born_tensor_numel(x) == 0;
    if (empty && (kind == R_MAX || kind == R_MIN)) {
        /* an empty reduction gives the identity, as onnxruntime does */
        int64_t shape[BORN_MAX_DIMS];
        int k = 0;
        for (int i = 0; i < r; i++) {
            bool red = false;
            for (int j = 0; j < n; j++) red |= axes[j] == i;
            if (!red) shape[k++] = born_tensor_shape(x)[i];
            else if (keep) shape[k++] = 1;
        }
        double v = kind == R_MAX ? -INFINITY : INFINITY;
        if (born_dtype_is_integer(dt)) v = kind == R_MAX ? -9.2233720368547758e18 : 9.2233720368547758e18;
        ONNX_OUT(0, born_to_dtype(born_full(BORN_F64, k, shape, v), dt));
        return BORN_OK;
    }
    born_tensor *f = born_dtype_is_floating(dt) ? x : born_to_dtype(x, BORN_F64);
    switch (kind) {
    case R_SUM: y = born_sum(x, n, axes, keep); break;
    case R_MEAN: y = born_mean(f, n, axes, keep); break;
    case R_MAX: y = born_max(x, n, axes, keep); break;
    case R_MIN: y = born_min(x, n, axes, keep); break;
    case R_PROD: y = born_prod(x, n, axes, keep); break;
    case R_L1: y = born_sum(born_abs(x), n, axes, keep); break;
    case R_L2: y = born_sqrt(born_sum(born_square(f), n, axes, keep)); break;
    case R_LOGSUM: y = born_log(born_sum(f, n, axes, keep)); break;
    case R_LOGSUMEXP: y = born_logsumexp(f, n, axes, keep); break;
    default: y = born_sum(born_square(x), n, axes, keep); break;
    }
    if (y && born_tensor_dtype(y) != dt) y = born_to_dtype(y, dt);
    ONNX_OUT(0, y);
    return BORN_OK;
}

#define REDUCE(name, k)                                                                            \
    static born_status op_##name(onnx_op_ctx *c) { return reduce(c, k); }
REDUCE(ReduceSum, R_SUM)
REDUCE(ReduceMean, R_MEAN)
REDUCE(ReduceMax, R_MAX)
REDUCE(ReduceMin, R_MIN)
REDUCE(ReduceProd, R_PROD)
REDUCE(ReduceL1, R_L1)
REDUCE(ReduceL2, R_L2)
REDUCE(ReduceLogSum, R_LOGSUM)
REDUCE(ReduceLogSumExp, R_LOGSUMEXP)
REDUCE(ReduceSumSquare, R_SUMSQUARE)

static born_status arg(onnx_op_ctx *c, bool max) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int a = onnx_axis(c, onnx_attr_int(c, "axis", 0), r);
    if (a < 0) return born_last_status();
    bool keep = onnx_attr_int(c, "keepdims", 1) != 0;
    bool last = onnx_attr_int(c, "select_last_index", 0) != 0;
    if (!last) {
        ONNX_OUT(0, max ? born_argmax(x, a, keep) : born_argmin(x, a, keep));
        return BORN_OK;
    }
    int64_t d = born_tensor_shape(x)[a];
    born_tensor *rev = born_index_select(x, a, born_arange((double)d - 1, -1, -1, BORN_I64));
    born_tensor *i = max ? born_argmax(rev, a, keep) : born_argmin(rev, a, keep);
    ONNX_OUT(0, born_to_dtype(born_rsub_scalar(i, (double)(d - 1)), BORN_I64));
    return BORN_OK;
}
static born_status op_ArgMax(onnx_op_ctx *c) { return arg(c, true); }
static born_status op_ArgMin(onnx_op_ctx *c) { return arg(c, false); }

/* kind 0 softmax, 1 log-softmax, 2 hardmax */
static born_status softmax(onnx_op_ctx *c, int kind) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    int64_t axis = onnx_attr_int(c, "axis", c->opset < 13 ? 1 : -1);
    int a = onnx_axis(c, axis, r);
    if (a < 0) return born_last_status();
    born_tensor *v = x;
    if (c->opset < 13) { /* coerced to 2-D at axis */
        int64_t m = 1, k = 1;
        for (int i = 0; i < r; i++) {
            if (i < a) m *= born_tensor_shape(x)[i];
            else k *= born_tensor_shape(x)[i];
        }
        v = born_reshape(x, 2, (int64_t[]){m, k});
        a = 1;
    }
    born_tensor *y;
    if (kind == 0) y = born_softmax(v, a);
    else if (kind == 1) y = born_log_softmax(v, a);
    else {
        born_tensor *idx = born_argmax(v, a, true);
        int64_t d = born_tensor_shape(v)[a];
        born_tensor *io = born_arange(0, (double)d, 1, BORN_I64);
        int rv = born_tensor_ndim(v);
        int64_t shape[BORN_MAX_DIMS];
        for (int i = 0; i < rv; i++) shape[i] = i == a ? d : 1;
        y = born_to_dtype(born_eq(born_reshape(io, rv, shape), idx), born_tensor_dtype(x));
    }
    ONNX_OUT(0, born_reshape(y, r, born_tensor_shape(x)));
    return BORN_OK;
}
static born_status op_Softmax(onnx_op_ctx *c) { return softmax(c, 0); }
static born_status op_LogSoftmax(onnx_op_ctx *c) { return softmax(c, 1); }
static born_status op_Hardmax(onnx_op_ctx *c) { return softmax(c, 2); }

static born_status op_CumSum(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0];
    double ax;
    ONNX_TRY(onnx_read_scalar(c, c->in[1], &ax, "axis"));
    int a = onnx_axis(c, (int64_t)ax, born_tensor_ndim(x));
    if (a < 0) return born_last_status();
    bool excl = onnx_attr_int(c, "exclusive", 0) != 0, rev = onnx_attr_int(c, "reverse", 0) != 0;
    int64_t d = born_tensor_shape(x)[a];
    born_tensor *ridx = born_arange((double)d - 1, -1, -1, BORN_I64);
    born_tensor *v = rev ? born_index_select(x, a, ridx) : x;
    born_tensor *y = born_cumsum(v, a);
    if (excl) y = born_sub(y, v);
    if (rev) y = born_index_select(y, a, ridx);
    ONNX_OUT(0, born_to_dtype(y, born_tensor_dtype(x)));
    return BORN_OK;
}

static born_status op_TopK(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int64_t k;
    if (c->opset < 10) k = onnx_attr_int(c, "k", 0);
    else {
        ONNX_TRY(onnx_need(c, 1));
        int64_t kk[1];
        if (onnx_read_ints(c, c->in[1], kk, 1, "k") != 1) return onnx_fail(c, BORN_ERR_ARGUMENT, "bad k");
        k = kk[0];
    }
    int a = onnx_axis(c, onnx_attr_int(c, "axis", -1), born_tensor_ndim(x));
    if (a < 0) return born_last_status();
    bool largest = onnx_attr_int(c, "largest", 1) != 0, sorted = onnx_attr_int(c, "sorted", 1) != 0;
    born_tensor *v, *i;
    if (born_topk(x, k, a, largest, sorted, &v, &i)) return onnx_op_failed(c);
    ONNX_OUT(0, v);
    if (c->nout > 1) ONNX_OUT(1, i);
    return BORN_OK;
}

const onnx_op_entry onnx_ops_reduce[] = {
    {"ReduceSum", op_ReduceSum}, {"ReduceMean", op_ReduceMean}, {"ReduceMax", op_ReduceMax},
    {"ReduceMin", op_ReduceMin}, {"ReduceProd", op_ReduceProd}, {"ReduceL1", op_ReduceL1},
    {"ReduceL2", op_ReduceL2}, {"ReduceLogSum", op_ReduceLogSum},
    {"ReduceLogSumExp", op_ReduceLogSumExp}, {"ReduceSumSquare", op_ReduceSumSquare},
    {"ArgMax", op_ArgMax}, {"ArgMin", op_ArgMin}, {"Softmax", op_Softmax},
    {"LogSoftmax", op_LogSoftmax}, {"Hardmax", op_Hardmax}, {"CumSum", op_CumSum},
    {"TopK", op_TopK}, {NULL, NULL}};
