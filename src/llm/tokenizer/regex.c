/* A small backtracking regex engine over code points, for tokenizer pre-tokenization patterns.
 * Parsing builds a tree; compiling turns it into a program for a backtracking machine with an
 * explicit stack (so long inputs never deepen the C stack). Repeats of a single class compile to
 * one RUN instruction that counts greedily and gives back one code point per backtrack. */
#include "llm/tokenizer/regex.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/tokenizer/unicode.h"

#define RX_INF INT32_MAX
#define RX_MAX_DEPTH 64
#define RX_MAX_INSTS 100000

/* ------------------------------------------------------------------------------------------ */
/* Classes                                                                                      */

typedef enum { ITEM_RANGE, ITEM_CATS, ITEM_SPACE } item_kind;

typedef struct rx_item {
    uint8_t kind;
    bool neg;
    uint32_t lo, hi; /* ITEM_RANGE */
    uint32_t cats;   /* ITEM_CATS: a mask of born_ucat bits */
} rx_item;

typedef struct rx_class {
    rx_item *items;
    int nitems, cap;
    bool negate;
    uint64_t ascii[2]; /* membership of U+0000..U+007F, negation applied */
} rx_class;

uint8_t rx_info_of(uint32_t cp) {
    return (uint8_t)(ucat_of(cp) | (uc_is_space(cp) ? RX_INFO_SPACE : 0));
}

static bool class_items_match(const rx_class *c, uint32_t cp, uint8_t info) {
    for (int i = 0; i < c->nitems; i++) {
        const rx_item *it = &c->items[i];
        bool m;
        switch (it->kind) {
        case ITEM_RANGE: m = cp >= it->lo && cp <= it->hi; break;
        case ITEM_CATS: m = (it->cats >> (info & 31u)) & 1u; break;
        default: m = (info & RX_INFO_SPACE) != 0; break;
        }
        if (m != it->neg) return true;
    }
    return false;
}

static inline bool class_match(const rx_class *c, uint32_t cp, uint8_t info) {
    if (cp < 128) return (c->ascii[cp >> 6] >> (cp & 63)) & 1u;
    return class_items_match(c, cp, info) != c->negate;
}

static void class_finish(rx_class *c) {
    c->ascii[0] = c->ascii[1] = 0;
    for (uint32_t cp = 0; cp < 128; cp++) {
        if (class_items_match(c, cp, rx_info_of(cp)) != c->negate)
            c->ascii[cp >> 6] |= (uint64_t)1 << (cp & 63);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Tree                                                                                         */

typedef enum { N_CLASS, N_CAT, N_ALT, N_REPEAT, N_LOOK, N_ATOMIC, N_BOL, N_EOL, N_EMPTY } node_kind;
typedef enum { REP_GREEDY, REP_LAZY, REP_POSSESSIVE } rep_mode;

typedef struct rx_node {
    node_kind kind;
    int cls;              /* N_CLASS */
    int *kids, nkids;     /* N_CAT, N_ALT; N_REPEAT / N_LOOK / N_ATOMIC use kids[0] */
    int min, max, mode;   /* N_REPEAT */
    bool neg;             /* N_LOOK */
} rx_node;

/* ------------------------------------------------------------------------------------------ */
/* Program                                                                                      */

typedef enum { OP_CLASS, OP_RUN, OP_SPLIT, OP_JMP, OP_LOOK, OP_ATOMIC, OP_BOL, OP_EOL, OP_MATCH } op_kind;

typedef struct rx_inst {
    uint8_t op;
    uint8_t flag;    /* OP_RUN: possessive; OP_LOOK: negative */
    int32_t x, y;    /* OP_SPLIT: preferred, other; OP_JMP / OP_LOOK / OP_ATOMIC: continuation */
    int32_t cls;     /* OP_CLASS / OP_RUN */
    int32_t min, max; /* OP_RUN */
} rx_inst;

/* Patterns recognised by their text and split by hand-written code (the program is still
 * compiled: rx_split_vm runs it, and the tests compare the two). */
typedef enum { FAST_NONE, FAST_GPT2, FAST_LLAMA3, FAST_QWEN2, FAST_DIGIT } fast_kind;

struct rx_prog {
    rx_class *classes;
    int nclasses;
    rx_inst *insts;
    int ninsts;
    fast_kind fast;
};

/* ------------------------------------------------------------------------------------------ */
/* Parser                                                                                       */

typedef struct parser {
    const uint8_t *s;
    size_t n, i;
    char *err;
    size_t err_size;
    bool failed;
    rx_node *nodes;
    int nnodes, cap_nodes;
    rx_class *classes;
    int nclasses, cap_classes;
    int depth;
} parser;

static void perr(parser *p, const char *msg) {
    if (p->failed) return;
    p->failed = true;
    snprintf(p->err, p->err_size, "%s at offset %zu", msg, p->i);
}

static int new_node(parser *p, node_kind kind) {
    if (p->failed) return -1;
    if (p->nnodes == p->cap_nodes) {
        int cap = p->cap_nodes ? p->cap_nodes * 2 : 64;
        rx_node *nn = realloc(p->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            perr(p, "out of memory");
            return -1;
        }
        p->nodes = nn;
        p->cap_nodes = cap;
    }
    rx_node *node = &p->nodes[p->nnodes];
    memset(node, 0, sizeof *node);
    node->kind = kind;
    return p->nnodes++;
}

static bool add_kid(parser *p, int parent, int kid) {
    rx_node *node = &p->nodes[parent];
    int *k = realloc(node->kids, (size_t)(node->nkids + 1) * sizeof *k);
    if (!k) {
        perr(p, "out of memory");
        return false;
    }
    node->kids = k;
    node->kids[node->nkids++] = kid;
    return true;
}

static int new_class(parser *p) {
    if (p->failed) return -1;
    if (p->nclasses == p->cap_classes) {
        int cap = p->cap_classes ? p->cap_classes * 2 : 16;
        rx_class *nc = realloc(p->classes, (size_t)cap * sizeof *nc);
        if (!nc) {
            perr(p, "out of memory");
            return -1;
        }
        p->classes = nc;
        p->cap_classes = cap;
    }
    memset(&p->classes[p->nclasses], 0, sizeof(rx_class));
    return p->nclasses++;
}

static bool class_add(parser *p, int cls, rx_item item) {
    rx_class *c = &p->classes[cls];
    if (c->nitems == c->cap) {
        int cap = c->cap ? c->cap * 2 : 4;
        rx_item *ni = realloc(c->items, (size_t)cap * sizeof *ni);
        if (!ni) {
            perr(p, "out of memory");
            return false;
        }
        c->items = ni;
        c->cap = cap;
    }
    c->items[c->nitems++] = item;
    return true;
}

/* Adds [lo, hi], plus the other-case ASCII letters of the range when ci (case-insensitive
 * matching folds ASCII letters only, as tiktoken's fancy-regex does: "'\u017f" is not "'s"). */
static bool class_add_range(parser *p, int cls, uint32_t lo, uint32_t hi, bool ci) {
    rx_item it = {ITEM_RANGE, false, lo, hi, 0};
    if (!class_add(p, cls, it)) return false;
    if (!ci) return true;
    for (uint32_t c = lo; c <= hi && c < 128; c++) {
        uint32_t other = 0;
        if (c >= 'a' && c <= 'z') other = c - 32;
        else if (c >= 'A' && c <= 'Z') other = c + 32;
        if (other) {
            rx_item o = {ITEM_RANGE, false, other, other, 0};
            if (!class_add(p, cls, o)) return false;
        }
    }
    return true;
}

static bool at_end(parser *p) { return p->i >= p->n; }
static int peek(parser *p) { return p->i < p->n ? p->s[p->i] : -1; }

/* Reads one (possibly multi-byte) literal code point of the pattern. */
static uint32_t read_cp(parser *p) {
    uint32_t cp;
    int len = utf8_decode(p->s + p->i, p->n - p->i, &cp);
    if (len == 0) {
        perr(p, "pattern is not valid UTF-8");
        p->i++;
        return 0;
    }
    p->i += (size_t)len;
    return cp;
}

static uint32_t category_mask(const char *name, size_t len) {
    static const struct {
        const char *name;
        uint32_t mask;
    } table[] = {
        {"L", UCAT_MASK_L}, {"Lu", UCAT_BIT(UCAT_LU)}, {"Ll", UCAT_BIT(UCAT_LL)},
        {"Lt", UCAT_BIT(UCAT_LT)}, {"Lm", UCAT_BIT(UCAT_LM)}, {"Lo", UCAT_BIT(UCAT_LO)},
        {"M", UCAT_MASK_M}, {"Mn", UCAT_BIT(UCAT_MN)}, {"Mc", UCAT_BIT(UCAT_MC)},
        {"Me", UCAT_BIT(UCAT_ME)}, {"N", UCAT_MASK_N}, {"Nd", UCAT_BIT(UCAT_ND)},
        {"Nl", UCAT_BIT(UCAT_NL)}, {"No", UCAT_BIT(UCAT_NO)}, {"P", UCAT_MASK_P},
        {"Pc", UCAT_BIT(UCAT_PC)}, {"Pd", UCAT_BIT(UCAT_PD)}, {"Ps", UCAT_BIT(UCAT_PS)},
        {"Pe", UCAT_BIT(UCAT_PE)}, {"Pi", UCAT_BIT(UCAT_PI)}, {"Pf", UCAT_BIT(UCAT_PF)},
        {"Po", UCAT_BIT(UCAT_PO)}, {"S", UCAT_MASK_S}, {"Sm", UCAT_BIT(UCAT_SM)},
        {"Sc", UCAT_BIT(UCAT_SC)}, {"Sk", UCAT_BIT(UCAT_SK)}, {"So", UCAT_BIT(UCAT_SO)},
        {"Z", UCAT_MASK_Z}, {"Zs", UCAT_BIT(UCAT_ZS)}, {"Zl", UCAT_BIT(UCAT_ZL)},
        {"Zp", UCAT_BIT(UCAT_ZP)}, {"C", UCAT_MASK_C}, {"Cc", UCAT_BIT(UCAT_CC)},
        {"Cf", UCAT_BIT(UCAT_CF)}, {"Cs", UCAT_BIT(UCAT_CS)}, {"Co", UCAT_BIT(UCAT_CO)},
        {"Cn", UCAT_BIT(UCAT_CN)},
    };
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
        if (strlen(table[k].name) == len && memcmp(table[k].name, name, len) == 0)
            return table[k].mask;
    }
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* An escape after the backslash: either a set (stored in *item, returns 1) or a literal code
 * point (stored in *cp, returns 0); -1 on error. */
static int parse_escape(parser *p, rx_item *item, uint32_t *cp) {
    if (at_end(p)) {
        perr(p, "trailing backslash");
        return -1;
    }
    int c = p->s[p->i++];
    memset(item, 0, sizeof *item);
    switch (c) {
    case 'r': *cp = '\r'; return 0;
    case 'n': *cp = '\n'; return 0;
    case 't': *cp = '\t'; return 0;
    case 'f': *cp = '\f'; return 0;
    case 'v': *cp = '\v'; return 0;
    case 'a': *cp = 7; return 0;
    case 'e': *cp = 27; return 0;
    case '0': *cp = 0; return 0;
    case 's': case 'S':
        item->kind = ITEM_SPACE;
        item->neg = c == 'S';
        return 1;
    case 'd': case 'D':
        item->kind = ITEM_CATS;
        item->cats = UCAT_BIT(UCAT_ND);
        item->neg = c == 'D';
        return 1;
    case 'w': case 'W':
        /* letters, marks, decimal digits and connector punctuation */
        item->kind = ITEM_CATS;
        item->cats = UCAT_MASK_L | UCAT_MASK_M | UCAT_BIT(UCAT_ND) | UCAT_BIT(UCAT_PC);
        item->neg = c == 'W';
        return 1;
    case 'p': case 'P': {
        const char *name;
        size_t len;
        if (peek(p) == '{') {
            size_t start = ++p->i;
            while (!at_end(p) && p->s[p->i] != '}') p->i++;
            if (at_end(p)) {
                perr(p, "unterminated \\p{");
                return -1;
            }
            name = (const char *)p->s + start;
            len = p->i - start;
            p->i++;
        } else if (!at_end(p)) {
            name = (const char *)p->s + p->i;
            len = 1;
            p->i++;
        } else {
            perr(p, "\\p without a category");
            return -1;
        }
        uint32_t mask = category_mask(name, len);
        if (!mask) {
            perr(p, "unsupported Unicode property (only general categories are supported)");
            return -1;
        }
        item->kind = ITEM_CATS;
        item->cats = mask;
        item->neg = c == 'P';
        return 1;
    }
    case 'x': case 'u': {
        uint32_t v = 0;
        int digits = 0;
        if (c == 'x' && peek(p) == '{') {
            p->i++;
            while (!at_end(p) && p->s[p->i] != '}') {
                int h = hexval(p->s[p->i++]);
                if (h < 0 || ++digits > 6) {
                    perr(p, "bad \\x{...} escape");
                    return -1;
                }
                v = v * 16 + (uint32_t)h;
            }
            if (at_end(p) || digits == 0) {
                perr(p, "bad \\x{...} escape");
                return -1;
            }
            p->i++;
        } else {
            int want = c == 'x' ? 2 : 4;
            for (; digits < want; digits++) {
                int h = at_end(p) ? -1 : hexval(p->s[p->i]);
                if (h < 0) {
                    perr(p, "bad hex escape");
                    return -1;
                }
                p->i++;
                v = v * 16 + (uint32_t)h;
            }
        }
        if (v > 0x10FFFF) {
            perr(p, "code point out of range");
            return -1;
        }
        *cp = v;
        return 0;
    }
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9')) {
            perr(p, "unsupported escape");
            return -1;
        }
        p->i--;
        *cp = read_cp(p); /* an escaped punctuation or non-ASCII character is itself */
        return 0;
    }
}

static int parse_class(parser *p, bool ci) {
    int cls = new_class(p);
    if (cls < 0) return -1;
    if (peek(p) == '^') {
        p->classes[cls].negate = true;
        p->i++;
    }
    bool first = true;
    for (;;) {
        if (at_end(p)) {
            perr(p, "unterminated character class");
            return -1;
        }
        int c = p->s[p->i];
        if (c == ']' && !first) {
            p->i++;
            break;
        }
        if (c == '[') {
            perr(p, "nested character classes are not supported");
            return -1;
        }
        first = false;
        uint32_t lo;
        if (c == '\\') {
            p->i++;
            rx_item item;
            int r = parse_escape(p, &item, &lo);
            if (r < 0) return -1;
            if (r == 1) {
                if (!class_add(p, cls, item)) return -1;
                continue;
            }
        } else {
            lo = read_cp(p);
        }
        uint32_t hi = lo;
        if (peek(p) == '-' && p->i + 1 < p->n && p->s[p->i + 1] != ']') {
            p->i++;
            if (peek(p) == '\\') {
                p->i++;
                rx_item item;
                int r = parse_escape(p, &item, &hi);
                if (r != 0) {
                    if (r > 0) perr(p, "a set cannot end a range");
                    return -1;
                }
            } else {
                hi = read_cp(p);
            }
            if (hi < lo) {
                perr(p, "range out of order");
                return -1;
            }
        }
        if (!class_add_range(p, cls, lo, hi, ci)) return -1;
        if (p->failed) return -1;
    }
    class_finish(&p->classes[cls]);
    return cls;
}

static int class_node(parser *p, int cls) {
    if (cls < 0) return -1;
    int node = new_node(p, N_CLASS);
    if (node >= 0) p->nodes[node].cls = cls;
    return node;
}

static int parse_alt(parser *p, bool ci);

static int parse_atom(parser *p, bool *ci) {
    int c = peek(p);
    if (c == '(') {
        p->i++;
        if (++p->depth > RX_MAX_DEPTH) {
            perr(p, "groups nested too deeply");
            return -1;
        }
        int kind = 0; /* 0 group, 1 lookahead, 2 negative lookahead, 3 atomic */
        bool inner_ci = *ci;
        if (peek(p) == '?') {
            p->i++;
            int d = peek(p);
            if (d == ':') {
                p->i++;
            } else if (d == '=') {
                p->i++;
                kind = 1;
            } else if (d == '!') {
                p->i++;
                kind = 2;
            } else if (d == '>') {
                p->i++;
                kind = 3;
            } else if (d == 'i' || d == '-') {
                bool on = true;
                while (!at_end(p) && (p->s[p->i] == 'i' || p->s[p->i] == '-')) {
                    if (p->s[p->i] == '-') on = false;
                    else inner_ci = on;
                    p->i++;
                }
                if (peek(p) == ')') { /* (?i) switches the rest of the enclosing group */
                    p->i++;
                    p->depth--;
                    *ci = inner_ci;
                    return new_node(p, N_EMPTY);
                }
                if (peek(p) != ':') {
                    perr(p, "unsupported group flags");
                    return -1;
                }
                p->i++;
            } else {
                perr(p, "unsupported group syntax (lookbehind, named groups and flags other "
                        "than i are not supported)");
                return -1;
            }
        }
        int inner = parse_alt(p, inner_ci);
        if (inner < 0) return -1;
        if (peek(p) != ')') {
            perr(p, "missing )");
            return -1;
        }
        p->i++;
        p->depth--;
        if (kind == 0) return inner;
        int node = new_node(p, kind == 3 ? N_ATOMIC : N_LOOK);
        if (node < 0 || !add_kid(p, node, inner)) return -1;
        p->nodes[node].neg = kind == 2;
        return node;
    }
    if (c == '[') {
        p->i++;
        return class_node(p, parse_class(p, *ci));
    }
    if (c == '.') {
        p->i++;
        int cls = new_class(p);
        if (cls < 0) return -1;
        p->classes[cls].negate = true;
        if (!class_add_range(p, cls, '\n', '\n', false)) return -1;
        class_finish(&p->classes[cls]);
        return class_node(p, cls);
    }
    if (c == '^' || c == '$') {
        p->i++;
        return new_node(p, c == '^' ? N_BOL : N_EOL);
    }
    if (c == '*' || c == '+' || c == '?') { /* a '{' that starts no repeat is a literal */
        perr(p, "quantifier without an operand");
        return -1;
    }
    uint32_t cp;
    int cls = new_class(p);
    if (cls < 0) return -1;
    if (c == '\\') {
        p->i++;
        rx_item item;
        int r = parse_escape(p, &item, &cp);
        if (r < 0) return -1;
        if (r == 1) {
            if (!class_add(p, cls, item)) return -1;
            class_finish(&p->classes[cls]);
            return class_node(p, cls);
        }
    } else {
        cp = read_cp(p);
    }
    if (!class_add_range(p, cls, cp, cp, *ci)) return -1;
    class_finish(&p->classes[cls]);
    return class_node(p, cls);
}

static bool parse_int(parser *p, int *out) {
    if (at_end(p) || p->s[p->i] < '0' || p->s[p->i] > '9') return false;
    long v = 0;
    while (!at_end(p) && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        v = v * 10 + (p->s[p->i++] - '0');
        if (v > 100000) {
            perr(p, "repeat count too large");
            return false;
        }
    }
    *out = (int)v;
    return true;
}

static int parse_quant(parser *p, int atom) {
    for (;;) {
        int c = peek(p);
        int min, max;
        if (c == '?') {
            min = 0;
            max = 1;
            p->i++;
        } else if (c == '*') {
            min = 0;
            max = RX_INF;
            p->i++;
        } else if (c == '+') {
            min = 1;
            max = RX_INF;
            p->i++;
        } else if (c == '{') {
            size_t save = p->i++;
            if (!parse_int(p, &min)) {
                if (p->failed) return -1;
                p->i = save; /* a literal '{' */
                return atom;
            }
            max = min;
            if (peek(p) == ',') {
                p->i++;
                if (peek(p) == '}') max = RX_INF;
                else if (!parse_int(p, &max)) {
                    perr(p, "bad repeat bounds");
                    return -1;
                }
            }
            if (peek(p) != '}' || max < min) {
                perr(p, "bad repeat bounds");
                return -1;
            }
            p->i++;
        } else {
            return atom;
        }
        int mode = REP_GREEDY;
        if (peek(p) == '?') {
            mode = REP_LAZY;
            p->i++;
        } else if (peek(p) == '+') {
            mode = REP_POSSESSIVE;
            p->i++;
        }
        int node = new_node(p, N_REPEAT);
        if (node < 0 || !add_kid(p, node, atom)) return -1;
        p->nodes[node].min = min;
        p->nodes[node].max = max;
        p->nodes[node].mode = mode;
        atom = node;
    }
}

static int parse_concat(parser *p, bool ci) {
    int cat = new_node(p, N_CAT);
    if (cat < 0) return -1;
    while (!at_end(p) && peek(p) != '|' && peek(p) != ')') {
        int atom = parse_atom(p, &ci);
        if (atom < 0) return -1;
        atom = parse_quant(p, atom);
        if (atom < 0 || !add_kid(p, cat, atom)) return -1;
    }
    return cat;
}

static int parse_alt(parser *p, bool ci) {
    int first = parse_concat(p, ci);
    if (first < 0 || peek(p) != '|') return first;
    int alt = new_node(p, N_ALT);
    if (alt < 0 || !add_kid(p, alt, first)) return -1;
    while (peek(p) == '|') {
        p->i++;
        int next = parse_concat(p, ci);
        if (next < 0 || !add_kid(p, alt, next)) return -1;
    }
    return alt;
}

/* ------------------------------------------------------------------------------------------ */
/* Compiler                                                                                     */

typedef struct compiler {
    parser *p;
    rx_inst *insts;
    int n, cap;
} compiler;

static int emit(compiler *c, rx_inst inst) {
    if (c->p->failed) return -1;
    if (c->n >= RX_MAX_INSTS) {
        perr(c->p, "pattern too large");
        return -1;
    }
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 64;
        rx_inst *ni = realloc(c->insts, (size_t)cap * sizeof *ni);
        if (!ni) {
            perr(c->p, "out of memory");
            return -1;
        }
        c->insts = ni;
        c->cap = cap;
    }
    c->insts[c->n] = inst;
    return c->n++;
}

static bool nullable(const parser *p, int node) {
    const rx_node *nd = &p->nodes[node];
    switch (nd->kind) {
    case N_CLASS: return false;
    case N_CAT:
        for (int k = 0; k < nd->nkids; k++)
            if (!nullable(p, nd->kids[k])) return false;
        return true;
    case N_ALT:
        for (int k = 0; k < nd->nkids; k++)
            if (nullable(p, nd->kids[k])) return true;
        return false;
    case N_REPEAT: return nd->min == 0 || nullable(p, nd->kids[0]);
    case N_ATOMIC: return nullable(p, nd->kids[0]);
    default: return true;
    }
}

static bool compile_node(compiler *c, int node);

static bool compile_sub(compiler *c, int node, uint8_t op, uint8_t flag) {
    int at = emit(c, (rx_inst){.op = op, .flag = flag});
    if (at < 0 || !compile_node(c, node)) return false;
    if (emit(c, (rx_inst){.op = OP_MATCH}) < 0) return false;
    c->insts[at].x = c->n;
    return true;
}

static bool compile_repeat(compiler *c, const rx_node *nd) {
    int kid = nd->kids[0];
    const rx_node *k = &c->p->nodes[kid];
    if (k->kind == N_CLASS && nd->mode != REP_LAZY) {
        return emit(c, (rx_inst){.op = OP_RUN, .flag = nd->mode == REP_POSSESSIVE, .cls = k->cls,
                                 .min = nd->min, .max = nd->max}) >= 0;
    }
    if (nd->mode == REP_POSSESSIVE) {
        rx_node greedy = *nd;
        greedy.mode = REP_GREEDY;
        int at = emit(c, (rx_inst){.op = OP_ATOMIC});
        if (at < 0 || !compile_repeat(c, &greedy)) return false;
        if (emit(c, (rx_inst){.op = OP_MATCH}) < 0) return false;
        c->insts[at].x = c->n;
        return true;
    }
    if (nd->max == RX_INF && nullable(c->p, kid)) {
        perr(c->p, "unbounded repeat of something that can match empty is not supported");
        return false;
    }
    bool lazy = nd->mode == REP_LAZY;
    for (int r = 0; r < nd->min; r++)
        if (!compile_node(c, kid)) return false;
    if (nd->max == RX_INF) {
        int split = emit(c, (rx_inst){.op = OP_SPLIT});
        if (split < 0 || !compile_node(c, kid)) return false;
        if (emit(c, (rx_inst){.op = OP_JMP, .x = split}) < 0) return false;
        c->insts[split].x = lazy ? c->n : split + 1;
        c->insts[split].y = lazy ? split + 1 : c->n;
        return true;
    }
    int nopt = nd->max - nd->min;
    int *splits = malloc((size_t)(nopt > 0 ? nopt : 1) * sizeof *splits);
    if (!splits) {
        perr(c->p, "out of memory");
        return false;
    }
    for (int r = 0; r < nopt; r++) {
        splits[r] = emit(c, (rx_inst){.op = OP_SPLIT});
        if (splits[r] < 0 || !compile_node(c, kid)) {
            free(splits);
            return false;
        }
    }
    for (int r = 0; r < nopt; r++) {
        c->insts[splits[r]].x = lazy ? c->n : splits[r] + 1;
        c->insts[splits[r]].y = lazy ? splits[r] + 1 : c->n;
    }
    free(splits);
    return true;
}

static bool compile_node(compiler *c, int node) {
    if (c->p->failed) return false;
    const rx_node *nd = &c->p->nodes[node];
    switch (nd->kind) {
    case N_CLASS: return emit(c, (rx_inst){.op = OP_CLASS, .cls = nd->cls}) >= 0;
    case N_EMPTY: return true;
    case N_BOL: return emit(c, (rx_inst){.op = OP_BOL}) >= 0;
    case N_EOL: return emit(c, (rx_inst){.op = OP_EOL}) >= 0;
    case N_CAT:
        for (int k = 0; k < nd->nkids; k++)
            if (!compile_node(c, nd->kids[k])) return false;
        return true;
    case N_ALT: {
        int *jumps = malloc((size_t)nd->nkids * sizeof *jumps);
        if (!jumps) {
            perr(c->p, "out of memory");
            return false;
        }
        bool ok = true;
        for (int k = 0; k < nd->nkids && ok; k++) {
            int split = -1;
            if (k + 1 < nd->nkids) {
                split = emit(c, (rx_inst){.op = OP_SPLIT});
                ok = split >= 0;
            }
            ok = ok && compile_node(c, nd->kids[k]);
            if (ok && k + 1 < nd->nkids) {
                jumps[k] = emit(c, (rx_inst){.op = OP_JMP});
                ok = jumps[k] >= 0;
                if (ok) {
                    c->insts[split].x = split + 1;
                    c->insts[split].y = c->n;
                }
            }
        }
        if (ok)
            for (int k = 0; k + 1 < nd->nkids; k++) c->insts[jumps[k]].x = c->n;
        free(jumps);
        return ok;
    }
    case N_REPEAT: return compile_repeat(c, nd);
    case N_LOOK: return compile_sub(c, nd->kids[0], OP_LOOK, nd->neg);
    case N_ATOMIC: return compile_sub(c, nd->kids[0], OP_ATOMIC, 0);
    }
    return false;
}

static void free_parser_nodes(parser *p) {
    for (int k = 0; k < p->nnodes; k++) free(p->nodes[k].kids);
    free(p->nodes);
}

static void free_classes(rx_class *classes, int n) {
    for (int k = 0; k < n; k++) free(classes[k].items);
    free(classes);
}

/* The pattern texts that the hand-written splitters implement exactly (llama.cpp's, HF's and
 * tiktoken's spellings of the GPT-2, Llama-3 / cl100k and Qwen2 expressions). */
static fast_kind fast_kind_of(const char *pattern, size_t len) {
    static const struct {
        fast_kind kind;
        const char *text;
    } known[] = {
        {FAST_GPT2, "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
        {FAST_GPT2, "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"},
        {FAST_GPT2, "'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
        {FAST_LLAMA3, "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
        {FAST_LLAMA3, "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?"
                      "\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
        {FAST_LLAMA3, "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| "
                      "?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"},
        {FAST_QWEN2, "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
        {FAST_QWEN2, "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?"
                     "\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
        {FAST_DIGIT, "\\p{N}"},
    };
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (strlen(known[k].text) == len && memcmp(known[k].text, pattern, len) == 0)
            return known[k].kind;
    return FAST_NONE;
}

rx_prog *rx_compile(const char *pattern, size_t len, char *err, size_t err_size) {
    parser p = {.s = (const uint8_t *)pattern, .n = len, .err = err, .err_size = err_size};
    if (err_size) err[0] = 0;
    int root = parse_alt(&p, false);
    if (root >= 0 && !at_end(&p)) perr(&p, "unbalanced )");
    compiler c = {.p = &p};
    if (!p.failed) {
        compile_node(&c, root);
        emit(&c, (rx_inst){.op = OP_MATCH});
    }
    rx_prog *prog = NULL;
    if (!p.failed) {
        prog = calloc(1, sizeof *prog);
        if (!prog) perr(&p, "out of memory");
    }
    free_parser_nodes(&p);
    if (p.failed) {
        free(c.insts);
        free_classes(p.classes, p.nclasses);
        return NULL;
    }
    prog->classes = p.classes;
    prog->nclasses = p.nclasses;
    prog->insts = c.insts;
    prog->ninsts = c.n;
    prog->fast = fast_kind_of(pattern, len);
    return prog;
}

void rx_free(rx_prog *prog) {
    if (!prog) return;
    free_classes(prog->classes, prog->nclasses);
    free(prog->insts);
    free(prog);
}

/* ------------------------------------------------------------------------------------------ */
/* Matcher                                                                                      */

typedef struct rx_frame {
    int32_t pc, pos, cnt, min; /* cnt < 0: a plain alternative; else a RUN giving back */
} rx_frame;

typedef struct rx_stack {
    rx_frame *f;
    size_t len, cap;
} rx_stack;

typedef struct rx_input {
    const uint32_t *cps;
    const uint8_t *info;
    int32_t start, end;
} rx_input;

#define RX_NOMATCH (-1)
#define RX_ENOMEM (-2)
#define RX_EBUDGET (-3)

static bool stack_push(rx_stack *st, rx_frame fr) {
    if (st->len == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        rx_frame *nf = realloc(st->f, cap * sizeof *nf);
        if (!nf) return false;
        st->f = nf;
        st->cap = cap;
    }
    st->f[st->len++] = fr;
    return true;
}

/* Runs the program from pc at pos; returns the end of the first match, or a negative code. */
static int32_t rx_exec(const rx_prog *prog, const rx_input *in, int32_t pc, int32_t pos,
                       rx_stack *st, int64_t *budget) {
    const size_t base = st->len;
    for (;;) {
        const rx_inst *I = &prog->insts[pc];
        switch (I->op) {
        case OP_CLASS:
            if (pos < in->end && class_match(&prog->classes[I->cls], in->cps[pos], in->info[pos])) {
                pos++;
                pc++;
                continue;
            }
            goto fail;
        case OP_RUN: {
            const rx_class *cls = &prog->classes[I->cls];
            int32_t k = 0, room = in->end - pos;
            int32_t lim = I->max < room ? I->max : room;
            while (k < lim && class_match(cls, in->cps[pos + k], in->info[pos + k])) k++;
            if (k < I->min) goto fail;
            if (!I->flag && k > I->min) {
                if (!stack_push(st, (rx_frame){pc + 1, pos, k - 1, I->min})) goto nomem;
            }
            pos += k;
            pc++;
            continue;
        }
        case OP_SPLIT:
            if (!stack_push(st, (rx_frame){I->y, pos, -1, 0})) goto nomem;
            pc = I->x;
            continue;
        case OP_JMP:
            pc = I->x;
            continue;
        case OP_LOOK: {
            int32_t r = rx_exec(prog, in, pc + 1, pos, st, budget);
            if (r < RX_NOMATCH) {
                st->len = base;
                return r;
            }
            if ((r >= 0) == (I->flag != 0)) goto fail;
            pc = I->x;
            continue;
        }
        case OP_ATOMIC: {
            int32_t r = rx_exec(prog, in, pc + 1, pos, st, budget);
            if (r < RX_NOMATCH) {
                st->len = base;
                return r;
            }
            if (r < 0) goto fail;
            pos = r;
            pc = I->x;
            continue;
        }
        case OP_BOL:
            if (pos == in->start) {
                pc++;
                continue;
            }
            goto fail;
        case OP_EOL:
            if (pos == in->end) {
                pc++;
                continue;
            }
            goto fail;
        default: /* OP_MATCH */
            st->len = base;
            return pos;
        }
    fail:
        if (--*budget < 0) {
            st->len = base;
            return RX_EBUDGET;
        }
        if (st->len == base) return RX_NOMATCH;
        {
            rx_frame *fr = &st->f[st->len - 1];
            pc = fr->pc;
            if (fr->cnt >= 0) {
                pos = fr->pos + fr->cnt;
                if (fr->cnt > fr->min) fr->cnt--;
                else st->len--;
            } else {
                pos = fr->pos;
                st->len--;
            }
        }
    }
nomem:
    st->len = base;
    return RX_ENOMEM;
}

int rx_pieces_push(rx_pieces *p, int32_t end) {
    if (p->count == p->cap) {
        int64_t cap = p->cap ? p->cap * 2 : 64;
        int32_t *ne = realloc(p->ends, (size_t)cap * sizeof *ne);
        if (!ne) return -1;
        p->ends = ne;
        p->cap = cap;
    }
    p->ends[p->count++] = end;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Hand-written splitters: one pass over the code points, deciding at each position which
 * alternative of the pattern matches first, as llama.cpp's unicode_regex_split_custom_* do.     */

#define IS_L(i) ((UCAT_MASK_L >> (info[i] & 31u)) & 1u)
#define IS_N(i) ((UCAT_MASK_N >> (info[i] & 31u)) & 1u)
#define IS_WS(i) ((info[i] & RX_INFO_SPACE) != 0)
#define IS_OTHER(i) (!IS_L(i) && !IS_N(i) && !IS_WS(i))

static uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* The end of a contraction ('s 't 're 've 'm 'll 'd) at pos, or pos when there is none. */
static int32_t contraction(const uint32_t *cps, int32_t pos, int32_t end, bool ci) {
    if (cps[pos] != '\'' || pos + 1 >= end) return pos;
    uint32_t a = ci ? ascii_lower(cps[pos + 1]) : cps[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return pos + 2;
    if (pos + 2 >= end) return pos;
    uint32_t b = ci ? ascii_lower(cps[pos + 2]) : cps[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return pos + 3;
    return pos;
}

/* The end of the piece starting at pos (< end). */
static int32_t fast_next(fast_kind kind, const uint32_t *cps, const uint8_t *info, int32_t pos,
                         int32_t end) {
    uint32_t c = cps[pos];
    if (kind == FAST_DIGIT) { /* \p{N}: digits alone, everything else in runs */
        if (IS_N(pos)) return pos + 1;
        while (pos < end && !IS_N(pos)) pos++;
        return pos;
    }
    int32_t e = contraction(cps, pos, end, kind != FAST_GPT2);
    if (e > pos) return e;
    if (kind == FAST_GPT2) {
        /*  ?\p{L}+ |  ?\p{N}+ |  ?[^\s\p{L}\p{N}]+ */
        int32_t q = c == ' ' && pos + 1 < end ? pos + 1 : pos;
        if (IS_L(q)) {
            while (q < end && IS_L(q)) q++;
            return q;
        }
        if (IS_N(q)) {
            while (q < end && IS_N(q)) q++;
            return q;
        }
        if (IS_OTHER(q)) {
            while (q < end && IS_OTHER(q)) q++;
            return q;
        }
    } else {
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (c != '\r' && c != '\n' && !IS_N(pos) && (IS_L(pos) || (pos + 1 < end && IS_L(pos + 1)))) {
            int32_t q = pos + 1;
            while (q < end && IS_L(q)) q++;
            return q;
        }
        /* \p{N}{1,3} or \p{N} */
        if (IS_N(pos)) {
            int32_t lim = pos + (kind == FAST_QWEN2 ? 1 : 3), q = pos;
            while (q < end && q < lim && IS_N(q)) q++;
            return q;
        }
        /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
        int32_t q = c == ' ' && pos + 1 < end ? pos + 1 : pos;
        if (IS_OTHER(q)) {
            while (q < end && IS_OTHER(q)) q++;
            while (q < end && (cps[q] == '\r' || cps[q] == '\n')) q++;
            return q;
        }
        /* \s*[\r\n]+ : up to the last line break of the whitespace run */
        int32_t last_nl = -1;
        for (q = pos; q < end && IS_WS(q); q++)
            if (cps[q] == '\r' || cps[q] == '\n') last_nl = q;
        if (last_nl >= 0) return last_nl + 1;
    }
    /* \s+(?!\S) | \s+ : a whitespace run leaves its last character to what follows it */
    int32_t q = pos;
    while (q < end && IS_WS(q)) q++;
    if (q == pos) return pos + 1; /* nothing matches: a gap of one code point */
    if (q < end && q - pos > 1) return q - 1;
    return q;
}

static int fast_split(fast_kind kind, const uint32_t *cps, const uint8_t *info, const rx_pieces *in,
                      rx_pieces *out) {
    int32_t start = 0;
    for (int64_t k = 0; k < in->count; k++) {
        int32_t end = in->ends[k];
        for (int32_t pos = start; pos < end;) {
            pos = fast_next(kind, cps, info, pos, end);
            if (rx_pieces_push(out, pos) < 0) return -1;
        }
        start = end;
    }
    return 0;
}

int rx_split(const rx_prog *prog, const uint32_t *cps, const uint8_t *info, const rx_pieces *in,
             rx_pieces *out) {
    if (prog->fast != FAST_NONE) return fast_split(prog->fast, cps, info, in, out);
    return rx_split_vm(prog, cps, info, in, out);
}

int rx_split_vm(const rx_prog *prog, const uint32_t *cps, const uint8_t *info, const rx_pieces *in,
                rx_pieces *out) {
    rx_stack st = {0};
    int status = 0;
    int32_t start = 0;
    for (int64_t k = 0; k < in->count && status == 0; k++) {
        int32_t end = in->ends[k];
        rx_input input = {cps, info, start, end};
        int32_t pos = start;
        while (pos < end) {
            /* a generous budget: the tokenizer patterns need a few steps per code point */
            int64_t budget = 100000 + 64 * (int64_t)(end - pos);
            int32_t r = rx_exec(prog, &input, 0, pos, &st, &budget);
            if (r == RX_ENOMEM || r == RX_EBUDGET) {
                status = r == RX_ENOMEM ? -1 : -2;
                break;
            }
            if (r > pos) {
                if (start < pos && rx_pieces_push(out, pos) < 0) {
                    status = -1;
                    break;
                }
                if (rx_pieces_push(out, r) < 0) {
                    status = -1;
                    break;
                }
                start = pos = r;
            } else {
                pos++; /* no match here (or an empty one): this code point joins a gap */
            }
        }
        if (status == 0 && start < end && rx_pieces_push(out, end) < 0) status = -1;
        start = end;
    }
    free(st.f);
    return status;
}
