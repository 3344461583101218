/* The Mul + Add fusion of the load-time passes (x + x * s, src/onnx/ops_fused.c) on
 * se_residual.onnx (tools/gen_onnx_fixtures.py --se): one step per pair, the unfused graph's
 * bits, onnxruntime's values; the per-channel fast path and the broadcast fallback. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "born/onnx.h"
#include "test.h"

static void run_se(unsigned flags, int *steps, born_tensor **y1, born_tensor **y2) {
    *y1 = *y2 = NULL;
    born_onnx_model *m = born_onnx_load_flags("tests/fixtures/onnx/se_residual.onnx", flags);
    CHECK(m != NULL);
    if (!m) return;
    *steps = born_onnx_step_count(m);
    const char *names[] = {"x", "s", "t"};
    born_tensor *in[3] = {born_npy_read("tests/fixtures/onnx/se_residual_x.npy"),
                          born_npy_read("tests/fixtures/onnx/se_residual_s.npy"),
                          born_npy_read("tests/fixtures/onnx/se_residual_t.npy")};
    CHECK(in[0] && in[1] && in[2]);
    born_tensor_list *outs = born_tensor_list_new();
    if (in[0] && in[1] && in[2]) {
        CHECK_OK(born_onnx_run(m, 3, names, in, outs));
        born_tensor *a = born_tensor_list_get(outs, "y1"), *b = born_tensor_list_get(outs, "y2");
        *y1 = a ? born_clone(a) : NULL;
        *y2 = b ? born_clone(b) : NULL;
    }
    for (int i = 0; i < 3; i++) born_free(in[i]);
    born_tensor_list_free(outs);
    born_onnx_free(m);
}

TEST(onnx_mul_add_residual_fusion_gives_the_same_bits) {
    int s_opt = 0, s_plain = 0;
    born_tensor *a1, *a2, *b1, *b2;
    run_se(0, &s_opt, &a1, &a2);
    run_se(BORN_ONNX_NO_OPTIMIZE, &s_plain, &b1, &b2);
    CHECK_EQ_INT(s_plain, 4);
    CHECK_EQ_INT(s_opt, 2); /* each Mul + Add one step */
    born_tensor *w1 = born_npy_read("tests/fixtures/onnx/se_residual_y1.npy");
    born_tensor *w2 = born_npy_read("tests/fixtures/onnx/se_residual_y2.npy");
    CHECK(a1 && a2 && b1 && b2 && w1 && w2);
    if (a1 && a2 && b1 && b2 && w1 && w2) {
        born_tensor *got[2] = {a1, a2}, *plain[2] = {b1, b2}, *want[2] = {w1, w2};
        for (int k = 0; k < 2; k++) {
            CHECK_EQ_INT(born_tensor_numel(got[k]), 120);
            CHECK_EQ_INT(born_tensor_ndim(got[k]), 4);
            if (born_tensor_numel(got[k]) != 120) continue;
            const float *g = born_data_f32(got[k]), *p = born_data_f32(plain[k]);
            const float *w = born_data_f32(want[k]);
            for (int64_t i = 0; i < 120; i++) {
                CHECK(memcmp(&g[i], &p[i], sizeof(float)) == 0); /* rounded as the two nodes */
                CHECK_NEAR(g[i], w[i], 1e-6 * (1 + fabs(w[i])));
            }
        }
    }
    born_free(a1), born_free(a2), born_free(b1), born_free(b2), born_free(w1), born_free(w2);
}

/* The Resize + Add fusion (src/onnx/ops_misc.c, onnx_op_fused_resize_add) on resize_add.onnx
 * (tools/gen_onnx_fixtures.py --resize-add): nearest upscales by 2 (the addend first, as det's
 * neck) and by 3 along W (the addend second) summed in one pass, an addend that broadcasts (the
 * fallback through the Add operator), and a Resize read twice (left alone); the unfused graph's
 * bits and onnxruntime's values. */
static void run_resize_add(unsigned flags, int *steps, born_tensor **y) {
    for (int k = 0; k < 4; k++) y[k] = NULL;
    born_onnx_model *m = born_onnx_load_flags("tests/fixtures/onnx/resize_add.onnx", flags);
    CHECK(m != NULL);
    if (!m) return;
    *steps = born_onnx_step_count(m);
    const char *names[] = {"x", "a", "b", "c"};
    born_tensor *in[4] = {born_npy_read("tests/fixtures/onnx/resize_add_x.npy"),
                          born_npy_read("tests/fixtures/onnx/resize_add_a.npy"),
                          born_npy_read("tests/fixtures/onnx/resize_add_b.npy"),
                          born_npy_read("tests/fixtures/onnx/resize_add_c.npy")};
    CHECK(in[0] && in[1] && in[2] && in[3]);
    born_tensor_list *outs = born_tensor_list_new();
    if (in[0] && in[1] && in[2] && in[3]) {
        CHECK_OK(born_onnx_run(m, 4, names, in, outs));
        const char *on[4] = {"y1", "y2", "y3", "y4"};
        for (int k = 0; k < 4; k++) {
            born_tensor *t = born_tensor_list_get(outs, on[k]);
            y[k] = t ? born_clone(t) : NULL;
        }
    }
    for (int i = 0; i < 4; i++) born_free(in[i]);
    born_tensor_list_free(outs);
    born_onnx_free(m);
}

TEST(onnx_resize_add_fusion_gives_the_same_bits) {
    int s_opt = 0, s_plain = 0;
    born_tensor *a[4], *b[4];
    run_resize_add(0, &s_opt, a);
    run_resize_add(BORN_ONNX_NO_OPTIMIZE, &s_plain, b);
    CHECK_EQ_INT(s_plain, 11); /* 3 Constants, 4 Resizes, 4 Adds */
    CHECK_EQ_INT(s_opt, 5);    /* three pairs fused; the Resize read twice is not */
    const int64_t numel[4] = {480, 360, 480, 1920};
    for (int k = 0; k < 4; k++) {
        char path[64];
        snprintf(path, sizeof path, "tests/fixtures/onnx/resize_add_y%d.npy", k + 1);
        born_tensor *w = born_npy_read(path);
        CHECK(a[k] && b[k] && w);
        if (a[k] && b[k] && w) {
            CHECK_EQ_INT(born_tensor_numel(a[k]), numel[k]);
            CHECK_EQ_INT(born_tensor_numel(w), numel[k]);
            if (born_tensor_numel(a[k]) == numel[k] && born_tensor_numel(w) == numel[k]) {
                const float *g = born_data_f32(a[k]), *p = born_data_f32(b[k]);
                const float *wv = born_data_f32(w);
                for (int64_t i = 0; i < numel[k]; i++) {
                    CHECK(memcmp(&g[i], &p[i], sizeof(float)) == 0);
                    CHECK(memcmp(&g[i], &wv[i], sizeof(float)) == 0); /* a sum of the same two floats */
                }
            }
        }
        born_free(a[k]), born_free(b[k]), born_free(w);
    }
}
