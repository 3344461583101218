/* Internal to the CUDA plugin: what the tensor-core attention kernels share (attention_tc.cu,
 * mma.sync on every GPU from sm_80; attention_hopper.cu, wgmma on sm_90): the launch parameters,
 * the f16/bf16 packing and mma.sync wrappers, cp.async copies, ex2 and the paired f32 atomics. */
#ifndef BORN_CUDA_ATTENTION_TC_CUH
#define BORN_CUDA_ATTENTION_TC_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

namespace cu {

template <class T> struct mma_traits;
template <> struct mma_traits<__nv_bfloat16> {
    static __device__ inline uint32_t pack(float a, float b) {
        __nv_bfloat162 v = __floats2bfloat162_rn(a, b);
        return *reinterpret_cast<uint32_t *>(&v);
    }
    static __device__ inline void mma(float *c, const uint32_t *a, uint32_t b0, uint32_t b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};
template <> struct mma_traits<__half> {
    static __device__ inline uint32_t pack(float a, float b) {
        __half2 v = __floats2half2_rn(a, b);
        return *reinterpret_cast<uint32_t *>(&v);
    }
    static __device__ inline void mma(float *c, const uint32_t *a, uint32_t b0, uint32_t b1) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};

__device__ inline uint32_t smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared, zero-filled when !valid. */
__device__ inline void cp16(void *dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(valid ? 16 : 0));
}
/* 4 bytes global -> shared, zero-filled when !valid. */
__device__ inline void cp4(void *dst, const void *src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(valid ? 4 : 0));
}
__device__ inline void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ inline void cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

struct TCP {
    const void *q, *k, *v;
    void *out;
    float *lse;
    int64_t qs[3], ks[3], vs[3]; /* strides over (b, h, row); the head dimension has stride 1 */
    int64_t os[3];               /* out's, likewise */
    int64_t Hq, L, S, group, kvoff;
    float scale_log2; /* scale * log2(e) */
    bool causal;
    int64_t head_group; /* heads a block group shares (head_group_order) */
};

struct TCB {
    const void *q, *k, *v, *o, *dout;
    void *dq, *dk, *dv;
    const float *lse;
    float *delta;
    float *dqacc; /* [B, Hq, L, D] f32, zeroed, then dQ / scale summed by atomics */
    int64_t qs[3], ks[3], vs[3]; /* strides over (b, h, row) of q, k, v */
    int64_t os[3], gs[3], dqs[3], dks[3], dvs[3]; /* of out, dout, dq, dk, dv */
    int64_t Hq, Hkv, L, S, group, kvoff;
    float scale, scale_log2;
    bool causal;
    int64_t head_group; /* kv heads a block group shares (head_group_order) */
};

/* 2^x on the special-function unit (2^-inf = 0). */
__device__ inline float ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* The end of a forward block for one thread's rows row0 and row0 + 8 of (batch b, head h) in
 * mma.sync's C layout (o[4 n + 2 r + e]: row row0 + 8 r, column 8 n + 2 t + e; m and l the rows'
 * running max in log2 units and this thread's part of the sum): l summed over the row's four
 * threads, O / l written in the output's type, lse = (m + log2 l) ln 2; a row that saw no key
 * gets O = 0 and lse = -inf. */
template <class T, int D>
__device__ inline void tc_store_rows(const TCP &p, int64_t b, int64_t h, int64_t row0, int t, const float *o,
                                     const float *m, float *l) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
    T *out = (T *)p.out + b * p.os[0] + h * p.os[1];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int64_t i = row0 + r * 8;
        if (i >= p.L) continue;
        const float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;
        uint32_t *orow = (uint32_t *)(out + i * p.os[2] + 2 * t);
#pragma unroll
        for (int n = 0; n < D / 8; n++)
            orow[n * 4] = mma_traits<T>::pack(o[4 * n + 2 * r] * inv, o[4 * n + 2 * r + 1] * inv);
        if (t == 0)
            p.lse[(b * p.Hq + h) * p.L + i] =
                l[r] > 0.f ? (m[r] + log2f(l[r])) * 0.69314718055994531f : -INFINITY;
    }
}

/* *a += (x, y) in one 8-byte reduction where the GPU has them (sm_90), else two. */
__device__ inline void red2(float *a, float x, float y) {
#if __CUDA_ARCH__ >= 900
    atomicAdd((float2 *)a, make_float2(x, y));
#else
    atomicAdd(a, x);
    atomicAdd(a + 1, y);
#endif
}

/* The (head, rank) of this block of a grid (heads, ranks), rank 0 the heaviest: blocks start in
 * the order of their linear index, so heads are taken in groups of hg and within a group every
 * head's rank 0 first, then rank 1, ...: the blocks that run together read the K and V (forward)
 * or Q and dO (backward) of hg heads, which stay in L2, and each head's heaviest blocks still
 * start first. */
__device__ inline void head_group_order(int64_t hg, int64_t *head, int64_t *rank) {
    const int64_t heads = gridDim.x, id = (int64_t)blockIdx.y * heads + blockIdx.x;
    const int64_t per = hg * gridDim.y, grp = id / per, in = id % per;
    const int64_t gs = heads - grp * hg < hg ? heads - grp * hg : hg;
    *rank = in / gs;
    *head = grp * hg + in % gs;
}
/* How many heads of `bytes_per_head` bytes each (re-read by every block of the head) a group
 * takes: as many as fit in ~20 MB of L2, at least 1; BORN_ATTN_HEAD_GROUP=n sets it. */
int64_t attention_head_group(int64_t bytes_per_head);

/* Hopper's forward and backward (attention_hopper.cu) for what cu_attention_tc_fits accepts at
 * head size 64 or 128: true when the current device runs them (compute capability 9.0, the plugin
 * built with sm_90a code, BORN_ATTN_WGMMA not 0). */
bool hopper_attention_ok();
/* The forward on wgmma: p as for tc_fwd_kernel, B batches, bf16 or f16 at head size D. */
cudaError_t hopper_attention_fwd(cudaStream_t s, const TCP &p, int64_t B, bool bf16, int D);
/* The backward's main kernel on wgmma (dK, dV and the dQ sums; tc_backward computes delta before
 * and converts dQ after): p as for tc_bwd_kernel. */
cudaError_t hopper_attention_bwd(cudaStream_t s, const TCB &p, int64_t B, bool bf16, int D);

} // namespace cu

#endif
