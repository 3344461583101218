/* Internal: the chat-template interpreter, a Jinja2 subset that renders a model's
 * tokenizer.chat_template as HF transformers' apply_chat_template does (jinja2's
 * ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, the loopcontrols extension and
 * HF's tojson, raise_exception and strftime_now).
 *
 * Pipeline: lexer.c turns the source into tokens (whitespace control applied to the text between
 * tags, as jinja2's lexer does), parser.c builds the AST, eval.c runs it over values (value.c),
 * builtins.c has the filters, tests, methods and global functions.
 *
 * Memory: everything lives in arenas. A compiled template owns one (tokens are dropped, the AST
 * and its constants stay); each render has its own, freed as a whole when the render ends, so a
 * render never frees a value. Errors: every failure longjmps to the entry point (ct_raise), which
 * frees the render's arena and records the message; nothing in between owns anything else. */
#ifndef BORN_LLM_CHAT_TEMPLATE_CT_INTERNAL_H
#define BORN_LLM_CHAT_TEMPLATE_CT_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "born/llm.h"
#include "core/error.h"

/* ------------------------------------------------------------------------------------------ */
/* Failure and arenas                                                                           */

typedef struct ct_fail {
    jmp_buf jb;
    born_status status;
    char msg[1024];
} ct_fail;

/* Records "line L, column C: message" (line 0: no position) and longjmps to f->jb. */
_Noreturn void ct_raise(ct_fail *f, born_status status, int line, int col, const char *fmt, ...)
    BORN_PRINTF(5, 6);

typedef struct ct_chunk ct_chunk;
typedef struct ct_arena {
    ct_chunk *chunks;
    char *cur;    /* free space of the newest chunk */
    size_t avail;
    size_t total; /* bytes taken from malloc */
    size_t limit; /* most bytes it may take; going past raises BORN_ERR_ARGUMENT */
    ct_fail *fail;
} ct_arena;

void ct_arena_init(ct_arena *a, ct_fail *fail, size_t limit);
void ct_arena_free(ct_arena *a);
/* n bytes aligned to 16, uninitialised; raises on failure. */
void *ct_alloc(ct_arena *a, size_t n);
void *ct_zalloc(ct_arena *a, size_t n);
/* n elements of size, with overflow checked. */
void *ct_alloc_array(ct_arena *a, size_t n, size_t size);

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                       */

typedef struct ct_str {
    size_t len;    /* bytes (UTF-8, may contain NUL) */
    size_t nchars; /* code points */
    char data[];   /* NUL-terminated */
} ct_str;

typedef enum ct_type {
    CT_UNDEF = 0, /* jinja2's default Undefined */
    CT_NONE,
    CT_BOOL,
    CT_INT,
    CT_FLOAT,
    CT_STR,
    CT_LIST, /* list, tuple, generator, range, dict views (ct_list.kind) */
    CT_DICT,
    CT_NS,    /* namespace() */
    CT_FUNC,  /* a global function or a bound method */
    CT_MACRO, /* a macro or a call block's caller */
    CT_LOOP   /* a for loop's `loop` */
} ct_type;

typedef struct ct_list ct_list;
typedef struct ct_dict ct_dict;
typedef struct ct_ns ct_ns;
typedef struct ct_func ct_func;
typedef struct ct_macro ct_macro;
typedef struct ct_loop ct_loop;

typedef struct ct_value {
    uint8_t type;
    union {
        bool b;
        int64_t i;
        double f;
        const ct_str *s;
        ct_list *l;
        ct_dict *d;
        ct_ns *ns;
        ct_func *fn;
        ct_macro *m;
        ct_loop *loop;
        const char *undef; /* why it is undefined, for messages ("'x' is undefined"); may be NULL */
    };
} ct_value;

typedef enum ct_list_kind {
    CT_LIST_PLAIN = 0,
    CT_LIST_TUPLE,
    CT_LIST_ITER,   /* a generator / iterator (select, map, items filter, reverse ...) */
    CT_LIST_RANGE,  /* range(start, stop, step) */
    CT_LIST_ITEMS,  /* dict.items() */
    CT_LIST_KEYS,   /* dict.keys() */
    CT_LIST_VALUES  /* dict.values() */
} ct_list_kind;

struct ct_list {
    ct_value *items;
    size_t len, cap;
    uint8_t kind;
    size_t pos; /* CT_LIST_ITER: items before pos were consumed */
    int64_t start, stop, step; /* CT_LIST_RANGE */
};

struct ct_dict {
    ct_value *keys, *vals;
    size_t len, cap;
};

struct ct_ns {
    ct_dict attrs;
    bool busy; /* being printed (cycle guard) */
};

struct ct_func {
    int id; /* ct_func_id */
    ct_value self;
    const char *name;
};

typedef struct ct_macro_def ct_macro_def;
typedef struct ct_frame ct_frame;

struct ct_macro {
    const ct_macro_def *def;
    ct_frame *closure;
    ct_value caller; /* CT_UNDEF, or the call block's caller */
};

struct ct_loop {
    ct_list *items; /* what the loop runs over, after its filter */
    size_t index0;
    int depth0;
};

static inline ct_value ct_undef(const char *why) {
    ct_value v = {.type = CT_UNDEF};
    v.undef = why;
    return v;
}
static inline ct_value ct_none(void) { return (ct_value){.type = CT_NONE}; }
static inline ct_value ct_bool(bool b) {
    ct_value v = {.type = CT_BOOL};
    v.b = b;
    return v;
}
static inline ct_value ct_int(int64_t i) {
    ct_value v = {.type = CT_INT};
    v.i = i;
    return v;
}
static inline ct_value ct_float(double f) {
    ct_value v = {.type = CT_FLOAT};
    v.f = f;
    return v;
}
static inline ct_value ct_strv(const ct_str *s) {
    ct_value v = {.type = CT_STR};
    v.s = s;
    return v;
}
static inline ct_value ct_listv(ct_list *l) {
    ct_value v = {.type = CT_LIST};
    v.l = l;
    return v;
}
static inline ct_value ct_dictv(ct_dict *d) {
    ct_value v = {.type = CT_DICT};
    v.d = d;
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Tokens and the AST                                                                           */

typedef enum ct_tok_type {
    TK_DATA,
    TK_VAR_BEGIN,
    TK_VAR_END,
    TK_BLOCK_BEGIN,
    TK_BLOCK_END,
    TK_NAME,
    TK_STRING,
    TK_INT,
    TK_FLOAT,
    TK_OP,
    TK_EOF
} ct_tok_type;

typedef enum ct_op {
    OP_ADD, OP_SUB, OP_DIV, OP_FLOORDIV, OP_MUL, OP_MOD, OP_POW, OP_TILDE,
    OP_LBRACKET, OP_RBRACKET, OP_LPAREN, OP_RPAREN, OP_LBRACE, OP_RBRACE,
    OP_EQ, OP_NE, OP_GT, OP_GTEQ, OP_LT, OP_LTEQ,
    OP_ASSIGN, OP_DOT, OP_COLON, OP_PIPE, OP_COMMA, OP_SEMICOLON,
    /* comparison operands that are not tokens */
    OP_IN, OP_NOTIN
} ct_op;

typedef struct ct_token {
    uint8_t type;
    uint8_t op;
    int line, col;
    const char *text; /* TK_DATA, TK_NAME: the bytes */
    size_t len;
    union {
        int64_t i;
        double f;
        const ct_str *s;
    };
} ct_token;

/* Tokenizes src[0..len) (already newline-normalised, NUL-terminated) into an arena array ending
 * with TK_EOF. */
ct_token *ct_lex(ct_arena *a, const char *src, size_t len, size_t *count);

typedef struct ct_expr ct_expr;
typedef struct ct_stmt ct_stmt;

typedef struct ct_args {
    ct_expr **pos;
    size_t npos;
    const ct_str **kw_names;
    ct_expr **kw_vals;
    size_t nkw;
} ct_args;

/* Evaluated call arguments. */
typedef struct ct_callargs {
    ct_value *pos;
    size_t npos;
    const ct_str **kw_names;
    ct_value *kw_vals;
    size_t nkw;
} ct_callargs;

typedef struct ct_ctx ct_ctx;
typedef struct ct_filter_def {
    const char *name;
    /* v: the value filtered (for block filters, the captured text) */
    ct_value (*fn)(ct_ctx *c, ct_value v, const ct_callargs *a);
} ct_filter_def;
typedef struct ct_test_def {
    const char *name;
    bool (*fn)(ct_ctx *c, ct_value v, const ct_callargs *a);
} ct_test_def;

typedef enum ct_expr_kind {
    E_CONST,
    E_NAME,
    E_LIST,
    E_TUPLE,
    E_DICT,
    E_GETATTR,
    E_GETITEM,
    E_SLICE, /* only as E_GETITEM's index */
    E_CALL,
    E_FILTER,
    E_TEST,
    E_BINARY, /* op: OP_ADD ... OP_POW */
    E_CONCAT,
    E_AND,
    E_OR,
    E_NOT,
    E_NEG,
    E_POS,
    E_COMPARE,
    E_COND,
    E_HOLE /* the captured text a block filter applies to */
} ct_expr_kind;

struct ct_expr {
    uint8_t kind;
    uint8_t op;
    int line, col;
    union {
        ct_value constant;
        const ct_str *name;
        struct {
            ct_expr **items;
            size_t n;
        } seq; /* E_LIST, E_TUPLE, E_CONCAT */
        struct {
            ct_expr **keys, **vals;
            size_t n;
        } dict;
        struct {
            ct_expr *obj;
            const ct_str *attr;
        } getattr;
        struct {
            ct_expr *obj, *index;
        } getitem;
        struct {
            ct_expr *start, *stop, *step; /* each may be NULL */
        } slice;
        struct {
            ct_expr *callee;
            ct_args args;
        } call;
        struct {
            ct_expr *obj; /* may be E_HOLE */
            const ct_filter_def *def;
            ct_args args;
        } filter;
        struct {
            ct_expr *obj;
            const ct_test_def *def;
            ct_args args;
        } test;
        struct {
            ct_expr *a, *b;
        } bin; /* E_BINARY, E_AND, E_OR */
        ct_expr *operand; /* E_NOT, E_NEG, E_POS */
        struct {
            ct_expr *first;
            uint8_t *ops;
            ct_expr **rest;
            size_t n;
        } cmp;
        struct {
            ct_expr *test, *then, *otherwise; /* otherwise may be NULL */
        } cond;
    };
};

typedef enum ct_target_kind { TG_NAME, TG_NSREF, TG_TUPLE } ct_target_kind;
typedef struct ct_target {
    uint8_t kind;
    int line, col;
    const ct_str *name; /* TG_NAME, TG_NSREF (the namespace variable) */
    const ct_str *attr; /* TG_NSREF */
    struct ct_target **items;
    size_t n;
} ct_target;

struct ct_macro_def {
    const ct_str *name; /* "caller" for call blocks */
    const ct_str **params;
    ct_expr **defaults; /* ndefaults, for the last parameters */
    size_t nparams, ndefaults;
    ct_stmt *body;
    bool uses_varargs, uses_kwargs, uses_caller;
    int line, col;
};

typedef enum ct_stmt_kind {
    S_DATA,
    S_OUTPUT,
    S_IF,
    S_FOR,
    S_SET,
    S_SET_BLOCK,
    S_MACRO,
    S_CALL_BLOCK,
    S_FILTER_BLOCK,
    S_WITH,
    S_BREAK,
    S_CONTINUE,
    S_SCOPE /* a body run in place ({% generation %}) */
} ct_stmt_kind;

struct ct_stmt {
    uint8_t kind;
    int line, col;
    ct_stmt *next;
    union {
        struct {
            const char *text;
            size_t len;
        } data;
        struct {
            ct_expr **exprs;
            size_t n;
        } output;
        struct {
            ct_expr *test;
            ct_stmt *body, *otherwise;
            bool elif; /* otherwise is the next elif's S_IF node */
        } if_;
        struct {
            ct_target *target;
            ct_expr *iter, *filter;
            ct_stmt *body, *otherwise;
        } for_;
        struct {
            ct_target *target;
            ct_expr *value;
        } set;
        struct {
            ct_target *target;
            ct_expr *filter; /* may be NULL */
            ct_stmt *body;
        } set_block;
        const ct_macro_def *macro;
        struct {
            ct_macro_def *caller;
            ct_expr *call;
        } call_block;
        struct {
            ct_expr *filter;
            ct_stmt *body;
        } filter_block;
        struct {
            ct_target **targets;
            ct_expr **values;
            size_t n;
            ct_stmt *body;
        } with;
        ct_stmt *scope;
    };
};

/* Parses tokens into a statement list (allocated in a). */
ct_stmt *ct_parse(ct_arena *a, const ct_token *tokens, size_t count);

const ct_filter_def *ct_find_filter(const char *name, size_t len);
const ct_test_def *ct_find_test(const char *name, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Evaluation                                                                                   */

typedef struct ct_buf {
    char *data;
    size_t len, cap;
} ct_buf;

typedef struct ct_var {
    const ct_str *name;
    ct_value value;
} ct_var;

struct ct_frame {
    ct_frame *parent;
    ct_var *vars;
    size_t len, cap;
};

struct ct_ctx {
    ct_fail *fail;
    ct_arena *arena;
    born_chat_template_params p;
    ct_dict *context; /* the render's variables */
    ct_frame *root;   /* template-level assignments */
    ct_frame *frame;  /* the innermost scope */
    ct_buf *out;
    int64_t iterations, ops;
    int depth;
    int loop_depth;
    ct_value hole;
    int line, col; /* where the node being evaluated is, for messages */
};

/* Raise helpers, at the current node's position. */
_Noreturn void ct_err(ct_ctx *c, const char *fmt, ...) BORN_PRINTF(2, 3);           /* FORMAT */
_Noreturn void ct_unsupported(ct_ctx *c, const char *fmt, ...) BORN_PRINTF(2, 3);   /* UNSUPPORTED */
_Noreturn void ct_limit(ct_ctx *c, const char *fmt, ...) BORN_PRINTF(2, 3);         /* ARGUMENT */
/* Counts n evaluation steps against max_operations. */
void ct_charge(ct_ctx *c, int64_t n);

/* Renders the statement list; the output goes to c->out. */
void ct_exec(ct_ctx *c, const ct_stmt *body);

/* Calls a callable value (a function, bound method or macro). */
ct_value ct_call_value(ct_ctx *c, ct_value callee, const ct_callargs *a);

/* Python's a <op> b for OP_ADD ... OP_POW (str % args included). */
ct_value ct_binop(ct_ctx *c, int op, ct_value a, ct_value b);
ct_value ct_percent_format(ct_ctx *c, const ct_str *fmt, ct_value args);

/* Attribute (x.name) and item (x[key]) access with jinja2's sandbox rules. */
ct_value ct_getattr(ct_ctx *c, ct_value obj, const ct_str *name);
ct_value ct_getitem(ct_ctx *c, ct_value obj, ct_value key);

/* value.c ------------------------------------------------------------------------------------ */

const ct_str *ct_str_new(ct_arena *a, const char *data, size_t len);
const ct_str *ct_str_cat(ct_arena *a, const ct_str *x, const ct_str *y);
const ct_str *ct_cstr(ct_arena *a, const char *s);
bool ct_str_eq(const ct_str *a, const char *s, size_t len);
bool ct_str_eqs(const ct_str *a, const ct_str *b);

ct_list *ct_list_new(ct_arena *a, size_t cap, uint8_t kind);
void ct_list_push(ct_arena *a, ct_list *l, ct_value v);
ct_dict *ct_dict_new(ct_arena *a, size_t cap);
/* Sets key to val (replacing an equal key's value, keeping its position). */
void ct_dict_set(ct_ctx *c, ct_dict *d, ct_value key, ct_value val);
/* The value of an equal key, or NULL. */
ct_value *ct_dict_find(ct_ctx *c, const ct_dict *d, ct_value key);
ct_value *ct_dict_find_str(ct_ctx *c, const ct_dict *d, const char *key, size_t len);

void ct_buf_put(ct_ctx *c, ct_buf *b, const char *s, size_t n);
void ct_buf_putc(ct_ctx *c, ct_buf *b, char ch);
void ct_buf_printf(ct_ctx *c, ct_buf *b, const char *fmt, ...) BORN_PRINTF(3, 4);
const ct_str *ct_buf_str(ct_ctx *c, const ct_buf *b);

const char *ct_type_name(ct_value v); /* Python's type name: "str", "dict", "NoneType" */
bool ct_truthy(ct_ctx *c, ct_value v);
bool ct_equal(ct_ctx *c, ct_value a, ct_value b);
/* Python's < / > order; raises TypeError-like errors for values without one. Returns -1, 0, 1. */
int ct_compare(ct_ctx *c, ct_value a, ct_value b);
/* str(v) appended to b (Undefined gives ""), and repr(v). */
void ct_write_str(ct_ctx *c, ct_buf *b, ct_value v);
void ct_write_repr(ct_ctx *c, ct_buf *b, ct_value v);
const ct_str *ct_to_str(ct_ctx *c, ct_value v);
/* Python's repr of a float. */
void ct_float_repr(double f, char out[32]);
/* len(v); raises for values without one. */
int64_t ct_length(ct_ctx *c, ct_value v);
/* The items iterating v gives (a list; strings give characters, dicts their keys). Consumes an
 * iterator. Raises for values that cannot be iterated. */
ct_list *ct_iterate(ct_ctx *c, ct_value v);
/* Python's json.dumps(v, ensure_ascii, indent, separators, sort_keys). indent: NULL for none. */
typedef struct ct_json_opts {
    bool ensure_ascii;
    bool sort_keys;
    const ct_str *indent; /* NULL: no newlines */
    const ct_str *item_sep, *key_sep;
} ct_json_opts;
void ct_write_json(ct_ctx *c, ct_buf *b, ct_value v, const ct_json_opts *o, int level);

/* UTF-8 helpers (strings are always valid UTF-8). */
uint32_t ct_utf8_next(const char *s, size_t *i);
size_t ct_utf8_put(uint32_t cp, char *out);
size_t ct_utf8_count(const char *s, size_t len);
/* Byte offset of code point index k (k <= nchars). */
size_t ct_utf8_offset(const ct_str *s, size_t k);
bool ct_is_space(uint32_t cp); /* Python's str.isspace() */

/* Case mapping (case_tables.c, generated). */
typedef struct ct_case_run {
    uint32_t start;
    uint16_t count;
    uint8_t stride;
    int32_t delta;
} ct_case_run;
typedef struct ct_case_multi {
    uint32_t cp;
    uint32_t out[3];
} ct_case_multi;
extern const ct_case_run ct_case_runs_upper[], ct_case_runs_lower[], ct_case_runs_title[];
extern const size_t ct_case_runs_upper_count, ct_case_runs_lower_count, ct_case_runs_title_count;
extern const ct_case_multi ct_case_multi_upper[], ct_case_multi_lower[], ct_case_multi_title[];
extern const size_t ct_case_multi_upper_count, ct_case_multi_lower_count, ct_case_multi_title_count;
extern const uint32_t ct_cased_ranges[][2];
extern const size_t ct_cased_range_count;

typedef enum ct_case { CT_CASE_UPPER, CT_CASE_LOWER, CT_CASE_TITLE } ct_case;
/* Appends the mapping of cp to out (1-3 code points); returns how many. */
int ct_case_map(ct_case which, uint32_t cp, uint32_t out[3]);
bool ct_is_cased(uint32_t cp);
bool ct_is_case_ignorable(uint32_t cp);
/* Python's str.upper() / lower() / title() / capitalize() / swapcase(). */
const ct_str *ct_str_upper(ct_ctx *c, const ct_str *s);
const ct_str *ct_str_lower(ct_ctx *c, const ct_str *s);
const ct_str *ct_str_title(ct_ctx *c, const ct_str *s);
const ct_str *ct_str_capitalize(ct_ctx *c, const ct_str *s);

/* builtins.c ---------------------------------------------------------------------------------- */

typedef enum ct_func_id {
    /* globals */
    F_RANGE, F_DICT, F_NAMESPACE, F_RAISE_EXCEPTION, F_STRFTIME_NOW, F_CYCLER, F_JOINER, F_LIPSUM,
    /* methods (the receiver is ct_func.self) */
    M_STR_FIRST,
    M_STRIP = M_STR_FIRST, M_LSTRIP, M_RSTRIP, M_STARTSWITH, M_ENDSWITH, M_SPLIT, M_RSPLIT,
    M_UPPER, M_LOWER, M_TITLE, M_CAPITALIZE, M_SWAPCASE, M_REPLACE, M_FIND, M_RFIND, M_INDEX,
    M_RINDEX, M_COUNT, M_JOIN, M_SPLITLINES, M_REMOVEPREFIX, M_REMOVESUFFIX, M_ISDIGIT,
    M_ISALPHA, M_ISALNUM, M_ISSPACE, M_ISUPPER, M_ISLOWER, M_ZFILL, M_CENTER, M_LJUST, M_RJUST,
    M_PARTITION, M_RPARTITION, M_STR_UNSUPPORTED,
    M_DICT_FIRST,
    M_GET = M_DICT_FIRST, M_ITEMS, M_KEYS, M_VALUES, M_COPY, M_DICT_UNSAFE,
    M_LIST_FIRST,
    M_LIST_INDEX = M_LIST_FIRST, M_LIST_COUNT, M_LIST_COPY, M_LIST_UNSAFE,
    M_LOOP_CYCLE, M_LOOP_CHANGED,
    F_COUNT
} ct_func_id;

/* The global function named name, or CT_UNDEF. */
ct_value ct_global(ct_ctx *c, const ct_str *name);
/* The method `name` of v (a bound method), or CT_UNDEF when v has no such attribute. */
ct_value ct_method(ct_ctx *c, ct_value v, const ct_str *name);
ct_value ct_call_builtin(ct_ctx *c, const ct_func *fn, const ct_callargs *a);
/* Runs the test named name (for select / reject); raises for an unknown test. */
bool ct_run_test_named(ct_ctx *c, const ct_str *name, ct_value v, const ct_callargs *a);
ct_value ct_run_filter_named(ct_ctx *c, const ct_str *name, ct_value v, const ct_callargs *a);

#endif
