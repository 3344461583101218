/* Recurrent operators: LSTM (gates i, o, f, c as ONNX orders them), computed in float. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

static float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

static born_status op_LSTM(onnx_op_ctx *c) {
    for (int i = 0; i < 3; i++) ONNX_TRY(onnx_need(c, i));
    char buf[32];
    const char *dir = onnx_attr_str(c, "direction", "forward", buf, sizeof buf);
    int ndir = !strcmp(dir, "bidirectional") ? 2 : 1;
    bool reverse = !strcmp(dir, "reverse");
    int n;
    onnx_attr_ints(c, "activations", &n);
    if (onnx_has_attr(c, "activations") || onnx_has_attr(c, "clip") ||
        onnx_attr_int(c, "input_forget", 0))
        return onnx_fail(c, BORN_ERR_UNSUPPORTED, "custom activations, clip and input_forget are not supported");
    bool bf = onnx_attr_int(c, "layout", 0) != 0;
    born_tensor *X = c->in[0];
    if (bf) X = born_transpose(X, 0, 1);
    born_dtype dt = born_tensor_dtype(c->in[0]);
    X = onnx_as(X, BORN_F32);
    born_tensor *W = onnx_as(c->in[1], BORN_F32), *R = onnx_as(c->in[2], BORN_F32);
    born_tensor *B = c->nin > 3 && c->in[3] ? onnx_as(c->in[3], BORN_F32) : NULL;
    born_tensor *H0 = c->nin > 5 && c->in[5] ? onnx_as(c->in[5], BORN_F32) : NULL;
    born_tensor *C0 = c->nin > 6 && c->in[6] ? onnx_as(c->in[6], BORN_F32) : NULL;
    born_tensor *P = c->nin > 7 && c->in[7] ? onnx_as(c->in[7], BORN_F32) : NULL;
    if (!X || !W || !R) return onnx_op_failed(c);
    if (bf) {
        if (H0) H0 = onnx_as(born_transpose(H0, 0, 1), BORN_F32);
        if (C0) C0 = onnx_as(born_transpose(C0, 0, 1), BORN_F32);
    }
    if (born_tensor_ndim(X) != 3) return onnx_fail(c, BORN_ERR_SHAPE, "X must be 3-D");
    int64_t T = born_tensor_shape(X)[0], Bn = born_tensor_shape(X)[1], I = born_tensor_shape(X)[2];
    int64_t H = onnx_attr_int(c, "hidden_size", born_tensor_shape(R)[2]);
    if (born_tensor_shape(W)[0] != ndir || born_tensor_shape(W)[1] != 4 * H || born_tensor_shape(W)[2] != I)
        return onnx_fail(c, BORN_ERR_SHAPE, "W shape does not fit");
    if (c->nin > 4 && c->in[4]) {
        born_tensor *sl = onnx_as(c->in[4], BORN_I64);
        if (!sl) return onnx_op_failed(c);
        for (int64_t b = 0; b < born_tensor_numel(sl); b++)
            if (born_data_i64(sl)[b] != T)
                return onnx_fail(c, BORN_ERR_UNSUPPORTED, "sequence_lens shorter than the input");
    }
    born_tensor *Y = born_zeros(BORN_F32, 4, (int64_t[]){T, ndir, Bn, H});
    born_tensor *Yh = born_zeros(BORN_F32, 3, (int64_t[]){ndir, Bn, H});
    born_tensor *Yc = born_zeros(BORN_F32, 3, (int64_t[]){ndir, Bn, H});
    born_tensor *gates = born_empty(BORN_F32, 1, (int64_t[]){4 * H});
    if (!Y || !Yh || !Yc || !gates) return onnx_op_failed(c);
    const float *x = born_data_f32(X), *w = born_data_f32(W), *rr = born_data_f32(R);
    float *y = born_data_f32(Y), *yh = born_data_f32(Yh), *yc = born_data_f32(Yc), *g = born_data_f32(gates);
    for (int d = 0; d < ndir; d++) {
        bool rev = reverse || d == 1;
        float *h = yh + d * Bn * H, *cc = yc + d * Bn * H;
        if (H0) memcpy(h, born_data_f32(H0) + d * Bn * H, (size_t)(Bn * H) * 4);
        if (C0) memcpy(cc, born_data_f32(C0) + d * Bn * H, (size_t)(Bn * H) * 4);
        const float *wd = w + d * 4 * H * I, *rd = rr + d * 4 * H * H;
        const float *bd = B ? born_data_f32(B) + d * 8 * H : NULL;
        const float *pd = P ? born_data_f32(P) + d * 3 * H : NULL;
        for (int64_t s = 0; s < T; s++) {
            int64_t t = rev ? T - 1 - s : s;
            for (int64_t b = 0; b < Bn; b++) {
                const float *xt = x + (t * Bn + b) * I;
                float *hb = h + b * H, *cb = cc + b * H;
                for (int64_t j = 0; j < 4 * H; j++) {
                    float acc = bd ? bd[j] + bd[4 * H + j] : 0;
                    const float *wr = wd + j * I, *rrow = rd + j * H;
                    for (int64_t k = 0; k < I; k++) acc += wr[k] * xt[k];
                    for (int64_t k = 0; k < H; k++) acc += rrow[k] * hb[k];
                    g[j] = acc;
                }
                for (int64_t k = 0; k < H; k++) {
                    float ig = g[k], og = g[H + k], fg = g[2 * H + k], cg = g[3 * H + k];
                    if (pd) {
                        ig += pd[k] * cb[k];
                        fg += pd[2 * H + k] * cb[k];
                    }
                    ig = sigm(ig);
                    fg = sigm(fg);
                    cg = tanhf(cg);
                    float cn = fg * cb[k] + ig * cg;
                    if (pd) og += pd[H + k] * cn;
                    og = sigm(og);
                    cb[k] = cn;
                    hb[k] = og * tanhf(cn);
                    y[((t * ndir + d) * Bn + b) * H + k] = hb[k];
                }
            }
        }
    }
    born_tensor *outs[3] = {Y, Yh, Yc};
    if (bf) {
        outs[0] = born_permute(Y, 4, (int64_t[]){2, 0, 1, 3});
        outs[1] = born_transpose(Yh, 0, 1);
        outs[2] = born_transpose(Yc, 0, 1);
    }
    for (int i = 0; i < c->nout && i < 3; i++) ONNX_OUT(i, born_contiguous(born_to_dtype(outs[i], dt)));
    return BORN_OK;
}

const onnx_op_entry onnx_ops_rnn[] = {{"LSTM", op_LSTM}, {NULL, NULL}};
