/* Conv2d with torch's default initialisation: kaiming_uniform_(a = sqrt(5)) for the weight, i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in/groups * kh * kw, and the same bound for
 * the bias. Only zero padding, as born_conv2d. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "core/tensor_impl.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

typedef struct conv2d {
    born_module base;
    int64_t in_channels, out_channels;
    born_conv2d_options opt;
    born_tensor *weight, *bias; /* borrowed; bias may be NULL */
} conv2d;

born_conv2d_options born_conv2d_default_options(int64_t kh, int64_t kw) {
    born_conv2d_options o;
    memset(&o, 0, sizeof o);
    o.kernel[0] = kh;
    o.kernel[1] = kw;
    o.stride[0] = o.stride[1] = 1;
    o.dilation[0] = o.dilation[1] = 1;
    o.groups = 1;
    o.bias = true;
    return o;
}

static born_tensor *conv2d_forward(born_module *m, born_tensor *x) {
    conv2d *c = (conv2d *)m;
    born_conv2d_params p = born_conv2d_default_params();
    memcpy(p.stride, c->opt.stride, sizeof p.stride);
    memcpy(p.padding, c->opt.padding, sizeof p.padding);
    memcpy(p.dilation, c->opt.dilation, sizeof p.dilation);
    p.groups = c->opt.groups;
    if ((x->ndim != 3 && x->ndim != 4) || x->shape[x->ndim - 3] != c->in_channels) {
        char d[200];
        return born_error_null(BORN_ERR_SHAPE, "Conv2d(%" PRId64 ", %" PRId64 "): input %s must be "
                               "[N, %" PRId64 ", H, W] or [%" PRId64 ", H, W]", c->in_channels,
                               c->out_channels, ops_describe(x, d, sizeof d), c->in_channels,
                               c->in_channels);
    }
    return born_conv2d(x, c->weight, c->bias, &p);
}

static void conv2d_describe(const born_module *m, char *buf, size_t size) {
    const conv2d *c = (const conv2d *)m;
    char a[64], b[64];
    nn_buf_printf(buf, size, "%" PRId64 ", %" PRId64 ", kernel_size=%s, stride=%s", c->in_channels,
                  c->out_channels, nn_py_pair(c->opt.kernel, false, a, sizeof a),
                  nn_py_pair(c->opt.stride, false, b, sizeof b));
    if (c->opt.padding[0] || c->opt.padding[1])
        nn_buf_printf(buf, size, ", padding=%s", nn_py_pair(c->opt.padding, false, a, sizeof a));
    if (c->opt.dilation[0] != 1 || c->opt.dilation[1] != 1)
        nn_buf_printf(buf, size, ", dilation=%s", nn_py_pair(c->opt.dilation, false, a, sizeof a));
    if (c->opt.groups != 1) nn_buf_printf(buf, size, ", groups=%" PRId64, c->opt.groups);
    if (!c->bias) nn_buf_printf(buf, size, ", bias=False");
}

static const born_module_vtable conv2d_vt = {"Conv2d", conv2d_forward, NULL, conv2d_describe};

born_module *born_conv2d_new(int64_t in_channels, int64_t out_channels,
                             const born_conv2d_options *options, born_generator *gen) {
    static const char *fn = "born_conv2d_new";
    if (!options)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: options is NULL (use "
                               "born_conv2d_default_options)", fn);
    born_conv2d_options o = *options;
    if (in_channels < 1 || out_channels < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: in_channels %" PRId64 " and out_channels %"
                               PRId64 " must be positive", fn, in_channels, out_channels);
    if (o.groups < 1 || in_channels % o.groups || out_channels % o.groups)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: groups %" PRId64 " must be positive and "
                               "divide in_channels %" PRId64 " and out_channels %" PRId64, fn,
                               o.groups, in_channels, out_channels);
    for (int i = 0; i < 2; i++)
        if (o.kernel[i] < 1 || o.stride[i] < 1 || o.padding[i] < 0 || o.dilation[i] < 1) {
            char k[64], s[64], p[64], d[64];
            return born_error_null(BORN_ERR_ARGUMENT, "%s: kernel %s, stride %s and dilation %s "
                                   "must be positive and padding %s non-negative", fn,
                                   nn_py_pair(o.kernel, false, k, sizeof k),
                                   nn_py_pair(o.stride, false, s, sizeof s),
                                   nn_py_pair(o.dilation, false, d, sizeof d),
                                   nn_py_pair(o.padding, false, p, sizeof p));
        }
    conv2d *c = (conv2d *)nn_module_alloc(sizeof *c, &conv2d_vt, fn);
    if (!c) return NULL;
    c->in_channels = in_channels;
    c->out_channels = out_channels;
    c->opt = o;
    c->weight = nn_add_parameter(&c->base, "weight",
                                 BORN_DIMS(out_channels, in_channels / o.groups, o.kernel[0], o.kernel[1]));
    if (o.bias && c->weight) c->bias = nn_add_parameter(&c->base, "bias", BORN_DIMS(out_channels));
    bool ok = c->weight && (!o.bias || c->bias);
    ok = ok && born_init_kaiming_uniform_(c->weight, sqrt(5.0), BORN_FAN_IN,
                                          BORN_NONLINEARITY_LEAKY_RELU, gen) == BORN_OK;
    if (ok && o.bias) {
        int64_t fan_in = in_channels / o.groups * o.kernel[0] * o.kernel[1];
        double bound = 1.0 / sqrt((double)fan_in);
        ok = born_init_uniform_(c->bias, -bound, bound, gen) == BORN_OK;
    }
    if (!ok) {
        born_module_free(&c->base);
        return NULL;
    }
    return &c->base;
}
