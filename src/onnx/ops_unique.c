/* Unique: the distinct elements (or slices along axis) with the indices of their first
 * occurrence, the inverse mapping and the counts, sorted ascending (lexicographically for slices)
 * or in order of first occurrence. */
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

typedef struct uq {
    const double *v; /* slices of length L, slice i at v + i * L */
    int64_t L;
} uq;

static int cmp_slices(const uq *u, int64_t a, int64_t b) {
    const double *x = u->v + a * u->L, *y = u->v + b * u->L;
    for (int64_t k = 0; k < u->L; k++)
        if (x[k] != y[k]) return x[k] < y[k] ? -1 : 1;
    return 0;
}

static born_status op_Unique(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    born_dtype dt = born_tensor_dtype(x);
    if (dt != BORN_BOOL && !born_dtype_is_integer(dt) && !born_dtype_is_floating(dt))
        return onnx_fail(c, BORN_ERR_DTYPE, "unsupported dtype %s", born_dtype_name(dt));
    bool sorted = onnx_attr_int(c, "sorted", 1) != 0;
    int axis = 0;
    born_tensor *src = x;
    if (onnx_has_attr(c, "axis")) {
        axis = onnx_axis(c, onnx_attr_int(c, "axis", 0), born_tensor_ndim(x));
        if (axis < 0) return onnx_op_failed(c);
    } else {
        src = born_reshape(x, 1, (int64_t[]){born_tensor_numel(x)});
    }
    if (!src) return onnx_op_failed(c);
    /* slices: axis first, the other dims in order (numpy's lexicographic order) */
    int r = born_tensor_ndim(src);
    int64_t perm[BORN_MAX_DIMS];
    perm[0] = axis;
    for (int i = 0, k = 1; i < r; i++)
        if (i != axis) perm[k++] = i;
    int64_t N = born_tensor_shape(src)[axis];
    int64_t L = N ? born_tensor_numel(src) / N : 0;
    born_tensor *moved = born_contiguous(born_to_dtype(born_permute(src, r, perm), BORN_F64));
    if (!moved) return onnx_op_failed(c);
    uq u = {born_data_f64(moved), L};
    born_tensor *buf = born_empty(BORN_I64, 1, (int64_t[]){3 * N + 1});
    if (!buf) return onnx_op_failed(c);
    int64_t *first = born_data_i64(buf), *inv = first + N, *cnt = inv + N, nu = 0;
    for (int64_t i = 0; i < N; i++) {
        int64_t j = 0;
        while (j < nu && cmp_slices(&u, first[j], i) != 0) j++;
        if (j == nu) first[nu] = i, cnt[nu] = 0, nu++;
        cnt[j]++;
        inv[i] = j;
    }
    /* order of the unique entries: insertion sort by value when sorted */
    born_tensor *obuf = born_empty(BORN_I64, 1, (int64_t[]){2 * nu + 1});
    if (!obuf) return onnx_op_failed(c);
    int64_t *order = born_data_i64(obuf), *rank = order + nu;
    for (int64_t k = 0; k < nu; k++) order[k] = k;
    if (sorted)
        for (int64_t k = 1; k < nu; k++) {
            int64_t t = order[k], j = k;
            while (j > 0 && cmp_slices(&u, first[order[j - 1]], first[t]) > 0) order[j] = order[j - 1], j--;
            order[j] = t;
        }
    for (int64_t k = 0; k < nu; k++) rank[order[k]] = k;
    born_tensor *idx = born_empty(BORN_I64, 1, (int64_t[]){nu});
    born_tensor *ii = born_empty(BORN_I64, 1, (int64_t[]){N});
    born_tensor *cn = born_empty(BORN_I64, 1, (int64_t[]){nu});
    if (!idx || !ii || !cn) return onnx_op_failed(c);
    for (int64_t k = 0; k < nu; k++) {
        born_data_i64(idx)[k] = first[order[k]];
        born_data_i64(cn)[k] = cnt[order[k]];
    }
    for (int64_t i = 0; i < N; i++) born_data_i64(ii)[i] = rank[inv[i]];
    ONNX_OUT(0, born_contiguous(born_index_select(src, axis, idx)));
    if (c->nout > 1) c->out[1] = idx;
    if (c->nout > 2) c->out[2] = ii;
    if (c->nout > 3) c->out[3] = cn;
    return BORN_OK;
}

const onnx_op_entry onnx_ops_unique[] = {{"Unique", op_Unique}, {NULL, NULL}};
