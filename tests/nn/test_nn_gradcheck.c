/* born_gradcheck (f64, central differences) through the nn layer: the functional norms, batch
 * norm in training and eval, every loss, adaptive pooling, dropout with a fixed mask, and the
 * Linear, Conv2d and Sequential modules with respect to their input and their own parameters. */
#include <stdlib.h>

#include "nn/nn_test_util.h"

#define GRADCHECK(fn, n, inputs, ctx)                                                              \
    do {                                                                                           \
        born_status st_ = born_gradcheck((fn), (n), (inputs), (ctx), NULL);                        \
        CHECK_MSG(st_ == BORN_OK, "gradcheck %s: %s", #fn, born_last_error());                     \
        born_clear_error();                                                                        \
    } while (0)

static born_tensor *leaf(born_tensor *t) { return born_requires_grad(t, true); }

/* ---- normalisation -------------------------------------------------------------------------- */

static born_tensor *layer_norm_fn(born_tensor *const *in, void *ctx) {
    (void)ctx;
    return born_layer_norm(in[0], BORN_DIMS(3, 4), in[1], in[2], 1e-5);
}

static born_tensor *rms_norm_fn(born_tensor *const *in, void *ctx) {
    (void)ctx;
    return born_rms_norm(in[0], BORN_DIMS(4), in[1], -1);
}

TEST(nn_gradcheck_layer_norm_and_rms_norm) {
    born_tensor *in[3] = {leaf(PAT64(0.53, 0.2, 2.0, 2, 3, 4)), leaf(PAT64(0.5, 0.5, 0.5, 3, 4)),
                          leaf(PAT64(0.3, 0.1, 0.5, 3, 4))};
    GRADCHECK(layer_norm_fn, 3, in, NULL);
    born_tensor *rin[2] = {in[0], leaf(born_add_scalar(PAT64(0.5, 0.5, 0.5, 4), 1.0))};
    GRADCHECK(rms_norm_fn, 2, rin, NULL);
}

typedef struct bn_ctx {
    born_tensor *rm, *rv;
    bool training;
} bn_ctx;

static born_tensor *batch_norm_fn(born_tensor *const *in, void *ctx) {
    bn_ctx *c = ctx;
    return born_batch_norm(in[0], c->rm, c->rv, in[1], in[2], c->training, 0.1, 1e-5);
}

TEST(nn_gradcheck_batch_norm) {
    bn_ctx c = {born_zeros(BORN_F64, BORN_DIMS(3)), born_ones(BORN_F64, BORN_DIMS(3)), true};
    born_tensor *w = leaf(born_add_scalar(PAT64(0.5, 0.5, 1.0, 3), 1.0)), *b = leaf(PAT64(0.3, 0.1, 0.5, 3));
    born_tensor *in2[3] = {leaf(PAT64(0.71, 0.2, 2.0, 4, 3)), w, b};
    GRADCHECK(batch_norm_fn, 3, in2, &c);
    born_tensor *in4[3] = {leaf(PAT64(0.41, 0.3, 2.0, 2, 3, 2, 2)), w, b};
    GRADCHECK(batch_norm_fn, 3, in4, &c);
    c.training = false;
    c.rm = PAT64(0.2, 0.1, 0.3, 3);
    c.rv = born_add_scalar(born_square(PAT64(0.4, 0.1, 1.0, 3)), 0.5);
    GRADCHECK(batch_norm_fn, 3, in4, &c);
    /* without running statistics in training (track_running_stats = False) */
    c.training = true;
    c.rm = c.rv = NULL;
    GRADCHECK(batch_norm_fn, 3, in2, &c);
}

/* ---- losses ---------------------------------------------------------------------------------- */

typedef struct ce_ctx {
    born_tensor *target;
    born_cross_entropy_params p;
} ce_ctx;

static born_tensor *ce_fn(born_tensor *const *in, void *ctx) {
    ce_ctx *c = ctx;
    return born_cross_entropy(in[0], c->target, &c->p);
}

/* probability targets: the gradient also flows into the target */
static born_tensor *ce_prob_fn(born_tensor *const *in, void *ctx) {
    ce_ctx *c = ctx;
    return born_cross_entropy(in[0], in[1], &c->p);
}

TEST(nn_gradcheck_cross_entropy_and_nll) {
    born_tensor *w = PAT64(0.9, 0.4, 0.5, 5);
    w = born_add_scalar(born_abs(w), 0.2);
    born_reduction reds[3] = {BORN_REDUCTION_MEAN, BORN_REDUCTION_SUM, BORN_REDUCTION_NONE};
    for (int r = 0; r < 3; r++) {
        ce_ctx c = {tensor_of(BORN_I64, BORN_DIMS(4), (double[]){1, -100, 4, 0}), born_cross_entropy_default_params()};
        c.p.weight = w;
        c.p.label_smoothing = 0.1;
        c.p.reduction = reds[r];
        born_tensor *x = leaf(PAT64(0.7, 0.3, 2.0, 4, 5));
        GRADCHECK(ce_fn, 1, &x, &c);
        /* 2-D spatial targets */
        c.target = tensor_of(BORN_I64, BORN_DIMS(2, 2), (double[]){1, 4, -100, 3});
        born_tensor *x2 = leaf(PAT64(0.53, 0.1, 2.0, 2, 5, 2));
        GRADCHECK(ce_fn, 1, &x2, &c);
        /* probabilities */
        born_tensor *pin[2] = {x, leaf(born_softmax(PAT64(0.41, 0.7, 2.0, 4, 5), 1))};
        GRADCHECK(ce_prob_fn, 2, pin, &c);
    }
    ce_ctx plain = {tensor_of(BORN_I64, BORN_DIMS(4), (double[]){1, 2, 4, 0}), born_cross_entropy_default_params()};
    born_tensor *x = leaf(PAT64(0.7, 0.3, 2.0, 4, 5));
    GRADCHECK(ce_fn, 1, &x, &plain);
}

static born_tensor *nll_fn(born_tensor *const *in, void *ctx) {
    born_nll_loss_params p = born_nll_loss_default_params();
    p.weight = ctx;
    return born_nll_loss(born_log_softmax(in[0], 1), tensor_of(BORN_I64, BORN_DIMS(3), (double[]){2, 0, -100}), &p);
}

TEST(nn_gradcheck_nll_loss) {
    born_tensor *x = leaf(PAT64(0.7, 0.3, 2.0, 3, 4));
    GRADCHECK(nll_fn, 1, &x, NULL);
    GRADCHECK(nll_fn, 1, &x, tensor_of(BORN_F64, BORN_DIMS(4), (double[]){0.5, 1, 2, 0.25}));
}

typedef struct pw_ctx {
    int kind;
    born_reduction r;
} pw_ctx;

static born_tensor *pointwise_fn(born_tensor *const *in, void *ctx) {
    pw_ctx *c = ctx;
    switch (c->kind) {
    case 0: return born_mse_loss(in[0], in[1], c->r);
    case 1: return born_l1_loss(in[0], in[1], c->r);
    case 2: return born_smooth_l1_loss(in[0], in[1], c->r, 0.5);
    case 3: return born_huber_loss(in[0], in[1], c->r, 0.7);
    case 4: {
        born_bce_params p = born_bce_default_params();
        p.reduction = c->r;
        p.weight = tensor_of(BORN_F64, BORN_DIMS(3), (double[]){0.5, 1, 2});
        p.pos_weight = tensor_of(BORN_F64, BORN_DIMS(3), (double[]){3, 0.5, 1.5});
        return born_binary_cross_entropy_with_logits(in[0], born_sigmoid(in[1]), &p);
    }
    default: {
        born_bce_params p = born_bce_default_params();
        p.reduction = c->r;
        return born_binary_cross_entropy(born_sigmoid(in[0]), born_sigmoid(in[1]), &p);
    }
    }
}

TEST(nn_gradcheck_regression_and_binary_losses) {
    /* differences kept away from 0 and from the smooth-L1/Huber switch points */
    born_tensor *in[2] = {leaf(PAT64(0.8, 0.1, 2.0, 2, 3)), leaf(PAT64(0.5, 0.9, 1.5, 2, 3))};
    born_reduction reds[3] = {BORN_REDUCTION_MEAN, BORN_REDUCTION_SUM, BORN_REDUCTION_NONE};
    for (int kind = 0; kind < 6; kind++)
        for (int r = 0; r < 3; r++) {
            pw_ctx c = {kind, reds[r]};
            born_status st = born_gradcheck(pointwise_fn, 2, in, &c, NULL);
            CHECK_MSG(st == BORN_OK, "loss %d reduction %d: %s", kind, r, born_last_error());
            born_clear_error();
        }
}

/* ---- pooling, dropout, modules ---------------------------------------------------------------- */

static born_tensor *adaptive_fn(born_tensor *const *in, void *ctx) {
    (void)ctx;
    return born_adaptive_avg_pool2d(in[0], 3, 2);
}

static born_tensor *dropout_fn(born_tensor *const *in, void *ctx) {
    born_generator *g = ctx;
    born_generator_seed(g, 42); /* the same mask on every call */
    return born_dropout(in[0], 0.4, true, g);
}

TEST(nn_gradcheck_adaptive_pool_and_dropout) {
    born_tensor *x = leaf(PAT64(0.47, 0.9, 1.0, 1, 2, 5, 7));
    GRADCHECK(adaptive_fn, 1, &x, NULL);
    born_generator *g = born_generator_new(0);
    born_tensor *d = leaf(PAT64(0.3, 0.2, 1.0, 4, 5));
    GRADCHECK(dropout_fn, 1, &d, g);
    born_generator_free(g);
}

static born_tensor *module_fn(born_tensor *const *in, void *ctx) {
    return born_module_forward((born_module *)ctx, in[0]);
}

/* Checks the module's gradient with respect to x and to every parameter (converted to f64). */
static void gradcheck_module(born_module *m, born_tensor *x, const char *what) {
    CHECK_OK(born_module_to_dtype(m, BORN_F64));
    int64_t n = 0;
    born_tensor **params = born_module_parameters(m, &n);
    born_tensor *in[16] = {x};
    for (int64_t i = 0; i < n && i < 15; i++) in[i + 1] = params[i];
    born_status st = born_gradcheck(module_fn, (int)n + 1, in, m, NULL);
    CHECK_MSG(st == BORN_OK, "gradcheck %s: %s", what, born_last_error());
    born_clear_error();
    free(params);
    born_module_free(m);
}

TEST(nn_gradcheck_modules) {
    born_generator *g = born_generator_new(17);
    gradcheck_module(born_linear_new(4, 3, true, g), leaf(PAT64(0.37, 0.5, 1.0, 2, 4)), "Linear");
    born_conv2d_options o = born_conv2d_default_options(3, 2);
    o.stride[0] = 2;
    o.padding[0] = o.padding[1] = 1;
    o.dilation[1] = 2;
    o.groups = 2;
    gradcheck_module(born_conv2d_new(2, 4, &o, g), leaf(PAT64(0.23, 0.1, 1.0, 1, 2, 4, 5)), "Conv2d");
    born_module *mlp = born_sequential_of(BORN_MODULES(born_linear_new(3, 4, true, g), born_tanh_new(),
                                                       born_layer_norm_new(BORN_DIMS(4), 1e-5, true, true),
                                                       born_linear_new(4, 2, false, g)));
    gradcheck_module(mlp, leaf(PAT64(0.6, 0.2, 1.0, 3, 3)), "Sequential MLP");
    born_module *bn = born_batch_norm1d_new(3, NULL);
    gradcheck_module(bn, leaf(PAT64(0.71, 0.2, 2.0, 4, 3)), "BatchNorm1d (training)");
    born_generator_free(g);
}
