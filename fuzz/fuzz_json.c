/* libFuzzer harness for the JSON parser and writer. Every input is parsed; a document that parses
 * is walked through the accessors, written (compact and indented), parsed again and compared, and
 * written once more, which must give the same text. Any mismatch aborts, which is how a fuzzer
 * reports it. Build with `make fuzz`, run with `fuzz/run.sh SECONDS`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
    fprintf(stderr, "fuzz_json: %s (%s)\n", what, born_last_error());
    abort();
}

/* Reads every value through the accessors; each member must be found again by its key. */
static void walk(const born_json_value *root) {
    size_t cap = 64, n = 0;
    const born_json_value **stack = malloc(cap * sizeof *stack);
    if (!stack) return;
    stack[n++] = root;
    while (n > 0) {
        const born_json_value *v = stack[--n];
        size_t count = 0;
        switch (born_json_type_of(v)) {
        case BORN_JSON_NUMBER: {
            double d;
            int64_t i;
            born_json_get_double(v, &d);
            if (born_json_get_int64(v, &i) == BORN_OK && born_json_get_double(v, &d) == BORN_OK &&
                d != (double)i)
                fail("int64 and double readings of a number disagree");
            if (!born_json_number_text(v, NULL)) fail("a number without text");
            break;
        }
        case BORN_JSON_STRING: {
            const char *s;
            size_t len;
            if (born_json_get_string(v, &s, &len) || s[len] != '\0') fail("bad string");
            break;
        }
        case BORN_JSON_ARRAY: count = born_json_array_length(v); break;
        case BORN_JSON_OBJECT: count = born_json_object_size(v); break;
        default: break;
        }
        if (n + count > cap) {
            while (n + count > cap) cap *= 2;
            const born_json_value **grown = realloc(stack, cap * sizeof *grown);
            if (!grown) break;
            stack = grown;
        }
        for (size_t k = 0; k < count; k++) {
            if (born_json_type_of(v) == BORN_JSON_ARRAY) {
                stack[n++] = born_json_array_get(v, k);
            } else {
                const char *key;
                size_t key_len;
                const born_json_value *m = born_json_object_member(v, k, &key, &key_len);
                if (born_json_object_find(v, key, key_len) != m) fail("lookup by key failed");
                stack[n++] = m;
            }
        }
        born_clear_error(); /* number readings may fail (1e400, 1.5 as int64) */
    }
    free(stack);
}

/* Writes value and returns a malloc'd copy of the text, aborting on failure. */
static char *write_text(const born_json_value *value, int indent, size_t *len) {
    born_json_writer_params wp = born_json_writer_default_params();
    wp.indent = indent;
    born_json_writer *w = born_json_writer_new(&wp);
    if (!w || born_json_write_value(w, value) != BORN_OK) fail("write_value failed");
    const char *text = born_json_writer_text(w, len);
    if (!text) fail("no text after write_value");
    char *copy = malloc(*len + 1);
    if (!copy) abort();
    memcpy(copy, text, *len + 1);
    born_json_writer_free(w);
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    born_clear_error();
    born_json *doc = born_json_parse((const char *)data, size, NULL);
    born_json_parse_params strict = born_json_parse_default_params();
    strict.reject_duplicate_keys = true;
    born_json *strict_doc = born_json_parse((const char *)data, size, &strict);
    if (!doc) {
        if (strict_doc) fail("accepted only with reject_duplicate_keys");
        if (born_last_status() != BORN_ERR_FORMAT) fail("parse failed without a format error");
        born_clear_error();
        return 0;
    }
    if (strict_doc && !born_json_value_equal(born_json_root(doc), born_json_root(strict_doc)))
        fail("strict and default parses differ");
    born_json_free(strict_doc);
    born_clear_error();
    walk(born_json_root(doc));
    for (int indent = 0; indent <= 2; indent += 2) {
        size_t len, len2;
        char *text = write_text(born_json_root(doc), indent, &len);
        born_json *again = born_json_parse(text, len, NULL);
        if (!again) fail("written text does not parse");
        if (!born_json_value_equal(born_json_root(doc), born_json_root(again)))
            fail("round trip changed the document");
        char *text2 = write_text(born_json_root(again), indent, &len2);
        if (len != len2 || memcmp(text, text2, len) != 0) fail("writing is not a fixed point");
        born_json_free(again);
        free(text);
        free(text2);
    }
    born_json_free(doc);
    born_clear_error();
    return 0;
}
