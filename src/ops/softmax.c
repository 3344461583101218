/* softmax / log_softmax along a dim, and cumsum, with their backward rules. */
#include "autograd/node.h"
#include "ops/op_util.h"
#include "ops/ops_internal.h"

typedef struct softmax_params {
    int dim;
    bool log;
} softmax_params;

/* grad_in from grad_out and the saved output, through the backend's fused kernel. */
born_tensor *softmax_backward_op(born_tensor *g, born_tensor *y, int dim, bool log) {
    const born_backend *be = ops_backend(y);
    if (!be) return NULL;
    /* like the forward, half precision computes in f32 (converted here on the CPU; an
     * accelerator's kernel reads and writes the halves itself, computing in f32) */
    born_dtype compute = y->dtype == BORN_F64 ? BORN_F64 : BORN_F32;
    if (y->storage->device.type != BORN_DEVICE_CPU && (y->dtype == BORN_F16 || y->dtype == BORN_BF16))
        compute = y->dtype;
    born_tensor *gc = ops_as_dtype(g, compute);
    born_tensor *yc = gc ? ops_as_dtype(y, compute) : NULL;
    born_tensor *out = yc ? ops_empty(compute, y->ndim, y->shape, y->storage->device) : NULL;
    born_status st = out ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        born_strided o = strided_of(out), sg = strided_broadcast(gc, y->ndim, y->shape), sy = strided_of(yc);
        st = be->softmax_backward ? be->softmax_backward(log, &o, &sg, &sy, dim)
                                  : born_error(BORN_ERR_UNSUPPORTED, "softmax backward: not supported on this device");
    }
    born_free(gc);
    born_free(yc);
    born_tensor *result = st == BORN_OK ? ops_as_dtype(out, y->dtype) : NULL;
    born_free(out);
    return result;
}

static born_status softmax_rule(born_node *n, born_tensor *g, born_tensor **gi) {
    const softmax_params *p = node_params(n);
    gi[0] = softmax_backward_op(g, node_saved(n, 0), p->dim, p->log);
    return BORN_OK;
}

static born_tensor *softmax_op(born_tensor *t, int dim, bool log, const char *name) {
    if (!ops_check_inputs(name, 1, &t)) return NULL;
    int d = dim_normalize(name, dim, t->ndim);
    if (d < 0) return NULL;
    const born_backend *be = ops_backend(t);
    if (!be) return NULL;
    /* integers compute in f32; f16/bf16 compute in f32 and round back (on an accelerator the
     * kernel does that itself, sparing two conversion passes over the tensor) */
    born_dtype out_dtype = born_dtype_is_floating(t->dtype) ? t->dtype : BORN_F32;
    born_dtype compute = (out_dtype == BORN_F64) ? BORN_F64 : BORN_F32;
    if (t->storage->device.type != BORN_DEVICE_CPU && (out_dtype == BORN_F16 || out_dtype == BORN_BF16))
        compute = out_dtype;
    born_tensor *in = ops_as_dtype(t, compute);
    born_tensor *y = in ? ops_empty(compute, t->ndim, t->shape, t->storage->device) : NULL;
    born_status st = y ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        born_strided o = strided_of(y), s = strided_of(in);
        st = be->softmax ? be->softmax(log, &o, &s, d)
                         : born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", name);
    }
    born_free(in);
    born_tensor *out = st == BORN_OK ? ops_as_dtype(y, out_dtype) : NULL;
    born_free(y);
    if (!out) return NULL;
    softmax_params p = {d, log};
    if (!autograd_record(out, log ? "LogSoftmaxBackward" : "SoftmaxBackward", softmax_rule, 1, &t,
                         1, &out, &p, sizeof p)) {
        born_free(out);
        return NULL;
    }
    return out;
}

born_tensor *born_softmax(born_tensor *t, int dim) { return softmax_op(t, dim, false, "born_softmax"); }
born_tensor *born_log_softmax(born_tensor *t, int dim) { return softmax_op(t, dim, true, "born_log_softmax"); }

/* ---- cumsum -------------------------------------------------------------------------------- */

/* d/dx of a running sum: the reversed running sum of g, total - cumsum(g) + g. */
static born_status cumsum_rule(born_node *n, born_tensor *g, born_tensor **gi) {
    int dim = *(const int *)node_params(n);
    int64_t d = dim;
    /* half precision would lose the small differences of large running sums: use f32 */
    born_tensor *g32 = (g->dtype == BORN_F16 || g->dtype == BORN_BF16) ? born_to_dtype(g, BORN_F32) : g;
    born_tensor *total = born_sum(g32, 1, &d, true);
    gi[0] = born_add(born_sub(total, born_cumsum(g32, dim)), g32);
    return BORN_OK;
}

born_tensor *born_cumsum(born_tensor *t, int dim) {
    if (!ops_check_inputs("born_cumsum", 1, &t)) return NULL;
    int d = dim_normalize("born_cumsum", dim, t->ndim);
    if (d < 0) return NULL;
    const born_backend *be = ops_backend(t);
    if (!be) return NULL;
    born_dtype out_dtype = born_dtype_is_floating(t->dtype) ? t->dtype : BORN_I64;
    born_dtype compute = (out_dtype == BORN_F16 || out_dtype == BORN_BF16) ? BORN_F32 : out_dtype;
    born_tensor *in = ops_as_dtype(t, compute);
    born_tensor *acc = in ? ops_empty(compute, t->ndim, t->shape, t->storage->device) : NULL;
    born_status st = acc ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        born_strided o = strided_of(acc), s = strided_of(in);
        st = be->cumsum ? be->cumsum(&o, &s, d)
                        : born_error(BORN_ERR_UNSUPPORTED, "born_cumsum: not supported on this device");
    }
    born_free(in);
    born_tensor *out = st == BORN_OK ? ops_as_dtype(acc, out_dtype) : NULL;
    born_free(acc);
    if (!out || !born_dtype_is_floating(out_dtype)) return out;
    if (!autograd_record(out, "CumsumBackward", cumsum_rule, 1, &t, 0, NULL, &d, sizeof d)) {
        born_free(out);
        return NULL;
    }
    return out;
}
