/* The subcommands of `born`, one per file. Each takes argc/argv starting at its own name and
 * returns the process exit status (0 success, 1 failure, 2 bad usage). */
#ifndef BORN_TOOLS_COMMANDS_H
#define BORN_TOOLS_COMMANDS_H

#include <stdint.h>

typedef struct born_command {
    const char *name;
    const char *help;
    int (*run)(int argc, char **argv);
} born_command;

int cmd_demo(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_train_lm(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_onnx(int argc, char **argv);

/* born info's ONNX listing (info_onnx.c), for a path ending in .onnx. */
int info_onnx(const char *path);

/* born info's GGUF listing (info_gguf.c); f is an open GGUF file of file_size bytes. */
struct born_file;
int info_gguf(const char *path, struct born_file *f, uint64_t file_size);

#endif
