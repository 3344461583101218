/* ONNX import: the protobuf decoder on corrupt input, loading (f16 and external initializers),
 * running against onnxruntime's output (tools/gen_onnx_fixtures.py), and refusing bad graphs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "born/onnx.h"
#include "onnx/model.h"
#include "onnx/pb.h"
#include "test.h"

TEST(onnx_pb_varint_bounds) {
    const uint8_t ok[] = {0x96, 0x01};
    pb_reader r = pb_reader_make(ok, sizeof ok, "t");
    uint64_t v = 0;
    CHECK_OK(pb_read_varint(&r, &v));
    CHECK_EQ_INT(v, 150);
    const uint8_t trunc[] = {0x96};
    r = pb_reader_make(trunc, sizeof trunc, "t");
    CHECK(pb_read_varint(&r, &v) == BORN_ERR_FORMAT);
    born_clear_error();
    const uint8_t toolong[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    r = pb_reader_make(toolong, sizeof toolong, "t");
    CHECK(pb_read_varint(&r, &v) == BORN_ERR_FORMAT);
    born_clear_error();
    /* a length-delimited field that claims more bytes than remain */
    const uint8_t over[] = {0x3a, 0x7f, 0x00};
    r = pb_reader_make(over, sizeof over, "t");
    pb_field f;
    CHECK(pb_next(&r, &f) == BORN_ERR_FORMAT);
    CHECK(strstr(born_last_error(), "claims") != NULL);
    born_clear_error();
    /* group wire types are refused */
    const uint8_t grp[] = {0x0b};
    r = pb_reader_make(grp, sizeof grp, "t");
    CHECK(pb_next(&r, &f) == BORN_ERR_FORMAT);
    born_clear_error();
}

TEST(onnx_decode_rejects_deep_nesting) {
    /* graph -> node -> attribute(g) -> graph ... deeper than ONNX_MAX_DEPTH */
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap), *tmp = malloc(cap);
    CHECK(buf && tmp);
    if (!buf || !tmp) return;
    for (int level = 0; level < 40; level++) {
        /* attribute { g: <buf> } in a node, in a graph */
        size_t n = 0;
        tmp[n++] = 0x32; /* field 6 (g), LEN */
        tmp[n++] = (uint8_t)(0x80 | (len & 0x7f));
        tmp[n++] = (uint8_t)(len >> 7);
        memcpy(tmp + n, buf, len);
        n += len;
        /* node { attribute: ... } = field 5 */
        uint8_t hdr[4];
        size_t h = 0;
        hdr[h++] = 0x2a;
        hdr[h++] = (uint8_t)(0x80 | (n & 0x7f));
        hdr[h++] = (uint8_t)(n >> 7);
        memmove(tmp + h, tmp, n);
        memcpy(tmp, hdr, h);
        n += h;
        /* graph { node: ... } = field 1 */
        h = 0;
        hdr[h++] = 0x0a;
        hdr[h++] = (uint8_t)(0x80 | (n & 0x7f));
        hdr[h++] = (uint8_t)(n >> 7);
        memcpy(buf, hdr, h);
        memcpy(buf + h, tmp, n);
        len = n + h;
        if (len + 16 > 16383) break;
    }
    /* model { graph: buf } = field 7 */
    memmove(buf + 3, buf, len);
    buf[0] = 0x3a;
    buf[1] = (uint8_t)(0x80 | (len & 0x7f));
    buf[2] = (uint8_t)(len >> 7);
    onnx_model *m = onnx_model_decode(buf, len + 3);
    CHECK(m == NULL);
    CHECK(strstr(born_last_error(), "nested") != NULL);
    born_clear_error();
    free(buf);
    free(tmp);
}

TEST(onnx_load_and_run_small) {
    born_onnx_model *m = born_onnx_load("tests/fixtures/onnx/small.onnx");
    CHECK_MSG(m != NULL, "%s", born_last_error());
    if (!m) return;
    CHECK_EQ_INT(born_onnx_input_count(m), 1);
    CHECK_EQ_INT(born_onnx_output_count(m), 1);
    CHECK_EQ_INT(born_onnx_opset(m, ""), 13);
    CHECK_EQ_INT(born_onnx_param_count(m), 16);
    born_onnx_value_info vi;
    CHECK_OK(born_onnx_input_info(m, 0, &vi));
    CHECK(!strcmp(vi.name, "x"));
    CHECK(vi.dtype == BORN_F32 && vi.ndim == 2 && vi.shape[0] == -1 && vi.shape[1] == 3);
    CHECK(vi.dim_names[0] && !strcmp(vi.dim_names[0], "batch"));
    born_scope_begin();
    born_tensor *x = born_npy_read("tests/fixtures/onnx/small_x.npy");
    born_tensor *want = born_npy_read("tests/fixtures/onnx/small_y.npy");
    CHECK_OK_TENSOR(x);
    CHECK_OK_TENSOR(want);
    born_tensor_list *outs = born_tensor_list_new();
    const char *names[] = {"x"};
    CHECK_OK(born_onnx_run(m, 1, names, &x, outs));
    born_tensor *y = born_tensor_list_get(outs, "y");
    CHECK(y != NULL);
    if (y && want) {
        CHECK_EQ_INT(born_tensor_numel(y), 8);
        for (int64_t i = 0; i < 8; i++)
            CHECK_NEAR(born_data_f32(y)[i], born_data_f32(want)[i], 1e-5);
    }
    /* a wrong shape and a missing input are errors naming the input */
    born_tensor_list *o2 = born_tensor_list_new();
    born_tensor *bad = born_zeros(BORN_F32, BORN_DIMS(2, 5));
    CHECK(born_onnx_run(m, 1, names, &bad, o2) == BORN_ERR_SHAPE);
    CHECK(strstr(born_last_error(), "'x'") != NULL);
    born_clear_error();
    CHECK(born_onnx_run(m, 0, NULL, NULL, o2) == BORN_ERR_ARGUMENT);
    CHECK(strstr(born_last_error(), "'x'") != NULL);
    born_clear_error();
    born_tensor_list_free(o2);
    born_tensor_list_free(outs);
    born_scope_end();
    born_onnx_free(m);
}

TEST(onnx_refuses_bad_graphs) {
    CHECK(born_onnx_load("tests/fixtures/onnx/cycle.onnx") == NULL);
    CHECK(strstr(born_last_error(), "cycle") != NULL);
    born_clear_error();
    CHECK(born_onnx_load("tests/fixtures/onnx/unknown_op.onnx") == NULL);
    CHECK(strstr(born_last_error(), "NoSuchOp") != NULL && strstr(born_last_error(), "mystery"));
    born_clear_error();
}

TEST(onnx_truncated_files_fail_cleanly) {
    FILE *f = fopen("tests/fixtures/onnx/small.onnx", "rb");
    CHECK(f != NULL);
    if (!f) return;
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int refused = 0;
    for (size_t cut = 0; cut < n; cut++) {
        born_onnx_model *m = born_onnx_load_buffer(buf, cut, "tests/fixtures/onnx");
        if (!m) {
            CHECK(born_last_error()[0] != '\0');
            born_clear_error();
            refused++;
        }
        born_onnx_free(m);
    }
    CHECK(refused > (int)n / 2);
    /* flipped bytes must never crash */
    for (size_t i = 0; i < n; i++) {
        uint8_t save = buf[i];
        buf[i] ^= 0xff;
        born_onnx_model *m = born_onnx_load_buffer(buf, n, "tests/fixtures/onnx");
        born_onnx_free(m);
        born_clear_error();
        buf[i] = save;
    }
}

/* Runs fused.onnx (tools/gen_onnx_fixtures.py) loaded with flags on its fixture input. */
static born_tensor *run_fused(unsigned flags, int *steps) {
    born_onnx_model *m = born_onnx_load_flags("tests/fixtures/onnx/fused.onnx", flags);
    CHECK(m != NULL);
    if (!m) return NULL;
    *steps = born_onnx_step_count(m);
    born_tensor *x = born_npy_read("tests/fixtures/onnx/fused_x.npy");
    born_tensor_list *outs = born_tensor_list_new();
    const char *names[] = {"x"};
    CHECK_OK(born_onnx_run(m, 1, names, &x, outs));
    born_tensor *y = born_tensor_list_get(outs, "y");
    born_tensor *r = y ? born_clone(y) : NULL;
    born_tensor_list_free(outs);
    born_onnx_free(m);
    return r;
}

TEST(onnx_passes_fold_and_fuse_without_changing_results) {
    born_tensor *want = born_npy_read("tests/fixtures/onnx/fused_y.npy");
    CHECK_OK_TENSOR(want);
    int s_opt = 0, s_plain = 0;
    born_tensor *a = run_fused(0, &s_opt), *b = run_fused(BORN_ONNX_NO_OPTIMIZE, &s_plain);
    /* 11 nodes; folded: 2 Constants and the Mul; fused: Conv+BN+Relu, Conv+Clip, MatMul+Add */
    CHECK_EQ_INT(s_plain, 11);
    CHECK_EQ_INT(s_opt, 4);
    CHECK(a && b && want);
    if (!a || !b || !want) return;
    CHECK_EQ_INT(born_tensor_numel(a), 5);
    for (int64_t i = 0; i < 5; i++) {
        double w = born_data_f32(want)[i];
        CHECK_NEAR(born_data_f32(a)[i], w, 1e-5 * (1 + fabs(w)));
        CHECK_NEAR(born_data_f32(b)[i], w, 1e-5 * (1 + fabs(w)));
    }
}

/* epilogue.onnx (tools/gen_onnx_fixtures.py): Conv, Mul/Add by scalars, HardSwish as four nodes,
 * Mul/Add; loaded with flags, run on its fixture input. */
static born_tensor *run_epilogue(unsigned flags, int *steps) {
    born_onnx_model *m = born_onnx_load_flags("tests/fixtures/onnx/epilogue.onnx", flags);
    CHECK(m != NULL);
    if (!m) return NULL;
    *steps = born_onnx_step_count(m);
    born_tensor *x = born_npy_read("tests/fixtures/onnx/epilogue_x.npy");
    born_tensor_list *outs = born_tensor_list_new();
    const char *names[] = {"x"};
    CHECK_OK(born_onnx_run(m, 1, names, &x, outs));
    born_tensor *y = born_tensor_list_get(outs, "y");
    born_tensor *r = y ? born_clone(y) : NULL;
    born_tensor_list_free(outs);
    born_onnx_free(m);
    return r;
}

TEST(onnx_conv_epilogue_fusion_gives_the_same_bits) {
    born_tensor *want = born_npy_read("tests/fixtures/onnx/epilogue_y.npy");
    CHECK_OK_TENSOR(want);
    int s_opt = 0, s_plain = 0;
    born_tensor *a = run_epilogue(0, &s_opt), *b = run_epilogue(BORN_ONNX_NO_OPTIMIZE, &s_plain);
    CHECK_EQ_INT(s_plain, 9);
    CHECK_EQ_INT(s_opt, 1); /* everything after the conv runs in its epilogue */
    CHECK(a && b && want);
    if (!a || !b || !want) return;
    CHECK_EQ_INT(born_tensor_numel(a), 144);
    for (int64_t i = 0; i < 144; i++) {
        double w = born_data_f32(want)[i];
        CHECK_NEAR(born_data_f32(a)[i], w, 1e-5 * (1 + fabs(w)));
        CHECK(born_data_f32(a)[i] == born_data_f32(b)[i]); /* rounded as the nodes round */
    }
}

TEST(onnx_shape_inference_refuses_impossible_shapes_at_load) {
    CHECK(born_onnx_load("tests/fixtures/onnx/bad_matmul.onnx") == NULL);
    CHECK(born_last_status() == BORN_ERR_SHAPE);
    CHECK(strstr(born_last_error(), "MatMul node 'proj'") != NULL);
    CHECK(strstr(born_last_error(), "[batch, 3]") != NULL && strstr(born_last_error(), "[4, 5]"));
    born_clear_error();
    CHECK(born_onnx_load("tests/fixtures/onnx/bad_add.onnx") == NULL);
    CHECK(strstr(born_last_error(), "Add node 'sum'") != NULL);
    born_clear_error();
    /* different symbols may be equal at run time: loads, and a mismatch is then a run error */
    born_onnx_model *m = born_onnx_load("tests/fixtures/onnx/sym_add.onnx");
    CHECK(m != NULL);
    if (!m) return;
    born_tensor *in[2] = {born_zeros(BORN_F32, BORN_DIMS(2, 3)), born_zeros(BORN_F32, BORN_DIMS(2, 3))};
    const char *names[] = {"a", "b"};
    born_tensor_list *outs = born_tensor_list_new();
    CHECK_OK(born_onnx_run(m, 2, names, in, outs));
    born_tensor_list_free(outs);
    born_onnx_free(m);
}

/* convt.onnx (tools/gen_onnx_fixtures.py): PaddleOCR det's head, ConvTranspose + Add of a
 * [1, M, 1, 1] bias + BatchNormalization + Relu, then ConvTranspose + Add + Sigmoid. */
static born_tensor *run_convt(unsigned flags, int *steps) {
    born_onnx_model *m = born_onnx_load_flags("tests/fixtures/onnx/convt.onnx", flags);
    CHECK(m != NULL);
    if (!m) return NULL;
    *steps = born_onnx_step_count(m);
    born_tensor *x = born_npy_read("tests/fixtures/onnx/convt_x.npy");
    born_tensor_list *outs = born_tensor_list_new();
    const char *names[] = {"x"};
    CHECK_OK(born_onnx_run(m, 1, names, &x, outs));
    born_tensor *y = born_tensor_list_get(outs, "y");
    born_tensor *r = y ? born_clone(y) : NULL;
    born_free(x);
    born_tensor_list_free(outs);
    born_onnx_free(m);
    return r;
}

TEST(onnx_conv_transpose_takes_bias_batchnorm_and_relu) {
    born_tensor *want = born_npy_read("tests/fixtures/onnx/convt_y.npy");
    CHECK_OK_TENSOR(want);
    int s_opt = 0, s_plain = 0;
    born_tensor *a = run_convt(0, &s_opt), *b = run_convt(BORN_ONNX_NO_OPTIMIZE, &s_plain);
    CHECK_EQ_INT(s_plain, 7);
    CHECK_EQ_INT(s_opt, 3); /* up1 (bias, bn, relu), up2 (bias), prob */
    CHECK(a && b && want);
    if (!a || !b || !want) return;
    CHECK_EQ_INT(born_tensor_numel(a), 320);
    for (int64_t i = 0; i < 320; i++) {
        double w = born_data_f32(want)[i];
        CHECK_NEAR(born_data_f32(a)[i], w, 1e-5 * (1 + fabs(w)));
        CHECK_NEAR(born_data_f32(b)[i], w, 1e-5 * (1 + fabs(w)));
    }
    born_free(want);
    born_free(a);
    born_free(b);
}
