/* Autograd nodes: creation, saved tensors, reference counting. */
#include <stdlib.h>
#include <string.h>

#include "autograd/node.h"
#include "core/error.h"

static _Thread_local int no_grad_depth;

void born_no_grad_begin(void) { no_grad_depth++; }
void born_no_grad_end(void) {
    if (no_grad_depth > 0) no_grad_depth--;
}
bool born_is_grad_enabled(void) { return no_grad_depth == 0; }

bool born_tensor_requires_grad(const born_tensor *t) { return t && t->requires_grad; }
bool born_tensor_is_leaf(const born_tensor *t) { return t && t->grad_fn == NULL; }

bool autograd_needed(int n, born_tensor *const *tensors) {
    if (no_grad_depth > 0) return false;
    for (int i = 0; i < n; i++)
        if (tensors[i] && tensors[i]->requires_grad) return true;
    return false;
}

born_node *node_new(const char *name, node_backward_fn backward, int ninputs,
                    born_tensor *const *inputs) {
    born_node *n = calloc(1, sizeof *n);
    node_edge *edges = calloc(ninputs > 0 ? (size_t)ninputs : 1, sizeof *edges);
    if (!n || !edges) {
        free(n);
        free(edges);
        return born_error_null(BORN_ERR_MEMORY, "out of memory recording %s", name);
    }
    atomic_init(&n->refcount, 1);
    n->name = name;
    n->backward = backward;
    n->ninputs = ninputs;
    n->inputs = edges;
    for (int i = 0; i < ninputs; i++) {
        born_tensor *t = inputs[i];
        if (!t) continue;
        node_edge *e = &edges[i];
        e->dtype = t->dtype;
        e->ndim = t->ndim;
        memcpy(e->shape, t->shape, sizeof e->shape);
        if (!t->requires_grad) continue;
        if (t->grad_fn) {
            node_retain(t->grad_fn);
            e->node = t->grad_fn;
        } else {
            e->leaf = born_tensor_retain(t);
        }
    }
    return n;
}

int node_save(born_node *n, born_tensor *t) {
    if (n->nsaved == NODE_MAX_SAVED) {
        born_error(BORN_ERR_INTERNAL, "%s saves more than %d tensors", n->name, NODE_MAX_SAVED);
        return -1;
    }
    int slot = n->nsaved++;
    n->saved_version[slot] = UINT64_MAX; /* marks an empty slot */
    if (!t) return slot;
    born_tensor *alias = tensor_new_view(t, t->dtype, t->ndim, t->shape, t->strides, t->offset);
    if (!alias) return -1;
    scope_unregister(alias);
    n->saved[slot] = alias;
    n->saved_version[slot] = atomic_load(&t->storage->version);
    return slot;
}

bool node_set_params(born_node *n, const void *params, size_t size) {
    if (size > NODE_PARAM_BYTES) {
        born_error(BORN_ERR_INTERNAL, "%s: %zu bytes of parameters exceed the node's %d",
                   n->name, size, NODE_PARAM_BYTES);
        return false;
    }
    if (params && size) memcpy(n->params, params, size);
    return true;
}

void node_attach(born_tensor *out, born_node *n) {
    if (out->grad_fn) node_release(out->grad_fn);
    out->grad_fn = n;
    out->requires_grad = true;
}

void node_retain(born_node *n) { atomic_fetch_add_explicit(&n->refcount, 1, memory_order_relaxed); }

static void node_drop_saved(born_node *n) {
    for (int i = 0; i < n->nsaved; i++) {
        tensor_release(n->saved[i]);
        n->saved[i] = NULL;
    }
}

/* Frees n and pushes the producer nodes whose last reference it held. */
static void node_destroy(born_node *n, born_node ***stack, size_t *count, size_t *cap) {
    for (int i = 0; i < n->ninputs; i++) {
        node_edge *e = &n->inputs[i];
        if (e->leaf) tensor_release(e->leaf);
        if (e->node && atomic_fetch_sub_explicit(&e->node->refcount, 1, memory_order_acq_rel) == 1) {
            if (*count == *cap) {
                size_t nc = *cap ? *cap * 2 : 64;
                born_node **grown = realloc(*stack, nc * sizeof *grown);
                if (!grown) { /* no memory for the stack: fall back to recursion */
                    born_node **none = NULL;
                    size_t zero = 0, zcap = 0;
                    node_destroy(e->node, &none, &zero, &zcap);
                    continue;
                }
                *stack = grown;
                *cap = nc;
            }
            (*stack)[(*count)++] = e->node;
        }
    }
    node_drop_saved(n);
    tensor_release(n->grad_acc);
    free(n->inputs);
    free(n);
}

void node_release(born_node *n) {
    if (!n || atomic_fetch_sub_explicit(&n->refcount, 1, memory_order_acq_rel) != 1) return;
    born_node **stack = NULL;
    size_t count = 0, cap = 0;
    node_destroy(n, &stack, &count, &cap);
    while (count > 0) node_destroy(stack[--count], &stack, &count, &cap);
    free(stack);
}

void node_release_saved(born_node *n) {
    node_drop_saved(n);
    n->released = true;
}

bool autograd_record(born_tensor *out, const char *name, node_backward_fn backward, int ninputs,
                     born_tensor *const *inputs, int nsave, born_tensor *const *save,
                     const void *params, size_t params_size) {
    if (!autograd_needed(ninputs, inputs)) return true;
    born_node *n = node_new(name, backward, ninputs, inputs);
    if (!n) return false;
    for (int i = 0; i < nsave; i++) {
        if (node_save(n, save[i]) < 0) {
            node_release(n);
            return false;
        }
    }
    if (!node_set_params(n, params, params_size)) {
        node_release(n);
        return false;
    }
    node_attach(out, n);
    return true;
}

const char *born_grad_fn_name(const born_tensor *t) {
    return t && t->grad_fn ? t->grad_fn->name : NULL;
}
