/* Decoding several sessions together on the CPU: tokens/s of B = 1, 2, 4, 8 sessions of one GGUF
 * model, each after its own random prompt, appending one token a step through one
 * born_session_eval_batch call a step (every weight read once a step) beside B born_session_eval
 * calls a step (every weight read B times), at each thread count given. Both decode the same
 * tokens at the same positions (the sessions are rolled back to their prompts in between), and
 * t/s is the median over repetitions of B x steps / seconds.
 *
 *   make BUILD=build/gcc && make -C bench BUILD=../build/gcc ../build/gcc/bench/llm_eval_batch
 *   build/gcc/bench/llm_eval_batch MODEL.gguf [threads...]   (default: 1 2) */
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "born/llm.h"

enum { MAX_B = 8, PROMPT = 32, STEPS = 16, REPS = 3 };

static uint64_t rng = 42;

static int32_t random_token(int32_t V) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((rng >> 33) % (uint64_t)V);
}

/* Seconds for STEPS steps of B sessions from position PROMPT, batched or one session a call;
 * 0 on an error (reported). */
static double decode(born_session **ss, int32_t B, bool batched, int32_t (*toks)[MAX_B],
                     float *logits, int32_t V) {
    for (int32_t b = 0; b < B; b++)
        born_session_rollback(ss[b], PROMPT);
    const int32_t ones[MAX_B] = {1, 1, 1, 1, 1, 1, 1, 1};
    float *lp[MAX_B];
    for (int32_t b = 0; b < B; b++)
        lp[b] = logits + (size_t)b * V;
    double t0 = now();
    for (int32_t step = 0; step < STEPS; step++) {
        const int32_t *tp[MAX_B];
        for (int32_t b = 0; b < B; b++)
            tp[b] = &toks[step][b];
        born_status st = BORN_OK;
        if (batched) st = born_session_eval_batch(ss, tp, ones, B, lp);
        for (int32_t b = 0; !batched && b < B && st == BORN_OK; b++)
            st = born_session_eval(ss[b], tp[b], 1, lp[b], false);
        if (st != BORN_OK) {
            fprintf(stderr, "decode: %s\n", born_last_error());
            return 0.0;
        }
    }
    return now() - t0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [threads...]\n", argv[0]);
        return 2;
    }
    born_model *m = born_model_load(argv[1], NULL);
    if (!m) {
        fprintf(stderr, "%s\n", born_last_error());
        return 1;
    }
    const int32_t V = born_model_n_vocab(m);
    born_session_params sp = born_session_default_params();
    sp.n_ctx = 256;
    born_session *ss[MAX_B] = {0};
    int32_t prompt[PROMPT], toks[STEPS][MAX_B];
    float *logits = malloc((size_t)MAX_B * V * sizeof *logits);
    int rc = logits ? 0 : 1;
    for (int32_t b = 0; b < MAX_B && !rc; b++) {
        ss[b] = born_session_new(m, &sp);
        for (int32_t i = 0; i < PROMPT; i++)
            prompt[i] = random_token(V);
        if (!ss[b] || born_session_eval(ss[b], prompt, PROMPT, NULL, false) != BORN_OK) {
            fprintf(stderr, "%s\n", born_last_error());
            rc = 1;
        }
    }
    for (int32_t step = 0; step < STEPS; step++)
        for (int32_t b = 0; b < MAX_B; b++)
            toks[step][b] = random_token(V);
    int n_threads = argc > 2 ? argc - 2 : 2;
    printf("%s: %d decode steps from position %d, median of %d\n", argv[1], STEPS, PROMPT, REPS);
    printf("threads  B   batched t/s  separate t/s  ratio\n");
    for (int ti = 0; ti < n_threads && !rc; ti++) {
        int threads = argc > 2 ? atoi(argv[2 + ti]) : ti + 1;
        born_set_num_threads(threads);
        for (int32_t B = 1; B <= MAX_B && !rc; B *= 2) {
            double tb[REPS], tsep[REPS];
            decode(ss, B, true, toks, logits, V); /* warm-up */
            for (int r = 0; r < REPS && !rc; r++) {
                double a = decode(ss, B, true, toks, logits, V),
                       s = decode(ss, B, false, toks, logits, V);
                if (a <= 0 || s <= 0) rc = 1;
                tb[r] = B * STEPS / a;
                tsep[r] = B * STEPS / s;
            }
            if (rc) break;
            double mb = median(tb, REPS), ms = median(tsep, REPS);
            printf("%7d  %d  %12.1f  %12.1f  %5.2f\n", threads, (int)B, mb, ms, mb / ms);
            fflush(stdout);
        }
    }
    for (int32_t b = 0; b < MAX_B; b++)
        born_session_free(ss[b]);
    free(logits);
    born_model_free(m);
    return rc;
}
