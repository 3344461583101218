/* Dropout: the functional form (a mask drawn from a generator, kept elements scaled by 1/(1-p))
 * and the module, which is the identity in eval mode. */
#include "core/random_internal.h"
#include "core/tensor_impl.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

born_tensor *born_dropout(born_tensor *x, double p, bool training, born_generator *gen) {
    static const char *fn = "born_dropout";
    if (!ops_check_inputs(fn, 1, &x)) return NULL;
    char d[200];
    if (!(p >= 0.0 && p <= 1.0))
        return born_error_null(BORN_ERR_ARGUMENT, "%s: probability %g must lie in [0, 1] (input %s)",
                               fn, p, ops_describe(x, d, sizeof d));
    if (!born_dtype_is_floating(x->dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: input %s must be floating", fn,
                               ops_describe(x, d, sizeof d));
    if (!training || p == 0.0) return nn_alias(x);
    born_scope_begin();
    born_tensor *y;
    if (p == 1.0) {
        y = born_mul_scalar(x, 0.0);
    } else {
        born_tensor *keep = born_lt_scalar(
            core_rand_on(gen, x->dtype, x->ndim, x->shape, x->storage->device), 1.0 - p);
        born_tensor *mask = born_mul_scalar(born_to_dtype(keep, x->dtype), 1.0 / (1.0 - p));
        y = born_mul(x, mask);
    }
    y = born_keep(y);
    born_scope_end();
    return y;
}

typedef struct dropout {
    born_module base;
    double p;
    born_generator *gen; /* borrowed; NULL: the default generator */
} dropout;

static born_tensor *dropout_forward(born_module *m, born_tensor *x) {
    dropout *d = (dropout *)m;
    return born_dropout(x, d->p, m->training, d->gen);
}

static void dropout_describe(const born_module *m, char *buf, size_t size) {
    char p[40];
    nn_buf_printf(buf, size, "p=%s, inplace=False", nn_py_float(((const dropout *)m)->p, p, sizeof p));
}

static const born_module_vtable dropout_vt = {"Dropout", dropout_forward, NULL, dropout_describe};

born_module *born_dropout_new(double p, born_generator *gen) {
    if (!(p >= 0.0 && p <= 1.0))
        return born_error_null(BORN_ERR_ARGUMENT, "born_dropout_new: probability %g must lie in "
                               "[0, 1]", p);
    dropout *d = (dropout *)nn_module_alloc(sizeof *d, &dropout_vt, "born_dropout_new");
    if (!d) return NULL;
    d->p = p;
    d->gen = gen;
    return &d->base;
}
