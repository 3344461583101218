/* Decode-time products (one token): several weights that read the same input row (Wq, Wk, Wv;
 * Wgate, Wup) run as one parallel loop over all their rows, with the input quantized once to the
 * weights' vec_dot type into the session's buffer. Each output is computed as the backend's
 * linear_quant computes it (the tiled product of quant_gemm.h where the dtype has one, else one
 * vec_dot), so results equal llm_linear's bit for bit; this only saves synchronisation and
 * repeated quantization, which dominate at this size. llm_linear_group_rows runs the products of
 * several sessions' rows (born_session_eval_batch) so that each row keeps its own session's bits. */
#include <string.h>

#include "llm/session/matvec.h"

bool llm_group_init(llm_group *g, float *const *outs, const float *x, const llm_weight *const *ws,
                    const llm_weight *const *bs, int count, void *xq, size_t xq_bytes) {
    memset(g, 0, sizeof *g);
    if (count < 1 || count > LLM_GROUP_MAX) return false;
    g->count = count;
    bool f16 = true, quant = true;
    for (int i = 0; i < count; i++) {
        g->ws[i] = ws[i];
        g->bs[i] = bs && bs[i] && bs[i]->t ? bs[i] : NULL;
        g->outs[i] = outs[i];
        g->starts[i + 1] = g->starts[i] + ws[i]->rows;
        if (ws[i]->cols != ws[0]->cols) return false;
        if (ws[i]->dtype != BORN_F16) f16 = false;
        const quant_traits *t = quant_traits_of(ws[i]->dtype);
        if (!t || (i && t->vec_dot_type != g->vdt)) quant = false;
        else g->vdt = t->vec_dot_type;
    }
    if (f16) {
        g->f16 = true;
        g->xq = x;
        return true;
    }
    if (!quant || quant_row_bytes(g->vdt, ws[0]->cols) > xq_bytes) return false;
    g->act = quant_act_from_float(g->vdt, quant_traits_of(g->vdt)->from_float);
    g->xq = xq;
    for (int i = 0; i < count; i++) {
        g->dot[i] = quant_vec_dot_of(ws[i]->dtype);
        g->gemm[i] = quant_gemm_of(ws[i]->dtype);
    }
    for (int i = 0; i < count; i++)
        if (!g->gemm[i]) g->gemm[0] = NULL;
    return true;
}

void llm_group_quantize(const llm_group *g, const float *x) {
    if (!g->f16) g->act(x, (void *)g->xq, g->ws[0]->cols);
}

void llm_group_rows(const llm_group *c, int64_t begin, int64_t end) {
    int g = 0;
    if (c->f16 || c->gemm[0]) { /* ranges of rows of one weight at a time */
        for (int64_t r = begin; r < end;) {
            while (r >= c->starts[g + 1]) g++;
            const llm_weight *w = c->ws[g];
            int64_t j0 = r - c->starts[g], j1 = (end < c->starts[g + 1] ? end : c->starts[g + 1]) - c->starts[g];
            float *o = c->outs[g];
            if (c->f16) /* each output is llm_linear's dot, see llm_dot_rows_f16 */
                llm_dot_rows_f16(c->xq, (const uint16_t *)w->data + j0 * (int64_t)(w->row_bytes / 2),
                                 (int64_t)(w->row_bytes / 2), j1 - j0, w->cols, o + j0);
            else
                c->gemm[g](w->cols, (const char *)w->data + (size_t)j0 * w->row_bytes, w->row_bytes,
                           j1 - j0, c->xq, 0, 1, o + j0, 0);
            const llm_weight *b = c->bs[g];
            if (b)
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
        const llm_weight *b = c->bs[g];
        if (b) v += ((const float *)b->data)[j];
        c->outs[g][j] = v;
    }
}

void llm_group_share(const llm_group *g, int tid, int n, int64_t *begin, int64_t *end) {
    bool uniform = true; /* rows of one size: shares of rows are shares of bytes */
    for (int i = 1; i < g->count; i++) uniform = uniform && g->ws[i]->row_bytes == g->ws[0]->row_bytes;
    if (uniform) {
        const int64_t rows = g->starts[g->count];
        int64_t b = (rows * tid / n + 2) / 4 * 4, e = tid + 1 == n ? rows : (rows * (tid + 1) / n + 2) / 4 * 4;
        b = b < rows ? b : rows;
        e = e < rows ? e : rows;
        *begin = b;
        *end = e > b ? e : b;
        return;
    }
    double total = 0;
    for (int i = 0; i < g->count; i++) total += (double)g->ws[i]->rows * (double)g->ws[i]->row_bytes;
    int64_t at[2];
    for (int e = 0; e < 2; e++) {
        int k = tid + e;
        if (k == n) {
            at[e] = g->starts[g->count];
            continue;
        }
        double target = total * k / n, acc = 0;
        int64_t row = g->starts[g->count];
        for (int i = 0; i < g->count; i++) {
            double bytes = (double)g->ws[i]->rows * (double)g->ws[i]->row_bytes;
            if (acc + bytes >= target) {
                row = g->starts[i] + (int64_t)((target - acc) / (double)g->ws[i]->row_bytes + 0.5);
                break;
            }
            acc += bytes;
        }
        row = (row + 2) / 4 * 4;
        at[e] = row < g->starts[g->count] ? row : g->starts[g->count];
    }
    *begin = at[0];
    *end = at[1] > at[0] ? at[1] : at[0];
}

static void group_rows(int64_t begin, int64_t end, void *arg) { llm_group_rows(arg, begin, end); }

static bool float_weights(const llm_weight *const *ws, int count, born_dtype dt) {
    for (int g = 0; g < count; g++)
        if (ws[g]->dtype != dt || ws[g]->cols != ws[0]->cols) return false;
    return true;
}

/* All quantized, of one dtype and input width. */
static bool quant_weights(const llm_weight *const *ws, int count) {
    for (int g = 0; g < count; g++)
        if (!born_dtype_is_quantized(ws[g]->dtype) || ws[g]->dtype != ws[0]->dtype || ws[g]->cols != ws[0]->cols)
            return false;
    return true;
}

born_status llm_linear_group(born_session *s, float *const *outs, const float *x, int64_t n,
                             const llm_weight *const *ws, const llm_weight *const *bs, int count) {
    if (n >= LLM_FLOAT_GEMM_MIN && (float_weights(ws, count, BORN_F16) || float_weights(ws, count, BORN_BF16) ||
                                    float_weights(ws, count, BORN_F32))) {
        int64_t rs[LLM_GROUP_MAX];
        for (int g = 0; g < count; g++) rs[g] = ws[g]->rows;
        return llm_linear_float_group(s, outs, rs, x, n, ws, bs, count);
    }
    if (n > 1 && quant_weights(ws, count)) return llm_linear_quant_group(outs, x, n, ws, bs, count);
    llm_group g;
    if (n != 1 || !llm_group_init(&g, outs, x, ws, bs, count, s->xq, s->xq_bytes)) {
        for (int i = 0; i < count; i++) {
            born_status st = llm_linear(outs[i], ws[i]->rows, x, n, ws[i], bs ? bs[i] : NULL);
            if (st != BORN_OK) return st;
        }
        return BORN_OK;
    }
    llm_group_quantize(&g, x);
    /* ~16 KiB of weights per chunk: enough chunks to balance threads, few enough to be cheap */
    int64_t grain = (int64_t)(16384 / ws[0]->row_bytes);
    if (g.f16) grain = grain / 4 * 4;
    if (grain < (g.f16 ? 4 : 1)) grain = g.f16 ? 4 : 1;
    born_parallel_for(g.starts[count], grain, group_rows, &g);
    return BORN_OK;
}

int32_t llm_segment_rows(const llm_segment *g, bool logit_rows) {
    if (!logit_rows) return g->n;
    return g->logits && g->first_logit < g->n ? g->n - g->first_logit : 0;
}

born_status llm_linear_group_rows(born_session *s, float *const *outs, const float *x,
                                  const llm_segment *segs, int32_t n_seg, bool logit_rows,
                                  const llm_weight *const *ws, const llm_weight *const *bs,
                                  int count) {
    int64_t rows = 0;
    for (int32_t i = 0; i < n_seg; i++) rows += llm_segment_rows(&segs[i], logit_rows);
    /* only the f16 / bf16 / f32 products choose their summation by the batch size */
    if (!float_weights(ws, count, BORN_F16) && !float_weights(ws, count, BORN_BF16) &&
        !float_weights(ws, count, BORN_F32))
        return rows ? llm_linear_group(s, outs, x, rows, ws, bs, count) : BORN_OK;
    int64_t done = 0;
    for (int32_t i = 0; i < n_seg;) {
        const bool wide = llm_segment_rows(&segs[i], logit_rows) >= LLM_FLOAT_GEMM_MIN;
        int64_t run = 0;
        for (; i < n_seg; i++) { /* segments without rows neither end nor join a run */
            int32_t r = llm_segment_rows(&segs[i], logit_rows);
            if (r && (r >= LLM_FLOAT_GEMM_MIN) != wide) break;
            run += r;
        }
        if (!run) continue;
        float *o[LLM_GROUP_MAX];
        for (int g = 0; g < count; g++) o[g] = outs[g] + done * ws[g]->rows;
        const float *xr = x + done * ws[0]->cols;
        born_status st = BORN_OK;
        if (wide || run < LLM_FLOAT_GEMM_MIN) { /* llm_linear_group takes the segments' own path */
            st = llm_linear_group(s, o, xr, run, ws, bs, count);
        } else { /* several small segments: their dot products, which llm_linear runs for any n */
            for (int g = 0; g < count && st == BORN_OK; g++)
                st = llm_linear(o[g], ws[g]->rows, xr, run, ws[g], bs ? bs[g] : NULL);
        }
        if (st != BORN_OK) return st;
        done += run;
    }
    return BORN_OK;
}
