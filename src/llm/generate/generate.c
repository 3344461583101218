/* Generation: prompt -> tokens -> the session, then sample, stream and feed back until a stop.
 *
 * Each token's text is its piece (born_tokenizer_token_to_piece, as llama.cpp streams it), held
 * back while it ends inside a UTF-8 character and while it could still be the start of a stop
 * string: after each token, a stop string found in the unemitted text ends generation (the text
 * before it is emitted, the stop string and what follows are not); otherwise everything is
 * emitted except an incomplete character and the longest tail that is a prefix of some stop
 * string, which wait for the next token.
 *
 * The last sampled token is not evaluated when generation stops (as llama.cpp, that would cost a
 * forward pass nobody uses); it stays pending in the session and is evaluated first by the next
 * born_generate on it, so a conversation continues exactly.
 *
 * Greedy generation on a device session (no sampler) does not bring each token's logits back:
 * it runs ahead in chunks through born_session_decode_greedy (the argmax chosen on the device, the
 * host waiting once a chunk), then streams the chunk's tokens one by one as above; where a stop
 * comes inside a chunk the session is rolled back to the stopping token, so the cache, the pending
 * token and the text are those of the one-token loop. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/llm.h"
#include "core/error.h"
#include "llm/model/model_internal.h"

born_generate_params born_generate_default_params(void) {
    born_generate_params p;
    memset(&p, 0, sizeof p);
    p.max_tokens = 256;
    p.add_bos = true;
    p.parse_special = true;
    return p;
}

void born_generate_result_clear(born_generate_result *r) {
    if (!r) return;
    free(r->text);
    memset(r, 0, sizeof *r);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct gen_text {
    char *pending; /* detokenized, not yet emitted */
    size_t pending_len, pending_cap;
    char *out; /* emitted */
    size_t out_len, out_cap;
} gen_text;

static born_status append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1) c *= 2;
        char *b = realloc(*buf, c);
        if (!b) return born_error(BORN_ERR_MEMORY, "born_generate: out of memory");
        *buf = b;
        *cap = c;
    }
    if (n) memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return BORN_OK;
}

/* Where the first stop string starts in text (len if none) and, through *hold, how many bytes
 * at the end of text could still begin a stop string. */
static size_t find_stop(const char *text, size_t len, const born_generate_params *p, size_t *hold) {
    size_t first = len;
    *hold = 0;
    for (int32_t i = 0; i < p->n_stop; i++) {
        const char *st = p->stop[i];
        size_t sl = st ? strlen(st) : 0;
        if (!sl) continue;
        for (size_t at = 0; at + sl <= len && at < first; at++)
            if (memcmp(text + at, st, sl) == 0) {
                first = at;
                break;
            }
        size_t maxk = sl - 1 < len ? sl - 1 : len;
        for (size_t k = maxk; k > *hold; k--)
            if (memcmp(text + len - k, st, k) == 0) {
                *hold = k;
                break;
            }
    }
    return first;
}

/* Emits pending[0..n) through the callback; returns false when the callback asks to stop. */
static born_status emit(gen_text *g, int32_t id, size_t n, const born_generate_params *p,
                        bool *stop) {
    born_status st = append(&g->out, &g->out_len, &g->out_cap, g->pending, n);
    if (st != BORN_OK) return st;
    if (p->on_token && !p->on_token(id, g->pending, n, p->user)) *stop = true;
    memmove(g->pending, g->pending + n, g->pending_len - n);
    g->pending_len -= n;
    return BORN_OK;
}

/* How many bytes at the end of text[0..len) are an incomplete UTF-8 sequence (0..3). */
static size_t utf8_incomplete_tail(const char *text, size_t len) {
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = (unsigned char)text[len - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

/* Tokens chosen ahead on the device: buf[next..n) are not yet streamed; buf[j] is the choice
 * after the token at position base + j (base: where the chunk's first token was evaluated). */
typedef struct greedy_ahead {
    int32_t buf[LLM_GREEDY_AHEAD_MAX];
    int32_t n, next, base, chunk;
} greedy_ahead;

/* The position the one-token loop would be at after taking the token last returned. */
static int32_t ahead_pos(const born_session *s, const greedy_ahead *a) {
    return a->n > 0 ? a->base + a->next : s->pos;
}

/* Evaluates id (the token just streamed) and chooses the next ones on the device: a chunk that
 * starts at 4 tokens and doubles up to the session's limit, never past max_left tokens (> 0) or
 * the context. */
static born_status ahead_fill(born_session *s, greedy_ahead *a, int32_t id, int32_t max_left) {
    int32_t k = a->chunk < s->greedy_ahead ? a->chunk : s->greedy_ahead;
    if (k > max_left) k = max_left;
    if (k > s->n_ctx - s->pos) k = s->n_ctx - s->pos;
    if (k < 1) k = 1;
    a->base = s->pos;
    born_status st = born_session_decode_greedy(s, id, k, a->buf);
    if (st != BORN_OK) return st;
    a->n = k;
    a->next = 0;
    if (a->chunk < LLM_GREEDY_AHEAD_MAX) a->chunk *= 2;
    return BORN_OK;
}

/* Rolls a session that ran ahead back to where the one-token loop stops. */
static born_status ahead_settle(born_session *s, const greedy_ahead *a) {
    if (a->n == 0 || s->pos == ahead_pos(s, a)) return BORN_OK;
    return born_session_rollback(s, ahead_pos(s, a));
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

born_status born_generate(born_session *s, born_sampler *sampler, const char *prompt,
                          const born_generate_params *params, born_generate_result *result) {
    if (!s || (!prompt && !(params && params->tokens)))
        return born_error(BORN_ERR_ARGUMENT, "born_generate: %s is NULL", !s ? "session" : "prompt");
    const born_model *m = s->model;
    const born_tokenizer *tok = m->tok;
    if (!tok) return born_error(BORN_ERR_ARGUMENT, "born_generate: the model has no tokenizer");
    born_generate_params p = params ? *params : born_generate_default_params();
    if (p.n_stop < 0 || (p.n_stop > 0 && !p.stop))
        return born_error(BORN_ERR_ARGUMENT, "born_generate: bad stop strings");
    const int32_t V = m->hp.n_vocab;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    float *logits = NULL;
    gen_text g;
    memset(&g, 0, sizeof g);
    born_generate_result r;
    memset(&r, 0, sizeof r);
    const int32_t pending = s->pending;
    bool bos = p.add_bos && s->pos == 0 && pending < 0;
    born_status st;
    greedy_ahead a = {.chunk = 4}; /* tokens chosen ahead on a device (a.n == 0: none yet) */
    if (p.tokens) {
        if (p.n_tokens < 0)
            return born_error(BORN_ERR_ARGUMENT, "born_generate: n_tokens %d is negative",
                              (int)p.n_tokens);
        ids = malloc(((size_t)p.n_tokens + 1) * sizeof *ids);
        if (!ids) return born_error(BORN_ERR_MEMORY, "born_generate: out of memory");
        memcpy(ids, p.tokens, (size_t)p.n_tokens * sizeof *ids);
        n_ids = (size_t)p.n_tokens;
    } else {
        st = born_tokenizer_encode(tok, prompt, strlen(prompt), bos, p.parse_special, &ids, &n_ids);
        if (st != BORN_OK) return st;
        int32_t *grown = realloc(ids, (n_ids + 1) * sizeof *ids);
        if (!grown) {
            free(ids);
            return born_error(BORN_ERR_MEMORY, "born_generate: out of memory");
        }
        ids = grown;
    }
    if (pending >= 0) { /* the token the last generation sampled but did not evaluate */
        memmove(ids + 1, ids, n_ids * sizeof *ids);
        ids[0] = pending;
        n_ids++;
    }
    if (n_ids == 0 && s->pos == 0) {
        st = born_error(BORN_ERR_ARGUMENT, "born_generate: the prompt is empty");
        goto done;
    }
    if ((int64_t)n_ids > (int64_t)s->n_ctx - s->pos) {
        st = born_error(BORN_ERR_ARGUMENT,
                        "born_generate: the prompt has %zu tokens; at position %d the context of "
                        "%d tokens holds %d more", n_ids, (int)s->pos, (int)s->n_ctx,
                        (int)(s->n_ctx - s->pos));
        goto done;
    }
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            st = born_error(BORN_ERR_ARGUMENT, "born_generate: prompt token %d is outside the "
                            "vocabulary [0, %d)", (int)ids[i], (int)V);
            goto done;
        }
    logits = malloc((size_t)V * sizeof *logits);
    if (!logits) {
        st = born_error(BORN_ERR_MEMORY, "born_generate: out of memory");
        goto done;
    }
    double t0 = now_ms();
    if (n_ids == 0) { /* continue from the cache: recompute the last position's logits */
        int32_t last = s->tokens[s->pos - 1];
        if ((st = born_session_rollback(s, s->pos - 1)) != BORN_OK ||
            (st = born_session_eval(s, &last, 1, logits, false)) != BORN_OK)
            goto done;
    } else if ((st = born_session_eval(s, ids, (int32_t)n_ids, logits, false)) != BORN_OK) {
        goto done;
    }
    s->pending = -1;
    if (sampler) /* the prompt counts for the penalties, as in llama.cpp (not the pending token,
                  * which was accepted when it was sampled) */
        for (size_t i = pending >= 0 ? 1 : 0; i < n_ids; i++) born_sampler_accept(sampler, ids[i]);
    double t1 = now_ms();
    r.n_prompt = (int32_t)n_ids - (pending >= 0);
    r.prompt_ms = t1 - t0;
    bool stop = false;
    /* greedy on a device: choose ahead there */
    const bool run_ahead = !sampler && s->greedy_ahead > 1;
    if (p.max_tokens == 0) r.stop_reason = BORN_STOP_MAX_TOKENS;
    while (p.max_tokens != 0) {
        int32_t id = a.n > 0   ? a.buf[a.next++]
                     : sampler ? born_sampler_sample(sampler, logits)
                               : argmax(logits, V);
        if (id < 0) {
            st = born_last_status();
            goto done;
        }
        if (sampler) born_sampler_accept(sampler, id);
        r.n_generated++;
        if (born_tokenizer_is_eog(tok, id)) {
            r.stop_reason = BORN_STOP_EOG;
            if ((st = ahead_settle(s, &a)) != BORN_OK) goto done;
            break;
        }
        size_t plen;
        const char *piece = born_tokenizer_token_to_piece(tok, id, p.special_output, &plen);
        if (!piece) {
            st = born_last_status();
            goto done;
        }
        if ((st = append(&g.pending, &g.pending_len, &g.pending_cap, piece, plen)) != BORN_OK)
            goto done;
        size_t hold, at = find_stop(g.pending, g.pending_len, &p, &hold);
        if (at < g.pending_len) {
            if ((st = emit(&g, id, at, &p, &stop)) != BORN_OK) goto done;
            r.stop_reason = BORN_STOP_STRING;
            if ((st = ahead_settle(s, &a)) != BORN_OK) goto done;
            s->pending = id;
            break;
        }
        size_t partial = utf8_incomplete_tail(g.pending, g.pending_len);
        if (partial > hold) hold = partial;
        if ((st = emit(&g, id, g.pending_len - hold, &p, &stop)) != BORN_OK) goto done;
        const int32_t pos = ahead_pos(s, &a);
        if (stop || (p.max_tokens > 0 && r.n_generated >= p.max_tokens) || pos >= s->n_ctx) {
            r.stop_reason = stop ? BORN_STOP_CALLBACK
                            : pos >= s->n_ctx && !(p.max_tokens > 0 && r.n_generated >= p.max_tokens)
                                ? BORN_STOP_CONTEXT
                                : BORN_STOP_MAX_TOKENS;
            if ((st = ahead_settle(s, &a)) != BORN_OK) goto done;
            s->pending = id;
            break;
        }
        if (run_ahead) {
            if (a.next == a.n) { /* the chunk's last choice was not evaluated: the next chunk */
                int32_t left = p.max_tokens > 0 ? p.max_tokens - r.n_generated : INT32_MAX;
                if ((st = ahead_fill(s, &a, id, left)) != BORN_OK) goto done;
            }
        } else if ((st = born_session_eval(s, &id, 1, logits, false)) != BORN_OK) {
            goto done;
        }
    }
    if (r.stop_reason != BORN_STOP_STRING && r.stop_reason != BORN_STOP_CALLBACK &&
        g.pending_len > 0) {
        /* held-back bytes (an incomplete character, the start of a stop string) go out now */
        bool ignored = false;
        if ((st = emit(&g, -1, g.pending_len, &p, &ignored)) != BORN_OK) goto done;
    }
    r.generate_ms = now_ms() - t1;
    if (!g.out && (st = append(&g.out, &g.out_len, &g.out_cap, "", 0)) != BORN_OK) goto done;
    r.text = g.out;
    r.text_len = g.out_len;
    g.out = NULL;
    if (result) *result = r;
    else free(r.text);
done:
    /* an error inside a chunk chosen ahead: the cache back to what was streamed */
    if (st != BORN_OK && a.n > 0 && s->pos > ahead_pos(s, &a)) s->pos = ahead_pos(s, &a);
    free(ids);
    free(logits);
    free(g.pending);
    free(g.out);
    return st;
}
