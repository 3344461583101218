/* Internal to the CUDA plugin: the batched forward's products when the batch has one or two rows
 * (llm_rows.c's cu_llm_rows_product for n <= CU_ROWS_GEMV_MAX tokens and float-format weights):
 * out[j][i] (+)= a[j] . w[r0 + i], the weights streamed once like the decode step's products
 * instead of through cuBLASLt, whose kernels for so few rows read the weights well under the
 * memory's rate (a one-session pass of a 1B bf16 model: 1.466 ms with cuBLASLt, 1.205 here;
 * llm_rows_gemv.h says where it stops paying). The kernel takes up to 8 rows (tested so).
 *
 * A block stages the n input rows (in the weights' input type, as the batch holds them) in
 * shared memory; each warp takes two weight rows at a time, every lane loading CHUNKS 16-byte
 * chunks of both rows at once (non-coherent, not kept in L1) and dotting each with the n inputs'
 * matching chunks, then the lanes' sums are added by a butterfly. Sums run in a fixed order, so
 * results do not depend on the grid. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <stdlib.h>

#include "backend/cuda/llm_launch.cuh"
#include "backend/cuda/llm_rows_gemv.h"
#include "backend/llm_device.h"

extern "C" int cuda_sm_count(int dev);

namespace {

constexpr int WARPS = 8;          /* warps a block */
constexpr int CHUNKS = 8;         /* 16-byte chunks of each of a warp's two rows in flight a lane */
constexpr int SMEM = 48 * 1024;   /* the staged inputs' most bytes (no opt-in needed) */
constexpr int BLOCKS_PER_SM = 2;

/* Two elements of a 32-bit word of format FMT (f16 or bf16) as floats. */
template <int FMT> __device__ __forceinline__ float2 pair_of(uint32_t w) {
    if (FMT == LLM_DEV_F16) return __half22float2(*reinterpret_cast<const __half2 *>(&w));
    return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xffff0000u));
}

/* The elements of one 16-byte chunk of format FMT as floats (4 for f32, 8 for f16 / bf16). */
template <int FMT> struct chunk_n { static constexpr int n = FMT == LLM_DEV_F32 ? 4 : 8; };

template <int FMT> __device__ __forceinline__ void unpack(uint4 v, float (&f)[chunk_n<FMT>::n]) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        if (FMT == LLM_DEV_F32) {
            f[i] = __uint_as_float(w[i]);
        } else {
            const float2 p = pair_of<FMT>(w[i]);
            f[2 * i] = p.x;
            f[2 * i + 1] = p.y;
        }
    }
}

template <int FMT, int N>
__global__ void __launch_bounds__(WARPS * 32, BLOCKS_PER_SM)
    rows_gemv_kernel(const char *w, int64_t row_bytes, int64_t rows, int kc, const uint4 *a, float *out,
                     int64_t ldo, int add) {
    extern __shared__ uint4 xs[]; /* [N][kc] */
    for (int i = threadIdx.x; i < N * kc; i += blockDim.x) xs[i] = a[i];
    __syncthreads();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t u = (int64_t)blockIdx.x * WARPS + warp; 2 * u < rows; u += (int64_t)gridDim.x * WARPS) {
        const int64_t ra = 2 * u, rb = 2 * u + 1 < rows ? 2 * u + 1 : -1;
        const char *qa = w + (size_t)ra * row_bytes, *qb = rb >= 0 ? w + (size_t)rb * row_bytes : qa;
        float sa[N], sb[N];
#pragma unroll
        for (int j = 0; j < N; j++) sa[j] = sb[j] = 0.0f;
        for (int c0 = lane; c0 < kc; c0 += 32 * CHUNKS) {
            uint4 va[CHUNKS], vb[CHUNKS];
#pragma unroll
            for (int i = 0; i < CHUNKS; i++) {
                const int c = c0 + 32 * i;
                va[i] = c < kc ? cu_llm::ld_stream(qa + (size_t)c * 16) : make_uint4(0u, 0u, 0u, 0u);
                vb[i] = c < kc && rb >= 0 ? cu_llm::ld_stream(qb + (size_t)c * 16) : make_uint4(0u, 0u, 0u, 0u);
            }
            /* each chunk's weights and each input chunk made floats once, not once a row of the
             * other (the conversions outnumbered the products from 4 rows on) */
            constexpr int E = chunk_n<FMT>::n;
#pragma unroll
            for (int i = 0; i < CHUNKS; i++) {
                const int c = c0 + 32 * i;
                if (c >= kc) break;
                float wa[E], wb[E];
                unpack<FMT>(va[i], wa);
                unpack<FMT>(vb[i], wb);
#pragma unroll
                for (int j = 0; j < N; j++) {
                    float xf[E];
                    unpack<FMT>(xs[j * kc + c], xf);
#pragma unroll
                    for (int e = 0; e < E; e++) {
                        sa[j] = fmaf(wa[e], xf[e], sa[j]);
                        sb[j] = fmaf(wb[e], xf[e], sb[j]);
                    }
                }
            }
        }
#pragma unroll
        for (int j = 0; j < N; j++)
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) {
                sa[j] += __shfl_xor_sync(0xffffffffu, sa[j], o);
                sb[j] += __shfl_xor_sync(0xffffffffu, sb[j], o);
            }
        if (lane == 0)
#pragma unroll
            for (int j = 0; j < N; j++) {
                float *oa = out + (size_t)j * ldo + ra;
                *oa = add ? *oa + sa[j] : sa[j];
                if (rb >= 0) oa[1] = add ? oa[1] + sb[j] : sb[j];
            }
    }
}

template <int FMT, int N>
cudaError_t launch_rows(cudaStream_t s, const char *w, int64_t row_bytes, int64_t rows, int kc, const void *a,
                        float *out, int64_t ldo, bool add, int sms) {
    const int64_t units = (rows + 1) / 2, want = (units + WARPS - 1) / WARPS, most = (int64_t)sms * BLOCKS_PER_SM;
    const unsigned grid = (unsigned)(want < most ? want : most);
    rows_gemv_kernel<FMT, N><<<grid, WARPS * 32, (size_t)N * kc * 16, s>>>(w, row_bytes, rows, kc,
                                                                        static_cast<const uint4 *>(a), out, ldo,
                                                                        add ? 1 : 0);
    return cudaGetLastError();
}

template <int FMT>
cudaError_t launch_fmt(cudaStream_t s, const char *w, int64_t row_bytes, int64_t rows, int kc, const void *a,
                       int n, float *out, int64_t ldo, bool add, int sms) {
    switch (n) {
    case 1: return launch_rows<FMT, 1>(s, w, row_bytes, rows, kc, a, out, ldo, add, sms);
    case 2: return launch_rows<FMT, 2>(s, w, row_bytes, rows, kc, a, out, ldo, add, sms);
    case 3: return launch_rows<FMT, 3>(s, w, row_bytes, rows, kc, a, out, ldo, add, sms);
    case 4: return launch_rows<FMT, 4>(s, w, row_bytes, rows, kc, a, out, ldo, add, sms);
    case 5: return launch_rows<FMT, 5>(s, w, row_bytes, rows, kc, a, out, ldo, add, sms);
    case 6: return launch_rows<FMT, 6>(s, w, row_bytes, rows, kc, a, out, ldo, add, sms);
    case 7: return launch_rows<FMT, 7>(s, w, row_bytes, rows, kc, a, out, ldo, add, sms);
    default: return launch_rows<FMT, 8>(s, w, row_bytes, rows, kc, a, out, ldo, add, sms);
    }
}

/* The most rows the path takes: CU_ROWS_GEMV_MAX, BORN_LLM_ROWS_GEMV=n for another n (0: cuBLASLt
 * for every batch; at most 8). */
int rows_gemv_max() {
    static int most = -1;
    if (most < 0) {
        const char *e = getenv("BORN_LLM_ROWS_GEMV");
        most = e && *e ? atoi(e) : CU_ROWS_GEMV_MAX;
        if (most < 0) most = 0;
        if (most > 8) most = 8;
    }
    return most;
}

} // namespace

extern "C" bool cu_llm_rows_gemv(int dev, cudaStream_t s, const cu_llm_mat *w, int64_t r0, int64_t rows,
                                 const void *a, int32_t n, float *out, int64_t ldo, bool add, cudaError_t *err) {
    if (n < 1 || n > rows_gemv_max() || rows < 1) return false;
    if (w->fmt != LLM_DEV_F32 && w->fmt != LLM_DEV_F16 && w->fmt != LLM_DEV_BF16) return false;
    const int64_t esz = w->fmt == LLM_DEV_F32 ? 4 : 2, bytes = w->cols * esz;
    if (bytes % 16 || w->q_row_bytes % 16 || (uintptr_t)w->q % 16 || (uintptr_t)a % 16) return false;
    if ((int64_t)n * bytes > SMEM) return false;
    const int sms = cuda_sm_count(dev);
    if (sms <= 0) return false;
    const char *base = static_cast<const char *>(w->q) + (size_t)r0 * w->q_row_bytes;
    const int kc = (int)(bytes / 16);
    switch (w->fmt) {
    case LLM_DEV_F32: *err = launch_fmt<LLM_DEV_F32>(s, base, w->q_row_bytes, rows, kc, a, n, out, ldo, add, sms); break;
    case LLM_DEV_F16: *err = launch_fmt<LLM_DEV_F16>(s, base, w->q_row_bytes, rows, kc, a, n, out, ldo, add, sms); break;
    default: *err = launch_fmt<LLM_DEV_BF16>(s, base, w->q_row_bytes, rows, kc, a, n, out, ldo, add, sms); break;
    }
    return true;
}
