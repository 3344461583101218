/* The op suite on CUDA: every op runs on the GPU and on the CPU with the same fresh random inputs
 * (the seed is printed), and the results must agree within a bound for the dtype. `make
 * test-cuda` runs these with BORN_CUDA_POISON=1, so device memory starts as NaN and an output
 * element a kernel forgets to write fails the comparison. Inputs are also given as transposed
 * and broadcast views, so the kernels' stride handling is exercised. Without a GPU each test
 * prints "skipped: no GPU". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_check.h"


static double rtol_of(born_dtype t) {
    switch (t) {
    case BORN_F32: return 2e-5;
    case BORN_F64: return 1e-12;
    case BORN_F16: return 2e-3;
    case BORN_BF16: return 1.6e-2;
    default: return 0;
    }
}
static double atol_of(born_dtype t) {
    switch (t) {
    case BORN_F32: return 1e-5;
    case BORN_F64: return 1e-12;
    case BORN_F16: return 2e-3;
    case BORN_BF16: return 2e-2;
    default: return 0;
    }
}

/* got (on the GPU) against ref (on the CPU), elementwise; NaN only where ref has NaN. */
static void compare(const char *what, born_tensor *ref, born_tensor *got, double rtol, double atol) {
    if (!ref || !got) {
        test_fail(__FILE__, __LINE__, "%s: %s is NULL: %s", what, ref ? "gpu result" : "cpu result",
                  born_last_error());
        born_clear_error();
        return;
    }
    if (born_tensor_device(got).type != BORN_DEVICE_CUDA) {
        test_fail(__FILE__, __LINE__, "%s: the result is not on the GPU", what);
        return;
    }
    int64_t n = born_tensor_numel(ref);
    if (born_tensor_numel(got) != n || born_tensor_dtype(got) != born_tensor_dtype(ref)) {
        test_fail(__FILE__, __LINE__, "%s: shape or dtype differs", what);
        return;
    }
    double *r = malloc((size_t)(n ? n : 1) * sizeof *r), *g = malloc((size_t)(n ? n : 1) * sizeof *g);
    if (!r || !g || !test_read(ref, r, n) || !test_read(got, g, n)) {
        test_fail(__FILE__, __LINE__, "%s: cannot read results: %s", what, born_last_error());
        born_clear_error();
    } else {
        int bad = 0;
        for (int64_t i = 0; i < n && bad < 3; i++) {
            bool ok = (r[i] != r[i]) ? g[i] != g[i]
                                     : (g[i] == r[i] || fabs(g[i] - r[i]) <= atol + rtol * fabs(r[i]));
            if (!ok) {
                bad++;
                test_fail(__FILE__, __LINE__, "%s [%s]: element %lld: gpu %.9g, cpu %.9g (seed %llu)",
                          what, born_dtype_name(born_tensor_dtype(ref)), (long long)i, g[i], r[i], cuda_test_seed);
            }
        }
    }
    free(r);
    free(g);
}

/* ||got - ref|| / ||ref|| <= tol (for matrix products, whose summation order differs). */
static void compare_norm(const char *what, born_tensor *ref, born_tensor *got, double tol) {
    int64_t n = ref ? born_tensor_numel(ref) : 0;
    double *r = malloc((size_t)(n ? n : 1) * sizeof *r), *g = malloc((size_t)(n ? n : 1) * sizeof *g);
    if (!ref || !got || !r || !g || born_tensor_numel(got) != n || !test_read(ref, r, n) ||
        !test_read(got, g, n)) {
        test_fail(__FILE__, __LINE__, "%s: missing result: %s", what, born_last_error());
        born_clear_error();
    } else {
        double num = 0, den = 0;
        bool nan = false;
        for (int64_t i = 0; i < n; i++) {
            nan |= g[i] != g[i];
            num += (g[i] - r[i]) * (g[i] - r[i]);
            den += r[i] * r[i];
        }
        double err = sqrt(num / (den > 0 ? den : 1));
        CHECK_MSG(!nan && err <= tol, "%s: relative error %.3g (tol %.3g)%s (seed %llu)", what, err,
                  tol, nan ? ", NaN in the result" : "", cuda_test_seed);
    }
    free(r);
    free(g);
}

/* Random values of dtype: N(0, scale) + shift, or |N(0, scale)| + shift when positive. */
static born_tensor *rnd(born_dtype dt, int nd, const int64_t *shape, double scale, double shift,
                        bool positive) {
    born_tensor *x = born_mul_scalar(born_randn(cuda_test_gen, BORN_F32, nd, shape), scale);
    if (positive) x = born_abs(x);
    return born_to_dtype(born_add_scalar(x, shift), dt);
}

static const born_dtype float_dtypes[] = {BORN_F32, BORN_F16, BORN_BF16, BORN_F64};
#define NFLOAT 4

TEST(cuda_ops_unary) {
    if (!cuda_gpu_or_skip("cuda_ops_unary")) return;
    struct {
        born_unary_op op;
        int domain; /* 0 any, 1 positive */
        double a, b;
    } cases[] = {
        {BORN_UNARY_NEG, 0, 0, 0},       {BORN_UNARY_ABS, 0, 0, 0},
        {BORN_UNARY_SIGN, 0, 0, 0},      {BORN_UNARY_SQUARE, 0, 0, 0},
        {BORN_UNARY_RECIPROCAL, 1, 0, 0}, {BORN_UNARY_EXP, 0, 0, 0},
        {BORN_UNARY_EXP2, 0, 0, 0},      {BORN_UNARY_EXPM1, 0, 0, 0},
        {BORN_UNARY_LOG, 1, 0, 0},       {BORN_UNARY_LOG2, 1, 0, 0},
        {BORN_UNARY_LOG1P, 1, 0, 0},     {BORN_UNARY_SQRT, 1, 0, 0},
        {BORN_UNARY_RSQRT, 1, 0, 0},     {BORN_UNARY_SIN, 0, 0, 0},
        {BORN_UNARY_COS, 0, 0, 0},       {BORN_UNARY_TAN, 0, 0, 0},
        {BORN_UNARY_TANH, 0, 0, 0},      {BORN_UNARY_SIGMOID, 0, 0, 0},
        {BORN_UNARY_RELU, 0, 0, 0},      {BORN_UNARY_GELU, 0, 0, 0},
        {BORN_UNARY_GELU_TANH, 0, 0, 0}, {BORN_UNARY_SILU, 0, 0, 0},
        {BORN_UNARY_ERF, 0, 0, 0},       {BORN_UNARY_FLOOR, 0, 0, 0},
        {BORN_UNARY_CEIL, 0, 0, 0},      {BORN_UNARY_ROUND, 0, 0, 0},
        {BORN_UNARY_TRUNC, 0, 0, 0},     {BORN_UNARY_ISNAN, 0, 0, 0},
        {BORN_UNARY_ISINF, 0, 0, 0},     {BORN_UNARY_ISFINITE, 0, 0, 0},
        {BORN_UNARY_LEAKY_RELU, 0, 0.1, 0}, {BORN_UNARY_ELU, 0, 1.3, 0},
        {BORN_UNARY_SOFTPLUS, 0, 1.5, 2.0}, {BORN_UNARY_CLAMP, 0, -0.5, 0.7},
        {BORN_UNARY_POW_SCALAR, 1, 2.5, 0},
    };
    for (int d = 0; d < NFLOAT; d++) {
        born_dtype dt = float_dtypes[d];
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            born_scope_begin();
            born_unary_params p = {cases[c].a, cases[c].b};
            /* [29, 37] seen as its transpose: strided on both devices */
            born_tensor *x = rnd(dt, 2, (const int64_t[]){29, 37}, 2.0, cases[c].domain ? 0.1 : 0,
                                 cases[c].domain == 1);
            born_tensor *xt = born_transpose(x, 0, 1);
            born_tensor *gt = born_transpose(cuda_to_gpu(x), 0, 1);
            born_tensor *ref = born_unary(cases[c].op, xt, &p);
            born_tensor *got = born_unary(cases[c].op, gt, &p);
            compare(born_unary_op_name(cases[c].op), ref, got, rtol_of(dt), atol_of(dt));
            born_scope_end();
        }
    }
    /* NaN and infinities through the predicates and clamp */
    double special[6] = {NAN, INFINITY, -INFINITY, 0.0, -1.5, 3.0};
    for (int d = 0; d < NFLOAT; d++) {
        born_scope_begin();
        born_tensor *x = tensor_of(float_dtypes[d], 1, (const int64_t[]){6}, special);
        born_unary_op ops[] = {BORN_UNARY_ISNAN, BORN_UNARY_ISINF, BORN_UNARY_ISFINITE,
                               BORN_UNARY_CLAMP, BORN_UNARY_RELU, BORN_UNARY_SIGMOID};
        born_unary_params p = {-1, 1};
        for (int i = 0; i < 6; i++)
            compare(born_unary_op_name(ops[i]), born_unary(ops[i], x, &p),
                    born_unary(ops[i], cuda_to_gpu(x), &p), rtol_of(float_dtypes[d]), 0);
        born_scope_end();
    }
    /* integers and bool */
    const born_dtype ints[] = {BORN_I8, BORN_I32, BORN_I64, BORN_U8};
    born_unary_op iops[] = {BORN_UNARY_NEG, BORN_UNARY_ABS, BORN_UNARY_SIGN, BORN_UNARY_SQUARE,
                            BORN_UNARY_RELU, BORN_UNARY_CLAMP};
    for (int d = 0; d < 4; d++) {
        born_scope_begin();
        born_tensor *x = born_to_dtype(born_randint(cuda_test_gen, -200, 200, BORN_I64, BORN_DIMS(17, 13)), ints[d]);
        born_unary_params p = {-20, 30};
        for (int i = 0; i < 6; i++)
            compare(born_unary_op_name(iops[i]), born_unary(iops[i], x, &p),
                    born_unary(iops[i], cuda_to_gpu(x), &p), 0, 0);
        born_scope_end();
    }
    born_scope_begin();
    born_tensor *b = born_gt_scalar(born_randn(cuda_test_gen, BORN_F32, BORN_DIMS(50)), 0);
    compare("logical_not", born_logical_not(b), born_logical_not(cuda_to_gpu(b)), 0, 0);
    born_scope_end();
}

TEST(cuda_ops_binary_broadcast) {
    if (!cuda_gpu_or_skip("cuda_ops_binary_broadcast")) return;
    struct {
        born_binary_op op;
        bool positive_a, away_b; /* a > 0; |b| >= 0.5 */
    } cases[] = {
        {BORN_BINARY_ADD, 0, 0},         {BORN_BINARY_SUB, 0, 0},
        {BORN_BINARY_MUL, 0, 0},         {BORN_BINARY_DIV, 0, 1},
        {BORN_BINARY_FLOOR_DIVIDE, 0, 1}, {BORN_BINARY_REMAINDER, 0, 1},
        {BORN_BINARY_FMOD, 0, 1},        {BORN_BINARY_POW, 1, 0},
        {BORN_BINARY_MINIMUM, 0, 0},     {BORN_BINARY_MAXIMUM, 0, 0},
        {BORN_BINARY_ATAN2, 0, 0},       {BORN_BINARY_EQ, 0, 0},
        {BORN_BINARY_NE, 0, 0},          {BORN_BINARY_LT, 0, 0},
        {BORN_BINARY_LE, 0, 0},          {BORN_BINARY_GT, 0, 0},
        {BORN_BINARY_GE, 0, 0},
    };
    for (int d = 0; d < NFLOAT; d++) {
        born_dtype dt = float_dtypes[d];
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            born_scope_begin();
            /* a [4, 1, 23] against b [23, 7] transposed to [7, 23]: broadcast and strided */
            born_tensor *a = rnd(dt, 3, (const int64_t[]){4, 1, 23}, 2.0,
                                 cases[c].positive_a ? 0.1 : 0, cases[c].positive_a);
            born_tensor *b = rnd(dt, 2, (const int64_t[]){23, 7}, 2.0, 0, false);
            if (cases[c].away_b) /* sign(b) * (|b| + 0.5) */
                b = born_mul(born_sign(b), born_add_scalar(born_abs(b), 0.5));
            /* equal elements for the comparisons */
            if (cases[c].op >= BORN_BINARY_EQ) {
                a = born_masked_fill(a, born_gt_scalar(a, 1.0), 0.5);
                b = born_masked_fill(b, born_gt_scalar(b, 1.0), 0.5);
            }
            born_tensor *ref = born_binary(cases[c].op, a, born_transpose(b, 0, 1));
            born_tensor *got = born_binary(cases[c].op, cuda_to_gpu(a), born_transpose(cuda_to_gpu(b), 0, 1));
            compare(born_binary_op_name(cases[c].op), ref, got, rtol_of(dt), atol_of(dt));
            /* with a scalar on one side */
            compare("binary with a scalar", born_binary_scalar(cases[c].op, a, 1.25),
                    born_binary_scalar(cases[c].op, cuda_to_gpu(a), 1.25), rtol_of(dt), atol_of(dt));
            born_scope_end();
        }
    }
    /* the vectorized path for + - * / (four elements at a time, a broadcast row by its period)
     * and its fallbacks: a row broadcast on either side, same shapes, and an offset view */
    born_binary_op vops[] = {BORN_BINARY_ADD, BORN_BINARY_SUB, BORN_BINARY_MUL, BORN_BINARY_DIV};
    for (int d = 0; d < 3; d++)
        for (int i = 0; i < 4; i++) {
            born_dtype dt = float_dtypes[d];
            born_scope_begin();
            born_tensor *x = rnd(dt, 2, (const int64_t[]){6, 16}, 2.0, 0, false);
            born_tensor *row = born_add_scalar(rnd(dt, 1, (const int64_t[]){16}, 1.0, 0, true), 0.5);
            born_tensor *y = born_add_scalar(rnd(dt, 3, (const int64_t[]){2, 3, 16}, 1.0, 0, true), 0.5);
            born_tensor *x3 = born_reshape(x, BORN_DIMS(2, 3, 16));
            const char *nm = born_binary_op_name(vops[i]);
            compare(nm, born_binary(vops[i], x, row), born_binary(vops[i], cuda_to_gpu(x), cuda_to_gpu(row)), rtol_of(dt), atol_of(dt));
            compare(nm, born_binary(vops[i], row, y), born_binary(vops[i], cuda_to_gpu(row), cuda_to_gpu(y)), rtol_of(dt), atol_of(dt));
            compare(nm, born_binary(vops[i], x3, y), born_binary(vops[i], cuda_to_gpu(x3), cuda_to_gpu(y)), rtol_of(dt), atol_of(dt));
            born_tensor *xo = born_narrow(cuda_to_gpu(x), 1, 1, 12), *yo = born_narrow(cuda_to_gpu(x), 1, 3, 12);
            compare(nm, born_binary(vops[i], born_narrow(x, 1, 1, 12), born_narrow(x, 1, 3, 12)),
                    born_binary(vops[i], xo, yo), rtol_of(dt), atol_of(dt));
            born_scope_end();
        }
    /* integers: wrapping arithmetic, Python division, and division by zero as an error */
    const born_dtype ints[] = {BORN_I8, BORN_I32, BORN_I64, BORN_U8};
    born_binary_op iops[] = {BORN_BINARY_ADD, BORN_BINARY_SUB, BORN_BINARY_MUL,
                             BORN_BINARY_FLOOR_DIVIDE, BORN_BINARY_REMAINDER, BORN_BINARY_FMOD,
                             BORN_BINARY_MINIMUM, BORN_BINARY_MAXIMUM, BORN_BINARY_EQ,
                             BORN_BINARY_LT, BORN_BINARY_POW};
    for (int d = 0; d < 4; d++) {
        born_scope_begin();
        born_tensor *a = born_to_dtype(born_randint(cuda_test_gen, -100, 100, BORN_I64, BORN_DIMS(9, 11)), ints[d]);
        born_tensor *b = born_to_dtype(born_randint(cuda_test_gen, 1, 9, BORN_I64, BORN_DIMS(11)), ints[d]);
        for (int i = 0; i < 11; i++)
            compare(born_binary_op_name(iops[i]), born_binary(iops[i], a, b),
                    born_binary(iops[i], cuda_to_gpu(a), cuda_to_gpu(b)), 0, 0);
        born_tensor *z = cuda_to_gpu(born_zeros(ints[d], BORN_DIMS(11)));
        CHECK(born_floor_divide(cuda_to_gpu(a), z) == NULL);
        CHECK_ERROR(BORN_ERR_ARGUMENT, "division by zero");
        born_scope_end();
    }
    born_scope_begin();
    born_tensor *p = born_gt_scalar(born_randn(cuda_test_gen, BORN_F32, BORN_DIMS(6, 5)), 0);
    born_tensor *q = born_gt_scalar(born_randn(cuda_test_gen, BORN_F32, BORN_DIMS(5)), 0);
    born_binary_op bops[] = {BORN_BINARY_LOGICAL_AND, BORN_BINARY_LOGICAL_OR,
                             BORN_BINARY_LOGICAL_XOR, BORN_BINARY_ADD, BORN_BINARY_MUL,
                             BORN_BINARY_EQ, BORN_BINARY_LT};
    for (int i = 0; i < 7; i++)
        compare(born_binary_op_name(bops[i]), born_binary(bops[i], p, q),
                born_binary(bops[i], cuda_to_gpu(p), cuda_to_gpu(q)), 0, 0);
    born_scope_end();
}

TEST(cuda_ops_copy_cast_fill_where) {
    if (!cuda_gpu_or_skip("cuda_ops_copy_cast_fill_where")) return;
    const born_dtype all[] = {BORN_F32, BORN_F64, BORN_F16, BORN_BF16, BORN_I8,
                              BORN_I16, BORN_I32, BORN_I64, BORN_U8, BORN_BOOL};
    for (int from = 0; from < 10; from++) {
        born_scope_begin();
        /* values past every integer range, so saturation and wrapping are exercised */
        born_tensor *x = born_to_dtype(rnd(BORN_F64, 2, (const int64_t[]){15, 21}, 300.0, 0, false),
                                       all[from]);
        born_tensor *xg = cuda_to_gpu(x);
        for (int to = 0; to < 10; to++) {
            char what[64];
            snprintf(what, sizeof what, "cast %s -> %s", born_dtype_name(all[from]),
                     born_dtype_name(all[to]));
            compare(what, born_to_dtype(born_transpose(x, 0, 1), all[to]),
                    born_to_dtype(born_transpose(xg, 0, 1), all[to]), 0, 0);
        }
        compare("full_like", born_full_like(x, -7.75), born_full_like(xg, -7.75), 0, 0);
        born_tensor *cond = born_gt_scalar(born_randn(cuda_test_gen, BORN_F32, BORN_DIMS(21)), 0);
        born_tensor *other = born_zeros_like(x);
        compare("where", born_where(cond, x, other), born_where(cuda_to_gpu(cond), xg, cuda_to_gpu(other)), 0, 0);
        born_scope_end();
    }
}

TEST(cuda_ops_reductions) {
    if (!cuda_gpu_or_skip("cuda_ops_reductions")) return;
    struct {
        int nd;
        int64_t shape[3];
        int ndims;
        int64_t dims[2];
    } cases[] = {
        {2, {37, 53}, 1, {1}},      {2, {37, 53}, 1, {0}},     {2, {37, 53}, 2, {0, 1}},
        {3, {4, 300, 5}, 1, {1}},   {3, {4, 300, 5}, 2, {0, 2}}, {2, {3, 20000}, 1, {1}},
        {2, {9000, 3}, 1, {0}},     {2, {9000, 3}, 1, {1}},    {3, {2, 3, 4}, 1, {0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int d = 0; d < NFLOAT; d++) {
            born_dtype dt = float_dtypes[d];
            born_scope_begin();
            born_tensor *x = rnd(dt, cases[c].nd, cases[c].shape, 1.0, 0, false);
            born_tensor *xg = cuda_to_gpu(x);
            int64_t nred = 1;
            for (int i = 0; i < cases[c].ndims; i++) nred *= cases[c].shape[cases[c].dims[i]];
            double atol = atol_of(dt) * sqrt((double)nred) * 2;
            compare("sum", born_sum(x, cases[c].ndims, cases[c].dims, false),
                    born_sum(xg, cases[c].ndims, cases[c].dims, false), rtol_of(dt) * 4, atol);
            compare("mean", born_mean(x, cases[c].ndims, cases[c].dims, true),
                    born_mean(xg, cases[c].ndims, cases[c].dims, true), rtol_of(dt) * 4,
                    atol / (double)nred);
            compare("max", born_max(x, cases[c].ndims, cases[c].dims, false),
                    born_max(xg, cases[c].ndims, cases[c].dims, false), 0, 0);
            compare("min", born_min(x, cases[c].ndims, cases[c].dims, true),
                    born_min(xg, cases[c].ndims, cases[c].dims, true), 0, 0);
            born_tensor *near1 = born_add_scalar(born_mul_scalar(x, 0.01), 1.0);
            compare("prod", born_prod(near1, cases[c].ndims, cases[c].dims, false),
                    born_prod(cuda_to_gpu(near1), cases[c].ndims, cases[c].dims, false), rtol_of(dt) * 8,
                    atol_of(dt));
            born_tensor *pos = born_gt_scalar(x, 1.5);
            compare("any", born_any(pos, cases[c].ndims, cases[c].dims, false),
                    born_any(cuda_to_gpu(pos), cases[c].ndims, cases[c].dims, false), 0, 0);
            compare("all", born_all(pos, cases[c].ndims, cases[c].dims, false),
                    born_all(cuda_to_gpu(pos), cases[c].ndims, cases[c].dims, false), 0, 0);
            int dim = (int)cases[c].dims[0];
            compare("argmax", born_argmax(x, dim, false), born_argmax(xg, dim, false), 0, 0);
            compare("argmin", born_argmin(x, dim, true), born_argmin(xg, dim, true), 0, 0);
            born_scope_end();
        }
    }
    /* integers reduce exactly; NaN propagates through max and wins argmax */
    born_scope_begin();
    born_tensor *xi = born_randint(cuda_test_gen, -1000, 1000, BORN_I64, BORN_DIMS(64, 129));
    compare("sum i64", born_sum(xi, BORN_DIMS(1), false), born_sum(cuda_to_gpu(xi), BORN_DIMS(1), false), 0, 0);
    compare("max i64", born_max(xi, BORN_DIMS(0), false), born_max(cuda_to_gpu(xi), BORN_DIMS(0), false), 0, 0);
    double v[6] = {1, NAN, 3, 7, NAN, -2};
    born_tensor *xn = tensor_of(BORN_F32, 2, (const int64_t[]){2, 3}, v);
    compare("max with NaN", born_max(xn, BORN_DIMS(1), false), born_max(cuda_to_gpu(xn), BORN_DIMS(1), false), 0, 0);
    compare("argmax with NaN", born_argmax(xn, 1, false), born_argmax(cuda_to_gpu(xn), 1, false), 0, 0);
    born_scope_end();
}

/* Long reductions into few outputs take the two-pass path (chunks, then their combination):
 * whole tensors and long rows, against the CPU. */
TEST(cuda_ops_long_reductions) {
    if (!cuda_gpu_or_skip("cuda_ops_long_reductions")) return;
    struct {
        int nd;
        int64_t shape[3];
        int ndims;
        int64_t dims[2];
    } cases[] = {
        {1, {1048583}, 1, {0}}, {2, {3, 300001}, 1, {1}}, {3, {64, 4099, 2}, 2, {0, 1}},
        {2, {4, 262152}, 1, {1}}, /* 16-byte aligned rows: the dense chunk kernel, with a tail */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int d = 0; d < NFLOAT; d++) {
            born_dtype dt = float_dtypes[d];
            born_scope_begin();
            born_tensor *x = rnd(dt, cases[c].nd, cases[c].shape, 1.0, 0.0, false);
            born_tensor *xg = cuda_to_gpu(x);
            int64_t nred = 1;
            for (int i = 0; i < cases[c].ndims; i++) nred *= cases[c].shape[cases[c].dims[i]];
            /* partial sums reach ~sqrt(n); each of ~sqrt(n) levels rounds them: n eps overall */
            double atol = (dt == BORN_F64 ? 1e-13 : 1e-7) * (double)nred;
            compare("long sum", born_sum(x, cases[c].ndims, cases[c].dims, false),
                    born_sum(xg, cases[c].ndims, cases[c].dims, false), rtol_of(dt) * 4, atol);
            compare("long max", born_max(x, cases[c].ndims, cases[c].dims, false),
                    born_max(xg, cases[c].ndims, cases[c].dims, false), 0, 0);
            born_tensor *pos = born_gt_scalar(x, 4.5); /* rare: any depends on a few elements */
            compare("long any", born_any(pos, cases[c].ndims, cases[c].dims, false),
                    born_any(cuda_to_gpu(pos), cases[c].ndims, cases[c].dims, false), 0, 0);
            born_scope_end();
        }
    born_scope_begin();
    born_tensor *xi = born_randint(cuda_test_gen, -1000, 1000, BORN_I64, BORN_DIMS(1 << 20));
    compare("long sum i64", born_sum(xi, BORN_DIMS(0), false), born_sum(cuda_to_gpu(xi), BORN_DIMS(0), false), 0, 0);
    born_scope_end();
}

/* A broadcast scalar (every stride 0, as the gradient of a sum) on either side of the vectorized
 * add, sub, mul and div, against the CPU. */
TEST(cuda_ops_scalar_broadcast) {
    if (!cuda_gpu_or_skip("cuda_ops_scalar_broadcast")) return;
    static const born_binary_op ops[] = {BORN_BINARY_ADD, BORN_BINARY_SUB, BORN_BINARY_MUL,
                                         BORN_BINARY_DIV};
    for (int d = 0; d < NFLOAT; d++) {
        born_dtype dt = float_dtypes[d];
        for (size_t o = 0; o < sizeof ops / sizeof *ops; o++)
            for (int side = 0; side < 2; side++) {
                born_scope_begin();
                born_tensor *x = rnd(dt, 2, (const int64_t[]){37, 1028}, 1.0, 0.0, false);
                born_tensor *c = rnd(dt, 0, NULL, 1.0, 1.5, true); /* away from 0 for div */
                born_tensor *ce = born_expand(c, 2, (const int64_t[]){37, 1028});
                born_tensor *xg = cuda_to_gpu(x), *cg = born_expand(cuda_to_gpu(c), 2, (const int64_t[]){37, 1028});
                born_tensor *ref = side ? born_binary(ops[o], ce, x) : born_binary(ops[o], x, ce);
                born_tensor *got = side ? born_binary(ops[o], cg, xg) : born_binary(ops[o], xg, cg);
                compare("scalar broadcast", ref, got, rtol_of(dt), 0);
                born_scope_end();
            }
    }
}

TEST(cuda_ops_softmax) {
    if (!cuda_gpu_or_skip("cuda_ops_softmax")) return;
    for (int d = 0; d < NFLOAT; d++) {
        born_dtype dt = float_dtypes[d];
        const int64_t shapes[3][3] = {{8, 10, 1}, {33, 1000, 1}, {6, 7, 300}};
        for (int s = 0; s < 3; s++) {
            for (int dim = 0; dim < 2; dim++) {
                born_scope_begin();
                born_tensor *x = rnd(dt, 3, shapes[s], 3.0, 0, false);
                born_tensor *xg = cuda_to_gpu(x);
                compare("softmax", born_softmax(x, dim), born_softmax(xg, dim), rtol_of(dt) * 2,
                        atol_of(dt) * 0.1);
                compare("log_softmax", born_log_softmax(x, -1 - dim), born_log_softmax(xg, -1 - dim),
                        rtol_of(dt) * 2, atol_of(dt) * 4);
                born_scope_end();
            }
        }
    }
}

/* d/dx sum(f(x) * w) on both devices. */
static born_tensor *grad_of(int which, born_tensor *x0, born_tensor *w) {
    born_tensor *x = born_requires_grad(born_detach(x0), true);
    born_tensor *y;
    switch (which) {
    case 0: y = born_softmax(x, -1); break;
    case 1: y = born_log_softmax(x, 0); break;
    case 2: y = born_relu(x); break;
    case 3: y = born_gelu(x); break;
    case 4: y = born_silu(x); break;
    case 5: y = born_tanh(x); break;
    case 6: y = born_sigmoid(x); break;
    default: y = born_gelu_tanh(x); break;
    }
    born_tensor *loss = born_sum(born_mul(y, w), 0, NULL, false);
    if (born_backward(loss) != BORN_OK) return NULL;
    return born_grad(x);
}

TEST(cuda_ops_gradients) {
    if (!cuda_gpu_or_skip("cuda_ops_gradients")) return;
    const char *names[] = {"softmax grad", "log_softmax grad", "relu grad", "gelu grad",
                           "silu grad", "tanh grad", "sigmoid grad", "gelu_tanh grad"};
    born_dtype dts[] = {BORN_F32, BORN_BF16, BORN_F16};
    for (int d = 0; d < 3; d++) {
        for (int which = 0; which < 8; which++) {
            born_scope_begin();
            born_tensor *x = rnd(dts[d], 2, (const int64_t[]){17, 31}, 2.0, 0, false);
            born_tensor *w = rnd(dts[d], 2, (const int64_t[]){17, 31}, 1.0, 0, false);
            compare(names[which], grad_of(which, x, w), grad_of(which, cuda_to_gpu(x), cuda_to_gpu(w)),
                    rtol_of(dts[d]) * 4, atol_of(dts[d]) * 2);
            born_scope_end();
        }
    }
}

TEST(cuda_ops_matmul) {
    if (!cuda_gpu_or_skip("cuda_ops_matmul")) return;
    born_dtype dts[] = {BORN_F32, BORN_F64, BORN_F16, BORN_BF16};
    double tols[] = {1e-5, 1e-12, 2e-3, 1e-2};
    for (int d = 0; d < 4; d++) {
        born_dtype dt = dts[d];
        born_scope_begin();
        born_tensor *a = rnd(dt, 2, (const int64_t[]){33, 65}, 1, 0, false);
        born_tensor *b = rnd(dt, 2, (const int64_t[]){65, 17}, 1, 0, false);
        born_tensor *ag = cuda_to_gpu(a), *bg = cuda_to_gpu(b);
        compare_norm("matmul", born_matmul(a, b), born_matmul(ag, bg), tols[d]);
        /* transposed operands: [65, 33]^T and [17, 65]^T */
        born_tensor *at = rnd(dt, 2, (const int64_t[]){65, 33}, 1, 0, false);
        born_tensor *bt = rnd(dt, 2, (const int64_t[]){17, 65}, 1, 0, false);
        compare_norm("matmul a^T", born_matmul(born_transpose(at, 0, 1), b),
                     born_matmul(born_transpose(cuda_to_gpu(at), 0, 1), bg), tols[d]);
        compare_norm("matmul b^T", born_matmul(a, born_transpose(bt, 0, 1)),
                     born_matmul(ag, born_transpose(cuda_to_gpu(bt), 0, 1)), tols[d]);
        compare_norm("matmul a^T b^T",
                     born_matmul(born_transpose(at, 0, 1), born_transpose(bt, 0, 1)),
                     born_matmul(born_transpose(cuda_to_gpu(at), 0, 1), born_transpose(cuda_to_gpu(bt), 0, 1)), tols[d]);
        /* batched, broadcast batch, and an operand with no unit stride */
        born_tensor *a3 = rnd(dt, 3, (const int64_t[]){5, 33, 65}, 1, 0, false);
        born_tensor *b3 = rnd(dt, 3, (const int64_t[]){5, 65, 17}, 1, 0, false);
        compare_norm("bmm", born_matmul(a3, b3), born_matmul(cuda_to_gpu(a3), cuda_to_gpu(b3)), tols[d]);
        compare_norm("matmul broadcast", born_matmul(a3, b), born_matmul(cuda_to_gpu(a3), bg), tols[d]);
        born_tensor *a4 = rnd(dt, 4, (const int64_t[]){2, 3, 33, 65}, 1, 0, false);
        born_tensor *b4 = rnd(dt, 4, (const int64_t[]){3, 1, 65, 17}, 1, 0, false);
        b4 = born_transpose(b4, 0, 1); /* [1, 3, 65, 17], batch strides not mergeable */
        compare_norm("matmul 4-d", born_matmul(a4, b4),
                     born_matmul(cuda_to_gpu(a4), born_transpose(cuda_to_gpu(born_transpose(b4, 0, 1)), 0, 1)), tols[d]);
        born_tensor *wide = rnd(dt, 2, (const int64_t[]){33, 130}, 1, 0, false);
        compare_norm("matmul strided", born_matmul(born_slice(wide, 1, 0, 130, 2), b),
                     born_matmul(born_slice(cuda_to_gpu(wide), 1, 0, 130, 2), bg), tols[d]);
        /* linear = x w^T + bias, the layer's path */
        born_tensor *w = rnd(dt, 2, (const int64_t[]){17, 65}, 1, 0, false);
        born_tensor *bias = rnd(dt, 1, (const int64_t[]){17}, 1, 0, false);
        compare_norm("linear", born_linear(a, w, bias), born_linear(ag, cuda_to_gpu(w), cuda_to_gpu(bias)), tols[d]);
        born_scope_end();
    }
}

/* One MLP step sequence: x [64, 20] -> linear 32 -> relu -> linear 5 -> cross-entropy, AdamW. */
static void train_mlp(born_device dev, born_tensor *const *init, born_tensor *x, born_tensor *y,
                      double *losses, int steps, born_tensor **final_w) {
    born_tensor *p[4];
    for (int i = 0; i < 4; i++) p[i] = born_requires_grad(born_clone(born_to(init[i], dev)), true);
    born_tensor *xd = born_to(x, dev), *yd = born_to(y, dev);
    born_adam_params ap = born_adamw_default_params();
    ap.lr = 1e-2;
    born_optimizer *opt = born_adamw(p, 4, &ap);
    for (int s = 0; s < steps; s++) {
        born_scope_begin();
        born_optimizer_zero_grad(opt);
        born_tensor *h = born_relu(born_linear(xd, p[0], p[1]));
        born_tensor *loss = born_cross_entropy(born_linear(h, p[2], p[3]), yd, NULL);
        CHECK_OK(born_backward(loss));
        CHECK_OK(born_optimizer_step(opt));
        if (!test_read(loss, &losses[s], 1)) losses[s] = NAN;
        born_scope_end();
    }
    *final_w = born_to(p[2], BORN_CPU);
    born_optimizer_free(opt);
}

TEST(cuda_ops_mlp_training_follows_cpu) {
    if (!cuda_gpu_or_skip("cuda_ops_mlp_training_follows_cpu")) return;
    born_tensor *init[4] = {
        rnd(BORN_F32, 2, (const int64_t[]){32, 20}, 0.2, 0, false),
        rnd(BORN_F32, 1, (const int64_t[]){32}, 0.1, 0, false),
        rnd(BORN_F32, 2, (const int64_t[]){5, 32}, 0.2, 0, false),
        rnd(BORN_F32, 1, (const int64_t[]){5}, 0.1, 0, false),
    };
    born_tensor *x = rnd(BORN_F32, 2, (const int64_t[]){64, 20}, 1, 0, false);
    born_tensor *y = born_randint(cuda_test_gen, 0, 5, BORN_I64, BORN_DIMS(64));
    double lc[30], lg[30];
    born_tensor *wc = NULL, *wg = NULL;
    train_mlp(BORN_CPU, init, x, y, lc, 30, &wc);
    train_mlp(BORN_CUDA(0), init, x, y, lg, 30, &wg);
    for (int s = 0; s < 30; s++)
        CHECK_MSG(fabs(lg[s] - lc[s]) <= 1e-4 * fabs(lc[s]), "step %d: gpu loss %.9g, cpu %.9g", s,
                  lg[s], lc[s]);
    CHECK(lc[29] < lc[0] * 0.7); /* it learns */
    compare_norm("trained weight", wc, born_to(wg, BORN_CUDA(0)), 1e-4);
    /* the indexing kernels report a bad class index instead of reading out of range */
    born_tensor *bad = cuda_to_gpu(born_full(BORN_I64, BORN_DIMS(64), 7));
    CHECK(born_cross_entropy(cuda_to_gpu(born_zeros(BORN_F32, BORN_DIMS(64, 5))), bad, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "out of range");
}

/* AdamW over parameters of mixed sizes and dtypes (f32 and bf16 in one optimizer, so two
 * multi-tensor groups, sizes around the kernel's 4096-element chunks, one transposed parameter
 * that takes the one-by-one path) follows the CPU's for three steps. */
TEST(cuda_ops_adamw_multi_tensor_follows_cpu) {
    if (!cuda_gpu_or_skip("cuda_ops_adamw_multi_tensor_follows_cpu")) return;
    enum { NP = 7 };
    const int64_t sizes[NP] = {1, 1000, 4096, 8193, 40000, 3, 777};
    born_tensor *init[NP], *grads[3][NP];
    for (int i = 0; i < NP; i++) {
        born_dtype dt = i % 2 ? BORN_BF16 : BORN_F32;
        init[i] = rnd(dt, 1, &sizes[i], 1, 0, false);
        for (int s = 0; s < 3; s++) grads[s][i] = rnd(dt, 1, &sizes[i], 0.1, 0, false);
    }
    born_tensor *tr = rnd(BORN_F32, 2, (const int64_t[]){33, 17}, 1, 0, false);
    born_tensor *res[2][NP + 1];
    for (int side = 0; side < 2; side++) {
        born_device dev = side ? BORN_CUDA(0) : BORN_CPU;
        born_tensor *p[NP + 1];
        for (int i = 0; i < NP; i++) p[i] = born_requires_grad(born_clone(born_to(init[i], dev)), true);
        p[NP] = born_requires_grad(born_transpose(born_clone(born_to(tr, dev)), 0, 1), true);
        born_adam_params ap = born_adamw_default_params();
        ap.lr = 1e-2;
        born_optimizer *opt = born_adamw(p, NP + 1, &ap);
        for (int s = 0; s < 3; s++) {
            born_scope_begin();
            born_optimizer_zero_grad(opt);
            born_tensor *loss = born_sum(born_mul(p[NP], p[NP]), 0, NULL, false);
            for (int i = 0; i < NP; i++)
                loss = born_add(loss, born_to_dtype(born_sum(born_mul(p[i], born_to(grads[s][i], dev)), 0, NULL, false), BORN_F32));
            CHECK_OK(born_backward(loss));
            CHECK_OK(born_optimizer_step(opt));
            born_scope_end();
        }
        for (int i = 0; i <= NP; i++) res[side][i] = born_to(born_detach(p[i]), BORN_CUDA(0));
        born_optimizer_free(opt);
    }
    for (int i = 0; i <= NP; i++)
        compare_norm("adamw multi-tensor param", res[0][i], res[1][i], i % 2 && i < NP ? 1e-2 : 1e-5);
}
