/* The `born` command: dispatches to one subcommand per file in tools/born/. */
#include <stdio.h>
#include <string.h>

#include "born/born.h"
#include "tools/born/commands.h"

static const born_command commands[] = {
    {"demo", "train a CNN on the shipped MNIST digits, save it, reload it, show predictions", cmd_demo},
    {"train", "train an MLP or CNN on an IDX image dataset", cmd_train},
    {"train-lm", "train a GPT on a text file (bytes or BPE), with validation, samples and checkpoints", cmd_train_lm},
    {"eval", "test accuracy of a model saved by born train", cmd_eval},
    {"info", "show the tensors of a .born, safetensors, GGUF, .npy or IDX file", cmd_info},
    {"convert", "convert a tensor file between .born and safetensors", cmd_convert},
    {"quantize", "re-encode a GGUF model's weights to another type (q4_0, q8_0, f16, ...)", cmd_quantize},
    {"onnx", "run an ONNX model on .npy inputs: born onnx run MODEL --input NAME=FILE.npy", cmd_onnx},
    {"run", "generate text from a prompt with a GGUF language model", cmd_run},
    {"chat", "chat with a GGUF language model through its chat template", cmd_chat},
    {"bench", "prompt and generation tokens/s of a GGUF model (llama-bench's table)", cmd_bench},
    {"tokenize", "the token ids of a text under a GGUF model's tokenizer", cmd_tokenize},
    {"version", "print the library version", cmd_version},
};

static void usage(FILE *out) {
    fprintf(out, "usage: born <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "born: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
