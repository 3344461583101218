/* Random numbers: reproducible across thread counts and calls, correct ranges and moments. */
#include <stdlib.h>
#include <string.h>

#include "core/philox.h"
#include "test.h"

static bool same_values(born_tensor *a, born_tensor *b) {
    int64_t n = born_tensor_numel(a);
    if (n != born_tensor_numel(b) || born_tensor_dtype(a) != born_tensor_dtype(b)) return false;
    return memcmp(born_data_ptr(a), born_data_ptr(b), (size_t)n * born_dtype_size(born_tensor_dtype(a))) == 0;
}

TEST(random_is_independent_of_thread_count) {
    int before = born_get_num_threads();
    born_generator *g = born_generator_new(1234);
    born_set_num_threads(1);
    born_tensor *a = born_randn(g, BORN_F32, BORN_DIMS(300001));
    born_generator_seed(g, 1234);
    born_set_num_threads(2);
    born_tensor *b = born_randn(g, BORN_F32, BORN_DIMS(300001));
    CHECK(same_values(a, b));
    born_set_num_threads(before);
    born_generator_free(g);
}

TEST(generator_state_resumes_the_stream) {
    born_generator *g = born_generator_new(7);
    born_tensor *first = born_rand(g, BORN_F64, BORN_DIMS(10));
    uint64_t seed, offset;
    born_generator_get_state(g, &seed, &offset);
    CHECK_EQ_INT(seed, 7);
    CHECK_EQ_INT(offset, 10);
    born_tensor *second = born_rand(g, BORN_F64, BORN_DIMS(5));
    born_generator_set_state(g, seed, offset);
    born_tensor *again = born_rand(g, BORN_F64, BORN_DIMS(5));
    CHECK(same_values(second, again));
    CHECK(!same_values(born_slice(first, 0, 0, 5, 1), second));
    born_generator_free(g);
    /* the default generator follows born_manual_seed */
    born_manual_seed(99);
    born_tensor *d1 = born_rand(NULL, BORN_F32, BORN_DIMS(4));
    born_manual_seed(99);
    born_tensor *d2 = born_rand(NULL, BORN_F32, BORN_DIMS(4));
    CHECK(same_values(d1, d2));
}

TEST(uniform_and_normal_moments) {
    born_generator *g = born_generator_new(42);
    born_tensor *u = born_rand(g, BORN_F64, BORN_DIMS(200000));
    CHECK_NEAR(born_item(born_mean(u, 0, NULL, false)), 0.5, 0.005);
    CHECK_NEAR(born_item(born_var(u, 0, NULL, 1, false)), 1.0 / 12, 0.002);
    CHECK(born_item(born_min(u, 0, NULL, false)) >= 0 && born_item(born_max(u, 0, NULL, false)) < 1);
    born_tensor *n = born_randn(g, BORN_F64, BORN_DIMS(200000));
    CHECK_NEAR(born_item(born_mean(n, 0, NULL, false)), 0, 0.01);
    CHECK_NEAR(born_item(born_std(n, 0, NULL, 1, false)), 1, 0.01);
    /* about 4.55% of a normal sample lies beyond 2 sigma */
    double tail = born_item(born_mean(born_to_dtype(born_gt_scalar(born_abs(n), 2.0), BORN_F64), 0, NULL, false));
    CHECK_NEAR(tail, 0.0455, 0.003);
    born_tensor *h = born_rand(g, BORN_BF16, BORN_DIMS(10000));
    CHECK(born_item(born_max(h, 0, NULL, false)) < 1.0);
    born_generator_free(g);
}

TEST(randint_and_randperm) {
    born_generator *g = born_generator_new(5);
    born_tensor *r = born_randint(g, -3, 4, BORN_I32, BORN_DIMS(10000));
    CHECK_EQ_INT(born_item(born_min(r, 0, NULL, false)), -3);
    CHECK_EQ_INT(born_item(born_max(r, 0, NULL, false)), 3);
    CHECK(born_randint(g, 5, 5, BORN_I32, BORN_DIMS(2)) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "empty range");
    born_tensor *p = born_randperm(g, 1000);
    CHECK_EQ_INT(born_tensor_dtype(p), BORN_I64);
    int64_t *v = born_data_i64(p);
    bool *seen = calloc(1000, sizeof *seen);
    bool ok = true, moved = false;
    for (int i = 0; i < 1000; i++) {
        if (v[i] < 0 || v[i] >= 1000 || seen[v[i]]) ok = false;
        else seen[v[i]] = true;
        if (v[i] != i) moved = true;
    }
    free(seen);
    CHECK(ok && moved);
    CHECK(born_rand(g, BORN_I32, BORN_DIMS(2)) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "not floating");
    born_generator_free(g);
}

TEST(philox_known_answers) {
    /* the known-answer vectors of Random123 (Salmon et al.) for philox4x32-10 */
    static const uint32_t cases[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        philox_block b = philox4x32_raw(cases[i], cases[i] + 4);
        for (int k = 0; k < 4; k++) CHECK_MSG(b.v[k] == cases[i][6 + k], "case %d word %d: %08x", i, k, b.v[k]);
    }
}
