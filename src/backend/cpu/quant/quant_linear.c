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

typedef struct lq_ctx {
    const float *x;
    int64_t x_rs; /* x's row stride in elements */
    const char *w;
    int64_t w_rs; /* w's row stride in bytes */
    char *xq;
    size_t xq_rs; /* bytes of a quantized x row */
    float *out;
    int64_t out_rs;
    const float *bias;
    int64_t m, n, k, nb, m_groups;
    quant_from_float_fn quantize;
    quant_vec_dot_fn dot;
    quant_gemm_fn gemm; /* the tiled product, or NULL: vec_dot per output */
} lq_ctx;

static void quantize_rows(int64_t begin, int64_t end, void *arg) {
    const lq_ctx *c = arg;
    for (int64_t m = begin; m < end; m++)
        c->quantize(c->x + m * c->x_rs, c->xq + (size_t)m * c->xq_rs, c->k);
}

static void dot_tasks(int64_t begin, int64_t end, void *arg) {
    const lq_ctx *c = arg;
    for (int64_t t = begin; t < end; t++) {
        int64_t n0 = t / c->m_groups * c->nb, n1 = n0 + c->nb < c->n ? n0 + c->nb : c->n;
        int64_t g0 = t % c->m_groups * MG, g1 = g0 + MG < c->m ? g0 + MG : c->m;
        if (c->gemm) {
            float *o = c->out + g0 * c->out_rs + n0;
            c->gemm(c->k, c->w + n0 * c->w_rs, (size_t)c->w_rs, n1 - n0, c->xq + (size_t)g0 * c->xq_rs,
                    c->xq_rs, g1 - g0, o, c->out_rs);
            if (c->bias)
                for (int64_t i = g0; i < g1; i++)
                    for (int64_t j = n0; j < n1; j++) c->out[i * c->out_rs + j] += c->bias[j];
            continue;
        }
        for (int64_t m0 = g0; m0 < g1; m0 += MB) {
            int64_t m1 = m0 + MB < g1 ? m0 + MB : g1;
            for (int64_t j = n0; j < n1; j++) {
                const char *wr = c->w + j * c->w_rs;
                float b = c->bias ? c->bias[j] : 0.0f;
                for (int64_t i = m0; i < m1; i++) {
                    float v = c->dot(c->k, wr, c->xq + (size_t)i * c->xq_rs);
                    c->out[i * c->out_rs + j] = c->bias ? v + b : v;
                }
            }
        }
    }
}

born_status cpu_linear_quant(const born_strided *out, const born_strided *x, const born_strided *w,
                             const born_strided *bias) {
    const quant_traits *tw = quant_traits_of(w->dtype);
    if (!tw || w->ndim != 2 || x->ndim != 2 || out->ndim != 2 || w->strides[1] != 1 ||
        x->dtype != BORN_F32 || out->dtype != BORN_F32 || x->strides[1] != 1 || out->strides[1] != 1)
        return born_error(BORN_ERR_INTERNAL, "linear_quant: unexpected operands");
    const quant_traits *tv = quant_traits_of(tw->vec_dot_type);
    lq_ctx c;
    memset(&c, 0, sizeof c);
    c.m = x->shape[0];
    c.n = w->shape[0];
    c.k = w->shape[1];
    c.x = x->data;
    c.x_rs = x->strides[0];
    c.w = w->data;
    c.w_rs = w->strides[0] / tw->block * (int64_t)tw->block_bytes;
    c.out = out->data;
    c.out_rs = out->strides[0];
    c.bias = bias && bias->data ? bias->data : NULL;
    c.quantize = quant_act_from_float(tw->vec_dot_type, tv->from_float);
    c.dot = quant_vec_dot_of(w->dtype);
    c.gemm = quant_gemm_of(w->dtype);
    if (c.m == 0 || c.n == 0) return BORN_OK;
    if (c.k == 0) {
        for (int64_t i = 0; i < c.m; i++)
            for (int64_t j = 0; j < c.n; j++) c.out[i * c.out_rs + j] = c.bias ? c.bias[j] : 0.0f;
        return BORN_OK;
    }
    c.xq_rs = quant_row_bytes(tw->vec_dot_type, c.k);
    /* keep rows 64-byte aligned */
    c.xq_rs = (c.xq_rs + 63) / 64 * 64;
    c.xq = cpu_mem_alloc((size_t)c.m * c.xq_rs);
    if (!c.xq) return born_error(BORN_ERR_MEMORY, "linear_quant: out of memory");
    born_parallel_for(c.m, 1, quantize_rows, &c);
    size_t row_bytes = quant_row_bytes(w->dtype, c.k);
    c.nb = (int64_t)(CHUNK_BYTES / row_bytes);
    if (c.nb < 1) c.nb = 1;
    if (c.m == 1 && c.nb > 16) c.nb = 16;
    /* whole tiles of four rows where a chunk has several (the one-row tiles are slower) */
    if (c.gemm && c.nb > 4) c.nb -= c.nb % 4;
    c.m_groups = (c.m + MG - 1) / MG;
    int64_t chunks = (c.n + c.nb - 1) / c.nb;
    born_parallel_for(chunks * c.m_groups, 1, dot_tasks, &c);
    cpu_mem_free(c.xq);
    return BORN_OK;
}
