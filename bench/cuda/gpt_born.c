/* A GPT-2 124M-shaped training step on CUDA with Born (born_gpt_new: 12 layers, 12 heads, 768
 * wide, block 1024, vocabulary 50304 = GPT-2's 50257 padded to a multiple of 128 as llm.c does),
 * the whole model in bf16 (or f32, or f32 parameters under a bf16 autocast region: amp) on the GPU: forward, cross-entropy, backward, AdamW step (lr
 * 6e-4, weight decay 0.1), zero_grad, on one fixed random batch. Prints the median step time of
 * the timed steps (after 3 warm-ups, GPT_BORN_WARMUP to change; each step ends by reading the loss back, which waits for the
 * stream) and tokens/s. Beside bench/cuda/gpt_torch.py, same model and recipe.
 *   cc -O2 -std=c11 -D_DEFAULT_SOURCE -Iinclude bench/cuda/gpt_born.c build/X/libborn.a -lm \
 *      -pthread -o build/X/gpt_born && ./build/X/gpt_born bf16 B T steps [graph]
 * graph: after the warm-ups the step (forward, backward, AdamW, zero_grad, the loss copied into a
 * tensor made before) is captured once as a CUDA graph (include/born/graph.h) and each timed
 * step is one replay plus the read of that loss; the device memory counters before the first and
 * after the last timed step are printed (steps up to 100000, for the constant-memory run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"
#include "../bench_util.h"

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, born_last_error());
    return 1;
}

typedef struct step_ctx {
    born_module *m;
    born_optimizer *opt;
    born_tensor *x, *y, *loss_out;
    int64_t rows, vocab;
    bool amp;
} step_ctx;

/* One training step; the loss goes into c->loss_out. */
static born_status train_step(void *ctx) {
    step_ctx *c = ctx;
    if (c->amp) born_autocast_begin(BORN_BF16);
    born_tensor *logits = born_reshape(born_module_forward(c->m, c->x), BORN_DIMS(c->rows, c->vocab));
    born_tensor *loss = born_cross_entropy(logits, c->y, NULL);
    if (c->amp) born_autocast_end();
    if (!loss) return born_last_status();
    born_status st = born_backward(loss);
    if (st == BORN_OK) st = born_optimizer_step(c->opt);
    born_optimizer_zero_grad(c->opt);
    if (st == BORN_OK) st = born_copy_(c->loss_out, loss);
    return st;
}

static void print_mem(const char *when) {
    born_cuda_mem_stats m;
    if (born_cuda_memory_stats(0, &m) != BORN_OK) return;
    printf("  memory %s: allocated %.1f MiB, reserved %.1f MiB, peak reserved %.1f MiB, "
           "cudaMalloc calls %llu\n", when, (double)m.allocated / 1048576.0,
           (double)m.reserved / 1048576.0, (double)m.peak_reserved / 1048576.0,
           (unsigned long long)m.device_allocations);
}

int main(int argc, char **argv) {
    bool graph = argc == 6 && strcmp(argv[5], "graph") == 0;
    if (argc != 5 && !graph) {
        fprintf(stderr, "usage: gpt_born bf16|f32|amp B T steps [graph]\n");
        return 2;
    }
    /* amp: f32 parameters (and AdamW) with the forward under born_autocast_begin(BORN_BF16) */
    bool amp = strcmp(argv[1], "amp") == 0;
    born_dtype dt = strcmp(argv[1], "bf16") == 0 ? BORN_BF16 : BORN_F32;
    int64_t b = atoll(argv[2]), t = atoll(argv[3]);
    int steps = atoi(argv[4]);
    if (steps < 1 || steps > 100000 || b < 1 || t < 1) return 2;
    if (born_device_count(BORN_DEVICE_CUDA) < 1) {
        fprintf(stderr, "no GPU: %s\n", born_cuda_unavailable_reason());
        return 1;
    }
    born_device dev = BORN_CUDA(0);
    born_gpt_config c = born_gpt_default_config(false);
    c.vocab_size = 50304;
    c.block_size = 1024;
    c.n_layer = 12;
    c.n_head = 12;
    c.n_kv_head = 12;
    c.n_embd = 768;
    c.ffn_hidden = 3072;
    born_generator *g = born_generator_new(1);
    born_module *m = born_gpt_new(&c, g);
    if (!m) return fail("born_gpt_new");
    if ((dt != BORN_F32 && born_module_to_dtype(m, dt) != BORN_OK) || born_module_to(m, dev) != BORN_OK)
        return fail("moving the model");
    int64_t np = 0;
    born_tensor **params = born_module_parameters(m, &np);
    born_adam_params ap = born_adamw_default_params();
    ap.lr = 6e-4;
    ap.weight_decay = 0.1;
    born_optimizer *opt = born_adamw(params, np, &ap);
    free(params);
    if (!opt) return fail("born_adamw");
    born_tensor *x = born_to(born_randint(g, 0, 50257, BORN_I64, BORN_DIMS(b, t)), dev);
    born_tensor *y = born_to(born_randint(g, 0, 50257, BORN_I64, BORN_DIMS(b * t)), dev);
    if (!x || !y) return fail("the batch");
    /* GPT_BORN_WARMUP=0 (for profilers): no warm-up steps */
    const char *wenv = getenv("GPT_BORN_WARMUP");
    int warm = wenv ? atoi(wenv) : 3;
    if (graph && warm < 1) warm = 1; /* the optimizer state must exist before the capture */
    double *ts = malloc(sizeof(double) * (size_t)steps), first = 0, last = 0;
    step_ctx sc = {m, opt, x, y, born_to(born_zeros(BORN_F32, 0, NULL), dev), b * t, c.vocab_size,
                   amp};
    if (!sc.loss_out) return fail("the loss tensor");
    born_graph *gr = NULL;
    for (int s = 0; s < steps + warm; s++) {
        if (graph && s == warm) {
            gr = born_graph_capture(dev, train_step, &sc);
            if (!gr) return fail("the capture");
            print_mem("before the timed replays");
        }
        double t0 = now();
        born_scope_begin();
        born_status st = gr ? born_graph_replay(gr) : train_step(&sc);
        if (st != BORN_OK) return fail(gr ? "the replay" : "the step");
        double l = born_item(sc.loss_out);
        born_scope_end();
        if (born_last_error()[0]) return fail("reading the loss");
        if (s == 0) first = l;
        last = l;
        if (s >= warm) ts[s - warm] = now() - t0;
    }
    if (gr) print_mem("after the timed replays");
    born_graph_free(gr);
    double med = median(ts, steps);
    printf("born  gpt2-124M %-4s%s B%lld T%lld  %8.2f ms/step  %9.0f tok/s  (loss %.3f -> %.3f, "
           "%d steps)\n", argv[1], graph ? "+graph" : "", (long long)b, (long long)t, med * 1e3,
           (double)(b * t) / med, first, last, steps);
    born_optimizer_free(opt);
    born_module_free(m);
    free(ts);
    return 0;
}
