/* Values of the chat-template interpreter: arenas, strings, lists and dicts, and the Python
 * semantics the templates see (str(), repr(), ==, <, len(), iteration, json.dumps). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/chat_template/ct_internal.h"
#include "llm/tokenizer/unicode.h"

/* ------------------------------------------------------------------------------------------ */
/* Failure                                                                                      */

void ct_raise(ct_fail *f, born_status status, int line, int col, const char *fmt, ...) {
    f->status = status;
    int n = 0;
    if (line > 0) n = snprintf(f->msg, sizeof f->msg, "line %d, column %d: ", line, col);
    if (n < 0 || (size_t)n >= sizeof f->msg) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg + n, sizeof f->msg - (size_t)n, fmt, ap);
    va_end(ap);
    longjmp(f->jb, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Arenas                                                                                       */

struct ct_chunk {
    ct_chunk *next;
    size_t size;
    _Alignas(16) char data[];
};

enum { CT_CHUNK = 64 * 1024 };

void ct_arena_init(ct_arena *a, ct_fail *fail, size_t limit) {
    memset(a, 0, sizeof *a);
    a->fail = fail;
    a->limit = limit;
}

void ct_arena_free(ct_arena *a) {
    ct_chunk *c = a->chunks;
    while (c) {
        ct_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->chunks = NULL;
    a->cur = NULL;
    a->avail = 0;
    a->total = 0;
}

void *ct_alloc(ct_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (n <= a->avail) {
        void *p = a->cur;
        a->cur += n;
        a->avail -= n;
        return p;
    }
    size_t size = n > CT_CHUNK / 4 ? n : CT_CHUNK;
    if (size > SIZE_MAX - sizeof(ct_chunk) || a->total + size > a->limit)
        ct_raise(a->fail, BORN_ERR_ARGUMENT, 0, 0,
                 "the render needs more than max_memory (%zu bytes) of working memory", a->limit);
    ct_chunk *c = malloc(sizeof(ct_chunk) + size);
    if (!c) ct_raise(a->fail, BORN_ERR_MEMORY, 0, 0, "out of memory (%zu bytes)", size);
    c->size = size;
    a->total += size;
    if (size == n && a->chunks) {
        /* a large block: keep the current chunk's free space for later */
        c->next = a->chunks->next;
        a->chunks->next = c;
        return c->data;
    }
    c->next = a->chunks;
    a->chunks = c;
    a->cur = c->data + n;
    a->avail = size - n;
    return c->data;
}

void *ct_zalloc(ct_arena *a, size_t n) {
    void *p = ct_alloc(a, n);
    memset(p, 0, n);
    return p;
}

void *ct_alloc_array(ct_arena *a, size_t n, size_t size) {
    if (size && n > SIZE_MAX / 2 / size)
        ct_raise(a->fail, BORN_ERR_ARGUMENT, 0, 0, "an array of %zu elements is too large", n);
    return ct_alloc(a, n * size);
}

/* ------------------------------------------------------------------------------------------ */
/* UTF-8                                                                                        */

uint32_t ct_utf8_next(const char *s, size_t *i) {
    const uint8_t *p = (const uint8_t *)s + *i;
    uint32_t c = p[0];
    if (c < 0x80) {
        *i += 1;
        return c;
    }
    if (c < 0xE0) {
        *i += 2;
        return ((c & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (c < 0xF0) {
        *i += 3;
        return ((c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    *i += 4;
    return ((c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) |
           (p[3] & 0x3F);
}

size_t ct_utf8_put(uint32_t cp, char *out) {
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

size_t ct_utf8_count(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((uint8_t)s[i] & 0xC0) != 0x80) n++;
    return n;
}

size_t ct_utf8_offset(const ct_str *s, size_t k) {
    if (s->nchars == s->len) return k;
    size_t i = 0;
    while (k > 0 && i < s->len) {
        ct_utf8_next(s->data, &i);
        k--;
    }
    return i;
}

bool ct_is_space(uint32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Strings                                                                                      */

const ct_str *ct_str_new(ct_arena *a, const char *data, size_t len) {
    if (len > SIZE_MAX / 2)
        ct_raise(a->fail, BORN_ERR_ARGUMENT, 0, 0, "a string of %zu bytes is too large", len);
    ct_str *s = ct_alloc(a, sizeof(ct_str) + len + 1);
    s->len = len;
    if (len) memcpy(s->data, data, len);
    s->data[len] = '\0';
    s->nchars = ct_utf8_count(s->data, len);
    return s;
}

const ct_str *ct_str_cat(ct_arena *a, const ct_str *x, const ct_str *y) {
    if (x->len > SIZE_MAX / 4 || y->len > SIZE_MAX / 4)
        ct_raise(a->fail, BORN_ERR_ARGUMENT, 0, 0, "a string is too large");
    ct_str *s = ct_alloc(a, sizeof(ct_str) + x->len + y->len + 1);
    s->len = x->len + y->len;
    s->nchars = x->nchars + y->nchars;
    memcpy(s->data, x->data, x->len);
    memcpy(s->data + x->len, y->data, y->len);
    s->data[s->len] = '\0';
    return s;
}

const ct_str *ct_cstr(ct_arena *a, const char *s) { return ct_str_new(a, s, strlen(s)); }

bool ct_str_eq(const ct_str *a, const char *s, size_t len) {
    return a->len == len && memcmp(a->data, s, len) == 0;
}

bool ct_str_eqs(const ct_str *a, const ct_str *b) {
    return a == b || (a->len == b->len && memcmp(a->data, b->data, a->len) == 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Lists and dicts                                                                              */

ct_list *ct_list_new(ct_arena *a, size_t cap, uint8_t kind) {
    ct_list *l = ct_zalloc(a, sizeof *l);
    l->kind = kind;
    l->cap = cap;
    l->items = cap ? ct_alloc_array(a, cap, sizeof(ct_value)) : NULL;
    return l;
}

void ct_list_push(ct_arena *a, ct_list *l, ct_value v) {
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        ct_value *items = ct_alloc_array(a, cap, sizeof(ct_value));
        if (l->len) memcpy(items, l->items, l->len * sizeof(ct_value));
        l->items = items;
        l->cap = cap;
    }
    l->items[l->len++] = v;
}

ct_dict *ct_dict_new(ct_arena *a, size_t cap) {
    ct_dict *d = ct_zalloc(a, sizeof *d);
    d->cap = cap;
    if (cap) {
        d->keys = ct_alloc_array(a, cap, sizeof(ct_value));
        d->vals = ct_alloc_array(a, cap, sizeof(ct_value));
    }
    return d;
}

static bool hashable(ct_value v) {
    switch (v.type) {
    case CT_NONE: case CT_BOOL: case CT_INT: case CT_FLOAT: case CT_STR: case CT_NS: case CT_FUNC:
    case CT_MACRO: case CT_LOOP: case CT_UNDEF:
        return true;
    case CT_LIST:
        return v.l->kind == CT_LIST_TUPLE || v.l->kind == CT_LIST_RANGE ||
               v.l->kind == CT_LIST_ITER;
    default:
        return false;
    }
}

ct_value *ct_dict_find_str(ct_ctx *c, const ct_dict *d, const char *key, size_t len) {
    ct_charge(c, (int64_t)d->len / 8 + 1);
    for (size_t i = 0; i < d->len; i++)
        if (d->keys[i].type == CT_STR && ct_str_eq(d->keys[i].s, key, len)) return &d->vals[i];
    return NULL;
}

ct_value *ct_dict_find(ct_ctx *c, const ct_dict *d, ct_value key) {
    if (key.type == CT_STR) return ct_dict_find_str(c, d, key.s->data, key.s->len);
    if (!hashable(key)) ct_err(c, "unhashable type: '%s'", ct_type_name(key));
    ct_charge(c, (int64_t)d->len + 1);
    for (size_t i = 0; i < d->len; i++)
        if (d->keys[i].type != CT_STR && ct_equal(c, d->keys[i], key)) return &d->vals[i];
    return NULL;
}

void ct_dict_set(ct_ctx *c, ct_dict *d, ct_value key, ct_value val) {
    ct_value *slot = ct_dict_find(c, d, key);
    if (slot) {
        *slot = val;
        return;
    }
    if (d->len == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        ct_value *keys = ct_alloc_array(c->arena, cap, sizeof(ct_value));
        ct_value *vals = ct_alloc_array(c->arena, cap, sizeof(ct_value));
        if (d->len) {
            memcpy(keys, d->keys, d->len * sizeof(ct_value));
            memcpy(vals, d->vals, d->len * sizeof(ct_value));
        }
        d->keys = keys;
        d->vals = vals;
        d->cap = cap;
    }
    d->keys[d->len] = key;
    d->vals[d->len] = val;
    d->len++;
}

/* ------------------------------------------------------------------------------------------ */
/* Buffers                                                                                      */

void ct_buf_put(ct_ctx *c, ct_buf *b, const char *s, size_t n) {
    if (n == 0) return;
    if (n > c->p.max_output || b->len > c->p.max_output - n)
        ct_limit(c, "the output is longer than max_output (%zu bytes)", c->p.max_output);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *data = ct_alloc(c->arena, cap);
        if (b->len) memcpy(data, b->data, b->len);
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ct_buf_putc(ct_ctx *c, ct_buf *b, char ch) { ct_buf_put(c, b, &ch, 1); }

void ct_buf_printf(ct_ctx *c, ct_buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof tmp) n = (int)sizeof tmp - 1;
    ct_buf_put(c, b, tmp, (size_t)n);
}

const ct_str *ct_buf_str(ct_ctx *c, const ct_buf *b) {
    return ct_str_new(c->arena, b->data ? b->data : "", b->len);
}

/* ------------------------------------------------------------------------------------------ */
/* Types, truth, equality, order                                                                */

const char *ct_type_name(ct_value v) {
    switch (v.type) {
    case CT_UNDEF: return "Undefined";
    case CT_NONE: return "NoneType";
    case CT_BOOL: return "bool";
    case CT_INT: return "int";
    case CT_FLOAT: return "float";
    case CT_STR: return "str";
    case CT_LIST:
        switch (v.l->kind) {
        case CT_LIST_TUPLE: return "tuple";
        case CT_LIST_ITER: return "generator";
        case CT_LIST_RANGE: return "range";
        case CT_LIST_ITEMS: return "dict_items";
        case CT_LIST_KEYS: return "dict_keys";
        case CT_LIST_VALUES: return "dict_values";
        default: return "list";
        }
    case CT_DICT: return "dict";
    case CT_NS: return "Namespace";
    case CT_FUNC: return v.fn->id < M_STR_FIRST ? "function" : "builtin_function_or_method";
    case CT_MACRO: return "Macro";
    case CT_LOOP: return "LoopContext";
    default: return "object";
    }
}

bool ct_truthy(ct_ctx *c, ct_value v) {
    (void)c;
    switch (v.type) {
    case CT_UNDEF: case CT_NONE: return false;
    case CT_BOOL: return v.b;
    case CT_INT: return v.i != 0;
    case CT_FLOAT: return v.f != 0.0;
    case CT_STR: return v.s->len > 0;
    case CT_LIST: return v.l->kind == CT_LIST_ITER || v.l->len > 0;
    case CT_DICT: return v.d->len > 0;
    default: return true;
    }
}

static void enter(ct_ctx *c) {
    if (++c->depth > c->p.max_depth)
        ct_limit(c, "nesting deeper than max_depth (%d)", c->p.max_depth);
}

static bool is_number(ct_value v) {
    return v.type == CT_BOOL || v.type == CT_INT || v.type == CT_FLOAT;
}

/* Exact comparison of two numbers (int vs float compared exactly, as Python does). */
static int num_cmp(ct_value a, ct_value b, bool *unordered) {
    *unordered = false;
    if (a.type != CT_FLOAT && b.type != CT_FLOAT) {
        int64_t x = a.type == CT_BOOL ? a.b : a.i, y = b.type == CT_BOOL ? b.b : b.i;
        return x < y ? -1 : x > y;
    }
    if (a.type == CT_FLOAT && b.type == CT_FLOAT) {
        if (isnan(a.f) || isnan(b.f)) {
            *unordered = true;
            return 0;
        }
        return a.f < b.f ? -1 : a.f > b.f;
    }
    bool swap = a.type != CT_FLOAT;
    double f = swap ? b.f : a.f;
    int64_t i = swap ? (a.type == CT_BOOL ? a.b : a.i) : (b.type == CT_BOOL ? b.b : b.i);
    int r;
    if (isnan(f)) {
        *unordered = true;
        return 0;
    }
    if (f >= 9223372036854775808.0) r = 1;
    else if (f < -9223372036854775808.0) r = -1;
    else {
        double t = trunc(f);
        int64_t ti = (int64_t)t;
        if (ti != i) r = ti < i ? -1 : 1;
        else r = f > t ? 1 : f < t ? -1 : 0;
    }
    return swap ? -r : r;
}

bool ct_equal(ct_ctx *c, ct_value a, ct_value b) {
    ct_charge(c, 1);
    if (is_number(a) && is_number(b)) {
        bool unordered;
        int r = num_cmp(a, b, &unordered);
        return !unordered && r == 0;
    }
    if (a.type != b.type) return false;
    switch (a.type) {
    case CT_UNDEF: case CT_NONE: return true;
    case CT_STR: return ct_str_eqs(a.s, b.s);
    case CT_LIST: {
        ct_list *x = a.l, *y = b.l;
        if (x == y) return true;
        bool xt = x->kind == CT_LIST_TUPLE, yt = y->kind == CT_LIST_TUPLE;
        if (x->kind == CT_LIST_ITER || y->kind == CT_LIST_ITER) return false;
        if (xt != yt) return false;
        if (x->kind == CT_LIST_RANGE || y->kind == CT_LIST_RANGE) {
            if (x->kind != y->kind) return false;
        } else if ((x->kind >= CT_LIST_ITEMS || y->kind >= CT_LIST_ITEMS) && x->kind != y->kind) {
            return false;
        }
        if (x->len != y->len) return false;
        enter(c);
        bool eq = true;
        for (size_t i = 0; i < x->len && eq; i++) eq = ct_equal(c, x->items[i], y->items[i]);
        c->depth--;
        return eq;
    }
    case CT_DICT: {
        ct_dict *x = a.d, *y = b.d;
        if (x == y) return true;
        if (x->len != y->len) return false;
        enter(c);
        bool eq = true;
        for (size_t i = 0; i < x->len && eq; i++) {
            ct_value *v = ct_dict_find(c, y, x->keys[i]);
            eq = v && ct_equal(c, x->vals[i], *v);
        }
        c->depth--;
        return eq;
    }
    case CT_NS: return a.ns == b.ns;
    case CT_FUNC: return a.fn == b.fn;
    case CT_MACRO: return a.m == b.m;
    case CT_LOOP: return a.loop == b.loop;
    default: return false;
    }
}

static int cmp_str(const ct_str *a, const ct_str *b) {
    size_t n = a->len < b->len ? a->len : b->len;
    int r = memcmp(a->data, b->data, n); /* UTF-8 byte order is code-point order */
    if (r) return r < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

int ct_compare(ct_ctx *c, ct_value a, ct_value b) {
    ct_charge(c, 1);
    if (a.type == CT_UNDEF || b.type == CT_UNDEF)
        ct_err(c, "%s", (a.type == CT_UNDEF ? a : b).undef ? (a.type == CT_UNDEF ? a : b).undef
                                                          : "an undefined value cannot be compared");
    if (is_number(a) && is_number(b)) {
        bool unordered;
        int r = num_cmp(a, b, &unordered);
        return unordered ? 2 : r; /* 2: every comparison is false (NaN) */
    }
    if (a.type == CT_STR && b.type == CT_STR) return cmp_str(a.s, b.s);
    if (a.type == CT_LIST && b.type == CT_LIST && a.l->kind == b.l->kind &&
        (a.l->kind == CT_LIST_PLAIN || a.l->kind == CT_LIST_TUPLE)) {
        ct_list *x = a.l, *y = b.l;
        enter(c);
        int r = 0;
        size_t i = 0;
        for (; i < x->len && i < y->len; i++) {
            if (ct_equal(c, x->items[i], y->items[i])) continue;
            r = ct_compare(c, x->items[i], y->items[i]);
            break;
        }
        if (i == x->len || i == y->len) r = x->len < y->len ? -1 : x->len > y->len;
        c->depth--;
        return r;
    }
    ct_err(c, "'<' not supported between instances of '%s' and '%s'", ct_type_name(a),
           ct_type_name(b));
}

/* ------------------------------------------------------------------------------------------ */
/* str() and repr()                                                                             */

void ct_float_repr(double f, char out[32]) {
    if (isnan(f)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(f)) {
        strcpy(out, f < 0 ? "-inf" : "inf");
        return;
    }
    if (f == 0) {
        strcpy(out, signbit(f) ? "-0.0" : "0.0");
        return;
    }
    /* the shortest digits that read back as f */
    char buf[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf = [-]d[.ddd]e[+-]XX: collect the digits and the exponent */
    char digits[24];
    int nd = 0;
    const char *p = buf;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    int decpt = exp10 + 1; /* value = 0.digits x 10^decpt */
    char *o = out;
    if (neg) *o++ = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -decpt; i++) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = digits[i];
        } else {
            for (int i = 0; i < decpt; i++) *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > decpt)
                for (int i = decpt; i < nd; i++) *o++ = digits[i];
            else
                *o++ = '0';
        }
        *o = '\0';
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = digits[i];
        }
        int e = decpt - 1;
        *o++ = 'e';
        *o++ = e < 0 ? '-' : '+';
        if (e < 0) e = -e;
        if (e >= 100) *o++ = (char)('0' + e / 100);
        *o++ = (char)('0' + e / 10 % 10);
        *o++ = (char)('0' + e % 10);
        *o = '\0';
    }
}

static bool is_printable(uint32_t cp) {
    if (cp < 0x7F) return cp >= 0x20;
    if (cp < 0xA0) return false;
    born_ucat cat = ucat_of(cp);
    return !((UCAT_MASK_C | UCAT_MASK_Z) & UCAT_BIT(cat));
}

static void write_str_repr(ct_ctx *c, ct_buf *b, const ct_str *s) {
    bool has_sq = memchr(s->data, '\'', s->len) != NULL;
    bool has_dq = memchr(s->data, '"', s->len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    ct_buf_putc(c, b, q);
    size_t i = 0, run = 0;
    while (i < s->len) {
        size_t at = i;
        uint32_t cp = ct_utf8_next(s->data, &i);
        const char *esc = NULL;
        char tmp[16];
        if (cp == (uint32_t)q || cp == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)cp;
            tmp[2] = '\0';
            esc = tmp;
        } else if (cp == '\t') esc = "\\t";
        else if (cp == '\n') esc = "\\n";
        else if (cp == '\r') esc = "\\r";
        else if (!is_printable(cp)) {
            if (cp < 0x100) snprintf(tmp, sizeof tmp, "\\x%02x", (unsigned)cp);
            else if (cp < 0x10000) snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)cp);
            else snprintf(tmp, sizeof tmp, "\\U%08x", (unsigned)cp);
            esc = tmp;
        }
        if (esc) {
            ct_buf_put(c, b, s->data + run, at - run);
            ct_buf_put(c, b, esc, strlen(esc));
            run = i;
        }
    }
    ct_buf_put(c, b, s->data + run, s->len - run);
    ct_buf_putc(c, b, q);
}

static void write_ns(ct_ctx *c, ct_buf *b, ct_ns *ns);

static void write_dict_repr(ct_ctx *c, ct_buf *b, const ct_dict *d) {
    ct_buf_putc(c, b, '{');
    for (size_t i = 0; i < d->len; i++) {
        if (i) ct_buf_put(c, b, ", ", 2);
        ct_write_repr(c, b, d->keys[i]);
        ct_buf_put(c, b, ": ", 2);
        ct_write_repr(c, b, d->vals[i]);
    }
    ct_buf_putc(c, b, '}');
}

static void write_ns(ct_ctx *c, ct_buf *b, ct_ns *ns) {
    ct_buf_put(c, b, "<Namespace ", 11);
    if (ns->busy) {
        ct_buf_put(c, b, "{...}", 5);
    } else {
        ns->busy = true;
        write_dict_repr(c, b, &ns->attrs);
        ns->busy = false;
    }
    ct_buf_putc(c, b, '>');
}

void ct_write_repr(ct_ctx *c, ct_buf *b, ct_value v) {
    ct_charge(c, 1);
    switch (v.type) {
    case CT_UNDEF: ct_buf_put(c, b, "Undefined", 9); return;
    case CT_STR: write_str_repr(c, b, v.s); return;
    case CT_LIST: {
        ct_list *l = v.l;
        const char *open = "[", *close = "]";
        switch (l->kind) {
        case CT_LIST_TUPLE: open = "("; close = l->len == 1 ? ",)" : ")"; break;
        case CT_LIST_ITEMS: open = "dict_items(["; close = "])"; break;
        case CT_LIST_KEYS: open = "dict_keys(["; close = "])"; break;
        case CT_LIST_VALUES: open = "dict_values(["; close = "])"; break;
        case CT_LIST_RANGE:
            if (l->step == 1) ct_buf_printf(c, b, "range(%lld, %lld)", (long long)l->start, (long long)l->stop);
            else ct_buf_printf(c, b, "range(%lld, %lld, %lld)", (long long)l->start, (long long)l->stop, (long long)l->step);
            return;
        case CT_LIST_ITER:
            ct_unsupported(c, "printing a generator (Python prints its address); apply |list first");
        default: break;
        }
        enter(c);
        ct_buf_put(c, b, open, strlen(open));
        for (size_t i = 0; i < l->len; i++) {
            if (i) ct_buf_put(c, b, ", ", 2);
            ct_write_repr(c, b, l->items[i]);
        }
        ct_buf_put(c, b, close, strlen(close));
        c->depth--;
        return;
    }
    case CT_DICT:
        enter(c);
        write_dict_repr(c, b, v.d);
        c->depth--;
        return;
    case CT_NS:
        enter(c);
        write_ns(c, b, v.ns);
        c->depth--;
        return;
    default: ct_write_str(c, b, v); return;
    }
}

void ct_write_str(ct_ctx *c, ct_buf *b, ct_value v) {
    char tmp[32];
    switch (v.type) {
    case CT_UNDEF: return;
    case CT_NONE: ct_buf_put(c, b, "None", 4); return;
    case CT_BOOL: ct_buf_put(c, b, v.b ? "True" : "False", v.b ? 4 : 5); return;
    case CT_INT: ct_buf_printf(c, b, "%lld", (long long)v.i); return;
    case CT_FLOAT:
        ct_float_repr(v.f, tmp);
        ct_buf_put(c, b, tmp, strlen(tmp));
        return;
    case CT_STR: ct_buf_put(c, b, v.s->data, v.s->len); return;
    case CT_LOOP:
        ct_buf_printf(c, b, "<LoopContext %zu/%zu>", v.loop->index0 + 1, v.loop->items->len);
        return;
    case CT_MACRO:
        ct_buf_printf(c, b, "<Macro '%s'>", v.m->def->name->data);
        return;
    case CT_FUNC:
        ct_unsupported(c, "printing the function '%s' (Python prints its address)", v.fn->name);
    default: ct_write_repr(c, b, v); return;
    }
}

const ct_str *ct_to_str(ct_ctx *c, ct_value v) {
    if (v.type == CT_STR) return v.s;
    ct_buf b = {0};
    ct_write_str(c, &b, v);
    return ct_buf_str(c, &b);
}

/* ------------------------------------------------------------------------------------------ */
/* len() and iteration                                                                          */

int64_t ct_length(ct_ctx *c, ct_value v) {
    switch (v.type) {
    case CT_UNDEF: return 0;
    case CT_STR: return (int64_t)v.s->nchars;
    case CT_LIST:
        if (v.l->kind == CT_LIST_ITER) ct_err(c, "object of type 'generator' has no len()");
        return (int64_t)v.l->len;
    case CT_DICT: return (int64_t)v.d->len;
    default: ct_err(c, "object of type '%s' has no len()", ct_type_name(v));
    }
}

ct_list *ct_iterate(ct_ctx *c, ct_value v) {
    switch (v.type) {
    case CT_UNDEF: return ct_list_new(c->arena, 0, CT_LIST_PLAIN);
    case CT_STR: {
        const ct_str *s = v.s;
        ct_list *l = ct_list_new(c->arena, s->nchars, CT_LIST_PLAIN);
        ct_charge(c, (int64_t)s->nchars);
        size_t i = 0;
        while (i < s->len) {
            size_t at = i;
            ct_utf8_next(s->data, &i);
            l->items[l->len++] = ct_strv(ct_str_new(c->arena, s->data + at, i - at));
        }
        return l;
    }
    case CT_LIST:
        if (v.l->kind == CT_LIST_ITER) {
            ct_list *l = ct_list_new(c->arena, 0, CT_LIST_PLAIN);
            l->items = v.l->items ? v.l->items + v.l->pos : NULL; /* an empty iterator has none */
            l->len = l->cap = v.l->len - v.l->pos;
            v.l->pos = v.l->len;
            return l;
        }
        return v.l;
    case CT_DICT: {
        ct_list *l = ct_list_new(c->arena, 0, CT_LIST_PLAIN);
        l->items = v.d->keys;
        l->len = l->cap = v.d->len;
        return l;
    }
    case CT_NS:
        ct_err(c, "'Namespace' object is not iterable");
    default:
        ct_err(c, "'%s' object is not iterable", ct_type_name(v));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* json.dumps                                                                                   */

static void json_string(ct_ctx *c, ct_buf *b, const char *s, size_t len, bool ensure_ascii) {
    ct_buf_putc(c, b, '"');
    size_t i = 0, run = 0;
    while (i < len) {
        size_t at = i;
        uint8_t ch = (uint8_t)s[i];
        char tmp[16];
        const char *esc = NULL;
        if (ch < 0x80) {
            i++;
            switch (ch) {
            case '"': esc = "\\\""; break;
            case '\\': esc = "\\\\"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            default:
                if (ch < 0x20 || (ensure_ascii && ch == 0x7F)) {
                    snprintf(tmp, sizeof tmp, "\\u%04x", ch);
                    esc = tmp;
                }
            }
        } else {
            uint32_t cp = ct_utf8_next(s, &i);
            if (ensure_ascii) {
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000;
                    snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (unsigned)(v >> 10),
                             0xDC00 + (unsigned)(v & 0x3FF));
                } else {
                    snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)cp);
                }
                esc = tmp;
            }
        }
        if (esc) {
            ct_buf_put(c, b, s + run, at - run);
            ct_buf_put(c, b, esc, strlen(esc));
            run = i;
        }
    }
    ct_buf_put(c, b, s + run, len - run);
    ct_buf_putc(c, b, '"');
}

static void json_newline(ct_ctx *c, ct_buf *b, const ct_json_opts *o, int level) {
    ct_buf_putc(c, b, '\n');
    for (int i = 0; i < level; i++) ct_buf_put(c, b, o->indent->data, o->indent->len);
}

static void json_float(ct_ctx *c, ct_buf *b, double f) {
    char tmp[32];
    if (isnan(f)) strcpy(tmp, "NaN");
    else if (isinf(f)) strcpy(tmp, f < 0 ? "-Infinity" : "Infinity");
    else ct_float_repr(f, tmp);
    ct_buf_put(c, b, tmp, strlen(tmp));
}

/* A dict key as json.dumps writes it: str as is, numbers, bools and None as text. */
static void json_key(ct_ctx *c, ct_buf *b, ct_value k, const ct_json_opts *o) {
    switch (k.type) {
    case CT_STR: json_string(c, b, k.s->data, k.s->len, o->ensure_ascii); return;
    case CT_NONE: ct_buf_put(c, b, "\"null\"", 6); return;
    case CT_BOOL: ct_buf_put(c, b, k.b ? "\"true\"" : "\"false\"", k.b ? 6 : 7); return;
    case CT_INT: ct_buf_printf(c, b, "\"%lld\"", (long long)k.i); return;
    case CT_FLOAT:
        ct_buf_putc(c, b, '"');
        json_float(c, b, k.f);
        ct_buf_putc(c, b, '"');
        return;
    default: ct_err(c, "keys must be str, int, float, bool or None, not %s", ct_type_name(k));
    }
}

static void sort_indices(ct_ctx *c, const ct_dict *d, size_t *idx, size_t *tmp, size_t n) {
    /* merge sort by key (stable; raises for keys without an order) */
    if (n < 2) return;
    size_t h = n / 2;
    sort_indices(c, d, idx, tmp, h);
    sort_indices(c, d, idx + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        if (ct_compare(c, d->keys[idx[j]], d->keys[idx[i]]) == -1) tmp[k++] = idx[j++];
        else tmp[k++] = idx[i++];
    }
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

void ct_write_json(ct_ctx *c, ct_buf *b, ct_value v, const ct_json_opts *o, int level) {
    ct_charge(c, 1);
    switch (v.type) {
    case CT_NONE: ct_buf_put(c, b, "null", 4); return;
    case CT_BOOL: ct_buf_put(c, b, v.b ? "true" : "false", v.b ? 4 : 5); return;
    case CT_INT: ct_buf_printf(c, b, "%lld", (long long)v.i); return;
    case CT_FLOAT: json_float(c, b, v.f); return;
    case CT_STR: json_string(c, b, v.s->data, v.s->len, o->ensure_ascii); return;
    case CT_LIST: {
        ct_list *l = v.l;
        if (l->kind != CT_LIST_PLAIN && l->kind != CT_LIST_TUPLE)
            ct_err(c, "Object of type %s is not JSON serializable", ct_type_name(v));
        if (l->len == 0) {
            ct_buf_put(c, b, "[]", 2);
            return;
        }
        enter(c);
        ct_buf_putc(c, b, '[');
        for (size_t i = 0; i < l->len; i++) {
            if (i) ct_buf_put(c, b, o->item_sep->data, o->item_sep->len);
            if (o->indent) json_newline(c, b, o, level + 1);
            ct_write_json(c, b, l->items[i], o, level + 1);
        }
        if (o->indent) json_newline(c, b, o, level);
        ct_buf_putc(c, b, ']');
        c->depth--;
        return;
    }
    case CT_DICT: {
        ct_dict *d = v.d;
        if (d->len == 0) {
            ct_buf_put(c, b, "{}", 2);
            return;
        }
        enter(c);
        size_t *idx = ct_alloc_array(c->arena, d->len, sizeof(size_t));
        for (size_t i = 0; i < d->len; i++) idx[i] = i;
        if (o->sort_keys) {
            size_t *tmp = ct_alloc_array(c->arena, d->len, sizeof(size_t));
            sort_indices(c, d, idx, tmp, d->len);
        }
        ct_buf_putc(c, b, '{');
        for (size_t i = 0; i < d->len; i++) {
            if (i) ct_buf_put(c, b, o->item_sep->data, o->item_sep->len);
            if (o->indent) json_newline(c, b, o, level + 1);
            json_key(c, b, d->keys[idx[i]], o);
            ct_buf_put(c, b, o->key_sep->data, o->key_sep->len);
            ct_write_json(c, b, d->vals[idx[i]], o, level + 1);
        }
        if (o->indent) json_newline(c, b, o, level);
        ct_buf_putc(c, b, '}');
        c->depth--;
        return;
    }
    default: ct_err(c, "Object of type %s is not JSON serializable", ct_type_name(v));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Case mapping                                                                                 */

static int case_lookup(const ct_case_run *runs, size_t nruns, const ct_case_multi *multi,
                       size_t nmulti, uint32_t cp, uint32_t out[3]) {
    size_t lo = 0, hi = nmulti;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (multi[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < nmulti && multi[lo].cp == cp) {
        int n = 0;
        for (int k = 0; k < 3 && multi[lo].out[k]; k++) out[n++] = multi[lo].out[k];
        return n;
    }
    lo = 0;
    hi = nruns;
    while (lo < hi) { /* the last run starting at or before cp */
        size_t mid = (lo + hi) / 2;
        if (runs[mid].start <= cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo > 0) {
        const ct_case_run *r = &runs[lo - 1];
        uint32_t off = cp - r->start;
        if (off % r->stride == 0 && off / r->stride < r->count) {
            out[0] = (uint32_t)((int64_t)cp + r->delta);
            return 1;
        }
    }
    out[0] = cp;
    return 1;
}

int ct_case_map(ct_case which, uint32_t cp, uint32_t out[3]) {
    if (cp < 0x80) {
        if (which == CT_CASE_LOWER) out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        else out[0] = cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
        return 1;
    }
    switch (which) {
    case CT_CASE_UPPER:
        return case_lookup(ct_case_runs_upper, ct_case_runs_upper_count, ct_case_multi_upper,
                           ct_case_multi_upper_count, cp, out);
    case CT_CASE_LOWER:
        return case_lookup(ct_case_runs_lower, ct_case_runs_lower_count, ct_case_multi_lower,
                           ct_case_multi_lower_count, cp, out);
    default:
        return case_lookup(ct_case_runs_title, ct_case_runs_title_count, ct_case_multi_title,
                           ct_case_multi_title_count, cp, out);
    }
}

bool ct_is_cased(uint32_t cp) {
    if (cp < 0x80) return (cp | 32) >= 'a' && (cp | 32) <= 'z';
    size_t lo = 0, hi = ct_cased_range_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ct_cased_ranges[mid][1] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < ct_cased_range_count && ct_cased_ranges[lo][0] <= cp;
}

bool ct_is_case_ignorable(uint32_t cp) {
    switch (cp) {
    case 0x27: case 0x2E: case 0x3A: case 0x5E: case 0x60: case 0xA8: case 0xAD: case 0xAF:
    case 0xB4: case 0xB7: case 0xB8: case 0x387: case 0x55F: case 0x5F4: case 0x2018:
    case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07:
    case 0xFF0E: case 0xFF1A:
        return true;
    default: break;
    }
    if (cp < 0x80) return false;
    born_ucat cat = ucat_of(cp);
    return cat == UCAT_MN || cat == UCAT_ME || cat == UCAT_CF || cat == UCAT_LM || cat == UCAT_SK;
}

/* Python's final-sigma rule: U+03A3 lowers to U+03C2 when a cased letter precedes it and none
 * follows (case-ignorable characters skipped both ways). */
static bool final_sigma(const ct_str *s, size_t at, size_t after) {
    size_t i = at;
    bool before = false;
    while (i > 0) {
        size_t j = i - 1;
        while (j > 0 && ((uint8_t)s->data[j] & 0xC0) == 0x80) j--;
        size_t k = j;
        uint32_t cp = ct_utf8_next(s->data, &k);
        i = j;
        if (ct_is_case_ignorable(cp)) continue;
        before = ct_is_cased(cp);
        break;
    }
    if (!before) return false;
    i = after;
    while (i < s->len) {
        uint32_t cp = ct_utf8_next(s->data, &i);
        if (ct_is_case_ignorable(cp)) continue;
        return !ct_is_cased(cp);
    }
    return true;
}

static const ct_str *map_case(ct_ctx *c, const ct_str *s, int mode) {
    /* mode 0 upper, 1 lower, 2 title (str.title), 3 capitalize */
    ct_charge(c, (int64_t)s->len / 16 + 1);
    ct_buf b = {0};
    size_t i = 0;
    bool prev_cased = false, first = true;
    while (i < s->len) {
        size_t at = i;
        uint32_t cp = ct_utf8_next(s->data, &i);
        uint32_t out[3];
        int n;
        ct_case which;
        switch (mode) {
        case 0: which = CT_CASE_UPPER; break;
        case 1: which = CT_CASE_LOWER; break;
        case 2: which = prev_cased ? CT_CASE_LOWER : CT_CASE_TITLE; break;
        case 3: which = first ? CT_CASE_TITLE : CT_CASE_LOWER; break;
        default: which = first ? CT_CASE_TITLE : CT_CASE_LOWER; break;
        }
        if (which == CT_CASE_LOWER && cp == 0x3A3) {
            out[0] = final_sigma(s, at, i) ? 0x3C2 : 0x3C3;
            n = 1;
        } else {
            n = ct_case_map(which, cp, out);
        }
        char enc[12];
        size_t len = 0;
        for (int k = 0; k < n; k++) len += ct_utf8_put(out[k], enc + len);
        ct_buf_put(c, &b, enc, len);
        prev_cased = ct_is_cased(cp);
        first = false;
    }
    return ct_buf_str(c, &b);
}

const ct_str *ct_str_upper(ct_ctx *c, const ct_str *s) { return map_case(c, s, 0); }
const ct_str *ct_str_lower(ct_ctx *c, const ct_str *s) { return map_case(c, s, 1); }
const ct_str *ct_str_title(ct_ctx *c, const ct_str *s) { return map_case(c, s, 2); }
const ct_str *ct_str_capitalize(ct_ctx *c, const ct_str *s) { return map_case(c, s, 3); }
