/* Linear: y = x W^T + b with torch's default initialisation (kaiming_uniform_ with a = sqrt(5),
 * i.e. U(-1/sqrt(in), 1/sqrt(in)), for the weight; the same bound for the bias). */
#include <inttypes.h>
#include <math.h>

#include "core/tensor_impl.h"
#include "nn/linear_fused.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

typedef struct linear {
    born_module base;
    int64_t in_features, out_features;
    born_tensor *weight, *bias; /* borrowed from base.params; bias may be NULL */
} linear;

static born_tensor *linear_forward(born_module *m, born_tensor *x) {
    linear *l = (linear *)m;
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in_features) {
        char d[200];
        return born_error_null(BORN_ERR_SHAPE, "Linear(in_features=%" PRId64 ", out_features=%" PRId64
                               "): input %s must end with a dimension of size %" PRId64,
                               l->in_features, l->out_features, ops_describe(x, d, sizeof d),
                               l->in_features);
    }
    return nn_linear_fused(x, l->weight, l->bias, false);
}

static void linear_describe(const born_module *m, char *buf, size_t size) {
    const linear *l = (const linear *)m;
    nn_buf_printf(buf, size, "in_features=%" PRId64 ", out_features=%" PRId64 ", bias=%s",
                  l->in_features, l->out_features, nn_py_bool(l->bias != NULL));
}

static const born_module_vtable linear_vt = {"Linear", linear_forward, NULL, linear_describe};

born_tensor *nn_linear_act(born_module *m, born_tensor *x, bool gelu_tanh) {
    if (!gelu_tanh || !m || !x || m->vt != &linear_vt ||
        x->ndim < 1 || x->shape[x->ndim - 1] != ((linear *)m)->in_features) {
        born_tensor *y = born_module_forward(m, x);
        return gelu_tanh && y ? born_gelu_tanh(y) : y;
    }
    linear *l = (linear *)m;
    return nn_linear_fused(x, l->weight, l->bias, true);
}

born_module *born_linear_new(int64_t in_features, int64_t out_features, bool bias,
                             born_generator *gen) {
    static const char *fn = "born_linear_new";
    if (in_features < 0 || out_features < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: in_features %" PRId64 " and out_features %"
                               PRId64 " must not be negative", fn, in_features, out_features);
    linear *l = (linear *)nn_module_alloc(sizeof *l, &linear_vt, fn);
    if (!l) return NULL;
    l->in_features = in_features;
    l->out_features = out_features;
    l->weight = nn_add_parameter(&l->base, "weight", BORN_DIMS(out_features, in_features));
    if (bias && l->weight) l->bias = nn_add_parameter(&l->base, "bias", BORN_DIMS(out_features));
    bool ok = l->weight && (!bias || l->bias);
    ok = ok && born_init_kaiming_uniform_(l->weight, sqrt(5.0), BORN_FAN_IN,
                                          BORN_NONLINEARITY_LEAKY_RELU, gen) == BORN_OK;
    if (ok && bias) {
        double bound = in_features > 0 ? 1.0 / sqrt((double)in_features) : 0.0;
        ok = born_init_uniform_(l->bias, -bound, bound, gen) == BORN_OK;
    }
    if (!ok) {
        born_module_free(&l->base);
        return NULL;
    }
    return &l->base;
}
