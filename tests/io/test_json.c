/* JSON: the strict parser (valid and invalid documents, messages with line and column, limits,
 * numbers, strings), the accessors, the writer (escaping, numbers, misuse) and round trips. */
#include <float.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static born_json *parse(const char *text) { return born_json_parse(text, strlen(text), NULL); }

/* Checks that text is rejected with a format error whose message contains needle. */
#define REJECTS(text, needle) rejects(__FILE__, __LINE__, (text), strlen(text), NULL, (needle))
#define REJECTS_WITH(params, text, needle)                                                        \
    rejects(__FILE__, __LINE__, (text), strlen(text), (params), (needle))
static void rejects(const char *file, int line, const char *text, size_t len,
                    const born_json_parse_params *params, const char *needle) {
    born_json *doc = born_json_parse(text, len, params);
    if (doc) {
        test_fail(file, line, "accepted %s", text);
        born_json_free(doc);
        return;
    }
    check_error_impl(file, line, BORN_ERR_FORMAT, needle);
}

/* Checks that text parses; returns whether it did. */
#define ACCEPTS(text) accepts(__FILE__, __LINE__, (text))
static bool accepts(const char *file, int line, const char *text) {
    born_json *doc = parse(text);
    if (!doc) {
        test_fail(file, line, "rejected %s: %s", text, born_last_error());
        born_clear_error();
        return false;
    }
    born_json_free(doc);
    return true;
}

/* Writes value compactly into a malloc'd string (or NULL). */
static char *write_compact(const born_json_value *value, int indent) {
    born_json_writer_params wp = born_json_writer_default_params();
    wp.indent = indent;
    born_json_writer *w = born_json_writer_new(&wp);
    char *copy = NULL;
    if (born_json_write_value(w, value) == BORN_OK) {
        const char *text = born_json_writer_text(w, NULL);
        if (text) copy = strdup(text);
    }
    born_json_writer_free(w);
    return copy;
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing                                                                                      */

TEST(json_parse_document_and_read_values) {
    const char *text = "{\"name\": \"born\", \"sizes\": [1, 2.5, -3e2], \"ok\": true, "
                       "\"none\": null, \"nested\": {\"x\": false}, \"empty\": [], \"e\": {}}";
    born_json *doc = parse(text);
    CHECK_MSG(doc != NULL, "%s", born_last_error());
    const born_json_value *root = born_json_root(doc);
    CHECK_EQ_INT(born_json_type_of(root), BORN_JSON_OBJECT);
    CHECK_EQ_INT(born_json_object_size(root), 7);
    const char *s = NULL;
    size_t len = 0;
    CHECK_OK(born_json_get_string(born_json_object_get(root, "name"), &s, &len));
    CHECK(len == 4 && strcmp(s, "born") == 0);
    const born_json_value *sizes = born_json_object_get(root, "sizes");
    CHECK_EQ_INT(born_json_array_length(sizes), 3);
    int64_t i = 0;
    double d = 0;
    CHECK_OK(born_json_get_int64(born_json_array_get(sizes, 0), &i));
    CHECK_EQ_INT(i, 1);
    CHECK_OK(born_json_get_double(born_json_array_get(sizes, 1), &d));
    CHECK_NEAR(d, 2.5, 0);
    CHECK_OK(born_json_get_int64(born_json_array_get(sizes, 2), &i));
    CHECK_EQ_INT(i, -300);
    CHECK(strcmp(born_json_number_text(born_json_array_get(sizes, 2), &len), "-3e2") == 0);
    CHECK_EQ_INT(len, 4);
    bool b = false;
    CHECK_OK(born_json_get_bool(born_json_object_get(root, "ok"), &b));
    CHECK(b);
    CHECK_EQ_INT(born_json_type_of(born_json_object_get(root, "none")), BORN_JSON_NULL);
    CHECK_OK(born_json_get_bool(born_json_object_get(born_json_object_get(root, "nested"), "x"),
                                &b));
    CHECK(!b);
    CHECK_EQ_INT(born_json_array_length(born_json_object_get(root, "empty")), 0);
    CHECK_EQ_INT(born_json_object_size(born_json_object_get(root, "e")), 0);
    const char *key = NULL;
    size_t key_len = 0;
    const born_json_value *v = born_json_object_member(root, 1, &key, &key_len);
    CHECK(v == sizes && key_len == 5 && strcmp(key, "sizes") == 0);
    CHECK(born_json_object_get(root, "missing") == NULL);
    CHECK_EQ_INT(born_last_status(), BORN_OK);
    born_json_free(doc);
}

TEST(json_parse_scalars_and_whitespace) {
    CHECK(ACCEPTS("0"));
    CHECK(ACCEPTS(" \t\r\n\"x\" \n"));
    CHECK(ACCEPTS("null"));
    CHECK(ACCEPTS("[[[]], {}, {\"\": []}]"));
    CHECK(ACCEPTS("-0.0e-0"));
    CHECK(ACCEPTS("1E+2"));
}

TEST(json_rejects_with_line_and_column) {
    REJECTS("", "line 1, column 1 (byte 0): expected a value, found end of input");
    REJECTS("   ", "line 1, column 4");
    REJECTS("[1,]", "line 1, column 4 (byte 3): expected a value after ',', found ']' "
                    "(trailing commas");
    REJECTS("{\"a\":1,}", "trailing commas");
    REJECTS("[1 2]", "line 1, column 4 (byte 3): expected ',' or ']' after an array element, "
                     "found '2' (in the array started at line 1, column 1)");
    REJECTS("{\"a\":1 \"b\":2}", "expected ',' or '}' after an object member, found '\"'");
    REJECTS("[1", "found end of input (in the array started at line 1, column 1)");
    REJECTS("{\"a\" 1}", "column 6 (byte 5): expected ':' after an object key, found '1'");
    REJECTS("{1:2}", "expected '\"' to start an object key, found '1'");
    REJECTS("{,}", "expected '\"' to start an object key, found ','");
    REJECTS("[,1]", "expected a value, found ','");
    REJECTS("[1] x", "column 5 (byte 4): expected end of input after the top-level value, "
                     "found 'x'");
    REJECTS("1 2", "expected end of input after the top-level value, found '2'");
    REJECTS("tru", "line 1, column 1 (byte 0): invalid literal: expected true");
    REJECTS("nul", "invalid literal: expected null");
    REJECTS("True", "expected a value, found 'T'");
    REJECTS("[\n  1,\n  x\n]", "line 3, column 3 (byte 9): expected a value, found 'x'");
    REJECTS("[\r\n1,\r\n]", "line 3, column 1");
    REJECTS("[1]\x01", "found byte 0x01");
    REJECTS("[1] ]", "found ']'");
    REJECTS("]", "expected a value, found ']'");
}

TEST(json_rejects_comments_nan_and_bom) {
    REJECTS("/* c */ 1", "found '/' (JSON has no comments)");
    REJECTS("[1] // c", "expected end of input after the top-level value, found '/'");
    REJECTS("[NaN]", "found 'N' (NaN and Infinity are not JSON)");
    REJECTS("[Infinity]", "NaN and Infinity are not JSON");
    REJECTS("[-Infinity]", "expected a digit after '-', found 'I'");
    REJECTS("\xEF\xBB\xBF[]", "line 1, column 1 (byte 0): the input starts with a UTF-8 byte "
                              "order mark");
    REJECTS("[\x00]", "expected a value"); /* strlen stops at the NUL: "[" */
    rejects(__FILE__, __LINE__, "[1,\x00]", 5, NULL, "column 4 (byte 3): expected a value, found "
                                               "byte 0x00");
}

TEST(json_rejects_bad_numbers) {
    REJECTS("[01]", "column 2 (byte 1): leading zeros are not allowed in numbers");
    REJECTS("[-01]", "leading zeros");
    REJECTS("[00]", "leading zeros");
    REJECTS("[-]", "column 3 (byte 2): expected a digit after '-', found ']'");
    REJECTS("[1.]", "column 4 (byte 3): expected a digit after the decimal point, found ']'");
    REJECTS("[1.e5]", "digit after the decimal point, found 'e'");
    REJECTS("[1e]", "expected a digit in the exponent, found ']'");
    REJECTS("[1e+]", "expected a digit in the exponent");
    REJECTS("[.5]", "expected a value, found '.'");
    REJECTS("[+1]", "expected a value, found '+'");
    REJECTS("[1.5.2]", "expected ',' or ']' after an array element, found '.'");
    REJECTS("[0x10]", "found 'x'");
    REJECTS("-", "expected a digit after '-', found end of input");
}

TEST(json_rejects_bad_strings) {
    REJECTS("[\"a\tb\"]", "column 4 (byte 3): raw control character (byte 0x09) in a string");
    REJECTS("[\"a\nb\"]", "raw control character (byte 0x0A)");
    REJECTS("[\"\\x\"]", "column 3 (byte 2): invalid escape");
    REJECTS("[\"\\'\"]", "invalid escape");
    REJECTS("[\"\\u12G4\"]", "column 7 (byte 6): expected 4 hex digits after \\u, found 'G'");
    REJECTS("[\"\\u12\"]", "expected 4 hex digits after \\u, found '\"'");
    REJECTS("[\"\\uD800\"]", "column 3 (byte 2): unpaired surrogate \\uD800: a high surrogate "
                             "must be followed");
    REJECTS("[\"\\uDC00\"]", "unpaired surrogate \\uDC00: a low surrogate must follow");
    REJECTS("[\"\\uD800\\u0041\"]", "unpaired surrogate \\uD800");
    REJECTS("[\"\\uD800\\uD800\"]", "unpaired surrogate \\uD800");
    REJECTS("[\"\\uDBFF\\n\"]", "unpaired surrogate \\uDBFF");
    REJECTS("[\"\\uD800\\u00\"]", "expected 4 hex digits");
    REJECTS("[\"\xC0\x80\"]", "column 3 (byte 2): invalid UTF-8 in a string (byte 0xC0");
    REJECTS("[\"\xED\xA0\x80\"]", "invalid UTF-8"); /* an encoded surrogate */
    REJECTS("[\"\xF4\x90\x80\x80\"]", "invalid UTF-8"); /* above U+10FFFF */
    REJECTS("[\"\xE2\x82\"]", "invalid UTF-8");         /* truncated */
    REJECTS("[\"\x80\"]", "invalid UTF-8");             /* a lone continuation byte */
    REJECTS("[\"\xFF\"]", "invalid UTF-8");
    REJECTS("[\"abc", "column 6 (byte 5): expected '\"' to close the string that starts at line "
                      "1, column 2, found end of input");
    REJECTS("[\"abc\\", "expected an escape character after '\\', found end of input");
    REJECTS("[\"a\tb", "raw control character"); /* the first error wins over the missing end */
    REJECTS("['a']", "expected a value, found '''");
    REJECTS("[\xC3\xA9]", "expected a value, found byte 0xC3");
}

TEST(json_strings_decode_escapes_and_utf8) {
    born_json *doc = parse("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", "
                           "\"\\uD83D\\uDE00\", \"a\\u0000b\", \"\xC3\xA9\xF0\x9F\x98\x80\", "
                           "\"\"]");
    CHECK_MSG(doc != NULL, "%s", born_last_error());
    const born_json_value *root = born_json_root(doc);
    const char *s = NULL;
    size_t len = 0;
    CHECK_OK(born_json_get_string(born_json_array_get(root, 0), &s, &len));
    CHECK(len == 8 && memcmp(s, "\"\\/\b\f\n\r\t", 8) == 0);
    CHECK_OK(born_json_get_string(born_json_array_get(root, 1), &s, &len));
    CHECK(len == 5 && memcmp(s, "\xC3\xA9\xE2\x82\xAC", 5) == 0);
    CHECK_OK(born_json_get_string(born_json_array_get(root, 2), &s, &len));
    CHECK(len == 4 && memcmp(s, "\xF0\x9F\x98\x80", 4) == 0);
    CHECK_OK(born_json_get_string(born_json_array_get(root, 3), &s, &len));
    CHECK(len == 3 && memcmp(s, "a\0b", 4) == 0); /* NUL inside, NUL-terminated */
    CHECK_OK(born_json_get_string(born_json_array_get(root, 4), &s, &len));
    CHECK(len == 6 && memcmp(s, "\xC3\xA9\xF0\x9F\x98\x80", 6) == 0);
    CHECK_OK(born_json_get_string(born_json_array_get(root, 5), &s, &len));
    CHECK(len == 0 && s[0] == '\0');
    born_json_free(doc);
    /* keys are decoded the same way, and may contain NUL */
    doc = parse("{\"a\\u0000b\": 1, \"\\u00e9\": 2}");
    root = born_json_root(doc);
    CHECK(born_json_object_find(root, "a\0b", 3) != NULL);
    CHECK(born_json_object_get(root, "a") == NULL);
    CHECK(born_json_object_get(root, "\xC3\xA9") != NULL);
    born_json_free(doc);
}

TEST(json_numbers) {
    born_json *doc = parse("[1e400, -1e400, -0, 9007199254740993, 9223372036854775807, "
                           "-9223372036854775808, 9223372036854775808, 1.5, 1.0, 2e3, 1e19, "
                           "12.50e1, 0.000e99999999999999999999, 1e-400, 0.1, -9223372036854775809,"
                           " 1234567890123456789000000000e-9]");
    CHECK_MSG(doc != NULL, "%s", born_last_error());
    const born_json_value *root = born_json_root(doc);
    double d = 0;
    int64_t i = 0;
    /* out of the double range: parsed (the text is kept), but not readable as a double */
    CHECK(born_json_get_double(born_json_array_get(root, 0), &d) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "born_json_get_double: the number 1e400 is out of the range of "
                                 "a double");
    CHECK(born_json_get_double(born_json_array_get(root, 1), &d) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "-1e400");
    CHECK(strcmp(born_json_number_text(born_json_array_get(root, 0), NULL), "1e400") == 0);
    CHECK(born_json_get_int64(born_json_array_get(root, 0), &i) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "is out of the int64 range");
    /* -0 keeps its sign as a double and is the integer 0 */
    CHECK_OK(born_json_get_double(born_json_array_get(root, 2), &d));
    CHECK(d == 0 && signbit(d));
    CHECK_OK(born_json_get_int64(born_json_array_get(root, 2), &i));
    CHECK_EQ_INT(i, 0);
    /* large integers are read exactly from the text, not through a double */
    CHECK_OK(born_json_get_int64(born_json_array_get(root, 3), &i));
    CHECK(i == 9007199254740993LL);
    CHECK_OK(born_json_get_int64(born_json_array_get(root, 4), &i));
    CHECK(i == INT64_MAX);
    CHECK_OK(born_json_get_int64(born_json_array_get(root, 5), &i));
    CHECK(i == INT64_MIN);
    i = 42;
    CHECK(born_json_get_int64(born_json_array_get(root, 6), &i) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "the number 9223372036854775808 is out of the int64 range");
    CHECK_EQ_INT(i, 42); /* untouched on failure */
    CHECK(born_json_get_int64(born_json_array_get(root, 7), &i) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "the number 1.5 is not an integer");
    CHECK_OK(born_json_get_int64(born_json_array_get(root, 8), &i));
    CHECK_EQ_INT(i, 1);
    CHECK_OK(born_json_get_int64(born_json_array_get(root, 9), &i));
    CHECK_EQ_INT(i, 2000);
    CHECK(born_json_get_int64(born_json_array_get(root, 10), &i) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "1e19 is out of the int64 range");
    CHECK_OK(born_json_get_int64(born_json_array_get(root, 11), &i));
    CHECK_EQ_INT(i, 125);
    CHECK_OK(born_json_get_int64(born_json_array_get(root, 12), &i));
    CHECK_EQ_INT(i, 0);
    /* too small for a double: rounds to 0, but is not an integer */
    CHECK_OK(born_json_get_double(born_json_array_get(root, 13), &d));
    CHECK(d == 0);
    CHECK(born_json_get_int64(born_json_array_get(root, 13), &i) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "not an integer");
    CHECK_OK(born_json_get_double(born_json_array_get(root, 14), &d));
    CHECK(d == 0.1);
    CHECK(born_json_get_int64(born_json_array_get(root, 15), &i) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "out of the int64 range");
    CHECK_OK(born_json_get_int64(born_json_array_get(root, 16), &i));
    CHECK(i == INT64_C(1234567890123456789));
    born_json_free(doc);
}

TEST(json_duplicate_keys) {
    /* by default the last value wins, at the first key's position */
    born_json_parse_params pp = born_json_parse_default_params();
    CHECK(!pp.reject_duplicate_keys);
    born_json *doc = parse("{\"a\": 1, \"b\": 2, \"a\": 3, \"a\": 4}");
    CHECK_MSG(doc != NULL, "%s", born_last_error());
    const born_json_value *root = born_json_root(doc);
    CHECK_EQ_INT(born_json_object_size(root), 2);
    const char *key = NULL;
    int64_t i = 0;
    CHECK_OK(born_json_get_int64(born_json_object_member(root, 0, &key, NULL), &i));
    CHECK(strcmp(key, "a") == 0 && i == 4);
    CHECK_OK(born_json_get_int64(born_json_object_member(root, 1, &key, NULL), &i));
    CHECK(strcmp(key, "b") == 0 && i == 2);
    CHECK_OK(born_json_get_int64(born_json_object_get(root, "a"), &i));
    CHECK_EQ_INT(i, 4);
    born_json_free(doc);
    /* reject_duplicate_keys makes a repeat an error that points at it */
    pp.reject_duplicate_keys = true;
    REJECTS_WITH(&pp, "{\"a\": 1, \"b\": 2, \"a\": 3}", "line 1, column 18 (byte 17): duplicate "
                 "key \"a\" (first at line 1, column 2) and reject_duplicate_keys is set");
    REJECTS_WITH(&pp, "{\"x\": {\"k\": 1,\n \"k\": 2}}", "line 2, column 2 (byte 16): "
                 "duplicate key \"k\"");
    /* the duplicate reported is the earliest in the document, whatever the keys' order */
    REJECTS_WITH(&pp, "{\"z\": 1, \"a\": 1, \"z\": 2, \"a\": 2}", "duplicate key \"z\"");
    const char *distinct = "{\"a\": 1, \"A\": 2, \"a \": 3}";
    doc = born_json_parse(distinct, strlen(distinct), &pp);
    CHECK_MSG(doc != NULL, "%s", born_last_error());
    born_json_free(doc);
}

/* Objects above the index threshold are searched through a sorted index. */
TEST(json_large_object_lookup) {
    born_json_writer *w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_begin_object(w));
    char key[32];
    for (int k = 0; k < 200; k++) {
        snprintf(key, sizeof key, "key%d", (k * 37) % 200);
        CHECK_OK(born_json_write_key(w, key));
        CHECK_OK(born_json_write_int64(w, (k * 37) % 200));
    }
    CHECK_OK(born_json_write_key(w, "key17")); /* a duplicate */
    CHECK_OK(born_json_write_int64(w, -1));
    CHECK_OK(born_json_write_end_object(w));
    size_t len = 0;
    const char *text = born_json_writer_text(w, &len);
    born_json_parse_params pp = born_json_parse_default_params();
    pp.reject_duplicate_keys = true;
    REJECTS_WITH(&pp, text, "duplicate key \"key17\"");
    born_json *doc = born_json_parse(text, len, NULL);
    const born_json_value *root = born_json_root(doc);
    CHECK_EQ_INT(born_json_object_size(root), 200);
    for (int k = 0; k < 200; k++) {
        snprintf(key, sizeof key, "key%d", k);
        int64_t v = -100;
        CHECK_OK(born_json_get_int64(born_json_object_get(root, key), &v));
        CHECK_EQ_INT(v, k == 17 ? -1 : k);
    }
    CHECK(born_json_object_get(root, "key200") == NULL);
    CHECK(born_json_object_get(root, "") == NULL);
    CHECK_EQ_INT(born_last_status(), BORN_OK);
    born_json_free(doc);
    /* without duplicates, the index comes straight from the duplicate check's sort */
    doc = parse("{\"j\":0,\"i\":1,\"h\":2,\"g\":3,\"f\":4,\"e\":5,\"d\":6,\"c\":7,\"b\":8,"
                "\"a\":9}");
    root = born_json_root(doc);
    int64_t v = -1;
    CHECK_OK(born_json_get_int64(born_json_object_get(root, "c"), &v));
    CHECK_EQ_INT(v, 7);
    CHECK_OK(born_json_get_int64(born_json_object_get(root, "j"), &v));
    CHECK_EQ_INT(v, 0);
    born_json_free(doc);
    born_json_writer_free(w);
}

TEST(json_limits) {
    char *deep = malloc(1000001);
    memset(deep, '[', 513);
    memset(deep + 513, ']', 513);
    born_json *doc = born_json_parse(deep + 1, 1024, NULL); /* 512 deep: allowed */
    CHECK_MSG(doc != NULL, "%s", born_last_error());
    born_json_free(doc);
    CHECK(born_json_parse(deep, 1026, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "line 1, column 513 (byte 512): nesting deeper than max_depth "
                                 "(512)");
    /* a million brackets fail at the limit, without recursion */
    memset(deep, '[', 1000000);
    CHECK(born_json_parse(deep, 1000000, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "max_depth (512)");
    /* with no depth limit they fail at the end of the input, still without recursion */
    born_json_parse_params pp = born_json_parse_default_params();
    pp.max_depth = INT_MAX;
    CHECK(born_json_parse(deep, 1000000, &pp) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "byte 1000000): expected a value, found end of input");
    pp.max_depth = 2;
    doc = born_json_parse("[{\"a\": 1}]", 10, &pp);
    CHECK(doc != NULL);
    born_json_free(doc);
    CHECK(born_json_parse("[{\"a\": []}]", 11, &pp) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "column 8 (byte 7): nesting deeper than max_depth (2)");
    pp.max_depth = 0;
    doc = born_json_parse("7", 1, &pp);
    CHECK(doc != NULL);
    born_json_free(doc);
    CHECK(born_json_parse("[]", 2, &pp) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "max_depth (0)");
    pp.max_depth = -1;
    CHECK(born_json_parse("[]", 2, &pp) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "max_depth is -1");
    pp = born_json_parse_default_params();
    CHECK(pp.max_size == (size_t)256 << 20);
    pp.max_size = 4;
    CHECK(born_json_parse("[1,2]", 5, &pp) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "the input is 5 bytes, more than max_size (4 bytes)");
    doc = born_json_parse("[12]", 4, &pp);
    CHECK(doc != NULL);
    born_json_free(doc);
    CHECK(born_json_parse(NULL, 3, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_parse: text is NULL");
    free(deep);
}

/* A document 100,000 levels deep is parsed, written, compared and freed without recursion. */
TEST(json_deep_document_without_recursion) {
    size_t n = 100000;
    char *text = malloc(2 * n + 1);
    memset(text, '[', n);
    memset(text + n, ']', n);
    born_json_parse_params pp = born_json_parse_default_params();
    pp.max_depth = (int)n;
    born_json *doc = born_json_parse(text, 2 * n, &pp);
    CHECK_MSG(doc != NULL, "%s", born_last_error());
    char *again = write_compact(born_json_root(doc), 0);
    CHECK(again && strlen(again) == 2 * n && memcmp(again, text, 2 * n) == 0);
    born_json *doc2 = born_json_parse(again, 2 * n, &pp);
    CHECK(born_json_value_equal(born_json_root(doc), born_json_root(doc2)));
    born_json_free(doc2);
    born_json_free(doc);
    free(again);
    free(text);
}

TEST(json_wrong_types_record_errors) {
    born_json *doc = parse("{\"n\": 1, \"a\": [true], \"s\": \"x\"}");
    const born_json_value *root = born_json_root(doc);
    bool b = false;
    CHECK(born_json_get_bool(born_json_object_get(root, "n"), &b) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "born_json_get_bool: the value is a number, not a bool");
    const char *s = NULL;
    CHECK(born_json_get_string(born_json_object_get(root, "a"), &s, NULL) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "the value is an array, not a string");
    double d;
    CHECK(born_json_get_double(root, &d) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "born_json_get_double: the value is an object, not a number");
    CHECK(born_json_number_text(born_json_object_get(root, "s"), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "born_json_number_text: the value is a string");
    CHECK_EQ_INT(born_json_array_length(root), 0);
    CHECK_ERROR(BORN_ERR_FORMAT, "born_json_array_length: the value is an object, not an array");
    CHECK_EQ_INT(born_json_object_size(born_json_object_get(root, "a")), 0);
    CHECK_ERROR(BORN_ERR_FORMAT, "not an object");
    CHECK(born_json_object_get(born_json_object_get(root, "a"), "x") == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "born_json_object_get: the value is an array, not an object");
    CHECK(born_json_array_get(born_json_object_get(root, "a"), 1) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_array_get: index 1 is out of range for an array "
                                   "of 1 elements");
    CHECK(born_json_object_member(root, 3, NULL, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "index 3 is out of range for an object of 3 members");
    CHECK(born_json_object_get(root, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "key is NULL");
    CHECK(born_json_get_bool(born_json_object_get(root, "a"), NULL) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "not a bool");
    CHECK(born_json_get_bool(born_json_array_get(born_json_object_get(root, "a"), 0), NULL) ==
          BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "out is NULL");
    /* a missing member gives NULL without an error; reading it then reports the NULL */
    CHECK(born_json_get_bool(born_json_object_get(root, "missing"), &b) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_get_bool: value is NULL");
    /* in a chain the first error is the one kept */
    CHECK(born_json_get_bool(born_json_array_get(born_json_object_get(root, "n"), 0), &b) != 0);
    CHECK_ERROR(BORN_ERR_FORMAT, "born_json_array_get: the value is a number");
    CHECK_EQ_INT(born_json_type_of(NULL), BORN_JSON_NONE);
    CHECK(born_json_root(NULL) == NULL);
    CHECK(strcmp(born_json_type_name(BORN_JSON_OBJECT), "object") == 0);
    CHECK_EQ_INT(born_last_status(), BORN_OK);
    born_json_free(doc);
    born_json_free(NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Writer                                                                                       */

/* Checks the writer's finished text and frees the writer. */
static void check_text(const char *file, int line, born_json_writer *w, const char *expected,
                       size_t expected_len) {
    size_t len = 0;
    const char *text = born_json_writer_text(w, &len);
    if (!text) {
        test_fail(file, line, "no text: %s", born_last_error());
        born_clear_error();
    } else if (len != expected_len || memcmp(text, expected, len) != 0) {
        test_fail(file, line, "wrote %s, expected %s", text, expected);
    }
    born_json_writer_free(w);
}
#define CHECK_TEXT(w, expected) check_text(__FILE__, __LINE__, (w), (expected), strlen(expected))

TEST(json_writer_builds_documents) {
    born_json_writer *w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_begin_object(w));
    CHECK_OK(born_json_write_key(w, "a"));
    CHECK_OK(born_json_write_begin_array(w));
    CHECK_OK(born_json_write_int64(w, INT64_MIN));
    CHECK_OK(born_json_write_bool(w, true));
    CHECK_OK(born_json_write_null(w));
    CHECK_OK(born_json_write_begin_object(w));
    CHECK_OK(born_json_write_end_object(w));
    CHECK_OK(born_json_write_begin_array(w));
    CHECK_OK(born_json_write_end_array(w));
    CHECK_OK(born_json_write_end_array(w));
    CHECK_OK(born_json_write_key(w, "b"));
    CHECK_OK(born_json_write_string(w, "x"));
    CHECK_OK(born_json_write_end_object(w));
    CHECK_TEXT(w, "{\"a\":[-9223372036854775808,true,null,{},[]],\"b\":\"x\"}");

    born_json_writer_params wp = born_json_writer_default_params();
    wp.indent = 2;
    w = born_json_writer_new(&wp);
    CHECK_OK(born_json_write_begin_object(w));
    CHECK_OK(born_json_write_key(w, "a"));
    CHECK_OK(born_json_write_begin_array(w));
    CHECK_OK(born_json_write_int64(w, 1));
    CHECK_OK(born_json_write_begin_array(w));
    CHECK_OK(born_json_write_end_array(w));
    CHECK_OK(born_json_write_end_array(w));
    CHECK_OK(born_json_write_key(w, "b"));
    CHECK_OK(born_json_write_begin_object(w));
    CHECK_OK(born_json_write_end_object(w));
    CHECK_OK(born_json_write_end_object(w));
    CHECK_TEXT(w, "{\n  \"a\": [\n    1,\n    []\n  ],\n  \"b\": {}\n}");

    w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_string(w, "top"));
    CHECK_TEXT(w, "\"top\"");
    wp.indent = -1;
    CHECK(born_json_writer_new(&wp) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "indent is -1");
}

TEST(json_writer_escapes_strings) {
    born_json_writer *w = born_json_writer_new(NULL);
    const char raw[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\0z\xC3\xA9\xE2\x80\xA8\xE2\x80\xA9"
                       "\xF0\x9F\x98\x80";
    CHECK_OK(born_json_write_string_n(w, raw, sizeof raw - 1));
    CHECK_TEXT(w, "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\\u0000z\xC3\xA9\\u2028\\u2029"
                  "\xF0\x9F\x98\x80\"");
    born_json_writer_params wp = born_json_writer_default_params();
    wp.escape_line_separators = false;
    w = born_json_writer_new(&wp);
    CHECK_OK(born_json_write_string(w, "\xE2\x80\xA8"));
    CHECK_TEXT(w, "\"\xE2\x80\xA8\"");
    w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_begin_object(w));
    CHECK_OK(born_json_write_key_n(w, "k\0\n", 3));
    CHECK_OK(born_json_write_string_n(w, NULL, 0));
    CHECK_OK(born_json_write_end_object(w));
    CHECK_TEXT(w, "{\"k\\u0000\\n\":\"\"}");
    /* written text parses back to the same bytes */
    w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_string_n(w, raw, sizeof raw - 1));
    size_t len = 0;
    const char *text = born_json_writer_text(w, &len);
    born_json *doc = born_json_parse(text, len, NULL);
    const char *s = NULL;
    CHECK_OK(born_json_get_string(born_json_root(doc), &s, &len));
    CHECK(len == sizeof raw - 1 && memcmp(s, raw, len) == 0);
    born_json_free(doc);
    born_json_writer_free(w);
    /* invalid UTF-8 is refused */
    w = born_json_writer_new(NULL);
    CHECK(born_json_write_string(w, "ab\xC0\x80") == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_write_string: invalid UTF-8 at byte 2 (0xC0)");
    born_json_writer_free(w);
    w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_begin_object(w));
    CHECK(born_json_write_key(w, "\xED\xA0\x80") == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_write_key: invalid UTF-8 at byte 0");
    born_json_writer_free(w);
}

/* Writes one double and returns its text (static buffer). */
static const char *double_text(double v) {
    static char out[64];
    born_json_writer *w = born_json_writer_new(NULL);
    const char *text = born_json_write_double(w, v) == BORN_OK ? born_json_writer_text(w, NULL)
                                                               : NULL;
    snprintf(out, sizeof out, "%s", text ? text : "(error)");
    born_json_writer_free(w);
    return out;
}

TEST(json_writer_numbers_round_trip) {
    CHECK(strcmp(double_text(0.1), "0.1") == 0);
    CHECK(strcmp(double_text(1.0), "1") == 0);
    CHECK(strcmp(double_text(-0.0), "-0") == 0);
    CHECK(strcmp(double_text(1e300), "1e+300") == 0);
    CHECK(strcmp(double_text(1.0 / 3), "0.3333333333333333") == 0);  /* 16 digits */
    CHECK(strcmp(double_text(0.1 + 0.2), "0.30000000000000004") == 0); /* 17 digits */
    CHECK(strcmp(double_text(123456789.0), "123456789") == 0);
    double values[] = {5e-324, DBL_MIN, DBL_MAX, -DBL_MAX, 2.0 / 3, 1e-7, 9007199254740993.0,
                       3.141592653589793, 1e23, 4.35, 1e15, 1e16, 1e17, 123456.789e-300};
    for (size_t k = 0; k < sizeof values / sizeof *values; k++) {
        const char *text = double_text(values[k]);
        born_json *doc = parse(text);
        double back = 0;
        CHECK_OK(born_json_get_double(born_json_root(doc), &back));
        CHECK_MSG(back == values[k], "%.17g wrote %s and read back %.17g", values[k], text,
                  back);
        born_json_free(doc);
    }
    born_json_writer *w = born_json_writer_new(NULL);
    CHECK(born_json_write_double(w, NAN) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_write_double: NaN has no JSON form");
    born_json_writer_free(w);
    w = born_json_writer_new(NULL);
    CHECK(born_json_write_double(w, -INFINITY) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "infinity has no JSON form");
    born_json_writer_free(w);
}

TEST(json_writer_reports_misuse) {
    born_json_writer *w = born_json_writer_new(NULL);
    CHECK(born_json_write_key(w, "a") == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_write_key: a key is only allowed directly inside "
                                   "an object");
    /* the first error sticks: later calls return it and write nothing */
    CHECK(born_json_write_null(w) == BORN_ERR_ARGUMENT);
    CHECK_EQ_INT(born_last_status(), BORN_OK);
    CHECK(born_json_writer_text(w, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_writer_text: the writer failed earlier");
    born_json_writer_free(w);

    w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_begin_object(w));
    CHECK(born_json_write_int64(w, 1) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_write_int64: a value inside an object needs a key "
                                   "first");
    born_json_writer_free(w);

    w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_begin_array(w));
    CHECK(born_json_write_key(w, "a") == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "a key is only allowed directly inside an object");
    born_json_writer_free(w);

    w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_begin_array(w));
    CHECK(born_json_write_end_object(w) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_write_end_object: the innermost open container is "
                                   "an array");
    born_json_writer_free(w);

    w = born_json_writer_new(NULL);
    CHECK(born_json_write_end_array(w) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_write_end_array: no array is open");
    born_json_writer_free(w);

    w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_begin_object(w));
    CHECK_OK(born_json_write_key(w, "a"));
    CHECK(born_json_write_key(w, "b") == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "the previous key has no value yet");
    born_json_writer_free(w);

    w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_begin_object(w));
    CHECK_OK(born_json_write_key(w, "a"));
    CHECK(born_json_write_end_object(w) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "the last key has no value");
    born_json_writer_free(w);

    w = born_json_writer_new(NULL);
    CHECK_OK(born_json_write_int64(w, 1));
    CHECK(born_json_write_int64(w, 2) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "the document already has its top-level value");
    born_json_writer_free(w);

    w = born_json_writer_new(NULL);
    CHECK(born_json_writer_text(w, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "the text is incomplete: no value has been written");
    CHECK_OK(born_json_write_begin_array(w));
    CHECK(born_json_writer_text(w, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "a container is still open");
    CHECK(born_json_write_string(w, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "str is NULL");
    born_json_writer_free(w);

    CHECK(born_json_write_null(NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "writer is NULL");
    CHECK(born_json_writer_text(NULL, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "writer is NULL");
    w = born_json_writer_new(NULL);
    CHECK(born_json_write_value(w, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_json_write_value: value is NULL");
    born_json_writer_free(w);
    born_json_writer_free(NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Round trips and equality                                                                     */

TEST(json_round_trips) {
    const char *docs[] = {
        "{\"a\": [1, 2.50, -0, 1e400, 0.1e-3], \"b\": {\"c\": null, \"d\": [true, false]}}",
        "\"\\u0000\\u001f\\u2028\\uD83D\\uDE00 \\\" \\\\ \\/\"",
        "[[], {}, [[]], {\"\": {\"\": []}}]",
        "-12345678901234567890123456789e-5",
        "{\"\xC3\xA9\": \"\xF0\x9F\x98\x80\", \"k\": \"\\t\"}",
        "null",
    };
    for (size_t k = 0; k < sizeof docs / sizeof *docs; k++) {
        born_json *first = parse(docs[k]);
        CHECK_MSG(first != NULL, "%s: %s", docs[k], born_last_error());
        for (int indent = 0; indent <= 4; indent += 4) {
            char *text = write_compact(born_json_root(first), indent);
            CHECK_MSG(text != NULL, "%s: %s", docs[k], born_last_error());
            born_json *second = text ? parse(text) : NULL;
            CHECK_MSG(second && born_json_value_equal(born_json_root(first),
                                                      born_json_root(second)),
                      "%s wrote %s", docs[k], text ? text : "(null)");
            /* writing is a fixed point: the second text equals the first */
            char *again = second ? write_compact(born_json_root(second), indent) : NULL;
            CHECK(again && text && strcmp(again, text) == 0);
            free(again);
            born_json_free(second);
            free(text);
        }
        born_json_free(first);
    }
    /* numbers keep their exact text */
    born_json *doc = parse("[1.50, 1E2, -0.0]");
    char *text = write_compact(born_json_root(doc), 0);
    CHECK(text && strcmp(text, "[1.50,1E2,-0.0]") == 0);
    free(text);
    born_json_free(doc);
}

/* Checks born_json_value_equal on two texts. */
static bool same(const char *a, const char *b) {
    born_json *x = parse(a), *y = parse(b);
    bool equal = x && y && born_json_value_equal(born_json_root(x), born_json_root(y));
    born_json_free(x);
    born_json_free(y);
    return equal;
}

TEST(json_value_equal) {
    CHECK(same("1", "1.0"));
    CHECK(same("1", "10e-1"));
    CHECK(same("100", "1e2"));
    CHECK(same("0.0012", "12e-4"));
    CHECK(same("-0", "0"));
    CHECK(same("0e5", "-0.000"));
    CHECK(same("1e400", "10e399"));
    CHECK(same("1e99999999999999999999", "1.0e99999999999999999999"));
    CHECK(!same("1e99999999999999999999", "1e99999999999999999998"));
    CHECK(!same("1e400", "2e400"));
    CHECK(!same("9007199254740993", "9007199254740992"));
    CHECK(!same("1", "-1"));
    CHECK(!same("1", "\"1\""));
    CHECK(same("{\"a\": 1, \"b\": [2]}", "{\"b\": [2], \"a\": 1}"));
    CHECK(!same("{\"a\": 1, \"b\": [2]}", "{\"a\": 1, \"c\": [2]}"));
    CHECK(!same("{\"a\": 1}", "{\"a\": 1, \"b\": 2}"));
    CHECK(!same("[1, 2]", "[2, 1]"));
    CHECK(!same("[[1]]", "[[1, 2]]"));
    CHECK(!same("\"a\\u0000\"", "\"a\""));
    CHECK(same("\"\\u00e9\"", "\"\xC3\xA9\""));
    CHECK(born_json_value_equal(NULL, NULL));
}

TEST(json_load_file) {
    char path[] = "/tmp/born_test_json_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"a\":\n [1, 2,]}", f);
    fclose(f);
    CHECK(born_json_load(path, NULL) == NULL);
    char needle[128];
    snprintf(needle, sizeof needle, "born_json_load: %s: line 2, column 8", path);
    CHECK_ERROR(BORN_ERR_FORMAT, needle);
    f = fopen(path, "w");
    fputs("{\"a\": [1, 2]}", f);
    fclose(f);
    born_json *doc = born_json_load(path, NULL);
    CHECK_EQ_INT(born_json_array_length(born_json_object_get(born_json_root(doc), "a")), 2);
    born_json_free(doc);
    born_json_parse_params pp = born_json_parse_default_params();
    pp.max_size = 5;
    CHECK(born_json_load(path, &pp) == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "more than max_size (5 bytes)");
    remove(path);
    CHECK(born_json_load(path, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_IO, "born_json_load: cannot open /tmp/born_test_json_");
}
