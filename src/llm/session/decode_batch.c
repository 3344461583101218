/* born_session_decode_greedy_batch: several sessions decoded greedily together, one forward pass
 * a step for all of them. A device model whose decoder has decode_greedy_batch chooses the tokens
 * on the device (llm_device_decode_greedy_batch: the host waits once a group of passes); one
 * session alone takes born_session_decode_greedy (on a GPU its CUDA graph); otherwise each step
 * is a born_session_eval_batch with the first largest logit of each session taken on the host,
 * in groups of GROUP sessions so the logits stay small. Either way every session's tokens are
 * those of born_session_eval_batch steps with an argmax, bit for bit. */
#include <stdlib.h>
#include <string.h>

#include "born/llm.h"
#include "core/error.h"
#include "llm/model/model_internal.h"

enum { GROUP = 64 };

static const char *const WHAT = "born_session_decode_greedy_batch";

/* The host loop for sessions[0..count): n steps of born_session_eval_batch. */
static born_status host_steps(born_session *const *sessions, const int32_t *tokens, int32_t n,
                              int32_t count, int32_t *out) {
    const size_t V = (size_t)sessions[0]->model->hp.n_vocab;
    float *logits = malloc((size_t)count * V * sizeof *logits);
    float **rows = malloc((size_t)count * sizeof *rows);
    const int32_t **tk = malloc((size_t)count * sizeof *tk);
    int32_t *cur = malloc((size_t)count * sizeof *cur), *ones = malloc((size_t)count * sizeof *ones);
    born_status st = BORN_OK;
    if (!logits || !rows || !tk || !cur || !ones)
        st = born_error(BORN_ERR_MEMORY, "%s: out of memory for %d sessions' logits", WHAT,
                        (int)count);
    for (int32_t i = 0; i < count && st == BORN_OK; i++) {
        rows[i] = logits + (size_t)i * V;
        tk[i] = &cur[i];
        cur[i] = tokens[i];
        ones[i] = 1;
    }
    for (int32_t t = 0; t < n && st == BORN_OK; t++) {
        st = born_session_eval_batch(sessions, tk, ones, count, rows);
        for (int32_t i = 0; i < count && st == BORN_OK; i++) {
            int32_t best = 0;
            for (size_t v = 1; v < V; v++)
                if (rows[i][v] > rows[i][best]) best = (int32_t)v;
            out[(size_t)i * n + t] = cur[i] = best;
        }
    }
    free(logits);
    free(rows);
    free(tk);
    free(cur);
    free(ones);
    return st;
}

born_status born_session_decode_greedy_batch(born_session *const *sessions,
                                             const int32_t *tokens, int32_t n, int32_t count,
                                             int32_t *out) {
    if (!sessions || !tokens || !out)
        return born_error(BORN_ERR_ARGUMENT, "%s: %s is NULL", WHAT,
                          !sessions ? "sessions"
                          : !tokens ? "tokens"
                                    : "out");
    if (count < 1 || count > BORN_SESSION_BATCH_MAX)
        return born_error(BORN_ERR_ARGUMENT, "%s: %d sessions (1 to %d)", WHAT, (int)count,
                          (int)BORN_SESSION_BATCH_MAX);
    born_status st = BORN_OK;
    for (int32_t i = 0; i < count && st == BORN_OK; i++)
        st = llm_batch_check_session(sessions, &tokens[i], 1, n, i, WHAT);
    if (st == BORN_OK) st = llm_batch_check_distinct(sessions, count, WHAT);
    if (st != BORN_OK) return st;
    const born_model *m = sessions[0]->model;
    if (count == 1) return born_session_decode_greedy(sessions[0], tokens[0], n, out);
    int32_t *start = malloc((size_t)count * sizeof *start);
    if (!start) return born_error(BORN_ERR_MEMORY, "%s: out of memory", WHAT);
    for (int32_t i = 0; i < count; i++)
        start[i] = sessions[i]->pos;
    if (m->dev_model && m->dev_ops->decode_greedy_batch) {
        st = llm_device_decode_greedy_batch(sessions, tokens, n, count, out);
        for (int32_t i = 0; i < count && st == BORN_OK; i++) {
            born_session *s = sessions[i];
            s->tokens[s->pos] = tokens[i];
            memcpy(s->tokens + s->pos + 1, out + (size_t)i * n, (size_t)(n - 1) * sizeof *out);
            s->pending = -1;
            s->pos += n;
        }
    } else {
        for (int32_t g = 0; g < count && st == BORN_OK; g += GROUP)
            st = host_steps(sessions + g, tokens + g, n, count - g < GROUP ? count - g : GROUP,
                            out + (size_t)g * n);
    }
    if (st != BORN_OK) /* nothing appended: the host loop's finished steps are rolled back (the
                        * device path moves no position until every group has run) */
        for (int32_t i = 0; i < count; i++)
            if (sessions[i]->pos != start[i]) (void)born_session_rollback(sessions[i], start[i]);
    free(start);
    return st;
}
