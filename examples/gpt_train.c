/* Train a small GPT on a text file with Born, then sample from it: the whole program.
 *
 *   make && ./build/examples/gpt_train data/text/genesis-1-11.txt
 *   ./build/examples/gpt_train FILE [--llama] [--bpe DIR] [--layers N] [--heads N] [--kv-heads N]
 *                              [--dim N] [--context N] [--batch N] [--steps N] [--lr X] [--seed N]
 *                              [--bf16]
 *
 * GPT-2 style by default (learned positions, LayerNorm, GELU-tanh, tied embeddings); --llama
 * gives RMSNorm, RoPE, SwiGLU and grouped-query attention. Tokens are the text's characters
 * (bytes), or GPT-2's BPE with --bpe DIR (a folder with vocab.json and merges.txt). The text is
 * split 90/10 into training and validation; random windows of `context` tokens are trained
 * with AdamW, the losses printed every 20 steps, and a continuation sampled at the end. --bf16
 * runs the forward under bf16 autocast (matrix products in bf16 with f32 sums, as
 * torch.autocast(dtype=torch.bfloat16); the loss from f32 logits), parameters and optimizer in
 * f32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"

static void check(bool ok, const char *what) {
    if (ok) return;
    fprintf(stderr, "%s: %s\n", what, born_last_error());
    exit(1);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

/* The token stream and how to print tokens: either characters (bytes, renumbered densely) or
 * GPT-2 BPE. */
typedef struct tokens {
    int32_t *ids;
    int64_t n;
    int64_t vocab;
    unsigned char chars[256]; /* character level: id -> byte */
    born_tokenizer *bpe;
} tokens;

static void tokenize(tokens *tk, const char *text, size_t len, const char *bpe_dir) {
    if (bpe_dir) {
        char v[512], m[512];
        snprintf(v, sizeof v, "%s/vocab.json", bpe_dir);
        snprintf(m, sizeof m, "%s/merges.txt", bpe_dir);
        tk->bpe = born_tokenizer_load_vocab_merges(v, m);
        check(tk->bpe != NULL, "loading the BPE tokenizer");
        size_t n;
        check(born_tokenizer_encode(tk->bpe, text, len, false, false, &tk->ids, &n) == BORN_OK,
              "tokenizing");
        tk->n = (int64_t)n;
        tk->vocab = born_tokenizer_vocab_size(tk->bpe);
        return;
    }
    int id_of[256];
    bool seen[256] = {false};
    for (size_t i = 0; i < len; i++) seen[(unsigned char)text[i]] = true;
    tk->vocab = 0;
    for (int c = 0; c < 256; c++)
        if (seen[c]) {
            id_of[c] = (int)tk->vocab;
            tk->chars[tk->vocab++] = (unsigned char)c;
        }
    tk->ids = malloc(len * sizeof *tk->ids);
    check(tk->ids != NULL, "allocating the tokens");
    for (size_t i = 0; i < len; i++) tk->ids[i] = id_of[(unsigned char)text[i]];
    tk->n = (int64_t)len;
}

static void print_token(const tokens *tk, int32_t id) {
    if (!tk->bpe) {
        putchar(tk->chars[id]);
        return;
    }
    char *s;
    size_t n;
    if (born_tokenizer_decode(tk->bpe, &id, 1, false, &s, &n) == BORN_OK) {
        fwrite(s, 1, n, stdout);
        free(s);
    }
}

/* A batch of `batch` random windows from ids[lo, hi): x [B, T] and y (x shifted by one). */
static void get_batch(const tokens *tk, int64_t lo, int64_t hi, int64_t batch, int64_t t,
                      born_generator *gen, born_tensor **x, born_tensor **y) {
    born_tensor *starts = born_randint(gen, lo, hi - t - 1, BORN_I64, BORN_DIMS(batch));
    check(starts != NULL, "drawing a batch");
    const int64_t *s = born_data_ptr(starts);
    *x = born_empty(BORN_I64, BORN_DIMS(batch, t));
    *y = born_empty(BORN_I64, BORN_DIMS(batch, t));
    check(*x && *y, "making a batch");
    int64_t *xp = born_data_ptr(*x), *yp = born_data_ptr(*y);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < t; i++) {
            xp[b * t + i] = tk->ids[s[b] + i];
            yp[b * t + i] = tk->ids[s[b] + i + 1];
        }
    born_free(starts);
}

static double batch_loss(born_module *model, born_tensor *x, born_tensor *y, int64_t vocab) {
    int64_t n = born_tensor_numel(y);
    born_tensor *logits = born_reshape(born_module_forward(model, x), BORN_DIMS(n, vocab));
    born_tensor *loss = born_cross_entropy(logits, born_reshape(y, BORN_DIMS(n)), NULL);
    check(loss != NULL, "the loss");
    return born_item(loss);
}

/* Mean loss over `batches` random batches of ids[lo, hi), without a graph. */
static double estimate_loss(born_module *model, const tokens *tk, int64_t lo, int64_t hi,
                            int64_t batch, int64_t t, born_generator *gen, int batches) {
    born_module_eval(model);
    born_no_grad_begin();
    double sum = 0;
    for (int i = 0; i < batches; i++) {
        born_scope_begin();
        born_tensor *x, *y;
        get_batch(tk, lo, hi, batch, t, gen, &x, &y);
        sum += batch_loss(model, x, y, tk->vocab);
        born_free(x);
        born_free(y);
        born_scope_end();
    }
    born_no_grad_end();
    born_module_train(model, true);
    return sum / batches;
}

/* Samples n tokens after the prompt ids (temperature 1), feeding at most block_size tokens. */
static void sample(born_module *model, const tokens *tk, const int32_t *prompt, int64_t np,
                   int64_t n, int64_t block, born_generator *gen) {
    int64_t len = np + n;
    int64_t *ctx = malloc((size_t)len * sizeof *ctx);
    check(ctx != NULL, "allocating the sample");
    for (int64_t i = 0; i < np; i++) {
        ctx[i] = prompt[i];
        print_token(tk, prompt[i]);
    }
    born_module_eval(model);
    born_no_grad_begin();
    for (int64_t i = np; i < len; i++) {
        born_scope_begin();
        int64_t start = i > block ? i - block : 0;
        born_tensor *x = born_from_data(BORN_I64, BORN_DIMS(1, i - start), ctx + start,
                                         (size_t)(i - start) * sizeof *ctx);
        born_tensor *logits = born_module_forward(model, x);
        born_tensor *last = born_contiguous(born_select(born_select(logits, 0, 0), 0, i - start - 1));
        born_tensor *probs = born_contiguous(born_softmax(born_to_dtype(last, BORN_F64), 0));
        born_tensor *u = born_rand(gen, BORN_F64, BORN_DIMS(1));
        check(probs && u, "sampling");
        const double *p = born_data_ptr(probs);
        double r = *(const double *)born_data_ptr(u), acc = 0;
        int64_t pick = tk->vocab - 1;
        for (int64_t v = 0; v < tk->vocab; v++) {
            acc += p[v];
            if (r < acc) {
                pick = v;
                break;
            }
        }
        ctx[i] = pick;
        print_token(tk, (int32_t)pick);
        born_scope_end();
    }
    born_no_grad_end();
    putchar('\n');
    free(ctx);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [--llama] [--bpe DIR] [--layers N] [--heads N] "
                "[--kv-heads N] [--dim N] [--context N] [--batch N] [--steps N] [--lr X] "
                "[--seed N] [--sample N] [--bf16]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1], *bpe_dir = NULL;
    bool llama = false, bf16 = false;
    born_gpt_config cfg = born_gpt_default_config(false);
    cfg.n_kv_head = 0;
    int64_t batch = 16, steps = 200, seed = 1337, sample_tokens = 200;
    double lr = 3e-3;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "0";
        if (strcmp(a, "--llama") == 0) { llama = true; continue; }
        if (strcmp(a, "--bf16") == 0) { bf16 = true; continue; }
        if (strcmp(a, "--bpe") == 0) bpe_dir = v;
        else if (strcmp(a, "--layers") == 0) cfg.n_layer = atoll(v);
        else if (strcmp(a, "--heads") == 0) cfg.n_head = atoll(v);
        else if (strcmp(a, "--kv-heads") == 0) cfg.n_kv_head = atoll(v);
        else if (strcmp(a, "--dim") == 0) cfg.n_embd = atoll(v);
        else if (strcmp(a, "--context") == 0) cfg.block_size = atoll(v);
        else if (strcmp(a, "--batch") == 0) batch = atoll(v);
        else if (strcmp(a, "--steps") == 0) steps = atoll(v);
        else if (strcmp(a, "--lr") == 0) lr = atof(v);
        else if (strcmp(a, "--seed") == 0) seed = atoll(v);
        else if (strcmp(a, "--sample") == 0) sample_tokens = atoll(v); /* 0: none */
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    cfg.llama = llama;
    if (cfg.n_kv_head == 0) cfg.n_kv_head = llama ? (cfg.n_head > 1 ? cfg.n_head / 2 : 1) : cfg.n_head;
    /* LLaMA's SwiGLU hidden size: 2/3 of 4 * dim, rounded up to a multiple of 16 */
    cfg.ffn_hidden = llama ? ((8 * cfg.n_embd / 3 + 15) / 16) * 16 : 4 * cfg.n_embd;

    /* 1. Data: the text as tokens, 90% for training, 10% for validation. */
    size_t len;
    char *text = read_file(path, &len);
    check(text != NULL && len > 0, "reading the text");
    tokens tk;
    memset(&tk, 0, sizeof tk);
    tokenize(&tk, text, len, bpe_dir);
    int64_t split = tk.n * 9 / 10;
    if (split - cfg.block_size - 1 < 1 || tk.n - split - cfg.block_size - 1 < 1) {
        fprintf(stderr, "%s: %lld tokens are too few for a context of %lld\n", path,
                (long long)tk.n, (long long)cfg.block_size);
        return 1;
    }
    cfg.vocab_size = tk.vocab;
    printf("%s: %lld tokens (%s), vocabulary %lld\n", path, (long long)tk.n,
           bpe_dir ? "GPT-2 BPE" : "characters", (long long)tk.vocab);

    /* 2. Model and optimizer. */
    born_generator *gen = born_generator_new((uint64_t)seed);
    born_module *model = born_gpt_new(&cfg, gen);
    check(model != NULL, "building the model");
    char *summary = born_module_summary(model);
    printf("%s\n", summary);
    free(summary);
    int64_t nparams;
    born_tensor **params = born_module_parameters(model, &nparams);
    born_adam_params ap = born_adamw_default_params();
    ap.lr = lr;
    ap.betas[1] = 0.99;
    ap.weight_decay = 0.1;
    born_optimizer *opt = born_adamw(params, nparams, &ap);
    free(params);
    check(opt != NULL, "making the optimizer");

    /* 3. Training: random windows, one AdamW step each. */
    struct timespec t0, t1;
    double recent = 0, train_secs = 0; /* time in training steps only, not in evaluation */
    for (int64_t step = 1; step <= steps; step++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        born_scope_begin();
        born_tensor *x, *y;
        get_batch(&tk, 0, split, batch, cfg.block_size, gen, &x, &y);
        int64_t n = born_tensor_numel(y);
        if (bf16) check(born_autocast_begin(BORN_BF16) == BORN_OK, "autocast");
        born_tensor *logits = born_module_forward(model, x);
        if (bf16) {
            born_autocast_end();
            logits = born_to_dtype(logits, BORN_F32);
        }
        born_tensor *loss = born_cross_entropy(born_reshape(logits, BORN_DIMS(n, cfg.vocab_size)),
                                               born_reshape(y, BORN_DIMS(n)), NULL);
        check(loss && born_backward(loss) == BORN_OK, "the training step");
        check(born_optimizer_step(opt) == BORN_OK, "the optimizer step");
        born_optimizer_zero_grad(opt);
        recent += born_item(loss);
        born_free(x);
        born_free(y);
        born_scope_end();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        train_secs += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (step % 20 == 0 || step == steps) {
            int64_t k = step % 20 ? step % 20 : 20;
            double val = estimate_loss(model, &tk, split, tk.n, batch, cfg.block_size, gen, 4);
            printf("step %4lld: train loss %.4f, val loss %.4f, %.0f tokens/s\n", (long long)step,
                   recent / (double)k, val, (double)(step * batch * cfg.block_size) / train_secs);
            fflush(stdout);
            recent = 0;
        }
    }

    /* 4. A continuation of the start of the validation text. */
    if (sample_tokens > 0) {
        printf("--- sample ---\n");
        int64_t np = cfg.block_size < 16 ? cfg.block_size : 16;
        sample(model, &tk, tk.ids + split, np, sample_tokens, cfg.block_size, gen);
    }

    born_optimizer_free(opt);
    born_module_free(model);
    born_generator_free(gen);
    born_tokenizer_free(tk.bpe);
    free(tk.ids);
    free(text);
    return 0;
}
