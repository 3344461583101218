/* CPU optimizer kernels: SGD, Adam/AdamW and RMSprop updates fused into one pass over memory per
 * parameter (src/backend/optim_step.h gives the math and the rounding contract). Each optimizer
 * has vectorizable loops over contiguous arrays, per compute type and option set; the driver runs
 * them straight on the tensors' memory when every operand is contiguous f32/f64, and otherwise
 * stages chunks of 256 elements through stack buffers (strided operands, and f16/bf16, which
 * compute in f32 and round back once per step). Work is split with born_parallel_for into fixed element ranges; every
 * element is independent, so results do not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/kernels_avx2.h"
#include "backend/cpu/kernels_neon.h"
#include "core/cpu_features.h"
#include "backend/optim_step.h"

#if defined(__clang__)
/* The contract rounds every operation, as torch's separate tensor ops do (GCC does not contract
 * in ISO C mode; clang would, within one expression, on targets with FMA). */
#pragma STDC FP_CONTRACT OFF
#endif

enum { OPT_MAX_OPERANDS = 5, OPT_CHUNK = 256, OPT_GRAIN = 16384 };

/* A compute loop over n contiguous elements: ptrs[0] the parameter, ptrs[1] the gradient (read
 * only), ptrs[2..] the state (NULL when absent); consts the per-type scalars. */
typedef void (*opt_loop_fn)(void *const *ptrs, int64_t n, const void *consts);

/* ---- the loops ------------------------------------------------------------------------------ */

/* Each loop is instantiated for every combination of the options that add arithmetic (literal
 * 0/1 parameters), so that no operation runs under a condition: GCC treats such an operation as a
 * possible trap and then does not vectorize. The remaining options are exact arithmetic (a negation
 * as a select, a multiplication by 1) or selects between loaded values. */

#define SGD_LOOP(T, S, WD, MODE) /* MODE 0: no momentum; 1, 2: first step (b = g), without and  \
                                    with Nesterov; 3, 4: b updated, without and with Nesterov */ \
    static void sgd_loop_##S##_##WD##MODE(void *const *ptrs, int64_t n, const void *consts) {     \
        const sgd_c_##S *c = consts;                                                             \
        T *restrict p = ptrs[0];                                                                 \
        const T *restrict g = ptrs[1];                                                           \
        T *restrict b = ptrs[2];                                                                 \
        const T wd = c->wd, mom = c->mom, omd = c->omd, neg_lr = c->neg_lr;                      \
        const bool maximize = c->maximize;                                                       \
        (void)b, (void)wd, (void)mom, (void)omd;                                                 \
        for (int64_t i = 0; i < n; i++) {                                                        \
            T gi = g[i], pi = p[i];                                                              \
            gi = maximize ? -gi : gi;                                                            \
            if (WD) gi = gi + wd * pi;                                                           \
            if (MODE != 0) {                                                                     \
                T bi;                                                                            \
                if (MODE <= 2) {                                                                 \
                    bi = gi;                                                                     \
                } else {                                                                         \
                    bi = b[i] * mom;                                                             \
                    bi = bi + omd * gi;                                                          \
                }                                                                                \
                b[i] = bi;                                                                       \
                gi = (MODE == 2 || MODE == 4) ? gi + mom * bi : bi;                              \
            }                                                                                    \
            p[i] = pi + neg_lr * gi;                                                             \
        }                                                                                        \
    }

#define SGD_LOOPS(T, S)                                                                          \
    typedef struct sgd_c_##S {                                                                   \
        T wd, mom, omd, neg_lr;                                                                  \
        bool maximize;                                                                           \
    } sgd_c_##S;                                                                                 \
    SGD_LOOP(T, S, 0, 0)                                                                         \
    SGD_LOOP(T, S, 0, 1)                                                                         \
    SGD_LOOP(T, S, 0, 2)                                                                         \
    SGD_LOOP(T, S, 0, 3)                                                                         \
    SGD_LOOP(T, S, 0, 4)                                                                         \
    SGD_LOOP(T, S, 1, 0)                                                                         \
    SGD_LOOP(T, S, 1, 1)                                                                         \
    SGD_LOOP(T, S, 1, 2)                                                                         \
    SGD_LOOP(T, S, 1, 3)                                                                         \
    SGD_LOOP(T, S, 1, 4)                                                                         \
    static const opt_loop_fn sgd_loops_##S[10] = {                                              \
        sgd_loop_##S##_00, sgd_loop_##S##_01, sgd_loop_##S##_02, sgd_loop_##S##_03,              \
        sgd_loop_##S##_04, sgd_loop_##S##_10, sgd_loop_##S##_11, sgd_loop_##S##_12,              \
        sgd_loop_##S##_13, sgd_loop_##S##_14};

/* out = torch's lerp(self, end, w) for a scalar weight (ATen/native/Lerp.h): self + w (end - self)
 * when |w| < 0.5, else end - (end - self)(1 - w). Written as base + coef (end - self) with
 * (base, coef) = (self, w) or (end, -(1 - w)), which rounds identically. */
#define LERP(T, out, self, end, coef, small)                                                     \
    do {                                                                                         \
        T d_ = (end) - (self);                                                                   \
        T base_ = (small) ? (self) : (end);                                                      \
        (out) = base_ + (coef) * d_;                                                             \
    } while (0)

#define ADAM_LOOP(T, S, SQRT, L2, AMS)                                                           \
    static void adam_loop_##S##_##L2##AMS(void *const *ptrs, int64_t n, const void *consts) {    \
        const adam_c_##S *c = consts;                                                            \
        T *restrict p = ptrs[0];                                                                 \
        const T *restrict g = ptrs[1];                                                           \
        T *restrict m = ptrs[2], *restrict v = ptrs[3], *restrict vmax = ptrs[4];                \
        const T wd = c->wd, decay = c->decay, coef1 = c->coef1, b2 = c->b2;                      \
        const T omb2 = c->omb2, bc2s = c->bc2s, eps = c->eps, neg_step = c->neg_step;            \
        const bool small = c->small_w1, maximize = c->maximize;                                  \
        (void)vmax, (void)wd;                                                                    \
        for (int64_t i = 0; i < n; i++) {                                                        \
            T gi = g[i], pi = p[i];                                                              \
            gi = maximize ? -gi : gi;                                                            \
            pi = pi * decay; /* decoupled weight decay; decay is exactly 1 without it */         \
            if (L2) gi = gi + wd * pi;                                                           \
            T mi = m[i];                                                                         \
            LERP(T, mi, mi, gi, coef1, small);                                                   \
            T vi = v[i] * b2;                                                                    \
            vi = vi + (omb2 * gi) * gi;                                                          \
            T vd = vi;                                                                           \
            if (AMS) {                                                                           \
                T old = vmax[i];                                                                 \
                vd = old > vi ? old : vi;                                                        \
                vd = old != old ? old : vd; /* NaN propagates, as torch.maximum */               \
                vmax[i] = vd;                                                                    \
            }                                                                                    \
            T denom = SQRT(vd) / bc2s;                                                           \
            denom = denom + eps;                                                                 \
            m[i] = mi;                                                                           \
            v[i] = vi;                                                                           \
            p[i] = pi + (neg_step * mi) / denom;                                                 \
        }                                                                                        \
    }

#define ADAM_LOOPS(T, S, SQRT)                                                                   \
    typedef struct adam_c_##S {                                                                  \
        T wd, decay, coef1, b2, omb2, bc2s, eps, neg_step;                                       \
        bool small_w1, maximize;                                                                 \
    } adam_c_##S;                                                                                \
    ADAM_LOOP(T, S, SQRT, 0, 0)                                                                  \
    ADAM_LOOP(T, S, SQRT, 0, 1)                                                                  \
    ADAM_LOOP(T, S, SQRT, 1, 0)                                                                  \
    ADAM_LOOP(T, S, SQRT, 1, 1)                                                                  \
    static const opt_loop_fn adam_loops_##S[4] = {adam_loop_##S##_00, adam_loop_##S##_01,       \
                                                  adam_loop_##S##_10, adam_loop_##S##_11};

#define RMSPROP_LOOP(T, S, SQRT, WD, CENTERED, MOM)                                              \
    static void rmsprop_loop_##S##_##WD##CENTERED##MOM(void *const *ptrs, int64_t n,             \
                                                       const void *consts) {                     \
        const rmsprop_c_##S *c = consts;                                                         \
        T *restrict p = ptrs[0];                                                                 \
        const T *restrict g = ptrs[1];                                                           \
        T *restrict s = ptrs[2], *restrict a = ptrs[3], *restrict b = ptrs[4];                   \
        const T wd = c->wd, alpha = c->alpha, oma = c->oma, coef = c->coef, eps = c->eps;        \
        const T mom = c->mom, neg_lr = c->neg_lr, one = 1, minus_one = -1;                       \
        const bool small = c->small_w, maximize = c->maximize;                                   \
        (void)a, (void)b, (void)wd, (void)coef, (void)mom, (void)one, (void)minus_one;           \
        (void)small;                                                                             \
        for (int64_t i = 0; i < n; i++) {                                                        \
            T gi = g[i], pi = p[i];                                                              \
            gi = maximize ? -gi : gi;                                                            \
            if (WD) gi = gi + wd * pi;                                                           \
            T si = s[i] * alpha;                                                                 \
            si = si + (oma * gi) * gi;                                                           \
            s[i] = si;                                                                           \
            T d;                                                                                 \
            if (CENTERED) {                                                                      \
                T ai = a[i];                                                                     \
                LERP(T, ai, ai, gi, coef, small);                                                \
                a[i] = ai;                                                                       \
                d = SQRT(si + (minus_one * ai) * ai);                                            \
            } else {                                                                             \
                d = SQRT(si);                                                                    \
            }                                                                                    \
            d = d + eps;                                                                         \
            if (MOM) {                                                                           \
                T bi = b[i] * mom;                                                               \
                bi = bi + (one * gi) / d;                                                        \
                b[i] = bi;                                                                       \
                p[i] = pi + neg_lr * bi;                                                         \
            } else {                                                                             \
                p[i] = pi + (neg_lr * gi) / d;                                                   \
            }                                                                                    \
        }                                                                                        \
    }

#define RMSPROP_LOOPS(T, S, SQRT)                                                                \
    typedef struct rmsprop_c_##S {                                                               \
        T wd, alpha, oma, coef, eps, mom, neg_lr;                                                \
        bool small_w, maximize;                                                                  \
    } rmsprop_c_##S;                                                                             \
    RMSPROP_LOOP(T, S, SQRT, 0, 0, 0)                                                            \
    RMSPROP_LOOP(T, S, SQRT, 0, 0, 1)                                                            \
    RMSPROP_LOOP(T, S, SQRT, 0, 1, 0)                                                            \
    RMSPROP_LOOP(T, S, SQRT, 0, 1, 1)                                                            \
    RMSPROP_LOOP(T, S, SQRT, 1, 0, 0)                                                            \
    RMSPROP_LOOP(T, S, SQRT, 1, 0, 1)                                                            \
    RMSPROP_LOOP(T, S, SQRT, 1, 1, 0)                                                            \
    RMSPROP_LOOP(T, S, SQRT, 1, 1, 1)                                                            \
    static const opt_loop_fn rmsprop_loops_##S[8] = {                                           \
        rmsprop_loop_##S##_000, rmsprop_loop_##S##_001, rmsprop_loop_##S##_010,                  \
        rmsprop_loop_##S##_011, rmsprop_loop_##S##_100, rmsprop_loop_##S##_101,                  \
        rmsprop_loop_##S##_110, rmsprop_loop_##S##_111};

SGD_LOOPS(float, f32)
SGD_LOOPS(double, f64)
ADAM_LOOPS(float, f32, sqrtf)
ADAM_LOOPS(double, f64, sqrt)
RMSPROP_LOOPS(float, f32, sqrtf)
RMSPROP_LOOPS(double, f64, sqrt)

/* ---- the driver ----------------------------------------------------------------------------- */

typedef struct opt_job {
    int nops;
    const born_strided *ops[OPT_MAX_OPERANDS]; /* data NULL: absent */
    bool dense[OPT_MAX_OPERANDS];               /* row-major contiguous */
    born_dtype dtype;                           /* the parameter's (every operand's) dtype */
    bool direct;                                /* contiguous f32/f64: run on the memory itself */
    opt_loop_fn loop;
    const void *consts;
} opt_job;

static bool row_major(const born_strided *s) {
    int64_t expect = 1;
    for (int d = s->ndim - 1; d >= 0; d--) {
        if (s->shape[d] == 1) continue;
        if (s->strides[d] != expect) return false;
        expect *= s->shape[d];
    }
    return true;
}

/* Element offsets of the n logical (row-major) positions from begin in operand s. */
static void strided_offsets(const born_strided *s, bool dense, int64_t begin, int64_t n,
                            int64_t *offs) {
    if (dense) {
        for (int64_t k = 0; k < n; k++) offs[k] = begin + k;
        return;
    }
    int64_t idx[BORN_MAX_DIMS];
    int64_t rest = begin, off = 0;
    for (int d = s->ndim - 1; d >= 0; d--) {
        idx[d] = s->shape[d] ? rest % s->shape[d] : 0;
        rest = s->shape[d] ? rest / s->shape[d] : 0;
        off += idx[d] * s->strides[d];
    }
    for (int64_t k = 0; k < n; k++) {
        offs[k] = off;
        for (int d = s->ndim - 1; d >= 0; d--) {
            off += s->strides[d];
            if (++idx[d] < s->shape[d]) break;
            off -= idx[d] * s->strides[d];
            idx[d] = 0;
        }
    }
}

static void stage_load(const born_strided *s, const int64_t *offs, int64_t n, void *buf) {
    switch (s->dtype) {
    case BORN_F64:
        for (int64_t k = 0; k < n; k++) ((double *)buf)[k] = ((const double *)s->data)[offs[k]];
        break;
    case BORN_F32:
        for (int64_t k = 0; k < n; k++) ((float *)buf)[k] = ((const float *)s->data)[offs[k]];
        break;
    case BORN_F16:
        for (int64_t k = 0; k < n; k++)
            ((float *)buf)[k] = born_f16_to_f32(((const uint16_t *)s->data)[offs[k]]);
        break;
    default: /* BORN_BF16 */
        for (int64_t k = 0; k < n; k++)
            ((float *)buf)[k] = born_bf16_to_f32(((const uint16_t *)s->data)[offs[k]]);
        break;
    }
}

static void stage_store(const born_strided *s, const int64_t *offs, int64_t n, const void *buf) {
    switch (s->dtype) {
    case BORN_F64:
        for (int64_t k = 0; k < n; k++) ((double *)s->data)[offs[k]] = ((const double *)buf)[k];
        break;
    case BORN_F32:
        for (int64_t k = 0; k < n; k++) ((float *)s->data)[offs[k]] = ((const float *)buf)[k];
        break;
    case BORN_F16:
        for (int64_t k = 0; k < n; k++)
            ((uint16_t *)s->data)[offs[k]] = born_f32_to_f16(((const float *)buf)[k]);
        break;
    default: /* BORN_BF16 */
        for (int64_t k = 0; k < n; k++)
            ((uint16_t *)s->data)[offs[k]] = born_f32_to_bf16(((const float *)buf)[k]);
        break;
    }
}

static void opt_range(int64_t begin, int64_t end, void *ctx) {
    const opt_job *j = ctx;
    void *ptrs[OPT_MAX_OPERANDS] = {0};
    if (j->direct) {
        size_t es = born_dtype_size(j->dtype);
        for (int k = 0; k < j->nops; k++)
            if (j->ops[k]->data) ptrs[k] = (char *)j->ops[k]->data + (size_t)begin * es;
        j->loop(ptrs, end - begin, j->consts);
        return;
    }
    union {
        double d[OPT_CHUNK];
        float f[OPT_CHUNK]; /* f32, f16 and bf16 compute in f32 */
    } buf[OPT_MAX_OPERANDS];
    int64_t offs[OPT_CHUNK];
    for (int k = 0; k < j->nops; k++)
        if (j->ops[k]->data)
            ptrs[k] = j->dtype == BORN_F64 ? (void *)buf[k].d : (void *)buf[k].f;
    for (int64_t at = begin; at < end; at += OPT_CHUNK) {
        int64_t n = end - at < OPT_CHUNK ? end - at : OPT_CHUNK;
        for (int k = 0; k < j->nops; k++) {
            if (!ptrs[k]) continue;
            strided_offsets(j->ops[k], j->dense[k], at, n, offs);
            stage_load(j->ops[k], offs, n, ptrs[k]);
        }
        j->loop(ptrs, n, j->consts);
        for (int k = 0; k < j->nops; k++) {
            if (!ptrs[k] || k == 1) continue; /* the gradient is read only */
            strided_offsets(j->ops[k], j->dense[k], at, n, offs);
            stage_store(j->ops[k], offs, n, ptrs[k]);
        }
    }
}

static born_status opt_run(const char *name, int nops, const born_strided *const *ops,
                           opt_loop_fn loop32, const void *c32, opt_loop_fn loop64,
                           const void *c64) {
    born_dtype dt = ops[0]->dtype;
    if (!born_dtype_is_floating(dt))
        return born_error(BORN_ERR_DTYPE, "cpu %s: parameter dtype %s is not floating", name,
                          born_dtype_name(dt));
    opt_job j;
    memset(&j, 0, sizeof j);
    j.nops = nops;
    j.dtype = dt;
    j.direct = dt == BORN_F32 || dt == BORN_F64;
    for (int k = 0; k < nops; k++) {
        j.ops[k] = ops[k];
        j.dense[k] = row_major(ops[k]);
        if (ops[k]->data && !j.dense[k]) j.direct = false;
    }
    j.loop = dt == BORN_F64 ? loop64 : loop32;
    j.consts = dt == BORN_F64 ? c64 : c32;
    int64_t numel = 1;
    for (int d = 0; d < ops[0]->ndim; d++) numel *= ops[0]->shape[d];
    born_parallel_for(numel, OPT_GRAIN, opt_range, &j);
    return BORN_OK;
}

/* ---- entry points ----------------------------------------------------------------------------- */

#define SGD_CONSTS(T, a, out)                                                                    \
    do {                                                                                         \
        (out).wd = (T)(a)->weight_decay;                                                         \
        (out).mom = (T)(a)->momentum;                                                            \
        (out).omd = (T)(1 - (a)->dampening);                                                     \
        (out).neg_lr = (T)(-(a)->lr);                                                            \
        (out).maximize = (a)->maximize;                                                          \
    } while (0)

born_status cpu_sgd_step(const born_strided *param, const born_strided *grad,
                         const born_strided *momentum_buffer, const born_sgd_step_args *args) {
    sgd_c_f32 c32;
    sgd_c_f64 c64;
    SGD_CONSTS(float, args, c32);
    SGD_CONSTS(double, args, c64);
    const born_strided *ops[3] = {param, grad, momentum_buffer};
    int mode = args->momentum == 0 ? 0 : (args->first_step ? 1 : 3) + (args->nesterov ? 1 : 0);
    int k = (args->weight_decay != 0) * 5 + mode;
    return opt_run("sgd_step", 3, ops, sgd_loops_f32[k], &c32, sgd_loops_f64[k], &c64);
}

/* lerp weight w = T(1 - beta): coef and the branch of LERP. */
#define LERP_CONSTS(T, w, coef, small)                                                           \
    do {                                                                                         \
        T w_ = (T)(w);                                                                           \
        (small) = fabs((double)w_) < 0.5;                                                        \
        (coef) = (small) ? w_ : -((T)1 - w_);                                                    \
    } while (0)

#define ADAM_CONSTS(T, a, out)                                                                   \
    do {                                                                                         \
        bool decoupled_ = (a)->weight_decay != 0 && (a)->decoupled_weight_decay;                 \
        (out).wd = (T)(a)->weight_decay;                                                         \
        (out).decay = decoupled_ ? (T)(1 - (a)->lr * (a)->weight_decay) : (T)1;                  \
        LERP_CONSTS(T, 1 - (a)->beta1, (out).coef1, (out).small_w1);                             \
        (out).b2 = (T)(a)->beta2;                                                                \
        (out).omb2 = (T)(1 - (a)->beta2);                                                        \
        (out).bc2s = (T)(a)->bias_correction2_sqrt;                                              \
        (out).eps = (T)(a)->eps;                                                                 \
        (out).neg_step = (T)(-(a)->step_size);                                                   \
        (out).maximize = (a)->maximize;                                                          \
    } while (0)

#ifdef CPU_HAVE_AVX2_KERNELS
/* The AVX2 loop for the option set without L2 or amsgrad (bit-identical to adam_loop_f32_00). */
static void adam_loop_f32_avx2(void *const *ptrs, int64_t n, const void *consts) {
    cpu_adam_f32_avx2(ptrs[0], ptrs[1], ptrs[2], ptrs[3], n, consts);
}
#endif
#ifdef CPU_HAVE_NEON_KERNELS
/* The same on NEON (optim_neon.c; bit-identical to adam_loop_f32_00). */
static void adam_loop_f32_neon(void *const *ptrs, int64_t n, const void *consts) {
    cpu_adam_f32_neon(ptrs[0], ptrs[1], ptrs[2], ptrs[3], n, consts);
}
#endif

born_status cpu_adam_step(const born_strided *param, const born_strided *grad,
                          const born_strided *exp_avg, const born_strided *exp_avg_sq,
                          const born_strided *max_exp_avg_sq, const born_adam_step_args *args) {
    adam_c_f32 c32;
    adam_c_f64 c64;
    ADAM_CONSTS(float, args, c32);
    ADAM_CONSTS(double, args, c64);
    const born_strided *ops[5] = {param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq};
    int l2 = args->weight_decay != 0 && !args->decoupled_weight_decay;
    int k = l2 * 2 + (max_exp_avg_sq->data != NULL);
    cpu_adam_f32_consts cv = {c32.decay, c32.coef1,    c32.b2,       c32.omb2,    c32.bc2s,
                              c32.eps,   c32.neg_step, c32.small_w1, c32.maximize};
    (void)cv;
#ifdef CPU_HAVE_AVX2_KERNELS
    if (k == 0 && cpu_get_level() >= CPU_LEVEL_AVX2)
        return opt_run("adam_step", 5, ops, adam_loop_f32_avx2, &cv, adam_loops_f64[k], &c64);
#endif
#ifdef CPU_HAVE_NEON_KERNELS
    if (k == 0 && cpu_get_level() == CPU_LEVEL_NEON)
        return opt_run("adam_step", 5, ops, adam_loop_f32_neon, &cv, adam_loops_f64[k], &c64);
#endif
    return opt_run("adam_step", 5, ops, adam_loops_f32[k], &c32, adam_loops_f64[k], &c64);
}

#define RMSPROP_CONSTS(T, a, out)                                                                \
    do {                                                                                         \
        (out).wd = (T)(a)->weight_decay;                                                         \
        (out).alpha = (T)(a)->alpha;                                                             \
        (out).oma = (T)(1 - (a)->alpha);                                                         \
        LERP_CONSTS(T, 1 - (a)->alpha, (out).coef, (out).small_w);                               \
        (out).eps = (T)(a)->eps;                                                                 \
        (out).mom = (T)(a)->momentum;                                                            \
        (out).neg_lr = (T)(-(a)->lr);                                                            \
        (out).maximize = (a)->maximize;                                                          \
    } while (0)

born_status cpu_rmsprop_step(const born_strided *param, const born_strided *grad,
                             const born_strided *square_avg, const born_strided *grad_avg,
                             const born_strided *momentum_buffer,
                             const born_rmsprop_step_args *args) {
    rmsprop_c_f32 c32;
    rmsprop_c_f64 c64;
    RMSPROP_CONSTS(float, args, c32);
    RMSPROP_CONSTS(double, args, c64);
    const born_strided *ops[5] = {param, grad, square_avg, grad_avg, momentum_buffer};
    int k = (args->weight_decay != 0) * 4 + (grad_avg->data != NULL) * 2 +
            (momentum_buffer->data != NULL);
    return opt_run("rmsprop_step", 5, ops, rmsprop_loops_f32[k], &c32, rmsprop_loops_f64[k], &c64);
}
