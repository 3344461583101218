/* Load-time passes over a plan in topological order:
 *   - constant folding: a step whose inputs are all constants (initializers that no graph input
 *     can override, Constant nodes, earlier folded steps) runs once at load and its outputs become
 *     constants; random ops and ops that can make outputs much larger than their inputs
 *     (ConstantOfShape, Expand, Tile, Range, Pad, Resize, ...) are left to run time, so a small
 *     file cannot make the loader allocate without bound (a ConstantOfShape of at most 2^16
 *     elements is folded); a fold that fails is left to run time,
 *     where it reports its error;
 *   - Conv or ConvTranspose (one group) + BatchNormalization (inference): the normalization is
 *     folded into the convolution's weights and bias;
 *   - MatMul(x, W) + b with constant 2-D f32 W and 1-D b: one born_linear step with W^T stored;
 *   - Conv or ConvTranspose + Relu / Clip (constant bounds): the convolution clamps its own
 *     output in place;
 *   - LSTM with constant W, R (and B): the gate weights packed once (src/onnx/rnn_prep.c);
 *   - Conv + a chain of Mul / Add by f32 scalar constants and HardSwish written as nodes
 *     (x * Clip(x + a, lo, hi) / d, constant a, lo, hi, d): one in-place pass over the
 *     convolution's output instead of an op (and a tensor) each.
 * Fusions only apply where the intermediate value has no other reader and is no graph output. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "onnx/plan.h"

static bool is_op(const plan_step *s, const char *op) { return s->fn && !strcmp(s->node->op_type, op); }

static const char *const no_fold[] = {
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
    "Multinomial", "Dropout", "ConstantOfShape", "Expand", "Tile", "Range", "Pad", "Resize",
    "Upsample", "OneHot", "EyeLike", "Einsum", "ConvTranspose", "MaxUnpool", "Col2Im", "DFT",
    "STFT", "MelWeightMatrix", "HannWindow", "HammingWindow", "BlackmanWindow", NULL};

/* The constant value of slot s (borrowed), or NULL when it is not a constant. */
static born_tensor *const_of(const onnx_plan *p, int s) {
    /* a graph input with an initializer is a default the caller may override, as in onnxruntime */
    if (s < 0 || p->kind[s] == SLOT_INPUT || p->kind[s] == SLOT_OUTER) return NULL;
    return p->consts[s];
}

/* Whether a ConstantOfShape step makes at most 2^16 elements from a constant shape (so folding
 * it is cheap whatever the file says; Silero VAD builds its padding amounts from one). */
static bool small_constant_of_shape(const onnx_plan *p, const plan_step *ps) {
    if (strcmp(ps->node->op_type, "ConstantOfShape") || ps->node->ninputs < 1) return false;
    born_tensor *s = const_of(p, ps->in[0]);
    if (!s || born_tensor_dtype(s) != BORN_I64 || born_tensor_numel(s) > 8) return false;
    int64_t n = 1;
    for (int64_t i = 0; i < born_tensor_numel(s); i++) {
        int64_t d = born_data_i64(s)[i];
        if (d < 0 || d > 65536) return false;
        n *= d;
        if (n > 65536) return false;
    }
    return true;
}

static bool foldable(const onnx_plan *p, const plan_step *ps) {
    if (ps->nsubplans || ps->nimplicit) return false;
    for (int k = 0; no_fold[k] && !small_constant_of_shape(p, ps); k++)
        if (!strcmp(ps->node->op_type, no_fold[k])) return false;
    for (int j = 0; j < ps->node->ninputs; j++)
        if (ps->in[j] >= 0 && !const_of(p, ps->in[j])) return false;
    return true;
}

/* Runs the step at load; on success its outputs become constants and true is returned. */
static bool fold(onnx_plan *p, plan_step *ps) {
    const onnx_node *n = ps->node;
    if (n->ninputs > 64 || n->noutputs > 64) return false;
    born_tensor *ins[64], *outs[64];
    for (int j = 0; j < n->ninputs; j++) ins[j] = ps->in[j] >= 0 ? p->consts[ps->in[j]] : NULL;
    for (int j = 0; j < n->noutputs; j++) outs[j] = NULL;
    onnx_op_ctx c = {n, p->opset, ins, n->ninputs, outs, n->noutputs, NULL, ps, NULL, false, false};
    born_scope_begin();
    bool ok = ps->fn(&c) == BORN_OK;
    for (int j = 0; j < n->noutputs && ok; j++)
        if (ps->out[j] >= 0 && !outs[j]) ok = false;
    if (ok)
        for (int j = 0; j < n->noutputs; j++) {
            if (ps->out[j] < 0) continue;
            born_tensor *t = born_contiguous(outs[j]);
            if (!t) {
                ok = false;
                break;
            }
            p->consts[ps->out[j]] = born_tensor_retain(t);
        }
    if (!ok)
        for (int j = 0; j < n->noutputs; j++)
            if (ps->out[j] >= 0 && p->consts[ps->out[j]]) {
                born_free(p->consts[ps->out[j]]);
                p->consts[ps->out[j]] = NULL;
            }
    born_scope_end();
    born_clear_error();
    return ok;
}

/* Readers of each slot: steps' inputs and implicit inputs; graph outputs count as a reader. */
static int *count_readers(const onnx_plan *p) {
    int *r = calloc((size_t)p->nslots + 1, sizeof *r);
    if (!r) return NULL;
    for (int i = 0; i < p->nsteps; i++) {
        const plan_step *ps = &p->steps[i];
        if (!ps->fn) continue;
        for (int j = 0; j < ps->node->ninputs; j++)
            if (ps->in[j] >= 0) r[ps->in[j]]++;
        for (int j = 0; j < ps->nimplicit; j++) r[ps->implicit[j]]++;
        if (ps->addend1 > 0) r[ps->addend1 - 1]++; /* a fused Resize + Add (a plan optimized again) */
    }
    for (int i = 0; i < p->g->noutputs; i++) r[p->output_slot[i]] += 1000;
    return r;
}

/* The step that reads slot s as its only reader, or -1. */
static int sole_reader(const onnx_plan *p, const int *readers, int s, int from) {
    if (s < 0 || readers[s] != 1) return -1;
    for (int i = from + 1; i < p->nsteps; i++) {
        const plan_step *ps = &p->steps[i];
        if (!ps->fn) continue;
        for (int j = 0; j < ps->node->ninputs; j++)
            if (ps->in[j] == s) return i;
    }
    return -1;
}

/* Removes step k, whose only output slot is taken over by step i. */
static void absorb(onnx_plan *p, int i, int k) {
    plan_step *ps = &p->steps[i], *pk = &p->steps[k];
    ps->out[0] = pk->out[0];
    pk->fn = NULL;
}

static bool is_f32_const(const onnx_plan *p, int s) {
    born_tensor *t = const_of(p, s);
    return t && born_tensor_dtype(t) == BORN_F32;
}

/* Conv or ConvTranspose (i) + BatchNormalization (k): new weight and bias in the conv step. A
 * Conv's output channel is the weight's first dimension; a ConvTranspose's (one group only) its
 * second, [C, M, kernel...]. */
static bool fuse_conv_bn(onnx_plan *p, int i, int k) {
    plan_step *cv = &p->steps[i], *bn = &p->steps[k];
    const onnx_node *b = bn->node;
    bool tr = is_op(cv, "ConvTranspose");
    if (b->ninputs < 5 || b->noutputs < 1 || bn->in[0] != cv->out[0]) return false;
    for (int j = 1; j < b->noutputs; j++)
        if (bn->out[j] >= 0) return false;
    const onnx_attr *tm = onnx_node_attr(b, "training_mode");
    if (tm && tm->i) return false;
    if (!is_f32_const(p, cv->in[1]) || cv->over[1]) return false;
    if (!cv->over[2] && cv->node->ninputs > 2 && cv->in[2] >= 0 && !is_f32_const(p, cv->in[2]))
        return false;
    for (int j = 1; j < 5; j++)
        if (!is_f32_const(p, bn->in[j])) return false;
    const onnx_attr *ea = onnx_node_attr(b, "epsilon");
    double eps = ea ? ea->f : 1e-5f;
    born_tensor *w = p->consts[cv->in[1]];
    if (tr) {
        const onnx_attr *ga = onnx_node_attr(cv->node, "group");
        if ((ga && ga->i != 1) || born_tensor_ndim(w) < 3) return false;
    }
    /* the weight as [outer, M, per]: m's elements are outer runs of per */
    int64_t M = born_tensor_shape(w)[tr ? 1 : 0], n = born_tensor_numel(w);
    int64_t outer = tr ? born_tensor_shape(w)[0] : 1;
    int64_t per = M && outer ? n / (M * outer) : 0;
    for (int j = 1; j < 5; j++)
        if (born_tensor_numel(p->consts[bn->in[j]]) != M) return false;
    born_tensor *old_b = cv->over[2] ? cv->over[2]
                         : cv->node->ninputs > 2 && cv->in[2] >= 0 ? p->consts[cv->in[2]] : NULL;
    if (old_b && born_tensor_numel(old_b) != M) return false;
    born_scope_begin();
    born_tensor *nw = born_clone(w), *nb = born_empty(BORN_F32, 1, &M);
    bool ok = nw && nb;
    if (ok) {
        const float *g = born_data_f32(p->consts[bn->in[1]]), *be = born_data_f32(p->consts[bn->in[2]]);
        const float *mu = born_data_f32(p->consts[bn->in[3]]), *var = born_data_f32(p->consts[bn->in[4]]);
        const float *ob = old_b ? born_data_f32(old_b) : NULL;
        float *wd = born_data_f32(nw), *bd = born_data_f32(nb);
        for (int64_t m = 0; m < M; m++) {
            double sc = (double)g[m] / sqrt((double)var[m] + eps);
            for (int64_t o = 0; o < outer; o++) {
                float *wm = wd + (o * M + m) * per;
                for (int64_t e = 0; e < per; e++) wm[e] = (float)((double)wm[e] * sc);
            }
            bd[m] = (float)(((ob ? (double)ob[m] : 0.0) - (double)mu[m]) * sc + (double)be[m]);
        }
        cv->over[1] = born_tensor_retain(nw);
        born_free(cv->over[2]); /* a bias fused before (fuse_convt_add) */
        cv->over[2] = born_tensor_retain(nb);
    }
    born_scope_end();
    born_clear_error();
    if (ok) absorb(p, i, k);
    return ok;
}

/* ConvTranspose without a bias (i) + Add of a constant f32 per-channel bias, shaped [M, 1, 1] or
 * [1, M, 1, 1] for 2-D (k): the bias becomes the convolution's own, which it adds after the sum as
 * the Add did (the same rounding). paddle2onnx writes the bias of a transposed convolution so. */
static bool fuse_convt_add(onnx_plan *p, int i, int k) {
    plan_step *cv = &p->steps[i], *ad = &p->steps[k];
    if (cv->over[2] || cv->act || (cv->node->ninputs > 2 && cv->in[2] >= 0)) return false;
    if (ad->node->ninputs != 2 || ad->node->noutputs != 1 || !is_f32_const(p, cv->in[1])) return false;
    const onnx_attr *ga = onnx_node_attr(cv->node, "group");
    born_tensor *w = cv->over[1] ? cv->over[1] : p->consts[cv->in[1]];
    if ((ga && ga->i != 1) || born_tensor_ndim(w) != 4) return false;
    int other = ad->in[0] == cv->out[0] ? ad->in[1] : ad->in[0];
    if ((ad->in[0] == cv->out[0]) == (ad->in[1] == cv->out[0]) || !is_f32_const(p, other)) return false;
    born_tensor *b = p->consts[other];
    int64_t M = born_tensor_shape(w)[1];
    int r = born_tensor_ndim(b);
    const int64_t *bs = born_tensor_shape(b);
    if (r < 3 || r > 4 || bs[r - 3] != M || bs[r - 2] != 1 || bs[r - 1] != 1 || (r == 4 && bs[0] != 1))
        return false;
    born_scope_begin();
    born_tensor *nb = born_reshape(born_contiguous(b), 1, &M);
    if (nb) cv->over[2] = born_tensor_retain(nb);
    born_scope_end();
    born_clear_error();
    if (!cv->over[2]) return false;
    absorb(p, i, k);
    return true;
}

/* Conv (i) + Relu / Clip (k): the conv clamps its output. */
static bool fuse_conv_act(onnx_plan *p, int i, int k) {
    plan_step *cv = &p->steps[i], *ac = &p->steps[k];
    if (cv->act || ac->node->noutputs != 1 || ac->in[0] != cv->out[0]) return false;
    double lo = -INFINITY, hi = INFINITY;
    if (is_op(ac, "Relu")) {
        lo = 0;
    } else if (is_op(ac, "Clip")) {
        if (p->opset < 11) {
            const onnx_attr *a = onnx_node_attr(ac->node, "min"), *b = onnx_node_attr(ac->node, "max");
            lo = a ? a->f : -3.4028234663852886e38;
            hi = b ? b->f : 3.4028234663852886e38;
        } else {
            for (int j = 1; j < ac->node->ninputs && j < 3; j++) {
                if (ac->in[j] < 0) continue;
                born_tensor *t = const_of(p, ac->in[j]);
                if (!t || born_tensor_numel(t) != 1) return false;
                double v = born_item(t);
                if (j == 1) lo = v;
                else hi = v;
            }
        }
    } else {
        return false;
    }
    cv->act = 1;
    cv->lo = lo;
    cv->hi = hi;
    absorb(p, i, k);
    return true;
}

/* The value of an f32 one-element constant slot, or false. */
static bool f32_scalar(const onnx_plan *p, int s, float *v) {
    born_tensor *t = const_of(p, s);
    if (!t || born_tensor_dtype(t) != BORN_F32 || born_tensor_numel(t) != 1) return false;
    *v = (float)born_item(t);
    return true;
}

/* The live step after i (other than skip) that reads slot s as input 0 or 1, or -1. */
static int reader_of(const onnx_plan *p, int s, int i, int skip) {
    for (int k = i + 1; k < p->nsteps; k++) {
        const plan_step *ps = &p->steps[k];
        if (!ps->fn || k == skip || ps->node->noutputs != 1 || ps->node->ninputs != 2) continue;
        if (ps->in[0] == s || ps->in[1] == s) return k;
    }
    return -1;
}

/* Conv (i) whose output x is read only by Add(x, a) -> Clip(lo, hi) -> Mul(x, .) -> Div(., d)
 * (HardSwish as nodes), or by a Mul or Add with an f32 scalar constant: one more epilogue step. */
static bool fuse_epilogue(onnx_plan *p, const int *readers, int i) {
    plan_step *cv = &p->steps[i];
    int x = cv->out[0];
    if (cv->nep == 8 || x < 0) return false;
    float v[4] = {0, -INFINITY, INFINITY, 1};
    if (readers[x] == 1) { /* Mul / Add by a scalar */
        int k = sole_reader(p, readers, x, i);
        if (k < 0 || (!is_op(&p->steps[k], "Mul") && !is_op(&p->steps[k], "Add"))) return false;
        plan_step *s = &p->steps[k];
        if (s->node->ninputs != 2 || s->node->noutputs != 1) return false;
        if (!f32_scalar(p, s->in[0] == x ? s->in[1] : s->in[0], &v[0])) return false;
        cv->ep[cv->nep].kind = is_op(s, "Mul") ? EP_MUL : EP_ADD;
        memcpy(cv->ep[cv->nep++].v, v, sizeof v);
        absorb(p, i, k);
        return true;
    }
    if (readers[x] != 2) return false;
    int ka = -1;
    for (int k = i + 1; k < p->nsteps && ka < 0; k++)
        if (p->steps[k].fn && is_op(&p->steps[k], "Add")) {
            const plan_step *s = &p->steps[k];
            if (s->node->ninputs == 2 && s->node->noutputs == 1 && (s->in[0] == x || s->in[1] == x))
                ka = k;
        }
    if (ka < 0) return false;
    plan_step *ad = &p->steps[ka];
    if (!f32_scalar(p, ad->in[0] == x ? ad->in[1] : ad->in[0], &v[0])) return false;
    int kc = sole_reader(p, readers, ad->out[0], ka);
    if (kc < 0 || !is_op(&p->steps[kc], "Clip")) return false;
    plan_step *cl = &p->steps[kc];
    if (cl->node->noutputs != 1 || cl->in[0] != ad->out[0]) return false;
    if (p->opset < 11) {
        const onnx_attr *a = onnx_node_attr(cl->node, "min"), *b = onnx_node_attr(cl->node, "max");
        v[1] = a ? a->f : -3.4028234663852886e38f;
        v[2] = b ? b->f : 3.4028234663852886e38f;
    } else {
        for (int j = 1; j < cl->node->ninputs && j < 3; j++)
            if (cl->in[j] >= 0 && !f32_scalar(p, cl->in[j], &v[j])) return false;
    }
    int km = sole_reader(p, readers, cl->out[0], kc);
    if (km < 0 || !is_op(&p->steps[km], "Mul") || reader_of(p, x, i, ka) != km) return false;
    plan_step *mu = &p->steps[km];
    if (mu->node->ninputs != 2 || mu->node->noutputs != 1 ||
        !((mu->in[0] == x && mu->in[1] == cl->out[0]) || (mu->in[1] == x && mu->in[0] == cl->out[0])))
        return false;
    int kd = sole_reader(p, readers, mu->out[0], km);
    if (kd < 0 || !is_op(&p->steps[kd], "Div")) return false;
    plan_step *dv = &p->steps[kd];
    if (dv->node->ninputs != 2 || dv->node->noutputs != 1 || dv->in[0] != mu->out[0] ||
        !f32_scalar(p, dv->in[1], &v[3]))
        return false;
    cv->ep[cv->nep].kind = EP_HSWISH;
    memcpy(cv->ep[cv->nep++].v, v, sizeof v);
    cv->out[0] = dv->out[0];
    ad->fn = cl->fn = mu->fn = dv->fn = NULL;
    return true;
}

typedef struct ep_ctx {
    const plan_step *ps;
    float *y;
} ep_ctx;

static inline float hswish1(float x, float a, float lo, float hi, float d) {
    float t = x + a;
    t = t < lo ? lo : t;
    t = t > hi ? hi : t;
    float m = x * t;
    return m / d;
}

/* One epilogue operation over y[0, n), in blocks of 8 independent lanes (vectorized at -O2). */
static void ep_apply(int kind, const float *v, float *restrict y, int64_t n) {
    const float a = v[0], lo = v[1], hi = v[2], d = v[3];
    int64_t i = 0;
    if (kind == EP_MUL) {
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) y[i + l] = y[i + l] * a;
        for (; i < n; i++) y[i] = y[i] * a;
    } else if (kind == EP_ADD) {
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) y[i + l] = y[i + l] + a;
        for (; i < n; i++) y[i] = y[i] + a;
    } else {
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) y[i + l] = hswish1(y[i + l], a, lo, hi, d);
        for (; i < n; i++) y[i] = hswish1(y[i], a, lo, hi, d);
    }
}

static void ep_task(int64_t begin, int64_t end, void *arg) {
    const ep_ctx *e = arg;
    for (int q = 0; q < e->ps->nep; q++)
        ep_apply(e->ps->ep[q].kind, e->ps->ep[q].v, e->y + begin, end - begin);
}

born_status onnx_plan_epilogue(const plan_step *ps, born_tensor **y, bool in_place) {
    born_tensor *x = *y;
    if (in_place && born_tensor_dtype(x) == BORN_F32 && born_tensor_is_contiguous(x)) {
        ep_ctx e = {ps, born_data_f32(x)};
        born_parallel_for(born_tensor_numel(x), 4096, ep_task, &e);
        return BORN_OK;
    }
    for (int q = 0; q < ps->nep; q++) {
        const float *v = ps->ep[q].v;
        if (ps->ep[q].kind == EP_MUL) {
            x = born_mul(x, born_scalar(BORN_F32, v[0]));
        } else if (ps->ep[q].kind == EP_ADD) {
            x = born_add(x, born_scalar(BORN_F32, v[0]));
        } else {
            born_tensor *t = born_add(x, born_scalar(BORN_F32, v[0]));
            t = born_minimum(born_maximum(t, born_scalar(BORN_F32, v[1])), born_scalar(BORN_F32, v[2]));
            x = born_div(born_mul(x, t), born_scalar(BORN_F32, v[3]));
        }
        if (!x) return born_last_status();
    }
    *y = x;
    return BORN_OK;
}

/* MatMul (i) + Add (k) with constant W [K, N] and b [N]. */
static bool fuse_linear(onnx_plan *p, int i, int k) {
    plan_step *mm = &p->steps[i], *ad = &p->steps[k];
    if (ad->node->ninputs != 2 || ad->node->noutputs != 1) return false;
    int other = ad->in[0] == mm->out[0] ? ad->in[1] : ad->in[0];
    if (!is_f32_const(p, mm->in[1]) || !is_f32_const(p, other)) return false;
    born_tensor *w = p->consts[mm->in[1]], *b = p->consts[other];
    if (born_tensor_ndim(w) != 2 || born_tensor_ndim(b) != 1 ||
        born_tensor_shape(b)[0] != born_tensor_shape(w)[1])
        return false;
    born_scope_begin();
    born_tensor *wt = born_contiguous(born_transpose(w, 0, 1));
    if (wt) {
        mm->over[1] = born_tensor_retain(wt);
        mm->over[2] = born_tensor_retain(b);
        mm->fn = onnx_op_fused_linear;
    }
    born_scope_end();
    born_clear_error();
    if (!wt) return false;
    absorb(p, i, k);
    return true;
}

/* Mul (i) of x by s whose product is read only by Add(x, product): one step x + x * s
 * (onnx_op_fused_scale_add), x first. */
static bool fuse_scale_add(onnx_plan *p, const int *readers, int i) {
    plan_step *mu = &p->steps[i];
    if (mu->node->ninputs != 2 || mu->node->noutputs != 1 || mu->in[0] < 0 || mu->in[1] < 0 ||
        mu->in[0] == mu->in[1])
        return false;
    int k = sole_reader(p, readers, mu->out[0], i);
    if (k < 0 || !is_op(&p->steps[k], "Add")) return false;
    const plan_step *ad = &p->steps[k];
    if (ad->node->ninputs != 2 || ad->node->noutputs != 1) return false;
    int other = ad->in[0] == mu->out[0] ? ad->in[1] : ad->in[0];
    if (other != mu->in[0] && other != mu->in[1]) return false;
    if (other == mu->in[1]) { /* x first (Mul commutes exactly) */
        mu->in[1] = mu->in[0];
        mu->in[0] = other;
    }
    mu->fn = onnx_op_fused_scale_add;
    absorb(p, i, k);
    return true;
}

/* Resize (i) whose output is read only by an Add (k): one step in the Add's place (where both of
 * its operands exist) that resizes and adds (onnx_op_fused_resize_add): the Resize's node and
 * inputs, the Add's output, the Add's other operand as the addend. det's FPN neck upsamples and
 * adds so three times; the resized tensor is then never written. */
static bool fuse_resize_add(onnx_plan *p, const int *readers, int i) {
    plan_step *rs = &p->steps[i];
    if (rs->node->noutputs != 1 || rs->act || rs->nep || rs->addend1 || rs->over[0] ||
        rs->over[1] || rs->over[2] || rs->nsubplans || rs->nimplicit)
        return false;
    int k = sole_reader(p, readers, rs->out[0], i);
    if (k < 0 || !is_op(&p->steps[k], "Add")) return false;
    plan_step *ad = &p->steps[k];
    if (ad->node->ninputs != 2 || ad->node->noutputs != 1 || ad->act || ad->nep || ad->addend1 ||
        ad->over[0] || ad->over[1] || ad->over[2] || ad->in[0] < 0 || ad->in[1] < 0 ||
        (ad->in[0] == rs->out[0]) == (ad->in[1] == rs->out[0]))
        return false;
    bool first = ad->in[1] == rs->out[0];
    int other = first ? ad->in[0] : ad->in[1];
    /* step k takes the Resize's node and inputs; step i, now the Add's, is dropped */
    const onnx_node *an = ad->node;
    int *ain = ad->in;
    ad->node = rs->node;
    ad->in = rs->in;
    ad->fn = onnx_op_fused_resize_add;
    ad->addend1 = other + 1;
    ad->addend_first = first;
    rs->node = an;
    rs->in = ain;
    rs->fn = NULL;
    return true;
}

born_status onnx_plan_optimize(onnx_plan *p) {
    for (int i = 0; i < p->nsteps; i++)
        if (foldable(p, &p->steps[i]) && fold(p, &p->steps[i])) p->steps[i].fn = NULL;
    int *readers = count_readers(p);
    if (!readers) return born_error(BORN_ERR_MEMORY, "onnx: out of memory");
    for (int i = 0; i < p->nsteps; i++) {
        plan_step *ps = &p->steps[i];
        if (!ps->fn || ps->node->noutputs != 1) continue;
        /* ConvTranspose takes the BatchNormalization and activation too (det's head) */
        bool conv = is_op(ps, "Conv") || is_op(ps, "ConvTranspose"), mm = is_op(ps, "MatMul");
        if (!conv && !mm) continue;
        for (;;) { /* Conv + BN + Relu chains */
            int k = sole_reader(p, readers, ps->out[0], i);
            if (k < 0) break;
            plan_step *pk = &p->steps[k];
            bool done = false;
            if (conv && is_op(pk, "BatchNormalization") && !ps->act) done = fuse_conv_bn(p, i, k);
            else if (is_op(ps, "ConvTranspose") && is_op(pk, "Add")) done = fuse_convt_add(p, i, k);
            else if (conv && (is_op(pk, "Relu") || is_op(pk, "Clip"))) done = fuse_conv_act(p, i, k);
            else if (mm && is_op(pk, "Add") && ps->fn != onnx_op_fused_linear) done = fuse_linear(p, i, k);
            if (!done) break;
        }
    }
    for (int i = 0; i < p->nsteps; i++) /* after the chains above: x may be a fused output */
        if (p->steps[i].fn && is_op(&p->steps[i], "Conv"))
            while (fuse_epilogue(p, readers, i)) {
            }
    for (int i = 0; i < p->nsteps; i++) /* x + x * s (after the epilogues: x may be a conv's) */
        if (p->steps[i].fn && is_op(&p->steps[i], "Mul")) fuse_scale_add(p, readers, i);
    for (int i = 0; i < p->nsteps; i++) /* Resize + Add (det's neck) */
        if (p->steps[i].fn && is_op(&p->steps[i], "Resize")) fuse_resize_add(p, readers, i);
    free(readers);
    int n = 0;
    for (int i = 0; i < p->nsteps; i++) {
        plan_step *ps = &p->steps[i];
        if (ps->fn) {
            p->steps[n++] = *ps;
            continue;
        }
        free(ps->in);
        free(ps->out);
        free(ps->implicit);
        for (int j = 0; j < 3; j++) born_free(ps->over[j]);
        onnx_conv_prep_free(ps->prep); /* a step folded when the plan is optimized again */
        onnx_lstm_prep_free(ps->lstm);
    }
    p->nsteps = n;
    for (int i = 0; i < p->nsteps; i++) { /* Conv weights packed once, epilogues in the conv */
        plan_step *ps = &p->steps[i];
        if (!is_op(ps, "Conv") || ps->prep || ps->node->ninputs < 2) continue;
        born_tensor *w = ps->over[1] ? ps->over[1] : const_of(p, ps->in[1]);
        const onnx_attr *ga = onnx_node_attr(ps->node, "group");
        ps->prep = onnx_conv_prep_new(ps, w, ga ? ga->i : 1);
    }
    for (int i = 0; i < p->nsteps; i++) { /* LSTM weights packed once */
        plan_step *ps = &p->steps[i];
        if (!is_op(ps, "LSTM") || ps->lstm || ps->node->ninputs < 3) continue;
        bool has_b = ps->node->ninputs > 3 && ps->in[3] >= 0;
        born_tensor *b = has_b ? const_of(p, ps->in[3]) : NULL;
        if (has_b && !b) continue;
        ps->lstm = onnx_lstm_prep_new(const_of(p, ps->in[1]), const_of(p, ps->in[2]), b);
    }
    return BORN_OK;
}

born_status onnx_op_fused_linear(onnx_op_ctx *c) {
    born_tensor *x = c->in[0], *wt = c->in[1], *b = c->in[2];
    if (!x) return onnx_fail(c, BORN_ERR_ARGUMENT, "input 0 is required");
    born_tensor *y;
    if (born_tensor_ndim(x) >= 2 && born_tensor_dtype(x) == BORN_F32)
        y = born_linear(x, wt, b);
    else
        y = born_add(born_matmul(x, born_transpose(wt, 0, 1)), b);
    ONNX_OUT(0, y);
    return BORN_OK;
}
