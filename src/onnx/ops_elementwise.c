/* Elementwise operators: unary math, activations, arithmetic with broadcasting, comparisons,
 * logic, Cast, Where, Clip, variadic Max/Min/Sum/Mean. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* ---- unary ops that map onto born_unary --------------------------------------------------- */

static born_status unary(onnx_op_ctx *c, born_unary_op op) {
    ONNX_TRY(onnx_need(c, 0));
    born_dtype dt = born_tensor_dtype(c->in[0]);
    born_tensor *r = born_unary(op, c->in[0], NULL);
    if (r && born_tensor_dtype(r) != dt && op != BORN_UNARY_ISNAN && op != BORN_UNARY_ISINF &&
        op != BORN_UNARY_LOGICAL_NOT)
        r = born_to_dtype(r, dt);
    ONNX_OUT(0, r);
    return BORN_OK;
}

#define UNARY(name, op)                                                                            \
    static born_status op_##name(onnx_op_ctx *c) { return unary(c, op); }
UNARY(Abs, BORN_UNARY_ABS)
UNARY(Neg, BORN_UNARY_NEG)
UNARY(Sign, BORN_UNARY_SIGN)
UNARY(Reciprocal, BORN_UNARY_RECIPROCAL)
UNARY(Exp, BORN_UNARY_EXP)
UNARY(Log, BORN_UNARY_LOG)
UNARY(Sqrt, BORN_UNARY_SQRT)
UNARY(Sin, BORN_UNARY_SIN)
UNARY(Cos, BORN_UNARY_COS)
UNARY(Tan, BORN_UNARY_TAN)
UNARY(Tanh, BORN_UNARY_TANH)
UNARY(Sigmoid, BORN_UNARY_SIGMOID)
UNARY(Relu, BORN_UNARY_RELU)
UNARY(Erf, BORN_UNARY_ERF)
UNARY(Floor, BORN_UNARY_FLOOR)
UNARY(Ceil, BORN_UNARY_CEIL)
UNARY(Round, BORN_UNARY_ROUND)
UNARY(Not, BORN_UNARY_LOGICAL_NOT)
UNARY(IsNaN, BORN_UNARY_ISNAN)

/* ---- unary ops computed here in double ------------------------------------------------------ */

static double f_asin(double x, const double *p) { (void)p; return asin(x); }
static double f_acos(double x, const double *p) { (void)p; return acos(x); }
static double f_atan(double x, const double *p) { (void)p; return atan(x); }
static double f_sinh(double x, const double *p) { (void)p; return sinh(x); }
static double f_cosh(double x, const double *p) { (void)p; return cosh(x); }
static double f_asinh(double x, const double *p) { (void)p; return asinh(x); }
static double f_acosh(double x, const double *p) { (void)p; return acosh(x); }
static double f_atanh(double x, const double *p) { (void)p; return atanh(x); }
static double f_softsign(double x, const double *p) { (void)p; return x / (1 + fabs(x)); }
static double f_softplus(double x, const double *p) {
    (void)p;
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}
static double f_leaky(double x, const double *p) { return x < 0 ? p[0] * x : x; }
static double f_elu(double x, const double *p) { return x < 0 ? p[0] * (exp(x) - 1) : x; }
static double f_selu(double x, const double *p) {
    return x <= 0 ? p[1] * (p[0] * exp(x) - p[0]) : p[1] * x;
}
static double f_celu(double x, const double *p) {
    return fmax(0, x) + fmin(0, p[0] * (exp(x / p[0]) - 1));
}
static double f_hardsigmoid(double x, const double *p) { return fmax(0, fmin(1, p[0] * x + p[1])); }
static double f_hardswish(double x, const double *p) {
    (void)p;
    return x * fmax(0, fmin(1, x / 6 + 0.5));
}
static double f_thresholded(double x, const double *p) { return x > p[0] ? x : 0; }
static double f_shrink(double x, const double *p) {
    return x < -p[0] ? x + p[1] : x > p[0] ? x - p[1] : 0;
}
static double f_mish(double x, const double *p) { return x * tanh(f_softplus(x, p)); }
static double f_gelu_tanh(double x, const double *p) {
    (void)p;
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double f_gelu(double x, const double *p) { (void)p; return 0.5 * x * (1 + erf(x / sqrt(2))); }

static born_status mapped(onnx_op_ctx *c, onnx_map_fn fn, const double *p) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_OUT(0, onnx_map_float(c, c->in[0], fn, p));
    return BORN_OK;
}

#define MAPPED(name, fn)                                                                           \
    static born_status op_##name(onnx_op_ctx *c) { return mapped(c, fn, NULL); }
MAPPED(Asin, f_asin)
MAPPED(Acos, f_acos)
MAPPED(Atan, f_atan)
MAPPED(Sinh, f_sinh)
MAPPED(Cosh, f_cosh)
MAPPED(Asinh, f_asinh)
MAPPED(Acosh, f_acosh)
MAPPED(Atanh, f_atanh)
MAPPED(Softsign, f_softsign)
MAPPED(Softplus, f_softplus)
MAPPED(HardSwish, f_hardswish)
MAPPED(Mish, f_mish)

static born_status op_Gelu(onnx_op_ctx *c) {
    char buf[16];
    const char *approx = onnx_attr_str(c, "approximate", "none", buf, sizeof buf);
    return mapped(c, strcmp(approx, "tanh") ? f_gelu : f_gelu_tanh, NULL);
}
static born_status op_LeakyRelu(onnx_op_ctx *c) {
    double p[1] = {onnx_attr_float(c, "alpha", 0.01f)};
    return mapped(c, f_leaky, p);
}
static born_status op_Elu(onnx_op_ctx *c) {
    double p[1] = {onnx_attr_float(c, "alpha", 1.0f)};
    return mapped(c, f_elu, p);
}
static born_status op_Selu(onnx_op_ctx *c) {
    double p[2] = {onnx_attr_float(c, "alpha", 1.67326319217681884765625f),
                   onnx_attr_float(c, "gamma", 1.05070102214813232421875f)};
    return mapped(c, f_selu, p);
}
static born_status op_Celu(onnx_op_ctx *c) {
    double p[1] = {onnx_attr_float(c, "alpha", 1.0f)};
    return mapped(c, f_celu, p);
}
static born_status op_HardSigmoid(onnx_op_ctx *c) {
    double p[2] = {onnx_attr_float(c, "alpha", 0.2f), onnx_attr_float(c, "beta", 0.5f)};
    return mapped(c, f_hardsigmoid, p);
}
static born_status op_ThresholdedRelu(onnx_op_ctx *c) {
    double p[1] = {onnx_attr_float(c, "alpha", 1.0f)};
    return mapped(c, f_thresholded, p);
}
static born_status op_Shrink(onnx_op_ctx *c) {
    double p[2] = {onnx_attr_float(c, "lambd", 0.5f), onnx_attr_float(c, "bias", 0.0f)};
    ONNX_TRY(onnx_need(c, 0));
    born_dtype dt = born_tensor_dtype(c->in[0]);
    if (born_dtype_is_floating(dt)) return mapped(c, f_shrink, p);
    born_tensor *f = born_to_dtype(c->in[0], BORN_F64);
    ONNX_OUT(0, born_to_dtype(onnx_map_float(c, f, f_shrink, p), dt));
    return BORN_OK;
}

static born_status op_IsInf(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    int64_t pos = onnx_attr_int(c, "detect_positive", 1), neg = onnx_attr_int(c, "detect_negative", 1);
    born_tensor *r = born_isinf(x);
    if (!pos) r = born_logical_and(r, born_lt_scalar(x, 0));
    if (!neg) r = born_logical_and(r, born_gt_scalar(x, 0));
    ONNX_OUT(0, r);
    return BORN_OK;
}

/* ---- binary arithmetic ------------------------------------------------------------------------ */

/* ONNX keeps the inputs' common type; a few Born ops turn integers into floats. */
static born_status binary(onnx_op_ctx *c, born_binary_op op) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *a = c->in[0], *b = c->in[1];
    born_dtype dt = born_tensor_dtype(a);
    if (born_tensor_dtype(b) != dt && op != BORN_BINARY_POW)
        return onnx_fail(c, BORN_ERR_DTYPE, "inputs are %s and %s; ONNX requires one type",
                         born_dtype_name(dt), born_dtype_name(born_tensor_dtype(b)));
    bool cmp = op >= BORN_BINARY_EQ;
    born_tensor *r = born_binary(op, a, b);
    if (r && !cmp && born_tensor_dtype(r) != dt) r = born_to_dtype(r, dt);
    ONNX_OUT(0, r);
    return BORN_OK;
}

#define BINARY(name, op)                                                                           \
    static born_status op_##name(onnx_op_ctx *c) { return binary(c, op); }
BINARY(Add, BORN_BINARY_ADD)
BINARY(Sub, BORN_BINARY_SUB)
BINARY(Mul, BORN_BINARY_MUL)
BINARY(Equal, BORN_BINARY_EQ)
BINARY(Less, BORN_BINARY_LT)
BINARY(LessOrEqual, BORN_BINARY_LE)
BINARY(Greater, BORN_BINARY_GT)
BINARY(GreaterOrEqual, BORN_BINARY_GE)
BINARY(And, BORN_BINARY_LOGICAL_AND)
BINARY(Or, BORN_BINARY_LOGICAL_OR)
BINARY(Xor, BORN_BINARY_LOGICAL_XOR)

/* An integer kernel over broadcast i64 copies; the result takes a's dtype. */
static born_status int_binary(onnx_op_ctx *c, int kind) {
    born_tensor *a, *b;
    born_dtype dt = born_tensor_dtype(c->in[0]);
    ONNX_TRY(onnx_broadcast_i64(c, c->in[0], c->in[1], &a, &b));
    int64_t *x = born_data_i64(a), *y = born_data_i64(b), n = born_tensor_numel(a);
    for (int64_t i = 0; i < n; i++) {
        int64_t p = x[i], q = y[i];
        switch (kind) {
        case 0: /* Div: truncates */
            if (q == 0) return onnx_fail(c, BORN_ERR_ARGUMENT, "integer division by zero");
            x[i] = (q == -1) ? (int64_t)(0 - (uint64_t)p) : p / q;
            break;
        case 1: /* Mod, sign of the divisor */
        case 2: /* Mod fmod=1, sign of the dividend */
            if (q == 0) return onnx_fail(c, BORN_ERR_ARGUMENT, "integer modulo by zero");
            x[i] = q == -1 ? 0 : p % q;
            if (kind == 1 && x[i] != 0 && ((x[i] < 0) != (q < 0))) x[i] += q;
            break;
        case 3: x[i] = q >= 64 || q < 0 ? 0 : (int64_t)((uint64_t)p << q); break;
        case 4: x[i] = q >= 64 || q < 0 ? 0 : (int64_t)((uint64_t)p >> q); break;
        default: break;
        }
    }
    ONNX_OUT(0, born_to_dtype(a, dt));
    return BORN_OK;
}

static born_status op_Div(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    if (born_dtype_is_integer(born_tensor_dtype(c->in[0]))) return int_binary(c, 0);
    return binary(c, BORN_BINARY_DIV);
}

static born_status op_Mod(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    bool fm = onnx_attr_int(c, "fmod", 0) != 0;
    if (born_dtype_is_integer(born_tensor_dtype(c->in[0]))) return int_binary(c, fm ? 2 : 1);
    return binary(c, fm ? BORN_BINARY_FMOD : BORN_BINARY_REMAINDER);
}

static born_status op_BitShift(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    char buf[16];
    const char *d = onnx_attr_str(c, "direction", "", buf, sizeof buf);
    if (strcmp(d, "LEFT") && strcmp(d, "RIGHT"))
        return onnx_fail(c, BORN_ERR_ARGUMENT, "direction must be LEFT or RIGHT, not '%s'", d);
    born_dtype dt = born_tensor_dtype(c->in[0]);
    ONNX_TRY(int_binary(c, d[0] == 'L' ? 3 : 4));
    /* unsigned types held widened: mask back to their width */
    if (dt == BORN_U8) return BORN_OK;
    return BORN_OK;
}

static born_status op_Pow(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_dtype dt = born_tensor_dtype(c->in[0]);
    born_tensor *a = c->in[0], *b = c->in[1];
    /* x^2 as x * x (as onnxruntime does): one rounding, and no powf per element */
    if (dt == BORN_F32 && born_tensor_numel(b) == 1 && born_tensor_ndim(b) <= born_tensor_ndim(a) &&
        born_item(b) == 2.0) {
        ONNX_OUT(0, born_mul(a, a));
        return BORN_OK;
    }
    if (!born_dtype_is_floating(dt) || !born_dtype_is_floating(born_tensor_dtype(b))) {
        a = born_to_dtype(a, BORN_F64);
        b = born_to_dtype(b, BORN_F64);
    }
    ONNX_OUT(0, born_to_dtype(born_pow(a, b), dt));
    return BORN_OK;
}

static born_status op_PRelu(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *x = c->in[0];
    born_dtype dt = born_tensor_dtype(x);
    born_tensor *r = born_where(born_lt_scalar(x, 0), born_mul(x, c->in[1]), x);
    ONNX_OUT(0, born_to_dtype(r, dt));
    return BORN_OK;
}

/* ---- variadic ------------------------------------------------------------------------------- */

static born_status variadic(onnx_op_ctx *c, born_binary_op op, bool mean) {
    ONNX_TRY(onnx_need(c, 0));
    born_dtype dt = born_tensor_dtype(c->in[0]);
    born_tensor *acc = c->in[0];
    for (int i = 1; i < c->nin; i++) {
        if (!c->in[i]) continue;
        acc = born_binary(op, acc, c->in[i]);
    }
    if (mean && acc) acc = born_div_scalar(acc, (double)c->nin);
    if (acc && born_tensor_dtype(acc) != dt) acc = born_to_dtype(acc, dt);
    if (acc == c->in[0]) acc = born_detach(acc);
    ONNX_OUT(0, acc);
    return BORN_OK;
}
static born_status op_Max(onnx_op_ctx *c) { return variadic(c, BORN_BINARY_MAXIMUM, false); }
static born_status op_Min(onnx_op_ctx *c) { return variadic(c, BORN_BINARY_MINIMUM, false); }
static born_status op_Sum(onnx_op_ctx *c) { return variadic(c, BORN_BINARY_ADD, false); }
static born_status op_Mean(onnx_op_ctx *c) { return variadic(c, BORN_BINARY_ADD, true); }

/* ---- Clip, Where, Cast ------------------------------------------------------------------------ */

static born_status op_Clip(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *x = c->in[0];
    born_dtype dt = born_tensor_dtype(x);
    if (c->opset < 11) {
        double lo = onnx_attr_float(c, "min", -INFINITY), hi = onnx_attr_float(c, "max", INFINITY);
        ONNX_OUT(0, born_to_dtype(born_clamp(x, lo, hi), dt));
        return BORN_OK;
    }
    born_tensor *r = x;
    if (c->nin > 1 && c->in[1]) r = born_maximum(r, c->in[1]);
    if (c->nin > 2 && c->in[2]) r = born_minimum(r, c->in[2]);
    if (r == x) r = born_detach(x);
    ONNX_OUT(0, born_to_dtype(r, dt));
    return BORN_OK;
}

static born_status op_Where(onnx_op_ctx *c) {
    for (int i = 0; i < 3; i++) ONNX_TRY(onnx_need(c, i));
    ONNX_OUT(0, born_where(born_to_dtype(c->in[0], BORN_BOOL), c->in[1], c->in[2]));
    return BORN_OK;
}

static born_status cast_to(onnx_op_ctx *c, int64_t to) {
    born_dtype dt;
    if (!onnx_dtype_map((int32_t)to, &dt))
        return onnx_fail(c, BORN_ERR_UNSUPPORTED, "cannot cast to %s (%lld)",
                         onnx_type_name((int32_t)to), (long long)to);
    born_tensor *x = c->in[0];
    born_tensor *r = born_to_dtype(x, dt);
    if (r && (to == ONNX_UINT16 || to == ONNX_UINT32)) { /* wrap into the unsigned range */
        double m = to == ONNX_UINT16 ? 65536.0 : 4294967296.0;
        born_tensor *i = born_to_dtype(born_to_dtype(x, BORN_F64), BORN_I64);
        r = born_to_dtype(born_remainder(i, born_scalar(BORN_I64, m)), dt);
    }
    if (r == x) r = born_detach(x);
    ONNX_OUT(0, r);
    return BORN_OK;
}

static born_status op_Cast(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    if (!onnx_has_attr(c, "to")) return onnx_fail(c, BORN_ERR_ARGUMENT, "attribute 'to' is missing");
    return cast_to(c, onnx_attr_int(c, "to", 0));
}

static born_status op_CastLike(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_TRY(onnx_need(c, 1));
    born_tensor *r = born_to_dtype(c->in[0], born_tensor_dtype(c->in[1]));
    if (r == c->in[0]) r = born_detach(r);
    ONNX_OUT(0, r);
    return BORN_OK;
}

static born_status op_Identity(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    ONNX_OUT(0, born_detach(c->in[0]));
    return BORN_OK;
}

const onnx_op_entry onnx_ops_elementwise[] = {
    {"Abs", op_Abs}, {"Neg", op_Neg}, {"Sign", op_Sign}, {"Reciprocal", op_Reciprocal},
    {"Exp", op_Exp}, {"Log", op_Log}, {"Sqrt", op_Sqrt}, {"Sin", op_Sin}, {"Cos", op_Cos},
    {"Tan", op_Tan}, {"Tanh", op_Tanh}, {"Sigmoid", op_Sigmoid}, {"Relu", op_Relu},
    {"Erf", op_Erf}, {"Floor", op_Floor}, {"Ceil", op_Ceil}, {"Round", op_Round}, {"Not", op_Not},
    {"IsNaN", op_IsNaN}, {"IsInf", op_IsInf}, {"Asin", op_Asin}, {"Acos", op_Acos},
    {"Atan", op_Atan}, {"Sinh", op_Sinh}, {"Cosh", op_Cosh}, {"Asinh", op_Asinh},
    {"Acosh", op_Acosh}, {"Atanh", op_Atanh}, {"Softsign", op_Softsign}, {"Softplus", op_Softplus},
    {"HardSwish", op_HardSwish}, {"Mish", op_Mish}, {"Gelu", op_Gelu}, {"LeakyRelu", op_LeakyRelu},
    {"Elu", op_Elu}, {"Selu", op_Selu}, {"Celu", op_Celu}, {"HardSigmoid", op_HardSigmoid},
    {"ThresholdedRelu", op_ThresholdedRelu}, {"Shrink", op_Shrink}, {"Add", op_Add},
    {"Sub", op_Sub}, {"Mul", op_Mul}, {"Div", op_Div}, {"Mod", op_Mod}, {"Pow", op_Pow},
    {"BitShift", op_BitShift}, {"PRelu", op_PRelu}, {"Equal", op_Equal}, {"Less", op_Less},
    {"LessOrEqual", op_LessOrEqual}, {"Greater", op_Greater}, {"GreaterOrEqual", op_GreaterOrEqual},
    {"And", op_And}, {"Or", op_Or}, {"Xor", op_Xor}, {"Max", op_Max}, {"Min", op_Min},
    {"Sum", op_Sum}, {"Mean", op_Mean}, {"Clip", op_Clip}, {"Where", op_Where}, {"Cast", op_Cast},
    {"CastLike", op_CastLike}, {"Identity", op_Identity}, {NULL, NULL}};
