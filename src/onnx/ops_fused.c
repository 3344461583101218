/* Steps that the load-time passes make from several nodes (src/onnx/passes.c) and that are not a
 * conv epilogue: x + x * s, the squeeze-and-excitation residual of PaddleOCR's detector neck
 * (Mul(x, s) then Add(x, that product), s one value per channel). */
#include <stdint.h>

#include "onnx/onnx_internal.h"
#include "onnx/plan.h"

typedef struct scale_add_job {
    const float *x, *s;
    float *y;
    int64_t hw;
} scale_add_job;

/* Planes [p0, p1): y = x + x * s[plane], the product rounded to f32 first, as the two nodes. */
static void scale_add_planes(int64_t p0, int64_t p1, void *arg) {
    const scale_add_job *j = arg;
    for (int64_t p = p0; p < p1; p++) {
        const float sv = j->s[p], *x = j->x + p * j->hw;
        float *y = j->y + p * j->hw;
        for (int64_t i = 0; i < j->hw; i++) {
            float m = x[i] * sv;
            y[i] = x[i] + m;
        }
    }
}

born_status onnx_op_fused_scale_add(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0], *s = c->in[1];
    born_dtype dt = born_tensor_dtype(x);
    if (born_tensor_dtype(s) != dt)
        return onnx_fail(c, BORN_ERR_DTYPE, "inputs are %s and %s; ONNX requires one type",
                         born_dtype_name(dt), born_dtype_name(born_tensor_dtype(s)));
    int r = born_tensor_ndim(x);
    const int64_t *xs = born_tensor_shape(x), *ss = born_tensor_shape(s);
    bool fast = dt == BORN_F32 && r >= 3 && born_tensor_ndim(s) == r &&
                born_tensor_is_contiguous(x) && born_tensor_is_contiguous(s) &&
                ss[0] == xs[0] && ss[1] == xs[1];
    int64_t hw = 1;
    for (int d = 2; d < r && fast; d++) {
        fast = ss[d] == 1;
        hw *= xs[d];
    }
    if (!fast) { /* as the two nodes would */
        born_tensor *m = born_binary(BORN_BINARY_MUL, x, s);
        if (m && born_tensor_dtype(m) != dt) m = born_to_dtype(m, dt);
        born_tensor *y = m ? born_binary(BORN_BINARY_ADD, x, m) : NULL;
        if (y && born_tensor_dtype(y) != dt) y = born_to_dtype(y, dt);
        ONNX_OUT(0, y);
        return BORN_OK;
    }
    born_tensor *y = born_empty(BORN_F32, r, xs);
    if (!y) return onnx_op_failed(c);
    scale_add_job j = {born_data_f32(x), born_data_f32(s), born_data_f32(y), hw};
    int64_t planes = xs[0] * xs[1];
    /* about 64K elements a chunk, as the elementwise ops split */
    born_parallel_for(planes, hw > 0 ? (65536 + hw - 1) / hw : planes, scale_add_planes, &j);
    c->out[0] = y;
    return BORN_OK;
}
