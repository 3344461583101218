/* matmul / mm / bmm / linear / outer / matmul_out: values against PyTorch, every shape rule of
 * torch.matmul, non-contiguous inputs, dtypes, errors, gradients and thread-count independence.
 *
 * Inputs are F(shape, s): element i (row-major) is ((7 i + 3 s) % 11 - 5) / 4, so every product
 * and sum is exact in f32, f16 and bf16. Integer variants drop the / 4 (u8 adds 5 instead). The
 * expected arrays were printed by PyTorch 2.x:
 *
 *   def F(shape, s, kind='f'):
 *       n = math.prod(shape); v = [((i*7 + s*3) % 11 - 5) for i in range(n)]
 *       if kind == 'f': return torch.tensor([x*0.25 for x in v],
 * dtype=torch.float64).reshape(shape) if kind == 'u8': return torch.tensor([x+5 for x in v],
 * dtype=torch.uint8).reshape(shape) return torch.tensor(v, dtype=torch.int64).reshape(shape)
 *   print(torch.matmul(F(sa, 1), F(sb, 2)).flatten().tolist())     # and so on per test */
#include <string.h>

#include "core/cpu_features.h"
#include "test.h"

/* F(shape, s) in dtype (see the top of the file). */
static born_tensor *F(born_dtype dtype, int ndim, const int64_t *shape, int s) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    double v[256];
    if (n > 256) return NULL;
    for (int64_t i = 0; i < n; i++) {
        double x = (double)((i * 7 + s * 3) % 11 - 5);
        v[i] = dtype == BORN_U8 ? x + 5 : born_dtype_is_integer(dtype) ? x : x * 0.25;
    }
    return tensor_of(dtype, ndim, shape, v);
}

#define FT(dtype, s, ...) F(dtype, BORN_DIMS(__VA_ARGS__), s)

/* ---- values and every shape rule ------------------------------------------------------------ */

TEST(matmul_1d_1d_is_a_dot_product) {
    born_tensor *y = born_matmul(FT(BORN_F32, 1, 3), FT(BORN_F32, 2, 3));
    CHECK_EQ_INT(born_tensor_ndim(y), 0);
    /* torch.matmul(F((3,),1), F((3,),2)) */
    CHECK_TENSOR_NEAR(y, ((double[]){-0.8125}), 1, 0, 0);
}

TEST(matmul_2d_2d) {
    born_tensor *y = born_matmul(FT(BORN_F32, 1, 2, 3), FT(BORN_F32, 2, 3, 4));
    CHECK_SHAPE(y, 2, 4);
    CHECK_TENSOR_NEAR(y, ((double[]){-1.25, 1.1875, -0.5, -1.5, -1.1875, 1.3125, -1.0, -1.25}), 8,
                      0, 0);
}

TEST(matmul_1d_left_operand_is_a_row_that_is_removed) {
    born_tensor *y = born_matmul(FT(BORN_F32, 1, 3), FT(BORN_F32, 2, 3, 4));
    CHECK_SHAPE(y, 4);
    CHECK_TENSOR_NEAR(y, ((double[]){-1.25, 1.1875, -0.5, -1.5}), 4, 0, 0);
    /* [3] @ [2, 3, 4] -> [2, 4] */
    born_tensor *z = born_matmul(FT(BORN_F32, 1, 3), FT(BORN_F32, 2, 2, 3, 4));
    CHECK_SHAPE(z, 2, 4);
    CHECK_TENSOR_NEAR(z, ((double[]){-1.25, 1.1875, -0.5, -1.5, 1.1875, -0.5, -1.5, 0.9375}), 8, 0,
                      0);
}

TEST(matmul_1d_right_operand_is_a_column_that_is_removed) {
    born_tensor *y = born_matmul(FT(BORN_F32, 1, 2, 3), FT(BORN_F32, 2, 3));
    CHECK_SHAPE(y, 2);
    CHECK_TENSOR_NEAR(y, ((double[]){-0.8125, -0.9375}), 2, 0, 0);
    /* [2, 2, 3] @ [3] -> [2, 2] */
    born_tensor *z = born_matmul(FT(BORN_F32, 1, 2, 2, 3), FT(BORN_F32, 2, 3));
    CHECK_SHAPE(z, 2, 2);
    CHECK_TENSOR_NEAR(z, ((double[]){-0.8125, -0.9375, -1.0625, -1.1875}), 4, 0, 0);
}

TEST(matmul_batch_dimensions_broadcast) {
    /* [2, 1, 3, 4] @ [5, 4, 2] -> [2, 5, 3, 2] */
    born_tensor *y = born_matmul(FT(BORN_F32, 1, 2, 1, 3, 4), FT(BORN_F32, 2, 5, 4, 2));
    CHECK_SHAPE(y, 2, 5, 3, 2);
    static const double want[60] = {
        1.0625,  1.5,     1.0625,  -2.4375, -1.6875, 1.1875,  1.125,  1.5625,  1.25,    -2.25,
        -2.0625, 0.8125,  -2.25,   1.625,   1.4375,  -2.0625, 1.0,    0.4375,  -2.1875, 1.0,
        1.625,   0.875,   0.625,   -1.3125, -2.125,  1.0625,  1.8125, 1.0625,  0.25,    -1.6875,
        1.0625,  -2.75,   -1.6875, 0.875,   0.375,   -1.0,    1.5,    -2.3125, -1.8125, 0.75,
        0.375,   -1.0,    1.25,    -1.875,  0.8125,  0.625,   -1.0,   -1.0,    1.6875,  0.625,
        0.6875,  -1.5625, -1.0,    0.375,   2.125,   1.0625,  0.5625, -1.6875, -1.0,    0.375};
    CHECK_TENSOR_NEAR(y, want, 60, 0, 0);
    /* [2, 3, 4] @ [4, 2] and [3, 4] @ [2, 4, 2] -> [2, 3, 2] */
    born_tensor *z = born_matmul(FT(BORN_F32, 1, 2, 3, 4), FT(BORN_F32, 2, 4, 2));
    CHECK_SHAPE(z, 2, 3, 2);
    CHECK_TENSOR_NEAR(z,
                      ((double[]){1.0625, 1.5, 1.0625, -2.4375, -1.6875, 1.1875, 1.0625, -2.75,
                                  -1.6875, 0.875, 0.375, -1.0}),
                      12, 0, 0);
    born_tensor *w = born_matmul(FT(BORN_F32, 1, 3, 4), FT(BORN_F32, 2, 2, 4, 2));
    CHECK_SHAPE(w, 2, 3, 2);
    CHECK_TENSOR_NEAR(w,
                      ((double[]){1.0625, 1.5, 1.0625, -2.4375, -1.6875, 1.1875, 1.125, 1.5625,
                                  1.25, -2.25, -2.0625, 0.8125}),
                      12, 0, 0);
}

TEST(matmul_empty_dimensions) {
    born_tensor *y =
        born_matmul(born_ones(BORN_F32, BORN_DIMS(2, 0)), born_ones(BORN_F32, BORN_DIMS(0, 3)));
    CHECK_SHAPE(y, 2, 3);
    CHECK_TENSOR_NEAR(y, ((double[]){0, 0, 0, 0, 0, 0}), 6, 0, 0);
    born_tensor *z =
        born_matmul(born_ones(BORN_F32, BORN_DIMS(0, 2, 4)), born_ones(BORN_F32, BORN_DIMS(4, 3)));
    CHECK_SHAPE(z, 0, 2, 3);
    born_tensor *d =
        born_matmul(born_ones(BORN_F64, BORN_DIMS(0)), born_ones(BORN_F64, BORN_DIMS(0)));
    CHECK_TENSOR_NEAR(d, ((double[]){0}), 1, 0, 0);
}

TEST(mm_bmm_and_outer_values) {
    born_tensor *y = born_mm(FT(BORN_F64, 1, 2, 3), FT(BORN_F64, 2, 3, 4));
    CHECK_TENSOR_NEAR(y, ((double[]){-1.25, 1.1875, -0.5, -1.5, -1.1875, 1.3125, -1.0, -1.25}), 8,
                      0, 0);
    /* bmm(F((2,3,4),1), F((2,4,2),2)): batch 0 is F((3,4),1) @ F((4,2),2)[0] ... computed by
     * torch.bmm, the same numbers as the broadcast test's first and last blocks */
    born_tensor *b = born_bmm(FT(BORN_F32, 1, 2, 3, 4), FT(BORN_F32, 2, 2, 4, 2));
    CHECK_SHAPE(b, 2, 3, 2);
    born_tensor *want = born_matmul(FT(BORN_F32, 1, 2, 3, 4), FT(BORN_F32, 2, 2, 4, 2));
    CHECK(born_item(born_all(born_eq(b, want), 0, NULL, false)) == 1);
    /* torch.outer(F((3,),1), F((4,),2)) */
    born_tensor *o = born_outer(FT(BORN_F32, 1, 3), FT(BORN_F32, 2, 4));
    CHECK_SHAPE(o, 3, 4);
    CHECK_TENSOR_NEAR(o,
                      ((double[]){-0.125, 0.375, -0.5, -0.0, 0.3125, -0.9375, 1.25, 0.0, 0.0625,
                                  -0.1875, 0.25, 0.0}),
                      12, 0, 0);
}

/* ---- non-contiguous inputs ------------------------------------------------------------------ */

TEST(matmul_of_transposed_sliced_and_expanded_views) {
    /* torch.matmul(F((3,2),1).T, F((3,4),2)) */
    born_tensor *at = born_transpose(FT(BORN_F32, 1, 3, 2), 0, 1);
    CHECK(!born_tensor_is_contiguous(at));
    born_tensor *y = born_matmul(at, FT(BORN_F32, 2, 3, 4));
    CHECK_TENSOR_NEAR(y, ((double[]){0.125, 0.0625, 0.6875, -0.0625, 1.0625, -1.5, 1.4375, 0.9375}),
                      8, 0, 0);
    /* every layout gives what its contiguous copy gives */
    born_tensor *big = FT(BORN_F32, 1, 6, 10);
    born_tensor *views[4] = {
        born_slice(big, 1, 1, 9, 2),                       /* [6, 4], column step 2 */
        born_transpose(born_slice(big, 0, 0, 4, 1), 0, 1), /* [10, 4] transposed */
        born_expand(born_slice(FT(BORN_F32, 3, 1, 4), 0, 0, 1, 1),
                    BORN_DIMS(5, 4)),                                       /* rows broadcast */
        born_select(born_transpose(FT(BORN_F32, 4, 3, 4, 2), 1, 2), 0, 1)}; /* [2, 4] */
    born_tensor *rhs = born_transpose(FT(BORN_F32, 2, 3, 4), 0, 1);         /* [4, 3] transposed */
    for (int i = 0; i < 4; i++) {
        born_tensor *got = born_matmul(views[i], rhs);
        born_tensor *ref = born_matmul(born_contiguous(views[i]), born_contiguous(rhs));
        CHECK_MSG(got && ref && born_item(born_all(born_eq(got, ref), 0, NULL, false)) == 1,
                  "view %d differs from its contiguous copy", i);
    }
    /* a broadcast batch (zero stride) on both sides */
    born_tensor *ea = born_expand(FT(BORN_F64, 1, 1, 3, 4), BORN_DIMS(3, 3, 4));
    born_tensor *eb = born_expand(FT(BORN_F64, 2, 4, 1), BORN_DIMS(4, 5));
    born_tensor *e = born_matmul(ea, eb);
    CHECK_SHAPE(e, 3, 3, 5);
    born_tensor *eref = born_matmul(born_contiguous(ea), born_contiguous(eb));
    CHECK(born_item(born_all(born_eq(e, eref), 0, NULL, false)) == 1);
}

/* ---- dtypes --------------------------------------------------------------------------------- */

TEST(matmul_every_dtype) {
    const double want[8] = {-1.25, 1.1875, -0.5, -1.5, -1.1875, 1.3125, -1.0, -1.25};
    const born_dtype floats[4] = {BORN_F32, BORN_F64, BORN_F16, BORN_BF16};
    for (int i = 0; i < 4; i++) {
        born_tensor *y = born_matmul(FT(floats[i], 1, 2, 3), FT(floats[i], 2, 3, 4));
        CHECK_OK_TENSOR(y);
        if (!y) continue;
        CHECK_EQ_INT(born_tensor_dtype(y), floats[i]);
        CHECK_TENSOR_NEAR(y, want, 8, 0, 0);
    }
    /* torch.matmul(F((2,3),1,'i'), F((3,4),2,'i')) for i32 and i64 */
    const double wi[8] = {-20, 19, -8, -24, -19, 21, -16, -20};
    const born_dtype ints[3] = {BORN_I32, BORN_I64, BORN_I8};
    for (int i = 0; i < 3; i++) {
        born_tensor *y = born_matmul(FT(ints[i], 1, 2, 3), FT(ints[i], 2, 3, 4));
        CHECK_OK_TENSOR(y);
        if (!y) continue;
        CHECK_EQ_INT(born_tensor_dtype(y), ints[i]);
        CHECK_TENSOR_NEAR(y, wi, 8, 0, 0);
    }
    /* u8: torch.matmul(F((2,3),1,'u8'), F((3,4),2,'u8')), and wrap-around: 200 * 2 = 144 */
    born_tensor *u = born_matmul(FT(BORN_U8, 1, 2, 3), FT(BORN_U8, 2, 3, 4));
    CHECK_EQ_INT(born_tensor_dtype(u), BORN_U8);
    CHECK_TENSOR_NEAR(u, ((double[]){70, 104, 127, 51, 56, 91, 104, 40}), 8, 0, 0);
    born_tensor *w = born_matmul(tensor_of(BORN_U8, BORN_DIMS(1, 1), (double[]){200}),
                                 tensor_of(BORN_U8, BORN_DIMS(1), (double[]){2}));
    CHECK_TENSOR_NEAR(w, ((double[]){144}), 1, 0, 0);
    /* i32 wraps modulo 2^32 as torch does: 65536 * 65536 = 0, 46341^2 = -2147479015 */
    born_tensor *ov = born_matmul(tensor_of(BORN_I32, BORN_DIMS(2), (double[]){65536, 46341}),
                                  tensor_of(BORN_I32, BORN_DIMS(2, 1), (double[]){65536, 46341}));
    CHECK_TENSOR_NEAR(ov, ((double[]){-2147479015.0}), 1, 0, 0);
    /* mixed dtypes promote as PyTorch's result_type */
    born_tensor *m1 = born_matmul(FT(BORN_I32, 1, 2, 3), FT(BORN_F32, 2, 3, 4));
    CHECK_EQ_INT(born_tensor_dtype(m1), BORN_F32);
    born_tensor *m2 = born_matmul(FT(BORN_F32, 1, 2, 3), FT(BORN_F64, 2, 3, 4));
    CHECK_EQ_INT(born_tensor_dtype(m2), BORN_F64);
    CHECK_TENSOR_NEAR(m2, want, 8, 0, 0);
    born_tensor *m3 = born_matmul(FT(BORN_F16, 1, 2, 3), FT(BORN_BF16, 2, 3, 4));
    CHECK_EQ_INT(born_tensor_dtype(m3), BORN_F32);
    CHECK_TENSOR_NEAR(m3, want, 8, 0, 0);
}

/* f16 and bf16 operands in any layout (a transposed weight, a batch broadcast against 2-D, a
 * transposed left operand; converted in their own order in memory where the CPU does not take
 * them natively) give the f64 products of their values to within the result's rounding, at
 * every CPU level, by born_matmul and born_linear. */
static bool half_layout_case(born_dtype dt, int64_t batch, int64_t m, int64_t k, int64_t n) {
    born_generator *gen = born_generator_new(5);
    born_tensor *a = born_to_dtype(born_randn(gen, BORN_F32, BORN_DIMS(batch, m, k)), dt);
    born_tensor *at = born_to_dtype(born_randn(gen, BORN_F32, BORN_DIMS(k, m)), dt);
    born_tensor *w = born_to_dtype(born_randn(gen, BORN_F32, BORN_DIMS(n, k)), dt);
    born_generator_free(gen);
    born_tensor *got[3] = {born_matmul(a, born_transpose(w, 0, 1)), born_linear(a, w, NULL),
                           born_matmul(born_transpose(at, 0, 1), born_transpose(w, 0, 1))};
    born_tensor *a64 = born_to_dtype(a, BORN_F64), *w64 = born_to_dtype(w, BORN_F64);
    born_tensor *want[3] = {born_matmul(a64, born_transpose(w64, 0, 1)), NULL,
                            born_matmul(born_transpose(born_to_dtype(at, BORN_F64), 0, 1),
                                        born_transpose(w64, 0, 1))};
    want[1] = want[0];
    /* where the CPU has no half product of its own (f16; bf16 below AVX-512), the bits of the f32
     * product of the converted operands, rounded, however the operands were converted */
    if (dt == BORN_F16 || cpu_get_level() < CPU_LEVEL_AVX512) {
        born_tensor *f = born_matmul(born_to_dtype(a, BORN_F32),
                                     born_transpose(born_to_dtype(w, BORN_F32), 0, 1));
        CHECK_MSG(test_same_bits(got[0], born_to_dtype(f, dt)),
                  "%s [%lld, %lld, %lld] x W^T at level %d: not the f32 product's bits",
                  born_dtype_name(dt), (long long)batch, (long long)m, (long long)k,
                  (int)cpu_get_level());
    }
    double tol = dt == BORN_BF16 ? 1.0 / 256 : 1.0 / 2048; /* one ulp of the result, relative */
    for (int v = 0; v < 3; v++) {
        CHECK_OK_TENSOR(got[v]);
        if (!got[v]) return false;
        born_tensor *g64 = born_to_dtype(got[v], BORN_F64);
        const double *pg = born_data_ptr(g64), *pw = born_data_ptr(want[v]);
        for (int64_t i = 0; i < born_tensor_numel(g64); i++)
            if (!(fabs(pg[i] - pw[i]) <= tol * fabs(pw[i]) + 1e-6)) {
                test_fail(__FILE__, __LINE__, "%s product %d of [%lld, %lld, %lld] x [%lld, %lld] at "
                          "level %d: element %lld is %.9g, the f64 product %.9g",
                          born_dtype_name(dt), v, (long long)batch, (long long)m, (long long)k,
                          (long long)k, (long long)n, (int)cpu_get_level(), (long long)i, pg[i],
                          pw[i]);
                return false;
            }
    }
    return true;
}

TEST(matmul_half_operands_in_any_layout) {
    cpu_level saved = cpu_get_level();
    static const int64_t shapes[][4] = {
        {1, 1, 300, 70}, {3, 5, 96, 130}, {2, 40, 70, 90}, {1, 7, 20000, 9}, {1, 2, 64, 2}};
    for (int level = saved; level >= CPU_LEVEL_SCALAR; level--) {
        cpu_set_level((cpu_level)level);
        if ((int)cpu_get_level() != level) continue;
        for (int d = 0; d < 2; d++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                if (!half_layout_case(d ? BORN_BF16 : BORN_F16, shapes[s][0], shapes[s][1],
                                      shapes[s][2], shapes[s][3]))
                    goto done;
    }
done:
    cpu_set_level(saved);
}

TEST(matmul_f16_rounds_once_from_f32) {
    /* 1 + 2^-11 + 2^-11 is exact in f32 and rounds to 1 + 2^-10 in f16; an f16 accumulator
     * would have rounded 1 + 2^-11 down to 1 twice */
    born_tensor *a = tensor_of(BORN_F16, BORN_DIMS(1, 3), (double[]){1, 1, 1});
    born_tensor *b =
        tensor_of(BORN_F16, BORN_DIMS(3, 1), (double[]){1, 0.00048828125, 0.00048828125});
    CHECK_TENSOR_NEAR(born_matmul(a, b), ((double[]){1.0009765625}), 1, 0, 0);
}

/* ---- linear and matmul_out ----------------------------------------------------------------- */

TEST(linear_values_and_shapes) {
    /* torch.nn.functional.linear(F((2,3),1), F((4,3),2), F((4,),3)) */
    const double want[8] = {0.1875, -1.0625, -2.3125, 2.625, 0.0625, -1.0, -2.0625, 2.375};
    born_tensor *w = FT(BORN_F32, 2, 4, 3), *bias = FT(BORN_F32, 3, 4);
    born_tensor *y = born_linear(FT(BORN_F32, 1, 2, 3), w, bias);
    CHECK_SHAPE(y, 2, 4);
    CHECK_TENSOR_NEAR(y, want, 8, 0, 0);
    /* 1-D input: linear(F((3,),1), W, b) */
    born_tensor *y1 = born_linear(FT(BORN_F32, 1, 3), w, bias);
    CHECK_SHAPE(y1, 4);
    CHECK_TENSOR_NEAR(y1, want, 4, 0, 0);
    /* 3-D input, no bias: linear(F((2,2,3),1), W) */
    born_tensor *y3 = born_linear(FT(BORN_F32, 1, 2, 2, 3), w, NULL);
    CHECK_SHAPE(y3, 2, 2, 4);
    CHECK_TENSOR_NEAR(
        y3,
        ((double[]){-0.8125, -1.0625, -1.3125, 1.875, -0.9375, -1.0, -1.0625, 1.625, -1.0625,
                    -0.9375, -0.8125, 1.375, -1.1875, -0.875, -0.5625, 1.125}),
        16, 0, 0);
    /* non-contiguous input (rows of a transposed, then sliced tensor) and weight (a transposed
     * [3, 4]) give what their contiguous copies give */
    born_tensor *xv =
        born_slice(born_transpose(FT(BORN_F32, 5, 2, 3, 4), 1, 2), 0, 0, 2, 1); /* [2, 4, 3] */
    born_tensor *wv = born_transpose(FT(BORN_F32, 6, 3, 5), 0, 1);              /* [5, 3] */
    born_tensor *bv = FT(BORN_F32, 7, 5);
    born_tensor *got = born_linear(xv, wv, bv);
    born_tensor *ref =
        born_add(born_matmul(born_contiguous(xv), born_transpose(born_contiguous(wv), 0, 1)), bv);
    CHECK_SHAPE(got, 2, 4, 5);
    CHECK(born_item(born_all(born_eq(got, ref), 0, NULL, false)) == 1);
    /* dtypes: f16 rounds back, f64 stays, ints work */
    born_tensor *h = born_linear(FT(BORN_F16, 1, 2, 3), FT(BORN_F16, 2, 4, 3), FT(BORN_F16, 3, 4));
    CHECK_EQ_INT(born_tensor_dtype(h), BORN_F16);
    CHECK_TENSOR_NEAR(h, want, 8, 0, 0);
    born_tensor *d = born_linear(FT(BORN_F64, 1, 2, 3), FT(BORN_F64, 2, 4, 3), NULL);
    CHECK_EQ_INT(born_tensor_dtype(d), BORN_F64);
    /* one node, not transpose + matmul + add */
    born_tensor *wr = born_requires_grad(FT(BORN_F32, 2, 4, 3), true);
    born_tensor *yr = born_linear(FT(BORN_F32, 1, 2, 3), wr, bias);
    CHECK(yr && born_grad_fn_name(yr) && strcmp(born_grad_fn_name(yr), "LinearBackward") == 0);
}

TEST(matmul_out_writes_into_any_layout) {
    born_tensor *a = FT(BORN_F32, 1, 2, 3), *b = FT(BORN_F32, 2, 3, 4);
    const double want[8] = {-1.25, 1.1875, -0.5, -1.5, -1.1875, 1.3125, -1.0, -1.25};
    born_tensor *out = born_full(BORN_F32, BORN_DIMS(2, 4), NAN);
    CHECK_OK(born_matmul_out(out, a, b));
    CHECK_TENSOR_NEAR(out, want, 8, 0, 0);
    /* a transposed view as out */
    born_tensor *base = born_zeros(BORN_F32, BORN_DIMS(4, 2));
    CHECK_OK(born_matmul_out(born_transpose(base, 0, 1), a, b));
    CHECK_TENSOR_NEAR(born_transpose(base, 0, 1), want, 8, 0, 0);
    /* out aliasing an input: computed as if from the old values */
    born_tensor *sq = tensor_of(BORN_F64, BORN_DIMS(2, 2), (double[]){1, 2, 3, 4});
    CHECK_OK(born_matmul_out(sq, sq, sq));
    CHECK_TENSOR_NEAR(sq, ((double[]){7, 10, 15, 22}), 4, 0, 0);
    /* f16 out */
    born_tensor *h = born_empty(BORN_F16, BORN_DIMS(2, 4));
    CHECK_OK(born_matmul_out(h, FT(BORN_F16, 1, 2, 3), FT(BORN_F16, 2, 3, 4)));
    CHECK_TENSOR_NEAR(h, want, 8, 0, 0);
    /* errors */
    CHECK(born_matmul_out(born_empty(BORN_F32, BORN_DIMS(4, 2)), a, b) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "out is [4, 2] f32 but the result is [2, 4] f32");
    CHECK(born_matmul_out(born_empty(BORN_F64, BORN_DIMS(2, 4)), a, b) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "[2, 4] f32");
    born_tensor *ar = born_requires_grad(FT(BORN_F32, 1, 2, 3), true);
    CHECK(born_matmul_out(out, ar, b) == BORN_ERR_AUTOGRAD);
    CHECK_ERROR(BORN_ERR_AUTOGRAD, "requires grad");
    born_no_grad_begin();
    CHECK_OK(born_matmul_out(out, ar, b)); /* fine without grad mode, and not recorded */
    born_no_grad_end();
    CHECK(!born_tensor_requires_grad(out));
}

/* bf16 operands into a bf16 out: the bits born_matmul returns (one rounding of the f32 sums), in
 * a contiguous out (written by the kernel directly where the backend rounds its own sums), a
 * transposed view and an out that aliases an operand. */
TEST(matmul_out_bf16_gives_matmuls_bits) {
    born_generator *gen = born_generator_new(7);
    born_tensor *a = born_to_dtype(born_randn(gen, BORN_F32, BORN_DIMS(70, 96)), BORN_BF16);
    born_tensor *b = born_to_dtype(born_randn(gen, BORN_F32, BORN_DIMS(96, 50)), BORN_BF16);
    born_tensor *want = born_matmul(a, b);
    born_tensor *out = born_full(BORN_BF16, BORN_DIMS(70, 50), NAN);
    CHECK_OK(born_matmul_out(out, a, b));
    CHECK(test_same_bits(out, want));
    born_tensor *base = born_zeros(BORN_BF16, BORN_DIMS(50, 70));
    CHECK_OK(born_matmul_out(born_transpose(base, 0, 1), a, b));
    CHECK(test_same_bits(born_contiguous(born_transpose(base, 0, 1)), want));
    born_tensor *sq = born_to_dtype(born_randn(gen, BORN_F32, BORN_DIMS(64, 64)), BORN_BF16);
    born_tensor *sq2 = born_matmul(sq, sq);
    CHECK_OK(born_matmul_out(sq, sq, sq));
    CHECK(test_same_bits(sq, sq2));
    born_generator_free(gen);
}

/* ---- errors --------------------------------------------------------------------------------- */

TEST(matmul_errors_name_the_op_shapes_and_dtypes) {
    born_tensor *a = born_ones(BORN_F32, BORN_DIMS(2, 3)),
                *b = born_ones(BORN_F32, BORN_DIMS(4, 5));
    CHECK(born_matmul(a, b) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_matmul: [2, 3] f32 @ [4, 5] f32: inner sizes 3 and 4 differ");
    CHECK(born_matmul(born_scalar(BORN_F32, 1), a) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "at least 1 dimension");
    CHECK(born_matmul(born_ones(BORN_F32, BORN_DIMS(2, 3, 4)),
                      born_ones(BORN_F32, BORN_DIMS(3, 4, 5))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "batch dimensions [2] and [3] cannot be broadcast");
    CHECK(born_matmul(born_ones(BORN_F32, BORN_DIMS(3)), born_ones(BORN_F32, BORN_DIMS(4))) ==
          NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "inner sizes 3 and 4 differ");
    CHECK(born_matmul(born_ones(BORN_BOOL, BORN_DIMS(2, 2)),
                      born_ones(BORN_BOOL, BORN_DIMS(2, 2))) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "[2, 2] bool @ [2, 2] bool: bool tensors are not supported");
    CHECK(born_matmul(born_ones(BORN_BOOL, BORN_DIMS(2, 2)),
                      born_ones(BORN_F32, BORN_DIMS(2, 2))) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "bool");
    CHECK(born_matmul(a, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_matmul: input 1 is NULL");
    /* mm and bmm accept only their ranks */
    CHECK(born_mm(born_ones(BORN_F32, BORN_DIMS(2, 2, 3)), born_ones(BORN_F32, BORN_DIMS(3, 2))) ==
          NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_mm: [2, 2, 3] f32 @ [3, 2] f32: expected two 2-D tensors");
    CHECK(born_mm(a, b) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_mm: [2, 3] f32 @ [4, 5] f32: inner sizes 3 and 4 differ");
    CHECK(born_bmm(a, a) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_bmm: [2, 3] f32 @ [2, 3] f32: expected two 3-D tensors");
    CHECK(born_bmm(born_ones(BORN_F32, BORN_DIMS(2, 2, 3)),
                   born_ones(BORN_F32, BORN_DIMS(1, 3, 2))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "batch sizes 2 and 1 differ");
    CHECK(born_outer(a, born_ones(BORN_F32, BORN_DIMS(3))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_outer: [2, 3] f32 and [3] f32: expected two 1-D tensors");
    /* linear */
    born_tensor *w = born_ones(BORN_F32, BORN_DIMS(4, 3));
    CHECK(born_linear(born_ones(BORN_F32, BORN_DIMS(2, 5)), w, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_linear: input [2, 5] f32, weight [4, 3] f32");
    CHECK(born_linear(a, w, born_ones(BORN_F32, BORN_DIMS(3))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "bias [3] f32");
    CHECK(born_linear(a, born_ones(BORN_F32, BORN_DIMS(3)), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "weight [3] f32");
    CHECK(born_linear(born_ones(BORN_BOOL, BORN_DIMS(2, 3)), born_ones(BORN_BOOL, BORN_DIMS(4, 3)),
                      NULL) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "bool");
    CHECK(born_linear(NULL, w, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_linear: input 0 is NULL");
}

/* ---- gradients ------------------------------------------------------------------------------ */

typedef enum { OP_MATMUL, OP_MM, OP_BMM, OP_LINEAR, OP_LINEAR_NOBIAS, OP_OUTER } grad_op;

static born_tensor *apply(born_tensor *const *in, void *ctx) {
    switch (*(const grad_op *)ctx) {
    case OP_MATMUL: return born_matmul(in[0], in[1]);
    case OP_MM: return born_mm(in[0], in[1]);
    case OP_BMM: return born_bmm(in[0], in[1]);
    case OP_LINEAR: return born_linear(in[0], in[1], in[2]);
    case OP_LINEAR_NOBIAS: return born_linear(in[0], in[1], NULL);
    case OP_OUTER: return born_outer(in[0], in[1]);
    }
    return NULL;
}

static born_tensor *leaf(born_generator *g, int ndim, const int64_t *shape) {
    return born_requires_grad(born_randn(g, BORN_F64, ndim, shape), true);
}

static void gradcheck_case(born_generator *g, grad_op op, int nd_a, const int64_t *sa, int nd_b,
                           const int64_t *sb, int line) {
    born_tensor *in[3] = {leaf(g, nd_a, sa), leaf(g, nd_b, sb), NULL};
    int n = 2;
    if (op == OP_LINEAR) {
        in[2] = leaf(g, 1, sb); /* bias [out] */
        n = 3;
    }
    born_status st = born_gradcheck(apply, n, in, &op, NULL);
    if (st != BORN_OK) {
        test_fail(__FILE__, line, "gradcheck failed: %s", born_last_error());
        born_clear_error();
    }
}

#define GRADCHECK(op, A, B) gradcheck_case(gen, op, BORN_DIMS A, BORN_DIMS B, __LINE__)

TEST(matmul_gradients_for_every_shape_rule) {
    born_generator *gen = born_generator_new(7);
    GRADCHECK(OP_MATMUL, (3), (3));
    GRADCHECK(OP_MATMUL, (2, 3), (3, 4));
    GRADCHECK(OP_MATMUL, (3), (3, 4));
    GRADCHECK(OP_MATMUL, (2, 3), (3));
    GRADCHECK(OP_MATMUL, (2, 2, 3), (3));
    GRADCHECK(OP_MATMUL, (3), (2, 3, 4));
    GRADCHECK(OP_MATMUL, (2, 1, 3, 4), (5, 4, 2));
    GRADCHECK(OP_MATMUL, (2, 3, 4), (4, 2));
    GRADCHECK(OP_MATMUL, (3, 4), (2, 4, 2));
    GRADCHECK(OP_MATMUL, (2, 2, 3), (2, 3, 2));
    GRADCHECK(OP_MM, (2, 3), (3, 4));
    GRADCHECK(OP_BMM, (2, 2, 3), (2, 3, 2));
    GRADCHECK(OP_OUTER, (3), (4));
    born_generator_free(gen);
}

TEST(linear_gradients_with_and_without_bias) {
    born_generator *gen = born_generator_new(11);
    /* x [..., in], weight [out, in]; the bias takes the weight's first dimension */
    GRADCHECK(OP_LINEAR, (2, 3), (4, 3));
    GRADCHECK(OP_LINEAR, (2, 2, 3), (4, 3));
    GRADCHECK(OP_LINEAR, (3), (4, 3));
    GRADCHECK(OP_LINEAR_NOBIAS, (2, 3), (4, 3));
    GRADCHECK(OP_LINEAR_NOBIAS, (2, 1, 3), (2, 3));
    born_generator_free(gen);
}

TEST(matmul_gradient_values_and_dtypes) {
    /* d/da sum(a @ b) = ones @ b^T, d/db = a^T @ ones; with a f32 and b f64 each gradient keeps
     * its input's dtype */
    born_tensor *a =
        born_requires_grad(tensor_of(BORN_F32, BORN_DIMS(2, 2), (double[]){1, 2, 3, 4}), true);
    born_tensor *b =
        born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(2, 2), (double[]){5, 6, 7, 8}), true);
    born_tensor *y = born_matmul(a, b);
    CHECK(strcmp(born_grad_fn_name(y), "MatmulBackward") == 0);
    CHECK_OK(born_backward(born_sum(y, 0, NULL, false)));
    CHECK_EQ_INT(born_tensor_dtype(born_grad(a)), BORN_F32);
    CHECK_TENSOR_NEAR(born_grad(a), ((double[]){11, 15, 11, 15}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_grad(b), ((double[]){4, 4, 6, 6}), 4, 0, 0);
    /* linear: grad_b sums over every leading dimension */
    born_tensor *w = born_requires_grad(born_ones(BORN_F32, BORN_DIMS(3, 2)), true);
    born_tensor *bias = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(3)), true);
    born_tensor *x = born_ones(BORN_F32, BORN_DIMS(4, 5, 2));
    CHECK_OK(born_backward(born_sum(born_linear(x, w, bias), 0, NULL, false)));
    CHECK_TENSOR_NEAR(born_grad(bias), ((double[]){20, 20, 20}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_grad(w), ((double[]){20, 20, 20, 20, 20, 20}), 6, 0, 0);
}

/* ---- threads -------------------------------------------------------------------------------- */

TEST(matmul_is_bit_identical_with_1_and_2_threads) {
    int saved = born_get_num_threads();
    born_generator *gen = born_generator_new(3);
    born_tensor *a = born_randn(gen, BORN_F32, BORN_DIMS(300, 200));
    born_tensor *b = born_randn(gen, BORN_F32, BORN_DIMS(200, 170));
    born_tensor *ba = born_randn(gen, BORN_F32, BORN_DIMS(16, 40, 50));
    born_tensor *v = born_randn(gen, BORN_F32, BORN_DIMS(200));
    born_generator_free(gen);
    born_tensor *r[2][4];
    for (int t = 0; t < 2; t++) {
        CHECK_OK(born_set_num_threads(t + 1));
        r[t][0] = born_matmul(a, b);
        r[t][1] = born_matmul(born_transpose(b, 0, 1), born_transpose(a, 0, 1));
        r[t][2] = born_matmul(ba, born_transpose(ba, 1, 2));
        r[t][3] = born_matmul(a, v);
    }
    CHECK_OK(born_set_num_threads(saved));
    for (int i = 0; i < 4; i++) {
        int64_t n = born_tensor_numel(r[0][i]);
        CHECK_MSG(n == born_tensor_numel(r[1][i]) &&
                      memcmp(born_data_f32(r[0][i]), born_data_f32(r[1][i]), (size_t)n * 4) == 0,
                  "product %d differs between 1 and 2 threads", i);
    }
}
