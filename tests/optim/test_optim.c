/* Optimizers against PyTorch: for every option combination in torch_ref.h, 10 steps on the shared
 * quadratic problem (gradients from Born's autograd) must follow torch's parameter trajectory to
 * rtol 1e-12 in f64 and 1e-6 in f32. Also: skipped parameters, late state, versions, hyperparameter
 * accessors and every error path of construction and step. */
#include <string.h>

#include "optim/problem.h"
#include "optim/torch_ref.h"

static void check_case(const ref_case *c, born_dtype dtype) {
    born_scope_begin();
    problem pr;
    problem_init(&pr, dtype);
    born_optimizer *opt = problem_optimizer(&pr, c);
    CHECK_OK_TENSOR((born_tensor *)opt);
    const double *expect = dtype == BORN_F64 ? c->f64 : c->f32;
    double rtol = dtype == BORN_F64 ? 1e-12 : 1e-6, atol = dtype == BORN_F64 ? 1e-14 : 1e-6;
    /* alpha 0.3 makes the centered variance s - a*a cancel almost completely, so in f32 the ulp
     * that torch's CPU kernels gain by fusing multiply-adds (Born's contract rounds every op)
     * grows to ~3e-5 by step 6; in f64 the case matches to 1e-12 like the others. */
    if (dtype == BORN_F32 && strcmp(c->name, "rmsprop_small_alpha") == 0) rtol = atol = 1e-4;
    int bad = 0;
    for (int s = 1; opt && s <= REF_STEPS && !bad; s++) {
        problem_run(&pr, opt, s, 1);
        double got[REF_NVALS];
        problem_read(&pr, got);
        for (int k = 0; k < REF_NVALS; k++) {
            double e = expect[(s - 1) * REF_NVALS + k];
            if (!(fabs(got[k] - e) <= atol + rtol * fabs(e))) {
                test_fail(__FILE__, __LINE__, "%s %s: step %d value %d: %.17g vs torch %.17g",
                          c->name, born_dtype_name(dtype), s, k, got[k], e);
                bad = 1;
                break;
            }
        }
    }
    born_optimizer_free(opt);
    born_scope_end();
}

TEST(optim_matches_torch_f64) {
    for (size_t i = 0; i < sizeof REF_CASES / sizeof *REF_CASES; i++) check_case(&REF_CASES[i], BORN_F64);
}

TEST(optim_matches_torch_f32) {
    for (size_t i = 0; i < sizeof REF_CASES / sizeof *REF_CASES; i++) check_case(&REF_CASES[i], BORN_F32);
}

TEST(optim_skips_parameters_without_grad) {
    /* Adam over w, b, z: z has no gradient for the first steps, so it must stay put and have no
     * state; its first step then uses bias correction for step 1 (checked against torch above). */
    problem pr;
    problem_init(&pr, BORN_F64);
    born_optimizer *opt = born_adam(pr.p, 3, NULL);
    problem_run(&pr, opt, 1, 2);
    double v[REF_NVALS];
    problem_read(&pr, v);
    for (int k = 0; k < 3; k++) CHECK(v[6 + k] == REF_Z0[k]);
    born_tensor_list *sd = born_optimizer_state_dict(opt);
    CHECK(sd && born_tensor_list_get(sd, "state.0.exp_avg") != NULL);
    CHECK(sd && born_tensor_list_get(sd, "state.2.step") == NULL);
    CHECK(sd && born_tensor_list_get(sd, "state.2.exp_avg") == NULL);
    CHECK_NEAR(born_item(born_tensor_list_get(sd, "state.0.step")), 2, 0);
    born_tensor_list_free(sd);
    problem_run(&pr, opt, REF_Z_FROM, 1);
    sd = born_optimizer_state_dict(opt);
    CHECK_NEAR(born_item(born_tensor_list_get(sd, "state.0.step")), 3, 0);
    CHECK_NEAR(born_item(born_tensor_list_get(sd, "state.2.step")), 1, 0);
    born_tensor_list_free(sd);
    /* zero_grad sets every grad to none */
    CHECK(born_grad(pr.p[0]) != NULL);
    born_optimizer_zero_grad(opt);
    for (int k = 0; k < 3; k++) CHECK(born_grad(pr.p[k]) == NULL);
    /* a step with no gradient at all changes nothing */
    double before[REF_NVALS], after[REF_NVALS];
    problem_read(&pr, before);
    CHECK_OK(born_optimizer_step(opt));
    problem_read(&pr, after);
    CHECK(memcmp(before, after, sizeof before) == 0);
    born_optimizer_free(opt);
}

TEST(optim_step_bumps_versions) {
    /* a graph that saved the parameter before the update must refuse to backpropagate */
    born_tensor *p = born_requires_grad(tensor_of(BORN_F32, BORN_DIMS(2), (double[]){1, 2}), true);
    born_optimizer *opt = born_sgd(&p, 1, NULL);
    born_tensor *y = born_sum(born_mul(p, p), 0, NULL, false);
    CHECK_OK(born_set_grad(p, born_ones_like(p)));
    CHECK_OK(born_optimizer_step(opt)); /* grad mode is on: the update is not an autograd op */
    CHECK(born_backward(y) != BORN_OK);
    CHECK_ERROR(BORN_ERR_AUTOGRAD, "");
    double v[2];
    CHECK(test_read(p, v, 2));
    CHECK_NEAR(v[0], 1 - 1e-3, 1e-7);
    CHECK(born_tensor_requires_grad(p) && born_tensor_is_leaf(p));
    born_optimizer_free(opt);
}

TEST(optim_noncontiguous_parameter_and_gradient) {
    /* a transposed leaf with a transposed gradient updates exactly like a contiguous one */
    double v[6] = {0.5, -1, 2, 0.25, 3, -0.75}, g[6] = {0.1, 0.2, -0.3, 0.4, -0.5, 0.6};
    for (int dt = 0; dt < 2; dt++) {
        born_dtype dtype = dt ? BORN_F64 : BORN_F32;
        born_tensor *a = born_requires_grad(tensor_of(dtype, BORN_DIMS(2, 3), v), true);
        born_tensor *base = born_contiguous(born_transpose(tensor_of(dtype, BORN_DIMS(2, 3), v), 0, 1));
        born_tensor *b = born_requires_grad(born_detach(born_transpose(base, 0, 1)), true);
        CHECK(!born_tensor_is_contiguous(b));
        born_tensor *ga = tensor_of(dtype, BORN_DIMS(2, 3), g);
        born_tensor *gb = born_transpose(born_contiguous(born_transpose(ga, 0, 1)), 0, 1);
        CHECK_OK(born_set_grad(a, ga));
        CHECK_OK(born_set_grad(b, gb));
        born_adam_params ap = born_adam_default_params();
        ap.amsgrad = true;
        ap.lr = 0.1;
        born_optimizer *oa = born_adam(&a, 1, &ap), *ob = born_adam(&b, 1, &ap);
        for (int s = 0; s < 3; s++) {
            CHECK_OK(born_optimizer_step(oa));
            CHECK_OK(born_optimizer_step(ob));
        }
        CHECK(tensors_identical(born_contiguous(b), a));
        CHECK(!tensors_identical(a, tensor_of(dtype, BORN_DIMS(2, 3), v)));
        born_optimizer_free(oa);
        born_optimizer_free(ob);
    }
}

TEST(optim_empty_parameter) {
    born_tensor *ps[2] = {born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(0, 3)), true),
                          born_requires_grad(born_ones(BORN_F32, BORN_DIMS(2)), true)};
    CHECK_OK(born_set_grad(ps[0], born_zeros(BORN_F32, BORN_DIMS(0, 3))));
    CHECK_OK(born_set_grad(ps[1], born_ones(BORN_F32, BORN_DIMS(2))));
    born_optimizer *o = born_adam(ps, 2, NULL);
    CHECK_OK(born_optimizer_step(o));
    born_tensor_list *sd = born_optimizer_state_dict(o);
    CHECK_SHAPE(born_tensor_list_get(sd, "state.0.exp_avg"), 0, 3);
    born_optimizer *o2 = born_adam(ps, 2, NULL);
    CHECK_OK(born_optimizer_load_state_dict(o2, sd));
    born_tensor_list_free(sd);
    born_optimizer_free(o2);
    born_optimizer_free(o);
}

TEST(optim_gradient_aliasing_parameter) {
    /* a gradient that is the parameter's own storage is read before anything is written */
    born_tensor *p = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(3), (double[]){1, -2, 4}), true);
    born_tensor *q = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(3), (double[]){1, -2, 4}), true);
    CHECK_OK(born_set_grad(p, born_detach(p)));
    CHECK_OK(born_set_grad(q, tensor_of(BORN_F64, BORN_DIMS(3), (double[]){1, -2, 4})));
    born_sgd_params sp = born_sgd_default_params();
    sp.lr = 0.5;
    sp.momentum = 0.9;
    born_optimizer *op = born_sgd(&p, 1, &sp), *oq = born_sgd(&q, 1, &sp);
    CHECK_OK(born_optimizer_step(op));
    CHECK_OK(born_optimizer_step(oq));
    CHECK(tensors_identical(p, q));
    born_optimizer_free(op);
    born_optimizer_free(oq);
}

TEST(optim_accessors) {
    problem pr;
    problem_init(&pr, BORN_F32);
    born_optimizer *o = born_adamw(pr.p, 3, NULL);
    CHECK(born_optimizer_get_kind(o) == BORN_OPTIMIZER_ADAMW);
    CHECK_EQ_INT(born_optimizer_num_params(o), 3);
    CHECK_NEAR(born_optimizer_get_lr(o), 1e-3, 0);
    CHECK_NEAR(born_optimizer_get_momentum(o), 0.9, 0);
    CHECK_OK(born_optimizer_set_lr(o, 0.25));
    CHECK_NEAR(born_optimizer_get_lr(o), 0.25, 0);
    CHECK(born_optimizer_set_lr(o, -1) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "learning rate");
    CHECK(born_optimizer_set_lr(o, NAN) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "learning rate");
    born_optimizer_free(o);
    born_adam_params d = born_adam_default_params(), dw = born_adamw_default_params();
    CHECK(d.lr == 1e-3 && d.betas[0] == 0.9 && d.betas[1] == 0.999 && d.eps == 1e-8);
    CHECK(d.weight_decay == 0 && dw.weight_decay == 1e-2 && !d.amsgrad && !d.maximize);
    born_sgd_params s = born_sgd_default_params();
    CHECK(s.lr == 1e-3 && s.momentum == 0 && s.dampening == 0 && !s.nesterov);
    born_rmsprop_params r = born_rmsprop_default_params();
    CHECK(r.lr == 1e-2 && r.alpha == 0.99 && r.eps == 1e-8 && r.momentum == 0 && !r.centered);
    o = born_rmsprop(pr.p, 3, NULL);
    CHECK(born_optimizer_get_kind(o) == BORN_OPTIMIZER_RMSPROP);
    born_optimizer_free(o);
    o = born_sgd(pr.p, 3, NULL);
    CHECK(born_optimizer_get_kind(o) == BORN_OPTIMIZER_SGD);
    born_optimizer_free(o);
    /* NULL handling */
    born_optimizer_free(NULL);
    born_optimizer_zero_grad(NULL);
    CHECK(born_optimizer_step(NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
    CHECK(isnan(born_optimizer_get_lr(NULL)));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
}

TEST(optim_rejects_bad_parameters) {
    born_tensor *ok = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(2)), true);
    born_tensor *nonleaf = born_mul_scalar(ok, 2);
    born_tensor *ints = born_zeros(BORN_I64, BORN_DIMS(2));
    born_tensor *plain = born_zeros(BORN_F32, BORN_DIMS(2));
    born_tensor *expanded = born_requires_grad(
        born_detach(born_expand(born_zeros(BORN_F32, BORN_DIMS(1)), BORN_DIMS(4))), true);
    CHECK(born_adam(&nonleaf, 1, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "not a leaf");
    CHECK(born_sgd(&ints, 1, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "only floating");
    CHECK(born_rmsprop(&plain, 1, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "does not require grad");
    CHECK(born_adamw(&expanded, 1, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "expanded");
    born_tensor *dup[2] = {ok, ok};
    CHECK(born_sgd(dup, 2, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "same tensor");
    born_tensor *withnull[2] = {ok, NULL};
    CHECK(born_sgd(withnull, 2, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "parameter 1 is NULL");
    CHECK(born_sgd(&ok, 0, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "empty");
    CHECK(born_sgd(NULL, 3, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "empty");
}

TEST(optim_rejects_bad_hyperparameters) {
    born_tensor *p = born_requires_grad(born_zeros(BORN_F64, BORN_DIMS(2)), true);
    born_sgd_params s = born_sgd_default_params();
    s.lr = -0.1;
    CHECK(born_sgd(&p, 1, &s) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "invalid learning rate -0.1");
    s = born_sgd_default_params();
    s.nesterov = true;
    CHECK(born_sgd(&p, 1, &s) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "Nesterov momentum requires a momentum and zero dampening");
    s.momentum = 0.9;
    s.dampening = 0.1;
    CHECK(born_sgd(&p, 1, &s) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "Nesterov");
    s = born_sgd_default_params();
    s.momentum = -0.5;
    CHECK(born_sgd(&p, 1, &s) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "momentum");
    s = born_sgd_default_params();
    s.weight_decay = NAN;
    CHECK(born_sgd(&p, 1, &s) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "weight_decay");

    born_adam_params a = born_adam_default_params();
    a.betas[0] = 1.0;
    CHECK(born_adam(&p, 1, &a) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "beta parameter at index 0");
    a = born_adam_default_params();
    a.betas[1] = -0.1;
    CHECK(born_adamw(&p, 1, &a) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "beta parameter at index 1");
    a = born_adam_default_params();
    a.eps = -1e-8;
    CHECK(born_adam(&p, 1, &a) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "epsilon");
    a = born_adam_default_params();
    a.lr = NAN;
    CHECK(born_adam(&p, 1, &a) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "learning rate");
    a = born_adamw_default_params();
    a.weight_decay = -1;
    CHECK(born_adamw(&p, 1, &a) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "weight_decay");

    born_rmsprop_params r = born_rmsprop_default_params();
    r.alpha = -0.5;
    CHECK(born_rmsprop(&p, 1, &r) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "alpha");
    r = born_rmsprop_default_params();
    r.momentum = -1;
    CHECK(born_rmsprop(&p, 1, &r) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "momentum");
    r = born_rmsprop_default_params();
    r.eps = -1;
    CHECK(born_rmsprop(&p, 1, &r) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "epsilon");
}

TEST(optim_training_loop_in_scopes_converges) {
    /* the documented loop: scope per step, AdamW, clipping; the quadratic's minimum is reached */
    problem pr;
    problem_init(&pr, BORN_F32);
    born_adam_params ap = born_adamw_default_params();
    ap.lr = 0.05;
    ap.weight_decay = 0;
    born_optimizer *opt = born_adamw(pr.p, 3, &ap);
    born_lr_scheduler *sched = born_cosine_annealing_lr(opt, 400, 0.0);
    for (int s = 1; s <= 400; s++) {
        born_scope_begin();
        problem_backward(&pr, REF_Z_FROM);
        CHECK_OK(born_clip_grad_norm(pr.p, 3, 10.0, 2.0, NULL));
        CHECK_OK(born_optimizer_step(opt));
        born_optimizer_zero_grad(opt);
        CHECK_OK(born_lr_scheduler_step(sched));
        born_scope_end();
    }
    double v[REF_NVALS];
    problem_read(&pr, v);
    const double *c[3] = {REF_CW, REF_CB, REF_CZ};
    int off[3] = {0, 4, 6}, len[3] = {4, 2, 3};
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < len[t]; k++) CHECK_NEAR(v[off[t] + k], c[t][k], 2e-3);
    born_lr_scheduler_free(sched);
    born_optimizer_free(opt);
}
