/* Parameter-free modules over one op each: the activations, Softmax/LogSoftmax, Flatten and
 * Identity. One struct serves them all; the vtable says which op runs. */
#include <inttypes.h>

#include "core/tensor_impl.h"
#include "nn/nn_internal.h"

typedef enum act_kind {
    ACT_IDENTITY,
    ACT_RELU,
    ACT_LEAKY_RELU,
    ACT_GELU,
    ACT_GELU_TANH,
    ACT_SILU,
    ACT_SIGMOID,
    ACT_TANH,
    ACT_SOFTPLUS,
    ACT_ELU,
    ACT_SOFTMAX,
    ACT_LOG_SOFTMAX,
    ACT_FLATTEN
} act_kind;

typedef struct activation {
    born_module base;
    act_kind kind;
    double a, b; /* slope / alpha / beta, threshold */
    int d0, d1;  /* softmax dim; flatten start and end */
} activation;

static born_tensor *act_forward(born_module *m, born_tensor *x) {
    const activation *a = (const activation *)m;
    switch (a->kind) {
    case ACT_IDENTITY: return nn_alias(x);
    case ACT_RELU: return born_relu(x);
    case ACT_LEAKY_RELU: return born_leaky_relu(x, a->a);
    case ACT_GELU: return born_gelu(x);
    case ACT_GELU_TANH: return born_gelu_tanh(x);
    case ACT_SILU: return born_silu(x);
    case ACT_SIGMOID: return born_sigmoid(x);
    case ACT_TANH: return born_tanh(x);
    case ACT_SOFTPLUS: return born_softplus(x, a->a, a->b);
    case ACT_ELU: return born_elu(x, a->a);
    case ACT_SOFTMAX: return born_softmax(x, a->d0);
    case ACT_LOG_SOFTMAX: return born_log_softmax(x, a->d0);
    case ACT_FLATTEN: return born_flatten(x, a->d0, a->d1);
    }
    return born_error_null(BORN_ERR_INTERNAL, "%s: unknown activation", born_module_type_name(m));
}

static void act_describe(const born_module *m, char *buf, size_t size) {
    const activation *a = (const activation *)m;
    char x[40], y[40];
    switch (a->kind) {
    case ACT_LEAKY_RELU: nn_buf_printf(buf, size, "negative_slope=%s", nn_py_float(a->a, x, sizeof x)); break;
    case ACT_GELU: nn_buf_printf(buf, size, "approximate='none'"); break;
    case ACT_GELU_TANH: nn_buf_printf(buf, size, "approximate='tanh'"); break;
    case ACT_SOFTPLUS:
        nn_buf_printf(buf, size, "beta=%s, threshold=%s", nn_py_float(a->a, x, sizeof x),
                      nn_py_float(a->b, y, sizeof y));
        break;
    case ACT_ELU: nn_buf_printf(buf, size, "alpha=%s", nn_py_float(a->a, x, sizeof x)); break;
    case ACT_SOFTMAX:
    case ACT_LOG_SOFTMAX: nn_buf_printf(buf, size, "dim=%d", a->d0); break;
    case ACT_FLATTEN: nn_buf_printf(buf, size, "start_dim=%d, end_dim=%d", a->d0, a->d1); break;
    default: break;
    }
}

static const born_module_vtable identity_vt = {"Identity", act_forward, NULL, act_describe};
static const born_module_vtable relu_vt = {"ReLU", act_forward, NULL, act_describe};
static const born_module_vtable leaky_relu_vt = {"LeakyReLU", act_forward, NULL, act_describe};
static const born_module_vtable gelu_vt = {"GELU", act_forward, NULL, act_describe};
static const born_module_vtable silu_vt = {"SiLU", act_forward, NULL, act_describe};
static const born_module_vtable sigmoid_vt = {"Sigmoid", act_forward, NULL, act_describe};
static const born_module_vtable tanh_vt = {"Tanh", act_forward, NULL, act_describe};
static const born_module_vtable softplus_vt = {"Softplus", act_forward, NULL, act_describe};
static const born_module_vtable elu_vt = {"ELU", act_forward, NULL, act_describe};
static const born_module_vtable softmax_vt = {"Softmax", act_forward, NULL, act_describe};
static const born_module_vtable log_softmax_vt = {"LogSoftmax", act_forward, NULL, act_describe};
static const born_module_vtable flatten_vt = {"Flatten", act_forward, NULL, act_describe};

static born_module *act_new(const born_module_vtable *vt, act_kind kind, double a, double b,
                            int d0, int d1, const char *fn) {
    activation *m = (activation *)nn_module_alloc(sizeof *m, vt, fn);
    if (!m) return NULL;
    m->kind = kind;
    m->a = a;
    m->b = b;
    m->d0 = d0;
    m->d1 = d1;
    return &m->base;
}

born_module *born_identity_new(void) { return act_new(&identity_vt, ACT_IDENTITY, 0, 0, 0, 0, "born_identity_new"); }
born_module *born_relu_new(void) { return act_new(&relu_vt, ACT_RELU, 0, 0, 0, 0, "born_relu_new"); }
born_module *born_leaky_relu_new(double negative_slope) {
    return act_new(&leaky_relu_vt, ACT_LEAKY_RELU, negative_slope, 0, 0, 0, "born_leaky_relu_new");
}
born_module *born_gelu_new(bool tanh_approximation) {
    return act_new(&gelu_vt, tanh_approximation ? ACT_GELU_TANH : ACT_GELU, 0, 0, 0, 0, "born_gelu_new");
}
born_module *born_silu_new(void) { return act_new(&silu_vt, ACT_SILU, 0, 0, 0, 0, "born_silu_new"); }
born_module *born_sigmoid_new(void) { return act_new(&sigmoid_vt, ACT_SIGMOID, 0, 0, 0, 0, "born_sigmoid_new"); }
born_module *born_tanh_new(void) { return act_new(&tanh_vt, ACT_TANH, 0, 0, 0, 0, "born_tanh_new"); }
born_module *born_softplus_new(double beta, double threshold) {
    return act_new(&softplus_vt, ACT_SOFTPLUS, beta, threshold, 0, 0, "born_softplus_new");
}
born_module *born_elu_new(double alpha) { return act_new(&elu_vt, ACT_ELU, alpha, 0, 0, 0, "born_elu_new"); }
born_module *born_softmax_new(int dim) { return act_new(&softmax_vt, ACT_SOFTMAX, 0, 0, dim, 0, "born_softmax_new"); }
born_module *born_log_softmax_new(int dim) {
    return act_new(&log_softmax_vt, ACT_LOG_SOFTMAX, 0, 0, dim, 0, "born_log_softmax_new");
}
born_module *born_flatten_new(int start_dim, int end_dim) {
    return act_new(&flatten_vt, ACT_FLATTEN, 0, 0, start_dim, end_dim, "born_flatten_new");
}
