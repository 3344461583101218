/* CUDA reductions: reduce over a set of dims (sum, prod, max, min, any, all), argmax/argmin along
 * one dim, and softmax/log-softmax forward and backward along one dim. The output elements
 * ("rows") are spread over groups of 1, 32 or 256 threads depending on how many there are and how
 * long each is; f32/f16/bf16 accumulate in f32, f64 in f64, integers in int64 (wrapping). NaN
 * propagates through max/min and wins argmax/argmin (first NaN), as on the CPU. */
#include <math.h>
#include <string.h>

#include "backend/cuda/common.cuh"

extern "C" {
int cuda_device_of(const void *ptr);
void *cuda_mem_alloc(int dev, size_t nbytes);
void cuda_mem_free(int dev, void *ptr);
}

namespace cu {
namespace {

/* A reduction's geometry: the kept dims (shared by in and out) and the reduced dims (in only),
 * each coalesced; strides in bytes. */
struct RGeo {
    int kd, rd;
    int64_t kshape[MAXD], kin[MAXD], kout[MAXD];
    int64_t rshape[MAXD], rin[MAXD];
    int64_t nout, nred;
    const char *in;
    char *out;
    born_dtype it, ot;
};

/* Appends a dim (size n, strides s0, s1) to a coalesced list, merging with its outer neighbour. */
inline void push_dim(int *nd, int64_t *shape, int64_t *s0, int64_t *s1, int64_t n, int64_t a,
                     int64_t b) {
    if (n == 1) return;
    int j = *nd;
    if (j > 0 && s0[j - 1] == a * n && (!s1 || s1[j - 1] == b * n)) {
        shape[j - 1] *= n;
        s0[j - 1] = a;
        if (s1) s1[j - 1] = b;
        return;
    }
    shape[j] = n;
    s0[j] = a;
    if (s1) s1[j] = b;
    (*nd)++;
}

/* The geometry of reducing in over the dims in mask into out. */
RGeo make_rgeo(const cu_strided *out, const cu_strided *in, uint32_t mask) {
    RGeo g;
    g.kd = g.rd = 0;
    g.nout = g.nred = 1;
    int64_t is = dtype_size(in->dtype), os = dtype_size(out->dtype);
    for (int d = 0; d < in->ndim; d++) {
        int64_t n = in->shape[d];
        if (mask & (1u << d)) {
            g.nred *= n;
            push_dim(&g.rd, g.rshape, g.rin, nullptr, n, in->strides[d] * is, 0);
        } else {
            g.nout *= n;
            push_dim(&g.kd, g.kshape, g.kin, g.kout, n, in->strides[d] * is,
                     out->strides[d] * os);
        }
    }
    g.in = (const char *)in->data;
    g.out = (char *)out->data;
    g.it = in->dtype;
    g.ot = out->dtype;
    return g;
}

__device__ inline void kept_offsets(const RGeo &g, int64_t r, int64_t *in_off, int64_t *out_off) {
    int64_t a = 0, b = 0;
    for (int d = g.kd - 1; d >= 0; d--) {
        int64_t s = g.kshape[d];
        int64_t q = r / s, idx = r - q * s;
        r = q;
        a += idx * g.kin[d];
        b += idx * g.kout[d];
    }
    *in_off = a;
    *out_off = b;
}

__device__ inline int64_t red_offset(const RGeo &g, int64_t j) {
    if (g.rd == 1) return j * g.rin[0];
    int64_t a = 0;
    for (int d = g.rd - 1; d >= 0; d--) {
        int64_t s = g.rshape[d];
        int64_t q = j / s, idx = j - q * s;
        j = q;
        a += idx * g.rin[d];
    }
    return a;
}

/* Accumulator types and their ops. */
template <class A> __device__ inline A load_acc(const char *p, born_dtype t, int op);
template <> __device__ inline float load_acc<float>(const char *p, born_dtype t, int) {
    return ld_f(p, t);
}
template <> __device__ inline double load_acc<double>(const char *p, born_dtype t, int) {
    return ld_d(p, t);
}
template <> __device__ inline long long load_acc<long long>(const char *p, born_dtype t, int op) {
    if (op == CU_REDUCE_ANY || op == CU_REDUCE_ALL)
        return is_floating(t) ? (ld_d(p, t) != 0.0) : (ld_i(p, t) != 0);
    return ld_i(p, t);
}

template <class A> __device__ inline A identity(int op);
template <> __device__ inline float identity<float>(int op) {
    return op == CU_REDUCE_SUM ? 0.0f
           : op == CU_REDUCE_PROD ? 1.0f
           : op == CU_REDUCE_MAX ? -INFINITY
                                   : INFINITY;
}
template <> __device__ inline double identity<double>(int op) {
    return op == CU_REDUCE_SUM ? 0.0
           : op == CU_REDUCE_PROD ? 1.0
           : op == CU_REDUCE_MAX ? -(double)INFINITY
                                   : (double)INFINITY;
}
template <> __device__ inline long long identity<long long>(int op) {
    switch (op) {
    case CU_REDUCE_SUM: return 0;
    case CU_REDUCE_PROD: return 1;
    case CU_REDUCE_MAX: return INT64_MIN;
    case CU_REDUCE_MIN: return INT64_MAX;
    case CU_REDUCE_ANY: return 0;
    default: return 1;
    }
}

template <class A> __device__ inline A combine(int op, A a, A b) {
    switch (op) {
    case CU_REDUCE_SUM: return a + b;
    case CU_REDUCE_PROD: return a * b;
    case CU_REDUCE_MAX: return (b != b || b > a) ? b : a;
    default: return (b != b || b < a) ? b : a;
    }
}
template <> __device__ inline long long combine<long long>(int op, long long a, long long b) {
    switch (op) {
    case CU_REDUCE_SUM: return (long long)((unsigned long long)a + (unsigned long long)b);
    case CU_REDUCE_PROD: return (long long)((unsigned long long)a * (unsigned long long)b);
    case CU_REDUCE_MAX: return b > a ? b : a;
    case CU_REDUCE_MIN: return b < a ? b : a;
    case CU_REDUCE_ANY: return a | b;
    default: return a & b;
    }
}

template <class A> __device__ inline void store_acc(char *p, born_dtype t, A v);
template <> __device__ inline void store_acc<float>(char *p, born_dtype t, float v) { st_f(p, t, v); }
template <> __device__ inline void store_acc<double>(char *p, born_dtype t, double v) {
    st_d(p, t, v);
}
template <> __device__ inline void store_acc<long long>(char *p, born_dtype t, long long v) {
    st_i(p, t, v);
}

/* Combines the values of the G threads of a group (G = 1, 32 or 256; 256 uses shared memory). */
template <int G, class A> struct Group {
    static __device__ A reduce(int op, A v) {
        for (int o = 16; o > 0; o >>= 1) v = combine<A>(op, v, __shfl_down_sync(0xffffffffu, v, o));
        if (G == 32) return v;
        __shared__ A part[G / 32 > 0 ? G / 32 : 1];
        int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        __syncthreads(); /* part may still be read from the previous row */
        if (lane == 0) part[warp] = v;
        __syncthreads();
        if (warp == 0) {
            v = lane < G / 32 ? part[lane] : identity<A>(op);
            for (int o = 16; o > 0; o >>= 1)
                v = combine<A>(op, v, __shfl_down_sync(0xffffffffu, v, o));
        }
        return v;
    }
};
template <class A> struct Group<1, A> {
    static __device__ A reduce(int, A v) { return v; }
};

template <int G, class A> __global__ void reduce_kernel(RGeo g, int op) {
    const int per_block = 256 / G;
    int lane = threadIdx.x % G;
    int64_t first = (int64_t)blockIdx.x * per_block + threadIdx.x / G;
    int64_t step = (int64_t)gridDim.x * per_block;
    /* all threads of a block run the same number of iterations (group_reduce syncs) */
    int64_t rounds = (g.nout + step - 1) / step;
    for (int64_t k = 0; k < rounds; k++) {
        int64_t r = first + k * step;
        bool live = r < g.nout;
        A acc = identity<A>(op);
        int64_t in_off = 0, out_off = 0;
        if (live) {
            kept_offsets(g, r, &in_off, &out_off);
            for (int64_t j = lane; j < g.nred; j += G)
                acc = combine<A>(op, acc, load_acc<A>(g.in + in_off + red_offset(g, j), g.it, op));
        }
        acc = Group<G, A>::reduce(op, acc);
        if (live && lane == 0) store_acc<A>(g.out + out_off, g.ot, acc);
    }
}

/* Long reductions into few outputs, in two passes: block (c, r) reduces chunk c (len elements)
 * of output r into part[r * chunks + c] in the accumulator type, then one block per output
 * combines its chunks in a fixed order. The chunking depends on the sizes only, so results do
 * not depend on the GPU. */
template <class A> __global__ void reduce_chunks_kernel(RGeo g, int op, A *part, int64_t len) {
    const int64_t r = blockIdx.y, c = blockIdx.x;
    int64_t in_off = 0, out_off = 0;
    kept_offsets(g, r, &in_off, &out_off);
    int64_t end = (c + 1) * len < g.nred ? (c + 1) * len : g.nred;
    A acc = identity<A>(op);
    for (int64_t j = c * len + threadIdx.x; j < end; j += 256)
        acc = combine<A>(op, acc, load_acc<A>(g.in + in_off + red_offset(g, j), g.it, op));
    acc = Group<256, A>::reduce(op, acc);
    if (threadIdx.x == 0) part[r * gridDim.x + c] = acc;
}

template <class A> __global__ void reduce_parts_kernel(RGeo g, int op, const A *part, int64_t chunks) {
    const int64_t r = blockIdx.x;
    int64_t in_off = 0, out_off = 0;
    kept_offsets(g, r, &in_off, &out_off);
    A acc = identity<A>(op);
    for (int64_t c = threadIdx.x; c < chunks; c += 256) acc = combine<A>(op, acc, part[r * chunks + c]);
    acc = Group<256, A>::reduce(op, acc);
    if (threadIdx.x == 0) store_acc<A>(g.out + out_off, g.ot, acc);
}

/* Column reductions (the kept dims innermost in memory, as a bias gradient's sum over rows), in
 * two passes: thread (r, c) reduces chunk c of output r's elements (neighbouring threads read
 * neighbouring columns), then one thread per output combines its chunks in order. */
template <class A> __global__ void reduce_cols_kernel(RGeo g, int op, A *part, int64_t chunks, int64_t len) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < g.nout * chunks; e += step) {
        int64_t c = e / g.nout, r = e - c * g.nout;
        int64_t in_off = 0, out_off = 0;
        kept_offsets(g, r, &in_off, &out_off);
        int64_t end = (c + 1) * len < g.nred ? (c + 1) * len : g.nred;
        A acc = identity<A>(op);
        int64_t j = c * len;
        /* eight loads in flight, combined in order */
        for (; j + 8 <= end; j += 8) {
            A v[8];
#pragma unroll
            for (int u = 0; u < 8; u++) v[u] = load_acc<A>(g.in + in_off + red_offset(g, j + u), g.it, op);
#pragma unroll
            for (int u = 0; u < 8; u++) acc = combine<A>(op, acc, v[u]);
        }
        for (; j < end; j++)
            acc = combine<A>(op, acc, load_acc<A>(g.in + in_off + red_offset(g, j), g.it, op));
        part[e] = acc;
    }
}

template <class A> __global__ void reduce_cols_parts_kernel(RGeo g, int op, const A *part, int64_t chunks) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < g.nout; r += step) {
        int64_t in_off = 0, out_off = 0;
        kept_offsets(g, r, &in_off, &out_off);
        A acc = identity<A>(op);
        int64_t c = 0;
        for (; c + 8 <= chunks; c += 8) {
            A v[8];
#pragma unroll
            for (int u = 0; u < 8; u++) v[u] = part[(c + u) * g.nout + r];
#pragma unroll
            for (int u = 0; u < 8; u++) acc = combine<A>(op, acc, v[u]);
        }
        for (; c < chunks; c++) acc = combine<A>(op, acc, part[c * g.nout + r]);
        store_acc<A>(g.out + out_off, g.ot, acc);
    }
}

/* Eight (f16, bf16) or four (f32) consecutive elements from one aligned 16-byte load, as f32. */
template <class T> struct Vec16;
template <> struct Vec16<float> {
    static constexpr int N = 4;
    static __device__ void load(const float *p, float *v) {
        float4 x = __ldg((const float4 *)p);
        v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
    }
};
template <class H> struct Vec16Half {
    static constexpr int N = 8;
    static __device__ void load(const H *p, float *v) {
        uint4 x = __ldg((const uint4 *)p);
        const uint32_t w[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
        for (int u = 0; u < 4; u++) {
            H lo, hi;
            uint16_t l = (uint16_t)(w[u] & 0xffffu), h = (uint16_t)(w[u] >> 16);
            memcpy(&lo, &l, 2);
            memcpy(&hi, &h, 2);
            v[2 * u] = (float)lo;
            v[2 * u + 1] = (float)hi;
        }
    }
};
template <> struct Vec16<__half> : Vec16Half<__half> {};
template <> struct Vec16<__nv_bfloat16> : Vec16Half<__nv_bfloat16> {};

/* reduce_chunks_kernel for an input whose one reduced dim is dense (elements of type T, every
 * row 16-byte aligned, len a multiple of 16 bytes' worth): 16-byte loads, in a fixed order. */
template <class T>
__global__ void reduce_dense_chunks_kernel(RGeo g, int op, float *part, int64_t len) {
    constexpr int N = Vec16<T>::N;
    const int64_t r = blockIdx.y, c = blockIdx.x;
    int64_t in_off = 0, out_off = 0;
    kept_offsets(g, r, &in_off, &out_off);
    const T *p = (const T *)(g.in + in_off);
    int64_t begin = c * len, end = (c + 1) * len < g.nred ? (c + 1) * len : g.nred;
    int64_t vend = begin + (end - begin) / N * N;
    float acc = identity<float>(op);
#pragma unroll 4
    for (int64_t j = begin + (int64_t)threadIdx.x * N; j < vend; j += 256 * N) {
        float v[N];
        Vec16<T>::load(p + j, v);
#pragma unroll
        for (int u = 0; u < N; u++) acc = combine<float>(op, acc, v[u]);
    }
    for (int64_t j = vend + threadIdx.x; j < end; j += 256)
        acc = combine<float>(op, acc, load_acc<float>((const char *)(p + j), g.it, op));
    acc = Group<256, float>::reduce(op, acc);
    if (threadIdx.x == 0) part[r * gridDim.x + c] = acc;
}

/* Whether the dense chunk kernel takes g: f32/f16/bf16 in, one dense reduced dim, every row
 * start 16-byte aligned. */
inline bool dense_rows(const RGeo &g) {
    if (g.it != BORN_F32 && g.it != BORN_F16 && g.it != BORN_BF16) return false;
    if (g.rd != 1 || g.rin[0] != dtype_size(g.it) || (uintptr_t)g.in % 16) return false;
    for (int d = 0; d < g.kd; d++)
        if (g.kin[d] % 16) return false;
    return true;
}

template <class A> cudaError_t launch_reduce(cudaStream_t s, const RGeo &g, int op) {
    bool inner = g.kd > 0 && (g.rd == 0 || g.kin[g.kd - 1] < g.rin[g.rd - 1]);
    if (inner && g.nout < 65536 && g.nred >= 64) {
        /* ~128K threads, each summing at least 16 elements */
        int64_t chunks = 131072 / g.nout, most = g.nred / 16;
        chunks = chunks < 1 ? 1 : chunks > most ? most : chunks;
        chunks = chunks > 4096 ? 4096 : chunks;
        int64_t len = (g.nred + chunks - 1) / chunks;
        int dev = cuda_device_of(g.out);
        A *part = (A *)cuda_mem_alloc(dev, sizeof(A) * (size_t)(chunks * g.nout));
        if (part) {
            reduce_cols_kernel<A><<<grid_for(g.nout * chunks, 256), 256, 0, s>>>(g, op, part, chunks, len);
            reduce_cols_parts_kernel<A><<<grid_for(g.nout, 256), 256, 0, s>>>(g, op, part, chunks);
            cuda_mem_free(dev, part); /* in stream order: the next user queues after these */
            return cudaGetLastError();
        }
        (void)cudaGetLastError(); /* no scratch: the one-pass kernels below still get it right */
    }
    if (g.nred >= (1 << 18) && g.nout <= 64) {
        int64_t chunks = (g.nred + 32767) / 32768;
        chunks = chunks > 1024 ? 1024 : chunks;
        int64_t len = (g.nred + chunks - 1) / chunks;
        int dev = cuda_device_of(g.out);
        if (sizeof(A) == sizeof(float) && op != CU_REDUCE_ANY && op != CU_REDUCE_ALL &&
            is_floating(g.it) && dense_rows(g)) {
            len = (len + 7) / 8 * 8; /* whole 16-byte loads inside each chunk */
            chunks = (g.nred + len - 1) / len;
            float *part = (float *)cuda_mem_alloc(dev, sizeof(float) * (size_t)(chunks * g.nout));
            if (part) {
                dim3 grid((unsigned)chunks, (unsigned)g.nout);
                if (g.it == BORN_F32)
                    reduce_dense_chunks_kernel<float><<<grid, 256, 0, s>>>(g, op, part, len);
                else if (g.it == BORN_F16)
                    reduce_dense_chunks_kernel<__half><<<grid, 256, 0, s>>>(g, op, part, len);
                else
                    reduce_dense_chunks_kernel<__nv_bfloat16><<<grid, 256, 0, s>>>(g, op, part, len);
                reduce_parts_kernel<float><<<(unsigned)g.nout, 256, 0, s>>>(g, op, (const float *)part, chunks);
                cuda_mem_free(dev, part);
                return cudaGetLastError();
            }
            (void)cudaGetLastError();
        }
        A *part = (A *)cuda_mem_alloc(dev, sizeof(A) * (size_t)(chunks * g.nout));
        if (part) {
            reduce_chunks_kernel<A><<<dim3((unsigned)chunks, (unsigned)g.nout), 256, 0, s>>>(g, op, part, len);
            reduce_parts_kernel<A><<<(unsigned)g.nout, 256, 0, s>>>(g, op, part, chunks);
            cuda_mem_free(dev, part); /* in stream order: the next user queues after these */
            return cudaGetLastError();
        }
        (void)cudaGetLastError(); /* no scratch: the one-pass kernel below still gets it right */
    }
    /* long rows: a block each; many short rows: a thread each when the kept dims are the
     * innermost in memory (coalesced), else a warp each */
    bool inner_kept = g.kd > 0 && (g.rd == 0 || g.kin[g.kd - 1] < g.rin[g.rd - 1]);
    if (g.nred > 8192 && g.nout < 4096) {
        reduce_kernel<256, A><<<grid_for(g.nout, 1), 256, 0, s>>>(g, op);
    } else if (g.nred <= 16 || (inner_kept && g.nout >= 4096)) {
        reduce_kernel<1, A><<<grid_for(g.nout, 256), 256, 0, s>>>(g, op);
    } else {
        reduce_kernel<32, A><<<grid_for(g.nout, 8), 256, 0, s>>>(g, op);
    }
    return cudaGetLastError();
}

/* ---- rows along one dim ---------------------------------------------------------------------- */

/* The rows of up to three tensors along dim: kept dims coalesced per tensor, plus the step along
 * dim, in bytes. */
struct Rows {
    int kd;
    int64_t kshape[MAXD], ks[3][MAXD];
    int64_t nrows, n, step[3];
    char *base[3];
};

Rows make_rows(const cu_strided *const *t, int nt, int dim) {
    Rows r;
    r.kd = 0;
    r.nrows = 1;
    r.n = t[0]->ndim ? t[0]->shape[dim] : 1;
    for (int k = 0; k < nt; k++) {
        int64_t es = dtype_size(t[k]->dtype);
        r.base[k] = (char *)t[k]->data;
        r.step[k] = t[k]->ndim ? t[k]->strides[dim] * es : 0;
    }
    for (int d = 0; d < t[0]->ndim; d++) {
        if (d == dim) continue;
        int64_t n = t[0]->shape[d];
        r.nrows *= n;
        if (n == 1) continue;
        int j = r.kd;
        bool merge = j > 0;
        for (int k = 0; k < nt && merge; k++)
            merge = r.ks[k][j - 1] == t[k]->strides[d] * dtype_size(t[k]->dtype) * n;
        if (merge) {
            r.kshape[j - 1] *= n;
            for (int k = 0; k < nt; k++) r.ks[k][j - 1] = t[k]->strides[d] * dtype_size(t[k]->dtype);
            continue;
        }
        r.kshape[j] = n;
        for (int k = 0; k < nt; k++) r.ks[k][j] = t[k]->strides[d] * dtype_size(t[k]->dtype);
        r.kd++;
    }
    return r;
}

template <int NT> __device__ inline void row_ptrs(const Rows &r, int64_t row, char **p) {
    for (int k = 0; k < NT; k++) p[k] = r.base[k];
    for (int d = r.kd - 1; d >= 0; d--) {
        int64_t s = r.kshape[d];
        int64_t q = row / s, idx = row - q * s;
        row = q;
        for (int k = 0; k < NT; k++) p[k] += idx * r.ks[k][d];
    }
}

__device__ inline float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ inline double warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
template <class C> __device__ inline C warp_max(C v) {
    for (int o = 16; o > 0; o >>= 1) {
        C w = __shfl_xor_sync(0xffffffffu, v, o);
        v = (w > v || w != w) ? w : v;
    }
    return v;
}

__device__ inline float m_exp(float x) { return expf(x); }
__device__ inline double m_exp(double x) { return exp(x); }
__device__ inline float m_log(float x) { return logf(x); }
__device__ inline double m_log(double x) { return log(x); }

/* A warp a row; every lane runs the same loop trip count so the shuffles stay converged. */
template <class C> __global__ void softmax_kernel(Rows r, born_dtype ot, born_dtype it, bool log_out) {
    int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t row = warp; row < r.nrows; row += nwarps) {
        char *p[2];
        row_ptrs<2>(r, row, p);
        /* one pass for the max and the sum: each lane keeps its own running max ml and sum sl
         * (rescaled when ml grows), then the lanes combine */
        C ml = -(C)INFINITY, sl = 0;
        for (int64_t i = lane; i < r.n; i += 32) {
            C x = ld<C>(p[1] + i * r.step[1], it);
            if (x != x) {
                ml = x; /* NaN: the row's result is NaN */
            } else if (x > ml) {
                sl = (ml == -(C)INFINITY ? (C)0 : sl * m_exp(ml - x)) + (C)1;
                ml = x;
            } else if (x != -(C)INFINITY) {
                sl += m_exp(x - ml);
            }
        }
        C m = warp_max(ml);
        if (m == -(C)INFINITY) m = 0;
        C sum = warp_sum(ml == -(C)INFINITY ? (C)0 : sl * m_exp(ml - m));
        C lse = m + m_log(sum);
        for (int64_t i = lane; i < r.n; i += 32) {
            C x = ld<C>(p[1] + i * r.step[1], it);
            st(p[0] + i * r.step[0], ot, log_out ? x - lse : m_exp(x - m) / sum);
        }
    }
}

template <class C> __global__ void softmax_backward_kernel(Rows r, born_dtype t, bool log_out) {
    int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t row = warp; row < r.nrows; row += nwarps) {
        char *p[3]; /* grad_in, grad_out, y */
        row_ptrs<3>(r, row, p);
        C s = 0;
        for (int64_t i = lane; i < r.n; i += 32) {
            C g = ld<C>(p[1] + i * r.step[1], t);
            s += log_out ? g : g * ld<C>(p[2] + i * r.step[2], t);
        }
        s = warp_sum(s);
        for (int64_t i = lane; i < r.n; i += 32) {
            C g = ld<C>(p[1] + i * r.step[1], t), y = ld<C>(p[2] + i * r.step[2], t);
            st(p[0] + i * r.step[0], t, log_out ? g - m_exp(y) * s : y * (g - s));
        }
    }
}

/* (value, index) candidates: a NaN beats any number, then the larger (or smaller) value, then
 * the smaller index. */
template <class V> __device__ inline bool arg_better(bool is_max, V v, int64_t i, V w, int64_t j) {
    bool vn = v != v, wn = w != w;
    if (vn || wn) return vn && (!wn || i < j);
    if (v == w) return i < j;
    return is_max ? v > w : v < w;
}

template <class V> __global__ void arg_kernel(Rows r, born_dtype it, bool is_max) {
    int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t row = warp; row < r.nrows; row += nwarps) {
        char *p[2];
        row_ptrs<2>(r, row, p);
        V best = 0;
        int64_t bi = INT64_MAX;
        for (int64_t i = lane; i < r.n; i += 32) {
            const char *q = p[1] + i * r.step[1];
            V v = is_floating(it) ? (V)ld_d(q, it) : (V)ld_i(q, it);
            if (bi == INT64_MAX || arg_better<V>(is_max, v, i, best, bi)) {
                best = v;
                bi = i;
            }
        }
        for (int o = 16; o > 0; o >>= 1) {
            V w = __shfl_xor_sync(0xffffffffu, best, o);
            int64_t j = __shfl_xor_sync(0xffffffffu, bi, o);
            if (j != INT64_MAX && (bi == INT64_MAX || arg_better<V>(is_max, w, j, best, bi))) {
                best = w;
                bi = j;
            }
        }
        if (lane == 0) *(int64_t *)p[0] = bi == INT64_MAX ? 0 : bi;
    }
}

unsigned warps_grid(int64_t rows) { return grid_for(rows, 8); } /* 8 warps a block */

} // namespace
} // namespace cu

using namespace cu;

extern "C" cudaError_t cu_reduce(cudaStream_t s, int op, const cu_strided *out, const cu_strided *in,
                                 uint32_t dims_mask) {
    RGeo g = make_rgeo(out, in, dims_mask);
    if (g.nout == 0) return cudaSuccess;
    if (op == CU_REDUCE_ANY || op == CU_REDUCE_ALL) return launch_reduce<long long>(s, g, op);
    if (in->dtype == BORN_F64) return launch_reduce<double>(s, g, op);
    if (is_floating(in->dtype)) return launch_reduce<float>(s, g, op);
    return launch_reduce<long long>(s, g, op);
}

extern "C" cudaError_t cu_arg_reduce(cudaStream_t s, bool is_max, const cu_strided *out,
                                     const cu_strided *in, int dim) {
    /* out has size 1 along dim; its rows are single elements */
    cu_strided o = *out;
    if (o.ndim) o.shape[dim] = in->shape[dim];
    const cu_strided *t[2] = {&o, in};
    Rows r = make_rows(t, 2, dim);
    r.step[0] = 0;
    if (r.nrows == 0) return cudaSuccess;
    if (is_floating(in->dtype))
        arg_kernel<double><<<warps_grid(r.nrows), 256, 0, s>>>(r, in->dtype, is_max);
    else
        arg_kernel<long long><<<warps_grid(r.nrows), 256, 0, s>>>(r, in->dtype, is_max);
    return cudaGetLastError();
}

extern "C" cudaError_t cu_softmax(cudaStream_t s, bool log, const cu_strided *out,
                                  const cu_strided *in, int dim) {
    if (!is_floating(in->dtype)) return cudaErrorNotSupported;
    const cu_strided *t[2] = {out, in};
    Rows r = make_rows(t, 2, dim);
    if (r.nrows == 0 || r.n == 0) return cudaSuccess;
    if (in->dtype == BORN_F64)
        softmax_kernel<double><<<warps_grid(r.nrows), 256, 0, s>>>(r, out->dtype, in->dtype, log);
    else
        softmax_kernel<float><<<warps_grid(r.nrows), 256, 0, s>>>(r, out->dtype, in->dtype, log);
    return cudaGetLastError();
}

extern "C" cudaError_t cu_softmax_backward(cudaStream_t s, bool log, const cu_strided *grad_in,
                                           const cu_strided *grad_out, const cu_strided *y,
                                           int dim) {
    if (!is_floating(y->dtype)) return cudaErrorNotSupported;
    const cu_strided *t[3] = {grad_in, grad_out, y};
    Rows r = make_rows(t, 3, dim);
    if (r.nrows == 0 || r.n == 0) return cudaSuccess;
    if (y->dtype == BORN_F64)
        softmax_backward_kernel<double><<<warps_grid(r.nrows), 256, 0, s>>>(r, y->dtype, log);
    else
        softmax_backward_kernel<float><<<warps_grid(r.nrows), 256, 0, s>>>(r, y->dtype, log);
    return cudaGetLastError();
}
