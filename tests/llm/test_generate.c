/* born_generate on the tiny random model: greedy output is deterministic and is exactly what the
 * callback streamed; stop strings cut the text before them (nothing of them is streamed); the
 * callback, max_tokens and a full context stop generation; a prompt longer than the context is
 * refused before anything is evaluated; generation continues a session. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tensor_file_test.h"
#include "llm/generate_compare.h"
#include "llm/tiny_llama.h"

typedef struct stream {
    char text[4096];
    size_t len;
    int32_t ids[512];
    int calls, stop_after;
} stream;

static bool on_token(int32_t id, const char *piece, size_t len, void *user) {
    stream *s = user;
    if (s->len + len < sizeof s->text) {
        memcpy(s->text + s->len, piece, len);
        s->len += len;
        s->text[s->len] = 0;
    }
    if (s->calls < 512) s->ids[s->calls] = id;
    s->calls++;
    return s->stop_after <= 0 || s->calls < s->stop_after;
}

static born_model *tiny_model(const char **path) {
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_Q8_0;
    o.seed = 99;
    *path = tft_path("gen.gguf");
    if (!tiny_llama_write(*path, &o)) return NULL;
    return born_model_load(*path, NULL);
}

TEST(generate_greedy_stream_and_stops) {
    const char *path;
    born_model *m = tiny_model(&path);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    born_session *s = born_session_new(m, NULL);
    born_generate_params gp = born_generate_default_params();
    gp.max_tokens = 40;
    stream a;
    memset(&a, 0, sizeof a);
    gp.on_token = on_token;
    gp.user = &a;
    born_generate_result r1, r2;
    CHECK_OK(born_generate(s, NULL, "the cat in a hat", &gp, &r1));
    CHECK(r1.n_prompt > 3);
    CHECK(r1.n_generated >= 1 && r1.n_generated <= 40);
    CHECK(r1.stop_reason == BORN_STOP_MAX_TOKENS || r1.stop_reason == BORN_STOP_EOG);
    CHECK(r1.text && r1.text_len == strlen(r1.text));
    CHECK(r1.text_len == a.len && memcmp(r1.text, a.text, a.len) == 0);
    CHECK_EQ_INT(born_session_pos(s), r1.n_prompt + r1.n_generated - 1);
    /* the text is the streamed tokens' pieces */
    int n_ids = a.calls < 512 ? a.calls : 512;
    char joined[4096] = "";
    size_t jl = 0;
    for (int i = 0; i < n_ids && a.ids[i] >= 0; i++) {
        size_t pl;
        const char *pc = born_tokenizer_token_to_piece(born_model_tokenizer(m), a.ids[i], false, &pl);
        if (pc && jl + pl < sizeof joined) {
            memcpy(joined + jl, pc, pl);
            jl += pl;
        }
    }
    CHECK(jl == r1.text_len && memcmp(joined, r1.text, jl) == 0);

    /* deterministic */
    CHECK_OK(born_session_rollback(s, 0));
    stream b;
    memset(&b, 0, sizeof b);
    gp.user = &b;
    CHECK_OK(born_generate(s, NULL, "the cat in a hat", &gp, &r2));
    CHECK(r2.text_len == r1.text_len && strcmp(r2.text, r1.text) == 0);
    born_generate_result_clear(&r2);
    CHECK(r2.text == NULL);

    /* a stop string from the middle of that text: the output ends just before it */
    if (r1.text_len >= 6) {
        size_t at = r1.text_len / 2;
        char stop[4];
        memcpy(stop, r1.text + at, 3);
        stop[3] = 0;
        const char *first = strstr(r1.text, stop);
        size_t want = (size_t)(first - r1.text);
        const char *stops[2] = {"@@never@@", stop};
        gp.stop = stops;
        gp.n_stop = 2;
        stream c;
        memset(&c, 0, sizeof c);
        gp.user = &c;
        CHECK_OK(born_session_rollback(s, 0));
        CHECK_OK(born_generate(s, NULL, "the cat in a hat", &gp, &r2));
        CHECK(r2.stop_reason == BORN_STOP_STRING);
        CHECK_EQ_INT(r2.text_len, want);
        CHECK(memcmp(r2.text, r1.text, want) == 0);
        CHECK(c.len == want && memcmp(c.text, r1.text, want) == 0);
        born_generate_result_clear(&r2);
        gp.stop = NULL;
        gp.n_stop = 0;
    }

    /* the callback stops it */
    stream d;
    memset(&d, 0, sizeof d);
    d.stop_after = 3;
    gp.user = &d;
    CHECK_OK(born_session_rollback(s, 0));
    CHECK_OK(born_generate(s, NULL, "the cat in a hat", &gp, &r2));
    if (r1.n_generated > 3 && r1.stop_reason == BORN_STOP_MAX_TOKENS) {
        CHECK(r2.stop_reason == BORN_STOP_CALLBACK);
        CHECK_EQ_INT(r2.n_generated, 3);
    }
    born_generate_result_clear(&r2);

    /* max_tokens 0 */
    gp.max_tokens = 0;
    gp.on_token = NULL;
    CHECK_OK(born_session_rollback(s, 0));
    CHECK_OK(born_generate(s, NULL, "the", &gp, &r2));
    CHECK_EQ_INT(r2.n_generated, 0);
    CHECK(r2.stop_reason == BORN_STOP_MAX_TOKENS);
    CHECK(r2.text && r2.text_len == 0);
    born_generate_result_clear(&r2);

    /* continuing with an empty prompt: the next tokens are those the first run generated */
    if (r1.stop_reason == BORN_STOP_MAX_TOKENS) {
        CHECK_OK(born_session_rollback(s, 0));
        gp.max_tokens = 5;
        born_generate_result x, y;
        CHECK_OK(born_generate(s, NULL, "the cat in a hat", &gp, &x));
        gp.max_tokens = 35;
        CHECK_OK(born_generate(s, NULL, "", &gp, &y));
        CHECK_EQ_INT(y.n_prompt, 0);
        CHECK(x.text_len + y.text_len == r1.text_len);
        CHECK(memcmp(x.text, r1.text, x.text_len) == 0);
        CHECK(memcmp(y.text, r1.text + x.text_len, y.text_len) == 0);
        born_generate_result_clear(&x);
        born_generate_result_clear(&y);
    }
    born_generate_result_clear(&r1);
    born_session_free(s);
    born_model_free(m);
    unlink(path);
}

TEST(generate_context_limits) {
    const char *path;
    born_model *m = tiny_model(&path);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    born_session_params sp = born_session_default_params();
    sp.n_ctx = 12;
    born_session *s = born_session_new(m, &sp);
    born_generate_params gp = born_generate_default_params();
    gp.max_tokens = -1;
    born_generate_result r;
    /* a prompt longer than the context: refused, nothing evaluated */
    CHECK(born_generate(s, NULL, "the cat in a hat sat on the mat with the hat", &gp, &r) ==
          BORN_ERR_ARGUMENT);
    const char *e = born_last_error();
    CHECK_MSG(e && strstr(e, "the context of 12 tokens"), "%s", e);
    born_clear_error();
    CHECK_EQ_INT(born_session_pos(s), 0);
    /* generation until the context is full (or an end-of-generation token) */
    CHECK_OK(born_generate(s, NULL, "the cat", &gp, &r));
    CHECK(r.stop_reason == BORN_STOP_CONTEXT || r.stop_reason == BORN_STOP_EOG);
    if (r.stop_reason == BORN_STOP_CONTEXT) CHECK_EQ_INT(born_session_pos(s), 12);
    born_generate_result_clear(&r);
    CHECK(born_generate(s, NULL, NULL, &gp, &r) == BORN_ERR_ARGUMENT);
    born_clear_error();
    CHECK_OK(born_session_rollback(s, 0));
    gp.add_bos = false;
    CHECK(born_generate(s, NULL, "", &gp, &r) == BORN_ERR_ARGUMENT); /* nothing to start from */
    born_clear_error();
    born_session_free(s);
    born_model_free(m);
    unlink(path);
}

/* Greedy tokens chosen ahead in chunks (what a GPU session does) give exactly the one-token
 * loop's text, stops, cache position and continuation, at several chunk limits. */
TEST(generate_greedy_ahead_matches_one_token_loop) {
    const char *path;
    born_model *m = tiny_model(&path);
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    born_session *s = born_session_new(m, NULL);
    static const int32_t aheads[] = {3, 64};
    for (size_t i = 0; i < sizeof aheads / sizeof *aheads; i++)
        CHECK(generate_ahead_compare(s, aheads[i]) >= 20);
    born_session_free(s);
    born_model_free(m);
    unlink(path);
}
