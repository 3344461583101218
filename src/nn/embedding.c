/* Embedding: a lookup table [num, dim] initialised from N(0, 1). A padding row (padding_idx) is
 * initialised to zero and gets no gradient: the forward detaches the looked-up rows at the
 * positions that hold padding_idx, so the backward sends nothing there. */
#include <inttypes.h>

#include "core/tensor_impl.h"
#include "nn/nn_internal.h"
#include "ops/op_util.h"

typedef struct embedding {
    born_module base;
    int64_t num, dim;
    int64_t padding_idx; /* normalised to [0, num), or BORN_EMBEDDING_NO_PADDING */
    born_tensor *weight; /* borrowed */
} embedding;

static born_tensor *embedding_forward(born_module *m, born_tensor *x) {
    embedding *e = (embedding *)m;
    if (!born_dtype_is_integer(x->dtype)) {
        char d[200];
        return born_error_null(BORN_ERR_DTYPE, "Embedding(%" PRId64 ", %" PRId64 "): indices %s "
                               "must be integers", e->num, e->dim, ops_describe(x, d, sizeof d));
    }
    born_tensor *out = born_embedding(e->weight, x);
    if (!out || e->padding_idx == BORN_EMBEDDING_NO_PADDING || !born_tensor_requires_grad(out))
        return out;
    born_tensor *at_pad = born_unsqueeze(born_eq_scalar(x, (double)e->padding_idx), -1);
    return born_where(at_pad, born_detach(out), out);
}

static void embedding_describe(const born_module *m, char *buf, size_t size) {
    const embedding *e = (const embedding *)m;
    nn_buf_printf(buf, size, "%" PRId64 ", %" PRId64, e->num, e->dim);
    if (e->padding_idx != BORN_EMBEDDING_NO_PADDING)
        nn_buf_printf(buf, size, ", padding_idx=%" PRId64, e->padding_idx);
}

static const born_module_vtable embedding_vt = {"Embedding", embedding_forward, NULL,
                                                embedding_describe};

born_module *born_embedding_new(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx,
                                born_generator *gen) {
    static const char *fn = "born_embedding_new";
    if (num_embeddings < 0 || embedding_dim < 0)
        return born_error_null(BORN_ERR_ARGUMENT, "%s: num_embeddings %" PRId64 " and embedding_dim %"
                               PRId64 " must not be negative", fn, num_embeddings, embedding_dim);
    if (padding_idx != BORN_EMBEDDING_NO_PADDING) {
        if (padding_idx >= num_embeddings || padding_idx < -num_embeddings)
            return born_error_null(BORN_ERR_ARGUMENT, "%s: padding_idx %" PRId64 " must lie within "
                                   "num_embeddings %" PRId64, fn, padding_idx, num_embeddings);
        if (padding_idx < 0) padding_idx += num_embeddings;
    }
    embedding *e = (embedding *)nn_module_alloc(sizeof *e, &embedding_vt, fn);
    if (!e) return NULL;
    e->num = num_embeddings;
    e->dim = embedding_dim;
    e->padding_idx = padding_idx;
    e->weight = nn_add_parameter(&e->base, "weight", BORN_DIMS(num_embeddings, embedding_dim));
    bool ok = e->weight && born_init_normal_(e->weight, 0.0, 1.0, gen) == BORN_OK;
    if (ok && padding_idx != BORN_EMBEDDING_NO_PADDING) {
        born_no_grad_begin();
        born_scope_begin();
        born_tensor *row = born_select(e->weight, 0, padding_idx);
        ok = row && born_fill_(row, 0.0) == BORN_OK;
        born_scope_end();
        born_no_grad_end();
    }
    if (!ok) {
        born_module_free(&e->base);
        return NULL;
    }
    return &e->base;
}
