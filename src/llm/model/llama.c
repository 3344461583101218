/* The LLaMA family: llama (1/2/3, SmolLM, TinyLlama), mistral and qwen2 (QKV biases, NEOX RoPE).
 *
 *   x = embed(token)
 *   per layer:  h = rms_norm(x) * attn_norm
 *               q, k, v = h Wq (+bq), h Wk (+bk), h Wv (+bv);  RoPE(q, k) at the token's position
 *               x += attention(q, K cache, V cache) Wo            (GQA: kv head = head / group)
 *               h = rms_norm(x) * ffn_norm
 *               x += (silu(h Wgate) * (h Wup)) Wdown
 *   logits = rms_norm(x) * output_norm  Woutput                  (Woutput = token_embd if tied)
 *
 * Hyperparameters come from "<arch>.*" metadata with llama.cpp's defaults; RoPE scaling: linear
 * (rope.scaling.factor or the older rope.scale_linear), yarn, and llama3's per-frequency factors
 * (the rope_freqs.weight tensor). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/llm.h"
#include "core/error.h"
#include "llm/model/model_internal.h"

static born_status check_positive(const char *what, int64_t v) {
    if (v <= 0)
        return born_error(BORN_ERR_FORMAT, "born_model_load: %s is %lld, must be positive", what,
                          (long long)v);
    return BORN_OK;
}

static born_status load_hparams(born_model *m) {
    llm_hparams *hp = &m->hp;
    born_status st;
    hp->n_ctx_train = 2048;
    hp->rms_eps = 1e-5f;
    hp->rope_freq_base = 10000.0f;
    hp->rope_freq_scale = 1.0f;
    hp->yarn_attn_factor = 1.0f;
    hp->yarn_beta_fast = 32.0f;
    hp->yarn_beta_slow = 1.0f;
    if ((st = llm_kv_i32(m, "context_length", false, &hp->n_ctx_train)) != BORN_OK ||
        (st = llm_kv_i32(m, "embedding_length", true, &hp->n_embd)) != BORN_OK ||
        (st = llm_kv_i32(m, "block_count", true, &hp->n_layer)) != BORN_OK ||
        (st = llm_kv_i32(m, "feed_forward_length", true, &hp->n_ff)) != BORN_OK ||
        (st = llm_kv_i32(m, "attention.head_count", true, &hp->n_head)) != BORN_OK)
        return st;
    if ((st = check_positive("embedding_length", hp->n_embd)) != BORN_OK ||
        (st = check_positive("block_count", hp->n_layer)) != BORN_OK ||
        (st = check_positive("feed_forward_length", hp->n_ff)) != BORN_OK ||
        (st = check_positive("attention.head_count", hp->n_head)) != BORN_OK ||
        (st = check_positive("context_length", hp->n_ctx_train)) != BORN_OK)
        return st;
    if (hp->n_layer > 4096 || hp->n_head > 4096)
        return born_error(BORN_ERR_FORMAT, "born_model_load: %d layers / %d heads is implausible",
                          (int)hp->n_layer, (int)hp->n_head);
    hp->n_head_kv = hp->n_head;
    if ((st = llm_kv_i32(m, "attention.head_count_kv", false, &hp->n_head_kv)) != BORN_OK) return st;
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv != 0)
        return born_error(BORN_ERR_FORMAT,
                          "born_model_load: attention.head_count_kv %d does not divide "
                          "head_count %d", (int)hp->n_head_kv, (int)hp->n_head);
    hp->head_dim = hp->n_embd / hp->n_head;
    int32_t vlen = -1;
    if ((st = llm_kv_i32(m, "attention.key_length", false, &hp->head_dim)) != BORN_OK ||
        (st = llm_kv_i32(m, "attention.value_length", false, &vlen)) != BORN_OK)
        return st;
    if (vlen >= 0 && vlen != hp->head_dim)
        return born_error(BORN_ERR_UNSUPPORTED,
                          "born_model_load: attention.value_length %d differs from key_length %d",
                          (int)vlen, (int)hp->head_dim);
    if (hp->head_dim <= 0 || hp->head_dim % 2 || hp->head_dim > 1024)
        return born_error(BORN_ERR_FORMAT, "born_model_load: head size %d is not supported",
                          (int)hp->head_dim);
    hp->n_rot = hp->head_dim;
    if ((st = llm_kv_i32(m, "rope.dimension_count", false, &hp->n_rot)) != BORN_OK) return st;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return born_error(BORN_ERR_FORMAT, "born_model_load: rope.dimension_count %d with head "
                          "size %d", (int)hp->n_rot, (int)hp->head_dim);
    if ((st = llm_kv_f32(m, "attention.layer_norm_rms_epsilon", false, &hp->rms_eps)) != BORN_OK ||
        (st = llm_kv_f32(m, "rope.freq_base", false, &hp->rope_freq_base)) != BORN_OK)
        return st;
    if (!(hp->rms_eps > 0) || !(hp->rope_freq_base > 0))
        return born_error(BORN_ERR_FORMAT, "born_model_load: rms epsilon %g / rope.freq_base %g",
                          (double)hp->rms_eps, (double)hp->rope_freq_base);
    /* RoPE scaling */
    const char *stype = NULL;
    if ((st = llm_kv_str(m, "rope.scaling.type", &stype)) != BORN_OK) return st;
    float factor = 0.0f;
    if ((st = llm_kv_f32(m, "rope.scaling.factor", false, &factor)) != BORN_OK) return st;
    if (factor == 0.0f && (st = llm_kv_f32(m, "rope.scale_linear", false, &factor)) != BORN_OK)
        return st;
    hp->n_ctx_orig = hp->n_ctx_train;
    if ((st = llm_kv_i32(m, "rope.scaling.original_context_length", false, &hp->n_ctx_orig)) != BORN_OK)
        return st;
    if ((st = llm_kv_f32(m, "rope.scaling.attn_factor", false, &hp->yarn_attn_factor)) != BORN_OK)
        return st;
    bool none = stype && strcmp(stype, "none") == 0;
    if (stype && !none && strcmp(stype, "linear") != 0 && strcmp(stype, "yarn") != 0)
        return born_error(BORN_ERR_UNSUPPORTED,
                          "born_model_load: rope.scaling.type \"%.40s\" is not supported "
                          "(none, linear, yarn)", stype);
    if (!none && factor != 0.0f) {
        if (!(factor > 0))
            return born_error(BORN_ERR_FORMAT, "born_model_load: rope scaling factor %g",
                              (double)factor);
        hp->rope_freq_scale = 1.0f / factor;
    }
    if (stype && strcmp(stype, "yarn") == 0) hp->yarn_ext_factor = 1.0f;
    return BORN_OK;
}

static born_status load_llama(born_model *m) {
    born_status st = load_hparams(m);
    if (st != BORN_OK) return st;
    llm_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, Dq = (int64_t)hp->n_head * hp->head_dim,
                  Dkv = (int64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff;
    int64_t idx = born_file_find(m->file, "token_embd.weight");
    if (idx < 0) return born_error(BORN_ERR_FORMAT, "born_model_load: tensor token_embd.weight is missing");
    born_tensor_info info;
    if ((st = born_file_tensor_info(m->file, idx, &info)) != BORN_OK) return st;
    if (info.ndim != 2 || info.shape[0] <= 0 || info.shape[0] > INT32_MAX)
        return born_error(BORN_ERR_FORMAT, "born_model_load: token_embd.weight has a bad shape");
    hp->n_vocab = (int32_t)info.shape[0];
    if ((st = llm_take_weight(m, &m->tok_embd, "token_embd.weight", hp->n_vocab, E, true)) != BORN_OK ||
        (st = llm_take_weight(m, &m->out_norm, "output_norm.weight", 0, E, true)) != BORN_OK ||
        (st = llm_take_weight(m, &m->output, "output.weight", hp->n_vocab, E, false)) != BORN_OK ||
        (st = llm_take_weight(m, &m->rope_freqs, "rope_freqs.weight", 0, hp->n_rot / 2, false)) != BORN_OK)
        return st;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return born_error(BORN_ERR_MEMORY, "born_model_load: out of memory");
    bool bias_required = strcmp(m->arch->name, "qwen2") == 0;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        llm_layer *L = &m->layers[l];
        char n[64];
#define TAKE(field, fmt, rows, cols, req)                                                         \
    do {                                                                                          \
        snprintf(n, sizeof n, "blk.%d." fmt, (int)l);                                             \
        if ((st = llm_take_weight(m, &L->field, n, rows, cols, req)) != BORN_OK) return st;       \
    } while (0)
        TAKE(attn_norm, "attn_norm.weight", 0, E, true);
        TAKE(wq, "attn_q.weight", Dq, E, true);
        TAKE(wk, "attn_k.weight", Dkv, E, true);
        TAKE(wv, "attn_v.weight", Dkv, E, true);
        TAKE(wo, "attn_output.weight", E, Dq, true);
        TAKE(bq, "attn_q.bias", 0, Dq, bias_required);
        TAKE(bk, "attn_k.bias", 0, Dkv, bias_required);
        TAKE(bv, "attn_v.bias", 0, Dkv, bias_required);
        TAKE(bo, "attn_output.bias", 0, E, false);
        TAKE(ffn_norm, "ffn_norm.weight", 0, E, true);
        TAKE(w_gate, "ffn_gate.weight", F, E, true);
        TAKE(w_up, "ffn_up.weight", F, E, true);
        TAKE(w_down, "ffn_down.weight", E, F, true);
#undef TAKE
    }
    return BORN_OK;
}

/* The logits rows of segs (see llm_arch.forward_rows): rms_norm of each segment's last rows
 * into xn, one product over all of them, then each segment's rows copied to its logits (written
 * there directly when only one segment wants logits). */
static born_status output_rows(born_session *w, const llm_segment *segs, int32_t count) {
    const born_model *m = w->model;
    const llm_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, V = hp->n_vocab;
    int64_t rows = 0, r = 0, wanting = 0;
    float *only = NULL;
    for (int32_t i = 0; i < count; i++) {
        const llm_segment *g = &segs[i];
        const int32_t n = llm_segment_rows(g, true);
        if (n) {
            llm_rms_norm(w->xn + rows * E, w->x + (r + g->first_logit) * E, m->out_norm.data, n, E,
                         hp->rms_eps);
            rows += n;
            wanting++;
            only = g->logits;
        }
        r += g->n;
    }
    if (!rows) return BORN_OK;
    LLM_TRACE("result_norm", -1, w->xn, rows, E);
    /* several sessions' rows land in the FFN scratch (free by now) when they fit there */
    float *buf = only;
    if (wanting > 1)
        buf = rows * V <= (int64_t)w->n_batch * hp->n_ff ? w->gate
                                                         : malloc((size_t)(rows * V) * sizeof *buf);
    if (!buf) return born_error(BORN_ERR_MEMORY, "born_session_eval_batch: out of memory for logits");
    const llm_weight *out = m->output.t ? &m->output : &m->tok_embd;
    float *outs[1] = {buf};
    born_status st = llm_linear_group_rows(w, outs, w->xn, segs, count, true, &out, NULL, 1);
    if (wanting > 1) {
        int64_t at = 0;
        for (int32_t i = 0; i < count; i++) {
            const int32_t n = llm_segment_rows(&segs[i], true);
            if (n && st == BORN_OK)
                memcpy(segs[i].logits, buf + at * V, (size_t)(n * V) * sizeof *buf);
            at += n;
        }
        if (buf != w->gate) free(buf);
    }
    return st;
}

/* Segments of several sessions through the model (see the top of the file and
 * llm_arch.forward_rows): embeddings, norms, weight products, residuals and SwiGLU over all rows;
 * RoPE at each row's own position; the cache per segment, attention as one loop over every
 * segment's heads (each over its own session's cache), SwiGLU per segment (its runs of eight
 * restart at each segment, as they do in a segment's own pass). */
static born_status forward_rows_llama(born_session *w, const llm_segment *segs, int32_t count) {
    const born_model *m = w->model;
    const llm_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, Dq = (int64_t)hp->n_head * hp->head_dim,
                  Dkv = (int64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff;
    born_status st;
    int64_t n = 0; /* the rows of all segments */
    for (int32_t i = 0; i < count; i++) {
        const llm_segment *g = &segs[i];
        for (int32_t t = 0; t < g->n; t++)
            if ((st = llm_get_row(w->x + (n + t) * E, &m->tok_embd, g->tokens[t])) != BORN_OK)
                return st;
        llm_rope_table(w->rope_cs + n * hp->n_rot, hp,
                       m->rope_freqs.t ? (const float *)m->rope_freqs.data : NULL, g->pos, g->n);
        n += g->n;
    }
    LLM_TRACE("embd", -1, w->x, n, E);
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const llm_layer *L = &m->layers[l];
        llm_rms_norm(w->xn, w->x, L->attn_norm.data, n, E, hp->rms_eps);
        LLM_TRACE("attn_norm", l, w->xn, n, E);
        {
            float *outs[3] = {w->q, w->k, w->v};
            const llm_weight *ws[3] = {&L->wq, &L->wk, &L->wv}, *bs[3] = {&L->bq, &L->bk, &L->bv};
            if ((st = llm_linear_group_rows(w, outs, w->xn, segs, count, false, ws, bs, 3)) != BORN_OK)
                return st;
        }
        LLM_TRACE("Qcur_mm", l, w->q, n, Dq);
        LLM_TRACE("Kcur_mm", l, w->k, n, Dkv);
        LLM_TRACE("Vcur", l, w->v, n, Dkv);
        llm_rope_apply(w->q, n, Dq, hp->n_head, hp, w->rope_cs);
        llm_rope_apply(w->k, n, Dkv, hp->n_head_kv, hp, w->rope_cs);
        LLM_TRACE("Qcur", l, w->q, n, Dq);
        LLM_TRACE("Kcur", l, w->k, n, Dkv);
        for (int64_t i = 0, r = 0; i < count; r += segs[i++].n)
            llm_kv_store(segs[i].s, l, w->k + r * Dkv, w->v + r * Dkv, segs[i].n, segs[i].pos);
        st = count == 1 ? llm_attention(segs[0].s, l, w->q, w->att, (int32_t)n, segs[0].pos)
                        : llm_attention_rows(segs, count, l, w->q, w->att);
        if (st != BORN_OK) return st;
        LLM_TRACE("kqv_out", l, w->att, n, Dq);
        /* x += att Wo: the product goes to xn, then is added */
        {
            float *outs[1] = {w->xn};
            const llm_weight *ws[1] = {&L->wo}, *bs[1] = {&L->bo};
            if ((st = llm_linear_group_rows(w, outs, w->att, segs, count, false, ws, bs, 1)) != BORN_OK)
                return st;
        }
        LLM_TRACE("attn_out", l, w->xn, n, E);
        for (int64_t i = 0; i < n * E; i++) w->x[i] += w->xn[i];
        LLM_TRACE("ffn_inp", l, w->x, n, E);
        llm_rms_norm(w->xn, w->x, L->ffn_norm.data, n, E, hp->rms_eps);
        LLM_TRACE("ffn_norm", l, w->xn, n, E);
        {
            float *outs[2] = {w->gate, w->up};
            const llm_weight *ws[2] = {&L->w_gate, &L->w_up};
            if ((st = llm_linear_group_rows(w, outs, w->xn, segs, count, false, ws, NULL, 2)) != BORN_OK)
                return st;
        }
        LLM_TRACE("ffn_gate", l, w->gate, n, F);
        LLM_TRACE("ffn_up", l, w->up, n, F);
        for (int64_t i = 0, r = 0; i < count; r += segs[i++].n)
            llm_swiglu(w->gate + r * F, w->up + r * F, segs[i].n * F);
        LLM_TRACE("ffn_swiglu", l, w->gate, n, F);
        {
            float *outs[1] = {w->xn};
            const llm_weight *ws[1] = {&L->w_down};
            if ((st = llm_linear_group_rows(w, outs, w->gate, segs, count, false, ws, NULL, 1)) != BORN_OK)
                return st;
        }
        LLM_TRACE("ffn_out", l, w->xn, n, E);
        for (int64_t i = 0; i < n * E; i++) w->x[i] += w->xn[i];
        LLM_TRACE("l_out", l, w->x, n, E);
    }
    return output_rows(w, segs, count);
}

/* One batch through the model: one segment of forward_rows_llama, or one token (decoding) as one
 * parallel region for the whole token, which gives the same bits. */
static born_status forward_llama(born_session *s, const int32_t *tokens, int32_t n, int32_t pos,
                                 float *logits, int32_t first_logit) {
    if (n == 1 && !llm_trace_hook && llm_decode_usable(s))
        return llm_decode_llama(s, tokens[0], pos, logits && first_logit == 0 ? logits : NULL);
    const llm_segment seg = {s, tokens, n, pos, first_logit, logits};
    return forward_rows_llama(s, &seg, 1);
}

const llm_arch llm_arch_llama = {"llama", LLM_ROPE_NORM, load_llama, forward_llama, forward_rows_llama};
const llm_arch llm_arch_mistral = {"mistral", LLM_ROPE_NORM, load_llama, forward_llama, forward_rows_llama};
const llm_arch llm_arch_qwen2 = {"qwen2", LLM_ROPE_NEOX, load_llama, forward_llama, forward_rows_llama};
