/* libFuzzer harness for the IDX reader, from memory (born_idx_parse). An input that parses is
 * written back with born_idx_encode, which must reproduce a raw input byte for byte (the format is
 * canonical) and give the same tensor when parsed again; a raw input is also wrapped in a gzip
 * member (stored blocks), which must parse exactly as the raw bytes do. A failure must always
 * leave a message. Build with `make fuzz`, run with `fuzz/run.sh SECONDS`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
    fprintf(stderr, "fuzz_idx: %s (%s)\n", what, born_last_error());
    abort();
}

/* One gzip member of stored blocks around payload. */
static uint8_t *gzip_stored(const uint8_t *payload, size_t n, size_t *out_len) {
    size_t blocks = n / 65535 + 1;
    uint8_t *out = malloc(10 + n + 5 * blocks + 8);
    if (!out) return NULL;
    const uint8_t head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(out, head, 10);
    size_t o = 10, left = n;
    do {
        size_t take = left < 65535 ? left : 65535;
        out[o++] = take == left ? 1 : 0;
        out[o++] = (uint8_t)take;
        out[o++] = (uint8_t)(take >> 8);
        out[o++] = (uint8_t)~take;
        out[o++] = (uint8_t)(~take >> 8);
        memcpy(out + o, payload + (n - left), take);
        o += take;
        left -= take;
    } while (left > 0);
    uint32_t crc = born_crc32(0, payload, n);
    for (int i = 0; i < 4; i++) out[o++] = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 4; i++) out[o++] = (uint8_t)(n >> (8 * i));
    *out_len = o;
    return out;
}

/* The IDX bytes of t (or NULL on failure, which must not happen for a parsed tensor). */
static void *encode(born_tensor *t, size_t *len) {
    void *buf = NULL;
    if (born_idx_encode(t, &buf, len) != BORN_OK) fail("a parsed tensor does not encode");
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    born_scope_begin();
    born_tensor *t = born_idx_parse(data, size);
    bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!t) {
        if (born_last_error()[0] == '\0') fail("an error without a message");
        born_clear_error();
    } else {
        size_t len = 0, len2 = 0;
        void *enc = encode(t, &len);
        if (!gz && (len != size || memcmp(enc, data, size) != 0))
            fail("encoding a raw input does not reproduce it");
        born_tensor *back = born_idx_parse(enc, len);
        if (!back) fail("an encoded tensor does not parse");
        void *enc2 = encode(back, &len2);
        if (len2 != len || memcmp(enc, enc2, len) != 0) fail("a second round trip differs");
        free(enc);
        free(enc2);
    }
    if (!gz && size < (1 << 20)) {
        size_t glen = 0;
        uint8_t *wrapped = gzip_stored(data, size, &glen);
        if (wrapped) {
            born_tensor *u = born_idx_parse(wrapped, glen);
            if ((u == NULL) != (t == NULL)) fail("gzip and raw parses disagree");
            if (!u) born_clear_error();
            if (u && t) {
                size_t a = 0, b = 0;
                void *ea = encode(t, &a), *eb = encode(u, &b);
                if (a != b || memcmp(ea, eb, a) != 0) fail("gzip and raw tensors differ");
                free(ea);
                free(eb);
            }
            free(wrapped);
        }
    }
    born_scope_end();
    return 0;
}
