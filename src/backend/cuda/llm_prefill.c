/* The batched prompt of the CUDA LLM decoder (llm_device_ops.prefill): n tokens at once through
 * each layer (llm_rows.c: products over all the chunk's rows, its queries attending to the cache
 * together), in chunks of at most CHUNK tokens, one segment each, then the output product for
 * the rows whose logits are wanted (the last through the decode step's matrix-vector kernel,
 * every row through cuBLASLt). The scratch is allocated at the session's first prompt for
 * min(n_ctx, CHUNK) tokens and kept; the all-logits rows at the first prompt that asks for them. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/llm_rows.h"

enum { CHUNK = 512 };

void cu_llm_prefill_free(dsession *d) {
    cu_llm_rows_free(d->pre);
    d->pre = NULL;
}

/* The chunk's logits: every row's into out (n rows of n_vocab, host memory), or the last's. */
static born_status chunk_logits(dsession *d, int32_t n, float *out, bool all) {
    const dmodel *m = d->m;
    const llm_dev_config *c = &m->cfg;
    cu_rows *p = d->pre;
    cudaStream_t s = cuda_stream(m->dev);
    const cu_llm_mat *w = cu_llm_output_of(m);
    const float *norm = m->m[LLM_DEV_OUT_NORM - LLM_DEV_LAYER_SLOTS].q;
    const size_t V = (size_t)c->n_vocab;
    born_status st = BORN_OK;
    if (all) {
        int held = -1;
        if (!p->logits)
            st = cuda_check(cu_llm_alloc(&p->logits, (size_t)p->cap * V * 4, d->poison), "born_session_eval: logits");
        if (st == BORN_OK) st = cu_llm_rows_norm_as(m, p, p->x, norm, n, cu_llm_act_of(w->fmt), &held);
        if (st == BORN_OK) st = cu_llm_rows_product(m, p, w, 0, (int64_t)V, p->a, n, p->logits, (int64_t)V, false);
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
    if (!d->pre && (st = cu_llm_rows_new(m, d->n_ctx < CHUNK ? d->n_ctx : CHUNK, d->poison, "born_session_eval",
                                         &d->pre)) != BORN_OK)
        return st;
    const cu_rows *p = d->pre;
    const llm_dev_config *c = &m->cfg;
    cudaStream_t s = cuda_stream(m->dev);
    cu_rows_at at; /* the chunk: one segment, this session's cache */
    memset(&at, 0, sizeof at);
    at.segs.one.kc = d->kc;
    at.segs.one.vc = d->vc;
    at.segs.one.rope_cs = d->rope_cs;
    at.segs.one.n_ctx = d->n_ctx;
    at.segs.nseg = 1;
    at.segs.kv_f16 = d->kv_f16;
    at.layer_bytes = (size_t)c->n_head_kv * d->n_ctx * c->head_dim * (d->kv_f16 ? 2 : 4);
    for (int32_t done = 0; done < n && st == BORN_OK; done += p->cap) {
        const int32_t nb = n - done < p->cap ? n - done : p->cap;
        cu_llm_rows_mark(d->pre, PROF_EMBED);
        /* from pageable memory: the tokens are copied out before the call returns, and the copy
         * runs after the chunk before (stream order), so p->tok is free by then */
        st = cuda_check(cudaMemcpyAsync(p->tok, tokens + done, (size_t)nb * sizeof(int), cudaMemcpyHostToDevice, s),
                        "born_session_eval: tokens");
        if (st == BORN_OK)
            st = cuda_check(cu_llm_rows_embed(s, &m->m[0], p->tok, nb, p->x), "born_session_eval: prompt");
        cu_llm_rows_mark(d->pre, PROF_EMBED);
        at.n = at.segs.one.n = at.segs.n_max = nb;
        at.segs.one.pos = pos + done;
        at.segs.kend_max = pos + done + nb;
        for (int32_t l = 0; l < c->n_layer && st == BORN_OK; l++)
            st = cu_llm_rows_layer(m, d->pre, l, &at);
        if (st == BORN_OK && logits && all_logits)
            st = chunk_logits(d, nb, logits + (size_t)done * m->cfg.n_vocab, true);
        else if (st == BORN_OK && logits && done + nb == n)
            st = chunk_logits(d, nb, logits, false);
        cu_llm_rows_mark(d->pre, PROF_OUTPUT);
        if (st == BORN_OK) cu_llm_rows_prof_end(d->pre, nb, logits != NULL);
    }
    return st;
}
