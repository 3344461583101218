/* Shape inference at load: shapes flow from the declared graph inputs (fixed sizes, symbolic
 * dimensions by name, unknown ones) and the constants through the common operators in
 * topological order, and shapes that cannot fit are reported at load, naming the node: operands
 * that do not broadcast, MatMul/Gemm inner sizes that differ, Conv channels that do not match the
 * weight, Concat operands that differ off the axis, a Reshape whose constant shape cannot hold the
 * input. Dimensions that are unknown, or symbolic with different names, are never an error; the
 * same symbol is the same size. Operators without a rule give unknown outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "onnx/plan.h"

typedef struct sdim {
    int64_t v;       /* >= 0 known, -1 unknown */
    const char *sym; /* symbolic name when v < 0, or NULL */
} sdim;

typedef struct sshape {
    int rank; /* -1 unknown */
    sdim d[BORN_MAX_DIMS];
} sshape;

static bool known(sdim a) { return a.v >= 0; }

/* True when a and b may be the same size. */
static bool compatible(sdim a, sdim b) {
    if (known(a) && known(b)) return a.v == b.v;
    return true;
}

static const char *dim_text(sdim a, char *buf, size_t n) {
    if (known(a)) snprintf(buf, n, "%lld", (long long)a.v);
    else snprintf(buf, n, "%s", a.sym ? a.sym : "?");
    return buf;
}

static born_status fail(const onnx_node *n, const char *fmt, const char *x, const char *y) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, x, y);
    return born_error(BORN_ERR_SHAPE, "onnx: %s node '%s': %s (shape inference at load)",
                      n->op_type, n->name, msg);
}

static void shape_text(const sshape *s, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < s->rank && k < n; i++) {
        char d[64];
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", dim_text(s->d[i], d, sizeof d));
    }
    if (k < n) snprintf(buf + k, n - k, "]");
}

/* Broadcasts a and b into out; false when two known sizes differ and neither is 1. */
static bool broadcast(const sshape *a, const sshape *b, sshape *out) {
    if (a->rank < 0 || b->rank < 0) {
        out->rank = -1;
        return true;
    }
    int r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        sdim x = ia >= 0 ? a->d[ia] : (sdim){1, NULL}, y = ib >= 0 ? b->d[ib] : (sdim){1, NULL};
        if (known(x) && x.v == 1) out->d[i] = y;
        else if (known(y) && y.v == 1) out->d[i] = x;
        else if (known(x) && known(y) && x.v != y.v) return false;
        else if (known(x)) out->d[i] = x;
        else if (known(y)) out->d[i] = y;
        else out->d[i] = x.sym && y.sym && !strcmp(x.sym, y.sym) ? x : (sdim){-1, NULL};
    }
    return true;
}

static void from_tensor(born_tensor *t, sshape *s) {
    s->rank = born_tensor_ndim(t);
    for (int i = 0; i < s->rank; i++) s->d[i] = (sdim){born_tensor_shape(t)[i], NULL};
}

static const char *const same_shape_ops[] = {
    "Relu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu",
    "Exp", "Log", "Sqrt", "Neg", "Abs", "Erf", "Softmax", "LogSoftmax", "Identity", "Cast",
    "BatchNormalization", "Dropout", "Floor", "Ceil", "Round", "Sin", "Cos", "Reciprocal", "Not",
    "Softplus", "Gelu", "Mish", "PRelu", "InstanceNormalization", "LayerNormalization", NULL};
static const char *const broadcast_ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Greater",
                                            "Less", "And", "Or", "Xor", "GreaterOrEqual",
                                            "LessOrEqual", "Mod", "Max", "Min", "Sum", "Mean",
                                            "Where", NULL};

static bool in_list(const char *op, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(op, list[i])) return true;
    return false;
}

/* Infers the outputs of one node; a shape that cannot fit is an error. */
static born_status infer_node(const onnx_plan *p, const plan_step *ps, sshape *S) {
    const onnx_node *n = ps->node;
    const char *op = n->op_type;
    int nin = n->ninputs;
    sshape none = {.rank = -1};
    const sshape *in[8];
    for (int j = 0; j < 8; j++) in[j] = j < nin && ps->in[j] >= 0 ? &S[ps->in[j]] : &none;
    sshape out = {.rank = -1};
    char a[160], b[160];
    if (in_list(op, same_shape_ops) && !(!strcmp(op, "BatchNormalization") && n->noutputs > 1)) {
        out = *in[0];
    } else if (in_list(op, broadcast_ops)) {
        out = *in[0];
        for (int j = 1; j < nin && j < 8; j++) {
            sshape t;
            if (!broadcast(&out, in[j], &t)) {
                shape_text(&out, a, sizeof a);
                shape_text(in[j], b, sizeof b);
                return fail(n, "operands %s and %s do not broadcast", a, b);
            }
            out = t;
        }
    } else if (!strcmp(op, "MatMul") && nin == 2 && in[0]->rank >= 2 && in[1]->rank >= 2) {
        const sshape *x = in[0], *y = in[1];
        if (!compatible(x->d[x->rank - 1], y->d[y->rank - 2])) {
            shape_text(x, a, sizeof a);
            shape_text(y, b, sizeof b);
            return fail(n, "inner sizes differ: %s times %s", a, b);
        }
        sshape bx = {x->rank - 2, {{0}}}, by = {y->rank - 2, {{0}}}, bo;
        memcpy(bx.d, x->d, sizeof(sdim) * (size_t)bx.rank);
        memcpy(by.d, y->d, sizeof(sdim) * (size_t)by.rank);
        if (!broadcast(&bx, &by, &bo)) {
            shape_text(x, a, sizeof a);
            shape_text(y, b, sizeof b);
            return fail(n, "batch dimensions of %s and %s do not broadcast", a, b);
        }
        if (bo.rank >= 0 && bo.rank + 2 <= BORN_MAX_DIMS) {
            out = bo;
            out.d[out.rank++] = x->d[x->rank - 2];
            out.d[out.rank++] = y->d[y->rank - 1];
        }
    } else if (!strcmp(op, "Gemm") && in[0]->rank == 2 && in[1]->rank == 2) {
        const onnx_attr *ta = onnx_node_attr(n, "transA"), *tb = onnx_node_attr(n, "transB");
        int ka = ta && ta->i ? 0 : 1, kb = tb && tb->i ? 1 : 0;
        if (!compatible(in[0]->d[ka], in[1]->d[kb])) {
            shape_text(in[0], a, sizeof a);
            shape_text(in[1], b, sizeof b);
            return fail(n, "inner sizes differ: A %s, B %s", a, b);
        }
        out.rank = 2;
        out.d[0] = in[0]->d[1 - ka];
        out.d[1] = in[1]->d[1 - kb];
    } else if (!strcmp(op, "Conv") && in[0]->rank >= 3 && in[1]->rank == in[0]->rank) {
        const onnx_attr *ga = onnx_node_attr(n, "group");
        int64_t g = ga ? ga->i : 1;
        sdim c = in[0]->d[1], wc = in[1]->d[1];
        if (known(c) && known(wc) && g > 0 && c.v != wc.v * g) {
            shape_text(in[0], a, sizeof a);
            shape_text(in[1], b, sizeof b);
            return fail(n, "input %s has channels the weight %s (times group) does not", a, b);
        }
    } else if (!strcmp(op, "Concat") && nin > 0) {
        const onnx_attr *ax = onnx_node_attr(n, "axis");
        out = *in[0];
        for (int j = 1; j < nin && j < 8 && out.rank >= 0; j++) {
            if (in[j]->rank < 0) {
                out.rank = -1;
                break;
            }
            int64_t axis = ax ? ax->i : 0;
            if (axis < 0) axis += out.rank;
            bool ok = in[j]->rank == out.rank;
            for (int k = 0; k < out.rank && ok; k++)
                if (k != axis) ok = compatible(out.d[k], in[j]->d[k]);
            if (!ok) {
                shape_text(&out, a, sizeof a);
                shape_text(in[j], b, sizeof b);
                return fail(n, "operands %s and %s differ off the axis", a, b);
            }
            if (axis >= 0 && axis < out.rank)
                out.d[axis] = known(out.d[axis]) && known(in[j]->d[axis])
                                  ? (sdim){out.d[axis].v + in[j]->d[axis].v, NULL}
                                  : (sdim){-1, NULL};
        }
    } else if (!strcmp(op, "Reshape") && p->opset >= 5 && nin == 2 && ps->in[1] >= 0 &&
               p->consts[ps->in[1]] && p->kind[ps->in[1]] != SLOT_INPUT && in[0]->rank >= 0) {
        born_tensor *t = p->consts[ps->in[1]];
        int64_t total = 1, prod = 1;
        bool all = true, minus = false;
        for (int k = 0; k < in[0]->rank; k++) {
            if (!known(in[0]->d[k])) all = false;
            else total *= in[0]->d[k].v;
        }
        if (born_tensor_dtype(t) == BORN_I64 && born_tensor_ndim(t) == 1 &&
            born_tensor_numel(t) <= BORN_MAX_DIMS && all) {
            const onnx_attr *az = onnx_node_attr(n, "allowzero");
            const int64_t *v = born_data_i64(t);
            for (int64_t k = 0; k < born_tensor_numel(t); k++) {
                int64_t d = v[k];
                if (d == 0 && !(az && az->i)) d = k < in[0]->rank ? in[0]->d[k].v : 0;
                if (d == -1) minus = true;
                else prod *= d;
            }
            if (minus ? (prod == 0 ? total != 0 : total % prod != 0) : prod != total) {
                shape_text(in[0], a, sizeof a);
                snprintf(b, sizeof b, "%lld elements", (long long)prod);
                return fail(n, "input %s cannot be reshaped to %s", a, b);
            }
        }
    }
    if (n->noutputs > 0 && ps->out[0] >= 0) S[ps->out[0]] = out;
    return BORN_OK;
}

born_status onnx_plan_infer_shapes(onnx_plan *p) {
    sshape *S = calloc((size_t)p->nslots + 1, sizeof *S);
    if (!S) return born_error(BORN_ERR_MEMORY, "onnx: out of memory");
    for (int s = 0; s < p->nslots; s++) S[s].rank = -1;
    for (int s = 0; s < p->nslots; s++)
        if (p->consts[s] && p->kind[s] != SLOT_INPUT) from_tensor(p->consts[s], &S[s]);
    const onnx_graph *g = p->g;
    for (int i = 0; i < g->ninputs; i++) {
        const onnx_value_info *vi = &g->inputs[i];
        sshape *s = &S[p->input_slot[i]];
        if (!vi->has_shape || vi->ndim > BORN_MAX_DIMS) continue;
        s->rank = vi->ndim;
        for (int k = 0; k < vi->ndim; k++)
            s->d[k] = vi->dim_params[k] ? (sdim){-1, vi->dim_params[k]}
                                        : (sdim){vi->dims[k] >= 0 ? vi->dims[k] : -1, NULL};
    }
    born_status st = BORN_OK;
    for (int i = 0; i < p->nsteps && !st; i++) {
        const plan_step *ps = &p->steps[i];
        if (ps->node->ninputs > 8) continue;
        st = infer_node(p, ps, S);
    }
    free(S);
    return st;
}
