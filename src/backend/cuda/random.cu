/* Philox random fill on CUDA with the CPU's numbers (src/backend/cpu/random.c): element i of the
 * contiguous output takes counter offset + i of stream seed, and each draw is transformed with the
 * CPU's expressions, every operation rounded on its own (no FMA contraction), so uniform and
 * integer draws are bit-identical to the CPU's and normal draws differ at most by the last bits
 * of CUDA's double log/cos. One thread an element, grid-stride. */
#include "backend/cuda/common.cuh"
#include "core/philox.h"

namespace cu {
namespace {

__device__ inline double uniform_f64(uint32_t hi, uint32_t lo) {
    uint64_t bits = ((uint64_t)hi << 21) ^ (uint64_t)lo;
    bits &= (1ull << 53) - 1;
    return __dmul_rn((double)bits, 1.0 / 9007199254740992.0);
}

__global__ void random_kernel(char *data, born_dtype dt, int kind, uint64_t seed, uint64_t offset,
                              double a, double b, int64_t n) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    int64_t size = dtype_size(dt);
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        philox_block blk = philox4x32(offset + (uint64_t)i, seed);
        char *p = data + i * size;
        if (kind == 0) { /* uniform [a, b) */
            if (dt == BORN_F64) {
                *(double *)p = __dadd_rn(a, __dmul_rn(__dsub_rn(b, a), uniform_f64(blk.v[0], blk.v[1])));
            } else {
                float u = __fmul_rn((float)(blk.v[0] >> 8), 1.0f / 16777216.0f);
                float v = __fadd_rn((float)a, __fmul_rn((float)__dsub_rn(b, a), u));
                st_d(p, dt, (double)v);
                if (ld_d(p, dt) >= b) st_d(p, dt, a);
            }
        } else if (kind == 1) { /* normal: mean a, std b (Box-Muller, double) */
            double u1 = uniform_f64(blk.v[0], blk.v[1]);
            double u2 = uniform_f64(blk.v[2], blk.v[3]);
            double r = sqrt(__dmul_rn(-2.0, log(__dsub_rn(1.0, u1))));
            double z = __dmul_rn(r, cos(__dmul_rn(6.283185307179586476925286766559, u2)));
            st_d(p, dt, __dadd_rn(a, __dmul_rn(b, z)));
        } else { /* integer [a, b) */
            uint64_t range = (uint64_t)((int64_t)b - (int64_t)a);
            uint64_t x = ((uint64_t)blk.v[0] << 32) | blk.v[1];
            st_i(p, dt, (int64_t)a + (int64_t)__umul64hi(x, range));
        }
    }
}

} // namespace
} // namespace cu

extern "C" cudaError_t cu_random(cudaStream_t s, const cu_strided *out, int kind, uint64_t seed,
                                 uint64_t offset, double a, double b) {
    int64_t n = 1;
    for (int d = 0; d < out->ndim; d++) n *= out->shape[d];
    if (n == 0) return cudaSuccess;
    cu::random_kernel<<<cu::grid_for(n, 256), 256, 0, s>>>((char *)out->data, out->dtype, kind, seed,
                                                           offset, a, b, n);
    return cudaGetLastError();
}
