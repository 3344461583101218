/* The training commands end to end: dataset folders (good and bad), born train, born eval and
 * the model files they write. Bad input must give a clear error naming the file, a non-zero exit
 * status, and no half-written model. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "tools/born/commands.h"
#include "tools/born/datasets.h"
#include "tools/born/models.h"
#include "tools/born/trainer.h"

/* Runs a command with stdout and stderr sent to /dev/null; returns its exit status. */
static int run_quiet(int (*cmd)(int, char **), int argc, char **argv) {
    fflush(stdout);
    fflush(stderr);
    int out = dup(1), err = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    int status = cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    close(null);
    return status;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Writes n images of 28 x 28 (digit-like noise) and labels i % classes into dir. */
static void write_dataset(const char *dir, int64_t n, int64_t classes, const char *prefix) {
    char path[512];
    born_scope_begin();
    born_generator *g = born_generator_new(1);
    born_tensor *images = born_randint(g, 0, 256, BORN_U8, BORN_DIMS(n, 28, 28));
    born_tensor *labels = born_remainder(born_arange(0, (double)n, 1, BORN_I64), born_scalar(BORN_I64, (double)classes));
    snprintf(path, sizeof path, "%s/%simages-idx3-ubyte", dir, prefix);
    CHECK_OK(born_idx_write(path, images));
    snprintf(path, sizeof path, "%s/%slabels-idx1-ubyte", dir, prefix);
    CHECK_OK(born_idx_write(path, born_to_dtype(labels, BORN_U8)));
    born_generator_free(g);
    born_scope_end();
}

static char *make_temp_dir(char *buf, size_t size) {
    snprintf(buf, size, "/tmp/born-cli-XXXXXX");
    return mkdtemp(buf);
}

static void remove_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

TEST(cli_loads_the_shipped_digits) {
    cli_data d;
    char err[512];
    CHECK_MSG(cli_data_load("data/mnist-10k", 8000, &d, err, sizeof err), "%s", err);
    CHECK_EQ_INT(born_dataset_len(d.train), 8000);
    CHECK_EQ_INT(born_dataset_len(d.test), 2000);
    CHECK_EQ_INT(d.classes, 10);
    cli_data_free(&d);
}

TEST(cli_dataset_errors_name_the_file) {
    char dir[64], err[512], path[600];
    CHECK(make_temp_dir(dir, sizeof dir));
    cli_data d;
    CHECK(!cli_data_load("/nonexistent/born", 10, &d, err, sizeof err));
    CHECK(strstr(err, "/nonexistent/born") != NULL);
    CHECK(!cli_data_load(dir, 10, &d, err, sizeof err)); /* empty folder */
    CHECK(strstr(err, "no IDX images") != NULL);
    write_dataset(dir, 20, 10, "");
    CHECK(!cli_data_load(dir, 20, &d, err, sizeof err)); /* nothing left to test on */
    CHECK(strstr(err, "cannot be split") != NULL);
    /* a truncated images file */
    snprintf(path, sizeof path, "%s/images-idx3-ubyte", dir);
    CHECK(truncate(path, 500) == 0);
    CHECK(!cli_data_load(dir, 10, &d, err, sizeof err));
    CHECK_MSG(strstr(err, path) != NULL, "%s", err);
    /* a bad magic */
    FILE *f = fopen(path, "wb");
    fputs("not an idx file at all", f);
    fclose(f);
    CHECK(!cli_data_load(dir, 10, &d, err, sizeof err));
    CHECK_MSG(strstr(err, path) != NULL && strstr(err, "magic"), "%s", err);
    /* images and labels that disagree */
    remove_dir(dir);
    CHECK(make_temp_dir(dir, sizeof dir));
    write_dataset(dir, 20, 10, "");
    born_scope_begin();
    snprintf(path, sizeof path, "%s/labels-idx1-ubyte", dir);
    CHECK_OK(born_idx_write(path, born_zeros(BORN_U8, BORN_DIMS(19))));
    born_scope_end();
    CHECK(!cli_data_load(dir, 10, &d, err, sizeof err));
    CHECK_MSG(strstr(err, "20 images") && strstr(err, "19 labels"), "%s", err);
    remove_dir(dir);
}

TEST(born_train_then_eval_round_trip) {
    char dir[64], model[600];
    CHECK(make_temp_dir(dir, sizeof dir));
    write_dataset(dir, 96, 10, "");
    snprintf(model, sizeof model, "%s/m.born", dir);
    char *train[] = {"train", "--model", "mlp", "--data", dir, "--split", "64", "--epochs", "1",
                     "--batch-size", "32", "--out", model, NULL};
    CHECK_EQ_INT(run_quiet(cmd_train, 13, train), 0);
    CHECK(exists(model));
    char err[512];
    born_module *m = model_load(model, err, sizeof err);
    CHECK_MSG(m != NULL, "%s", err);
    CHECK_EQ_INT(born_module_num_parameters(m), 784 * 128 + 128 + 128 * 10 + 10);
    born_module_free(m);
    char *eval[] = {"eval", model, dir, "64", NULL};
    CHECK_EQ_INT(run_quiet(cmd_eval, 4, eval), 0);
    remove_dir(dir);
}

TEST(born_train_refuses_bad_input_and_writes_nothing) {
    char dir[64], model[600];
    CHECK(make_temp_dir(dir, sizeof dir));
    write_dataset(dir, 40, 13, ""); /* labels up to 12: too many for a 10-class model */
    snprintf(model, sizeof model, "%s/m.born", dir);
    char *train[] = {"train", "--data", dir, "--split", "30", "--out", model, NULL};
    CHECK_EQ_INT(run_quiet(cmd_train, 7, train), 1);
    CHECK(!exists(model));
    char *bad_model[] = {"train", "--model", "resnet", NULL};
    CHECK_EQ_INT(run_quiet(cmd_train, 3, bad_model), 2);
    char *bad_lr[] = {"train", "--lr", "-1", NULL};
    CHECK_EQ_INT(run_quiet(cmd_train, 3, bad_lr), 2);
    char *bad_epochs[] = {"train", "--epochs", "x", NULL};
    CHECK_EQ_INT(run_quiet(cmd_train, 3, bad_epochs), 2);
    char *bad_schedule[] = {"train", "--schedule", "exponential", NULL};
    CHECK_EQ_INT(run_quiet(cmd_train, 3, bad_schedule), 2);
    /* an output folder that does not exist: the training runs but no file appears */
    remove_dir(dir);
    CHECK(make_temp_dir(dir, sizeof dir));
    write_dataset(dir, 40, 10, "");
    snprintf(model, sizeof model, "%s/missing/m.born", dir);
    char *unwritable[] = {"train", "--model", "mlp", "--data", dir, "--split", "30", "--epochs", "1", "--out", model, NULL};
    CHECK_EQ_INT(run_quiet(cmd_train, 11, unwritable), 1);
    CHECK(!exists(model));
    /* eval of a file that is not a model */
    char notmodel[600];
    snprintf(notmodel, sizeof notmodel, "%s/images-idx3-ubyte", dir);
    char *eval[] = {"eval", notmodel, dir, NULL};
    CHECK_EQ_INT(run_quiet(cmd_eval, 3, eval), 1);
    remove_dir(dir);
}

/* Trains the MLP for one epoch on the first 512 shipped digits with seed, threads and lr schedule
 * (NULL: constant); returns a copy of its state dict (owned). */
static born_tensor_list *train_scheduled(uint64_t seed, int threads, const char *schedule) {
    int before = born_get_num_threads();
    born_set_num_threads(threads);
    cli_data d;
    char err[512];
    if (!cli_data_load("data/mnist-10k", 9000, &d, err, sizeof err)) return NULL;
    born_dataset *small = born_dataset_subset(d.train, 0, 512);
    born_dataset *keep = d.train;
    d.train = small;
    born_generator *gen = born_generator_new(seed);
    born_module *m = model_new("mlp", gen);
    train_config tc = {1, 64, 1e-3, "adam", seed, NULL, schedule};
    train_report r;
    born_tensor_list *out = NULL;
    if (m && train_model(m, &d, &tc, &r) == BORN_OK) out = born_module_state_dict(m);
    born_module_free(m);
    born_generator_free(gen);
    d.train = keep;
    born_dataset_free(small);
    cli_data_free(&d);
    born_set_num_threads(before);
    return out;
}

static born_tensor_list *train_once(uint64_t seed, int threads) {
    return train_scheduled(seed, threads, NULL);
}

static bool same_weights(const born_tensor_list *a, const born_tensor_list *b) {
    if (!a || !b || a->count != b->count) return false;
    for (int64_t i = 0; i < a->count; i++) {
        born_tensor *x = a->items[i].tensor, *y = b->items[i].tensor;
        int64_t n = born_tensor_numel(x);
        if (n != born_tensor_numel(y) || memcmp(born_data_ptr(x), born_data_ptr(y), (size_t)n * 4) != 0) return false;
    }
    return true;
}

TEST(training_is_deterministic_for_a_seed_and_thread_count) {
    born_tensor_list *a = train_once(3, 1), *b = train_once(3, 1), *c = train_once(4, 1);
    CHECK(same_weights(a, b));
    CHECK(!same_weights(a, c));
    /* the kernels are deterministic across thread counts too */
    born_tensor_list *d = train_once(3, 2);
    CHECK(same_weights(a, d));
    born_tensor_list_free(a);
    born_tensor_list_free(b);
    born_tensor_list_free(c);
    born_tensor_list_free(d);
}

TEST(training_follows_the_lr_schedule) {
    /* a schedule changes the lr at every batch, so the weights differ from a constant lr's; each
     * schedule is itself deterministic */
    born_tensor_list *constant = train_scheduled(5, 1, "constant"), *plain = train_once(5, 1);
    born_tensor_list *cosine = train_scheduled(5, 1, "cosine"), *cosine2 = train_scheduled(5, 1, "cosine");
    born_tensor_list *onecycle = train_scheduled(5, 1, "onecycle");
    CHECK(same_weights(constant, plain));
    CHECK(same_weights(cosine, cosine2));
    CHECK(!same_weights(constant, cosine));
    CHECK(!same_weights(cosine, onecycle));
    born_tensor_list *all[] = {constant, plain, cosine, cosine2, onecycle};
    for (int i = 0; i < 5; i++) born_tensor_list_free(all[i]);
}
