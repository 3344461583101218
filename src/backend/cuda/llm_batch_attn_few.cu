/* Batched attention for segments of few query rows (decoding sessions: a token or a few each,
 * every row of a kv head's group in one block), f16 cache, head size 64 or 128; see
 * llm_batch_attn.cuh.
 *
 * Block (split x, kv head, segment) walks keys [x keys, (x + 1) keys) of the segment's cache in
 * chunks of CK, a thread a key: the thread's K row goes into registers and is dotted with every
 * row's q (staged in shared memory, read by all lanes at once), so the K/V bytes are read once
 * for all the rows and no lane works for a row that is not there (the tiled kernel gives each
 * row 8 lanes of a 32-row block: 4 of 32 rows live when decoding with 4 query heads a kv head).
 * A row's chunk maximum and sum come from shuffles and one exchange through shared memory; then
 * each warp multiplies its keys' V pairs (loaded into registers with K, before the softmax
 * needs them) by the rows' probabilities. The result is unnormalized with the running maximum
 * and sum in base 2, as the tiled kernel's splits leave theirs, for its combine kernel. */
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "backend/cuda/llm_batch_attn.cuh"
#include "backend/cuda/llm_f16_dot.cuh"

namespace cu_battn {
namespace {

constexpr int CK = 128;       /* keys a chunk: a thread each */
constexpr int W = CK / 32;    /* warps */
constexpr int KW = CK / W;    /* keys of a chunk a warp multiplies by V */

template <int D, int RM>
__global__ void __launch_bounds__(CK) few_rows_kernel(const cu_llm_battn p, const Split sp) {
    constexpr int KC = D / 8, VP = D / 64; /* a K row's 16-byte pieces; a lane's V pairs a key */
    constexpr int POOL = RM * CK > W * RM * D ? RM * CK : W * RM * D;
    __shared__ float qs[RM][D];
    __shared__ float red[W][RM];
    __shared__ float pool[POOL]; /* the chunk's probabilities ps; after the last, the warps' P.V */
    float(*ps)[CK] = reinterpret_cast<float(*)[CK]>(pool);
    float(*po)[RM][D] = reinterpret_cast<float(*)[RM][D]>(pool);
    const cu_llm_seg sg = cu_llm_seg_at(p.sg, (int)blockIdx.z);
    const int G = p.n_head / p.n_head_kv, kvh = blockIdx.y, R = sg.n * G;
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    if (R == 0) return; /* a segment shorter than the longest: nothing here (no rows to write) */
    const int kend = sg.pos + sg.n, kbeg = (int)blockIdx.x * sp.keys;
    const int kstop = min(kend, kbeg + sp.keys);
    const float qscale = p.scale * 1.4426950408889634f; /* base-2 exponentials */
    for (int i = t; i < R * D; i += CK) {
        const int r = i / D, d = i % D;
        qs[r][d] = p.q[(int64_t)(sg.row0 + r / G) * p.q_stride + (int64_t)(kvh * G + r % G) * D + d] * qscale;
    }
    const __half *kb = static_cast<const __half *>(sg.kc) + (size_t)kvh * sg.n_ctx * D;
    const __half *vb = static_cast<const __half *>(sg.vc) + (size_t)kvh * sg.n_ctx * D;
    float m[RM], l[RM];
    float2 acc[RM][VP];
#pragma unroll
    for (int r = 0; r < RM; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < VP; c++) acc[r][c] = make_float2(0.0f, 0.0f);
    }
    for (int k0 = kbeg; k0 < kstop; k0 += CK) {
        const int nk = min(CK, kstop - k0);
        uint4 kr[KC];
        uint32_t vr[KW][VP];
#pragma unroll
        for (int c = 0; c < KC; c++)
            kr[c] = t < nk ? reinterpret_cast<const uint4 *>(kb + (size_t)(k0 + t) * D)[c] : make_uint4(0u, 0u, 0u, 0u);
#pragma unroll
        for (int i = 0; i < KW; i++) {
            const int j = warp + W * i;
#pragma unroll
            for (int c = 0; c < VP; c++)
                vr[i][c] = j < nk ? *reinterpret_cast<const uint32_t *>(vb + (size_t)(k0 + j) * D + 64 * c + 2 * lane) : 0u;
        }
        __syncthreads(); /* q is staged; the chunk before is done with ps and red */
        float s[RM];
#pragma unroll
        for (int r = 0; r < RM; r++) s[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < KC; c++)
#pragma unroll
            for (int r = 0; r < RM; r++)
                if (r < R) s[r] = cu_llm_dot8_f16(kr[c], &qs[r][8 * c], s[r]);
        /* masks: key k0 + t exists and row r's position (pos + r / G) sees it */
#pragma unroll
        for (int r = 0; r < RM; r++) {
            if (t >= nk || k0 + t > sg.pos + r / G) s[r] = -INFINITY;
            float mx = s[r];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
            if (lane == 0) red[warp][r] = mx;
        }
        __syncthreads();
        float corr[RM];
#pragma unroll
        for (int r = 0; r < RM; r++) {
            float mx = m[r];
#pragma unroll
            for (int w = 0; w < W; w++) mx = fmaxf(mx, red[w][r]);
            /* -inf while row r has seen no key: every exponential is then of -inf */
            const float mref = mx == -INFINITY ? 0.0f : mx;
            corr[r] = exp2f(m[r] - mref);
            m[r] = mx;
            const float pr = exp2f(s[r] - mref);
            ps[r][t] = pr;
            s[r] = pr;
        }
        __syncthreads(); /* ps is complete; red may be reused */
#pragma unroll
        for (int r = 0; r < RM; r++) {
            float sum = s[r];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            if (lane == 0) red[warp][r] = sum;
#pragma unroll
            for (int c = 0; c < VP; c++) acc[r][c] = make_float2(acc[r][c].x * corr[r], acc[r][c].y * corr[r]);
        }
#pragma unroll
        for (int i = 0; i < KW; i++) {
            const int j = warp + W * i;
#pragma unroll
            for (int c = 0; c < VP; c++) {
                const float2 v = __half22float2(*reinterpret_cast<const __half2 *>(&vr[i][c]));
#pragma unroll
                for (int r = 0; r < RM; r++) {
                    const float pj = ps[r][j]; /* 0 past nk and past the row's position */
                    acc[r][c].x = fmaf(pj, v.x, acc[r][c].x);
                    acc[r][c].y = fmaf(pj, v.y, acc[r][c].y);
                }
            }
        }
        __syncthreads(); /* the chunk's sums are in red */
#pragma unroll
        for (int r = 0; r < RM; r++) {
            float sum = 0.0f;
#pragma unroll
            for (int w = 0; w < W; w++) sum += red[w][r];
            l[r] = l[r] * corr[r] + sum;
        }
    }
    /* the warps' partial P.V summed (the loop's last barrier ended its reads of ps), then row
     * r's results for the combine kernel */
#pragma unroll
    for (int r = 0; r < RM; r++)
#pragma unroll
        for (int c = 0; c < VP; c++) {
            po[warp][r][64 * c + 2 * lane] = acc[r][c].x;
            po[warp][r][64 * c + 2 * lane + 1] = acc[r][c].y;
        }
    __syncthreads();
    for (int i = t; i < R * D; i += CK) {
        const int r = i / D, d = i % D;
        float o = 0.0f;
#pragma unroll
        for (int w = 0; w < W; w++) o += po[w][r][d];
        const int64_t at = ((int64_t)(sg.row0 + r / G) * p.n_head + kvh * G + r % G) * sp.nsplit + blockIdx.x;
        sp.o[at * D + d] = o;
    }
    if (t < R) {
        const int64_t at = ((int64_t)(sg.row0 + t / G) * p.n_head + kvh * G + t % G) * sp.nsplit + blockIdx.x;
        float mr = 0.0f, lr = 0.0f;
#pragma unroll
        for (int r = 0; r < RM; r++)
            if (r == t) mr = m[r], lr = l[r];
        sp.ml[2 * at] = mr;
        sp.ml[2 * at + 1] = lr;
    }
}

template <int D, int RM> cudaError_t launch_rm(cudaStream_t s, const cu_llm_battn &p, const Split &sp) {
    few_rows_kernel<D, RM><<<dim3((unsigned)sp.nsplit, (unsigned)p.n_head_kv, (unsigned)p.sg.nseg), CK, 0, s>>>(p, sp);
    return cudaGetLastError();
}

template <int D> cudaError_t launch_d(cudaStream_t s, const cu_llm_battn &p, const Split &sp, int rows) {
    static_assert(FEW_ROWS_MAX == 8, "a kernel for every row count up to FEW_ROWS_MAX");
    if (rows <= 2) return launch_rm<D, 2>(s, p, sp);
    if (rows <= 4) return launch_rm<D, 4>(s, p, sp);
    return launch_rm<D, 8>(s, p, sp);
}

} // namespace

bool few_rows_fit(const cu_llm_battn &p) {
    const int64_t rows = (int64_t)p.sg.n_max * (p.n_head / p.n_head_kv);
    return p.sg.kv_f16 && (p.head_dim == 64 || p.head_dim == 128) && rows <= FEW_ROWS_MAX && p.sg.kend_max > 0;
}

int few_rows_keys(const cu_llm_battn &p, int sm_count) {
    /* enough blocks for two waves of the GPU's multiprocessors, at most MAX_SPLITS splits */
    const int64_t pairs = (int64_t)p.sg.nseg * p.n_head_kv, want = 2 * (int64_t)(sm_count > 0 ? sm_count : 132);
    int64_t splits = (want + pairs - 1) / pairs;
    if (splits > MAX_SPLITS) splits = MAX_SPLITS;
    int64_t keys = (p.sg.kend_max + splits - 1) / splits;
    keys = (keys + CK - 1) / CK * CK;
    return (int)keys;
}

cudaError_t few_rows_attention(cudaStream_t s, const cu_llm_battn &p, const Split &sp) {
    const int rows = p.sg.n_max * (p.n_head / p.n_head_kv);
    return p.head_dim == 64 ? launch_d<64>(s, p, sp, rows) : launch_d<128>(s, p, sp, rows);
}

} // namespace cu_battn
