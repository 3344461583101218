/* The CUDA plugin's loader, devices, caching allocator and copies. Without a GPU (or without the
 * plugin) every use of a CUDA device must fail with a clear device error and never crash; with
 * one, data must survive host -> device -> device -> host, and the allocator must reuse blocks
 * and report out-of-memory with sizes. */
#include <string.h>

#include "test.h"

/* True when a GPU is usable; otherwise prints the visible skip line. */
static bool gpu_or_skip(const char *test) {
    if (born_device_count(BORN_DEVICE_CUDA) > 0) return true;
    printf("  %s: skipped: no GPU (%s)\n", test, born_cuda_unavailable_reason());
    return false;
}

TEST(cuda_no_gpu_is_a_clear_error) {
    int n = born_device_count(BORN_DEVICE_CUDA);
    CHECK(n >= 0);
    if (n == 0) {
        CHECK(strlen(born_cuda_unavailable_reason()) > 0);
        born_tensor *t = born_zeros(BORN_F32, BORN_DIMS(3));
        CHECK(born_to(t, BORN_CUDA(0)) == NULL);
        CHECK_ERROR(BORN_ERR_DEVICE, "no CUDA device is available");
        born_cuda_mem_stats stats;
        CHECK(born_cuda_memory_stats(0, &stats) == BORN_ERR_DEVICE);
        CHECK_ERROR(BORN_ERR_DEVICE, "born_cuda_memory_stats");
        CHECK(born_cuda_empty_cache(0) == BORN_ERR_DEVICE);
        CHECK_ERROR(BORN_ERR_DEVICE, "no CUDA device");
        CHECK(born_synchronize(BORN_CUDA(0)) == BORN_ERR_DEVICE);
        CHECK_ERROR(BORN_ERR_DEVICE, "cuda:0");
    } else {
        CHECK(strlen(born_cuda_unavailable_reason()) == 0);
    }
    /* a device index past the last is refused whether or not there are GPUs */
    born_tensor *t = born_zeros(BORN_F32, BORN_DIMS(3));
    CHECK(born_to(t, BORN_CUDA(n + 3)) == NULL);
    CHECK_ERROR(BORN_ERR_DEVICE, "cuda:");
    CHECK(born_synchronize(BORN_CPU) == BORN_OK);
}

TEST(cuda_round_trip_every_dtype) {
    if (!gpu_or_skip("cuda_round_trip_every_dtype")) return;
    const born_dtype dtypes[] = {BORN_F32, BORN_F64, BORN_F16, BORN_BF16, BORN_I8,
                                 BORN_I16, BORN_I32, BORN_I64, BORN_U8, BORN_BOOL};
    double values[60];
    for (int i = 0; i < 60; i++) values[i] = (i * 7) % 23 - 11 + (i % 3 == 0 ? 0.5 : 0);
    for (size_t d = 0; d < sizeof dtypes / sizeof dtypes[0]; d++) {
        born_tensor *host = tensor_of(dtypes[d], 2, (const int64_t[]){6, 10}, values);
        born_tensor *dev = born_to(host, BORN_CUDA(0));
        CHECK_OK_TENSOR(dev);
        if (!dev) continue;
        char name[16];
        CHECK(strcmp(born_device_name(born_tensor_device(dev), name, sizeof name), "cuda:0") == 0);
        /* device -> device: a contiguous copy of a transposed view runs the copy kernel */
        born_tensor *t = born_contiguous(born_transpose(dev, 0, 1));
        born_tensor *back = born_to(born_transpose(t, 0, 1), BORN_CPU);
        double want[60], got[60];
        CHECK(test_read(host, want, 60));
        CHECK(test_read(back, got, 60));
        for (int i = 0; i < 60; i++) CHECK_NEAR(got[i], want[i], 0);
        /* clone on the device (device-to-device copy) */
        CHECK(test_read(born_clone(dev), got, 60));
        for (int i = 0; i < 60; i++) CHECK_NEAR(got[i], want[i], 0);
    }
    CHECK_OK(born_synchronize(BORN_CUDA(0)));
}

TEST(cuda_allocator_reuses_and_reports) {
    if (!gpu_or_skip("cuda_allocator_reuses_and_reports")) return;
    born_cuda_mem_stats s0, s1, s2;
    CHECK_OK(born_cuda_empty_cache(0)); /* an earlier test may have left a block of this size */
    CHECK_OK(born_cuda_memory_stats(0, &s0));
    born_tensor *host = born_zeros(BORN_F32, BORN_DIMS(1000, 37));
    born_scope_begin();
    born_tensor *a = born_to(host, BORN_CUDA(0));
    CHECK_OK_TENSOR(a);
    born_scope_end();
    CHECK_OK(born_cuda_memory_stats(0, &s1));
    CHECK(s1.allocations == s0.allocations + 1);
    CHECK(s1.allocated == s0.allocated); /* freed at scope end, kept in the cache */
    CHECK(s1.reserved >= s0.reserved + 1000 * 37 * 4);
    born_scope_begin();
    born_tensor *b = born_to(host, BORN_CUDA(0)); /* same size: served from the cache */
    CHECK_OK_TENSOR(b);
    CHECK_OK(born_cuda_memory_stats(0, &s2));
    CHECK(s2.cache_hits == s1.cache_hits + 1);
    CHECK(s2.device_allocations == s1.device_allocations);
    CHECK(s2.allocated >= s1.allocated + 1000 * 37 * 4);
    born_scope_end();
    CHECK_OK(born_cuda_empty_cache(0));
    CHECK_OK(born_cuda_memory_stats(0, &s2));
    CHECK(s2.reserved <= s1.reserved - 1000 * 37 * 4);
    CHECK(s2.peak_allocated >= 1000 * 37 * 4);

    /* 2^41 floats (8 TiB) cannot fit: an error with the sizes, and the library still works */
    born_tensor *one = born_to(born_zeros(BORN_F32, BORN_DIMS(1)), BORN_CUDA(0));
    born_tensor *big = born_expand(one, BORN_DIMS((int64_t)1 << 41));
    CHECK_OK_TENSOR(big);
    CHECK(born_contiguous(big) == NULL);
    CHECK_ERROR(BORN_ERR_MEMORY, "out of memory allocating 8192.00 GiB");
    born_tensor *again = born_to(host, BORN_CUDA(0));
    CHECK_OK_TENSOR(again);
}
