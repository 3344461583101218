/* A linear layer's forward and gradients for the fused-linear tests (tests/nn/test_linear_fused.c,
 * tests/backend/test_cuda_fused.c). */
#ifndef BORN_TESTS_NN_LINEAR_RUN_H
#define BORN_TESTS_NN_LINEAR_RUN_H

#include "nn/linear_fused.h"
#include "test.h"

/* y = act(x W^T + b), act GELU-tanh where gelu, through nn_linear_fused where fused (else
 * born_linear then born_gelu_tanh), and sum(y * r)'s gradients of x, W and b into g[0..2] (g[2]
 * NULL without b). NULL where any step fails. */
static inline born_tensor *linear_run(born_tensor *x, born_tensor *w, born_tensor *b,
                                      born_tensor *r, bool gelu, bool fused, born_tensor **g) {
    born_tensor *xg = born_requires_grad(born_clone(x), true);
    born_tensor *wg = born_requires_grad(born_clone(w), true);
    born_tensor *bg = b ? born_requires_grad(born_clone(b), true) : NULL;
    born_tensor *y = fused ? nn_linear_fused(xg, wg, bg, gelu) : born_linear(xg, wg, bg);
    if (y && gelu && !fused) y = born_gelu_tanh(y);
    g[0] = g[1] = g[2] = NULL;
    if (!y) return NULL;
    if (born_backward(born_sum(born_mul(y, r), 0, NULL, false)) != BORN_OK) return NULL;
    g[0] = born_grad(xg);
    g[1] = born_grad(wg);
    g[2] = bg ? born_grad(bg) : NULL;
    return y;
}

#endif
