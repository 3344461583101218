/* `born eval MODEL DATASET`: the test accuracy of a model saved by `born train`. */
#include <stdio.h>
#include <stdlib.h>

#include "born/born.h"
#include "tools/born/commands.h"
#include "tools/born/datasets.h"
#include "tools/born/models.h"
#include "tools/born/trainer.h"

int cmd_eval(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: born eval MODEL.born DATASET_DIR [SPLIT]\n"
                        "  SPLIT: with a single images file, the test set starts at this sample "
                        "(default 8000)\n");
        return 2;
    }
    int64_t split = argc == 4 ? atoll(argv[3]) : 8000;
    char err[1024];
    born_module *m = model_load(argv[1], err, sizeof err);
    if (!m) {
        fprintf(stderr, "born eval: %s\n", err);
        return 1;
    }
    cli_data data;
    if (!cli_data_load(argv[2], split, &data, err, sizeof err)) {
        fprintf(stderr, "born eval: %s\n", err);
        born_module_free(m);
        return 1;
    }
    int status = 1;
    if (data.classes > 10) {
        fprintf(stderr, "born eval: %s has labels up to %lld, but the model has 10 classes\n", argv[2],
                (long long)data.classes - 1);
    } else {
        double acc = evaluate(m, data.test, NULL, 0);
        if (acc == acc) {
            printf("%s on %lld test images of %s: accuracy %.2f%%\n", argv[1],
                   (long long)born_dataset_len(data.test), argv[2], 100.0 * acc);
            status = 0;
        } else {
            fprintf(stderr, "born eval: %s\n", born_last_error());
        }
    }
    cli_data_free(&data);
    born_module_free(m);
    return status;
}
