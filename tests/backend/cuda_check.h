/* Shared by the CUDA test suites (test_cuda_*.c): one random generator per run, seeded from the
 * clock and the process id and printed once so a failure can be replayed (BORN_CUDA_TEST_SEED=n
 * seeds a run with n), the skip message when
 * there is no GPU, and the relative-error check of a GPU result against the CPU's. */
#ifndef BORN_TESTS_CUDA_CHECK_H
#define BORN_TESTS_CUDA_CHECK_H

#include "test.h"

/* The suites' generator and its seed (set by the first cuda_gpu_or_skip that finds a GPU). */
extern born_generator *cuda_test_gen;
extern unsigned long long cuda_test_seed;

/* True when a CUDA device is present (seeding cuda_test_gen the first time); otherwise prints
 * "<test>: skipped: no GPU (why)" and returns false. */
bool cuda_gpu_or_skip(const char *test);

/* t moved to the first GPU (NULL stays NULL). */
born_tensor *cuda_to_gpu(born_tensor *t);

/* Standard normal values of the given shape drawn in f32 from cuda_test_gen, then cast to dt. */
born_tensor *cuda_randn(born_dtype dt, int nd, const int64_t *shape);

/* ||got - ref|| / max(||ref||, floor) (floor 0: ||ref||, or 1 when ref is 0), read on the host;
 * NaN where got has a NaN that ref has not, -1 when either is missing or their sizes differ. */
double cuda_rel_error(born_tensor *ref, born_tensor *got, double floor);

/* Fails the current test unless got is on the GPU, has ref's element count, has no NaN where ref
 * has none, and ||got - ref|| / max(||ref||, floor) <= tol (floor 0: ||ref||, or 1 when ref is 0).
 * A reduction's result is best measured against the size of what it summed (floor), since
 * cancellation can make ||ref|| tiny. line is the caller's __LINE__, file its __FILE__. */
void cuda_close_floor(const char *what, const char *file, int line, born_tensor *ref, born_tensor *got,
                      double tol, double floor);

#endif
