/* Linear algebra: matmul (torch.matmul's shape rules), mm, bmm, linear, outer and matmul_out,
 * with their backward rules.
 *
 * Every product is one call to the backend's batched `matmul` kernel. A 1-D left operand is
 * described to the kernel as a 1 x K matrix and a 1-D right operand as K x 1, both without
 * copying; batch dimensions broadcast through zero strides and transposed views keep their
 * strides, so the kernel's packing absorbs the layout. Inputs promote as PyTorch's result_type;
 * f16/bf16 compute in f32 and round back on the CPU (bf16 and f16 operands go to the backend
 * unconverted where it reads them into an f32 product: matmul_bf16_in, matmul_f16_in), and
 * natively (f32 accumulation) on a GPU; bool is rejected. */
#include <inttypes.h>
#include <string.h>

#include "autograd/autocast.h"
#include "autograd/node.h"
#include "ops/op_util.h"

/* The shapes of one product: batch shape, the matrix sizes, and the result's shape. */
typedef struct mm_geom {
    int a_nd, b_nd;
    int nb;
    int64_t bshape[BORN_MAX_DIMS];
    int64_t m, k, n;
    int out_nd;
    int64_t out_shape[BORN_MAX_DIMS];
} mm_geom;

/* "born_matmul: [2, 3] f32 @ [4, 5] f32: " */
static void mm_prefix(const char *name, const born_tensor *a, const born_tensor *b, char *buf,
                      size_t size) {
    char da[200], db[200];
    snprintf(buf, size, "%s: %s @ %s", name, ops_describe(a, da, sizeof da),
             ops_describe(b, db, sizeof db));
}

/* Works out the geometry of a @ b with torch.matmul's rules, or records an error. */
static bool mm_geometry(const char *name, const born_tensor *a, const born_tensor *b, mm_geom *g) {
    char pre[440];
    memset(g, 0, sizeof *g);
    g->a_nd = a->ndim;
    g->b_nd = b->ndim;
    if (a->ndim == 0 || b->ndim == 0) {
        mm_prefix(name, a, b, pre, sizeof pre);
        born_error(BORN_ERR_SHAPE, "%s: both arguments need at least 1 dimension", pre);
        return false;
    }
    /* the matrix views: a 1-D a is [1, K], a 1-D b is [K, 1] */
    g->m = a->ndim == 1 ? 1 : a->shape[a->ndim - 2];
    g->k = a->shape[a->ndim - 1];
    int64_t kb = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
    g->n = b->ndim == 1 ? 1 : b->shape[b->ndim - 1];
    if (g->k != kb) {
        mm_prefix(name, a, b, pre, sizeof pre);
        born_error(BORN_ERR_SHAPE, "%s: inner sizes %" PRId64 " and %" PRId64 " differ", pre, g->k,
                   kb);
        return false;
    }
    int anb = a->ndim > 2 ? a->ndim - 2 : 0, bnb = b->ndim > 2 ? b->ndim - 2 : 0;
    g->nb = anb > bnb ? anb : bnb;
    for (int d = 0; d < g->nb; d++) {
        int ia = d - (g->nb - anb), ib = d - (g->nb - bnb);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char s1[160], s2[160];
            mm_prefix(name, a, b, pre, sizeof pre);
            born_error(BORN_ERR_SHAPE,
                       "%s: batch dimensions %s and %s cannot be broadcast "
                       "(size %" PRId64 " vs %" PRId64 ")",
                       pre, shape_str(anb, a->shape, s1, sizeof s1),
                       shape_str(bnb, b->shape, s2, sizeof s2), sa, sb);
            return false;
        }
        g->bshape[d] = sa == 1 ? sb : sa;
    }
    int nd = 0;
    for (int d = 0; d < g->nb; d++)
        g->out_shape[nd++] = g->bshape[d];
    if (a->ndim > 1) g->out_shape[nd++] = g->m;
    if (b->ndim > 1) g->out_shape[nd++] = g->n;
    g->out_nd = nd;
    return true;
}

/* t as the kernel sees it: nb batch dims (broadcast by zero strides) then the two matrix dims;
 * `left` says whether a 1-D t is the row vector [1, K] or the column vector [K, 1]. */
static born_strided mm_operand(born_tensor *t, bool left, const mm_geom *g) {
    born_strided s = strided_of(t);
    born_strided r;
    memset(&r, 0, sizeof r);
    r.data = s.data;
    r.dtype = s.dtype;
    r.ndim = g->nb + 2;
    if (t->ndim == 1) {
        r.shape[g->nb] = left ? 1 : t->shape[0];
        r.shape[g->nb + 1] = left ? t->shape[0] : 1;
        r.strides[g->nb] = left ? 0 : t->strides[0];
        r.strides[g->nb + 1] = left ? t->strides[0] : 0;
    } else {
        r.shape[g->nb] = t->shape[t->ndim - 2];
        r.shape[g->nb + 1] = t->shape[t->ndim - 1];
        r.strides[g->nb] = t->strides[t->ndim - 2];
        r.strides[g->nb + 1] = t->strides[t->ndim - 1];
    }
    int tnb = t->ndim > 2 ? t->ndim - 2 : 0;
    for (int d = 0; d < g->nb; d++) {
        int it = d - (g->nb - tnb);
        r.shape[d] = g->bshape[d];
        r.strides[d] = it >= 0 && t->shape[it] != 1 ? t->strides[it] : 0;
    }
    return r;
}

/* The dtype a product of result dtype `out` is computed in on device: the CPU computes f16/bf16
 * products in f32 (converting the operands); a GPU backend takes them natively (f32 accumulation
 * inside its GEMM, tensor cores), as torch does. */
static born_dtype half_compute(born_dtype out, born_device device) {
    bool half = out == BORN_F16 || out == BORN_BF16;
    return half && device.type == BORN_DEVICE_CPU ? BORN_F32 : out;
}

/* The dtype the product is computed in and the one it is returned in, or an error. */
static bool mm_dtypes(const char *name, born_tensor *a, born_tensor *b, born_dtype *compute,
                      born_dtype *out) {
    if (a->dtype == BORN_BOOL || b->dtype == BORN_BOOL) {
        char pre[440];
        mm_prefix(name, a, b, pre, sizeof pre);
        born_error(BORN_ERR_DTYPE,
                   "%s: bool tensors are not supported (convert with born_to_dtype)", pre);
        return false;
    }
    born_tensor *args[2] = {a, b};
    *out = ops_result_type(2, args);
    *compute = half_compute(*out, a->storage->device);
    return true;
}

/* The dtype the backend takes a and b in for a product computed in `compute`: bf16 (f16) where
 * both are and the backend reads them into its f32 product (matmul_bf16_in, matmul_f16_in), else
 * compute. */
static born_dtype half_in(const born_backend *be, born_dtype compute, const born_tensor *a,
                          const born_tensor *b) {
    if (compute != BORN_F32 || a->dtype != b->dtype) return compute;
    if (a->dtype == BORN_BF16 && be->matmul_bf16_in) return BORN_BF16;
    if (a->dtype == BORN_F16 && be->matmul_f16_in) return BORN_F16;
    return compute;
}

/* Whether the backend takes a and b's bf16 straight into a bf16 result of out_dtype, rounding
 * its f32 sums once (matmul_bf16_out): the bits of the f32 product converted after. */
static bool bf16_rounded_out(const born_backend *be, born_dtype compute, born_dtype out_dtype,
                             const born_tensor *a, const born_tensor *b) {
    return be && be->matmul_bf16_out && out_dtype == BORN_BF16 && half_in(be, compute, a, b) == BORN_BF16;
}

/* a @ b in dtype `compute` into res (contiguous, the result's shape, in the compute dtype or, where
 * bf16_rounded_out, bf16). */
static born_status mm_compute(const char *name, born_tensor *a, born_tensor *b, const mm_geom *g,
                              born_dtype compute, born_tensor *res) {
    const born_backend *be = ops_backend(res);
    if (!be) return born_last_status();
    if (!be->matmul)
        return born_error(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", name);
    born_dtype operand = half_in(be, compute, a, b);
    /* converted in their own order in memory: the GEMM's packing takes any strides */
    born_tensor *ca = ops_as_dtype_in_place_order(a, operand);
    born_tensor *cb = ca ? ops_as_dtype_in_place_order(b, operand) : NULL;
    born_status st = born_last_status();
    if (ca && cb) {
        born_strided sa = mm_operand(ca, true, g), sb = mm_operand(cb, false, g);
        born_strided so;
        memset(&so, 0, sizeof so);
        so.data = tensor_data(res);
        so.dtype = res->dtype;
        so.ndim = g->nb + 2;
        for (int d = 0; d < g->nb; d++)
            so.shape[d] = g->bshape[d];
        so.shape[g->nb] = g->m;
        so.shape[g->nb + 1] = g->n;
        shape_contiguous_strides(so.ndim, so.shape, so.strides);
        st = be->matmul(&so, &sa, &sb);
    }
    born_free(ca);
    born_free(cb);
    return st;
}

/* The result of a @ b as a new tensor in the result dtype, not recorded. */
static born_tensor *mm_forward(const char *name, born_tensor *a, born_tensor *b, mm_geom *g) {
    born_tensor *args[2] = {a, b};
    if (!ops_check_inputs(name, 2, args)) return NULL;
    born_device device;
    if (!ops_check_device(name, 2, args, &device)) return NULL;
    born_dtype compute, out_dtype;
    if (!mm_dtypes(name, a, b, &compute, &out_dtype)) return NULL;
    if (!mm_geometry(name, a, b, g)) return NULL;
    born_dtype res_dtype = bf16_rounded_out(ops_backend(a), compute, out_dtype, a, b)
                               ? BORN_BF16 : compute;
    born_tensor *res = ops_empty(res_dtype, g->out_nd, g->out_shape, device);
    if (!res) return NULL;
    if (mm_compute(name, a, b, g, compute, res) != BORN_OK) {
        born_free(res);
        return NULL;
    }
    if (res_dtype == out_dtype) return res;
    born_tensor *out = ops_as_dtype(res, out_dtype);
    born_free(res);
    return out;
}

/* ---- backward ---------------------------------------------------------------------------- */

typedef struct mm_params {
    int a_nd, b_nd, nb;
} mm_params;

/* g (the result's shape) with the dimensions a 1-D operand dropped put back: batch + [M, N]. */
static born_tensor *grad_as_matrix(born_tensor *g, const mm_params *p) {
    born_tensor *g2 = g;
    if (p->a_nd == 1) g2 = born_unsqueeze(g2, p->nb);
    if (p->b_nd == 1) g2 = born_unsqueeze(g2, g2 ? g2->ndim : 0);
    return g2;
}

/* grad_a = g @ b^T and grad_b = a^T @ g on the matrix views; the engine sums broadcast batch
 * dimensions back to each input's shape. When b has no batch dimensions, a's batch is folded into
 * its rows so grad_b is one product instead of one per batch entry and a sum. */
static born_status mm_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    const mm_params *p = node_params(n);
    born_tensor *a = node_saved(n, 0), *b = node_saved(n, 1);
    born_tensor *g2 = grad_as_matrix(g, p);
    born_tensor *a2 = p->a_nd == 1 ? born_unsqueeze(a, 0) : a;
    born_tensor *b2 = p->b_nd == 1 ? born_unsqueeze(b, 1) : b;
    if (node_needs_grad(n, 0)) {
        born_tensor *ga = born_matmul(g2, born_transpose(b2, -1, -2));
        gi[0] = p->a_nd == 1 ? born_squeeze(ga, -2) : ga;
    }
    if (node_needs_grad(n, 1)) {
        born_tensor *gb;
        if (p->b_nd <= 2 && p->a_nd > 2 && a2 && g2) {
            born_tensor *af = ops_reshape_rows(a2), *gf = ops_reshape_rows(g2);
            gb = born_matmul(born_transpose(af, 0, 1), gf);
        } else {
            gb = born_matmul(born_transpose(a2, -1, -2), g2);
        }
        gi[1] = p->b_nd == 1 ? born_squeeze(gb, -1) : gb;
    }
    return BORN_OK;
}

/* ---- matmul, mm, bmm --------------------------------------------------------------------- */

static born_tensor *matmul_quant(born_tensor *a, born_tensor *b);

static born_tensor *matmul_op(const char *name, const char *node_name, born_tensor *a,
                              born_tensor *b) {
    mm_geom g;
    born_tensor *out = mm_forward(name, a, b, &g);
    if (!out || !born_dtype_is_floating(out->dtype)) return out;
    mm_params p = {g.a_nd, g.b_nd, g.nb};
    born_tensor *inputs[2] = {a, b};
    if (!autograd_record(out, node_name, mm_backward, 2, inputs, 2, inputs, &p, sizeof p)) {
        born_free(out);
        return NULL;
    }
    return out;
}

born_tensor *born_matmul(born_tensor *a, born_tensor *b) {
    if (a && b && (born_dtype_is_quantized(a->dtype) || born_dtype_is_quantized(b->dtype)))
        return matmul_quant(a, b);
    born_tensor *in[2] = {a, b}, *cast[2];
    bool failed;
    if (autocast_args(2, in, cast, &failed)) { /* inside born_autocast_begin: in its dtype */
        born_tensor *r = failed ? NULL : born_matmul(cast[0], cast[1]);
        autocast_release(2, in, cast);
        return r;
    }
    return matmul_op("born_matmul", "MatmulBackward", a, b);
}

/* Checks that a and b have exactly `nd` dimensions (and, for bmm, one batch size). */
static bool check_ranks(const char *name, born_tensor *a, born_tensor *b, int nd) {
    born_tensor *args[2] = {a, b};
    if (!ops_check_inputs(name, 2, args)) return false;
    char pre[440];
    if (a->ndim != nd || b->ndim != nd) {
        mm_prefix(name, a, b, pre, sizeof pre);
        born_error(BORN_ERR_SHAPE, "%s: expected two %d-D tensors", pre, nd);
        return false;
    }
    if (nd == 3 && a->shape[0] != b->shape[0]) {
        mm_prefix(name, a, b, pre, sizeof pre);
        born_error(BORN_ERR_SHAPE, "%s: batch sizes %" PRId64 " and %" PRId64 " differ", pre,
                   a->shape[0], b->shape[0]);
        return false;
    }
    return true;
}

born_tensor *born_mm(born_tensor *a, born_tensor *b) {
    if (!check_ranks("born_mm", a, b, 2)) return NULL;
    return matmul_op("born_mm", "MmBackward", a, b);
}

born_tensor *born_bmm(born_tensor *a, born_tensor *b) {
    if (!check_ranks("born_bmm", a, b, 3)) return NULL;
    return matmul_op("born_bmm", "BmmBackward", a, b);
}

/* ---- outer ------------------------------------------------------------------------------- */

/* a[:, None] * b[None, :], as torch.outer (so every dtype mul accepts works, and autograd
 * differentiates it through mul and the views). */
born_tensor *born_outer(born_tensor *a, born_tensor *b) {
    born_tensor *args[2] = {a, b};
    if (!ops_check_inputs("born_outer", 2, args)) return NULL;
    if (a->ndim != 1 || b->ndim != 1) {
        char da[200], db[200];
        return born_error_null(BORN_ERR_SHAPE, "born_outer: %s and %s: expected two 1-D tensors",
                               ops_describe(a, da, sizeof da), ops_describe(b, db, sizeof db));
    }
    born_scope_begin();
    born_tensor *out = born_keep(born_mul(born_unsqueeze(a, 1), born_unsqueeze(b, 0)));
    born_scope_end();
    return out;
}

/* ---- matmul_out -------------------------------------------------------------------------- */

born_status born_matmul_out(born_tensor *out, born_tensor *a, born_tensor *b) {
    const char *name = "born_matmul_out";
    born_tensor *args[3] = {out, a, b};
    if (!ops_check_inputs(name, 3, args)) return born_last_status();
    if (!ops_check_device(name, 3, args, NULL)) return born_last_status();
    if (!ops_check_inplace(name, 3, args)) return born_last_status();
    born_dtype compute, out_dtype;
    if (!mm_dtypes(name, a, b, &compute, &out_dtype)) return born_last_status();
    mm_geom g;
    if (!mm_geometry(name, a, b, &g)) return born_last_status();
    if (out->dtype != out_dtype || out->ndim != g.out_nd ||
        memcmp(out->shape, g.out_shape, sizeof(int64_t) * (size_t)g.out_nd) != 0) {
        char o[200], s[160];
        return born_error(BORN_ERR_SHAPE, "%s: out is %s but the result is %s %s", name,
                          ops_describe(out, o, sizeof o),
                          shape_str(g.out_nd, g.out_shape, s, sizeof s),
                          born_dtype_name(out_dtype));
    }
    /* the kernel writes a contiguous result that overlaps neither input, in the compute dtype or
     * as bf16 rounded once from its f32 sums (bf16_rounded_out); otherwise go through a
     * temporary */
    bool writes_out = compute == out_dtype ||
                      bf16_rounded_out(ops_backend(out), compute, out_dtype, a, b);
    bool direct = writes_out && born_tensor_is_contiguous(out) &&
                  !born_tensor_shares_storage(out, a) && !born_tensor_shares_storage(out, b);
    born_status st;
    if (direct) {
        st = mm_compute(name, a, b, &g, compute, out);
    } else {
        born_tensor *tmp = ops_empty(compute, g.out_nd, g.out_shape, out->storage->device);
        st = tmp ? mm_compute(name, a, b, &g, compute, tmp) : born_last_status();
        if (st == BORN_OK) {
            born_strided d = strided_of(out), s = strided_of(tmp);
            st = ops_backend(out)->copy(&d, &s);
        }
        born_free(tmp);
    }
    if (st == BORN_OK) storage_bump_version(out->storage);
    return st;
}

/* ---- linear ------------------------------------------------------------------------------ */

/* grad_x = g @ W, grad_W = g^T @ x over all leading dimensions folded into rows, and
 * grad_bias = g summed over its leading dimensions (left to the engine). */
static born_status linear_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    born_tensor *x = node_saved(n, 0), *w = node_saved(n, 1);
    if (node_needs_grad(n, 0)) gi[0] = born_matmul(g, w);
    if (node_needs_grad(n, 1)) {
        born_tensor *xf = ops_reshape_rows(x), *gf = ops_reshape_rows(g);
        gi[1] = born_matmul(born_transpose(gf, 0, 1), xf);
    }
    if (n->ninputs > 2 && node_needs_grad(n, 2)) gi[2] = g;
    return BORN_OK;
}

static born_tensor *linear_quant(const char *name, born_tensor *x, born_tensor *w,
                                 born_tensor *bias);

born_tensor *born_linear(born_tensor *x, born_tensor *weight, born_tensor *bias) {
    const char *name = "born_linear";
    if (weight && born_dtype_is_quantized(weight->dtype)) return linear_quant(name, x, weight, bias);
    born_tensor *ac_in[3] = {x, weight, bias}, *ac[3];
    bool ac_failed;
    if (autocast_args(3, ac_in, ac, &ac_failed)) { /* inside born_autocast_begin: in its dtype */
        born_tensor *r = ac_failed ? NULL : born_linear(ac[0], ac[1], ac[2]);
        autocast_release(3, ac_in, ac);
        return r;
    }
    born_tensor *args[3] = {x, weight, bias};
    if (!ops_check_inputs(name, 2, args)) return NULL;
    born_device device;
    if (!ops_check_device(name, 3, args, &device)) return NULL;
    char dx[200], dw[200], db[200];
    if (x->ndim < 1 || weight->ndim != 2 || x->shape[x->ndim - 1] != weight->shape[1] ||
        (bias && (bias->ndim != 1 || bias->shape[0] != weight->shape[0]))) {
        if (bias)
            snprintf(db, sizeof db, " and bias %s", ops_describe(bias, dw, sizeof dw));
        else
            db[0] = '\0';
        return born_error_null(BORN_ERR_SHAPE,
                               "%s: input %s, weight %s%s: expected input [..., in], weight "
                               "[out, in] and bias [out]",
                               name, ops_describe(x, dx, sizeof dx),
                               ops_describe(weight, dw, sizeof dw), db);
    }
    if (x->dtype == BORN_BOOL || weight->dtype == BORN_BOOL || (bias && bias->dtype == BORN_BOOL))
        return born_error_null(BORN_ERR_DTYPE,
                               "%s: input %s, weight %s: bool tensors are not supported", name,
                               ops_describe(x, dx, sizeof dx), ops_describe(weight, dw, sizeof dw));
    born_dtype out_dtype = ops_result_type(bias ? 3 : 2, args);
    born_dtype compute = half_compute(out_dtype, device);
    const born_backend *be = ops_backend(x);
    if (!be) return NULL;
    if (!be->matmul || (bias && !be->binary))
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: not supported on this device", name);

    /* x as rows: [R, in] (its leading dims folded, copying only if their strides cannot be) */
    int64_t in = weight->shape[1], outf = weight->shape[0];
    int64_t rows = 1;
    for (int d = 0; d < x->ndim - 1; d++)
        rows *= x->shape[d];
    int64_t shape[BORN_MAX_DIMS];
    for (int d = 0; d < x->ndim - 1; d++)
        shape[d] = x->shape[d];
    shape[x->ndim - 1] = outf;
    /* a bf16 result straight from the backend: without a bias, or with one where the backend adds
     * it to the f32 product before rounding (matmul_bf16_bias: the sum of the two is what is
     * rounded either way) */
    bool rounded = bf16_rounded_out(be, compute, out_dtype, x, weight);
    bool fused_bias = bias && rounded && be->matmul_bf16_bias;
    born_dtype res_dtype = rounded && (!bias || fused_bias) ? BORN_BF16 : compute;
    born_tensor *fb = NULL; /* the bias as contiguous floats, for matmul_bf16_bias */
    if (fused_bias) {
        fb = bias->dtype == BORN_F32 ? ops_as_contiguous(bias) : ops_cast(bias, BORN_F32);
        if (!fb) return NULL;
    }
    born_tensor *res = ops_empty(res_dtype, x->ndim, shape, device);
    born_dtype operand = half_in(be, compute, x, weight);
    born_tensor *cx = res ? ops_as_dtype(x, operand) : NULL;
    born_tensor *cw = cx ? ops_as_dtype(weight, operand) : NULL;
    born_status st = cw ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        bool foldable = true; /* leading dims of cx merge into one stride */
        int64_t row_stride = x->ndim >= 2 ? cx->strides[x->ndim - 2] : 0;
        for (int d = x->ndim - 3; d >= 0; d--)
            if (cx->shape[d] != 1 && cx->strides[d] != cx->strides[d + 1] * cx->shape[d + 1])
                foldable = false;
        if (!foldable) {
            born_tensor *c = ops_cast(cx, operand);
            born_free(cx);
            cx = c;
            row_stride = in;
            st = cx ? BORN_OK : born_last_status();
        }
        if (st == BORN_OK) {
            born_strided sx = {
                tensor_data(cx), operand, 2, {rows, in}, {row_stride, cx->strides[cx->ndim - 1]}};
            born_strided sw = {
                tensor_data(cw), operand, 2, {in, outf}, {cw->strides[1], cw->strides[0]}};
            born_strided so = {tensor_data(res), res_dtype, 2, {rows, outf}, {outf, 1}};
            if (rows == 1) sx.strides[0] = 0;
            st = fused_bias ? be->matmul_bf16_bias(&so, &sx, &sw, tensor_data(fb))
                            : be->matmul(&so, &sx, &sw);
        }
    }
    born_free(fb);
    if (st == BORN_OK && bias && !fused_bias) {
        born_tensor *cb = ops_as_dtype(bias, compute);
        if (cb) {
            born_strided o = strided_of(res);
            born_strided sb = strided_broadcast(cb, res->ndim, res->shape);
            st = be->binary(BORN_BINARY_ADD, &o, &o, &sb);
        } else {
            st = born_last_status();
        }
        born_free(cb);
    }
    born_free(cx);
    born_free(cw);
    born_tensor *out = NULL;
    if (st == BORN_OK) out = res_dtype == out_dtype ? ops_alias(res) : ops_as_dtype(res, out_dtype);
    born_free(res);
    if (!out || !born_dtype_is_floating(out_dtype)) return out;
    born_tensor *save[2] = {x, weight};
    if (!autograd_record(out, "LinearBackward", linear_backward, bias ? 3 : 2, args, 2, save, NULL,
                         0)) {
        born_free(out);
        return NULL;
    }
    return out;
}

/* ---- quantized weights --------------------------------------------------------------------- */

/* born_linear(x, w, bias) and born_matmul(x, w^T) with a block-quantized w [N, K]: one call to
 * the backend's linear_quant (x rows quantized on the fly, integer dot products with the packed
 * weight rows), x of any non-bool dtype computed as f32 with its leading dims folded, an f32
 * result. Only x and the bias can require grad (a quantized tensor cannot): grad_x = g @
 * dequant(w), the weight dequantized a slice of rows at a time, never whole. */

/* Rows of w dequantized per step of the backward: about 8 MiB of f32. */
static int64_t quant_backward_rows(int64_t k) {
    int64_t rows = ((int64_t)2 << 20) / (k > 0 ? k : 1);
    return rows < 16 ? 16 : rows;
}

static born_status linear_quant_backward(born_node *n, born_tensor *g, born_tensor **gi) {
    born_tensor *w = node_saved(n, 0);
    if (n->ninputs > 1 && node_needs_grad(n, 1)) gi[1] = g;
    if (!node_needs_grad(n, 0)) return BORN_OK;
    int64_t rows = w->shape[0], step = quant_backward_rows(w->shape[1]);
    born_tensor *acc = NULL;
    for (int64_t r0 = 0; r0 < rows; r0 += step) {
        int64_t len = rows - r0 < step ? rows - r0 : step;
        born_tensor *wr = born_narrow(w, 0, r0, len);
        born_tensor *wd = born_to_dtype(wr, BORN_F32);
        born_tensor *gr = born_narrow(g, -1, r0, len);
        born_tensor *part = born_matmul(gr, wd);
        born_free(wr);
        born_free(wd);
        born_free(gr);
        if (!part) {
            born_free(acc);
            return born_last_status();
        }
        if (acc) {
            born_tensor *sum = born_add(acc, part);
            born_free(acc);
            born_free(part);
            if (!sum) return born_last_status();
            acc = sum;
        } else {
            acc = part;
        }
    }
    if (!acc) acc = born_zeros(BORN_F32, n->inputs[0].ndim, n->inputs[0].shape); /* no rows */
    gi[0] = acc;
    return acc ? BORN_OK : born_last_status();
}

static born_tensor *linear_quant(const char *name, born_tensor *x, born_tensor *w,
                                 born_tensor *bias) {
    born_tensor *args[3] = {x, w, bias};
    if (!ops_check_inputs_any(name, 2, args)) return NULL;
    born_device device;
    if (!ops_check_device(name, 3, args, &device)) return NULL;
    char dx[200], dw[200], db[200];
    if (born_dtype_is_quantized(x->dtype) || x->dtype == BORN_BOOL ||
        (bias && (born_dtype_is_quantized(bias->dtype) || bias->dtype == BORN_BOOL))) {
        if (bias)
            snprintf(db, sizeof db, " and bias %s", ops_describe(bias, dw, sizeof dw));
        else
            db[0] = '\0';
        return born_error_null(BORN_ERR_DTYPE, "%s: input %s, weight %s%s: with a quantized "
                               "weight the input and the bias must be floating (or integer) "
                               "tensors", name, ops_describe(x, dx, sizeof dx),
                               ops_describe(w, dw, sizeof dw), db);
    }
    if (w->ndim != 2 || w->strides[1] != 1 || x->ndim < 1 ||
        x->shape[x->ndim - 1] != w->shape[1] ||
        (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0]))) {
        if (bias)
            snprintf(db, sizeof db, " and bias %s", ops_describe(bias, dw, sizeof dw));
        else
            db[0] = '\0';
        return born_error_null(BORN_ERR_SHAPE, "%s: input %s, weight %s%s: expected input "
                               "[..., in], a quantized weight [out, in] with whole rows and bias "
                               "[out]", name, ops_describe(x, dx, sizeof dx),
                               ops_describe(w, dw, sizeof dw), db);
    }
    const born_backend *be = backend_for(device);
    if (!be) return NULL;
    if (!be->linear_quant)
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: quantized weights are not supported on "
                               "this device", name);
    int64_t in = w->shape[1], outf = w->shape[0], rows = 1;
    int64_t shape[BORN_MAX_DIMS];
    for (int d = 0; d < x->ndim - 1; d++) {
        rows *= x->shape[d];
        shape[d] = x->shape[d];
    }
    shape[x->ndim - 1] = outf;
    born_tensor *typed = ops_as_dtype(x, BORN_F32);
    born_tensor *cx = typed ? ops_as_contiguous(typed) : NULL;
    born_free(typed);
    born_tensor *cb = cx && bias ? ops_as_dtype(bias, BORN_F32) : NULL;
    born_tensor *cbc = cb ? ops_as_contiguous(cb) : NULL;
    born_free(cb);
    born_tensor *out = cx && (!bias || cbc) ? ops_empty(BORN_F32, x->ndim, shape, device) : NULL;
    born_status st = out ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        born_strided sx = {tensor_data(cx), BORN_F32, 2, {rows, in}, {in, 1}};
        born_strided sw = {tensor_data(w), w->dtype, 2, {outf, in}, {w->strides[0], 1}};
        born_strided so = {tensor_data(out), BORN_F32, 2, {rows, outf}, {outf, 1}};
        born_strided sb = {cbc ? tensor_data(cbc) : NULL, BORN_F32, 1, {outf}, {1}};
        st = be->linear_quant(&so, &sx, &sw, &sb);
    }
    born_free(cx);
    born_free(cbc);
    if (st != BORN_OK) {
        born_free(out);
        return NULL;
    }
    born_tensor *inputs[2] = {x, bias};
    if (!autograd_record(out, "LinearQuantBackward", linear_quant_backward, bias ? 2 : 1, inputs,
                         1, &w, NULL, 0)) {
        born_free(out);
        return NULL;
    }
    return out;
}

/* a @ b with a quantized b: b must be the transpose of a quantized [N, K] weight
 * (born_transpose(w, 0, 1)), so that a @ b is born_linear(a, w). */
static born_tensor *matmul_quant(born_tensor *a, born_tensor *b) {
    const char *name = "born_matmul";
    char da[200], db[200];
    if (born_dtype_is_quantized(a->dtype) || b->ndim != 2 || b->strides[0] != 1 ||
        b->strides[1] == 1)
        return born_error_null(BORN_ERR_DTYPE, "%s: %s @ %s: a quantized matrix can only be the "
                               "right operand, as the transposed view of a weight [out, in] "
                               "(born_matmul(x, born_transpose(w, 0, 1)), or born_linear(x, w))",
                               name, ops_describe(a, da, sizeof da), ops_describe(b, db, sizeof db));
    born_tensor *w = born_transpose(b, 0, 1);
    born_tensor *out = w ? linear_quant(name, a, w, NULL) : NULL;
    born_free(w);
    return out;
}
