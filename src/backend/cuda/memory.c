/* The CUDA caching allocator and copies. Requests are rounded up to a size class (512-byte steps
 * to 1 MiB, 2 MiB steps to 64 MiB, then eighths of a power of two), and a freed block goes to its
 * class's free list instead of back to the driver, so a training step that makes the same tensors
 * as the last one asks the driver for nothing. All work of a device runs on its one stream, so a
 * block freed by the host may be handed out again at once: the next kernel that writes it is
 * queued after every kernel that used it. When cudaMalloc fails the cache is returned to the driver
 * and the allocation retried; if it still fails the error gives the sizes involved.
 *
 * CUDA graphs: while a device captures a graph (graph.c), its allocations come from the graph's
 * private pool (cuda_mem_pool), and every block freed during the capture joins that pool, since
 * the captured kernels may touch it at each replay; a capture also takes blocks from the device's
 * cache (the device had finished all work queued before the capture began). A pool's blocks are
 * never handed out outside its own capture, so replays find the addresses they recorded; a block
 * of a pool freed later goes back to that pool. When the graph is freed its pool's blocks join the device's cache. The
 * statistics count every block once, whichever pool holds it.
 *
 * BORN_CUDA_POISON=1 fills every new allocation with 0xFF bytes (NaN for floats), so tests catch
 * kernels that leave outputs unwritten. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"

enum { BUCKETS = 4096 };

typedef struct size_class {
    size_t size;
    struct block *free; /* cached blocks of this size */
    struct size_class *next;
} size_class;

/* A graph's private pool: its free lists by size. */
struct cuda_mem_pool {
    int dev;
    size_class *classes[BUCKETS];
};

typedef struct block {
    void *ptr;
    size_t size; /* the class size */
    cuda_mem_pool *owner; /* the graph pool that holds it, or NULL (the device's cache) */
    struct block *next;
} block;

typedef struct device_pool {
    pthread_mutex_t lock;
    block *live[BUCKETS];        /* handed-out blocks by pointer */
    size_class *classes[BUCKETS]; /* free lists by size */
    cuda_mem_pool *capture;      /* the pool of the graph being captured, if any */
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

static size_class *class_in(size_class **classes, size_t size, bool create) {
    size_t h = hash_size(size);
    for (size_class *c = classes[h]; c; c = c->next)
        if (c->size == size) return c;
    if (!create) return NULL;
    size_class *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->size = size;
    c->next = classes[h];
    classes[h] = c;
    return c;
}

static size_class *class_of(device_pool *pool, size_t size, bool create) {
    return class_in(pool->classes, size, create);
}

/* The free list a block of owner `owner` goes back to (NULL when out of host memory). */
static size_class *home_of(device_pool *pool, cuda_mem_pool *owner, size_t size) {
    return class_in(owner ? owner->classes : pool->classes, size, true);
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
    cuda_mem_pool *cap = pool->capture;
    size_class *c = home_of(pool, cap, size);
    /* a capture may take a block from the device's cache: the capture began after the device
     * finished all earlier work (graph.c waits), and from now on the graph owns the block */
    size_class *cached = cap && c && !c->free ? class_of(pool, size, false) : NULL;
    block *b = NULL;
    if (c && c->free) {
        b = c->free;
        c->free = b->next;
        pool->stats.cache_hits++;
    } else if (cached && cached->free) {
        b = cached->free;
        cached->free = b->next;
        b->owner = cap;
        pool->stats.cache_hits++;
    } else if (c) {
        b = malloc(sizeof *b);
        void *ptr = NULL;
        cudaError_t e = cudaErrorMemoryAllocation;
        if (b && cap) {
            /* cudaMalloc is not a stream operation: allowed during a capture in relaxed mode */
            enum cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
            cudaThreadExchangeStreamCaptureMode(&mode);
            e = cudaMalloc(&ptr, size);
            cudaThreadExchangeStreamCaptureMode(&mode);
        } else if (b) {
            e = cudaMalloc(&ptr, size);
        }
        if (e == cudaErrorMemoryAllocation && b && !cap) { /* no waiting during a capture */
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
        b->owner = cap;
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
        /* freed during a capture: the captured kernels may use it at each replay, so the graph
         * keeps it (unless another graph's pool already does) */
        if (pool->capture && !b->owner) b->owner = pool->capture;
        size_class *c = home_of(pool, b->owner, b->size);
        if (c) {
            b->next = c->free;
            c->free = b;
        } else { /* out of host memory for a new list: the block stays reserved, unlisted */
            free(b);
        }
    }
    pthread_mutex_unlock(&pool->lock);
}

cuda_mem_pool *cuda_mem_pool_new(int dev) {
    cuda_mem_pool *p = calloc(1, sizeof *p);
    if (p) p->dev = dev;
    return p;
}

void cuda_mem_capture_into(int dev, cuda_mem_pool *p) {
    device_pool *pool = &pools[dev];
    pthread_mutex_lock(&pool->lock);
    pool->capture = p;
    pthread_mutex_unlock(&pool->lock);
}

void cuda_mem_pool_release(cuda_mem_pool *p) {
    if (!p) return;
    device_pool *pool = &pools[p->dev];
    pthread_mutex_lock(&pool->lock);
    for (int h = 0; h < BUCKETS; h++) {
        for (block *b = pool->live[h]; b; b = b->next)
            if (b->owner == p) b->owner = NULL;
        while (p->classes[h]) {
            size_class *c = p->classes[h];
            p->classes[h] = c->next;
            size_class *home = class_of(pool, c->size, true);
            while (c->free) {
                block *b = c->free;
                c->free = b->next;
                b->owner = NULL;
                if (home) {
                    b->next = home->free;
                    home->free = b;
                } else {
                    free(b);
                }
            }
            free(c);
        }
    }
    pthread_mutex_unlock(&pool->lock);
    free(p);
}

born_status cuda_mem_stats(int dev, born_cuda_mem_stats *stats) {
    device_pool *pool = &pools[dev];
    pthread_mutex_lock(&pool->lock);
    *stats = pool->stats;
    pthread_mutex_unlock(&pool->lock);
    return BORN_OK;
}

born_status cuda_mem_empty_cache(int dev) {
    if (cuda_capture_forbids(dev, "born_cuda_empty_cache") != BORN_OK) return BORN_ERR_DEVICE;
    born_status st = cuda_check(cudaStreamSynchronize(cuda_stream(dev)), "born_cuda_empty_cache");
    device_pool *pool = &pools[dev];
    pthread_mutex_lock(&pool->lock);
    release_cache(pool);
    pthread_mutex_unlock(&pool->lock);
    return st;
}

/* ---- copies ------------------------------------------------------------------------------- */

born_status cuda_upload(int dev, void *dst, const void *src, size_t nbytes) {
    if (cuda_devices[dev].capturing) {
        /* the captured copy reads the host buffer again at every replay: a snapshot the graph
         * owns, taken now */
        src = cuda_graph_host_copy(dev, src, nbytes);
        if (!src)
            return cuda_error(BORN_ERR_MEMORY, "upload to the GPU during a graph capture: no "
                              "pinned host memory for a %zu-byte snapshot", nbytes);
    }
    /* from pageable memory the copy has left src when this returns; from pinned memory the
     * caller keeps src alive until the stream reaches it, as with any stream-ordered API */
    return cuda_check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, cuda_stream(dev)),
                      "upload to the GPU");
}

/* Queues the copy of the deferred-check flag that cuda_deferred_check reads after the wait. */
static born_status queue_deferred_copy(int dev, cudaStream_t s, const char *what) {
    cuda_device *d = &cuda_devices[dev];
    if (!d->deferred_armed) return BORN_OK;
    return cuda_check(cudaMemcpyAsync(d->deferred_host, d->deferred, sizeof *d->deferred,
                                      cudaMemcpyDeviceToHost, s), what);
}

born_status cuda_download(int dev, void *dst, const void *src, size_t nbytes) {
    static const char what[] = "download from the GPU (reading a device tensor on the host)";
    if (cuda_capture_forbids(dev, what) != BORN_OK) return BORN_ERR_DEVICE;
    cudaStream_t s = cuda_stream(dev);
    born_status st = queue_deferred_copy(dev, s, what);
    if (st == BORN_OK)
        st = cuda_check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, s), what);
    if (st == BORN_OK) st = cuda_check(cudaStreamSynchronize(s), what);
    return st == BORN_OK ? cuda_deferred_check(dev) : st;
}

born_status cuda_synchronize(int dev) {
    if (cuda_capture_forbids(dev, "synchronize (waiting for the device)") != BORN_OK)
        return BORN_ERR_DEVICE;
    cudaStream_t s = cuda_stream(dev);
    born_status st = queue_deferred_copy(dev, s, "synchronize");
    if (st == BORN_OK) st = cuda_check(cudaStreamSynchronize(s), "synchronize");
    return st == BORN_OK ? cuda_deferred_check(dev) : st;
}

born_status cuda_peer_copy(int dst_dev, void *dst, int src_dev, const void *src, size_t nbytes) {
    if (dst_dev != src_dev && (cuda_capture_forbids(dst_dev, "copy between GPUs") != BORN_OK ||
                               cuda_capture_forbids(src_dev, "copy between GPUs") != BORN_OK))
        return BORN_ERR_DEVICE;
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
