/* Reductions: dims and keepdim, dtypes, empty inputs, NaN and infinities, softmax, cumsum. */
#include "test.h"

TEST(sum_dims_keepdim_and_dtypes) {
    born_tensor *x = born_view(born_arange(0, 24, 1, BORN_I32), BORN_DIMS(2, 3, 4));
    born_tensor *s = born_sum(x, BORN_DIMS(0, 2), false);
    CHECK_SHAPE(s, 3);
    CHECK_EQ_INT(born_tensor_dtype(s), BORN_I64);
    CHECK_TENSOR_NEAR(s, ((double[]){60, 92, 124}), 3, 0, 0);
    CHECK_SHAPE(born_sum(x, BORN_DIMS(-1), true), 2, 3, 1);
    CHECK_TENSOR_NEAR(born_sum(x, 0, NULL, false), ((double[]){276}), 1, 0, 0);
    CHECK_TENSOR_NEAR(born_prod(born_narrow(born_view(x, BORN_DIMS(24)), 0, 1, 5), 0, NULL, false), ((double[]){120}), 1, 0, 0);
    CHECK(born_sum(x, BORN_DIMS(1, 1), false) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "twice");
    CHECK(born_sum(x, BORN_DIMS(3), false) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "out of range");
    CHECK(born_mean(x, 0, NULL, false) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "floating");
    born_tensor *b = tensor_of(BORN_BOOL, BORN_DIMS(4), (double[]){1, 0, 1, 1});
    CHECK_TENSOR_NEAR(born_sum(b, 0, NULL, false), ((double[]){3}), 1, 0, 0);
    CHECK_TENSOR_NEAR(born_any(b, 0, NULL, false), ((double[]){1}), 1, 0, 0);
    CHECK_TENSOR_NEAR(born_all(b, 0, NULL, false), ((double[]){0}), 1, 0, 0);
    /* a transposed (non-contiguous) input */
    born_tensor *m = tensor_of(BORN_F64, BORN_DIMS(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    CHECK_TENSOR_NEAR(born_sum(born_transpose(m, 0, 1), BORN_DIMS(1), false), ((double[]){5, 7, 9}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_mean(m, BORN_DIMS(0), false), ((double[]){2.5, 3.5, 4.5}), 3, 0, 0);
}

TEST(empty_and_extreme_reductions) {
    born_tensor *e = born_zeros(BORN_F32, BORN_DIMS(0, 3));
    CHECK_TENSOR_NEAR(born_sum(e, BORN_DIMS(0), false), ((double[]){0, 0, 0}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_prod(e, BORN_DIMS(0), false), ((double[]){1, 1, 1}), 3, 0, 0);
    CHECK_SHAPE(born_sum(e, BORN_DIMS(1), false), 0);
    CHECK(born_max(e, BORN_DIMS(0), false) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "size 0");
    CHECK(isnan(born_item(born_mean(e, 0, NULL, false))));
    born_tensor *x = tensor_of(BORN_F32, BORN_DIMS(5), (double[]){1, NAN, 7, -2, 7});
    CHECK(isnan(born_item(born_max(x, 0, NULL, false))));
    CHECK_EQ_INT(born_item(born_argmax_all(x)), 1); /* NaN counts as the maximum */
    born_tensor *y = tensor_of(BORN_F32, BORN_DIMS(5), (double[]){1, 3, 7, -2, 7});
    CHECK_EQ_INT(born_item(born_argmax_all(y)), 2); /* first of the ties */
    CHECK_EQ_INT(born_item(born_argmin_all(y)), 3);
    born_tensor *m = tensor_of(BORN_I8, BORN_DIMS(2, 3), (double[]){4, -9, 4, 0, 100, -100});
    CHECK_TENSOR_NEAR(born_argmax(m, 1, false), ((double[]){0, 1}), 2, 0, 0);
    CHECK_SHAPE(born_argmin(m, 0, true), 1, 3);
    CHECK_TENSOR_NEAR(born_max(m, BORN_DIMS(1), false), ((double[]){4, 100}), 2, 0, 0);
    CHECK_TENSOR_NEAR(born_min(m, BORN_DIMS(0), false), ((double[]){0, -9, -100}), 3, 0, 0);
}

TEST(var_std_logsumexp) {
    born_tensor *x = tensor_of(BORN_F64, BORN_DIMS(2, 4), (double[]){1, 2, 3, 4, 2, 4, 6, 8});
    CHECK_TENSOR_NEAR(born_var(x, BORN_DIMS(1), 1, false), ((double[]){5.0 / 3, 20.0 / 3}), 2, 1e-15, 0);
    CHECK_TENSOR_NEAR(born_var(x, BORN_DIMS(1), 0, false), ((double[]){1.25, 5}), 2, 1e-15, 0);
    CHECK_TENSOR_NEAR(born_std(x, 0, NULL, 1, false), ((double[]){2.3145502494313788}), 1, 1e-15, 0); /* torch.std */
    born_tensor *big = tensor_of(BORN_F64, BORN_DIMS(3), (double[]){1000, 1000, -INFINITY});
    CHECK_TENSOR_NEAR(born_logsumexp(big, 0, NULL, false), ((double[]){1000 + M_LN2}), 1, 1e-15, 0);
    born_tensor *ninf = tensor_of(BORN_F64, BORN_DIMS(2), (double[]){-INFINITY, -INFINITY});
    CHECK_TENSOR_NEAR(born_logsumexp(ninf, 0, NULL, false), ((double[]){-INFINITY}), 1, 0, 0);
    CHECK_SHAPE(born_logsumexp(x, BORN_DIMS(0), true), 1, 4);
}

TEST(softmax_is_stable) {
    born_tensor *x = tensor_of(BORN_F32, BORN_DIMS(2, 3), (double[]){1000, 1001, 1002, -5, 0, -INFINITY});
    born_tensor *s = born_softmax(x, 1);
    double e0 = exp(-2.0), e1 = exp(-1.0), z = e0 + e1 + 1;
    double f0 = exp(-5.0), zf = f0 + 1;
    CHECK_TENSOR_NEAR(s, ((double[]){e0 / z, e1 / z, 1 / z, f0 / zf, 1 / zf, 0}), 6, 1e-6, 1e-7);
    CHECK_TENSOR_NEAR(born_log_softmax(x, -1), ((double[]){-2 - log(z), -1 - log(z), -log(z), -5 - log(zf), -log(zf), -INFINITY}), 6, 1e-6, 1e-6);
    CHECK_TENSOR_NEAR(born_sum(born_softmax(born_transpose(x, 0, 1), 0), BORN_DIMS(0), false), ((double[]){1, 1}), 2, 1e-6, 0);
    CHECK_EQ_INT(born_tensor_dtype(born_softmax(born_ones(BORN_I32, BORN_DIMS(3)), 0)), BORN_F32);
}

TEST(cumsum_values_and_dtypes) {
    born_tensor *x = tensor_of(BORN_I32, BORN_DIMS(2, 3), (double[]){1, 2, 3, 4, 5, 6});
    born_tensor *c = born_cumsum(x, 1);
    CHECK_EQ_INT(born_tensor_dtype(c), BORN_I64);
    CHECK_TENSOR_NEAR(c, ((double[]){1, 3, 6, 4, 9, 15}), 6, 0, 0);
    CHECK_TENSOR_NEAR(born_cumsum(born_to_dtype(x, BORN_F32), 0), ((double[]){1, 2, 3, 5, 7, 9}), 6, 0, 0);
}

TEST(sum_to_shape_undoes_broadcasting) {
    born_tensor *g = born_ones(BORN_F32, BORN_DIMS(2, 3, 4));
    CHECK_TENSOR_NEAR(born_sum_to_shape(g, BORN_DIMS(3, 1)), ((double[]){8, 8, 8}), 3, 0, 0);
    CHECK_SHAPE(born_sum_to_shape(g, BORN_DIMS(3, 1)), 3, 1);
    CHECK(born_sum_to_shape(g, BORN_DIMS(2, 4)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "does not broadcast");
}
