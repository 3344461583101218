/* Scopes: a per-thread stack of lists of tensors whose creation reference the scope holds.
 * born_scope_end releases them; born_keep moves one out to the enclosing scope. The lists are
 * freed when the outermost scope ends, so a loop of scoped steps runs in constant memory and a
 * thread that exits leaves nothing behind. */
#include <stdlib.h>

#include "core/error.h"
#include "core/tensor_impl.h"

enum { MAX_SCOPE_DEPTH = 64 };

typedef struct scope {
    born_tensor **items;
    int64_t count, capacity;
} scope;

static _Thread_local scope scopes[MAX_SCOPE_DEPTH];
static _Thread_local int depth;
/* scopes opened beyond MAX_SCOPE_DEPTH are counted but own nothing (their tensors go to the
 * deepest real scope), so begin/end stay balanced */
static _Thread_local int overflow;

void born_scope_begin(void) {
    if (depth == MAX_SCOPE_DEPTH) {
        overflow++;
        return;
    }
    scopes[depth].count = 0;
    depth++;
}

static void scope_free_lists(void) {
    for (int i = 0; i < MAX_SCOPE_DEPTH; i++) {
        free(scopes[i].items);
        scopes[i].items = NULL;
        scopes[i].count = scopes[i].capacity = 0;
    }
}

void born_scope_end(void) {
    if (overflow > 0) {
        overflow--;
        return;
    }
    if (depth == 0) return;
    scope *s = &scopes[depth - 1];
    /* release in reverse creation order; a tensor's destruction never registers new tensors */
    for (int64_t i = s->count - 1; i >= 0; i--) {
        born_tensor *t = s->items[i];
        if (!t) continue;
        s->items[i] = NULL;
        t->scope_depth = -1;
        tensor_release(t);
    }
    s->count = 0;
    depth--;
    if (depth == 0) scope_free_lists();
}

int born_scope_depth(void) { return depth + overflow; }

static bool scope_append(int level, born_tensor *t) {
    scope *s = &scopes[level];
    if (s->count == s->capacity) {
        int64_t cap = s->capacity ? s->capacity * 2 : 64;
        born_tensor **items = realloc(s->items, (size_t)cap * sizeof *items);
        if (!items) return false;
        s->items = items;
        s->capacity = cap;
    }
    t->scope_depth = level;
    t->scope_slot = s->count;
    s->items[s->count++] = t;
    return true;
}

void scope_register(born_tensor *t) {
    t->scope_depth = -1;
    if (depth == 0) return;
    if (!scope_append(depth - 1, t))
        born_error(BORN_ERR_MEMORY, "out of memory growing a scope: the tensor is left to the "
                   "caller, who must born_free it");
}

/* Takes t out of the scope that holds its creation reference, leaving the reference to the
 * caller. */
static void scope_disown(born_tensor *t) {
    if (t->scope_depth < 0 || t->scope_depth >= depth) {
        t->scope_depth = -1;
        return;
    }
    scope *s = &scopes[t->scope_depth];
    if (t->scope_slot < s->count && s->items[t->scope_slot] == t) s->items[t->scope_slot] = NULL;
    t->scope_depth = -1;
}

void scope_unregister(born_tensor *t) {
    if (t->scope_depth >= 0) scope_disown(t);
}

born_tensor *born_keep(born_tensor *t) {
    if (!t || depth == 0 || t->scope_depth != depth - 1) return t;
    scope_disown(t);
    if (depth >= 2 && !scope_append(depth - 2, t))
        born_error(BORN_ERR_MEMORY, "born_keep: out of memory; the tensor is left to the caller");
    return t;
}

void born_free(born_tensor *t) {
    if (!t) return;
    if (t->scope_depth >= 0) scope_disown(t);
    tensor_release(t);
}
