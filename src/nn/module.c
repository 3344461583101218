/* The module abstraction: a base struct that owns named parameters, buffers and children, and
 * the walks over the tree torch's Module offers (parameters, state dicts, train/eval, printing).
 *
 * Ownership: the base holds one plain reference to each parameter and buffer (taken from the
 * scope that held the creation reference, or from the caller) and drops it with tensor_release,
 * never born_free. Children are owned outright and freed with their parent. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor_impl.h"
#include "autograd/profile.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

/* ---- small shared helpers ------------------------------------------------------------------ */

static void str_reserve(nn_str *b, size_t extra) {
    if (b->failed) return;
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + extra + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->failed = true;
        return;
    }
    b->s = s;
    b->cap = cap;
}

void nn_str_append(nn_str *b, const char *text) {
    size_t n = strlen(text);
    str_reserve(b, n);
    if (b->failed) return;
    memcpy(b->s + b->len, text, n + 1);
    b->len += n;
}

void nn_str_printf(nn_str *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    str_reserve(b, (size_t)n);
    if (b->failed) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void nn_buf_printf(char *buf, size_t size, const char *fmt, ...) {
    if (!buf || size == 0) return;
    size_t used = strnlen(buf, size);
    if (used >= size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

const char *nn_py_float(double v, char *out, size_t size) {
    if (isnan(v)) {
        snprintf(out, size, "nan");
        return out;
    }
    if (isinf(v)) {
        snprintf(out, size, v < 0 ? "-inf" : "inf");
        return out;
    }
    char tmp[48];
    int prec = 1;
    for (; prec <= 17; prec++) { /* the shortest digits that read back exactly */
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    int exp10 = atoi(strchr(tmp, 'e') + 1);
    if (exp10 >= -4 && exp10 < 16) { /* Python's repr writes these without an exponent */
        int decimals = prec - 1 - exp10;
        snprintf(tmp, sizeof tmp, "%.*f", decimals > 0 ? decimals : 0, v);
        if (!strchr(tmp, '.')) strncat(tmp, ".0", sizeof tmp - strlen(tmp) - 1);
    }
    snprintf(out, size, "%s", tmp);
    return out;
}

const char *nn_py_pair(const int64_t *v, bool collapse, char *out, size_t size) {
    if (collapse && v[0] == v[1])
        snprintf(out, size, "%" PRId64, v[0]);
    else
        snprintf(out, size, "(%" PRId64 ", %" PRId64 ")", v[0], v[1]);
    return out;
}

const char *nn_py_tuple(int n, const int64_t *v, char *out, size_t size) {
    if (size == 0) return out;
    out[0] = '\0';
    nn_buf_printf(out, size, "(");
    for (int i = 0; i < n; i++) nn_buf_printf(out, size, i ? ", %" PRId64 : "%" PRId64, v[i]);
    nn_buf_printf(out, size, n == 1 ? ",)" : ")");
    return out;
}

born_module *nn_module_alloc(size_t size, const born_module_vtable *vt, const char *fn) {
    born_module *m = calloc(1, size);
    if (!m) return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    born_module_init(m, vt);
    return m;
}

born_tensor *nn_alias(born_tensor *x) {
    if (!x) return NULL;
    return born_view(x, x->ndim, x->shape);
}

/* ---- construction and registration --------------------------------------------------------- */

born_status born_module_init(born_module *m, const born_module_vtable *vt) {
    if (!m || !vt)
        return born_error(BORN_ERR_ARGUMENT, "born_module_init: %s is NULL", !m ? "module" : "vtable");
    memset(m, 0, sizeof *m);
    m->vt = vt;
    m->training = true;
    return BORN_OK;
}

const char *born_module_type_name(const born_module *m) {
    return m && m->vt && m->vt->type_name ? m->vt->type_name : "";
}

static bool name_taken(const born_module *m, const char *name) {
    for (int64_t i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0) return true;
    for (int64_t i = 0; i < m->nbuffers; i++)
        if (strcmp(m->buffers[i].name, name) == 0) return true;
    for (int64_t i = 0; i < m->nchildren; i++)
        if (strcmp(m->children[i].name, name) == 0) return true;
    return false;
}

/* Validates a name for a new parameter, buffer or child of m. */
static born_status check_name(const char *fn, const born_module *m, const char *name) {
    if (!m) return born_error(BORN_ERR_ARGUMENT, "%s: module is NULL", fn);
    if (!m->vt) return born_error(BORN_ERR_ARGUMENT, "%s: module is not initialised "
                                  "(call born_module_init)", fn);
    if (!name || !*name)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: the name is %s", fn, born_module_type_name(m),
                          name ? "empty" : "NULL");
    if (strchr(name, '.'))
        return born_error(BORN_ERR_ARGUMENT, "%s: %s: the name '%s' contains '.'", fn,
                          born_module_type_name(m), name);
    if (name_taken(m, name))
        return born_error(BORN_ERR_ARGUMENT, "%s: %s already has a parameter, buffer or child "
                          "named '%s'", fn, born_module_type_name(m), name);
    return BORN_OK;
}

static born_status add_named(const char *fn, born_named_tensor **items, int64_t *count,
                             int64_t *cap, const char *name, born_tensor *t) {
    if (*count == *cap) {
        int64_t ncap = *cap ? *cap * 2 : 4;
        born_named_tensor *n = realloc(*items, (size_t)ncap * sizeof *n);
        if (!n) return born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
        *items = n;
        *cap = ncap;
    }
    char *copy = strdup(name);
    if (!copy) return born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
    /* take over the creation reference from its scope, or the caller's */
    scope_unregister(t);
    (*items)[*count].name = copy;
    (*items)[*count].tensor = t;
    (*count)++;
    return BORN_OK;
}

born_status born_module_register_parameter(born_module *m, const char *name, born_tensor *t) {
    static const char *fn = "born_module_register_parameter";
    if (!t) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: the tensor for '%s' is NULL", fn,
                                          name ? name : "(null)");
        return born_last_status();
    }
    born_status st = check_name(fn, m, name);
    char d[200];
    if (st == BORN_OK && !born_dtype_is_floating(t->dtype))
        st = born_error(BORN_ERR_DTYPE, "%s: %s.%s is %s; parameters must be floating", fn,
                        born_module_type_name(m), name, ops_describe(t, d, sizeof d));
    if (st == BORN_OK && t->grad_fn)
        st = born_error(BORN_ERR_AUTOGRAD, "%s: %s.%s %s is the result of an op; parameters must "
                        "be leaves (pass born_detach of it)", fn, born_module_type_name(m), name,
                        ops_describe(t, d, sizeof d));
    if (st == BORN_OK && !born_requires_grad(t, true)) st = born_last_status();
    if (st == BORN_OK) st = add_named(fn, &m->params, &m->nparams, &m->params_capacity, name, t);
    if (st != BORN_OK) born_free(t);
    return st;
}

born_status born_module_register_buffer(born_module *m, const char *name, born_tensor *t) {
    static const char *fn = "born_module_register_buffer";
    if (!t) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: the tensor for '%s' is NULL", fn,
                                          name ? name : "(null)");
        return born_last_status();
    }
    born_status st = check_name(fn, m, name);
    if (st == BORN_OK) st = add_named(fn, &m->buffers, &m->nbuffers, &m->buffers_capacity, name, t);
    if (st != BORN_OK) born_free(t);
    return st;
}

born_status born_module_register_child(born_module *m, const char *name, born_module *child) {
    static const char *fn = "born_module_register_child";
    if (!child) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: the module for '%s' is NULL", fn,
                                          name ? name : "(null)");
        return born_last_status();
    }
    if (child->has_parent)
        return born_error(BORN_ERR_ARGUMENT, "%s: the %s given as '%s' already belongs to another "
                          "module", fn, born_module_type_name(child), name ? name : "(null)");
    born_status st = child == m ? born_error(BORN_ERR_ARGUMENT, "%s: a module cannot be its own "
                                             "child", fn)
                                : check_name(fn, m, name);
    if (st == BORN_OK && m->nchildren == m->children_capacity) {
        int64_t ncap = m->children_capacity ? m->children_capacity * 2 : 4;
        born_module_child *n = realloc(m->children, (size_t)ncap * sizeof *n);
        if (!n) st = born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
        else {
            m->children = n;
            m->children_capacity = ncap;
        }
    }
    char *copy = st == BORN_OK ? strdup(name) : NULL;
    if (st == BORN_OK && !copy) st = born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
    if (st != BORN_OK) {
        if (child != m) born_module_free(child);
        return st;
    }
    child->has_parent = true;
    m->children[m->nchildren].name = copy;
    m->children[m->nchildren].module = child;
    m->nchildren++;
    return BORN_OK;
}

born_tensor *nn_add_parameter(born_module *m, const char *name, int ndim, const int64_t *shape) {
    born_tensor *t = born_empty(BORN_F32, ndim, shape);
    return born_module_register_parameter(m, name, t) == BORN_OK ? t : NULL;
}

born_tensor *nn_add_buffer(born_module *m, const char *name, born_dtype dtype, int ndim,
                           const int64_t *shape, double value) {
    born_tensor *t = born_full(dtype, ndim, shape, value);
    return born_module_register_buffer(m, name, t) == BORN_OK ? t : NULL;
}

/* ---- running and freeing -------------------------------------------------------------------- */

born_tensor *born_module_forward(born_module *m, born_tensor *x) {
    static const char *fn = "born_module_forward";
    if (!m) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: module is NULL", fn);
        return NULL;
    }
    if (!x) {
        if (!born_has_error())
            born_error(BORN_ERR_ARGUMENT, "%s: %s: input is NULL", fn, born_module_type_name(m));
        return NULL;
    }
    if (!m->vt || !m->vt->forward)
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: %s has no forward", fn,
                               born_module_type_name(m));
    born_scope_begin();
    bool prof = prof_enabled();
    double t0 = prof ? prof_enter() : 0;
    born_tensor *y = m->vt->forward(m, x);
    if (prof) prof_leave(born_module_type_name(m), "fwd", t0);
    /* a forward must return a new reference; one that returned a tensor it does not own (its
     * input, a parameter) gets a view instead, so the caller's born_free stays correct */
    if (y && y->scope_depth != born_scope_depth() - 1) y = nn_alias(y);
    y = born_keep(y);
    born_scope_end();
    return y;
}

void born_module_free(born_module *m) {
    if (!m) return;
    for (int64_t i = m->nchildren - 1; i >= 0; i--) {
        m->children[i].module->has_parent = false;
        born_module_free(m->children[i].module);
        free(m->children[i].name);
    }
    for (int64_t i = m->nbuffers - 1; i >= 0; i--) {
        tensor_release(m->buffers[i].tensor);
        free(m->buffers[i].name);
    }
    for (int64_t i = m->nparams - 1; i >= 0; i--) {
        tensor_release(m->params[i].tensor);
        free(m->params[i].name);
    }
    free(m->children);
    free(m->buffers);
    free(m->params);
    m->children = NULL;
    m->buffers = m->params = NULL;
    m->nchildren = m->nbuffers = m->nparams = 0;
    if (m->vt && m->vt->destroy)
        m->vt->destroy(m);
    else
        free(m);
}

void born_module_train(born_module *m, bool training) {
    if (!m) return;
    m->training = training;
    for (int64_t i = 0; i < m->nchildren; i++) born_module_train(m->children[i].module, training);
}

void born_module_eval(born_module *m) { born_module_train(m, false); }

bool born_module_is_training(const born_module *m) { return m && m->training; }

void born_module_apply(born_module *m, void (*fn)(born_module *m, void *ctx), void *ctx) {
    if (!m || !fn) return;
    for (int64_t i = 0; i < m->nchildren; i++) born_module_apply(m->children[i].module, fn, ctx);
    fn(m, ctx);
}

/* ---- look-ups ------------------------------------------------------------------------------- */

static born_module *find_child(const born_module *m, const char *name, size_t len) {
    for (int64_t i = 0; i < m->nchildren; i++)
        if (strlen(m->children[i].name) == len && strncmp(m->children[i].name, name, len) == 0)
            return m->children[i].module;
    return NULL;
}

/* Walks the dotted path's module part; *leaf points at the last component. */
static const born_module *walk(const char *fn, const born_module *m, const char *path,
                               const char **leaf) {
    const char *p = path;
    for (const char *dot; (dot = strchr(p, '.')) != NULL; p = dot + 1) {
        const born_module *c = find_child(m, p, (size_t)(dot - p));
        if (!c)
            return born_error_null(BORN_ERR_ARGUMENT, "%s: %s has no child '%.*s' (path '%s')", fn,
                                   born_module_type_name(m), (int)(dot - p), p, path);
        m = c;
    }
    *leaf = p;
    return m;
}

static born_tensor *find_named(const char *fn, const char *what, const born_module *m,
                               const char *path, bool params) {
    if (!m || !path) return born_error_null(BORN_ERR_ARGUMENT, "%s: %s is NULL", fn, m ? "path" : "module");
    const char *leaf;
    const born_module *owner = walk(fn, m, path, &leaf);
    if (!owner) return NULL;
    const born_named_tensor *items = params ? owner->params : owner->buffers;
    int64_t n = params ? owner->nparams : owner->nbuffers;
    for (int64_t i = 0; i < n; i++)
        if (strcmp(items[i].name, leaf) == 0) return items[i].tensor;
    return born_error_null(BORN_ERR_ARGUMENT, "%s: %s has no %s '%s' (path '%s')", fn,
                           born_module_type_name(owner), what, leaf, path);
}

born_tensor *born_module_get_parameter(const born_module *m, const char *path) {
    return find_named("born_module_get_parameter", "parameter", m, path, true);
}

born_tensor *born_module_get_buffer(const born_module *m, const char *path) {
    return find_named("born_module_get_buffer", "buffer", m, path, false);
}

born_module *born_module_get_child(const born_module *m, const char *path) {
    static const char *fn = "born_module_get_child";
    if (!m || !path) return born_error_null(BORN_ERR_ARGUMENT, "%s: %s is NULL", fn, m ? "path" : "module");
    if (!*path) return (born_module *)m;
    const char *leaf;
    const born_module *owner = walk(fn, m, path, &leaf);
    if (!owner) return NULL;
    born_module *c = find_child(owner, leaf, strlen(leaf));
    if (!c)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: %s has no child '%s' (path '%s')", fn,
                               born_module_type_name(owner), leaf, path);
    return c;
}

/* ---- walks over the tree -------------------------------------------------------------------- */

typedef enum walk_kind { WALK_PARAMS, WALK_BUFFERS, WALK_STATE } walk_kind;

typedef struct walker {
    const char *fn;
    walk_kind kind;
    bool dedup;
    born_tensor **seen; /* for dedup and born_module_parameters */
    int64_t nseen, capseen;
    born_tensor_list *list; /* NULL: only collect into seen */
    born_status st;
} walker;

static bool seen_before(const walker *w, const born_tensor *t) {
    for (int64_t i = 0; i < w->nseen; i++)
        if (w->seen[i] == t) return true;
    return false;
}

static void visit(walker *w, const char *prefix, born_tensor *t, const char *name, bool detach) {
    if (w->st != BORN_OK) return;
    if (w->dedup) {
        if (seen_before(w, t)) return;
        if (w->nseen == w->capseen) {
            int64_t cap = w->capseen ? w->capseen * 2 : 16;
            born_tensor **s = realloc(w->seen, (size_t)cap * sizeof *s);
            if (!s) {
                w->st = born_error(BORN_ERR_MEMORY, "%s: out of memory", w->fn);
                return;
            }
            w->seen = s;
            w->capseen = cap;
        }
        w->seen[w->nseen++] = t;
    }
    if (!w->list) return;
    nn_str key = {0};
    nn_str_printf(&key, "%s%s", prefix, name);
    if (key.failed) {
        free(key.s);
        w->st = born_error(BORN_ERR_MEMORY, "%s: out of memory", w->fn);
        return;
    }
    if (detach) {
        born_scope_begin();
        born_tensor *d = born_detach(t);
        w->st = d ? born_tensor_list_add(w->list, key.s, d) : born_last_status();
        born_scope_end();
    } else {
        w->st = born_tensor_list_add(w->list, key.s, t);
    }
    free(key.s);
}

static void walk_tree(walker *w, const born_module *m, const char *prefix) {
    if (w->kind != WALK_BUFFERS)
        for (int64_t i = 0; i < m->nparams && w->st == BORN_OK; i++)
            visit(w, prefix, m->params[i].tensor, m->params[i].name, w->kind == WALK_STATE);
    if (w->kind != WALK_PARAMS)
        for (int64_t i = 0; i < m->nbuffers && w->st == BORN_OK; i++)
            visit(w, prefix, m->buffers[i].tensor, m->buffers[i].name, w->kind == WALK_STATE);
    for (int64_t i = 0; i < m->nchildren && w->st == BORN_OK; i++) {
        nn_str p = {0};
        nn_str_printf(&p, "%s%s.", prefix, m->children[i].name);
        if (p.failed) w->st = born_error(BORN_ERR_MEMORY, "%s: out of memory", w->fn);
        else walk_tree(w, m->children[i].module, p.s);
        free(p.s);
    }
}

static born_tensor_list *walk_to_list(const char *fn, born_module *m, walk_kind kind, bool dedup) {
    if (!m) return born_error_null(BORN_ERR_ARGUMENT, "%s: module is NULL", fn);
    walker w = {fn, kind, dedup, NULL, 0, 0, born_tensor_list_new(), BORN_OK};
    if (!w.list) return NULL;
    walk_tree(&w, m, "");
    free(w.seen);
    if (w.st != BORN_OK) {
        born_tensor_list_free(w.list);
        return NULL;
    }
    return w.list;
}

born_tensor_list *born_module_named_parameters(born_module *m) {
    return walk_to_list("born_module_named_parameters", m, WALK_PARAMS, true);
}

born_tensor_list *born_module_named_buffers(born_module *m) {
    return walk_to_list("born_module_named_buffers", m, WALK_BUFFERS, true);
}

born_tensor_list *born_module_state_dict(born_module *m) {
    return walk_to_list("born_module_state_dict", m, WALK_STATE, false);
}

born_tensor **born_module_parameters(born_module *m, int64_t *count) {
    static const char *fn = "born_module_parameters";
    if (count) *count = 0;
    if (!m || !count)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: %s is NULL", fn, m ? "count" : "module");
    walker w = {fn, WALK_PARAMS, true, NULL, 0, 0, NULL, BORN_OK};
    walk_tree(&w, m, "");
    if (w.st != BORN_OK) {
        free(w.seen);
        return NULL;
    }
    if (!w.seen) { /* no parameters: still a valid array */
        w.seen = malloc(sizeof *w.seen);
        if (!w.seen) return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", fn);
    }
    *count = w.nseen;
    return w.seen;
}

int64_t born_module_num_parameters(const born_module *m) {
    if (!m) return -1;
    walker w = {"born_module_num_parameters", WALK_PARAMS, true, NULL, 0, 0, NULL, BORN_OK};
    walk_tree(&w, m, "");
    int64_t n = 0;
    for (int64_t i = 0; i < w.nseen; i++) n += born_tensor_numel(w.seen[i]);
    free(w.seen);
    return w.st == BORN_OK ? n : -1;
}

static int64_t trainable_parameters(const born_module *m) {
    walker w = {"born_module_summary", WALK_PARAMS, true, NULL, 0, 0, NULL, BORN_OK};
    walk_tree(&w, m, "");
    int64_t n = 0;
    for (int64_t i = 0; i < w.nseen; i++)
        if (born_tensor_requires_grad(w.seen[i])) n += born_tensor_numel(w.seen[i]);
    free(w.seen);
    return n;
}

void born_module_zero_grad(born_module *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->nparams; i++) born_zero_grad(m->params[i].tensor);
    for (int64_t i = 0; i < m->nchildren; i++) born_module_zero_grad(m->children[i].module);
}

/* ---- load_state_dict ------------------------------------------------------------------------- */

born_status born_module_load_state_dict(born_module *m, const born_tensor_list *sd, bool strict) {
    static const char *fn = "born_module_load_state_dict";
    if (!m || !sd) return born_error(BORN_ERR_ARGUMENT, "%s: %s is NULL", fn, m ? "state dict" : "module");
    walker w = {fn, WALK_STATE, false, NULL, 0, 0, born_tensor_list_new(), BORN_OK};
    if (!w.list) return born_last_status();
    walk_tree(&w, m, ""); /* the module's own keys, as detached aliases */
    if (w.st != BORN_OK) {
        born_tensor_list_free(w.list);
        return w.st;
    }
    born_tensor_list *own = w.list;
    nn_str missing = {0}, unexpected = {0}, mismatch = {0};
    int nmissing = 0, nunexpected = 0, nmismatch = 0;
    for (int64_t i = 0; i < own->count; i++) {
        born_tensor *src = born_tensor_list_get(sd, own->items[i].name);
        born_tensor *dst = own->items[i].tensor;
        if (!src) {
            nn_str_printf(&missing, "%s\"%s\"", nmissing++ ? ", " : "", own->items[i].name);
            continue;
        }
        bool same_shape = src->ndim == dst->ndim &&
                          memcmp(src->shape, dst->shape, sizeof(int64_t) * (size_t)dst->ndim) == 0;
        if (!same_shape || src->dtype != dst->dtype) {
            char a[200], b[200];
            nn_str_printf(&mismatch, "%s%s mismatch for \"%s\": the state dict has %s, the module "
                          "%s", nmismatch++ ? "; " : "", same_shape ? "dtype" : "shape",
                          own->items[i].name, ops_describe(src, a, sizeof a),
                          ops_describe(dst, b, sizeof b));
        }
    }
    for (int64_t i = 0; i < sd->count; i++)
        if (!born_tensor_list_get(own, sd->items[i].name))
            nn_str_printf(&unexpected, "%s\"%s\"", nunexpected++ ? ", " : "", sd->items[i].name);
    born_status st = BORN_OK;
    if (missing.failed || unexpected.failed || mismatch.failed) {
        st = born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
    } else if (nmismatch || (strict && (nmissing || nunexpected))) {
        nn_str msg = {0};
        nn_str_printf(&msg, "%s: error(s) loading the state dict of %s: ", fn,
                      born_module_type_name(m));
        bool first = true;
        if (nmismatch) {
            nn_str_append(&msg, mismatch.s);
            first = false;
        }
        if (strict && nmissing) {
            nn_str_printf(&msg, "%smissing key(s) %s", first ? "" : "; ", missing.s);
            first = false;
        }
        if (strict && nunexpected) nn_str_printf(&msg, "%sunexpected key(s) %s", first ? "" : "; ", unexpected.s);
        st = born_error(nmismatch ? BORN_ERR_SHAPE : BORN_ERR_ARGUMENT, "%s",
                        msg.s ? msg.s : "out of memory");
        free(msg.s);
    } else {
        /* everything checked: now write */
        born_no_grad_begin();
        for (int64_t i = 0; i < own->count && st == BORN_OK; i++) {
            born_tensor *src = born_tensor_list_get(sd, own->items[i].name);
            if (src) st = born_copy_(own->items[i].tensor, src);
        }
        born_no_grad_end();
    }
    free(missing.s);
    free(unexpected.s);
    free(mismatch.s);
    born_tensor_list_free(own);
    return st;
}

/* ---- dtype conversion ------------------------------------------------------------------------ */

/* Gives t (in place: same handle) the data of t converted to dtype. */
static born_status convert_in_place(born_tensor *t, born_dtype dtype) {
    if (!born_dtype_is_floating(t->dtype) || t->dtype == dtype) return BORN_OK;
    born_scope_begin();
    born_tensor *c = ops_cast(t, dtype);
    born_status st = c ? BORN_OK : born_last_status();
    if (c) {
        born_zero_grad(t);
        storage_retain(c->storage);
        storage_release(t->storage);
        t->storage = c->storage;
        t->dtype = dtype;
        t->offset = c->offset;
        memcpy(t->strides, c->strides, sizeof t->strides);
    }
    born_scope_end();
    return st;
}

born_status born_module_to_dtype(born_module *m, born_dtype dtype) {
    static const char *fn = "born_module_to_dtype";
    if (!m) return born_error(BORN_ERR_ARGUMENT, "%s: module is NULL", fn);
    if (!born_dtype_is_floating(dtype))
        return born_error(BORN_ERR_DTYPE, "%s: %s is not a floating dtype", fn, born_dtype_name(dtype));
    born_status st = BORN_OK;
    for (int64_t i = 0; i < m->nparams && st == BORN_OK; i++) st = convert_in_place(m->params[i].tensor, dtype);
    for (int64_t i = 0; i < m->nbuffers && st == BORN_OK; i++) st = convert_in_place(m->buffers[i].tensor, dtype);
    for (int64_t i = 0; i < m->nchildren && st == BORN_OK; i++) st = born_module_to_dtype(m->children[i].module, dtype);
    return st;
}

/* Gives t (in place: same handle) a copy of its data on device. */
static born_status move_in_place(born_tensor *t, born_device device) {
    if (born_device_equal(t->storage->device, device)) return BORN_OK;
    born_scope_begin();
    born_no_grad_begin();
    born_tensor *c = born_to(t, device);
    born_no_grad_end();
    born_status st = c ? BORN_OK : born_last_status();
    if (c) {
        born_zero_grad(t);
        storage_retain(c->storage);
        storage_release(t->storage);
        t->storage = c->storage;
        t->offset = c->offset;
        memcpy(t->strides, c->strides, sizeof t->strides);
    }
    born_scope_end();
    return st;
}

born_status born_module_to(born_module *m, born_device device) {
    static const char *fn = "born_module_to";
    if (!m) return born_error(BORN_ERR_ARGUMENT, "%s: module is NULL", fn);
    if (device.type != BORN_DEVICE_CPU && (device.index < 0 || device.index >= born_device_count(device.type))) {
        char name[32];
        return born_error(BORN_ERR_DEVICE, "%s: %s is not available (%d such devices)", fn,
                          born_device_name(device, name, sizeof name), born_device_count(device.type));
    }
    born_status st = BORN_OK;
    for (int64_t i = 0; i < m->nparams && st == BORN_OK; i++) st = move_in_place(m->params[i].tensor, device);
    for (int64_t i = 0; i < m->nbuffers && st == BORN_OK; i++) st = move_in_place(m->buffers[i].tensor, device);
    for (int64_t i = 0; i < m->nchildren && st == BORN_OK; i++) st = born_module_to(m->children[i].module, device);
    return st;
}

/* ---- printing -------------------------------------------------------------------------------- */

/* Appends text with every line after the first indented by two spaces (torch's _addindent). */
static void append_indented(nn_str *b, const char *text) {
    for (const char *p = text; *p; p++) {
        char c[2] = {*p, 0};
        nn_str_append(b, c);
        if (*p == '\n') nn_str_append(b, "  ");
    }
}

static void repr_into(nn_str *b, const born_module *m) {
    char extra[1024] = "";
    if (m->vt && m->vt->describe) m->vt->describe(m, extra, sizeof extra);
    nn_str_printf(b, "%s(", born_module_type_name(m));
    if (m->nchildren == 0 && !strchr(extra, '\n')) {
        nn_str_append(b, extra);
    } else if (extra[0] || m->nchildren > 0) {
        if (extra[0]) {
            nn_str_append(b, "\n  ");
            append_indented(b, extra);
        }
        for (int64_t i = 0; i < m->nchildren; i++) {
            nn_str child = {0};
            repr_into(&child, m->children[i].module);
            nn_str_printf(b, "\n  (%s): ", m->children[i].name);
            if (child.failed) b->failed = true;
            else append_indented(b, child.s);
            free(child.s);
        }
        nn_str_append(b, "\n");
    }
    nn_str_append(b, ")");
}

char *born_module_repr(const born_module *m) {
    if (!m) return born_error_null(BORN_ERR_ARGUMENT, "born_module_repr: module is NULL");
    nn_str b = {0};
    repr_into(&b, m);
    if (b.failed) {
        free(b.s);
        return born_error_null(BORN_ERR_MEMORY, "born_module_repr: out of memory");
    }
    return b.s;
}

char *born_module_summary(const born_module *m) {
    if (!m) return born_error_null(BORN_ERR_ARGUMENT, "born_module_summary: module is NULL");
    nn_str b = {0};
    repr_into(&b, m);
    int64_t total = born_module_num_parameters(m), trainable = trainable_parameters(m);
    nn_str_printf(&b, "\nTotal parameters: %" PRId64 "\n", total);
    if (trainable != total) nn_str_printf(&b, "Trainable parameters: %" PRId64 "\n", trainable);
    if (b.failed) {
        free(b.s);
        return born_error_null(BORN_ERR_MEMORY, "born_module_summary: out of memory");
    }
    return b.s;
}
