/* Selection: where(cond, a, b) and masked_fill, with their backward rules. */
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"

/* The gradient goes to a where cond holds and to b elsewhere. */
static born_status where_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    born_tensor *cond = node_saved(n, 0);
    born_tensor *zero = born_zeros_like(g);
    if (node_needs_grad(n, 1)) gi[1] = born_where(cond, g, zero);
    if (node_needs_grad(n, 2)) gi[2] = born_where(cond, zero, g);
    return BORN_OK;
}

born_tensor *born_where(born_tensor *cond, born_tensor *a, born_tensor *b) {
    born_tensor *args[3] = {cond, a, b};
    if (!ops_check_inputs("born_where", 3, args)) return NULL;
    born_device device;
    if (!ops_check_device("born_where", 3, args, &device)) return NULL;
    if (cond->dtype != BORN_BOOL)
        return born_error_null(BORN_ERR_DTYPE, "born_where: the condition is %s, not bool",
                               born_dtype_name(cond->dtype));
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    if (ops_broadcast_shapes("born_where", 3, args, &ndim, shape) != BORN_OK) return NULL;
    born_dtype dtype = ops_result_type(2, args + 1);
    const born_backend *be = backend_for(device);
    if (!be) return NULL;
    born_tensor *out = ops_empty(dtype, ndim, shape, device);
    born_tensor *ca = out ? ops_as_dtype(a, dtype) : NULL;
    born_tensor *cb = ca ? ops_as_dtype(b, dtype) : NULL;
    born_status st = cb ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        born_strided o = strided_of(out);
        born_strided sc = strided_broadcast(cond, ndim, shape);
        born_strided sa = strided_broadcast(ca, ndim, shape);
        born_strided sb = strided_broadcast(cb, ndim, shape);
        st = be->where(&o, &sc, &sa, &sb);
    }
    born_free(ca);
    born_free(cb);
    if (st != BORN_OK) {
        born_free(out);
        return NULL;
    }
    if (born_dtype_is_floating(dtype) &&
        !autograd_record(out, "WhereBackward", where_backward, 3, args, 1, &cond, NULL, 0)) {
        born_free(out);
        return NULL;
    }
    return out;
}

born_tensor *born_masked_fill(born_tensor *t, born_tensor *mask, double value) {
    born_tensor *args[2] = {t, mask};
    if (!ops_check_inputs("born_masked_fill", 2, args)) return NULL;
    if (mask->dtype != BORN_BOOL)
        return born_error_null(BORN_ERR_DTYPE, "born_masked_fill: the mask is %s, not bool",
                               born_dtype_name(mask->dtype));
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    if (ops_broadcast_shapes("born_masked_fill", 2, args, &ndim, shape) != BORN_OK) return NULL;
    if (ndim != t->ndim || memcmp(shape, t->shape, sizeof(int64_t) * (size_t)ndim) != 0) {
        char a[200], b[200];
        return born_error_null(BORN_ERR_SHAPE, "born_masked_fill: mask %s does not broadcast to %s",
                               ops_describe(mask, a, sizeof a), ops_describe(t, b, sizeof b));
    }
    born_tensor *fill = ops_scalar_on(t->dtype, value, t->storage->device);
    if (!fill) return NULL;
    born_tensor *out = born_where(mask, fill, t);
    born_free(fill);
    return out;
}
