/* Loading a model from a GGUF file: the architecture registry, metadata and tensor helpers for
 * the architecture files, the tokenizer and chat template, and the accessors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/llm.h"
#include "core/error.h"
#include "core/tensor_impl.h"
#include "llm/model/model_internal.h"

static const llm_arch *const registry[] = {&llm_arch_llama, &llm_arch_mistral, &llm_arch_qwen2};

llm_trace_fn llm_trace_hook = NULL;

const llm_arch *llm_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

born_model_params born_model_default_params(void) {
    born_model_params p;
    memset(&p, 0, sizeof p);
    p.load_tokenizer = true;
    p.device = BORN_CPU;
    p.use_mmap = false;
    return p;
}

static void key_name(char *buf, size_t size, const born_model *m, const char *suffix) {
    snprintf(buf, size, "%s.%s", m->arch_name, suffix);
}

born_status llm_kv_i32(const born_model *m, const char *suffix, bool required, int32_t *out) {
    char key[256];
    key_name(key, sizeof key, m, suffix);
    if (born_gguf_find_key(m->file, key) < 0) {
        if (!required) return BORN_OK;
        return born_error(BORN_ERR_FORMAT, "born_model_load: metadata key %s is missing", key);
    }
    born_status st = born_gguf_get_i32(m->file, key, out);
    if (st != BORN_OK) return st;
    return BORN_OK;
}

born_status llm_kv_f32(const born_model *m, const char *suffix, bool required, float *out) {
    char key[256];
    key_name(key, sizeof key, m, suffix);
    if (born_gguf_find_key(m->file, key) < 0) {
        if (!required) return BORN_OK;
        return born_error(BORN_ERR_FORMAT, "born_model_load: metadata key %s is missing", key);
    }
    return born_gguf_get_f32(m->file, key, out);
}

born_status llm_kv_str(const born_model *m, const char *suffix, const char **out) {
    char key[256];
    key_name(key, sizeof key, m, suffix);
    if (born_gguf_find_key(m->file, key) < 0) return BORN_OK;
    return born_gguf_get_string(m->file, key, out, NULL);
}

static bool matrix_dtype_ok(born_dtype dt) {
    switch (dt) {
    case BORN_F32: case BORN_F16: case BORN_BF16:
    case BORN_Q4_0: case BORN_Q4_1: case BORN_Q5_0: case BORN_Q5_1: case BORN_Q8_0:
    case BORN_Q2_K: case BORN_Q3_K: case BORN_Q4_K: case BORN_Q5_K: case BORN_Q6_K:
    case BORN_IQ4_NL: case BORN_IQ4_XS:
        return true;
    default:
        return false;
    }
}

born_status llm_take_weight(born_model *m, llm_weight *w, const char *name, int64_t rows,
                            int64_t cols, bool required) {
    memset(w, 0, sizeof *w);
    if (born_file_find(m->file, name) < 0) {
        if (!required) return BORN_OK;
        return born_error(BORN_ERR_FORMAT, "born_model_load: tensor %s is missing", name);
    }
    born_tensor *t = born_file_get(m->file, name);
    if (!t) return born_last_status();
    scope_unregister(t); /* the model owns it, whatever scope the caller has open */
    w->t = t;
    born_dtype dt = born_tensor_dtype(t);
    int nd = born_tensor_ndim(t);
    const int64_t *sh = born_tensor_shape(t);
    bool shape_ok = rows == 0 ? (nd == 1 && sh[0] == cols)
                              : (nd == 2 && sh[0] == rows && sh[1] == cols);
    if (!shape_ok) {
        char want[64], got[64];
        if (rows == 0) snprintf(want, sizeof want, "[%lld]", (long long)cols);
        else snprintf(want, sizeof want, "[%lld, %lld]", (long long)rows, (long long)cols);
        if (nd == 1) snprintf(got, sizeof got, "[%lld]", (long long)sh[0]);
        else if (nd == 2) snprintf(got, sizeof got, "[%lld, %lld]", (long long)sh[0], (long long)sh[1]);
        else snprintf(got, sizeof got, "%d dims", nd);
        return born_error(BORN_ERR_FORMAT, "born_model_load: tensor %s has shape %s, expected %s",
                          name, got, want);
    }
    if (rows == 0 ? dt != BORN_F32 : !matrix_dtype_ok(dt))
        return born_error(BORN_ERR_UNSUPPORTED,
                          "born_model_load: tensor %s has type %s, which Born cannot use here",
                          name, born_dtype_name(dt));
    w->data = tensor_data(t);
    w->dtype = dt;
    w->rows = rows == 0 ? 1 : rows;
    w->cols = cols;
    w->row_bytes = born_dtype_nbytes(dt, cols);
    return BORN_OK;
}

static void weight_free(llm_weight *w) {
    if (w->t) born_free(w->t);
    memset(w, 0, sizeof *w);
}

void born_model_free(born_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int32_t l = 0; l < m->hp.n_layer; l++) {
            llm_weight *ws = (llm_weight *)&m->layers[l];
            for (size_t i = 0; i < sizeof(llm_layer) / sizeof(llm_weight); i++) weight_free(&ws[i]);
        }
        free(m->layers);
    }
    weight_free(&m->tok_embd);
    weight_free(&m->out_norm);
    weight_free(&m->output);
    weight_free(&m->rope_freqs);
    if (m->dev_model) m->dev_ops->model_free(m->dev_model);
    born_tokenizer_free(m->tok);
    free(m->chat_template);
    free(m->arch_name);
    born_file_close(m->file);
    free(m);
}

born_model *born_model_load(const char *path, const born_model_params *params) {
    if (!path) return born_error_null(BORN_ERR_ARGUMENT, "born_model_load: path is NULL");
    born_model_params p = params ? *params : born_model_default_params();
    if (p.n_threads < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "born_model_load: n_threads %d is negative",
                               (int)p.n_threads);
    born_model *m = calloc(1, sizeof *m);
    if (!m) return born_error_null(BORN_ERR_MEMORY, "born_model_load: out of memory");
    born_file_params fp = born_file_default_params();
    fp.format = BORN_FORMAT_GGUF;
    fp.read_into_memory = !p.use_mmap && p.device.type == BORN_DEVICE_CPU;
    m->file = born_file_open(path, &fp);
    if (!m->file) goto fail;
    const char *arch = NULL;
    if (born_gguf_find_key(m->file, "general.architecture") < 0) {
        born_error(BORN_ERR_FORMAT, "born_model_load: %s has no general.architecture", path);
        goto fail;
    }
    if (born_gguf_get_string(m->file, "general.architecture", &arch, NULL) != BORN_OK) goto fail;
    m->arch = llm_arch_find(arch);
    if (!m->arch) {
        born_error(BORN_ERR_UNSUPPORTED,
                   "born_model_load: %s: architecture \"%.60s\" is not supported (Born runs llama, "
                   "mistral, qwen2)", path, arch);
        goto fail;
    }
    m->arch_name = strdup(arch);
    if (!m->arch_name) goto oom;
    m->hp.rope_type = m->arch->rope_type;
    if (m->arch->load(m) != BORN_OK) goto fail;
    if (p.load_tokenizer && llm_tokenizer_load(m) != BORN_OK) goto fail;
    if (born_gguf_find_key(m->file, "tokenizer.chat_template") >= 0) {
        const char *t;
        size_t len;
        if (born_gguf_get_string(m->file, "tokenizer.chat_template", &t, &len) != BORN_OK)
            goto fail;
        m->chat_template = malloc(len + 1);
        if (!m->chat_template) goto oom;
        memcpy(m->chat_template, t, len);
        m->chat_template[len] = 0;
    }
    int64_t count = born_file_count(m->file);
    for (int64_t i = 0; i < count; i++) {
        born_tensor_info info;
        if (born_file_tensor_info(m->file, i, &info) != BORN_OK) goto fail;
        int64_t n = 1;
        for (int d = 0; d < info.ndim; d++) n *= info.shape[d];
        m->n_params += (uint64_t)n;
        m->size_bytes += info.nbytes;
    }
    if (p.n_threads > 0 && born_set_num_threads(p.n_threads) != BORN_OK) goto fail;
    m->device = p.device;
    if (p.device.type != BORN_DEVICE_CPU && llm_device_upload(m) != BORN_OK) goto fail;
    return m;
oom:
    born_error(BORN_ERR_MEMORY, "born_model_load: out of memory");
fail:
    born_model_free(m);
    return NULL;
}

const born_tokenizer *born_model_tokenizer(const born_model *m) { return m ? m->tok : NULL; }
const char *born_model_chat_template(const born_model *m) { return m ? m->chat_template : NULL; }
const char *born_model_arch(const born_model *m) { return m ? m->arch_name : NULL; }
int32_t born_model_n_vocab(const born_model *m) { return m ? m->hp.n_vocab : 0; }
int32_t born_model_n_ctx_train(const born_model *m) { return m ? m->hp.n_ctx_train : 0; }
int32_t born_model_n_layer(const born_model *m) { return m ? m->hp.n_layer : 0; }
int32_t born_model_n_embd(const born_model *m) { return m ? m->hp.n_embd : 0; }
uint64_t born_model_n_params(const born_model *m) { return m ? m->n_params : 0; }
uint64_t born_model_size_bytes(const born_model *m) { return m ? m->size_bytes : 0; }
