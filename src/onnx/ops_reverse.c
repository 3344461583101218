/* ReverseSequence: reverses the first sequence_lens[b] steps along time_axis of every batch entry
 * b along batch_axis, leaving the rest in place. */
#include "onnx/onnx_internal.h"

static born_status op_ReverseSequence(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0];
    int r = born_tensor_ndim(x);
    if (r < 2) return onnx_fail(c, BORN_ERR_SHAPE, "input must have rank >= 2");
    int ba = onnx_axis(c, onnx_attr_int(c, "batch_axis", 1), r);
    int ta = onnx_axis(c, onnx_attr_int(c, "time_axis", 0), r);
    if (ba < 0 || ta < 0) return onnx_op_failed(c);
    if (ba == ta || ba > 1 || ta > 1)
        return onnx_fail(c, BORN_ERR_ARGUMENT, "batch_axis and time_axis must be 0 and 1");
    int64_t B = born_tensor_shape(x)[ba], T = born_tensor_shape(x)[ta];
    born_tensor *lens = onnx_as(c->in[1], BORN_I64);
    if (!lens) return onnx_op_failed(c);
    if (born_tensor_numel(lens) != B)
        return onnx_fail(c, BORN_ERR_SHAPE, "sequence_lens needs %lld values", (long long)B);
    born_tensor *parts[1024];
    if (B > 1024) return onnx_fail(c, BORN_ERR_UNSUPPORTED, "more than 1024 batch entries");
    born_tensor *idx = born_empty(BORN_I64, 1, &T);
    if (!idx) return onnx_op_failed(c);
    for (int64_t b = 0; b < B; b++) {
        int64_t len = born_data_i64(lens)[b];
        if (len < 0 || len > T)
            return onnx_fail(c, BORN_ERR_ARGUMENT, "sequence length %lld outside [0, %lld]",
                             (long long)len, (long long)T);
        born_tensor *ix = born_clone(idx);
        if (!ix) return onnx_op_failed(c);
        for (int64_t t = 0; t < T; t++) born_data_i64(ix)[t] = t < len ? len - 1 - t : t;
        born_tensor *xb = born_select(x, ba, b); /* time axis is now 0 */
        parts[b] = born_index_select(xb, 0, ix);
        if (!parts[b]) return onnx_op_failed(c);
    }
    ONNX_OUT(0, born_contiguous(born_stack(parts, (int)B, ba)));
    return BORN_OK;
}

const onnx_op_entry onnx_ops_reverse[] = {{"ReverseSequence", op_ReverseSequence}, {NULL, NULL}};
