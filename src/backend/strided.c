/* Building the kernels' view of a tensor. */
#include <string.h>

#include "backend/backend.h"

born_strided strided_of(const born_tensor *t) {
    born_strided s;
    memset(&s, 0, sizeof s);
    s.data = tensor_data(t);
    s.dtype = t->dtype;
    s.ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        s.shape[i] = t->shape[i];
        s.strides[i] = t->strides[i];
    }
    return s;
}

born_strided strided_broadcast(const born_tensor *t, int ndim, const int64_t *shape) {
    born_strided s;
    memset(&s, 0, sizeof s);
    s.data = tensor_data(t);
    s.dtype = t->dtype;
    s.ndim = ndim;
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        s.shape[i] = shape[i];
        int j = i - lead;
        s.strides[i] = (j < 0 || t->shape[j] == 1) ? 0 : t->strides[j];
    }
    return s;
}
