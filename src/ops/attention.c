/* born_scaled_dot_product_attention: validation, the flash path (the backend's attention
 * kernels, one node whose rule calls the fused backward) and the math path (a composition of
 * public ops that materialises the L x S scores; the fallback for backends without the kernels
 * and the tests' second reference). */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "autograd/autocast.h"
#include "autograd/node.h"
#include "ops/op_util.h"

born_sdpa_params born_sdpa_default_params(void) {
    born_sdpa_params p;
    memset(&p, 0, sizeof p);
    p.kernel = BORN_SDPA_AUTO;
    return p;
}

/* The geometry of one call, from the checked inputs. */
typedef struct sdpa_geom {
    int nbatch;                        /* leading (batch) dims: ndim - 3, or 0 */
    int64_t batch_shape[BORN_MAX_DIMS];
    int64_t batch, hq, hk, l, s, e, ev;
} sdpa_geom;

static bool sdpa_check(const char *fn, born_tensor *q, born_tensor *k, born_tensor *v,
                       born_tensor *mask, const born_sdpa_params *p, sdpa_geom *g) {
    char dq[200], dk[200], dv[200];
    ops_describe(q, dq, sizeof dq);
    ops_describe(k, dk, sizeof dk);
    ops_describe(v, dv, sizeof dv);
    if (!born_dtype_is_floating(q->dtype) || q->dtype != k->dtype || q->dtype != v->dtype) {
        born_error(BORN_ERR_DTYPE, "%s: query %s, key %s and value %s must share one floating dtype",
                   fn, dq, dk, dv);
        return false;
    }
    if (q->ndim < 2 || q->ndim != k->ndim || q->ndim != v->ndim) {
        born_error(BORN_ERR_SHAPE, "%s: query %s, key %s and value %s must have one number of "
                   "dimensions, at least 2 ([..., heads, length, features])", fn, dq, dk, dv);
        return false;
    }
    int nd = q->ndim;
    g->l = q->shape[nd - 2];
    g->e = q->shape[nd - 1];
    g->s = k->shape[nd - 2];
    g->ev = v->shape[nd - 1];
    if (k->shape[nd - 1] != g->e || v->shape[nd - 2] != g->s) {
        born_error(BORN_ERR_SHAPE, "%s: key %s must have the query's %" PRId64 " features and value "
                   "%s the key's %" PRId64 " positions (query %s)", fn, dk, g->e, dv, g->s, dq);
        return false;
    }
    g->nbatch = nd >= 3 ? nd - 3 : 0;
    g->batch = 1;
    for (int i = 0; i < g->nbatch; i++) {
        if (k->shape[i] != q->shape[i] || v->shape[i] != q->shape[i]) {
            born_error(BORN_ERR_SHAPE, "%s: query %s, key %s and value %s must have equal batch "
                       "dimensions", fn, dq, dk, dv);
            return false;
        }
        g->batch_shape[i] = q->shape[i];
        g->batch *= q->shape[i];
    }
    g->hq = nd >= 3 ? q->shape[nd - 3] : 1;
    g->hk = nd >= 3 ? k->shape[nd - 3] : 1;
    if (nd >= 3 && v->shape[nd - 3] != g->hk) {
        born_error(BORN_ERR_SHAPE, "%s: key %s and value %s must have the same number of heads", fn,
                   dk, dv);
        return false;
    }
    if (g->hq != g->hk && !(p->enable_gqa && g->hk > 0 && g->hq % g->hk == 0)) {
        born_error(BORN_ERR_SHAPE, "%s: query %s has %" PRId64 " heads and key %s %" PRId64 "; they "
                   "must be equal, or (with enable_gqa) the key's must divide the query's", fn, dq,
                   g->hq, dk, g->hk);
        return false;
    }
    if (!(p->dropout_p >= 0.0 && p->dropout_p < 1.0)) {
        born_error(BORN_ERR_ARGUMENT, "%s: dropout_p %g must lie in [0, 1) (query %s)", fn,
                   p->dropout_p, dq);
        return false;
    }
    if (!isfinite(p->scale)) {
        born_error(BORN_ERR_ARGUMENT, "%s: scale %g must be finite (query %s)", fn, p->scale, dq);
        return false;
    }
    if (p->kernel < BORN_SDPA_AUTO || p->kernel > BORN_SDPA_MATH) {
        born_error(BORN_ERR_ARGUMENT, "%s: unknown kernel choice %d", fn, (int)p->kernel);
        return false;
    }
    if (mask) {
        char dm[200];
        ops_describe(mask, dm, sizeof dm);
        if (mask->dtype != BORN_BOOL && !born_dtype_is_floating(mask->dtype)) {
            born_error(BORN_ERR_DTYPE, "%s: mask %s must be bool (true = attend) or floating "
                       "(added to the scores)", fn, dm);
            return false;
        }
        if (mask->ndim > nd) {
            born_error(BORN_ERR_SHAPE, "%s: mask %s has more dimensions than the scores of query %s",
                       fn, dm, dq);
            return false;
        }
        /* broadcastable to the scores [..., Hq, L, S] */
        for (int i = 0; i < mask->ndim; i++) {
            int d = nd - mask->ndim + i;
            int64_t want = d == nd - 1 ? g->s : q->shape[d];
            if (mask->shape[i] != 1 && mask->shape[i] != want) {
                born_error(BORN_ERR_SHAPE, "%s: mask %s cannot be broadcast to the scores [..., %" PRId64
                           ", %" PRId64 "] of query %s and key %s", fn, dm, g->l, g->s, dq, dk);
                return false;
            }
        }
        if (mask->requires_grad && born_is_grad_enabled()) {
            born_error(BORN_ERR_ARGUMENT, "%s: mask %s requires grad; attention masks receive no "
                       "gradient (detach it)", fn, dm);
            return false;
        }
    }
    return true;
}

/* The scores' shape [..., Hq, L, S] (q's shape with the last size replaced by S). */
static void scores_shape(const born_tensor *q, const sdpa_geom *g, int64_t *shape) {
    memcpy(shape, q->shape, sizeof(int64_t) * (size_t)q->ndim);
    shape[q->ndim - 1] = g->s;
}

/* Describes t ([..., H, T, F] with ndim dims, or broadcast to them) as [B, H, T, F] strides;
 * false when the batch dims cannot be merged into one stride. */
static bool view4(born_strided *s, int nbatch) {
    born_strided r = *s;
    int nd = s->ndim;
    if (nd == 2) {
        r.ndim = 4;
        r.shape[0] = r.shape[1] = 1;
        r.strides[0] = r.strides[1] = 0;
        r.shape[2] = s->shape[0];
        r.shape[3] = s->shape[1];
        r.strides[2] = s->strides[0];
        r.strides[3] = s->strides[1];
        *s = r;
        return true;
    }
    int64_t bsize = 1, bstride = 0, prev_stride = 0, prev_size = 1;
    for (int i = nbatch - 1; i >= 0; i--) {
        if (s->shape[i] == 1) continue;
        if (bsize == 1) bstride = s->strides[i];
        else if (s->strides[i] != prev_stride * prev_size) return false;
        prev_stride = s->strides[i];
        prev_size = s->shape[i];
        bsize *= s->shape[i];
    }
    r.ndim = 4;
    r.shape[0] = bsize;
    r.strides[0] = bstride;
    for (int i = 0; i < 3; i++) {
        r.shape[1 + i] = s->shape[nd - 3 + i];
        r.strides[1 + i] = s->strides[nd - 3 + i];
    }
    *s = r;
    return true;
}

/* t in dtype, described as [B, H, T, F]; makes a contiguous copy when its batch dims do not
 * merge. The tensor to free is returned in *hold. */
static bool operand4(born_tensor *t, born_dtype dtype, int nbatch, born_tensor **hold,
                     born_strided *s) {
    born_tensor *c = ops_as_dtype(t, dtype);
    if (!c) return false;
    *s = strided_of(c);
    if (!view4(s, nbatch)) {
        born_tensor *cc = ops_as_contiguous(c);
        born_free(c);
        if (!cc) return false;
        c = cc;
        *s = strided_of(c);
        view4(s, nbatch);
    }
    *hold = c;
    return true;
}

/* The mask, converted (bool stays bool; others to dtype), broadcast to the scores' shape and
 * described as [B, Hq, L, S]. */
static bool mask4(born_tensor *mask, born_dtype dtype, int nd, const int64_t *shape, int nbatch,
                  born_tensor **hold, born_strided *s) {
    born_tensor *c = ops_as_dtype(mask, mask->dtype == BORN_BOOL ? BORN_BOOL : dtype);
    if (!c) return false;
    *s = strided_broadcast(c, nd, shape);
    if (!view4(s, nbatch)) {
        born_tensor *e = born_expand(c, nd, shape);
        born_tensor *cc = e ? born_contiguous(e) : NULL;
        born_free(e);
        born_free(c);
        if (!cc) return false;
        c = cc;
        *s = strided_of(c);
        view4(s, nbatch);
    }
    *hold = c;
    return true;
}

/* ---- flash path ---------------------------------------------------------------------------- */

typedef struct sdpa_node_params {
    born_attention_args args;
    int nbatch;
} sdpa_node_params;

static born_strided absent(void) {
    born_strided s;
    memset(&s, 0, sizeof s);
    return s;
}

/* An uninitialised tensor shaped like `like` with last dimension `last`. When the backend takes
 * strided attention outputs and like is a 4-d [B, H, T, F] view of a [B, T, H, F] buffer (the
 * heads of a projection), it is laid out the same way, so that moving the heads back costs no
 * copy; otherwise contiguous. */
static born_tensor *empty_heads_like(const born_backend *be, born_tensor *like, born_dtype dtype,
                                     int64_t last, born_device dev) {
    int64_t shape[BORN_MAX_DIMS];
    memcpy(shape, like->shape, sizeof(int64_t) * (size_t)like->ndim);
    shape[like->ndim - 1] = last;
    if (be->attention_strided_io && like->ndim == 4 && like->shape[1] > 1 && like->shape[2] > 1 &&
        like->strides[1] < like->strides[2]) {
        int64_t tshape[4] = {shape[0], shape[2], shape[1], last};
        born_tensor *buf = ops_empty(dtype, 4, tshape, dev);
        born_tensor *t = buf ? born_transpose(buf, 1, 2) : NULL;
        born_free(buf);
        return t;
    }
    return ops_empty(dtype, like->ndim, shape, dev);
}

static born_status sdpa_rule(born_node *node, born_tensor *g, born_tensor **gi) {
    const sdpa_node_params *p = node_params(node);
    born_tensor *q = node_saved(node, 0), *k = node_saved(node, 1), *v = node_saved(node, 2);
    born_tensor *out = node_saved(node, 3), *lse = node_saved(node, 4), *mask = node_saved(node, 5);
    const born_backend *be = ops_backend(q);
    if (!be) return born_last_status();
    born_tensor *gc = born_to_dtype(g, q->dtype);
    if (gc && !(be->attention_strided_io && gc->ndim == 4 && gc->strides[3] == 1))
        gc = born_contiguous(gc);
    born_device dev = q->storage->device;
    born_tensor *dq = empty_heads_like(be, q, q->dtype, q->shape[q->ndim - 1], dev);
    born_tensor *dk = empty_heads_like(be, k, k->dtype, k->shape[k->ndim - 1], dev);
    born_tensor *dv = empty_heads_like(be, v, v->dtype, v->shape[v->ndim - 1], dev);
    if (!gc || !dq || !dk || !dv) return born_last_status();
    born_strided sq = strided_of(q), sk = strided_of(k), sv = strided_of(v), sm = absent();
    view4(&sq, p->nbatch);
    view4(&sk, p->nbatch);
    view4(&sv, p->nbatch);
    if (mask) {
        int64_t shape[BORN_MAX_DIMS];
        memcpy(shape, q->shape, sizeof(int64_t) * (size_t)q->ndim);
        shape[q->ndim - 1] = p->args.kv_len;
        sm = strided_broadcast(mask, q->ndim, shape);
        view4(&sm, p->nbatch);
    }
    born_strided sdq = strided_of(dq), sdk = strided_of(dk), sdv = strided_of(dv);
    born_strided sg = strided_of(gc), so = strided_of(out), sl = strided_of(lse);
    born_status st = be->attention_backward(&sdq, &sdk, &sdv, &sg, &sq, &sk, &sv, &sm, &so, &sl,
                                            &p->args);
    if (st != BORN_OK) return st;
    gi[0] = dq;
    gi[1] = dk;
    gi[2] = dv;
    return BORN_OK;
}

static born_tensor *sdpa_flash(const char *fn, born_tensor *q, born_tensor *k, born_tensor *v,
                               born_tensor *mask, const born_sdpa_params *p, const sdpa_geom *g,
                               const born_backend *be, born_device dev) {
    born_dtype compute = q->dtype == BORN_F64 ? BORN_F64 : BORN_F32;
    born_dtype lse_dtype = compute; /* also the additive mask's */
    if (be->attention_half && (q->dtype == BORN_F16 || q->dtype == BORN_BF16)) compute = q->dtype;
    born_attention_args a;
    memset(&a, 0, sizeof a);
    a.batch = g->batch;
    a.q_heads = g->hq;
    a.kv_heads = g->hk;
    a.q_len = g->l;
    a.kv_len = g->s;
    a.head_dim = g->e;
    a.v_dim = g->ev;
    a.scale = p->scale != 0.0 ? p->scale : 1.0 / sqrt((double)g->e);
    a.causal = p->is_causal;
    a.kv_offset = p->kv_offset;
    a.dropout_p = p->dropout_p;
    a.block_q = p->block_q;
    a.block_kv = p->block_kv;
    int64_t sshape[BORN_MAX_DIMS];
    scores_shape(q, g, sshape);
    int64_t rows = g->batch * g->hq * g->l;
    born_scope_begin();
    born_tensor *qc = NULL, *kc = NULL, *vc = NULL, *mc = NULL, *y = NULL;
    born_strided sq, sk, sv, sm = absent();
    bool ok = operand4(q, compute, g->nbatch, &qc, &sq) && operand4(k, compute, g->nbatch, &kc, &sk) &&
              operand4(v, compute, g->nbatch, &vc, &sv);
    if (ok && mask) {
        ok = mask4(mask, lse_dtype, q->ndim, sshape, g->nbatch, &mc, &sm);
        a.mask_kind = mask->dtype == BORN_BOOL ? 1 : 2;
    }
    born_tensor *out = ok ? empty_heads_like(be, qc, compute, g->ev, dev) : NULL;
    born_tensor *lse = out ? ops_empty(lse_dtype, 1, &rows, dev) : NULL;
    if (lse && a.dropout_p > 0) {
        born_generator *gen = p->gen ? p->gen : born_default_generator();
        uint64_t seed, off;
        born_generator_get_state(gen, &seed, &off);
        a.seed = seed;
        a.rng_offset = off;
        born_generator_set_state(gen, seed, off + (uint64_t)(rows * g->s));
    }
    if (lse) {
        born_strided so = strided_of(out), sl = strided_of(lse);
        if (be->attention(&so, &sl, &sq, &sk, &sv, &sm, &a) == BORN_OK)
            y = q->dtype == compute ? ops_alias(out) : ops_cast(out, q->dtype);
    }
    if (y) {
        sdpa_node_params np = {a, g->nbatch};
        born_tensor *in[3] = {q, k, v}, *save[6] = {qc, kc, vc, out, lse, mc};
        if (!autograd_record(y, "ScaledDotProductFlashAttentionBackward", sdpa_rule, 3, in, 6,
                             save, &np, sizeof np))
            y = NULL;
    }
    (void)fn;
    y = born_keep(y);
    born_scope_end();
    return y;
}

/* ---- math path ------------------------------------------------------------------------------ */

/* [..., H, T, F] as [..., Hk, H / Hk, T, F] (GQA groups), or t itself (as a new handle). */
static born_tensor *group_heads(born_tensor *t, int64_t hk, bool split) {
    if (!split) return born_view(t, t->ndim, t->shape);
    int64_t shape[BORN_MAX_DIMS];
    int nd = t->ndim;
    memcpy(shape, t->shape, sizeof(int64_t) * (size_t)(nd - 3));
    shape[nd - 3] = hk;
    shape[nd - 2] = t->shape[nd - 3] / hk;
    shape[nd - 1] = t->shape[nd - 2];
    shape[nd] = t->shape[nd - 1];
    return born_reshape(t, nd + 1, shape);
}

static born_tensor *sdpa_math(born_tensor *q, born_tensor *k, born_tensor *v, born_tensor *mask,
                              const born_sdpa_params *p, const sdpa_geom *g) {
    int nd = q->ndim;
    double scale = p->scale != 0.0 ? p->scale : 1.0 / sqrt((double)g->e);
    bool split = nd >= 3 && g->hq != g->hk;
    int64_t sshape[BORN_MAX_DIMS];
    scores_shape(q, g, sshape);
    born_scope_begin();
    born_tensor *qg = group_heads(q, g->hk, split);
    born_tensor *kg = split ? born_unsqueeze(k, nd - 2) : k;
    born_tensor *vg = split ? born_unsqueeze(v, nd - 2) : v;
    born_tensor *s = born_mul_scalar(born_matmul(qg, born_transpose(kg, -2, -1)), scale);
    s = born_reshape(s, nd, sshape);
    /* visible: bool [..., L, S] where a key may be seen (NULL: everywhere) */
    born_tensor *visible = NULL;
    if (p->is_causal) {
        born_tensor *ones = born_to(born_ones(BORN_BOOL, BORN_DIMS(g->l, g->s)), q->storage->device);
        visible = born_tril(ones, p->kv_offset);
    }
    if (mask && mask->dtype == BORN_BOOL) visible = visible ? born_logical_and(visible, mask) : mask;
    else if (mask) s = born_add(s, born_to_dtype(mask, s->dtype));
    if (visible) s = born_masked_fill(s, born_logical_not(visible), -INFINITY);
    /* clamping -inf to the lowest finite value keeps fully masked rows finite; they are then
     * zeroed, as the flash kernel gives them */
    born_tensor *lowest = born_to(born_full(s->dtype, 0, NULL, s->dtype == BORN_F64 ? -DBL_MAX : -FLT_MAX),
                                  q->storage->device);
    born_tensor *pr = born_softmax(born_maximum(s, lowest), -1);
    if (visible || mask) {
        int64_t last = -1;
        born_tensor *seen = born_any(born_gt_scalar(s, -INFINITY), 1, &last, true);
        pr = born_mul(pr, born_to_dtype(seen, pr->dtype));
    }
    if (p->dropout_p > 0) {
        born_tensor *u = born_to(born_rand(p->gen, BORN_F32, nd, sshape), q->storage->device);
        born_tensor *keep = born_to_dtype(born_ge_scalar(u, p->dropout_p), pr->dtype);
        pr = born_mul(pr, born_mul_scalar(keep, 1.0 / (1.0 - p->dropout_p)));
    }
    born_tensor *o = born_matmul(group_heads(pr, g->hk, split), vg);
    int64_t oshape[BORN_MAX_DIMS];
    memcpy(oshape, q->shape, sizeof(int64_t) * (size_t)nd);
    oshape[nd - 1] = g->ev;
    o = born_keep(born_reshape(o, nd, oshape));
    born_scope_end();
    return o;
}

born_tensor *born_scaled_dot_product_attention(born_tensor *q, born_tensor *k, born_tensor *v,
                                               born_tensor *mask, const born_sdpa_params *params) {
    static const char *fn = "born_scaled_dot_product_attention";
    born_tensor *in[3] = {q, k, v};
    if (!ops_check_inputs(fn, 3, in)) return NULL;
    if (mask && !ops_check_inputs(fn, 1, &mask)) return NULL;
    born_tensor *cast[3];
    bool failed;
    if (autocast_args(3, in, cast, &failed)) { /* inside born_autocast_begin: in its dtype */
        born_tensor *r = failed ? NULL : born_scaled_dot_product_attention(cast[0], cast[1], cast[2], mask, params);
        autocast_release(3, in, cast);
        return r;
    }
    born_sdpa_params p = params ? *params : born_sdpa_default_params();
    born_tensor *all[4] = {q, k, v, mask};
    born_device dev;
    if (!ops_check_device(fn, 4, all, &dev)) return NULL;
    sdpa_geom g;
    if (!sdpa_check(fn, q, k, v, mask, &p, &g)) return NULL;
    const born_backend *be = ops_backend(q);
    if (!be) return NULL;
    bool flash = be->attention && be->attention_backward;
    if (p.kernel == BORN_SDPA_FLASH && !flash)
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: this device has no flash attention kernel",
                               fn);
    if (p.kernel == BORN_SDPA_MATH || !flash) return sdpa_math(q, k, v, mask, &p, &g);
    return sdpa_flash(fn, q, k, v, mask, &p, &g, be, dev);
}
