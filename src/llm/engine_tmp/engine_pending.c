/* Temporary: the engine's entry points until the model, session and generation files land (they
 * replace this file). Every function reports BORN_ERR_UNSUPPORTED. */
#include <string.h>

#include "born/llm.h"
#include "core/error.h"

#define PENDING(fn) born_error(BORN_ERR_UNSUPPORTED, fn ": the inference engine is not built yet")

born_model_params born_model_default_params(void) {
    born_model_params p;
    memset(&p, 0, sizeof p);
    p.load_tokenizer = true;
    return p;
}
born_model *born_model_load(const char *path, const born_model_params *params) {
    (void)path; (void)params;
    PENDING("born_model_load");
    return NULL;
}
void born_model_free(born_model *m) { (void)m; }
const born_tokenizer *born_model_tokenizer(const born_model *m) { (void)m; return NULL; }
const char *born_model_chat_template(const born_model *m) { (void)m; return NULL; }
const char *born_model_arch(const born_model *m) { (void)m; return NULL; }
int32_t born_model_n_vocab(const born_model *m) { (void)m; return 0; }
int32_t born_model_n_ctx_train(const born_model *m) { (void)m; return 0; }
int32_t born_model_n_layer(const born_model *m) { (void)m; return 0; }
int32_t born_model_n_embd(const born_model *m) { (void)m; return 0; }
uint64_t born_model_n_params(const born_model *m) { (void)m; return 0; }
uint64_t born_model_size_bytes(const born_model *m) { (void)m; return 0; }
born_session_params born_session_default_params(void) {
    born_session_params p = {0, 512, BORN_F16};
    return p;
}
born_session *born_session_new(born_model *m, const born_session_params *p) {
    (void)m; (void)p;
    PENDING("born_session_new");
    return NULL;
}
void born_session_free(born_session *s) { (void)s; }
int32_t born_session_pos(const born_session *s) { (void)s; return 0; }
int32_t born_session_n_ctx(const born_session *s) { (void)s; return 0; }
born_model *born_session_model(const born_session *s) { (void)s; return NULL; }
born_status born_session_rollback(born_session *s, int32_t pos) {
    (void)s; (void)pos;
    return PENDING("born_session_rollback");
}
born_status born_session_eval(born_session *s, const int32_t *t, int32_t n, float *l, bool a) {
    (void)s; (void)t; (void)n; (void)l; (void)a;
    return PENDING("born_session_eval");
}
born_generate_params born_generate_default_params(void) {
    born_generate_params p;
    memset(&p, 0, sizeof p);
    p.max_tokens = 256;
    p.add_bos = true;
    p.parse_special = true;
    return p;
}
born_status born_generate(born_session *s, born_sampler *sm, const char *prompt,
                          const born_generate_params *p, born_generate_result *r) {
    (void)s; (void)sm; (void)prompt; (void)p; (void)r;
    return PENDING("born_generate");
}
void born_generate_result_clear(born_generate_result *r) { (void)r; }
