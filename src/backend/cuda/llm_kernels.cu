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
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend/cuda/llm_kernels.h"
#include "backend/cuda/llm_launch.cuh"
#include "backend/cuda/llm_mat.cuh"
#include "backend/llm_device.h"

namespace cu_llm {

bool use_pdl = true;

namespace {

constexpr int WARPS = 4;   /* warps per product block: one unit (two rows) each */
constexpr int INFLIGHT = 8; /* 16-byte chunks per lane and row loaded before any is used */

__device__ __forceinline__ float silu(float g) { return g / (1.0f + __expf(-g)); }

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
 * are reduced. A plain input is loaded by each warp for its piece alone (no block-wide staging). Every piece's sum stays in shared memory until the block's rows are done; then one
 * barrier, and each unit's pieces are added in order (bit for bit repeatable) and its epilogue
 * run. Rows are "virtual": 2u and 2u + 1 are unit u's two rows (unit_rows; SwiGLU's second from
 * w2). On an H200 (1B bf16, a probe of the decode's products back to back, 2026-12-01) this
 * streamed 3.46 TB/s against 3.09 for matvec_kernel and 3.90 for a kernel that only reads. */
constexpr int PW = 8;        /* warps of a piece block */
constexpr int PNP = 2;       /* rows' pieces in flight a warp */
constexpr int PIECE = 2048;  /* bytes of a row a warp reads at once: four 16-byte loads a lane */
constexpr int PIECE_BLOCKS_PER_SM = 2;
enum { PIECE_EARLY = 1, PIECE_DIRECT = 2 }; /* piece_kernel's opts (trigger_early, direct_plain) */

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
__global__ void __launch_bounds__(PW * 32, PIECE_BLOCKS_PER_SM) piece_kernel(const cu_llm_mv p, int64_t units, int ppr, int opts) {
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
    if (opts & PIECE_EARLY) pdl_trigger();

    pdl_wait();
    const int pos = p.mode == CU_MV_QKV ? p.step[1] : 0;
    float xr[4 * EPC];
    if (p.in_mode == CU_IN_PLAIN && (opts & PIECE_DIRECT)) {
        /* a plain input needs no block-wide pass: each warp loads its piece's inputs itself
         * (1,330 -> 1,388 tok/s, 1B bf16, H200, two runs each way; the same for a normalized
         * input, the sums of squares of one warp a piece added after one barrier, was no faster) */
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int e = 0; e < EPC; e += 4) {
                const float4 v = *reinterpret_cast<const float4 *>(p.x + slot * PE + (32 * i + lane) * EPC + e);
                xr[EPC * i + e] = v.x;
                xr[EPC * i + e + 1] = v.y;
                xr[EPC * i + e + 2] = v.z;
                xr[EPC * i + e + 3] = v.w;
            }
    } else {
        stage_input<PW>(p, xs, red, K);
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int e = 0; e < EPC; e++) xr[EPC * i + e] = xs[slot * PE + (32 * i + lane) * EPC + e];
    }

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
    if (!(opts & PIECE_EARLY)) pdl_trigger(); /* the next kernel may start loading its weights */
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
int piece_smem_max; /* dynamic shared memory the piece kernels may take (cu_llm_prepare) */
bool use_piece = true;
/* Piece products (one wave: every block resident from the start) let the next kernel launch
 * right after their first loads (BORN_LLM_TRIGGER_EARLY=0: after their main loop): its blocks
 * then take each multiprocessor's slots as this kernel's blocks there finish, instead of waiting
 * for the slowest block of the grid to trigger. 1B bf16 decode on an H200: 1,303 -> 1,340 tok/s
 * (three calls). The same in matvec_kernel was slower (1B q4_0: 985 -> 958), so it keeps the
 * trigger after its loop; L2 prefetches of a piece product's next one to four iterations before
 * its wait were slower too (1,349 -> 1,325 / 1,294 / 1,246). The grid is one wave even where the
 * iterations do not divide evenly (q/k/v: 384 on 264 blocks): equal iterations a block (192
 * blocks of 2) ran 1,391 against 1,404 tok/s, up to two waves of blocks 1,275 (2026-12-01). */
int trigger_early = 1;
int direct_plain = 1; /* a plain input loaded by each warp, not staged (BORN_LLM_DIRECT_X=0: staged) */

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
    *err = launch(piece_kernel<FMT>, dim3((unsigned)grid), dim3(PW * 32), smem, s, p, units, ppr,
                  (trigger_early ? PIECE_EARLY : 0) | (direct_plain && (uintptr_t)p.x % 16 == 0 ? PIECE_DIRECT : 0));
    return true;
}

/* Blocks a product of each format launches at most (cu_llm_prepare: what the GPU holds at once;
 * 0: one block per WARPS units). */
int max_blocks[LLM_DEV_U4G32 + 1];

template <int FMT> cudaError_t launch_matvec(cudaStream_t s, const cu_llm_mv &p, int64_t units) {
    cudaError_t err = cudaSuccess;
    if constexpr (FMT <= LLM_DEV_BF16)
        if (launch_piece<FMT>(s, p, units, &err)) return err;
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

/* The first largest of logits[0..n) (0 when every one is NaN), in thread 0 of the block. */
__device__ int block_argmax(const float *logits, int64_t n) {
    __shared__ float sv[ARGMAX_THREADS / 32];
    __shared__ int si[ARGMAX_THREADS / 32];
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
    if (threadIdx.x == 0)
        for (int w = 1; w < ARGMAX_THREADS / 32; w++) better(sv[w], si[w], &bv, &bi);
    return bi == 0x7fffffff ? 0 : bi;
}

__global__ void __launch_bounds__(ARGMAX_THREADS) argmax_kernel(const float *logits, int64_t n, int *step, int *out) {
    pdl_wait();
    const int bi = block_argmax(logits, n);
    if (threadIdx.x == 0) {
        const int pos = step[1];
        out[pos] = bi;
        step[0] = bi;
        step[1] = pos + 1;
    }
    pdl_trigger();
}

/* Block r: the first largest of row r of logits [rows][n] into tok[r] and out[r]. */
__global__ void __launch_bounds__(ARGMAX_THREADS) argmax_rows_kernel(const float *logits, int64_t n, int *tok, int *out) {
    pdl_wait();
    const int bi = block_argmax(logits + (size_t)blockIdx.x * n, n);
    if (threadIdx.x == 0) {
        tok[blockIdx.x] = bi;
        out[blockIdx.x] = bi;
    }
    pdl_trigger();
}

} // namespace
} // namespace cu_llm

using namespace cu_llm;

extern "C" cudaError_t cu_llm_argmax(cudaStream_t s, const float *logits, int64_t n, int *step, int *out) {
    return launch(argmax_kernel, dim3(1), dim3(ARGMAX_THREADS), 0, s, logits, n, step, out);
}

extern "C" cudaError_t cu_llm_argmax_rows(cudaStream_t s, const float *logits, int64_t n, int rows, int *tok,
                                          int *out) {
    return launch(argmax_rows_kernel, dim3((unsigned)rows), dim3(ARGMAX_THREADS), 0, s, logits, n, tok, out);
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
    const char *te = getenv("BORN_LLM_TRIGGER_EARLY");
    trigger_early = !(te && te[0] == '0');
    const char *dx = getenv("BORN_LLM_DIRECT_X");
    direct_plain = !(dx && dx[0] == '0');
    int optin = 0;
    cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    sm_count = sms;
    attention_prepare(major);
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

extern "C" cudaError_t cu_llm_embed(cudaStream_t s, const cu_llm_mat *e, const int *step, float *x) {
    return launch(embed_kernel, dim3((unsigned)((e->cols + 255) / 256)), dim3(256), 0, s, *e, step, x);
}
