/* The streaming-store bound of stream.h. */
#include "backend/cpu/stream.h"

#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

static _Atomic int64_t min_bytes = CPU_STREAM_MIN_BYTES_DEFAULT;

int64_t cpu_stream_min_bytes(void) { return atomic_load_explicit(&min_bytes, memory_order_relaxed); }

void cpu_set_stream_min_bytes(int64_t bytes) {
    atomic_store(&min_bytes, bytes < 0 ? (int64_t)CPU_STREAM_MIN_BYTES_DEFAULT : bytes);
}

void cpu_stream_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_sfence();
#endif
}
