/* Internal: the ONNX executor's structures (plans of graphs, run environments), the operator
 * interface, and helpers shared by the operator files (ops_*.c). */
#ifndef BORN_ONNX_INTERNAL_H
#define BORN_ONNX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "born/born.h"
#include "born/onnx.h"
#include "onnx/model.h"

static inline bool io_le(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* True when Born can hold the ONNX element type, with the dtype it uses. */
bool onnx_dtype_map(int32_t onnx_type, born_dtype *out);

/* Converts a TensorProto to a new tensor (a reference owned as born_empty's is); external data is
 * looked up under base_dir. Errors name the tensor. */
born_tensor *onnx_tensor_to_born(const onnx_tensor *t, const char *base_dir);

typedef struct onnx_plan onnx_plan;
typedef struct onnx_env onnx_env;

/* What an operator sees: its node, the opset in force, its inputs (NULL for omitted optional
 * ones) and room for its outputs. Outputs it makes belong to the current scope (the executor keeps
 * what it needs). */
typedef struct onnx_op_ctx {
    const onnx_node *node;
    int64_t opset;
    born_tensor **in;
    int nin;
    born_tensor **out;
    int nout;
    onnx_env *env;  /* for subgraph-running ops */
    const void *subplans; /* onnx_plan *const * per graph attribute, in attribute order */
    born_tensor *addend;  /* fused steps only (plan.h, addend1): the Add's other operand */
    bool addend_first;    /* it is the Add's first operand */
    bool act_done;        /* set by an op that applied its step's fused clamp (plan.h, act) itself */
} onnx_op_ctx;

typedef born_status (*onnx_op_fn)(onnx_op_ctx *c);

/* The operator for op_type in the default domain, or NULL. */
onnx_op_fn onnx_op_find(const char *op_type);
/* The operator for op_type in domain ("" and "ai.onnx" are the default domain; the
 * ai.onnx.preview.training optimizers are the only others), or NULL. */
onnx_op_fn onnx_op_find_domain(const char *domain, const char *op_type);

/* Builds the plan of a graph: converts initializers, orders nodes topologically (a cycle is an
 * error naming a node on it), resolves every value to a slot and finds each value's last use.
 * outer names the enclosing plan for subgraphs (NULL for the main graph). optimize runs the
 * load-time passes (constant folding, fusion; src/onnx/passes.c). */
onnx_plan *onnx_plan_new(const onnx_graph *g, const onnx_plan *outer, int64_t opset,
                         const char *base_dir, bool optimize);
void onnx_plan_free(onnx_plan *p);

/* Runs a plan. inputs[i] feeds the plan's i-th graph input (all of g->inputs in order, including
 * those with initializers, NULL meaning "use the initializer"); outputs[i] receives a new
 * caller-owned reference to graph output i. parent is the enclosing run for subgraphs. */
born_status onnx_plan_run(onnx_plan *p, onnx_env *parent, born_tensor *const *inputs,
                          born_tensor **outputs);

/* The subgraph plan of a node's graph attribute named name, or NULL. */
onnx_plan *onnx_ctx_subplan(onnx_op_ctx *c, const char *name);
int onnx_plan_num_outputs(const onnx_plan *p);
int onnx_plan_num_inputs(const onnx_plan *p);

/* ------------------------------------------------------------------------------------------ */
/* Helpers for operators                                                                       */

/* Records an error naming the node (op type and name) and returns status. */
born_status onnx_fail(const onnx_op_ctx *c, born_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The last error, relabelled as failing in this node (for a failing born op). */
born_status onnx_op_failed(const onnx_op_ctx *c);

int64_t onnx_attr_int(const onnx_op_ctx *c, const char *name, int64_t def);
float onnx_attr_float(const onnx_op_ctx *c, const char *name, float def);
/* The string attribute, copied into buf (NUL-terminated), or def. */
const char *onnx_attr_str(const onnx_op_ctx *c, const char *name, const char *def, char *buf,
                          size_t size);
/* The ints attribute (borrowed), with *n its length; NULL (n 0) when absent. */
const int64_t *onnx_attr_ints(const onnx_op_ctx *c, const char *name, int *n);
const float *onnx_attr_floats(const onnx_op_ctx *c, const char *name, int *n);
bool onnx_has_attr(const onnx_op_ctx *c, const char *name);

/* Reads a 0-D or 1-D integer tensor into out (at most max values); returns the count or -1. */
int onnx_read_ints(const onnx_op_ctx *c, born_tensor *t, int64_t *out, int max, const char *what);
/* Reads a one-element tensor as double. */
born_status onnx_read_scalar(const onnx_op_ctx *c, born_tensor *t, double *out, const char *what);

/* Requires input i to be present. */
born_status onnx_need(const onnx_op_ctx *c, int i);

/* A normalized axis in [0, rank) or -1 with an error. */
int onnx_axis(const onnx_op_ctx *c, int64_t axis, int rank);

/* The tensor as a contiguous tensor of dtype (new reference in the scope). */
born_tensor *onnx_as(born_tensor *t, born_dtype dt);

#define ONNX_TRY(x)                                                                                \
    do {                                                                                           \
        born_status st_ = (x);                                                                     \
        if (st_) return st_;                                                                       \
    } while (0)
#define ONNX_OUT(i, expr)                                                                          \
    do {                                                                                           \
        born_tensor *r_ = (expr);                                                                  \
        if (!r_) return onnx_op_failed(c);                                                         \
        c->out[i] = r_;                                                                            \
    } while (0)

/* Applies fn(x, params) to every element of a floating tensor, computing in double and giving
 * the input's dtype back. */
typedef double (*onnx_map_fn)(double x, const double *params);
born_tensor *onnx_map_float(const onnx_op_ctx *c, born_tensor *x, onnx_map_fn fn, const double *params);

/* a and b broadcast, as contiguous i64 tensors (for integer kernels written here). */
born_status onnx_broadcast_i64(const onnx_op_ctx *c, born_tensor *a, born_tensor *b,
                               born_tensor **ra, born_tensor **rb);
/* a and b broadcast to their common shape (views). */
born_status onnx_broadcast2(const onnx_op_ctx *c, born_tensor *a, born_tensor *b, born_tensor **ra,
                            born_tensor **rb);

/* Operator registration: each ops_*.c file lists its operators in a table. */
typedef struct onnx_op_entry {
    const char *name;
    onnx_op_fn fn;
} onnx_op_entry;

extern const onnx_op_entry onnx_ops_elementwise[];
extern const onnx_op_entry onnx_ops_shape[];
extern const onnx_op_entry onnx_ops_reduce[];
extern const onnx_op_entry onnx_ops_nn[];
extern const onnx_op_entry onnx_ops_index[];
extern const onnx_op_entry onnx_ops_control[];
extern const onnx_op_entry onnx_ops_rnn[];
extern const onnx_op_entry onnx_ops_misc[];
extern const onnx_op_entry onnx_ops_loss[];
extern const onnx_op_entry onnx_ops_linalg[];
extern const onnx_op_entry onnx_ops_quant[];
extern const onnx_op_entry onnx_ops_signal[];
extern const onnx_op_entry onnx_ops_vision[];
extern const onnx_op_entry onnx_ops_unique[];
extern const onnx_op_entry onnx_ops_reverse[];
extern const onnx_op_entry onnx_ops_text[];
extern const onnx_op_entry onnx_ops_spectral[];
extern const onnx_op_entry onnx_ops_qconv[];
extern const onnx_op_entry onnx_ops_roi[];
extern const onnx_op_entry onnx_ops_training[]; /* domain ai.onnx.preview.training */

#endif
