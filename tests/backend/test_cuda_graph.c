/* CUDA graphs (include/born/graph.h): a small GPT-2's clipped AdamW training steps replayed from
 * one capture against the same steps run eagerly (new batches copied into the captured inputs, the
 * lr changed between replays, the loss copied out), clip_grad_norm on the device against the CPU,
 * two graphs with their own pools, constant memory
 * over many replays, and the errors: the CPU, a read-back inside the step, optimizer state created
 * inside a capture, nesting, and an index out of range found at a replay (and by an eager
 * embedding, which does not wait for its check either). Without a GPU only the skip messages
 * print. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda_check.h"

enum { G_STEPS = 6, G_BATCH = 3 };

static born_gpt_config tiny_gpt(void) {
    born_gpt_config c = born_gpt_default_config(false);
    c.vocab_size = 97;
    c.block_size = 32;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_kv_head = 4;
    c.n_embd = 64;
    return c;
}

typedef struct gpt_run {
    born_gpt_config c;
    born_module *m;
    born_tensor **params;
    int64_t np;
    born_optimizer *opt;
    born_tensor *x, *y, *loss_out; /* made before the capture */
} gpt_run;

static born_status gpt_step(void *ctx) {
    gpt_run *r = ctx;
    int64_t n = born_tensor_numel(r->y);
    born_tensor *logits = born_reshape(born_module_forward(r->m, r->x), BORN_DIMS(n, r->c.vocab_size));
    born_tensor *loss = born_cross_entropy(logits, r->y, NULL);
    if (!loss) return born_last_status();
    born_status st = born_backward(loss);
    /* clipped on the device (the norm is not read back) */
    if (st == BORN_OK) st = born_clip_grad_norm(r->params, r->np, 0.5, 2.0, NULL);
    if (st == BORN_OK) st = born_optimizer_step(r->opt);
    born_optimizer_zero_grad(r->opt);
    if (st == BORN_OK) st = born_copy_(r->loss_out, loss);
    return st;
}

static bool gpt_run_new(gpt_run *r, unsigned long long seed) {
    memset(r, 0, sizeof *r);
    r->c = tiny_gpt();
    born_generator *g = born_generator_new(seed);
    r->m = born_gpt_new(&r->c, g);
    born_generator_free(g);
    if (!r->m || born_module_to(r->m, BORN_CUDA(0)) != BORN_OK) return false;
    r->params = born_module_parameters(r->m, &r->np);
    born_adam_params ap = born_adamw_default_params();
    ap.lr = 2e-3;
    ap.weight_decay = 0.1;
    r->opt = born_adamw(r->params, r->np, &ap);
    born_scope_begin();
    r->x = born_tensor_retain(cuda_to_gpu(born_zeros(BORN_I64, BORN_DIMS(G_BATCH, r->c.block_size))));
    r->y = born_tensor_retain(cuda_to_gpu(born_zeros(BORN_I64, BORN_DIMS(G_BATCH * r->c.block_size))));
    r->loss_out = born_tensor_retain(cuda_to_gpu(born_zeros(BORN_F32, 0, NULL)));
    born_scope_end();
    return r->opt && r->x && r->y && r->loss_out;
}

static void gpt_run_free(gpt_run *r) {
    born_optimizer_free(r->opt);
    free(r->params);
    born_module_free(r->m);
    born_free(r->x);
    born_free(r->y);
    born_free(r->loss_out);
}

/* The relative 2-norm distance of b from a over the parameters of two runs, and whether every
 * parameter is equal bit for bit. */
static double params_distance(gpt_run *a, gpt_run *b, bool *bitwise) {
    int64_t na = 0, nb = 0;
    born_tensor **pa = born_module_parameters(a->m, &na), **pb = born_module_parameters(b->m, &nb);
    double num = 0, den = 0;
    *bitwise = na == nb && na > 0;
    for (int64_t i = 0; i < na && i < nb; i++) {
        int64_t n = born_tensor_numel(pa[i]);
        double *va = malloc(sizeof *va * (size_t)n), *vb = malloc(sizeof *vb * (size_t)n);
        if (va && vb && test_read(pa[i], va, n) && test_read(pb[i], vb, n)) {
            for (int64_t k = 0; k < n; k++) {
                double d = va[k] - vb[k];
                num += d * d;
                den += va[k] * va[k];
                if (memcmp(&va[k], &vb[k], sizeof va[k]) != 0) *bitwise = false;
            }
        } else {
            *bitwise = false;
            num = NAN;
        }
        free(va);
        free(vb);
    }
    free(pa);
    free(pb);
    return den > 0 ? sqrt(num / den) : num;
}

TEST(cuda_graph_gpt_steps_replayed_match_eager) {
    if (!cuda_gpu_or_skip("cuda_graph_gpt_steps_replayed_match_eager")) return;
    gpt_run e, g;
    bool ok = gpt_run_new(&e, cuda_test_seed) && gpt_run_new(&g, cuda_test_seed);
    CHECK(ok);
    born_scope_begin();
    born_tensor *xs[G_STEPS], *ys[G_STEPS];
    for (int s = 0; s < G_STEPS; s++) {
        xs[s] = cuda_to_gpu(born_randint(cuda_test_gen, 0, e.c.vocab_size, BORN_I64,
                                         BORN_DIMS(G_BATCH, e.c.block_size)));
        ys[s] = cuda_to_gpu(born_randint(cuda_test_gen, 0, e.c.vocab_size, BORN_I64,
                                         BORN_DIMS(G_BATCH * e.c.block_size)));
    }
    double le[G_STEPS], lg[G_STEPS];
    born_graph *graph = NULL;
    for (int s = 0; ok && s < G_STEPS; s++) {
        double lr = 2e-3 * (1.0 - 0.1 * s); /* a schedule: the replays must see each new lr */
        CHECK_OK(born_optimizer_set_lr(e.opt, lr));
        CHECK_OK(born_optimizer_set_lr(g.opt, lr));
        CHECK_OK(born_copy_(e.x, xs[s]));
        CHECK_OK(born_copy_(e.y, ys[s]));
        CHECK_OK(born_copy_(g.x, xs[s]));
        CHECK_OK(born_copy_(g.y, ys[s]));
        CHECK_OK(gpt_step(&e));
        if (s == 0) {
            CHECK_OK(gpt_step(&g)); /* the warm-up creates the optimizer's state */
            graph = born_graph_capture(BORN_CUDA(0), gpt_step, &g);
            CHECK_MSG(graph != NULL, "capture: %s", born_last_error());
            if (!graph) {
                ok = false;
                break;
            }
        } else {
            CHECK_OK(born_graph_replay(graph));
        }
        le[s] = born_item(e.loss_out);
        lg[s] = born_item(g.loss_out);
        CHECK_MSG(le[s] == lg[s] || fabs(le[s] - lg[s]) <= 1e-6 * fabs(le[s]),
                  "step %d: replayed loss %.9g, eager %.9g (seed %llu)", s, lg[s], le[s],
                  cuda_test_seed);
    }
    if (ok) {
        bool bitwise = false;
        double d = params_distance(&e, &g, &bitwise);
        CHECK_MSG(d <= 1e-6, "parameters after %d steps: relative distance %g (seed %llu)", G_STEPS,
                  d, cuda_test_seed);
        printf("  [graph] %d steps: parameters %s (relative distance %g)\n", G_STEPS,
               bitwise ? "bitwise equal" : "not bitwise equal", d);
        /* the step counts live on the device: the state dict reads them back */
        born_tensor_list *sd = born_optimizer_state_dict(g.opt);
        born_tensor *step = sd ? born_tensor_list_get(sd, "state.0.step") : NULL;
        CHECK_MSG(step && born_item(step) == G_STEPS, "state.0.step after %d steps: %g", G_STEPS,
                  step ? born_item(step) : -1.0);
        born_tensor_list_free(sd);
    }
    born_graph_free(graph);
    born_scope_end();
    gpt_run_free(&e);
    gpt_run_free(&g);
}

/* ---- clip_grad_norm on the device ----------------------------------------------------------------- */

TEST(cuda_graph_clip_grad_norm_on_device_matches_cpu) {
    if (!cuda_gpu_or_skip("cuda_graph_clip_grad_norm_on_device_matches_cpu")) return;
    const int64_t sizes[3] = {1000, 37, 4097};
    double norms[2] = {2.0, INFINITY}, maxes[2] = {0.3, 1e9};
    for (int k = 0; k < 2; k++)
        for (int q = 0; q < 2; q++) {
            born_scope_begin();
            born_tensor *pc[3], *pg[3];
            for (int i = 0; i < 3; i++) {
                born_tensor *g = cuda_randn(BORN_F32, BORN_DIMS(sizes[i]));
                pc[i] = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(sizes[i])), true);
                pg[i] = born_requires_grad(cuda_to_gpu(born_zeros(BORN_F32, BORN_DIMS(sizes[i]))),
                                           true);
                CHECK_OK(born_set_grad(pc[i], born_clone(g)));
                CHECK_OK(born_set_grad(pg[i], cuda_to_gpu(g)));
            }
            double tc = -1, tg = -2;
            CHECK_OK(born_clip_grad_norm(pc, 3, maxes[q], norms[k], &tc));
            CHECK_OK(born_clip_grad_norm(pg, 3, maxes[q], norms[k], &tg));
            CHECK_MSG(fabs(tc - tg) <= 1e-12 * tc, "norm %g: total %.17g on the GPU, %.17g on the "
                      "CPU", norms[k], tg, tc);
            for (int i = 0; i < 3; i++)
                cuda_close_floor("clipped gradient", __FILE__, __LINE__, born_grad(pc[i]),
                                 born_grad(pg[i]), 1e-7, 0);
            born_scope_end();
        }
}

/* ---- pools, memory ------------------------------------------------------------------------------ */

typedef struct affine {
    born_tensor *x, *out;
    double a, b;
} affine;

static born_status affine_step(void *ctx) {
    affine *f = ctx;
    born_tensor *t = born_add_scalar(born_mul_scalar(born_exp(f->x), f->a), f->b);
    return t ? born_copy_(f->out, t) : born_last_status();
}

TEST(cuda_graph_two_graphs_and_constant_memory) {
    if (!cuda_gpu_or_skip("cuda_graph_two_graphs_and_constant_memory")) return;
    born_scope_begin();
    born_tensor *x = cuda_randn(BORN_F32, BORN_DIMS(1000, 257));
    affine f1 = {cuda_to_gpu(x), born_empty_like(cuda_to_gpu(x)), 2.0, 1.0};
    affine f2 = {f1.x, born_empty_like(f1.x), -1.0, 3.0};
    born_cuda_mem_stats before, mid, after;
    CHECK_OK(born_synchronize(BORN_CUDA(0)));
    CHECK_OK(born_cuda_memory_stats(0, &before));
    born_graph *g1 = born_graph_capture(BORN_CUDA(0), affine_step, &f1);
    born_graph *g2 = born_graph_capture(BORN_CUDA(0), affine_step, &f2);
    CHECK_MSG(g1 && g2, "capture: %s", born_last_error());
    for (int r = 0; g1 && g2 && r < 200; r++) {
        if (r == 100) CHECK_OK(born_cuda_memory_stats(0, &mid));
        born_scope_begin();
        /* new input each round: both graphs read it */
        CHECK_OK(born_copy_(f1.x, born_mul_scalar(cuda_to_gpu(x), 1.0 + r * 1e-3)));
        CHECK_OK(born_graph_replay(g1));
        CHECK_OK(born_graph_replay(g2));
        if (r % 50 == 7) {
            born_tensor *e = born_exp(born_mul_scalar(x, 1.0 + r * 1e-3));
            cuda_close_floor("graph 1", __FILE__, __LINE__,
                             born_add_scalar(born_mul_scalar(e, 2.0), 1.0), f1.out, 1e-6, 0);
            cuda_close_floor("graph 2", __FILE__, __LINE__,
                             born_add_scalar(born_mul_scalar(e, -1.0), 3.0), f2.out, 1e-6, 0);
        }
        born_scope_end();
    }
    CHECK_OK(born_synchronize(BORN_CUDA(0)));
    CHECK_OK(born_cuda_memory_stats(0, &after));
    CHECK_MSG(after.reserved == mid.reserved && after.device_allocations == mid.device_allocations,
              "replays in constant memory: reserved %llu -> %llu bytes, cudaMallocs %llu -> %llu",
              (unsigned long long)mid.reserved, (unsigned long long)after.reserved,
              (unsigned long long)mid.device_allocations, (unsigned long long)after.device_allocations);
    born_graph_free(g1);
    born_graph_free(g2);
    born_cuda_mem_stats freed;
    CHECK_OK(born_cuda_memory_stats(0, &freed));
    CHECK_MSG(freed.allocated == before.allocated && freed.reserved == after.reserved,
              "after freeing the graphs: allocated %llu (before the captures %llu), reserved %llu "
              "(%llu)", (unsigned long long)freed.allocated, (unsigned long long)before.allocated,
              (unsigned long long)freed.reserved, (unsigned long long)after.reserved);
    born_scope_end();
}

/* ---- errors ------------------------------------------------------------------------------------- */

static born_status reads_back(void *ctx) {
    born_tensor *t = born_sum(ctx, 0, NULL, false);
    double v = born_item(t); /* forbidden inside a capture */
    return v == v ? BORN_OK : born_last_status();
}

static born_status nested(void *ctx) {
    born_graph *g = born_graph_capture(BORN_CUDA(0), reads_back, ctx);
    born_graph_free(g);
    return g ? BORN_OK : born_last_status();
}

typedef struct embed_ctx {
    born_tensor *w, *idx, *out;
} embed_ctx;

static born_status embed_step(void *ctx) {
    embed_ctx *e = ctx;
    born_tensor *r = born_embedding(e->w, e->idx);
    return r ? born_copy_(e->out, r) : born_last_status();
}

static born_status first_adam_step(void *ctx) { return born_optimizer_step(ctx); }

TEST(cuda_graph_capture_errors) {
    if (!cuda_gpu_or_skip("cuda_graph_capture_errors")) return;
    born_scope_begin();
    born_tensor *x = cuda_to_gpu(cuda_randn(BORN_F32, BORN_DIMS(64, 8)));
    /* the CPU cannot capture */
    born_clear_error();
    CHECK(born_graph_capture(BORN_CPU, reads_back, x) == NULL);
    CHECK_MSG(strstr(born_last_error(), "cpu") != NULL, "message: %s", born_last_error());
    born_clear_error();
    /* a read-back inside the step: the capture fails naming it, and the device works after */
    CHECK(born_graph_capture(BORN_CUDA(0), reads_back, x) == NULL);
    CHECK_MSG(strstr(born_last_error(), "born_graph_capture") &&
                  strstr(born_last_error(), "download"),
              "message: %s", born_last_error());
    born_clear_error();
    CHECK(!born_graph_capturing(BORN_CUDA(0)));
    double v = born_item(born_sum(x, 0, NULL, false));
    CHECK_MSG(v == v && !born_last_error()[0], "eager work after a failed capture: %s",
              born_last_error());
    /* captures do not nest */
    CHECK(born_graph_capture(BORN_CUDA(0), nested, x) == NULL);
    CHECK_MSG(strstr(born_last_error(), "nest") != NULL, "message: %s", born_last_error());
    born_clear_error();
    /* optimizer state created inside a capture */
    born_tensor *p = born_requires_grad(cuda_to_gpu(cuda_randn(BORN_F32, BORN_DIMS(16))), true);
    CHECK_OK(born_backward(born_sum(born_square(p), 0, NULL, false)));
    born_optimizer *opt = born_adamw(&p, 1, NULL);
    CHECK(born_graph_capture(BORN_CUDA(0), first_adam_step, opt) == NULL);
    CHECK_MSG(strstr(born_last_error(), "before capturing") != NULL, "message: %s", born_last_error());
    born_clear_error();
    CHECK_OK(born_optimizer_step(opt)); /* and eagerly it runs */
    born_optimizer_free(opt);
    /* an index out of range at a replay: reported, naming the op, at the next host sync */
    embed_ctx ec;
    ec.w = cuda_to_gpu(cuda_randn(BORN_F32, BORN_DIMS(10, 4)));
    ec.idx = cuda_to_gpu(born_randint(cuda_test_gen, 0, 10, BORN_I64, BORN_DIMS(7)));
    ec.out = cuda_to_gpu(born_zeros(BORN_F32, BORN_DIMS(7, 4)));
    born_graph *g = born_graph_capture(BORN_CUDA(0), embed_step, &ec);
    CHECK_MSG(g != NULL, "capture: %s", born_last_error());
    if (g) {
        CHECK_OK(born_graph_replay(g));
        CHECK_OK(born_synchronize(BORN_CUDA(0))); /* in range: nothing to report */
        int64_t bad[7] = {1, 2, 3, 12, 4, 5, 6};
        CHECK_OK(born_copy_(ec.idx, cuda_to_gpu(born_from_data(BORN_I64, BORN_DIMS(7), bad,
                                                               sizeof bad))));
        CHECK_OK(born_graph_replay(g));
        born_status st = born_synchronize(BORN_CUDA(0));
        CHECK(st != BORN_OK);
        CHECK_MSG(strstr(born_last_error(), "index_select") && strstr(born_last_error(), "12") &&
                      strstr(born_last_error(), "out of range"),
                  "message: %s", born_last_error());
        born_clear_error();
        CHECK_OK(born_synchronize(BORN_CUDA(0))); /* reported once */
        born_graph_free(g);
    }
    /* eagerly the embedding does not wait for its check either: the next sync reports it */
    born_tensor *r = born_embedding(ec.w, ec.idx);
    CHECK(r != NULL);
    CHECK(born_synchronize(BORN_CUDA(0)) != BORN_OK);
    CHECK_MSG(strstr(born_last_error(), "born_embedding") && strstr(born_last_error(), "12"),
              "message: %s", born_last_error());
    born_clear_error();
    born_scope_end();
}

/* ---- without a GPU ------------------------------------------------------------------------------ */

static born_status never_called(void *ctx) {
    *(int *)ctx += 1;
    return BORN_OK;
}

TEST(graph_api_refuses_the_cpu_and_bad_arguments) {
    int calls = 0;
    born_clear_error();
    CHECK(born_graph_capture(BORN_CPU, never_called, &calls) == NULL);
    CHECK_MSG(strstr(born_last_error(), "born_graph_capture") && strstr(born_last_error(), "cpu"),
              "message: %s", born_last_error());
    born_clear_error();
    CHECK(born_graph_capture(BORN_CUDA(0), NULL, &calls) == NULL);
    CHECK_MSG(strstr(born_last_error(), "fn is NULL"), "message: %s", born_last_error());
    born_clear_error();
    if (born_device_count(BORN_DEVICE_CUDA) == 0) { /* no GPU: the device's reason */
        CHECK(born_graph_capture(BORN_CUDA(0), never_called, &calls) == NULL);
        CHECK(born_last_error()[0] != 0);
        born_clear_error();
    }
    CHECK_EQ_INT(calls, 0);
    CHECK(born_graph_replay(NULL) != BORN_OK);
    born_clear_error();
    CHECK(!born_graph_capturing(BORN_CPU));
    CHECK(!born_graph_capturing(BORN_CUDA(0)));
    born_graph_free(NULL);
}
