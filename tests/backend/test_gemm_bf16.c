/* The bf16 GEMM (src/backend/cpu/gemm_bf16.c) against a double-precision reference of the same
 * bf16 values: odd sizes on every edge of the 12 x 32 tile, k odd and across the 512-value k
 * blocks, transposed operands, C with a row pitch, 1 and 2 threads giving the same bits; and
 * born_matmul / born_linear on bf16 tensors (the ops layer hands them over without converting),
 * against the same products in f32. The native cases run where the CPU has AVX512_BF16. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm_bf16.h"
#include "core/cpu_features.h"
#include "born/born.h"
#include "test.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static float rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float bf(uint16_t v) { return born_bf16_to_f32(v); }

/* One product: A [m, k] (transposed storage if ta), B [k, n] (if tb), C rows n + 3 apart; checks
 * every element within 2 k 2^-24 of the sum of |products| (f32 sums, the products exact) and
 * that 1 and 2 threads agree bit for bit. False (reported) on a mismatch. */
static bool bf16_case(int64_t m, int64_t n, int64_t k, bool ta, bool tb) {
    const char *path = cpu_amx_enabled() ? "AMX" : "AVX-512";
    uint16_t *a = malloc((size_t)(m * k + 1) * 2), *b = malloc((size_t)(k * n + 1) * 2);
    int64_t c_rs = n + 3;
    float *c1 = malloc((size_t)(m * c_rs + 1) * 4), *c2 = malloc((size_t)(m * c_rs + 1) * 4);
    bool ok = a && b && c1 && c2;
    CHECK(ok);
    if (!ok) goto done;
    int64_t a_rs = ta ? 1 : k, a_cs = ta ? m : 1, b_rs = tb ? 1 : n, b_cs = tb ? k : 1;
    int saved = born_get_num_threads();
    /* first a product of NaNs of the same shape, which leaves NaNs in the packing buffers: padding
     * that is not zeroed where k or the rows end would carry them into C */
    for (int64_t i = 0; i < m * k; i++) a[i] = 0x7fc0;
    for (int64_t i = 0; i < k * n; i++) b[i] = 0x7fc0;
    for (int pass = 0; pass < 2; pass++) {
        born_set_num_threads(pass ? 2 : 1);
        CHECK_OK(cpu_gemm_bf16(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c1, c_rs));
    }
    for (int64_t i = 0; i < m * k; i++) a[i] = born_f32_to_bf16(rnd());
    for (int64_t i = 0; i < k * n; i++) b[i] = born_f32_to_bf16(rnd());
    for (int pass = 0; pass < 2; pass++) {
        float *c = pass ? c2 : c1;
        for (int64_t i = 0; i < m * c_rs; i++) c[i] = NAN; /* every element must be written */
        born_set_num_threads(pass ? 2 : 1);
        CHECK_OK(cpu_gemm_bf16(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c, c_rs));
    }
    born_set_num_threads(saved);
    for (int64_t i = 0; i < m && ok; i++)
        for (int64_t j = 0; j < n && ok; j++) {
            double ref = 0, mag = 0;
            for (int64_t p = 0; p < k; p++) {
                double prod = (double)bf(a[i * a_rs + p * a_cs]) * bf(b[p * b_rs + j * b_cs]);
                ref += prod;
                mag += fabs(prod);
            }
            float got = c1[i * c_rs + j];
            double bound = 2.0 * (double)k * ldexp(1.0, -24) * mag + 1e-30;
            if (!(fabs(got - ref) <= bound)) {
                test_fail(__FILE__, __LINE__, "bf16 gemm (%s) %lldx%lldx%lld (ta %d tb %d): "
                          "[%lld, %lld] is %.9g, reference %.9g", path, (long long)m, (long long)n,
                          (long long)k, ta, tb, (long long)i, (long long)j, got, ref);
                ok = false;
            }
            if (ok && memcmp(&c1[i * c_rs + j], &c2[i * c_rs + j], 4) != 0) {
                test_fail(__FILE__, __LINE__, "bf16 gemm (%s) %lldx%lldx%lld: 1 and 2 threads "
                          "differ at [%lld, %lld]", path, (long long)m, (long long)n, (long long)k,
                          (long long)i, (long long)j);
                ok = false;
            }
        }
done:
    free(a);
    free(b);
    free(c1);
    free(c2);
    return ok;
}

/* Runs cases() on the AMX tiles (where the CPU has them), then on the AVX-512 ones, while the
 * CPU has a native bf16 GEMM and every case passes; AMX is left on. */
static void on_each_bf16_path(bool (*cases)(void)) {
    for (int amx = cpu_amx_enabled(); amx >= 0; amx--) {
        cpu_set_amx(amx);
        if (!cpu_gemm_bf16_native() || !cases()) break;
    }
    cpu_set_amx(true);
}

/* Every shape with each storage order, on the AMX tiles (where the CPU has them) and on the
 * AVX-512 ones: edges of the 12 x 32 and 32 x 32 blocks, k odd, inside one 32-value chunk and across
 * the 512- and 1024-value k blocks, A smaller and larger than B (the AMX form swaps the operands). */
static bool reference_cases(void) {
    static const int64_t shapes[][3] = {
        {1, 1, 1},      {12, 32, 2},   {13, 33, 3},    {11, 31, 7},    {24, 64, 512},
        {25, 70, 513},  {37, 100, 1031}, {1, 300, 64}, {60, 5, 1100},  {48, 96, 1024},
        {32, 32, 32},   {64, 96, 2080}, {96, 33, 2049}, {8, 130, 4096}, {65, 64, 31},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++)
            if (!bf16_case(shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2)) return false;
    return true;
}

TEST(gemm_bf16_matches_the_double_reference) { on_each_bf16_path(reference_cases); }

/* A [m, k] of random bf16 values (as a tensor). */
static born_tensor *rand_bf16(int64_t r, int64_t c) {
    born_tensor *f = born_randn(NULL, BORN_F32, BORN_DIMS(r, c));
    born_tensor *h = born_to_dtype(f, BORN_BF16);
    born_free(f);
    return h;
}

/* The largest |x - y| over two f32 tensors of one shape, relative to max |y|. */
static double rel_diff(born_tensor *x, born_tensor *y) {
    born_tensor *fx = born_to_dtype(x, BORN_F32), *fy = born_to_dtype(y, BORN_F32);
    const float *px = born_data_f32(fx), *py = born_data_f32(fy);
    double worst = 0, top = 0;
    for (int64_t i = 0; i < born_tensor_numel(fx); i++) {
        worst = fmax(worst, fabs((double)px[i] - py[i]));
        top = fmax(top, fabs((double)py[i]));
    }
    born_free(fx);
    born_free(fy);
    return top > 0 ? worst / top : worst;
}

/* born_matmul and born_linear of bf16 tensors (the bf16 GEMM where native, the converting path
 * elsewhere) give the f32 products of the same values rounded to bf16, within a bf16 ulp or two. */
TEST(gemm_bf16_matmul_and_linear_through_the_ops) {
    born_manual_seed(7);
    born_tensor *a = rand_bf16(37, 129), *b = rand_bf16(129, 70), *w = rand_bf16(45, 129);
    born_tensor *fa = born_to_dtype(a, BORN_F32), *fb = born_to_dtype(b, BORN_F32);
    born_tensor *fw = born_to_dtype(w, BORN_F32);
    born_tensor *y = born_matmul(a, b), *fy = born_matmul(fa, fb);
    born_tensor *l = born_linear(a, w, NULL), *fl = born_linear(fa, fw, NULL);
    CHECK(y && fy && l && fl);
    if (y && fy && l && fl) {
        CHECK(born_tensor_dtype(y) == BORN_BF16 && born_tensor_dtype(l) == BORN_BF16);
        CHECK_MSG(rel_diff(y, fy) < 1.0 / 64, "matmul: %g", rel_diff(y, fy));
        CHECK_MSG(rel_diff(l, fl) < 1.0 / 64, "linear: %g", rel_diff(l, fl));
    }
    born_tensor *all[] = {a, b, w, fa, fb, fw, y, fy, l, fl};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) born_free(all[i]);
}

/* cpu_features' vendor bit (which picks the bf16 tiles) agrees with the kernel's /proc/cpuinfo
 * on x86-64 Linux. */
TEST(gemm_bf16_vendor_bit_matches_cpuinfo) {
#if defined(__x86_64__) /* (under qemu-user an arm64 build reads the x86 host's cpuinfo) */
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    int vendor = -1; /* 1 AMD, 0 other, -1 not found (not x86) */
    while (vendor < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "vendor_id", 9) == 0) vendor = strstr(line, "AuthenticAMD") != NULL;
    fclose(f);
    if (vendor >= 0) CHECK_EQ_INT(cpu_features_get()->amd, vendor);
#endif
}

/* born_matmul and born_linear of bf16 tensors round each f32 sum (plus the bias's f32 value, for
 * a linear with a bf16 bias) once: their bits are the CPU matmul's f32 products of the same
 * operands, the bias added in f32, converted, whether the backend rounds as it stores (the AMX
 * tiles in one k block, or summing in f32 between k blocks first, as for a weight gradient) or
 * converts an f32 product after (the AVX-512 paths, few rows).
 * layout: 0 matmul, 1 linear, 2 linear with a bias, 3 matmul of a transposed view (A^T B, A
 * stored k x m: a weight gradient's shape). */
static bool rounded_case(int64_t m, int64_t n, int64_t k, int layout) {
    bool linear = layout == 1 || layout == 2, at = layout == 3;
    born_tensor *a = at ? rand_bf16(k, m) : rand_bf16(m, k);
    born_tensor *b = linear ? rand_bf16(n, k) : rand_bf16(k, n);
    born_tensor *bias = layout == 2 ? rand_bf16(1, n) : NULL;
    born_tensor *bias1 = bias ? born_reshape(bias, BORN_DIMS(n)) : NULL;
    born_tensor *y =
        linear ? born_linear(a, b, bias1) : born_matmul(at ? born_transpose(a, 0, 1) : a, b);
    float *f = malloc((size_t)(m * n) * sizeof *f);
    bool ok = a && b && y && f && born_tensor_dtype(y) == BORN_BF16 && (layout != 2 || bias1);
    CHECK(ok);
    if (ok) {
        const uint16_t *pa = born_data_ptr(a), *pb = born_data_ptr(b), *py = born_data_ptr(y);
        const uint16_t *pbias = bias ? born_data_ptr(bias) : NULL;
        born_strided so = {f, BORN_F32, 2, {m, n}, {n, 1}};
        born_strided sa = {(void *)pa, BORN_BF16, 2, {m, k}, {at ? 1 : k, at ? m : 1}};
        born_strided sb = {(void *)pb, BORN_BF16, 2, {k, n}, {linear ? 1 : n, linear ? k : 1}};
        CHECK_OK(cpu_matmul(&so, &sa, &sb));
        for (int64_t i = 0; i < m * n && ok; i++) {
            float want = pbias ? f[i] + born_bf16_to_f32(pbias[i % n]) : f[i];
            if (py[i] != born_f32_to_bf16(want)) {
                test_fail(__FILE__, __LINE__,
                          "%s %lldx%lldx%lld (%s): element %lld is %04x, "
                          "the f32 sum %.9g rounds to %04x",
                          layout == 0   ? "matmul"
                          : layout == 1 ? "linear"
                          : layout == 2 ? "linear with bias"
                                        : "A^T B",
                          (long long)m, (long long)n, (long long)k,
                          cpu_amx_enabled() ? "AMX" : "AVX-512", (long long)i, py[i], want,
                          born_f32_to_bf16(want));
                ok = false;
            }
        }
    }
    free(f);
    born_tensor *all[] = {a, b, bias, bias1, y};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) born_free(all[i]);
    return ok;
}

static bool rounded_cases(void) {
    static const int64_t shapes[][3] = {
        {2, 50, 300}, {5, 70, 129}, {37, 45, 1000}, {64, 64, 4096}, {33, 40, 4127}, {100, 9, 64},
        /* packed operands of over 1 MB with small sums: the AMX tiles sum in f32 between k
         * blocks (A^T B; and x W^T with W's rows 4 KB apart, the roles swapped; the last also
         * on two or three threads) */
        {96, 80, 3000}, {40, 300, 2100}, {100, 300, 2048}, {160, 320, 4000},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int layout = 0; layout < 4; layout++)
            if (!rounded_case(shapes[s][0], shapes[s][1], shapes[s][2], layout)) return false;
    return true;
}

TEST(gemm_bf16_rounded_results_are_the_f32_sums_rounded_once) {
    born_manual_seed(11);
    on_each_bf16_path(rounded_cases);
}

/* cpu_features' AMX bit agrees with the kernel's /proc/cpuinfo on x86-64 Linux: set where it lists
 * amx_tile and amx_bf16, the OS keeps the tile state (XCR0 bits 17 and 18) and grants it to the
 * process (asked here too: a sandbox may refuse), unless BORN_AMX=0; clear otherwise. */
TEST(gemm_bf16_amx_bit_matches_cpuinfo) {
#if defined(__x86_64__) && defined(__linux__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[4096];
    int listed = -1; /* 1 both flags, 0 neither or one, -1 no flags line */
    while (listed < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0)
            listed = strstr(line, " amx_tile") && strstr(line, " amx_bf16");
    fclose(f);
    const char *env = getenv("BORN_AMX");
    if (listed < 0 || (env && strcmp(env, "0") == 0)) return;
    if (!cpu_features_get()->avx512f) return; /* an emulator (valgrind) hiding AVX-512 */
    bool usable = listed == 1;
    if (usable) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        usable = (lo & 0x60000u) == 0x60000u &&
                 syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18) == 0;
    }
    CHECK_EQ_INT(cpu_features_get()->amx_bf16, usable);
#endif
}

#if defined(__x86_64__)
/* cpu_gemm_bf16_pack_panels over a range of k that runs past k, or lies wholly past it (a part
 * of the last chunk's padding, which the AMX packing's parts of k can ask for): the pairs inside
 * k hold B's values, every word past k (and past n) is zero. */
TEST(gemm_bf16_pack_panels_zero_past_k) {
    if (!cpu_gemm_bf16_native()) return;
    enum { K = 37, N = 40, PANELS = 2, PAIRS = 24 };
    uint16_t b[K * N];
    for (int i = 0; i < K * N; i++) b[i] = (uint16_t)(0x3f80 + i % 97); /* nonzero bf16 */
    enum { GUARD = 1024 }; /* words each side of out that must stay untouched */
    static _Alignas(64) uint32_t mem[GUARD + PANELS * PAIRS * 32 + GUARD];
    uint32_t *out = mem + GUARD;
    static const int64_t starts[] = {0, 20, 36, 38, 60, 100};
    for (int layout = 0; layout < 2; layout++)
        for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
            int64_t k0 = starts[s];
            memset(mem, 0xff, sizeof mem);
            /* row-major B, or its transpose's layout (columns contiguous along k) */
            int64_t b_rs = layout ? 1 : N, b_cs = layout ? K : 1;
            cpu_gemm_bf16_pack_panels(b, b_rs, b_cs, K, N, k0, PAIRS, 0, PANELS, out, PAIRS * 32);
            bool ok = true;
            for (int t = 0; t < PANELS && ok; t++)
                for (int p = 0; p < PAIRS && ok; p++)
                    for (int c = 0; c < 32 && ok; c++) {
                        int64_t col = t * 32 + c, k_lo = k0 + 2 * p, k_hi = k_lo + 1;
                        uint32_t lo = col < N && k_lo < K ? b[k_lo * b_rs + col * b_cs] : 0;
                        uint32_t hi = col < N && k_hi < K ? b[k_hi * b_rs + col * b_cs] : 0;
                        ok = out[t * PAIRS * 32 + p * 32 + c] == (lo | hi << 16);
                    }
            for (int g = 0; g < GUARD && ok; g++)
                ok = mem[g] == 0xffffffffu && out[PANELS * PAIRS * 32 + g] == 0xffffffffu;
            CHECK_MSG(ok, "pack_panels from k0 = %lld (k = %d, layout %d)", (long long)k0, K, layout);
        }
}
#endif
