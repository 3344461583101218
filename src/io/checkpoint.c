/* Module state dicts as files, and training checkpoints: the model, optimizer, scheduler and
 * random-generator state plus a step counter and user metadata, in one .born file written
 * atomically. docs/formats/born.md describes the names a checkpoint uses. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/nn.h"
#include "born/optim.h"
#include "core/error.h"
#include "io/tensor_file.h"

/* Re-records the error that the failing call just recorded as "<where>: <message>", when no
 * error was recorded before it (clean); returns its status. */
static born_status rewrap(bool clean, const char *where) {
    born_status st = born_last_status();
    if (!clean || st == BORN_OK) return st ? st : BORN_ERR_INTERNAL;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", born_last_error());
    born_clear_error();
    return born_error(st, "%s: %s", where, msg);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

born_status born_module_save(born_module *m, const char *path, born_file_format format) {
    if (!m || !path)
        return born_error(BORN_ERR_ARGUMENT, "born_module_save: %s is NULL", !m ? "module" : "path");
    if (format == BORN_FORMAT_AUTO)
        format = ends_with(path, ".safetensors") ? BORN_FORMAT_SAFETENSORS : BORN_FORMAT_BORN;
    if (format != BORN_FORMAT_BORN && format != BORN_FORMAT_SAFETENSORS)
        return born_error(BORN_ERR_ARGUMENT, "born_module_save: unknown format %d", (int)format);
    born_tensor_list *sd = born_module_state_dict(m);
    if (!sd) return born_last_status();
    born_status st = format == BORN_FORMAT_BORN ? born_file_save(path, sd, NULL)
                                                : born_safetensors_save(path, sd, NULL);
    born_tensor_list_free(sd);
    return st;
}

born_status born_module_load(born_module *m, const char *path, bool strict) {
    if (!m || !path)
        return born_error(BORN_ERR_ARGUMENT, "born_module_load: %s is NULL", !m ? "module" : "path");
    born_file *f = born_file_open(path, NULL);
    if (!f) return born_last_status();
    born_tensor_list *sd = born_file_to_list(f);
    born_status st = sd ? BORN_OK : born_last_status();
    if (st == BORN_OK) {
        bool clean = born_last_status() == BORN_OK;
        if (born_module_load_state_dict(m, sd, strict) != BORN_OK) {
            char where[1100];
            snprintf(where, sizeof where, "born_module_load: %s", path);
            st = rewrap(clean, where);
        }
    }
    born_tensor_list_free(sd);
    born_file_close(f);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Checkpoints                                                                                  */

static const char *const part_prefix[3] = {"model.", "optim.", "sched."};

static born_status add_prefixed(born_file_writer *w, const char *prefix,
                                const born_tensor_list *list) {
    for (int64_t i = 0; i < list->count; i++) {
        size_t n = strlen(prefix) + strlen(list->items[i].name) + 1;
        char *name = malloc(n);
        if (!name) return born_error(BORN_ERR_MEMORY, "born_checkpoint_save: out of memory");
        snprintf(name, n, "%s%s", prefix, list->items[i].name);
        born_status st = born_file_writer_add(w, name, list->items[i].tensor);
        free(name);
        if (st != BORN_OK) return st;
    }
    return BORN_OK;
}

born_status born_checkpoint_save(const char *path, const born_checkpoint *c) {
    if (!path || !c || !c->module)
        return born_error(BORN_ERR_ARGUMENT, "born_checkpoint_save: %s is NULL",
                          !path ? "path" : !c ? "checkpoint" : "module");
    born_file_writer *w = born_file_writer_open(path);
    if (!w) return born_last_status();
    born_scope_begin();
    born_tensor_list *lists[3] = {
        born_module_state_dict(c->module),
        c->optimizer ? born_optimizer_state_dict(c->optimizer) : NULL,
        c->scheduler ? born_lr_scheduler_state_dict(c->scheduler) : NULL,
    };
    born_status st = BORN_OK;
    if (!lists[0] || (c->optimizer && !lists[1]) || (c->scheduler && !lists[2]))
        st = born_last_status() ? born_last_status() : BORN_ERR_INTERNAL;
    for (int p = 0; p < 3 && st == BORN_OK; p++)
        if (lists[p]) st = add_prefixed(w, part_prefix[p], lists[p]);
    if (st == BORN_OK && c->generator) {
        uint64_t seed = 0, offset = 0;
        born_generator_get_state(c->generator, &seed, &offset);
        int64_t state[2];
        memcpy(&state[0], &seed, 8);
        memcpy(&state[1], &offset, 8);
        born_tensor *t = born_from_data(BORN_I64, BORN_DIMS(2), state, sizeof state);
        st = t ? born_file_writer_add(w, "rng", t) : born_last_status();
    }
    if (st == BORN_OK) {
        born_tensor *t = born_from_data(BORN_I64, 0, NULL, &c->step, sizeof c->step);
        st = t ? born_file_writer_add(w, "step", t) : born_last_status();
    }
    for (int64_t i = 0; st == BORN_OK && c->metadata && i < c->metadata->count; i++)
        st = born_file_writer_set_metadata(w, c->metadata->items[i].key,
                                           c->metadata->items[i].value);
    static const char config[] = "{\"born_checkpoint\":1}";
    if (st == BORN_OK) st = born_file_writer_set_config(w, config, sizeof config - 1);
    for (int p = 0; p < 3; p++) born_tensor_list_free(lists[p]);
    born_scope_end();
    if (st != BORN_OK) {
        born_file_writer_abort(w);
        return st;
    }
    return born_file_writer_finish(w);
}

/* A deep copy of a state dict (the module's entries share its storage). */
static born_tensor_list *clone_list(born_tensor_list *sd) {
    born_tensor_list *out = born_tensor_list_new();
    for (int64_t i = 0; out && i < sd->count; i++) {
        born_tensor *t = born_clone(sd->items[i].tensor);
        born_status st = t ? born_tensor_list_add(out, sd->items[i].name, t) : born_last_status();
        born_free(t);
        if (st != BORN_OK) {
            born_tensor_list_free(out);
            return NULL;
        }
    }
    return out;
}

typedef struct ck_parts {
    born_tensor_list *lists[3];
    born_tensor *rng, *step;
} ck_parts;

static void parts_free(ck_parts *p) {
    for (int i = 0; i < 3; i++) born_tensor_list_free(p->lists[i]);
}

/* Sorts the file's tensors into the parts, checking what the names and shapes must be. */
static born_status split_parts(born_file *f, const char *where, ck_parts *p) {
    for (int i = 0; i < 3; i++) {
        p->lists[i] = born_tensor_list_new();
        if (!p->lists[i]) return born_last_status();
    }
    for (int64_t i = 0; i < born_file_count(f); i++) {
        born_tensor_info info;
        born_file_tensor_info(f, i, &info);
        int part = -1;
        for (int k = 0; k < 3; k++)
            if (strncmp(info.name, part_prefix[k], strlen(part_prefix[k])) == 0) part = k;
        bool is_rng = strcmp(info.name, "rng") == 0, is_step = strcmp(info.name, "step") == 0;
        if (part < 0 && !is_rng && !is_step)
            return born_error(BORN_ERR_FORMAT, "%s: unexpected tensor \"%s\" (a checkpoint holds "
                              "model.*, optim.*, sched.*, rng and step)", where, info.name);
        if (is_rng && (info.dtype != BORN_I64 || info.ndim != 1 || info.shape[0] != 2))
            return born_error(BORN_ERR_FORMAT, "%s: \"rng\" must be a [2] i64 tensor", where);
        if (is_step && (info.dtype != BORN_I64 || info.ndim != 0))
            return born_error(BORN_ERR_FORMAT, "%s: \"step\" must be a 0-dim i64 tensor", where);
        born_tensor *t = born_file_get_index(f, i);
        if (!t) return born_last_status();
        if (part >= 0) {
            born_status st =
                born_tensor_list_add(p->lists[part], info.name + strlen(part_prefix[part]), t);
            born_free(t);
            if (st != BORN_OK) return st;
        } else if (is_rng) {
            p->rng = t;
        } else {
            p->step = t;
        }
    }
    if (!p->step)
        return born_error(BORN_ERR_FORMAT, "%s: not a checkpoint: it has no \"step\" tensor", where);
    return BORN_OK;
}

born_status born_checkpoint_load(const char *path, born_checkpoint *c) {
    if (!path || !c || !c->module)
        return born_error(BORN_ERR_ARGUMENT, "born_checkpoint_load: %s is NULL",
                          !path ? "path" : !c ? "checkpoint" : "module");
    char where[1100];
    snprintf(where, sizeof where, "born_checkpoint_load: %s", path);
    born_file_params fp = born_file_default_params();
    fp.format = BORN_FORMAT_BORN;
    fp.verify = BORN_CHECKSUM_ALWAYS; /* every byte is read anyway */
    born_file *f = born_file_open(path, &fp);
    if (!f) return born_last_status();
    born_scope_begin();
    ck_parts parts = {0};
    born_tensor_list *backup_model = NULL, *backup_optim = NULL;
    born_status st = split_parts(f, where, &parts);
    if (st == BORN_OK && c->optimizer && parts.lists[1]->count == 0)
        st = born_error(BORN_ERR_FORMAT, "%s: the checkpoint has no optimizer state", where);
    if (st == BORN_OK && c->scheduler && parts.lists[2]->count == 0)
        st = born_error(BORN_ERR_FORMAT, "%s: the checkpoint has no scheduler state", where);
    if (st == BORN_OK && c->generator && !parts.rng)
        st = born_error(BORN_ERR_FORMAT, "%s: the checkpoint has no generator state", where);
    /* All or nothing: each load below checks everything before it writes, so only an earlier
     * part needs a snapshot to roll back to when a later one fails. */
    if (st == BORN_OK && (c->optimizer || c->scheduler)) {
        born_tensor_list *sd = born_module_state_dict(c->module);
        backup_model = sd ? clone_list(sd) : NULL;
        born_tensor_list_free(sd);
        if (!backup_model) st = born_last_status();
    }
    if (st == BORN_OK && c->optimizer && c->scheduler) {
        backup_optim = born_optimizer_state_dict(c->optimizer);
        if (!backup_optim) st = born_last_status();
    }
    char part_where[1200];
    if (st == BORN_OK) {
        bool clean = born_last_status() == BORN_OK;
        if (born_module_load_state_dict(c->module, parts.lists[0], true) != BORN_OK) {
            snprintf(part_where, sizeof part_where, "%s: model", where);
            st = rewrap(clean, part_where);
        }
    }
    if (st == BORN_OK && c->optimizer) {
        bool clean = born_last_status() == BORN_OK;
        if (born_optimizer_load_state_dict(c->optimizer, parts.lists[1]) != BORN_OK) {
            snprintf(part_where, sizeof part_where, "%s: optimizer", where);
            st = rewrap(clean, part_where);
            born_module_load_state_dict(c->module, backup_model, true);
        }
    }
    if (st == BORN_OK && c->scheduler) {
        bool clean = born_last_status() == BORN_OK;
        if (born_lr_scheduler_load_state_dict(c->scheduler, parts.lists[2]) != BORN_OK) {
            snprintf(part_where, sizeof part_where, "%s: scheduler", where);
            st = rewrap(clean, part_where);
            born_module_load_state_dict(c->module, backup_model, true);
            if (c->optimizer) born_optimizer_load_state_dict(c->optimizer, backup_optim);
        }
    }
    if (st == BORN_OK) {
        if (c->generator) {
            const int64_t *s = born_data_i64(parts.rng);
            uint64_t seed, offset;
            memcpy(&seed, &s[0], 8);
            memcpy(&offset, &s[1], 8);
            born_generator_set_state(c->generator, seed, offset);
        }
        c->step = born_data_i64(parts.step)[0];
        const born_string_map *meta = born_file_metadata(f);
        for (int64_t i = 0; c->metadata && i < meta->count; i++)
            born_string_map_set(c->metadata, meta->items[i].key, meta->items[i].value);
    }
    born_tensor_list_free(backup_model);
    born_tensor_list_free(backup_optim);
    parts_free(&parts);
    born_scope_end();
    born_file_close(f);
    return st;
}
