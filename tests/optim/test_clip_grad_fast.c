/* born_clip_grad_norm's threaded path for contiguous f32 gradients on the CPU (several chunks of
 * 32768 elements per gradient): the norm against a long double sum of squares, the scale against
 * g * (float)coef, bits independent of the thread count, and a parameter listed twice (scaled twice,
 * as by the one-at-a-time path). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

enum { NP = 4 };
static const int64_t SIZES[NP] = {100003, 33, 70000, 65536};

/* Parameters with f32 gradients drawn from a fixed generator (scaled by `scale`). */
static void make_params(born_tensor **ps, float **vals, double scale) {
    born_generator *gen = born_generator_new(7);
    for (int i = 0; i < NP; i++) {
        ps[i] = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(SIZES[i])), true);
        born_tensor *g = born_randn(gen, BORN_F32, BORN_DIMS(SIZES[i]));
        CHECK_OK(born_mul_scalar_(g, scale));
        CHECK_OK(born_set_grad(ps[i], g));
        vals[i] = malloc(sizeof(float) * (size_t)SIZES[i]);
        memcpy(vals[i], born_data_ptr(born_grad(ps[i])), sizeof(float) * (size_t)SIZES[i]);
    }
    born_generator_free(gen);
}

TEST(clip_grad_norm_f32_threaded_path) {
    int threads = born_get_num_threads();
    double totals[2];
    float *first[NP];
    for (int run = 0; run < 2; run++) {
        born_set_num_threads(run == 0 ? 1 : 3);
        born_tensor *ps[NP];
        float *vals[NP];
        make_params(ps, vals, 0.01);
        long double ss = 0;
        for (int i = 0; i < NP; i++)
            for (int64_t k = 0; k < SIZES[i]; k++) ss += (long double)vals[i][k] * vals[i][k];
        double want = sqrt((double)ss), max_norm = want / 3;
        CHECK_OK(born_clip_grad_norm(ps, NP, max_norm, 2.0, &totals[run]));
        CHECK_NEAR(totals[run], want, 1e-13 * want);
        float coef = (float)(max_norm / (totals[run] + 1e-6));
        for (int i = 0; i < NP; i++) {
            const float *g = born_data_ptr(born_grad(ps[i]));
            int bad = 0;
            for (int64_t k = 0; k < SIZES[i]; k++) bad += g[k] != vals[i][k] * coef;
            CHECK_MSG(bad == 0, "gradient %d: %d elements differ from g * coef", i, bad);
            if (run == 0) {
                first[i] = malloc(sizeof(float) * (size_t)SIZES[i]);
                memcpy(first[i], g, sizeof(float) * (size_t)SIZES[i]);
            } else {
                CHECK(memcmp(first[i], g, sizeof(float) * (size_t)SIZES[i]) == 0);
                free(first[i]);
            }
            free(vals[i]);
        }
    }
    CHECK(totals[0] == totals[1]); /* the same bits at 1 and 3 threads */
    born_set_num_threads(threads);
}

TEST(clip_grad_norm_f32_below_max_and_repeated) {
    born_tensor *ps[NP];
    float *vals[NP];
    make_params(ps, vals, 1e-4);
    double total = 0;
    CHECK_OK(born_clip_grad_norm(ps, NP, 1e6, 2.0, &total)); /* coef >= 1: untouched */
    for (int i = 0; i < NP; i++)
        CHECK(memcmp(born_data_ptr(born_grad(ps[i])), vals[i], sizeof(float) * (size_t)SIZES[i]) == 0);
    /* the first parameter twice: its gradient counts twice and is scaled twice */
    born_tensor *twice[2] = {ps[0], ps[0]};
    double one = 0;
    born_tensor *single[1] = {ps[0]};
    CHECK_OK(born_clip_grad_norm(single, 1, 1e6, 2.0, &one));
    CHECK_OK(born_clip_grad_norm(twice, 2, one, 2.0, &total));
    CHECK_NEAR(total, sqrt(2.0) * one, 1e-12 * one);
    float coef = (float)(one / (total + 1e-6));
    const float *g = born_data_ptr(born_grad(ps[0]));
    int bad = 0;
    for (int64_t k = 0; k < SIZES[0]; k++) bad += g[k] != (vals[0][k] * coef) * coef;
    CHECK_MSG(bad == 0, "%d elements are not g * coef * coef", bad);
    for (int i = 0; i < NP; i++) free(vals[i]);
}
