/* libFuzzer harness for the GGUF reader and writer, from memory (born_file_open_memory). A file
 * that opens must give tensors inside it and metadata every reader can walk (each array's first
 * and last elements, nested arrays recursively); when Born has every tensor's type, it is written
 * back with born_gguf_writer (metadata copied value by value, tensors zero-copy), which must open
 * to the same keys, values and tensor bytes and encode again to the very same file. A failure
 * must always leave a message. Build with `make fuzz`, run with `fuzz/run.sh SECONDS`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t checksum; /* reading every byte of every tensor */

static void fail(const char *what) {
    fprintf(stderr, "fuzz_gguf: %s (%s)\n", what, born_last_error());
    abort();
}

/* Reads v with every reader (most fail with a type error, which must carry a message) and walks
 * arrays: a few elements at each end, recursively. */
static void walk(const born_gguf_value *v, int depth) {
    if (depth > 40) fail("values nested deeper than the reader allows");
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    double f64;
    bool b;
    const char *s;
    size_t len;
    born_status st[8];
    for (int i = 0; i < 8; i++) { /* one at a time: the first error sticks until cleared */
        switch (i) {
        case 0: st[i] = born_gguf_value_u32(v, &u32); break;
        case 1: st[i] = born_gguf_value_i32(v, &i32); break;
        case 2: st[i] = born_gguf_value_u64(v, &u64); break;
        case 3: st[i] = born_gguf_value_i64(v, &i64); break;
        case 4: st[i] = born_gguf_value_f32(v, &f32); break;
        case 5: st[i] = born_gguf_value_f64(v, &f64); break;
        case 6: st[i] = born_gguf_value_bool(v, &b); break;
        default: st[i] = born_gguf_value_string(v, &s, &len); break;
        }
        if (st[i] != BORN_OK) {
            if (born_last_error()[0] == '\0') fail("a reader failed without a message");
            born_clear_error();
        }
    }
    if (v->type == BORN_GGUF_STRING && st[7] == BORN_OK && len != v->count) fail("string length");
    if (v->type != BORN_GGUF_ARRAY) return;
    for (uint64_t i = 0; i < v->count; i++) {
        if (i == 3 && v->count > 6) i = v->count - 3;
        born_gguf_value e;
        if (born_gguf_array_at(v, i, &e) != BORN_OK) fail("an element does not read");
        if (e.type != v->elem_type) fail("an element of the wrong type");
        walk(&e, depth + 1);
    }
    born_gguf_value e;
    if (born_gguf_array_at(v, v->count, &e) == BORN_OK) fail("an element past the end");
    born_clear_error();
}

/* Born's encoding of f (every type known), or NULL. */
static void *encode(born_file *f, size_t *len) {
    born_gguf_writer *w = born_gguf_writer_open_memory();
    if (!w) fail("no writer");
    for (int64_t i = 0; i < born_gguf_kv_count(f); i++) {
        born_gguf_value v;
        if (born_gguf_kv_value(f, i, &v) != BORN_OK ||
            born_gguf_writer_set_value(w, born_gguf_kv_key(f, i), &v) != BORN_OK)
            fail("a key does not copy");
    }
    for (int64_t i = 0; i < born_file_count(f); i++) {
        born_tensor_info info;
        born_file_tensor_info(f, i, &info);
        born_tensor *t = born_file_get_index(f, i);
        if (!t || born_gguf_writer_add_tensor(w, info.name, t) != BORN_OK)
            fail("a tensor does not copy");
        born_free(t);
    }
    void *out = NULL;
    if (born_gguf_writer_finish_memory(w, &out, len) != BORN_OK) fail("does not encode");
    return out;
}

static void same_files(born_file *a, born_file *b) {
    if (born_gguf_kv_count(a) != born_gguf_kv_count(b) || born_file_count(a) != born_file_count(b) ||
        born_gguf_alignment(a) != born_gguf_alignment(b))
        fail("the round trip changed the counts");
    for (int64_t i = 0; i < born_gguf_kv_count(a); i++) {
        if (strcmp(born_gguf_kv_key(a, i), born_gguf_kv_key(b, i)) != 0) fail("a key changed");
        born_gguf_value x, y;
        born_gguf_kv_value(a, i, &x);
        born_gguf_kv_value(b, i, &y);
        if (x.type != y.type || x.elem_type != y.elem_type || x.count != y.count)
            fail("a value changed");
    }
    for (int64_t i = 0; i < born_file_count(a); i++) {
        born_tensor_info x, y;
        born_file_tensor_info(a, i, &x);
        born_file_tensor_info(b, i, &y);
        if (strcmp(x.name, y.name) != 0 || x.dtype != y.dtype || x.ndim != y.ndim ||
            x.nbytes != y.nbytes || memcmp(x.shape, y.shape, sizeof x.shape) != 0)
            fail("a tensor's description changed");
        born_tensor *s = born_file_get_index(a, i), *t = born_file_get_index(b, i);
        if (!s || !t || (x.nbytes && memcmp(born_data_ptr(s), born_data_ptr(t), x.nbytes) != 0))
            fail("a tensor's bytes changed");
        born_free(s);
        born_free(t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    born_file_params p = born_file_default_params();
    p.format = BORN_FORMAT_GGUF;
    born_file *f = born_file_open_memory(data, size, &p);
    if (!f) {
        if (born_last_error()[0] == '\0') fail("an error without a message");
        born_clear_error();
        return 0;
    }
    born_scope_begin();
    bool all_known = true;
    for (int64_t i = 0; i < born_file_count(f); i++) {
        born_tensor_info info;
        if (born_file_tensor_info(f, i, &info) != BORN_OK) fail("no info");
        if (info.offset > size || info.nbytes > size - info.offset) fail("a tensor outside");
        if (born_file_find(f, info.name) != i) fail("find disagrees");
        born_tensor *t = born_file_get_index(f, i);
        if (info.dtype == BORN_DTYPE_COUNT) {
            if (t) fail("a tensor of an unknown type loaded");
            born_clear_error();
            all_known = false;
            continue;
        }
        if (!t) fail("a listed tensor does not load");
        const uint8_t *bytes = born_data_ptr(t);
        for (uint64_t k = 0; k < info.nbytes; k++) checksum += bytes[k];
        born_free(t);
    }
    for (int64_t i = 0; i < born_gguf_kv_count(f); i++) {
        born_gguf_value v;
        const char *key = born_gguf_kv_key(f, i);
        if (!key || born_gguf_kv_value(f, i, &v) != BORN_OK) fail("a key does not read");
        if (born_gguf_find_key(f, key) != i) fail("find_key disagrees");
        walk(&v, 0);
    }
    if (all_known) {
        size_t len = 0, len2 = 0;
        void *enc = encode(f, &len);
        born_file *g = born_file_open_memory(enc, len, &p);
        if (!g) fail("an encoded file does not open");
        same_files(f, g);
        void *enc2 = encode(g, &len2);
        if (len2 != len || memcmp(enc, enc2, len) != 0) fail("encoding twice gives different files");
        free(enc);
        free(enc2);
        born_file_close(g);
    }
    born_file_close(f);
    born_scope_end();
    return 0;
}
