/* CUDA kernels for the layers of CNNs and transformers: layer/RMS norm forward and input gradient,
 * 2-D max and average pooling forward and backward, and the im2col/col2im halves of the
 * convolutions (whose products run through cuBLASLt, conv.c).
 *
 * Each follows its CPU kernel (src/backend/cpu/norm.c, pool.c, conv.c) so results agree:
 *  - norms: one block a row; the row statistics are accumulated in double (a fixed-shape tree
 *    over the block, so results do not change between runs); the elementwise part is the CPU's
 *    expression in the element type.
 *  - pooling: one thread an output (forward) with the CPU's windows, clipping and tie-breaking.
 *    The backward kernels never race: average pooling gathers, for each input cell, the outputs
 *    whose windows hold it, in output order (the CPU's order of additions); max pooling walks each
 *    plane's outputs in order in one thread and adds each gradient at its index (any index inside
 *    the plane is honoured, as on the CPU).
 *  - col2im gathers too (one thread an input cell), so the input gradient is deterministic. */
#include "backend/cuda/common.cuh"

namespace cu {
namespace {

constexpr int NORM_THREADS = 256;

/* Sum of v over the block (every thread gets it); red has NORM_THREADS doubles. */
__device__ double block_sum(double v, double *red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = NORM_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    double r = red[0];
    __syncthreads();
    return r;
}

template <class T>
__global__ void row_norm_kernel(bool rms, int64_t rows, int64_t n, double eps, const T *x, T *y,
                                T *mean_out, T *rstd_out, const T *w, const T *b) {
    __shared__ double red[NORM_THREADS];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * n;
        T *yr = y + r * n;
        double mean = 0;
        if (!rms) {
            double s = 0;
            for (int64_t i = threadIdx.x; i < n; i += NORM_THREADS) s += (double)xr[i];
            mean = block_sum(s, red) / (double)n;
        }
        double sq = 0;
        for (int64_t i = threadIdx.x; i < n; i += NORM_THREADS) {
            double d = (double)xr[i] - mean;
            sq += d * d;
        }
        sq = block_sum(sq, red);
        double rstd = 1.0 / sqrt(sq / (double)n + eps);
        T m = (T)mean, s = (T)rstd;
        for (int64_t i = threadIdx.x; i < n; i += NORM_THREADS) {
            T v = (xr[i] - m) * s;
            if (w) v *= w[i];
            if (b) v += b[i];
            yr[i] = v;
        }
        if (threadIdx.x == 0) {
            if (mean_out && !rms) mean_out[r] = m;
            if (rstd_out) rstd_out[r] = s;
        }
    }
}

template <class T>
__global__ void row_norm_backward_kernel(bool rms, int64_t rows, int64_t n, const T *x,
                                         const T *g, T *dx, const T *mean, const T *rstd,
                                         const T *w) {
    __shared__ double red[NORM_THREADS];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * n, *gr = g + r * n;
        T *dr = dx + r * n;
        T m = rms ? (T)0 : mean[r];
        T s = rstd[r];
        double sum_d = 0, sum_dx = 0;
        for (int64_t i = threadIdx.x; i < n; i += NORM_THREADS) {
            double d = (double)gr[i] * (w ? (double)w[i] : 1.0);
            sum_d += d;
            sum_dx += d * (double)((xr[i] - m) * s);
        }
        sum_d = block_sum(sum_d, red);
        sum_dx = block_sum(sum_dx, red);
        T mean_d = rms ? (T)0 : (T)(sum_d / (double)n), mean_dx = (T)(sum_dx / (double)n);
        for (int64_t i = threadIdx.x; i < n; i += NORM_THREADS) {
            T d = gr[i] * (w ? w[i] : (T)1);
            T xhat = (xr[i] - m) * s;
            dr[i] = s * (d - mean_d - xhat * mean_dx);
        }
    }
}

unsigned rows_grid(int64_t rows) {
    int64_t cap = 132 * 16;
    return (unsigned)(rows < 1 ? 1 : rows > cap ? cap : rows);
}

/* ---- pooling --------------------------------------------------------------------------------- */

struct PoolGeo {
    int64_t planes, H, W, oh, ow, k[2], st[2], pad[2], dil[2];
    bool include_pad;
    int64_t divisor_override;
};

PoolGeo pool_geo(const cu_pool2d_geometry *g) {
    PoolGeo p;
    p.planes = g->planes;
    p.H = g->in_h;
    p.W = g->in_w;
    p.oh = g->out_h;
    p.ow = g->out_w;
    for (int i = 0; i < 2; i++) {
        p.k[i] = g->kernel[i];
        p.st[i] = g->stride[i];
        p.pad[i] = g->padding[i];
        p.dil[i] = g->dilation[i];
    }
    p.include_pad = g->count_include_pad;
    p.divisor_override = g->divisor_override;
    return p;
}

__device__ inline void max_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t dil,
                                  int64_t in, int64_t *lo, int64_t *hi) {
    int64_t start = o * stride - pad;
    int64_t end = start + (k - 1) * dil + 1;
    if (end > in) end = in;
    while (start < 0) start += dil;
    *lo = start;
    *hi = end;
}

__device__ inline void avg_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in,
                                  int64_t *lo, int64_t *hi, int64_t *padded) {
    int64_t start = o * stride - pad;
    int64_t end = start + k;
    if (end > in + pad) end = in + pad;
    *padded = end - start;
    *lo = start < 0 ? 0 : start;
    *hi = end > in ? in : end;
}

__device__ inline int64_t avg_divisor(const PoolGeo &g, int64_t ph, int64_t pw, int64_t h, int64_t w) {
    if (g.divisor_override) return g.divisor_override;
    return g.include_pad ? ph * pw : h * w;
}

template <class T> __device__ inline T lowest();
template <> __device__ inline float lowest<float>() { return -INFINITY; }
template <> __device__ inline double lowest<double>() { return -INFINITY; }
template <> __device__ inline int64_t lowest<int64_t>() { return INT64_MIN; }
template <class T> __device__ inline bool is_nan(T v) { return v != v; }
template <> __device__ inline bool is_nan<int64_t>(int64_t) { return false; }

template <class T> __global__ void max_pool_kernel(PoolGeo g, const T *in, T *out, int64_t *idx) {
    int64_t total = g.planes * g.oh * g.ow, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        int64_t x = i % g.ow, y = (i / g.ow) % g.oh, p = i / (g.ow * g.oh);
        const T *pl = in + p * g.H * g.W;
        int64_t y0, y1, x0, x1;
        max_window(y, g.st[0], g.pad[0], g.k[0], g.dil[0], g.H, &y0, &y1);
        max_window(x, g.st[1], g.pad[1], g.k[1], g.dil[1], g.W, &x0, &x1);
        int64_t best_i = y0 * g.W + x0;
        T best = lowest<T>();
        for (int64_t iy = y0; iy < y1; iy += g.dil[0])
            for (int64_t ix = x0; ix < x1; ix += g.dil[1]) {
                T v = pl[iy * g.W + ix];
                if (v > best || is_nan(v)) {
                    best = v;
                    best_i = iy * g.W + ix;
                }
            }
        out[i] = best;
        idx[i] = best_i;
    }
}

template <class T>
__global__ void max_pool_backward_kernel(PoolGeo g, T *gi, const T *go, const int64_t *idx) {
    int64_t step = (int64_t)gridDim.x * blockDim.x, hw = g.H * g.W, ohw = g.oh * g.ow;
    for (int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; p < g.planes; p += step) {
        T *gp = gi + p * hw;
        for (int64_t i = 0; i < hw; i++) gp[i] = 0;
        for (int64_t o = 0; o < ohw; o++) {
            int64_t j = idx[p * ohw + o];
            if (j >= 0 && j < hw) gp[j] += go[p * ohw + o];
        }
    }
}

template <class T, class A> __global__ void avg_pool_kernel(PoolGeo g, const T *in, T *out) {
    int64_t total = g.planes * g.oh * g.ow, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        int64_t x = i % g.ow, y = (i / g.ow) % g.oh, p = i / (g.ow * g.oh);
        const T *pl = in + p * g.H * g.W;
        int64_t y0, y1, py, x0, x1, px;
        avg_window(y, g.st[0], g.pad[0], g.k[0], g.H, &y0, &y1, &py);
        avg_window(x, g.st[1], g.pad[1], g.k[1], g.W, &x0, &x1, &px);
        if (y0 >= y1 || x0 >= x1) {
            out[i] = 0;
            continue;
        }
        A sum = 0;
        for (int64_t iy = y0; iy < y1; iy++)
            for (int64_t ix = x0; ix < x1; ix++) sum += pl[iy * g.W + ix];
        out[i] = (T)(sum / (A)avg_divisor(g, py, px, y1 - y0, x1 - x0));
    }
}

/* The outputs along one axis whose (unclipped) window may hold input cell c: [lo, hi]. */
__device__ inline void covering(int64_t c, int64_t stride, int64_t pad, int64_t k, int64_t nout,
                                int64_t *lo, int64_t *hi) {
    int64_t a = c + pad - k + 1; /* o * stride >= a */
    int64_t l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int64_t h = (c + pad) / stride;
    if (h > nout - 1) h = nout - 1;
    *lo = l;
    *hi = h;
}

template <class T> __global__ void avg_pool_backward_kernel(PoolGeo g, T *gi, const T *go) {
    int64_t total = g.planes * g.H * g.W, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        int64_t ix = i % g.W, iy = (i / g.W) % g.H, p = i / (g.W * g.H);
        const T *gp = go + p * g.oh * g.ow;
        int64_t oy0, oy1, ox0, ox1;
        covering(iy, g.st[0], g.pad[0], g.k[0], g.oh, &oy0, &oy1);
        covering(ix, g.st[1], g.pad[1], g.k[1], g.ow, &ox0, &ox1);
        T acc = 0;
        for (int64_t y = oy0; y <= oy1; y++) {
            int64_t y0, y1, py;
            avg_window(y, g.st[0], g.pad[0], g.k[0], g.H, &y0, &y1, &py);
            if (iy < y0 || iy >= y1) continue;
            for (int64_t x = ox0; x <= ox1; x++) {
                int64_t x0, x1, px;
                avg_window(x, g.st[1], g.pad[1], g.k[1], g.W, &x0, &x1, &px);
                if (ix < x0 || ix >= x1) continue;
                acc += gp[y * g.ow + x] / (T)avg_divisor(g, py, px, y1 - y0, x1 - x0);
            }
        }
        gi[i] = acc;
    }
}

/* ---- im2col / col2im ------------------------------------------------------------------------- */

struct ConvGeo {
    int64_t n, C, H, W, oh, ow, kh, kw, st[2], pad[2], dil[2];
};

ConvGeo conv_geo(const cu_conv2d_geometry *g, int64_t n) {
    ConvGeo c;
    c.n = n;
    c.C = g->in_channels;
    c.H = g->in_h;
    c.W = g->in_w;
    c.oh = g->out_h;
    c.ow = g->out_w;
    c.kh = g->kernel_h;
    c.kw = g->kernel_w;
    for (int i = 0; i < 2; i++) {
        c.st[i] = g->stride[i];
        c.pad[i] = g->padding[i];
        c.dil[i] = g->dilation[i];
    }
    return c;
}

/* col [n, C * kh * kw, oh * ow] from in [n, C, H, W] (zeros for padding). */
template <class T> __global__ void im2col_kernel(ConvGeo g, const T *in, T *col) {
    int64_t P = g.oh * g.ow, K = g.C * g.kh * g.kw, total = g.n * K * P;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        int64_t p = i % P, r = (i / P) % K, b = i / (P * K);
        int64_t kx = r % g.kw, ky = (r / g.kw) % g.kh, c = r / (g.kw * g.kh);
        int64_t ox = p % g.ow, oy = p / g.ow;
        int64_t iy = oy * g.st[0] - g.pad[0] + ky * g.dil[0], ix = ox * g.st[1] - g.pad[1] + kx * g.dil[1];
        T v = 0;
        if (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) v = in[((b * g.C + c) * g.H + iy) * g.W + ix];
        col[i] = v;
    }
}

/* in [n, C, H, W] = the sum of the col entries that read each cell (taps in (ky, kx) order). */
template <class T> __global__ void col2im_kernel(ConvGeo g, const T *col, T *in) {
    int64_t P = g.oh * g.ow, K = g.C * g.kh * g.kw, total = g.n * g.C * g.H * g.W;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        int64_t ix = i % g.W, iy = (i / g.W) % g.H, c = (i / (g.W * g.H)) % g.C, b = i / (g.W * g.H * g.C);
        const T *cb = col + b * K * P;
        T acc = 0;
        for (int64_t ky = 0; ky < g.kh; ky++) {
            int64_t ty = iy + g.pad[0] - ky * g.dil[0];
            if (ty < 0 || ty % g.st[0]) continue;
            int64_t oy = ty / g.st[0];
            if (oy >= g.oh) continue;
            for (int64_t kx = 0; kx < g.kw; kx++) {
                int64_t tx = ix + g.pad[1] - kx * g.dil[1];
                if (tx < 0 || tx % g.st[1]) continue;
                int64_t ox = tx / g.st[1];
                if (ox >= g.ow) continue;
                acc += cb[((c * g.kh + ky) * g.kw + kx) * P + oy * g.ow + ox];
            }
        }
        in[i] = acc;
    }
}

} // namespace
} // namespace cu

using namespace cu;

extern "C" cudaError_t cu_row_norm(cudaStream_t s, bool rms, const cu_strided *out,
                                   const cu_strided *mean, const cu_strided *rstd,
                                   const cu_strided *x, const cu_strided *weight,
                                   const cu_strided *bias, double eps) {
    int64_t n = x->ndim ? x->shape[x->ndim - 1] : 1, rows = 1;
    for (int d = 0; d + 1 < x->ndim; d++) rows *= x->shape[d];
    if (rows == 0 || n == 0) return cudaSuccess;
    if (x->dtype == BORN_F32)
        row_norm_kernel<float><<<rows_grid(rows), NORM_THREADS, 0, s>>>(
            rms, rows, n, eps, (const float *)x->data, (float *)out->data, (float *)mean->data,
            (float *)rstd->data, (const float *)weight->data, (const float *)bias->data);
    else if (x->dtype == BORN_F64)
        row_norm_kernel<double><<<rows_grid(rows), NORM_THREADS, 0, s>>>(
            rms, rows, n, eps, (const double *)x->data, (double *)out->data, (double *)mean->data,
            (double *)rstd->data, (const double *)weight->data, (const double *)bias->data);
    else
        return cudaErrorNotSupported;
    return cudaGetLastError();
}

extern "C" cudaError_t cu_row_norm_backward(cudaStream_t s, bool rms, const cu_strided *grad_x,
                                            const cu_strided *grad_out, const cu_strided *x,
                                            const cu_strided *mean, const cu_strided *rstd,
                                            const cu_strided *weight) {
    int64_t n = x->ndim ? x->shape[x->ndim - 1] : 1, rows = 1;
    for (int d = 0; d + 1 < x->ndim; d++) rows *= x->shape[d];
    if (rows == 0 || n == 0) return cudaSuccess;
    if (x->dtype == BORN_F32)
        row_norm_backward_kernel<float><<<rows_grid(rows), NORM_THREADS, 0, s>>>(
            rms, rows, n, (const float *)x->data, (const float *)grad_out->data,
            (float *)grad_x->data, (const float *)mean->data, (const float *)rstd->data,
            (const float *)weight->data);
    else if (x->dtype == BORN_F64)
        row_norm_backward_kernel<double><<<rows_grid(rows), NORM_THREADS, 0, s>>>(
            rms, rows, n, (const double *)x->data, (const double *)grad_out->data,
            (double *)grad_x->data, (const double *)mean->data, (const double *)rstd->data,
            (const double *)weight->data);
    else
        return cudaErrorNotSupported;
    return cudaGetLastError();
}

extern "C" cudaError_t cu_max_pool2d(cudaStream_t s, const cu_strided *out, const cu_strided *indices,
                                     const cu_strided *in, const cu_pool2d_geometry *g) {
    PoolGeo p = pool_geo(g);
    int64_t n = p.planes * p.oh * p.ow;
    if (n == 0) return cudaSuccess;
    unsigned grid = grid_for(n, 256);
    int64_t *idx = (int64_t *)indices->data;
    switch (in->dtype) {
    case BORN_F32: max_pool_kernel<float><<<grid, 256, 0, s>>>(p, (const float *)in->data, (float *)out->data, idx); break;
    case BORN_F64: max_pool_kernel<double><<<grid, 256, 0, s>>>(p, (const double *)in->data, (double *)out->data, idx); break;
    case BORN_I64: max_pool_kernel<int64_t><<<grid, 256, 0, s>>>(p, (const int64_t *)in->data, (int64_t *)out->data, idx); break;
    default: return cudaErrorNotSupported;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cu_max_pool2d_backward(cudaStream_t s, const cu_strided *grad_in,
                                              const cu_strided *grad_out, const cu_strided *indices,
                                              const cu_pool2d_geometry *g) {
    PoolGeo p = pool_geo(g);
    if (p.planes == 0) return cudaSuccess;
    unsigned grid = grid_for(p.planes, 128);
    const int64_t *idx = (const int64_t *)indices->data;
    switch (grad_out->dtype) {
    case BORN_F32: max_pool_backward_kernel<float><<<grid, 128, 0, s>>>(p, (float *)grad_in->data, (const float *)grad_out->data, idx); break;
    case BORN_F64: max_pool_backward_kernel<double><<<grid, 128, 0, s>>>(p, (double *)grad_in->data, (const double *)grad_out->data, idx); break;
    default: return cudaErrorNotSupported;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cu_avg_pool2d(cudaStream_t s, const cu_strided *out, const cu_strided *in,
                                     const cu_pool2d_geometry *g) {
    PoolGeo p = pool_geo(g);
    int64_t n = p.planes * p.oh * p.ow;
    if (n == 0) return cudaSuccess;
    unsigned grid = grid_for(n, 256);
    switch (in->dtype) {
    case BORN_F32: avg_pool_kernel<float, float><<<grid, 256, 0, s>>>(p, (const float *)in->data, (float *)out->data); break;
    case BORN_F64: avg_pool_kernel<double, double><<<grid, 256, 0, s>>>(p, (const double *)in->data, (double *)out->data); break;
    case BORN_I64: avg_pool_kernel<int64_t, int64_t><<<grid, 256, 0, s>>>(p, (const int64_t *)in->data, (int64_t *)out->data); break;
    default: return cudaErrorNotSupported;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cu_avg_pool2d_backward(cudaStream_t s, const cu_strided *grad_in,
                                              const cu_strided *grad_out,
                                              const cu_pool2d_geometry *g) {
    PoolGeo p = pool_geo(g);
    int64_t n = p.planes * p.H * p.W;
    if (n == 0) return cudaSuccess;
    unsigned grid = grid_for(n, 256);
    switch (grad_out->dtype) {
    case BORN_F32: avg_pool_backward_kernel<float><<<grid, 256, 0, s>>>(p, (float *)grad_in->data, (const float *)grad_out->data); break;
    case BORN_F64: avg_pool_backward_kernel<double><<<grid, 256, 0, s>>>(p, (double *)grad_in->data, (const double *)grad_out->data); break;
    default: return cudaErrorNotSupported;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cu_im2col(cudaStream_t s, born_dtype dt, const cu_conv2d_geometry *g,
                                 int64_t n, const void *in, void *col) {
    ConvGeo c = conv_geo(g, n);
    int64_t total = n * c.C * c.kh * c.kw * c.oh * c.ow;
    if (total == 0) return cudaSuccess;
    unsigned grid = grid_for(total, 256);
    if (dt == BORN_F32) im2col_kernel<float><<<grid, 256, 0, s>>>(c, (const float *)in, (float *)col);
    else if (dt == BORN_F64) im2col_kernel<double><<<grid, 256, 0, s>>>(c, (const double *)in, (double *)col);
    else return cudaErrorNotSupported;
    return cudaGetLastError();
}

extern "C" cudaError_t cu_col2im(cudaStream_t s, born_dtype dt, const cu_conv2d_geometry *g,
                                 int64_t n, const void *col, void *in) {
    ConvGeo c = conv_geo(g, n);
    int64_t total = n * c.C * c.H * c.W;
    if (total == 0) return cudaSuccess;
    unsigned grid = grid_for(total, 256);
    if (dt == BORN_F32) col2im_kernel<float><<<grid, 256, 0, s>>>(c, (const float *)col, (float *)in);
    else if (dt == BORN_F64) col2im_kernel<double><<<grid, 256, 0, s>>>(c, (const double *)col, (double *)in);
    else return cudaErrorNotSupported;
    return cudaGetLastError();
}
