/* born_generate on a GPU session: greedy tokens chosen ahead on the device (chunks of
 * born_session_decode_greedy, rolled back at a stop) give exactly what the one-token loop gives
 * with each token's logits brought to the host: text, stops, cache position and continuation.
 * Without a GPU only the skip message prints. */
#include <unistd.h>

#include "backend/cuda_check.h"
#include "io/tensor_file_test.h"
#include "llm/generate_compare.h"
#include "llm/tiny_llama.h"

TEST(cuda_llm_generate_ahead) {
    if (!cuda_gpu_or_skip("cuda_llm_generate_ahead")) return;
    static const born_dtype types[] = {BORN_Q8_0, BORN_F16};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        tiny_llama_opts o = tiny_llama_default();
        o.wtype = types[t];
        o.seed = 99;
        const char *path = tft_path("gen_cuda.gguf");
        CHECK(tiny_llama_write(path, &o));
        born_model_params mp = born_model_default_params();
        mp.device = BORN_CUDA(0);
        born_model *m = born_model_load(path, &mp);
        CHECK_MSG(m != NULL, "%s", born_last_error());
        born_session *s = m ? born_session_new(m, NULL) : NULL;
        CHECK_MSG(!m || s, "%s", born_last_error());
        if (s) {
            CHECK(generate_ahead_compare(s, 32) >= 16);
            CHECK(generate_ahead_compare(s, 5) >= 16);
        }
        born_session_free(s);
        born_model_free(m);
        unlink(path);
    }
}
