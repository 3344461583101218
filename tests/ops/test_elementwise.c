/* Elementwise ops: result dtypes (PyTorch's promotion), scalar semantics, integer edge cases,
 * NaN handling, in-place and _out forms. Values here are derived by hand; the broad comparison
 * with PyTorch lives in test_fixtures.c. */
#include <string.h>

#include "test.h"

TEST(result_dtypes_follow_torch) {
    born_tensor *i32 = born_ones(BORN_I32, BORN_DIMS(2));
    born_tensor *u8 = born_ones(BORN_U8, BORN_DIMS(2));
    born_tensor *i8 = born_ones(BORN_I8, BORN_DIMS(2));
    born_tensor *f16 = born_ones(BORN_F16, BORN_DIMS(2));
    born_tensor *bf16 = born_ones(BORN_BF16, BORN_DIMS(2));
    born_tensor *b = born_ones(BORN_BOOL, BORN_DIMS(2));
    CHECK_EQ_INT(born_tensor_dtype(born_add(u8, i8)), BORN_I16);
    CHECK_EQ_INT(born_tensor_dtype(born_add(i32, f16)), BORN_F16);
    CHECK_EQ_INT(born_tensor_dtype(born_add(f16, bf16)), BORN_F32);
    CHECK_EQ_INT(born_tensor_dtype(born_add(b, b)), BORN_BOOL);
    CHECK_EQ_INT(born_tensor_dtype(born_div(i32, i32)), BORN_F32); /* true division */
    CHECK_EQ_INT(born_tensor_dtype(born_floor_divide(i32, i32)), BORN_I32);
    CHECK_EQ_INT(born_tensor_dtype(born_lt(i32, f16)), BORN_BOOL);
    CHECK_EQ_INT(born_tensor_dtype(born_exp(i32)), BORN_F32);
    CHECK_EQ_INT(born_tensor_dtype(born_neg(i8)), BORN_I8);
    /* a 0-dim tensor does not raise the dtype within a category... */
    CHECK_EQ_INT(born_tensor_dtype(born_add(i8, born_scalar(BORN_I64, 1000))), BORN_I8);
    CHECK_EQ_INT(born_tensor_dtype(born_add(f16, born_scalar(BORN_F64, 1))), BORN_F16);
    /* ...but does raise the category */
    CHECK_EQ_INT(born_tensor_dtype(born_add(i32, born_scalar(BORN_F64, 1))), BORN_F64);
    /* a double scalar is a Python float */
    CHECK_EQ_INT(born_tensor_dtype(born_mul_scalar(i32, 2.0)), BORN_F32);
    CHECK_EQ_INT(born_tensor_dtype(born_mul_scalar(bf16, 2.0)), BORN_BF16);
    CHECK(born_sub(b, b) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "bool");
    CHECK(born_neg(b) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "bool");
}

TEST(integer_division_semantics) {
    born_tensor *a = tensor_of(BORN_I32, BORN_DIMS(4), (double[]){7, -7, 7, -7});
    born_tensor *b = tensor_of(BORN_I32, BORN_DIMS(4), (double[]){2, 2, -2, -2});
    CHECK_TENSOR_NEAR(born_floor_divide(a, b), ((double[]){3, -4, -4, 3}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_remainder(a, b), ((double[]){1, 1, -1, -1}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_fmod(a, b), ((double[]){1, -1, 1, -1}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_div(a, b), ((double[]){3.5, -3.5, -3.5, 3.5}), 4, 0, 0);
    born_tensor *zero = born_zeros(BORN_I32, BORN_DIMS(4));
    CHECK(born_floor_divide(a, zero) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "division by zero");
    CHECK(born_remainder(a, zero) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "division by zero");
    /* INT_MIN / -1 wraps instead of trapping */
    born_tensor *m = tensor_of(BORN_I32, BORN_DIMS(1), (double[]){-2147483648.0});
    born_tensor *minus1 = tensor_of(BORN_I32, BORN_DIMS(1), (double[]){-1});
    CHECK_TENSOR_NEAR(born_floor_divide(m, minus1), ((double[]){-2147483648.0}), 1, 0, 0);
    CHECK_TENSOR_NEAR(born_pow(tensor_of(BORN_I64, BORN_DIMS(2), (double[]){3, -2}),
                               tensor_of(BORN_I64, BORN_DIMS(2), (double[]){4, 3})), ((double[]){81, -8}), 2, 0, 0);
    CHECK(born_pow(a, tensor_of(BORN_I32, BORN_DIMS(1), (double[]){-1})) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "negative integer powers");
    /* float floor division is exact near integers, like Python */
    born_tensor *fa = tensor_of(BORN_F64, BORN_DIMS(3), (double[]){7.5, -7.5, 1.0});
    born_tensor *fb = tensor_of(BORN_F64, BORN_DIMS(3), (double[]){2, 2, 0.1});
    CHECK_TENSOR_NEAR(born_floor_divide(fa, fb), ((double[]){3, -4, 9}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_remainder(fa, fb), ((double[]){1.5, 0.5, 0.09999999999999995}), 3, 0, 1e-15);
}

TEST(integer_arithmetic_wraps) {
    born_tensor *a = tensor_of(BORN_I8, BORN_DIMS(3), (double[]){127, -128, 100});
    born_tensor *one = born_scalar(BORN_I8, 1);
    CHECK_TENSOR_NEAR(born_add(a, one), ((double[]){-128, -127, 101}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_neg(a), ((double[]){-127, -128, -100}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_abs(a), ((double[]){127, -128, 100}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_mul(a, a), ((double[]){1, 0, 16}), 3, 0, 0);
    born_tensor *u = tensor_of(BORN_U8, BORN_DIMS(2), (double[]){0, 255});
    CHECK_TENSOR_NEAR(born_sub(u, born_scalar(BORN_U8, 1)), ((double[]){255, 254}), 2, 0, 0);
}

TEST(nan_and_inf_handling) {
    born_tensor *x = tensor_of(BORN_F32, BORN_DIMS(4), (double[]){NAN, 1, -INFINITY, 2});
    born_tensor *y = tensor_of(BORN_F32, BORN_DIMS(4), (double[]){0, NAN, 5, 1});
    CHECK_TENSOR_NEAR(born_maximum(x, y), ((double[]){NAN, NAN, 5, 2}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_minimum(x, y), ((double[]){NAN, NAN, -INFINITY, 1}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_eq(x, x), ((double[]){0, 1, 1, 1}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_ne(x, x), ((double[]){1, 0, 0, 0}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_isnan(x), ((double[]){1, 0, 0, 0}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_isinf(x), ((double[]){0, 0, 1, 0}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_isfinite(x), ((double[]){0, 1, 0, 1}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_relu(x), ((double[]){NAN, 1, 0, 2}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_clamp(x, -1, 1.5), ((double[]){NAN, 1, -1, 1.5}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_sigmoid(tensor_of(BORN_F32, BORN_DIMS(3), (double[]){-1000, 0, 1000})),
                      ((double[]){0, 0.5, 1}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_isnan(born_ones(BORN_I32, BORN_DIMS(2))), ((double[]){0, 0}), 2, 0, 0);
    CHECK(born_clamp(x, 2, 1) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "greater than max");
}

TEST(half_precision_ops_round_once) {
    /* 1 + 0.75 ulp rounds up to 1 + 1 ulp (2^-10); 1 + 0.25 ulp rounds down to 1 */
    born_tensor *a = tensor_of(BORN_F16, BORN_DIMS(2), (double[]){1, 1});
    born_tensor *b = tensor_of(BORN_F16, BORN_DIMS(2), (double[]){0.000732421875, 0.000244140625});
    CHECK_TENSOR_NEAR(born_add(a, b), ((double[]){1.0009765625, 1.0}), 2, 0, 0);
    /* exp(3) = 20.0855 lies past the midpoint of bf16's 20 and 20.125 */
    born_tensor *c = tensor_of(BORN_BF16, BORN_DIMS(2), (double[]){3, -0.5});
    CHECK_TENSOR_NEAR(born_exp(c), ((double[]){20.125, 0.60546875}), 2, 0, 0);
    CHECK_EQ_INT(born_tensor_dtype(born_exp(c)), BORN_BF16);
}

TEST(logical_ops_treat_nonzero_as_true) {
    born_tensor *a = tensor_of(BORN_F32, BORN_DIMS(4), (double[]){0, 2, NAN, -1});
    born_tensor *b = tensor_of(BORN_I32, BORN_DIMS(4), (double[]){0, 0, 3, 1});
    CHECK_TENSOR_NEAR(born_logical_and(a, b), ((double[]){0, 0, 1, 1}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_logical_or(a, b), ((double[]){0, 1, 1, 1}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_logical_xor(a, b), ((double[]){0, 1, 0, 0}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_logical_not(a), ((double[]){1, 0, 0, 0}), 4, 0, 0);
}

TEST(where_and_masked_fill_broadcast) {
    born_tensor *cond = tensor_of(BORN_BOOL, BORN_DIMS(2, 1), (double[]){1, 0});
    born_tensor *a = tensor_of(BORN_I32, BORN_DIMS(3), (double[]){1, 2, 3});
    born_tensor *b = born_scalar(BORN_F32, -1);
    born_tensor *w = born_where(cond, a, b);
    CHECK_SHAPE(w, 2, 3);
    CHECK_EQ_INT(born_tensor_dtype(w), BORN_F32);
    CHECK_TENSOR_NEAR(w, ((double[]){1, 2, 3, -1, -1, -1}), 6, 0, 0);
    born_tensor *m = born_masked_fill(born_zeros(BORN_I64, BORN_DIMS(2, 3)), cond, 7);
    CHECK_TENSOR_NEAR(m, ((double[]){7, 7, 7, 0, 0, 0}), 6, 0, 0);
    CHECK(born_where(a, a, a) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "not bool");
    CHECK(born_masked_fill(a, born_ones(BORN_BOOL, BORN_DIMS(2, 3)), 1) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "does not broadcast");
}

TEST(out_and_inplace_forms) {
    born_tensor *x = born_arange(0, 6, 1, BORN_F32);
    born_tensor *out = born_empty(BORN_F32, BORN_DIMS(6));
    CHECK_OK(born_binary_out(BORN_BINARY_MUL, out, x, x));
    CHECK_TENSOR_NEAR(out, ((double[]){0, 1, 4, 9, 16, 25}), 6, 0, 0);
    CHECK_OK(born_unary_out(BORN_UNARY_NEG, x, x, NULL)); /* out aliases the input */
    CHECK_TENSOR_NEAR(x, ((double[]){0, -1, -2, -3, -4, -5}), 6, 0, 0);
    /* out overlapping the input in another layout: the input is read before it is overwritten */
    born_tensor *y = born_arange(0, 4, 1, BORN_F32);
    born_tensor *first3 = born_narrow(y, 0, 0, 3), *last3 = born_narrow(y, 0, 1, 3);
    CHECK_OK(born_binary_out(BORN_BINARY_ADD, last3, first3, first3));
    CHECK_TENSOR_NEAR(y, ((double[]){0, 0, 2, 4}), 4, 0, 0);
    CHECK_OK(born_copy_(born_narrow(y, 0, 0, 3), born_narrow(y, 0, 1, 3))); /* overlapping copy */
    CHECK_TENSOR_NEAR(y, ((double[]){0, 2, 4, 4}), 4, 0, 0);
    CHECK(born_binary_out(BORN_BINARY_ADD, born_empty(BORN_I32, BORN_DIMS(6)), out, out) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "out is");
    CHECK(born_unary_out(BORN_UNARY_EXP, born_empty(BORN_F32, BORN_DIMS(5)), out, NULL) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "out is");
    born_tensor *z = born_zeros(BORN_F64, BORN_DIMS(2, 2));
    CHECK_OK(born_copy_(z, tensor_of(BORN_I32, BORN_DIMS(2), (double[]){3, 4}))); /* broadcast + cast */
    CHECK_TENSOR_NEAR(z, ((double[]){3, 4, 3, 4}), 4, 0, 0);
    CHECK_OK(born_fill_(born_select(z, 0, 1), 9));
    CHECK_TENSOR_NEAR(z, ((double[]){3, 4, 9, 9}), 4, 0, 0);
}

TEST(large_elementwise_is_threaded_and_exact) {
    int before = born_get_num_threads();
    born_generator *g = born_generator_new(11);
    born_tensor *a = born_randn(g, BORN_F32, BORN_DIMS(1000, 513));
    born_tensor *b = born_randn(g, BORN_F32, BORN_DIMS(513));
    born_set_num_threads(1);
    born_tensor *r1 = born_tanh(born_add(born_transpose(born_view(a, BORN_DIMS(513, 1000)), 0, 1), born_slice(b, 0, 0, 513, 1)));
    born_set_num_threads(2);
    born_tensor *r2 = born_tanh(born_add(born_transpose(born_view(a, BORN_DIMS(513, 1000)), 0, 1), born_slice(b, 0, 0, 513, 1)));
    born_set_num_threads(before);
    CHECK(r1 && r2 && memcmp(born_data_f32(r1), born_data_f32(r2), 1000 * 513 * 4) == 0);
    /* spot-check one element against scalar math */
    double v1, av, bv;
    born_get(r1, (int64_t[]){17, 400}, &v1);
    born_get(born_view(a, BORN_DIMS(513, 1000)), (int64_t[]){400, 17}, &av);
    born_get(b, (int64_t[]){400}, &bv);
    CHECK_NEAR(v1, tanh((float)(av + bv)), 1e-6);
    born_generator_free(g);
}
