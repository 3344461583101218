/* Internal: the tensor handle and its storage. Only src/ sees these structs; users hold opaque
 * pointers.
 *
 * A storage is a refcounted block of memory on one device. A tensor handle is a refcounted view of
 * a storage: dtype, shape, strides and offset (both in elements), plus its autograd state. Views
 * are new handles over the same storage. */
#ifndef BORN_CORE_TENSOR_IMPL_H
#define BORN_CORE_TENSOR_IMPL_H

#include <stdatomic.h>

#include "born/core.h"

typedef struct born_node born_node;

typedef struct born_storage {
    atomic_int refcount;
    born_device device;
    void *data;
    size_t nbytes;
    bool borrowed;           /* the memory is the caller's: never freed by the backend */
    born_release_fn release; /* for borrowed memory: called when the storage dies (may be NULL) */
    void *release_ctx;
    atomic_uint_fast64_t version; /* bumped by every in-place write; autograd checks it */
} born_storage;

struct born_tensor {
    atomic_int refcount;
    born_dtype dtype;
    int ndim;
    int64_t shape[BORN_MAX_DIMS];
    int64_t strides[BORN_MAX_DIMS]; /* in elements */
    int64_t offset;                 /* in elements */
    born_storage *storage;

    /* lifetime: the scope holding the creation reference (-1: none), and its slot there */
    int scope_depth;
    int64_t scope_slot;

    /* autograd */
    bool requires_grad; /* a leaf flagged by the user, or any result of a recorded op */
    born_tensor *grad;  /* strong; accumulated by backward into leaves */
    born_node *grad_fn; /* strong; the node that made this tensor, NULL for a leaf */
};

/* The storage functions: a new zero-refcount-1 storage of nbytes on device (NULL + error on
 * failure), one over a borrowed buffer, and reference counting. */
born_storage *storage_new(born_device device, size_t nbytes);
born_storage *storage_borrow(born_device device, void *data, size_t nbytes,
                             born_release_fn release, void *ctx);
void storage_retain(born_storage *s);
void storage_release(born_storage *s);

/* Marks the storage as written in place (autograd's saved-tensor check). */
static inline void storage_bump_version(born_storage *s) { atomic_fetch_add(&s->version, 1); }

/* Validates a shape (0..BORN_MAX_DIMS dims, sizes >= 0, numel and bytes that fit) for op_name;
 * on success stores the element count in *numel. */
born_status shape_check(const char *op_name, int ndim, const int64_t *shape, born_dtype dtype,
                        int64_t *numel);

/* The element count of a shape (1 for ndim 0). */
int64_t shape_numel(int ndim, const int64_t *shape);

/* Row-major strides for shape. */
void shape_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);

/* Formats a shape as "[2, 3]" into buf; returns buf. */
const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t size);

/* A new contiguous tensor with fresh storage on device; registered with the current scope. */
born_tensor *tensor_new(born_dtype dtype, int ndim, const int64_t *shape, born_device device);

/* A new handle viewing base's storage with the given geometry (no autograd state); registered
 * with the current scope. The geometry must lie within the storage (the callers ensure it). */
born_tensor *tensor_new_view(born_tensor *base, born_dtype dtype, int ndim, const int64_t *shape,
                             const int64_t *strides, int64_t offset);

/* A new handle over storage s (which it retains); registered with the current scope. */
born_tensor *tensor_wrap_storage(born_storage *s, born_dtype dtype, int ndim,
                                 const int64_t *shape, const int64_t *strides, int64_t offset);

/* Drops one reference without touching scopes (the caller owns that reference). */
void tensor_release(born_tensor *t);

/* Pointer to element [0, ..., 0] (host pointer for CPU, device pointer otherwise). */
static inline void *tensor_data(const born_tensor *t) {
    /* block-quantized tensors start on a block boundary (views keep rows whole) */
    return (char *)t->storage->data + born_dtype_nbytes(t->dtype, t->offset);
}

/* Normalises a possibly negative dim against ndim (dims in [-ndim, ndim) are valid); returns -1
 * and records an error naming op_name when out of range. */
int dim_normalize(const char *op_name, int dim, int ndim);

/* Scope registration (src/core/scope.c): hands the creation reference of a new handle to the
 * innermost scope if one is open. */
void scope_register(born_tensor *t);

/* Takes t's creation reference away from its scope and gives it to the caller (internal owners
 * such as autograd nodes hold tensors this way). */
void scope_unregister(born_tensor *t);

/* Lazily initialises the library (src/core/init.c); cheap after the first call. */
void born_ensure_init(void);

#endif
