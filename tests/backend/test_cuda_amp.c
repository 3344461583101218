/* Dynamic loss scaling on CUDA with the scale, the growth tracker and the inf/NaN flag on the
 * device (src/optim/grad_scaler_device.c): the multi-tensor unscale kernel against the composed
 * ops (every floating dtype, long and empty gradients, more than one launch, inf/NaN, f16
 * overflow); a small MLP trained under f16 autocast with AdamW and a GradScaler on the GPU (with
 * stepped read back, and without: the kernels skip) against the same steps on the CPU, through
 * f16 overflows (backoff), an inf fed in the input and growth: the same scale sequence, stepped
 * flags, step counts, and parameters within f16's rounding; the same step captured once as a CUDA
 * graph and replayed against eager steps (parameters, scales and step counts, skipped steps
 * included); and what a capture refuses: a stepped read-back, SGD's host-side skip, the scaler's
 * state created inside the capture. Without a GPU only the skip messages print. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_check.h"
#include "optim/amp_internal.h"

/* ---- the unscale kernel ------------------------------------------------------------------------- */

/* Whether a and b hold the same values (NaN matching NaN, the signs of zeros compared). */
static bool same_values(born_tensor *a, born_tensor *b) {
    int64_t n = born_tensor_numel(a);
    if (n != born_tensor_numel(b) || born_tensor_dtype(a) != born_tensor_dtype(b)) return false;
    double *va = malloc(sizeof *va * (size_t)(n ? n : 1)), *vb = malloc(sizeof *vb * (size_t)(n ? n : 1));
    bool same = va && vb && test_read(a, va, n) && test_read(b, vb, n);
    for (int64_t i = 0; same && i < n; i++)
        same = isnan(va[i]) ? isnan(vb[i]) : va[i] == vb[i] && signbit(va[i]) == signbit(vb[i]);
    free(va);
    free(vb);
    return same;
}

static double value_of(born_tensor *t) {
    double v = NAN;
    return test_read(t, &v, 1) ? v : NAN;
}

enum { K_GRADS = 140 }; /* more than one launch (128 a launch) */

TEST(cuda_amp_unscale_kernel_matches_ops) {
    if (!cuda_gpu_or_skip("cuda_amp_unscale_kernel_matches_ops")) return;
    static const born_dtype dts[4] = {BORN_F32, BORN_F16, BORN_BF16, BORN_F64};
    for (int c = 0; c < 4; c++) {
        born_scope_begin();
        born_tensor *gk[K_GRADS], *go[K_GRADS];
        for (int i = 0; i < K_GRADS; i++) {
            int64_t n = i == 3 ? 3 * 8192 + 5 : i == 7 ? 0 : 1 + (i * 37) % 300;
            born_tensor *g = cuda_to_gpu(born_mul_scalar(cuda_randn(dts[i % 4], BORN_DIMS(n)), 100));
            gk[i] = g;
            go[i] = born_clone(g);
        }
        if (c == 1) CHECK_OK(born_fill_(born_select(gk[3], 0, 20000), INFINITY));
        if (c == 2) CHECK_OK(born_fill_(born_select(gk[137], 0, 0), NAN));
        if (c == 1) CHECK_OK(born_fill_(born_select(go[3], 0, 20000), INFINITY));
        if (c == 2) CHECK_OK(born_fill_(born_select(go[137], 0, 0), NAN));
        float sv = c == 3 ? 1.0f / 1024 : 65536.0f, one = 1;
        born_tensor *scale = cuda_to_gpu(born_from_data(BORN_F32, 0, NULL, &sv, sizeof sv));
        born_tensor *fk = cuda_to_gpu(born_from_data(BORN_F32, 0, NULL, &one, sizeof one));
        born_tensor *fo = born_clone(fk);
        CHECK_OK(amp_unscale_tensors(gk, K_GRADS, fk, scale, true));
        CHECK_OK(amp_unscale_tensors(go, K_GRADS, fo, scale, false));
        /* case 3: x 1024 overflows the f16 values above 64 (randn x 100 has some) */
        double want = c == 0 ? 0 : 1;
        CHECK_MSG(value_of(fk) == want && value_of(fo) == want, "case %d: found %g (kernel), %g "
                  "(ops), want %g", c, value_of(fk), value_of(fo), want);
        for (int i = 0; i < K_GRADS; i++)
            CHECK_MSG(same_values(gk[i], go[i]), "case %d: gradient %d (%s) differs", c, i,
                      born_dtype_name(born_tensor_dtype(gk[i])));
        born_scope_end();
    }
}

/* ---- a small MLP under f16 autocast ---------------------------------------------------------------- */

enum { M_STEPS = 16, M_INJECT = 8, M_BATCH = 8, M_IN = 16, M_HID = 32, M_OUT = 4 };

typedef struct mlp {
    born_tensor *p[4]; /* w1, b1, w2, b2: f32 leaves */
    born_optimizer *opt;
    born_grad_scaler *sc;
    born_tensor *x, *t, *loss_out; /* made before any capture */
    bool *stepped;                 /* NULL: the scaler reads nothing back */
} mlp;

static born_status mlp_step(void *ctx) {
    mlp *m = ctx;
    born_status st = born_autocast_begin(BORN_F16);
    if (st != BORN_OK) return st;
    born_tensor *y = born_linear(born_relu(born_linear(m->x, m->p[0], m->p[1])), m->p[2], m->p[3]);
    born_autocast_end();
    born_tensor *d = born_sub(y, m->t);
    born_tensor *loss = born_mean(born_mul(d, d), 0, NULL, false);
    born_tensor *scaled = loss ? born_grad_scaler_scale(m->sc, loss) : NULL;
    st = scaled ? born_backward(scaled) : born_last_status();
    if (st == BORN_OK) st = born_grad_scaler_step(m->sc, m->opt, m->stepped);
    if (st == BORN_OK) st = born_grad_scaler_update(m->sc);
    born_optimizer_zero_grad(m->opt);
    if (st == BORN_OK) st = born_copy_(m->loss_out, loss);
    return st;
}

/* init: the four starting values (on the CPU); the scaler overflows f16 at 2^40 and 2^24 and not
 * at 2^8 (a loss gradient near 0.06 times the scale), so with factors 2^16 and an interval of 2
 * the scale cycles through backoff and growth. */
static bool mlp_new(mlp *m, born_device dev, born_tensor *const *init) {
    memset(m, 0, sizeof *m);
    born_scope_begin();
    for (int k = 0; k < 4; k++)
        m->p[k] = born_tensor_retain(born_requires_grad(born_to(born_clone(init[k]), dev), true));
    m->x = born_tensor_retain(born_to(born_zeros(BORN_F32, BORN_DIMS(M_BATCH, M_IN)), dev));
    m->t = born_tensor_retain(born_to(born_zeros(BORN_F32, BORN_DIMS(M_BATCH, M_OUT)), dev));
    m->loss_out = born_tensor_retain(born_to(born_zeros(BORN_F32, 0, NULL), dev));
    born_scope_end();
    born_adam_params ap = born_adamw_default_params();
    m->opt = born_adamw(m->p, 4, &ap);
    born_grad_scaler_params sp = born_grad_scaler_default_params();
    sp.init_scale = 0x1p40;
    sp.growth_factor = 0x1p16;
    sp.backoff_factor = 0x1p-16;
    sp.growth_interval = 2;
    m->sc = born_grad_scaler_new(&sp);
    return m->opt && m->sc && m->x && m->t && m->loss_out && m->p[3];
}

static void mlp_free(mlp *m) {
    born_grad_scaler_free(m->sc);
    born_optimizer_free(m->opt);
    for (int k = 0; k < 4; k++) born_free(m->p[k]);
    born_free(m->x);
    born_free(m->t);
    born_free(m->loss_out);
}

static double mlp_distance(mlp *a, mlp *b, bool *bitwise) {
    double num = 0, den = 0;
    *bitwise = true;
    for (int k = 0; k < 4; k++) {
        int64_t n = born_tensor_numel(a->p[k]);
        double *va = malloc(sizeof *va * (size_t)n), *vb = malloc(sizeof *vb * (size_t)n);
        if (!va || !vb || !test_read(a->p[k], va, n) || !test_read(b->p[k], vb, n)) num = NAN;
        for (int64_t i = 0; va && vb && i < n && num == num; i++) {
            num += (va[i] - vb[i]) * (va[i] - vb[i]);
            den += va[i] * va[i];
            if (memcmp(&va[i], &vb[i], sizeof va[i]) != 0) *bitwise = false;
        }
        free(va);
        free(vb);
    }
    return den > 0 ? sqrt(num / den) : NAN;
}

/* The step count the optimizer holds for parameter 0 (-1 without state). */
static double step_count(born_optimizer *opt) {
    born_tensor_list *sd = born_optimizer_state_dict(opt);
    born_tensor *step = sd ? born_tensor_list_get(sd, "state.0.step") : NULL;
    double v = step ? value_of(step) : -1;
    born_tensor_list_free(sd);
    return v;
}

/* The starting parameters and M_STEPS batches (an inf in batch M_INJECT), drawn on the CPU. */
static void mlp_data(born_tensor **init, born_tensor **xs, born_tensor **ts) {
    init[0] = born_mul_scalar(cuda_randn(BORN_F32, BORN_DIMS(M_HID, M_IN)), 0.25);
    init[1] = born_mul_scalar(cuda_randn(BORN_F32, BORN_DIMS(M_HID)), 0.1);
    init[2] = born_mul_scalar(cuda_randn(BORN_F32, BORN_DIMS(M_OUT, M_HID)), 0.18);
    init[3] = born_zeros(BORN_F32, BORN_DIMS(M_OUT));
    for (int s = 0; s < M_STEPS; s++) {
        xs[s] = cuda_randn(BORN_F32, BORN_DIMS(M_BATCH, M_IN));
        ts[s] = cuda_randn(BORN_F32, BORN_DIMS(M_BATCH, M_OUT));
    }
    CHECK_OK(born_fill_(born_select(born_select(xs[M_INJECT], 0, 2), 0, 5), INFINITY));
}

static born_status feed(mlp *m, born_tensor *x, born_tensor *t) {
    born_status st = born_copy_(m->x, born_to(x, born_tensor_device(m->x)));
    return st == BORN_OK ? born_copy_(m->t, born_to(t, born_tensor_device(m->t))) : st;
}

TEST(cuda_amp_scaler_f16_steps_match_cpu) {
    if (!cuda_gpu_or_skip("cuda_amp_scaler_f16_steps_match_cpu")) return;
    born_scope_begin();
    born_tensor *init[4], *xs[M_STEPS], *ts[M_STEPS];
    mlp_data(init, xs, ts);
    mlp c, g, n; /* the CPU; the GPU reading stepped; the GPU reading nothing */
    bool ok = mlp_new(&c, BORN_CPU, init) && mlp_new(&g, BORN_CUDA(0), init) &&
              mlp_new(&n, BORN_CUDA(0), init);
    CHECK(ok);
    bool sc = false, sg = false;
    c.stepped = &sc;
    g.stepped = &sg;
    int skips = 0, growths = 0;
    for (int s = 0; ok && s < M_STEPS; s++) {
        double before = born_grad_scaler_get_scale(c.sc);
        CHECK_OK(feed(&c, xs[s], ts[s]));
        CHECK_OK(feed(&g, xs[s], ts[s]));
        CHECK_OK(feed(&n, xs[s], ts[s]));
        CHECK_OK(mlp_step(&c));
        CHECK_OK(mlp_step(&g));
        CHECK_OK(mlp_step(&n));
        double a = born_grad_scaler_get_scale(c.sc), b = born_grad_scaler_get_scale(g.sc);
        double e = born_grad_scaler_get_scale(n.sc);
        CHECK_MSG(a == b && a == e && sc == sg, "step %d: scale %g on the CPU, %g and %g on the "
                  "GPU; stepped %d, %d (seed %llu)", s, a, b, e, sc, sg, cuda_test_seed);
        skips += a < before;
        growths += a > before;
        CHECK_MSG(sc == !(a < before), "step %d: stepped %d but the scale went %g -> %g", s, sc,
                  before, a);
    }
    CHECK_MSG(skips >= 4 && growths >= 2, "the run should back off (%d) and grow (%d) repeatedly",
              skips, growths);
    bool bitwise = false;
    double dg = mlp_distance(&c, &g, &bitwise), dn = mlp_distance(&c, &n, &bitwise);
    CHECK_MSG(dg <= 2e-3 && dn <= 2e-3, "parameters after %d steps: relative distance %g / %g "
              "from the CPU's (seed %llu)", M_STEPS, dg, dn, cuda_test_seed);
    double want = M_STEPS - skips;
    CHECK_MSG(step_count(c.opt) == want && step_count(g.opt) == want && step_count(n.opt) == want,
              "step counts %g (CPU), %g, %g (GPU), want %g", step_count(c.opt), step_count(g.opt),
              step_count(n.opt), want);
    printf("  [amp] %d steps, %d skipped, %d growths: GPU parameters at %.3g / %.3g from the "
           "CPU's\n", M_STEPS, skips, growths, dg, dn);
    mlp_free(&c);
    mlp_free(&g);
    mlp_free(&n);
    born_scope_end();
}

TEST(cuda_amp_scaler_graph_replays_match_eager) {
    if (!cuda_gpu_or_skip("cuda_amp_scaler_graph_replays_match_eager")) return;
    born_scope_begin();
    born_tensor *init[4], *xs[M_STEPS], *ts[M_STEPS];
    mlp_data(init, xs, ts);
    mlp e, g;
    bool ok = mlp_new(&e, BORN_CUDA(0), init) && mlp_new(&g, BORN_CUDA(0), init);
    CHECK(ok);
    born_graph *graph = NULL;
    int skips = 0;
    for (int s = 0; ok && s < M_STEPS; s++) {
        double before = born_grad_scaler_get_scale(e.sc);
        CHECK_OK(feed(&e, xs[s], ts[s]));
        CHECK_OK(feed(&g, xs[s], ts[s]));
        CHECK_OK(mlp_step(&e));
        if (s == 0) {
            CHECK_OK(mlp_step(&g)); /* the warm-up: optimizer and scaler state */
            graph = born_graph_capture(BORN_CUDA(0), mlp_step, &g);
            CHECK_MSG(graph != NULL, "capture: %s", born_last_error());
            ok = graph != NULL;
        } else {
            CHECK_OK(born_graph_replay(graph));
        }
        double a = born_grad_scaler_get_scale(e.sc), b = born_grad_scaler_get_scale(g.sc);
        skips += a < before;
        CHECK_MSG(a == b, "step %d: scale %g eager, %g replayed (seed %llu)", s, a, b,
                  cuda_test_seed);
        double le = value_of(e.loss_out), lg = value_of(g.loss_out);
        CHECK_MSG(le == lg || (le != le && lg != lg), "step %d: loss %.9g eager, %.9g replayed", s,
                  le, lg);
    }
    if (ok) {
        bool bitwise = false;
        double d = mlp_distance(&e, &g, &bitwise);
        CHECK_MSG(d <= 1e-6, "parameters after %d steps: relative distance %g (seed %llu)", M_STEPS,
                  d, cuda_test_seed);
        double want = M_STEPS - skips;
        CHECK_MSG(skips >= 4 && step_count(e.opt) == want && step_count(g.opt) == want,
                  "%d skipped steps; step counts %g eager, %g replayed, want %g", skips,
                  step_count(e.opt), step_count(g.opt), want);
        printf("  [amp graph] %d steps (%d skipped on the device): parameters %s (relative "
               "distance %g)\n", M_STEPS, skips, bitwise ? "bitwise equal" : "not bitwise equal", d);
    }
    born_graph_free(graph);
    mlp_free(&e);
    mlp_free(&g);
    born_scope_end();
}

/* ---- what a capture refuses ------------------------------------------------------------------- */

TEST(cuda_amp_scaler_capture_errors) {
    if (!cuda_gpu_or_skip("cuda_amp_scaler_capture_errors")) return;
    born_scope_begin();
    born_tensor *init[4], *xs[M_STEPS], *ts[M_STEPS];
    mlp_data(init, xs, ts);
    mlp m;
    CHECK(mlp_new(&m, BORN_CUDA(0), init));
    CHECK_OK(feed(&m, xs[1], ts[1]));
    /* the scaler's device state created inside the capture */
    CHECK(born_graph_capture(BORN_CUDA(0), mlp_step, &m) == NULL);
    CHECK_MSG(strstr(born_last_error(), "before capturing") != NULL, "message: %s",
              born_last_error());
    born_clear_error();
    born_grad_scaler_free(m.sc);
    born_grad_scaler_params sp = born_grad_scaler_default_params();
    m.sc = born_grad_scaler_new(&sp);
    CHECK_OK(mlp_step(&m)); /* eager: state created */
    /* stepped read back inside the capture: refused, naming the fix */
    bool stepped = false;
    m.stepped = &stepped;
    CHECK(born_graph_capture(BORN_CUDA(0), mlp_step, &m) == NULL);
    CHECK_MSG(strstr(born_last_error(), "pass stepped NULL") != NULL, "message: %s",
              born_last_error());
    born_clear_error();
    /* SGD cannot skip on the device: its host-side skip is refused inside a capture */
    born_grad_scaler_free(m.sc);
    m.sc = born_grad_scaler_new(&sp);
    m.stepped = NULL;
    born_optimizer_free(m.opt);
    born_sgd_params gp = born_sgd_default_params();
    gp.lr = 1e-3;
    m.opt = born_sgd(m.p, 4, &gp);
    CHECK_OK(mlp_step(&m)); /* eager, the flag read on the host */
    CHECK(born_graph_capture(BORN_CUDA(0), mlp_step, &m) == NULL);
    CHECK_MSG(strstr(born_last_error(), "inf/NaN flag on the host") != NULL, "message: %s",
              born_last_error());
    born_clear_error();
    mlp_free(&m);
    born_scope_end();
}
