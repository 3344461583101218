/* The chat-template API (include/born/llm.h, "Chat templates"): compile a template once, render
 * it with a JSON context as many times as needed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "llm/chat_template/ct_internal.h"

struct born_chat_template {
    ct_arena arena; /* the AST and its constants */
    ct_fail fail;   /* used while compiling */
    ct_stmt *body;
};

born_chat_template_params born_chat_template_default_params(void) {
    born_chat_template_params p;
    p.max_output = (size_t)16 << 20;
    p.max_memory = (size_t)256 << 20;
    p.max_iterations = 1000000;
    p.max_operations = 100000000;
    p.max_depth = 500;
    p.now = -1;
    return p;
}

/* Strict UTF-8 (no overlong forms, surrogates or values above U+10FFFF); returns the offset of
 * the first bad byte, or len. */
static size_t utf8_check(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t min;
        if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
        else return i;
        if (len - i < n) return i;
        uint32_t cp = c & (0xFF >> (n + 1));
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n;
    }
    return len;
}

born_chat_template *born_chat_template_compile(const char *source, size_t len) {
    if (!source) return born_error_null(BORN_ERR_ARGUMENT, "born_chat_template_compile: source is NULL");
    size_t bad = utf8_check((const uint8_t *)source, len);
    if (bad != len)
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_chat_template_compile: invalid UTF-8 at byte offset %zu", bad);
    if (len > (size_t)64 << 20)
        return born_error_null(BORN_ERR_ARGUMENT,
                               "born_chat_template_compile: a template of %zu bytes (more than 64 MiB)", len);
    born_chat_template *t = calloc(1, sizeof *t);
    if (!t) return born_error_null(BORN_ERR_MEMORY, "born_chat_template_compile: out of memory");
    ct_arena_init(&t->arena, &t->fail, (size_t)64 * len + ((size_t)16 << 20));
    if (setjmp(t->fail.jb)) {
        born_error(t->fail.status, "born_chat_template_compile: %s", t->fail.msg);
        ct_arena_free(&t->arena);
        free(t);
        return NULL;
    }
    /* newlines normalised to \n, one trailing newline dropped (keep_trailing_newline=False) */
    char *src = ct_alloc(&t->arena, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (source[i] == '\r') {
            src[n++] = '\n';
            if (i + 1 < len && source[i + 1] == '\n') i++;
        } else {
            src[n++] = source[i];
        }
    }
    if (n > 0 && src[n - 1] == '\n') n--;
    src[n] = '\0';
    size_t count;
    ct_token *tokens = ct_lex(&t->arena, src, n, &count);
    t->body = ct_parse(&t->arena, tokens, count);
    return t;
}

void born_chat_template_free(born_chat_template *tmpl) {
    if (!tmpl) return;
    ct_arena_free(&tmpl->arena);
    free(tmpl);
}

/* ------------------------------------------------------------------------------------------ */
/* Rendering                                                                                    */

typedef struct render_state {
    ct_fail fail;
    ct_arena arena;
    ct_ctx ctx;
} render_state;

static ct_value from_json(ct_ctx *c, const born_json_value *v) {
    ct_charge(c, 1);
    switch (born_json_type_of(v)) {
    case BORN_JSON_NULL: return ct_none();
    case BORN_JSON_BOOL: {
        bool b = false;
        born_json_get_bool(v, &b);
        return ct_bool(b);
    }
    case BORN_JSON_NUMBER: {
        size_t len = 0;
        const char *text = born_json_number_text(v, &len);
        if (strpbrk(text, ".eE")) return ct_float(strtod(text, NULL));
        errno = 0;
        long long x = strtoll(text, NULL, 10);
        if (errno == ERANGE)
            ct_unsupported(c, "the context holds the integer %.40s, beyond 64 bits", text);
        return ct_int((int64_t)x);
    }
    case BORN_JSON_STRING: {
        const char *s = NULL;
        size_t len = 0;
        born_json_get_string(v, &s, &len);
        return ct_strv(ct_str_new(c->arena, s, len));
    }
    case BORN_JSON_ARRAY: {
        if (++c->depth > c->p.max_depth) ct_limit(c, "the context nests deeper than max_depth (%d)", c->p.max_depth);
        size_t n = born_json_array_length(v);
        ct_list *l = ct_list_new(c->arena, n, CT_LIST_PLAIN);
        for (size_t i = 0; i < n; i++) l->items[l->len++] = from_json(c, born_json_array_get(v, i));
        c->depth--;
        return ct_listv(l);
    }
    case BORN_JSON_OBJECT: {
        if (++c->depth > c->p.max_depth) ct_limit(c, "the context nests deeper than max_depth (%d)", c->p.max_depth);
        size_t n = born_json_object_size(v);
        ct_dict *d = ct_dict_new(c->arena, n);
        for (size_t i = 0; i < n; i++) {
            const char *key;
            size_t key_len;
            const born_json_value *m = born_json_object_member(v, i, &key, &key_len);
            /* the parser has merged duplicate keys already */
            d->keys[d->len] = ct_strv(ct_str_new(c->arena, key, key_len));
            d->vals[d->len] = from_json(c, m);
            d->len++;
        }
        c->depth--;
        return ct_dictv(d);
    }
    default: return ct_none();
    }
}

static born_status render(const born_chat_template *tmpl, const born_chat_template_params *params,
                          const char *fn, const born_json_value *context, const born_chat_input *input,
                          char **out, size_t *out_len) {
    if (!tmpl || !out) return born_error(BORN_ERR_ARGUMENT, "%s: %s is NULL", fn, !tmpl ? "tmpl" : "out");
    *out = NULL;
    if (out_len) *out_len = 0;
    born_chat_template_params p = params ? *params : born_chat_template_default_params();
    if (p.max_depth < 1 || p.max_iterations < 0 || p.max_operations < 1 || p.max_memory < 4096)
        return born_error(BORN_ERR_ARGUMENT, "%s: params out of range (max_depth %d, max_memory %zu)", fn,
                          p.max_depth, p.max_memory);
    if (context && born_json_type_of(context) != BORN_JSON_OBJECT)
        return born_error(BORN_ERR_ARGUMENT, "%s: the context is a JSON %s, not an object", fn,
                          born_json_type_name(born_json_type_of(context)));
    render_state *st = calloc(1, sizeof *st);
    if (!st) return born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
    ct_arena_init(&st->arena, &st->fail, p.max_memory);
    if (setjmp(st->fail.jb)) {
        born_status status = st->fail.status;
        born_error(status, "%s: %s", fn, st->fail.msg);
        ct_arena_free(&st->arena);
        free(st);
        return status;
    }
    ct_ctx *c = &st->ctx;
    c->fail = &st->fail;
    c->arena = &st->arena;
    c->p = p;
    c->context = ct_dict_new(c->arena, 8);
    if (context) {
        ct_value v = from_json(c, context);
        c->context = v.d;
    } else if (input) {
        ct_dict *d = c->context;
        if (input->messages && born_json_type_of(input->messages) != BORN_JSON_ARRAY)
            ct_raise(c->fail, BORN_ERR_ARGUMENT, 0, 0, "input->messages is not a JSON array");
        ct_dict_set(c, d, ct_strv(ct_cstr(c->arena, "messages")),
                    input->messages ? from_json(c, input->messages) : ct_listv(ct_list_new(c->arena, 0, CT_LIST_PLAIN)));
        ct_dict_set(c, d, ct_strv(ct_cstr(c->arena, "tools")), input->tools ? from_json(c, input->tools) : ct_none());
        ct_dict_set(c, d, ct_strv(ct_cstr(c->arena, "documents")),
                    input->documents ? from_json(c, input->documents) : ct_none());
        ct_dict_set(c, d, ct_strv(ct_cstr(c->arena, "add_generation_prompt")), ct_bool(input->add_generation_prompt));
        if (input->bos_token)
            ct_dict_set(c, d, ct_strv(ct_cstr(c->arena, "bos_token")), ct_strv(ct_cstr(c->arena, input->bos_token)));
        if (input->eos_token)
            ct_dict_set(c, d, ct_strv(ct_cstr(c->arena, "eos_token")), ct_strv(ct_cstr(c->arena, input->eos_token)));
        if (input->extra) {
            if (born_json_type_of(input->extra) != BORN_JSON_OBJECT)
                ct_raise(c->fail, BORN_ERR_ARGUMENT, 0, 0, "input->extra is not a JSON object");
            ct_dict *x = from_json(c, input->extra).d;
            for (size_t i = 0; i < x->len; i++) ct_dict_set(c, d, x->keys[i], x->vals[i]);
        }
    }
    c->root = ct_zalloc(c->arena, sizeof *c->root);
    c->frame = c->root;
    ct_buf output = {0};
    c->out = &output;
    ct_exec(c, tmpl->body);
    char *text = malloc(output.len + 1);
    if (!text) ct_raise(c->fail, BORN_ERR_MEMORY, 0, 0, "out of memory (%zu bytes of output)", output.len);
    if (output.len) memcpy(text, output.data, output.len);
    text[output.len] = '\0';
    *out = text;
    if (out_len) *out_len = output.len;
    ct_arena_free(&st->arena);
    free(st);
    return BORN_OK;
}

born_status born_chat_template_render(const born_chat_template *tmpl, const born_json_value *context,
                                      const born_chat_template_params *params, char **out,
                                      size_t *out_len) {
    return render(tmpl, params, "born_chat_template_render", context, NULL, out, out_len);
}

born_status born_chat_template_apply(const born_chat_template *tmpl, const born_chat_input *input,
                                     const born_chat_template_params *params, char **out,
                                     size_t *out_len) {
    if (!input) return born_error(BORN_ERR_ARGUMENT, "born_chat_template_apply: input is NULL");
    return render(tmpl, params, "born_chat_template_apply", NULL, input, out, out_len);
}
