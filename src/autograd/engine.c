/* The backward engine: finds the nodes reachable from the root, runs their rules in reverse
 * topological order (Kahn's algorithm on the reachable subgraph), and accumulates into leaves.
 * Each node's rule runs in its own scope, so intermediate gradients are freed as soon as they
 * have been passed on. The pass runs with grad mode off. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autocast.h"
#include "autograd/node.h"
#include "autograd/profile.h"
#include "core/error.h"

static atomic_uint_fast64_t epoch_counter;

typedef struct node_list {
    born_node **items;
    size_t count, cap;
} node_list;

static bool list_push(node_list *l, born_node *n) {
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        born_node **items = realloc(l->items, cap * sizeof *items);
        if (!items) return false;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = n;
    return true;
}

born_backward_params born_backward_default_params(void) {
    born_backward_params p = {NULL, false};
    return p;
}

/* Reduces g to the edge's shape and dtype (broadcast inputs receive summed gradients). Where the
 * gradient is to be added to one the edge already holds (`adding`), an f16/bf16 gradient for an
 * f32 input stays as it is: the add takes it as a mixed operand, converting it as it goes (the
 * same bits, one pass instead of two: autocast's casts of one f32 tensor for several uses). */
static born_tensor *adapt_to_edge(born_tensor *g, const node_edge *e, const char *node_name,
                                  bool adding) {
    bool same_shape = g->ndim == e->ndim && memcmp(g->shape, e->shape, sizeof(int64_t) * (size_t)e->ndim) == 0;
    if (!same_shape) g = born_sum_to_shape(g, e->ndim, e->shape);
    bool mixed = adding && e->dtype == BORN_F32 && g &&
                 (g->dtype == BORN_BF16 || g->dtype == BORN_F16);
    if (g && g->dtype != e->dtype && !mixed) g = born_to_dtype(g, e->dtype);
    if (!g)
        born_error(BORN_ERR_INTERNAL, "born_backward: %s produced a gradient that does not fit "
                   "its input", node_name);
    return g;
}

/* slot += g, out of place; the slot holds its own reference. */
static bool accumulate(born_tensor **slot, born_tensor *g) {
    if (!*slot) {
        *slot = born_tensor_retain(g);
        return true;
    }
    born_tensor *sum = born_add(*slot, g);
    if (!sum) return false;
    tensor_release(*slot);
    *slot = born_tensor_retain(sum);
    return true;
}

/* leaf.grad += g. A gradient that nothing else can see is adopted as it is; one that shares
 * storage (a view, or a tensor a rule passed through) is copied, so that in-place updates of
 * one leaf's .grad can never change another's. */
static bool accumulate_leaf(born_tensor *leaf, born_tensor *g) {
    if (leaf->grad) {
        born_tensor *sum = born_add(leaf->grad, g);
        if (!sum) return false;
        tensor_release(leaf->grad);
        leaf->grad = born_tensor_retain(sum);
        return true;
    }
    bool private = atomic_load(&g->refcount) == 1 && atomic_load(&g->storage->refcount) == 1 &&
                   g->offset == 0 && born_tensor_is_contiguous(g) && g->scope_depth >= 0;
    born_tensor *owned = private ? g : born_clone(g);
    if (!owned) return false;
    leaf->grad = born_tensor_retain(owned);
    return true;
}

static born_status check_saved(const born_node *n) {
    bool needs_saved = false; /* a node that saved nothing can run again, as in torch */
    for (int i = 0; i < n->nsaved; i++) needs_saved |= n->saved_version[i] != UINT64_MAX;
    if (n->released && needs_saved)
        return born_error(BORN_ERR_AUTOGRAD,
                          "born_backward: the graph through %s was freed by an earlier backward; "
                          "pass retain_graph = true to backpropagate through it twice", n->name);
    for (int i = 0; i < n->nsaved; i++) {
        const born_tensor *s = n->saved[i];
        if (s && atomic_load(&s->storage->version) != n->saved_version[i])
            return born_error(BORN_ERR_AUTOGRAD,
                              "born_backward: a tensor saved by %s was modified in place after "
                              "it was saved", n->name);
    }
    return BORN_OK;
}

/* Runs one node's rule and hands each input gradient on. */
static born_status run_node(born_node *n) {
    born_status st = check_saved(n);
    if (st != BORN_OK) return st;
    if (!n->grad_acc) return BORN_OK; /* no gradient reached this node */
    born_tensor *local[8] = {0};
    born_tensor **gi = n->ninputs <= 8 ? local : calloc((size_t)n->ninputs, sizeof *gi);
    if (!gi) return born_error(BORN_ERR_MEMORY, "born_backward: out of memory");
    born_scope_begin();
    bool prof = prof_enabled();
    double t0 = prof ? prof_now() : 0;
    st = n->backward(n, n->grad_acc, gi);
    if (st == BORN_OK && born_has_error()) st = born_last_status();
    double t1 = prof ? prof_now() : 0;
    if (prof) prof_add(n->name, "bwd", t1 - t0);
    for (int i = 0; st == BORN_OK && i < n->ninputs; i++) {
        node_edge *e = &n->inputs[i];
        if (!gi[i] || (!e->node && !e->leaf)) continue;
        bool adding = e->node ? e->node->grad_acc != NULL : e->leaf->grad != NULL;
        born_tensor *g = adapt_to_edge(gi[i], e, n->name, adding);
        bool ok = g && (e->node ? accumulate(&e->node->grad_acc, g) : accumulate_leaf(e->leaf, g));
        if (!ok) st = born_has_error() ? born_last_status() : BORN_ERR_INTERNAL;
    }
    born_scope_end();
    if (prof) prof_add("(grad accumulation, frees)", "bwd", prof_now() - t1);
    if (gi != local) free(gi);
    return st;
}

born_status born_backward(born_tensor *root) { return born_backward_ex(root, NULL); }

static born_tensor *make_seed(born_tensor *root, const born_backward_params *p) {
    char d[200];
    if (p && p->grad) {
        born_tensor *g = p->grad;
        if (g->ndim != root->ndim || memcmp(g->shape, root->shape, sizeof(int64_t) * (size_t)g->ndim)) {
            char e[200];
            return born_error_null(BORN_ERR_SHAPE, "born_backward: gradient %s does not match the "
                                   "root %s", born_tensor_describe(g, e, sizeof e),
                                   born_tensor_describe(root, d, sizeof d));
        }
        return g->dtype == root->dtype ? born_detach(g) : born_to_dtype(g, root->dtype);
    }
    if (born_tensor_numel(root) != 1)
        return born_error_null(BORN_ERR_SHAPE, "born_backward: the root %s has %" PRId64
                               " elements; a gradient can be implied only for one element "
                               "(pass params.grad)", born_tensor_describe(root, d, sizeof d),
                               born_tensor_numel(root));
    return born_ones_like(root);
}

born_status born_backward_ex(born_tensor *root, const born_backward_params *p) {
    if (!root) return born_error(BORN_ERR_ARGUMENT, "born_backward: root is NULL");
    if (!root->requires_grad)
        return born_error(BORN_ERR_AUTOGRAD, "born_backward: the tensor does not require grad "
                          "(none of its inputs requires grad, or it was computed under no_grad)");
    bool retain = p && p->retain_graph;
    int autocast_depth = autocast_suspend(); /* rules run outside autocast */
    born_no_grad_begin();
    born_scope_begin();
    born_status st = BORN_OK;
    node_list order = {0}, ready = {0};
    born_tensor *seed = make_seed(root, p);
    if (!seed) {
        st = born_last_status();
        goto done;
    }
    if (!root->grad_fn) { /* the root is itself a leaf */
        if (!accumulate_leaf(root, seed)) st = born_last_status();
        goto done;
    }

    /* find the reachable nodes and count, for each, the edges that point at it */
    uint64_t epoch = atomic_fetch_add(&epoch_counter, 1) + 1;
    born_node *start = root->grad_fn;
    start->visit_epoch = epoch;
    start->pending = 0;
    if (!list_push(&ready, start)) goto oom;
    while (ready.count > 0) {
        born_node *n = ready.items[--ready.count];
        if (!list_push(&order, n)) goto oom;
        for (int i = 0; i < n->ninputs; i++) {
            born_node *next = n->inputs[i].node;
            if (!next) continue;
            if (next->visit_epoch != epoch) {
                next->visit_epoch = epoch;
                next->pending = 0;
                if (!list_push(&ready, next)) goto oom;
            }
            next->pending++;
        }
    }

    /* run rules in reverse topological order */
    tensor_release(start->grad_acc);
    start->grad_acc = born_tensor_retain(seed);
    ready.count = 0;
    list_push(&ready, start);
    while (ready.count > 0 && st == BORN_OK) {
        born_node *n = ready.items[--ready.count];
        st = run_node(n);
        tensor_release(n->grad_acc);
        n->grad_acc = NULL;
        if (st != BORN_OK) break;
        if (!retain) node_release_saved(n);
        for (int i = 0; i < n->ninputs; i++) {
            born_node *next = n->inputs[i].node;
            if (next && --next->pending == 0 && !list_push(&ready, next)) goto oom;
        }
    }
    goto done;
oom:
    st = born_error(BORN_ERR_MEMORY, "born_backward: out of memory walking the graph");
done:
    for (size_t i = 0; i < order.count; i++) { /* after an error, drop partial gradients */
        tensor_release(order.items[i]->grad_acc);
        order.items[i]->grad_acc = NULL;
    }
    free(order.items);
    free(ready.items);
    born_scope_end();
    born_no_grad_end();
    autocast_resume(autocast_depth);
    return st;
}

/* ---- leaf gradient access -------------------------------------------------------------- */

born_tensor *born_requires_grad(born_tensor *t, bool requires_grad) {
    if (!t) return NULL;
    if (t->grad_fn)
        return born_error_null(BORN_ERR_AUTOGRAD, "born_requires_grad: only leaves can be "
                               "changed; this tensor was made by %s (use born_detach)",
                               t->grad_fn->name);
    if (requires_grad && !born_dtype_is_floating(t->dtype))
        return born_error_null(BORN_ERR_DTYPE, "born_requires_grad: only floating tensors can "
                               "require grad, not %s", born_dtype_name(t->dtype));
    t->requires_grad = requires_grad;
    return t;
}

born_tensor *born_grad(const born_tensor *t) { return t ? t->grad : NULL; }

void born_zero_grad(born_tensor *t) {
    if (t && t->grad) {
        tensor_release(t->grad);
        t->grad = NULL;
    }
}

born_status born_set_grad(born_tensor *t, born_tensor *grad) {
    if (!t) return born_error(BORN_ERR_ARGUMENT, "born_set_grad: tensor is NULL");
    if (grad) {
        char a[200], b[200];
        if (grad->dtype != t->dtype || grad->ndim != t->ndim ||
            memcmp(grad->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) != 0 ||
            !born_device_equal(grad->storage->device, t->storage->device))
            return born_error(BORN_ERR_SHAPE, "born_set_grad: gradient %s does not match tensor %s",
                              born_tensor_describe(grad, a, sizeof a),
                              born_tensor_describe(t, b, sizeof b));
        born_tensor_retain(grad);
    }
    born_zero_grad(t);
    t->grad = grad;
    return BORN_OK;
}
