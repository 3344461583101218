/* A session on a device (src/backend/llm_device.h): its KV cache and activations stay on the
 * device, and born_session_eval's tokens go through the device decoder, a prompt as batches
 * (llm_device_ops.prefill) and a short one, or a decoded token, one step at a time (the decode
 * step, replayed from a CUDA graph).
 *
 * Where a batch pays (measured by bench/cuda/llm_decode_born.c on an H200, 2026-12-01, LLaMA-like
 * 1B, prompts from position 0, ms batched / token by token): a batch costs about 1.4 ms (bf16)
 * or 2.3 ms (q4_0: each matrix expanded to f16 first) for anything up to 32 tokens, a decode step
 * 0.77 (bf16) or 0.93 ms (q4_0). bf16 2 tokens: 1.40 / 1.54, 4: 1.49 / 3.00; q4_0 2 tokens: 2.36 /
 * 1.88, 3: 2.31 / 2.78, 4: 2.32 / 3.69. So float weights batch from 2 tokens and quantized ones
 * from 4 (one token of margin past the measured 3). BORN_LLM_PREFILL=N overrides both (0: token by
 * token always).
 *
 * Several sessions evaluated together (born_session_eval_batch) go to llm_device_ops.eval_batch
 * in passes within its limits (LLM_DEV_BATCH_ROWS tokens, LLM_DEV_BATCH_SESSIONS sessions, one KV
 * cache type): sessions are packed in order, and one whose tokens do not fit the pass being filled
 * continues in the next (its first part's K and V are in the cache by then). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "llm/model/model_internal.h"

enum { PREFILL_MIN_FLOAT = 2, PREFILL_MIN_QUANT = 4 };

int32_t llm_device_prefill_min(const born_model *m) {
    const char *env = getenv("BORN_LLM_PREFILL");
    if (env && *env) {
        const long v = strtol(env, NULL, 10);
        return v <= 0 ? 0 : v > 1 << 30 ? 1 << 30 : (int32_t)v;
    }
    if (!m->dev_ops || !m->dev_ops->prefill) return 0;
    bool quant = false;
    for (int32_t l = 0; l < m->hp.n_layer && !quant; l++) {
        const llm_layer *L = &m->layers[l];
        const llm_weight *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            if (ws[i]->t && born_dtype_is_quantized(ws[i]->dtype)) quant = true;
    }
    return quant ? PREFILL_MIN_QUANT : PREFILL_MIN_FLOAT;
}

born_status llm_device_eval(born_session *s, const int32_t *tokens, int32_t n, float *logits,
                            bool all_logits) {
    const llm_device_ops *ops = s->model->dev_ops;
    if (ops->prefill && s->dev_prefill_min > 0 && n >= s->dev_prefill_min)
        return ops->prefill(s->dev_session, tokens, n, s->pos, logits, all_logits);
    const int32_t V = s->model->hp.n_vocab;
    for (int32_t i = 0; i < n; i++) {
        float *out = NULL;
        if (logits && all_logits)
            out = logits + (size_t)i * V;
        else if (logits && i == n - 1)
            out = logits;
        born_status st = ops->decode(s->dev_session, tokens[i], s->pos + i, out, s->dev_graph);
        if (st != BORN_OK) return st;
    }
    return BORN_OK;
}

void llm_session_set_graph(born_session *s, bool on) {
    if (s) s->dev_graph = on;
}

void llm_session_set_prefill_min(born_session *s, int32_t n) {
    if (s) s->dev_prefill_min = n > 0 ? n : 0;
}

void llm_session_set_greedy_ahead(born_session *s, int32_t n) {
    if (s) s->greedy_ahead = n < 1 ? 1 : n > LLM_GREEDY_AHEAD_MAX ? LLM_GREEDY_AHEAD_MAX : n;
}

/* One pass of llm_device_eval_batch being filled. */
typedef struct batch_pass {
    void *sessions[LLM_DEV_BATCH_SESSIONS];
    const int32_t *tokens[LLM_DEV_BATCH_SESSIONS];
    int32_t n[LLM_DEV_BATCH_SESSIONS], pos[LLM_DEV_BATCH_SESSIONS], count, rows;
    float *logits[LLM_DEV_BATCH_SESSIONS];
} batch_pass;

/* Runs the pass (nothing when it is empty) and empties it. */
static born_status pass_run(const llm_device_ops *ops, batch_pass *p) {
    born_status st = BORN_OK;
    if (p->count) st = ops->eval_batch(p->sessions, p->tokens, p->n, p->pos, p->count, p->logits);
    p->count = p->rows = 0;
    return st;
}

born_status llm_device_eval_batch(born_session *const *ss, const int32_t *const *tokens,
                                  const int32_t *n, int32_t count, float *const *logits) {
    const llm_device_ops *ops = ss[0]->model->dev_ops;
    batch_pass *p = calloc(1, sizeof *p);
    if (!p) return born_error(BORN_ERR_MEMORY, "born_session_eval_batch: out of memory");
    born_status st = BORN_OK;
    const born_dtype kinds[2] = {BORN_F16, BORN_F32}; /* one pass holds one cache type */
    for (int k = 0; k < 2 && st == BORN_OK; k++) {
        for (int32_t i = 0; i < count && st == BORN_OK; i++) {
            if (ss[i]->kv_type != kinds[k]) continue;
            for (int32_t off = 0; off < n[i] && st == BORN_OK;) {
                if (p->count == LLM_DEV_BATCH_SESSIONS || p->rows == LLM_DEV_BATCH_ROWS) {
                    st = pass_run(ops, p);
                    continue;
                }
                const int32_t room = LLM_DEV_BATCH_ROWS - p->rows;
                const int32_t take = n[i] - off < room ? n[i] - off : room;
                const int32_t j = p->count++;
                p->sessions[j] = ss[i]->dev_session;
                p->tokens[j] = tokens[i] + off;
                p->n[j] = take;
                p->pos[j] = ss[i]->pos + off;
                p->logits[j] = logits && off + take == n[i] ? logits[i] : NULL;
                p->rows += take;
                off += take;
            }
        }
        if (st == BORN_OK) st = pass_run(ops, p);
    }
    free(p);
    return st;
}

/* One group of llm_device_decode_greedy_batch: at most LLM_DEV_BATCH_SESSIONS sessions of one
 * cache type, and where their tokens and choices go. */
typedef struct greedy_group {
    void *sessions[LLM_DEV_BATCH_SESSIONS];
    int32_t tokens[LLM_DEV_BATCH_SESSIONS], pos[LLM_DEV_BATCH_SESSIONS], index[LLM_DEV_BATCH_SESSIONS];
    int32_t count;
} greedy_group;

/* Runs the group (nothing when it is empty) into out's rows of its sessions and empties it. */
static born_status group_run(const llm_device_ops *ops, greedy_group *g, int32_t n, int32_t *out,
                             int32_t *scratch) {
    born_status st = BORN_OK;
    if (g->count) st = ops->decode_greedy_batch(g->sessions, g->tokens, g->pos, g->count, n, scratch);
    for (int32_t j = 0; j < g->count && st == BORN_OK; j++)
        memcpy(out + (size_t)g->index[j] * n, scratch + (size_t)j * n, (size_t)n * sizeof *out);
    g->count = 0;
    return st;
}

born_status llm_device_decode_greedy_batch(born_session *const *ss, const int32_t *tokens,
                                           int32_t n, int32_t count, int32_t *out) {
    const llm_device_ops *ops = ss[0]->model->dev_ops;
    greedy_group *g = calloc(1, sizeof *g);
    int32_t *scratch = malloc((size_t)LLM_DEV_BATCH_SESSIONS * (size_t)n * sizeof *scratch);
    born_status st = BORN_OK;
    if (!g || !scratch)
        st = born_error(BORN_ERR_MEMORY, "born_session_decode_greedy_batch: out of memory");
    const born_dtype kinds[2] = {BORN_F16, BORN_F32}; /* one pass holds one cache type */
    for (int k = 0; k < 2 && st == BORN_OK; k++) {
        for (int32_t i = 0; i < count && st == BORN_OK; i++) {
            if (ss[i]->kv_type != kinds[k]) continue;
            if (g->count == LLM_DEV_BATCH_SESSIONS) st = group_run(ops, g, n, out, scratch);
            const int32_t j = g->count++;
            g->sessions[j] = ss[i]->dev_session;
            g->tokens[j] = tokens[i];
            g->pos[j] = ss[i]->pos;
            g->index[j] = i;
        }
        if (st == BORN_OK) st = group_run(ops, g, n, out, scratch);
    }
    free(g);
    free(scratch);
    return st;
}
