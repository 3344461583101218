/* The small problem that tests/optim/ optimizes (and torch_ref.py optimizes in PyTorch): three
 * parameters w [2, 2], b [2] and z [3] under a weighted quadratic loss; z only enters the loss from
 * step REF_Z_FROM on, so its optimizer state starts late. */
#ifndef BORN_TESTS_OPTIM_PROBLEM_H
#define BORN_TESTS_OPTIM_PROBLEM_H

#include "test.h"

typedef struct problem {
    born_tensor *p[3]; /* w, b, z: leaves that require grad, owned by the current scope */
} problem;

/* Creates the parameters at their starting values in dtype. */
void problem_init(problem *pr, born_dtype dtype);

/* Sets the parameters' .grad to the loss gradient at step (1-based), through born_backward. */
void problem_backward(problem *pr, int step);

/* Reads the 9 parameter values (w row-major, b, z) as doubles. */
void problem_read(problem *pr, double *out);

/* The optimizer of a torch_ref.h case over pr's parameters. */
struct ref_case;
born_optimizer *problem_optimizer(problem *pr, const struct ref_case *c);

/* Runs steps steps of zero_grad / backward / step (steps first..first+steps-1). */
void problem_run(problem *pr, born_optimizer *opt, int first, int steps);

/* True when every element of a and b has the same bits (same dtype and shape). */
bool tensors_identical(born_tensor *a, born_tensor *b);

#endif
