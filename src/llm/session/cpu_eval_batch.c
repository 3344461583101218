/* Several sessions of one CPU model in shared forward passes (born_session_eval_batch): each
 * session's tokens are cut into the chunks born_session_eval would run (its own n_batch), and the
 * chunks of all sessions fill passes of llm_arch.forward_rows in order, a chunk that does not fit
 * the rest of a pass starting the next one. Since every chunk runs whole, at its own positions,
 * each session gets the logits of its own evaluation bit for bit, while each pass reads the weights
 * once for all its rows. The scratch is that of the session with the largest n_batch, so that
 * every chunk fits one pass and nothing is allocated but the pass's list of chunks. */
#include <stdlib.h>

#include "core/error.h"
#include "llm/model/model_internal.h"

/* Runs the chunks of one pass: a lone chunk through llm_arch.forward, as born_session_eval runs
 * it (a decoding token then takes the one-token path), several through forward_rows. */
static born_status run_pass(born_session *w, const llm_segment *segs, int32_t count) {
    const llm_arch *a = w->model->arch;
    if (count == 1)
        return a->forward(segs[0].s, segs[0].tokens, segs[0].n, segs[0].pos, segs[0].logits,
                          segs[0].first_logit);
    return a->forward_rows(w, segs, count);
}

born_status llm_cpu_eval_batch(born_session *const *ss, const int32_t *const *tokens,
                               const int32_t *n, int32_t count, float *const *logits) {
    born_session *w = ss[0];
    for (int32_t i = 1; i < count; i++)
        if (ss[i]->n_batch > w->n_batch) w = ss[i];
    const int32_t cap = w->n_batch;
    llm_segment *segs = malloc((size_t)cap * sizeof *segs); /* a chunk has at least one row */
    if (!segs) return born_error(BORN_ERR_MEMORY, "born_session_eval_batch: out of memory");
    born_status st = BORN_OK;
    int32_t n_seg = 0, rows = 0;
    for (int32_t i = 0; i < count && st == BORN_OK; i++) {
        born_session *s = ss[i];
        for (int32_t done = 0; done < n[i] && st == BORN_OK; done += s->n_batch) {
            const int32_t nb = n[i] - done < s->n_batch ? n[i] - done : s->n_batch;
            const bool last = done + nb == n[i];
            if (rows + nb > cap) {
                st = run_pass(w, segs, n_seg);
                n_seg = rows = 0;
            }
            float *out = last && logits ? logits[i] : NULL;
            segs[n_seg++] =
                (llm_segment){s, tokens[i] + done, nb, s->pos + done, out ? nb - 1 : nb, out};
            rows += nb;
        }
    }
    if (st == BORN_OK && n_seg) st = run_pass(w, segs, n_seg);
    free(segs);
    return st;
}
