/* clip_grad_norm_ and clip_grad_value_ against torch (torch_ref.h). */
#include "optim/problem.h"
#include "optim/torch_ref.h"

static void set_grads(born_tensor **ps, born_dtype dtype) {
    ps[0] = born_requires_grad(born_zeros(dtype, BORN_DIMS(2, 2)), true);
    ps[1] = born_requires_grad(born_zeros(dtype, BORN_DIMS(3)), true);
    ps[2] = born_requires_grad(born_zeros(dtype, BORN_DIMS(5)), true); /* no grad: skipped */
    CHECK_OK(born_set_grad(ps[0], tensor_of(dtype, BORN_DIMS(2, 2), (double[]){3, -4, 1, 2.5})));
    CHECK_OK(born_set_grad(ps[1], tensor_of(dtype, BORN_DIMS(3), (double[]){0.5, -12, 0.25})));
}

TEST(clip_grad_norm_matches_torch) {
    for (size_t i = 0; i < sizeof REF_CLIPS / sizeof *REF_CLIPS; i++) {
        const ref_clip *r = &REF_CLIPS[i];
        born_tensor *ps[3];
        set_grads(ps, r->dtype);
        double total = -1;
        CHECK_OK(born_clip_grad_norm(ps, 3, r->max_norm, r->norm_type, &total));
        double tol = r->dtype == BORN_F64 ? 1e-12 : 1e-6;
        CHECK_NEAR(total, r->total, tol * r->total);
        double g[7];
        CHECK(test_read(born_grad(ps[0]), g, 4));
        CHECK(test_read(born_grad(ps[1]), g + 4, 3));
        for (int k = 0; k < 7; k++)
            CHECK_MSG(fabs(g[k] - r->grads[k]) <= tol * fabs(r->grads[k]) + 1e-300,
                      "case %zu grad %d: %.17g vs torch %.17g", i, k, g[k], r->grads[k]);
        CHECK(born_grad(ps[2]) == NULL);
    }
}

TEST(clip_grad_norm_edge_cases) {
    born_tensor *ps[3];
    set_grads(ps, BORN_F32);
    double total = -1;
    CHECK_OK(born_clip_grad_norm(ps + 2, 1, 1.0, 2.0, &total)); /* no gradients at all */
    CHECK(total == 0);
    CHECK_OK(born_clip_grad_norm(ps, 3, 1.0, 2.0, NULL)); /* total_norm may be NULL */
    /* a NaN gradient makes the total NaN and every gradient NaN, as torch */
    CHECK_OK(born_set_grad(ps[1], tensor_of(BORN_F32, BORN_DIMS(3), (double[]){1, NAN, 2})));
    CHECK_OK(born_clip_grad_norm(ps, 3, 1.0, 2.0, &total));
    CHECK(isnan(total));
    double g[4];
    CHECK(test_read(born_grad(ps[0]), g, 4));
    CHECK(isnan(g[0]) && isnan(g[3]));
    CHECK(born_clip_grad_norm(ps, 3, 1.0, 0.0, &total) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "norm_type");
    CHECK(born_clip_grad_norm(ps, 3, 1.0, -INFINITY, &total) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "norm_type");
    born_tensor *withnull[2] = {ps[0], NULL};
    CHECK(born_clip_grad_norm(withnull, 2, 1.0, 2.0, &total) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "parameter 1 is NULL");
}

TEST(clip_grad_value_clamps) {
    born_tensor *ps[3];
    set_grads(ps, BORN_F64);
    CHECK_OK(born_clip_grad_value(ps, 3, 2.0));
    CHECK_TENSOR_NEAR(born_grad(ps[0]), ((double[]){2, -2, 1, 2}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_grad(ps[1]), ((double[]){0.5, -2, 0.25}), 3, 0, 0);
    CHECK(born_grad(ps[2]) == NULL);
    CHECK(born_clip_grad_value(ps, 3, -1) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "clip_value");
}
