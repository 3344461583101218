/* The SIMD folds of contiguous f32 runs (reduce_avx2.c; reduce_neon.c on arm64) against the
 * orders they promise, bit for bit, at every SIMD level this CPU has: a sum is 32 partial sums
 * (four quarters of the run, eight lanes each; the rest into the first eight lanes, the last 1-7
 * into the second eight) added in a fixed tree, so an arm64 machine gives the x86-64 bits; max
 * and min return the first NaN of a run (its payload), else the extremum, for lengths that end on
 * every tail of the vector loops. */
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "test.h"

static uint64_t order_rng = 0x2545F4914F6CDD1Dull;

static float order_rnd(void) { /* [-4, 4) */
    order_rng = order_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(order_rng >> 11) / 9007199254740992.0 * 8.0 - 4.0);
}

static uint32_t bits_of(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* cpu_sum_f32_avx2's order for n contiguous floats, in scalar operations. */
static float avx2_sum_order(const float *x, int64_t n) {
    float s[4][8] = {{0}};
    int64_t q = (n / 4) & ~(int64_t)7;
    for (int64_t i = 0; i < q; i += 8)
        for (int k = 0; k < 4; k++)
            for (int l = 0; l < 8; l++)
                s[k][l] = s[k][l] + x[k * q + i + l];
    int64_t i = 4 * q;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            s[0][l] = s[0][l] + x[i + l];
    for (int l = 0; i + l < n; l++)
        s[1][l] = s[1][l] + x[i + l];
    float v[8];
    for (int l = 0; l < 8; l++)
        v[l] = (s[0][l] + s[1][l]) + (s[2][l] + s[3][l]);
    float h0 = v[0] + v[4], h1 = v[1] + v[5], h2 = v[2] + v[6], h3 = v[3] + v[7];
    return (h0 + h2) + (h1 + h3);
}

static const int64_t order_lens[] = {1,  3,  7,  8,  15,  17,   31,   32,
                                     33, 63, 64, 65, 100, 1000, 1003, 16384};
enum { ORDER_NLENS = sizeof order_lens / sizeof order_lens[0] };

/* The SIMD levels of this CPU (at most AVX2 and AVX-512, or NEON); 0 if none. */
static int order_levels(cpu_level out[2]) {
    cpu_level saved = cpu_get_level();
    const cpu_level all[] = {CPU_LEVEL_AVX2, CPU_LEVEL_AVX512, CPU_LEVEL_NEON};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        cpu_set_level(all[i]);
        if (cpu_get_level() == all[i]) out[n++] = all[i];
    }
    cpu_set_level(saved);
    return n;
}

TEST(reduce_simd_sum_gives_the_avx2_order_bits) {
    cpu_level saved = cpu_get_level(), levels[2];
    int nlevels = order_levels(levels);
    if (!nlevels) printf("  reduce simd order: skipped: no SIMD level on this CPU\n");
    for (int l = 0; l < nlevels; l++) {
        cpu_set_level(levels[l]);
        for (int ln = 0; ln < ORDER_NLENS; ln++) {
            born_scope_begin();
            int64_t n = order_lens[ln], shape[2] = {3, n};
            born_tensor *x = born_empty(BORN_F32, 2, shape);
            float *p = born_data_f32(x);
            for (int64_t i = 0; i < 3 * n; i++)
                p[i] = order_rnd();
            /* each row (the second and third start off any vector alignment when n is odd) */
            born_tensor *rows = born_sum(x, 1, (int64_t[]){1}, false);
            CHECK_OK_TENSOR(rows);
            for (int r = 0; rows && r < 3; r++) {
                float want = 0.0f + avx2_sum_order(p + r * n, n), got = born_data_f32(rows)[r];
                CHECK_MSG(bits_of(got) == bits_of(want),
                          "%s, n=%lld, row %d: sum %.9g, the order gives %.9g",
                          cpu_level_name(levels[l]), (long long)n, r, (double)got, (double)want);
            }
            born_scope_end();
        }
    }
    cpu_set_level(saved);
}

TEST(reduce_simd_max_min_return_the_first_nan) {
    cpu_level saved = cpu_get_level(), levels[3];
    int nlevels = order_levels(levels);
    levels[nlevels++] = CPU_LEVEL_SCALAR; /* the portable fold keeps the same promise */
    const float nan_a = -NAN, nan_b = NAN;
    for (int l = 0; l < nlevels; l++) {
        cpu_set_level(levels[l]);
        for (int ln = 0; ln < ORDER_NLENS; ln++) {
            born_scope_begin();
            int64_t n = order_lens[ln];
            born_tensor *x = born_empty(BORN_F32, 1, &n);
            float *p = born_data_f32(x);
            float mx = -INFINITY, mn = INFINITY;
            for (int64_t i = 0; i < n; i++) {
                p[i] = order_rnd();
                mx = p[i] > mx ? p[i] : mx;
                mn = p[i] < mn ? p[i] : mn;
            }
            float gmax = born_item(born_max(x, 0, NULL, false));
            float gmin = born_item(born_min(x, 0, NULL, false));
            CHECK_MSG(gmax == mx && gmin == mn, "%s, n=%lld: max %.9g min %.9g, want %.9g %.9g",
                      cpu_level_name(levels[l]), (long long)n, (double)gmax, (double)gmin,
                      (double)mx, (double)mn);
            /* two NaNs of different signs: the first one is returned, wherever the pair lies */
            for (int64_t at = 0; at < n; at += n / 5 + 1) {
                int64_t second = at + 1 + (n - at - 1) / 2;
                float keep_a = p[at], keep_b = second < n ? p[second] : 0;
                p[at] = nan_a;
                if (second < n) p[second] = nan_b;
                float rmax = born_item(born_max(x, 0, NULL, false));
                float rmin = born_item(born_min(x, 0, NULL, false));
                CHECK_MSG(bits_of(rmax) == bits_of(nan_a) && bits_of(rmin) == bits_of(nan_a),
                          "%s, n=%lld, NaNs at %lld and %lld: max %08x, min %08x, want %08x",
                          cpu_level_name(levels[l]), (long long)n, (long long)at, (long long)second,
                          (unsigned)bits_of(rmax), (unsigned)bits_of(rmin),
                          (unsigned)bits_of(nan_a));
                p[at] = keep_a;
                if (second < n) p[second] = keep_b;
            }
            born_scope_end();
        }
    }
    cpu_set_level(saved);
}
