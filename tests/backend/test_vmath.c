/* The AVX2 f32 math (src/backend/cpu/vmath_avx2.h, unary_avx2.c) against libm in double: 10^6
 * inputs spread over the whole f32 range (random bit patterns) and over the range where the
 * functions change ([-20, 20]), each result within the documented ulp bound of the exact value;
 * special values (NaN, +-inf, +-0, denormals, the overflow and underflow thresholds) give what
 * the portable kernels give; strided inputs give the same bits as contiguous ones; and add, sub,
 * mul and div give the portable kernels' bits for contiguous, broadcast and strided operands.
 * Every test runs the AVX2 path through cpu_set_level and puts the level back; on a CPU without
 * AVX2 the accuracy tests are skipped (the portable f32 expressions are not held to these
 * bounds) and the others check the portable path against itself. Where the CPU has AVX-512, each
 * accuracy test also runs at that level: its kernels give the AVX2 bits (test_simd_avx512.c)
 * except gelu, which has its own method there (vmath_avx512.h) and is held to the same bounds;
 * its gradient, also of its own method there, is held to the exact value at every level
 * (vmath_gelu_gradient_against_libm).
 * On arm64 the same tests run at CPU_LEVEL_NEON (vmath_neon.h, unary_neon.c: AVX2's operations
 * on 4 lanes) with the AVX2 bounds. Every SIMD level's fast paths are also checked bit for bit
 * against the same operations written out in scalar FMAs, so an arm64 machine is seen to give
 * the x86-64 bits there. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gelu_table.h"
#include "core/cpu_features.h"
#include "test.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint32_t rnd32(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 32);
}

static float bits_to_f(uint32_t b) {
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static uint32_t f_to_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

/* The exact value, in double. */
static double reference(born_unary_op op, double x) {
    switch (op) {
    case BORN_UNARY_EXP: return exp(x);
    case BORN_UNARY_LOG: return log(x);
    case BORN_UNARY_TANH: return tanh(x);
    case BORN_UNARY_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case BORN_UNARY_SILU: return x / (1.0 + exp(-x));
    case BORN_UNARY_RELU: return x < 0 ? 0.0 : x;
    case BORN_UNARY_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case BORN_UNARY_GELU_TANH: {
        double v = 2.0 * 0.7978845608028654 * (x + 0.044715 * x * x * x);
        return x / (1.0 + exp(-v));
    }
    default: return NAN;
    }
}

/* Results in the denormal range carry fewer significant bits, and an intermediate that is itself
 * denormal (sigmoid(x) in x sigmoid(x)) loses more; there the error is bounded in absolute terms,
 * in units of the smallest denormal. */
#define DENORMAL_UNIT 1.4012984643248171e-45
enum { DENORMAL_MAX_UNITS = 128 };

/* The error of got in units in the last place of the f32 nearest the exact value ref (finite,
 * |ref| >= FLT_MIN or beyond the range). */
static double ulp_error(float got, double ref) {
    if ((double)(float)ref == (double)got) return 0;
    if (isinf(got) && fabs(ref) > FLT_MAX) return 0.5;
    int e;
    frexp(fabs(ref), &e);
    return fabs((double)got - ref) / ldexp(1.0, e - 24);
}

/* Runs op over n floats at the given CPU level (input copied into a fresh tensor). */
static void run_unary(born_unary_op op, const float *in, float *out, int64_t n, cpu_level level) {
    cpu_level saved = cpu_get_level();
    cpu_set_level(level);
    born_tensor *x = born_from_data(BORN_F32, 1, &n, in, (size_t)n * 4);
    born_tensor *y = born_empty(BORN_F32, 1, &n);
    CHECK_OK(born_unary_out(op, y, x, NULL));
    CHECK_OK(born_copy_to_buffer(y, out, (size_t)n * 4));
    born_free(x);
    born_free(y);
    cpu_set_level(saved);
}

static bool have_level(cpu_level level) {
    cpu_level saved = cpu_get_level();
    cpu_set_level(level);
    bool ok = cpu_get_level() == level;
    cpu_set_level(saved);
    return ok;
}

/* The SIMD levels with vector math this CPU runs (AVX2 then AVX-512 on x86-64, NEON on arm64);
 * their count (0 on an x86-64 CPU without AVX2). */
static int simd_levels(cpu_level levels[2]) {
    int n = 0;
    if (have_level(CPU_LEVEL_AVX2)) levels[n++] = CPU_LEVEL_AVX2;
    if (n && have_level(CPU_LEVEL_AVX512)) levels[n++] = CPU_LEVEL_AVX512;
    if (have_level(CPU_LEVEL_NEON)) levels[n++] = CPU_LEVEL_NEON;
    return n;
}

typedef struct fn_case {
    born_unary_op op;
    double max_ulp;
} fn_case;

static const fn_case cases[] = {
    {BORN_UNARY_EXP, 2},  {BORN_UNARY_LOG, 2},  {BORN_UNARY_TANH, 4},      {BORN_UNARY_SIGMOID, 4},
    {BORN_UNARY_SILU, 4}, {BORN_UNARY_RELU, 0}, {BORN_UNARY_GELU, 4.2},  {BORN_UNARY_GELU_TANH, 4.5},
};
enum { NCASES = sizeof cases / sizeof cases[0] };

TEST(vmath_accuracy_against_libm) {
    enum { N = 1000000 };
    cpu_level levels[2];
    int nlevels = simd_levels(levels);
    if (!nlevels) return;
    float *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    CHECK(in && out);
    if (!in || !out) goto done;
    for (int i = 0; i < N; i++) {
        if (i % 2 == 0) { /* any finite f32 */
            float f;
            do f = bits_to_f(rnd32());
            while (!isfinite(f));
            in[i] = f;
        } else { /* where the functions bend */
            in[i] = (float)(((double)rnd32() / 4294967296.0) * 40.0 - 20.0);
        }
    }
    for (int c = 0; c < NCASES * nlevels; c++) {
        cpu_level level = levels[c / NCASES];
        const fn_case *fc = &cases[c % NCASES];
        run_unary(fc->op, in, out, N, level);
        double worst = 0, worst_denormal = 0;
        float worst_x = 0;
        for (int i = 0; i < N; i++) {
            double ref = reference(fc->op, in[i]);
            if (isnan(ref)) {
                CHECK_MSG(isnan(out[i]), "%s(%.9g) = %.9g, want NaN", born_unary_op_name(fc->op),
                          in[i], out[i]);
                continue;
            }
            if (fabs(ref) < FLT_MIN) {
                double units = fabs((double)out[i] - ref) / DENORMAL_UNIT;
                if (units > worst_denormal) worst_denormal = units;
                continue;
            }
            double e = ulp_error(out[i], ref);
            if (e > worst) {
                worst = e;
                worst_x = in[i];
            }
        }
        CHECK_MSG(worst <= fc->max_ulp, "%s (%s): %.2f ulp at x = %.9g (bound %.1f)",
                  born_unary_op_name(fc->op), cpu_level_name(level), worst, worst_x, fc->max_ulp);
        CHECK_MSG(worst_denormal <= DENORMAL_MAX_UNITS,
                  "%s (%s): denormal results off by %.1f units", born_unary_op_name(fc->op),
                  cpu_level_name(level), worst_denormal);
    }
done:
    free(in);
    free(out);
}

/* Special inputs: the SIMD result must be NaN, infinite or zero (with its sign) exactly when the
 * portable one is, and otherwise within the ulp bound of the exact value. The last three are
 * gelu's worst inputs over every f32 >= -12 (2026-12-02): the AVX2 kernel's (4.17 ulp) and its
 * worst positive one (3.12), the AVX-512 kernel's (3.24), and that of the AVX-512 kernel's near
 * path over every f32 with |x| < 3.9995 (2.52). */
TEST(vmath_special_values_match_the_portable_kernels) {
    const float specials[] = {
        NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, FLT_MIN, -FLT_MIN, 1e-45f, -1e-45f,
        1e-40f, -1e-40f, FLT_MAX, -FLT_MAX, 88.7228394f, 88.72284f, 89.0f, -87.3365479f,
        -103.278931f, -103.972084f, -104.0f, -150.0f, 0.625f, -0.625f, 0.62499994f, 9.0f,
        -9.0f, 44.0f, -44.0f, 13.0f, -13.0f, 14.5f, -14.5f, 15.0f, -15.0f, 18.0f, -18.0f,
        1e-30f, -1e-30f, 1.0f, -1.0f, 0.5f, 2.0f, 1e20f, -1e20f, 3e12f, -3e12f, 170.0f, -170.0f,
        -2.18976855f, 0.00191128417f, -3.23896313f, -3.65563869f,
    };
    enum { NS = sizeof specials / sizeof specials[0] };
    float fast[NS], slow[NS];
    cpu_level levels[2];
    int nlevels = simd_levels(levels);
    for (int c = 0; c < NCASES * nlevels; c++) {
        cpu_level level = levels[c / NCASES];
        const fn_case *fc = &cases[c % NCASES];
        const char *name = born_unary_op_name(fc->op), *lname = cpu_level_name(level);
        run_unary(fc->op, specials, fast, NS, level);
        run_unary(fc->op, specials, slow, NS, CPU_LEVEL_SCALAR);
        for (int i = 0; i < NS; i++) {
            float x = specials[i], f = fast[i], s = slow[i];
            bool same_class = isnan(f) == isnan(s) && isinf(f) == isinf(s) &&
                              (!isinf(f) || f == s) &&
                              (f != 0 || s != 0 || signbit(f) == signbit(s));
            CHECK_MSG(same_class, "%s(%.9g): %s %.9g, portable %.9g", name, x, lname, f, s);
            /* the portable kernels flush some tiny results to 0 where the SIMD ones do not; the
             * SIMD value must then be accurate */
            if (isfinite(f) && !isnan(x)) {
                double ref = reference(fc->op, x);
                if (fabs(ref) >= FLT_MIN) {
                    double e = ulp_error(f, ref);
                    CHECK_MSG(e <= fc->max_ulp, "%s(%.9g) = %.9g (%s): %.2f ulp", name, x, f,
                              lname, e);
                } else {
                    CHECK_MSG(fabs((double)f - ref) <= DENORMAL_MAX_UNITS * DENORMAL_UNIT,
                              "%s(%.9g) = %.9g (%s), want %.9g", name, x, f, lname, ref);
                }
            }
        }
    }
}

/* Each special value alone in whole vectors (16 copies), so that vectors without NaN or
 * out-of-range lanes take the fast paths: signed zeros and the tiniest denormals must keep the
 * portable kernels' signs there too (tanh(+0) once gave -0 and gelu(-0) +0 on the fast paths,
 * unseen while the zeros shared a vector with a NaN). */
TEST(vmath_special_values_alone_keep_their_signs) {
    const float specials[] = {0.0f, -0.0f, 1e-45f, -1e-45f, 1e-40f, -1e-40f, FLT_MIN, -FLT_MIN,
                              1e-30f, -1e-30f, 1.0f, -1.0f, 13.0f, -13.0f};
    enum { NS = sizeof specials / sizeof specials[0], W = 16 };
    float in[W], fast[W], slow[W];
    cpu_level levels[2];
    int nlevels = simd_levels(levels);
    for (int c = 0; c < NCASES * nlevels; c++) {
        cpu_level level = levels[c / NCASES];
        const fn_case *fc = &cases[c % NCASES];
        for (int i = 0; i < NS; i++) {
            for (int j = 0; j < W; j++) in[j] = specials[i];
            run_unary(fc->op, in, fast, W, level);
            run_unary(fc->op, in, slow, W, CPU_LEVEL_SCALAR);
            bool sign_ok = (fast[0] != 0 || slow[0] != 0) || signbit(fast[0]) == signbit(slow[0]);
            CHECK_MSG(sign_ok && memcmp(fast, fast + 8, 8 * sizeof(float)) == 0,
                      "%s(%.9g) alone: %s %.9g, portable %.9g", born_unary_op_name(fc->op),
                      (double)specials[i], cpu_level_name(level), (double)fast[0],
                      (double)slow[0]);
        }
    }
}

/* A strided input (every third element of a longer tensor) and an odd length that exercises the
 * masked tail give the same bits as the contiguous run. */
TEST(vmath_strided_and_tail_match_contiguous) {
    enum { N = 203 };
    float base[3 * N], dense[N], a[N], b[N];
    for (int i = 0; i < 3 * N; i++) base[i] = (float)(((double)rnd32() / 4294967296.0) * 30.0 - 15.0);
    for (int i = 0; i < N; i++) dense[i] = base[3 * i];
    cpu_level saved = cpu_get_level(), levels[2];
    int nlevels = simd_levels(levels);
    if (!nlevels) levels[nlevels++] = CPU_LEVEL_SCALAR;
    for (int c = 0; c < NCASES * nlevels; c++) {
        cpu_set_level(levels[c / NCASES]);
        int64_t n3 = 3 * N, n = N;
        born_tensor *t = born_from_data(BORN_F32, 1, &n3, base, sizeof base);
        born_tensor *view = born_slice(t, 0, 0, 3 * N, 3);
        born_tensor *y = born_unary(cases[c % NCASES].op, view, NULL);
        born_tensor *td = born_from_data(BORN_F32, 1, &n, dense, sizeof dense);
        born_tensor *yd = born_unary(cases[c % NCASES].op, td, NULL);
        CHECK_OK(born_copy_to_buffer(y, a, sizeof a));
        CHECK_OK(born_copy_to_buffer(yd, b, sizeof b));
        bool same = true;
        for (int i = 0; i < N; i++) same = same && f_to_bits(a[i]) == f_to_bits(b[i]);
        CHECK_MSG(same, "%s (%s): strided and contiguous results differ",
                  born_unary_op_name(cases[c % NCASES].op), cpu_level_name(levels[c / NCASES]));
    }
    cpu_set_level(saved);
}

/* add/sub/mul/div: every SIMD level this CPU has (AVX2, AVX-512; NEON) and the portable loops
 * give identical bits (all are IEEE), for contiguous operands, a broadcast scalar on either side,
 * and strided operands, over lengths that end on every tail of the vector loops. */
TEST(vmath_binary_matches_portable) {
    enum { N = 1003 };
    static float av[N], bv[N];
    for (int i = 0; i < N; i++) {
        av[i] = (float)(((double)rnd32() / 4294967296.0) * 8.0 - 4.0);
        bv[i] = (float)(((double)rnd32() / 4294967296.0) * 8.0 - 4.0);
    }
    av[0] = NAN;
    bv[1] = 0.0f;
    av[2] = INFINITY;
    bv[3] = -INFINITY;
    av[12] = -0.0f;
    bv[13] = 1e-40f; /* subnormal */
    const born_binary_op ops[] = {BORN_BINARY_ADD, BORN_BINARY_SUB, BORN_BINARY_MUL,
                                  BORN_BINARY_DIV};
    const int64_t lens[] = {1, 3, 7, 15, 16, 17, 33, 100, 301, 1003};
    cpu_level saved = cpu_get_level(), levels[2];
    int nlevels = simd_levels(levels);
    if (!nlevels) levels[nlevels++] = CPU_LEVEL_SCALAR; /* the portable path against itself */
    for (int l = 0; l < nlevels; l++)
        for (int o = 0; o < 4; o++)
            for (int ln = 0; ln < 10; ln++)
                for (int layout = 0; layout < 4; layout++) {
                    int64_t len = lens[ln];
                    if (layout == 3 && len != 301) continue;
                    static float res[2][N];
                    int64_t numel[2] = {0, 0};
                    born_scope_begin();
                    for (int path = 0; path < 2; path++) {
                        cpu_set_level(path ? CPU_LEVEL_SCALAR : levels[l]);
                        int64_t n = len, one = 1;
                        born_tensor *a = born_from_data(BORN_F32, 1, &n, av, (size_t)n * 4);
                        born_tensor *b = born_from_data(BORN_F32, 1, &n, bv, (size_t)n * 4);
                        if (layout == 1) b = born_from_data(BORN_F32, 1, &one, &bv[5], 4);
                        if (layout == 2) a = born_from_data(BORN_F32, 1, &one, &av[7], 4);
                        if (layout == 3) { /* reversed-order strided views via a 2-D transpose */
                            int64_t shape[2] = {7, 43};
                            a = born_transpose(born_reshape(a, 2, shape), 0, 1);
                            b = born_transpose(born_reshape(b, 2, shape), 0, 1);
                        }
                        born_tensor *r = born_binary(ops[o], a, b);
                        CHECK_OK_TENSOR(r);
                        numel[path] = born_tensor_numel(r);
                        CHECK_OK(born_copy_to_buffer(r, res[path], (size_t)numel[path] * 4));
                    }
                    born_scope_end();
                    bool same = numel[0] == numel[1];
                    for (int64_t i = 0; same && i < numel[0]; i++)
                        same = f_to_bits(res[0][i]) == f_to_bits(res[1][i]) ||
                               (isnan(res[0][i]) && isnan(res[1][i]));
                    CHECK_MSG(same, "%s, length %lld, layout %d: %s and portable differ",
                              born_binary_op_name(ops[o]), (long long)len, layout,
                              cpu_level_name(levels[l]));
                }
    cpu_set_level(saved);
}

/* A dense sweep: every 251st f32 bit pattern of both signs between 2^-30 and 100 in magnitude
 * (about 2.4 million inputs, every exponent and a spread of mantissas in each), through the
 * AVX2 kernels (fast paths and, beyond their ranges, the exact ones), against libm in double.
 * The bounds are the worst errors this sweep measured when the fast paths landed (2026-11-30:
 * exp 0.99 ulp, tanh 2.49, sigmoid 2.26, silu 2.12, gelu 3.30, gelu_tanh 3.59, log 0.76),
 * rounded up by a few hundredths, so an accuracy regression fails here even where it stays
 * inside the looser bounds of vmath_accuracy_against_libm. BORN_VMATH_REPORT=1 prints them. The
 * AVX-512 kernels give the AVX2 bits but gelu's, whose worst here was 2.85 ulp when its table
 * method landed (2026-12-02; its near path for |x| < 4, which the sweep's vectors of small inputs
 * take, 2.52 at worst over every f32 there). The NEON kernels do AVX2's operations and are held
 * to its bounds. */
#define GELU_AVX512_SWEEP_ULP 2.9
TEST(vmath_dense_sweep_against_libm) {
    static const struct {
        born_unary_op op;
        double max_ulp;
    } sweep[] = {
        {BORN_UNARY_EXP, 1.05},     {BORN_UNARY_TANH, 2.55},      {BORN_UNARY_SIGMOID, 2.3},
        {BORN_UNARY_SILU, 2.2},     {BORN_UNARY_GELU, 3.4},       {BORN_UNARY_GELU_TANH, 3.65},
        {BORN_UNARY_LOG, 0.8},
    };
    cpu_level levels[2];
    int nlevels = simd_levels(levels);
    if (!nlevels) return;
    const uint32_t lo = 0x30800000u /* 2^-30 */, hi = 0x42c80000u /* 100 */, step = 251;
    int64_t n = 2 * (int64_t)((hi - lo) / step + 1);
    float *in = malloc((size_t)n * sizeof *in), *out = malloc((size_t)n * sizeof *out);
    CHECK(in && out);
    if (!in || !out) goto done;
    int64_t k = 0;
    for (uint32_t b = lo; b <= hi && k + 1 < n; b += step) {
        in[k++] = bits_to_f(b);
        in[k++] = bits_to_f(b | 0x80000000u);
    }
    n = k;
    enum { NSWEEP = sizeof sweep / sizeof sweep[0] };
    for (int j = 0; j < NSWEEP * nlevels; j++) {
        int c = j % NSWEEP;
        cpu_level level = levels[j / NSWEEP];
        bool own_gelu = level == CPU_LEVEL_AVX512 && sweep[c].op == BORN_UNARY_GELU;
        double bound = own_gelu ? GELU_AVX512_SWEEP_ULP : sweep[c].max_ulp;
        run_unary(sweep[c].op, in, out, n, level);
        double worst = 0;
        float worst_x = 0;
        for (int64_t i = 0; i < n; i++) {
            double ref = reference(sweep[c].op, in[i]);
            if (isnan(ref) || fabs(ref) < FLT_MIN) continue; /* log of negatives; denormals above */
            double e = ulp_error(out[i], ref);
            if (e > worst) {
                worst = e;
                worst_x = in[i];
            }
        }
        CHECK_MSG(worst <= bound, "%s (%s): %.3f ulp at x = %.9g (sweep bound %.2f)",
                  born_unary_op_name(sweep[c].op), cpu_level_name(level), worst, worst_x, bound);
        if (getenv("BORN_VMATH_REPORT"))
            printf("  %s (%s): max %.3f ulp at x = %.9g over %lld inputs\n",
                   born_unary_op_name(sweep[c].op), cpu_level_name(level), worst, worst_x,
                   (long long)n);
    }
done:
    free(in);
    free(out);
}

/* ---- the fast paths written out in scalar FMAs ------------------------------------------ */

/* y 2^n, n in the low bits of t (vm_scale_by_t, vm4_scale_by_t). */
static float fma_scale_by_t(float y, float t) {
    return bits_to_f(f_to_bits(y) + (f_to_bits(t) << 23));
}

/* e^x - 1 = 2^n (1 + s) - 1 reduced: s and t (vm_expm1_reduced, vm4_expm1_reduced). */
static float fma_expm1_reduced(float x, float *t_out) {
    const float shift = 12582912.0f; /* 1.5 2^23 */
    float t = fmaf(x, 1.44269504088896341f, shift);
    float n = t - shift;
    float r = fmaf(-n, 0.693147182464599609375f, x);
    r = fmaf(-n, -1.904654299957768e-09f, r);
    float q = 1.3903591316193342e-3f;
    q = fmaf(q, r, 8.366215042769909e-3f);
    q = fmaf(q, r, 4.166676849126816e-2f);
    q = fmaf(q, r, 1.666654348373413e-1f);
    q = fmaf(q, r, 0.5f);
    *t_out = t;
    return fmaf(q, r * r, r);
}

static float fma_exp(float x) {
    float t, s = fma_expm1_reduced(x, &t);
    return fma_scale_by_t(s + 1.0f, t);
}
static float fma_sigmoid(float x) { return 1.0f / (1.0f + fma_exp(-x)); }
static float fma_silu(float x) { return x / (1.0f + fma_exp(-x)); }
static float fma_tanh(float x) {
    float a = fminf(fabsf(x), 10.0f), t;
    float s = fma_expm1_reduced(a * -2.0f, &t);
    float p = fma_scale_by_t(1.0f, t);
    float m = fmaf(s, p, p - 1.0f);
    return copysignf(m / (-2.0f - m), x);
}

/* e^{-h / 2 - c} = 2^n (1 + s): s and t (vm_expm1_half_sq, vm4_expm1_half_sq). */
static float fma_expm1_half_sq(float h, float c, float *t_out) {
    const float shift = 12582912.0f;
    float x = h * -0.5f;
    float t = fmaf(h, -0.5f * 1.44269504088896341f, shift);
    float n = t - shift;
    float r = fmaf(-n, 0.693147182464599609375f, x);
    r = r - c;
    r = fmaf(-n, -1.904654299957768e-09f, r);
    float r2 = r * r;
    float a = fmaf(1.666654348373413e-1f, r, 0.5f);
    float b = fmaf(8.366215042769909e-3f, r, 4.166676849126816e-2f);
    b = fmaf(1.3903591316193342e-3f, r2, b);
    *t_out = t;
    return fmaf(fmaf(b, r2, a), r2, r);
}

/* 2 P(q) by Estrin's scheme, then Horner's (vm_gelu_poly with k = 2). */
static float fma_gelu_poly2(float q) {
    float q2 = q * q, q4 = q2 * q2;
    float a1 = fmaf(2.0f * 1.836080663e-02f, q, 2.0f * 1.439925004e-02f);
    float a2 = fmaf(2.0f * -3.375926288e-03f, q, 2.0f * -2.420695237e-04f);
    float a3 = fmaf(2.0f * 4.427004897e-04f, q, 2.0f * -9.439419373e-04f);
    float a4 = fmaf(2.0f * 1.469543986e-05f, q, 2.0f * 3.607159597e-04f);
    float b0 = fmaf(a2, q2, a1), b1 = fmaf(a4, q2, a3);
    b1 = fmaf(2.0f * -3.796706733e-05f, q4, b1);
    float h = fmaf(b1, q4, b0);
    h = fmaf(h, q, 2.0f * -1.657022834e-01f);
    return fmaf(h, q, 2.0f * 3.362039924e-01f);
}

static float fma_gelu(float x) {
    float t = fminf(12.0f, fabsf(x));
    float hi = t * t, lo = fmaf(t, t, -hi);
    float et, es = fma_expm1_half_sq(hi, lo * 0.5f, &et);
    float d = t + 2.0f;
    float q = (t - 2.0f) / d, w = fminf(12.0f, x) / d;
    float p = fma_gelu_poly2(q);
    float pw = p * w, pe = fmaf(p, w, -pw);
    float v = fma_scale_by_t(fmaf(es, pw, pe) + pw, et);
    return copysignf(signbit(x) ? v : x - v, x);
}

/* gelu's near path (vm_gelu_near, v16_gelu_near) for |x| < VM_GELU_NEAR_MAX: Phi(-t) from the
 * near table's polynomial on the interval of t (t / 2 + 2). */
static float fma_gelu_near(float x) {
    float t = fabsf(x);
    int j = (int)((f_to_bits(fmaf(t, fmaf(t, 0.5f, 2.0f), 16.0f)) >> 19) & 15u);
    float s = t - cpu_gelu_near_table[0][j];
    float p = fmaf(cpu_gelu_near_table[6][j], s, cpu_gelu_near_table[5][j]);
    for (int k = 4; k >= 1; k--) p = fmaf(p, s, cpu_gelu_near_table[k][j]);
    return signbit(x) ? x * p : fmaf(-x, p, x);
}

/* Whether the SIMD vector of `lanes` that holds in[i] (of n, from in[0]) takes gelu's near path:
 * every |x| in it below 3.9995 (the lanes past n load as 0). */
static bool gelu_near_vector(const float *in, int n, int i, int lanes) {
    for (int j = i - i % lanes; j < i - i % lanes + lanes && j < n; j++)
        if (!(fabsf(in[j]) < 3.9995f)) return false;
    return true;
}

/* Inputs inside each fast path's range give, at every SIMD level, the bits of its operations
 * written out above in scalar FMAs (the ranges' ends, +-FLT_MIN and 2^16 random f32 of every
 * exponent in the range). gelu's vectors whose every |x| is below 4 take the near path at AVX2
 * and AVX-512 (the same bits at both); AVX-512's other gelu vectors have their own method and
 * are left out, and NEON has no near path. Zeros and denormals are left out too
 * (vmath_special_values_alone_keep_their_signs holds their signs). */
TEST(vmath_fast_paths_give_the_scalar_fma_bits) {
    static const struct {
        born_unary_op op;
        float (*f)(float);
        float lo, hi;
    } fast[] = {
        {BORN_UNARY_EXP, fma_exp, -86.5f, 86.5f},
        {BORN_UNARY_SIGMOID, fma_sigmoid, -86.5f, 86.5f},
        {BORN_UNARY_SILU, fma_silu, -86.5f, 86.5f},
        {BORN_UNARY_TANH, fma_tanh, -FLT_MAX, FLT_MAX},
        {BORN_UNARY_GELU, fma_gelu, -12.0f, FLT_MAX},
        {BORN_UNARY_GELU, fma_gelu, -3.999f, 3.999f},
    };
    enum { NFAST = sizeof fast / sizeof fast[0], N = 1 << 16 };
    static float in[N], out[N];
    cpu_level levels[2];
    int nlevels = simd_levels(levels);
    for (int j = 0; j < NFAST * nlevels; j++) {
        int c = j % NFAST;
        cpu_level level = levels[j / NFAST];
        in[0] = fast[c].lo, in[1] = fast[c].hi, in[2] = FLT_MIN, in[3] = -FLT_MIN;
        for (int i = 4; i < N; i++) {
            float f;
            do f = bits_to_f(rnd32());
            while (!isfinite(f) || fabsf(f) < FLT_MIN || f < fast[c].lo || f > fast[c].hi);
            in[i] = f;
        }
        run_unary(fast[c].op, in, out, N, level);
        bool gelu = fast[c].op == BORN_UNARY_GELU;
        int lanes = level == CPU_LEVEL_AVX512 ? 16 : 8, bad = -1, near = 0;
        float want = 0;
        for (int i = 0; i < N && bad < 0; i++) {
            float (*ref)(float) = fast[c].f;
            if (gelu && level != CPU_LEVEL_NEON && gelu_near_vector(in, N, i, lanes)) {
                ref = fma_gelu_near;
                near++;
            } else if (gelu && level == CPU_LEVEL_AVX512) {
                continue;
            }
            want = ref(in[i]);
            if (f_to_bits(out[i]) != f_to_bits(want)) bad = i;
        }
        CHECK_MSG(bad < 0, "%s (%s): %.9g gives %.9g, the scalar FMAs %.9g",
                  born_unary_op_name(fast[c].op), cpu_level_name(level), bad < 0 ? 0 : in[bad],
                  bad < 0 ? 0 : out[bad], bad < 0 ? 0 : want);
        if (gelu && fast[c].hi < 4.0f && level != CPU_LEVEL_NEON)
            CHECK_MSG(near == N, "gelu (%s): %d of %d inputs took the near path", cpu_level_name(level), near, N);
    }
}

/* ---- the gelu gradient ------------------------------------------------------------------ */

/* The fused gelu gradient, Phi(x) + x phi(x) (unary_avx2.c, unary_avx512.c; g = 1), at every SIMD
 * level over every 251st f32 bit pattern of both signs from 2^-30 to 14 in magnitude (about 2.3
 * million inputs, past the fast paths' |x| <= 13) and the special values, against the exact value
 * in double: within a bound in FLT_EPSILON of the size of its terms, |Phi(x)| + |x phi(x)| (they
 * cancel near x = -0.75, where nothing in f32 is better than that), plus the smallest normal.
 * AVX-512's gradient has its own method (vmath_avx512.h); the bounds are each level's worst when
 * that method landed, rounded up (here 2.53 for AVX2, whose operations NEON does, and 1.48 for
 * AVX-512; over every 97th pattern 2.66 and 1.59), so that a regression fails here. AVX-512's
 * near path for |x| < 4 (one polynomial for Phi(-t) - t phi(t)) reads 1.72 at worst over every
 * 7th pattern there and 1.71 here, both at x near 0.023 in the table's widest interval
 * ([0, 0.45)): the bound went from 1.65 to 1.75 with it (2026-12-02).
 * BORN_VMATH_REPORT=1 prints them. */
#define GELU_GRAD_UNITS 2.7
#define GELU_GRAD_AVX512_UNITS 1.75
TEST(vmath_gelu_gradient_against_libm) {
    cpu_level levels[2];
    int nlevels = simd_levels(levels);
    if (!nlevels) return;
    const uint32_t lo = 0x30800000u /* 2^-30 */, hi = 0x41600000u /* 14 */, step = 251;
    const float specials[] = {0.0f, -0.0f, 1e-45f, -1e-45f, FLT_MIN, -FLT_MIN, 13.0f, -13.0f,
                              12.999999f, -12.999999f, 15.0f, -15.0f, 0.75f, -0.75f, 0.7517915f,
                              -0.7517915f, 1.0f, -1.0f, 0.25f, -0.25f, 3.0f, -3.0f};
    enum { NS = sizeof specials / sizeof specials[0] };
    int64_t n = 2 * (int64_t)((hi - lo) / step + 1) + NS;
    float *x = malloc((size_t)n * 4), *g = malloc((size_t)n * 4), *out = malloc((size_t)n * 4);
    CHECK(x && g && out);
    if (!x || !g || !out) goto done;
    int64_t k = 0;
    for (int i = 0; i < NS; i++) x[k++] = specials[i];
    for (uint32_t b = lo; b <= hi && k + 1 < n; b += step) {
        x[k++] = bits_to_f(b);
        x[k++] = bits_to_f(b | 0x80000000u);
    }
    n = k;
    for (int64_t i = 0; i < n; i++) g[i] = 1.0f;
    for (int l = 0; l < nlevels; l++) {
        cpu_level saved = cpu_get_level();
        cpu_set_level(levels[l]);
        born_strided so, sg, sx;
        memset(&so, 0, sizeof so);
        so.dtype = BORN_F32;
        so.ndim = 1;
        so.shape[0] = n;
        so.strides[0] = 1;
        sg = sx = so;
        so.data = out;
        sg.data = g;
        sx.data = x;
        CHECK_OK(cpu_unary_backward(BORN_UNARY_GELU, &so, &sg, &sx, &sx, NULL));
        cpu_set_level(saved);
        double worst = 0;
        float worst_x = 0;
        for (int64_t i = 0; i < n; i++) {
            double xd = x[i], cdf = 0.5 * erfc(-xd / sqrt(2.0));
            double xpdf = xd * exp(-xd * xd / 2) / sqrt(2 * M_PI);
            double units = (fabs((double)out[i] - (cdf + xpdf)) - FLT_MIN) /
                           (FLT_EPSILON * (fabs(cdf) + fabs(xpdf)));
            if (units > worst) {
                worst = units;
                worst_x = x[i];
            }
        }
        double bound = levels[l] == CPU_LEVEL_AVX512 ? GELU_GRAD_AVX512_UNITS : GELU_GRAD_UNITS;
        CHECK_MSG(worst <= bound, "gelu gradient (%s): %.2f FLT_EPSILON of the terms at x = %.9g "
                  "(bound %.2f)", cpu_level_name(levels[l]), worst, worst_x, bound);
        if (getenv("BORN_VMATH_REPORT"))
            printf("  gelu gradient (%s): max %.3f FLT_EPSILON of the terms at x = %.9g over %lld inputs\n",
                   cpu_level_name(levels[l]), worst, worst_x, (long long)n);
    }
done:
    free(x);
    free(g);
    free(out);
}
