/* What every optimizer does: take references to validated parameters, create each parameter's
 * state at the first step that sees its gradient, run the algorithm's fused kernel per parameter,
 * and save and restore state dicts. The algorithms themselves are in sgd.c, adam.c, rmsprop.c. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_util.h"
#include "born/graph.h"
#include "optim/optim_internal.h"

born_status optim_check_nonneg(const char *fn, const char *what, double v) {
    if (v >= 0) return BORN_OK;
    return born_error(BORN_ERR_ARGUMENT, "%s: invalid %s %g (must be >= 0)", fn, what, v);
}

born_strided optim_strided(const born_tensor *t) {
    if (t) return strided_of(t);
    born_strided s;
    memset(&s, 0, sizeof s);
    return s;
}

void optim_retain(born_optimizer *opt) { atomic_fetch_add(&opt->refs, 1); }

/* ---- creation ------------------------------------------------------------------------------ */

static bool check_param(const char *fn, born_tensor *const *params, int64_t i) {
    born_tensor *p = params[i];
    char d[200];
    if (!p) {
        born_error(BORN_ERR_ARGUMENT, "%s: parameter %" PRId64 " is NULL", fn, i);
        return false;
    }
    if (!born_dtype_is_floating(p->dtype)) {
        born_error(BORN_ERR_DTYPE, "%s: parameter %" PRId64 " is %s; only floating tensors can be "
                   "optimized", fn, i, born_tensor_describe(p, d, sizeof d));
        return false;
    }
    if (!born_tensor_is_leaf(p)) {
        born_error(BORN_ERR_ARGUMENT, "%s: parameter %" PRId64 " (%s) is not a leaf: it was made "
                   "by %s; optimize the leaf tensors it was computed from", fn, i,
                   born_tensor_describe(p, d, sizeof d), born_grad_fn_name(p));
        return false;
    }
    if (!born_tensor_requires_grad(p)) {
        born_error(BORN_ERR_ARGUMENT, "%s: parameter %" PRId64 " (%s) does not require grad; flag "
                   "it with born_requires_grad", fn, i, born_tensor_describe(p, d, sizeof d));
        return false;
    }
    for (int k = 0; k < p->ndim; k++) {
        if (p->shape[k] > 1 && p->strides[k] == 0) {
            born_error(BORN_ERR_ARGUMENT, "%s: parameter %" PRId64 " (%s) is an expanded view "
                       "whose elements share memory; it cannot be updated in place", fn, i,
                       born_tensor_describe(p, d, sizeof d));
            return false;
        }
    }
    for (int64_t j = 0; j < i; j++) {
        if (params[j] == p) {
            born_error(BORN_ERR_ARGUMENT, "%s: parameter %" PRId64 " is the same tensor as "
                       "parameter %" PRId64 "", fn, i, j);
            return false;
        }
    }
    return true;
}

born_optimizer *optim_new(const optim_algo *algo, const char *fn, born_tensor *const *params,
                          int64_t n, const optim_hparams *h) {
    born_ensure_init();
    if (!params || n <= 0)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: the parameter list is empty", fn);
    if (algo->validate(h, fn) != BORN_OK) return NULL;
    for (int64_t i = 0; i < n; i++)
        if (!check_param(fn, params, i)) return NULL;
    born_optimizer *opt = calloc(1, sizeof *opt);
    if (opt) {
        opt->params = calloc((size_t)n, sizeof *opt->params);
        opt->state = calloc((size_t)n, sizeof *opt->state);
    }
    if (!opt || !opt->params || !opt->state) {
        if (opt) {
            free(opt->params);
            free(opt->state);
        }
        free(opt);
        return born_error_null(BORN_ERR_MEMORY, "%s: out of memory for %" PRId64 " parameters",
                               fn, n);
    }
    atomic_init(&opt->refs, 1);
    opt->algo = algo;
    opt->n = n;
    opt->h = *h;
    for (int64_t i = 0; i < n; i++) opt->params[i] = born_tensor_retain(params[i]);
    return opt;
}

static void state_clear(optim_state *st) {
    for (int k = 0; k < OPTIM_SLOTS; k++) {
        if (st->slot[k]) tensor_release(st->slot[k]);
        st->slot[k] = NULL;
    }
    st->initialized = false;
    st->step = 0;
}

void born_optimizer_free(born_optimizer *opt) {
    if (!opt || atomic_fetch_sub(&opt->refs, 1) != 1) return;
    optim_free_device_scalars(opt);
    for (int64_t i = 0; i < opt->n; i++) {
        state_clear(&opt->state[i]);
        tensor_release(opt->params[i]);
    }
    free(opt->params);
    free(opt->state);
    free(opt);
}

/* ---- simple accessors ---------------------------------------------------------------------- */

double born_optimizer_get_lr(const born_optimizer *opt) {
    if (!opt) {
        born_error(BORN_ERR_ARGUMENT, "born_optimizer_get_lr: optimizer is NULL");
        return NAN;
    }
    return opt->h.lr;
}

born_status born_optimizer_set_lr(born_optimizer *opt, double lr) {
    if (!opt) return born_error(BORN_ERR_ARGUMENT, "born_optimizer_set_lr: optimizer is NULL");
    if (optim_check_nonneg("born_optimizer_set_lr", "learning rate", lr) != BORN_OK)
        return born_last_status();
    opt->h.lr = lr;
    return optim_push_lr(opt);
}

double born_optimizer_get_momentum(const born_optimizer *opt) {
    if (!opt) {
        born_error(BORN_ERR_ARGUMENT, "born_optimizer_get_momentum: optimizer is NULL");
        return NAN;
    }
    return opt->algo->momentum_is_beta1 ? opt->h.betas[0] : opt->h.momentum;
}

born_optimizer_kind born_optimizer_get_kind(const born_optimizer *opt) {
    if (!opt) {
        born_error(BORN_ERR_ARGUMENT, "born_optimizer_get_kind: optimizer is NULL");
        return BORN_OPTIMIZER_SGD;
    }
    if (opt->algo == &optim_adam_algo)
        return opt->h.decoupled_weight_decay ? BORN_OPTIMIZER_ADAMW : BORN_OPTIMIZER_ADAM;
    return opt->algo == &optim_rmsprop_algo ? BORN_OPTIMIZER_RMSPROP : BORN_OPTIMIZER_SGD;
}

int64_t born_optimizer_num_params(const born_optimizer *opt) {
    if (!opt) {
        born_error(BORN_ERR_ARGUMENT, "born_optimizer_num_params: optimizer is NULL");
        return -1;
    }
    return opt->n;
}

void born_optimizer_zero_grad(born_optimizer *opt) {
    if (!opt) return;
    for (int64_t i = 0; i < opt->n; i++) born_zero_grad(opt->params[i]);
}

/* ---- step ---------------------------------------------------------------------------------- */

static bool same_shape(const born_tensor *a, const born_tensor *b) {
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0;
}

/* A new state slot for p: zeros, or uninitialised when the kernel writes it first. Owned by the
 * caller (not by any scope). */
static born_tensor *slot_new(const born_backend *be, born_tensor *p, bool zero) {
    born_tensor *t = ops_empty(p->dtype, p->ndim, p->shape, p->storage->device);
    if (!t) return NULL;
    scope_unregister(t);
    if (zero) {
        born_strided s = strided_of(t);
        if (be->fill(&s, 0.0) != BORN_OK) {
            tensor_release(t);
            return NULL;
        }
    }
    return t;
}

static bool shares_with_state(const born_tensor *g, const born_tensor *p, const optim_state *st) {
    if (born_tensor_shares_storage(g, p)) return true;
    for (int k = 0; k < OPTIM_SLOTS; k++)
        if (st->slot[k] && born_tensor_shares_storage(g, st->slot[k])) return true;
    return false;
}

/* Marks a parameter in step's per-parameter flags (beside the created-slot bits) as updated by
 * multi_update. */
#define MULTI_DONE 0x80u

/* Whether parameter i (which has a gradient) joins the multi-tensor update on backend be: the
 * algorithm accepts it, its gradient shares no memory with it or its state, and no slot the
 * kernel must write first was just created (flags: step's per-parameter bits). */
static bool joins_multi(const born_optimizer *opt, int64_t i, const unsigned char *flags,
                        const born_backend *be) {
    born_tensor *p = opt->params[i], *g = p->grad;
    return !(flags[i] & opt->algo->uninit_slots) && !shares_with_state(g, p, &opt->state[i]) &&
           opt->algo->multi_ok(be, &opt->h, p, g, &opt->state[i]);
}

/* The multi-tensor update of every parameter the algorithm accepts (joins_multi), grouped by
 * device and dtype, with the step count incremented as in the one-by-one loop; marks them in
 * flags. found_inf (device memory, or NULL) goes to every group: the kernels skip on it. */
static born_status multi_update(born_optimizer *opt, unsigned char *flags,
                                const float *found_inf) {
    const optim_algo *a = opt->algo;
    int64_t n = opt->n;
    born_tensor **ps = malloc(sizeof *ps * (size_t)(n > 0 ? n : 1));
    born_tensor **gs = malloc(sizeof *gs * (size_t)(n > 0 ? n : 1));
    optim_state **sts = malloc(sizeof *sts * (size_t)(n > 0 ? n : 1));
    unsigned char *ok = calloc((size_t)(n > 0 ? n : 1), 1);
    born_status status = BORN_OK;
    if (!ps || !gs || !sts || !ok)
        status = born_error(BORN_ERR_MEMORY, "born_optimizer_step: out of memory");
    for (int64_t i = 0; i < n && status == BORN_OK; i++) {
        born_tensor *p = opt->params[i];
        if (!p->grad) continue;
        const born_backend *be = backend_for(p->storage->device);
        ok[i] = joins_multi(opt, i, flags, be);
        /* step counts and lr in device memory where the backend reads them there (before the
         * host counts this step: they start from the host's counts) */
        if (ok[i] && a->has_step && be->adam_multi_device_scalars)
            status = optim_device_scalars(opt, p->storage->device);
    }
    for (int64_t i = 0; i < n && status == BORN_OK; i++) {
        if (ok[i] != 1) continue;
        born_tensor *first = opt->params[i];
        int64_t count = 0;
        for (int64_t j = i; j < n; j++) {
            born_tensor *p = opt->params[j];
            if (ok[j] != 1 || p->dtype != first->dtype ||
                !born_device_equal(p->storage->device, first->storage->device))
                continue;
            ok[j] = 2;
            optim_state *st = &opt->state[j];
            if (a->has_step) {
                if (!st->initialized) st->step = 0;
                st->initialized = true;
                st->step = st->step + 1.0f;
            }
            ps[count] = p;
            gs[count] = p->grad;
            sts[count] = st;
            count++;
            flags[j] |= MULTI_DONE;
        }
        if (a->has_step && count > 0 && !sts[0]->device_step &&
            born_graph_capturing(first->storage->device)) {
            status = born_error(BORN_ERR_UNSUPPORTED, "born_optimizer_step: the step counts of "
                                "the parameters on this device live on the host (the optimizer "
                                "keeps device counts for one device): they cannot be captured");
            break;
        }
        status = a->update_multi(backend_for(first->storage->device), &opt->h, count, ps, gs, sts,
                                 found_inf);
        for (int64_t k = 0; k < count; k++)
            storage_bump_version(ps[k]->storage);
    }
    free(ps);
    free(gs);
    free(sts);
    free(ok);
    return status;
}

/* Drops the state slots created for parameters 0..last by this step. */
static void status_rollback(born_optimizer *opt, const unsigned char *created, int64_t last) {
    for (int64_t j = 0; j <= last; j++)
        for (int q = 0; q < OPTIM_SLOTS; q++)
            if (created[j] & (1u << q)) {
                tensor_release(opt->state[j].slot[q]);
                opt->state[j].slot[q] = NULL;
            }
}

/* Whether the kernels can skip the step on found_inf themselves: every parameter with a gradient
 * is on found_inf's device and joins the multi-tensor update there, with its step count in device
 * memory (the backend's adam_multi_device_scalars), so that a skipped step changes nothing. */
static bool skips_on_device(const born_optimizer *opt, const unsigned char *flags,
                            const born_tensor *found_inf) {
    born_device d = found_inf->storage->device;
    const optim_algo *a = opt->algo;
    if (d.type == BORN_DEVICE_CPU || !a->update_multi || !a->has_step ||
        found_inf->dtype != BORN_F32 || born_tensor_numel(found_inf) != 1)
        return false;
    const born_backend *be = backend_for(d);
    if (!be || !be->adam_multi_device_scalars) return false;
    if (opt->dev_steps && !born_device_equal(opt->dev_device, d)) return false;
    for (int64_t i = 0; i < opt->n; i++) {
        born_tensor *p = opt->params[i];
        if (p->grad && (!born_device_equal(p->storage->device, d) || !joins_multi(opt, i, flags, be)))
            return false;
    }
    return true;
}

/* The host's reading of found_inf (a wait), refused inside a capture on its device. */
static born_status found_on_host(const born_optimizer *opt, born_tensor *found_inf, bool *skip) {
    if (born_graph_capturing(found_inf->storage->device))
        return born_error(BORN_ERR_UNSUPPORTED, "born_optimizer_step: this %s step must read the "
                          "GradScaler's inf/NaN flag on the host (only Adam/AdamW whose parameters "
                          "all take the multi-tensor update on the flag's GPU skip a step on the "
                          "device), which a graph capture cannot do; step outside the capture",
                          opt->algo->name);
    double v = 0;
    born_status st = optim_read_values("born_optimizer_step", "found_inf", found_inf, &v, 1);
    *skip = st == BORN_OK && v != 0;
    return st;
}

born_status born_optimizer_step(born_optimizer *opt) { return optim_step_skippable(opt, NULL); }

born_status optim_step_skippable(born_optimizer *opt, born_tensor *found_inf) {
    static const char fn[] = "born_optimizer_step";
    if (!opt) return born_error(BORN_ERR_ARGUMENT, "%s: optimizer is NULL", fn);
    const optim_algo *a = opt->algo;
    /* 1. check every gradient before changing anything */
    for (int64_t i = 0; i < opt->n; i++) {
        born_tensor *p = opt->params[i], *g = p->grad;
        if (!g) continue;
        if (g->dtype != p->dtype || !same_shape(g, p) ||
            !born_device_equal(g->storage->device, p->storage->device)) {
            char dg[200], dp[200];
            return born_error(BORN_ERR_SHAPE, "%s: the gradient of parameter %" PRId64 " is %s "
                              "but the parameter is %s", fn, i,
                              born_tensor_describe(g, dg, sizeof dg),
                              born_tensor_describe(p, dp, sizeof dp));
        }
        if (!backend_for(p->storage->device)) return born_last_status();
    }
    /* 2. create missing state (rolled back if an allocation fails) */
    unsigned char *created = calloc((size_t)opt->n, 1);
    if (!created) return born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
    unsigned needed = a->needed_slots(&opt->h);
    for (int64_t i = 0; i < opt->n; i++) {
        born_tensor *p = opt->params[i];
        if (!p->grad) continue;
        const born_backend *be = backend_for(p->storage->device);
        optim_state *st = &opt->state[i];
        for (int k = 0; k < OPTIM_SLOTS; k++) {
            if (!(needed & (1u << k)) || st->slot[k]) continue;
            if (born_graph_capturing(p->storage->device)) { /* its zeros would not be written */
                status_rollback(opt, created, i);
                free(created);
                return born_error(BORN_ERR_ARGUMENT, "%s: the state of parameter %" PRId64
                                  " would be created inside a graph capture; run one step "
                                  "before capturing", fn, i);
            }
            st->slot[k] = slot_new(be, p, !(a->uninit_slots & (1u << k)));
            if (!st->slot[k]) {
                status_rollback(opt, created, i);
                free(created);
                return born_last_status() != BORN_OK
                           ? born_last_status()
                           : born_error(BORN_ERR_MEMORY, "%s: out of memory for the state", fn);
            }
            created[i] |= (unsigned char)(1u << k);
        }
    }
    /* 3. a step that found_inf may skip: on the device when the kernels can, else decided here
     * (a skipped step drops the state it created and changes nothing) */
    const float *device_found = NULL;
    if (found_inf && skips_on_device(opt, created, found_inf)) {
        device_found = tensor_data(found_inf);
    } else if (found_inf) {
        bool skip = false;
        born_status st = found_on_host(opt, found_inf, &skip);
        if (st != BORN_OK || skip) {
            status_rollback(opt, created, opt->n - 1);
            free(created);
            return st;
        }
    }
    /* 4. update: first the parameters that join a multi-tensor update (one call per device and
     * dtype), then the others one by one */
    born_status status = BORN_OK;
    if (a->update_multi) status = multi_update(opt, created, device_found);
    for (int64_t i = 0; i < opt->n && status == BORN_OK; i++) {
        born_tensor *p = opt->params[i], *g = p->grad;
        if (!g || (created[i] & MULTI_DONE)) continue;
        optim_state *st = &opt->state[i];
        born_tensor *copy = NULL;
        if (shares_with_state(g, p, st)) { /* the kernel writes p and st in place */
            copy = ops_cast(g, g->dtype);
            if (!copy) {
                status = born_last_status();
                break;
            }
            g = copy;
        }
        if (a->has_step && born_graph_capturing(p->storage->device)) {
            /* its step count and bias corrections would be frozen into the graph */
            born_free(copy);
            status = born_error(BORN_ERR_UNSUPPORTED, "%s: parameter %" PRId64 " takes the "
                                "one-by-one update (not contiguous, or its gradient shares its "
                                "memory), whose step count lives on the host: it cannot be "
                                "captured in a graph", fn, i);
            break;
        }
        if (a->has_step && st->device_step) { /* the device's counts are the current ones */
            status = optim_retire_device_scalars(opt);
            if (status != BORN_OK) {
                born_free(copy);
                break;
            }
        }
        if (a->has_step) {
            if (!st->initialized) st->step = 0;
            st->initialized = true;
            st->step = st->step + 1.0f;
        }
        status = a->update(backend_for(p->storage->device), &opt->h, p, g, st,
                           (created[i] & a->uninit_slots) != 0);
        storage_bump_version(p->storage);
        born_free(copy);
    }
    free(created);
    return status;
}

/* ---- state dicts --------------------------------------------------------------------------- */

static const char pg_prefix[] = "param_groups.0.";

static born_status list_add_new(born_tensor_list *l, const char *name, born_tensor *t) {
    if (!t) return born_last_status();
    return born_tensor_list_add(l, name, t);
}

static born_tensor *pair_tensor(const double *v) {
    return born_from_data(BORN_F64, BORN_DIMS(2), v, 2 * sizeof(double));
}

born_tensor_list *born_optimizer_state_dict(const born_optimizer *opt) {
    if (!opt) return born_error_null(BORN_ERR_ARGUMENT, "born_optimizer_state_dict: optimizer is NULL");
    const optim_algo *a = opt->algo;
    born_tensor_list *l = born_tensor_list_new();
    if (!l) return NULL;
    born_scope_begin();
    born_status st = BORN_OK;
    char name[128];
    /* step counts kept on the device (replayed graphs count there alone) */
    float *dev_steps = opt->dev_steps ? malloc(sizeof *dev_steps * (size_t)opt->n) : NULL;
    if (opt->dev_steps && !dev_steps)
        st = born_error(BORN_ERR_MEMORY, "born_optimizer_state_dict: out of memory");
    if (dev_steps) optim_device_steps(opt, dev_steps, &st);
    for (int64_t i = 0; i < opt->n && st == BORN_OK; i++) {
        const optim_state *s = &opt->state[i];
        if (a->has_step && s->initialized) {
            snprintf(name, sizeof name, "state.%" PRId64 ".step", i);
            float step = dev_steps && s->device_step ? dev_steps[i] : s->step;
            st = list_add_new(l, name, born_scalar(BORN_F32, step));
        }
        for (int k = 0; k < OPTIM_SLOTS && st == BORN_OK; k++) {
            if (!s->slot[k]) continue;
            snprintf(name, sizeof name, "state.%" PRId64 ".%s", i, a->slot_names[k]);
            st = list_add_new(l, name, ops_cast(s->slot[k], s->slot[k]->dtype));
        }
    }
    for (const optim_hp_desc *d = a->hparams; d->key && st == BORN_OK; d++) {
        const char *base = (const char *)&opt->h + d->offset;
        snprintf(name, sizeof name, "%s%s", pg_prefix, d->key);
        born_tensor *t = d->kind == HP_DOUBLE ? born_scalar(BORN_F64, *(const double *)base)
                         : d->kind == HP_PAIR ? pair_tensor((const double *)base)
                                              : born_scalar(BORN_BOOL, *(const bool *)base);
        st = list_add_new(l, name, t);
    }
    if (st == BORN_OK && opt->h.has_initial_lr)
        st = list_add_new(l, "param_groups.0.initial_lr", born_scalar(BORN_F64, opt->h.initial_lr));
    if (st == BORN_OK)
        st = list_add_new(l, "param_groups.0.params",
                          born_arange(0, (double)opt->n, 1, BORN_I64));
    born_scope_end();
    free(dev_steps);
    if (st != BORN_OK) {
        born_tensor_list_free(l);
        return NULL;
    }
    return l;
}

/* Reads the n values of t (any real dtype, any shape with n elements) as doubles. */
born_status optim_read_values(const char *fn, const char *name, born_tensor *t, double *out,
                               int64_t n) {
    char d[200];
    if (born_tensor_numel(t) != n)
        return born_error(BORN_ERR_SHAPE, "%s: %s is %s; expected %" PRId64 " value%s", fn, name,
                          born_tensor_describe(t, d, sizeof d), n, n == 1 ? "" : "s");
    born_no_grad_begin();
    born_tensor *cpu = born_to(t, BORN_CPU);
    born_no_grad_end();
    born_tensor *f64 = cpu ? ops_cast(cpu, BORN_F64) : NULL;
    born_status st = f64 ? born_copy_to_buffer(f64, out, (size_t)n * sizeof(double))
                         : born_last_status();
    born_free(f64);
    born_free(cpu);
    return st;
}

static born_status load_hparams(const born_optimizer *opt, const born_tensor_list *l,
                                optim_hparams *h, const char *fn) {
    char name[128];
    for (const optim_hp_desc *d = opt->algo->hparams; d->key; d++) {
        snprintf(name, sizeof name, "%s%s", pg_prefix, d->key);
        born_tensor *t = born_tensor_list_get(l, name);
        if (!t) return born_error(BORN_ERR_ARGUMENT, "%s: missing %s", fn, name);
        double v[2];
        if (optim_read_values(fn, name, t, v, d->kind == HP_PAIR ? 2 : 1) != BORN_OK)
            return born_last_status();
        char *base = (char *)h + d->offset;
        if (d->kind == HP_DOUBLE) *(double *)base = v[0];
        else if (d->kind == HP_PAIR) memcpy(base, v, sizeof v);
        else *(bool *)base = v[0] != 0;
    }
    born_tensor *t = born_tensor_list_get(l, "param_groups.0.initial_lr");
    h->has_initial_lr = t != NULL;
    if (t && optim_read_values(fn, "param_groups.0.initial_lr", t, &h->initial_lr, 1) != BORN_OK)
        return born_last_status();
    t = born_tensor_list_get(l, "param_groups.0.params");
    if (!t) return born_error(BORN_ERR_ARGUMENT, "%s: missing param_groups.0.params", fn);
    if (born_tensor_numel(t) != opt->n)
        return born_error(BORN_ERR_SHAPE, "%s: the state dict has %" PRId64 " parameters but the "
                          "optimizer has %" PRId64, fn, born_tensor_numel(t), opt->n);
    return opt->algo->validate(h, fn);
}

/* Checks that every entry is one this optimizer knows. */
static born_status check_names(const born_optimizer *opt, const born_tensor_list *l,
                               const char *fn) {
    const optim_algo *a = opt->algo;
    for (int64_t e = 0; e < l->count; e++) {
        const char *name = l->items[e].name;
        if (strncmp(name, "param_groups.", 13) == 0) {
            if (strncmp(name, pg_prefix, sizeof pg_prefix - 1) != 0)
                return born_error(BORN_ERR_ARGUMENT, "%s: %s: only one parameter group is "
                                  "supported", fn, name);
            continue;
        }
        bool known = false;
        if (strncmp(name, "state.", 6) == 0 && name[6] >= '0' && name[6] <= '9') {
            char *end;
            long long i = strtoll(name + 6, &end, 10);
            if (*end == '.' && i < opt->n) {
                const char *rest = end + 1;
                known = a->has_step && strcmp(rest, "step") == 0;
                for (int k = 0; k < OPTIM_SLOTS && !known; k++)
                    known = a->slot_names[k] && strcmp(rest, a->slot_names[k]) == 0;
            }
        }
        if (!known)
            return born_error(BORN_ERR_ARGUMENT, "%s: unexpected entry %s for %s with %" PRId64
                              " parameters", fn, name, a->name, opt->n);
    }
    return BORN_OK;
}

/* A copy of t as parameter p's state: p's shape (checked), dtype and device. */
static born_tensor *state_copy(const char *fn, const char *name, born_tensor *t, born_tensor *p,
                               int64_t i) {
    char dt[200], dp[200];
    if (!same_shape(t, p))
        return born_error_null(BORN_ERR_SHAPE, "%s: %s is %s but parameter %" PRId64 " is %s", fn,
                               name, born_tensor_describe(t, dt, sizeof dt), i,
                               born_tensor_describe(p, dp, sizeof dp));
    if (!born_dtype_is_floating(t->dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: %s is %s; state must be floating", fn, name,
                               born_tensor_describe(t, dt, sizeof dt));
    born_no_grad_begin();
    born_tensor *moved = born_to(t, p->storage->device);
    born_no_grad_end();
    born_tensor *copy = moved ? ops_cast(moved, p->dtype) : NULL;
    born_free(moved);
    if (copy) scope_unregister(copy);
    return copy;
}

static born_status load_state(const born_optimizer *opt, const born_tensor_list *l,
                              const optim_hparams *h, optim_state *out, const char *fn) {
    const optim_algo *a = opt->algo;
    unsigned needed = a->needed_slots(h);
    char name[160];
    for (int64_t i = 0; i < opt->n; i++) {
        optim_state *st = &out[i];
        bool any = false;
        for (int k = 0; k < OPTIM_SLOTS; k++) {
            if (!a->slot_names[k]) continue;
            snprintf(name, sizeof name, "state.%" PRId64 ".%s", i, a->slot_names[k]);
            born_tensor *t = born_tensor_list_get(l, name);
            if (!t) continue;
            any = true;
            st->slot[k] = state_copy(fn, name, t, opt->params[i], i);
            if (!st->slot[k]) return born_last_status();
        }
        if (!a->has_step) continue;
        snprintf(name, sizeof name, "state.%" PRId64 ".step", i);
        born_tensor *t = born_tensor_list_get(l, name);
        if (!t && !any) continue; /* the parameter never had a gradient */
        if (!t) return born_error(BORN_ERR_ARGUMENT, "%s: missing %s", fn, name);
        double v;
        if (optim_read_values(fn, name, t, &v, 1) != BORN_OK) return born_last_status();
        if (!(v >= 0) || v > 3.4e38 || v != floor(v))
            return born_error(BORN_ERR_ARGUMENT, "%s: %s is %g; a step count must be a whole "
                              "number >= 0", fn, name, v);
        st->step = (float)v;
        st->initialized = true;
        for (int k = 0; k < OPTIM_SLOTS; k++) {
            if ((needed & (1u << k)) && !st->slot[k])
                return born_error(BORN_ERR_ARGUMENT, "%s: missing state.%" PRId64 ".%s", fn, i,
                                  a->slot_names[k]);
        }
    }
    return BORN_OK;
}

born_status born_optimizer_load_state_dict(born_optimizer *opt, const born_tensor_list *sd) {
    static const char fn[] = "born_optimizer_load_state_dict";
    if (!opt) return born_error(BORN_ERR_ARGUMENT, "%s: optimizer is NULL", fn);
    if (!sd) return born_error(BORN_ERR_ARGUMENT, "%s: state dict is NULL", fn);
    optim_hparams h = opt->h;
    if (check_names(opt, sd, fn) != BORN_OK || load_hparams(opt, sd, &h, fn) != BORN_OK)
        return born_last_status();
    optim_state *fresh = calloc((size_t)opt->n, sizeof *fresh);
    if (!fresh) return born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
    born_scope_begin();
    born_status st = load_state(opt, sd, &h, fresh, fn);
    born_scope_end();
    optim_state *drop = st == BORN_OK ? opt->state : fresh;
    for (int64_t i = 0; i < opt->n; i++) state_clear(&drop[i]);
    free(drop);
    if (st != BORN_OK) return st;
    opt->state = fresh;
    opt->h = h;
    optim_free_device_scalars(opt); /* made again from the loaded counts at the next step */
    return BORN_OK;
}
