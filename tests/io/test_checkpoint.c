/* Module files and training checkpoints: a run interrupted by save and load into fresh objects
 * ends bit for bit where the uninterrupted run does; a failed write never destroys the last good
 * checkpoint; a failed load changes nothing. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tensor_file.h"
#include "io/tensor_file_test.h"

/* A small MLP with dropout drawing from gen, Adam and a warm-up/cosine schedule. */
typedef struct run {
    born_module *model;
    born_optimizer *opt;
    born_lr_scheduler *sched;
    born_generator *gen;
} run;

static void run_init(run *r, uint64_t init_seed, uint64_t dropout_seed) {
    born_generator *init = born_generator_new(init_seed);
    r->gen = born_generator_new(dropout_seed);
    r->model = born_sequential_of(BORN_MODULES(born_linear_new(4, 16, true, init), born_relu_new(),
                                               born_dropout_new(0.25, r->gen),
                                               born_linear_new(16, 1, true, init)));
    born_generator_free(init);
    int64_t n = 0;
    born_tensor **params = born_module_parameters(r->model, &n);
    born_adam_params ap = born_adam_default_params();
    ap.lr = 0.01;
    r->opt = born_adam(params, n, &ap);
    free(params);
    r->sched = born_warmup_cosine_lr(r->opt, 3, 20, 0.1, 1e-4);
}

static void run_free(run *r) {
    born_lr_scheduler_free(r->sched);
    born_optimizer_free(r->opt);
    born_module_free(r->model);
    born_generator_free(r->gen);
}

static void run_steps(run *r, int steps) {
    born_generator *data = born_generator_new(99);
    born_tensor *x = born_randn(data, BORN_F32, BORN_DIMS(32, 4));
    born_tensor *y = born_randn(data, BORN_F32, BORN_DIMS(32, 1));
    born_generator_free(data);
    for (int s = 0; s < steps; s++) {
        born_scope_begin();
        born_optimizer_zero_grad(r->opt);
        born_tensor *loss = born_mse_loss(born_module_forward(r->model, x), y, BORN_REDUCTION_MEAN);
        CHECK_OK(born_backward(loss));
        CHECK_OK(born_optimizer_step(r->opt));
        CHECK_OK(born_lr_scheduler_step(r->sched));
        born_scope_end();
    }
}

static bool same_weights(run *a, run *b) {
    born_tensor_list *x = born_module_state_dict(a->model), *y = born_module_state_dict(b->model);
    bool same = x && y && x->count == y->count;
    for (int64_t i = 0; same && i < x->count; i++) same = tft_same(x->items[i].tensor, y->items[i].tensor);
    born_tensor_list_free(x);
    born_tensor_list_free(y);
    return same;
}

TEST(checkpoint_resume_is_bit_identical) {
    const int N = 6;
    run full, first, second;
    run_init(&full, 1, 7);
    run_steps(&full, 2 * N);

    run_init(&first, 1, 7);
    run_steps(&first, N);
    const char *path = tft_path("ck.born");
    born_string_map *meta = born_string_map_new();
    born_string_map_set(meta, "run", "test");
    born_checkpoint c = {first.model, first.opt, first.sched, first.gen, N, meta};
    CHECK_OK(born_checkpoint_save(path, &c));

    run_init(&second, 12345, 54321); /* different weights and dropout stream */
    born_string_map *got_meta = born_string_map_new();
    born_checkpoint d = {second.model, second.opt, second.sched, second.gen, 0, got_meta};
    CHECK_OK(born_checkpoint_load(path, &d));
    CHECK_EQ_INT(d.step, N);
    CHECK(born_string_map_get(got_meta, "run") && strcmp(born_string_map_get(got_meta, "run"), "test") == 0);
    CHECK(same_weights(&first, &second));
    CHECK(born_optimizer_get_lr(second.opt) == born_optimizer_get_lr(first.opt));
    run_steps(&second, N);
    CHECK_MSG(same_weights(&full, &second), "resumed run differs from the uninterrupted one");
    CHECK(born_optimizer_get_lr(second.opt) == born_optimizer_get_lr(full.opt));
    CHECK(born_lr_scheduler_last_epoch(second.sched) == born_lr_scheduler_last_epoch(full.sched));
    uint64_t s1, o1, s2, o2;
    born_generator_get_state(full.gen, &s1, &o1);
    born_generator_get_state(second.gen, &s2, &o2);
    CHECK(s1 == s2 && o1 == o2);

    /* the file is a .born file with the documented names */
    born_file *f = born_file_open(path, NULL);
    CHECK(f && born_file_find(f, "model.0.weight") >= 0 && born_file_find(f, "rng") >= 0 &&
          born_file_find(f, "step") >= 0 && born_file_find(f, "optim.state.0.exp_avg") >= 0 &&
          born_file_find(f, "sched.last_epoch") >= 0);
    born_file_close(f);
    unlink(path);
    born_string_map_free(meta);
    born_string_map_free(got_meta);
    run_free(&full);
    run_free(&first);
    run_free(&second);
}

TEST(checkpoint_failed_write_keeps_the_old_file) {
    run r;
    run_init(&r, 1, 7);
    const char *path = tft_path("keep.born");
    born_checkpoint c = {r.model, r.opt, r.sched, r.gen, 1, NULL};
    CHECK_OK(born_checkpoint_save(path, &c));
    size_t len = 0;
    uint8_t *good = tft_read_all(path, &len);
    int entries = tft_dir_entries();
    run_steps(&r, 2);
    c.step = 3;
    for (int64_t limit = 0; limit < (int64_t)len; limit += 331) {
        io_out_fail_after(limit); /* the disk fills up, or the process dies, at byte `limit` */
        CHECK(born_checkpoint_save(path, &c) == BORN_ERR_IO);
        io_out_fail_after(-1);
        CHECK_ERROR(BORN_ERR_IO, "simulated");
        size_t now_len = 0;
        uint8_t *now = tft_read_all(path, &now_len);
        CHECK(now && now_len == len && memcmp(now, good, len) == 0);
        free(now);
        CHECK_EQ_INT(tft_dir_entries(), entries);
    }
    /* the old checkpoint still loads */
    born_checkpoint d = c;
    CHECK_OK(born_checkpoint_load(path, &d));
    CHECK_EQ_INT(d.step, 1);
    free(good);
    unlink(path);
    run_free(&r);
}

TEST(checkpoint_failed_load_changes_nothing) {
    run a, b;
    run_init(&a, 1, 7);
    run_steps(&a, 3);
    const char *path = tft_path("mismatch.born");
    born_checkpoint c = {a.model, a.opt, a.sched, a.gen, 3, NULL};
    CHECK_OK(born_checkpoint_save(path, &c));

    /* b has a scheduler of another kind: the model and optimizer load, the scheduler fails,
     * and everything is rolled back */
    run_init(&b, 2, 8);
    run_steps(&b, 1);
    born_lr_scheduler_free(b.sched);
    b.sched = born_step_lr(b.opt, 2, 0.5);
    born_tensor_list *before = born_module_state_dict(b.model);
    born_tensor_list *before_copy = born_tensor_list_new();
    for (int64_t i = 0; i < before->count; i++)
        born_tensor_list_add(before_copy, before->items[i].name, born_clone(before->items[i].tensor));
    born_tensor_list *opt_before = born_optimizer_state_dict(b.opt);
    double lr_before = born_optimizer_get_lr(b.opt);
    uint64_t s0, o0, s1, o1;
    born_generator_get_state(b.gen, &s0, &o0);
    born_checkpoint d = {b.model, b.opt, b.sched, b.gen, 77, NULL};
    CHECK(born_checkpoint_load(path, &d) != BORN_OK);
    CHECK_ERROR(born_last_status(), "mismatch.born: scheduler");
    CHECK_EQ_INT(d.step, 77);
    born_tensor_list *after = born_module_state_dict(b.model);
    for (int64_t i = 0; i < after->count; i++)
        CHECK(tft_same(after->items[i].tensor, before_copy->items[i].tensor));
    born_tensor_list *opt_after = born_optimizer_state_dict(b.opt);
    CHECK(opt_after->count == opt_before->count);
    for (int64_t i = 0; i < opt_after->count; i++)
        CHECK(tft_same(opt_after->items[i].tensor, opt_before->items[i].tensor));
    CHECK(born_optimizer_get_lr(b.opt) == lr_before);
    born_generator_get_state(b.gen, &s1, &o1);
    CHECK(s0 == s1 && o0 == o1);

    /* a part that the file lacks */
    born_checkpoint e = {b.model, NULL, NULL, NULL, 0, NULL};
    const char *path2 = tft_path("model_only.born");
    CHECK_OK(born_checkpoint_save(path2, &e));
    e.optimizer = b.opt;
    CHECK(born_checkpoint_load(path2, &e) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "no optimizer state");
    /* a plain model file is not a checkpoint */
    const char *path3 = tft_path("plain.born");
    CHECK_OK(born_module_save(b.model, path3, BORN_FORMAT_AUTO));
    e.optimizer = NULL;
    CHECK(born_checkpoint_load(path3, &e) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "unexpected tensor \"0.weight\"");

    born_tensor_list_free(before);
    born_tensor_list_free(before_copy);
    born_tensor_list_free(after);
    born_tensor_list_free(opt_before);
    born_tensor_list_free(opt_after);
    unlink(path);
    unlink(path2);
    unlink(path3);
    run_free(&a);
    run_free(&b);
}

TEST(module_save_and_load_both_formats) {
    run a, b;
    run_init(&a, 1, 7);
    run_init(&b, 2, 8);
    const char *formats[] = {"m.born", "m.safetensors"};
    for (int k = 0; k < 2; k++) {
        const char *path = tft_path(formats[k]);
        CHECK_OK(born_module_save(a.model, path, BORN_FORMAT_AUTO));
        born_file *f = born_file_open(path, NULL);
        CHECK(f && born_file_get_format(f) == (k ? BORN_FORMAT_SAFETENSORS : BORN_FORMAT_BORN));
        born_file_close(f);
        CHECK(!same_weights(&a, &b) || k == 1);
        CHECK_OK(born_module_load(b.model, path, true));
        CHECK(same_weights(&a, &b));
        unlink(path);
    }
    /* an explicit format wins over the extension */
    const char *path = tft_path("m.bin");
    CHECK_OK(born_module_save(a.model, path, BORN_FORMAT_SAFETENSORS));
    born_file *f = born_file_open(path, NULL);
    CHECK(f && born_file_get_format(f) == BORN_FORMAT_SAFETENSORS);
    born_file_close(f);
    unlink(path);
    /* a mismatched model reports the file */
    born_module *other = born_linear_new(3, 3, true, NULL);
    path = tft_path("m2.born");
    CHECK_OK(born_module_save(other, path, BORN_FORMAT_AUTO));
    CHECK(born_module_load(a.model, path, true) != BORN_OK);
    CHECK_ERROR(born_last_status(), "born_module_load: ");
    unlink(path);
    born_module_free(other);
    run_free(&a);
    run_free(&b);
}
