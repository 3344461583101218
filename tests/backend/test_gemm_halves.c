/* cpu_gemm_halves: f16 / bf16 operands widened as the GEMM packs them (or, for a weight read in
 * place, a tile's rows at a time) give, bit for bit, what cpu_gemm_f32 gives on their f32 values
 * in the same layout, at every CPU level, on one and two threads, through each way of packing
 * (lanes contiguous along k, steps' lanes contiguous, any strides), partial panels and several k
 * blocks, and C transposed (the operands then swap). */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "core/cpu_features.h"
#include "test.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static float rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* How an r x c operand lies: rows (false) or columns (true) contiguous, `step` apart. */
typedef struct half_layout {
    bool transposed;
    int step;
} half_layout;

static void layout_strides(int64_t r, int64_t c, half_layout L, int64_t *rs, int64_t *cs,
                           int64_t *size) {
    if (L.transposed) {
        *rs = L.step;
        *cs = r * L.step;
    } else {
        *cs = L.step;
        *rs = c * L.step;
    }
    *size = (r - 1) * *rs + (c - 1) * *cs + 1;
}

/* n halves of random values and their f32 values. */
static bool random_halves(int64_t n, bool bf16, uint16_t **h, float **f) {
    *h = malloc((size_t)n * sizeof **h);
    *f = malloc((size_t)n * sizeof **f);
    if (!*h || !*f) return false;
    for (int64_t i = 0; i < n; i++) {
        float x = rnd();
        (*h)[i] = bf16 ? born_f32_to_bf16(x) : born_f32_to_f16(x);
        (*f)[i] = bf16 ? born_bf16_to_f32((*h)[i]) : born_f16_to_f32((*h)[i]);
    }
    return true;
}

static bool halves_case(bool bf16, int64_t m, int64_t n, int64_t k, half_layout la, half_layout lb,
                        bool c_transposed, int threads) {
    int64_t a_rs, a_cs, a_n, b_rs, b_cs, b_n;
    layout_strides(m, k, la, &a_rs, &a_cs, &a_n);
    layout_strides(k, n, lb, &b_rs, &b_cs, &b_n);
    int64_t c_rs = c_transposed ? 1 : n, c_cs = c_transposed ? m : 1;
    uint16_t *ha = NULL, *hb = NULL;
    float *fa = NULL, *fb = NULL;
    float *got = malloc((size_t)(m * n) * sizeof *got),
          *want = malloc((size_t)(m * n) * sizeof *want);
    bool ok =
        got && want && random_halves(a_n, bf16, &ha, &fa) && random_halves(b_n, bf16, &hb, &fb);
    CHECK(ok);
    if (ok) {
        CHECK_OK(born_set_num_threads(threads));
        for (int64_t i = 0; i < m * n; i++)
            got[i] = want[i] = 12345.0f; /* beta 0: overwritten */
        cpu_gemm_f32(m, n, k, 1.0f, fa, a_rs, a_cs, fb, b_rs, b_cs, 0.0f, want, c_rs, c_cs);
        CHECK(cpu_gemm_halves(m, n, k, ha, a_rs, a_cs, hb, b_rs, b_cs, bf16, got, c_rs, c_cs));
        for (int64_t i = 0; ok && i < m * n; i++)
            if (memcmp(&got[i], &want[i], sizeof got[i]) != 0) {
                test_fail(__FILE__, __LINE__,
                          "%s %lldx%lldx%lld at %s, A %s step %d, B %s step %d, C %s, %d "
                          "thread(s): element %lld is %.9g, the f32 product's %.9g",
                          bf16 ? "bf16" : "f16", (long long)m, (long long)n, (long long)k,
                          cpu_level_name(cpu_get_level()), la.transposed ? "by columns" : "by rows",
                          la.step, lb.transposed ? "by columns" : "by rows", lb.step,
                          c_transposed ? "by columns" : "by rows", threads, (long long)i,
                          (double)got[i], (double)want[i]);
                ok = false;
            }
    }
    free(ha), free(hb), free(fa), free(fb), free(got), free(want);
    return ok;
}

TEST(gemm_halves_give_the_f32_products_bits) {
    cpu_level saved = cpu_get_level();
    int saved_threads = born_get_num_threads();
    /* the one-block path (up to 192 rows) and the shared-B one, W read in place (B by columns:
     * 17 to 192 rows at AVX-512, 32 and 64 at AVX2), tiles' edges (6, 12 rows; 16, 32 columns),
     * one to three k blocks */
    const int64_t shapes[][3] = {{17, 19, 5},   {40, 70, 600}, {31, 33, 1030},
                                 {200, 57, 37}, {32, 45, 600}, {64, 30, 70}};
    const half_layout layouts[] = {{false, 1}, {true, 1}, {false, 2}};
    bool ok = true;
    for (int level = saved; ok && level >= CPU_LEVEL_SCALAR; level--) {
        cpu_set_level((cpu_level)level);
        if ((int)cpu_get_level() != level) continue;
        for (int d = 0; ok && d < 2; d++)
            for (size_t s = 0; ok && s < sizeof shapes / sizeof shapes[0]; s++)
                for (int la = 0; ok && la < 3; la++)
                    for (int lb = 0; ok && lb < 3; lb++)
                        ok = halves_case(d == 1, shapes[s][0], shapes[s][1], shapes[s][2],
                                         layouts[la], layouts[lb], (la + lb + (int)s) % 2 == 1,
                                         1 + (la + lb + d) % 2);
    }
    cpu_set_level(saved);
    CHECK_OK(born_set_num_threads(saved_threads));
}

TEST(gemm_halves_leave_few_rows_to_the_caller) {
    /* at most 16 rows (after C's transposition) the f32 GEMM streams B: not a packed product */
    uint16_t a[16 * 8] = {0}, b[8 * 40] = {0};
    float c[16 * 40];
    CHECK(!cpu_gemm_halves(16, 40, 8, a, 8, 1, b, 40, 1, false, c, 40, 1));
    CHECK(!cpu_gemm_halves(40, 16, 8, b, 1, 40, a, 1, 8, false, c, 1, 40));
    /* k == 0: C is zeros, done */
    for (int i = 0; i < 16 * 40; i++)
        c[i] = 1.0f;
    CHECK(cpu_gemm_halves(17, 20, 0, a, 1, 1, b, 1, 1, true, c, 20, 1));
    CHECK(c[0] == 0.0f && c[17 * 20 - 1] == 0.0f);
}
