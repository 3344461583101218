/* SHA-256 (FIPS 180-4): a streaming context and a one-shot digest, used to check downloaded and
 * cached files. Written from the standard; the constants are the first 32 bits of the fractional
 * parts of the square roots (H0) and cube roots (K) of the first primes. */
#include <string.h>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/sha256_internal.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* Mixes one 64-byte block into the state. */
static void compress(uint32_t state[8], const uint8_t *block) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) {
        const uint8_t *b = block + 4 * i; /* big-endian words */
        w[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
    }
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + s1 + ch + sha256_k[i] + w[i];
        uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = s0 + maj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

/* True when the CPU has the SHA extensions (checked once) and BORN_CPU does not ask for the
 * portable code (so BORN_CPU=scalar tests it). */
#if defined(__x86_64__)
static bool have_shani(void) {
    static int cached = -1;
    if (cpu_get_level() == CPU_LEVEL_SCALAR) return false;
    if (cached < 0) {
        unsigned a, b, c, d;
        cached = __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((b >> 29) & 1) &&
                 __get_cpuid(1, &a, &b, &c, &d) && ((c >> 19) & 1); /* SHA and SSE4.1 */
    }
    return cached == 1;
}
#endif

/* Compresses n consecutive blocks, with the SHA instructions when the CPU has them. */
static void compress_blocks(uint32_t state[8], const uint8_t *data, size_t n) {
#if defined(__x86_64__)
    if (n > 0 && have_shani()) {
        sha256_blocks_shani(state, data, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) compress(state, data + 64 * i);
}

void born_sha256_init(born_sha256_ctx *ctx) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    if (!ctx) return;
    memcpy(ctx->state, h0, sizeof h0);
    ctx->length = 0;
    ctx->used = 0;
}

born_status born_sha256_update(born_sha256_ctx *ctx, const void *data, size_t len) {
    if (!ctx || (!data && len > 0))
        return born_error(BORN_ERR_ARGUMENT, "born_sha256_update: %s is NULL",
                          ctx ? "data" : "context");
    if (len == 0) return BORN_OK; /* data may be NULL; memcpy must not see it */
    const uint8_t *p = data;
    ctx->length += len;
    if (ctx->used > 0) { /* top up the partial block first */
        size_t take = 64 - ctx->used < len ? 64 - ctx->used : len;
        memcpy(ctx->block + ctx->used, p, take);
        ctx->used += take;
        p += take;
        len -= take;
        if (ctx->used < 64) return BORN_OK;
        compress_blocks(ctx->state, ctx->block, 1);
        ctx->used = 0;
    }
    size_t blocks = len / 64;
    compress_blocks(ctx->state, p, blocks);
    p += 64 * blocks;
    len -= 64 * blocks;
    if (len > 0) memcpy(ctx->block, p, len);
    ctx->used = len;
    return BORN_OK;
}

born_status born_sha256_final(born_sha256_ctx *ctx, uint8_t digest[32]) {
    if (!ctx || !digest)
        return born_error(BORN_ERR_ARGUMENT, "born_sha256_final: %s is NULL",
                          ctx ? "digest" : "context");
    uint64_t bits = ctx->length * 8; /* the message length modulo 2^64 bits, as the standard says */
    ctx->block[ctx->used++] = 0x80;
    if (ctx->used > 56) { /* no room for the length: pad out this block and start another */
        memset(ctx->block + ctx->used, 0, 64 - ctx->used);
        compress(ctx->state, ctx->block);
        ctx->used = 0;
    }
    memset(ctx->block + ctx->used, 0, 56 - ctx->used);
    for (int i = 0; i < 8; i++) ctx->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress(ctx->state, ctx->block);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(ctx->state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(ctx->state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(ctx->state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)ctx->state[i];
    }
    born_sha256_init(ctx); /* ready for the next message; nothing of this one lingers */
    return BORN_OK;
}

born_status born_sha256(const void *data, size_t len, uint8_t digest[32]) {
    if ((!data && len > 0) || !digest)
        return born_error(BORN_ERR_ARGUMENT, "born_sha256: %s is NULL", digest ? "data" : "digest");
    born_sha256_ctx ctx;
    born_sha256_init(&ctx);
    born_sha256_update(&ctx, data, len);
    return born_sha256_final(&ctx, digest);
}

char *born_sha256_hex(const uint8_t digest[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    if (!hex) return NULL;
    if (!digest) {
        hex[0] = '\0';
        return hex;
    }
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
    return hex;
}
