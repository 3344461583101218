/* The chat-template interpreter, feature by feature. features.json holds small templates (one
 * language feature each: whitespace control, scoping, loops, macros, filters, tests, methods,
 * Python's str() / repr() / json.dumps formatting, undefined values) with what jinja2 renders for
 * them under HF's settings (tools/gen_chat_template_fixtures.py); Born must give the same bytes,
 * and fail where Python fails. The tests below check error reporting (status, message, line and
 * column), what Born refuses rather than approximates, and the limits that keep hostile
 * templates from hanging or exhausting memory. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* Renders source with a JSON context (NULL: none); returns the malloc'd text or NULL. */
static char *render_with(const char *source, const char *context_json,
                         const born_chat_template_params *p) {
    born_chat_template *t = born_chat_template_compile(source, strlen(source));
    if (!t) return NULL;
    born_json *ctx = context_json ? born_json_parse(context_json, strlen(context_json), NULL) : NULL;
    char *out = NULL;
    born_chat_template_render(t, ctx ? born_json_root(ctx) : NULL, p, &out, NULL);
    born_json_free(ctx);
    born_chat_template_free(t);
    return out;
}

static const char *json_str_or(const born_json_value *v) {
    const char *s = NULL;
    if (born_json_get_string(v, &s, NULL) != BORN_OK) born_clear_error();
    return s ? s : "?";
}

static char *render(const char *source, const char *context_json) {
    return render_with(source, context_json, NULL);
}

#define RENDERS(src, ctx, want)                                                                   \
    do {                                                                                          \
        char *out_ = render((src), (ctx));                                                        \
        CHECK_MSG(out_ && strcmp(out_, (want)) == 0, "%s: got \"%s\" (%s), want \"%s\"", (src),   \
                  out_ ? out_ : "NULL", born_last_error(), (want));                               \
        born_clear_error();                                                                       \
        free(out_);                                                                               \
    } while (0)

/* Compiling src fails with status and a message containing needle. */
#define COMPILE_FAILS(src, status, needle)                                                        \
    do {                                                                                          \
        born_chat_template *t_ = born_chat_template_compile((src), strlen(src));                  \
        CHECK_MSG(t_ == NULL, "%s compiled", (src));                                              \
        born_chat_template_free(t_);                                                              \
        CHECK_ERROR((status), (needle));                                                          \
    } while (0)

static born_json *parse_ctx(const char *json) {
    return json ? born_json_parse(json, strlen(json), NULL) : NULL;
}

/* Rendering src (which compiles) fails with status and needle. */
#define RENDER_FAILS_WITH(src, ctx, params, status, needle)                                       \
    do {                                                                                          \
        born_chat_template *t_ = born_chat_template_compile((src), strlen(src));                  \
        CHECK_MSG(t_ != NULL, "%s: %s", (src), born_last_error());                                \
        born_clear_error();                                                                       \
        born_json *c_ = parse_ctx(ctx);                                                           \
        char *o_ = NULL;                                                                          \
        born_status s_ = born_chat_template_render(t_, c_ ? born_json_root(c_) : NULL, (params),  \
                                                   &o_, NULL);                                    \
        CHECK_MSG(s_ == (status) && o_ == NULL, "%s: status %d", (src), (int)s_);                 \
        CHECK_ERROR((status), (needle));                                                          \
        free(o_);                                                                                 \
        born_json_free(c_);                                                                       \
        born_chat_template_free(t_);                                                              \
    } while (0)
#define RENDER_FAILS(src, ctx, status, needle) RENDER_FAILS_WITH(src, ctx, NULL, status, needle)

TEST(chat_template_features_match_jinja2) {
    born_json *doc = born_json_load("tests/fixtures/chat_templates/features.json", NULL);
    CHECK_MSG(doc != NULL, "%s", born_last_error());
    if (!doc) {
        born_clear_error();
        return;
    }
    born_chat_template_params p = born_chat_template_default_params();
    CHECK_OK(born_json_get_int64(born_json_object_get(born_json_root(doc), "now"), &p.now));
    const born_json_value *cases = born_json_object_get(born_json_root(doc), "cases");
    size_t n = born_json_array_length(cases), ok = 0;
    CHECK(n >= 140);
    for (size_t i = 0; i < n; i++) {
        const born_json_value *c = born_json_array_get(cases, i);
        const char *src = NULL, *want = NULL;
        size_t src_len = 0, want_len = 0;
        CHECK_OK(born_json_get_string(born_json_object_get(c, "template"), &src, &src_len));
        born_chat_template *t = born_chat_template_compile(src, src_len);
        const born_json_value *err = born_json_object_get(c, "error");
        char *out = NULL;
        size_t len = 0;
        born_status st = t ? born_chat_template_render(t, born_json_object_get(c, "context"), &p, &out, &len)
                           : born_last_status();
        if (err) {
            /* Python fails: so must Born, and not because it gave up on something */
            CHECK_MSG(st != BORN_OK && st != BORN_ERR_UNSUPPORTED,
                      "case %zu %s: jinja2 fails (%s), Born gives status %d", i, src, json_str_or(err),
                      (int)st);
            ok += st != BORN_OK && st != BORN_ERR_UNSUPPORTED;
        } else {
            CHECK_OK(born_json_get_string(born_json_object_get(c, "output"), &want, &want_len));
            bool same = st == BORN_OK && len == want_len && memcmp(out, want, len) == 0;
            CHECK_MSG(same, "case %zu %s: got \"%s\" (%s), want \"%s\"", i, src, out ? out : "NULL",
                      born_last_error(), want ? want : "");
            ok += same;
        }
        born_clear_error();
        free(out);
        born_chat_template_free(t);
    }
    CHECK_EQ_INT(ok, n);
    born_json_free(doc);
}

TEST(chat_template_basic_rendering) {
    RENDERS("Hello {{ name }}!", "{\"name\": \"W\\u00f6rld\"}", "Hello Wörld!");
    RENDERS("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}",
            "<user>hi<assistant>yo");
    /* JSON numbers: integers without a fraction or exponent, floats otherwise */
    RENDERS("{{ a }} {{ b }} {{ c }} {{ d }} {{ a / 2 }}", "{\"a\": 3, \"b\": 3.0, \"c\": 1e2, \"d\": -0}", "3 3.0 100.0 0 1.5");
    /* no context: every variable is undefined */
    RENDERS("[{{ x }}]{% if x is not defined %}nd{% endif %}", NULL, "[]nd");
    /* trim_blocks / lstrip_blocks as HF sets them, and the trailing newline dropped */
    RENDERS("{% if true %}\n    a\n    {% endif %}\nb\n", NULL, "    a\nb");
}

TEST(chat_template_error_positions) {
    COMPILE_FAILS("{{ x | nope }}", BORN_ERR_FORMAT, "line 1, column 8: no filter named 'nope'");
    COMPILE_FAILS("a\n{{ x is nope }}", BORN_ERR_FORMAT, "line 2, column 9: no test named 'nope'");
    COMPILE_FAILS("{% if x %}abc", BORN_ERR_FORMAT, "line 1, column 4: unexpected end of template: the block opened here needs 'elif' or 'else' or 'endif'");
    COMPILE_FAILS("{% for x in y %}{% endif %}", BORN_ERR_FORMAT, "unexpected 'endif': the innermost open block needs 'endfor' or 'else'");
    COMPILE_FAILS("x\n  {{ a + }}", BORN_ERR_FORMAT, "line 2, column 10: expected an expression, got end of print statement");
    COMPILE_FAILS("{{ 'abc }}", BORN_ERR_FORMAT, "line 1, column 4: unterminated string");
    COMPILE_FAILS("{{ x ", BORN_ERR_FORMAT, "line 1, column 1: unclosed '{{'");
    COMPILE_FAILS("{% if x ", BORN_ERR_FORMAT, "unclosed '{%'");
    COMPILE_FAILS("{# never closed", BORN_ERR_FORMAT, "missing end of comment tag");
    COMPILE_FAILS("{% raw %}x", BORN_ERR_FORMAT, "missing end of raw directive");
    COMPILE_FAILS("{% endif %}", BORN_ERR_FORMAT, "unexpected 'endif'");
    COMPILE_FAILS("{% frobnicate %}", BORN_ERR_FORMAT, "unknown tag 'frobnicate'");
    COMPILE_FAILS("{{ (1, 2] }}", BORN_ERR_FORMAT, "unexpected ']'");
    COMPILE_FAILS("{{ a $ b }}", BORN_ERR_FORMAT, "unexpected character '$'");
    COMPILE_FAILS("{% break %}", BORN_ERR_FORMAT, "outside of a for loop");
    COMPILE_FAILS("{% set 1 = 2 %}", BORN_ERR_FORMAT, "cannot assign");
    COMPILE_FAILS("{% macro m(a=1, b) %}{% endmacro %}", BORN_ERR_FORMAT, "non-default argument");
    COMPILE_FAILS("{{ x is defined is none }}", BORN_ERR_FORMAT, "cannot chain multiple tests");
    COMPILE_FAILS("{{ '\\x4' }}", BORN_ERR_FORMAT, "truncated");
    /* runtime errors carry the position of the expression */
    RENDER_FAILS("line one\n{{ 1 +\n 'a' }}", NULL, BORN_ERR_FORMAT, "line 2, column 6: unsupported operand type(s) for +: 'int' and 'str'");
    RENDER_FAILS("{{ m.content.x.y }}", "{\"m\": {}}", BORN_ERR_FORMAT, "line 1, column 13: 'dict object' has no attribute 'content'");
    RENDER_FAILS("{{ x.y }}", NULL, BORN_ERR_FORMAT, "'x' is undefined");
    RENDER_FAILS("{{ 1 // 0 }}", NULL, BORN_ERR_FORMAT, "division or modulo by zero");
    RENDER_FAILS("{{ [1]|select|length }}", NULL, BORN_ERR_FORMAT, "no len()");
    RENDER_FAILS("{{ {'a': 1}.update({}) }}", NULL, BORN_ERR_FORMAT, "unsafe");
}

TEST(chat_template_raise_exception) {
    RENDER_FAILS("ok so far\n  {{ raise_exception('Roles must alternate: ' ~ n) }}", "{\"n\": 3}", BORN_ERR_ARGUMENT,
                 "line 2, column 6: the template raised an exception: Roles must alternate: 3");
    RENDER_FAILS("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
                 "{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}]}", BORN_ERR_ARGUMENT,
                 "System role not supported");
}

TEST(chat_template_unsupported_is_an_error) {
    COMPILE_FAILS("{% include 'x.jinja' %}", BORN_ERR_UNSUPPORTED, "line 1, column 4: the 'include' tag is not supported");
    COMPILE_FAILS("\n {% extends 'b' %}", BORN_ERR_UNSUPPORTED, "line 2, column 5");
    COMPILE_FAILS("{% for x in y recursive %}{% endfor %}", BORN_ERR_UNSUPPORTED, "recursive");
    COMPILE_FAILS("{{ f(*args) }}", BORN_ERR_UNSUPPORTED, "*args");
    COMPILE_FAILS("{{ 99999999999999999999 }}", BORN_ERR_UNSUPPORTED, "64 bits");
    COMPILE_FAILS("{{ '\\N{BULLET}' }}", BORN_ERR_UNSUPPORTED, "\\N{...}");
    COMPILE_FAILS("{{ \u00e9 }}", BORN_ERR_FORMAT, "unexpected character");
    RENDER_FAILS("{{ 10 ** 19 }}", NULL, BORN_ERR_UNSUPPORTED, "64 bits");
    RENDER_FAILS("{{ x }}", "{\"x\": 123456789012345678901234567890}", BORN_ERR_UNSUPPORTED, "64 bits");
    RENDER_FAILS("{{ [1]|groupby('a') }}", NULL, BORN_ERR_UNSUPPORTED, "'groupby' filter");
    RENDER_FAILS("{{ '{}'.format(1) }}", NULL, BORN_ERR_UNSUPPORTED, "'format'");
    RENDER_FAILS("{{ cycler(1, 2) }}", NULL, BORN_ERR_UNSUPPORTED, "cycler");
    RENDER_FAILS("{{ [1]|select }}", NULL, BORN_ERR_UNSUPPORTED, "generator");
    RENDER_FAILS("{{ range }}", NULL, BORN_ERR_UNSUPPORTED, "function 'range'");
    RENDER_FAILS("{{ strftime_now('%f') }}", NULL, BORN_ERR_UNSUPPORTED, "'%f'");
    RENDER_FAILS("{{ (-8) ** 0.5 }}", NULL, BORN_ERR_UNSUPPORTED, "complex");
}

TEST(chat_template_strftime_now) {
    born_chat_template_params p = born_chat_template_default_params();
    p.now = 1721995200; /* 2024-07-26 12:00:00 UTC */
    char *out = render_with("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y') }}", NULL, &p);
    CHECK(out && strcmp(out, "26 Jul 2024|2024") == 0);
    free(out);
    /* the current time by default: at least a plausible year */
    out = render("{{ strftime_now('%Y')|int >= 2024 }}", NULL);
    CHECK(out && strcmp(out, "True") == 0);
    free(out);
}

TEST(chat_template_limits) {
    born_chat_template_params p = born_chat_template_default_params();
    /* a runaway loop stops at max_iterations */
    p.max_iterations = 10000;
    RENDER_FAILS_WITH("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", NULL,
                      &p, BORN_ERR_ARGUMENT, "max_iterations (10000)");
    /* endless recursion stops at max_depth */
    RENDER_FAILS("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, BORN_ERR_ARGUMENT, "max_depth");
    /* output beyond max_output */
    p = born_chat_template_default_params();
    p.max_output = 100000;
    RENDER_FAILS_WITH("{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}", NULL, &p, BORN_ERR_ARGUMENT,
                      "max_output (100000 bytes)");
    RENDER_FAILS_WITH("{{ 'x' * 1000000000 }}", NULL, &p, BORN_ERR_ARGUMENT, "max_output");
    /* a string that doubles itself runs into the output or the memory limit */
    p = born_chat_template_default_params();
    p.max_memory = 32 << 20;
    RENDER_FAILS_WITH("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                      NULL, &p, BORN_ERR_ARGUMENT, "max_");
    /* a list that grows on every iteration runs into max_memory */
    p.max_memory = 8 << 20;
    RENDER_FAILS_WITH("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
                      NULL, &p, BORN_ERR_ARGUMENT, "max_memory");
    /* quadratic work without allocation runs into max_operations */
    p = born_chat_template_default_params();
    p.max_operations = 10000000;
    RENDER_FAILS_WITH("{% set l = range(100000)|list %}{% for i in range(100000) %}{% if -1 in l %}{% endif %}{% endfor %}",
                      NULL, &p, BORN_ERR_ARGUMENT, "max_operations");
    /* values nested deeper than max_depth cannot be printed, compared or serialised */
    RENDER_FAILS("{% set ns = namespace(v=[]) %}{% for i in range(2000) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v }}",
                 NULL, BORN_ERR_ARGUMENT, "max_depth");
    RENDER_FAILS("{% set ns = namespace(v={}) %}{% for i in range(2000) %}{% set ns.v = {'a': ns.v} %}{% endfor %}{{ ns.v|tojson }}",
                 NULL, BORN_ERR_ARGUMENT, "max_depth");
    RENDER_FAILS("{% set ns = namespace(a=[], b=[]) %}{% for i in range(2000) %}{% set ns.a = [ns.a] %}{% set ns.b = [ns.b] %}{% endfor %}{{ ns.a == ns.b }}",
                 NULL, BORN_ERR_ARGUMENT, "max_depth");
    /* namespaces that contain themselves print as Python prints them */
    RENDERS("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", NULL, "<Namespace {'me': <Namespace {...}>}>");
    /* the sandbox's range limit */
    RENDER_FAILS("{{ range(100001)|length }}", NULL, BORN_ERR_FORMAT, "MAX_RANGE");
}

TEST(chat_template_deep_nesting_compiles_or_fails_cleanly) {
    /* brackets, blocks and operators nested far too deep: an error, never a stack overflow */
    size_t n = 100000;
    char *src = malloc(4 * n + 16);
    size_t k = 0;
    k += (size_t)sprintf(src + k, "{{ ");
    for (size_t i = 0; i < n; i++) src[k++] = '(';
    src[k++] = '1';
    for (size_t i = 0; i < n; i++) src[k++] = ')';
    k += (size_t)sprintf(src + k, " }}");
    src[k] = '\0';
    COMPILE_FAILS(src, BORN_ERR_ARGUMENT, "nested too deeply");
    k = 0;
    for (size_t i = 0; i < n / 10; i++) k += (size_t)sprintf(src + k, "{%% if 1 %%}");
    src[k] = '\0';
    COMPILE_FAILS(src, BORN_ERR_ARGUMENT, "nests deeper than");
    k = 0;
    k += (size_t)sprintf(src + k, "{{ ");
    for (size_t i = 0; i < n; i++) src[k++] = '-';
    k += (size_t)sprintf(src + k, "1 }}");
    COMPILE_FAILS(src, BORN_ERR_ARGUMENT, "nests deeper than");
    k = 0;
    k += (size_t)sprintf(src + k, "{{ 1");
    for (size_t i = 0; i < n / 4; i++) k += (size_t)sprintf(src + k, " + 1");
    k += (size_t)sprintf(src + k, " }}");
    /* a long flat chain is fine to parse; evaluating it is left-deep, so it hits max_depth */
    born_chat_template *t = born_chat_template_compile(src, k);
    CHECK(t != NULL);
    char *out = NULL;
    CHECK(born_chat_template_render(t, NULL, NULL, &out, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "max_depth");
    born_chat_template_free(t);
    free(src);
}

TEST(chat_template_api_errors) {
    CHECK(born_chat_template_compile(NULL, 0) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
    CHECK(born_chat_template_compile("a\xff", 2) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "invalid UTF-8 at byte offset 1");
    CHECK(born_chat_template_compile("\xed\xa0\x80", 3) == NULL); /* an encoded surrogate */
    CHECK_ERROR(BORN_ERR_ARGUMENT, "invalid UTF-8");
    born_chat_template *t = born_chat_template_compile("x{{ y }}", 8);
    CHECK(t != NULL);
    char *out = (char *)1;
    CHECK(born_chat_template_render(NULL, NULL, NULL, &out, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "tmpl is NULL");
    CHECK(born_chat_template_render(t, NULL, NULL, NULL, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "out is NULL");
    born_json *arr = born_json_parse("[1]", 3, NULL);
    CHECK(born_chat_template_render(t, born_json_root(arr), NULL, &out, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "not an object");
    CHECK(out == NULL);
    born_chat_template_params p = born_chat_template_default_params();
    p.max_depth = 0;
    CHECK(born_chat_template_render(t, NULL, &p, &out, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "params");
    CHECK(born_chat_template_apply(t, NULL, NULL, &out, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "input is NULL");
    born_chat_input in = {.messages = born_json_root(arr)};
    size_t len = 99;
    CHECK_OK(born_chat_template_apply(t, &in, NULL, &out, &len));
    CHECK(out && strcmp(out, "x") == 0 && len == 1);
    free(out);
    /* NUL bytes in strings are carried through */
    born_json *ctx = born_json_parse("{\"y\": \"a\\u0000b\"}", 17, NULL);
    CHECK_OK(born_chat_template_render(t, born_json_root(ctx), NULL, &out, &len));
    CHECK(out && len == 4 && memcmp(out, "xa\0b", 4) == 0);
    free(out);
    born_json_free(ctx);
    born_json_free(arr);
    born_chat_template_free(t);
    born_chat_template_free(NULL);
}
