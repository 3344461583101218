/* Bit-exact agreement with llama.cpp (issue 7): the tiny random LLaMA model in Q8_0 and Q4_1
 * (tests/fixtures/llm/tiny-llama-*.gguf), 24 tokens evaluated as one batch with an f16 KV cache,
 * must give exactly the float32 logits llama.cpp's AVX2 build gives (exact_*.bin, made by
 * tools/gen_llm_exact_fixtures.py). Born follows llama.cpp's x86 arithmetic on the AVX2+FMA
 * path only, so the test is skipped on CPUs without it (or with BORN_CPU=scalar). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "test.h"

#define DIR "tests/fixtures/llm/"
#define MAX_TOKENS 64

static int32_t read_tokens(int32_t *ids) {
    FILE *f = fopen(DIR "exact_tokens.txt", "r");
    if (!f) return 0;
    int32_t n = 0;
    int v;
    while (n < MAX_TOKENS && fscanf(f, "%d", &v) == 1) ids[n++] = v;
    fclose(f);
    return n;
}

static void check_exact(const char *model, const char *logits, const int32_t *ids, int32_t n) {
    born_model *m = born_model_load(model, NULL);
    CHECK_MSG(m != NULL, "%s: %s", model, born_last_error());
    if (!m) {
        born_clear_error();
        return;
    }
    const int32_t V = born_model_n_vocab(m);
    CHECK_EQ_INT(V, 289);
    const size_t count = (size_t)n * (size_t)V;
    /* one spare float: reading count + 1 tells a longer file from the right one */
    float *ref = malloc((count + 1) * sizeof *ref), *got = malloc(count * sizeof *got);
    FILE *f = fopen(logits, "rb");
    CHECK_MSG(f != NULL, "cannot open %s", logits);
    size_t have = f ? fread(ref, sizeof *ref, count + 1, f) : 0;
    if (f) fclose(f);
    CHECK_MSG(have == count, "%s: %zu floats, expected %zu", logits, have, count);
    born_session_params sp = born_session_default_params();
    sp.kv_type = BORN_F16;
    sp.n_batch = 512;
    born_session *s = born_session_new(m, &sp);
    CHECK(s != NULL);
    if (s && have == count) {
        CHECK_OK(born_session_eval(s, ids, n, got, true));
        size_t first = count, ndiff = 0;
        float worst = 0.0f;
        for (size_t i = 0; i < count; i++) {
            if (memcmp(&ref[i], &got[i], sizeof(float)) == 0) continue;
            if (first == count) first = i;
            ndiff++;
            float d = ref[i] > got[i] ? ref[i] - got[i] : got[i] - ref[i];
            if (d > worst) worst = d;
        }
        CHECK_MSG(ndiff == 0,
                  "%s: %zu of %zu logits differ from llama.cpp's (max |diff| %g); first at "
                  "token %zu, vocab %zu: born %.9g, llama.cpp %.9g",
                  model, ndiff, count, (double)worst, first / (size_t)V, first % (size_t)V,
                  (double)got[first < count ? first : 0], (double)ref[first < count ? first : 0]);
    }
    free(ref);
    free(got);
    born_session_free(s);
    born_model_free(m);
}

TEST(model_bit_exact_llama_cpp) {
    const cpu_features *cf = cpu_features_get();
    if (!cf->avx2 || !cf->fma || !cf->f16c || cpu_get_level() < CPU_LEVEL_AVX2) {
        printf("  model_bit_exact_llama_cpp: skipped: needs the AVX2+FMA path (level %s)\n",
               cpu_level_name(cpu_get_level()));
        return;
    }
    int32_t ids[MAX_TOKENS];
    int32_t n = read_tokens(ids);
    CHECK_EQ_INT(n, 24);
    if (n != 24) return;
    check_exact(DIR "tiny-llama-q8_0.gguf", DIR "exact_q8_0.bin", ids, n);
    check_exact(DIR "tiny-llama-q4_1.gguf", DIR "exact_q4_1.bin", ids, n);
}
