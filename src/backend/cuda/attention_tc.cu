/* Flash attention on the tensor cores for f16/bf16 (FlashAttention-2's layout, Born's own
 * kernels, mma.sync m16n8k16 with f32 accumulation, ldmatrix and cp.async).
 *
 * Forward: a block of 4 warps owns 64 queries of one (batch, head) (8 warps and 128 with
 * BORN_ATTN_FWD_WARPS=8), each warp 16 of them, held in registers as A fragments. Key and value
 * tiles of 64 rows are double-buffered in shared memory: tile j + 1's copy is issued after one
 * barrier at the top of tile j and lands while tile j's products run. Scores S = Q K^T
 * accumulate in f32 fragments; the online softmax runs on them in registers (running max of the
 * raw scores, the scale folded into one FMA per score before ex2.approx, sum l per row, output
 * rescaled by 2^(m_old - m_new)); P is rounded to the input type and multiplied into the f32
 * output fragments (V's B fragments from ldmatrix.trans). At the end O /= l and lse = m + log l
 * (natural units); a row that sees no key gets O = 0 and lse = -inf. Causal tiles past the
 * diagonal (kv offset included) are never loaded, and only tiles that cross it are masked.
 *
 * Backward: delta = rowsum(dO * O) (one small kernel), then one kernel per 128 keys of a (batch,
 * kv head), 8 warps x 16 keys, looping over the GQA group's query heads and the 32-query tiles
 * that see the keys: S^T and dP^T with the keys as fragment rows, P^T and dS^T in registers,
 * dV += P^T dO and dK += dS^T Q into registers held for the whole block (no atomics for dK/dV);
 * dS^T goes to one of two shared buffers, and dQ_tile = dS K of the previous tile is computed
 * after the current tile's products and added into an f32 accumulator (the scratch after delta)
 * with atomics, so each tile needs one barrier; a last kernel scales and converts dQ. dQ is
 * therefore not bit-reproducible run to run. Both grids take heads in groups (head_group_order):
 * within a group every head's heaviest causal block first, so those start first and the blocks
 * running together share a few heads' operands in L2.
 *
 * On an H100/H200 (compute capability 9.0) with sm_90a code in the plugin, the forward and the
 * backward's main kernel are attention_hopper.cu's wgmma kernels instead (BORN_ATTN_WGMMA=0
 * keeps these); delta, the dQ sums and their conversion are the same.
 *
 * It serves head sizes 64 and 128 (E = Ev) with no mask and no dropout, scale > 0, rows 16-byte
 * aligned (stride 1 along the head dimension, other strides multiples of 8 elements);
 * cu_attention falls back to the scalar kernel (attention.cu) for everything else. */
#include <stdlib.h>

#include <type_traits>

#include "backend/cuda/attention.h"
#include "backend/cuda/attention_tc.cuh"
#include "backend/cuda/common.cuh"

namespace cu {
namespace {

constexpr int TC_BC = 64; /* keys per forward tile */

__device__ inline void ldsm_x4(uint32_t *r, const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}
__device__ inline void ldsm_x4_t(uint32_t *r, const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(p)));
}



/* rows [r0, r0 + R) of a [rows, D] operand into sh (row stride D + 8), zero past `rows`, by NT
 * threads. */
template <class T, int D, int R, int NT>
__device__ inline void load_rows(T *sh, const T *src, int64_t rstride, int64_t r0, int64_t rows) {
    constexpr int CH = D / 8; /* 16-byte chunks per row */
#pragma unroll
    for (int c0 = 0; c0 < R * CH; c0 += NT) {
        const int c = c0 + (int)threadIdx.x;
        if (R * CH % NT != 0 && c >= R * CH) break;
        const int r = c / CH, col = (c % CH) * 8;
        const int64_t i = r0 + r;
        const bool ok = i < rows;
        cp16(sh + r * (D + 8) + col, ok ? src + i * rstride + col : src, ok);
    }
}

template <class T, int D, int W>
__global__ void __launch_bounds__(W * 32) tc_fwd_kernel(TCP p) {
    constexpr int BR = 16 * W, NT = W * 32; /* queries per block, threads */
    extern __shared__ __align__(16) unsigned char smem[];
    constexpr int LD = D + 8;
    /* Q, then two buffers each of K and V (tile j + 1 is copied while tile j is used) */
    T *qsh = (T *)smem, *kbuf = qsh + BR * LD, *vbuf = kbuf + 2 * TC_BC * LD;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    int64_t bh, rank;
    head_group_order(p.head_group, &bh, &rank);
    const int64_t b = bh / p.Hq, h = bh % p.Hq, hk = h / p.group;
    const int64_t i0 = (int64_t)(gridDim.y - 1 - rank) * BR;
    const T *qg = (const T *)p.q + b * p.qs[0] + h * p.qs[1];
    const T *kg = (const T *)p.k + b * p.ks[0] + hk * p.ks[1];
    const T *vg = (const T *)p.v + b * p.vs[0] + hk * p.vs[1];

    int64_t kend = p.S;
    if (p.causal) {
        int64_t e = p.kvoff + i0 + BR;
        kend = e < 0 ? 0 : (e < p.S ? e : p.S);
    }
    load_rows<T, D, BR, NT>(qsh, qg, p.qs[2], i0, p.L);
    if (kend > 0) {
        load_rows<T, D, TC_BC, NT>(kbuf, kg, p.ks[2], 0, p.S);
        load_rows<T, D, TC_BC, NT>(vbuf, vg, p.vs[2], 0, p.S);
    }
    cp_commit();
    cp_wait<0>();
    __syncthreads();

    /* this warp's 16 queries as A fragments over the head dimension */
    uint32_t qa[D / 16][4];
    {
        const T *qw = qsh + (warp * 16 + (lane & 15)) * LD + (lane >> 4) * 8;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) ldsm_x4(qa[kk], qw + kk * 16);
    }
    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
    /* m: running max of the scaled scores in log2 units; l: this thread's part of the sum */
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    const float sl2 = p.scale_log2; /* > 0 (cu_attention_tc_fits) */
    const int64_t row0 = i0 + warp * 16 + g; /* this thread's rows: row0 and row0 + 8 */

    for (int64_t j0 = 0; j0 < kend; j0 += TC_BC) {
        const int cur = (int)((j0 / TC_BC) & 1);
        if (j0 > 0) {
            cp_wait<0>();
            __syncthreads(); /* tile j is in; every warp is done with tile j - 1 */
        }
        if (j0 + TC_BC < kend) {
            load_rows<T, D, TC_BC, NT>(kbuf + (cur ^ 1) * TC_BC * LD, kg, p.ks[2], j0 + TC_BC, p.S);
            load_rows<T, D, TC_BC, NT>(vbuf + (cur ^ 1) * TC_BC * LD, vg, p.vs[2], j0 + TC_BC, p.S);
            cp_commit();
        }
        const T *ksh = kbuf + cur * TC_BC * LD, *vsh = vbuf + cur * TC_BC * LD;
        float s[TC_BC / 8][4];
#pragma unroll
        for (int n = 0; n < TC_BC / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk += 2) {
#pragma unroll
            for (int n = 0; n < TC_BC / 8; n++) {
                uint32_t kb[4]; /* B fragments for k-slices kk and kk + 1 */
                ldsm_x4(kb, ksh + (n * 8 + (lane & 7)) * LD + kk * 16 + (lane >> 3) * 8);
                mma_traits<T>::mma(s[n], qa[kk], kb[0], kb[1]);
                mma_traits<T>::mma(s[n], qa[kk + 1], kb[2], kb[3]);
            }
        }
        /* mask (raw scores), online softmax with the scale folded into one FMA per score */
        const bool edge = j0 + TC_BC > p.S || (p.causal && j0 + TC_BC - 1 > p.kvoff + i0);
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int n = 0; n < TC_BC / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                if (edge) {
                    int64_t j = j0 + n * 8 + 2 * t + (e & 1), i = row0 + (e >> 1) * 8;
                    if (j >= p.S || (p.causal && j > p.kvoff + i)) s[n][e] = -INFINITY;
                }
                mx[e >> 1] = fmaxf(mx[e >> 1], s[n][e]);
            }
        float mu[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            const float mn = fmaxf(m[r], mx[r] * sl2);
            mu[r] = mn == -INFINITY ? 0.f : mn; /* a row with nothing visible yet */
            const float alpha = ex2(m[r] - mu[r]); /* 0 when m was -inf */
            m[r] = mn;
            l[r] *= alpha;
#pragma unroll
            for (int n = 0; n < D / 8; n++) {
                o[n][2 * r] *= alpha;
                o[n][2 * r + 1] *= alpha;
            }
        }
        uint32_t pa[TC_BC / 16][4];
#pragma unroll
        for (int n = 0; n < TC_BC / 8; n++) {
            float e0 = ex2(fmaf(s[n][0], sl2, -mu[0])), e1 = ex2(fmaf(s[n][1], sl2, -mu[0]));
            float e2 = ex2(fmaf(s[n][2], sl2, -mu[1])), e3 = ex2(fmaf(s[n][3], sl2, -mu[1]));
            l[0] += e0 + e1;
            l[1] += e2 + e3;
            pa[n / 2][(n & 1) * 2 + 0] = mma_traits<T>::pack(e0, e1);
            pa[n / 2][(n & 1) * 2 + 1] = mma_traits<T>::pack(e2, e3);
        }
#pragma unroll
        for (int kk = 0; kk < TC_BC / 16; kk++) {
#pragma unroll
            for (int n = 0; n < D / 8; n += 2) {
                uint32_t vb[4]; /* B fragments for output columns n and n + 1 */
                ldsm_x4_t(vb, vsh + (kk * 16 + (lane & 15)) * LD + (n + (lane >> 4)) * 8);
                mma_traits<T>::mma(o[n], pa[kk], vb[0], vb[1]);
                mma_traits<T>::mma(o[n + 1], pa[kk], vb[2], vb[3]);
            }
        }
    }
    tc_store_rows<T, D>(p, b, h, row0, t, &o[0][0], m, l);
}

/* ---- backward -------------------------------------------------------------------------------- */

constexpr int TB_W = 8;            /* warps per backward block */
constexpr int TB_BC = 16 * TB_W;   /* keys per backward block, 16 a warp */
constexpr int TB_BQ = 32;          /* queries per step */



/* delta_i = dO_i . O_i in f32, one warp a row (row = (b Hq + h) L + i). */
template <class T, int D> __global__ void tc_delta_kernel(TCB p, int64_t rows) {
    int64_t row = (int64_t)blockIdx.x * 4 + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= rows) return;
    int64_t i = row % p.L, bh = row / p.L, b = bh / p.Hq, h = bh % p.Hq;
    const T *o = (const T *)p.o + b * p.os[0] + h * p.os[1] + i * p.os[2];
    const T *g = (const T *)p.dout + b * p.gs[0] + h * p.gs[1] + i * p.gs[2];
    float s = 0.f;
    for (int d = lane; d < D; d += 32) s += (float)o[d] * (float)g[d];
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) p.delta[row] = s;
}

/* The whole backward of 128 keys of one (batch, kv head), each of 8 warps 16 keys, over the
 * group's query heads and the 32-query tiles that can see the keys (FlashAttention-2's loop):
 * per tile, S^T = K Q^T and dP^T = V dO^T (keys as the fragments' rows), P^T and
 * dS^T = P^T (dP^T - delta) in registers, dV += P^T dO and dK += dS^T Q into registers that
 * live for the whole block; dS^T goes to one of two shared buffers, from which the warps compute
 * dQ_tile = dS K (each warp 16 queries x D/4 columns) one tile later, after the next tile's
 * products, and add it to the f32 dqacc with atomics: one barrier a tile. The next tile's Q, dO,
 * lse and delta are copied into the other of two buffers while this one is used. */
template <class T, int D>
__global__ void __launch_bounds__(TB_W * 32) tc_bwd_kernel(TCB p) {
    constexpr int LD = D + 8, LDS = TB_BQ + 8, NT = TB_W * 32;
    extern __shared__ __align__(16) unsigned char smem[];
    /* K, V, then two buffers each of Q, dO, dS^T [key][query], lse and delta */
    T *ksh = (T *)smem, *vsh = ksh + TB_BC * LD, *qbuf = vsh + TB_BC * LD;
    T *gbuf = qbuf + 2 * TB_BQ * LD, *dsbuf = gbuf + 2 * TB_BQ * LD;
    float *lbuf = (float *)(dsbuf + 2 * TB_BC * LDS), *dbuf = lbuf + 2 * TB_BQ;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    /* (batch, kv head) fastest, so that every head's first keys (the most queries) go first */
    int64_t bhk, rank;
    head_group_order(p.head_group, &bhk, &rank);
    const int64_t b = bhk / p.Hkv, hk = bhk % p.Hkv;
    const int64_t j0 = rank * TB_BC;
    const T *kg = (const T *)p.k + b * p.ks[0] + hk * p.ks[1];
    const T *vg = (const T *)p.v + b * p.vs[0] + hk * p.vs[1];
    load_rows<T, D, TB_BC, NT>(ksh, kg, p.ks[2], j0, p.S);
    load_rows<T, D, TB_BC, NT>(vsh, vg, p.vs[2], j0, p.S);
    float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) dk[n][e] = dv[n][e] = 0.f;
    /* the first query that sees key j0, down to a tile boundary */
    int64_t istart = p.causal ? j0 - p.kvoff : 0;
    istart = istart < 0 ? 0 : (istart / TB_BQ) * TB_BQ;
    const T *kw = ksh + (warp * 16 + (lane & 15)) * LD + (lane >> 4) * 8;
    const T *vw = vsh + (warp * 16 + (lane & 15)) * LD + (lane >> 4) * 8;
    const int64_t jw = j0 + warp * 16 + g; /* this thread's keys: jw and jw + 8 */
    /* the (query head of the group, query tile) pairs in one sequence: tile it in buffer it & 1 */
    const int64_t ntile = istart < p.L ? (p.L - istart + TB_BQ - 1) / TB_BQ : 0, total = ntile * p.group;
    auto issue = [&](int64_t it, int buf) {
        const int64_t h = hk * p.group + it / ntile, bh = b * p.Hq + h;
        const int64_t i1 = istart + (it % ntile) * TB_BQ;
        load_rows<T, D, TB_BQ, NT>(qbuf + buf * TB_BQ * LD, (const T *)p.q + b * p.qs[0] + h * p.qs[1],
                                   p.qs[2], i1, p.L);
        load_rows<T, D, TB_BQ, NT>(gbuf + buf * TB_BQ * LD,
                                   (const T *)p.dout + b * p.gs[0] + h * p.gs[1], p.gs[2], i1, p.L);
        if (threadIdx.x < TB_BQ) {
            const int64_t i = i1 + threadIdx.x;
            const bool ok = i < p.L;
            cp4(lbuf + buf * TB_BQ + threadIdx.x, p.lse + (ok ? bh * p.L + i : 0), ok);
            cp4(dbuf + buf * TB_BQ + threadIdx.x, p.delta + (ok ? bh * p.L + i : 0), ok);
        }
    };
    /* dQ_tile = dS K for tile it from its dS^T in ds: warp w takes queries (w & 1) * 16.. and
     * columns (w >> 1) * D/4.. */
    auto dq_tile = [&](int64_t it, const T *ds) {
        constexpr int NW = D / 32; /* n-tiles of 8 columns a warp */
        const int64_t hq = hk * p.group + it / ntile, i1 = istart + (it % ntile) * TB_BQ;
        const int mt = warp & 1, c0 = (warp >> 1) * (D / 4);
        float dq[NW][4];
#pragma unroll
        for (int n = 0; n < NW; n++) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < TB_BC / 16; kk++) {
            uint32_t a[4]; /* dS rows mt * 16.., keys kk * 16.., from dS^T by ldmatrix.trans */
            ldsm_x4_t(a, ds + (kk * 16 + (lane >> 4) * 8 + (lane & 7)) * LDS + mt * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
            for (int n = 0; n < NW; n += 2) {
                uint32_t kb[4];
                ldsm_x4_t(kb, ksh + (kk * 16 + (lane & 15)) * LD + c0 + (n + (lane >> 4)) * 8);
                mma_traits<T>::mma(dq[n], a, kb[0], kb[1]);
                mma_traits<T>::mma(dq[n + 1], a, kb[2], kb[3]);
            }
        }
        float *dqp = p.dqacc + (b * p.Hq + hq) * p.L * D + c0 + 2 * t;
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int64_t i = i1 + mt * 16 + g + r * 8;
            if (i >= p.L) continue;
#pragma unroll
            for (int n = 0; n < NW; n++) red2(dqp + i * D + n * 8, dq[n][2 * r], dq[n][2 * r + 1]);
        }
    };
    if (total > 0) issue(0, 0);
    cp_commit(); /* K, V and tile 0 */
    for (int64_t it = 0; it < total; it++) {
        const int cur = (int)(it & 1);
        cp_wait<0>(); /* K, V and tile it are in */
        /* ... for every thread; every warp is done with tile it - 1's Q, dO, lse and delta (the
         * other buffer) and with tile it - 2's dS^T (this buffer) */
        __syncthreads();
        if (it + 1 < total) issue(it + 1, cur ^ 1);
        cp_commit();
        const int64_t i1 = istart + (it % ntile) * TB_BQ;
        T *dssh = dsbuf + cur * TB_BC * LDS;
        const T *qsh = qbuf + cur * TB_BQ * LD, *gsh = gbuf + cur * TB_BQ * LD;
        const float *lsh = lbuf + cur * TB_BQ, *dsh = dbuf + cur * TB_BQ;
        float st[TB_BQ / 8][4], dpt[TB_BQ / 8][4];
#pragma unroll
        for (int n = 0; n < TB_BQ / 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) st[n][e] = dpt[n][e] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk += 2) {
            uint32_t ka0[4], ka1[4], va0[4], va1[4];
            ldsm_x4(ka0, kw + kk * 16);
            ldsm_x4(ka1, kw + kk * 16 + 16);
            ldsm_x4(va0, vw + kk * 16);
            ldsm_x4(va1, vw + kk * 16 + 16);
#pragma unroll
            for (int n = 0; n < TB_BQ / 8; n++) {
                uint32_t qb[4], gb[4];
                ldsm_x4(qb, qsh + (n * 8 + (lane & 7)) * LD + kk * 16 + (lane >> 3) * 8);
                ldsm_x4(gb, gsh + (n * 8 + (lane & 7)) * LD + kk * 16 + (lane >> 3) * 8);
                mma_traits<T>::mma(st[n], ka0, qb[0], qb[1]);
                mma_traits<T>::mma(st[n], ka1, qb[2], qb[3]);
                mma_traits<T>::mma(dpt[n], va0, gb[0], gb[1]);
                mma_traits<T>::mma(dpt[n], va1, gb[2], gb[3]);
            }
        }
        const bool edge = j0 + TB_BC > p.S || i1 + TB_BQ > p.L ||
                          (p.causal && j0 + TB_BC - 1 > p.kvoff + i1);
        uint32_t pa[TB_BQ / 16][4], da[TB_BQ / 16][4];
#pragma unroll
        for (int n = 0; n < TB_BQ / 8; n++) {
            float pv[4], dsv[4];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int col = n * 8 + 2 * t + (e & 1);
                /* lse in log2 units; a row that sees no key (lse -inf) gets P = 0 */
                const float lq = lsh[col], l2 = lq == -INFINITY ? INFINITY : lq * 1.4426950408889634f;
                float pe = ex2(fmaf(st[n][e], p.scale_log2, -l2));
                if (edge) {
                    int64_t j = jw + (e >> 1) * 8, i = i1 + col;
                    if (j >= p.S || i >= p.L || (p.causal && j > p.kvoff + i)) pe = 0.f;
                }
                pv[e] = pe;
                dsv[e] = pe * (dpt[n][e] - dsh[col]);
            }
            pa[n / 2][(n & 1) * 2 + 0] = mma_traits<T>::pack(pv[0], pv[1]);
            pa[n / 2][(n & 1) * 2 + 1] = mma_traits<T>::pack(pv[2], pv[3]);
            da[n / 2][(n & 1) * 2 + 0] = mma_traits<T>::pack(dsv[0], dsv[1]);
            da[n / 2][(n & 1) * 2 + 1] = mma_traits<T>::pack(dsv[2], dsv[3]);
            /* dS^T rows jw, jw + 8 (block-local), queries n * 8 + 2t, + 1 */
            *(uint32_t *)(dssh + (warp * 16 + g) * LDS + n * 8 + 2 * t) = da[n / 2][(n & 1) * 2 + 0];
            *(uint32_t *)(dssh + (warp * 16 + g + 8) * LDS + n * 8 + 2 * t) = da[n / 2][(n & 1) * 2 + 1];
        }
#pragma unroll
        for (int kk = 0; kk < TB_BQ / 16; kk++) {
#pragma unroll
            for (int n = 0; n < D / 8; n += 2) {
                uint32_t gb[4], qb[4];
                ldsm_x4_t(gb, gsh + (kk * 16 + (lane & 15)) * LD + (n + (lane >> 4)) * 8);
                ldsm_x4_t(qb, qsh + (kk * 16 + (lane & 15)) * LD + (n + (lane >> 4)) * 8);
                mma_traits<T>::mma(dv[n], pa[kk], gb[0], gb[1]);
                mma_traits<T>::mma(dv[n + 1], pa[kk], gb[2], gb[3]);
                mma_traits<T>::mma(dk[n], da[kk], qb[0], qb[1]);
                mma_traits<T>::mma(dk[n + 1], da[kk], qb[2], qb[3]);
            }
        }
        if (it > 0) dq_tile(it - 1, dsbuf + (cur ^ 1) * TB_BC * LDS); /* (written before the barrier) */
    }
    if (total > 0) {
        __syncthreads(); /* the last tile's dS^T is whole */
        dq_tile(total - 1, dsbuf + ((total - 1) & 1) * TB_BC * LDS);
    }
    cp_wait<0>(); /* (when no query sees these keys, the K/V copies are still in flight) */
    T *dkp = (T *)p.dk + b * p.dks[0] + hk * p.dks[1], *dvp = (T *)p.dv + b * p.dvs[0] + hk * p.dvs[1];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int64_t j = jw + r * 8;
        if (j >= p.S) continue;
        uint32_t *kr = (uint32_t *)(dkp + j * p.dks[2] + 2 * t), *vr = (uint32_t *)(dvp + j * p.dvs[2] + 2 * t);
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
            kr[n * 4] = mma_traits<T>::pack(dk[n][2 * r] * p.scale, dk[n][2 * r + 1] * p.scale);
            vr[n * 4] = mma_traits<T>::pack(dv[n][2 * r], dv[n][2 * r + 1]);
        }
    }
}

/* dq = scale * dqacc in q's type, four elements a thread. */
template <class T, int D> __global__ void tc_dq_convert_kernel(TCB p, int64_t n4) {
    const int64_t x = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (x >= n4) return;
    const int64_t e = x * 4, row = e / D, i = row % p.L, bh = row / p.L, b = bh / p.Hq, h = bh % p.Hq;
    const int c = (int)(e % D);
    const float4 v = ((const float4 *)p.dqacc)[x];
    uint32_t *dst = (uint32_t *)((T *)p.dq + b * p.dqs[0] + h * p.dqs[1] + i * p.dqs[2] + c);
    dst[0] = mma_traits<T>::pack(v.x * p.scale, v.y * p.scale);
    dst[1] = mma_traits<T>::pack(v.z * p.scale, v.w * p.scale);
}

template <class T, int D> cudaError_t tc_backward(cudaStream_t s, const TCB &p, int64_t B) {
    const int64_t rows = B * p.Hq * p.L;
    cudaError_t e;
    if (rows > 0) {
        tc_delta_kernel<T, D><<<(unsigned)((rows + 3) / 4), 128, 0, s>>>(p, rows);
        if ((e = cudaGetLastError()) != cudaSuccess) return e;
        if ((e = cudaMemsetAsync(p.dqacc, 0, sizeof(float) * (size_t)(rows * D), s)) != cudaSuccess)
            return e;
    }
    const dim3 grid((unsigned)(B * p.Hkv), (unsigned)((p.S + TB_BC - 1) / TB_BC));
    if (hopper_attention_ok()) {
        if ((e = hopper_attention_bwd(s, p, B, std::is_same<T, __nv_bfloat16>::value, D)) != cudaSuccess) return e;
    } else if (grid.x > 0 && grid.y > 0) {
        const size_t smem = sizeof(T) * (size_t)((2 * TB_BC + 4 * TB_BQ) * (D + 8) + 2 * TB_BC * (TB_BQ + 8)) +
                            sizeof(float) * 4 * TB_BQ;
        if ((e = cudaFuncSetAttribute(tc_bwd_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      (int)smem)) != cudaSuccess)
            return e;
        tc_bwd_kernel<T, D><<<grid, TB_W * 32, smem, s>>>(p);
        if ((e = cudaGetLastError()) != cudaSuccess) return e;
    }
    if (rows > 0) {
        const int64_t n4 = rows * D / 4;
        tc_dq_convert_kernel<T, D><<<(unsigned)((n4 + 255) / 256), 256, 0, s>>>(p, n4);
        if ((e = cudaGetLastError()) != cudaSuccess) return e;
    }
    return cudaSuccess;
}

template <class T, int D, int W>
cudaError_t tc_launch_w(cudaStream_t s, const TCP &p, int64_t B) {
    constexpr int BR = 16 * W;
    size_t smem = sizeof(T) * (size_t)((BR + 4 * TC_BC) * (D + 8));
    dim3 grid((unsigned)(B * p.Hq), (unsigned)((p.L + BR - 1) / BR));
    if (grid.x == 0 || grid.y == 0) return cudaSuccess;
    cudaError_t e = cudaFuncSetAttribute(tc_fwd_kernel<T, D, W>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    tc_fwd_kernel<T, D, W><<<grid, W * 32, smem, s>>>(p);
    return cudaGetLastError();
}

/* The forward's warps per block: 4 (64 queries, two blocks per multiprocessor at ~250
 * registers a thread) unless BORN_ATTN_FWD_WARPS=8 (128 queries sharing each K/V tile, one
 * block per multiprocessor): on the H200 at B8 H16 T4096 D128 causal bf16, 2.19 ms against 2.48
 * (docs/BENCHMARKS.md), so 8 stays an option for comparisons. */
template <class T, int D> cudaError_t tc_launch(cudaStream_t s, const TCP &p, int64_t B) {
    static int warps = 0;
    if (!warps) {
        const char *e = getenv("BORN_ATTN_FWD_WARPS");
        warps = e && atoi(e) == 8 ? 8 : 4;
    }
    return warps == 4 ? tc_launch_w<T, D, 4>(s, p, B) : tc_launch_w<T, D, 8>(s, p, B);
}

/* The (b, h, row) strides of an output-side operand [B, H, rows, D]: its own for a 4-d view
 * (cu_attention_io_fits checked them), else those of a contiguous tensor. */
void io_strides(const cu_strided *t, int64_t h, int64_t rows, int64_t d, int64_t *s) {
    if (t->ndim == 4) {
        for (int i = 0; i < 3; i++) s[i] = t->strides[i];
        return;
    }
    s[2] = d;
    s[1] = rows * d;
    s[0] = h * rows * d;
}

bool aligned16(const cu_strided *t) {
    if (((uintptr_t)t->data & 15) || t->strides[3] != 1) return false;
    for (int d = 0; d < 3; d++)
        if (t->strides[d] % 8) return false;
    return true;
}

/* delta's part of the backward's scratch, rounded up to 256 bytes; dqacc follows. */
size_t tc_delta_part(const cu_attention_args *a) {
    return ((size_t)(a->batch * a->q_heads * a->q_len) * sizeof(float) + 255) / 256 * 256;
}

} // namespace

int64_t attention_head_group(int64_t bytes_per_head) {
    static int64_t forced = -1;
    if (forced < 0) {
        const char *e = getenv("BORN_ATTN_HEAD_GROUP");
        forced = e && atoll(e) > 0 ? atoll(e) : 0;
    }
    if (forced > 0) return forced;
    const int64_t budget = 20LL << 20, n = bytes_per_head > 0 ? budget / bytes_per_head : budget;
    return n < 1 ? 1 : n;
}

} // namespace cu

extern "C" size_t cu_attention_tc_scratch_bytes(born_dtype dt, const cu_attention_args *a) {
    if (dt != BORN_F16 && dt != BORN_BF16) return 0;
    if (a->head_dim != a->v_dim || (a->head_dim != 64 && a->head_dim != 128)) return 0;
    return cu::tc_delta_part(a) + sizeof(float) * (size_t)(a->batch * a->q_heads * a->q_len * a->head_dim);
}

extern "C" bool cu_attention_tc_fits(const cu_strided *q, const cu_strided *k, const cu_strided *v,
                                     const cu_attention_args *a) {
    using namespace cu;
    if (q->dtype != BORN_F16 && q->dtype != BORN_BF16) return false;
    if (a->head_dim != a->v_dim || (a->head_dim != 64 && a->head_dim != 128)) return false;
    if (a->mask_kind != 0 || a->dropout_p > 0) return false;
    if (!(a->scale > 0)) return false; /* the kernels take the max of the unscaled scores */
    /* grids of (batch x head, row blocks): at most 65535 blocks of 64 queries or 128 keys */
    if (a->q_len > 65535LL * 64 || a->kv_len > 65535LL * 128) return false;
    if (a->batch * a->q_heads > 0x7fffffffLL) return false;
    return aligned16(q) && aligned16(k) && aligned16(v);
}

extern "C" cudaError_t cu_attention_tc(cudaStream_t s, const cu_strided *out, const cu_strided *lse,
                                       const cu_strided *q, const cu_strided *k,
                                       const cu_strided *v, const cu_attention_args *a) {
    using namespace cu;
    TCP p;
    p.q = q->data;
    p.k = k->data;
    p.v = v->data;
    p.out = out->data;
    p.lse = (float *)lse->data;
    for (int d = 0; d < 3; d++) {
        p.qs[d] = q->strides[d];
        p.ks[d] = k->strides[d];
        p.vs[d] = v->strides[d];
    }
    io_strides(out, a->q_heads, a->q_len, a->head_dim, p.os);
    p.Hq = a->q_heads;
    p.L = a->q_len;
    p.S = a->kv_len;
    p.group = a->q_heads / a->kv_heads;
    p.kvoff = a->kv_offset;
    p.scale_log2 = (float)(a->scale * 1.4426950408889634);
    p.causal = a->causal;
    p.head_group = attention_head_group(a->kv_len * a->head_dim * 4 / p.group);
    if (hopper_attention_ok()) return hopper_attention_fwd(s, p, a->batch, q->dtype == BORN_BF16, (int)a->head_dim);
    if (q->dtype == BORN_BF16)
        return a->head_dim == 64 ? tc_launch<__nv_bfloat16, 64>(s, p, a->batch)
                                 : tc_launch<__nv_bfloat16, 128>(s, p, a->batch);
    return a->head_dim == 64 ? tc_launch<__half, 64>(s, p, a->batch)
                             : tc_launch<__half, 128>(s, p, a->batch);
}

extern "C" cudaError_t cu_attention_tc_backward(cudaStream_t s, const cu_strided *dq,
                                                const cu_strided *dk, const cu_strided *dv,
                                                const cu_strided *grad_out, const cu_strided *q,
                                                const cu_strided *k, const cu_strided *v,
                                                const cu_strided *out, const cu_strided *lse,
                                                void *delta, const cu_attention_args *a) {
    using namespace cu;
    TCB p;
    p.q = q->data;
    p.k = k->data;
    p.v = v->data;
    p.o = out->data;
    p.dout = grad_out->data;
    p.dq = dq->data;
    p.dk = dk->data;
    p.dv = dv->data;
    p.lse = (const float *)lse->data;
    p.delta = (float *)delta;
    p.dqacc = (float *)((char *)delta + tc_delta_part(a));
    for (int d = 0; d < 3; d++) {
        p.qs[d] = q->strides[d];
        p.ks[d] = k->strides[d];
        p.vs[d] = v->strides[d];
    }
    io_strides(out, a->q_heads, a->q_len, a->head_dim, p.os);
    io_strides(grad_out, a->q_heads, a->q_len, a->head_dim, p.gs);
    io_strides(dq, a->q_heads, a->q_len, a->head_dim, p.dqs);
    io_strides(dk, a->kv_heads, a->kv_len, a->head_dim, p.dks);
    io_strides(dv, a->kv_heads, a->kv_len, a->head_dim, p.dvs);
    p.Hq = a->q_heads;
    p.Hkv = a->kv_heads;
    p.L = a->q_len;
    p.S = a->kv_len;
    p.group = a->q_heads / a->kv_heads;
    p.kvoff = a->kv_offset;
    p.scale = (float)a->scale;
    p.scale_log2 = (float)(a->scale * 1.4426950408889634);
    p.causal = a->causal;
    p.head_group = attention_head_group(p.group * a->q_len * a->head_dim * 8);
    if (q->dtype == BORN_BF16)
        return a->head_dim == 64 ? tc_backward<__nv_bfloat16, 64>(s, p, a->batch)
                                 : tc_backward<__nv_bfloat16, 128>(s, p, a->batch);
    return a->head_dim == 64 ? tc_backward<__half, 64>(s, p, a->batch)
                             : tc_backward<__half, 128>(s, p, a->batch);
}

extern "C" bool cu_attention_tc_io_fits(const cu_strided *t) {
    return t->ndim != 4 || cu::aligned16(t);
}
