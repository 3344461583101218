/* Autocast regions: a per-thread stack of dtypes, and the casts the ops inside them make. */
#include "autograd/autocast.h"

#include "core/error.h"
#include "core/tensor_impl.h"

enum { AUTOCAST_MAX_DEPTH = 16 };

static _Thread_local int depth;
static _Thread_local born_dtype stack[AUTOCAST_MAX_DEPTH];

born_status born_autocast_begin(born_dtype dtype) {
    if (dtype != BORN_BF16 && dtype != BORN_F16)
        return born_error(BORN_ERR_ARGUMENT, "born_autocast_begin: dtype %s is not bf16 or f16",
                          born_dtype_name(dtype));
    if (depth >= AUTOCAST_MAX_DEPTH)
        return born_error(BORN_ERR_ARGUMENT, "born_autocast_begin: regions nest at most %d deep",
                          AUTOCAST_MAX_DEPTH);
    stack[depth++] = dtype;
    return BORN_OK;
}

void born_autocast_end(void) {
    if (depth > 0) depth--;
}

born_dtype born_autocast_dtype(void) { return depth > 0 ? stack[depth - 1] : BORN_F32; }

static bool eligible(const born_tensor *t, born_dtype to) {
    return t && born_dtype_is_floating(t->dtype) && t->dtype != BORN_F64 && t->dtype != to;
}

bool autocast_args(int n, born_tensor *const *in, born_tensor **out, bool *failed) {
    *failed = false;
    bool any = false;
    born_dtype to = born_autocast_dtype();
    for (int i = 0; i < n; i++) {
        out[i] = in[i];
        if (depth == 0 || !eligible(in[i], to)) continue;
        any = true;
        out[i] = born_to_dtype(in[i], to);
        if (!out[i]) *failed = true;
    }
    return any;
}

void autocast_release(int n, born_tensor *const *in, born_tensor **out) {
    for (int i = 0; i < n; i++)
        if (out[i] && out[i] != in[i]) born_free(out[i]);
}

int autocast_suspend(void) {
    int d = depth;
    depth = 0;
    return d;
}

void autocast_resume(int saved_depth) { depth = saved_depth; }
