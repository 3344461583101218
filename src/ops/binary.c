/* Binary elementwise ops with broadcasting and type promotion, their scalar and in-place forms,
 * and each op's backward rule. */
#include <math.h>
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"

static const char *const binary_names[BORN_BINARY_OP_COUNT] = {
    [BORN_BINARY_ADD] = "add",
    [BORN_BINARY_SUB] = "sub",
    [BORN_BINARY_MUL] = "mul",
    [BORN_BINARY_DIV] = "div",
    [BORN_BINARY_FLOOR_DIVIDE] = "floor_divide",
    [BORN_BINARY_REMAINDER] = "remainder",
    [BORN_BINARY_FMOD] = "fmod",
    [BORN_BINARY_POW] = "pow",
    [BORN_BINARY_MINIMUM] = "minimum",
    [BORN_BINARY_MAXIMUM] = "maximum",
    [BORN_BINARY_ATAN2] = "atan2",
    [BORN_BINARY_EQ] = "eq",
    [BORN_BINARY_NE] = "ne",
    [BORN_BINARY_LT] = "lt",
    [BORN_BINARY_LE] = "le",
    [BORN_BINARY_GT] = "gt",
    [BORN_BINARY_GE] = "ge",
    [BORN_BINARY_LOGICAL_AND] = "logical_and",
    [BORN_BINARY_LOGICAL_OR] = "logical_or",
    [BORN_BINARY_LOGICAL_XOR] = "logical_xor",
};

const char *born_binary_op_name(born_binary_op op) {
    return (unsigned)op < BORN_BINARY_OP_COUNT ? binary_names[op] : "invalid";
}

static bool is_comparison(born_binary_op op) { return op >= BORN_BINARY_EQ && op <= BORN_BINARY_GE; }
static bool is_logical(born_binary_op op) { return op >= BORN_BINARY_LOGICAL_AND; }

/* The compute dtype and result dtype of op on operands promoting to `promoted`. */
static bool binary_dtypes(born_binary_op op, born_dtype promoted, born_dtype *compute,
                          born_dtype *out, const char *name) {
    if (is_logical(op)) {
        *compute = *out = BORN_BOOL;
        return true;
    }
    *compute = promoted;
    if ((op == BORN_BINARY_DIV || op == BORN_BINARY_ATAN2) && !born_dtype_is_floating(promoted))
        *compute = BORN_F32;
    if (promoted == BORN_BOOL && !is_comparison(op) && op != BORN_BINARY_ADD &&
        op != BORN_BINARY_MUL && op != BORN_BINARY_MINIMUM && op != BORN_BINARY_MAXIMUM &&
        *compute == BORN_BOOL) {
        born_error(BORN_ERR_DTYPE, "%s: not defined for two bool tensors (use logical ops, or "
                   "convert with born_to_dtype)", name);
        return false;
    }
    *out = is_comparison(op) ? BORN_BOOL : *compute;
    return true;
}

static bool is_half(born_dtype d) { return d == BORN_F16 || d == BORN_BF16; }

/* Writes op(a, b) into out (broadcast shape, result dtype); no autograd. If out shares storage
 * with an input in any other layout, the input is copied first so no element is read after it
 * was overwritten. Half-precision results with an operand of another dtype (an f32 scalar, an
 * integer tensor) are computed in f32 from the operands as they are and rounded once, as
 * PyTorch does, rather than rounding the other operand to half first. */
static born_status binary_compute(born_binary_op op, born_tensor *a, born_tensor *b,
                                  born_dtype compute, born_tensor *out) {
    const born_backend *be = ops_backend(out);
    if (!be) return born_last_status();
    if (is_half(compute) && (a->dtype != compute || b->dtype != compute)) compute = BORN_F32;
    /* an f32 result from an f32 operand and a half one: a backend with binary_half_operand reads
     * the half one as it is */
    bool half_ok = be->binary_half_operand && compute == BORN_F32 && out->dtype == BORN_F32 &&
                   !is_comparison(op) && !is_logical(op) &&
                   ((is_half(a->dtype) && b->dtype == BORN_F32) ||
                    (is_half(b->dtype) && a->dtype == BORN_F32));
    bool keep_a = a->dtype == compute || (half_ok && is_half(a->dtype));
    bool keep_b = b->dtype == compute || (half_ok && is_half(b->dtype));
    born_tensor *ca = keep_a && !ops_partial_overlap(out, a) ? ops_alias(a) : ops_cast(a, compute);
    born_tensor *cb = keep_b && !ops_partial_overlap(out, b) ? ops_alias(b) : ops_cast(b, compute);
    /* the kernel writes the compute dtype (or bool); a half result is rounded afterwards */
    bool round_after = out->dtype != BORN_BOOL && out->dtype != compute;
    born_tensor *dst = round_after && ca && cb ? ops_empty(compute, out->ndim, out->shape, out->storage->device)
                                               : (ca && cb ? ops_alias(out) : NULL);
    born_status st = born_last_status();
    if (dst) {
        born_strided o = strided_of(dst);
        born_strided sa = strided_broadcast(ca, out->ndim, out->shape);
        born_strided sb = strided_broadcast(cb, out->ndim, out->shape);
        st = be->binary ? be->binary(op, &o, &sa, &sb)
                        : born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device",
                                     binary_names[op]);
        if (st == BORN_OK && round_after) {
            born_strided final = strided_of(out), from = strided_of(dst);
            st = be->copy(&final, &from);
        }
    }
    born_free(dst);
    born_free(ca);
    born_free(cb);
    return st;
}

/* ---- backward ---------------------------------------------------------------------------- */

typedef struct binary_node_params {
    born_binary_op op;
} binary_node_params;

/* Gradients of op(a, b); the engine sums them back to each input's shape and dtype. */
static born_status binary_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    born_binary_op op = ((const binary_node_params *)node_params(n))->op;
    born_tensor *a = node_saved(n, 0), *b = node_saved(n, 1);
    bool ga = node_needs_grad(n, 0), gb = node_needs_grad(n, 1);
    switch (op) {
    case BORN_BINARY_ADD:
        if (ga) gi[0] = g;
        if (gb) gi[1] = g;
        break;
    case BORN_BINARY_SUB:
        if (ga) gi[0] = g;
        if (gb) gi[1] = born_neg(g);
        break;
    case BORN_BINARY_MUL:
        if (ga) gi[0] = born_mul(g, b);
        if (gb) gi[1] = born_mul(g, a);
        break;
    case BORN_BINARY_DIV: {
        born_tensor *g_over_b = born_div(g, b);
        if (ga) gi[0] = g_over_b;
        if (gb) gi[1] = born_neg(born_mul(g_over_b, born_div(a, b))); /* -g a / b^2 */
        break;
    }
    case BORN_BINARY_REMAINDER: /* a - b floor(a / b) */
        if (ga) gi[0] = g;
        if (gb) gi[1] = born_neg(born_mul(g, born_floor_divide(a, b)));
        break;
    case BORN_BINARY_FMOD: /* a - b trunc(a / b) */
        if (ga) gi[0] = g;
        if (gb) gi[1] = born_neg(born_mul(g, born_trunc(born_div(a, b))));
        break;
    case BORN_BINARY_POW:
        if (ga) { /* b a^(b-1), zero where b == 0 */
            born_tensor *d = born_mul(b, born_pow(a, born_sub_scalar(b, 1.0)));
            d = born_masked_fill(d, born_eq_scalar(b, 0.0), 0.0);
            gi[0] = born_mul(g, d);
        }
        if (gb) { /* a^b log a, zero where a == 0 and b >= 0 (as torch) */
            born_tensor *d = born_mul(born_pow(a, b), born_log(a));
            born_tensor *zero = born_logical_and(born_eq_scalar(a, 0.0), born_ge_scalar(b, 0.0));
            gi[1] = born_mul(g, born_masked_fill(d, zero, 0.0));
        }
        break;
    case BORN_BINARY_MINIMUM:
    case BORN_BINARY_MAXIMUM: { /* the winner takes the gradient; ties share it */
        bool max = op == BORN_BINARY_MAXIMUM;
        born_tensor *half_tie = born_mul_scalar(born_to_dtype(born_eq(a, b), g->dtype), 0.5);
        if (ga) {
            born_tensor *wins = born_to_dtype(max ? born_gt(a, b) : born_lt(a, b), g->dtype);
            gi[0] = born_mul(g, born_add(wins, half_tie));
        }
        if (gb) {
            born_tensor *wins = born_to_dtype(max ? born_lt(a, b) : born_gt(a, b), g->dtype);
            gi[1] = born_mul(g, born_add(wins, half_tie));
        }
        break;
    }
    case BORN_BINARY_ATAN2: { /* d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2) */
        born_tensor *g_over_r2 = born_div(g, born_add(born_square(a), born_square(b)));
        if (ga) gi[0] = born_mul(g_over_r2, b);
        if (gb) gi[1] = born_neg(born_mul(g_over_r2, a));
        break;
    }
    default: break; /* floor_divide: zero gradient */
    }
    return BORN_OK;
}

static const char *backward_name(born_binary_op op) {
    switch (op) {
    case BORN_BINARY_ADD: return "AddBackward";
    case BORN_BINARY_SUB: return "SubBackward";
    case BORN_BINARY_MUL: return "MulBackward";
    case BORN_BINARY_DIV: return "DivBackward";
    case BORN_BINARY_FLOOR_DIVIDE: return "FloorDivideBackward";
    case BORN_BINARY_REMAINDER: return "RemainderBackward";
    case BORN_BINARY_FMOD: return "FmodBackward";
    case BORN_BINARY_POW: return "PowBackward";
    case BORN_BINARY_MINIMUM: return "MinimumBackward";
    case BORN_BINARY_MAXIMUM: return "MaximumBackward";
    case BORN_BINARY_ATAN2: return "Atan2Backward";
    default: return "BinaryBackward";
    }
}

/* Which operands the rule reads (others are not saved, so their memory can go early). */
static void saved_operands(born_binary_op op, bool *save_a, bool *save_b) {
    *save_a = *save_b = true;
    if (op == BORN_BINARY_ADD || op == BORN_BINARY_SUB) *save_a = *save_b = false;
}

/* ---- forward ----------------------------------------------------------------------------- */

/* op(a, b) as a new tensor, recorded for autograd. */
static born_tensor *binary_op(born_binary_op op, born_tensor *a, born_tensor *b, const char *name) {
    born_tensor *args[2] = {a, b};
    if (!ops_check_inputs(name, 2, args)) return NULL;
    born_device device;
    if (!ops_check_device(name, 2, args, &device)) return NULL;
    born_dtype compute, out_dtype;
    if (!binary_dtypes(op, ops_result_type(2, args), &compute, &out_dtype, name)) return NULL;
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    if (ops_broadcast_shapes(name, 2, args, &ndim, shape) != BORN_OK) return NULL;
    born_tensor *out = ops_empty(out_dtype, ndim, shape, device);
    if (!out) return NULL;
    if (binary_compute(op, a, b, compute, out) != BORN_OK) {
        born_free(out);
        return NULL;
    }
    if (!born_dtype_is_floating(out_dtype)) return out; /* comparisons, integers: no gradient */
    bool sa, sb;
    saved_operands(op, &sa, &sb);
    born_tensor *save[2] = {sa ? a : NULL, sb ? b : NULL};
    binary_node_params np = {op};
    if (!autograd_record(out, backward_name(op), binary_backward, 2, args, 2, save, &np, sizeof np)) {
        born_free(out);
        return NULL;
    }
    return out;
}

born_tensor *born_binary(born_binary_op op, born_tensor *a, born_tensor *b) {
    if ((unsigned)op >= BORN_BINARY_OP_COUNT)
        return born_error_null(BORN_ERR_ARGUMENT, "born_binary: invalid op %d", (int)op);
    char name[48];
    snprintf(name, sizeof name, "born_%s", binary_names[op]);
    return binary_op(op, a, b, name);
}

born_status born_binary_out(born_binary_op op, born_tensor *out, born_tensor *a, born_tensor *b) {
    if ((unsigned)op >= BORN_BINARY_OP_COUNT)
        return born_error(BORN_ERR_ARGUMENT, "born_binary_out: invalid op %d", (int)op);
    char name[48];
    snprintf(name, sizeof name, "born_%s_out", binary_names[op]);
    born_tensor *args[3] = {out, a, b};
    if (!ops_check_inputs(name, 3, args)) return born_last_status();
    if (!ops_check_device(name, 3, args, NULL)) return born_last_status();
    if (!ops_check_inplace(name, 3, args)) return born_last_status();
    born_dtype compute, out_dtype;
    if (!binary_dtypes(op, ops_result_type(2, args + 1), &compute, &out_dtype, name))
        return born_last_status();
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    if (ops_broadcast_shapes(name, 2, args + 1, &ndim, shape) != BORN_OK) return born_last_status();
    if (out->dtype != out_dtype || out->ndim != ndim ||
        memcmp(out->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0) {
        char o[200], s[160];
        return born_error(BORN_ERR_SHAPE, "%s: out is %s but the result is %s %s", name,
                          ops_describe(out, o, sizeof o), shape_str(ndim, shape, s, sizeof s),
                          born_dtype_name(out_dtype));
    }
    born_status st = binary_compute(op, a, b, compute, out);
    if (st == BORN_OK) storage_bump_version(out->storage);
    return st;
}

/* op(t, s) with s a Python float: a 0-dim tensor of the result's dtype broadcast in. */
born_tensor *born_binary_scalar(born_binary_op op, born_tensor *t, double s) {
    if ((unsigned)op >= BORN_BINARY_OP_COUNT)
        return born_error_null(BORN_ERR_ARGUMENT, "born_binary_scalar: invalid op %d", (int)op);
    char name[48];
    snprintf(name, sizeof name, "born_%s_scalar", binary_names[op]);
    if (!ops_check_inputs(name, 1, &t)) return NULL;
    /* a half tensor's scalar stays f32, so it is not rounded to half before the op */
    born_dtype st = is_logical(op) ? BORN_BOOL
                  : is_half(t->dtype) ? BORN_F32 : ops_result_type_float_scalar(t->dtype);
    born_tensor *scalar = ops_scalar_on(st, s, t->storage->device);
    if (!scalar) return NULL;
    born_tensor *out = binary_op(op, t, scalar, name);
    born_free(scalar);
    return out;
}

#define BINARY_FN(name, OP)                                                                      \
    born_tensor *born_##name(born_tensor *a, born_tensor *b) {                                    \
        return binary_op(BORN_BINARY_##OP, a, b, "born_" #name);                                  \
    }

BINARY_FN(add, ADD)
BINARY_FN(sub, SUB)
BINARY_FN(mul, MUL)
BINARY_FN(div, DIV)
BINARY_FN(floor_divide, FLOOR_DIVIDE)
BINARY_FN(remainder, REMAINDER)
BINARY_FN(fmod, FMOD)
BINARY_FN(pow, POW)
BINARY_FN(minimum, MINIMUM)
BINARY_FN(maximum, MAXIMUM)
BINARY_FN(atan2, ATAN2)
BINARY_FN(eq, EQ)
BINARY_FN(ne, NE)
BINARY_FN(lt, LT)
BINARY_FN(le, LE)
BINARY_FN(gt, GT)
BINARY_FN(ge, GE)
BINARY_FN(logical_and, LOGICAL_AND)
BINARY_FN(logical_or, LOGICAL_OR)
BINARY_FN(logical_xor, LOGICAL_XOR)

#define SCALAR_FN(name, OP)                                                                      \
    born_tensor *born_##name##_scalar(born_tensor *t, double s) {                                 \
        return born_binary_scalar(BORN_BINARY_##OP, t, s);                                        \
    }

SCALAR_FN(add, ADD)
SCALAR_FN(sub, SUB)
SCALAR_FN(mul, MUL)
SCALAR_FN(div, DIV)
SCALAR_FN(eq, EQ)
SCALAR_FN(ne, NE)
SCALAR_FN(lt, LT)
SCALAR_FN(le, LE)
SCALAR_FN(gt, GT)
SCALAR_FN(ge, GE)

born_tensor *born_rsub_scalar(born_tensor *t, double s) {
    if (!ops_check_inputs("born_rsub_scalar", 1, &t)) return NULL;
    born_dtype st = is_half(t->dtype) ? BORN_F32 : ops_result_type_float_scalar(t->dtype);
    born_tensor *scalar = ops_scalar_on(st, s, t->storage->device);
    if (!scalar) return NULL;
    born_tensor *out = binary_op(BORN_BINARY_SUB, scalar, t, "born_rsub_scalar");
    born_free(scalar);
    return out;
}

/* ---- in place ---------------------------------------------------------------------------- */

born_status born_add_(born_tensor *dst, born_tensor *o) { return born_binary_out(BORN_BINARY_ADD, dst, dst, o); }
born_status born_sub_(born_tensor *dst, born_tensor *o) { return born_binary_out(BORN_BINARY_SUB, dst, dst, o); }
born_status born_mul_(born_tensor *dst, born_tensor *o) { return born_binary_out(BORN_BINARY_MUL, dst, dst, o); }
born_status born_div_(born_tensor *dst, born_tensor *o) { return born_binary_out(BORN_BINARY_DIV, dst, dst, o); }

static born_status scalar_inplace(born_binary_op op, born_tensor *dst, double s, const char *name) {
    if (!ops_check_inputs(name, 1, &dst)) return born_last_status();
    /* the scalar is a Python float, as everywhere: an integer dst cannot hold the f32 result */
    born_dtype sd = is_half(dst->dtype) ? BORN_F32 : ops_result_type_float_scalar(dst->dtype);
    born_tensor *scalar = ops_scalar_on(sd, s, dst->storage->device);
    if (!scalar) return born_last_status();
    born_status st = born_binary_out(op, dst, dst, scalar);
    born_free(scalar);
    return st;
}

born_status born_mul_scalar_(born_tensor *dst, double s) { return scalar_inplace(BORN_BINARY_MUL, dst, s, "born_mul_scalar_"); }
born_status born_add_scalar_(born_tensor *dst, double s) { return scalar_inplace(BORN_BINARY_ADD, dst, s, "born_add_scalar_"); }
