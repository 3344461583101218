/* Constant padding and the triangle ops.
 *
 * Reference values come from PyTorch 2.x:
 *   p = torch.arange(6.).reshape(2,3)
 *   F.pad(p, (1,2)); F.pad(p, (1,2,0,1), value=7.); F.pad(p, (-1,1,1,-1)); F.pad(p, (-2,-1))
 *   F.pad(torch.arange(8.).reshape(2,2,2), (0,1,1,0,1,1), value=-1)
 *   F.pad(torch.arange(3), (1,1), value=-2.7)          # integers truncate the value: -2
 *   F.pad(p.t(), (1,0,0,1))
 *   q = torch.arange(12.).reshape(3,4) + 1
 *   torch.tril(q, k), torch.triu(q, k) for k in (0, 1, -1, 2, -2, 100, -100)
 *   bq = torch.arange(24.).reshape(2,3,4) + 1; torch.tril(bq, -1); torch.triu(bq, 1)
 *   torch.tril(q.t()); torch.triu(q.t(), 1) */
#include <math.h>
#include <string.h>

#include "test.h"

static const born_dtype all_dtypes[] = {BORN_F32, BORN_F64, BORN_F16, BORN_BF16, BORN_I8,
                                        BORN_I16, BORN_I32, BORN_I64, BORN_U8,  BORN_BOOL};
enum { NDTYPES = sizeof all_dtypes / sizeof all_dtypes[0] };

static born_tensor *p23(void) { return born_reshape(born_arange(0, 6, 1, BORN_F32), BORN_DIMS(2, 3)); }

/* ---- pad ----------------------------------------------------------------------------------- */

TEST(pad_values) {
    born_tensor *p = p23();
    born_tensor *a = born_pad(p, 2, (int64_t[]){1, 2}, 0.0);
    CHECK_SHAPE(a, 2, 6);
    CHECK_TENSOR_NEAR(a, ((double[]){0, 0, 1, 2, 0, 0, 0, 3, 4, 5, 0, 0}), 12, 0, 0);
    born_tensor *b = born_pad(p, 4, (int64_t[]){1, 2, 0, 1}, 7.0);
    CHECK_SHAPE(b, 3, 6);
    CHECK_TENSOR_NEAR(b, ((double[]){7, 0, 1, 2, 7, 7, 7, 3, 4, 5, 7, 7, 7, 7, 7, 7, 7, 7}), 18, 0, 0);
    born_tensor *c = born_pad(p, 4, (int64_t[]){-1, 1, 1, -1}, 0.0); /* crop and pad at once */
    CHECK_SHAPE(c, 2, 3);
    CHECK_TENSOR_NEAR(c, ((double[]){0, 0, 0, 1, 2, 0}), 6, 0, 0);
    CHECK_SHAPE(born_pad(p, 2, (int64_t[]){-2, -1}, 0.0), 2, 0);
    born_tensor *d = born_pad(born_reshape(born_arange(0, 8, 1, BORN_F32), BORN_DIMS(2, 2, 2)), 6,
                              (int64_t[]){0, 1, 1, 0, 1, 1}, -1.0);
    CHECK_SHAPE(d, 4, 3, 3);
    CHECK_TENSOR_NEAR(d, ((double[]){-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, -1, 2, 3, -1,
                                     -1, -1, -1, 4, 5, -1, 6, 7, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}),
                      36, 0, 0);
    born_tensor *i = born_pad(born_arange(0, 3, 1, BORN_I64), 2, (int64_t[]){1, 1}, -2.7);
    if (i) CHECK_EQ_INT(born_tensor_dtype(i), BORN_I64);
    CHECK_TENSOR_NEAR(i, ((double[]){-2, 0, 1, 2, -2}), 5, 0, 0);
    /* a transposed input */
    born_tensor *t = born_pad(born_transpose(p, 0, 1), 4, (int64_t[]){1, 0, 0, 1}, 0.0);
    CHECK_SHAPE(t, 4, 3);
    CHECK_TENSOR_NEAR(t, ((double[]){0, 0, 3, 0, 1, 4, 0, 2, 5, 0, 0, 0}), 12, 0, 0);
    /* nothing to pad: a copy; a 0-dim input with no pad */
    born_tensor *same = born_pad(p, 0, NULL, 1.0);
    CHECK_TENSOR_NEAR(same, ((double[]){0, 1, 2, 3, 4, 5}), 6, 0, 0);
    CHECK(same && !born_tensor_shares_storage(same, p));
    CHECK_TENSOR_NEAR(born_pad(born_scalar(BORN_F32, 3), 0, NULL, 0.0), ((double[]){3}), 1, 0, 0);
    /* empty inputs */
    born_tensor *e = born_pad(born_zeros(BORN_F32, BORN_DIMS(2, 0)), 2, (int64_t[]){1, 1}, 0.0);
    CHECK_SHAPE(e, 2, 2);
    CHECK_TENSOR_NEAR(e, ((double[]){0, 0, 0, 0}), 4, 0, 0);
    CHECK_SHAPE(born_pad(born_zeros(BORN_F32, BORN_DIMS(2, 0)), 4, (int64_t[]){0, 0, 1, 1}, 0.0), 4, 0);
}

TEST(pad_every_dtype) {
    for (int k = 0; k < NDTYPES; k++) {
        born_dtype dt = all_dtypes[k];
        born_tensor *x = tensor_of(dt, BORN_DIMS(1, 2), (double[]){1, 0});
        born_tensor *y = born_pad(x, 4, (int64_t[]){1, -1, 0, 1}, 1.0);
        CHECK_SHAPE(y, 2, 2);
        if (y) CHECK_EQ_INT(born_tensor_dtype(y), dt);
        CHECK_TENSOR_NEAR(y, ((double[]){1, 1, 1, 1}), 4, 0, 0);
        born_tensor *z = born_pad(x, 2, (int64_t[]){0, 1}, 0.0);
        CHECK_TENSOR_NEAR(z, ((double[]){1, 0, 0}), 3, 0, 0);
    }
}

TEST(pad_errors) {
    born_tensor *p = p23();
    CHECK(born_pad(p, 1, (int64_t[]){1}, 0.0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "(before, after) pairs, but 1 values");
    CHECK(born_pad(p, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, 0.0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "6 padding values pad 3 dimensions, but the input [2, 3] f32 has 2");
    CHECK(born_pad(p, 2, (int64_t[]){-2, -2}, 0.0) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "padding (-2, -2) of dimension 1 of [2, 3] f32 crops more than its 3");
    CHECK(born_pad(p, 2, (int64_t[]){-5, 4}, 0.0) == NULL); /* torch: narrow() length negative */
    CHECK_ERROR(BORN_ERR_SHAPE, "crops more");
    CHECK(born_pad(p, 4, (int64_t[]){0, 0, 0, INT64_MAX}, 0.0) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "too large");
    CHECK(born_pad(p, 2, NULL, 0.0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "pairs");
    CHECK(born_pad(NULL, 0, NULL, 0.0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "input is NULL");
}

typedef struct pad_ctx {
    int npad;
    int64_t pad[6];
    bool transpose;
} pad_ctx;

static born_tensor *pad_fn(born_tensor *const *in, void *ctx) {
    const pad_ctx *c = ctx;
    born_tensor *x = c->transpose ? born_transpose(in[0], 0, 1) : in[0];
    born_tensor *y = born_pad(x, c->npad, c->pad, 0.5);
    return born_mul(y, y);
}

TEST(pad_gradcheck) {
    born_tensor *x = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(3, 4)), true);
    pad_ctx grow = {4, {1, 2, 0, 1}, false};
    CHECK_OK(born_gradcheck(pad_fn, 1, &x, &grow, NULL));
    pad_ctx crop = {4, {-1, -2, 1, -1}, false};
    CHECK_OK(born_gradcheck(pad_fn, 1, &x, &crop, NULL));
    pad_ctx mixed_t = {2, {-3, 2}, true}; /* transposed [4, 3] */
    CHECK_OK(born_gradcheck(pad_fn, 1, &x, &mixed_t, NULL));
    born_tensor *g = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(2, 3)), true);
    born_tensor *y = born_pad(g, 2, (int64_t[]){-1, 1}, 9.0);
    CHECK(y && strcmp(born_grad_fn_name(y), "PadBackward") == 0);
    born_backward_params bp = born_backward_default_params();
    bp.grad = born_reshape(born_arange(1, 7, 1, BORN_F32), BORN_DIMS(2, 3));
    CHECK_OK(born_backward_ex(y, &bp));
    /* output column j comes from input column j + 1; the padded last column gets no input */
    CHECK_TENSOR_NEAR(born_grad(g), ((double[]){0, 1, 2, 0, 4, 5}), 6, 0, 0);
}

/* ---- tril / triu --------------------------------------------------------------------------- */

TEST(tril_triu_values) {
    born_tensor *q = born_add_scalar(born_reshape(born_arange(0, 12, 1, BORN_F32), BORN_DIMS(3, 4)), 1);
    struct {
        int64_t k;
        double lower[12], upper[12];
    } cases[] = {
        {0, {1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0}, {1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12}},
        {1, {1, 2, 0, 0, 5, 6, 7, 0, 9, 10, 11, 12}, {0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12}},
        {-1, {0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0}, {1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 11, 12}},
        {2, {1, 2, 3, 0, 5, 6, 7, 8, 9, 10, 11, 12}, {0, 0, 3, 4, 0, 0, 0, 8, 0, 0, 0, 0}},
        {-2, {0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
        {100, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
        {-100, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
        {INT64_MIN, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        born_tensor *lo = born_tril(q, cases[i].k), *up = born_triu(q, cases[i].k);
        CHECK_SHAPE(lo, 3, 4);
        CHECK_TENSOR_NEAR(lo, cases[i].lower, 12, 0, 0);
        CHECK_TENSOR_NEAR(up, cases[i].upper, 12, 0, 0);
    }
    born_tensor *bq = born_add_scalar(born_reshape(born_arange(0, 24, 1, BORN_F32), BORN_DIMS(2, 3, 4)), 1);
    CHECK_TENSOR_NEAR(born_tril(bq, -1), ((double[]){0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0,
                                                     0, 0, 0, 0, 17, 0, 0, 0, 21, 22, 0, 0}), 24, 0, 0);
    CHECK_TENSOR_NEAR(born_triu(bq, 1), ((double[]){0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12,
                                                    0, 14, 15, 16, 0, 0, 19, 20, 0, 0, 0, 24}), 24, 0, 0);
    born_tensor *qt = born_transpose(q, 0, 1);
    CHECK_TENSOR_NEAR(born_tril(qt, 0), ((double[]){1, 0, 0, 2, 6, 0, 3, 7, 11, 4, 8, 12}), 12, 0, 0);
    CHECK_TENSOR_NEAR(born_triu(qt, 1), ((double[]){0, 5, 9, 0, 0, 10, 0, 0, 0, 0, 0, 0}), 12, 0, 0);
    /* NaN is kept where selected, and the zeros elsewhere are zeros */
    born_tensor *n = born_full(BORN_F32, BORN_DIMS(2, 2), NAN);
    CHECK_TENSOR_NEAR(born_tril(n, 0), ((double[]){NAN, 0, NAN, NAN}), 4, 0, 0);
    CHECK_SHAPE(born_tril(born_ones(BORN_F32, BORN_DIMS(2, 0)), 0), 2, 0);
    CHECK_SHAPE(born_triu(born_ones(BORN_F32, BORN_DIMS(0, 3, 3)), 0), 0, 3, 3);
}

TEST(tril_triu_every_dtype) {
    for (int k = 0; k < NDTYPES; k++) {
        born_dtype dt = all_dtypes[k];
        born_tensor *x = born_ones(dt, BORN_DIMS(2, 2));
        born_tensor *lo = born_tril(x, 0), *up = born_triu(x, 1);
        if (lo) CHECK_EQ_INT(born_tensor_dtype(lo), dt);
        if (up) CHECK_EQ_INT(born_tensor_dtype(up), dt);
        CHECK_TENSOR_NEAR(lo, ((double[]){1, 0, 1, 1}), 4, 0, 0);
        CHECK_TENSOR_NEAR(up, ((double[]){0, 1, 0, 0}), 4, 0, 0);
    }
}

TEST(tril_triu_errors) {
    CHECK(born_tril(born_ones(BORN_F32, BORN_DIMS(3)), 0) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_tril: the input [3] f32 must have at least 2 dimensions");
    CHECK(born_triu(born_scalar(BORN_F32, 1), 0) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "born_triu");
    CHECK(born_tril(NULL, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "input is NULL");
}

typedef struct tri_ctx {
    int64_t k;
    bool lower;
} tri_ctx;

static born_tensor *tri_fn(born_tensor *const *in, void *ctx) {
    const tri_ctx *c = ctx;
    born_tensor *x = born_transpose(in[0], -1, -2); /* [2, 4, 3], non-contiguous */
    born_tensor *y = c->lower ? born_tril(x, c->k) : born_triu(x, c->k);
    return born_mul(y, y);
}

TEST(tril_triu_gradcheck) {
    born_tensor *x = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(2, 3, 4)), true);
    tri_ctx cases[] = {{0, true}, {-1, true}, {1, false}, {-2, false}};
    for (int i = 0; i < 4; i++) CHECK_OK(born_gradcheck(tri_fn, 1, &x, &cases[i], NULL));
}
