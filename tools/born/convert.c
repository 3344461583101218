/* `born convert IN OUT`: rewrites a tensor file between .born and safetensors. The input is
 * mapped and each tensor streams from the mapping into the output, so memory stays O(header).
 * Metadata carries over; a .born config travels through safetensors as the metadata entry
 * "born_config" (JSON text), which becomes the config again on the way back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"
#include "tools/born/commands.h"

static const char config_key[] = "born_config";

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int fail(void) {
    fprintf(stderr, "born convert: %s\n", born_last_error());
    return 1;
}

static int usage(FILE *out) {
    fprintf(out, "usage: born convert [--to born|safetensors] IN OUT\n\nRewrites a .born or "
                 "safetensors file in the other format (chosen by OUT's extension unless --to "
                 "says).\n");
    return out == stdout ? 0 : 2;
}

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *to = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return usage(stdout);
        if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (!in)
            in = argv[i];
        else if (!out)
            out = argv[i];
        else
            return usage(stderr);
    }
    if (!in || !out) return usage(stderr);
    born_file_format format = BORN_FORMAT_AUTO;
    if (to) {
        if (strcmp(to, "born") == 0)
            format = BORN_FORMAT_BORN;
        else if (strcmp(to, "safetensors") == 0)
            format = BORN_FORMAT_SAFETENSORS;
        else
            return usage(stderr);
    } else if (ends_with(out, ".safetensors")) {
        format = BORN_FORMAT_SAFETENSORS;
    } else if (ends_with(out, ".born")) {
        format = BORN_FORMAT_BORN;
    } else {
        fprintf(stderr, "born convert: cannot tell the output format from '%s' (use a .born or "
                        ".safetensors name, or --to)\n", out);
        return 2;
    }
    born_file *f = born_file_open(in, NULL);
    if (!f) return fail();
    born_tensor_list *list = born_file_to_list(f);
    born_string_map *meta = born_string_map_new();
    if (!list || !meta) {
        born_file_close(f);
        born_string_map_free(meta);
        return fail();
    }
    const born_string_map *src = born_file_metadata(f);
    const char *config_text = NULL;
    for (int64_t i = 0; i < src->count; i++) {
        if (format == BORN_FORMAT_BORN && strcmp(src->items[i].key, config_key) == 0)
            config_text = src->items[i].value;
        else
            born_string_map_set(meta, src->items[i].key, src->items[i].value);
    }
    born_json_writer *j = NULL;
    if (born_file_config(f) && format == BORN_FORMAT_SAFETENSORS) {
        j = born_json_writer_new(NULL);
        born_json_write_value(j, born_file_config(f));
        const char *text = born_json_writer_text(j, NULL);
        if (text) born_string_map_set(meta, config_key, text);
    }
    born_status st;
    if (format == BORN_FORMAT_SAFETENSORS) {
        st = born_safetensors_save(out, list, meta->count ? meta : NULL);
    } else {
        born_file_writer *w = born_file_writer_open(out);
        st = w ? BORN_OK : born_last_status();
        for (int64_t i = 0; st == BORN_OK && i < list->count; i++)
            st = born_file_writer_add(w, list->items[i].name, list->items[i].tensor);
        for (int64_t i = 0; st == BORN_OK && i < meta->count; i++)
            st = born_file_writer_set_metadata(w, meta->items[i].key, meta->items[i].value);
        if (st == BORN_OK && born_file_config(f)) {
            born_json_writer *cj = born_json_writer_new(NULL);
            born_json_write_value(cj, born_file_config(f));
            size_t len = 0;
            const char *text = born_json_writer_text(cj, &len);
            st = text ? born_file_writer_set_config(w, text, len) : born_last_status();
            born_json_writer_free(cj);
        } else if (st == BORN_OK && config_text &&
                   born_file_writer_set_config(w, config_text, strlen(config_text)) != BORN_OK) {
            /* not an object: keep it as plain metadata */
            born_clear_error();
            st = born_file_writer_set_metadata(w, config_key, config_text);
        }
        if (w) st = st == BORN_OK ? born_file_writer_finish(w) : (born_file_writer_abort(w), st);
    }
    born_json_writer_free(j);
    born_string_map_free(meta);
    born_tensor_list_free(list);
    born_file_close(f);
    if (st != BORN_OK) return fail();
    return 0;
}
