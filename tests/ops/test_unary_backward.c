/* The fused activation gradients (the backend's unary_backward) against the composite rules
 * they replace (src/ops/unary.c, switched with ops_set_fused_unary_backward), for relu,
 * leaky_relu, elu, softplus, sigmoid, tanh, silu, gelu and gelu_tanh: f32 at every CPU level,
 * f64, f16 and bf16, non-contiguous and broadcast operands, special values, 1 vs 2 threads,
 * and finite differences (f64) through both forms.
 *
 * The two forms round differently (the fused one rounds less, and its vectorised gelu evaluates
 * Phi(x) + x phi(x) directly), so they are compared to within a few units of the dtype's epsilon
 * of the size of the derivative's terms (|g| (|Phi| + |x phi|) for gelu, and so on): where the
 * terms cancel, as gelu' does near x = -0.75, both are only that accurate. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "ops/ops_internal.h"
#include "test.h"

typedef struct act_case {
    born_unary_op op;
    born_unary_params p;
} act_case;

static const act_case acts[] = {
    {BORN_UNARY_RELU, {0, 0}},      {BORN_UNARY_LEAKY_RELU, {0.01, 0}},
    {BORN_UNARY_ELU, {1.3, 0}},     {BORN_UNARY_SOFTPLUS, {1.0, 20.0}},
    {BORN_UNARY_SOFTPLUS, {2.0, 1.0}}, {BORN_UNARY_SIGMOID, {0, 0}},
    {BORN_UNARY_TANH, {0, 0}},      {BORN_UNARY_SILU, {0, 0}},
    {BORN_UNARY_GELU, {0, 0}},      {BORN_UNARY_GELU_TANH, {0, 0}},
};
enum { NACTS = sizeof acts / sizeof acts[0] };

/* The size of the terms of f'(x) (in double), the scale of the tolerance. */
static double term_size(const act_case *c, double x) {
    double s = 1.0 / (1.0 + exp(-x));
    switch (c->op) {
    case BORN_UNARY_RELU: return x > 0 ? 1 : 0;
    case BORN_UNARY_LEAKY_RELU: return x > 0 ? 1 : fabs(c->p.alpha);
    case BORN_UNARY_ELU: return x > 0 ? 1 : fabs(c->p.alpha) * (exp(x) + 1);
    case BORN_UNARY_SOFTPLUS: return 1.0 / (1.0 + exp(-c->p.alpha * x));
    case BORN_UNARY_SIGMOID: return s * (1 - s) + s;
    case BORN_UNARY_TANH: return 1.0;
    case BORN_UNARY_SILU: return s + fabs(s * x * (1 - s));
    case BORN_UNARY_GELU: return 0.5 * erfc(-x / sqrt(2.0)) + fabs(x) * exp(-x * x / 2) / sqrt(2 * M_PI);
    case BORN_UNARY_GELU_TANH: {
        double k = 0.7978845608028654, t = tanh(k * (x + 0.044715 * x * x * x));
        return 0.5 * (1 + t) + 0.5 * fabs(x) * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x) + 0.5;
    }
    default: return 1;
    }
}

/* Inputs: a sweep over [-12, 12] (dense near 0 and gelu's cancellation at -0.75), then special
 * values. */
static int64_t make_inputs(double *x, int64_t cap) {
    int64_t n = 0;
    for (int i = -1200; i <= 1200 && n < cap; i++) x[n++] = i / 100.0 + (i % 7) * 1e-4;
    for (int i = -300; i <= 300 && n < cap; i++) x[n++] = -0.75 + i * 1e-4;
    const double special[] = {0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 19.99, 20.01, 30, -30, 88, -88,
                              -104, 1e4, -1e4, INFINITY, -INFINITY, NAN, 0.5, 1.0, 10.0, 10.5};
    for (size_t i = 0; i < sizeof special / sizeof special[0] && n < cap; i++) x[n++] = special[i];
    return n;
}

/* grad of x for upstream gradient g through op, fused or composite. */
static born_tensor *gradient(const act_case *c, born_tensor *x, born_tensor *g, bool fused) {
    ops_set_fused_unary_backward(fused);
    born_tensor *xr = born_requires_grad(born_clone(x), true);
    born_tensor *y = born_unary(c->op, xr, &c->p);
    born_backward_params bp = born_backward_default_params();
    bp.grad = g;
    born_status st = born_backward_ex(y, &bp);
    ops_set_fused_unary_backward(true);
    CHECK_OK(st);
    return born_to_dtype(born_grad(xr), BORN_F64);
}

/* g f'(x) in double (x finite). */
static double reference(const act_case *c, double x, double g) {
    double a = c->p.alpha, s = 1.0 / (1.0 + exp(-x));
    switch (c->op) {
    case BORN_UNARY_RELU: return x > 0 ? g : 0;
    case BORN_UNARY_LEAKY_RELU: return x > 0 ? g : g * a;
    case BORN_UNARY_ELU: return x > 0 ? g : g * a * exp(x);
    case BORN_UNARY_SOFTPLUS: return a * x > c->p.beta ? g : g / (1.0 + exp(-a * x));
    case BORN_UNARY_SIGMOID: return g * s * (1 - s);
    case BORN_UNARY_TANH: return g * (1 - tanh(x) * tanh(x));
    case BORN_UNARY_SILU: return g * (s + x * s * (1 - s));
    case BORN_UNARY_GELU: return g * (0.5 * erfc(-x / sqrt(2.0)) + x * exp(-x * x / 2) / sqrt(2 * M_PI));
    case BORN_UNARY_GELU_TANH: {
        double k = 0.7978845608028654, t = tanh(k * (x + 0.044715 * x * x * x));
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x));
    }
    default: return NAN;
    }
}

/* Checks the fused gradient a against the composite one b element by element: for finite x,
 * within k epsilons of the terms of the exact value, or at most twice as far from it as the
 * composite rule (which loses more where terms cancel, as gelu's erf(x / sqrt 2) + 1 for
 * x < -4); for infinite and NaN x, the same value (or both NaN). */
static void compare(const act_case *c, born_dtype dt, const double *x, const double *g,
                    born_tensor *fused, born_tensor *composite, int64_t n, double k,
                    const char *what) {
    double *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    CHECK_OK(born_copy_to_buffer(fused, a, (size_t)n * 8));
    CHECK_OK(born_copy_to_buffer(composite, b, (size_t)n * 8));
    double eps = dt == BORN_F64 ? DBL_EPSILON : dt == BORN_F16 ? 0x1p-10 : dt == BORN_BF16 ? 0x1p-7 : FLT_EPSILON;
    double floor_ = dt == BORN_F64 ? 1e-300 : dt == BORN_F16 ? 1e-7 : 1e-37;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i]))) && bad++ < 3)
                CHECK_MSG(false, "%s %s %s: x = %g, g = %g: %g vs %g", born_unary_op_name(c->op),
                          born_dtype_name(dt), what, x[i], g[i], a[i], b[i]);
            continue;
        }
        double ref = reference(c, x[i], g[i]);
        double err_a = fabs(a[i] - ref), err_b = fabs(b[i] - ref);
        double tol = k * eps * fabs(g[i]) * term_size(c, x[i]) + floor_;
        if (!(err_a <= tol || err_a <= 2 * err_b) && bad++ < 3)
            CHECK_MSG(false, "%s %s %s: x = %.9g, g = %g: fused %.9g, composite %.9g, exact %.9g",
                      born_unary_op_name(c->op), born_dtype_name(dt), what, x[i], g[i], a[i], b[i],
                      ref);
    }
    free(a);
    free(b);
}

static void check_dtype(born_dtype dt, double k, const char *what) {
    enum { CAP = 4000 };
    double *x = malloc(CAP * sizeof *x), *g = malloc(CAP * sizeof *g);
    int64_t n = make_inputs(x, CAP);
    for (int64_t i = 0; i < n; i++) g[i] = (i % 3 == 0 ? -1.0 : 1.0) * (0.5 + (double)(i % 11) / 8);
    born_tensor *xt = born_to_dtype(born_from_data(BORN_F64, 1, &n, x, (size_t)n * 8), dt);
    born_tensor *gt = born_to_dtype(born_from_data(BORN_F64, 1, &n, g, (size_t)n * 8), dt);
    /* the values as the dtype holds them, for the tolerance */
    CHECK_OK(born_copy_to_buffer(born_to_dtype(xt, BORN_F64), x, (size_t)n * 8));
    CHECK_OK(born_copy_to_buffer(born_to_dtype(gt, BORN_F64), g, (size_t)n * 8));
    for (int i = 0; i < NACTS; i++) {
        born_tensor *a = gradient(&acts[i], xt, gt, true), *b = gradient(&acts[i], xt, gt, false);
        compare(&acts[i], dt, x, g, a, b, n, k, what);
    }
    free(x);
    free(g);
}

TEST(fused_activation_gradients_match_the_composite_rules) {
    cpu_level saved = cpu_get_level();
    for (int level = CPU_LEVEL_SCALAR; level <= CPU_LEVEL_AVX512; level++) {
        cpu_set_level((cpu_level)level);
        if (cpu_get_level() != (cpu_level)level) continue; /* the other architecture's */
        check_dtype(BORN_F32, 8, cpu_level_name((cpu_level)level));
        check_dtype(BORN_F16, 8, cpu_level_name((cpu_level)level));
        check_dtype(BORN_BF16, 8, cpu_level_name((cpu_level)level));
    }
    cpu_set_level(saved);
    check_dtype(BORN_F64, 8, "");
}

TEST(fused_relu_gradient_is_one_masked_pass) {
    /* exactly g where x > 0 and +0 elsewhere (also where g is infinite or NaN, as torch's
     * threshold_backward), in one node */
    born_tensor *x = born_requires_grad(
        tensor_of(BORN_F32, BORN_DIMS(6), (double[]){-1, 0, 2, NAN, 3, -0.0}), true);
    born_tensor *g = tensor_of(BORN_F32, BORN_DIMS(6), (double[]){5, INFINITY, -7, 1, NAN, NAN});
    born_backward_params bp = born_backward_default_params();
    bp.grad = g;
    CHECK_OK(born_backward_ex(born_relu(x), &bp));
    float got[6];
    CHECK_OK(born_copy_to_buffer(born_grad(x), got, sizeof got));
    CHECK(got[0] == 0 && !signbit(got[0]) && got[1] == 0 && got[2] == -7 && got[3] == 0 &&
          isnan(got[4]) && got[5] == 0);
}

TEST(fused_activation_gradients_take_strided_and_broadcast_operands) {
    born_generator *gen = born_generator_new(3);
    born_tensor *base = born_randn(gen, BORN_F32, BORN_DIMS(37, 29));
    born_tensor *x = born_transpose(base, 0, 1); /* [29, 37], not contiguous */
    born_tensor *g_full = born_randn(gen, BORN_F32, BORN_DIMS(29, 37));
    born_tensor *g_bcast = born_expand(born_randn(gen, BORN_F32, BORN_DIMS(1, 37)), BORN_DIMS(29, 37));
    born_tensor *g_strided = born_transpose(born_randn(gen, BORN_F32, BORN_DIMS(37, 29)), 0, 1);
    born_tensor *gs[3] = {g_full, g_bcast, g_strided};
    int64_t n = 29 * 37;
    double *xv = malloc((size_t)n * 8), *gv = malloc((size_t)n * 8);
    CHECK_OK(born_copy_to_buffer(born_to_dtype(born_contiguous(x), BORN_F64), xv, (size_t)n * 8));
    cpu_level saved = cpu_get_level();
    for (int level = CPU_LEVEL_SCALAR; level <= CPU_LEVEL_AVX512; level++) {
        cpu_set_level((cpu_level)level);
        if (cpu_get_level() != (cpu_level)level) continue; /* the other architecture's */
        for (int k = 0; k < 3; k++) {
            CHECK_OK(born_copy_to_buffer(born_to_dtype(born_contiguous(gs[k]), BORN_F64), gv,
                                         (size_t)n * 8));
            for (int i = 0; i < NACTS; i++) {
                born_tensor *a = gradient(&acts[i], x, gs[k], true);
                born_tensor *b = gradient(&acts[i], born_contiguous(x), born_contiguous(gs[k]), false);
                compare(&acts[i], BORN_F32, xv, gv, a, b, n, 8, "strided");
            }
        }
    }
    cpu_set_level(saved);
    free(xv);
    free(gv);
    born_generator_free(gen);
}

TEST(fused_activation_gradients_do_not_depend_on_threads) {
    int saved = born_get_num_threads();
    born_generator *gen = born_generator_new(9);
    born_tensor *x = born_mul_scalar(born_randn(gen, BORN_F32, BORN_DIMS(300, 1000)), 3.0);
    born_tensor *g = born_randn(gen, BORN_F32, BORN_DIMS(300, 1000));
    for (int i = 0; i < NACTS; i++) {
        born_tensor *r[2];
        for (int t = 0; t < 2; t++) {
            CHECK_OK(born_set_num_threads(t + 1));
            r[t] = gradient(&acts[i], x, g, true);
        }
        CHECK_MSG(born_item(born_sum(born_ne(r[0], r[1]), 0, NULL, false)) == 0, "%s",
                  born_unary_op_name(acts[i].op));
    }
    CHECK_OK(born_set_num_threads(saved));
    born_generator_free(gen);
}

static born_tensor *apply(born_tensor *const *in, void *ctx) {
    const act_case *c = ctx;
    return born_unary(c->op, in[0], &c->p);
}

TEST(fused_activation_gradients_pass_gradcheck) {
    for (int fused = 0; fused < 2; fused++) {
        ops_set_fused_unary_backward(fused);
        for (int i = 0; i < NACTS; i++) {
            born_tensor *x = born_requires_grad(
                tensor_of(BORN_F64, BORN_DIMS(2, 4), (double[]){-1.3, 0.7, -0.2, 1.9, 0.45, -2.6, 0.6, -0.75}),
                true);
            born_status st = born_gradcheck(apply, 1, &x, (void *)&acts[i], NULL);
            CHECK_MSG(st == BORN_OK, "%s (fused %d): %s", born_unary_op_name(acts[i].op), fused,
                      born_last_error());
            born_clear_error();
        }
    }
    ops_set_fused_unary_backward(true);
}
