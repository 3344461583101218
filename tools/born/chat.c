/* born chat: an interactive conversation with a GGUF model through its chat template (ChatML when
 * the file has none, as llama.cpp falls back). Each turn renders and tokenizes the whole
 * conversation, keeps the KV cache's longest common prefix with it (rolling back the rest) and
 * evaluates only the new tokens, so earlier turns are not evaluated again. Reads one message per
 * line from stdin until end of input or "/exit". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/born/commands.h"
#include "tools/born/llm_opts.h"

static const char chatml[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' "
    "}}{% endif %}";

typedef struct chat_msgs {
    char **role, **content;
    size_t n, cap;
} chat_msgs;

static bool msgs_push(chat_msgs *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        char **r = realloc(c->role, cap * sizeof *r);
        if (!r) return false;
        c->role = r;
        char **t = realloc(c->content, cap * sizeof *t);
        if (!t) return false;
        c->content = t;
        c->cap = cap;
    }
    c->role[c->n] = strdup(role);
    c->content[c->n] = strdup(content);
    if (!c->role[c->n] || !c->content[c->n]) return false;
    c->n++;
    return true;
}

static void msgs_free(chat_msgs *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->role[i]);
        free(c->content[i]);
    }
    free(c->role);
    free(c->content);
}

/* A copy of text with each byte that is not part of a well-formed UTF-8 sequence replaced by
 * U+FFFD (a model can emit any bytes; messages must be valid UTF-8 for the template). */
static char *utf8_sanitize(const char *text, size_t len) {
    char *out = malloc(len * 3 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++) ok = ((unsigned char)text[i + k] & 0xC0) == 0x80;
        if (ok && n > 1) {
            uint32_t cp = c & (0x7F >> n);
            for (size_t k = 1; k < n; k++) cp = (cp << 6) | ((unsigned char)text[i + k] & 0x3F);
            ok = cp >= (n == 2 ? 0x80u : n == 3 ? 0x800u : 0x10000u) && cp <= 0x10FFFF &&
                 !(cp >= 0xD800 && cp <= 0xDFFF);
        }
        if (ok) {
            memcpy(out + o, text + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = 0;
    return out;
}

static const char *special_text(const born_tokenizer *tok, int32_t id) {
    if (id < 0) return NULL;
    return born_tokenizer_token_text(tok, id, NULL);
}

/* Renders the conversation; *out malloc'd. */
static born_status render(const born_chat_template *tmpl, const born_tokenizer *tok,
                          const chat_msgs *c, bool add_gen, char **out) {
    born_json_writer *w = born_json_writer_new(NULL);
    if (!w) return born_last_status();
    born_json_write_begin_array(w);
    for (size_t i = 0; i < c->n; i++) {
        born_json_write_begin_object(w);
        born_json_write_key(w, "role");
        born_json_write_string(w, c->role[i]);
        born_json_write_key(w, "content");
        born_json_write_string(w, c->content[i]);
        born_json_write_end_object(w);
    }
    born_json_write_end_array(w);
    size_t len;
    const char *text = born_json_writer_text(w, &len);
    born_json *doc = text ? born_json_parse(text, len, NULL) : NULL;
    born_json_writer_free(w);
    if (!doc) return born_last_status();
    born_chat_input in;
    memset(&in, 0, sizeof in);
    in.messages = born_json_root(doc);
    in.add_generation_prompt = add_gen;
    in.bos_token = special_text(tok, born_tokenizer_bos(tok));
    in.eos_token = special_text(tok, born_tokenizer_eos(tok));
    size_t out_len;
    born_status st = born_chat_template_apply(tmpl, &in, NULL, out, &out_len);
    born_json_free(doc);
    return st;
}

static bool print_piece(int32_t id, const char *piece, size_t len, void *user) {
    (void)id;
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return true;
}

int cmd_chat(int argc, char **argv) {
    llm_opts o;
    llm_opts_init(&o);
    o.n_predict = -1;
    const char *system = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: born chat -m MODEL [--system TEXT] [options]\n\n%s", llm_opts_usage);
            return 0;
        }
        if (strcmp(argv[i], "--system") == 0 && i + 1 < argc) {
            system = argv[++i];
            continue;
        }
        int r = llm_opts_parse(&o, argc, argv, &i, "chat");
        if (r < 0) return 2;
        if (r == 0) {
            fprintf(stderr, "born chat: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    born_model *m = llm_opts_load(&o, "chat");
    if (!m) return 1;
    const born_tokenizer *tok = born_model_tokenizer(m);
    const char *src = born_model_chat_template(m);
    born_chat_template *tmpl = born_chat_template_compile(src ? src : chatml, strlen(src ? src : chatml));
    born_session_params sp = born_session_default_params();
    sp.n_ctx = o.n_ctx;
    sp.n_batch = o.n_batch;
    born_session *s = tmpl ? born_session_new(m, &sp) : NULL;
    born_sampler *smp = s ? born_sampler_new(&o.sp, born_model_n_vocab(m)) : NULL;
    chat_msgs msgs;
    memset(&msgs, 0, sizeof msgs);
    char *line = NULL, *next = NULL;
    int32_t *ids = NULL;
    size_t cap = 0, n_ids = 0;
    int status = 1;
    if (!smp) {
        fprintf(stderr, "born chat: %s\n", born_last_error());
        goto done;
    }
    if (system && !msgs_push(&msgs, "system", system)) goto oom;
    for (;;) {
        printf("> ");
        fflush(stdout);
        ssize_t got = getline(&line, &cap, stdin);
        if (got < 0) break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (strcmp(line, "/exit") == 0) break;
        if (got == 0) continue;
        if (!msgs_push(&msgs, "user", line)) goto oom;
        free(next);
        next = NULL;
        if (render(tmpl, tok, &msgs, true, &next) != BORN_OK) goto fail;
        const char *bos = special_text(tok, born_tokenizer_bos(tok));
        bool add_bos = !o.no_bos && !(bos && strncmp(next, bos, strlen(bos)) == 0);
        free(ids);
        ids = NULL;
        if (born_tokenizer_encode(tok, next, strlen(next), add_bos, true, &ids, &n_ids) != BORN_OK)
            goto fail;
        /* keep the cache's common prefix with the conversation (at least one token to evaluate) */
        const int32_t *cached = born_session_tokens(s);
        size_t keep = 0, have = (size_t)born_session_pos(s);
        while (keep < have && keep < n_ids && cached[keep] == ids[keep]) keep++;
        if (keep == n_ids && keep > 0) keep--;
        born_session_rollback(s, (int32_t)keep);
        born_generate_params gp = born_generate_default_params();
        gp.max_tokens = o.n_predict;
        gp.tokens = ids + keep;
        gp.n_tokens = (int32_t)(n_ids - keep);
        gp.stop = o.stop;
        gp.n_stop = o.n_stop;
        gp.on_token = print_piece;
        born_generate_result res;
        if (born_generate(s, smp, NULL, &gp, &res) != BORN_OK) goto fail;
        printf("\n");
        if (o.verbose)
            fprintf(stderr, "[%zu cached tokens reused; %d prompt tokens, %.2f t/s; %d generated, "
                    "%.2f t/s; cache %d/%d]\n", keep, (int)res.n_prompt, res.prompt_ms > 0 ? res.n_prompt * 1e3 / res.prompt_ms : 0.0,
                    (int)res.n_generated,
                    res.generate_ms > 0 ? res.n_generated * 1e3 / res.generate_ms : 0.0,
                    (int)born_session_pos(s), (int)born_session_n_ctx(s));
        char *reply = utf8_sanitize(res.text, res.text_len);
        bool ok = reply && msgs_push(&msgs, "assistant", reply);
        free(reply);
        bool full = res.stop_reason == BORN_STOP_CONTEXT;
        born_generate_result_clear(&res);
        if (!ok) goto oom;
        if (full) {
            fprintf(stderr, "born chat: the context is full\n");
            break;
        }
    }
    status = 0;
    goto done;
oom:
    fprintf(stderr, "born chat: out of memory\n");
    goto done;
fail:
    fprintf(stderr, "born chat: %s\n", born_last_error());
done:
    born_clear_error();
    free(line);
    free(ids);
    free(next);
    msgs_free(&msgs);
    born_sampler_free(smp);
    born_session_free(s);
    born_chat_template_free(tmpl);
    born_model_free(m);
    return status;
}
