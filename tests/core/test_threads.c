/* The thread pool: coverage of every index, fixed chunking, and deterministic reductions. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

typedef struct cover_ctx {
    atomic_int *hits;
    int64_t grain;
    atomic_int bad_chunks;
} cover_ctx;

static void mark(int64_t begin, int64_t end, void *arg) {
    cover_ctx *c = arg;
    if (begin % c->grain != 0 || (end - begin > c->grain)) atomic_fetch_add(&c->bad_chunks, 1);
    for (int64_t i = begin; i < end; i++) atomic_fetch_add(&c->hits[i], 1);
}

TEST(parallel_for_covers_each_index_once_in_fixed_chunks) {
    int before = born_get_num_threads();
    for (int threads = 1; threads <= 3; threads++) {
        CHECK_OK(born_set_num_threads(threads));
        CHECK_EQ_INT(born_get_num_threads(), threads);
        int64_t n = 100003;
        atomic_int *hits = calloc((size_t)n, sizeof *hits);
        cover_ctx c = {hits, 1000, 0};
        born_parallel_for(n, 1000, mark, &c);
        int wrong = 0;
        for (int64_t i = 0; i < n; i++) wrong += atomic_load(&hits[i]) != 1;
        CHECK_EQ_INT(wrong, 0);
        CHECK_EQ_INT(atomic_load(&c.bad_chunks), 0);
        free(hits);
    }
    CHECK(born_set_num_threads(0) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_set_num_threads");
    born_set_num_threads(before);
}

TEST(reductions_are_identical_with_1_and_2_threads) {
    int before = born_get_num_threads();
    born_generator *g = born_generator_new(3);
    born_tensor *x = born_randn(g, BORN_F32, BORN_DIMS(1000003));
    born_tensor *m = born_randn(g, BORN_F32, BORN_DIMS(300, 1001));
    float s1, s2, r1[1001], r2[1001];
    born_set_num_threads(1);
    s1 = (float)born_item(born_sum(x, 0, NULL, false));
    born_copy_to_buffer(born_sum(m, 1, (int64_t[]){0}, false), r1, sizeof r1);
    born_set_num_threads(2);
    s2 = (float)born_item(born_sum(x, 0, NULL, false));
    born_copy_to_buffer(born_sum(m, 1, (int64_t[]){0}, false), r2, sizeof r2);
    CHECK(s1 == s2);
    CHECK(memcmp(r1, r2, sizeof r1) == 0);
    /* and the blocked f32 sum stays accurate: compare with an f64 sum */
    double exact = born_item(born_sum(born_to_dtype(x, BORN_F64), 0, NULL, false));
    CHECK_NEAR(s1, exact, 1e-3 * 1000);
    born_set_num_threads(before);
    born_generator_free(g);
}
