/* Mixed precision on the CPU: autocast regions (linear, matmul and attention in the region's
 * dtype with f32 parameters, gradients arriving in f32, nesting, backward outside the region)
 * and the GradScaler (unscaled gradients equal the unscaled run's, skipped steps on inf/NaN,
 * backoff and growth of the scale). The same on CUDA is in tests/backend/test_cuda_fused.c. */
#include <math.h>

#include "born/born.h"
#include "test.h"

/* max |a - b| over the elements, in f64 (inf when either is NULL or the shapes differ). */
static double max_diff(born_tensor *a, born_tensor *b) {
    if (!a || !b || born_tensor_numel(a) != born_tensor_numel(b)) return INFINITY;
    born_scope_begin();
    born_tensor *d = born_max(
        born_abs(born_sub(born_to_dtype(a, BORN_F64), born_to_dtype(b, BORN_F64))), 0, NULL, false);
    double v = d ? born_item(d) : INFINITY;
    born_scope_end();
    return v;
}

TEST(amp_autocast_linear_matmul_attention) {
    born_scope_begin();
    born_generator *g = born_generator_new(7);
    born_tensor *x = born_requires_grad(born_randn(g, BORN_F32, BORN_DIMS(6, 16)), true);
    born_tensor *w = born_requires_grad(born_randn(g, BORN_F32, BORN_DIMS(8, 16)), true);
    born_tensor *b = born_requires_grad(born_randn(g, BORN_F32, BORN_DIMS(8)), true);
    born_tensor *r = born_randn(g, BORN_F32, BORN_DIMS(6, 8));
    CHECK(born_autocast_dtype() == BORN_F32);
    CHECK_OK(born_autocast_begin(BORN_BF16));
    CHECK(born_autocast_dtype() == BORN_BF16);
    born_tensor *y = born_linear(x, w, b);
    born_tensor *m = born_matmul(x, born_transpose(w, 0, 1));
    born_tensor *x64 = born_randn(g, BORN_F64, BORN_DIMS(2, 3));
    born_tensor *m64 = born_matmul(x64, born_transpose(x64, 0, 1));
    born_autocast_end();
    CHECK(born_autocast_dtype() == BORN_F32);
    CHECK_OK_TENSOR(y);
    CHECK(y && born_tensor_dtype(y) == BORN_BF16);
    CHECK(m && born_tensor_dtype(m) == BORN_BF16);
    CHECK(m64 && born_tensor_dtype(m64) == BORN_F64); /* f64 is not cast */
    /* the reference: the same layer on bf16 copies (autograd through the casts) */
    born_tensor *xr = born_requires_grad(born_clone(born_detach(x)), true);
    born_tensor *wr = born_requires_grad(born_clone(born_detach(w)), true);
    born_tensor *br = born_requires_grad(born_clone(born_detach(b)), true);
    born_tensor *yr = born_linear(born_to_dtype(xr, BORN_BF16), born_to_dtype(wr, BORN_BF16),
                                  born_to_dtype(br, BORN_BF16));
    CHECK(max_diff(y, yr) == 0.0);
    CHECK(born_linear(x, w, b) &&
          born_tensor_dtype(born_linear(x, w, b)) == BORN_F32); /* outside: f32 */
    /* backward inside a region still runs the rules outside it; gradients arrive in f32 */
    CHECK_OK(born_autocast_begin(BORN_BF16));
    CHECK_OK(born_backward(born_sum(born_mul(y, born_to_dtype(r, BORN_BF16)), 0, NULL, false)));
    CHECK(born_autocast_dtype() == BORN_BF16);
    born_autocast_end();
    CHECK_OK(born_backward(born_sum(born_mul(yr, born_to_dtype(r, BORN_BF16)), 0, NULL, false)));
    CHECK(born_grad(w) && born_tensor_dtype(born_grad(w)) == BORN_F32);
    CHECK(max_diff(born_grad(w), born_grad(wr)) == 0.0);
    CHECK(max_diff(born_grad(x), born_grad(xr)) == 0.0);
    CHECK(max_diff(born_grad(b), born_grad(br)) == 0.0);
    /* attention: f32 q, k, v give a result in the region's dtype */
    born_tensor *q = born_randn(g, BORN_F32, BORN_DIMS(1, 2, 5, 8));
    CHECK_OK(born_autocast_begin(BORN_F16));
    born_sdpa_params p = born_sdpa_default_params();
    born_tensor *a = born_scaled_dot_product_attention(q, q, q, NULL, &p);
    born_autocast_end();
    CHECK(a && born_tensor_dtype(a) == BORN_F16);
    /* nesting and bad arguments */
    CHECK_OK(born_autocast_begin(BORN_BF16));
    CHECK_OK(born_autocast_begin(BORN_F16));
    CHECK(born_autocast_dtype() == BORN_F16);
    born_autocast_end();
    CHECK(born_autocast_dtype() == BORN_BF16);
    born_autocast_end();
    born_autocast_end(); /* outside any region: nothing */
    CHECK(born_autocast_dtype() == BORN_F32);
    CHECK(born_autocast_begin(BORN_F32) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "bf16 or f16");
    born_generator_free(g);
    born_scope_end();
}

/* One f32 tensor cast to bf16 for two uses (as autocast casts the layer norm's output for q, k
 * and v): the second bf16 gradient is added to the first's f32 sum as a mixed operand, which must
 * give the bits of converting it first, that is, the f32 sum of the two terms' own gradients (two
 * addends: the order cannot matter), for a leaf and for an inner node. */
TEST(amp_half_gradients_add_into_an_f32_sum) {
    born_scope_begin();
    born_generator *g = born_generator_new(11);
    born_tensor *x0 = born_randn(g, BORN_F32, BORN_DIMS(5, 37));
    born_tensor *r = born_randn(g, BORN_F32, BORN_DIMS(5, 37));
    for (int through_node = 0; through_node < 2; through_node++) {
        born_tensor *grads[3] = {0};
        for (int which = 0; which < 3; which++) { /* both terms, the first alone, the second */
            born_tensor *x = born_requires_grad(born_clone(x0), true);
            /* x + r passes its gradient through unchanged, into a node's sum instead of x's */
            born_tensor *src = through_node ? born_add(x, r) : x;
            born_tensor *a = born_to_dtype(src, BORN_BF16), *b = born_to_dtype(src, BORN_BF16);
            born_tensor *t1 = born_sum(born_to_dtype(born_mul(a, a), BORN_F32), 0, NULL, false);
            born_tensor *t2 = born_sum(born_mul(born_to_dtype(b, BORN_F32), r), 0, NULL, false);
            born_tensor *loss = which == 0 ? born_add(t1, t2) : which == 1 ? t1 : t2;
            CHECK_OK(born_backward(loss));
            grads[which] = born_grad(x);
            CHECK(grads[which] && born_tensor_dtype(grads[which]) == BORN_F32);
        }
        CHECK_MSG(max_diff(grads[0], born_add(grads[1], grads[2])) == 0.0,
                  "through a node %d: the sum's bits differ", through_node);
    }
    born_generator_free(g);
    born_scope_end();
}

/* A linear regression step: loss = mean((x W^T - t)^2). */
static born_tensor *reg_loss(born_tensor *w, born_tensor *x, born_tensor *t) {
    born_tensor *d = born_sub(born_matmul(x, born_transpose(w, 0, 1)), t);
    return born_mean(born_mul(d, d), 0, NULL, false);
}

TEST(amp_grad_scaler_steps_skips_and_rescales) {
    born_scope_begin();
    born_generator *g = born_generator_new(11);
    born_tensor *x = born_randn(g, BORN_F32, BORN_DIMS(16, 4)),
                *t = born_randn(g, BORN_F32, BORN_DIMS(16, 3));
    born_tensor *w0 = born_randn(g, BORN_F32, BORN_DIMS(3, 4));
    born_tensor *wa = born_requires_grad(born_clone(w0), true),
                *wb = born_requires_grad(born_clone(w0), true);
    born_sgd_params sp = born_sgd_default_params();
    sp.lr = 0.1;
    born_optimizer *oa = born_sgd(&wa, 1, &sp), *ob = born_sgd(&wb, 1, &sp);
    born_grad_scaler_params gp = born_grad_scaler_default_params();
    gp.init_scale = 1024;
    gp.growth_interval = 2;
    born_grad_scaler *s = born_grad_scaler_new(&gp);
    CHECK(oa && ob && s);
    if (!oa || !ob || !s) return;
    CHECK(born_grad_scaler_get_scale(s) == 1024);
    for (int step = 0; step < 2; step++) {
        /* the scaled run's parameters equal the plain run's (a power-of-two scale is exact) */
        born_optimizer_zero_grad(oa);
        born_optimizer_zero_grad(ob);
        CHECK_OK(born_backward(reg_loss(wa, x, t)));
        CHECK_OK(born_backward(born_grad_scaler_scale(s, reg_loss(wb, x, t))));
        CHECK_OK(born_optimizer_step(oa));
        bool stepped = false;
        CHECK_OK(born_grad_scaler_step(s, ob, &stepped));
        CHECK(stepped);
        CHECK_OK(born_grad_scaler_update(s));
        CHECK(max_diff(wa, wb) == 0.0);
    }
    CHECK(born_grad_scaler_get_scale(s) == 2048); /* grown after growth_interval good steps */
    /* an inf gradient: the step is skipped and the scale backs off */
    born_optimizer_zero_grad(ob);
    CHECK_OK(born_backward(born_grad_scaler_scale(s, reg_loss(wb, x, t))));
    CHECK_OK(born_fill_(born_grad(wb), INFINITY));
    born_tensor *before = born_clone(wb);
    CHECK_OK(born_grad_scaler_unscale(s, ob));
    CHECK(born_grad_scaler_unscale(s, ob) == BORN_ERR_ARGUMENT); /* once a step */
    CHECK_ERROR(BORN_ERR_ARGUMENT, "already");
    bool stepped = true;
    CHECK_OK(born_grad_scaler_step(s, ob, &stepped));
    CHECK(!stepped);
    CHECK(max_diff(before, wb) == 0.0);
    CHECK_OK(born_grad_scaler_update(s));
    CHECK(born_grad_scaler_get_scale(s) == 1024);
    /* a NaN likewise */
    born_optimizer_zero_grad(ob);
    CHECK_OK(born_backward(born_grad_scaler_scale(s, reg_loss(wb, x, t))));
    CHECK_OK(born_fill_(born_grad(wb), NAN));
    CHECK_OK(born_grad_scaler_step(s, ob, &stepped));
    CHECK(!stepped);
    CHECK_OK(born_grad_scaler_update(s));
    CHECK(born_grad_scaler_get_scale(s) == 512);
    gp.backoff_factor = 1.5;
    CHECK(born_grad_scaler_new(&gp) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "backoff_factor");
    born_grad_scaler_free(s);
    born_optimizer_free(oa);
    born_optimizer_free(ob);
    born_generator_free(g);
    born_scope_end();
}
