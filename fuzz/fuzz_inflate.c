/* libFuzzer harness for the DEFLATE and gzip decoders. Every input is inflated as raw DEFLATE and
 * decompressed as gzip, with a 1 MiB output limit. When the raw stream decodes, the harness checks
 * what it can without another decoder: the stream alone (cut at in_used) decodes to the same bytes,
 * the same stream wrapped in a gzip member with the right CRC-32 and length decompresses to them
 * too, a wrong CRC is caught, and any limit below the output's length fails cleanly. A failure must
 * always leave a message. Build with `make fuzz`, run with `fuzz/run.sh SECONDS`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
    fprintf(stderr, "fuzz_inflate: %s (%s)\n", what, born_last_error());
    abort();
}

enum { LIMIT = 1 << 20 };

/* A failure must say why; then forget it. */
static void expect_message(born_status st) {
    if (st != BORN_OK && born_last_error()[0] == '\0') fail("an error without a message");
    born_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    void *out = NULL, *again = NULL;
    size_t out_len = 0, used = 0, again_len = 0;
    born_status st = born_inflate(data, size, LIMIT, &out, &out_len, &used);
    expect_message(st);
    if (st == BORN_OK) {
        if (used > size || out_len > LIMIT || !out) fail("impossible raw result");
        /* the stream alone decodes the same, with no trailing bytes */
        st = born_inflate(data, used, LIMIT, &again, &again_len, NULL);
        if (st != BORN_OK || again_len != out_len || memcmp(again, out, out_len) != 0)
            fail("the stream cut at in_used decodes differently");
        free(again);
        /* a limit one short of the output fails */
        if (out_len > 0) {
            st = born_inflate(data, used, out_len - 1, &again, &again_len, NULL);
            if (st == BORN_OK || again != NULL) fail("a limit below the output was not enforced");
            expect_message(st);
        }
        /* wrapped in a gzip member */
        uint8_t *gz = malloc(used + 18);
        if (gz) {
            const uint8_t head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
            memcpy(gz, head, 10);
            memcpy(gz + 10, data, used);
            uint32_t crc = born_crc32(0, out, out_len);
            for (int i = 0; i < 4; i++) gz[10 + used + i] = (uint8_t)(crc >> (8 * i));
            for (int i = 0; i < 4; i++) gz[14 + used + i] = (uint8_t)(out_len >> (8 * i));
            st = born_gzip_decompress(gz, used + 18, LIMIT, &again, &again_len);
            if (st != BORN_OK || again_len != out_len || memcmp(again, out, out_len) != 0)
                fail("the gzip-wrapped stream decodes differently");
            free(again);
            gz[10 + used] ^= 1;
            st = born_gzip_decompress(gz, used + 18, LIMIT, &again, &again_len);
            if (st == BORN_OK) fail("a wrong CRC-32 was accepted");
            expect_message(st);
            free(gz);
        }
        free(out);
    } else if (out != NULL || out_len != 0) {
        fail("a failed inflate returned data");
    }
    st = born_gzip_decompress(data, size, LIMIT, &out, &out_len);
    expect_message(st);
    if (st == BORN_OK) {
        if (out_len > LIMIT || !out) fail("impossible gzip result");
        free(out);
    }
    return 0;
}
