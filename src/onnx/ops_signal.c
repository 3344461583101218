/* Signal operators: the window functions HannWindow, HammingWindow and BlackmanWindow (opset
 * 17; periodic or symmetric, any output_datatype). */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), N = size (periodic) or size - 1. */
static born_status window(onnx_op_ctx *c, double a0, double a1, double a2) {
    ONNX_TRY(onnx_need(c, 0));
    double sz;
    ONNX_TRY(onnx_read_scalar(c, c->in[0], &sz, "size"));
    if (!(sz >= 0) || sz > (double)(1 << 28))
        return onnx_fail(c, BORN_ERR_ARGUMENT, "size %g is not in [0, 2^28]", sz);
    int64_t size = (int64_t)sz;
    born_dtype dt;
    int64_t ot = onnx_attr_int(c, "output_datatype", 1);
    if (!onnx_dtype_map((int32_t)ot, &dt))
        return onnx_fail(c, BORN_ERR_DTYPE, "output_datatype %lld is not supported", (long long)ot);
    bool periodic = onnx_attr_int(c, "periodic", 1) != 0;
    double N = periodic ? (double)size : (double)(size - 1);
    born_tensor *w = born_empty(BORN_F64, 1, &size);
    if (!w) return onnx_op_failed(c);
    const double pi = 3.14159265358979323846;
    for (int64_t n = 0; n < size; n++) {
        double x = N != 0 ? 2 * pi * (double)n / N : 0;
        born_data_f64(w)[n] = a0 - a1 * cos(x) + a2 * cos(2 * x);
    }
    ONNX_OUT(0, born_contiguous(born_to_dtype(w, dt)));
    return BORN_OK;
}

static born_status op_HannWindow(onnx_op_ctx *c) { return window(c, 0.5, 0.5, 0); }
static born_status op_HammingWindow(onnx_op_ctx *c) {
    return window(c, 25.0 / 46.0, 1 - 25.0 / 46.0, 0);
}
static born_status op_BlackmanWindow(onnx_op_ctx *c) { return window(c, 0.42, 0.5, 0.08); }

const onnx_op_entry onnx_ops_signal[] = {{"HannWindow", op_HannWindow},
                                         {"HammingWindow", op_HammingWindow},
                                         {"BlackmanWindow", op_BlackmanWindow},
                                         {NULL, NULL}};
