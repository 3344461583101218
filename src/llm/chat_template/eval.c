/* The chat-template evaluator: runs the AST with jinja2's semantics.
 *
 * Scopes: the template level has one frame (the render's variables sit below it, the globals
 * below those); each for-loop iteration, macro call, call block and with block gets a new frame
 * whose assignments vanish with it, which is why templates carry state out of loops in
 * namespace() objects. Undefined values follow jinja2's default Undefined: printing or iterating
 * one gives nothing, testing it is false, but taking an attribute or item of it, calling it, or
 * doing arithmetic with it is an error. Every node evaluated and every loop iteration counts
 * against the render's limits. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "llm/chat_template/ct_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Errors and limits                                                                            */

static _Noreturn void vraise(ct_ctx *c, born_status st, const char *fmt, va_list ap) {
    char msg[900];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ct_raise(c->fail, st, c->line, c->col, "%s", msg);
}

void ct_err(ct_ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vraise(c, BORN_ERR_FORMAT, fmt, ap);
}

void ct_unsupported(ct_ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vraise(c, BORN_ERR_UNSUPPORTED, fmt, ap);
}

void ct_limit(ct_ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vraise(c, BORN_ERR_ARGUMENT, fmt, ap);
}

void ct_charge(ct_ctx *c, int64_t n) {
    c->ops += n;
    if (c->ops > c->p.max_operations)
        ct_limit(c, "the render takes more than max_operations (%lld) steps",
                 (long long)c->p.max_operations);
}

static void enter(ct_ctx *c) {
    if (++c->depth > c->p.max_depth)
        ct_limit(c, "nesting deeper than max_depth (%d)", c->p.max_depth);
}

_Noreturn static void undefined_error(ct_ctx *c, ct_value v) {
    ct_err(c, "%s", v.undef ? v.undef : "an undefined value was used");
}

/* ------------------------------------------------------------------------------------------ */
/* Frames                                                                                       */

static ct_frame *frame_new(ct_ctx *c, ct_frame *parent) {
    ct_frame *f = ct_zalloc(c->arena, sizeof *f);
    f->parent = parent;
    return f;
}

static void frame_set(ct_ctx *c, ct_frame *f, const ct_str *name, ct_value v) {
    for (size_t i = 0; i < f->len; i++)
        if (ct_str_eqs(f->vars[i].name, name)) {
            f->vars[i].value = v;
            return;
        }
    if (f->len == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        ct_var *vars = ct_alloc_array(c->arena, cap, sizeof *vars);
        if (f->len) memcpy(vars, f->vars, f->len * sizeof *vars);
        f->vars = vars;
        f->cap = cap;
    }
    f->vars[f->len].name = name;
    f->vars[f->len].value = v;
    f->len++;
}

static ct_value lookup(ct_ctx *c, const ct_str *name) {
    for (ct_frame *f = c->frame; f; f = f->parent)
        for (size_t i = f->len; i-- > 0;)
            if (ct_str_eqs(f->vars[i].name, name)) return f->vars[i].value;
    ct_value *v = ct_dict_find_str(c, c->context, name->data, name->len);
    if (v) return *v;
    ct_value g = ct_global(c, name);
    if (g.type != CT_UNDEF) return g;
    char msg[160];
    snprintf(msg, sizeof msg, "'%.100s' is undefined", name->data);
    return ct_undef(ct_cstr(c->arena, msg)->data);
}

/* ------------------------------------------------------------------------------------------ */
/* Attribute and item access                                                                    */

/* jinja2's "'dict object' has no attribute 'x'" / "has no element 3" as an Undefined. */
static ct_value missing(ct_ctx *c, ct_value obj, ct_value key) {
    ct_buf b = {0};
    ct_buf_printf(c, &b, "'%s object' has no ", ct_type_name(obj));
    if (key.type == CT_STR) {
        ct_buf_put(c, &b, "attribute ", 10);
    } else {
        ct_buf_put(c, &b, "element ", 8);
    }
    if (key.type == CT_STR && key.s->len > 200) {
        ct_buf_printf(c, &b, "'%.200s...'", key.s->data);
    } else if (key.type == CT_STR || key.type == CT_INT || key.type == CT_BOOL || key.type == CT_NONE ||
               key.type == CT_FLOAT) {
        ct_write_repr(c, &b, key);
    } else {
        ct_buf_printf(c, &b, "of type %s", ct_type_name(key));
    }
    return ct_undef(ct_buf_str(c, &b)->data);
}

static ct_value loop_attr(ct_ctx *c, ct_loop *l, const ct_str *name) {
    size_t n = l->items->len, i = l->index0;
    if (ct_str_eq(name, "index", 5)) return ct_int((int64_t)i + 1);
    if (ct_str_eq(name, "index0", 6)) return ct_int((int64_t)i);
    if (ct_str_eq(name, "revindex", 8)) return ct_int((int64_t)(n - i));
    if (ct_str_eq(name, "revindex0", 9)) return ct_int((int64_t)(n - i - 1));
    if (ct_str_eq(name, "first", 5)) return ct_bool(i == 0);
    if (ct_str_eq(name, "last", 4)) return ct_bool(i + 1 == n);
    if (ct_str_eq(name, "length", 6)) return ct_int((int64_t)n);
    if (ct_str_eq(name, "depth", 5)) return ct_int(l->depth0 + 1);
    if (ct_str_eq(name, "depth0", 6)) return ct_int(l->depth0);
    if (ct_str_eq(name, "previtem", 8))
        return i > 0 ? l->items->items[i - 1] : ct_undef("there is no previous item");
    if (ct_str_eq(name, "nextitem", 8))
        return i + 1 < n ? l->items->items[i + 1] : ct_undef("there is no next item");
    ct_value self = {.type = CT_LOOP};
    self.loop = l;
    ct_value m = ct_method(c, self, name);
    if (m.type != CT_UNDEF) return m;
    return missing(c, self, ct_strv(name));
}

ct_value ct_getattr(ct_ctx *c, ct_value obj, const ct_str *name) {
    switch (obj.type) {
    case CT_UNDEF: undefined_error(c, obj);
    case CT_DICT: {
        ct_value m = ct_method(c, obj, name);
        if (m.type != CT_UNDEF) return m;
        ct_value *v = ct_dict_find_str(c, obj.d, name->data, name->len);
        if (v) return *v;
        return missing(c, obj, ct_strv(name));
    }
    case CT_NS: {
        ct_value *v = ct_dict_find_str(c, &obj.ns->attrs, name->data, name->len);
        if (v) return *v;
        return missing(c, obj, ct_strv(name));
    }
    case CT_LOOP: return loop_attr(c, obj.loop, name);
    default: {
        ct_value m = ct_method(c, obj, name);
        if (m.type != CT_UNDEF) return m;
        return missing(c, obj, ct_strv(name));
    }
    }
}

static bool as_index(ct_value k, int64_t *i) {
    if (k.type == CT_INT) *i = k.i;
    else if (k.type == CT_BOOL) *i = k.b;
    else return false;
    return true;
}

static ct_value range_item(const ct_list *r, int64_t i) {
    return ct_int(r->start + i * r->step);
}

ct_value ct_getitem(ct_ctx *c, ct_value obj, ct_value key) {
    int64_t i;
    switch (obj.type) {
    case CT_UNDEF: undefined_error(c, obj);
    case CT_DICT: {
        if (key.type == CT_STR || key.type == CT_NONE || key.type == CT_BOOL ||
            key.type == CT_INT || key.type == CT_FLOAT ||
            (key.type == CT_LIST && key.l->kind == CT_LIST_TUPLE)) {
            ct_value *v = ct_dict_find(c, obj.d, key);
            if (v) return *v;
        }
        if (key.type == CT_STR) {
            ct_value m = ct_method(c, obj, key.s);
            if (m.type != CT_UNDEF) return m;
        }
        return missing(c, obj, key);
    }
    case CT_LIST: {
        ct_list *l = obj.l;
        bool indexable = l->kind == CT_LIST_PLAIN || l->kind == CT_LIST_TUPLE || l->kind == CT_LIST_RANGE;
        if (indexable && as_index(key, &i)) {
            int64_t n = (int64_t)l->len;
            if (i < 0) i += n;
            if (i < 0 || i >= n) return missing(c, obj, key);
            return l->items[i];
        }
        if (key.type == CT_STR) {
            ct_value m = ct_method(c, obj, key.s);
            if (m.type != CT_UNDEF) return m;
        }
        return missing(c, obj, key);
    }
    case CT_STR: {
        if (as_index(key, &i)) {
            int64_t n = (int64_t)obj.s->nchars;
            if (i < 0) i += n;
            if (i < 0 || i >= n) return missing(c, obj, key);
            size_t at = ct_utf8_offset(obj.s, (size_t)i), end = at;
            ct_utf8_next(obj.s->data, &end);
            return ct_strv(ct_str_new(c->arena, obj.s->data + at, end - at));
        }
        if (key.type == CT_STR) {
            ct_value m = ct_method(c, obj, key.s);
            if (m.type != CT_UNDEF) return m;
        }
        return missing(c, obj, key);
    }
    case CT_NS: case CT_LOOP:
        if (key.type == CT_STR) return ct_getattr(c, obj, key.s);
        return missing(c, obj, key);
    default:
        if (key.type == CT_STR) {
            ct_value m = ct_method(c, obj, key.s);
            if (m.type != CT_UNDEF) return m;
        }
        return missing(c, obj, key);
    }
}

/* Python's slice.indices(length) */
static bool slice_part(ct_ctx *c, ct_value v, int64_t *out, bool *given) {
    *given = false;
    if (v.type == CT_NONE) return true;
    if (v.type == CT_UNDEF) undefined_error(c, v);
    if (!as_index(v, out)) return false;
    *given = true;
    return true;
}

static ct_value eval(ct_ctx *c, const ct_expr *e);

static ct_value eval_slice(ct_ctx *c, ct_value obj, const ct_expr *s) {
    ct_value parts[3];
    const ct_expr *exprs[3] = {s->slice.start, s->slice.stop, s->slice.step};
    for (int k = 0; k < 3; k++) parts[k] = exprs[k] ? eval(c, exprs[k]) : ct_none();
    int64_t start = 0, stop = 0, step = 1;
    bool has_start = false, has_stop = false, has_step = false;
    bool ok = slice_part(c, parts[0], &start, &has_start) && slice_part(c, parts[1], &stop, &has_stop) &&
              slice_part(c, parts[2], &step, &has_step);
    if (obj.type == CT_UNDEF) undefined_error(c, obj);
    bool sliceable = obj.type == CT_STR ||
                     (obj.type == CT_LIST && (obj.l->kind == CT_LIST_PLAIN || obj.l->kind == CT_LIST_TUPLE ||
                                              obj.l->kind == CT_LIST_RANGE));
    if (!ok || !sliceable) return ct_undef("the value cannot be sliced with these indices");
    if (!has_step) step = 1;
    if (step == 0) ct_err(c, "slice step cannot be zero");
    if (step == INT64_MIN) step = -INT64_MAX;
    int64_t n = obj.type == CT_STR ? (int64_t)obj.s->nchars : (int64_t)obj.l->len;
    /* PySlice_AdjustIndices */
    if (!has_start) start = step < 0 ? n - 1 : 0;
    else {
        if (start < 0) {
            start += n;
            if (start < 0) start = step < 0 ? -1 : 0;
        } else if (start >= n) start = step < 0 ? n - 1 : n;
    }
    if (!has_stop) stop = step < 0 ? -1 : n;
    else {
        if (stop < 0) {
            stop += n;
            if (stop < 0) stop = step < 0 ? -1 : 0;
        } else if (stop >= n) stop = step < 0 ? n - 1 : n;
    }
    int64_t count = 0;
    if (step < 0) {
        if (stop < start) count = (start - stop - 1) / (-step) + 1;
    } else if (start < stop) {
        count = (stop - start - 1) / step + 1;
    }
    ct_charge(c, count);
    if (obj.type == CT_STR) {
        const ct_str *str = obj.s;
        if (step == 1) {
            size_t a = ct_utf8_offset(str, (size_t)start), b = ct_utf8_offset(str, (size_t)(start + count));
            return ct_strv(ct_str_new(c->arena, str->data + a, b - a));
        }
        /* code point offsets, then pick */
        size_t *offs = ct_alloc_array(c->arena, str->nchars + 1, sizeof(size_t));
        size_t i = 0, k = 0;
        while (i < str->len) {
            offs[k++] = i;
            ct_utf8_next(str->data, &i);
        }
        offs[k] = i;
        ct_buf b = {0};
        for (int64_t j = 0, x = start; j < count; j++, x += step)
            ct_buf_put(c, &b, str->data + offs[x], offs[x + 1] - offs[x]);
        return ct_strv(ct_buf_str(c, &b));
    }
    ct_list *l = obj.l;
    if (l->kind == CT_LIST_RANGE) {
        ct_list *r = ct_list_new(c->arena, (size_t)count, CT_LIST_RANGE);
        r->start = l->start + start * l->step;
        r->step = l->step * step;
        r->stop = l->start + stop * l->step;
        for (int64_t j = 0; j < count; j++) r->items[j] = range_item(r, j);
        r->len = (size_t)count;
        return ct_listv(r);
    }
    ct_list *r = ct_list_new(c->arena, (size_t)count, l->kind);
    for (int64_t j = 0, x = start; j < count; j++, x += step) r->items[j] = l->items[x];
    r->len = (size_t)count;
    return ct_listv(r);
}

/* ------------------------------------------------------------------------------------------ */
/* Arithmetic                                                                                   */

static bool is_num(ct_value v) { return v.type == CT_INT || v.type == CT_BOOL || v.type == CT_FLOAT; }
static int64_t as_i64(ct_value v) { return v.type == CT_BOOL ? v.b : v.i; }
static double as_f64(ct_value v) { return v.type == CT_FLOAT ? v.f : (double)as_i64(v); }

static const char *op_symbol(int op) {
    switch (op) {
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_FLOORDIV: return "//";
    case OP_MOD: return "%";
    default: return "** or pow()";
    }
}

_Noreturn static void operand_error(ct_ctx *c, int op, ct_value a, ct_value b) {
    if (a.type == CT_UNDEF) undefined_error(c, a);
    if (b.type == CT_UNDEF) undefined_error(c, b);
    if (op == OP_ADD && a.type == CT_STR)
        ct_err(c, "can only concatenate str (not \"%s\") to str", ct_type_name(b));
    if (op == OP_ADD && a.type == CT_LIST && a.l->kind == CT_LIST_PLAIN)
        ct_err(c, "can only concatenate list (not \"%s\") to list", ct_type_name(b));
    ct_err(c, "unsupported operand type(s) for %s: '%s' and '%s'", op_symbol(op), ct_type_name(a),
           ct_type_name(b));
}

static ct_value repeat(ct_ctx *c, ct_value seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq.type == CT_STR) {
        const ct_str *s = seq.s;
        if (s->len && (uint64_t)times > c->p.max_output / s->len)
            ct_limit(c, "the output is longer than max_output (%zu bytes)", c->p.max_output);
        ct_buf b = {0};
        for (int64_t k = 0; k < times; k++) ct_buf_put(c, &b, s->data, s->len);
        return ct_strv(ct_buf_str(c, &b));
    }
    ct_list *l = seq.l;
    if (l->len && (uint64_t)times > (uint64_t)c->p.max_iterations / l->len)
        ct_limit(c, "a list repeated beyond max_iterations (%lld) items", (long long)c->p.max_iterations);
    ct_charge(c, (int64_t)l->len * times);
    ct_list *r = ct_list_new(c->arena, l->len * (size_t)times, l->kind == CT_LIST_TUPLE ? CT_LIST_TUPLE : CT_LIST_PLAIN);
    for (int64_t k = 0; k < times; k++)
        for (size_t i = 0; i < l->len; i++) r->items[r->len++] = l->items[i];
    return ct_listv(r);
}


ct_value ct_binop(ct_ctx *c, int op, ct_value a, ct_value b) {
    if (is_num(a) && is_num(b)) {
        bool f = a.type == CT_FLOAT || b.type == CT_FLOAT;
        if (!f) {
            int64_t x = as_i64(a), y = as_i64(b), r;
            switch (op) {
            case OP_ADD:
                if (__builtin_add_overflow(x, y, &r)) break;
                return ct_int(r);
            case OP_SUB:
                if (__builtin_sub_overflow(x, y, &r)) break;
                return ct_int(r);
            case OP_MUL:
                if (__builtin_mul_overflow(x, y, &r)) break;
                return ct_int(r);
            case OP_DIV:
                if (y == 0) ct_err(c, "division by zero");
                return ct_float((double)x / (double)y);
            case OP_FLOORDIV: case OP_MOD: {
                if (y == 0) ct_err(c, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) {
                    if (op == OP_MOD) return ct_int(0);
                    break;
                }
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) {
                    q--;
                    m += y;
                }
                return ct_int(op == OP_MOD ? m : q);
            }
            case OP_POW: {
                if (y < 0) {
                    if (x == 0) ct_err(c, "0.0 cannot be raised to a negative power");
                    return ct_float(pow((double)x, (double)y));
                }
                int64_t result = 1, base = x;
                bool overflow = false;
                while (y > 0 && !overflow) {
                    if (y & 1) overflow |= __builtin_mul_overflow(result, base, &result);
                    y >>= 1;
                    if (y) overflow |= __builtin_mul_overflow(base, base, &base);
                }
                if (overflow) break;
                return ct_int(result);
            }
            default: break;
            }
            ct_unsupported(c, "integers beyond 64 bits are not supported (%s overflowed)", op_symbol(op));
        }
        double x = as_f64(a), y = as_f64(b);
        switch (op) {
        case OP_ADD: return ct_float(x + y);
        case OP_SUB: return ct_float(x - y);
        case OP_MUL: return ct_float(x * y);
        case OP_DIV:
            if (y == 0) ct_err(c, "float division by zero");
            return ct_float(x / y);
        case OP_FLOORDIV: case OP_MOD: {
            if (y == 0) ct_err(c, op == OP_MOD ? "float modulo" : "float floor division by zero");
            double mod = fmod(x, y), div = (x - mod) / y, floordiv;
            if (mod != 0) {
                if ((y < 0) != (mod < 0)) {
                    mod += y;
                    div -= 1.0;
                }
            } else {
                mod = copysign(0.0, y);
            }
            if (div != 0) {
                floordiv = floor(div);
                if (div - floordiv > 0.5) floordiv += 1.0;
            } else {
                floordiv = copysign(0.0, x / y);
            }
            return ct_float(op == OP_MOD ? mod : floordiv);
        }
        case OP_POW: {
            if (x == 0 && y < 0) ct_err(c, "0.0 cannot be raised to a negative power");
            if (x < 0 && y != floor(y) && isfinite(y))
                ct_unsupported(c, "a negative number raised to a fractional power (a complex number)");
            double r = pow(x, y);
            if (isinf(r) && isfinite(x) && isfinite(y)) ct_err(c, "(34, 'Numerical result out of range')");
            return ct_float(r);
        }
        default: break;
        }
    }
    switch (op) {
    case OP_ADD:
        if (a.type == CT_STR && b.type == CT_STR) return ct_strv(ct_str_cat(c->arena, a.s, b.s));
        if (a.type == CT_LIST && b.type == CT_LIST && a.l->kind == b.l->kind &&
            (a.l->kind == CT_LIST_PLAIN || a.l->kind == CT_LIST_TUPLE)) {
            ct_charge(c, (int64_t)(a.l->len + b.l->len));
            ct_list *r = ct_list_new(c->arena, a.l->len + b.l->len, a.l->kind);
            for (size_t i = 0; i < a.l->len; i++) r->items[r->len++] = a.l->items[i];
            for (size_t i = 0; i < b.l->len; i++) r->items[r->len++] = b.l->items[i];
            return ct_listv(r);
        }
        break;
    case OP_MUL: {
        ct_value seq = a, n = b;
        if (a.type == CT_INT || a.type == CT_BOOL) {
            seq = b;
            n = a;
        }
        if ((n.type == CT_INT || n.type == CT_BOOL) &&
            (seq.type == CT_STR || (seq.type == CT_LIST && (seq.l->kind == CT_LIST_PLAIN ||
                                                            seq.l->kind == CT_LIST_TUPLE))))
            return repeat(c, seq, as_i64(n));
        break;
    }
    case OP_MOD:
        if (a.type == CT_STR) return ct_percent_format(c, a.s, b);
        break;
    default: break;
    }
    operand_error(c, op, a, b);
}

static bool contains(ct_ctx *c, ct_value container, ct_value item) {
    switch (container.type) {
    case CT_UNDEF: return false;
    case CT_STR:
        if (item.type == CT_UNDEF) undefined_error(c, item);
        if (item.type != CT_STR)
            ct_err(c, "'in <string>' requires string as left operand, not %s", ct_type_name(item));
        ct_charge(c, (int64_t)container.s->len / 16 + 1);
        if (item.s->len == 0) return true;
        if (item.s->len > container.s->len) return false;
        for (size_t i = 0; i + item.s->len <= container.s->len; i++)
            if (memcmp(container.s->data + i, item.s->data, item.s->len) == 0) return true;
        return false;
    case CT_DICT: {
        if (item.type == CT_LIST && item.l->kind != CT_LIST_TUPLE)
            ct_err(c, "unhashable type: '%s'", ct_type_name(item));
        if (item.type == CT_DICT) ct_err(c, "unhashable type: 'dict'");
        return ct_dict_find(c, container.d, item) != NULL;
    }
    case CT_LIST: {
        ct_list *l = container.l;
        size_t from = l->kind == CT_LIST_ITER ? l->pos : 0;
        for (size_t i = from; i < l->len; i++)
            if (ct_equal(c, l->items[i], item)) {
                if (l->kind == CT_LIST_ITER) l->pos = i + 1;
                return true;
            }
        if (l->kind == CT_LIST_ITER) l->pos = l->len;
        return false;
    }
    case CT_NS:
        ct_err(c, "argument of type 'Namespace' is not iterable");
    default:
        ct_err(c, "argument of type '%s' is not iterable", ct_type_name(container));
    }
}

static bool compare_op(ct_ctx *c, int op, ct_value a, ct_value b) {
    switch (op) {
    case OP_EQ: return ct_equal(c, a, b);
    case OP_NE: return !ct_equal(c, a, b);
    case OP_IN: return contains(c, b, a);
    case OP_NOTIN: return !contains(c, b, a);
    default: break;
    }
    int r = ct_compare(c, a, b);
    switch (op) {
    case OP_LT: return r == -1;
    case OP_LTEQ: return r == -1 || r == 0;
    case OP_GT: return r == 1;
    default: return r == 1 || r == 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Calls                                                                                        */

static void eval_args(ct_ctx *c, const ct_args *args, ct_callargs *out) {
    out->npos = args->npos;
    out->nkw = args->nkw;
    out->pos = args->npos ? ct_alloc_array(c->arena, args->npos, sizeof(ct_value)) : NULL;
    out->kw_vals = args->nkw ? ct_alloc_array(c->arena, args->nkw, sizeof(ct_value)) : NULL;
    out->kw_names = args->kw_names;
    for (size_t i = 0; i < args->npos; i++) out->pos[i] = eval(c, args->pos[i]);
    for (size_t i = 0; i < args->nkw; i++) out->kw_vals[i] = eval(c, args->kw_vals[i]);
}

static int exec_block(ct_ctx *c, const ct_stmt *s);

static ct_value capture(ct_ctx *c, const ct_stmt *body, ct_frame *frame) {
    ct_buf buf = {0}, *saved_out = c->out;
    ct_frame *saved_frame = c->frame;
    c->out = &buf;
    c->frame = frame;
    exec_block(c, body);
    c->out = saved_out;
    c->frame = saved_frame;
    return ct_strv(ct_buf_str(c, &buf));
}

static ct_value call_macro(ct_ctx *c, ct_macro *m, const ct_callargs *a) {
    const ct_macro_def *d = m->def;
    int line = c->line, col = c->col;
    enter(c);
    ct_frame *f = frame_new(c, m->closure);
    bool *kw_used = a->nkw ? ct_zalloc(c->arena, a->nkw) : NULL;
    size_t npos = a->npos < d->nparams ? a->npos : d->nparams;
    bool found_caller = false;
    for (size_t i = 0; i < d->nparams; i++) {
        const ct_str *name = d->params[i];
        ct_value v;
        bool given = false;
        if (i < npos) {
            v = a->pos[i];
            given = true;
        } else {
            for (size_t k = 0; k < a->nkw; k++)
                if (!kw_used[k] && ct_str_eqs(a->kw_names[k], name)) {
                    v = a->kw_vals[k];
                    kw_used[k] = true;
                    given = true;
                    break;
                }
            if (ct_str_eq(name, "caller", 6)) found_caller = true;
        }
        if (!given) {
            size_t first_default = d->nparams - d->ndefaults;
            if (i >= first_default) {
                ct_frame *saved = c->frame;
                c->frame = f;
                v = eval(c, d->defaults[i - first_default]);
                c->frame = saved;
            } else {
                char msg[160];
                snprintf(msg, sizeof msg, "parameter '%.100s' was not provided", name->data);
                v = ct_undef(ct_cstr(c->arena, msg)->data);
            }
        }
        frame_set(c, f, name, v);
    }
    if (d->uses_caller && !found_caller) {
        ct_value caller = m->caller.type != CT_UNDEF ? m->caller : ct_undef("No caller defined");
        for (size_t k = 0; k < a->nkw; k++)
            if (!kw_used[k] && ct_str_eq(a->kw_names[k], "caller", 6)) {
                caller = a->kw_vals[k];
                kw_used[k] = true;
            }
        frame_set(c, f, ct_cstr(c->arena, "caller"), caller);
    }
    ct_dict *kwargs = ct_dict_new(c->arena, 0);
    for (size_t k = 0; k < a->nkw; k++) {
        if (kw_used[k]) continue;
        if (!d->uses_kwargs) {
            c->line = line;
            c->col = col;
            ct_err(c, "macro '%s' takes no keyword argument '%s'", d->name->data, a->kw_names[k]->data);
        }
        ct_dict_set(c, kwargs, ct_strv(a->kw_names[k]), a->kw_vals[k]);
    }
    if (d->uses_kwargs) frame_set(c, f, ct_cstr(c->arena, "kwargs"), ct_dictv(kwargs));
    if (a->npos > d->nparams && !d->uses_varargs) {
        c->line = line;
        c->col = col;
        ct_err(c, "macro '%s' takes not more than %zu argument(s)", d->name->data, d->nparams);
    }
    if (d->uses_varargs) {
        ct_list *va = ct_list_new(c->arena, a->npos > d->nparams ? a->npos - d->nparams : 0, CT_LIST_TUPLE);
        for (size_t i = d->nparams; i < a->npos; i++) va->items[va->len++] = a->pos[i];
        frame_set(c, f, ct_cstr(c->arena, "varargs"), ct_listv(va));
    }
    ct_value r = capture(c, d->body, f);
    c->depth--;
    c->line = line;
    c->col = col;
    return r;
}

ct_value ct_call_value(ct_ctx *c, ct_value callee, const ct_callargs *a) {
    switch (callee.type) {
    case CT_FUNC: return ct_call_builtin(c, callee.fn, a);
    case CT_MACRO: return call_macro(c, callee.m, a);
    case CT_UNDEF: undefined_error(c, callee);
    default: ct_err(c, "'%s' object is not callable", ct_type_name(callee));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Expressions                                                                                  */

static ct_value eval(ct_ctx *c, const ct_expr *e) {
    ct_charge(c, 1);
    enter(c);
    int line = c->line, col = c->col;
    c->line = e->line;
    c->col = e->col;
    ct_value r;
    switch (e->kind) {
    case E_CONST: r = e->constant; break;
    case E_NAME: r = lookup(c, e->name); break;
    case E_LIST: case E_TUPLE: {
        ct_list *l = ct_list_new(c->arena, e->seq.n, e->kind == E_TUPLE ? CT_LIST_TUPLE : CT_LIST_PLAIN);
        for (size_t i = 0; i < e->seq.n; i++) l->items[l->len++] = eval(c, e->seq.items[i]);
        r = ct_listv(l);
        break;
    }
    case E_DICT: {
        ct_dict *d = ct_dict_new(c->arena, e->dict.n);
        for (size_t i = 0; i < e->dict.n; i++) {
            ct_value k = eval(c, e->dict.keys[i]);
            ct_value v = eval(c, e->dict.vals[i]);
            c->line = e->line;
            c->col = e->col;
            ct_dict_set(c, d, k, v);
        }
        r = ct_dictv(d);
        break;
    }
    case E_GETATTR: {
        ct_value obj = eval(c, e->getattr.obj);
        c->line = e->line;
        c->col = e->col;
        r = ct_getattr(c, obj, e->getattr.attr);
        break;
    }
    case E_GETITEM: {
        ct_value obj = eval(c, e->getitem.obj);
        if (e->getitem.index->kind == E_SLICE) {
            r = eval_slice(c, obj, e->getitem.index);
        } else {
            ct_value key = eval(c, e->getitem.index);
            c->line = e->line;
            c->col = e->col;
            r = ct_getitem(c, obj, key);
        }
        break;
    }
    case E_SLICE: ct_err(c, "a slice outside of a subscript");
    case E_CALL: {
        ct_value callee = eval(c, e->call.callee);
        ct_callargs a;
        eval_args(c, &e->call.args, &a);
        c->line = e->line;
        c->col = e->col;
        r = ct_call_value(c, callee, &a);
        break;
    }
    case E_FILTER: {
        ct_value v = eval(c, e->filter.obj);
        ct_callargs a;
        eval_args(c, &e->filter.args, &a);
        c->line = e->line;
        c->col = e->col;
        r = e->filter.def->fn(c, v, &a);
        break;
    }
    case E_TEST: {
        ct_value v = eval(c, e->test.obj);
        ct_callargs a;
        eval_args(c, &e->test.args, &a);
        c->line = e->line;
        c->col = e->col;
        r = ct_bool(e->test.def->fn(c, v, &a));
        break;
    }
    case E_BINARY: {
        ct_value a = eval(c, e->bin.a);
        ct_value b = eval(c, e->bin.b);
        c->line = e->line;
        c->col = e->col;
        r = ct_binop(c, e->op, a, b);
        break;
    }
    case E_CONCAT: {
        ct_buf b = {0};
        for (size_t i = 0; i < e->seq.n; i++) {
            ct_value v = eval(c, e->seq.items[i]);
            c->line = e->line;
            c->col = e->col;
            ct_write_str(c, &b, v);
        }
        r = ct_strv(ct_buf_str(c, &b));
        break;
    }
    case E_AND: {
        ct_value a = eval(c, e->bin.a);
        r = ct_truthy(c, a) ? eval(c, e->bin.b) : a;
        break;
    }
    case E_OR: {
        ct_value a = eval(c, e->bin.a);
        r = ct_truthy(c, a) ? a : eval(c, e->bin.b);
        break;
    }
    case E_NOT: r = ct_bool(!ct_truthy(c, eval(c, e->operand))); break;
    case E_NEG: case E_POS: {
        ct_value v = eval(c, e->operand);
        c->line = e->line;
        c->col = e->col;
        if (v.type == CT_UNDEF) undefined_error(c, v);
        if (v.type == CT_FLOAT) r = ct_float(e->kind == E_NEG ? -v.f : v.f);
        else if (v.type == CT_INT || v.type == CT_BOOL) {
            int64_t x = as_i64(v);
            if (e->kind == E_NEG && x == INT64_MIN) ct_unsupported(c, "integers beyond 64 bits are not supported");
            r = ct_int(e->kind == E_NEG ? -x : x);
        } else {
            ct_err(c, "bad operand type for unary %s: '%s'", e->kind == E_NEG ? "-" : "+", ct_type_name(v));
        }
        break;
    }
    case E_COMPARE: {
        ct_value left = eval(c, e->cmp.first);
        bool ok = true;
        for (size_t i = 0; i < e->cmp.n && ok; i++) {
            ct_value right = eval(c, e->cmp.rest[i]);
            c->line = e->line;
            c->col = e->col;
            ok = compare_op(c, e->cmp.ops[i], left, right);
            left = right;
        }
        r = ct_bool(ok);
        break;
    }
    case E_COND:
        if (ct_truthy(c, eval(c, e->cond.test))) r = eval(c, e->cond.then);
        else if (e->cond.otherwise) r = eval(c, e->cond.otherwise);
        else r = ct_undef("the inline if-expression evaluated to false and no else section was defined");
        break;
    case E_HOLE: r = c->hole; break;
    default: ct_err(c, "internal error: unknown expression");
    }
    c->depth--;
    c->line = line;
    c->col = col;
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Statements                                                                                   */

enum { FLOW_NORMAL = 0, FLOW_BREAK, FLOW_CONTINUE };

static void assign(ct_ctx *c, const ct_target *t, ct_value v) {
    c->line = t->line;
    c->col = t->col;
    switch (t->kind) {
    case TG_NAME: frame_set(c, c->frame, t->name, v); return;
    case TG_NSREF: {
        ct_value ns = lookup(c, t->name);
        if (ns.type != CT_NS) ct_err(c, "cannot assign attribute on non-namespace object");
        ct_dict_set(c, &ns.ns->attrs, ct_strv(t->attr), v);
        return;
    }
    default: {
        if (v.type == CT_UNDEF) undefined_error(c, v);
        ct_list *items = ct_iterate(c, v);
        if (items->len < t->n)
            ct_err(c, "not enough values to unpack (expected %zu, got %zu)", t->n, items->len);
        if (items->len > t->n) ct_err(c, "too many values to unpack (expected %zu)", t->n);
        for (size_t i = 0; i < t->n; i++) assign(c, t->items[i], items->items[i]);
        return;
    }
    }
}

static void write_value(ct_ctx *c, ct_value v) { ct_write_str(c, c->out, v); }

static int exec_for(ct_ctx *c, const ct_stmt *s) {
    ct_value iterable = eval(c, s->for_.iter);
    c->line = s->line;
    c->col = s->col;
    if (iterable.type == CT_NONE) ct_err(c, "'NoneType' object is not iterable");
    ct_list *items = ct_iterate(c, iterable);
    ct_frame *outer = c->frame;
    if (s->for_.filter) {
        ct_list *kept = ct_list_new(c->arena, 0, CT_LIST_PLAIN);
        for (size_t i = 0; i < items->len; i++) {
            if (++c->iterations > c->p.max_iterations)
                ct_limit(c, "more than max_iterations (%lld) loop iterations", (long long)c->p.max_iterations);
            c->frame = frame_new(c, outer);
            assign(c, s->for_.target, items->items[i]);
            bool keep = ct_truthy(c, eval(c, s->for_.filter));
            c->frame = outer;
            if (keep) ct_list_push(c->arena, kept, items->items[i]);
        }
        items = kept;
    }
    if (items->len == 0) {
        if (s->for_.otherwise) {
            c->frame = frame_new(c, outer);
            int flow = exec_block(c, s->for_.otherwise);
            c->frame = outer;
            return flow;
        }
        return FLOW_NORMAL;
    }
    ct_loop *loop = ct_zalloc(c->arena, sizeof *loop);
    loop->items = items;
    ct_value loopv = {.type = CT_LOOP};
    loopv.loop = loop;
    const ct_str *loop_name = ct_str_new(c->arena, "loop", 4);
    c->loop_depth++;
    for (size_t i = 0; i < items->len; i++) {
        if (++c->iterations > c->p.max_iterations) {
            c->line = s->line;
            c->col = s->col;
            ct_limit(c, "more than max_iterations (%lld) loop iterations", (long long)c->p.max_iterations);
        }
        loop->index0 = i;
        c->frame = frame_new(c, outer);
        frame_set(c, c->frame, loop_name, loopv);
        assign(c, s->for_.target, items->items[i]);
        int flow = exec_block(c, s->for_.body);
        c->frame = outer;
        if (flow == FLOW_BREAK) break;
    }
    c->loop_depth--;
    return FLOW_NORMAL;
}

static int exec_stmt(ct_ctx *c, const ct_stmt *s) {
    c->line = s->line;
    c->col = s->col;
    ct_charge(c, 1);
    switch (s->kind) {
    case S_DATA: ct_buf_put(c, c->out, s->data.text, s->data.len); return FLOW_NORMAL;
    case S_OUTPUT:
        for (size_t i = 0; i < s->output.n; i++) {
            ct_value v = eval(c, s->output.exprs[i]);
            c->line = s->output.exprs[i]->line;
            c->col = s->output.exprs[i]->col;
            write_value(c, v);
        }
        return FLOW_NORMAL;
    case S_IF:
        for (const ct_stmt *node = s;;) {
            if (ct_truthy(c, eval(c, node->if_.test))) return exec_block(c, node->if_.body);
            if (node->if_.elif) {
                node = node->if_.otherwise;
                continue;
            }
            return node->if_.otherwise ? exec_block(c, node->if_.otherwise) : FLOW_NORMAL;
        }
    case S_FOR: return exec_for(c, s);
    case S_SET: {
        ct_value v = eval(c, s->set.value);
        assign(c, s->set.target, v);
        return FLOW_NORMAL;
    }
    case S_SET_BLOCK: {
        ct_value v = capture(c, s->set_block.body, c->frame);
        if (s->set_block.filter) {
            ct_value saved = c->hole;
            c->hole = v;
            v = eval(c, s->set_block.filter);
            c->hole = saved;
        }
        assign(c, s->set_block.target, v);
        return FLOW_NORMAL;
    }
    case S_MACRO: {
        ct_macro *m = ct_zalloc(c->arena, sizeof *m);
        m->def = s->macro;
        m->closure = c->frame;
        ct_value v = {.type = CT_MACRO};
        v.m = m;
        frame_set(c, c->frame, s->macro->name, v);
        return FLOW_NORMAL;
    }
    case S_CALL_BLOCK: {
        const ct_expr *call = s->call_block.call;
        ct_macro *caller = ct_zalloc(c->arena, sizeof *caller);
        caller->def = s->call_block.caller;
        caller->closure = c->frame;
        ct_value callerv = {.type = CT_MACRO};
        callerv.m = caller;
        ct_value callee = eval(c, call->call.callee);
        ct_callargs a;
        eval_args(c, &call->call.args, &a);
        c->line = call->line;
        c->col = call->col;
        ct_value r;
        if (callee.type == CT_MACRO) {
            ct_macro with = *callee.m;
            with.caller = callerv;
            r = call_macro(c, &with, &a);
        } else {
            /* pass caller= as a keyword argument */
            ct_callargs b = a;
            b.nkw = a.nkw + 1;
            b.kw_names = ct_alloc_array(c->arena, b.nkw, sizeof(ct_str *));
            b.kw_vals = ct_alloc_array(c->arena, b.nkw, sizeof(ct_value));
            for (size_t k = 0; k < a.nkw; k++) {
                b.kw_names[k] = a.kw_names[k];
                b.kw_vals[k] = a.kw_vals[k];
            }
            b.kw_names[a.nkw] = ct_cstr(c->arena, "caller");
            b.kw_vals[a.nkw] = callerv;
            r = ct_call_value(c, callee, &b);
        }
        write_value(c, r);
        return FLOW_NORMAL;
    }
    case S_FILTER_BLOCK: {
        ct_value v = capture(c, s->filter_block.body, c->frame);
        ct_value saved = c->hole;
        c->hole = v;
        v = eval(c, s->filter_block.filter);
        c->hole = saved;
        write_value(c, v);
        return FLOW_NORMAL;
    }
    case S_WITH: {
        ct_frame *outer = c->frame, *f = frame_new(c, outer);
        for (size_t i = 0; i < s->with.n; i++) {
            ct_value v = eval(c, s->with.values[i]);
            c->frame = f;
            assign(c, s->with.targets[i], v);
            c->frame = outer;
        }
        c->frame = f;
        int flow = exec_block(c, s->with.body);
        c->frame = outer;
        return flow;
    }
    case S_BREAK: return FLOW_BREAK;
    case S_CONTINUE: return FLOW_CONTINUE;
    case S_SCOPE: return exec_block(c, s->scope);
    default: ct_err(c, "internal error: unknown statement");
    }
}

static int exec_block(ct_ctx *c, const ct_stmt *s) {
    enter(c);
    int flow = FLOW_NORMAL;
    for (; s && flow == FLOW_NORMAL; s = s->next) flow = exec_stmt(c, s);
    c->depth--;
    return flow;
}

void ct_exec(ct_ctx *c, const ct_stmt *body) { exec_block(c, body); }
