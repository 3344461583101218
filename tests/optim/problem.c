/* The shared problem of tests/optim/ (see problem.h). */
#include <string.h>

#include "optim/problem.h"
#include "optim/torch_ref.h"

static born_tensor *param(born_dtype dtype, int ndim, const int64_t *shape, const double *v) {
    return born_requires_grad(tensor_of(dtype, ndim, shape, v), true);
}

void problem_init(problem *pr, born_dtype dtype) {
    pr->p[0] = param(dtype, BORN_DIMS(2, 2), REF_W0);
    pr->p[1] = param(dtype, BORN_DIMS(2), REF_B0);
    pr->p[2] = param(dtype, BORN_DIMS(3), REF_Z0);
}

/* sum(a * (x - c)^2) */
static born_tensor *quad(born_tensor *x, const double *a, const double *c) {
    born_dtype dt = born_tensor_dtype(x);
    int nd = born_tensor_ndim(x);
    const int64_t *sh = born_tensor_shape(x);
    born_tensor *d = born_sub(x, tensor_of(dt, nd, sh, c));
    return born_sum(born_mul(tensor_of(dt, nd, sh, a), born_square(d)), 0, NULL, false);
}

void problem_backward(problem *pr, int step) {
    born_scope_begin();
    born_tensor *loss = born_add(quad(pr->p[0], REF_AW, REF_CW), quad(pr->p[1], REF_AB, REF_CB));
    if (step >= REF_Z_FROM) loss = born_add(loss, quad(pr->p[2], REF_AZ, REF_CZ));
    CHECK_OK_TENSOR(loss);
    if (loss) CHECK_OK(born_backward(loss));
    born_scope_end();
}

void problem_read(problem *pr, double *out) {
    CHECK(test_read(pr->p[0], out, 4));
    CHECK(test_read(pr->p[1], out + 4, 2));
    CHECK(test_read(pr->p[2], out + 6, 3));
}

born_optimizer *problem_optimizer(problem *pr, const ref_case *c) {
    switch (c->kind) {
    case BORN_OPTIMIZER_SGD: return born_sgd(pr->p, 3, &c->sgd);
    case BORN_OPTIMIZER_ADAM: return born_adam(pr->p, 3, &c->adam);
    case BORN_OPTIMIZER_ADAMW: return born_adamw(pr->p, 3, &c->adam);
    default: return born_rmsprop(pr->p, 3, &c->rmsprop);
    }
}

void problem_run(problem *pr, born_optimizer *opt, int first, int steps) {
    for (int s = first; s < first + steps; s++) {
        born_optimizer_zero_grad(opt);
        problem_backward(pr, s);
        CHECK_OK(born_optimizer_step(opt));
    }
}

bool tensors_identical(born_tensor *a, born_tensor *b) {
    if (!a || !b || born_tensor_dtype(a) != born_tensor_dtype(b) ||
        born_tensor_numel(a) != born_tensor_numel(b))
        return false;
    size_t n = (size_t)born_tensor_numel(a) * born_dtype_size(born_tensor_dtype(a));
    born_scope_begin();
    born_tensor *ca = born_contiguous(a), *cb = born_contiguous(b);
    bool same = ca && cb && memcmp(born_data_ptr(ca), born_data_ptr(cb), n) == 0;
    born_scope_end();
    return same;
}
