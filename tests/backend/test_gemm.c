/* cpu_gemm_f32 / cpu_gemm_f64 against a double-precision reference: odd sizes, transposed and
 * padded layouts for A, B and C, alpha/beta variants, the GEMV paths, k = 0 and empty shapes,
 * bit-identical results for 1 and 2 threads, and the portable kernels (cpu_set_level). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "core/cpu_features.h"
#include "test.h"

typedef struct layout {
    bool ta, tb, tc; /* stored column-major (transposed) rather than row-major */
    int pad;         /* extra elements per leading dimension */
    int step;        /* unit-stride dimension's stride (1, or more for strided views) */
} layout;

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Strides of an r x c matrix stored row- or column-major with padding and a step. */
static void strides_for(int64_t r, int64_t c, bool transposed, const layout *L, int64_t *rs,
                        int64_t *cs, int64_t *size) {
    int64_t s = L->step;
    if (!transposed) {
        *cs = s;
        *rs = c * s + L->pad;
    } else {
        *rs = s;
        *cs = r * s + L->pad;
    }
    *size = r > 0 && c > 0 ? (r - 1) * *rs + (c - 1) * *cs + 1 : 1;
}

/* One case; returns false (after reporting) on a mismatch. */
static bool gemm_case(bool f64, int64_t m, int64_t n, int64_t k, double alpha, double beta,
                      layout L, int line) {
    int64_t a_rs, a_cs, a_n, b_rs, b_cs, b_n, c_rs, c_cs, c_n;
    strides_for(m, k, L.ta, &L, &a_rs, &a_cs, &a_n);
    strides_for(k, n, L.tb, &L, &b_rs, &b_cs, &b_n);
    strides_for(m, n, L.tc, &L, &c_rs, &c_cs, &c_n);
    size_t es = f64 ? sizeof(double) : sizeof(float);
    double *a = malloc((size_t)a_n * sizeof *a), *b = malloc((size_t)b_n * sizeof *b);
    double *c0 = malloc((size_t)c_n * sizeof *c0);
    char *ta = malloc((size_t)a_n * es), *tb = malloc((size_t)b_n * es),
         *tc = malloc((size_t)c_n * es);
    bool ok = a && b && c0 && ta && tb && tc;
    CHECK(ok);
    for (int64_t i = 0; ok && i < a_n; i++) {
        a[i] = f64 ? rnd() : (double)(float)rnd();
        if (f64)
            ((double *)ta)[i] = a[i];
        else
            ((float *)ta)[i] = (float)a[i];
    }
    for (int64_t i = 0; ok && i < b_n; i++) {
        b[i] = f64 ? rnd() : (double)(float)rnd();
        if (f64)
            ((double *)tb)[i] = b[i];
        else
            ((float *)tb)[i] = (float)b[i];
    }
    /* C: values when beta reads them, NaN when it must not (beta == 0); padding keeps a
     * sentinel that must survive */
    for (int64_t i = 0; ok && i < c_n; i++) {
        c0[i] = 12345.0;
        if (f64)
            ((double *)tc)[i] = 12345.0;
        else
            ((float *)tc)[i] = 12345.0f;
    }
    for (int64_t i = 0; ok && i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t at = i * c_rs + j * c_cs;
            double v = beta == 0 ? NAN : (f64 ? rnd() : (double)(float)rnd());
            c0[at] = v;
            if (f64)
                ((double *)tc)[at] = v;
            else
                ((float *)tc)[at] = (float)v;
        }
    if (ok) {
        if (f64)
            cpu_gemm_f64(m, n, k, alpha, (const double *)ta, a_rs, a_cs, (const double *)tb, b_rs,
                         b_cs, beta, (double *)tc, c_rs, c_cs);
        else
            cpu_gemm_f32(m, n, k, (float)alpha, (const float *)ta, a_rs, a_cs, (const float *)tb,
                         b_rs, b_cs, (float)beta, (float *)tc, c_rs, c_cs);
    }
    double u = f64 ? 1.2e-16 : 6.0e-8;
    int reported = 0;
    bool *inside = ok ? calloc((size_t)c_n, sizeof *inside) : NULL;
    for (int64_t i = 0; ok && inside && i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t at = i * c_rs + j * c_cs;
            inside[at] = true;
            double s = 0, bound = 0;
            for (int64_t p = 0; p < k; p++) {
                double x = a[i * a_rs + p * a_cs] * b[p * b_rs + j * b_cs];
                s += x;
                bound += fabs(x);
            }
            double ref = alpha * s + (beta == 0 ? 0 : beta * c0[at]);
            bound = fabs(alpha) * bound + (beta == 0 ? 0 : fabs(beta * c0[at]));
            double got = f64 ? ((double *)tc)[at] : (double)((float *)tc)[at];
            if (!(fabs(got - ref) <= (double)(k + 4) * u * bound + 1e-300)) {
                if (reported++ < 3)
                    test_fail(__FILE__, line,
                              "%s gemm m=%lld n=%lld k=%lld (ta=%d tb=%d tc=%d pad=%d "
                              "step=%d alpha=%g beta=%g) C[%lld][%lld] = %.10g, expected %.10g",
                              f64 ? "f64" : "f32", (long long)m, (long long)n, (long long)k, L.ta,
                              L.tb, L.tc, L.pad, L.step, alpha, beta, (long long)i, (long long)j,
                              got, ref);
                ok = false;
            }
        }
    for (int64_t i = 0; inside && i < c_n; i++) {
        double got = f64 ? ((double *)tc)[i] : (double)((float *)tc)[i];
        if (!inside[i] && got != 12345.0) {
            if (reported++ < 3)
                test_fail(__FILE__, line, "gemm m=%lld n=%lld k=%lld wrote outside C at %lld",
                          (long long)m, (long long)n, (long long)k, (long long)i);
            ok = false;
        }
    }
    free(inside);
    free(a);
    free(b);
    free(c0);
    free(ta);
    free(tb);
    free(tc);
    return ok;
}

static const double alphas[] = {1.0, 1.0, 2.5, -0.5, 1.0};
static const double betas[] = {0.0, 1.0, 0.0, 0.25, -2.0};

/* Every (m, n, k) from sizes, rotating through layouts and alpha/beta pairs. */
static void sweep(bool f64, const int64_t *sizes, int nsizes, int line) {
    int combo = 0, failures = 0;
    for (int im = 0; im < nsizes; im++)
        for (int in = 0; in < nsizes; in++)
            for (int ik = 0; ik < nsizes && failures < 5; ik++, combo++) {
                layout L = {combo & 1, (combo >> 1) & 1, (combo >> 2) & 1, (combo / 8) % 2 ? 3 : 0,
                            combo % 11 == 10 ? 2 : 1};
                int ab = combo % 5;
                if (!gemm_case(f64, sizes[im], sizes[in], sizes[ik], alphas[ab], betas[ab], L,
                               line))
                    failures++;
            }
}

TEST(gemm_f32_matches_reference_for_odd_sizes_and_layouts) {
    const int64_t sizes[] = {1, 2, 7, 17, 33, 100};
    sweep(false, sizes, 6, __LINE__);
}

TEST(gemm_f64_matches_reference_for_odd_sizes_and_layouts) {
    const int64_t sizes[] = {1, 3, 8, 17, 50};
    sweep(true, sizes, 5, __LINE__);
}

TEST(gemm_large_shapes_cross_every_block_boundary) {
    layout plain = {false, false, false, 0, 1}, tr = {true, true, false, 5, 1};
    layout tc = {false, true, true, 0, 1};
    /* k over several KC blocks, m over several MC blocks, n over NC */
    CHECK(gemm_case(false, 257, 259, 600, 1.0, 0.0, plain, __LINE__));
    CHECK(gemm_case(false, 300, 17, 1000, 1.0, 1.0, tr, __LINE__));
    CHECK(gemm_case(false, 7, 4200, 9, 2.0, 0.0, plain, __LINE__));
    CHECK(gemm_case(false, 130, 4100, 20, 1.0, 0.5, tc, __LINE__));
    CHECK(gemm_case(false, 193, 97, 257, -1.0, 0.0, tc, __LINE__));
    CHECK(gemm_case(true, 257, 130, 300, 1.0, 0.0, plain, __LINE__));
    CHECK(gemm_case(true, 61, 2100, 9, 1.0, -1.0, tr, __LINE__));
    /* at most 192 rows against B's rows: groups of tiles packed together, a part group, k blocks */
    CHECK(gemm_case(false, 50, 300, 700, 1.0, 0.5, plain, __LINE__));
    CHECK(gemm_case(true, 40, 300, 600, -2.0, 0.0, plain, __LINE__));
}

TEST(gemm_vector_shapes_take_every_gemv_path) {
    const int64_t ks[] = {1, 7, 8, 15, 16, 17, 33, 300, 1000};
    const int64_t ns[] = {1, 3, 4, 5, 17, 600};
    int failures = 0;
    for (int ik = 0; ik < 9; ik++)
        for (int in = 0; in < 6 && failures < 5; in++)
            for (int variant = 0; variant < 6; variant++) {
                /* B row-major (axpy form), column-major (dot form), strided (general path);
                 * A with a unit or a strided k step */
                layout L = {variant >= 3, variant % 3 == 1, false, variant % 2 ? 2 : 0,
                            variant % 3 == 2 ? 3 : 1};
                int ab = (ik + in + variant) % 5;
                for (int f64 = 0; f64 < 2; f64++)
                    if (!gemm_case(f64, 1, ns[in], ks[ik], alphas[ab], betas[ab], L, __LINE__) ||
                        !gemm_case(f64, ns[in], 1, ks[ik], alphas[ab], betas[ab], L, __LINE__))
                        failures++;
            }
}

TEST(gemm_few_rows_take_the_streaming_paths) {
    /* 2..16 rows: groups of four rows (the last one partial), B column blocks and k chunks */
    const int64_t ms[] = {2, 3, 4, 5, 8, 9, 13, 16};
    const int64_t ks[] = {1, 7, 9, 65, 200};
    const int64_t ns[] = {1, 3, 17, 1100};
    int failures = 0;
    for (int im = 0; im < 8; im++)
        for (int ik = 0; ik < 5; ik++)
            for (int in = 0; in < 4 && failures < 5; in++)
                for (int variant = 0; variant < 3; variant++) {
                    /* B row-major (axpy form), B column-major (dot form) with A strided */
                    layout L = {variant == 2, variant >= 1, false, variant, 1};
                    int ab = (im + ik + in + variant) % 5;
                    if (!gemm_case(false, ms[im], ns[in], ks[ik], alphas[ab], betas[ab], L,
                                   __LINE__))
                        failures++;
                }
}

TEST(gemm_k_zero_alpha_zero_and_empty_shapes) {
    layout plain = {false, false, false, 0, 1}, tr = {true, false, true, 2, 1};
    CHECK(gemm_case(false, 5, 6, 0, 1.0, 0.0, plain, __LINE__)); /* C = 0, NaN overwritten */
    CHECK(gemm_case(false, 5, 6, 0, 1.0, 2.0, tr, __LINE__));    /* C = 2 C */
    CHECK(gemm_case(true, 4, 3, 0, 1.0, -1.0, plain, __LINE__));
    CHECK(gemm_case(false, 5, 6, 7, 0.0, 0.5, plain, __LINE__)); /* alpha 0: C = beta C */
    CHECK(gemm_case(false, 0, 6, 7, 1.0, 0.0, plain, __LINE__));
    CHECK(gemm_case(false, 6, 0, 7, 1.0, 1.0, plain, __LINE__));
    CHECK(gemm_case(true, 0, 0, 0, 1.0, 0.0, plain, __LINE__));
    /* alpha == 0 does not read A or B (NaN there does not reach C), as BLAS */
    float a[4] = {NAN, NAN, NAN, NAN}, b[4] = {1, 2, 3, 4}, c[4] = {1, 2, 3, 4};
    cpu_gemm_f32(2, 2, 2, 0.0f, a, 2, 1, b, 2, 1, 3.0f, c, 2, 1);
    CHECK(c[0] == 3 && c[1] == 6 && c[2] == 9 && c[3] == 12);
}

/* Fills and multiplies with `threads` threads; returns the malloc'd C. */
static void *threaded_product(bool f64, int64_t m, int64_t n, int64_t k, bool tb, int threads) {
    CHECK_OK(born_set_num_threads(threads));
    size_t es = f64 ? 8 : 4;
    char *a = malloc((size_t)(m * k) * es), *b = malloc((size_t)(k * n) * es);
    char *c = malloc((size_t)(m * n) * es);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return NULL;
    }
    rng = 12345;
    for (int64_t i = 0; i < m * k; i++) {
        if (f64)
            ((double *)a)[i] = rnd();
        else
            ((float *)a)[i] = (float)rnd();
    }
    for (int64_t i = 0; i < k * n; i++) {
        if (f64)
            ((double *)b)[i] = rnd();
        else
            ((float *)b)[i] = (float)rnd();
    }
    int64_t b_rs = tb ? 1 : n, b_cs = tb ? k : 1;
    if (f64)
        cpu_gemm_f64(m, n, k, 1.0, (double *)a, k, 1, (double *)b, b_rs, b_cs, 0.0, (double *)c, n,
                     1);
    else
        cpu_gemm_f32(m, n, k, 1.0f, (float *)a, k, 1, (float *)b, b_rs, b_cs, 0.0f, (float *)c, n,
                     1);
    free(a);
    free(b);
    return c;
}

TEST(gemm_is_bit_identical_with_1_and_2_threads) {
    int saved = born_get_num_threads();
    const int64_t shapes[][3] = {{300, 200, 700}, {1, 3000, 700}, {3000, 1, 70},
                                 {97, 1000, 40},  {5, 5, 5},      {64, 4200, 33},
                                 {20, 20, 2000},  {8, 3000, 300}, {13, 1000, 100}};
    for (int s = 0; s < 9; s++)
        for (int f = 0; f < 2; f++)
            for (int tb = 0; tb < 2; tb++) {
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                void *one = threaded_product(f, m, n, k, tb, 1);
                void *two = threaded_product(f, m, n, k, tb, 2);
                CHECK(one && two);
                if (one && two)
                    CHECK_MSG(memcmp(one, two, (size_t)(m * n) * (f ? 8 : 4)) == 0,
                              "%s %lldx%lldx%lld (tb=%d) differs between 1 and 2 threads",
                              f ? "f64" : "f32", (long long)m, (long long)n, (long long)k, tb);
                free(one);
                free(two);
            }
    CHECK_OK(born_set_num_threads(saved));
}

TEST(gemm_portable_kernels_match_reference) {
    cpu_level saved = cpu_get_level();
    cpu_set_level(CPU_LEVEL_SCALAR);
    CHECK_EQ_INT(cpu_get_level(), CPU_LEVEL_SCALAR);
    const int64_t sizes[] = {1, 6, 17, 40};
    sweep(false, sizes, 4, __LINE__);
    sweep(true, sizes, 4, __LINE__);
    layout plain = {false, false, false, 0, 1}, tb = {false, true, false, 0, 1};
    CHECK(gemm_case(false, 150, 70, 300, 1.0, 0.0, plain, __LINE__));
    CHECK(gemm_case(false, 1, 300, 100, 1.0, 0.0, plain, __LINE__));
    CHECK(gemm_case(false, 1, 300, 100, 1.0, 1.0, tb, __LINE__));
    cpu_set_level(saved);
}

/* The f32 product at every level this CPU has (scalar, AVX2, AVX-512; NEON), each against the double
 * reference: sizes around every tile edge (the AVX-512 tile is 24 rows = four 6-row panels, the
 * others 6; B panels 16 columns), several k and m blocks, and 1 and 2 threads giving the same
 * bits. The blocked path gives the same bits at AVX2 and AVX-512 (same fma order per element). */
static void *level_product(cpu_level level, int64_t m, int64_t n, int64_t k, bool tb, int threads) {
    cpu_set_level(level);
    return threaded_product(false, m, n, k, tb, threads);
}

/* C = alpha A B + beta C in f64 at `level` on two threads, A row-major, B row-major or (tb)
 * column-major, C (every c_step-th element of its rows) from the same random values every call:
 * the malloc'd C, m * n * c_step elements. */
static double *f64_level_product(cpu_level level, int64_t m, int64_t n, int64_t k, bool tb,
                                 double alpha, double beta, int64_t c_step) {
    double *a = malloc((size_t)(m * k) * sizeof *a), *b = malloc((size_t)(k * n) * sizeof *b);
    double *c = malloc((size_t)(m * n * c_step) * sizeof *c);
    if (a && b && c) {
        rng = 777;
        for (int64_t i = 0; i < m * k; i++)
            a[i] = rnd();
        for (int64_t i = 0; i < k * n; i++)
            b[i] = rnd();
        for (int64_t i = 0; i < m * n * c_step; i++)
            c[i] = rnd();
        cpu_set_level(level);
        CHECK_OK(born_set_num_threads(2));
        cpu_gemm_f64(m, n, k, alpha, a, k, 1, b, tb ? 1 : n, tb ? k : 1, beta, c, n * c_step,
                     c_step);
    } else {
        free(c);
        c = NULL;
    }
    free(a);
    free(b);
    return c;
}

/* The f64 product likewise: every level against the reference (tile edges of the 6 x 8 and
 * 12 x 16 tiles, k blocks of 256, m and n blocks, transposed and padded layouts: A's rows and
 * B^T's columns go through the transposing packers), and AVX2 and AVX-512 giving the same bits
 * for alpha and beta of every kind (the whole tiles' stores and additions, the edges' fma(beta,
 * c, alpha acc)). */
TEST(gemm_f64_every_cpu_level_matches_reference) {
    cpu_level saved = cpu_get_level();
    int saved_threads = born_get_num_threads();
    cpu_set_level(CPU_LEVEL_AVX512);
    cpu_level hw = cpu_get_level();
    for (int l = CPU_LEVEL_SCALAR; l <= (int)hw; l++) {
        cpu_set_level((cpu_level)l);
        if (cpu_get_level() != (cpu_level)l) continue; /* the other architecture's level */
        const int64_t sizes[] = {1, 5, 7, 12, 13, 16, 17, 25};
        sweep(true, sizes, 8, __LINE__);
        layout plain = {false, false, false, 0, 1}, tr = {true, true, false, 5, 1};
        layout tc = {false, true, true, 0, 1}, strided = {true, false, false, 1, 2};
        CHECK(gemm_case(true, 301, 900, 600, 1.0, 0.0, plain, __LINE__));
        CHECK(gemm_case(true, 300, 47, 1000, 1.0, 1.0, tr, __LINE__));
        CHECK(gemm_case(true, 43, 130, 513, 2.0, -2.0, tc, __LINE__));
        CHECK(gemm_case(true, 70, 33, 70, 1.0, 1.0, strided, __LINE__));
    }
    if (hw == CPU_LEVEL_AVX512) {
        /* (one row, B transposed: the dot form, eight columns at a time at AVX-512, four at
         * AVX2, then four and one, k with a step of 4 and a scalar tail) */
        const int64_t shapes[][3] = {{300, 200, 700}, {97, 1000, 40}, {49, 50, 513},
                                     {13, 17, 257},   {12, 16, 255},  {1000, 801, 300},
                                     {1, 70, 300},    {1, 1003, 43}};
        for (int s = 0; s < 8; s++)
            for (int v = 0; v < 4; v++) {
                int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                bool tb = v & 1;
                double alpha = v < 2 ? 1.0 : -1.5, beta = (double)v * 0.375; /* 0, 0.375, ... */
                if (v == 1) beta = 1.0;
                int64_t c_step = v == 3 ? 2 : 1; /* C's columns apart: the edge stores */
                double *x2 = f64_level_product(CPU_LEVEL_AVX2, m, n, k, tb, alpha, beta, c_step);
                double *x5 = f64_level_product(CPU_LEVEL_AVX512, m, n, k, tb, alpha, beta, c_step);
                CHECK(x2 && x5);
                if (x2 && x5)
                    CHECK_MSG(memcmp(x2, x5, (size_t)(m * n * c_step) * sizeof *x2) == 0,
                              "f64 %lldx%lldx%lld (tb=%d, alpha %g, beta %g): AVX2 and AVX-512 "
                              "products differ",
                              (long long)m, (long long)n, (long long)k, tb, alpha, beta);
                free(x2);
                free(x5);
            }
    }
    cpu_set_level(saved);
    CHECK_OK(born_set_num_threads(saved_threads));
}

TEST(gemm_f32_every_cpu_level_matches_reference) {
    cpu_level saved = cpu_get_level();
    int saved_threads = born_get_num_threads();
    cpu_set_level(CPU_LEVEL_AVX512);
    cpu_level hw = cpu_get_level();
    for (int l = CPU_LEVEL_SCALAR; l <= (int)hw; l++) {
        cpu_set_level((cpu_level)l);
        if (cpu_get_level() != (cpu_level)l) continue; /* the other architecture's level */
        const int64_t sizes[] = {1, 5, 6, 13, 17, 24, 31, 49};
        sweep(false, sizes, 8, __LINE__);
        layout plain = {false, false, false, 0, 1}, tr = {true, true, false, 5, 1};
        layout tc = {false, true, true, 0, 1}, strided = {true, false, false, 1, 2};
        CHECK(gemm_case(false, 257, 259, 600, 1.0, 0.0, plain, __LINE__));
        CHECK(gemm_case(false, 300, 47, 1000, 1.0, 1.0, tr, __LINE__));
        CHECK(gemm_case(false, 199, 4200, 9, -0.5, 0.25, plain, __LINE__));
        CHECK(gemm_case(false, 43, 130, 513, 2.0, -2.0, tc, __LINE__));
        CHECK(gemm_case(false, 70, 33, 70, 1.0, 1.0, strided, __LINE__));
        CHECK(gemm_case(false, 1, 600, 300, 1.0, 1.0, tc, __LINE__)); /* GEMV paths */
        CHECK(gemm_case(false, 5, 1100, 200, 1.0, 0.0, plain, __LINE__));
        CHECK(gemm_case(false, 3, 17, 65, 1.0, 0.5, tc, __LINE__));
        for (int tb = 0; tb < 2; tb++) {
            void *one = level_product((cpu_level)l, 300, 200, 700, tb, 1);
            void *two = level_product((cpu_level)l, 300, 200, 700, tb, 2);
            CHECK(one && two);
            if (one && two)
                CHECK_MSG(memcmp(one, two, 300 * 200 * 4) == 0,
                          "level %d: 1 and 2 threads differ (tb=%d)", l, tb);
            free(one);
            free(two);
        }
    }
    if (hw == CPU_LEVEL_AVX512) {
        /* the blocked path, and the few-row dot form (x W^T; eight rows at once at AVX-512, the
         * last group of 5-7 rows padded; columns three at a time, then two or one; groups of
         * four rows four columns at a time, then one; one row: eight columns at a time at
         * AVX-512, four at AVX2, then four and one, k with a step of 8 and a scalar tail; W read
         * in place with its rows 4 KB apart, copied a tile at a time for 100 rows) */
        const int64_t shapes[][3] = {
            {300, 200, 700}, {97, 1000, 40},  {49, 50, 513}, {8, 101, 1000}, {5, 600, 300},
            {13, 17, 65},    {16, 1100, 203}, {7, 3, 9},     {8, 7, 33},     {12, 25, 17},
            {3, 27, 40},     {4, 1000, 300},  {1, 70, 300},  {1, 1003, 41},  {100, 40, 1024}};
        for (int s = 0; s < 15; s++) {
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            void *x2 = level_product(CPU_LEVEL_AVX2, m, n, k, s == 1 || s >= 3, 2);
            void *x5 = level_product(CPU_LEVEL_AVX512, m, n, k, s == 1 || s >= 3, 2);
            CHECK(x2 && x5);
            if (x2 && x5)
                CHECK_MSG(memcmp(x2, x5, (size_t)(m * n) * 4) == 0,
                          "%lldx%lldx%lld: AVX2 and AVX-512 products differ", (long long)m,
                          (long long)n, (long long)k);
            free(x2);
            free(x5);
        }
    }
    cpu_set_level(saved);
    CHECK_OK(born_set_num_threads(saved_threads));
}

/* The blocked f32 product at every SIMD level (AVX2, AVX-512; NEON on arm64) against the order of
 * operations it promises, bit for bit: per k block of cpu_gemm_f32_kc(k) steps an FMA chain from
 * zero in k order, the first block written as fma(beta, c, alpha * acc) (alpha * acc for beta 0)
 * and each later one as fma(1, c, alpha * acc). So every level, on every machine, gives these
 * bits; the portable kernel (plain C multiply-adds) is not held to it. */
static float fma_order_entry(const float *a, const float *b, int64_t n, int64_t k, int64_t i,
                             int64_t j, float alpha, float beta, float c) {
    int64_t kc = cpu_gemm_f32_kc(k);
    for (int64_t p0 = 0; p0 < k; p0 += kc) {
        float acc = 0;
        for (int64_t p = p0; p < k && p < p0 + kc; p++) acc = fmaf(a[i * k + p], b[p * n + j], acc);
        float t = alpha * acc;
        float be = p0 == 0 ? beta : 1.0f;
        c = be == 0 ? t : fmaf(be, c, t);
    }
    return c;
}

TEST(gemm_f32_simd_levels_give_the_fma_order_bits) {
    cpu_level saved = cpu_get_level();
    int saved_threads = born_get_num_threads();
    const cpu_level levels[] = {CPU_LEVEL_NEON, CPU_LEVEL_AVX2, CPU_LEVEL_AVX512};
    /* m from 24 up (the blocked path, not the few-row ones), edges of the 6- and 12-row and the
     * 16- and 32-column tiles (57 = 32 + 25, 48 = 32 + 16), one to three k blocks */
    const int64_t shapes[][3] = {{24, 16, 5},      {30, 40, 700}, {49, 33, 1030},
                                 {100, 130, 300}, {24, 57, 37},  {31, 48, 9}};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    const float ab[][2] = {{1.0f, 0.0f}, {0.75f, 0.3f}, {1.0f, 1.0f}, {-2.0f, 0.7f}}; /* beta * c inexact */
    int ran = 0;
    for (int l = 0; l < 3; l++) {
        cpu_set_level(levels[l]);
        if (cpu_get_level() != levels[l]) continue;
        ran++;
        for (int s = 0; s < nshapes; s++) {
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(k * n));
            float *c = malloc(sizeof(float) * (size_t)(m * n)), *c0 = malloc(sizeof(float) * (size_t)(m * n));
            CHECK(a && b && c && c0);
            if (!a || !b || !c || !c0) {
                free(a), free(b), free(c), free(c0);
                continue;
            }
            for (int64_t i = 0; i < m * k; i++) a[i] = (float)rnd();
            for (int64_t i = 0; i < k * n; i++) b[i] = (float)rnd();
            for (int64_t i = 0; i < m * n; i++) c0[i] = (float)rnd();
            for (int v = 0; v < 4; v++)
                for (int threads = 1; threads <= 2; threads++) {
                    CHECK_OK(born_set_num_threads(threads));
                    memcpy(c, c0, sizeof(float) * (size_t)(m * n));
                    cpu_gemm_f32(m, n, k, ab[v][0], a, k, 1, b, n, 1, ab[v][1], c, n, 1);
                    int bad = 0;
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t j = 0; j < n; j++) {
                            float want = fma_order_entry(a, b, n, k, i, j, ab[v][0], ab[v][1], c0[i * n + j]);
                            if (memcmp(&want, &c[i * n + j], sizeof want) != 0 && bad++ < 3)
                                test_fail(__FILE__, __LINE__,
                                          "%s, %lldx%lldx%lld, alpha %g beta %g, %d thread(s): "
                                          "C[%lld, %lld] %.9g, the FMA order gives %.9g",
                                          cpu_level_name(levels[l]), (long long)m, (long long)n,
                                          (long long)k, (double)ab[v][0], (double)ab[v][1], threads,
                                          (long long)i, (long long)j, (double)c[i * n + j],
                                          (double)want);
                        }
                }
            free(a), free(b), free(c), free(c0);
        }
    }
    if (!ran) printf("  gemm fma order: skipped: no SIMD level on this CPU\n");
    cpu_set_level(saved);
    CHECK_OK(born_set_num_threads(saved_threads));
}

/* The same for the f64 product (AVX2, AVX-512; NEON on arm64): per k block of cpu_gemm_f64_kc(k)
 * steps an FMA chain from zero, written as fma(beta, c, alpha * acc), then fma(1, c, ...). */
static double fma_order_entry_f64(const double *a, const double *b, int64_t n, int64_t k, int64_t i,
                                  int64_t j, double alpha, double beta, double c) {
    int64_t kc = cpu_gemm_f64_kc(k);
    for (int64_t p0 = 0; p0 < k; p0 += kc) {
        double acc = 0;
        for (int64_t p = p0; p < k && p < p0 + kc; p++)
            acc = fma(a[i * k + p], b[p * n + j], acc);
        double t = alpha * acc;
        double be = p0 == 0 ? beta : 1.0;
        c = be == 0 ? t : fma(be, c, t);
    }
    return c;
}

TEST(gemm_f64_simd_levels_give_the_fma_order_bits) {
    cpu_level saved = cpu_get_level();
    int saved_threads = born_get_num_threads();
    const cpu_level levels[] = {CPU_LEVEL_NEON, CPU_LEVEL_AVX2, CPU_LEVEL_AVX512};
    /* edges of the 6- and 12-row and the 8- and 16-column tiles, one to three k blocks */
    const int64_t shapes[][3] = {{24, 16, 5}, {30, 41, 600}, {49, 23, 530}, {13, 9, 257}};
    const double ab[][2] = {{1.0, 0.0}, {0.75, 0.3}, {1.0, 1.0}, {-2.0, 0.7}};
    int ran = 0;
    for (int l = 0; l < 3; l++) {
        cpu_set_level(levels[l]);
        if (cpu_get_level() != levels[l]) continue;
        ran++;
        for (int s = 0; s < 4; s++) {
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            double *a = malloc(sizeof(double) * (size_t)(m * k));
            double *b = malloc(sizeof(double) * (size_t)(k * n));
            double *c = malloc(sizeof(double) * (size_t)(m * n));
            double *c0 = malloc(sizeof(double) * (size_t)(m * n));
            CHECK(a && b && c && c0);
            if (!a || !b || !c || !c0) {
                free(a), free(b), free(c), free(c0);
                continue;
            }
            for (int64_t i = 0; i < m * k; i++)
                a[i] = rnd();
            for (int64_t i = 0; i < k * n; i++)
                b[i] = rnd();
            for (int64_t i = 0; i < m * n; i++)
                c0[i] = rnd();
            for (int v = 0; v < 4; v++)
                for (int threads = 1; threads <= 2; threads++) {
                    CHECK_OK(born_set_num_threads(threads));
                    memcpy(c, c0, sizeof(double) * (size_t)(m * n));
                    cpu_gemm_f64(m, n, k, ab[v][0], a, k, 1, b, n, 1, ab[v][1], c, n, 1);
                    int bad = 0;
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t j = 0; j < n; j++) {
                            double want = fma_order_entry_f64(a, b, n, k, i, j, ab[v][0], ab[v][1],
                                                              c0[i * n + j]);
                            if (memcmp(&want, &c[i * n + j], sizeof want) != 0 && bad++ < 3)
                                test_fail(__FILE__, __LINE__,
                                          "%s, f64 %lldx%lldx%lld, alpha %g beta %g, %d thread(s): "
                                          "C[%lld, %lld] %.17g, the FMA order gives %.17g",
                                          cpu_level_name(levels[l]), (long long)m, (long long)n,
                                          (long long)k, ab[v][0], ab[v][1], threads, (long long)i,
                                          (long long)j, c[i * n + j], want);
                        }
                }
            free(a), free(b), free(c), free(c0);
        }
    }
    if (!ran) printf("  gemm f64 fma order: skipped: no SIMD level on this CPU\n");
    cpu_set_level(saved);
    CHECK_OK(born_set_num_threads(saved_threads));
}

/* x W^T with a few dozen rows (B's columns contiguous along k: a weight's transpose), which AVX2
 * and AVX-512 compute as C^T = W x^T with W read in place: the same FMA order bits at every level,
 * with tails of W's rows (n % 12) and of x's (m % 32 and m % 16), several k blocks, alpha and
 * beta, C's rows padded, one and two threads; the epilogue sees every element of C once, final. */
typedef struct ep_count {
    int *seen;
    const float *c, *want;
    int64_t n, c_rs;
    int bad;
} ep_count;

static void count_block(void *ctx, int64_t i0, int64_t rows, int64_t j0, int64_t cols) {
    ep_count *e = ctx;
    for (int64_t i = i0; i < i0 + rows; i++)
        for (int64_t j = j0; j < j0 + cols; j++) {
            __atomic_add_fetch(&e->seen[i * e->n + j], 1, __ATOMIC_RELAXED);
            if (memcmp(&e->c[i * e->c_rs + j], &e->want[i * e->n + j], sizeof(float)) != 0)
                __atomic_add_fetch(&e->bad, 1, __ATOMIC_RELAXED);
        }
}

TEST(gemm_f32_weight_transposed_gives_the_fma_order_bits) {
    cpu_level saved = cpu_get_level();
    int saved_threads = born_get_num_threads();
    const cpu_level levels[] = {CPU_LEVEL_NEON, CPU_LEVEL_AVX2, CPU_LEVEL_AVX512};
    /* AVX-512 reads W in place from 17 to 192 rows, AVX2 at 32 to 128 in whole 16-row panels */
    const int64_t shapes[][3] = {{17, 24, 5},   {24, 25, 600},  {33, 130, 1030},
                                 {40, 37, 64},  {100, 61, 300}, {192, 50, 513},
                                 {32, 45, 600}, {64, 13, 70},   {128, 31, 1030}};
    const float ab[][2] = {{1.0f, 0.0f}, {0.75f, 0.3f}, {1.0f, 1.0f}};
    for (int l = 0; l < 3; l++) {
        cpu_set_level(levels[l]);
        if (cpu_get_level() != levels[l]) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], c_rs = n + 3;
            float *a = malloc(sizeof(float) * (size_t)(m * k)),
                  *w = malloc(sizeof(float) * (size_t)(n * k));
            float *b = malloc(sizeof(float) * (size_t)(k * n)),
                  *c = malloc(sizeof(float) * (size_t)(m * c_rs));
            float *c0 = malloc(sizeof(float) * (size_t)(m * c_rs)),
                  *want = malloc(sizeof(float) * (size_t)(m * n));
            int *seen = malloc(sizeof(int) * (size_t)(m * n));
            CHECK(a && w && b && c && c0 && want && seen);
            if (!a || !w || !b || !c || !c0 || !want || !seen) {
                free(a), free(w), free(b), free(c), free(c0), free(want), free(seen);
                continue;
            }
            for (int64_t i = 0; i < m * k; i++)
                a[i] = (float)rnd();
            for (int64_t i = 0; i < n * k; i++)
                w[i] = (float)rnd();
            for (int64_t p = 0; p < k; p++) /* the reference's row-major B = W^T */
                for (int64_t j = 0; j < n; j++)
                    b[p * n + j] = w[j * k + p];
            for (int64_t i = 0; i < m * c_rs; i++)
                c0[i] = (float)rnd();
            for (int v = 0; v < 3; v++) {
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++)
                        want[i * n + j] =
                            fma_order_entry(a, b, n, k, i, j, ab[v][0], ab[v][1], c0[i * c_rs + j]);
                int threads = 1 + (v + (int)s) % 2;
                CHECK_OK(born_set_num_threads(threads));
                memcpy(c, c0, sizeof(float) * (size_t)(m * c_rs));
                memset(seen, 0, sizeof(int) * (size_t)(m * n));
                ep_count e = {seen, c, want, n, c_rs, 0};
                cpu_gemm_f32_ep(m, n, k, ab[v][0], a, k, 1, w, 1, k, ab[v][1], c, c_rs, 1,
                                count_block, &e);
                int bad = 0;
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        if (seen[i * n + j] != 1 && bad++ < 3)
                            test_fail(__FILE__, __LINE__,
                                      "%s %lldx%lldx%lld: the epilogue saw C[%lld, %lld] %d times",
                                      cpu_level_name(levels[l]), (long long)m, (long long)n,
                                      (long long)k, (long long)i, (long long)j, seen[i * n + j]);
                        if (memcmp(&want[i * n + j], &c[i * c_rs + j], sizeof(float)) != 0 &&
                            bad++ < 3)
                            test_fail(__FILE__, __LINE__,
                                      "%s, x[%lld, %lld] W[%lld, %lld]^T, alpha %g beta %g, %d "
                                      "thread(s): C[%lld, %lld] %.9g, the FMA order gives %.9g",
                                      cpu_level_name(levels[l]), (long long)m, (long long)k,
                                      (long long)n, (long long)k, (double)ab[v][0],
                                      (double)ab[v][1], threads, (long long)i, (long long)j,
                                      (double)c[i * c_rs + j], (double)want[i * n + j]);
                    }
                CHECK_MSG(e.bad == 0,
                          "%s %lldx%lldx%lld: %d elements handed to the epilogue "
                          "before they were final",
                          cpu_level_name(levels[l]), (long long)m, (long long)n, (long long)k,
                          e.bad);
                for (int64_t i = 0; i < m; i++) /* the padding between C's rows is untouched */
                    for (int64_t j = n; j < c_rs; j++)
                        CHECK(memcmp(&c[i * c_rs + j], &c0[i * c_rs + j], sizeof(float)) == 0);
            }
            free(a), free(w), free(b), free(c), free(c0), free(want), free(seen);
        }
    }
    cpu_set_level(saved);
    CHECK_OK(born_set_num_threads(saved_threads));
}

/* The f32 GEMV paths (m == 1 and the few-row ones, 2 <= m <= 16) at every SIMD level this CPU
 * has (NEON; AVX2, AVX-512) against the operations their AVX2 loops promise, bit for bit. The dot
 * forms (B's columns contiguous): per output, 8 lanes of fma over k in steps of 8 (m == 1: two
 * such sums over steps of 16, the sum of the two, then one more step of 8 into the first), the
 * lanes added as gemm_hsum8 adds them, then an fma tail in k order. The axpy forms (B's rows
 * contiguous, m <= 8): one fma per k step in k order from zero. Then C = alpha y, or beta c +
 * alpha y. So an arm64 machine is seen to give the x86-64 bits, and lengths that end on every
 * tail (k = 1, 3, 7, 15, 17, 33, 100, 1000; n over the 4-, 3- and 8-wide column groups) are
 * covered. */
static float gemv_dot_bits(int64_t k, const float *x, const float *col, bool two_sums) {
    float s[16] = {0};
    int64_t p = 0;
    if (two_sums)
        for (; p + 16 <= k; p += 16)
            for (int l = 0; l < 16; l++) s[l] = fmaf(x[p + l], col[p + l], s[l]);
    for (; p + 8 <= k; p += 8)
        for (int l = 0; l < 8; l++) s[l] = fmaf(x[p + l], col[p + l], s[l]);
    if (two_sums)
        for (int l = 0; l < 8; l++) s[l] = s[l] + s[l + 8];
    float h0 = s[0] + s[4], h1 = s[1] + s[5], h2 = s[2] + s[6], h3 = s[3] + s[7];
    float r = (h0 + h2) + (h1 + h3);
    for (; p < k; p++) r = fmaf(x[p], col[p], r);
    return r;
}

TEST(gemm_f32_gemv_paths_give_the_avx2_bits) {
    cpu_level saved = cpu_get_level();
    int saved_threads = born_get_num_threads();
    const cpu_level levels[] = {CPU_LEVEL_NEON, CPU_LEVEL_AVX2, CPU_LEVEL_AVX512};
    const int64_t ms[] = {1, 2, 3, 4, 5, 8, 9, 13, 16};
    const int64_t ks[] = {1, 3, 7, 8, 15, 16, 17, 33, 100, 1000};
    const int64_t ns[] = {2, 3, 4, 5, 7, 9, 17, 33, 100};
    const float ab[][2] = {{1.0f, 0.0f}, {-0.75f, 0.3f}};
    int ran = 0, bad = 0;
    for (int l = 0; l < 3; l++) {
        cpu_set_level(levels[l]);
        if (cpu_get_level() != levels[l]) continue;
        ran++;
        for (int im = 0; im < 9; im++)
            for (int ik = 0; ik < 10; ik++)
                for (int in = 0; in < 9; in++)
                    for (int dot = 0; dot < 2; dot++) {
                        int64_t m = ms[im], k = ks[ik], n = ns[in];
                        if (!dot && m > 8) continue; /* the axpy form stops at 8 rows */
                        float *a = malloc(sizeof(float) * (size_t)(m * k));
                        float *b = malloc(sizeof(float) * (size_t)(k * n));
                        float *c = malloc(sizeof(float) * (size_t)(m * n));
                        float *c0 = malloc(sizeof(float) * (size_t)(m * n));
                        float *col = malloc(sizeof(float) * (size_t)k);
                        CHECK(a && b && c && c0 && col);
                        if (!a || !b || !c || !c0 || !col) {
                            free(a), free(b), free(c), free(c0), free(col);
                            continue;
                        }
                        for (int64_t i = 0; i < m * k; i++) a[i] = (float)rnd();
                        for (int64_t i = 0; i < k * n; i++) b[i] = (float)rnd();
                        for (int64_t i = 0; i < m * n; i++) c0[i] = (float)rnd();
                        /* dot: B column-major (column j at b + j k); axpy: row-major */
                        int64_t b_rs = dot ? 1 : n, b_cs = dot ? k : 1;
                        int v = (int)((im + ik + in + dot) % 2);
                        float alpha = ab[v][0], beta = ab[v][1];
                        CHECK_OK(born_set_num_threads(1 + (ik & 1)));
                        memcpy(c, c0, sizeof(float) * (size_t)(m * n));
                        cpu_gemm_f32(m, n, k, alpha, a, k, 1, b, b_rs, b_cs, beta, c, n, 1);
                        for (int64_t i = 0; i < m; i++)
                            for (int64_t j = 0; j < n; j++) {
                                float y = 0;
                                for (int64_t p = 0; p < k; p++) col[p] = b[p * b_rs + j * b_cs];
                                if (dot)
                                    y = gemv_dot_bits(k, a + i * k, col, m == 1);
                                else
                                    for (int64_t p = 0; p < k; p++)
                                        y = fmaf(a[i * k + p], col[p], y);
                                float t = alpha * y;
                                float want = beta == 0 ? t : beta * c0[i * n + j] + t;
                                if (memcmp(&want, &c[i * n + j], sizeof want) != 0 && bad++ < 5)
                                    test_fail(__FILE__, __LINE__,
                                              "%s, %s form, %lldx%lldx%lld: C[%lld, %lld] %.9g, "
                                              "the AVX2 order gives %.9g",
                                              cpu_level_name(levels[l]), dot ? "dot" : "axpy",
                                              (long long)m, (long long)n, (long long)k,
                                              (long long)i, (long long)j, (double)c[i * n + j],
                                              (double)want);
                            }
                        free(a), free(b), free(c), free(c0), free(col);
                    }
    }
    if (!ran) printf("  gemv avx2 bits: skipped: no SIMD level on this CPU\n");
    cpu_set_level(saved);
    CHECK_OK(born_set_num_threads(saved_threads));
}
