/* Dynamic loss scaling's tensor arithmetic (src/optim/amp_tensors.c) on the CPU, where no backend
 * entry exists and every gradient takes the composed ops: the unscale multiplies by 1 / scale and
 * sets the flag on inf and NaN only (whatever it held before), a strided and an f16 gradient
 * included; the update backs off, grows after the interval and refuses a grown scale that is not
 * finite in f32, step for step as torch's _amp_update_scale_. The CUDA kernel is checked against
 * these ops in tests/backend/test_cuda_amp.c. */
#include <math.h>

#include "optim/amp_internal.h"
#include "test.h"

static double value_of(born_tensor *t) {
    double v = NAN;
    return test_read(t, &v, 1) ? v : NAN;
}

static born_tensor *f32_scalar(double v) {
    float f = (float)v;
    return born_from_data(BORN_F32, 0, NULL, &f, sizeof f);
}

TEST(amp_unscale_tensors_composed_on_the_cpu) {
    born_scope_begin();
    float a[6] = {8, -16, 0.5f, 3, 1e-3f, -0.0f};
    double b[4] = {1, 2, 4, 1e300};
    born_tensor *ga = born_from_data(BORN_F32, BORN_DIMS(6), a, sizeof a);
    born_tensor *gb = born_from_data(BORN_F64, BORN_DIMS(2, 2), b, sizeof b);
    born_tensor *gh = born_to_dtype(born_from_data(BORN_F32, BORN_DIMS(6), a, sizeof a), BORN_F16);
    born_tensor *base = born_from_data(BORN_F32, BORN_DIMS(2, 3), a, sizeof a);
    born_tensor *gt = born_transpose(born_clone(base), 0, 1); /* not contiguous */
    born_tensor *empty = born_zeros(BORN_F32, BORN_DIMS(0));
    born_tensor *grads[] = {ga, NULL, gb, gh, gt, empty};
    born_tensor *scale = f32_scalar(8), *found = f32_scalar(1); /* a stale flag is reset */
    CHECK_OK(amp_unscale_tensors(grads, 6, found, scale, true));
    CHECK(value_of(found) == 0);
    double out[6];
    CHECK(test_read(ga, out, 6));
    for (int i = 0; i < 6; i++) CHECK(out[i] == (double)a[i] / 8);
    CHECK(test_read(gh, out, 6));
    for (int i = 0; i < 6; i++)
        CHECK_MSG(fabs(out[i] - (double)a[i] / 8) <= 1e-3 * fabs((double)a[i] / 8), "f16 %d: %g", i,
                  out[i]);
    CHECK(test_read(gb, out, 4));
    for (int i = 0; i < 4; i++) CHECK(out[i] == b[i] / 8);
    born_tensor *expect_t = born_transpose(born_div_scalar(base, 8), 0, 1);
    double want[6];
    CHECK(test_read(gt, out, 6) && test_read(expect_t, want, 6));
    for (int i = 0; i < 6; i++) CHECK(out[i] == want[i]);
    /* inf or NaN anywhere sets the flag; a scale below 1 that overflows f16 too */
    CHECK_OK(born_fill_(born_select(gt, 0, 1), INFINITY));
    CHECK_OK(amp_unscale_tensors(grads, 6, found, scale, false));
    CHECK(value_of(found) == 1);
    CHECK_OK(born_fill_(gt, 1));
    CHECK_OK(born_fill_(gb, NAN));
    CHECK_OK(amp_unscale_tensors(grads, 6, found, scale, true));
    CHECK(value_of(found) == 1);
    CHECK_OK(born_fill_(gb, 1));
    CHECK_OK(born_fill_(gh, 30000));
    born_tensor *small = f32_scalar(0.25);
    CHECK_OK(amp_unscale_tensors(&gh, 1, found, small, true)); /* 120000 is inf in f16 */
    CHECK(value_of(found) == 1);
    CHECK_OK(amp_unscale_tensors(&ga, 1, found, small, true));
    CHECK(value_of(found) == 0);
    born_scope_end();
}

TEST(amp_update_scale_tensors_backs_off_and_grows) {
    born_scope_begin();
    born_tensor *scale = f32_scalar(1024), *found = f32_scalar(0);
    int32_t zero = 0;
    born_tensor *tracker = born_from_data(BORN_I32, 0, NULL, &zero, sizeof zero);
    /* the host's rule, step for step (interval 3, growth 2, backoff 0.25) */
    int flags[] = {0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    double want = 1024;
    int64_t want_tracker = 0;
    for (size_t k = 0; k < sizeof flags / sizeof *flags; k++) {
        CHECK_OK(born_fill_(found, flags[k]));
        CHECK_OK(amp_update_scale_tensors(scale, tracker, found, 2.0, 0.25, 3));
        if (flags[k]) {
            want *= 0.25;
            want_tracker = 0;
        } else if (++want_tracker == 3) {
            want *= 2;
            want_tracker = 0;
        }
        CHECK_MSG(value_of(scale) == want, "step %zu: scale %g, want %g", k, value_of(scale), want);
        CHECK_MSG(value_of(tracker) == (double)want_tracker, "step %zu: tracker %g, want %lld", k,
                  value_of(tracker), (long long)want_tracker);
    }
    CHECK(born_tensor_dtype(tracker) == BORN_I32 && born_tensor_dtype(scale) == BORN_F32);
    /* a grown scale that is inf in f32 is not taken; the tracker restarts all the same */
    CHECK_OK(born_fill_(scale, 0x1p127));
    CHECK_OK(born_fill_(found, 0));
    CHECK_OK(amp_update_scale_tensors(scale, tracker, found, 2.0, 0.5, 1));
    CHECK(value_of(scale) == 0x1p127);
    CHECK(value_of(tracker) == 0);
    born_scope_end();
}
