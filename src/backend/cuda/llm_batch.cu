/* The elementwise and row kernels of a batch (see llm_batch.h): the embedding rows, RMS norm rows
 * into a product's input type, RoPE with the KV-cache write (each segment into its own cache),
 * SwiGLU, a bias add, a gather of rows, and the dequantization of a group-affine matrix into f16
 * rows for a half-precision product. Each reads and writes 16 bytes (or 8) a thread where the
 * shapes allow it; the arithmetic of every element (norm scale, rotation, silu, a q + b) is the
 * decode step's (llm_kernels.cu). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "backend/cuda/llm_batch.h"
#include "backend/cuda/llm_mat.cuh"
#include "backend/llm_device.h"

namespace {

constexpr int THREADS = 256;

__device__ __forceinline__ float silu(float g) { return g / (1.0f + __expf(-g)); }

/* v clamped to f16's finite range (NaN stays NaN: the comparison is false). */
__device__ __forceinline__ float sat16(float v) { return fabsf(v) > 65504.0f ? copysignf(65504.0f, v) : v; }

/* out[i..i + 4) = (a, b, c, d) in act type ACT (i a multiple of 4). */
template <int ACT> __device__ __forceinline__ void store4(void *out, int64_t i, float a, float b, float c, float d) {
    if (ACT == CU_ACT_F32) {
        *reinterpret_cast<float4 *>(static_cast<float *>(out) + i) = make_float4(a, b, c, d);
    } else if (ACT == CU_ACT_F16) {
        __half2 h[2] = {__floats2half2_rn(sat16(a), sat16(b)), __floats2half2_rn(sat16(c), sat16(d))};
        *reinterpret_cast<uint2 *>(static_cast<__half *>(out) + i) = *reinterpret_cast<uint2 *>(h);
    } else {
        __nv_bfloat162 h[2] = {__floats2bfloat162_rn(a, b), __floats2bfloat162_rn(c, d)};
        *reinterpret_cast<uint2 *>(static_cast<__nv_bfloat16 *>(out) + i) = *reinterpret_cast<uint2 *>(h);
    }
}

unsigned blocks_for(int64_t n) { return (unsigned)((n + THREADS - 1) / THREADS); }

__global__ void embed_kernel(const cu_llm_mat e, const int *tokens, float *x) {
    const int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y;
    if (k < e.cols) x[t * e.cols + k] = cu_llm_element(e, tokens[t], k);
}

/* A warp a row: the sum of squares, then x w / sqrt(mean + eps) four elements a lane at a time. */
template <int ACT> __global__ void norm_kernel(const float *x, int64_t n, int64_t cols, const float *w, float eps, void *out) {
    const int64_t row = (int64_t)blockIdx.x * (THREADS / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x & 31;
    if (row >= n) return;
    const float4 *xr = reinterpret_cast<const float4 *>(x + row * cols);
    const float4 *w4 = reinterpret_cast<const float4 *>(w);
    const int64_t c4 = cols / 4;
    float ss = 0.0f;
    for (int64_t i = lane; i < c4; i += 32) {
        const float4 v = xr[i];
        ss = fmaf(v.x, v.x, ss);
        ss = fmaf(v.y, v.y, ss);
        ss = fmaf(v.z, v.z, ss);
        ss = fmaf(v.w, v.w, ss);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    const float scale = 1.0f / sqrtf(ss / (float)cols + eps);
    for (int64_t i = lane; i < c4; i += 32) {
        const float4 v = xr[i], g = w4[i];
        store4<ACT>(out, row * cols + 4 * i, v.x * g.x * scale, v.y * g.y * scale, v.z * g.z * scale, v.w * g.w * scale);
    }
}

template <int ACT> __global__ void swiglu_kernel(const float *gu, int64_t n, int64_t n_ff, void *out) {
    const int64_t q = n_ff / 4, i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n * q) return;
    const int64_t t = i / q, j = i % q;
    const float4 g = reinterpret_cast<const float4 *>(gu + t * 2 * n_ff)[j];
    const float4 u = reinterpret_cast<const float4 *>(gu + t * 2 * n_ff + n_ff)[j];
    store4<ACT>(out, t * n_ff + 4 * j, silu(g.x) * u.x, silu(g.y) * u.y, silu(g.z) * u.z, silu(g.w) * u.w);
}

__global__ void bias_kernel(float *x, int64_t n, int64_t cols, const float *b) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n * cols) x[i] += b[i % cols];
}

/* Eight elements a thread: 8 bytes of int8 levels or 4 bytes of nibbles, one group's (a, b). */
template <int FMT> __global__ void dequant_kernel(const cu_llm_mat w, int64_t r0, int64_t rows, __half *out) {
    const int64_t c8 = w.cols / 8, i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * c8) return;
    const int64_t r = i / c8, k0 = 8 * (i % c8), R = r0 + r;
    constexpr int G = FMT == LLM_DEV_I8G16 ? 16 : 32;
    const float2 ab = static_cast<const float2 *>(w.s)[R * (w.cols / G) + k0 / G];
    const char *q = static_cast<const char *>(w.q) + (size_t)R * w.q_row_bytes;
    float v[8];
    if (FMT == LLM_DEV_U4G32) {
        const uint32_t b = *reinterpret_cast<const uint32_t *>(q + k0 / 2);
#pragma unroll
        for (int e = 0; e < 8; e++) v[e] = (float)((b >> (4 * e)) & 15u); /* byte j: 2j low, 2j + 1 high */
    } else {
        const uint2 b = *reinterpret_cast<const uint2 *>(q + k0);
#pragma unroll
        for (int e = 0; e < 8; e++) v[e] = (float)((int32_t)((e < 4 ? b.x : b.y) << (24 - 8 * (e & 3))) >> 24);
    }
    __half2 h[4];
#pragma unroll
    for (int e = 0; e < 4; e++)
        h[e] = __floats2half2_rn(sat16(fmaf(ab.x, v[2 * e], ab.y)), sat16(fmaf(ab.x, v[2 * e + 1], ab.y)));
    *reinterpret_cast<uint4 *>(out + r * w.cols + k0) = *reinterpret_cast<uint4 *>(h);
}

__device__ __forceinline__ void kv_store(void *cache, int f16, int64_t at, float v) {
    if (f16) static_cast<__half *>(cache)[at] = __float2half_rn(v);
    else static_cast<float *>(cache)[at] = v;
}

/* A thread a (row, pair), a grid row (blockIdx.y) a segment: the pairs as the decode step's units
 * (llm_kernels.cu unit_rows). */
__global__ void rope_kv_kernel(const cu_llm_rope_kv p) {
    const cu_llm_seg sg = cu_llm_seg_at(p.sg, (int)blockIdx.y);
    const int64_t pairs = (p.n_q + 2 * p.n_kv) / 2, i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)sg.n * pairs) return;
    const int t = (int)(i / pairs), u = (int)(i % pairs), half = p.head_dim / 2, j = u % half;
    const int base = (u / half) * p.head_dim;
    int ra, rb;
    if (p.neox && j < p.n_rot / 2) {
        ra = base + j;
        rb = base + j + p.n_rot / 2;
    } else {
        ra = base + 2 * j;
        rb = ra + 1;
    }
    float *row = p.qkv + (int64_t)(sg.row0 + t) * (p.n_q + 2 * p.n_kv);
    float a = row[ra], b = row[rb];
    if (p.bias) {
        a += p.bias[ra];
        b += p.bias[rb];
    }
    const int pos = sg.pos + t;
    if (ra < p.n_q + p.n_kv && j < p.n_rot / 2) {
        const float2 cs = *reinterpret_cast<const float2 *>(sg.rope_cs + ((int64_t)pos * (p.n_rot / 2) + j) * 2);
        const float x0 = a, x1 = b;
        a = fmaf(x0, cs.x, -(x1 * cs.y));
        b = fmaf(x0, cs.y, x1 * cs.x);
    }
    if (ra < p.n_q) {
        row[ra] = a;
        row[rb] = b;
        return;
    }
    const bool is_k = ra < p.n_q + p.n_kv;
    const int la = ra - p.n_q - (is_k ? 0 : p.n_kv), lb = rb - p.n_q - (is_k ? 0 : p.n_kv);
    const int64_t hd = p.head_dim;
    void *cache = is_k ? sg.kc : sg.vc;
    kv_store(cache, p.sg.kv_f16, ((la / hd) * sg.n_ctx + pos) * hd + la % hd, a);
    kv_store(cache, p.sg.kv_f16, ((lb / hd) * sg.n_ctx + pos) * hd + lb % hd, b);
}

__global__ void gather_kernel(const float *x, int64_t cols, const int *rows, int64_t n, float *out) {
    const int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, i = blockIdx.y;
    if (k < cols && i < n) out[i * cols + k] = x[(int64_t)rows[i] * cols + k];
}

} // namespace

extern "C" cudaError_t cu_llm_rows_embed(cudaStream_t s, const cu_llm_mat *e, const int *tokens, int64_t n, float *x) {
    embed_kernel<<<dim3(blocks_for(e->cols), (unsigned)n), THREADS, 0, s>>>(*e, tokens, x);
    return cudaGetLastError();
}

extern "C" cudaError_t cu_llm_rows_norm(cudaStream_t s, const float *x, int64_t n, int64_t cols, const float *w, float eps,
                                        void *out, int act) {
    const unsigned grid = (unsigned)((n + THREADS / 32 - 1) / (THREADS / 32));
    if (act == CU_ACT_F32) norm_kernel<CU_ACT_F32><<<grid, THREADS, 0, s>>>(x, n, cols, w, eps, out);
    else if (act == CU_ACT_F16) norm_kernel<CU_ACT_F16><<<grid, THREADS, 0, s>>>(x, n, cols, w, eps, out);
    else norm_kernel<CU_ACT_BF16><<<grid, THREADS, 0, s>>>(x, n, cols, w, eps, out);
    return cudaGetLastError();
}

extern "C" cudaError_t cu_llm_rows_swiglu(cudaStream_t s, const float *gu, int64_t n, int64_t n_ff, void *out, int act) {
    const unsigned grid = blocks_for(n * (n_ff / 4));
    if (act == CU_ACT_F32) swiglu_kernel<CU_ACT_F32><<<grid, THREADS, 0, s>>>(gu, n, n_ff, out);
    else if (act == CU_ACT_F16) swiglu_kernel<CU_ACT_F16><<<grid, THREADS, 0, s>>>(gu, n, n_ff, out);
    else swiglu_kernel<CU_ACT_BF16><<<grid, THREADS, 0, s>>>(gu, n, n_ff, out);
    return cudaGetLastError();
}

extern "C" cudaError_t cu_llm_rows_bias(cudaStream_t s, float *x, int64_t n, int64_t cols, const float *b) {
    bias_kernel<<<blocks_for(n * cols), THREADS, 0, s>>>(x, n, cols, b);
    return cudaGetLastError();
}

extern "C" cudaError_t cu_llm_dequant_f16(cudaStream_t s, const cu_llm_mat *w, int64_t r0, int64_t rows, void *out) {
    const unsigned grid = blocks_for(rows * (w->cols / 8));
    __half *o = static_cast<__half *>(out);
    switch (w->fmt) {
    case LLM_DEV_I8G32: dequant_kernel<LLM_DEV_I8G32><<<grid, THREADS, 0, s>>>(*w, r0, rows, o); break;
    case LLM_DEV_I8G16: dequant_kernel<LLM_DEV_I8G16><<<grid, THREADS, 0, s>>>(*w, r0, rows, o); break;
    case LLM_DEV_U4G32: dequant_kernel<LLM_DEV_U4G32><<<grid, THREADS, 0, s>>>(*w, r0, rows, o); break;
    default: return cudaErrorNotSupported;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cu_llm_rows_rope_kv(cudaStream_t s, const cu_llm_rope_kv *p) {
    const dim3 grid(blocks_for((int64_t)p->sg.n_max * ((p->n_q + 2 * p->n_kv) / 2)), (unsigned)p->sg.nseg);
    rope_kv_kernel<<<grid, THREADS, 0, s>>>(*p);
    return cudaGetLastError();
}

extern "C" cudaError_t cu_llm_rows_gather(cudaStream_t s, const float *x, int64_t cols, const int *rows, int64_t n,
                                          float *out) {
    gather_kernel<<<dim3(blocks_for(cols), (unsigned)n), THREADS, 0, s>>>(x, cols, rows, n, out);
    return cudaGetLastError();
}
