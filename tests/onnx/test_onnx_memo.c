/* Shape work remembered between runs (src/onnx/graph.c, plan_step.memo): shape_memo.onnx
 * (tools/gen_onnx_fixtures.py) computes y = x * (number of columns of x); runs with changing and
 * repeated shapes must each see their own shape, as onnxruntime does. */
#include "born/onnx.h"
#include "test.h"

TEST(onnx_remembered_shape_work_follows_the_input_shape) {
    born_onnx_model *m = born_onnx_load("tests/fixtures/onnx/shape_memo.onnx");
    CHECK(m != NULL);
    if (!m) return;
    const int64_t cols[] = {3, 5, 5, 3, 7, 7};
    const char *names[] = {"x"};
    for (int r = 0; r < 6; r++) {
        born_tensor *x = born_full(BORN_F32, BORN_DIMS(2, cols[r]), 1.5);
        born_tensor_list *outs = born_tensor_list_new();
        CHECK_OK(born_onnx_run(m, 1, names, &x, outs));
        born_tensor *y = born_tensor_list_get(outs, "y");
        CHECK(y != NULL);
        if (y) {
            CHECK_SHAPE(y, 2, cols[r]);
            for (int64_t k = 0; k < 2 * cols[r]; k++) CHECK(born_data_f32(y)[k] == 1.5f * (float)cols[r]);
        }
        born_tensor_list_free(outs);
        born_free(x);
    }
    born_onnx_free(m);
}
