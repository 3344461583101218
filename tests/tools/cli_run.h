/* Running a `born` subcommand inside the test process with its standard streams redirected. */
#ifndef BORN_TESTS_CLI_RUN_H
#define BORN_TESTS_CLI_RUN_H

#include <stddef.h>

/* Runs cmd(argc, argv) with stdin reading `input` (NULL: empty) and stdout + stderr captured into
 * out (size bytes, NUL-terminated, truncated if longer). Returns the command's exit status. */
int cli_run(int (*cmd)(int, char **), int argc, char **argv, const char *input, char *out,
            size_t size);

#endif
