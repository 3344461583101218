/* CUDA elementwise kernels: copy with conversion, fill, unary, binary, where and the fused
 * activation gradients. Each op is the expression of the CPU kernel (src/backend/cpu/unary.c,
 * binary.c, convert.c) evaluated in f32 for f32/f16/bf16, in f64 for f64 and in int64 (wrapping)
 * for integers, over operands of any strides (common.cuh). */
#include <math.h>
#include <string.h>

#include "backend/cuda/common.cuh"

namespace cu {
namespace {

/* ---- math in float and double -------------------------------------------------------------- */

#define M1(name, f, d)                                                                            \
    __device__ inline float name(float x) { return f(x); }                                        \
    __device__ inline double name(double x) { return d(x); }
M1(m_exp, expf, exp)
M1(m_exp2, exp2f, exp2)
M1(m_expm1, expm1f, expm1)
M1(m_log, logf, log)
M1(m_log2, log2f, log2)
M1(m_log1p, log1pf, log1p)
M1(m_sqrt, sqrtf, sqrt)
M1(m_sin, sinf, sin)
M1(m_cos, cosf, cos)
M1(m_tan, tanf, tan)
M1(m_tanh, tanhf, tanh)
M1(m_erf, erff, erf)
M1(m_floor, floorf, floor)
M1(m_ceil, ceilf, ceil)
M1(m_rint, rintf, rint)
M1(m_trunc, truncf, trunc)
M1(m_fabs, fabsf, fabs)
#undef M1
__device__ inline float m_pow(float a, float b) { return powf(a, b); }
__device__ inline double m_pow(double a, double b) { return pow(a, b); }
__device__ inline float m_fmod(float a, float b) { return fmodf(a, b); }
__device__ inline double m_fmod(double a, double b) { return fmod(a, b); }
__device__ inline float m_atan2(float a, float b) { return atan2f(a, b); }
__device__ inline double m_atan2(double a, double b) { return atan2(a, b); }

template <class C> __device__ inline C sigmoid(C x) {
    if (x >= 0) return C(1) / (C(1) + m_exp(-x));
    C e = m_exp(x);
    return e / (C(1) + e);
}

template <class C> __device__ inline C gelu_tanh(C x) {
    return C(0.5) * x * (C(1) + m_tanh(C(0.7978845608028654) * (x + C(0.044715) * x * x * x)));
}

/* Whether unary op is defined on floats (the CPU's float table). */
__host__ inline bool unary_float_op(born_unary_op op) {
    return op != BORN_UNARY_LOGICAL_NOT && (unsigned)op < BORN_UNARY_OP_COUNT;
}

template <class C> __device__ inline C unary_f(born_unary_op op, C x, double pa, double pb) {
    const C a = (C)pa, b = (C)pb;
    switch (op) {
    case BORN_UNARY_NEG: return -x;
    case BORN_UNARY_ABS: return m_fabs(x);
    case BORN_UNARY_SIGN: return x > 0 ? C(1) : (x < 0 ? C(-1) : C(0));
    case BORN_UNARY_SQUARE: return x * x;
    case BORN_UNARY_RECIPROCAL: return C(1) / x;
    case BORN_UNARY_EXP: return m_exp(x);
    case BORN_UNARY_EXP2: return m_exp2(x);
    case BORN_UNARY_EXPM1: return m_expm1(x);
    case BORN_UNARY_LOG: return m_log(x);
    case BORN_UNARY_LOG2: return m_log2(x);
    case BORN_UNARY_LOG1P: return m_log1p(x);
    case BORN_UNARY_SQRT: return m_sqrt(x);
    case BORN_UNARY_RSQRT: return C(1) / m_sqrt(x);
    case BORN_UNARY_SIN: return m_sin(x);
    case BORN_UNARY_COS: return m_cos(x);
    case BORN_UNARY_TAN: return m_tan(x);
    case BORN_UNARY_TANH: return m_tanh(x);
    case BORN_UNARY_SIGMOID: return sigmoid(x);
    case BORN_UNARY_RELU: return x < 0 ? C(0) : x;
    case BORN_UNARY_GELU: return C(0.5) * x * (C(1) + m_erf(x * C(0.70710678118654752440)));
    case BORN_UNARY_GELU_TANH: return gelu_tanh(x);
    case BORN_UNARY_SILU: return x * sigmoid(x);
    case BORN_UNARY_ERF: return m_erf(x);
    case BORN_UNARY_FLOOR: return m_floor(x);
    case BORN_UNARY_CEIL: return m_ceil(x);
    case BORN_UNARY_ROUND: return m_rint(x);
    case BORN_UNARY_TRUNC: return m_trunc(x);
    case BORN_UNARY_LEAKY_RELU: return x > 0 ? x : x * a;
    case BORN_UNARY_ELU: return x > 0 ? x : a * m_expm1(x);
    case BORN_UNARY_SOFTPLUS: {
        C bx = a * x;
        return bx > b ? x : m_log1p(m_exp(bx)) / a;
    }
    case BORN_UNARY_CLAMP: return x < a ? a : (x > b ? b : x);
    case BORN_UNARY_POW_SCALAR: return m_pow(x, a);
    default: return x;
    }
}

template <class C> struct UnaryFloat {
    born_unary_op op;
    born_dtype in_t, out_t;
    double a, b;
    __device__ void operator()(char **p) const {
        C x = ld<C>(p[1], in_t);
        if (out_t == BORN_BOOL) {
            bool r = op == BORN_UNARY_ISNAN ? x != x
                     : op == BORN_UNARY_ISINF ? isinf(x)
                                              : isfinite(x);
            *(uint8_t *)p[0] = r;
            return;
        }
        st(p[0], out_t, unary_f<C>(op, x, a, b));
    }
};

struct UnaryInt {
    born_unary_op op;
    born_dtype t;
    double a, b;
    __device__ void operator()(char **p) const {
        int64_t x = ld_i(p[1], t);
        int64_t r;
        switch (op) {
        case BORN_UNARY_NEG: r = (int64_t)(0ull - (uint64_t)x); break;
        case BORN_UNARY_ABS: r = x < 0 ? (int64_t)(0ull - (uint64_t)x) : x; break;
        case BORN_UNARY_SIGN: r = (x > 0) - (x < 0); break;
        case BORN_UNARY_SQUARE: r = (int64_t)((uint64_t)x * (uint64_t)x); break;
        case BORN_UNARY_RELU: r = x < 0 ? 0 : x; break;
        case BORN_UNARY_CLAMP:
            r = (double)x < a ? (int64_t)ceil(a) : ((double)x > b ? (int64_t)floor(b) : x);
            break;
        case BORN_UNARY_LOGICAL_NOT: r = !x; break;
        default: r = x; break;
        }
        st_i(p[0], t, r);
    }
};

bool unary_int_op(born_unary_op op, born_dtype t) {
    if (t == BORN_BOOL) return op == BORN_UNARY_LOGICAL_NOT;
    switch (op) {
    case BORN_UNARY_NEG:
    case BORN_UNARY_ABS:
    case BORN_UNARY_SIGN:
    case BORN_UNARY_SQUARE:
    case BORN_UNARY_RELU:
    case BORN_UNARY_CLAMP: return true;
    default: return false;
    }
}

/* ---- binary ---------------------------------------------------------------------------------- */

__device__ inline double floordiv_d(double a, double b) {
    if (b == 0) return a / b;
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
    if (div == 0) return copysign(0.0, a / b);
    double fl = floor(div);
    if (div - fl > 0.5) fl += 1.0;
    return fl;
}

template <class C> __device__ inline C remainder_c(C a, C b) {
    C r = m_fmod(a, b);
    if (r != 0 && ((b < 0) != (r < 0))) r += b;
    return r;
}

template <class C> struct BinaryFloat {
    born_binary_op op;
    born_dtype t, out_t;
    __device__ void operator()(char **p) const {
        C a = ld<C>(p[1], t), b = ld<C>(p[2], t);
        bool nan = a != a || b != b;
        switch (op) {
        case BORN_BINARY_EQ: *(uint8_t *)p[0] = a == b; return;
        case BORN_BINARY_NE: *(uint8_t *)p[0] = a != b; return;
        case BORN_BINARY_LT: *(uint8_t *)p[0] = a < b; return;
        case BORN_BINARY_LE: *(uint8_t *)p[0] = a <= b; return;
        case BORN_BINARY_GT: *(uint8_t *)p[0] = a > b; return;
        case BORN_BINARY_GE: *(uint8_t *)p[0] = a >= b; return;
        default: break;
        }
        C r;
        switch (op) {
        case BORN_BINARY_ADD: r = a + b; break;
        case BORN_BINARY_SUB: r = a - b; break;
        case BORN_BINARY_MUL: r = a * b; break;
        case BORN_BINARY_DIV: r = a / b; break;
        case BORN_BINARY_FLOOR_DIVIDE: r = (C)floordiv_d(a, b); break;
        case BORN_BINARY_REMAINDER: r = remainder_c(a, b); break;
        case BORN_BINARY_FMOD: r = m_fmod(a, b); break;
        case BORN_BINARY_POW: r = m_pow(a, b); break;
        case BORN_BINARY_MINIMUM: r = nan ? a + b : (a < b ? a : b); break;
        case BORN_BINARY_MAXIMUM: r = nan ? a + b : (a > b ? a : b); break;
        case BORN_BINARY_ATAN2: r = m_atan2(a, b); break;
        default: r = a; break;
        }
        st(p[0], out_t, r);
    }
};

bool binary_float_op(born_binary_op op) {
    return (unsigned)op < BORN_BINARY_OP_COUNT && op != BORN_BINARY_LOGICAL_AND &&
           op != BORN_BINARY_LOGICAL_OR && op != BORN_BINARY_LOGICAL_XOR;
}

__device__ inline void raise_flag(int *flag, int what) { atomicExch(flag, what); }

struct BinaryInt {
    born_binary_op op;
    born_dtype t;
    int *flag;
    __device__ void operator()(char **p) const {
        int64_t a = ld_i(p[1], t), b = ld_i(p[2], t);
        int64_t r;
        switch (op) {
        case BORN_BINARY_EQ: *(uint8_t *)p[0] = a == b; return;
        case BORN_BINARY_NE: *(uint8_t *)p[0] = a != b; return;
        case BORN_BINARY_LT: *(uint8_t *)p[0] = a < b; return;
        case BORN_BINARY_LE: *(uint8_t *)p[0] = a <= b; return;
        case BORN_BINARY_GT: *(uint8_t *)p[0] = a > b; return;
        case BORN_BINARY_GE: *(uint8_t *)p[0] = a >= b; return;
        case BORN_BINARY_ADD: r = (int64_t)((uint64_t)a + (uint64_t)b); break;
        case BORN_BINARY_SUB: r = (int64_t)((uint64_t)a - (uint64_t)b); break;
        case BORN_BINARY_MUL: r = (int64_t)((uint64_t)a * (uint64_t)b); break;
        case BORN_BINARY_MINIMUM: r = a < b ? a : b; break;
        case BORN_BINARY_MAXIMUM: r = a > b ? a : b; break;
        case BORN_BINARY_FLOOR_DIVIDE:
            if (b == 0) {
                raise_flag(flag, 1);
                r = 0;
            } else if (b == -1) {
                r = (int64_t)(0ull - (uint64_t)a);
            } else {
                r = a / b;
                if ((a % b != 0) && ((a < 0) != (b < 0))) r--;
            }
            break;
        case BORN_BINARY_REMAINDER:
            if (b == 0) {
                raise_flag(flag, 1);
                r = 0;
            } else if (b == -1) {
                r = 0;
            } else {
                r = a % b;
                if (r != 0 && ((r < 0) != (b < 0))) r += b;
            }
            break;
        case BORN_BINARY_FMOD:
            if (b == 0) {
                raise_flag(flag, 1);
                r = 0;
            } else {
                r = b == -1 ? 0 : a % b;
            }
            break;
        case BORN_BINARY_POW:
            if (b < 0) {
                if (a == 1) r = 1;
                else if (a == -1) r = (b & 1) ? -1 : 1;
                else {
                    raise_flag(flag, 2);
                    r = 0;
                }
            } else {
                uint64_t result = 1, base = (uint64_t)a;
                while (b) {
                    if (b & 1) result *= base;
                    base *= base;
                    b >>= 1;
                }
                r = (int64_t)result;
            }
            break;
        default: r = a; break;
        }
        st_i(p[0], t, r);
    }
};

bool binary_int_op(born_binary_op op) {
    return (unsigned)op < BORN_BINARY_OP_COUNT && op != BORN_BINARY_DIV &&
           op != BORN_BINARY_ATAN2 && op != BORN_BINARY_LOGICAL_AND &&
           op != BORN_BINARY_LOGICAL_OR && op != BORN_BINARY_LOGICAL_XOR;
}

struct BinaryBool {
    born_binary_op op;
    __device__ void operator()(char **p) const {
        uint8_t a = *(const uint8_t *)p[1], b = *(const uint8_t *)p[2];
        bool r;
        switch (op) {
        case BORN_BINARY_ADD:
        case BORN_BINARY_MAXIMUM:
        case BORN_BINARY_LOGICAL_OR: r = a || b; break;
        case BORN_BINARY_MUL:
        case BORN_BINARY_MINIMUM:
        case BORN_BINARY_LOGICAL_AND: r = a && b; break;
        case BORN_BINARY_LOGICAL_XOR:
        case BORN_BINARY_NE: r = (a != 0) != (b != 0); break;
        case BORN_BINARY_EQ: r = (a != 0) == (b != 0); break;
        case BORN_BINARY_LT: r = a < b; break;
        case BORN_BINARY_LE: r = a <= b; break;
        case BORN_BINARY_GT: r = a > b; break;
        default: r = a >= b; break;
        }
        *(uint8_t *)p[0] = r;
    }
};

bool binary_bool_op(born_binary_op op) {
    switch (op) {
    case BORN_BINARY_SUB:
    case BORN_BINARY_DIV:
    case BORN_BINARY_FLOOR_DIVIDE:
    case BORN_BINARY_REMAINDER:
    case BORN_BINARY_FMOD:
    case BORN_BINARY_POW:
    case BORN_BINARY_ATAN2: return false;
    default: return (unsigned)op < BORN_BINARY_OP_COUNT;
    }
}

/* ---- copy, fill, where ----------------------------------------------------------------------- */

template <class T> struct CopySame {
    __device__ void operator()(char **p) const { *(T *)p[0] = *(const T *)p[1]; }
};

struct Convert {
    born_dtype from, to;
    __device__ void operator()(char **p) const {
        bool from_int = !is_floating(from), to_int = !is_floating(to);
        if (from_int && to_int) {
            st_i(p[0], to, ld_i(p[1], from));
        } else if (from == BORN_I64 && (to == BORN_F32 || to == BORN_F16 || to == BORN_BF16)) {
            st_f(p[0], to, (float)*(const int64_t *)p[1]); /* one rounding, as C's cast */
        } else {
            st_d(p[0], to, ld_d(p[1], from));
        }
    }
};

template <class T> struct FillPattern {
    T v;
    __device__ void operator()(char **p) const { *(T *)p[0] = v; }
};

template <class T> struct WhereT {
    __device__ void operator()(char **p) const {
        *(T *)p[0] = *(const uint8_t *)p[1] ? *(const T *)p[2] : *(const T *)p[3];
    }
};

template <int N, template <class> class F>
cudaError_t by_size(cudaStream_t s, const cu_strided *const *ops, int64_t size) {
    switch (size) {
    case 1: return launch_ew<N>(s, ops, F<uint8_t>());
    case 2: return launch_ew<N>(s, ops, F<uint16_t>());
    case 4: return launch_ew<N>(s, ops, F<uint32_t>());
    default: return launch_ew<N>(s, ops, F<uint64_t>());
    }
}

/* ---- fused activation gradients ------------------------------------------------------------ */

template <class C> __device__ inline C backward_f(born_unary_op op, C g, C x, C y, double pa,
                                                  double pb) {
    const C a = (C)pa, b = (C)pb;
    switch (op) {
    case BORN_UNARY_RELU: return x > 0 ? g : C(0);
    case BORN_UNARY_LEAKY_RELU: return x > 0 ? g : g * a;
    case BORN_UNARY_ELU: return x > 0 ? g : g * (y + a);
    case BORN_UNARY_SOFTPLUS: return x * a > b ? g : g * sigmoid(x * a);
    case BORN_UNARY_SIGMOID: return g * (y * (C(1) - y));
    case BORN_UNARY_TANH: return g * (C(1) - y * y);
    case BORN_UNARY_SILU: {
        C s = sigmoid(x);
        return g * (s * (x * (C(1) - s) + C(1)));
    }
    case BORN_UNARY_GELU: {
        double xd = (double)x; /* as the CPU: Phi from erfc, in double */
        double cdf = erfc(xd * -0.70710678118654752440) * 0.5;
        double pdf = exp((xd * xd) * -0.5) * 0.39894228040143267794;
        return g * (C)(cdf + xd * pdf);
    }
    case BORN_UNARY_GELU_TANH: {
        const C k = C(0.7978845608028654), c = C(0.044715), c3 = C(3.0 * 0.044715);
        C x2 = x * x;
        C t = m_tanh((x * (x2 * c + C(1))) * k);
        C dinner = (x2 * c3 + C(1)) * k;
        return g * ((t + C(1)) * C(0.5) + ((x * (C(1) - t * t)) * C(0.5)) * dinner);
    }
    default: return g;
    }
}

template <class C> struct UnaryBackward {
    born_unary_op op;
    born_dtype t;
    double a, b;
    __device__ void operator()(char **p) const {
        C g = ld<C>(p[1], t), x = ld<C>(p[2], t), y = ld<C>(p[3], t);
        st(p[0], t, backward_f<C>(op, g, x, y, a, b));
    }
};

bool backward_op(born_unary_op op) {
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

} // namespace
} // namespace cu

using namespace cu;

extern "C" cudaError_t cu_copy(cudaStream_t s, const cu_strided *dst, const cu_strided *src) {
    const cu_strided *ops[2] = {dst, src};
    if (dst->dtype == src->dtype) {
        /* both dense in the same order, not overlapping: the driver's copy (about 4.2 TB/s on an
         * H200 against 3.0 for the kernel below, which moves one element a thread) */
        const Geo<2> g = make_geo<2>(ops);
        const int64_t es = dtype_size(dst->dtype), bytes = g.numel * es;
        if (g.numel > 1 && g.ndim == 1 && g.stride[0][0] == es && g.stride[1][0] == es &&
            (g.base[0] + bytes <= g.base[1] || g.base[1] + bytes <= g.base[0]))
            return cudaMemcpyAsync(g.base[0], g.base[1], (size_t)bytes, cudaMemcpyDefault, s);
        return by_size<2, CopySame>(s, ops, dtype_size(dst->dtype));
    }
    return launch_ew<2>(s, ops, Convert{src->dtype, dst->dtype});
}

extern "C" cudaError_t cu_fill(cudaStream_t s, const cu_strided *dst, double value) {
    const cu_strided *ops[1] = {dst};
    /* the value converted on the host exactly as st_d would on the device */
    auto sat = [](double x, double lo, double hi) -> int64_t {
        if (x != x) return 0;
        if (x <= lo) return (int64_t)lo;
        if (x >= hi) return hi >= 9223372036854775807.0 ? INT64_MAX : (int64_t)hi;
        return (int64_t)x;
    };
    switch (dst->dtype) {
    case BORN_F32: return launch_ew<1>(s, ops, FillPattern<float>{(float)value});
    case BORN_F64: return launch_ew<1>(s, ops, FillPattern<double>{value});
    case BORN_F16: {
        __half h = __float2half_rn((float)value);
        uint16_t bits;
        memcpy(&bits, &h, 2);
        return launch_ew<1>(s, ops, FillPattern<uint16_t>{bits});
    }
    case BORN_BF16: {
        __nv_bfloat16 h = __float2bfloat16_rn((float)value);
        uint16_t bits;
        memcpy(&bits, &h, 2);
        return launch_ew<1>(s, ops, FillPattern<uint16_t>{bits});
    }
    case BORN_I8: return launch_ew<1>(s, ops, FillPattern<int8_t>{(int8_t)sat(value, -128.0, 127.0)});
    case BORN_I16:
        return launch_ew<1>(s, ops, FillPattern<int16_t>{(int16_t)sat(value, -32768.0, 32767.0)});
    case BORN_I32:
        return launch_ew<1>(
            s, ops, FillPattern<int32_t>{(int32_t)sat(value, -2147483648.0, 2147483647.0)});
    case BORN_I64:
        return launch_ew<1>(s, ops,
                            FillPattern<int64_t>{sat(value, -9223372036854775808.0,
                                                     9223372036854775807.0)});
    case BORN_U8: return launch_ew<1>(s, ops, FillPattern<uint8_t>{(uint8_t)sat(value, 0.0, 255.0)});
    case BORN_BOOL: return launch_ew<1>(s, ops, FillPattern<uint8_t>{(uint8_t)(value != 0.0)});
    default: return cudaErrorNotSupported;
    }
}

namespace cu {
namespace {
/* The vectorized path for dense f32/f16/bf16 (below); cudaErrorNotReady when it does not apply. */
cudaError_t unary_fast(cudaStream_t s, born_unary_op op, const cu_strided *out, const cu_strided *in,
                       double a, double b);
} // namespace
} // namespace cu

extern "C" cudaError_t cu_unary(cudaStream_t s, born_unary_op op, const cu_strided *out,
                                const cu_strided *in, const born_unary_params *params) {
    const cu_strided *ops[2] = {out, in};
    double a = params ? params->alpha : 0, b = params ? params->beta : 0;
    if ((unsigned)op >= BORN_UNARY_OP_COUNT) return cudaErrorNotSupported;
    if (in->dtype == BORN_F64) {
        if (!unary_float_op(op)) return cudaErrorNotSupported;
        return launch_ew<2>(s, ops, UnaryFloat<double>{op, in->dtype, out->dtype, a, b});
    }
    if (is_floating(in->dtype)) {
        if (!unary_float_op(op)) return cudaErrorNotSupported;
        if (out->dtype == in->dtype) {
            cudaError_t e = cu::unary_fast(s, op, out, in, a, b);
            if (e != cudaErrorNotReady) return e;
        }
        return launch_ew<2>(s, ops, UnaryFloat<float>{op, in->dtype, out->dtype, a, b});
    }
    if (!unary_int_op(op, in->dtype)) return cudaErrorNotSupported;
    return launch_ew<2>(s, ops, UnaryInt{op, in->dtype, a, b});
}

namespace cu {
namespace {

/* ---- a vectorized path for +, -, *, / on f32/f16/bf16 ------------------------------------------ */

/* Four elements at once (16 bytes of f32, 8 of f16/bf16). */
template <class T> struct V4;
template <> struct V4<float> {
    static __device__ inline void load(const float *p, float *v) {
        float4 x = *(const float4 *)p;
        v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
    }
    static __device__ inline void store(float *p, const float *v) {
        *(float4 *)p = make_float4(v[0], v[1], v[2], v[3]);
    }
};
template <> struct V4<__nv_bfloat16> {
    static __device__ inline void load(const __nv_bfloat16 *p, float *v) {
        uint2 x = *(const uint2 *)p;
        __nv_bfloat162 lo = *(__nv_bfloat162 *)&x.x, hi = *(__nv_bfloat162 *)&x.y;
        v[0] = __low2float(lo), v[1] = __high2float(lo), v[2] = __low2float(hi), v[3] = __high2float(hi);
    }
    static __device__ inline void store(__nv_bfloat16 *p, const float *v) {
        __nv_bfloat162 lo = __floats2bfloat162_rn(v[0], v[1]), hi = __floats2bfloat162_rn(v[2], v[3]);
        uint2 x;
        x.x = *(uint32_t *)&lo;
        x.y = *(uint32_t *)&hi;
        *(uint2 *)p = x;
    }
};
template <> struct V4<__half> {
    static __device__ inline void load(const __half *p, float *v) {
        uint2 x = *(const uint2 *)p;
        __half2 lo = *(__half2 *)&x.x, hi = *(__half2 *)&x.y;
        v[0] = __low2float(lo), v[1] = __high2float(lo), v[2] = __low2float(hi), v[3] = __high2float(hi);
    }
    static __device__ inline void store(__half *p, const float *v) {
        __half2 lo = __floats2half2_rn(v[0], v[1]), hi = __floats2half2_rn(v[2], v[3]);
        uint2 x;
        x.x = *(uint32_t *)&lo;
        x.y = *(uint32_t *)&hi;
        *(uint2 *)p = x;
    }
};

/* Four elements of operand p with period per (binary_v4_kernel) at element i: one value
 * repeated when per is 1 (a broadcast scalar, held in one), else a 4-element load. */
template <class T>
__device__ inline void load_period(const T *p, int64_t per, int64_t i, float one, float *v) {
    if (per == 1) {
        v[0] = v[1] = v[2] = v[3] = one;
        return;
    }
    V4<T>::load(p + (per ? i % per : i), v);
}

/* out = a op b over n elements (n a multiple of 4); a operand with period pa (pb) repeats every
 * pa elements (a broadcast leading dims, as a bias row; 1: a broadcast scalar, as the gradient
 * of a sum), 0 meaning the full length. The result is computed in f32 and rounded once, as
 * BinaryFloat. */
template <class T, int OP>
__global__ void binary_v4_kernel(T *o, const T *a, const T *b, int64_t n, int64_t pa, int64_t pb) {
    int64_t step = (int64_t)gridDim.x * blockDim.x * 4;
    const float sa = pa == 1 ? (float)a[0] : 0.0f, sb = pb == 1 ? (float)b[0] : 0.0f;
    for (int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 4; i < n; i += step) {
        float x[4], y[4], r[4];
        load_period(a, pa, i, sa, x);
        load_period(b, pb, i, sb, y);
#pragma unroll
        for (int u = 0; u < 4; u++)
            r[u] = OP == 0 ? x[u] + y[u] : OP == 1 ? x[u] - y[u] : OP == 2 ? x[u] * y[u] : x[u] / y[u];
        V4<T>::store(o + i, r);
    }
}

/* The period of t within out's shape: t's elements repeat every `period` elements of the dense
 * order when its leading dims are broadcast (stride 0 or size 1) and the rest are dense; 0 when t
 * is dense over the whole shape; -1 for any other layout. */
int64_t period_of(const cu_strided *t) {
    int64_t expect = 1;
    int d = t->ndim - 1;
    for (; d >= 0; d--) {
        if (t->shape[d] == 1) continue;
        if (t->strides[d] != expect) break;
        expect *= t->shape[d];
    }
    int64_t period = expect;
    bool all_dense = true;
    for (; d >= 0; d--) {
        if (t->shape[d] == 1) continue;
        if (t->strides[d] != 0) return -1;
        all_dense = false;
    }
    return all_dense ? 0 : period;
}

template <class T>
cudaError_t binary_v4(cudaStream_t s, int op, const cu_strided *out, const cu_strided *a,
                      const cu_strided *b, int64_t n, int64_t pa, int64_t pb) {
    unsigned grid = grid_for(n / 4, 256);
    T *o = (T *)out->data;
    const T *x = (const T *)a->data, *y = (const T *)b->data;
    switch (op) {
    case 0: binary_v4_kernel<T, 0><<<grid, 256, 0, s>>>(o, x, y, n, pa, pb); break;
    case 1: binary_v4_kernel<T, 1><<<grid, 256, 0, s>>>(o, x, y, n, pa, pb); break;
    case 2: binary_v4_kernel<T, 2><<<grid, 256, 0, s>>>(o, x, y, n, pa, pb); break;
    default: binary_v4_kernel<T, 3><<<grid, 256, 0, s>>>(o, x, y, n, pa, pb); break;
    }
    return cudaGetLastError();
}

/* The vectorized path when it applies (cudaErrorNotReady when it does not). */
cudaError_t binary_fast(cudaStream_t s, born_binary_op op, const cu_strided *out, const cu_strided *a,
                        const cu_strided *b) {
    int k = op == BORN_BINARY_ADD ? 0 : op == BORN_BINARY_SUB ? 1 : op == BORN_BINARY_MUL ? 2
            : op == BORN_BINARY_DIV ? 3 : -1;
    born_dtype t = a->dtype;
    if (k < 0 || b->dtype != t || out->dtype != t ||
        (t != BORN_F32 && t != BORN_BF16 && t != BORN_F16))
        return cudaErrorNotReady;
    int64_t n = 1;
    for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
    int64_t po = period_of(out), pa = period_of(a), pb = period_of(b);
    if (n == 0 || n % 4 || po != 0 || pa < 0 || pb < 0 || (pa % 4 && pa != 1) || (pb % 4 && pb != 1))
        return cudaErrorNotReady;
    uintptr_t align = 4 * (uintptr_t)dtype_size(t);
    uintptr_t bits = (uintptr_t)out->data | (pa == 1 ? 0 : (uintptr_t)a->data) |
                     (pb == 1 ? 0 : (uintptr_t)b->data);
    if (bits % align) return cudaErrorNotReady;
    switch (t) {
    case BORN_F32: return binary_v4<float>(s, k, out, a, b, n, pa, pb);
    case BORN_BF16: return binary_v4<__nv_bfloat16>(s, k, out, a, b, n, pa, pb);
    default: return binary_v4<__half>(s, k, out, a, b, n, pa, pb);
    }
}

/* ---- vectorized activations on dense f32/f16/bf16 ---------------------------------------------- */

/* out = op(in) four elements a thread, computed in f32 as UnaryFloat<float> (the same bits). */
template <class T>
__global__ void unary_v4_kernel(T *o, const T *x, int64_t n, born_unary_op op, double a, double b) {
    int64_t step = (int64_t)gridDim.x * blockDim.x * 4;
    for (int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 4; i < n; i += step) {
        float v[4];
        V4<T>::load(x + i, v);
#pragma unroll
        for (int u = 0; u < 4; u++) v[u] = unary_f<float>(op, v[u], a, b);
        V4<T>::store(o + i, v);
    }
}

/* grad_in = grad_out * f'(x) four elements a thread, as UnaryBackward<float>; y is read only by
 * the ops whose gradient uses the output. */
template <class T>
__global__ void unary_backward_v4_kernel(T *gi, const T *g, const T *x, const T *y, int64_t n,
                                         born_unary_op op, double a, double b) {
    int64_t step = (int64_t)gridDim.x * blockDim.x * 4;
    for (int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 4; i < n; i += step) {
        float gv[4], xv[4], yv[4];
        V4<T>::load(g + i, gv);
        V4<T>::load(x + i, xv);
        if (y) V4<T>::load(y + i, yv);
#pragma unroll
        for (int u = 0; u < 4; u++) gv[u] = backward_f<float>(op, gv[u], xv[u], y ? yv[u] : xv[u], a, b);
        V4<T>::store(gi + i, gv);
    }
}

/* The element count when every operand is dense, of one dtype (f32/f16/bf16), a multiple of 4
 * long and 4-element aligned; 0 otherwise. */
int64_t dense_v4(born_dtype t, int nops, const cu_strided *const *ops) {
    if (t != BORN_F32 && t != BORN_BF16 && t != BORN_F16) return 0;
    int64_t n = 1;
    for (int d = 0; d < ops[0]->ndim; d++) n *= ops[0]->shape[d];
    if (n == 0 || n % 4) return 0;
    uintptr_t align = 4 * (uintptr_t)dtype_size(t), bits = 0;
    for (int i = 0; i < nops; i++) {
        if (ops[i]->dtype != t || period_of(ops[i]) != 0) return 0;
        bits |= (uintptr_t)ops[i]->data;
    }
    return bits % align ? 0 : n;
}

template <class T>
cudaError_t unary_v4(cudaStream_t s, born_unary_op op, const cu_strided *out, const cu_strided *in,
                     int64_t n, double a, double b) {
    unary_v4_kernel<T><<<grid_for(n / 4, 256), 256, 0, s>>>((T *)out->data, (const T *)in->data, n,
                                                            op, a, b);
    return cudaGetLastError();
}

template <class T>
cudaError_t unary_backward_v4(cudaStream_t s, born_unary_op op, const cu_strided *gi,
                              const cu_strided *g, const cu_strided *x, const cu_strided *y,
                              int64_t n, double a, double b) {
    unary_backward_v4_kernel<T><<<grid_for(n / 4, 256), 256, 0, s>>>(
        (T *)gi->data, (const T *)g->data, (const T *)x->data, y ? (const T *)y->data : NULL, n, op,
        a, b);
    return cudaGetLastError();
}

cudaError_t unary_fast(cudaStream_t s, born_unary_op op, const cu_strided *out, const cu_strided *in,
                       double a, double b) {
    const cu_strided *ops[2] = {out, in};
    int64_t n = dense_v4(in->dtype, 2, ops);
    if (!n) return cudaErrorNotReady;
    switch (in->dtype) {
    case BORN_F32: return unary_v4<float>(s, op, out, in, n, a, b);
    case BORN_BF16: return unary_v4<__nv_bfloat16>(s, op, out, in, n, a, b);
    default: return unary_v4<__half>(s, op, out, in, n, a, b);
    }
}

/* Whether the backward of op reads the forward's output. */
bool backward_reads_y(born_unary_op op) {
    return op == BORN_UNARY_ELU || op == BORN_UNARY_SIGMOID || op == BORN_UNARY_TANH;
}

} // namespace
} // namespace cu

extern "C" cudaError_t cu_binary(cudaStream_t s, born_binary_op op, const cu_strided *out,
                                 const cu_strided *a, const cu_strided *b, int *flag) {
    const cu_strided *ops[3] = {out, a, b};
    born_dtype t = a->dtype;
    {
        cudaError_t e = cu::binary_fast(s, op, out, a, b);
        if (e != cudaErrorNotReady) return e;
    }
    if (t == BORN_F64) {
        if (!binary_float_op(op)) return cudaErrorNotSupported;
        return launch_ew<3>(s, ops, BinaryFloat<double>{op, t, out->dtype});
    }
    if (is_floating(t)) {
        if (!binary_float_op(op)) return cudaErrorNotSupported;
        return launch_ew<3>(s, ops, BinaryFloat<float>{op, t, out->dtype});
    }
    if (t == BORN_BOOL) {
        if (!binary_bool_op(op)) return cudaErrorNotSupported;
        return launch_ew<3>(s, ops, BinaryBool{op});
    }
    if (!binary_int_op(op)) return cudaErrorNotSupported;
    return launch_ew<3>(s, ops, BinaryInt{op, t, flag});
}

extern "C" cudaError_t cu_where(cudaStream_t s, const cu_strided *out, const cu_strided *cond,
                                const cu_strided *a, const cu_strided *b) {
    const cu_strided *ops[4] = {out, cond, a, b};
    return by_size<4, WhereT>(s, ops, dtype_size(out->dtype));
}

extern "C" cudaError_t cu_unary_backward(cudaStream_t s, born_unary_op op,
                                         const cu_strided *grad_in, const cu_strided *grad_out,
                                         const cu_strided *x, const cu_strided *y,
                                         const born_unary_params *params) {
    if (!backward_op(op) || !is_floating(x->dtype)) return cudaErrorNotSupported;
    const cu_strided *ops[4] = {grad_in, grad_out, x, y};
    double a = params ? params->alpha : 0, b = params ? params->beta : 0;
    if (x->dtype == BORN_F64)
        return launch_ew<4>(s, ops, UnaryBackward<double>{op, x->dtype, a, b});
    bool ry = backward_reads_y(op);
    int64_t n = cu::dense_v4(x->dtype, ry ? 4 : 3, ops);
    if (n) {
        const cu_strided *yy = ry ? y : NULL;
        switch (x->dtype) {
        case BORN_F32: return unary_backward_v4<float>(s, op, grad_in, grad_out, x, yy, n, a, b);
        case BORN_BF16: return unary_backward_v4<__nv_bfloat16>(s, op, grad_in, grad_out, x, yy, n, a, b);
        default: return unary_backward_v4<__half>(s, op, grad_in, grad_out, x, yy, n, a, b);
        }
    }
    return launch_ew<4>(s, ops, UnaryBackward<float>{op, x->dtype, a, b});
}
