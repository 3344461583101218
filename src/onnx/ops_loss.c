/* Loss operators: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12/13), computed in
 * double with the ONNX reference's weighting, ignore_index and reductions. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* Reduction modes. */
enum { RED_NONE, RED_SUM, RED_MEAN };

static int reduction(onnx_op_ctx *c) {
    char buf[16];
    const char *r = onnx_attr_str(c, "reduction", "mean", buf, sizeof buf);
    if (!strcmp(r, "none")) return RED_NONE;
    if (!strcmp(r, "sum")) return RED_SUM;
    if (!strcmp(r, "mean")) return RED_MEAN;
    onnx_fail(c, BORN_ERR_ARGUMENT, "unknown reduction '%s'", r);
    return -1;
}

/* The NLL of logp (N, C, D... as contiguous f64) against target (N, D...), weighted by weight (C)
 * or NULL, as a tensor of dtype dt. */
static born_tensor *nll(onnx_op_ctx *c, born_tensor *logp, born_tensor *target, born_tensor *weight,
                        born_dtype dt) {
    int red = reduction(c);
    if (red < 0) return NULL;
    int r = born_tensor_ndim(logp);
    const int64_t *s = born_tensor_shape(logp);
    if (r < 2) {
        onnx_fail(c, BORN_ERR_SHAPE, "input must have rank >= 2, not %d", r);
        return NULL;
    }
    if (!born_dtype_is_integer(born_tensor_dtype(target))) {
        onnx_fail(c, BORN_ERR_DTYPE, "target must be integer");
        return NULL;
    }
    const int64_t *ts = born_tensor_shape(target);
    bool fits = born_tensor_ndim(target) == r - 1 && ts[0] == s[0];
    for (int i = 2; i < r && fits; i++) fits = ts[i - 1] == s[i];
    if (!fits) {
        onnx_fail(c, BORN_ERR_SHAPE, "target shape does not match the input (N, C, d1, ...)");
        return NULL;
    }
    int64_t N = s[0], C = s[1], D = 1;
    for (int i = 2; i < r; i++) D *= s[i];
    if (weight && (born_tensor_ndim(weight) != 1 || born_tensor_shape(weight)[0] != C)) {
        onnx_fail(c, BORN_ERR_SHAPE, "weight must be 1-D of length C = %lld", (long long)C);
        return NULL;
    }
    bool has_ii = onnx_has_attr(c, "ignore_index");
    int64_t ii = onnx_attr_int(c, "ignore_index", 0);
    born_tensor *t64 = onnx_as(target, BORN_I64);
    born_tensor *w64 = weight ? onnx_as(weight, BORN_F64) : NULL;
    born_tensor *loss = born_empty(BORN_F64, r - 1, ts);
    if (!t64 || (weight && !w64) || !loss) {
        onnx_op_failed(c);
        return NULL;
    }
    const double *x = born_data_f64(logp), *w = w64 ? born_data_f64(w64) : NULL;
    const int64_t *t = born_data_i64(t64);
    double *l = born_data_f64(loss), total = 0, wsum = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            int64_t k = t[n * D + d];
            double *o = &l[n * D + d];
            if (has_ii && k == ii) {
                *o = 0;
                continue;
            }
            if (k < 0 || k >= C) {
                onnx_fail(c, BORN_ERR_ARGUMENT, "target %lld is outside [0, %lld)", (long long)k,
                          (long long)C);
                return NULL;
            }
            double wk = w ? w[k] : 1.0;
            *o = -x[(n * C + k) * D + d] * wk;
            total += *o;
            wsum += wk;
        }
    born_tensor *out = loss;
    if (red != RED_NONE) {
        out = born_empty(BORN_F64, 0, NULL);
        if (!out) {
            onnx_op_failed(c);
            return NULL;
        }
        born_data_f64(out)[0] = red == RED_SUM ? total : total / wsum;
    }
    born_tensor *res = born_contiguous(born_to_dtype(out, dt));
    if (!res) onnx_op_failed(c);
    return res;
}

static bool floating(born_dtype dt) {
    return dt == BORN_F32 || dt == BORN_F64 || dt == BORN_F16 || dt == BORN_BF16;
}

static born_status op_NegativeLogLikelihoodLoss(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_dtype dt = born_tensor_dtype(c->in[0]);
    if (!floating(dt)) return onnx_fail(c, BORN_ERR_DTYPE, "input must be floating point");
    born_tensor *x = onnx_as(c->in[0], BORN_F64);
    if (!x) return onnx_op_failed(c);
    ONNX_OUT(0, nll(c, x, c->in[1], c->nin > 2 ? c->in[2] : NULL, dt));
    return BORN_OK;
}

static born_status op_SoftmaxCrossEntropyLoss(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_dtype dt = born_tensor_dtype(c->in[0]);
    if (!floating(dt)) return onnx_fail(c, BORN_ERR_DTYPE, "scores must be floating point");
    if (born_tensor_ndim(c->in[0]) < 2)
        return onnx_fail(c, BORN_ERR_SHAPE, "scores must have rank >= 2");
    born_tensor *lp = born_contiguous(born_log_softmax(onnx_as(c->in[0], BORN_F64), 1));
    if (!lp) return onnx_op_failed(c);
    ONNX_OUT(0, nll(c, lp, c->in[1], c->nin > 2 ? c->in[2] : NULL, dt));
    if (c->nout > 1) ONNX_OUT(1, born_contiguous(born_to_dtype(lp, dt)));
    return BORN_OK;
}

const onnx_op_entry onnx_ops_loss[] = {
    {"NegativeLogLikelihoodLoss", op_NegativeLogLikelihoodLoss},
    {"SoftmaxCrossEntropyLoss", op_SoftmaxCrossEntropyLoss},
    {NULL, NULL}};
