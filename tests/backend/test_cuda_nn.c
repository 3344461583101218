/* The layer kernels on CUDA against the CPU (conv2d, pooling, layer/RMS norm, forward and
 * gradients) with fresh random inputs, and modules moved to the GPU with born_module_to training
 * as on the CPU (an MLP and a small CNN, f32 losses within 1e-4). `make test-cuda` runs them with
 * poisoned device memory. Without a GPU only the error paths run. */
#include <math.h>
#include <stdlib.h>

#include "backend/cuda_check.h"

#define CLOSE(what, ref, got, tol) cuda_close_floor(what, __FILE__, __LINE__, ref, got, tol, 0)

/* The Frobenius norm of t (0 if missing). */
static double norm_of(born_tensor *t) {
    double v = 0;
    born_scope_begin();
    born_tensor *n = t ? born_sqrt(born_sum(born_square(born_to_dtype(t, BORN_F64)), 0, NULL, false)) : NULL;
    if (!n || !test_read(n, &v, 1)) v = 0;
    born_scope_end();
    return v;
}

static double tol_of(born_dtype dt) { return dt == BORN_F64 ? 1e-12 : dt == BORN_F32 ? 2e-6 : 1e-2; }

/* ---- conv2d ---------------------------------------------------------------------------------- */

typedef struct conv_case {
    int64_t n, c, h, w, o, kh, kw, stride, pad, dil, groups;
    bool bias;
} conv_case;

/* out = conv(x, w, b); loss = sum(out * r); returns out and fills dx, dw, db. */
static born_tensor *conv_run(const conv_case *k, born_tensor *x, born_tensor *w, born_tensor *b,
                             born_tensor *r, born_tensor **dx, born_tensor **dw, born_tensor **db) {
    born_conv2d_params p = born_conv2d_default_params();
    p.stride[0] = p.stride[1] = k->stride;
    p.padding[0] = p.padding[1] = k->pad;
    p.dilation[0] = p.dilation[1] = k->dil;
    p.groups = k->groups;
    x = born_requires_grad(born_clone(x), true);
    w = born_requires_grad(born_clone(w), true);
    if (b) b = born_requires_grad(born_clone(b), true);
    born_tensor *out = born_conv2d(x, w, b, &p);
    if (!out || born_backward(born_sum(born_mul(out, r), 0, NULL, false)) != BORN_OK) return NULL;
    *dx = born_grad(x);
    *dw = born_grad(w);
    *db = b ? born_grad(b) : NULL;
    return out;
}

TEST(cuda_nn_conv2d) {
    if (!cuda_gpu_or_skip("cuda_nn_conv2d")) return;
    const conv_case cases[] = {
        {4, 3, 12, 11, 8, 3, 3, 1, 0, 1, 1, true},  {3, 4, 13, 13, 6, 3, 3, 2, 1, 1, 2, true},
        {2, 6, 10, 9, 6, 3, 2, 1, 2, 2, 3, false}, {5, 1, 28, 28, 32, 3, 3, 1, 0, 1, 1, true},
        {2, 8, 7, 7, 4, 1, 1, 1, 0, 1, 1, true},   {2, 4, 9, 9, 8, 5, 5, 3, 2, 1, 4, true},
    };
    born_dtype dts[] = {BORN_F32, BORN_F64, BORN_BF16};
    for (int d = 0; d < 3; d++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const conv_case *k = &cases[i];
            born_scope_begin();
            born_tensor *x = cuda_randn(dts[d], 4, (const int64_t[]){k->n, k->c, k->h, k->w});
            born_tensor *w = cuda_randn(dts[d], 4, (const int64_t[]){k->o, k->c / k->groups, k->kh, k->kw});
            born_tensor *b = k->bias ? cuda_randn(dts[d], 1, (const int64_t[]){k->o}) : NULL;
            born_tensor *dx, *dw, *db, *gx, *gw, *gb;
            /* the upstream gradient r is drawn to the output's shape */
            born_conv2d_params p = born_conv2d_default_params();
            p.stride[0] = p.stride[1] = k->stride;
            p.padding[0] = p.padding[1] = k->pad;
            p.dilation[0] = p.dilation[1] = k->dil;
            p.groups = k->groups;
            born_tensor *probe = born_conv2d(x, w, b, &p);
            born_tensor *r = cuda_randn(dts[d], born_tensor_ndim(probe), born_tensor_shape(probe));
            born_tensor *ref = conv_run(k, x, w, b, r, &dx, &dw, &db);
            born_tensor *got = conv_run(k, cuda_to_gpu(x), cuda_to_gpu(w), b ? cuda_to_gpu(b) : NULL, cuda_to_gpu(r), &gx, &gw, &gb);
            double tol = tol_of(dts[d]);
            CLOSE("conv2d", ref, got, tol);
            CLOSE("conv2d grad input", dx, gx, tol);
            CLOSE("conv2d grad weight", dw, gw, tol);
            if (b) CLOSE("conv2d grad bias", db, gb, tol);
            born_scope_end();
        }
    }
}

/* ---- pooling --------------------------------------------------------------------------------- */

static born_tensor *pool_run(bool is_max, born_tensor *x, const born_pool2d_params *p, born_tensor *r,
                             born_tensor **dx) {
    x = born_requires_grad(born_clone(x), true);
    born_tensor *out = is_max ? born_max_pool2d(x, p) : born_avg_pool2d(x, p);
    if (!out || born_backward(born_sum(born_mul(out, r), 0, NULL, false)) != BORN_OK) return NULL;
    *dx = born_grad(x);
    return out;
}

TEST(cuda_nn_pool2d) {
    if (!cuda_gpu_or_skip("cuda_nn_pool2d")) return;
    born_dtype dts[] = {BORN_F32, BORN_F64, BORN_BF16};
    for (int d = 0; d < 3; d++) {
        for (int variant = 0; variant < 5; variant++) {
            born_pool2d_params p = born_pool2d_default_params(variant == 2 ? 3 : 2, variant == 2 ? 3 : 2);
            if (variant == 1) p.stride[0] = p.stride[1] = 1; /* overlapping windows */
            if (variant == 2) {
                p.stride[0] = p.stride[1] = 2;
                p.padding[0] = p.padding[1] = 1;
                p.ceil_mode = true;
            }
            if (variant == 3) {
                p.padding[0] = p.padding[1] = 1;
                p.count_include_pad = false;
            }
            if (variant == 4) {
                p.kernel[0] = 3;
                p.stride[0] = 2;
                p.divisor_override = 5;
            }
            for (int is_max = 0; is_max < 2; is_max++) {
                born_scope_begin();
                born_pool2d_params q = p;
                if (is_max && variant == 4) q.divisor_override = 0, q.dilation[0] = 2;
                born_tensor *x = cuda_randn(dts[d], 4, (const int64_t[]){3, 5, 13, 12});
                born_tensor *probe = is_max ? born_max_pool2d(x, &q) : born_avg_pool2d(x, &q);
                born_tensor *r = cuda_randn(dts[d], 4, born_tensor_shape(probe));
                born_tensor *dx, *gx;
                born_tensor *ref = pool_run(is_max, x, &q, r, &dx);
                born_tensor *got = pool_run(is_max, cuda_to_gpu(x), &q, cuda_to_gpu(r), &gx);
                double tol = tol_of(dts[d]);
                CLOSE(is_max ? "max_pool2d" : "avg_pool2d", ref, got, tol);
                CLOSE(is_max ? "max_pool2d grad" : "avg_pool2d grad", dx, gx, tol);
                if (is_max) { /* the indices agree exactly */
                    born_tensor *ic = NULL, *ig = NULL;
                    born_max_pool2d_with_indices(x, &q, &ic);
                    born_max_pool2d_with_indices(cuda_to_gpu(x), &q, &ig);
                    CLOSE("max_pool2d indices", born_to_dtype(ic, BORN_F64),
                          born_to_dtype(ig, BORN_F64), 0.0);
                    born_free(ic);
                    born_free(ig);
                }
                born_scope_end();
            }
        }
    }
}

/* ---- norms ----------------------------------------------------------------------------------- */

static born_tensor *norm_run(bool rms, born_tensor *x, born_tensor *w, born_tensor *b, born_tensor *r,
                             born_tensor **g) {
    int64_t n = born_tensor_shape(x)[born_tensor_ndim(x) - 1];
    x = born_requires_grad(born_clone(x), true);
    if (w) w = born_requires_grad(born_clone(w), true);
    if (b) b = born_requires_grad(born_clone(b), true);
    born_tensor *out = rms ? born_rms_norm(x, 1, &n, w, 1e-6) : born_layer_norm(x, 1, &n, w, b, 1e-5);
    if (!out || born_backward(born_sum(born_mul(out, r), 0, NULL, false)) != BORN_OK) return NULL;
    g[0] = born_grad(x);
    g[1] = w ? born_grad(w) : NULL;
    g[2] = b ? born_grad(b) : NULL;
    return out;
}

TEST(cuda_nn_layer_and_rms_norm) {
    if (!cuda_gpu_or_skip("cuda_nn_layer_and_rms_norm")) return;
    /* f16/bf16 go through row_norm_half (widths of 8k: 8 elements a load) */
    born_dtype dts[] = {BORN_F32, BORN_F64, BORN_BF16, BORN_F16};
    const int64_t widths[] = {1, 7, 256, 1000, 4099};
    for (int d = 0; d < 4; d++)
        for (int wi = 0; wi < 5; wi++)
            for (int rms = 0; rms < 2; rms++)
                for (int affine = 0; affine < 2; affine++) {
                    born_scope_begin();
                    int64_t n = widths[wi];
                    born_tensor *x = born_add_scalar(cuda_randn(dts[d], 3, (const int64_t[]){3, 5, n}), 0.5);
                    born_tensor *w = affine ? cuda_randn(dts[d], 1, &n) : NULL;
                    born_tensor *b = affine && !rms ? cuda_randn(dts[d], 1, &n) : NULL;
                    born_tensor *r = cuda_randn(dts[d], 3, (const int64_t[]){3, 5, n});
                    born_tensor *gc[3], *gg[3];
                    born_tensor *ref = norm_run(rms, x, w, b, r, gc);
                    born_tensor *got = norm_run(rms, cuda_to_gpu(x), w ? cuda_to_gpu(w) : NULL, b ? cuda_to_gpu(b) : NULL, cuda_to_gpu(r), gg);
                    double tol = dts[d] == BORN_F64 ? 1e-11 : dts[d] == BORN_F32 ? 1e-5 : dts[d] == BORN_F16 ? 4e-3 : 2e-2;
                    const char *nm = rms ? "rms_norm" : "layer_norm";
                    CLOSE(nm, ref, got, tol);
                    /* (at n = 1 the input gradient is pure cancellation: eps / (x^2 + eps)) */
                    if (n > 1) CLOSE("norm grad x", gc[0], gg[0], tol);
                    /* the weight and bias gradients sum r (times xhat, |xhat| ~ 1) over 15 rows:
                     * measured against ||r||, which is ||ref|| on average, since at n = 1 the one
                     * sum can cancel to near zero and its own norm then means nothing */
                    if (w) cuda_close_floor("norm grad weight", __FILE__, __LINE__, gc[1], gg[1], tol, norm_of(r));
                    if (b) cuda_close_floor("norm grad bias", __FILE__, __LINE__, gc[2], gg[2], tol, norm_of(r));
                    born_scope_end();
                }
}

/* ---- modules on the GPU ---------------------------------------------------------------------- */

static born_module *mlp(uint64_t s) {
    born_generator *g = born_generator_new(s);
    born_module *m = born_sequential_of(BORN_MODULES(born_flatten_new(1, -1), born_linear_new(144, 48, true, g),
                                                     born_relu_new(), born_linear_new(48, 10, true, g)));
    born_generator_free(g);
    return m;
}

static born_module *cnn(uint64_t s) {
    born_generator *g = born_generator_new(s);
    born_conv2d_options k3 = born_conv2d_default_options(3, 3);
    born_pool2d_params pool = born_pool2d_default_params(2, 2);
    born_module *m = born_sequential_of(BORN_MODULES(
        born_conv2d_new(1, 8, &k3, g), born_relu_new(), born_max_pool2d_new(&pool),
        born_conv2d_new(8, 16, &k3, g), born_relu_new(), born_avg_pool2d_new(&pool),
        born_flatten_new(1, -1), born_linear_new(16, 10, true, g)));
    born_generator_free(g);
    return m;
}

/* Trains m for `steps` AdamW steps on fixed random batches; the loss of each step in losses. */
static void train(born_module *m, born_device dev, born_tensor *x, born_tensor *y, int steps,
                  double *losses) {
    CHECK_OK(born_module_to(m, dev));
    int64_t np = 0;
    born_tensor **params = born_module_parameters(m, &np);
    born_adam_params ap = born_adamw_default_params();
    ap.lr = 3e-3;
    born_optimizer *opt = born_adamw(params, np, &ap);
    free(params);
    born_tensor *xd = born_to(x, dev), *yd = born_to(y, dev);
    for (int s = 0; s < steps; s++) {
        born_scope_begin();
        born_optimizer_zero_grad(opt);
        born_tensor *loss = born_cross_entropy(born_module_forward(m, xd), yd, NULL);
        CHECK_OK(born_backward(loss));
        CHECK_OK(born_optimizer_step(opt));
        if (!test_read(loss, &losses[s], 1)) losses[s] = NAN;
        born_scope_end();
    }
    born_optimizer_free(opt);
    born_free(xd);
    born_free(yd);
}

/* m's parameters scaled by 1 + rel, in place. */
static void perturb(born_module *m, double rel) {
    int64_t n = 0;
    born_tensor **p = born_module_parameters(m, &n);
    born_no_grad_begin();
    for (int64_t i = 0; i < n; i++) CHECK_OK(born_mul_scalar_(p[i], 1.0 + rel));
    born_no_grad_end();
    free(p);
}

/* Trains make(seed) for 25 AdamW steps on the CPU and on the GPU: every step's loss within 1e-4,
 * and the trained parameters within 1e-4 or, where the trajectory itself is that sensitive, within
 * four times the distance a 2^-20 relative change of the initial parameters moves them on the CPU.
 * (Adam divides by the gradients' running magnitude, so parameters whose gradients are sums that
 * cancel to near zero, or that cross a ReLU's kink, take steps of up to lr on rounding alone: with
 * some seeds the CPU's own f32 run ends 7e-4 away from the f64 one, while the GPU's ends 4e-5
 * away, and the perturbed CPU run 8e-4 from the CPU's; typically all three are under 1e-6.) */
static void follows_cpu(const char *what, born_module *(*make)(uint64_t), born_tensor *x, born_tensor *y) {
    enum { STEPS = 25 };
    double lc[STEPS], lg[STEPS], lp[STEPS];
    born_module *mc = make(cuda_test_seed), *mg = make(cuda_test_seed), *mp = make(cuda_test_seed);
    perturb(mp, 0x1p-20);
    train(mc, BORN_CPU, x, y, STEPS, lc);
    train(mg, BORN_CUDA(0), x, y, STEPS, lg);
    train(mp, BORN_CPU, x, y, STEPS, lp);
    for (int s = 0; s < STEPS; s++)
        CHECK_MSG(fabs(lg[s] - lc[s]) <= 1e-4 * fabs(lc[s]), "%s step %d: gpu loss %.9g, cpu %.9g (seed %llu)",
                  what, s, lg[s], lc[s], cuda_test_seed);
    CHECK_MSG(lc[STEPS - 1] < lc[0] * 0.95, "%s: the loss falls (%g -> %g)", what, lc[0], lc[STEPS - 1]);
    /* the parameters moved back agree too */
    CHECK_OK(born_module_to(mg, BORN_CPU));
    int64_t n = 0, n2 = 0, n3 = 0;
    born_tensor **pc = born_module_parameters(mc, &n), **pg = born_module_parameters(mg, &n2);
    born_tensor **pp = born_module_parameters(mp, &n3);
    CHECK(n == n2 && n == n3 && n > 0);
    for (int64_t i = 0; i < n && i < n2 && i < n3; i++) {
        CHECK(born_tensor_device(pg[i]).type == BORN_DEVICE_CPU);
        double sensitivity = cuda_rel_error(pc[i], pp[i], 0);
        CLOSE("trained parameter", pc[i], cuda_to_gpu(pg[i]), fmax(1e-4, 4 * sensitivity));
    }
    free(pc);
    free(pg);
    free(pp);
    born_module_free(mc);
    born_module_free(mg);
    born_module_free(mp);
}

TEST(cuda_nn_modules_train_on_the_gpu_like_the_cpu) {
    if (!cuda_gpu_or_skip("cuda_nn_modules_train_on_the_gpu_like_the_cpu")) return;
    born_scope_begin();
    born_tensor *x = cuda_randn(BORN_F32, 4, (const int64_t[]){32, 1, 12, 12}); /* 12 -> 10 -> 5 -> 3 -> 1 */
    born_tensor *y = born_randint(cuda_test_gen, 0, 10, BORN_I64, BORN_DIMS(32));
    follows_cpu("mlp", mlp, x, y);
    follows_cpu("cnn", cnn, x, y);
    born_scope_end();
}

TEST(cuda_nn_module_to_reports_missing_devices) {
    born_module *m = mlp(1);
    CHECK_OK(born_module_to(m, BORN_CPU));
    int n = born_device_count(BORN_DEVICE_CUDA);
    CHECK(born_module_to(m, BORN_CUDA(n)) == BORN_ERR_DEVICE);
    CHECK_ERROR(BORN_ERR_DEVICE, "born_module_to");
    CHECK(born_module_to(NULL, BORN_CPU) == BORN_ERR_ARGUMENT);
    born_clear_error();
    born_tensor *w = born_module_get_parameter(m, "1.weight");
    CHECK(w && born_tensor_device(w).type == BORN_DEVICE_CPU);
    born_module_free(m);
}
