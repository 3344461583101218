/* Decode-time products (one token): several weights that read the same input row (Wq, Wk, Wv;
 * Wgate, Wup) run as one parallel loop over all their rows, with the input quantized once to the
 * weights' vec_dot type into the session's buffer. Each output is computed as the backend's
 * linear_quant computes it (the tiled product of quant_gemm.h where the dtype has one, else one
 * vec_dot), so results equal llm_linear's bit for bit; this only saves synchronisation and
 * repeated quantization, which dominate at this size. */
#include <string.h>

#include "backend/cpu/quant/quant_gemm.h"
#include "llm/model/model_internal.h"

typedef struct group_ctx {
    const llm_weight *const *ws;
    const llm_weight *const *bs;
    float *const *outs;
    int64_t starts[LLM_GROUP_MAX + 1];
    int count;
    const void *xq; /* f16 weights: the f32 input itself */
    quant_vec_dot_fn dot[LLM_GROUP_MAX];
    quant_gemm_fn gemm[LLM_GROUP_MAX];
} group_ctx;

/* The shared part of a group's context: the weights, biases and outputs, and each weight's first
 * row in the group's row numbering. */
static void group_init(group_ctx *c, const llm_weight *const *ws, const llm_weight *const *bs,
                       float *const *outs, int count, const void *xq) {
    memset(c, 0, sizeof *c);
    c->ws = ws;
    c->bs = bs;
    c->outs = outs;
    c->count = count;
    c->xq = xq;
    for (int g = 0; g < count; g++)
        c->starts[g + 1] = c->starts[g] + ws[g]->rows;
}

static void group_rows(int64_t begin, int64_t end, void *arg) {
    const group_ctx *c = arg;
    int g = 0;
    if (c->gemm[0]) { /* then every weight has the tiled product */
        for (int64_t r = begin; r < end;) {
            while (r >= c->starts[g + 1]) g++;
            const llm_weight *w = c->ws[g];
            int64_t j0 = r - c->starts[g], j1 = (end < c->starts[g + 1] ? end : c->starts[g + 1]) - c->starts[g];
            float *o = c->outs[g];
            c->gemm[g](w->cols, (const char *)w->data + (size_t)j0 * w->row_bytes, w->row_bytes, j1 - j0,
                       c->xq, 0, 1, o + j0, 0);
            const llm_weight *b = c->bs ? c->bs[g] : NULL;
            if (b && b->t)
                for (int64_t j = j0; j < j1; j++) o[j] += ((const float *)b->data)[j];
            r += j1 - j0;
        }
        return;
    }
    for (int64_t r = begin; r < end; r++) {
        while (r >= c->starts[g + 1]) g++;
        const llm_weight *w = c->ws[g];
        int64_t j = r - c->starts[g];
        float v = c->dot[g](w->cols, (const char *)w->data + (size_t)j * w->row_bytes, c->xq);
        const llm_weight *b = c->bs ? c->bs[g] : NULL;
        if (b && b->t) v += ((const float *)b->data)[j];
        c->outs[g][j] = v;
    }
}

/* One token with f16 weights: all rows of the group in one parallel loop (each output is
 * llm_linear's dot, see llm_dot_rows_f16). */
static void group_rows_f16(int64_t begin, int64_t end, void *arg) {
    const group_ctx *c = arg;
    int g = 0;
    for (int64_t r = begin; r < end;) {
        while (r >= c->starts[g + 1]) g++;
        const llm_weight *w = c->ws[g];
        int64_t j0 = r - c->starts[g], j1 = (end < c->starts[g + 1] ? end : c->starts[g + 1]) - c->starts[g];
        const int64_t ls = (int64_t)(w->row_bytes / 2);
        float *o = c->outs[g];
        llm_dot_rows_f16(c->xq, (const uint16_t *)w->data + j0 * ls, ls, j1 - j0, w->cols, o + j0);
        const llm_weight *b = c->bs ? c->bs[g] : NULL;
        if (b && b->t)
            for (int64_t j = j0; j < j1; j++) o[j] += ((const float *)b->data)[j];
        r += j1 - j0;
    }
}

static bool float_weights(const llm_weight *const *ws, int count, born_dtype dt) {
    for (int g = 0; g < count; g++)
        if (ws[g]->dtype != dt || ws[g]->cols != ws[0]->cols) return false;
    return true;
}

born_status llm_linear_group(born_session *s, float *const *outs, const float *x, int64_t n,
                             const llm_weight *const *ws, const llm_weight *const *bs, int count) {
    if (n >= LLM_FLOAT_GEMM_MIN && (float_weights(ws, count, BORN_F16) || float_weights(ws, count, BORN_F32))) {
        for (int g = 0; g < count; g++) {
            born_status st = llm_linear_float_batch(s, outs[g], ws[g]->rows, x, n, ws[g], bs ? bs[g] : NULL);
            if (st != BORN_OK) return st;
        }
        return BORN_OK;
    }
    if (n == 1 && count <= LLM_GROUP_MAX && float_weights(ws, count, BORN_F16)) {
        group_ctx c;
        group_init(&c, ws, bs, outs, count, x);
        /* ~16 KiB of weights per chunk */
        int64_t grain = (int64_t)(16384 / ws[0]->row_bytes) / 4 * 4;
        born_parallel_for(c.starts[count], grain < 4 ? 4 : grain, group_rows_f16, &c);
        return BORN_OK;
    }
    bool fused = n == 1 && count <= LLM_GROUP_MAX;
    born_dtype vdt = BORN_DTYPE_COUNT;
    for (int g = 0; g < count && fused; g++) {
        const quant_traits *t = quant_traits_of(ws[g]->dtype);
        if (!t || ws[g]->cols != ws[0]->cols || (g && t->vec_dot_type != vdt)) fused = false;
        else vdt = t->vec_dot_type;
    }
    if (fused && quant_row_bytes(vdt, ws[0]->cols) > s->xq_bytes) fused = false;
    if (!fused) {
        for (int g = 0; g < count; g++) {
            born_status st = llm_linear(outs[g], ws[g]->rows, x, n, ws[g], bs ? bs[g] : NULL);
            if (st != BORN_OK) return st;
        }
        return BORN_OK;
    }
    group_ctx c;
    group_init(&c, ws, bs, outs, count, s->xq);
    for (int g = 0; g < count; g++) {
        c.dot[g] = quant_vec_dot_of(ws[g]->dtype);
        c.gemm[g] = quant_gemm_of(ws[g]->dtype);
    }
    for (int g = 0; g < count; g++)
        if (!c.gemm[g]) c.gemm[0] = NULL;
    quant_act_from_float(vdt, quant_traits_of(vdt)->from_float)(x, s->xq, ws[0]->cols);
    /* ~16 KiB of weights per chunk: enough chunks to balance threads, few enough to be cheap */
    int64_t grain = (int64_t)(16384 / ws[0]->row_bytes);
    if (grain < 1) grain = 1;
    born_parallel_for(c.starts[count], grain, group_rows, &c);
    return BORN_OK;
}
