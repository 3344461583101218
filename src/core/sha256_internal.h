/* Internal: the SHA-256 round constants and the accelerated block function (SHA-NI), shared by
 * sha256.c and sha256_shani.c. */
#ifndef BORN_CORE_SHA256_INTERNAL_H
#define BORN_CORE_SHA256_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

extern const uint32_t sha256_k[64];

/* Compresses nblocks 64-byte blocks into state with the SHA extensions (x86 only). */
void sha256_blocks_shani(uint32_t state[8], const uint8_t *data, size_t nblocks);

#endif
