/* Indexing: gather, scatter_add, index_select, embedding, one_hot.
 *
 * Reference values come from PyTorch 2.x:
 *   t = torch.arange(12.).reshape(3,4)
 *   torch.gather(t, 1, torch.tensor([[0,2,2],[3,1,0],[1,1,1]]))            # gather_d1
 *   torch.gather(t, 0, torch.tensor([[2,0,1,2],[0,0,2,1]]))                # gather_d0
 *   torch.gather(t.t(), 0, torch.tensor([[2,0,1],[1,2,0]]))                # gather_t (index
 *                                                                            transposed in C)
 *   base = torch.arange(12.).reshape(3,4) * 0.5
 *   src = torch.arange(1., 16.).reshape(3,5)
 *   torch.scatter_add(base, 1, torch.tensor([[0,0,3],[1,2,1],[3,3,3]]), src[:, :3])   # sc_d1
 *   torch.scatter_add(base, 0, torch.tensor([[2,0,0,1],[2,2,1,1]]), src[:2, :4])      # sc_d0
 *   torch.index_select(t, 0, torch.tensor([2,0,2,1]))                      # isel_d0
 *   torch.index_select(t, 1, torch.tensor([3,3,0]))                        # isel_d1
 *   F.embedding(torch.tensor([[1,3,3],[0,1,2]]), torch.arange(8.).reshape(4,2))  # emb
 *   F.one_hot(torch.tensor([[0,2],[1,4]])); F.one_hot(torch.tensor([3,0,1]), 6)  # one_hot */
#include <stdlib.h>
#include <string.h>

#include "test.h"

static const born_dtype all_dtypes[] = {BORN_F32, BORN_F64, BORN_F16, BORN_BF16, BORN_I8,
                                        BORN_I16, BORN_I32, BORN_I64, BORN_U8,  BORN_BOOL};
enum { NDTYPES = sizeof all_dtypes / sizeof all_dtypes[0] };

static born_tensor *t34(born_dtype dt) {
    return born_reshape(born_arange(0, 12, 1, dt), BORN_DIMS(3, 4));
}

static born_tensor *idx(int ndim, const int64_t *shape, const double *values) {
    return tensor_of(BORN_I64, ndim, shape, values);
}

/* ---- gather -------------------------------------------------------------------------------- */

TEST(gather_values) {
    born_tensor *t = t34(BORN_F32);
    born_tensor *i1 = idx(BORN_DIMS(3, 3), (double[]){0, 2, 2, 3, 1, 0, 1, 1, 1});
    born_tensor *y = born_gather(t, 1, i1);
    CHECK_SHAPE(y, 3, 3);
    CHECK_TENSOR_NEAR(y, ((double[]){0, 2, 2, 7, 5, 4, 9, 9, 9}), 9, 0, 0);
    CHECK_TENSOR_NEAR(born_gather(t, -1, i1), ((double[]){0, 2, 2, 7, 5, 4, 9, 9, 9}), 9, 0, 0);
    born_tensor *i0 = idx(BORN_DIMS(2, 4), (double[]){2, 0, 1, 2, 0, 0, 2, 1});
    born_tensor *z = born_gather(t, 0, i0);
    CHECK_SHAPE(z, 2, 4);
    CHECK_TENSOR_NEAR(z, ((double[]){8, 1, 6, 11, 0, 1, 10, 7}), 8, 0, 0);
    /* a transposed input and a transposed index */
    born_tensor *it = born_transpose(idx(BORN_DIMS(3, 2), (double[]){2, 1, 0, 2, 1, 0}), 0, 1);
    born_tensor *w = born_gather(born_transpose(t, 0, 1), 0, it);
    CHECK_SHAPE(w, 2, 3);
    CHECK_TENSOR_NEAR(w, ((double[]){2, 4, 9, 1, 6, 8}), 6, 0, 0);
    /* the index may be smaller than the input in other dimensions */
    born_tensor *small = born_gather(t, 1, idx(BORN_DIMS(1, 2), (double[]){3, 0}));
    CHECK_TENSOR_NEAR(small, ((double[]){3, 0}), 2, 0, 0);
}

TEST(gather_every_dtype) {
    for (int k = 0; k < NDTYPES; k++) {
        born_dtype dt = all_dtypes[k];
        born_tensor *t = tensor_of(dt, BORN_DIMS(2, 3), (double[]){1, 0, 1, 0, 0, 1});
        born_tensor *y = born_gather(t, 1, idx(BORN_DIMS(2, 2), (double[]){2, 1, 2, 2}));
        if (y) CHECK_EQ_INT(born_tensor_dtype(y), dt);
        CHECK_TENSOR_NEAR(y, ((double[]){1, 0, 1, 1}), 4, 0, 0);
    }
}

TEST(gather_edge_cases) {
    /* 0-dim tensors act as 1-D ones (torch: gather(tensor(5.), 0, tensor(0)) = tensor(5.)) */
    born_tensor *s = born_scalar(BORN_F32, 5);
    born_tensor *y = born_gather(s, 0, born_scalar(BORN_I64, 0));
    CHECK_SHAPE(y);
    CHECK_TENSOR_NEAR(y, ((double[]){5}), 1, 0, 0);
    CHECK_TENSOR_NEAR(born_gather(s, -1, idx(BORN_DIMS(2), (double[]){0, 0})), ((double[]){5, 5}), 2, 0, 0);
    born_tensor *v = born_gather(born_arange(5, 7, 1, BORN_F32), 0, born_scalar(BORN_I64, 1));
    CHECK_SHAPE(v);
    CHECK_TENSOR_NEAR(v, ((double[]){6}), 1, 0, 0);
    /* empty indices give empty results without checks, as torch */
    CHECK_SHAPE(born_gather(t34(BORN_F32), 1, born_zeros(BORN_I64, BORN_DIMS(5, 0))), 5, 0);
    CHECK_SHAPE(born_gather(t34(BORN_F32), 1, born_zeros(BORN_I64, BORN_DIMS(0, 7))), 0, 7);
}

TEST(gather_errors) {
    born_tensor *t = t34(BORN_F32);
    born_tensor *i = idx(BORN_DIMS(2, 2), (double[]){0, 1, 3, 4});
    CHECK(born_gather(t, 1, i) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_gather: index 4 is out of range for dimension 1 of size 4");
    CHECK(born_gather(t, 0, i) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "index 3 is out of range for dimension 0 of size 3");
    CHECK(born_gather(t, 1, idx(BORN_DIMS(1, 2), (double[]){-1, 0})) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "index -1 is out of range for dimension 1 of size 4");
    CHECK(born_gather(t, 1, born_zeros(BORN_I32, BORN_DIMS(2, 2))) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "index [2, 2] i32 must be i64");
    CHECK(born_gather(t, 1, born_zeros(BORN_F32, BORN_DIMS(2, 2))) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "must be i64");
    CHECK(born_gather(t, 0, idx(BORN_DIMS(2), (double[]){0, 1})) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "as many dimensions as the input [3, 4] f32");
    CHECK(born_gather(t, 1, born_zeros(BORN_I64, BORN_DIMS(4, 1))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "larger than the input [3, 4] f32 at dimension 0");
    CHECK(born_gather(t, 2, i) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension 2 out of range");
    CHECK(born_gather(born_zeros(BORN_F32, BORN_DIMS(2, 0)), 1, born_zeros(BORN_I64, BORN_DIMS(2, 1))) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "index 0 is out of range for dimension 1 of size 0");
    CHECK(born_gather(t, 1, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "input 1 is NULL");
}

/* ---- scatter_add --------------------------------------------------------------------------- */

TEST(scatter_add_values) {
    born_tensor *base = born_mul_scalar(t34(BORN_F32), 0.5);
    born_tensor *src = born_reshape(born_arange(1, 16, 1, BORN_F32), BORN_DIMS(3, 5));
    born_tensor *i1 = idx(BORN_DIMS(3, 3), (double[]){0, 0, 3, 1, 2, 1, 3, 3, 3});
    born_tensor *y = born_scatter_add(base, 1, i1, src); /* src larger than index: a corner is used */
    CHECK_SHAPE(y, 3, 4);
    CHECK_TENSOR_NEAR(y, ((double[]){3, 0.5, 1, 4.5, 2, 16.5, 10, 3.5, 4, 4.5, 5, 41.5}), 12, 0, 0);
    CHECK(y && !born_tensor_shares_storage(y, base));
    CHECK_TENSOR_NEAR(base, ((double[]){0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5}), 12, 0, 0);
    born_tensor *i0 = idx(BORN_DIMS(2, 4), (double[]){2, 0, 0, 1, 2, 2, 1, 1});
    born_tensor *z = born_scatter_add(base, -2, i0, born_slice(src, 1, 0, 4, 1));
    CHECK_TENSOR_NEAR(z, ((double[]){0, 2.5, 4, 1.5, 2, 2.5, 11, 16.5, 11, 11.5, 5, 5.5}), 12, 0, 0);
    /* a transposed base, src and index give the same as contiguous ones */
    born_tensor *bt = born_transpose(born_contiguous(born_transpose(base, 0, 1)), 0, 1);
    born_tensor *it = born_transpose(born_contiguous(born_transpose(i1, 0, 1)), 0, 1);
    born_tensor *w = born_scatter_add(bt, 1, it, born_transpose(born_contiguous(born_transpose(src, 0, 1)), 0, 1));
    CHECK_TENSOR_NEAR(w, ((double[]){3, 0.5, 1, 4.5, 2, 16.5, 10, 3.5, 4, 4.5, 5, 41.5}), 12, 0, 0);
    /* an empty index returns a copy */
    CHECK_TENSOR_NEAR(born_scatter_add(base, 1, born_zeros(BORN_I64, BORN_DIMS(0)), src),
                      ((double[]){0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5}), 12, 0, 0);
}

TEST(scatter_add_every_dtype) {
    /* torch.scatter_add(zeros(2,3), 1, [[0,0],[2,2]], ones(2,2)) = [[2,0,0],[0,0,2]] */
    for (int k = 0; k < NDTYPES; k++) {
        born_dtype dt = all_dtypes[k];
        born_tensor *y = born_scatter_add(born_zeros(dt, BORN_DIMS(2, 3)), 1,
                                          idx(BORN_DIMS(2, 2), (double[]){0, 0, 2, 2}),
                                          born_ones(dt, BORN_DIMS(2, 2)));
        if (y) CHECK_EQ_INT(born_tensor_dtype(y), dt);
        double two = dt == BORN_BOOL ? 1 : 2; /* bool adds as logical or */
        CHECK_TENSOR_NEAR(y, ((double[]){two, 0, 0, 0, 0, two}), 6, 0, 0);
    }
    /* integers wrap: torch.scatter_add(zeros(1,2,dtype=int8), 1, [[0,0]], full((1,2),100,int8)) */
    born_tensor *w = born_scatter_add(born_zeros(BORN_I8, BORN_DIMS(1, 2)), 1,
                                      idx(BORN_DIMS(1, 2), (double[]){0, 0}),
                                      born_full(BORN_I8, BORN_DIMS(1, 2), 100));
    CHECK_TENSOR_NEAR(w, ((double[]){-56, 0}), 2, 0, 0);
    /* f16 accumulates in f32 and rounds once */
    born_tensor *h = born_scatter_add(born_zeros(BORN_F16, BORN_DIMS(1, 2)), 1,
                                      idx(BORN_DIMS(1, 2), (double[]){1, 1}),
                                      born_full(BORN_F16, BORN_DIMS(1, 2), 100));
    CHECK_TENSOR_NEAR(h, ((double[]){0, 200}), 2, 0, 0);
}

TEST(scatter_add_errors) {
    born_tensor *t = born_zeros(BORN_F32, BORN_DIMS(2, 3));
    born_tensor *src = born_ones(BORN_F32, BORN_DIMS(3, 3));
    CHECK(born_scatter_add(t, 1, idx(BORN_DIMS(1, 2), (double[]){0, 5}), src) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_scatter_add: index 5 is out of range for dimension 1 of size 3");
    CHECK(born_scatter_add(t, 0, idx(BORN_DIMS(2, 1), (double[]){1, -2}), src) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "index -2 is out of range for dimension 0 of size 2");
    CHECK(born_scatter_add(t, 1, born_zeros(BORN_I32, BORN_DIMS(1, 1)), src) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "index [1, 1] i32 must be i64");
    CHECK(born_scatter_add(t, 1, born_zeros(BORN_I64, BORN_DIMS(1, 1)), born_ones(BORN_F64, BORN_DIMS(1, 1))) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "src [1, 1] f64 must have the input's dtype");
    CHECK(born_scatter_add(t, 1, born_zeros(BORN_I64, BORN_DIMS(2)), src) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "same number of dimensions");
    CHECK(born_scatter_add(t, 1, born_zeros(BORN_I64, BORN_DIMS(1, 4)), src) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "no larger than src [3, 3] f32 (dimension 1 differs)");
    CHECK(born_scatter_add(t, 1, born_zeros(BORN_I64, BORN_DIMS(3, 1)), src) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "(dimension 0 differs)");
    CHECK(born_scatter_add(t, -3, born_zeros(BORN_I64, BORN_DIMS(1, 1)), src) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension -3 out of range");
}

/* Accumulation order: each element receives its additions in index order, whatever the thread
 * count, so the results are bit-identical with 1 and 2 threads and equal a plain serial loop. */
TEST(scatter_add_and_index_add_do_not_depend_on_threads) {
    int saved = born_get_num_threads();
    born_generator *gen = born_generator_new(7);
    enum { R = 40, C = 64, N = 3000 };
    born_tensor *index0 = born_randint(gen, 0, R, BORN_I64, BORN_DIMS(N, C)); /* along dim 0 */
    born_tensor *index1 = born_randint(gen, 0, C, BORN_I64, BORN_DIMS(R, N)); /* along dim 1 */
    born_tensor *src0 = born_randn(gen, BORN_F32, BORN_DIMS(N, C));
    born_tensor *src1 = born_randn(gen, BORN_F32, BORN_DIMS(R, N));
    born_tensor *rows = born_randint(gen, 0, R, BORN_I64, BORN_DIMS(N));
    born_tensor *weight = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(R, C)), true);
    born_tensor *g = born_randn(gen, BORN_F32, BORN_DIMS(N, C));
    float *results[2][3];
    for (int run = 0; run < 2; run++) {
        CHECK_OK(born_set_num_threads(run == 0 ? 1 : 2));
        born_tensor *a = born_scatter_add(born_zeros(BORN_F32, BORN_DIMS(R, C)), 0, index0, src0);
        born_tensor *b = born_scatter_add(born_zeros(BORN_F32, BORN_DIMS(R, C)), 1, index1, src1);
        born_zero_grad(weight);
        born_backward_params p = born_backward_default_params();
        p.grad = g;
        CHECK_OK(born_backward_ex(born_embedding(weight, rows), &p)); /* index_add */
        born_tensor *outs[3] = {a, b, born_grad(weight)};
        for (int k = 0; k < 3; k++) {
            results[run][k] = malloc(sizeof(float) * R * C);
            CHECK(outs[k] && born_copy_to_buffer(outs[k], results[run][k], sizeof(float) * R * C) == BORN_OK);
        }
    }
    CHECK_OK(born_set_num_threads(saved));
    for (int k = 0; k < 3; k++) CHECK(memcmp(results[0][k], results[1][k], sizeof(float) * R * C) == 0);
    /* the same sums done serially here, in index order */
    float *ref = calloc(R * C, sizeof(float));
    const int64_t *i0 = born_data_i64(index0), *rr = born_data_i64(rows);
    const float *s0 = born_data_f32(src0), *gg = born_data_f32(g);
    for (int j = 0; j < N; j++)
        for (int c = 0; c < C; c++) ref[i0[j * C + c] * C + c] += s0[j * C + c];
    CHECK(memcmp(ref, results[0][0], sizeof(float) * R * C) == 0);
    memset(ref, 0, sizeof(float) * R * C);
    for (int j = 0; j < N; j++)
        for (int c = 0; c < C; c++) ref[rr[j] * C + c] += gg[j * C + c];
    CHECK(memcmp(ref, results[0][2], sizeof(float) * R * C) == 0);
    free(ref);
    for (int run = 0; run < 2; run++)
        for (int k = 0; k < 3; k++) free(results[run][k]);
    born_generator_free(gen);
}

/* ---- index_select -------------------------------------------------------------------------- */

TEST(index_select_values) {
    born_tensor *t = t34(BORN_F32);
    born_tensor *y = born_index_select(t, 0, idx(BORN_DIMS(4), (double[]){2, 0, 2, 1}));
    CHECK_SHAPE(y, 4, 4);
    CHECK_TENSOR_NEAR(y, ((double[]){8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7}), 16, 0, 0);
    born_tensor *i32 = tensor_of(BORN_I32, BORN_DIMS(3), (double[]){3, 3, 0});
    born_tensor *z = born_index_select(t, -1, i32);
    CHECK_SHAPE(z, 3, 3);
    CHECK_TENSOR_NEAR(z, ((double[]){3, 3, 0, 7, 7, 4, 11, 11, 8}), 9, 0, 0);
    /* transposed input, sliced (strided) index */
    born_tensor *step = born_slice(idx(BORN_DIMS(6), (double[]){3, 9, 3, 9, 0, 9}), 0, 0, 6, 2);
    born_tensor *w = born_index_select(born_transpose(t, 0, 1), 0, step);
    CHECK_TENSOR_NEAR(w, ((double[]){3, 7, 11, 3, 7, 11, 0, 4, 8}), 9, 0, 0);
    /* a 0-dim index keeps the dimension with size 1; a 0-dim input takes one index */
    born_tensor *one = born_index_select(t, 1, born_scalar(BORN_I64, 1));
    CHECK_SHAPE(one, 3, 1);
    CHECK_TENSOR_NEAR(one, ((double[]){1, 5, 9}), 3, 0, 0);
    born_tensor *s = born_index_select(born_scalar(BORN_F64, 4), 0, idx(BORN_DIMS(1), (double[]){0}));
    CHECK_SHAPE(s);
    CHECK_TENSOR_NEAR(s, ((double[]){4}), 1, 0, 0);
    /* empty index / empty input */
    CHECK_SHAPE(born_index_select(t, 1, born_zeros(BORN_I64, BORN_DIMS(0))), 3, 0);
    CHECK_SHAPE(born_index_select(born_zeros(BORN_F32, BORN_DIMS(0, 3)), 0, born_zeros(BORN_I64, BORN_DIMS(0))), 0, 3);
    CHECK_SHAPE(born_index_select(born_zeros(BORN_F32, BORN_DIMS(0, 3)), 1, idx(BORN_DIMS(2), (double[]){2, 0})), 0, 2);
    for (int k = 0; k < NDTYPES; k++) {
        born_tensor *d = tensor_of(all_dtypes[k], BORN_DIMS(2, 2), (double[]){1, 0, 0, 1});
        born_tensor *r = born_index_select(d, 1, idx(BORN_DIMS(3), (double[]){1, 1, 0}));
        if (r) CHECK_EQ_INT(born_tensor_dtype(r), all_dtypes[k]);
        CHECK_TENSOR_NEAR(r, ((double[]){0, 0, 1, 1, 1, 0}), 6, 0, 0);
    }
}

TEST(index_select_errors) {
    born_tensor *t = t34(BORN_F32);
    CHECK(born_index_select(t, 1, idx(BORN_DIMS(3), (double[]){0, 4, 9})) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_index_select: index 4 is out of range for dimension 1 of size 4");
    CHECK(born_index_select(t, 0, tensor_of(BORN_I32, BORN_DIMS(1), (double[]){-1})) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "index -1 is out of range for dimension 0 of size 3");
    CHECK(born_index_select(t, 0, born_zeros(BORN_F32, BORN_DIMS(1))) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "index [1] f32 must be i32 or i64");
    CHECK(born_index_select(t, 0, born_zeros(BORN_I16, BORN_DIMS(1))) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "must be i32 or i64");
    CHECK(born_index_select(t, 0, born_zeros(BORN_I64, BORN_DIMS(1, 1))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "index [1, 1] i64 must be 1-D");
    CHECK(born_index_select(born_scalar(BORN_F32, 1), 0, born_zeros(BORN_I64, BORN_DIMS(2))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "must hold one value, not 2");
    CHECK(born_index_select(born_zeros(BORN_F32, BORN_DIMS(0, 3)), 0, born_zeros(BORN_I64, BORN_DIMS(1))) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "index 0 is out of range for dimension 0 of size 0");
    CHECK(born_index_select(t, 2, born_zeros(BORN_I64, BORN_DIMS(1))) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "dimension 2 out of range");
}

/* ---- embedding ----------------------------------------------------------------------------- */

TEST(embedding_values) {
    born_tensor *w = born_reshape(born_arange(0, 8, 1, BORN_F32), BORN_DIMS(4, 2));
    born_tensor *y = born_embedding(w, idx(BORN_DIMS(2, 3), (double[]){1, 3, 3, 0, 1, 2}));
    CHECK_SHAPE(y, 2, 3, 2);
    CHECK_TENSOR_NEAR(y, ((double[]){2, 3, 6, 7, 6, 7, 0, 1, 2, 3, 4, 5}), 12, 0, 0);
    born_tensor *s = born_embedding(w, born_scalar(BORN_I32, 2));
    CHECK_SHAPE(s, 2);
    CHECK_TENSOR_NEAR(s, ((double[]){4, 5}), 2, 0, 0);
    /* a transposed weight and a transposed index */
    born_tensor *wt = born_transpose(born_reshape(born_arange(0, 8, 1, BORN_F64), BORN_DIMS(2, 4)), 0, 1);
    born_tensor *it = born_transpose(tensor_of(BORN_I32, BORN_DIMS(2, 2), (double[]){0, 1, 3, 2}), 0, 1);
    CHECK_TENSOR_NEAR(born_embedding(wt, it), ((double[]){0, 4, 3, 7, 1, 5, 2, 6}), 8, 0, 0);
    CHECK_SHAPE(born_embedding(w, born_zeros(BORN_I64, BORN_DIMS(0, 3))), 0, 3, 2);
    for (int k = 0; k < NDTYPES; k++) {
        born_tensor *d = tensor_of(all_dtypes[k], BORN_DIMS(2, 2), (double[]){1, 0, 0, 1});
        born_tensor *r = born_embedding(d, idx(BORN_DIMS(3), (double[]){1, 1, 0}));
        if (r) CHECK_EQ_INT(born_tensor_dtype(r), all_dtypes[k]);
        CHECK_TENSOR_NEAR(r, ((double[]){0, 1, 0, 1, 1, 0}), 6, 0, 0);
    }
}

TEST(embedding_errors) {
    born_tensor *w = born_zeros(BORN_F32, BORN_DIMS(4, 2));
    CHECK(born_embedding(w, idx(BORN_DIMS(2, 2), (double[]){0, 1, 4, 2})) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_embedding: index 4 is out of range for dimension 0 of size 4");
    CHECK(born_embedding(w, idx(BORN_DIMS(1), (double[]){-1})) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "index -1 is out of range");
    CHECK(born_embedding(w, born_zeros(BORN_F32, BORN_DIMS(1))) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "indices [1] f32 must be i32 or i64");
    CHECK(born_embedding(born_zeros(BORN_F32, BORN_DIMS(4)), born_zeros(BORN_I64, BORN_DIMS(1))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "weight [4] f32 must be 2-D");
    CHECK(born_embedding(w, born_zeros(BORN_I64, BORN_DIMS(1, 1, 1, 1, 1, 1, 1, 1))) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "no room");
}

TEST(embedding_gradient_accumulates_repeats) {
    born_tensor *w = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(4, 2)), true);
    born_tensor *i = idx(BORN_DIMS(2, 3), (double[]){1, 3, 3, 0, 1, 1});
    born_tensor *y = born_embedding(w, i);
    born_tensor *g = born_reshape(born_arange(1, 13, 1, BORN_F32), BORN_DIMS(2, 3, 2));
    born_backward_params p = born_backward_default_params();
    p.grad = g;
    CHECK_OK(born_backward_ex(y, &p));
    /* torch: w.grad = [[7,8],[1+9+11, 2+10+12],[0,0],[3+5, 4+6]] */
    CHECK_TENSOR_NEAR(born_grad(w), ((double[]){7, 8, 21, 24, 0, 0, 8, 10}), 8, 0, 0);
    CHECK(strcmp(born_grad_fn_name(y), "EmbeddingBackward") == 0);
}

/* ---- one_hot ------------------------------------------------------------------------------- */

TEST(one_hot_values) {
    born_tensor *y = born_one_hot(idx(BORN_DIMS(2, 2), (double[]){0, 2, 1, 4}), -1);
    CHECK_SHAPE(y, 2, 2, 5);
    if (y) CHECK_EQ_INT(born_tensor_dtype(y), BORN_I64);
    CHECK_TENSOR_NEAR(y, ((double[]){1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}), 20, 0, 0);
    born_tensor *z = born_one_hot(tensor_of(BORN_I32, BORN_DIMS(3), (double[]){3, 0, 1}), 6);
    CHECK_SHAPE(z, 3, 6);
    CHECK_TENSOR_NEAR(z, ((double[]){0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}), 18, 0, 0);
    born_tensor *s = born_one_hot(born_scalar(BORN_U8, 2), -1);
    CHECK_SHAPE(s, 3);
    CHECK_TENSOR_NEAR(s, ((double[]){0, 0, 1}), 3, 0, 0);
    born_tensor *t = born_one_hot(born_transpose(idx(BORN_DIMS(2, 1), (double[]){1, 0}), 0, 1), 2);
    CHECK_SHAPE(t, 1, 2, 2);
    CHECK_TENSOR_NEAR(t, ((double[]){0, 1, 1, 0}), 4, 0, 0);
    born_tensor *e = born_one_hot(born_zeros(BORN_I64, BORN_DIMS(0)), 3);
    CHECK_SHAPE(e, 0, 3);
    int64_t kinds[] = {BORN_I8, BORN_I16, BORN_I32, BORN_I64, BORN_U8};
    for (int k = 0; k < 5; k++)
        CHECK_TENSOR_NEAR(born_one_hot(tensor_of((born_dtype)kinds[k], BORN_DIMS(2), (double[]){1, 0}), 2),
                          ((double[]){0, 1, 1, 0}), 4, 0, 0);
}

TEST(one_hot_errors) {
    CHECK(born_one_hot(idx(BORN_DIMS(3), (double[]){0, -2, 1}), -1) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "class -2 in [3] i64 is negative");
    CHECK(born_one_hot(idx(BORN_DIMS(3), (double[]){0, 2, 1}), 2) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "class 2 in [3] i64 is out of range for num_classes 2");
    CHECK(born_one_hot(idx(BORN_DIMS(1), (double[]){0}), 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "out of range for num_classes 0");
    CHECK(born_one_hot(born_zeros(BORN_F32, BORN_DIMS(2)), -1) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "[2] f32 must have an integer dtype");
    CHECK(born_one_hot(born_zeros(BORN_BOOL, BORN_DIMS(2)), -1) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "integer dtype");
    CHECK(born_one_hot(born_zeros(BORN_I64, BORN_DIMS(0)), -1) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "cannot infer the number of classes");
    CHECK(born_one_hot(idx(BORN_DIMS(1), (double[]){0}), -2) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "not -2");
    CHECK(born_one_hot(NULL, 3) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "input is NULL");
}

/* ---- gradients ----------------------------------------------------------------------------- */

typedef struct index_ctx {
    born_tensor *index;
    int dim;
} index_ctx;

static born_tensor *gather_fn(born_tensor *const *in, void *ctx) {
    const index_ctx *c = ctx;
    return born_square(born_gather(born_transpose(in[0], 0, 1), c->dim, c->index));
}

static born_tensor *scatter_fn(born_tensor *const *in, void *ctx) {
    const index_ctx *c = ctx;
    born_tensor *y = born_scatter_add(born_mul(in[0], in[0]), c->dim, c->index, in[1]);
    return born_mul(y, y);
}

static born_tensor *index_select_fn(born_tensor *const *in, void *ctx) {
    const index_ctx *c = ctx;
    return born_exp(born_index_select(in[0], c->dim, c->index));
}

static born_tensor *embedding_fn(born_tensor *const *in, void *ctx) {
    const index_ctx *c = ctx;
    born_tensor *y = born_embedding(in[0], c->index);
    return born_mul(y, y);
}

TEST(index_ops_gradcheck) {
    /* gather with repeated indices from a transposed [4, 3] input */
    born_tensor *x = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(3, 4)), true);
    index_ctx g = {idx(BORN_DIMS(2, 3), (double[]){0, 2, 2, 1, 1, 2}), 1};
    CHECK_OK(born_gradcheck(gather_fn, 1, &x, &g, NULL));
    index_ctx g0 = {idx(BORN_DIMS(3, 3), (double[]){3, 0, 1, 3, 3, 2, 0, 0, 0}), 0};
    CHECK_OK(born_gradcheck(gather_fn, 1, &x, &g0, NULL));
    /* scatter_add with respect to both inputs, src larger than the index */
    born_tensor *t = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(2, 3)), true);
    born_tensor *src = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(3, 4)), true);
    index_ctx s = {idx(BORN_DIMS(2, 2), (double[]){2, 2, 0, 1}), 1};
    born_tensor *both[] = {t, src};
    CHECK_OK(born_gradcheck(scatter_fn, 2, both, &s, NULL));
    index_ctx s0 = {idx(BORN_DIMS(3, 3), (double[]){1, 0, 1, 1, 1, 0, 0, 0, 0}), 0};
    CHECK_OK(born_gradcheck(scatter_fn, 2, both, &s0, NULL));
    /* a 0-dim index into 1-D tensors: torch.scatter_add(t, 0, tensor(1), src) adds src[0] at 1 */
    born_tensor *t1 = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(3)), true);
    born_tensor *src1 = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(2)), true);
    index_ctx sc = {born_scalar(BORN_I64, 1), 0};
    born_tensor *both1[] = {t1, src1};
    CHECK_OK(born_gradcheck(scatter_fn, 2, both1, &sc, NULL));
    /* index_select with repeats, along both dims */
    index_ctx i1 = {idx(BORN_DIMS(5), (double[]){3, 0, 3, 3, 1}), -1};
    CHECK_OK(born_gradcheck(index_select_fn, 1, &x, &i1, NULL));
    index_ctx i0 = {tensor_of(BORN_I32, BORN_DIMS(4), (double[]){2, 2, 0, 2}), 0};
    CHECK_OK(born_gradcheck(index_select_fn, 1, &x, &i0, NULL));
    /* embedding with repeated indices */
    born_tensor *w = born_requires_grad(born_randn(NULL, BORN_F64, BORN_DIMS(4, 3)), true);
    index_ctx e = {idx(BORN_DIMS(2, 3), (double[]){1, 3, 1, 1, 0, 3}), 0};
    CHECK_OK(born_gradcheck(embedding_fn, 1, &w, &e, NULL));
}

/* Gradients accumulate repeated indices and come back in the input's dtype (bf16 included). */
TEST(index_gradients_accumulate_in_the_input_dtype) {
    born_tensor *x = born_requires_grad(born_ones(BORN_F32, BORN_DIMS(3)), true);
    born_tensor *y = born_index_select(x, 0, idx(BORN_DIMS(4), (double[]){2, 2, 0, 2}));
    CHECK_OK(born_backward(born_sum(y, 0, NULL, false)));
    CHECK_TENSOR_NEAR(born_grad(x), ((double[]){1, 0, 3}), 3, 0, 0);
    CHECK_EQ_INT(born_tensor_dtype(born_grad(x)), BORN_F32);
    born_tensor *h = born_requires_grad(born_ones(BORN_BF16, BORN_DIMS(2, 2)), true);
    born_tensor *z = born_gather(h, 0, idx(BORN_DIMS(3, 2), (double[]){1, 1, 1, 0, 1, 1}));
    CHECK_OK(born_backward(born_sum(z, 0, NULL, false)));
    CHECK_EQ_INT(born_tensor_dtype(born_grad(h)), BORN_BF16);
    CHECK_TENSOR_NEAR(born_grad(h), ((double[]){0, 1, 3, 2}), 4, 0, 0);
}
