/* Shared options of the LLM subcommands (see llm_opts.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/born/llm_opts.h"

const char llm_opts_usage[] =
    "  -m, --model FILE        the GGUF model (required)\n"
    "  -t, --threads N         threads (default: the library's)\n"
    "  -c, --ctx-size N        context size in tokens (default: min(training context, 4096))\n"
    "  -b, --batch-size N      prompt tokens per forward pass (default 256)\n"
    "  -n, --n-predict N       tokens to generate (default 256; -1: until the context is full)\n"
    "  --temp X                temperature (default 0.8; 0: greedy)\n"
    "  --top-k N, --top-p X, --min-p X, --typical X\n"
    "  --repeat-penalty X, --repeat-last-n N, --frequency-penalty X, --presence-penalty X\n"
    "  --seed N                sampling seed (default: random)\n"
    "  -r, --reverse-prompt S  stop when S appears (repeatable)\n"
    "  --no-bos                do not add the BOS token\n"
    "  -dev, --device NAME     cpu, cuda or cuda:N: where the model runs (default cpu)\n"
    "  --mmap                  map the model file (default: read it into memory, 2 MiB pages)\n";

void llm_opts_init(llm_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 256;
    o->n_batch = born_session_default_params().n_batch;
    o->sp = born_sampler_default_params();
    o->device = BORN_CPU;
}

bool llm_parse_device(const char *s, born_device *out, const char *cmd) {
    if (strcmp(s, "cpu") == 0) {
        *out = BORN_CPU;
        return true;
    }
    long idx = -1;
    if (strcmp(s, "cuda") == 0) {
        idx = 0;
    } else if (strncmp(s, "cuda:", 5) == 0 && s[5]) {
        char *end;
        errno = 0;
        idx = strtol(s + 5, &end, 10);
        if (errno || *end || idx < 0 || idx > 1024) idx = -1;
    }
    if (idx < 0) {
        fprintf(stderr, "born %s: --device expects cpu, cuda or cuda:N, not '%s'\n", cmd, s);
        return false;
    }
    *out = BORN_CUDA((int)idx);
    return true;
}

static bool parse_i32(const char *s, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < INT32_MIN || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
}

static bool parse_f32(const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

int llm_opts_parse(llm_opts *o, int argc, char **argv, int *i, const char *cmd) {
    const char *a = argv[*i];
#define IS(x) (strcmp(a, x) == 0)
    bool known = IS("-m") || IS("--model") || IS("-t") || IS("--threads") || IS("-c") ||
                 IS("--ctx-size") || IS("-b") || IS("--batch-size") || IS("-n") ||
                 IS("--n-predict") || IS("--temp") || IS("--top-k") || IS("--top-p") ||
                 IS("--min-p") || IS("--typical") || IS("--repeat-penalty") ||
                 IS("--repeat-last-n") || IS("--frequency-penalty") || IS("--presence-penalty") ||
                 IS("--seed") || IS("-r") || IS("--reverse-prompt") || IS("-p") || IS("--prompt") ||
                 IS("-dev") || IS("--device");
    if (IS("--no-bos")) {
        o->no_bos = true;
        return 1;
    }
    if (IS("--mmap")) {
        o->mmap = true;
        return 1;
    }
    if (IS("-v") || IS("--verbose")) {
        o->verbose = true;
        return 1;
    }
    if (!known) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "born %s: %s needs a value\n", cmd, a);
        return -1;
    }
    const char *v = argv[++*i];
    bool ok = true;
    if (IS("-m") || IS("--model")) o->model = v;
    else if (IS("-p") || IS("--prompt")) o->prompt = v;
    else if (IS("-t") || IS("--threads")) ok = parse_i32(v, &o->threads) && o->threads > 0;
    else if (IS("-c") || IS("--ctx-size")) ok = parse_i32(v, &o->n_ctx) && o->n_ctx >= 0;
    else if (IS("-b") || IS("--batch-size")) ok = parse_i32(v, &o->n_batch) && o->n_batch > 0;
    else if (IS("-n") || IS("--n-predict")) ok = parse_i32(v, &o->n_predict);
    else if (IS("-dev") || IS("--device")) {
        if (!llm_parse_device(v, &o->device, cmd)) return -1;
    } else if (IS("--temp")) ok = parse_f32(v, &o->sp.temperature);
    else if (IS("--top-k")) ok = parse_i32(v, &o->sp.top_k);
    else if (IS("--top-p")) ok = parse_f32(v, &o->sp.top_p);
    else if (IS("--min-p")) ok = parse_f32(v, &o->sp.min_p);
    else if (IS("--typical")) ok = parse_f32(v, &o->sp.typical_p);
    else if (IS("--repeat-penalty")) ok = parse_f32(v, &o->sp.repeat_penalty);
    else if (IS("--repeat-last-n")) ok = parse_i32(v, &o->sp.penalty_last_n);
    else if (IS("--frequency-penalty")) ok = parse_f32(v, &o->sp.frequency_penalty);
    else if (IS("--presence-penalty")) ok = parse_f32(v, &o->sp.presence_penalty);
    else if (IS("--seed")) {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        ok = !errno && end != v && !*end;
        o->sp.seed = s;
    } else if (IS("-r") || IS("--reverse-prompt")) {
        if (o->n_stop >= 16) {
            fprintf(stderr, "born %s: at most 16 stop strings\n", cmd);
            return -1;
        }
        o->stop[o->n_stop++] = v;
    }
#undef IS
    if (!ok) {
        fprintf(stderr, "born %s: bad value '%s' for %s\n", cmd, v, a);
        return -1;
    }
    return 1;
}

born_model *llm_opts_load(const llm_opts *o, const char *cmd) {
    if (!o->model) {
        fprintf(stderr, "born %s: -m MODEL is required\n", cmd);
        return NULL;
    }
    born_model_params mp = born_model_default_params();
    mp.n_threads = o->threads;
    mp.device = o->device;
    mp.use_mmap = o->mmap;
    born_model *m = born_model_load(o->model, &mp);
    if (!m) {
        fprintf(stderr, "born %s: %s\n", cmd, born_last_error());
        born_clear_error();
    }
    return m;
}
