/* The kernels of one decoded token of a LLaMA-family model (see llm_kernels.h).
 *
 * Matrix-vector products stream the weights at memory bandwidth. Float formats with rows of whole
 * 2 KB pieces take piece_kernel (below: a warp always the same columns of its rows, the inputs in
 * registers). Otherwise a warp computes two rows at once
 * (a unit), each lane loading 16 bytes of each row per chunk, eight chunks in flight, weights of
 * the group-affine formats turned into floats in registers (a * sum(q x) + b * sum(x) per chunk);
 * a block of four warps first stages its input in shared memory, normalized (RMS norm) or put
 * through SwiGLU on the way, so no kernel of its own does either, and the first chunks of the
 * weights are already in flight while it does. The epilogue of a unit does what follows the
 * product: store, the residual add, SwiGLU of a gate row with its up row, or for the q/k/v rows
 * RoPE on a rotated pair (the unit's two rows are that pair) and the write into the KV cache.
 * Sums are f32; the order of a row's sum is fixed by its shape, so results repeat bit for bit. */
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend/cuda/llm_kernels.h"
#include "backend/cuda/llm_mat.cuh"
#include "backend/llm_device.h"

namespace {

constexpr int WARPS = 4;   /* warps per product block: one unit (two rows) each */
constexpr int INFLIGHT = 8; /* 16-byte chunks per lane and row loaded before any is used */

__device__ __forceinline__ uint4 ld_stream(const char *p) {
    uint4 v;
    /* volatile: issued where written, ahead of the wait for the kernel before (pdl_wait) */
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
}

__device__ __forceinline__ float silu(float g) { return g / (1.0f + __expf(-g)); }

/* Programmatic dependent launch (sm_90; BORN_LLM_PDL=0 turns it off): a kernel lets the next one
 * start once its main work is done (launch_dependents) and waits for the previous one's results
 * (wait) only where it first reads them, so a product's first weights are in flight while the
 * kernel before it drains. Without the launch attribute both are no-ops. On an H200 (1B bf16
 * decode) the trigger at the kernels' start was slower (699 against 767 tok/s); at the end of
 * their main work it was faster (901 against 885). */
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

bool use_pdl = true;

/* Launches kernel on grid x block with smem bytes, with the programmatic-serialization attribute
 * when use_pdl. */
template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                   Args... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = use_pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, args...);
}

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

/* Elements per 16-byte chunk of each format. */
template <int FMT> struct chunk_elems;
template <> struct chunk_elems<LLM_DEV_F32> { static constexpr int n = 4; };
template <> struct chunk_elems<LLM_DEV_F16> { static constexpr int n = 8; };
template <> struct chunk_elems<LLM_DEV_BF16> { static constexpr int n = 8; };
template <> struct chunk_elems<LLM_DEV_I8G32> { static constexpr int n = 16; };
template <> struct chunk_elems<LLM_DEV_I8G16> { static constexpr int n = 16; };
template <> struct chunk_elems<LLM_DEV_U4G32> { static constexpr int n = 32; };

__device__ __forceinline__ float2 word_to_f2(uint32_t w, int fmt) {
    if (fmt == LLM_DEV_BF16) return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xffff0000u));
    __half2 h = *reinterpret_cast<__half2 *>(&w);
    return __half22float2(h);
}

/* The products of the chunks va (row a) and vb (row b) with the input x (the chunk's elements)
 * added into *a and *b; sa / sb: the rows' (a, b) pairs of this chunk's group. */
template <int FMT>
__device__ __forceinline__ void chunk_dot(uint4 va, uint4 vb, const float *x, float2 sa, float2 sb,
                                          float *a, float *b) {
    const uint32_t wa[4] = {va.x, va.y, va.z, va.w}, wb[4] = {vb.x, vb.y, vb.z, vb.w};
    if (FMT == LLM_DEV_F32) {
        const float4 xv = *reinterpret_cast<const float4 *>(x);
        const float xs[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            *a = fmaf(__uint_as_float(wa[i]), xs[i], *a);
            *b = fmaf(__uint_as_float(wb[i]), xs[i], *b);
        }
    } else if (FMT == LLM_DEV_F16 || FMT == LLM_DEV_BF16) {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const float4 xv = reinterpret_cast<const float4 *>(x)[i];
            float2 fa = word_to_f2(wa[2 * i], FMT), fb = word_to_f2(wb[2 * i], FMT);
            *a = fmaf(fa.x, xv.x, *a);
            *a = fmaf(fa.y, xv.y, *a);
            *b = fmaf(fb.x, xv.x, *b);
            *b = fmaf(fb.y, xv.y, *b);
            fa = word_to_f2(wa[2 * i + 1], FMT);
            fb = word_to_f2(wb[2 * i + 1], FMT);
            *a = fmaf(fa.x, xv.z, *a);
            *a = fmaf(fa.y, xv.w, *a);
            *b = fmaf(fb.x, xv.z, *b);
            *b = fmaf(fb.y, xv.w, *b);
        }
    } else if (FMT == LLM_DEV_I8G32 || FMT == LLM_DEV_I8G16) {
        float qa = 0.0f, qb = 0.0f, sx = 0.0f;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const float4 xv = reinterpret_cast<const float4 *>(x)[i];
            const float xs[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const float la = (float)((int32_t)(wa[i] << (24 - 8 * k)) >> 24);
                const float lb = (float)((int32_t)(wb[i] << (24 - 8 * k)) >> 24);
                qa = fmaf(la, xs[k], qa);
                qb = fmaf(lb, xs[k], qb);
                sx += xs[k];
            }
        }
        *a = fmaf(sa.x, qa, fmaf(sa.y, sx, *a));
        *b = fmaf(sb.x, qb, fmaf(sb.y, sx, *b));
    } else { /* U4G32 */
        float qa = 0.0f, qb = 0.0f, sx = 0.0f;
#pragma unroll
        for (int i = 0; i < 4; i++) {
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const float4 xv = reinterpret_cast<const float4 *>(x)[2 * i + h];
                const float xs[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
                for (int k = 0; k < 4; k++) {
                    const int sh = 4 * (4 * h + k);
                    qa = fmaf((float)((wa[i] >> sh) & 15u), xs[k], qa);
                    qb = fmaf((float)((wb[i] >> sh) & 15u), xs[k], qb);
                    sx += xs[k];
                }
            }
        }
        *a = fmaf(sa.x, qa, fmaf(sa.y, sx, *a));
        *b = fmaf(sb.x, qb, fmaf(sb.y, sx, *b));
    }
}

template <int FMT> __device__ __forceinline__ int group_of_chunk(int c) {
    return FMT == LLM_DEV_I8G32 ? c >> 1 : c;
}

/* The two rows of unit u (rb < 0: none). QKV: the pairs RoPE rotates, head by head. */
__device__ __forceinline__ void unit_rows(const cu_llm_mv &p, int64_t u, int64_t *ra, int64_t *rb) {
    if (p.mode == CU_MV_SWIGLU) {
        *ra = *rb = u;
    } else if (p.mode == CU_MV_QKV) {
        const int half = p.head_dim / 2, j = (int)(u % half);
        const int64_t base = (u / half) * p.head_dim;
        if (p.neox && j < p.n_rot / 2) {
            *ra = base + j;
            *rb = base + j + p.n_rot / 2;
        } else {
            *ra = base + 2 * j;
            *rb = *ra + 1;
        }
    } else {
        *ra = 2 * u;
        *rb = 2 * u + 1 < p.w.rows ? 2 * u + 1 : -1;
    }
}

__device__ __forceinline__ void kv_write(void *cache, int f16, int64_t at, float v) {
    if (f16) static_cast<__half *>(cache)[at] = __float2half_rn(v);
    else static_cast<float *>(cache)[at] = v;
}

/* What a unit's epilogue reads besides its sums, loaded when the unit starts so that the loads
 * overlap its weights': the biases of its rows and, for a rotated q/k pair, cos and sin at pos. */
struct unit_extra {
    float ba, bb, co, si;
};

__device__ __forceinline__ unit_extra unit_extras(const cu_llm_mv &p, int64_t u, int64_t ra, int64_t rb, int pos) {
    unit_extra e = {0.0f, 0.0f, 1.0f, 0.0f};
    if (p.bias && p.mode != CU_MV_SWIGLU) {
        e.ba = p.bias[p.row0 + ra];
        if (rb >= 0) e.bb = p.bias[p.row0 + rb];
    }
    if (p.mode == CU_MV_QKV) {
        const int j = (int)(u % (p.head_dim / 2));
        if (p.row0 + ra < p.n_q + p.n_kv && j < p.n_rot / 2) { /* q and k pairs in the rotated dims */
            const float2 cs = *reinterpret_cast<const float2 *>(p.rope_cs + ((int64_t)pos * (p.n_rot / 2) + j) * 2);
            e.co = cs.x;
            e.si = cs.y;
        }
    }
    return e;
}

/* What follows the product of unit u (lane 0 only); pos: the token's position (q/k/v). */
__device__ void epilogue(const cu_llm_mv &p, int64_t u, int64_t ra, int64_t rb, float a, float b,
                         const unit_extra &e, int pos) {
    switch (p.mode) {
    case CU_MV_STORE:
    case CU_MV_ADD: {
        a += e.ba;
        b += e.bb;
        if (p.mode == CU_MV_ADD) {
            p.out[ra] += a;
            if (rb >= 0) p.out[rb] += b;
        } else {
            p.out[ra] = a;
            if (rb >= 0) p.out[rb] = b;
        }
        return;
    }
    case CU_MV_SWIGLU: p.out[u] = silu(a) * b; return;
    default: {
        const int64_t ga = p.row0 + ra, gb = p.row0 + rb;
        a += e.ba;
        b += e.bb;
        const float x0 = a, x1 = b; /* unrotated pairs have cos 1, sin 0: the same values */
        a = fmaf(x0, e.co, -(x1 * e.si));
        b = fmaf(x0, e.si, x1 * e.co);
        if (ga < p.n_q) {
            p.q[ga] = a;
            p.q[gb] = b;
            return;
        }
        const bool is_k = ga < p.n_q + p.n_kv;
        const int64_t la = ga - p.n_q - (is_k ? 0 : p.n_kv), lb = gb - p.n_q - (is_k ? 0 : p.n_kv);
        void *cache = is_k ? p.kc : p.vc;
        const int64_t hd = p.head_dim;
        kv_write(cache, p.kv_f16, ((la / hd) * p.n_ctx + pos) * hd + la % hd, a);
        kv_write(cache, p.kv_f16, ((lb / hd) * p.n_ctx + pos) * hd + lb % hd, b);
        return;
    }
    }
}

/* One unit's weights: rows ra and rb (rb_eff: ra again when rb is absent) of the product. */
template <int FMT> struct unit_ptrs {
    const char *qa, *qb;
    const float2 *sa, *sb;
};

template <int FMT>
__device__ __forceinline__ unit_ptrs<FMT> unit_at(const cu_llm_mv &p, int64_t ra, int64_t rb) {
    const cu_llm_mat &wb = p.mode == CU_MV_SWIGLU ? p.w2 : p.w;
    const int64_t rb_eff = rb >= 0 ? rb : ra;
    const int64_t ngroups = FMT >= LLM_DEV_I8G32 ? p.w.cols / (FMT == LLM_DEV_I8G16 ? 16 : 32) : 0;
    unit_ptrs<FMT> u;
    u.qa = static_cast<const char *>(p.w.q) + (size_t)ra * p.w.q_row_bytes;
    u.qb = static_cast<const char *>(wb.q) + (size_t)rb_eff * wb.q_row_bytes;
    u.sa = FMT >= LLM_DEV_I8G32 ? static_cast<const float2 *>(p.w.s) + (size_t)ra * ngroups : nullptr;
    u.sb = FMT >= LLM_DEV_I8G32 ? static_cast<const float2 *>(wb.s) + (size_t)rb_eff * ngroups : nullptr;
    return u;
}

/* Loads the unit's chunks c0 + 32 i (i < INFLIGHT) that exist. */
template <int FMT>
__device__ __forceinline__ void load_chunks(const unit_ptrs<FMT> &w, int c0, int nch, uint4 (&va)[INFLIGHT],
                                            uint4 (&vb)[INFLIGHT], float2 (&ga)[INFLIGHT],
                                            float2 (&gb)[INFLIGHT]) {
#pragma unroll
    for (int i = 0; i < INFLIGHT; i++) {
        const int c = c0 + 32 * i;
        if (c < nch) {
            va[i] = ld_stream(w.qa + (size_t)c * 16);
            vb[i] = ld_stream(w.qb + (size_t)c * 16);
            if (FMT >= LLM_DEV_I8G32) {
                ga[i] = __ldg(w.sa + group_of_chunk<FMT>(c));
                gb[i] = __ldg(w.sb + group_of_chunk<FMT>(c));
            }
        }
    }
}

/* The RMS norm's 1 / sqrt(mean + eps) from each thread's sum of squares ss (the block's NW
 * warps; red: NW floats of shared memory). A barrier: every thread calls it. */
template <int NW>
__device__ __forceinline__ float rms_scale(float ss, int lane, int warp, float *red, int K, float eps) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if (lane == 0) red[warp] = ss;
    __syncthreads();
    float tot = 0.0f;
#pragma unroll
    for (int w = 0; w < NW; w++) tot += red[w];
    return 1.0f / sqrtf(tot / (float)K + eps);
}

/* Stages the product's input in xs, normalized (RMS norm) or put through SwiGLU on the way. A
 * barrier: every thread calls it. (Four 16-byte loads a thread in flight at once instead of one
 * float at a time was 2.4% slower on an H200, 1B bf16 decode, 2026-12-01.) */
template <int NW>
__device__ __forceinline__ void stage_input(const cu_llm_mv &p, float *xs, float *red, int K) {
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    if (p.in_mode == CU_IN_NORM) { /* one pass over x: x * w staged, then scaled */
        float ss = 0.0f;
        for (int k = t; k < K; k += NW * 32) {
            const float v = p.x[k];
            ss = fmaf(v, v, ss);
            xs[k] = v * p.norm_w[k];
        }
        const float scale = rms_scale<NW>(ss, lane, warp, red, K, p.eps);
        for (int k = t; k < K; k += NW * 32) xs[k] *= scale;
    } else if (p.in_mode == CU_IN_SWIGLU) {
        for (int k = t; k < K; k += NW * 32) xs[k] = silu(p.x[k]) * p.x2[k];
    } else {
        for (int k = t; k < K; k += NW * 32) xs[k] = p.x[k];
    }
    __syncthreads();
}

/* A block's warps take units blockIdx.x * WARPS + warp, then every gridDim.x * WARPS further
 * (the grid is at most what the GPU holds at once, so the input is staged once per block, not
 * once per few rows); the first unit's first chunks are loaded before the input is staged. */
template <int FMT>
__global__ void __launch_bounds__(WARPS * 32, FMT <= LLM_DEV_BF16 ? 4 : 1) matvec_kernel(const cu_llm_mv p, int64_t units) {
    extern __shared__ float xs[];
    __shared__ float red[WARPS];
    constexpr int EPC = chunk_elems<FMT>::n;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int K = (int)p.w.cols, nch = K / EPC;
    const int64_t stride = (int64_t)gridDim.x * WARPS;
    int64_t u = (int64_t)blockIdx.x * WARPS + warp;
    int64_t ra = 0, rb = -1;
    uint4 va[INFLIGHT], vb[INFLIGHT];
    float2 ga[INFLIGHT], gb[INFLIGHT]; /* the chunks' (a, b) pairs (group-affine formats) */
#pragma unroll
    for (int i = 0; i < INFLIGHT; i++) {
        va[i] = vb[i] = make_uint4(0u, 0u, 0u, 0u);
        ga[i] = gb[i] = make_float2(0.0f, 0.0f);
    }
    if (u < units) {
        unit_rows(p, u, &ra, &rb);
        load_chunks<FMT>(unit_at<FMT>(p, ra, rb), lane, nch, va, vb, ga, gb);
    }

    /* the input, staged in shared memory, once the kernel before has written it */
    pdl_wait();
    const int pos = p.mode == CU_MV_QKV ? p.step[1] : 0;
    stage_input<WARPS>(p, xs, red, K);

    for (bool first = true; u < units; u += stride, first = false) {
        if (!first) {
            unit_rows(p, u, &ra, &rb);
            load_chunks<FMT>(unit_at<FMT>(p, ra, rb), lane, nch, va, vb, ga, gb);
        }
        const unit_ptrs<FMT> w = unit_at<FMT>(p, ra, rb);
        const unit_extra ex = unit_extras(p, u, ra, rb, pos);
        float acc_a = 0.0f, acc_b = 0.0f;
        for (int c0 = lane;; c0 += 32 * INFLIGHT) {
#pragma unroll
            for (int i = 0; i < INFLIGHT; i++) {
                const int c = c0 + 32 * i;
                if (c < nch) chunk_dot<FMT>(va[i], vb[i], xs + (size_t)c * EPC, ga[i], gb[i], &acc_a, &acc_b);
            }
            if (c0 + 32 * INFLIGHT >= nch) break;
            load_chunks<FMT>(w, c0 + 32 * INFLIGHT, nch, va, vb, ga, gb);
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            acc_a += __shfl_xor_sync(0xffffffffu, acc_a, o);
            acc_b += __shfl_xor_sync(0xffffffffu, acc_b, o);
        }
        if (lane == 0) epilogue(p, u, ra, rb, acc_a, acc_b, ex, pos);
    }
    pdl_trigger(); /* the next kernel may start loading its weights */
}

/* ---- products of float weights in pieces -------------------------------------------------- */

/* The float formats' product when a row is whole 2 KB pieces, 1, 2, 4 or 8 of them: a block of
 * PW warps takes R = PNP * PW / ppr rows an iteration (ppr: pieces a row), warp w always reading
 * piece w % ppr of its rows, so its lanes keep their 16 or 32 inputs in registers, with PNP
 * rows' pieces (4 KB) in flight and the next iteration's loads issued before the sums of this one
 * are reduced. Every piece's sum stays in shared memory until the block's rows are done; then one
 * barrier, and each unit's pieces are added in order (bit for bit repeatable) and its epilogue
 * run. Rows are "virtual": 2u and 2u + 1 are unit u's two rows (unit_rows; SwiGLU's second from
 * w2). On an H200 (1B bf16, a probe of the decode's products back to back, 2026-12-01) this
 * streamed 3.46 TB/s against 3.09 for matvec_kernel and 3.90 for a kernel that only reads. */
constexpr int PW = 8;        /* warps of a piece block */
constexpr int PNP = 2;       /* rows' pieces in flight a warp */
constexpr int PIECE = 2048;  /* bytes of a row a warp reads at once: four 16-byte loads a lane */
constexpr int PIECE_BLOCKS_PER_SM = 2;

/* The product of one 16-byte chunk of a float-format row with its inputs x. */
template <int FMT> __device__ __forceinline__ float chunk_dot1(uint4 v, const float *x) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    float a = 0.0f;
    if (FMT == LLM_DEV_F32) {
#pragma unroll
        for (int i = 0; i < 4; i++) a = fmaf(__uint_as_float(w[i]), x[i], a);
    } else {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const float2 f = word_to_f2(w[i], FMT);
            a = fmaf(f.x, x[2 * i], a);
            a = fmaf(f.y, x[2 * i + 1], a);
        }
    }
    return a;
}

/* Where virtual row vr's bytes start (this lane's first chunk of piece `slot` included). */
__device__ __forceinline__ const char *virtual_row(const cu_llm_mv &p, int64_t vr, int slot, int lane) {
    int64_t ra, rb;
    unit_rows(p, vr >> 1, &ra, &rb);
    const bool second = vr & 1;
    const cu_llm_mat &m = second && p.mode == CU_MV_SWIGLU ? p.w2 : p.w;
    const int64_t r = second && rb >= 0 ? rb : ra;
    return static_cast<const char *>(m.q) + (size_t)r * m.q_row_bytes + (size_t)slot * PIECE + (size_t)lane * 16;
}

/* The unit of this block's local unit lu (rows 2 lu, 2 lu + 1 of its iterations' rows, R an
 * iteration; iterations blockIdx.x + k gridDim.x). */
__device__ __forceinline__ int64_t piece_unit(int lu, int R) {
    const int k = 2 * lu / R, in = 2 * lu % R;
    return (((int64_t)k * gridDim.x + blockIdx.x) * R + in) / 2;
}

template <int FMT>
__global__ void __launch_bounds__(PW * 32, PIECE_BLOCKS_PER_SM) piece_kernel(const cu_llm_mv p, int64_t units, int ppr) {
    extern __shared__ float xs[]; /* the K inputs, then every piece's sum of the block's rows */
    __shared__ float red[PW];
    constexpr int EPC = chunk_elems<FMT>::n, PE = PIECE / 16 * EPC; /* elements a chunk, a piece */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int K = (int)p.w.cols, rpw = PW / ppr, R = PNP * rpw;
    const int64_t vrows = 2 * units, iters = (vrows + R - 1) / R;
    const int slot = warp % ppr, wrow = warp / ppr;
    float *part = xs + K;
    uint4 v[PNP][4];
    auto load = [&](int64_t it) {
#pragma unroll
        for (int j = 0; j < PNP; j++) {
            const int64_t vr = it * R + j * rpw + wrow;
            if (vr < vrows) {
                const char *q = virtual_row(p, vr, slot, lane);
#pragma unroll
                for (int i = 0; i < 4; i++) v[j][i] = ld_stream(q + i * 512);
            } else {
#pragma unroll
                for (int i = 0; i < 4; i++) v[j][i] = make_uint4(0u, 0u, 0u, 0u);
            }
        }
    };
    int64_t it = blockIdx.x;
    if (it < iters) load(it);

    pdl_wait();
    const int pos = p.mode == CU_MV_QKV ? p.step[1] : 0;
    stage_input<PW>(p, xs, red, K);
    float xr[4 * EPC];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int e = 0; e < EPC; e++) xr[EPC * i + e] = xs[slot * PE + (32 * i + lane) * EPC + e];

    /* what the epilogue of this thread's first unit reads (its extras, the residual of an add),
     * loaded now so that the loads overlap the weights' */
    const int nmine = (int)((iters - blockIdx.x + gridDim.x - 1) / gridDim.x); /* this block's iterations */
    int64_t u0 = -1, ra0 = 0, rb0 = -1;
    unit_extra ex0 = {0.0f, 0.0f, 1.0f, 0.0f};
    float res0a = 0.0f, res0b = 0.0f;
    if ((int)threadIdx.x < nmine * R / 2) {
        u0 = piece_unit(threadIdx.x, R);
        if (u0 < units) {
            unit_rows(p, u0, &ra0, &rb0);
            ex0 = unit_extras(p, u0, ra0, rb0, pos);
            if (p.mode == CU_MV_ADD) {
                res0a = p.out[ra0];
                if (rb0 >= 0) res0b = p.out[rb0];
            }
        }
    }

    int n = 0; /* this block's iterations so far */
    for (; it < iters; it += gridDim.x, n++) {
        float a[PNP];
#pragma unroll
        for (int j = 0; j < PNP; j++) a[j] = 0.0f;
#pragma unroll
        for (int i = 0; i < 4; i++) {
#pragma unroll
            for (int j = 0; j < PNP; j++) a[j] += chunk_dot1<FMT>(v[j][i], xr + EPC * i);
        }
        if (it + gridDim.x < iters) load(it + gridDim.x);
#pragma unroll
        for (int j = 0; j < PNP; j++)
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) a[j] += __shfl_xor_sync(0xffffffffu, a[j], o);
        if (lane == 0)
#pragma unroll
            for (int j = 0; j < PNP; j++) part[((int64_t)n * R + j * rpw + wrow) * ppr + slot] = a[j];
    }
    pdl_trigger(); /* the next kernel may start loading its weights */
    __syncthreads();
    for (int lu = threadIdx.x; lu < n * R / 2; lu += PW * 32) {
        const int64_t u = piece_unit(lu, R);
        if (u >= units) continue;
        float a = 0.0f, b = 0.0f;
        for (int c = 0; c < ppr; c++) {
            a += part[(2 * lu) * ppr + c];
            b += part[(2 * lu + 1) * ppr + c];
        }
        if (u == u0 && p.mode == CU_MV_ADD) { /* the residual loaded at the start */
            p.out[ra0] = res0a + (a + ex0.ba);
            if (rb0 >= 0) p.out[rb0] = res0b + (b + ex0.bb);
        } else if (u == u0) {
            epilogue(p, u, ra0, rb0, a, b, ex0, pos);
        } else {
            int64_t ra, rb;
            unit_rows(p, u, &ra, &rb);
            epilogue(p, u, ra, rb, a, b, unit_extras(p, u, ra, rb, pos), pos);
        }
    }
}

int sm_count;
int cluster_max; /* the largest thread-block cluster attention may launch (cu_llm_prepare; 0: none) */
int piece_smem_max; /* dynamic shared memory the piece kernels may take (cu_llm_prepare) */
bool use_piece = true;

/* Launches the product as piece_kernel when its weights allow it (returns false, launching
 * nothing, when they do not): a float format, rows of 1, 2, 4 or 8 whole pieces, 16-byte
 * aligned, their shared memory within piece_smem_max. */
template <int FMT> bool launch_piece(cudaStream_t s, const cu_llm_mv &p, int64_t units, cudaError_t *err) {
    const size_t esz = FMT == LLM_DEV_F32 ? 4 : 2, rowb = (size_t)p.w.cols * esz;
    const int ppr = (int)(rowb / PIECE);
    if (!use_piece || sm_count <= 0 || rowb % PIECE || (ppr != 1 && ppr != 2 && ppr != 4 && ppr != 8)) return false;
    if (p.w.q_row_bytes % 16 || (uintptr_t)p.w.q % 16) return false;
    if (p.mode == CU_MV_SWIGLU && (p.w2.q_row_bytes % 16 || (uintptr_t)p.w2.q % 16 || p.w2.fmt != FMT)) return false;
    const int R = PNP * PW / ppr;
    const int64_t iters = (2 * units + R - 1) / R;
    const int64_t grid = iters < (int64_t)sm_count * PIECE_BLOCKS_PER_SM ? iters : (int64_t)sm_count * PIECE_BLOCKS_PER_SM;
    const size_t smem = (size_t)p.w.cols * sizeof(float) + (size_t)((iters + grid - 1) / grid) * R * ppr * sizeof(float);
    if (grid <= 0 || smem > (size_t)piece_smem_max) return false;
    *err = launch(piece_kernel<FMT>, dim3((unsigned)grid), dim3(PW * 32), smem, s, p, units, ppr);
    return true;
}

/* Blocks a product of each format launches at most (cu_llm_prepare: what the GPU holds at once;
 * 0: one block per WARPS units). */
int max_blocks[LLM_DEV_U4G32 + 1];

template <int FMT> cudaError_t launch_matvec(cudaStream_t s, const cu_llm_mv &p, int64_t units) {
    cudaError_t err = cudaSuccess;
    if (FMT <= LLM_DEV_BF16 && launch_piece<FMT>(s, p, units, &err)) return err;
    int64_t blocks = (units + WARPS - 1) / WARPS;
    if (max_blocks[FMT] > 0 && blocks > max_blocks[FMT]) blocks = max_blocks[FMT];
    return launch(matvec_kernel<FMT>, dim3((unsigned)blocks), dim3(WARPS * 32), (size_t)p.w.cols * sizeof(float), s, p, units);
}

template <int FMT> void occupancy(int *blocks, int smem) {
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks, matvec_kernel<FMT>, WARPS * 32, (size_t)smem) != cudaSuccess)
        *blocks = 0;
}

template <int FMT> cudaError_t allow_piece_smem(int bytes) {
    return cudaFuncSetAttribute(piece_kernel<FMT>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

template <int FMT> cudaError_t allow_smem(int bytes) {
    return cudaFuncSetAttribute(matvec_kernel<FMT>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

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
            for (int c = 0; c < D / 8; c++) {
                const uint4 v = k[c];
                const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const float2 f = __half22float2(*reinterpret_cast<const __half2 *>(&w[i]));
                    dot = fmaf(f.x, qs[8 * c + 2 * i], dot);
                    dot = fmaf(f.y, qs[8 * c + 2 * i + 1], dot);
                }
            }
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

/* combine() for a head whose chunks are the blocks of one thread-block cluster (rank = chunk):
 * each block sums its warps' P.V into po[0] and puts (m, l) in ml, then after a cluster barrier
 * rank 0 reads the other blocks' shared memory and writes the head's output; a second barrier
 * keeps every block's shared memory alive until it has. No partial results go through global
 * memory, no fence, no counter. */
template <int D, int W>
__device__ void cluster_combine(const cu_llm_attn &p, int h, int nact, int t, float l, float m,
                                float (*po)[D], float *ml) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    namespace cg = cooperative_groups;
    cg::cluster_group cl = cg::this_cluster();
    for (int d = t; d < D; d += CH) {
        float o = 0.0f;
        for (int w = 0; w < W; w++) o += po[w][d];
        po[0][d] = o;
    }
    if (t == 0) {
        ml[0] = m;
        ml[1] = l;
    }
    cl.sync();
    if (cl.block_rank() == 0) {
        float M = -INFINITY;
        for (int r = 0; r < nact; r++) M = fmaxf(M, cl.map_shared_rank(ml, r)[0]);
        float L = 0.0f;
        for (int r = 0; r < nact; r++) {
            const float *mr = cl.map_shared_rank(ml, r);
            L += __expf(mr[0] - M) * mr[1];
        }
        for (int d = t; d < D; d += CH) {
            float o = 0.0f;
            for (int r = 0; r < nact; r++)
                o += __expf(cl.map_shared_rank(ml, r)[0] - M) * cl.map_shared_rank(&po[0][0], r)[d];
            p.out[(size_t)h * D + d] = o / L;
        }
    }
    cl.sync();
#else /* no clusters before sm_90: cu_llm_prepare never picks this path there */
    (void)p, (void)h, (void)nact, (void)t, (void)l, (void)m, (void)po, (void)ml;
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
    __shared__ float ml[2]; /* CLUSTER: this chunk's largest score and sum, read by rank 0 */
    __shared__ int last;
    const int h = blockIdx.x, split = blockIdx.y, t = threadIdx.x, lane = t & 31, warp = t >> 5;
    if (!p.pos_early) pdl_wait();
    const int len = p.step[1] + 1, nact = (len + CH - 1) / CH;
    if (split >= nact && !CLUSTER) {
        pdl_trigger();
        return;
    }
    if (p.pos_early) pdl_wait();
    /* (a cluster's blocks past the history take part in its barriers with nothing to add) */
    const int t0 = split * CH, n = split < nact ? min(CH, len - t0) : 0;
    const int kvh = h / (p.n_head / p.n_head_kv);
    const __half *kb = static_cast<const __half *>(p.kc) + ((size_t)kvh * p.n_ctx + t0) * D;
    const __half *vb = static_cast<const __half *>(p.vc) + ((size_t)kvh * p.n_ctx + t0) * D;
    uint4 kr[KC];
    uint32_t vr[PW][VP];
#pragma unroll
    for (int c = 0; c < KC; c++)
        kr[c] = t < n ? reinterpret_cast<const uint4 *>(kb + (size_t)t * D)[c] : make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
    for (int i = 0; i < PW; i++) {
        const int j = warp + W * i;
#pragma unroll
        for (int c = 0; c < VP; c++)
            vr[i][c] = j < n ? *reinterpret_cast<const uint32_t *>(vb + (size_t)j * D + 64 * c + 2 * lane) : 0u;
    }
    for (int d = t; d < D; d += CH) qs[d] = p.q[(size_t)h * D + d];
    __syncthreads();
    float sc = -INFINITY;
    if (t < n) {
        float dot = 0.0f;
#pragma unroll
        for (int c = 0; c < KC; c++) {
            const uint32_t w4[4] = {kr[c].x, kr[c].y, kr[c].z, kr[c].w};
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const float2 f = __half22float2(*reinterpret_cast<const __half2 *>(&w4[i]));
                dot = fmaf(f.x, qs[8 * c + 2 * i], dot);
                dot = fmaf(f.y, qs[8 * c + 2 * i + 1], dot);
            }
        }
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
    if (CLUSTER) cluster_combine<D, W>(p, h, nact, t, l, m, po, ml);
    else combine(p, h, split, nact, t, D, l, m, po[0], W, D, &last);
}

/* ---- embedding ---------------------------------------------------------------------------- */

__global__ void embed_kernel(const cu_llm_mat e, const int *step, float *x) {
    pdl_trigger();
    pdl_wait();
    const int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (k < e.cols) x[k] = cu_llm_element(e, step[0], k);
}

/* ---- greedy choice ------------------------------------------------------------------------ */

constexpr int ARGMAX_THREADS = 1024;

/* (v, i) replaces (bv, bi) when larger, or equal with a smaller index: the first largest. */
__device__ __forceinline__ void better(float v, int i, float *bv, int *bi) {
    if (v > *bv || (v == *bv && i < *bi)) {
        *bv = v;
        *bi = i;
    }
}

__global__ void __launch_bounds__(ARGMAX_THREADS) argmax_kernel(const float *logits, int64_t n, int *step, int *out) {
    __shared__ float sv[ARGMAX_THREADS / 32];
    __shared__ int si[ARGMAX_THREADS / 32];
    pdl_wait();
    float bv = -INFINITY;
    int bi = 0x7fffffff;
    for (int64_t k = threadIdx.x; k < n; k += ARGMAX_THREADS) better(logits[k], (int)k, &bv, &bi);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        better(__shfl_xor_sync(0xffffffffu, bv, o), __shfl_xor_sync(0xffffffffu, bi, o), &bv, &bi);
    if ((threadIdx.x & 31) == 0) {
        sv[threadIdx.x >> 5] = bv;
        si[threadIdx.x >> 5] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < ARGMAX_THREADS / 32; w++) better(sv[w], si[w], &bv, &bi);
        if (bi == 0x7fffffff) bi = 0; /* every logit NaN */
        const int pos = step[1];
        out[pos] = bi;
        step[0] = bi;
        step[1] = pos + 1;
    }
    pdl_trigger();
}

} // namespace

extern "C" cudaError_t cu_llm_argmax(cudaStream_t s, const float *logits, int64_t n, int *step, int *out) {
    return launch(argmax_kernel, dim3(1), dim3(ARGMAX_THREADS), 0, s, logits, n, step, out);
}

extern "C" cudaError_t cu_llm_matvec(cudaStream_t s, const cu_llm_mv *p) {
    int64_t units;
    switch (p->mode) {
    case CU_MV_SWIGLU: units = p->w.rows; break;
    case CU_MV_QKV: units = p->w.rows / 2; break;
    default: units = (p->w.rows + 1) / 2; break;
    }
    switch (p->w.fmt) {
    case LLM_DEV_F32: return launch_matvec<LLM_DEV_F32>(s, *p, units);
    case LLM_DEV_F16: return launch_matvec<LLM_DEV_F16>(s, *p, units);
    case LLM_DEV_BF16: return launch_matvec<LLM_DEV_BF16>(s, *p, units);
    case LLM_DEV_I8G32: return launch_matvec<LLM_DEV_I8G32>(s, *p, units);
    case LLM_DEV_I8G16: return launch_matvec<LLM_DEV_I8G16>(s, *p, units);
    case LLM_DEV_U4G32: return launch_matvec<LLM_DEV_U4G32>(s, *p, units);
    default: return cudaErrorNotSupported;
    }
}

extern "C" cudaError_t cu_llm_prepare(int64_t max_k) {
    const char *env = getenv("BORN_LLM_PDL");
    int dev = 0, major = 0, sms = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    use_pdl = major >= 9 && !(env && env[0] == '0');
    const int bytes = (int)(max_k * (int64_t)sizeof(float));
    cudaError_t e;
    /* the piece products: the inputs and up to 16 KB of partial sums (more falls back) */
    const char *piece = getenv("BORN_LLM_PIECE");
    use_piece = !(piece && piece[0] == '0');
    int optin = 0;
    cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    sm_count = sms;
    /* clusters of up to 16 blocks (8 where the larger ones are refused; none before sm_90) */
    cluster_max = 0;
    if (major >= 9) {
        cluster_max = 8;
        if (cudaFuncSetAttribute(attention_f16_kernel<64, true>, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) == cudaSuccess &&
            cudaFuncSetAttribute(attention_f16_kernel<128, true>, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) == cudaSuccess)
            cluster_max = CU_LLM_ATTN_CLUSTER_MAX;
        (void)cudaGetLastError();
    }
    piece_smem_max = bytes + 16 * 1024 < optin / PIECE_BLOCKS_PER_SM - 1024 ? bytes + 16 * 1024 : optin / PIECE_BLOCKS_PER_SM - 1024;
    if ((e = allow_piece_smem<LLM_DEV_F32>(piece_smem_max)) != cudaSuccess ||
        (e = allow_piece_smem<LLM_DEV_F16>(piece_smem_max)) != cudaSuccess ||
        (e = allow_piece_smem<LLM_DEV_BF16>(piece_smem_max)) != cudaSuccess)
        return e;
    if (bytes > 48 * 1024 &&
        ((e = allow_smem<LLM_DEV_F32>(bytes)) != cudaSuccess || (e = allow_smem<LLM_DEV_F16>(bytes)) != cudaSuccess ||
         (e = allow_smem<LLM_DEV_BF16>(bytes)) != cudaSuccess || (e = allow_smem<LLM_DEV_I8G32>(bytes)) != cudaSuccess ||
         (e = allow_smem<LLM_DEV_I8G16>(bytes)) != cudaSuccess || (e = allow_smem<LLM_DEV_U4G32>(bytes)) != cudaSuccess))
        return e;
    /* the grid of a product: what the GPU holds at once (BORN_LLM_BLOCKS_PER_SM overrides; 0: a
     * block per WARPS units) */
    const char *grid = getenv("BORN_LLM_BLOCKS_PER_SM");
    const int asked = grid && *grid ? atoi(grid) : -1;
    int occ[LLM_DEV_U4G32 + 1] = {0};
    occupancy<LLM_DEV_F32>(&occ[LLM_DEV_F32], bytes);
    occupancy<LLM_DEV_F16>(&occ[LLM_DEV_F16], bytes);
    occupancy<LLM_DEV_BF16>(&occ[LLM_DEV_BF16], bytes);
    occupancy<LLM_DEV_I8G32>(&occ[LLM_DEV_I8G32], bytes);
    occupancy<LLM_DEV_I8G16>(&occ[LLM_DEV_I8G16], bytes);
    occupancy<LLM_DEV_U4G32>(&occ[LLM_DEV_U4G32], bytes);
    (void)cudaGetLastError();
    for (int f = 0; f <= LLM_DEV_U4G32; f++) {
        const int per_sm = asked >= 0 ? asked : occ[f];
        max_blocks[f] = per_sm > 0 ? sms * per_sm : 0;
    }
    return cudaSuccess;
}

extern "C" bool cu_llm_pdl(bool keep) {
    if (!keep) use_pdl = false;
    return use_pdl;
}

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

extern "C" cudaError_t cu_llm_embed(cudaStream_t s, const cu_llm_mat *e, const int *step, float *x) {
    return launch(embed_kernel, dim3((unsigned)((e->cols + 255) / 256)), dim3(256), 0, s, *e, step, x);
}
