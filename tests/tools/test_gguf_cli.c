/* born info and born quantize on GGUF files: the listing (types, abbreviated arrays, tensors,
 * totals), the type llama.cpp's rules pick for each tensor, copied metadata with the file type
 * updated, bytes identical to born_to_dtype's, and clean failures. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/tensor_file_test.h"
#include "tools/born/commands.h"
#include "tools/cli_run.h"

TEST(cli_info_gguf) {
    static char out[16384];
    char *argv[] = {"info", "tests/fixtures/gguf/all_types.gguf", NULL};
    CHECK_EQ_INT(cli_run(cmd_info, 2, argv, NULL, out, sizeof out), 0);
    const char *want[] = {
        "GGUF version 3, alignment 32, 11 tensors",
        "metadata (31 keys):",
        "general.architecture   string   \"born-test\"",
        "test.u64               u64      9223372036854775813",
        "test.f32               f32      0.1\n",
        "test.arr_string        [string] [3 strings: 'a', '', '\xc3\xbc']",
        ("test.deep              [array]  [2 arrays: [2 arrays: [1 i32: 1], [2 i32: 2, 3]], [1 "
         "array: [1 i32: 4]]]"),
        "tokenizer.ggml.tokens  [string] [200 strings: '', '<tok1>', '<tok2>', ",
        ", ...]\n",
        "bf16    bf16    [2, 2, 3]            24",
        "scalar  f32     []                   4",
        "total: 11 tensors, 80 parameters, 263 bytes",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(strstr(out, want[i]), "no \"%s\" in:\n%s", want[i], out);
    char *un[] = {"info", "tests/fixtures/gguf/unsupported.gguf", NULL};
    CHECK_EQ_INT(cli_run(cmd_info, 2, un, NULL, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "ternary  tq1_0   [1, 256]             54  (Born cannot load this type)"),
              "%s", out);
    /* a damaged file: the reader's message */
    const char *bad = tft_path("bad.gguf");
    CHECK(tft_write_all(bad, "GGUF\x01\0\0\0", 8));
    char *b[] = {"info", (char *)bad, NULL};
    CHECK_EQ_INT(cli_run(cmd_info, 2, b, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "GGUF version 1 (at byte 4) is not supported"), "%s", out);
    unlink(bad);
}

/* A small llama-shaped model in f32: embeddings, one block, a row length of 96 (not a multiple
 * of 256) in ffn_down, an output matrix, norms. */
static void write_model(const char *path, bool with_output) {
    born_gguf_writer *w = born_gguf_writer_open(path);
    born_gguf_writer_set_string(w, "general.architecture", "llama");
    born_gguf_writer_set_u32(w, "general.file_type", 0);
    born_gguf_writer_set_u32(w, "llama.block_count", 1);
    born_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens", (const char *[]){"<s>", "a", "b"},
                                      NULL, 3);
    born_generator *g = born_generator_new(11);
    born_gguf_writer_add_tensor(w, "token_embd.weight", born_randn(g, BORN_F32, BORN_DIMS(64, 256)));
    born_gguf_writer_add_tensor(w, "blk.0.attn_norm.weight", born_ones(BORN_F32, BORN_DIMS(256)));
    born_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", born_randn(g, BORN_F32, BORN_DIMS(256, 256)));
    born_gguf_writer_add_tensor(w, "blk.0.ffn_down.weight", born_randn(g, BORN_F32, BORN_DIMS(256, 96)));
    born_gguf_writer_add_tensor(w, "blk.0.ffn_norm.weight", born_ones(BORN_F32, BORN_DIMS(256)));
    if (with_output)
        born_gguf_writer_add_tensor(w, "output.weight", born_randn(g, BORN_F32, BORN_DIMS(64, 256)));
    born_generator_free(g);
    CHECK_OK(born_gguf_writer_finish(w));
}

/* Checks out's tensors against `types` (in order) and against born_to_dtype of the input's. */
static void check_quantized(const char *in_path, const char *out_path, const born_dtype *types,
                            int n, uint32_t file_type) {
    born_file *in = born_file_open(in_path, NULL), *out = born_file_open(out_path, NULL);
    CHECK_OK_TENSOR(out);
    if (!in || !out) {
        born_file_close(in);
        born_file_close(out);
        return;
    }
    CHECK_EQ_INT(born_file_count(out), n);
    for (int i = 0; i < n && i < born_file_count(out); i++) {
        born_tensor_info ti;
        born_file_tensor_info(out, i, &ti);
        CHECK_MSG(ti.dtype == types[i], "%s is %s, expected %s", ti.name, born_dtype_name(ti.dtype),
                  born_dtype_name(types[i]));
        born_tensor *src = born_file_get(in, ti.name);
        born_tensor *want = born_tensor_dtype(src) == types[i] ? src : born_to_dtype(src, types[i]);
        CHECK_MSG(tft_same(born_file_get_index(out, i), want), "%s differs from born_to_dtype's",
                  ti.name);
    }
    uint32_t ft = 99, blocks = 0;
    CHECK_OK(born_gguf_get_u32(out, "general.file_type", &ft));
    CHECK_EQ_INT(ft, file_type);
    CHECK_OK(born_gguf_get_u32(out, "llama.block_count", &blocks));
    CHECK_EQ_INT(blocks, 1);
    const char *s = NULL;
    size_t len = 0;
    CHECK_OK(born_gguf_get_array_string(out, "tokenizer.ggml.tokens", 2, &s, &len));
    CHECK(len == 1 && s[0] == 'b');
    CHECK_EQ_INT(born_gguf_find_key(out, "general.file_type"), 1); /* kept in place */
    born_file_close(in);
    born_file_close(out);
}

/* True when this build quantizes f32 to dtype (the conversions live in src/backend/cpu/quant). */
static bool can_quantize(born_dtype dtype) {
    born_tensor *t = born_to_dtype(born_zeros(BORN_F32, BORN_DIMS(1, 256)), dtype);
    born_clear_error();
    return t != NULL;
}

TEST(cli_quantize_gguf) {
    static char out[65536];
    char in[512], q[512];
    snprintf(in, sizeof in, "%s", tft_path("model-f32.gguf"));
    snprintf(q, sizeof q, "%s", tft_path("model-q.gguf"));
    write_model(in, true);
    int entries = tft_dir_entries();

    /* f16: every weight matrix, the output and the embeddings too; norms stay f32 */
    char *a[] = {"quantize", in, q, "F16", NULL};
    CHECK_EQ_INT(cli_run(cmd_quantize, 4, a, NULL, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "blk.0.attn_q.weight") && strstr(out, "f32    -> f16") &&
                  strstr(out, "4 re-encoded"),
              "%s", out);
    born_dtype f16[] = {BORN_F16, BORN_F32, BORN_F16, BORN_F16, BORN_F32, BORN_F16};
    check_quantized(in, q, f16, 6, 1);
    unlink(q);

    if (can_quantize(BORN_Q4_K) && can_quantize(BORN_Q5_0) && can_quantize(BORN_Q6_K)) {
        /* q4_K: ffn_down's rows of 96 fall back to q5_0; the output gets q6_K */
        char *b[] = {"quantize", in, q, "q4_K", NULL};
        CHECK_EQ_INT(cli_run(cmd_quantize, 4, b, NULL, out, sizeof out), 0);
        born_dtype q4k[] = {BORN_Q4_K, BORN_F32, BORN_Q4_K, BORN_Q5_0, BORN_F32, BORN_Q6_K};
        check_quantized(in, q, q4k, 6, 14);
        born_file *f = born_file_open(q, NULL);
        uint32_t qv = 0;
        CHECK_OK(born_gguf_get_u32(f, "general.quantization_version", &qv));
        CHECK_EQ_INT(qv, 2);
        born_file_close(f);
        /* --pure: the output too */
        char *c[] = {"quantize", "--pure", in, q, "q4_K", NULL};
        CHECK_EQ_INT(cli_run(cmd_quantize, 5, c, NULL, out, sizeof out), 0);
        born_dtype pure[] = {BORN_Q4_K, BORN_F32, BORN_Q4_K, BORN_Q5_0, BORN_F32, BORN_Q4_K};
        check_quantized(in, q, pure, 6, 14);
        /* q8_0 keeps the output q8_0; tied embeddings are the output when there is none */
        char *d[] = {"quantize", in, q, "q8_0", NULL};
        CHECK_EQ_INT(cli_run(cmd_quantize, 4, d, NULL, out, sizeof out), 0);
        born_dtype q80[] = {BORN_Q8_0, BORN_F32, BORN_Q8_0, BORN_Q8_0, BORN_F32, BORN_Q8_0};
        check_quantized(in, q, q80, 6, 7);
        write_model(in, false);
        char *e[] = {"quantize", in, q, "q5_0", NULL};
        CHECK_EQ_INT(cli_run(cmd_quantize, 4, e, NULL, out, sizeof out), 0);
        born_dtype tied[] = {BORN_Q6_K, BORN_F32, BORN_Q5_0, BORN_Q5_0, BORN_F32};
        check_quantized(in, q, tied, 5, 8);
        /* requantizing a quantized model goes through f32 */
        char q2[512];
        snprintf(q2, sizeof q2, "%s", tft_path("model-q2.gguf"));
        char *g[] = {"quantize", q, q2, "f16", NULL};
        CHECK_EQ_INT(cli_run(cmd_quantize, 4, g, NULL, out, sizeof out), 0);
        f = born_file_open(q2, NULL);
        born_tensor_info ti;
        CHECK(f && born_file_tensor_info(f, 2, &ti) == BORN_OK && ti.dtype == BORN_F16);
        born_file_close(f);
        unlink(q2);
        unlink(q);
    }
    CHECK_EQ_INT(tft_dir_entries(), entries);

    /* failures: usage, unknown type, missing or foreign input; no output appears */
    char *u[] = {"quantize", in, q, NULL};
    CHECK_EQ_INT(cli_run(cmd_quantize, 3, u, NULL, out, sizeof out), 2);
    char *t[] = {"quantize", in, q, "q8_1", NULL};
    CHECK_EQ_INT(cli_run(cmd_quantize, 4, t, NULL, out, sizeof out), 2);
    CHECK_MSG(strstr(out, "unknown type 'q8_1'"), "%s", out);
    char *m[] = {"quantize", "/nonexistent.gguf", q, "f16", NULL};
    CHECK_EQ_INT(cli_run(cmd_quantize, 4, m, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "born quantize: born_file_open: /nonexistent.gguf: cannot open"), "%s",
              out);
    char *s[] = {"quantize", "tests/fixtures/safetensors/all_dtypes.safetensors", q, "f16", NULL};
    CHECK_EQ_INT(cli_run(cmd_quantize, 4, s, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "is not a GGUF file"), "%s", out);
    char *x[] = {"quantize", "tests/fixtures/gguf/unsupported.gguf", q, "f16", NULL};
    CHECK_EQ_INT(cli_run(cmd_quantize, 4, x, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "tensor \"ternary\" has ggml type tq1_0, which Born cannot read"), "%s",
              out);
    CHECK_EQ_INT(tft_dir_entries(), entries);
    unlink(in);
}
