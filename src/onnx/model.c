/* Decoding ONNX messages from the protobuf wire format. Each message is read twice: once to count
 * its repeated fields, once to fill arrays of exactly that size, so nothing is ever resized and
 * every count is bounded by the bytes of the input. Nesting (graphs inside attributes) is limited
 * to ONNX_MAX_DEPTH. */
#include "onnx/model.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "onnx/pb.h"

/* ------------------------------------------------------------------------------------------ */
/* Arena                                                                                        */

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_block;

struct onnx_arena {
    arena_block *head;
};

void onnx_arena_free(onnx_arena *a) {
    if (!a) return;
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

static void *arena_alloc(onnx_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) return born_error_null(BORN_ERR_MEMORY, "onnx: out of memory (%zu bytes)", cap);
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static void *arena_array(onnx_arena *a, size_t count, size_t size) {
    if (count && size > SIZE_MAX / count)
        return born_error_null(BORN_ERR_FORMAT, "onnx: array of %zu elements is too large", count);
    return arena_alloc(a, count * size);
}

static const char *arena_str(onnx_arena *a, const uint8_t *s, size_t len) {
    char *p = arena_alloc(a, len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct dec {
    onnx_arena *arena;
} dec;

#define TRY(x)                                                                                     \
    do {                                                                                           \
        born_status st_ = (x);                                                                     \
        if (st_) return st_;                                                                       \
    } while (0)
#define TRYP(p)                                                                                    \
    do {                                                                                           \
        if (!(p)) return born_last_status() ? born_last_status() : BORN_ERR_MEMORY;                \
    } while (0)

static born_status expect_wire(const pb_field *f, int wire, const char *where) {
    if (f->wire != wire)
        return born_error(BORN_ERR_FORMAT, "%s: field %u has wire type %d, expected %d", where,
                          f->number, f->wire, wire);
    return BORN_OK;
}

static born_status get_str(dec *d, const pb_field *f, const char *where, const char **out) {
    TRY(expect_wire(f, PB_LEN, where));
    if (memchr(f->data, 0, f->len))
        return born_error(BORN_ERR_FORMAT, "%s: string field %u holds a NUL byte", where, f->number);
    *out = arena_str(d->arena, f->data, f->len);
    TRYP(*out);
    return BORN_OK;
}

/* Counts the elements of a repeated scalar field, across all its occurrences. */
static born_status count_scalars(const pb_field *f, int wire, size_t *total, const char *where) {
    size_t c;
    TRY(pb_packed_count(f, wire, &c, where));
    *total += c;
    return BORN_OK;
}

static born_status append_scalars(const pb_field *f, int wire, uint64_t *arr, size_t *pos,
                                  const char *where) {
    size_t c;
    TRY(pb_packed_count(f, wire, &c, where));
    TRY(pb_packed_read(f, wire, arr + *pos, c, where));
    *pos += c;
    return BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* TensorProto                                                                                  */

static born_status decode_string_entry(dec *d, const pb_field *f, const char **key,
                                       const char **value) {
    const char *where = "onnx: StringStringEntryProto";
    TRY(expect_wire(f, PB_LEN, where));
    pb_reader r = pb_reader_make(f->data, f->len, where);
    *key = *value = "";
    while (!pb_done(&r)) {
        pb_field g;
        TRY(pb_next(&r, &g));
        if (g.number == 1) TRY(get_str(d, &g, where, key));
        else if (g.number == 2) TRY(get_str(d, &g, where, value));
    }
    return BORN_OK;
}

static born_status decode_tensor(dec *d, const uint8_t *data, size_t len, onnx_tensor *t) {
    const char *where = "onnx: TensorProto";
    memset(t, 0, sizeof *t);
    t->name = "";
    t->ext_offset = t->ext_length = -1;
    size_t ndims = 0, nvals = 0, nstr = 0;
    int typed = 0;
    pb_reader r = pb_reader_make(data, len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        switch (f.number) {
        case 1: TRY(count_scalars(&f, PB_VARINT, &ndims, where)); break;
        case 4: case 5: case 7: case 10: case 11:
            if (typed && typed != (int)f.number)
                return born_error(BORN_ERR_FORMAT, "%s: values in two typed fields (%d and %u)",
                                  where, typed, f.number);
            typed = (int)f.number;
            TRY(count_scalars(&f, f.number == 4 ? PB_I32 : f.number == 10 ? PB_I64 : PB_VARINT,
                              &nvals, where));
            break;
        case 6: nstr++; break;
        default: break;
        }
    }
    if (ndims > 64) return born_error(BORN_ERR_FORMAT, "%s: %zu dimensions", where, ndims);
    t->dims = arena_array(d->arena, ndims, sizeof(int64_t));
    uint64_t *dims_raw = arena_array(d->arena, ndims, sizeof(uint64_t));
    t->vals = arena_array(d->arena, nvals, sizeof(uint64_t));
    t->strings = arena_array(d->arena, nstr, sizeof(onnx_bytes));
    TRYP(t->dims && dims_raw && t->vals && t->strings);
    t->typed_field = typed;
    size_t pd = 0;
    r = pb_reader_make(data, len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        switch (f.number) {
        case 1: TRY(append_scalars(&f, PB_VARINT, dims_raw, &pd, where)); break;
        case 2:
            TRY(expect_wire(&f, PB_VARINT, where));
            t->data_type = (int32_t)f.varint;
            break;
        case 4: case 5: case 7: case 10: case 11:
            TRY(append_scalars(&f, f.number == 4 ? PB_I32 : f.number == 10 ? PB_I64 : PB_VARINT,
                               t->vals, &t->nvals, where));
            break;
        case 6:
            TRY(expect_wire(&f, PB_LEN, where));
            t->strings[t->nstrings].data = f.data;
            t->strings[t->nstrings++].len = f.len;
            break;
        case 8: TRY(get_str(d, &f, where, &t->name)); break;
        case 9:
            TRY(expect_wire(&f, PB_LEN, where));
            t->has_raw = true;
            t->raw.data = f.data;
            t->raw.len = f.len;
            break;
        case 13: {
            const char *k, *v;
            TRY(decode_string_entry(d, &f, &k, &v));
            char *endp;
            if (!strcmp(k, "location")) t->ext_location = v;
            else if (!strcmp(k, "offset") || !strcmp(k, "length")) {
                long long x = strtoll(v, &endp, 10);
                if (!*v || *endp || x < 0)
                    return born_error(BORN_ERR_FORMAT, "%s '%s': bad external %s '%s'", where,
                                      t->name, k, v);
                if (k[0] == 'o') t->ext_offset = x;
                else t->ext_length = x;
            }
            break;
        }
        case 14:
            TRY(expect_wire(&f, PB_VARINT, where));
            t->external = f.varint == 1;
            break;
        default: break;
        }
    }
    t->ndim = (int)ndims;
    for (size_t i = 0; i < ndims; i++) {
        t->dims[i] = (int64_t)dims_raw[i];
        if (t->dims[i] < 0)
            return born_error(BORN_ERR_FORMAT, "%s '%s': negative dimension %lld", where, t->name,
                              (long long)t->dims[i]);
    }
    return BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* ValueInfoProto / TypeProto                                                                   */

static born_status decode_shape(dec *d, const pb_field *sf, onnx_value_info *v) {
    const char *where = "onnx: TensorShapeProto";
    TRY(expect_wire(sf, PB_LEN, where));
    size_t n = 0;
    pb_reader r = pb_reader_make(sf->data, sf->len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        if (f.number == 1) n++;
    }
    if (n > 64) return born_error(BORN_ERR_FORMAT, "%s: %zu dimensions", where, n);
    v->dims = arena_array(d->arena, n, sizeof(int64_t));
    v->dim_params = arena_array(d->arena, n, sizeof(char *));
    TRYP(v->dims && v->dim_params);
    v->has_shape = true;
    r = pb_reader_make(sf->data, sf->len, where);
    int i = 0;
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        if (f.number != 1) continue;
        TRY(expect_wire(&f, PB_LEN, where));
        v->dims[i] = -1;
        pb_reader dr = pb_reader_make(f.data, f.len, where);
        while (!pb_done(&dr)) {
            pb_field g;
            TRY(pb_next(&dr, &g));
            if (g.number == 1) {
                TRY(expect_wire(&g, PB_VARINT, where));
                v->dims[i] = (int64_t)g.varint < 0 ? -1 : (int64_t)g.varint;
            } else if (g.number == 2) {
                TRY(get_str(d, &g, where, &v->dim_params[i]));
            }
        }
        i++;
    }
    v->ndim = i;
    return BORN_OK;
}

static born_status decode_type(dec *d, const pb_field *tf, onnx_value_info *v) {
    const char *where = "onnx: TypeProto";
    TRY(expect_wire(tf, PB_LEN, where));
    pb_reader r = pb_reader_make(tf->data, tf->len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        if (f.number == 1 || f.number == 4 || f.number == 5 || f.number == 8 || f.number == 9)
            v->kind = (int)f.number;
        if (f.number != 1) continue;
        TRY(expect_wire(&f, PB_LEN, where));
        pb_reader tr = pb_reader_make(f.data, f.len, where);
        while (!pb_done(&tr)) {
            pb_field g;
            TRY(pb_next(&tr, &g));
            if (g.number == 1) {
                TRY(expect_wire(&g, PB_VARINT, where));
                v->elem_type = (int32_t)g.varint;
            } else if (g.number == 2) {
                TRY(decode_shape(d, &g, v));
            }
        }
    }
    return BORN_OK;
}

static born_status decode_value_info(dec *d, const pb_field *vf, onnx_value_info *v) {
    const char *where = "onnx: ValueInfoProto";
    TRY(expect_wire(vf, PB_LEN, where));
    memset(v, 0, sizeof *v);
    v->name = "";
    pb_reader r = pb_reader_make(vf->data, vf->len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        if (f.number == 1) TRY(get_str(d, &f, where, &v->name));
        else if (f.number == 2) TRY(decode_type(d, &f, v));
    }
    return BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Attributes, nodes, graphs                                                                    */

static born_status decode_graph(dec *d, const uint8_t *data, size_t len, int depth,
                                onnx_graph **out);

static born_status decode_attr(dec *d, const pb_field *af, onnx_attr *a, int depth) {
    const char *where = "onnx: AttributeProto";
    TRY(expect_wire(af, PB_LEN, where));
    memset(a, 0, sizeof *a);
    a->name = "";
    size_t nf = 0, ni = 0, ns = 0, nt = 0, ng = 0;
    pb_reader r = pb_reader_make(af->data, af->len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        switch (f.number) {
        case 7: TRY(count_scalars(&f, PB_I32, &nf, where)); break;
        case 8: TRY(count_scalars(&f, PB_VARINT, &ni, where)); break;
        case 9: ns++; break;
        case 10: nt++; break;
        case 11: ng++; break;
        default: break;
        }
    }
    uint64_t *fraw = arena_array(d->arena, nf, sizeof(uint64_t));
    uint64_t *iraw = arena_array(d->arena, ni, sizeof(uint64_t));
    a->floats = arena_array(d->arena, nf, sizeof(float));
    a->ints = arena_array(d->arena, ni, sizeof(int64_t));
    a->strings = arena_array(d->arena, ns, sizeof(onnx_bytes));
    a->tensors = arena_array(d->arena, nt, sizeof(onnx_tensor));
    a->graphs = arena_array(d->arena, ng, sizeof(onnx_graph *));
    TRYP(fraw && iraw && a->floats && a->ints && a->strings && a->tensors && a->graphs);
    size_t pf = 0, pi = 0;
    r = pb_reader_make(af->data, af->len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        switch (f.number) {
        case 1: TRY(get_str(d, &f, where, &a->name)); break;
        case 20:
            TRY(expect_wire(&f, PB_VARINT, where));
            a->type = (int)f.varint;
            break;
        case 2: {
            TRY(expect_wire(&f, PB_I32, where));
            uint32_t bits = (uint32_t)f.varint;
            memcpy(&a->f, &bits, 4);
            break;
        }
        case 3:
            TRY(expect_wire(&f, PB_VARINT, where));
            a->i = (int64_t)f.varint;
            break;
        case 4:
            TRY(expect_wire(&f, PB_LEN, where));
            a->s.data = f.data;
            a->s.len = f.len;
            break;
        case 5:
            TRY(expect_wire(&f, PB_LEN, where));
            a->t = arena_alloc(d->arena, sizeof *a->t);
            TRYP(a->t);
            TRY(decode_tensor(d, f.data, f.len, a->t));
            break;
        case 6:
            TRY(expect_wire(&f, PB_LEN, where));
            TRY(decode_graph(d, f.data, f.len, depth + 1, &a->g));
            break;
        case 7: TRY(append_scalars(&f, PB_I32, fraw, &pf, where)); break;
        case 8: TRY(append_scalars(&f, PB_VARINT, iraw, &pi, where)); break;
        case 9:
            TRY(expect_wire(&f, PB_LEN, where));
            a->strings[a->nstrings].data = f.data;
            a->strings[a->nstrings++].len = f.len;
            break;
        case 10:
            TRY(expect_wire(&f, PB_LEN, where));
            TRY(decode_tensor(d, f.data, f.len, &a->tensors[a->ntensors++]));
            break;
        case 11:
            TRY(expect_wire(&f, PB_LEN, where));
            TRY(decode_graph(d, f.data, f.len, depth + 1, &a->graphs[a->ngraphs++]));
            break;
        default: break;
        }
    }
    for (size_t i = 0; i < pf; i++) {
        uint32_t bits = (uint32_t)fraw[i];
        memcpy(&a->floats[i], &bits, 4);
    }
    for (size_t i = 0; i < pi; i++) a->ints[i] = (int64_t)iraw[i];
    a->nfloats = pf;
    a->nints = pi;
    if (a->type == 0) { /* old files: infer the type from the field present */
        a->type = a->g ? ONNX_ATTR_GRAPH : a->t ? ONNX_ATTR_TENSOR : a->s.data ? ONNX_ATTR_STRING
                  : nf ? ONNX_ATTR_FLOATS : ni ? ONNX_ATTR_INTS : ns ? ONNX_ATTR_STRINGS
                  : ONNX_ATTR_INT;
    }
    return BORN_OK;
}

static born_status decode_node(dec *d, const pb_field *nf, onnx_node *n, int depth) {
    const char *where = "onnx: NodeProto";
    TRY(expect_wire(nf, PB_LEN, where));
    memset(n, 0, sizeof *n);
    n->name = n->op_type = n->domain = "";
    size_t ni = 0, no = 0, na = 0;
    pb_reader r = pb_reader_make(nf->data, nf->len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        if (f.number == 1) ni++;
        else if (f.number == 2) no++;
        else if (f.number == 5) na++;
    }
    n->inputs = arena_array(d->arena, ni, sizeof(char *));
    n->outputs = arena_array(d->arena, no, sizeof(char *));
    n->attrs = arena_array(d->arena, na, sizeof(onnx_attr));
    TRYP(n->inputs && n->outputs && n->attrs);
    r = pb_reader_make(nf->data, nf->len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        switch (f.number) {
        case 1: TRY(get_str(d, &f, where, &n->inputs[n->ninputs++])); break;
        case 2: TRY(get_str(d, &f, where, &n->outputs[n->noutputs++])); break;
        case 3: TRY(get_str(d, &f, where, &n->name)); break;
        case 4: TRY(get_str(d, &f, where, &n->op_type)); break;
        case 7: TRY(get_str(d, &f, where, &n->domain)); break;
        case 5: TRY(decode_attr(d, &f, &n->attrs[n->nattrs++], depth)); break;
        default: break;
        }
    }
    return BORN_OK;
}

static born_status decode_graph(dec *d, const uint8_t *data, size_t len, int depth,
                                onnx_graph **out) {
    const char *where = "onnx: GraphProto";
    if (depth > ONNX_MAX_DEPTH)
        return born_error(BORN_ERR_FORMAT, "%s: subgraphs nested deeper than %d", where,
                          ONNX_MAX_DEPTH);
    onnx_graph *g = arena_alloc(d->arena, sizeof *g);
    TRYP(g);
    g->name = "";
    size_t nn = 0, nin = 0, nout = 0, nvi = 0, ninit = 0;
    pb_reader r = pb_reader_make(data, len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        switch (f.number) {
        case 1: nn++; break;
        case 5: ninit++; break;
        case 11: nin++; break;
        case 12: nout++; break;
        case 13: nvi++; break;
        case 15: g->nsparse_inits++; break;
        default: break;
        }
    }
    g->nodes = arena_array(d->arena, nn, sizeof(onnx_node));
    g->inits = arena_array(d->arena, ninit, sizeof(onnx_tensor));
    g->inputs = arena_array(d->arena, nin, sizeof(onnx_value_info));
    g->outputs = arena_array(d->arena, nout, sizeof(onnx_value_info));
    g->value_info = arena_array(d->arena, nvi, sizeof(onnx_value_info));
    TRYP(g->nodes && g->inits && g->inputs && g->outputs && g->value_info);
    r = pb_reader_make(data, len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        switch (f.number) {
        case 1: TRY(decode_node(d, &f, &g->nodes[g->nnodes++], depth)); break;
        case 2: TRY(get_str(d, &f, where, &g->name)); break;
        case 5:
            TRY(expect_wire(&f, PB_LEN, where));
            TRY(decode_tensor(d, f.data, f.len, &g->inits[g->ninits++]));
            break;
        case 11: TRY(decode_value_info(d, &f, &g->inputs[g->ninputs++])); break;
        case 12: TRY(decode_value_info(d, &f, &g->outputs[g->noutputs++])); break;
        case 13: TRY(decode_value_info(d, &f, &g->value_info[g->nvalue_info++])); break;
        default: break;
        }
    }
    *out = g;
    return BORN_OK;
}

static born_status decode_model(dec *d, const uint8_t *data, size_t len, onnx_model *m) {
    const char *where = "onnx: ModelProto";
    size_t nops = 0;
    bool has_graph = false;
    pb_reader r = pb_reader_make(data, len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        if (f.number == 8) nops++;
    }
    m->opsets = arena_array(d->arena, nops, sizeof(onnx_opset));
    TRYP(m->opsets);
    m->producer_name = m->producer_version = "";
    r = pb_reader_make(data, len, where);
    while (!pb_done(&r)) {
        pb_field f;
        TRY(pb_next(&r, &f));
        switch (f.number) {
        case 1:
            TRY(expect_wire(&f, PB_VARINT, where));
            m->ir_version = (int64_t)f.varint;
            break;
        case 2: TRY(get_str(d, &f, where, &m->producer_name)); break;
        case 3: TRY(get_str(d, &f, where, &m->producer_version)); break;
        case 7:
            TRY(expect_wire(&f, PB_LEN, where));
            if (has_graph) return born_error(BORN_ERR_FORMAT, "%s: two graphs", where);
            has_graph = true;
            TRY(decode_graph(d, f.data, f.len, 0, &m->graph));
            break;
        case 8: {
            TRY(expect_wire(&f, PB_LEN, where));
            onnx_opset *o = &m->opsets[m->nopsets++];
            o->domain = "";
            pb_reader orr = pb_reader_make(f.data, f.len, "onnx: OperatorSetIdProto");
            while (!pb_done(&orr)) {
                pb_field g;
                TRY(pb_next(&orr, &g));
                if (g.number == 1) TRY(get_str(d, &g, orr.where, &o->domain));
                else if (g.number == 2) {
                    TRY(expect_wire(&g, PB_VARINT, orr.where));
                    o->version = (int64_t)g.varint;
                }
            }
            break;
        }
        case 25: m->nfunctions++; break;
        default: break;
        }
    }
    if (!has_graph) return born_error(BORN_ERR_FORMAT, "%s: no graph", where);
    return BORN_OK;
}

onnx_model *onnx_model_decode(const void *data, size_t len) {
    if (!data && len) return born_error_null(BORN_ERR_ARGUMENT, "onnx: NULL data");
    onnx_arena *a = calloc(1, sizeof *a);
    if (!a) return born_error_null(BORN_ERR_MEMORY, "onnx: out of memory");
    dec d = {a};
    onnx_model *m = arena_alloc(a, sizeof *m);
    if (!m || decode_model(&d, data, len, m) != BORN_OK) {
        onnx_arena_free(a);
        return NULL;
    }
    m->arena = a;
    return m;
}

void onnx_model_free(onnx_model *m) {
    if (m) onnx_arena_free(m->arena);
}

born_status onnx_tensor_decode(const void *data, size_t len, onnx_tensor *t, onnx_arena **arena) {
    onnx_arena *a = calloc(1, sizeof *a);
    if (!a) return born_error(BORN_ERR_MEMORY, "onnx: out of memory");
    dec d = {a};
    born_status st = decode_tensor(&d, data, len, t);
    if (st) {
        onnx_arena_free(a);
        return st;
    }
    *arena = a;
    return BORN_OK;
}

const char *onnx_type_name(int32_t t) {
    static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16",
                                        "int32", "int64", "string", "bool", "float16", "double",
                                        "uint32", "uint64", "complex64", "complex128", "bfloat16",
                                        "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
                                        "float8e5m2fnuz"};
    return t >= 0 && t < (int32_t)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

const onnx_attr *onnx_node_attr(const onnx_node *n, const char *name) {
    for (int i = 0; i < n->nattrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}
