/* The CPU's caching allocator (allocator.h). Every block carries a 64-byte header in front of the
 * memory it hands out: its size class (or its exact size when it is too small to cache) and the
 * links of the free lists. Free blocks sit both in their size class's list (LIFO, so the most
 * recently used memory, still warm and mapped, is reused first) and in one global list in the
 * order they were freed, from which the oldest are released when the cache would exceed its
 * bound. Under AddressSanitizer the memory of cached blocks (not their headers, which the lists
 * use) is poisoned, and a reused block is unpoisoned only for the bytes asked for, so a use after
 * free or an overrun into a block's rounding slack is still caught.
 * The lists are reachable from static storage, so LeakSanitizer sees no leak; a destructor
 * releases them at exit anyway. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu/allocator.h"

#if defined(__SANITIZE_ADDRESS__)
#define CPU_MEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CPU_MEM_ASAN 1
#endif
#endif
#ifdef CPU_MEM_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

enum { HEADER = 64, MAGIC = 0x426f726e };

typedef struct block {
    uint32_t magic;
    int32_t cls;                  /* size class, or -1 when not cacheable */
    size_t size;                  /* usable bytes after the header */
    struct block *cls_next, *cls_prev; /* in the class's free list */
    struct block *lru_next, *lru_prev; /* in the global free list (head: newest) */
} block;

_Static_assert(sizeof(block) <= HEADER, "the header must fit in 64 bytes");

/* Classes: 4 per power of two from 64 KiB: size(c) = 2^(16 + c / 4) * (4 + c % 4) / 4. */
enum { CLASS_SHIFT = 16, CLASSES = 4 * (48 - CLASS_SHIFT) };

static size_t class_size(int c) {
    return ((size_t)1 << (CLASS_SHIFT + c / 4 - 2)) * (size_t)(4 + c % 4);
}

/* The smallest class holding n >= CPU_MEM_CACHE_MIN bytes, or -1 beyond the last. */
static int class_of(size_t n) {
    int k = 63 - __builtin_clzll((unsigned long long)n); /* 2^k <= n < 2^(k+1) */
    size_t quarter = (size_t)1 << (k - 2);
    size_t q = (n + quarter - 1) / quarter; /* 4..8 quarters */
    int c = (k - CLASS_SHIFT) * 4 + (int)(q - 4);
    return c < CLASSES ? c : -1;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static block *free_lists[CLASSES];
static block *lru_head, *lru_tail;
static size_t cached_bytes, cached_blocks, limit;
static uint64_t hits, misses;
static atomic_uint_fast64_t system_allocations;
static bool limit_set;

static size_t default_limit(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t gib = (size_t)1 << 30;
    if (pages <= 0 || page <= 0) return gib / 4;
    size_t quarter = (size_t)pages / 4 * (size_t)page;
    return quarter < gib ? quarter : gib;
}

static void unlink_block(block *b) {
    if (b->cls_prev) b->cls_prev->cls_next = b->cls_next;
    else free_lists[b->cls] = b->cls_next;
    if (b->cls_next) b->cls_next->cls_prev = b->cls_prev;
    if (b->lru_prev) b->lru_prev->lru_next = b->lru_next;
    else lru_head = b->lru_next;
    if (b->lru_next) b->lru_next->lru_prev = b->lru_prev;
    else lru_tail = b->lru_prev;
    cached_bytes -= b->size;
    cached_blocks--;
}

/* Releases the oldest cached blocks until `room` more bytes fit under the limit; the caller holds
 * the lock and frees the returned chain (linked through cls_next) after dropping it. */
static block *evict_for(size_t room) {
    block *chain = NULL;
    while (lru_tail && cached_bytes + room > limit) {
        block *b = lru_tail;
        unlink_block(b);
        b->cls_next = chain;
        chain = b;
    }
    return chain;
}

static void release_chain(block *chain) {
    while (chain) {
        block *next = chain->cls_next;
        UNPOISON((char *)chain + HEADER, chain->size);
        free(chain);
        chain = next;
    }
}

static void ensure_limit(void) {
    if (!limit_set) {
        limit = default_limit();
        limit_set = true;
    }
}

void *cpu_mem_alloc(size_t nbytes) {
    size_t rounded = (nbytes + 63) & ~(size_t)63;
    if (rounded < nbytes || rounded > SIZE_MAX - HEADER) return NULL;
    int cls = rounded >= CPU_MEM_CACHE_MIN ? class_of(rounded) : -1;
    size_t size = cls >= 0 ? class_size(cls) : rounded;
    if (cls >= 0) {
        pthread_mutex_lock(&lock);
        ensure_limit();
        block *b = free_lists[cls];
        if (b) {
            unlink_block(b);
            hits++;
        } else {
            misses++;
        }
        pthread_mutex_unlock(&lock);
        if (b) {
            UNPOISON((char *)b + HEADER, nbytes);
            return (char *)b + HEADER;
        }
    }
    void *p = NULL;
    atomic_fetch_add_explicit(&system_allocations, 1, memory_order_relaxed);
    if (posix_memalign(&p, 64, HEADER + size) != 0) {
        if (cls < 0) return NULL;
        /* perhaps the cache holds the memory we need: give it back and try once more */
        cpu_mem_trim();
        atomic_fetch_add_explicit(&system_allocations, 1, memory_order_relaxed);
        if (posix_memalign(&p, 64, HEADER + size) != 0) return NULL;
    }
    block *b = p;
    memset(b, 0, sizeof *b);
    b->magic = MAGIC;
    b->cls = cls;
    b->size = size;
    return (char *)b + HEADER;
}

void cpu_mem_free(void *ptr) {
    if (!ptr) return;
    block *b = (block *)((char *)ptr - HEADER);
    if (b->cls < 0) {
        free(b);
        return;
    }
    block *chain = NULL;
    bool cached = false;
    pthread_mutex_lock(&lock);
    ensure_limit();
    if (b->size <= limit) {
        chain = evict_for(b->size);
        b->cls_prev = NULL;
        b->cls_next = free_lists[b->cls];
        if (b->cls_next) b->cls_next->cls_prev = b;
        free_lists[b->cls] = b;
        b->lru_prev = NULL;
        b->lru_next = lru_head;
        if (lru_head) lru_head->lru_prev = b;
        else lru_tail = b;
        lru_head = b;
        cached_bytes += b->size;
        cached_blocks++;
        cached = true;
        POISON((char *)b + HEADER, b->size);
    }
    pthread_mutex_unlock(&lock);
    release_chain(chain);
    if (!cached) free(b);
}

void cpu_mem_get_stats(cpu_mem_stats *s) {
    pthread_mutex_lock(&lock);
    ensure_limit();
    s->hits = hits;
    s->misses = misses;
    s->system_allocations = atomic_load_explicit(&system_allocations, memory_order_relaxed);
    s->cached_bytes = cached_bytes;
    s->cached_blocks = cached_blocks;
    s->limit = limit;
    pthread_mutex_unlock(&lock);
}

size_t cpu_mem_set_limit(size_t bytes) {
    pthread_mutex_lock(&lock);
    ensure_limit();
    size_t old = limit;
    limit = bytes;
    block *chain = evict_for(0);
    pthread_mutex_unlock(&lock);
    release_chain(chain);
    return old;
}

void cpu_mem_trim(void) {
    pthread_mutex_lock(&lock);
    ensure_limit();
    size_t keep = limit;
    limit = 0;
    block *chain = evict_for(0);
    limit = keep;
    pthread_mutex_unlock(&lock);
    release_chain(chain);
}

__attribute__((destructor)) static void cpu_mem_release_at_exit(void) { cpu_mem_trim(); }
