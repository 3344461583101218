/* The CPU layer-norm and RMS-norm row kernels (src/backend/cpu/norm.c, norm_avx2.c,
 * norm_avx512.c, norm_neon.c) against an exact reference computed here in double: the forward's
 * output, mean and rstd, and the backward's dx, grad_weight and grad_bias, at every CPU level this
 * machine has (AVX-512, AVX2, NEON on arm64 and the portable loops), for row lengths around the
 * vector widths and the sums' blocks (1 ... 65, 100, 257, 4099), rows far from zero, a first
 * element far from the rest (the shifted moments cancel), huge and denormal values, signed zeros,
 * constant rows, and rows holding NaN or an infinity (which must give NaN where the reference
 * does). The parameter gradients are also checked to be the same bits with 1 and 2 threads, and an
 * empty batch to give zero gradients.
 *
 * Bounds (measured maxima over these cases in brackets, AVX-512 / AVX2 / portable, each level on
 * its own draws, 2026-12-02; NEON after them, under qemu-user): the forward within 4 FLT_EPSILON
 * of (|xhat| + 1) |w| + |b| per element [0.96 / 1.01 / 0.82; NEON 0.94] (the SIMD statistics are
 * f32 sums over chunks added in double: the mean is good to about 2^-24 of the deviation, which
 * moves every output by that much of |w|), rstd within 2 ulp and the mean within 2^-22 of |mean| +
 * the deviation; dx within 8 FLT_EPSILON of rstd (|d| + |mean d| + |xhat| (|mean d xhat| +
 * mean |d xhat|)) [6.1 / 4.1 / 1.6; NEON 6.1; both 6.1s are a row of 15, whose sums are all in
 * double: the f32 arithmetic of dx itself where xhat is small]; the parameter gradients within 32
 * FLT_EPSILON of sum |g xhat| (or sum |g|) [1.7 / 1.5 / 1.7; NEON 1.7; they are summed in f32
 * within blocks of up to 64 rows]. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "core/cpu_features.h"
#include "test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double uniform(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) * 0x1p-53;
}

static double gauss(void) {
    double u = uniform() + 1e-300, v = uniform();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static born_strided view(void *data, int ndim, int64_t rows, int64_t n) {
    born_strided v;
    memset(&v, 0, sizeof v);
    v.data = data;
    v.dtype = BORN_F32;
    v.ndim = ndim;
    if (ndim == 2) {
        v.shape[0] = rows;
        v.shape[1] = n;
        v.strides[0] = n;
        v.strides[1] = 1;
    } else {
        v.shape[0] = n;
        v.strides[0] = 1;
    }
    return v;
}

enum { PATTERNS = 10 };

/* Fills a row of n by pattern p. */
static void fill(float *x, int64_t n, int p) {
    for (int64_t i = 0; i < n; i++) {
        double z = gauss();
        switch (p) {
        case 0: x[i] = (float)z; break;
        case 1: x[i] = (float)(1e4 + 0.01 * z); break;        /* far from zero */
        case 2: x[i] = (float)(i == 0 ? 1e6 : z); break;       /* first element an outlier */
        case 3: x[i] = (float)(3e36 * z); break;               /* huge */
        case 4: x[i] = (float)(1e-41 * z); break;              /* denormal */
        case 5: x[i] = i % 3 == 0 ? -0.0f : (float)z; break;   /* signed zeros */
        case 6: x[i] = 2.5f; break;                            /* constant */
        case 7: x[i] = (float)(-300 + z); break;
        case 8: x[i] = i == n / 2 ? NAN : (float)z; break;
        default: x[i] = i == n / 3 ? INFINITY : (float)z; break;
        }
    }
}

/* Exact statistics in double (long double sums). */
static void exact_stats(const float *x, int64_t n, bool rms, double eps, double *mean, double *rstd) {
    long double m = 0, sq = 0;
    if (!rms) {
        for (int64_t i = 0; i < n; i++) m += x[i];
        m /= n;
    }
    for (int64_t i = 0; i < n; i++) sq += ((long double)x[i] - m) * ((long double)x[i] - m);
    *mean = (double)m;
    *rstd = (double)(1.0L / sqrtl(sq / n + eps));
}

static double ulps(float got, double want) {
    if ((double)got == want || (float)want == got) return 0;
    int e;
    frexp(fabs(want), &e);
    return fabs((double)got - want) / ldexp(1.0, e - 24);
}

static const int64_t lengths[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 257, 4099};
enum { NLEN = sizeof lengths / sizeof lengths[0], ROWS = 3 };

static bool level_ok(cpu_level level) {
    cpu_level saved = cpu_get_level();
    cpu_set_level(level);
    bool ok = cpu_get_level() == level;
    cpu_set_level(saved);
    return ok;
}

static void forward_case(cpu_level level, bool rms, bool affine, int64_t n, int p, double *worst) {
    double eps = 1e-5;
    int64_t total = ROWS * n;
    float *x = malloc((size_t)total * 4), *y = malloc((size_t)total * 4), *w = malloc((size_t)n * 4);
    float *b = malloc((size_t)n * 4), mean[ROWS], rstd[ROWS];
    for (int r = 0; r < ROWS; r++) fill(x + r * n, n, r == 0 ? p : 0);
    for (int64_t i = 0; i < n; i++) {
        w[i] = (float)(1 + 0.5 * gauss());
        b[i] = (float)gauss();
    }
    born_strided sy = view(y, 2, ROWS, n), sx = view(x, 2, ROWS, n), sm = view(mean, 1, 0, ROWS);
    born_strided sr = view(rstd, 1, 0, ROWS), sw = view(affine ? w : NULL, 1, 0, n);
    born_strided sb = view(affine && !rms ? b : NULL, 1, 0, n), none = view(NULL, 1, 0, 0);
    cpu_level saved = cpu_get_level();
    cpu_set_level(level);
    CHECK_OK(cpu_row_norm(rms, &sy, rms ? &none : &sm, &sr, &sx, &sw, &sb, eps));
    cpu_set_level(saved);
    for (int r = 0; r < ROWS; r++) {
        const float *xr = x + r * n, *yr = y + r * n;
        double m, s;
        exact_stats(xr, n, rms, eps, &m, &s);
        if (!isfinite(m) || !isfinite(s)) { /* NaN or inf in the row: every output NaN */
            bool all_nan = true;
            for (int64_t i = 0; i < n; i++) all_nan = all_nan && isnan(yr[i]);
            CHECK_MSG(all_nan && isnan(rstd[r]), "level %d %s n=%lld pattern %d: a non-finite row must "
                      "give NaN", (int)level, rms ? "rms" : "layer", (long long)n, p);
            continue;
        }
        CHECK_MSG(ulps(rstd[r], s) <= 2, "level %d %s n=%lld pattern %d: rstd %.9g vs %.17g", (int)level,
                  rms ? "rms" : "layer", (long long)n, p, rstd[r], s);
        if (!rms) /* within 2^-22 of |mean| + the deviation */
            CHECK_MSG(fabs(mean[r] - m) <= 0x1p-22 * (fabs(m) + 1 / s), "level %d n=%lld pattern %d: mean "
                      "%.9g vs %.17g", (int)level, (long long)n, p, mean[r], m);
        for (int64_t i = 0; i < n; i++) {
            double xh = ((double)xr[i] - m) * s, wi = affine ? w[i] : 1, bi = affine && !rms ? b[i] : 0;
            double want = xh * wi + bi, scale = (fabs(xh) + 1) * fabs(wi) + fabs(bi);
            if (isnan(want)) { /* inf * 0 in the RMS form of a row holding an infinity */
                CHECK_MSG(isnan(yr[i]), "level %d %s n=%lld pattern %d [%lld]: %.9g, want NaN", (int)level,
                          rms ? "rms" : "layer", (long long)n, p, (long long)i, yr[i]);
                continue;
            }
            double err = fabs((double)yr[i] - want);
            double units = scale > 0 ? (err - 8 * 0x1p-149) / (scale * FLT_EPSILON) : 0;
            if (units > *worst) *worst = units;
            CHECK_MSG(units <= 4, "level %d %s n=%lld pattern %d row %d [%lld]: %.9g vs %.17g", (int)level,
                      rms ? "rms" : "layer", (long long)n, p, r, (long long)i, yr[i], want);
            if (units > 4) break;
        }
    }
    free(x), free(y), free(w), free(b);
}

TEST(norm_rows_forward_against_exact) {
    cpu_level levels[4] = {CPU_LEVEL_AVX512, CPU_LEVEL_AVX2, CPU_LEVEL_NEON, CPU_LEVEL_SCALAR};
    for (int l = 0; l < 4; l++) {
        if (!level_ok(levels[l])) continue;
        double worst = 0;
        for (int rms = 0; rms <= 1; rms++)
            for (int affine = 0; affine <= 1; affine++)
                for (int k = 0; k < NLEN; k++)
                    for (int p = 0; p < PATTERNS; p++) forward_case(levels[l], rms, affine, lengths[k], p, &worst);
        if (getenv("BORN_TEST_VERBOSE")) printf("  level %d forward worst %.2f eps\n", (int)levels[l], worst);
    }
}

/* The backward of ROWS rows of pattern p against the double formulas, from the f32 mean and
 * rstd the kernel is given. */
static void backward_case(cpu_level level, bool rms, bool affine, int64_t n, int64_t rows, int p,
                          double *worst_dx, double *worst_p) {
    int64_t total = rows * n;
    float *x = malloc((size_t)total * 4), *g = malloc((size_t)total * 4), *dx = malloc((size_t)total * 4);
    float *w = malloc((size_t)n * 4), *gw = malloc((size_t)n * 4), *gb = malloc((size_t)n * 4);
    float *mean = malloc((size_t)rows * 4), *rstd = malloc((size_t)rows * 4);
    for (int64_t r = 0; r < rows; r++) {
        fill(x + r * n, n, r == 0 ? p : 0);
        fill(g + r * n, n, 0);
        double m, s;
        exact_stats(x + r * n, n, rms, 1e-5, &m, &s);
        mean[r] = (float)m;
        rstd[r] = (float)s;
    }
    for (int64_t i = 0; i < n; i++) w[i] = (float)(1 + 0.5 * gauss());
    born_strided sdx = view(dx, 2, rows, n), sg = view(g, 2, rows, n), sx = view(x, 2, rows, n);
    born_strided sm = view(rms ? NULL : mean, 1, 0, rows), sr = view(rstd, 1, 0, rows);
    born_strided sw = view(affine ? w : NULL, 1, 0, n), sgw = view(gw, 1, 0, n), sgb = view(gb, 1, 0, n);
    cpu_level saved = cpu_get_level();
    cpu_set_level(level);
    CHECK_OK(cpu_row_norm_grads(rms, &sdx, &sgw, rms ? NULL : &sgb, &sg, &sx, &sm, &sr, &sw));
    cpu_set_level(saved);
    double *sw_ref = calloc((size_t)n, sizeof(double)), *sw_abs = calloc((size_t)n, sizeof(double));
    double *sb_ref = calloc((size_t)n, sizeof(double)), *sb_abs = calloc((size_t)n, sizeof(double));
    bool finite_rows = true;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n, *gr = g + r * n, *dr = dx + r * n;
        double m = rms ? 0 : mean[r], s = rstd[r], sd = 0, sdxh = 0, sadx = 0;
        for (int64_t i = 0; i < n; i++) {
            double d = (double)gr[i] * (affine ? w[i] : 1), xh = ((double)xr[i] - m) * s;
            sd += d;
            sdxh += d * xh;
            sadx += fabs(d * xh);
            sw_ref[i] += gr[i] * xh;
            sw_abs[i] += fabs(gr[i] * xh);
            sb_ref[i] += gr[i];
            sb_abs[i] += fabs(gr[i]);
        }
        if (!isfinite(sdxh) || !isfinite(s) || !isfinite(m)) {
            finite_rows = false;
            bool all_nan = true;
            for (int64_t i = 0; i < n; i++) all_nan = all_nan && isnan(dr[i]);
            CHECK_MSG(all_nan, "level %d %s n=%lld pattern %d: a non-finite row must give NaN", (int)level,
                      rms ? "rms" : "layer", (long long)n, p);
            continue;
        }
        double md = rms ? 0 : sd / n, mdx = sdxh / n;
        for (int64_t i = 0; i < n; i++) {
            double d = (double)gr[i] * (affine ? w[i] : 1), xh = ((double)xr[i] - m) * s;
            double want = s * (d - md - xh * mdx);
            double scale = s * (fabs(d) + fabs(md) + fabs(xh) * (fabs(mdx) + sadx / n));
            double units = scale > 0 ? (fabs((double)dr[i] - want) - 8 * 0x1p-149) / (scale * FLT_EPSILON) : 0;
            if (units > *worst_dx) *worst_dx = units;
            CHECK_MSG(units <= 8, "level %d %s n=%lld pattern %d row %lld [%lld]: dx %.9g vs %.17g", (int)level,
                      rms ? "rms" : "layer", (long long)n, p, (long long)r, (long long)i, dr[i], want);
            if (units > 8) break;
        }
    }
    for (int64_t i = 0; i < n && finite_rows; i++) {
        double uw = sw_abs[i] > 0 ? fabs(gw[i] - sw_ref[i]) / (sw_abs[i] * FLT_EPSILON) : 0;
        double ub = sb_abs[i] > 0 ? fabs(gb[i] - sb_ref[i]) / (sb_abs[i] * FLT_EPSILON) : 0;
        if (rms) ub = 0;
        if (uw > *worst_p) *worst_p = uw;
        if (ub > *worst_p) *worst_p = ub;
        CHECK_MSG(uw <= 32 && ub <= 32, "level %d %s n=%lld rows=%lld pattern %d [%lld]: grad_weight %.9g vs "
                  "%.17g, grad_bias %.9g vs %.17g", (int)level, rms ? "rms" : "layer", (long long)n,
                  (long long)rows, p, (long long)i, gw[i], sw_ref[i], gb[i], sb_ref[i]);
        if (uw > 32 || ub > 32) break;
    }
    free(x), free(g), free(dx), free(w), free(gw), free(gb), free(mean), free(rstd);
    free(sw_ref), free(sw_abs), free(sb_ref), free(sb_abs);
}

TEST(norm_rows_backward_against_exact) {
    cpu_level levels[4] = {CPU_LEVEL_AVX512, CPU_LEVEL_AVX2, CPU_LEVEL_NEON, CPU_LEVEL_SCALAR};
    for (int l = 0; l < 4; l++) {
        if (!level_ok(levels[l])) continue;
        double worst_dx = 0, worst_p = 0;
        for (int rms = 0; rms <= 1; rms++)
            for (int affine = 0; affine <= 1; affine++)
                for (int k = 0; k < NLEN; k++) {
                    for (int p = 0; p < PATTERNS; p++)
                        backward_case(levels[l], rms, affine, lengths[k], ROWS, p, &worst_dx, &worst_p);
                    /* several blocks of rows for the parameter gradients */
                    if (lengths[k] <= 100) backward_case(levels[l], rms, affine, lengths[k], 700, 0, &worst_dx, &worst_p);
                }
        if (getenv("BORN_TEST_VERBOSE"))
            printf("  level %d backward worst dx %.2f, params %.2f eps\n", (int)levels[l], worst_dx, worst_p);
    }
}

/* dx, grad_weight and grad_bias of [rows, n] with the given thread count. */
static void grads_with_threads(int threads, const float *x, const float *g, const float *mean,
                               const float *rstd, const float *w, int64_t rows, int64_t n, float *dx,
                               float *gw, float *gb) {
    int before = born_get_num_threads();
    born_set_num_threads(threads);
    born_strided sdx = view(dx, 2, rows, n), sg = view((void *)g, 2, rows, n), sx = view((void *)x, 2, rows, n);
    born_strided sm = view((void *)mean, 1, 0, rows), sr = view((void *)rstd, 1, 0, rows);
    born_strided sw = view((void *)w, 1, 0, n), sgw = view(gw, 1, 0, n), sgb = view(gb, 1, 0, n);
    CHECK_OK(cpu_row_norm_grads(false, &sdx, &sgw, &sgb, &sg, &sx, &sm, &sr, &sw));
    born_set_num_threads(before);
}

TEST(norm_rows_grads_thread_count_independent) {
    enum { R = 1031, N = 77 };
    float *x = malloc(R * N * 4), *g = malloc(R * N * 4), mean[R], rstd[R], w[N];
    float *dx[2] = {malloc(R * N * 4), malloc(R * N * 4)}, gw[2][N], gb[2][N];
    for (int i = 0; i < R * N; i++) {
        x[i] = (float)gauss();
        g[i] = (float)gauss();
    }
    for (int r = 0; r < R; r++) {
        mean[r] = (float)(0.1 * gauss());
        rstd[r] = (float)(1 + 0.1 * gauss());
    }
    for (int i = 0; i < N; i++) w[i] = (float)gauss();
    for (int t = 0; t < 2; t++) grads_with_threads(t + 1, x, g, mean, rstd, w, R, N, dx[t], gw[t], gb[t]);
    CHECK(memcmp(dx[0], dx[1], R * N * 4) == 0);
    CHECK(memcmp(gw[0], gw[1], sizeof gw[0]) == 0);
    CHECK(memcmp(gb[0], gb[1], sizeof gb[0]) == 0);
    free(x), free(g), free(dx[0]), free(dx[1]);
}

TEST(norm_rows_empty_batch_has_zero_parameter_gradients) {
    born_tensor *x = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(0, 5)), true);
    born_tensor *w = born_requires_grad(born_ones(BORN_F32, BORN_DIMS(5)), true);
    born_tensor *b = born_requires_grad(born_ones(BORN_F32, BORN_DIMS(5)), true);
    born_tensor *y = born_layer_norm(x, BORN_DIMS(5), w, b, 1e-5);
    CHECK(y != NULL);
    CHECK_OK(born_backward(born_sum(y, 0, NULL, false)));
    born_tensor *gw = born_grad(w), *gb = born_grad(b);
    CHECK(gw && gb);
    if (gw && gb)
        for (int i = 0; i < 5; i++) CHECK(born_data_f32(gw)[i] == 0 && born_data_f32(gb)[i] == 0);
    born_free(x), born_free(w), born_free(b);
}
