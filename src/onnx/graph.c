/* The graph executor: a plan (slots for every value, nodes in topological order, each value's
 * last use) built once at load, then run as often as wanted. Each intermediate is released right
 * after the last node that reads it, so peak memory follows the graph's live set. Subgraphs
 * (If/Loop/Scan bodies) get plans of their own; values they take from enclosing graphs are
 * counted as inputs of the node that owns them, so those stay alive long enough. */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "core/error.h"
#include "onnx/conv_fast_kernels.h"
#include "onnx/onnx_internal.h"
#include "onnx/plan.h"

struct onnx_env {
    onnx_plan *p;
    born_tensor **vals;
    onnx_env *parent;
};

static uint32_t hash_str(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static int slot_find(const onnx_plan *p, const char *name) {
    if (!p->hash_cap) return -1;
    uint32_t mask = (uint32_t)p->hash_cap - 1;
    for (uint32_t i = hash_str(name) & mask;; i = (i + 1) & mask) {
        int s = p->hash[i];
        if (s < 0) return -1;
        if (!strcmp(p->name[s], name)) return s;
    }
}

static born_status rehash(onnx_plan *p, int cap) {
    int *h = malloc((size_t)cap * sizeof *h);
    if (!h) return born_error(BORN_ERR_MEMORY, "onnx: out of memory");
    for (int i = 0; i < cap; i++) h[i] = -1;
    free(p->hash);
    p->hash = h;
    p->hash_cap = cap;
    for (int s = 0; s < p->nslots; s++) {
        uint32_t mask = (uint32_t)cap - 1, i = hash_str(p->name[s]) & mask;
        while (h[i] >= 0) i = (i + 1) & mask;
        h[i] = s;
    }
    return BORN_OK;
}

static int slot_add(onnx_plan *p, const char *name, int kind) {
    if (p->nslots == p->cap) {
        int cap = p->cap ? p->cap * 2 : 64;
        const char **nn = realloc(p->name, (size_t)cap * sizeof *nn);
        if (nn) p->name = nn;
        int *nk = realloc(p->kind, (size_t)cap * sizeof *nk);
        if (nk) p->kind = nk;
        born_tensor **nc = realloc(p->consts, (size_t)cap * sizeof *nc);
        if (nc) p->consts = nc;
        int *np = realloc(p->producer, (size_t)cap * sizeof *np);
        if (np) p->producer = np;
        if (!nn || !nk || !nc || !np) {
            born_error(BORN_ERR_MEMORY, "onnx: out of memory");
            return -1;
        }
        p->cap = cap;
    }
    int s = p->nslots++;
    p->name[s] = name;
    p->kind[s] = kind;
    p->consts[s] = NULL;
    p->producer[s] = -1;
    if (p->nslots * 2 > p->hash_cap) {
        if (rehash(p, p->hash_cap ? p->hash_cap * 2 : 128)) return -1;
    } else {
        uint32_t mask = (uint32_t)p->hash_cap - 1, i = hash_str(name) & mask;
        while (p->hash[i] >= 0) i = (i + 1) & mask;
        p->hash[i] = s;
    }
    return s;
}

/* True when name can be found in the plan or the plans around it. */
static bool outer_has(const onnx_plan *p, const char *name) {
    for (; p; p = p->outer)
        if (slot_find(p, name) >= 0) return true;
    return false;
}

static const char *node_label(const onnx_node *n, char *buf, size_t size) {
    snprintf(buf, size, "%s node '%s'", n->op_type, n->name);
    return buf;
}

/* Resolves a name read by a node; unknown names become outer slots in subgraphs. */
static int resolve(onnx_plan *p, const char *name, const onnx_node *n) {
    int s = slot_find(p, name);
    if (s >= 0) return s;
    char lb[256];
    if (!p->outer || !outer_has(p->outer, name)) {
        born_error(BORN_ERR_FORMAT,
                   "onnx: %s reads '%s', which is no graph input, initializer or node output",
                   node_label(n, lb, sizeof lb), name);
        return -1;
    }
    s = slot_add(p, name, SLOT_OUTER);
    if (s < 0) return -1;
    const char **on = realloc(p->outer_names, (size_t)(p->nouter + 1) * sizeof *on);
    if (!on) {
        born_error(BORN_ERR_MEMORY, "onnx: out of memory");
        return -1;
    }
    p->outer_names = on;
    p->outer_names[p->nouter++] = name;
    return s;
}

void onnx_plan_free(onnx_plan *p) {
    if (!p) return;
    onnx_prof_report(p);
    for (int i = 0; i < p->nslots; i++) born_free(p->consts[i]);
    for (int i = 0; i < p->nsteps; i++) {
        plan_step *st = &p->steps[i];
        free(st->in);
        free(st->out);
        free(st->implicit);
        for (int j = 0; j < st->nsubplans; j++) onnx_plan_free(st->subplans[j]);
        free(st->subplans);
        for (int j = 0; j < 3; j++) born_free(st->over[j]);
        onnx_conv_prep_free(st->prep);
        onnx_lstm_prep_free(st->lstm);
        for (int j = 0; j < 4; j++) {
            born_free(st->memo_in[j]);
            born_free(st->memo_out[j]);
        }
    }
    free(p->steps);
    free(p->name);
    free(p->kind);
    free(p->consts);
    free(p->producer);
    free(p->last_use);
    free(p->hash);
    free(p->input_slot);
    free(p->output_slot);
    free(p->outer_names);
    free(p->vals);
    free(p);
}

/* The step index of each slot's last read (INT_MAX for graph outputs), into p->last_use. */
static born_status find_last_uses(onnx_plan *p) {
    free(p->last_use);
    p->last_use = malloc(((size_t)p->nslots + 1) * sizeof(int));
    if (!p->last_use) return born_error(BORN_ERR_MEMORY, "onnx: out of memory");
    for (int s = 0; s < p->nslots; s++) p->last_use[s] = -1;
    for (int i = 0; i < p->nsteps; i++) {
        plan_step *ps = &p->steps[i];
        for (int j = 0; j < ps->node->ninputs; j++)
            if (ps->in[j] >= 0) p->last_use[ps->in[j]] = i;
        for (int j = 0; j < ps->nimplicit; j++) p->last_use[ps->implicit[j]] = i;
        if (ps->addend1 > 0) p->last_use[ps->addend1 - 1] = i;
        for (int j = 0; j < ps->node->noutputs; j++) /* unread outputs die right away */
            if (ps->out[j] >= 0 && p->last_use[ps->out[j]] < i) p->last_use[ps->out[j]] = i;
    }
    for (int i = 0; i < p->g->noutputs; i++) p->last_use[p->output_slot[i]] = INT_MAX;
    return BORN_OK;
}

/* Small pure ops whose results may be remembered when their inputs are the same tensors. */
static const char *const memo_ops[] = {
    "Gather", "Equal", "Not", "Cast", "Squeeze", "Unsqueeze", "Concat", "Slice", "Add", "Sub",
    "Mul", "Div", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Reshape",
    "Identity", "Min", "Max", "ReduceProd", "Where", NULL};

/* Marks the steps whose results are remembered between runs (plan_step.memo): Shape and Size,
 * then the small pure ops that read only constants and remembered values (Silero VAD's checks of
 * its own shapes that pick If branches). Steps that make graph outputs are left out: the caller
 * owns those and may write to them. */
static born_status mark_memo(onnx_plan *p) {
    bool *derived = calloc((size_t)p->nslots + 1, sizeof *derived);
    if (!derived) return born_error(BORN_ERR_MEMORY, "onnx: out of memory");
    for (int i = 0; i < p->nsteps; i++) {
        plan_step *ps = &p->steps[i];
        const onnx_node *n = ps->node;
        ps->memo = MEMO_NONE;
        ps->memo_rank = -1;
        if (ps->nsubplans || ps->nimplicit || ps->act || ps->nep || ps->addend1 || ps->over[0] || ps->over[1] ||
            ps->over[2] || n->ninputs < 1 || n->ninputs > 4 || n->noutputs != 1 || ps->out[0] < 0 ||
            p->last_use[ps->out[0]] == INT_MAX)
            continue;
        if ((!strcmp(n->op_type, "Shape") || !strcmp(n->op_type, "Size")) && n->ninputs == 1) {
            ps->memo = MEMO_SHAPE;
        } else {
            bool ok = false, listed = false;
            for (int k = 0; memo_ops[k] && !listed; k++) listed = !strcmp(n->op_type, memo_ops[k]);
            for (int j = 0; j < n->ninputs && listed; j++) {
                int s = ps->in[j];
                if (s < 0) continue;
                if (derived[s]) ok = true;
                else if (!p->consts[s] || p->kind[s] == SLOT_INPUT) listed = false;
            }
            if (!listed || !ok) continue;
            ps->memo = MEMO_PURE;
        }
        derived[ps->out[0]] = true;
    }
    free(derived);
    return BORN_OK;
}

/* Subgraphs are planned before their enclosing graph is folded: the values they take from it
 * that turned out constant (weights, folded Slice/Concat chains; not graph inputs, which a caller
 * may override) become constants of the subgraph plans, which are then folded again, and so on
 * down. Silero VAD slices and concatenates its LSTM weights inside an If branch: this folds that
 * once at load instead of on every run. */
static born_status inherit_consts(onnx_plan *p) {
    for (int i = 0; i < p->nsteps; i++) {
        plan_step *ps = &p->steps[i];
        for (int k = 0; k < ps->nsubplans; k++) {
            onnx_plan *sp = ps->subplans[k];
            bool got = false;
            for (int s = 0; s < sp->nslots; s++) {
                if (sp->kind[s] != SLOT_OUTER || sp->consts[s]) continue;
                int o = slot_find(p, sp->name[s]);
                if (o < 0 || !p->consts[o] || p->kind[o] == SLOT_INPUT || p->kind[o] == SLOT_OUTER)
                    continue;
                sp->consts[s] = born_tensor_retain(p->consts[o]);
                sp->kind[s] = SLOT_INIT;
                got = true;
            }
            if (!got || !sp->optimize) continue;
            born_status st = onnx_plan_optimize(sp);
            if (!st) st = inherit_consts(sp);
            if (!st) st = find_last_uses(sp);
            if (!st) st = mark_memo(sp);
            if (st) return st;
        }
    }
    return BORN_OK;
}

static born_status build(onnx_plan *p, const onnx_graph *g, const char *base_dir) {
    char lb[256];
    int nn = g->nnodes;
    p->input_slot = calloc((size_t)g->ninputs + 1, sizeof(int));
    p->output_slot = calloc((size_t)g->noutputs + 1, sizeof(int));
    plan_step *tmp = calloc((size_t)nn + 1, sizeof *tmp);
    p->steps = calloc((size_t)nn + 1, sizeof *p->steps);
    if (!p->input_slot || !p->output_slot || !tmp || !p->steps) {
        free(tmp);
        return born_error(BORN_ERR_MEMORY, "onnx: out of memory");
    }
    born_status st = BORN_OK;
    for (int i = 0; i < g->ninputs; i++) {
        const char *nm = g->inputs[i].name;
        if (slot_find(p, nm) >= 0) {
            st = born_error(BORN_ERR_FORMAT, "onnx: graph input '%s' is declared twice", nm);
            goto done;
        }
        if ((p->input_slot[i] = slot_add(p, nm, SLOT_INPUT)) < 0) goto fail;
    }
    for (int i = 0; i < g->ninits; i++) {
        const onnx_tensor *t = &g->inits[i];
        int s = slot_find(p, t->name);
        if (s >= 0 && (p->kind[s] != SLOT_INPUT || p->consts[s])) {
            st = born_error(BORN_ERR_FORMAT, "onnx: initializer '%s' is defined twice", t->name);
            goto done;
        }
        if (s < 0 && (s = slot_add(p, t->name, SLOT_INIT)) < 0) goto fail;
        born_scope_begin();
        born_tensor *bt = onnx_tensor_to_born(t, base_dir);
        if (bt) born_tensor_retain(bt);
        born_scope_end();
        if (!bt) goto fail;
        p->consts[s] = bt;
    }
    if (g->nsparse_inits) {
        st = born_error(BORN_ERR_UNSUPPORTED, "onnx: graph '%s' has sparse initializers", g->name);
        goto done;
    }
    /* outputs of nodes */
    for (int i = 0; i < nn; i++) {
        const onnx_node *n = &g->nodes[i];
        tmp[i].node = n;
        if (n->domain[0] && strcmp(n->domain, "ai.onnx") &&
            !onnx_op_find_domain(n->domain, n->op_type)) {
            st = born_error(BORN_ERR_UNSUPPORTED, "onnx: %s is in domain '%s', which Born does not "
                            "implement", node_label(n, lb, sizeof lb), n->domain);
            goto done;
        }
        tmp[i].fn = onnx_op_find_domain(n->domain, n->op_type);
        if (!tmp[i].fn) {
            st = born_error(BORN_ERR_UNSUPPORTED, "onnx: %s: unknown or unsupported operator '%s'",
                            node_label(n, lb, sizeof lb), n->op_type);
            goto done;
        }
        tmp[i].in = malloc(((size_t)n->ninputs + 1) * sizeof(int));
        tmp[i].out = malloc(((size_t)n->noutputs + 1) * sizeof(int));
        if (!tmp[i].in || !tmp[i].out) goto oom;
        for (int j = 0; j < n->noutputs; j++) {
            const char *nm = n->outputs[j];
            tmp[i].out[j] = -1;
            if (!nm[0]) continue;
            if (slot_find(p, nm) >= 0) {
                st = born_error(BORN_ERR_FORMAT, "onnx: %s writes '%s', which already has a value",
                                node_label(n, lb, sizeof lb), nm);
                goto done;
            }
            int s = slot_add(p, nm, SLOT_NODE);
            if (s < 0) goto fail;
            p->producer[s] = i;
            tmp[i].out[j] = s;
        }
    }
    /* inputs, subgraphs */
    for (int i = 0; i < nn; i++) {
        const onnx_node *n = &g->nodes[i];
        for (int j = 0; j < n->ninputs; j++) {
            tmp[i].in[j] = -1;
            if (n->inputs[j][0] && (tmp[i].in[j] = resolve(p, n->inputs[j], n)) < 0) goto fail;
        }
        int ng = 0;
        for (int a = 0; a < n->nattrs; a++)
            if (n->attrs[a].type == ONNX_ATTR_GRAPH && n->attrs[a].g) ng++;
        if (!ng) continue;
        tmp[i].subplans = calloc((size_t)ng, sizeof(onnx_plan *));
        if (!tmp[i].subplans) goto oom;
        for (int a = 0; a < n->nattrs; a++) {
            if (n->attrs[a].type != ONNX_ATTR_GRAPH || !n->attrs[a].g) continue;
            onnx_plan *sp = onnx_plan_new(n->attrs[a].g, p, p->opset, base_dir, p->optimize);
            if (!sp) goto fail;
            tmp[i].subplans[tmp[i].nsubplans++] = sp;
            int *imp = realloc(tmp[i].implicit, (size_t)(tmp[i].nimplicit + sp->nouter + 1) * sizeof(int));
            if (!imp) goto oom;
            tmp[i].implicit = imp;
            for (int k = 0; k < sp->nouter; k++) {
                int s = resolve(p, sp->outer_names[k], n);
                if (s < 0) goto fail;
                tmp[i].implicit[tmp[i].nimplicit++] = s;
            }
        }
    }
    for (int i = 0; i < g->noutputs; i++) {
        int s = slot_find(p, g->outputs[i].name);
        if (s < 0 && p->outer && outer_has(p->outer, g->outputs[i].name)) {
            /* a subgraph output taken straight from an enclosing graph */
            s = resolve(p, g->outputs[i].name, &(onnx_node){.name = "", .op_type = "output"});
        }
        if (s < 0) {
            st = born_error(BORN_ERR_FORMAT, "onnx: graph output '%s' is produced by no node",
                            g->outputs[i].name);
            goto done;
        }
        p->output_slot[i] = s;
    }
    /* Kahn's algorithm over node -> node edges */
    {
        int *indeg = calloc((size_t)nn + 1, sizeof(int));
        int *queue = malloc(((size_t)nn + 1) * sizeof(int));
        int *cstart = calloc((size_t)nn + 2, sizeof(int));
        int nedges = 0;
        for (int i = 0; i < nn; i++) nedges += g->nodes[i].ninputs + tmp[i].nimplicit;
        int *cons = malloc(((size_t)nedges + 1) * sizeof(int));
        if (!indeg || !queue || !cstart || !cons) {
            free(indeg); free(queue); free(cstart); free(cons);
            goto oom;
        }
        for (int pass = 0; pass < 2; pass++) {
            int *fill = pass ? calloc((size_t)nn + 1, sizeof(int)) : NULL;
            if (pass && !fill) {
                free(indeg); free(queue); free(cstart); free(cons);
                goto oom;
            }
            for (int i = 0; i < nn; i++) {
                int total = g->nodes[i].ninputs + tmp[i].nimplicit;
                for (int j = 0; j < total; j++) {
                    int s = j < g->nodes[i].ninputs ? tmp[i].in[j] : tmp[i].implicit[j - g->nodes[i].ninputs];
                    if (s < 0 || p->producer[s] < 0) continue;
                    int prod = p->producer[s];
                    if (!pass) {
                        cstart[prod + 1]++;
                        indeg[i]++;
                    } else {
                        cons[cstart[prod] + fill[prod]++] = i;
                    }
                }
            }
            if (!pass)
                for (int i = 0; i < nn; i++) cstart[i + 1] += cstart[i];
            free(fill);
        }
        int head = 0, tail = 0;
        for (int i = 0; i < nn; i++)
            if (!indeg[i]) queue[tail++] = i;
        while (head < tail) {
            int i = queue[head++];
            p->steps[p->nsteps++] = tmp[i];
            memset(&tmp[i], 0, sizeof tmp[i]);
            for (int e = cstart[i]; e < cstart[i + 1]; e++)
                if (--indeg[cons[e]] == 0) queue[tail++] = cons[e];
        }
        int stuck = -1;
        for (int i = 0; i < nn && stuck < 0; i++)
            if (indeg[i]) stuck = i;
        free(indeg); free(queue); free(cstart); free(cons);
        if (stuck >= 0) {
            st = born_error(BORN_ERR_FORMAT, "onnx: the graph has a cycle through %s",
                            node_label(&g->nodes[stuck], lb, sizeof lb));
            goto done;
        }
    }
    if ((st = onnx_plan_infer_shapes(p)) != BORN_OK) goto done;
    if (p->optimize && (st = onnx_plan_optimize(p)) != BORN_OK) goto done;
    if (p->optimize && (st = inherit_consts(p)) != BORN_OK) goto done;
    st = find_last_uses(p);
    if (!st) st = mark_memo(p);
    goto done;
oom:
    st = born_error(BORN_ERR_MEMORY, "onnx: out of memory");
    goto done;
fail:
    st = born_last_status() ? born_last_status() : BORN_ERR_INTERNAL;
done:
    for (int i = 0; i < nn; i++) {
        free(tmp[i].in);
        free(tmp[i].out);
        free(tmp[i].implicit);
        for (int j = 0; j < tmp[i].nsubplans; j++) onnx_plan_free(tmp[i].subplans[j]);
        free(tmp[i].subplans);
    }
    free(tmp);
    return st;
}

onnx_plan *onnx_plan_new(const onnx_graph *g, const onnx_plan *outer, int64_t opset,
                         const char *base_dir, bool optimize) {
    onnx_plan *p = calloc(1, sizeof *p);
    if (!p) return born_error_null(BORN_ERR_MEMORY, "onnx: out of memory");
    p->g = g;
    p->outer = outer;
    p->opset = opset;
    p->optimize = optimize;
    atomic_init(&p->vals_busy, 0);
    if (build(p, g, base_dir) != BORN_OK) {
        onnx_plan_free(p);
        return NULL;
    }
    p->vals = calloc((size_t)p->nslots + 1, sizeof *p->vals); /* NULL: each run allocates */
    return p;
}

int onnx_plan_num_outputs(const onnx_plan *p) { return p->g->noutputs; }
int onnx_plan_num_inputs(const onnx_plan *p) { return p->g->ninputs; }

onnx_plan *onnx_ctx_subplan(onnx_op_ctx *c, const char *name) {
    const plan_step *ps = c->subplans;
    int k = 0;
    for (int a = 0; a < c->node->nattrs; a++) {
        const onnx_attr *at = &c->node->attrs[a];
        if (at->type != ONNX_ATTR_GRAPH || !at->g) continue;
        if (!strcmp(at->name, name)) return k < ps->nsubplans ? ps->subplans[k] : NULL;
        k++;
    }
    return NULL;
}

/* The value of slot s in env (borrowed), looking through enclosing runs for outer slots. */
static born_tensor *env_get(onnx_env *e, int s) {
    while (e) {
        onnx_plan *p = e->p;
        if (e->vals[s]) return e->vals[s];
        if (p->consts[s]) return p->consts[s];
        if (p->kind[s] != SLOT_OUTER || !e->parent) return NULL;
        const char *nm = p->name[s];
        e = e->parent;
        s = slot_find(e->p, nm);
        if (s < 0) return NULL;
    }
    return NULL;
}

static born_status check_input(const onnx_value_info *vi, born_tensor *t) {
    if (vi->kind && vi->kind != 1)
        return born_error(BORN_ERR_UNSUPPORTED, "onnx: input '%s' is not a tensor (type kind %d)",
                          vi->name, vi->kind);
    born_dtype want;
    if (vi->elem_type && onnx_dtype_map(vi->elem_type, &want) && born_tensor_dtype(t) != want)
        return born_error(BORN_ERR_DTYPE, "onnx: input '%s' is %s, the model declares %s (held as %s)",
                          vi->name, born_dtype_name(born_tensor_dtype(t)),
                          onnx_type_name(vi->elem_type), born_dtype_name(want));
    if (vi->has_shape) {
        char buf[128];
        if (born_tensor_ndim(t) != vi->ndim)
            return born_error(BORN_ERR_SHAPE, "onnx: input '%s' is %s, the model declares %d dimensions",
                              vi->name, born_tensor_describe(t, buf, sizeof buf), vi->ndim);
        for (int i = 0; i < vi->ndim; i++)
            if (vi->dims[i] >= 0 && !vi->dim_params[i] && born_tensor_shape(t)[i] != vi->dims[i])
                return born_error(BORN_ERR_SHAPE,
                                  "onnx: input '%s' is %s, the model declares size %lld in dimension %d",
                                  vi->name, born_tensor_describe(t, buf, sizeof buf),
                                  (long long)vi->dims[i], i);
    }
    return BORN_OK;
}

/* Whether step ps may reuse its remembered output for these inputs. */
static bool memo_hit(const plan_step *ps, born_tensor *const *ins, int nin) {
    if (ps->memo_rank < 0 || !ps->memo_out[0]) return false;
    if (ps->memo == MEMO_SHAPE) {
        if (!ins[0] || born_tensor_ndim(ins[0]) != ps->memo_rank) return false;
        const int64_t *sh = born_tensor_shape(ins[0]);
        for (int d = 0; d < ps->memo_rank; d++)
            if (sh[d] != ps->memo_dims[d]) return false;
        return true;
    }
    if (nin > 4) return false;
    for (int j = 0; j < nin; j++)
        if (ins[j] != ps->memo_in[j]) return false;
    return true;
}

/* Remembers step ps's output y for these inputs (references held until the next store). */
static void memo_store(plan_step *ps, born_tensor *const *ins, int nin, born_tensor *y) {
    if (nin > 4 || !y) return;
    for (int j = 0; j < 4; j++) {
        born_free(ps->memo_in[j]);
        born_free(ps->memo_out[j]);
        ps->memo_in[j] = ps->memo_out[j] = NULL;
    }
    ps->memo_rank = -1;
    if (ps->memo == MEMO_SHAPE) {
        if (!ins[0]) return;
        ps->memo_rank = born_tensor_ndim(ins[0]);
        memcpy(ps->memo_dims, born_tensor_shape(ins[0]), (size_t)ps->memo_rank * sizeof(int64_t));
    } else {
        for (int j = 0; j < nin; j++) ps->memo_in[j] = ins[j] ? born_tensor_retain(ins[j]) : NULL;
        ps->memo_rank = 0;
    }
    ps->memo_out[0] = born_tensor_retain(y);
}

/* Releases the values whose last reader is step i. */
static void release_last_uses(const onnx_plan *p, born_tensor **vals, const plan_step *ps, int i) {
    const onnx_node *n = ps->node;
    for (int j = 0; j < n->ninputs; j++) {
        int s = ps->in[j];
        if (s >= 0 && p->last_use[s] == i && vals[s]) {
            born_free(vals[s]);
            vals[s] = NULL;
        }
    }
    for (int j = 0; j < ps->nimplicit; j++) {
        int s = ps->implicit[j];
        if (p->last_use[s] == i && vals[s]) {
            born_free(vals[s]);
            vals[s] = NULL;
        }
    }
    int sa = ps->addend1 - 1;
    if (sa >= 0 && p->last_use[sa] == i && vals[sa]) {
        born_free(vals[sa]);
        vals[sa] = NULL;
    }
    for (int j = 0; j < n->noutputs; j++) {
        int s = ps->out[j];
        if (s >= 0 && p->last_use[s] == i && vals[s]) {
            born_free(vals[s]);
            vals[s] = NULL;
        }
    }
}

born_status onnx_plan_run(onnx_plan *p, onnx_env *parent, born_tensor *const *inputs,
                          born_tensor **outputs) {
    const onnx_graph *g = p->g;
    char lb[256];
    bool own = p->vals && !atomic_exchange(&p->vals_busy, 1);
    born_tensor **vals = own ? p->vals : calloc((size_t)p->nslots + 1, sizeof *vals);
    born_tensor *ins[64], *outs[64];
    if (!vals) return born_error(BORN_ERR_MEMORY, "onnx: out of memory");
    onnx_env env = {p, vals, parent};
    born_status st = BORN_OK;
    const bool prof = onnx_prof_on();
    for (int i = 0; i < g->ninputs && !st; i++) {
        int s = p->input_slot[i];
        born_tensor *t = inputs ? inputs[i] : NULL;
        if (!t) {
            if (!p->consts[s])
                st = born_error(BORN_ERR_ARGUMENT, "onnx: graph input '%s' is missing", g->inputs[i].name);
            continue;
        }
        st = check_input(&g->inputs[i], t);
        if (st) break;
        born_scope_begin();
        born_tensor *h = born_detach(t);
        if (h) born_tensor_retain(h);
        born_scope_end();
        if (!h) st = born_last_status();
        vals[s] = h;
    }
    for (int i = 0; i < p->nsteps && !st; i++) {
        plan_step *ps = &p->steps[i];
        const onnx_node *n = ps->node;
        if (n->ninputs > 64 || n->noutputs > 64) {
            st = born_error(BORN_ERR_UNSUPPORTED, "onnx: %s has more than 64 inputs or outputs",
                            node_label(n, lb, sizeof lb));
            break;
        }
        int nin = n->ninputs;
        for (int j = 0; j < 3; j++)
            if (ps->over[j] && nin <= j) nin = j + 1;
        for (int j = 0; j < nin; j++) {
            if (j < 3 && ps->over[j]) {
                ins[j] = ps->over[j];
                continue;
            }
            ins[j] = j < n->ninputs && ps->in[j] >= 0 ? env_get(&env, ps->in[j]) : NULL;
            if (j < n->ninputs && ps->in[j] >= 0 && !ins[j]) {
                st = born_error(BORN_ERR_INTERNAL, "onnx: %s: input '%s' has no value",
                                node_label(n, lb, sizeof lb), n->inputs[j]);
                break;
            }
        }
        if (st) break;
        if (own && ps->memo && memo_hit(ps, ins, nin)) {
            vals[ps->out[0]] = born_tensor_retain(ps->memo_out[0]);
            release_last_uses(p, vals, ps, i);
            continue;
        }
        for (int j = 0; j < n->noutputs; j++) outs[j] = NULL;
        onnx_op_ctx c = {n, p->opset, ins, nin, outs, n->noutputs, &env, ps, NULL, ps->addend_first, false};
        if (ps->addend1 > 0 && !(c.addend = env_get(&env, ps->addend1 - 1))) {
            st = born_error(BORN_ERR_INTERNAL, "onnx: %s: its fused Add's input has no value",
                            node_label(n, lb, sizeof lb));
            break;
        }
        double prof_t0 = prof ? onnx_prof_now() : 0;
        born_scope_begin();
        st = ps->fn(&c);
        if (!st && ps->act && outs[0] && !c.act_done) {
            bool fresh = true; /* a contiguous f32 output of its own: the AVX2 clamp in place */
            for (int j = 0; j < nin; j++) fresh &= ins[j] != outs[0];
#ifdef ONNX_HAVE_EP_AVX2
            if (fresh && born_tensor_dtype(outs[0]) == BORN_F32 &&
                born_tensor_is_contiguous(outs[0]) && cpu_get_level() >= CPU_LEVEL_AVX2) {
                /* born_unary's clamp with its bounds as f32, element for element */
                const int kind[1] = {CONV_EP_CLAMP};
                const float v[1][4] = {{(float)ps->lo, (float)ps->hi, 0, 0}};
                onnx_conv_ep_rows_avx2(1, kind, v, born_data_f32(outs[0]), 0, 1,
                                       born_tensor_numel(outs[0]));
            } else
#endif
            {
                born_unary_params cp = {ps->lo, ps->hi};
                st = born_unary_out(BORN_UNARY_CLAMP, outs[0], outs[0], &cp);
                if (st) st = onnx_op_failed(&c);
            }
        }
        if (!st && ps->nep && outs[0]) {
            bool fresh = true; /* not one of the inputs: safe to overwrite */
            for (int j = 0; j < nin; j++) fresh &= ins[j] != outs[0];
            st = onnx_plan_epilogue(ps, &outs[0], fresh);
            if (st) st = onnx_op_failed(&c);
        }
        if (!st) {
            for (int j = 0; j < n->noutputs; j++) {
                if (ps->out[j] < 0) continue;
                if (!outs[j]) {
                    st = born_error(BORN_ERR_INTERNAL, "onnx: %s did not produce output %d ('%s')",
                                    node_label(n, lb, sizeof lb), j, n->outputs[j]);
                    break;
                }
                vals[ps->out[j]] = born_tensor_retain(outs[j]);
            }
        }
        if (!st && own && ps->memo) memo_store(ps, ins, nin, outs[0]);
        if (prof && !st && outs[0]) {
            ps->prof_s += onnx_prof_now() - prof_t0;
            ps->prof_n++;
            ps->prof_rank = born_tensor_ndim(outs[0]);
            memcpy(ps->prof_dims, born_tensor_shape(outs[0]),
                   (size_t)ps->prof_rank * sizeof(int64_t));
        }
        born_scope_end();
        if (st) break;
        release_last_uses(p, vals, ps, i);
    }
    if (!st) {
        for (int i = 0; i < g->noutputs; i++) {
            born_tensor *t = env_get(&env, p->output_slot[i]);
            if (!t) {
                st = born_error(BORN_ERR_INTERNAL, "onnx: graph output '%s' has no value",
                                g->outputs[i].name);
                for (int k = 0; k < i; k++) born_free(outputs[k]);
                break;
            }
            outputs[i] = born_tensor_retain(t);
        }
    }
    for (int s = 0; s < p->nslots; s++)
        if (vals[s]) {
            born_free(vals[s]);
            vals[s] = NULL;
        }
    if (own) atomic_store(&p->vals_busy, 0);
    else free(vals);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers for operators                                                                       */

born_status onnx_fail(const onnx_op_ctx *c, born_status status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return born_error(status, "onnx: %s node '%s': %s", c->node->op_type, c->node->name, msg);
}

born_status onnx_op_failed(const onnx_op_ctx *c) {
    born_status st = born_last_status();
    if (!st) return onnx_fail(c, BORN_ERR_INTERNAL, "an operation failed without a message");
    char msg[512];
    snprintf(msg, sizeof msg, "%s", born_last_error());
    born_clear_error();
    return onnx_fail(c, st, "%s", msg);
}
