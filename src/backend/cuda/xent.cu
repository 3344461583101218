/* Cross-entropy fused on CUDA: log-softmax and the negative log-likelihood of the target class in
 * one pass over each row of logits, and the gradient (softmax minus the one-hot target, times the
 * row's incoming gradient) in one more, so a language model's [tokens, vocabulary] logits are
 * read twice in all and no log-probabilities are stored. One block of 256 threads a row; each
 * thread keeps a running max and a sum rescaled when the max grows, and the block combines the
 * pairs. Compute in f32 (f64 for f64); NaN in a row makes its loss NaN. f16/bf16 rows of a multiple
 * of 8 (16-byte aligned) are read and written eight elements a load, the forward folding each
 * chunk's max and sum into the running pair. */
#include "backend/cuda/common.cuh"
#include "backend/cuda/xent.h"

namespace cu {
namespace {

constexpr int XT = 256;

template <class T> __device__ inline float ldx(const T *p) { return (float)*p; }
template <> __device__ inline float ldx<float>(const float *p) { return *p; }
__device__ inline double ldx(const double *p) { return *p; }
__device__ inline void put(float *p, float v) { *p = v; }
__device__ inline void put(double *p, double v) { *p = v; }
__device__ inline void put(__half *p, float v) { *p = __float2half_rn(v); }
__device__ inline void put(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

__device__ inline float x_exp(float v) { return expf(v); }
__device__ inline double x_exp(double v) { return exp(v); }
__device__ inline float x_log(float v) { return logf(v); }
__device__ inline double x_log(double v) { return log(v); }

/* (m, s) pairs: the sum s of exp(x - m); combining rescales to the larger max. */
template <class C> __device__ inline void pair_add(C &m, C &s, C m2, C s2) {
    if (m2 != m2 || m != m) {
        m = m2 != m2 ? m2 : m;
        return;
    }
    if (m2 == -(C)INFINITY) return;
    if (m == -(C)INFINITY) {
        m = m2;
        s = s2;
        return;
    }
    if (m2 > m) {
        s = s * x_exp(m - m2) + s2;
        m = m2;
    } else {
        s += s2 * x_exp(m2 - m);
    }
}

template <class T, class C>
__global__ void __launch_bounds__(XT) xent_kernel(const T *x, int64_t xs, int64_t n, const int64_t *t,
                                                  int64_t ts, int64_t ignore, C *loss, C *lse,
                                                  unsigned long long *flag, unsigned long long tag) {
    __shared__ C sm[XT / 32], ss[XT / 32];
    const int64_t row = blockIdx.x;
    const T *xr = x + row * xs;
    C m = -(C)INFINITY, s = 0;
    for (int64_t c = threadIdx.x; c < n; c += XT) {
        C v = (C)ldx(xr + c);
        if (v != v) m = v;
        else if (v > m) {
            s = (m == -(C)INFINITY ? (C)0 : s * x_exp(m - v)) + (C)1;
            m = v;
        } else if (v != -(C)INFINITY) {
            s += x_exp(v - m);
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        C m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        pair_add(m, s, m2, s2);
    }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
        sm[warp] = m;
        ss[warp] = s;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        C M = sm[0], S = ss[0];
        for (int w = 1; w < XT / 32; w++) pair_add(M, S, sm[w], ss[w]);
        C l = M == -(C)INFINITY ? -(C)INFINITY : M + x_log(S);
        int64_t tv = t[row * ts];
        bool bad = tv != ignore && (tv < 0 || tv >= n); /* never read: NaN, and flagged */
        if (bad && flag) atomicCAS(flag, 0ull, tag | ((unsigned long long)tv & ((1ull << 47) - 1)));
        lse[row] = l;
        loss[row] = tv == ignore ? (C)0 : bad ? (C)NAN : l - (C)ldx(xr + tv);
    }
}

template <class T, class C>
__global__ void __launch_bounds__(XT) xent_backward_kernel(T *gx, const T *x, int64_t xs, int64_t n,
                                                           const int64_t *t, int64_t ts, int64_t ignore,
                                                           const C *lse, const C *g, int64_t gs) {
    const int64_t row = blockIdx.x;
    const T *xr = x + row * xs;
    T *gr = gx + row * n;
    const int64_t tv = t[row * ts];
    const C gi = tv == ignore ? (C)0 : g[row * gs], l = lse[row];
    for (int64_t c = threadIdx.x; c < n; c += XT) {
        C p = tv == ignore ? (C)0 : x_exp((C)ldx(xr + c) - l);
        put(gr + c, gi * (p - (c == tv ? (C)1 : (C)0)));
    }
}

/* ---- eight 16-bit logits a load (rows of a multiple of 8, 16-byte aligned) ---------------------- */

template <class T> struct H8;
template <> struct H8<__nv_bfloat16> {
    static __device__ inline void load(const __nv_bfloat16 *p, float *v) {
        uint4 u = *(const uint4 *)p;
        const __nv_bfloat162 *h = (const __nv_bfloat162 *)&u;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 f = __bfloat1622float2(h[i]);
            v[2 * i] = f.x;
            v[2 * i + 1] = f.y;
        }
    }
    static __device__ inline void store(__nv_bfloat16 *p, const float *v) {
        uint4 u;
        __nv_bfloat162 *h = (__nv_bfloat162 *)&u;
#pragma unroll
        for (int i = 0; i < 4; i++) h[i] = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
        *(uint4 *)p = u;
    }
};
template <> struct H8<__half> {
    static __device__ inline void load(const __half *p, float *v) {
        uint4 u = *(const uint4 *)p;
        const __half2 *h = (const __half2 *)&u;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 f = __half22float2(h[i]);
            v[2 * i] = f.x;
            v[2 * i + 1] = f.y;
        }
    }
    static __device__ inline void store(__half *p, const float *v) {
        uint4 u;
        __half2 *h = (__half2 *)&u;
#pragma unroll
        for (int i = 0; i < 4; i++) h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
        *(uint4 *)p = u;
    }
};

/* xent_kernel over eight logits a load: each thread folds a chunk's max and sum of exp(v - max)
 * into its running pair (pair_add), so a rescale costs one exp a chunk. */
template <class T>
__global__ void __launch_bounds__(XT) xent8_kernel(const T *x, int64_t xs, int64_t n, const int64_t *t,
                                                   int64_t ts, int64_t ignore, float *loss, float *lse,
                                                   unsigned long long *flag, unsigned long long tag) {
    __shared__ float sm[XT / 32], ss[XT / 32];
    const int64_t row = blockIdx.x;
    const T *xr = x + row * xs;
    float m = -INFINITY, s = 0;
    for (int64_t c = threadIdx.x * 8; c < n; c += XT * 8) {
        float v[8];
        H8<T>::load(xr + c, v);
        float mv = -INFINITY;
        bool nan = false;
#pragma unroll
        for (int u = 0; u < 8; u++) {
            nan |= v[u] != v[u];
            mv = fmaxf(mv, v[u]);
        }
        if (nan) {
            m = NAN;
            continue;
        }
        if (mv == -INFINITY) continue;
        float cs = 0;
#pragma unroll
        for (int u = 0; u < 8; u++) cs += expf(v[u] - mv);
        pair_add(m, s, mv, cs);
    }
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        pair_add(m, s, m2, s2);
    }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
        sm[warp] = m;
        ss[warp] = s;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float M = sm[0], S = ss[0];
        for (int w = 1; w < XT / 32; w++) pair_add(M, S, sm[w], ss[w]);
        float l = M == -INFINITY ? -INFINITY : M + logf(S);
        int64_t tv = t[row * ts];
        bool bad = tv != ignore && (tv < 0 || tv >= n);
        if (bad && flag) atomicCAS(flag, 0ull, tag | ((unsigned long long)tv & ((1ull << 47) - 1)));
        lse[row] = l;
        loss[row] = tv == ignore ? 0.f : bad ? NAN : l - ldx(xr + tv);
    }
}

template <class T>
__global__ void __launch_bounds__(XT) xent8_backward_kernel(T *gx, const T *x, int64_t xs, int64_t n,
                                                            const int64_t *t, int64_t ts, int64_t ignore,
                                                            const float *lse, const float *g, int64_t gs) {
    const int64_t row = blockIdx.x;
    const T *xr = x + row * xs;
    T *gr = gx + row * n;
    const int64_t tv = t[row * ts];
    const float gi = tv == ignore ? 0.f : g[row * gs], l = lse[row];
    for (int64_t c = threadIdx.x * 8; c < n; c += XT * 8) {
        float v[8];
        H8<T>::load(xr + c, v);
#pragma unroll
        for (int u = 0; u < 8; u++) {
            float p = tv == ignore ? 0.f : expf(v[u] - l);
            v[u] = gi * (p - (c + u == tv ? 1.f : 0.f));
        }
        H8<T>::store(gr + c, v);
    }
}

/* Whether the eight-wide kernels take these rows. */
bool fits8(const cu_strided *x, const void *out) {
    if (x->dtype != BORN_F16 && x->dtype != BORN_BF16) return false;
    int64_t n = x->shape[1];
    return n % 8 == 0 && (x->shape[0] <= 1 || x->strides[0] % 8 == 0) &&
           ((uintptr_t)x->data % 16) == 0 && (!out || ((uintptr_t)out % 16) == 0);
}

template <class T, class C>
cudaError_t fwd(cudaStream_t s, const cu_strided *loss, const cu_strided *lse, const cu_strided *x,
                const cu_strided *t, int64_t ignore, unsigned long long *flag,
                unsigned long long tag) {
    int64_t rows = x->shape[0], n = x->shape[1];
    if (rows == 0) return cudaSuccess;
    if (rows > 0x7fffffff) return cudaErrorNotSupported;
    if constexpr (sizeof(T) == 2) {
        if (fits8(x, NULL)) {
            xent8_kernel<T><<<(unsigned)rows, XT, 0, s>>>((const T *)x->data, x->strides[0], n,
                                                          (const int64_t *)t->data, t->strides[0],
                                                          ignore, (float *)loss->data, (float *)lse->data,
                                                          flag, tag);
            return cudaGetLastError();
        }
    }
    xent_kernel<T, C><<<(unsigned)rows, XT, 0, s>>>((const T *)x->data, x->strides[0], n,
                                                     (const int64_t *)t->data, t->strides[0], ignore,
                                                     (C *)loss->data, (C *)lse->data, flag, tag);
    return cudaGetLastError();
}

template <class T, class C>
cudaError_t bwd(cudaStream_t s, const cu_strided *gx, const cu_strided *x, const cu_strided *t,
                const cu_strided *lse, const cu_strided *g, int64_t ignore) {
    int64_t rows = x->shape[0], n = x->shape[1];
    if (rows == 0 || n == 0) return cudaSuccess;
    if (rows > 0x7fffffff) return cudaErrorNotSupported;
    if constexpr (sizeof(T) == 2) {
        if (fits8(x, gx->data)) {
            xent8_backward_kernel<T><<<(unsigned)rows, XT, 0, s>>>(
                (T *)gx->data, (const T *)x->data, x->strides[0], n, (const int64_t *)t->data,
                t->strides[0], ignore, (const float *)lse->data, (const float *)g->data, g->strides[0]);
            return cudaGetLastError();
        }
    }
    xent_backward_kernel<T, C><<<(unsigned)rows, XT, 0, s>>>(
        (T *)gx->data, (const T *)x->data, x->strides[0], n, (const int64_t *)t->data, t->strides[0],
        ignore, (const C *)lse->data, (const C *)g->data, g->strides[0]);
    return cudaGetLastError();
}

} // namespace
} // namespace cu

extern "C" cudaError_t cu_cross_entropy(cudaStream_t s, const cu_strided *loss, const cu_strided *lse,
                                        const cu_strided *x, const cu_strided *target,
                                        int64_t ignore_index, unsigned long long *flag,
                                        unsigned long long tag) {
    using namespace cu;
    if (x->ndim != 2 || (x->shape[1] > 1 && x->strides[1] != 1) || target->dtype != BORN_I64)
        return cudaErrorNotSupported;
    switch (x->dtype) {
    case BORN_F32: return fwd<float, float>(s, loss, lse, x, target, ignore_index, flag, tag);
    case BORN_F64: return fwd<double, double>(s, loss, lse, x, target, ignore_index, flag, tag);
    case BORN_F16: return fwd<__half, float>(s, loss, lse, x, target, ignore_index, flag, tag);
    case BORN_BF16:
        return fwd<__nv_bfloat16, float>(s, loss, lse, x, target, ignore_index, flag, tag);
    default: return cudaErrorNotSupported;
    }
}

extern "C" cudaError_t cu_cross_entropy_backward(cudaStream_t s, const cu_strided *grad_x,
                                                 const cu_strided *x, const cu_strided *target,
                                                 const cu_strided *lse, const cu_strided *g,
                                                 int64_t ignore_index) {
    using namespace cu;
    if (x->ndim != 2 || (x->shape[1] > 1 && x->strides[1] != 1) || target->dtype != BORN_I64)
        return cudaErrorNotSupported;
    switch (x->dtype) {
    case BORN_F32: return bwd<float, float>(s, grad_x, x, target, lse, g, ignore_index);
    case BORN_F64: return bwd<double, double>(s, grad_x, x, target, lse, g, ignore_index);
    case BORN_F16: return bwd<__half, float>(s, grad_x, x, target, lse, g, ignore_index);
    case BORN_BF16: return bwd<__nv_bfloat16, float>(s, grad_x, x, target, lse, g, ignore_index);
    default: return cudaErrorNotSupported;
    }
}
