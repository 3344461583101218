/* Internal: the software prefetch of the x86 kernels that stream rows or vectors from memory at
 * a thread's full bandwidth (norm_avx512.c, unary_avx512.c). A line is asked for twice: into L2
 * from PREFETCH_L2_AHEAD bytes ahead of the loads, and into L1 from PREFETCH_L1_AHEAD. One
 * prefetch into L1 from 4 KiB ahead (what these kernels did before) held the norm backward at
 * 66-78% of the copy's bandwidth at one thread on Zen 4, whose L1 keeps fewer misses in flight
 * than its L2; the two steps took it to 97-114% (bench_stream_ab, docs/BENCHMARKS.md). */
#ifndef BORN_CPU_PREFETCH_X86_H
#define BORN_CPU_PREFETCH_X86_H

#include <immintrin.h>

enum { PREFETCH_L2_AHEAD = 16384, PREFETCH_L1_AHEAD = 1024 };

/* Prefetches the 64-byte line PREFETCH_L2_AHEAD bytes after p into L2 and the one
 * PREFETCH_L1_AHEAD after p into L1. Called once per line of a stream read in order, it keeps
 * both windows full. */
static inline __attribute__((always_inline)) void prefetch_stream_line(const void *p) {
    _mm_prefetch((const char *)p + PREFETCH_L2_AHEAD, _MM_HINT_T1);
    _mm_prefetch((const char *)p + PREFETCH_L1_AHEAD, _MM_HINT_T0);
}

#endif
