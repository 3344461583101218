/* Internal to the CUDA plugin: device-side helpers shared by the .cu files. Elements are read and
 * written through the dtype known at run time (the switch is uniform across a launch, so it costs
 * a few instructions, not divergence), with Born's conversion rules (src/core/scalar.h): float to
 * integer truncates and saturates (NaN -> 0), integer narrowing wraps, anything to bool is
 * "nonzero", f16/bf16 round to nearest even. */
#ifndef BORN_CUDA_COMMON_CUH
#define BORN_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "backend/cuda/kernels.h"

namespace cu {

constexpr int MAXD = BORN_MAX_DIMS;

__host__ __device__ inline int64_t dtype_size(born_dtype t) {
    switch (t) {
    case BORN_F64:
    case BORN_I64: return 8;
    case BORN_F32:
    case BORN_I32: return 4;
    case BORN_F16:
    case BORN_BF16:
    case BORN_I16: return 2;
    default: return 1;
    }
}

__host__ __device__ inline bool is_floating(born_dtype t) {
    return t == BORN_F32 || t == BORN_F64 || t == BORN_F16 || t == BORN_BF16;
}

__device__ inline double ld_d(const char *p, born_dtype t) {
    switch (t) {
    case BORN_F32: return *(const float *)p;
    case BORN_F64: return *(const double *)p;
    case BORN_F16: return __half2float(*(const __half *)p);
    case BORN_BF16: return __bfloat162float(*(const __nv_bfloat16 *)p);
    case BORN_I8: return *(const int8_t *)p;
    case BORN_I16: return *(const int16_t *)p;
    case BORN_I32: return *(const int32_t *)p;
    case BORN_I64: return (double)*(const int64_t *)p;
    case BORN_U8: return *(const uint8_t *)p;
    case BORN_BOOL: return *(const uint8_t *)p ? 1.0 : 0.0;
    default: return 0.0;
    }
}

__device__ inline float ld_f(const char *p, born_dtype t) {
    switch (t) {
    case BORN_F32: return *(const float *)p;
    case BORN_F16: return __half2float(*(const __half *)p);
    case BORN_BF16: return __bfloat162float(*(const __nv_bfloat16 *)p);
    default: return (float)ld_d(p, t);
    }
}

__device__ inline int64_t sat_i64(double v, double lo, double hi) {
    if (v != v) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return hi >= 9223372036854775807.0 ? INT64_MAX : (int64_t)hi;
    return (int64_t)v;
}

__device__ inline int64_t ld_i(const char *p, born_dtype t) {
    switch (t) {
    case BORN_I8: return *(const int8_t *)p;
    case BORN_I16: return *(const int16_t *)p;
    case BORN_I32: return *(const int32_t *)p;
    case BORN_I64: return *(const int64_t *)p;
    case BORN_U8: return *(const uint8_t *)p;
    case BORN_BOOL: return *(const uint8_t *)p ? 1 : 0;
    default: return sat_i64(ld_d(p, t), -9223372036854775808.0, 9223372036854775807.0);
    }
}

__device__ inline void st_i(char *p, born_dtype t, int64_t v) {
    switch (t) {
    case BORN_F32: *(float *)p = (float)v; break;
    case BORN_F64: *(double *)p = (double)v; break;
    case BORN_F16: *(__half *)p = __float2half_rn((float)v); break;
    case BORN_BF16: *(__nv_bfloat16 *)p = __float2bfloat16_rn((float)v); break;
    case BORN_I8: *(int8_t *)p = (int8_t)(uint8_t)(uint64_t)v; break;
    case BORN_I16: *(int16_t *)p = (int16_t)(uint16_t)(uint64_t)v; break;
    case BORN_I32: *(int32_t *)p = (int32_t)(uint32_t)(uint64_t)v; break;
    case BORN_I64: *(int64_t *)p = v; break;
    case BORN_U8: *(uint8_t *)p = (uint8_t)(uint64_t)v; break;
    case BORN_BOOL: *(uint8_t *)p = v != 0; break;
    default: break;
    }
}

__device__ inline void st_d(char *p, born_dtype t, double v) {
    switch (t) {
    case BORN_F32: *(float *)p = (float)v; break;
    case BORN_F64: *(double *)p = v; break;
    case BORN_F16: *(__half *)p = __float2half_rn((float)v); break;
    case BORN_BF16: *(__nv_bfloat16 *)p = __float2bfloat16_rn((float)v); break;
    case BORN_I8: *(int8_t *)p = (int8_t)sat_i64(v, -128.0, 127.0); break;
    case BORN_I16: *(int16_t *)p = (int16_t)sat_i64(v, -32768.0, 32767.0); break;
    case BORN_I32: *(int32_t *)p = (int32_t)sat_i64(v, -2147483648.0, 2147483647.0); break;
    case BORN_I64:
        *(int64_t *)p = sat_i64(v, -9223372036854775808.0, 9223372036854775807.0);
        break;
    case BORN_U8: *(uint8_t *)p = (uint8_t)sat_i64(v, 0.0, 255.0); break;
    case BORN_BOOL: *(uint8_t *)p = v != 0.0; break;
    default: break;
    }
}

__device__ inline void st_f(char *p, born_dtype t, float v) {
    switch (t) {
    case BORN_F32: *(float *)p = v; break;
    case BORN_F16: *(__half *)p = __float2half_rn(v); break;
    case BORN_BF16: *(__nv_bfloat16 *)p = __float2bfloat16_rn(v); break;
    default: st_d(p, t, v); break;
    }
}

/* Load/store in the compute type C (float for f32/f16/bf16, double for f64). */
template <class C> __device__ inline C ld(const char *p, born_dtype t);
template <> __device__ inline float ld<float>(const char *p, born_dtype t) { return ld_f(p, t); }
template <> __device__ inline double ld<double>(const char *p, born_dtype t) { return ld_d(p, t); }
__device__ inline void st(char *p, born_dtype t, float v) { st_f(p, t, v); }
__device__ inline void st(char *p, born_dtype t, double v) { st_d(p, t, v); }

/* N operands of one shape, coalesced: dims of size 1 dropped, neighbours that are contiguous for
 * every operand merged. Strides are in bytes. */
template <int N> struct Geo {
    int ndim;
    int64_t numel;
    int64_t shape[MAXD];
    int64_t stride[N][MAXD];
    char *base[N];
};

template <int N> inline Geo<N> make_geo(const cu_strided *const *ops) {
    Geo<N> g;
    const cu_strided *o0 = ops[0];
    g.ndim = 0;
    g.numel = 1;
    for (int k = 0; k < N; k++) g.base[k] = (char *)ops[k]->data;
    for (int d = 0; d < o0->ndim; d++) {
        int64_t n = o0->shape[d];
        g.numel *= n;
        if (n == 1) continue;
        int j = g.ndim;
        bool merge = j > 0;
        for (int k = 0; k < N && merge; k++) {
            int64_t bs = ops[k]->strides[d] * dtype_size(ops[k]->dtype);
            merge = g.stride[k][j - 1] == bs * n;
        }
        if (merge) {
            g.shape[j - 1] *= n;
            for (int k = 0; k < N; k++)
                g.stride[k][j - 1] = ops[k]->strides[d] * dtype_size(ops[k]->dtype);
            continue;
        }
        g.shape[j] = n;
        for (int k = 0; k < N; k++) g.stride[k][j] = ops[k]->strides[d] * dtype_size(ops[k]->dtype);
        g.ndim++;
    }
    if (g.ndim == 0) { /* one element (or a 0-dim tensor) */
        g.ndim = 1;
        g.shape[0] = 1;
        for (int k = 0; k < N; k++) g.stride[k][0] = 0;
    }
    return g;
}

template <int N> __device__ inline void geo_ptrs(const Geo<N> &g, int64_t i, char **p) {
    for (int k = 0; k < N; k++) p[k] = g.base[k];
    for (int d = g.ndim - 1; d > 0; d--) {
        int64_t s = g.shape[d];
        int64_t q = i / s;
        int64_t idx = i - q * s;
        i = q;
        for (int k = 0; k < N; k++) p[k] += idx * g.stride[k][d];
    }
    for (int k = 0; k < N; k++) p[k] += i * g.stride[k][0];
}

/* geo_ptrs for numel < 2^32: the index splits with 32-bit divisions (several times cheaper). */
template <int N> __device__ inline void geo_ptrs32(const Geo<N> &g, uint32_t i, char **p) {
    for (int k = 0; k < N; k++) p[k] = g.base[k];
    for (int d = g.ndim - 1; d > 0; d--) {
        uint32_t s = (uint32_t)g.shape[d];
        uint32_t q = i / s;
        uint32_t idx = i - q * s;
        i = q;
        for (int k = 0; k < N; k++) p[k] += (int64_t)idx * g.stride[k][d];
    }
    for (int k = 0; k < N; k++) p[k] += (int64_t)i * g.stride[k][0];
}

/* One thread an element, grid-stride; F is called with the operands' element pointers. MODE 1:
 * one dim (flat); 2: several, fewer than 2^32 elements; 0: the general case. */
template <int N, int MODE, class F> __global__ void ew_kernel(Geo<N> g, F f) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < g.numel; i += step) {
        char *p[N];
        if (MODE == 1) {
            for (int k = 0; k < N; k++) p[k] = g.base[k] + i * g.stride[k][0];
        } else if (MODE == 2) {
            geo_ptrs32<N>(g, (uint32_t)i, p);
        } else {
            geo_ptrs<N>(g, i, p);
        }
        f(p);
    }
}

inline unsigned grid_for(int64_t n, int threads) {
    int64_t blocks = (n + threads - 1) / threads;
    const int64_t cap = 132 * 32; /* enough to fill any current GPU; threads loop beyond */
    return (unsigned)(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

template <int N, class F>
inline cudaError_t launch_ew(cudaStream_t s, const cu_strided *const *ops, F f) {
    Geo<N> g = make_geo<N>(ops);
    if (g.numel == 0) return cudaSuccess;
    const int threads = 256;
    if (g.ndim == 1)
        ew_kernel<N, 1, F><<<grid_for(g.numel, threads), threads, 0, s>>>(g, f);
    else if (g.numel < ((int64_t)1 << 32))
        ew_kernel<N, 2, F><<<grid_for(g.numel, threads), threads, 0, s>>>(g, f);
    else
        ew_kernel<N, 0, F><<<grid_for(g.numel, threads), threads, 0, s>>>(g, f);
    return cudaGetLastError();
}

} // namespace cu

#endif
