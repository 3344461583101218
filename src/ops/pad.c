/* Constant padding (torch.nn.functional.pad, mode "constant") and the triangle ops tril/triu.
 * pad fills a new tensor with the value and copies the kept part of the input into it; its
 * gradient is the gradient padded by the opposite amounts (which crops what was padded and puts
 * zeros where the input was cropped). tril/triu are compositions (a mask built from two aranges,
 * then born_where), so autograd differentiates them through where. */
#include <inttypes.h>
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"

typedef struct pad_params {
    int npad;
    int64_t pad[2 * BORN_MAX_DIMS];
} pad_params;

static born_status pad_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const pad_params *p = node_params(n);
    int64_t neg[2 * BORN_MAX_DIMS];
    for (int i = 0; i < p->npad; i++) neg[i] = -p->pad[i];
    gi[0] = born_pad(g, p->npad, neg, 0.0);
    return gi[0] ? BORN_OK : born_last_status();
}

born_tensor *born_pad(born_tensor *t, int npad, const int64_t *pad, double value) {
    static const char *op = "born_pad";
    if (!ops_check_inputs(op, 1, &t)) return NULL;
    char a[200];
    if (npad < 0 || npad % 2 != 0 || (npad > 0 && !pad))
        return born_error_null(BORN_ERR_ARGUMENT, "%s: the padding must be (before, after) pairs, "
                               "but %d values were given", op, npad);
    if (npad / 2 > t->ndim)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: %d padding values pad %d dimensions, but "
                               "the input %s has %d", op, npad, npad / 2,
                               ops_describe(t, a, sizeof a), t->ndim);
    /* per dimension: the output size, where the kept part starts in the input and in the output,
     * and its length */
    int64_t shape[BORN_MAX_DIMS], in_start[BORN_MAX_DIMS], out_start[BORN_MAX_DIMS],
        keep[BORN_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) {
        int k = t->ndim - 1 - d; /* pad pairs start from the last dimension */
        int64_t before = k < npad / 2 ? pad[2 * k] : 0, after = k < npad / 2 ? pad[2 * k + 1] : 0;
        int64_t size = t->shape[d];
        if (before > INT64_MAX / 4 || after > INT64_MAX / 4)
            return born_error_null(BORN_ERR_SHAPE, "%s: padding (%" PRId64 ", %" PRId64 ") of "
                                   "dimension %d of %s is too large", op, before, after, d,
                                   ops_describe(t, a, sizeof a));
        if (before < -size || after < -size || (before < 0 && after < 0 && -before > size + after))
            return born_error_null(BORN_ERR_SHAPE, "%s: padding (%" PRId64 ", %" PRId64 ") of "
                                   "dimension %d of %s crops more than its %" PRId64 " elements",
                                   op, before, after, d, ops_describe(t, a, sizeof a), size);
        int64_t crop_b = before < 0 ? -before : 0, crop_a = after < 0 ? -after : 0;
        int64_t grow_b = before > 0 ? before : 0, grow_a = after > 0 ? after : 0;
        keep[d] = size - crop_b - crop_a;
        shape[d] = keep[d] + grow_b + grow_a;
        in_start[d] = crop_b;
        out_start[d] = grow_b;
    }
    const born_backend *be = ops_backend(t);
    if (!be) return NULL;
    born_tensor *out = ops_empty(t->dtype, t->ndim, shape, t->storage->device);
    if (!out) return NULL;
    born_strided o = strided_of(out);
    born_status st = born_tensor_numel(out) > 0 ? be->fill(&o, value) : BORN_OK;
    int64_t kept = 1;
    for (int d = 0; d < t->ndim; d++) kept *= keep[d];
    if (st == BORN_OK && kept > 0) {
        size_t esize = born_dtype_size(t->dtype);
        born_strided dst = o, src = strided_of(t);
        int64_t doff = 0, soff = 0;
        for (int d = 0; d < t->ndim; d++) {
            doff += out_start[d] * out->strides[d];
            soff += in_start[d] * t->strides[d];
            dst.shape[d] = src.shape[d] = keep[d];
        }
        dst.data = (char *)dst.data + (size_t)doff * esize;
        src.data = (char *)src.data + (ptrdiff_t)soff * (ptrdiff_t)esize;
        st = be->copy(&dst, &src);
    }
    if (st != BORN_OK) {
        born_free(out);
        return NULL;
    }
    pad_params p = {npad, {0}};
    if (npad > 0) memcpy(p.pad, pad, sizeof(int64_t) * (size_t)npad);
    if (born_dtype_is_floating(t->dtype) &&
        !autograd_record(out, "PadBackward", pad_backward, 1, &t, 0, NULL, &p, sizeof p)) {
        born_free(out);
        return NULL;
    }
    return out;
}

/* ---- tril / triu --------------------------------------------------------------------------- */

/* t where (column - row) <= k (lower) or >= k (upper) over the last two dimensions, else 0. */
static born_tensor *triangle(born_tensor *t, int64_t k, bool lower, const char *op) {
    if (!ops_check_inputs(op, 1, &t)) return NULL;
    if (t->ndim < 2) {
        char a[200];
        return born_error_null(BORN_ERR_SHAPE, "%s: the input %s must have at least 2 dimensions",
                               op, ops_describe(t, a, sizeof a));
    }
    int64_t rows = t->shape[t->ndim - 2], cols = t->shape[t->ndim - 1];
    /* beyond these bounds every k selects all or nothing; clamping keeps k exact as a double */
    if (k > cols) k = cols;
    if (k < -rows) k = -rows;
    born_device device = t->storage->device;
    born_scope_begin();
    born_tensor *r = born_reshape(born_arange(0.0, (double)rows, 1.0, BORN_I64), 2,
                                  (int64_t[]){rows, 1});
    born_tensor *c = born_arange(0.0, (double)cols, 1.0, BORN_I64);
    born_tensor *diff = born_sub(c, r); /* [rows, cols]: column - row */
    born_tensor *kk = born_scalar(BORN_I64, (double)k);
    born_tensor *mask = lower ? born_le(diff, kk) : born_ge(diff, kk);
    if (mask && !born_device_equal(device, BORN_CPU)) mask = born_to(mask, device);
    born_tensor *zero = mask ? ops_scalar_on(t->dtype, 0.0, device) : NULL;
    born_tensor *out = born_keep(zero ? born_where(mask, t, zero) : NULL);
    born_scope_end();
    return out;
}

born_tensor *born_tril(born_tensor *t, int64_t k) { return triangle(t, k, true, "born_tril"); }
born_tensor *born_triu(born_tensor *t, int64_t k) { return triangle(t, k, false, "born_triu"); }
