/* The chat-template builtins: jinja2's filters and tests (jinja2/filters.py, jinja2/tests.py),
 * HF's tojson / raise_exception / strftime_now, jinja2's globals (range, dict, namespace), and the
 * Python str / dict / list methods the sandbox lets templates call. Each follows the Python it
 * stands for, argument names and defaults included; what Born does not implement is an error
 * that names it (BORN_ERR_UNSUPPORTED), never an approximation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm/chat_template/ct_internal.h"
#include "llm/tokenizer/unicode.h"

/* ------------------------------------------------------------------------------------------ */
/* Arguments                                                                                    */

/* Binds positional and keyword arguments to the parameters names[0..n) as Python would. */
static void bind(ct_ctx *c, const char *what, const ct_callargs *a, const char *const *names,
                 int n, ct_value *vals, bool *given) {
    for (int i = 0; i < n; i++) given[i] = false;
    if (a->npos > (size_t)n)
        ct_err(c, "%s takes at most %d argument%s (%zu given)", what, n, n == 1 ? "" : "s", a->npos);
    for (size_t i = 0; i < a->npos; i++) {
        vals[i] = a->pos[i];
        given[i] = true;
    }
    for (size_t k = 0; k < a->nkw; k++) {
        int j = -1;
        for (int i = 0; i < n; i++)
            if (ct_str_eq(a->kw_names[k], names[i], strlen(names[i]))) j = i;
        if (j < 0) ct_err(c, "%s got an unexpected keyword argument '%s'", what, a->kw_names[k]->data);
        if (given[j]) ct_err(c, "%s got multiple values for argument '%s'", what, names[j]);
        vals[j] = a->kw_vals[k];
        given[j] = true;
    }
}

static void no_args(ct_ctx *c, const char *what, const ct_callargs *a) {
    if (a->npos || a->nkw) ct_err(c, "%s takes no arguments", what);
}

static bool is_int(ct_value v) { return v.type == CT_INT || v.type == CT_BOOL; }
static int64_t ival(ct_value v) { return v.type == CT_BOOL ? v.b : v.i; }

static int64_t want_int(ct_ctx *c, const char *what, ct_value v) {
    if (v.type == CT_UNDEF) ct_err(c, "%s", v.undef ? v.undef : "an undefined value was used");
    if (!is_int(v)) ct_err(c, "%s: an integer is required, not '%s'", what, ct_type_name(v));
    return ival(v);
}

static const ct_str *want_str(ct_ctx *c, const char *what, ct_value v) {
    if (v.type == CT_UNDEF) ct_err(c, "%s", v.undef ? v.undef : "an undefined value was used");
    if (v.type != CT_STR) ct_err(c, "%s: a str is required, not '%s'", what, ct_type_name(v));
    return v.s;
}

static ct_value strv(ct_ctx *c, const char *s, size_t n) { return ct_strv(ct_str_new(c->arena, s, n)); }

/* jinja2's make_attrgetter: "a.b.0" looked up item by item (digits as integers). */
static ct_value get_path(ct_ctx *c, ct_value item, ct_value attr) {
    if (attr.type != CT_STR) return ct_getitem(c, item, attr);
    const ct_str *s = attr.s;
    size_t start = 0;
    for (size_t i = 0; i <= s->len; i++) {
        if (i < s->len && s->data[i] != '.') continue;
        const char *part = s->data + start;
        size_t len = i - start;
        bool digits = len > 0;
        int64_t num = 0;
        for (size_t k = 0; k < len && digits; k++) {
            if (part[k] < '0' || part[k] > '9' || num > (INT64_MAX - 9) / 10) digits = false;
            else num = num * 10 + (part[k] - '0');
        }
        item = ct_getitem(c, item, digits ? ct_int(num) : strv(c, part, len));
        start = i + 1;
    }
    return item;
}

static ct_value ignore_case(ct_ctx *c, ct_value v) {
    return v.type == CT_STR ? ct_strv(ct_str_lower(c, v.s)) : v;
}

static ct_list *iterator(ct_ctx *c, size_t cap) { return ct_list_new(c->arena, cap, CT_LIST_ITER); }

/* ------------------------------------------------------------------------------------------ */
/* String helpers (Python str methods)                                                          */

/* strip with chars (NULL: whitespace); which: 1 left, 2 right, 3 both */
static const ct_str *strip(ct_ctx *c, const ct_str *s, const ct_str *chars, int which) {
    size_t b = 0, e = s->len;
    ct_charge(c, (int64_t)s->len / 16 + 1);
    if (which & 1) {
        while (b < e) {
            size_t j = b;
            uint32_t cp = ct_utf8_next(s->data, &j);
            bool hit = false;
            if (!chars) hit = ct_is_space(cp);
            else
                for (size_t k = 0; k < chars->len && !hit;) hit = ct_utf8_next(chars->data, &k) == cp;
            if (!hit) break;
            b = j;
        }
    }
    if (which & 2) {
        while (e > b) {
            size_t j = e - 1;
            while (j > b && ((uint8_t)s->data[j] & 0xC0) == 0x80) j--;
            size_t k0 = j;
            uint32_t cp = ct_utf8_next(s->data, &k0);
            bool hit = false;
            if (!chars) hit = ct_is_space(cp);
            else
                for (size_t k = 0; k < chars->len && !hit;) hit = ct_utf8_next(chars->data, &k) == cp;
            if (!hit) break;
            e = j;
        }
    }
    if (b == 0 && e == s->len) return s;
    return ct_str_new(c->arena, s->data + b, e - b);
}

static const char *find_bytes(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nn) == 0) return h + i;
    return NULL;
}

static const char *rfind_bytes(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn > hn) return NULL;
    for (size_t i = hn - nn + 1; i-- > 0;)
        if (memcmp(h + i, n, nn) == 0) return h + i;
    return NULL;
}

static ct_value str_replace(ct_ctx *c, const ct_str *s, const ct_str *old, const ct_str *new_,
                            int64_t count) {
    ct_charge(c, (int64_t)s->len / 16 + 1);
    ct_buf b = {0};
    if (count < 0) count = INT64_MAX;
    if (old->len == 0) {
        size_t i = 0;
        int64_t done = 0;
        while (true) {
            if (done < count) {
                ct_buf_put(c, &b, new_->data, new_->len);
                done++;
            }
            if (i >= s->len) break;
            size_t j = i;
            ct_utf8_next(s->data, &j);
            ct_buf_put(c, &b, s->data + i, j - i);
            i = j;
        }
        return ct_strv(ct_buf_str(c, &b));
    }
    size_t i = 0;
    int64_t done = 0;
    while (done < count) {
        const char *p = find_bytes(s->data + i, s->len - i, old->data, old->len);
        if (!p) break;
        size_t at = (size_t)(p - s->data);
        ct_buf_put(c, &b, s->data + i, at - i);
        ct_buf_put(c, &b, new_->data, new_->len);
        i = at + old->len;
        done++;
    }
    ct_buf_put(c, &b, s->data + i, s->len - i);
    return ct_strv(ct_buf_str(c, &b));
}

/* Python's str.split / rsplit (sep NULL: runs of whitespace). */
static ct_value str_split(ct_ctx *c, const ct_str *s, const ct_str *sep, int64_t maxsplit, bool right) {
    ct_list *l = ct_list_new(c->arena, 0, CT_LIST_PLAIN);
    ct_charge(c, (int64_t)s->len / 16 + 1);
    if (maxsplit < 0) maxsplit = INT64_MAX;
    if (sep) {
        if (sep->len == 0) ct_err(c, "empty separator");
        if (!right) {
            size_t i = 0;
            int64_t n = 0;
            for (;;) {
                const char *p = n < maxsplit ? find_bytes(s->data + i, s->len - i, sep->data, sep->len) : NULL;
                if (!p) break;
                size_t at = (size_t)(p - s->data);
                ct_list_push(c->arena, l, strv(c, s->data + i, at - i));
                i = at + sep->len;
                n++;
            }
            ct_list_push(c->arena, l, strv(c, s->data + i, s->len - i));
        } else {
            size_t e = s->len;
            int64_t n = 0;
            ct_list *rev = ct_list_new(c->arena, 0, CT_LIST_PLAIN);
            for (;;) {
                const char *p = n < maxsplit ? rfind_bytes(s->data, e, sep->data, sep->len) : NULL;
                if (!p) break;
                size_t at = (size_t)(p - s->data);
                ct_list_push(c->arena, rev, strv(c, s->data + at + sep->len, e - at - sep->len));
                e = at;
                n++;
            }
            ct_list_push(c->arena, rev, strv(c, s->data, e));
            for (size_t k = rev->len; k-- > 0;) ct_list_push(c->arena, l, rev->items[k]);
        }
        return ct_listv(l);
    }
    /* whitespace: collect the words, then honour maxsplit */
    size_t nb = 0;
    size_t *bounds = ct_alloc_array(c->arena, s->len * 2 + 2, sizeof(size_t));
    size_t i = 0;
    while (i < s->len) {
        size_t j = i;
        uint32_t cp = ct_utf8_next(s->data, &j);
        if (ct_is_space(cp)) {
            i = j;
            continue;
        }
        size_t start = i;
        while (i < s->len) {
            size_t k = i;
            if (ct_is_space(ct_utf8_next(s->data, &k))) break;
            i = k;
        }
        bounds[nb++] = start;
        bounds[nb++] = i;
    }
    size_t words = nb / 2;
    if ((uint64_t)maxsplit >= words) {
        for (size_t w = 0; w < words; w++)
            ct_list_push(c->arena, l, strv(c, s->data + bounds[2 * w], bounds[2 * w + 1] - bounds[2 * w]));
        return ct_listv(l);
    }
    if (!right) {
        for (int64_t w = 0; w < maxsplit; w++)
            ct_list_push(c->arena, l, strv(c, s->data + bounds[2 * w], bounds[2 * w + 1] - bounds[2 * w]));
        /* the rest, from the next word to the end */
        size_t from = bounds[2 * maxsplit];
        ct_list_push(c->arena, l, strv(c, s->data + from, s->len - from));
    } else {
        size_t first_kept = words - (size_t)maxsplit;
        size_t to = bounds[2 * (first_kept - 1) + 1];
        ct_list_push(c->arena, l, strv(c, s->data, to));
        for (size_t w = first_kept; w < words; w++)
            ct_list_push(c->arena, l, strv(c, s->data + bounds[2 * w], bounds[2 * w + 1] - bounds[2 * w]));
    }
    return ct_listv(l);
}

static bool is_line_break(uint32_t cp) {
    return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D ||
           cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

static ct_list *splitlines(ct_ctx *c, const ct_str *s, bool keepends) {
    ct_list *l = ct_list_new(c->arena, 0, CT_LIST_PLAIN);
    size_t i = 0, start = 0;
    while (i < s->len) {
        size_t at = i;
        uint32_t cp = ct_utf8_next(s->data, &i);
        if (!is_line_break(cp)) continue;
        if (cp == '\r' && i < s->len && s->data[i] == '\n') i++;
        ct_list_push(c->arena, l, strv(c, s->data + start, (keepends ? i : at) - start));
        start = i;
    }
    if (start < s->len) ct_list_push(c->arena, l, strv(c, s->data + start, s->len - start));
    return l;
}

static ct_value pad(ct_ctx *c, const ct_str *s, int64_t width, const ct_str *fill, int where) {
    /* where: 0 center, 1 ljust, 2 rjust */
    if (fill->nchars != 1) ct_err(c, "The fill character must be exactly one character long");
    if (width <= (int64_t)s->nchars) return ct_strv(s);
    if ((uint64_t)width > c->p.max_output) ct_limit(c, "the output is longer than max_output (%zu bytes)", c->p.max_output);
    int64_t marg = width - (int64_t)s->nchars, left;
    if (where == 0) left = marg / 2 + (marg & width & 1);
    else if (where == 1) left = 0;
    else left = marg;
    ct_buf b = {0};
    for (int64_t k = 0; k < left; k++) ct_buf_put(c, &b, fill->data, fill->len);
    ct_buf_put(c, &b, s->data, s->len);
    for (int64_t k = 0; k < marg - left; k++) ct_buf_put(c, &b, fill->data, fill->len);
    return ct_strv(ct_buf_str(c, &b));
}

/* Python's int(str, base). Returns false for a ValueError. */
static bool parse_int(ct_ctx *c, const ct_str *str, int64_t base, int64_t *out) {
    const ct_str *t = strip(c, str, NULL, 3);
    const char *s = t->data;
    size_t n = t->len, i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (base == 0 || base == 16 || base == 8 || base == 2) {
        if (i + 1 < n && s[i] == '0') {
            char p = (char)(s[i + 1] | 32);
            int pb = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
            if (pb && (base == 0 || base == pb)) {
                base = pb;
                i += 2;
                if (i < n && s[i] == '_') i++;
            }
        }
        if (base == 0) {
            base = 10;
            /* base 0 forbids leading zeros in non-zero decimals */
            if (i < n && s[i] == '0') {
                for (size_t k = i; k < n; k++)
                    if (s[k] != '0' && s[k] != '_') return false;
            }
        }
    }
    if (base < 2 || base > 36) ct_err(c, "int() base must be >= 2 and <= 36, or 0");
    if (i >= n) return false;
    uint64_t v = 0;
    bool any = false, overflow = false;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch == '_') {
            if (!any || i + 1 >= n || s[i + 1] == '_') return false;
            continue;
        }
        int d = ch >= '0' && ch <= '9' ? ch - '0' : (ch | 32) >= 'a' && (ch | 32) <= 'z' ? (ch | 32) - 'a' + 10 : 99;
        if (d >= base) return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) overflow = true;
        v = v * (uint64_t)base + (uint64_t)d;
        any = true;
    }
    if (overflow || v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        ct_unsupported(c, "integers beyond 64 bits are not supported");
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Python's float(str). Returns false for a ValueError. */
static bool parse_float(ct_ctx *c, const ct_str *str, double *out) {
    const ct_str *t = strip(c, str, NULL, 3);
    char buf[128];
    size_t n = 0;
    const char *s = t->data;
    if (t->len == 0 || t->len >= sizeof buf) return false;
    size_t i = 0;
    bool neg = s[0] == '-';
    if (s[i] == '+' || s[i] == '-') buf[n++] = s[i++];
    const char *rest = s + i;
    size_t rl = t->len - i;
    static const char *const words[] = {"inf", "infinity", "nan"};
    for (int k = 0; k < 3; k++)
        if (rl == strlen(words[k]) && strncasecmp(rest, words[k], rl) == 0) {
            double v = k == 2 ? NAN : INFINITY;
            *out = neg ? -v : v;
            return true;
        }
    bool digits = false, dot = false, exp = false;
    for (; i < t->len; i++) {
        char ch = s[i];
        if (ch >= '0' && ch <= '9') {
            digits = true;
            buf[n++] = ch;
        } else if (ch == '_') {
            if (i == 0 || i + 1 >= t->len || !(s[i - 1] >= '0' && s[i - 1] <= '9') ||
                !(s[i + 1] >= '0' && s[i + 1] <= '9'))
                return false;
        } else if (ch == '.' && !dot && !exp) {
            dot = true;
            buf[n++] = ch;
        } else if ((ch == 'e' || ch == 'E') && digits && !exp) {
            exp = true;
            buf[n++] = ch;
            if (i + 1 < t->len && (s[i + 1] == '+' || s[i + 1] == '-')) buf[n++] = s[++i];
            if (i + 1 >= t->len) return false;
            digits = false;
        } else {
            return false;
        }
    }
    if (!digits) return false;
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Filters                                                                                      */

#define FILTER(name) static ct_value f_##name(ct_ctx *c, ct_value v, const ct_callargs *a)

FILTER(abs) {
    no_args(c, "abs", a);
    if (v.type == CT_FLOAT) return ct_float(fabs(v.f));
    if (is_int(v)) {
        if (ival(v) == INT64_MIN) ct_unsupported(c, "integers beyond 64 bits are not supported");
        return ct_int(ival(v) < 0 ? -ival(v) : ival(v));
    }
    if (v.type == CT_UNDEF) ct_err(c, "%s", v.undef ? v.undef : "undefined");
    ct_err(c, "bad operand type for abs(): '%s'", ct_type_name(v));
}

FILTER(attr) {
    static const char *const names[] = {"name"};
    ct_value p[1];
    bool g[1];
    bind(c, "attr", a, names, 1, p, g);
    if (!g[0]) ct_err(c, "attr() missing required argument 'name'");
    if (v.type == CT_UNDEF) ct_err(c, "%s", v.undef ? v.undef : "undefined");
    if (p[0].type != CT_STR) return ct_undef("attribute name is not a string");
    if (v.type == CT_DICT) {
        ct_value m = ct_method(c, v, p[0].s);
        return m.type != CT_UNDEF ? m : ct_undef("no such attribute");
    }
    return ct_getattr(c, v, p[0].s);
}

FILTER(batch) {
    static const char *const names[] = {"linecount", "fill_with"};
    ct_value p[2];
    bool g[2];
    bind(c, "batch", a, names, 2, p, g);
    if (!g[0]) ct_err(c, "batch() missing required argument 'linecount'");
    int64_t n = want_int(c, "batch", p[0]);
    ct_list *items = ct_iterate(c, v), *out = iterator(c, 0), *tmp = NULL;
    for (size_t i = 0; i < items->len; i++) {
        if (!tmp) tmp = ct_list_new(c->arena, 0, CT_LIST_PLAIN);
        if ((int64_t)tmp->len == n) {
            ct_list_push(c->arena, out, ct_listv(tmp));
            tmp = ct_list_new(c->arena, 0, CT_LIST_PLAIN);
        }
        ct_list_push(c->arena, tmp, items->items[i]);
    }
    if (tmp && tmp->len) {
        if (g[1] && p[1].type != CT_NONE)
            while ((int64_t)tmp->len < n) ct_list_push(c->arena, tmp, p[1]);
        ct_list_push(c->arena, out, ct_listv(tmp));
    }
    return ct_listv(out);
}

FILTER(capitalize) {
    no_args(c, "capitalize", a);
    return ct_strv(ct_str_capitalize(c, ct_to_str(c, v)));
}

FILTER(center) {
    static const char *const names[] = {"width"};
    ct_value p[1];
    bool g[1];
    bind(c, "center", a, names, 1, p, g);
    int64_t w = g[0] ? want_int(c, "center", p[0]) : 80;
    return pad(c, ct_to_str(c, v), w, ct_cstr(c->arena, " "), 0);
}

FILTER(default) {
    static const char *const names[] = {"default_value", "boolean"};
    ct_value p[2];
    bool g[2];
    bind(c, "default", a, names, 2, p, g);
    ct_value dflt = g[0] ? p[0] : strv(c, "", 0);
    bool boolean = g[1] && ct_truthy(c, p[1]);
    if (v.type == CT_UNDEF || (boolean && !ct_truthy(c, v))) return dflt;
    return v;
}

/* Stable merge sort of values by keys; reverse keeps equal items in order, as Python does. */
static void sort_by(ct_ctx *c, ct_value *items, ct_value *keys, size_t n, bool reverse) {
    if (n < 2) return;
    ct_value *ti = ct_alloc_array(c->arena, n, sizeof(ct_value));
    ct_value *tk = ct_alloc_array(c->arena, n, sizeof(ct_value));
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                int r = ct_compare(c, keys[j], keys[i]);
                bool right_first = reverse ? r == 1 : r == -1;
                if (right_first) {
                    ti[k] = items[j];
                    tk[k++] = keys[j++];
                } else {
                    ti[k] = items[i];
                    tk[k++] = keys[i++];
                }
            }
            while (i < mid) {
                ti[k] = items[i];
                tk[k++] = keys[i++];
            }
            while (j < hi) {
                ti[k] = items[j];
                tk[k++] = keys[j++];
            }
        }
        memcpy(items, ti, n * sizeof(ct_value));
        memcpy(keys, tk, n * sizeof(ct_value));
    }
}

static ct_value pair(ct_ctx *c, ct_value k, ct_value v) {
    ct_list *t = ct_list_new(c->arena, 2, CT_LIST_TUPLE);
    t->items[0] = k;
    t->items[1] = v;
    t->len = 2;
    return ct_listv(t);
}

FILTER(dictsort) {
    static const char *const names[] = {"case_sensitive", "by", "reverse"};
    ct_value p[3];
    bool g[3];
    bind(c, "dictsort", a, names, 3, p, g);
    bool cs = g[0] && ct_truthy(c, p[0]), rev = g[2] && ct_truthy(c, p[2]);
    int pos = 0;
    if (g[1]) {
        const ct_str *by = want_str(c, "dictsort", p[1]);
        if (ct_str_eq(by, "value", 5)) pos = 1;
        else if (!ct_str_eq(by, "key", 3)) ct_err(c, "You can only sort by either \"key\" or \"value\"");
    }
    if (v.type != CT_DICT) ct_err(c, "'%s' object has no attribute 'items'", ct_type_name(v));
    size_t n = v.d->len;
    ct_list *out = ct_list_new(c->arena, n, CT_LIST_PLAIN);
    ct_value *keys = ct_alloc_array(c->arena, n ? n : 1, sizeof(ct_value));
    for (size_t i = 0; i < n; i++) {
        out->items[i] = pair(c, v.d->keys[i], v.d->vals[i]);
        ct_value k = pos ? v.d->vals[i] : v.d->keys[i];
        keys[i] = cs ? k : ignore_case(c, k);
    }
    out->len = n;
    sort_by(c, out->items, keys, n, rev);
    return ct_listv(out);
}

FILTER(escape) {
    no_args(c, "escape", a);
    const ct_str *s = ct_to_str(c, v);
    ct_buf b = {0};
    size_t run = 0;
    for (size_t i = 0; i < s->len; i++) {
        const char *e = NULL;
        switch (s->data[i]) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&#34;"; break;
        case '\'': e = "&#39;"; break;
        default: break;
        }
        if (e) {
            ct_buf_put(c, &b, s->data + run, i - run);
            ct_buf_put(c, &b, e, strlen(e));
            run = i + 1;
        }
    }
    ct_buf_put(c, &b, s->data + run, s->len - run);
    return ct_strv(ct_buf_str(c, &b));
}

FILTER(first) {
    no_args(c, "first", a);
    if (v.type == CT_LIST && v.l->kind == CT_LIST_ITER) {
        if (v.l->pos >= v.l->len) return ct_undef("No first item, sequence was empty.");
        return v.l->items[v.l->pos++];
    }
    ct_list *items = ct_iterate(c, v);
    return items->len ? items->items[0] : ct_undef("No first item, sequence was empty.");
}

FILTER(float) {
    static const char *const names[] = {"default"};
    ct_value p[1];
    bool g[1];
    bind(c, "float", a, names, 1, p, g);
    ct_value dflt = g[0] ? p[0] : ct_float(0.0);
    double f;
    if (v.type == CT_FLOAT) return v;
    if (is_int(v)) return ct_float((double)ival(v));
    if (v.type == CT_STR && parse_float(c, v.s, &f)) return ct_float(f);
    return dflt;
}

FILTER(format) {
    if (a->nkw && a->npos) ct_err(c, "can't handle positional and keyword arguments at the same time");
    const ct_str *fmt = ct_to_str(c, v);
    if (a->nkw) {
        ct_dict *d = ct_dict_new(c->arena, a->nkw);
        for (size_t k = 0; k < a->nkw; k++) ct_dict_set(c, d, ct_strv(a->kw_names[k]), a->kw_vals[k]);
        return ct_percent_format(c, fmt, ct_dictv(d));
    }
    ct_list *t = ct_list_new(c->arena, a->npos, CT_LIST_TUPLE);
    for (size_t i = 0; i < a->npos; i++) t->items[t->len++] = a->pos[i];
    return ct_percent_format(c, fmt, ct_listv(t));
}

FILTER(indent) {
    static const char *const names[] = {"width", "first", "blank"};
    ct_value p[3];
    bool g[3];
    bind(c, "indent", a, names, 3, p, g);
    const ct_str *ind;
    if (g[0] && p[0].type == CT_STR) {
        ind = p[0].s;
    } else {
        int64_t w = g[0] ? want_int(c, "indent", p[0]) : 4;
        if (w < 0) w = 0;
        if ((uint64_t)w > c->p.max_output) ct_limit(c, "indent wider than max_output");
        char *sp = ct_alloc(c->arena, (size_t)w + 1);
        memset(sp, ' ', (size_t)w);
        ind = ct_str_new(c->arena, sp, (size_t)w);
    }
    bool first = g[1] && ct_truthy(c, p[1]), blank = g[2] && ct_truthy(c, p[2]);
    const ct_str *s = ct_str_cat(c->arena, ct_to_str(c, v), ct_cstr(c->arena, "\n"));
    ct_list *lines = splitlines(c, s, false);
    ct_buf b = {0};
    if (first) ct_buf_put(c, &b, ind->data, ind->len);
    for (size_t i = 0; i < lines->len; i++) {
        const ct_str *line = lines->items[i].s;
        if (i > 0) {
            ct_buf_putc(c, &b, '\n');
            if (blank || line->len) ct_buf_put(c, &b, ind->data, ind->len);
        }
        ct_buf_put(c, &b, line->data, line->len);
    }
    return ct_strv(ct_buf_str(c, &b));
}

static bool int_of_float(ct_ctx *c, double f, int64_t *out) {
    if (isnan(f)) return false;
    if (isinf(f)) ct_err(c, "cannot convert float infinity to integer");
    if (f >= 9223372036854775808.0 || f < -9223372036854775808.0)
        ct_unsupported(c, "integers beyond 64 bits are not supported");
    *out = (int64_t)f;
    return true;
}

FILTER(int) {
    static const char *const names[] = {"default", "base"};
    ct_value p[2];
    bool g[2];
    bind(c, "int", a, names, 2, p, g);
    ct_value dflt = g[0] ? p[0] : ct_int(0);
    int64_t base = g[1] ? want_int(c, "int", p[1]) : 10, r;
    double f;
    if (is_int(v)) return ct_int(ival(v));
    if (v.type == CT_FLOAT) return int_of_float(c, v.f, &r) ? ct_int(r) : dflt;
    if (v.type == CT_STR) {
        if (parse_int(c, v.s, base, &r)) return ct_int(r);
        if (parse_float(c, v.s, &f) && int_of_float(c, f, &r)) return ct_int(r);
    }
    return dflt;
}

FILTER(items) {
    no_args(c, "items", a);
    if (v.type == CT_UNDEF) return ct_listv(iterator(c, 0));
    if (v.type != CT_DICT) ct_err(c, "Can only get item pairs from a mapping.");
    ct_list *l = iterator(c, v.d->len);
    for (size_t i = 0; i < v.d->len; i++) l->items[l->len++] = pair(c, v.d->keys[i], v.d->vals[i]);
    return ct_listv(l);
}

FILTER(join) {
    static const char *const names[] = {"d", "attribute"};
    ct_value p[2];
    bool g[2];
    bind(c, "join", a, names, 2, p, g);
    const ct_str *sep = g[0] ? ct_to_str(c, p[0]) : ct_cstr(c->arena, "");
    ct_list *items = ct_iterate(c, v);
    ct_buf b = {0};
    for (size_t i = 0; i < items->len; i++) {
        ct_value x = items->items[i];
        if (g[1] && p[1].type != CT_NONE) x = get_path(c, x, p[1]);
        if (i) ct_buf_put(c, &b, sep->data, sep->len);
        ct_write_str(c, &b, x);
    }
    return ct_strv(ct_buf_str(c, &b));
}

FILTER(last) {
    no_args(c, "last", a);
    if (v.type == CT_LIST && v.l->kind == CT_LIST_ITER) ct_err(c, "'generator' object is not reversible");
    if (v.type == CT_UNDEF) return ct_undef("No last item, sequence was empty.");
    ct_list *items = ct_iterate(c, v);
    return items->len ? items->items[items->len - 1] : ct_undef("No last item, sequence was empty.");
}

FILTER(length) {
    no_args(c, "length", a);
    return ct_int(ct_length(c, v));
}

FILTER(list) {
    no_args(c, "list", a);
    if (v.type == CT_NONE) ct_err(c, "'NoneType' object is not iterable");
    ct_list *items = ct_iterate(c, v);
    ct_list *l = ct_list_new(c->arena, items->len, CT_LIST_PLAIN);
    if (items->len) memcpy(l->items, items->items, items->len * sizeof(ct_value));
    l->len = items->len;
    return ct_listv(l);
}

FILTER(lower) {
    no_args(c, "lower", a);
    return ct_strv(ct_str_lower(c, ct_to_str(c, v)));
}

FILTER(upper) {
    no_args(c, "upper", a);
    return ct_strv(ct_str_upper(c, ct_to_str(c, v)));
}

FILTER(map) {
    ct_list *out = iterator(c, 0);
    if (!ct_truthy(c, v)) return ct_listv(out);
    ct_value attr = {0}, dflt = ct_none();
    bool by_attr = false;
    if (a->npos == 0) {
        for (size_t k = 0; k < a->nkw; k++) {
            if (ct_str_eq(a->kw_names[k], "attribute", 9)) {
                attr = a->kw_vals[k];
                by_attr = true;
            } else if (ct_str_eq(a->kw_names[k], "default", 7)) {
                dflt = a->kw_vals[k];
            } else {
                ct_err(c, "Unexpected keyword argument '%s'", a->kw_names[k]->data);
            }
        }
        if (!by_attr) ct_err(c, "map requires a filter argument");
    }
    ct_list *items = ct_iterate(c, v);
    for (size_t i = 0; i < items->len; i++) {
        ct_value x;
        if (by_attr) {
            x = get_path(c, items->items[i], attr);
            if (x.type == CT_UNDEF && dflt.type != CT_NONE) x = dflt;
        } else {
            const ct_str *name = want_str(c, "map", a->pos[0]);
            ct_callargs rest = *a;
            rest.pos = a->pos + 1;
            rest.npos = a->npos - 1;
            x = ct_run_filter_named(c, name, items->items[i], &rest);
        }
        ct_list_push(c->arena, out, x);
    }
    return ct_listv(out);
}

static ct_value min_max(ct_ctx *c, ct_value v, const ct_callargs *a, bool max, const char *what) {
    static const char *const names[] = {"case_sensitive", "attribute"};
    ct_value p[2];
    bool g[2];
    bind(c, what, a, names, 2, p, g);
    bool cs = g[0] && ct_truthy(c, p[0]);
    ct_list *items = ct_iterate(c, v);
    if (!items->len) return ct_undef("No aggregated item, sequence was empty.");
    ct_value best = items->items[0], best_key = {0};
    for (size_t i = 0; i < items->len; i++) {
        ct_value k = items->items[i];
        if (g[1] && p[1].type != CT_NONE) k = get_path(c, k, p[1]);
        if (!cs) k = ignore_case(c, k);
        if (i == 0) {
            best_key = k;
            continue;
        }
        int r = ct_compare(c, k, best_key);
        if (max ? r == 1 : r == -1) {
            best = items->items[i];
            best_key = k;
        }
    }
    return best;
}

FILTER(max) { return min_max(c, v, a, true, "max"); }
FILTER(min) { return min_max(c, v, a, false, "min"); }

static ct_value select_impl(ct_ctx *c, ct_value v, const ct_callargs *a, bool attr, bool keep) {
    ct_list *out = iterator(c, 0);
    if (!ct_truthy(c, v)) return ct_listv(out);
    size_t off = 0;
    if (attr && a->npos < 1) ct_err(c, "Missing parameter for attribute name");
    if (attr) off = 1;
    ct_list *items = ct_iterate(c, v);
    for (size_t i = 0; i < items->len; i++) {
        ct_value x = attr ? get_path(c, items->items[i], a->pos[0]) : items->items[i];
        bool ok;
        if (a->npos > off) {
            const ct_str *name = want_str(c, "select", a->pos[off]);
            ct_callargs rest = *a;
            rest.pos = a->pos + off + 1;
            rest.npos = a->npos - off - 1;
            ok = ct_run_test_named(c, name, x, &rest);
        } else {
            ok = ct_truthy(c, x);
        }
        if (ok == keep) ct_list_push(c->arena, out, items->items[i]);
    }
    return ct_listv(out);
}

FILTER(select) { return select_impl(c, v, a, false, true); }
FILTER(reject) { return select_impl(c, v, a, false, false); }
FILTER(selectattr) { return select_impl(c, v, a, true, true); }
FILTER(rejectattr) { return select_impl(c, v, a, true, false); }

FILTER(replace) {
    static const char *const names[] = {"old", "new", "count"};
    ct_value p[3];
    bool g[3];
    bind(c, "replace", a, names, 3, p, g);
    if (!g[0] || !g[1]) ct_err(c, "replace() missing required arguments 'old' and 'new'");
    int64_t count = g[2] && p[2].type != CT_NONE ? want_int(c, "replace", p[2]) : -1;
    return str_replace(c, ct_to_str(c, v), ct_to_str(c, p[0]), ct_to_str(c, p[1]), count);
}

FILTER(reverse) {
    no_args(c, "reverse", a);
    if (v.type == CT_STR) {
        ct_list *chars = ct_iterate(c, v);
        ct_buf b = {0};
        for (size_t i = chars->len; i-- > 0;) ct_buf_put(c, &b, chars->items[i].s->data, chars->items[i].s->len);
        return ct_strv(ct_buf_str(c, &b));
    }
    bool gen = v.type == CT_LIST && v.l->kind == CT_LIST_ITER;
    ct_list *items = ct_iterate(c, v);
    ct_list *out = ct_list_new(c->arena, items->len, gen ? CT_LIST_PLAIN : CT_LIST_ITER);
    for (size_t i = items->len; i-- > 0;) out->items[out->len++] = items->items[i];
    return ct_listv(out);
}

static double round_half_even(double x, int64_t digits) {
    char buf[400];
    snprintf(buf, sizeof buf, "%.*f", (int)digits, x);
    return strtod(buf, NULL);
}

FILTER(round) {
    static const char *const names[] = {"precision", "method"};
    ct_value p[2];
    bool g[2];
    bind(c, "round", a, names, 2, p, g);
    int64_t prec = g[0] ? want_int(c, "round", p[0]) : 0;
    const ct_str *method = g[1] ? want_str(c, "round", p[1]) : NULL;
    int m = 0;
    if (method) {
        if (ct_str_eq(method, "ceil", 4)) m = 1;
        else if (ct_str_eq(method, "floor", 5)) m = 2;
        else if (!ct_str_eq(method, "common", 6)) ct_err(c, "method must be common, ceil or floor");
    }
    if (!is_int(v) && v.type != CT_FLOAT) {
        if (v.type == CT_UNDEF) ct_err(c, "%s", v.undef ? v.undef : "undefined");
        ct_err(c, "type %s doesn't define __round__ method", ct_type_name(v));
    }
    if (prec < 0 || prec > 300) ct_unsupported(c, "round() with precision %lld", (long long)prec);
    if (m == 0) {
        if (is_int(v)) return ct_int(ival(v));
        if (!isfinite(v.f)) return v;
        return ct_float(round_half_even(v.f, prec));
    }
    double x = is_int(v) ? (double)ival(v) : v.f, scale = pow(10.0, (double)prec);
    double r = m == 1 ? ceil(x * scale) : floor(x * scale);
    if (!isfinite(r)) ct_err(c, "cannot convert float infinity to integer");
    return ct_float(r / scale);
}

FILTER(safe) {
    no_args(c, "safe", a);
    return ct_strv(ct_to_str(c, v));
}

FILTER(sort) {
    static const char *const names[] = {"reverse", "case_sensitive", "attribute"};
    ct_value p[3];
    bool g[3];
    bind(c, "sort", a, names, 3, p, g);
    bool rev = g[0] && ct_truthy(c, p[0]), cs = g[1] && ct_truthy(c, p[1]);
    ct_list *items = ct_iterate(c, v);
    size_t n = items->len;
    ct_list *out = ct_list_new(c->arena, n, CT_LIST_PLAIN);
    if (n) memcpy(out->items, items->items, n * sizeof(ct_value));
    out->len = n;
    ct_value *keys = ct_alloc_array(c->arena, n ? n : 1, sizeof(ct_value));
    /* attribute "a,b" sorts by several keys (a list of them) */
    ct_list *attrs = NULL;
    if (g[2] && p[2].type != CT_NONE) {
        if (p[2].type == CT_STR) attrs = str_split(c, p[2].s, ct_cstr(c->arena, ","), -1, false).l;
        else {
            attrs = ct_list_new(c->arena, 1, CT_LIST_PLAIN);
            attrs->items[attrs->len++] = p[2];
        }
    }
    for (size_t i = 0; i < n; i++) {
        ct_list *k = ct_list_new(c->arena, attrs ? attrs->len : 1, CT_LIST_PLAIN);
        if (attrs)
            for (size_t j = 0; j < attrs->len; j++) {
                ct_value x = get_path(c, out->items[i], attrs->items[j]);
                k->items[k->len++] = cs ? x : ignore_case(c, x);
            }
        else
            k->items[k->len++] = cs ? out->items[i] : ignore_case(c, out->items[i]);
        keys[i] = ct_listv(k);
    }
    sort_by(c, out->items, keys, n, rev);
    return ct_listv(out);
}

FILTER(string) {
    no_args(c, "string", a);
    return ct_strv(ct_to_str(c, v));
}

FILTER(sum) {
    static const char *const names[] = {"attribute", "start"};
    ct_value p[2];
    bool g[2];
    bind(c, "sum", a, names, 2, p, g);
    ct_value acc = g[1] ? p[1] : ct_int(0);
    if (acc.type == CT_STR) ct_err(c, "sum() can't sum strings [use ''.join(seq) instead]");
    ct_list *items = ct_iterate(c, v);
    for (size_t i = 0; i < items->len; i++) {
        ct_value x = items->items[i];
        if (g[0] && p[0].type != CT_NONE) x = get_path(c, x, p[0]);
        acc = ct_binop(c, OP_ADD, acc, x);
    }
    return acc;
}

FILTER(title) {
    no_args(c, "title", a);
    /* jinja2: split at runs of [-\s({[<], capitalise each piece's first character */
    const ct_str *s = ct_to_str(c, v);
    ct_buf b = {0};
    size_t i = 0;
    while (i < s->len) {
        size_t start = i;
        size_t j = i;
        uint32_t cp = ct_utf8_next(s->data, &j);
        bool sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || ct_is_space(cp);
        while (i < s->len) {
            size_t k = i;
            uint32_t d = ct_utf8_next(s->data, &k);
            bool dsep = d == '-' || d == '(' || d == '{' || d == '[' || d == '<' || ct_is_space(d);
            if (dsep != sep) break;
            i = k;
        }
        const ct_str *piece = ct_str_new(c->arena, s->data + start, i - start);
        size_t first_end = 0;
        ct_utf8_next(piece->data, &first_end);
        const ct_str *head = ct_str_upper(c, ct_str_new(c->arena, piece->data, first_end));
        const ct_str *tail = ct_str_lower(c, ct_str_new(c->arena, piece->data + first_end, piece->len - first_end));
        ct_buf_put(c, &b, head->data, head->len);
        ct_buf_put(c, &b, tail->data, tail->len);
    }
    return ct_strv(ct_buf_str(c, &b));
}

FILTER(tojson) {
    static const char *const names[] = {"ensure_ascii", "indent", "separators", "sort_keys"};
    ct_value p[4];
    bool g[4];
    bind(c, "tojson", a, names, 4, p, g);
    ct_json_opts o = {0};
    o.ensure_ascii = g[0] && ct_truthy(c, p[0]);
    o.sort_keys = g[3] && ct_truthy(c, p[3]);
    if (g[1] && p[1].type != CT_NONE) {
        if (p[1].type == CT_STR) {
            o.indent = p[1].s;
        } else {
            int64_t w = want_int(c, "tojson indent", p[1]);
            if (w < 0) w = 0;
            if (w > 1000) ct_unsupported(c, "tojson indent wider than 1000");
            char sp[1001];
            memset(sp, ' ', (size_t)w);
            o.indent = ct_str_new(c->arena, sp, (size_t)w);
        }
    }
    o.item_sep = ct_cstr(c->arena, o.indent ? "," : ", ");
    o.key_sep = ct_cstr(c->arena, ": ");
    if (g[2] && p[2].type != CT_NONE) {
        if (p[2].type != CT_LIST || p[2].l->kind == CT_LIST_ITER || p[2].l->len != 2 ||
            p[2].l->items[0].type != CT_STR || p[2].l->items[1].type != CT_STR)
            ct_err(c, "tojson separators must be a pair of strings");
        o.item_sep = p[2].l->items[0].s;
        o.key_sep = p[2].l->items[1].s;
    }
    ct_buf b = {0};
    ct_write_json(c, &b, v, &o, 0);
    return ct_strv(ct_buf_str(c, &b));
}

FILTER(trim) {
    static const char *const names[] = {"chars"};
    ct_value p[1];
    bool g[1];
    bind(c, "trim", a, names, 1, p, g);
    const ct_str *chars = g[0] && p[0].type != CT_NONE ? want_str(c, "trim", p[0]) : NULL;
    return ct_strv(strip(c, ct_to_str(c, v), chars, 3));
}

FILTER(truncate) {
    static const char *const names[] = {"length", "killwords", "end", "leeway"};
    ct_value p[4];
    bool g[4];
    bind(c, "truncate", a, names, 4, p, g);
    int64_t length = g[0] ? want_int(c, "truncate", p[0]) : 255;
    bool killwords = g[1] && ct_truthy(c, p[1]);
    const ct_str *end = g[2] ? want_str(c, "truncate", p[2]) : ct_cstr(c->arena, "...");
    int64_t leeway = g[3] && p[3].type != CT_NONE ? want_int(c, "truncate", p[3]) : 5;
    const ct_str *s = ct_to_str(c, v);
    if (length < (int64_t)end->nchars) ct_err(c, "expected length >= %zu, got %lld", end->nchars, (long long)length);
    if (leeway < 0) ct_err(c, "expected leeway >= 0, got %lld", (long long)leeway);
    if ((int64_t)s->nchars <= length + leeway) return ct_strv(s);
    size_t cut = ct_utf8_offset(s, (size_t)(length - (int64_t)end->nchars));
    const ct_str *head = ct_str_new(c->arena, s->data, cut);
    if (!killwords) {
        const char *sp = rfind_bytes(head->data, head->len, " ", 1);
        if (sp) head = ct_str_new(c->arena, head->data, (size_t)(sp - head->data));
    }
    return ct_strv(ct_str_cat(c->arena, head, end));
}

FILTER(unique) {
    static const char *const names[] = {"case_sensitive", "attribute"};
    ct_value p[2];
    bool g[2];
    bind(c, "unique", a, names, 2, p, g);
    bool cs = g[0] && ct_truthy(c, p[0]);
    ct_list *items = ct_iterate(c, v), *out = iterator(c, 0), *seen = ct_list_new(c->arena, 0, CT_LIST_PLAIN);
    for (size_t i = 0; i < items->len; i++) {
        ct_value k = items->items[i];
        if (g[1] && p[1].type != CT_NONE) k = get_path(c, k, p[1]);
        if (!cs) k = ignore_case(c, k);
        if (k.type == CT_DICT || (k.type == CT_LIST && k.l->kind != CT_LIST_TUPLE))
            ct_err(c, "unhashable type: '%s'", ct_type_name(k));
        bool dup = false;
        for (size_t j = 0; j < seen->len && !dup; j++) dup = ct_equal(c, seen->items[j], k);
        if (!dup) {
            ct_list_push(c->arena, seen, k);
            ct_list_push(c->arena, out, items->items[i]);
        }
    }
    return ct_listv(out);
}

static ct_value f_unsupported_impl(ct_ctx *c, const char *name) {
    ct_unsupported(c, "the '%s' filter is not supported", name);
}
#define UNSUPPORTED_FILTER(name)                                                                   \
    static ct_value f_##name(ct_ctx *c, ct_value v, const ct_callargs *a) {                        \
        (void)v;                                                                                   \
        (void)a;                                                                                   \
        return f_unsupported_impl(c, #name);                                                       \
    }
UNSUPPORTED_FILTER(filesizeformat)
UNSUPPORTED_FILTER(groupby)
UNSUPPORTED_FILTER(pprint)
UNSUPPORTED_FILTER(random)
UNSUPPORTED_FILTER(slice)
UNSUPPORTED_FILTER(striptags)
UNSUPPORTED_FILTER(urlencode)
UNSUPPORTED_FILTER(urlize)
UNSUPPORTED_FILTER(wordwrap)
UNSUPPORTED_FILTER(xmlattr)

FILTER(wordcount) {
    no_args(c, "wordcount", a);
    /* len(re.findall(r"\w+", s)): letters, numbers and '_' */
    const ct_str *s = ct_to_str(c, v);
    int64_t words = 0;
    bool in_word = false;
    for (size_t i = 0; i < s->len;) {
        uint32_t cp = ct_utf8_next(s->data, &i);
        bool w = cp == '_' || (cp < 0x80 ? ((cp | 32) >= 'a' && (cp | 32) <= 'z') || (cp >= '0' && cp <= '9')
                                         : ((UCAT_MASK_L | UCAT_MASK_N) & UCAT_BIT(ucat_of(cp))) != 0);
        if (w && !in_word) words++;
        in_word = w;
    }
    return ct_int(words);
}

static const ct_filter_def filters[] = {
    {"abs", f_abs}, {"attr", f_attr}, {"batch", f_batch}, {"capitalize", f_capitalize},
    {"center", f_center}, {"count", f_length}, {"d", f_default}, {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape}, {"escape", f_escape},
    {"filesizeformat", f_filesizeformat}, {"first", f_first}, {"float", f_float},
    {"forceescape", f_escape}, {"format", f_format}, {"groupby", f_groupby},
    {"indent", f_indent}, {"int", f_int}, {"items", f_items}, {"join", f_join}, {"last", f_last},
    {"length", f_length}, {"list", f_list}, {"lower", f_lower}, {"map", f_map}, {"max", f_max},
    {"min", f_min}, {"pprint", f_pprint}, {"random", f_random}, {"reject", f_reject},
    {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
    {"round", f_round}, {"safe", f_safe}, {"select", f_select}, {"selectattr", f_selectattr},
    {"slice", f_slice}, {"sort", f_sort}, {"string", f_string}, {"striptags", f_striptags},
    {"sum", f_sum}, {"title", f_title}, {"tojson", f_tojson}, {"trim", f_trim},
    {"truncate", f_truncate}, {"unique", f_unique}, {"upper", f_upper},
    {"urlencode", f_urlencode}, {"urlize", f_urlize}, {"wordcount", f_wordcount},
    {"wordwrap", f_wordwrap}, {"xmlattr", f_xmlattr},
};

const ct_filter_def *ct_find_filter(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (strlen(filters[i].name) == len && memcmp(filters[i].name, name, len) == 0) return &filters[i];
    return NULL;
}

ct_value ct_run_filter_named(ct_ctx *c, const ct_str *name, ct_value v, const ct_callargs *a) {
    const ct_filter_def *f = ct_find_filter(name->data, name->len);
    if (!f) ct_err(c, "No filter named '%s'.", name->data);
    return f->fn(c, v, a);
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                        */

#define TEST(name) static bool t_##name(ct_ctx *c, ct_value v, const ct_callargs *a)

static ct_value one_arg(ct_ctx *c, const char *what, const ct_callargs *a) {
    if (a->nkw || a->npos != 1) ct_err(c, "the test '%s' takes one argument", what);
    return a->pos[0];
}

TEST(boolean) { no_args(c, "boolean", a); return v.type == CT_BOOL; }
TEST(callable) { no_args(c, "callable", a); return v.type == CT_FUNC || v.type == CT_MACRO; }
TEST(defined) { no_args(c, "defined", a); return v.type != CT_UNDEF; }
TEST(undefined) { no_args(c, "undefined", a); return v.type == CT_UNDEF; }
TEST(none) { no_args(c, "none", a); return v.type == CT_NONE; }
TEST(string) { no_args(c, "string", a); return v.type == CT_STR; }
TEST(mapping) { no_args(c, "mapping", a); return v.type == CT_DICT; }
TEST(number) { no_args(c, "number", a); return v.type == CT_INT || v.type == CT_FLOAT || v.type == CT_BOOL; }
TEST(integer) { no_args(c, "integer", a); return v.type == CT_INT; }
TEST(float) { no_args(c, "float", a); return v.type == CT_FLOAT; }
TEST(true) { no_args(c, "true", a); return v.type == CT_BOOL && v.b; }
TEST(false) { no_args(c, "false", a); return v.type == CT_BOOL && !v.b; }
TEST(escaped) {
    (void)v;
    no_args(c, "escaped", a);
    return false;
}
TEST(iterable) {
    no_args(c, "iterable", a);
    return v.type == CT_UNDEF || v.type == CT_STR || v.type == CT_LIST || v.type == CT_DICT;
}
TEST(sequence) {
    no_args(c, "sequence", a);
    return v.type == CT_STR || v.type == CT_DICT || (v.type == CT_LIST && v.l->kind != CT_LIST_ITER);
}
TEST(odd) {
    no_args(c, "odd", a);
    int64_t x = want_int(c, "odd", v);
    return (x & 1) != 0;
}
TEST(even) {
    no_args(c, "even", a);
    int64_t x = want_int(c, "even", v);
    return (x & 1) == 0;
}
TEST(divisibleby) {
    ct_value n = one_arg(c, "divisibleby", a);
    ct_value r = ct_binop(c, OP_MOD, v, n);
    return ct_equal(c, r, ct_int(0));
}
TEST(eq) { return ct_equal(c, v, one_arg(c, "eq", a)); }
TEST(ne) { return !ct_equal(c, v, one_arg(c, "ne", a)); }
TEST(lt) { return ct_compare(c, v, one_arg(c, "lt", a)) == -1; }
TEST(le) {
    int r = ct_compare(c, v, one_arg(c, "le", a));
    return r == -1 || r == 0;
}
TEST(gt) { return ct_compare(c, v, one_arg(c, "gt", a)) == 1; }
TEST(ge) {
    int r = ct_compare(c, v, one_arg(c, "ge", a));
    return r == 1 || r == 0;
}
TEST(in) {
    ct_value seq = one_arg(c, "in", a);
    if (seq.type == CT_STR) {
        if (v.type != CT_STR) ct_err(c, "'in <string>' requires string as left operand, not %s", ct_type_name(v));
        return find_bytes(seq.s->data, seq.s->len, v.s->data, v.s->len) != NULL;
    }
    if (seq.type == CT_DICT) return ct_dict_find(c, seq.d, v) != NULL;
    ct_list *items = ct_iterate(c, seq);
    for (size_t i = 0; i < items->len; i++)
        if (ct_equal(c, items->items[i], v)) return true;
    return false;
}
TEST(lower) {
    no_args(c, "lower", a);
    return v.type == CT_STR && ct_str_eqs(ct_str_lower(c, v.s), v.s) && !ct_str_eqs(ct_str_upper(c, v.s), v.s);
}
TEST(upper) {
    no_args(c, "upper", a);
    return v.type == CT_STR && ct_str_eqs(ct_str_upper(c, v.s), v.s) && !ct_str_eqs(ct_str_lower(c, v.s), v.s);
}
TEST(sameas) {
    ct_value o = one_arg(c, "sameas", a);
    if (v.type != o.type) return false;
    switch (v.type) {
    case CT_NONE: case CT_UNDEF: return true;
    case CT_BOOL: return v.b == o.b;
    case CT_INT:
        if (v.i >= -5 && v.i <= 256) return v.i == o.i;
        break;
    case CT_LIST: return v.l == o.l;
    case CT_DICT: return v.d == o.d;
    case CT_NS: return v.ns == o.ns;
    default: break;
    }
    ct_unsupported(c, "the 'sameas' test on a %s (Python's object identity)", ct_type_name(v));
}
TEST(filter) { no_args(c, "filter", a); return v.type == CT_STR && ct_find_filter(v.s->data, v.s->len); }
TEST(test) { no_args(c, "test", a); return v.type == CT_STR && ct_find_test(v.s->data, v.s->len); }

static const ct_test_def tests[] = {
    {"!=", t_ne}, {"<", t_lt}, {"<=", t_le}, {"==", t_eq}, {">", t_gt}, {">=", t_ge},
    {"boolean", t_boolean}, {"callable", t_callable}, {"defined", t_defined},
    {"divisibleby", t_divisibleby}, {"eq", t_eq}, {"equalto", t_eq}, {"escaped", t_escaped},
    {"even", t_even}, {"false", t_false}, {"filter", t_filter}, {"float", t_float},
    {"ge", t_ge}, {"greaterthan", t_gt}, {"gt", t_gt}, {"in", t_in}, {"integer", t_integer},
    {"iterable", t_iterable}, {"le", t_le}, {"lessthan", t_lt}, {"lower", t_lower},
    {"lt", t_lt}, {"mapping", t_mapping}, {"ne", t_ne}, {"none", t_none}, {"number", t_number},
    {"odd", t_odd}, {"sameas", t_sameas}, {"sequence", t_sequence}, {"string", t_string},
    {"test", t_test}, {"true", t_true}, {"undefined", t_undefined}, {"upper", t_upper},
};

const ct_test_def *ct_find_test(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (strlen(tests[i].name) == len && memcmp(tests[i].name, name, len) == 0) return &tests[i];
    return NULL;
}

bool ct_run_test_named(ct_ctx *c, const ct_str *name, ct_value v, const ct_callargs *a) {
    const ct_test_def *t = ct_find_test(name->data, name->len);
    if (!t) ct_err(c, "No test named '%s'.", name->data);
    return t->fn(c, v, a);
}

/* ------------------------------------------------------------------------------------------ */
/* Methods and globals                                                                          */

static const struct {
    const char *name;
    int id;
} str_methods[] = {
    {"strip", M_STRIP}, {"lstrip", M_LSTRIP}, {"rstrip", M_RSTRIP},
    {"startswith", M_STARTSWITH}, {"endswith", M_ENDSWITH}, {"split", M_SPLIT},
    {"rsplit", M_RSPLIT}, {"upper", M_UPPER}, {"lower", M_LOWER}, {"title", M_TITLE},
    {"capitalize", M_CAPITALIZE}, {"replace", M_REPLACE}, {"find", M_FIND}, {"rfind", M_RFIND},
    {"index", M_INDEX}, {"rindex", M_RINDEX}, {"count", M_COUNT}, {"join", M_JOIN},
    {"splitlines", M_SPLITLINES}, {"removeprefix", M_REMOVEPREFIX},
    {"removesuffix", M_REMOVESUFFIX}, {"isdigit", M_ISDIGIT}, {"isalpha", M_ISALPHA},
    {"isalnum", M_ISALNUM}, {"isspace", M_ISSPACE}, {"isupper", M_ISUPPER},
    {"islower", M_ISLOWER}, {"zfill", M_ZFILL}, {"center", M_CENTER}, {"ljust", M_LJUST},
    {"rjust", M_RJUST}, {"partition", M_PARTITION}, {"rpartition", M_RPARTITION},
    {"swapcase", M_STR_UNSUPPORTED}, {"casefold", M_STR_UNSUPPORTED},
    {"encode", M_STR_UNSUPPORTED}, {"expandtabs", M_STR_UNSUPPORTED},
    {"format", M_STR_UNSUPPORTED}, {"format_map", M_STR_UNSUPPORTED},
    {"isascii", M_STR_UNSUPPORTED}, {"isdecimal", M_STR_UNSUPPORTED},
    {"isidentifier", M_STR_UNSUPPORTED}, {"isnumeric", M_STR_UNSUPPORTED},
    {"isprintable", M_STR_UNSUPPORTED}, {"istitle", M_STR_UNSUPPORTED},
    {"maketrans", M_STR_UNSUPPORTED}, {"translate", M_STR_UNSUPPORTED},
}, dict_methods[] = {
    {"get", M_GET}, {"items", M_ITEMS}, {"keys", M_KEYS}, {"values", M_VALUES},
    {"copy", M_COPY}, {"pop", M_DICT_UNSAFE}, {"popitem", M_DICT_UNSAFE},
    {"setdefault", M_DICT_UNSAFE}, {"update", M_DICT_UNSAFE}, {"clear", M_DICT_UNSAFE},
    {"fromkeys", M_DICT_UNSAFE},
}, list_methods[] = {
    {"index", M_LIST_INDEX}, {"count", M_LIST_COUNT}, {"copy", M_LIST_COPY},
    {"append", M_LIST_UNSAFE}, {"extend", M_LIST_UNSAFE}, {"insert", M_LIST_UNSAFE},
    {"pop", M_LIST_UNSAFE}, {"remove", M_LIST_UNSAFE}, {"reverse", M_LIST_UNSAFE},
    {"sort", M_LIST_UNSAFE}, {"clear", M_LIST_UNSAFE},
}, loop_methods[] = {
    {"cycle", M_LOOP_CYCLE}, {"changed", M_LOOP_CHANGED},
}, number_methods[] = {
    {"bit_length", M_STR_UNSUPPORTED}, {"bit_count", M_STR_UNSUPPORTED},
    {"conjugate", M_STR_UNSUPPORTED}, {"as_integer_ratio", M_STR_UNSUPPORTED},
    {"is_integer", M_STR_UNSUPPORTED}, {"hex", M_STR_UNSUPPORTED}, {"fromhex", M_STR_UNSUPPORTED},
    {"to_bytes", M_STR_UNSUPPORTED}, {"from_bytes", M_STR_UNSUPPORTED},
}, globals[] = {
    {"range", F_RANGE}, {"dict", F_DICT}, {"namespace", F_NAMESPACE},
    {"raise_exception", F_RAISE_EXCEPTION}, {"strftime_now", F_STRFTIME_NOW},
    {"cycler", F_CYCLER}, {"joiner", F_JOINER}, {"lipsum", F_LIPSUM},
};

#define FIND_IN(table, name)                                                                       \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < sizeof table / sizeof table[0]; i_++)                             \
            if (ct_str_eq(name, table[i_].name, strlen(table[i_].name))) {                         \
                id = table[i_].id;                                                                 \
                fname = table[i_].name;                                                            \
            }                                                                                      \
    } while (0)

static ct_value bound(ct_ctx *c, int id, const char *name, ct_value self) {
    ct_func *f = ct_zalloc(c->arena, sizeof *f);
    f->id = id;
    f->self = self;
    f->name = name;
    ct_value v = {.type = CT_FUNC};
    v.fn = f;
    return v;
}

ct_value ct_method(ct_ctx *c, ct_value v, const ct_str *name) {
    int id = -1;
    const char *fname = NULL;
    switch (v.type) {
    case CT_STR: FIND_IN(str_methods, name); break;
    case CT_DICT: FIND_IN(dict_methods, name); break;
    case CT_LIST:
        if (v.l->kind == CT_LIST_PLAIN) FIND_IN(list_methods, name);
        else if (v.l->kind == CT_LIST_TUPLE || v.l->kind == CT_LIST_RANGE) {
            if (ct_str_eq(name, "index", 5)) {
                id = M_LIST_INDEX;
                fname = "index";
            } else if (ct_str_eq(name, "count", 5)) {
                id = M_LIST_COUNT;
                fname = "count";
            }
        }
        break;
    case CT_LOOP: FIND_IN(loop_methods, name); break;
    case CT_INT: case CT_BOOL: case CT_FLOAT:
        if (ct_str_eq(name, "real", 4) || ct_str_eq(name, "numerator", 9)) {
            if (v.type == CT_FLOAT && name->len != 4) break;
            return v.type == CT_BOOL ? ct_int(v.b) : v;
        }
        if (ct_str_eq(name, "imag", 4)) return v.type == CT_FLOAT ? ct_float(0.0) : ct_int(0);
        if (ct_str_eq(name, "denominator", 11) && v.type != CT_FLOAT) return ct_int(1);
        FIND_IN(number_methods, name);
        break;
    default: break;
    }
    if (id < 0) return ct_undef(NULL);
    return bound(c, id, fname, v);
}

ct_value ct_global(ct_ctx *c, const ct_str *name) {
    int id = -1;
    const char *fname = NULL;
    FIND_IN(globals, name);
    if (id < 0) return ct_undef(NULL);
    return bound(c, id, fname, ct_none());
}

static ct_value fn_range(ct_ctx *c, const ct_callargs *a) {
    if (a->nkw) ct_err(c, "range() takes no keyword arguments");
    if (a->npos < 1 || a->npos > 3) ct_err(c, "range expected 1 to 3 arguments, got %zu", a->npos);
    int64_t v[3] = {0, 0, 0};
    for (size_t i = 0; i < a->npos; i++) {
        if (a->pos[i].type == CT_UNDEF) ct_err(c, "%s", a->pos[i].undef ? a->pos[i].undef : "undefined");
        if (!is_int(a->pos[i]))
            ct_err(c, "'%s' object cannot be interpreted as an integer", ct_type_name(a->pos[i]));
        v[i] = ival(a->pos[i]);
    }
    int64_t start = 0, stop, step = 1;
    if (a->npos == 1) stop = v[0];
    else {
        start = v[0];
        stop = v[1];
        if (a->npos == 3) step = v[2];
    }
    if (step == 0) ct_err(c, "range() arg 3 must not be zero");
    /* length, computed without overflow */
    uint64_t n = 0;
    if (step > 0 && start < stop) n = ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
    else if (step < 0 && start > stop) n = ((uint64_t)start - (uint64_t)stop - 1) / (uint64_t)(-(step + 1) + 1) + 1;
    if (n > 100000)
        ct_err(c, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    ct_charge(c, (int64_t)n);
    ct_list *l = ct_list_new(c->arena, (size_t)n, CT_LIST_RANGE);
    l->start = start;
    l->stop = stop;
    l->step = step;
    for (uint64_t i = 0; i < n; i++) l->items[l->len++] = ct_int(start + (int64_t)i * step);
    return ct_listv(l);
}

/* dict(*args, **kwargs) into d: a mapping or an iterable of pairs, then the keywords. */
static void dict_fill(ct_ctx *c, ct_dict *d, const ct_callargs *a, const char *what) {
    if (a->npos > 1) ct_err(c, "%s expected at most 1 argument, got %zu", what, a->npos);
    if (a->npos == 1) {
        ct_value src = a->pos[0];
        if (src.type == CT_DICT) {
            for (size_t i = 0; i < src.d->len; i++) ct_dict_set(c, d, src.d->keys[i], src.d->vals[i]);
        } else {
            ct_list *items = ct_iterate(c, src);
            for (size_t i = 0; i < items->len; i++) {
                ct_list *kv = ct_iterate(c, items->items[i]);
                if (kv->len != 2)
                    ct_err(c, "dictionary update sequence element #%zu has length %zu; 2 is required", i, kv->len);
                ct_dict_set(c, d, kv->items[0], kv->items[1]);
            }
        }
    }
    for (size_t k = 0; k < a->nkw; k++) ct_dict_set(c, d, ct_strv(a->kw_names[k]), a->kw_vals[k]);
}

static ct_value fn_strftime_now(ct_ctx *c, const ct_callargs *a) {
    static const char *const names[] = {"format"};
    ct_value p[1];
    bool g[1];
    bind(c, "strftime_now", a, names, 1, p, g);
    if (!g[0]) ct_err(c, "strftime_now() missing required argument 'format'");
    const ct_str *fmt = want_str(c, "strftime_now", p[0]);
    if (memchr(fmt->data, '\0', fmt->len)) ct_err(c, "embedded null character");
    time_t t = c->p.now >= 0 ? (time_t)c->p.now : time(NULL);
    struct tm tm;
    if (!localtime_r(&t, &tm)) ct_err(c, "strftime_now: the time cannot be converted");
    for (size_t i = 0; i + 1 < fmt->len; i++)
        if (fmt->data[i] == '%') {
            char k = fmt->data[++i];
            if (k == 'f' || k == 'z' || k == 'Z' || k == ':')
                ct_unsupported(c, "strftime_now format code '%%%c'", k);
        }
    char buf[1024];
    if (fmt->len == 0) return strv(c, "", 0);
    size_t n = strftime(buf, sizeof buf, fmt->data, &tm);
    if (n == 0) ct_unsupported(c, "strftime_now: a format longer than %zu bytes of output", sizeof buf);
    return strv(c, buf, n);
}

static ct_value str_method(ct_ctx *c, const ct_func *fn, const ct_str *s, const ct_callargs *a) {
    ct_value p[3];
    bool g[3];
    char what[48];
    snprintf(what, sizeof what, "str.%s", fn->name);
    switch (fn->id) {
    case M_STRIP: case M_LSTRIP: case M_RSTRIP: {
        static const char *const names[] = {"chars"};
        bind(c, what, a, names, 1, p, g);
        const ct_str *chars = g[0] && p[0].type != CT_NONE ? want_str(c, what, p[0]) : NULL;
        return ct_strv(strip(c, s, chars, fn->id == M_STRIP ? 3 : fn->id == M_LSTRIP ? 1 : 2));
    }
    case M_STARTSWITH: case M_ENDSWITH: {
        static const char *const names[] = {"prefix", "start", "end"};
        bind(c, what, a, names, 3, p, g);
        if (!g[0]) ct_err(c, "%s() takes at least 1 argument (0 given)", what);
        if (g[1] || g[2]) ct_unsupported(c, "%s() with start / end", what);
        ct_list *cands;
        if (p[0].type == CT_LIST && p[0].l->kind == CT_LIST_TUPLE) cands = p[0].l;
        else {
            if (p[0].type != CT_STR)
                ct_err(c, "%s first arg must be str or a tuple of str, not %s", fn->name, ct_type_name(p[0]));
            cands = ct_list_new(c->arena, 1, CT_LIST_TUPLE);
            cands->items[cands->len++] = p[0];
        }
        for (size_t i = 0; i < cands->len; i++) {
            const ct_str *x = want_str(c, what, cands->items[i]);
            if (x->len > s->len) continue;
            const char *at = fn->id == M_STARTSWITH ? s->data : s->data + s->len - x->len;
            if (memcmp(at, x->data, x->len) == 0) return ct_bool(true);
        }
        return ct_bool(false);
    }
    case M_SPLIT: case M_RSPLIT: {
        static const char *const names[] = {"sep", "maxsplit"};
        bind(c, what, a, names, 2, p, g);
        const ct_str *sep = g[0] && p[0].type != CT_NONE ? want_str(c, what, p[0]) : NULL;
        int64_t maxsplit = g[1] ? want_int(c, what, p[1]) : -1;
        return str_split(c, s, sep, maxsplit, fn->id == M_RSPLIT);
    }
    case M_UPPER: no_args(c, what, a); return ct_strv(ct_str_upper(c, s));
    case M_LOWER: no_args(c, what, a); return ct_strv(ct_str_lower(c, s));
    case M_TITLE: no_args(c, what, a); return ct_strv(ct_str_title(c, s));
    case M_CAPITALIZE: no_args(c, what, a); return ct_strv(ct_str_capitalize(c, s));
    case M_REPLACE: {
        static const char *const names[] = {"old", "new", "count"};
        bind(c, what, a, names, 3, p, g);
        if (!g[0] || !g[1]) ct_err(c, "replace expected at least 2 arguments");
        int64_t count = g[2] ? want_int(c, what, p[2]) : -1;
        return str_replace(c, s, want_str(c, what, p[0]), want_str(c, what, p[1]), count);
    }
    case M_FIND: case M_RFIND: case M_INDEX: case M_RINDEX: case M_COUNT: {
        static const char *const names[] = {"sub", "start", "end"};
        bind(c, what, a, names, 3, p, g);
        if (!g[0]) ct_err(c, "%s() takes at least 1 argument (0 given)", what);
        if (g[1] || g[2]) ct_unsupported(c, "%s() with start / end", what);
        const ct_str *sub = want_str(c, what, p[0]);
        ct_charge(c, (int64_t)s->len / 16 + 1);
        if (fn->id == M_COUNT) {
            if (sub->len == 0) return ct_int((int64_t)s->nchars + 1);
            int64_t n = 0;
            size_t i = 0;
            const char *hit;
            while ((hit = find_bytes(s->data + i, s->len - i, sub->data, sub->len))) {
                n++;
                i = (size_t)(hit - s->data) + sub->len;
            }
            return ct_int(n);
        }
        bool right = fn->id == M_RFIND || fn->id == M_RINDEX;
        const char *hit = right ? rfind_bytes(s->data, s->len, sub->data, sub->len)
                                : find_bytes(s->data, s->len, sub->data, sub->len);
        if (!hit) {
            if (fn->id == M_INDEX || fn->id == M_RINDEX) ct_err(c, "substring not found");
            return ct_int(-1);
        }
        return ct_int((int64_t)ct_utf8_count(s->data, (size_t)(hit - s->data)));
    }
    case M_JOIN: {
        static const char *const names[] = {"iterable"};
        bind(c, what, a, names, 1, p, g);
        if (!g[0]) ct_err(c, "str.join() takes exactly one argument (0 given)");
        ct_list *items = ct_iterate(c, p[0]);
        ct_buf b = {0};
        for (size_t i = 0; i < items->len; i++) {
            if (items->items[i].type != CT_STR)
                ct_err(c, "sequence item %zu: expected str instance, %s found", i, ct_type_name(items->items[i]));
            if (i) ct_buf_put(c, &b, s->data, s->len);
            ct_buf_put(c, &b, items->items[i].s->data, items->items[i].s->len);
        }
        return ct_strv(ct_buf_str(c, &b));
    }
    case M_SPLITLINES: {
        static const char *const names[] = {"keepends"};
        bind(c, what, a, names, 1, p, g);
        return ct_listv(splitlines(c, s, g[0] && ct_truthy(c, p[0])));
    }
    case M_REMOVEPREFIX: case M_REMOVESUFFIX: {
        static const char *const names[] = {"fix"};
        bind(c, what, a, names, 1, p, g);
        if (!g[0]) ct_err(c, "%s() takes exactly one argument (0 given)", what);
        const ct_str *x = want_str(c, what, p[0]);
        if (x->len > s->len || x->len == 0) return ct_strv(s);
        if (fn->id == M_REMOVEPREFIX)
            return memcmp(s->data, x->data, x->len) == 0 ? strv(c, s->data + x->len, s->len - x->len) : ct_strv(s);
        return memcmp(s->data + s->len - x->len, x->data, x->len) == 0 ? strv(c, s->data, s->len - x->len) : ct_strv(s);
    }
    case M_ISDIGIT: case M_ISALPHA: case M_ISALNUM: case M_ISSPACE: {
        no_args(c, what, a);
        if (s->len == 0) return ct_bool(false);
        for (size_t i = 0; i < s->len;) {
            uint32_t cp = ct_utf8_next(s->data, &i);
            bool ok;
            if (fn->id == M_ISSPACE) ok = ct_is_space(cp);
            else if (cp < 0x80) {
                bool digit = cp >= '0' && cp <= '9', alpha = ((cp | 32) >= 'a' && (cp | 32) <= 'z');
                ok = fn->id == M_ISDIGIT ? digit : fn->id == M_ISALPHA ? alpha : digit || alpha;
            } else {
                ct_unsupported(c, "str.%s() on non-ASCII text", fn->name);
            }
            if (!ok) return ct_bool(false);
        }
        return ct_bool(true);
    }
    case M_ISUPPER: case M_ISLOWER: {
        no_args(c, what, a);
        bool any = false;
        for (size_t i = 0; i < s->len;) {
            uint32_t cp = ct_utf8_next(s->data, &i);
            if (!ct_is_cased(cp)) continue;
            uint32_t o[3];
            int n = ct_case_map(fn->id == M_ISUPPER ? CT_CASE_LOWER : CT_CASE_UPPER, cp, o);
            bool other_case_differs = !(n == 1 && o[0] == cp);
            uint32_t same[3];
            int ns = ct_case_map(fn->id == M_ISUPPER ? CT_CASE_UPPER : CT_CASE_LOWER, cp, same);
            bool is_this_case = ns == 1 && same[0] == cp && other_case_differs;
            if (!is_this_case) return ct_bool(false);
            any = true;
        }
        return ct_bool(any);
    }
    case M_ZFILL: {
        static const char *const names[] = {"width"};
        bind(c, what, a, names, 1, p, g);
        if (!g[0]) ct_err(c, "zfill() takes exactly one argument (0 given)");
        int64_t w = want_int(c, what, p[0]);
        if (w <= (int64_t)s->nchars) return ct_strv(s);
        if ((uint64_t)w > c->p.max_output) ct_limit(c, "zfill wider than max_output");
        ct_buf b = {0};
        size_t i = 0;
        if (s->len && (s->data[0] == '+' || s->data[0] == '-')) ct_buf_putc(c, &b, s->data[i++]);
        for (int64_t k = 0; k < w - (int64_t)s->nchars; k++) ct_buf_putc(c, &b, '0');
        ct_buf_put(c, &b, s->data + i, s->len - i);
        return ct_strv(ct_buf_str(c, &b));
    }
    case M_CENTER: case M_LJUST: case M_RJUST: {
        static const char *const names[] = {"width", "fillchar"};
        bind(c, what, a, names, 2, p, g);
        if (!g[0]) ct_err(c, "%s() takes at least 1 argument (0 given)", what);
        const ct_str *fill = g[1] ? want_str(c, what, p[1]) : ct_cstr(c->arena, " ");
        return pad(c, s, want_int(c, what, p[0]), fill, fn->id == M_CENTER ? 0 : fn->id == M_LJUST ? 1 : 2);
    }
    case M_PARTITION: case M_RPARTITION: {
        static const char *const names[] = {"sep"};
        bind(c, what, a, names, 1, p, g);
        if (!g[0]) ct_err(c, "%s() takes exactly one argument (0 given)", what);
        const ct_str *sep = want_str(c, what, p[0]);
        if (sep->len == 0) ct_err(c, "empty separator");
        const char *hit = fn->id == M_PARTITION ? find_bytes(s->data, s->len, sep->data, sep->len)
                                                : rfind_bytes(s->data, s->len, sep->data, sep->len);
        ct_list *t = ct_list_new(c->arena, 3, CT_LIST_TUPLE);
        if (!hit) {
            ct_value empty = strv(c, "", 0);
            t->items[0] = fn->id == M_PARTITION ? ct_strv(s) : empty;
            t->items[1] = empty;
            t->items[2] = fn->id == M_PARTITION ? empty : ct_strv(s);
        } else {
            size_t at = (size_t)(hit - s->data);
            t->items[0] = strv(c, s->data, at);
            t->items[1] = ct_strv(sep);
            t->items[2] = strv(c, s->data + at + sep->len, s->len - at - sep->len);
        }
        t->len = 3;
        return ct_listv(t);
    }
    default: ct_unsupported(c, "the str method '%s' is not supported", fn->name);
    }
}

ct_value ct_call_builtin(ct_ctx *c, const ct_func *fn, const ct_callargs *a) {
    ct_value p[2];
    bool g[2];
    ct_value self = fn->self;
    if (fn->id == M_STR_UNSUPPORTED) ct_unsupported(c, "the %s method '%s' is not supported", ct_type_name(self), fn->name);
    if (fn->id >= M_STR_FIRST && fn->id < M_DICT_FIRST) return str_method(c, fn, self.s, a);
    switch (fn->id) {
    case F_RANGE: return fn_range(c, a);
    case F_DICT: {
        ct_dict *d = ct_dict_new(c->arena, 0);
        dict_fill(c, d, a, "dict");
        return ct_dictv(d);
    }
    case F_NAMESPACE: {
        ct_ns *ns = ct_zalloc(c->arena, sizeof *ns);
        dict_fill(c, &ns->attrs, a, "namespace");
        ct_value v = {.type = CT_NS};
        v.ns = ns;
        return v;
    }
    case F_RAISE_EXCEPTION: {
        const ct_str *msg = a->npos ? ct_to_str(c, a->pos[0]) : ct_cstr(c->arena, "");
        ct_raise(c->fail, BORN_ERR_ARGUMENT, c->line, c->col, "the template raised an exception: %s", msg->data);
    }
    case F_STRFTIME_NOW: return fn_strftime_now(c, a);
    case F_CYCLER: case F_JOINER: case F_LIPSUM:
        ct_unsupported(c, "the global '%s' is not supported", fn->name);
    case M_GET: {
        static const char *const names[] = {"key", "default"};
        bind(c, "dict.get", a, names, 2, p, g);
        if (!g[0]) ct_err(c, "get expected at least 1 argument, got 0");
        if (p[0].type == CT_DICT || (p[0].type == CT_LIST && p[0].l->kind != CT_LIST_TUPLE))
            ct_err(c, "unhashable type: '%s'", ct_type_name(p[0]));
        ct_value *v = ct_dict_find(c, self.d, p[0]);
        return v ? *v : g[1] ? p[1] : ct_none();
    }
    case M_ITEMS: case M_KEYS: case M_VALUES: {
        no_args(c, fn->name, a);
        uint8_t kind = fn->id == M_ITEMS ? CT_LIST_ITEMS : fn->id == M_KEYS ? CT_LIST_KEYS : CT_LIST_VALUES;
        ct_list *l = ct_list_new(c->arena, self.d->len, kind);
        for (size_t i = 0; i < self.d->len; i++)
            l->items[l->len++] = fn->id == M_ITEMS ? pair(c, self.d->keys[i], self.d->vals[i])
                                 : fn->id == M_KEYS ? self.d->keys[i] : self.d->vals[i];
        return ct_listv(l);
    }
    case M_COPY: {
        no_args(c, "dict.copy", a);
        ct_dict *d = ct_dict_new(c->arena, self.d->len);
        if (self.d->len) {
            memcpy(d->keys, self.d->keys, self.d->len * sizeof(ct_value));
            memcpy(d->vals, self.d->vals, self.d->len * sizeof(ct_value));
        }
        d->len = self.d->len;
        return ct_dictv(d);
    }
    case M_DICT_UNSAFE: case M_LIST_UNSAFE:
        ct_err(c, "access to the method '%s' of a %s is unsafe: templates cannot change values "
                  "(jinja2's ImmutableSandboxedEnvironment)", fn->name, ct_type_name(self));
    case M_LIST_INDEX: case M_LIST_COUNT: {
        if (a->npos != 1 || a->nkw) ct_err(c, "%s() takes exactly one argument", fn->name);
        int64_t n = 0;
        for (size_t i = 0; i < self.l->len; i++)
            if (ct_equal(c, self.l->items[i], a->pos[0])) {
                if (fn->id == M_LIST_INDEX) return ct_int((int64_t)i);
                n++;
            }
        if (fn->id == M_LIST_INDEX) ct_err(c, "the value is not in the list");
        return ct_int(n);
    }
    case M_LIST_COPY: {
        no_args(c, "list.copy", a);
        ct_list *l = ct_list_new(c->arena, self.l->len, CT_LIST_PLAIN);
        if (self.l->len) memcpy(l->items, self.l->items, self.l->len * sizeof(ct_value));
        l->len = self.l->len;
        return ct_listv(l);
    }
    case M_LOOP_CYCLE: {
        if (a->nkw) ct_err(c, "loop.cycle() takes no keyword arguments");
        if (!a->npos) ct_err(c, "no items for cycling given");
        return a->pos[self.loop->index0 % a->npos];
    }
    default: ct_unsupported(c, "the method '%s' is not supported", fn->name);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* printf-style formatting (str % args, the format filter)                                      */

ct_value ct_percent_format(ct_ctx *c, const ct_str *fmt, ct_value args) {
    ct_list *pos = NULL;
    ct_dict *map = NULL;
    if (args.type == CT_LIST && args.l->kind == CT_LIST_TUPLE) pos = args.l;
    else if (args.type == CT_DICT) map = args.d;
    else {
        pos = ct_list_new(c->arena, 1, CT_LIST_TUPLE);
        pos->items[pos->len++] = args;
    }
    size_t next = 0;
    ct_buf b = {0};
    const char *s = fmt->data;
    size_t n = fmt->len, i = 0, run = 0;
    while (i < n) {
        if (s[i] != '%') {
            i++;
            continue;
        }
        ct_buf_put(c, &b, s + run, i - run);
        i++;
        if (i >= n) ct_err(c, "incomplete format");
        ct_value arg;
        bool have_arg = false;
        if (s[i] == '(') {
            if (!map) ct_err(c, "format requires a mapping");
            size_t k = i + 1;
            while (k < n && s[k] != ')') k++;
            if (k >= n) ct_err(c, "incomplete format key");
            ct_value *v = ct_dict_find_str(c, map, s + i + 1, k - i - 1);
            if (!v) ct_err(c, "format key '%.*s' not found", (int)(k - i - 1), s + i + 1);
            arg = *v;
            have_arg = true;
            i = k + 1;
        }
        char spec[32];
        size_t sl = 0;
        spec[sl++] = '%';
        while (i < n && strchr("-+ 0#", s[i]) && sl < 8) spec[sl++] = s[i++];
        while (i < n && s[i] >= '0' && s[i] <= '9' && sl < 16) spec[sl++] = s[i++];
        if (i < n && s[i] == '.') {
            spec[sl++] = s[i++];
            while (i < n && s[i] >= '0' && s[i] <= '9' && sl < 24) spec[sl++] = s[i++];
        }
        if (i >= n) ct_err(c, "incomplete format");
        char conv = s[i++];
        run = i;
        if (conv == '%') {
            ct_buf_putc(c, &b, '%');
            continue;
        }
        if (!have_arg) {
            if (map) ct_err(c, "format requires a mapping");
            if (next >= pos->len) ct_err(c, "not enough arguments for format string");
            arg = pos->items[next++];
        }
        char out[512];
        switch (conv) {
        case 's': case 'r': {
            ct_buf t = {0};
            if (conv == 's') ct_write_str(c, &t, arg);
            else ct_write_repr(c, &t, arg);
            if (sl > 1) ct_unsupported(c, "width or precision with %%%c", conv);
            ct_buf_put(c, &b, t.data ? t.data : "", t.len);
            break;
        }
        case 'd': case 'i': {
            int64_t x;
            if (is_int(arg)) x = ival(arg);
            else if (arg.type == CT_FLOAT) {
                if (!int_of_float(c, arg.f, &x)) ct_err(c, "cannot convert float NaN to integer");
            } else ct_err(c, "%%%c format: a real number is required, not %s", conv, ct_type_name(arg));
            spec[sl++] = 'l';
            spec[sl++] = 'l';
            spec[sl++] = 'd';
            spec[sl] = '\0';
            snprintf(out, sizeof out, spec, (long long)x);
            ct_buf_put(c, &b, out, strlen(out));
            break;
        }
        case 'f': case 'F': case 'e': case 'E': {
            if (!is_int(arg) && arg.type != CT_FLOAT)
                ct_err(c, "must be real number, not %s", ct_type_name(arg));
            double x = arg.type == CT_FLOAT ? arg.f : (double)ival(arg);
            if (!isfinite(x)) ct_unsupported(c, "%%%c of inf or nan", conv);
            spec[sl++] = conv;
            spec[sl] = '\0';
            snprintf(out, sizeof out, spec, x);
            ct_buf_put(c, &b, out, strlen(out));
            break;
        }
        default: ct_unsupported(c, "the format conversion '%%%c'", conv);
        }
    }
    ct_buf_put(c, &b, s + run, n - run);
    if (pos && next < pos->len && !map) ct_err(c, "not all arguments converted during string formatting");
    return ct_strv(ct_buf_str(c, &b));
}
