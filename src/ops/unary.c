/* Unary elementwise ops: dtype rules, dispatch, and each op's backward rule beside it. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "autograd/node.h"
#include "ops/op_util.h"
#include "ops/ops_internal.h"

static const char *const unary_names[BORN_UNARY_OP_COUNT] = {
    [BORN_UNARY_NEG] = "neg",         [BORN_UNARY_ABS] = "abs",
    [BORN_UNARY_SIGN] = "sign",       [BORN_UNARY_SQUARE] = "square",
    [BORN_UNARY_RECIPROCAL] = "reciprocal", [BORN_UNARY_EXP] = "exp",
    [BORN_UNARY_EXP2] = "exp2",       [BORN_UNARY_EXPM1] = "expm1",
    [BORN_UNARY_LOG] = "log",         [BORN_UNARY_LOG2] = "log2",
    [BORN_UNARY_LOG1P] = "log1p",     [BORN_UNARY_SQRT] = "sqrt",
    [BORN_UNARY_RSQRT] = "rsqrt",     [BORN_UNARY_SIN] = "sin",
    [BORN_UNARY_COS] = "cos",         [BORN_UNARY_TAN] = "tan",
    [BORN_UNARY_TANH] = "tanh",       [BORN_UNARY_SIGMOID] = "sigmoid",
    [BORN_UNARY_RELU] = "relu",       [BORN_UNARY_GELU] = "gelu",
    [BORN_UNARY_GELU_TANH] = "gelu_tanh", [BORN_UNARY_SILU] = "silu",
    [BORN_UNARY_ERF] = "erf",         [BORN_UNARY_FLOOR] = "floor",
    [BORN_UNARY_CEIL] = "ceil",       [BORN_UNARY_ROUND] = "round",
    [BORN_UNARY_TRUNC] = "trunc",     [BORN_UNARY_LOGICAL_NOT] = "logical_not",
    [BORN_UNARY_ISNAN] = "isnan",     [BORN_UNARY_ISINF] = "isinf",
    [BORN_UNARY_ISFINITE] = "isfinite", [BORN_UNARY_LEAKY_RELU] = "leaky_relu",
    [BORN_UNARY_ELU] = "elu",         [BORN_UNARY_SOFTPLUS] = "softplus",
    [BORN_UNARY_CLAMP] = "clamp",     [BORN_UNARY_POW_SCALAR] = "pow_scalar",
};

const char *born_unary_op_name(born_unary_op op) {
    return (unsigned)op < BORN_UNARY_OP_COUNT ? unary_names[op] : "invalid";
}

/* How an op treats dtypes. */
typedef enum unary_kind {
    KIND_FLOAT,     /* real math: integer and bool inputs compute in f32 */
    KIND_KEEP,      /* keeps any numeric dtype; not for bool */
    KIND_ROUNDING,  /* floats round; integers and bool are returned unchanged */
    KIND_PREDICATE, /* any dtype in, bool out */
    KIND_LOGICAL    /* any dtype in (as nonzero), bool out */
} unary_kind;

static unary_kind kind_of(born_unary_op op) {
    switch (op) {
    case BORN_UNARY_NEG:
    case BORN_UNARY_ABS:
    case BORN_UNARY_SIGN:
    case BORN_UNARY_SQUARE:
    case BORN_UNARY_RELU:
    case BORN_UNARY_CLAMP: return KIND_KEEP;
    case BORN_UNARY_FLOOR:
    case BORN_UNARY_CEIL:
    case BORN_UNARY_ROUND:
    case BORN_UNARY_TRUNC: return KIND_ROUNDING;
    case BORN_UNARY_ISNAN:
    case BORN_UNARY_ISINF:
    case BORN_UNARY_ISFINITE: return KIND_PREDICATE;
    case BORN_UNARY_LOGICAL_NOT: return KIND_LOGICAL;
    default: return KIND_FLOAT;
    }
}

/* The dtype the kernel computes in and the result dtype; false with an error if undefined. */
static bool unary_dtypes(born_unary_op op, born_dtype in, born_dtype *compute, born_dtype *out) {
    switch (kind_of(op)) {
    case KIND_FLOAT: *compute = *out = born_dtype_is_floating(in) ? in : BORN_F32; return true;
    case KIND_KEEP:
        if (in == BORN_BOOL) {
            born_error(BORN_ERR_DTYPE, "born_%s: not defined for bool tensors", unary_names[op]);
            return false;
        }
        *compute = *out = in;
        return true;
    case KIND_ROUNDING: *compute = *out = in; return true;
    case KIND_PREDICATE: *compute = in; *out = BORN_BOOL; return true;
    case KIND_LOGICAL: *compute = BORN_BOOL; *out = BORN_BOOL; return true;
    }
    return false;
}

/* Integer clamp bounds must fit the dtype before the kernel converts them. */
static born_unary_params clamp_bounds_for(born_dtype d, born_unary_params p) {
    if (!born_dtype_is_integer(d)) return p;
    double lo = 0, hi = 0;
    switch (d) {
    case BORN_I8: lo = -128; hi = 127; break;
    case BORN_I16: lo = -32768; hi = 32767; break;
    case BORN_I32: lo = -2147483648.0; hi = 2147483647.0; break;
    case BORN_U8: lo = 0; hi = 255; break;
    default: lo = -9223372036854775808.0; hi = 9223372036854774784.0; break;
    }
    if (p.alpha < lo) p.alpha = lo;
    if (p.alpha > hi) p.alpha = hi;
    if (p.beta > hi) p.beta = hi;
    if (p.beta < lo) p.beta = lo;
    return p;
}

/* The result of op(t): validates dtypes and options, and allocates it; no autograd. */
static born_tensor *unary_alloc(born_unary_op op, born_tensor *t, const born_unary_params *params,
                                const char *name) {
    born_dtype compute, out_dtype;
    if (!unary_dtypes(op, t->dtype, &compute, &out_dtype)) return NULL;
    if (op == BORN_UNARY_CLAMP && params && params->alpha > params->beta)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: min %g is greater than max %g", name,
                               params->alpha, params->beta);
    return ops_empty(out_dtype, t->ndim, t->shape, t->storage->device);
}

/* Writes op(t) into out (already of the right shape and dtype); no autograd. */
static born_status unary_compute(born_unary_op op, born_tensor *t, const born_unary_params *params,
                                 born_tensor *out, const char *name) {
    born_dtype compute, out_dtype;
    if (!unary_dtypes(op, t->dtype, &compute, &out_dtype)) return born_last_status();
    const born_backend *be = ops_backend(t);
    if (!be) return born_last_status();
    born_strided o = strided_of(out);
    if (kind_of(op) == KIND_PREDICATE && !born_dtype_is_floating(t->dtype))
        return be->fill(&o, op == BORN_UNARY_ISFINITE ? 1.0 : 0.0); /* integers are finite */
    if (kind_of(op) == KIND_ROUNDING && !born_dtype_is_floating(t->dtype)) {
        born_strided s = strided_of(t);
        return be->copy(&o, &s);
    }
    if (!be->unary)
        return born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", name);
    born_tensor *in = ops_partial_overlap(out, t) ? ops_cast(t, compute) : ops_as_dtype(t, compute);
    if (!in) return born_last_status();
    born_strided s = strided_of(in);
    born_unary_params p = params ? *params : (born_unary_params){0, 0};
    if (op == BORN_UNARY_CLAMP) p = clamp_bounds_for(compute, p);
    born_status st = be->unary(op, &o, &s, &p);
    born_free(in);
    return st;
}

/* ---- backward ---------------------------------------------------------------------------- */

typedef struct unary_node_params {
    born_unary_op op;
    born_unary_params p;
} unary_node_params;

/* Whether rules use the backend's fused unary_backward (tests switch it off to run the composite
 * rules, the reference). */
static atomic_bool fused_backward_on = true;

void ops_set_fused_unary_backward(bool on) { atomic_store(&fused_backward_on, on); }

static bool has_fused_backward(born_unary_op op) {
    switch (op) {
    case BORN_UNARY_RELU:
    case BORN_UNARY_LEAKY_RELU:
    case BORN_UNARY_ELU:
    case BORN_UNARY_SOFTPLUS:
    case BORN_UNARY_SIGMOID:
    case BORN_UNARY_TANH:
    case BORN_UNARY_SILU:
    case BORN_UNARY_GELU:
    case BORN_UNARY_GELU_TANH: return true;
    default: return false;
    }
}

/* g * f'(x) in one pass through the backend's unary_backward: a new tensor of x's shape and dtype
 * in *out, or *out NULL (and no error) when the fused form does not apply (another op, a device
 * without the entry, a dtype or a shape of g that differs from x's). */
static born_status fused_backward(const unary_node_params *np, born_tensor *g, born_tensor *x,
                                  born_tensor *y, born_tensor **out) {
    *out = NULL;
    if (!atomic_load(&fused_backward_on) || !has_fused_backward(np->op)) return BORN_OK;
    if (!born_dtype_is_floating(x->dtype) || g->dtype != x->dtype || (y && y->dtype != x->dtype) ||
        g->ndim != x->ndim || memcmp(g->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim) != 0 ||
        !born_device_equal(g->storage->device, x->storage->device))
        return BORN_OK;
    const born_backend *be = ops_backend(x);
    if (!be) return born_last_status();
    if (!be->unary_backward) return BORN_OK;
    born_tensor *r = ops_empty(x->dtype, x->ndim, x->shape, x->storage->device);
    if (!r) return born_last_status();
    born_strided so = strided_of(r), sg = strided_of(g), sx = strided_of(x);
    born_strided sy = y ? strided_of(y) : sx;
    born_status st = be->unary_backward(np->op, &so, &sg, &sx, &sy, &np->p);
    if (st != BORN_OK) {
        born_free(r);
        return st;
    }
    *out = r;
    return BORN_OK;
}

/* g * f'(x) for each differentiable op; x is saved input 0, y the saved output 1. */
static born_status unary_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const unary_node_params *np = node_params(n);
    born_tensor *x = node_saved(n, 0), *y = node_saved(n, 1);
    born_status fst = fused_backward(np, g, x, y, &gi[0]);
    if (fst != BORN_OK || gi[0]) return fst;
    double a = np->p.alpha, b = np->p.beta;
    born_tensor *d = NULL; /* f'(x), or the whole gradient when set directly below */
    switch (np->op) {
    case BORN_UNARY_NEG: gi[0] = born_neg(g); return BORN_OK;
    case BORN_UNARY_ABS: d = born_sign(x); break;
    case BORN_UNARY_SQUARE: d = born_mul_scalar(x, 2.0); break;
    case BORN_UNARY_RECIPROCAL: d = born_neg(born_square(y)); break;
    case BORN_UNARY_EXP: d = y; break;
    case BORN_UNARY_EXP2: d = born_mul_scalar(y, M_LN2); break;
    case BORN_UNARY_EXPM1: d = born_add_scalar(y, 1.0); break;
    case BORN_UNARY_LOG: gi[0] = born_div(g, x); return BORN_OK;
    case BORN_UNARY_LOG2: gi[0] = born_div(g, born_mul_scalar(x, M_LN2)); return BORN_OK;
    case BORN_UNARY_LOG1P: gi[0] = born_div(g, born_add_scalar(x, 1.0)); return BORN_OK;
    case BORN_UNARY_SQRT: gi[0] = born_div(g, born_mul_scalar(y, 2.0)); return BORN_OK;
    case BORN_UNARY_RSQRT: d = born_mul_scalar(born_pow_scalar(y, 3.0), -0.5); break;
    case BORN_UNARY_SIN: d = born_cos(x); break;
    case BORN_UNARY_COS: d = born_neg(born_sin(x)); break;
    case BORN_UNARY_TAN: d = born_add_scalar(born_square(y), 1.0); break;
    case BORN_UNARY_TANH: d = born_rsub_scalar(born_square(y), 1.0); break;
    case BORN_UNARY_SIGMOID: d = born_mul(y, born_rsub_scalar(y, 1.0)); break;
    case BORN_UNARY_RELU:
        d = born_to_dtype(born_gt_scalar(x, 0.0), g->dtype);
        break;
    case BORN_UNARY_GELU: { /* Phi(x) + x phi(x) */
        born_tensor *cdf = born_mul_scalar(born_add_scalar(born_erf(born_mul_scalar(x, M_SQRT1_2)), 1.0), 0.5);
        born_tensor *pdf = born_mul_scalar(born_exp(born_mul_scalar(born_square(x), -0.5)),
                                           0.39894228040143267794); /* 1 / sqrt(2 pi) */
        d = born_add(cdf, born_mul(x, pdf));
        break;
    }
    case BORN_UNARY_GELU_TANH: { /* 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3c x^2) */
        const double k = 0.7978845608028654, c = 0.044715;
        born_tensor *x2 = born_square(x);
        born_tensor *inner = born_mul_scalar(born_mul(x, born_add_scalar(born_mul_scalar(x2, c), 1.0)), k);
        born_tensor *t = born_tanh(inner);
        born_tensor *left = born_mul_scalar(born_add_scalar(t, 1.0), 0.5);
        born_tensor *dinner = born_mul_scalar(born_add_scalar(born_mul_scalar(x2, 3.0 * c), 1.0), k);
        born_tensor *right = born_mul(born_mul_scalar(born_mul(x, born_rsub_scalar(born_square(t), 1.0)), 0.5), dinner);
        d = born_add(left, right);
        break;
    }
    case BORN_UNARY_SILU: { /* s (1 + x (1 - s)) */
        born_tensor *s = born_sigmoid(x);
        d = born_mul(s, born_add_scalar(born_mul(x, born_rsub_scalar(s, 1.0)), 1.0));
        break;
    }
    case BORN_UNARY_ERF:
        d = born_mul_scalar(born_exp(born_neg(born_square(x))), 1.1283791670955126); /* 2/sqrt(pi) */
        break;
    case BORN_UNARY_LEAKY_RELU:
        d = born_where(born_gt_scalar(x, 0.0), born_ones_like(g), born_full_like(g, a));
        break;
    case BORN_UNARY_ELU:
        d = born_where(born_gt_scalar(x, 0.0), born_ones_like(g), born_add_scalar(y, a));
        break;
    case BORN_UNARY_SOFTPLUS: { /* sigmoid(beta x), 1 past the threshold */
        born_tensor *bx = born_mul_scalar(x, a);
        d = born_where(born_gt_scalar(bx, b), born_ones_like(g), born_sigmoid(bx));
        break;
    }
    case BORN_UNARY_CLAMP:
        d = born_to_dtype(born_logical_and(born_ge_scalar(x, a), born_le_scalar(x, b)), g->dtype);
        break;
    case BORN_UNARY_POW_SCALAR:
        if (a == 0.0) return BORN_OK; /* constant: no gradient */
        d = born_mul_scalar(born_pow_scalar(x, a - 1.0), a);
        break;
    default: return BORN_OK; /* sign, rounding: zero gradient almost everywhere */
    }
    gi[0] = born_mul(g, d);
    return BORN_OK;
}

/* Whether the rule needs the output (saved so the rule need not recompute it). */
static bool needs_output(born_unary_op op) {
    switch (op) {
    case BORN_UNARY_RECIPROCAL:
    case BORN_UNARY_EXP:
    case BORN_UNARY_EXP2:
    case BORN_UNARY_EXPM1:
    case BORN_UNARY_SQRT:
    case BORN_UNARY_RSQRT:
    case BORN_UNARY_TAN:
    case BORN_UNARY_TANH:
    case BORN_UNARY_SIGMOID:
    case BORN_UNARY_ELU: return true;
    default: return false;
    }
}

static const char *backward_name(born_unary_op op) {
    static const char *const names[BORN_UNARY_OP_COUNT] = {
        [BORN_UNARY_NEG] = "NegBackward",   [BORN_UNARY_ABS] = "AbsBackward",
        [BORN_UNARY_SIGN] = "SignBackward", [BORN_UNARY_SQUARE] = "SquareBackward",
        [BORN_UNARY_RECIPROCAL] = "ReciprocalBackward", [BORN_UNARY_EXP] = "ExpBackward",
        [BORN_UNARY_EXP2] = "Exp2Backward", [BORN_UNARY_EXPM1] = "Expm1Backward",
        [BORN_UNARY_LOG] = "LogBackward",   [BORN_UNARY_LOG2] = "Log2Backward",
        [BORN_UNARY_LOG1P] = "Log1pBackward", [BORN_UNARY_SQRT] = "SqrtBackward",
        [BORN_UNARY_RSQRT] = "RsqrtBackward", [BORN_UNARY_SIN] = "SinBackward",
        [BORN_UNARY_COS] = "CosBackward",   [BORN_UNARY_TAN] = "TanBackward",
        [BORN_UNARY_TANH] = "TanhBackward", [BORN_UNARY_SIGMOID] = "SigmoidBackward",
        [BORN_UNARY_RELU] = "ReluBackward", [BORN_UNARY_GELU] = "GeluBackward",
        [BORN_UNARY_GELU_TANH] = "GeluTanhBackward", [BORN_UNARY_SILU] = "SiluBackward",
        [BORN_UNARY_ERF] = "ErfBackward",   [BORN_UNARY_FLOOR] = "FloorBackward",
        [BORN_UNARY_CEIL] = "CeilBackward", [BORN_UNARY_ROUND] = "RoundBackward",
        [BORN_UNARY_TRUNC] = "TruncBackward", [BORN_UNARY_LEAKY_RELU] = "LeakyReluBackward",
        [BORN_UNARY_ELU] = "EluBackward",   [BORN_UNARY_SOFTPLUS] = "SoftplusBackward",
        [BORN_UNARY_CLAMP] = "ClampBackward", [BORN_UNARY_POW_SCALAR] = "PowBackward",
    };
    return names[op] ? names[op] : "UnaryBackward";
}

born_tensor *born_unary(born_unary_op op, born_tensor *t, const born_unary_params *params) {
    if ((unsigned)op >= BORN_UNARY_OP_COUNT)
        return born_error_null(BORN_ERR_ARGUMENT, "born_unary: invalid op %d", (int)op);
    char name[48];
    snprintf(name, sizeof name, "born_%s", unary_names[op]);
    if (!ops_check_inputs(name, 1, &t)) return NULL;
    born_tensor *out = unary_alloc(op, t, params, name);
    if (!out) return NULL;
    if (unary_compute(op, t, params, out, name) != BORN_OK) {
        born_free(out);
        return NULL;
    }
    if (out->dtype == BORN_BOOL || !born_dtype_is_floating(t->dtype)) return out;
    unary_node_params np = {op, params ? *params : (born_unary_params){0, 0}};
    born_tensor *save[2] = {t, needs_output(op) ? out : NULL};
    if (!autograd_record(out, backward_name(op), unary_backward, 1, &t, 2, save, &np, sizeof np)) {
        born_free(out);
        return NULL;
    }
    return out;
}

born_status born_unary_out(born_unary_op op, born_tensor *out, born_tensor *t,
                           const born_unary_params *params) {
    if ((unsigned)op >= BORN_UNARY_OP_COUNT)
        return born_error(BORN_ERR_ARGUMENT, "born_unary_out: invalid op %d", (int)op);
    born_tensor *args[2] = {out, t};
    if (!ops_check_inputs("born_unary_out", 2, args)) return born_last_status();
    if (!ops_check_device("born_unary_out", 2, args, NULL)) return born_last_status();
    if (!ops_check_inplace("born_unary_out", 2, args)) return born_last_status();
    born_dtype compute, out_dtype;
    if (!unary_dtypes(op, t->dtype, &compute, &out_dtype)) return born_last_status();
    if (out_dtype != out->dtype || t->ndim != out->ndim ||
        memcmp(t->shape, out->shape, sizeof(int64_t) * (size_t)out->ndim) != 0) {
        char a[200], b[200];
        return born_error(BORN_ERR_SHAPE, "born_unary_out: %s of %s gives %s values of that "
                          "shape, but out is %s", unary_names[op], ops_describe(t, b, sizeof b),
                          born_dtype_name(out_dtype), ops_describe(out, a, sizeof a));
    }
    born_status st = unary_compute(op, t, params, out, "born_unary_out");
    if (st == BORN_OK) storage_bump_version(out->storage);
    return st;
}

#define UNARY_FN(name, OP)                                                                       \
    born_tensor *born_##name(born_tensor *t) { return born_unary(BORN_UNARY_##OP, t, NULL); }

UNARY_FN(neg, NEG)
UNARY_FN(abs, ABS)
UNARY_FN(sign, SIGN)
UNARY_FN(square, SQUARE)
UNARY_FN(reciprocal, RECIPROCAL)
UNARY_FN(exp, EXP)
UNARY_FN(exp2, EXP2)
UNARY_FN(expm1, EXPM1)
UNARY_FN(log, LOG)
UNARY_FN(log2, LOG2)
UNARY_FN(log1p, LOG1P)
UNARY_FN(sqrt, SQRT)
UNARY_FN(rsqrt, RSQRT)
UNARY_FN(sin, SIN)
UNARY_FN(cos, COS)
UNARY_FN(tan, TAN)
UNARY_FN(tanh, TANH)
UNARY_FN(sigmoid, SIGMOID)
UNARY_FN(relu, RELU)
UNARY_FN(gelu, GELU)
UNARY_FN(gelu_tanh, GELU_TANH)
UNARY_FN(silu, SILU)
UNARY_FN(erf, ERF)
UNARY_FN(floor, FLOOR)
UNARY_FN(ceil, CEIL)
UNARY_FN(round, ROUND)
UNARY_FN(trunc, TRUNC)
UNARY_FN(logical_not, LOGICAL_NOT)
UNARY_FN(isnan, ISNAN)
UNARY_FN(isinf, ISINF)
UNARY_FN(isfinite, ISFINITE)

static born_tensor *unary2(born_unary_op op, born_tensor *t, double alpha, double beta) {
    born_unary_params p = {alpha, beta};
    return born_unary(op, t, &p);
}

born_tensor *born_leaky_relu(born_tensor *t, double slope) { return unary2(BORN_UNARY_LEAKY_RELU, t, slope, 0); }
born_tensor *born_elu(born_tensor *t, double alpha) { return unary2(BORN_UNARY_ELU, t, alpha, 0); }
born_tensor *born_softplus(born_tensor *t, double beta, double threshold) {
    return unary2(BORN_UNARY_SOFTPLUS, t, beta, threshold);
}
born_tensor *born_clamp(born_tensor *t, double min, double max) { return unary2(BORN_UNARY_CLAMP, t, min, max); }
born_tensor *born_pow_scalar(born_tensor *t, double e) { return unary2(BORN_UNARY_POW_SCALAR, t, e, 0); }
