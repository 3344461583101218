/* The CUDA caching allocator and copies. Requests are rounded up to a size class (512-byte steps
 * to 1 MiB, 2 MiB steps to 64 MiB, then eighths of a power of two), and a freed block goes to its
 * class's free list instead of back to the driver, so a training step that makes the same tensors
 * as the last one asks the driver for nothing. All work of a device runs on its one stream, so a
 * block freed by the host may be handed out again at once: the next kernel that writes it is
 * queued after every kernel that used it. When cudaMalloc fails the cache is returned to the driver
 * and the allocation retried; if it still fails the error gives the sizes involved.
 *
 * BORN_CUDA_POISON=1 fills every new allocation with 0xFF bytes (NaN for floats), so tests catch
 * kernels that leave outputs unwritten. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"

enum { BUCKETS = 4096 };

typedef struct block {
    void *ptr;
    size_t size; /* the class size */
    struct block *next;
} block;

typedef struct size_class {
    size_t size;
    block *free; /* cached blocks of this size */
    struct size_class *next;
} size_class;

typedef struct device_pool {
    pthread_mutex_t lock;
    block *live[BUCKETS];        /* handed-out blocks by pointer */
    size_class *classes[BUCKETS]; /* free lists by size */
    born_cuda_mem_stats stats;
} device_pool;

static device_pool *pools;
static bool poison;

born_status cuda_mem_init(int ndev) {
    pools = calloc((size_t)ndev, sizeof *pools);
    if (!pools) return BORN_ERR_MEMORY;
    for (int i = 0; i < ndev; i++) pthread_mutex_init(&pools[i].lock, NULL);
    const char *p = getenv("BORN_CUDA_POISON");
    poison = p && *p && strcmp(p, "0") != 0;
    return BORN_OK;
}

static size_t class_size(size_t n) {
    const size_t mib = (size_t)1 << 20;
    if (n <= mib) return (n + 511) & ~(size_t)511;
    if (n <= 64 * mib) return (n + 2 * mib - 1) & ~(2 * mib - 1);
    size_t p = 64 * mib;
    while (p < n / 2 + 1 && p < SIZE_MAX / 4) p *= 2; /* p <= n < 2p */
    size_t step = p / 8;
    return (n + step - 1) / step * step;
}

static size_t hash_ptr(const void *p) { return ((uintptr_t)p >> 9) * 2654435761u % BUCKETS; }
static size_t hash_size(size_t n) { return (n >> 9) * 40503u % BUCKETS; }

static size_class *class_of(device_pool *pool, size_t size, bool create) {
    size_t h = hash_size(size);
    for (size_class *c = pool->classes[h]; c; c = c->next)
        if (c->size == size) return c;
    if (!create) return NULL;
    size_class *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->size = size;
    c->next = pool->classes[h];
    pool->classes[h] = c;
    return c;
}

/* Returns every cached block of pool to the driver (the caller holds the lock and has
 * synchronized the device). */
static void release_cache(device_pool *pool) {
    for (int h = 0; h < BUCKETS; h++)
        for (size_class *c = pool->classes[h]; c; c = c->next)
            while (c->free) {
                block *b = c->free;
                c->free = b->next;
                cudaFree(b->ptr);
                pool->stats.reserved -= b->size;
                pool->stats.device_frees++;
                free(b);
            }
}

static void format_bytes(char *buf, size_t size, size_t n) {
    if (n >= ((size_t)1 << 30))
        snprintf(buf, size, "%.2f GiB", (double)n / (double)((size_t)1 << 30));
    else if (n >= ((size_t)1 << 20))
        snprintf(buf, size, "%.2f MiB", (double)n / (double)((size_t)1 << 20));
    else
        snprintf(buf, size, "%zu bytes", n);
}

void *cuda_mem_alloc(int dev, size_t nbytes) {
    device_pool *pool = &pools[dev];
    size_t size = class_size(nbytes);
    if (size < nbytes) {
        cuda_error(BORN_ERR_MEMORY, "cuda:%d: cannot allocate %zu bytes", dev, nbytes);
        return NULL;
    }
    cudaStream_t stream = cuda_stream(dev);
    pthread_mutex_lock(&pool->lock);
    size_class *c = class_of(pool, size, true);
    block *b = NULL;
    if (c && c->free) {
        b = c->free;
        c->free = b->next;
        pool->stats.cache_hits++;
    } else if (c) {
        b = malloc(sizeof *b);
        void *ptr = NULL;
        cudaError_t e = b ? cudaMalloc(&ptr, size) : cudaErrorMemoryAllocation;
        if (e == cudaErrorMemoryAllocation && b) {
            (void)cudaGetLastError();
            cudaStreamSynchronize(stream);
            release_cache(pool);
            e = cudaMalloc(&ptr, size);
        }
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            size_t free_b = 0, total_b = 0;
            cudaMemGetInfo(&free_b, &total_b);
            char want[32], held[32], fr[32], tot[32];
            format_bytes(want, sizeof want, nbytes);
            format_bytes(held, sizeof held, pool->stats.allocated);
            format_bytes(fr, sizeof fr, free_b);
            format_bytes(tot, sizeof tot, total_b);
            pthread_mutex_unlock(&pool->lock);
            free(b);
            cuda_error(BORN_ERR_MEMORY, "cuda:%d: out of memory allocating %s (%s): live tensors "
                       "hold %s, the device has %s free of %s", dev, want,
                       e == cudaErrorMemoryAllocation ? "cudaMalloc failed" : cudaGetErrorString(e),
                       held, fr, tot);
            return NULL;
        }
        b->ptr = ptr;
        b->size = size;
        pool->stats.reserved += size;
        pool->stats.device_allocations++;
        if (pool->stats.reserved > pool->stats.peak_reserved)
            pool->stats.peak_reserved = pool->stats.reserved;
    }
    if (!b) {
        pthread_mutex_unlock(&pool->lock);
        cuda_error(BORN_ERR_MEMORY, "cuda:%d: out of host memory for the allocator", dev);
        return NULL;
    }
    size_t h = hash_ptr(b->ptr);
    b->next = pool->live[h];
    pool->live[h] = b;
    pool->stats.allocations++;
    pool->stats.allocated += b->size;
    if (pool->stats.allocated > pool->stats.peak_allocated)
        pool->stats.peak_allocated = pool->stats.allocated;
    void *ptr = b->ptr;
    pthread_mutex_unlock(&pool->lock);
    if (poison) cudaMemsetAsync(ptr, 0xFF, size, stream);
    return ptr;
}

void cuda_mem_free(int dev, void *ptr) {
    if (!ptr) return;
    device_pool *pool = &pools[dev];
    pthread_mutex_lock(&pool->lock);
    block **link = &pool->live[hash_ptr(ptr)];
    while (*link && (*link)->ptr != ptr) link = &(*link)->next;
    block *b = *link;
    if (b) {
        *link = b->next;
        pool->stats.allocated -= b->size;
        size_class *c = class_of(pool, b->size, false);
        b->next = c->free;
        c->free = b;
    }
    pthread_mutex_unlock(&pool->lock);
}

born_status cuda_mem_stats(int dev, born_cuda_mem_stats *stats) {
    device_pool *pool = &pools[dev];
    pthread_mutex_lock(&pool->lock);
    *stats = pool->stats;
    pthread_mutex_unlock(&pool->lock);
    return BORN_OK;
}

born_status cuda_mem_empty_cache(int dev) {
    born_status st = cuda_check(cudaStreamSynchronize(cuda_stream(dev)), "born_cuda_empty_cache");
    device_pool *pool = &pools[dev];
    pthread_mutex_lock(&pool->lock);
    release_cache(pool);
    pthread_mutex_unlock(&pool->lock);
    return st;
}

/* ---- copies ------------------------------------------------------------------------------- */

born_status cuda_upload(int dev, void *dst, const void *src, size_t nbytes) {
    /* from pageable memory the copy has left src when this returns; from pinned memory the
     * caller keeps src alive until the stream reaches it, as with any stream-ordered API */
    return cuda_check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, cuda_stream(dev)),
                      "upload to the GPU");
}

born_status cuda_download(int dev, void *dst, const void *src, size_t nbytes) {
    cudaStream_t s = cuda_stream(dev);
    born_status st =
        cuda_check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, s), "download from the GPU");
    if (st != BORN_OK) return st;
    return cuda_check(cudaStreamSynchronize(s), "download from the GPU");
}

born_status cuda_synchronize(int dev) {
    return cuda_check(cudaStreamSynchronize(cuda_stream(dev)), "synchronize");
}

born_status cuda_peer_copy(int dst_dev, void *dst, int src_dev, const void *src, size_t nbytes) {
    if (dst_dev == src_dev)
        return cuda_check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice,
                                          cuda_stream(dst_dev)),
                          "device-to-device copy");
    /* the destination's stream waits for the source's queued work, then copies */
    cudaEvent_t ev;
    cudaStream_t ss = cuda_stream(src_dev);
    born_status st = cuda_check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "peer copy");
    if (st != BORN_OK) return st;
    st = cuda_check(cudaEventRecord(ev, ss), "peer copy");
    cudaStream_t ds = cuda_stream(dst_dev);
    if (st == BORN_OK) st = cuda_check(cudaStreamWaitEvent(ds, ev, 0), "peer copy");
    if (st == BORN_OK)
        st = cuda_check(cudaMemcpyPeerAsync(dst, dst_dev, src, src_dev, nbytes, ds), "peer copy");
    /* the source may free src right after: make its stream wait for the copy too */
    if (st == BORN_OK) st = cuda_check(cudaEventRecord(ev, ds), "peer copy");
    if (st == BORN_OK) st = cuda_check(cudaStreamWaitEvent(ss, ev, 0), "peer copy");
    cudaEventDestroy(ev);
    return st;
}
