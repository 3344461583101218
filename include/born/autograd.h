/* Born autograd (layer 4): reverse-mode differentiation over a graph recorded as ops run.
 *
 * A tensor that requires grad is either a leaf (made by the user, flagged with
 * born_requires_grad) or the result of an op with such an input, which then holds a node that
 * knows how to send gradients back to the op's inputs. The graph lives exactly as long as the
 * tensors that reach it: there is no global tape, so a training step in a scope frees its graph
 * with the scope. born_backward(t) seeds the gradient at t and accumulates into the .grad of every
 * leaf that t depends on. */
#ifndef BORN_AUTOGRAD_H
#define BORN_AUTOGRAD_H

#include "born/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks a tensor made by the user (a leaf) as requiring grad, or clears the mark. Only floating
 * tensors can require grad, and only leaves can be changed. Returns t, or NULL on error (t itself
 * is untouched and still owned as before). */
BORN_API born_tensor *born_requires_grad(born_tensor *t, bool requires_grad);

/* True when t is a leaf marked with born_requires_grad or the result of an op recorded for
 * autograd. */
BORN_API bool born_tensor_requires_grad(const born_tensor *t);

/* True when t was not made by a recorded op (parameters, inputs, detached tensors). */
BORN_API bool born_tensor_is_leaf(const born_tensor *t);

/* The gradient accumulated into leaf t by born_backward, or NULL if none (borrowed: valid until
 * the next backward or born_zero_grad on t). */
BORN_API born_tensor *born_grad(const born_tensor *t);

/* Replaces t's gradient with grad (which must match t's shape and dtype; NULL clears it). The
 * tensor takes its own reference to grad. */
BORN_API born_status born_set_grad(born_tensor *t, born_tensor *grad);

/* Drops t's gradient, as torch's zero_grad(set_to_none=True). */
BORN_API void born_zero_grad(born_tensor *t);

/* The name of the node that made t ("MulBackward"), or NULL for a leaf; a static string. */
BORN_API const char *born_grad_fn_name(const born_tensor *t);

typedef struct born_backward_params {
    born_tensor *grad; /* gradient of the root (its shape); NULL means 1 for a one-element root */
    bool retain_graph; /* keep saved tensors so the graph can be backpropagated again */
} born_backward_params;

BORN_API born_backward_params born_backward_default_params(void);

/* Backpropagates from root (which must have one element) and accumulates gradients into the
 * leaves; the graph's saved tensors are freed afterwards. */
BORN_API born_status born_backward(born_tensor *root);

/* As born_backward, with an explicit root gradient and/or retain_graph. */
BORN_API born_status born_backward_ex(born_tensor *root, const born_backward_params *params);

/* Turns recording off (counted: calls nest) on this thread, as torch.no_grad. */
BORN_API void born_no_grad_begin(void);
BORN_API void born_no_grad_end(void);

/* True unless inside born_no_grad_begin/end on this thread. */
BORN_API bool born_is_grad_enabled(void);

/* ------------------------------------------------------------------------------------------ */
/* Gradient checking against central finite differences, as torch.autograd.gradcheck.         */

/* The function under test: returns a new tensor computed from inputs (any shape). */
typedef born_tensor *(*born_gradcheck_fn)(born_tensor *const *inputs, void *ctx);

typedef struct born_gradcheck_params {
    double eps;  /* finite-difference step (default 1e-6) */
    double rtol; /* allowed relative error (default 1e-6) */
    double atol; /* allowed absolute error for gradients near zero (default 1e-8) */
} born_gradcheck_params;

BORN_API born_gradcheck_params born_gradcheck_default_params(void);

/* Compares the Jacobian that backward gives with central differences, for every input that
 * requires grad (which should be f64). Returns BORN_OK, or BORN_ERR_AUTOGRAD with a message
 * naming the input, the element and both values at the first mismatch. */
BORN_API born_status born_gradcheck(born_gradcheck_fn fn, int ninputs, born_tensor *const *inputs,
                                    void *ctx, const born_gradcheck_params *params);

#ifdef __cplusplus
}
#endif
#endif /* BORN_AUTOGRAD_H */
