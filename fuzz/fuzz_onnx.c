/* libFuzzer harness for ONNX import: the protobuf decoder, the model decoder, initializer
 * conversion and the planner (born_onnx_load_buffer), the input/output descriptions, and, for
 * small models made only of ops whose outputs are no bigger than their inputs, a run on zero-filled
 * inputs of the declared shapes (unknown dimensions taken as 2). A failure must always leave a
 * message; a crash, a leak or a sanitizer report is a bug. Build with `make fuzz`, run with
 * `fuzz/run.sh SECONDS`; the seed corpus holds small models from the ONNX node tests. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"
#include "born/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
    fprintf(stderr, "fuzz_onnx: %s (%s)\n", what, born_last_error());
    abort();
}

/* Ops whose outputs have at most as many elements as their inputs (or a small fixed factor), so a
 * fuzzed model of them cannot ask for unbounded memory or time. */
static const char *const bounded_ops[] = {
    "Abs", "Add", "And", "ArgMax", "ArgMin", "Cast", "Ceil", "Clip", "Concat", "Cos", "Div",
    "Equal", "Erf", "Exp", "Flatten", "Floor", "Gather", "Greater", "Identity", "LeakyRelu",
    "Less", "Log", "LogSoftmax", "MatMul", "Max", "Mean", "Min", "Mul", "Neg", "Not", "Or", "Pow",
    "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum", "Relu", "Reshape", "Shape", "Sigmoid",
    "Sign", "Sin", "Slice", "Softmax", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Transpose",
    "Unsqueeze", "Where", "Xor", NULL};

static bool bounded(const char *op) {
    for (int i = 0; bounded_ops[i]; i++)
        if (!strcmp(op, bounded_ops[i])) return true;
    return false;
}

/* Runs the model on zero inputs when it is small and made of bounded ops only. */
static void try_run(born_onnx_model *m) {
    int nodes = born_onnx_node_count(m);
    if (nodes > 16) return;
    for (int i = 0; i < nodes; i++) {
        const char *op = born_onnx_node_op(m, i);
        if (!op || !bounded(op)) return; /* NULL: nodes inside subgraphs */
    }
    int n = born_onnx_input_count(m);
    if (n > 8) return;
    born_tensor *ins[8];
    const char *names[8];
    born_scope_begin();
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        born_onnx_value_info info;
        if (born_onnx_input_info(m, i, &info) != BORN_OK) fail("input_info refused a valid index");
        int64_t shape[BORN_MAX_DIMS], numel = 1;
        int nd = info.ndim < 0 ? 1 : info.ndim;
        for (int d = 0; d < nd; d++) {
            shape[d] = info.ndim < 0 || info.shape[d] < 0 ? 2 : info.shape[d];
            numel *= shape[d] > 0 ? shape[d] : 1;
            if (numel > 4096) ok = false;
        }
        if (!info.dtype_ok || !ok) {
            ok = false;
            break;
        }
        names[i] = info.name;
        ins[i] = born_zeros(info.dtype, nd, shape);
        if (!ins[i]) fail("born_zeros failed on a small shape");
    }
    if (ok) {
        born_tensor_list *outs = born_tensor_list_new();
        if (!outs) fail("born_tensor_list_new");
        if (born_onnx_run(m, n, names, ins, outs) != BORN_OK && born_last_error()[0] == '\0')
            fail("born_onnx_run failed without a message");
        born_clear_error();
        born_tensor_list_free(outs);
    }
    born_scope_end();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    born_onnx_model *m = born_onnx_load_buffer(data, size, "/nonexistent-born-fuzz");
    if (!m) {
        if (born_last_error()[0] == '\0') fail("load failed without a message");
        born_clear_error();
        return 0;
    }
    born_onnx_value_info info;
    for (int i = 0; i < born_onnx_input_count(m); i++)
        if (born_onnx_input_info(m, i, &info) != BORN_OK) fail("input_info refused a valid index");
    for (int i = 0; i < born_onnx_output_count(m); i++)
        if (born_onnx_output_info(m, i, &info) != BORN_OK) fail("output_info refused a valid index");
    if (born_onnx_input_info(m, -1, &info) == BORN_OK) fail("input_info accepted -1");
    born_clear_error();
    (void)born_onnx_ir_version(m);
    (void)born_onnx_producer(m);
    (void)born_onnx_opset(m, "");
    (void)born_onnx_param_count(m);
    try_run(m);
    born_onnx_free(m);
    return 0;
}
