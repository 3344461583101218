/* The ai.onnx.preview.training optimizers Adagrad, Adam and Momentum (standard and nesterov), each
 * updating any number of tensors in one node, with the formulas of the ONNX operator spec (L2
 * regularization folded into the gradient, the step count T adjusting the rate). Computed in
 * double, returned in each tensor's own floating dtype. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

enum { OPT_ADAGRAD, OPT_ADAM, OPT_MOMENTUM, OPT_NESTEROV };

typedef struct opt_params {
    int kind;
    double r, t;            /* learning rate, update count */
    double norm, norm_post; /* norm_coefficient(_post) */
    double alpha, beta, eps, decay;
} opt_params;

/* One tensor's update: x, g and the states s1 (V or H) and s2 (Adam's H) become x_new, s1_new and
 * s2_new in place. */
static void update(const opt_params *p, double *x, const double *g, double *s1, double *s2,
                   int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double gr = p->norm * x[i] + g[i]; /* regularized gradient */
        if (p->kind == OPT_ADAGRAD) {
            double r = p->r / (1 + p->t * p->decay);
            s1[i] += gr * gr;
            x[i] -= r * gr / (sqrt(s1[i]) + p->eps);
        } else if (p->kind == OPT_ADAM) {
            s1[i] = p->alpha * s1[i] + (1 - p->alpha) * gr;
            s2[i] = p->beta * s2[i] + (1 - p->beta) * gr * gr;
            double r =
                p->t > 0 ? p->r * sqrt(1 - pow(p->beta, p->t)) / (1 - pow(p->alpha, p->t)) : p->r;
            double xn = x[i] - r * (s1[i] / (sqrt(s2[i]) + p->eps));
            x[i] = (1 - p->norm_post) * xn;
        } else {
            double b = p->t > 0 ? p->beta : 1;
            s1[i] = p->alpha * s1[i] + b * gr;
            x[i] -= p->kind == OPT_NESTEROV ? p->r * (gr + p->alpha * s1[i]) : p->r * s1[i];
        }
    }
}

/* Inputs R, T, X1..Xn, G1..Gn, then nstate groups of n states; outputs X_new.., then the states'
 * new values group by group. */
static born_status optimize(onnx_op_ctx *c, opt_params *p, int nstate) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    ONNX_TRY(onnx_read_scalar(c, c->in[0], &p->r, "R"));
    ONNX_TRY(onnx_read_scalar(c, c->in[1], &p->t, "T"));
    int groups = 2 + nstate;
    if (c->nin < 2 + groups || (c->nin - 2) % groups)
        return onnx_fail(c, BORN_ERR_ARGUMENT, "%d inputs: expected R, T and %d groups of tensors",
                         c->nin, groups);
    int n = (c->nin - 2) / groups;
    if (c->nout > (1 + nstate) * n)
        return onnx_fail(c, BORN_ERR_ARGUMENT, "%d outputs for %d tensors", c->nout, n);
    for (int k = 0; k < n; k++) {
        born_tensor *src[4] = {NULL, NULL, NULL, NULL};
        for (int gi = 0; gi < groups; gi++) {
            int idx = 2 + gi * n + k;
            ONNX_TRY(onnx_need(c, idx));
            born_tensor *t = c->in[idx];
            if (!born_dtype_is_floating(born_tensor_dtype(t)))
                return onnx_fail(c, BORN_ERR_DTYPE, "input %d is %s; a floating type is required",
                                 idx, born_dtype_name(born_tensor_dtype(t)));
            if (gi && (born_tensor_ndim(t) != born_tensor_ndim(c->in[2 + k]) ||
                       memcmp(born_tensor_shape(t), born_tensor_shape(c->in[2 + k]),
                              (size_t)born_tensor_ndim(t) * sizeof(int64_t))))
                return onnx_fail(c, BORN_ERR_SHAPE, "input %d's shape differs from X%d's", idx,
                                 k + 1);
            src[gi] = born_clone(born_to_dtype(t, BORN_F64));
            if (!src[gi]) return onnx_op_failed(c);
        }
        update(p, born_data_f64(src[0]), born_data_f64(src[1]), born_data_f64(src[2]),
               nstate > 1 ? born_data_f64(src[3]) : NULL, born_tensor_numel(src[0]));
        for (int o = 0; o <= nstate; o++) {
            int oi = o * n + k, si = o ? o + 1 : 0;
            if (oi >= c->nout) continue;
            born_dtype dt = born_tensor_dtype(c->in[2 + si * n + k]);
            ONNX_OUT(oi, born_contiguous(born_to_dtype(src[si], dt)));
        }
    }
    return BORN_OK;
}

static born_status op_Adagrad(onnx_op_ctx *c) {
    opt_params p = {.kind = OPT_ADAGRAD,
                    .decay = onnx_attr_float(c, "decay_factor", 0),
                    .eps = onnx_attr_float(c, "epsilon", 1e-6f),
                    .norm = onnx_attr_float(c, "norm_coefficient", 0)};
    return optimize(c, &p, 1);
}

static born_status op_Adam(onnx_op_ctx *c) {
    opt_params p = {.kind = OPT_ADAM,
                    .alpha = onnx_attr_float(c, "alpha", 0.9f),
                    .beta = onnx_attr_float(c, "beta", 0.999f),
                    .eps = onnx_attr_float(c, "epsilon", 1e-6f),
                    .norm = onnx_attr_float(c, "norm_coefficient", 0),
                    .norm_post = onnx_attr_float(c, "norm_coefficient_post", 0)};
    return optimize(c, &p, 2);
}

static born_status op_Momentum(onnx_op_ctx *c) {
    const char *req[] = {"alpha", "beta", "mode", "norm_coefficient"};
    for (int i = 0; i < 4; i++)
        if (!onnx_has_attr(c, req[i]))
            return onnx_fail(c, BORN_ERR_ARGUMENT, "attribute '%s' is required", req[i]);
    char buf[32];
    const char *mode = onnx_attr_str(c, "mode", "", buf, sizeof buf);
    opt_params p = {.alpha = onnx_attr_float(c, "alpha", 0),
                    .beta = onnx_attr_float(c, "beta", 0),
                    .norm = onnx_attr_float(c, "norm_coefficient", 0)};
    if (!strcmp(mode, "standard"))
        p.kind = OPT_MOMENTUM;
    else if (!strcmp(mode, "nesterov"))
        p.kind = OPT_NESTEROV;
    else
        return onnx_fail(c, BORN_ERR_ARGUMENT, "mode '%s' (expected standard or nesterov)", mode);
    return optimize(c, &p, 1);
}

const onnx_op_entry onnx_ops_training[] = {
    {"Adagrad", op_Adagrad}, {"Adam", op_Adam}, {"Momentum", op_Momentum}, {NULL, NULL}};
