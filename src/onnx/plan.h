/* Internal: the plan of a graph (slots, ordered steps), shared by the executor (graph.c) and the
 * load-time passes (passes.c). */
#ifndef BORN_ONNX_PLAN_H
#define BORN_ONNX_PLAN_H

#include <stdatomic.h>

#include "onnx/conv_prep.h"
#include "onnx/onnx_internal.h"
#include "onnx/rnn_prep.h"

enum { SLOT_NODE = 0, SLOT_INPUT, SLOT_INIT, SLOT_OUTER };
enum { EP_MUL = 1, EP_ADD, EP_HSWISH };
enum { MEMO_NONE = 0, MEMO_SHAPE, MEMO_PURE };

typedef struct plan_step {
    const onnx_node *node;
    onnx_op_fn fn;
    int *in;       /* slots of the node's inputs (-1 for omitted ones) */
    int *out;      /* slots of its outputs (-1 for omitted ones) */
    int *implicit; /* slots read by its subgraphs */
    int nimplicit;
    onnx_plan **subplans; /* one per graph attribute, in attribute order */
    int nsubplans;
    /* set by the passes (src/onnx/passes.c) */
    born_tensor *over[3]; /* owned: replace inputs 0..2 (folded weights, bias) when not NULL */
    int act;              /* 0 none, 1 clamp the outputs in place to [lo, hi] after fn */
    double lo, hi;
    /* then, in order, each of the nep epilogue operations on the output (nodes with f32 scalar
     * constants folded in): out * v[0], out + v[0], or HardSwish written as nodes,
     * out * clamp(out + v[0], v[1], v[2]) / v[3]; each rounded to f32 as the node would */
    int nep;
    struct {
        int kind; /* EP_MUL, EP_ADD, EP_HSWISH */
        float v[4];
    } ep[8];
    onnx_conv_prep *prep; /* owned: a Conv's packed weights and the epilogue it applies itself */
    onnx_lstm_prep *lstm; /* owned: an LSTM's packed constant weights (src/onnx/rnn_prep.c) */
    /* a Resize whose output only an Add read (passes.c, fuse_resize_add): the Add's other input's
     * slot + 1 (0: none), handed to the op as onnx_op_ctx.addend; addend_first: it was the Add's
     * first input */
    int addend1;
    bool addend_first;
    /* shape work remembered between runs (graph.c): MEMO_SHAPE for Shape/Size (the outputs of
     * the last run are reused while the input's shape is the same), MEMO_PURE for a small pure op
     * whose inputs are all constants or remembered outputs (reused while the inputs are the very
     * same tensors); memo_in/memo_out hold references */
    int memo;
    int memo_rank; /* -1 until a run stored something */
    int64_t memo_dims[BORN_MAX_DIMS];
    born_tensor *memo_in[4], *memo_out[4];
    /* BORN_ONNX_PROFILE (src/onnx/profile.c): wall seconds and runs of this step, and the shape
     * of its first output at the last run */
    double prof_s;
    int64_t prof_n;
    int prof_rank;
    int64_t prof_dims[BORN_MAX_DIMS];
} plan_step;

struct onnx_plan {
    const onnx_graph *g;
    const onnx_plan *outer;
    int64_t opset;
    int nslots, cap;
    const char **name;
    int *kind;
    born_tensor **consts; /* initializers (owned references) */
    int *producer;        /* step index... before ordering: node index */
    int *last_use;        /* step index of the last read; INT_MAX for graph outputs */
    int *hash;            /* open addressing over slot indices, -1 empty */
    int hash_cap;
    int *input_slot, *output_slot;
    plan_step *steps;
    int nsteps;
    const char **outer_names; /* names this plan takes from enclosing graphs */
    int nouter;
    bool optimize; /* constant folding and fusion at load */
    /* the run's value table, kept between runs (all NULL when idle); a run that finds it taken
     * (the same model run from two threads at once) allocates its own */
    born_tensor **vals;
    atomic_int vals_busy;
};

/* Folds the steps whose inputs are all constant into constants, then fuses Conv+BatchNormalization,
 * MatMul+Add (into one linear step) and Conv+Relu/Clip; compacts the steps. Called by the planner
 * before it computes last uses. Failing folds are left to run time. */
born_status onnx_plan_optimize(onnx_plan *p);

/* Infers shapes from the declared inputs and constants through the common ops (src/onnx/
 * shape_infer.c); shapes that cannot fit are an error naming the node. */
born_status onnx_plan_infer_shapes(onnx_plan *p);

/* Applies a step's epilogue (plan_step.ep) to *y: in place, in one pass, when in_place and *y is
 * a contiguous f32 tensor, else as tensor ops replacing *y. Returns the failing op's status. */
born_status onnx_plan_epilogue(const plan_step *ps, born_tensor **y, bool in_place);

/* Whether BORN_ONNX_PROFILE is set (read once): the executor then times every step (wall time;
 * BORN_ONNX_PROFILE=cpu: the calling thread's CPU time). */
bool onnx_prof_on(void);

/* The profile's clock in seconds. */
double onnx_prof_now(void);

/* Prints the plan's per-step profile to stderr (step, op, name, output shape, us per run, share)
 * and the totals by op type, if any step was timed. Called when the plan is freed. */
void onnx_prof_report(const onnx_plan *p);

/* The fused Mul+Add step of a squeeze-and-excitation residual (src/onnx/ops_fused.c):
 * in[0] + in[0] * in[1], the product rounded first, as the two nodes give it. */
born_status onnx_op_fused_scale_add(onnx_op_ctx *c);

/* The fused Resize+Add step (src/onnx/ops_misc.c): Resize of the node's inputs, then Add with
 * c->addend in the Add's operand order; nearest f32 resizes write the sum in one pass. */
born_status onnx_op_fused_resize_add(onnx_op_ctx *c);

/* The fused MatMul+Add step: in[0] @ in[1]^T + in[2] (in[1] the transposed weight). */
born_status onnx_op_fused_linear(onnx_op_ctx *c);

#endif
