/* Linear layers through the backend's fused entries (see linear_fused.h). The forward writes
 * x W^T + b (and, for GELU-tanh, keeps the pre-activation for the backward) in one product; the
 * backward turns the output gradient into the pre-activation's with the backend's unary_backward
 * (GELU-tanh only), then grad_x = g W as born_matmul, and grad_W = g^T x with grad_b = the sum of
 * g's rows in one product. Anything the entries do not take goes through born_linear. */
#include <inttypes.h>
#include <string.h>

#include "autograd/autocast.h"
#include "autograd/node.h"
#include "core/tensor_impl.h"
#include "nn/linear_fused.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

typedef struct fused_params {
    bool gelu_tanh;
} fused_params;

static bool float_type(born_dtype t) { return t == BORN_F32 || t == BORN_F16 || t == BORN_BF16; }

/* The backend when the fused entries apply to these operands, else NULL (no error). */
static const born_backend *fused_backend(born_tensor *x, born_tensor *w, born_tensor *bias) {
    if (!x || !w) return NULL;
    born_dtype t = x->dtype;
    if (!float_type(t) || w->dtype != t || (bias && bias->dtype != t) || w->ndim != 2 ||
        x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1] ||
        (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0])))
        return NULL;
    if (!born_device_equal(w->storage->device, x->storage->device) ||
        (bias && !born_device_equal(bias->storage->device, x->storage->device)))
        return NULL;
    if (!born_tensor_is_contiguous(x) || !born_tensor_is_contiguous(w) ||
        (bias && !born_tensor_is_contiguous(bias)))
        return NULL;
    const born_backend *be = ops_backend(x);
    return be && be->linear_fused && be->unary_backward ? be : NULL;
}

static born_tensor *composed(born_tensor *x, born_tensor *w, born_tensor *bias, bool gelu_tanh) {
    born_tensor *y = born_linear(x, w, bias);
    return gelu_tanh && y ? born_gelu_tanh(y) : y;
}

/* x [..., K] as rows [R, K] (contiguous). */
static born_strided rows_of(born_tensor *t) {
    int64_t k = t->ndim ? t->shape[t->ndim - 1] : 1, r = 1;
    for (int d = 0; d + 1 < t->ndim; d++) r *= t->shape[d];
    return (born_strided){tensor_data(t), t->dtype, 2, {r, k}, {k, 1}};
}

static born_status fused_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const fused_params *p = node_params(n);
    born_tensor *x = node_saved(n, 0), *w = node_saved(n, 1), *pre = node_saved(n, 2);
    const born_backend *be = ops_backend(x);
    if (!be) return born_last_status();
    born_tensor *gp = g; /* the gradient of the pre-activation */
    if (p->gelu_tanh) {
        gp = ops_empty(pre->dtype, pre->ndim, pre->shape, pre->storage->device);
        if (!gp) return born_last_status();
        born_strided so = strided_of(gp), sg = strided_of(g), sx = strided_of(pre);
        born_unary_params up = {0, 0};
        born_status st = be->unary_backward(BORN_UNARY_GELU_TANH, &so, &sg, &sx, &sx, &up);
        if (st != BORN_OK) return st;
    }
    if (node_needs_grad(n, 0)) {
        gi[0] = born_matmul(gp, w);
        if (!gi[0]) return born_last_status();
    }
    bool need_w = node_needs_grad(n, 1), need_b = n->ninputs > 2 && node_needs_grad(n, 2);
    if (!need_w && !need_b) return BORN_OK;
    if (need_w && be->linear_weight_grad && gp->dtype == x->dtype &&
        born_tensor_is_contiguous(gp)) {
        born_tensor *gw = ops_empty(w->dtype, 2, w->shape, w->storage->device);
        born_tensor *gb = need_b ? ops_empty(w->dtype, 1, w->shape, w->storage->device) : NULL;
        if (!gw || (need_b && !gb)) return born_last_status();
        born_strided sw = strided_of(gw), sb = {0}, sg = rows_of(gp), sx = rows_of(x);
        if (gb) sb = strided_of(gb);
        born_status st = be->linear_weight_grad(&sw, &sb, &sg, &sx);
        if (st == BORN_OK) {
            gi[1] = gw;
            if (gb) gi[2] = gb;
            return BORN_OK;
        }
        born_free(gw);
        born_free(gb);
        if (st != BORN_ERR_UNSUPPORTED) return st;
    }
    if (need_w) { /* g^T x over the rows */
        born_tensor *xf = ops_reshape_rows(x), *gf = ops_reshape_rows(gp);
        gi[1] = born_matmul(born_transpose(gf, 0, 1), xf);
        if (!gi[1]) return born_last_status();
    }
    if (need_b) gi[2] = gp; /* the engine sums it down to [N] */
    return BORN_OK;
}

born_tensor *nn_linear_fused(born_tensor *x, born_tensor *weight, born_tensor *bias,
                             bool gelu_tanh) {
    born_tensor *ac_in[3] = {x, weight, bias}, *ac[3];
    bool ac_failed;
    if (autocast_args(3, ac_in, ac, &ac_failed)) { /* inside born_autocast_begin: in its dtype */
        born_tensor *r = ac_failed ? NULL : nn_linear_fused(ac[0], ac[1], ac[2], gelu_tanh);
        autocast_release(3, ac_in, ac);
        return r;
    }
    const born_backend *be = fused_backend(x, weight, bias);
    if (!be) return composed(x, weight, bias, gelu_tanh);
    born_dtype t = x->dtype;
    int64_t shape[BORN_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[x->ndim - 1] = weight->shape[0];
    born_device dev = x->storage->device;
    born_tensor *out = ops_empty(t, x->ndim, shape, dev);
    born_tensor *pre = out && gelu_tanh ? ops_empty(t, x->ndim, shape, dev) : NULL;
    if (!out || (gelu_tanh && !pre)) {
        born_free(out);
        return NULL;
    }
    born_strided so = rows_of(out), sp = pre ? rows_of(pre) : (born_strided){0};
    born_strided sx = rows_of(x), sw = strided_of(weight), sb = {0};
    if (bias) sb = strided_of(bias);
    born_status st = be->linear_fused(&so, &sp, &sx, &sw, &sb, gelu_tanh);
    if (st != BORN_OK) {
        born_free(out);
        born_free(pre);
        return st == BORN_ERR_UNSUPPORTED ? composed(x, weight, bias, gelu_tanh) : NULL;
    }
    born_tensor *inputs[3] = {x, weight, bias}, *save[3] = {x, weight, pre};
    fused_params p = {gelu_tanh};
    bool ok = autograd_record(out, gelu_tanh ? "LinearGeluTanhBackward" : "LinearBackward",
                              fused_backward, bias ? 3 : 2, inputs, 3, save, &p, sizeof p);
    born_free(pre);
    if (!ok) {
        born_free(out);
        return NULL;
    }
    return out;
}
