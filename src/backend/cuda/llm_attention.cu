/* One decoded token's attention over the KV cache on the device (see llm_kernels.h,
 * cu_llm_attention): the token's query heads over chunks of CU_LLM_ATTN_CHUNK positions, a block
 * each, the chunks' partial results combined either in a thread-block cluster's shared memory or
 * by the last block of a head to finish. */
#include <cooperative_groups.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "backend/cuda/llm_f16_dot.cuh"
#include "backend/cuda/llm_kernels.h"
#include "backend/cuda/llm_launch.cuh"

namespace cu_llm {
namespace {

/* Launches an attention kernel on grid x CH threads with clusters of `cluster` blocks along y,
 * with the programmatic-serialization attribute when use_pdl. */
cudaError_t launch_cluster(void (*kernel)(cu_llm_attn), dim3 grid, int cluster, cudaStream_t s, cu_llm_attn p) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = dim3(CU_LLM_ATTN_CHUNK);
    cfg.stream = s;
    cudaLaunchAttribute attr[2];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = 1;
    attr[0].val.clusterDim.y = (unsigned)cluster;
    attr[0].val.clusterDim.z = 1;
    attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[1].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = use_pdl ? 2 : 1;
    return cudaLaunchKernelEx(&cfg, kernel, p);
}

int cluster_max; /* the largest thread-block cluster attention may launch (attention_prepare; 0: none) */

/* ---- attention ---------------------------------------------------------------------------- */

constexpr int CH = CU_LLM_ATTN_CHUNK; /* positions per block; also the block's threads */
constexpr int MAXD = 256;

/* The chunk's softmax numerators: *m = the block's largest score (W warps; red: W floats of
 * shared memory, read by every thread on return), ps[t] = exp(sc - m) (0 past n); returns the
 * sum of this warp's numerators. */
template <int W>
__device__ __forceinline__ float chunk_exp(float sc, int t, int n, int lane, int warp, float *red, float *ps,
                                           float *m_out) {
    float m = sc;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = red[0];
#pragma unroll
    for (int w = 1; w < W; w++) m = fmaxf(m, red[w]);
    const float pr = t < n ? __expf(sc - m) : 0.0f;
    ps[t] = pr;
    float l = pr;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
    *m_out = m;
    return l;
}

/* Writes a chunk's result (po: the block's W partial sums of P.V, rows stride floats apart; m and
 * l: the chunk's largest score and sum of exponentials) and, in the last block of head h to
 * finish (a counter per head, reset by that block), combines the chunks into out. One chunk
 * writes out directly. */
__device__ void combine(const cu_llm_attn &p, int h, int split, int nact, int t, int D, float l,
                        float m, const float *po, int W, int stride, int *last) {
    const size_t part = (size_t)h * p.nsplit + split;
    for (int d = t; d < D; d += CH) {
        float o = 0.0f;
        for (int w = 0; w < W; w++) o += po[w * stride + d];
        if (nact == 1) p.out[(size_t)h * D + d] = o / l;
        else p.part_o[part * D + d] = o;
    }
    if (nact == 1) return;
    if (t == 0) {
        p.part_ml[part * 2] = m;
        p.part_ml[part * 2 + 1] = l;
    }
    __threadfence();
    __syncthreads();
    if (t == 0) *last = atomicAdd(&p.count[h], 1) == nact - 1;
    __syncthreads();
    if (!*last) return;
    __threadfence();
    const float *ml = p.part_ml + (size_t)h * p.nsplit * 2;
    float M = -INFINITY;
    for (int s = 0; s < nact; s++) M = fmaxf(M, __ldcg(ml + 2 * s));
    float L = 0.0f;
    for (int s = 0; s < nact; s++) L += __expf(__ldcg(ml + 2 * s) - M) * __ldcg(ml + 2 * s + 1);
    for (int d = t; d < D; d += CH) {
        float o = 0.0f;
        for (int s = 0; s < nact; s++)
            o += __expf(__ldcg(ml + 2 * s) - M) * __ldcg(p.part_o + ((size_t)h * p.nsplit + s) * D + d);
        p.out[(size_t)h * D + d] = o / L;
    }
    if (t == 0) p.count[h] = 0;
}

template <bool F16>
__global__ void __launch_bounds__(CH) attention_kernel(const cu_llm_attn p) {
    __shared__ float qs[MAXD];
    __shared__ float ps[CH];
    __shared__ float red[CH / 32];
    __shared__ float po[CH / 32][MAXD];
    __shared__ int last;
    const int h = blockIdx.x, split = blockIdx.y, t = threadIdx.x, lane = t & 31, warp = t >> 5;
    pdl_wait();
    const int len = p.step[1] + 1, nact = (len + CH - 1) / CH;
    if (split >= nact) {
        pdl_trigger();
        return;
    }
    const int t0 = split * CH, n = min(CH, len - t0), D = p.head_dim;
    const int kvh = h / (p.n_head / p.n_head_kv);
    const size_t base = ((size_t)kvh * p.n_ctx + t0) * D;
    for (int d = t; d < D; d += CH) qs[d] = p.q[(size_t)h * D + d];
    __syncthreads();
    /* scores: a thread per position */
    float sc = -INFINITY;
    if (t < n) {
        float dot = 0.0f;
        if (F16) {
            const uint4 *k = reinterpret_cast<const uint4 *>(static_cast<const __half *>(p.kc) + base + (size_t)t * D);
#pragma unroll 8
            for (int c = 0; c < D / 8; c++) dot = cu_llm_dot8_f16(k[c], &qs[8 * c], dot);
        } else {
            const float4 *k = reinterpret_cast<const float4 *>(static_cast<const float *>(p.kc) + base + (size_t)t * D);
#pragma unroll 8
            for (int c = 0; c < D / 4; c++) {
                const float4 v = k[c];
                dot = fmaf(v.x, qs[4 * c], dot);
                dot = fmaf(v.y, qs[4 * c + 1], dot);
                dot = fmaf(v.z, qs[4 * c + 2], dot);
                dot = fmaf(v.w, qs[4 * c + 3], dot);
            }
        }
        sc = dot * p.scale;
    }
    float m;
    float l = chunk_exp<CH / 32>(sc, t, n, lane, warp, red, ps, &m);
    __syncthreads(); /* red is read above before it is reused */
    if (lane == 0) red[warp] = l;
    __syncthreads();
    l = 0.0f;
#pragma unroll
    for (int w = 0; w < CH / 32; w++) l += red[w];
    /* P.V: a warp per position of four, a lane per pair of dims */
    float2 acc[MAXD / 64];
#pragma unroll
    for (int c = 0; c < MAXD / 64; c++) acc[c] = make_float2(0.0f, 0.0f);
#pragma unroll 8
    for (int j = warp; j < n; j += CH / 32) {
        const float pj = ps[j];
#pragma unroll
        for (int c = 0; c < MAXD / 64; c++) {
            const int d = 64 * c + 2 * lane;
            if (d < D) {
                float2 v;
                if (F16) v = __half22float2(*reinterpret_cast<const __half2 *>(static_cast<const __half *>(p.vc) + base + (size_t)j * D + d));
                else v = *reinterpret_cast<const float2 *>(static_cast<const float *>(p.vc) + base + (size_t)j * D + d);
                acc[c].x = fmaf(pj, v.x, acc[c].x);
                acc[c].y = fmaf(pj, v.y, acc[c].y);
            }
        }
    }
#pragma unroll
    for (int c = 0; c < MAXD / 64; c++) {
        const int d = 64 * c + 2 * lane;
        if (d < D) {
            po[warp][d] = acc[c].x;
            po[warp][d + 1] = acc[c].y;
        }
    }
    __syncthreads();
    pdl_trigger();
    combine(p, h, split, nact, t, D, l, m, po[0], CH / 32, MAXD, &last);
}

/* The cluster barrier in two halves (PTX barrier.cluster): arrive without waiting, and wait for
 * every thread of the cluster to have arrived (acquiring what they wrote before arriving). */
__device__ __forceinline__ void cluster_arrive(bool release) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (release) asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");
    else asm volatile("barrier.cluster.arrive.relaxed.aligned;\n" ::: "memory");
#else
    (void)release;
#endif
}

[[maybe_unused]] /* (unused in the code built for GPUs without clusters) */
__device__ __forceinline__ void cluster_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#endif
}

/* combine() for a head whose chunks are the blocks of one thread-block cluster (rank = chunk):
 * each block sums its warps' P.V and stores it with its (m, l) into rank 0's shared memory
 * (gather, gml), then arrives at the cluster barrier and, unless it is rank 0, exits; rank 0 waits
 * for every rank's arrival and writes the head's output from its own shared memory, adding the
 * ranks in order. The barrier's first phase, arrived at when the kernel starts (cluster_arrive
 * there), is waited for before the stores, so that rank 0 is known to run. No partial results go
 * through global memory, no fence, no counter, one barrier's wait on the path: 1,413 -> 1,441
 * tok/s (1B bf16 decode, H200, three alternating runs) against every rank meeting twice while
 * rank 0 read the others' shared memory. */
template <int D, int W>
__device__ void cluster_combine(const cu_llm_attn &p, int h, int nact, int t, float l, float m,
                                float (*po)[D], float (*gather)[D], float2 *gml) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    namespace cg = cooperative_groups;
    cg::cluster_group cl = cg::this_cluster();
    const int rank = (int)cl.block_rank();
    cluster_wait(); /* the first phase: every block of the cluster runs */
    if (rank < nact) {
        float *dst = cl.map_shared_rank(&gather[rank][0], 0);
        for (int d = t; d < D; d += CH) {
            float o = 0.0f;
            for (int w = 0; w < W; w++) o += po[w][d];
            dst[d] = o;
        }
        if (t == 0) *cl.map_shared_rank(&gml[rank], 0) = make_float2(m, l);
    }
    cluster_arrive(true);
    if (rank != 0) return;
    cluster_wait();
    float2 mlr[CU_LLM_ATTN_CLUSTER_MAX];
#pragma unroll
    for (int r = 0; r < CU_LLM_ATTN_CLUSTER_MAX; r++) mlr[r] = r < nact ? gml[r] : make_float2(-INFINITY, 0.0f);
    float M = -INFINITY;
#pragma unroll
    for (int r = 0; r < CU_LLM_ATTN_CLUSTER_MAX; r++) M = fmaxf(M, mlr[r].x);
    float L = 0.0f;
#pragma unroll
    for (int r = 0; r < CU_LLM_ATTN_CLUSTER_MAX; r++) {
        mlr[r].x = r < nact ? __expf(mlr[r].x - M) : 0.0f; /* the rank's weight */
        L = fmaf(mlr[r].x, mlr[r].y, L);
    }
    for (int d = t; d < D; d += CH) {
        float o = 0.0f;
#pragma unroll
        for (int r = 0; r < CU_LLM_ATTN_CLUSTER_MAX; r++) o = fmaf(mlr[r].x, r < nact ? gather[r][d] : 0.0f, o);
        p.out[(size_t)h * D + d] = o / L;
    }
#else /* no clusters before sm_90: cu_llm_prepare never picks this path there */
    (void)p, (void)h, (void)nact, (void)t, (void)l, (void)m, (void)po, (void)gather, (void)gml;
    __trap();
#endif
}

/* The same for an f16 cache and a head size D of 64 or 128, with every load of the block issued
 * at once after the position is known: a thread's K row and a lane's V pairs of its warp's
 * positions go into registers while q is staged, so the block waits on memory about three
 * times (position; q, K, V; the other chunks' results), not once per loop step. */
template <int D, bool CLUSTER>
__global__ void __launch_bounds__(CH) attention_f16_kernel(const cu_llm_attn p) {
    constexpr int W = CH / 32, PW = CH / W, KC = D / 8, VP = D / 64;
    __shared__ float qs[D];
    __shared__ float ps[CH];
    __shared__ float red[W];
    __shared__ float po[W][D];
    /* CLUSTER, rank 0: every rank's P.V and (largest score, sum), stored there by the ranks */
    __shared__ float gather[CLUSTER ? CU_LLM_ATTN_CLUSTER_MAX : 1][D];
    __shared__ float2 gml[CLUSTER ? CU_LLM_ATTN_CLUSTER_MAX : 1];
    __shared__ int last;
    const int h = blockIdx.x, split = blockIdx.y, t = threadIdx.x, lane = t & 31, warp = t >> 5;
    if (CLUSTER) cluster_arrive(false); /* cluster_combine waits for this phase */
    /* the Wo product's blocks may take the multiprocessors' free slots and load their weights
     * while attention runs (1,388 -> 1,395 tok/s, 1B bf16, H200, two runs each way) */
    pdl_trigger();
    if (!p.pos_early) pdl_wait();
    const int len = p.step[1] + 1, nact = (len + CH - 1) / CH;
    if (split >= nact && !CLUSTER) {
        pdl_trigger();
        return;
    }
    /* (a cluster's blocks past the history take part in its barriers with nothing to add) */
    const int t0 = split * CH, n = split < nact ? min(CH, len - t0) : 0;
    const int kvh = h / (p.n_head / p.n_head_kv);
    const __half *kb = static_cast<const __half *>(p.kc) + ((size_t)kvh * p.n_ctx + t0) * D;
    const __half *vb = static_cast<const __half *>(p.vc) + ((size_t)kvh * p.n_ctx + t0) * D;
    uint4 kr[KC];
    uint32_t vr[PW][VP];
    /* with preload (and the position read early), rows before the current position are loaded
     * before the wait: only the current one is the q/k/v kernel's */
    const int nold = p.preload && p.pos_early ? min(n, len - 1 - t0) : 0;
#pragma unroll
    for (int c = 0; c < KC; c++)
        kr[c] = t < nold ? reinterpret_cast<const uint4 *>(kb + (size_t)t * D)[c] : make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
    for (int i = 0; i < PW; i++) {
        const int j = warp + W * i;
#pragma unroll
        for (int c = 0; c < VP; c++)
            vr[i][c] = j < nold ? *reinterpret_cast<const uint32_t *>(vb + (size_t)j * D + 64 * c + 2 * lane) : 0u;
    }
    if (p.pos_early) pdl_wait();
#pragma unroll
    for (int c = 0; c < KC; c++)
        if (t >= nold && t < n) kr[c] = reinterpret_cast<const uint4 *>(kb + (size_t)t * D)[c];
#pragma unroll
    for (int i = 0; i < PW; i++) {
        const int j = warp + W * i;
#pragma unroll
        for (int c = 0; c < VP; c++)
            if (j >= nold && j < n) vr[i][c] = *reinterpret_cast<const uint32_t *>(vb + (size_t)j * D + 64 * c + 2 * lane);
    }
    for (int d = t; d < D; d += CH) qs[d] = p.q[(size_t)h * D + d];
    __syncthreads();
    float sc = -INFINITY;
    if (t < n) {
        float dot = 0.0f;
#pragma unroll
        for (int c = 0; c < KC; c++) dot = cu_llm_dot8_f16(kr[c], &qs[8 * c], dot);
        sc = dot * p.scale;
    }
    float m;
    float l = chunk_exp<W>(sc, t, n, lane, warp, red, ps, &m);
    __syncthreads(); /* red is read above before it is reused; ps is complete */
    if (lane == 0) red[warp] = l;
    float2 acc[VP];
#pragma unroll
    for (int c = 0; c < VP; c++) acc[c] = make_float2(0.0f, 0.0f);
#pragma unroll
    for (int i = 0; i < PW; i++) {
        const float pj = ps[warp + W * i]; /* 0 past n */
#pragma unroll
        for (int c = 0; c < VP; c++) {
            const float2 v = __half22float2(*reinterpret_cast<const __half2 *>(&vr[i][c]));
            acc[c].x = fmaf(pj, v.x, acc[c].x);
            acc[c].y = fmaf(pj, v.y, acc[c].y);
        }
    }
#pragma unroll
    for (int c = 0; c < VP; c++) {
        po[warp][64 * c + 2 * lane] = acc[c].x;
        po[warp][64 * c + 2 * lane + 1] = acc[c].y;
    }
    __syncthreads();
    pdl_trigger();
    l = 0.0f;
#pragma unroll
    for (int w = 0; w < W; w++) l += red[w];
    if (CLUSTER) cluster_combine<D, W>(p, h, nact, t, l, m, po, gather, gml);
    else combine(p, h, split, nact, t, D, l, m, po[0], W, D, &last);
}

} // namespace

void attention_prepare(int major) {
    /* clusters of up to 16 blocks (8 where the larger ones are refused; none before sm_90) */
    cluster_max = 0;
    if (major >= 9) {
        cluster_max = 8;
        if (cudaFuncSetAttribute(attention_f16_kernel<64, true>, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) == cudaSuccess &&
            cudaFuncSetAttribute(attention_f16_kernel<128, true>, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) == cudaSuccess)
            cluster_max = CU_LLM_ATTN_CLUSTER_MAX;
        (void)cudaGetLastError();
    }
}

} // namespace cu_llm

using namespace cu_llm;

extern "C" cudaError_t cu_llm_attention(cudaStream_t s, const cu_llm_attn *p) {
    if (p->head_dim > MAXD) return cudaErrorNotSupported;
    const dim3 grid((unsigned)p->n_head, (unsigned)p->nsplit);
    if (p->kv_f16 && p->cluster && p->nsplit <= cluster_max) {
        if (p->head_dim == 64) return launch_cluster(attention_f16_kernel<64, true>, grid, p->nsplit, s, *p);
        if (p->head_dim == 128) return launch_cluster(attention_f16_kernel<128, true>, grid, p->nsplit, s, *p);
    }
    if (p->kv_f16 && p->head_dim == 64) return launch(attention_f16_kernel<64, false>, grid, dim3(CH), 0, s, *p);
    if (p->kv_f16 && p->head_dim == 128) return launch(attention_f16_kernel<128, false>, grid, dim3(CH), 0, s, *p);
    if (p->kv_f16) return launch(attention_kernel<true>, grid, dim3(CH), 0, s, *p);
    return launch(attention_kernel<false>, grid, dim3(CH), 0, s, *p);
}
