/* Internal: when the CPU's elementwise, softmax and norm kernels write their f32 output with
 * non-temporal (streaming) stores. An ordinary store to memory that is not cached first reads the
 * line (read-for-ownership), so a kernel that reads x and writes y moves three streams over the
 * memory bus; streaming stores write whole lines without reading them, two streams. They pay off
 * only where the output would not stay in cache for its reader anyway, so the kernels stream only
 * outputs of at least cpu_stream_min_bytes() (32 MiB, beyond the last-level cache of the machines
 * Born is measured on) and store ordinarily below. */
#ifndef BORN_CPU_STREAM_H
#define BORN_CPU_STREAM_H

#include <stdbool.h>
#include <stdint.h>

enum { CPU_STREAM_MIN_BYTES_DEFAULT = 32 << 20 };

/* The smallest output, in bytes, that the kernels write with streaming stores. */
int64_t cpu_stream_min_bytes(void);

/* Sets that bound (tests and benchmarks: 0 streams every output, INT64_MAX none); a negative
 * value restores the default. */
void cpu_set_stream_min_bytes(int64_t bytes);

/* True when an output of this many bytes is to be streamed. */
static inline bool cpu_stream_output(int64_t bytes) { return bytes >= cpu_stream_min_bytes(); }

/* Orders this thread's streaming stores before its later stores (sfence on x86, nothing
 * elsewhere): every kernel that streamed calls it before it returns, so that the thread pool's
 * completion signal publishes the data. */
void cpu_stream_fence(void);

#endif
