/* Control flow: If and Loop run their subgraph plans; values from enclosing graphs are reached
 * through the run environment. */
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

static born_status op_If(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    if (born_tensor_numel(c->in[0]) != 1)
        return onnx_fail(c, BORN_ERR_SHAPE, "the condition must have one element");
    bool cond = born_item(c->in[0]) != 0;
    onnx_plan *p = onnx_ctx_subplan(c, cond ? "then_branch" : "else_branch");
    if (!p) return onnx_fail(c, BORN_ERR_FORMAT, "missing %s", cond ? "then_branch" : "else_branch");
    int n = onnx_plan_num_outputs(p);
    if (n != c->nout) return onnx_fail(c, BORN_ERR_FORMAT, "branch has %d outputs, node %d", n, c->nout);
    born_tensor *outs[64];
    if (n > 64) return onnx_fail(c, BORN_ERR_UNSUPPORTED, "too many outputs");
    ONNX_TRY(onnx_plan_run(p, c->env, NULL, outs));
    for (int i = 0; i < n; i++) {
        c->out[i] = born_detach(outs[i]);
        born_free(outs[i]);
        if (!c->out[i]) return onnx_op_failed(c);
    }
    return BORN_OK;
}

static born_status op_Loop(onnx_op_ctx *c) {
    onnx_plan *body = onnx_ctx_subplan(c, "body");
    if (!body) return onnx_fail(c, BORN_ERR_FORMAT, "missing body");
    int nin = onnx_plan_num_inputs(body), nout = onnx_plan_num_outputs(body);
    int ncarry = c->nin - 2;
    if (ncarry < 0 || nin != ncarry + 2 || nout < ncarry + 1 || nout > 64 || c->nout != nout - 1)
        return onnx_fail(c, BORN_ERR_FORMAT, "body has %d inputs and %d outputs for %d carried values",
                         nin, nout, ncarry);
    int nscan = nout - 1 - ncarry;
    int64_t max_trip = INT64_MAX;
    if (c->in[0]) max_trip = (int64_t)born_item(c->in[0]);
    bool cond = c->nin > 1 && c->in[1] ? born_item(c->in[1]) != 0 : true;
    born_tensor *carry[64];
    for (int i = 0; i < ncarry; i++) {
        if (!c->in[2 + i]) return onnx_fail(c, BORN_ERR_ARGUMENT, "carried value %d missing", i);
        carry[i] = born_detach(c->in[2 + i]);
    }
    born_tensor **scans[64] = {NULL};
    int64_t nit = 0, cap = 0;
    born_status st = BORN_OK;
    for (int64_t it = 0; it < max_trip && cond && !st; it++) {
        born_tensor *feed[66], *outs[64];
        feed[0] = born_scalar(BORN_I64, (double)it);
        feed[1] = born_scalar(BORN_BOOL, cond);
        for (int i = 0; i < ncarry; i++) feed[2 + i] = carry[i];
        st = onnx_plan_run(body, c->env, feed, outs);
        if (st) break;
        cond = born_item(outs[0]) != 0;
        born_free(outs[0]);
        for (int i = 0; i < ncarry; i++) {
            carry[i] = born_detach(outs[1 + i]);
            born_free(outs[1 + i]);
        }
        if (nit == cap) {
            cap = cap ? cap * 2 : 16;
            for (int s = 0; s < nscan; s++) {
                born_tensor **g = realloc(scans[s], (size_t)cap * sizeof *g);
                if (!g) st = onnx_fail(c, BORN_ERR_MEMORY, "out of memory");
                else scans[s] = g;
            }
        }
        for (int s = 0; s < nscan; s++) {
            if (!st) scans[s][nit] = born_detach(outs[1 + ncarry + s]);
            born_free(outs[1 + ncarry + s]);
        }
        nit++;
    }
    for (int i = 0; i < ncarry && !st; i++) c->out[i] = carry[i];
    for (int s = 0; s < nscan && !st; s++) {
        if (nit == 0) {
            c->out[ncarry + s] = born_empty(BORN_F32, 1, (int64_t[]){0});
        } else {
            c->out[ncarry + s] = born_stack(scans[s], (int)nit, 0);
        }
        if (!c->out[ncarry + s]) st = onnx_op_failed(c);
    }
    for (int s = 0; s < nscan; s++) free(scans[s]);
    return st;
}

/* One Scan over states[0..ns) and scan inputs xs[0..nx) (already without a batch dim), writing the
 * final states and the stacked scan outputs into res (res[0..ns) states, then the outputs). */
static born_status scan_once(onnx_op_ctx *c, onnx_plan *body, int ns, born_tensor *const *states,
                             int nx, born_tensor *const *xs, const int64_t *in_axes,
                             const int64_t *in_dirs, const int64_t *out_axes,
                             const int64_t *out_dirs, born_tensor **res) {
    int nout = onnx_plan_num_outputs(body), ny = nout - ns;
    int64_t T = -1;
    for (int j = 0; j < nx; j++) {
        int r = born_tensor_ndim(xs[j]);
        int a = onnx_axis(c, in_axes ? in_axes[j] : 0, r);
        if (a < 0) return onnx_op_failed(c);
        int64_t len = born_tensor_shape(xs[j])[a];
        if (T >= 0 && len != T)
            return onnx_fail(c, BORN_ERR_SHAPE, "scan inputs have lengths %lld and %lld", (long long)T, (long long)len);
        T = len;
    }
    if (T < 0) T = 0;
    born_tensor *st[64], **ys = NULL;
    for (int i = 0; i < ns; i++) st[i] = states[i];
    if (ny > 0) {
        ys = calloc((size_t)(ny * (T ? T : 1)), sizeof *ys);
        if (!ys) return onnx_fail(c, BORN_ERR_MEMORY, "out of memory");
    }
    born_status rc = BORN_OK;
    for (int64_t t = 0; t < T && !rc; t++) {
        born_tensor *feed[128], *outs[64];
        for (int i = 0; i < ns; i++) feed[i] = st[i];
        for (int j = 0; j < nx; j++) {
            int a = onnx_axis(c, in_axes ? in_axes[j] : 0, born_tensor_ndim(xs[j]));
            int64_t k = in_dirs && in_dirs[j] ? T - 1 - t : t;
            feed[ns + j] = born_contiguous(born_select(xs[j], a, k));
            if (!feed[ns + j]) rc = onnx_op_failed(c);
        }
        if (!rc) rc = onnx_plan_run(body, c->env, feed, outs);
        if (rc) break;
        for (int i = 0; i < ns; i++) {
            st[i] = born_detach(outs[i]);
            born_free(outs[i]);
        }
        for (int k = 0; k < ny; k++) {
            int64_t pos = out_dirs && out_dirs[k] ? T - 1 - t : t;
            ys[k * T + pos] = born_detach(outs[ns + k]);
            born_free(outs[ns + k]);
        }
    }
    for (int i = 0; i < ns && !rc; i++) res[i] = st[i];
    for (int k = 0; k < ny && !rc; k++) {
        if (T == 0) {
            rc = onnx_fail(c, BORN_ERR_UNSUPPORTED, "a scan output of an empty scan");
            break;
        }
        int r = born_tensor_ndim(ys[k * T]) + 1;
        int a = onnx_axis(c, out_axes ? out_axes[k] : 0, r);
        res[ns + k] = a < 0 ? NULL : born_stack(ys + k * T, (int)T, a);
        if (!res[ns + k]) rc = onnx_op_failed(c);
    }
    free(ys);
    return rc;
}

static born_status op_Scan(onnx_op_ctx *c) {
    onnx_plan *body = onnx_ctx_subplan(c, "body");
    if (!body) return onnx_fail(c, BORN_ERR_FORMAT, "missing body");
    int nx = (int)onnx_attr_int(c, "num_scan_inputs", -1);
    bool v8 = c->opset < 9;
    int first = v8 ? 1 : 0; /* opset 8: sequence_lens first */
    int ns = c->nin - first - nx;
    int nout = onnx_plan_num_outputs(body);
    if (nx < 1 || nx > 64 || ns < 0 || ns > 64 || nout > 64 || nout < ns || c->nout != nout ||
        onnx_plan_num_inputs(body) != ns + nx)
        return onnx_fail(c, BORN_ERR_FORMAT, "body and node disagree on states and scan inputs");
    int n;
    const int64_t *in_dirs = onnx_attr_ints(c, v8 ? "directions" : "scan_input_directions", &n);
    if (in_dirs && n != nx) return onnx_fail(c, BORN_ERR_ARGUMENT, "%d scan input directions", n);
    const int64_t *in_axes = v8 ? NULL : onnx_attr_ints(c, "scan_input_axes", &n);
    if (in_axes && n != nx) return onnx_fail(c, BORN_ERR_ARGUMENT, "%d scan input axes", n);
    const int64_t *out_axes = v8 ? NULL : onnx_attr_ints(c, "scan_output_axes", &n);
    if (out_axes && n != nout - ns) return onnx_fail(c, BORN_ERR_ARGUMENT, "%d scan output axes", n);
    const int64_t *out_dirs = v8 ? NULL : onnx_attr_ints(c, "scan_output_directions", &n);
    if (out_dirs && n != nout - ns) return onnx_fail(c, BORN_ERR_ARGUMENT, "%d scan output directions", n);
    for (int i = first; i < c->nin; i++) ONNX_TRY(onnx_need(c, i));
    born_tensor *const *states = c->in + first, *const *xs = c->in + first + ns;
    if (!v8) return scan_once(c, body, ns, states, nx, xs, in_axes, in_dirs, out_axes, out_dirs, c->out);
    /* opset 8: a batch dimension first; each batch entry is scanned on its own */
    if (c->in[0]) {
        born_tensor *sl = onnx_as(c->in[0], BORN_I64);
        if (!sl) return onnx_op_failed(c);
        for (int64_t b = 0; b < born_tensor_numel(sl); b++)
            if (born_data_i64(sl)[b] != born_tensor_shape(xs[0])[1])
                return onnx_fail(c, BORN_ERR_UNSUPPORTED, "sequence_lens shorter than the input");
    }
    int64_t B = born_tensor_shape(xs[0])[0];
    if (B < 1 || B > 4096) return onnx_fail(c, BORN_ERR_UNSUPPORTED, "batch of %lld", (long long)B);
    born_tensor **per = calloc((size_t)(B * nout), sizeof *per);
    if (!per) return onnx_fail(c, BORN_ERR_MEMORY, "out of memory");
    born_status rc = BORN_OK;
    for (int64_t b = 0; b < B && !rc; b++) {
        born_tensor *sb[64], *xb[64];
        for (int i = 0; i < ns; i++) sb[i] = born_select(states[i], 0, b);
        for (int j = 0; j < nx && j < 64; j++) xb[j] = born_select(xs[j], 0, b);
        rc = scan_once(c, body, ns, sb, nx, xb, NULL, in_dirs, NULL, NULL, per + b * nout);
    }
    born_tensor *col[4096];
    for (int k = 0; k < nout && !rc; k++) {
        for (int64_t b = 0; b < B; b++) col[b] = per[b * nout + k];
        c->out[k] = born_stack(col, (int)B, 0);
        if (!c->out[k]) rc = onnx_op_failed(c);
    }
    free(per);
    return rc;
}

const onnx_op_entry onnx_ops_control[] = {
    {"If", op_If}, {"Loop", op_Loop}, {"Scan", op_Scan}, {NULL, NULL}};
