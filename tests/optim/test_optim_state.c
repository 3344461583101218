/* Optimizer state dicts: torch's names and dtypes, exact save / load / resume (bit-identical to an
 * uninterrupted run, schedulers included), conversion, and every load error. */
#include <string.h>

#include "optim/problem.h"
#include "optim/torch_ref.h"

static const ref_case *find_case(const char *name) {
    for (size_t i = 0; i < sizeof REF_CASES / sizeof *REF_CASES; i++)
        if (strcmp(REF_CASES[i].name, name) == 0) return &REF_CASES[i];
    return NULL;
}

/* A schedule for the resume test (0: none, 1: warm-up + cosine, 2: OneCycleLR). */
static born_lr_scheduler *schedule(born_optimizer *opt, int kind) {
    if (kind == 1) return born_warmup_cosine_lr(opt, 3, 20, 0.1, 1e-4);
    born_one_cycle_params oc = born_one_cycle_default_params(0.05, 20);
    return kind == 2 ? born_one_cycle_lr(opt, &oc) : NULL;
}

static void run(problem *pr, born_optimizer *opt, born_lr_scheduler *s, int first, int steps) {
    for (int k = first; k < first + steps; k++) {
        problem_run(pr, opt, k, 1);
        if (s) CHECK_OK(born_lr_scheduler_step(s));
    }
}

TEST(optim_state_dict_resume_is_bit_identical) {
    const char *names[] = {"sgd_nesterov", "sgd_wd_maximize", "adam_all", "adam_default",
                           "adamw_amsgrad", "rmsprop_all", "rmsprop_momentum"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        for (int dt = 0; dt < 2; dt++) {
            born_scope_begin();
            born_dtype dtype = dt ? BORN_F64 : BORN_F32;
            const ref_case *c = find_case(names[i]);
            int sk = (int)(i % 3);
            /* uninterrupted: 10 steps */
            problem a;
            problem_init(&a, dtype);
            born_optimizer *oa = problem_optimizer(&a, c);
            born_lr_scheduler *sa = schedule(oa, sk);
            run(&a, oa, sa, 1, 10);
            /* interrupted after 5 steps: save, then resume into fresh objects */
            problem b;
            problem_init(&b, dtype);
            born_optimizer *ob = problem_optimizer(&b, c);
            born_lr_scheduler *sb = schedule(ob, sk);
            run(&b, ob, sb, 1, 5);
            born_tensor_list *osd = born_optimizer_state_dict(ob);
            born_tensor_list *ssd = sb ? born_lr_scheduler_state_dict(sb) : NULL;
            problem r;
            problem_init(&r, dtype);
            for (int k = 0; k < 3; k++) { /* the model's own state */
                born_no_grad_begin();
                CHECK_OK(born_copy_(r.p[k], b.p[k]));
                born_no_grad_end();
            }
            born_lr_scheduler_free(sb);
            born_optimizer_free(ob);
            born_optimizer *orr = problem_optimizer(&r, c);
            born_lr_scheduler *sr = schedule(orr, sk);
            CHECK_OK(born_optimizer_load_state_dict(orr, osd));
            if (sr) CHECK_OK(born_lr_scheduler_load_state_dict(sr, ssd));
            run(&r, orr, sr, 6, 5);
            for (int k = 0; k < 3; k++)
                CHECK_MSG(tensors_identical(a.p[k], r.p[k]), "%s %s schedule %d: parameter %d "
                          "differs after resuming", names[i], born_dtype_name(dtype), sk, k);
            CHECK(born_optimizer_get_lr(oa) == born_optimizer_get_lr(orr));
            born_tensor_list_free(osd);
            born_tensor_list_free(ssd);
            born_lr_scheduler_free(sa);
            born_lr_scheduler_free(sr);
            born_optimizer_free(oa);
            born_optimizer_free(orr);
            born_scope_end();
        }
    }
}

TEST(optim_state_dict_names_and_dtypes) {
    problem pr;
    problem_init(&pr, BORN_F32);
    born_adam_params ap = born_adam_default_params();
    ap.amsgrad = true;
    born_optimizer *opt = born_adam(pr.p, 3, &ap);
    problem_run(&pr, opt, 1, 3); /* z has no state yet */
    born_tensor_list *sd = born_optimizer_state_dict(opt);
    const char *expect[] = {
        "state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.max_exp_avg_sq",
        "state.1.step", "state.1.exp_avg", "state.1.exp_avg_sq", "state.1.max_exp_avg_sq",
        "param_groups.0.lr", "param_groups.0.betas", "param_groups.0.eps",
        "param_groups.0.weight_decay", "param_groups.0.amsgrad", "param_groups.0.maximize",
        "param_groups.0.decoupled_weight_decay", "param_groups.0.params"};
    CHECK_EQ_INT(sd->count, (int64_t)(sizeof expect / sizeof *expect));
    for (size_t i = 0; i < sizeof expect / sizeof *expect && (int64_t)i < sd->count; i++)
        CHECK_MSG(strcmp(sd->items[i].name, expect[i]) == 0, "entry %zu is %s, expected %s", i,
                  sd->items[i].name, expect[i]);
    born_tensor *step = born_tensor_list_get(sd, "state.0.step");
    CHECK(born_tensor_dtype(step) == BORN_F32 && born_tensor_ndim(step) == 0);
    CHECK_NEAR(born_item(step), 3, 0);
    born_tensor *m = born_tensor_list_get(sd, "state.0.exp_avg");
    CHECK(born_tensor_dtype(m) == BORN_F32);
    CHECK_SHAPE(m, 2, 2);
    born_tensor *lr = born_tensor_list_get(sd, "param_groups.0.lr");
    CHECK(born_tensor_dtype(lr) == BORN_F64 && born_tensor_ndim(lr) == 0);
    CHECK_TENSOR_NEAR(born_tensor_list_get(sd, "param_groups.0.betas"), ((double[]){0.9, 0.999}),
                      2, 0, 0);
    CHECK(born_tensor_dtype(born_tensor_list_get(sd, "param_groups.0.amsgrad")) == BORN_BOOL);
    CHECK_NEAR(born_item(born_tensor_list_get(sd, "param_groups.0.amsgrad")), 1, 0);
    CHECK_TENSOR_NEAR(born_tensor_list_get(sd, "param_groups.0.params"), ((double[]){0, 1, 2}), 3,
                      0, 0);
    /* the entries are copies: later steps do not change them */
    double before[4], after[4];
    CHECK(test_read(m, before, 4));
    problem_run(&pr, opt, 4, 1);
    CHECK(test_read(m, after, 4));
    CHECK(memcmp(before, after, sizeof before) == 0);
    born_tensor_list_free(sd);

    /* SGD and RMSprop names */
    born_sgd_params sp = born_sgd_default_params();
    sp.momentum = 0.9;
    born_optimizer *sgd = born_sgd(pr.p, 3, &sp);
    problem_run(&pr, sgd, 1, 1);
    sd = born_optimizer_state_dict(sgd);
    CHECK(born_tensor_list_get(sd, "state.0.momentum_buffer") != NULL);
    CHECK(born_tensor_list_get(sd, "state.0.step") == NULL); /* SGD keeps no step */
    CHECK(born_tensor_list_get(sd, "param_groups.0.nesterov") != NULL);
    CHECK(born_tensor_list_get(sd, "param_groups.0.dampening") != NULL);
    born_tensor_list_free(sd);
    born_rmsprop_params rp = born_rmsprop_default_params();
    rp.centered = true;
    born_optimizer *rms = born_rmsprop(pr.p, 3, &rp);
    problem_run(&pr, rms, 1, 1);
    sd = born_optimizer_state_dict(rms);
    CHECK(born_tensor_list_get(sd, "state.1.square_avg") != NULL);
    CHECK(born_tensor_list_get(sd, "state.1.grad_avg") != NULL);
    CHECK(born_tensor_list_get(sd, "state.1.momentum_buffer") == NULL);
    CHECK(born_tensor_list_get(sd, "param_groups.0.centered") != NULL);
    CHECK(born_tensor_list_get(sd, "param_groups.0.alpha") != NULL);
    born_tensor_list_free(sd);
    born_optimizer_free(rms);
    born_optimizer_free(sgd);
    born_optimizer_free(opt);
}

/* A copy of sd with entry `name` replaced by t (or dropped when t is NULL). */
static born_tensor_list *edited(const born_tensor_list *sd, const char *name, born_tensor *t) {
    born_tensor_list *l = born_tensor_list_new();
    for (int64_t i = 0; i < sd->count; i++) {
        bool hit = strcmp(sd->items[i].name, name) == 0;
        if (hit && !t) continue;
        CHECK_OK(born_tensor_list_add(l, sd->items[i].name, hit ? t : sd->items[i].tensor));
    }
    if (!born_tensor_list_get(sd, name) && t) CHECK_OK(born_tensor_list_add(l, name, t));
    return l;
}

static void expect_load_error(born_optimizer *opt, born_tensor_list *l, born_status status,
                              const char *needle) {
    CHECK(born_optimizer_load_state_dict(opt, l) == status);
    CHECK_ERROR(status, needle);
    born_tensor_list_free(l);
}

TEST(optim_load_state_dict_errors) {
    problem pr;
    problem_init(&pr, BORN_F64);
    born_optimizer *opt = born_adam(pr.p, 3, NULL);
    problem_run(&pr, opt, 1, 4);
    born_tensor_list *sd = born_optimizer_state_dict(opt);
    born_optimizer *fresh = born_adam(pr.p, 3, NULL);
    expect_load_error(fresh, edited(sd, "state.0.exp_avg", born_zeros(BORN_F64, BORN_DIMS(4))),
                      BORN_ERR_SHAPE, "state.0.exp_avg is [4] f64 but parameter 0 is [2, 2]");
    expect_load_error(fresh, edited(sd, "state.1.exp_avg_sq", NULL), BORN_ERR_ARGUMENT,
                      "missing state.1.exp_avg_sq");
    expect_load_error(fresh, edited(sd, "state.2.step", NULL), BORN_ERR_ARGUMENT,
                      "missing state.2.step");
    expect_load_error(fresh, edited(sd, "param_groups.0.eps", NULL), BORN_ERR_ARGUMENT,
                      "missing param_groups.0.eps");
    expect_load_error(fresh, edited(sd, "param_groups.0.params", born_arange(0, 2, 1, BORN_I64)),
                      BORN_ERR_SHAPE, "2 parameters but the optimizer has 3");
    expect_load_error(fresh, edited(sd, "state.3.exp_avg", born_zeros(BORN_F64, BORN_DIMS(1))),
                      BORN_ERR_ARGUMENT, "unexpected entry state.3.exp_avg");
    expect_load_error(fresh, edited(sd, "state.0.momentum_buffer", born_zeros(BORN_F64, BORN_DIMS(2, 2))),
                      BORN_ERR_ARGUMENT, "unexpected entry state.0.momentum_buffer for Adam");
    expect_load_error(fresh, edited(sd, "param_groups.1.lr", born_scalar(BORN_F64, 1)),
                      BORN_ERR_ARGUMENT, "only one parameter group");
    expect_load_error(fresh, edited(sd, "param_groups.0.lr", born_scalar(BORN_F64, -1)),
                      BORN_ERR_ARGUMENT, "invalid learning rate -1");
    expect_load_error(fresh, edited(sd, "param_groups.0.betas", born_scalar(BORN_F64, 0.9)),
                      BORN_ERR_SHAPE, "expected 2 values");
    expect_load_error(fresh, edited(sd, "state.0.step", born_scalar(BORN_F32, 2.5)),
                      BORN_ERR_ARGUMENT, "whole number");
    expect_load_error(fresh, edited(sd, "state.0.exp_avg", born_zeros(BORN_I64, BORN_DIMS(2, 2))),
                      BORN_ERR_DTYPE, "must be floating");
    /* an SGD state dict is not an Adam one */
    born_optimizer *sgd = born_sgd(pr.p, 3, NULL);
    born_tensor_list *ssd = born_optimizer_state_dict(sgd);
    expect_load_error(fresh, ssd, BORN_ERR_ARGUMENT, "missing param_groups.0.betas");
    CHECK(born_optimizer_load_state_dict(NULL, sd) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
    CHECK(born_optimizer_load_state_dict(fresh, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
    /* after all these failures the fresh optimizer is still fresh: it has no state */
    born_tensor_list *fsd = born_optimizer_state_dict(fresh);
    CHECK(born_tensor_list_get(fsd, "state.0.step") == NULL);
    CHECK_NEAR(born_item(born_tensor_list_get(fsd, "param_groups.0.lr")), 1e-3, 0);
    born_tensor_list_free(fsd);
    /* unknown hyperparameters (torch's foreach, fused, ...) are ignored; an f64 state loads into
     * an f32 optimizer converted */
    problem p32;
    problem_init(&p32, BORN_F32);
    born_optimizer *o32 = born_adam(p32.p, 3, NULL);
    born_tensor_list *extra = edited(sd, "param_groups.0.foreach", born_scalar(BORN_BOOL, 0));
    CHECK_OK(born_optimizer_load_state_dict(o32, extra));
    born_tensor_list *back = born_optimizer_state_dict(o32);
    CHECK(born_tensor_dtype(born_tensor_list_get(back, "state.0.exp_avg")) == BORN_F32);
    CHECK_NEAR(born_item(born_tensor_list_get(back, "state.2.step")), 1, 0);
    born_tensor_list_free(back);
    born_tensor_list_free(extra);
    born_optimizer_free(o32);
    born_optimizer_free(sgd);
    born_tensor_list_free(sd);
    born_optimizer_free(fresh);
    born_optimizer_free(opt);
}
