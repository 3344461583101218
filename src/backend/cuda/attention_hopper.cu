/* Flash attention on Hopper's warpgroup products (wgmma, sm_90a), for the operands the
 * tensor-core path takes (attention_tc.cu: f16/bf16, head size 64 or 128, no mask or dropout).
 *
 * Forward: a block of two warpgroups owns 128 queries of one (batch, head), each warpgroup 64,
 * and walks the visible keys in tiles of 128. Q and the K/V tiles sit in shared memory in the
 * 128-byte-swizzled layout wgmma reads (wgmma.cuh), copied with cp.async: K in two buffers, V
 * in three, so tile j + 2 is copied while tile j is used and the one barrier a tile also frees
 * the buffers. Per tile, as FlashAttention-3 orders it within a warpgroup: S_{j+1} = Q K_{j+1}^T
 * is issued before O += P_j V_j, the softmax of S_{j+1} (running max of the raw scores, the
 * scale folded into the FMA before ex2, as attention_tc.cu) runs while P_j V_j is still on the
 * tensor cores, then O is rescaled and S_{j+1} becomes P_{j+1} (rounded to the input type, A
 * fragments in registers). At the end O /= l and lse = m + log l (natural units); rows that see
 * no key get O = 0 and lse = -inf. Causal tiles past the diagonal are never loaded; only the
 * warps whose rows cross the diagonal mask. */
#include <stdlib.h>

#include "backend/cuda/attention_tc.cuh"
#include "backend/cuda/wgmma.cuh"

namespace cu {
namespace {

constexpr int HF_BR = 128;     /* queries per forward block: two warpgroups of 64 */
constexpr int HF_BC = 128;     /* keys per tile */
constexpr int HF_THREADS = 256;

/* Rows [r0, r0 + R) of a [rows, D] 16-bit operand (row stride rs elements) into the swizzled
 * layout at sh: column block c (64 elements) at sh + c * R * 128. Rows past `rows` read zeros.
 * Each thread copies one 16-byte column chunk of every (256 / (D / 8))-th row; its source
 * pointer steps by that many rows, hidden from the compiler so that it keeps one pointer rather
 * than a precomputed address per copy (registers the products' accumulators need). */
template <int D, int R>
__device__ inline void load_swizzled(unsigned char *sh, const uint16_t *src, int64_t rs, int64_t r0,
                                     int64_t rows) {
    constexpr int CH = D / 8, RPP = HF_THREADS / CH; /* chunks a row, rows a pass */
    static_assert(R % RPP == 0, "whole passes");
    const int rt = (int)threadIdx.x / CH, ch = (int)threadIdx.x % CH;
    unsigned char *dst = sh + (ch / 8) * (R * 128) + sw128_offset(rt, ch % 8);
    const uint16_t *g = src + (r0 + rt) * rs + ch * 8;
    const int64_t left = rows - r0 - rt, step = RPP * rs;
#pragma unroll
    for (int k = 0; k < R / RPP; k++) {
        const bool ok = left > k * RPP;
        cp16(dst + k * RPP * 128, ok ? g : src, ok);
        g += step;
        asm volatile("" : "+l"(g));
    }
}

template <class T, int D>
__global__ void __launch_bounds__(HF_THREADS, 1) hopper_fwd_kernel(TCP p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr uint32_t QB = HF_BR * D * 2, KB = HF_BC * D * 2; /* bytes of a Q, K or V tile */
    extern __shared__ unsigned char smem_raw[];
    unsigned char *qsh = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);
    unsigned char *ksh = qsh + QB, *vsh = ksh + 2 * KB; /* K: 2 buffers, V: 3 */
    const int wg = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t = lane % 4;
    /* heads in groups, every head's longest causal rows first (head_group_order) */
    int64_t bh, rank;
    head_group_order(p.head_group, &bh, &rank);
    const int64_t b = bh / p.Hq, h = bh % p.Hq, hk = h / p.group;
    const int64_t i0 = (int64_t)(gridDim.y - 1 - rank) * HF_BR;
    const uint16_t *qg = (const uint16_t *)p.q + b * p.qs[0] + h * p.qs[1];
    const uint16_t *kg = (const uint16_t *)p.k + b * p.ks[0] + hk * p.ks[1];
    const uint16_t *vg = (const uint16_t *)p.v + b * p.vs[0] + hk * p.vs[1];
    int64_t kend = p.S;
    if (p.causal) {
        const int64_t e = p.kvoff + i0 + HF_BR;
        kend = e < 0 ? 0 : (e < p.S ? e : p.S);
    }
    const int ntile = (int)((kend + HF_BC - 1) / HF_BC);
    load_swizzled<D, HF_BR>(qsh, qg, p.qs[2], i0, p.L);
    if (ntile > 0) {
        load_swizzled<D, HF_BC>(ksh, kg, p.ks[2], 0, p.S);
        load_swizzled<D, HF_BC>(vsh, vg, p.vs[2], 0, p.S);
    }
    cp_commit();
    if (ntile > 1) {
        load_swizzled<D, HF_BC>(ksh + KB, kg, p.ks[2], HF_BC, p.S);
        load_swizzled<D, HF_BC>(vsh + KB, vg, p.vs[2], HF_BC, p.S);
    }
    cp_commit();
    cp_wait<1>(); /* Q and tile 0 */
    wgmma_fence_smem();
    __syncthreads();

    const uint32_t qa = smem_addr(qsh) + wg * 64 * 128, ka = smem_addr(ksh), va = smem_addr(vsh);
    float s[HF_BC / 2], o[D / 2]; /* S: 64 rows x 128 keys; O: 64 rows x D, per warpgroup */
    uint32_t pa[HF_BC / 16][4];   /* P as A fragments, 16 keys each */
#pragma unroll
    for (int n = 0; n < D / 2; n++) o[n] = 0.f;
    /* m: running max of the scaled scores in log2 units; l: this thread's part of the sum */
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    const float sl2 = p.scale_log2; /* > 0 (cu_attention_tc_fits) */
    const int64_t rw = i0 + wg * 64 + warp * 16, row0 = rw + g; /* rows row0, row0 + 8 */

    /* S = Q K^T for the K tile in buffer kb (issued, not waited for) */
    auto s_product = [&](int kb) {
        const uint32_t k0 = ka + kb * KB;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            const uint32_t off = (kk % 4) * 32;
            wgmma_ss<T, 0, 0>(s, wgmma_desc(qa + (kk / 4) * (HF_BR * 128) + off, 16, 1024),
                              wgmma_desc(k0 + (kk / 4) * (HF_BC * 128) + off, 16, 1024), kk > 0);
        }
    };
    /* O += P V for the V tile in buffer vb */
    auto pv_product = [&](int vb) {
        const uint32_t v0 = va + vb * KB;
#pragma unroll
        for (int kk = 0; kk < HF_BC / 16; kk++)
            wgmma_rs<T, 1>(o, pa[kk], wgmma_desc(v0 + kk * 2048, HF_BC * 128, 1024), 1);
    };
    /* the online softmax of the scores of the tile at key j0: s becomes 2^(s sl2 - m), the
     * running max and sum move on, alpha = 2^(m_old - m_new) for O */
    auto softmax = [&](int64_t j0, float *alpha) {
        if (j0 + HF_BC > p.S || (p.causal && j0 + HF_BC - 1 > p.kvoff + rw)) {
            /* the tile crosses the end or the diagonal: keys at or past lim[r] (tile-relative)
             * are masked for row r */
            int lim[2];
#pragma unroll
            for (int r = 0; r < 2; r++) {
                int64_t n = p.S - j0;
                if (p.causal && p.kvoff + row0 + 8 * r + 1 - j0 < n) n = p.kvoff + row0 + 8 * r + 1 - j0;
                lim[r] = n < 0 ? 0 : (n > HF_BC ? HF_BC : (int)n);
            }
#pragma unroll
            for (int n = 0; n < HF_BC / 8; n++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    if (n * 8 + 2 * t + (e & 1) >= lim[e >> 1]) s[4 * n + e] = -INFINITY;
        }
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int n = 0; n < HF_BC / 2; n++) mx[(n >> 1) & 1] = fmaxf(mx[(n >> 1) & 1], s[n]);
        float mu[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            const float mn = fmaxf(m[r], mx[r] * sl2);
            mu[r] = mn == -INFINITY ? 0.f : mn; /* a row with nothing visible yet */
            alpha[r] = ex2(m[r] - mu[r]);       /* 0 when m was -inf */
            m[r] = mn;
            l[r] *= alpha[r];
        }
        /* (the branch, whose two sides give the same result, is what keeps ptxas from hoisting
         * the caller's wait for P_j V_j above the exponentials) */
        if (mx[0] != -INFINITY || mx[1] != -INFINITY) {
#pragma unroll
            for (int n = 0; n < HF_BC / 2; n++) {
                s[n] = ex2(fmaf(s[n], sl2, -mu[(n >> 1) & 1]));
                l[(n >> 1) & 1] += s[n];
            }
        } else {
#pragma unroll
            for (int n = 0; n < HF_BC / 2; n++) s[n] = 0.f;
        }
    };
    auto to_fragments = [&]() {
#pragma unroll
        for (int kk = 0; kk < HF_BC / 16; kk++)
#pragma unroll
            for (int x = 0; x < 4; x++) pa[kk][x] = mma_traits<T>::pack(s[8 * kk + 2 * x], s[8 * kk + 2 * x + 1]);
    };

    if (ntile > 0) {
        float alpha[2];
        wgmma_fence();
        s_product(0);
        wgmma_commit();
        wgmma_wait<0>();
        wgmma_fence_regs(s);
        softmax(0, alpha); /* O is still 0 */
        to_fragments();
    }
    for (int j = 0; j + 1 < ntile; j++) {
        float alpha[2];
        cp_wait<0>(); /* tile j + 1 */
        wgmma_fence_smem();
        /* every copy is in, and every warpgroup is done with S_j (K buffer j & 1) and with
         * P_{j-1} V_{j-1} (V buffer (j + 2) % 3) */
        __syncthreads();
        if (j + 2 < ntile) {
            load_swizzled<D, HF_BC>(ksh + (j & 1) * KB, kg, p.ks[2], (int64_t)(j + 2) * HF_BC, p.S);
            load_swizzled<D, HF_BC>(vsh + ((j + 2) % 3) * KB, vg, p.vs[2], (int64_t)(j + 2) * HF_BC, p.S);
        }
        cp_commit();
        wgmma_fence();
        s_product((j + 1) & 1);
        wgmma_commit();
        pv_product(j % 3);
        wgmma_commit();
        wgmma_wait<1>(); /* S_{j+1}; P_j V_j may still run */
        wgmma_fence_regs(s);
        softmax((int64_t)(j + 1) * HF_BC, alpha);
        wgmma_wait<0>();
        wgmma_fence_regs(o);
#pragma unroll
        for (int n = 0; n < D / 2; n++) o[n] *= alpha[(n >> 1) & 1];
        to_fragments();
    }
    if (ntile > 0) { /* the last tile's P V */
        wgmma_fence();
        pv_product((ntile - 1) % 3);
        wgmma_commit();
        wgmma_wait<0>();
        wgmma_fence_regs(o);
    }
    cp_wait<0>();
    tc_store_rows<T, D>(p, b, h, row0, t, o, m, l);
#endif
}

template <class T, int D> size_t hopper_fwd_smem() { return (size_t)(HF_BR + 5 * HF_BC) * D * 2 + 1024; }

template <class T, int D> cudaError_t hopper_fwd_launch(cudaStream_t s, const TCP &p, int64_t B) {
    const dim3 grid((unsigned)(B * p.Hq), (unsigned)((p.L + HF_BR - 1) / HF_BR));
    if (grid.x == 0 || grid.y == 0) return cudaSuccess;
    const size_t smem = hopper_fwd_smem<T, D>();
    cudaError_t e = cudaFuncSetAttribute(hopper_fwd_kernel<T, D>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    hopper_fwd_kernel<T, D><<<grid, HF_THREADS, smem, s>>>(p);
    return cudaGetLastError();
}

/* ---- backward ---------------------------------------------------------------------------- */

constexpr int HB_BC = 128; /* keys per backward block: two warpgroups x 64 */
constexpr int HB_BQ = 64;  /* queries per step */

/* The backward of 128 keys of one (batch, kv head), each warpgroup 64 of them, over the group's
 * query heads and the 64-query tiles that see the keys: per tile S^T = K Q^T and dP^T = V dO^T
 * (the keys as M, Q and dO as K-major B), P^T and dS^T = P^T (dP^T - delta) in registers,
 * dV += P^T dO and dK += dS^T Q with P^T and dS^T as register A fragments (dO and Q read
 * MN-major), accumulated over the whole loop. dS^T also goes to one of two shared buffers, from
 * which dQ_tile = dS K (dS read MN-major, each warpgroup 64 of the head's columns at head size
 * 128, the first one all 64 at 64) is computed one tile later, beside the next tile's dV/dK
 * products (the tile's barrier has made that dS^T whole: one barrier a tile), and added to the
 * f32 dqacc with atomics. The next tile's Q, dO, lse and delta are copied into the other of two
 * buffers meanwhile. */
template <class T, int D>
__global__ void __launch_bounds__(HF_THREADS, 1) hopper_bwd_kernel(TCB p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr uint32_t KB = HB_BC * D * 2, QB = HB_BQ * D * 2, SB = HB_BC * HB_BQ * 2;
    extern __shared__ unsigned char smem_raw[];
    unsigned char *ksh = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);
    unsigned char *vsh = ksh + KB, *qbuf = vsh + KB, *gbuf = qbuf + 2 * QB, *dssh = gbuf + 2 * QB;
    float *lbuf = (float *)(dssh + 2 * SB), *dbuf = lbuf + 2 * HB_BQ;
    const int wg = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t = lane % 4;
    int64_t bhk, rank;
    head_group_order(p.head_group, &bhk, &rank);
    const int64_t b = bhk / p.Hkv, hk = bhk % p.Hkv, j0 = rank * HB_BC;
    const uint16_t *kg = (const uint16_t *)p.k + b * p.ks[0] + hk * p.ks[1];
    const uint16_t *vg = (const uint16_t *)p.v + b * p.vs[0] + hk * p.vs[1];
    load_swizzled<D, HB_BC>(ksh, kg, p.ks[2], j0, p.S);
    load_swizzled<D, HB_BC>(vsh, vg, p.vs[2], j0, p.S);
    float dk[D / 2], dv[D / 2];
#pragma unroll
    for (int n = 0; n < D / 2; n++) dk[n] = dv[n] = 0.f;
    /* the first query that sees key j0, down to a tile boundary */
    int64_t istart = p.causal ? j0 - p.kvoff : 0;
    istart = istart < 0 ? 0 : (istart / HB_BQ) * HB_BQ;
    const int64_t ntile = istart < p.L ? (p.L - istart + HB_BQ - 1) / HB_BQ : 0, total = ntile * p.group;
    const int kr = wg * 64 + warp * 16 + g; /* this thread's keys, block-local: kr and kr + 8 */
    auto issue = [&](int64_t it, int buf) {
        const int64_t h = hk * p.group + it / ntile, bh = b * p.Hq + h;
        const int64_t i1 = istart + (it % ntile) * HB_BQ;
        load_swizzled<D, HB_BQ>(qbuf + buf * QB, (const uint16_t *)p.q + b * p.qs[0] + h * p.qs[1], p.qs[2], i1, p.L);
        load_swizzled<D, HB_BQ>(gbuf + buf * QB, (const uint16_t *)p.dout + b * p.gs[0] + h * p.gs[1], p.gs[2], i1,
                                p.L);
        if (threadIdx.x < HB_BQ) {
            const int64_t i = i1 + threadIdx.x;
            const bool ok = i < p.L;
            cp4(lbuf + buf * HB_BQ + threadIdx.x, p.lse + (ok ? bh * p.L + i : 0), ok);
            cp4(dbuf + buf * HB_BQ + threadIdx.x, p.delta + (ok ? bh * p.L + i : 0), ok);
        }
    };
    const uint32_t ka = smem_addr(ksh), va = smem_addr(vsh), dsa = smem_addr(dssh);
    /* dQ_tile[:, c0 .. c0 + 64) = dS K[:, c0 ..] over the block's 128 keys for tile it, from its
     * dS^T buffer, added to dqacc; waits for every product in flight */
    auto dq_tile = [&](int64_t it) {
        if (D == 128 || wg == 0) {
            const int c0 = D == 128 ? wg * 64 : 0;
            const int64_t i1 = istart + (it % ntile) * HB_BQ, hq = hk * p.group + it / ntile;
            const uint32_t ds = dsa + (uint32_t)(it & 1) * SB;
            float dq[32];
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < HB_BC / 16; kk++)
                wgmma_ss<T, 1, 1>(dq, wgmma_desc(ds + kk * 2048, SB, 1024),
                                  wgmma_desc(ka + (c0 / 64) * (HB_BC * 128) + kk * 2048, HB_BC * 128, 1024), kk > 0);
            wgmma_commit();
            wgmma_wait<0>();
            wgmma_fence_regs(dq);
            float *dqp = p.dqacc + (b * p.Hq + hq) * p.L * D + c0 + 2 * t;
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const int64_t i = i1 + warp * 16 + g + r * 8;
                if (i >= p.L) continue;
#pragma unroll
                for (int n = 0; n < 8; n++) red2(dqp + i * D + n * 8, dq[4 * n + 2 * r], dq[4 * n + 2 * r + 1]);
            }
        } else {
            wgmma_wait<0>();
        }
    };
    if (total > 0) issue(0, 0);
    cp_commit(); /* K, V and tile 0 */
    for (int64_t it = 0; it < total; it++) {
        const int cur = (int)(it & 1);
        cp_wait<0>(); /* K, V and tile it */
        wgmma_fence_smem();
        /* ... for every thread; every warpgroup is done with tile it - 1 (the other buffer and
         * the dS^T buffer) */
        __syncthreads();
        if (it + 1 < total) issue(it + 1, cur ^ 1);
        cp_commit();
        const int64_t i1 = istart + (it % ntile) * HB_BQ;
        const uint32_t qa = smem_addr(qbuf + cur * QB), ga = smem_addr(gbuf + cur * QB);
        const float *lsh = lbuf + cur * HB_BQ, *dlt = dbuf + cur * HB_BQ;
        float st[HB_BQ / 2], dpt[HB_BQ / 2];
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            const uint32_t off = (kk / 4) * (HB_BC * 128) + wg * 64 * 128 + (kk % 4) * 32;
            const uint32_t qoff = (kk / 4) * (HB_BQ * 128) + (kk % 4) * 32;
            wgmma_ss<T, 0, 0>(st, wgmma_desc(ka + off, 16, 1024), wgmma_desc(qa + qoff, 16, 1024), kk > 0);
        }
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            const uint32_t off = (kk / 4) * (HB_BC * 128) + wg * 64 * 128 + (kk % 4) * 32;
            const uint32_t qoff = (kk / 4) * (HB_BQ * 128) + (kk % 4) * 32;
            wgmma_ss<T, 0, 0>(dpt, wgmma_desc(va + off, 16, 1024), wgmma_desc(ga + qoff, 16, 1024), kk > 0);
        }
        wgmma_commit();
        wgmma_wait<0>();
        wgmma_fence_regs(st);
        wgmma_fence_regs(dpt);
        /* P^T in st: rows the keys kr (+ 8), columns the queries 8 n + 2 t (+ 1); lse in log2
         * units, a row that sees no key (lse -inf) gets P = 0 */
#pragma unroll
        for (int n = 0; n < HB_BQ / 2; n++) {
            const int col = (n / 4) * 8 + 2 * t + (n & 1);
            const float lq = lsh[col], l2 = lq == -INFINITY ? INFINITY : lq * 1.4426950408889634f;
            st[n] = ex2(fmaf(st[n], p.scale_log2, -l2));
        }
        if (j0 + HB_BC > p.S || i1 + HB_BQ > p.L || (p.causal && j0 + HB_BC - 1 > p.kvoff + i1)) {
            /* key j sees the tile's queries [qlo, qhi) */
            int qlo[2], qhi[2];
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const int64_t j = j0 + kr + 8 * r;
                int64_t lo = p.causal ? j - p.kvoff - i1 : 0, hi = p.L - i1;
                if (j >= p.S) lo = HB_BQ;
                qlo[r] = lo < 0 ? 0 : (lo > HB_BQ ? HB_BQ : (int)lo);
                qhi[r] = hi > HB_BQ ? HB_BQ : (int)hi;
            }
#pragma unroll
            for (int n = 0; n < HB_BQ / 2; n++) {
                const int col = (n / 4) * 8 + 2 * t + (n & 1), r = (n >> 1) & 1;
                if (col < qlo[r] || col >= qhi[r]) st[n] = 0.f;
            }
        }
        uint32_t pa[HB_BQ / 16][4], da[HB_BQ / 16][4];
        unsigned char *dsw = dssh + cur * SB; /* this tile's dS^T */
#pragma unroll
        for (int n = 0; n < HB_BQ / 8; n++) {
            float dsv[4];
#pragma unroll
            for (int e = 0; e < 4; e++) dsv[e] = st[4 * n + e] * (dpt[4 * n + e] - dlt[n * 8 + 2 * t + (e & 1)]);
            pa[n / 2][(n & 1) * 2 + 0] = mma_traits<T>::pack(st[4 * n], st[4 * n + 1]);
            pa[n / 2][(n & 1) * 2 + 1] = mma_traits<T>::pack(st[4 * n + 2], st[4 * n + 3]);
            da[n / 2][(n & 1) * 2 + 0] = mma_traits<T>::pack(dsv[0], dsv[1]);
            da[n / 2][(n & 1) * 2 + 1] = mma_traits<T>::pack(dsv[2], dsv[3]);
            /* dS^T rows kr, kr + 8, queries 8 n + 2 t, + 1 */
            *(uint32_t *)(dsw + sw128_offset(kr, n) + 4 * t) = da[n / 2][(n & 1) * 2 + 0];
            *(uint32_t *)(dsw + sw128_offset(kr + 8, n) + 4 * t) = da[n / 2][(n & 1) * 2 + 1];
        }
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < HB_BQ / 16; kk++)
            wgmma_rs<T, 1>(dv, pa[kk], wgmma_desc(ga + kk * 2048, HB_BQ * 128, 1024), 1);
#pragma unroll
        for (int kk = 0; kk < HB_BQ / 16; kk++)
            wgmma_rs<T, 1>(dk, da[kk], wgmma_desc(qa + kk * 2048, HB_BQ * 128, 1024), 1);
        wgmma_commit();
        /* dQ of the tile before, from its dS^T (whole since this tile's barrier), beside dV/dK */
        if (it > 0) dq_tile(it - 1);
        else wgmma_wait<0>();
        wgmma_fence_regs(dv);
        wgmma_fence_regs(dk);
    }
    if (total > 0) {
        wgmma_fence_smem();
        __syncthreads(); /* the last tile's dS^T is whole */
        dq_tile(total - 1);
    }
    cp_wait<0>(); /* (when no query sees these keys, the K/V copies are still in flight) */
    uint16_t *dkp = (uint16_t *)p.dk + b * p.dks[0] + hk * p.dks[1];
    uint16_t *dvp = (uint16_t *)p.dv + b * p.dvs[0] + hk * p.dvs[1];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int64_t j = j0 + kr + r * 8;
        if (j >= p.S) continue;
        uint32_t *krow = (uint32_t *)(dkp + j * p.dks[2] + 2 * t), *vrow = (uint32_t *)(dvp + j * p.dvs[2] + 2 * t);
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
            krow[n * 4] = mma_traits<T>::pack(dk[4 * n + 2 * r] * p.scale, dk[4 * n + 2 * r + 1] * p.scale);
            vrow[n * 4] = mma_traits<T>::pack(dv[4 * n + 2 * r], dv[4 * n + 2 * r + 1]);
        }
    }
#endif
}

template <class T, int D> cudaError_t hopper_bwd_launch(cudaStream_t s, const TCB &p, int64_t B) {
    const dim3 grid((unsigned)(B * p.Hkv), (unsigned)((p.S + HB_BC - 1) / HB_BC));
    if (grid.x == 0 || grid.y == 0) return cudaSuccess;
    const size_t smem = (size_t)(2 * HB_BC + 4 * HB_BQ) * D * 2 + (size_t)2 * HB_BC * HB_BQ * 2 +
                        sizeof(float) * 4 * HB_BQ + 1024;
    cudaError_t e = cudaFuncSetAttribute(hopper_bwd_kernel<T, D>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    hopper_bwd_kernel<T, D><<<grid, HF_THREADS, smem, s>>>(p);
    return cudaGetLastError();
}

} // namespace

bool hopper_attention_ok() {
    static signed char known[64]; /* per device: 0 not asked yet, 1 yes, -1 no */
    static int off = -1;
    if (off < 0) off = getenv("BORN_ATTN_WGMMA") && atoi(getenv("BORN_ATTN_WGMMA")) == 0;
    int dev = 0;
    if (off || cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return false;
    if (!known[dev]) {
        int major = 0, minor = 0;
        cudaFuncAttributes fa;
        bool ok = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
                  cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
                  major == 9 && minor == 0 &&
                  cudaFuncGetAttributes(&fa, hopper_fwd_kernel<__nv_bfloat16, 128>) == cudaSuccess &&
                  fa.binaryVersion == 90;
        if (!ok) (void)cudaGetLastError(); /* a missing sm_90a image is not the caller's error */
        known[dev] = ok ? 1 : -1;
    }
    return known[dev] > 0;
}

cudaError_t hopper_attention_fwd(cudaStream_t s, const TCP &p, int64_t B, bool bf16, int D) {
    if (bf16)
        return D == 64 ? hopper_fwd_launch<__nv_bfloat16, 64>(s, p, B)
                       : hopper_fwd_launch<__nv_bfloat16, 128>(s, p, B);
    return D == 64 ? hopper_fwd_launch<__half, 64>(s, p, B) : hopper_fwd_launch<__half, 128>(s, p, B);
}

cudaError_t hopper_attention_bwd(cudaStream_t s, const TCB &p, int64_t B, bool bf16, int D) {
    if (bf16)
        return D == 64 ? hopper_bwd_launch<__nv_bfloat16, 64>(s, p, B)
                       : hopper_bwd_launch<__nv_bfloat16, 128>(s, p, B);
    return D == 64 ? hopper_bwd_launch<__half, 64>(s, p, B) : hopper_bwd_launch<__half, 128>(s, p, B);
}

} // namespace cu
