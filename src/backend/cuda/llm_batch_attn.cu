/* Causal attention of a batched prompt over the KV cache (see llm_batch.h): flash-style, one pass
 * over the keys with an online softmax, f32 arithmetic on the CUDA cores.
 *
 * The query rows of one kv head (token t and query head g of its group, row t G + g, so every
 * GQA group shares its K/V tiles) are cut into blocks of ROWS rows; a row belongs to TG = 8 lanes,
 * each holding its share of the row's q and output as float4s (lane l: dims 4 l + 32 j). A block
 * walks the keys its last row sees in tiles of BK positions, staged in shared memory as f32 (K
 * and V converted from the f16 cache once a tile for all the block's rows); a row's scores on
 * the tile are partial dots reduced over its TG lanes with shuffles, masked past its position,
 * then the running maximum, the sum of exponentials (base 2, q scaled by log2(e) / sqrt(d)) and
 * the output rescaled and accumulated. Blocks start with the rows that see the most keys. A batch
 * of several segments (sessions) runs them side by side, one grid slice (blockIdx.z) each, every
 * block reading its own segment's cache; the grid is cut for the longest segment and the blocks
 * past a shorter one's rows return at once.
 *
 * Segments of few rows (decoding: a token or a few per session, all of a kv head's rows in one
 * block) would leave most of the GPU idle while one block a segment and kv head walks the whole
 * context, so there the keys are split too, as the decode step's attention splits them: block x
 * takes keys [x KS, (x + 1) KS) for every row, leaves its running maximum, sum and unnormalized
 * output in scratch from the caching allocator, and a second kernel combines a row's splits in
 * order (the same split for a given kend_max, so results do not depend on the GPU). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend/cuda/llm_batch_attn.cuh"

extern "C" {
int cuda_device_of(const void *ptr);
int cuda_sm_count(int dev);
void *cuda_mem_alloc(int dev, size_t nbytes);
void cuda_mem_free(int dev, void *ptr);
}

namespace {

using cu_battn::Split;
using cu_battn::MAX_SPLITS;

constexpr int TG = 8;               /* lanes a query row */
constexpr int THREADS = 256;
constexpr int ROWS = THREADS / TG;  /* query rows a block */
constexpr int BK = 32;              /* keys a tile */

/* out[i..i + 4) of act type ACT = v / l. */
template <int ACT> __device__ __forceinline__ void store_out(void *out, int64_t i, float4 v, float l) {
    const float r = 1.0f / l;
    v = make_float4(v.x * r, v.y * r, v.z * r, v.w * r);
    if (ACT == CU_ACT_F32) {
        *reinterpret_cast<float4 *>(static_cast<float *>(out) + i) = v;
    } else if (ACT == CU_ACT_F16) {
        /* attention's outputs are convex combinations of V: inside f16's range as the cache is */
        __half2 h[2] = {__floats2half2_rn(v.x, v.y), __floats2half2_rn(v.z, v.w)};
        *reinterpret_cast<uint2 *>(static_cast<__half *>(out) + i) = *reinterpret_cast<uint2 *>(h);
    } else {
        __nv_bfloat162 h[2] = {__floats2bfloat162_rn(v.x, v.y), __floats2bfloat162_rn(v.z, v.w)};
        *reinterpret_cast<uint2 *>(static_cast<__nv_bfloat16 *>(out) + i) = *reinterpret_cast<uint2 *>(h);
    }
}

/* Four cache elements at element offset e as f32. */
template <bool F16> __device__ __forceinline__ float4 load4(const void *cache, size_t e) {
    if (F16) {
        const uint2 u = *reinterpret_cast<const uint2 *>(static_cast<const __half *>(cache) + e);
        const float2 a = __half22float2(*reinterpret_cast<const __half2 *>(&u.x));
        const float2 b = __half22float2(*reinterpret_cast<const __half2 *>(&u.y));
        return make_float4(a.x, a.y, b.x, b.y);
    }
    return *reinterpret_cast<const float4 *>(static_cast<const float *>(cache) + e);
}

__device__ __forceinline__ float dot4(float4 a, float4 b, float acc) {
    acc = fmaf(a.x, b.x, acc);
    acc = fmaf(a.y, b.y, acc);
    acc = fmaf(a.z, b.z, acc);
    return fmaf(a.w, b.w, acc);
}

/* NV float4s a lane: head sizes up to 32 NV. With sp.nsplit, block x of a segment and kv head takes
 * all its rows (one row block) over keys [x sp.keys, (x + 1) sp.keys) and writes partial results;
 * otherwise a row block over every key its rows see, written normalized. */
template <int NV, bool F16, int ACT>
__global__ void __launch_bounds__(THREADS) batch_attn_kernel(const cu_llm_battn p, const Split sp) {
    extern __shared__ float4 tile[]; /* K [BK][D / 4], then V [BK][D / 4] */
    const cu_llm_seg sg = cu_llm_seg_at(p.sg, (int)blockIdx.z);
    const int D = p.head_dim, D4 = D / 4, G = p.n_head / p.n_head_kv, kvh = blockIdx.y;
    float4 *ks = tile, *vs = tile + BK * D4;
    const int nrows = sg.n * G, nblk = sp.nsplit ? 1 : (nrows + ROWS - 1) / ROWS;
    if (!sp.nsplit && (int)blockIdx.x >= nblk) return; /* the grid is cut for the longest segment */
    const int blk = sp.nsplit ? 0 : nblk - 1 - blockIdx.x; /* the longest rows first */
    const int l = threadIdx.x % TG, r = blk * ROWS + threadIdx.x / TG;
    const bool live = r < nrows;
    const int rr = live ? r : nrows - 1, t = rr / G, h = kvh * G + rr % G;
    const int qpos = sg.pos + t; /* this row sees keys 0..qpos */
    int kend = sg.pos + (min(blk * ROWS + ROWS, nrows) - 1) / G + 1; /* the block's last row's */
    const int kbeg = sp.nsplit ? (int)blockIdx.x * sp.keys : 0;
    if (sp.nsplit) kend = min(kend, kbeg + sp.keys); /* may leave nothing: empty partials */
    const float qscale = p.scale * 1.4426950408889634f;                  /* base-2 exponentials */
    float4 q[NV], acc[NV];
    const float *qr = p.q + (int64_t)(sg.row0 + t) * p.q_stride + (int64_t)h * D;
#pragma unroll
    for (int j = 0; j < NV; j++) {
        const int c = TG * j + l;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (c < D4) {
            v = reinterpret_cast<const float4 *>(qr)[c];
            v = make_float4(v.x * qscale, v.y * qscale, v.z * qscale, v.w * qscale);
        }
        q[j] = v;
        acc[j] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    float m = -INFINITY, lsum = 0.0f;
    const size_t base = (size_t)kvh * sg.n_ctx * D;
    for (int k0 = kbeg; k0 < kend; k0 += BK) {
        __syncthreads(); /* the tile before is consumed */
        const int nk = min(BK, kend - k0);
        for (int i = threadIdx.x; i < BK * D4; i += THREADS) {
            const int kk = i / D4;
            float4 kv = make_float4(0.0f, 0.0f, 0.0f, 0.0f), vv = kv;
            if (kk < nk) {
                const size_t e = base + (size_t)(k0 + kk) * D + (size_t)(i % D4) * 4;
                kv = load4<F16>(sg.kc, e);
                vv = load4<F16>(sg.vc, e);
            }
            ks[i] = kv;
            vs[i] = vv;
        }
        __syncthreads();
        float s[BK], mt = -INFINITY;
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            float d = 0.0f;
#pragma unroll
            for (int j = 0; j < NV; j++)
                if (TG * j + l < D4) d = dot4(q[j], ks[kk * D4 + TG * j + l], d);
#pragma unroll
            for (int o = 1; o < TG; o <<= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
            s[kk] = k0 + kk <= qpos ? d : -INFINITY;
            mt = fmaxf(mt, s[kk]);
        }
        /* mn is -inf while a row has seen no key (only in a split past its position): then every
         * exponential below is of -inf */
        const float mn = fmaxf(m, mt), mref = mn == -INFINITY ? 0.0f : mn, corr = exp2f(m - mref);
        lsum *= corr;
#pragma unroll
        for (int j = 0; j < NV; j++) acc[j] = make_float4(acc[j].x * corr, acc[j].y * corr, acc[j].z * corr, acc[j].w * corr);
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            const float pk = exp2f(s[kk] - mref);
            lsum += pk;
#pragma unroll
            for (int j = 0; j < NV; j++) {
                if (TG * j + l < D4) {
                    const float4 v = vs[kk * D4 + TG * j + l];
                    acc[j] = make_float4(fmaf(pk, v.x, acc[j].x), fmaf(pk, v.y, acc[j].y), fmaf(pk, v.z, acc[j].z),
                                         fmaf(pk, v.w, acc[j].w));
                }
            }
        }
        m = mn;
    }
    if (!live) return;
    if (sp.nsplit) {
        const int64_t at = ((int64_t)(sg.row0 + t) * p.n_head + h) * sp.nsplit + blockIdx.x;
#pragma unroll
        for (int j = 0; j < NV; j++)
            if (TG * j + l < D4) reinterpret_cast<float4 *>(sp.o + at * D)[TG * j + l] = acc[j];
        if (l == 0) {
            sp.ml[2 * at] = m;
            sp.ml[2 * at + 1] = lsum;
        }
        return;
    }
    const int64_t o = (int64_t)(sg.row0 + t) * p.n_head * D + (int64_t)h * D;
#pragma unroll
    for (int j = 0; j < NV; j++)
        if (TG * j + l < D4) store_out<ACT>(p.out, o + 4 * (TG * j + l), acc[j], lsum);
}

/* A row's splits combined in split order: out = sum 2^(m_x - M) o_x / sum 2^(m_x - M) l_x with M
 * the largest m_x; block (t, h, segment), a thread per four dims. */
template <int ACT> __global__ void batch_attn_combine_kernel(const cu_llm_battn p, const Split sp) {
    const cu_llm_seg sg = cu_llm_seg_at(p.sg, (int)blockIdx.z);
    const int t = blockIdx.x, h = blockIdx.y, c = threadIdx.x, D = p.head_dim;
    if (t >= sg.n || 4 * c >= D) return;
    const int64_t at = ((int64_t)(sg.row0 + t) * p.n_head + h) * sp.nsplit;
    float M = -INFINITY;
    for (int x = 0; x < sp.nsplit; x++) M = fmaxf(M, sp.ml[2 * (at + x)]);
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float L = 0.0f;
    for (int x = 0; x < sp.nsplit; x++) {
        const float w = exp2f(sp.ml[2 * (at + x)] - M); /* 0 for an empty split: M is finite */
        const float4 v = reinterpret_cast<const float4 *>(sp.o + (at + x) * D)[c];
        L = fmaf(w, sp.ml[2 * (at + x) + 1], L);
        acc = make_float4(fmaf(w, v.x, acc.x), fmaf(w, v.y, acc.y), fmaf(w, v.z, acc.z), fmaf(w, v.w, acc.w));
    }
    store_out<ACT>(p.out, (int64_t)(sg.row0 + t) * p.n_head * D + (int64_t)h * D + 4 * c, acc, L);
}

/* Keys a split when the keys of p's segments are split (few rows a segment and many keys), else 0:
 * at least two tiles a split and at most MAX_SPLITS splits. */
inline int split_keys(const cu_llm_battn &p) {
    const int G = p.n_head / p.n_head_kv;
    if ((int64_t)p.sg.n_max * G > ROWS || p.sg.kend_max <= 2 * BK) return 0;
    int keys = (p.sg.kend_max + MAX_SPLITS - 1) / MAX_SPLITS;
    keys = (keys + BK - 1) / BK * BK;
    return keys < 2 * BK ? 2 * BK : keys;
}

/* Whether decoding segments use the few-rows kernel (BORN_LLM_FEW_ROWS=0: the tiled one). */
bool use_few_rows() {
    static int use = -1;
    if (use < 0) {
        const char *e = getenv("BORN_LLM_FEW_ROWS");
        use = !(e && e[0] == '0');
    }
    return use;
}


template <int NV, bool F16, int ACT> cudaError_t launch_as(cudaStream_t s, const cu_llm_battn &p) {
    const size_t smem = (size_t)2 * BK * p.head_dim * sizeof(float);
    if (smem > 48 * 1024) {
        cudaError_t e = cudaFuncSetAttribute(batch_attn_kernel<NV, F16, ACT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)smem);
        if (e != cudaSuccess) return e;
    }
    const int G = p.n_head / p.n_head_kv;
    const bool few = use_few_rows() && cu_battn::few_rows_fit(p);
    const int dev = cuda_device_of(p.out);
    Split sp = {nullptr, nullptr, 0, few ? cu_battn::few_rows_keys(p, cuda_sm_count(dev)) : split_keys(p)};
    void *scratch = nullptr;
    if (sp.keys) {
        sp.nsplit = (p.sg.kend_max + sp.keys - 1) / sp.keys;
        const size_t items = (size_t)p.sg.nseg * p.sg.n_max * p.n_head * sp.nsplit;
        scratch = cuda_mem_alloc(dev, items * (size_t)(p.head_dim + 2) * sizeof(float));
        if (!scratch) { /* no scratch: one block a segment and kv head still gets it right */
            (void)cudaGetLastError();
            sp.nsplit = 0;
        } else {
            sp.o = static_cast<float *>(scratch);
            sp.ml = sp.o + items * (size_t)p.head_dim;
        }
    }
    if (!sp.nsplit) {
        const dim3 grid((unsigned)(((int64_t)p.sg.n_max * G + ROWS - 1) / ROWS), (unsigned)p.n_head_kv,
                        (unsigned)p.sg.nseg);
        batch_attn_kernel<NV, F16, ACT><<<grid, THREADS, smem, s>>>(p, sp);
        return cudaGetLastError();
    }
    if (few) {
        const cudaError_t e = cu_battn::few_rows_attention(s, p, sp);
        if (e != cudaSuccess) {
            cuda_mem_free(dev, scratch);
            return e;
        }
    } else {
        batch_attn_kernel<NV, F16, ACT><<<dim3((unsigned)sp.nsplit, (unsigned)p.n_head_kv, (unsigned)p.sg.nseg),
                                          THREADS, smem, s>>>(p, sp);
    }
    batch_attn_combine_kernel<ACT><<<dim3((unsigned)p.sg.n_max, (unsigned)p.n_head, (unsigned)p.sg.nseg), 64, 0, s>>>(
        p, sp);
    cuda_mem_free(dev, scratch); /* in stream order: the next user queues after these kernels */
    return cudaGetLastError();
}

template <int NV, bool F16> cudaError_t launch_act(cudaStream_t s, const cu_llm_battn &p) {
    if (p.out_act == CU_ACT_F32) return launch_as<NV, F16, CU_ACT_F32>(s, p);
    if (p.out_act == CU_ACT_F16) return launch_as<NV, F16, CU_ACT_F16>(s, p);
    return launch_as<NV, F16, CU_ACT_BF16>(s, p);
}

template <int NV> cudaError_t launch_nv(cudaStream_t s, const cu_llm_battn &p) {
    return p.sg.kv_f16 ? launch_act<NV, true>(s, p) : launch_act<NV, false>(s, p);
}

} // namespace

extern "C" cudaError_t cu_llm_batch_attention(cudaStream_t s, const cu_llm_battn *p) {
    if (p->head_dim % 4 || p->head_dim > 256 || p->sg.n_max < 1 || p->sg.nseg < 1) return cudaErrorNotSupported;
    if (p->head_dim <= 32) return launch_nv<1>(s, *p);
    if (p->head_dim <= 64) return launch_nv<2>(s, *p);
    if (p->head_dim <= 128) return launch_nv<4>(s, *p);
    return launch_nv<8>(s, *p);
}
