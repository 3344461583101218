/* Initialisers and the layers' default initialisation: bounds and moments of the distributions
 * torch uses (with a fixed seed), gains and fans as torch.nn.init computes them, and dropout's
 * masks. torch's values for calculate_gain: linear/sigmoid 1, tanh 5/3, relu sqrt(2),
 * leaky_relu(0.2) sqrt(2 / 1.04), selu 0.75. */
#include <stdlib.h>
#include <string.h>

#include "nn/nn_test_util.h"

typedef struct moments {
    double min, max, mean, var;
} moments;

static moments moments_of(born_tensor *t) {
    moments m = {INFINITY, -INFINITY, 0, 0};
    int64_t n = born_tensor_numel(t);
    double *v = malloc((size_t)n * sizeof *v);
    if (!v || !test_read(t, v, n)) {
        free(v);
        return m;
    }
    for (int64_t i = 0; i < n; i++) {
        m.min = fmin(m.min, v[i]);
        m.max = fmax(m.max, v[i]);
        m.mean += v[i];
    }
    m.mean /= (double)n;
    for (int64_t i = 0; i < n; i++) m.var += (v[i] - m.mean) * (v[i] - m.mean);
    m.var /= (double)n;
    free(v);
    return m;
}

/* U(-b, b): inside the bounds, reaching close to them, mean 0 and variance b^2 / 3. */
static void check_uniform(born_tensor *t, double b, const char *what) {
    moments m = moments_of(t);
    int64_t n = born_tensor_numel(t);
    CHECK_MSG(m.min >= -b && m.max <= b, "%s: [%g, %g] outside +-%g", what, m.min, m.max, b);
    CHECK_MSG(m.min < -0.95 * b && m.max > 0.95 * b, "%s: [%g, %g] does not fill +-%g", what, m.min, m.max, b);
    CHECK_MSG(fabs(m.mean) < 5 * b / sqrt(3.0 * (double)n), "%s: mean %g", what, m.mean);
    CHECK_MSG(fabs(m.var / (b * b / 3) - 1) < 0.05, "%s: variance %g, expected %g", what, m.var, b * b / 3);
}

static void check_normal(born_tensor *t, double mean, double std, const char *what) {
    moments m = moments_of(t);
    int64_t n = born_tensor_numel(t);
    CHECK_MSG(fabs(m.mean - mean) < 5 * std / sqrt((double)n), "%s: mean %g, expected %g", what, m.mean, mean);
    CHECK_MSG(fabs(sqrt(m.var) / std - 1) < 0.03, "%s: std %g, expected %g", what, sqrt(m.var), std);
}

TEST(nn_default_init_follows_torch) {
    born_generator *g = born_generator_new(1234);
    born_module *l = born_linear_new(256, 128, true, g);
    check_uniform(born_module_get_parameter(l, "weight"), 1.0 / 16, "Linear weight");
    moments bm = moments_of(born_module_get_parameter(l, "bias"));
    CHECK(bm.min >= -1.0 / 16 && bm.max <= 1.0 / 16 && bm.max - bm.min > 0.1);
    born_module_free(l);

    born_conv2d_options o = born_conv2d_default_options(3, 3);
    o.groups = 2;
    born_module *c = born_conv2d_new(16, 64, &o, g); /* fan_in = 16 / 2 * 9 = 72 */
    check_uniform(born_module_get_parameter(c, "weight"), 1.0 / sqrt(72.0), "Conv2d weight");
    moments cb = moments_of(born_module_get_parameter(c, "bias"));
    CHECK(cb.min >= -1.0 / sqrt(72.0) && cb.max <= 1.0 / sqrt(72.0));
    born_module_free(c);

    born_module *e = born_embedding_new(1000, 64, BORN_EMBEDDING_NO_PADDING, g);
    check_normal(born_module_get_parameter(e, "weight"), 0.0, 1.0, "Embedding weight");
    born_module_free(e);

    born_module *bn = born_batch_norm2d_new(3, NULL), *ln = born_layer_norm_new(BORN_DIMS(2, 2), 1e-5, true, true);
    CHECK_TENSOR_NEAR(born_module_get_parameter(bn, "weight"), ((double[]){1, 1, 1}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_module_get_parameter(bn, "bias"), ((double[]){0, 0, 0}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_module_get_buffer(bn, "running_mean"), ((double[]){0, 0, 0}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_module_get_buffer(bn, "running_var"), ((double[]){1, 1, 1}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_module_get_parameter(ln, "weight"), ((double[]){1, 1, 1, 1}), 4, 0, 0);
    CHECK_TENSOR_NEAR(born_module_get_parameter(ln, "bias"), ((double[]){0, 0, 0, 0}), 4, 0, 0);
    born_module_free(bn);
    born_module_free(ln);

    /* the same seed gives the same model, another seed another one */
    born_generator *g1 = born_generator_new(7), *g2 = born_generator_new(7), *g3 = born_generator_new(8);
    born_module *a = born_linear_new(5, 4, true, g1), *b = born_linear_new(5, 4, true, g2), *d = born_linear_new(5, 4, true, g3);
    double va[20], vb[20], vd[20];
    CHECK(test_read(born_module_get_parameter(a, "weight"), va, 20) && test_read(born_module_get_parameter(b, "weight"), vb, 20) &&
          test_read(born_module_get_parameter(d, "weight"), vd, 20));
    CHECK(memcmp(va, vb, sizeof va) == 0 && memcmp(va, vd, sizeof va) != 0);
    born_module_free(a);
    born_module_free(b);
    born_module_free(d);
    born_generator_free(g1);
    born_generator_free(g2);
    born_generator_free(g3);
    born_generator_free(g);
}

TEST(nn_init_functions) {
    born_generator *g = born_generator_new(99);
    CHECK_NEAR(born_init_calculate_gain(BORN_NONLINEARITY_LINEAR, 0), 1.0, 0);
    CHECK_NEAR(born_init_calculate_gain(BORN_NONLINEARITY_SIGMOID, 0), 1.0, 0);
    CHECK_NEAR(born_init_calculate_gain(BORN_NONLINEARITY_TANH, 0), 5.0 / 3.0, 1e-15);
    CHECK_NEAR(born_init_calculate_gain(BORN_NONLINEARITY_RELU, 0), sqrt(2.0), 1e-15);
    CHECK_NEAR(born_init_calculate_gain(BORN_NONLINEARITY_LEAKY_RELU, 0.2), sqrt(2.0 / 1.04), 1e-15);
    CHECK_NEAR(born_init_calculate_gain(BORN_NONLINEARITY_SELU, 0), 0.75, 0);
    CHECK(isnan(born_init_calculate_gain((born_nonlinearity)42, 0)));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "unknown nonlinearity 42");

    int64_t fi, fo;
    born_tensor *w = born_requires_grad(born_empty(BORN_F32, BORN_DIMS(64, 32, 3, 5)), true);
    CHECK_OK(born_init_calculate_fan(w, &fi, &fo));
    CHECK_EQ_INT(fi, 32 * 15);
    CHECK_EQ_INT(fo, 64 * 15);
    CHECK(born_init_calculate_fan(born_zeros(BORN_F32, BORN_DIMS(5)), &fi, &fo) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "fewer than 2 dimensions");

    /* parameters that require grad can be initialised (outside the graph) */
    CHECK_OK(born_init_xavier_uniform_(w, 2.0, g));
    check_uniform(w, 2.0 * sqrt(6.0 / (fi + fo)), "xavier_uniform");
    CHECK_OK(born_init_xavier_normal_(w, 1.5, g));
    check_normal(w, 0.0, 1.5 * sqrt(2.0 / (fi + fo)), "xavier_normal");
    CHECK_OK(born_init_kaiming_uniform_(w, 0, BORN_FAN_OUT, BORN_NONLINEARITY_RELU, g));
    check_uniform(w, sqrt(2.0) * sqrt(3.0 / fo), "kaiming_uniform fan_out relu");
    CHECK_OK(born_init_kaiming_normal_(w, 0.1, BORN_FAN_IN, BORN_NONLINEARITY_LEAKY_RELU, g));
    check_normal(w, 0.0, sqrt(2.0 / 1.01) / sqrt((double)fi), "kaiming_normal leaky_relu(0.1)");
    CHECK(born_tensor_requires_grad(w) && born_tensor_is_leaf(w));

    born_tensor *u = born_empty(BORN_F64, BORN_DIMS(100, 100));
    CHECK_OK(born_init_uniform_(u, -3, 5, g));
    moments m = moments_of(u);
    CHECK(m.min >= -3 && m.max < 5 && fabs(m.mean - 1) < 0.05 && fabs(m.var - 64.0 / 12) < 0.2);
    CHECK_OK(born_init_normal_(u, 2, 0.5, g));
    check_normal(u, 2, 0.5, "normal(2, 0.5)");
    CHECK_OK(born_init_constant_(u, 0.25));
    CHECK(born_item(born_max(u, 0, NULL, false)) == 0.25 && born_item(born_min(u, 0, NULL, false)) == 0.25);
    CHECK_OK(born_init_ones_(u));
    CHECK(born_item(born_sum(u, 0, NULL, false)) == 10000);
    CHECK_OK(born_init_zeros_(u));
    CHECK(born_item(born_sum(u, 0, NULL, false)) == 0);
    /* a non-contiguous view is filled in place */
    born_tensor *col = born_select(u, 1, 3);
    CHECK_OK(born_init_ones_(col));
    CHECK(born_item(born_sum(u, 0, NULL, false)) == 100);

    CHECK(born_init_normal_(born_zeros(BORN_I32, BORN_DIMS(3)), 0, 1, g) == BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "born_init_normal_: [3] i32 is not floating");
    CHECK(born_init_kaiming_uniform_(born_zeros(BORN_F32, BORN_DIMS(3)), 0, BORN_FAN_IN, BORN_NONLINEARITY_RELU, g) != BORN_OK);
    CHECK_ERROR(BORN_ERR_SHAPE, "fewer than 2 dimensions");
    CHECK(born_init_zeros_(NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "tensor is NULL");
    /* empty tensors: a no-op, as torch */
    CHECK_OK(born_init_kaiming_normal_(born_zeros(BORN_F32, BORN_DIMS(0, 4)), 0, BORN_FAN_IN, BORN_NONLINEARITY_RELU, g));
    born_generator_free(g);
}

TEST(nn_dropout_masks) {
    born_generator *g = born_generator_new(3);
    born_tensor *x = born_full(BORN_F64, BORN_DIMS(100, 100), 2.0);
    born_tensor *y = born_dropout(x, 0.3, true, g);
    int64_t n = 10000;
    double *v = malloc((size_t)n * sizeof *v);
    CHECK(test_read(y, v, n));
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] == 0) zeros++;
        else CHECK_NEAR(v[i], 2.0 / 0.7, 1e-12);
    }
    CHECK_MSG(fabs((double)zeros / (double)n - 0.3) < 0.02, "dropped %lld of %lld", (long long)zeros, (long long)n);
    free(v);
    /* the same seed gives the same mask */
    born_generator_seed(g, 11);
    born_tensor *y1 = born_dropout(x, 0.5, true, g);
    born_generator_seed(g, 11);
    born_tensor *y2 = born_dropout(x, 0.5, true, g);
    CHECK(born_item(born_all(born_eq(y1, y2), 0, NULL, false)) == 1);
    /* eval, p = 0: a view of the input; p = 1: zeros */
    born_tensor *e = born_dropout(x, 0.5, false, g);
    CHECK(e != x && born_tensor_shares_storage(e, x));
    CHECK(born_tensor_shares_storage(born_dropout(x, 0.0, true, g), x));
    CHECK(born_item(born_sum(born_abs(born_dropout(x, 1.0, true, g)), 0, NULL, false)) == 0);
    CHECK(born_dropout(x, 1.5, true, g) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "probability 1.5 must lie in [0, 1]");
    CHECK(born_dropout_new(-0.1, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_dropout_new");
    /* the module: training draws masks, eval is the identity */
    born_module *d = born_dropout_new(0.5, g);
    born_tensor *xs = born_requires_grad(born_ones(BORN_F64, BORN_DIMS(50)), true);
    born_tensor *yd = born_module_forward(d, xs);
    CHECK_OK(born_backward(born_sum(yd, 0, NULL, false)));
    double gv[50], yv[50];
    CHECK(test_read(born_grad(xs), gv, 50) && test_read(yd, yv, 50));
    for (int i = 0; i < 50; i++) CHECK(gv[i] == yv[i]); /* d(x * mask)/dx = mask */
    born_module_eval(d);
    born_tensor *ye = born_module_forward(d, xs);
    CHECK(born_tensor_shares_storage(ye, xs) && born_tensor_requires_grad(ye));
    born_module_free(d);
    born_generator_free(g);
}
