/* Born ONNX import: load an .onnx model (own protobuf decoder, no dependency), list its inputs
 * and outputs, and run it on the CPU with named tensors.
 *
 * Element types map onto Born's dtypes one to one (float, double, float16, bfloat16, int8..int64,
 * uint8, bool), except that uint16 values are held as i32 and uint32/uint64 values as i64, which
 * keeps every value exact (a uint64 above INT64_MAX is refused). string, complex and float8
 * tensors are refused with an error naming the tensor. */
#ifndef BORN_ONNX_H
#define BORN_ONNX_H

#include "born/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct born_onnx_model born_onnx_model;

/* A graph input or output as the model declares it. Dimensions that are unknown or symbolic are
 * -1 in shape, with their symbol (or NULL) in dim_names. Strings are borrowed from the model. */
typedef struct born_onnx_value_info {
    const char *name;
    int onnx_type;      /* TensorProto.DataType, 0 when the model does not say */
    born_dtype dtype;   /* the dtype Born holds it in (see the top of this header) */
    bool dtype_ok;      /* false when Born cannot hold the type (string, complex, float8) */
    int ndim;           /* -1 when the model gives no shape */
    int64_t shape[BORN_MAX_DIMS];
    const char *dim_names[BORN_MAX_DIMS];
} born_onnx_value_info;

/* Loads the model at path: decodes it, converts its initializers (reading external data files
 * next to it through mmap), and plans execution (topological order, each value's last use).
 * Returns an owned model (free with born_onnx_free) or NULL with an error naming what is wrong. */
BORN_API born_onnx_model *born_onnx_load(const char *path);

/* As born_onnx_load, with flags: BORN_ONNX_NO_OPTIMIZE skips the load-time passes (constant
 * folding; Conv+BatchNormalization, MatMul+Add and Conv+Relu/Clip fusion), to check that they
 * change nothing or to time them. */
#define BORN_ONNX_NO_OPTIMIZE 1u
BORN_API born_onnx_model *born_onnx_load_flags(const char *path, unsigned flags);

/* As born_onnx_load from a buffer (copied); external data is looked up under base_dir (NULL for
 * the current directory). */
BORN_API born_onnx_model *born_onnx_load_buffer(const void *data, size_t len, const char *base_dir);

/* Releases the model. NULL is ignored. */
BORN_API void born_onnx_free(born_onnx_model *model);

/* The graph inputs the caller provides (initializers excluded) and the graph outputs. */
BORN_API int born_onnx_input_count(const born_onnx_model *model);
BORN_API int born_onnx_output_count(const born_onnx_model *model);

/* Describes input or output i into *info; BORN_ERR_ARGUMENT when i is out of range. */
BORN_API born_status born_onnx_input_info(const born_onnx_model *model, int i,
                                          born_onnx_value_info *info);
BORN_API born_status born_onnx_output_info(const born_onnx_model *model, int i,
                                           born_onnx_value_info *info);

/* Runs the model on n named inputs and appends every graph output, named as in the model, to
 * outputs (which owns them). Inputs must match the declared dtypes and known dimensions; a missing
 * input, a shape that does not fit an op, or a failing op is an error naming the node. */
BORN_API born_status born_onnx_run(born_onnx_model *model, int n, const char *const *names,
                                   born_tensor *const *inputs, born_tensor_list *outputs);

/* Model facts for `born info`: IR version, producer, the opset of a domain ("" or "ai.onnx" for
 * the default one; 0 when not imported), the number of nodes (subgraphs included), the op type of
 * node i of the main graph, and the number of parameters (elements of the initializers). */
BORN_API int64_t born_onnx_ir_version(const born_onnx_model *model);
BORN_API const char *born_onnx_producer(const born_onnx_model *model);
BORN_API int64_t born_onnx_opset(const born_onnx_model *model, const char *domain);
BORN_API int born_onnx_node_count(const born_onnx_model *model);
BORN_API const char *born_onnx_node_op(const born_onnx_model *model, int i);
BORN_API int64_t born_onnx_param_count(const born_onnx_model *model);

/* The number of operator steps the main graph runs, after constant folding and fusion (the node
 * count without them). */
BORN_API int born_onnx_step_count(const born_onnx_model *model);

/* Reads a serialized TensorProto (the conformance suite's input_N.pb / output_N.pb files) into a
 * new tensor, with the dtype mapping above; *name, if not NULL, receives a malloc'd copy of the
 * tensor's name (freed by the caller). */
BORN_API born_tensor *born_onnx_read_tensor_pb(const char *path, char **name);

#ifdef __cplusplus
}
#endif
#endif /* BORN_ONNX_H */
