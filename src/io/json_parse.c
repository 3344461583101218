/* The JSON parser: strict RFC 8259, iterative (an explicit stack of open containers, so deep
 * input cannot overflow the C stack), building the document in an arena. Every error names the
 * line and column (in bytes, from 1), what was expected and what was found. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_internal.h"

/* A value being built. A container's members sit in the slots above its own until it closes. */
typedef struct slot {
    born_json_value value;
    const char *key; /* object members only */
    size_t key_len;
    size_t key_offset; /* where the key's opening quote is, for error messages */
    bool removed;      /* a repeated key, its value moved to the first occurrence */
} slot;

/* An open container: the slot that will hold it and where its bracket is. */
typedef struct frame {
    size_t slot;
    size_t offset;
} frame;

typedef struct parser {
    const char *where; /* the message prefix: "born_json_parse" or "born_json_load: path" */
    const unsigned char *text;
    size_t len, pos;
    born_json_parse_params params;
    born_json *doc;
    slot *slots;
    size_t nslots, slots_cap;
    frame *frames;
    size_t nframes, frames_cap;
    slot **scratch; /* sorting room for duplicate detection */
    size_t scratch_cap;
} parser;

born_json_parse_params born_json_parse_default_params(void) {
    return (born_json_parse_params){
        .max_depth = 512, .max_size = (size_t)256 << 20, .reject_duplicate_keys = false};
}

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                       */

static void position(const parser *p, size_t offset, size_t *line, size_t *column) {
    size_t l = 1, line_start = 0;
    for (size_t i = 0; i < offset && i < p->len; i++) {
        if (p->text[i] == '\n') {
            l++;
            line_start = i + 1;
        }
    }
    *line = l;
    *column = offset - line_start + 1;
}

/* Describes the byte at offset for a message: 'x', byte 0x0A, or end of input. */
static const char *found_at(const parser *p, size_t offset, char buf[32]) {
    if (offset >= p->len) return "end of input";
    unsigned c = p->text[offset];
    if (c > 0x20 && c < 0x7f)
        snprintf(buf, 32, "'%c'", (char)c);
    else if (c == ' ')
        snprintf(buf, 32, "a space");
    else
        snprintf(buf, 32, "byte 0x%02X", c);
    return buf;
}

/* Records a format error at offset: "<where>: line L, column C: <message>". Returns false. */
static bool fail(parser *p, size_t offset, const char *fmt, ...) BORN_PRINTF(3, 4);
static bool fail(parser *p, size_t offset, const char *fmt, ...) {
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    size_t line, column;
    position(p, offset, &line, &column);
    born_error(BORN_ERR_FORMAT, "%s: line %zu, column %zu (byte %zu): %s", p->where, line, column,
               offset, detail);
    return false;
}

/* "expected <what>, found <the byte at offset>". */
static bool fail_expected(parser *p, size_t offset, const char *what) {
    char buf[32];
    return fail(p, offset, "expected %s, found %s", what, found_at(p, offset, buf));
}

static bool out_of_memory(parser *p) {
    born_error(BORN_ERR_MEMORY, "%s: out of memory", p->where);
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Stacks                                                                                       */

static bool grow(void **items, size_t *cap, size_t need, size_t item_size) {
    if (need <= *cap) return true;
    size_t new_cap = *cap ? *cap * 2 : 64;
    while (new_cap < need) new_cap *= 2;
    void *grown = realloc(*items, new_cap * item_size);
    if (!grown) return false;
    *items = grown;
    *cap = new_cap;
    return true;
}

/* Pushes an empty slot for the next value (with its key inside an object). */
static bool push_slot(parser *p, const char *key, size_t key_len, size_t key_offset) {
    if (!grow((void **)&p->slots, &p->slots_cap, p->nslots + 1, sizeof(slot)))
        return out_of_memory(p);
    p->slots[p->nslots++] = (slot){.key = key, .key_len = key_len, .key_offset = key_offset};
    return true;
}

static void skip_whitespace(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->text[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
        p->pos++;
    }
}

static bool at(const parser *p, char c) { return p->pos < p->len && p->text[p->pos] == c; }

static bool is_digit(const parser *p) {
    return p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9';
}

/* ------------------------------------------------------------------------------------------ */
/* Strings                                                                                      */

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape whose backslash is at offset. */
static bool read_hex4(parser *p, size_t offset, uint32_t *out) {
    uint32_t v = 0;
    for (size_t i = offset + 2; i < offset + 6; i++) {
        int h = i < p->len ? hex_value(p->text[i]) : -1;
        if (h < 0) return fail_expected(p, i, "4 hex digits after \\u");
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return true;
}

/* Decodes the escape whose backslash is at p->pos into out (NULL to validate only), advancing
 * past it; *n gets the bytes written. */
static bool decode_escape(parser *p, unsigned char *out, size_t *n) {
    size_t start = p->pos;
    if (start + 1 >= p->len) return fail_expected(p, start + 1, "an escape character after '\\'");
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    unsigned char e = p->text[start + 1];
    const char *simple = e ? strchr(from, e) : NULL;
    if (simple) {
        if (out) out[0] = (unsigned char)to[simple - from];
        *n = 1;
        p->pos += 2;
        return true;
    }
    if (e != 'u') {
        char buf[32];
        return fail(p, start, "invalid escape: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t "
                    "\\u after '\\', found %s", found_at(p, start + 1, buf));
    }
    uint32_t cp;
    if (!read_hex4(p, start, &cp)) return false;
    p->pos += 6;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(p, start, "unpaired surrogate \\u%04X: a low surrogate must follow a high "
                    "surrogate (\\uD800-\\uDBFF)", (unsigned)cp);
    if (cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t low = 0;
        if (p->pos + 1 < p->len && p->text[p->pos] == '\\' && p->text[p->pos + 1] == 'u') {
            if (!read_hex4(p, p->pos, &low)) return false;
        }
        if (low < 0xdc00 || low > 0xdfff)
            return fail(p, start, "unpaired surrogate \\u%04X: a high surrogate must be "
                        "followed by a \\u escape of a low surrogate (\\uDC00-\\uDFFF)",
                        (unsigned)cp);
        p->pos += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    unsigned char utf8[4];
    *n = (size_t)json_utf8_encode(cp, out ? out : utf8);
    return true;
}

/* Decodes the string whose opening quote is at p->pos, checking every byte, into out (NULL to
 * validate only); leaves p->pos after the closing quote. */
static bool decode_string(parser *p, unsigned char *out, size_t *out_len) {
    size_t open = p->pos++, n = 0;
    for (;;) {
        if (p->pos >= p->len) {
            size_t line, column;
            position(p, open, &line, &column);
            return fail(p, p->pos, "expected '\"' to close the string that starts at line %zu, "
                        "column %zu, found end of input", line, column);
        }
        unsigned char c = p->text[p->pos];
        if (c == '"') break;
        if (c < 0x20)
            return fail(p, p->pos, "raw control character (byte 0x%02X) in a string: write it "
                        "as an escape such as \\u%04X", c, c);
        if (c == '\\') {
            size_t k = 0;
            if (!decode_escape(p, out ? out + n : NULL, &k)) return false;
            n += k;
        } else if (c < 0x80) {
            if (out) out[n] = c;
            n++;
            p->pos++;
        } else {
            uint32_t cp;
            int k = json_utf8_decode(p->text + p->pos, p->len - p->pos, &cp);
            if (k == 0)
                return fail(p, p->pos, "invalid UTF-8 in a string (byte 0x%02X does not start "
                            "a well-formed sequence)", c);
            if (out) memcpy(out + n, p->text + p->pos, (size_t)k);
            n += (size_t)k;
            p->pos += (size_t)k;
        }
    }
    p->pos++;
    if (out) out[n] = '\0';
    *out_len = n;
    return true;
}

/* Parses the string at p->pos into a NUL-terminated copy in the document's arena. */
static bool parse_string(parser *p, const char **bytes, size_t *len) {
    /* find the closing quote first: the decoded string is never longer than the raw one */
    size_t i = p->pos + 1;
    while (i < p->len && p->text[i] != '"') i += p->text[i] == '\\' ? 2 : 1;
    unsigned char *out = NULL;
    if (i < p->len) {
        out = json_arena_alloc(&p->doc->arena, i - p->pos);
        if (!out) return out_of_memory(p);
    }
    if (!decode_string(p, out, len)) return false;
    if (!out) return fail(p, p->pos, "internal error: string decoded without a buffer");
    *bytes = (const char *)out;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Scalars                                                                                      */

static bool parse_number(parser *p, born_json_value *v) {
    size_t start = p->pos;
    if (at(p, '-')) p->pos++;
    if (!is_digit(p)) return fail_expected(p, p->pos, "a digit after '-'");
    if (at(p, '0')) {
        p->pos++;
        if (is_digit(p)) return fail(p, start, "leading zeros are not allowed in numbers");
    } else {
        while (is_digit(p)) p->pos++;
    }
    if (at(p, '.')) {
        p->pos++;
        if (!is_digit(p)) return fail_expected(p, p->pos, "a digit after the decimal point");
        while (is_digit(p)) p->pos++;
    }
    if (at(p, 'e') || at(p, 'E')) {
        p->pos++;
        if (at(p, '+') || at(p, '-')) p->pos++;
        if (!is_digit(p)) return fail_expected(p, p->pos, "a digit in the exponent");
        while (is_digit(p)) p->pos++;
    }
    size_t len = p->pos - start;
    char *text = json_arena_alloc(&p->doc->arena, len + 1);
    if (!text) return out_of_memory(p);
    memcpy(text, p->text + start, len);
    text[len] = '\0';
    v->type = BORN_JSON_NUMBER;
    v->as.number.text = text;
    v->as.number.len = len;
    v->as.number.value = json_number_to_double(text, len);
    return true;
}

static bool parse_literal(parser *p, born_json_value *v) {
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (p->text[p->pos] != (unsigned char)words[i][0]) continue;
        if (p->len - p->pos < n || memcmp(p->text + p->pos, words[i], n) != 0)
            return fail(p, p->pos, "invalid literal: expected %s", words[i]);
        p->pos += n;
        v->type = i == 2 ? BORN_JSON_NULL : BORN_JSON_BOOL;
        v->as.boolean = i == 0;
        return true;
    }
    if (p->text[p->pos] == 'N' || p->text[p->pos] == 'I')
        return fail(p, p->pos, "expected a value, found '%c' (NaN and Infinity are not JSON)",
                    p->text[p->pos]);
    if (p->text[p->pos] == '/')
        return fail(p, p->pos, "expected a value, found '/' (JSON has no comments)");
    return fail_expected(p, p->pos, "a value");
}

/* Parses a scalar into v, or reports what was found where a value should be. */
static bool parse_scalar(parser *p, born_json_value *v) {
    unsigned char c = p->text[p->pos];
    if (c == '"') {
        v->type = BORN_JSON_STRING;
        return parse_string(p, &v->as.string.bytes, &v->as.string.len);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
    return parse_literal(p, v);
}

/* ------------------------------------------------------------------------------------------ */
/* Containers                                                                                   */

/* Parses `"key" :` at p->pos (after whitespace) and pushes the member's slot. */
static bool parse_key(parser *p) {
    if (!at(p, '"')) return fail_expected(p, p->pos, "'\"' to start an object key");
    size_t offset = p->pos, len;
    const char *key;
    if (!parse_string(p, &key, &len)) return false;
    skip_whitespace(p);
    if (!at(p, ':')) return fail_expected(p, p->pos, "':' after an object key");
    p->pos++;
    return push_slot(p, key, len, offset);
}

static bool open_container(parser *p, born_json_type type) {
    if (p->nframes >= (size_t)p->params.max_depth)
        return fail(p, p->pos, "nesting deeper than max_depth (%d)", p->params.max_depth);
    if (!grow((void **)&p->frames, &p->frames_cap, p->nframes + 1, sizeof(frame)))
        return out_of_memory(p);
    p->frames[p->nframes++] = (frame){.slot = p->nslots - 1, .offset = p->pos};
    p->slots[p->nslots - 1].value.type = type;
    p->pos++;
    return true;
}

static void close_array(parser *p, born_json_value *items_out, size_t n) {
    born_json_value *v = &p->slots[p->nslots - n - 1].value;
    v->as.array.items = items_out;
    v->as.array.count = n;
    for (size_t i = 0; i < n; i++) items_out[i] = p->slots[p->nslots - n + i].value;
    p->nslots -= n;
}

static int compare_slots(const void *a, const void *b) {
    const slot *x = *(const slot *const *)a, *y = *(const slot *const *)b;
    int c = json_key_compare(x->key, x->key_len, y->key, y->key_len);
    if (c) return c;
    return x < y ? -1 : x > y;
}

static int compare_members(const void *a, const void *b) {
    const json_member *x = *(const json_member *const *)a, *y = *(const json_member *const *)b;
    return json_key_compare(x->key, x->key_len, y->key, y->key_len);
}

/* Finds repeated keys among the n member slots from first: the last value moves to the first
 * occurrence and the others are removed (or, with reject_duplicate_keys, an error naming the
 * earliest repeat). Sets *removed when a slot was removed. */
static bool check_duplicates(parser *p, slot *first, size_t n, bool *removed) {
    *removed = false;
    if (n < 2) return true;
    if (!grow((void **)&p->scratch, &p->scratch_cap, n, sizeof(slot *))) return out_of_memory(p);
    for (size_t i = 0; i < n; i++) p->scratch[i] = first + i;
    qsort(p->scratch, n, sizeof(slot *), compare_slots);
    const slot *earliest_repeat = NULL, *its_first = NULL;
    for (size_t start = 0, end; start < n; start = end) {
        for (end = start + 1; end < n; end++) {
            if (json_key_compare(p->scratch[start]->key, p->scratch[start]->key_len,
                                 p->scratch[end]->key, p->scratch[end]->key_len) != 0)
                break;
        }
        if (end - start < 2) continue;
        if (p->params.reject_duplicate_keys) {
            if (!earliest_repeat || p->scratch[start + 1] < earliest_repeat) {
                earliest_repeat = p->scratch[start + 1];
                its_first = p->scratch[start];
            }
            continue;
        }
        p->scratch[start]->value = p->scratch[end - 1]->value;
        for (size_t k = start + 1; k < end; k++) p->scratch[k]->removed = true;
        *removed = true;
    }
    if (earliest_repeat) {
        size_t line, column;
        position(p, its_first->key_offset, &line, &column);
        return fail(p, earliest_repeat->key_offset, "duplicate key \"%.*s%s\" (first at line "
                    "%zu, column %zu) and reject_duplicate_keys is set",
                    (int)(earliest_repeat->key_len > 60 ? 60 : earliest_repeat->key_len),
                    earliest_repeat->key, earliest_repeat->key_len > 60 ? "..." : "", line,
                    column);
    }
    return true;
}

static bool close_object(parser *p, size_t n) {
    slot *first = &p->slots[p->nslots - n];
    bool removed;
    if (!check_duplicates(p, first, n, &removed)) return false;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) kept += !first[i].removed;
    json_member *members = kept ? json_arena_alloc(&p->doc->arena, kept * sizeof *members) : NULL;
    const json_member **index = NULL;
    if (kept > JSON_INDEX_MIN) index = json_arena_alloc(&p->doc->arena, kept * sizeof *index);
    if ((kept && !members) || (kept > JSON_INDEX_MIN && !index)) return out_of_memory(p);
    for (size_t i = 0, m = 0; i < n; i++) {
        if (first[i].removed) continue;
        members[m++] = (json_member){first[i].key, first[i].key_len, first[i].value};
    }
    if (index && !removed) { /* the scratch order is already sorted by key */
        for (size_t i = 0; i < kept; i++) index[i] = &members[p->scratch[i] - first];
    } else if (index) {
        for (size_t i = 0; i < kept; i++) index[i] = &members[i];
        qsort(index, kept, sizeof *index, compare_members);
    }
    born_json_value *v = &p->slots[p->nslots - n - 1].value;
    v->as.object.members = members;
    v->as.object.count = kept;
    v->as.object.index = index;
    p->nslots -= n;
    return true;
}

/* Closes the innermost container, whose closing bracket is at p->pos. */
static bool close_container(parser *p) {
    frame f = p->frames[--p->nframes];
    size_t n = p->nslots - f.slot - 1;
    p->pos++;
    if (p->slots[f.slot].value.type == BORN_JSON_OBJECT) return close_object(p, n);
    born_json_value *items = n ? json_arena_alloc(&p->doc->arena, n * sizeof *items) : NULL;
    if (n && !items) return out_of_memory(p);
    close_array(p, items, n);
    return true;
}

/* After a complete value: reads ',' or the closing bracket of the innermost container, closing
 * as many containers as end here. Sets *done at the end of the top-level value. */
static bool after_value(parser *p, bool *done) {
    for (;;) {
        skip_whitespace(p);
        if (p->nframes == 0) {
            if (p->pos < p->len)
                return fail_expected(p, p->pos, "end of input after the top-level value");
            *done = true;
            return true;
        }
        const frame *f = &p->frames[p->nframes - 1];
        bool object = p->slots[f->slot].value.type == BORN_JSON_OBJECT;
        char close = object ? '}' : ']';
        if (at(p, close)) {
            if (!close_container(p)) return false;
            continue;
        }
        if (!at(p, ',')) {
            char buf[32], what[160];
            const char *found = found_at(p, p->pos, buf);
            size_t line, column;
            position(p, f->offset, &line, &column);
            snprintf(what, sizeof what, "%s started at line %zu, column %zu", object ? "object"
                     : "array", line, column);
            return fail(p, p->pos, "expected ',' or '%c' after %s, found %s (in the %s)", close,
                        object ? "an object member" : "an array element", found, what);
        }
        p->pos++;
        skip_whitespace(p);
        if (at(p, close))
            return fail(p, p->pos, "expected a value after ',', found '%c' (trailing commas are "
                        "not allowed)", close);
        *done = false;
        return object ? parse_key(p) : push_slot(p, NULL, 0, 0);
    }
}

/* Parses the whole input; the top-level value ends in slot 0. */
static bool parse_document(parser *p) {
    if (p->len >= 3 && memcmp(p->text, "\xEF\xBB\xBF", 3) == 0)
        return fail(p, 0, "the input starts with a UTF-8 byte order mark, which JSON text must "
                    "not have");
    if (!push_slot(p, NULL, 0, 0)) return false;
    for (bool done = false; !done;) {
        skip_whitespace(p);
        if (p->pos >= p->len) return fail_expected(p, p->pos, "a value");
        unsigned char c = p->text[p->pos];
        if (c == '[' || c == '{') {
            bool object = c == '{';
            if (!open_container(p, object ? BORN_JSON_OBJECT : BORN_JSON_ARRAY)) return false;
            skip_whitespace(p);
            if (at(p, object ? '}' : ']')) {
                if (!close_container(p) || !after_value(p, &done)) return false;
            } else if (!(object ? parse_key(p) : push_slot(p, NULL, 0, 0))) {
                return false;
            }
            continue;
        }
        if (!parse_scalar(p, &p->slots[p->nslots - 1].value) || !after_value(p, &done))
            return false;
    }
    return true;
}

/* The parser behind born_json_parse and born_json_load; where prefixes every message. */
static born_json *parse_with(const char *where, const char *text, size_t len,
                             const born_json_parse_params *params) {
    born_json_parse_params pp = params ? *params : born_json_parse_default_params();
    if (!text && len > 0) return born_error_null(BORN_ERR_ARGUMENT, "%s: text is NULL", where);
    if (pp.max_depth < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: max_depth is %d; it must be at least 0",
                               where, pp.max_depth);
    if (len > pp.max_size)
        return born_error_null(BORN_ERR_FORMAT, "%s: the input is %zu bytes, more than max_size "
                               "(%zu bytes)", where, len, pp.max_size);
    parser p = {.where = where, .text = (const unsigned char *)text, .len = len, .params = pp};
    p.doc = calloc(1, sizeof *p.doc);
    if (!p.doc) return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", where);
    bool ok = parse_document(&p);
    if (ok) p.doc->root = p.slots[0].value;
    free(p.slots);
    free(p.frames);
    free(p.scratch);
    if (ok) return p.doc;
    born_json_free(p.doc);
    return NULL;
}

born_json *born_json_parse(const char *text, size_t len, const born_json_parse_params *params) {
    return parse_with("born_json_parse", text, len, params);
}

born_json *born_json_load(const char *path, const born_json_parse_params *params) {
    if (!path) return born_error_null(BORN_ERR_ARGUMENT, "born_json_load: path is NULL");
    size_t max_size = params ? params->max_size : born_json_parse_default_params().max_size;
    FILE *f = fopen(path, "rb");
    if (!f) return born_error_null(BORN_ERR_IO, "born_json_load: cannot open %s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    bool ok = true;
    for (;;) { /* read in growing blocks, stopping one byte past max_size */
        if (len == cap) {
            size_t want = cap ? cap * 2 : 65536;
            char *grown = realloc(buf, want);
            if (!grown) {
                ok = false;
                born_error(BORN_ERR_MEMORY, "born_json_load: %s: out of memory", path);
                break;
            }
            buf = grown;
            cap = want;
        }
        size_t room = cap - len;
        if (room > max_size - len + 1 && max_size < SIZE_MAX) room = max_size - len + 1;
        size_t got = fread(buf + len, 1, room, f);
        len += got;
        if (got < room || len > max_size) break;
    }
    if (ok && ferror(f)) {
        ok = false;
        born_error(BORN_ERR_IO, "born_json_load: error reading %s", path);
    }
    fclose(f);
    born_json *doc = NULL;
    if (ok) {
        char where[300];
        snprintf(where, sizeof where, "born_json_load: %s", path);
        doc = parse_with(where, buf ? buf : "", len, params);
    }
    free(buf);
    return doc;
}
