/* libFuzzer harness for the NPY reader, from memory (born_npy_parse). An input that parses is
 * written back with born_npy_encode (numpy's layout), which must parse to the same dtype, shape
 * and bytes, and encode again to the very same file. A failure must always leave a message. Build
 * with `make fuzz`, run with `fuzz/run.sh SECONDS`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
    fprintf(stderr, "fuzz_npy: %s (%s)\n", what, born_last_error());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    born_scope_begin();
    born_tensor *t = born_npy_parse(data, size);
    if (!t) {
        if (born_last_error()[0] == '\0') fail("an error without a message");
        born_clear_error();
        born_scope_end();
        return 0;
    }
    void *enc = NULL, *enc2 = NULL;
    size_t len = 0, len2 = 0;
    if (born_npy_encode(t, &enc, &len) != BORN_OK) fail("a parsed tensor does not encode");
    born_tensor *back = born_npy_parse(enc, len);
    if (!back) fail("an encoded tensor does not parse");
    if (born_tensor_dtype(back) != born_tensor_dtype(t) ||
        born_tensor_ndim(back) != born_tensor_ndim(t) ||
        memcmp(born_tensor_shape(back), born_tensor_shape(t),
               (size_t)born_tensor_ndim(t) * sizeof(int64_t)) != 0)
        fail("the round trip changed the dtype or shape");
    size_t nbytes = (size_t)born_tensor_numel(t) * born_dtype_size(born_tensor_dtype(t));
    if (memcmp(born_data_ptr(back), born_data_ptr(t), nbytes) != 0)
        fail("the round trip changed the data");
    if (born_npy_encode(back, &enc2, &len2) != BORN_OK || len2 != len ||
        memcmp(enc, enc2, len) != 0)
        fail("encoding twice gives different files");
    free(enc);
    free(enc2);
    born_scope_end();
    return 0;
}
