/* Joining and splitting: cat, stack, chunk, split, split_sizes.
 *
 * Reference values come from PyTorch 2.x:
 *   a = torch.arange(6.).reshape(2,3); b = torch.tensor([[10,11],[12,13]])
 *   torch.cat([a, b], 1)                                  # cat_ab
 *   x = torch.arange(12.).reshape(3,4)
 *   torch.cat([x.t(), torch.arange(3.).reshape(1,3)], 0)  # cat_xt
 *   torch.cat([x[:, ::2], x], -1)                         # cat_xs
 *   m = torch.arange(4.).reshape(2,2)
 *   torch.stack([m, m + 10], d) for d in (0, 1, -1)       # stack_*
 *   torch.chunk / torch.split / torch.split(t, [sizes]) for the piece sizes below. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

static const born_dtype all_dtypes[] = {BORN_F32, BORN_F64, BORN_F16, BORN_BF16, BORN_I8,
                                        BORN_I16, BORN_I32, BORN_I64, BORN_U8,  BORN_BOOL};
enum { NDTYPES = sizeof all_dtypes / sizeof all_dtypes[0] };

/* ---- cat ----------------------------------------------------------------------------------- */

TEST(cat_values_and_promotion) {
    born_tensor *a = born_reshape(born_arange(0, 6, 1, BORN_F32), BORN_DIMS(2, 3));
    born_tensor *b = tensor_of(BORN_I64, BORN_DIMS(2, 2), (double[]){10, 11, 12, 13});
    born_tensor *ab[] = {a, b};
    born_tensor *y = born_cat(ab, 2, 1);
    CHECK_SHAPE(y, 2, 5);
    CHECK_EQ_INT(born_tensor_dtype(y), BORN_F32);
    CHECK_TENSOR_NEAR(y, ((double[]){0, 1, 2, 10, 11, 3, 4, 5, 12, 13}), 10, 0, 0);
    born_tensor *y2 = born_cat(ab, 2, -1); /* negative dim */
    CHECK_TENSOR_NEAR(y2, ((double[]){0, 1, 2, 10, 11, 3, 4, 5, 12, 13}), 10, 0, 0);
}

TEST(cat_promotes_like_torch) {
    struct {
        born_dtype a, b, want;
    } cases[] = {
        {BORN_I8, BORN_U8, BORN_I16},   {BORN_BOOL, BORN_U8, BORN_U8},
        {BORN_F16, BORN_BF16, BORN_F32}, {BORN_I64, BORN_F16, BORN_F16},
        {BORN_BOOL, BORN_BOOL, BORN_BOOL}, {BORN_I32, BORN_F64, BORN_F64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        born_tensor *ts[] = {born_ones(cases[i].a, BORN_DIMS(2, 1)), born_ones(cases[i].b, BORN_DIMS(2, 2))};
        born_tensor *y = born_cat(ts, 2, 1);
        CHECK_OK_TENSOR(y);
        if (y) CHECK_EQ_INT(born_tensor_dtype(y), cases[i].want);
        CHECK_TENSOR_NEAR(y, ((double[]){1, 1, 1, 1, 1, 1}), 6, 0, 0);
    }
}

TEST(cat_every_dtype) {
    for (int k = 0; k < NDTYPES; k++) {
        born_dtype dt = all_dtypes[k];
        born_tensor *a = tensor_of(dt, BORN_DIMS(2, 2), (double[]){1, 0, 1, 1});
        born_tensor *b = tensor_of(dt, BORN_DIMS(1, 2), (double[]){0, 1});
        born_tensor *c = tensor_of(dt, BORN_DIMS(3, 2), (double[]){1, 1, 0, 0, 1, 0});
        born_tensor *ts[] = {a, b, c};
        born_tensor *y = born_cat(ts, 3, 0);
        CHECK_SHAPE(y, 6, 2);
        if (y) CHECK_EQ_INT(born_tensor_dtype(y), dt);
        CHECK_TENSOR_NEAR(y, ((double[]){1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 0}), 12, 0, 0);
    }
}

TEST(cat_non_contiguous_inputs) {
    born_tensor *x = born_reshape(born_arange(0, 12, 1, BORN_F32), BORN_DIMS(3, 4));
    born_tensor *xt = born_transpose(x, 0, 1);          /* [4, 3] */
    born_tensor *r = born_reshape(born_arange(0, 3, 1, BORN_F32), BORN_DIMS(1, 3));
    born_tensor *t1[] = {xt, r};
    born_tensor *y = born_cat(t1, 2, 0);
    CHECK_SHAPE(y, 5, 3);
    CHECK_TENSOR_NEAR(y, ((double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 0, 1, 2}), 15, 0, 0);
    born_tensor *xs = born_slice(x, 1, 0, 4, 2);       /* x[:, ::2], [3, 2] */
    born_tensor *t2[] = {xs, x};
    born_tensor *z = born_cat(t2, 2, -1);
    CHECK_SHAPE(z, 3, 6);
    CHECK_TENSOR_NEAR(z, ((double[]){0, 2, 0, 1, 2, 3, 4, 6, 4, 5, 6, 7, 8, 10, 8, 9, 10, 11}), 18, 0, 0);
}

TEST(cat_edge_cases) {
    /* 1-D empty tensors are skipped (torch's legacy rule) but still take part in promotion */
    born_tensor *e64 = born_zeros(BORN_F64, BORN_DIMS(0));
    born_tensor *h = born_ones(BORN_F16, BORN_DIMS(2, 3));
    born_tensor *t1[] = {e64, h, e64};
    born_tensor *y = born_cat(t1, 3, 1);
    CHECK_SHAPE(y, 2, 3);
    if (y) CHECK_EQ_INT(born_tensor_dtype(y), BORN_F64);
    CHECK_TENSOR_NEAR(y, ((double[]){1, 1, 1, 1, 1, 1}), 6, 0, 0);
    /* all empty: an empty 1-D result */
    born_tensor *t2[] = {born_zeros(BORN_F32, BORN_DIMS(0)), born_zeros(BORN_F32, BORN_DIMS(0))};
    born_tensor *e = born_cat(t2, 2, 0);
    CHECK_SHAPE(e, 0);
    /* a size-0 dimension along dim contributes nothing; other sizes must still match */
    born_tensor *t3[] = {born_zeros(BORN_F32, BORN_DIMS(0, 3)), born_ones(BORN_F32, BORN_DIMS(2, 3))};
    born_tensor *z = born_cat(t3, 2, 0);
    CHECK_SHAPE(z, 2, 3);
    CHECK_TENSOR_NEAR(z, ((double[]){1, 1, 1, 1, 1, 1}), 6, 0, 0);
    born_tensor *t4[] = {born_zeros(BORN_F32, BORN_DIMS(2, 0)), born_zeros(BORN_F32, BORN_DIMS(2, 0))};
    CHECK_SHAPE(born_cat(t4, 2, 1), 2, 0);
    /* one input: a copy */
    born_tensor *one = born_cat(&h, 1, 0);
    CHECK_SHAPE(one, 2, 3);
    CHECK(one && !born_tensor_shares_storage(one, h));
}

TEST(cat_errors) {
    born_tensor *a = born_ones(BORN_F32, BORN_DIMS(2, 3));
    CHECK(born_cat(&a, 0, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "non-empty");
    CHECK(born_cat(NULL, 2, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "non-empty");
    born_tensor *with_null[] = {a, NULL};
    CHECK(born_cat(with_null, 2, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "input 1 is NULL");
    born_tensor *scalars[] = {born_scalar(BORN_F32, 1), born_scalar(BORN_F32, 2)};
    CHECK(born_cat(scalars, 2, 0) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "0-dim tensor at position 0");
    born_tensor *ndims[] = {a, born_ones(BORN_F32, BORN_DIMS(2))};
    CHECK(born_cat(ndims, 2, 0) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "same number of dimensions: [2, 3] f32 at position 0 and [2] f32");
    born_tensor *sizes[] = {a, born_ones(BORN_F32, BORN_DIMS(2, 4))};
    CHECK(born_cat(sizes, 2, 0) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "differ at dimension 1 (3 vs 4)");
    CHECK(born_cat(sizes, 2, 2) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension 2 out of range");
    CHECK(born_cat(sizes, 2, -3) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension -3 out of range");
}

static born_tensor *cat3_fn(born_tensor *const *in, void *ctx) {
    (void)ctx;
    born_tensor *c = born_transpose(in[2], 0, 1); /* a non-contiguous input */
    born_tensor *ts[] = {in[0], in[1], c};
    born_tensor *y = born_cat(ts, 3, 1);
    return born_mul(y, y);
}

TEST(cat_gradcheck) {
    born_tensor *a = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(2, 3)), true);
    born_tensor *b = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(2, 1)), true);
    born_tensor *c = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(2, 2)), true);
    born_tensor *in[] = {a, b, c};
    CHECK_OK(born_gradcheck(cat3_fn, 3, in, NULL, NULL));
}

TEST(cat_gradient_reaches_each_input_and_skipped_empties) {
    born_tensor *a = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(2, 1)), true);
    born_tensor *e = born_requires_grad(born_zeros(BORN_F64, BORN_DIMS(0)), true);
    born_tensor *i = born_ones(BORN_I64, BORN_DIMS(2, 2)); /* no gradient */
    born_tensor *b = born_requires_grad(born_zeros(BORN_F64, BORN_DIMS(2, 2)), true);
    born_tensor *ts[] = {a, e, i, b};
    born_tensor *y = born_cat(ts, 4, 1); /* [2, 5] f64 */
    born_tensor *w = born_reshape(born_arange(0, 10, 1, BORN_F64), BORN_DIMS(2, 5));
    CHECK_OK(born_backward(born_sum(born_mul(y, w), 0, NULL, false)));
    CHECK_TENSOR_NEAR(born_grad(a), ((double[]){0, 5}), 2, 0, 0);
    CHECK_EQ_INT(born_tensor_dtype(born_grad(a)), BORN_F32);
    CHECK_TENSOR_NEAR(born_grad(b), ((double[]){3, 4, 8, 9}), 4, 0, 0);
    CHECK_SHAPE(born_grad(e), 0);
    CHECK(strcmp(born_grad_fn_name(y), "CatBackward") == 0);
}

TEST(cat_many_inputs_backward) {
    enum { N = 11 }; /* more inputs than the engine keeps on its stack */
    born_tensor *ts[N];
    for (int i = 0; i < N; i++) ts[i] = born_requires_grad(born_zeros(BORN_F64, BORN_DIMS(1, 2)), true);
    born_tensor *y = born_cat(ts, N, 0); /* [11, 2] */
    born_tensor *w = born_reshape(born_arange(0, 2 * N, 1, BORN_F64), BORN_DIMS(N, 2));
    CHECK_OK(born_backward(born_sum(born_mul(y, w), 0, NULL, false)));
    for (int i = 0; i < N; i++) CHECK_TENSOR_NEAR(born_grad(ts[i]), ((double[]){2 * i, 2 * i + 1}), 2, 0, 0);
}

/* ---- stack --------------------------------------------------------------------------------- */

TEST(stack_values) {
    born_tensor *m = born_reshape(born_arange(0, 4, 1, BORN_F32), BORN_DIMS(2, 2));
    born_tensor *ts[] = {m, born_add_scalar(m, 10)};
    born_tensor *s0 = born_stack(ts, 2, 0);
    CHECK_SHAPE(s0, 2, 2, 2);
    CHECK_TENSOR_NEAR(s0, ((double[]){0, 1, 2, 3, 10, 11, 12, 13}), 8, 0, 0);
    born_tensor *s1 = born_stack(ts, 2, 1);
    CHECK_TENSOR_NEAR(s1, ((double[]){0, 1, 10, 11, 2, 3, 12, 13}), 8, 0, 0);
    born_tensor *s2 = born_stack(ts, 2, -1);
    CHECK_SHAPE(s2, 2, 2, 2);
    CHECK_TENSOR_NEAR(s2, ((double[]){0, 10, 1, 11, 2, 12, 3, 13}), 8, 0, 0);
    /* transposed inputs, mixed dtypes, 0-dim and empty inputs */
    born_tensor *tt[] = {born_transpose(m, 0, 1), born_ones(BORN_I32, BORN_DIMS(2, 2))};
    born_tensor *s3 = born_stack(tt, 2, 0);
    if (s3) CHECK_EQ_INT(born_tensor_dtype(s3), BORN_F32);
    CHECK_TENSOR_NEAR(s3, ((double[]){0, 2, 1, 3, 1, 1, 1, 1}), 8, 0, 0);
    born_tensor *sc[] = {born_scalar(BORN_F32, 1), born_scalar(BORN_I64, 2)};
    born_tensor *s4 = born_stack(sc, 2, 0);
    CHECK_SHAPE(s4, 2);
    CHECK_TENSOR_NEAR(s4, ((double[]){1, 2}), 2, 0, 0);
    born_tensor *em[] = {born_zeros(BORN_F32, BORN_DIMS(0)), born_zeros(BORN_F32, BORN_DIMS(0))};
    CHECK_SHAPE(born_stack(em, 2, 0), 2, 0);
    CHECK_SHAPE(born_stack(em, 2, 1), 0, 2);
    for (int k = 0; k < NDTYPES; k++) {
        born_tensor *p[] = {tensor_of(all_dtypes[k], BORN_DIMS(2), (double[]){1, 0}),
                            tensor_of(all_dtypes[k], BORN_DIMS(2), (double[]){0, 1})};
        born_tensor *s = born_stack(p, 2, 1);
        if (s) CHECK_EQ_INT(born_tensor_dtype(s), all_dtypes[k]);
        CHECK_TENSOR_NEAR(s, ((double[]){1, 0, 0, 1}), 4, 0, 0);
    }
}

TEST(stack_errors) {
    born_tensor *a = born_ones(BORN_F32, BORN_DIMS(2));
    born_tensor *ts[] = {a, born_ones(BORN_F32, BORN_DIMS(3))};
    CHECK(born_stack(ts, 2, 0) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "[2] f32 at position 0 and [3] f32 at position 1");
    CHECK(born_stack(ts, 0, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "non-empty");
    born_tensor *same[] = {a, a};
    CHECK(born_stack(same, 2, 2) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension 2 out of range");
    born_tensor *with_null[] = {a, NULL};
    CHECK(born_stack(with_null, 2, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "input 1 is NULL");
}

static born_tensor *stack_fn(born_tensor *const *in, void *ctx) {
    (void)ctx;
    born_tensor *ts[] = {in[0], born_transpose(in[1], 0, 1), in[0]};
    return born_square(born_stack(ts, 3, 1));
}

TEST(stack_gradcheck) {
    born_tensor *a = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(2, 3)), true);
    born_tensor *b = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(3, 2)), true);
    born_tensor *in[] = {a, b};
    CHECK_OK(born_gradcheck(stack_fn, 2, in, NULL, NULL));
}

/* ---- chunk / split ------------------------------------------------------------------------- */

/* Checks the count and the size of each piece along dim. */
static void check_pieces(int got, born_tensor **pieces, int dim, int want, const int64_t *sizes) {
    CHECK_EQ_INT(got, want);
    for (int i = 0; i < want && i < got; i++) {
        CHECK(pieces[i] != NULL);
        if (pieces[i]) CHECK_EQ_INT(born_tensor_size(pieces[i], dim), sizes[i]);
    }
}

TEST(chunk_like_torch) {
    born_tensor *out[16];
    born_tensor *x = born_reshape(born_arange(0, 10, 1, BORN_F32), BORN_DIMS(5, 2));
    int n = born_chunk(x, 3, 0, out); /* torch.chunk(x, 3): 2, 2, 1 */
    check_pieces(n, out, 0, 3, (int64_t[]){2, 2, 1});
    CHECK_TENSOR_NEAR(out[2], ((double[]){8, 9}), 2, 0, 0);
    CHECK(born_tensor_shares_storage(out[1], x));
    CHECK_TENSOR_NEAR(out[1], ((double[]){4, 5, 6, 7}), 4, 0, 0);
    born_tensor *y = born_reshape(born_arange(0, 10, 1, BORN_F32), BORN_DIMS(2, 5));
    n = born_chunk(y, 3, -1, out); /* sizes 2, 2, 1 along the last dim */
    check_pieces(n, out, 1, 3, (int64_t[]){2, 2, 1});
    CHECK_TENSOR_NEAR(out[1], ((double[]){2, 3, 7, 8}), 4, 0, 0);
    /* fewer chunks than asked: torch.chunk(arange(6), 4) gives 3 of 2 */
    n = born_chunk(born_arange(0, 6, 1, BORN_I64), 4, 0, out);
    check_pieces(n, out, 0, 3, (int64_t[]){2, 2, 2});
    /* more chunks than elements */
    n = born_chunk(born_arange(0, 3, 1, BORN_I64), 10, 0, out);
    check_pieces(n, out, 0, 3, (int64_t[]){1, 1, 1});
    CHECK_TENSOR_NEAR(out[2], ((double[]){2}), 1, 0, 0);
    /* an empty dimension still gives `chunks` empty pieces */
    n = born_chunk(born_zeros(BORN_F32, BORN_DIMS(0)), 3, 0, out);
    check_pieces(n, out, 0, 3, (int64_t[]){0, 0, 0});
    n = born_chunk(born_zeros(BORN_F32, BORN_DIMS(2, 0)), 3, 1, out);
    check_pieces(n, out, 1, 3, (int64_t[]){0, 0, 0});
    /* a transposed input */
    n = born_chunk(born_transpose(y, 0, 1), 2, 0, out); /* [5, 2] -> 3 + 2 */
    check_pieces(n, out, 0, 2, (int64_t[]){3, 2});
    CHECK_TENSOR_NEAR(out[1], ((double[]){3, 8, 4, 9}), 4, 0, 0);
}

TEST(chunk_errors) {
    born_tensor *out[4];
    born_tensor *x = born_ones(BORN_F32, BORN_DIMS(4));
    CHECK_EQ_INT(born_chunk(x, 0, 0, out), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "chunks must be positive, not 0");
    CHECK_EQ_INT(born_chunk(born_scalar(BORN_F32, 1), 2, 0, out), -1);
    CHECK_ERROR(BORN_ERR_SHAPE, "at least a 1-dimensional");
    CHECK_EQ_INT(born_chunk(x, 2, 1, out), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension 1 out of range");
    CHECK_EQ_INT(born_chunk(x, 2, 0, NULL), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "out is NULL");
    CHECK_EQ_INT(born_chunk(NULL, 2, 0, out), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
}

TEST(split_like_torch) {
    born_tensor *out[8];
    born_tensor *x = born_arange(0, 5, 1, BORN_F64);
    int n = born_split(x, 2, 0, out, 8); /* torch.split(arange(5), 2): 2, 2, 1 */
    check_pieces(n, out, 0, 3, (int64_t[]){2, 2, 1});
    CHECK_TENSOR_NEAR(out[2], ((double[]){4}), 1, 0, 0);
    /* fewer slots than pieces: the count is still the total */
    out[1] = NULL;
    n = born_split(x, 2, -1, out, 1);
    CHECK_EQ_INT(n, 3);
    CHECK(out[1] == NULL);
    CHECK_TENSOR_NEAR(out[0], ((double[]){0, 1}), 2, 0, 0);
    CHECK_EQ_INT(born_split(x, 1, 0, NULL, 0), 5); /* just counting */
    n = born_split(x, 7, 0, out, 8);
    check_pieces(n, out, 0, 1, (int64_t[]){5});
    /* empty dimensions: one empty piece (split_size 0 allowed only then) */
    born_tensor *e = born_zeros(BORN_F32, BORN_DIMS(3, 0));
    check_pieces(born_split(e, 0, 1, out, 8), out, 1, 1, (int64_t[]){0});
    check_pieces(born_split(e, 2, 1, out, 8), out, 1, 1, (int64_t[]){0});
    /* sizes */
    born_tensor *m = born_reshape(born_arange(0, 10, 1, BORN_I32), BORN_DIMS(2, 5));
    CHECK_OK(born_split_sizes(m, 3, (int64_t[]){2, 0, 3}, 1, out));
    check_pieces(3, out, 1, 3, (int64_t[]){2, 0, 3});
    CHECK_TENSOR_NEAR(out[2], ((double[]){2, 3, 4, 7, 8, 9}), 6, 0, 0);
    CHECK_EQ_INT(born_tensor_dtype(out[2]), BORN_I32);
    CHECK_OK(born_split_sizes(born_transpose(m, 0, 1), 2, (int64_t[]){4, 1}, 0, out));
    CHECK_TENSOR_NEAR(out[1], ((double[]){4, 9}), 2, 0, 0);
    CHECK_OK(born_split_sizes(e, 0, NULL, 1, NULL)); /* an empty dimension splits into nothing */
}

TEST(split_errors) {
    born_tensor *out[8];
    born_tensor *x = born_arange(0, 5, 1, BORN_F32);
    CHECK_EQ_INT(born_split(x, 0, 0, out, 8), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "split_size 0 is invalid for dimension 0 of size 5");
    CHECK_EQ_INT(born_split(x, -1, 0, out, 8), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "split_size -1");
    CHECK_EQ_INT(born_split(born_scalar(BORN_F32, 1), 1, 0, out, 8), -1);
    CHECK_ERROR(BORN_ERR_SHAPE, "at least a 1-dimensional");
    CHECK_EQ_INT(born_split(x, 2, 1, out, 8), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension 1 out of range");
    CHECK_EQ_INT(born_split(x, 2, 0, NULL, 3), -1);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "max_out 3");
    CHECK(born_split_sizes(x, 2, (int64_t[]){2, 4}, 0, out) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "sizes [2, 4] must sum to 5");
    CHECK(born_split_sizes(x, 3, (int64_t[]){2, -1, 4}, 0, out) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "[2, -1, 4] must not be negative");
    CHECK(born_split_sizes(x, 2, NULL, 0, out) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "bad size list");
    CHECK(born_split_sizes(x, 1, (int64_t[]){5}, -2, out) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension -2 out of range");
}

/* Pieces of one input recombined non-linearly, so each view's gradient must land in its place. */
static born_tensor *split_fn(born_tensor *const *in, void *ctx) {
    int mode = *(const int *)ctx;
    born_tensor *p[4];
    if (mode == 0) {
        if (born_chunk(in[0], 3, 0, p) != 3) return NULL; /* [5, 2] -> 2, 2, 1 */
        return born_mul(born_add(p[0], p[1]), born_square(p[2]));
    }
    if (mode == 1) {
        if (born_split(in[0], 2, -1, p, 4) != 2) return NULL; /* [2, 4] -> 2, 2 */
        return born_mul(p[0], born_exp(p[1]));
    }
    if (born_split_sizes(born_transpose(in[0], 0, 1), 3, (int64_t[]){1, 0, 2}, 0, p) != BORN_OK)
        return NULL; /* [3, 2] -> 1, 0, 2 */
    born_tensor *ts[] = {born_mul(p[0], p[0]), p[1], p[2]};
    return born_cat(ts, 3, 0);
}

TEST(split_views_gradcheck) {
    int modes[] = {0, 1, 2};
    born_tensor *x = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(5, 2)), true);
    CHECK_OK(born_gradcheck(split_fn, 1, &x, &modes[0], NULL));
    born_tensor *y = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(2, 4)), true);
    CHECK_OK(born_gradcheck(split_fn, 1, &y, &modes[1], NULL));
    born_tensor *z = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(2, 3)), true);
    CHECK_OK(born_gradcheck(split_fn, 1, &z, &modes[2], NULL));
}
