/* The public ONNX API: loading (decode, plan), describing inputs and outputs, running. */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/io_util.h"
#include "onnx/onnx_internal.h"
#include "onnx/plan.h"

struct born_onnx_model {
    uint8_t *buf;
    onnx_model *m;
    onnx_plan *plan;
    int *user_inputs; /* indices into graph inputs that are not initializers */
    int nuser;
    int64_t opset;
};

void born_onnx_free(born_onnx_model *model) {
    if (!model) return;
    onnx_plan_free(model->plan);
    onnx_model_free(model->m);
    free(model->buf);
    free(model->user_inputs);
    free(model);
}

int64_t born_onnx_opset(const born_onnx_model *model, const char *domain) {
    if (!model) return 0;
    if (!domain || !strcmp(domain, "ai.onnx")) domain = "";
    for (int i = 0; i < model->m->nopsets; i++) {
        const char *d = model->m->opsets[i].domain;
        if (!strcmp(d, "ai.onnx")) d = "";
        if (!strcmp(d, domain)) return model->m->opsets[i].version;
    }
    return 0;
}

/* Takes ownership of buf (malloc'd). */
static born_onnx_model *load_owned(uint8_t *buf, size_t len, const char *base_dir, unsigned flags) {
    born_onnx_model *model = calloc(1, sizeof *model);
    if (!model) {
        free(buf);
        return born_error_null(BORN_ERR_MEMORY, "born_onnx_load: out of memory");
    }
    model->buf = buf;
    model->m = onnx_model_decode(buf, len);
    if (!model->m) goto fail;
    if (model->m->nfunctions) {
        born_error(BORN_ERR_UNSUPPORTED, "born_onnx_load: the model defines %d local functions, "
                   "which Born does not support", model->m->nfunctions);
        goto fail;
    }
    model->opset = born_onnx_opset(model, "");
    if (!model->opset) model->opset = model->m->nopsets ? 1 : 1;
    model->plan = onnx_plan_new(model->m->graph, NULL, model->opset, base_dir,
                                !(flags & BORN_ONNX_NO_OPTIMIZE));
    if (!model->plan) goto fail;
    const onnx_graph *g = model->m->graph;
    model->user_inputs = malloc(((size_t)g->ninputs + 1) * sizeof(int));
    if (!model->user_inputs) goto fail;
    for (int i = 0; i < g->ninputs; i++) {
        bool init = false;
        for (int j = 0; j < g->ninits && !init; j++)
            init = !strcmp(g->inits[j].name, g->inputs[i].name);
        if (!init) model->user_inputs[model->nuser++] = i;
    }
    return model;
fail:
    born_onnx_free(model);
    return NULL;
}

born_onnx_model *born_onnx_load(const char *path) { return born_onnx_load_flags(path, 0); }

born_onnx_model *born_onnx_load_flags(const char *path, unsigned flags) {
    if (!path) return born_error_null(BORN_ERR_ARGUMENT, "born_onnx_load: NULL path");
    char where[512];
    snprintf(where, sizeof where, "born_onnx_load: %s", path);
    uint8_t *buf;
    size_t len;
    if (io_read_file(where, path, (size_t)1 << 34, &buf, &len)) return NULL;
    char *dup = strdup(path);
    if (!dup) {
        free(buf);
        return born_error_null(BORN_ERR_MEMORY, "born_onnx_load: out of memory");
    }
    born_onnx_model *m = load_owned(buf, len, dirname(dup), flags);
    free(dup);
    return m;
}

born_onnx_model *born_onnx_load_buffer(const void *data, size_t len, const char *base_dir) {
    if (!data && len) return born_error_null(BORN_ERR_ARGUMENT, "born_onnx_load_buffer: NULL data");
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) return born_error_null(BORN_ERR_MEMORY, "born_onnx_load_buffer: out of memory");
    if (len) memcpy(buf, data, len);
    return load_owned(buf, len, base_dir, 0);
}

int born_onnx_step_count(const born_onnx_model *model) {
    return model ? model->plan->nsteps : 0;
}

int born_onnx_input_count(const born_onnx_model *model) { return model ? model->nuser : 0; }
int born_onnx_output_count(const born_onnx_model *model) {
    return model ? model->m->graph->noutputs : 0;
}

static void describe(const onnx_value_info *v, born_onnx_value_info *info) {
    memset(info, 0, sizeof *info);
    info->name = v->name;
    info->onnx_type = v->elem_type;
    info->dtype_ok = onnx_dtype_map(v->elem_type, &info->dtype) && (v->kind == 0 || v->kind == 1);
    info->ndim = v->has_shape ? v->ndim : -1;
    for (int i = 0; i < v->ndim && i < BORN_MAX_DIMS; i++) {
        info->shape[i] = v->dim_params[i] ? -1 : v->dims[i];
        info->dim_names[i] = v->dim_params[i];
    }
}

born_status born_onnx_input_info(const born_onnx_model *model, int i, born_onnx_value_info *info) {
    if (!model || !info || i < 0 || i >= model->nuser)
        return born_error(BORN_ERR_ARGUMENT, "born_onnx_input_info: no input %d", i);
    describe(&model->m->graph->inputs[model->user_inputs[i]], info);
    return BORN_OK;
}

born_status born_onnx_output_info(const born_onnx_model *model, int i, born_onnx_value_info *info) {
    if (!model || !info || i < 0 || i >= model->m->graph->noutputs)
        return born_error(BORN_ERR_ARGUMENT, "born_onnx_output_info: no output %d", i);
    describe(&model->m->graph->outputs[i], info);
    return BORN_OK;
}

born_status born_onnx_run(born_onnx_model *model, int n, const char *const *names,
                          born_tensor *const *inputs, born_tensor_list *outputs) {
    if (!model || !outputs || n < 0 || (n && (!names || !inputs)))
        return born_error(BORN_ERR_ARGUMENT, "born_onnx_run: NULL argument");
    const onnx_graph *g = model->m->graph;
    born_tensor **feed = calloc((size_t)g->ninputs + 1, sizeof *feed);
    born_tensor **outs = calloc((size_t)g->noutputs + 1, sizeof *outs);
    born_status st = BORN_OK;
    if (!feed || !outs) {
        st = born_error(BORN_ERR_MEMORY, "born_onnx_run: out of memory");
        goto done;
    }
    for (int k = 0; k < n && !st; k++) {
        if (!names[k] || !inputs[k]) {
            st = born_error(BORN_ERR_ARGUMENT, "born_onnx_run: input %d is NULL", k);
            break;
        }
        int found = -1;
        for (int i = 0; i < g->ninputs; i++)
            if (!strcmp(g->inputs[i].name, names[k])) found = i;
        if (found < 0)
            st = born_error(BORN_ERR_ARGUMENT, "born_onnx_run: the model has no input '%s'", names[k]);
        else if (feed[found])
            st = born_error(BORN_ERR_ARGUMENT, "born_onnx_run: input '%s' given twice", names[k]);
        else
            feed[found] = inputs[k];
    }
    for (int k = 0; k < model->nuser && !st; k++)
        if (!feed[model->user_inputs[k]])
            st = born_error(BORN_ERR_ARGUMENT, "born_onnx_run: input '%s' is missing",
                            g->inputs[model->user_inputs[k]].name);
    if (st) goto done;
    st = onnx_plan_run(model->plan, NULL, feed, outs);
    if (st) goto done;
    for (int i = 0; i < g->noutputs; i++) {
        if (!st && born_tensor_list_get(outputs, g->outputs[i].name) == NULL)
            st = born_tensor_list_add(outputs, g->outputs[i].name, outs[i]);
        born_free(outs[i]);
    }
done:
    free(feed);
    free(outs);
    return st;
}

int64_t born_onnx_ir_version(const born_onnx_model *model) { return model ? model->m->ir_version : 0; }
const char *born_onnx_producer(const born_onnx_model *model) {
    return model ? model->m->producer_name : "";
}

static int count_nodes(const onnx_graph *g) {
    int n = g->nnodes;
    for (int i = 0; i < g->nnodes; i++)
        for (int a = 0; a < g->nodes[i].nattrs; a++)
            if (g->nodes[i].attrs[a].g) n += count_nodes(g->nodes[i].attrs[a].g);
    return n;
}

int born_onnx_node_count(const born_onnx_model *model) {
    return model ? count_nodes(model->m->graph) : 0;
}

const char *born_onnx_node_op(const born_onnx_model *model, int i) {
    if (!model || i < 0 || i >= model->m->graph->nnodes) return NULL;
    return model->m->graph->nodes[i].op_type;
}

int64_t born_onnx_param_count(const born_onnx_model *model) {
    if (!model) return 0;
    int64_t n = 0;
    const onnx_graph *g = model->m->graph;
    for (int i = 0; i < g->ninits; i++) {
        int64_t k = 1;
        for (int d = 0; d < g->inits[i].ndim; d++) k *= g->inits[i].dims[d];
        n += k;
    }
    for (int i = 0; i < g->nnodes; i++) { /* exporters that store weights as Constant nodes */
        const onnx_attr *a = strcmp(g->nodes[i].op_type, "Constant") ? NULL
                             : onnx_node_attr(&g->nodes[i], "value");
        if (!a || !a->t) continue;
        int64_t k = 1;
        for (int d = 0; d < a->t->ndim; d++) k *= a->t->dims[d];
        n += k;
    }
    return n;
}

born_tensor *born_onnx_read_tensor_pb(const char *path, char **name) {
    char where[512];
    snprintf(where, sizeof where, "born_onnx_read_tensor_pb: %s", path ? path : "(null)");
    if (!path) return born_error_null(BORN_ERR_ARGUMENT, "%s", where);
    uint8_t *buf;
    size_t len;
    if (io_read_file(where, path, (size_t)1 << 32, &buf, &len)) return NULL;
    onnx_tensor t;
    onnx_arena *a = NULL;
    born_tensor *r = NULL;
    if (onnx_tensor_decode(buf, len, &t, &a) == BORN_OK) {
        char *dir = strdup(path);
        r = dir ? onnx_tensor_to_born(&t, dirname(dir)) : NULL;
        free(dir);
        if (r && name) {
            *name = strdup(t.name);
            if (!*name) {
                born_free(r);
                r = born_error_null(BORN_ERR_MEMORY, "%s: out of memory", where);
            }
        }
    }
    onnx_arena_free(a);
    free(buf);
    return r;
}
