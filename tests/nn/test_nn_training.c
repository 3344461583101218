/* The nn layer end to end: a small MLP learns XOR with plain SGD written against the module API
 * (parameters, forward, cross entropy, backward, zero_grad), each step in its own scope. */
#include <stdlib.h>

#include "nn/nn_test_util.h"

TEST(nn_mlp_learns_xor) {
    born_generator *g = born_generator_new(2024);
    born_module *mlp = born_sequential_of(BORN_MODULES(born_linear_new(2, 16, true, g), born_tanh_new(),
                                                       born_linear_new(16, 2, true, g)));
    born_tensor *x = tensor_of(BORN_F32, BORN_DIMS(4, 2), (double[]){0, 0, 0, 1, 1, 0, 1, 1});
    born_tensor *y = tensor_of(BORN_I64, BORN_DIMS(4), (double[]){0, 1, 1, 0});
    int64_t n = 0;
    born_tensor **params = born_module_parameters(mlp, &n);
    CHECK_EQ_INT(n, 4);
    double first = 0, last = 0;
    for (int step = 0; step < 300; step++) {
        born_scope_begin();
        born_module_zero_grad(mlp);
        born_tensor *loss = born_cross_entropy(born_module_forward(mlp, x), y, NULL);
        if (step == 0) first = born_item(loss);
        last = born_item(loss);
        CHECK_OK(born_backward(loss));
        born_no_grad_begin();
        for (int64_t i = 0; i < n; i++) born_sub_(params[i], born_mul_scalar(born_grad(params[i]), 0.5));
        born_no_grad_end();
        born_scope_end();
    }
    CHECK_MSG(last < 0.05 && last < first, "loss %g -> %g", first, last);
    born_tensor *pred = born_argmax(born_module_forward(mlp, x), 1, false);
    CHECK_TENSOR_NEAR(pred, ((double[]){0, 1, 1, 0}), 4, 0, 0);
    free(params);
    born_module_free(mlp);
    born_generator_free(g);
}
