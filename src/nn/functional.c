/* Functional ops of the nn layer that are not tied to one module file: adaptive average pooling,
 * written with other ops (average pooling when the sizes divide, else two pooling matrices). */
#include <inttypes.h>
#include <stdlib.h>

#include "core/tensor_impl.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

/* The [out, in] matrix whose row i averages inputs floor(i in / out) .. ceil((i+1) in / out) - 1,
 * in dtype. */
static born_tensor *pooling_matrix(int64_t out, int64_t in, born_dtype dtype) {
    double *w = calloc((size_t)(out * in), sizeof *w);
    if (!w) return born_error_null(BORN_ERR_MEMORY, "born_adaptive_avg_pool2d: out of memory");
    for (int64_t i = 0; i < out; i++) {
        int64_t start = (i * in) / out, end = ((i + 1) * in + out - 1) / out;
        for (int64_t j = start; j < end; j++) w[i * in + j] = 1.0 / (double)(end - start);
    }
    born_tensor *m = born_from_data(BORN_F64, BORN_DIMS(out, in), w, (size_t)(out * in) * sizeof *w);
    free(w);
    return born_to_dtype(m, dtype);
}

born_tensor *born_adaptive_avg_pool2d(born_tensor *x, int64_t oh, int64_t ow) {
    static const char *fn = "born_adaptive_avg_pool2d";
    if (!ops_check_inputs(fn, 1, &x)) return NULL;
    char d[200];
    if (x->ndim != 3 && x->ndim != 4)
        return born_error_null(BORN_ERR_SHAPE, "%s: input %s must be [N, C, H, W] or [C, H, W]", fn,
                               ops_describe(x, d, sizeof d));
    if (!born_dtype_is_floating(x->dtype))
        return born_error_null(BORN_ERR_DTYPE, "%s: input %s must be floating", fn,
                               ops_describe(x, d, sizeof d));
    if (oh < 1 || ow < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: output size (%" PRId64 ", %" PRId64 ") must "
                               "be positive (input %s)", fn, oh, ow, ops_describe(x, d, sizeof d));
    int64_t h = x->shape[x->ndim - 2], w = x->shape[x->ndim - 1];
    for (int i = 1; i < x->ndim; i++)
        if (x->shape[i] == 0)
            return born_error_null(BORN_ERR_SHAPE, "%s: input %s must have non-zero sizes except in "
                                   "the batch dimension", fn, ops_describe(x, d, sizeof d));
    if (x->ndim == 3 && x->shape[0] == 0)
        return born_error_null(BORN_ERR_SHAPE, "%s: input %s has no channels", fn,
                               ops_describe(x, d, sizeof d));
    born_scope_begin();
    born_tensor *out;
    if (h % oh == 0 && w % ow == 0) {
        born_pool2d_params p = born_pool2d_default_params(h / oh, w / ow);
        out = born_avg_pool2d(x, &p);
    } else {
        born_tensor *ph = pooling_matrix(oh, h, x->dtype);
        born_tensor *pw = pooling_matrix(ow, w, x->dtype);
        out = born_matmul(born_matmul(ph, x), born_transpose(pw, 0, 1));
    }
    out = born_keep(out);
    born_scope_end();
    return out;
}
