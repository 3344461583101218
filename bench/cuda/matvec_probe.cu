/* How fast can a bf16 matrix-vector product stream its weights on this GPU? A probe for the
 * decode step of issue 8: the products of a LLaMA-like 1B (per layer q/k/v 3072x2048, Wo
 * 2048x2048, gate+up 16384x2048, down 2048x8192; 16 layers with their own buffers, then the
 * 32000x2048 output), launched back to back with programmatic dependent launch and captured in one
 * CUDA graph, through three kernels:
 *   read  the weights summed, nothing else (the ceiling of one kernel a matrix);
 *   warp  Born's decode product as it is (a warp a pair of rows, eight 16-byte loads a lane and
 *         row in flight, the input staged in shared memory, four blocks of four warps a
 *         multiprocessor);
 *   bulk  each block a contiguous run of rows streamed through shared memory by the bulk copy
 *         engine (cp.async.bulk, a ring of stages, mbarriers), eight consumer warps with the
 *         input in registers.
 * Prints GB/s of weights and the step's time for each. Built from the repository's root with
 * nvcc -O3 -gencode arch=compute_90,code=sm_90 -Iinclude -Isrc bench/cuda/matvec_probe.cu -o probe
 * (the plugin's launcher and loads, src/backend/cuda/llm_launch.cuh). Usage: matvec_probe [reps [kind]] */
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>

#include "backend/cuda/llm_launch.cuh"
#include "probe_check.cuh"


struct Mat {
    const __nv_bfloat16 *w;
    int rows, cols;
};

/* the plugin's own programmatic launch, its launcher and its streaming load (llm_launch.cuh) */
using cu_llm::ld_stream;
using cu_llm::pdl_trigger;
using cu_llm::pdl_wait;
bool cu_llm::use_pdl = true;

__device__ __forceinline__ float dot8(uint4 w, const float *x) {
    const uint32_t a[4] = {w.x, w.y, w.z, w.w};
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        s = fmaf(__uint_as_float(a[i] << 16), x[2 * i], s);
        s = fmaf(__uint_as_float(a[i] & 0xffff0000u), x[2 * i + 1], s);
    }
    return s;
}

/* ---- read: the ceiling --------------------------------------------------------------------- */
__global__ void __launch_bounds__(256) read_kernel(Mat m, float *out) {
    const size_t n16 = (size_t)m.rows * m.cols / 8;
    const size_t per = (n16 + gridDim.x - 1) / gridDim.x;
    const size_t b0 = per * blockIdx.x, b1 = b0 + per < n16 ? b0 + per : n16;
    const uint4 *p = reinterpret_cast<const uint4 *>(m.w);
    float s = 0.0f;
    for (size_t i = b0 + threadIdx.x; i < b1; i += 256 * 8) {
        uint4 v[8];
#pragma unroll
        for (int j = 0; j < 8; j++) v[j] = i + 256 * j < b1 ? ld_stream(p + i + 256 * j) : make_uint4(0, 0, 0, 0);
#pragma unroll
        for (int j = 0; j < 8; j++) s += __uint_as_float(v[j].x ^ v[j].y ^ v[j].z ^ v[j].w);
    }
    pdl_trigger();
    pdl_wait();
    if (s == 12345.0f) out[0] = s;
}

/* ---- warp: Born's current product ---------------------------------------------------------- */
constexpr int WW = 4, INF = 8;
__global__ void __launch_bounds__(WW * 32, 4) warp_kernel(Mat m, const float *x, float *out) {
    extern __shared__ float xs[];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int K = m.cols, nch = K / 8;
    const int units = m.rows / 2;
    const int stride = gridDim.x * WW;
    int u = blockIdx.x * WW + warp;
    uint4 va[INF], vb[INF];
    auto load = [&](int uu, int c0) {
        const char *qa = reinterpret_cast<const char *>(m.w) + (size_t)(2 * uu) * K * 2;
        const char *qb = qa + (size_t)K * 2;
#pragma unroll
        for (int i = 0; i < INF; i++) {
            const int c = c0 + 32 * i;
            if (c < nch) {
                va[i] = ld_stream(qa + (size_t)c * 16);
                vb[i] = ld_stream(qb + (size_t)c * 16);
            }
        }
    };
    if (u < units) load(u, lane);
    pdl_wait();
    for (int k = threadIdx.x; k < K; k += WW * 32) xs[k] = x[k];
    __syncthreads();
    for (bool first = true; u < units; u += stride, first = false) {
        if (!first) load(u, lane);
        float a = 0.0f, b = 0.0f;
        for (int c0 = lane;; c0 += 32 * INF) {
#pragma unroll
            for (int i = 0; i < INF; i++) {
                const int c = c0 + 32 * i;
                if (c < nch) {
                    a += dot8(va[i], xs + c * 8);
                    b += dot8(vb[i], xs + c * 8);
                }
            }
            if (c0 + 32 * INF >= nch) break;
            load(u, c0 + 32 * INF);
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            a += __shfl_xor_sync(0xffffffffu, a, o);
            b += __shfl_xor_sync(0xffffffffu, b, o);
        }
        if (lane == 0) {
            out[2 * u] = a;
            out[2 * u + 1] = b;
        }
    }
    pdl_trigger();
}

/* ---- bulk: the copy engine into a ring of shared-memory stages ------------------------------ */
__device__ __forceinline__ uint32_t sa(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void mbar_init(uint64_t *b, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(sa(b)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect(uint64_t *b, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(sa(b)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t *b) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(sa(b)) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t *b, uint32_t parity) {
    asm volatile("{\n\t.reg .pred p;\n"
                 "WAIT_%=:\n\t"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n\t"
                 "@!p bra WAIT_%=;\n}" ::"r"(sa(b)),
                 "r"(parity)
                 : "memory");
}
__device__ __forceinline__ void bulk_load(void *dst, const void *src, uint32_t bytes, uint64_t *bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(sa(dst)),
                 "l"(src), "r"(bytes), "r"(sa(bar))
                 : "memory");
}

constexpr int CW = 8;          /* consumer warps */
constexpr int PIECE = 4096;    /* bytes a consumer warp takes of a stage */
constexpr int MAXPART = 1024;  /* a block's rows times PIECEs a row */

/* Block b owns rows [r0, r1) (contiguous bytes); its tiles of TILE bytes go through S stages.
 * Warp w of the consumers takes bytes [w PIECE, (w + 1) PIECE) of every tile: with a row's bytes
 * dividing TILE, always the same columns, so its lanes keep their 64 inputs in registers. */
template <int S, int TILE>
__global__ void __launch_bounds__((CW + 1) * 32, 1) bulk_kernel(Mat m, const float *x, float *out) {
    extern __shared__ __align__(128) unsigned char smem[];
    __shared__ __align__(8) uint64_t full[S], empty[S];
    __shared__ float part[MAXPART]; /* each (row, piece) sum: added in a fixed order at the end */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int r0 = (int)((int64_t)m.rows * blockIdx.x / gridDim.x);
    const int r1 = (int)((int64_t)m.rows * (blockIdx.x + 1) / gridDim.x);
    const size_t rowb = (size_t)m.cols * 2;
    const char *src = reinterpret_cast<const char *>(m.w) + (size_t)r0 * rowb;
    const size_t total = (size_t)(r1 - r0) * rowb;
    const int ntiles = (int)((total + TILE - 1) / TILE);
    if (threadIdx.x == 0) {
        for (int s = 0; s < S; s++) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], CW);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    const int ppr = (int)(rowb / PIECE); /* pieces a row */
    __syncthreads();
    if (warp == CW) { /* the producer */
        if (lane == 0) {
            for (int t = 0; t < ntiles; t++) {
                const int s = t % S;
                if (t >= S) mbar_wait(&empty[s], ((t / S) - 1) & 1);
                const size_t off = (size_t)t * TILE;
                const uint32_t bytes = (uint32_t)(total - off < (size_t)TILE ? total - off : TILE);
                mbar_expect(&full[s], bytes);
                bulk_load(smem + (size_t)s * TILE, src + off, bytes, &full[s]);
            }
        }
    } else {
        const int col0 = (int)(((size_t)warp * PIECE) % rowb) / 2; /* first column of this warp's piece */
        pdl_wait();
        float xr[64];
#pragma unroll
        for (int i = 0; i < 8; i++)
#pragma unroll
            for (int j = 0; j < 8; j++) xr[8 * i + j] = x[col0 + 256 * i + 8 * lane + j];
        for (int t = 0; t < ntiles; t++) {
            const int s = t % S;
            mbar_wait(&full[s], (t / S) & 1);
            const size_t off = (size_t)t * TILE + (size_t)warp * PIECE;
            if (off < total) {
                const uint4 *p = reinterpret_cast<const uint4 *>(smem + (size_t)s * TILE + (size_t)warp * PIECE);
                float a = 0.0f;
#pragma unroll
                for (int i = 0; i < 8; i++) a += dot8(p[32 * i + lane], xr + 8 * i);
#pragma unroll
                for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
                if (lane == 0) part[(off / rowb) * ppr + (off % rowb) / PIECE] = a;
            }
            __syncwarp();
            if (lane == 0) mbar_arrive(&empty[s]);
        }
    }
    pdl_trigger();
    __syncthreads();
    for (int i = threadIdx.x; i < r1 - r0; i += blockDim.x) {
        float a = 0.0f;
        for (int j = 0; j < ppr; j++) a += part[i * ppr + j];
        out[r0 + i] = a;
    }
}


/* ---- piece: fixed columns a warp, the input in registers, rows split into 2 KB pieces ------- */
/* A block of W warps takes R = NP W / ppr rows an iteration (ppr: 2 KB pieces a row; W % ppr ==
 * 0): warp w always reads piece w % ppr of its rows, so its lanes hold their 32 inputs in
 * registers; NP rows' pieces are in flight a warp. The partial sums meet in shared memory (a
 * fixed order: bit-reproducible), double-buffered so one barrier an iteration; the next
 * iteration's loads are issued before it. */
template <int W, int NP, int MINB>
__global__ void __launch_bounds__(W * 32, MINB) piece_kernel(Mat m, const float *x, float *out) {
    extern __shared__ float xs[];
    __shared__ float part[2][NP * W];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int K = m.cols, ppr = K / 1024, rpw = W / ppr; /* rows a row-step */
    const int R = NP * rpw, iters = m.rows / R;
    const int slot = warp % ppr, wrow = warp / ppr;
    const char *base = reinterpret_cast<const char *>(m.w) + (size_t)slot * 2048 + (size_t)lane * 16;
    const size_t rowb = (size_t)K * 2;
    uint4 v[NP][4];
    auto load = [&](int it) {
#pragma unroll
        for (int j = 0; j < NP; j++) {
            const char *q = base + (size_t)(it * R + j * rpw + wrow) * rowb;
#pragma unroll
            for (int i = 0; i < 4; i++) v[j][i] = ld_stream(q + i * 512);
        }
    };
    int it = blockIdx.x;
    if (it < iters) load(it);
    pdl_wait();
    for (int k = threadIdx.x; k < K; k += W * 32) xs[k] = x[k];
    __syncthreads();
    float xr[32];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int e = 0; e < 8; e++) xr[8 * i + e] = xs[slot * 1024 + 256 * i + 8 * lane + e];
    for (int buf = 0; it < iters; it += gridDim.x, buf ^= 1) {
        float a[NP];
#pragma unroll
        for (int j = 0; j < NP; j++) {
            a[j] = 0.0f;
#pragma unroll
            for (int i = 0; i < 4; i++) a[j] += dot8(v[j][i], xr + 8 * i);
        }
        if (it + (int)gridDim.x < iters) load(it + gridDim.x);
#pragma unroll
        for (int j = 0; j < NP; j++)
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) a[j] += __shfl_xor_sync(0xffffffffu, a[j], o);
        if (lane == 0)
#pragma unroll
            for (int j = 0; j < NP; j++) part[buf][(j * rpw + wrow) * ppr + slot] = a[j];
        __syncthreads();
        for (int r = threadIdx.x; r < R; r += W * 32) {
            float sum = 0.0f;
            for (int c = 0; c < ppr; c++) sum += part[buf][r * ppr + c];
            out[it * R + r] = sum;
        }
    }
    pdl_trigger();
}

/* piece_kernel without the barrier an iteration: every partial sum of the block's rows stays in
 * shared memory until the end, where one barrier and a pass add them up. */
template <int W, int NP, int MINB, bool XS = false, bool NOSTAGE = false, bool CONTIG = false>
__global__ void __launch_bounds__(W * 32, MINB) piecenb_kernel(Mat m, const float *x, float *out) {
    extern __shared__ float xs[]; /* K inputs, then the partial sums */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int K = m.cols, ppr = K / 1024, rpw = W / ppr;
    const int R = NP * rpw, iters = m.rows / R;
    const int slot = warp % ppr, wrow = warp / ppr;
    float *part = xs + K;
    const char *base = reinterpret_cast<const char *>(m.w) + (size_t)slot * 2048 + (size_t)lane * 16;
    const size_t rowb = (size_t)K * 2;
    uint4 v[NP][4];
    auto load = [&](int it) {
#pragma unroll
        for (int j = 0; j < NP; j++) {
            const char *q = base + (size_t)(it * R + j * rpw + wrow) * rowb;
#pragma unroll
            for (int i = 0; i < 4; i++) v[j][i] = ld_stream(q + i * 512);
        }
    };
    const int per = (iters + gridDim.x - 1) / gridDim.x;
    int it = CONTIG ? blockIdx.x * per : blockIdx.x;
    const int it_end = CONTIG ? min(iters, it + per) : iters, step = CONTIG ? 1 : gridDim.x;
    if (it < it_end) load(it);
    pdl_wait();
    float xr[XS ? 1 : 32];
    if (NOSTAGE) {
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int e = 0; e < 8; e++) xr[8 * i + e] = x[slot * 1024 + 256 * i + 8 * lane + e];
    } else {
        for (int k = threadIdx.x; k < K; k += W * 32) xs[k] = x[k];
        __syncthreads();
        if (!XS)
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int e = 0; e < 8; e++) xr[8 * i + e] = xs[slot * 1024 + 256 * i + 8 * lane + e];
    }
    int n = 0; /* this block's iterations so far */
    for (; it < it_end; it += step, n++) {
        float a[NP];
#pragma unroll
        for (int j = 0; j < NP; j++) a[j] = 0.0f;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float xi[8];
            if (XS) {
                const float4 x0 = *reinterpret_cast<const float4 *>(xs + slot * 1024 + 256 * i + 8 * lane);
                const float4 x1 = *reinterpret_cast<const float4 *>(xs + slot * 1024 + 256 * i + 8 * lane + 4);
                xi[0] = x0.x, xi[1] = x0.y, xi[2] = x0.z, xi[3] = x0.w, xi[4] = x1.x, xi[5] = x1.y, xi[6] = x1.z, xi[7] = x1.w;
            }
#pragma unroll
            for (int j = 0; j < NP; j++) a[j] += dot8(v[j][i], XS ? xi : xr + 8 * i);
        }
        if (it + step < it_end) load(it + step);
#pragma unroll
        for (int j = 0; j < NP; j++)
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) a[j] += __shfl_xor_sync(0xffffffffu, a[j], o);
        if (lane == 0)
#pragma unroll
            for (int j = 0; j < NP; j++) part[(n * R + j * rpw + wrow) * ppr + slot] = a[j];
    }
    pdl_trigger();
    __syncthreads();
    for (int r = threadIdx.x; r < n * R; r += W * 32) {
        float sum = 0.0f;
        for (int c = 0; c < ppr; c++) sum += part[r * ppr + c];
        const int at = CONTIG ? blockIdx.x * per + r / R : (r / R) * (int)gridDim.x + (int)blockIdx.x;
        out[at * R + r % R] = sum;
    }
}

/* ---- driver -------------------------------------------------------------------------------- */
template <typename... P, typename... A>
void launch(void (*k)(P...), int grid, int block, size_t smem, cudaStream_t s, A... a) {
    CK(cu_llm::launch(k, dim3(grid), dim3(block), smem, s, a...));
}

enum { READ, WARP, BULK2, BULK4, BULK6, P8x4, P8x2, P4x4, P8x1, N8x2, N8x4, N8x1, S8x4, S8x2, S8x4b3, NS8x2, C8x2, NKIND };
static const char *kind_name[NKIND] = {"read", "warp", "bulk 2x32K", "bulk 4x32K", "bulk 6x32K", "piece 8w 4p", "piece 8w 2p", "piece 8w 2p 3b", "piece 8w 1p", "nobar 8w 2p", "nobar 8w 4p", "nobar 8w 1p", "xsmem 8w 4p", "xsmem 8w 2p 3b", "xsmem 8w 4p 3b", "nostage 8w 2p", "contig 8w 2p"};

static int sms;

/* Shared memory for piecenb's partial sums: the iterations of the busiest block times R rows
 * times pieces a row. */
static size_t part_bytes(const Mat &m, int grid, int np) {
    const int ppr = m.cols / 1024, R = np * 8 / ppr, iters = m.rows / R;
    return (size_t)((iters + grid - 1) / grid) * R * ppr * 4;
}

static void run_one(int kind, const Mat &m, const float *x, float *out, cudaStream_t s) {
    switch (kind) {
    case READ: launch(read_kernel, sms * 4, 256, 0, s, m, out); break;
    case WARP: launch(warp_kernel, sms * 4, WW * 32, (size_t)m.cols * 4, s, m, x, out); break;
    case BULK2: launch(bulk_kernel<2, 32768>, sms, (CW + 1) * 32, 2 * 32768, s, m, x, out); break;
    case P8x4: launch(piece_kernel<8, 4, 2>, sms * 2, 256, (size_t)m.cols * 4, s, m, x, out); break;
    case P8x2: launch(piece_kernel<8, 2, 2>, sms * 2, 256, (size_t)m.cols * 4, s, m, x, out); break;
    case P4x4: launch(piece_kernel<8, 2, 3>, sms * 3, 256, (size_t)m.cols * 4, s, m, x, out); break;
    case P8x1: launch(piece_kernel<8, 1, 4>, sms * 4, 256, (size_t)m.cols * 4, s, m, x, out); break;
    case N8x2: launch(piecenb_kernel<8, 2, 2>, sms * 2, 256, (size_t)m.cols * 4 + part_bytes(m, sms * 2, 2), s, m, x, out); break;
    case N8x4: launch(piecenb_kernel<8, 4, 2>, sms * 2, 256, (size_t)m.cols * 4 + part_bytes(m, sms * 2, 4), s, m, x, out); break;
    case N8x1: launch(piecenb_kernel<8, 1, 3>, sms * 3, 256, (size_t)m.cols * 4 + part_bytes(m, sms * 3, 1), s, m, x, out); break;
    case S8x4: launch(piecenb_kernel<8, 4, 2, true>, sms * 2, 256, (size_t)m.cols * 4 + part_bytes(m, sms * 2, 4), s, m, x, out); break;
    case S8x2: launch(piecenb_kernel<8, 2, 3, true>, sms * 3, 256, (size_t)m.cols * 4 + part_bytes(m, sms * 3, 2), s, m, x, out); break;
    case S8x4b3: launch(piecenb_kernel<8, 4, 3, true>, sms * 3, 256, (size_t)m.cols * 4 + part_bytes(m, sms * 3, 4), s, m, x, out); break;
    case NS8x2: launch(piecenb_kernel<8, 2, 2, false, true>, sms * 2, 256, (size_t)m.cols * 4 + part_bytes(m, sms * 2, 2), s, m, x, out); break;
    case C8x2: launch(piecenb_kernel<8, 2, 2, false, false, true>, sms * 2, 256, (size_t)m.cols * 4 + part_bytes(m, sms * 2, 2), s, m, x, out); break;
    case BULK4: launch(bulk_kernel<4, 32768>, sms, (CW + 1) * 32, 4 * 32768, s, m, x, out); break;
    case BULK6: launch(bulk_kernel<6, 32768>, sms, (CW + 1) * 32, 6 * 32768, s, m, x, out); break;
    }
}

static void check(const Mat &m, const float *x, const float *out, const char *name) {
    /* a few rows against the host */
    int n = m.rows;
    __nv_bfloat16 *hw = (__nv_bfloat16 *)malloc((size_t)m.cols * 2);
    float *hx = (float *)malloc((size_t)m.cols * 4), *ho = (float *)malloc((size_t)n * 4);
    CK(cudaMemcpy(hx, x, (size_t)m.cols * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(ho, out, (size_t)n * 4, cudaMemcpyDeviceToHost));
    double worst = 0;
    for (int r = 0; r < n; r += n / 7 + 1) {
        CK(cudaMemcpy(hw, m.w + (size_t)r * m.cols, (size_t)m.cols * 2, cudaMemcpyDeviceToHost));
        double ref = 0, mag = 0;
        for (int k = 0; k < m.cols; k++) {
            double v = (double)__bfloat162float(hw[k]) * hx[k];
            ref += v;
            mag += fabs(v);
        }
        double e = fabs(ref - ho[r]) / (mag + 1e-30);
        if (e > worst) worst = e;
    }
    printf("  check %-11s %dx%d: worst relative error %.2e%s\n", name, m.rows, m.cols, worst, worst > 1e-5 ? "  BAD" : "");
    free(hw), free(hx), free(ho);
}

__global__ void fill(__nv_bfloat16 *w, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        w[i] = __float2bfloat16(((float)(h & 0xffff) / 65536.0f - 0.5f) * 0.1f);
    }
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 20;
    const int only = argc > 2 ? atoi(argv[2]) : -1; /* one kernel kind alone (for a profiler) */
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    CK(cudaFuncSetAttribute(bulk_kernel<4, 32768>, cudaFuncAttributeMaxDynamicSharedMemorySize, 4 * 32768));
    CK(cudaFuncSetAttribute(bulk_kernel<6, 32768>, cudaFuncAttributeMaxDynamicSharedMemorySize, 6 * 32768));
    CK(cudaFuncSetAttribute(bulk_kernel<2, 32768>, cudaFuncAttributeMaxDynamicSharedMemorySize, 2 * 32768));
    CK(cudaFuncSetAttribute(piece_kernel<8, 4, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, 8192 * 4));
    CK(cudaFuncSetAttribute(piece_kernel<8, 2, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, 8192 * 4));
    CK(cudaFuncSetAttribute(piece_kernel<8, 2, 3>, cudaFuncAttributeMaxDynamicSharedMemorySize, 8192 * 4));
    CK(cudaFuncSetAttribute(piece_kernel<8, 1, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize, 8192 * 4));
    CK(cudaFuncSetAttribute(piecenb_kernel<8, 2, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536));
    CK(cudaFuncSetAttribute(piecenb_kernel<8, 4, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536));
    CK(cudaFuncSetAttribute(piecenb_kernel<8, 1, 3>, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536));
    CK(cudaFuncSetAttribute(piecenb_kernel<8, 4, 2, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536));
    CK(cudaFuncSetAttribute(piecenb_kernel<8, 2, 3, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536));
    CK(cudaFuncSetAttribute(piecenb_kernel<8, 4, 3, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536));
    CK(cudaFuncSetAttribute(piecenb_kernel<8, 2, 2, false, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536));
    CK(cudaFuncSetAttribute(piecenb_kernel<8, 2, 2, false, false, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, 65536));
    CK(cudaFuncSetAttribute(warp_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 8192 * 4));
    const int L = 16;
    const int shapes[4][2] = {{3072, 2048}, {2048, 2048}, {16384, 2048}, {2048, 8192}};
    const char *names[5] = {"qkv", "wo", "gate+up", "down", "output"};
    Mat mats[16 * 4 + 1];
    size_t bytes = 0;
    int nm = 0;
    for (int l = 0; l < L; l++)
        for (int j = 0; j < 4; j++) mats[nm++] = Mat{nullptr, shapes[j][0], shapes[j][1]};
    mats[nm++] = Mat{nullptr, 32000, 2048};
    for (int i = 0; i < nm; i++) {
        __nv_bfloat16 *w;
        size_t n = (size_t)mats[i].rows * mats[i].cols;
        CK(cudaMalloc(&w, n * 2));
        fill<<<1024, 256>>>(w, n, 77u * i + 1);
        mats[i].w = w;
        bytes += n * 2;
    }
    float *x, *out;
    CK(cudaMalloc(&x, 8192 * 4));
    CK(cudaMalloc(&out, 32000 * 4));
    {
        float hx[8192];
        for (int k = 0; k < 8192; k++) hx[k] = (float)((k * 37) % 101) / 101.0f - 0.5f;
        CK(cudaMemcpy(x, hx, sizeof hx, cudaMemcpyHostToDevice));
    }
    CK(cudaDeviceSynchronize());
    printf("%d SMs; %d products, %.3f GB of bf16 weights a step\n", sms, nm, bytes / 1e9);
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int kind = 0; kind < NKIND; kind++) {
        if (only >= 0 && kind != only) continue;
        if (kind != READ)
            for (int j = 0; j < 4; j++) {
                run_one(kind, mats[j], x, out, s);
                CK(cudaStreamSynchronize(s));
                check(mats[j], x, out, kind_name[kind]);
            }
        /* the whole step as one graph */
        cudaGraph_t g;
        cudaGraphExec_t ge;
        CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
        for (int i = 0; i < nm; i++) run_one(kind, mats[i], x, out, s);
        CK(cudaStreamEndCapture(s, &g));
        CK(cudaGraphInstantiate(&ge, g, 0));
        for (int i = 0; i < 3; i++) CK(cudaGraphLaunch(ge, s));
        CK(cudaEventRecord(e0, s));
        for (int i = 0; i < reps; i++) CK(cudaGraphLaunch(ge, s));
        CK(cudaEventRecord(e1, s));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        const double step = ms / reps;
        printf("%-12s step %.3f ms  %.0f GB/s\n", kind_name[kind], step, bytes / (step * 1e-3) / 1e9);
        /* each product kind alone: the same matrix kind of all layers, back to back */
        for (int j = 0; j < 5; j++) {
            CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
            size_t b = 0;
            for (int l = 0; l < (j < 4 ? L : 1); l++) {
                const Mat &m = mats[j < 4 ? 4 * l + j : nm - 1];
                run_one(kind, m, x, out, s);
                b += (size_t)m.rows * m.cols * 2;
            }
            cudaGraph_t g2;
            cudaGraphExec_t ge2;
            CK(cudaStreamEndCapture(s, &g2));
            CK(cudaGraphInstantiate(&ge2, g2, 0));
            CK(cudaGraphLaunch(ge2, s));
            CK(cudaEventRecord(e0, s));
            for (int i = 0; i < reps; i++) CK(cudaGraphLaunch(ge2, s));
            CK(cudaEventRecord(e1, s));
            CK(cudaEventSynchronize(e1));
            CK(cudaEventElapsedTime(&ms, e0, e1));
            const double per = ms / reps / (j < 4 ? L : 1);
            printf("    %-8s %7.2f us a product  %5.0f GB/s\n", names[j], per * 1e3, b / (j < 4 ? L : 1) / (per * 1e-3) / 1e9);
            CK(cudaGraphExecDestroy(ge2));
            CK(cudaGraphDestroy(g2));
        }
        CK(cudaGraphExecDestroy(ge));
        CK(cudaGraphDestroy(g));
    }
    return 0;
}
