/* The fused layer-norm and RMS-norm kernels against the compositions of ops that define them:
 * values and every gradient, with and without affine parameters, non-contiguous inputs, half
 * precision, and 1 vs 2 threads. */
#include <string.h>

#include "nn/nn_internal.h"
#include "test.h"

static double max_abs_diff(born_tensor *a, born_tensor *b) {
    born_scope_begin();
    double d = a && b ? born_item(born_max(born_abs(born_sub(born_to_dtype(a, BORN_F64), born_to_dtype(b, BORN_F64))), 0, NULL, false)) : 1e300;
    born_scope_end();
    return d;
}

static void compare(bool rms, born_dtype dt, bool affine, bool transposed, double tol) {
    born_generator *g = born_generator_new(7);
    born_tensor *base = born_randn(g, BORN_F32, BORN_DIMS(6, 5, 33));
    born_tensor *x = born_requires_grad(born_to_dtype(transposed ? born_contiguous(born_transpose(base, 0, 1)) : base, dt), true);
    born_tensor *xin = transposed ? born_transpose(x, 0, 1) : x; /* a non-contiguous view */
    born_tensor *w = affine ? born_requires_grad(born_to_dtype(born_randn(g, BORN_F32, BORN_DIMS(33)), dt), true) : NULL;
    born_tensor *b = affine && !rms ? born_requires_grad(born_to_dtype(born_randn(g, BORN_F32, BORN_DIMS(33)), dt), true) : NULL;
    born_tensor *up = born_to_dtype(born_randn(g, BORN_F32, BORN_DIMS(6, 5, 33)), dt);
    int64_t shape[1] = {33};
    born_tensor *fused = rms ? born_rms_norm(xin, 1, shape, w, 1e-5) : born_layer_norm(xin, 1, shape, w, b, 1e-5);
    born_tensor *ref = rms ? nn_rms_norm_composite(xin, 1, w, 1e-5) : nn_layer_norm_composite(xin, 1, w, b, 1e-5);
    CHECK_MSG(max_abs_diff(fused, ref) <= tol, "%s %s: forward differs by %g", rms ? "rms" : "layer",
              born_dtype_name(dt), max_abs_diff(fused, ref));
    born_tensor *params[3] = {x, w, b};
    born_tensor *grads_fused[3] = {0}, *grads_ref[3] = {0};
    CHECK_OK(born_backward(born_sum(born_mul(fused, up), 0, NULL, false)));
    for (int i = 0; i < 3; i++)
        if (params[i]) {
            grads_fused[i] = born_clone(born_grad(params[i]));
            born_zero_grad(params[i]);
        }
    CHECK_OK(born_backward(born_sum(born_mul(ref, up), 0, NULL, false)));
    for (int i = 0; i < 3; i++)
        if (params[i]) {
            grads_ref[i] = born_grad(params[i]);
            double scale = born_item(born_max(born_abs(born_to_dtype(grads_ref[i], BORN_F64)), 0, NULL, false));
            CHECK_MSG(max_abs_diff(grads_fused[i], grads_ref[i]) <= tol * (1 + scale),
                      "%s %s: gradient %d differs by %g", rms ? "rms" : "layer", born_dtype_name(dt), i,
                      max_abs_diff(grads_fused[i], grads_ref[i]));
        }
    born_generator_free(g);
}

TEST(fused_norms_match_their_definition) {
    for (int rms = 0; rms <= 1; rms++) {
        compare(rms, BORN_F64, true, false, 1e-12);
        compare(rms, BORN_F64, false, true, 1e-12);
        compare(rms, BORN_F32, true, true, 2e-5);
        compare(rms, BORN_F32, false, false, 2e-5);
        compare(rms, BORN_BF16, true, false, 0.05);
    }
}

static born_tensor *layer_norm_fn(born_tensor *const *in, void *ctx) {
    (void)ctx;
    return born_layer_norm(in[0], BORN_DIMS(4), in[1], in[2], 1e-3);
}

static born_tensor *rms_norm_fn(born_tensor *const *in, void *ctx) {
    (void)ctx;
    return born_rms_norm(in[0], BORN_DIMS(4), in[1], 1e-3);
}

TEST(fused_norms_gradcheck) {
    born_generator *g = born_generator_new(3);
    born_tensor *in[3] = {born_requires_grad(born_randn(g, BORN_F64, BORN_DIMS(3, 4)), true),
                          born_requires_grad(born_randn(g, BORN_F64, BORN_DIMS(4)), true),
                          born_requires_grad(born_randn(g, BORN_F64, BORN_DIMS(4)), true)};
    CHECK_OK(born_gradcheck(layer_norm_fn, 3, in, NULL, NULL));
    CHECK_OK(born_gradcheck(rms_norm_fn, 2, in, NULL, NULL));
    CHECK(strcmp(born_grad_fn_name(layer_norm_fn(in, NULL)), "LayerNormBackward") == 0);
    born_generator_free(g);
}

TEST(fused_norms_are_thread_count_independent) {
    int before = born_get_num_threads();
    born_generator *g = born_generator_new(9);
    born_tensor *x = born_randn(g, BORN_F32, BORN_DIMS(257, 384));
    born_set_num_threads(1);
    born_tensor *a = born_layer_norm(x, BORN_DIMS(384), NULL, NULL, 1e-5);
    born_set_num_threads(2);
    born_tensor *b = born_layer_norm(x, BORN_DIMS(384), NULL, NULL, 1e-5);
    born_set_num_threads(before);
    CHECK(a && b && memcmp(born_data_f32(a), born_data_f32(b), 257 * 384 * 4) == 0);
    born_generator_free(g);
}
