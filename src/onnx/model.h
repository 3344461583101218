/* Internal: the ONNX protobuf messages (ModelProto, GraphProto, NodeProto, AttributeProto,
 * TensorProto, ValueInfoProto) decoded into plain structs. Everything is allocated from one arena
 * owned by the onnx_model; byte payloads (raw_data, string attributes) point into the input
 * buffer, which must outlive the model. */
#ifndef BORN_ONNX_MODEL_H
#define BORN_ONNX_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "born/core.h"

/* ONNX TensorProto.DataType values. */
enum {
    ONNX_UNDEFINED = 0, ONNX_FLOAT = 1, ONNX_UINT8 = 2, ONNX_INT8 = 3, ONNX_UINT16 = 4,
    ONNX_INT16 = 5, ONNX_INT32 = 6, ONNX_INT64 = 7, ONNX_STRING = 8, ONNX_BOOL = 9,
    ONNX_FLOAT16 = 10, ONNX_DOUBLE = 11, ONNX_UINT32 = 12, ONNX_UINT64 = 13, ONNX_COMPLEX64 = 14,
    ONNX_COMPLEX128 = 15, ONNX_BFLOAT16 = 16, ONNX_FLOAT8E4M3FN = 17, ONNX_FLOAT8E4M3FNUZ = 18,
    ONNX_FLOAT8E5M2 = 19, ONNX_FLOAT8E5M2FNUZ = 20
};

/* AttributeProto.AttributeType values. */
enum {
    ONNX_ATTR_FLOAT = 1, ONNX_ATTR_INT = 2, ONNX_ATTR_STRING = 3, ONNX_ATTR_TENSOR = 4,
    ONNX_ATTR_GRAPH = 5, ONNX_ATTR_FLOATS = 6, ONNX_ATTR_INTS = 7, ONNX_ATTR_STRINGS = 8,
    ONNX_ATTR_TENSORS = 9, ONNX_ATTR_GRAPHS = 10, ONNX_ATTR_SPARSE_TENSOR = 11,
    ONNX_ATTR_SPARSE_TENSORS = 12, ONNX_ATTR_TYPE_PROTO = 13, ONNX_ATTR_TYPE_PROTOS = 14
};

#define ONNX_MAX_DEPTH 32

typedef struct onnx_bytes {
    const uint8_t *data;
    size_t len;
} onnx_bytes;

typedef struct onnx_tensor {
    const char *name;
    int32_t data_type;
    int ndim;
    int64_t *dims;
    bool has_raw;
    onnx_bytes raw;
    /* The typed field that held the values (4 float_data, 5 int32_data, 7 int64_data, 10
     * double_data, 11 uint64_data; 0 for none) and its elements as raw 64-bit words. */
    int typed_field;
    uint64_t *vals;
    size_t nvals;
    onnx_bytes *strings; /* string_data */
    size_t nstrings;
    bool external; /* data_location == EXTERNAL */
    const char *ext_location;
    int64_t ext_offset, ext_length; /* -1 when absent */
} onnx_tensor;

struct onnx_graph;

typedef struct onnx_attr {
    const char *name;
    int type;
    float f;
    int64_t i;
    onnx_bytes s;
    onnx_tensor *t;
    struct onnx_graph *g;
    float *floats;
    size_t nfloats;
    int64_t *ints;
    size_t nints;
    onnx_bytes *strings;
    size_t nstrings;
    onnx_tensor *tensors;
    size_t ntensors;
    struct onnx_graph **graphs;
    size_t ngraphs;
} onnx_attr;

typedef struct onnx_node {
    const char *name, *op_type, *domain;
    const char **inputs; /* "" for an omitted optional input */
    int ninputs;
    const char **outputs;
    int noutputs;
    onnx_attr *attrs;
    int nattrs;
} onnx_node;

/* A ValueInfoProto of tensor type: elem type and shape (dims -1 when unknown or symbolic). */
typedef struct onnx_value_info {
    const char *name;
    int kind;          /* TypeProto field: 1 tensor, 4 sequence, 5 map, 8 sparse, 9 optional; 0 none */
    int32_t elem_type; /* for tensors */
    bool has_shape;
    int ndim;
    int64_t *dims;
    const char **dim_params; /* NULL entries for concrete or unnamed dims */
} onnx_value_info;

typedef struct onnx_graph {
    const char *name;
    onnx_node *nodes;
    int nnodes;
    onnx_tensor *inits;
    int ninits;
    onnx_value_info *inputs, *outputs, *value_info;
    int ninputs, noutputs, nvalue_info;
    int nsparse_inits;
} onnx_graph;

typedef struct onnx_opset {
    const char *domain;
    int64_t version;
} onnx_opset;

typedef struct onnx_arena onnx_arena;

typedef struct onnx_model {
    onnx_arena *arena;
    int64_t ir_version;
    const char *producer_name, *producer_version;
    onnx_opset *opsets;
    int nopsets;
    onnx_graph *graph;
    int nfunctions; /* model-local functions (not supported by the executor) */
} onnx_model;

/* Decodes a ModelProto from data[0..len) (which must outlive the model). Returns an owned model
 * (free with onnx_model_free) or NULL with BORN_ERR_FORMAT naming what is malformed. */
onnx_model *onnx_model_decode(const void *data, size_t len);
void onnx_model_free(onnx_model *m);

/* Decodes one TensorProto (as in the conformance suite's input_*.pb files) into *t, allocating
 * from a new arena returned in *arena (free with onnx_arena_free). */
born_status onnx_tensor_decode(const void *data, size_t len, onnx_tensor *t, onnx_arena **arena);
void onnx_arena_free(onnx_arena *a);

/* The ONNX type's name ("float", "int64"), or "unknown". */
const char *onnx_type_name(int32_t data_type);

/* The attribute named name, or NULL. */
const onnx_attr *onnx_node_attr(const onnx_node *n, const char *name);

#endif
