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

bool strided_dense(const born_strided *s, bool skip_broadcast, int64_t *count) {
    int order[BORN_MAX_DIMS], n = 0;
    for (int d = 0; d < s->ndim; d++)
        if (s->shape[d] != 1 && !(skip_broadcast && s->strides[d] == 0)) order[n++] = d;
    for (int i = 1; i < n; i++) /* by stride, descending */
        for (int j = i; j > 0 && s->strides[order[j - 1]] < s->strides[order[j]]; j--) {
            int x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    int64_t expect = 1;
    for (int i = n - 1; i >= 0; i--) {
        if (s->strides[order[i]] != expect) return false;
        expect *= s->shape[order[i]];
    }
    *count = expect;
    return true;
}
