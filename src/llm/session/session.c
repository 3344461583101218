/* Sessions: one sequence's KV cache (f16 or f32, [layer][kv head][position][head dim]), its
 * position, and scratch buffers for n_batch tokens, allocated once so the decode loop allocates
 * nothing of its own. eval validates everything before it runs anything, splits the tokens into
 * batches and hands each to the architecture's forward. */
#include <stdlib.h>
#include <string.h>

#include "born/llm.h"
#include "core/error.h"
#include "llm/model/model_internal.h"

born_session_params born_session_default_params(void) {
    born_session_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 0;
    p.n_batch = 256; /* a micro-batch: scratch for 256 tokens (~5.6 MiB on SmolLM2), not 512 */
    p.kv_type = BORN_F16;
    return p;
}

void born_session_free(born_session *s) {
    if (!s) return;
    if (s->dev_session) s->model->dev_ops->session_free(s->dev_session);
    free(s->tokens);
    free(s->k_cache);
    free(s->v_cache);
    free(s->x);
    free(s->xn);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att);
    free(s->gate);
    free(s->up);
    free(s->rope_cs);
    free(s->xq);
    free(s->fpack);
    free(s->decode_steps);
    free(s->decode_nch);
    free(s);
}

static float *scratch(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

born_session *born_session_new(born_model *m, const born_session_params *params) {
    if (!m) return born_error_null(BORN_ERR_ARGUMENT, "born_session_new: model is NULL");
    born_session_params p = params ? *params : born_session_default_params();
    const llm_hparams *hp = &m->hp;
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_ctx < 1 || p.n_ctx > (1 << 24))
        return born_error_null(BORN_ERR_ARGUMENT, "born_session_new: n_ctx %d is out of range",
                               (int)p.n_ctx);
    if (p.n_batch < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "born_session_new: n_batch %d is not positive",
                               (int)p.n_batch);
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.kv_type != BORN_F16 && p.kv_type != BORN_F32)
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_session_new: kv_type %s is not supported (f16, f32)",
                               born_dtype_name(p.kv_type));
    born_session *s = calloc(1, sizeof *s);
    if (!s) return born_error_null(BORN_ERR_MEMORY, "born_session_new: out of memory");
    s->model = m;
    s->pending = -1;
    s->n_ctx = p.n_ctx;
    s->n_batch = p.n_batch;
    s->kv_type = p.kv_type;
    s->kv_elt = p.kv_type == BORN_F16 ? 2 : 4;
    size_t cache = (size_t)hp->n_layer * hp->n_head_kv * (size_t)p.n_ctx * hp->head_dim;
    /* calloc: pages are mapped as the cache fills, so a long context costs memory only when used */
    s->tokens = malloc((size_t)p.n_ctx * sizeof *s->tokens);
    s->dev_graph = true;
    s->greedy_ahead = m->dev_model ? 32 : 1;
    if (m->dev_model) { /* the cache lives on the device, with the RoPE table of every position */
        float *cs = malloc((size_t)p.n_ctx * (size_t)hp->n_rot * sizeof(float));
        if (!cs) {
            born_session_free(s);
            return born_error_null(BORN_ERR_MEMORY, "born_session_new: out of memory");
        }
        const float *ff = m->rope_freqs.t ? (const float *)m->rope_freqs.data : NULL;
        llm_rope_table(cs, hp, ff, 0, p.n_ctx);
        s->dev_session = m->dev_ops->session_new(m->dev_model, p.n_ctx, p.kv_type, cs);
        s->dev_prefill_min = llm_device_prefill_min(m);
        free(cs);
        if (!s->dev_session) {
            born_session_free(s);
            return NULL;
        }
    } else {
        s->k_cache = calloc(cache, s->kv_elt);
        s->v_cache = calloc(cache, s->kv_elt);
    }
    const int64_t B = p.n_batch, E = hp->n_embd, Dq = (int64_t)hp->n_head * hp->head_dim,
                  Dkv = (int64_t)hp->n_head_kv * hp->head_dim;
    s->x = scratch(B * E);
    s->xn = scratch(B * (E > Dq ? E : Dq));
    s->q = scratch(B * Dq);
    s->k = scratch(B * Dkv);
    s->v = scratch(B * Dkv);
    s->att = scratch(B * Dq);
    s->gate = scratch(B * hp->n_ff);
    s->up = scratch(B * hp->n_ff);
    s->rope_cs = scratch(B * hp->n_rot);
    int64_t kmax = E > Dq ? E : Dq;
    if (hp->n_ff > kmax) kmax = hp->n_ff;
    s->xq_bytes = (size_t)kmax * 2 + 1024; /* above every vec_dot type's row size */
    s->xq = malloc(s->xq_bytes);
    if (!s->tokens || (!s->dev_session && (!s->k_cache || !s->v_cache)) || !s->x || !s->xn ||
        !s->q || !s->k || !s->v || !s->att || !s->gate || !s->up || !s->rope_cs || !s->xq) {
        born_session_free(s);
        return born_error_null(BORN_ERR_MEMORY, "born_session_new: out of memory (KV cache of %d "
                               "tokens)", (int)p.n_ctx);
    }
    return s;
}

int32_t born_session_pos(const born_session *s) { return s ? s->pos : 0; }
int32_t born_session_n_ctx(const born_session *s) { return s ? s->n_ctx : 0; }
born_model *born_session_model(const born_session *s) { return s ? s->model : NULL; }
const int32_t *born_session_tokens(const born_session *s) { return s ? s->tokens : NULL; }

born_status born_session_rollback(born_session *s, int32_t pos) {
    if (!s) return born_error(BORN_ERR_ARGUMENT, "born_session_rollback: session is NULL");
    if (pos < 0 || pos > s->pos)
        return born_error(BORN_ERR_ARGUMENT,
                          "born_session_rollback: position %d is outside [0, %d]", (int)pos,
                          (int)s->pos);
    s->pending = -1;
    s->pos = pos; /* entries past pos are overwritten before attention reads them again */
    return BORN_OK;
}

born_status born_session_eval(born_session *s, const int32_t *tokens, int32_t n, float *logits,
                              bool all_logits) {
    if (!s || !tokens)
        return born_error(BORN_ERR_ARGUMENT, "born_session_eval: %s is NULL",
                          !s ? "session" : "tokens");
    if (n <= 0)
        return born_error(BORN_ERR_ARGUMENT, "born_session_eval: %d tokens (need at least 1)",
                          (int)n);
    const int32_t V = s->model->hp.n_vocab;
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return born_error(BORN_ERR_ARGUMENT,
                              "born_session_eval: token %d (at index %d) is outside the "
                              "vocabulary [0, %d)", (int)tokens[i], (int)i, (int)V);
    if (n > s->n_ctx - s->pos)
        return born_error(BORN_ERR_ARGUMENT,
                          "born_session_eval: %d tokens at position %d do not fit the context of "
                          "%d tokens", (int)n, (int)s->pos, (int)s->n_ctx);
    const int32_t start = s->pos;
    if (s->dev_session) {
        born_status st = llm_device_eval(s, tokens, n, logits, all_logits);
        if (st != BORN_OK) return st;
        memcpy(s->tokens + start, tokens, (size_t)n * sizeof *tokens);
        s->pending = -1;
        s->pos = start + n;
        return BORN_OK;
    }
    for (int32_t done = 0; done < n; done += s->n_batch) {
        int32_t nb = n - done < s->n_batch ? n - done : s->n_batch;
        bool last = done + nb == n;
        float *out = NULL;
        int32_t first = nb;
        if (logits && all_logits) {
            out = logits + (size_t)done * V;
            first = 0;
        } else if (logits && last) {
            out = logits;
            first = nb - 1;
        }
        born_status st = s->model->arch->forward(s, tokens + done, nb, start + done, out, first);
        if (st != BORN_OK) {
            s->pos = start;
            return st;
        }
    }
    memcpy(s->tokens + start, tokens, (size_t)n * sizeof *tokens);
    s->pending = -1;
    s->pos = start + n;
    return BORN_OK;
}

born_status born_session_decode_greedy(born_session *s, int32_t token, int32_t n, int32_t *out) {
    if (!s || !out)
        return born_error(BORN_ERR_ARGUMENT, "born_session_decode_greedy: %s is NULL",
                          !s ? "session" : "out");
    const int32_t V = s->model->hp.n_vocab;
    if (n <= 0)
        return born_error(BORN_ERR_ARGUMENT, "born_session_decode_greedy: %d tokens (need at "
                          "least 1)", (int)n);
    if (token < 0 || token >= V)
        return born_error(BORN_ERR_ARGUMENT, "born_session_decode_greedy: token %d is outside the "
                          "vocabulary [0, %d)", (int)token, (int)V);
    if (n > s->n_ctx - s->pos)
        return born_error(BORN_ERR_ARGUMENT, "born_session_decode_greedy: %d tokens at position "
                          "%d do not fit the context of %d tokens", (int)n, (int)s->pos,
                          (int)s->n_ctx);
    const int32_t start = s->pos;
    if (s->dev_session) {
        born_status st = s->model->dev_ops->decode_greedy(s->dev_session, token, start, n, out);
        if (st != BORN_OK) return st;
        s->tokens[start] = token;
        memcpy(s->tokens + start + 1, out, (size_t)(n - 1) * sizeof *out);
        s->pending = -1;
        s->pos = start + n;
        return BORN_OK;
    }
    float *logits = malloc((size_t)V * sizeof *logits);
    if (!logits) return born_error(BORN_ERR_MEMORY, "born_session_decode_greedy: out of memory");
    born_status st = BORN_OK;
    for (int32_t i = 0; i < n && st == BORN_OK; i++) {
        st = born_session_eval(s, i ? &out[i - 1] : &token, 1, logits, false);
        int32_t best = 0;
        for (int32_t v = 1; v < V; v++)
            if (logits[v] > logits[best]) best = v;
        out[i] = best;
    }
    free(logits);
    if (st != BORN_OK) s->pos = start;
    return st;
}
