/* JSONTestSuite conformance (https://github.com/nst/JSONTestSuite, MIT): every y_ file must be
 * accepted and every n_ file rejected; i_ files are implementation-defined, so their results are
 * printed (docs/formats/json.md records them). Exits non-zero on any y_ or n_ failure.
 *
 *     json_conformance [DIR]     (default tests/conformance/jsontestsuite) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads a whole file into a malloc'd buffer; returns NULL on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/conformance/jsontestsuite";
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "json_conformance: cannot open %s\n", dir);
        return 2;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 7 || e->d_name[1] != '_' || strcmp(e->d_name + len - 5, ".json") != 0) continue;
        if (e->d_name[0] != 'y' && e->d_name[0] != 'n' && e->d_name[0] != 'i') continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 512;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown) return 2;
            names = grown;
        }
        names[count] = strdup(e->d_name);
        if (!names[count++]) return 2;
    }
    closedir(d);
    qsort(names, count, sizeof *names, compare_names);

    int y_ok = 0, y_all = 0, n_ok = 0, n_all = 0, i_accepted = 0, i_rejected = 0, failures = 0;
    for (size_t k = 0; k < count; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        size_t len = 0;
        char *text = read_file(path, &len);
        if (!text) {
            printf("FAIL %s: cannot read the file\n", names[k]);
            failures++;
            free(names[k]);
            continue;
        }
        born_clear_error();
        born_json *doc = born_json_parse(text, len, NULL);
        bool accepted = doc != NULL;
        char kind = names[k][0];
        if (kind == 'y') {
            y_all++;
            y_ok += accepted;
            if (!accepted) printf("FAIL %s: rejected: %s\n", names[k], born_last_error());
        } else if (kind == 'n') {
            n_all++;
            n_ok += !accepted;
            if (accepted) printf("FAIL %s: accepted\n", names[k]);
        } else {
            i_accepted += accepted;
            i_rejected += !accepted;
            printf("%-44s %s%s%s\n", names[k], accepted ? "accepted" : "rejected",
                   accepted ? "" : ": ", accepted ? "" : born_last_error());
        }
        if ((kind == 'y' && !accepted) || (kind == 'n' && accepted)) failures++;
        born_json_free(doc);
        free(text);
        free(names[k]);
    }
    free(names);
    born_clear_error();
    printf("y_: %d/%d accepted, n_: %d/%d rejected, i_: %d accepted, %d rejected; %d failures\n",
           y_ok, y_all, n_ok, n_all, i_accepted, i_rejected, failures);
    return failures || y_all + n_all == 0 ? 1 : 0;
}
