/* Pooling modules: MaxPool2d, AvgPool2d and AdaptiveAvgPool2d over the ops of the same names. */
#include <inttypes.h>

#include "core/tensor_impl.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

typedef struct pool2d {
    born_module base;
    born_pool2d_params p;
} pool2d;

static born_tensor *max_pool2d_forward(born_module *m, born_tensor *x) {
    return born_max_pool2d(x, &((pool2d *)m)->p);
}

static born_tensor *avg_pool2d_forward(born_module *m, born_tensor *x) {
    return born_avg_pool2d(x, &((pool2d *)m)->p);
}

/* torch prints what the constructor was given; Born prints a pair as one int when both entries
 * are equal (MaxPool2d(2) and MaxPool2d((2, 2)) both read "kernel_size=2"). */
static void pool_common(const born_pool2d_params *p, char *buf, size_t size) {
    char k[64], s[64], pad[64];
    int64_t stride[2] = {p->stride[0] ? p->stride[0] : p->kernel[0],
                         p->stride[1] ? p->stride[1] : p->kernel[1]};
    nn_buf_printf(buf, size, "kernel_size=%s, stride=%s, padding=%s",
                  nn_py_pair(p->kernel, true, k, sizeof k), nn_py_pair(stride, true, s, sizeof s),
                  nn_py_pair(p->padding, true, pad, sizeof pad));
}

static void max_pool2d_describe(const born_module *m, char *buf, size_t size) {
    const born_pool2d_params *p = &((const pool2d *)m)->p;
    char d[64];
    pool_common(p, buf, size);
    nn_buf_printf(buf, size, ", dilation=%s, ceil_mode=%s", nn_py_pair(p->dilation, true, d, sizeof d),
                  nn_py_bool(p->ceil_mode));
}

static void avg_pool2d_describe(const born_module *m, char *buf, size_t size) {
    const born_pool2d_params *p = &((const pool2d *)m)->p;
    pool_common(p, buf, size);
    /* torch's AvgPool2d.extra_repr shows only these three */
}

static const born_module_vtable max_pool2d_vt = {"MaxPool2d", max_pool2d_forward, NULL,
                                                 max_pool2d_describe};
static const born_module_vtable avg_pool2d_vt = {"AvgPool2d", avg_pool2d_forward, NULL,
                                                 avg_pool2d_describe};

static born_module *pool_new(const char *fn, const born_module_vtable *vt,
                             const born_pool2d_params *params) {
    if (!params)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: params is NULL (use "
                               "born_pool2d_default_params)", fn);
    for (int i = 0; i < 2; i++)
        if (params->kernel[i] < 1 || params->stride[i] < 0 || params->padding[i] < 0 ||
            params->dilation[i] < 1 || 2 * params->padding[i] > params->kernel[i]) {
            char k[64], s[64], p[64], d[64];
            return born_error_null(BORN_ERR_ARGUMENT, "%s: kernel %s and dilation %s must be "
                                   "positive, stride %s non-negative (0: the kernel) and padding "
                                   "%s between 0 and half the kernel", fn,
                                   nn_py_pair(params->kernel, false, k, sizeof k),
                                   nn_py_pair(params->dilation, false, d, sizeof d),
                                   nn_py_pair(params->stride, false, s, sizeof s),
                                   nn_py_pair(params->padding, false, p, sizeof p));
        }
    pool2d *m = (pool2d *)nn_module_alloc(sizeof *m, vt, fn);
    if (!m) return NULL;
    m->p = *params;
    return &m->base;
}

born_module *born_max_pool2d_new(const born_pool2d_params *params) {
    return pool_new("born_max_pool2d_new", &max_pool2d_vt, params);
}

born_module *born_avg_pool2d_new(const born_pool2d_params *params) {
    return pool_new("born_avg_pool2d_new", &avg_pool2d_vt, params);
}

/* ---- AdaptiveAvgPool2d ---------------------------------------------------------------------- */

typedef struct adaptive_pool {
    born_module base;
    int64_t out[2];
} adaptive_pool;

static born_tensor *adaptive_forward(born_module *m, born_tensor *x) {
    adaptive_pool *a = (adaptive_pool *)m;
    return born_adaptive_avg_pool2d(x, a->out[0], a->out[1]);
}

static void adaptive_describe(const born_module *m, char *buf, size_t size) {
    char o[64];
    nn_buf_printf(buf, size, "output_size=%s", nn_py_pair(((const adaptive_pool *)m)->out, false, o, sizeof o));
}

static const born_module_vtable adaptive_vt = {"AdaptiveAvgPool2d", adaptive_forward, NULL,
                                               adaptive_describe};

born_module *born_adaptive_avg_pool2d_new(int64_t oh, int64_t ow) {
    static const char *fn = "born_adaptive_avg_pool2d_new";
    if (oh < 1 || ow < 1)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: output size (%" PRId64 ", %" PRId64 ") must "
                               "be positive", fn, oh, ow);
    adaptive_pool *m = (adaptive_pool *)nn_module_alloc(sizeof *m, &adaptive_vt, fn);
    if (!m) return NULL;
    m->out[0] = oh;
    m->out[1] = ow;
    return &m->base;
}
