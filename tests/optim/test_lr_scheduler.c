/* Learning-rate schedules against torch's sequences (torch_ref.h): the optimizer's lr (and, for
 * OneCycleLR, its momentum or beta1) after construction and after each of 50 steps, to 1e-12
 * relative; state dicts; errors. */
#include <string.h>

#include "optim/problem.h"
#include "optim/torch_ref.h"

static const ref_schedule *find_schedule(const char *name) {
    for (size_t i = 0; i < sizeof REF_SCHEDULES / sizeof *REF_SCHEDULES; i++)
        if (strcmp(REF_SCHEDULES[i].name, name) == 0) return &REF_SCHEDULES[i];
    return NULL;
}

/* The optimizer and scheduler of each torch_ref.py schedule. */
static born_lr_scheduler *make_schedule(const char *name, born_tensor *p, born_optimizer **opt) {
    born_sgd_params sgd = born_sgd_default_params();
    born_adam_params adam = born_adam_default_params();
    born_rmsprop_params rms = born_rmsprop_default_params();
    if (!strcmp(name, "step")) {
        sgd.lr = 0.1;
        *opt = born_sgd(&p, 1, &sgd);
        return born_step_lr(*opt, 7, 0.5);
    }
    if (!strcmp(name, "cosine")) {
        sgd.lr = 0.1;
        *opt = born_sgd(&p, 1, &sgd);
        return born_cosine_annealing_lr(*opt, 20, 0.001);
    }
    if (!strcmp(name, "linear")) {
        sgd.lr = 0.1;
        *opt = born_sgd(&p, 1, &sgd);
        return born_linear_lr(*opt, 0.1, 1.0, 10);
    }
    if (!strcmp(name, "linear_down")) {
        adam.lr = 0.05;
        *opt = born_adam(&p, 1, &adam);
        return born_linear_lr(*opt, 1.0, 0.2, 30);
    }
    if (!strcmp(name, "one_cycle_cos")) {
        sgd.lr = 0.1;
        sgd.momentum = 0.9;
        *opt = born_sgd(&p, 1, &sgd);
        born_one_cycle_params oc = born_one_cycle_default_params(0.1, 50);
        return born_one_cycle_lr(*opt, &oc);
    }
    if (!strcmp(name, "one_cycle_linear_3")) {
        *opt = born_adam(&p, 1, &adam);
        born_one_cycle_params oc = born_one_cycle_default_params(0.01, 50);
        oc.pct_start = 0.25;
        oc.anneal = BORN_ANNEAL_LINEAR;
        oc.three_phase = true;
        return born_one_cycle_lr(*opt, &oc);
    }
    if (!strcmp(name, "one_cycle_no_momentum")) {
        *opt = born_rmsprop(&p, 1, &rms);
        born_one_cycle_params oc = born_one_cycle_default_params(0.05, 50);
        oc.cycle_momentum = false;
        oc.div_factor = 10;
        oc.final_div_factor = 100;
        return born_one_cycle_lr(*opt, &oc);
    }
    if (!strcmp(name, "warmup_cosine")) {
        sgd.lr = 0.1;
        *opt = born_sgd(&p, 1, &sgd);
        return born_warmup_cosine_lr(*opt, 5, 50, 0.01, 1e-4);
    }
    /* sequential_3 */
    sgd.lr = 0.2;
    *opt = born_sgd(&p, 1, &sgd);
    born_lr_scheduler *c[3] = {born_step_lr(*opt, 3, 0.5), born_linear_lr(*opt, 0.5, 1.0, 4),
                               born_cosine_annealing_lr(*opt, 10, 0.0)};
    return born_sequential_lr(*opt, c, 3, (int64_t[]){6, 20});
}

static bool close12(double a, double b) { return fabs(a - b) <= 1e-12 * fabs(b) + 1e-300; }

TEST(lr_schedules_match_torch) {
    for (size_t i = 0; i < sizeof REF_SCHEDULES / sizeof *REF_SCHEDULES; i++) {
        const ref_schedule *r = &REF_SCHEDULES[i];
        born_tensor *p = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(1)), true);
        born_optimizer *opt = NULL;
        born_lr_scheduler *s = make_schedule(r->name, p, &opt);
        CHECK_MSG(s != NULL, "%s: %s", r->name, born_last_error());
        born_clear_error();
        for (int k = 0; s && k <= 50; k++) {
            if (k > 0) {
                CHECK_OK(born_optimizer_step(opt));
                CHECK_OK(born_lr_scheduler_step(s));
            }
            double lr = born_optimizer_get_lr(opt), m = born_optimizer_get_momentum(opt);
            if (!close12(lr, r->lr[k]) || !close12(m, r->momentum[k])) {
                test_fail(__FILE__, __LINE__, "%s epoch %d: lr %.17g momentum %.17g vs torch %.17g "
                          "%.17g", r->name, k, lr, m, r->lr[k], r->momentum[k]);
                break;
            }
            CHECK(born_lr_scheduler_get_last_lr(s) == lr);
            CHECK_EQ_INT(born_lr_scheduler_last_epoch(s), k);
        }
        born_lr_scheduler_free(s);
        born_optimizer_free(opt);
    }
}

TEST(lr_one_cycle_stops_at_total_steps) {
    born_tensor *p = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(1)), true);
    born_optimizer *opt = NULL;
    born_lr_scheduler *s = make_schedule("one_cycle_cos", p, &opt);
    for (int k = 0; k < 50; k++) CHECK_OK(born_lr_scheduler_step(s));
    double lr = born_optimizer_get_lr(opt);
    CHECK(born_lr_scheduler_step(s) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "total_steps is 50");
    CHECK(born_optimizer_get_lr(opt) == lr); /* a failed step changes nothing */
    CHECK_EQ_INT(born_lr_scheduler_last_epoch(s), 50);
    /* the scheduler keeps its optimizer alive: free the optimizer first */
    born_optimizer_free(opt);
    CHECK(born_lr_scheduler_step(s) == BORN_ERR_ARGUMENT);
    born_clear_error();
    born_lr_scheduler_free(s);
}

TEST(lr_scheduler_state_dict_round_trip) {
    const char *names[] = {"step", "cosine", "linear", "one_cycle_linear_3", "warmup_cosine",
                           "sequential_3"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const ref_schedule *r = find_schedule(names[i]);
        born_tensor *p = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(1)), true);
        born_optimizer *o1 = NULL, *o2 = NULL;
        born_lr_scheduler *s1 = make_schedule(names[i], p, &o1);
        for (int k = 0; k < 17; k++) CHECK_OK(born_lr_scheduler_step(s1));
        born_tensor_list *osd = born_optimizer_state_dict(o1), *ssd = born_lr_scheduler_state_dict(s1);
        CHECK(osd && ssd);
        /* resume as torch documents: fresh optimizer and scheduler, then load both */
        born_lr_scheduler *s2 = make_schedule(names[i], p, &o2);
        CHECK_OK(born_optimizer_load_state_dict(o2, osd));
        CHECK_OK(born_lr_scheduler_load_state_dict(s2, ssd));
        CHECK_EQ_INT(born_lr_scheduler_last_epoch(s2), 17);
        for (int k = 18; k <= 50; k++) {
            CHECK_OK(born_lr_scheduler_step(s2));
            double lr = born_optimizer_get_lr(o2);
            if (lr != r->lr[k] && !close12(lr, r->lr[k])) {
                test_fail(__FILE__, __LINE__, "%s resumed, epoch %d: %.17g vs %.17g", names[i], k,
                          lr, r->lr[k]);
                break;
            }
            CHECK(born_optimizer_get_momentum(o2) == born_optimizer_get_momentum(o2));
        }
        born_tensor_list_free(osd);
        born_tensor_list_free(ssd);
        born_lr_scheduler_free(s1);
        born_lr_scheduler_free(s2);
        born_optimizer_free(o1);
        born_optimizer_free(o2);
    }
}

TEST(lr_scheduler_state_dict_contents_and_errors) {
    born_tensor *p = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(1)), true);
    born_optimizer *opt = NULL;
    born_lr_scheduler *s = make_schedule("step", p, &opt);
    for (int k = 0; k < 3; k++) CHECK_OK(born_lr_scheduler_step(s));
    born_tensor_list *sd = born_lr_scheduler_state_dict(s);
    CHECK(born_tensor_dtype(born_tensor_list_get(sd, "last_epoch")) == BORN_I64);
    CHECK_NEAR(born_item(born_tensor_list_get(sd, "last_epoch")), 3, 0);
    CHECK_NEAR(born_item(born_tensor_list_get(sd, "_step_count")), 4, 0);
    CHECK_NEAR(born_item(born_tensor_list_get(sd, "base_lrs")), 0.1, 0);
    CHECK_NEAR(born_item(born_tensor_list_get(sd, "step_size")), 7, 0);
    CHECK_NEAR(born_item(born_tensor_list_get(sd, "gamma")), 0.5, 0);
    /* the optimizer records initial_lr like torch's param group */
    born_tensor_list *osd = born_optimizer_state_dict(opt);
    CHECK_NEAR(born_item(born_tensor_list_get(osd, "param_groups.0.initial_lr")), 0.1, 0);
    born_tensor_list_free(osd);
    /* a StepLR state does not fit a CosineAnnealingLR */
    born_lr_scheduler *c = born_cosine_annealing_lr(opt, 10, 0);
    CHECK(born_lr_scheduler_load_state_dict(c, sd) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "missing T_max for a CosineAnnealingLR");
    /* invalid values are refused and leave the scheduler as it was */
    born_tensor_list *bad = born_tensor_list_new();
    for (int64_t i = 0; i < sd->count; i++)
        CHECK_OK(born_tensor_list_add(bad, sd->items[i].name,
                                      strcmp(sd->items[i].name, "step_size") == 0
                                          ? born_scalar(BORN_I64, 0)
                                          : sd->items[i].tensor));
    CHECK(born_lr_scheduler_load_state_dict(s, bad) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "step_size 0 must be >= 1");
    CHECK_EQ_INT(born_lr_scheduler_last_epoch(s), 3);
    born_tensor_list_free(bad);
    born_tensor_list_free(sd);
    /* a OneCycleLR state that cycles beta1 does not fit an SGD optimizer's schedule */
    born_optimizer *adam = NULL, *sgd = NULL;
    born_lr_scheduler *oa = make_schedule("one_cycle_linear_3", p, &adam);
    born_lr_scheduler *os = make_schedule("one_cycle_cos", p, &sgd);
    born_tensor_list *asd = born_lr_scheduler_state_dict(oa);
    CHECK(born_lr_scheduler_load_state_dict(os, asd) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "use_beta1 is true but this optimizer cycles its momentum");
    born_tensor_list_free(asd);
    born_lr_scheduler_free(oa);
    born_lr_scheduler_free(os);
    born_optimizer_free(adam);
    born_optimizer_free(sgd);
    born_lr_scheduler_free(c);
    born_lr_scheduler_free(s);
    born_optimizer_free(opt);
}

TEST(lr_scheduler_rejects_bad_arguments) {
    born_tensor *p = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(1)), true);
    born_optimizer *opt = born_sgd(&p, 1, NULL);
    CHECK(born_step_lr(opt, 0, 0.1) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "step_size");
    CHECK(born_step_lr(NULL, 3, 0.1) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "optimizer is NULL");
    CHECK(born_cosine_annealing_lr(opt, 0, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "T_max");
    CHECK(born_linear_lr(opt, 0, 1, 5) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "start_factor 0 must be in (0, 1]");
    CHECK(born_linear_lr(opt, 0.5, 1.5, 5) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "end_factor");
    born_one_cycle_params oc = born_one_cycle_default_params(0.1, 0);
    CHECK(born_one_cycle_lr(opt, &oc) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "total_steps");
    oc = born_one_cycle_default_params(0.1, 10);
    oc.pct_start = 1.5;
    CHECK(born_one_cycle_lr(opt, &oc) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "pct_start");
    oc.pct_start = 0.1; /* phase 0 ends at 0.1 * 10 - 1 = 0: torch divides by zero */
    CHECK(born_one_cycle_lr(opt, &oc) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "zero length");
    CHECK_NEAR(born_optimizer_get_lr(opt), 1e-3, 0); /* failures leave the optimizer as it was */
    CHECK_NEAR(born_optimizer_get_momentum(opt), 0, 0);
    oc = born_one_cycle_default_params(0.1, 10);
    oc.div_factor = 0;
    CHECK(born_one_cycle_lr(opt, &oc) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "div_factor");
    CHECK(born_warmup_cosine_lr(opt, 10, 10, 0.1, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "warmup_steps");
    born_lr_scheduler *a = born_step_lr(opt, 2, 0.5), *b = born_step_lr(opt, 3, 0.5);
    born_lr_scheduler *ab[2] = {a, b};
    CHECK(born_sequential_lr(opt, ab, 2, (int64_t[]){-1}) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "milestones");
    born_lr_scheduler *aa[2] = {a, a};
    CHECK(born_sequential_lr(opt, aa, 2, (int64_t[]){3}) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "also scheduler");
    born_tensor *q = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(1)), true);
    born_optimizer *other = born_sgd(&q, 1, NULL);
    CHECK(born_sequential_lr(other, ab, 2, (int64_t[]){3}) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "another optimizer");
    CHECK(born_sequential_lr(opt, ab, 0, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "at least one");
    born_lr_scheduler *seq = born_sequential_lr(opt, ab, 2, (int64_t[]){3});
    CHECK(seq != NULL);
    born_lr_scheduler *nested[1] = {seq};
    CHECK(born_sequential_lr(opt, nested, 1, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "nested");
    CHECK(born_lr_scheduler_step(NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
    born_lr_scheduler_free(seq); /* frees a and b */
    born_lr_scheduler_free(NULL);
    born_optimizer_free(other);
    born_optimizer_free(opt);
}
