/* Products with a quantized weight: out[m, n] = x[m, :] . dequant(w)[n, :] (+ bias[n]).
 *
 * Each row of x is quantized once to w's vec_dot type (Q8_0, Q8_1 or Q8_K, by the reference
 * quantizer), then every output is one vec_dot of a weight row with a quantized x row: integer
 * products inside blocks, so the weight is read in its packed form and never dequantized.
 *
 * Work is cut into tasks of (a chunk of NB weight rows) x (a group of MG x rows), NB chosen so a
 * chunk is about 32 KiB. Inside a task the x rows go in tiles of MB: each weight row is used MB
 * times while it sits in L1 and the chunk is reused for every tile while it sits in L2. For
 * M = 1 (a matrix-vector product, bound by memory bandwidth) this streams the weight once, split
 * over the threads. Every output is computed by one vec_dot call whatever the split, so the
 * results do not depend on the thread count.
 *
 * Where quant_gemm.h has a tiled product for w's dtype, a task runs it instead of the vec_dots:
 * each weight block is unpacked once for several x rows; its results too are independent of the
 * split (and of M: a row gives the same bits alone or inside a batch). */
#include "backend/cpu/allocator.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/quant/quant_gemm.h"

enum { MG = 64, MB = 8, CHUNK_BYTES = 32 * 1024 };

/* One weight of a group: its rows, their chunks and its output. */
typedef struct lq_weight {
    const char *w;
    int64_t w_rs; /* w's row stride in bytes */
    int64_t n, nb, chunks;
    float *out;
    int64_t out_rs;
    const float *bias;
} lq_weight;

typedef struct lq_ctx {
    const float *x;
    int64_t x_rs; /* x's row stride in elements */
    char *xq;
    size_t xq_rs; /* bytes of a quantized x row */
    int64_t m, k, m_groups;
    quant_from_float_fn quantize;
    quant_vec_dot_fn dot;
    quant_gemm_fn gemm; /* the tiled product, or NULL: vec_dot per output */
    int count;
    lq_weight ws[CPU_LINEAR_GROUP_MAX];
    int64_t first[CPU_LINEAR_GROUP_MAX + 1]; /* weight i's tasks are [first[i], first[i + 1]) */
} lq_ctx;

static void quantize_rows(int64_t begin, int64_t end, void *arg) {
    const lq_ctx *c = arg;
    for (int64_t m = begin; m < end; m++)
        c->quantize(c->x + m * c->x_rs, c->xq + (size_t)m * c->xq_rs, c->k);
}

static void dot_tasks(int64_t begin, int64_t end, void *arg) {
    const lq_ctx *c = arg;
    for (int64_t t = begin; t < end; t++) {
        int i = 0;
        while (t >= c->first[i + 1]) i++;
        const lq_weight *wt = &c->ws[i];
        const int64_t u = t - c->first[i];
        int64_t n0 = u / c->m_groups * wt->nb, n1 = n0 + wt->nb < wt->n ? n0 + wt->nb : wt->n;
        int64_t g0 = u % c->m_groups * MG, g1 = g0 + MG < c->m ? g0 + MG : c->m;
        if (c->gemm) {
            float *o = wt->out + g0 * wt->out_rs + n0;
            c->gemm(c->k, wt->w + n0 * wt->w_rs, (size_t)wt->w_rs, n1 - n0, c->xq + (size_t)g0 * c->xq_rs,
                    c->xq_rs, g1 - g0, o, wt->out_rs);
            if (wt->bias)
                for (int64_t a = g0; a < g1; a++)
                    for (int64_t j = n0; j < n1; j++) wt->out[a * wt->out_rs + j] += wt->bias[j];
            continue;
        }
        for (int64_t m0 = g0; m0 < g1; m0 += MB) {
            int64_t m1 = m0 + MB < g1 ? m0 + MB : g1;
            for (int64_t j = n0; j < n1; j++) {
                const char *wr = wt->w + j * wt->w_rs;
                float b = wt->bias ? wt->bias[j] : 0.0f;
                for (int64_t a = m0; a < m1; a++) {
                    float v = c->dot(c->k, wr, c->xq + (size_t)a * c->xq_rs);
                    wt->out[a * wt->out_rs + j] = wt->bias ? v + b : v;
                }
            }
        }
    }
}

born_status cpu_linear_quant_group(int count, const born_strided *const *outs, const born_strided *x,
                                   const born_strided *const *ws, const born_strided *const *biases) {
    if (count < 1 || count > CPU_LINEAR_GROUP_MAX)
        return born_error(BORN_ERR_INTERNAL, "linear_quant: a group of %d weights", count);
    const quant_traits *tw = quant_traits_of(ws[0]->dtype);
    if (!tw || x->ndim != 2 || x->dtype != BORN_F32 || x->strides[1] != 1)
        return born_error(BORN_ERR_INTERNAL, "linear_quant: unexpected operands");
    for (int i = 0; i < count; i++) {
        const born_strided *w = ws[i], *out = outs[i];
        if (w->dtype != ws[0]->dtype || w->ndim != 2 || out->ndim != 2 || w->strides[1] != 1 ||
            w->shape[1] != ws[0]->shape[1] || out->dtype != BORN_F32 || out->strides[1] != 1)
            return born_error(BORN_ERR_INTERNAL, "linear_quant: unexpected operands");
    }
    const quant_traits *tv = quant_traits_of(tw->vec_dot_type);
    lq_ctx c;
    memset(&c, 0, sizeof c);
    c.m = x->shape[0];
    c.k = ws[0]->shape[1];
    c.x = x->data;
    c.x_rs = x->strides[0];
    c.quantize = quant_act_from_float(tw->vec_dot_type, tv->from_float);
    c.dot = quant_vec_dot_of(ws[0]->dtype);
    c.gemm = quant_gemm_of(ws[0]->dtype);
    c.count = count;
    c.m_groups = (c.m + MG - 1) / MG;
    const size_t row_bytes = quant_row_bytes(ws[0]->dtype, c.k);
    for (int i = 0; i < count; i++) {
        lq_weight *wt = &c.ws[i];
        const born_strided *bias = biases ? biases[i] : NULL;
        wt->w = ws[i]->data;
        wt->w_rs = ws[i]->strides[0] / tw->block * (int64_t)tw->block_bytes;
        wt->n = ws[i]->shape[0];
        wt->out = outs[i]->data;
        wt->out_rs = outs[i]->strides[0];
        wt->bias = bias && bias->data ? bias->data : NULL;
        if (c.k == 0) {
            for (int64_t a = 0; a < c.m; a++)
                for (int64_t j = 0; j < wt->n; j++) wt->out[a * wt->out_rs + j] = wt->bias ? wt->bias[j] : 0.0f;
        }
        wt->nb = (int64_t)(CHUNK_BYTES / row_bytes);
        if (wt->nb < 1) wt->nb = 1;
        if (c.m == 1 && wt->nb > 16) wt->nb = 16;
        /* whole tiles of four rows where a chunk has several (the one-row tiles are slower) */
        if (c.gemm && wt->nb > 4) wt->nb -= wt->nb % 4;
        wt->chunks = (wt->n + wt->nb - 1) / wt->nb;
        c.first[i + 1] = c.first[i] + wt->chunks * c.m_groups;
    }
    if (c.m == 0 || c.k == 0 || c.first[count] == 0) return BORN_OK;
    c.xq_rs = quant_row_bytes(tw->vec_dot_type, c.k);
    /* keep rows 64-byte aligned */
    c.xq_rs = (c.xq_rs + 63) / 64 * 64;
    c.xq = cpu_mem_alloc((size_t)c.m * c.xq_rs);
    if (!c.xq) return born_error(BORN_ERR_MEMORY, "linear_quant: out of memory");
    born_parallel_for(c.m, 1, quantize_rows, &c);
    born_parallel_for(c.first[count], 1, dot_tasks, &c);
    cpu_mem_free(c.xq);
    return BORN_OK;
}

born_status cpu_linear_quant(const born_strided *out, const born_strided *x, const born_strided *w,
                             const born_strided *bias) {
    return cpu_linear_quant_group(1, &out, x, &w, &bias);
}
