/* The chat-template lexer: jinja2's lexer with HF's settings (trim_blocks, lstrip_blocks).
 *
 * Text between tags becomes TK_DATA after whitespace control, exactly as jinja2.lexer does it:
 *   - "{%-", "{{-", "{#-" strip all whitespace before the tag; "-%}", "-}}", "-#}" all after;
 *   - trim_blocks: one newline right after "%}" or "#}" is dropped ("+%}" keeps it);
 *   - lstrip_blocks: spaces and tabs between the start of a line and "{%" or "{#" are dropped
 *     ("{%+" keeps them); "at the start of a line" means after a newline in the text, or at the
 *     very start of the text when the previous tag's match ended with a newline (or at the
 *     template's start).
 * Inside tags: names, numbers and strings as Python writes them, jinja2's operators; a tag ends
 * only where its brackets are balanced. The source has its newlines normalised to "\n" and one
 * trailing newline removed before it gets here (keep_trailing_newline=False). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/chat_template/ct_internal.h"

typedef struct lexer {
    ct_arena *a;
    const char *src;
    size_t len;
    ct_token *toks;
    size_t ntok, cap;
    /* position cursor for line / column */
    size_t at_off;
    int at_line;
    size_t at_line_start;
} lexer;

static void where(lexer *L, size_t off, int *line, int *col) {
    if (off < L->at_off) {
        L->at_off = 0;
        L->at_line = 1;
        L->at_line_start = 0;
    }
    for (size_t i = L->at_off; i < off && i < L->len; i++) {
        if (L->src[i] == '\n') {
            L->at_line++;
            L->at_line_start = i + 1;
        }
    }
    L->at_off = off;
    *line = L->at_line;
    *col = (int)(off - L->at_line_start) + 1;
}

_Noreturn static void fail_at(lexer *L, size_t off, born_status st, const char *fmt, const char *arg) {
    int line, col;
    where(L, off, &line, &col);
    ct_raise(L->a->fail, st, line, col, fmt, arg);
}

static ct_token *push(lexer *L, uint8_t type, size_t off) {
    if (L->ntok == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 64;
        ct_token *t = ct_alloc_array(L->a, cap, sizeof *t);
        if (L->ntok) memcpy(t, L->toks, L->ntok * sizeof *t);
        L->toks = t;
        L->cap = cap;
    }
    ct_token *t = &L->toks[L->ntok++];
    memset(t, 0, sizeof *t);
    t->type = type;
    where(L, off, &t->line, &t->col);
    return t;
}

/* Python's \s at s[i] (Unicode whitespace); returns its byte length or 0. */
static size_t space_at(const char *s, size_t i, size_t n) {
    if (i >= n) return 0;
    uint8_t ch = (uint8_t)s[i];
    if (ch < 0x80) return ct_is_space(ch) ? 1 : 0;
    size_t j = i;
    uint32_t cp = ct_utf8_next(s, &j);
    return ct_is_space(cp) ? j - i : 0;
}

static size_t skip_spaces(const char *s, size_t i, size_t n) {
    size_t k;
    while ((k = space_at(s, i, n)) > 0) i += k;
    return i;
}

/* Python's str.rstrip(): the end of text[begin..end) without trailing whitespace. */
static size_t rstrip_end(const char *s, size_t begin, size_t end) {
    while (end > begin) {
        size_t j = end - 1;
        while (j > begin && ((uint8_t)s[j] & 0xC0) == 0x80) j--;
        if (space_at(s, j, end) != end - j) break;
        end = j;
    }
    return end;
}

static void emit_data(lexer *L, size_t begin, size_t end) {
    if (end <= begin) return;
    ct_token *t = push(L, TK_DATA, begin);
    t->text = L->src + begin;
    t->len = end - begin;
}

/* Applies the strip rules to the text src[begin..end) before a tag with the given sign ('-',
 * '+' or 0); lstrip applies to block and comment tags. Returns the new end. */
static size_t strip_before(lexer *L, size_t begin, size_t end, char sign, bool lstrip,
                           bool line_starting) {
    if (sign == '-') return rstrip_end(L->src, begin, end);
    if (sign == '+' || !lstrip) return end;
    size_t l_pos = begin;
    for (size_t i = end; i > begin; i--)
        if (L->src[i - 1] == '\n') {
            l_pos = i;
            break;
        }
    if (l_pos > begin || line_starting) {
        /* whitespace_re.fullmatch(text, l_pos): at least one whitespace character, nothing else */
        if (l_pos < end && skip_spaces(L->src, l_pos, end) == end) return l_pos;
    }
    return end;
}

/* `(\d+_)*\d+` at i; returns the end, or i when there is no digit. */
static size_t digits(const char *s, size_t i, size_t n) {
    if (i >= n || s[i] < '0' || s[i] > '9') return i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    while (i + 1 < n && s[i] == '_' && s[i + 1] >= '0' && s[i + 1] <= '9') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    return i;
}

static bool is_name_start(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static bool is_name_char(char ch) { return is_name_start(ch) || (ch >= '0' && ch <= '9'); }

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* A string literal's value: Python's unicode-escape decoding of the text between the quotes
 * (after jinja2 has turned non-ASCII characters into \x / \u / \U escapes, so that a backslash
 * before a non-ASCII character stays a backslash followed by that escape's letters). */
static const ct_str *unescape(lexer *L, size_t begin, size_t end) {
    const char *s = L->src;
    char *out = ct_alloc(L->a, (end - begin) * 2 + 16);
    size_t o = 0, i = begin;
    while (i < end) {
        char ch = s[i];
        if (ch != '\\') {
            out[o++] = ch;
            i++;
            continue;
        }
        size_t esc_at = i;
        i++;
        char e = s[i];
        if ((uint8_t)e >= 0x80) {
            /* "\é" became "\\xe9" before decoding: a backslash, then "xe9" */
            size_t j = i;
            uint32_t cp = ct_utf8_next(s, &j);
            char tmp[16];
            int k = cp < 0x100 ? snprintf(tmp, sizeof tmp, "x%02x", (unsigned)cp)
                    : cp < 0x10000 ? snprintf(tmp, sizeof tmp, "u%04x", (unsigned)cp)
                                   : snprintf(tmp, sizeof tmp, "U%08x", (unsigned)cp);
            out[o++] = '\\';
            memcpy(out + o, tmp, (size_t)k);
            o += (size_t)k;
            i = j;
            continue;
        }
        i++;
        uint32_t cp;
        switch (e) {
        case '\n': continue;
        case '\\': out[o++] = '\\'; continue;
        case '\'': out[o++] = '\''; continue;
        case '"': out[o++] = '"'; continue;
        case 'a': out[o++] = '\a'; continue;
        case 'b': out[o++] = '\b'; continue;
        case 'f': out[o++] = '\f'; continue;
        case 'n': out[o++] = '\n'; continue;
        case 'r': out[o++] = '\r'; continue;
        case 't': out[o++] = '\t'; continue;
        case 'v': out[o++] = '\v'; continue;
        case 'x': case 'u': case 'U': {
            int want = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            cp = 0;
            for (int k = 0; k < want; k++) {
                int h = i < end ? hexval(s[i]) : -1;
                if (h < 0)
                    fail_at(L, esc_at, BORN_ERR_FORMAT, "truncated \\%cXX escape in a string", e == 'x' ? "x" : e == 'u' ? "u" : "U");
                cp = cp * 16 + (uint32_t)h;
                i++;
            }
            break;
        }
        case 'N':
            fail_at(L, esc_at, BORN_ERR_UNSUPPORTED, "%s escapes in strings are not supported", "\\N{...}");
        default:
            if (e >= '0' && e <= '7') {
                cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i < end && s[i] >= '0' && s[i] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(s[i++] - '0');
                break;
            }
            /* an unknown escape stays as it is */
            out[o++] = '\\';
            out[o++] = e;
            continue;
        }
        if (cp > 0x10FFFF)
            fail_at(L, esc_at, BORN_ERR_FORMAT, "%s", "illegal Unicode character in a string escape");
        if (cp >= 0xD800 && cp <= 0xDFFF)
            fail_at(L, esc_at, BORN_ERR_UNSUPPORTED, "%s", "a surrogate escape in a string (not valid UTF-8)");
        o += ct_utf8_put(cp, out + o);
    }
    return ct_str_new(L->a, out, o);
}

static const struct {
    const char *text;
    uint8_t op;
} two_char_ops[] = {{"//", OP_FLOORDIV}, {"**", OP_POW}, {"==", OP_EQ},
                    {"!=", OP_NE},       {">=", OP_GTEQ}, {"<=", OP_LTEQ}};

static int one_char_op(char ch) {
    switch (ch) {
    case '+': return OP_ADD;
    case '-': return OP_SUB;
    case '/': return OP_DIV;
    case '*': return OP_MUL;
    case '%': return OP_MOD;
    case '~': return OP_TILDE;
    case '[': return OP_LBRACKET;
    case ']': return OP_RBRACKET;
    case '(': return OP_LPAREN;
    case ')': return OP_RPAREN;
    case '{': return OP_LBRACE;
    case '}': return OP_RBRACE;
    case '>': return OP_GT;
    case '<': return OP_LT;
    case '=': return OP_ASSIGN;
    case '.': return OP_DOT;
    case ':': return OP_COLON;
    case '|': return OP_PIPE;
    case ',': return OP_COMMA;
    case ';': return OP_SEMICOLON;
    default: return -1;
    }
}

enum { MAX_BRACKETS = 256 };

/* Tokens inside "{{ ... }}" (block false) or "{% ... %}" from i; returns the position after the
 * end tag and whether that match ended with a newline. */
static size_t lex_tag(lexer *L, size_t tag_off, size_t i, bool block, bool *ends_nl) {
    const char *s = L->src;
    size_t n = L->len;
    char stack[MAX_BRACKETS];
    int depth = 0;
    for (;;) {
        if (i >= n)
            fail_at(L, tag_off, BORN_ERR_FORMAT, "unclosed '%s' (the template ends inside it)", block ? "{%" : "{{");
        if (depth == 0) {
            char close = block ? '%' : '}';
            size_t end = 0;
            if (block && s[i] == '+' && s[i + 1] == '%' && s[i + 2] == '}') end = i + 3;
            else if (s[i] == '-' && s[i + 1] == close && s[i + 2] == '}') end = skip_spaces(s, i + 3, n);
            else if (s[i] == close && s[i + 1] == '}') {
                end = i + 2;
                if (block && s[end] == '\n') end++;
            }
            if (end) {
                push(L, block ? TK_BLOCK_END : TK_VAR_END, i);
                *ends_nl = s[end - 1] == '\n';
                return end;
            }
        }
        size_t k = space_at(s, i, n);
        if (k) {
            i += k;
            continue;
        }
        char ch = s[i];
        size_t start = i;
        if (ch >= '0' && ch <= '9') {
            /* float_re first (not after a '.'), then integer_re */
            if (start == 0 || s[start - 1] != '.') {
                size_t d = digits(s, i, n), e = 0;
                size_t f = d;
                if (s[f] == '.' && digits(s, f + 1, n) > f + 1) f = digits(s, f + 1, n);
                if (s[f] == 'e' || s[f] == 'E') {
                    size_t x = f + 1;
                    if (s[x] == '+' || s[x] == '-') x++;
                    if (digits(s, x, n) > x) e = digits(s, x, n);
                }
                if (!e && f > d) e = f;
                if (!e && (s[d] == 'e' || s[d] == 'E')) {
                    size_t x = d + 1;
                    if (s[x] == '+' || s[x] == '-') x++;
                    if (digits(s, x, n) > x) e = digits(s, x, n);
                }
                if (e) {
                    char buf[128];
                    size_t bl = 0;
                    for (size_t j = start; j < e && bl + 1 < sizeof buf; j++)
                        if (s[j] != '_') buf[bl++] = s[j];
                    buf[bl] = '\0';
                    ct_token *t = push(L, TK_FLOAT, start);
                    t->f = strtod(buf, NULL);
                    i = e;
                    continue;
                }
            }
            /* integer_re */
            int base = 10;
            size_t j = i;
            if (ch == '0' && (s[i + 1] | 32) == 'b' && (s[i + 2] == '0' || s[i + 2] == '1' || (s[i + 2] == '_' && (s[i + 3] == '0' || s[i + 3] == '1')))) base = 2;
            else if (ch == '0' && (s[i + 1] | 32) == 'o' && ((s[i + 2] >= '0' && s[i + 2] <= '7') || (s[i + 2] == '_' && s[i + 3] >= '0' && s[i + 3] <= '7'))) base = 8;
            else if (ch == '0' && (s[i + 1] | 32) == 'x' && (hexval(s[i + 2]) >= 0 || (s[i + 2] == '_' && hexval(s[i + 3]) >= 0))) base = 16;
            uint64_t v = 0;
            bool overflow = false;
            if (base != 10) {
                j = i + 2;
                for (;;) {
                    size_t q = j;
                    if (s[q] == '_') q++;
                    int h = hexval(s[q]);
                    if (h < 0 || h >= base) break;
                    if (v > (UINT64_MAX - (uint64_t)h) / (uint64_t)base) overflow = true;
                    v = v * (uint64_t)base + (uint64_t)h;
                    j = q + 1;
                }
            } else if (ch == '0') {
                j = i + 1;
                while (s[j] == '0' || (s[j] == '_' && s[j + 1] == '0')) j += s[j] == '_' ? 2 : 1;
            } else {
                for (;;) {
                    size_t q = j;
                    if (q > i && s[q] == '_') q++;
                    if (s[q] < '0' || s[q] > '9') break;
                    if (v > (UINT64_MAX - 9) / 10) overflow = true;
                    v = v * 10 + (uint64_t)(s[q] - '0');
                    j = q + 1;
                }
            }
            if (overflow || v > INT64_MAX)
                fail_at(L, start, BORN_ERR_UNSUPPORTED, "%s", "integers beyond 64 bits are not supported");
            ct_token *t = push(L, TK_INT, start);
            t->i = (int64_t)v;
            i = j;
            continue;
        }
        if (is_name_start(ch)) {
            while (i < n && is_name_char(s[i])) i++;
            ct_token *t = push(L, TK_NAME, start);
            t->text = s + start;
            t->len = i - start;
            continue;
        }
        if (ch == '\'' || ch == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != ch) j += s[j] == '\\' && j + 1 < n ? 2 : 1;
            if (j >= n) fail_at(L, start, BORN_ERR_FORMAT, "%s", "unterminated string");
            ct_token *t = push(L, TK_STRING, start);
            t->s = unescape(L, i + 1, j);
            i = j + 1;
            continue;
        }
        int op = -1;
        for (size_t k2 = 0; k2 < sizeof two_char_ops / sizeof two_char_ops[0]; k2++)
            if (s[i] == two_char_ops[k2].text[0] && s[i + 1] == two_char_ops[k2].text[1]) {
                op = two_char_ops[k2].op;
                i += 2;
                break;
            }
        if (op < 0) {
            op = one_char_op(ch);
            if (op < 0) {
                char tmp[8] = {0};
                size_t j = i;
                ct_utf8_next(s, &j);
                memcpy(tmp, s + i, j - i);
                fail_at(L, start, BORN_ERR_FORMAT, "unexpected character '%s'", tmp);
            }
            i++;
        }
        if (op == OP_LBRACE || op == OP_LPAREN || op == OP_LBRACKET) {
            if (depth == MAX_BRACKETS) fail_at(L, start, BORN_ERR_ARGUMENT, "%s", "brackets nested too deeply");
            stack[depth++] = op == OP_LBRACE ? '}' : op == OP_LPAREN ? ')' : ']';
        } else if (op == OP_RBRACE || op == OP_RPAREN || op == OP_RBRACKET) {
            char got = op == OP_RBRACE ? '}' : op == OP_RPAREN ? ')' : ']';
            char tmp[2] = {got, 0};
            if (depth == 0) fail_at(L, start, BORN_ERR_FORMAT, "unexpected '%s'", tmp);
            if (stack[--depth] != got) fail_at(L, start, BORN_ERR_FORMAT, "unexpected '%s'", tmp);
        }
        ct_token *t = push(L, TK_OP, start);
        t->op = (uint8_t)op;
    }
}

ct_token *ct_lex(ct_arena *a, const char *src, size_t len, size_t *count) {
    lexer L = {.a = a, .src = src, .len = len, .at_line = 1};
    size_t pos = 0;
    bool line_starting = true;
    while (pos < len) {
        /* the next tag opener */
        size_t q = pos;
        const char *hit = NULL;
        while (q + 1 < len) {
            const char *p = memchr(src + q, '{', len - q - 1);
            if (!p) break;
            q = (size_t)(p - src);
            if (src[q + 1] == '{' || src[q + 1] == '%' || src[q + 1] == '#') {
                hit = p;
                break;
            }
            q++;
        }
        if (!hit) {
            emit_data(&L, pos, len);
            break;
        }
        char kind = src[q + 1];
        size_t after = q + 2;
        char sign = 0;
        if (src[after] == '-' || src[after] == '+') sign = src[after++];
        /* {% raw %} */
        bool raw = false;
        size_t raw_end = 0;
        if (kind == '%') {
            size_t j = skip_spaces(src, after, len);
            if (len - j >= 3 && memcmp(src + j, "raw", 3) == 0) {
                size_t k = skip_spaces(src, j + 3, len);
                if (src[k] == '-' && src[k + 1] == '%' && src[k + 2] == '}') {
                    raw = true;
                    raw_end = skip_spaces(src, k + 3, len);
                } else if (src[k] == '%' && src[k + 1] == '}') {
                    raw = true;
                    raw_end = k + 2;
                }
            }
        }
        size_t text_end = strip_before(&L, pos, q, sign, kind != '{', line_starting);
        emit_data(&L, pos, text_end);
        if (raw) {
            /* (.*?){%(-|+|)\s*endraw\s*(+%}|-%}\s*|%}\n?) */
            size_t r = raw_end;
            for (;;) {
                const char *p = r < len ? memchr(src + r, '{', len - r) : NULL;
                if (!p) fail_at(&L, q, BORN_ERR_FORMAT, "%s", "missing end of raw directive ({% endraw %})");
                size_t b = (size_t)(p - src);
                if (src[b + 1] != '%') {
                    r = b + 1;
                    continue;
                }
                size_t j = b + 2;
                char esign = 0;
                if (src[j] == '-' || src[j] == '+') esign = src[j++];
                j = skip_spaces(src, j, len);
                if (len - j < 6 || memcmp(src + j, "endraw", 6) != 0) {
                    r = b + 1;
                    continue;
                }
                j = skip_spaces(src, j + 6, len);
                size_t end = 0;
                if (src[j] == '+' && src[j + 1] == '%' && src[j + 2] == '}') end = j + 3;
                else if (src[j] == '-' && src[j + 1] == '%' && src[j + 2] == '}') end = skip_spaces(src, j + 3, len);
                else if (src[j] == '%' && src[j + 1] == '}') {
                    end = j + 2;
                    if (src[end] == '\n') end++;
                }
                if (!end) {
                    r = b + 1;
                    continue;
                }
                bool raw_line_start = src[raw_end - 1] == '\n';
                emit_data(&L, raw_end, strip_before(&L, raw_end, b, esign, true, raw_line_start));
                line_starting = src[end - 1] == '\n';
                pos = end;
                break;
            }
            continue;
        }
        if (kind == '#') {
            size_t j = after, end = 0;
            for (; j + 1 < len; j++) {
                if (src[j] == '+' && src[j + 1] == '#' && src[j + 2] == '}') {
                    end = j + 3;
                    break;
                }
                if (src[j] == '-' && src[j + 1] == '#' && src[j + 2] == '}') {
                    end = skip_spaces(src, j + 3, len);
                    break;
                }
                if (src[j] == '#' && src[j + 1] == '}') {
                    end = j + 2;
                    if (src[end] == '\n') end++;
                    break;
                }
            }
            if (!end) fail_at(&L, q, BORN_ERR_FORMAT, "%s", "missing end of comment tag ('#}')");
            line_starting = src[end - 1] == '\n';
            pos = end;
            continue;
        }
        bool block = kind == '%';
        push(&L, block ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, q);
        pos = lex_tag(&L, q, after, block, &line_starting);
    }
    push(&L, TK_EOF, len);
    *count = L.ntok;
    return L.toks;
}
