/* Initialisers, as torch.nn.init: each draws a new tensor (outside the graph) and copies it into
 * the target, so they work on parameters that require grad, on any layout and on any device. */
#include <inttypes.h>
#include <math.h>

#include "core/tensor_impl.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

static bool check_target(const char *fn, const born_tensor *t) {
    if (!t) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: tensor is NULL", fn);
        return false;
    }
    if (!born_dtype_is_floating(t->dtype)) {
        char d[200];
        born_error(BORN_ERR_DTYPE, "%s: %s is not floating", fn, ops_describe(t, d, sizeof d));
        return false;
    }
    return true;
}

/* t = scale * draw + shift, with draw uniform on [0, 1) or standard normal. */
static born_status fill_random(const char *fn, born_tensor *t, bool normal, double scale,
                               double shift, born_generator *gen) {
    if (!check_target(fn, t)) return born_last_status();
    born_no_grad_begin();
    born_scope_begin();
    born_tensor *r = normal ? born_randn(gen, t->dtype, t->ndim, t->shape)
                            : born_rand(gen, t->dtype, t->ndim, t->shape);
    born_tensor *v = born_add_scalar(born_mul_scalar(r, scale), shift);
    born_status st = v ? born_copy_(t, v) : born_last_status();
    born_scope_end();
    born_no_grad_end();
    return st;
}

born_status born_init_uniform_(born_tensor *t, double a, double b, born_generator *gen) {
    return fill_random("born_init_uniform_", t, false, b - a, a, gen);
}

born_status born_init_normal_(born_tensor *t, double mean, double std, born_generator *gen) {
    return fill_random("born_init_normal_", t, true, std, mean, gen);
}

born_status born_init_constant_(born_tensor *t, double value) {
    if (!check_target("born_init_constant_", t)) return born_last_status();
    born_no_grad_begin();
    born_status st = born_fill_(t, value);
    born_no_grad_end();
    return st;
}

born_status born_init_zeros_(born_tensor *t) { return born_init_constant_(t, 0.0); }
born_status born_init_ones_(born_tensor *t) { return born_init_constant_(t, 1.0); }

double born_init_calculate_gain(born_nonlinearity nonlinearity, double param) {
    switch (nonlinearity) {
    case BORN_NONLINEARITY_LINEAR:
    case BORN_NONLINEARITY_SIGMOID: return 1.0;
    case BORN_NONLINEARITY_TANH: return 5.0 / 3.0;
    case BORN_NONLINEARITY_RELU: return sqrt(2.0);
    case BORN_NONLINEARITY_LEAKY_RELU: return sqrt(2.0 / (1.0 + param * param));
    case BORN_NONLINEARITY_SELU: return 3.0 / 4.0;
    }
    born_error(BORN_ERR_ARGUMENT, "born_init_calculate_gain: unknown nonlinearity %d", (int)nonlinearity);
    return NAN;
}

born_status born_init_calculate_fan(const born_tensor *t, int64_t *fan_in, int64_t *fan_out) {
    static const char *fn = "born_init_calculate_fan";
    if (!t) {
        if (!born_has_error()) born_error(BORN_ERR_ARGUMENT, "%s: tensor is NULL", fn);
        return born_last_status();
    }
    if (t->ndim < 2) {
        char d[200];
        return born_error(BORN_ERR_SHAPE, "%s: fan in and fan out cannot be computed for %s with "
                          "fewer than 2 dimensions", fn, ops_describe(t, d, sizeof d));
    }
    int64_t receptive = 1;
    for (int d = 2; d < t->ndim; d++) receptive *= t->shape[d];
    if (fan_in) *fan_in = t->shape[1] * receptive;
    if (fan_out) *fan_out = t->shape[0] * receptive;
    return BORN_OK;
}

static born_status xavier(const char *fn, born_tensor *t, double gain, bool normal,
                          born_generator *gen) {
    if (!check_target(fn, t)) return born_last_status();
    int64_t fi, fo;
    if (born_init_calculate_fan(t, &fi, &fo) != BORN_OK) return born_last_status();
    if (born_tensor_numel(t) == 0) return BORN_OK;
    double std = gain * sqrt(2.0 / (double)(fi + fo));
    if (normal) return fill_random(fn, t, true, std, 0.0, gen);
    double a = sqrt(3.0) * std;
    return fill_random(fn, t, false, 2 * a, -a, gen);
}

born_status born_init_xavier_uniform_(born_tensor *t, double gain, born_generator *gen) {
    return xavier("born_init_xavier_uniform_", t, gain, false, gen);
}

born_status born_init_xavier_normal_(born_tensor *t, double gain, born_generator *gen) {
    return xavier("born_init_xavier_normal_", t, gain, true, gen);
}

static born_status kaiming(const char *fn, born_tensor *t, double a, born_fan_mode mode,
                           born_nonlinearity nl, bool normal, born_generator *gen) {
    if (!check_target(fn, t)) return born_last_status();
    if (mode != BORN_FAN_IN && mode != BORN_FAN_OUT)
        return born_error(BORN_ERR_ARGUMENT, "%s: unknown fan mode %d", fn, (int)mode);
    if (born_tensor_numel(t) == 0) return BORN_OK; /* torch: a no-op on empty tensors */
    int64_t fi, fo;
    if (born_init_calculate_fan(t, &fi, &fo) != BORN_OK) return born_last_status();
    double gain = born_init_calculate_gain(nl, a);
    if (isnan(gain)) return born_last_status();
    double std = gain / sqrt((double)(mode == BORN_FAN_IN ? fi : fo));
    if (normal) return fill_random(fn, t, true, std, 0.0, gen);
    double bound = sqrt(3.0) * std;
    return fill_random(fn, t, false, 2 * bound, -bound, gen);
}

born_status born_init_kaiming_uniform_(born_tensor *t, double a, born_fan_mode mode,
                                       born_nonlinearity nonlinearity, born_generator *gen) {
    return kaiming("born_init_kaiming_uniform_", t, a, mode, nonlinearity, false, gen);
}

born_status born_init_kaiming_normal_(born_tensor *t, double a, born_fan_mode mode,
                                      born_nonlinearity nonlinearity, born_generator *gen) {
    return kaiming("born_init_kaiming_normal_", t, a, mode, nonlinearity, true, gen);
}
