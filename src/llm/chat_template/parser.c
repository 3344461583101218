/* The chat-template parser: jinja2's parser (jinja2/parser.py) over ct_lex's tokens, building the
 * AST of ct_internal.h. Precedence, from loosest: conditional expression (a if c else b), or,
 * and, not, comparisons (chained, with in / not in), + -, ~, * / // %, **, unary - +, then
 * postfix (.attr, [index], (call)) and filters / tests (| f, is t), which bind tightest. Unknown
 * filters and tests are errors here, as jinja2 reports them when it compiles. */
#include <stdio.h>
#include <string.h>

#include "llm/chat_template/ct_internal.h"

enum { MAX_NESTING = 200 };

typedef struct parser {
    ct_arena *a;
    const ct_token *t;
    size_t n, i;
    int depth;
    int loops; /* for loops open around the statement being parsed (for break / continue) */
    /* names seen while parsing a macro body (varargs, kwargs, caller) */
    bool saw_varargs, saw_kwargs, saw_caller;
    const char *const *end_tags; /* what the innermost open block waits for */
} parser;

static const char *op_text(int op) {
    static const char *names[] = {"+", "-", "/", "//", "*", "%", "**", "~", "[", "]", "(", ")",
                                  "{", "}", "==", "!=", ">", ">=", "<", "<=", "=", ".", ":", "|",
                                  ",", ";", "in", "not in"};
    return op >= 0 && op < (int)(sizeof names / sizeof names[0]) ? names[op] : "?";
}

static const char *describe(const ct_token *t, char *buf, size_t size) {
    switch (t->type) {
    case TK_DATA: return "template data";
    case TK_VAR_BEGIN: return "'{{'";
    case TK_VAR_END: return "end of print statement ('}}')";
    case TK_BLOCK_BEGIN: return "'{%'";
    case TK_BLOCK_END: return "end of statement block ('%}')";
    case TK_NAME: snprintf(buf, size, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->text); return buf;
    case TK_STRING: return "a string";
    case TK_INT: return "an integer";
    case TK_FLOAT: return "a float";
    case TK_OP: snprintf(buf, size, "'%s'", op_text(t->op)); return buf;
    default: return "end of template";
    }
}

_Noreturn static void fail(parser *P, const ct_token *t, born_status st, const char *fmt, const char *arg) {
    ct_raise(P->a->fail, st, t->line, t->col, fmt, arg);
}

_Noreturn static void unexpected(parser *P, const char *expected) {
    char buf[64], msg[256];
    const ct_token *t = &P->t[P->i];
    snprintf(msg, sizeof msg, "expected %s, got %s", expected, describe(t, buf, sizeof buf));
    fail(P, t, BORN_ERR_FORMAT, "%s", msg);
}

static const ct_token *cur(parser *P) { return &P->t[P->i]; }
static const ct_token *peek(parser *P, size_t k) {
    return P->i + k < P->n ? &P->t[P->i + k] : &P->t[P->n - 1];
}
static const ct_token *next(parser *P) {
    const ct_token *t = &P->t[P->i];
    if (P->i + 1 < P->n) P->i++;
    return t;
}

static bool is_op(const ct_token *t, int op) { return t->type == TK_OP && t->op == op; }
static bool is_name(const ct_token *t, const char *name) {
    size_t len = strlen(name);
    return t->type == TK_NAME && t->len == len && memcmp(t->text, name, len) == 0;
}
static bool skip_op(parser *P, int op) {
    if (!is_op(cur(P), op)) return false;
    next(P);
    return true;
}
static bool skip_name(parser *P, const char *name) {
    if (!is_name(cur(P), name)) return false;
    next(P);
    return true;
}
static void expect_op(parser *P, int op) {
    if (!skip_op(P, op)) {
        char want[16];
        snprintf(want, sizeof want, "'%s'", op_text(op));
        unexpected(P, want);
    }
}
static const ct_token *expect_type(parser *P, int type, const char *what) {
    if (cur(P)->type != type) unexpected(P, what);
    return next(P);
}

static void enter(parser *P) {
    if (++P->depth > MAX_NESTING) {
        const ct_token *t = cur(P);
        ct_raise(P->a->fail, BORN_ERR_ARGUMENT, t->line, t->col,
                 "the template nests deeper than %d levels", MAX_NESTING);
    }
}

static const ct_str *name_str(parser *P, const ct_token *t) {
    return ct_str_new(P->a, t->text, t->len);
}

static ct_expr *new_expr(parser *P, int kind, const ct_token *at) {
    ct_expr *e = ct_zalloc(P->a, sizeof *e);
    e->kind = (uint8_t)kind;
    e->line = at->line;
    e->col = at->col;
    return e;
}

/* A growable array of pointers in the arena. */
typedef struct vec {
    void **items;
    size_t n, cap;
} vec;
static void vec_push(parser *P, vec *v, void *x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        void **items = ct_alloc_array(P->a, cap, sizeof(void *));
        if (v->n) memcpy(items, v->items, v->n * sizeof(void *));
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = x;
}

static ct_expr *parse_expression(parser *P, bool with_condexpr);
static ct_expr *parse_tuple(parser *P, bool simplified, bool with_condexpr, const char *extra_end,
                            bool explicit_parens);
static ct_expr *parse_primary(parser *P);
static ct_expr *parse_postfix(parser *P, ct_expr *node);
static ct_expr *parse_unary(parser *P, bool with_filter);

static void parse_call_args(parser *P, ct_args *args) {
    const ct_token *open = cur(P);
    expect_op(P, OP_LPAREN);
    vec pos = {0}, kwn = {0}, kwv = {0};
    bool require_comma = false;
    while (!is_op(cur(P), OP_RPAREN)) {
        if (require_comma) {
            expect_op(P, OP_COMMA);
            if (is_op(cur(P), OP_RPAREN)) break;
        }
        if (is_op(cur(P), OP_MUL) || is_op(cur(P), OP_POW))
            fail(P, cur(P), BORN_ERR_UNSUPPORTED, "%s", "*args and **kwargs in calls are not supported");
        if (cur(P)->type == TK_NAME && is_op(peek(P, 1), OP_ASSIGN)) {
            const ct_token *k = next(P);
            next(P);
            vec_push(P, &kwn, (void *)name_str(P, k));
            vec_push(P, &kwv, parse_expression(P, true));
        } else {
            if (kwn.n) fail(P, open, BORN_ERR_FORMAT, "%s", "invalid syntax for function call expression (a positional argument after a keyword argument)");
            vec_push(P, &pos, parse_expression(P, true));
        }
        require_comma = true;
    }
    expect_op(P, OP_RPAREN);
    args->pos = (ct_expr **)pos.items;
    args->npos = pos.n;
    args->kw_names = (const ct_str **)kwn.items;
    args->kw_vals = (ct_expr **)kwv.items;
    args->nkw = kwn.n;
}

/* name(.name)* as a filter or test name. */
static void dotted_name(parser *P, char *buf, size_t size, const ct_token **at) {
    const ct_token *t = expect_type(P, TK_NAME, "a name");
    *at = t;
    snprintf(buf, size, "%.*s", (int)t->len, t->text);
    while (is_op(cur(P), OP_DOT)) {
        next(P);
        const ct_token *u = expect_type(P, TK_NAME, "a name");
        size_t l = strlen(buf);
        snprintf(buf + l, size - l, ".%.*s", (int)u->len, u->text);
    }
}

static ct_expr *parse_filter(parser *P, ct_expr *node, bool start_inline) {
    while (is_op(cur(P), OP_PIPE) || start_inline) {
        if (!start_inline) next(P);
        start_inline = false;
        char name[128];
        const ct_token *at;
        dotted_name(P, name, sizeof name, &at);
        const ct_filter_def *def = ct_find_filter(name, strlen(name));
        if (!def) fail(P, at, BORN_ERR_FORMAT, "no filter named '%s'", name);
        ct_expr *f = new_expr(P, E_FILTER, at);
        f->filter.obj = node;
        f->filter.def = def;
        if (is_op(cur(P), OP_LPAREN)) parse_call_args(P, &f->filter.args);
        node = f;
    }
    return node;
}

static ct_expr *parse_test(parser *P, ct_expr *node) {
    const ct_token *is = next(P);
    bool negated = skip_name(P, "not");
    char name[128];
    const ct_token *at;
    dotted_name(P, name, sizeof name, &at);
    const ct_test_def *def = ct_find_test(name, strlen(name));
    if (!def) fail(P, at, BORN_ERR_FORMAT, "no test named '%s'", name);
    ct_expr *t = new_expr(P, E_TEST, is);
    t->test.obj = node;
    t->test.def = def;
    const ct_token *c = cur(P);
    if (is_op(c, OP_LPAREN)) {
        parse_call_args(P, &t->test.args);
    } else if ((c->type == TK_NAME || c->type == TK_STRING || c->type == TK_INT ||
                c->type == TK_FLOAT || is_op(c, OP_LBRACKET) || is_op(c, OP_LBRACE)) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is")) fail(P, c, BORN_ERR_FORMAT, "%s", "you cannot chain multiple tests with is");
        ct_expr *arg = parse_postfix(P, parse_primary(P));
        t->test.args.pos = ct_alloc(P->a, sizeof(ct_expr *));
        t->test.args.pos[0] = arg;
        t->test.args.npos = 1;
    }
    if (negated) {
        ct_expr *n = new_expr(P, E_NOT, is);
        n->operand = t;
        return n;
    }
    return t;
}

static ct_expr *parse_subscribed(parser *P) {
    const ct_token *at = cur(P);
    ct_expr *parts[3] = {NULL, NULL, NULL};
    if (is_op(cur(P), OP_COLON)) {
        next(P);
    } else {
        ct_expr *node = parse_expression(P, true);
        if (!is_op(cur(P), OP_COLON)) return node;
        next(P);
        parts[0] = node;
    }
    if (!is_op(cur(P), OP_COLON) && !is_op(cur(P), OP_RBRACKET) && !is_op(cur(P), OP_COMMA))
        parts[1] = parse_expression(P, true);
    if (is_op(cur(P), OP_COLON)) {
        next(P);
        if (!is_op(cur(P), OP_RBRACKET) && !is_op(cur(P), OP_COMMA))
            parts[2] = parse_expression(P, true);
    }
    ct_expr *s = new_expr(P, E_SLICE, at);
    s->slice.start = parts[0];
    s->slice.stop = parts[1];
    s->slice.step = parts[2];
    return s;
}

static ct_expr *parse_subscript(parser *P, ct_expr *node) {
    const ct_token *tok = next(P);
    if (tok->type == TK_OP && tok->op == OP_DOT) {
        const ct_token *attr = cur(P);
        if (attr->type == TK_NAME) {
            next(P);
            ct_expr *g = new_expr(P, E_GETATTR, tok);
            g->getattr.obj = node;
            g->getattr.attr = name_str(P, attr);
            return g;
        }
        if (attr->type != TK_INT) unexpected(P, "a name or a number after '.'");
        next(P);
        ct_expr *k = new_expr(P, E_CONST, attr);
        k->constant = ct_int(attr->i);
        ct_expr *g = new_expr(P, E_GETITEM, tok);
        g->getitem.obj = node;
        g->getitem.index = k;
        return g;
    }
    /* '[' */
    vec args = {0};
    while (!is_op(cur(P), OP_RBRACKET)) {
        if (args.n) expect_op(P, OP_COMMA);
        vec_push(P, &args, parse_subscribed(P));
    }
    expect_op(P, OP_RBRACKET);
    ct_expr *index;
    if (args.n == 1) {
        index = args.items[0];
    } else {
        index = new_expr(P, E_TUPLE, tok);
        index->seq.items = (ct_expr **)args.items;
        index->seq.n = args.n;
        for (size_t k = 0; k < args.n; k++)
            if (((ct_expr *)args.items[k])->kind == E_SLICE)
                fail(P, tok, BORN_ERR_UNSUPPORTED, "%s", "multi-dimensional slices are not supported");
    }
    ct_expr *g = new_expr(P, E_GETITEM, tok);
    g->getitem.obj = node;
    g->getitem.index = index;
    return g;
}

static ct_expr *parse_call(parser *P, ct_expr *node) {
    ct_expr *c = new_expr(P, E_CALL, cur(P));
    c->line = node->line; /* report calls where the callee starts */
    c->col = node->col;
    c->call.callee = node;
    parse_call_args(P, &c->call.args);
    return c;
}

static ct_expr *parse_postfix(parser *P, ct_expr *node) {
    for (;;) {
        if (is_op(cur(P), OP_DOT) || is_op(cur(P), OP_LBRACKET)) node = parse_subscript(P, node);
        else if (is_op(cur(P), OP_LPAREN)) node = parse_call(P, node);
        else return node;
    }
}

static ct_expr *parse_filter_expr(parser *P, ct_expr *node) {
    for (;;) {
        if (is_op(cur(P), OP_PIPE)) node = parse_filter(P, node, false);
        else if (is_name(cur(P), "is")) node = parse_test(P, node);
        else if (is_op(cur(P), OP_LPAREN)) node = parse_call(P, node);
        else return node;
    }
}

static ct_expr *parse_list(parser *P) {
    const ct_token *at = next(P);
    vec items = {0};
    while (!is_op(cur(P), OP_RBRACKET)) {
        if (items.n) expect_op(P, OP_COMMA);
        if (is_op(cur(P), OP_RBRACKET)) break;
        vec_push(P, &items, parse_expression(P, true));
    }
    expect_op(P, OP_RBRACKET);
    ct_expr *e = new_expr(P, E_LIST, at);
    e->seq.items = (ct_expr **)items.items;
    e->seq.n = items.n;
    return e;
}

static ct_expr *parse_dict(parser *P) {
    const ct_token *at = next(P);
    vec keys = {0}, vals = {0};
    while (!is_op(cur(P), OP_RBRACE)) {
        if (keys.n) expect_op(P, OP_COMMA);
        if (is_op(cur(P), OP_RBRACE)) break;
        vec_push(P, &keys, parse_expression(P, true));
        expect_op(P, OP_COLON);
        vec_push(P, &vals, parse_expression(P, true));
    }
    expect_op(P, OP_RBRACE);
    ct_expr *e = new_expr(P, E_DICT, at);
    e->dict.keys = (ct_expr **)keys.items;
    e->dict.vals = (ct_expr **)vals.items;
    e->dict.n = keys.n;
    return e;
}

static ct_expr *parse_primary(parser *P) {
    const ct_token *t = cur(P);
    enter(P);
    ct_expr *node;
    if (t->type == TK_NAME) {
        next(P);
        if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") || is_name(t, "False")) {
            node = new_expr(P, E_CONST, t);
            node->constant = ct_bool(t->text[0] == 't' || t->text[0] == 'T');
        } else if (is_name(t, "none") || is_name(t, "None")) {
            node = new_expr(P, E_CONST, t);
            node->constant = ct_none();
        } else {
            node = new_expr(P, E_NAME, t);
            node->name = name_str(P, t);
            if (is_name(t, "varargs")) P->saw_varargs = true;
            if (is_name(t, "kwargs")) P->saw_kwargs = true;
            if (is_name(t, "caller")) P->saw_caller = true;
        }
    } else if (t->type == TK_STRING) {
        next(P);
        const ct_str *s = t->s;
        while (cur(P)->type == TK_STRING) s = ct_str_cat(P->a, s, next(P)->s);
        node = new_expr(P, E_CONST, t);
        node->constant = ct_strv(s);
    } else if (t->type == TK_INT || t->type == TK_FLOAT) {
        next(P);
        node = new_expr(P, E_CONST, t);
        node->constant = t->type == TK_INT ? ct_int(t->i) : ct_float(t->f);
    } else if (is_op(t, OP_LPAREN)) {
        next(P);
        node = parse_tuple(P, false, true, NULL, true);
        expect_op(P, OP_RPAREN);
    } else if (is_op(t, OP_LBRACKET)) {
        node = parse_list(P);
    } else if (is_op(t, OP_LBRACE)) {
        node = parse_dict(P);
    } else {
        unexpected(P, "an expression");
    }
    P->depth--;
    return node;
}

static ct_expr *parse_unary(parser *P, bool with_filter) {
    const ct_token *t = cur(P);
    ct_expr *node;
    enter(P);
    if (is_op(t, OP_SUB) || is_op(t, OP_ADD)) {
        next(P);
        node = new_expr(P, is_op(t, OP_SUB) ? E_NEG : E_POS, t);
        node->operand = parse_unary(P, false);
    } else {
        node = parse_primary(P);
    }
    node = parse_postfix(P, node);
    if (with_filter) node = parse_filter_expr(P, node);
    P->depth--;
    return node;
}

static ct_expr *binary(parser *P, const ct_token *at, int op, ct_expr *a, ct_expr *b) {
    ct_expr *e = new_expr(P, E_BINARY, at);
    e->op = (uint8_t)op;
    e->bin.a = a;
    e->bin.b = b;
    return e;
}

static ct_expr *parse_pow(parser *P) {
    ct_expr *left = parse_unary(P, true);
    while (is_op(cur(P), OP_POW)) {
        const ct_token *at = next(P);
        left = binary(P, at, OP_POW, left, parse_unary(P, true));
    }
    return left;
}

static ct_expr *parse_math2(parser *P) {
    ct_expr *left = parse_pow(P);
    for (;;) {
        const ct_token *t = cur(P);
        if (!(is_op(t, OP_MUL) || is_op(t, OP_DIV) || is_op(t, OP_FLOORDIV) || is_op(t, OP_MOD)))
            return left;
        next(P);
        left = binary(P, t, t->op, left, parse_pow(P));
    }
}

static ct_expr *parse_concat(parser *P) {
    const ct_token *at = cur(P);
    ct_expr *first = parse_math2(P);
    if (!is_op(cur(P), OP_TILDE)) return first;
    vec args = {0};
    vec_push(P, &args, first);
    while (skip_op(P, OP_TILDE)) vec_push(P, &args, parse_math2(P));
    ct_expr *e = new_expr(P, E_CONCAT, at);
    e->seq.items = (ct_expr **)args.items;
    e->seq.n = args.n;
    return e;
}

static ct_expr *parse_math1(parser *P) {
    ct_expr *left = parse_concat(P);
    for (;;) {
        const ct_token *t = cur(P);
        if (!(is_op(t, OP_ADD) || is_op(t, OP_SUB))) return left;
        next(P);
        left = binary(P, t, t->op, left, parse_concat(P));
    }
}

static ct_expr *parse_compare(parser *P) {
    const ct_token *at = cur(P);
    ct_expr *expr = parse_math1(P);
    vec ops = {0}, rest = {0};
    for (;;) {
        const ct_token *t = cur(P);
        int op;
        if (t->type == TK_OP && (t->op == OP_EQ || t->op == OP_NE || t->op == OP_LT ||
                                 t->op == OP_LTEQ || t->op == OP_GT || t->op == OP_GTEQ)) {
            op = t->op;
            next(P);
        } else if (is_name(t, "in")) {
            op = OP_IN;
            next(P);
        } else if (is_name(t, "not") && is_name(peek(P, 1), "in")) {
            op = OP_NOTIN;
            next(P);
            next(P);
        } else {
            break;
        }
        vec_push(P, &ops, (void *)(uintptr_t)op);
        vec_push(P, &rest, parse_math1(P));
    }
    if (!ops.n) return expr;
    ct_expr *e = new_expr(P, E_COMPARE, at);
    e->cmp.first = expr;
    e->cmp.n = ops.n;
    e->cmp.ops = ct_alloc(P->a, ops.n);
    for (size_t k = 0; k < ops.n; k++) e->cmp.ops[k] = (uint8_t)(uintptr_t)ops.items[k];
    e->cmp.rest = (ct_expr **)rest.items;
    return e;
}

static ct_expr *parse_not(parser *P) {
    if (is_name(cur(P), "not")) {
        const ct_token *at = next(P);
        enter(P);
        ct_expr *e = new_expr(P, E_NOT, at);
        e->operand = parse_not(P);
        P->depth--;
        return e;
    }
    return parse_compare(P);
}

static ct_expr *parse_and(parser *P) {
    ct_expr *left = parse_not(P);
    while (is_name(cur(P), "and")) {
        const ct_token *at = next(P);
        ct_expr *e = new_expr(P, E_AND, at);
        e->bin.a = left;
        e->bin.b = parse_not(P);
        left = e;
    }
    return left;
}

static ct_expr *parse_or(parser *P) {
    ct_expr *left = parse_and(P);
    while (is_name(cur(P), "or")) {
        const ct_token *at = next(P);
        ct_expr *e = new_expr(P, E_OR, at);
        e->bin.a = left;
        e->bin.b = parse_and(P);
        left = e;
    }
    return left;
}

static ct_expr *parse_condexpr(parser *P) {
    const ct_token *at = cur(P);
    ct_expr *expr1 = parse_or(P);
    while (skip_name(P, "if")) {
        enter(P);
        ct_expr *e = new_expr(P, E_COND, at);
        e->cond.then = expr1;
        e->cond.test = parse_or(P);
        e->cond.otherwise = skip_name(P, "else") ? parse_condexpr(P) : NULL;
        P->depth--;
        expr1 = e;
        at = cur(P);
    }
    return expr1;
}

static ct_expr *parse_expression(parser *P, bool with_condexpr) {
    enter(P);
    ct_expr *e = with_condexpr ? parse_condexpr(P) : parse_or(P);
    P->depth--;
    return e;
}

static bool is_tuple_end(parser *P, const char *extra_end) {
    const ct_token *t = cur(P);
    if (t->type == TK_VAR_END || t->type == TK_BLOCK_END || is_op(t, OP_RPAREN)) return true;
    return extra_end && is_name(t, extra_end);
}

static ct_expr *parse_tuple(parser *P, bool simplified, bool with_condexpr, const char *extra_end,
                            bool explicit_parens) {
    const ct_token *at = cur(P);
    vec args = {0};
    bool is_tuple = false;
    for (;;) {
        if (args.n) expect_op(P, OP_COMMA);
        if (is_tuple_end(P, extra_end)) break;
        vec_push(P, &args, simplified ? parse_primary(P) : parse_expression(P, with_condexpr));
        if (is_op(cur(P), OP_COMMA)) is_tuple = true;
        else break;
    }
    if (!is_tuple) {
        if (args.n) return args.items[0];
        if (!explicit_parens) unexpected(P, "an expression");
    }
    ct_expr *e = new_expr(P, E_TUPLE, at);
    e->seq.items = (ct_expr **)args.items;
    e->seq.n = args.n;
    return e;
}

/* ------------------------------------------------------------------------------------------ */
/* Assignment targets                                                                           */

static ct_target *to_target(parser *P, ct_expr *e, bool allow_ns) {
    ct_target *t = ct_zalloc(P->a, sizeof *t);
    t->line = e->line;
    t->col = e->col;
    if (e->kind == E_NAME) {
        t->kind = TG_NAME;
        t->name = e->name;
        return t;
    }
    if (allow_ns && e->kind == E_GETATTR && e->getattr.obj->kind == E_NAME) {
        t->kind = TG_NSREF;
        t->name = e->getattr.obj->name;
        t->attr = e->getattr.attr;
        return t;
    }
    if (e->kind == E_TUPLE) {
        t->kind = TG_TUPLE;
        t->n = e->seq.n;
        t->items = ct_alloc_array(P->a, e->seq.n ? e->seq.n : 1, sizeof(ct_target *));
        for (size_t k = 0; k < e->seq.n; k++) t->items[k] = to_target(P, e->seq.items[k], allow_ns);
        return t;
    }
    ct_raise(P->a->fail, BORN_ERR_FORMAT, e->line, e->col, "cannot assign to this expression");
}

/* parse_assign_target(with_tuple, name_only, extra_end, with_namespace) */
static ct_target *parse_target(parser *P, const char *extra_end, bool with_namespace) {
    /* simplified tuple: names and literals; ns.attr when allowed */
    const ct_token *at = cur(P);
    vec items = {0};
    bool is_tuple = false;
    for (;;) {
        if (items.n) expect_op(P, OP_COMMA);
        if (is_tuple_end(P, extra_end)) break;
        ct_expr *e;
        const ct_token *t = cur(P);
        if (with_namespace && t->type == TK_NAME && is_op(peek(P, 1), OP_DOT) &&
            peek(P, 2)->type == TK_NAME) {
            next(P);
            next(P);
            const ct_token *attr = next(P);
            ct_expr *obj = new_expr(P, E_NAME, t);
            obj->name = name_str(P, t);
            e = new_expr(P, E_GETATTR, t);
            e->getattr.obj = obj;
            e->getattr.attr = name_str(P, attr);
        } else {
            e = parse_primary(P);
        }
        vec_push(P, &items, e);
        if (is_op(cur(P), OP_COMMA)) is_tuple = true;
        else break;
    }
    if (!items.n) unexpected(P, "an assignment target");
    ct_expr *e;
    if (!is_tuple) {
        e = items.items[0];
    } else {
        e = new_expr(P, E_TUPLE, at);
        e->seq.items = (ct_expr **)items.items;
        e->seq.n = items.n;
    }
    return to_target(P, e, with_namespace);
}

/* ------------------------------------------------------------------------------------------ */
/* Statements                                                                                   */

static ct_stmt *subparse(parser *P, const char *const *end_tags, int *which);

static ct_stmt *new_stmt(parser *P, int kind, const ct_token *at) {
    ct_stmt *s = ct_zalloc(P->a, sizeof *s);
    s->kind = (uint8_t)kind;
    s->line = at->line;
    s->col = at->col;
    return s;
}

/* Parses statements up to one of end_tags (after "%}"); the end tag's name has been consumed
 * and *which says which one; the caller expects the rest of that tag. */
static ct_stmt *parse_statements(parser *P, const char *const *end_tags, int *which,
                                 const ct_token *opener) {
    skip_op(P, OP_COLON);
    if (cur(P)->type != TK_BLOCK_END) unexpected(P, "end of statement block ('%}')");
    next(P);
    *which = -1;
    ct_stmt *body = subparse(P, end_tags, which);
    if (*which < 0) {
        char msg[160];
        size_t len = 0;
        for (int k = 0; end_tags[k]; k++)
            len += (size_t)snprintf(msg + len, sizeof msg - len, "%s'%s'", k ? " or " : "", end_tags[k]);
        char full[256];
        snprintf(full, sizeof full, "unexpected end of template: the block opened here needs %s", msg);
        fail(P, opener, BORN_ERR_FORMAT, "%s", full);
    }
    return body;
}

static void expect_block_end(parser *P) {
    if (cur(P)->type != TK_BLOCK_END) unexpected(P, "end of statement block ('%}')");
    next(P);
}

static void parse_signature(parser *P, ct_macro_def *m) {
    expect_op(P, OP_LPAREN);
    vec params = {0}, defaults = {0};
    while (!is_op(cur(P), OP_RPAREN)) {
        if (params.n) expect_op(P, OP_COMMA);
        const ct_token *t = expect_type(P, TK_NAME, "a parameter name");
        vec_push(P, &params, (void *)name_str(P, t));
        if (skip_op(P, OP_ASSIGN)) vec_push(P, &defaults, parse_expression(P, true));
        else if (defaults.n) fail(P, t, BORN_ERR_FORMAT, "%s", "non-default argument follows default argument");
    }
    expect_op(P, OP_RPAREN);
    m->params = (const ct_str **)params.items;
    m->nparams = params.n;
    m->defaults = (ct_expr **)defaults.items;
    m->ndefaults = defaults.n;
}

static void parse_macro_body(parser *P, ct_macro_def *m, const char *end, const ct_token *opener) {
    bool v = P->saw_varargs, k = P->saw_kwargs, c = P->saw_caller;
    P->saw_varargs = P->saw_kwargs = P->saw_caller = false;
    const char *ends[] = {end, NULL};
    int which;
    m->body = parse_statements(P, ends, &which, opener);
    m->uses_varargs = P->saw_varargs;
    m->uses_kwargs = P->saw_kwargs;
    m->uses_caller = P->saw_caller;
    P->saw_varargs = v || P->saw_varargs;
    P->saw_kwargs = k || P->saw_kwargs;
    P->saw_caller = c || P->saw_caller;
    expect_block_end(P);
}

static ct_stmt *parse_statement(parser *P) {
    const ct_token *t = cur(P);
    if (t->type != TK_NAME) unexpected(P, "a tag name");
    enter(P);
    ct_stmt *s = NULL;
    int which;
    if (is_name(t, "for")) {
        next(P);
        s = new_stmt(P, S_FOR, t);
        s->for_.target = parse_target(P, "in", false);
        if (!skip_name(P, "in")) unexpected(P, "'in'");
        s->for_.iter = parse_tuple(P, false, false, "recursive", false);
        if (skip_name(P, "if")) s->for_.filter = parse_expression(P, true);
        if (is_name(cur(P), "recursive"))
            fail(P, cur(P), BORN_ERR_UNSUPPORTED, "%s", "recursive for loops are not supported");
        const char *ends[] = {"endfor", "else", NULL};
        s->for_.body = parse_statements(P, ends, &which, t);
        if (which == 1) {
            const char *ends2[] = {"endfor", NULL};
            s->for_.otherwise = parse_statements(P, ends2, &which, t);
        }
        expect_block_end(P);
    } else if (is_name(t, "if")) {
        next(P);
        s = new_stmt(P, S_IF, t);
        ct_stmt *node = s;
        for (;;) {
            node->if_.test = parse_tuple(P, false, false, NULL, false);
            const char *ends[] = {"elif", "else", "endif", NULL};
            node->if_.body = parse_statements(P, ends, &which, t);
            if (which == 0) {
                ct_stmt *elif = new_stmt(P, S_IF, &P->t[P->i - 1]);
                node->if_.otherwise = elif;
                node->if_.elif = true;
                node = elif;
                continue;
            }
            if (which == 1) {
                const char *ends2[] = {"endif", NULL};
                node->if_.otherwise = parse_statements(P, ends2, &which, t);
            }
            break;
        }
        expect_block_end(P);
    } else if (is_name(t, "set")) {
        next(P);
        ct_target *target = parse_target(P, NULL, true);
        if (skip_op(P, OP_ASSIGN)) {
            s = new_stmt(P, S_SET, t);
            s->set.target = target;
            s->set.value = parse_tuple(P, false, true, NULL, false);
            expect_block_end(P);
        } else {
            s = new_stmt(P, S_SET_BLOCK, t);
            s->set_block.target = target;
            if (is_op(cur(P), OP_PIPE)) {
                ct_expr *hole = new_expr(P, E_HOLE, t);
                s->set_block.filter = parse_filter(P, hole, false);
            }
            const char *ends[] = {"endset", NULL};
            s->set_block.body = parse_statements(P, ends, &which, t);
            expect_block_end(P);
        }
    } else if (is_name(t, "macro")) {
        next(P);
        ct_macro_def *m = ct_zalloc(P->a, sizeof *m);
        m->line = t->line;
        m->col = t->col;
        m->name = name_str(P, expect_type(P, TK_NAME, "a macro name"));
        parse_signature(P, m);
        parse_macro_body(P, m, "endmacro", t);
        s = new_stmt(P, S_MACRO, t);
        s->macro = m;
    } else if (is_name(t, "call")) {
        next(P);
        ct_macro_def *m = ct_zalloc(P->a, sizeof *m);
        m->line = t->line;
        m->col = t->col;
        m->name = ct_cstr(P->a, "caller");
        if (is_op(cur(P), OP_LPAREN)) parse_signature(P, m);
        s = new_stmt(P, S_CALL_BLOCK, t);
        s->call_block.call = parse_expression(P, true);
        if (s->call_block.call->kind != E_CALL) fail(P, t, BORN_ERR_FORMAT, "%s", "expected a call after 'call'");
        s->call_block.caller = m;
        parse_macro_body(P, m, "endcall", t);
    } else if (is_name(t, "filter")) {
        next(P);
        s = new_stmt(P, S_FILTER_BLOCK, t);
        s->filter_block.filter = parse_filter(P, new_expr(P, E_HOLE, t), true);
        const char *ends[] = {"endfilter", NULL};
        s->filter_block.body = parse_statements(P, ends, &which, t);
        expect_block_end(P);
    } else if (is_name(t, "with")) {
        next(P);
        s = new_stmt(P, S_WITH, t);
        vec targets = {0}, values = {0};
        while (cur(P)->type != TK_BLOCK_END) {
            if (targets.n) expect_op(P, OP_COMMA);
            vec_push(P, &targets, parse_target(P, NULL, false));
            expect_op(P, OP_ASSIGN);
            vec_push(P, &values, parse_expression(P, true));
        }
        s->with.targets = (ct_target **)targets.items;
        s->with.values = (ct_expr **)values.items;
        s->with.n = targets.n;
        const char *ends[] = {"endwith", NULL};
        s->with.body = parse_statements(P, ends, &which, t);
        expect_block_end(P);
    } else if (is_name(t, "print")) {
        next(P);
        s = new_stmt(P, S_OUTPUT, t);
        vec exprs = {0};
        while (cur(P)->type != TK_BLOCK_END) {
            if (exprs.n) expect_op(P, OP_COMMA);
            vec_push(P, &exprs, parse_expression(P, true));
        }
        s->output.exprs = (ct_expr **)exprs.items;
        s->output.n = exprs.n;
        expect_block_end(P);
    } else if (is_name(t, "break") || is_name(t, "continue")) {
        next(P);
        if (P->loops == 0)
            fail(P, t, BORN_ERR_FORMAT, "%s", "'break' or 'continue' outside of a for loop");
        s = new_stmt(P, is_name(t, "break") ? S_BREAK : S_CONTINUE, t);
        expect_block_end(P);
    } else if (is_name(t, "generation")) {
        /* HF's AssistantTracker: the body renders as it is */
        next(P);
        s = new_stmt(P, S_SCOPE, t);
        const char *ends[] = {"endgeneration", NULL};
        s->scope = parse_statements(P, ends, &which, t);
        expect_block_end(P);
    } else {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(t->len > 40 ? 40 : t->len), t->text);
        static const char *const unsupported[] = {"include", "import", "from", "extends", "block",
                                                  "autoescape", "raw", "do", "trans", NULL};
        for (int k = 0; unsupported[k]; k++)
            if (is_name(t, unsupported[k]))
                fail(P, t, BORN_ERR_UNSUPPORTED, "the '%s' tag is not supported", name);
        if ((t->len > 3 && memcmp(t->text, "end", 3) == 0) || is_name(t, "else") || is_name(t, "elif")) {
            char msg[256];
            size_t len = (size_t)snprintf(msg, sizeof msg, "unexpected '%s'", name);
            if (P->end_tags) {
                len += (size_t)snprintf(msg + len, sizeof msg - len, ": the innermost open block needs ");
                for (int k = 0; P->end_tags[k] && len < sizeof msg; k++)
                    len += (size_t)snprintf(msg + len, sizeof msg - len, "%s'%s'", k ? " or " : "", P->end_tags[k]);
            } else {
                snprintf(msg + len, sizeof msg - len, ": no open block takes it");
            }
            fail(P, t, BORN_ERR_FORMAT, "%s", msg);
        }
        fail(P, t, BORN_ERR_FORMAT, "unknown tag '%s'", name);
    }
    P->depth--;
    return s;
}

static ct_stmt *subparse(parser *P, const char *const *end_tags, int *which) {
    const char *const *saved_end_tags = P->end_tags;
    if (end_tags) P->end_tags = end_tags;
    ct_stmt *head = NULL, **tail = &head;
    vec out = {0};
    const ct_token *out_at = NULL;
#define FLUSH()                                                                                    \
    do {                                                                                           \
        if (out.n) {                                                                               \
            ct_stmt *o = new_stmt(P, S_OUTPUT, out_at);                                            \
            o->output.exprs = (ct_expr **)out.items;                                               \
            o->output.n = out.n;                                                                   \
            *tail = o;                                                                             \
            tail = &o->next;                                                                       \
            out = (vec){0};                                                                        \
        }                                                                                          \
    } while (0)
    for (;;) {
        const ct_token *t = cur(P);
        if (t->type == TK_EOF) break;
        if (t->type == TK_DATA) {
            FLUSH();
            ct_stmt *d = new_stmt(P, S_DATA, t);
            d->data.text = t->text;
            d->data.len = t->len;
            *tail = d;
            tail = &d->next;
            next(P);
        } else if (t->type == TK_VAR_BEGIN) {
            next(P);
            if (!out.n) out_at = t;
            vec_push(P, &out, parse_tuple(P, false, true, NULL, false));
            if (cur(P)->type != TK_VAR_END) unexpected(P, "end of print statement ('}}')");
            next(P);
        } else if (t->type == TK_BLOCK_BEGIN) {
            FLUSH();
            next(P);
            const ct_token *tag = cur(P);
            if (end_tags && tag->type == TK_NAME)
                for (int k = 0; end_tags[k]; k++)
                    if (is_name(tag, end_tags[k])) {
                        next(P);
                        *which = k;
                        P->end_tags = saved_end_tags;
                        return head;
                    }
            bool is_loop = is_name(tag, "for");
            if (is_loop) P->loops++;
            bool is_macro = is_name(tag, "macro") || is_name(tag, "call");
            int saved_loops = P->loops;
            if (is_macro) P->loops = 0;
            ct_stmt *s = parse_statement(P);
            if (is_macro) P->loops = saved_loops;
            if (is_loop) P->loops--;
            *tail = s;
            tail = &s->next;
        } else {
            char buf[64], msg[128];
            snprintf(msg, sizeof msg, "unexpected %s", describe(t, buf, sizeof buf));
            fail(P, t, BORN_ERR_FORMAT, "%s", msg);
        }
    }
    FLUSH();
#undef FLUSH
    P->end_tags = saved_end_tags;
    return head;
}

ct_stmt *ct_parse(ct_arena *a, const ct_token *tokens, size_t count) {
    parser P = {.a = a, .t = tokens, .n = count};
    int which = -1;
    ct_stmt *body = subparse(&P, NULL, &which);
    return body;
}
