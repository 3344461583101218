/* LLaMA-like 1B bf16 decode at batch 1 on the GPU (issue 8): writes a random-weight GGUF with
 * Born's GGUF writer when the file is missing (dim 2048, 16 layers, 32 heads over 8 kv heads of
 * 64, FFN 8192, vocabulary 32000, untied output: 2.08 GB of weights read per token), loads it on
 * cuda:0, times a prompt of CTX random tokens batched (llm_device_ops.prefill) and token by token
 * (the decode step's graph a token), and prompts of 2..64 tokens both ways (where batching starts
 * to pay), then decodes N tokens greedily (each token's logits copied back and the next token
 * picked on the host), and prints tok/s beside the bandwidth limit: the bytes of weights a token
 * reads over a device-to-device copy's bandwidth measured in the same run. Also times the same
 * decode with the tokens chosen on the device (born_session_decode_greedy: no host round trip a
 * token, as PyTorch's loop) and launching the kernels one by one (no CUDA graph). TYPE q4_0 or
 * q8_0 writes the matrices as random blocks of that type instead (d = 2^-8; a file of its own).
 * Last, B = 1, 4, 16, 64 sessions at position CTX decode together (born_session_eval_batch: one
 * forward pass a step for all of them, logits back and the next tokens picked on the host, then
 * with the tokens chosen on the device by born_session_decode_greedy_batch): tok/s in all and ms
 * a step, beside the single session's graph decode (LLM_BENCH_NO_BATCH=1 leaves the batches out).
 * Usage: llm_decode_born MODEL.gguf [N=256] [CTX=512] [TYPE=bf16] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"
#include "llm/model/model_internal.h"

#ifndef LLM_BENCH_SMALL
enum { DIM = 2048, LAYERS = 16, HEADS = 32, KV_HEADS = 8, FFN = 8192, VOCAB = 32000 };
#else /* a check of the writer on a machine without a GPU */
enum { DIM = 256, LAYERS = 2, HEADS = 4, KV_HEADS = 2, FFN = 512, VOCAB = 1000 };
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

/* bf16 of a uniform value in [-scale, scale) */
static uint16_t rand_bf16(float scale) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    float f = ((float)(rng >> 40) / 16777216.0f * 2.0f - 1.0f) * scale;
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

/* The matrices' type (bf16, or random Q4_0 / Q8_0 blocks). */
static born_dtype wtype = BORN_BF16;

/* Random blocks of a Q4_0 / Q8_0 matrix of n elements: d = 2^-8 (f16 0x1C00), random levels. */
static void rand_blocks(uint8_t *buf, int64_t n) {
    const size_t bb = born_dtype_block_bytes(wtype);
    for (int64_t b = 0; b < n / 32; b++) {
        uint8_t *blk = buf + (size_t)b * bb;
        blk[0] = 0x00;
        blk[1] = 0x1C;
        for (size_t i = 2; i < bb; i++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            blk[i] = (uint8_t)(rng >> 32);
        }
    }
}

static born_status put(born_gguf_writer *w, const char *name, int64_t rows, int64_t cols) {
    const bool vec = rows == 0;
    const int64_t n = vec ? cols : rows * cols;
    const size_t bytes = vec ? (size_t)n * 4
                             : (size_t)(n / born_dtype_block_size(wtype)) * born_dtype_block_bytes(wtype);
    void *buf = malloc(bytes);
    if (!buf) return BORN_ERR_MEMORY;
    if (vec)
        for (int64_t i = 0; i < n; i++)
            ((float *)buf)[i] = 1.0f;
    else if (wtype == BORN_BF16)
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)buf)[i] = rand_bf16(0.03f);
    else
        rand_blocks(buf, n);
    int64_t shape[2] = {rows, cols};
    born_scope_begin();
    born_tensor *t = vec ? born_from_buffer(BORN_F32, 1, &cols, buf, bytes, NULL, NULL)
                         : born_from_buffer(wtype, 2, shape, buf, bytes, NULL, NULL);
    born_status st = t ? born_gguf_writer_write_tensor(w, name, t) : born_last_status();
    born_scope_end();
    free(buf);
    return st;
}

/* The tensors in file order: name, rows (0: an f32 vector), cols. */
static int tensor_list(char names[][48], int64_t rows[], int64_t cols[]) {
    int n = 0;
#define T(nm, r, c) (snprintf(names[n], 48, "%s", nm), rows[n] = r, cols[n] = c, n++)
    T("token_embd.weight", VOCAB, DIM);
    for (int l = 0; l < LAYERS; l++) {
        const int hd = DIM / HEADS;
        const char *sfx[] = {"attn_norm.weight", "attn_q.weight",      "attn_k.weight",
                             "attn_v.weight",    "attn_output.weight", "ffn_norm.weight",
                             "ffn_gate.weight",  "ffn_up.weight",      "ffn_down.weight"};
        const int64_t r[] = {0, DIM, KV_HEADS * hd, KV_HEADS * hd, DIM, 0, FFN, FFN, DIM};
        const int64_t c[] = {DIM, DIM, DIM, DIM, DIM, DIM, DIM, DIM, FFN};
        for (int i = 0; i < 9; i++) {
            snprintf(names[n], 48, "blk.%d.%s", l, sfx[i]);
            rows[n] = r[i];
            cols[n] = c[i];
            n++;
        }
    }
    T("output_norm.weight", 0, DIM);
    T("output.weight", VOCAB, DIM);
#undef T
    return n;
}

static bool write_model(const char *path) {
    static char names[8 + LAYERS * 9][48];
    static int64_t rows[8 + LAYERS * 9], cols[8 + LAYERS * 9];
    const int n = tensor_list(names, rows, cols);
    born_gguf_writer *w = born_gguf_writer_open(path);
    if (!w) return false;
    born_status st = born_gguf_writer_set_string(w, "general.architecture", "llama");
    const char *ku[] = {"llama.context_length",       "llama.embedding_length",
                        "llama.block_count",          "llama.feed_forward_length",
                        "llama.attention.head_count", "llama.attention.head_count_kv"};
    const uint32_t kv[] = {4096, DIM, LAYERS, FFN, HEADS, KV_HEADS};
    for (int i = 0; i < 6 && st == BORN_OK; i++)
        st = born_gguf_writer_set_u32(w, ku[i], kv[i]);
    if (st == BORN_OK)
        st = born_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    if (st == BORN_OK) st = born_gguf_writer_set_f32(w, "llama.rope.freq_base", 500000.0f);
    /* llama.cpp's file types: bf16 32, q4_0 2, q8_0 7 */
    const uint32_t ftype = wtype == BORN_BF16 ? 32 : wtype == BORN_Q4_0 ? 2 : 7;
    if (st == BORN_OK) st = born_gguf_writer_set_u32(w, "general.file_type", ftype);
    for (int i = 0; i < n && st == BORN_OK; i++) {
        int64_t shape[2] = {rows[i], cols[i]};
        st = rows[i] ? born_gguf_writer_declare_tensor(w, names[i], wtype, 2, shape)
                     : born_gguf_writer_declare_tensor(w, names[i], BORN_F32, 1, &cols[i]);
    }
    for (int i = 0; i < n && st == BORN_OK; i++)
        st = put(w, names[i], rows[i], cols[i]);
    if (st != BORN_OK) {
        born_gguf_writer_abort(w);
        return false;
    }
    return born_gguf_writer_finish(w) == BORN_OK;
}

/* Device-to-device copy bandwidth (bytes read + written per second) of a 2 GiB clone. */
static double copy_bandwidth(void) {
    const int64_t n = (int64_t)1 << 29; /* f32: 2 GiB */
    born_scope_begin();
    born_tensor *a = born_to(born_full(BORN_F32, 1, &n, 1.0), BORN_CUDA(0));
    double best = 0;
    for (int r = 0; r < 6 && a; r++) {
        born_scope_begin();
        born_synchronize(BORN_CUDA(0));
        double t0 = now_s();
        born_tensor *b = born_clone(a);
        born_synchronize(BORN_CUDA(0));
        double t = now_s() - t0;
        if (b && r > 0 && 2.0 * 4.0 * (double)n / t > best) best = 2.0 * 4.0 * (double)n / t;
        born_scope_end();
    }
    born_scope_end();
    return best;
}

/* The first largest of x[0..n) (the running maximum in a register: comparing against x[b]
 * reloaded each element ran twice as long on 64 x 32000 logits). */
static int32_t argmax(const float *x, int32_t n) {
    int32_t b = 0;
    float best = x[0];
    for (int32_t i = 1; i < n; i++)
        if (x[i] > best) {
            best = x[i];
            b = i;
        }
    return b;
}

/* Seconds to evaluate prompt[0..n) from position 0 (the best of reps), batched when
 * prefill_min is 1, token by token when 0; -1 on an error. */
static double prompt_time(born_session *s, const int32_t *prompt, int32_t n, int32_t prefill_min, int reps,
                          float *logits) {
    llm_session_set_prefill_min(s, prefill_min);
    double best = -1;
    for (int r = 0; r < reps; r++) {
        if (born_session_rollback(s, 0) != BORN_OK) return -1;
        double t0 = now_s();
        if (born_session_eval(s, prompt, n, logits, false) != BORN_OK) return -1;
        double t = now_s() - t0;
        if (best < 0 || t < best) best = t;
    }
    return best;
}

/* The prompt both ways (after a warm-up of each: scratch, cuBLASLt's choices, the graph), then
 * short prompts both ways; leaves prompt[0..n) evaluated (batched) at the default threshold. */
static bool prompt_speeds(born_session *s, const int32_t *prompt, int32_t n, float *logits) {
    if (prompt_time(s, prompt, n, 1, 1, logits) < 0 || prompt_time(s, prompt, 16, 0, 1, logits) < 0) return false;
    const double tb = prompt_time(s, prompt, n, 1, 3, logits), tt = prompt_time(s, prompt, n, 0, 1, logits);
    if (tb < 0 || tt < 0) return false;
    printf("prompt of %d tokens: batched %.0f tok/s (%.2f ms), token by token %.0f tok/s (%.1f ms): "
           "%.1fx\n",
           (int)n, n / tb, 1e3 * tb, n / tt, 1e3 * tt, tt / tb);
    printf("short prompts, ms batched / token by token:");
    const int32_t small[] = {2, 3, 4, 6, 8, 12, 16, 32, 64};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        const double b = prompt_time(s, prompt, small[i], 1, 3, logits);
        const double t = prompt_time(s, prompt, small[i], 0, 3, logits);
        if (b < 0 || t < 0) return false;
        printf(" %d: %.2f/%.2f;", (int)small[i], 1e3 * b, 1e3 * t);
    }
    printf("\nBORN_PREFILL_TOKS=%.1f BORN_PREFILL_TBT_TOKS=%.1f\n", n / tb, n / tt);
    llm_session_set_prefill_min(s, llm_device_prefill_min(born_session_model(s)));
    return born_session_rollback(s, 0) == BORN_OK && born_session_eval(s, prompt, n, logits, false) == BORN_OK;
}

/* Decodes n tokens greedily from the session's position; seconds. */
static double decode(born_session *s, int32_t first, int32_t n, float *logits, int32_t *last) {
    int32_t tok = first;
    double t0 = now_s();
    for (int32_t i = 0; i < n; i++) {
        if (born_session_eval(s, &tok, 1, logits, false) != BORN_OK) return -1;
        tok = argmax(logits, VOCAB);
    }
    double t = now_s() - t0;
    *last = tok;
    return t;
}

/* How batch_step_time's sessions step: logits to the host and the argmax there, the forward
 * alone, or born_session_decode_greedy_batch (tokens chosen on the device). */
enum { STEP_HOST = 0, STEP_FORWARD = 1, STEP_DEVICE = 2 };

/* B sessions at position ctx (prompts of their own, through one born_session_eval_batch) decode
 * STEPS tokens together, one batch a step with every session's logits copied back and its next
 * token picked on the host (as decode() does for one session; STEP_HOST), the forward alone (no
 * logits, the same tokens again; STEP_FORWARD) or the tokens chosen on the device in one call
 * (STEP_DEVICE), after WARM steps; seconds a step, or -1 on an error. *host_s: of that, the seconds a
 * step this program spent picking tokens from the logits (STEP_HOST). */
static double batch_step_time(born_model *m, int32_t B, int32_t ctx, int mode, double *host_s) {
    const bool with_logits = mode == STEP_HOST;
    enum { WARM = 4, STEPS = 32 };
    born_session_params sp = born_session_default_params();
    sp.n_ctx = ctx + WARM + STEPS + 8;
    born_session **ss = calloc((size_t)B, sizeof *ss);
    int32_t *prompts = malloc((size_t)B * ctx * sizeof *prompts), *n = malloc((size_t)B * sizeof *n),
            *tok = malloc((size_t)B * sizeof *tok);
    const int32_t **tp = malloc((size_t)B * sizeof *tp);
    float *logits = malloc((size_t)B * VOCAB * sizeof *logits);
    float **lp = malloc((size_t)B * sizeof *lp);
    int32_t *chosen = malloc((size_t)B * (WARM + STEPS) * sizeof *chosen);
    double t = -1;
    bool ok = ss && prompts && n && tok && tp && logits && lp && chosen;
    for (int32_t b = 0; ok && b < B; b++) {
        ok = (ss[b] = born_session_new(m, &sp)) != NULL;
        for (int32_t i = 0; i < ctx; i++)
            prompts[(size_t)b * ctx + i] = (int32_t)((i * 7919u + 131u * (uint32_t)b + 13u) % VOCAB);
        tp[b] = prompts + (size_t)b * ctx;
        n[b] = ctx;
        lp[b] = logits + (size_t)b * VOCAB;
    }
    ok = ok && born_session_eval_batch(ss, tp, n, B, lp) == BORN_OK;
    for (int32_t b = 0; ok && b < B; b++) {
        tok[b] = argmax(lp[b], VOCAB);
        tp[b] = &tok[b];
        n[b] = 1;
    }
    double t0 = 0, t_host = 0;
    if (mode == STEP_DEVICE && ok) {
        ok = born_session_decode_greedy_batch(ss, tok, WARM, B, chosen) == BORN_OK;
        for (int32_t b = 0; ok && b < B; b++)
            tok[b] = chosen[(size_t)b * WARM + WARM - 1];
        born_synchronize(BORN_CUDA(0));
        t0 = now_s();
        ok = ok && born_session_decode_greedy_batch(ss, tok, STEPS, B, chosen) == BORN_OK;
    }
    for (int step = 0; ok && mode != STEP_DEVICE && step < WARM + STEPS; step++) {
        if (step == WARM) {
            born_synchronize(BORN_CUDA(0));
            t0 = now_s();
        }
        ok = born_session_eval_batch(ss, tp, n, B, with_logits ? lp : NULL) == BORN_OK;
        const double ta = now_s();
        for (int32_t b = 0; ok && with_logits && b < B; b++)
            tok[b] = argmax(lp[b], VOCAB);
        if (step >= WARM) t_host += now_s() - ta;
    }
    born_synchronize(BORN_CUDA(0));
    if (ok) t = (now_s() - t0) / STEPS;
    if (host_s) *host_s = t_host / STEPS;
    for (int32_t b = 0; ss && b < B; b++)
        born_session_free(ss[b]);
    free(ss);
    free(prompts);
    free(n);
    free(tok);
    free(tp);
    free(logits);
    free(lp);
    free(chosen);
    return t;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: llm_decode_born MODEL.gguf [N=256] [CTX=512] [TYPE=bf16]\n");
        return 2;
    }
    if (argc > 4 && strcmp(argv[4], "bf16") != 0) {
        if (strcmp(argv[4], "q4_0") != 0 && strcmp(argv[4], "q8_0") != 0) {
            fprintf(stderr, "TYPE: bf16, q4_0 or q8_0\n");
            return 2;
        }
        wtype = argv[4][1] == '4' ? BORN_Q4_0 : BORN_Q8_0;
    }
    const char *path = argv[1];
    const int32_t N = argc > 2 ? atoi(argv[2]) : 256, CTX = argc > 3 ? atoi(argv[3]) : 512;
    if (born_device_count(BORN_DEVICE_CUDA) == 0) {
        printf("born llm decode: skipped: no GPU (%s)\n", born_cuda_unavailable_reason());
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
    } else {
        double t0 = now_s();
        if (!write_model(path)) {
            fprintf(stderr, "writing %s: %s\n", path, born_last_error());
            return 1;
        }
        printf("wrote %s in %.1f s\n", path, now_s() - t0);
    }
    const double bw = copy_bandwidth();
    born_model_params mp = born_model_default_params();
    mp.load_tokenizer = false;
    mp.device = BORN_CUDA(0);
    double t0 = now_s();
    born_model *m = born_model_load(path, &mp);
    if (!m) {
        fprintf(stderr, "load: %s\n", born_last_error());
        return 1;
    }
    printf("loaded on cuda:0 in %.2f s\n", now_s() - t0);
    /* the weights a token reads: all but the embedding table (one row of it) */
    const double wbytes = (double)born_model_size_bytes(m) -
                          (double)VOCAB * DIM / born_dtype_block_size(wtype) * born_dtype_block_bytes(wtype);
    born_session_params sp = born_session_default_params();
    sp.n_ctx = CTX + N + 64;
    born_session *s = born_session_new(m, &sp);
    if (!s) {
        fprintf(stderr, "session: %s\n", born_last_error());
        return 1;
    }
    int32_t *prompt = malloc((size_t)CTX * sizeof *prompt);
    float *logits = malloc((size_t)VOCAB * sizeof *logits);
    for (int32_t i = 0; i < CTX; i++)
        prompt[i] = (int32_t)((i * 7919u + 13u) % VOCAB);
    if (!prompt_speeds(s, prompt, CTX, logits)) {
        fprintf(stderr, "prompt: %s\n", born_last_error());
        return 1;
    }
    int32_t last = argmax(logits, VOCAB);
    /* warm-up (captures the graph with logits), then the timed run from position CTX */
    if (decode(s, last, 8, logits, &last) < 0 || born_session_rollback(s, CTX) != BORN_OK) {
        fprintf(stderr, "decode: %s\n", born_last_error());
        return 1;
    }
    const double tg = decode(s, argmax(logits, VOCAB), N, logits, &last);
    /* the same N steps with the tokens chosen on the device (no host round trip a token) */
    born_session_rollback(s, CTX);
    int32_t *chosen = malloc((size_t)N * sizeof *chosen);
    double td = -1;
    if (chosen && born_session_decode_greedy(s, 1, 8, chosen) == BORN_OK) { /* captures its graph */
        born_session_rollback(s, CTX);
        t0 = now_s();
        if (born_session_decode_greedy(s, 1, N, chosen) == BORN_OK) td = now_s() - t0;
    }
    free(chosen);
    born_session_rollback(s, CTX);
    llm_session_set_graph(s, false);
    const int32_t NE = N < 64 ? N : 64;
    const double te = decode(s, 1, NE, logits, &last);
    if (tg < 0 || te < 0 || td < 0) {
        fprintf(stderr, "decode: %s\n", born_last_error());
        return 1;
    }
    const double tps = N / tg, limit = bw / wbytes;
    printf("Born clone bandwidth %.0f GB/s (PyTorch's clone measures more: use its figure for the "
           "limit); weights read per token %.3f GB; bandwidth limit by Born's %.0f tok/s\n",
           bw / 1e9, wbytes / 1e9, limit);
    printf("born decode, batch 1, ctx %d, %d tokens: graph %.1f tok/s (%.3f ms/token, %.1f%% of "
           "the bandwidth limit, %.0f GB/s), eager %.1f tok/s\n",
           (int)CTX, (int)N, tps, 1e3 * tg / N, 100.0 * tps / limit, wbytes * tps / 1e9, NE / te);
    printf(
        "born decode, tokens chosen on the device (born_session_decode_greedy): %.1f tok/s (%.3f "
        "ms/token, %.1f%% of the bandwidth limit)\n",
        N / td, 1e3 * td / N, 100.0 * N / td / limit);
    printf("BORN_GRAPH_TOKS=%.1f BORN_DEVICE_TOKS=%.1f BORN_EAGER_TOKS=%.1f LIMIT_TOKS=%.1f\n", tps,
           N / td, NE / te, limit);
    born_session_free(s);
    s = NULL;
    const int32_t sizes[] = {1, 4, 16, 64};
    const char *skip_batch = getenv("LLM_BENCH_NO_BATCH"); /* set: the single session only */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && !(skip_batch && *skip_batch); i++) {
        double th = 0;
        const double ts = batch_step_time(m, sizes[i], CTX, STEP_HOST, &th),
                     tf = batch_step_time(m, sizes[i], CTX, STEP_FORWARD, NULL),
                     tg = batch_step_time(m, sizes[i], CTX, STEP_DEVICE, NULL);
        if (ts < 0 || tf < 0 || tg < 0) {
            fprintf(stderr, "batched decode of %d sessions: %s\n", (int)sizes[i], born_last_error());
            return 1;
        }
        printf("born batched decode (born_session_eval_batch), %d sessions at ctx %d: %.1f tok/s in all, "
               "%.3f ms a step (%.2fx the single graph decode's tok/s; of it %.3f ms this program's argmax "
               "over the logits); the forward alone %.3f ms BORN_BATCH%d_TOKS=%.1f\n",
               (int)sizes[i], (int)CTX, sizes[i] / ts, 1e3 * ts, sizes[i] / ts / tps, 1e3 * th, 1e3 * tf,
               (int)sizes[i], sizes[i] / ts);
        printf("born batched greedy decode (born_session_decode_greedy_batch, tokens chosen on the device), %d "
               "sessions at ctx %d: %.1f tok/s in all, %.3f ms a step BORN_GREEDY_BATCH%d_TOKS=%.1f\n",
               (int)sizes[i], (int)CTX, sizes[i] / tg, 1e3 * tg, (int)sizes[i], sizes[i] / tg);
    }
    free(prompt);
    free(logits);
    born_session_free(s);
    born_model_free(m);
    return 0;
}
