/* The CPU's caching allocator (src/backend/cpu/allocator.c): alignment, reuse of freed large
 * blocks (the point: a loop allocating the same shapes stops going to the system), the bound on
 * what the cache holds, and concurrent use from several threads. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/allocator.h"
#include "test.h"

TEST(cpu_alloc_alignment_and_small_blocks) {
    size_t sizes[] = {1, 3, 63, 64, 65, 1000, 65535, 65536, 65537, 100000, 1 << 20, (1 << 20) + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = cpu_mem_alloc(sizes[i]);
        CHECK(p != NULL);
        if (!p) continue;
        CHECK(((uintptr_t)p & 63) == 0);
        memset(p, 0xab, sizes[i]); /* the whole request is usable */
        CHECK(p[sizes[i] - 1] == 0xab);
        cpu_mem_free(p);
    }
    cpu_mem_free(NULL);
}

TEST(cpu_alloc_reuses_freed_large_blocks) {
    cpu_mem_stats before, after;
    size_t n = 3 << 20; /* 3 MiB */
    void *p = cpu_mem_alloc(n);
    CHECK(p != NULL);
    cpu_mem_free(p);
    cpu_mem_get_stats(&before);
    CHECK(before.cached_bytes >= n);
    /* a slightly smaller request of the same class gets the same block back */
    void *q = cpu_mem_alloc(n - 1000);
    cpu_mem_get_stats(&after);
    CHECK(q == p);
    CHECK(after.hits == before.hits + 1);
    CHECK(after.cached_bytes + n <= before.cached_bytes + (n / 4));
    cpu_mem_free(q);
    /* tensors: the second of two same-shape temporaries reuses the first's memory */
    int64_t shape[2] = {512, 1024};
    born_tensor *a = born_empty(BORN_F32, 2, shape);
    void *pa = born_data_ptr(a);
    born_free(a);
    born_tensor *b = born_empty(BORN_F32, 2, shape);
    CHECK(born_data_ptr(b) == pa);
    born_free(b);
}

TEST(cpu_alloc_cache_is_bounded) {
    size_t old = cpu_mem_set_limit(4 << 20); /* 4 MiB */
    void *blocks[6];
    for (int i = 0; i < 6; i++) blocks[i] = cpu_mem_alloc(1 << 20);
    for (int i = 0; i < 6; i++) cpu_mem_free(blocks[i]);
    cpu_mem_stats s;
    cpu_mem_get_stats(&s);
    CHECK(s.cached_bytes <= (size_t)4 << 20);
    CHECK(s.cached_blocks >= 3);
    /* the most recently freed stay: the last block comes back first */
    void *again = cpu_mem_alloc(1 << 20);
    CHECK(again == blocks[5]);
    cpu_mem_free(again);
    /* a block larger than the whole bound is never cached */
    void *huge = cpu_mem_alloc(8 << 20);
    cpu_mem_free(huge);
    cpu_mem_get_stats(&s);
    CHECK(s.cached_bytes <= (size_t)4 << 20);
    cpu_mem_trim();
    cpu_mem_get_stats(&s);
    CHECK(s.cached_bytes == 0 && s.cached_blocks == 0);
    cpu_mem_set_limit(old);
    cpu_mem_get_stats(&s);
    CHECK(s.limit == old && old >= ((size_t)64 << 20));
}

static void *churn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *held[8] = {0};
    for (int i = 0; i < 2000; i++) {
        seed = seed * 1103515245u + 12345u;
        int slot = (int)((seed >> 16) % 8);
        cpu_mem_free(held[slot]);
        size_t n = (size_t)64 * 1024 + ((seed >> 8) % 4) * 100000;
        held[slot] = cpu_mem_alloc(n);
        if (held[slot]) ((char *)held[slot])[n - 1] = 1;
    }
    for (int s = 0; s < 8; s++) cpu_mem_free(held[s]);
    return NULL;
}

TEST(cpu_alloc_threads) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    cpu_mem_stats s;
    cpu_mem_get_stats(&s);
    CHECK(s.cached_bytes <= s.limit);
}
