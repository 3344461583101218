/* born tokenize: the token ids of a text under a GGUF model's tokenizer (and their pieces with
 * --show-pieces), as llama.cpp's llama-tokenize prints them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/born/commands.h"
#include "tools/born/llm_opts.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: born tokenize -m MODEL [--show-pieces] [--no-bos] [--no-parse-special] TEXT\n"
            "  prints the ids as a list, or one 'id -> 'piece'' line each with --show-pieces\n");
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *text = NULL;
    bool pieces = false, bos = true, special = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && i + 1 < argc) {
            model = argv[++i];
        } else if ((strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) && i + 1 < argc) {
            text = argv[++i];
        } else if (strcmp(a, "--show-pieces") == 0) {
            pieces = true;
        } else if (strcmp(a, "--no-bos") == 0) {
            bos = false;
        } else if (strcmp(a, "--no-parse-special") == 0) {
            special = false;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "born tokenize: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!text) {
            text = a;
        } else {
            fprintf(stderr, "born tokenize: give one TEXT (quote it)\n");
            return 2;
        }
    }
    if (!model || !text) {
        usage(stderr);
        return 2;
    }
    born_model_params mp = born_model_default_params();
    mp.use_mmap = true; /* only the vocabulary is read: no need to copy the weights */
    born_model *m = born_model_load(model, &mp);
    if (!m) {
        fprintf(stderr, "born tokenize: %s\n", born_last_error());
        born_clear_error();
        return 1;
    }
    const born_tokenizer *tok = born_model_tokenizer(m);
    int32_t *ids = NULL;
    size_t n = 0;
    if (born_tokenizer_encode(tok, text, strlen(text), bos, special, &ids, &n) != BORN_OK) {
        fprintf(stderr, "born tokenize: %s\n", born_last_error());
        born_clear_error();
        born_model_free(m);
        return 1;
    }
    if (pieces) {
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *p = born_tokenizer_token_to_piece(tok, ids[i], true, &len);
            printf("%6d -> '%.*s'\n", (int)ids[i], (int)len, p ? p : "");
        }
    } else {
        printf("[");
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", (int)ids[i]);
        printf("]\n");
    }
    free(ids);
    born_model_free(m);
    return 0;
}
