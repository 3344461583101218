/* CPU unary kernels. Each op is one expression written for float and for double (and, for the
 * ops that keep integer dtypes, for integers); a macro turns each expression into an inner loop
 * with a contiguous fast path. f16 and bf16 are computed in f32 through a small buffer. */
#include <math.h>
#include <string.h>

#include "backend/cpu/convert_simd.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/half_table.h"
#include "backend/cpu/iter.h"
#include "backend/cpu/kernels_avx2.h"
#if defined(__aarch64__)
#include "backend/cpu/kernels_neon.h"
#endif
#include "backend/cpu/stream.h"
#include "core/cpu_features.h"

typedef struct unary_ctx {
    born_unary_params p;
    cpu_loop_fn f32_loop; /* for the f16/bf16 wrapper */
    born_dtype in_dtype, out_dtype;
    const uint16_t *table; /* f16/bf16 through a lookup table (half_table.h), or NULL */
    const float *grad_table; /* a gradient's d by lookup, indexed by x (or y where grad_on_y) */
    bool grad_on_y;
} unary_ctx;

/* The f32 loop for op: the AVX-512 or AVX2 one (unary_avx512.c, unary_avx2.c) or on arm64 the
 * NEON one (unary_neon.c) where there is one and the CPU level allows it, else the portable one
 * from float_loops below. */
static cpu_loop_fn f32_loop_for(born_unary_op op, cpu_loop_fn portable, bool stream) {
#if defined(__aarch64__)
    if (cpu_get_level() == CPU_LEVEL_NEON) {
        cpu_loop_fn v = cpu_unary_f32_neon(op);
        if (v) return v;
    }
#endif
#ifdef CPU_HAVE_AVX2_KERNELS
    cpu_level level = cpu_get_level();
    if (level >= CPU_LEVEL_AVX512) {
        cpu_loop_fn v = cpu_unary_f32_avx512(op, stream);
        if (v) return v;
    }
    if (level >= CPU_LEVEL_AVX2) {
        cpu_loop_fn v = cpu_unary_f32_avx2(op, stream);
        if (v) return v;
    }
#else
    (void)op;
    (void)stream;
#endif
    return portable;
}

/* True when an f32 output of numel elements is written with streaming stores (stream.h). */
static bool stream_f32(const born_strided *out) {
    int64_t numel = 1;
    for (int d = 0; d < out->ndim; d++) numel *= out->shape[d];
    return out->dtype == BORN_F32 && cpu_stream_output(numel * 4);
}

/* Loop over n elements computing out = EXPR(x) with T in and OUT_T out. */
#define UNARY_LOOP(NAME, T, OUT_T, EXPR)                                                        \
    static void NAME(char **d, const int64_t *s, int64_t n, void *ctx) {                        \
        const born_unary_params *P = &((const unary_ctx *)ctx)->p;                               \
        (void)P;                                                                                 \
        if (s[0] == (int64_t)sizeof(OUT_T) && s[1] == (int64_t)sizeof(T)) {                      \
            OUT_T *o = (OUT_T *)d[0];                                                            \
            const T *in = (const T *)d[1];                                                       \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T x = in[i];                                                                     \
                o[i] = (OUT_T)(EXPR);                                                            \
            }                                                                                    \
        } else {                                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T x = *(const T *)(d[1] + i * s[1]);                                             \
                *(OUT_T *)(d[0] + i * s[0]) = (OUT_T)(EXPR);                                     \
            }                                                                                    \
        }                                                                                        \
    }

/* An op defined for float and double. */
#define FLOAT_OP(name, EXPR_F, EXPR_D)                                                           \
    UNARY_LOOP(name##_f32, float, float, EXPR_F)                                                 \
    UNARY_LOOP(name##_f64, double, double, EXPR_D)

static inline float sigmoid_f(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}
static inline double sigmoid_d(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}
static inline float gelu_tanh_f(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
static inline double gelu_tanh_d(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
static inline float softplus_f(float x, double beta, double threshold) {
    float bx = (float)beta * x;
    return bx > (float)threshold ? x : log1pf(expf(bx)) / (float)beta;
}
static inline double softplus_d(double x, double beta, double threshold) {
    double bx = beta * x;
    return bx > threshold ? x : log1p(exp(bx)) / beta;
}

FLOAT_OP(neg, -x, -x)
FLOAT_OP(abs, fabsf(x), fabs(x))
/* sign(nan) is 0, as torch.sign */
FLOAT_OP(sign, x > 0 ? 1.0f : (x < 0 ? -1.0f : 0.0f), x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0))
FLOAT_OP(square, x * x, x * x)
FLOAT_OP(reciprocal, 1.0f / x, 1.0 / x)
FLOAT_OP(exp, expf(x), exp(x))
FLOAT_OP(exp2, exp2f(x), exp2(x))
FLOAT_OP(expm1, expm1f(x), expm1(x))
FLOAT_OP(log, logf(x), log(x))
FLOAT_OP(log2, log2f(x), log2(x))
FLOAT_OP(log1p, log1pf(x), log1p(x))
FLOAT_OP(sqrt, sqrtf(x), sqrt(x))
FLOAT_OP(rsqrt, 1.0f / sqrtf(x), 1.0 / sqrt(x))
FLOAT_OP(sin, sinf(x), sin(x))
FLOAT_OP(cos, cosf(x), cos(x))
FLOAT_OP(tan, tanf(x), tan(x))
FLOAT_OP(tanh, tanhf(x), tanh(x))
FLOAT_OP(sigmoid, sigmoid_f(x), sigmoid_d(x))
FLOAT_OP(relu, x < 0 ? 0.0f : x, x < 0 ? 0.0 : x)
FLOAT_OP(gelu, 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)),
         0.5 * x * (1.0 + erf(x * 0.70710678118654752440)))
FLOAT_OP(gelu_tanh, gelu_tanh_f(x), gelu_tanh_d(x))
FLOAT_OP(silu, x * sigmoid_f(x), x * sigmoid_d(x))
FLOAT_OP(erf, erff(x), erf(x))
FLOAT_OP(floor, floorf(x), floor(x))
FLOAT_OP(ceil, ceilf(x), ceil(x))
FLOAT_OP(round, nearbyintf(x), nearbyint(x))
FLOAT_OP(trunc, truncf(x), trunc(x))
FLOAT_OP(leaky_relu, x > 0 ? x : x * (float)P->alpha, x > 0 ? x : x * P->alpha)
FLOAT_OP(elu, x > 0 ? x : (float)P->alpha * expm1f(x), x > 0 ? x : P->alpha * expm1(x))
FLOAT_OP(softplus, softplus_f(x, P->alpha, P->beta), softplus_d(x, P->alpha, P->beta))
FLOAT_OP(clamp, x < (float)P->alpha ? (float)P->alpha : (x > (float)P->beta ? (float)P->beta : x),
         x < P->alpha ? P->alpha : (x > P->beta ? P->beta : x))
FLOAT_OP(pow_scalar, powf(x, (float)P->alpha), pow(x, P->alpha))

/* predicates: float in, bool out */
UNARY_LOOP(isnan_f32, float, uint8_t, x != x)
UNARY_LOOP(isnan_f64, double, uint8_t, x != x)
UNARY_LOOP(isinf_f32, float, uint8_t, isinf(x) != 0)
UNARY_LOOP(isinf_f64, double, uint8_t, isinf(x) != 0)
UNARY_LOOP(isfinite_f32, float, uint8_t, isfinite(x) != 0)
UNARY_LOOP(isfinite_f64, double, uint8_t, isfinite(x) != 0)
UNARY_LOOP(logical_not_bool, uint8_t, uint8_t, !x)

#define FLOAT_ENTRY(OP, name) [BORN_UNARY_##OP] = {name##_f32, name##_f64}
static const struct {
    cpu_loop_fn f32, f64;
} float_loops[BORN_UNARY_OP_COUNT] = {
    FLOAT_ENTRY(NEG, neg),         FLOAT_ENTRY(ABS, abs),
    FLOAT_ENTRY(SIGN, sign),       FLOAT_ENTRY(SQUARE, square),
    FLOAT_ENTRY(RECIPROCAL, reciprocal), FLOAT_ENTRY(EXP, exp),
    FLOAT_ENTRY(EXP2, exp2),       FLOAT_ENTRY(EXPM1, expm1),
    FLOAT_ENTRY(LOG, log),         FLOAT_ENTRY(LOG2, log2),
    FLOAT_ENTRY(LOG1P, log1p),     FLOAT_ENTRY(SQRT, sqrt),
    FLOAT_ENTRY(RSQRT, rsqrt),     FLOAT_ENTRY(SIN, sin),
    FLOAT_ENTRY(COS, cos),         FLOAT_ENTRY(TAN, tan),
    FLOAT_ENTRY(TANH, tanh),       FLOAT_ENTRY(SIGMOID, sigmoid),
    FLOAT_ENTRY(RELU, relu),       FLOAT_ENTRY(GELU, gelu),
    FLOAT_ENTRY(GELU_TANH, gelu_tanh), FLOAT_ENTRY(SILU, silu),
    FLOAT_ENTRY(ERF, erf),         FLOAT_ENTRY(FLOOR, floor),
    FLOAT_ENTRY(CEIL, ceil),       FLOAT_ENTRY(ROUND, round),
    FLOAT_ENTRY(TRUNC, trunc),     FLOAT_ENTRY(ISNAN, isnan),
    FLOAT_ENTRY(ISINF, isinf),     FLOAT_ENTRY(ISFINITE, isfinite),
    FLOAT_ENTRY(LEAKY_RELU, leaky_relu), FLOAT_ENTRY(ELU, elu),
    FLOAT_ENTRY(SOFTPLUS, softplus), FLOAT_ENTRY(CLAMP, clamp),
    FLOAT_ENTRY(POW_SCALAR, pow_scalar),
};

/* ---- integer ops: arithmetic wraps like two's complement, never overflows in C ---------- */

/* A function, not an inline comparison, so u8 loops do not warn that x < 0 is always false. */
static inline bool is_negative(int64_t v) { return v < 0; }
static inline int int_sign(int64_t v) { return (v > 0) - (v < 0); }

#define INT_OPS(T, UT, sfx)                                                                      \
    UNARY_LOOP(neg_##sfx, T, T, (T)(UT)(0u - (UT)x))                                             \
    UNARY_LOOP(abs_##sfx, T, T, is_negative((int64_t)x) ? (T)(UT)(0u - (UT)x) : x)                                 \
    UNARY_LOOP(sign_##sfx, T, T, (T)int_sign((int64_t)x))                                         \
    UNARY_LOOP(square_##sfx, T, T, (T)(UT)((UT)x * (UT)x))                                       \
    UNARY_LOOP(relu_##sfx, T, T, is_negative((int64_t)x) ? (T)0 : x)                                               \
    UNARY_LOOP(clamp_##sfx, T, T,                                                                \
               (double)x < P->alpha ? (T)ceil(P->alpha)                                          \
                                    : ((double)x > P->beta ? (T)floor(P->beta) : x))

INT_OPS(int8_t, uint32_t, i8)
INT_OPS(int16_t, uint32_t, i16)
INT_OPS(int32_t, uint32_t, i32)
INT_OPS(int64_t, uint64_t, i64)
INT_OPS(uint8_t, uint32_t, u8)

static cpu_loop_fn int_loop(born_unary_op op, born_dtype t) {
#define PICK(name)                                                                               \
    switch (t) {                                                                                 \
    case BORN_I8: return name##_i8;                                                              \
    case BORN_I16: return name##_i16;                                                            \
    case BORN_I32: return name##_i32;                                                            \
    case BORN_I64: return name##_i64;                                                            \
    case BORN_U8: return name##_u8;                                                              \
    default: return NULL;                                                                        \
    }
    switch (op) {
    case BORN_UNARY_NEG: PICK(neg)
    case BORN_UNARY_ABS: PICK(abs)
    case BORN_UNARY_SIGN: PICK(sign)
    case BORN_UNARY_SQUARE: PICK(square)
    case BORN_UNARY_RELU: PICK(relu)
    case BORN_UNARY_CLAMP: PICK(clamp)
    default: return NULL;
    }
#undef PICK
}

/* ---- f16 / bf16 through f32 ------------------------------------------------------------ */

enum { HALF_CHUNK = 256 };

static void half_loop(char **d, const int64_t *s, int64_t n, void *arg) {
    const unary_ctx *c = arg;
    bool bf = c->in_dtype == BORN_BF16;
    bool out_bool = c->out_dtype == BORN_BOOL;
    float in[HALF_CHUNK], out[HALF_CHUNK];
    uint8_t flags[HALF_CHUNK];
    for (int64_t done = 0; done < n; done += HALF_CHUNK) {
        int64_t m = n - done < HALF_CHUNK ? n - done : HALF_CHUNK;
        cpu_halves_to_f32(d[1] + done * s[1], s[1], bf, in, m);
        char *ptrs[2] = {out_bool ? (char *)flags : (char *)out, (char *)in};
        int64_t steps[2] = {out_bool ? 1 : 4, 4};
        c->f32_loop(ptrs, steps, m, (void *)c);
        char *dst = d[0] + done * s[0];
        if (!out_bool) {
            cpu_f32_to_halves(out, dst, s[0], bf, m);
            continue;
        }
        for (int64_t i = 0; i < m; i++) *(uint8_t *)(dst + i * s[0]) = flags[i];
    }
}

cpu_loop_fn cpu_unary_f32_loop(born_unary_op op) {
    if ((unsigned)op >= BORN_UNARY_OP_COUNT) return NULL;
    return f32_loop_for(op, float_loops[op].f32, false);
}

void cpu_unary_f32_run(cpu_loop_fn loop, float *out, const float *in, int64_t n) {
    static const unary_ctx plain = {.in_dtype = BORN_F32, .out_dtype = BORN_F32};
    char *ptrs[2] = {(char *)out, (char *)in};
    const int64_t steps[2] = {sizeof(float), sizeof(float)};
    loop(ptrs, steps, n, (void *)&plain);
}

static int64_t strided_numel(const born_strided *s) {
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++) n *= s->shape[d];
    return n;
}

/* f16/bf16 in and out through the op's lookup table (half_table.h), held in the context. */
static void half_table_loop(char **d, const int64_t *s, int64_t n, void *arg) {
    cpu_half_lookup(((const unary_ctx *)arg)->table, d[1], s[1], d[0], s[0], n);
}

born_status cpu_unary(born_unary_op op, const born_strided *out, const born_strided *in,
                      const born_unary_params *params) {
    if ((unsigned)op >= BORN_UNARY_OP_COUNT)
        return born_error(BORN_ERR_ARGUMENT, "cpu unary: invalid op %d", (int)op);
    unary_ctx c;
    memset(&c, 0, sizeof c);
    if (params) c.p = *params;
    c.in_dtype = in->dtype;
    c.out_dtype = out->dtype;
    cpu_loop_fn loop = NULL;
    bool stream = in->dtype == BORN_F32 && stream_f32(out);
    switch (in->dtype) {
    case BORN_F32: loop = f32_loop_for(op, float_loops[op].f32, stream); break;
    case BORN_F64: loop = float_loops[op].f64; break;
    case BORN_F16:
    case BORN_BF16:
        c.f32_loop = f32_loop_for(op, float_loops[op].f32, false); /* into a small buffer */
        if (c.f32_loop) loop = half_loop;
        if (c.f32_loop && out->dtype == in->dtype && strided_numel(out) >= CPU_HALF_TABLE_MIN)
            c.table = cpu_half_table(op, in->dtype == BORN_BF16);
        if (c.table) loop = half_table_loop;
        break;
    case BORN_BOOL: loop = op == BORN_UNARY_LOGICAL_NOT ? logical_not_bool : NULL; break;
    default: loop = int_loop(op, in->dtype); break;
    }
    if (!loop)
        return born_error(BORN_ERR_DTYPE, "%s: not defined for %s on the CPU",
                          born_unary_op_name(op), born_dtype_name(in->dtype));
    const born_strided *ops[2] = {out, in};
    /* transcendental functions cost ~10x a copy: smaller chunks keep threads balanced; streamed
     * outputs (32 MiB and up) take whole grains, so that the fence that ends each chunk's
     * streaming stores (it waits for them to drain) comes once per 256 KiB */
    cpu_iter_run(2, ops, loop, &c, stream ? CPU_ITER_GRAIN : CPU_ITER_GRAIN / 8);
    return BORN_OK;
}

/* ---- fused activation gradients: grad_in = grad_out * f'(x) ---------------------------- */

/* Each op's gradient as an expression of g (grad_out), x (input), y (output) and P (params),
 * written in the order of the composite rule in src/ops/unary.c so that the two agree to the
 * last bit where their operations are the same. */
#define BACKWARD_LOOP(NAME, T, EXPR)                                                             \
    static void NAME(char **d, const int64_t *s, int64_t n, void *ctx) {                         \
        const born_unary_params *P = &((const unary_ctx *)ctx)->p;                               \
        (void)P;                                                                                 \
        const int64_t e = (int64_t)sizeof(T);                                                    \
        if (s[0] == e && s[1] == e && s[2] == e && s[3] == e) {                                  \
            T *o = (T *)d[0];                                                                    \
            const T *gp = (const T *)d[1], *xp = (const T *)d[2], *yp = (const T *)d[3];         \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T g = gp[i], x = xp[i], y = yp[i];                                               \
                (void)x;                                                                         \
                (void)y;                                                                         \
                o[i] = (T)(EXPR);                                                                \
            }                                                                                    \
        } else {                                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T g = *(const T *)(d[1] + i * s[1]), x = *(const T *)(d[2] + i * s[2]);          \
                T y = *(const T *)(d[3] + i * s[3]);                                             \
                (void)x;                                                                         \
                (void)y;                                                                         \
                *(T *)(d[0] + i * s[0]) = (T)(EXPR);                                             \
            }                                                                                    \
        }                                                                                        \
    }

#define BACKWARD_OP(name, EXPR_F, EXPR_D)                                                        \
    BACKWARD_LOOP(name##_backward_f32, float, EXPR_F)                                            \
    BACKWARD_LOOP(name##_backward_f64, double, EXPR_D)

/* Phi(x) + x phi(x), with Phi(x) = erfc(-x / sqrt 2) / 2, which unlike the composite rule's
 * (erf(x / sqrt 2) + 1) / 2 keeps its relative accuracy for negative x; f32 goes through double
 * (in f32, the rounding of x^2 alone costs up to x^2 / 2 units of exp(-x^2 / 2)). */
static inline double gelu_grad_d(double x) {
    double cdf = erfc(x * -0.70710678118654752440) * 0.5;
    double pdf = exp((x * x) * -0.5) * 0.39894228040143267794;
    return cdf + x * pdf;
}
static inline float gelu_grad_f(float x) { return (float)gelu_grad_d(x); }
/* 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3c x^2), t = tanh(k x (1 + c x^2)) */
static inline float gelu_tanh_grad_f(float x) {
    const float k = 0.7978845608028654f, c = 0.044715f, c3 = (float)(3.0 * 0.044715);
    float x2 = x * x;
    float t = tanhf((x * (x2 * c + 1.0f)) * k);
    float dinner = (x2 * c3 + 1.0f) * k;
    return (t + 1.0f) * 0.5f + ((x * (1.0f - t * t)) * 0.5f) * dinner;
}
static inline double gelu_tanh_grad_d(double x) {
    const double k = 0.7978845608028654, c = 0.044715;
    double x2 = x * x;
    double t = tanh((x * (x2 * c + 1.0)) * k);
    double dinner = (x2 * (3.0 * c) + 1.0) * k;
    return (t + 1.0) * 0.5 + ((x * (1.0 - t * t)) * 0.5) * dinner;
}
static inline float silu_grad_f(float x) {
    float s = sigmoid_f(x);
    return s * (x * (1.0f - s) + 1.0f);
}
static inline double silu_grad_d(double x) {
    double s = sigmoid_d(x);
    return s * (x * (1.0 - s) + 1.0);
}

BACKWARD_OP(relu, x > 0 ? g : 0.0f, x > 0 ? g : 0.0)
BACKWARD_OP(leaky_relu, x > 0 ? g : g * (float)P->alpha, x > 0 ? g : g * P->alpha)
BACKWARD_OP(elu, x > 0 ? g : g * (y + (float)P->alpha), x > 0 ? g : g * (y + P->alpha))
BACKWARD_OP(softplus,
            x * (float)P->alpha > (float)P->beta ? g : g * sigmoid_f(x * (float)P->alpha),
            x * P->alpha > P->beta ? g : g * sigmoid_d(x * P->alpha))
BACKWARD_OP(sigmoid, g * (y * (1.0f - y)), g * (y * (1.0 - y)))
BACKWARD_OP(tanh, g * (1.0f - y * y), g * (1.0 - y * y))
BACKWARD_OP(silu, g * silu_grad_f(x), g * silu_grad_d(x))
BACKWARD_OP(gelu, g * gelu_grad_f(x), g * gelu_grad_d(x))
BACKWARD_OP(gelu_tanh, g * gelu_tanh_grad_f(x), g * gelu_tanh_grad_d(x))

#define BACKWARD_ENTRY(OP, name) [BORN_UNARY_##OP] = {name##_backward_f32, name##_backward_f64}
static const struct {
    cpu_loop_fn f32, f64;
} backward_loops[BORN_UNARY_OP_COUNT] = {
    BACKWARD_ENTRY(RELU, relu),       BACKWARD_ENTRY(LEAKY_RELU, leaky_relu),
    BACKWARD_ENTRY(ELU, elu),         BACKWARD_ENTRY(SOFTPLUS, softplus),
    BACKWARD_ENTRY(SIGMOID, sigmoid), BACKWARD_ENTRY(TANH, tanh),
    BACKWARD_ENTRY(SILU, silu),       BACKWARD_ENTRY(GELU, gelu),
    BACKWARD_ENTRY(GELU_TANH, gelu_tanh),
};

/* f16/bf16 operands converted to f32 in chunks, the f32 loop run on them, the result rounded
 * back. */
static void half_backward_loop(char **d, const int64_t *s, int64_t n, void *arg) {
    const unary_ctx *c = arg;
    bool bf = c->in_dtype == BORN_BF16;
    float buf[4][HALF_CHUNK];
    for (int64_t done = 0; done < n; done += HALF_CHUNK) {
        int64_t m = n - done < HALF_CHUNK ? n - done : HALF_CHUNK;
        for (int k = 1; k < 4; k++) cpu_halves_to_f32(d[k] + done * s[k], s[k], bf, buf[k], m);
        char *ptrs[4] = {(char *)buf[0], (char *)buf[1], (char *)buf[2], (char *)buf[3]};
        int64_t steps[4] = {4, 4, 4, 4};
        c->f32_loop(ptrs, steps, m, (void *)c);
        cpu_f32_to_halves(buf[0], d[0] + done * s[0], s[0], bf, m);
    }
}

/* The same with the gradient's d looked up: g widened, multiplied by d of x's (or y's) bits,
 * rounded back. */
static void half_grad_table_loop(char **d, const int64_t *s, int64_t n, void *arg) {
    const unary_ctx *c = arg;
    bool bf = c->in_dtype == BORN_BF16;
    int key = c->grad_on_y ? 3 : 2;
    float g[HALF_CHUNK];
    uint16_t keys[HALF_CHUNK];
    for (int64_t done = 0; done < n; done += HALF_CHUNK) {
        int64_t m = n - done < HALF_CHUNK ? n - done : HALF_CHUNK;
        cpu_halves_to_f32(d[1] + done * s[1], s[1], bf, g, m);
        const uint16_t *k = (const uint16_t *)(d[key] + done * s[key]);
        if (s[key] != 2) {
            for (int64_t i = 0; i < m; i++) memcpy(&keys[i], d[key] + (done + i) * s[key], 2);
            k = keys;
        }
        cpu_half_grad_mul(c->grad_table, k, g, m);
        cpu_f32_to_halves(g, d[0] + done * s[0], s[0], bf, m);
    }
}

static cpu_loop_fn backward_f32_loop_for(born_unary_op op, bool stream) {
#if defined(__aarch64__)
    if (cpu_get_level() == CPU_LEVEL_NEON) {
        cpu_loop_fn v = cpu_unary_backward_f32_neon(op);
        if (v) return v;
    }
#endif
#ifdef CPU_HAVE_AVX2_KERNELS
    cpu_level level = cpu_get_level();
    if (level >= CPU_LEVEL_AVX512) {
        cpu_loop_fn v = cpu_unary_backward_f32_avx512(op, stream);
        if (v) return v;
    }
    if (level >= CPU_LEVEL_AVX2) {
        cpu_loop_fn v = cpu_unary_backward_f32_avx2(op, stream);
        if (v) return v;
    }
#else
    (void)stream;
#endif
    return backward_loops[op].f32;
}

cpu_loop_fn cpu_unary_backward_f32_loop(born_unary_op op) {
    if ((unsigned)op >= BORN_UNARY_OP_COUNT || !backward_loops[op].f32) return NULL;
    return backward_f32_loop_for(op, false);
}

void cpu_unary_backward_f32_run(cpu_loop_fn loop, float *grad_in, const float *g, const float *x,
                                const float *y, int64_t n) {
    static const unary_ctx plain = {.in_dtype = BORN_F32, .out_dtype = BORN_F32};
    char *ptrs[4] = {(char *)grad_in, (char *)g, (char *)x, (char *)y};
    const int64_t steps[4] = {sizeof(float), sizeof(float), sizeof(float), sizeof(float)};
    loop(ptrs, steps, n, (void *)&plain);
}

born_status cpu_unary_backward(born_unary_op op, const born_strided *grad_in,
                               const born_strided *grad_out, const born_strided *x,
                               const born_strided *y, const born_unary_params *params) {
    if ((unsigned)op >= BORN_UNARY_OP_COUNT || !backward_loops[op].f32)
        return born_error(BORN_ERR_UNSUPPORTED, "cpu unary backward: no fused gradient for %s",
                          born_unary_op_name(op));
    unary_ctx c;
    memset(&c, 0, sizeof c);
    if (params) c.p = *params;
    c.in_dtype = c.out_dtype = x->dtype;
    cpu_loop_fn loop = NULL;
    bool stream = x->dtype == BORN_F32 && stream_f32(grad_in);
    switch (x->dtype) {
    case BORN_F32: loop = backward_f32_loop_for(op, stream); break;
    case BORN_F64: loop = backward_loops[op].f64; break;
    case BORN_F16:
    case BORN_BF16:
        c.f32_loop = backward_f32_loop_for(op, false);
        loop = half_backward_loop;
        if (grad_out->dtype == x->dtype && grad_in->dtype == x->dtype && y->dtype == x->dtype &&
            strided_numel(grad_in) >= CPU_HALF_TABLE_MIN)
            c.grad_table = cpu_half_grad_table(op, x->dtype == BORN_BF16, &c.grad_on_y);
        if (c.grad_table) loop = half_grad_table_loop;
        break;
    default:
        return born_error(BORN_ERR_DTYPE, "%s backward: not defined for %s on the CPU",
                          born_unary_op_name(op), born_dtype_name(x->dtype));
    }
    const born_strided *ops[4] = {grad_in, grad_out, x, y};
    /* relu-like selects are cheap; the transcendental ones cost ~10x a copy */
    bool cheap = op == BORN_UNARY_RELU || op == BORN_UNARY_LEAKY_RELU ||
                 op == BORN_UNARY_SIGMOID || op == BORN_UNARY_TANH;
    cpu_iter_run(4, ops, loop, &c, cheap || stream ? CPU_ITER_GRAIN : CPU_ITER_GRAIN / 8);
    return BORN_OK;
}
