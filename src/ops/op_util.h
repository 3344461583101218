/* Internal: what every op does before and after its kernel: argument checks with messages that
 * name the op, shapes and dtypes; PyTorch's type promotion; NumPy broadcasting; result
 * allocation; and casts that autograd does not record.
 *
 * Every helper here that returns a tensor returns a new handle, registered with the current
 * scope like any op result, so born_free is always the right way to drop a temporary. */
#ifndef BORN_OPS_OP_UTIL_H
#define BORN_OPS_OP_UTIL_H

#include "backend/backend.h"
#include "born/autograd.h"
#include "born/ops.h"
#include "core/error.h"

/* False when any of the n inputs is NULL. The first error stays: a NULL input that comes from a
 * failed op adds no message; a NULL passed by the caller records "op: input i is NULL". Also
 * false, with a message saying what quantized tensors can do, for a block-quantized input. */
bool ops_check_inputs(const char *op, int n, born_tensor *const *ts);

/* As ops_check_inputs, but accepting quantized inputs: for the ops that handle them. */
bool ops_check_inputs_any(const char *op, int n, born_tensor *const *ts);

/* A quantized tensor seen as u8 bytes: the last dimension becomes its rows' bytes, the other
 * strides are converted to bytes (for other dtypes: t relabelled as u8, for byte-sized dtypes). */
born_strided ops_bytes_view(const born_tensor *t);

/* False (with an error naming both devices) unless the non-NULL tensors share one device;
 * stores it in *device. */
bool ops_check_device(const char *op, int n, born_tensor *const *ts, born_device *device);

/* The backend for t's device, or NULL with an error. */
const born_backend *ops_backend(born_tensor *t);

/* PyTorch's result type for the n tensors (0-dim tensors weigh less than others, as in
 * torch.result_type). */
born_dtype ops_result_type(int n, born_tensor *const *ts);

/* The result type of a tensor of dtype t with a Python float scalar. */
born_dtype ops_result_type_float_scalar(born_dtype t);

/* The broadcast shape of the n tensors, or an error naming op and the shapes. */
born_status ops_broadcast_shapes(const char *op, int n, born_tensor *const *ts, int *ndim,
                                 int64_t *shape);

/* "[2, 3] f32" for messages; returns buf. */
const char *ops_describe(const born_tensor *t, char *buf, size_t size);

/* A contiguous copy of t in dtype on t's device (not recorded by autograd); NULL on error.
 * Free it with born_free. */
born_tensor *ops_cast(born_tensor *t, born_dtype dtype);

/* A new handle on t's data with no autograd history (free with born_free). */
born_tensor *ops_alias(born_tensor *t);

/* An alias of t when it already has dtype, else ops_cast (free with born_free). */
born_tensor *ops_as_dtype(born_tensor *t, born_dtype dtype);

/* As ops_as_dtype, but where t is a dense view in another order than its shape's (a transpose
 * of a contiguous tensor) the copy keeps t's order in memory (t's strides), so converting it is
 * one pass in memory order rather than a transposition; for kernels that take any strides. */
born_tensor *ops_as_dtype_in_place_order(born_tensor *t, born_dtype dtype);

/* An alias of t when contiguous, else a contiguous copy; not recorded by autograd. */
born_tensor *ops_as_contiguous(born_tensor *t);

/* t as a matrix [rows, last dim] with rows the product of its leading dims, through born_reshape
 * (recorded by autograd); unlike reshape(-1, last) it also takes a last dim of 0. */
born_tensor *ops_reshape_rows(born_tensor *t);


/* True when out and in share storage but not the same layout, so an elementwise kernel writing
 * out could overwrite elements of in before reading them. */
bool ops_partial_overlap(const born_tensor *out, const born_tensor *in);

/* A new uninitialised tensor on device. */
born_tensor *ops_empty(born_dtype dtype, int ndim, const int64_t *shape, born_device device);

/* A 0-dim tensor holding value on device. */
born_tensor *ops_scalar_on(born_dtype dtype, double value, born_device device);

/* Fails when an in-place or _out op would write into tensors autograd is tracking. */
bool ops_check_inplace(const char *op, int n, born_tensor *const *ts);

/* Normalises and validates a list of reduction dims into a bit mask (ndims = 0: all). */
bool ops_dims_mask(const char *op, const born_tensor *t, int ndims, const int64_t *dims,
                   uint32_t *mask);

/* The shape after reducing the masked dims (kept as 1 with keepdim, else removed). */
int ops_reduced_shape(const born_tensor *t, uint32_t mask, bool keepdim, int64_t *shape);

#endif
