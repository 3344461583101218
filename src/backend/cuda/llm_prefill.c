/* The batched prompt of the CUDA LLM decoder (llm_device_ops.prefill): n tokens at once through
 * each layer, in chunks of at most CHUNK tokens,
 *
 *   a = rms_norm(x)                      (rows, in the products' input type)
 *   [q k v] = a [Wq; Wk; Wv]^T            (cuBLASLt, f32 results)
 *   q, k rotated; k, v into the KV cache (llm_batch.cu)
 *   a = attention(q, cache)              (llm_batch_attn.cu; every query of the chunk at once)
 *   x += a Wo^T                          (accumulated by the product in place)
 *   [g u] = rms_norm(x) [Wgate; Wup]^T, a = silu(g) u
 *   x += a Wdown^T
 *
 * then the output product for the rows whose logits are wanted (the last through the decode
 * step's matrix-vector kernel, every row through cuBLASLt). The residual stream x stays f32. A
 * product's input is in its weights' type: bf16 or f16 for bf16 / f16 weights, f32 for f32 ones
 * (exact f32 products), f16 for the group-affine formats, whose matrices are expanded one at a
 * time into an f16 scratch matrix first (as llama.cpp's cuBLAS path does; the output matrix in
 * blocks of rows when it is larger than the largest layer matrix). The scratch is allocated at
 * the session's first prompt for min(n_ctx, CHUNK) tokens and kept; the all-logits rows at the
 * first prompt that asks for them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/llm_batch.h"
#include "backend/cuda/llm_model.h"

enum { CHUNK = 512, OUT_BLOCK_ROWS = 4096 };

struct cu_prefill {
    int32_t cap;   /* tokens a chunk holds */
    int *tok;      /* [cap] */
    float *x, *y;  /* the residual stream [cap][n_embd]; products' results [cap][ycols] */
    void *a;       /* a product's input [cap][acols], f32 or half */
    void *wh;      /* f16 rows of a group-affine matrix [wh_elems], or NULL */
    int64_t wh_elems;
    float *logits; /* [cap][n_vocab] for all-logits prompts, or NULL until one */
};

static bool affine(int fmt) { return fmt >= LLM_DEV_I8G32; }

/* The input type of a product with weights in fmt. */
static int act_of(int fmt) {
    return fmt == LLM_DEV_F32 ? CU_ACT_F32 : fmt == LLM_DEV_BF16 ? CU_ACT_BF16 : CU_ACT_F16;
}

static born_dtype dtype_of(int act) {
    return act == CU_ACT_F32 ? BORN_F32 : act == CU_ACT_BF16 ? BORN_BF16 : BORN_F16;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

void cu_llm_prefill_free(dsession *d) {
    cu_prefill *p = d->pre;
    if (!p) return;
    void *bufs[] = {p->tok, p->x, p->y, p->a, p->wh, p->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) cudaFree(bufs[i]);
    free(p);
    d->pre = NULL;
}

/* Elements of the largest group-affine matrix a layer multiplies (one at a time), and at most
 * OUT_BLOCK_ROWS rows of a group-affine output matrix. */
static int64_t affine_elems(const dmodel *m) {
    int64_t most = 0;
    for (int32_t l = 0; l < m->cfg.n_layer; l++) {
        const dlayer *L = &m->layers[l];
        if (affine(L->qkv.fmt)) most = max64(most, L->qkv.rows * L->qkv.cols);
        const int prods[] = {LLM_DEV_WQ, LLM_DEV_WK, LLM_DEV_WV, LLM_DEV_WO, LLM_DEV_GATE, LLM_DEV_UP, LLM_DEV_DOWN};
        for (size_t i = 0; i < sizeof prods / sizeof prods[0]; i++)
            if (affine(L->m[prods[i]].fmt)) most = max64(most, L->m[prods[i]].rows * L->m[prods[i]].cols);
    }
    const cu_llm_mat *out = cu_llm_output_of(m);
    if (affine(out->fmt))
        most = max64(most, (out->rows < OUT_BLOCK_ROWS ? out->rows : OUT_BLOCK_ROWS) * out->cols);
    return most;
}

/* The session's scratch (d->pre), allocated at its first prompt; errors recorded. */
static born_status scratch(dsession *d) {
    if (d->pre) return BORN_OK;
    const llm_dev_config *c = &d->m->cfg;
    cu_prefill *p = calloc(1, sizeof *p);
    if (!p) return cuda_error(BORN_ERR_MEMORY, "born_session_eval: out of host memory");
    d->pre = p;
    p->cap = d->n_ctx < CHUNK ? d->n_ctx : CHUNK;
    const int64_t nq = (int64_t)c->n_head * c->head_dim, nkv = (int64_t)c->n_head_kv * c->head_dim;
    const int64_t ycols = max64(nq + 2 * nkv, 2 * (int64_t)c->n_ff);
    const int64_t acols = max64(max64(c->n_embd, nq), c->n_ff);
    const size_t cap = (size_t)p->cap;
    p->wh_elems = affine_elems(d->m);
    cudaError_t e;
    if ((e = cu_llm_alloc(&p->tok, cap * sizeof(int), false)) != cudaSuccess ||
        (e = cu_llm_alloc(&p->x, cap * (size_t)c->n_embd * 4, d->poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&p->y, cap * (size_t)ycols * 4, d->poison)) != cudaSuccess ||
        (e = cu_llm_alloc(&p->a, cap * (size_t)acols * 4, d->poison)) != cudaSuccess ||
        (p->wh_elems && (e = cu_llm_alloc(&p->wh, (size_t)p->wh_elems * 2, d->poison)) != cudaSuccess)) {
        (void)cudaGetLastError();
        cu_llm_prefill_free(d);
        return cuda_error(e == cudaErrorMemoryAllocation ? BORN_ERR_MEMORY : BORN_ERR_DEVICE,
                          "born_session_eval: cuda:%d: the batched prompt's buffers for %d tokens: %s",
                          d->m->dev, (int)cap, cudaGetErrorString(e));
    }
    return BORN_OK;
}

/* out [n][ldo] (f32; += when add) = a [n][w->cols] times rows r0..r0 + rows of w, transposed; a is
 * in w's input type (act_of). Group-affine rows are expanded into the f16 scratch first, as many
 * at a time as it holds. */
static born_status product(dsession *d, const cu_llm_mat *w, int64_t r0, int64_t rows, const void *a, int32_t n,
                           float *out, int64_t ldo, bool add) {
    const int dev = d->m->dev;
    if (!affine(w->fmt))
        return cuda_gemm_xwt(dev, dtype_of(act_of(w->fmt)), (const char *)w->q + (size_t)r0 * w->q_row_bytes, rows, a,
                             n, w->cols, out, ldo, add);
    cu_prefill *p = d->pre;
    int64_t block = p->wh_elems / w->cols;
    if (block < rows) block -= block % 8; /* whole blocks of 8 rows keep the results aligned */
    if (block < 1) return cuda_error(BORN_ERR_DEVICE, "born_session_eval: no scratch for a product");
    born_status st = BORN_OK;
    for (int64_t r = 0; r < rows && st == BORN_OK; r += block) {
        const int64_t cnt = rows - r < block ? rows - r : block;
        st = cuda_check(cu_llm_dequant_f16(cuda_stream(dev), w, r0 + r, cnt, p->wh), "born_session_eval: prompt");
        if (st == BORN_OK) st = cuda_gemm_xwt(dev, BORN_F16, p->wh, cnt, a, n, w->cols, out + r, ldo, add);
    }
    return st;
}

/* p->a = rms_norm(p->x) in act type act, unless it holds that already (*held). */
static born_status norm_as(dsession *d, const float *w, int32_t n, int act, int *held) {
    if (*held == act) return BORN_OK;
    *held = act;
    const llm_dev_config *c = &d->m->cfg;
    return cuda_check(cu_llm_rows_norm(cuda_stream(d->m->dev), d->pre->x, n, c->n_embd, w, c->rms_eps, d->pre->a, act),
                      "born_session_eval: prompt");
}

/* One layer for the chunk's n tokens at positions pos.. (p->x in and out). */
static born_status layer(dsession *d, int32_t l, int32_t n, int32_t pos) {
    const dmodel *m = d->m;
    const llm_dev_config *c = &m->cfg;
    const dlayer *L = &m->layers[l];
    cu_prefill *p = d->pre;
    cudaStream_t s = cuda_stream(m->dev);
    const int64_t nq = (int64_t)c->n_head * c->head_dim, nkv = (int64_t)c->n_head_kv * c->head_dim, ldq = nq + 2 * nkv;
    const int64_t F = c->n_ff;
    const size_t layer_cache = (size_t)c->n_head_kv * d->n_ctx * c->head_dim * (d->kv_f16 ? 2 : 4);
    int held = -1;
    born_status st = BORN_OK;
    /* q, k, v side by side in y's rows */
    if (L->qkv.fmt) {
        st = norm_as(d, L->m[LLM_DEV_ATTN_NORM].q, n, act_of(L->qkv.fmt), &held);
        if (st == BORN_OK) st = product(d, &L->qkv, 0, ldq, p->a, n, p->y, ldq, false);
    } else {
        const int64_t col0[3] = {0, nq, nq + nkv};
        for (int i = 0; i < 3 && st == BORN_OK; i++) {
            const cu_llm_mat *w = &L->m[LLM_DEV_WQ + i];
            st = norm_as(d, L->m[LLM_DEV_ATTN_NORM].q, n, act_of(w->fmt), &held);
            if (st == BORN_OK) st = product(d, w, 0, w->rows, p->a, n, p->y + col0[i], ldq, false);
        }
    }
    if (st != BORN_OK) return st;
    cu_llm_rope_kv r;
    memset(&r, 0, sizeof r);
    r.qkv = p->y;
    r.bias = L->bias_qkv;
    r.kc = d->kc + (size_t)l * layer_cache;
    r.vc = d->vc + (size_t)l * layer_cache;
    r.rope_cs = d->rope_cs;
    r.n = n;
    r.pos = pos;
    r.n_q = (int)nq;
    r.n_kv = (int)nkv;
    r.head_dim = c->head_dim;
    r.n_rot = c->n_rot;
    r.neox = c->rope_neox;
    r.n_ctx = d->n_ctx;
    r.kv_f16 = d->kv_f16;
    st = cuda_check(cu_llm_rows_rope_kv(s, &r), "born_session_eval: prompt");
    if (st != BORN_OK) return st;
    const cu_llm_mat *wo = &L->m[LLM_DEV_WO];
    cu_llm_battn at;
    memset(&at, 0, sizeof at);
    at.q = p->y;
    at.q_stride = ldq;
    at.kc = r.kc;
    at.vc = r.vc;
    at.out = p->a;
    at.out_act = act_of(wo->fmt);
    at.n = n;
    at.pos = pos;
    at.n_head = c->n_head;
    at.n_head_kv = c->n_head_kv;
    at.head_dim = c->head_dim;
    at.n_ctx = d->n_ctx;
    at.kv_f16 = d->kv_f16;
    at.scale = 1.0f / sqrtf((float)c->head_dim);
    st = cuda_check(cu_llm_batch_attention(s, &at), "born_session_eval: prompt attention");
    if (st == BORN_OK) st = product(d, wo, 0, wo->rows, p->a, n, p->x, c->n_embd, true);
    if (st == BORN_OK && L->m[LLM_DEV_BO].fmt)
        st = cuda_check(cu_llm_rows_bias(s, p->x, n, c->n_embd, L->m[LLM_DEV_BO].q), "born_session_eval: prompt");
    /* the feed-forward block: gate and up side by side in y's rows */
    held = -1;
    const cu_llm_mat *gate = &L->m[LLM_DEV_GATE], *up = &L->m[LLM_DEV_UP], *down = &L->m[LLM_DEV_DOWN];
    if (st == BORN_OK) st = norm_as(d, L->m[LLM_DEV_FFN_NORM].q, n, act_of(gate->fmt), &held);
    if (st == BORN_OK) st = product(d, gate, 0, F, p->a, n, p->y, 2 * F, false);
    if (st == BORN_OK) st = norm_as(d, L->m[LLM_DEV_FFN_NORM].q, n, act_of(up->fmt), &held);
    if (st == BORN_OK) st = product(d, up, 0, F, p->a, n, p->y + F, 2 * F, false);
    if (st == BORN_OK)
        st = cuda_check(cu_llm_rows_swiglu(s, p->y, n, F, p->a, act_of(down->fmt)), "born_session_eval: prompt");
    if (st == BORN_OK) st = product(d, down, 0, c->n_embd, p->a, n, p->x, c->n_embd, true);
    return st;
}

/* The chunk's logits: every row's into out (n rows of n_vocab, host memory), or the last's. */
static born_status chunk_logits(dsession *d, int32_t n, float *out, bool all) {
    const dmodel *m = d->m;
    const llm_dev_config *c = &m->cfg;
    cu_prefill *p = d->pre;
    cudaStream_t s = cuda_stream(m->dev);
    const cu_llm_mat *w = cu_llm_output_of(m);
    const float *norm = m->m[LLM_DEV_OUT_NORM - LLM_DEV_LAYER_SLOTS].q;
    const size_t V = (size_t)c->n_vocab;
    born_status st = BORN_OK;
    if (all) {
        int held = -1;
        if (!p->logits)
            st = cuda_check(cu_llm_alloc(&p->logits, (size_t)p->cap * V * 4, d->poison), "born_session_eval: logits");
        if (st == BORN_OK) st = norm_as(d, norm, n, act_of(w->fmt), &held);
        if (st == BORN_OK) st = product(d, w, 0, (int64_t)V, p->a, n, p->logits, (int64_t)V, false);
        if (st == BORN_OK)
            st = cuda_check(cudaMemcpyAsync(out, p->logits, (size_t)n * V * 4, cudaMemcpyDeviceToHost, s),
                            "born_session_eval: logits");
        return st == BORN_OK ? cuda_check(cudaStreamSynchronize(s), "born_session_eval: prompt") : st;
    }
    cu_llm_mv mv; /* the decode step's output product, on the last row */
    memset(&mv, 0, sizeof mv);
    mv.w = *w;
    mv.mode = CU_MV_STORE;
    mv.in_mode = CU_IN_NORM;
    mv.x = p->x + (size_t)(n - 1) * c->n_embd;
    mv.norm_w = norm;
    mv.eps = c->rms_eps;
    mv.out = d->logits;
    st = cuda_check(cu_llm_matvec(s, &mv), "born_session_eval: logits");
    if (st == BORN_OK)
        st = cuda_check(cudaMemcpyAsync(d->logits_host, d->logits, V * 4, cudaMemcpyDeviceToHost, s),
                        "born_session_eval: logits");
    if (st == BORN_OK) st = cuda_check(cudaStreamSynchronize(s), "born_session_eval: prompt");
    if (st == BORN_OK) memcpy(out, d->logits_host, V * 4);
    return st;
}

born_status cu_llm_prefill(void *session, const int32_t *tokens, int32_t n, int32_t pos, float *logits,
                           bool all_logits) {
    dsession *d = session;
    const dmodel *m = d->m;
    born_status st = cuda_capture_forbids(m->dev, "born_session_eval");
    if (st != BORN_OK) return st;
    cudaSetDevice(m->dev);
    if ((st = scratch(d)) != BORN_OK) return st;
    const cu_prefill *p = d->pre;
    cudaStream_t s = cuda_stream(m->dev);
    for (int32_t done = 0; done < n && st == BORN_OK; done += p->cap) {
        const int32_t nb = n - done < p->cap ? n - done : p->cap;
        /* from pageable memory: the tokens are copied out before the call returns, and the copy
         * runs after the chunk before (stream order), so p->tok is free by then */
        st = cuda_check(cudaMemcpyAsync(p->tok, tokens + done, (size_t)nb * sizeof(int), cudaMemcpyHostToDevice, s),
                        "born_session_eval: tokens");
        if (st == BORN_OK)
            st = cuda_check(cu_llm_rows_embed(s, &m->m[0], p->tok, nb, p->x), "born_session_eval: prompt");
        for (int32_t l = 0; l < m->cfg.n_layer && st == BORN_OK; l++)
            st = layer(d, l, nb, pos + done);
        if (st == BORN_OK && logits && all_logits)
            st = chunk_logits(d, nb, logits + (size_t)done * m->cfg.n_vocab, true);
        else if (st == BORN_OK && logits && done + nb == n)
            st = chunk_logits(d, nb, logits, false);
    }
    return st;
}
