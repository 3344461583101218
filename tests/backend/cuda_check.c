/* The CUDA test suites' shared generator, skip message and error check (see cuda_check.h). */
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "backend/cuda_check.h"

born_generator *cuda_test_gen;
unsigned long long cuda_test_seed;

bool cuda_gpu_or_skip(const char *test) {
    if (born_device_count(BORN_DEVICE_CUDA) > 0) {
        if (!cuda_test_gen) {
            const char *fixed = getenv("BORN_CUDA_TEST_SEED"); /* repeats a failed run's inputs */
            cuda_test_seed = fixed && *fixed ? strtoull(fixed, NULL, 10)
                                             : (unsigned long long)time(NULL) * 1000003ull + (unsigned long long)getpid();
            cuda_test_gen = born_generator_new(cuda_test_seed);
            printf("  cuda suites: seed %llu\n", cuda_test_seed);
        }
        return true;
    }
    printf("  %s: skipped: no GPU (%s)\n", test, born_cuda_unavailable_reason());
    return false;
}

born_tensor *cuda_to_gpu(born_tensor *t) { return born_to(t, BORN_CUDA(0)); }

born_tensor *cuda_randn(born_dtype dt, int nd, const int64_t *shape) {
    return born_to_dtype(born_randn(cuda_test_gen, BORN_F32, nd, shape), dt);
}

double cuda_rel_error(born_tensor *ref, born_tensor *got, double floor) {
    int64_t n = ref ? born_tensor_numel(ref) : 0;
    double *r = malloc((size_t)(n ? n : 1) * sizeof *r), *g = malloc((size_t)(n ? n : 1) * sizeof *g);
    double err = -1;
    if (ref && got && r && g && born_tensor_numel(got) == n && test_read(ref, r, n) && test_read(got, g, n)) {
        double num = 0, den = 0;
        bool nan = false;
        for (int64_t i = 0; i < n; i++) {
            nan |= g[i] != g[i] && r[i] == r[i];
            num += (g[i] - r[i]) * (g[i] - r[i]);
            den += r[i] * r[i];
        }
        err = nan ? NAN : sqrt(num) / fmax(sqrt(den), floor > 0 ? floor : den > 0 ? 0 : 1);
    }
    free(r);
    free(g);
    return err;
}

void cuda_close_floor(const char *what, const char *file, int line, born_tensor *ref, born_tensor *got,
                      double tol, double floor) {
    const double err = got && born_tensor_device(got).type == BORN_DEVICE_CUDA ? cuda_rel_error(ref, got, floor) : -1;
    if (err < 0) {
        test_fail(file, line, "%s: missing result or not on the GPU: %s", what, born_last_error());
        born_clear_error();
    } else if (!(err <= tol)) {
        test_fail(file, line, "%s [%s, %lld elements]: relative error %.3g (tol %.3g)%s (seed %llu)", what,
                  born_dtype_name(born_tensor_dtype(ref)), (long long)born_tensor_numel(ref), err, tol,
                  err != err ? ", NaN in the result" : "", cuda_test_seed);
    }
}
