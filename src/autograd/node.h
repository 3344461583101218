/* Internal: autograd nodes. An op whose inputs require grad records a node on its result: the
 * node holds an edge per input (to the input's own node, or to the input itself when it is a
 * leaf that requires grad), the inputs' shapes and dtypes, the tensors its backward rule needs
 * (saved as detached aliases, so a node never holds its own output and no cycle forms), and a
 * small block of op parameters.
 *
 * A backward rule receives the gradient of the node's output and writes one gradient per input
 * (NULL where the input needs none). It uses the public ops, so it runs on every backend. The
 * engine then sums each gradient down to its input's shape (undoing broadcasting) and converts
 * it to the input's dtype, so rules need not care about either. */
#ifndef BORN_AUTOGRAD_NODE_H
#define BORN_AUTOGRAD_NODE_H

#include <stdatomic.h>

#include "born/autograd.h"
#include "born/ops.h"
#include "core/tensor_impl.h"

enum { NODE_MAX_SAVED = 6, NODE_PARAM_BYTES = 192 };

typedef struct born_node born_node;

/* grad_inputs has node->ninputs entries, all NULL on entry. Returns BORN_OK or an error. */
typedef born_status (*node_backward_fn)(born_node *node, born_tensor *grad_output,
                                        born_tensor **grad_inputs);

typedef struct node_edge {
    born_node *node;   /* producer of a non-leaf input (strong), or NULL */
    born_tensor *leaf; /* a leaf input that requires grad (strong), or NULL */
    born_dtype dtype;
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
} node_edge;

struct born_node {
    atomic_int refcount;
    const char *name;
    node_backward_fn backward;
    int ninputs;
    node_edge *inputs;
    int nsaved;
    born_tensor *saved[NODE_MAX_SAVED];
    uint64_t saved_version[NODE_MAX_SAVED];
    bool released; /* saved tensors dropped after a backward without retain_graph */
    _Alignas(16) unsigned char params[NODE_PARAM_BYTES];
    /* engine bookkeeping, valid during one backward pass */
    uint64_t visit_epoch;
    int64_t pending;
    born_tensor *grad_acc;
};

/* True when grad mode is on and any of the n tensors requires grad (NULLs are skipped). */
bool autograd_needed(int n, born_tensor *const *tensors);

/* A new node with ninputs edges recorded from inputs (NULL entries, and inputs that do not
 * require grad, get no edge). Returns NULL with an error on failure. */
born_node *node_new(const char *name, node_backward_fn backward, int ninputs,
                    born_tensor *const *inputs);

/* Saves a detached alias of t for the backward rule; returns its slot or -1 on failure. */
int node_save(born_node *n, born_tensor *t);

/* The saved tensor in slot i (borrowed). */
static inline born_tensor *node_saved(const born_node *n, int i) { return n->saved[i]; }

/* Copies params into the node (false, with an error, if larger than NODE_PARAM_BYTES); read
 * them back with node_params. */
bool node_set_params(born_node *n, const void *params, size_t size);
static inline const void *node_params(const born_node *n) { return n->params; }

/* True when input i of the node needs a gradient. */
static inline bool node_needs_grad(const born_node *n, int i) {
    return n->inputs[i].node != NULL || n->inputs[i].leaf != NULL;
}

/* Makes n the grad_fn of out (taking over the caller's reference to n) and marks out as
 * requiring grad. */
void node_attach(born_tensor *out, born_node *n);

/* Reference counting; releasing the last reference frees the node and, iteratively, the
 * nodes only it kept alive (so a graph millions of nodes deep cannot overflow the stack). */
void node_retain(born_node *n);
void node_release(born_node *n);

/* Drops the saved tensors after a backward without retain_graph; a later backward through n
 * reports that the graph was freed. */
void node_release_saved(born_node *n);

/* The one call most ops make: when grad mode is on and an input requires grad, records a node
 * named `name` on out with edges to the inputs, the nsave tensors in `save` saved, and a copy of
 * params. Does nothing (and succeeds) when no node is needed. Returns false with an error
 * recorded on failure; the caller then frees out and fails. */
bool autograd_record(born_tensor *out, const char *name, node_backward_fn backward, int ninputs,
                     born_tensor *const *inputs, int nsave, born_tensor *const *save,
                     const void *params, size_t params_size);

#endif
