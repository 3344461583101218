/* born train-lm end to end on tiny texts: the loss falls, a checkpoint resumes to exactly the
 * losses of an uninterrupted run, the window generator draws SplitMix64's numbers (the PyTorch
 * twin's), and bad input gives a clear error, a non-zero exit and no checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/tensor_file_test.h"
#include "test.h"
#include "tools/born/commands.h"
#include "tools/born/lm_data.h"
#include "tools/cli_run.h"

static char out[16384];

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* A copy of tft_path(name) (whose buffers rotate). */
static void scratch(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s", tft_path(name)); }

/* Writes a small English-like text of about n bytes. */
static void write_text(const char *path, size_t n) {
    static const char *words[] = {"and", "the", "light", "was", "good", "god", "said", "let", "there", "be",
                                  "earth", "waters", "day", "night", "heaven", "made"};
    FILE *f = fopen(path, "wb");
    uint64_t s = 7;
    size_t len = 0;
    while (len < n) {
        const char *w = words[lm_splitmix64(&s) % 16];
        len += (size_t)fprintf(f, "%s%s", w, lm_splitmix64(&s) % 8 == 0 ? ".\n" : " ");
    }
    fclose(f);
}

/* The field col (0 step, 1 train_loss, 2 val_loss, 3 tokens/s) of the CSV row of step, copied
 * into buf; false when there is no such row. */
static bool csv_field(const char *path, long step, int col, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[256];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char *end;
        long s = strtol(line, &end, 10);
        if (end == line || *end != ',' || s != step) continue;
        char *p = line;
        for (int i = 0; i < col && p; i++) {
            p = strchr(p, ',');
            if (p) p++;
        }
        if (!p) break;
        size_t n = strcspn(p, ",\n");
        snprintf(buf, size, "%.*s", (int)n, p);
        found = true;
    }
    fclose(f);
    return found;
}

static double csv_val(const char *path, long step, int col) {
    char b[64];
    return csv_field(path, step, col, b, sizeof b) && *b ? atof(b) : NAN;
}

TEST(train_lm_window_generator_is_splitmix64) {
    uint64_t s = 0;
    CHECK(lm_splitmix64(&s) == 0xE220A8397B1DCDAFULL);
    CHECK(lm_splitmix64(&s) == 0x6E789E6AA1B965F4ULL);
    CHECK(lm_splitmix64(&s) == 0x06C45D188009454FULL);
    CHECK(s == 3 * LM_SPLITMIX_GAMMA); /* the state after k draws is seed + k * gamma */
    int64_t starts[64];
    s = 42;
    lm_draw_starts(&s, 100, 150, 10, 64, starts);
    uint64_t r = 42;
    for (int i = 0; i < 64; i++) {
        CHECK(starts[i] >= 100 && starts[i] + 10 < 150);
        CHECK_EQ_INT(starts[i], 100 + (int64_t)(lm_splitmix64(&r) % 40));
    }
}

static char *tiny_args[48]; /* tiny()'s 30 options, a few more and the NULL */

/* The common options of a tiny run (text, steps, log, save), NULL-terminated; returns argc. */
static int tiny(const char *text, const char *steps, const char *log, const char *save) {
    const char *a[] = {"train-lm", text, "--layers", "1", "--heads", "2", "--dim", "32", "--context", "16",
                       "--batch", "4", "--steps", steps, "--lr", "1e-2", "--warmup", "3", "--eval-every", "5",
                       "--eval-windows", "6", "--sample-tokens", "8", "--threads", "1", "--log", log,
                       "--save", save, NULL};
    int n = 0;
    for (; a[n]; n++) tiny_args[n] = (char *)a[n];
    tiny_args[n] = NULL;
    return n;
}

TEST(train_lm_loss_falls_and_samples) {
    char text[512], log[512], save[512], init[512];
    scratch(text, sizeof text, "lm-text.txt");
    scratch(log, sizeof log, "lm-log.csv");
    scratch(save, sizeof save, "lm.born");
    scratch(init, sizeof init, "lm-init.safetensors");
    write_text(text, 6000);
    int n = tiny(text, "40", log, save);
    tiny_args[n++] = "--init-out";
    tiny_args[n++] = init;
    tiny_args[n] = NULL;
    int st = cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out);
    CHECK_MSG(st == 0, "exit %d: %s", st, out);
    CHECK_MSG(strstr(out, "--- sample ---") && strstr(out, "step 40/40"), "%s", out);
    double v0 = csv_val(log, 0, 2), v40 = csv_val(log, 40, 2), first = 0, last = 0;
    for (long s = 1; s <= 5; s++) first += csv_val(log, s, 1), last += csv_val(log, 35 + s, 1);
    /* a uniform guess over 256 bytes is ln 256 = 5.55; the letters of 16 words alone are < 3.2 */
    CHECK_MSG(v0 > 5.0 && v40 < 3.2, "val losses %g %g", v0, v40);
    CHECK_MSG(last < first - 5 * 2.0, "train losses of steps 1-5 %g, 36-40 %g", first / 5, last / 5);
    CHECK(csv_val(log, 40, 3) > 0);
    CHECK(isnan(csv_val(log, 41, 1)));
    /* the initial weights carry the model's shape for the PyTorch twin */
    born_file *f = born_file_open(init, NULL);
    CHECK(f != NULL);
    if (f) {
        CHECK(born_file_find(f, "wte.weight") >= 0 && born_file_find(f, "wpe.weight") >= 0);
        const char *d = born_string_map_get(born_file_metadata(f), "train_lm.dim");
        CHECK(d && strcmp(d, "32") == 0);
        born_file_close(f);
    }
    born_file *ck = born_file_open(save, NULL);
    CHECK(ck != NULL);
    if (ck) {
        CHECK(born_file_find(ck, "model.h.0.attn.q_proj.weight") >= 0);
        CHECK(born_file_find(ck, "optim.state.0.exp_avg") >= 0);
        born_file_close(ck);
    }
    unlink(text);
    unlink(log);
    unlink(save);
    unlink(init);
}

TEST(train_lm_with_gpt2_bpe) {
    char log[512], save[512];
    scratch(log, sizeof log, "lm-bpe.csv");
    scratch(save, sizeof save, "lm-bpe.born");
    int n = tiny("data/text/genesis-1-11.txt", "2", log, save);
    tiny_args[n++] = "--tokenizer";
    tiny_args[n++] = "tests/fixtures/tokenizers/gpt2";
    tiny_args[n++] = "--prompt";
    tiny_args[n++] = "And God said";
    tiny_args[n] = NULL;
    int st = cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out);
    CHECK_MSG(st == 0 && strstr(out, "BPE, vocabulary 50257") && strstr(out, "And God said"), "exit %d: %s", st, out);
    /* ln 50257 = 10.8: the untrained model guesses uniformly */
    CHECK_NEAR(csv_val(log, 0, 2), 10.82, 0.05);
    born_file *ck = born_file_open(save, NULL);
    CHECK(ck != NULL);
    if (ck) {
        CHECK(born_file_find(ck, "model.wte.weight") >= 0);
        const char *tok = born_string_map_get(born_file_metadata(ck), "train_lm.tokenizer");
        CHECK(tok && strcmp(tok, "tests/fixtures/tokenizers/gpt2") == 0);
        born_file_close(ck);
    }
    /* a tokenizer that does not load */
    n = tiny("data/text/genesis-1-11.txt", "2", log, save);
    tiny_args[n++] = "--tokenizer";
    tiny_args[n++] = "/nonexistent/tokenizer.json";
    tiny_args[n] = NULL;
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "/nonexistent/tokenizer.json"), "%s", out);
    unlink(log);
    unlink(save);
}

/* Every "model.*" tensor of two checkpoints has the same bytes. */
static bool same_models(const char *a, const char *b) {
    born_file *fa = born_file_open(a, NULL), *fb = born_file_open(b, NULL);
    bool same = fa && fb && born_file_count(fa) == born_file_count(fb);
    born_scope_begin();
    for (int64_t i = 0; same && i < born_file_count(fa); i++) {
        born_tensor_info info;
        born_file_tensor_info(fa, i, &info);
        if (strncmp(info.name, "model.", 6) && strncmp(info.name, "optim.state.", 12)) continue;
        same = tft_same(born_file_get(fa, info.name), born_file_get(fb, info.name));
    }
    born_scope_end();
    born_file_close(fa);
    born_file_close(fb);
    return same;
}

TEST(train_lm_resumes_to_the_same_losses) {
    char text[512], log_a[512], log_b[512], save_a[512], save_b[512];
    scratch(text, sizeof text, "lm-text.txt");
    scratch(log_a, sizeof log_a, "lm-a.csv");
    scratch(log_b, sizeof log_b, "lm-b.csv");
    scratch(save_a, sizeof save_a, "lm-a.born");
    scratch(save_b, sizeof save_b, "lm-b.born");
    write_text(text, 4000);
    /* uninterrupted: 8 steps */
    int n = tiny(text, "8", log_a, save_a);
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 0);
    /* stopped after step 3 (the schedule still spans 8 steps), then resumed to 8 */
    n = tiny(text, "8", log_b, save_b);
    tiny_args[n++] = "--stop-after";
    tiny_args[n++] = "3";
    tiny_args[n] = NULL;
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 0);
    CHECK(isnan(csv_val(log_b, 4, 1)));
    n = tiny(text, "8", log_b, save_b);
    tiny_args[n++] = "--resume";
    tiny_args[n++] = save_b;
    tiny_args[n] = NULL;
    int st = cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out);
    CHECK_MSG(st == 0 && strstr(out, "at step 3"), "exit %d: %s", st, out);
    for (long step = 1; step <= 8; step++) {
        char a[64] = "", b[64] = "";
        CHECK(csv_field(log_a, step, 1, a, sizeof a) && csv_field(log_b, step, 1, b, sizeof b));
        CHECK_MSG(strcmp(a, b) == 0, "step %ld: train loss %s uninterrupted, %s resumed", step, a, b);
    }
    CHECK_NEAR(csv_val(log_a, 8, 2), csv_val(log_b, 8, 2), 0.0);
    CHECK(same_models(save_a, save_b));
    /* resuming a run that is done is an error */
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "at step 8 already"), "%s", out);
    unlink(text);
    unlink(log_a);
    unlink(log_b);
    unlink(save_a);
    unlink(save_b);
}

TEST(train_lm_refuses_bad_input_and_writes_nothing) {
    char text[512], log[512], save[512], missing[512];
    scratch(text, sizeof text, "lm-bad.txt");
    scratch(log, sizeof log, "lm-bad.csv");
    scratch(save, sizeof save, "lm-bad.born");
    scratch(missing, sizeof missing, "no-such-file.txt");
    /* a missing text file */
    int n = tiny(missing, "2", log, save);
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, missing) && strstr(out, "No such file"), "%s", out);
    /* an empty one */
    CHECK(tft_write_all(text, "", 0));
    n = tiny(text, "2", log, save);
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "empty"), "%s", out);
    /* shorter than a window in its validation part: 100 bytes give 10 for validation < 17 */
    write_text(text, 100);
    n = tiny(text, "2", log, save);
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "more than one window"), "%s", out);
    /* heads that do not divide the width */
    write_text(text, 3000);
    n = tiny(text, "2", log, save);
    tiny_args[n++] = "--heads";
    tiny_args[n++] = "5";
    tiny_args[n] = NULL;
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "born_gpt_new") && strstr(out, "heads 5"), "%s", out);
    /* kv heads that do not divide the heads */
    n = tiny(text, "2", log, save);
    tiny_args[n++] = "--kv-heads";
    tiny_args[n++] = "3";
    tiny_args[n] = NULL;
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 1);
    CHECK(!exists(save));
    /* bad options: exit 2 */
    char *no_file[] = {"train-lm", NULL};
    CHECK_EQ_INT(cli_run(cmd_train_lm, 1, no_file, NULL, out, sizeof out), 2);
    CHECK_MSG(strstr(out, "no text file"), "%s", out);
    char *bad_arch[] = {"train-lm", text, "--arch", "rnn", NULL};
    CHECK_EQ_INT(cli_run(cmd_train_lm, 4, bad_arch, NULL, out, sizeof out), 2);
    char *bad_lr[] = {"train-lm", text, "--lr", "fast", NULL};
    CHECK_EQ_INT(cli_run(cmd_train_lm, 4, bad_lr, NULL, out, sizeof out), 2);
    char *zero_steps[] = {"train-lm", text, "--steps", "0", NULL};
    CHECK_EQ_INT(cli_run(cmd_train_lm, 4, zero_steps, NULL, out, sizeof out), 2);
    /* a checkpoint into a folder that does not exist: the run fails and leaves no file */
    char bad_save[600];
    snprintf(bad_save, sizeof bad_save, "%s/missing/lm.born", tft_path("dir"));
    n = tiny(text, "2", log, bad_save);
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "saving") && strstr(out, bad_save), "%s", out);
    CHECK(!exists(bad_save));
    /* resuming from something that is not a checkpoint */
    n = tiny(text, "2", log, save);
    tiny_args[n++] = "--resume";
    tiny_args[n++] = text;
    tiny_args[n] = NULL;
    CHECK_EQ_INT(cli_run(cmd_train_lm, n, tiny_args, NULL, out, sizeof out), 1);
    CHECK(!exists(save));
    unlink(text);
    unlink(log);
}
