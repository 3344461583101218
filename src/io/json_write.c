/* The JSON writer: appends to a growable buffer while checking that the calls form one
 * well-formed value. The first error sticks and later calls write nothing. */
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_internal.h"

/* An open container. */
typedef struct level {
    bool object;
    bool key_pending; /* a key has been written and its value has not */
    size_t count;     /* elements or members so far */
} level;

struct born_json_writer {
    born_json_writer_params params;
    char *buf; /* always NUL-terminated */
    size_t len, cap;
    level *levels;
    size_t depth, levels_cap;
    bool complete; /* the top-level value is finished */
    born_status status;
};

born_json_writer_params born_json_writer_default_params(void) {
    return (born_json_writer_params){.indent = 0, .escape_line_separators = true};
}

born_json_writer *born_json_writer_new(const born_json_writer_params *params) {
    born_json_writer_params pp = params ? *params : born_json_writer_default_params();
    if (pp.indent < 0 || pp.indent > 64)
        return born_error_null(BORN_ERR_ARGUMENT, "born_json_writer_new: indent is %d; it must "
                               "be between 0 and 64", pp.indent);
    born_json_writer *w = calloc(1, sizeof *w);
    if (!w) return born_error_null(BORN_ERR_MEMORY, "born_json_writer_new: out of memory");
    w->params = pp;
    return w;
}

void born_json_writer_free(born_json_writer *writer) {
    if (!writer) return;
    free(writer->buf);
    free(writer->levels);
    free(writer);
}

/* Records the writer's first error (and the thread's, unless one is already recorded). */
static born_status misuse(born_json_writer *w, const char *fn, const char *what) {
    w->status = born_error(BORN_ERR_ARGUMENT, "%s: %s", fn, what);
    return w->status;
}

/* ------------------------------------------------------------------------------------------ */
/* The buffer                                                                                   */

static bool reserve(born_json_writer *w, size_t more) {
    if (w->cap - w->len > more) return true; /* room for the bytes and the NUL */
    if (more > SIZE_MAX / 2 - w->len) {
        w->status = born_error(BORN_ERR_MEMORY, "born_json_writer: the text is too large");
        return false;
    }
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len <= more) cap *= 2;
    char *grown = realloc(w->buf, cap);
    if (!grown) {
        w->status = born_error(BORN_ERR_MEMORY, "born_json_writer: out of memory");
        return false;
    }
    w->buf = grown;
    w->cap = cap;
    return true;
}

static bool append(born_json_writer *w, const char *bytes, size_t n) {
    if (!reserve(w, n)) return false;
    memcpy(w->buf + w->len, bytes, n);
    w->len += n;
    w->buf[w->len] = '\0';
    return true;
}

static bool append_char(born_json_writer *w, char c) { return append(w, &c, 1); }

/* In indented mode: a newline and the indentation of `depth` levels. */
static bool newline(born_json_writer *w, size_t depth) {
    if (w->params.indent == 0) return true;
    if (!append_char(w, '\n')) return false;
    for (size_t i = 0; i < depth * (size_t)w->params.indent; i++)
        if (!append_char(w, ' ')) return false;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Sequence checks                                                                              */

/* Checks that a value may come now and writes the separator before it. */
static born_status before_value(born_json_writer *w, const char *fn) {
    if (w->status) return w->status;
    if (w->depth == 0) {
        if (w->complete) return misuse(w, fn, "the document already has its top-level value");
        return BORN_OK;
    }
    level *top = &w->levels[w->depth - 1];
    if (top->object) {
        if (!top->key_pending)
            return misuse(w, fn, "a value inside an object needs a key first "
                                 "(born_json_write_key)");
        top->key_pending = false;
        return BORN_OK;
    }
    if (top->count++ > 0 && !append_char(w, ',')) return w->status;
    return newline(w, w->depth) ? BORN_OK : w->status;
}

/* After a scalar or a closed container: the document is complete at depth 0. */
static born_status after_value(born_json_writer *w) {
    if (w->depth == 0) w->complete = true;
    return w->status;
}

static born_status begin(born_json_writer *w, const char *fn, bool object) {
    born_status st = before_value(w, fn);
    if (st) return st;
    if (w->depth == w->levels_cap) {
        size_t cap = w->levels_cap ? w->levels_cap * 2 : 16;
        level *grown = realloc(w->levels, cap * sizeof *grown);
        if (!grown) return w->status = born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
        w->levels = grown;
        w->levels_cap = cap;
    }
    if (!append_char(w, object ? '{' : '[')) return w->status;
    w->levels[w->depth++] = (level){.object = object};
    return BORN_OK;
}

static born_status end(born_json_writer *w, const char *fn, bool object) {
    if (w->status) return w->status;
    if (w->depth == 0)
        return misuse(w, fn, object ? "no object is open" : "no array is open");
    level *top = &w->levels[w->depth - 1];
    if (top->object != object)
        return misuse(w, fn, top->object ? "the innermost open container is an object"
                                         : "the innermost open container is an array");
    if (top->key_pending) return misuse(w, fn, "the last key has no value");
    w->depth--;
    if (top->count > 0 && !newline(w, w->depth)) return w->status;
    if (!append_char(w, object ? '}' : ']')) return w->status;
    return after_value(w);
}

born_status born_json_write_begin_object(born_json_writer *writer) {
    if (!writer)
        return born_error(BORN_ERR_ARGUMENT, "born_json_write_begin_object: writer is NULL");
    return begin(writer, "born_json_write_begin_object", true);
}

born_status born_json_write_end_object(born_json_writer *writer) {
    if (!writer)
        return born_error(BORN_ERR_ARGUMENT, "born_json_write_end_object: writer is NULL");
    return end(writer, "born_json_write_end_object", true);
}

born_status born_json_write_begin_array(born_json_writer *writer) {
    if (!writer)
        return born_error(BORN_ERR_ARGUMENT, "born_json_write_begin_array: writer is NULL");
    return begin(writer, "born_json_write_begin_array", false);
}

born_status born_json_write_end_array(born_json_writer *writer) {
    if (!writer)
        return born_error(BORN_ERR_ARGUMENT, "born_json_write_end_array: writer is NULL");
    return end(writer, "born_json_write_end_array", false);
}

/* ------------------------------------------------------------------------------------------ */
/* Strings                                                                                      */

/* Checks that str is valid UTF-8, recording an error naming the first bad byte if not. */
static born_status check_utf8(born_json_writer *w, const char *fn, const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n = json_utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            w->status = born_error(BORN_ERR_ARGUMENT, "%s: invalid UTF-8 at byte %zu (0x%02X)",
                                   fn, i, s[i]);
            return w->status;
        }
        i += (size_t)n;
    }
    return BORN_OK;
}

/* Appends str (valid UTF-8) as a quoted, escaped JSON string. */
static bool append_quoted(born_json_writer *w, const char *str, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    if (!append_char(w, '"')) return false;
    size_t run = 0; /* bytes copied as they are, waiting to be appended */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        char esc[8];
        size_t n = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, n = 2;
        } else if (c < 0x20) {
            const char *short_form = c == '\b' ? "b" : c == '\f' ? "f" : c == '\n' ? "n"
                                   : c == '\r' ? "r" : c == '\t' ? "t" : NULL;
            if (short_form) {
                esc[0] = '\\', esc[1] = short_form[0], n = 2;
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4], esc[5] = hex[c & 15], n = 6;
            }
        } else if (c == 0xe2 && w->params.escape_line_separators && i + 2 < len &&
                   s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
            memcpy(esc, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
            n = 6;
        }
        if (n == 0) {
            run++;
            continue;
        }
        if (!append(w, str + i - run, run) || !append(w, esc, n)) return false;
        run = 0;
        if (c == 0xe2) i += 2; /* the rest of U+2028 / U+2029 */
    }
    return append(w, str + len - run, run) && append_char(w, '"');
}

born_status born_json_write_key_n(born_json_writer *writer, const char *key, size_t key_len) {
    static const char fn[] = "born_json_write_key";
    if (!writer) return born_error(BORN_ERR_ARGUMENT, "%s: writer is NULL", fn);
    if (writer->status) return writer->status;
    if (!key) return misuse(writer, fn, "key is NULL");
    if (writer->depth == 0 || !writer->levels[writer->depth - 1].object)
        return misuse(writer, fn, "a key is only allowed directly inside an object");
    level *top = &writer->levels[writer->depth - 1];
    if (top->key_pending) return misuse(writer, fn, "the previous key has no value yet");
    born_status st = check_utf8(writer, fn, key, key_len);
    if (st) return st;
    if (top->count++ > 0 && !append_char(writer, ',')) return writer->status;
    if (!newline(writer, writer->depth) || !append_quoted(writer, key, key_len) ||
        !append(writer, ": ", writer->params.indent ? 2 : 1))
        return writer->status;
    top->key_pending = true;
    return BORN_OK;
}

born_status born_json_write_key(born_json_writer *writer, const char *key) {
    return born_json_write_key_n(writer, key, key ? strlen(key) : 0);
}

born_status born_json_write_string_n(born_json_writer *writer, const char *str, size_t len) {
    static const char fn[] = "born_json_write_string";
    if (!writer) return born_error(BORN_ERR_ARGUMENT, "%s: writer is NULL", fn);
    if (writer->status) return writer->status;
    if (!str && len > 0) return misuse(writer, fn, "str is NULL");
    born_status st = check_utf8(writer, fn, str, len);
    if (st) return st;
    st = before_value(writer, fn);
    if (st) return st;
    if (!append_quoted(writer, str ? str : "", len)) return writer->status;
    return after_value(writer);
}

born_status born_json_write_string(born_json_writer *writer, const char *str) {
    if (writer && !writer->status && !str) return misuse(writer, "born_json_write_string",
                                                         "str is NULL");
    return born_json_write_string_n(writer, str, str ? strlen(str) : 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Other scalars                                                                                */

/* Appends a scalar's text after the sequence checks. */
static born_status write_raw(born_json_writer *w, const char *fn, const char *text, size_t len) {
    if (!w) return born_error(BORN_ERR_ARGUMENT, "%s: writer is NULL", fn);
    born_status st = before_value(w, fn);
    if (st) return st;
    if (!append(w, text, len)) return w->status;
    return after_value(w);
}

/* Rewrites the C locale's decimal point in a printf'd number as '.'. */
static void fix_decimal_point(char *buf) {
    const char *point = localeconv()->decimal_point;
    if (point[0] == '.' && point[1] == '\0') return;
    char *at = point[0] ? strstr(buf, point) : NULL;
    if (!at) return;
    size_t n = strlen(point);
    *at = '.';
    memmove(at + 1, at + n, strlen(at + n) + 1);
}

born_status born_json_write_double(born_json_writer *writer, double value) {
    static const char fn[] = "born_json_write_double";
    if (writer && !writer->status && !isfinite(value))
        return misuse(writer, fn, isnan(value) ? "NaN has no JSON form"
                                               : "infinity has no JSON form");
    char buf[40];
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(buf, sizeof buf, "%.*g", precision, value);
        fix_decimal_point(buf);
        if (json_number_to_double(buf, strlen(buf)) == value) break;
    }
    return write_raw(writer, fn, buf, strlen(buf));
}

born_status born_json_write_int64(born_json_writer *writer, int64_t value) {
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRId64, value);
    return write_raw(writer, "born_json_write_int64", buf, strlen(buf));
}

born_status born_json_write_bool(born_json_writer *writer, bool value) {
    return write_raw(writer, "born_json_write_bool", value ? "true" : "false", value ? 4 : 5);
}

born_status born_json_write_null(born_json_writer *writer) {
    return write_raw(writer, "born_json_write_null", "null", 4);
}

/* ------------------------------------------------------------------------------------------ */
/* Parsed values and the result                                                                 */

/* Writes a scalar, or opens a container; returns whether v is a container. */
static bool write_start(born_json_writer *w, const born_json_value *v) {
    switch (v->type) {
    case BORN_JSON_NULL: born_json_write_null(w); return false;
    case BORN_JSON_BOOL: born_json_write_bool(w, v->as.boolean); return false;
    case BORN_JSON_NUMBER:
        write_raw(w, "born_json_write_value", v->as.number.text, v->as.number.len);
        return false;
    case BORN_JSON_STRING:
        born_json_write_string_n(w, v->as.string.bytes, v->as.string.len);
        return false;
    case BORN_JSON_ARRAY: born_json_write_begin_array(w); return true;
    case BORN_JSON_OBJECT: born_json_write_begin_object(w); return true;
    case BORN_JSON_NONE: break;
    }
    misuse(w, "born_json_write_value", "the value has no type");
    return false;
}

/* An open container of a value being written, and the next child to write. */
typedef struct write_frame {
    const born_json_value *v;
    size_t next;
} write_frame;

born_status born_json_write_value(born_json_writer *writer, const born_json_value *value) {
    static const char fn[] = "born_json_write_value";
    if (!writer) return born_error(BORN_ERR_ARGUMENT, "%s: writer is NULL", fn);
    if (writer->status) return writer->status;
    if (!value) return misuse(writer, fn, "value is NULL");
    /* iterative, so that a document of any depth is written without deep recursion */
    write_frame *stack = NULL;
    size_t depth = 0, cap = 0;
    if (write_start(writer, value)) depth = 1;
    if (depth) {
        stack = malloc(16 * sizeof *stack);
        if (!stack) return writer->status = born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
        cap = 16;
        stack[0] = (write_frame){value, 0};
    }
    while (depth > 0 && !writer->status) {
        write_frame *top = &stack[depth - 1];
        const born_json_value *v = top->v, *child;
        bool object = v->type == BORN_JSON_OBJECT;
        size_t count = object ? v->as.object.count : v->as.array.count;
        if (top->next == count) {
            if (object)
                born_json_write_end_object(writer);
            else
                born_json_write_end_array(writer);
            depth--;
            continue;
        }
        if (object) {
            const json_member *m = &v->as.object.members[top->next++];
            born_json_write_key_n(writer, m->key, m->key_len);
            child = &m->value;
        } else {
            child = &v->as.array.items[top->next++];
        }
        if (!write_start(writer, child)) continue;
        if (depth == cap) {
            write_frame *grown = realloc(stack, 2 * cap * sizeof *grown);
            if (!grown) {
                writer->status = born_error(BORN_ERR_MEMORY, "%s: out of memory", fn);
                break;
            }
            stack = grown;
            cap *= 2;
        }
        stack[depth++] = (write_frame){child, 0};
    }
    free(stack);
    return writer->status;
}

const char *born_json_writer_text(const born_json_writer *writer, size_t *len) {
    static const char fn[] = "born_json_writer_text";
    if (!writer) return born_error_null(BORN_ERR_ARGUMENT, "%s: writer is NULL", fn);
    if (writer->status)
        return born_error_null(writer->status, "%s: the writer failed earlier", fn);
    if (!writer->complete)
        return born_error_null(BORN_ERR_ARGUMENT, writer->depth == 0
                               ? "%s: the text is incomplete: no value has been written"
                               : "%s: the text is incomplete: a container is still open", fn);
    if (len) *len = writer->len;
    return writer->buf;
}
