/* `born demo`: the demonstration job. It trains a small MLP with the core API alone (tensors,
 * autograd, scopes) to separate two interleaved spirals, shows the loss as it trains, and prints
 * the decision regions it learned as ASCII art. Everything it needs is generated in-process, so it
 * runs on a fresh machine with no data files and no network. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "born/born.h"
#include "tools/born/commands.h"

enum { POINTS = 512, HIDDEN = 64, STEPS = 1500 };

/* Two spirals of POINTS/2 points each, with a little noise: x [POINTS, 2], labels [POINTS]. */
static void make_spirals(born_generator *gen, born_tensor **x, born_tensor **y) {
    int64_t half = POINTS / 2;
    born_tensor *t = born_mul_scalar(born_rand(gen, BORN_F32, BORN_DIMS(half)), 3.0 * M_PI);
    born_tensor *r = born_add_scalar(born_mul_scalar(t, 1.0 / (3.0 * M_PI)), 0.05);
    born_tensor *a = born_stack((born_tensor *[]){born_mul(r, born_cos(t)), born_mul(r, born_sin(t))}, 2, 1);
    born_tensor *noise = born_mul_scalar(born_randn(gen, BORN_F32, BORN_DIMS(POINTS, 2)), 0.02);
    *x = born_add(born_cat((born_tensor *[]){a, born_neg(a)}, 2, 0), noise);
    *y = born_cat((born_tensor *[]){born_zeros(BORN_I64, BORN_DIMS(half)), born_ones(BORN_I64, BORN_DIMS(half))}, 2, 0);
}

/* A parameter: uniform in [-bound, bound), as PyTorch initialises Linear layers. */
static born_tensor *param(born_generator *gen, int64_t rows, int64_t cols, double bound) {
    born_scope_begin();
    born_tensor *u = born_rand(gen, BORN_F32, cols ? 2 : 1, cols ? (int64_t[]){rows, cols} : (int64_t[]){rows});
    born_tensor *p = born_keep(born_sub_scalar(born_mul_scalar(u, 2 * bound), bound));
    born_scope_end();
    return born_requires_grad(p, true);
}

static born_tensor *forward(born_tensor *const *w, born_tensor *x) {
    born_tensor *h = born_tanh(born_linear(x, w[0], w[1]));
    h = born_tanh(born_linear(h, w[2], w[3]));
    return born_linear(h, w[4], w[5]);
}

int cmd_demo(int argc, char **argv) {
    (void)argc;
    (void)argv;
    born_init();
    born_generator *gen = born_generator_new(0);
    printf("Born %s demo: an MLP learns two spirals (%d points), %d threads\n", born_version(), POINTS,
           born_get_num_threads());
    born_tensor *x, *y;
    born_scope_begin();
    make_spirals(gen, &x, &y);
    x = born_keep(x);
    y = born_keep(y);
    born_scope_end();
    double b1 = 1 / sqrt(2.0), b2 = 1 / sqrt((double)HIDDEN);
    born_tensor *w[6] = {param(gen, HIDDEN, 2, b1), param(gen, HIDDEN, 0, b1), param(gen, HIDDEN, HIDDEN, b2),
                         param(gen, HIDDEN, 0, b2), param(gen, 2, HIDDEN, b2), param(gen, 2, 0, b2)};
    /* Adam, written out with tensor ops */
    born_tensor *m[6], *v[6];
    for (int i = 0; i < 6; i++) {
        m[i] = born_zeros_like(w[i]);
        v[i] = born_zeros_like(w[i]);
    }
    const double lr = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    clock_t start = clock();
    int status = 0;
    for (int step = 1; step <= STEPS && status == 0; step++) {
        born_scope_begin();
        born_tensor *logp = born_log_softmax(forward(w, x), 1);
        born_tensor *nll = born_neg(born_mean(born_gather(logp, 1, born_unsqueeze(y, 1)), 0, NULL, false));
        if (!nll || born_backward(nll) != BORN_OK) {
            fprintf(stderr, "born demo: %s\n", born_last_error());
            status = 1;
        }
        born_no_grad_begin();
        double c1 = 1 - pow(beta1, step), c2 = 1 - pow(beta2, step);
        for (int i = 0; i < 6 && status == 0; i++) {
            born_tensor *g = born_grad(w[i]);
            born_copy_(m[i], born_add(born_mul_scalar(m[i], beta1), born_mul_scalar(g, 1 - beta1)));
            born_copy_(v[i], born_add(born_mul_scalar(v[i], beta2), born_mul_scalar(born_square(g), 1 - beta2)));
            born_tensor *upd = born_div(born_mul_scalar(m[i], lr / c1), born_add_scalar(born_sqrt(born_div_scalar(v[i], c2)), eps));
            born_sub_(w[i], upd);
            born_zero_grad(w[i]);
        }
        if (step % 150 == 0 || step == 1) {
            born_tensor *acc = born_mean(born_to_dtype(born_eq(born_argmax(logp, 1, false), y), BORN_F32), 0, NULL, false);
            printf("  step %4d  loss %.4f  train accuracy %5.1f%%\n", step, born_item(nll), 100 * born_item(acc));
            fflush(stdout);
        }
        born_no_grad_end();
        born_scope_end();
    }
    double secs = (double)(clock() - start) / CLOCKS_PER_SEC;
    if (status == 0) {
        /* the learned decision regions over [-1, 1]^2, with the training points on top */
        enum { W = 64, H = 24 };
        born_scope_begin();
        born_no_grad_begin();
        born_tensor *gx = born_linspace(-1, 1, W, BORN_F32), *gy = born_linspace(1, -1, H, BORN_F32);
        born_tensor *grid = born_stack((born_tensor *[]){born_expand(born_unsqueeze(gx, 0), BORN_DIMS(H, W)),
                                                         born_expand(born_unsqueeze(gy, 1), BORN_DIMS(H, W))}, 2, 2);
        born_tensor *cls = born_argmax(forward(w, born_reshape(grid, BORN_DIMS(H * W, 2))), 1, false);
        char canvas[H][W + 1];
        for (int r = 0; r < H; r++) {
            for (int c = 0; c < W; c++) {
                int64_t k;
                born_get_i64(cls, (int64_t[]){r * W + c}, &k);
                canvas[r][c] = k ? ':' : ' ';
            }
            canvas[r][W] = 0;
        }
        for (int i = 0; i < POINTS; i++) {
            double px, py;
            int64_t label;
            born_get(x, (int64_t[]){i, 0}, &px);
            born_get(x, (int64_t[]){i, 1}, &py);
            born_get_i64(y, (int64_t[]){i}, &label);
            int c = (int)lround((px + 1) / 2 * (W - 1)), r = (int)lround((1 - py) / 2 * (H - 1));
            if (c >= 0 && c < W && r >= 0 && r < H) canvas[r][c] = label ? 'o' : 'x';
        }
        printf("\nlearned regions (' ' class x, ':' class o) with the training points:\n");
        for (int r = 0; r < H; r++) printf("  |%s|\n", canvas[r]);
        born_no_grad_end();
        born_scope_end();
        printf("\ntrained %d steps in %.1f s of CPU time\n", STEPS, secs);
    }
    for (int i = 0; i < 6; i++) {
        born_free(w[i]);
        born_free(m[i]);
        born_free(v[i]);
    }
    born_free(x);
    born_free(y);
    born_generator_free(gen);
    return status;
}
