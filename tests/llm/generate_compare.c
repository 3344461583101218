/* born_generate choosing greedy tokens ahead against the one-token loop (generate_compare.h). */
#include "llm/generate_compare.h"

#include <string.h>

#include "llm/model/model_internal.h"
#include "test.h"

typedef struct run_out {
    char text[4096], streamed[4096];
    size_t len, streamed_len;
    int calls, stop_after;
    born_generate_result r;
    int32_t pos;
    char next[1024]; /* what a continuation with an empty prompt generates */
    size_t next_len;
} run_out;

static bool collect(int32_t id, const char *piece, size_t len, void *user) {
    (void)id;
    run_out *o = user;
    if (o->streamed_len + len < sizeof o->streamed) {
        memcpy(o->streamed + o->streamed_len, piece, len);
        o->streamed_len += len;
    }
    o->calls++;
    return o->stop_after <= 0 || o->calls < o->stop_after;
}

/* One scenario on s with choosing-ahead set to ahead: gp's settings, then a continuation. */
static void run_once(born_session *s, int32_t ahead, const char *prompt, born_generate_params gp,
                     int stop_after, run_out *o) {
    memset(o, 0, sizeof *o);
    o->stop_after = stop_after;
    gp.on_token = collect;
    gp.user = o;
    llm_session_set_greedy_ahead(s, ahead);
    CHECK_OK(born_session_rollback(s, 0));
    CHECK_OK(born_generate(s, NULL, prompt, &gp, &o->r));
    if (o->r.text) {
        o->len = o->r.text_len < sizeof o->text - 1 ? o->r.text_len : sizeof o->text - 1;
        memcpy(o->text, o->r.text, o->len);
    }
    o->pos = born_session_pos(s);
    born_generate_params cont = born_generate_default_params();
    cont.max_tokens = 7;
    born_generate_result c;
    if (o->pos < born_session_n_ctx(s) && o->r.stop_reason != BORN_STOP_EOG &&
        born_generate(s, NULL, "", &cont, &c) == BORN_OK) {
        o->next_len = c.text_len < sizeof o->next ? c.text_len : sizeof o->next;
        memcpy(o->next, c.text, o->next_len);
        born_generate_result_clear(&c);
    }
    born_clear_error();
}

/* Compares one scenario with ahead 1 and ahead; returns 1. */
static int compare(born_session *s, int32_t ahead, const char *prompt, born_generate_params gp,
                   int stop_after, const char *what) {
    static run_out a, b; /* large: not on the stack */
    run_once(s, 1, prompt, gp, stop_after, &a);
    run_once(s, ahead, prompt, gp, stop_after, &b);
    CHECK_MSG(a.r.stop_reason == b.r.stop_reason && a.r.n_generated == b.r.n_generated &&
                  a.r.n_prompt == b.r.n_prompt,
              "%s (ahead %d): stop %d/%d, generated %d/%d", what, (int)ahead, a.r.stop_reason,
              b.r.stop_reason, (int)a.r.n_generated, (int)b.r.n_generated);
    CHECK_MSG(a.len == b.len && memcmp(a.text, b.text, a.len) == 0, "%s (ahead %d): text differs",
              what, (int)ahead);
    CHECK_MSG(a.streamed_len == b.streamed_len && memcmp(a.streamed, b.streamed, a.streamed_len) == 0,
              "%s (ahead %d): streamed text differs", what, (int)ahead);
    CHECK_MSG(a.pos == b.pos, "%s (ahead %d): position %d against %d", what, (int)ahead,
              (int)b.pos, (int)a.pos);
    CHECK_MSG(a.next_len == b.next_len && memcmp(a.next, b.next, a.next_len) == 0,
              "%s (ahead %d): the continuation differs", what, (int)ahead);
    born_generate_result_clear(&a.r);
    born_generate_result_clear(&b.r);
    return 1;
}

int generate_ahead_compare(born_session *s, int32_t ahead) {
    const char *prompt = "the cat in a hat";
    int n = 0;
    born_generate_params gp = born_generate_default_params();
    static const int32_t maxes[] = {1, 2, 3, 4, 5, 9, 12, 13, 29, 60};
    for (size_t i = 0; i < sizeof maxes / sizeof *maxes; i++) {
        gp.max_tokens = maxes[i];
        n += compare(s, ahead, prompt, gp, 0, "max_tokens");
    }
    /* stop strings cut from the middle of the long run's text, at several places */
    static run_out ref;
    gp.max_tokens = 60;
    run_once(s, 1, prompt, gp, 0, &ref);
    for (size_t at = 1; at + 3 <= ref.len && at < 60; at += 7) {
        char stop[4];
        memcpy(stop, ref.text + at, 3);
        stop[3] = 0;
        const char *stops[1] = {stop};
        gp.stop = stops;
        gp.n_stop = 1;
        n += compare(s, ahead, prompt, gp, 0, "stop string");
    }
    born_generate_result_clear(&ref.r);
    gp.stop = NULL;
    gp.n_stop = 0;
    static const int stop_after[] = {1, 2, 4, 5, 13};
    for (size_t i = 0; i < sizeof stop_after / sizeof *stop_after; i++)
        n += compare(s, ahead, prompt, gp, stop_after[i], "callback");
    /* a full context */
    born_session_params sp = born_session_default_params();
    sp.n_ctx = 23;
    born_session *small = born_session_new(born_session_model(s), &sp);
    CHECK_MSG(small != NULL, "%s", born_last_error());
    if (small) {
        gp.max_tokens = -1;
        n += compare(small, ahead, prompt, gp, 0, "full context");
        born_session_free(small);
    }
    return n;
}
