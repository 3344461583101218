/* born run / chat / bench / tokenize on the tiny random model: exit codes, output shapes, seeded
 * runs that repeat, and clear failures. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tensor_file_test.h"
#include "llm/tiny_llama.h"
#include "tools/born/commands.h"
#include "tools/cli_run.h"

static char *model_path(void) {
    static char path[512];
    tiny_llama_opts o = tiny_llama_default();
    o.wtype = BORN_Q4_1;
    snprintf(path, sizeof path, "%s", tft_path("cli-tiny.gguf"));
    if (!tiny_llama_write(path, &o)) return NULL;
    return path;
}

TEST(cli_llm_tokenize) {
    char *path = model_path();
    CHECK(path != NULL);
    if (!path) return;
    static char out[8192];
    char *a[] = {"tokenize", "-m", path, "the cat", NULL};
    CHECK_EQ_INT(cli_run(cmd_tokenize, 4, a, NULL, out, sizeof out), 0);
    born_model *m = born_model_load(path, NULL);
    int32_t *ids;
    size_t n;
    CHECK_OK(born_tokenizer_encode(born_model_tokenizer(m), "the cat", 7, true, true, &ids, &n));
    char want[256] = "[";
    for (size_t i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", i ? ", " : "", (int)ids[i]);
    strcat(want, "]\n");
    CHECK_MSG(strcmp(out, want) == 0, "got '%s', want '%s'", out, want);
    free(ids);
    born_model_free(m);
    char *b[] = {"tokenize", "-m", path, "--show-pieces", "the cat", NULL};
    CHECK_EQ_INT(cli_run(cmd_tokenize, 5, b, NULL, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "     1 -> '<s>'\n") != NULL, "%s", out);
    char *c[] = {"tokenize", "-m", "/nonexistent.gguf", "x", NULL};
    CHECK_EQ_INT(cli_run(cmd_tokenize, 4, c, NULL, out, sizeof out), 1);
    CHECK(strstr(out, "/nonexistent.gguf") != NULL);
    unlink(path);
}

TEST(cli_llm_run) {
    char *path = model_path();
    CHECK(path != NULL);
    if (!path) return;
    static char out1[8192], out2[8192];
    char *a[] = {"run", "-m", path, "-p", "the cat", "-n", "12", "--seed", "7", "-t", "1", NULL};
    CHECK_EQ_INT(cli_run(cmd_run, 11, a, NULL, out1, sizeof out1), 0);
    CHECK_MSG(strstr(out1, "prompt: ") && strstr(out1, " generation: ") && strstr(out1, "seed 7"),
              "%s", out1);
    CHECK_EQ_INT(cli_run(cmd_run, 11, a, NULL, out2, sizeof out2), 0);
    /* the same seed gives the same text (the timings differ) */
    char *p1 = strstr(out1, "prompt: "), *p2 = strstr(out2, "prompt: ");
    CHECK(p1 && p2 && p1 - out1 == p2 - out2 && memcmp(out1, out2, (size_t)(p1 - out1)) == 0);
    char *b[] = {"run", "-m", path, NULL};
    CHECK_EQ_INT(cli_run(cmd_run, 3, b, NULL, out1, sizeof out1), 2);
    CHECK(strstr(out1, "-p PROMPT is required") != NULL);
    char *c[] = {"run", "-m", path, "-p", "x", "--top-p", "abc", NULL};
    CHECK_EQ_INT(cli_run(cmd_run, 7, c, NULL, out1, sizeof out1), 2);
    CHECK(strstr(out1, "bad value 'abc' for --top-p") != NULL);
    char *d[] = {"run", "-m", path, "-p", "x", "--top-p", "7", NULL};
    CHECK_EQ_INT(cli_run(cmd_run, 7, d, NULL, out1, sizeof out1), 1);
    CHECK_MSG(strstr(out1, "top_p") != NULL, "%s", out1);
    char *e[] = {"run", "-m", path, "-c", "4", "-p", "the cat in a hat sat on the mat", NULL};
    CHECK_EQ_INT(cli_run(cmd_run, 7, e, NULL, out1, sizeof out1), 1);
    CHECK_MSG(strstr(out1, "context of 4 tokens") != NULL, "%s", out1);
    unlink(path);
}

TEST(cli_llm_bench_and_chat) {
    char *path = model_path();
    CHECK(path != NULL);
    if (!path) return;
    static char out[8192];
    char *a[] = {"bench", "-m", path, "-p", "16", "-n", "4", "-r", "2", "-t", "1,2", "-pl", "1,3", NULL};
    CHECK_EQ_INT(cli_run(cmd_bench, 13, a, NULL, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "| model ") && strstr(out, "pp16 |") && strstr(out, "tg4 |") &&
                  strstr(out, "tg4 x3 |") && strstr(out, "| llama 99K ") != NULL,
              "%s", out);
    int rows = 0;
    for (char *p = out; (p = strstr(p, " | CPU ")) != NULL; p++) rows++;
    CHECK_EQ_INT(rows, 6); /* pp, tg and tg x3 at each thread count (-pl 1 adds no row) */
    char *b[] = {"bench", "-m", path, "-t", "0", NULL};
    CHECK_EQ_INT(cli_run(cmd_bench, 5, b, NULL, out, sizeof out), 2);
    char *b2[] = {"bench", "-m", path, "-pl", "2,x", NULL};
    CHECK_EQ_INT(cli_run(cmd_bench, 5, b2, NULL, out, sizeof out), 2);
    CHECK_MSG(strstr(out, "bad parallel sequences list") != NULL, "%s", out);
    char *b3[] = {"bench", "-m", path, "-pl", "", NULL};
    CHECK_EQ_INT(cli_run(cmd_bench, 5, b3, NULL, out, sizeof out), 2);
    CHECK_MSG(strstr(out, "empty parallel sequences list") != NULL, "%s", out);

    char *c[] = {"chat", "-m", path, "-n", "6", "--temp", "0", "-v", NULL};
    CHECK_EQ_INT(cli_run(cmd_chat, 8, c, "hello\nhow are you\n", out, sizeof out), 0);
    /* three prompts (two turns and the end of input); the second turn reuses the cache */
    int prompts = 0;
    for (char *p = out; (p = strstr(p, "> ")) != NULL; p++) prompts++;
    CHECK_MSG(prompts >= 3, "%s", out);
    /* the second turn reuses the first turn's cache */
    const char *first = strstr(out, " cached tokens reused");
    const char *second = first ? strstr(first + 1, " cached tokens reused") : NULL;
    CHECK_MSG(first && second, "%s", out);
    if (second) {
        const char *num = second;
        while (num > out && num[-1] >= '0' && num[-1] <= '9') num--;
        CHECK_MSG(atoi(num) > 5, "%s", out);
    }
    unlink(path);
}
