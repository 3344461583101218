/* Internal: helpers the nn files share: a growable string for summaries and messages, Python's
 * spelling of floats and tuples (for module descriptions), and a one-call module allocator. */
#ifndef BORN_NN_INTERNAL_H
#define BORN_NN_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "born/nn.h"
#include "core/error.h"

/* A growable NUL-terminated string; `failed` is set (and the text frozen) if memory runs out. */
typedef struct nn_str {
    char *s;
    size_t len, cap;
    bool failed;
} nn_str;

void nn_str_printf(nn_str *b, const char *fmt, ...) BORN_PRINTF(2, 3);
void nn_str_append(nn_str *b, const char *text);

/* Appends to a fixed buffer (describe callbacks): text goes after what buf already holds. */
void nn_buf_printf(char *buf, size_t size, const char *fmt, ...) BORN_PRINTF(3, 4);

/* Python's repr of a float ("0.1", "1e-05", "1.0", "inf") into out (at least 32 bytes). */
const char *nn_py_float(double v, char *out, size_t size);

/* "True" / "False". */
static inline const char *nn_py_bool(bool v) { return v ? "True" : "False"; }

/* A Python int when both entries are equal ("2"), else a tuple ("(2, 3)"). */
const char *nn_py_pair(const int64_t *v, bool collapse, char *out, size_t size);

/* A Python tuple of n ints ("(10,)", "(4, 5)"). */
const char *nn_py_tuple(int n, const int64_t *v, char *out, size_t size);

/* calloc(size) and born_module_init with vt; NULL with an error. */
born_module *nn_module_alloc(size_t size, const born_module_vtable *vt, const char *fn);

/* Registers a new uninitialised f32 parameter of the given shape on m and returns it (borrowed:
 * the module owns it), or NULL with an error. */
born_tensor *nn_add_parameter(born_module *m, const char *name, int ndim, const int64_t *shape);

/* Registers a new buffer filled with value and returns it (borrowed), or NULL with an error. */
born_tensor *nn_add_buffer(born_module *m, const char *name, born_dtype dtype, int ndim,
                           const int64_t *shape, double value);

/* A differentiable new handle on x (a view of the same shape), for identity modules. */
born_tensor *nn_alias(born_tensor *x);

/* The compositions of public ops that define layer norm and RMS norm over the last ndim dims
 * (weight and bias may be NULL), the reference the fused kernels are tested against. */
born_tensor *nn_layer_norm_composite(born_tensor *x, int ndim, born_tensor *weight,
                                     born_tensor *bias, double eps);
born_tensor *nn_rms_norm_composite(born_tensor *x, int ndim, born_tensor *weight, double eps);

#endif
