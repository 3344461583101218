/* Sorting: sort, argsort and topk along a dim, for every dtype (topk: every dtype but bool, as
 * torch). The order is a total order: by value (NaN above everything: last ascending, first
 * descending), then by position, so sort is stable and topk picks the lower index first among
 * equal values; with sorted = false topk returns its k elements in ascending index order. A
 * 0-dim tensor sorts as a one-element row.
 *
 * The values are differentiable: their gradient goes back to the input positions that the
 * indices name (sort_backward_op, a scatter_add of the gradient into zeros). */
#include <inttypes.h>
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"
#include "ops/ops_internal.h"

typedef struct sort_node_params {
    int dim;
    int64_t size;
} sort_node_params;

born_tensor *sort_backward_op(born_tensor *grad, born_tensor *indices, int dim, int64_t size) {
    const char *op = "sort backward";
    born_tensor *args[2] = {grad, indices};
    if (!ops_check_inputs(op, 2, args)) return NULL;
    char a[200], b[200];
    if (grad->ndim != indices->ndim ||
        memcmp(grad->shape, indices->shape, sizeof(int64_t) * (size_t)grad->ndim) != 0 ||
        indices->dtype != BORN_I64 || size < 0)
        return born_error_null(BORN_ERR_SHAPE,
                               "%s: gradient %s and indices %s (must be i64 of the "
                               "same shape) into size %" PRId64,
                               op, ops_describe(grad, a, sizeof a),
                               ops_describe(indices, b, sizeof b), size);
    int d = dim_normalize(op, dim, indices->ndim);
    if (d < 0) return NULL;
    /* a 0-dim input sorts as one row of one element */
    int nd = indices->ndim > 0 ? indices->ndim : 1;
    int64_t row_shape[BORN_MAX_DIMS] = {1}, shape[BORN_MAX_DIMS];
    if (indices->ndim) memcpy(row_shape, indices->shape, sizeof(int64_t) * (size_t)nd);
    memcpy(shape, row_shape, sizeof shape);
    shape[d] = size;
    born_scope_begin();
    born_tensor *zeros = ops_empty(grad->dtype, nd, shape, grad->storage->device);
    if (zeros && born_zero_(zeros) != BORN_OK) zeros = NULL;
    /* each gradient goes back to the position its index names */
    born_tensor *res = born_scatter_add(zeros, d, born_reshape(indices, nd, row_shape),
                                        born_reshape(grad, nd, row_shape));
    if (res && indices->ndim == 0) res = born_reshape(res, 0, NULL);
    res = born_keep(res);
    born_scope_end();
    return res;
}

static born_status sort_rule(born_node *n, born_tensor *g, born_tensor **gi) {
    const sort_node_params *p = node_params(n);
    gi[0] = sort_backward_op(g, node_saved(n, 0), p->dim, p->size);
    return BORN_OK;
}

/* sort (k < 0) or topk: validates, runs the kernel, records the values' node. */
static born_status sort_common(const char *op, born_tensor *t, int64_t k, int dim, bool descending,
                               bool sorted, born_tensor **values, born_tensor **indices) {
    if (values) *values = NULL;
    if (indices) *indices = NULL;
    if (!ops_check_inputs(op, 1, &t)) return born_last_status();
    int d = dim_normalize(op, dim, t->ndim);
    if (d < 0) return born_last_status();
    bool topk = k >= 0;
    int64_t n = t->ndim ? t->shape[d] : 1;
    char a[200];
    if (topk && t->dtype == BORN_BOOL)
        return born_error(BORN_ERR_DTYPE,
                          "%s: input %s: bool is not supported (convert with "
                          "born_to_dtype)",
                          op, ops_describe(t, a, sizeof a));
    if (topk && k > n)
        return born_error(BORN_ERR_ARGUMENT,
                          "%s: k = %" PRId64 " is out of range for dimension %d "
                          "of size %" PRId64 " of input %s",
                          op, k, d, n, ops_describe(t, a, sizeof a));
    if (!topk) k = n;
    if (t->ndim == 0) k = 1; /* as torch: a 0-dim tensor gives itself, even for k = 0 */
    const born_backend *be = ops_backend(t);
    if (!be) return born_last_status();
    if (topk ? !be->topk : !be->sort)
        return born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", op);
    int64_t shape[BORN_MAX_DIMS];
    memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
    if (t->ndim) shape[d] = k;
    born_device device = t->storage->device;
    born_tensor *vals = values ? ops_empty(t->dtype, t->ndim, shape, device) : NULL;
    born_tensor *idx = !values || vals ? ops_empty(BORN_I64, t->ndim, shape, device) : NULL;
    if (!idx) {
        born_free(vals);
        return born_last_status();
    }
    born_strided si = strided_of(idx), sin = strided_of(t);
    born_strided sv = vals ? strided_of(vals) : si;
    if (!vals) {
        sv.data = NULL;
        sv.dtype = t->dtype;
    }
    born_status st = topk ? be->topk(&sv, &si, &sin, k, d, descending, sorted)
                          : be->sort(&sv, &si, &sin, d, descending);
    if (st == BORN_OK && vals && born_dtype_is_floating(t->dtype)) {
        sort_node_params p = {d, n};
        if (!autograd_record(vals, topk ? "TopkBackward" : "SortBackward", sort_rule, 1, &t, 1,
                             &idx, &p, sizeof p))
            st = born_last_status();
    }
    if (st != BORN_OK) {
        born_free(vals);
        born_free(idx);
        return st;
    }
    if (values) *values = vals;
    if (indices)
        *indices = idx;
    else
        born_free(idx);
    return BORN_OK;
}

born_status born_sort(born_tensor *t, int dim, bool descending, born_tensor **values,
                      born_tensor **indices) {
    return sort_common("born_sort", t, -1, dim, descending, true, values, indices);
}

born_tensor *born_argsort(born_tensor *t, int dim, bool descending) {
    born_tensor *idx = NULL;
    sort_common("born_argsort", t, -1, dim, descending, true, NULL, &idx);
    return idx;
}

born_status born_topk(born_tensor *t, int64_t k, int dim, bool largest, bool sorted,
                      born_tensor **values, born_tensor **indices) {
    if (k < 0) {
        char a[200];
        if (values) *values = NULL;
        if (indices) *indices = NULL;
        if (!ops_check_inputs("born_topk", 1, &t)) return born_last_status();
        return born_error(BORN_ERR_ARGUMENT, "born_topk: k = %" PRId64 " is negative (input %s)", k,
                          ops_describe(t, a, sizeof a));
    }
    return sort_common("born_topk", t, k, dim, largest, sorted, values, indices);
}
