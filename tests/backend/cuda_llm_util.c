/* Helpers of the LLM-on-CUDA suites (see cuda_llm_util.h). */
#include "backend/cuda_llm_util.h"

#include <math.h>

born_model *cuda_llm_load_on(const char *path, born_device dev) {
    born_model_params mp = born_model_default_params();
    mp.device = dev;
    return born_model_load(path, &mp);
}

double cuda_llm_bound(born_dtype wtype) { return wtype == BORN_BF16 ? 4e-2 : 1e-2; }

double cuda_llm_rel_err(const float *c, const float *g, int32_t n, double *maxd) {
    double num = 0, den = 0;
    *maxd = 0;
    for (int32_t i = 0; i < n; i++) {
        double d = (double)g[i] - (double)c[i];
        if (!(fabs(d) <= *maxd)) *maxd = fabs(d); /* NaN sticks */
        num += d * d;
        den += (double)c[i] * c[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

bool cuda_llm_f32_copy(const char *path, const char *out) {
    born_file *f = born_gguf_open(path, NULL);
    born_gguf_writer *w = f ? born_gguf_writer_open(out) : NULL;
    if (!w) {
        born_file_close(f);
        return false;
    }
    born_status st = BORN_OK;
    for (int64_t i = 0; i < born_gguf_kv_count(f) && st == BORN_OK; i++) {
        born_gguf_value v;
        st = born_gguf_kv_value(f, i, &v);
        if (st == BORN_OK) st = born_gguf_writer_set_value(w, born_gguf_kv_key(f, i), &v);
    }
    born_scope_begin();
    for (int64_t i = 0; i < born_file_count(f) && st == BORN_OK; i++) {
        born_tensor_info info;
        st = born_file_tensor_info(f, i, &info);
        born_tensor *t =
            st == BORN_OK ? born_to_dtype(born_file_get(f, info.name), BORN_F32) : NULL;
        st = t ? born_gguf_writer_add_tensor(w, info.name, t) : born_last_status();
    }
    if (st == BORN_OK)
        st = born_gguf_writer_finish(w);
    else
        born_gguf_writer_abort(w);
    born_scope_end();
    born_file_close(f);
    return st == BORN_OK;
}
