/* born_session_eval_batch: several sessions of one model evaluated together. Everything is
 * validated before anything runs (the sessions, their model, duplicates, every token id, each
 * session's room), so an argument error appends nothing. A device model runs them through
 * llm_device_eval_batch (device_eval.c), a CPU one through llm_cpu_eval_batch (cpu_eval_batch.c):
 * either way one forward pass takes many sessions' rows and reads the weights once for all of
 * them; on the CPU each session's logits are those of born_session_eval bit for bit. Positions
 * and cached tokens move only once every pass has run, and a pending generation token is dropped
 * as born_session_eval drops it. */
#include <stdlib.h>
#include <string.h>

#include "born/llm.h"
#include "core/error.h"
#include "llm/model/model_internal.h"

/* Whether sessions[0..count) are distinct (*dup: the later index of a repeated one). */
static bool distinct(born_session *const *sessions, int32_t count, int32_t *dup) {
    const born_session **sorted = malloc((size_t)count * sizeof *sorted);
    if (!sorted) { /* without memory: the quadratic scan */
        for (int32_t i = 1; i < count; i++)
            for (int32_t j = 0; j < i; j++)
                if (sessions[i] == sessions[j]) return *dup = i, false;
        return true;
    }
    for (int32_t i = 0; i < count; i++)
        sorted[i] = sessions[i];
    /* insertion sort by address: count is at most BORN_SESSION_BATCH_MAX */
    for (int32_t i = 1; i < count; i++) {
        const born_session *v = sorted[i];
        int32_t j = i;
        for (; j > 0 && (uintptr_t)sorted[j - 1] > (uintptr_t)v; j--)
            sorted[j] = sorted[j - 1];
        sorted[j] = v;
    }
    const born_session *twice = NULL;
    for (int32_t i = 1; i < count && !twice; i++)
        if (sorted[i] == sorted[i - 1]) twice = sorted[i];
    free(sorted);
    if (!twice) return true;
    for (int32_t i = count - 1; i >= 0; i--)
        if (sessions[i] == twice) return *dup = i, false;
    return false;
}

born_status llm_batch_check_session(born_session *const *sessions, const int32_t *tokens,
                                   int32_t given, int32_t n, int32_t i, const char *what) {
    const born_session *s = sessions[i];
    if (!s || !tokens)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s %d is NULL", what,
                          !s ? "session" : "tokens of session", (int)i);
    if (s->model != sessions[0]->model)
        return born_error(BORN_ERR_ARGUMENT,
                          "%s: session %d belongs to another model than session 0's (one batch, "
                          "one model)",
                          what, (int)i);
    const int32_t V = s->model->hp.n_vocab;
    if (n <= 0)
        return born_error(BORN_ERR_ARGUMENT, "%s: session %d has %d tokens (need at least 1)",
                          what, (int)i, (int)n);
    for (int32_t t = 0; t < given; t++)
        if (tokens[t] < 0 || tokens[t] >= V)
            return born_error(BORN_ERR_ARGUMENT,
                              "%s: token %d (session %d, index %d) is outside the vocabulary "
                              "[0, %d)",
                              what, (int)tokens[t], (int)i, (int)t, (int)V);
    if (n > s->n_ctx - s->pos)
        return born_error(BORN_ERR_ARGUMENT,
                          "%s: %d tokens at position %d do not fit session %d's context of %d "
                          "tokens",
                          what, (int)n, (int)s->pos, (int)i, (int)s->n_ctx);
    return BORN_OK;
}

born_status llm_batch_check_distinct(born_session *const *sessions, int32_t count,
                                     const char *what) {
    int32_t dup = 0;
    if (distinct(sessions, count, &dup)) return BORN_OK;
    return born_error(BORN_ERR_ARGUMENT,
                      "%s: session %d appears twice (a session evaluates its tokens once a batch)",
                      what, (int)dup);
}

born_status born_session_eval_batch(born_session *const *sessions, const int32_t *const *tokens,
                                    const int32_t *n_tokens, int32_t count, float *const *logits) {
    if (!sessions || !tokens || !n_tokens)
        return born_error(BORN_ERR_ARGUMENT, "born_session_eval_batch: %s is NULL",
                          !sessions ? "sessions"
                          : !tokens ? "tokens"
                                    : "n_tokens");
    const char *what = "born_session_eval_batch";
    if (count < 1 || count > BORN_SESSION_BATCH_MAX)
        return born_error(BORN_ERR_ARGUMENT, "%s: %d sessions (1 to %d)", what, (int)count,
                          (int)BORN_SESSION_BATCH_MAX);
    born_status st = BORN_OK;
    for (int32_t i = 0; i < count && st == BORN_OK; i++)
        st = llm_batch_check_session(sessions, tokens[i], n_tokens[i], n_tokens[i], i, what);
    if (st == BORN_OK) st = llm_batch_check_distinct(sessions, count, what);
    if (st != BORN_OK) return st;
    const born_model *m = sessions[0]->model;
    st = m->dev_model ? llm_device_eval_batch(sessions, tokens, n_tokens, count, logits)
                                  : llm_cpu_eval_batch(sessions, tokens, n_tokens, count, logits);
    if (st != BORN_OK) return st; /* no position has moved */
    for (int32_t i = 0; i < count; i++) {
        born_session *s = sessions[i];
        memcpy(s->tokens + s->pos, tokens[i], (size_t)n_tokens[i] * sizeof *tokens[i]);
        s->pending = -1;
        s->pos += n_tokens[i];
    }
    return BORN_OK;
}
