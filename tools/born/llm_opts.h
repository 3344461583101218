/* Options shared by born run, chat, bench and tokenize: the model, threads, context and the
 * sampler's settings, parsed the way llama.cpp's tools spell them. */
#ifndef BORN_TOOLS_LLM_OPTS_H
#define BORN_TOOLS_LLM_OPTS_H

#include "born/born.h"

typedef struct llm_opts {
    const char *model;
    const char *prompt;
    int32_t n_predict;
    int32_t threads;
    int32_t n_ctx;
    int32_t n_batch;
    bool no_bos;
    bool mmap; /* --mmap: map the model file instead of reading it into memory */
    bool verbose;
    const char *stop[16];
    int32_t n_stop;
    born_sampler_params sp;
    born_device device; /* --device: where the model runs (default the CPU) */
} llm_opts;

/* Parses "cpu", "cuda" or "cuda:N" into *out; false (with a message naming cmd) otherwise. */
bool llm_parse_device(const char *s, born_device *out, const char *cmd);

void llm_opts_init(llm_opts *o);

/* Parses argv[*i] (and its value); returns 1 when consumed, 0 when not one of these options, -1
 * (with a message printed) for a bad value. */
int llm_opts_parse(llm_opts *o, int argc, char **argv, int *i, const char *cmd);

/* The usage lines for these options. */
extern const char llm_opts_usage[];

/* Loads o->model, printing the error; NULL on failure. */
born_model *llm_opts_load(const llm_opts *o, const char *cmd);

#endif
