/* Internal: the CPU backend's host memory. Blocks are 64-byte aligned. Freed blocks of at least
 * CPU_MEM_CACHE_MIN bytes are kept in per-size-class free lists (sizes rounded up to a quarter
 * of a power of two) and handed out again, so a loop that allocates the same large shapes every
 * step stops page-faulting; the cache holds at most min(1 GiB, RAM / 4) (least recently freed
 * blocks go first). Thread-safe. */
#ifndef BORN_CPU_ALLOCATOR_H
#define BORN_CPU_ALLOCATOR_H

#include <stddef.h>
#include <stdint.h>

enum { CPU_MEM_CACHE_MIN = 64 * 1024 };

/* nbytes (> 0) of 64-byte-aligned memory, or NULL. */
void *cpu_mem_alloc(size_t nbytes);

/* Gives back a block from cpu_mem_alloc (NULL is ignored). */
void cpu_mem_free(void *ptr);

typedef struct cpu_mem_stats {
    uint64_t hits;         /* allocations served from the cache */
    uint64_t misses;       /* cacheable allocations that went to the system */
    uint64_t system_allocations; /* blocks of any size taken from the system (posix_memalign) */
    size_t cached_bytes;   /* bytes held in free lists now */
    size_t cached_blocks;
    size_t limit;          /* the most the free lists may hold */
} cpu_mem_stats;

void cpu_mem_get_stats(cpu_mem_stats *stats);

/* Sets the cache's bound (trimming it to fit) and returns the previous one; for tests. */
size_t cpu_mem_set_limit(size_t bytes);

/* Releases every cached block to the system. */
void cpu_mem_trim(void);

#endif
