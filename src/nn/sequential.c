/* Sequential: children "0", "1", ... run in order, each output feeding the next. */
#include <stdio.h>

#include "core/tensor_impl.h"
#include "nn/nn_internal.h"

static born_tensor *sequential_forward(born_module *m, born_tensor *x) {
    if (m->nchildren == 0) return nn_alias(x);
    born_tensor *y = x;
    for (int64_t i = 0; i < m->nchildren && y; i++) y = born_module_forward(m->children[i].module, y);
    return y;
}

static const born_module_vtable sequential_vt = {"Sequential", sequential_forward, NULL, NULL};

born_module *born_sequential_new(void) {
    return nn_module_alloc(sizeof(born_module), &sequential_vt, "born_sequential_new");
}

born_status born_sequential_append(born_module *seq, born_module *child) {
    static const char *fn = "born_sequential_append";
    if (!seq || seq->vt != &sequential_vt) {
        born_status st = seq ? born_error(BORN_ERR_ARGUMENT, "%s: the module is a %s, not a "
                                          "Sequential", fn, born_module_type_name(seq))
                             : (born_has_error() ? born_last_status()
                                                 : born_error(BORN_ERR_ARGUMENT, "%s: the Sequential "
                                                              "is NULL", fn));
        if (child && !child->has_parent) born_module_free(child);
        return st;
    }
    char name[32];
    snprintf(name, sizeof name, "%lld", (long long)seq->nchildren);
    return born_module_register_child(seq, name, child);
}

born_module *born_sequential_of(int n, born_module *const *modules) {
    static const char *fn = "born_sequential_of";
    bool any_null = n < 0 || (n > 0 && !modules);
    for (int i = 0; i < n && modules; i++) any_null = any_null || !modules[i];
    born_module *seq = any_null ? NULL : born_sequential_new();
    if (!seq) {
        for (int i = 0; i < n && modules; i++)
            if (modules[i] && !modules[i]->has_parent) born_module_free(modules[i]);
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: a module is NULL", fn);
        return NULL;
    }
    born_status st = BORN_OK;
    for (int i = 0; i < n; i++) {
        if (st == BORN_OK) st = born_sequential_append(seq, modules[i]);
        else if (!modules[i]->has_parent) born_module_free(modules[i]);
    }
    if (st != BORN_OK) {
        born_module_free(seq);
        return NULL;
    }
    return seq;
}
