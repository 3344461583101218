/* Dynamic loss scaling's unscale on CUDA, as torch's _amp_foreach_non_finite_check_and_unscale_:
 * one launch walks up to 128 gradients of one dtype cut into chunks (one block a chunk,
 * grid-stride), multiplies every element by the reciprocal of the scale read from device memory
 * and ORs "a product is inf or NaN" into the found_inf flag, with one write per block
 * (__syncthreads_or). The scale never reaches the host, so the unscale can be captured in a CUDA
 * graph and replayed with whatever scale the device holds then. */
#include "backend/cuda/amp.h"
#include "backend/cuda/common.cuh"

namespace cu {
namespace {

constexpr int UMULTI = 128;
constexpr int64_t UCHUNK = 8192;
constexpr int UTHREADS = 256;

/* One launch: gradient k's elements are chunks chunk_end[k - 1] .. chunk_end[k] - 1. */
struct MultiUnscale {
    int count;
    int64_t chunk_end[UMULTI];
    int64_t n[UMULTI];
    void *ptr[UMULTI];
    float *found_inf;
    const float *scale;
};

/* g = g * inv as the binary mul of a T tensor by an f32 0-dim tensor computes it (in f32, or in
 * f64 for f64), rounded to T; bad becomes true when the stored value is inf or NaN. */
__device__ inline void unscale_one(float &g, float inv, bool &bad) {
    g = __fmul_rn(g, inv);
    bad |= !isfinite(g);
}
__device__ inline void unscale_one(double &g, float inv, bool &bad) {
    g = __dmul_rn(g, (double)inv);
    bad |= !isfinite(g);
}
__device__ inline void unscale_one(__half &g, float inv, bool &bad) {
    g = __float2half_rn(__fmul_rn(__half2float(g), inv));
    bad |= !isfinite(__half2float(g));
}
__device__ inline void unscale_one(__nv_bfloat16 &g, float inv, bool &bad) {
    g = __float2bfloat16_rn(__fmul_rn(__bfloat162float(g), inv));
    bad |= !isfinite(__bfloat162float(g));
}

template <class T> __global__ void unscale_kernel(const __grid_constant__ MultiUnscale a) {
    float inv = (float)(1.0 / (double)*a.scale);
    bool bad = false;
    int64_t total = a.chunk_end[a.count - 1];
    for (int64_t c = blockIdx.x; c < total; c += gridDim.x) { /* the same trips for the block */
        int k = 0;
        while (a.chunk_end[k] <= c)
            k++;
        int64_t base = (c - (k ? a.chunk_end[k - 1] : 0)) * UCHUNK;
        int64_t end = base + UCHUNK < a.n[k] ? base + UCHUNK : a.n[k];
        T *g = (T *)a.ptr[k];
        for (int64_t i = base + threadIdx.x; i < end; i += blockDim.x)
            unscale_one(g[i], inv, bad);
    }
    if (__syncthreads_or(bad) && threadIdx.x == 0) *a.found_inf = 1.0f;
}

bool contiguous(const cu_strided *t) {
    int64_t want = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != want) return false;
        want *= t->shape[d];
    }
    return true;
}

int64_t numel(const cu_strided *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->shape[d];
    return n;
}

/* Queues the gradients of dtype dt among grads[0..count), UMULTI a launch. */
cudaError_t unscale_dtype(cudaStream_t s, born_dtype dt, int64_t count, const cu_strided *grads,
                          float *found_inf, const float *scale) {
    MultiUnscale a;
    a.found_inf = found_inf;
    a.scale = scale;
    int64_t i = 0;
    while (i < count) {
        a.count = 0;
        int64_t chunks = 0;
        for (; i < count && a.count < UMULTI; i++) {
            int64_t n = numel(&grads[i]);
            if (grads[i].dtype != dt || n == 0) continue;
            int k = a.count++;
            chunks += (n + UCHUNK - 1) / UCHUNK;
            a.chunk_end[k] = chunks;
            a.n[k] = n;
            a.ptr[k] = grads[i].data;
        }
        if (a.count == 0) continue;
        unsigned grid = (unsigned)(chunks < 132 * 8 ? chunks : 132 * 8);
        if (dt == BORN_F32)
            unscale_kernel<float><<<grid, UTHREADS, 0, s>>>(a);
        else if (dt == BORN_F16)
            unscale_kernel<__half><<<grid, UTHREADS, 0, s>>>(a);
        else if (dt == BORN_BF16)
            unscale_kernel<__nv_bfloat16><<<grid, UTHREADS, 0, s>>>(a);
        else
            unscale_kernel<double><<<grid, UTHREADS, 0, s>>>(a);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

} // namespace
} // namespace cu

using namespace cu;

extern "C" cudaError_t cu_amp_unscale_multi(cudaStream_t s, int64_t count, const cu_strided *grads,
                                            float *found_inf, const float *scale) {
    static const born_dtype dts[] = {BORN_F32, BORN_F16, BORN_BF16, BORN_F64};
    for (int64_t i = 0; i < count; i++) {
        born_dtype t = grads[i].dtype;
        if ((t != BORN_F32 && t != BORN_F16 && t != BORN_BF16 && t != BORN_F64) ||
            !contiguous(&grads[i]))
            return cudaErrorNotSupported;
    }
    for (born_dtype dt : dts) {
        cudaError_t e = unscale_dtype(s, dt, count, grads, found_inf, scale);
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}
