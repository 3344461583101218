/* Refcounted, device-tagged blocks of memory. A storage either owns memory allocated by its
 * device's backend or borrows a caller's buffer and calls the caller's release function. */
#include <stdlib.h>

#include "backend/backend.h"
#include "core/error.h"
#include "core/tensor_impl.h"

born_storage *storage_new(born_device device, size_t nbytes) {
    const born_backend *be = backend_for(device);
    if (!be) return NULL;
    born_storage *s = calloc(1, sizeof *s);
    if (!s) return born_error_null(BORN_ERR_MEMORY, "out of memory allocating a storage handle");
    /* a zero-byte tensor still gets a valid, unique pointer */
    s->data = be->alloc(device.index, nbytes ? nbytes : 1);
    if (!s->data) {
        free(s);
        char name[32];
        return born_error_null(BORN_ERR_MEMORY, "out of memory allocating %zu bytes on %s", nbytes,
                               born_device_name(device, name, sizeof name));
    }
    atomic_init(&s->refcount, 1);
    atomic_init(&s->version, 0);
    s->device = device;
    s->nbytes = nbytes;
    return s;
}

born_storage *storage_borrow(born_device device, void *data, size_t nbytes,
                             born_release_fn release, void *ctx) {
    born_storage *s = calloc(1, sizeof *s);
    if (!s) return born_error_null(BORN_ERR_MEMORY, "out of memory allocating a storage handle");
    atomic_init(&s->refcount, 1);
    atomic_init(&s->version, 0);
    s->device = device;
    s->data = data;
    s->nbytes = nbytes;
    s->borrowed = true;
    s->release = release;
    s->release_ctx = ctx;
    return s;
}

void storage_retain(born_storage *s) { atomic_fetch_add_explicit(&s->refcount, 1, memory_order_relaxed); }

void storage_release(born_storage *s) {
    if (!s) return;
    if (atomic_fetch_sub_explicit(&s->refcount, 1, memory_order_acq_rel) != 1) return;
    if (s->borrowed) {
        if (s->release) s->release(s->data, s->release_ctx);
    } else {
        const born_backend *be = backend_for(s->device);
        if (be) be->free(s->device.index, s->data);
    }
    free(s);
}
