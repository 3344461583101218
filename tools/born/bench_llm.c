/* born bench: prompt processing (ppN) and generation (tgN) speed of a GGUF model, printed as
 * llama.cpp's llama-bench prints its table, so the two can be compared line by line. As
 * llama-bench: random tokens, an empty cache before each repetition, one warm-up run (the whole
 * prompt for pp, one token for tg), pp
 * evaluates N tokens in batches (logits of the last only), tg evaluates N tokens one at a time;
 * t/s is the mean over repetitions ± the sample standard deviation. With -pl, "tgN xP" rows
 * time P sequences decoding N tokens greedily together (born_session_decode_greedy_batch, one
 * forward pass a step for all of them, as llama-batched-bench's parallel sequences), t/s counting
 * the tokens of all P. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/born/commands.h"
#include "tools/born/llm_opts.h"

static void usage(FILE *out) {
    fprintf(out, "usage: born bench -m MODEL [-p N] [-n N] [-t N[,N...]] [-r REPS] [-b BATCH]\n"
                 "                  [-pl P[,P...]] [-dev D] [-mmp 0|1]\n"
                 "  -p N   prompt tokens of the pp test (default 512; 0: skip)\n"
                 "  -n N   generated tokens of the tg test (default 128; 0: skip)\n"
                 "  -t L   thread counts, comma-separated (default: the library's)\n"
                 "  -r R   repetitions (default 5)\n"
                 "  -pl L  parallel sequences, comma-separated: a tgN xP row for each P > 1, the\n"
                 "         P sequences decoding greedily together (t/s over all of them)\n"
                 "  -dev D cpu, cuda or cuda:N: where the model runs (default cpu)\n"
                 "  -mmp B 1: map the file, 0: read it into memory in 2 MiB pages (default 0)\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *ftype_name(int64_t ft) {
    static const struct { int v; const char *n; } names[] = {
        {0, "all F32"}, {1, "F16"}, {2, "Q4_0"}, {3, "Q4_1"}, {7, "Q8_0"}, {8, "Q5_0"},
        {9, "Q5_1"}, {10, "Q2_K - Medium"}, {11, "Q3_K - Small"}, {12, "Q3_K - Medium"},
        {13, "Q3_K - Large"}, {14, "Q4_K - Small"}, {15, "Q4_K - Medium"}, {16, "Q5_K - Small"},
        {17, "Q5_K - Medium"}, {18, "Q6_K"}, {25, "IQ4_NL - 4.5 bpw"}, {30, "IQ4_XS - 4.25 bpw"},
        {32, "BF16"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].v == ft) return names[i].n;
    return "?";
}

/* One test: tokens/s of each repetition into ts[reps]. */
static int run_test(born_session *s, int32_t n_vocab, bool gen, int32_t n, int32_t reps,
                    double *ts, uint64_t *rng) {
    int32_t *toks = malloc((size_t)n * sizeof *toks);
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    if (!toks || !logits) {
        free(toks);
        free(logits);
        return 1;
    }
    for (int32_t r = -1; r < reps; r++) { /* r = -1: the warm-up */
        for (int32_t i = 0; i < n; i++) {
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            toks[i] = (int32_t)((*rng >> 33) % (uint64_t)n_vocab);
        }
        born_session_rollback(s, 0);
        double t0 = now_s();
        born_status st = BORN_OK;
        if (gen) {
            for (int32_t i = 0; i < (r < 0 ? 1 : n) && st == BORN_OK; i++)
                st = born_session_eval(s, toks + i, 1, logits, false);
        } else {
            /* the warm-up is the whole prompt, as llama-bench's: a GPU session sizes its
             * scratch and picks its matrix-product algorithms for these shapes there */
            st = born_session_eval(s, toks, n, logits, false);
        }
        double dt = now_s() - t0;
        if (st != BORN_OK) {
            fprintf(stderr, "born bench: %s\n", born_last_error());
            born_clear_error();
            free(toks);
            free(logits);
            return 1;
        }
        if (r >= 0) ts[r] = n / dt;
    }
    free(toks);
    free(logits);
    return 0;
}

/* tg with p sequences decoding n tokens greedily together: tokens/s over all of them of each
 * repetition into ts[reps], after a one-token warm-up. */
static int run_parallel(born_model *m, int32_t p, int32_t n, int32_t reps, double *ts, uint64_t *rng) {
    born_session_params sp = born_session_default_params();
    sp.n_ctx = n + 1;
    born_session **ss = calloc((size_t)p, sizeof *ss);
    int32_t *first = malloc((size_t)p * sizeof *first), *out = malloc((size_t)p * n * sizeof *out);
    const int32_t V = born_model_n_vocab(m);
    int status = ss && first && out ? 0 : 1;
    for (int32_t i = 0; i < p && !status; i++)
        if (!(ss[i] = born_session_new(m, &sp))) status = 1;
    for (int32_t r = -1; r < reps && !status; r++) { /* r = -1: the warm-up */
        for (int32_t i = 0; i < p; i++) {
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            first[i] = (int32_t)((*rng >> 33) % (uint64_t)V);
            born_session_rollback(ss[i], 0);
        }
        const int32_t k = r < 0 ? 1 : n;
        double t0 = now_s();
        if (born_session_decode_greedy_batch(ss, first, k, p, out) != BORN_OK) status = 1;
        if (r >= 0) ts[r] = (double)p * k / (now_s() - t0);
    }
    if (status) {
        fprintf(stderr, "born bench: %d parallel sequences: %s\n", (int)p,
                born_last_error()[0] ? born_last_error() : "out of memory");
        born_clear_error();
    }
    for (int32_t i = 0; ss && i < p; i++)
        born_session_free(ss[i]);
    free(ss);
    free(first);
    free(out);
    return status;
}

/* Parses a comma-separated list of at most 16 integers in [lo, hi] into list; its length, or -1
 * (with a message naming what) when it is not one. */
static int parse_list(const char *v, int lo, int hi, int *list, const char *what) {
    int n = 0;
    const char *p = v;
    while (*p) {
        char *end;
        long t = strtol(p, &end, 10);
        if (n == 16 || end == p || t < lo || t > hi || (*end && *end != ',')) {
            fprintf(stderr, "born bench: bad %s list '%s'\n", what, v);
            return -1;
        }
        list[n++] = (int)t;
        p = *end ? end + 1 : end;
    }
    if (n == 0) fprintf(stderr, "born bench: empty %s list\n", what);
    return n ? n : -1;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *threads = NULL, *parallel = NULL;
    int32_t n_prompt = 512, n_gen = 128, reps = 5, n_batch = born_session_default_params().n_batch;
    born_device device = BORN_CPU;
    born_model_params mp = born_model_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "born bench: unknown option or missing value '%s'\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        char *end = NULL;
        long num = strtol(v, &end, 10);
        bool numeric = end != v && !*end && num >= 0 && num <= 1000000;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) model = v;
        else if (strcmp(a, "-dev") == 0 || strcmp(a, "--device") == 0) {
            if (!llm_parse_device(v, &device, "bench")) return 2;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) threads = v;
        else if (strcmp(a, "-pl") == 0 || strcmp(a, "--parallel") == 0) parallel = v;
        else if (numeric && (strcmp(a, "-p") == 0 || strcmp(a, "--n-prompt") == 0)) n_prompt = (int32_t)num;
        else if (numeric && (strcmp(a, "-n") == 0 || strcmp(a, "--n-gen") == 0)) n_gen = (int32_t)num;
        else if (numeric && num > 0 && (strcmp(a, "-r") == 0 || strcmp(a, "--repetitions") == 0)) reps = (int32_t)num;
        else if (numeric && num > 0 && (strcmp(a, "-b") == 0 || strcmp(a, "--batch-size") == 0)) n_batch = (int32_t)num;
        else if (numeric && num <= 1 && (strcmp(a, "-mmp") == 0 || strcmp(a, "--mmap") == 0)) mp.use_mmap = num == 1;
        else {
            fprintf(stderr, "born bench: bad option '%s %s'\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    if (!model) {
        usage(stderr);
        return 2;
    }
    int tlist[16], nt = 0, plist[16], npl = 0;
    if (threads && (nt = parse_list(threads, 1, 1024, tlist, "thread")) <= 0) return 2;
    if (!threads) tlist[nt++] = born_get_num_threads();
    if (parallel && (npl = parse_list(parallel, 1, BORN_SESSION_BATCH_MAX, plist, "parallel sequences")) <= 0)
        return 2;
    mp.load_tokenizer = false;
    mp.device = device;
    born_model *m = born_model_load(model, &mp);
    if (!m) {
        fprintf(stderr, "born bench: %s\n", born_last_error());
        born_clear_error();
        return 1;
    }
    int64_t ftype = -1;
    born_file *f = born_gguf_open(model, NULL);
    if (f && born_gguf_find_key(f, "general.file_type") >= 0) born_gguf_get_i64(f, "general.file_type", &ftype);
    born_file_close(f);
    born_clear_error();
    born_session_params sp = born_session_default_params();
    sp.n_ctx = n_prompt + n_gen > 0 ? (n_prompt > n_gen ? n_prompt : n_gen) : 1;
    sp.n_batch = n_batch;
    born_session *s = born_session_new(m, &sp);
    if (!s) {
        fprintf(stderr, "born bench: %s\n", born_last_error());
        born_clear_error();
        born_model_free(m);
        return 1;
    }
    char name[96];
    double np = (double)born_model_n_params(m);
    if (np >= 1e9) snprintf(name, sizeof name, "%s %.1fB %s", born_model_arch(m), np / 1e9, ftype_name(ftype));
    else if (np >= 1e6) snprintf(name, sizeof name, "%s %.0fM %s", born_model_arch(m), np / 1e6, ftype_name(ftype));
    else snprintf(name, sizeof name, "%s %.0fK %s", born_model_arch(m), np / 1e3, ftype_name(ftype));
    double bytes = (double)born_model_size_bytes(m);
    char size[32];
    if (bytes >= 1024.0 * 1024 * 1024) snprintf(size, sizeof size, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else snprintf(size, sizeof size, "%.2f MiB", bytes / (1024.0 * 1024));
    printf("| %-30s | %10s | %10s | %-10s | %7s | %13s | %20s |\n", "model", "size", "params",
           "backend", "threads", "test", "t/s");
    printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: | "
           "------------: | -------------------: |\n");
    fflush(stdout);
    double *ts = malloc((size_t)reps * sizeof *ts);
    uint64_t rng = 42;
    int status = 0;
    for (int ti = 0; ti < nt && status == 0; ti++) {
        born_set_num_threads(tlist[ti]);
        for (int g = 0; g < 2 + npl && status == 0; g++) {
            int32_t n = g ? n_gen : n_prompt, par = g >= 2 ? plist[g - 2] : 1;
            if (n == 0 || (g >= 2 && par < 2)) continue;
            if (g < 2 ? run_test(s, born_model_n_vocab(m), g == 1, n, reps, ts, &rng)
                      : run_parallel(m, par, n, reps, ts, &rng)) {
                status = 1;
                break;
            }
            double mean = 0, var = 0;
            for (int r = 0; r < reps; r++) mean += ts[r];
            mean /= reps;
            for (int r = 0; r < reps; r++) var += (ts[r] - mean) * (ts[r] - mean);
            double sd = reps > 1 ? sqrt(var / (reps - 1)) : 0.0;
            char test[32], tps[48], params[32];
            if (g < 2) snprintf(test, sizeof test, "%s%d", g ? "tg" : "pp", (int)n);
            else snprintf(test, sizeof test, "tg%d x%d", (int)n, (int)par);
            snprintf(tps, sizeof tps, "%.2f ± %.2f", mean, sd);
            snprintf(params, sizeof params, "%.2f M", np / 1e6);
            if (np >= 1e9) snprintf(params, sizeof params, "%.2f B", np / 1e9);
            /* "±" is two bytes: pad the column by one more */
            printf("| %-30s | %10s | %10s | %-10s | %7d | %13s | %21s |\n", name, size, params,
                   device.type == BORN_DEVICE_CUDA ? "CUDA" : "CPU", tlist[ti], test, tps);
            fflush(stdout);
        }
    }
    free(ts);
    born_session_free(s);
    born_model_free(m);
    return status;
}
