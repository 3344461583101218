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

const onnx_op_entry onnx_ops_control[] = {{"If", op_If}, {"Loop", op_Loop}, {NULL, NULL}};
