/* `born demo`: the main job, on data shipped in the repository and with no network. It trains
 * the CNN on 8,000 real MNIST digits, shows its progress, reports accuracy on the 2,000 held-out
 * digits, saves the model, loads it back, checks that the loaded model agrees, and draws a few
 * test digits as ASCII art with the predicted labels. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"
#include "tools/born/commands.h"
#include "tools/born/datasets.h"
#include "tools/born/models.h"
#include "tools/born/trainer.h"

enum { SHOWN = 6, PER_LINE = 2, SIDE = 28 };

/* Draws SHOWN digits, PER_LINE side by side, each pixel pair of rows as one character. */
static void draw_digits(born_tensor *images, const int64_t *pred, const int64_t *truth) {
    static const char ramp[] = " .:-=+*#%@";
    born_tensor *pixels = born_contiguous(born_view(born_narrow(images, 0, 0, SHOWN), BORN_DIMS(SHOWN, SIDE, SIDE)));
    const uint8_t *p = pixels ? born_data_u8(pixels) : NULL;
    for (int first = 0; p && first < SHOWN; first += PER_LINE) {
        for (int i = first; i < first + PER_LINE; i++) {
            char label[64];
            snprintf(label, sizeof label, "predicted %lld (label %lld)", (long long)pred[i], (long long)truth[i]);
            printf("    %-*s", SIDE, label);
        }
        printf("\n");
        for (int row = 0; row < SIDE; row += 2) {
            for (int i = first; i < first + PER_LINE; i++) {
                printf("    ");
                for (int col = 0; col < SIDE; col++) {
                    int v = (p[(i * SIDE + row) * SIDE + col] + p[(i * SIDE + row + 1) * SIDE + col]) / 2;
                    putchar(ramp[v * (int)(sizeof ramp - 2) / 255]);
                }
            }
            printf("\n");
        }
    }
}

int cmd_demo(int argc, char **argv) {
    const char *dir = "data/mnist-10k", *out = "mnist-cnn.born";
    long long epochs = 3;
    static const struct option longopts[] = {{"data", required_argument, 0, 'd'},
                                             {"out", required_argument, 0, 'o'},
                                             {"epochs", required_argument, 0, 'e'},
                                             {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'd') dir = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'e' && atoll(optarg) > 0) epochs = atoll(optarg);
        else {
            fprintf(stderr, "usage: born demo [--data DIR] [--out FILE] [--epochs N]\n");
            return 2;
        }
    }
    born_init();
    cli_data data;
    char err[1024];
    if (!cli_data_load(dir, 8000, &data, err, sizeof err)) {
        fprintf(stderr, "born demo: %s\n", err);
        return 1;
    }
    printf("Born %s demo: a CNN learns handwritten digits (%d threads)\n", born_version(), born_get_num_threads());
    printf("data: %s\n", data.description);
    born_generator *gen = born_generator_new(0);
    born_module *m = model_new("cnn", gen);
    int status = 1;
    born_module *loaded = NULL;
    if (m) {
        char *summary = born_module_summary(m);
        if (summary) printf("%s\n", summary);
        free(summary);
        train_config tc = {(int)epochs, 64, 1e-3, "adam", 0, stdout, NULL};
        train_report r;
        if (train_model(m, &data, &tc, &r) == BORN_OK) {
            printf("trained %lld epochs in %.1f s; accuracy on the %lld held-out digits: %.2f%%\n", epochs,
                   r.seconds, (long long)born_dataset_len(data.test), 100.0 * r.test_accuracy);
            if (model_save(m, "cnn", out, NULL) == BORN_OK) {
                loaded = model_load(out, err, sizeof err);
                if (!loaded) fprintf(stderr, "born demo: %s\n", err);
            }
        }
        if (loaded) {
            int64_t pred[SHOWN], truth[SHOWN];
            double again = evaluate(loaded, data.test, pred, SHOWN);
            born_scope_begin();
            born_tensor *labels = born_narrow(born_dataset_targets(data.test), 0, 0, SHOWN);
            for (int64_t i = 0; labels && i < SHOWN; i++) born_get_i64(labels, &i, &truth[i]);
            printf("saved %s and loaded it back: accuracy %.2f%% (%s)\n\n", out, 100.0 * again,
                   again == r.test_accuracy ? "the same" : "DIFFERENT");
            draw_digits(born_dataset_inputs(data.test), pred, truth);
            born_scope_end();
            status = again == r.test_accuracy ? 0 : 1;
        }
    }
    if (status != 0 && born_last_status() != BORN_OK) fprintf(stderr, "born demo: %s\n", born_last_error());
    born_module_free(loaded);
    born_module_free(m);
    born_generator_free(gen);
    cli_data_free(&data);
    return status;
}
