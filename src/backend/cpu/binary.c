/* CPU binary kernels: arithmetic, comparisons and logical ops over two operands of one dtype.
 * Each op is one expression per dtype family; a macro turns it into an inner loop with fast
 * paths for contiguous operands and for a broadcast scalar on either side. Integer arithmetic
 * wraps (computed in unsigned types, so C never overflows); integer division by zero is reported
 * as an error, never a trap. f16/bf16 go through f32. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "backend/cpu/convert_simd.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/iter.h"
#include "backend/cpu/kernels_avx2.h"
#if defined(__aarch64__)
#include "backend/cpu/kernels_neon.h"
#endif
#include "core/cpu_features.h"
#include "core/error.h"

typedef struct binary_ctx {
    atomic_int bad;       /* 1: integer division by zero; 2: negative integer power */
    cpu_loop_fn f32_loop; /* for the f16/bf16 wrappers */
    born_dtype dtype, out_dtype;
    int half_operand; /* mixed_loop: which operand (1 a, 2 b) is the half one */
} binary_ctx;

#define BINARY_LOOP(NAME, T, OUT_T, EXPR)                                                       \
    static void NAME(char **d, const int64_t *s, int64_t n, void *ctx) {                        \
        binary_ctx *C = ctx;                                                                     \
        (void)C;                                                                                 \
        const int64_t ts = (int64_t)sizeof(T), os = (int64_t)sizeof(OUT_T);                      \
        if (s[0] == os && s[1] == ts && s[2] == ts) {                                            \
            OUT_T *o = (OUT_T *)d[0];                                                            \
            const T *pa = (const T *)d[1], *pb = (const T *)d[2];                                \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T a = pa[i], b = pb[i];                                                          \
                o[i] = (OUT_T)(EXPR);                                                            \
            }                                                                                    \
        } else if (s[0] == os && s[1] == ts && s[2] == 0) {                                      \
            OUT_T *o = (OUT_T *)d[0];                                                            \
            const T *pa = (const T *)d[1];                                                       \
            const T b = *(const T *)d[2];                                                        \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T a = pa[i];                                                                     \
                o[i] = (OUT_T)(EXPR);                                                            \
            }                                                                                    \
        } else if (s[0] == os && s[1] == 0 && s[2] == ts) {                                      \
            OUT_T *o = (OUT_T *)d[0];                                                            \
            const T a = *(const T *)d[1];                                                        \
            const T *pb = (const T *)d[2];                                                       \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T b = pb[i];                                                                     \
                o[i] = (OUT_T)(EXPR);                                                            \
            }                                                                                    \
        } else {                                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                    \
                T a = *(const T *)(d[1] + i * s[1]), b = *(const T *)(d[2] + i * s[2]);          \
                *(OUT_T *)(d[0] + i * s[0]) = (OUT_T)(EXPR);                                     \
            }                                                                                    \
        }                                                                                        \
    }

/* ---- floating point -------------------------------------------------------------------- */

/* Python's floor division for floats, exact near integers (as torch's div_floor). */
static inline double floordiv_d(double a, double b) {
    if (b == 0) return a / b;
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
    if (div == 0) return copysign(0.0, a / b);
    double fl = floor(div);
    if (div - fl > 0.5) fl += 1.0;
    return fl;
}
static inline float floordiv_f(float a, float b) { return (float)floordiv_d(a, b); }
static inline double remainder_d(double a, double b) {
    double r = fmod(a, b);
    if (r != 0 && ((b < 0) != (r < 0))) r += b;
    return r;
}
static inline float remainder_f(float a, float b) {
    float r = fmodf(a, b);
    if (r != 0 && ((b < 0) != (r < 0))) r += b;
    return r;
}

#define FLOAT_BINARY(name, EXPR_F, EXPR_D)                                                      \
    BINARY_LOOP(name##_f32, float, float, EXPR_F)                                                \
    BINARY_LOOP(name##_f64, double, double, EXPR_D)
#define FLOAT_COMPARE(name, EXPR)                                                               \
    BINARY_LOOP(name##_f32, float, uint8_t, EXPR)                                                \
    BINARY_LOOP(name##_f64, double, uint8_t, EXPR)

FLOAT_BINARY(add, a + b, a + b)
FLOAT_BINARY(sub, a - b, a - b)
FLOAT_BINARY(mul, a * b, a * b)
FLOAT_BINARY(div, a / b, a / b)
FLOAT_BINARY(floor_divide, floordiv_f(a, b), floordiv_d(a, b))
FLOAT_BINARY(remainder, remainder_f(a, b), remainder_d(a, b))
FLOAT_BINARY(fmod, fmodf(a, b), fmod(a, b))
FLOAT_BINARY(pow, powf(a, b), pow(a, b))
FLOAT_BINARY(minimum, (a != a || b != b) ? a + b : (a < b ? a : b),
             (a != a || b != b) ? a + b : (a < b ? a : b))
FLOAT_BINARY(maximum, (a != a || b != b) ? a + b : (a > b ? a : b),
             (a != a || b != b) ? a + b : (a > b ? a : b))
FLOAT_BINARY(atan2, atan2f(a, b), atan2(a, b))
FLOAT_COMPARE(eq, a == b)
FLOAT_COMPARE(ne, a != b)
FLOAT_COMPARE(lt, a < b)
FLOAT_COMPARE(le, a <= b)
FLOAT_COMPARE(gt, a > b)
FLOAT_COMPARE(ge, a >= b)

#define FLOAT_ENTRY(OP, name) [BORN_BINARY_##OP] = {name##_f32, name##_f64}
static const struct {
    cpu_loop_fn f32, f64;
} float_loops[BORN_BINARY_OP_COUNT] = {
    FLOAT_ENTRY(ADD, add),       FLOAT_ENTRY(SUB, sub),
    FLOAT_ENTRY(MUL, mul),       FLOAT_ENTRY(DIV, div),
    FLOAT_ENTRY(FLOOR_DIVIDE, floor_divide), FLOAT_ENTRY(REMAINDER, remainder),
    FLOAT_ENTRY(FMOD, fmod),     FLOAT_ENTRY(POW, pow),
    FLOAT_ENTRY(MINIMUM, minimum), FLOAT_ENTRY(MAXIMUM, maximum),
    FLOAT_ENTRY(ATAN2, atan2),   FLOAT_ENTRY(EQ, eq),
    FLOAT_ENTRY(NE, ne),         FLOAT_ENTRY(LT, lt),
    FLOAT_ENTRY(LE, le),         FLOAT_ENTRY(GT, gt),
    FLOAT_ENTRY(GE, ge),
};

/* ---- integers -------------------------------------------------------------------------- */

static inline void flag(binary_ctx *c, int what) { atomic_store_explicit(&c->bad, what, memory_order_relaxed); }

/* Python semantics: the quotient rounds toward -inf and the remainder takes the divisor's sign.
 * INT_MIN / -1 wraps to INT_MIN, as two's complement hardware would. */
static inline int64_t int_floordiv(int64_t a, int64_t b, binary_ctx *c) {
    if (b == 0) {
        flag(c, 1);
        return 0;
    }
    if (b == -1) return (int64_t)(0u - (uint64_t)a);
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}
static inline int64_t int_remainder(int64_t a, int64_t b, binary_ctx *c) {
    if (b == 0) {
        flag(c, 1);
        return 0;
    }
    if (b == -1) return 0;
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}
static inline int64_t int_fmod(int64_t a, int64_t b, binary_ctx *c) {
    if (b == 0) {
        flag(c, 1);
        return 0;
    }
    return b == -1 ? 0 : a % b;
}
static inline int64_t int_pow(int64_t a, int64_t b, binary_ctx *c) {
    if (b < 0) {
        if (a == 1) return 1;
        if (a == -1) return (b & 1) ? -1 : 1;
        flag(c, 2);
        return 0;
    }
    uint64_t result = 1, base = (uint64_t)a;
    while (b) {
        if (b & 1) result *= base;
        base *= base;
        b >>= 1;
    }
    return (int64_t)result;
}

#define INT_BINARY(T, UT, sfx)                                                                  \
    BINARY_LOOP(add_##sfx, T, T, (T)(UT)((UT)a + (UT)b))                                         \
    BINARY_LOOP(sub_##sfx, T, T, (T)(UT)((UT)a - (UT)b))                                         \
    BINARY_LOOP(mul_##sfx, T, T, (T)(UT)((UT)a * (UT)b))                                         \
    BINARY_LOOP(floor_divide_##sfx, T, T, (T)int_floordiv(a, b, C))                              \
    BINARY_LOOP(remainder_##sfx, T, T, (T)int_remainder(a, b, C))                                \
    BINARY_LOOP(fmod_##sfx, T, T, (T)int_fmod(a, b, C))                                          \
    BINARY_LOOP(pow_##sfx, T, T, (T)int_pow(a, b, C))                                            \
    BINARY_LOOP(minimum_##sfx, T, T, a < b ? a : b)                                              \
    BINARY_LOOP(maximum_##sfx, T, T, a > b ? a : b)                                              \
    BINARY_LOOP(eq_##sfx, T, uint8_t, a == b)                                                    \
    BINARY_LOOP(ne_##sfx, T, uint8_t, a != b)                                                    \
    BINARY_LOOP(lt_##sfx, T, uint8_t, a < b)                                                     \
    BINARY_LOOP(le_##sfx, T, uint8_t, a <= b)                                                    \
    BINARY_LOOP(gt_##sfx, T, uint8_t, a > b)                                                     \
    BINARY_LOOP(ge_##sfx, T, uint8_t, a >= b)

INT_BINARY(int8_t, uint32_t, i8)
INT_BINARY(int16_t, uint32_t, i16)
INT_BINARY(int32_t, uint32_t, i32)
INT_BINARY(int64_t, uint64_t, i64)
INT_BINARY(uint8_t, uint32_t, u8)

/* bool: add/max are "or", mul/min are "and", as PyTorch */
BINARY_LOOP(or_bool, uint8_t, uint8_t, a || b)
BINARY_LOOP(and_bool, uint8_t, uint8_t, a && b)
BINARY_LOOP(xor_bool, uint8_t, uint8_t, (a != 0) != (b != 0))
BINARY_LOOP(eq_bool, uint8_t, uint8_t, (a != 0) == (b != 0))
BINARY_LOOP(ne_bool, uint8_t, uint8_t, (a != 0) != (b != 0))
BINARY_LOOP(lt_bool, uint8_t, uint8_t, a < b)
BINARY_LOOP(le_bool, uint8_t, uint8_t, a <= b)
BINARY_LOOP(gt_bool, uint8_t, uint8_t, a > b)
BINARY_LOOP(ge_bool, uint8_t, uint8_t, a >= b)

static cpu_loop_fn int_loop(born_binary_op op, born_dtype t) {
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
    case BORN_BINARY_ADD: PICK(add)
    case BORN_BINARY_SUB: PICK(sub)
    case BORN_BINARY_MUL: PICK(mul)
    case BORN_BINARY_FLOOR_DIVIDE: PICK(floor_divide)
    case BORN_BINARY_REMAINDER: PICK(remainder)
    case BORN_BINARY_FMOD: PICK(fmod)
    case BORN_BINARY_POW: PICK(pow)
    case BORN_BINARY_MINIMUM: PICK(minimum)
    case BORN_BINARY_MAXIMUM: PICK(maximum)
    case BORN_BINARY_EQ: PICK(eq)
    case BORN_BINARY_NE: PICK(ne)
    case BORN_BINARY_LT: PICK(lt)
    case BORN_BINARY_LE: PICK(le)
    case BORN_BINARY_GT: PICK(gt)
    case BORN_BINARY_GE: PICK(ge)
    default: return NULL;
    }
#undef PICK
}

static cpu_loop_fn bool_loop(born_binary_op op) {
    switch (op) {
    case BORN_BINARY_ADD:
    case BORN_BINARY_MAXIMUM:
    case BORN_BINARY_LOGICAL_OR: return or_bool;
    case BORN_BINARY_MUL:
    case BORN_BINARY_MINIMUM:
    case BORN_BINARY_LOGICAL_AND: return and_bool;
    case BORN_BINARY_LOGICAL_XOR: return xor_bool;
    case BORN_BINARY_EQ: return eq_bool;
    case BORN_BINARY_NE: return ne_bool;
    case BORN_BINARY_LT: return lt_bool;
    case BORN_BINARY_LE: return le_bool;
    case BORN_BINARY_GT: return gt_bool;
    case BORN_BINARY_GE: return ge_bool;
    default: return NULL;
    }
}

/* ---- f16 / bf16 through f32 ------------------------------------------------------------ */

enum { HALF_CHUNK = 256 };

static void half_loop(char **d, const int64_t *s, int64_t n, void *arg) {
    binary_ctx *c = arg;
    bool bf = c->dtype == BORN_BF16, out_bool = c->out_dtype == BORN_BOOL;
    float a[HALF_CHUNK], b[HALF_CHUNK], out[HALF_CHUNK];
    for (int64_t done = 0; done < n; done += HALF_CHUNK) {
        int64_t m = n - done < HALF_CHUNK ? n - done : HALF_CHUNK;
        cpu_halves_to_f32(d[1] + done * s[1], s[1], bf, a, m);
        cpu_halves_to_f32(d[2] + done * s[2], s[2], bf, b, m);
        char *dst = d[0] + done * s[0];
        if (out_bool) { /* comparisons write bools straight into the output */
            char *ptrs[3] = {dst, (char *)a, (char *)b};
            int64_t steps[3] = {s[0], 4, 4};
            c->f32_loop(ptrs, steps, m, c);
            continue;
        }
        char *ptrs[3] = {(char *)out, (char *)a, (char *)b};
        int64_t steps[3] = {4, 4, 4};
        c->f32_loop(ptrs, steps, m, c);
        cpu_f32_to_halves(out, dst, s[0], bf, m);
    }
}

/* An f32 out from an f32 operand and an f16/bf16 one (c->half_operand, c->dtype): the half one's
 * chunks converted into a buffer, the f32 one read where it lies. */
static void mixed_loop(char **d, const int64_t *s, int64_t n, void *arg) {
    binary_ctx *c = arg;
    int h = c->half_operand;
    float buf[HALF_CHUNK];
    for (int64_t done = 0; done < n; done += HALF_CHUNK) {
        int64_t m = n - done < HALF_CHUNK ? n - done : HALF_CHUNK;
        cpu_halves_to_f32(d[h] + done * s[h], s[h], c->dtype == BORN_BF16, buf, m);
        char *ptrs[3] = {d[0] + done * s[0], d[1] + done * s[1], d[2] + done * s[2]};
        int64_t steps[3] = {s[0], s[1], s[2]};
        ptrs[h] = (char *)buf;
        steps[h] = 4;
        c->f32_loop(ptrs, steps, m, c);
    }
}

/* The f32 loop for op: the AVX2 one (unary_avx2.c) or on arm64 the NEON one (binary_neon.c) for
 * add/sub/mul/div when the CPU level allows it, else the portable one. All compute the same
 * IEEE results. */
static cpu_loop_fn f32_loop_for(born_binary_op op, cpu_loop_fn portable) {
#ifdef CPU_HAVE_NEON_KERNELS
    if (portable && cpu_get_level() == CPU_LEVEL_NEON) {
        cpu_loop_fn v = cpu_binary_f32_neon(op);
        if (v) return v;
    }
#endif
#ifdef CPU_HAVE_AVX2_KERNELS
    if (portable && cpu_get_level() >= CPU_LEVEL_AVX2) {
        cpu_loop_fn v = cpu_binary_f32_avx2(op);
        if (v) return v;
    }
#else
    (void)op;
#endif
    return portable;
}

born_status cpu_binary(born_binary_op op, const born_strided *out, const born_strided *a,
                       const born_strided *b) {
    if ((unsigned)op >= BORN_BINARY_OP_COUNT)
        return born_error(BORN_ERR_ARGUMENT, "cpu binary: invalid op %d", (int)op);
    binary_ctx c;
    memset(&c, 0, sizeof c);
    atomic_init(&c.bad, 0);
    c.dtype = a->dtype;
    c.out_dtype = out->dtype;
    cpu_loop_fn loop = NULL;
    if (a->dtype != b->dtype) { /* backend.h's binary_half_operand: f32 with one half */
        bool a_half = a->dtype == BORN_F16 || a->dtype == BORN_BF16;
        bool b_half = b->dtype == BORN_F16 || b->dtype == BORN_BF16;
        bool arithmetic = op < BORN_BINARY_EQ; /* comparisons and logical ops give bool */
        if (out->dtype != BORN_F32 || !arithmetic ||
            !((a_half && b->dtype == BORN_F32) || (b_half && a->dtype == BORN_F32)))
            return born_error(BORN_ERR_DTYPE, "%s: operands %s and %s (out %s) on the CPU: mixed "
                              "dtypes only as arithmetic on f32 and one f16/bf16 into f32",
                              born_binary_op_name(op), born_dtype_name(a->dtype),
                              born_dtype_name(b->dtype), born_dtype_name(out->dtype));
        c.half_operand = a_half ? 1 : 2;
        c.dtype = a_half ? a->dtype : b->dtype;
        c.f32_loop = f32_loop_for(op, float_loops[op].f32);
        if (!c.f32_loop)
            return born_error(BORN_ERR_DTYPE, "%s: not defined for floats on the CPU",
                              born_binary_op_name(op));
        const born_strided *ops[3] = {out, a, b};
        cpu_iter_run(3, ops, mixed_loop, &c, 0);
        return BORN_OK;
    }
    switch (a->dtype) {
    case BORN_F32: loop = f32_loop_for(op, float_loops[op].f32); break;
    case BORN_F64: loop = float_loops[op].f64; break;
    case BORN_F16:
    case BORN_BF16:
        c.f32_loop = f32_loop_for(op, float_loops[op].f32);
        if (c.f32_loop) loop = half_loop;
        break;
    case BORN_BOOL: loop = bool_loop(op); break;
    default: loop = int_loop(op, a->dtype); break;
    }
    if (!loop)
        return born_error(BORN_ERR_DTYPE, "%s: not defined for %s on the CPU",
                          born_binary_op_name(op), born_dtype_name(a->dtype));
    const born_strided *ops[3] = {out, a, b};
    cpu_iter_run(3, ops, loop, &c, 0);
    int bad = atomic_load(&c.bad);
    if (bad == 1)
        return born_error(BORN_ERR_ARGUMENT, "%s: integer division by zero",
                          born_binary_op_name(op));
    if (bad == 2)
        return born_error(BORN_ERR_ARGUMENT, "pow: integers to negative integer powers are not "
                          "allowed (convert to a floating dtype first)");
    return BORN_OK;
}
