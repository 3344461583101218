/* `born train`: trains an MLP or CNN on an IDX image dataset, reports test accuracy after each
 * epoch, and saves the model. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "born/born.h"
#include "tools/born/commands.h"
#include "tools/born/datasets.h"
#include "tools/born/models.h"
#include "tools/born/trainer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: born train [options]\n"
            "  --model NAME        mlp or cnn (default cnn)\n"
            "  --data DIR          folder of IDX files (default data/mnist-10k)\n"
            "  --split N           with a single images file: first N samples train (default 8000)\n"
            "  --epochs N          (default 3)\n"
            "  --batch-size N      (default 64)\n"
            "  --lr X              learning rate (default 1e-3; 0.01 for sgd)\n"
            "  --optimizer NAME    adam, adamw, sgd (momentum 0.9) or rmsprop (default adam)\n"
            "  --schedule NAME     lr per batch: constant, cosine (to 0 over the run) or onecycle\n"
            "                      (max lr = --lr) (default constant)\n"
            "  --threads N         (default: BORN_NUM_THREADS or all cores)\n"
            "  --seed N            initialisation and shuffling (default 0)\n"
            "  --out FILE          where to save the model (default model.born)\n"
            "  --device NAME       cpu, cuda or cuda:N (default cpu)\n");
}

/* Parses "cpu", "cuda" or "cuda:N"; false with a message otherwise. */
static bool parse_device(const char *s, born_device *out) {
    if (!strcmp(s, "cpu")) {
        *out = BORN_CPU;
        return true;
    }
    char *end = NULL;
    long idx = 0;
    if (!strcmp(s, "cuda"))
        idx = 0;
    else if (!strncmp(s, "cuda:", 5) && s[5]) {
        errno = 0;
        idx = strtol(s + 5, &end, 10);
        if (errno || *end || idx < 0 || idx > 1024) idx = -1;
    } else
        idx = -1;
    if (idx < 0) {
        fprintf(stderr, "born train: --device expects cpu, cuda or cuda:N, not '%s'\n", s);
        return false;
    }
    int n = born_device_count(BORN_DEVICE_CUDA);
    if (idx >= n) {
        if (n == 0)
            fprintf(stderr, "born train: --device %s: no CUDA device (%s)\n", s, born_cuda_unavailable_reason());
        else
            fprintf(stderr, "born train: --device %s: only %d CUDA device(s)\n", s, n);
        return false;
    }
    *out = BORN_CUDA((int)idx);
    return true;
}

/* Parses a whole number in [min, max]; false with a message otherwise. */
static bool parse_int(const char *opt, const char *s, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "born train: %s expects a whole number from %lld to %lld, not '%s'\n", opt, min, max, s);
        return false;
    }
    *out = v;
    return true;
}

int cmd_train(int argc, char **argv) {
    const char *model_name = "cnn", *dir = "data/mnist-10k", *out = "model.born", *opt_name = "adam",
               *schedule = "constant";
    long long epochs = 3, batch = 64, threads = 0, seed = 0, split = 8000;
    double lr = -1;
    born_device device = BORN_CPU;
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},   {"data", required_argument, 0, 'd'},
        {"split", required_argument, 0, 'S'},   {"epochs", required_argument, 0, 'e'},
        {"batch-size", required_argument, 0, 'b'}, {"lr", required_argument, 0, 'l'},
        {"optimizer", required_argument, 0, 'o'}, {"threads", required_argument, 0, 't'},
        {"seed", required_argument, 0, 's'},    {"out", required_argument, 0, 'O'},
        {"device", required_argument, 0, 'D'}, {"schedule", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': model_name = optarg; break;
        case 'd': dir = optarg; break;
        case 'S': ok = parse_int("--split", optarg, 1, 1LL << 40, &split); break;
        case 'e': ok = parse_int("--epochs", optarg, 1, 100000, &epochs); break;
        case 'b': ok = parse_int("--batch-size", optarg, 1, 1 << 20, &batch); break;
        case 't': ok = parse_int("--threads", optarg, 1, 256, &threads); break;
        case 's': ok = parse_int("--seed", optarg, 0, 1LL << 62, &seed); break;
        case 'o': opt_name = optarg; break;
        case 'O': out = optarg; break;
        case 'C': schedule = optarg; break;
        case 'D': ok = parse_device(optarg, &device); break;
        case 'l': {
            char *end;
            lr = strtod(optarg, &end);
            if (end == optarg || *end || !(lr > 0) || lr > 10) {
                fprintf(stderr, "born train: --lr expects a positive number, not '%s'\n", optarg);
                ok = false;
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        default: ok = false;
        }
        if (!ok) {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "born train: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!model_known(model_name)) {
        fprintf(stderr, "born train: unknown model '%s' (choose from %s)\n", model_name, model_names);
        return 2;
    }
    if (!trainer_optimizer_known(opt_name)) {
        fprintf(stderr, "born train: unknown optimizer '%s' (adam, adamw, sgd, rmsprop)\n", opt_name);
        return 2;
    }
    if (!trainer_schedule_known(schedule)) {
        fprintf(stderr, "born train: unknown schedule '%s' (constant, cosine, onecycle)\n", schedule);
        return 2;
    }
    if (lr < 0) lr = strcmp(opt_name, "sgd") == 0 ? 0.01 : 1e-3;
    if (threads > 0 && born_set_num_threads((int)threads) != BORN_OK) {
        fprintf(stderr, "born train: %s\n", born_last_error());
        return 2;
    }
    cli_data data;
    char err[1024];
    if (!cli_data_load(dir, split, &data, err, sizeof err)) {
        fprintf(stderr, "born train: %s\n", err);
        return 1;
    }
    if (data.classes > 10) {
        fprintf(stderr, "born train: %s has labels up to %lld, but the %s model has 10 classes\n", dir,
                (long long)data.classes - 1, model_name);
        cli_data_free(&data);
        return 1;
    }
    printf("born train: %s on %s\n", model_name, data.description);
    born_generator *gen = born_generator_new((uint64_t)seed);
    born_module *m = model_new(model_name, gen);
    int status = 1;
    if (m) {
        char dname[32];
        printf("%lld parameters; %s lr %g (%s), batch %lld, %lld epochs, %d threads, %s\n",
               (long long)born_module_num_parameters(m), opt_name, lr, schedule, batch, epochs,
               born_get_num_threads(),
               born_device_name(device, dname, sizeof dname));
        train_config tc = {(int)epochs, batch, lr, opt_name, (uint64_t)seed, stdout, schedule};
        train_report r;
        if (born_module_to(m, device) == BORN_OK && train_model(m, &data, &tc, &r) == BORN_OK &&
            born_module_to(m, BORN_CPU) == BORN_OK) {
            printf("trained in %.1f s (%.2f s per epoch); test accuracy %.2f%%\n", r.seconds, r.epoch_seconds,
                   100.0 * r.test_accuracy);
            born_string_map *meta = born_string_map_new();
            char acc[32];
            snprintf(acc, sizeof acc, "%.4f", r.test_accuracy);
            born_string_map_set(meta, "born.test_accuracy", acc);
            born_string_map_set(meta, "born.dataset", dir);
            if (model_save(m, model_name, out, meta) == BORN_OK) {
                printf("saved %s\n", out);
                status = 0;
            }
            born_string_map_free(meta);
        }
    }
    if (status != 0 && born_last_status() != BORN_OK) fprintf(stderr, "born train: %s\n", born_last_error());
    born_module_free(m);
    born_generator_free(gen);
    cli_data_free(&data);
    return status;
}
