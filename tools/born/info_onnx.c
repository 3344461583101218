/* born info's ONNX listing: IR version, producer, opset, inputs and outputs with dtypes and
 * shapes (symbolic dims by name), an op histogram and the parameter count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"
#include "tools/born/commands.h"

static void print_value(const born_onnx_value_info *v) {
    printf("  %-32s %-8s ", v->name, v->dtype_ok ? born_dtype_name(v->dtype) : "(unsupported)");
    if (v->ndim < 0) {
        printf("shape unknown\n");
        return;
    }
    printf("[");
    for (int d = 0; d < v->ndim && d < BORN_MAX_DIMS; d++) {
        if (d) printf(", ");
        if (v->dim_names[d]) printf("%s", v->dim_names[d]);
        else if (v->shape[d] < 0) printf("?");
        else printf("%lld", (long long)v->shape[d]);
    }
    printf("]\n");
}

static int cmp_count(const void *a, const void *b) {
    const int *x = a, *y = b;
    return y[1] - x[1];
}

int info_onnx(const char *path) {
    born_onnx_model *m = born_onnx_load(path);
    if (!m) {
        fprintf(stderr, "born info: %s\n", born_last_error());
        return 1;
    }
    printf("%s: ONNX model, IR version %lld, opset %lld, producer '%s'\n", path,
           (long long)born_onnx_ir_version(m), (long long)born_onnx_opset(m, ""),
           born_onnx_producer(m));
    printf("inputs:\n");
    born_onnx_value_info v;
    for (int i = 0; i < born_onnx_input_count(m); i++)
        if (born_onnx_input_info(m, i, &v) == BORN_OK) print_value(&v);
    printf("outputs:\n");
    for (int i = 0; i < born_onnx_output_count(m); i++)
        if (born_onnx_output_info(m, i, &v) == BORN_OK) print_value(&v);
    /* op histogram of the main graph: (first node index, count) pairs */
    int n = 0;
    while (born_onnx_node_op(m, n)) n++;
    int *hist = calloc((size_t)n * 2 + 2, sizeof(int));
    int kinds = 0;
    for (int i = 0; i < n && hist; i++) {
        int k = 0;
        while (k < kinds && strcmp(born_onnx_node_op(m, hist[2 * k]), born_onnx_node_op(m, i))) k++;
        if (k == kinds) hist[2 * kinds++] = i;
        hist[2 * k + 1]++;
    }
    if (hist) qsort(hist, (size_t)kinds, 2 * sizeof(int), cmp_count);
    printf("nodes: %d (%d with subgraphs), parameters: %lld\n", n, born_onnx_node_count(m),
           (long long)born_onnx_param_count(m));
    for (int k = 0; k < kinds; k++)
        printf("  %-24s %d\n", born_onnx_node_op(m, hist[2 * k]), hist[2 * k + 1]);
    free(hist);
    born_onnx_free(m);
    return 0;
}
