/* Flash attention on CUDA, forward and backward (FlashAttention-2's algorithm, Born's own
 * kernels; no L x S matrix in memory).
 *
 * Forward: a block of 8 warps owns 32 queries of one (batch, head); each warp owns 4 of them.
 * Key/value tiles of 32 rows are staged in shared memory in the compute type (f32, or f64 for
 * f64); lane j scores key j against the warp's 4 queries, the warp's max and sum give the online
 * softmax (running max m, running sum l, output rescaled by exp(m_old - m_new)), and each lane
 * accumulates its own output dimensions (d = lane + 32 c) from the broadcast probabilities. At
 * the end O /= l and lse = m + log l (-inf and O = 0 for a row that sees no key). Causal tiles
 * past the limit are never loaded.
 *
 * Backward, from the saved lse: delta_i = dO_i . O_i (one warp a row), then one kernel per key
 * tile writes dK and dV (lanes over queries, each warp owns 4 keys; the query heads of a GQA
 * group are summed inside the block, so no atomics), and one per query tile writes dQ (the
 * forward's layout). P and dP are recomputed in both; results do not depend on scheduling.
 *
 * Mask and causal rules, dropout (Philox at counter rng_offset + ((b Hq + h) L + i) S + j, keep
 * when the 24-bit uniform is >= p, scale 1 / (1 - p)) and the order of the score arithmetic
 * (scale q.k, then the additive mask) are those of the CPU kernel (attention_impl.h). */
#include "backend/cuda/attention.h"
#include "backend/cuda/common.cuh"
#include "core/philox.h"

#include <stdlib.h>
#include <string.h>

namespace cu {
namespace {

constexpr int WARPS = 8;
constexpr int ROWS = 4;   /* queries (forward, dQ) or keys (dK dV) per warp */
constexpr int TILE = 32;  /* rows of a block = keys of a tile = WARPS * ROWS */
static_assert(WARPS * ROWS == TILE, "tile geometry");

__device__ inline float to_c(float x) { return x; }
__device__ inline double to_c(double x) { return x; }
__device__ inline float to_c(__half x) { return __half2float(x); }
__device__ inline float to_c(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class T> __device__ inline T from_c(float x);
template <> __device__ inline float from_c<float>(float x) { return x; }
template <> __device__ inline __half from_c<__half>(float x) { return __float2half_rn(x); }
template <> __device__ inline __nv_bfloat16 from_c<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}
template <class T> __device__ inline T from_c(double x);
template <> __device__ inline double from_c<double>(double x) { return x; }

__device__ inline float ex(float x) { return expf(x); }
__device__ inline double ex(double x) { return exp(x); }
__device__ inline float lg(float x) { return logf(x); }
__device__ inline double lg(double x) { return log(x); }
template <class C> __device__ inline C neg_inf();
template <> __device__ inline float neg_inf<float>() { return -INFINITY; }
template <> __device__ inline double neg_inf<double>() { return -(double)INFINITY; }

template <class C> __device__ inline C warp_max(C x) {
    for (int o = 16; o > 0; o >>= 1) {
        C y = __shfl_xor_sync(0xffffffffu, x, o);
        x = y > x ? y : x;
    }
    return x;
}
template <class C> __device__ inline C warp_sum(C x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

template <class T, class C> struct AP {
    const T *q, *k, *v, *o, *dout;
    const char *mask;
    T *out, *dq, *dk, *dv;
    C *lse, *delta;
    int64_t qs[4], ks[4], vs[4], ms[4];
    born_dtype mdt;
    int mask_kind;
    int64_t B, Hq, Hkv, L, S, E, Ev, group, kvoff;
    C scale;
    bool causal;
    double p, keep_scale;
    uint64_t seed, off;
};

/* The dropout factor of element (b, h, i, j): 0 or 1 / (1 - p). */
template <class T, class C>
__device__ inline C keep(const AP<T, C> &p, int64_t b, int64_t h, int64_t i, int64_t j) {
    uint64_t idx = (((uint64_t)b * (uint64_t)p.Hq + (uint64_t)h) * (uint64_t)p.L + (uint64_t)i) *
                       (uint64_t)p.S +
                   (uint64_t)j;
    float u = (float)(philox4x32(p.off + idx, p.seed).v[0] >> 8) * (1.0f / 16777216.0f);
    return (double)u >= p.p ? (C)p.keep_scale : (C)0;
}

/* The scaled, masked score of raw product x for (b, h, i, j); -inf when not visible. */
template <class T, class C>
__device__ inline C score(const AP<T, C> &p, C x, int64_t b, int64_t h, int64_t i, int64_t j) {
    if (i >= p.L || j >= p.S) return neg_inf<C>();
    C s = x * p.scale;
    if (p.mask_kind) {
        int64_t off = b * p.ms[0] + h * p.ms[1] + i * p.ms[2] + j * p.ms[3];
        if (p.mask_kind == 1) {
            if (!((const uint8_t *)p.mask)[off]) return neg_inf<C>();
        } else {
            s += ld<C>(p.mask + off * dtype_size(p.mdt), p.mdt);
        }
    }
    if (p.causal && j > p.kvoff + i) return neg_inf<C>();
    return s;
}

/* rows [r0, r0 + 32) of a [., n] operand (strides st over (b, h, row, d)) into sh with row
 * stride ld, zeros past rows. */
template <class T, class C>
__device__ inline void stage(C *sh, int ld, const T *src, const int64_t *st, int64_t b, int64_t h,
                             int64_t r0, int64_t rows, int64_t n) {
    for (int64_t idx = threadIdx.x; idx < TILE * n; idx += blockDim.x) {
        int64_t r = idx / n, d = idx - r * n, i = r0 + r;
        sh[r * ld + d] = i < rows ? to_c(src[b * st[0] + h * st[1] + i * st[2] + d * st[3]]) : (C)0;
    }
}

/* kv_end: keys that queries [i0, i0 + 32) may see. */
template <class T, class C> __device__ inline int64_t kv_end(const AP<T, C> &p, int64_t i0) {
    if (!p.causal) return p.S;
    int64_t e = p.kvoff + i0 + TILE;
    return e < 0 ? 0 : (e > p.S ? p.S : e);
}

template <class T, class C, int NE> __global__ void __launch_bounds__(WARPS * 32) fwd_kernel(AP<T, C> p) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int64_t E = p.E, Ev = p.Ev;
    C *qsh = (C *)smem, *ksh = qsh + TILE * E, *vsh = ksh + TILE * (E + 1);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t bh = blockIdx.y, b = bh / p.Hq, h = bh % p.Hq, hk = h / p.group;
    const int64_t i0 = (int64_t)blockIdx.x * TILE;
    stage<T, C>(qsh, (int)E, p.q, p.qs, b, h, i0, p.L, E);
    C m[ROWS], l[ROWS], acc[ROWS][NE];
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        m[r] = neg_inf<C>();
        l[r] = 0;
#pragma unroll
        for (int c = 0; c < NE; c++) acc[r][c] = 0;
    }
    const int64_t kend = kv_end(p, i0);
    for (int64_t j0 = 0; j0 < kend; j0 += TILE) {
        __syncthreads();
        stage<T, C>(ksh, (int)E + 1, p.k, p.ks, b, hk, j0, p.S, E);
        stage<T, C>(vsh, (int)Ev, p.v, p.vs, b, hk, j0, p.S, Ev);
        __syncthreads();
        C s[ROWS];
#pragma unroll
        for (int r = 0; r < ROWS; r++) s[r] = 0;
        const C *kr = ksh + lane * (E + 1), *qr = qsh + warp * ROWS * E;
        for (int64_t d = 0; d < E; d++) {
            C kd = kr[d];
#pragma unroll
            for (int r = 0; r < ROWS; r++) s[r] += qr[r * E + d] * kd;
        }
        const int64_t j = j0 + lane;
#pragma unroll
        for (int r = 0; r < ROWS; r++) {
            const int64_t i = i0 + warp * ROWS + r;
            C x = score(p, s[r], b, h, i, j);
            C newm = warp_max(x);
            newm = m[r] > newm ? m[r] : newm;
            if (newm == neg_inf<C>()) continue; /* nothing visible yet (uniform in the warp) */
            C alpha = m[r] == neg_inf<C>() ? (C)0 : ex(m[r] - newm);
            C pr = x == neg_inf<C>() ? (C)0 : ex(x - newm);
            l[r] = l[r] * alpha + warp_sum(pr);
            m[r] = newm;
#pragma unroll
            for (int c = 0; c < NE; c++) acc[r][c] *= alpha;
            if (p.p > 0 && pr != (C)0) pr *= keep(p, b, h, i, j);
            for (int jj = 0; jj < TILE; jj++) {
                C pj = __shfl_sync(0xffffffffu, pr, jj);
                const C *vr = vsh + jj * Ev;
#pragma unroll
                for (int c = 0; c < NE; c++)
                    if (lane + 32 * c < Ev) acc[r][c] += pj * vr[lane + 32 * c];
            }
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        const int64_t i = i0 + warp * ROWS + r;
        if (i >= p.L) continue;
        C inv = l[r] > 0 ? (C)1 / l[r] : (C)0;
        T *o = p.out + (bh * p.L + i) * Ev;
#pragma unroll
        for (int c = 0; c < NE; c++)
            if (lane + 32 * c < Ev) o[lane + 32 * c] = from_c<T>(acc[r][c] * inv);
        if (lane == 0) p.lse[bh * p.L + i] = l[r] > 0 ? m[r] + lg(l[r]) : neg_inf<C>();
    }
}

/* delta_i = dO_i . O_i, one warp a row. */
template <class T, class C> __global__ void delta_kernel(AP<T, C> p, int64_t rows) {
    int64_t row = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    const T *o = p.o + row * p.Ev, *g = p.dout + row * p.Ev;
    C s = 0;
    for (int64_t d = lane; d < p.Ev; d += 32) s += to_c(o[d]) * to_c(g[d]);
    s = warp_sum(s);
    if (lane == 0) p.delta[row] = s;
}

/* dK, dV for 32 keys of one (batch, kv head): lanes over a tile of 32 queries, each warp owns 4
 * keys; loops over the group's query heads and the query tiles that can see the keys. */
template <class T, class C, int NE> __global__ void __launch_bounds__(WARPS * 32) dkdv_kernel(AP<T, C> p) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int64_t E = p.E, Ev = p.Ev;
    C *ksh = (C *)smem, *vsh = ksh + TILE * E, *qsh = vsh + TILE * Ev, *gsh = qsh + TILE * (E + 1);
    C *lsh = gsh + TILE * (Ev + 1), *dsh = lsh + TILE;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t bhk = blockIdx.y, b = bhk / p.Hkv, hk = bhk % p.Hkv;
    const int64_t j0 = (int64_t)blockIdx.x * TILE;
    stage<T, C>(ksh, (int)E, p.k, p.ks, b, hk, j0, p.S, E);
    stage<T, C>(vsh, (int)Ev, p.v, p.vs, b, hk, j0, p.S, Ev);
    C dk[ROWS][NE], dv[ROWS][NE];
#pragma unroll
    for (int r = 0; r < ROWS; r++)
#pragma unroll
        for (int c = 0; c < NE; c++) dk[r][c] = dv[r][c] = 0;
    int64_t istart = p.causal ? j0 - p.kvoff : 0;
    if (istart < 0) istart = 0;
    const int64_t gst[4] = {p.Hq * p.L * Ev, p.L * Ev, Ev, 1};
    for (int64_t g = 0; g < p.group; g++) {
        const int64_t h = hk * p.group + g;
        for (int64_t i1 = istart; i1 < p.L; i1 += TILE) {
            __syncthreads();
            stage<T, C>(qsh, (int)E + 1, p.q, p.qs, b, h, i1, p.L, E);
            stage<T, C>(gsh, (int)Ev + 1, p.dout, gst, b, h, i1, p.L, Ev);
            if (threadIdx.x < TILE) {
                int64_t i = i1 + threadIdx.x;
                lsh[threadIdx.x] = i < p.L ? p.lse[(b * p.Hq + h) * p.L + i] : neg_inf<C>();
                dsh[threadIdx.x] = i < p.L ? p.delta[(b * p.Hq + h) * p.L + i] : (C)0;
            }
            __syncthreads();
            C s[ROWS], dp[ROWS];
#pragma unroll
            for (int r = 0; r < ROWS; r++) s[r] = dp[r] = 0;
            const C *qr = qsh + lane * (E + 1), *gr = gsh + lane * (Ev + 1);
            const C *kw = ksh + warp * ROWS * E, *vw = vsh + warp * ROWS * Ev;
            for (int64_t d = 0; d < E; d++) {
                C qd = qr[d];
#pragma unroll
                for (int r = 0; r < ROWS; r++) s[r] += qd * kw[r * E + d];
            }
            for (int64_t d = 0; d < Ev; d++) {
                C gd = gr[d];
#pragma unroll
                for (int r = 0; r < ROWS; r++) dp[r] += gd * vw[r * Ev + d];
            }
            const int64_t i = i1 + lane;
            const C lse = lsh[lane], del = dsh[lane];
            C pd[ROWS], ds[ROWS];
#pragma unroll
            for (int r = 0; r < ROWS; r++) {
                const int64_t j = j0 + warp * ROWS + r;
                C x = score(p, s[r], b, h, i, j);
                C pr = (x == neg_inf<C>() || lse == neg_inf<C>()) ? (C)0 : ex(x - lse);
                if (p.p > 0) {
                    C z = pr != (C)0 ? keep(p, b, h, i, j) : (C)0;
                    pd[r] = pr * z;
                    ds[r] = pr * (dp[r] * z - del);
                } else {
                    pd[r] = pr;
                    ds[r] = pr * (dp[r] - del);
                }
            }
            for (int jj = 0; jj < TILE; jj++) {
                const C *qj = qsh + jj * (E + 1), *gj = gsh + jj * (Ev + 1);
#pragma unroll
                for (int r = 0; r < ROWS; r++) {
                    C a = __shfl_sync(0xffffffffu, pd[r], jj);
                    C bb = __shfl_sync(0xffffffffu, ds[r], jj);
#pragma unroll
                    for (int c = 0; c < NE; c++) {
                        if (lane + 32 * c < Ev) dv[r][c] += a * gj[lane + 32 * c];
                        if (lane + 32 * c < E) dk[r][c] += bb * qj[lane + 32 * c];
                    }
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        const int64_t j = j0 + warp * ROWS + r;
        if (j >= p.S) continue;
        T *dkr = p.dk + (bhk * p.S + j) * E, *dvr = p.dv + (bhk * p.S + j) * Ev;
#pragma unroll
        for (int c = 0; c < NE; c++) {
            if (lane + 32 * c < E) dkr[lane + 32 * c] = from_c<T>(dk[r][c] * p.scale);
            if (lane + 32 * c < Ev) dvr[lane + 32 * c] = from_c<T>(dv[r][c]);
        }
    }
}

/* dQ for 32 queries of one (batch, head): the forward's layout over key tiles. */
template <class T, class C, int NE> __global__ void __launch_bounds__(WARPS * 32) dq_kernel(AP<T, C> p) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int64_t E = p.E, Ev = p.Ev;
    C *qsh = (C *)smem, *gsh = qsh + TILE * E, *ksh = gsh + TILE * Ev, *vsh = ksh + TILE * (E + 1);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t bh = blockIdx.y, b = bh / p.Hq, h = bh % p.Hq, hk = h / p.group;
    const int64_t i0 = (int64_t)blockIdx.x * TILE;
    const int64_t gst[4] = {p.Hq * p.L * Ev, p.L * Ev, Ev, 1};
    stage<T, C>(qsh, (int)E, p.q, p.qs, b, h, i0, p.L, E);
    stage<T, C>(gsh, (int)Ev, p.dout, gst, b, h, i0, p.L, Ev);
    C lse[ROWS], del[ROWS], acc[ROWS][NE];
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        const int64_t i = i0 + warp * ROWS + r;
        lse[r] = i < p.L ? p.lse[bh * p.L + i] : neg_inf<C>();
        del[r] = i < p.L ? p.delta[bh * p.L + i] : (C)0;
#pragma unroll
        for (int c = 0; c < NE; c++) acc[r][c] = 0;
    }
    const int64_t kend = kv_end(p, i0);
    for (int64_t j0 = 0; j0 < kend; j0 += TILE) {
        __syncthreads();
        stage<T, C>(ksh, (int)E + 1, p.k, p.ks, b, hk, j0, p.S, E);
        stage<T, C>(vsh, (int)Ev + 1, p.v, p.vs, b, hk, j0, p.S, Ev);
        __syncthreads();
        C s[ROWS], dp[ROWS];
#pragma unroll
        for (int r = 0; r < ROWS; r++) s[r] = dp[r] = 0;
        const C *kr = ksh + lane * (E + 1), *vr = vsh + lane * (Ev + 1);
        const C *qw = qsh + warp * ROWS * E, *gw = gsh + warp * ROWS * Ev;
        for (int64_t d = 0; d < E; d++) {
            C kd = kr[d];
#pragma unroll
            for (int r = 0; r < ROWS; r++) s[r] += qw[r * E + d] * kd;
        }
        for (int64_t d = 0; d < Ev; d++) {
            C vd = vr[d];
#pragma unroll
            for (int r = 0; r < ROWS; r++) dp[r] += gw[r * Ev + d] * vd;
        }
        const int64_t j = j0 + lane;
        C ds[ROWS];
#pragma unroll
        for (int r = 0; r < ROWS; r++) {
            const int64_t i = i0 + warp * ROWS + r;
            C x = score(p, s[r], b, h, i, j);
            C pr = (x == neg_inf<C>() || lse[r] == neg_inf<C>()) ? (C)0 : ex(x - lse[r]);
            C z = (p.p > 0 && pr != (C)0) ? keep(p, b, h, i, j) : (C)1;
            ds[r] = pr * (dp[r] * z - del[r]);
        }
        for (int jj = 0; jj < TILE; jj++) {
            const C *kj = ksh + jj * (E + 1);
#pragma unroll
            for (int r = 0; r < ROWS; r++) {
                C a = __shfl_sync(0xffffffffu, ds[r], jj);
#pragma unroll
                for (int c = 0; c < NE; c++)
                    if (lane + 32 * c < E) acc[r][c] += a * kj[lane + 32 * c];
            }
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        const int64_t i = i0 + warp * ROWS + r;
        if (i >= p.L) continue;
        T *o = p.dq + (bh * p.L + i) * E;
#pragma unroll
        for (int c = 0; c < NE; c++)
            if (lane + 32 * c < E) o[lane + 32 * c] = from_c<T>(acc[r][c] * p.scale);
    }
}

template <class T, class C>
AP<T, C> make_ap(const cu_strided *q, const cu_strided *k, const cu_strided *v,
                 const cu_strided *mask, const cu_attention_args *a) {
    AP<T, C> p;
    memset(&p, 0, sizeof p);
    p.q = (const T *)q->data;
    p.k = (const T *)k->data;
    p.v = (const T *)v->data;
    for (int d = 0; d < 4; d++) {
        p.qs[d] = q->strides[d];
        p.ks[d] = k->strides[d];
        p.vs[d] = v->strides[d];
        p.ms[d] = a->mask_kind ? mask->strides[d] : 0;
    }
    p.mask = a->mask_kind ? (const char *)mask->data : nullptr;
    p.mdt = a->mask_kind ? mask->dtype : BORN_BOOL;
    p.mask_kind = a->mask_kind;
    p.B = a->batch;
    p.Hq = a->q_heads;
    p.Hkv = a->kv_heads;
    p.L = a->q_len;
    p.S = a->kv_len;
    p.E = a->head_dim;
    p.Ev = a->v_dim;
    p.group = a->q_heads / a->kv_heads;
    p.kvoff = a->kv_offset;
    p.scale = (C)a->scale;
    p.causal = a->causal;
    p.p = a->dropout_p;
    p.keep_scale = a->dropout_p > 0 ? 1.0 / (1.0 - a->dropout_p) : 1.0;
    p.seed = a->seed;
    p.off = a->rng_offset;
    return p;
}

template <class K> cudaError_t launch(K kernel, dim3 grid, size_t smem, cudaStream_t s, const void *arg) {
    if (grid.x == 0 || grid.y == 0) return cudaSuccess;
    if (grid.y > 65535) return cudaErrorNotSupported;
    int dev = 0, limit = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    if (smem > (size_t)limit) return cudaErrorNotSupported;
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    void *args[1] = {const_cast<void *>(arg)};
    return cudaLaunchKernel((const void *)kernel, grid, dim3(WARPS * 32), args, smem, s);
}

template <class T, class C, int NE>
cudaError_t fwd(cudaStream_t s, const cu_strided *out, const cu_strided *lse, const cu_strided *q,
                const cu_strided *k, const cu_strided *v, const cu_strided *mask,
                const cu_attention_args *a) {
    AP<T, C> p = make_ap<T, C>(q, k, v, mask, a);
    p.out = (T *)out->data;
    p.lse = (C *)lse->data;
    size_t smem = sizeof(C) * (size_t)(TILE * (2 * p.E + 1 + p.Ev));
    dim3 grid((unsigned)((p.L + TILE - 1) / TILE), (unsigned)(p.B * p.Hq));
    return launch(fwd_kernel<T, C, NE>, grid, smem, s, &p);
}

template <class T, class C, int NE>
cudaError_t bwd(cudaStream_t s, const cu_strided *dq, const cu_strided *dk, const cu_strided *dv,
                const cu_strided *g, const cu_strided *q, const cu_strided *k, const cu_strided *v,
                const cu_strided *mask, const cu_strided *out, const cu_strided *lse, void *delta,
                const cu_attention_args *a) {
    AP<T, C> p = make_ap<T, C>(q, k, v, mask, a);
    p.o = (const T *)out->data;
    p.dout = (const T *)g->data;
    p.lse = (C *)lse->data;
    p.delta = (C *)delta;
    p.dq = (T *)dq->data;
    p.dk = (T *)dk->data;
    p.dv = (T *)dv->data;
    int64_t rows = p.B * p.Hq * p.L;
    if (rows > 0) {
        delta_kernel<T, C><<<(unsigned)((rows + WARPS - 1) / WARPS), WARPS * 32, 0, s>>>(p, rows);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    size_t smem_kv = sizeof(C) * (size_t)(TILE * (2 * p.E + 2 * p.Ev + 2) + 2 * TILE);
    dim3 gkv((unsigned)((p.S + TILE - 1) / TILE), (unsigned)(p.B * p.Hkv));
    cudaError_t e = launch(dkdv_kernel<T, C, NE>, gkv, smem_kv, s, &p);
    if (e != cudaSuccess) return e;
    size_t smem_q = sizeof(C) * (size_t)(TILE * (2 * p.E + 2 * p.Ev + 2));
    dim3 gq((unsigned)((p.L + TILE - 1) / TILE), (unsigned)(p.B * p.Hq));
    return launch(dq_kernel<T, C, NE>, gq, smem_q, s, &p);
}

int lanes_needed(const cu_attention_args *a) {
    int64_t e = a->head_dim > a->v_dim ? a->head_dim : a->v_dim;
    int64_t n = (e + 31) / 32;
    return n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : n <= 8 ? 8 : 0;
}

#define BORN_ATTN_DISPATCH(FN, ...)                                                               \
    do {                                                                                          \
        int ne = lanes_needed(a);                                                                 \
        born_dtype dt = q->dtype;                                                                 \
        if (ne == 0) return cudaErrorNotSupported;                                                \
        if (dt == BORN_F64 && ne > 4) return cudaErrorNotSupported;                               \
        switch (dt) {                                                                             \
        case BORN_F32:                                                                            \
            return ne == 1 ? FN<float, float, 1>(__VA_ARGS__)                                     \
                   : ne == 2 ? FN<float, float, 2>(__VA_ARGS__)                                   \
                   : ne == 4 ? FN<float, float, 4>(__VA_ARGS__)                                   \
                             : FN<float, float, 8>(__VA_ARGS__);                                  \
        case BORN_F16:                                                                            \
            return ne == 1 ? FN<__half, float, 1>(__VA_ARGS__)                                    \
                   : ne == 2 ? FN<__half, float, 2>(__VA_ARGS__)                                  \
                   : ne == 4 ? FN<__half, float, 4>(__VA_ARGS__)                                  \
                             : FN<__half, float, 8>(__VA_ARGS__);                                 \
        case BORN_BF16:                                                                           \
            return ne == 1 ? FN<__nv_bfloat16, float, 1>(__VA_ARGS__)                             \
                   : ne == 2 ? FN<__nv_bfloat16, float, 2>(__VA_ARGS__)                           \
                   : ne == 4 ? FN<__nv_bfloat16, float, 4>(__VA_ARGS__)                           \
                             : FN<__nv_bfloat16, float, 8>(__VA_ARGS__);                          \
        case BORN_F64:                                                                            \
            return ne == 1 ? FN<double, double, 1>(__VA_ARGS__)                                   \
                   : ne == 2 ? FN<double, double, 2>(__VA_ARGS__)                                 \
                             : FN<double, double, 4>(__VA_ARGS__);                                \
        default: return cudaErrorNotSupported;                                                    \
        }                                                                                         \
    } while (0)

} // namespace
} // namespace cu

extern "C" cudaError_t cu_attention(cudaStream_t s, const cu_strided *out, const cu_strided *lse,
                                    const cu_strided *q, const cu_strided *k, const cu_strided *v,
                                    const cu_strided *mask, const cu_attention_args *a) {
    using namespace cu;
    /* f16/bf16 at head sizes 64 and 128: the tensor-core kernel (BORN_ATTN_SCALAR=1 keeps this
     * one, for comparisons) */
    static int scalar = -1;
    if (scalar < 0) scalar = getenv("BORN_ATTN_SCALAR") && atoi(getenv("BORN_ATTN_SCALAR")) == 1;
    if (!scalar && cu_attention_tc_fits(q, k, v, a) && cu_attention_tc_io_fits(out))
        return cu_attention_tc(s, out, lse, q, k, v, a);
    if (!cu_dense(out)) return cudaErrorNotReady; /* the caller goes through a dense copy */
    BORN_ATTN_DISPATCH(fwd, s, out, lse, q, k, v, mask, a);
}

extern "C" cudaError_t cu_attention_backward(cudaStream_t s, const cu_strided *dq,
                                             const cu_strided *dk, const cu_strided *dv,
                                             const cu_strided *grad_out, const cu_strided *q,
                                             const cu_strided *k, const cu_strided *v,
                                             const cu_strided *mask, const cu_strided *out,
                                             const cu_strided *lse, void *delta,
                                             const cu_attention_args *a) {
    using namespace cu;
    static int scalar = -1;
    if (scalar < 0) scalar = getenv("BORN_ATTN_SCALAR") && atoi(getenv("BORN_ATTN_SCALAR")) == 1;
    if (!scalar && cu_attention_tc_fits(q, k, v, a) && cu_attention_tc_io_fits(dq) &&
        cu_attention_tc_io_fits(dk) && cu_attention_tc_io_fits(dv) &&
        cu_attention_tc_io_fits(grad_out) && cu_attention_tc_io_fits(out))
        return cu_attention_tc_backward(s, dq, dk, dv, grad_out, q, k, v, out, lse, delta, a);
    if (!cu_dense(dq) || !cu_dense(dk) || !cu_dense(dv) || !cu_dense(grad_out) || !cu_dense(out))
        return cudaErrorNotReady;
    BORN_ATTN_DISPATCH(bwd, s, dq, dk, dv, grad_out, q, k, v, mask, out, lse, delta, a);
}

extern "C" size_t cu_attention_delta_bytes(const cu_strided *q, const cu_attention_args *a) {
    size_t n = (size_t)(a->batch * a->q_heads * a->q_len);
    size_t tc = cu_attention_tc_scratch_bytes(q->dtype, a); /* delta and dQ's f32 sums */
    n *= q->dtype == BORN_F64 ? sizeof(double) : sizeof(float);
    return tc > n ? tc : n;
}

extern "C" bool cu_dense(const cu_strided *t) {
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != expect) return false;
        expect *= t->shape[d];
    }
    return true;
}
