/* Learning-rate schedules, as torch.optim.lr_scheduler (StepLR, CosineAnnealingLR, LinearLR,
 * OneCycleLR, SequentialLR). Each follows torch's code path for path: the constructor records
 * initial_lr and takes an initial step at epoch 0; step() uses the chainable get_lr() formulas on the
 * optimizer's current lr; SequentialLR restarts a scheduler at a milestone through its closed form
 * (_update_lr(0)). The arithmetic is written in Python's evaluation order so that the doubles match
 * torch's bit for bit (given the same libm). */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim_internal.h"

typedef enum sched_kind {
    SCHED_STEP = 0,
    SCHED_COSINE,
    SCHED_LINEAR,
    SCHED_ONE_CYCLE,
    SCHED_SEQUENTIAL
} sched_kind;

static const char *const sched_names[] = {"StepLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR",
                                          "SequentialLR"};

/* Everything a state dict restores (one struct, so a load can be checked before it is applied). */
typedef struct sched_vals {
    int64_t last_epoch, step_count;
    double base_lr, last_lr;
    int64_t step_size; /* StepLR */
    double gamma;
    int64_t T_max; /* CosineAnnealingLR */
    double eta_min;
    double start_factor, end_factor; /* LinearLR */
    int64_t total_iters;
    int64_t total_steps; /* OneCycleLR */
    double pct_start;
    int64_t anneal;
    bool cycle_momentum, use_beta1, three_phase;
    double initial_lr, max_lr, min_lr, base_momentum, max_momentum;
} sched_vals;

struct born_lr_scheduler {
    sched_kind kind;
    born_optimizer *opt; /* a reference (optim_retain) */
    sched_vals v;
    /* SequentialLR */
    int n;
    born_lr_scheduler **children;
    int64_t *milestones; /* n - 1 */
};

/* Python's a % b for b > 0. */
static int64_t pymod(int64_t a, int64_t b) {
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

static int64_t pyfloordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* ---- validation ---------------------------------------------------------------------------- */

static born_status sched_validate(sched_kind kind, const sched_vals *v, const char *fn) {
    switch (kind) {
    case SCHED_STEP:
        if (v->step_size < 1)
            return born_error(BORN_ERR_ARGUMENT, "%s: step_size %" PRId64 " must be >= 1", fn,
                              v->step_size);
        if (!isfinite(v->gamma))
            return born_error(BORN_ERR_ARGUMENT, "%s: gamma %g must be finite", fn, v->gamma);
        break;
    case SCHED_COSINE:
        if (v->T_max < 1)
            return born_error(BORN_ERR_ARGUMENT, "%s: T_max %" PRId64 " must be >= 1", fn,
                              v->T_max);
        if (!isfinite(v->eta_min))
            return born_error(BORN_ERR_ARGUMENT, "%s: eta_min %g must be finite", fn, v->eta_min);
        break;
    case SCHED_LINEAR:
        if (!(v->start_factor > 0 && v->start_factor <= 1))
            return born_error(BORN_ERR_ARGUMENT, "%s: start_factor %g must be in (0, 1]", fn,
                              v->start_factor);
        if (!(v->end_factor >= 0 && v->end_factor <= 1))
            return born_error(BORN_ERR_ARGUMENT, "%s: end_factor %g must be in [0, 1]", fn,
                              v->end_factor);
        if (v->total_iters < 1)
            return born_error(BORN_ERR_ARGUMENT, "%s: total_iters %" PRId64 " must be >= 1", fn,
                              v->total_iters);
        break;
    case SCHED_ONE_CYCLE:
        if (v->total_steps < 1)
            return born_error(BORN_ERR_ARGUMENT, "%s: total_steps %" PRId64 " must be >= 1", fn,
                              v->total_steps);
        if (!(v->pct_start >= 0 && v->pct_start <= 1))
            return born_error(BORN_ERR_ARGUMENT, "%s: pct_start %g must be in [0, 1]", fn,
                              v->pct_start);
        if (v->anneal != BORN_ANNEAL_COS && v->anneal != BORN_ANNEAL_LINEAR)
            return born_error(BORN_ERR_ARGUMENT, "%s: unknown anneal strategy %" PRId64, fn,
                              v->anneal);
        if (!isfinite(v->initial_lr) || !isfinite(v->max_lr) || !isfinite(v->min_lr) ||
            !(v->max_lr >= 0))
            return born_error(BORN_ERR_ARGUMENT, "%s: max_lr %g, div_factor and final_div_factor "
                              "must give finite learning rates >= 0", fn, v->max_lr);
        if (!isfinite(v->base_momentum) || !isfinite(v->max_momentum))
            return born_error(BORN_ERR_ARGUMENT, "%s: momenta must be finite", fn);
        break;
    case SCHED_SEQUENTIAL: break;
    }
    return BORN_OK;
}

/* ---- the schedules ------------------------------------------------------------------------- */

static double anneal(int64_t strategy, double start, double end, double pct) {
    if (strategy == BORN_ANNEAL_COS) {
        double cos_out = cos(M_PI * pct) + 1;
        return end + (start - end) / 2.0 * cos_out;
    }
    return (end - start) * pct + start;
}

static born_status one_cycle_lr(const sched_vals *v, double *lr, double *mom) {
    int64_t e = v->last_epoch;
    if (e > v->total_steps)
        return born_error(BORN_ERR_ARGUMENT, "born_lr_scheduler_step: tried to step %" PRId64
                          " times; OneCycleLR's total_steps is %" PRId64, e, v->total_steps);
    double T = (double)v->total_steps;
    double ends[3];
    double lr_from[3], lr_to[3], m_from[3], m_to[3];
    int np;
    if (v->three_phase) {
        np = 3;
        ends[0] = v->pct_start * T - 1;
        ends[1] = 2 * v->pct_start * T - 2;
        ends[2] = T - 1;
        double l[4] = {v->initial_lr, v->max_lr, v->initial_lr, v->min_lr};
        double m[4] = {v->max_momentum, v->base_momentum, v->max_momentum, v->max_momentum};
        for (int i = 0; i < 3; i++) {
            lr_from[i] = l[i], lr_to[i] = l[i + 1];
            m_from[i] = m[i], m_to[i] = m[i + 1];
        }
    } else {
        np = 2;
        ends[0] = v->pct_start * T - 1;
        ends[1] = T - 1;
        double l[3] = {v->initial_lr, v->max_lr, v->min_lr};
        double m[3] = {v->max_momentum, v->base_momentum, v->max_momentum};
        for (int i = 0; i < 2; i++) {
            lr_from[i] = l[i], lr_to[i] = l[i + 1];
            m_from[i] = m[i], m_to[i] = m[i + 1];
        }
    }
    double start_step = 0.0;
    for (int i = 0; i < np; i++) {
        if ((double)e <= ends[i] || i == np - 1) {
            double span = ends[i] - start_step;
            if (span == 0)
                return born_error(BORN_ERR_ARGUMENT, "born_lr_scheduler_step: OneCycleLR phase %d "
                                  "has zero length (pct_start %g, total_steps %" PRId64 ")", i,
                                  v->pct_start, v->total_steps);
            double pct = ((double)e - start_step) / span;
            *lr = anneal(v->anneal, lr_from[i], lr_to[i], pct);
            *mom = anneal(v->anneal, m_from[i], m_to[i], pct);
            return BORN_OK;
        }
        start_step = ends[i];
    }
    return born_error(BORN_ERR_INTERNAL, "one_cycle_lr: no phase");
}

/* torch's get_lr(): the lr for epoch v->last_epoch from the optimizer's current lr. */
static born_status get_lr(const born_lr_scheduler *s, const sched_vals *v, bool initial,
                          double *lr, double *mom) {
    double cur = s->opt->h.lr;
    int64_t e = v->last_epoch;
    *mom = NAN;
    switch (s->kind) {
    case SCHED_STEP:
        *lr = (e == 0 || pymod(e, v->step_size) != 0) ? cur : cur * v->gamma;
        return BORN_OK;
    case SCHED_LINEAR:
        if (e == 0) *lr = cur * v->start_factor;
        else if (initial || e > v->total_iters) *lr = cur;
        else
            *lr = cur * (1.0 + (v->end_factor - v->start_factor) /
                                   ((double)v->total_iters * v->start_factor +
                                    (double)(e - 1) * (v->end_factor - v->start_factor)));
        return BORN_OK;
    case SCHED_COSINE: {
        double T = (double)v->T_max, base = v->base_lr, eta = v->eta_min;
        if (initial) {
            *lr = cur;
        } else if (v->step_count == 1 && e > 0) {
            *lr = eta + (base - eta) * (1 + cos((double)e * M_PI / T)) / 2;
        } else if (pymod(e - 1 - v->T_max, 2 * v->T_max) == 0) {
            *lr = cur + (base - eta) * (1 - cos(M_PI / T)) / 2;
        } else {
            double den = 1 + cos(M_PI * (double)(e - 1) / T);
            if (den == 0)
                return born_error(BORN_ERR_ARGUMENT, "born_lr_scheduler_step: CosineAnnealingLR "
                                  "divides by zero at epoch %" PRId64, e);
            *lr = (1 + cos(M_PI * (double)e / T)) / den * (cur - eta) + eta;
        }
        return BORN_OK;
    }
    case SCHED_ONE_CYCLE: return one_cycle_lr(v, lr, mom);
    case SCHED_SEQUENTIAL: break;
    }
    return born_error(BORN_ERR_INTERNAL, "get_lr: bad scheduler kind");
}

/* torch's _get_closed_form_lr() (OneCycleLR has none and uses get_lr). */
static born_status closed_form_lr(const born_lr_scheduler *s, const sched_vals *v, double *lr,
                                  double *mom) {
    int64_t e = v->last_epoch;
    double base = v->base_lr;
    *mom = NAN;
    switch (s->kind) {
    case SCHED_STEP: *lr = base * pow(v->gamma, (double)pyfloordiv(e, v->step_size)); return BORN_OK;
    case SCHED_LINEAR: {
        int64_t k = v->total_iters < e ? v->total_iters : e;
        *lr = base * (v->start_factor +
                      (v->end_factor - v->start_factor) * (double)k / (double)v->total_iters);
        return BORN_OK;
    }
    case SCHED_COSINE:
        *lr = v->eta_min +
              (base - v->eta_min) * (1 + cos(M_PI * (double)e / (double)v->T_max)) / 2;
        return BORN_OK;
    default: return get_lr(s, v, false, lr, mom);
    }
}

/* Applies a computed lr (and momentum) to the optimizer and commits v. */
static void commit(born_lr_scheduler *s, sched_vals *v, double lr, double mom) {
    if (s->kind == SCHED_ONE_CYCLE && v->cycle_momentum) {
        if (v->use_beta1) s->opt->h.betas[0] = mom;
        else s->opt->h.momentum = mom;
    }
    s->opt->h.lr = lr;
    v->last_lr = lr;
    s->v = *v;
    (void)optim_push_lr(s->opt); /* a device copy of the lr (records its error, if any) */
}

static int bisect_right(const int64_t *a, int n, int64_t x) {
    int i = 0;
    while (i < n && a[i] <= x) i++;
    return i;
}

static born_status sched_step(born_lr_scheduler *s, bool initial);

/* torch's _update_lr(0): restart at epoch 0 through the closed form. */
static born_status sched_restart(born_lr_scheduler *s) {
    sched_vals v = s->v;
    v.last_epoch = 0;
    double lr, mom;
    if (closed_form_lr(s, &v, &lr, &mom) != BORN_OK) return born_last_status();
    commit(s, &v, lr, mom);
    return BORN_OK;
}

/* torch's step() (initial: inside _initial_step). */
static born_status sched_step(born_lr_scheduler *s, bool initial) {
    if (s->kind == SCHED_SEQUENTIAL) {
        int64_t e = s->v.last_epoch + 1;
        int idx = bisect_right(s->milestones, s->n - 1, e);
        born_lr_scheduler *c = s->children[idx];
        born_status st = (idx > 0 && s->milestones[idx - 1] == e) ? sched_restart(c)
                                                                  : sched_step(c, false);
        if (st != BORN_OK) return st;
        s->v.last_epoch = e;
        s->v.last_lr = c->v.last_lr;
        return BORN_OK;
    }
    sched_vals v = s->v;
    v.step_count += 1;
    v.last_epoch += 1;
    double lr, mom;
    if (get_lr(s, &v, initial, &lr, &mom) != BORN_OK) return born_last_status();
    commit(s, &v, lr, mom);
    return BORN_OK;
}

static born_status sched_initial_step(born_lr_scheduler *s) {
    int64_t saved = s->v.step_count;
    s->v.step_count = 0;
    born_status st = sched_step(s, true);
    if (st != BORN_OK) s->v.step_count = saved;
    return st;
}

/* ---- construction -------------------------------------------------------------------------- */

static void sched_release(born_lr_scheduler *s) {
    for (int i = 0; i < s->n; i++) born_lr_scheduler_free(s->children[i]);
    free(s->children);
    free(s->milestones);
    born_optimizer_free(s->opt);
    free(s);
}

/* A scheduler of kind over opt with hyperparameters in v: records initial_lr and takes the
 * initial step, as LRScheduler.__init__ with last_epoch = -1. opt's hyperparameters are restored
 * to `saved` on failure. */
static born_lr_scheduler *sched_new(born_optimizer *opt, sched_kind kind, const sched_vals *v,
                                    const optim_hparams *saved, const char *fn) {
    if (sched_validate(kind, v, fn) != BORN_OK) {
        opt->h = *saved;
        return NULL;
    }
    born_lr_scheduler *s = calloc(1, sizeof *s);
    if (!s) {
        opt->h = *saved;
        return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    }
    s->kind = kind;
    s->v = *v;
    optim_retain(opt);
    s->opt = opt;
    if (!opt->h.has_initial_lr) {
        opt->h.has_initial_lr = true;
        opt->h.initial_lr = opt->h.lr;
    }
    s->v.base_lr = opt->h.initial_lr;
    s->v.last_epoch = -1;
    if (sched_initial_step(s) != BORN_OK) {
        opt->h = *saved;
        sched_release(s);
        return NULL;
    }
    return s;
}

static bool check_opt(const born_optimizer *opt, const char *fn) {
    if (!opt) born_error(BORN_ERR_ARGUMENT, "%s: optimizer is NULL", fn);
    return opt != NULL;
}

born_lr_scheduler *born_step_lr(born_optimizer *opt, int64_t step_size, double gamma) {
    if (!check_opt(opt, "born_step_lr")) return NULL;
    sched_vals v = {.step_size = step_size, .gamma = gamma};
    optim_hparams saved = opt->h;
    return sched_new(opt, SCHED_STEP, &v, &saved, "born_step_lr");
}

born_lr_scheduler *born_cosine_annealing_lr(born_optimizer *opt, int64_t T_max, double eta_min) {
    if (!check_opt(opt, "born_cosine_annealing_lr")) return NULL;
    sched_vals v = {.T_max = T_max, .eta_min = eta_min};
    optim_hparams saved = opt->h;
    return sched_new(opt, SCHED_COSINE, &v, &saved, "born_cosine_annealing_lr");
}

born_lr_scheduler *born_linear_lr(born_optimizer *opt, double start_factor, double end_factor,
                                  int64_t total_iters) {
    if (!check_opt(opt, "born_linear_lr")) return NULL;
    sched_vals v = {.start_factor = start_factor, .end_factor = end_factor,
                    .total_iters = total_iters};
    optim_hparams saved = opt->h;
    return sched_new(opt, SCHED_LINEAR, &v, &saved, "born_linear_lr");
}

born_one_cycle_params born_one_cycle_default_params(double max_lr, int64_t total_steps) {
    return (born_one_cycle_params){
        .max_lr = max_lr,
        .total_steps = total_steps,
        .pct_start = 0.3,
        .anneal = BORN_ANNEAL_COS,
        .cycle_momentum = true,
        .base_momentum = 0.85,
        .max_momentum = 0.95,
        .div_factor = 25.0,
        .final_div_factor = 1e4,
        .three_phase = false,
    };
}

born_lr_scheduler *born_one_cycle_lr(born_optimizer *opt, const born_one_cycle_params *p) {
    static const char fn[] = "born_one_cycle_lr";
    if (!check_opt(opt, fn)) return NULL;
    if (!p) return born_error_null(BORN_ERR_ARGUMENT, "%s: params is NULL", fn);
    if (!(p->div_factor > 0) || !(p->final_div_factor > 0))
        return born_error_null(BORN_ERR_ARGUMENT, "%s: div_factor %g and final_div_factor %g must "
                               "be > 0", fn, p->div_factor, p->final_div_factor);
    sched_vals v = {
        .total_steps = p->total_steps,
        .pct_start = p->pct_start,
        .anneal = (int64_t)p->anneal,
        .cycle_momentum = p->cycle_momentum,
        .use_beta1 = opt->algo->momentum_is_beta1,
        .three_phase = p->three_phase,
        .max_lr = p->max_lr,
        .base_momentum = p->base_momentum,
        .max_momentum = p->max_momentum,
    };
    v.initial_lr = p->max_lr / p->div_factor;
    v.min_lr = v.initial_lr / p->final_div_factor;
    if (sched_validate(SCHED_ONE_CYCLE, &v, fn) != BORN_OK) return NULL;
    optim_hparams saved = opt->h;
    opt->h.has_initial_lr = true;
    opt->h.initial_lr = v.initial_lr;
    if (v.cycle_momentum) {
        if (v.use_beta1) opt->h.betas[0] = v.max_momentum;
        else opt->h.momentum = v.max_momentum;
    }
    return sched_new(opt, SCHED_ONE_CYCLE, &v, &saved, fn);
}

born_lr_scheduler *born_sequential_lr(born_optimizer *opt, born_lr_scheduler *const *schedulers,
                                      int n, const int64_t *milestones) {
    static const char fn[] = "born_sequential_lr";
    if (!check_opt(opt, fn)) return NULL;
    if (n < 1 || !schedulers)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: expects at least one scheduler", fn);
    if (n > 1 && !milestones)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: %d schedulers need %d milestones", fn, n,
                               n - 1);
    for (int i = 0; i < n; i++) {
        born_lr_scheduler *c = schedulers[i];
        if (!c) return born_error_null(BORN_ERR_ARGUMENT, "%s: scheduler %d is NULL", fn, i);
        if (c->opt != opt)
            return born_error_null(BORN_ERR_ARGUMENT, "%s: scheduler %d (%s) belongs to another "
                                   "optimizer", fn, i, sched_names[c->kind]);
        if (c->kind == SCHED_SEQUENTIAL)
            return born_error_null(BORN_ERR_ARGUMENT, "%s: scheduler %d is a SequentialLR, which "
                                   "cannot be nested", fn, i);
        for (int j = 0; j < i; j++)
            if (schedulers[j] == c)
                return born_error_null(BORN_ERR_ARGUMENT, "%s: scheduler %d is also scheduler %d",
                                       fn, i, j);
    }
    for (int i = 0; i + 1 < n; i++)
        if (milestones[i] < 0 || (i > 0 && milestones[i] <= milestones[i - 1]))
            return born_error_null(BORN_ERR_ARGUMENT, "%s: milestones must be increasing and >= 0 "
                                   "(milestone %d is %" PRId64 ")", fn, i, milestones[i]);
    born_lr_scheduler *s = calloc(1, sizeof *s);
    if (s) {
        s->children = calloc((size_t)n, sizeof *s->children);
        s->milestones = calloc((size_t)n, sizeof *s->milestones);
    }
    if (!s || !s->children || !s->milestones) {
        if (s) {
            free(s->children);
            free(s->milestones);
        }
        free(s);
        return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    }
    s->kind = SCHED_SEQUENTIAL;
    optim_retain(opt);
    s->opt = opt;
    if (n > 1) memcpy(s->milestones, milestones, sizeof(int64_t) * (size_t)(n - 1));
    /* as torch: reset the lr, undo the children's initial steps, re-run the first one's */
    optim_hparams saved_h = opt->h;
    sched_vals *saved = malloc(sizeof(sched_vals) * (size_t)n);
    if (!saved) {
        free(s->children);
        free(s->milestones);
        born_optimizer_free(opt);
        free(s);
        return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    }
    for (int i = 0; i < n; i++) saved[i] = schedulers[i]->v;
    s->v.last_epoch = 0;
    opt->h.lr = opt->h.initial_lr;
    for (int i = 0; i < n; i++) schedulers[i]->v.last_epoch -= 1;
    born_lr_scheduler *first = schedulers[bisect_right(s->milestones, n - 1, 0)];
    if (sched_initial_step(first) != BORN_OK) {
        for (int i = 0; i < n; i++) schedulers[i]->v = saved[i];
        opt->h = saved_h;
        free(saved);
        free(s->children);
        free(s->milestones);
        born_optimizer_free(opt);
        free(s);
        return NULL;
    }
    free(saved);
    memcpy(s->children, schedulers, sizeof(*s->children) * (size_t)n);
    s->n = n;
    s->v.last_lr = first->v.last_lr;
    return s;
}

born_lr_scheduler *born_warmup_cosine_lr(born_optimizer *opt, int64_t warmup_steps,
                                         int64_t total_steps, double start_factor, double eta_min) {
    static const char fn[] = "born_warmup_cosine_lr";
    if (!check_opt(opt, fn)) return NULL;
    if (warmup_steps < 1 || warmup_steps >= total_steps)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: warmup_steps %" PRId64 " must be in [1, "
                               "total_steps %" PRId64 ")", fn, warmup_steps, total_steps);
    optim_hparams saved = opt->h;
    born_lr_scheduler *c[2] = {born_linear_lr(opt, start_factor, 1.0, warmup_steps), NULL};
    if (c[0]) c[1] = born_cosine_annealing_lr(opt, total_steps - warmup_steps, eta_min);
    born_lr_scheduler *s = c[1] ? born_sequential_lr(opt, c, 2, &warmup_steps) : NULL;
    if (!s) {
        born_lr_scheduler_free(c[0]);
        born_lr_scheduler_free(c[1]);
        opt->h = saved;
    }
    return s;
}

/* ---- use ----------------------------------------------------------------------------------- */

born_status born_lr_scheduler_step(born_lr_scheduler *s) {
    if (!s) return born_error(BORN_ERR_ARGUMENT, "born_lr_scheduler_step: scheduler is NULL");
    return sched_step(s, false);
}

double born_lr_scheduler_get_last_lr(const born_lr_scheduler *s) {
    if (!s) {
        born_error(BORN_ERR_ARGUMENT, "born_lr_scheduler_get_last_lr: scheduler is NULL");
        return NAN;
    }
    return s->v.last_lr;
}

int64_t born_lr_scheduler_last_epoch(const born_lr_scheduler *s) {
    if (!s) {
        born_error(BORN_ERR_ARGUMENT, "born_lr_scheduler_last_epoch: scheduler is NULL");
        return INT64_MIN;
    }
    return s->v.last_epoch;
}

void born_lr_scheduler_free(born_lr_scheduler *s) {
    if (s) sched_release(s);
}

/* ---- state dicts --------------------------------------------------------------------------- */

typedef enum sv_type { SV_I64, SV_F64, SV_LIST, SV_BOOL } sv_type;

#define K(kind) (1u << (kind))
#define ALL_BUT_SEQ (K(SCHED_STEP) | K(SCHED_COSINE) | K(SCHED_LINEAR) | K(SCHED_ONE_CYCLE))

static const struct sv_desc {
    const char *key;
    sv_type type;
    size_t offset;
    unsigned kinds;
} sv_descs[] = {
    {"last_epoch", SV_I64, offsetof(sched_vals, last_epoch), ALL_BUT_SEQ | K(SCHED_SEQUENTIAL)},
    {"_step_count", SV_I64, offsetof(sched_vals, step_count), ALL_BUT_SEQ},
    {"base_lrs", SV_LIST, offsetof(sched_vals, base_lr), ALL_BUT_SEQ},
    {"_last_lr", SV_LIST, offsetof(sched_vals, last_lr), ALL_BUT_SEQ | K(SCHED_SEQUENTIAL)},
    {"step_size", SV_I64, offsetof(sched_vals, step_size), K(SCHED_STEP)},
    {"gamma", SV_F64, offsetof(sched_vals, gamma), K(SCHED_STEP)},
    {"T_max", SV_I64, offsetof(sched_vals, T_max), K(SCHED_COSINE)},
    {"eta_min", SV_F64, offsetof(sched_vals, eta_min), K(SCHED_COSINE)},
    {"start_factor", SV_F64, offsetof(sched_vals, start_factor), K(SCHED_LINEAR)},
    {"end_factor", SV_F64, offsetof(sched_vals, end_factor), K(SCHED_LINEAR)},
    {"total_iters", SV_I64, offsetof(sched_vals, total_iters), K(SCHED_LINEAR)},
    {"total_steps", SV_I64, offsetof(sched_vals, total_steps), K(SCHED_ONE_CYCLE)},
    {"pct_start", SV_F64, offsetof(sched_vals, pct_start), K(SCHED_ONE_CYCLE)},
    {"anneal_strategy", SV_I64, offsetof(sched_vals, anneal), K(SCHED_ONE_CYCLE)},
    {"cycle_momentum", SV_BOOL, offsetof(sched_vals, cycle_momentum), K(SCHED_ONE_CYCLE)},
    {"use_beta1", SV_BOOL, offsetof(sched_vals, use_beta1), K(SCHED_ONE_CYCLE)},
    {"three_phase", SV_BOOL, offsetof(sched_vals, three_phase), K(SCHED_ONE_CYCLE)},
    {"initial_lr", SV_F64, offsetof(sched_vals, initial_lr), K(SCHED_ONE_CYCLE)},
    {"max_lr", SV_F64, offsetof(sched_vals, max_lr), K(SCHED_ONE_CYCLE)},
    {"min_lr", SV_F64, offsetof(sched_vals, min_lr), K(SCHED_ONE_CYCLE)},
    {"base_momentum", SV_F64, offsetof(sched_vals, base_momentum), K(SCHED_ONE_CYCLE)},
    {"max_momentum", SV_F64, offsetof(sched_vals, max_momentum), K(SCHED_ONE_CYCLE)},
};

static born_status add_new(born_tensor_list *l, const char *name, born_tensor *t) {
    if (!t) return born_last_status();
    return born_tensor_list_add(l, name, t);
}

static born_status save_vals(const born_lr_scheduler *s, born_tensor_list *l, const char *prefix) {
    char name[160];
    born_status st = BORN_OK;
    for (size_t i = 0; i < sizeof sv_descs / sizeof *sv_descs && st == BORN_OK; i++) {
        const struct sv_desc *d = &sv_descs[i];
        if (!(d->kinds & K(s->kind))) continue;
        const char *base = (const char *)&s->v + d->offset;
        snprintf(name, sizeof name, "%s%s", prefix, d->key);
        born_tensor *t;
        switch (d->type) {
        case SV_I64: t = born_scalar(BORN_I64, (double)*(const int64_t *)base); break;
        case SV_F64: t = born_scalar(BORN_F64, *(const double *)base); break;
        case SV_LIST: t = born_full(BORN_F64, BORN_DIMS(1), *(const double *)base); break;
        default: t = born_scalar(BORN_BOOL, *(const bool *)base); break;
        }
        st = add_new(l, name, t);
    }
    if (s->kind != SCHED_SEQUENTIAL || st != BORN_OK) return st;
    snprintf(name, sizeof name, "%s_milestones", prefix);
    born_tensor *m = born_empty(BORN_I64, BORN_DIMS(s->n - 1));
    if (m && s->n > 1) memcpy(born_data_i64(m), s->milestones, sizeof(int64_t) * (size_t)(s->n - 1));
    st = add_new(l, name, m);
    for (int i = 0; i < s->n && st == BORN_OK; i++) {
        snprintf(name, sizeof name, "%s_schedulers.%d.", prefix, i);
        st = save_vals(s->children[i], l, name);
    }
    return st;
}

born_tensor_list *born_lr_scheduler_state_dict(const born_lr_scheduler *s) {
    if (!s)
        return born_error_null(BORN_ERR_ARGUMENT, "born_lr_scheduler_state_dict: scheduler is NULL");
    born_tensor_list *l = born_tensor_list_new();
    if (!l) return NULL;
    born_scope_begin();
    born_status st = save_vals(s, l, "");
    born_scope_end();
    if (st != BORN_OK) {
        born_tensor_list_free(l);
        return NULL;
    }
    return l;
}

static born_status read_int(const char *fn, const char *name, born_tensor *t, int64_t *out) {
    double v;
    if (optim_read_values(fn, name, t, &v, 1) != BORN_OK) return born_last_status();
    if (!(v == floor(v)) || fabs(v) > 9007199254740992.0)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s is %g; expected a whole number", fn, name, v);
    *out = (int64_t)v;
    return BORN_OK;
}

static born_status load_vals(const born_lr_scheduler *s, const born_tensor_list *l,
                             const char *prefix, sched_vals *v, const char *fn) {
    char name[160];
    for (size_t i = 0; i < sizeof sv_descs / sizeof *sv_descs; i++) {
        const struct sv_desc *d = &sv_descs[i];
        if (!(d->kinds & K(s->kind))) continue;
        snprintf(name, sizeof name, "%s%s", prefix, d->key);
        born_tensor *t = born_tensor_list_get(l, name);
        if (!t)
            return born_error(BORN_ERR_ARGUMENT, "%s: missing %s for a %s", fn, name,
                              sched_names[s->kind]);
        char *base = (char *)v + d->offset;
        double x;
        if (d->type == SV_I64) {
            if (read_int(fn, name, t, (int64_t *)base) != BORN_OK) return born_last_status();
            continue;
        }
        if (optim_read_values(fn, name, t, &x, 1) != BORN_OK) return born_last_status();
        if (d->type == SV_BOOL) *(bool *)base = x != 0;
        else *(double *)base = x;
    }
    if (s->kind == SCHED_ONE_CYCLE && v->use_beta1 != s->opt->algo->momentum_is_beta1)
        return born_error(BORN_ERR_ARGUMENT, "%s: %suse_beta1 is %s but this optimizer cycles its "
                          "%s", fn, prefix, v->use_beta1 ? "true" : "false",
                          s->opt->algo->momentum_is_beta1 ? "beta1" : "momentum");
    return sched_validate(s->kind, v, fn);
}

born_status born_lr_scheduler_load_state_dict(born_lr_scheduler *s, const born_tensor_list *sd) {
    static const char fn[] = "born_lr_scheduler_load_state_dict";
    if (!s) return born_error(BORN_ERR_ARGUMENT, "%s: scheduler is NULL", fn);
    if (!sd) return born_error(BORN_ERR_ARGUMENT, "%s: state dict is NULL", fn);
    sched_vals v = s->v;
    if (load_vals(s, sd, "", &v, fn) != BORN_OK) return born_last_status();
    if (s->kind != SCHED_SEQUENTIAL) {
        s->v = v;
        return BORN_OK;
    }
    born_tensor *m = born_tensor_list_get(sd, "_milestones");
    if (!m) return born_error(BORN_ERR_ARGUMENT, "%s: missing _milestones", fn);
    if (born_tensor_numel(m) != s->n - 1)
        return born_error(BORN_ERR_SHAPE, "%s: _milestones has %" PRId64 " entries; this "
                          "SequentialLR has %d", fn, born_tensor_numel(m), s->n - 1);
    int64_t *ms = calloc((size_t)s->n, sizeof *ms);
    sched_vals *cv = calloc((size_t)s->n, sizeof *cv);
    double *tmp = calloc((size_t)s->n, sizeof *tmp);
    born_status st = (ms && cv && tmp) ? BORN_OK : born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
    if (st == BORN_OK && s->n > 1) st = optim_read_values(fn, "_milestones", m, tmp, s->n - 1);
    for (int i = 0; i + 1 < s->n && st == BORN_OK; i++) {
        ms[i] = (int64_t)tmp[i];
        if (tmp[i] != floor(tmp[i]) || tmp[i] < 0 || (i > 0 && ms[i] <= ms[i - 1]))
            st = born_error(BORN_ERR_ARGUMENT, "%s: _milestones must be increasing whole numbers "
                            ">= 0", fn);
    }
    char prefix[64];
    for (int i = 0; i < s->n && st == BORN_OK; i++) {
        cv[i] = s->children[i]->v;
        snprintf(prefix, sizeof prefix, "_schedulers.%d.", i);
        st = load_vals(s->children[i], sd, prefix, &cv[i], fn);
    }
    if (st == BORN_OK) {
        s->v = v;
        if (s->n > 1) memcpy(s->milestones, ms, sizeof(int64_t) * (size_t)(s->n - 1));
        for (int i = 0; i < s->n; i++) s->children[i]->v = cv[i];
    }
    free(ms);
    free(cv);
    free(tmp);
    return st;
}
