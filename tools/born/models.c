/* The named models and their files. */
#include <stdio.h>
#include <string.h>

#include "tools/born/models.h"

const char *const model_names = "mlp, cnn";

static born_module *mlp_new(born_generator *gen) {
    return born_sequential_of(BORN_MODULES(born_flatten_new(1, -1),
                                           born_linear_new(784, 128, true, gen), born_relu_new(),
                                           born_linear_new(128, 10, true, gen)));
}

static born_module *cnn_new(born_generator *gen) {
    born_conv2d_options k3 = born_conv2d_default_options(3, 3);
    born_pool2d_params pool = born_pool2d_default_params(2, 2);
    return born_sequential_of(BORN_MODULES(
        born_conv2d_new(1, 32, &k3, gen), born_relu_new(), born_max_pool2d_new(&pool),
        born_conv2d_new(32, 64, &k3, gen), born_relu_new(), born_max_pool2d_new(&pool),
        born_flatten_new(1, -1), born_linear_new(1600, 128, true, gen), born_relu_new(),
        born_linear_new(128, 10, true, gen)));
}

static const struct {
    const char *name;
    born_module *(*make)(born_generator *gen);
} models[] = {{"mlp", mlp_new}, {"cnn", cnn_new}};

bool model_known(const char *name) {
    for (size_t i = 0; name && i < sizeof models / sizeof models[0]; i++)
        if (strcmp(name, models[i].name) == 0) return true;
    return false;
}

born_module *model_new(const char *name, born_generator *gen) {
    for (size_t i = 0; name && i < sizeof models / sizeof models[0]; i++)
        if (strcmp(name, models[i].name) == 0) return models[i].make(gen);
    return NULL;
}

born_status model_save(born_module *m, const char *name, const char *path,
                       const born_string_map *extra) {
    born_tensor_list *sd = born_module_state_dict(m);
    if (!sd) return born_last_status();
    born_file_writer *w = born_file_writer_open(path);
    born_status st = w ? BORN_OK : born_last_status();
    for (int64_t i = 0; st == BORN_OK && i < sd->count; i++)
        st = born_file_writer_add(w, sd->items[i].name, sd->items[i].tensor);
    if (st == BORN_OK) st = born_file_writer_set_metadata(w, "born.model", name);
    for (int64_t i = 0; st == BORN_OK && extra && i < extra->count; i++)
        st = born_file_writer_set_metadata(w, extra->items[i].key, extra->items[i].value);
    if (w && st == BORN_OK) st = born_file_writer_finish(w);
    else if (w) born_file_writer_abort(w);
    born_tensor_list_free(sd);
    return st;
}

born_module *model_load(const char *path, char *err, size_t err_size) {
    born_file *f = born_file_open(path, NULL);
    if (!f) {
        snprintf(err, err_size, "%s", born_last_error());
        born_clear_error();
        return NULL;
    }
    const char *name = born_string_map_get(born_file_metadata(f), "born.model");
    born_module *m = model_known(name) ? model_new(name, NULL) : NULL;
    born_tensor_list *sd = m ? born_file_to_list(f) : NULL;
    if (!name) {
        snprintf(err, err_size, "%s: not a model saved by born train (no born.model metadata)", path);
    } else if (!model_known(name)) {
        snprintf(err, err_size, "%s: unknown model '%s' (known: %s)", path, name, model_names);
    } else if (!m || !sd || born_module_load_state_dict(m, sd, true) != BORN_OK) {
        snprintf(err, err_size, "%s: %s", path, born_last_error());
        born_clear_error();
        born_module_free(m);
        m = NULL;
    }
    born_tensor_list_free(sd);
    born_file_close(f);
    return m;
}
