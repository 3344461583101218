/* CUDA graphs: capture of the work queued on a device's stream (cudaStreamBeginCapture in
 * thread-local mode), instantiation, replay and release, with the private memory pool of each graph
 * (memory.c), and the deferred checks of captured index ops.
 *
 * While a device captures, nothing may wait for it or read it back: download, synchronize and
 * empty_cache fail at once with a message naming what was asked (cuda_capture_forbids), before
 * CUDA would invalidate the capture with a less telling error. An upload of host data (a model's
 * position indices made on the CPU) is copied into pinned memory owned by the graph, and the
 * captured copy reads that snapshot at every replay (cuda_graph_host_copy). Index ops cannot read their range
 * check back either, so a captured one gets a site in a small table (op, dim, size) and its kernel
 * writes the first bad index with the site into a device word; every later host sync of the device
 * copies that word back beside its own work and reports the op there (cuda_deferred_check). The
 * embedding's index ops use the same deferred check outside captures too (ops.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"

/* A pinned copy of host data uploaded during the capture (replays copy it again). */
typedef struct host_copy {
    void *pinned;
    struct host_copy *next;
} host_copy;

typedef struct cuda_graph {
    int dev;
    cuda_mem_pool *pool;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    host_copy *copies;
} cuda_graph;

enum { SITES = 4096, SITE_SHIFT = 47 };

typedef struct defer_site {
    char op[64];
    int dim;
    long long size;
} defer_site;

static defer_site sites[SITES];
static int nsites;
static pthread_mutex_t sites_lock = PTHREAD_MUTEX_INITIALIZER;
static cuda_graph *capturing_graph[64];

void *cuda_graph_host_copy(int dev, const void *src, size_t nbytes) {
    cuda_graph *g = dev < 64 ? capturing_graph[dev] : NULL;
    host_copy *c = g ? malloc(sizeof *c) : NULL;
    if (!c) return NULL;
    /* cudaHostAlloc is not a stream operation: allowed during the capture in relaxed mode */
    enum cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    cudaThreadExchangeStreamCaptureMode(&mode);
    cudaError_t e = cudaHostAlloc(&c->pinned, nbytes ? nbytes : 1, cudaHostAllocDefault);
    cudaThreadExchangeStreamCaptureMode(&mode);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        free(c);
        return NULL;
    }
    memcpy(c->pinned, src, nbytes);
    c->next = g->copies;
    g->copies = c;
    return c->pinned;
}

born_status cuda_capture_forbids(int dev, const char *what) {
    if (!cuda_devices[dev].capturing) return BORN_OK;
    return cuda_error(BORN_ERR_DEVICE, "%s: not allowed while cuda:%d captures a graph (a captured "
                      "step may not wait for the device or move data between host and device; "
                      "copy outputs into tensors made before the capture and read them after a "
                      "replay)", what, dev);
}

unsigned long long cuda_defer_site(int dev, const char *op, int dim, long long size) {
    pthread_mutex_lock(&sites_lock);
    int i = 0;
    while (i < nsites && !(sites[i].dim == dim && sites[i].size == size &&
                           strncmp(sites[i].op, op, sizeof sites[i].op - 1) == 0))
        i++; /* ops of one shape share their site */
    if (i == nsites && nsites < SITES) {
        defer_site *s = &sites[nsites++];
        snprintf(s->op, sizeof s->op, "%s", op);
        s->dim = dim;
        s->size = size;
    }
    pthread_mutex_unlock(&sites_lock);
    if (i >= SITES) return 0;
    cuda_devices[dev].deferred_armed = true;
    return (1ull << 63) | ((unsigned long long)i << SITE_SHIFT);
}

born_status cuda_deferred_check(int dev) {
    cuda_device *d = &cuda_devices[dev];
    if (!d->deferred_armed || *d->deferred_host == 0) return BORN_OK;
    unsigned long long w = *d->deferred_host;
    *d->deferred_host = 0;
    born_status st = cuda_check(cudaMemsetAsync(d->deferred, 0, sizeof *d->deferred,
                                                cuda_stream(dev)), "clearing the deferred check");
    if (st != BORN_OK) return st;
    int site = (int)((w >> SITE_SHIFT) & 0xFFFF);
    unsigned long long raw = w & ((1ull << SITE_SHIFT) - 1);
    long long value = (long long)raw;
    if (raw & (1ull << (SITE_SHIFT - 1))) value = (long long)(raw | ~((1ull << SITE_SHIFT) - 1));
    pthread_mutex_lock(&sites_lock);
    defer_site copy, *s = site < nsites ? &copy : NULL;
    if (s) copy = sites[site];
    pthread_mutex_unlock(&sites_lock);
    return cuda_error(BORN_ERR_ARGUMENT, "%s: index %lld is out of range for dimension %d of "
                      "size %lld (found on the device by work queued earlier, a replayed graph's "
                      "or an index op's that does not wait; reported at this host sync)",
                      s ? s->op : "index op", value, s ? s->dim : -1, s ? s->size : -1LL);
}

born_status cuda_graph_begin(int dev) {
    if (dev >= 64) return cuda_error(BORN_ERR_UNSUPPORTED, "cuda:%d: graphs on devices past 63", dev);
    cuda_device *d = &cuda_devices[dev];
    if (d->capturing)
        return cuda_error(BORN_ERR_ARGUMENT, "born_graph_capture: cuda:%d is already capturing a "
                          "graph (captures do not nest)", dev);
    cuda_graph *g = calloc(1, sizeof *g);
    if (g) g->pool = cuda_mem_pool_new(dev);
    if (!g || !g->pool) {
        free(g);
        return cuda_error(BORN_ERR_MEMORY, "born_graph_capture: out of host memory");
    }
    g->dev = dev;
    cudaStream_t s = cuda_stream(dev);
    /* work queued before the capture runs before it: errors of that work surface here */
    born_status st = cuda_check(cudaStreamSynchronize(s), "born_graph_capture (finishing the work "
                                "queued before the capture)");
    if (st == BORN_OK)
        st = cuda_check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal),
                        "born_graph_capture (cudaStreamBeginCapture)");
    if (st != BORN_OK) {
        cuda_mem_pool_release(g->pool);
        free(g);
        return st;
    }
    cuda_mem_capture_into(dev, g->pool);
    d->capturing = true;
    capturing_graph[dev] = g;
    return BORN_OK;
}

static void graph_destroy(cuda_graph *g) {
    if (g->exec) cudaGraphExecDestroy(g->exec);
    if (g->graph) cudaGraphDestroy(g->graph);
    while (g->copies) {
        host_copy *c = g->copies;
        g->copies = c->next;
        cudaFreeHost(c->pinned);
        free(c);
    }
    (void)cudaGetLastError();
    cuda_mem_pool_release(g->pool);
    free(g);
}

born_status cuda_graph_end(int dev, bool keep, void **out) {
    *out = NULL;
    cuda_device *d = dev < 64 ? &cuda_devices[dev] : NULL;
    if (!d || !d->capturing)
        return cuda_error(BORN_ERR_ARGUMENT, "born_graph_capture: cuda:%d is not capturing", dev);
    cuda_graph *g = capturing_graph[dev];
    capturing_graph[dev] = NULL;
    cudaStream_t s = cuda_stream(dev);
    cudaError_t e = cudaStreamEndCapture(s, &g->graph);
    cuda_mem_capture_into(dev, NULL);
    d->capturing = false;
    born_status st = BORN_OK;
    if (keep) {
        if (e != cudaSuccess)
            st = cuda_check(e, "born_graph_capture: the capture was invalidated (an operation "
                            "the capture forbids ran on this thread: a synchronizing call or a "
                            "copy with pageable host memory); cudaStreamEndCapture");
        else
            st = cuda_check(cudaGraphInstantiate(&g->exec, g->graph, 0),
                            "born_graph_capture: cudaGraphInstantiate");
        if (st == BORN_OK) st = cuda_check(cudaGraphUpload(g->exec, s), "born_graph_capture: upload");
    }
    if (!keep || st != BORN_OK) {
        (void)cudaGetLastError();
        graph_destroy(g);
        return st;
    }
    *out = g;
    return BORN_OK;
}

born_status cuda_graph_replay(int dev, void *graph) {
    cuda_graph *g = graph;
    if (cuda_capture_forbids(dev, "born_graph_replay") != BORN_OK) return BORN_ERR_DEVICE;
    return cuda_check(cudaGraphLaunch(g->exec, cuda_stream(dev)), "born_graph_replay");
}

void cuda_graph_free(int dev, void *graph) {
    cuda_graph *g = graph;
    if (!g) return;
    /* its blocks join the device's cache: the replays queued must finish using them first */
    if (!cuda_devices[dev].capturing) {
        cudaStreamSynchronize(cuda_stream(dev));
        (void)cudaGetLastError();
    }
    graph_destroy(g);
}
