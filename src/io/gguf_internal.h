/* Internal: what the GGUF reader (gguf.c), its metadata accessors (gguf_meta.c) and the writer
 * (gguf_write.c) share: ggml's type table, GGUF's value types, and the parsed metadata that a
 * born_file of format GGUF carries (f->gguf). */
#ifndef BORN_IO_GGUF_INTERNAL_H
#define BORN_IO_GGUF_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "io/tensor_file.h"

#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_DEPTH 32 /* arrays nested in arrays, at most (reader and writer) */
#define GGUF_SKIP_STRIDE 64 /* a key's array of strings or arrays remembers every 64th offset */

/* One ggml type: ggml's name (NULL for numbers ggml does not define), block geometry, and the
 * Born dtype with the same bytes (BORN_DTYPE_COUNT when Born has none). */
typedef struct gguf_ggml_type {
    const char *name;
    uint32_t block; /* elements per block */
    uint32_t bytes; /* bytes per block */
    born_dtype dtype;
} gguf_ggml_type;

/* The entry of ggml type number t, or NULL when ggml defines no such type. */
const gguf_ggml_type *gguf_ggml_type_info(uint32_t t);

/* Bytes of one value of a fixed-size GGUF type; 0 for string, array and invalid types. */
uint32_t gguf_value_size(uint32_t type);

/* One key-value pair. Offsets are from the start of the file. */
typedef struct gguf_kv {
    char *key;      /* owned, NUL-terminated */
    uint64_t start; /* where the pair starts (the key's length) */
    uint32_t type;
    uint64_t offset;    /* the value: the number, the string's first byte, the first element */
    uint64_t count;     /* STRING: bytes; ARRAY: elements */
    uint32_t elem_type; /* ARRAY */
    char *str;          /* STRING: an owned NUL-terminated copy */
    uint64_t *skip;     /* ARRAY of strings or arrays: the offset of element k*GGUF_SKIP_STRIDE */
} gguf_kv;

struct gguf_meta {
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    gguf_kv *kvs; /* in file order */
    int64_t nkv;
    int64_t *by_key; /* kv indices sorted by key */
};

/* Little-endian reads from the mapping. */
static inline uint32_t gguf_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t gguf_rd64(const uint8_t *p) {
    return (uint64_t)gguf_rd32(p) | (uint64_t)gguf_rd32(p + 4) << 32;
}

/* The size in bytes of the value of `type` at offset (already validated at open), or
 * UINT64_MAX if it does not fit in the file after all (never for a file that opened). */
uint64_t gguf_value_span(const born_file *f, uint32_t type, uint64_t offset, int depth);

/* True when the len bytes at s are well-formed UTF-8 without NUL (keys and tensor names). */
bool gguf_name_ok(const uint8_t *s, uint64_t len);

#endif
