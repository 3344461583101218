/* A helper for tools/gen_quant_fixtures.py (not part of Born's build): quantizes f32 rows with
 * ggml's reference quantizers, quantize_row_<type>_ref, so the fixtures can hold the bytes ggml
 * itself writes for the types gguf-py cannot quantize. Build it against a ggml checkout:
 *
 *   cc -O2 -std=gnu11 -I$GGML/include -I$GGML/src -I$GGML/src/ggml-cpu \
 *      tools/ggml_quant_ref.c $GGML/src/ggml-quants.c -lm -o /tmp/ggml_quant_ref
 *
 * usage: ggml_quant_ref TYPE IN OUT, IN holding u32 rows, u32 cols and rows x cols f32; OUT gets
 * the rows' blocks. Each row is one quantize_row_*_ref call, on a zeroed output (Q8_K leaves the
 * bsums of an all-zero block unwritten). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-common.h"
#include "ggml-quants.h"
#include "ggml.h"

/* the few ggml symbols ggml-quants.c refers to outside the reference quantizers */
void ggml_abort(const char *file, int line, const char *fmt, ...) {
    (void)fmt;
    fprintf(stderr, "ggml_abort at %s:%d\n", file, line);
    abort();
}
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void)type; (void)ne; abort(); }
size_t ggml_type_size(enum ggml_type type) { (void)type; abort(); }
const char *ggml_type_name(enum ggml_type type) { (void)type; abort(); }

typedef void (*quantize_fn)(const float *, void *, int64_t);

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s TYPE IN OUT\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    uint32_t rows, cols;
    if (!f || fread(&rows, 4, 1, f) != 1 || fread(&cols, 4, 1, f) != 1) return 1;
    float *x = malloc((size_t)rows * cols * 4);
    if (!x || fread(x, 4, (size_t)rows * cols, f) != (size_t)rows * cols) return 1;
    fclose(f);
    size_t block = 0, bytes = 0;
    quantize_fn q = NULL;
#define TYPE(name, blk)                                                                             \
    if (!strcmp(argv[1], #name)) {                                                                  \
        block = blk;                                                                                \
        bytes = sizeof(block_##name);                                                               \
        q = (quantize_fn)quantize_row_##name##_ref;                                                 \
    }
    TYPE(q4_0, 32) TYPE(q4_1, 32) TYPE(q5_0, 32) TYPE(q5_1, 32) TYPE(q8_0, 32) TYPE(q8_1, 32)
    TYPE(q2_K, 256) TYPE(q3_K, 256) TYPE(q4_K, 256) TYPE(q5_K, 256) TYPE(q6_K, 256)
    TYPE(q8_K, 256) TYPE(iq4_nl, 32) TYPE(iq4_xs, 256)
    if (!q || cols % block) {
        fprintf(stderr, "unknown type %s or cols %u not a multiple of its block\n", argv[1], cols);
        return 2;
    }
    size_t row_bytes = cols / block * bytes;
    unsigned char *out = calloc(rows, row_bytes);
    for (uint32_t i = 0; i < rows; i++) q(x + (size_t)i * cols, out + i * row_bytes, cols);
    FILE *o = fopen(argv[3], "wb");
    if (!o || fwrite(out, 1, rows * row_bytes, o) != rows * row_bytes) return 1;
    fclose(o);
    return 0;
}
