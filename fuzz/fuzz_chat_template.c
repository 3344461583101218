/* libFuzzer harness for the chat-template interpreter. The input is a template; it is compiled
 * and, when that works, rendered twice with a fixed chat context (messages with tool calls,
 * tools, special tokens) and once with none, under small limits. Compiling and rendering must
 * either succeed or report one of the statuses the API documents with a message; a rendering
 * must be valid UTF-8 and the same both times; nothing may crash, hang or leak. Build with
 * `make fuzz`, run with `fuzz/run.sh SECONDS`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char context_json[] =
    "{\"messages\": ["
    "{\"role\": \"system\", \"content\": \"You are helpful.\\nBe brief.\"},"
    "{\"role\": \"user\", \"content\": \"Hi \\u00e9 \\ud83d\\ude00 <b>&</b>\"},"
    "{\"role\": \"assistant\", \"content\": \"  Hello!  \", \"tool_calls\": [{\"id\": \"call12345\","
    " \"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\":"
    " {\"city\": \"Paris\", \"days\": 3, \"metric\": true, \"extra\": null, \"ratio\": 0.5}}}]},"
    "{\"role\": \"tool\", \"tool_call_id\": \"call12345\", \"content\": \"{\\\"t\\\": 18}\"},"
    "{\"role\": \"user\", \"content\": \"\"}],"
    "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\","
    " \"description\": \"Weather\", \"parameters\": {\"type\": \"object\", \"properties\":"
    " {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}],"
    "\"documents\": null, \"add_generation_prompt\": true, \"bos_token\": \"<s>\","
    " \"eos_token\": \"</s>\", \"numbers\": [3, -1, 2.5, 1e300, 0], \"nested\": {\"a\": {\"b\": [[]]}}}";

static born_json *context;

static void fail(const char *what) {
    fprintf(stderr, "fuzz_chat_template: %s (%s)\n", what, born_last_error());
    abort();
}

static bool valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!len || n - i < len) return false;
        uint32_t cp = len == 1 ? c : c & (0x7Fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static bool documented(born_status st) {
    return st == BORN_ERR_FORMAT || st == BORN_ERR_UNSUPPORTED || st == BORN_ERR_ARGUMENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!context) {
        context = born_json_parse(context_json, sizeof context_json - 1, NULL);
        if (!context) fail("the fixed context does not parse");
    }
    born_clear_error();
    born_chat_template *t = born_chat_template_compile((const char *)data, size);
    if (!t) {
        if (!documented(born_last_status()) || !born_last_error()[0]) fail("compile failed without a documented status");
        born_clear_error();
        return 0;
    }
    born_chat_template_params p = born_chat_template_default_params();
    p.max_output = 1 << 16;
    p.max_memory = 16 << 20;
    p.max_iterations = 20000;
    p.max_operations = 2000000;
    p.max_depth = 200;
    p.now = 1741953600;
    char *first = NULL;
    size_t first_len = 0;
    for (int round = 0; round < 3; round++) {
        char *out = NULL;
        size_t len = 0;
        const born_json_value *ctx = round < 2 ? born_json_root(context) : NULL;
        born_status st = born_chat_template_render(t, ctx, &p, &out, &len);
        if (st != BORN_OK) {
            if (!documented(st) || born_last_status() != st || !born_last_error()[0])
                fail("render failed without a documented status");
            if (out) fail("output on failure");
        } else {
            if (!out || out[len] != '\0') fail("output not NUL-terminated");
            if (len > p.max_output) fail("output longer than max_output");
            if (!valid_utf8((const unsigned char *)out, len)) fail("output is not valid UTF-8");
        }
        born_clear_error();
        if (round == 0) {
            first = out;
            first_len = st == BORN_OK ? len : (size_t)-1;
            continue;
        }
        if (round == 1) {
            size_t now_len = st == BORN_OK ? len : (size_t)-1;
            if (now_len != first_len || (out && first && memcmp(out, first, len) != 0))
                fail("two renders of the same template and context differ");
        }
        free(out);
    }
    free(first);
    born_chat_template_free(t);
    return 0;
}
