/* The real models of ../shared/data/onnx-models against onnxruntime's outputs on the same random
 * inputs (tests/fixtures/onnx/models, made by tools/gen_onnx_fixtures.py --models): each output
 * must be within relative L2 error 1e-4.
 *
 *     onnx_models MODEL_DIR FIXTURE_DIR */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "born/born.h"
#include "born/onnx.h"

static const struct {
    const char *name, *file;
    int nin, nout;
    const char *inputs[3];
} models[] = {
    {"ppocr_cls", "ch_ppocr_mobile_v2.0_cls_infer.onnx", 1, 1, {"x"}},
    {"ppocr_det", "ch_PP-OCRv4_det_infer.onnx", 1, 1, {"x"}},
    {"silero_vad", "silero_vad_v5.onnx", 3, 2, {"input", "state", "sr"}},
};

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: onnx_models MODEL_DIR FIXTURE_DIR\n");
        return 2;
    }
    int failed = 0;
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], models[k].file);
        born_onnx_model *m = born_onnx_load(path);
        if (!m) {
            printf("FAIL %s: %s\n", models[k].name, born_last_error());
            born_clear_error();
            failed++;
            continue;
        }
        born_scope_begin();
        born_tensor *ins[3];
        for (int i = 0; i < models[k].nin; i++) {
            snprintf(path, sizeof path, "%s/%s_in_%d_%s.npy", argv[2], models[k].name, i,
                     models[k].inputs[i]);
            ins[i] = born_npy_read(path);
        }
        born_tensor_list *outs = born_tensor_list_new();
        bool ok = born_onnx_run(m, models[k].nin, models[k].inputs, ins, outs) == BORN_OK;
        char msg[1024] = "";
        double worst = 0;
        if (!ok) snprintf(msg, sizeof msg, "%s", born_last_error());
        for (int i = 0; ok && i < models[k].nout; i++) {
            snprintf(path, sizeof path, "%s/%s_out_%d.npy", argv[2], models[k].name, i);
            born_tensor *want = born_npy_read(path);
            born_tensor *got = outs->items[i].tensor;
            if (!want || born_tensor_numel(want) != born_tensor_numel(got)) {
                snprintf(msg, sizeof msg, "output %d: %s", i, want ? "size differs" : born_last_error());
                ok = false;
                break;
            }
            born_tensor *g = born_contiguous(born_to_dtype(got, BORN_F64));
            born_tensor *w = born_contiguous(born_to_dtype(want, BORN_F64));
            double num = 0, den = 0;
            for (int64_t j = 0; j < born_tensor_numel(g); j++) {
                double d = born_data_f64(g)[j] - born_data_f64(w)[j];
                num += d * d;
                den += born_data_f64(w)[j] * born_data_f64(w)[j];
            }
            double rel = sqrt(num / (den > 0 ? den : 1));
            if (!(rel <= worst)) worst = rel;
            if (!(rel <= 1e-4)) ok = false;
        }
        if (ok) printf("PASS %s (relative L2 %.2e)\n", models[k].name, worst);
        else if (msg[0]) printf("FAIL %s: %s\n", models[k].name, msg);
        else printf("FAIL %s: relative L2 %.2e > 1e-4\n", models[k].name, worst);
        failed += !ok;
        born_clear_error();
        born_tensor_list_free(outs);
        born_scope_end();
        born_onnx_free(m);
    }
    printf("onnx real models: %d failed\n", failed);
    return failed ? 1 : 0;
}
