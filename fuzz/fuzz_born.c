/* libFuzzer harness for the .born reader, from memory (born_file_open_memory). Each input is
 * tried twice: as it is, and with the two SHA-256 digests of its prefix recomputed (when the
 * sizes it declares fit), so that mutations reach the header's validation instead of stopping at
 * the checksum. A file that opens must give tensors that lie inside it, convert to a list, and
 * encode back (born_file_encode) into a file that opens to the same names and bytes and encodes
 * to the very same bytes again. A failure must always leave a message. Build with `make fuzz`,
 * run with `fuzz/run.sh SECONDS`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
    fprintf(stderr, "fuzz_born: %s (%s)\n", what, born_last_error());
    abort();
}

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void check_list_bytes(born_tensor_list *a, born_tensor_list *b) {
    if (a->count != b->count) fail("the round trip changed the tensor count");
    for (int64_t i = 0; i < a->count; i++) {
        born_tensor *x = a->items[i].tensor, *y = b->items[i].tensor;
        if (strcmp(a->items[i].name, b->items[i].name) != 0) fail("the round trip renamed");
        size_t n = (size_t)born_tensor_numel(x) * born_dtype_size(born_tensor_dtype(x));
        if (born_tensor_dtype(x) != born_tensor_dtype(y) ||
            born_tensor_numel(x) != born_tensor_numel(y) ||
            (n && memcmp(born_data_ptr(x), born_data_ptr(y), n) != 0))
            fail("the round trip changed a tensor");
    }
}

static void try_open(const uint8_t *data, size_t size) {
    born_file_params p = born_file_default_params();
    p.format = BORN_FORMAT_BORN;
    born_file *f = born_file_open_memory(data, size, &p);
    if (!f) {
        if (born_last_error()[0] == '\0') fail("an error without a message");
        born_clear_error();
        return;
    }
    born_scope_begin();
    uint64_t sum = 0;
    for (int64_t i = 0; i < born_file_count(f); i++) {
        born_tensor_info info;
        if (born_file_tensor_info(f, i, &info) != BORN_OK) fail("no info");
        if (info.offset > size || info.nbytes > size - info.offset) fail("a tensor outside");
        if (info.offset % 64 != 0) fail("a misaligned tensor");
        if (born_file_find(f, info.name) != i) fail("find disagrees");
        born_tensor *t = born_file_get_index(f, i);
        if (!t) fail("a listed tensor does not load");
        const uint8_t *bytes = born_data_ptr(t);
        for (uint64_t k = 0; k < info.nbytes; k++) sum += bytes[k]; /* ASan checks the reads */
    }
    (void)sum;
    born_tensor_list *list = born_file_to_list(f);
    if (!list) fail("to_list failed");
    const born_string_map *meta = born_file_metadata(f);
    char *config = NULL;
    if (born_file_config(f)) {
        born_json_writer *j = born_json_writer_new(NULL);
        born_json_write_value(j, born_file_config(f));
        const char *text = born_json_writer_text(j, NULL);
        if (!text) fail("the config does not write");
        config = strdup(text);
        born_json_writer_free(j);
    }
    void *enc = NULL, *enc2 = NULL;
    size_t len = 0, len2 = 0;
    if (born_file_encode(list, meta, config, &enc, &len) != BORN_OK) fail("does not encode");
    born_file *g = born_file_open_memory(enc, len, &p);
    if (!g) fail("an encoded file does not open");
    born_tensor_list *back = born_file_to_list(g);
    if (!back) fail("to_list failed on the encoded file");
    check_list_bytes(list, back);
    if (born_file_encode(back, born_file_metadata(g), config, &enc2, &len2) != BORN_OK ||
        len2 != len || memcmp(enc, enc2, len) != 0)
        fail("encoding twice gives different files");
    free(enc);
    free(enc2);
    free(config);
    born_tensor_list_free(back);
    born_tensor_list_free(list);
    born_file_close(g);
    born_file_close(f); /* the tensors outlive the handle */
    born_scope_end();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try_open(data, size);
    if (size < 128) return 0;
    uint64_t data_len = rd64(data + 8), header_len = rd64(data + 16);
    if (data_len > size - 128 || header_len > size - 128 - data_len) return 0;
    uint8_t *fixed = malloc(size);
    memcpy(fixed, data, size);
    born_sha256(fixed + 128, (size_t)data_len, fixed + 24);
    born_sha256(fixed + 128 + data_len, (size_t)header_len, fixed + 56);
    try_open(fixed, size);
    free(fixed);
    return 0;
}
