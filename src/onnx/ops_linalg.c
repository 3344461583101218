/* Linear-algebra operators: Einsum (explicit and implicit outputs, ellipsis broadcasting, repeated
 * labels as diagonals; a direct loop over every label, in double) and Det (LU with partial
 * pivoting per matrix). */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

#define EIN_MAX_IN 8
#define EIN_LABELS 64 /* 52 letters, then ellipsis dimensions */

static int label_of(char ch) {
    if (ch >= 'a' && ch <= 'z') return ch - 'a';
    if (ch >= 'A' && ch <= 'Z') return 26 + ch - 'A';
    return -1;
}

/* A parsed term: a label per dimension (ellipsis dims get labels 52 + k, aligned right). */
typedef struct ein_term {
    int n;
    int lab[BORN_MAX_DIMS];
    bool ell;
} ein_term;

/* Parses the letters of one term from s[0..len); rank is the operand's rank (or -1 for the output,
 * where nell ellipsis dims are inserted). */
static born_status parse_term(onnx_op_ctx *c, const char *s, size_t len, int rank, int nell,
                              ein_term *t) {
    int letters = 0;
    bool ell = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (ell || i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.')
                return onnx_fail(c, BORN_ERR_ARGUMENT, "bad ellipsis in the equation");
            ell = true;
            i += 2;
        } else if (label_of(s[i]) >= 0) {
            letters++;
        } else {
            return onnx_fail(c, BORN_ERR_ARGUMENT, "bad character '%c' in the equation", s[i]);
        }
    }
    int ne = rank >= 0 ? rank - letters : nell;
    if (rank >= 0 && (ne < 0 || (!ell && ne != 0)))
        return onnx_fail(c, BORN_ERR_SHAPE, "a term has %d labels for a rank-%d input", letters, rank);
    if (letters + (ell ? ne : 0) > BORN_MAX_DIMS)
        return onnx_fail(c, BORN_ERR_SHAPE, "too many dimensions in a term");
    t->n = 0;
    t->ell = ell;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            for (int k = 0; k < ne; k++) t->lab[t->n++] = 52 + (nell - ne) + k;
            i += 2;
        } else {
            t->lab[t->n++] = label_of(s[i]);
        }
    }
    return BORN_OK;
}

static born_status op_Einsum(onnx_op_ctx *c) {
    char eq[512], clean[512];
    const char *e = onnx_attr_str(c, "equation", NULL, eq, sizeof eq);
    if (!e) return onnx_fail(c, BORN_ERR_ARGUMENT, "equation is required");
    size_t m = 0;
    for (size_t i = 0; e[i]; i++)
        if (e[i] != ' ') clean[m++] = e[i];
    clean[m] = '\0';
    int n = c->nin;
    if (n < 1 || n > EIN_MAX_IN) return onnx_fail(c, BORN_ERR_ARGUMENT, "%d operands", n);
    for (int i = 0; i < n; i++) ONNX_TRY(onnx_need(c, i));
    const char *arrow = strstr(clean, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - clean) : m;
    /* operand terms */
    ein_term in[EIN_MAX_IN], out;
    int nell = 0;
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        size_t end = pos;
        while (end < lhs_len && clean[end] != ',') end++;
        if ((end == lhs_len) != (i == n - 1))
            return onnx_fail(c, BORN_ERR_ARGUMENT, "the equation's terms do not match %d operands", n);
        int rank = born_tensor_ndim(c->in[i]);
        int letters = 0;
        for (size_t k = pos; k < end; k++) letters += label_of(clean[k]) >= 0;
        if (rank - letters > nell) nell = rank - letters;
        pos = end + 1;
    }
    pos = 0;
    for (int i = 0; i < n; i++) {
        size_t end = pos;
        while (end < lhs_len && clean[end] != ',') end++;
        ONNX_TRY(parse_term(c, clean + pos, end - pos, born_tensor_ndim(c->in[i]), nell, &in[i]));
        pos = end + 1;
    }
    /* label sizes (ellipsis dims broadcast) */
    int64_t size[EIN_LABELS];
    int count[EIN_LABELS] = {0};
    for (int l = 0; l < EIN_LABELS; l++) size[l] = -1;
    for (int i = 0; i < n; i++)
        for (int d = 0; d < in[i].n; d++) {
            int l = in[i].lab[d];
            int64_t sz = born_tensor_shape(c->in[i])[d];
            count[l]++;
            if (size[l] < 0 || (l >= 52 && size[l] == 1)) {
                size[l] = sz;
            } else if (sz != size[l] && !(l >= 52 && sz == 1)) {
                char name = (char)(l < 26 ? 'a' + l : l < 52 ? 'A' + l - 26 : '.');
                return onnx_fail(c, BORN_ERR_SHAPE, "label '%c' has sizes %lld and %lld", name,
                                 (long long)size[l], (long long)sz);
            }
        }
    /* output term */
    if (arrow) {
        ONNX_TRY(parse_term(c, arrow + 2, strlen(arrow + 2), -1, nell, &out));
        for (int d = 0; d < out.n; d++) {
            if (size[out.lab[d]] < 0)
                return onnx_fail(c, BORN_ERR_ARGUMENT, "an output label is not in any input");
            for (int k = 0; k < d; k++)
                if (out.lab[k] == out.lab[d])
                    return onnx_fail(c, BORN_ERR_ARGUMENT, "an output label is repeated");
        }
    } else {
        out.n = 0;
        for (int k = 0; k < nell; k++) out.lab[out.n++] = 52 + k;
        for (int l = 0; l < 52; l++)
            if (count[l] == 1) {
                if (out.n >= BORN_MAX_DIMS) return onnx_fail(c, BORN_ERR_SHAPE, "output rank too big");
                out.lab[out.n++] = l;
            }
    }
    /* every label: output ones first, then the summed ones */
    int order[EIN_LABELS], nl = 0;
    bool used[EIN_LABELS] = {false};
    for (int d = 0; d < out.n; d++) order[nl++] = out.lab[d], used[out.lab[d]] = true;
    for (int l = 0; l < EIN_LABELS; l++)
        if (size[l] >= 0 && !used[l]) order[nl++] = l;
    int64_t oshape[BORN_MAX_DIMS];
    for (int d = 0; d < out.n; d++) oshape[d] = size[out.lab[d]];
    born_dtype dt = born_tensor_dtype(c->in[0]);
    born_tensor *res = born_zeros(BORN_F64, out.n, oshape);
    if (!res) return onnx_op_failed(c);
    /* strides of each label in each operand (repeated labels add up: diagonals) */
    int64_t stride[EIN_MAX_IN][EIN_LABELS];
    const double *data[EIN_MAX_IN];
    for (int i = 0; i < n; i++) {
        born_tensor *x = onnx_as(c->in[i], BORN_F64);
        if (!x) return onnx_op_failed(c);
        data[i] = born_data_f64(x);
        memset(stride[i], 0, sizeof stride[i]);
        int64_t st = 1;
        for (int d = in[i].n - 1; d >= 0; d--) {
            int64_t sz = born_tensor_shape(x)[d];
            if (sz != 1) stride[i][in[i].lab[d]] += st;
            st *= sz;
        }
    }
    int64_t total = 1;
    for (int k = 0; k < nl; k++) total *= size[order[k]];
    int64_t idx[EIN_LABELS] = {0}, off[EIN_MAX_IN] = {0};
    int64_t osub = 1; /* elements per output index step of the summed block */
    for (int k = out.n; k < nl; k++) osub *= size[order[k]];
    double *o = born_data_f64(res);
    for (int64_t it = 0; it < total; it++) {
        double p = 1;
        for (int i = 0; i < n; i++) p *= data[i][off[i]];
        o[it / (osub ? osub : 1)] += p;
        for (int k = nl - 1; k >= 0; k--) { /* odometer over the labels */
            int l = order[k];
            for (int i = 0; i < n; i++) off[i] += stride[i][l];
            if (++idx[k] < size[l]) break;
            for (int i = 0; i < n; i++) off[i] -= stride[i][l] * size[l];
            idx[k] = 0;
        }
    }
    ONNX_OUT(0, born_contiguous(born_to_dtype(res, dt)));
    return BORN_OK;
}

static born_status op_Det(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    if (r < 2) return onnx_fail(c, BORN_ERR_SHAPE, "input must have rank >= 2");
    const int64_t *s = born_tensor_shape(x);
    int64_t nn = s[r - 1];
    if (s[r - 2] != nn) return onnx_fail(c, BORN_ERR_SHAPE, "matrices must be square");
    born_dtype dt = born_tensor_dtype(x);
    born_tensor *a = born_clone(onnx_as(x, BORN_F64));
    born_tensor *res = born_empty(BORN_F64, r - 2, s);
    if (!a || !res) return onnx_op_failed(c);
    int64_t batch = born_tensor_numel(res);
    double *m = born_data_f64(a);
    for (int64_t b = 0; b < batch; b++, m += nn * nn) {
        double det = 1;
        for (int64_t k = 0; k < nn; k++) {
            int64_t piv = k;
            for (int64_t i = k + 1; i < nn; i++)
                if (fabs(m[i * nn + k]) > fabs(m[piv * nn + k])) piv = i;
            if (m[piv * nn + k] == 0) {
                det = 0;
                break;
            }
            if (piv != k) {
                for (int64_t j = 0; j < nn; j++) {
                    double t = m[k * nn + j];
                    m[k * nn + j] = m[piv * nn + j];
                    m[piv * nn + j] = t;
                }
                det = -det;
            }
            det *= m[k * nn + k];
            for (int64_t i = k + 1; i < nn; i++) {
                double f = m[i * nn + k] / m[k * nn + k];
                for (int64_t j = k; j < nn; j++) m[i * nn + j] -= f * m[k * nn + j];
            }
        }
        born_data_f64(res)[b] = det;
    }
    ONNX_OUT(0, born_contiguous(born_to_dtype(res, dt)));
    return BORN_OK;
}

const onnx_op_entry onnx_ops_linalg[] = {{"Einsum", op_Einsum}, {"Det", op_Det}, {NULL, NULL}};
