/* Whole training steps and epochs of the two `born train` models (the MLP and the CNN of
 * tools/born/models.c), Born beside PyTorch from the same run on the same machine and threads:
 *   - step: forward, cross-entropy, backward and an Adam update on one fixed batch of 64 MNIST
 *     images (median over repetitions),
 *   - epoch: one pass over 8,000 shuffled images in batches of 64 (the loop of `born train`; the
 *     PyTorch side is the loop of bench/validation/torch_train.py), median of the epochs run.
 *   - conv: each of the CNN's two convolutions alone at its shapes (batch 64), forward and then
 *     backward from a fixed random output gradient into the weight and bias (and into the input
 *     for the second, whose input is an activation), as the training step computes them; then
 *     two layers of ResNet-style networks (3x3 with padding 1, at stride 1 and 2) and a
 *     MobileNet-style depthwise one, which take other paths (`--model conv` runs these five rows
 *     alone, then a BatchNorm2d + ReLU forward and backward at [64, 32, 28, 28]).
 * PyTorch runs in a child process (python3 with torch, OMP_WAIT_POLICY=PASSIVE), which imports
 * the models and the data loading of bench/validation/torch_train.py, with the same threads;
 * Born and PyTorch take turns repetition by repetition, so that both see the same load on a
 * shared machine. The ratio is Born's time over PyTorch's (below 1 means Born is faster). Run
 * from the repository root:
 *
 *   ./build/bench/bench_train [--data DIR] [--epochs E] [--no-torch] [--model mlp|cnn|conv]
 *                             [threads...]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"
#include "bench_util.h"
#include "python_peer.h"

enum { REPS = 7, SPLIT = 8000, BATCH = 64, MAX_EPOCHS = 15 };

static void check(bool ok, const char *what) {
    if (ok && born_last_status() == BORN_OK) return;
    fprintf(stderr, "bench_train: %s: %s\n", what, born_last_error());
    exit(1);
}

/* ---- the models (as tools/born/models.c) --------------------------------------------------- */

static born_module *make_model(const char *name, born_generator *gen) {
    if (!strcmp(name, "mlp"))
        return born_sequential_of(BORN_MODULES(born_flatten_new(1, -1),
                                               born_linear_new(784, 128, true, gen),
                                               born_relu_new(), born_linear_new(128, 10, true, gen)));
    born_conv2d_options k3 = born_conv2d_default_options(3, 3);
    born_pool2d_params pool = born_pool2d_default_params(2, 2);
    return born_sequential_of(BORN_MODULES(
        born_conv2d_new(1, 32, &k3, gen), born_relu_new(), born_max_pool2d_new(&pool),
        born_conv2d_new(32, 64, &k3, gen), born_relu_new(), born_max_pool2d_new(&pool),
        born_flatten_new(1, -1), born_linear_new(1600, 128, true, gen), born_relu_new(),
        born_linear_new(128, 10, true, gen)));
}

/* ---- Born ---------------------------------------------------------------------------------- */

typedef struct data {
    born_dataset *train;
    born_tensor *x, *y; /* the fixed batch */
} data;

static data load_data(const char *dir) {
    char ipath[1024], lpath[1024];
    snprintf(ipath, sizeof ipath, "%s/mnist-10k-images-idx3-ubyte.gz", dir);
    snprintf(lpath, sizeof lpath, "%s/mnist-10k-labels-idx1-ubyte.gz", dir);
    data d;
    born_tensor *images = born_idx_read(ipath), *labels = images ? born_idx_read(lpath) : NULL;
    check(images && labels, "reading the MNIST subset (run from the repository root or pass --data)");
    const int64_t *s = born_tensor_shape(images);
    /* the training split's pixel statistics, as tools/born/datasets.c */
    born_scope_begin();
    born_tensor *px = born_div_scalar(
        born_to_dtype(born_narrow(images, 0, 0, SPLIT), BORN_F64), 255.0);
    double mean = born_item(born_mean(px, 0, NULL, false));
    double std = born_item(born_std(px, 0, NULL, 0, false));
    born_tensor *x4 = born_view(born_narrow(images, 0, 0, SPLIT), BORN_DIMS(SPLIT, 1, s[1], s[2]));
    d.train = born_tensor_dataset_new(x4, born_narrow(labels, 0, 0, SPLIT));
    born_scope_end();
    check(d.train != NULL, "making the dataset");
    born_transform_params tp = born_transform_image_params(mean, std);
    check(born_dataset_set_transform(d.train, &tp) == BORN_OK, "setting the transform");
    born_dataloader_params lp = born_dataloader_default_params();
    lp.batch_size = BATCH;
    born_dataloader *dl = born_dataloader_new(d.train, &lp);
    check(dl && born_dataloader_next(dl, &d.x, &d.y), "the fixed batch");
    born_keep(d.x);
    born_keep(d.y);
    born_dataloader_free(dl);
    born_free(images);
    born_free(labels);
    return d;
}

typedef struct trainee {
    born_module *m;
    born_optimizer *opt;
} trainee;

static trainee make_trainee(const char *model) {
    born_generator *gen = born_generator_new(0);
    trainee t;
    t.m = make_model(model, gen);
    born_generator_free(gen);
    check(t.m != NULL, "making the model");
    int64_t n = 0;
    born_tensor **params = born_module_parameters(t.m, &n);
    born_adam_params ap = born_adam_default_params();
    ap.lr = 1e-3;
    t.opt = born_adam(params, n, &ap);
    free(params);
    check(t.opt != NULL, "making the optimizer");
    born_module_train(t.m, true);
    return t;
}

static void free_trainee(trainee *t) {
    born_optimizer_free(t->opt);
    born_module_free(t->m);
}

/* One training step, as tools/born/trainer.c; returns the loss. */
static double step(trainee *t, born_tensor *x, born_tensor *y) {
    born_scope_begin();
    born_tensor *loss = born_cross_entropy(born_module_forward(t->m, x), y, NULL);
    check(loss && born_backward(loss) == BORN_OK && born_optimizer_step(t->opt) == BORN_OK,
          "a training step");
    double l = born_item(loss);
    born_optimizer_zero_grad(t->opt);
    born_scope_end();
    return l;
}

/* A 3x3 convolution: input channels, output channels, input height = width, stride, padding,
 * groups, and whether the step needs the input's gradient. The first two are the CNN's (not for
 * the images, yes for the first pooled activation); the others are the padded and strided layers
 * of ResNet-style networks and a depthwise layer of MobileNet-style ones. */
typedef struct conv_case {
    const char *name;
    int64_t cin, cout, hw, stride, pad, groups;
    bool input_grad;
} conv_case;

enum { CNN_CONVS = 2, CONV_CASES = 5 };

static const conv_case conv_cases[CONV_CASES] = {
    {"conv 1->32 3x3, 28x28", 1, 32, 28, 1, 0, 1, false},
    {"conv 32->64 3x3, 13x13", 32, 64, 13, 1, 0, 1, true},
    {"conv 32->32 3x3 pad 1, 28x28", 32, 32, 28, 1, 1, 1, true},
    {"conv 32->64 3x3 s2 pad 1, 28", 32, 64, 28, 2, 1, 1, true},
    {"depthwise 64 3x3 pad 1, 28", 64, 64, 28, 1, 1, 64, true},
};

static int64_t conv_out_size(const conv_case *c) {
    return (c->hw + 2 * c->pad - 3) / c->stride + 1;
}

static born_conv2d_params conv_params_of(const conv_case *c) {
    born_conv2d_params p = born_conv2d_default_params();
    p.stride[0] = p.stride[1] = c->stride;
    p.padding[0] = p.padding[1] = c->pad;
    p.groups = c->groups;
    return p;
}

typedef struct conv_run {
    born_tensor *x, *w, *b, *g;
    born_conv2d_params params;
} conv_run;

static conv_run conv_setup(const conv_case *c) {
    born_generator *gen = born_generator_new(1);
    conv_run r;
    r.x = born_randn(gen, BORN_F32, BORN_DIMS(BATCH, c->cin, c->hw, c->hw));
    r.w = born_randn(gen, BORN_F32, BORN_DIMS(c->cout, c->cin / c->groups, 3, 3));
    r.b = born_randn(gen, BORN_F32, BORN_DIMS(c->cout));
    int64_t o = conv_out_size(c);
    r.g = born_randn(gen, BORN_F32, BORN_DIMS(BATCH, c->cout, o, o));
    r.params = conv_params_of(c);
    born_generator_free(gen);
    check(r.x && r.w && r.b && r.g, "making the convolution's tensors");
    check(born_requires_grad(r.w, true) && born_requires_grad(r.b, true) &&
              (!c->input_grad || born_requires_grad(r.x, true)),
          "marking the convolution's leaves");
    return r;
}

/* One forward + backward of the convolution; the gradients are dropped afterwards, as the
 * training step's zero_grad does. */
static void conv_pass(conv_run *r) {
    born_scope_begin();
    born_backward_params bp = born_backward_default_params();
    bp.grad = r->g;
    check(born_backward_ex(born_conv2d(r->x, r->w, r->b, &r->params), &bp) == BORN_OK,
          "the convolution's forward and backward");
    born_scope_end();
    born_zero_grad(r->x);
    born_zero_grad(r->w);
    born_zero_grad(r->b);
}

static void conv_free(conv_run *r) {
    born_free(r->x);
    born_free(r->w);
    born_free(r->b);
    born_free(r->g);
}

/* ---- PyTorch ------------------------------------------------------------------------------- */

/* A python3 child that answers commands on its stdin, one line each: "init MODEL THREADS",
 * "steps N" (seconds per step over N steps on the fixed batch) and "epoch" (seconds for one
 * shuffled epoch). Born and PyTorch then take turns, so both see the same load on a shared
 * machine. */
static const char *const torch_script =
    "import json, sys, time\n"
    "sys.path.insert(0, 'bench/validation')\n"
    "import torch, torch.nn.functional as F\n"
    "import torch_train as tt\n"
    "folder = sys.argv[1]\n"
    "xtr, ytr, _, _ = tt.load(folder, 8000)\n"
    "x, y = xtr[:64], ytr[:64]\n"
    "def step(m, opt, x, y):\n"
    "    loss = F.cross_entropy(m(x), y)\n"
    "    opt.zero_grad(set_to_none=True)\n"
    "    loss.backward()\n"
    "    opt.step()\n"
    "    return loss.item()\n"
    "print(json.dumps({'ready': torch.__version__}), flush=True)\n"
    "for line in sys.stdin:\n"
    "    w = line.split()\n"
    "    if not w or w[0] == 'quit': break\n"
    "    if w[0] == 'init':\n"
    "        torch.set_num_threads(int(w[2])); torch.manual_seed(0)\n"
    "        m = tt.model(w[1]); m.train(); opt = torch.optim.Adam(m.parameters(), lr=1e-3)\n"
    "        g = torch.Generator().manual_seed(0)\n"
    "        for _ in range(3): step(m, opt, x, y)\n"
    "        print(json.dumps({'ok': 1}), flush=True)\n"
    "    elif w[0] == 'steps':\n"
    "        n = int(w[1]); t0 = time.perf_counter()\n"
    "        for _ in range(n): step(m, opt, x, y)\n"
    "        print(json.dumps({'seconds': (time.perf_counter() - t0) / n}), flush=True)\n"
    "    elif w[0] == 'epoch':\n"
    "        t0 = time.perf_counter()\n"
    "        order = torch.randperm(len(xtr), generator=g)\n"
    "        for i in range(0, len(xtr), 64):\n"
    "            idx = order[i:i + 64]\n"
    "            step(m, opt, xtr[idx], ytr[idx])\n"
    "        print(json.dumps({'seconds': time.perf_counter() - t0}), flush=True)\n"
    "    elif w[0] == 'conv':\n"
    "        t, ci, co, hw, st, pd, gr, ig, n = map(int, w[1:10]); torch.set_num_threads(t)\n"
    "        cx = torch.randn(64, ci, hw, hw, requires_grad=bool(ig))\n"
    "        cw = torch.randn(co, ci // gr, 3, 3, requires_grad=True)\n"
    "        cb = torch.randn(co, requires_grad=True)\n"
    "        o = (hw + 2 * pd - 3) // st + 1\n"
    "        cg = torch.randn(64, co, o, o)\n"
    "        def cpass():\n"
    "            F.conv2d(cx, cw, cb, stride=st, padding=pd, groups=gr).backward(cg)\n"
    "            cx.grad = cw.grad = cb.grad = None\n"
    "        for _ in range(3): cpass()\n"
    "        t0 = time.perf_counter()\n"
    "        for _ in range(n): cpass()\n"
    "        print(json.dumps({'seconds': (time.perf_counter() - t0) / n}), flush=True)\n"
    "    elif w[0] == 'bn':\n"
    "        t, c, hw, n = map(int, w[1:5]); torch.set_num_threads(t)\n"
    "        bx = torch.randn(64, c, hw, hw, requires_grad=True)\n"
    "        bn = torch.nn.BatchNorm2d(c)\n"
    "        bg = torch.randn(64, c, hw, hw)\n"
    "        def bpass():\n"
    "            torch.relu(bn(bx)).backward(bg)\n"
    "            bx.grad = bn.weight.grad = bn.bias.grad = None\n"
    "        for _ in range(3): bpass()\n"
    "        t0 = time.perf_counter()\n"
    "        for _ in range(n): bpass()\n"
    "        print(json.dumps({'seconds': (time.perf_counter() - t0) / n}), flush=True)\n";

typedef struct timing {
    double step, epoch;
} timing;

/* Born's and (with a peer) PyTorch's step and epoch times, taking turns. */
static void measure(const data *d, const char *model, int threads, int epochs, python_peer *p,
                    timing *born, timing *torch) {
    char cmd[64];
    snprintf(cmd, sizeof cmd, "init %s %d", model, threads);
    bool have = p && python_peer_ask(p, cmd, "ok") > 0;
    trainee t = make_trainee(model);
    int inner = strcmp(model, "cnn") ? 40 : 8;
    double rb[REPS], rt[REPS];
    for (int i = 0; i < 3; i++) step(&t, d->x, d->y); /* warm up */
    snprintf(cmd, sizeof cmd, "steps %d", inner);
    for (int k = 0; k < REPS; k++) {
        double t0 = now();
        for (int i = 0; i < inner; i++) step(&t, d->x, d->y);
        rb[k] = (now() - t0) / inner;
        rt[k] = have ? python_peer_ask(p, cmd, "seconds") : 0;
    }
    born->step = median(rb, REPS);
    torch->step = median(rt, REPS);
    free_trainee(&t);

    t = make_trainee(model);
    born_dataloader_params lp = born_dataloader_default_params();
    lp.batch_size = BATCH;
    lp.shuffle = true;
    lp.seed = 0;
    born_dataloader *dl = born_dataloader_new(d->train, &lp);
    check(dl != NULL, "the data loader");
    double sb[MAX_EPOCHS], st[MAX_EPOCHS];
    for (int e = 0; e < epochs; e++) {
        if (e > 0) check(born_dataloader_reset(dl) == BORN_OK, "resetting the loader");
        double t0 = now();
        born_tensor *x, *y;
        while (born_dataloader_next(dl, &x, &y)) {
            step(&t, x, y);
            born_free(x);
            born_free(y);
        }
        sb[e] = now() - t0;
        st[e] = have ? python_peer_ask(p, "epoch", "seconds") : 0;
    }
    check(true, "the epoch");
    born->epoch = median(sb, epochs);
    torch->epoch = median(st, epochs);
    if (!have) torch->step = torch->epoch = 0;
    born_dataloader_free(dl);
    free_trainee(&t);
}

/* Born's and (with a peer) PyTorch's seconds per forward + backward of one convolution, taking
 * turns repetition by repetition. */
static void measure_conv(const conv_case *c, int threads, python_peer *p, double *born_s,
                         double *torch_s) {
    enum { INNER = 20 };
    char cmd[128];
    snprintf(cmd, sizeof cmd, "conv %d %lld %lld %lld %lld %lld %lld %d %d", threads,
             (long long)c->cin, (long long)c->cout, (long long)c->hw, (long long)c->stride,
             (long long)c->pad, (long long)c->groups, c->input_grad ? 1 : 0, INNER);
    conv_run r = conv_setup(c);
    for (int i = 0; i < 3; i++) conv_pass(&r); /* warm up */
    double rb[REPS], rt[REPS];
    for (int k = 0; k < REPS; k++) {
        double t0 = now();
        for (int i = 0; i < INNER; i++) conv_pass(&r);
        rb[k] = (now() - t0) / INNER;
        rt[k] = p ? python_peer_ask(p, cmd, "seconds") : 0;
    }
    conv_free(&r);
    *born_s = median(rb, REPS);
    *torch_s = p ? median(rt, REPS) : 0;
}

/* Batch norm (training) then ReLU over [64, c, hw, hw], forward and backward into the input, the
 * weight and the bias, as a ResNet block's BatchNorm2d + ReLU. */
static void measure_bn(int64_t c, int64_t hw, int threads, python_peer *p, double *born_s,
                       double *torch_s) {
    enum { INNER = 20 };
    char cmd[96];
    snprintf(cmd, sizeof cmd, "bn %d %lld %lld %d", threads, (long long)c, (long long)hw, INNER);
    born_generator *gen = born_generator_new(2);
    born_tensor *x = born_randn(gen, BORN_F32, BORN_DIMS(BATCH, c, hw, hw));
    born_tensor *g = born_randn(gen, BORN_F32, BORN_DIMS(BATCH, c, hw, hw));
    born_generator_free(gen);
    born_module *bn = born_batch_norm2d_new(c, NULL);
    check(x && g && bn && born_requires_grad(x, true), "making the batch norm's tensors");
    double rb[REPS], rt[REPS];
    for (int k = -1; k < REPS; k++) { /* k = -1: warm-up */
        double t0 = now();
        for (int i = 0; i < INNER; i++) {
            born_scope_begin();
            born_backward_params bp = born_backward_default_params();
            bp.grad = g;
            check(born_backward_ex(born_relu(born_module_forward(bn, x)), &bp) == BORN_OK,
                  "the batch norm's forward and backward");
            born_scope_end();
            born_zero_grad(x);
            born_module_zero_grad(bn);
        }
        if (k < 0) continue;
        rb[k] = (now() - t0) / INNER;
        rt[k] = p ? python_peer_ask(p, cmd, "seconds") : 0;
    }
    born_module_free(bn);
    born_free(x);
    born_free(g);
    *born_s = median(rb, REPS);
    *torch_s = p ? median(rt, REPS) : 0;
}

/* ---- main ---------------------------------------------------------------------------------- */

static void row(const char *what, int threads, double born_s, double torch_s, bool have_torch) {
    if (have_torch)
        printf("| %-28s | %7d | %9.2f | %9.2f | %5.2f |\n", what, threads, 1e3 * born_s,
               1e3 * torch_s, born_s / torch_s);
    else
        printf("| %-28s | %7d | %9.2f | %9s | %5s |\n", what, threads, 1e3 * born_s, "-", "-");
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *dir = "data/mnist-10k", *only = NULL;
    int epochs = 3, threads[16], nthreads = 0;
    bool use_torch = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--no-torch")) use_torch = false;
        else if (nthreads < 16 && atoi(argv[i]) > 0) threads[nthreads++] = atoi(argv[i]);
        else {
            fprintf(stderr,
                    "usage: %s [--data DIR] [--epochs E] [--model mlp|cnn|conv] [--no-torch] "
                    "[threads...]\n",
                    argv[0]);
            return 2;
        }
    }
    if (epochs < 1) epochs = 1;
    if (epochs > MAX_EPOCHS) epochs = MAX_EPOCHS;
    if (nthreads == 0) {
        threads[0] = 1;
        threads[1] = 2;
        nthreads = 2;
    }
    born_init();
    data d = load_data(dir);
    python_peer p;
    bool have_peer = use_torch && python_peer_start(&p, torch_script, dir);
    if (use_torch && !have_peer)
        fprintf(stderr, "bench_train: no PyTorch (python3 with torch) to compare with\n");
    printf("Born %s training benchmark: batch %d, Adam; step = forward + backward + update on one "
           "fixed batch (median of %d), conv = one of the CNN's convolutions forward + backward at "
           "batch %d, epoch = %d shuffled images (median of %d); Born and "
           "PyTorch take turns. Milliseconds; ratio = Born / PyTorch (below 1: Born is "
           "faster).\n\n",
           born_version(), BATCH, REPS, BATCH, SPLIT, epochs);
    printf("| %-28s | %7s | %9s | %9s | %5s |\n|---|---:|---:|---:|---:|\n", "measurement",
           "threads", "Born", "PyTorch", "ratio");
    const char *models[2] = {"mlp", "cnn"};
    for (int ti = 0; ti < nthreads; ti++) {
        check(born_set_num_threads(threads[ti]) == BORN_OK, "setting the threads");
        bool cnn_only = only && !strcmp(only, "cnn");
        if (!only || cnn_only || !strcmp(only, "conv"))
            for (int ci = 0; ci < (cnn_only ? CNN_CONVS : CONV_CASES); ci++) {
                double bs, ts;
                measure_conv(&conv_cases[ci], threads[ti], have_peer ? &p : NULL, &bs, &ts);
                row(conv_cases[ci].name, threads[ti], bs, ts, ts > 0);
            }
        if (only && !strcmp(only, "conv")) {
            double bs, ts;
            measure_bn(32, 28, threads[ti], have_peer ? &p : NULL, &bs, &ts);
            row("batch norm + relu 32, 28x28", threads[ti], bs, ts, ts > 0);
        }
        for (int mi = 0; mi < 2; mi++) {
            if (only && strcmp(only, models[mi])) continue;
            timing b, t;
            measure(&d, models[mi], threads[ti], epochs, have_peer ? &p : NULL, &b, &t);
            bool have = t.step > 0;
            char what[64];
            snprintf(what, sizeof what, "%s step (batch 64)", models[mi]);
            row(what, threads[ti], b.step, t.step, have);
            snprintf(what, sizeof what, "%s epoch (8000 images)", models[mi]);
            row(what, threads[ti], b.epoch, t.epoch, have);
        }
    }
    if (have_peer) {
        printf("\nPyTorch %s\n", p.version);
        python_peer_stop(&p);
    }
    born_free(d.x);
    born_free(d.y);
    born_dataset_free(d.train);
    return 0;
}
