/* Internal: the strided runs of the SIMD unary kernels (unary_avx2.c, unary_avx512.c,
 * unary_neon.c), which gather a chunk of each operand into a contiguous buffer, run their vector
 * loop over it and scatter the result back. Plain C, no instruction set of its own. */
#ifndef BORN_CPU_STRIDED_CHUNK_H
#define BORN_CPU_STRIDED_CHUNK_H

#include <stdint.h>

/* Elements per chunk: a multiple of every vector width (4, 8, 16 lanes). */
enum { STRIDED_CHUNK = 64 };

/* Copies the m f32 values at src, stride bytes apart, into buf and zeros buf's other
 * STRIDED_CHUNK - m values (so that whole vectors can be read). */
static inline void strided_chunk_load(float *buf, const char *src, int64_t stride, int64_t m) {
    for (int64_t i = 0; i < m; i++) buf[i] = *(const float *)(src + i * stride);
    for (int64_t i = m; i < STRIDED_CHUNK; i++) buf[i] = 0;
}

/* Copies the first m values of buf to dst, stride bytes apart. */
static inline void strided_chunk_store(char *dst, int64_t stride, const float *buf, int64_t m) {
    for (int64_t i = 0; i < m; i++) *(float *)(dst + i * stride) = buf[i];
}

#endif
