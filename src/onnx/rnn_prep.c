/* An LSTM's constant weights packed once at load: per direction, the gate rows of [W | R] in
 * panels of 8 rows, column by column (K = I + H columns, the last panel padded with zero rows), and
 * the biases Wb + Rb summed. A step's gate product then reads each weight once, in order, with 8
 * rows per vector register; the panels are split over the thread pool when there is a lot of work. */
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "onnx/rnn_prep.h"

struct onnx_lstm_prep {
    int64_t ndir, H, I, K, npanels; /* K = I + H; npanels = ceil(4H / 8) */
    float *w;                       /* [ndir][npanels][K][8] */
    float *bias;                    /* [ndir][npanels * 8] */
};

onnx_lstm_prep *onnx_lstm_prep_new(born_tensor *W, born_tensor *R, born_tensor *B) {
    if (!W || !R || born_tensor_dtype(W) != BORN_F32 || born_tensor_dtype(R) != BORN_F32 ||
        born_tensor_ndim(W) != 3 || born_tensor_ndim(R) != 3 || !born_tensor_is_contiguous(W) ||
        !born_tensor_is_contiguous(R))
        return NULL;
    const int64_t *ws = born_tensor_shape(W), *rs = born_tensor_shape(R);
    int64_t D = ws[0], G = ws[1], I = ws[2], H = rs[2];
    if (rs[0] != D || rs[1] != G || G != 4 * H || H <= 0 || I <= 0 || D < 1 || D > 2 ||
        G > (1 << 20) || I + H > (1 << 20))
        return NULL;
    if (B && (born_tensor_dtype(B) != BORN_F32 || !born_tensor_is_contiguous(B) ||
              born_tensor_numel(B) != D * 2 * G))
        return NULL;
    onnx_lstm_prep *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->ndir = D, p->H = H, p->I = I, p->K = I + H, p->npanels = (G + 7) / 8;
    size_t nw = (size_t)(D * p->npanels * p->K * 8), nb = (size_t)(D * p->npanels * 8);
    p->w = calloc(nw, sizeof(float));
    p->bias = calloc(nb, sizeof(float));
    if (!p->w || !p->bias) {
        onnx_lstm_prep_free(p);
        return NULL;
    }
    const float *wd = born_data_f32(W), *rd = born_data_f32(R), *bd = B ? born_data_f32(B) : NULL;
    for (int64_t d = 0; d < D; d++)
        for (int64_t j = 0; j < G; j++) {
            float *pw = p->w + ((d * p->npanels + j / 8) * p->K) * 8 + j % 8;
            for (int64_t k = 0; k < I; k++) pw[k * 8] = wd[(d * G + j) * I + k];
            for (int64_t k = 0; k < H; k++) pw[(I + k) * 8] = rd[(d * G + j) * H + k];
            if (bd) p->bias[d * p->npanels * 8 + j] = bd[d * 2 * G + j] + bd[d * 2 * G + G + j];
        }
    return p;
}

void onnx_lstm_prep_free(onnx_lstm_prep *p) {
    if (!p) return;
    free(p->w);
    free(p->bias);
    free(p);
}

bool onnx_lstm_prep_fits(const onnx_lstm_prep *p, int64_t ndir, int64_t H, int64_t I) {
    return p && p->ndir == ndir && p->H == H && p->I == I;
}

typedef struct gates_ctx {
    const float *w, *bias, *v;
    int64_t K;
    float *out;
} gates_ctx;

static void panels_c(const float *w, const float *bias, const float *v, int64_t K, int64_t p0,
                     int64_t p1, float *out) {
    for (int64_t q = p0; q < p1; q++) {
        const float *wq = w + q * K * 8;
        float acc[8];
        for (int l = 0; l < 8; l++) acc[l] = bias[q * 8 + l];
        for (int64_t k = 0; k < K; k++)
            for (int l = 0; l < 8; l++) acc[l] += wq[k * 8 + l] * v[k];
        memcpy(out + q * 8, acc, sizeof acc);
    }
}

static void gates_task(int64_t begin, int64_t end, void *arg) {
    const gates_ctx *c = arg;
#ifdef ONNX_HAVE_LSTM_AVX2
    if (cpu_get_level() >= CPU_LEVEL_AVX2) {
        onnx_lstm_panels_avx2(c->w, c->bias, c->v, c->K, begin, end, c->out);
        return;
    }
#endif
    panels_c(c->w, c->bias, c->v, c->K, begin, end, c->out);
}

void onnx_lstm_gates(const onnx_lstm_prep *p, int d, const float *x, const float *h, float *g) {
    float vbuf[1024], obuf[1024];
    int64_t rows = p->npanels * 8;
    float *v = p->K <= 1024 ? vbuf : malloc((size_t)p->K * sizeof(float));
    float *out = rows <= 1024 ? obuf : malloc((size_t)rows * sizeof(float));
    if (!v || !out) { /* short of memory for a huge LSTM: the gates one row at a time */
        for (int64_t j = 0; j < 4 * p->H; j++) {
            const float *wq = p->w + ((d * p->npanels + j / 8) * p->K) * 8 + j % 8;
            float acc = p->bias[d * rows + j];
            for (int64_t k = 0; k < p->I; k++) acc += wq[k * 8] * x[k];
            for (int64_t k = 0; k < p->H; k++) acc += wq[(p->I + k) * 8] * h[k];
            g[j] = acc;
        }
    } else {
        memcpy(v, x, (size_t)p->I * sizeof(float));
        memcpy(v + p->I, h, (size_t)p->H * sizeof(float));
        gates_ctx c = {p->w + d * p->npanels * p->K * 8, p->bias + d * rows, v, p->K, out};
        /* split only when a step is a million multiply-adds or more: Silero VAD's 131k (about
         * 10 us) ran 2x slower split in two on a loaded 2-core machine (waiting for the second
         * thread to be scheduled costs more than the half it saves) */
        int64_t grain = p->npanels * p->K * 8 >= (1 << 20) ? 8 : p->npanels;
        born_parallel_for(p->npanels, grain, gates_task, &c);
        memcpy(g, out, (size_t)(4 * p->H) * sizeof(float));
    }
    if (v != vbuf) free(v);
    if (out != obuf) free(out);
}
