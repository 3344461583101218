/* Chat templates of real models (the .jinja files in tests/fixtures/chat_templates/, sources in
 * SOURCES.md there)
 * rendered by Born must equal, byte for byte, what HF transformers' apply_chat_template renders
 * (expected.json, written by tools/gen_chat_template_fixtures.py with jinja2 configured as HF
 * configures it): ChatML / Qwen2, Qwen2.5 with tools, Llama-2, Llama-3, 3.1 (dates, tools,
 * builtin tools), 3.2 (strftime_now), Mistral v0.1, the 2023 v0.2 template, v0.3 with tools,
 * Gemma, Phi-3 and SmolLM2 (from its GGUF), over single and multi-turn conversations, with and
 * without a system message and a generation prompt. Where the template rejects the conversation
 * (raise_exception), Born must fail with BORN_ERR_ARGUMENT and the template's message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define DIR "tests/fixtures/chat_templates/"

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(buf, cap);
            if (!grown) break;
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

static born_chat_template *load_template(const char *name) {
    char path[256];
    snprintf(path, sizeof path, DIR "%s", name);
    size_t len;
    char *src = read_file(path, &len);
    if (!src) return NULL;
    born_chat_template *t = born_chat_template_compile(src, len);
    free(src);
    return t;
}

static const char *json_str(const born_json_value *v) {
    const char *s = NULL;
    if (born_json_get_string(v, &s, NULL) != BORN_OK) born_clear_error();
    return s;
}

TEST(chat_template_models_match_hf) {
    born_json *doc = born_json_load(DIR "expected.json", NULL);
    CHECK_MSG(doc != NULL, "expected.json: %s", born_last_error());
    if (!doc) {
        born_clear_error();
        return;
    }
    const born_json_value *root = born_json_root(doc);
    int64_t now = 0;
    CHECK_OK(born_json_get_int64(born_json_object_get(root, "now"), &now));
    born_chat_template_params p = born_chat_template_default_params();
    p.now = now;
    const born_json_value *cases = born_json_object_get(root, "cases");
    size_t n = born_json_array_length(cases), exact = 0, errors = 0;
    CHECK(n >= 150);
    char last_name[64] = "";
    born_chat_template *tmpl = NULL;
    for (size_t i = 0; i < n; i++) {
        const born_json_value *c = born_json_array_get(cases, i);
        const char *name = json_str(born_json_object_get(c, "name"));
        const char *file = json_str(born_json_object_get(c, "template"));
        if (!name || !file) {
            CHECK_MSG(false, "case %zu is malformed", i);
            continue;
        }
        if (strcmp(file, last_name) != 0) {
            born_chat_template_free(tmpl);
            tmpl = load_template(file);
            CHECK_MSG(tmpl != NULL, "%s: %s", file, born_last_error());
            born_clear_error();
            snprintf(last_name, sizeof last_name, "%s", file);
        }
        if (!tmpl) continue;
        char *out = NULL;
        size_t len = 0;
        born_status st = born_chat_template_render(tmpl, born_json_object_get(c, "context"), &p, &out, &len);
        const born_json_value *want_error = born_json_object_get(c, "error");
        if (want_error) {
            const char *msg = json_str(want_error);
            CHECK_MSG(st == BORN_ERR_ARGUMENT && msg && strstr(born_last_error(), msg),
                      "%s: expected the template's error \"%s\", got status %d \"%s\"", name,
                      msg ? msg : "?", (int)st, born_last_error());
            CHECK_MSG(out == NULL, "%s: output on failure", name);
            errors += st == BORN_ERR_ARGUMENT;
            born_clear_error();
            continue;
        }
        const char *want = NULL;
        size_t want_len = 0;
        CHECK_OK(born_json_get_string(born_json_object_get(c, "output"), &want, &want_len));
        if (st != BORN_OK) {
            CHECK_MSG(false, "%s: %s", name, born_last_error());
            born_clear_error();
            continue;
        }
        bool same = want && len == want_len && memcmp(out, want, len) == 0 && out[len] == '\0';
        if (!same) {
            size_t k = 0;
            while (want && k < len && k < want_len && out[k] == want[k]) k++;
            CHECK_MSG(false, "%s: output differs from HF's at byte %zu: got \"%.60s\", want \"%.60s\"",
                      name, k, out + k, want ? want + k : "");
        }
        exact += same;
        free(out);
    }
    born_chat_template_free(tmpl);
    born_json_free(doc);
    CHECK_MSG(exact + errors == n, "%zu of %zu cases rendered exactly, %zu errors as expected", exact, n, errors);
}

/* born_chat_template_apply builds the same variables as the JSON context of the fixtures. */
TEST(chat_template_apply_matches_render) {
    born_json *doc = born_json_load(DIR "expected.json", NULL);
    if (!doc) {
        CHECK_MSG(false, "%s", born_last_error());
        born_clear_error();
        return;
    }
    born_chat_template_params p = born_chat_template_default_params();
    int64_t now = 0;
    CHECK_OK(born_json_get_int64(born_json_object_get(born_json_root(doc), "now"), &now));
    p.now = now;
    const born_json_value *cases = born_json_object_get(born_json_root(doc), "cases");
    int checked = 0;
    for (size_t i = 0; i < born_json_array_length(cases); i++) {
        const born_json_value *c = born_json_array_get(cases, i);
        const char *name = json_str(born_json_object_get(c, "name"));
        if (!name || (strcmp(name, "qwen2.5/tool-system/gen") != 0 && strcmp(name, "llama3.1/system/nogen") != 0 &&
                      strcmp(name, "mistral-v0.3/tool-call/gen") != 0 && strcmp(name, "llama2/system/gen") != 0))
            continue;
        const born_json_value *ctx = born_json_object_get(c, "context");
        born_chat_template *t = load_template(json_str(born_json_object_get(c, "template")));
        CHECK(t != NULL);
        if (!t) continue;
        born_chat_input in = {0};
        in.messages = born_json_object_get(ctx, "messages");
        const born_json_value *tools = born_json_object_get(ctx, "tools");
        in.tools = born_json_type_of(tools) == BORN_JSON_ARRAY ? tools : NULL;
        bool agp = false;
        CHECK_OK(born_json_get_bool(born_json_object_get(ctx, "add_generation_prompt"), &agp));
        in.add_generation_prompt = agp;
        in.bos_token = born_json_object_get(ctx, "bos_token") ? json_str(born_json_object_get(ctx, "bos_token")) : NULL;
        in.eos_token = born_json_object_get(ctx, "eos_token") ? json_str(born_json_object_get(ctx, "eos_token")) : NULL;
        char *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0;
        CHECK_OK(born_chat_template_apply(t, &in, &p, &a, &alen));
        CHECK_OK(born_chat_template_render(t, ctx, &p, &b, &blen));
        CHECK_MSG(a && b && alen == blen && memcmp(a, b, alen) == 0, "%s: apply and render differ", name);
        free(a);
        free(b);
        born_chat_template_free(t);
        checked++;
    }
    CHECK_EQ_INT(checked, 4);
    born_json_free(doc);
}

/* extra (template kwargs) wins over the named fields, as HF's **kwargs do. */
TEST(chat_template_apply_extra_variables) {
    born_chat_template *t = load_template("llama3.1.jinja");
    CHECK(t != NULL);
    const char *msgs = "[{\"role\": \"user\", \"content\": \"Hi\"}]";
    const char *extra = "{\"date_string\": \"02 Feb 2026\", \"bos_token\": \"<B>\"}";
    born_json *m = born_json_parse(msgs, strlen(msgs), NULL), *x = born_json_parse(extra, strlen(extra), NULL);
    born_chat_input in = {.messages = born_json_root(m), .extra = born_json_root(x), .bos_token = "<s>",
                          .add_generation_prompt = true};
    char *out = NULL;
    CHECK_OK(born_chat_template_apply(t, &in, NULL, &out, NULL));
    CHECK(out && strncmp(out, "<B><|start_header_id|>system<|end_header_id|>\n\n", 47) == 0);
    CHECK(out && strstr(out, "Today Date: 02 Feb 2026\n\n"));
    CHECK(out && strstr(out, "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"));
    free(out);
    /* extra must be an object */
    in.extra = born_json_root(m);
    out = NULL;
    CHECK(born_chat_template_apply(t, &in, NULL, &out, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "extra");
    CHECK(out == NULL);
    born_json_free(m);
    born_json_free(x);
    born_chat_template_free(t);
}
