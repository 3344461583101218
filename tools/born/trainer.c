/* Mini-batch training and evaluation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/born/progress.h"
#include "tools/born/trainer.h"

bool trainer_optimizer_known(const char *name) {
    return name && (!strcmp(name, "adam") || !strcmp(name, "adamw") || !strcmp(name, "sgd") ||
                    !strcmp(name, "rmsprop"));
}

bool trainer_schedule_known(const char *name) {
    return name && (!strcmp(name, "constant") || !strcmp(name, "cosine") || !strcmp(name, "onecycle"));
}

/* The per-batch schedule named by c (NULL for a constant lr or on error; check born_last_status). */
static born_lr_scheduler *make_schedule(born_optimizer *opt, const train_config *c, int64_t batches) {
    int64_t total = (int64_t)c->epochs * batches;
    if (!opt || !c->schedule || !strcmp(c->schedule, "constant") || total < 1) return NULL;
    if (!strcmp(c->schedule, "cosine")) return born_cosine_annealing_lr(opt, total, 0.0);
    born_one_cycle_params p = born_one_cycle_default_params(c->lr, total);
    return born_one_cycle_lr(opt, &p);
}

static born_optimizer *make_optimizer(const char *name, born_tensor **params, int64_t n, double lr) {
    if (!strcmp(name, "sgd")) {
        born_sgd_params p = born_sgd_default_params();
        p.lr = lr;
        p.momentum = 0.9;
        return born_sgd(params, n, &p);
    }
    if (!strcmp(name, "rmsprop")) {
        born_rmsprop_params p = born_rmsprop_default_params();
        p.lr = lr;
        return born_rmsprop(params, n, &p);
    }
    born_adam_params p = !strcmp(name, "adamw") ? born_adamw_default_params() : born_adam_default_params();
    p.lr = lr;
    return !strcmp(name, "adamw") ? born_adamw(params, n, &p) : born_adam(params, n, &p);
}

/* The device of m's first parameter (the CPU for a module without parameters). */
static born_device module_device(born_module *m) {
    int64_t n = 0;
    born_tensor **p = born_module_parameters(m, &n);
    born_device d = p && n > 0 ? born_tensor_device(p[0]) : BORN_CPU;
    free(p);
    return d;
}

double evaluate(born_module *m, const born_dataset *ds, int64_t *predictions, int64_t npred) {
    born_device dev = module_device(m);
    bool was_training = born_module_is_training(m);
    born_module_eval(m);
    born_dataloader_params lp = born_dataloader_default_params();
    lp.batch_size = 500;
    born_dataloader *dl = born_dataloader_new(ds, &lp);
    int64_t correct = 0, seen = 0;
    bool ok = dl != NULL;
    born_tensor *x, *y;
    born_no_grad_begin();
    while (ok && born_dataloader_next(dl, &x, &y)) {
        born_scope_begin();
        born_tensor *pred = born_to(born_argmax(born_module_forward(m, born_to(x, dev)), 1, false), BORN_CPU);
        born_tensor *hits = born_sum(born_eq(pred, y), 0, NULL, false);
        if (!hits) ok = false;
        else correct += (int64_t)born_item(hits);
        int64_t b = born_tensor_size(y, 0);
        for (int64_t i = 0; ok && predictions && i < b && seen + i < npred; i++)
            born_get_i64(pred, &i, &predictions[seen + i]);
        seen += b;
        born_scope_end();
        born_free(x);
        born_free(y);
    }
    born_no_grad_end();
    if (born_last_status() != BORN_OK) ok = false;
    born_dataloader_free(dl);
    born_module_train(m, was_training);
    return ok && seen ? (double)correct / (double)seen : NAN;
}

born_status train_model(born_module *m, const cli_data *data, const train_config *c,
                        train_report *report) {
    memset(report, 0, sizeof *report);
    born_device dev = module_device(m);
    int64_t nparams = 0;
    born_tensor **params = born_module_parameters(m, &nparams);
    born_optimizer *opt = params ? make_optimizer(c->optimizer, params, nparams, c->lr) : NULL;
    free(params);
    born_dataloader_params lp = born_dataloader_default_params();
    lp.batch_size = c->batch_size;
    lp.shuffle = true;
    lp.seed = c->seed;
    born_dataloader *dl = opt ? born_dataloader_new(data->train, &lp) : NULL;
    born_status st = dl ? BORN_OK : born_last_status();
    born_lr_scheduler *sched = dl ? make_schedule(opt, c, born_dataloader_len(dl)) : NULL;
    if (dl && !sched && born_last_status() != BORN_OK) st = born_last_status();
    born_module_train(m, true);
    for (int epoch = 1; st == BORN_OK && epoch <= c->epochs; epoch++) {
        if (epoch > 1) st = born_dataloader_reset(dl);
        char label[64];
        snprintf(label, sizeof label, "epoch %d/%d", epoch, c->epochs);
        progress bar;
        progress_begin(&bar, c->log ? c->log : stderr, label, born_dataloader_len(dl));
        double t0 = progress_now();
        born_tensor *x, *y;
        while (st == BORN_OK && born_dataloader_next(dl, &x, &y)) {
            born_scope_begin();
            born_tensor *loss = born_cross_entropy(born_module_forward(m, born_to(x, dev)), born_to(y, dev), NULL);
            if (!loss || born_backward(loss) != BORN_OK || born_optimizer_step(opt) != BORN_OK ||
                (sched && born_lr_scheduler_step(sched) != BORN_OK))
                st = born_last_status();
            else if (c->log)
                progress_step(&bar, born_item(born_to(loss, BORN_CPU)));
            born_optimizer_zero_grad(opt);
            born_scope_end();
            born_free(x);
            born_free(y);
        }
        if (st == BORN_OK && born_last_status() != BORN_OK) st = born_last_status();
        report->seconds += progress_now() - t0;
        if (c->log) progress_end(&bar);
        if (st != BORN_OK) break;
        report->final_loss = progress_mean_loss(&bar);
        report->test_accuracy = evaluate(m, data->test, NULL, 0);
        if (isnan(report->test_accuracy)) st = born_last_status() ? born_last_status() : BORN_ERR_INTERNAL;
        else if (c->log)
            fprintf(c->log, "epoch %d/%d: train loss %.4f, test accuracy %.2f%%\n", epoch, c->epochs,
                    report->final_loss, 100.0 * report->test_accuracy);
    }
    report->epoch_seconds = c->epochs > 0 ? report->seconds / c->epochs : 0.0;
    born_dataloader_free(dl);
    born_lr_scheduler_free(sched);
    born_optimizer_free(opt);
    return st;
}
