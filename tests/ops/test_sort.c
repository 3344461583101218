/* Sorting: sort, argsort and topk against torch.sort(stable=True) / torch.topk for NaN, +-inf,
 * -0.0, ties, both directions and both dims; i64 beyond 2^53, bool, u8, i8, f16, bf16;
 * non-contiguous input; 0-dim and empty tensors; topk's tie rule (lower index first), its
 * heap path and sorted = false; gradients (by hand and gradcheck); every error path.
 *
 * Expected values from torch 2.x:
 *
 *   nan, inf = float('nan'), float('inf')
 *   x = torch.tensor([[3., nan, -1., 3., 0., -0., -inf, 2., nan, 3.],
 *                     [1., 1., 1., -2., inf, 5., -2., 0.5, 1., 7.]])
 *   torch.sort(x, dim=d, descending=desc, stable=True)       # d in 0, 1; desc in False, True
 *   big = torch.tensor([2**62 + 1, -5, 2**62, 2**62 + 1, -(2**63), 7])
 *   torch.sort(big, stable=True); torch.sort(big, descending=True, stable=True)
 *   torch.sort(torch.tensor([True, False, True, False, False]), stable=True)
 *   torch.topk(x, 3, dim=1)   # values [nan, nan, 3, inf, 7, 5], indices [1, 8, 0, 4, 9, 5]
 *
 * torch.topk does not promise which of equal values it returns (it picks -0.0 at index 5 over
 * 0.0 at index 4 for the 3 smallest of row 0); Born returns the lower index first, so topk's
 * expected indices below are the first k of the stable sort. */
#include <stdlib.h>
#include <string.h>

#include "ops/ops_internal.h"
#include "test.h"

static const double X[] = {3, NAN, -1, 3,  0,        -0.0, -INFINITY, 2,   NAN, 3,
                           1, 1,   1,  -2, INFINITY, 5,    -2,        0.5, 1,   7};

static born_tensor *x_tensor(born_dtype dt) { return tensor_of(dt, BORN_DIMS(2, 10), X); }

typedef struct sort_case {
    int dim;
    bool descending;
    double values[20], indices[20];
} sort_case;

static const sort_case sort_cases[] = {
    {1,
     false,
     {-INFINITY, -1, 0, -0.0, 2, 3, 3, 3, NAN, NAN, -2, -2, 0.5, 1, 1, 1, 1, 5, 7, INFINITY},
     {6, 2, 4, 5, 7, 0, 3, 9, 1, 8, 3, 6, 7, 0, 1, 2, 8, 5, 9, 4}},
    {0,
     false,
     {1, 1, -1, -2, 0, -0.0, -INFINITY, 0.5, 1, 3, 3, NAN, 1, 3, INFINITY, 5, -2, 2, NAN, 7},
     {1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 0, 1}},
    {1,
     true,
     {NAN, NAN, 3, 3, 3, 2, 0, -0.0, -1, -INFINITY, INFINITY, 7, 5, 1, 1, 1, 1, 0.5, -2, -2},
     {1, 8, 0, 3, 9, 7, 4, 5, 2, 6, 4, 9, 5, 0, 1, 2, 8, 7, 3, 6}},
    {0,
     true,
     {3, NAN, 1, 3, INFINITY, 5, -2, 2, NAN, 7, 1, 1, -1, -2, 0, -0.0, -INFINITY, 0.5, 1, 3},
     {0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0}},
};

/* The sign bits of the zeros show that -0.0 and 0.0 kept their order (values are copied). */
static void check_zero_signs(born_tensor *v, const double *expected, int64_t n) {
    double *got = malloc((size_t)n * sizeof *got);
    if (got && test_read(v, got, n))
        for (int64_t i = 0; i < n; i++)
            if (expected[i] == 0)
                CHECK_MSG(signbit(got[i]) == signbit(expected[i]), "zero %lld has the wrong sign",
                          (long long)i);
    free(got);
}

TEST(sort_matches_torch_stable_sort) {
    const born_dtype dts[] = {BORN_F32, BORN_F64, BORN_F16, BORN_BF16};
    for (int t = 0; t < 4; t++) {
        born_tensor *x = x_tensor(dts[t]);
        for (int c = 0; c < 4; c++) {
            const sort_case *sc = &sort_cases[c];
            born_tensor *v = NULL, *i = NULL;
            CHECK_OK(born_sort(x, sc->dim, sc->descending, &v, &i));
            CHECK_MSG(v && born_tensor_dtype(v) == dts[t], "case %d", c);
            CHECK_SHAPE(v, 2, 10);
            CHECK_TENSOR_NEAR(v, sc->values, 20, 0, 0);
            CHECK_TENSOR_NEAR(i, sc->indices, 20, 0, 0);
            check_zero_signs(v, sc->values, 20);
            CHECK_TENSOR_NEAR(born_argsort(x, sc->dim - 2, sc->descending), sc->indices, 20, 0, 0);
        }
    }
}

TEST(sort_non_contiguous_input) {
    born_tensor *xt =
        born_transpose(born_contiguous(born_transpose(x_tensor(BORN_F32), 0, 1)), 0, 1);
    CHECK(!born_tensor_is_contiguous(xt));
    for (int c = 0; c < 4; c++) {
        born_tensor *v = NULL, *i = NULL;
        CHECK_OK(born_sort(xt, sort_cases[c].dim, sort_cases[c].descending, &v, &i));
        CHECK_TENSOR_NEAR(v, sort_cases[c].values, 20, 0, 0);
        CHECK_TENSOR_NEAR(i, sort_cases[c].indices, 20, 0, 0);
    }
    /* every other element of a row */
    born_tensor *s = born_slice(born_arange(10, 0, -1, BORN_I32), 0, 0, 10, 2); /* 10 8 6 4 2 */
    CHECK_TENSOR_NEAR(born_argsort(s, 0, false), ((double[]){4, 3, 2, 1, 0}), 5, 0, 0);
}

TEST(sort_integers_and_bool_exactly) {
    const int64_t big[] = {(1LL << 62) + 1, -5, 1LL << 62, (1LL << 62) + 1, INT64_MIN, 7};
    born_tensor *b = born_from_data(BORN_I64, BORN_DIMS(6), big, sizeof big);
    born_tensor *v = NULL, *i = NULL;
    CHECK_OK(born_sort(b, 0, false, &v, &i));
    CHECK_TENSOR_NEAR(i, ((double[]){4, 1, 5, 2, 0, 3}), 6, 0, 0);
    int64_t got[6];
    CHECK_OK(born_copy_to_buffer(v, got, sizeof got));
    const int64_t want[] = {INT64_MIN, -5, 7, 1LL << 62, (1LL << 62) + 1, (1LL << 62) + 1};
    CHECK(memcmp(got, want, sizeof got) == 0);
    CHECK_OK(born_sort(b, 0, true, &v, &i));
    CHECK_TENSOR_NEAR(i, ((double[]){0, 3, 2, 5, 1, 4}), 6, 0, 0);

    born_tensor *bl =
        born_to_dtype(tensor_of(BORN_F32, BORN_DIMS(5), (double[]){1, 0, 1, 0, 0}), BORN_BOOL);
    CHECK_OK(born_sort(bl, 0, false, &v, &i));
    CHECK_EQ_INT(born_tensor_dtype(v), BORN_BOOL);
    CHECK_TENSOR_NEAR(v, ((double[]){0, 0, 0, 1, 1}), 5, 0, 0);
    CHECK_TENSOR_NEAR(i, ((double[]){1, 3, 4, 0, 2}), 5, 0, 0);
    CHECK_TENSOR_NEAR(born_argsort(bl, 0, true), ((double[]){0, 2, 1, 3, 4}), 5, 0, 0);

    born_tensor *u = tensor_of(BORN_U8, BORN_DIMS(5), (double[]){200, 3, 255, 0, 3});
    CHECK_OK(born_sort(u, 0, true, &v, &i));
    CHECK_TENSOR_NEAR(v, ((double[]){255, 200, 3, 3, 0}), 5, 0, 0);
    CHECK_TENSOR_NEAR(i, ((double[]){2, 0, 1, 4, 3}), 5, 0, 0);
    born_tensor *s8 = tensor_of(BORN_I8, BORN_DIMS(4), (double[]){-128, 127, -1, 0});
    CHECK_OK(born_sort(s8, 0, false, &v, NULL));
    CHECK_TENSOR_NEAR(v, ((double[]){-128, -1, 0, 127}), 4, 0, 0);
    born_tensor *s16 = tensor_of(BORN_I16, BORN_DIMS(3), (double[]){300, -300, 0});
    CHECK_TENSOR_NEAR(born_argsort(s16, 0, false), ((double[]){1, 2, 0}), 3, 0, 0);
}

TEST(sort_scalar_and_empty) {
    born_tensor *s = born_scalar(BORN_F32, 2.5);
    born_tensor *v = NULL, *i = NULL;
    CHECK_OK(born_sort(s, 0, false, &v, &i));
    CHECK_EQ_INT(born_tensor_ndim(v), 0);
    CHECK_NEAR(born_item(v), 2.5, 0);
    CHECK_NEAR(born_item(i), 0, 0);
    CHECK_OK(born_sort(s, -1, true, &v, NULL));
    CHECK_OK(born_topk(s, 1, 0, true, true, &v, &i));
    CHECK_NEAR(born_item(v), 2.5, 0);
    CHECK_OK(born_topk(s, 0, 0, true, true, &v, &i)); /* as torch: itself, even for k = 0 */
    CHECK_NEAR(born_item(v), 2.5, 0);
    born_tensor *e = born_zeros(BORN_F32, BORN_DIMS(2, 0));
    CHECK_OK(born_sort(e, 1, false, &v, &i));
    CHECK_SHAPE(v, 2, 0);
    CHECK_SHAPE(i, 2, 0);
    CHECK_OK(born_sort(born_zeros(BORN_F32, BORN_DIMS(0, 3)), 1, false, &v, &i));
    CHECK_SHAPE(v, 0, 3);
    /* neither output wanted: validation only */
    CHECK_OK(born_sort(e, 1, false, NULL, NULL));
}

/* ---- topk ----------------------------------------------------------------------------------- */

TEST(topk_values_and_indices) {
    born_tensor *x = x_tensor(BORN_F32), *v = NULL, *i = NULL;
    CHECK_OK(born_topk(x, 3, 1, true, true, &v, &i));
    CHECK_SHAPE(v, 2, 3);
    CHECK_TENSOR_NEAR(v, ((double[]){NAN, NAN, 3, INFINITY, 7, 5}), 6, 0, 0);
    CHECK_TENSOR_NEAR(i, ((double[]){1, 8, 0, 4, 9, 5}), 6, 0, 0);
    /* smallest: 0.0 (index 4) before -0.0 (index 5): the lower index wins a tie */
    CHECK_OK(born_topk(x, 3, -1, false, true, &v, &i));
    CHECK_TENSOR_NEAR(v, ((double[]){-INFINITY, -1, 0, -2, -2, 0.5}), 6, 0, 0);
    CHECK_TENSOR_NEAR(i, ((double[]){6, 2, 4, 3, 6, 7}), 6, 0, 0);
    check_zero_signs(v, (double[]){-INFINITY, -1, 0, -2, -2, 0.5}, 6);
    /* k = size is the full descending stable sort */
    CHECK_OK(born_topk(x, 10, 1, true, true, &v, &i));
    CHECK_TENSOR_NEAR(v, sort_cases[2].values, 20, 0, 0);
    CHECK_TENSOR_NEAR(i, sort_cases[2].indices, 20, 0, 0);
    /* along dim 0 */
    CHECK_OK(born_topk(x, 1, 0, true, true, &v, &i));
    CHECK_SHAPE(v, 1, 10);
    CHECK_TENSOR_NEAR(i, ((double[]){0, 0, 1, 0, 1, 1, 1, 0, 0, 1}), 10, 0, 0);
    /* sorted = false: the same k elements, in ascending index order */
    CHECK_OK(born_topk(x, 3, 1, true, false, &v, &i));
    CHECK_TENSOR_NEAR(v, ((double[]){3, NAN, NAN, INFINITY, 5, 7}), 6, 0, 0);
    CHECK_TENSOR_NEAR(i, ((double[]){0, 1, 8, 4, 5, 9}), 6, 0, 0);
    /* k = 0 */
    CHECK_OK(born_topk(x, 0, 1, true, true, &v, &i));
    CHECK_SHAPE(v, 2, 0);
    CHECK_SHAPE(i, 2, 0);
    /* integers */
    born_tensor *n = tensor_of(BORN_I32, BORN_DIMS(6), (double[]){5, -1, 5, 9, -1, 0});
    CHECK_OK(born_topk(n, 2, 0, false, true, &v, &i));
    CHECK_EQ_INT(born_tensor_dtype(v), BORN_I32);
    CHECK_TENSOR_NEAR(v, ((double[]){-1, -1}), 2, 0, 0);
    CHECK_TENSOR_NEAR(i, ((double[]){1, 4}), 2, 0, 0);
}

/* The first k of the stable sort, against topk's heap path (k small against the row). */
TEST(topk_heap_path_agrees_with_sort) {
    const int64_t n = 1000;
    double *vals = malloc((size_t)(3 * n) * sizeof *vals);
    for (int64_t r = 0; r < 3; r++)
        for (int64_t j = 0; j < n; j++) {
            int64_t q = (j * 37 + r * 5) % 17; /* many ties */
            vals[r * n + j] = r == 2 && j % 97 == 3 ? NAN : (double)q;
        }
    born_tensor *x = tensor_of(BORN_F64, BORN_DIMS(3, 1000), vals);
    const bool largest[] = {true, false};
    const int64_t ks[] = {1, 5, 100, 250};
    for (int l = 0; l < 2; l++) {
        born_tensor *sv = NULL, *si = NULL;
        CHECK_OK(born_sort(x, 1, largest[l], &sv, &si));
        for (int kk = 0; kk < 4; kk++) {
            born_tensor *v = NULL, *i = NULL;
            CHECK_OK(born_topk(x, ks[kk], 1, largest[l], true, &v, &i));
            born_tensor *want_i = born_slice(si, 1, 0, ks[kk], 1);
            born_tensor *same = born_all(born_eq(i, want_i), 0, NULL, false);
            CHECK_MSG(same && born_item(same) == 1.0, "k = %lld, largest = %d", (long long)ks[kk],
                      (int)largest[l]);
            /* unsorted: the same set, in index order */
            born_tensor *uv = NULL, *ui = NULL;
            CHECK_OK(born_topk(x, ks[kk], 1, largest[l], false, &uv, &ui));
            born_tensor *sorted_ui = NULL;
            CHECK_OK(born_sort(want_i, 1, false, &sorted_ui, NULL));
            same = born_all(born_eq(ui, sorted_ui), 0, NULL, false);
            CHECK_MSG(same && born_item(same) == 1.0, "unsorted k = %lld", (long long)ks[kk]);
        }
    }
    /* the 5 largest of row 0 are the first five 16s */
    born_tensor *v = NULL, *i = NULL;
    CHECK_OK(born_topk(x, 5, 1, true, true, &v, &i));
    double want[5];
    int found = 0;
    for (int64_t j = 0; j < n && found < 5; j++)
        if ((j * 37) % 17 == 16) want[found++] = (double)j;
    CHECK_TENSOR_NEAR(born_select(i, 0, 0), want, 5, 0, 0);
    free(vals);
}

/* ---- gradients ------------------------------------------------------------------------------ */

TEST(sort_and_topk_gradients_scatter_back) {
    born_tensor *x = born_requires_grad(
        tensor_of(BORN_F32, BORN_DIMS(2, 3), (double[]){3, 1, 2, 5, 5, 4}), true);
    born_tensor *v = NULL;
    CHECK_OK(born_sort(x, 1, false, &v, NULL));
    CHECK(born_grad_fn_name(v) && strcmp(born_grad_fn_name(v), "SortBackward") == 0);
    born_tensor *w = tensor_of(BORN_F32, BORN_DIMS(3), (double[]){1, 10, 100});
    CHECK_OK(born_backward(born_sum(born_mul(v, w), 0, NULL, false)));
    /* row 0 sorts to 1 2 3 (indices 1 2 0); row 1 to 4 5 5 (indices 2 0 1) */
    CHECK_TENSOR_NEAR(born_grad(x), ((double[]){100, 1, 10, 10, 100, 1}), 6, 0, 0);
    born_zero_grad(x);

    born_tensor *tv = NULL, *ti = NULL;
    CHECK_OK(born_topk(x, 2, 0, true, true, &tv, &ti)); /* k = size along dim 0 */
    CHECK(born_grad_fn_name(tv) && strcmp(born_grad_fn_name(tv), "TopkBackward") == 0);
    CHECK_OK(born_topk(x, 1, 1, true, true, &tv, &ti));
    CHECK_OK(born_backward(born_sum(born_mul_scalar(tv, 3.0), 0, NULL, false)));
    CHECK_TENSOR_NEAR(born_grad(x), ((double[]){3, 0, 0, 3, 0, 0}), 6, 0, 0);
    CHECK_EQ_INT(born_tensor_dtype(born_grad(x)), BORN_F32);
    CHECK(!born_tensor_requires_grad(ti));
    CHECK(!born_tensor_requires_grad(born_argsort(x, 1, false)));

    /* 0-dim */
    born_tensor *s = born_requires_grad(born_scalar(BORN_F64, 4.0), true);
    CHECK_OK(born_sort(s, 0, false, &v, NULL));
    CHECK_OK(born_backward(born_mul_scalar(v, 2.0)));
    CHECK_NEAR(born_item(born_grad(s)), 2.0, 0);
}

typedef struct sort_fn_ctx {
    bool topk, flag;
    int64_t k;
    int dim;
} sort_fn_ctx;

static born_tensor *sort_fn(born_tensor *const *in, void *ctx) {
    const sort_fn_ctx *c = ctx;
    born_tensor *v = NULL, *i = NULL;
    if (c->topk)
        born_topk(in[0], c->k, c->dim, c->flag, true, &v, &i);
    else
        born_sort(in[0], c->dim, c->flag, &v, &i);
    born_free(i);
    return v;
}

TEST(sort_and_topk_gradcheck) {
    born_generator *gen = born_generator_new(9);
    born_tensor *x = born_requires_grad(born_randn(gen, BORN_F64, BORN_DIMS(3, 5)), true);
    const sort_fn_ctx cases[] = {
        {false, false, 0, 1}, {false, true, 0, 0}, {true, true, 2, 1},
        {true, false, 3, 0},  {true, true, 5, -1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        born_status st = born_gradcheck(sort_fn, 1, &x, (void *)&cases[c], NULL);
        CHECK_MSG(st == BORN_OK, "case %zu: %s", c, born_last_error());
        born_clear_error();
    }
    born_generator_free(gen);
}

TEST(sort_one_and_two_threads_agree) {
    int saved = born_get_num_threads();
    born_generator *gen = born_generator_new(1);
    born_tensor *x = born_randint(gen, 0, 50, BORN_I32, BORN_DIMS(64, 300));
    born_tensor *i1 = NULL, *i2 = NULL, *t1 = NULL, *t2 = NULL, *v = NULL;
    CHECK_OK(born_set_num_threads(1));
    CHECK_OK(born_sort(x, 1, true, NULL, &i1));
    CHECK_OK(born_topk(x, 7, 1, false, true, &v, &t1));
    CHECK_OK(born_set_num_threads(2));
    CHECK_OK(born_sort(x, 1, true, NULL, &i2));
    CHECK_OK(born_topk(x, 7, 1, false, true, &v, &t2));
    born_tensor *same = born_logical_and(born_all(born_eq(i1, i2), 0, NULL, false),
                                         born_all(born_eq(t1, t2), 0, NULL, false));
    CHECK(same && born_item(same) == 1.0);
    born_generator_free(gen);
    CHECK_OK(born_set_num_threads(saved));
}

/* ---- errors --------------------------------------------------------------------------------- */

TEST(sort_errors) {
    born_tensor *x = x_tensor(BORN_F32);
    born_tensor *v = (born_tensor *)&v, *i = (born_tensor *)&i; /* reset to NULL on failure */
    CHECK(born_sort(NULL, 0, false, &v, &i) == BORN_ERR_ARGUMENT && v == NULL && i == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_sort: input is NULL");
    CHECK(born_argsort(NULL, 0, false) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_argsort: input is NULL");
    CHECK(born_topk(NULL, 1, 0, true, true, &v, &i) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_topk: input is NULL");

    CHECK(born_sort(x, 2, false, &v, &i) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_sort: dimension 2 out of range");
    CHECK(born_argsort(x, -3, false) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_argsort: dimension -3 out of range");
    CHECK(born_topk(x, 1, 5, true, true, &v, &i) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_topk: dimension 5 out of range");

    CHECK(born_topk(x, 11, 1, true, true, &v, &i) == BORN_ERR_ARGUMENT && v == NULL && i == NULL);
    CHECK_ERROR(
        BORN_ERR_ARGUMENT,
        "born_topk: k = 11 is out of range for dimension 1 of size 10 of input [2, 10] f32");
    CHECK(born_topk(x, 3, 0, true, true, &v, &i) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "k = 3 is out of range for dimension 0 of size 2");
    CHECK(born_topk(x, -1, 1, true, true, &v, &i) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_topk: k = -1 is negative (input [2, 10] f32)");
    CHECK(born_topk(born_scalar(BORN_F32, 1), 2, 0, true, true, &v, &i) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "k = 2 is out of range");

    born_tensor *b = born_zeros(BORN_BOOL, BORN_DIMS(4));
    CHECK(born_topk(b, 1, 0, true, true, &v, &i) == BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "born_topk: input [4] bool: bool is not supported");
}

TEST(sort_backward_op_scatters_by_index) {
    born_tensor *g = tensor_of(BORN_F64, BORN_DIMS(2, 2), (double[]){1, 2, 3, 4});
    born_tensor *idx = tensor_of(BORN_I64, BORN_DIMS(2, 2), (double[]){2, 0, 1, 1});
    /* along dim 1 into size 3: repeated indices accumulate */
    CHECK_TENSOR_NEAR(sort_backward_op(g, idx, 1, 3), ((double[]){2, 0, 1, 0, 7, 0}), 6, 0, 0);
    /* along dim 0 into size 3 */
    born_tensor *r =
        sort_backward_op(g, tensor_of(BORN_I64, BORN_DIMS(2, 2), (double[]){2, 0, 0, 1}), 0, 3);
    CHECK_SHAPE(r, 3, 2);
    CHECK_TENSOR_NEAR(r, ((double[]){3, 2, 0, 4, 1, 0}), 6, 0, 0);
    CHECK(sort_backward_op(g, born_zeros(BORN_I64, BORN_DIMS(2, 3)), 1, 3) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "gradient [2, 2] f64 and indices [2, 3] i64");
    CHECK(sort_backward_op(g, born_zeros(BORN_I32, BORN_DIMS(2, 2)), 1, 3) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "must be i64");
    CHECK(sort_backward_op(g, idx, 2, 3) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension 2 out of range");
}
