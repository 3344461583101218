/* The real models of ../shared/data/onnx-models against onnxruntime's outputs on the same random
 * inputs (tests/fixtures/onnx/models, made by tools/gen_onnx_fixtures.py --models): each output
 * must be within relative L2 error 1e-4. Where a NAME_ref_I.npy exists (the detector: onnxruntime's
 * logits through an exact logistic, because onnxruntime's own f32 Sigmoid is 7.9e-4 off on these
 * near-zero outputs; see docs/formats/onnx.md), that is the 1e-4 reference and onnxruntime's output
 * must be within 1e-3. Each model is also loaded without the load-time passes (folding, fusion):
 * its outputs must be within relative L2 1e-5 of the optimized run's.
 *
 *     onnx_models MODEL_DIR FIXTURE_DIR */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
        double worst = 0, worst_ref = -1;
        if (!ok) snprintf(msg, sizeof msg, "%s", born_last_error());
        for (int i = 0; ok && i < models[k].nout; i++) {
            born_tensor *got = outs->items[i].tensor;
            double ref_i = -1;
            for (int pass = 0; pass < 2 && ok; pass++) { /* exact reference, then onnxruntime */
                snprintf(path, sizeof path, "%s/%s_%s_%d.npy", argv[2], models[k].name,
                         pass == 0 ? "ref" : "out", i);
                if (pass == 0 && access(path, R_OK) != 0) continue;
                bool has_ref = pass == 1 && ref_i >= 0;
                double bound = has_ref ? 1e-3 : 1e-4;
                born_tensor *want = born_npy_read(path);
                if (!want || born_tensor_numel(want) != born_tensor_numel(got)) {
                    snprintf(msg, sizeof msg, "output %d: %s", i,
                             want ? "size differs" : born_last_error());
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
                if (pass == 0) {
                    ref_i = rel;
                    if (rel > worst_ref) worst_ref = rel;
                } else if (!(rel <= worst)) {
                    worst = rel;
                }
                if (!(rel <= bound)) {
                    snprintf(msg, sizeof msg, "output %d: relative L2 %.2e > %.0e against %s", i,
                             rel, bound, pass == 0 ? "the exact reference" : "onnxruntime");
                    ok = false;
                }
            }
        }
        /* the same run without constant folding and fusion */
        double unopt = 0;
        int steps = born_onnx_step_count(m), nodes = 0;
        if (ok) {
            snprintf(path, sizeof path, "%s/%s", argv[1], models[k].file);
            born_onnx_model *m0 = born_onnx_load_flags(path, BORN_ONNX_NO_OPTIMIZE);
            born_tensor_list *o0 = born_tensor_list_new();
            nodes = born_onnx_step_count(m0);
            if (!m0 || born_onnx_run(m0, models[k].nin, models[k].inputs, ins, o0) != BORN_OK) {
                snprintf(msg, sizeof msg, "without the passes: %s", born_last_error());
                ok = false;
            }
            for (int i = 0; ok && i < models[k].nout; i++) {
                born_tensor *a = born_contiguous(born_to_dtype(outs->items[i].tensor, BORN_F64));
                born_tensor *b = born_contiguous(born_to_dtype(o0->items[i].tensor, BORN_F64));
                double num = 0, den = 0;
                for (int64_t j = 0; j < born_tensor_numel(b); j++) {
                    double d = born_data_f64(a)[j] - born_data_f64(b)[j];
                    num += d * d;
                    den += born_data_f64(b)[j] * born_data_f64(b)[j];
                }
                double rel = sqrt(num / (den > 0 ? den : 1));
                if (rel > unopt) unopt = rel;
            }
            if (ok && !(unopt <= 1e-5)) {
                snprintf(msg, sizeof msg, "the passes change the output by %.2e > 1e-5", unopt);
                ok = false;
            }
            born_tensor_list_free(o0);
            born_onnx_free(m0);
        }
        if (ok) printf("     %s: %d steps after the passes (%d without), output change %.2e\n",
                       models[k].name, steps, nodes, unopt);
        if (ok && worst_ref >= 0)
            printf("PASS %s (relative L2 %.2e against the exact reference, %.2e against "
                   "onnxruntime)\n", models[k].name, worst_ref, worst);
        else if (ok)
            printf("PASS %s (relative L2 %.2e)\n", models[k].name, worst);
        else
            printf("FAIL %s: %s\n", models[k].name, msg);
        failed += !ok;
        born_clear_error();
        born_tensor_list_free(outs);
        born_scope_end();
        born_onnx_free(m);
    }
    printf("onnx real models: %d failed\n", failed);
    return failed ? 1 : 0;
}
