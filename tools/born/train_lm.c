/* `born train-lm`: trains a GPT (src/nn/gpt.c) on a text file, with a progress bar, periodic
 * validation loss and sample generations, checkpoints and a CSV log.
 *
 * One training step (bench/validation/train_lm_torch.py does the same in PyTorch):
 *   1. draw `batch` windows of `context` tokens from the training 90% (lm_data.h's generator);
 *   2. set the learning rate of this step (0-based s): lr * (s + 1) / warmup while s < warmup, then
 *      min_lr + (lr - min_lr) * (1 + cos(pi * (s - warmup) / (steps - warmup))) / 2;
 *   3. the mean cross-entropy of the next-token logits, its gradients, the gradients' global
 *      2-norm clipped to --clip (0: no clipping), one AdamW step (one group: weight decay on every
 *      parameter).
 * Validation: the mean loss over --eval-windows windows of the last 10% drawn once at the start,
 * at step 0, every --eval-every steps and at the last step. tokens/s counts training steps only. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "born/born.h"
#include "tools/born/commands.h"
#include "tools/born/lm_data.h"
#include "tools/born/progress.h"

#define PI 3.14159265358979323846

typedef struct lm_opts {
    const char *text, *tokenizer, *arch, *save, *resume, *log, *init_out, *prompt;
    long long layers, heads, kv_heads, dim, context;
    long long steps, batch, warmup, eval_every, eval_windows, save_every, stop_after;
    long long sample_tokens, seed, threads, top_k;
    double lr, min_lr, weight_decay, beta1, beta2, clip, temperature;
} lm_opts;

static void usage(FILE *out) {
    fprintf(out,
            "usage: born train-lm TEXT_FILE [options]\n"
            "Trains a GPT on a text file: bytes as tokens (vocabulary 256) unless --tokenizer; the\n"
            "first 90%% trains, the last 10%% validates.\n"
            "model:\n"
            "  --arch NAME         gpt2 (learned positions, LayerNorm, GELU) or llama (RoPE, RMSNorm,\n"
            "                      SwiGLU, GQA) (default gpt2)\n"
            "  --layers N --heads N --kv-heads N --dim N --context N\n"
            "                      (defaults 4, 4, = heads, 128, 128)\n"
            "  --tokenizer PATH    a tokenizer.json, or a folder with GPT-2's vocab.json and merges.txt\n"
            "training:\n"
            "  --steps N           (default 1000)\n"
            "  --batch N           windows per step (default 16)\n"
            "  --lr X              peak learning rate (default 1e-3)\n"
            "  --min-lr X          learning rate at the end of the cosine (default lr / 10)\n"
            "  --warmup N          linear warm-up steps (default 100, at most steps)\n"
            "  --weight-decay X    AdamW's decoupled weight decay (default 0.1)\n"
            "  --beta1 X --beta2 X (default 0.9, 0.95)\n"
            "  --clip X            clip the gradients' global norm to X; 0: off (default 1)\n"
            "  --seed N            initial weights, batches and samples (default 1337)\n"
            "  --threads N         (default: BORN_NUM_THREADS or all cores)\n"
            "  --stop-after N      stop after step N (the schedule still spans --steps)\n"
            "evaluation and output:\n"
            "  --eval-every N      validation loss and a sample every N steps (default 100)\n"
            "  --eval-windows N    validation windows (default 32)\n"
            "  --sample-tokens N   tokens generated per sample; 0: none (default 200)\n"
            "  --prompt TEXT       the samples' prompt (default: the validation text's first 16 tokens)\n"
            "  --temperature X     (default 0.8)\n"
            "  --top-k N           (default 40; 0: off)\n"
            "  --save FILE         checkpoint: weights, AdamW state, step (default lm.born)\n"
            "  --save-every N      also checkpoint every N steps; 0: only at the end (default 0)\n"
            "  --resume FILE       continue from a checkpoint (its model shape and seed are used)\n"
            "  --log FILE.csv      step,train_loss,val_loss,tokens_per_s (appended on --resume)\n"
            "  --init-out FILE     write the initial weights (safetensors, with the model's shape as\n"
            "                      metadata) before training\n");
}

static bool parse_int(const char *opt, const char *s, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "born train-lm: %s expects a whole number from %lld to %lld, not '%s'\n", opt, min, max, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_real(const char *opt, const char *s, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "born train-lm: %s expects a number from %g to %g, not '%s'\n", opt, min, max, s);
        return false;
    }
    *out = v;
    return true;
}

/* Parses argv into o; 0 to go on, else the exit status (help: -1 means exit 0). */
static int parse_args(int argc, char **argv, lm_opts *o) {
    memset(o, 0, sizeof *o);
    o->arch = "gpt2";
    o->save = "lm.born";
    o->layers = 4, o->heads = 4, o->kv_heads = 0, o->dim = 128, o->context = 128;
    o->steps = 1000, o->batch = 16, o->warmup = 100, o->eval_every = 100, o->eval_windows = 32;
    o->sample_tokens = 200, o->seed = 1337, o->top_k = 40;
    o->lr = 1e-3, o->min_lr = -1, o->weight_decay = 0.1, o->beta1 = 0.9, o->beta2 = 0.95, o->clip = 1.0;
    o->temperature = 0.8;
    enum { O_ARCH = 256, O_LAYERS, O_HEADS, O_KV, O_DIM, O_CTX, O_TOK, O_STEPS, O_BATCH, O_LR, O_MINLR,
           O_WARM, O_WD, O_B1, O_B2, O_CLIP, O_SEED, O_THREADS, O_STOP, O_EVERY, O_WINDOWS, O_NSAMPLE,
           O_PROMPT, O_TEMP, O_TOPK, O_SAVE, O_SAVE_EVERY, O_RESUME, O_LOG, O_INIT, O_HELP };
    static const struct option longopts[] = {
        {"arch", required_argument, 0, O_ARCH}, {"layers", required_argument, 0, O_LAYERS},
        {"heads", required_argument, 0, O_HEADS}, {"kv-heads", required_argument, 0, O_KV},
        {"dim", required_argument, 0, O_DIM}, {"context", required_argument, 0, O_CTX},
        {"tokenizer", required_argument, 0, O_TOK}, {"steps", required_argument, 0, O_STEPS},
        {"batch", required_argument, 0, O_BATCH}, {"lr", required_argument, 0, O_LR},
        {"min-lr", required_argument, 0, O_MINLR}, {"warmup", required_argument, 0, O_WARM},
        {"weight-decay", required_argument, 0, O_WD}, {"beta1", required_argument, 0, O_B1},
        {"beta2", required_argument, 0, O_B2}, {"clip", required_argument, 0, O_CLIP},
        {"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, O_THREADS},
        {"stop-after", required_argument, 0, O_STOP}, {"eval-every", required_argument, 0, O_EVERY},
        {"eval-windows", required_argument, 0, O_WINDOWS},
        {"sample-tokens", required_argument, 0, O_NSAMPLE}, {"prompt", required_argument, 0, O_PROMPT},
        {"temperature", required_argument, 0, O_TEMP}, {"top-k", required_argument, 0, O_TOPK},
        {"save", required_argument, 0, O_SAVE}, {"save-every", required_argument, 0, O_SAVE_EVERY},
        {"resume", required_argument, 0, O_RESUME}, {"log", required_argument, 0, O_LOG},
        {"init-out", required_argument, 0, O_INIT}, {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0}};
    const long long big = 1LL << 40;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_ARCH: o->arch = optarg; break;
        case O_LAYERS: ok = parse_int("--layers", optarg, 1, 1024, &o->layers); break;
        case O_HEADS: ok = parse_int("--heads", optarg, 1, 4096, &o->heads); break;
        case O_KV: ok = parse_int("--kv-heads", optarg, 1, 4096, &o->kv_heads); break;
        case O_DIM: ok = parse_int("--dim", optarg, 1, 1 << 16, &o->dim); break;
        case O_CTX: ok = parse_int("--context", optarg, 1, 1 << 20, &o->context); break;
        case O_TOK: o->tokenizer = optarg; break;
        case O_STEPS: ok = parse_int("--steps", optarg, 1, big, &o->steps); break;
        case O_BATCH: ok = parse_int("--batch", optarg, 1, 1 << 20, &o->batch); break;
        case O_LR: ok = parse_real("--lr", optarg, 0, 10, &o->lr); break;
        case O_MINLR: ok = parse_real("--min-lr", optarg, 0, 10, &o->min_lr); break;
        case O_WARM: ok = parse_int("--warmup", optarg, 0, big, &o->warmup); break;
        case O_WD: ok = parse_real("--weight-decay", optarg, 0, 10, &o->weight_decay); break;
        case O_B1: ok = parse_real("--beta1", optarg, 0, 0.999999, &o->beta1); break;
        case O_B2: ok = parse_real("--beta2", optarg, 0, 0.999999, &o->beta2); break;
        case O_CLIP: ok = parse_real("--clip", optarg, 0, 1e30, &o->clip); break;
        case O_SEED: ok = parse_int("--seed", optarg, 0, 1LL << 62, &o->seed); break;
        case O_THREADS: ok = parse_int("--threads", optarg, 1, 256, &o->threads); break;
        case O_STOP: ok = parse_int("--stop-after", optarg, 1, big, &o->stop_after); break;
        case O_EVERY: ok = parse_int("--eval-every", optarg, 1, big, &o->eval_every); break;
        case O_WINDOWS: ok = parse_int("--eval-windows", optarg, 1, 1 << 20, &o->eval_windows); break;
        case O_NSAMPLE: ok = parse_int("--sample-tokens", optarg, 0, 1 << 20, &o->sample_tokens); break;
        case O_PROMPT: o->prompt = optarg; break;
        case O_TEMP: ok = parse_real("--temperature", optarg, 0, 100, &o->temperature); break;
        case O_TOPK: ok = parse_int("--top-k", optarg, 0, 1 << 30, &o->top_k); break;
        case O_SAVE: o->save = optarg; break;
        case O_SAVE_EVERY: ok = parse_int("--save-every", optarg, 0, big, &o->save_every); break;
        case O_RESUME: o->resume = optarg; break;
        case O_LOG: o->log = optarg; break;
        case O_INIT: o->init_out = optarg; break;
        case O_HELP: usage(stdout); return -1;
        default: ok = false;
        }
        if (!ok) {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        if (optind >= argc) fprintf(stderr, "born train-lm: no text file given\n");
        else fprintf(stderr, "born train-lm: unexpected argument '%s'\n", argv[optind + 1]);
        usage(stderr);
        return 2;
    }
    o->text = argv[optind];
    if (strcmp(o->arch, "gpt2") && strcmp(o->arch, "llama")) {
        fprintf(stderr, "born train-lm: --arch expects gpt2 or llama, not '%s'\n", o->arch);
        return 2;
    }
    if (o->min_lr < 0) o->min_lr = o->lr / 10;
    if (o->warmup > o->steps) o->warmup = o->steps;
    return 0;
}

/* The learning rate of the 0-based step s (the file comment's schedule). */
static double lr_at(const lm_opts *o, int64_t s) {
    if (s < o->warmup) return o->lr * (double)(s + 1) / (double)o->warmup;
    double frac = o->steps > o->warmup ? (double)(s - o->warmup) / (double)(o->steps - o->warmup) : 1.0;
    return o->min_lr + (o->lr - o->min_lr) * 0.5 * (1.0 + cos(PI * frac));
}

/* ------------------------------------------------------------------------------------------ */
/* Checkpoint metadata: the model's shape and the data stream's position.                       */

static void meta_set_int(born_string_map *m, const char *key, long long v) {
    char s[32];
    snprintf(s, sizeof s, "%lld", v);
    born_string_map_set(m, key, s);
}

static born_string_map *make_meta(const lm_opts *o, const born_gpt_config *c, uint64_t draws) {
    born_string_map *m = born_string_map_new();
    if (!m) return NULL;
    born_string_map_set(m, "train_lm.arch", c->llama ? "llama" : "gpt2");
    meta_set_int(m, "train_lm.vocab", c->vocab_size);
    meta_set_int(m, "train_lm.context", c->block_size);
    meta_set_int(m, "train_lm.layers", c->n_layer);
    meta_set_int(m, "train_lm.heads", c->n_head);
    meta_set_int(m, "train_lm.kv_heads", c->n_kv_head);
    meta_set_int(m, "train_lm.dim", c->n_embd);
    meta_set_int(m, "train_lm.hidden", c->ffn_hidden);
    meta_set_int(m, "train_lm.seed", o->seed);
    char s[32];
    snprintf(s, sizeof s, "%" PRIu64, draws);
    born_string_map_set(m, "train_lm.draws", s);
    born_string_map_set(m, "train_lm.tokenizer", o->tokenizer ? o->tokenizer : "bytes");
    return m;
}

static bool meta_int(const born_string_map *m, const char *key, long long *out, const char *path) {
    const char *v = born_string_map_get(m, key);
    char *end;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || end == v || *end || x < 0) {
        fprintf(stderr, "born train-lm: %s is not a train-lm checkpoint (no valid '%s')\n", path, key);
        return false;
    }
    *out = x;
    return true;
}

/* Reads the model's shape, the seed and the windows drawn so far from a checkpoint's metadata. */
static bool read_resume_meta(lm_opts *o, uint64_t *draws) {
    born_file *f = born_file_open(o->resume, NULL);
    if (!f) {
        fprintf(stderr, "born train-lm: %s\n", born_last_error());
        return false;
    }
    const born_string_map *m = born_file_metadata(f);
    long long d = 0, vocab = 0;
    bool ok = meta_int(m, "train_lm.layers", &o->layers, o->resume) &&
              meta_int(m, "train_lm.heads", &o->heads, o->resume) &&
              meta_int(m, "train_lm.kv_heads", &o->kv_heads, o->resume) &&
              meta_int(m, "train_lm.dim", &o->dim, o->resume) &&
              meta_int(m, "train_lm.context", &o->context, o->resume) &&
              meta_int(m, "train_lm.vocab", &vocab, o->resume) &&
              meta_int(m, "train_lm.seed", &o->seed, o->resume) &&
              meta_int(m, "train_lm.draws", &d, o->resume);
    const char *arch = born_string_map_get(m, "train_lm.arch");
    if (ok && (!arch || (strcmp(arch, "gpt2") && strcmp(arch, "llama")))) {
        fprintf(stderr, "born train-lm: %s has no valid train_lm.arch\n", o->resume);
        ok = false;
    }
    if (ok) o->arch = strcmp(arch, "llama") ? "gpt2" : "llama";
    *draws = (uint64_t)d;
    born_file_close(f);
    return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* Evaluation and sampling.                                                                     */

/* The mean loss over the n validation windows at starts, in batches of at most `batch`. NaN on
 * error. */
static double val_loss(born_module *m, const lm_text *text, const int64_t *starts, int64_t n,
                       int64_t batch, int64_t t) {
    born_module_eval(m);
    born_no_grad_begin();
    double sum = 0;
    bool ok = true;
    for (int64_t i = 0; ok && i < n; i += batch) {
        int64_t b = n - i < batch ? n - i : batch;
        born_scope_begin();
        born_tensor *x, *y;
        born_tensor *loss = NULL;
        if (lm_make_batch(text, starts + i, b, t, &x, &y))
            loss = born_cross_entropy(born_reshape(born_module_forward(m, x), BORN_DIMS(b * t, text->vocab)),
                                      born_reshape(y, BORN_DIMS(b * t)), NULL);
        if (loss) sum += born_item(loss) * (double)b;
        else ok = false;
        born_scope_end();
    }
    born_no_grad_end();
    born_module_train(m, true);
    return ok ? sum / (double)n : NAN;
}

/* Generates n tokens after the prompt (each from at most `context` tokens) and prints them. */
static bool print_sample(born_module *m, const lm_text *text, const int32_t *prompt, int64_t np, int64_t n,
                         int64_t context, const lm_opts *o, uint64_t seed) {
    born_sampler_params sp = born_sampler_default_params();
    sp.seed = seed;
    sp.temperature = (float)o->temperature;
    sp.top_k = (int32_t)o->top_k;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    born_sampler *s = born_sampler_new(&sp, (int32_t)text->vocab);
    int32_t *ids = malloc((size_t)(np + n) * sizeof *ids);
    int64_t *ctx = malloc((size_t)(np + n) * sizeof *ctx);
    bool ok = s && ids && ctx;
    for (int64_t i = 0; ok && i < np; i++) ctx[i] = ids[i] = prompt[i];
    born_module_eval(m);
    born_no_grad_begin();
    for (int64_t i = np; ok && i < np + n; i++) {
        born_scope_begin();
        int64_t start = i > context ? i - context : 0, len = i - start;
        born_tensor *x = born_from_data(BORN_I64, BORN_DIMS(1, len), ctx + start, (size_t)len * sizeof *ctx);
        born_tensor *last = born_contiguous(born_to_dtype(
            born_select(born_select(born_module_forward(m, x), 0, 0), 0, len - 1), BORN_F32));
        int32_t tok = last ? born_sampler_sample(s, born_data_ptr(last)) : -1;
        if (tok < 0) ok = false;
        else {
            born_sampler_accept(s, tok);
            ctx[i] = ids[i] = tok;
        }
        born_scope_end();
    }
    born_no_grad_end();
    born_module_train(m, true);
    size_t len = 0;
    char *str = ok ? lm_text_decode(text, ids, np + n, &len) : NULL;
    bool printed = str != NULL;
    if (printed) {
        printf("--- sample ---\n");
        fwrite(str, 1, len, stdout);
        printf("\n--------------\n");
        fflush(stdout);
    }
    free(str);
    free(ids);
    free(ctx);
    born_sampler_free(s);
    return printed;
}

/* ------------------------------------------------------------------------------------------ */
/* The progress bar: step, mean loss of the last steps, tokens/s, time left.                    */

typedef struct lm_bar {
    FILE *out;
    bool tty;
    double last_draw;
} lm_bar;

static void bar_draw(lm_bar *b, int64_t step, int64_t first, int64_t last, double loss, double tps, double secs) {
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int64_t done = step - first + 1, total = last - first + 1;
    for (int i = 0; i < WIDTH; i++) bar[i] = i < WIDTH * done / total ? '#' : '-';
    bar[WIDTH] = 0;
    double eta = done > 0 ? secs / (double)done * (double)(total - done) : 0;
    fprintf(b->out, "\rstep %lld/%lld [%s] loss %.4f  %.0f tokens/s  ETA %.0fs ", (long long)step,
            (long long)last, bar, loss, tps, eta);
    fflush(b->out);
}

static void bar_clear(lm_bar *b) {
    if (b->tty) {
        fprintf(b->out, "\r%*s\r", 78, "");
        fflush(b->out);
    }
}

/* ------------------------------------------------------------------------------------------ */

static bool save_checkpoint(const char *path, born_module *m, born_optimizer *opt, int64_t step,
                            const lm_opts *o, const born_gpt_config *c, uint64_t draws) {
    born_string_map *meta = make_meta(o, c, draws);
    born_checkpoint ck = {m, opt, NULL, NULL, step, meta};
    born_status st = meta ? born_checkpoint_save(path, &ck) : BORN_ERR_MEMORY;
    born_string_map_free(meta);
    if (st != BORN_OK) fprintf(stderr, "born train-lm: saving %s: %s\n", path, born_last_error());
    return st == BORN_OK;
}

static bool write_init(const char *path, born_module *m, const lm_opts *o, const born_gpt_config *c) {
    born_string_map *meta = make_meta(o, c, 0);
    born_tensor_list *sd = born_module_state_dict(m);
    born_status st = meta && sd ? born_safetensors_save(path, sd, meta) : born_last_status();
    born_tensor_list_free(sd);
    born_string_map_free(meta);
    if (st != BORN_OK) fprintf(stderr, "born train-lm: --init-out %s: %s\n", path, born_last_error());
    else printf("initial weights written to %s\n", path);
    return st == BORN_OK;
}

typedef struct lm_run {
    lm_opts o;
    lm_text text;
    born_gpt_config cfg;
    born_module *model;
    born_optimizer *opt;
    born_tensor **params;
    int64_t nparams;
    int64_t *val_starts, *starts;
    FILE *log;
    uint64_t draws; /* training windows drawn so far */
    int64_t step;   /* steps done */
} lm_run;

static int train(lm_run *r) {
    lm_opts *o = &r->o;
    int64_t t = r->cfg.block_size, b = o->batch;
    int64_t last = o->stop_after && o->stop_after < o->steps ? o->stop_after : o->steps;
    uint64_t state = (uint64_t)o->seed + r->draws * LM_SPLITMIX_GAMMA;
    lm_bar bar = {stderr, isatty(fileno(stderr)) != 0, 0};
    int64_t first = r->step + 1;
    double secs = 0, recent = 0;
    double phase[7] = {0}; /* forward, loss, backward, clip, optimizer, zero_grad, frees */
    int64_t nrecent = 0;
    int32_t *prompt = NULL;
    int64_t np = 0;
    if (o->sample_tokens > 0) {
        if (o->prompt && *o->prompt) {
            size_t n = strlen(o->prompt);
            if (r->text.bpe) {
                if (born_tokenizer_encode(r->text.bpe, o->prompt, n, false, false, &prompt, &n) != BORN_OK) {
                    fprintf(stderr, "born train-lm: --prompt: %s\n", born_last_error());
                    return 1;
                }
            } else {
                prompt = malloc(n * sizeof *prompt);
                for (size_t i = 0; prompt && i < n; i++) prompt[i] = (unsigned char)o->prompt[i];
            }
            np = (int64_t)n;
        } else {
            np = r->text.n - r->text.split < 16 ? r->text.n - r->text.split : 16;
            prompt = malloc((size_t)np * sizeof *prompt);
            if (prompt) memcpy(prompt, r->text.ids + r->text.split, (size_t)np * sizeof *prompt);
        }
        if (!prompt) {
            fprintf(stderr, "born train-lm: out of memory\n");
            return 1;
        }
        if (np > t) {
            fprintf(stderr, "born train-lm: the prompt has %lld tokens, more than the context %lld\n",
                    (long long)np, (long long)t);
            free(prompt);
            return 1;
        }
    }
    int status = 0;
    if (r->step == 0) {
        double v = val_loss(r->model, &r->text, r->val_starts, o->eval_windows, b, t);
        if (isnan(v)) {
            fprintf(stderr, "born train-lm: validation: %s\n", born_last_error());
            status = 1;
        } else {
            printf("step 0: val loss %.4f\n", v);
            if (r->log) fprintf(r->log, "0,,%.6f,\n", v);
        }
    }
    for (int64_t step = first; status == 0 && step <= last; step++) {
        double t0 = progress_now();
        born_scope_begin();
        born_tensor *x, *y, *loss = NULL;
        lm_draw_starts(&state, 0, r->text.split, t, b, r->starts);
        born_status st = born_optimizer_set_lr(r->opt, lr_at(o, step - 1));
        double tp[8];
        tp[0] = progress_now();
        born_tensor *logits = NULL;
        if (st == BORN_OK && lm_make_batch(&r->text, r->starts, b, t, &x, &y))
            logits = born_reshape(born_module_forward(r->model, x), BORN_DIMS(b * t, r->cfg.vocab_size));
        tp[1] = progress_now();
        if (logits) loss = born_cross_entropy(logits, born_reshape(y, BORN_DIMS(b * t)), NULL);
        double lv = loss ? born_item(loss) : NAN;
        tp[2] = progress_now();
        bool ok = loss && born_backward(loss) == BORN_OK;
        tp[3] = progress_now();
        ok = ok && (o->clip <= 0 || born_clip_grad_norm(r->params, r->nparams, o->clip, 2.0, NULL) == BORN_OK);
        tp[4] = progress_now();
        ok = ok && born_optimizer_step(r->opt) == BORN_OK;
        tp[5] = progress_now();
        if (!ok) {
            fprintf(stderr, "born train-lm: step %lld: %s\n", (long long)step, born_last_error());
            status = 1;
        }
        born_optimizer_zero_grad(r->opt);
        tp[6] = progress_now();
        born_scope_end();
        tp[7] = progress_now();
        for (int i = 0; i < 7; i++) phase[i] += tp[i + 1] - tp[i];
        if (status) break;
        secs += progress_now() - t0;
        r->draws += (uint64_t)b;
        r->step = step;
        recent += lv;
        nrecent++;
        double tps = (double)((step - first + 1) * b * t) / secs;
        if (bar.tty && (progress_now() - bar.last_draw >= 0.1 || step == last)) {
            bar_draw(&bar, step, first, last, recent / (double)nrecent, tps, secs);
            bar.last_draw = progress_now();
        }
        bool eval = step % o->eval_every == 0 || step == o->steps || step == last;
        double v = NAN;
        if (eval) {
            v = val_loss(r->model, &r->text, r->val_starts, o->eval_windows, b, t);
            if (isnan(v)) {
                fprintf(stderr, "born train-lm: validation at step %lld: %s\n", (long long)step, born_last_error());
                status = 1;
                break;
            }
            bar_clear(&bar);
            printf("step %lld/%lld: train loss %.4f, val loss %.4f, lr %.3g, %.0f tokens/s\n", (long long)step,
                   (long long)o->steps, recent / (double)nrecent, v, lr_at(o, step - 1), tps);
            fflush(stdout);
            recent = 0, nrecent = 0;
            if (o->sample_tokens > 0 &&
                !print_sample(r->model, &r->text, prompt, np, o->sample_tokens, t, o, (uint64_t)o->seed + (uint64_t)step)) {
                fprintf(stderr, "born train-lm: sampling at step %lld: %s\n", (long long)step, born_last_error());
                status = 1;
            }
        }
        if (r->log) {
            fprintf(r->log, "%lld,%.6f,", (long long)step, lv);
            if (eval) fprintf(r->log, "%.6f", v);
            fprintf(r->log, ",%.1f\n", tps);
            fflush(r->log);
        }
        if (status == 0 && o->save_every && step % o->save_every == 0 && step != last &&
            !save_checkpoint(o->save, r->model, r->opt, step, o, &r->cfg, r->draws))
            status = 1;
    }
    bar_clear(&bar);
    free(prompt);
    const char *prof = getenv("BORN_PROFILE");
    if (prof && *prof && strcmp(prof, "0") && r->step >= first) {
        static const char *names[7] = {"forward", "loss", "backward", "clip", "optimizer", "zero_grad", "frees"};
        double n = (double)(r->step - first + 1);
        for (int i = 0; i < 7; i++)
            fprintf(stderr, "BORN_PROFILE phase %-10s %8.1f ms/step\n", names[i], 1e3 * phase[i] / n);
    }
    if (status == 0) {
        if (!save_checkpoint(o->save, r->model, r->opt, r->step, o, &r->cfg, r->draws)) return 1;
        printf("trained steps %lld-%lld in %.1f s (%.0f tokens/s); checkpoint %s\n", (long long)first,
               (long long)r->step, secs, secs > 0 ? (double)((r->step - first + 1) * b * t) / secs : 0.0, o->save);
    }
    return status;
}

static int setup_and_train(lm_run *r) {
    lm_opts *o = &r->o;
    char err[1024];
    if (o->resume && !read_resume_meta(o, &r->draws)) return 1;
    if (!lm_text_load(o->text, o->tokenizer, &r->text, err, sizeof err)) {
        fprintf(stderr, "born train-lm: %s\n", err);
        return 1;
    }
    bool llama = !strcmp(o->arch, "llama");
    born_gpt_config *c = &r->cfg;
    *c = born_gpt_default_config(llama);
    c->vocab_size = r->text.vocab;
    c->block_size = o->context, c->n_layer = o->layers, c->n_head = o->heads, c->n_embd = o->dim;
    c->n_kv_head = o->kv_heads ? o->kv_heads : o->heads;
    /* LLaMA's SwiGLU hidden size: 2/3 of 4 * dim, rounded up to a multiple of 16 */
    c->ffn_hidden = llama ? ((8 * o->dim / 3 + 15) / 16) * 16 : 4 * o->dim;
    int64_t ntrain = r->text.split, nval = r->text.n - r->text.split;
    if (ntrain <= c->block_size || nval <= c->block_size) {
        fprintf(stderr, "born train-lm: %s: %lld tokens split into %lld for training and %lld for validation; "
                "each part needs more than one window of --context %lld tokens\n", o->text, (long long)r->text.n,
                (long long)ntrain, (long long)nval, (long long)c->block_size);
        return 1;
    }
    born_generator *gen = born_generator_new((uint64_t)o->seed);
    r->model = gen ? born_gpt_new(c, gen) : NULL;
    born_generator_free(gen);
    if (!r->model) {
        fprintf(stderr, "born train-lm: %s\n", born_last_error());
        return 1;
    }
    r->params = born_module_parameters(r->model, &r->nparams);
    born_adam_params ap = born_adamw_default_params();
    ap.lr = o->lr, ap.betas[0] = o->beta1, ap.betas[1] = o->beta2, ap.weight_decay = o->weight_decay;
    r->opt = r->params ? born_adamw(r->params, r->nparams, &ap) : NULL;
    if (!r->opt) {
        fprintf(stderr, "born train-lm: %s\n", born_last_error());
        return 1;
    }
    if (o->resume) {
        born_checkpoint ck = {r->model, r->opt, NULL, NULL, 0, NULL};
        if (born_checkpoint_load(o->resume, &ck) != BORN_OK) {
            fprintf(stderr, "born train-lm: %s\n", born_last_error());
            return 1;
        }
        r->step = ck.step;
        if (r->step >= o->steps) {
            fprintf(stderr, "born train-lm: %s is at step %lld already; --steps is %lld\n", o->resume,
                    (long long)r->step, (long long)o->steps);
            return 1;
        }
    }
    if (o->init_out && !write_init(o->init_out, r->model, o, c)) return 1;
    r->val_starts = malloc((size_t)o->eval_windows * sizeof *r->val_starts);
    r->starts = malloc((size_t)o->batch * sizeof *r->starts);
    if (!r->val_starts || !r->starts) {
        fprintf(stderr, "born train-lm: out of memory\n");
        return 1;
    }
    uint64_t vstate = (uint64_t)o->seed ^ LM_VAL_STREAM_XOR;
    lm_draw_starts(&vstate, r->text.split, r->text.n, c->block_size, o->eval_windows, r->val_starts);
    if (o->log) {
        struct stat st;
        bool append = o->resume && stat(o->log, &st) == 0 && st.st_size > 0;
        r->log = fopen(o->log, append ? "a" : "w");
        if (!r->log) {
            fprintf(stderr, "born train-lm: --log %s: %s\n", o->log, strerror(errno));
            return 1;
        }
        if (!append) fprintf(r->log, "step,train_loss,val_loss,tokens_per_s\n");
    }
    printf("born train-lm: %s, %lld tokens (%s, vocabulary %lld): %lld train, %lld validation\n", o->text,
           (long long)r->text.n, r->text.bpe ? "BPE" : "bytes", (long long)r->text.vocab, (long long)ntrain,
           (long long)nval);
    printf("%s: %lld layers, %lld heads (%lld kv), dim %lld, context %lld: %lld parameters\n", o->arch,
           (long long)c->n_layer, (long long)c->n_head, (long long)c->n_kv_head, (long long)c->n_embd,
           (long long)c->block_size, (long long)born_module_num_parameters(r->model));
    printf("AdamW lr %g (warm-up %lld, cosine to %g), betas %g/%g, weight decay %g, clip %g; batch %lld x %lld "
           "tokens, %lld steps%s, %d threads\n", o->lr, o->warmup, o->min_lr, o->beta1, o->beta2, o->weight_decay,
           o->clip, o->batch, (long long)c->block_size, o->steps, o->resume ? " (resumed)" : "", born_get_num_threads());
    if (o->resume) printf("resuming from %s at step %lld\n", o->resume, (long long)r->step);
    fflush(stdout);
    return train(r);
}

int cmd_train_lm(int argc, char **argv) {
    lm_run r;
    memset(&r, 0, sizeof r);
    born_clear_error(); /* a recorded error fails later calls (autograd checks it) */
    int status = parse_args(argc, argv, &r.o);
    if (status) return status < 0 ? 0 : status;
    if (r.o.threads > 0 && born_set_num_threads((int)r.o.threads) != BORN_OK) {
        fprintf(stderr, "born train-lm: %s\n", born_last_error());
        return 2;
    }
    status = setup_and_train(&r);
    if (r.log && fclose(r.log) != 0 && status == 0) {
        fprintf(stderr, "born train-lm: --log %s: %s\n", r.o.log, strerror(errno));
        status = 1;
    }
    free(r.val_starts);
    free(r.starts);
    born_optimizer_free(r.opt);
    free(r.params);
    born_module_free(r.model);
    lm_text_free(&r.text);
    return status;
}
