/* ONNX operators beyond the node tests' cases: DFT (padding, truncation, opset 20's axis input,
 * inverse onesided), STFT of a complex signal, QLinearConv/ConvInteger (int8, per channel,
 * groups, SAME_UPPER), RoiAlign max, TfIdfVectorizer TFIDF, MaxUnpool with pads, against numpy and
 * onnx's reference evaluator (tools/gen_onnx_ops_fixtures.py); and bad inputs that must be errors
 * naming the node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/onnx.h"
#include "test.h"

#define DIR "tests/fixtures/onnx/ops/"

/* Runs DIR/name.onnx on name_in<i>.npy; returns the run's status and fills outs. */
static born_status run_fixture(const char *name, born_tensor_list *outs) {
    char path[256];
    snprintf(path, sizeof path, DIR "%s.onnx", name);
    born_onnx_model *m = born_onnx_load(path);
    if (!m) return BORN_ERR_FORMAT;
    int nin = born_onnx_input_count(m);
    born_tensor *ins[16];
    const char *names[16];
    born_status st = BORN_OK;
    for (int i = 0; i < nin && i < 16 && !st; i++) {
        born_onnx_value_info vi;
        born_onnx_input_info(m, i, &vi);
        names[i] = vi.name;
        snprintf(path, sizeof path, DIR "%s_in%d.npy", name, i);
        ins[i] = born_npy_read(path);
        if (!ins[i]) st = BORN_ERR_IO;
    }
    if (!st) st = born_onnx_run(m, nin, names, ins, outs);
    born_onnx_free(m);
    return st;
}

/* Checks every output of name against name_out<i>.npy (atol: absolute, on top of rtol 1e-4). */
static void check_fixture(const char *name, double atol) {
    born_scope_begin();
    born_tensor_list *outs = born_tensor_list_new();
    born_status st = run_fixture(name, outs);
    CHECK_MSG(st == BORN_OK, "%s: %s", name, born_last_error());
    CHECK_MSG(outs->count == 1, "%s: %lld outputs", name, (long long)outs->count);
    for (int64_t i = 0; st == BORN_OK && i < outs->count; i++) {
        char path[256];
        snprintf(path, sizeof path, DIR "%s_out%lld.npy", name, (long long)i);
        born_tensor *want = born_npy_read(path);
        CHECK_OK_TENSOR(want);
        born_tensor *got = outs->items[i].tensor;
        if (!want) break;
        CHECK_MSG(born_tensor_dtype(got) == born_tensor_dtype(want), "%s: dtype %s, want %s", name,
                  born_dtype_name(born_tensor_dtype(got)),
                  born_dtype_name(born_tensor_dtype(want)));
        CHECK_MSG(born_tensor_ndim(got) == born_tensor_ndim(want) &&
                      !memcmp(born_tensor_shape(got), born_tensor_shape(want),
                              (size_t)born_tensor_ndim(got) * sizeof(int64_t)),
                  "%s: shape differs", name);
        born_tensor *g = born_contiguous(born_to_dtype(got, BORN_F64));
        born_tensor *w = born_contiguous(born_to_dtype(want, BORN_F64));
        if (!g || !w || born_tensor_numel(g) != born_tensor_numel(w)) break;
        int bad = 0;
        for (int64_t k = 0; k < born_tensor_numel(g); k++) {
            double a = born_data_f64(g)[k], b = born_data_f64(w)[k];
            if (!(fabs(a - b) <= atol + 1e-4 * fabs(b)) && bad++ < 3)
                CHECK_MSG(0, "%s: element %lld is %.9g, want %.9g", name, (long long)k, a, b);
        }
    }
    born_tensor_list_free(outs);
    born_clear_error();
    born_scope_end();
}

TEST(onnx_dft_any_length_padding_truncation_and_irfft) {
    check_fixture("dft_pad7", 1e-5);
    check_fixture("dft20_trunc", 1e-5);
    check_fixture("dft20_irfft", 1e-6);
    check_fixture("stft_complex", 1e-5);
}

/* Quantized outputs may differ by one step where the reference rounds a product made in double
 * and Born (as onnxruntime) one made in float. */
TEST(onnx_integer_convolutions_per_channel_and_groups) {
    check_fixture("qlinearconv_i8", 1.0);
    check_fixture("convint_same", 0);
}

TEST(onnx_roialign_max_tfidf_and_maxunpool) {
    check_fixture("roialign_max", 1e-5);
    check_fixture("tfidf_tfidf", 0);
    check_fixture("maxunpool_1d", 0);
}

TEST(onnx_new_operators_name_the_node_on_bad_input) {
    const char *cases[][2] = {{"bad_qlinearconv_wscale", "QLinearConv node 'qc'"},
                              {"bad_maxunpool_index", "MaxUnpool node 'mu'"},
                              {"bad_dft_axis", "DFT node 'dft'"},
                              {"bad_tfidf_counts", "TfIdfVectorizer node 'tf'"},
                              {"bad_adam_groups", "Adam node 'adam'"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        born_scope_begin();
        born_tensor_list *outs = born_tensor_list_new();
        born_status st = run_fixture(cases[i][0], outs);
        CHECK_MSG(st != BORN_OK, "%s ran", cases[i][0]);
        CHECK_MSG(strstr(born_last_error(), cases[i][1]) != NULL, "%s: '%s'", cases[i][0],
                  born_last_error());
        born_tensor_list_free(outs);
        born_clear_error();
        born_scope_end();
    }
}

/* A bfloat16 TensorProto with its values in int32_data: the low 16 bits are the value's bits, the
 * rest is ignored (dims [2], data_type 16, int32_data [0x3F80, 0x1C000] = 1.0, -2.0). */
TEST(onnx_bfloat16_from_int32_data_low_bits) {
    static const unsigned char pb[] = {0x08, 0x02, 0x10, 0x10, 0x2a, 0x05,
                                       0x80, 0x7f, 0x80, 0x80, 0x07};
    char path[] = "/tmp/born-bf16-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    FILE *f = fdopen(fd, "wb");
    CHECK(f && fwrite(pb, 1, sizeof pb, f) == sizeof pb);
    if (f) fclose(f);
    born_scope_begin();
    born_tensor *t = born_onnx_read_tensor_pb(path, NULL);
    remove(path);
    CHECK_OK_TENSOR(t);
    if (t) {
        CHECK(born_tensor_dtype(t) == BORN_BF16 && born_tensor_numel(t) == 2);
        born_tensor *d = born_contiguous(born_to_dtype(t, BORN_F32));
        CHECK(d && born_data_f32(d)[0] == 1.0f && born_data_f32(d)[1] == -2.0f);
    }
    born_scope_end();
}
