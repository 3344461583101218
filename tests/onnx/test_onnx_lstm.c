/* The LSTM with weights packed at load (src/onnx/rnn_prep.c) against onnxruntime's outputs
 * (tools/gen_onnx_fixtures.py --lstm) and against the unpacked path (BORN_ONNX_NO_OPTIMIZE), with
 * one and two threads (these LSTMs are below the size at which the gate product is split). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "born/onnx.h"
#include "test.h"

/* lstm.onnx loaded with flags, run with threads on its fixture inputs; its six outputs cloned
 * into out (NULL on failure). */
static void run_lstm(unsigned flags, int threads, born_tensor **out) {
    for (int i = 0; i < 6; i++) out[i] = NULL;
    born_onnx_model *m = born_onnx_load_flags("tests/fixtures/onnx/lstm.onnx", flags);
    CHECK(m != NULL);
    if (!m) return;
    const char *names[] = {"x1", "h1", "c1", "x2"};
    born_tensor *in[4];
    for (int i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof path, "tests/fixtures/onnx/lstm_%s.npy", names[i]);
        in[i] = born_npy_read(path);
        CHECK_OK_TENSOR(in[i]);
    }
    int saved = born_get_num_threads();
    born_set_num_threads(threads);
    born_tensor_list *outs = born_tensor_list_new();
    CHECK_OK(born_onnx_run(m, 4, names, in, outs));
    born_set_num_threads(saved);
    const char *onames[] = {"y1", "yh1", "yc1", "y2", "yh2", "yc2"};
    for (int i = 0; i < 6; i++) {
        born_tensor *t = born_tensor_list_get(outs, onames[i]);
        out[i] = t ? born_clone(t) : NULL;
    }
    born_tensor_list_free(outs);
    for (int i = 0; i < 4; i++) born_free(in[i]);
    born_onnx_free(m);
}

TEST(onnx_lstm_packed_weights_match_onnxruntime_and_the_plain_path) {
    born_tensor *packed[6], *packed2[6], *plain[6];
    run_lstm(0, 1, packed);
    run_lstm(0, 2, packed2);
    run_lstm(BORN_ONNX_NO_OPTIMIZE, 1, plain);
    for (int i = 0; i < 6; i++) {
        char path[128];
        snprintf(path, sizeof path, "tests/fixtures/onnx/lstm_out_%d.npy", i);
        born_tensor *want = born_npy_read(path);
        CHECK_OK_TENSOR(want);
        CHECK(packed[i] && packed2[i] && plain[i]);
        if (!want || !packed[i] || !packed2[i] || !plain[i]) continue;
        int64_t n = born_tensor_numel(want);
        CHECK_EQ_INT(born_tensor_numel(packed[i]), n);
        CHECK_EQ_INT(born_tensor_numel(plain[i]), n);
        if (born_tensor_numel(packed[i]) != n || born_tensor_numel(plain[i]) != n) continue;
        const float *w = born_data_f32(want), *a = born_data_f32(packed[i]);
        const float *a2 = born_data_f32(packed2[i]), *b = born_data_f32(plain[i]);
        for (int64_t k = 0; k < n; k++) {
            CHECK_NEAR(a[k], w[k], 2e-6 * (1 + fabs(w[k]))); /* f32 sums in another order */
            CHECK_NEAR(b[k], w[k], 2e-6 * (1 + fabs(w[k])));
            CHECK(a[k] == a2[k]); /* rows do not depend on how the threads split them */
        }
        born_free(want);
    }
    for (int i = 0; i < 6; i++) {
        born_free(packed[i]);
        born_free(packed2[i]);
        born_free(plain[i]);
    }
}
