/* Views share storage and follow PyTorch's rules; copies happen only where documented. */
#include "test.h"

TEST(view_shares_storage_and_infers_sizes) {
    born_tensor *x = born_arange(0, 12, 1, BORN_F32);
    born_tensor *v = born_view(x, BORN_DIMS(3, -1));
    CHECK_SHAPE(v, 3, 4);
    CHECK(born_tensor_shares_storage(x, v));
    CHECK_OK(born_set(v, (int64_t[]){1, 1}, 100));
    CHECK_NEAR(born_item(born_select(x, 0, 5)), 100, 0);
    CHECK(born_view(x, BORN_DIMS(5, -1)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "cannot view");
    CHECK(born_view(x, BORN_DIMS(-1, -1)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "only one");
    /* a transposed tensor cannot be flattened without a copy: view fails, reshape copies */
    born_tensor *t = born_transpose(v, 0, 1);
    CHECK(born_view(t, BORN_DIMS(12)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_reshape");
    born_tensor *r = born_reshape(t, BORN_DIMS(12));
    CHECK(!born_tensor_shares_storage(r, x));
    CHECK_TENSOR_NEAR(r, ((double[]){0, 4, 8, 1, 100, 9, 2, 6, 10, 3, 7, 11}), 12, 0, 0);
    /* but splitting a dim of a transposed tensor is a view */
    born_tensor *s = born_view(t, BORN_DIMS(2, 2, 3));
    CHECK(s && born_tensor_shares_storage(s, x));
    CHECK_TENSOR_NEAR(born_contiguous(s), ((double[]){0, 4, 8, 1, 100, 9, 2, 6, 10, 3, 7, 11}), 12, 0, 0);
}

TEST(slicing_follows_python) {
    born_tensor *x = born_arange(0, 10, 1, BORN_I64);
    CHECK_TENSOR_NEAR(born_slice(x, 0, 1, 8, 3), ((double[]){1, 4, 7}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_slice(x, 0, -3, 100, 1), ((double[]){7, 8, 9}), 3, 0, 0);
    CHECK_SHAPE(born_slice(x, 0, 8, 2, 1), 0);
    CHECK(born_slice(x, 0, 0, 5, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "step");
    CHECK_TENSOR_NEAR(born_narrow(x, 0, -4, 2), ((double[]){6, 7}), 2, 0, 0);
    CHECK(born_narrow(x, 0, 8, 3) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "do not fit");
    born_tensor *m = born_view(x, BORN_DIMS(2, 5));
    CHECK_TENSOR_NEAR(born_select(m, 1, -1), ((double[]){4, 9}), 2, 0, 0);
    CHECK(born_select(m, 0, 2) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "out of range");
    CHECK(born_slice(m, 2, 0, 1, 1) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension 2 out of range");
}

TEST(expand_squeeze_unsqueeze_flatten_permute) {
    born_tensor *x = tensor_of(BORN_F32, BORN_DIMS(3, 1), (double[]){1, 2, 3});
    born_tensor *e = born_expand(x, BORN_DIMS(2, -1, 4));
    CHECK_SHAPE(e, 2, 3, 4);
    CHECK_EQ_INT(born_tensor_strides(e)[0], 0);
    CHECK_EQ_INT(born_tensor_strides(e)[2], 0);
    CHECK(born_expand(x, BORN_DIMS(4, 4)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "cannot be expanded");
    CHECK_SHAPE(born_squeeze(x, 1), 3);
    CHECK_SHAPE(born_squeeze(x, 0), 3, 1); /* not size 1: unchanged */
    CHECK_SHAPE(born_squeeze_all(born_view(x, BORN_DIMS(1, 3, 1))), 3);
    CHECK_SHAPE(born_unsqueeze(x, -1), 3, 1, 1);
    CHECK_SHAPE(born_unsqueeze(x, 0), 1, 3, 1);
    CHECK_SHAPE(born_flatten(born_zeros(BORN_F32, BORN_DIMS(2, 3, 4, 5)), 1, 2), 2, 12, 5);
    CHECK_SHAPE(born_flatten(born_scalar(BORN_F32, 1), 0, -1), 1);
    born_tensor *p = born_permute(born_zeros(BORN_F32, BORN_DIMS(2, 3, 4)), BORN_DIMS(2, 0, 1));
    CHECK_SHAPE(p, 4, 2, 3);
    CHECK(born_permute(p, BORN_DIMS(0, 0, 1)) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "permutation");
    CHECK_SHAPE(born_transpose(p, -1, 0), 3, 2, 4);
}

TEST(contiguous_clone_detach_and_devices) {
    born_tensor *x = born_arange(0, 6, 1, BORN_F32);
    born_tensor *c = born_contiguous(x);
    CHECK(born_tensor_shares_storage(c, x)); /* already contiguous: no copy */
    born_tensor *k = born_clone(x);
    CHECK(!born_tensor_shares_storage(k, x));
    born_tensor *same = born_to_dtype(x, BORN_F32);
    CHECK(born_tensor_shares_storage(same, x));
    CHECK(born_tensor_shares_storage(born_detach(x), x));
    CHECK(born_tensor_shares_storage(born_to(x, BORN_CPU), x));
    if (born_device_count(BORN_DEVICE_CUDA) == 0) {
        CHECK(born_to(x, BORN_CUDA(0)) == NULL);
        CHECK_ERROR(BORN_ERR_DEVICE, "no CUDA device");
    }
    CHECK(born_to(x, BORN_CUDA(-3)) == NULL);
    CHECK_ERROR(BORN_ERR_DEVICE, "cuda:-3");
}
