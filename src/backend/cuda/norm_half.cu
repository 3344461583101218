/* Layer norm and RMS norm on f16/bf16 rows with no f32 copy of the data (backend.h's row_norm_half
 * and row_norm_half_backward): the kernels read and write the half type and compute in f32.
 *
 *  - forward: one warp a row (eight rows a block); the mean and then the sum of squared deviations
 *    are warp sums in f32 (the second pass re-reads the row from L1), then each lane writes its
 *    elements; rows whose length is a multiple of 8 with 16-byte aligned data move 8 elements a
 *    load/store.
 *  - backward: a block owns a chunk of rows whose size depends only on the shape. Its warps write
 *    grad_x one row each (sum of g w and of g w xhat per row), and its threads, one a column, sum
 *    grad_out * xhat and grad_out over the chunk's rows (re-read from L1/L2) into a partial row of
 *    f32 scratch; a second kernel adds the chunks' partials of each column in an order fixed by the
 *    shape (32 strided runs of chunks, then the 32 run sums). So
 *    the parameter gradients come out of the pass that already reads the data, and results do not
 *    change between runs. */
#include <math.h>

#include "backend/cuda/common.cuh"

extern "C" {
int cuda_device_of(const void *ptr);
void *cuda_mem_alloc(int dev, size_t nbytes);
void cuda_mem_free(int dev, void *ptr);
}

namespace cu {
namespace {

constexpr int NH_WARPS = 8;

__device__ inline float tf(__half v) { return __half2float(v); }
__device__ inline float tf(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T> __device__ inline T ft(float v);
template <> __device__ inline __half ft<__half>(float v) { return __float2half_rn(v); }
template <> __device__ inline __nv_bfloat16 ft<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

__device__ inline float wsum(float v) {
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* f(i, value) for each element i of the row this lane owns; vec: 8 elements a 16-byte load. */
template <class T, class F>
__device__ inline void each(const T *p, int64_t n, bool vec, int lane, F f) {
    if (vec) {
        for (int64_t c = lane; c < n / 8; c += 32) {
            uint4 u = ((const uint4 *)p)[c];
            const T *e = (const T *)&u;
#pragma unroll
            for (int k = 0; k < 8; k++)
                f(c * 8 + k, tf(e[k]));
        }
    } else {
        for (int64_t i = lane; i < n; i += 32)
            f(i, tf(p[i]));
    }
}

template <class T>
__global__ void norm_half_fwd(bool rms, int64_t rows, int64_t n, float eps, bool vec, const T *x,
                              T *y, float *mean_out, float *rstd_out, const T *w, const T *b) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int64_t r = (int64_t)blockIdx.x * NH_WARPS + warp; r < rows;
         r += (int64_t)gridDim.x * NH_WARPS) {
        const T *xr = x + r * n;
        T *yr = y + r * n;
        float m = 0;
        if (!rms) {
            float s = 0;
            each(xr, n, vec, lane, [&](int64_t, float v) { s += v; });
            m = wsum(s) / (float)n;
        }
        float q = 0;
        each(xr, n, vec, lane, [&](int64_t, float v) { q += (v - m) * (v - m); });
        float rs = 1.0f / sqrtf(wsum(q) / (float)n + eps);
        if (vec) {
            for (int64_t c = lane; c < n / 8; c += 32) {
                uint4 u = ((const uint4 *)xr)[c], o;
                const T *e = (const T *)&u;
                T *oe = (T *)&o;
#pragma unroll
                for (int k = 0; k < 8; k++) {
                    int64_t i = c * 8 + k;
                    float v = (tf(e[k]) - m) * rs;
                    if (w) v *= tf(w[i]);
                    if (b) v += tf(b[i]);
                    oe[k] = ft<T>(v);
                }
                ((uint4 *)yr)[c] = o;
            }
        } else {
            for (int64_t i = lane; i < n; i += 32) {
                float v = (tf(xr[i]) - m) * rs;
                if (w) v *= tf(w[i]);
                if (b) v += tf(b[i]);
                yr[i] = ft<T>(v);
            }
        }
        if (lane == 0) {
            if (mean_out && !rms) mean_out[r] = m;
            if (rstd_out) rstd_out[r] = rs;
        }
    }
}

template <class T>
__global__ void norm_half_bwd(bool rms, int64_t rows, int64_t n, int64_t chunk, bool vec,
                              const T *x, const T *g, T *dx, const float *mean, const float *rstd,
                              const T *w, float *part, bool param_grads) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t r0 = (int64_t)blockIdx.x * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
    if (dx) {
        for (int64_t r = r0 + warp; r < r1; r += NH_WARPS) {
            const T *xr = x + r * n, *gr = g + r * n;
            T *dr = dx + r * n;
            float m = rms ? 0.0f : mean[r], s = rstd[r];
            float sd = 0, sdx = 0;
            each(gr, n, vec, lane, [&](int64_t i, float gv) {
                float d = w ? gv * tf(w[i]) : gv;
                sd += d;
                sdx += d * ((tf(xr[i]) - m) * s);
            });
            float md = rms ? 0.0f : wsum(sd) / (float)n, mdx = wsum(sdx) / (float)n;
            for (int64_t i = lane; i < n; i += 32) {
                float gv = tf(gr[i]);
                float d = w ? gv * tf(w[i]) : gv;
                float xh = (tf(xr[i]) - m) * s;
                dr[i] = ft<T>(s * (d - md - xh * mdx));
            }
        }
    }
    if (param_grads) {
        float *pw = part + (int64_t)blockIdx.x * 2 * n, *pb = pw + n;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
            float aw = 0, ab = 0;
            for (int64_t r = r0; r < r1; r++) {
                float gv = tf(g[r * n + j]);
                float m = rms ? 0.0f : mean[r];
                aw += gv * ((tf(x[r * n + j]) - m) * rstd[r]);
                ab += gv;
            }
            pw[j] = aw;
            pb[j] = ab;
        }
    }
}

/* Threads (x, y) of a 32 x 32 block: column j = 32 blockIdx.x + x, chunks y, y + 32, ... summed
 * in order, then the 32 sums of a column added in y order (fixed by the shape). */
__global__ void norm_half_params(int64_t n, int64_t chunks, const float *part, float *gw,
                                 float *gb) {
    __shared__ float sw[32][33], sb[32][33];
    int tx = threadIdx.x, ty = threadIdx.y;
    int64_t j = (int64_t)blockIdx.x * 32 + tx;
    float aw = 0, ab = 0;
    if (j < n)
        for (int64_t c = ty; c < chunks; c += 32) {
            aw += part[c * 2 * n + j];
            ab += part[c * 2 * n + n + j];
        }
    sw[ty][tx] = aw;
    sb[ty][tx] = ab;
    __syncthreads();
    if (ty == 0 && j < n) {
        float tw = 0, tb = 0;
        for (int y = 0; y < 32; y++) {
            tw += sw[y][tx];
            tb += sb[y][tx];
        }
        if (gw) gw[j] = tw;
        if (gb) gb[j] = tb;
    }
}

bool aligned16(const void *p) { return p == NULL || ((uintptr_t)p & 15) == 0; }

void row_shape(const cu_strided *x, int64_t *rows, int64_t *n) {
    *n = x->ndim ? x->shape[x->ndim - 1] : 1;
    *rows = 1;
    for (int d = 0; d + 1 < x->ndim; d++)
        *rows *= x->shape[d];
}

template <class T>
cudaError_t launch_fwd(cudaStream_t s, bool rms, int64_t rows, int64_t n, float eps,
                       const cu_strided *out, const cu_strided *mean, const cu_strided *rstd,
                       const cu_strided *x, const cu_strided *w, const cu_strided *b) {
    bool vec = n % 8 == 0 && aligned16(x->data) && aligned16(out->data);
    int64_t blocks = (rows + NH_WARPS - 1) / NH_WARPS;
    blocks = blocks > 132 * 32 ? 132 * 32 : blocks;
    norm_half_fwd<T><<<(unsigned)blocks, 32 * NH_WARPS, 0, s>>>(
        rms, rows, n, eps, vec, (const T *)x->data, (T *)out->data, (float *)mean->data,
        (float *)rstd->data, (const T *)w->data, (const T *)b->data);
    return cudaGetLastError();
}

template <class T>
cudaError_t launch_bwd(cudaStream_t s, bool rms, int64_t rows, int64_t n, const cu_strided *dx,
                       const cu_strided *gw, const cu_strided *gb, const cu_strided *g,
                       const cu_strided *x, const cu_strided *mean, const cu_strided *rstd,
                       const cu_strided *w) {
    /* 32 rows a chunk (4 a warp), at most 4096 chunks: fixed by the shape */
    int64_t chunk = 32, chunks = (rows + chunk - 1) / chunk;
    if (chunks > 4096) {
        chunk = (rows + 4095) / 4096;
        chunks = (rows + chunk - 1) / chunk;
    }
    bool params = gw->data || gb->data;
    int dev = cuda_device_of(g->data);
    float *part =
        params ? (float *)cuda_mem_alloc(dev, sizeof(float) * 2 * (size_t)(n * chunks)) : NULL;
    if (params && !part) return cudaErrorMemoryAllocation;
    bool vec = n % 8 == 0 && aligned16(g->data);
    norm_half_bwd<T><<<(unsigned)chunks, 32 * NH_WARPS, 0, s>>>(
        rms, rows, n, chunk, vec, (const T *)x->data, (const T *)g->data, (T *)dx->data,
        (const float *)mean->data, (const float *)rstd->data, (const T *)w->data, part, params);
    if (params) {
        unsigned cols = (unsigned)((n + 31) / 32);
        norm_half_params<<<cols, dim3(32, 32), 0, s>>>(n, chunks, part, (float *)gw->data,
                                                       (float *)gb->data);
        cuda_mem_free(dev, part); /* in stream order: the next user queues after these */
    }
    return cudaGetLastError();
}

} // namespace
} // namespace cu

using namespace cu;

extern "C" cudaError_t cu_row_norm_half(cudaStream_t s, bool rms, const cu_strided *out,
                                        const cu_strided *mean, const cu_strided *rstd,
                                        const cu_strided *x, const cu_strided *weight,
                                        const cu_strided *bias, double eps) {
    int64_t rows, n;
    row_shape(x, &rows, &n);
    if (rows == 0 || n == 0) return cudaSuccess;
    if (x->dtype == BORN_BF16)
        return launch_fwd<__nv_bfloat16>(s, rms, rows, n, (float)eps, out, mean, rstd, x, weight,
                                         bias);
    if (x->dtype == BORN_F16)
        return launch_fwd<__half>(s, rms, rows, n, (float)eps, out, mean, rstd, x, weight, bias);
    return cudaErrorNotSupported;
}

extern "C" cudaError_t cu_row_norm_half_backward(cudaStream_t s, bool rms, const cu_strided *grad_x,
                                                 const cu_strided *grad_weight,
                                                 const cu_strided *grad_bias,
                                                 const cu_strided *grad_out, const cu_strided *x,
                                                 const cu_strided *mean, const cu_strided *rstd,
                                                 const cu_strided *weight) {
    int64_t rows, n;
    row_shape(x, &rows, &n);
    if (n == 0) return cudaSuccess;
    if (rows == 0) { /* the parameter gradients of no rows are zeros */
        if (grad_weight->data) cudaMemsetAsync(grad_weight->data, 0, sizeof(float) * (size_t)n, s);
        if (grad_bias->data) cudaMemsetAsync(grad_bias->data, 0, sizeof(float) * (size_t)n, s);
        return cudaGetLastError();
    }
    if (x->dtype == BORN_BF16)
        return launch_bwd<__nv_bfloat16>(s, rms, rows, n, grad_x, grad_weight, grad_bias, grad_out,
                                         x, mean, rstd, weight);
    if (x->dtype == BORN_F16)
        return launch_bwd<__half>(s, rms, rows, n, grad_x, grad_weight, grad_bias, grad_out, x,
                                  mean, rstd, weight);
    return cudaErrorNotSupported;
}
