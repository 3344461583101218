/* Finite-difference checks (f64, relative error <= 1e-6) for every differentiable unary and
 * binary op, the views, the reductions, softmax and cumsum. */
#include "test.h"

/* Inputs away from the kinks (0 for relu/abs, ties for max) and inside each op's domain. */
static born_tensor *positive_input(void) {
    return born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(2, 3), (double[]){0.3, 0.7, 1.1, 1.9, 0.45, 2.6}), true);
}
static born_tensor *signed_input(void) {
    return born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(2, 3), (double[]){-1.3, 0.7, -0.2, 1.9, 0.45, -2.6}), true);
}
static born_tensor *unit_input(void) { /* inside (-1, 1) */
    return born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(2, 3), (double[]){-0.8, 0.7, -0.2, 0.35, 0.45, -0.6}), true);
}

typedef struct unary_case {
    born_unary_op op;
    born_unary_params p;
} unary_case;

static born_tensor *apply_unary(born_tensor *const *in, void *ctx) {
    const unary_case *c = ctx;
    return born_unary(c->op, in[0], &c->p);
}

static void check_unary(born_unary_op op, born_tensor *x, double alpha, double beta) {
    unary_case c = {op, {alpha, beta}};
    born_status st = born_gradcheck(apply_unary, 1, &x, &c, NULL);
    CHECK_MSG(st == BORN_OK, "gradcheck %s: %s", born_unary_op_name(op), born_last_error());
    born_clear_error();
}

TEST(gradcheck_unary_ops) {
    born_unary_op on_signed[] = {BORN_UNARY_NEG, BORN_UNARY_ABS, BORN_UNARY_SQUARE, BORN_UNARY_EXP,
                                 BORN_UNARY_EXP2, BORN_UNARY_EXPM1, BORN_UNARY_SIN, BORN_UNARY_COS,
                                 BORN_UNARY_TANH, BORN_UNARY_SIGMOID, BORN_UNARY_RELU, BORN_UNARY_GELU,
                                 BORN_UNARY_GELU_TANH, BORN_UNARY_SILU, BORN_UNARY_ERF};
    for (size_t i = 0; i < sizeof on_signed / sizeof on_signed[0]; i++) check_unary(on_signed[i], signed_input(), 0, 0);
    born_unary_op on_positive[] = {BORN_UNARY_RECIPROCAL, BORN_UNARY_LOG, BORN_UNARY_LOG2,
                                   BORN_UNARY_LOG1P, BORN_UNARY_SQRT, BORN_UNARY_RSQRT};
    for (size_t i = 0; i < sizeof on_positive / sizeof on_positive[0]; i++) check_unary(on_positive[i], positive_input(), 0, 0);
    check_unary(BORN_UNARY_TAN, unit_input(), 0, 0);
    check_unary(BORN_UNARY_LEAKY_RELU, signed_input(), 0.01, 0);
    check_unary(BORN_UNARY_ELU, signed_input(), 1.3, 0);
    check_unary(BORN_UNARY_SOFTPLUS, signed_input(), 1.0, 20.0);
    check_unary(BORN_UNARY_SOFTPLUS, signed_input(), 2.0, 1.0); /* some inputs past the threshold */
    check_unary(BORN_UNARY_CLAMP, signed_input(), -1.0, 1.0);
    check_unary(BORN_UNARY_POW_SCALAR, positive_input(), 2.5, 0);
    check_unary(BORN_UNARY_POW_SCALAR, signed_input(), 3.0, 0);
}

TEST(rounding_ops_have_zero_gradient) {
    born_unary_op ops[] = {BORN_UNARY_FLOOR, BORN_UNARY_CEIL, BORN_UNARY_ROUND, BORN_UNARY_TRUNC, BORN_UNARY_SIGN};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        born_tensor *x = signed_input();
        CHECK_OK(born_backward(born_sum(born_unary(ops[i], x, NULL), 0, NULL, false)));
        born_tensor *g = born_grad(x);
        CHECK(g == NULL || born_item(born_sum(born_abs(g), 0, NULL, false)) == 0);
    }
}

typedef struct binary_case {
    born_binary_op op;
} binary_case;

static born_tensor *apply_binary(born_tensor *const *in, void *ctx) {
    return born_binary(((const binary_case *)ctx)->op, in[0], in[1]);
}

TEST(gradcheck_binary_ops_with_broadcasting) {
    born_binary_op ops[] = {BORN_BINARY_ADD, BORN_BINARY_SUB, BORN_BINARY_MUL, BORN_BINARY_DIV,
                            BORN_BINARY_POW, BORN_BINARY_MINIMUM, BORN_BINARY_MAXIMUM,
                            BORN_BINARY_ATAN2, BORN_BINARY_REMAINDER, BORN_BINARY_FMOD};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        born_tensor *in[2] = {positive_input(),
                              born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(3), (double[]){0.6, 1.3, 0.85}), true)};
        binary_case c = {ops[i]};
        born_status st = born_gradcheck(apply_binary, 2, in, &c, NULL);
        CHECK_MSG(st == BORN_OK, "gradcheck %s: %s", born_binary_op_name(ops[i]), born_last_error());
        born_clear_error();
    }
}

TEST(min_max_ties_share_the_gradient) {
    born_tensor *a = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(3), (double[]){1, 2, 3}), true);
    born_tensor *b = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(3), (double[]){1, 5, 0}), true);
    CHECK_OK(born_backward(born_sum(born_maximum(a, b), 0, NULL, false)));
    CHECK_TENSOR_NEAR(born_grad(a), ((double[]){0.5, 0, 1}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_grad(b), ((double[]){0.5, 1, 0}), 3, 0, 0);
}

static born_tensor *where_fn(born_tensor *const *in, void *ctx) {
    (void)ctx;
    born_tensor *cond = born_gt_scalar(born_detach(in[0]), 0.5);
    return born_where(cond, born_mul(in[0], in[0]), in[1]);
}

TEST(gradcheck_where_and_masked_fill) {
    born_tensor *in[2] = {positive_input(), signed_input()};
    CHECK_OK(born_gradcheck(where_fn, 2, in, NULL, NULL));
}

/* ---- views ------------------------------------------------------------------------------- */

static born_tensor *view_chain(born_tensor *const *in, void *ctx) {
    (void)ctx;
    born_tensor *x = in[0];                                    /* [2, 3] */
    born_tensor *t = born_transpose(x, 0, 1);                  /* [3, 2] */
    born_tensor *r = born_reshape(t, BORN_DIMS(6));            /* copies: t is not contiguous */
    born_tensor *s = born_slice(r, 0, 1, 6, 2);                /* [3] */
    born_tensor *e = born_expand(born_unsqueeze(s, 0), BORN_DIMS(2, 3));
    born_tensor *p = born_permute(born_unsqueeze(e, 2), BORN_DIMS(2, 0, 1));
    born_tensor *f = born_flatten(born_squeeze(p, 0), 0, 1);
    born_tensor *m = born_mul(born_view(f, BORN_DIMS(2, 3)), born_select(x, 0, 1));
    born_tensor *n = born_narrow(m, 1, 1, 2);
    return born_mul(n, n);
}

TEST(gradcheck_view_chain) {
    born_tensor *x = signed_input();
    CHECK_OK(born_gradcheck(view_chain, 1, &x, NULL, NULL));
}

static born_tensor *cast_chain(born_tensor *const *in, void *ctx) {
    (void)ctx;
    born_tensor *f32 = born_to_dtype(in[0], BORN_F32);
    return born_mul(born_to_dtype(born_mul_scalar(f32, 2.0), BORN_F64), in[0]);
}

TEST(dtype_round_trip_passes_gradients) {
    born_tensor *x = signed_input();
    born_gradcheck_params p = born_gradcheck_default_params();
    p.rtol = 1e-5; /* the f32 detour rounds; the function is quadratic, so a large step is exact */
    p.eps = 1e-2;
    CHECK_OK(born_gradcheck(cast_chain, 1, &x, NULL, &p));
}

/* ---- reductions, softmax, cumsum ----------------------------------------------------------- */

typedef struct reduce_case {
    int which;
    int nd;
    int64_t dims[2];
    bool keepdim;
} reduce_case;

static born_tensor *apply_reduce(born_tensor *const *in, void *ctx) {
    const reduce_case *c = ctx;
    const int64_t *d = c->nd ? c->dims : NULL;
    switch (c->which) {
    case 0: return born_sum(in[0], c->nd, d, c->keepdim);
    case 1: return born_mean(in[0], c->nd, d, c->keepdim);
    case 2: return born_prod(in[0], c->nd, d, c->keepdim);
    case 3: return born_max(in[0], c->nd, d, c->keepdim);
    case 4: return born_min(in[0], c->nd, d, c->keepdim);
    case 5: return born_var(in[0], c->nd, d, 1, c->keepdim);
    case 6: return born_std(in[0], c->nd, d, 0, c->keepdim);
    case 7: return born_logsumexp(in[0], c->nd, d, c->keepdim);
    case 8: return born_softmax(in[0], (int)c->dims[0]);
    case 9: return born_log_softmax(in[0], (int)c->dims[0]);
    default: return born_cumsum(in[0], (int)c->dims[0]);
    }
}

TEST(gradcheck_reductions) {
    reduce_case layouts[] = {{0, 0, {0, 0}, false}, {0, 1, {1, 0}, false}, {0, 1, {0, 0}, true},
                             {0, 2, {0, -1}, true}, {0, 1, {-2, 0}, false}};
    for (int which = 0; which <= 10; which++) {
        for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++) {
            reduce_case c = layouts[l];
            c.which = which;
            if (which >= 8) { /* softmax, log_softmax, cumsum take one dim */
                if (c.nd != 1) continue;
            }
            born_tensor *x = signed_input();
            born_status st = born_gradcheck(apply_reduce, 1, &x, &c, NULL);
            CHECK_MSG(st == BORN_OK, "gradcheck reduction %d layout %zu: %s", which, l, born_last_error());
            born_clear_error();
        }
    }
}

TEST(prod_gradient_with_zeros_is_exact) {
    /* one zero: only the zero's gradient is nonzero (the product of the others) */
    born_tensor *x = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(4), (double[]){2, 0, 3, 5}), true);
    CHECK_OK(born_backward(born_prod(x, 0, NULL, false)));
    CHECK_TENSOR_NEAR(born_grad(x), ((double[]){0, 30, 0, 0}), 4, 0, 0);
    /* two zeros: every gradient is zero */
    born_tensor *y = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(3), (double[]){0, 4, 0}), true);
    CHECK_OK(born_backward(born_prod(y, 0, NULL, false)));
    CHECK_TENSOR_NEAR(born_grad(y), ((double[]){0, 0, 0}), 3, 0, 0);
}

TEST(max_gradient_splits_ties) {
    born_tensor *x = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(2, 3), (double[]){1, 4, 4, 2, 0, 1}), true);
    CHECK_OK(born_backward(born_sum(born_max(x, 1, (int64_t[]){1}, false), 0, NULL, false)));
    CHECK_TENSOR_NEAR(born_grad(x), ((double[]){0, 0.5, 0.5, 1, 0, 0}), 6, 0, 0);
}

static born_tensor *copies_fn(born_tensor *const *in, void *ctx) {
    (void)ctx;
    born_tensor *t = born_transpose(in[0], 0, 1);
    born_tensor *c = born_mul(born_contiguous(t), born_clone(t));
    born_tensor *mask = born_gt_scalar(born_detach(c), 1.0);
    return born_masked_fill(born_expand(born_unsqueeze(c, 0), BORN_DIMS(2, 3, 2)), mask, 0.25);
}

TEST(gradcheck_copies_and_masked_fill) {
    born_tensor *x = signed_input();
    CHECK_OK(born_gradcheck(copies_fn, 1, &x, NULL, NULL));
}

TEST(gradcheck_reports_a_wrong_gradient) {
    /* floor has a zero gradient almost everywhere, which finite differences across a step see */
    born_tensor *x = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(1), (double[]){2.0}), true);
    unary_case c = {BORN_UNARY_FLOOR, {0, 0}};
    CHECK(born_gradcheck(apply_unary, 1, &x, &c, NULL) == BORN_ERR_AUTOGRAD);
    CHECK_ERROR(BORN_ERR_AUTOGRAD, "finite differences");
}
