/* The GEMM's thread splits: products with few m blocks and a long k (weight gradients
 * dW = dY^T X, A transposed) take the whole-k path, where B is packed for all of k and each task
 * runs its own k loop; tall products step through k with the next k block's B packed by the tail
 * tasks of the current step. The results must be the same bits as one thread's and match a double
 * reference. Also: the convolutions' packed products keep the blocked path's bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "gemm_pack_util.h"
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

static void buffers_free(float *buf[4]) {
    for (int i = 0; i < 4; i++) free(buf[i]);
}

/* Four float buffers of the given lengths in buf (all or none: false, with a failed check). */
static bool buffers_new(float *buf[4], int64_t n0, int64_t n1, int64_t n2, int64_t n3) {
    const int64_t len[4] = {n0, n1, n2, n3};
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        buf[i] = malloc(sizeof(float) * (size_t)len[i]);
        ok = ok && buf[i];
    }
    CHECK(ok);
    if (!ok) buffers_free(buf);
    return ok;
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

/* Products whose m fits one m block (a linear layer over a few dozen tokens) pack B panel by panel
 * inside each task; every row must still get the bits the blocked path gives it: the same rows of A
 * inside a taller product (several m blocks) give the same rows of C, at 1 and 2 threads (m above
 * the GEMV paths, which sum in another order), with
 * W^T read transposed (x W^T) or B row-major, alpha and beta != 0, and n and k off the blocks. */
TEST(gemm_one_m_block_rows_match_the_blocked_path) {
    int saved = born_get_num_threads();
    const int64_t shapes[][3] = {{32, 300, 700}, {17, 1000, 256}, {20, 40, 1030}, {96, 33, 300}};
    const int64_t tall = 250; /* several m blocks at every level */
    for (int s = 0; s < 4; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        for (int trans = 0; trans < 2; trans++) {
            float *buf[4];
            if (!buffers_new(buf, tall * k, k * n, tall * n, m * n)) continue;
            float *a = buf[0], *b = buf[1], *c0 = buf[2], *c1 = buf[3];
            seed_state = 500 + (uint64_t)(s * 2 + trans);
            for (int64_t i = 0; i < tall * k; i++) a[i] = next_value();
            for (int64_t i = 0; i < k * n; i++) b[i] = next_value();
            for (int64_t i = 0; i < tall * n; i++) c0[i] = next_value();
            /* B [k, n] row-major, or B = W^T with W [n, k] row-major */
            int64_t b_rs = trans ? 1 : n, b_cs = trans ? k : 1;
            CHECK_OK(born_set_num_threads(1));
            cpu_gemm_f32(tall, n, k, 0.75f, a, k, 1, b, b_rs, b_cs, 0.5f, c0, n, 1);
            for (int t = 1; t <= 2; t++) {
                seed_state = 500 + (uint64_t)(s * 2 + trans);
                for (int64_t i = 0; i < tall * k + k * n; i++) next_value();
                for (int64_t i = 0; i < m * n; i++) c1[i] = next_value(); /* c0's first rows */
                CHECK_OK(born_set_num_threads(t));
                cpu_gemm_f32(m, n, k, 0.75f, a, k, 1, b, b_rs, b_cs, 0.5f, c1, n, 1);
                CHECK_MSG(memcmp(c0, c1, sizeof(float) * (size_t)(m * n)) == 0,
                          "%lldx%lldx%lld%s, %d thread(s): rows differ from the tall product",
                          (long long)m, (long long)n, (long long)k, trans ? " (x W^T)" : "", t);
            }
            buffers_free(buf);
        }
    }
    CHECK_OK(born_set_num_threads(saved));
}

/* Products of many m blocks step through the k blocks with the next block's B packed by the tail
 * tasks of the current step into a second buffer, and the m blocks are balanced to within one
 * panel; threaded products of at most 192 rows instead pack B panel by panel in each task (one
 * thread takes the blocked path for them). The bits must be one thread's, over two column blocks
 * (n > 4080), a shorter last k block, m off the panels, alpha and beta != 0, and B row-major or
 * read transposed. */
TEST(gemm_tall_products_are_bit_identical_across_threads) {
    int saved = born_get_num_threads();
    const int64_t shapes[][3] = {{400, 4200, 700}, {1001, 300, 530}, {200, 64, 257},
                                 {192, 300, 1100}, {100, 4200, 530}, {64, 121, 288}};
    const int threads[] = {2, 3, 4};
    for (int s = 0; s < 6; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        for (int trans = 0; trans < 2; trans++) {
            float *buf[4];
            if (!buffers_new(buf, m * k, k * n, m * n, m * n)) continue;
            float *a = buf[0], *b = buf[1], *c0 = buf[2], *c1 = buf[3];
            seed_state = 900 + (uint64_t)(s * 2 + trans);
            for (int64_t i = 0; i < m * k; i++) a[i] = next_value();
            for (int64_t i = 0; i < k * n; i++) b[i] = next_value();
            for (int64_t i = 0; i < m * n; i++) c0[i] = next_value();
            memcpy(c1, c0, sizeof(float) * (size_t)(m * n));
            int64_t b_rs = trans ? 1 : n, b_cs = trans ? k : 1;
            CHECK_OK(born_set_num_threads(1));
            cpu_gemm_f32(m, n, k, 0.75f, a, k, 1, b, b_rs, b_cs, 0.5f, c0, n, 1);
            /* a double reference at the corners and inside */
            const int64_t probes[3][2] = {{0, 0}, {m - 1, n - 1}, {m / 2, n / 3}};
            for (int p = 0; p < 3; p++) {
                int64_t i = probes[p][0], j = probes[p][1];
                double ref = 0.5 * (double)c1[i * n + j], mag = fabs(ref);
                for (int64_t x = 0; x < k; x++) {
                    double t = 0.75 * (double)a[i * k + x] * (double)b[x * b_rs + j * b_cs];
                    ref += t;
                    mag += fabs(t);
                }
                CHECK_MSG(fabs(c0[i * n + j] - ref) <= 1e-5 * mag + 1e-6, "%lldx%lldx%lld [%lld, %lld]: %g vs %g",
                          (long long)m, (long long)n, (long long)k, (long long)i, (long long)j,
                          (double)c0[i * n + j], ref);
            }
            for (int t = 0; t < 3; t++) {
                float *many = malloc(sizeof(float) * (size_t)(m * n));
                CHECK(many != NULL);
                if (!many) continue;
                memcpy(many, c1, sizeof(float) * (size_t)(m * n));
                CHECK_OK(born_set_num_threads(threads[t]));
                cpu_gemm_f32(m, n, k, 0.75f, a, k, 1, b, b_rs, b_cs, 0.5f, many, n, 1);
                CHECK_MSG(memcmp(c0, many, sizeof(float) * (size_t)(m * n)) == 0,
                          "%lldx%lldx%lld%s differs between 1 and %d threads", (long long)m, (long long)n,
                          (long long)k, trans ? " (x W^T)" : "", threads[t]);
                free(many);
            }
            buffers_free(buf);
        }
    }
    CHECK_OK(born_set_num_threads(saved));
}


/* The packed products of the convolutions block k as cpu_gemm_f32 does (cpu_gemm_f32_kc), so
 * they give its bits: over several k blocks and column chunks, at the CPU level the suite runs at (where the
 * blocked path's k block is 512, the packed products' blocks of 256 used to sum in another
 * order). */
TEST(gemm_packed_products_keep_the_blocked_bits) {
    int saved = born_get_num_threads();
    /* 48 x 300 x 600: more columns than one packed chunk (two chunks per k block), the last one
     * ending in a partial tile */
    const int64_t shapes[][3] = {{48, 40, 600}, {64, 121, 288}, {32, 70, 1030}, {25, 16, 513},
                                 {48, 300, 600}};
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *buf[4];
        if (!buffers_new(buf, m * k, k * n, m * n, m * n)) continue;
        float *a = buf[0], *b = buf[1], *c0 = buf[2], *c1 = buf[3];
        float *ap = malloc(sizeof(float) * cpu_gemm_f32_packed_a_size(m, k));
        CHECK(ap != NULL);
        if (!ap) {
            buffers_free(buf);
            continue;
        }
        seed_state = 900 + (uint64_t)s;
        for (int64_t i = 0; i < m * k; i++) a[i] = next_value();
        for (int64_t i = 0; i < k * n; i++) b[i] = next_value();
        CHECK_OK(born_set_num_threads(1));
        for (int64_t i = 0; i < m * n; i++) c0[i] = c1[i] = NAN;
        cpu_gemm_f32(m, n, k, 1.0f, a, k, 1, b, n, 1, 0.0f, c0, n, 1);
        cpu_gemm_f32_pack_a(m, k, a, k, 1, ap);
        plain_mat pb = {b, n};
        CHECK(cpu_gemm_f32_packed(m, n, k, ap, pack_b_plain, &pb, 0.0f, c1, n, 1));
        CHECK_MSG(memcmp(c0, c1, sizeof(float) * (size_t)(m * n)) == 0,
                  "%lldx%lldx%lld: the packed product's bits differ from cpu_gemm_f32's (k blocks of %lld)",
                  (long long)m, (long long)n, (long long)k, (long long)cpu_gemm_f32_kc(k));
        free(ap);
        buffers_free(buf);
    }
    CHECK_OK(born_set_num_threads(saved));
}
