/* The GEMM's thread splits for the training shapes: products with few m blocks and a long k
 * (weight gradients dW = dY^T X, A transposed) take the whole-k path, where B is packed for all
 * of k and each task runs its own k loop; the results must be the same bits as one thread's and
 * match a double reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "test.h"

static uint64_t seed_state;

static float next_value(void) {
    seed_state = seed_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(seed_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* C = A^T B for A [k, m] and B [k, n] (both row-major, as dW = dY^T X), beta 0 over C's NaNs. */
static float *dw_product(int64_t m, int64_t n, int64_t k, int threads, const float *a, const float *b) {
    CHECK_OK(born_set_num_threads(threads));
    float *c = malloc(sizeof(float) * (size_t)(m * n));
    if (!c) return NULL;
    for (int64_t i = 0; i < m * n; i++) c[i] = NAN;
    cpu_gemm_f32(m, n, k, 1.0f, a, 1, m, b, n, 1, 0.0f, c, n, 1);
    return c;
}

TEST(gemm_whole_k_split_is_bit_identical_across_threads) {
    int saved = born_get_num_threads();
    /* m, n, k: one and a few m blocks, one and two column blocks (n > 4080), k blocks with a
     * shorter last one */
    const int64_t shapes[][3] = {{20, 20, 2000}, {150, 4200, 600}, {384, 384, 2048},
                                 {256, 390, 1100}, {97, 50, 777}};
    const int threads[] = {2, 3, 5, 8};
    for (int s = 0; s < 5; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *a = malloc(sizeof(float) * (size_t)(k * m)), *b = malloc(sizeof(float) * (size_t)(k * n));
        CHECK(a && b);
        if (!a || !b) {
            free(a);
            free(b);
            continue;
        }
        seed_state = 77 + (uint64_t)s;
        for (int64_t i = 0; i < k * m; i++) a[i] = next_value();
        for (int64_t i = 0; i < k * n; i++) b[i] = next_value();
        float *one = dw_product(m, n, k, 1, a, b);
        CHECK(one != NULL);
        /* a double reference at a few entries, corners included */
        const int64_t probes[4][2] = {{0, 0}, {m - 1, n - 1}, {m / 2, n / 3}, {m - 1, 0}};
        for (int p = 0; one && p < 4; p++) {
            int64_t i = probes[p][0], j = probes[p][1];
            double ref = 0, mag = 0;
            for (int64_t x = 0; x < k; x++) {
                ref += (double)a[x * m + i] * (double)b[x * n + j];
                mag += fabs((double)a[x * m + i] * (double)b[x * n + j]);
            }
            CHECK_MSG(fabs(one[i * n + j] - ref) <= 1e-5 * mag + 1e-6, "%lldx%lldx%lld [%lld, %lld]: %g vs %g",
                      (long long)m, (long long)n, (long long)k, (long long)i, (long long)j,
                      (double)one[i * n + j], ref);
        }
        for (int t = 0; one && t < 4; t++) {
            float *many = dw_product(m, n, k, threads[t], a, b);
            CHECK(many != NULL);
            if (many)
                CHECK_MSG(memcmp(one, many, sizeof(float) * (size_t)(m * n)) == 0,
                          "%lldx%lldx%lld differs between 1 and %d threads", (long long)m,
                          (long long)n, (long long)k, threads[t]);
            free(many);
        }
        free(one);
        free(a);
        free(b);
    }
    CHECK_OK(born_set_num_threads(saved));
}
