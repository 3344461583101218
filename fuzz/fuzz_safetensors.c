/* libFuzzer harness for the safetensors reader, from memory (born_file_open_memory). A file that
 * opens must give tensors inside it; when Born has every dtype it uses, it is written back with
 * born_safetensors_encode (the reference's layout), which must open to the same names and bytes
 * and encode again to the very same file. A failure must always leave a message. Build with
 * `make fuzz`, run with `fuzz/run.sh SECONDS`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
    fprintf(stderr, "fuzz_safetensors: %s (%s)\n", what, born_last_error());
    abort();
}

static void same_lists(born_tensor_list *a, born_tensor_list *b) {
    if (a->count != b->count) fail("the round trip changed the tensor count");
    for (int64_t i = 0; i < a->count; i++) {
        born_tensor *x = born_tensor_list_get(b, a->items[i].name), *y = a->items[i].tensor;
        if (!x) fail("the round trip lost a tensor");
        size_t n = (size_t)born_tensor_numel(x) * born_dtype_size(born_tensor_dtype(x));
        if (born_tensor_dtype(x) != born_tensor_dtype(y) ||
            born_tensor_ndim(x) != born_tensor_ndim(y) ||
            born_tensor_numel(x) != born_tensor_numel(y) ||
            (n && memcmp(born_data_ptr(x), born_data_ptr(y), n) != 0))
            fail("the round trip changed a tensor");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    born_file_params p = born_file_default_params();
    p.format = BORN_FORMAT_SAFETENSORS;
    born_file *f = born_file_open_memory(data, size, &p);
    if (!f) {
        if (born_last_error()[0] == '\0') fail("an error without a message");
        born_clear_error();
        return 0;
    }
    born_scope_begin();
    bool all_known = true;
    uint64_t sum = 0;
    for (int64_t i = 0; i < born_file_count(f); i++) {
        born_tensor_info info;
        if (born_file_tensor_info(f, i, &info) != BORN_OK) fail("no info");
        if (info.offset > size || info.nbytes > size - info.offset) fail("a tensor outside");
        if (born_file_find(f, info.name) != i) fail("find disagrees");
        born_tensor *t = born_file_get_index(f, i);
        if (info.dtype == BORN_DTYPE_COUNT) {
            if (t) fail("a tensor of an unknown dtype loaded");
            born_clear_error();
            all_known = false;
            continue;
        }
        if (!t) fail("a listed tensor does not load");
        const uint8_t *bytes = born_data_ptr(t);
        for (uint64_t k = 0; k < info.nbytes; k++) sum += bytes[k];
    }
    (void)sum;
    if (all_known) {
        born_tensor_list *list = born_file_to_list(f);
        if (!list) fail("to_list failed");
        const born_string_map *meta = born_file_metadata(f);
        void *enc = NULL, *enc2 = NULL;
        size_t len = 0, len2 = 0;
        if (born_safetensors_encode(list, meta->count ? meta : NULL, &enc, &len) != BORN_OK)
            fail("does not encode");
        born_file *g = born_file_open_memory(enc, len, &p);
        if (!g) fail("an encoded file does not open");
        born_tensor_list *back = born_file_to_list(g);
        if (!back) fail("to_list failed on the encoded file");
        same_lists(list, back);
        const born_string_map *meta2 = born_file_metadata(g);
        if (born_safetensors_encode(back, meta2->count ? meta2 : NULL, &enc2, &len2) != BORN_OK ||
            len2 != len || memcmp(enc, enc2, len) != 0)
            fail("encoding twice gives different files");
        free(enc);
        free(enc2);
        born_tensor_list_free(back);
        born_tensor_list_free(list);
        born_file_close(g);
    }
    born_file_close(f);
    born_scope_end();
    return 0;
}
