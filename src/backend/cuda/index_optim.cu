/* CUDA indexing (gather, scatter_add, index_select, index_add) and fused optimizer updates (SGD,
 * Adam/AdamW).
 *
 * Indexing follows the CPU's geometry (src/backend/cpu/index.c): B is iterated in full (gather's
 * and index_select's output, scatter_add's and index_add's source), A is indexed along dim. The
 * copies take one thread an element. In the accumulating kernels a thread walks one row of B (a
 * combination of its other dims) along dim in index order, adding only into its own range of A's
 * positions along dim, so they are race-free (no two threads touch one element of A) and
 * deterministic. An index out of range is never dereferenced: it raises the device flag with its
 * value.
 *
 * The optimizer kernels evaluate the expressions of src/backend/optim_step.h in the compute type
 * with every operation rounded on its own (no FMA contraction: __fmul_rn and friends). */
#include "backend/cuda/common.cuh"

namespace cu {
namespace {

struct IRows {
    int kd;
    int64_t kshape[MAXD], ks[3][MAXD]; /* B, A, index */
    int64_t nrows, n, step[3], bound;
    char *base[3];
    born_dtype bt, at;
};

/* rows of B along dim; A and index addressed with B's positions in the other dims (index_1d: the
 * index is one vector along dim) */
IRows make_irows(const cu_strided *b, const cu_strided *a, const cu_strided *ix, int dim,
                 bool index_1d) {
    IRows r;
    r.kd = 0;
    r.nrows = 1;
    r.n = b->ndim ? b->shape[dim] : 1;
    r.bound = a->ndim ? a->shape[dim] : 1;
    const cu_strided *t[3] = {b, a, ix};
    for (int k = 0; k < 3; k++) {
        r.base[k] = (char *)t[k]->data;
        r.step[k] = (k == 2 && index_1d) ? (ix->ndim ? ix->strides[0] * 8 : 0)
                                         : (t[k]->ndim ? t[k]->strides[dim] * dtype_size(t[k]->dtype) : 0);
    }
    for (int d = 0; d < b->ndim; d++) {
        if (d == dim) continue;
        int64_t n = b->shape[d];
        r.nrows *= n;
        if (n == 1) continue;
        r.kshape[r.kd] = n;
        for (int k = 0; k < 3; k++)
            r.ks[k][r.kd] = (k == 2 && index_1d) ? 0 : t[k]->strides[d] * dtype_size(t[k]->dtype);
        r.kd++;
    }
    r.bt = b->dtype;
    r.at = a->dtype;
    return r;
}

/* B's row `row` and the matching positions in A and the index. */
__device__ inline void irow_ptrs(const IRows &r, int64_t row, char **p) {
    p[0] = r.base[0];
    p[1] = r.base[1];
    p[2] = r.base[2];
    for (int d = r.kd - 1; d >= 0; d--) {
        int64_t q = row / r.kshape[d], idx = row - q * r.kshape[d];
        row = q;
        for (int k = 0; k < 3; k++) p[k] += idx * r.ks[k][d];
    }
}

/* gather / index_select with one thread an element of B, rows fastest (so that neighbouring
 * threads touch neighbouring elements when the rows are B's inner dims, as in an embedding). */
__global__ void index_copy_kernel(IRows r, long long *flag, unsigned long long tag,
                                  unsigned long long mask) {
    int64_t step = (int64_t)gridDim.x * blockDim.x, total = r.nrows * r.n;
    int64_t es = dtype_size(r.bt);
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += step) {
        int64_t j = e / r.nrows, row = e - j * r.nrows;
        char *p[3];
        irow_ptrs(r, row, p);
        int64_t v = *(const int64_t *)(p[2] + j * r.step[2]);
        if (v < 0 || v >= r.bound) {
            atomicCAS((unsigned long long *)flag, 0ull, tag | ((unsigned long long)v & mask));
            continue;
        }
        char *pa = p[1] + v * r.step[1], *pb = p[0] + j * r.step[0];
        switch (es) {
        case 1: *(uint8_t *)pb = *(const uint8_t *)pa; break;
        case 2: *(uint16_t *)pb = *(const uint16_t *)pa; break;
        case 4: *(uint32_t *)pb = *(const uint32_t *)pa; break;
        default: *(uint64_t *)pb = *(const uint64_t *)pa; break;
        }
    }
}

/* scatter_add / index_add with A's positions along dim split into `parts` ranges: thread (row,
 * part) walks the row's indices in order and adds those that fall in its range. Each element of
 * A still has one writer adding in index order (the result of the one-thread-a-row kernel), with
 * rows x parts threads at work. */
__global__ void index_add_kernel(IRows r, long long *flag, unsigned long long tag,
                                 unsigned long long mask, int64_t parts) {
    int64_t step = (int64_t)gridDim.x * blockDim.x, total = r.nrows * parts;
    int64_t chunk = (r.bound + parts - 1) / parts;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += step) {
        int64_t part = e / r.nrows, row = e - part * r.nrows;
        int64_t lo = part * chunk, hi = lo + chunk < r.bound ? lo + chunk : r.bound;
        char *p[3];
        irow_ptrs(r, row, p);
        for (int64_t j = 0; j < r.n; j++) {
            int64_t v = *(const int64_t *)(p[2] + j * r.step[2]);
            if (v < 0 || v >= r.bound) {
                atomicCAS((unsigned long long *)flag, 0ull, tag | ((unsigned long long)v & mask));
                continue;
            }
            if (v < lo || v >= hi) continue;
            char *pa = p[1] + v * r.step[1], *pb = p[0] + j * r.step[0];
            if (r.at == BORN_F64) {
                *(double *)pa = *(const double *)pa + *(const double *)pb;
            } else if (is_floating(r.at)) {
                st_f(pa, r.at, ld_f(pa, r.at) + ld_f(pb, r.at));
            } else if (r.at == BORN_BOOL) {
                *(uint8_t *)pa = (*(const uint8_t *)pa | *(const uint8_t *)pb) != 0;
            } else {
                st_i(pa, r.at, (int64_t)((uint64_t)ld_i(pa, r.at) + (uint64_t)ld_i(pb, r.at)));
            }
        }
    }
}

/* ---- optimizers ------------------------------------------------------------------------------ */

__device__ inline float rmul(float a, float b) { return __fmul_rn(a, b); }
__device__ inline double rmul(double a, double b) { return __dmul_rn(a, b); }
__device__ inline float radd(float a, float b) { return __fadd_rn(a, b); }
__device__ inline double radd(double a, double b) { return __dadd_rn(a, b); }
__device__ inline float rsub(float a, float b) { return __fsub_rn(a, b); }
__device__ inline double rsub(double a, double b) { return __dsub_rn(a, b); }
__device__ inline float rdiv(float a, float b) { return __fdiv_rn(a, b); }
__device__ inline double rdiv(double a, double b) { return __ddiv_rn(a, b); }
__device__ inline float rsqrt_(float a) { return __fsqrt_rn(a); }
__device__ inline double rsqrt_(double a) { return __dsqrt_rn(a); }

template <class C> struct SgdF {
    born_dtype t;
    C wd, mom, one_minus_damp, neg_lr;
    bool has_wd, has_mom, first, nesterov, maximize;
    __device__ void operator()(char **p) const { /* param, grad, momentum_buffer */
        C w = ld<C>(p[0], t), g = ld<C>(p[1], t);
        if (maximize) g = -g;
        if (has_wd) g = radd(g, rmul(wd, w));
        if (has_mom) {
            C b = first ? g : radd(rmul(ld<C>(p[2], t), mom), rmul(one_minus_damp, g));
            st(p[2], t, b);
            g = nesterov ? radd(g, rmul(mom, b)) : b;
        }
        st(p[0], t, radd(w, rmul(neg_lr, g)));
    }
};

template <class C> struct AdamF {
    born_dtype t;
    C wd, decay, w1, beta2, one_minus_beta2, neg_step, bc2, eps;
    bool has_wd, decoupled, amsgrad, maximize;
    __device__ void operator()(char **p) const { /* param, grad, exp_avg, exp_avg_sq, max */
        C w = ld<C>(p[0], t), g = ld<C>(p[1], t), m = ld<C>(p[2], t), v = ld<C>(p[3], t);
        if (maximize) g = -g;
        if (has_wd) {
            if (decoupled) w = rmul(w, decay);
            else g = radd(g, rmul(wd, w));
        }
        C diff = rsub(g, m);
        m = (w1 < C(0.5) && w1 > C(-0.5)) ? radd(m, rmul(w1, diff))
                                          : rsub(g, rmul(diff, rsub(C(1), w1)));
        v = radd(rmul(v, beta2), rmul(rmul(one_minus_beta2, g), g));
        st(p[2], t, m);
        st(p[3], t, v);
        C vv = v;
        if (amsgrad) {
            C vm = ld<C>(p[4], t);
            vm = (vm != vm || v != v) ? radd(vm, v) : (v > vm ? v : vm);
            st(p[4], t, vm);
            vv = vm;
        }
        C denom = radd(rdiv(rsqrt_(vv), bc2), eps);
        st(p[0], t, radd(w, rdiv(rmul(neg_step, m), denom)));
    }
};

/* Multi-tensor Adam: up to MULTI parameters a launch, listed in the kernel's parameters; the
 * parameters' elements are cut into chunks of MCHUNK, chunk_end[k] is the end of parameter k's
 * chunks in the running count, and each block takes chunks grid-stride. */
constexpr int MULTI = 128;
constexpr int64_t MCHUNK = 4096;
struct MultiAdam {
    int count;
    int64_t chunk_end[MULTI];
    int64_t n[MULTI];
    char *ptr[MULTI][4];
    bool vec[MULTI]; /* the four pointers allow 4-wide loads */
    AdamF<float> f[MULTI];
    const float *scal[MULTI]; /* decay, -step_size, bc2 from the device (NULL: f's) */
    const float *found_inf;   /* not NULL: the launch changes nothing while *found_inf != 0 */
};

/* The step-dependent scalars of up to MULTI parameters on the device: each parameter's f32 step
 * count is incremented, then step_size = lr / (1 - beta1^step), bias_correction2_sqrt =
 * sqrt(1 - beta2^step) and the decoupled decay 1 - lr * weight_decay are formed in double, as
 * src/optim/adam.c does on the host, and rounded to f32 into out[3 k + {0, 1, 2}]. A step that
 * found_inf skips (*found_inf != 0) leaves the counts as they are. */
struct AdamScalars {
    int count;
    float *step[MULTI];
    const double *lr[MULTI];
    double beta1[MULTI], beta2[MULTI], wd[MULTI];
    float *out;
    const float *found_inf;
};

__global__ void adam_scalars_kernel(const __grid_constant__ AdamScalars a) {
    int k = threadIdx.x;
    if (k >= a.count || (a.found_inf && *a.found_inf != 0.0f)) return;
    float s = __fadd_rn(*a.step[k], 1.0f);
    *a.step[k] = s;
    double step = s, lr = *a.lr[k];
    /* no FMA contraction: the host's roundings */
    double bc1 = __dsub_rn(1.0, pow(a.beta1[k], step)), bc2 = __dsub_rn(1.0, pow(a.beta2[k], step));
    a.out[3 * k] = (float)__dsub_rn(1.0, __dmul_rn(lr, a.wd[k]));
    a.out[3 * k + 1] = (float)-__ddiv_rn(lr, bc1);
    a.out[3 * k + 2] = (float)__dsqrt_rn(bc2);
}

__device__ inline float to_f(float x) { return x; }
__device__ inline float to_f(__half x) { return __half2float(x); }
__device__ inline float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class T> __device__ inline T of_f(float x);
template <> __device__ inline float of_f<float>(float x) { return x; }
template <> __device__ inline __half of_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ inline __nv_bfloat16 of_f<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}

/* AdamF's arithmetic (amsgrad false) on one element held in registers. */
template <class T>
__device__ inline void adam_elem(const AdamF<float> &f, T &pw, T pg, T &pm, T &pv) {
    float w = to_f(pw), g = to_f(pg), m = to_f(pm), v = to_f(pv);
    if (f.maximize) g = -g;
    if (f.has_wd) {
        if (f.decoupled)
            w = rmul(w, f.decay);
        else
            g = radd(g, rmul(f.wd, w));
    }
    float diff = rsub(g, m);
    m = (f.w1 < 0.5f && f.w1 > -0.5f) ? radd(m, rmul(f.w1, diff))
                                      : rsub(g, rmul(diff, rsub(1.0f, f.w1)));
    v = radd(rmul(v, f.beta2), rmul(rmul(f.one_minus_beta2, g), g));
    pm = of_f<T>(m);
    pv = of_f<T>(v);
    float denom = radd(rdiv(rsqrt_(v), f.bc2), f.eps);
    pw = of_f<T>(radd(w, rdiv(rmul(f.neg_step, m), denom)));
}

template <class T> struct alignas(4 * sizeof(T)) Vec4 { T v[4]; };

/* One block a chunk; each thread four consecutive elements a step (one 4-wide load of each of
 * the four tensors where the parameter's pointers allow it). A skipped step (found_inf) returns
 * before touching anything. */
template <class T> __global__ void adam_multi_kernel(const __grid_constant__ MultiAdam a) {
    if (a.found_inf && *a.found_inf != 0.0f) return;
    int64_t total = a.chunk_end[a.count - 1];
    for (int64_t c = blockIdx.x; c < total; c += gridDim.x) {
        int k = 0;
        while (a.chunk_end[k] <= c)
            k++;
        int64_t base = (c - (k ? a.chunk_end[k - 1] : 0)) * MCHUNK;
        int64_t end = base + MCHUNK < a.n[k] ? base + MCHUNK : a.n[k];
        AdamF<float> f = a.f[k];
        if (a.scal[k]) {
            f.decay = a.scal[k][0];
            f.neg_step = a.scal[k][1];
            f.bc2 = a.scal[k][2];
        }
        T *P = (T *)a.ptr[k][0], *G = (T *)a.ptr[k][1], *M = (T *)a.ptr[k][2],
          *V = (T *)a.ptr[k][3];
        bool vec = a.vec[k];
        for (int64_t i = base + 4 * (int64_t)threadIdx.x; i < end; i += 4 * (int64_t)blockDim.x) {
            if (vec && i + 4 <= end) {
                Vec4<T> w = *(Vec4<T> *)(P + i), g = *(const Vec4<T> *)(G + i);
                Vec4<T> m = *(Vec4<T> *)(M + i), v = *(Vec4<T> *)(V + i);
#pragma unroll
                for (int u = 0; u < 4; u++)
                    adam_elem<T>(f, w.v[u], g.v[u], m.v[u], v.v[u]);
                *(Vec4<T> *)(P + i) = w;
                *(Vec4<T> *)(M + i) = m;
                *(Vec4<T> *)(V + i) = v;
            } else {
                for (int64_t j = i; j < i + 4 && j < end; j++)
                    adam_elem<T>(f, P[j], G[j], M[j], V[j]);
            }
        }
    }
}

} // namespace
} // namespace cu

using namespace cu;

extern "C" cudaError_t cu_adam_step_multi(cudaStream_t s, born_dtype dt, int64_t count,
                                          const cu_adam_item *items, float *scratch) {
    if (dt != BORN_F32 && dt != BORN_F16 && dt != BORN_BF16) return cudaErrorNotSupported;
    const float *found_inf = count > 0 ? items[0].found_inf : nullptr;
    for (int64_t i = 0; i < count; i++)
        if (items[i].found_inf != found_inf) return cudaErrorNotSupported;
    for (int64_t i0 = 0; i0 < count; i0 += MULTI) {
        bool on_device = items[i0].device_step != NULL;
        if (on_device) {
            AdamScalars sc;
            sc.count = 0;
            sc.out = scratch + 3 * i0;
            sc.found_inf = found_inf;
            for (int64_t i = i0; i < count && i < i0 + MULTI; i++, sc.count++) {
                const cu_adam_item *it = &items[i];
                if (!it->device_step || !it->device_lr || !scratch) return cudaErrorNotSupported;
                sc.step[sc.count] = it->device_step;
                sc.lr[sc.count] = it->device_lr;
                sc.beta1[sc.count] = it->args.beta1;
                sc.beta2[sc.count] = it->args.beta2;
                sc.wd[sc.count] = it->args.weight_decay;
            }
            adam_scalars_kernel<<<1, MULTI, 0, s>>>(sc);
            cudaError_t e = cudaGetLastError();
            if (e != cudaSuccess) return e;
        }
        MultiAdam a;
        a.count = 0;
        a.found_inf = found_inf;
        int64_t chunks = 0;
        for (int64_t i = i0; i < count && i < i0 + MULTI; i++) {
            const cu_adam_item *it = &items[i];
            const born_adam_step_args *ar = &it->args;
            if (it->param.dtype != dt || ar->amsgrad) return cudaErrorNotSupported;
            int64_t n = 1;
            for (int d = 0; d < it->param.ndim; d++)
                n *= it->param.shape[d];
            if (n == 0) continue;
            int k = a.count++;
            chunks += (n + MCHUNK - 1) / MCHUNK;
            a.chunk_end[k] = chunks;
            a.n[k] = n;
            a.ptr[k][0] = (char *)it->param.data;
            a.ptr[k][1] = (char *)it->grad.data;
            a.ptr[k][2] = (char *)it->exp_avg.data;
            a.ptr[k][3] = (char *)it->exp_avg_sq.data;
            uintptr_t al = 4 * (uintptr_t)dtype_size(dt) - 1;
            a.scal[k] = on_device ? scratch + 3 * i : nullptr;
            a.vec[k] = true;
            for (int q = 0; q < 4; q++)
                a.vec[k] = a.vec[k] && ((uintptr_t)a.ptr[k][q] & al) == 0;
            a.f[k] = AdamF<float>{dt,
                                  (float)ar->weight_decay,
                                  (float)(1 - ar->lr * ar->weight_decay),
                                  (float)(1 - ar->beta1),
                                  (float)ar->beta2,
                                  (float)(1 - ar->beta2),
                                  (float)-ar->step_size,
                                  (float)ar->bias_correction2_sqrt,
                                  (float)ar->eps,
                                  ar->weight_decay != 0,
                                  ar->decoupled_weight_decay,
                                  false,
                                  ar->maximize};
        }
        if (a.count == 0) continue;
        unsigned grid = (unsigned)(chunks < 132 * 16 ? chunks : 132 * 16);
        if (dt == BORN_F32)
            adam_multi_kernel<float><<<grid, 256, 0, s>>>(a);
        else if (dt == BORN_F16)
            adam_multi_kernel<__half><<<grid, 256, 0, s>>>(a);
        else
            adam_multi_kernel<__nv_bfloat16><<<grid, 256, 0, s>>>(a);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

extern "C" cudaError_t cu_index(cudaStream_t s, bool add, bool index_1d, const cu_strided *a,
                                const cu_strided *b, const cu_strided *index, int dim,
                                long long *flag, unsigned long long tag,
                                unsigned long long mask) {
    IRows r = make_irows(b, a, index, dim, index_1d);
    if (r.nrows == 0 || r.n == 0) return cudaSuccess;
    if (add) {
        /* enough threads to fill the GPU when the rows are few, each range at least 1 long */
        int64_t parts = r.nrows >= 65536 ? 1 : 65536 / r.nrows;
        if (parts > r.bound) parts = r.bound > 0 ? r.bound : 1;
        index_add_kernel<<<grid_for(r.nrows * parts, 128), 128, 0, s>>>(r, flag, tag, mask, parts);
    } else {
        index_copy_kernel<<<grid_for(r.nrows * r.n, 256), 256, 0, s>>>(r, flag, tag, mask);
    }
    return cudaGetLastError();
}

extern "C" cudaError_t cu_sgd_step(cudaStream_t s, const cu_strided *param, const cu_strided *grad,
                                   const cu_strided *buf, const born_sgd_step_args *a) {
    const cu_strided *ops[3] = {param, grad, buf->data ? buf : param};
    bool has_mom = a->momentum != 0;
    if (param->dtype == BORN_F64)
        return launch_ew<3>(s, ops, SgdF<double>{param->dtype, a->weight_decay, a->momentum,
                                                 1 - a->dampening, -a->lr, a->weight_decay != 0,
                                                 has_mom, a->first_step, a->nesterov, a->maximize});
    return launch_ew<3>(s, ops, SgdF<float>{param->dtype, (float)a->weight_decay, (float)a->momentum,
                                            (float)(1 - a->dampening), (float)-a->lr,
                                            a->weight_decay != 0, has_mom, a->first_step,
                                            a->nesterov, a->maximize});
}

extern "C" cudaError_t cu_adam_step(cudaStream_t s, const cu_strided *param, const cu_strided *grad,
                                    const cu_strided *m, const cu_strided *v, const cu_strided *vmax,
                                    const born_adam_step_args *a) {
    const cu_strided *ops[5] = {param, grad, m, v, vmax->data ? vmax : param};
    bool has_wd = a->weight_decay != 0;
    if (param->dtype == BORN_F64)
        return launch_ew<5>(s, ops, AdamF<double>{param->dtype, a->weight_decay, 1 - a->lr * a->weight_decay,
                                                  1 - a->beta1, a->beta2, 1 - a->beta2, -a->step_size,
                                                  a->bias_correction2_sqrt, a->eps, has_wd,
                                                  a->decoupled_weight_decay, a->amsgrad, a->maximize});
    return launch_ew<5>(s, ops, AdamF<float>{param->dtype, (float)a->weight_decay,
                                             (float)(1 - a->lr * a->weight_decay), (float)(1 - a->beta1),
                                             (float)a->beta2, (float)(1 - a->beta2), (float)-a->step_size,
                                             (float)a->bias_correction2_sqrt, (float)a->eps, has_wd,
                                             a->decoupled_weight_decay, a->amsgrad, a->maximize});
}
