/* Tensor handles: creation, properties, element access, borrowing, errors and lifetime. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

TEST(create_and_describe) {
    born_tensor *t = born_zeros(BORN_F32, BORN_DIMS(2, 3));
    CHECK_OK_TENSOR(t);
    CHECK_EQ_INT(born_tensor_ndim(t), 2);
    CHECK_EQ_INT(born_tensor_numel(t), 6);
    CHECK_EQ_INT(born_tensor_size(t, -1), 3);
    CHECK_EQ_INT(born_tensor_strides(t)[0], 3);
    CHECK(born_tensor_is_contiguous(t));
    char buf[64];
    CHECK(strcmp(born_tensor_describe(t, buf, sizeof buf), "[2, 3] f32") == 0);
    born_tensor *s = born_scalar(BORN_I32, 7);
    CHECK_EQ_INT(born_tensor_ndim(s), 0);
    CHECK_EQ_INT(born_tensor_numel(s), 1);
    CHECK_NEAR(born_item(s), 7, 0);
}

TEST(full_ones_arange_linspace_eye) {
    born_tensor *f = born_full(BORN_I8, BORN_DIMS(3), 300.0); /* saturates */
    CHECK_TENSOR_NEAR(f, ((double[]){127, 127, 127}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_arange(0, 5, 1, BORN_I64), ((double[]){0, 1, 2, 3, 4}), 5, 0, 0);
    CHECK_TENSOR_NEAR(born_arange(1, 0, -0.25, BORN_F32), ((double[]){1, 0.75, 0.5, 0.25}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_linspace(0, 1, 5, BORN_F64), ((double[]){0, 0.25, 0.5, 0.75, 1}), 5, 0, 0);
    CHECK_TENSOR_NEAR(born_eye(2, 3, BORN_F32), ((double[]){1, 0, 0, 0, 1, 0}), 6, 0, 0);
    CHECK_SHAPE(born_linspace(0, 1, 0, BORN_F32), 0);
    CHECK(born_arange(0, 1, 0, BORN_F32) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "step");
}

TEST(from_data_checks_length) {
    float v[6] = {1, 2, 3, 4, 5, 6};
    born_tensor *t = born_from_data(BORN_F32, BORN_DIMS(2, 3), v, sizeof v);
    CHECK_TENSOR_NEAR(t, ((double[]){1, 2, 3, 4, 5, 6}), 6, 0, 0);
    CHECK(born_from_data(BORN_F32, BORN_DIMS(2, 2), v, sizeof v) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "24 bytes");
    CHECK(born_zeros(BORN_F32, BORN_DIMS(2, -1)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "negative size");
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(born_zeros(BORN_F32, 9, nine) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "9 dimensions");
    CHECK(born_zeros(BORN_F32, BORN_DIMS(INT64_MAX / 2, 4)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "too many");
    CHECK(born_zeros(BORN_F32, BORN_DIMS(0, INT64_MAX / 4, INT64_MAX / 4)) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "too many");
}

static int released;
static void release_cb(void *data, void *ctx) {
    (void)data;
    released += *(int *)ctx;
}

TEST(borrow_calls_release_once_when_last_view_dies) {
    released = 0;
    int amount = 1;
    double *buf = malloc(4 * sizeof(double));
    for (int i = 0; i < 4; i++) buf[i] = i;
    born_scope_begin();
    born_tensor *t = born_from_buffer(BORN_F64, BORN_DIMS(4), buf, 4 * sizeof(double), release_cb, &amount);
    born_tensor *v = born_keep(born_slice(t, 0, 1, 3, 1));
    born_scope_end();
    CHECK_EQ_INT(released, 0); /* the kept slice still uses the buffer */
    buf[1] = 42;                /* writes by the owner are seen through the view */
    born_scope_begin();
    CHECK_NEAR(born_item(born_select(v, 0, 0)), 42, 0);
    born_scope_end();
    born_free(v);
    CHECK_EQ_INT(released, 1);
    CHECK(born_from_buffer(BORN_F64, BORN_DIMS(3), (char *)buf + 1, 24, NULL, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "aligned");
    free(buf);
}

TEST(element_access) {
    born_tensor *t = born_zeros(BORN_F32, BORN_DIMS(2, 3));
    CHECK_OK(born_set(t, (int64_t[]){1, -1}, 5.5));
    double v;
    CHECK_OK(born_get(t, (int64_t[]){1, 2}, &v));
    CHECK_NEAR(v, 5.5, 0);
    CHECK(born_get(t, (int64_t[]){2, 0}, &v) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "out of range");
    int64_t big = INT64_MAX;
    born_tensor *i = born_from_data(BORN_I64, BORN_DIMS(1), &big, sizeof big);
    int64_t got;
    CHECK_OK(born_get_i64(i, (int64_t[]){0}, &got));
    CHECK(got == INT64_MAX);
    CHECK(isnan(born_item(t)));
    CHECK_ERROR(BORN_ERR_SHAPE, "6 elements");
    CHECK(born_data_f32(t) != NULL);
    CHECK(born_data_f64(t) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "not f64");
    float out[6];
    CHECK_OK(born_copy_to_buffer(born_transpose(t, 0, 1), out, sizeof out));
    CHECK_NEAR(out[5], 5.5, 0); /* [2][1] of the transpose is [1][2] */
    unsigned char bytes[6 * sizeof(float) + 1]; /* any byte buffer works, aligned or not */
    CHECK_OK(born_copy_to_buffer(t, bytes + 1, 6 * sizeof(float)));
    float last;
    memcpy(&last, bytes + 1 + 5 * sizeof(float), sizeof last);
    CHECK_NEAR(last, 5.5, 0);
}

TEST(errors_stick_and_null_propagates) {
    born_tensor *a = born_ones(BORN_F32, BORN_DIMS(2, 3));
    born_tensor *b = born_ones(BORN_F32, BORN_DIMS(4));
    born_tensor *c = born_add(a, b);
    CHECK(c == NULL);
    CHECK_EQ_INT(born_last_status(), BORN_ERR_SHAPE);
    CHECK(strstr(born_last_error(), "born_add") && strstr(born_last_error(), "[2, 3] f32") &&
          strstr(born_last_error(), "[4] f32"));
    /* a later failure does not overwrite the first message */
    born_tensor *d = born_exp(born_mul(c, a));
    CHECK(d == NULL);
    CHECK(strstr(born_last_error(), "born_add") != NULL);
    born_clear_error();
    CHECK(born_last_status() == BORN_OK && born_last_error()[0] == '\0');
    CHECK(born_exp(NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_exp: input is NULL");
}

TEST(scopes_release_and_keep) {
    born_tensor *kept;
    born_scope_begin();
    born_tensor *a = born_ones(BORN_F32, BORN_DIMS(3));
    born_scope_begin();
    born_tensor *b = born_add(a, a);
    kept = born_keep(born_mul(b, b)); /* moves to the outer scope */
    born_scope_end();
    CHECK_TENSOR_NEAR(kept, ((double[]){4, 4, 4}), 3, 0, 0);
    kept = born_keep(kept); /* now owned by the caller */
    born_scope_end();
    CHECK_TENSOR_NEAR(kept, ((double[]){4, 4, 4}), 3, 0, 0);
    born_free(kept);
    /* freeing a scoped tensor early is safe, and scope_end does not free it again */
    born_scope_begin();
    born_tensor *e = born_zeros(BORN_F32, BORN_DIMS(2));
    born_free(e);
    born_scope_end();
    born_scope_end(); /* unbalanced ends are harmless */
    born_scope_begin();
    born_tensor *r = born_tensor_retain(born_ones(BORN_F32, BORN_DIMS(1)));
    born_scope_end();
    CHECK_NEAR(born_item(r), 1, 0); /* the retained reference keeps it alive */
    born_free(r);
}

TEST(conversions_saturate_and_keep_nan_inf) {
    born_tensor *t = tensor_of(BORN_F32, BORN_DIMS(6), (double[]){-1e10, 1e10, NAN, -3.7, 3.7, 255.9});
    CHECK_TENSOR_NEAR(born_to_dtype(t, BORN_I32), ((double[]){-2147483648.0, 2147483647.0, 0, -3, 3, 255}), 6, 0, 0);
    CHECK_TENSOR_NEAR(born_to_dtype(t, BORN_U8), ((double[]){0, 255, 0, 0, 3, 255}), 6, 0, 0);
    CHECK_TENSOR_NEAR(born_to_dtype(t, BORN_BOOL), ((double[]){1, 1, 1, 1, 1, 1}), 6, 0, 0);
    born_tensor *h = born_to_dtype(tensor_of(BORN_F64, BORN_DIMS(4), (double[]){INFINITY, -INFINITY, NAN, 1e6}), BORN_F16);
    CHECK_TENSOR_NEAR(h, ((double[]){INFINITY, -INFINITY, NAN, INFINITY}), 4, 0, 0);
    born_tensor *bf = born_to_dtype(tensor_of(BORN_F64, BORN_DIMS(2), (double[]){NAN, 1e6}), BORN_BF16);
    CHECK_TENSOR_NEAR(bf, ((double[]){NAN, 999424}), 2, 0, 0);
    int64_t big[2] = {INT64_MAX, -5};
    born_tensor *i = born_from_data(BORN_I64, BORN_DIMS(2), big, sizeof big);
    born_tensor *i8 = born_to_dtype(i, BORN_I8); /* integer narrowing wraps */
    CHECK_TENSOR_NEAR(i8, ((double[]){-1, -5}), 2, 0, 0);
}
