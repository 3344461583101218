/* The backward engine: seeding, accumulation, broadcasting, views, errors, graph lifetime. */
#include <string.h>

#include "test.h"

TEST(backward_seeds_at_the_tensor_passed) {
    born_tensor *x = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(3), (double[]){1, 2, 3}), true);
    born_tensor *y = born_sum(born_mul(x, x), 0, NULL, false); /* sum x^2 */
    born_tensor *later = born_mul_scalar(y, 100.0);            /* recorded after y, not used */
    (void)later;
    CHECK_OK(born_backward(y));
    CHECK_TENSOR_NEAR(born_grad(x), ((double[]){2, 4, 6}), 3, 0, 1e-15);
    CHECK(strcmp(born_grad_fn_name(y), "SumBackward") == 0);
}

TEST(gradients_accumulate_across_calls) {
    born_tensor *x = born_requires_grad(tensor_of(BORN_F32, BORN_DIMS(2), (double[]){1, -1}), true);
    for (int i = 0; i < 3; i++) CHECK_OK(born_backward(born_sum(born_mul_scalar(x, 2.0), 0, NULL, false)));
    CHECK_TENSOR_NEAR(born_grad(x), ((double[]){6, 6}), 2, 0, 0);
    born_zero_grad(x);
    CHECK(born_grad(x) == NULL);
}

TEST(broadcast_gradients_sum_back) {
    born_tensor *a = born_requires_grad(born_ones(BORN_F64, BORN_DIMS(2, 3)), true);
    born_tensor *b = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(3), (double[]){1, 2, 3}), true);
    born_tensor *c = born_requires_grad(born_scalar(BORN_F64, 2.0), true);
    born_tensor *y = born_sum(born_mul(born_add(a, b), c), 0, NULL, false);
    CHECK_OK(born_backward(y));
    CHECK_TENSOR_NEAR(born_grad(a), ((double[]){2, 2, 2, 2, 2, 2}), 6, 0, 0);
    CHECK_TENSOR_NEAR(born_grad(b), ((double[]){4, 4, 4}), 3, 0, 0);
    CHECK_TENSOR_NEAR(born_grad(c), ((double[]){18}), 1, 0, 0); /* sum(a + b) */
}

TEST(gradients_flow_through_views) {
    born_tensor *x = born_requires_grad(born_arange(0, 6, 1, BORN_F64), true);
    born_tensor *m = born_view(x, BORN_DIMS(2, 3));
    born_tensor *t = born_transpose(m, 0, 1);           /* [3, 2] */
    born_tensor *s = born_slice(t, 0, 1, 3, 1);          /* rows 1..2 */
    born_tensor *e = born_expand(born_unsqueeze(born_select(s, 1, 0), 0), BORN_DIMS(4, 2));
    CHECK_OK(born_backward(born_sum(e, 0, NULL, false)));
    /* s[:, 0] = t[1:3, 0] = m[0, 1:3] = x[1], x[2]; each counted 4 times */
    CHECK_TENSOR_NEAR(born_grad(x), ((double[]){0, 4, 4, 0, 0, 0}), 6, 0, 0);
}

TEST(dtype_mixing_gives_each_input_its_own_dtype) {
    born_tensor *a = born_requires_grad(born_ones(BORN_F32, BORN_DIMS(2)), true);
    born_tensor *b = born_requires_grad(born_full(BORN_F64, BORN_DIMS(2), 3.0), true);
    born_tensor *y = born_mul(a, b);
    CHECK_EQ_INT(born_tensor_dtype(y), BORN_F64);
    CHECK_OK(born_backward(born_sum(y, 0, NULL, false)));
    CHECK_EQ_INT(born_tensor_dtype(born_grad(a)), BORN_F32);
    CHECK_TENSOR_NEAR(born_grad(a), ((double[]){3, 3}), 2, 0, 0);
    CHECK_TENSOR_NEAR(born_grad(b), ((double[]){1, 1}), 2, 0, 0);
}

TEST(backward_errors) {
    born_tensor *x = born_ones(BORN_F32, BORN_DIMS(2));
    CHECK(born_backward(born_sum(x, 0, NULL, false)) == BORN_ERR_AUTOGRAD);
    CHECK_ERROR(BORN_ERR_AUTOGRAD, "does not require grad");
    born_requires_grad(x, true);
    CHECK(born_backward(born_mul_scalar(x, 2.0)) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "2 elements");
    born_tensor *y = born_sum(born_exp(x), 0, NULL, false);
    CHECK_OK(born_backward(y));
    CHECK(born_backward(y) == BORN_ERR_AUTOGRAD); /* graph freed */
    CHECK_ERROR(BORN_ERR_AUTOGRAD, "retain_graph");
    CHECK(born_requires_grad(born_ones(BORN_I32, BORN_DIMS(1)), true) == NULL);
    CHECK_ERROR(BORN_ERR_DTYPE, "floating");
    CHECK(born_requires_grad(y, false) == NULL);
    CHECK_ERROR(BORN_ERR_AUTOGRAD, "leaves");
}

TEST(retain_graph_and_explicit_gradient) {
    born_tensor *x = born_requires_grad(tensor_of(BORN_F64, BORN_DIMS(2), (double[]){1, 2}), true);
    born_tensor *y = born_mul(x, x);
    born_backward_params p = born_backward_default_params();
    p.grad = tensor_of(BORN_F64, BORN_DIMS(2), (double[]){1, 10});
    p.retain_graph = true;
    CHECK_OK(born_backward_ex(y, &p));
    CHECK_OK(born_backward_ex(y, &p));
    CHECK_TENSOR_NEAR(born_grad(x), ((double[]){4, 80}), 2, 0, 0);
}

TEST(in_place_change_of_saved_tensor_is_caught) {
    born_tensor *w = born_requires_grad(born_ones(BORN_F32, BORN_DIMS(2)), true);
    born_tensor *x = born_ones(BORN_F32, BORN_DIMS(2));
    born_tensor *y = born_sum(born_mul(w, x), 0, NULL, false);
    CHECK_OK(born_add_scalar_(x, 1.0)); /* x was saved by MulBackward */
    CHECK(born_backward(y) == BORN_ERR_AUTOGRAD);
    CHECK_ERROR(BORN_ERR_AUTOGRAD, "modified in place");
    CHECK(born_add_scalar_(w, 1.0) == BORN_ERR_AUTOGRAD);
    CHECK_ERROR(BORN_ERR_AUTOGRAD, "requires grad");
    born_no_grad_begin();
    CHECK_OK(born_add_scalar_(w, 1.0)); /* an optimizer-style update */
    born_no_grad_end();
}

TEST(no_grad_and_detach_record_nothing) {
    born_tensor *x = born_requires_grad(born_ones(BORN_F32, BORN_DIMS(2)), true);
    born_no_grad_begin();
    born_tensor *y = born_mul(x, x);
    born_no_grad_end();
    CHECK(!born_tensor_requires_grad(y));
    born_tensor *d = born_detach(born_mul(x, x));
    CHECK(!born_tensor_requires_grad(d) && born_tensor_is_leaf(d));
}

TEST(deep_graph_frees_without_recursion) {
    born_tensor *x = born_requires_grad(born_ones(BORN_F32, BORN_DIMS(1)), true);
    born_scope_begin();
    born_tensor *y = x;
    for (int i = 0; i < 200000; i++) {
        born_tensor *next = born_add_scalar(y, 0.0);
        if (y != x) born_free(y); /* the chain lives on through next's graph */
        y = next;
    }
    CHECK_EQ_INT(born_scope_depth(), 2);
    born_scope_end(); /* frees a chain of 200k nodes, iteratively */
}

/* Resident memory in KiB (Linux), or -1 where /proc is missing or meaningless: AddressSanitizer
 * quarantines freed memory, so resident memory grows under it whatever the program does. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
static long resident_kib(void) {
#ifdef UNDER_ASAN
    return -1;
#else
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long pages = 0, resident = 0;
    int got = fscanf(f, "%ld %ld", &pages, &resident);
    fclose(f);
    return got == 2 ? resident * 4 : -1;
#endif
}

TEST(training_loop_runs_in_constant_memory) {
    born_tensor *w = born_requires_grad(born_zeros(BORN_F32, BORN_DIMS(64)), true);
    born_tensor *x = born_ones(BORN_F32, BORN_DIMS(32, 64));
    born_tensor *target = born_full(BORN_F32, BORN_DIMS(32), 2.0);
    long after_warmup = 0;
    for (int step = 0; step < 10000; step++) {
        if (step == 1000) after_warmup = resident_kib();
        born_scope_begin();
        born_tensor *pred = born_sum(born_mul(x, w), 1, (int64_t[]){1}, false);
        born_tensor *loss = born_mean(born_square(born_sub(pred, target)), 0, NULL, false);
        born_backward(loss);
        born_no_grad_begin();
        born_sub_(w, born_mul_scalar(born_grad(w), 1e-4));
        born_no_grad_end();
        born_zero_grad(w);
        born_scope_end();
    }
    long at_end = resident_kib();
    /* the 9,000 later steps allocate hundreds of MB in total; none of it may stay */
    if (after_warmup > 0) CHECK_MSG(at_end - after_warmup < 2048, "resident memory grew by %ld KiB", at_end - after_warmup);
    double w0;
    born_get(w, (int64_t[]){0}, &w0);
    CHECK_NEAR(w0, 2.0 / 64, 1e-4);
}
