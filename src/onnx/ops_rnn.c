/* Recurrent operators: LSTM (gates i, o, f, c as ONNX orders them), computed in float. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"
#include "onnx/plan.h"

static float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* The dot product of a and b over n floats, in 8 independent lanes (which the compiler turns into
 * one vector register; a single accumulator would stay scalar without -ffast-math). */
static float dot(const float *a, const float *b, int64_t n) {
    float acc[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[k + l] * b[k + l];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

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
    if (born_tensor_ndim(X) != 3 || born_tensor_ndim(W) != 3 || born_tensor_ndim(R) != 3)
        return onnx_fail(c, BORN_ERR_SHAPE, "X, W and R must be 3-D");
    int64_t T = born_tensor_shape(X)[0], Bn = born_tensor_shape(X)[1], I = born_tensor_shape(X)[2];
    int64_t H = onnx_attr_int(c, "hidden_size", born_tensor_shape(R)[2]);
    if (born_tensor_shape(W)[0] != ndir || born_tensor_shape(W)[1] != 4 * H || born_tensor_shape(W)[2] != I)
        return onnx_fail(c, BORN_ERR_SHAPE, "W shape does not fit");
    if (born_tensor_shape(R)[0] != ndir || born_tensor_shape(R)[1] != 4 * H ||
        born_tensor_shape(R)[2] != H)
        return onnx_fail(c, BORN_ERR_SHAPE, "R shape does not fit");
    if ((B && born_tensor_numel(B) != ndir * 8 * H) || (P && born_tensor_numel(P) != ndir * 3 * H))
        return onnx_fail(c, BORN_ERR_SHAPE, "B or P shape does not fit");
    if ((H0 && born_tensor_numel(H0) != ndir * Bn * H) || (C0 && born_tensor_numel(C0) != ndir * Bn * H))
        return onnx_fail(c, BORN_ERR_SHAPE, "initial_h or initial_c shape does not fit");
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
    /* constant weights packed at load (src/onnx/rnn_prep.c): one pass over [W | R] per step */
    const plan_step *ps = c->subplans;
    const onnx_lstm_prep *prep = ps && onnx_lstm_prep_fits(ps->lstm, ndir, H, I) ? ps->lstm : NULL;
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
                if (prep) {
                    onnx_lstm_gates(prep, d, xt, hb, g);
                } else {
                    for (int64_t j = 0; j < 4 * H; j++) {
                        float acc = bd ? bd[j] + bd[4 * H + j] : 0;
                        g[j] = acc + dot(wd + j * I, xt, I) + dot(rd + j * H, hb, H);
                    }
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

/* An activation named as ONNX's RNN ops name them, applied after clipping. */
typedef enum { ACT_SIGMOID, ACT_TANH, ACT_RELU } rnn_act;

static float act(rnn_act a, float x, float clip) {
    if (clip > 0) x = x < -clip ? -clip : x > clip ? clip : x;
    switch (a) {
    case ACT_SIGMOID: return sigm(x);
    case ACT_TANH: return tanhf(x);
    default: return x > 0 ? x : 0;
    }
}

/* Reads the activations attribute (n per direction) into acts, defaults given. */
static born_status read_acts(onnx_op_ctx *c, int ndir, int n, const rnn_act *defs, rnn_act *acts) {
    for (int d = 0; d < ndir; d++)
        for (int i = 0; i < n; i++) acts[d * n + i] = defs[i];
    const onnx_attr *a = onnx_node_attr(c->node, "activations");
    if (!a) return BORN_OK;
    if (a->nstrings != (size_t)(ndir * n))
        return onnx_fail(c, BORN_ERR_ARGUMENT, "activations needs %d names", ndir * n);
    for (int i = 0; i < ndir * n; i++) {
        const onnx_bytes *s = &a->strings[i];
        if (s->len == 7 && !memcmp(s->data, "Sigmoid", 7)) acts[i] = ACT_SIGMOID;
        else if (s->len == 4 && !memcmp(s->data, "Tanh", 4)) acts[i] = ACT_TANH;
        else if (s->len == 4 && !memcmp(s->data, "Relu", 4)) acts[i] = ACT_RELU;
        else
            return onnx_fail(c, BORN_ERR_UNSUPPORTED, "activation '%.*s' is not supported",
                             (int)s->len, (const char *)s->data);
    }
    return BORN_OK;
}

/* The common frame of RNN and GRU: inputs as contiguous f32 in the sequence-first layout, shapes
 * checked, per-batch sequence lengths, zeroed outputs. */
typedef struct rnn_io {
    int ndir;
    bool reverse, bf;
    int64_t T, Bn, I, H, *lens;
    born_tensor *X, *W, *R, *B, *H0, *Y, *Yh;
} rnn_io;

static born_status rnn_setup(onnx_op_ctx *c, int ngates, rnn_io *io) {
    for (int i = 0; i < 3; i++) ONNX_TRY(onnx_need(c, i));
    char buf[32];
    const char *dir = onnx_attr_str(c, "direction", "forward", buf, sizeof buf);
    io->ndir = !strcmp(dir, "bidirectional") ? 2 : 1;
    io->reverse = !strcmp(dir, "reverse");
    io->bf = onnx_attr_int(c, "layout", 0) != 0;
    born_tensor *X = c->in[0];
    if (born_tensor_ndim(X) != 3) return onnx_fail(c, BORN_ERR_SHAPE, "X must be 3-D");
    if (io->bf) X = born_transpose(X, 0, 1);
    io->X = onnx_as(X, BORN_F32);
    io->W = onnx_as(c->in[1], BORN_F32);
    io->R = onnx_as(c->in[2], BORN_F32);
    io->B = c->nin > 3 && c->in[3] ? onnx_as(c->in[3], BORN_F32) : NULL;
    io->H0 = NULL;
    if (c->nin > 5 && c->in[5]) io->H0 = onnx_as(io->bf ? born_transpose(c->in[5], 0, 1) : c->in[5], BORN_F32);
    if (!io->X || !io->W || !io->R || (c->nin > 3 && c->in[3] && !io->B) ||
        (c->nin > 5 && c->in[5] && !io->H0))
        return onnx_op_failed(c);
    const int64_t *xs = born_tensor_shape(io->X);
    io->T = xs[0], io->Bn = xs[1], io->I = xs[2];
    if (born_tensor_ndim(io->R) != 3 || born_tensor_ndim(io->W) != 3)
        return onnx_fail(c, BORN_ERR_SHAPE, "W and R must be 3-D");
    io->H = onnx_attr_int(c, "hidden_size", born_tensor_shape(io->R)[2]);
    int64_t G = ngates * io->H;
    const int64_t *ws = born_tensor_shape(io->W), *rs = born_tensor_shape(io->R);
    if (ws[0] != io->ndir || ws[1] != G || ws[2] != io->I)
        return onnx_fail(c, BORN_ERR_SHAPE, "W shape does not fit");
    if (rs[0] != io->ndir || rs[1] != G || rs[2] != io->H)
        return onnx_fail(c, BORN_ERR_SHAPE, "R shape does not fit");
    if (io->B && (born_tensor_numel(io->B) != io->ndir * 2 * G))
        return onnx_fail(c, BORN_ERR_SHAPE, "B shape does not fit");
    if (io->H0 && born_tensor_numel(io->H0) != io->ndir * io->Bn * io->H)
        return onnx_fail(c, BORN_ERR_SHAPE, "initial_h shape does not fit");
    born_tensor *lens = born_empty(BORN_I64, 1, (int64_t[]){io->Bn});
    if (!lens) return onnx_op_failed(c);
    io->lens = born_data_i64(lens);
    for (int64_t b = 0; b < io->Bn; b++) io->lens[b] = io->T;
    if (c->nin > 4 && c->in[4]) {
        born_tensor *sl = onnx_as(c->in[4], BORN_I64);
        if (!sl) return onnx_op_failed(c);
        if (born_tensor_numel(sl) != io->Bn)
            return onnx_fail(c, BORN_ERR_SHAPE, "sequence_lens needs one length per batch entry");
        for (int64_t b = 0; b < io->Bn; b++) {
            int64_t v = born_data_i64(sl)[b];
            if (v < 0 || v > io->T) return onnx_fail(c, BORN_ERR_ARGUMENT, "sequence length %lld outside [0, %lld]", (long long)v, (long long)io->T);
            io->lens[b] = v;
        }
    }
    io->Y = born_zeros(BORN_F32, 4, (int64_t[]){io->T, io->ndir, io->Bn, io->H});
    io->Yh = born_zeros(BORN_F32, 3, (int64_t[]){io->ndir, io->Bn, io->H});
    if (!io->Y || !io->Yh) return onnx_op_failed(c);
    if (io->H0) memcpy(born_data_f32(io->Yh), born_data_f32(io->H0), (size_t)born_tensor_numel(io->Yh) * 4);
    return BORN_OK;
}

static born_status rnn_finish(onnx_op_ctx *c, rnn_io *io) {
    born_dtype dt = born_tensor_dtype(c->in[0]);
    born_tensor *outs[2] = {io->Y, io->Yh};
    if (io->bf) {
        outs[0] = born_permute(io->Y, 4, (int64_t[]){2, 0, 1, 3});
        outs[1] = born_transpose(io->Yh, 0, 1);
    }
    for (int i = 0; i < c->nout && i < 2; i++) ONNX_OUT(i, born_contiguous(born_to_dtype(outs[i], dt)));
    return BORN_OK;
}

/* out[j] = sum_k m[j*n + k] * v[k] for j < rows. */
static void matvec(float *out, const float *m, const float *v, int64_t rows, int64_t n) {
    for (int64_t j = 0; j < rows; j++) out[j] = dot(m + j * n, v, n);
}

static born_status op_RNN(onnx_op_ctx *c) {
    rnn_io io;
    ONNX_TRY(rnn_setup(c, 1, &io));
    rnn_act acts[2];
    ONNX_TRY(read_acts(c, io.ndir, 1, (const rnn_act[]){ACT_TANH}, acts));
    float clip = onnx_attr_float(c, "clip", 0);
    int64_t H = io.H, I = io.I, Bn = io.Bn;
    born_tensor *tmp = born_empty(BORN_F32, 1, (int64_t[]){2 * H});
    if (!tmp) return onnx_op_failed(c);
    float *gx = born_data_f32(tmp), *gh = gx + H;
    const float *x = born_data_f32(io.X);
    float *y = born_data_f32(io.Y), *yh = born_data_f32(io.Yh);
    for (int d = 0; d < io.ndir; d++) {
        bool rev = io.reverse || d == 1;
        const float *wd = born_data_f32(io.W) + d * H * I, *rd = born_data_f32(io.R) + d * H * H;
        const float *bd = io.B ? born_data_f32(io.B) + d * 2 * H : NULL;
        for (int64_t b = 0; b < Bn; b++) {
            float *h = yh + (d * Bn + b) * H;
            int64_t L = io.lens[b];
            for (int64_t s = 0; s < L; s++) {
                int64_t t = rev ? L - 1 - s : s;
                matvec(gx, wd, x + (t * Bn + b) * I, H, I);
                matvec(gh, rd, h, H, H);
                for (int64_t k = 0; k < H; k++) {
                    float v = gx[k] + gh[k] + (bd ? bd[k] + bd[H + k] : 0);
                    h[k] = act(acts[d], v, clip);
                    y[((t * io.ndir + d) * Bn + b) * H + k] = h[k];
                }
            }
        }
    }
    return rnn_finish(c, &io);
}

static born_status op_GRU(onnx_op_ctx *c) {
    rnn_io io;
    ONNX_TRY(rnn_setup(c, 3, &io));
    rnn_act acts[4];
    ONNX_TRY(read_acts(c, io.ndir, 2, (const rnn_act[]){ACT_SIGMOID, ACT_TANH}, acts));
    float clip = onnx_attr_float(c, "clip", 0);
    bool lbr = onnx_attr_int(c, "linear_before_reset", 0) != 0;
    int64_t H = io.H, I = io.I, Bn = io.Bn;
    born_tensor *tmp = born_empty(BORN_F32, 1, (int64_t[]){7 * H});
    if (!tmp) return onnx_op_failed(c);
    float *gx = born_data_f32(tmp), *gh = gx + 3 * H, *rh = gh + 3 * H;
    const float *x = born_data_f32(io.X);
    float *y = born_data_f32(io.Y), *yh = born_data_f32(io.Yh);
    for (int d = 0; d < io.ndir; d++) {
        bool rev = io.reverse || d == 1;
        rnn_act f = acts[d * 2], g = acts[d * 2 + 1];
        const float *wd = born_data_f32(io.W) + d * 3 * H * I, *rd = born_data_f32(io.R) + d * 3 * H * H;
        const float *wb = io.B ? born_data_f32(io.B) + d * 6 * H : NULL, *rb = wb ? wb + 3 * H : NULL;
        for (int64_t b = 0; b < Bn; b++) {
            float *h = yh + (d * Bn + b) * H;
            int64_t L = io.lens[b];
            for (int64_t s = 0; s < L; s++) {
                int64_t t = rev ? L - 1 - s : s;
                matvec(gx, wd, x + (t * Bn + b) * I, 3 * H, I);
                matvec(gh, rd, h, 2 * H, H); /* z and r recurrent parts */
                for (int64_t k = 0; k < H; k++) {
                    float zk = gx[k] + gh[k] + (wb ? wb[k] + rb[k] : 0);
                    float rk = gx[H + k] + gh[H + k] + (wb ? wb[H + k] + rb[H + k] : 0);
                    gh[k] = act(f, zk, clip);
                    gh[H + k] = act(f, rk, clip);
                }
                if (lbr) {
                    matvec(rh, rd + 2 * H * H, h, H, H);
                    for (int64_t k = 0; k < H; k++)
                        rh[k] = gh[H + k] * (rh[k] + (rb ? rb[2 * H + k] : 0));
                } else {
                    for (int64_t k = 0; k < H; k++) gh[2 * H + k] = gh[H + k] * h[k];
                    matvec(rh, rd + 2 * H * H, gh + 2 * H, H, H);
                    for (int64_t k = 0; k < H; k++) rh[k] += rb ? rb[2 * H + k] : 0;
                }
                for (int64_t k = 0; k < H; k++) {
                    float hh = act(g, gx[2 * H + k] + rh[k] + (wb ? wb[2 * H + k] : 0), clip);
                    float zk = gh[k];
                    h[k] = (1 - zk) * hh + zk * h[k];
                    y[((t * io.ndir + d) * Bn + b) * H + k] = h[k];
                }
            }
        }
    }
    return rnn_finish(c, &io);
}

const onnx_op_entry onnx_ops_rnn[] = {{"LSTM", op_LSTM}, {"RNN", op_RNN}, {"GRU", op_GRU}, {NULL, NULL}};
