/* Several sessions of one model in one forward pass (llm_device_ops.eval_batch): their tokens are
 * the rows of one batch, session i's n[i] tokens rows row0_i..row0_i + n[i] - 1 (row0_i the sum of
 * the n before it), one segment each (llm_batch.h). The layers run as a prompt's do (llm_rows.c):
 * every product once over all the rows, so each weight is read once for all the sessions, while
 * RoPE, the KV-cache write and attention take each row's position and cache from its segment's
 * descriptor, [n_layer][count] of them copied to the device with the tokens. Then the last row of
 * each session whose logits are wanted is gathered, normalized and multiplied by the output
 * matrix (one cuBLASLt product over those rows), and the logits come back in one copy.
 *
 * The scratch (rows for LLM_DEV_BATCH_ROWS tokens, the descriptors, LLM_DEV_BATCH_SESSIONS rows of
 * logits) belongs to the model and is allocated at its first batch, so a steady stream of batches
 * allocates nothing; calls on one model must therefore not overlap (the host serializes them on
 * the device's one stream anyway). The sessions' own decode-step buffers and CUDA graphs are not
 * touched: a graph step reads its token and position from the session's step buffer, which every
 * decode call writes first, so a session continues with ordinary decode steps after a batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/llm_rows.h"

struct cu_multi {
    cu_rows *rows;                      /* LLM_DEV_BATCH_ROWS rows */
    cu_llm_seg *segs, *segs_host;       /* [n_layer][LLM_DEV_BATCH_SESSIONS], device and host */
    int *last, last_host[LLM_DEV_BATCH_SESSIONS]; /* the rows whose logits are wanted */
    int tok_host[LLM_DEV_BATCH_ROWS];
    float *logits, *logits_host;        /* [LLM_DEV_BATCH_SESSIONS][n_vocab], device and pinned */
};

void cu_llm_multi_free(dmodel *m) {
    struct cu_multi *b = m->multi;
    if (!b) return;
    cu_llm_rows_free(b->rows);
    if (b->segs) cudaFree(b->segs);
    if (b->last) cudaFree(b->last);
    if (b->logits) cudaFree(b->logits);
    if (b->logits_host) cudaFreeHost(b->logits_host);
    free(b->segs_host);
    free(b);
    m->multi = NULL;
}

/* The model's scratch (m->multi), allocated at its first batch; errors recorded, naming what. */
static born_status scratch(dmodel *m, const char *what) {
    if (m->multi) return BORN_OK;
    const char *pe = getenv("BORN_CUDA_POISON");
    const bool poison = pe && *pe && *pe != '0';
    const size_t nseg = (size_t)m->cfg.n_layer * LLM_DEV_BATCH_SESSIONS;
    const size_t lbytes = (size_t)LLM_DEV_BATCH_SESSIONS * (size_t)m->cfg.n_vocab * sizeof(float);
    struct cu_multi *b = calloc(1, sizeof *b);
    if (!b) return cuda_error(BORN_ERR_MEMORY, "%s: out of host memory", what);
    m->multi = b;
    b->segs_host = malloc(nseg * sizeof *b->segs_host);
    if (!b->segs_host) {
        cu_llm_multi_free(m);
        return cuda_error(BORN_ERR_MEMORY, "%s: out of host memory", what);
    }
    born_status st = cu_llm_rows_new(m, LLM_DEV_BATCH_ROWS, poison, what, &b->rows);
    cudaError_t e = cudaSuccess;
    if (st == BORN_OK &&
        ((e = cu_llm_alloc(&b->segs, nseg * sizeof *b->segs, false)) != cudaSuccess ||
         (e = cu_llm_alloc(&b->last, sizeof b->last_host, false)) != cudaSuccess ||
         (e = cu_llm_alloc(&b->logits, lbytes, poison)) != cudaSuccess ||
         (e = cudaHostAlloc((void **)&b->logits_host, lbytes, cudaHostAllocDefault)) != cudaSuccess)) {
        (void)cudaGetLastError();
        st = cuda_error(e == cudaErrorMemoryAllocation ? BORN_ERR_MEMORY : BORN_ERR_DEVICE,
                        "%s: cuda:%d: the buffers of a batch of %d sessions: %s", what, m->dev,
                        (int)LLM_DEV_BATCH_SESSIONS, cudaGetErrorString(e));
    }
    if (st != BORN_OK) cu_llm_multi_free(m);
    return st;
}

/* Checks the shape of a call (the engine validated the tokens and positions; errors name what);
 * fills the host tokens, descriptors and wanted rows; *rows and *n_max the rows in all and the
 * most in one, *kend_max (0 on entry) the most keys a row sees. */
static born_status describe(dmodel *m, dsession *const *ds, const int32_t *const *tokens, const int32_t *n,
                            const int32_t *pos, int32_t count, float *const *logits, const char *what,
                            int32_t *rows, int32_t *n_max, int32_t *kend_max, int32_t *wanted) {
    struct cu_multi *b = m->multi;
    const llm_dev_config *c = &m->cfg;
    int32_t r = 0, most = 0, k = 0;
    for (int32_t i = 0; i < count; i++) {
        const dsession *d = ds[i];
        if (d->m != m || d->kv_f16 != ds[0]->kv_f16 || n[i] < 1 || pos[i] < 0 || n[i] > d->n_ctx - pos[i] ||
            n[i] > LLM_DEV_BATCH_ROWS - r)
            return cuda_error(BORN_ERR_ARGUMENT,
                              "%s: session %d (%d tokens at position %d) cannot join the batch (another "
                              "model or cache type, no room, or over %d tokens in all)",
                              what, (int)i, (int)n[i], (int)pos[i], (int)LLM_DEV_BATCH_ROWS);
        memcpy(b->tok_host + r, tokens[i], (size_t)n[i] * sizeof(int));
        const size_t layer_bytes = (size_t)c->n_head_kv * d->n_ctx * c->head_dim * (d->kv_f16 ? 2 : 4);
        for (int32_t l = 0; l < c->n_layer; l++) {
            cu_llm_seg *g = &b->segs_host[(size_t)l * count + i];
            g->kc = d->kc + (size_t)l * layer_bytes;
            g->vc = d->vc + (size_t)l * layer_bytes;
            g->rope_cs = d->rope_cs;
            g->row0 = r;
            g->n = n[i];
            g->pos = pos[i];
            g->n_ctx = d->n_ctx;
        }
        r += n[i];
        if (n[i] > most) most = n[i];
        if (pos[i] + n[i] > *kend_max) *kend_max = pos[i] + n[i];
        if (logits && logits[i]) b->last_host[k++] = r - 1;
    }
    *rows = r;
    *n_max = most;
    *wanted = k;
    return BORN_OK;
}

/* The logits of the k rows listed in b->last (uploaded), into b->logits [k][n_vocab]; errors
 * name what. */
static born_status logits_rows(dmodel *m, int32_t k, const char *what) {
    struct cu_multi *b = m->multi;
    cu_rows *p = b->rows;
    const llm_dev_config *c = &m->cfg;
    cudaStream_t s = cuda_stream(m->dev);
    const cu_llm_mat *w = cu_llm_output_of(m);
    int held = -1;
    born_status st = cuda_check(cu_llm_rows_gather(s, p->x, c->n_embd, b->last, k, p->y), what);
    if (st == BORN_OK)
        st = cu_llm_rows_norm_as(m, p, p->y, m->m[LLM_DEV_OUT_NORM - LLM_DEV_LAYER_SLOTS].q, k, cu_llm_act_of(w->fmt),
                                 &held);
    if (st == BORN_OK)
        st = cu_llm_rows_product(m, p, w, 0, (int64_t)c->n_vocab, p->a, k, b->logits, (int64_t)c->n_vocab, false);
    return st;
}

/* The wanted sessions' logits (k rows of b->last_host) into logits[i] where not NULL. */
static born_status last_logits(dmodel *m, int32_t count, float *const *logits, int32_t k) {
    struct cu_multi *b = m->multi;
    cudaStream_t s = cuda_stream(m->dev);
    const size_t V = (size_t)m->cfg.n_vocab;
    born_status st = logits_rows(m, k, "born_session_eval_batch");
    if (st == BORN_OK)
        st = cuda_check(cudaMemcpyAsync(b->logits_host, b->logits, (size_t)k * V * 4, cudaMemcpyDeviceToHost, s),
                        "born_session_eval_batch: logits");
    if (st == BORN_OK) st = cuda_check(cudaStreamSynchronize(s), "born_session_eval_batch");
    for (int32_t i = 0, j = 0; i < count && st == BORN_OK; i++)
        if (logits[i]) memcpy(logits[i], b->logits_host + (size_t)j++ * V, V * 4);
    return st;
}

/* cuda_check naming the call and its step ("what: step"). */
static born_status step_check(cudaError_t e, const char *what, const char *step) {
    if (e == cudaSuccess) return BORN_OK;
    char ctx[128];
    snprintf(ctx, sizeof ctx, "%s: %s", what, step);
    return cuda_check(e, ctx);
}

/* Checks a call of count sessions and makes their model's scratch; *m the model. */
static born_status begin(void *const *sessions, int32_t count, const char *what, dmodel **m) {
    if (count < 1 || count > LLM_DEV_BATCH_SESSIONS)
        return cuda_error(BORN_ERR_ARGUMENT, "%s: %d sessions (1 to %d a pass)", what, (int)count,
                          (int)LLM_DEV_BATCH_SESSIONS);
    *m = ((dsession *const *)sessions)[0]->m;
    born_status st = cuda_capture_forbids((*m)->dev, what);
    if (st != BORN_OK) return st;
    cudaSetDevice((*m)->dev);
    return scratch(*m, what);
}

/* Queues one forward pass of the sessions' rows (describe's): the descriptors, with upload the
 * tokens and wanted rows too (else the device's tokens and rows are those of the pass before),
 * the embeddings and every layer. *wanted: the rows whose logits are wanted; *nrows: the rows.
 * Errors of the call's own steps name what. */
static born_status forward(dmodel *m, dsession *const *ds, const int32_t *const *tokens, const int32_t *n,
                           const int32_t *pos, int32_t count, float *const *logits, bool upload, const char *what,
                           int32_t *wanted, int32_t *nrows) {
    struct cu_multi *b = m->multi;
    int32_t rows = 0, n_max = 0, kend_max = 0;
    born_status st = describe(m, ds, tokens, n, pos, count, logits, what, &rows, &n_max, &kend_max, wanted);
    *nrows = rows;
    if (st != BORN_OK) return st;
    cudaStream_t s = cuda_stream(m->dev);
    cu_llm_rows_mark(b->rows, PROF_EMBED);
    /* from pageable memory: copied out before each call returns, so the host buffers are free for
     * the next batch while this one runs */
    if (upload)
        st = step_check(
            cudaMemcpyAsync(b->rows->tok, b->tok_host, (size_t)rows * sizeof(int), cudaMemcpyHostToDevice, s), what,
            "tokens");
    if (st == BORN_OK)
        st = step_check(cudaMemcpyAsync(b->segs, b->segs_host, (size_t)m->cfg.n_layer * count * sizeof *b->segs,
                                        cudaMemcpyHostToDevice, s),
                        what, "descriptors");
    if (st == BORN_OK && upload && *wanted)
        st = step_check(
            cudaMemcpyAsync(b->last, b->last_host, (size_t)*wanted * sizeof(int), cudaMemcpyHostToDevice, s), what,
            "descriptors");
    if (st == BORN_OK)
        st = cuda_check(cu_llm_rows_embed(s, &m->m[0], b->rows->tok, rows, b->rows->x), what);
    cu_rows_at at;
    memset(&at, 0, sizeof at);
    at.n = rows;
    at.segs.segs = b->segs;
    at.segs.nseg = count;
    at.segs.n_max = n_max;
    at.segs.kend_max = kend_max;
    at.segs.kv_f16 = ds[0]->kv_f16;
    cu_llm_rows_mark(b->rows, PROF_EMBED);
    for (int32_t l = 0; l < m->cfg.n_layer && st == BORN_OK; l++)
        st = cu_llm_rows_layer(m, b->rows, l, &at);
    return st;
}

born_status cu_llm_eval_batch(void *const *sessions, const int32_t *const *tokens, const int32_t *n,
                              const int32_t *pos, int32_t count, float *const *logits) {
    dmodel *m = NULL;
    born_status st = begin(sessions, count, "born_session_eval_batch", &m);
    if (st != BORN_OK) return st;
    struct cu_multi *b = m->multi;
    int32_t wanted = 0, rows = 0;
    st = forward(m, (dsession *const *)sessions, tokens, n, pos, count, logits, true, "born_session_eval_batch",
                 &wanted, &rows);
    if (st == BORN_OK && wanted) st = last_logits(m, count, logits, wanted);
    cu_llm_rows_mark(b->rows, PROF_OUTPUT);
    if (st == BORN_OK) cu_llm_rows_prof_end(b->rows, rows, wanted > 0);
    return st;
}

born_status cu_llm_decode_greedy_batch(void *const *sessions, const int32_t *tokens, const int32_t *pos,
                                       int32_t count, int32_t n, int32_t *out) {
    const char *what = "born_session_decode_greedy_batch";
    dmodel *m = NULL;
    born_status st = begin(sessions, count, what, &m);
    if (st != BORN_OK) return st;
    if (n < 1) return cuda_error(BORN_ERR_ARGUMENT, "%s: %d steps (need at least 1)", what, (int)n);
    struct cu_multi *b = m->multi;
    cudaStream_t s = cuda_stream(m->dev);
    const int32_t *tk[LLM_DEV_BATCH_SESSIONS];
    int32_t one[LLM_DEV_BATCH_SESSIONS], at[LLM_DEV_BATCH_SESSIONS];
    float want; /* any non-NULL pointer: every session's logits are wanted */
    float *wants[LLM_DEV_BATCH_SESSIONS];
    for (int32_t i = 0; i < count; i++) {
        tk[i] = &tokens[i];
        one[i] = 1;
        wants[i] = &want;
    }
    const size_t bytes = (size_t)count * (size_t)n * sizeof(int);
    int *chosen = cuda_mem_alloc(m->dev, bytes); /* [n][count] */
    int *host = malloc(bytes);
    if (!chosen || !host) {
        (void)cudaGetLastError();
        if (chosen) cuda_mem_free(m->dev, chosen);
        free(host);
        return cuda_error(BORN_ERR_MEMORY, "%s: out of memory for %d x %d tokens", what, (int)count, (int)n);
    }
    for (int32_t t = 0; t < n && st == BORN_OK; t++) {
        for (int32_t i = 0; i < count; i++)
            at[i] = pos[i] + t;
        int32_t wanted = 0, rows = 0;
        /* after the first step the tokens are the device's own choices (argmax_rows wrote them) */
        st = forward(m, (dsession *const *)sessions, tk, one, at, count, wants, t == 0, what, &wanted, &rows);
        if (st == BORN_OK) st = logits_rows(m, count, what);
        if (st == BORN_OK)
            st = cuda_check(cu_llm_argmax_rows(s, b->logits, m->cfg.n_vocab, count, b->rows->tok,
                                               chosen + (size_t)t * count),
                            what);
        cu_llm_rows_mark(b->rows, PROF_OUTPUT);
        if (st == BORN_OK) cu_llm_rows_prof_end(b->rows, rows, true); /* (profiling only) */
    }
    if (st == BORN_OK) st = cuda_check(cudaMemcpyAsync(host, chosen, bytes, cudaMemcpyDeviceToHost, s), what);
    if (st == BORN_OK) st = cuda_check(cudaStreamSynchronize(s), what);
    for (int32_t t = 0; t < n && st == BORN_OK; t++)
        for (int32_t i = 0; i < count; i++)
            out[(size_t)i * n + t] = host[(size_t)t * count + i];
    cuda_mem_free(m->dev, chosen);
    free(host);
    return st;
}
