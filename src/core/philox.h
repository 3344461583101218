/* Internal: the Philox4x32-10 counter-based generator (Salmon et al., SC'11) and the
 * transformations from its raw bits to uniform and normal numbers. Element i of a stream uses
 * counter (offset + i) under key (seed), so any device and any thread count draws the same
 * numbers. The rounds are the CUDA kernels' too (random.cu, attention.cu include this header):
 * under nvcc they are host and device functions. */
#ifndef BORN_CORE_PHILOX_H
#define BORN_CORE_PHILOX_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define PHILOX_FN __host__ __device__ static inline
#else
#define PHILOX_FN static inline
#endif

typedef struct philox_block {
    uint32_t v[4];
} philox_block;

/* The raw Philox4x32-10 bijection of a 128-bit counter under a 64-bit key. */
PHILOX_FN philox_block philox4x32_raw(const uint32_t ctr[4], const uint32_t key[2]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    philox_block b = {{c0, c1, c2, c3}};
    return b;
}

/* The block for stream position `counter` of generator `seed`. */
PHILOX_FN philox_block philox4x32(uint64_t counter, uint64_t seed) {
    const uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), 0, 0};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    return philox4x32_raw(ctr, key);
}

/* Uniform on [0, 1) with 53 random bits, from two words. */
static inline double philox_uniform_f64(uint32_t hi, uint32_t lo) {
    uint64_t bits = ((uint64_t)hi << 21) ^ (uint64_t)lo;
    bits &= (UINT64_C(1) << 53) - 1;
    return (double)bits * (1.0 / 9007199254740992.0);
}

/* Uniform on [0, 1) with 24 random bits, from one word. */
static inline float philox_uniform_f32(uint32_t w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }

/* A standard normal number by Box-Muller from the block's four words (full double precision). */
static inline double philox_normal(philox_block b) {
    double u1 = philox_uniform_f64(b.v[0], b.v[1]);
    double u2 = philox_uniform_f64(b.v[2], b.v[3]);
    double r = sqrt(-2.0 * log(1.0 - u1)); /* 1 - u1 is in (0, 1]: never log(0) */
    return r * cos(6.283185307179586476925286766559 * u2);
}

/* An integer uniform on [0, range) for range >= 1, from the block's first two words. */
static inline uint64_t philox_below(philox_block b, uint64_t range) {
    uint64_t x = ((uint64_t)b.v[0] << 32) | b.v[1];
    return (uint64_t)(((unsigned __int128)x * range) >> 64);
}

#endif
