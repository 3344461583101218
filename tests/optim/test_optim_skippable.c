/* optim_step_skippable on the CPU, where the flag is read on the host: for SGD with momentum (a
 * state slot the kernel writes first), Adam and RMSprop, a run whose steps 1 and 4 are skipped
 * by a set flag matches, bit for bit and state dict for state dict, a run that leaves those steps
 * out, so a skipped step creates no state and advances no step count; a clear flag and a NULL one
 * are ordinary steps. The device-side skip is checked in tests/backend/test_cuda_amp.c. */
#include <string.h>

#include "optim/optim_internal.h"
#include "optim/problem.h"

static born_optimizer *make(int kind, born_tensor **p) {
    if (kind == 0) {
        born_sgd_params sp = born_sgd_default_params();
        sp.lr = 0.05;
        sp.momentum = 0.9;
        return born_sgd(p, 3, &sp);
    }
    if (kind == 1) return born_adamw(p, 3, NULL);
    born_rmsprop_params rp = born_rmsprop_default_params();
    rp.momentum = 0.5;
    return born_rmsprop(p, 3, &rp);
}

static bool lists_identical(born_tensor_list *a, born_tensor_list *b) {
    if (!a || !b || a->count != b->count) return false;
    for (int64_t i = 0; i < a->count; i++)
        if (strcmp(a->items[i].name, b->items[i].name) != 0 ||
            !tensors_identical(a->items[i].tensor, b->items[i].tensor))
            return false;
    return true;
}

TEST(optim_step_skippable_host_flag_skips_whole_steps) {
    for (int kind = 0; kind < 3; kind++) {
        born_scope_begin();
        problem pa, pb;
        problem_init(&pa, BORN_F32);
        problem_init(&pb, BORN_F32);
        born_optimizer *oa = make(kind, pa.p), *ob = make(kind, pb.p);
        float one = 1, zero = 0;
        born_tensor *set = born_from_data(BORN_F32, 0, NULL, &one, sizeof one);
        born_tensor *clear = born_from_data(BORN_F32, 0, NULL, &zero, sizeof zero);
        CHECK(oa && ob && set && clear);
        if (!oa || !ob) return;
        for (int step = 1; step <= 7; step++) {
            bool skip = step == 1 || step == 4;
            born_optimizer_zero_grad(oa);
            born_optimizer_zero_grad(ob);
            problem_backward(&pa, step);
            problem_backward(&pb, step);
            if (!skip) CHECK_OK(born_optimizer_step(oa));
            CHECK_OK(optim_step_skippable(ob, skip ? set : step % 2 ? clear : NULL));
            for (int k = 0; k < 3; k++)
                CHECK_MSG(tensors_identical(pa.p[k], pb.p[k]), "kind %d step %d param %d", kind,
                          step, k);
        }
        born_tensor_list *sa = born_optimizer_state_dict(oa), *sb = born_optimizer_state_dict(ob);
        CHECK_MSG(lists_identical(sa, sb), "kind %d: the state dicts differ", kind);
        born_tensor_list_free(sa);
        born_tensor_list_free(sb);
        born_optimizer_free(oa);
        born_optimizer_free(ob);
        born_scope_end();
    }
}
