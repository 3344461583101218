/* `born quantize [--pure] IN.gguf OUT.gguf TYPE`: re-encodes a GGUF model's weight matrices to
 * TYPE with born_to_dtype, copying everything else.
 *
 * Which tensors: those llama.cpp's llama-quantize re-encodes by default: names ending in
 * "weight" with at least 2 dims, except norms and position / token-type embeddings (and ssm
 * parameters); 1-D tensors (norms, biases, rope factors) are copied as they are. Which type:
 *   - TYPE itself, by default (token_embd.weight too, as llama.cpp does);
 *   - the output matrix ("output.weight", or "token_embd.weight" when the model ties its
 *     embeddings and has no output.weight) gets q6_K for a quantized TYPE, or q8_0 when TYPE is
 *     q8_0 (llama.cpp's default: the output layer is the most sensitive); --pure turns this off;
 *   - k-quants need rows (GGUF's ne[0], Born's last dim) that are multiples of 256; other rows
 *     fall back as in llama.cpp: q2_K, q3_K and iq4_xs to iq4_nl, q4_K to q5_0, q5_K to q5_1,
 *     q6_K to q8_0. A row that is not a multiple of 32 either keeps its type.
 * A tensor already of its target type is copied, not re-encoded; a quantized source is
 * dequantized to f32 first. Metadata is copied in order, general.file_type is set to llama.cpp's
 * value for TYPE (the plain "_S" variants for k-quants: Born does not mix types per layer the way
 * Q4_K_M does) and general.quantization_version to 2 for quantized types. The output streams:
 * one tensor is converted at a time, and the file appears atomically when it is complete. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"
#include "tools/born/commands.h"

/* The types TYPE may name, with llama.cpp's general.file_type for each (llama_ftype). */
static const struct {
    born_dtype dtype;
    uint32_t file_type;
} targets[] = {
    {BORN_F32, 0},   {BORN_F16, 1},    {BORN_BF16, 32},  {BORN_Q4_0, 2},    {BORN_Q4_1, 3},
    {BORN_Q5_0, 8},  {BORN_Q5_1, 9},   {BORN_Q8_0, 7},   {BORN_Q2_K, 10},   {BORN_Q3_K, 11},
    {BORN_Q4_K, 14}, {BORN_Q5_K, 16},  {BORN_Q6_K, 18},  {BORN_IQ4_NL, 25}, {BORN_IQ4_XS, 30},
};
enum { NTARGETS = (int)(sizeof targets / sizeof targets[0]) };

static int usage(FILE *out) {
    fprintf(out, "usage: born quantize [--pure] IN.gguf OUT.gguf TYPE\n\n"
                 "Re-encodes the weight matrices of a GGUF model to TYPE (f32 f16 bf16 q4_0 q4_1 "
                 "q5_0 q5_1 q8_0\nq2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs) and copies everything "
                 "else. As llama.cpp, the output\nmatrix gets q6_K (q8_0 for TYPE q8_0) unless "
                 "--pure is given.\n");
    return out == stdout ? 0 : 2;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* True for the tensors llama-quantize re-encodes (given the shape test). */
static bool is_weight_matrix(const char *name, int ndim) {
    return ndim >= 2 && ends_with(name, "weight") && !strstr(name, "norm") &&
           !strstr(name, "pos_embd") && !strstr(name, "position_embd") &&
           !strstr(name, "token_types") && !strstr(name, "ssm_");
}

static born_dtype fallback(born_dtype t) {
    switch (t) {
    case BORN_Q2_K:
    case BORN_Q3_K:
    case BORN_IQ4_XS: return BORN_IQ4_NL;
    case BORN_Q4_K: return BORN_Q5_0;
    case BORN_Q5_K: return BORN_Q5_1;
    case BORN_Q6_K: return BORN_Q8_0;
    default: return t;
    }
}

/* The type a tensor goes to; its own dtype when it stays as it is. */
static born_dtype choose(const born_tensor_info *ti, born_dtype type, bool pure, bool is_output) {
    if (ti->dtype == BORN_DTYPE_COUNT || !is_weight_matrix(ti->name, ti->ndim)) return ti->dtype;
    born_dtype t = type;
    if (!pure && is_output && born_dtype_is_quantized(type) && type != BORN_Q8_0) t = BORN_Q6_K;
    int64_t row = ti->shape[ti->ndim - 1];
    if (row % born_dtype_block_size(t) != 0) t = fallback(t);
    if (row % born_dtype_block_size(t) != 0) return ti->dtype;
    return t;
}

/* src converted to dtype (through f32 when the direct conversion is not available). */
static born_tensor *convert(born_tensor *src, born_dtype dtype) {
    born_tensor *t = born_to_dtype(src, dtype);
    if (t || born_tensor_dtype(src) == BORN_F32 || dtype == BORN_F32) return t;
    born_clear_error();
    born_tensor *f = born_to_dtype(src, BORN_F32);
    t = f ? born_to_dtype(f, dtype) : NULL;
    born_free(f);
    return t;
}

static const char *type_name(born_dtype d, int ggml_type) {
    const char *n = born_ggml_type_name(d == BORN_DTYPE_COUNT ? ggml_type : born_ggml_type_of(d));
    return n ? n : "?";
}

static int fail(born_gguf_writer *w, born_file *f, born_dtype *plan) {
    fprintf(stderr, "born quantize: %s\n", born_last_error());
    born_gguf_writer_abort(w);
    born_file_close(f);
    free(plan);
    return 1;
}

int cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *type_arg = NULL;
    bool pure = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return usage(stdout);
        if (strcmp(argv[i], "--pure") == 0)
            pure = true;
        else if (!in)
            in = argv[i];
        else if (!out)
            out = argv[i];
        else if (!type_arg)
            type_arg = argv[i];
        else
            return usage(stderr);
    }
    if (!type_arg) return usage(stderr);
    char lower[16];
    size_t k = 0;
    for (; type_arg[k] && k < sizeof lower - 1; k++)
        lower[k] = (char)tolower((unsigned char)type_arg[k]);
    lower[k] = '\0';
    int target = -1;
    for (int i = 0; i < NTARGETS; i++)
        if (strcmp(lower, born_dtype_name(targets[i].dtype)) == 0) target = i;
    if (target < 0) {
        fprintf(stderr, "born quantize: unknown type '%s' (use f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 "
                        "q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs)\n", type_arg);
        return 2;
    }
    born_dtype type = targets[target].dtype;

    born_file *f = born_file_open(in, NULL);
    if (!f) return fail(NULL, NULL, NULL);
    if (born_file_get_format(f) != BORN_FORMAT_GGUF) {
        fprintf(stderr, "born quantize: %s is not a GGUF file\n", in);
        born_file_close(f);
        return 1;
    }
    int64_t n = born_file_count(f);
    born_dtype *plan = calloc((size_t)(n ? n : 1), sizeof *plan);
    if (!plan) {
        fprintf(stderr, "born quantize: out of memory\n");
        born_file_close(f);
        return 1;
    }
    born_gguf_writer *w = born_gguf_writer_open(out);
    if (!w) return fail(NULL, f, plan);

    /* metadata: everything, in order, with the file type updated in place */
    bool quantized = born_dtype_is_quantized(type);
    for (int64_t i = 0; i < born_gguf_kv_count(f); i++) {
        const char *key = born_gguf_kv_key(f, i);
        born_gguf_value v;
        born_status st = born_gguf_kv_value(f, i, &v);
        if (st == BORN_OK && strcmp(key, "general.file_type") == 0)
            st = born_gguf_writer_set_u32(w, key, targets[target].file_type);
        else if (st == BORN_OK && quantized && strcmp(key, "general.quantization_version") == 0)
            st = born_gguf_writer_set_u32(w, key, 2);
        else if (st == BORN_OK)
            st = born_gguf_writer_set_value(w, key, &v);
        if (st != BORN_OK) return fail(w, f, plan);
    }
    if (born_gguf_find_key(f, "general.file_type") < 0 &&
        born_gguf_writer_set_u32(w, "general.file_type", targets[target].file_type) != BORN_OK)
        return fail(w, f, plan);
    if (quantized && born_gguf_find_key(f, "general.quantization_version") < 0 &&
        born_gguf_writer_set_u32(w, "general.quantization_version", 2) != BORN_OK)
        return fail(w, f, plan);

    /* the plan: every tensor's output type, declared up front so that the data can stream */
    const char *output = born_file_find(f, "output.weight") >= 0 ? "output.weight"
                                                                  : "token_embd.weight";
    int64_t changed = 0;
    uint64_t bytes_in = 0, bytes_out = 0;
    for (int64_t i = 0; i < n; i++) {
        born_tensor_info ti;
        born_file_tensor_info(f, i, &ti);
        plan[i] = choose(&ti, type, pure, strcmp(ti.name, output) == 0);
        born_status st;
        if (plan[i] == BORN_DTYPE_COUNT) { /* a type Born cannot load: the bytes cannot move */
            born_clear_error();
            fprintf(stderr, "born quantize: %s: tensor \"%s\" has ggml type %s, which Born cannot "
                            "read\n", in, ti.name, type_name(BORN_DTYPE_COUNT,
                                                             born_gguf_tensor_type(f, i)));
            born_gguf_writer_abort(w);
            born_file_close(f);
            free(plan);
            return 1;
        }
        st = born_gguf_writer_declare_tensor(w, ti.name, plan[i], ti.ndim, ti.shape);
        if (st != BORN_OK) return fail(w, f, plan);
        int64_t numel = 1;
        for (int d = 0; d < ti.ndim; d++) numel *= ti.shape[d];
        bytes_in += ti.nbytes;
        bytes_out += born_dtype_nbytes(plan[i], numel);
        changed += plan[i] != ti.dtype;
    }

    /* the data, one tensor at a time */
    for (int64_t i = 0; i < n; i++) {
        born_tensor_info ti;
        born_file_tensor_info(f, i, &ti);
        born_scope_begin();
        born_tensor *src = born_file_get_index(f, i);
        born_tensor *t = src && plan[i] != ti.dtype ? convert(src, plan[i]) : src;
        born_status st = t ? born_gguf_writer_write_tensor(w, ti.name, t) : born_last_status();
        born_scope_end();
        if (st != BORN_OK) return fail(w, f, plan);
        if (plan[i] != ti.dtype) {
            char sh[96];
            size_t m = (size_t)snprintf(sh, sizeof sh, "[");
            for (int d = 0; d < ti.ndim && m < sizeof sh; d++)
                m += (size_t)snprintf(sh + m, sizeof sh - m, d ? ", %" PRId64 : "%" PRId64,
                                      ti.shape[d]);
            if (m < sizeof sh) snprintf(sh + m, sizeof sh - m, "]");
            printf("[%4" PRId64 "/%" PRId64 "] %-32s %-14s %-6s -> %s\n", i + 1, n, ti.name, sh,
                   type_name(ti.dtype, 0), type_name(plan[i], 0));
            fflush(stdout);
        }
    }
    if (born_gguf_writer_finish(w) != BORN_OK) return fail(NULL, f, plan);
    printf("born quantize: wrote %s: %" PRId64 " tensors, %" PRId64 " re-encoded to %s or its "
           "fallbacks; tensor data %.1f MiB -> %.1f MiB\n", out, n, changed,
           type_name(type, 0), (double)bytes_in / 1048576, (double)bytes_out / 1048576);
    born_file_close(f);
    free(plan);
    return 0;
}
