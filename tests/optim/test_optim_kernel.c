/* The fused optimizer kernels against a plain implementation of torch's _single_tensor_* code with
 * Born tensor ops (bit for bit in f32 and f64), for every option; the same with 1 and 2 threads,
 * with strided parameters and gradients, and for f16/bf16 parameters (computed in f32, rounded
 * once per step); and the SIMD Adam loops (AVX2; NEON) against the portable one, bit for bit. */
#include <string.h>

#include "core/cpu_features.h"
#include "optim/problem.h"

enum { OPT_SGD, OPT_ADAM, OPT_RMSPROP };

typedef struct variant {
    int algo;
    born_sgd_params sgd;
    born_adam_params adam;
    bool decoupled;
    born_rmsprop_params rms;
} variant;

/* The reference state: the parameter and up to three state tensors (owned by the caller's scope,
 * replaced at every step). */
typedef struct ref_state {
    born_tensor *p, *s[3];
    int step;
} ref_state;

static born_tensor *keep(born_tensor *t) { return born_keep(t); }

/* lerp(self, end, w) as torch: w = T(weight); |w| < 0.5 ? self + w (end - self) : end - (end -
 * self)(1 - w), with 1 - w computed in T. */
static born_tensor *lerp_ref(born_tensor *self, born_tensor *end, double weight) {
    bool f32 = born_tensor_dtype(self) == BORN_F32;
    double w = f32 ? (double)(float)weight : weight;
    born_tensor *diff = born_sub(end, self);
    if (fabs(w) < 0.5) return born_add(self, born_mul_scalar(diff, w));
    double omw = f32 ? (double)(1.0f - (float)w) : 1.0 - w;
    return born_sub(end, born_mul_scalar(diff, omw));
}

/* One step of torch's algorithm on r with gradient g, with public tensor ops. */
static void ref_step(ref_state *r, born_tensor *g, const variant *v) {
    born_scope_begin();
    born_tensor *p = r->p, **s = r->s;
    r->step++;
    if (v->algo == OPT_SGD) {
        const born_sgd_params *h = &v->sgd;
        if (h->maximize) g = born_neg(g);
        if (h->weight_decay != 0) g = born_add(g, born_mul_scalar(p, h->weight_decay));
        if (h->momentum != 0) {
            s[0] = r->step == 1 ? born_clone(g)
                                : born_add(born_mul_scalar(s[0], h->momentum),
                                           born_mul_scalar(g, 1 - h->dampening));
            g = h->nesterov ? born_add(g, born_mul_scalar(s[0], h->momentum)) : s[0];
        }
        p = born_add(p, born_mul_scalar(g, -h->lr));
    } else if (v->algo == OPT_ADAM) {
        const born_adam_params *h = &v->adam;
        if (h->maximize) g = born_neg(g);
        if (h->weight_decay != 0) {
            if (v->decoupled) p = born_mul_scalar(p, 1 - h->lr * h->weight_decay);
            else g = born_add(g, born_mul_scalar(p, h->weight_decay));
        }
        s[0] = lerp_ref(s[0], g, 1 - h->betas[0]);
        s[1] = born_add(born_mul_scalar(s[1], h->betas[1]),
                        born_mul(born_mul_scalar(g, 1 - h->betas[1]), g));
        born_tensor *d = s[1];
        if (h->amsgrad) d = s[2] = born_maximum(s[2], s[1]);
        double bc1 = 1 - pow(h->betas[0], r->step), bc2 = 1 - pow(h->betas[1], r->step);
        double step_size = h->lr / bc1, bc2s = pow(bc2, 0.5);
        born_tensor *denom = born_add_scalar(born_div_scalar(born_sqrt(d), bc2s), h->eps);
        p = born_add(p, born_div(born_mul_scalar(s[0], -step_size), denom));
    } else {
        const born_rmsprop_params *h = &v->rms;
        if (h->maximize) g = born_neg(g);
        if (h->weight_decay != 0) g = born_add(g, born_mul_scalar(p, h->weight_decay));
        s[0] = born_add(born_mul_scalar(s[0], h->alpha), born_mul(born_mul_scalar(g, 1 - h->alpha), g));
        born_tensor *avg;
        if (h->centered) {
            s[2] = lerp_ref(s[2], g, 1 - h->alpha);
            avg = born_sqrt(born_add(s[0], born_mul(born_mul_scalar(s[2], -1), s[2])));
        } else {
            avg = born_sqrt(s[0]);
        }
        avg = born_add_scalar(avg, h->eps);
        if (h->momentum > 0) {
            s[1] = born_add(born_mul_scalar(s[1], h->momentum), born_div(g, avg));
            p = born_add(p, born_mul_scalar(s[1], -h->lr));
        } else {
            p = born_add(p, born_div(born_mul_scalar(g, -h->lr), avg));
        }
    }
    CHECK_OK_TENSOR(p);
    r->p = keep(p);
    for (int k = 0; k < 3; k++)
        if (s[k]) s[k] = keep(s[k]);
    born_scope_end();
}

static born_optimizer *make_opt(born_tensor *p, const variant *v) {
    if (v->algo == OPT_SGD) return born_sgd(&p, 1, &v->sgd);
    if (v->algo == OPT_ADAM) return v->decoupled ? born_adamw(&p, 1, &v->adam) : born_adam(&p, 1, &v->adam);
    return born_rmsprop(&p, 1, &v->rms);
}

/* Deterministic values of mixed signs and magnitudes: scale * sin(i * freq + phase). */
static born_tensor *wave(born_dtype dtype, int64_t n, double freq, double phase, double scale) {
    born_tensor *i = born_arange(0, (double)n, 1, BORN_F64);
    born_tensor *w = born_mul_scalar(born_sin(born_add_scalar(born_mul_scalar(i, freq), phase)), scale);
    return born_to_dtype(w, dtype);
}

static born_tensor *gradient(born_dtype dtype, int64_t n, int step) {
    return wave(dtype, n, 0.7 + 0.01 * step, step, 1.0 + step);
}

static variant variants[16];
static int nvariants;

static void build_variants(void) {
    if (nvariants) return;
    variant v;
    memset(&v, 0, sizeof v);
    v.algo = OPT_SGD;
    v.sgd = born_sgd_default_params();
    v.sgd.lr = 0.1;
    variants[nvariants++] = v;
    v.sgd.momentum = 0.9;
    v.sgd.dampening = 0.25;
    v.sgd.weight_decay = 0.01;
    variants[nvariants++] = v;
    v.sgd.dampening = 0;
    v.sgd.nesterov = true;
    v.sgd.maximize = true;
    variants[nvariants++] = v;
    memset(&v, 0, sizeof v);
    v.algo = OPT_ADAM;
    v.adam = born_adam_default_params();
    v.adam.lr = 0.01;
    variants[nvariants++] = v;
    v.adam.amsgrad = true;
    v.adam.weight_decay = 0.1;
    v.adam.maximize = true;
    variants[nvariants++] = v;
    v.adam.betas[0] = 0.2; /* lerp's other branch */
    v.adam.betas[1] = 0.6;
    v.decoupled = true;
    variants[nvariants++] = v;
    v.adam = born_adamw_default_params();
    variants[nvariants++] = v;
    memset(&v, 0, sizeof v);
    v.algo = OPT_RMSPROP;
    v.rms = born_rmsprop_default_params();
    variants[nvariants++] = v;
    v.rms.centered = true;
    v.rms.momentum = 0.8;
    v.rms.weight_decay = 0.05;
    variants[nvariants++] = v;
    v.rms.alpha = 0.4;
    v.rms.maximize = true;
    v.rms.momentum = 0;
    variants[nvariants++] = v;
}

TEST(optim_fused_kernel_matches_tensor_ops) {
    build_variants();
    const int64_t n = 1000;
    for (int dt = 0; dt < 2; dt++) {
        born_dtype dtype = dt ? BORN_F64 : BORN_F32;
        for (int i = 0; i < nvariants; i++) {
            born_scope_begin();
            const variant *v = &variants[i];
            born_tensor *p0 = wave(dtype, n, 1.3, 0.5, 2.0);
            born_tensor *p = born_requires_grad(born_clone(p0), true);
            born_optimizer *opt = make_opt(p, v);
            ref_state r = {.p = p0, .s = {born_zeros_like(p0), born_zeros_like(p0), born_zeros_like(p0)}};
            for (int s = 1; s <= 5; s++) {
                born_tensor *g = gradient(dtype, n, s);
                CHECK_OK(born_set_grad(p, g));
                CHECK_OK(born_optimizer_step(opt));
                ref_step(&r, g, v);
            }
            CHECK_MSG(tensors_identical(p, r.p), "variant %d %s: fused and tensor-op updates differ",
                      i, born_dtype_name(dtype));
            born_optimizer_free(opt);
            born_scope_end();
        }
    }
}

/* Runs 3 steps of variant v from p0 (any layout) with the given thread count; returns p. */
static born_tensor *run_threads(born_tensor *p0, const variant *v, int threads, bool strided_grad) {
    int saved = born_get_num_threads();
    CHECK_OK(born_set_num_threads(threads));
    born_tensor *p = born_requires_grad(born_detach(born_clone(p0)), true);
    if (born_tensor_ndim(p0) == 2 && !born_tensor_is_contiguous(p0)) /* keep p0's layout */
        p = born_requires_grad(born_detach(born_transpose(born_contiguous(born_transpose(p0, 0, 1)), 0, 1)), true);
    born_optimizer *opt = make_opt(p, v);
    int nd = born_tensor_ndim(p0);
    for (int s = 1; s <= 3; s++) {
        born_tensor *g = born_reshape(gradient(born_tensor_dtype(p0), born_tensor_numel(p0), s), nd,
                                      born_tensor_shape(p0));
        if (strided_grad && nd == 2)
            g = born_transpose(born_contiguous(born_transpose(g, 0, 1)), 0, 1);
        CHECK_OK(born_set_grad(p, g));
        CHECK_OK(born_optimizer_step(opt));
    }
    born_optimizer_free(opt);
    CHECK_OK(born_set_num_threads(saved));
    return p;
}

TEST(optim_fused_kernel_thread_count_independent) {
    build_variants();
    const int64_t rows = 150, cols = 229; /* 34350 elements: three 16384-element chunks */
    born_dtype dtypes[4] = {BORN_F32, BORN_F64, BORN_F16, BORN_BF16};
    for (int d = 0; d < 4; d++) {
        for (int i = 0; i < nvariants; i += 2) {
            born_scope_begin();
            born_tensor *p0 = born_reshape(wave(dtypes[d], rows * cols, 1.3, 0.5, 2.0), BORN_DIMS(rows, cols));
            born_tensor *a = run_threads(p0, &variants[i], 1, false);
            born_tensor *b = run_threads(p0, &variants[i], 2, false);
            CHECK_MSG(tensors_identical(a, b), "variant %d %s: 1 and 2 threads differ", i,
                      born_dtype_name(dtypes[d]));
            /* strided parameter and gradient (the staged path) give the same values too */
            born_tensor *pt = born_transpose(born_contiguous(born_transpose(p0, 0, 1)), 0, 1);
            born_tensor *c = run_threads(pt, &variants[i], 2, true);
            CHECK(!born_tensor_is_contiguous(c));
            CHECK_MSG(tensors_identical(born_contiguous(c), a), "variant %d %s: strided differs",
                      i, born_dtype_name(dtypes[d]));
            born_scope_end();
        }
    }
}

TEST(optim_half_precision_rounds_once_per_step) {
    /* f16/bf16: each step computes in f32 from the stored values and rounds the parameter and the
     * state once; the f32 reference with its state rounded the same way after each step agrees
     * bit for bit */
    build_variants();
    const int64_t n = 777;
    born_dtype halves[2] = {BORN_F16, BORN_BF16};
    int picks[3] = {1, 4, 8}; /* SGD momentum, Adam amsgrad, RMSprop centered momentum */
    for (int h = 0; h < 2; h++) {
        for (int q = 0; q < 3; q++) {
            born_scope_begin();
            const variant *v = &variants[picks[q]];
            born_tensor *p0 = wave(halves[h], n, 1.3, 0.5, 2.0);
            born_tensor *p = born_requires_grad(born_clone(p0), true);
            born_optimizer *opt = make_opt(p, v);
            born_tensor *p32 = born_to_dtype(p0, BORN_F32);
            ref_state r = {.p = p32, .s = {born_zeros_like(p32), born_zeros_like(p32), born_zeros_like(p32)}};
            for (int s = 1; s <= 4; s++) {
                born_tensor *g = gradient(halves[h], n, s);
                CHECK_OK(born_set_grad(p, g));
                CHECK_OK(born_optimizer_step(opt));
                ref_step(&r, born_to_dtype(g, BORN_F32), v);
                r.p = born_to_dtype(born_to_dtype(r.p, halves[h]), BORN_F32);
                for (int k = 0; k < 3; k++)
                    r.s[k] = born_to_dtype(born_to_dtype(r.s[k], halves[h]), BORN_F32);
            }
            CHECK_MSG(tensors_identical(p, born_to_dtype(r.p, halves[h])),
                      "variant %d %s: differs from the rounded f32 reference", picks[q],
                      born_dtype_name(halves[h]));
            born_optimizer_free(opt);
            born_scope_end();
        }
    }
}

/* The f32 Adam/AdamW loop at every SIMD level this CPU has (AVX2, which AVX-512 also takes; NEON)
 * against the portable loop (CPU_LEVEL_SCALAR), bit for bit: the option sets that take it (no L2
 * weight decay, no amsgrad; lerp's two branches, maximize, decoupled weight decay) over lengths
 * that end on every tail of the vector loops, three steps each. */
TEST(optim_adam_simd_matches_portable) {
    const cpu_level saved = cpu_get_level();
    const cpu_level levels[] = {CPU_LEVEL_AVX2, CPU_LEVEL_NEON};
    const int64_t lens[] = {1, 3, 7, 8, 15, 17, 33, 100, 1000, 1003};
    variant vs[3];
    memset(vs, 0, sizeof vs);
    vs[0].algo = vs[1].algo = vs[2].algo = OPT_ADAM;
    vs[0].adam = born_adam_default_params();
    vs[0].adam.lr = 0.01;
    vs[1].adam = vs[0].adam;
    vs[1].adam.betas[0] = 0.2; /* lerp's other branch */
    vs[1].adam.betas[1] = 0.6;
    vs[1].adam.maximize = true;
    vs[2].adam = born_adamw_default_params();
    vs[2].adam.weight_decay = 0.1;
    vs[2].decoupled = true;
    int ran = 0;
    for (int l = 0; l < 2; l++) {
        cpu_set_level(levels[l]);
        if (cpu_get_level() != levels[l]) continue;
        ran++;
        for (int v = 0; v < 3; v++)
            for (int ln = 0; ln < 10; ln++) {
                born_scope_begin();
                born_tensor *p0 = wave(BORN_F32, lens[ln], 1.3, 0.5, 2.0), *got[2];
                for (int path = 0; path < 2; path++) {
                    cpu_set_level(path ? CPU_LEVEL_SCALAR : levels[l]);
                    born_tensor *p = born_requires_grad(born_clone(p0), true);
                    born_optimizer *opt = make_opt(p, &vs[v]);
                    for (int s = 1; s <= 3; s++) {
                        CHECK_OK(born_set_grad(p, gradient(BORN_F32, lens[ln], s)));
                        CHECK_OK(born_optimizer_step(opt));
                    }
                    born_optimizer_free(opt);
                    got[path] = p;
                }
                CHECK_MSG(tensors_identical(got[0], got[1]),
                          "Adam variant %d, %lld elements: %s and portable updates differ", v,
                          (long long)lens[ln], cpu_level_name(levels[l]));
                born_scope_end();
            }
    }
    if (!ran) printf("  optim_adam_simd: skipped: no SIMD level on this CPU\n");
    cpu_set_level(saved);
}
